//! Get-MailboxStatistics.

use custkey::model::RecipientScope;
use custkey::service::mailbox;
use custkey::service::recipient;

use super::mailbox::mailbox_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-MailboxStatistics",
    module: "ExchangeOnlineManagement",
    synopsis: "Shows a mailbox's item count and size, and whether it is encrypted under its customer DEP.",
    description: "Shows ItemCount, TotalItemSize, IsEncrypted (True when every key of the mailbox is wrapped under \
its assigned customer DEP) and DataEncryptionPolicyID (that DEP's GUID; Get-DataEncryptionPolicy <GUID> names it). \
Without -Identity every mailbox is shown. With -Archive the mailbox's archive is shown (its DisplayName \
'In-Place Archive - <name>', MailboxGuid its ArchiveGuid); without -Identity, the archives of the mailboxes that have one.",
    params: &[
        Param::new("Identity", Kind::String, "The mailbox; all mailboxes when omitted.")
            .position(0)
            .complete(mailbox_names),
        Param::new("Archive", Kind::Switch, "Show the mailbox's archive (Enable-Mailbox -Archive) instead of the mailbox."),
    ],
    examples: &[Example {
        title: "Is the archive encrypted under the same policy?",
        code: "custkey Get-MailboxStatistics alice -Archive -Property DisplayName,ItemCount,IsEncrypted,DataEncryptionPolicyID",
        output: "",
        remarks: "An archive follows its mailbox's DEP: Set-Mailbox -DataEncryptionPolicy re-wraps both keys.",
    }, Example {
        title: "Is the mailbox encrypted, and under which DEP?",
        code: "custkey Get-MailboxStatistics -Identity alice -Property IsEncrypted,DataEncryptionPolicyID",
        output: "",
        remarks: "The same as Get-MailboxStatistics -Identity alice | fl IsEncrypted,DataEncryptionPolicyID.",
    }],
    impact: Impact::None,
    table: &["DisplayName", "ItemCount", "TotalItemSize", "IsEncrypted"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let store = ctx.store()?;
    let archive = args.switch("Archive");
    let ids: Vec<String> = match args.str("Identity") {
        Some(id) => vec![id.to_string()],
        None => recipient::list(store, RecipientScope::Mailboxes, None)?
            .into_iter()
            .filter(|r| !archive || r.archive_guid.is_some())
            .map(|r| r.guid)
            .collect(),
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(record(&mailbox::statistics_of(store, &id, archive)?)?);
    }
    Ok(Output::many(out))
}
