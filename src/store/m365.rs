//! The tenant's multi-workload DEP assignment, workload keys (wrapped, opaque), and Teams chats
//! whose messages are stored as ciphertext.

use rusqlite::{params, OptionalExtension};

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

const WK_COLS: &str = "workload, key_id, key_version, dep_guid, wrapped, current, when_created";
const MSG_COLS: &str = "chat_guid, message_id, seq, sender, key_id, body, when_created";

fn wk_row(r: &rusqlite::Row) -> rusqlite::Result<WorkloadKeyRow> {
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

fn chat_row(r: &rusqlite::Row) -> rusqlite::Result<ChatRow> {
    Ok(ChatRow {
        guid: r.get(0)?,
        topic: r.get(1)?,
        created_by: r.get(2)?,
        when_created: r.get(3)?,
    })
}

fn msg_row(r: &rusqlite::Row) -> rusqlite::Result<ChatMessageRow> {
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
        self.conn()
            .query_row(
                "SELECT dep_guid, when_changed FROM m365_assignment WHERE singleton = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_m365_assignment(&self, dep_guid: &str, when: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO m365_assignment (singleton, dep_guid, when_changed) VALUES (1, ?1, ?2)
                 ON CONFLICT (singleton) DO UPDATE SET dep_guid = excluded.dep_guid, when_changed = excluded.when_changed",
                params![dep_guid, when],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every key of a workload (the current one first, then newest first).
    pub fn workload_keys(&self, workload: &str) -> Result<Vec<WorkloadKeyRow>> {
        self.collect(
            &format!("SELECT {WK_COLS} FROM workload_key WHERE workload = ?1 ORDER BY current DESC, key_version DESC"),
            [workload],
            wk_row,
        )
    }

    /// Workload keys wrapped by a DEP's key.
    pub fn workload_keys_under_dep(&self, dep_guid: &str) -> Result<Vec<WorkloadKeyRow>> {
        self.collect(
            &format!("SELECT {WK_COLS} FROM workload_key WHERE dep_guid = ?1"),
            [dep_guid],
            wk_row,
        )
    }

    pub fn workload_key(&self, workload: &str, key_id: &str) -> Result<Option<WorkloadKeyRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {WK_COLS} FROM workload_key WHERE workload = ?1 AND key_id = ?2"),
                [workload, key_id],
                wk_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Inserts a workload key; a current one makes the workload's others non-current.
    pub fn put_workload_key(&self, k: &WorkloadKeyRow) -> Result<()> {
        if k.current {
            self.conn()
                .execute(
                    "UPDATE workload_key SET current = 0 WHERE workload = ?1",
                    [&k.workload],
                )
                .map_err(|e| self.err(e))?;
        }
        self.conn()
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO workload_key ({WK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    k.workload,
                    k.key_id,
                    k.key_version,
                    k.dep_guid,
                    k.wrapped,
                    k.current,
                    k.when_created
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Re-wraps a workload key under another DEP (its current flag unchanged), if it is still
    /// wrapped by `from_dep`; `Ok(false)` when it is not.
    pub fn rewrap_workload_key(&self, k: &WorkloadKeyRow, from_dep: &str) -> Result<bool> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE workload_key SET dep_guid = ?3, wrapped = ?4 WHERE workload = ?1 AND key_id = ?2 AND dep_guid = ?5",
            )
            .and_then(|mut st| {
                st.execute(params![k.workload, k.key_id, k.dep_guid, k.wrapped, from_dep])
            })
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Inserts a chat; `Ok(false)` when the topic is taken.
    pub fn insert_chat(&self, c: &ChatRow) -> Result<bool> {
        let res = self.conn().execute(
            "INSERT INTO chat (guid, topic, created_by, when_created) VALUES (?1, ?2, ?3, ?4)",
            params![c.guid, c.topic, c.created_by, c.when_created],
        );
        self.unless_taken(res)
    }

    /// A chat by id (GUID) or topic (case-insensitive).
    pub fn chat_by_identity(&self, identity: &str) -> Result<Option<ChatRow>> {
        self.conn()
            .query_row(
                "SELECT guid, topic, created_by, when_created FROM chat
                 WHERE guid = lower(?1) OR topic = ?1 COLLATE NOCASE",
                [identity],
                chat_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn chats(&self) -> Result<Vec<ChatRow>> {
        self.collect(
            "SELECT guid, topic, created_by, when_created FROM chat ORDER BY topic COLLATE NOCASE",
            [],
            chat_row,
        )
    }

    pub fn insert_chat_message(&self, m: &ChatMessageRow) -> Result<()> {
        self.conn()
            .prepare_cached(&format!(
                "INSERT INTO chat_message ({MSG_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    m.chat_guid,
                    m.message_id,
                    m.seq,
                    m.sender,
                    m.key_id,
                    m.body,
                    m.when_created
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn next_chat_seq(&self, chat_guid: &str) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM chat_message WHERE chat_guid = ?1",
                [chat_guid],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// A chat's messages in the order they were posted.
    pub fn chat_messages(&self, chat_guid: &str) -> Result<Vec<ChatMessageRow>> {
        self.collect(
            &format!("SELECT {MSG_COLS} FROM chat_message WHERE chat_guid = ?1 ORDER BY seq"),
            [chat_guid],
            msg_row,
        )
    }

    fn collect<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        p: P,
        f: fn(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn().prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(p, f)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}
