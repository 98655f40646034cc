//! Start-CustomerKeyRollout: applies a desired-state file, idempotently.

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::rollout;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Start-CustomerKeyRollout",
    module: "custkey",
    synopsis: "Applies a desired-state TOML file: creates and changes DEPs and assigns mailboxes, idempotently.",
    description: "Computes the plan as Test-CustomerKeyConfiguration does and carries out its Create, Change, \
Refresh and Assign steps with the same cmdlets an operator would type (New-DataEncryptionPolicy, \
Set-DataEncryptionPolicy [-Refresh], Set-Mailbox), in one store transaction a step. It never deletes or unassigns \
anything, never creates vaults, keys or mailboxes, and reports what differs. A second run changes nothing \
and says so. Every step's Result is Done, Unchanged, NotTouched or WhatIf (-WhatIf changes nothing). Exits 5 \
when drift remains (a Missing or Differs step, which it never touches), 0 otherwise.",
    params: &[Param::new("Path", Kind::Path, "The desired-state TOML file.").position(0).required()],
    examples: &[Example {
        title: "Roll out the file, then check that nothing is left",
        code: "custkey Start-CustomerKeyRollout examples/rollout.toml && custkey Test-CustomerKeyConfiguration examples/rollout.toml",
        output: "",
        remarks: "",
    }],
    impact: Impact::Medium,
    table: &["Action", "Kind", "Target", "Result", "Detail"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let path = args.str("Path").unwrap_or_default();
    let desired = rollout::load(path)?;
    let steps = rollout::plan(ctx, &desired)?;
    let pending = steps.iter().filter(|s| s.action.pending()).count();
    let drift = rollout::drift(&steps).len();
    for s in rollout::drift(&steps) {
        ctx.warn(&format!(
            "{} {}: {} (not touched)",
            s.kind, s.target, s.detail
        ));
    }
    let done = rollout::apply(ctx, steps)?;
    if pending > 0 && ctx.what_if {
        eprintln!("{pending} change(s) would be made; nothing was changed.");
    } else if pending > 0 {
        eprintln!("{pending} change(s) made.");
    }
    if drift > 0 {
        ctx.status = super::customer_key_configuration::DRIFT;
        eprintln!(
            "Drift: the store still differs from {path} in {drift} place(s) rollout cannot act on (Missing, Differs above); fix them by hand."
        );
    } else if pending == 0 {
        eprintln!("No changes: the store already matches {path}.");
    }
    Ok(Output::many(
        done.iter().map(|(s, r)| s.record(Some(r))).collect(),
    ))
}
