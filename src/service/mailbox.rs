//! Mailbox keys and DEP assignment (`Set-Mailbox` / `Set-MailUser -DataEncryptionPolicy`),
//! and `Get-MailboxStatistics`.
//!
//! Every mailbox's content is encrypted: without a customer DEP its key is wrapped by the
//! built-in Microsoft-managed DEP. Assigning a DEP re-wraps the mailbox key(s) under the new
//! DEP key at once; no content is touched.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;

use super::dep::{self, KIND_MAILBOX, STATE_ACTIVE, STATE_PENDING_PURGE};
use super::keys::{audit_record, parse_guid, request_id, Purpose, ServiceKeys};
use super::recipient::{self, Kind, Recipient};
use super::{Error, Result};
use crate::crypto::{DepKey, KeyRef, MailboxBinding, MailboxKey, WrappedKey};
use crate::model::RecipientScope;
use crate::store::{DepRow, MailboxKeyRow, RecipientRow, Store};

/// The DEP row that wraps (or will wrap) a recipient's keys: its mailbox DEP, else the
/// tenant's multi-workload DEP, else the Microsoft-managed one.
pub fn target_dep(store: &mut Store, keys: &ServiceKeys, r: &RecipientRow) -> Result<DepRow> {
    match &r.dep_guid {
        Some(g) => store
            .read(|tx| -> Result<_> { Ok(tx.dep(g)?) })?
            .ok_or_else(|| {
                Error::new(
                    super::ErrorKind::Unavailable,
                    format!("the DEP {g} of {} is missing from the store", r.name),
                )
                .with_help("the store was changed or damaged: restore it from a backup")
            }),
        None => super::m365::tenant_default(store, keys),
    }
}

/// The binding of a mailbox key wrapped by a DEP's key.
pub(crate) fn binding(dep_guid: &str, mailbox_guid: &str) -> Result<MailboxBinding> {
    Ok(MailboxBinding::new(
        parse_guid(dep_guid)?,
        parse_guid(mailbox_guid)?,
    ))
}

/// Unwraps one mailbox key row.
pub fn open_key(
    store: &mut Store,
    keys: &mut ServiceKeys,
    row: &MailboxKeyRow,
    purpose: Purpose,
    request: &str,
) -> Result<MailboxKey> {
    let d = store
        .read(|tx| -> Result<_> { Ok(tx.dep(&row.dep_guid)?) })?
        .ok_or_else(|| {
            Error::new(
                super::ErrorKind::Unavailable,
                format!(
                    "the DEP {} that wraps a key of this mailbox is missing from the store",
                    row.dep_guid
                ),
            )
            .with_help("the store was changed or damaged: restore it from a backup")
        })?;
    let (dk, _) = keys.dep_key(store, &d, purpose, request)?;
    let wk = WrappedKey::from_bytes(&row.wrapped)?;
    Ok(dk.unwrap_mailbox_key(&wk, &binding(&row.dep_guid, &row.mailbox_guid)?)?)
}

/// The key new content of the mailbox is encrypted under, created (under its DEP) if the
/// mailbox has none yet.
pub fn current_key(
    store: &mut Store,
    keys: &mut ServiceKeys,
    r: &RecipientRow,
    purpose: Purpose,
    request: &str,
) -> Result<(MailboxKey, MailboxKeyRow)> {
    let rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
    if let Some(row) = rows.into_iter().find(|k| k.current) {
        let k = open_key(store, keys, &row, purpose, request)?;
        return Ok((k, row));
    }
    let d = target_dep(store, keys, r)?;
    let (dk, _) = keys.dep_key(store, &d, purpose, request)?;
    let (key, row) = wrapped_key(&dk, &d, r, 1)?;
    // Two commands may create a mailbox's first key at once: one row wins, the other opens it.
    let stored = store.write(|tx| -> Result<_> {
        unchanged_dep(tx, r)?;
        Ok(tx.put_first_mailbox_key(&row)?)
    })?;
    if stored.key_id == row.key_id && stored.key_version == row.key_version {
        return Ok((key, row));
    }
    let k = open_key(store, keys, &stored, purpose, request)?;
    Ok((k, stored))
}

/// A fresh mailbox key of `version`, wrapped under `dk`, and its (current) row, not yet stored.
pub fn wrapped_key(
    dk: &DepKey,
    d: &DepRow,
    r: &RecipientRow,
    version: u32,
) -> Result<(MailboxKey, MailboxKeyRow)> {
    let key = MailboxKey::generate(KeyRef::new(uuid::Uuid::new_v4(), version));
    let wrapped = dk.wrap_mailbox_key(&key, &binding(&d.guid, &r.guid)?)?;
    let row = MailboxKeyRow {
        mailbox_guid: r.guid.clone(),
        key_id: key.key_ref().id.to_string(),
        key_version: key.key_ref().version,
        dep_guid: d.guid.clone(),
        wrapped: wrapped.into_bytes(),
        current: true,
    };
    Ok((key, row))
}

/// Fails (nothing written) when the recipient's DEP assignment changed since `r` was read: a
/// key wrapped under the DEP read then must not be stored after a reassignment.
pub(crate) fn unchanged_dep(tx: &crate::store::Tx, r: &RecipientRow) -> Result<()> {
    match tx.recipient(&r.guid)? {
        Some(now) if now.dep_guid == r.dep_guid => Ok(()),
        Some(_) => Err(changed_meanwhile()),
        None => Err(removed_meanwhile(r)),
    }
}

/// The error when a recipient read by a command was removed before its write.
fn removed_meanwhile(r: &RecipientRow) -> Error {
    Error::new(
        super::ErrorKind::NotFound,
        format!(
            "the mailbox '{}' was removed while this command ran",
            r.name
        ),
    )
    .with_help("Get-Mailbox lists the mailboxes there are")
}

/// What a command over many recipients did, in order: the results of the first ones, and the
/// error of the one after them that stopped it (none after it was tried).
#[derive(Debug)]
pub struct Partial<T> {
    pub done: Vec<T>,
    pub failed: Option<Error>,
}

/// How many times an assignment reads and re-wraps again when another command changed some of
/// its keys between its read and its write (each attempt's write is checked the same way).
const ASSIGN_ATTEMPTS: usize = 4;

/// A customer DEP can be assigned only while it is enabled and has no data purge pending.
fn dep_gate(d: &DepRow) -> Result<()> {
    if d.state == STATE_PENDING_PURGE || d.state == dep::STATE_PURGED {
        return Err(Error::rule(format!(
            "the data encryption policy '{}' has a pending data purge and can't be assigned",
            d.name
        ))
        .with_help("assign another policy"));
    }
    if !d.enabled {
        return Err(Error::rule(format!(
            "the data encryption policy '{}' is disabled",
            d.name
        ))
        .with_help(format!(
            "enable it first: custkey Set-DataEncryptionPolicy -Identity \"{}\" -Enabled $true",
            d.name
        )));
    }
    Ok(())
}

/// A recipient of a kind that needs a licence must carry the Customer Key capability; a group
/// or public-folder mailbox needs none of its own, but a tenant with at least one licensed
/// recipient (`tenant_licensed`).
fn licence_gate(r: &RecipientRow, tenant_licensed: bool) -> Result<()> {
    licence_rule(
        &r.name,
        &r.alias,
        Kind::of(&r.kind),
        &r.licenses,
        tenant_licensed,
    )
}

/// [`licence_gate`] for a recipient of `kind` named `name` (`alias`) with `licenses`, also one
/// not created yet (no licences).
fn licence_rule(
    name: &str,
    alias: &str,
    kind: Kind,
    licenses: &[String],
    tenant_licensed: bool,
) -> Result<()> {
    if kind.needs_licensed_tenant() && !tenant_licensed {
        return Err(Error::rule(format!(
            "'{}' is a {}: it needs no licence of its own, but the tenant has no user licensed for Customer Key ({})",
            name,
            kind.as_str(),
            recipient::CUSTOMER_KEY_CAPABILITY
        ))
        .with_help(
            "license at least one user first, e.g. custkey Set-MgUserLicense -UserId alice -AddLicenses SPE_E5",
        ));
    }
    if kind.needs_license()
        && !recipient::capabilities(licenses)
            .iter()
            .any(|c| c == recipient::CUSTOMER_KEY_CAPABILITY)
    {
        return Err(Error::rule(format!(
            "'{}' is not licensed for Customer Key: its PersistedCapabilities lack {}",
            name,
            recipient::CUSTOMER_KEY_CAPABILITY
        ))
        .with_help(format!(
            "assign an E5-class licence first: custkey Set-MgUserLicense -UserId {alias} -AddLicenses SPE_E5"
        )));
    }
    Ok(())
}

/// The gates of assigning the customer DEP `dep_identity` to each of `identities`, checked
/// without changing anything (for a rollout plan): the organization (no Trial) and the DEP's
/// state (unless `dep_planned`: the plan creates it first, enabled) once, then each recipient's
/// licence, all in one read transaction. Returns, per identity in order, its refusal if it has
/// one; a refusal for all of them (a Trial organization, a disabled DEP) is the `Err`.
pub fn preflight_assign_many(
    store: &mut Store,
    identities: &[String],
    scope: RecipientScope,
    dep_identity: &str,
    dep_planned: bool,
) -> Result<Vec<Option<Error>>> {
    dep::check_org(store)?;
    if !dep_planned {
        dep_gate(&dep::resolve(store, dep::DepKind::Mailbox, dep_identity)?)?;
    }
    store.read(|tx| -> Result<_> {
        let tenant = recipient::tenant_licensed(tx)?;
        Ok(recipient::resolve_many(tx, identities, scope)?
            .into_iter()
            .map(|r| match r {
                Ok(r) => licence_gate(&r, tenant).err(),
                Err(e) => Some(e),
            })
            .collect())
    })
}

/// Assigns `dep_identity` (`None`: back to the tenant default, the multi-workload DEP or
/// Microsoft-managed keys) to each recipient, re-wrapping
/// their mailbox keys. One RSA unwrap per DEP involved, whatever the number of mailboxes.
/// All or nothing: a recipient that can't be assigned fails the whole call.
pub fn assign(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identities: &[String],
    scope: RecipientScope,
    dep_identity: Option<&str>,
    cmdlet: &str,
) -> Result<Vec<RecipientRow>> {
    let p = assign_inner(store, keys, identities, scope, dep_identity, cmdlet, false)?;
    match p.failed {
        Some(e) => Err(e),
        None => Ok(p.done),
    }
}

/// [`assign`] for a pipeline's objects: the recipients before the first one that can't be
/// assigned (not found, not licensed) are assigned, in one transaction, and that one's error
/// is returned beside them; none after it is tried. An `Err` means nothing was changed (the
/// policy can't be assigned, a vault or the store failed).
pub fn assign_each(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identities: &[String],
    scope: RecipientScope,
    dep_identity: Option<&str>,
    cmdlet: &str,
) -> Result<Partial<RecipientRow>> {
    assign_inner(store, keys, identities, scope, dep_identity, cmdlet, true)
}

fn assign_inner(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identities: &[String],
    scope: RecipientScope,
    dep_identity: Option<&str>,
    cmdlet: &str,
    prefix: bool,
) -> Result<Partial<RecipientRow>> {
    let org_id = match dep_identity {
        Some(_) => dep::check_org(store)?,
        None => store.read(super::org::organization_id)?,
    };
    let target: DepRow = match dep_identity {
        Some(id) => {
            let d = dep::resolve(store, dep::DepKind::Mailbox, id)?;
            dep_gate(&d)?;
            debug_assert_eq!(d.kind, KIND_MAILBOX);
            debug_assert_eq!(d.state, STATE_ACTIVE);
            d
        }
        None => super::m365::tenant_default(store, keys)?,
    };
    // Every recipient and its keys in one read transaction.
    let request = request_id();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conflict = false;
        let result = assign_attempt(
            store,
            keys,
            identities,
            scope,
            dep_identity,
            cmdlet,
            prefix,
            (&org_id, &target, &request),
            &mut conflict,
        );
        if conflict && attempt < ASSIGN_ATTEMPTS {
            continue;
        }
        return result;
    }
}

/// One read, re-wrap and guarded write of [`assign_inner`]; `conflict` is set when the write
/// found keys changed since the read (nothing was written).
#[allow(clippy::too_many_arguments)]
fn assign_attempt(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identities: &[String],
    scope: RecipientScope,
    dep_identity: Option<&str>,
    cmdlet: &str,
    prefix: bool,
    (org_id, target, request): (&str, &DepRow, &str),
    conflict: &mut bool,
) -> Result<Partial<RecipientRow>> {
    let (mut rows, mut key_rows, mut failed, tenant, mut archives) =
        store.read(|tx| -> Result<_> {
            // The recipients, their archives, and the keys of both: each a few statements
            // for the whole batch (store/db.rs `batches`), not one per recipient.
            let mut rows = Vec::with_capacity(identities.len());
            let mut failed = None;
            for r in recipient::resolve_many(tx, identities, scope)? {
                match r {
                    Ok(r) => rows.push(r),
                    Err(e) if prefix => {
                        failed = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            // Each mailbox's archive and its keys: they follow the mailbox's DEP.
            let archive_guids: Vec<&str> = rows
                .iter()
                .filter_map(|r: &RecipientRow| r.archive_guid.as_deref())
                .collect();
            let found: HashMap<String, RecipientRow> = tx
                .recipients_by_guid(&archive_guids)?
                .into_iter()
                .map(|a| (a.guid.clone(), a))
                .collect();
            let mut guids: Vec<&str> = rows.iter().map(|r| r.guid.as_str()).collect();
            guids.extend(found.keys().map(String::as_str));
            let by_guid = tx.mailbox_keys_of(&guids)?;
            let keys_of = |g: &str| by_guid.get(g).cloned().unwrap_or_default();
            let keys: Vec<Vec<MailboxKeyRow>> = rows.iter().map(|r| keys_of(&r.guid)).collect();
            let archives: Vec<Option<(RecipientRow, Vec<MailboxKeyRow>)>> = rows
                .iter()
                .map(|r| {
                    let a = found.get(r.archive_guid.as_deref()?)?;
                    Some((a.clone(), keys_of(&a.guid)))
                })
                .collect();
            // The tenant's licences matter only to group and public-folder mailboxes.
            let tenant = dep_identity.is_some()
                && rows
                    .iter()
                    .any(|r: &RecipientRow| Kind::of(&r.kind).needs_licensed_tenant())
                && recipient::tenant_licensed(tx)?;
            Ok((rows, keys, failed, tenant, archives))
        })?;
    if dep_identity.is_some() {
        let mut unlicensed = None;
        for (i, r) in rows.iter().enumerate() {
            if let Err(e) = licence_gate(r, tenant) {
                if !prefix {
                    return Err(e);
                }
                unlicensed = Some((i, e));
                break;
            }
        }
        if let Some((i, e)) = unlicensed {
            rows.truncate(i);
            key_rows.truncate(i);
            archives.truncate(i);
            failed = Some(e);
        }
    }
    // The archives are re-wrapped and reassigned beside their mailboxes, in the same write.
    for (a, k) in archives.into_iter().flatten() {
        rows.push(a);
        key_rows.push(k);
    }
    if rows.is_empty() {
        return Ok(Partial {
            done: Vec::new(),
            failed,
        });
    }
    let (new_dk, _) = keys.dep_key(store, target, Purpose::Service, request)?;
    // Re-wrap every key of every mailbox; DEP keys come from the cache after the first unwrap.
    let mut old_deps: HashMap<String, DepKey> = HashMap::new();
    // Re-wrapped existing keys, and first keys of mailboxes that had none.
    let mut new_rows: Vec<(MailboxKeyRow, String)> = Vec::new();
    let mut fresh_rows: Vec<MailboxKeyRow> = Vec::new();
    // The keys each mailbox had when read: the write goes ahead only if they are still exactly
    // these (a move may have added one under the old DEP meanwhile, which this re-wrap would
    // miss).
    let read_sets: Vec<Vec<(String, u32, String)>> =
        key_rows.iter().map(|ks| key_set(ks)).collect();
    for (r, existing) in rows.iter().zip(key_rows) {
        if existing.is_empty() {
            if fresh_rows.iter().any(|k| k.mailbox_guid == r.guid) {
                // Named twice in the batch: one first key.
                continue;
            }
            let key = MailboxKey::generate(KeyRef::new(uuid::Uuid::new_v4(), 1));
            let wrapped = new_dk.wrap_mailbox_key(&key, &binding(&target.guid, &r.guid)?)?;
            fresh_rows.push(MailboxKeyRow {
                mailbox_guid: r.guid.clone(),
                key_id: key.key_ref().id.to_string(),
                key_version: 1,
                dep_guid: target.guid.clone(),
                wrapped: wrapped.into_bytes(),
                current: true,
            });
            continue;
        }
        for k in existing {
            if k.dep_guid == target.guid {
                continue;
            }
            if !old_deps.contains_key(&k.dep_guid) {
                let d = store
                    .read(|tx| -> Result<_> { Ok(tx.dep(&k.dep_guid)?) })?
                    .ok_or_else(|| {
                        Error::new(
                            super::ErrorKind::Unavailable,
                            format!("the DEP {} that wraps a key of this mailbox is missing from the store", k.dep_guid),
                        )
                        .with_help("the store was changed or damaged: restore it from a backup")
                    })?;
                let (dk, _) = keys.dep_key(store, &d, Purpose::Reassign, request)?;
                old_deps.insert(k.dep_guid.clone(), dk);
            }
            let old = &old_deps[&k.dep_guid];
            let mk = old.unwrap_mailbox_key(
                &WrappedKey::from_bytes(&k.wrapped)?,
                &binding(&k.dep_guid, &k.mailbox_guid)?,
            )?;
            let wrapped = new_dk.wrap_mailbox_key(&mk, &binding(&target.guid, &k.mailbox_guid)?)?;
            let from = k.dep_guid.clone();
            new_rows.push((
                MailboxKeyRow {
                    dep_guid: target.guid.clone(),
                    wrapped: wrapped.into_bytes(),
                    ..k
                },
                from,
            ));
        }
    }
    let when = super::now();
    let assigned = dep_identity.map(|_| target.guid.clone());
    let guids: Vec<&str> = rows.iter().map(|r| r.guid.as_str()).collect();
    let done = store.write(|tx| {
        // Under the write lock, each recipient as read (its DEP and archive) and its keys
        // exactly the ones read, else nothing is written; each check a few statements for the
        // whole batch.
        let now: HashMap<String, RecipientRow> = tx
            .recipients_by_guid(&guids)?
            .into_iter()
            .map(|r| (r.guid.clone(), r))
            .collect();
        let now_keys = tx.mailbox_keys_of(&guids)?;
        for (r, read) in rows.iter().zip(&read_sets) {
            match now.get(&r.guid) {
                Some(n) if n.dep_guid == r.dep_guid && n.archive_guid == r.archive_guid => {}
                // Reassigned or removed meanwhile: read again (a removed one then fails as not found).
                Some(_) => {
                    *conflict = true;
                    return Err(changed_meanwhile());
                }
                None => {
                    *conflict = true;
                    return Err(removed_meanwhile(r));
                }
            }
            if &key_set(now_keys.get(&r.guid).map_or(&[][..], Vec::as_slice)) != read {
                *conflict = true;
                return Err(changed_meanwhile());
            }
        }
        if !tx.rewrap_mailbox_keys(&new_rows)? {
            *conflict = true;
            return Err(changed_meanwhile());
        }
        // The mailboxes that get these had no key when checked above.
        tx.insert_first_mailbox_keys(&fresh_rows)?;
        tx.set_recipients_dep(&guids, assigned.as_deref(), &when)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut r = r.clone();
            r.dep_guid = assigned.clone();
            r.when_changed = when.clone();
            if r.kind == Kind::ArchiveMailbox.as_str() {
                // Changed with its mailbox, whose audit row records the assignment.
                continue;
            }
            records.push(audit_record(
                org_id,
                "ExchangeAdmin",
                cmdlet,
                "",
                &r.guid,
                json!({"Identity": r.name, "DataEncryptionPolicy": dep_identity.map(|_| target.name.clone()), "DataEncryptionPolicyId": assigned}),
            ));
            out.push(r);
        }
        tx.append_audits(&records)?;
        Ok(out)
    })?;
    Ok(Partial { done, failed })
}

/// A mailbox's keys as (id, version, wrapping DEP), in a fixed order.
fn key_set(rows: &[MailboxKeyRow]) -> Vec<(String, u32, String)> {
    let mut v: Vec<_> = rows
        .iter()
        .map(|k| (k.key_id.clone(), k.key_version, k.dep_guid.clone()))
        .collect();
    v.sort();
    v
}

/// The error when a key read for a re-wrap was changed by another command before the write.
pub(crate) fn changed_meanwhile() -> Error {
    Error::new(
        super::ErrorKind::Unavailable,
        "another command re-wrapped some of these keys while this one ran; nothing was changed",
    )
    .with_help("run the command again")
}

/// Creates a recipient (`New-UnifiedGroup -DataEncryptionPolicy`) and, when `dep_identity` is
/// given, assigns it that DEP through [`assign`] (the same batched, guarded write and audit as
/// `Set-Mailbox`). The policy's and the licence rule's gates are checked before the recipient
/// is created, so a refused policy creates nothing.
pub fn create_assigned(
    store: &mut Store,
    keys: &mut ServiceKeys,
    req: &recipient::NewRecipient,
    dep_identity: Option<&str>,
    cmdlet: &str,
) -> Result<RecipientRow> {
    if let Some(id) = dep_identity {
        dep::check_org(store)?;
        dep_gate(&dep::resolve(store, dep::DepKind::Mailbox, id)?)?;
        let tenant = store.read(recipient::tenant_licensed)?;
        // A new recipient has no licences yet.
        let alias = req
            .alias
            .clone()
            .unwrap_or_else(|| recipient::alias_from_name(&req.name));
        licence_rule(req.name.trim(), &alias, req.kind, &[], tenant)?;
    }
    let row = recipient::create(store, req)?;
    let Some(id) = dep_identity else {
        return Ok(row);
    };
    let mut done = assign(
        store,
        keys,
        std::slice::from_ref(&row.guid),
        RecipientScope::All,
        Some(id),
        cmdlet,
    )?;
    Ok(done.pop().unwrap_or(row))
}

/// `Get-MailboxStatistics`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MailboxStatistics {
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    #[serde(rename = "MailboxGuid")]
    pub mailbox_guid: String,
    #[serde(rename = "ItemCount")]
    pub item_count: u64,
    #[serde(rename = "TotalItemSize")]
    pub total_item_size: String,
    #[serde(rename = "TotalItemSizeBytes")]
    pub total_item_size_bytes: u64,
    #[serde(rename = "IsEncrypted")]
    pub is_encrypted: bool,
    #[serde(rename = "DataEncryptionPolicyID")]
    pub data_encryption_policy_id: Option<String>,
    #[serde(rename = "DataEncryptionPolicy")]
    pub data_encryption_policy: Option<String>,
    /// The policy whose key wraps the mailbox key now: the mailbox DEP, the tenant's
    /// multi-workload DEP, or Microsoft-managed keys (none before the mailbox has a key).
    #[serde(rename = "EncryptionPolicy")]
    pub encryption_policy: Option<String>,
    /// `Mailbox`, `M365` or `MicrosoftManaged`.
    #[serde(rename = "EncryptionPolicyKind")]
    pub encryption_policy_kind: Option<String>,
}

/// `1.23 MB (1,289,748 bytes)`, as Exchange prints sizes.
pub fn size_text(bytes: u64) -> String {
    let units = [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    let with_commas = {
        let s = bytes.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for (u, n) in units {
        if bytes >= n {
            return format!("{:.2} {u} ({with_commas} bytes)", bytes as f64 / n as f64);
        }
    }
    format!("{bytes} B ({with_commas} bytes)")
}

pub fn statistics(store: &mut Store, identity: &str) -> Result<MailboxStatistics> {
    statistics_of(store, identity, false)
}

/// [`statistics`] of the mailbox, or with `archive` of its archive (`-Archive`).
pub fn statistics_of(
    store: &mut Store,
    identity: &str,
    archive: bool,
) -> Result<MailboxStatistics> {
    store.read(|tx| {
        let r = if archive {
            recipient::archive_of(tx, identity)?
        } else {
            recipient::resolve(tx, identity, RecipientScope::Mailboxes)?
        };
        let (count, bytes) = tx.item_totals(&r.guid)?;
        let keys = tx.mailbox_keys(&r.guid)?;
        let dep = match &r.dep_guid {
            Some(g) => tx.dep(g)?,
            None => None,
        };
        let wrapping = match keys.iter().find(|k| k.current) {
            Some(k) => tx.dep(&k.dep_guid)?,
            None => None,
        };
        let is_encrypted = r
            .dep_guid
            .as_ref()
            .is_some_and(|g| !keys.is_empty() && keys.iter().all(|k| &k.dep_guid == g));
        Ok(MailboxStatistics {
            display_name: r.display_name,
            mailbox_guid: r.guid,
            item_count: count,
            total_item_size: size_text(bytes),
            total_item_size_bytes: bytes,
            is_encrypted,
            data_encryption_policy_id: dep.as_ref().map(|d| d.guid.clone()),
            data_encryption_policy: dep.map(|d| d.name),
            encryption_policy: wrapping.as_ref().map(|d| d.name.clone()),
            encryption_policy_kind: wrapping.map(|d| d.kind),
        })
    })
}

/// Recipients as the Get cmdlets show them, with their DEP names.
pub fn describe(store: &mut Store, rows: Vec<RecipientRow>) -> Result<Vec<Recipient>> {
    store.read(|tx| {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name = match &r.dep_guid {
                Some(g) => {
                    if !names.contains_key(g) {
                        if let Some(d) = tx.dep(g)? {
                            names.insert(g.clone(), d.name);
                        }
                    }
                    names.get(g).cloned()
                }
                None => None,
            };
            out.push(recipient::present(r, name));
        }
        Ok(out)
    })
}
