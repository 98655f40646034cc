//! Invoke-CustomerKeyRotation.

use custkey::service::rotation::{self, RotationItem};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Invoke-CustomerKeyRotation",
    module: "custkey",
    synopsis: "Carries out due key rotations and refreshes the data encryption policies that use the rotated keys.",
    description: "Looks at every key of every vault the signed-in account can read. For each key whose rotation \
policy (Set-AzKeyVaultKeyRotationPolicy) has a Rotate action that is due, makes a new version (as \
Invoke-AzKeyVaultKeyRotation does), refreshes every mailbox and multi-workload data encryption policy naming the \
key, so their KeyVersionIDs show the new version, and rolls every SharePoint geo policy whose primary or secondary key \
it is onto the new version; a policy still behind its key's current version (a run killed \
before its refresh, or a version made by Invoke-AzKeyVaultKeyRotation) is refreshed by the next run. Whether a rotation is due is decided again under the vault's lock, \
so two runs at the same time make one new version. Outputs one row per key with a policy: VaultName, KeyName, \
Version, Due, NotifyDue, Expires, Rotated, NewVersion, RefreshedPolicies; a key whose Notify action is due (its \
current version expires within the action's TimeBeforeExpiry) gets a warning, as Azure sends a near-expiry event. -WhatIf lists what is due and changes nothing. Succeeds both \
when something was rotated and when nothing was due (a warning says which), so a scheduled CI job can run it.",
    params: &[],
    examples: &[Example {
        title: "A daily CI job",
        code: "custkey Invoke-CustomerKeyRotation -Format Json",
        output: "",
        remarks: "Run it with -WhatIf first to see which keys are due.",
    }],
    impact: Impact::Medium,
    table: &["VaultName", "KeyName", "Due", "Rotated", "NewVersion"],
    run,
}];

fn run(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    let mut items: Vec<RotationItem> = rotation::plan(&mut ctx.azure()?)?;
    for it in items.iter_mut() {
        let target = format!("{}/{}", it.vault_name, it.key_name);
        if !ctx.should_process(&target, "Invoke-CustomerKeyRotation", false)? {
            continue;
        }
        let current = rotation::rotate_if_due(&mut ctx.azure()?, it)?;
        // Every policy on this key catches up with its current version, whoever made it (this
        // run, a racing one, or an earlier run killed before its refresh).
        let (store, keys) = ctx.service()?;
        it.refreshed_policies =
            rotation::refresh_policies_using(store, keys, &it.vault_name, &it.key_name, &current)?;
    }
    for w in rotation::summary(&items) {
        ctx.warn(&w);
    }
    Ok(Output::many(
        items.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
