//! Out-Null.

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Out-Null",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Discards the objects piped in.",
    description:
        "In a script, drops what the pipeline outputs, so a cmdlet that prints the object it made \
(New-Mailbox, New-AzKeyVault) runs quietly.",
    params: &[],
    examples: &[Example {
        title: "Make a mailbox without printing it",
        code: "custkey -Command 'New-Mailbox -Name Carol | Out-Null'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    ctx.input.clear();
    ctx.input_view.clear();
    Ok(Output::None)
}
