//! New-Mailbox, Get-Mailbox.

use custkey::model::RecipientScope;
use custkey::service::mailbox as encryption;
use custkey::service::recipient::{self, Kind as RecipientKind, NewRecipient};

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::filter;
use crate::cli::output::{record, Output, Record};
use crate::cli::Ctx;

pub const TABLE: &[&str] = &[
    "Name",
    "Alias",
    "RecipientTypeDetails",
    "PrimarySmtpAddress",
    "DataEncryptionPolicy",
];

pub fn mailbox_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| recipient::names(&mut s, RecipientScope::Mailboxes, &ctx.partial))
        .unwrap_or_default()
}

const RESULT_SIZE_HELP: &str = "How many to return: a number, or Unlimited. Default 1000.";
/// The values Microsoft's `Get-Mailbox -RecipientTypeDetails` takes (custkey has mailboxes of
/// four of them; the others match none), and PublicFolderMailbox.
pub const MAILBOX_TYPES: &[&str] = &[
    "DiscoveryMailbox",
    "EquipmentMailbox",
    "GroupMailbox",
    "LegacyMailbox",
    "LinkedMailbox",
    "LinkedRoomMailbox",
    "PublicFolderMailbox",
    "RoomMailbox",
    "SchedulingMailbox",
    "SharedMailbox",
    "TeamMailbox",
    "UserMailbox",
];

const FILTER_HELP: &str = "An OPATH filter on the output properties, e.g. \"RecipientTypeDetails -eq 'SharedMailbox'\" or \"Name -like 'a*' -and DataEncryptionPolicy -eq $null\"; DataEncryptionPolicy compares with the policy's name or its DistinguishedName.";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-Mailbox",
        module: "ExchangeOnlineManagement",
        synopsis: "Creates a user mailbox, a shared mailbox with -Shared, or a public-folder mailbox with -PublicFolder.",
        description: "Creates a mailbox. The alias defaults to the name without spaces, the primary SMTP address to \
alias@<organization name>, and a user mailbox's user principal name (MicrosoftOnlineServicesID) to its primary address. \
A new mailbox's content is encrypted under the Microsoft-managed data encryption policy until a customer DEP is assigned. \
User mailboxes need a licence that carries BPOS_S_EquivioAnalytics (see Set-MgUserLicense) before a customer DEP can be \
assigned. Shared and public-folder mailboxes (-Shared; -PublicFolder, RecipientTypeDetails PublicFolderMailbox) \
need no licence of their own, but a customer DEP can be assigned to them (Set-Mailbox -DataEncryptionPolicy) only \
once at least one user of the tenant is licensed for Customer Key. -Shared and -PublicFolder can't be combined.",
        params: &[
            Param::new("Name", Kind::String, "The mailbox's unique name.").position(0).required(),
            Param::new("Alias", Kind::String, "The unique alias (mail nickname)."),
            Param::new("DisplayName", Kind::String, "The name shown in address lists. Default: the name."),
            Param::new("PrimarySmtpAddress", Kind::String, "The primary email address."),
            Param::new("MicrosoftOnlineServicesID", Kind::String, "The user principal name of a user mailbox."),
            Param::new("Shared", Kind::Switch, "Create a shared mailbox (no user account, no licence needed)."),
            Param::new("PublicFolder", Kind::Switch, "Create a public-folder mailbox (no user account, no licence of its own needed)."),
        ],
        examples: &[Example {
            title: "A public-folder mailbox under a customer DEP",
            code: "custkey New-Mailbox -PublicFolder -Name \"PF Root\"; custkey Set-Mailbox \"PF Root\" -DataEncryptionPolicy \"US Mailboxes\"",
            output: "",
            remarks: "A licensed user must exist in the tenant (see Set-MgUserLicense) before the policy can be assigned.",
        }, Example {
            title: "A user mailbox and a shared mailbox",
            code: "custkey New-Mailbox -Name \"Alice Example\" -Alias alice; custkey New-Mailbox -Name Support -Shared",
            output: "
Name          Alias   RecipientTypeDetails PrimarySmtpAddress                DataEncryptionPolicy
------------- ------- -------------------- --------------------------------- --------------------
Alice Example alice   UserMailbox          alice@contoso.onmicrosoft.com
Name          Alias   RecipientTypeDetails PrimarySmtpAddress                DataEncryptionPolicy
------------- ------- -------------------- --------------------------------- --------------------
Support       support SharedMailbox        support@contoso.onmicrosoft.com
",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-Mailbox",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows mailboxes: one by identity, or all that match a filter.",
        description: "Shows mailboxes. -Identity takes a name, alias, address, user principal name \
or GUID. Without -Identity every user and shared mailbox is listed, up to -ResultSize; as in Exchange Online, group \
mailboxes (Microsoft 365 groups) are listed with -GroupMailbox or -RecipientTypeDetails GroupMailbox, and public-folder \
mailboxes with -PublicFolder or -RecipientTypeDetails PublicFolderMailbox. -RecipientTypeDetails takes a list of types \
and keeps the mailboxes of those types only. The PersistedCapabilities property lists what the \
mailbox's licences give it; BPOS_S_EquivioAnalytics means it is licensed for Customer Key.",
        params: &[
            Param::new("Identity", Kind::String, "A name, alias, address, UPN or GUID; all mailboxes when omitted.")
                .position(0)
                .complete(mailbox_names),
            Param::new("Filter", Kind::String, FILTER_HELP),
            Param::new("RecipientTypeDetails", Kind::EnumList(MAILBOX_TYPES), "Only mailboxes of these types, e.g. SharedMailbox,GroupMailbox."),
            Param::new("GroupMailbox", Kind::Switch, "Only group mailboxes (Microsoft 365 groups)."),
            Param::new("PublicFolder", Kind::Switch, "Only public-folder mailboxes."),
            Param::new("ResultSize", Kind::String, RESULT_SIZE_HELP).default("1000"),
        ],
        examples: &[
            Example {
                title: "Is a mailbox licensed for Customer Key?",
                code: "custkey Get-Mailbox alice -Property PersistedCapabilities",
                output: "
PersistedCapabilities : {BPOS_S_CustomerLockbox, BPOS_S_Enterprise, BPOS_S_EquivioAnalytics}
",
                remarks: "The same as (Get-Mailbox alice).PersistedCapabilities in PowerShell.",
            },
            Example {
                title: "Shared and group mailboxes, and their policies",
                code: "custkey Get-Mailbox -RecipientTypeDetails SharedMailbox,GroupMailbox -ResultSize Unlimited",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Enable-Mailbox",
        module: "ExchangeOnlineManagement",
        synopsis: "With -Archive, gives a user or shared mailbox an archive mailbox.",
        description: "Gives the mailbox an archive: Get-Mailbox then shows ArchiveStatus Active and its ArchiveGuid. The \
archive's content is encrypted under the same data encryption policy as the mailbox: it gets a mailbox key of its own, \
wrapped by the same DEP key, and Set-Mailbox -DataEncryptionPolicy re-wraps the keys of both (never their content). \
Import into it and export from it with New-MailboxImportRequest / New-MailboxExportRequest -IsArchive; \
Get-MailboxStatistics -Archive reports it. A mailbox has at most one archive.",
        params: &[
            Param::new("Identity", Kind::String, "The user or shared mailbox: name, alias, address, UPN or GUID.")
                .position(0)
                .required()
                .complete(mailbox_names),
            Param::new("Archive", Kind::Switch, "Create the mailbox's archive."),
        ],
        examples: &[Example {
            title: "An archive for alice, then mail into it",
            code: "custkey Enable-Mailbox alice -Archive; custkey New-MailboxImportRequest alice ./mail -IsArchive",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["Name", "Alias", "ArchiveStatus", "ArchiveGuid", "DataEncryptionPolicy"],
        run: enable,
    },
    Cmdlet {
        name: "Set-Mailbox",
        module: "ExchangeOnlineManagement",
        synopsis: "Assigns a data encryption policy to a mailbox, or with '$null' returns it to Microsoft-managed keys.",
        description: "Assigns a customer DEP: the mailbox key is re-wrapped under the DEP key at once and no content is touched, so Get-MailboxStatistics shows IsEncrypted True right away. '$null' re-wraps it under the built-in Microsoft-managed DEP. User mailboxes need a licence with BPOS_S_EquivioAnalytics; shared, group and public-folder mailboxes need none of their own, but a tenant with at least one user so licensed. A disabled DEP, or one with a pending data purge, can't be assigned. -DisplayName changes the display name.",
        params: &[
            Param::new("Identity", Kind::String, "The mailbox: name, alias, address, UPN or GUID.")
                .position(0)
                .required()
                .complete(mailbox_names),
            Param::new("DataEncryptionPolicy", Kind::String, "The DEP's name or GUID; '$null' for Microsoft-managed keys.")
                .complete(super::data_encryption_policy::dep_names),
            Param::new("DisplayName", Kind::String, "A new display name."),
        ],
        examples: &[Example {
            title: "Encrypt a mailbox with a customer DEP",
            code: "custkey Set-Mailbox -Identity alice@contoso.com -DataEncryptionPolicy \"US Mailboxes\"",
            output: "",
            remarks: "In bash, write '$null' in single quotes to unassign: -DataEncryptionPolicy '$null'.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
];

/// Set-Mailbox and Set-MailUser: -DataEncryptionPolicy and -DisplayName.
pub(crate) fn set_recipient(
    ctx: &mut Ctx,
    args: &Args,
    scope: RecipientScope,
) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    let dep_given =
        args.str("DataEncryptionPolicy").is_some() || args.is_null("DataEncryptionPolicy");
    let display = args.str("DisplayName").map(str::to_string);
    if !dep_given && display.is_none() {
        return Err(
            CliError::usage(format!("{} was given nothing to change.", ctx.cmdlet.name))
                .with_help("give -DataEncryptionPolicy <name|'$null'> or -DisplayName"),
        );
    }
    if !ctx.should_process(&id, ctx.cmdlet.name, false)? {
        return Ok(Output::None);
    }
    if let Some(d) = display {
        recipient::set_display_name(ctx.store()?, &id, scope, &d)?;
    }
    if dep_given {
        let dep = args.str("DataEncryptionPolicy").map(str::to_string);
        let cmdlet = ctx.cmdlet.name;
        let (store, keys) = ctx.service()?;
        encryption::assign(store, keys, &[id], scope, dep.as_deref(), cmdlet)?;
    }
    Ok(Output::None)
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    set_recipient(ctx, args, RecipientScope::Mailboxes)
}

fn enable(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    if !args.switch("Archive") {
        return Err(
            CliError::usage("Enable-Mailbox was given nothing to enable.")
                .with_help("give -Archive to create the mailbox's archive"),
        );
    }
    if !ctx.should_process(&id, "Enable-Mailbox -Archive", false)? {
        return Ok(Output::None);
    }
    let store = ctx.store()?;
    let row = recipient::enable_archive(store, &id)?;
    let described = encryption::describe(store, vec![row])?;
    Ok(Output::one(record(&described[0])?))
}

/// Set-Mailbox for a pipeline's objects (see [`super::Batch`]).
pub(crate) fn set_batch(ctx: &mut Ctx, all: &[Args]) -> super::Batched {
    set_recipients(ctx, all, RecipientScope::Mailboxes, set)
}

/// Set-Mailbox and Set-MailUser over many objects: each run of objects that only assign the
/// same -DataEncryptionPolicy is one [`encryption::assign_each`] (one read, one re-wrap per key,
/// one write transaction with an audit row per recipient); anything else (-DisplayName, a prompt
/// or -WhatIf) goes through `one`, object by object, in order.
pub(crate) fn set_recipients(
    ctx: &mut Ctx,
    all: &[Args],
    scope: RecipientScope,
    one: fn(&mut Ctx, &Args) -> Result<Output, CliError>,
) -> super::Batched {
    let mut out = super::Batched::default();
    let quiet = ctx.asks_nothing();
    let dep_of = |a: &Args| a.str("DataEncryptionPolicy").map(str::to_string);
    let plain = |a: &Args| {
        quiet
            && a.str("DisplayName").is_none()
            && (a.str("DataEncryptionPolicy").is_some() || a.is_null("DataEncryptionPolicy"))
    };
    let mut i = 0;
    while i < all.len() {
        if !plain(&all[i]) {
            if !out.each(ctx, &all[i..=i], one) {
                return out;
            }
            i += 1;
            continue;
        }
        let dep = dep_of(&all[i]);
        let mut j = i + 1;
        while j < all.len() && plain(&all[j]) && dep_of(&all[j]) == dep {
            j += 1;
        }
        let ids: Vec<String> = all[i..j]
            .iter()
            .map(|a| a.str("Identity").unwrap_or_default().to_string())
            .collect();
        let cmdlet = ctx.cmdlet.name;
        let done = ctx.service().and_then(|(store, keys)| {
            Ok(encryption::assign_each(
                store,
                keys,
                &ids,
                scope,
                dep.as_deref(),
                cmdlet,
            )?)
        });
        match done {
            Ok(p) => {
                out.outputs.extend(p.done.iter().map(|_| Output::None));
                if let Some(e) = p.failed {
                    out.failed = Some(e.into());
                    return out;
                }
            }
            Err(e) => {
                out.failed = Some(e);
                return out;
            }
        }
        i = j;
    }
    out
}

/// New-Mailbox for a pipeline's objects (see [`super::Batch`]): all created in one
/// transaction, unless a prompt or -WhatIf asks about each.
pub(crate) fn new_batch(ctx: &mut Ctx, all: &[Args]) -> super::Batched {
    let mut out = super::Batched::default();
    let both = |a: &Args| a.switch("Shared") && a.switch("PublicFolder");
    if !ctx.asks_nothing() || all.iter().any(both) {
        out.each(ctx, all, new);
        return out;
    }
    let reqs: Vec<NewRecipient> = all.iter().map(new_request).collect();
    let done = ctx
        .store()
        .and_then(|store| Ok(recipient::create_each(store, &reqs)?));
    let p = match done {
        Ok(p) => p,
        Err(e) => {
            out.failed = Some(e);
            return out;
        }
    };
    for row in p.done {
        ctx.verbose(&format!("created {} {} ({})", row.kind, row.name, row.guid));
        match record(&recipient::present(row, None)) {
            Ok(r) => out.outputs.push(Output::one(r)),
            Err(e) => {
                out.failed = Some(e);
                return out;
            }
        }
    }
    out.failed = p.failed.map(CliError::from);
    out
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    if args.switch("Shared") && args.switch("PublicFolder") {
        return Err(CliError::usage(
            "Parameter set cannot be resolved using the specified named parameters: -Shared and -PublicFolder.",
        )
        .with_help("give one of -Shared (a shared mailbox) or -PublicFolder (a public-folder mailbox)"));
    }
    create(ctx, &new_request(args))
}

fn new_request(args: &Args) -> NewRecipient {
    NewRecipient {
        kind: if args.switch("Shared") {
            RecipientKind::SharedMailbox
        } else if args.switch("PublicFolder") {
            RecipientKind::PublicFolderMailbox
        } else {
            RecipientKind::UserMailbox
        },
        name: args.str("Name").unwrap_or_default().to_string(),
        alias: args.str("Alias").map(str::to_string),
        display_name: args.str("DisplayName").map(str::to_string),
        primary_smtp: args.str("PrimarySmtpAddress").map(str::to_string),
        upn: args.str("MicrosoftOnlineServicesID").map(str::to_string),
        external_email: None,
    }
}

/// Creates a recipient after -WhatIf/-Confirm and shows it.
pub(crate) fn create(ctx: &mut Ctx, req: &NewRecipient) -> Result<Output, CliError> {
    let what = format!("{} \"{}\"", req.kind.as_str(), req.name);
    if !ctx.should_process(&what, ctx.cmdlet.name, false)? {
        return Ok(Output::None);
    }
    let row = recipient::create(ctx.store()?, req)?;
    ctx.verbose(&format!(
        "created {} {} ({})",
        req.kind.as_str(),
        row.name,
        row.guid
    ));
    Ok(Output::one(record(&recipient::present(row, None))?))
}

fn result_size(args: &Args) -> Result<Option<u64>, CliError> {
    match args.str("ResultSize") {
        None => Ok(Some(1000)),
        Some(s) if s.eq_ignore_ascii_case("unlimited") => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "Cannot bind parameter 'ResultSize'. \"{s}\" is not a number or Unlimited."
                ))
                .with_help("give a positive whole number, or Unlimited")
            }),
    }
}

/// Get-Mailbox and Get-MailUser: one by -Identity, or a filtered list up to -ResultSize.
pub(crate) fn get_recipients(
    ctx: &mut Ctx,
    args: &Args,
    scope: RecipientScope,
) -> Result<Output, CliError> {
    let mut filter = args.str("Filter").map(filter::parse).transpose()?;
    // A recipient filter names the policy by its distinguished name (as Exchange's
    // msExchDataEncryptionPolicyLink is filtered); the objects show its name.
    if let Some(f) = filter.as_mut() {
        f.map_values("DataEncryptionPolicy", &|v| {
            custkey::service::dep::name_from_dn(custkey::service::dep::KIND_MAILBOX, v)
        });
    }
    let size = result_size(args)?;
    let kinds = mailbox_types(args, scope)?;
    let kind_ok = |r: &Record| {
        kinds.as_ref().is_none_or(|k| {
            r.get("RecipientTypeDetails")
                .and_then(|v| v.as_str())
                .is_some_and(|t| k.iter().any(|x| x.eq_ignore_ascii_case(t)))
        })
    };
    let store = ctx.store()?;
    if let Some(id) = args.str("Identity") {
        let row = recipient::get(store, id, scope)?;
        let described = encryption::describe(store, vec![row])?;
        let r = record(&described[0])?;
        return Ok(Output::many(
            (filter.is_none_or(|f| f.matches(&r)) && kind_ok(&r))
                .then_some(r)
                .into_iter()
                .collect(),
        ));
    }
    // With a filter every row is examined; without one the limit goes to the store.
    let fetch = if filter.is_some() || kinds.is_some() {
        None
    } else {
        size.map(|n| n + 1)
    };
    let rows = recipient::list(store, scope, fetch)?;
    let rows = encryption::describe(store, rows)?;
    let mut out: Vec<Record> = Vec::new();
    let mut more = false;
    for row in rows {
        let r = record(&row)?;
        if !kind_ok(&r) {
            continue;
        }
        if let Some(f) = &filter {
            if out.is_empty() {
                check_filter_properties(f, &r)?;
            }
            if !f.matches(&r) {
                continue;
            }
        }
        if size.is_some_and(|n| out.len() as u64 >= n) {
            more = true;
            break;
        }
        out.push(r);
    }
    if more {
        ctx.warn("There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.");
    }
    Ok(Output::many(out))
}

/// The RecipientTypeDetails Get-Mailbox keeps: those of -RecipientTypeDetails, -GroupMailbox
/// and -PublicFolder; without them, a listing keeps user and shared mailboxes (a lookup by
/// -Identity keeps any). `None`: all.
fn mailbox_types(args: &Args, scope: RecipientScope) -> Result<Option<Vec<String>>, CliError> {
    if scope != RecipientScope::Mailboxes {
        return Ok(None);
    }
    let mut kinds: Vec<String> = args
        .list("RecipientTypeDetails")
        .map(|l| l.to_vec())
        .unwrap_or_default();
    if args.switch("GroupMailbox") {
        kinds.push(RecipientKind::GroupMailbox.as_str().into());
    }
    if args.switch("PublicFolder") {
        kinds.push(RecipientKind::PublicFolderMailbox.as_str().into());
    }
    if !kinds.is_empty() {
        return Ok(Some(kinds));
    }
    if args.str("Identity").is_some() {
        return Ok(None);
    }
    Ok(Some(vec![
        RecipientKind::UserMailbox.as_str().into(),
        RecipientKind::SharedMailbox.as_str().into(),
    ]))
}

fn check_filter_properties(f: &filter::Filter, r: &Record) -> Result<(), CliError> {
    for p in f.properties() {
        if !r.keys().any(|k| k.eq_ignore_ascii_case(p)) {
            let near = crate::cli::error::suggestions(p, r.keys().map(String::as_str));
            let err = CliError::usage(format!(
                "Cannot bind parameter 'Filter': '{p}' is not a recognized filterable property."
            ));
            return Err(match near.first() {
                Some(n) => err.with_help(format!("did you mean {n}?")),
                None => err.with_help(format!(
                    "filterable properties: {}",
                    r.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            });
        }
    }
    Ok(())
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    get_recipients(ctx, args, RecipientScope::Mailboxes)
}
