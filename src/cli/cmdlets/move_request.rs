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
one item per transaction, then the old key is destroyed. Its archive, if it has one, is moved the same way after it, \
under a fresh key of its own (-PrimaryOnly or -ArchiveOnly moves one of them). A kill at any point loses nothing; run New-MoveRequest again \
to resume. A service operation: it may use the availability key when the customer keys refuse. Shows a progress bar on \
a terminal. With -Remote the identity is a mail user whose mailbox is migrated in: it becomes a UserMailbox (same GUID, \
licences and DEP) and its first mailbox key is made under the DEP assigned to the mail user (Set-MailUser \
-DataEncryptionPolicy before the migration), so its content is encrypted under that DEP as it arrives; custkey has no \
on-premises forest, so the content itself arrives with New-MailboxImportRequest.",
        params: &[
            Param::new("Identity", Kind::String, "The mailbox; with -Remote, the mail user to migrate in.").position(0).required().complete(mailbox_names),
            Param::new("Remote", Kind::Switch, "Migrate a mail user's mailbox into the organization (onboarding)."),
            Param::new("PrimaryOnly", Kind::Switch, "Move only the primary mailbox, not its archive."),
            Param::new("ArchiveOnly", Kind::Switch, "Move only the mailbox's archive (Enable-Mailbox -Archive gave it one)."),
            Param::new("RemoteHostName", Kind::String, "The on-premises endpoint, as Microsoft's onboarding move names it (recorded nowhere: custkey has no remote forest)."),
            Param::new("TargetDeliveryDomain", Kind::String, "The target delivery domain of the onboarding move (not used by custkey)."),
        ],
        examples: &[Example {
            title: "Re-encrypt a mailbox",
            code: "custkey New-MoveRequest -Identity alice",
            output: "",
            remarks: "",
        }, Example {
            title: "Re-encrypt only a mailbox's archive",
            code: "custkey Enable-Mailbox alice -Archive; custkey New-MoveRequest alice -ArchiveOnly",
            output: "",
            remarks: "Without -ArchiveOnly both are moved, the primary mailbox first.",
        }, Example {
            title: "Migrate a mail user in, under the DEP assigned before the migration",
            code: "custkey New-MailUser -Name Carol -ExternalEmailAddress carol@onprem.contoso.com; custkey Set-MgUserLicense -UserId Carol -AddLicenses SPE_E5; custkey Set-MailUser Carol -DataEncryptionPolicy \"US Mailboxes\"; custkey New-MoveRequest Carol -Remote -RemoteHostName mail.contoso.com -TargetDeliveryDomain contoso.mail.onmicrosoft.com",
            output: "",
            remarks: "Carol is then a UserMailbox whose content is encrypted under US Mailboxes from the first item (import it with New-MailboxImportRequest).",
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
    let target = if args.switch("Remote") {
        custkey::service::recipient::migrate_mail_user(store, &id)?.guid
    } else {
        id
    };
    let parts = match (args.switch("PrimaryOnly"), args.switch("ArchiveOnly")) {
        (true, true) => {
            return Err(CliError::usage(
                "Parameter set cannot be resolved using the specified named parameters: -PrimaryOnly and -ArchiveOnly.",
            )
            .with_help("give one of them, or neither to move the mailbox and its archive"))
        }
        (true, false) => content::MoveParts::PrimaryOnly,
        (false, true) => content::MoveParts::ArchiveOnly,
        (false, false) => content::MoveParts::Both,
    };
    let res = content::move_request(store, keys, &target, parts, &mut |d, t| {
        bar.count("items", d, t)
    })?;
    Ok(Output::one(record(&res)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let moves = content::move_requests(ctx.store()?, args.str("Identity"))?;
    Ok(Output::many(
        moves.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
