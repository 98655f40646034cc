//! Data encryption policies and their wrapped DEP-key copies (opaque blobs).

use rusqlite::{params, OptionalExtension, Row};

use super::{Result, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepRow {
    pub guid: String,
    /// `Mailbox` (a customer DEP) or `MicrosoftManaged` (the built-in one).
    pub kind: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// The key URIs as given at creation (JSON array in the table).
    pub azure_key_ids: Vec<String>,
    /// `Active`, `PendingDataPurge` or `Purged`.
    pub state: String,
    pub dep_key_id: String,
    pub dep_key_version: u32,
    /// The availability key, sealed under the service master key.
    pub availability_key: Option<Vec<u8>>,
    /// The DEP key wrapped by the availability key.
    pub wrapped_by_availability: Option<Vec<u8>>,
    pub purge_reason: Option<String>,
    pub purge_contact: Option<String>,
    pub purge_requested_by: Option<String>,
    pub when_created: String,
    pub when_changed: String,
}

/// One customer key's copy of the DEP key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootWrapRow {
    pub dep_guid: String,
    pub slot: u32,
    /// The versionless key URI.
    pub key_uri: String,
    pub version: String,
    pub wrapped: Vec<u8>,
}

const COLS: &str = "guid, kind, name, description, enabled, azure_key_ids, state, dep_key_id, dep_key_version, availability_key, wrapped_by_availability, purge_reason, purge_contact, purge_requested_by, when_created, when_changed";

fn from_row(r: &Row) -> rusqlite::Result<(DepRow, String)> {
    Ok((
        DepRow {
            guid: r.get(0)?,
            kind: r.get(1)?,
            name: r.get(2)?,
            description: r.get(3)?,
            enabled: r.get(4)?,
            azure_key_ids: Vec::new(),
            state: r.get(6)?,
            dep_key_id: r.get(7)?,
            dep_key_version: r.get(8)?,
            availability_key: r.get(9)?,
            wrapped_by_availability: r.get(10)?,
            purge_reason: r.get(11)?,
            purge_contact: r.get(12)?,
            purge_requested_by: r.get(13)?,
            when_created: r.get(14)?,
            when_changed: r.get(15)?,
        },
        r.get(5)?,
    ))
}

fn finish((mut d, ids): (DepRow, String)) -> Result<DepRow> {
    d.azure_key_ids = serde_json::from_str(&ids)
        .map_err(|e| StoreError::Sql(format!("dep.azure_key_ids of {}: {e}", d.name)))?;
    Ok(d)
}

impl Tx<'_> {
    /// Inserts a DEP; `Ok(false)` when the name is taken.
    pub fn insert_dep(&self, d: &DepRow) -> Result<bool> {
        let res = self.conn()
            .prepare_cached(&format!("INSERT INTO dep ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"))
            .and_then(|mut st| st.execute(params![
                d.guid,
                d.kind,
                d.name,
                d.description,
                d.enabled,
                serde_json::to_string(&d.azure_key_ids).unwrap_or_else(|_| "[]".into()),
                d.state,
                d.dep_key_id,
                d.dep_key_version,
                d.availability_key,
                d.wrapped_by_availability,
                d.purge_reason,
                d.purge_contact,
                d.purge_requested_by,
                d.when_created,
                d.when_changed
            ]));
        self.unless_taken(res)
    }

    /// Rewrites a DEP's mutable fields; `Ok(false)` when the new name is taken.
    pub fn update_dep(&self, d: &DepRow) -> Result<bool> {
        let res = self.conn()
            .prepare_cached("UPDATE dep SET name = ?2, description = ?3, enabled = ?4, state = ?5, availability_key = ?6,
             wrapped_by_availability = ?7, purge_reason = ?8, purge_contact = ?9, purge_requested_by = ?10,
             when_changed = ?11 WHERE guid = ?1")
            .and_then(|mut st| st.execute(params![
                d.guid,
                d.name,
                d.description,
                d.enabled,
                d.state,
                d.availability_key,
                d.wrapped_by_availability,
                d.purge_reason,
                d.purge_contact,
                d.purge_requested_by,
                d.when_changed
            ]));
        self.unless_taken(res)
    }

    pub fn dep(&self, guid: &str) -> Result<Option<DepRow>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM dep WHERE guid = lower(?1)"),
                [guid],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(finish).transpose()
    }

    /// A DEP by name (case-insensitive) or GUID, of the given kind.
    pub fn dep_by_identity(&self, identity: &str, kind: &str) -> Result<Option<DepRow>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM dep WHERE kind = ?2 AND (guid = lower(?1) OR name = ?1 COLLATE NOCASE)"),
                params![identity, kind],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(finish).transpose()
    }

    pub fn deps(&self, kind: &str) -> Result<Vec<DepRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLS} FROM dep WHERE kind = ?1 ORDER BY name COLLATE NOCASE"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([kind], from_row)
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(finish).collect()
    }

    pub fn count_deps(&self, kind: &str) -> Result<u64> {
        self.conn()
            .query_row("SELECT count(*) FROM dep WHERE kind = ?1", [kind], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    pub fn root_wraps(&self, dep_guid: &str) -> Result<Vec<RootWrapRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT dep_guid, slot, key_uri, version, wrapped FROM dep_root_wrap WHERE dep_guid = ?1 ORDER BY slot",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([dep_guid], |r| {
                Ok(RootWrapRow {
                    dep_guid: r.get(0)?,
                    slot: r.get(1)?,
                    key_uri: r.get(2)?,
                    version: r.get(3)?,
                    wrapped: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Inserts or replaces one customer key's copy of a DEP key.
    pub fn put_root_wrap(&self, w: &RootWrapRow) -> Result<()> {
        self.conn()
            .prepare_cached("INSERT OR REPLACE INTO dep_root_wrap (dep_guid, slot, key_uri, version, wrapped) VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut st| st.execute(params![w.dep_guid, w.slot, w.key_uri, w.version, w.wrapped]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes every customer-key copy of a DEP key (crypto-shredding with the availability key).
    pub fn delete_root_wraps(&self, dep_guid: &str) -> Result<usize> {
        self.conn()
            .prepare_cached("DELETE FROM dep_root_wrap WHERE dep_guid = ?1")
            .and_then(|mut st| st.execute([dep_guid]))
            .map_err(|e| self.err(e))
    }

    /// Names of DEPs of `kind` (completion).
    pub fn dep_names(&self, kind: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT name FROM dep WHERE kind = ?1 ORDER BY name COLLATE NOCASE")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([kind], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}
