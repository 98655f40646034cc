//! Get-AzKeyVaultAuditLog: every operation on a vault, with filters.

use custkey::model::audit::{AuditQuery, VaultOperation};

use super::az_key_vault::vault_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const OPERATIONS: &[&str] = &[
    "CreateVault",
    "RemoveVault",
    "RecoverVault",
    "PurgeVault",
    "UpdateVault",
    "CreateKey",
    "ImportKey",
    "GetKey",
    "ListKeys",
    "ListKeyVersions",
    "UpdateKey",
    "WrapKey",
    "UnwrapKey",
    "DeleteKey",
    "GetDeletedKey",
    "ListDeletedKeys",
    "RecoverKey",
    "PurgeKey",
    "BackupKey",
    "RestoreKey",
    "SetAccessPolicy",
    "RemoveAccessPolicy",
    "NewRoleAssignment",
    "RemoveRoleAssignment",
    "GetKeyRotationPolicy",
    "SetKeyRotationPolicy",
    "RotateKey",
];

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-AzKeyVaultAuditLog",
    module: "custkey",
    synopsis: "Lists a vault's audit records: time, caller, operation, key, version and result.",
    description: "Every operation on a vault, successful or not, is appended to the vault's own audit log (Azure \
sends these to diagnostic logs; custkey keeps them beside the vault). Filter by time range, key, operation and caller.",
    params: &[
        Param::new("VaultName", Kind::String, "The vault.").position(0).required().complete(vault_names),
        Param::new("StartTime", Kind::Date, "Records at or after this time."),
        Param::new("EndTime", Kind::Date, "Records at or before this time."),
        Param::new("KeyName", Kind::String, "Records about this key."),
        Param::new("Operation", Kind::Enum(OPERATIONS), "Records of this operation."),
        Param::new("Caller", Kind::String, "Records of this caller (a UPN, an application id or an object id)."),
    ],
    examples: &[Example {
        title: "Who unwrapped with a key",
        code: "custkey Get-AzKeyVaultAuditLog -VaultName Contoso-CK-EX-NA-VaultA1 -Operation UnwrapKey",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["Time", "Caller", "Operation", "KeyName", "Version", "Result"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = args.str("VaultName").unwrap_or_default();
    let operation = args.str("Operation").and_then(|o| {
        VaultOperation::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == o)
    });
    let query = AuditQuery {
        start_time: args.date("StartTime"),
        end_time: args.date("EndTime"),
        key_name: args.str("KeyName").map(str::to_string),
        operation,
        caller: args.str("Caller").map(str::to_string),
    };
    let records = ctx.azure()?.audit_log(vault, &query)?;
    Ok(Output::many(
        records.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
