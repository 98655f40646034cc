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

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::dep::{self, DepKind, STATE_ACTIVE};
use super::keys::{audit, parse_guid, request_id, Purpose, ServiceKeys};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::{ContentBinding, DepKey, KeyRef, WorkloadBinding, WorkloadKey, WrappedKey};
use crate::store::{ChatMessageRow, ChatRow, DepRow, MailboxKeyRow, Store, WorkloadKeyRow};

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
fn current_workload_key(
    store: &mut Store,
    keys: &mut ServiceKeys,
    request: &str,
) -> Result<(WorkloadKey, String, String)> {
    let existing = store.read(|tx| -> Result<_> { Ok(tx.workload_keys(WORKLOAD_TEAMS)?) })?;
    if let Some(row) = existing.into_iter().find(|k| k.current) {
        let (wk, dep_name) = open_workload_key(store, keys, &row, Purpose::User, request)?;
        return Ok((wk, row.key_id, dep_name));
    }
    let d = tenant_default(store, keys)?;
    let (dk, _) = keys.dep_key(store, &d, Purpose::User, request)?;
    let (wk, row) = new_workload_key(&dk, &d.guid, 1)?;
    store.write(|tx| -> Result<()> {
        // Another process may have made the first key meanwhile: the newest current wins.
        tx.put_workload_key(&row)?;
        Ok(())
    })?;
    Ok((wk, row.key_id, d.name))
}

fn open_workload_key(
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
    let row = store.write(|tx| -> Result<_> {
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
    Ok(ChatMessage {
        id: row.message_id,
        chat_id: c.guid,
        from: row.sender,
        body: body.to_string(),
        created_date_time: row.when_created,
        encryption_policy: policy,
    })
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
