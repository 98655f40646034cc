//! Data encryption policies and their wrapped DEP-key copies (opaque blobs).

use super::db::{args, Row};
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

fn from_row(r: &Row) -> Result<(DepRow, String)> {
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
        self.exec_unless_taken(
            &format!("INSERT INTO dep ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
            args![
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
            ],
        )
    }

    /// Changes a DEP's name, description and enabled flag (each only when given), never its
    /// state or keys, unless it was purged. `Ok(None)` when the new name is taken, `Ok(Some(false))`
    /// when the DEP is gone or purged (a concurrent purge wins), `Ok(Some(true))` when written.
    pub fn set_dep_properties(
        &self,
        guid: &str,
        name: Option<&str>,
        description: Option<&str>,
        enabled: Option<bool>,
        when_changed: &str,
    ) -> Result<Option<bool>> {
        // Whether the row exists and may change, first: the update below says only whether a
        // uniqueness constraint refused it.
        let open = self
            .row(
                "SELECT 1 FROM dep WHERE guid = ?1 AND state <> 'Purged'",
                args![guid],
            )?
            .is_some();
        if !open {
            return Ok(Some(false));
        }
        let written = self.exec_unless_taken(
            "UPDATE dep SET name = coalesce(?2, name), description = coalesce(?3, description),
             enabled = coalesce(?4, enabled), when_changed = ?5 WHERE guid = ?1 AND state <> 'Purged'",
            args![guid, name, description, enabled, when_changed],
        )?;
        Ok(written.then_some(true))
    }

    /// Moves an `Active` DEP to `PendingDataPurge` with the request's details. `Ok(false)` when
    /// it is no longer `Active` (another request or purge came first).
    pub fn request_dep_purge(
        &self,
        guid: &str,
        reason: &str,
        contact: &str,
        requested_by: &str,
        when_changed: &str,
    ) -> Result<bool> {
        let n = self.exec(
            "UPDATE dep SET state = 'PendingDataPurge', purge_reason = ?2, purge_contact = ?3,
             purge_requested_by = ?4, when_changed = ?5 WHERE guid = ?1 AND state = 'Active'",
            args![guid, reason, contact, requested_by, when_changed],
        )?;
        Ok(n == 1)
    }

    /// Destroys a `PendingDataPurge` DEP's availability key and availability-wrapped copy and
    /// marks it `Purged` (one way: nothing sets a purged DEP's keys again). `Ok(false)` when it
    /// is not pending (approved by another command, or never requested).
    pub fn mark_dep_purged(&self, guid: &str, when_changed: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE dep SET state = 'Purged', availability_key = NULL, wrapped_by_availability = NULL,
             when_changed = ?2 WHERE guid = ?1 AND state = 'PendingDataPurge'",
            args![guid, when_changed],
        )?;
        Ok(n == 1)
    }

    /// The DEP's state, if it exists.
    pub fn dep_state(&self, guid: &str) -> Result<Option<String>> {
        self.row("SELECT state FROM dep WHERE guid = ?1", args![guid])?
            .map(|r| r.get(0))
            .transpose()
    }

    pub fn dep(&self, guid: &str) -> Result<Option<DepRow>> {
        self.row(
            &format!("SELECT {COLS} FROM dep WHERE guid = lower(?1)"),
            args![guid],
        )?
        .as_ref()
        .map(|r| from_row(r).and_then(finish))
        .transpose()
    }

    /// A DEP by name (case-insensitive) or GUID, of the given kind.
    pub fn dep_by_identity(&self, identity: &str, kind: &str) -> Result<Option<DepRow>> {
        self.row(
            &format!("SELECT {COLS} FROM dep WHERE kind = ?2 AND (guid = lower(?1) OR name = ?1 COLLATE NOCASE)"),
            args![identity, kind],
        )?
        .as_ref()
        .map(|r| from_row(r).and_then(finish))
        .transpose()
    }

    pub fn deps(&self, kind: &str) -> Result<Vec<DepRow>> {
        self.rows(
            &format!("SELECT {COLS} FROM dep WHERE kind = ?1 ORDER BY name COLLATE NOCASE"),
            args![kind],
        )?
        .iter()
        .map(|r| from_row(r).and_then(finish))
        .collect()
    }

    pub fn count_deps(&self, kind: &str) -> Result<u64> {
        match self.row("SELECT count(*) FROM dep WHERE kind = ?1", args![kind])? {
            Some(r) => r.get(0),
            None => Ok(0),
        }
    }

    /// The policies of `kind` that count toward its limit: enabled and not purged.
    pub fn count_active_deps(&self, kind: &str) -> Result<u64> {
        match self.row(
            "SELECT count(*) FROM dep WHERE kind = ?1 AND enabled <> 0 AND state <> 'Purged'",
            args![kind],
        )? {
            Some(r) => r.get(0),
            None => Ok(0),
        }
    }

    pub fn root_wraps(&self, dep_guid: &str) -> Result<Vec<RootWrapRow>> {
        self.rows(
            "SELECT dep_guid, slot, key_uri, version, wrapped FROM dep_root_wrap WHERE dep_guid = ?1 ORDER BY slot",
            args![dep_guid],
        )?
        .iter()
        .map(|r| {
            Ok(RootWrapRow {
                dep_guid: r.get(0)?,
                slot: r.get(1)?,
                key_uri: r.get(2)?,
                version: r.get(3)?,
                wrapped: r.get(4)?,
            })
        })
        .collect()
    }

    /// Stores one customer key's copy of a DEP key (a new DEP), unless the DEP was purged.
    /// (Two statements in one write transaction: writers take turns, store/mod.rs.)
    pub fn put_root_wrap(&self, w: &RootWrapRow) -> Result<()> {
        let open = self
            .row(
                "SELECT 1 FROM dep WHERE guid = ?1 AND state <> 'Purged'",
                args![w.dep_guid],
            )?
            .is_some();
        if open {
            self.exec(
                "INSERT INTO dep_root_wrap (dep_guid, slot, key_uri, version, wrapped)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (dep_guid, slot) DO UPDATE SET key_uri = excluded.key_uri,
                   version = excluded.version, wrapped = excluded.wrapped",
                args![w.dep_guid, w.slot, w.key_uri, w.version, w.wrapped],
            )?;
        }
        Ok(())
    }

    /// Replaces one customer key's copy of a DEP key (a refresh, a roll, or a key replaced by
    /// another) if that slot still holds key `from_uri` at version `from_version` and the DEP
    /// was not purged. `Ok(false)` when another
    /// command changed the slot, or purged the DEP, since it was read: the caller abandons its
    /// transaction.
    pub fn replace_root_wrap(
        &self,
        w: &RootWrapRow,
        from_uri: &str,
        from_version: &str,
    ) -> Result<bool> {
        let n = self.exec(
            "UPDATE dep_root_wrap SET key_uri = ?3, version = ?4, wrapped = ?5
             WHERE dep_guid = ?1 AND slot = ?2 AND key_uri = ?7 AND version = ?6
             AND EXISTS (SELECT 1 FROM dep WHERE guid = ?1 AND state <> 'Purged')",
            args![
                w.dep_guid,
                w.slot,
                w.key_uri,
                w.version,
                w.wrapped,
                from_version,
                from_uri
            ],
        )?;
        Ok(n == 1)
    }

    /// Sets a DEP's AzureKeyIDs (after one of its keys was replaced).
    pub fn set_dep_azure_key_ids(&self, guid: &str, ids: &[String]) -> Result<()> {
        self.exec(
            "UPDATE dep SET azure_key_ids = ?2 WHERE guid = ?1",
            args![
                guid,
                serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
            ],
        )?;
        Ok(())
    }

    /// Deletes every customer-key copy of a DEP key (crypto-shredding with the availability key).
    pub fn delete_root_wraps(&self, dep_guid: &str) -> Result<usize> {
        self.exec(
            "DELETE FROM dep_root_wrap WHERE dep_guid = ?1",
            args![dep_guid],
        )
    }

    /// Names of DEPs of `kind` (completion).
    pub fn dep_names(&self, kind: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT name FROM dep WHERE kind = ?1 ORDER BY name COLLATE NOCASE",
            args![kind],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect()
    }
}

impl Tx<'_> {
    /// Records which kind of wrap made the copy in `slot` of `dep_guid`'s key (`RSA-OAEP-256`,
    /// `RSA-OAEP`, `KMS-AES-256-GCM`); `spo` for a SharePoint DEP's TIK copies.
    pub fn set_root_wrap_kind(
        &self,
        spo: bool,
        dep_guid: &str,
        slot: u32,
        kind: &str,
    ) -> Result<()> {
        let sql = if spo {
            "UPDATE spo_dep_root_wrap SET wrap_kind = ?3 WHERE dep_guid = ?1 AND slot = ?2"
        } else {
            "UPDATE dep_root_wrap SET wrap_kind = ?3 WHERE dep_guid = ?1 AND slot = ?2"
        };
        self.exec(sql, args![dep_guid, slot, kind])?;
        Ok(())
    }

    /// The recorded kind of wrap of each copy of `dep_guid`'s key, by slot.
    pub fn root_wrap_kinds(&self, spo: bool, dep_guid: &str) -> Result<Vec<(u32, String)>> {
        let sql = if spo {
            "SELECT slot, wrap_kind FROM spo_dep_root_wrap WHERE dep_guid = ?1 ORDER BY slot"
        } else {
            "SELECT slot, wrap_kind FROM dep_root_wrap WHERE dep_guid = ?1 ORDER BY slot"
        };
        self.rows(sql, args![dep_guid])?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy is replaced only if its slot still holds the key and the version it was read
    /// with: KMIP keys all have version `1`, so the version alone would let a second
    /// replacement of a slot overwrite the first.
    #[test]
    fn a_copy_is_replaced_only_from_the_key_and_version_it_was_read_with() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::Store::open(&dir.path().join("service.db")).unwrap();
        let dep = DepRow {
            guid: "d1".into(),
            kind: "Mailbox".into(),
            name: "P".into(),
            description: String::new(),
            enabled: true,
            azure_key_ids: vec!["kmip://a:1/1".into(), "kmip://b:1/2".into()],
            state: "Active".into(),
            dep_key_id: "k".into(),
            dep_key_version: 1,
            availability_key: None,
            wrapped_by_availability: None,
            purge_reason: None,
            purge_contact: None,
            purge_requested_by: None,
            when_created: "t".into(),
            when_changed: "t".into(),
        };
        let wrap = |uri: &str, b: u8| RootWrapRow {
            dep_guid: "d1".into(),
            slot: 0,
            key_uri: uri.into(),
            version: "1".into(),
            wrapped: vec![b],
        };
        store
            .write(|tx| -> Result<()> {
                tx.insert_dep(&dep)?;
                tx.put_root_wrap(&wrap("kmip://a:1/1", 1))
            })
            .unwrap();
        // The first replacement of slot 0 (from a:1/1 at version 1) lands.
        let first = store
            .write(|tx| tx.replace_root_wrap(&wrap("kmip://c:1/3", 2), "kmip://a:1/1", "1"))
            .unwrap();
        assert!(first);
        // A second one read before it (also from a:1/1 at version 1) does not.
        let second = store
            .write(|tx| tx.replace_root_wrap(&wrap("kmip://d:1/4", 3), "kmip://a:1/1", "1"))
            .unwrap();
        assert!(!second);
        let now = store.read(|tx| tx.root_wraps("d1")).unwrap();
        assert_eq!(now, vec![wrap("kmip://c:1/3", 2)]);
        store
            .write(|tx| tx.set_dep_azure_key_ids("d1", &["x".into(), "y".into()]))
            .unwrap();
        let d = store.read(|tx| tx.dep("d1")).unwrap().unwrap();
        assert_eq!(d.azure_key_ids, vec!["x".to_string(), "y".into()]);
    }
}
