//! Get-Help.

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::help::{common_parameters, page, Detail};
use crate::cli::output::Output;
use crate::cli::{find_cmdlet, Ctx};

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-Help",
    module: "custkey",
    synopsis: "Shows a cmdlet's help: synopsis, syntax, parameters with types and defaults, and examples.",
    description: "Shows the help page of a cmdlet. -Examples shows only the examples; -Full adds every parameter \
with its type, position, default value and aliases. 'custkey Get-Help about_CommonParameters' describes the \
parameters every cmdlet takes. 'custkey <Cmdlet> -?' is the same as -Full.",
    params: &[
        Param::new("Name", Kind::String, "The cmdlet (or about_CommonParameters).")
            .position(0)
            .complete(cmdlet_names),
        Param::new("Examples", Kind::Switch, "Only the examples."),
        Param::new("Full", Kind::Switch, "The whole page, with every parameter."),
    ],
    examples: &[Example {
        title: "Everything about Set-OrganizationConfig",
        code: "custkey Get-Help Set-OrganizationConfig -Full",
        output: "",
        remarks: "Shows the synopsis, syntax, description, every parameter and the examples.",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn cmdlet_names(_: &crate::cli::complete::CompletionCtx) -> Vec<String> {
    crate::cli::cmdlets::all()
        .iter()
        .map(|c| c.name.to_string())
        .chain(std::iter::once("about_CommonParameters".to_string()))
        .collect()
}

fn run(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let Some(name) = args.str("Name") else {
        return Ok(Output::Text(
            "Get-Help shows the help of a cmdlet: custkey Get-Help <Cmdlet> [-Examples | -Full]\n\
             List the cmdlets with: custkey Get-Command\n\
             Parameters every cmdlet takes: custkey Get-Help about_CommonParameters\n"
                .into(),
        ));
    };
    if name.eq_ignore_ascii_case("about_CommonParameters") {
        return Ok(Output::Text(common_parameters()));
    }
    let cmdlet = find_cmdlet(name).ok_or_else(|| {
        let names: Vec<&str> = crate::cli::cmdlets::all().iter().map(|c| c.name).collect();
        let near = crate::cli::error::suggestions(name, names);
        let err = CliError::failed(format!("Get-Help could not find '{name}'."));
        match near.first() {
            Some(n) => err.with_help(format!("did you mean {n}?")),
            None => err.with_help("run 'custkey Get-Command' to list the cmdlets"),
        }
    })?;
    let detail = if args.switch("Full") {
        Detail::Full
    } else if args.switch("Examples") {
        Detail::Examples
    } else {
        Detail::Normal
    };
    Ok(Output::Text(page(cmdlet, detail)))
}
