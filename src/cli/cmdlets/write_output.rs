//! Write-Output: objects onto the pipeline.

use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Write-Output",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Sends the objects piped in, then the values given, down the pipeline.",
    description: "What a script's statement outputs anyway, written out as the guides' runbooks do: \
`Write-Output \"vault $v ready\"`. Piped objects pass through unchanged; -InputObject values (a list: a, b) follow them.",
    params: &[Param::new(
        "InputObject",
        Kind::StringList,
        "The values to output: every value given without a parameter name.",
    )
    .position(0)
    .remaining()],
    examples: &[Example {
        title: "Say what a runbook did",
        code: "custkey -Command '$v = \"contoso-ck-va1\"; Write-Output \"vault $v ready\"'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut out = std::mem::take(&mut ctx.input);
    if let Some(values) = args.list("InputObject") {
        out.extend(values.iter().map(|v| Value::String(v.clone())));
    }
    Ok(Output::Values(out))
}
