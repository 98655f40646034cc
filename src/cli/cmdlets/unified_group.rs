//! New-UnifiedGroup, Set-UnifiedGroup, Get-UnifiedGroup: Microsoft 365 groups, whose mailbox
//! (RecipientTypeDetails GroupMailbox) is encrypted as a user mailbox is.

use custkey::model::RecipientScope;
use custkey::service::mailbox as encryption;
use custkey::service::recipient::{self, Kind as RecipientKind, NewRecipient};

use super::mailbox::{get_recipients, set_recipient, set_recipients, TABLE};
use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

fn group_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| recipient::names(&mut s, RecipientScope::Groups, &ctx.partial))
        .unwrap_or_default()
}

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-UnifiedGroup",
        module: "ExchangeOnlineManagement",
        synopsis: "Creates a Microsoft 365 group, optionally with its mailbox under a customer data encryption policy.",
        description: "Creates a Microsoft 365 group: a recipient with RecipientTypeDetails GroupMailbox whose mailbox content \
is encrypted like a user mailbox's (its mailbox key is wrapped by the DEP key). -Name defaults to -DisplayName, -Alias to the \
name without spaces, -PrimarySmtpAddress to alias@<organization name>. -DataEncryptionPolicy assigns a customer DEP at once, \
as Set-UnifiedGroup does. A group needs no licence of its own, but a customer DEP can be assigned only once at least one user \
of the tenant is licensed for Customer Key (BPOS_S_EquivioAnalytics, see Set-MgUserLicense); a refused policy creates no group.",
        params: &[
            Param::new("DisplayName", Kind::String, "The group's display name.").position(0).required(),
            Param::new("Alias", Kind::String, "The unique alias (mail nickname)."),
            Param::new("Name", Kind::String, "The unique name (1 to 64 characters). Default: the display name."),
            Param::new("PrimarySmtpAddress", Kind::String, "The primary email address."),
            Param::new("DataEncryptionPolicy", Kind::String, "A customer DEP (name, GUID or DistinguishedName) for the group's mailbox.")
                .complete(super::data_encryption_policy::dep_names),
        ],
        examples: &[Example {
            title: "A group whose mailbox is encrypted under a customer DEP",
            code: "custkey New-UnifiedGroup -DisplayName \"Finance Team\" -Alias finance -DataEncryptionPolicy \"US Mailboxes\"",
            output: "",
            remarks: "Get-MailboxStatistics finance then shows IsEncrypted True.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Set-UnifiedGroup",
        module: "ExchangeOnlineManagement",
        synopsis: "Assigns a data encryption policy to a Microsoft 365 group, or with '$null' returns it to Microsoft-managed keys.",
        description: "Assigns a customer DEP to the group's mailbox: its mailbox key is re-wrapped under the DEP key at once \
and no content is touched (the same path as Set-Mailbox). '$null' removes the policy (Microsoft-managed keys, or the \
tenant's multi-workload DEP). A group needs no licence of its own, but the tenant needs at least one user licensed for \
Customer Key. -DisplayName changes the display name.",
        params: &[
            Param::new("Identity", Kind::String, "The group: name, alias, address or GUID.")
                .position(0)
                .required()
                .complete(group_names),
            Param::new("DataEncryptionPolicy", Kind::String, "The DEP's name, GUID or DistinguishedName; '$null' to remove it.")
                .complete(super::data_encryption_policy::dep_names),
            Param::new("DisplayName", Kind::String, "A new display name."),
        ],
        examples: &[Example {
            title: "Move a group to another policy, then back to Microsoft-managed keys",
            code: "custkey Set-UnifiedGroup -Identity finance -DataEncryptionPolicy \"US Mailboxes\"; custkey Set-UnifiedGroup finance -DataEncryptionPolicy '$null'",
            output: "",
            remarks: "In bash, write '$null' in single quotes.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Get-UnifiedGroup",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows Microsoft 365 groups: one by identity, or all that match a filter.",
        description: "Shows Microsoft 365 groups (RecipientTypeDetails GroupMailbox) with their DataEncryptionPolicy. \
-Identity takes a name, alias, address or GUID; -Filter and -ResultSize work as on Get-Mailbox.",
        params: &[
            Param::new("Identity", Kind::String, "A name, alias, address or GUID; all groups when omitted.")
                .position(0)
                .complete(group_names),
            Param::new("Filter", Kind::String, "An OPATH filter on the output properties."),
            Param::new("ResultSize", Kind::String, "How many to return: a number, or Unlimited. Default 1000.")
                .default("1000"),
        ],
        examples: &[Example {
            title: "Groups without a customer DEP",
            code: "custkey Get-UnifiedGroup -Filter 'DataEncryptionPolicy -eq $null'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let display = args.str("DisplayName").unwrap_or_default().to_string();
    let req = NewRecipient {
        kind: RecipientKind::GroupMailbox,
        name: args
            .str("Name")
            .map(str::to_string)
            .unwrap_or_else(|| display.clone()),
        alias: args.str("Alias").map(str::to_string),
        display_name: Some(display.clone()),
        primary_smtp: args.str("PrimarySmtpAddress").map(str::to_string),
        upn: None,
        external_email: None,
    };
    if display.trim().is_empty() || display.len() > 256 {
        return Err(
            CliError::usage("a group's -DisplayName must be 1 to 256 characters")
                .with_help("give a name such as \"Finance Team\""),
        );
    }
    if args.str("Name").is_none() && display.trim().len() > 64 {
        return Err(CliError::usage(
            "the display name is longer than a group's name may be (64 characters)",
        )
        .with_help("give a shorter -Name beside the -DisplayName"));
    }
    let what = format!("GroupMailbox \"{}\"", req.name);
    if !ctx.should_process(&what, ctx.cmdlet.name, false)? {
        return Ok(Output::None);
    }
    let dep = args.str("DataEncryptionPolicy").map(str::to_string);
    let cmdlet = ctx.cmdlet.name;
    let row = match dep.as_deref() {
        None => recipient::create(ctx.store()?, &req)?,
        Some(d) => {
            let (store, keys) = ctx.service()?;
            encryption::create_assigned(store, keys, &req, Some(d), cmdlet)?
        }
    };
    ctx.verbose(&format!("created GroupMailbox {} ({})", row.name, row.guid));
    let store = ctx.store()?;
    let described = encryption::describe(store, vec![row])?;
    Ok(Output::one(record(&described[0])?))
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    set_recipient(ctx, args, RecipientScope::Groups)
}

/// Set-UnifiedGroup for a pipeline's objects, batched as Set-Mailbox is.
pub(crate) fn set_batch(ctx: &mut Ctx, all: &[Args]) -> super::Batched {
    set_recipients(ctx, all, RecipientScope::Groups, set)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    get_recipients(ctx, args, RecipientScope::Groups)
}
