//! New-MailboxImportRequest.

use std::path::PathBuf;

use custkey::service::content;

use super::mailbox::mailbox_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "New-MailboxImportRequest",
    module: "ExchangeOnlineManagement",
    synopsis: "Imports mail into a mailbox from an .eml file, a folder of .eml files, or an mbox file.",
    description: "Stores each message as one item, encrypted under the mailbox's key (under its DEP, or the \
Microsoft-managed DEP). Messages of any size stream through with bounded memory; each item appears only once it is \
completely stored; a message is at most 150 MiB. The mailbox's customer keys must allow unwrapping: with the service's access revoked the import \
fails. An import can be stopped (Ctrl-C: it commits what it read and exits 130) or killed; running the same command \
again on the same, unchanged file or folder resumes after the messages already imported (ItemsSkipped), so no message is \
imported twice, and a finished import imports nothing again. On a terminal it shows its progress with rate and ETA. \
(Exchange imports .pst files from a share; custkey takes mail files.)",
    params: &[
        Param::new("Mailbox", Kind::String, "The mailbox.").position(0).required().complete(mailbox_names),
        Param::new("FilePath", Kind::Path, "An .eml file, a folder of .eml files, an mbox file (a pipe or FIFO too), or - for standard input (an mbox stream, or one message).").reads_files().position(1).required(),
        Param::new("IsArchive", Kind::Switch, "Import into the mailbox's archive (Enable-Mailbox -Archive) instead of the mailbox."),
    ],
    examples: &[Example {
        title: "Import a folder of messages",
        code: "custkey New-MailboxImportRequest -Mailbox alice -FilePath ./mail",
        output: "",
        remarks: "",
    }],
    impact: Impact::Medium,
    table: &["Mailbox", "Status", "ItemsTransferred", "ItemsSkipped", "BytesTransferred"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mailbox = args.str("Mailbox").unwrap_or_default().to_string();
    let path = PathBuf::from(args.str("FilePath").unwrap_or_default());
    if !ctx.should_process(&mailbox, "New-MailboxImportRequest", false)? {
        return Ok(Output::None);
    }
    let bar = crate::cli::progress::Bar::new(ctx, format!("Importing into {mailbox}"));
    let (store, keys) = ctx.service()?;
    let target = if args.switch("IsArchive") {
        content::archive_guid(store, &mailbox)?
    } else {
        mailbox.clone()
    };
    let res = content::import_with(store, keys, &target, &path, &bar)?;
    Ok(Output::one(record(&res)?))
}
