//! ConvertTo-Json.

use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "ConvertTo-Json",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Turns the objects piped in into JSON text.",
    description: "In a script, writes the objects piped in as JSON with their PowerShell property names: one \
object as an object, several as an array (-AsArray: always an array). -Compress writes one line.",
    params: &[
        Param::new("Compress", Kind::Switch, "One line, no indentation."),
        Param::new("AsArray", Kind::Switch, "An array even for one object."),
        Param::new("Depth", Kind::Int { min: 1, max: 100 }, "Accepted for compatibility; objects are written whole.").default("2"),
    ],
    examples: &[Example {
        title: "The DEPs as JSON for another tool",
        code: "custkey -Command 'Get-DataEncryptionPolicy | ConvertTo-Json -Compress'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut items = std::mem::take(&mut ctx.input);
    ctx.input_view.clear();
    let v = if items.len() == 1 && !args.switch("AsArray") {
        items.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(items)
    };
    let text = if args.switch("Compress") {
        serde_json::to_string(&v)
    } else {
        serde_json::to_string_pretty(&v)
    }
    .map_err(|e| CliError::failed(format!("the objects cannot be written as JSON: {e}")))?;
    Ok(Output::Values(vec![Value::String(text)]))
}
