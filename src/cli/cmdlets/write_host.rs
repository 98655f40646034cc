//! Write-Host: text for the person at the terminal, not for the pipeline.

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{display, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Write-Host",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Prints text for the operator; nothing goes down the pipeline.",
    description: "Prints the values given (and the objects piped in), joined by -Separator (a space), then a line \
break unless -NoNewline. As in PowerShell the text is not output of the script: `Write-Host x | Out-Null` still \
prints it, and `$a = Write-Host x` assigns nothing. -ForegroundColor is accepted and changes nothing.",
    params: &[
        Param::new("Object", Kind::StringList, "What to print: every value given without a parameter name.")
            .position(0)
            .remaining(),
        Param::new("NoNewline", Kind::Switch, "No line break after the text."),
        Param::new("Separator", Kind::String, "Between the values; a space by default."),
        Param::new("ForegroundColor", Kind::String, "Accepted, as PowerShell takes it."),
    ],
    examples: &[Example {
        title: "Tell the operator what happens next",
        code: "custkey -Command 'Write-Host \"Creating the vaults...\"'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut parts: Vec<String> = std::mem::take(&mut ctx.input).iter().map(display).collect();
    ctx.input_view.clear();
    if let Some(values) = args.list("Object") {
        parts.extend(values.iter().cloned());
    }
    let sep = args.str("Separator").unwrap_or(" ");
    let mut text = parts.join(sep);
    if !args.switch("NoNewline") {
        text.push('\n');
    }
    crate::cli::write_out(&text)?;
    Ok(Output::None)
}
