//! Get-MgChatMessageHostedContent: the hosted contents (images, clips) of a Teams chat
//! message, Teams workload content encrypted under the Teams workload key.

use std::path::PathBuf;

use custkey::service::m365;

use super::mg_chat::chat_topics;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Id", "ContentType", "Size", "EncryptionPolicy"];

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-MgChatMessageHostedContent",
    module: "Microsoft.Graph.Teams",
    synopsis: "Lists a chat message's hosted contents, or writes one, decrypted, to a file.",
    description: "Shows each hosted content of a message (posted with New-MgChatMessage -HostedContents): its Id, \
ContentType, Size and the policy whose key protects it (EncryptionPolicy). With -ChatMessageHostedContentId and \
-OutFile, decrypts that content into the file, streaming (through a temporary file renamed into place). This is a user \
request: when a customer key of the protecting multi-workload DEP refuses (access revoked), it fails and the \
availability key is not used.",
    params: &[
        Param::new("ChatId", Kind::String, "The chat: id or topic.")
            .position(0)
            .required()
            .complete(chat_topics),
        Param::new("ChatMessageId", Kind::String, "The message's id.")
            .position(1)
            .required(),
        Param::new(
            "ChatMessageHostedContentId",
            Kind::String,
            "One hosted content's id; all of the message's when omitted.",
        ),
        Param::new(
            "OutFile",
            Kind::Path,
            "Write the content (decrypted) to this file; needs -ChatMessageHostedContentId.",
        ).writes_files(),
    ],
    examples: &[Example {
        title: "Save a message's first hosted content",
        code: "custkey -Command '$c = New-MgChat -Topic Logos; $m = New-MgChatMessage -ChatId Logos -Body \"The new logo\" -HostedContents examples/media/logo.png; Get-MgChatMessageHostedContent -ChatId Logos -ChatMessageId $m.Id -ChatMessageHostedContentId 1 -OutFile logo-copy.png'",
        output: "",
        remarks: "Hosted contents are numbered from 1 in the order they were given.",
    }],
    impact: Impact::None,
    table: TABLE,
    run: get,
}];

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let chat = args.str("ChatId").unwrap_or_default().to_string();
    let message = args.str("ChatMessageId").unwrap_or_default().to_string();
    let out = args.str("OutFile").map(PathBuf::from);
    let (store, keys) = ctx.service()?;
    let items = m365::hosted_contents(
        store,
        keys,
        &chat,
        &message,
        args.str("ChatMessageHostedContentId"),
        out.as_deref(),
    )?;
    Ok(Output::many(
        items.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
