//! Get-Date.

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-Date",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "The current date and time, or the date given, in UTC.",
    description: "Outputs a date as RFC 3339 text in UTC (9999-12-31T00:00:00Z), which every DateTime \
parameter takes, so the guides' `-Expires (Get-Date -Date \"12/31/9999\")` works in a script. Without -Date it \
is now.",
    params: &[Param::new("Date", Kind::Date, "The date: 12/31/9999, 9999-12-31 or RFC 3339.").position(0)],
    examples: &[Example {
        title: "A key that never expires, as the setup guide writes it",
        code: "custkey -Command 'Update-AzKeyVaultKey -VaultName contoso-ck-va1 -Name Key001 -Expires (Get-Date -Date \"12/31/9999\")'",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let d = args.date("Date").unwrap_or_else(Utc::now);
    Ok(Output::Values(vec![Value::String(
        d.to_rfc3339_opts(SecondsFormat::Secs, true),
    )]))
}
