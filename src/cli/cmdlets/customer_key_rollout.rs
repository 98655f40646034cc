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
when drift remains (a Missing, Differs or Blocked step, which it never attempts), 0 otherwise. A step that fails \
does not stop the others: its Result is Failed (with Error), the steps that need it are Skipped, and the exit code is \
the failure's (1, or 3 for a system error, which stops the apply there).",
    params: &[
        Param::new("Path", Kind::Path, "The desired-state TOML file (or -PlanFile).").reads_files().position(0),
        Param::new("PlanFile", Kind::Path, "Apply a plan saved by Test-CustomerKeyConfiguration -PlanFile, only if the store still gives exactly that plan (else exit 6, nothing changed).").reads_files(),
    ],
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
    let (path, steps) = match (args.str("Path"), args.str("PlanFile")) {
        (Some(path), None) => {
            let desired = rollout::load(path)?;
            (path.to_string(), rollout::plan(ctx, &desired)?)
        }
        (None, Some(file)) => {
            let saved = rollout::load_plan(file)?;
            let desired = rollout::parse(&saved.path, &saved.text)?;
            let steps = rollout::plan(ctx, &desired)?;
            rollout::check_plan(&saved, file, &steps)?;
            (saved.path, steps)
        }
        (Some(_), Some(_)) => {
            return Err(CliError::usage("give -Path or -PlanFile, not both")
                .with_help("a saved plan carries the file it was made from"))
        }
        (None, None) => {
            return Err(
                CliError::usage("Start-CustomerKeyRollout needs -Path or -PlanFile")
                    .with_help("custkey Start-CustomerKeyRollout -Path f.toml"),
            )
        }
    };
    let path = path.as_str();
    let pending = steps.iter().filter(|s| s.action.pending()).count();
    let drift = rollout::drift(&steps).len();
    for s in rollout::drift(&steps) {
        ctx.warn(&format!(
            "{} {}: {} (not touched)",
            s.kind, s.target, s.detail
        ));
    }
    let done = rollout::apply(ctx, steps);
    report(ctx, path, &done, pending, drift);
    Ok(Output::many(
        done.iter().map(rollout::Applied::record).collect(),
    ))
}

/// The summary on stderr and the exit code: a failed step's (1, or 3 for a system error) wins
/// over drift (5).
pub(crate) fn report(
    ctx: &mut Ctx,
    path: &str,
    done: &[rollout::Applied],
    pending: usize,
    drift: usize,
) {
    let count = |r: &str| done.iter().filter(|d| d.result == r).count();
    for d in done.iter().filter(|d| d.result == "Failed") {
        if let Some(e) = &d.error {
            eprintln!(
                "error: {} {} ({}): {}",
                d.step.kind,
                d.step.target,
                d.step.action.name(),
                e.message
            );
            if let Some(h) = &e.help {
                eprintln!("help: {h}");
            }
        }
    }
    if let Some(e) = done
        .iter()
        .filter_map(|d| d.error.as_ref())
        .find(|e| e.class == crate::cli::error::Class::Interrupted)
    {
        crate::cli::error::report(e);
    }
    let (made, failed, skipped) = (count("Done"), count("Failed"), count("Skipped"));
    if ctx.what_if && pending > 0 {
        eprintln!("{pending} change(s) would be made; nothing was changed.");
    } else if pending > 0 {
        eprintln!("{made} of {pending} change(s) made, {failed} failed, {skipped} skipped.");
    }
    if drift > 0 {
        ctx.status = super::customer_key_configuration::DRIFT;
        eprintln!(
            "Drift: the store still differs from {path} in {drift} place(s) rollout cannot act on (Missing, Differs, Blocked above); fix them by hand."
        );
    } else if pending == 0 {
        eprintln!("No changes: the store already matches {path}.");
    }
    if let Some(e) = rollout::first_failure(done) {
        ctx.status = e.class.exit_code();
    }
}
