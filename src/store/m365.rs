//! The tenant's multi-workload DEP assignment, workload keys (wrapped, opaque), and Teams chats
//! whose messages are stored as ciphertext.

use super::db::{args, Row};

use super::{Result, Tx};

/// One workload key of a workload (e.g. `Teams`), wrapped by a DEP key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadKeyRow {
    pub workload: String,
    pub key_id: String,
    pub key_version: u32,
    /// The DEP whose key wraps this one.
    pub dep_guid: String,
    pub wrapped: Vec<u8>,
    /// The key new data of the workload is encrypted under (one per workload).
    pub current: bool,
    pub when_created: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRow {
    pub guid: String,
    pub topic: String,
    pub created_by: String,
    pub when_created: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessageRow {
    pub chat_guid: String,
    pub message_id: String,
    pub seq: i64,
    pub sender: String,
    /// The workload key the body is encrypted under.
    pub key_id: String,
    /// The encrypted body.
    pub body: Vec<u8>,
    pub when_created: String,
}

/// A hosted content of a chat message (an image, a media file): where its ciphertext lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedContentRow {
    pub chat_guid: String,
    pub message_id: String,
    pub content_id: String,
    pub seq: i64,
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// The Teams workload key it is encrypted under.
    pub key_id: String,
    pub pack: String,
    pub pack_offset: u64,
    pub stored_size: u64,
    pub when_created: String,
}

const HC_COLS: &str = "chat_guid, message_id, content_id, seq, content_type, size, key_id, pack, pack_offset, stored_size, when_created";

fn hc_row(r: &Row) -> Result<HostedContentRow> {
    Ok(HostedContentRow {
        chat_guid: r.get(0)?,
        message_id: r.get(1)?,
        content_id: r.get(2)?,
        seq: r.get(3)?,
        content_type: r.get(4)?,
        size: r.get::<i64>(5)? as u64,
        key_id: r.get(6)?,
        pack: r.get(7)?,
        pack_offset: r.get::<i64>(8)? as u64,
        stored_size: r.get::<i64>(9)? as u64,
        when_created: r.get(10)?,
    })
}

const WK_COLS: &str = "workload, key_id, key_version, dep_guid, wrapped, current, when_created";
const MSG_COLS: &str = "chat_guid, message_id, seq, sender, key_id, body, when_created";

fn wk_row(r: &Row) -> Result<WorkloadKeyRow> {
    Ok(WorkloadKeyRow {
        workload: r.get(0)?,
        key_id: r.get(1)?,
        key_version: r.get(2)?,
        dep_guid: r.get(3)?,
        wrapped: r.get(4)?,
        current: r.get(5)?,
        when_created: r.get(6)?,
    })
}

fn chat_row(r: &Row) -> Result<ChatRow> {
    Ok(ChatRow {
        guid: r.get(0)?,
        topic: r.get(1)?,
        created_by: r.get(2)?,
        when_created: r.get(3)?,
    })
}

fn msg_row(r: &Row) -> Result<ChatMessageRow> {
    Ok(ChatMessageRow {
        chat_guid: r.get(0)?,
        message_id: r.get(1)?,
        seq: r.get(2)?,
        sender: r.get(3)?,
        key_id: r.get(4)?,
        body: r.get(5)?,
        when_created: r.get(6)?,
    })
}

impl Tx<'_> {
    /// The multi-workload DEP assigned to the tenant, and when.
    pub fn m365_assignment(&self) -> Result<Option<(String, String)>> {
        self.row(
            "SELECT dep_guid, when_changed FROM m365_assignment WHERE singleton = 1",
            args![],
        )?
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .transpose()
    }

    pub fn set_m365_assignment(&self, dep_guid: &str, when: &str) -> Result<()> {
        self.exec(
            "INSERT INTO m365_assignment (singleton, dep_guid, when_changed) VALUES (1, ?1, ?2)
             ON CONFLICT (singleton) DO UPDATE SET dep_guid = excluded.dep_guid, when_changed = excluded.when_changed",
            args![dep_guid, when],
        )?;
        Ok(())
    }

    /// Every key of a workload (the current one first, then newest first).
    pub fn workload_keys(&self, workload: &str) -> Result<Vec<WorkloadKeyRow>> {
        self.collect(
            &format!("SELECT {WK_COLS} FROM workload_key WHERE workload = ?1 ORDER BY current DESC, key_version DESC"),
            args![workload],
            wk_row,
        )
    }

    /// Workload keys wrapped by a DEP's key.
    pub fn workload_keys_under_dep(&self, dep_guid: &str) -> Result<Vec<WorkloadKeyRow>> {
        self.collect(
            &format!("SELECT {WK_COLS} FROM workload_key WHERE dep_guid = ?1"),
            args![dep_guid],
            wk_row,
        )
    }

    pub fn workload_key(&self, workload: &str, key_id: &str) -> Result<Option<WorkloadKeyRow>> {
        self.row(
            &format!("SELECT {WK_COLS} FROM workload_key WHERE workload = ?1 AND key_id = ?2"),
            args![workload, key_id],
        )?
        .as_ref()
        .map(wk_row)
        .transpose()
    }

    /// Inserts a workload key; a current one makes the workload's others non-current.
    pub fn put_workload_key(&self, k: &WorkloadKeyRow) -> Result<()> {
        if k.current {
            self.exec(
                "UPDATE workload_key SET current = 0 WHERE workload = ?1",
                args![k.workload],
            )?;
        }
        self.exec(
            &format!(
                "INSERT INTO workload_key ({WK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (workload, key_id) DO UPDATE SET key_version = excluded.key_version,
                   dep_guid = excluded.dep_guid, wrapped = excluded.wrapped,
                   current = excluded.current, when_created = excluded.when_created"
            ),
            args![
                k.workload,
                k.key_id,
                k.key_version,
                k.dep_guid,
                k.wrapped,
                k.current,
                k.when_created
            ],
        )?;
        Ok(())
    }

    /// Re-wraps a workload key under another DEP (its current flag unchanged), if it is still
    /// wrapped by `from_dep`; `Ok(false)` when it is not.
    pub fn rewrap_workload_key(&self, k: &WorkloadKeyRow, from_dep: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE workload_key SET dep_guid = ?3, wrapped = ?4 WHERE workload = ?1 AND key_id = ?2 AND dep_guid = ?5",
            args![k.workload, k.key_id, k.dep_guid, k.wrapped, from_dep],
        )?;
        Ok(n == 1)
    }

    /// Inserts a chat; `Ok(false)` when the topic is taken.
    pub fn insert_chat(&self, c: &ChatRow) -> Result<bool> {
        self.exec_unless_taken(
            "INSERT INTO chat (guid, topic, created_by, when_created) VALUES (?1, ?2, ?3, ?4)",
            args![c.guid, c.topic, c.created_by, c.when_created],
        )
    }

    /// A chat by id (GUID) or topic (case-insensitive).
    pub fn chat_by_identity(&self, identity: &str) -> Result<Option<ChatRow>> {
        self.row(
            "SELECT guid, topic, created_by, when_created FROM chat
             WHERE guid = lower(?1) OR topic = ?1 COLLATE NOCASE",
            args![identity],
        )?
        .as_ref()
        .map(chat_row)
        .transpose()
    }

    pub fn chats(&self) -> Result<Vec<ChatRow>> {
        self.collect(
            "SELECT guid, topic, created_by, when_created FROM chat ORDER BY topic COLLATE NOCASE",
            args![],
            chat_row,
        )
    }

    pub fn insert_chat_message(&self, m: &ChatMessageRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO chat_message ({MSG_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            args![
                m.chat_guid,
                m.message_id,
                m.seq,
                m.sender,
                m.key_id,
                m.body,
                m.when_created
            ],
        )?;
        Ok(())
    }

    pub fn next_chat_seq(&self, chat_guid: &str) -> Result<i64> {
        match self.row(
            "SELECT coalesce(max(seq), 0) + 1 FROM chat_message WHERE chat_guid = ?1",
            args![chat_guid],
        )? {
            Some(r) => r.get(0),
            None => Ok(1),
        }
    }

    /// A chat's messages in the order they were posted.
    pub fn chat_messages(&self, chat_guid: &str) -> Result<Vec<ChatMessageRow>> {
        self.collect(
            &format!("SELECT {MSG_COLS} FROM chat_message WHERE chat_guid = ?1 ORDER BY seq"),
            args![chat_guid],
            msg_row,
        )
    }

    /// Inserts a hosted content row (its bytes already durable in its pack).
    pub fn insert_hosted_content(&self, h: &HostedContentRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO chat_hosted_content ({HC_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            args![
                h.chat_guid,
                h.message_id,
                h.content_id,
                h.seq,
                h.content_type,
                h.size as i64,
                h.key_id,
                h.pack,
                h.pack_offset as i64,
                h.stored_size as i64,
                h.when_created
            ],
        )?;
        Ok(())
    }

    /// A message's hosted contents in the order they were posted.
    pub fn hosted_contents(
        &self,
        chat_guid: &str,
        message_id: &str,
    ) -> Result<Vec<HostedContentRow>> {
        self.collect(
            &format!("SELECT {HC_COLS} FROM chat_hosted_content WHERE chat_guid = ?1 AND message_id = ?2 ORDER BY seq"),
            args![chat_guid, message_id],
            hc_row,
        )
    }

    fn collect<T>(
        &self,
        sql: &str,
        args: &[&dyn super::db::Arg],
        f: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.rows(sql, args)?.iter().map(f).collect()
    }
}
