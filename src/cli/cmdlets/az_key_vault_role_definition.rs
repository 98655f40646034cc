//! Get-AzKeyVaultRoleDefinition: a Managed HSM's local role definitions.

use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-AzKeyVaultRoleDefinition",
    module: "Az.KeyVault",
    synopsis: "List role definitions of a given managed HSM at a given scope.",
    description: "Lists the Managed HSM local built-in roles with Microsoft's names, ids and descriptions: Managed HSM \
Administrator, Crypto Officer, Crypto User, Crypto Service Encryption User, Policy Administrator, Crypto Auditor, Backup \
and Restore (assign them with New-AzKeyVaultRoleAssignment -HsmName). Each shows RoleName, Description, Id, Name (the \
GUID), RoleType (AKVBuiltInRole), Permissions (Actions, NotActions, DataActions, NotDataActions) and AssignableScopes. \
-Custom lists the custom roles: custkey has none. -Scope is accepted (/ or /keys): the built-in roles are the same at \
both.",
    params: &[
        Param::new("HsmName", Kind::String, "The Managed HSM.")
            .position(0)
            .required()
            .complete(super::az_key_vault::vault_names),
        Param::new("Scope", Kind::String, "The local scope: / (default) or /keys.").default("/"),
        Param::new("RoleDefinitionName", Kind::String, "One role, by name (or its GUID)."),
        Param::new("Custom", Kind::Switch, "Only custom role definitions (there are none here)."),
    ],
    examples: &[Example {
        title: "The role Customer Key's service principals need, and what it allows",
        code: "custkey Get-AzKeyVaultRoleDefinition -HsmName contoso-ck-hsm1 -RoleDefinitionName 'Managed HSM Crypto Service Encryption User' -Property Permissions",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["RoleName", "Description", "Permissions"],
    run: get,
}];

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let hsm = args.str("HsmName").unwrap_or_default();
    let scope = args.str("Scope").unwrap_or("/");
    if !matches!(scope, "/" | "/keys") {
        return Err(CliError::usage(format!(
            "'{scope}' is not a local scope for role definitions"
        ))
        .with_help("give -Scope / or -Scope /keys"));
    }
    let defs = ctx
        .azure()?
        .hsm_role_definitions(hsm, args.str("RoleDefinitionName"))?;
    if args.switch("Custom") {
        return Ok(Output::many(Vec::new()));
    }
    Ok(Output::many(
        defs.into_iter()
            .map(|d| {
                let mut r = Record::new();
                r.insert("RoleName".into(), json!(d.role_name));
                r.insert("Description".into(), json!(d.description));
                r.insert(
                    "Permissions".into(),
                    json!([{
                        "Actions": [],
                        "NotActions": [],
                        "DataActions": d.data_actions,
                        "NotDataActions": [],
                    }]),
                );
                r.insert(
                    "Id".into(),
                    json!(format!(
                        "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{}",
                        d.id
                    )),
                );
                r.insert("Name".into(), json!(d.id));
                r.insert("RoleType".into(), json!("AKVBuiltInRole"));
                r.insert("AssignableScopes".into(), json!([scope]));
                r
            })
            .collect(),
    ))
}
