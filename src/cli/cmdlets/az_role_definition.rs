//! Get-AzRoleDefinition.

use custkey::vault::{rbac, RoleDefinition};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-AzRoleDefinition",
    module: "Az.Resources",
    synopsis: "Shows the built-in Azure roles that govern key vaults, with their actions and data actions.",
    description: "Lists the built-in roles known here (Owner, Contributor, Reader, User Access Administrator, Key Vault \
Contributor, Key Vault Administrator, Key Vault Crypto Officer, Key Vault Crypto User, Key Vault Crypto Service \
Encryption User, Key Vault Reader) with Azure's ids, actions and data actions, or one of them by -Name or -Id.",
    params: &[
        Param::new("Name", Kind::String, "The role's name.").position(0),
        Param::new("Id", Kind::String, "The role definition GUID."),
    ],
    examples: &[Example {
        title: "What Customer Key's service principals need on an RBAC vault",
        code: "custkey Get-AzRoleDefinition -Name 'Key Vault Crypto Service Encryption User'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["Name", "Id", "IsCustom"],
    run: get,
}];

fn definition_record(r: &RoleDefinition) -> Record {
    let mut m = Record::new();
    m.insert("Name".into(), json!(r.name));
    m.insert("Id".into(), json!(r.id));
    m.insert("IsCustom".into(), json!(false));
    m.insert("Description".into(), json!(r.description));
    m.insert("Actions".into(), json!(r.actions));
    m.insert("NotActions".into(), json!(Vec::<String>::new()));
    m.insert("DataActions".into(), json!(r.data_actions));
    m.insert("NotDataActions".into(), json!(Vec::<String>::new()));
    m.insert("AssignableScopes".into(), json!(["/"]));
    m
}

fn get(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    match args.str("Name").or(args.str("Id")) {
        Some(n) => {
            let r = rbac::role(n).map_err(|e| {
                CliError::failed(e.message().to_string())
                    .with_help("run Get-AzRoleDefinition without -Name to list the roles")
            })?;
            Ok(Output::one(definition_record(r)))
        }
        None => Ok(Output::many(
            rbac::ROLES.iter().map(definition_record).collect(),
        )),
    }
}
