//! Set-AzKeyVaultAccessPolicy, Remove-AzKeyVaultAccessPolicy.

use custkey::model::principal::{KeyPermission, Principal};

use super::az_key_vault::{vault_names, vault_record, VAULT_TABLE};
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

const PERMISSIONS: &[&str] = &[
    "all",
    "decrypt",
    "encrypt",
    "unwrapKey",
    "wrapKey",
    "verify",
    "sign",
    "get",
    "list",
    "update",
    "create",
    "import",
    "delete",
    "backup",
    "restore",
    "recover",
    "purge",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
];

const WHO: &str = "Name exactly one of -UserPrincipalName, -ServicePrincipalName (an application id, or the display \
name of a Customer Key service: Office 365 Exchange Online 00000002-0000-0ff1-ce00-000000000000, Office 365 SharePoint \
Online 00000003-0000-0ff1-ce00-000000000000, M365DataAtRestEncryption c066d759-24ae-40e7-a56f-027002b5d3e4) or -ObjectId.";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Set-AzKeyVaultAccessPolicy",
        module: "Az.KeyVault",
        synopsis: "Grants a user, service principal or object key permissions on a vault.",
        description: "Sets the key permissions of one principal on a vault (they replace its earlier ones). \
Customer Key needs -PermissionsToKeys wrapKey,unwrapKey,get for the service principal of the workload on both vaults; \
key vault administrators get create,import,list,get,backup,restore (deliberately no delete).",
        params: &[
            Param::new("VaultName", Kind::String, "The vault.").position(0).required().complete(vault_names),
            Param::new("UserPrincipalName", Kind::String, "A user, by UPN.").aliases(&["UPN"]),
            Param::new("ServicePrincipalName", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID."),
            Param::new("PermissionsToKeys", Kind::EnumList(PERMISSIONS), "The key permissions to grant.").required(),
            Param::new("PassThru", Kind::Switch, "Write the vault to the output."),
        ],
        examples: &[
            Example {
                title: "Let Exchange Online use the vault's keys",
                code: "custkey Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000",
                output: "",
                remarks: "",
            },
            Example {
                title: "A key vault administrator",
                code: "custkey Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -UserPrincipalName kvadmin@contoso.com -PermissionsToKeys create,import,list,get,backup,restore",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::Medium,
        table: VAULT_TABLE,
        run: set,
    },
    Cmdlet {
        name: "Remove-AzKeyVaultAccessPolicy",
        module: "Az.KeyVault",
        synopsis: "Removes a principal's access policy from a vault (how a customer revokes the service).",
        description: "Removes every key permission of one principal. Removing the service principal from both vaults \
of a data encryption policy revokes the service's access to the data under it.",
        params: &[
            Param::new("VaultName", Kind::String, "The vault.").position(0).required().complete(vault_names),
            Param::new("UserPrincipalName", Kind::String, "A user, by UPN.").aliases(&["UPN"]),
            Param::new("ServicePrincipalName", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID."),
            Param::new("PassThru", Kind::Switch, "Write the vault to the output."),
        ],
        examples: &[Example {
            title: "Revoke Exchange Online",
            code: "custkey Remove-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: VAULT_TABLE,
        run: remove,
    },
];

fn principal(args: &Args) -> Result<Principal, CliError> {
    let given: Vec<(&str, &str)> = ["UserPrincipalName", "ServicePrincipalName", "ObjectId"]
        .iter()
        .filter_map(|n| args.str(n).map(|v| (*n, v)))
        .collect();
    let p = match given.as_slice() {
        [("UserPrincipalName", v)] => Principal::user(v),
        [("ServicePrincipalName", v)] => Principal::service_principal(v),
        [(_, v)] => Principal::object_id(v),
        [] => return Err(CliError::usage("No principal was named.").with_help(WHO)),
        _ => {
            return Err(CliError::usage(
                "Parameter set cannot be resolved: more than one principal was named.",
            )
            .with_help(WHO))
        }
    };
    Ok(p.map_err(custkey::service::Error::from)?)
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = args.str("VaultName").unwrap_or_default();
    let who = principal(args)?;
    let perms = KeyPermission::parse_list(args.list("PermissionsToKeys").unwrap_or_default())
        .map_err(custkey::service::Error::from)?;
    if !ctx.should_process(
        &format!("{vault} for {}", who.display_name()),
        "Set-AzKeyVaultAccessPolicy",
        false,
    )? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.set_access_policy(vault, &who, &perms)?;
    Ok(if args.switch("PassThru") {
        Output::one(vault_record(&info)?)
    } else {
        Output::None
    })
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = args.str("VaultName").unwrap_or_default();
    let who = principal(args)?;
    if !ctx.should_process(
        &format!("{vault} for {}", who.display_name()),
        "Remove-AzKeyVaultAccessPolicy",
        false,
    )? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.remove_access_policy(vault, &who)?;
    Ok(if args.switch("PassThru") {
        Output::one(vault_record(&info)?)
    } else {
        Output::None
    })
}
