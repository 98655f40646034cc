//! Format-List (alias fl).

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{render_values, Form, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Format-List",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Shows the objects piped in as lists of 'Name : value' lines. Alias: fl.",
    description: "In a script, formats the objects piped in as lists, with the named properties \
(wildcards allowed) or, with * or none named, every property. The result is text: put Format-List last in a \
pipeline.",
    params: &[Param::new("Property", Kind::StringList, "The properties to show (wildcards allowed, * for all).").position(0)],
    examples: &[Example {
        title: "Is the mailbox encrypted?",
        code: "custkey -Command 'Get-MailboxStatistics -Identity alice | fl IsEncrypted'",
        output: "",
        remarks: "As the guides write it; the same as custkey Get-MailboxStatistics alice -Property IsEncrypted.",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    let props: Option<Vec<String>> = args.list("Property").map(<[String]>::to_vec);
    let text = render_values(&items, &[], Some(Form::List), props.as_deref(), None)?;
    Ok(Output::Text(text))
}
