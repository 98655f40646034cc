//! SharePoint Online: geo DEPs and their root-wrapped TIK copies, the Microsoft-managed TIK
//! of each geo, sites with their wrapped site keys, files and their encrypted chunks. Every
//! key here is an opaque blob (wrapped, or sealed under the service master key).

use super::db::{args, Arg, Row};

use super::{Result, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoDepRow {
    pub guid: String,
    pub geo: String,
    /// `Registering`, `Registered` or `Rolling`.
    pub state: String,
    /// The TIK wrapped by the service's RSA-2048 availability key.
    pub tik_by_availability: Vec<u8>,
    /// While `Rolling`: `Primary` or `Secondary`, and the new key's versioned URI.
    pub roll_key_type: Option<String>,
    pub roll_key_uri: Option<String>,
    /// The TIK sealed under the service master key, and when that copy expires.
    pub tik_cache: Option<Vec<u8>>,
    pub tik_cache_expires_at: Option<String>,
    pub when_created: String,
    pub when_changed: String,
}

/// One customer key's copy of the TIK: slot 0 is the primary key, 1 the secondary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoRootWrapRow {
    pub dep_guid: String,
    pub slot: u32,
    /// The versioned key URI.
    pub key_uri: String,
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    pub guid: String,
    pub url: String,
    pub title: String,
    pub geo: String,
    /// The SharePoint DEP (or the geo's Microsoft-managed TIK) whose TIK wraps the site key.
    pub tik_guid: String,
    pub wrapped_key: Vec<u8>,
    pub when_created: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoFileRow {
    /// New with every upload; chunks are bound to it.
    pub guid: String,
    pub site_guid: String,
    /// Site-relative: `Shared Documents/report.docx`.
    pub path: String,
    pub size: u64,
    pub chunks: u32,
    pub when_created: String,
    pub when_changed: String,
    /// How its chunks are bound: 1 (before schema 9) to the file and the chunk number; 2 also
    /// to whether the chunk is the last (`docs/format.md` §5).
    pub chunk_format: u32,
    /// The pack file (under `content/<site guid>/`) that holds the chunks one after another
    /// from `pack_offset` on; `None` for a file uploaded before schema 12, whose chunks are
    /// `spo_file_chunk` rows.
    pub pack: Option<String>,
    pub pack_offset: u64,
}

const DEP_COLS: &str = "guid, geo, state, tik_by_availability, roll_key_type, roll_key_uri, tik_cache, tik_cache_expires_at, when_created, when_changed";
const SITE_COLS: &str = "guid, url, title, geo, tik_guid, wrapped_key, when_created";
const FILE_COLS: &str =
    "guid, site_guid, path, size, chunks, when_created, when_changed, chunk_format, pack, pack_offset";

fn dep_row(r: &Row) -> Result<SpoDepRow> {
    Ok(SpoDepRow {
        guid: r.get(0)?,
        geo: r.get(1)?,
        state: r.get(2)?,
        tik_by_availability: r.get(3)?,
        roll_key_type: r.get(4)?,
        roll_key_uri: r.get(5)?,
        tik_cache: r.get(6)?,
        tik_cache_expires_at: r.get(7)?,
        when_created: r.get(8)?,
        when_changed: r.get(9)?,
    })
}

fn site_row(r: &Row) -> Result<SiteRow> {
    Ok(SiteRow {
        guid: r.get(0)?,
        url: r.get(1)?,
        title: r.get(2)?,
        geo: r.get(3)?,
        tik_guid: r.get(4)?,
        wrapped_key: r.get(5)?,
        when_created: r.get(6)?,
    })
}

fn file_row(r: &Row) -> Result<SpoFileRow> {
    Ok(SpoFileRow {
        guid: r.get(0)?,
        site_guid: r.get(1)?,
        path: r.get(2)?,
        size: r.get(3)?,
        chunks: r.get(4)?,
        when_created: r.get(5)?,
        when_changed: r.get(6)?,
        chunk_format: r.get(7)?,
        pack: r.get(8)?,
        pack_offset: r.get(9)?,
    })
}

impl Tx<'_> {
    fn spo_rows<T>(&self, sql: &str, p: &[&dyn Arg], f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        self.rows(sql, p)?.iter().map(f).collect()
    }

    fn spo_row<T>(&self, sql: &str, p: &[&dyn Arg], f: fn(&Row) -> Result<T>) -> Result<Option<T>> {
        self.row(sql, p)?.as_ref().map(f).transpose()
    }

    fn spo_exec(&self, sql: &str, p: &[&dyn Arg]) -> Result<usize> {
        self.exec(sql, p)
    }

    /// The SharePoint DEP of a geo.
    pub fn spo_dep(&self, geo: &str) -> Result<Option<SpoDepRow>> {
        self.spo_row(
            &format!("SELECT {DEP_COLS} FROM spo_dep WHERE geo = ?1"),
            args![geo],
            dep_row,
        )
    }

    /// Every SharePoint DEP, by geo.
    pub fn spo_deps(&self) -> Result<Vec<SpoDepRow>> {
        self.spo_rows(
            &format!("SELECT {DEP_COLS} FROM spo_dep ORDER BY geo"),
            args![],
            dep_row,
        )
    }

    /// Inserts or replaces a SharePoint DEP row.
    pub fn put_spo_dep(&self, d: &SpoDepRow) -> Result<()> {
        self.spo_exec(
            &format!("INSERT INTO spo_dep ({DEP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
              ON CONFLICT (guid) DO UPDATE SET geo = excluded.geo, state = excluded.state,
                tik_by_availability = excluded.tik_by_availability, roll_key_type = excluded.roll_key_type,
                roll_key_uri = excluded.roll_key_uri, tik_cache = excluded.tik_cache,
                tik_cache_expires_at = excluded.tik_cache_expires_at,
                when_created = excluded.when_created, when_changed = excluded.when_changed"),
            args![d.guid, d.geo, d.state, d.tik_by_availability, d.roll_key_type, d.roll_key_uri, d.tik_cache, d.tik_cache_expires_at, d.when_created, d.when_changed],
        )?;
        Ok(())
    }

    pub fn spo_root_wraps(&self, dep_guid: &str) -> Result<Vec<SpoRootWrapRow>> {
        self.spo_rows(
            "SELECT dep_guid, slot, key_uri, wrapped FROM spo_dep_root_wrap WHERE dep_guid = ?1 ORDER BY slot",
            args![dep_guid],
            |r| {
                Ok(SpoRootWrapRow {
                    dep_guid: r.get(0)?,
                    slot: r.get(1)?,
                    key_uri: r.get(2)?,
                    wrapped: r.get(3)?,
                })
            },
        )
    }

    pub fn put_spo_root_wrap(&self, w: &SpoRootWrapRow) -> Result<()> {
        self.spo_exec(
            "INSERT INTO spo_dep_root_wrap (dep_guid, slot, key_uri, wrapped) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dep_guid, slot) DO UPDATE SET key_uri = excluded.key_uri, wrapped = excluded.wrapped",
            args![w.dep_guid, w.slot, w.key_uri, w.wrapped],
        )?;
        Ok(())
    }

    /// The Microsoft-managed TIK of a geo: (guid, sealed key).
    pub fn spo_mmk_tik(&self, geo: &str) -> Result<Option<(String, Vec<u8>)>> {
        self.spo_row(
            "SELECT guid, sealed FROM spo_mmk_tik WHERE geo = ?1",
            args![geo],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Records a geo's Microsoft-managed TIK unless one exists; false if one did.
    pub fn insert_spo_mmk_tik(&self, geo: &str, guid: &str, sealed: &[u8]) -> Result<bool> {
        Ok(self.spo_exec(
            "INSERT INTO spo_mmk_tik (geo, guid, sealed) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![geo, guid, sealed],
        )? == 1)
    }

    pub fn insert_site(&self, s: &SiteRow) -> Result<bool> {
        Ok(self.spo_exec(
            &format!(
                "INSERT INTO spo_site ({SITE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"
            ),
            args![
                s.guid,
                s.url,
                s.title,
                s.geo,
                s.tik_guid,
                s.wrapped_key,
                s.when_created
            ],
        )? == 1)
    }

    /// Re-wraps a site key (under another TIK).
    pub fn rewrap_site_key(&self, guid: &str, tik_guid: &str, wrapped: &[u8]) -> Result<()> {
        self.spo_exec(
            "UPDATE spo_site SET tik_guid = ?2, wrapped_key = ?3 WHERE guid = ?1",
            args![guid, tik_guid, wrapped],
        )?;
        Ok(())
    }

    pub fn site_by_url(&self, url: &str) -> Result<Option<SiteRow>> {
        self.spo_row(
            &format!("SELECT {SITE_COLS} FROM spo_site WHERE url = ?1"),
            args![url.trim_end_matches('/')],
            site_row,
        )
    }

    pub fn sites(&self) -> Result<Vec<SiteRow>> {
        self.spo_rows(
            &format!("SELECT {SITE_COLS} FROM spo_site ORDER BY url"),
            args![],
            site_row,
        )
    }

    /// A site of `geo` whose key is not (yet) wrapped by `tik_guid`'s TIK.
    pub fn site_not_under(&self, geo: &str, tik_guid: &str) -> Result<Option<SiteRow>> {
        self.spo_row(
            &format!("SELECT {SITE_COLS} FROM spo_site WHERE geo = ?1 AND tik_guid <> ?2 ORDER BY url LIMIT 1"),
            args![geo, tik_guid],
            site_row,
        )
    }

    /// (sites of `geo`, of which under `tik_guid`).
    pub fn site_counts(&self, geo: &str, tik_guid: &str) -> Result<(u64, u64)> {
        match self.row(
            "SELECT count(*), CAST(coalesce(sum(CASE WHEN tik_guid = ?2 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM spo_site WHERE geo = ?1",
            args![geo, tik_guid],
        )? {
            Some(r) => Ok((r.get(0)?, r.get(1)?)),
            None => Ok((0, 0)),
        }
    }

    pub fn spo_file(&self, site_guid: &str, path: &str) -> Result<Option<SpoFileRow>> {
        self.spo_row(
            &format!("SELECT {FILE_COLS} FROM spo_file WHERE site_guid = ?1 AND path = ?2"),
            args![site_guid, path],
            file_row,
        )
    }

    /// Files of a site whose path starts with `prefix` (case-insensitive), by path.
    pub fn spo_files(&self, site_guid: &str, prefix: &str) -> Result<Vec<SpoFileRow>> {
        self.spo_rows(
            &format!("SELECT {FILE_COLS} FROM spo_file WHERE site_guid = ?1 AND substr(path, 1, length(?2)) = ?2 COLLATE NOCASE ORDER BY path"),
            args![site_guid, prefix],
            file_row,
        )
    }

    /// Deletes a file and its chunks (rows; a pack no row names any more goes with the next
    /// [`super::Store::reclaim_packs`]).
    pub fn delete_spo_file(&self, guid: &str) -> Result<()> {
        self.spo_exec(
            "DELETE FROM spo_file_chunk WHERE file_guid = ?1",
            args![guid],
        )?;
        self.spo_exec("DELETE FROM spo_file WHERE guid = ?1", args![guid])?;
        Ok(())
    }

    /// Inserts a file row (its chunks are made durable in its pack first, or, for rows, go in
    /// first in the same transaction).
    pub fn insert_spo_file(&self, f: &SpoFileRow) -> Result<()> {
        self.spo_exec(
            &format!("INSERT INTO spo_file ({FILE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            args![
                f.guid,
                f.site_guid,
                f.path,
                f.size,
                f.chunks,
                f.when_created,
                f.when_changed,
                f.chunk_format,
                f.pack,
                f.pack_offset
            ],
        )?;
        Ok(())
    }

    pub fn put_spo_chunk(&self, file_guid: &str, n: u32, data: &[u8]) -> Result<()> {
        self.spo_exec(
            "INSERT INTO spo_file_chunk (file_guid, n, data) VALUES (?1, ?2, ?3)",
            args![file_guid, n, data],
        )?;
        Ok(())
    }

    pub fn spo_chunk(&self, file_guid: &str, n: u32) -> Result<Option<Vec<u8>>> {
        self.spo_row(
            "SELECT data FROM spo_file_chunk WHERE file_guid = ?1 AND n = ?2",
            args![file_guid, n],
            |r| r.get(0),
        )
    }
}
