//! New-MgChat, Get-MgChat: Teams chats, whose messages the Teams workload key protects.

use custkey::service::m365;

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub fn chat_topics(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| m365::chat_topics(&mut s))
        .unwrap_or_default()
}

const TABLE: &[&str] = &["Topic", "Id", "MessageCount", "CreatedBy"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MgChat",
        module: "Microsoft.Graph.Teams",
        synopsis: "Creates a Teams chat, to post messages the multi-workload policy protects.",
        description: "Creates a chat with a unique topic. Its messages (New-MgChatMessage) are Teams workload data: \
encrypted under the Teams workload key, which the tenant's multi-workload DEP wraps once one is assigned (before that, \
Microsoft-managed keys). Graph's -ChatType and -Members are not modelled: a chat here is a named container of messages.",
        params: &[Param::new("Topic", Kind::String, "The chat's unique topic.").position(0).required()],
        examples: &[Example {
            title: "A chat for a project",
            code: "custkey New-MgChat -Topic \"Project Falcon\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-MgChat",
        module: "Microsoft.Graph.Teams",
        synopsis: "Lists Teams chats, or shows one by id or topic.",
        description: "Shows each chat's Id, Topic, who created it and how many messages it holds.",
        params: &[Param::new("ChatId", Kind::String, "A chat id or topic; all chats when omitted.")
            .position(0)
            .complete(chat_topics)],
        examples: &[Example {
            title: "All chats",
            code: "custkey Get-MgChat",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let topic = args.str("Topic").unwrap_or_default().to_string();
    if !ctx.should_process(&topic, "New-MgChat", false)? {
        return Ok(Output::None);
    }
    let store = ctx.store()?;
    let by = custkey::service::azure::account(store)?;
    Ok(Output::one(record(&m365::new_chat(store, &topic, &by)?)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let chats = m365::chats(ctx.store()?, args.str("ChatId"))?;
    Ok(Output::many(
        chats.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
