//! New-MoveRequest, Get-MoveRequest, Get-MoveRequestStatistics.

use custkey::service::content;

use super::mailbox::mailbox_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MoveRequest",
        module: "ExchangeOnlineManagement",
        synopsis: "Re-encrypts all of a mailbox's content under a fresh mailbox key (resumable).",
        description: "Moves the mailbox: a new mailbox key is made under its DEP and every item is re-encrypted under it, \
one item per transaction, then the old key is destroyed. A kill at any point loses nothing; run New-MoveRequest again \
to resume. A service operation: it may use the availability key when the customer keys refuse. Shows a progress bar on \
a terminal.",
        params: &[Param::new("Identity", Kind::String, "The mailbox.").position(0).required().complete(mailbox_names)],
        examples: &[Example {
            title: "Re-encrypt a mailbox",
            code: "custkey New-MoveRequest -Identity alice",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["DisplayName", "Status", "PercentComplete"],
        run: new,
    },
    Cmdlet {
        name: "Get-MoveRequest",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows move requests and their status.",
        description: "Shows the move request of a mailbox, or all of them: Status (InProgress, Completed).",
        params: &[Param::new("Identity", Kind::String, "The mailbox; all move requests when omitted.")
            .position(0)
            .complete(mailbox_names)],
        examples: &[Example {
            title: "All moves",
            code: "custkey Get-MoveRequest",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["DisplayName", "Status"],
        run: get,
    },
    Cmdlet {
        name: "Get-MoveRequestStatistics",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows a move request's progress: Status, PercentComplete, items transferred.",
        description: "Shows how far a mailbox's move has come.",
        params: &[Param::new("Identity", Kind::String, "The mailbox.").position(0).required().complete(mailbox_names)],
        examples: &[Example {
            title: "How far is it?",
            code: "custkey Get-MoveRequestStatistics alice",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["DisplayName", "Status", "PercentComplete", "ItemsTransferred", "TotalMailboxItemCount"],
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    if !ctx.should_process(&id, "New-MoveRequest", false)? {
        return Ok(Output::None);
    }
    let bar = crate::cli::progress::Bar::new(ctx, format!("Moving {id}"));
    let (store, keys) = ctx.service()?;
    let res = content::move_mailbox(store, keys, &id, &mut |d, t| bar.count("items", d, t))?;
    Ok(Output::one(record(&res)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let moves = content::move_requests(ctx.store()?, args.str("Identity"))?;
    Ok(Output::many(
        moves.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
