//! Format-Table (alias ft).

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{render_values, Form, Output};
use crate::cli::{terminal_width, Ctx};

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Format-Table",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Shows the objects piped in as a table. Alias: ft.",
    description: "In a script, formats the objects piped in as a table with the named properties (wildcards \
allowed, * for every property) or, with none named, the columns of the producing cmdlet's default view. The \
result is text: put Format-Table last in a pipeline. -AutoSize is accepted; tables are always fitted.",
    params: &[
        Param::new("Property", Kind::StringList, "The columns (wildcards allowed, * for all).").position(0),
        Param::new("AutoSize", Kind::Switch, "Accepted for compatibility; columns are always fitted to their contents."),
    ],
    examples: &[Example {
        title: "Mailboxes and their DEPs",
        code: "custkey -Command 'Get-Mailbox | ft Name,DataEncryptionPolicy'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    let view = std::mem::take(&mut ctx.input_view);
    let props: Option<Vec<String>> = match args.list("Property") {
        Some(p) => Some(p.to_vec()),
        None if view.is_empty() => Some(vec!["*".to_string()]),
        None => None,
    };
    let view: Vec<&str> = view.iter().map(String::as_str).collect();
    let text = render_values(
        &items,
        &view,
        Some(Form::Table),
        props.as_deref(),
        terminal_width(),
    )?;
    Ok(Output::Text(text))
}
