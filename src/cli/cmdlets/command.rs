//! Get-Command.

use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{wildcard, Output, Record};
use crate::cli::{cmdlets, Ctx};

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-Command",
    module: "custkey",
    synopsis: "Lists the cmdlets, optionally filtered by name, verb or noun (wildcards allowed).",
    description: "Lists every cmdlet custkey knows with its module and synopsis. -Name, -Verb and -Noun take \
PowerShell wildcards (* and ?), matched without regard to case.",
    params: &[
        Param::new("Name", Kind::String, "Only cmdlets whose name matches this pattern.").position(0),
        Param::new("Verb", Kind::String, "Only cmdlets with this verb (Get, Set, New, ...)."),
        Param::new("Noun", Kind::String, "Only cmdlets with this noun (DataEncryptionPolicy, Mailbox, ...)."),
    ],
    examples: &[Example {
        title: "The organization cmdlets",
        code: "custkey Get-Command -Noun Organization*",
        output: "
CommandType Name                   Module
----------- ---------------------- ------------------------
Cmdlet      Get-OrganizationConfig ExchangeOnlineManagement
Cmdlet      Set-OrganizationConfig ExchangeOnlineManagement
",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["CommandType", "Name", "Module"],
    run,
}];

fn run(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or("*");
    let verb = args.str("Verb").unwrap_or("*");
    let noun = args.str("Noun").unwrap_or("*");
    let items: Vec<Record> = cmdlets::all()
        .into_iter()
        .filter(|c| wildcard(name, c.name) && wildcard(verb, c.verb()) && wildcard(noun, c.noun()))
        .filter_map(|c| {
            match json!({
                "CommandType": "Cmdlet",
                "Name": c.name,
                "Verb": c.verb(),
                "Noun": c.noun(),
                "Module": c.module,
                "Synopsis": c.synopsis,
            }) {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            }
        })
        .collect();
    if items.is_empty() && !name.contains('*') && !name.contains('?') {
        return Err(CliError::failed(format!(
            "The term '{name}' is not recognized as a name of a cmdlet."
        ))
        .with_help("run 'custkey Get-Command' without arguments to list them all"));
    }
    Ok(Output::many(items))
}
