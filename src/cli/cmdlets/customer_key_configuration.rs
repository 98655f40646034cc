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

pub const CMDLETS: &[Cmdlet] = &[
Cmdlet {
    name: "Export-CustomerKeyConfiguration",
    module: "custkey",
    synopsis: "Writes the store's current state as a desired-state TOML file, to bring it under rollout.",
    description: "Describes every data encryption policy and multi-workload policy (not purged) with its keys \
(without versions: a later key roll shows as Refresh), description and enabled state, the vaults and keys they use, \
every mailbox assigned to a customer DEP (by alias), the tenant's multi-workload assignment, and each geo's SharePoint \
policy with the key versions in use. Test-CustomerKeyConfiguration on the file right after exits 0 (or 4 where a \
refresh is due). Without -Path the file goes to standard output; -Path writes it (0600, atomically) and refuses to \
replace a file unless -Force is given.",
    params: &[
        Param::new("Path", Kind::Path, "Write the file here instead of standard output.").writes_files().position(0),
        Param::new("Force", Kind::Switch, "Replace the file at -Path if there is one."),
    ],
    examples: &[Example {
        title: "Bring an existing store under desired-state management",
        code: "custkey Export-CustomerKeyConfiguration -Path contoso.toml; custkey Test-CustomerKeyConfiguration contoso.toml",
        output: "",
        remarks: "Commit contoso.toml; from then on CI runs Start-CustomerKeyRollout contoso.toml.",
    }],
    impact: Impact::None,
    table: &[],
    run: export,
},
Cmdlet {
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
        Param::new("Path", Kind::Path, "The desired-state TOML file.").reads_files().position(0).required(),
        Param::new("PlanFile", Kind::Path, "Also save the plan as JSON to this file (0600, replaced atomically): Start-CustomerKeyRollout -PlanFile applies it later only if the store still gives exactly this plan.").writes_files(),
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
},
];

fn export(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (desired, name) = rollout::export(ctx)?;
    let text = rollout::to_toml(&desired, &name)?;
    match args.str("Path") {
        None => Ok(Output::Text(text)),
        Some(path) => {
            let p = std::path::Path::new(path);
            let written = if args.switch("Force") {
                custkey::fsio::write_atomic(p, text.as_bytes()).map(|()| true)
            } else {
                custkey::fsio::write_new(p, text.as_bytes())
            };
            match written {
                Ok(true) => {
                    eprintln!("Wrote {path}: {} DEP(s), {} assignment(s), {} multi-workload policy(ies), {} geo policy(ies).",
                        desired.dep.len(), desired.assignment.len(), desired.m365_policy.len(), desired.spo_policy.len());
                    Ok(Output::None)
                }
                Ok(false) => Err(
                    CliError::usage(format!("{path} exists; nothing was written"))
                        .with_help("give another -Path, or add -Force to replace it"),
                ),
                Err(e) => Err(
                    CliError::usage(format!("cannot write {path}: {e}")).with_help(
                        "give -Path a file in a folder that exists and that you may write to",
                    ),
                ),
            }
        }
    }
}

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
