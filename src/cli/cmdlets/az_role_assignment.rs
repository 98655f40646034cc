//! New-AzRoleAssignment, Get-AzRoleAssignment, Remove-AzRoleAssignment.

use custkey::model::principal::Principal;
use custkey::vault::{rbac, RoleAssignment, Scope};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

const TABLE: &[&str] = &["DisplayName", "RoleDefinitionName", "Scope", "ObjectType"];

const WHO: &str = "Name exactly one of -SignInName (a user), -ApplicationId (a service principal, by application id: \
Office 365 Exchange Online 00000002-0000-0ff1-ce00-000000000000, Office 365 SharePoint Online \
00000003-0000-0ff1-ce00-000000000000, M365DataAtRestEncryption c066d759-24ae-40e7-a56f-027002b5d3e4) or -ObjectId.";

const SCOPE_HELP: &str = "The scope: /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{rg}, \
/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name} or .../vaults/{name}/keys/{key}. \
Default: the current subscription.";

const ROLE_NAMES: &[&str] = &[
    "Owner",
    "Contributor",
    "Reader",
    "User Access Administrator",
    "Key Vault Contributor",
    "Key Vault Administrator",
    "Key Vault Crypto Officer",
    "Key Vault Crypto User",
    "Key Vault Crypto Service Encryption User",
    "Key Vault Reader",
];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-AzRoleAssignment",
        module: "Az.Resources",
        synopsis: "Assigns an Azure RBAC role to a user or service principal at a scope.",
        description: "Grants a built-in role at a scope; it applies there and below (subscription, resource group, \
vault, key). Vault and key scope assignments are kept in the vault's file, sealed with it; subscription and resource \
group assignments in the store, authenticated under the service master key. Needs Owner or User Access Administrator \
at the scope. Management of a vault (access policies, removal, purge, Update-AzKeyVault) needs Owner, Contributor or \
Key Vault Contributor; in an RBAC vault (-EnableRbacAuthorization) the keys need a Key Vault data role: Customer Key's \
service principals need Key Vault Crypto Service Encryption User. Audited in the vault's log and the unified audit log.",
        params: &[
            Param::new("SignInName", Kind::String, "A user, by UPN.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID.").aliases(&["Id", "PrincipalId"]),
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "The role, by name."),
            Param::new("RoleDefinitionId", Kind::String, "The role, by definition GUID."),
            Param::new("Scope", Kind::String, SCOPE_HELP),
        ],
        examples: &[
            Example {
                title: "Let Exchange Online use the keys of an RBAC vault",
                code: "custkey New-AzRoleAssignment -ApplicationId 00000002-0000-0ff1-ce00-000000000000 -RoleDefinitionName 'Key Vault Crypto Service Encryption User' -Scope /subscriptions/2e1a9f2c-77b0-4c1e-9d55-0c6c2b7a1f01/resourceGroups/Contoso-CK-RG/providers/Microsoft.KeyVault/vaults/Contoso-CK-EX-NA-VaultA1",
                output: "",
                remarks: "",
            },
            Example {
                title: "A key vault administrator for the whole subscription",
                code: "custkey New-AzRoleAssignment -SignInName kvadmin@contoso.com -RoleDefinitionName 'Key Vault Contributor' -Scope /subscriptions/2e1a9f2c-77b0-4c1e-9d55-0c6c2b7a1f01",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-AzRoleAssignment",
        module: "Az.Resources",
        synopsis: "Lists Azure RBAC role assignments at, above and below a scope.",
        description: "Lists the role assignments that apply at the scope (inherited from above) and those below it, \
filtered by principal and role. Vaults whose assignments the signed-in account may not read are left out of a \
subscription-wide listing.",
        params: &[
            Param::new("SignInName", Kind::String, "Only this user's.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "Only this service principal's.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "Only this object's.").aliases(&["Id", "PrincipalId"]),
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "Only this role's."),
            Param::new("RoleDefinitionId", Kind::String, "Only this role's, by definition GUID."),
            Param::new("Scope", Kind::String, SCOPE_HELP),
        ],
        examples: &[Example {
            title: "Who may use a vault",
            code: "custkey Get-AzRoleAssignment -Scope /subscriptions/2e1a9f2c-77b0-4c1e-9d55-0c6c2b7a1f01/resourceGroups/Contoso-CK-RG/providers/Microsoft.KeyVault/vaults/Contoso-CK-EX-NA-VaultA1",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Remove-AzRoleAssignment",
        module: "Az.Resources",
        synopsis: "Removes a role assignment (how a customer revokes a service principal on an RBAC vault).",
        description: "Removes the assignment of the role to the principal made exactly at the scope. Needs Owner or \
User Access Administrator there. Audited.",
        params: &[
            Param::new("SignInName", Kind::String, "A user, by UPN.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID.").aliases(&["Id", "PrincipalId"]),
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "The role, by name."),
            Param::new("RoleDefinitionId", Kind::String, "The role, by definition GUID."),
            Param::new("Scope", Kind::String, SCOPE_HELP),
            Param::new("PassThru", Kind::Switch, "Write the removed assignments to the output."),
        ],
        examples: &[Example {
            title: "Revoke Exchange Online on an RBAC vault",
            code: "custkey Remove-AzRoleAssignment -ApplicationId 00000002-0000-0ff1-ce00-000000000000 -RoleDefinitionName 'Key Vault Crypto Service Encryption User' -Scope /subscriptions/2e1a9f2c-77b0-4c1e-9d55-0c6c2b7a1f01/resourceGroups/Contoso-CK-RG/providers/Microsoft.KeyVault/vaults/Contoso-CK-EX-NA-VaultA1",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: remove,
    },
];

pub(crate) fn principal(args: &Args, required: bool) -> Result<Option<Principal>, CliError> {
    let given: Vec<(&str, &str)> = ["SignInName", "ApplicationId", "ObjectId"]
        .iter()
        .filter_map(|n| args.str(n).map(|v| (*n, v)))
        .collect();
    let p = match given.as_slice() {
        [("SignInName", v)] => Principal::user(v),
        [("ApplicationId", v)] => Principal::service_principal(v),
        [(_, v)] => Principal::object_id(v),
        [] if !required => return Ok(None),
        [] => return Err(CliError::usage("No principal was named.").with_help(WHO)),
        _ => {
            return Err(CliError::usage(
                "Parameter set cannot be resolved: more than one principal was named.",
            )
            .with_help(WHO))
        }
    };
    Ok(Some(p.map_err(custkey::service::Error::from)?))
}

fn role(args: &Args, required: bool) -> Result<Option<&'static rbac::RoleDefinition>, CliError> {
    let given = match (args.str("RoleDefinitionName"), args.str("RoleDefinitionId")) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "Give -RoleDefinitionName or -RoleDefinitionId, not both.",
            ))
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) if !required => return Ok(None),
        (None, None) => {
            return Err(CliError::usage("No role was named.").with_help(
                "give -RoleDefinitionName (e.g. 'Key Vault Crypto Service Encryption User'); Get-AzRoleDefinition lists the roles",
            ))
        }
    };
    Ok(Some(rbac::role(given).map_err(|e| {
        CliError::usage(e.message().to_string()).with_help("Get-AzRoleDefinition lists the roles")
    })?))
}

fn scope(ctx: &mut Ctx, args: &Args) -> Result<Scope, CliError> {
    match args.str("Scope") {
        Some(s) => Ok(Scope::parse(s).map_err(|e| CliError::usage(e.message().to_string()))?),
        None => Ok(ctx.azure()?.default_scope()?),
    }
}

/// An assignment as Az.Resources shows a `PSRoleAssignment`.
pub(crate) fn assignment_record(a: &RoleAssignment) -> Record {
    let role = a.role();
    let (sign_in, object_id, object_type) = match &a.principal {
        Principal::User(u) => (json!(u), json!(null), "User"),
        Principal::ServicePrincipal(id) => (json!(null), json!(id), "ServicePrincipal"),
        Principal::ObjectId(id) => (json!(null), json!(id), "Unknown"),
    };
    let mut r = Record::new();
    r.insert("RoleAssignmentName".into(), json!(a.id));
    r.insert("RoleAssignmentId".into(), json!(a.role_assignment_id()));
    r.insert("Scope".into(), json!(a.scope));
    r.insert("DisplayName".into(), json!(a.principal.display_name()));
    r.insert("SignInName".into(), sign_in);
    r.insert("RoleDefinitionName".into(), json!(role.map(|r| r.name)));
    r.insert("RoleDefinitionId".into(), json!(a.role_definition_id));
    r.insert("ObjectId".into(), object_id);
    r.insert("ObjectType".into(), json!(object_type));
    r.insert("CanDelegate".into(), json!(false));
    r.insert("Description".into(), json!(null));
    r.insert("ConditionVersion".into(), json!(null));
    r.insert("Condition".into(), json!(null));
    r.insert("CreatedBy".into(), json!(a.created_by));
    r.insert("CreatedOn".into(), json!(a.created));
    r
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let who = principal(args, true)?.unwrap_or_else(|| Principal::ObjectId(String::new()));
    let role = role(args, true)?.ok_or_else(|| CliError::usage("No role was named."))?;
    let scope = scope(ctx, args)?;
    if !ctx.should_process(
        &format!("{scope} for {}", who.display_name()),
        "New-AzRoleAssignment",
        false,
    )? {
        return Ok(Output::None);
    }
    let a = ctx.azure()?.new_role_assignment(&who, role, &scope)?;
    Ok(Output::one(assignment_record(&a)))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let who = principal(args, false)?;
    let role = role(args, false)?;
    let scope = scope(ctx, args)?;
    let mut az = ctx.azure()?;
    let forged = az.roles_forged()?;
    let list = az.role_assignments(&scope)?;
    if forged {
        ctx.warn(custkey::service::roles::FORGED_NOTE);
    }
    Ok(Output::many(
        list.iter()
            .filter(|a| who.as_ref().is_none_or(|p| a.principal.same_as(p)))
            .filter(|a| role.is_none_or(|r| a.role_definition_id.eq_ignore_ascii_case(r.id)))
            .map(assignment_record)
            .collect(),
    ))
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let who = principal(args, true)?.unwrap_or_else(|| Principal::ObjectId(String::new()));
    let role = role(args, true)?.ok_or_else(|| CliError::usage("No role was named."))?;
    let scope = scope(ctx, args)?;
    if !ctx.should_process(
        &format!("{scope} for {}", who.display_name()),
        "Remove-AzRoleAssignment",
        false,
    )? {
        return Ok(Output::None);
    }
    let gone = ctx.azure()?.remove_role_assignment(&who, role, &scope)?;
    Ok(if args.switch("PassThru") {
        Output::many(gone.iter().map(assignment_record).collect())
    } else {
        Output::None
    })
}
