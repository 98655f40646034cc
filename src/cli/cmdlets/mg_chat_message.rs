//! New-MgChatMessage, Get-MgChatMessage: Teams chat messages, encrypted under the Teams
//! workload key.

use custkey::model::RecipientScope;
use custkey::service::m365;
use custkey::service::recipient;

use super::mg_chat::chat_topics;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["CreatedDateTime", "From", "Body"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MgChatMessage",
        module: "Microsoft.Graph.Teams",
        synopsis: "Posts a message to a Teams chat, encrypted under the Teams workload key.",
        description: "Encrypts the body (at most 28 KiB of text) under the current Teams workload key, with a key \
derived for this message and bound to the chat and message id, and stores only the ciphertext. Files given with -HostedContents are streamed, each encrypted under its own key \
derived from the same workload key and bound to the chat, message and content id, into a content pack of the chat; \
the message and its contents commit together. The workload key is \
wrapped by the tenant's multi-workload DEP once one is assigned, else by Microsoft-managed keys. Graph takes \
-Body @{Content=\"...\"}; custkey takes the text itself.",
        params: &[
            Param::new("ChatId", Kind::String, "The chat: id or topic.").position(0).required().complete(chat_topics),
            Param::new("Body", Kind::String, "The message text.").position(1).required(),
            Param::new("From", Kind::String, "The sender: a mailbox or user (name, alias, address); the signed-in account when omitted."),
            Param::new("HostedContents", Kind::StringList, "Files hosted in the message (images, clips): at most 10, each at most 100 MiB. Graph takes hashtables with base64 contentBytes; custkey takes file paths and streams them.").reads_files(),
        ],
        examples: &[
            Example {
                title: "Post a message",
                code: "custkey New-MgChatMessage -ChatId \"Project Falcon\" -Body \"Kick-off at 10\" -From alice",
                output: "",
                remarks: "",
            },
            Example {
                title: "Post a message with an image",
                code: "custkey New-MgChatMessage -ChatId \"Project Falcon\" -Body \"The new logo\" -HostedContents examples/media/logo.png",
                output: "",
                remarks: "The image is a hosted content of the message: Get-MgChatMessageHostedContent lists and reads it.",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-MgChatMessage",
        module: "Microsoft.Graph.Teams",
        synopsis: "Reads a Teams chat's messages (decrypting them), or one by id.",
        description: "Decrypts and shows a chat's messages in the order they were posted, each with the policy whose \
key protects it (EncryptionPolicy). This is a user request: when a customer key of the protecting multi-workload DEP \
refuses (access revoked), it fails and the availability key is not used.",
        params: &[
            Param::new("ChatId", Kind::String, "The chat: id or topic.").position(0).required().complete(chat_topics),
            Param::new("ChatMessageId", Kind::String, "One message's id; all messages when omitted."),
        ],
        examples: &[Example {
            title: "Read a chat",
            code: "custkey Get-MgChatMessage -ChatId \"Project Falcon\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let chat = args.str("ChatId").unwrap_or_default().to_string();
    let body = args.str("Body").unwrap_or_default().to_string();
    if !ctx.should_process(&chat, "New-MgChatMessage", false)? {
        return Ok(Output::None);
    }
    let sender = match args.str("From") {
        Some(who) => recipient::get(ctx.store()?, who, RecipientScope::All)?.primary_smtp,
        None => custkey::service::azure::account(ctx.store()?)?,
    };
    let hosted: Vec<std::path::PathBuf> = args
        .list("HostedContents")
        .unwrap_or_default()
        .iter()
        .map(std::path::PathBuf::from)
        .collect();
    let (store, keys) = ctx.service()?;
    let (m, contents) = m365::post_with(store, keys, &chat, &sender, &body, &hosted)?;
    let mut rec = record(&m)?;
    if !contents.is_empty() {
        rec.insert(
            "HostedContents".into(),
            serde_json::Value::Array(
                contents
                    .iter()
                    .map(|h| serde_json::Value::String(h.id.clone()))
                    .collect(),
            ),
        );
    }
    Ok(Output::one(rec))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let chat = args.str("ChatId").unwrap_or_default().to_string();
    let (store, keys) = ctx.service()?;
    let msgs = m365::messages(store, keys, &chat, args.str("ChatMessageId"))?;
    Ok(Output::many(
        msgs.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
