//! The service store: one SQLite database (WAL mode, bundled SQLite) holding the
//! service's rows. It knows SQL, not keys in the clear: wrapped keys are opaque blobs.
//!
//! - A new store is built under a temporary name and renamed into place, so a kill
//!   during creation never leaves a half-made store behind; it is created 0600.
//! - An existing file is checked before SQLite may write to it: an empty, foreign,
//!   truncated or corrupted file is reported and never modified.
//! - Schema versions live in `PRAGMA user_version`; migrations run in order, each in
//!   its own transaction. A store written by a newer custkey is refused.
//! - Every cmdlet runs in one transaction ([`Store::write`] takes the write lock up
//!   front, `BEGIN IMMEDIATE`); a busy timeout makes concurrent processes take turns.

mod audit;
mod commitment;
mod content;
pub mod datadir;
pub(crate) mod db;
mod dep;
pub mod location;
mod m365;
mod org;
mod pack;
pub mod pg;
mod pgpack;
mod principal;
mod recipient;
mod setting;
mod spo;
mod teams;

pub use audit::AuditRow;
pub use content::{ItemRow, MailboxKeyRow, MoveRow};
pub use dep::{DepRow, RootWrapRow};
pub use location::{Location, LocationError, PgUrl};
pub use m365::{ChatMessageRow, ChatRow, HostedContentRow, WorkloadKeyRow};
pub use org::OrganizationRow;
pub use pack::{
    ContentStorage, PackAppender, PackFile, PackRange, PackReadError, PACK_BUFFER, PACK_BUFFERS,
};
pub use principal::{PrincipalRow, PurgeSignatureRow};
pub use recipient::{RecipientRow, RecipientScope};
pub use spo::{SiteRow, SpoDepRow, SpoFileRow, SpoRootWrapRow};
pub use teams::{MeetingRow, PresenceStatusRow, RecordingRow};

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

/// The page size of a new store.
pub const PAGE_SIZE: i64 = 65536;

/// How long a process waits for another's write transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Migrations, in order; the store's schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the organization (one row).
    "CREATE TABLE organization (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        guid TEXT NOT NULL,
        name TEXT NOT NULL,
        subscription_type TEXT NOT NULL,
        data_purge_approvers TEXT NOT NULL,
        default_geo TEXT NOT NULL,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );",
    // 2: recipients (mailboxes and mail users) with their licences.
    "CREATE TABLE recipient (
        guid TEXT PRIMARY KEY,
        exchange_guid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        display_name TEXT NOT NULL,
        primary_smtp TEXT NOT NULL,
        upn TEXT,
        external_email TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('UserMailbox', 'SharedMailbox', 'MailUser')),
        licenses TEXT NOT NULL DEFAULT '[]',
        dep_guid TEXT,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );
    CREATE UNIQUE INDEX recipient_name ON recipient (name COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_alias ON recipient (alias COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_smtp ON recipient (primary_smtp COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_upn ON recipient (upn COLLATE NOCASE);
    CREATE INDEX recipient_dep ON recipient (dep_guid);",
    // 3: small settings of the session (the signed-in Azure account).
    "CREATE TABLE setting (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    // 4: data encryption policies, their wrapped keys, mailbox keys, content, moves, audit.
    "CREATE TABLE dep (
        guid TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('Mailbox', 'MicrosoftManaged')),
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL,
        azure_key_ids TEXT NOT NULL,
        state TEXT NOT NULL,
        dep_key_id TEXT NOT NULL,
        dep_key_version INTEGER NOT NULL,
        availability_key BLOB,
        wrapped_by_availability BLOB,
        purge_reason TEXT,
        purge_contact TEXT,
        purge_requested_by TEXT,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );
    CREATE UNIQUE INDEX dep_name ON dep (name COLLATE NOCASE);
    CREATE TABLE dep_root_wrap (
        dep_guid TEXT NOT NULL REFERENCES dep (guid),
        slot INTEGER NOT NULL,
        key_uri TEXT NOT NULL,
        version TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        PRIMARY KEY (dep_guid, slot)
    );
    CREATE TABLE mailbox_key (
        mailbox_guid TEXT NOT NULL REFERENCES recipient (guid),
        key_id TEXT NOT NULL,
        key_version INTEGER NOT NULL,
        dep_guid TEXT NOT NULL REFERENCES dep (guid),
        wrapped BLOB NOT NULL,
        current INTEGER NOT NULL,
        PRIMARY KEY (mailbox_guid, key_id, key_version)
    );
    CREATE INDEX mailbox_key_dep ON mailbox_key (dep_guid);
    CREATE TABLE item (
        mailbox_guid TEXT NOT NULL REFERENCES recipient (guid),
        item_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        key_version INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        PRIMARY KEY (mailbox_guid, item_id)
    );
    CREATE INDEX item_seq ON item (mailbox_guid, seq);
    CREATE TABLE item_segment (
        mailbox_guid TEXT NOT NULL,
        item_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (mailbox_guid, item_id, n)
    );
    CREATE TABLE move_request (
        mailbox_guid TEXT PRIMARY KEY REFERENCES recipient (guid),
        status TEXT NOT NULL,
        items_total INTEGER NOT NULL,
        items_done INTEGER NOT NULL,
        new_key_id TEXT NOT NULL,
        new_key_version INTEGER NOT NULL,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );
    CREATE TABLE audit_record (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        creation_time TEXT NOT NULL,
        record_type TEXT NOT NULL,
        operation TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        object_id TEXT NOT NULL,
        parameters TEXT NOT NULL
    );
    CREATE INDEX audit_time ON audit_record (creation_time);",
    // 5: mailboxes whose data was purged with their DEP.
    "ALTER TABLE recipient ADD COLUMN data_purged TEXT;",
    // 6: multi-workload DEPs (kind 'M365'; names unique per kind), the tenant's multi-workload
    // assignment, workload keys, and Teams chats whose messages they protect. The dep table is
    // rebuilt to widen its CHECK (foreign keys are off while migrations run).
    "CREATE TABLE dep_new (
        guid TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('Mailbox', 'MicrosoftManaged', 'M365')),
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL,
        azure_key_ids TEXT NOT NULL,
        state TEXT NOT NULL,
        dep_key_id TEXT NOT NULL,
        dep_key_version INTEGER NOT NULL,
        availability_key BLOB,
        wrapped_by_availability BLOB,
        purge_reason TEXT,
        purge_contact TEXT,
        purge_requested_by TEXT,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );
    INSERT INTO dep_new SELECT guid, kind, name, description, enabled, azure_key_ids, state,
        dep_key_id, dep_key_version, availability_key, wrapped_by_availability, purge_reason,
        purge_contact, purge_requested_by, when_created, when_changed FROM dep;
    DROP TABLE dep;
    ALTER TABLE dep_new RENAME TO dep;
    CREATE UNIQUE INDEX dep_name ON dep (kind, name COLLATE NOCASE);
    CREATE TABLE m365_assignment (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        dep_guid TEXT NOT NULL REFERENCES dep (guid),
        when_changed TEXT NOT NULL
    );
    CREATE TABLE workload_key (
        workload TEXT NOT NULL,
        key_id TEXT NOT NULL,
        key_version INTEGER NOT NULL,
        dep_guid TEXT NOT NULL REFERENCES dep (guid),
        wrapped BLOB NOT NULL,
        current INTEGER NOT NULL,
        when_created TEXT NOT NULL,
        PRIMARY KEY (workload, key_id)
    );
    CREATE INDEX workload_key_dep ON workload_key (dep_guid);
    CREATE TABLE chat (
        guid TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        created_by TEXT NOT NULL,
        when_created TEXT NOT NULL
    );
    CREATE UNIQUE INDEX chat_topic ON chat (topic COLLATE NOCASE);
    CREATE TABLE chat_message (
        chat_guid TEXT NOT NULL REFERENCES chat (guid),
        message_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sender TEXT NOT NULL,
        key_id TEXT NOT NULL,
        body BLOB NOT NULL,
        when_created TEXT NOT NULL,
        PRIMARY KEY (chat_guid, message_id)
    );
    CREATE INDEX chat_message_seq ON chat_message (chat_guid, seq);",
    // 7: SharePoint Online geo DEPs with their root wraps and TIK cache, the
    // Microsoft-managed TIK of each geo, sites with their wrapped site keys, files and chunks.
    "CREATE TABLE spo_dep (
        guid TEXT PRIMARY KEY,
        geo TEXT NOT NULL UNIQUE COLLATE NOCASE,
        state TEXT NOT NULL CHECK (state IN ('Registering', 'Registered', 'Rolling')),
        tik_by_availability BLOB NOT NULL,
        roll_key_type TEXT,
        roll_key_uri TEXT,
        tik_cache BLOB,
        tik_cache_expires_at TEXT,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL
    );
    CREATE TABLE spo_dep_root_wrap (
        dep_guid TEXT NOT NULL REFERENCES spo_dep (guid),
        slot INTEGER NOT NULL CHECK (slot IN (0, 1)),
        key_uri TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        PRIMARY KEY (dep_guid, slot)
    );
    CREATE TABLE spo_mmk_tik (
        geo TEXT PRIMARY KEY COLLATE NOCASE,
        guid TEXT NOT NULL UNIQUE,
        sealed BLOB NOT NULL
    );
    CREATE TABLE spo_site (
        guid TEXT PRIMARY KEY,
        url TEXT NOT NULL UNIQUE COLLATE NOCASE,
        title TEXT NOT NULL,
        geo TEXT NOT NULL COLLATE NOCASE,
        tik_guid TEXT NOT NULL,
        wrapped_key BLOB NOT NULL,
        when_created TEXT NOT NULL
    );
    CREATE INDEX spo_site_geo ON spo_site (geo, tik_guid);
    CREATE TABLE spo_file (
        guid TEXT PRIMARY KEY,
        site_guid TEXT NOT NULL REFERENCES spo_site (guid),
        path TEXT NOT NULL COLLATE NOCASE,
        size INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL,
        UNIQUE (site_guid, path)
    );
    CREATE TABLE spo_file_chunk (
        file_guid TEXT NOT NULL,
        n INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (file_guid, n)
    );",
    // 8: content in append-only pack files beside the store (store/pack.rs, docs/format.md §7).
    // An item with a pack holds `stored_size` bytes at `pack_offset` of
    // content/<mailbox>/<pack>.pack; an item without one (written before this migration) keeps
    // its ciphertext in item_segment rows, read as before until a move rewrites it into a pack.
    "CREATE TABLE content_pack (
        id TEXT PRIMARY KEY,
        mailbox_guid TEXT NOT NULL,
        when_created TEXT NOT NULL
    );
    CREATE INDEX content_pack_mailbox ON content_pack (mailbox_guid);
    ALTER TABLE item ADD COLUMN pack TEXT;
    ALTER TABLE item ADD COLUMN pack_offset INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX item_pack ON item (pack);",
    // 9: keyed commitments to DEP keys and TIKs (docs/format.md §2.4), in a table of their own
    // so that no rewrite of a policy row can drop one; and the chunk format of SharePoint files
    // (1: chunks bound to file and number; 2: also to whether the chunk is the file's last).
    "CREATE TABLE key_commitment (
        owner_guid TEXT NOT NULL,
        tier INTEGER NOT NULL,
        commitment BLOB NOT NULL,
        PRIMARY KEY (owner_guid, tier)
    );
    ALTER TABLE spo_file ADD COLUMN chunk_format INTEGER NOT NULL DEFAULT 1;",
    // 10: the principal registry (accounts bound to an OpenSSH public key; each row carries a
    // MAC under a key derived from the service master key) and the signatures of data purge
    // requests and approvals (docs/security.md).
    "CREATE TABLE principal (
        upn_key TEXT PRIMARY KEY,
        upn TEXT NOT NULL,
        display_name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE,
        owner INTEGER NOT NULL DEFAULT 0,
        registered_by TEXT NOT NULL,
        when_created TEXT NOT NULL,
        mac BLOB NOT NULL
    );
    CREATE TABLE purge_signature (
        dep_guid TEXT NOT NULL,
        step TEXT NOT NULL,
        upn TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        statement TEXT NOT NULL,
        signature TEXT NOT NULL,
        PRIMARY KEY (dep_guid, step)
    );",
    // 11: how far each import of a source got (an interrupted or killed import resumes after the
    // messages it committed; the count commits in the same transaction as their rows).
    "CREATE TABLE import_progress (
        mailbox_guid TEXT NOT NULL,
        source TEXT NOT NULL,
        messages INTEGER NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        when_changed TEXT NOT NULL,
        PRIMARY KEY (mailbox_guid, source)
    );",
    // 12: SharePoint file content in pack files, as mailbox content (store/pack.rs): a file with
    // a pack holds its chunks one after another from `pack_offset` of
    // content/<site guid>/<pack>.pack; a file without one (uploaded before) keeps its
    // spo_file_chunk rows, read as before.
    "ALTER TABLE spo_file ADD COLUMN pack TEXT;
    ALTER TABLE spo_file ADD COLUMN pack_offset INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX spo_file_pack ON spo_file (pack);",
    // 13: per wrapped copy of a DEP key or TIK, which kind of wrap its root key made
    // (`RSA-OAEP-256`, `RSA-OAEP`, or `KMS-AES-256-GCM` for an AES key in a KMIP key manager).
    // Copies made before it keep '' (their format's algorithm byte says the same).
    "ALTER TABLE dep_root_wrap ADD COLUMN wrap_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE spo_dep_root_wrap ADD COLUMN wrap_kind TEXT NOT NULL DEFAULT '';",
    // 14: content in the database itself (PostgreSQL stores, store/pgpack.rs): a pack whose
    // `storage` is 'database' keeps its bytes in content_chunk rows, each `data` starting at
    // byte `off` of the pack, instead of a file of the data directory ('file').
    "ALTER TABLE content_pack ADD COLUMN storage TEXT NOT NULL DEFAULT 'file'
        CHECK (storage IN ('file', 'database'));
    CREATE TABLE content_chunk (
        pack TEXT NOT NULL REFERENCES content_pack (id),
        off INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (pack, off)
    );",
    // 15: group mailboxes (Microsoft 365 groups), public-folder mailboxes and archives among
    // the recipients. An archive is a row of kind 'ArchiveMailbox' (never listed or resolved as a
    // recipient) whose guid is its primary's `archive_guid`; its content and keys hang off that
    // guid as a mailbox's do. The recipient table is rebuilt to widen its kind CHECK, as 6
    // rebuilds dep (foreign keys are off while migrations run); PostgreSQL alters the
    // constraint in place and adds the column.
    "CREATE TABLE recipient_new (
        guid TEXT PRIMARY KEY,
        exchange_guid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        display_name TEXT NOT NULL,
        primary_smtp TEXT NOT NULL,
        upn TEXT,
        external_email TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('UserMailbox', 'SharedMailbox', 'MailUser',
            'GroupMailbox', 'PublicFolderMailbox', 'ArchiveMailbox')),
        licenses TEXT NOT NULL DEFAULT '[]',
        dep_guid TEXT,
        when_created TEXT NOT NULL,
        when_changed TEXT NOT NULL,
        data_purged TEXT,
        archive_guid TEXT
    );
    INSERT INTO recipient_new SELECT guid, exchange_guid, name, alias, display_name,
        primary_smtp, upn, external_email, kind, licenses, dep_guid, when_created,
        when_changed, data_purged, NULL FROM recipient;
    DROP TABLE recipient;
    ALTER TABLE recipient_new RENAME TO recipient;
    CREATE UNIQUE INDEX recipient_name ON recipient (name COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_alias ON recipient (alias COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_smtp ON recipient (primary_smtp COLLATE NOCASE);
    CREATE UNIQUE INDEX recipient_upn ON recipient (upn COLLATE NOCASE);
    CREATE INDEX recipient_dep ON recipient (dep_guid);
    CREATE UNIQUE INDEX recipient_archive ON recipient (archive_guid);",
    // 16: Teams hosted contents (images and other media posted in a chat message), Teams
    // workload content: each one a §3 ciphertext under the Teams workload key `key_id`,
    // `stored_size` bytes from `pack_offset` of content/<chat guid>/<pack>.pack.
    "CREATE TABLE chat_hosted_content (
        chat_guid TEXT NOT NULL REFERENCES chat (guid),
        message_id TEXT NOT NULL,
        content_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        pack TEXT NOT NULL,
        pack_offset INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        when_created TEXT NOT NULL,
        PRIMARY KEY (chat_guid, message_id, content_id)
    );
    CREATE INDEX chat_hosted_content_pack ON chat_hosted_content (pack);",
    // 17: Teams online meetings with their recordings (Teams workload content: each recording a
    // §3 ciphertext under the Teams workload key `key_id`, `stored_size` bytes from
    // `pack_offset` of content/<meeting guid>/<pack>.pack), and Teams status messages (the
    // text sealed under the Teams workload key, one per user).
    "CREATE TABLE online_meeting (
        guid TEXT PRIMARY KEY,
        organizer_guid TEXT NOT NULL,
        subject TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT NOT NULL,
        when_created TEXT NOT NULL
    );
    CREATE INDEX online_meeting_organizer ON online_meeting (organizer_guid);
    CREATE TABLE meeting_recording (
        meeting_guid TEXT NOT NULL REFERENCES online_meeting (guid),
        recording_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        pack TEXT NOT NULL,
        pack_offset INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        when_created TEXT NOT NULL,
        PRIMARY KEY (meeting_guid, recording_id)
    );
    CREATE INDEX meeting_recording_pack ON meeting_recording (pack);
    CREATE TABLE presence_status (
        recipient_guid TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        message BLOB NOT NULL,
        content_type TEXT NOT NULL,
        expiry TEXT,
        published TEXT NOT NULL
    );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store {path} cannot be opened: {detail}")]
    Unavailable { path: PathBuf, detail: String },
    #[error("the store {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the store {path} has schema version {found}, newer than this custkey understands ({supported})")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("the store {path} is locked by another process: {detail}")]
    Busy { path: PathBuf, detail: String },
    #[error("a store query failed: {0}")]
    Sql(String),
    /// A PostgreSQL store that cannot be used: unreachable, authentication refused, no such
    /// database. `url` has its password hidden.
    #[error("the PostgreSQL store {url} cannot be opened: {detail}")]
    Postgres {
        url: String,
        detail: String,
        help: String,
    },
}

impl StoreError {
    /// What the operator can do about it.
    pub fn help(&self) -> String {
        match self {
            StoreError::Unavailable { .. } => {
                "check that the path exists and is readable and writable, or pass another with -Store".into()
            }
            StoreError::Corrupt { path, .. } => format!(
                "the file was left as it is; restore {} from a backup, or pass another path with -Store to start a new store",
                path.display()
            ),
            StoreError::NewerSchema { .. } => {
                "upgrade custkey to a version that knows this schema; the store was not changed".into()
            }
            StoreError::Busy { .. } => {
                "another custkey process held the store too long; try again".into()
            }
            StoreError::Sql(_) => "this is likely a bug in custkey; the transaction was rolled back".into(),
            StoreError::Postgres { help, .. } => help.clone(),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    backend: Backend,
    /// The file, or for PostgreSQL the URL with its password hidden (for messages).
    path: PathBuf,
    /// Where files beside the rows live (content packs): the file's directory, or for
    /// PostgreSQL the data directory it was opened with.
    data_dir: PathBuf,
    /// Where new packs keep their bytes.
    content: ContentStorage,
}

enum Backend {
    Sqlite(Connection),
    Pg(Box<pg::PgStore>),
}

/// One transaction. Rows are read and written through typed methods (see `org.rs`), whose SQL
/// runs on either engine ([`db`]).
pub struct Tx<'c> {
    inner: TxInner<'c>,
    path: &'c Path,
    data_dir: &'c Path,
}

enum TxInner<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Pg(pg::PgTx<'c>),
}

impl Store {
    /// Opens the store at `path`, creating it (and its directory, 0700) if it does not exist.
    pub fn open(path: &Path) -> Result<Store> {
        match fs::symlink_metadata(path) {
            Ok(_) => Self::open_existing(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Self::create(path)?;
                Self::open_existing(path)
            }
            Err(e) => Err(StoreError::Unavailable {
                path: path.into(),
                detail: e.to_string(),
            }),
        }
    }

    /// Opens a store that must already exist; returns `Ok(None)` when there is none.
    /// Used where creating one would be wrong (completion).
    pub fn open_if_exists(path: &Path) -> Result<Option<Store>> {
        if path.exists() {
            Self::open_existing(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Opens (creating or migrating its schema) the PostgreSQL store at `url`, with its files
    /// (content packs) in `data_dir`, which must be the data directory the store was first
    /// used with ([`datadir`]).
    pub fn open_url(url: &PgUrl, data_dir: &Path) -> Result<Store> {
        let pg = pg::PgStore::open(url)?;
        let mut store = Store {
            path: PathBuf::from(url.shown()),
            backend: Backend::Pg(Box::new(pg)),
            data_dir: data_dir.to_path_buf(),
            content: ContentStorage::Database,
        };
        datadir::bind(&mut store)?;
        Ok(store)
    }

    /// The directory of the store's files (content packs, and the CLI keeps vaults there).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store's file; for a PostgreSQL store, its URL with the password hidden.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store is a PostgreSQL database (else a SQLite file).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Pg(_))
    }

    /// Where new packs keep their bytes: in the database (a PostgreSQL store's default) or in
    /// files of the data directory. A SQLite store keeps them in files only.
    pub fn set_content_storage(&mut self, content: ContentStorage) -> Result<()> {
        if content == ContentStorage::Database && !self.is_postgres() {
            return Err(StoreError::Unavailable {
                path: self.path.clone(),
                detail: "a SQLite store keeps content in files beside it; content in the database needs a PostgreSQL store".into(),
            });
        }
        self.content = content;
        Ok(())
    }

    /// Where new packs keep their bytes ([`Store::set_content_storage`]).
    pub fn content_storage(&self) -> ContentStorage {
        self.content
    }

    /// The SQLite connection (tests that look at the file's own settings).
    #[cfg(test)]
    fn sqlite(&self) -> &Connection {
        match &self.backend {
            Backend::Sqlite(c) => c,
            Backend::Pg(_) => panic!("not a SQLite store"),
        }
    }

    fn create(path: &Path) -> Result<()> {
        let unavailable = |detail: String| StoreError::Unavailable {
            path: path.into(),
            detail,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store".into());
        let tmp = dir.join(format!(".{name}.new-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| unavailable(format!("cannot create {}: {e}", tmp.display())))?;
        let built = (|| -> rusqlite::Result<()> {
            let mut conn = Connection::open_with_flags(
                &tmp,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.pragma_update(None, "journal_mode", "DELETE")?;
            // 64 KiB pages: chosen when content was stored here as 1 MiB segments (three times
            // faster than 4 KiB); content now lives in pack files (pack.rs), older stores keep
            // their pages and segment rows.
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            migrate(&mut conn, 0)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.close().map_err(|(_, e)| e)?;
            Ok(())
        })();
        if let Err(e) = built {
            let _ = fs::remove_file(&tmp);
            return Err(unavailable(format!("cannot initialise a new store: {e}")));
        }
        if let Ok(f) = fs::File::open(&tmp) {
            let _ = f.sync_all();
        }
        // Another process may have created the store meanwhile: then keep theirs.
        match fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(unavailable(format!("cannot create the store file: {e}")));
            }
        }
        let _ = fs::remove_file(&tmp);
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn open_existing(path: &Path) -> Result<Store> {
        check_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(path, e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| classify(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.into(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| classify(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| classify(path, e))?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| classify(path, e))?;
        // Deleted rows (wrapped keys, ciphertext) are overwritten, not left in free pages:
        // crypto-shredding must not leave a copy of a destroyed key on disk.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(|e| classify(path, e))?;
        let mut conn = conn;
        if version < SCHEMA_VERSION {
            migrate(&mut conn, version).map_err(|e| classify(path, e))?;
        }
        Ok(Store {
            backend: Backend::Sqlite(conn),
            path: path.into(),
            data_dir: dir_of(path),
            content: ContentStorage::Files,
        })
    }

    /// Runs `f` in one write transaction (the write lock is taken at the start, so
    /// concurrent writers queue instead of failing); commits when `f` succeeds.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.run(TransactionBehavior::Immediate, f)
    }

    /// Moves everything from the write-ahead log into the database and truncates the log, so
    /// no old page (holding a destroyed key) survives in it. On PostgreSQL: VACUUM, so that the
    /// deleted rows' tuples are removed from the tables (docs/store.md says what remains).
    pub fn checkpoint(&mut self) -> Result<()> {
        let path = self.path.clone();
        match &mut self.backend {
            Backend::Sqlite(conn) => conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| classify(&path, e)),
            Backend::Pg(pg) => pg.vacuum(),
        }
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    pub fn read<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.run(TransactionBehavior::Deferred, f)
    }

    fn run<T, E: From<StoreError>>(
        &mut self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path.clone();
        let inner = match &mut self.backend {
            Backend::Sqlite(conn) => TxInner::Sqlite(
                conn.transaction_with_behavior(behavior)
                    .map_err(|e| classify(&path, e))?,
            ),
            Backend::Pg(pg) => {
                TxInner::Pg(pg.begin(matches!(behavior, TransactionBehavior::Immediate))?)
            }
        };
        let tx = Tx {
            inner,
            path: &path,
            data_dir: &self.data_dir,
        };
        let value = f(&tx)?;
        match tx.inner {
            TxInner::Sqlite(t) => t.commit().map_err(|e| classify(&path, e))?,
            TxInner::Pg(t) => t.commit()?,
        }
        Ok(value)
    }
}

impl Tx<'_> {
    /// Whether this transaction is on a PostgreSQL store.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Pg(_))
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(self.path, e)
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn exec(&self, sql: &str, args: &[&dyn db::Arg]) -> Result<usize> {
        match &self.inner {
            TxInner::Sqlite(t) => t
                .prepare_cached(sql)
                .and_then(|mut st| st.execute(sqlite_args(args)))
                .map_err(|e| self.err(e)),
            TxInner::Pg(t) => t.exec(sql, args),
        }
    }

    /// Runs a query; returns all its rows.
    pub(crate) fn rows(&self, sql: &str, args: &[&dyn db::Arg]) -> Result<Vec<db::Row>> {
        match &self.inner {
            TxInner::Sqlite(t) => {
                let mut st = t.prepare_cached(sql).map_err(|e| self.err(e))?;
                let n = st.column_count();
                let mut rows = st.query(sqlite_args(args)).map_err(|e| self.err(e))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                    out.push(db::Row::from_sqlite(r, n).map_err(|e| self.err(e))?);
                }
                Ok(out)
            }
            TxInner::Pg(t) => t.rows(sql, args),
        }
    }

    /// Runs a `SELECT count(*) ...`; returns the count.
    pub(crate) fn count(&self, sql: &str, args: &[&dyn db::Arg]) -> Result<u64> {
        match self.row(sql, args)? {
            Some(r) => r.get(0),
            None => Ok(0),
        }
    }

    /// Runs a query; returns its first row, if any.
    pub(crate) fn row(&self, sql: &str, args: &[&dyn db::Arg]) -> Result<Option<db::Row>> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }

    /// Runs a statement: `Ok(true)` when it went through, `Ok(false)` when a uniqueness
    /// constraint refused it (the transaction goes on).
    pub(crate) fn exec_unless_taken(&self, sql: &str, args: &[&dyn db::Arg]) -> Result<bool> {
        match &self.inner {
            TxInner::Sqlite(t) => self.unless_taken(
                t.prepare_cached(sql)
                    .and_then(|mut st| st.execute(sqlite_args(args))),
            ),
            TxInner::Pg(t) => t.exec_unless_taken(sql, args),
        }
    }

    /// `Ok(true)` when a write went through, `Ok(false)` when a uniqueness constraint refused it.
    pub(crate) fn unless_taken(&self, res: rusqlite::Result<usize>) -> Result<bool> {
        match res {
            Ok(_) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Ok(false)
            }
            Err(e) => Err(self.err(e)),
        }
    }
}

fn sqlite_args<'a>(
    args: &'a [&'a dyn db::Arg],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = db::ValueRef<'a>>> {
    rusqlite::params_from_iter(args.iter().map(|a| a.value()))
}

/// The directory a store file is in.
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    // A migration may rebuild a table others reference; foreign keys are checked once after.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let res = run_migrations(conn, from);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    res?;
    let dangling: Option<String> = conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()?;
    if let Some(table) = dangling {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some(format!(
                "after migrating, table {table} references a missing row"
            )),
        ));
    }
    Ok(())
}

fn run_migrations(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now > i as i64 {
            tx.commit()?;
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Checks an existing file before SQLite is allowed to touch it.
fn check_file(path: &Path) -> Result<()> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        path: path.into(),
        detail: detail.into(),
    };
    let meta = fs::metadata(path).map_err(|e| StoreError::Unavailable {
        path: path.into(),
        detail: e.to_string(),
    })?;
    if meta.is_dir() {
        return Err(StoreError::Unavailable {
            path: path.into(),
            detail: "it is a directory".into(),
        });
    }
    let mut header = [0u8; 100];
    let mut f = fs::File::open(path).map_err(|e| StoreError::Unavailable {
        path: path.into(),
        detail: e.to_string(),
    })?;
    let mut got = 0;
    while got < header.len() {
        match f.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => {
                return Err(StoreError::Unavailable {
                    path: path.into(),
                    detail: e.to_string(),
                })
            }
        }
    }
    if got == 0 {
        return Err(corrupt("the file is empty"));
    }
    if got < 100 || &header[..16] != b"SQLite format 3\0" {
        return Err(corrupt("it is not a SQLite database"));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n if n >= 512 && n.is_power_of_two() => u64::from(n),
        _ => return Err(corrupt("its header has an invalid page size")),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let len = meta.len();
    // The header's page count is valid only when "version-valid-for" matches the change
    // counter, and only while no write-ahead log is live (a checkpoint in another process
    // writes page 1 before the pages after it).
    let counter_matches = header[24..28] == header[92..96];
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_live = Path::new(&wal).exists();
    if len % page_size != 0 || (counter_matches && !wal_live && len < pages * page_size) {
        return Err(corrupt(&format!(
            "the file is truncated ({len} bytes; its header says {} pages of {page_size} bytes)",
            pages
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        // Tighten a store that someone loosened; the content is not touched.
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
        let detail = msg.clone().unwrap_or_else(|| f.to_string());
        match f.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return StoreError::Corrupt {
                    path: path.into(),
                    detail,
                }
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Busy {
                    path: path.into(),
                    detail,
                }
            }
            ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull => {
                return StoreError::Unavailable {
                    path: path.into(),
                    detail,
                }
            }
            _ => {}
        }
    }
    StoreError::Sql(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_private_and_at_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/service.db");
        let store = Store::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let v: i64 = store
            .sqlite()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = store
            .sqlite()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    /// A store written at schema 14 keeps its recipients, their licences and the rows that
    /// reference them through migration 15 (which rebuilds the recipient table to accept group
    /// and public-folder mailboxes), and its unique indexes hold again.
    #[test]
    fn the_recipient_kinds_migration_keeps_recipients_and_their_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..14] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 14).unwrap();
            c.execute_batch(
                "INSERT INTO dep VALUES ('d1', 'Mailbox', 'US', '', 1, '[]', 'Active', 'k', 1, x'01', x'02', NULL, NULL, NULL, 't', 't');
                 INSERT INTO recipient VALUES ('r1', 'x1', 'Alice', 'alice', 'Alice', 'alice@c.com', 'alice@c.com', NULL, 'UserMailbox', '[\"SPE_E5\"]', 'd1', 't', 't', NULL);
                 INSERT INTO mailbox_key VALUES ('r1', 'k1', 1, 'd1', x'0404', 1);",
            )
            .unwrap();
            assert!(c
                .execute_batch("INSERT INTO recipient VALUES ('r2', 'x2', 'G', 'g', 'G', 'g@c.com', NULL, NULL, 'GroupMailbox', '[]', NULL, 't', 't', NULL)")
                .is_err());
        }
        let store = Store::open(&path).unwrap();
        let c = store.sqlite();
        let (kind, licenses, wrapped): (String, String, Vec<u8>) = c
            .query_row(
                "SELECT r.kind, r.licenses, k.wrapped FROM recipient r JOIN mailbox_key k ON k.mailbox_guid = r.guid",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (kind.as_str(), licenses.as_str(), wrapped),
            ("UserMailbox", "[\"SPE_E5\"]", vec![4, 4])
        );
        c.execute_batch("INSERT INTO recipient VALUES ('r2', 'x2', 'G', 'g', 'G', 'g@c.com', NULL, NULL, 'GroupMailbox', '[]', NULL, 't', 't', NULL, NULL);
             INSERT INTO recipient VALUES ('r3', 'x3', 'P', 'p', 'P', 'p@c.com', NULL, NULL, 'PublicFolderMailbox', '[]', NULL, 't', 't', NULL, NULL);")
            .unwrap();
        assert!(c
            .execute_batch("INSERT INTO recipient VALUES ('r4', 'x4', 'X', 'x', 'X', 'x@c.com', NULL, NULL, 'Contact', '[]', NULL, 't', 't', NULL, NULL)")
            .is_err());
        assert!(c
            .execute_batch("INSERT INTO recipient VALUES ('r5', 'x5', 'alice', 'a2', 'A', 'a2@c.com', NULL, NULL, 'UserMailbox', '[]', NULL, 't', 't', NULL, NULL)")
            .is_err(), "names stay unique, ignoring case");
        assert!(
            c.execute_batch("INSERT INTO mailbox_key VALUES ('nope', 'k', 1, 'd1', x'00', 1)")
                .is_err(),
            "mailbox keys still reference recipients"
        );
        let broken: i64 = c
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
    }

    /// A store written at schema 5 (mailbox DEPs only) keeps its policies, wrapped keys and
    /// mailbox keys through the migration that rebuilds the dep table, with references intact.
    #[test]
    fn the_multi_workload_migration_keeps_existing_policies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 5).unwrap();
            c.execute_batch(
                "INSERT INTO dep VALUES ('d1', 'Mailbox', 'US', '', 1, '[]', 'Active', 'k', 1, x'01', x'02', NULL, NULL, NULL, 't', 't');
                 INSERT INTO dep_root_wrap VALUES ('d1', 0, 'https://v.vault.azure.net/keys/k', 'v1', x'0303');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .sqlite()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let (name, wrapped): (String, Vec<u8>) = store
            .sqlite()
            .query_row(
                "SELECT d.name, w.wrapped FROM dep d JOIN dep_root_wrap w ON w.dep_guid = d.guid",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((name.as_str(), wrapped), ("US", vec![3, 3]));
        // The widened kind is accepted, and a name may repeat across kinds but not within one.
        store
            .sqlite()
            .execute_batch("INSERT INTO dep VALUES ('d2', 'M365', 'us', '', 1, '[]', 'Active', 'k', 1, NULL, NULL, NULL, NULL, NULL, 't', 't')")
            .unwrap();
        assert!(store
            .sqlite()
            .execute_batch("INSERT INTO dep VALUES ('d3', 'Mailbox', 'Us', '', 1, '[]', 'Active', 'k', 1, NULL, NULL, NULL, NULL, NULL, 't', 't')")
            .is_err());
        // Foreign keys are on again and hold.
        assert!(store
            .sqlite()
            .execute_batch("INSERT INTO dep_root_wrap VALUES ('nope', 0, 'u', 'v', x'00')")
            .is_err());
    }

    /// A re-wrap applies only to a key still under the DEP it was read under, so a command
    /// working from an old read cannot overwrite another's re-wrap.
    #[test]
    fn a_rewrap_needs_the_key_still_under_the_dep_it_was_read_under() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("service.db")).unwrap();
        store
            .sqlite()
            .execute_batch(
                "INSERT INTO recipient (guid, exchange_guid, name, alias, display_name, primary_smtp, kind, when_created, when_changed)
                   VALUES ('m', 'x', 'M', 'm', 'M', 'm@contoso.com', 'SharedMailbox', 't', 't');
                 INSERT INTO dep VALUES ('d1', 'Mailbox', 'One', '', 1, '[]', 'Active', 'k', 1, NULL, NULL, NULL, NULL, NULL, 't', 't');
                 INSERT INTO dep VALUES ('d2', 'Mailbox', 'Two', '', 1, '[]', 'Active', 'k', 1, NULL, NULL, NULL, NULL, NULL, 't', 't');
                 INSERT INTO mailbox_key VALUES ('m', 'k1', 1, 'd1', x'01', 1);",
            )
            .unwrap();
        let moved = MailboxKeyRow {
            mailbox_guid: "m".into(),
            key_id: "k1".into(),
            key_version: 1,
            dep_guid: "d2".into(),
            wrapped: vec![2],
            current: true,
        };
        let (stale, fresh) = store
            .write(|tx| -> Result<_> {
                Ok((
                    tx.rewrap_mailbox_key(&moved, "d2")?,
                    tx.rewrap_mailbox_key(&moved, "d1")?,
                ))
            })
            .unwrap();
        assert_eq!((stale, fresh), (false, true));
        let keys = store.read(|tx| tx.mailbox_keys("m")).unwrap();
        assert_eq!(
            (keys[0].dep_guid.as_str(), keys[0].wrapped.as_slice()),
            ("d2", &[2u8][..])
        );
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        drop(Store::open(&path).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::NewerSchema { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a newer schema was accepted"),
        }
    }

    /// A store of schema 5 (content in `item_segment` rows) opens at the current schema with
    /// its items and their segments as they were: no pack, the same bytes.
    #[test]
    fn a_schema_5_store_with_segment_rows_migrates_and_keeps_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 5).unwrap();
            c.execute_batch(
                "INSERT INTO recipient (guid, exchange_guid, name, alias, display_name, primary_smtp, kind, when_created, when_changed)
                 VALUES ('m', 'x', 'M', 'm', 'M', 'm@contoso.com', 'SharedMailbox', 't', 't');
                 INSERT INTO item (mailbox_guid, item_id, seq, source, size, stored_size, key_id, key_version, complete)
                 VALUES ('m', 'i', 1, 'eml', 3, 6, 'k', 1, 1);
                 INSERT INTO item_segment VALUES ('m', 'i', 0, x'010203'), ('m', 'i', 1, x'040506');",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let (items, segs) = store
            .read(|tx| -> Result<_> {
                let items = tx.items("m")?;
                let segs = (0..3)
                    .map(|n| tx.segment("m", "i", n))
                    .collect::<Result<Vec<_>>>()?;
                Ok((items, segs))
            })
            .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!((items[0].pack.as_deref(), items[0].pack_offset), (None, 0));
        assert_eq!(segs, vec![Some(vec![1, 2, 3]), Some(vec![4, 5, 6]), None]);
        let v: i64 = store
            .sqlite()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn foreign_and_truncated_files_are_corrupt_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.db");
        drop(Store::open(&good).unwrap());
        let bytes = fs::read(&good).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty.db", vec![]),
            (
                "text.db",
                b"hello, this is not a database at all\n".repeat(40),
            ),
            ("half.db", bytes[..bytes.len() / 2 + 1].to_vec()),
        ];
        for (name, content) in cases {
            let p = dir.path().join(name);
            fs::write(&p, &content).unwrap();
            match Store::open(&p) {
                Err(StoreError::Corrupt { .. }) => {}
                Err(e) => panic!("{name}: unexpected error {e}"),
                Ok(_) => panic!("{name}: accepted"),
            }
            assert_eq!(fs::read(&p).unwrap(), content, "{name} was modified");
        }
    }
}
