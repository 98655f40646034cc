//! Content packs whose bytes live in the database: the default for a PostgreSQL store, so that
//! the database alone holds every row and every byte of content (docs/store.md, "Content").
//!
//! A pack is the same logical thing as a pack file (store/pack.rs): an append-only run of
//! ciphertext that items and SharePoint files point into by (pack, offset, length). Here its
//! bytes are `content_chunk` rows, each `data` holding the bytes that start at `off`; the
//! chunks of a pack are contiguous and do not overlap.
//!
//! The rules that keep a kill at any point harmless are those of pack files, with PostgreSQL
//! doing what the file system did:
//!
//! - the writer holds a session advisory lock on the pack (its own connection, from the store's
//!   pool, pg::Pool, which releases the lock before reusing the connection; taken before the
//!   `content_pack` row is registered) for as long as it writes; a reclaim takes the same lock
//!   with `pg_try_advisory_xact_lock` inside its write transaction and leaves a pack it cannot
//!   lock alone. A killed writer's session ends, and its lock with it;
//! - chunks commit (one transaction per sync) before the rows that point at them, so a committed
//!   row never points at missing bytes;
//! - chunks a killed writer committed after its last item commit are named by no item: they go
//!   with their pack when it is reclaimed. A chunk cannot outlive its pack: `content_chunk.pack`
//!   references `content_pack`, and a reclaim deletes both in one transaction.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use postgres::Client;

use super::pg::Pooled;

use super::db::args;
use super::pack::{PackReadError, PACK_BUFFER, PACK_BUFFERS};
use super::{Result, StoreError, Tx};

/// The advisory lock of pack `id`: its first 8 bytes as a number (ids are random UUIDs), kept
/// apart from the store's own locks by the top bit pattern they never take.
pub(crate) fn lock_key(id: &str) -> i64 {
    let hex: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    let v = u64::from_str_radix(&hex, 16).unwrap_or(0);
    // The store's own locks (pg.rs) are small ASCII words; a pack's never is.
    (v | (1 << 62)) as i64
}

/// How a pack in the database is named in messages (in place of a file's path).
pub(crate) fn label(id: &str) -> PathBuf {
    PathBuf::from(format!("content pack {id} (in the database)"))
}

/// Takes pack `id`'s lock on `client`, a connection of its own: held until the writer ends.
pub(crate) fn lock(client: &mut Client, id: &str, shown: &str) -> Result<()> {
    client
        .query_one("SELECT pg_advisory_lock($1)", &[&lock_key(id)])
        .map_err(|e| StoreError::Postgres {
            url: shown.to_string(),
            detail: format!("cannot lock the new content pack: {e}"),
            help: "check that the server is running; nothing was stored".into(),
        })?;
    Ok(())
}

enum Job {
    /// Bytes to store at this offset of the pack.
    Write(u64, Vec<u8>),
    /// Commit everything written so far; acknowledged with this offset.
    Sync(u64),
}

/// Appends to a pack in the database from a writer thread with its own connection: buffers of
/// [`PACK_BUFFER`] bytes become chunk rows, and each sync commits them, so encryption and the
/// database's writes overlap. Memory is bounded by [`PACK_BUFFERS`] buffers.
pub(crate) struct DbAppender {
    label: PathBuf,
    jobs: Option<SyncSender<Job>>,
    free: Receiver<Vec<u8>>,
    acks: Receiver<io::Result<u64>>,
    cur: Vec<u8>,
    pos: u64,
    durable: u64,
    thread: Option<JoinHandle<()>>,
}

impl DbAppender {
    /// Starts the writer of pack `id` on `client`, which holds the pack's lock.
    pub(crate) fn start(id: String, client: Pooled) -> Result<DbAppender> {
        let label = label(&id);
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(PACK_BUFFERS);
        let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(PACK_BUFFERS);
        let (ack_tx, ack_rx) = mpsc::channel::<io::Result<u64>>();
        for _ in 1..PACK_BUFFERS {
            let _ = free_tx.send(Vec::with_capacity(PACK_BUFFER));
        }
        let thread = std::thread::Builder::new()
            .name("pack-writer-db".into())
            .spawn(move || write_chunks(id, client, jobs_rx, free_tx, ack_tx))
            .map_err(|e| StoreError::Unavailable {
                path: label.clone(),
                detail: format!("cannot start the content writer: {e}"),
            })?;
        Ok(DbAppender {
            label,
            jobs: Some(jobs_tx),
            free: free_rx,
            acks: ack_rx,
            cur: Vec::with_capacity(PACK_BUFFER),
            pos: 0,
            durable: 0,
            thread: Some(thread),
        })
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.label
    }

    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    fn stopped(&self) -> io::Error {
        io::Error::other(format!(
            "the writer of {} stopped; see the error before this one",
            self.label.display()
        ))
    }

    /// Hands the filled part of the current buffer to the writer.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.cur.is_empty() {
            return Ok(());
        }
        let next = self.free.recv().map_err(|_| self.stopped())?;
        let full = std::mem::replace(&mut self.cur, next);
        let at = self.pos - full.len() as u64;
        match &self.jobs {
            Some(j) if j.send(Job::Write(at, full)).is_ok() => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    pub(crate) fn append_from(&mut self, src: &mut dyn Read) -> io::Result<u64> {
        let start = self.pos;
        loop {
            let fill = self.cur.len();
            self.cur.resize(PACK_BUFFER, 0);
            let got = src.read(&mut self.cur[fill..]);
            let n = *got.as_ref().unwrap_or(&0);
            self.cur.truncate(fill + n);
            match got {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.pos += n as u64;
            if self.cur.len() == PACK_BUFFER {
                self.hand_over()?;
            } else if n == 0 {
                return Ok(self.pos - start);
            }
        }
    }

    pub(crate) fn request_sync(&mut self) -> io::Result<u64> {
        self.hand_over()?;
        match &self.jobs {
            Some(j) if j.send(Job::Sync(self.pos)).is_ok() => Ok(self.pos),
            _ => Err(self.stopped()),
        }
    }

    pub(crate) fn durable(&mut self, wait_for: Option<u64>) -> io::Result<u64> {
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

    pub(crate) fn finish(mut self) -> io::Result<u64> {
        let upto = self.request_sync()?;
        let res = self.durable(Some(upto));
        self.stop();
        res
    }

    fn stop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DbAppender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: chunk rows in one transaction per sync; on the first failure it says so
/// and stops (the appender then reports it). Ending the session releases the pack's lock.
fn write_chunks(
    id: String,
    mut client: Pooled,
    jobs: Receiver<Job>,
    free: SyncSender<Vec<u8>>,
    acks: mpsc::Sender<io::Result<u64>>,
) {
    let failed = |what: &str, e: postgres::Error| {
        io::Error::other(format!(
            "cannot {what} content pack {id} in the database: {}",
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        ))
    };
    let insert =
        match client.prepare("INSERT INTO content_chunk (pack, off, data) VALUES ($1, $2, $3)") {
            Ok(st) => st,
            Err(e) => {
                let _ = acks.send(Err(failed("write", e)));
                client.discard();
                return;
            }
        };
    let mut open = false;
    for job in jobs {
        let res = match job {
            Job::Write(at, mut data) => {
                let begun = match open {
                    true => Ok(()),
                    false => client.batch_execute("BEGIN"),
                };
                open = true;
                let off = i64::try_from(at).unwrap_or(i64::MAX);
                let r = begun
                    .and_then(|()| client.execute(&insert, &[&id, &off, &data.as_slice()]))
                    .map(|_| None);
                data.clear();
                let _ = free.send(data);
                r.map_err(|e| failed("write", e))
            }
            Job::Sync(upto) => {
                let r = match open {
                    true => client.batch_execute("COMMIT"),
                    false => Ok(()),
                };
                open = false;
                r.map(|()| Some(upto)).map_err(|e| failed("commit", e))
            }
        };
        match res {
            Ok(None) => {}
            Ok(Some(upto)) => {
                if acks.send(Ok(upto)).is_err() {
                    break;
                }
            }
            Err(e) => {
                let _ = acks.send(Err(e));
                drop(insert);
                client.discard();
                return;
            }
        }
    }
    // Chunks not yet committed are rolled back, and the pack's lock released, as the
    // connection goes back to the store's pool (or is closed): pg::Pooled.
    drop(insert);
    drop(client);
}

/// `len` bytes at `offset` of a pack in the database, read chunk by chunk in the reading
/// transaction (so within its snapshot).
pub struct DbRange<'a, 't> {
    tx: &'a Tx<'t>,
    pack: String,
    pos: u64,
    end: u64,
    chunk: Vec<u8>,
    chunk_at: u64,
}

const CHUNK_AT: &str =
    "SELECT off, data FROM content_chunk WHERE pack = ?1 AND off <= ?2 ORDER BY off DESC LIMIT 1";

impl<'a, 't> DbRange<'a, 't> {
    /// Opens the range; a pack whose chunks end before `offset + len` is
    /// [`PackReadError::DbTruncated`].
    pub(crate) fn open(
        tx: &'a Tx<'t>,
        pack: &str,
        offset: u64,
        len: u64,
    ) -> std::result::Result<DbRange<'a, 't>, PackReadError> {
        let end = offset.saturating_add(len);
        if len > 0 {
            let last = tx
                .row(
                    "SELECT off + length(data) FROM content_chunk WHERE pack = ?1 AND off <= ?2 ORDER BY off DESC LIMIT 1",
                    args![pack, end - 1],
                )
                .and_then(|r| r.map(|r| r.get::<i64>(0)).transpose())
                .map_err(|e| PackReadError::Db(pack.to_string(), e.to_string()))?
                .unwrap_or(0);
            let have = u64::try_from(last).unwrap_or(0);
            if have < end {
                return Err(PackReadError::DbTruncated {
                    pack: pack.to_string(),
                    have,
                    need: end,
                });
            }
        }
        Ok(DbRange {
            tx,
            pack: pack.to_string(),
            pos: offset,
            end,
            chunk: Vec::new(),
            chunk_at: 0,
        })
    }

    fn fetch(&mut self) -> io::Result<()> {
        let missing = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "content pack {} in the database has no bytes at offset {}",
                    self.pack, self.pos
                ),
            )
        };
        let row = self
            .tx
            .row(CHUNK_AT, args![self.pack, self.pos])
            .map_err(io::Error::other)?
            .ok_or_else(missing)?;
        let at: i64 = row.get(0).map_err(io::Error::other)?;
        let data: Vec<u8> = row.get(1).map_err(io::Error::other)?;
        let at = u64::try_from(at).map_err(|_| missing())?;
        if at + data.len() as u64 <= self.pos {
            return Err(missing());
        }
        self.chunk = data;
        self.chunk_at = at;
        Ok(())
    }
}

impl Read for DbRange<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end || out.is_empty() {
            return Ok(0);
        }
        let in_chunk = |r: &Self| r.chunk_at <= r.pos && r.pos < r.chunk_at + r.chunk.len() as u64;
        if !in_chunk(self) {
            self.fetch()?;
        }
        let from = (self.pos - self.chunk_at) as usize;
        let upto = (self.chunk.len() as u64).min(self.end - self.chunk_at) as usize;
        let n = (upto - from).min(out.len());
        out[..n].copy_from_slice(&self.chunk[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}
