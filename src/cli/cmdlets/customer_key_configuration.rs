//! Test-CustomerKeyConfiguration: the rollout plan, changing nothing.

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::rollout;
use crate::cli::Ctx;

/// The exit code of a plan with changes pending (documented in docs/cli.md).
pub const PENDING: i32 = 4;
/// The exit code of drift: the store differs from the file where rollout cannot act (a vault,
/// key or mailbox missing, a DEP whose keys differ). Wins over [`PENDING`].
pub const DRIFT: i32 = 5;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Test-CustomerKeyConfiguration",
    module: "custkey",
    synopsis: "Compares a desired-state TOML file with the store and prints the plan; changes nothing.",
    description: "Reads the file (vaults and keys to expect, DEPs, assignments of mailboxes by identity or \
-Filter) and lists one step a line: NoChange, Create, Change, Refresh (a key has a newer version than the DEP \
is wrapped under) or Assign (what Start-CustomerKeyRollout would do), Differs (not as described, and rollout never touches it: a DEP's keys) and Missing (vaults, keys and \
mailboxes, which rollout never creates). Exits 5 on drift (any Missing or Differs step: the store differs \
where rollout cannot act), else 4 when changes are pending, 0 only when the store matches; -Format Json gives \
the plan to CI, one object a step with Property, Before and After. Blocked: a change the service would refuse (an unlicensed \
mailbox, a Trial organization, the 50-policy limit, a key that fails a check, a role the account lacks), which the apply \
does not attempt; it is drift too. -PlanFile saves the plan for Start-CustomerKeyRollout -PlanFile.",
    params: &[
        Param::new("Path", Kind::Path, "The desired-state TOML file.").position(0).required(),
        Param::new("PlanFile", Kind::Path, "Also save the plan as JSON to this file (0600, replaced atomically): Start-CustomerKeyRollout -PlanFile applies it later only if the store still gives exactly this plan."),
    ],
    examples: &[Example {
        title: "What would a rollout change?",
        code: "custkey Test-CustomerKeyConfiguration examples/rollout.toml -Format Json",
        output: "",
        remarks: "Exit code 5: drift rollout cannot fix; 4: changes pending; 0: nothing to do.",
    }],
    impact: Impact::None,
    table: &["Action", "Kind", "Target", "Detail"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let path = args.str("Path").unwrap_or_default();
    let text = rollout::read(path)?;
    let desired = rollout::parse(path, &text)?;
    let steps = rollout::plan(ctx, &desired)?;
    if let Some(out) = args.str("PlanFile") {
        rollout::save_plan(out, path, &text, &steps)?;
        eprintln!(
            "Plan saved to {out}; apply it with: custkey Start-CustomerKeyRollout -PlanFile {out}"
        );
    }
    let pending = steps.iter().filter(|s| s.action.pending()).count();
    let drift = rollout::drift(&steps);
    for s in &drift {
        ctx.warn(&format!("{} {}: {}", s.kind, s.target, s.detail));
    }
    if pending > 0 {
        ctx.status = PENDING;
        eprintln!(
            "{pending} change(s) pending; Start-CustomerKeyRollout -Path {path} applies them."
        );
    }
    if !drift.is_empty() {
        // Never "matches": what rollout cannot make true is drift, with its own exit code.
        ctx.status = DRIFT;
        eprintln!(
            "Drift: {} difference(s) from {path} that rollout cannot make true (Missing, Differs, Blocked above); fix them by hand.",
            drift.len()
        );
    } else if pending == 0 {
        eprintln!("No changes: the store matches {path}.");
    }
    Ok(Output::many(
        steps.iter().map(|s| s.record(None, None)).collect(),
    ))
}
