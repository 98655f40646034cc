//! Mailbox keys (wrapped), items (their ciphertext in pack files, see `pack.rs`, or in
//! `item_segment` rows for items written before schema 8), and move requests.

use std::collections::HashMap;

use super::db::{self, args, Arg, Row};
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

fn key_row(r: &Row) -> Result<MailboxKeyRow> {
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

fn item_row(r: &Row) -> Result<ItemRow> {
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

fn move_row(r: &Row) -> Result<MoveRow> {
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
}

const MOVE_COLS: &str = "mailbox_guid, status, items_total, items_done, new_key_id, new_key_version, when_created, when_changed";

impl Tx<'_> {
    /// Every key of a mailbox (the current one first).
    pub fn mailbox_keys(&self, mailbox_guid: &str) -> Result<Vec<MailboxKeyRow>> {
        let mut keys = self
            .rows(
                &format!("SELECT {KEY_COLS} FROM mailbox_key WHERE mailbox_guid = ?1"),
                args![mailbox_guid],
            )?
            .iter()
            .map(key_row)
            .collect::<Result<Vec<_>>>()?;
        keys.sort_by_key(|k| (!k.current, k.key_version));
        Ok(keys)
    }

    /// [`Tx::mailbox_keys`] of many mailboxes, by mailbox GUID (a mailbox with no key has no
    /// entry), in a few statements ([`db::batches`]).
    pub fn mailbox_keys_of(&self, guids: &[&str]) -> Result<HashMap<String, Vec<MailboxKeyRow>>> {
        let mut out: HashMap<String, Vec<MailboxKeyRow>> = HashMap::new();
        for run in db::batches(guids) {
            let sql = format!(
                "SELECT {KEY_COLS} FROM mailbox_key WHERE mailbox_guid IN ({})",
                db::rows_sql(run.len(), "?")
            );
            let params: Vec<&dyn Arg> = run.iter().map(|g| g as &dyn Arg).collect();
            for row in self.rows(&sql, &params)? {
                let k = key_row(&row)?;
                out.entry(k.mailbox_guid.clone()).or_default().push(k);
            }
        }
        for keys in out.values_mut() {
            keys.sort_by_key(|k| (!k.current, k.key_version));
        }
        Ok(out)
    }

    /// Mailbox keys wrapped by a DEP's key.
    pub fn mailbox_keys_under_dep(&self, dep_guid: &str) -> Result<Vec<MailboxKeyRow>> {
        self.rows(
            &format!("SELECT {KEY_COLS} FROM mailbox_key WHERE dep_guid = ?1"),
            args![dep_guid],
        )?
        .iter()
        .map(key_row)
        .collect()
    }

    /// Inserts or replaces a mailbox key row. A current key makes the others non-current.
    pub fn put_mailbox_key(&self, k: &MailboxKeyRow) -> Result<()> {
        if k.current {
            self.exec(
                "UPDATE mailbox_key SET current = 0 WHERE mailbox_guid = ?1",
                args![k.mailbox_guid],
            )?;
        }
        self.exec(
            &format!(
                "INSERT INTO mailbox_key ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (mailbox_guid, key_id, key_version) DO UPDATE SET
                   dep_guid = excluded.dep_guid, wrapped = excluded.wrapped, current = excluded.current"
            ),
            args![
                k.mailbox_guid,
                k.key_id,
                k.key_version,
                k.dep_guid,
                k.wrapped,
                k.current
            ],
        )?;
        Ok(())
    }

    /// Re-wraps an existing mailbox key row under another DEP (its current flag unchanged), if
    /// it is still wrapped by `from_dep`. `Ok(false)` when it is not (another command re-wrapped
    /// or removed it since it was read): the caller abandons its transaction.
    pub fn rewrap_mailbox_key(&self, k: &MailboxKeyRow, from_dep: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE mailbox_key SET dep_guid = ?4, wrapped = ?5 WHERE mailbox_guid = ?1 AND key_id = ?2 AND key_version = ?3 AND dep_guid = ?6",
            args![k.mailbox_guid, k.key_id, k.key_version, k.dep_guid, k.wrapped, from_dep],
        )?;
        Ok(n == 1)
    }

    /// [`Tx::rewrap_mailbox_key`] for many keys (each with the DEP it must still be under), in a
    /// few statements ([`db::batches`]). `Ok(true)` when every one was re-wrapped; `Ok(false)`
    /// when any was not (changed meanwhile): the caller fails its transaction.
    pub fn rewrap_mailbox_keys(&self, keys: &[(MailboxKeyRow, String)]) -> Result<bool> {
        let mut all = true;
        for run in db::batches(keys) {
            let sql = format!(
                "WITH v(m, k, n, d, w, f) AS (VALUES {})
                 UPDATE mailbox_key SET dep_guid = v.d, wrapped = v.w FROM v
                 WHERE mailbox_key.mailbox_guid = v.m AND mailbox_key.key_id = v.k
                   AND mailbox_key.key_version = v.n AND mailbox_key.dep_guid = v.f",
                db::rows_sql(
                    run.len(),
                    "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BLOB), CAST(? AS TEXT))"
                )
            );
            let mut params: Vec<&dyn Arg> = Vec::with_capacity(run.len() * 6);
            for (k, from) in run {
                params.extend([
                    &k.mailbox_guid as &dyn Arg,
                    &k.key_id,
                    &k.key_version,
                    &k.dep_guid,
                    &k.wrapped,
                    from,
                ]);
            }
            all &= self.exec(&sql, &params)? == run.len();
        }
        Ok(all)
    }

    /// Inserts the first keys of mailboxes that have none (each row current), in a few
    /// statements ([`db::batches`]). A mailbox that has a key meanwhile fails the statement
    /// (its key and version are new, so the conflict is the caller's check that it had none).
    pub fn insert_first_mailbox_keys(&self, keys: &[MailboxKeyRow]) -> Result<()> {
        for run in db::batches(keys) {
            let sql = format!(
                "INSERT INTO mailbox_key ({KEY_COLS}) VALUES {}",
                db::rows_sql(run.len(), "(?, ?, ?, ?, ?, ?)")
            );
            let mut params: Vec<&dyn Arg> = Vec::with_capacity(run.len() * 6);
            for k in run {
                params.extend([
                    &k.mailbox_guid as &dyn Arg,
                    &k.key_id,
                    &k.key_version,
                    &k.dep_guid,
                    &k.wrapped,
                    &k.current,
                ]);
            }
            self.exec(&sql, &params)?;
        }
        Ok(())
    }

    /// The id and version of the mailbox's current key, if it has one.
    pub fn current_mailbox_key(&self, mailbox_guid: &str) -> Result<Option<(String, u32)>> {
        self.row(
            "SELECT key_id, key_version FROM mailbox_key WHERE mailbox_guid = ?1 AND current = 1",
            args![mailbox_guid],
        )?
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .transpose()
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
        self.count(
            "SELECT count(*) FROM item WHERE mailbox_guid = ?1 AND NOT (key_id = ?2 AND key_version = ?3)",
            args![mailbox_guid, key_id, key_version],
        )
    }

    pub fn delete_mailbox_key(
        &self,
        mailbox_guid: &str,
        key_id: &str,
        key_version: u32,
    ) -> Result<()> {
        self.exec(
            "DELETE FROM mailbox_key WHERE mailbox_guid = ?1 AND key_id = ?2 AND key_version = ?3",
            args![mailbox_guid, key_id, key_version],
        )?;
        Ok(())
    }

    /// Inserts an item row (visible to readers when `complete`).
    pub fn insert_item(&self, i: &ItemRow) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO item ({ITEM_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            args![
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
            ],
        )?;
        Ok(())
    }

    /// Points a complete item at new ciphertext (a move's re-encryption): its key, size and
    /// place, if its content is still under the key `from` (id, version) it was read under;
    /// any `item_segment` rows it had (an item from before schema 8) are deleted. `Ok(false)`
    /// when another command re-encrypted or deleted the item meanwhile (nothing is written).
    pub fn set_item_content(&self, i: &ItemRow, from: (&str, u32)) -> Result<bool> {
        let n = self.exec(
            "UPDATE item SET size = ?3, stored_size = ?4, key_id = ?5, key_version = ?6, complete = 1,
                 pack = ?7, pack_offset = ?8 WHERE mailbox_guid = ?1 AND item_id = ?2 AND key_id = ?9 AND key_version = ?10",
            args![i.mailbox_guid, i.item_id, i.size, i.stored_size, i.key_id, i.key_version, i.pack, i.pack_offset, from.0, from.1],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.exec(
            "DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2",
            args![i.mailbox_guid, i.item_id],
        )?;
        Ok(true)
    }

    /// Deletes an item and its segments.
    pub fn delete_item(&self, mailbox_guid: &str, item_id: &str) -> Result<()> {
        self.exec(
            "DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2",
            args![mailbox_guid, item_id],
        )?;
        self.exec(
            "DELETE FROM item WHERE mailbox_guid = ?1 AND item_id = ?2",
            args![mailbox_guid, item_id],
        )?;
        Ok(())
    }

    /// Deletes the items of a mailbox with `from <= seq < to` (an import undone).
    pub fn delete_items_in_seq_range(&self, mailbox_guid: &str, from: i64, to: i64) -> Result<()> {
        self.exec(
            "DELETE FROM item_segment WHERE mailbox_guid = ?1 AND item_id IN
             (SELECT item_id FROM item WHERE mailbox_guid = ?1 AND seq >= ?2 AND seq < ?3)",
            args![mailbox_guid, from, to],
        )?;
        self.exec(
            "DELETE FROM item WHERE mailbox_guid = ?1 AND seq >= ?2 AND seq < ?3",
            args![mailbox_guid, from, to],
        )?;
        Ok(())
    }

    /// One complete item of a mailbox.
    pub fn item(&self, mailbox_guid: &str, item_id: &str) -> Result<Option<ItemRow>> {
        self.row(
            &format!(
                "SELECT {ITEM_COLS} FROM item WHERE mailbox_guid = ?1 AND item_id = ?2 AND complete = 1"
            ),
            args![mailbox_guid, item_id],
        )?
        .as_ref()
        .map(item_row)
        .transpose()
    }

    /// Complete items of a mailbox, in order.
    pub fn items(&self, mailbox_guid: &str) -> Result<Vec<ItemRow>> {
        self.rows(
            &format!(
                "SELECT {ITEM_COLS} FROM item WHERE mailbox_guid = ?1 AND complete = 1 ORDER BY seq"
            ),
            args![mailbox_guid],
        )?
        .iter()
        .map(item_row)
        .collect()
    }

    /// (count, plaintext bytes) of a mailbox's complete items.
    pub fn item_totals(&self, mailbox_guid: &str) -> Result<(u64, u64)> {
        match self.row(
            "SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM item WHERE mailbox_guid = ?1 AND complete = 1",
            args![mailbox_guid],
        )? {
            Some(r) => Ok((r.get(0)?, r.get(1)?)),
            None => Ok((0, 0)),
        }
    }

    pub fn next_item_seq(&self, mailbox_guid: &str) -> Result<i64> {
        match self.row(
            "SELECT coalesce(max(seq), 0) + 1 FROM item WHERE mailbox_guid = ?1",
            args![mailbox_guid],
        )? {
            Some(r) => r.get(0),
            None => Ok(1),
        }
    }

    /// One ciphertext segment of an item stored before schema 8 (`pack` is `None`).
    pub fn segment(&self, mailbox_guid: &str, item_id: &str, n: u32) -> Result<Option<Vec<u8>>> {
        self.row(
            "SELECT data FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2 AND n = ?3",
            args![mailbox_guid, item_id, n],
        )?
        .map(|r| r.get(0))
        .transpose()
    }

    /// Deletes every item (and segment) of a mailbox; returns (items, bytes) removed. Their
    /// pack files go with the next [`super::Store::reclaim_packs`].
    pub fn delete_items_of(&self, mailbox_guid: &str) -> Result<(u64, u64)> {
        let totals = self.item_totals(mailbox_guid)?;
        self.exec(
            "DELETE FROM item_segment WHERE mailbox_guid = ?1",
            args![mailbox_guid],
        )?;
        self.exec(
            "DELETE FROM item WHERE mailbox_guid = ?1",
            args![mailbox_guid],
        )?;
        self.clear_import_progress(mailbox_guid, None)?;
        Ok(totals)
    }

    /// How many messages of `source` earlier imports into the mailbox committed, and whether
    /// one finished it.
    pub fn import_progress(&self, mailbox_guid: &str, source: &str) -> Result<Option<(u64, bool)>> {
        self.row(
            "SELECT messages, complete FROM import_progress WHERE mailbox_guid = ?1 AND source = ?2",
            args![mailbox_guid, source],
        )?
        .map(|r| Ok((r.get::<u64>(0)?, r.get::<bool>(1)?)))
        .transpose()
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
        self.exec(
            "INSERT INTO import_progress (mailbox_guid, source, messages, complete, when_changed)
             VALUES (?1, ?2, ?3, 0, ?4)
             ON CONFLICT (mailbox_guid, source) DO UPDATE SET
               messages = import_progress.messages + excluded.messages, when_changed = excluded.when_changed",
            args![mailbox_guid, source, n, now],
        )?;
        Ok(())
    }

    /// Marks the import of `source` finished.
    pub fn finish_import_progress(
        &self,
        mailbox_guid: &str,
        source: &str,
        now: &str,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO import_progress (mailbox_guid, source, messages, complete, when_changed)
             VALUES (?1, ?2, 0, 1, ?3)
             ON CONFLICT (mailbox_guid, source) DO UPDATE SET complete = 1, when_changed = excluded.when_changed",
            args![mailbox_guid, source, now],
        )?;
        Ok(())
    }

    /// Forgets the progress of `source` (every source of the mailbox with `None`): its items
    /// were removed.
    pub fn clear_import_progress(&self, mailbox_guid: &str, source: Option<&str>) -> Result<()> {
        match source {
            Some(source) => self.exec(
                "DELETE FROM import_progress WHERE mailbox_guid = ?1 AND source = ?2",
                args![mailbox_guid, source],
            )?,
            None => self.exec(
                "DELETE FROM import_progress WHERE mailbox_guid = ?1",
                args![mailbox_guid],
            )?,
        };
        Ok(())
    }

    pub fn move_request(&self, mailbox_guid: &str) -> Result<Option<MoveRow>> {
        self.row(
            &format!("SELECT {MOVE_COLS} FROM move_request WHERE mailbox_guid = ?1"),
            args![mailbox_guid],
        )?
        .as_ref()
        .map(move_row)
        .transpose()
    }

    pub fn move_requests(&self) -> Result<Vec<MoveRow>> {
        self.rows(
            &format!("SELECT {MOVE_COLS} FROM move_request ORDER BY when_created"),
            args![],
        )?
        .iter()
        .map(move_row)
        .collect()
    }

    pub fn put_move_request(&self, m: &MoveRow) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO move_request ({MOVE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (mailbox_guid) DO UPDATE SET status = excluded.status,
                   items_total = excluded.items_total, items_done = excluded.items_done,
                   new_key_id = excluded.new_key_id, new_key_version = excluded.new_key_version,
                   when_created = excluded.when_created, when_changed = excluded.when_changed"
            ),
            args![
                m.mailbox_guid,
                m.status,
                m.items_total,
                m.items_done,
                m.new_key_id,
                m.new_key_version,
                m.when_created,
                m.when_changed
            ],
        )?;
        Ok(())
    }
}
