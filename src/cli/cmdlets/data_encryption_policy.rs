//! New-DataEncryptionPolicy, Get-DataEncryptionPolicy, Set-DataEncryptionPolicy,
//! Test-DataEncryptionPolicy.

use custkey::service::dep::{self, DepKind, NewPolicy, PolicyChanges};

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub fn dep_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| dep::names(&mut s, DepKind::Mailbox))
        .unwrap_or_default()
}

pub(super) const TABLE: &[&str] = &["Name", "Enabled", "State", "AzureKeyIDs"];

/// The parameters of both kinds' `New-*` cmdlets.
pub(super) const NEW_PARAMS: &[Param] = &[
    Param::new(
        "Name",
        Kind::String,
        "The policy's unique name (may contain spaces).",
    )
    .position(0)
    .required(),
    Param::new(
        "AzureKeyIDs",
        Kind::StringList,
        "The two key URIs: https://<vault>.vault.azure.net/keys/<key>[/<version>].",
    )
    .required(),
    Param::new("Description", Kind::String, "A description."),
    Param::new("Enabled", Kind::Bool, "Whether the policy can be assigned.").default("$true"),
];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-DataEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Creates a data encryption policy (DEP) for mailboxes from two customer keys in two vaults.",
        description: "Creates a DEP. Its DEP key (AES-256) is generated with the DEP's own availability key; the DEP key is \
wrapped by each customer key (RSA-OAEP-256, in the vault, as the Office 365 Exchange Online service principal) and by the \
availability key, and the three wrapped copies are stored, each bound to the DEP. Refused when: the organization is \
Trial; fewer than two keys are given or two are in one vault; a key is missing, not RSA, disabled, expiring (other than \
12/31/9999) or not Recoverable+ProtectedSubscription; the Exchange service principal lacks wrapKey, unwrapKey or get on a \
vault; the name is taken (case-insensitively); or 50 DEPs exist. Vaults in the same region or subscription only warn.",
        params: NEW_PARAMS,
        examples: &[Example {
            title: "A DEP for US mailboxes",
            code: "custkey New-DataEncryptionPolicy -Name \"US Mailboxes\" -Description \"Root keys for US mailboxes\" -AzureKeyIDs https://contosowestusvault01.vault.azure.net/keys/USA-Key-01,https://contosocentralusvault01.vault.azure.net/keys/USA-Key-02",
            output: "",
            remarks: "Key Vault names keys with letters, digits and hyphens only: the reference's USA_Key_01 is refused by Azure as it is here.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-DataEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows data encryption policies: one by name or GUID, or all of them.",
        description: "Shows DEPs with their customer key URIs (AzureKeyIDs), the key versions in use (KeyVersionIDs) and \
State (Active, PendingDataPurge, Purged). A GUID from Get-MailboxStatistics' DataEncryptionPolicyID identifies a DEP too.",
        params: &[Param::new("Identity", Kind::String, "A name or GUID; all policies when omitted.")
            .position(0)
            .complete(dep_names)],
        examples: &[Example {
            title: "The policy behind a mailbox",
            code: "custkey Get-DataEncryptionPolicy 0f27a8b5-6d0b-4b46-9a2f-67c5e6d3b1a4",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Set-DataEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Renames, describes, enables or disables a DEP, refreshes it after a key roll (-Refresh), or replaces one of its keys (-AzureKeyIDs <old>,<new> -Replace).",
        description: "Changes a DEP. -Refresh re-wraps the DEP key under the newest version of each customer key (after \
Add-AzKeyVaultKey rolled it) and updates KeyVersionIDs; no mailbox key and no content changes, and older versions stay \
usable for what they still wrap. -AzureKeyIDs <old>,<new> -Replace replaces the policy's key <old> (which need not be \
usable any more) by <new>, which must pass every rule a key of a new policy passes and be in another vault than the \
key that stays: the DEP key is opened with the policy's keys, wrapped under <new>, and the copy under <old> is deleted, \
so <old> no longer opens the policy; AzureKeyIDs and KeyVersionIDs show the new key. No mailbox key and no content \
changes. A disabled DEP can't be assigned; mailboxes already under it stay readable.",
        params: &[
            Param::new("Identity", Kind::String, "The policy: name, DistinguishedName or GUID.").position(0).required().complete(dep_names),
            Param::new("Name", Kind::String, "A new name."),
            Param::new("Description", Kind::String, "A new description."),
            Param::new("Enabled", Kind::Bool, "$true or $false."),
            Param::new("Refresh", Kind::Switch, "Re-wrap the DEP key under the newest customer key versions."),
            Param::new("AzureKeyIDs", Kind::StringList, "With -Replace: the key to replace and its replacement, <old>,<new>."),
            Param::new("Replace", Kind::Switch, "Replace the first key of -AzureKeyIDs in the policy by the second."),
            Param::new("PermanentDataPurgeRequested", Kind::Switch, "Start the data purge path: the DEP can no longer be assigned, and once a data purge approver approves (Approve-DataPurgeRequest) every key under it is destroyed. Refused while the service still has wrapKey or unwrapKey on either vault."),
            Param::new("PermanentDataPurgeReason", Kind::String, "Why the data is purged (required with -PermanentDataPurgeRequested)."),
            Param::new("PermanentDataPurgeContact", Kind::String, "Who to contact about the purge (required with -PermanentDataPurgeRequested)."),
            Param::new("Force", Kind::Switch, "With -PermanentDataPurgeRequested: accept a key vault that no longer exists as revoked, and skip the confirmation."),
        ],
        examples: &[
            Example {
                title: "After rolling a customer key",
                code: "custkey Set-DataEncryptionPolicy -Identity \"US Mailboxes\" -Refresh",
                output: "",
                remarks: "",
            },
            Example {
                title: "Replace a root key by a key in another vault",
                code: "custkey Set-DataEncryptionPolicy -Identity \"US Mailboxes\" -AzureKeyIDs https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va3.vault.azure.net/keys/Key003 -Replace",
                output: "",
                remarks: "Key001 no longer opens the policy; Test-DataEncryptionPolicy shows Key003 beside the key that stayed.",
            },
            Example {
                title: "Start the data purge path (after removing the service's access from both vaults)",
                code: "custkey Set-DataEncryptionPolicy -Identity \"US Mailboxes\" -PermanentDataPurgeRequested -PermanentDataPurgeReason \"Leaving the service\" -PermanentDataPurgeContact cio@contoso.com -Confirm:false",
                output: "",
                remarks: "A different person listed in DataPurgeApprovers then runs Approve-DataPurgeRequest.",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Test-DataEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Proves each customer key and the availability key can unwrap the DEP key, touching no content.",
        description: "Asks each customer key's vault to unwrap the DEP key (as the Exchange service principal) and \
unwraps it with the availability key; reports each key with its result: Success, Damaged (the wrapped copy in the store \
or the vault file does not parse or authenticate), RolledBack (the vault file is older than one the service used), or \
the error class (AccessDenied, KeyDisabled, KeyExpired, NotFound, Unavailable, Invalid). The availability-key test is audited. Exit code 1 when any key \
fails.",
        params: &[Param::new("Identity", Kind::String, "The policy: name, DistinguishedName or GUID.").position(0).required().complete(dep_names)],
        examples: &[Example {
            title: "Check a policy's keys",
            code: "custkey Test-DataEncryptionPolicy \"US Mailboxes\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["KeyType", "KeyId", "Version", "Result"],
        run: test,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    create_policy(ctx, args, DepKind::Mailbox)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    show_policies(ctx, args, DepKind::Mailbox)
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    if args.switch("PermanentDataPurgeRequested") {
        return request_purge(ctx, args, &id);
    }
    if args.has_any(&["PermanentDataPurgeReason", "PermanentDataPurgeContact"]) {
        return Err(CliError::usage(
            "-PermanentDataPurgeReason and -PermanentDataPurgeContact go with -PermanentDataPurgeRequested.",
        )
        .with_help("add -PermanentDataPurgeRequested to start the data purge path"));
    }
    change_policy(ctx, args, DepKind::Mailbox, &id)
}

fn test(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    test_policies(ctx, DepKind::Mailbox, &[id])
}

/// `New-*`: the shared body of both kinds' creation cmdlets.
pub(super) fn create_policy(ctx: &mut Ctx, args: &Args, kind: DepKind) -> Result<Output, CliError> {
    let req = NewPolicy {
        name: args.str("Name").unwrap_or_default().to_string(),
        azure_key_ids: args.list("AzureKeyIDs").unwrap_or_default().to_vec(),
        description: args.str("Description").unwrap_or_default().to_string(),
        enabled: args.bool("Enabled").unwrap_or(true),
    };
    if !ctx.should_process(&req.name, &format!("New-{}", kind.cmdlet_noun()), false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = dep::create(store, keys, kind, &req)?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    Ok(Output::one(record(&out.value)?))
}

/// `Get-*`: one policy of `kind` by -Identity, or all of them.
pub(super) fn show_policies(ctx: &mut Ctx, args: &Args, kind: DepKind) -> Result<Output, CliError> {
    let store = ctx.store()?;
    match args.str("Identity") {
        // A list cmdlet: JSON is an array also for the one policy an identity names.
        Some(id) => Ok(Output::many(vec![record(&dep::get(store, kind, id)?)?])),
        None => Ok(Output::many(
            dep::list(store, kind)?
                .iter()
                .map(record)
                .collect::<Result<Vec<_>, _>>()?,
        )),
    }
}

/// `Set-*` without the purge parameters: rename, describe, enable/disable, refresh, replace a key.
pub(super) fn change_policy(
    ctx: &mut Ctx,
    args: &Args,
    kind: DepKind,
    id: &str,
) -> Result<Output, CliError> {
    let cmdlet = format!("Set-{}", kind.cmdlet_noun());
    let replace = match (args.list("AzureKeyIDs"), args.switch("Replace")) {
        (None, false) => None,
        (Some(ids), true) if ids.len() == 2 => Some((ids[0].clone(), ids[1].clone())),
        (Some(ids), true) => {
            return Err(CliError::usage(format!(
                "-Replace takes two keys in -AzureKeyIDs, the old and the new; {} given",
                ids.len()
            ))
            .with_help("-AzureKeyIDs <key to replace>,<its replacement> -Replace"))
        }
        (Some(_), false) => {
            return Err(CliError::usage(format!(
                "{cmdlet} changes a policy's keys only with -Replace"
            ))
            .with_help("-AzureKeyIDs <key to replace>,<its replacement> -Replace; after a key roll use -Refresh"))
        }
        (None, true) => {
            return Err(
                CliError::usage("-Replace needs -AzureKeyIDs <old>,<new>")
                    .with_help("-AzureKeyIDs <key to replace>,<its replacement> -Replace"),
            )
        }
    };
    if replace.is_some() && args.switch("Refresh") {
        return Err(CliError::usage(
            "-Refresh and -Replace are two parameter sets: give one of them",
        )
        .with_help("replace the key first, then refresh in a second command if a key was rolled"));
    }
    let ch = PolicyChanges {
        name: args.str("Name").map(str::to_string),
        description: args.str("Description").map(str::to_string),
        enabled: args.bool("Enabled"),
        refresh: args.switch("Refresh"),
        replace,
    };
    if ch.name.is_none()
        && ch.description.is_none()
        && ch.enabled.is_none()
        && !ch.refresh
        && ch.replace.is_none()
    {
        return Err(
            CliError::usage(format!("{cmdlet} was given nothing to change."))
                .with_help("give -Name, -Description, -Enabled, -Refresh, or -AzureKeyIDs <old>,<new> -Replace"),
        );
    }
    if !ctx.should_process(id, &cmdlet, false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = dep::set(store, keys, kind, id, &ch)?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    ctx.verbose(&format!(
        "KeyVersionIDs now {}",
        out.value.key_version_ids.join(", ")
    ));
    Ok(Output::None)
}

/// `Test-*`: tests each named policy's keys; prints the report and fails when any key fails.
pub(super) fn test_policies(
    ctx: &mut Ctx,
    kind: DepKind,
    ids: &[String],
) -> Result<Output, CliError> {
    let (store, keys) = ctx.service()?;
    let mut results = Vec::new();
    for id in ids {
        results.extend(dep::test(store, keys, kind, id)?);
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.result != "Success")
        .map(|r| {
            format!(
                "{} {} of '{}' ({})",
                r.key_type, r.key_id, r.policy, r.result
            )
        })
        .collect();
    let items = results.iter().map(record).collect::<Result<Vec<_>, _>>()?;
    if failed.is_empty() {
        return Ok(Output::many(items));
    }
    // Print the report, then fail with the keys that did not unwrap.
    let text = crate::cli::output::render(
        &items,
        &["Policy", "KeyType", "KeyId", "Version", "Result", "Message"],
        ctx.form,
        ctx.properties.as_deref(),
        None,
    )?;
    ctx.write_report(&text)?;
    Err(CliError::failed(format!(
        "{} key(s) could not unwrap their policy's DEP key: {}",
        failed.len(),
        failed.join("; ")
    ))
    .with_help("see each key's Result and Message above"))
}

fn request_purge(ctx: &mut Ctx, args: &Args, id: &str) -> Result<Output, CliError> {
    let reason = args
        .str("PermanentDataPurgeReason")
        .unwrap_or_default()
        .to_string();
    let contact = args
        .str("PermanentDataPurgeContact")
        .unwrap_or_default()
        .to_string();
    if reason.is_empty() || contact.is_empty() {
        return Err(CliError::usage("-PermanentDataPurgeRequested needs -PermanentDataPurgeReason and -PermanentDataPurgeContact.")
            .with_help("say why, and who to contact: -PermanentDataPurgeReason \"...\" -PermanentDataPurgeContact cio@contoso.com"));
    }
    let force = args.switch("Force");
    if !ctx.should_process_as(Impact::High, id, "Request permanent data purge", force)? {
        return Ok(Output::None);
    }
    let (store, keys, requester) = ctx.acting()?;
    let policy = custkey::service::lifecycle::request_purge(
        store, keys, id, &reason, &contact, force, requester,
    )?;
    let requester = requester.upn.clone();
    ctx.warn(&format!(
        "the data purge of '{}' awaits approval by a data purge approver other than {requester}: custkey Approve-DataPurgeRequest -Identity \"{}\"",
        policy.name, policy.name
    ));
    Ok(Output::None)
}
