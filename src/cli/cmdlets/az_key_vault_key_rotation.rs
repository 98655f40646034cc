//! Invoke-AzKeyVaultKeyRotation.

use super::az_key_vault::vault_names;
use super::az_key_vault_key::key_record;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Invoke-AzKeyVaultKeyRotation",
    module: "Az.KeyVault",
    synopsis: "Rotates a key now: makes a new version like the current one.",
    description: "Makes a new version of the key with the current version's type, size, KeyOps and tags; when \
the key's rotation policy sets ExpiresIn, the new version expires that long from now. Older versions stay usable \
for what they still wrap. Outputs the new version as Add-AzKeyVaultKey does. Data encryption policies that use the \
key keep the version they wrap under until refreshed (Set-DataEncryptionPolicy -Refresh), or use \
Invoke-CustomerKeyRotation, which refreshes them. Needs the key permission 'rotate'.",
    params: &[
        Param::new("VaultName", Kind::String, "The key vault.")
            .position(0)
            .required()
            .complete(vault_names),
        Param::new("Name", Kind::String, "The key.")
            .position(1)
            .required()
            .aliases(&["KeyName"]),
    ],
    examples: &[Example {
        title: "Rotate a key at once",
        code: "custkey Invoke-AzKeyVaultKeyRotation -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001 -Property Name",
        output: "",
        remarks: "Get-AzKeyVaultKey -Name Key001 -IncludeVersions lists the new version.",
    }],
    impact: Impact::Medium,
    table: &["VaultName", "Name", "Version", "Enabled", "Expires"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = args.str("VaultName").unwrap_or_default();
    let name = args.str("Name").unwrap_or_default();
    if !ctx.should_process(
        &format!("{vault}/{name}"),
        "Invoke-AzKeyVaultKeyRotation",
        false,
    )? {
        return Ok(Output::None);
    }
    match ctx.azure()?.rotate_key(vault, name, false)? {
        Some(k) => Ok(Output::one(key_record(&k)?)),
        None => Ok(Output::None),
    }
}
