//! Mailbox keys (wrapped), items (their ciphertext in pack files, see `pack.rs`, or in
//! `item_segment` rows for items written before schema 8), and move requests.

use rusqlite::{params, OptionalExtension};

use super::{Result, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxKeyRow {
    pub mailbox_guid: String,
    pub key_id: String,
    pub key_version: u32,
    /// The DEP whose key wraps this one.
    pub dep_guid: String,
    pub wrapped: Vec<u8>,
    /// The key new content is encrypted under (one per mailbox).
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub mailbox_guid: String,
    pub item_id: String,
    pub seq: i64,
    /// `eml` or `mbox`: how the message was given, so an export gives it back the same way.
    pub source: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Ciphertext bytes.
    pub stored_size: u64,
    pub key_id: String,
    pub key_version: u32,
    pub complete: bool,
    /// The pack file holding the ciphertext; `None` for an item stored in `item_segment` rows
    /// (written before schema 8).
    pub pack: Option<String>,
    /// Where the ciphertext starts in the pack.
    pub pack_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRow {
    pub mailbox_guid: String,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
    pub items_total: u64,
    pub items_done: u64,
    pub new_key_id: String,
    pub new_key_version: u32,
    pub when_created: String,
    pub when_changed: String,
}

fn key_row(r: &rusqlite::Row) -> rusqlite::Result<MailboxKeyRow> {
    Ok(MailboxKeyRow {
        mailbox_guid: r.get(0)?,
        key_id: r.get(1)?,
        key_version: r.get(2)?,
        dep_guid: r.get(3)?,
        wrapped: r.get(4)?,
        current: r.get(5)?,
    })
}

const KEY_COLS: &str = "mailbox_guid, key_id, key_version, dep_guid, wrapped, current";
const ITEM_COLS: &str = "mailbox_guid, item_id, seq, source, size, stored_size, key_id, key_version, complete, pack, pack_offset";

fn item_row(r: &rusqlite::Row) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        mailbox_guid: r.get(0)?,
        item_id: r.get(1)?,
        seq: r.get(2)?,
        source: r.get(3)?,
        size: r.get(4)?,
        stored_size: r.get(5)?,
        key_id: r.get(6)?,
        key_version: r.get(7)?,
        complete: r.get(8)?,
        pack: r.get(9)?,
        pack_offset: r.get(10)?,
    })
}

impl Tx<'_> {
    /// Every key of a mailbox (the current one first).
    pub fn mailbox_keys(&self, mailbox_guid: &str) -> Result<Vec<MailboxKeyRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM mailbox_key WHERE mailbox_guid = ?1 ORDER BY current DESC, key_version"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([mailbox_guid], key_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Mailbox keys wrapped by a DEP's key.
    pub fn mailbox_keys_under_dep(&self, dep_guid: &str) -> Result<Vec<MailboxKeyRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM mailbox_key WHERE dep_guid = ?1"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([dep_guid], key_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Inserts or replaces a mailbox key row. A current key makes the others non-current.
    pub fn put_mailbox_key(&self, k: &MailboxKeyRow) -> Result<()> {
        if k.current {
            self.conn()
                .execute(
                    "UPDATE mailbox_key SET current = 0 WHERE mailbox_guid = ?1",
                    [&k.mailbox_guid],
                )
                .map_err(|e| self.err(e))?;
        }
        self.conn()
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO mailbox_key ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    k.mailbox_guid,
                    k.key_id,
                    k.key_version,
                    k.dep_guid,
                    k.wrapped,
                    k.current
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Re-wraps an existing mailbox key row under another DEP (its current flag unchanged), if
    /// it is still wrapped by `from_dep`. `Ok(false)` when it is not (another command re-wrapped
    /// or removed it since it was read): the caller abandons its transaction.
    pub fn rewrap_mailbox_key(&self, k: &MailboxKeyRow, from_dep: &str) -> Result<bool> {
        let n = self.conn()
            .prepare_cached(
                "UPDATE mailbox_key SET dep_guid = ?4, wrapped = ?5 WHERE mailbox_guid = ?1 AND key_id = ?2 AND key_version = ?3 AND dep_guid = ?6",
            )
            .and_then(|mut st| st.execute(params![k.mailbox_guid, k.key_id, k.key_version, k.dep_guid, k.wrapped, from_dep]))
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// The id and version of the mailbox's current key, if it has one.
    pub fn current_mailbox_key(&self, mailbox_guid: &str) -> Result<Option<(String, u32)>> {
        self.conn()
            .prepare_cached("SELECT key_id, key_version FROM mailbox_key WHERE mailbox_guid = ?1 AND current = 1")
            .and_then(|mut st| st.query_row([mailbox_guid], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))
    }

    /// Stores `k` as the mailbox's first (current) key unless the mailbox has a current key
    /// already (another command created one since it was read); returns the current key row.
    pub fn put_first_mailbox_key(&self, k: &MailboxKeyRow) -> Result<MailboxKeyRow> {
        if let Some(existing) = self
            .mailbox_keys(&k.mailbox_guid)?
            .into_iter()
            .find(|r| r.current)
        {
            return Ok(existing);
        }
        self.put_mailbox_key(k)?;
        Ok(k.clone())
    }

    /// Items of a mailbox (complete or not) whose content is under a key other than
    /// (`key_id`, `key_version`).
    pub fn count_items_not_under(
        &self,
        mailbox_guid: &str,
        key_id: &str,
        key_version: u32,
    ) -> Result<u64> {
        self.conn()
            .prepare_cached("SELECT count(*) FROM item WHERE mailbox_guid = ?1 AND NOT (key_id = ?2 AND key_version = ?3)")
            .and_then(|mut st| st.query_row(params![mailbox_guid, key_id, key_version], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    pub fn delete_mailbox_key(
        &self,
        mailbox_guid: &str,
        key_id: &str,
        key_version: u32,
    ) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM mailbox_key WHERE mailbox_guid = ?1 AND key_id = ?2 AND key_version = ?3")
            .and_then(|mut st| st.execute(params![mailbox_guid, key_id, key_version]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Inserts an item row (visible to readers when `complete`).
    pub fn insert_item(&self, i: &ItemRow) -> Result<()> {
        self.conn()
            .prepare_cached(&format!(
                "INSERT INTO item ({ITEM_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    i.mailbox_guid,
                    i.item_id,
                    i.seq,
                    i.source,
                    i.size,
                    i.stored_size,
                    i.key_id,
                    i.key_version,
                    i.complete,
                    i.pack,
                    i.pack_offset
                ])
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Points a complete item at new ciphertext (a move's re-encryption): its key, size and
    /// place, if its content is still under the key `from` (id, version) it was read under;
    /// any `item_segment` rows it had (an item from before schema 8) are deleted. `Ok(false)`
    /// when another command re-encrypted or deleted the item meanwhile (nothing is written).
    pub fn set_item_content(&self, i: &ItemRow, from: (&str, u32)) -> Result<bool> {
        let n = self.conn()
            .prepare_cached("UPDATE item SET size = ?3, stored_size = ?4, key_id = ?5, key_version = ?6, complete = 1,
                 pack = ?7, pack_offset = ?8 WHERE mailbox_guid = ?1 AND item_id = ?2 AND key_id = ?9 AND key_version = ?10")
            .and_then(|mut st| st.execute(params![i.mailbox_guid, i.item_id, i.size, i.stored_size, i.key_id, i.key_version, i.pack, i.pack_offset, from.0, from.1]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(false);
        }
        self.conn()
            .prepare_cached("DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2")
            .and_then(|mut st| st.execute(params![i.mailbox_guid, i.item_id]))
            .map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Deletes an item and its segments.
    pub fn delete_item(&self, mailbox_guid: &str, item_id: &str) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2")
            .and_then(|mut st| st.execute(params![mailbox_guid, item_id]))
            .map_err(|e| self.err(e))?;
        self.conn()
            .prepare_cached("DELETE FROM item WHERE mailbox_guid = ?1 AND item_id = ?2")
            .and_then(|mut st| st.execute(params![mailbox_guid, item_id]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes the items of a mailbox with `from <= seq < to` (an import undone).
    pub fn delete_items_in_seq_range(&self, mailbox_guid: &str, from: i64, to: i64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id IN
                 (SELECT item_id FROM item WHERE mailbox_guid = ?1 AND seq >= ?2 AND seq < ?3)",
            )
            .and_then(|mut st| st.execute(params![mailbox_guid, from, to]))
            .map_err(|e| self.err(e))?;
        self.conn()
            .prepare_cached("DELETE FROM item WHERE mailbox_guid = ?1 AND seq >= ?2 AND seq < ?3")
            .and_then(|mut st| st.execute(params![mailbox_guid, from, to]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One complete item of a mailbox.
    pub fn item(&self, mailbox_guid: &str, item_id: &str) -> Result<Option<ItemRow>> {
        self.conn()
            .prepare_cached(&format!(
                "SELECT {ITEM_COLS} FROM item WHERE mailbox_guid = ?1 AND item_id = ?2 AND complete = 1"
            ))
            .and_then(|mut st| st.query_row([mailbox_guid, item_id], item_row).optional())
            .map_err(|e| self.err(e))
    }

    /// Complete items of a mailbox, in order.
    pub fn items(&self, mailbox_guid: &str) -> Result<Vec<ItemRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ITEM_COLS} FROM item WHERE mailbox_guid = ?1 AND complete = 1 ORDER BY seq"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([mailbox_guid], item_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// (count, plaintext bytes) of a mailbox's complete items.
    pub fn item_totals(&self, mailbox_guid: &str) -> Result<(u64, u64)> {
        self.conn()
            .query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM item WHERE mailbox_guid = ?1 AND complete = 1",
                [mailbox_guid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    pub fn next_item_seq(&self, mailbox_guid: &str) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM item WHERE mailbox_guid = ?1",
                [mailbox_guid],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// One ciphertext segment of an item stored before schema 8 (`pack` is `None`).
    pub fn segment(&self, mailbox_guid: &str, item_id: &str, n: u32) -> Result<Option<Vec<u8>>> {
        self.conn()
            .query_row(
                "SELECT data FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2 AND n = ?3",
                params![mailbox_guid, item_id, n],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Deletes every item (and segment) of a mailbox; returns (items, bytes) removed. Their
    /// pack files go with the next [`super::Store::reclaim_packs`].
    pub fn delete_items_of(&self, mailbox_guid: &str) -> Result<(u64, u64)> {
        let totals = self.item_totals(mailbox_guid)?;
        self.conn()
            .prepare_cached("DELETE FROM item_segment WHERE mailbox_guid = ?1")
            .and_then(|mut st| st.execute([mailbox_guid]))
            .map_err(|e| self.err(e))?;
        self.conn()
            .prepare_cached("DELETE FROM item WHERE mailbox_guid = ?1")
            .and_then(|mut st| st.execute([mailbox_guid]))
            .map_err(|e| self.err(e))?;
        self.clear_import_progress(mailbox_guid, None)?;
        Ok(totals)
    }

    /// How many messages of `source` earlier imports into the mailbox committed, and whether
    /// one finished it.
    pub fn import_progress(&self, mailbox_guid: &str, source: &str) -> Result<Option<(u64, bool)>> {
        self.conn()
            .query_row(
                "SELECT messages, complete FROM import_progress WHERE mailbox_guid = ?1 AND source = ?2",
                params![mailbox_guid, source],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? != 0)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Counts `n` more committed messages of `source` (in the transaction that commits them;
    /// negative when an import undoes its own).
    pub fn add_import_progress(
        &self,
        mailbox_guid: &str,
        source: &str,
        n: i64,
        now: &str,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO import_progress (mailbox_guid, source, messages, complete, when_changed)
                 VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT (mailbox_guid, source) DO UPDATE SET messages = messages + ?3, when_changed = ?4",
            )
            .and_then(|mut st| st.execute(params![mailbox_guid, source, n, now]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Marks the import of `source` finished.
    pub fn finish_import_progress(
        &self,
        mailbox_guid: &str,
        source: &str,
        now: &str,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO import_progress (mailbox_guid, source, messages, complete, when_changed)
                 VALUES (?1, ?2, 0, 1, ?3)
                 ON CONFLICT (mailbox_guid, source) DO UPDATE SET complete = 1, when_changed = ?3",
            )
            .and_then(|mut st| st.execute(params![mailbox_guid, source, now]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Forgets the progress of `source` (every source of the mailbox with `None`): its items
    /// were removed.
    pub fn clear_import_progress(&self, mailbox_guid: &str, source: Option<&str>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "DELETE FROM import_progress WHERE mailbox_guid = ?1 AND (?2 IS NULL OR source = ?2)",
            )
            .and_then(|mut st| st.execute(params![mailbox_guid, source]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn move_request(&self, mailbox_guid: &str) -> Result<Option<MoveRow>> {
        self.conn()
            .query_row(
                "SELECT mailbox_guid, status, items_total, items_done, new_key_id, new_key_version, when_created, when_changed
                 FROM move_request WHERE mailbox_guid = ?1",
                [mailbox_guid],
                |r| {
                    Ok(MoveRow {
                        mailbox_guid: r.get(0)?,
                        status: r.get(1)?,
                        items_total: r.get(2)?,
                        items_done: r.get(3)?,
                        new_key_id: r.get(4)?,
                        new_key_version: r.get(5)?,
                        when_created: r.get(6)?,
                        when_changed: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn move_requests(&self) -> Result<Vec<MoveRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT mailbox_guid FROM move_request ORDER BY when_created")
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(m) = self.move_request(&id)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub fn put_move_request(&self, m: &MoveRow) -> Result<()> {
        self.conn()
            .prepare_cached("INSERT OR REPLACE INTO move_request (mailbox_guid, status, items_total, items_done, new_key_id, new_key_version, when_created, when_changed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .and_then(|mut st| st.execute(params![m.mailbox_guid, m.status, m.items_total, m.items_done, m.new_key_id, m.new_key_version, m.when_created, m.when_changed]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
