//! Multi-workload DEPs in use: the tenant's assignment
//! (`Set-/Get-M365DataAtRestEncryptionPolicyAssignment`), workload keys, and Teams chat
//! messages, the workload content they protect here.
//!
//! The hierarchy is the mailbox DEP's with the mailbox key replaced by a workload key: the
//! assigned DEP's key wraps one current workload key per workload (Teams), and the chat
//! messages of that workload are encrypted under keys derived from it. For Exchange, the
//! workload is the mailboxes that have no mailbox DEP: their mailbox keys are wrapped by the
//! tenant's multi-workload DEP instead of the Microsoft-managed one.
//!
//! Assignment follows the documented coverage: Exchange data is re-wrapped at once, existing
//! and new; Teams data is covered from the time of assignment (a new workload key is made; chat
//! messages written before stay under the key they were written with). Moving the assignment to
//! another multi-workload DEP re-wraps every key the previous one wrapped, so the previous
//! policy can then be disabled. There is no unassign: offboarding goes through support.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::dep::{self, DepKind, STATE_ACTIVE};
use super::keys::{audit, parse_guid, request_id, Purpose, ServiceKeys};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::{ContentBinding, DepKey, KeyRef, WorkloadBinding, WorkloadKey, WrappedKey};
use crate::store::{
    ChatMessageRow, ChatRow, DepRow, HostedContentRow, MailboxKeyRow, PackAppender, Store,
    WorkloadKeyRow,
};

/// The Teams workload (chat messages).
pub const WORKLOAD_TEAMS: &str = "Teams";

/// The owner id Teams workload keys are bound to (with the wrapping DEP's id).
const TEAMS_WORKLOAD_ID: Uuid = Uuid::from_u128(0x7ea3_5c1e_0d4b_4f52_9a61_3e2f_8c0b_51d7);

/// The largest chat message body, as Teams limits a message to about 28 KB.
pub const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// `Get-M365DataAtRestEncryptionPolicyAssignment`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Assignment {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "DataEncryptionPolicy")]
    pub data_encryption_policy: String,
    #[serde(rename = "DataEncryptionPolicyId")]
    pub data_encryption_policy_id: String,
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    #[serde(rename = "WhenChanged")]
    pub when_changed: String,
}

/// The tenant's assignment, if any.
pub fn assignment(store: &mut Store) -> Result<Option<Assignment>> {
    store.read(|tx| {
        let Some((guid, when)) = tx.m365_assignment()? else {
            return Ok(None);
        };
        let d = tx.dep(&guid)?.ok_or_else(|| missing_dep(&guid))?;
        Ok(Some(Assignment {
            name: d.name.clone(),
            data_encryption_policy: d.name,
            data_encryption_policy_id: d.guid,
            enabled: d.enabled,
            when_changed: when,
        }))
    })
}

fn missing_dep(guid: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("the DEP {guid} is missing from the store"),
    )
    .with_help("the store was changed or damaged: restore it from a backup")
}

/// The DEP that protects data with no policy of its own (mailboxes without a mailbox DEP,
/// workload data): the tenant's multi-workload DEP when one is assigned, else the built-in
/// Microsoft-managed one.
pub fn tenant_default(store: &mut Store, keys: &ServiceKeys) -> Result<DepRow> {
    let assigned = store.read(|tx| -> Result<_> {
        match tx.m365_assignment()? {
            Some((g, _)) => Ok(Some(tx.dep(&g)?.ok_or_else(|| missing_dep(&g))?)),
            None => Ok(None),
        }
    })?;
    match assigned {
        Some(d) => Ok(d),
        None => dep::microsoft_managed(store, keys),
    }
}

fn workload_binding(dep_guid: &str) -> Result<WorkloadBinding> {
    Ok(WorkloadBinding::new(
        parse_guid(dep_guid)?,
        TEAMS_WORKLOAD_ID,
    ))
}

fn new_workload_key(
    dk: &DepKey,
    dep_guid: &str,
    version: u32,
) -> Result<(WorkloadKey, WorkloadKeyRow)> {
    let key = WorkloadKey::generate(KeyRef::new(Uuid::new_v4(), version));
    let wrapped = dk.wrap_workload_key(&key, &workload_binding(dep_guid)?)?;
    let row = WorkloadKeyRow {
        workload: WORKLOAD_TEAMS.into(),
        key_id: key.key_ref().id.to_string(),
        key_version: version,
        dep_guid: dep_guid.to_string(),
        wrapped: wrapped.into_bytes(),
        current: true,
        when_created: now(),
    };
    Ok((key, row))
}

/// What an assignment changed.
#[derive(Debug, Clone)]
pub struct AssignOutcome {
    pub assignment: Assignment,
    /// Mailbox keys re-wrapped under the policy.
    pub mailbox_keys: usize,
    /// Workload keys re-wrapped under the policy.
    pub workload_keys: usize,
    /// Whether a new Teams workload key was made (first assignment).
    pub new_workload_key: bool,
    pub warnings: Vec<String>,
}

/// `Set-M365DataAtRestEncryptionPolicyAssignment`: assigns a multi-workload DEP to the tenant.
/// Idempotent: assigning the assigned policy changes nothing.
pub fn assign(store: &mut Store, keys: &mut ServiceKeys, identity: &str) -> Result<AssignOutcome> {
    let org_id = dep::check_org(store)?;
    let d = dep::resolve(store, DepKind::M365, identity)?;
    if d.state != STATE_ACTIVE {
        return Err(Error::rule(format!(
            "the multi-workload data encryption policy '{}' is {} and can't be assigned",
            d.name, d.state
        ))
        .with_help("assign an active policy: Get-M365DataAtRestEncryptionPolicy lists them"));
    }
    if !d.enabled {
        return Err(Error::rule(format!(
            "the multi-workload data encryption policy '{}' is disabled",
            d.name
        ))
        .with_help(format!(
            "enable it first: custkey Set-M365DataAtRestEncryptionPolicy -Identity \"{}\" -Enabled $true",
            d.name
        )));
    }
    let previous = store.read(|tx| -> Result<_> { Ok(tx.m365_assignment()?) })?;
    if previous.as_ref().is_some_and(|(g, _)| *g == d.guid) {
        let assignment = assignment(store)?.ok_or_else(|| missing_dep(&d.guid))?;
        return Ok(AssignOutcome {
            assignment,
            mailbox_keys: 0,
            workload_keys: 0,
            new_workload_key: false,
            warnings: vec![format!(
                "'{}' is already the tenant's multi-workload data encryption policy; nothing changed",
                d.name
            )],
        });
    }
    let request = request_id();
    let (new_dk, _) = keys.dep_key(store, &d, Purpose::Service, &request)?;
    // What the tenant default wrapped until now: Microsoft-managed keys, or the previous policy.
    let mmk = dep::microsoft_managed(store, keys)?;
    let prev_dep = match &previous {
        Some((g, _)) => store
            .read(|tx| -> Result<_> { Ok(tx.dep(g)?) })?
            .ok_or_else(|| missing_dep(g))?,
        None => mmk.clone(),
    };
    let (prev_dk, _) = keys.dep_key(store, &prev_dep, Purpose::Reassign, &request)?;
    let mut sources = vec![(prev_dep.guid.clone(), prev_dk)];
    if prev_dep.guid != mmk.guid {
        let (mmk_dk, _) = keys.dep_key(store, &mmk, Purpose::Service, &request)?;
        sources.push((mmk.guid.clone(), mmk_dk));
    }
    // Exchange: every mailbox key under the old default, existing and new data alike.
    let mut mailbox_rows: Vec<(MailboxKeyRow, String)> = Vec::new();
    for (src_guid, src_dk) in &sources {
        let rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys_under_dep(src_guid)?) })?;
        for k in rows {
            let mk = src_dk.unwrap_mailbox_key(
                &WrappedKey::from_bytes(&k.wrapped)?,
                &super::mailbox::binding(src_guid, &k.mailbox_guid)?,
            )?;
            let wrapped = new_dk
                .wrap_mailbox_key(&mk, &super::mailbox::binding(&d.guid, &k.mailbox_guid)?)?;
            mailbox_rows.push((
                MailboxKeyRow {
                    dep_guid: d.guid.clone(),
                    wrapped: wrapped.into_bytes(),
                    ..k
                },
                src_guid.clone(),
            ));
        }
    }
    // Teams: keys the previous multi-workload policy wrapped move with the assignment; keys
    // under Microsoft-managed keys stay (Teams is covered from the time of assignment).
    let mut workload_rows: Vec<WorkloadKeyRow> = Vec::new();
    if previous.is_some() {
        let (src_guid, src_dk) = &sources[0];
        let rows = store.read(|tx| -> Result<_> { Ok(tx.workload_keys_under_dep(src_guid)?) })?;
        for k in rows {
            let wk = src_dk.unwrap_workload_key(
                &WrappedKey::from_bytes(&k.wrapped)?,
                &workload_binding(src_guid)?,
            )?;
            let wrapped = new_dk.wrap_workload_key(&wk, &workload_binding(&d.guid)?)?;
            workload_rows.push(WorkloadKeyRow {
                dep_guid: d.guid.clone(),
                wrapped: wrapped.into_bytes(),
                ..k
            });
        }
    }
    let existing = store.read(|tx| -> Result<_> { Ok(tx.workload_keys(WORKLOAD_TEAMS)?) })?;
    let current_moves = existing
        .iter()
        .find(|k| k.current)
        .is_some_and(|k| workload_rows.iter().any(|w| w.key_id == k.key_id));
    let fresh = if current_moves {
        None
    } else {
        let version = existing.iter().map(|k| k.key_version).max().unwrap_or(0) + 1;
        Some(new_workload_key(&new_dk, &d.guid, version)?.1)
    };
    let when = now();
    store.write(|tx| {
        for (k, from) in &mailbox_rows {
            if !tx.rewrap_mailbox_key(k, from)? {
                return Err(super::mailbox::changed_meanwhile());
            }
        }
        for k in &workload_rows {
            if !tx.rewrap_workload_key(k, &sources[0].0)? {
                return Err(super::mailbox::changed_meanwhile());
            }
        }
        // The assignment itself must not have moved meanwhile.
        if tx.m365_assignment()?.map(|(g, _)| g) != previous.as_ref().map(|(g, _)| g.clone()) {
            return Err(super::mailbox::changed_meanwhile());
        }
        if let Some(k) = &fresh {
            tx.put_workload_key(k)?;
        }
        tx.set_m365_assignment(&d.guid, &when)?;
        audit(
            tx,
            &org_id,
            "ExchangeAdmin",
            "Set-M365DataAtRestEncryptionPolicyAssignment",
            "",
            &d.guid,
            json!({
                "DataEncryptionPolicy": d.name,
                "PreviousDataEncryptionPolicyId": previous.as_ref().map(|(g, _)| g),
                "MailboxKeysRewrapped": mailbox_rows.len(),
                "WorkloadKeysRewrapped": workload_rows.len(),
            }),
        )
    })?;
    Ok(AssignOutcome {
        assignment: Assignment {
            name: d.name.clone(),
            data_encryption_policy: d.name.clone(),
            data_encryption_policy_id: d.guid.clone(),
            enabled: d.enabled,
            when_changed: when,
        },
        mailbox_keys: mailbox_rows.len(),
        workload_keys: workload_rows.len(),
        new_workload_key: fresh.is_some(),
        warnings: Vec::new(),
    })
}

/// A Teams chat (`New-MgChat` / `Get-MgChat`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Chat {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Topic")]
    pub topic: String,
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    #[serde(rename = "CreatedDateTime")]
    pub created_date_time: String,
    #[serde(rename = "MessageCount")]
    pub message_count: usize,
}

/// A chat message as `Get-MgChatMessage` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ChatId")]
    pub chat_id: String,
    #[serde(rename = "From")]
    pub from: String,
    #[serde(rename = "Body")]
    pub body: String,
    #[serde(rename = "CreatedDateTime")]
    pub created_date_time: String,
    /// The policy whose key wraps the workload key the body is encrypted under.
    #[serde(rename = "EncryptionPolicy")]
    pub encryption_policy: String,
}

fn chat_not_found(identity: &str) -> Error {
    Error::not_found(format!("The chat '{identity}' couldn't be found."))
        .with_help("list chats with 'custkey Get-MgChat' (an id or topic identifies one)")
}

fn resolve_chat(store: &mut Store, identity: &str) -> Result<ChatRow> {
    store
        .read(|tx| -> Result<_> { Ok(tx.chat_by_identity(identity)?) })?
        .ok_or_else(|| chat_not_found(identity))
}

/// `New-MgChat -Topic`.
pub fn new_chat(store: &mut Store, topic: &str, created_by: &str) -> Result<Chat> {
    let topic = topic.trim();
    if topic.is_empty() || topic.len() > 250 || topic.chars().any(char::is_control) {
        return Err(
            Error::invalid(format!("'{topic}' is not a valid chat topic"))
                .with_help("give 1 to 250 printable characters"),
        );
    }
    let row = ChatRow {
        guid: Uuid::new_v4().to_string(),
        topic: topic.to_string(),
        created_by: created_by.to_string(),
        when_created: now(),
    };
    let inserted = store.write(|tx| -> Result<_> { Ok(tx.insert_chat(&row)?) })?;
    if !inserted {
        return Err(
            Error::rule(format!("a chat with the topic '{topic}' already exists"))
                .with_help("topics are unique regardless of case; choose another -Topic"),
        );
    }
    Ok(Chat {
        id: row.guid,
        topic: row.topic,
        created_by: row.created_by,
        created_date_time: row.when_created,
        message_count: 0,
    })
}

pub fn chats(store: &mut Store, identity: Option<&str>) -> Result<Vec<Chat>> {
    let rows = match identity {
        Some(id) => vec![resolve_chat(store, id)?],
        None => store.read(|tx| -> Result<_> { Ok(tx.chats()?) })?,
    };
    store.read(|tx| {
        rows.into_iter()
            .map(|c| {
                let n = tx.chat_messages(&c.guid)?.len();
                Ok(Chat {
                    id: c.guid,
                    topic: c.topic,
                    created_by: c.created_by,
                    created_date_time: c.when_created,
                    message_count: n,
                })
            })
            .collect()
    })
}

/// Chat topics (completion).
pub fn chat_topics(store: &mut Store) -> Vec<String> {
    store
        .read(|tx| -> Result<_> { Ok(tx.chats()?) })
        .map(|v| v.into_iter().map(|c| c.topic).collect())
        .unwrap_or_default()
}

fn content_binding(chat_guid: &str, message_id: &str) -> Result<ContentBinding> {
    Ok(ContentBinding::new(
        parse_guid(chat_guid)?,
        message_id.as_bytes().to_vec(),
    ))
}

/// The Teams workload key new messages are encrypted under, made under the tenant default DEP
/// when the workload has none yet.
pub(super) fn current_workload_key(
    store: &mut Store,
    keys: &mut ServiceKeys,
    request: &str,
) -> Result<(WorkloadKey, String, String)> {
    let existing = store.read(|tx| -> Result<_> { Ok(tx.workload_keys(WORKLOAD_TEAMS)?) })?;
    if let Some(row) = existing.into_iter().find(|k| k.current) {
        licence_rule(store, &row.dep_guid)?;
        let (wk, dep_name) = open_workload_key(store, keys, &row, Purpose::User, request)?;
        return Ok((wk, row.key_id, dep_name));
    }
    let d = tenant_default(store, keys)?;
    licence_rule(store, &d.guid)?;
    let (dk, _) = keys.dep_key(store, &d, Purpose::User, request)?;
    let (wk, row) = new_workload_key(&dk, &d.guid, 1)?;
    store.write(|tx| -> Result<()> {
        // Another process may have made the first key meanwhile: the newest current wins.
        tx.put_workload_key(&row)?;
        Ok(())
    })?;
    Ok((wk, row.key_id, d.name))
}

/// The "at least one licensed user" rule: Teams data goes under a multi-workload DEP (customer
/// keys) only while the tenant has a user licensed for Customer Key; under Microsoft-managed
/// keys no licence is needed.
fn licence_rule(store: &mut Store, dep_guid: &str) -> Result<()> {
    let (kind, name, licensed) = store.read(|tx| -> Result<_> {
        let d = tx.dep(dep_guid)?.ok_or_else(|| missing_dep(dep_guid))?;
        Ok((d.kind, d.name, super::recipient::tenant_licensed(tx)?))
    })?;
    if kind == dep::KIND_M365 && !licensed {
        return Err(Error::rule(format!(
            "the multi-workload data encryption policy '{name}' protects Teams data only while at least one user of the tenant is licensed for Customer Key, and none is"
        ))
        .with_help("license at least one user first, e.g. custkey Set-MgUserLicense -UserId alice -AddLicenses SPE_E5; nothing was stored"));
    }
    Ok(())
}

pub(super) fn open_workload_key(
    store: &mut Store,
    keys: &mut ServiceKeys,
    row: &WorkloadKeyRow,
    purpose: Purpose,
    request: &str,
) -> Result<(WorkloadKey, String)> {
    let d = store
        .read(|tx| -> Result<_> { Ok(tx.dep(&row.dep_guid)?) })?
        .ok_or_else(|| missing_dep(&row.dep_guid))?;
    let (dk, _) = keys.dep_key(store, &d, purpose, request)?;
    let wk = dk.unwrap_workload_key(
        &WrappedKey::from_bytes(&row.wrapped)?,
        &workload_binding(&row.dep_guid)?,
    )?;
    Ok((wk, d.name))
}

/// `New-MgChatMessage`: encrypts the body under the current Teams workload key.
pub fn post(
    store: &mut Store,
    keys: &mut ServiceKeys,
    chat: &str,
    sender: &str,
    body: &str,
) -> Result<ChatMessage> {
    Ok(post_with(store, keys, chat, sender, body, &[])?.0)
}

/// `New-MgChatMessage -HostedContents`: the message and its hosted contents (files streamed,
/// each encrypted under the current Teams workload key with its own derived key, into a pack
/// of the chat), committed together once the contents are durable.
pub fn post_with(
    store: &mut Store,
    keys: &mut ServiceKeys,
    chat: &str,
    sender: &str,
    body: &str,
    hosted: &[PathBuf],
) -> Result<(ChatMessage, Vec<HostedContent>)> {
    let inputs = check_hosted_inputs(hosted)?;
    if body.is_empty() {
        return Err(
            Error::invalid("the message body is empty").with_help("give the text with -Body")
        );
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Error::invalid(format!(
            "the message body is {} bytes; a chat message holds at most {MAX_MESSAGE_BYTES}",
            body.len()
        ))
        .with_help("split it into several messages, or share a file instead"));
    }
    let c = resolve_chat(store, chat)?;
    let request = request_id();
    let (wk, key_id, policy) = current_workload_key(store, keys, &request)?;
    let message_id = Uuid::new_v4().to_string();
    let sealed = wk.encrypt_content(&content_binding(&c.guid, &message_id)?, body.as_bytes())?;
    let when = now();
    let mut hosted_rows = Vec::with_capacity(inputs.len());
    let mut pack = None;
    if !inputs.is_empty() {
        let mut out = PackAppender::start(store.create_pack(&c.guid)?)?;
        for (n, (path, content_type, _)) in inputs.iter().enumerate() {
            let content_id = (n + 1).to_string();
            let binding = hosted_binding(&c.guid, &message_id, &content_id)?;
            let file = std::fs::File::open(path).map_err(|e| file_err(path, &e))?;
            let mut limited = Limited {
                inner: io::BufReader::with_capacity(1 << 16, file),
                left: MAX_HOSTED_CONTENT_BYTES,
                read: 0,
                path: path.clone(),
                limit: MAX_HOSTED_CONTENT_BYTES,
            };
            let offset = out.position();
            let stored = {
                let mut enc = wk.encrypting_reader(&binding, &mut limited)?;
                out.append_from(&mut enc).map_err(
                    |e| match crate::crypto::CryptoError::from_io(&e) {
                        Some(c) => Error::from(c.clone()),
                        None => file_err(path, &e),
                    },
                )?
            };
            hosted_rows.push(HostedContentRow {
                chat_guid: c.guid.clone(),
                message_id: message_id.clone(),
                content_id,
                seq: n as i64 + 1,
                content_type: content_type.clone(),
                size: limited.read,
                key_id: key_id.clone(),
                pack: String::new(),
                pack_offset: offset,
                stored_size: stored,
                when_created: when.clone(),
            });
        }
        let upto = out.request_sync().map_err(|e| pack_err(out.path(), &e))?;
        out.durable(Some(upto))
            .map_err(|e| pack_err(out.path(), &e))?;
        pack = Some(out);
    }
    let pack_id = pack.as_ref().map(|p| p.id.clone()).unwrap_or_default();
    for h in &mut hosted_rows {
        h.pack = pack_id.clone();
    }
    let row = store.write(|tx| -> Result<_> {
        for h in &hosted_rows {
            tx.insert_hosted_content(h)?;
        }
        let row = ChatMessageRow {
            chat_guid: c.guid.clone(),
            message_id: message_id.clone(),
            seq: tx.next_chat_seq(&c.guid)?,
            sender: sender.to_string(),
            key_id,
            body: sealed,
            when_created: when.clone(),
        };
        tx.insert_chat_message(&row)?;
        Ok(row)
    })?;
    if let Some(out) = pack {
        out.finish()
            .map_err(|e| pack_err(Path::new(&pack_id), &e))?;
    }
    let contents = hosted_rows
        .iter()
        .map(|h| present_hosted(h, &policy))
        .collect();
    Ok((
        ChatMessage {
            id: row.message_id,
            chat_id: c.guid,
            from: row.sender,
            body: body.to_string(),
            created_date_time: row.when_created,
            encryption_policy: policy,
        },
        contents,
    ))
}

/// `Get-MgChatMessage`: decrypts a chat's messages (all, or one by id). A user request: a
/// customer key's refusal fails it, as for mailboxes.
pub fn messages(
    store: &mut Store,
    keys: &mut ServiceKeys,
    chat: &str,
    message_id: Option<&str>,
) -> Result<Vec<ChatMessage>> {
    let c = resolve_chat(store, chat)?;
    let mut rows = store.read(|tx| -> Result<_> { Ok(tx.chat_messages(&c.guid)?) })?;
    if let Some(id) = message_id {
        rows.retain(|m| m.message_id.eq_ignore_ascii_case(id));
        if rows.is_empty() {
            return Err(
                Error::not_found(format!("The chat '{}' has no message '{id}'.", c.topic))
                    .with_help(format!(
                        "list its messages with 'custkey Get-MgChatMessage -ChatId \"{}\"'",
                        c.topic
                    )),
            );
        }
    }
    let request = request_id();
    let mut opened: Vec<(String, WorkloadKey, String)> = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        if !opened.iter().any(|(id, _, _)| *id == m.key_id) {
            let row = store
                .read(|tx| -> Result<_> { Ok(tx.workload_key(WORKLOAD_TEAMS, &m.key_id)?) })?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "the workload key {} of a message in '{}' is missing",
                            m.key_id, c.topic
                        ),
                    )
                    .with_help("the message cannot be decrypted by anyone; restore the store from a backup taken before the key was lost")
                })?;
            let (wk, policy) = open_workload_key(store, keys, &row, Purpose::User, &request)?;
            opened.push((m.key_id.clone(), wk, policy));
        }
        let Some((_, wk, policy)) = opened.iter().find(|(id, _, _)| *id == m.key_id) else {
            continue;
        };
        let plain = wk.decrypt_content(&content_binding(&m.chat_guid, &m.message_id)?, &m.body)?;
        out.push(ChatMessage {
            id: m.message_id,
            chat_id: m.chat_guid,
            from: m.sender,
            body: String::from_utf8_lossy(&plain).into_owned(),
            created_date_time: m.when_created,
            encryption_policy: policy.clone(),
        });
    }
    Ok(out)
}

/// The largest hosted content (an image, a clip) a message takes, in bytes.
pub const MAX_HOSTED_CONTENT_BYTES: u64 = 100 << 20;
/// The most hosted contents one message takes.
pub const MAX_HOSTED_CONTENTS: usize = 10;

/// A hosted content of a chat message as `Get-MgChatMessageHostedContent` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostedContent {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ChatId")]
    pub chat_id: String,
    #[serde(rename = "ChatMessageId")]
    pub chat_message_id: String,
    #[serde(rename = "ContentType")]
    pub content_type: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "CreatedDateTime")]
    pub created_date_time: String,
    #[serde(rename = "EncryptionPolicy")]
    pub encryption_policy: String,
    /// Where `-OutFile` wrote the content (not shown otherwise).
    #[serde(rename = "OutFile", skip_serializing_if = "Option::is_none")]
    pub out_file: Option<String>,
}

fn present_hosted(h: &HostedContentRow, policy: &str) -> HostedContent {
    HostedContent {
        id: h.content_id.clone(),
        chat_id: h.chat_guid.clone(),
        chat_message_id: h.message_id.clone(),
        content_type: h.content_type.clone(),
        size: h.size,
        created_date_time: h.when_created.clone(),
        encryption_policy: policy.to_string(),
        out_file: None,
    }
}

/// The binding of a hosted content: the chat, and the message id with the content's id, so a
/// ciphertext moved to another message, content or chat does not open.
fn hosted_binding(chat_guid: &str, message_id: &str, content_id: &str) -> Result<ContentBinding> {
    Ok(ContentBinding::new(
        parse_guid(chat_guid)?,
        format!("{message_id}/hostedContents/{content_id}").into_bytes(),
    ))
}

fn file_err(path: &Path, e: &io::Error) -> Error {
    Error::invalid(format!("cannot read '{}': {e}", path.display()))
        .with_help("check that the file exists and is readable; nothing was stored")
}

fn pack_err(path: &Path, e: &io::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("cannot write the content file {}: {e}", path.display()),
    )
    .with_help("check the disk (space, permissions) of the store's directory; nothing of the message was stored")
}

fn too_large(path: &Path, size: u64) -> Error {
    Error::invalid(format!(
        "'{}' is {size} bytes; a hosted content holds at most {MAX_HOSTED_CONTENT_BYTES} bytes (100 MiB)",
        path.display()
    ))
    .with_help("share a larger file through SharePoint or OneDrive (files are not hosted contents); nothing was stored")
}

/// Checks every file before anything is written: readable, a regular file, not too large;
/// returns (path, content type, size).
fn check_hosted_inputs(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String, u64)>> {
    if paths.len() > MAX_HOSTED_CONTENTS {
        return Err(Error::invalid(format!(
            "{} hosted contents given; a message takes at most {MAX_HOSTED_CONTENTS}",
            paths.len()
        ))
        .with_help("post the others in further messages"));
    }
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).map_err(|e| file_err(p, &e))?;
            if !m.is_file() {
                return Err(Error::invalid(format!("'{}' is not a file", p.display()))
                    .with_help("give the path of a file (an image, a clip) for -HostedContents"));
            }
            if m.len() > MAX_HOSTED_CONTENT_BYTES {
                return Err(too_large(p, m.len()));
            }
            Ok((p.clone(), content_type_of(p).to_string(), m.len()))
        })
        .collect()
}

/// The content type Teams would give a file of this extension.
pub(super) fn content_type_of(p: &Path) -> &'static str {
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "txt" | "md" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// A reader that fails once more than the limit has been read (a file that grew after it was
/// checked), counting what it read.
pub(super) struct Limited<R> {
    pub(super) inner: R,
    pub(super) left: u64,
    pub(super) read: u64,
    pub(super) path: PathBuf,
    /// The limit `left` started from (for the message).
    pub(super) limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(format!(
                "'{}' grew past {} bytes while it was read",
                self.path.display(),
                self.limit
            )));
        }
        self.left -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

fn find_message(store: &mut Store, c: &ChatRow, message_id: &str) -> Result<ChatMessageRow> {
    store
        .read(|tx| -> Result<_> { Ok(tx.chat_messages(&c.guid)?) })?
        .into_iter()
        .find(|m| m.message_id.eq_ignore_ascii_case(message_id))
        .ok_or_else(|| {
            Error::not_found(format!(
                "The chat '{}' has no message '{message_id}'.",
                c.topic
            ))
            .with_help(format!(
                "list its messages with 'custkey Get-MgChatMessage -ChatId \"{}\"'",
                c.topic
            ))
        })
}

/// `Get-MgChatMessageHostedContent`: a message's hosted contents (all, or one by id); with
/// `out_file` (one content only), decrypts it there, streaming, through a temporary file renamed
/// into place. Reading content is a user request: a customer key's refusal fails it.
pub fn hosted_contents(
    store: &mut Store,
    keys: &mut ServiceKeys,
    chat: &str,
    message_id: &str,
    content_id: Option<&str>,
    out_file: Option<&Path>,
) -> Result<Vec<HostedContent>> {
    let c = resolve_chat(store, chat)?;
    let m = find_message(store, &c, message_id)?;
    let mut rows =
        store.read(|tx| -> Result<_> { Ok(tx.hosted_contents(&c.guid, &m.message_id)?) })?;
    if let Some(id) = content_id {
        rows.retain(|h| h.content_id.eq_ignore_ascii_case(id));
        if rows.is_empty() {
            return Err(Error::not_found(format!(
                "The message '{}' of chat '{}' has no hosted content '{id}'.",
                m.message_id, c.topic
            ))
            .with_help(format!(
                "list them with 'custkey Get-MgChatMessageHostedContent -ChatId \"{}\" -ChatMessageId {}'",
                c.topic, m.message_id
            )));
        }
    }
    if out_file.is_some() && content_id.is_none() {
        return Err(Error::invalid("-OutFile writes one hosted content")
            .with_help("name it with -ChatMessageHostedContentId"));
    }
    let request = request_id();
    let mut out = Vec::with_capacity(rows.len());
    for h in rows {
        let wrow = store
            .read(|tx| -> Result<_> { Ok(tx.workload_key(WORKLOAD_TEAMS, &h.key_id)?) })?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("the workload key {} of a hosted content in '{}' is missing", h.key_id, c.topic),
                )
                .with_help("the content cannot be decrypted by anyone; restore the store from a backup taken before the key was lost")
            })?;
        // Even a listing opens the key: a revoked policy shows nothing of its content.
        let (wk, policy) = open_workload_key(store, keys, &wrow, Purpose::User, &request)?;
        let mut shown = present_hosted(&h, &policy);
        if let Some(path) = out_file {
            let binding = hosted_binding(&h.chat_guid, &h.message_id, &h.content_id)?;
            super::content::write_file_atomic(path, |f| {
                store.read(|tx| -> Result<()> {
                    let src = tx
                        .open_pack_range(&h.chat_guid, &h.pack, h.pack_offset, h.stored_size)
                        .map_err(|e| {
                            Error::new(
                                ErrorKind::Unavailable,
                                format!("hosted content {} of message {} cannot be read: {e}", h.content_id, h.message_id),
                            )
                            .with_help("the content directory belongs with the store: restore both from the same backup")
                        })?;
                    let mut dec = wk.decrypt_reader(&binding, io::BufReader::with_capacity(1 << 16, src))?;
                    let n = io::copy(&mut dec, f).map_err(|e| {
                        match crate::crypto::CryptoError::from_io(&e) {
                            Some(c) => Error::from(c.clone()),
                            None => Error::invalid(format!("cannot write '{}': {e}", path.display()))
                                .with_help("check the path and the disk"),
                        }
                    })?;
                    if n != h.size {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!("hosted content {} decrypted to {n} bytes, not the {} stored", h.content_id, h.size),
                        )
                        .with_help("the store was changed or damaged: restore it from a backup"));
                    }
                    Ok(())
                })
            })?;
            shown.out_file = Some(path.display().to_string());
        }
        out.push(shown);
    }
    Ok(out)
}
