//! New-MailboxExportRequest.

use std::path::PathBuf;

use custkey::service::content;

use super::mailbox::mailbox_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "New-MailboxExportRequest",
    module: "ExchangeOnlineManagement",
    synopsis: "Exports a mailbox's mail, byte-identical to what was imported, to an mbox file or a folder of .eml files.",
    description: "Decrypts every item of the mailbox and writes it out: into an mbox file when -FilePath ends in .mbox, \
else into a folder of .eml files (000001.eml, ...). A message imported from .eml comes back byte-identical as .eml, one \
from mbox byte-identical in mbox. Files are written through temporary names and renamed into place. A user operation: \
when the customer keys refuse (access revoked, disabled) it fails with an error naming the keys. An item that cannot \
be decrypted (damaged, or under a key that is gone) does not stop the export: it is named in a warning, counted in \
BadItemsEncountered, the status is CompletedWithWarning and the exit code 1.",
    params: &[
        Param::new("Mailbox", Kind::String, "The mailbox.").position(0).required().complete(mailbox_names),
        Param::new("FilePath", Kind::Path, "A folder, or a file ending in .mbox.").writes_files().position(1).required(),
        Param::new("IsArchive", Kind::Switch, "Export from the mailbox's archive (Enable-Mailbox -Archive) instead of the mailbox."),
    ],
    examples: &[Example {
        title: "Export to a folder",
        code: "custkey New-MailboxExportRequest -Mailbox alice -FilePath ./alice-export",
        output: "",
        remarks: "",
    }],
    impact: Impact::Medium,
    table: &["Mailbox", "Status", "ItemsTransferred", "BytesTransferred"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mailbox = args.str("Mailbox").unwrap_or_default().to_string();
    let path = PathBuf::from(args.str("FilePath").unwrap_or_default());
    if !ctx.should_process(&mailbox, "New-MailboxExportRequest", false)? {
        return Ok(Output::None);
    }
    let bar = crate::cli::progress::Bar::new(ctx, format!("Exporting {mailbox}"));
    let (store, keys) = ctx.service()?;
    let target = if args.switch("IsArchive") {
        content::archive_guid(store, &mailbox)?
    } else {
        mailbox.clone()
    };
    let res = content::export_with(store, keys, &target, &path, &bar)?;
    drop(bar);
    for b in &res.bad_items {
        ctx.warn(b.message());
    }
    if let Some(first) = res.bad_items.first() {
        // The rest was exported, but not everything: a script must not take this for success.
        let e = CliError::from(first.clone());
        ctx.status = e.class.exit_code();
        if let Some(h) = &e.help {
            eprintln!("help: the other items were exported; {h}");
        }
    }
    Ok(Output::one(record(&res)?))
}
