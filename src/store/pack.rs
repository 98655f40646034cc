//! Content pack files: item ciphertext lives in append-only files beside the store, indexed by
//! the `item` rows (pack id, offset; the length is `stored_size`). See docs/format.md §7.
//!
//! ```text
//! <data dir>/content/                      0700
//! <data dir>/content/<mailbox guid>/       0700, one per mailbox
//! <data dir>/content/<mailbox guid>/<pack id>.pack   0600, append-only, written by one writer
//! ```
//!
//! Rules that keep a kill at any point harmless:
//!
//! - a pack is created (`create_new`, 0600) and locked (`flock`, exclusive) by its only writer,
//!   its directory entry is fsynced, and only then is it registered in `content_pack`; a reclaim
//!   never touches a pack it cannot lock, nor a file it does not know;
//! - ciphertext is appended and fsynced (`fdatasync`) before the rows that point at it commit, so
//!   a committed row never points at missing bytes;
//! - bytes a killed writer appended after its last commit are referenced by no row: they are never
//!   read, and go with their pack when it is reclaimed (no item left in it), purged or moved away.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::db::args;
use super::{Result, Store, StoreError, Tx};

/// Bytes per write buffer handed to the writer thread.
pub const PACK_BUFFER: usize = 256 << 10;
/// Write buffers in flight (filling, queued, being written): memory is bounded by
/// `PACK_BUFFERS * PACK_BUFFER` whatever the content size.
pub const PACK_BUFFERS: usize = 4;
/// Writer threads: two full buffers in flight at the disk at once.
pub const PACK_WRITERS: usize = 2;
/// Space is reserved (`fallocate`) ahead of the writes in steps of this many bytes, so direct
/// writes land in allocated blocks inside the file instead of extending it one by one; the
/// reserve past the end is cut off by [`PackAppender::finish`].
const PACK_RESERVE: u64 = 16 << 20;

/// A pack just created and locked, registered in the store: a file of the data directory, or
/// (PostgreSQL, [`ContentStorage::Database`]) chunk rows written through a connection of its
/// own that holds the pack's lock.
pub struct PackFile {
    pub id: String,
    pub mailbox_guid: String,
    /// The file; for a pack in the database, how messages name it.
    pub path: PathBuf,
    sink: Sink,
}

enum Sink {
    File(File),
    Db(Box<super::pg::Pooled>),
}

/// Where a store keeps the bytes of new packs (packs already written are read where they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentStorage {
    /// Pack files under `content/` of the data directory (SQLite stores; PostgreSQL stores whose
    /// machines share that directory).
    Files,
    /// `content_chunk` rows of the database itself (the default of a PostgreSQL store).
    Database,
}

fn unavailable(path: &Path, what: &str, e: &io::Error) -> StoreError {
    StoreError::Unavailable {
        path: path.into(),
        detail: format!("{what}: {e}"),
    }
}

/// Creates `dir` (0700) if missing, and makes its entry durable in its parent.
fn private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| unavailable(dir, "cannot create the content directory", &e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| unavailable(dir, "cannot sync the directory", &e))
}

/// `content/` in the directory of the store file `db`.
fn content_dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join("content")
}

fn pack_path_of(data_dir: &Path, mailbox_guid: &str, id: &str) -> PathBuf {
    content_dir_of(data_dir)
        .join(mailbox_guid)
        .join(format!("{id}.pack"))
}

impl Store {
    /// Where content pack files live: `content/` in the store's data directory.
    pub fn content_dir(&self) -> PathBuf {
        content_dir_of(&self.data_dir)
    }

    /// The file of pack `id` of a mailbox.
    pub fn pack_path(&self, mailbox_guid: &str, id: &str) -> PathBuf {
        pack_path_of(&self.data_dir, mailbox_guid, id)
    }

    /// Creates a new pack for a mailbox's content: the file (0600, locked by this process until
    /// dropped, its directory entry fsynced), then its `content_pack` row.
    pub fn create_pack(&mut self, mailbox_guid: &str) -> Result<PackFile> {
        if let (super::Backend::Pg(pg), ContentStorage::Database) = (&self.backend, self.content) {
            let id = uuid::Uuid::new_v4().to_string();
            let mut client = pg.connect_again()?;
            super::pgpack::lock(&mut client, &id, pg.shown())?;
            self.write(|tx| -> Result<()> {
                tx.exec(
                    "INSERT INTO content_pack (id, mailbox_guid, when_created, storage) VALUES (?1, ?2, ?3, 'database')",
                    args![id, mailbox_guid, chrono::Utc::now().to_rfc3339()],
                )?;
                Ok(())
            })?;
            return Ok(PackFile {
                path: super::pgpack::label(&id),
                id,
                mailbox_guid: mailbox_guid.to_string(),
                sink: Sink::Db(Box::new(client)),
            });
        }
        let dir = self.content_dir().join(mailbox_guid);
        // Level by level, so each new directory's entry is fsynced in its parent.
        private_dir(&self.content_dir())?;
        private_dir(&dir)?;
        let id = uuid::Uuid::new_v4().to_string();
        let path = dir.join(format!("{id}.pack"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| unavailable(&path, "cannot create the content file", &e))?;
        file.lock()
            .map_err(|e| unavailable(&path, "cannot lock the content file", &e))?;
        // Between creating and locking, a reclaim in another process may have taken the file
        // for a killed writer's orphan and deleted it: then start again with another one.
        let linked = file
            .metadata()
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m) > 0)
            .map_err(|e| unavailable(&path, "cannot read the content file", &e))?;
        if !linked {
            return self.create_pack(mailbox_guid);
        }
        sync_dir(&dir)?;
        self.write(|tx| -> Result<()> {
            tx.exec(
                "INSERT INTO content_pack (id, mailbox_guid, when_created) VALUES (?1, ?2, ?3)",
                args![id, mailbox_guid, chrono::Utc::now().to_rfc3339()],
            )?;
            Ok(())
        })?;
        Ok(PackFile {
            id,
            mailbox_guid: mailbox_guid.to_string(),
            path,
            sink: Sink::File(file),
        })
    }

    /// Deletes every pack no item points at any more (a move finished, items deleted, a killed
    /// import's pack), except packs another writer holds. Returns the number of files removed.
    pub fn reclaim_packs(&mut self) -> Result<u64> {
        let packs = self.read(|tx| -> Result<Vec<(String, String, bool)>> {
            tx.rows(
                "SELECT p.id, p.mailbox_guid,
                        EXISTS (SELECT 1 FROM item i WHERE i.pack = p.id)
                        OR EXISTS (SELECT 1 FROM spo_file f WHERE f.pack = p.id)
                        OR EXISTS (SELECT 1 FROM chat_hosted_content c WHERE c.pack = p.id)
                        OR EXISTS (SELECT 1 FROM meeting_recording r WHERE r.pack = p.id)
                 FROM content_pack p",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
        })?;
        let mut removed = 0;
        for (id, owner, used) in packs {
            if !used && self.reclaim_pack(&owner, &id)? {
                removed += 1;
            }
        }
        removed += self.reclaim_unregistered()?;
        Ok(removed)
    }

    /// Deletes one registered pack of `owner` (a mailbox or a site) if no item and no file
    /// points at it and no writer holds it; whether its file was removed.
    pub fn reclaim_pack(&mut self, owner: &str, id: &str) -> Result<bool> {
        if self.is_postgres() && self.read(|tx| tx.pack_in_database(id))? {
            return self.reclaim_db_pack(id);
        }
        let path = self.pack_path(owner, id);
        // Hold the lock while deciding and deleting: a live writer holds it from creation.
        let lock = match File::open(&path) {
            Ok(f) => match f.try_lock() {
                Ok(()) => Some(f),
                Err(fs::TryLockError::WouldBlock) => return Ok(false),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(unavailable(&path, "cannot lock the content file", &e))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(unavailable(&path, "cannot open the content file", &e)),
        };
        let gone = self.write(|tx| -> Result<bool> {
            if tx.pack_in_use(id)? {
                return Ok(false);
            }
            tx.exec("DELETE FROM content_pack WHERE id = ?1", args![id])?;
            Ok(true)
        })?;
        let mut removed = false;
        if gone && lock.is_some() {
            match fs::remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(unavailable(&path, "cannot delete the content file", &e)),
            }
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(removed)
    }

    /// [`Store::reclaim_pack`] of a pack in the database: its chunks and its row go in one
    /// transaction, unless its writer still holds its lock or a row points at it.
    fn reclaim_db_pack(&mut self, id: &str) -> Result<bool> {
        self.write(|tx| -> Result<bool> {
            let free = tx
                .row(
                    "SELECT pg_try_advisory_xact_lock(?1)",
                    args![super::pgpack::lock_key(id)],
                )?
                .map(|r| r.get::<bool>(0))
                .transpose()?
                .unwrap_or(false);
            if !free {
                return Ok(false);
            }
            if tx.pack_in_use(id)? {
                return Ok(false);
            }
            tx.exec("DELETE FROM content_chunk WHERE pack = ?1", args![id])?;
            Ok(tx.exec("DELETE FROM content_pack WHERE id = ?1", args![id])? > 0)
        })
    }

    /// Deletes pack files that no `content_pack` row and no item names: what a writer killed
    /// between creating its pack and registering it leaves, or a reclaim or purge killed between
    /// its commit and the file's deletion. A file is deleted only while this process holds its
    /// lock (a live writer holds it from creation on, and checks after locking that its file is
    /// still there), and only after a transaction found no row for it.
    fn reclaim_unregistered(&mut self) -> Result<u64> {
        let root = self.content_dir();
        let dirs = match fs::read_dir(&root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(unavailable(&root, "cannot list the content directory", &e)),
        };
        // Every pack the store names, in one query; only files outside it are looked at again.
        let known = self.read(|tx| -> Result<std::collections::HashSet<String>> {
            tx.rows(
                "SELECT id FROM content_pack UNION SELECT DISTINCT pack FROM item WHERE pack IS NOT NULL
                 UNION SELECT DISTINCT pack FROM spo_file WHERE pack IS NOT NULL
                 UNION SELECT DISTINCT pack FROM chat_hosted_content
                 UNION SELECT DISTINCT pack FROM meeting_recording",
                args![],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
        })?;
        let mut removed = 0;
        for d in dirs {
            let d = d.map_err(|e| unavailable(&root, "cannot list the content directory", &e))?;
            let dir = d.path();
            if !dir.is_dir() {
                continue;
            }
            let files = fs::read_dir(&dir)
                .map_err(|e| unavailable(&dir, "cannot list the content directory", &e))?;
            let before = removed;
            for f in files {
                let f =
                    f.map_err(|e| unavailable(&dir, "cannot list the content directory", &e))?;
                let path = f.path();
                let name = f.file_name().to_string_lossy().into_owned();
                let Some(id) = name.strip_suffix(".pack") else {
                    continue;
                };
                if known.contains(id) {
                    continue;
                }
                let lock = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(unavailable(&path, "cannot open the content file", &e)),
                };
                match lock.try_lock() {
                    Ok(()) => {}
                    Err(fs::TryLockError::WouldBlock) => continue,
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(unavailable(&path, "cannot lock the content file", &e))
                    }
                }
                // Locked: a writer that registers it now has not locked it yet, and will find
                // it deleted. Check once more that nothing names it, then delete it.
                let orphan = self.write(|tx| -> Result<bool> {
                    Ok(tx
                        .row(
                            "SELECT NOT (EXISTS (SELECT 1 FROM content_pack WHERE id = ?1)
                                 OR EXISTS (SELECT 1 FROM item WHERE pack = ?1)
                                 OR EXISTS (SELECT 1 FROM spo_file WHERE pack = ?1)
                                 OR EXISTS (SELECT 1 FROM chat_hosted_content WHERE pack = ?1)
                                 OR EXISTS (SELECT 1 FROM meeting_recording WHERE pack = ?1))",
                            args![id],
                        )?
                        .map(|r| r.get::<bool>(0))
                        .transpose()?
                        .unwrap_or(false))
                })?;
                if !orphan {
                    continue;
                }
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(unavailable(&path, "cannot delete the content file", &e)),
                }
                drop(lock);
            }
            if removed > before {
                sync_dir(&dir)?;
            }
        }
        Ok(removed)
    }

    /// Removes a mailbox's content directory with whatever it still holds (after a purge
    /// deleted its items and [`Store::reclaim_packs`] its packs).
    pub fn remove_mailbox_content(&mut self, mailbox_guid: &str) -> Result<()> {
        let dir = self.content_dir().join(mailbox_guid);
        match fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.content_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(&dir, "cannot delete the content directory", &e)),
        }
    }
}

/// Why an item's content could not be opened in its pack.
#[derive(Debug)]
pub enum PackReadError {
    Open(PathBuf, io::Error),
    Truncated {
        path: PathBuf,
        have: u64,
        need: u64,
    },
    /// A pack in the database whose chunks end before the item does.
    DbTruncated {
        pack: String,
        have: u64,
        need: u64,
    },
    /// The database did not answer the read of a pack's chunks.
    Db(String, String),
}

impl std::fmt::Display for PackReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackReadError::Open(p, e) if e.kind() == io::ErrorKind::NotFound => {
                write!(f, "its content file {} is missing", p.display())
            }
            PackReadError::Open(p, e) => {
                write!(f, "its content file {} cannot be read: {e}", p.display())
            }
            PackReadError::Truncated { path, have, need } => write!(
                f,
                "its content file {} is truncated ({have} bytes; the item ends at byte {need})",
                path.display()
            ),
            PackReadError::DbTruncated { pack, have, need } => write!(
                f,
                "its content (pack {pack}, in the database) is incomplete ({have} bytes; the item ends at byte {need})"
            ),
            PackReadError::Db(pack, e) => {
                write!(f, "its content (pack {pack}, in the database) cannot be read: {e}")
            }
        }
    }
}

/// An item's bytes in its pack, as [`Tx::open_pack_range`] opened them.
pub enum PackRange<'a, 'c> {
    File(io::Take<File>),
    Db(super::pgpack::DbRange<'a, 'c>),
}

impl Read for PackRange<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            PackRange::File(f) => f.read(out),
            PackRange::Db(d) => d.read(out),
        }
    }
}

impl<'c> Tx<'c> {
    /// Where content pack files live (see [`Store::content_dir`]).
    pub fn content_dir(&self) -> PathBuf {
        content_dir_of(self.data_dir)
    }

    /// Opens `len` bytes at `offset` of a pack for reading. A missing file or one shorter than
    /// the row says is [`PackReadError`], which names the file and the bytes expected.
    pub fn open_pack_range<'a>(
        &'a self,
        mailbox_guid: &str,
        id: &str,
        offset: u64,
        len: u64,
    ) -> std::result::Result<PackRange<'a, 'c>, PackReadError> {
        if self.is_postgres() {
            let in_db = self
                .pack_in_database(id)
                .map_err(|e| PackReadError::Db(id.to_string(), e.to_string()))?;
            if in_db {
                return super::pgpack::DbRange::open(self, id, offset, len).map(PackRange::Db);
            }
        }
        self.open_file_range(mailbox_guid, id, offset, len)
            .map(PackRange::File)
    }

    /// Whether an item or a SharePoint file points into pack `id`.
    fn pack_in_use(&self, id: &str) -> Result<bool> {
        Ok(self
            .row(
                "SELECT EXISTS (SELECT 1 FROM item WHERE pack = ?1)
                     OR EXISTS (SELECT 1 FROM spo_file WHERE pack = ?1)
                     OR EXISTS (SELECT 1 FROM chat_hosted_content WHERE pack = ?1)
                     OR EXISTS (SELECT 1 FROM meeting_recording WHERE pack = ?1)",
                args![id],
            )?
            .map(|r| r.get::<bool>(0))
            .transpose()?
            .unwrap_or(false))
    }

    /// Whether pack `id` keeps its bytes in the database (else in a file, or it is unknown).
    pub(crate) fn pack_in_database(&self, id: &str) -> Result<bool> {
        Ok(self
            .row("SELECT storage FROM content_pack WHERE id = ?1", args![id])?
            .map(|r| r.get::<String>(0))
            .transpose()?
            .is_some_and(|s| s == "database"))
    }

    fn open_file_range(
        &self,
        mailbox_guid: &str,
        id: &str,
        offset: u64,
        len: u64,
    ) -> std::result::Result<io::Take<File>, PackReadError> {
        let path = pack_path_of(self.data_dir, mailbox_guid, id);
        let mut f = File::open(&path).map_err(|e| PackReadError::Open(path.clone(), e))?;
        let have = f
            .metadata()
            .map_err(|e| PackReadError::Open(path.clone(), e))?
            .len();
        if have < offset + len {
            return Err(PackReadError::Truncated {
                path,
                have,
                need: offset + len,
            });
        }
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| PackReadError::Open(path.clone(), e))?;
        // Read front to back: a larger read-ahead (advice only; ignored where unsupported).
        #[cfg(target_os = "linux")]
        let _ = rustix::fs::fadvise(
            &f,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::Sequential,
        );
        Ok(f.take(len))
    }

    /// Packs of a mailbox (ids), oldest first.
    pub fn packs_of(&self, mailbox_guid: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT id FROM content_pack WHERE mailbox_guid = ?1 ORDER BY when_created",
            args![mailbox_guid],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect()
    }
}

/// Alignment of direct (`O_DIRECT`) writes: buffer address, file offset and length.
const ALIGN: usize = 4096;

/// A write buffer of [`PACK_BUFFER`] bytes starting at an [`ALIGN`]ed address.
struct Buf {
    raw: Vec<u8>,
    start: usize,
}

impl Buf {
    fn new() -> Buf {
        let raw = vec![0u8; PACK_BUFFER + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        Buf { raw, start }
    }
    fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + PACK_BUFFER]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + PACK_BUFFER]
    }
}

enum Job {
    /// `len` bytes of the buffer, to be written at `offset` (always [`ALIGN`]ed).
    Write(Buf, u64, usize),
    Sync(u64),
}

/// Opens the pack again for direct I/O (no copy into the page cache; the disk reads the
/// buffers), where the platform and file system allow it.
/// Whether `file` is on tmpfs (memory).
fn in_memory(file: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        // f_type is i64 here, narrower on some targets.
        #[allow(clippy::useless_conversion)]
        let is_tmpfs = |s: rustix::fs::StatFs| i64::from(s.f_type) == TMPFS_MAGIC;
        rustix::fs::fstatfs(file).is_ok_and(is_tmpfs)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        false
    }
}

fn open_direct(path: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
            .open(path)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// The writer thread's side: full aligned blocks go through the direct descriptor when there
/// is one, a partial last block through the ordinary one (the next buffer rewrites that block
/// whole, with the same bytes first).
struct BlockWriter {
    buffered: File,
    direct: Option<File>,
}

impl BlockWriter {
    fn write(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let aligned = data.len() - data.len() % ALIGN;
        let mut done = 0;
        if aligned > 0 && data.as_ptr().align_offset(ALIGN) == 0 {
            if let Some(d) = &self.direct {
                match d.write_all_at(&data[..aligned], offset) {
                    Ok(()) => done = aligned,
                    // The file system refused direct I/O: write through the page cache.
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => self.direct = None,
                    Err(e) => return Err(e),
                }
            }
        }
        self.buffered
            .write_all_at(&data[done..], offset + done as u64)
    }
}

/// What the writer threads share. Full buffers are written in parallel (each at its own
/// aligned offset, so two writes are in flight at the disk); a partial buffer (only handed over
/// before a sync) and the sync itself are barriers: the thread that takes one keeps the queue
/// until every earlier write is done, so the block the next buffer rewrites is complete first
/// and a sync covers everything before it.
struct WriterShared {
    jobs: Mutex<Receiver<Job>>,
    in_flight: Mutex<usize>,
    idle: Condvar,
    failed: AtomicBool,
    free: SyncSender<Buf>,
    sync: Mutex<mpsc::Sender<u64>>,
    acks: mpsc::Sender<io::Result<u64>>,
}

impl WriterShared {
    fn write(&self, w: &mut BlockWriter, buf: &Buf, offset: u64, n: usize) {
        if self.failed.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = w.write(&buf.bytes()[..n], offset) {
            self.failed.store(true, Ordering::SeqCst);
            let _ = self.acks.send(Err(e));
        }
    }

    /// Waits until no other writer has a write in flight.
    fn drain(&self) -> bool {
        let Ok(mut n) = self.in_flight.lock() else {
            return false;
        };
        while *n > 0 {
            n = match self.idle.wait(n) {
                Ok(n) => n,
                Err(_) => return false,
            };
        }
        true
    }

    fn add_in_flight(&self, d: isize) -> bool {
        let Ok(mut n) = self.in_flight.lock() else {
            return false;
        };
        *n = n.saturating_add_signed(d);
        self.idle.notify_all();
        true
    }

    fn run(&self, mut w: BlockWriter) {
        loop {
            let Ok(queue) = self.jobs.lock() else { return };
            let Ok(job) = queue.recv() else { return };
            match job {
                Job::Write(buf, offset, n) if n == PACK_BUFFER => {
                    if !self.add_in_flight(1) {
                        return;
                    }
                    drop(queue);
                    self.write(&mut w, &buf, offset, n);
                    if !self.add_in_flight(-1) || self.free.send(buf).is_err() {
                        return;
                    }
                }
                Job::Write(buf, offset, n) => {
                    if !self.drain() {
                        return;
                    }
                    self.write(&mut w, &buf, offset, n);
                    if self.free.send(buf).is_err() {
                        return;
                    }
                }
                Job::Sync(upto) => {
                    if !self.drain() {
                        return;
                    }
                    if !self.failed.load(Ordering::SeqCst) {
                        let Ok(sync) = self.sync.lock() else { return };
                        if sync.send(upto).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Appends to a [`PackFile`] from helper threads: [`PACK_WRITERS`] write full buffers (large
/// sequential writes, direct I/O where possible), one fsyncs on request, so encryption, writing and flushing
/// to disk overlap. Memory is bounded by [`PACK_BUFFERS`] buffers of [`PACK_BUFFER`] bytes.
struct FileAppender {
    path: PathBuf,
    jobs: Option<SyncSender<Job>>,
    free: Receiver<Buf>,
    acks: Receiver<io::Result<u64>>,
    cur: Option<Buf>,
    /// Bytes of `cur` in use; `cur` starts at file offset `pos - fill`.
    fill: usize,
    pos: u64,
    /// The partial last block handed over at a sync, which the next buffer starts with.
    carry: Vec<u8>,
    durable: u64,
    /// File length reserved so far.
    reserved: u64,
    /// False once the file system refused to reserve.
    can_reserve: bool,
    threads: Vec<JoinHandle<()>>,
    /// Keeps the pack locked while this appender lives (the threads hold clones).
    file: File,
}

/// Appends to a [`PackFile`], wherever its bytes live; the same calls for both.
pub struct PackAppender {
    pub id: String,
    pub mailbox_guid: String,
    inner: Appender,
}

enum Appender {
    File(FileAppender),
    Db(super::pgpack::DbAppender),
}

macro_rules! each {
    ($self:expr, $a:ident => $e:expr) => {
        match $self {
            Appender::File($a) => $e,
            Appender::Db($a) => $e,
        }
    };
}

impl PackAppender {
    pub fn start(pack: PackFile) -> Result<PackAppender> {
        let PackFile {
            id,
            mailbox_guid,
            path,
            sink,
        } = pack;
        let inner = match sink {
            Sink::File(file) => Appender::File(FileAppender::start(path, file)?),
            Sink::Db(client) => {
                Appender::Db(super::pgpack::DbAppender::start(id.clone(), *client)?)
            }
        };
        Ok(PackAppender {
            id,
            mailbox_guid,
            inner,
        })
    }

    /// The pack's file; for a pack in the database, how messages name it.
    pub fn path(&self) -> &Path {
        each!(&self.inner, a => a.path())
    }

    /// Bytes appended so far (the offset the next item starts at).
    pub fn position(&self) -> u64 {
        each!(&self.inner, a => a.position())
    }

    /// Appends everything `src` yields; returns the number of bytes. An error here is a read
    /// error of `src` (write errors show in [`PackAppender::durable`]).
    pub fn append_from(&mut self, src: &mut dyn Read) -> io::Result<u64> {
        each!(&mut self.inner, a => a.append_from(src))
    }

    /// Hands over what is buffered and asks for everything appended so far to be made durable
    /// (an fsync, or a commit); returns the offset that will be durable when it is acknowledged.
    pub fn request_sync(&mut self) -> io::Result<u64> {
        each!(&mut self.inner, a => a.request_sync())
    }

    /// The offset up to which the pack is known durable; with `wait_for`, blocks until at least
    /// that offset is. A write, fsync or commit failure is returned here.
    pub fn durable(&mut self, wait_for: Option<u64>) -> io::Result<u64> {
        each!(&mut self.inner, a => a.durable(wait_for))
    }

    /// Makes everything durable and stops the writer.
    pub fn finish(self) -> io::Result<u64> {
        match self.inner {
            Appender::File(a) => a.finish(),
            Appender::Db(a) => a.finish(),
        }
    }
}

impl FileAppender {
    fn start(path: PathBuf, file: File) -> Result<FileAppender> {
        let clone = |f: &File| {
            f.try_clone()
                .map_err(|e| unavailable(&path, "cannot open the content file", &e))
        };
        let syncer = clone(&file)?;
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(PACK_BUFFERS);
        let (free_tx, free_rx) = mpsc::sync_channel::<Buf>(PACK_BUFFERS);
        let (sync_tx, sync_rx) = mpsc::channel::<u64>();
        let (ack_tx, ack_rx) = mpsc::channel::<io::Result<u64>>();
        for _ in 0..PACK_BUFFERS {
            let _ = free_tx.send(Buf::new());
        }
        let shared = Arc::new(WriterShared {
            jobs: Mutex::new(jobs_rx),
            in_flight: Mutex::new(0),
            idle: Condvar::new(),
            failed: AtomicBool::new(false),
            free: free_tx,
            sync: Mutex::new(sync_tx),
            acks: ack_tx.clone(),
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| unavailable(&path, "cannot start the content writer", &e))
        };
        let mut threads = Vec::new();
        let mut direct_io = false;
        // On tmpfs two writers only spin on the file's lock against each other.
        let memory = in_memory(&file);
        for _ in 0..if memory { 1 } else { PACK_WRITERS } {
            let w = BlockWriter {
                buffered: clone(&file)?,
                direct: open_direct(&path),
            };
            direct_io |= w.direct.is_some();
            let shared = Arc::clone(&shared);
            threads.push(spawn("pack-writer", Box::new(move || shared.run(w)))?);
        }
        drop(shared);
        let s = spawn(
            "pack-sync",
            Box::new(move || {
                for upto in sync_rx {
                    let r = syncer.sync_data().map(|()| upto);
                    let stop = r.is_err();
                    if ack_tx.send(r).is_err() || stop {
                        break;
                    }
                }
            }),
        )?;
        Ok(FileAppender {
            path,
            jobs: Some(jobs_tx),
            free: free_rx,
            acks: ack_rx,
            cur: None,
            fill: 0,
            pos: 0,
            carry: Vec::with_capacity(ALIGN),
            durable: 0,
            reserved: 0,
            // Reserving helps direct writes only (they would extend the file one by one); on
            // tmpfs, which takes O_DIRECT but writes through its page cache anyway, it would
            // allocate and zero every page ahead of the copy that fills it.
            can_reserve: direct_io && !memory,
            threads: {
                threads.push(s);
                threads
            },
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended so far (the offset the next item starts at).
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn stopped(&self) -> io::Error {
        io::Error::other(format!(
            "the writer of {} stopped; see the error before this one",
            self.path.display()
        ))
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        match &self.jobs {
            Some(j) if j.send(job).is_ok() => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// The buffer being filled, taking a free one (starting with the carried-over partial
    /// block) when there is none.
    fn take_buf(&mut self) -> io::Result<Buf> {
        if let Some(b) = self.cur.take() {
            return Ok(b);
        }
        let mut b = self.free.recv().map_err(|_| self.stopped())?;
        self.fill = self.carry.len();
        b.bytes_mut()[..self.fill].copy_from_slice(&self.carry);
        self.carry.clear();
        Ok(b)
    }

    /// Reserves file space up to at least `end` (best effort: a file system that cannot is
    /// simply written without).
    #[cfg(target_os = "linux")]
    fn reserve(&mut self, end: u64) {
        if self.can_reserve && self.reserved < end {
            let len = (end - self.reserved).max(PACK_RESERVE);
            let flags = rustix::fs::FallocateFlags::empty();
            match rustix::fs::fallocate(&self.file, flags, self.reserved, len) {
                Ok(()) => self.reserved += len,
                Err(_) => self.can_reserve = false,
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(&mut self, _end: u64) {}

    /// Hands the current buffer to the writer; a partial last block is carried over.
    fn hand_over(&mut self, buf: Buf) -> io::Result<()> {
        let n = self.fill;
        let offset = self.pos - n as u64;
        self.reserve(offset + PACK_BUFFER as u64);
        let tail = n % ALIGN;
        self.carry.clear();
        self.carry.extend_from_slice(&buf.bytes()[n - tail..n]);
        self.fill = 0;
        self.send(Job::Write(buf, offset, n))
    }

    /// Appends everything `src` yields; returns the number of bytes. An error here is a read
    /// error of `src` (write errors show in [`PackAppender::durable`]).
    pub fn append_from(&mut self, src: &mut dyn Read) -> io::Result<u64> {
        let start = self.pos;
        loop {
            let mut buf = self.take_buf()?;
            let n = match src.read(&mut buf.bytes_mut()[self.fill..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.cur = Some(buf);
                    continue;
                }
                Err(e) => {
                    self.cur = Some(buf);
                    return Err(e);
                }
            };
            self.fill += n;
            self.pos += n as u64;
            if self.fill == PACK_BUFFER {
                self.hand_over(buf)?;
            } else {
                self.cur = Some(buf);
                if n == 0 {
                    return Ok(self.pos - start);
                }
            }
        }
    }

    /// Hands over what is buffered and asks for an fsync of everything appended so far;
    /// returns the offset that will be durable when it is acknowledged.
    pub fn request_sync(&mut self) -> io::Result<u64> {
        if let Some(buf) = self.cur.take() {
            if self.fill > 0 {
                self.hand_over(buf)?;
            } else {
                self.cur = Some(buf);
            }
        }
        self.send(Job::Sync(self.pos))?;
        Ok(self.pos)
    }

    /// The offset up to which the pack is known durable; with `wait_for`, blocks until at least
    /// that offset is. A write or fsync failure is returned here.
    pub fn durable(&mut self, wait_for: Option<u64>) -> io::Result<u64> {
        loop {
            let ack = match wait_for {
                Some(w) if self.durable < w => self.acks.recv().map_err(|_| self.stopped())?,
                _ => match self.acks.try_recv() {
                    Ok(a) => a,
                    Err(_) => return Ok(self.durable),
                },
            };
            self.durable = self.durable.max(ack?);
        }
    }

    /// Makes everything durable, stops the threads and cuts off the reserve past the end.
    pub fn finish(mut self) -> io::Result<u64> {
        let upto = self.request_sync()?;
        let res = self.durable(Some(upto));
        self.stop();
        let upto = res?;
        if self.reserved > upto {
            self.file.set_len(upto)?;
            self.file.sync_data()?;
        }
        Ok(upto)
    }

    fn stop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for FileAppender {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A new store in a temporary directory with one pack of mailbox `mbx` being appended to.
    fn new_pack() -> (tempfile::TempDir, Store, PathBuf, PackAppender) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("service.db")).unwrap();
        let pack = store.create_pack("mbx").unwrap();
        let path = pack.path.clone();
        (dir, store, path, PackAppender::start(pack).unwrap())
    }

    /// Appends of every size, with syncs between them (partial blocks carried over and
    /// rewritten), give back exactly the bytes appended, at the positions reported.
    #[test]
    fn appends_and_syncs_of_any_size_give_back_the_same_bytes() {
        let (_dir, _store, path, mut out) = new_pack();
        let mut want = Vec::new();
        let mut x: u32 = 1;
        let sizes = [
            0usize,
            1,
            99,
            4095,
            4096,
            4097,
            PACK_BUFFER - 1,
            PACK_BUFFER + 1,
            3 * PACK_BUFFER + 5,
            7,
        ];
        for (i, &len) in sizes.iter().cycle().take(40).enumerate() {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            assert_eq!(out.position(), want.len() as u64);
            let n = out.append_from(&mut &data[..]).unwrap();
            assert_eq!(n, len as u64);
            want.extend_from_slice(&data);
            if i % 3 == 0 {
                let upto = out.request_sync().unwrap();
                assert_eq!(upto, want.len() as u64);
                assert!(out.durable(Some(upto)).unwrap() >= upto);
                // The file may be longer (space reserved ahead); its start is what was appended.
                let got = fs::read(&path).unwrap();
                assert_eq!(&got[..want.len()], &want[..], "after append {i}");
            }
        }
        assert_eq!(out.finish().unwrap(), want.len() as u64);
        assert_eq!(fs::read(&path).unwrap(), want);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn reclaim_keeps_a_pack_its_writer_holds_and_deletes_it_once_released() {
        let (_dir, mut store, path, mut out) = new_pack();
        out.append_from(&mut &b"orphan bytes"[..]).unwrap();
        assert_eq!(store.reclaim_packs().unwrap(), 0);
        assert!(path.exists());
        out.finish().unwrap();
        assert_eq!(store.reclaim_packs().unwrap(), 1);
        assert!(!path.exists());
        let left = store
            .read(|tx| -> Result<Vec<String>> { tx.packs_of("mbx") })
            .unwrap();
        assert!(left.is_empty());
    }

    #[test]
    fn files_no_row_names_are_reclaimed_unless_a_writer_holds_them() {
        let (_dir, mut store, path, out) = new_pack();
        let mbx = path.parent().unwrap().to_path_buf();
        // What a writer killed between creating its pack and registering it leaves, and what a
        // reclaim killed between its commit and the file's deletion leaves: files no row names.
        let orphan = mbx.join(format!("{}.pack", uuid::Uuid::new_v4()));
        fs::write(&orphan, b"killed before it was registered").unwrap();
        let other_dir = store.content_dir().join("purged-mailbox");
        fs::create_dir_all(&other_dir).unwrap();
        let purged = other_dir.join(format!("{}.pack", uuid::Uuid::new_v4()));
        fs::write(&purged, b"ciphertext of a purged mailbox").unwrap();
        // One a live writer holds (locked, not yet registered) stays.
        let held_path = mbx.join(format!("{}.pack", uuid::Uuid::new_v4()));
        let held = File::create(&held_path).unwrap();
        held.lock().unwrap();
        // Not a pack file: not touched.
        let note = mbx.join("README");
        fs::write(&note, b"x").unwrap();
        assert_eq!(store.reclaim_packs().unwrap(), 2);
        assert!(!orphan.exists() && !purged.exists());
        assert!(held_path.exists() && note.exists() && path.exists());
        drop(held);
        out.finish().unwrap();
        // Its writer released it, and no row names either: both go.
        assert_eq!(store.reclaim_packs().unwrap(), 2);
        assert!(!held_path.exists() && !path.exists());
    }
}
