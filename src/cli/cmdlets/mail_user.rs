//! New-MailUser, Get-MailUser.

use custkey::model::RecipientScope;
use custkey::service::recipient::{self, Kind as RecipientKind, NewRecipient};

use super::mailbox::{create, get_recipients, set_recipient, TABLE};
use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

fn mail_user_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| recipient::names(&mut s, RecipientScope::MailUsers, &ctx.partial))
        .unwrap_or_default()
}

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MailUser",
        module: "ExchangeOnlineManagement",
        synopsis: "Creates a mail user: an account whose mailbox lives outside (e.g. on premises, before migration).",
        description: "Creates a mail user. Assigning a DEP to a mail user before its mailbox is migrated means its \
content is encrypted under that DEP as it arrives. Mail users need a Customer Key licence like user mailboxes.",
        params: &[
            Param::new("Name", Kind::String, "The unique name.").position(0).required(),
            Param::new("ExternalEmailAddress", Kind::String, "The address outside the organization.").required(),
            Param::new("Alias", Kind::String, "The unique alias."),
            Param::new("DisplayName", Kind::String, "The display name. Default: the name."),
            Param::new("PrimarySmtpAddress", Kind::String, "The primary address in the organization."),
            Param::new("MicrosoftOnlineServicesID", Kind::String, "The user principal name."),
        ],
        examples: &[Example {
            title: "A mail user about to be migrated",
            code: "custkey New-MailUser -Name Bob -ExternalEmailAddress bob@onprem.contoso.com",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-MailUser",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows mail users: one by identity, or all that match a filter.",
        description: "Shows mail users. -Identity takes a name, alias, address, user principal name or GUID; -Filter \
and -ResultSize work as on Get-Mailbox.",
        params: &[
            Param::new("Identity", Kind::String, "A name, alias, address, UPN or GUID; all mail users when omitted.")
                .position(0)
                .complete(mail_user_names),
            Param::new("Filter", Kind::String, "An OPATH filter on the output properties."),
            Param::new("ResultSize", Kind::String, "How many to return: a number, or Unlimited. Default 1000.")
                .default("1000"),
        ],
        examples: &[Example {
            title: "All mail users",
            code: "custkey Get-MailUser",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Set-MailUser",
        module: "ExchangeOnlineManagement",
        synopsis: "Assigns a data encryption policy to a mail user (before its mailbox is migrated), or '$null'.",
        description: "Assigns a customer DEP to a mail user so its content is encrypted under that DEP as it arrives. Mail users need a licence with BPOS_S_EquivioAnalytics. '$null' returns it to Microsoft-managed keys.",
        params: &[
            Param::new("Identity", Kind::String, "The mail user: name, alias, address, UPN or GUID.")
                .position(0)
                .required()
                .complete(mail_user_names),
            Param::new("DataEncryptionPolicy", Kind::String, "The DEP's name or GUID; '$null' for Microsoft-managed keys.")
                .complete(super::data_encryption_policy::dep_names),
            Param::new("DisplayName", Kind::String, "A new display name."),
        ],
        examples: &[Example {
            title: "Encrypt a mail user's content as it migrates",
            code: "custkey Set-MailUser -Identity bob -DataEncryptionPolicy \"US Mailboxes\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
];

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    set_recipient(ctx, args, RecipientScope::MailUsers)
}

/// Set-MailUser for a pipeline's objects (see [`super::Batch`]).
pub(crate) fn set_batch(ctx: &mut Ctx, all: &[Args]) -> super::Batched {
    super::mailbox::set_recipients(ctx, all, RecipientScope::MailUsers, set)
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let req = NewRecipient {
        kind: RecipientKind::MailUser,
        name: args.str("Name").unwrap_or_default().to_string(),
        alias: args.str("Alias").map(str::to_string),
        display_name: args.str("DisplayName").map(str::to_string),
        primary_smtp: args.str("PrimarySmtpAddress").map(str::to_string),
        upn: args.str("MicrosoftOnlineServicesID").map(str::to_string),
        external_email: args.str("ExternalEmailAddress").map(str::to_string),
    };
    create(ctx, &req)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    get_recipients(ctx, args, RecipientScope::MailUsers)
}
