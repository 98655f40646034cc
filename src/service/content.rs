//! Mailbox content: import (`.eml` files, a folder of them, or an mbox file), export
//! byte-identical, and move requests that re-encrypt a mailbox under a fresh key.
//!
//! Each message is one item, encrypted with the crypto core's streaming format under the
//! mailbox's current key and appended to a pack file of the mailbox (`store::PackAppender`);
//! memory stays bounded whatever the message size. An item becomes visible when its row
//! commits, which happens only after its bytes are fsynced, so a crash never leaves half an
//! item nor a row pointing at missing bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::keys::{audit, parse_guid, request_id, Purpose, ServiceKeys};
use super::mail_input::{message_too_large, sources};
use super::mailbox::{current_key, open_key, target_dep};
use super::{now, recipient, Error, ErrorKind, Result};
use crate::crypto::{ItemBinding, MailboxKey};
use crate::model::RecipientScope;
use crate::store::{ItemRow, MailboxKeyRow, MoveRow, PackAppender, RecipientRow, Store, Tx};

/// Items are committed in batches: after this many ciphertext bytes ...
const BATCH_BYTES: u64 = 64 << 20;
/// ... or this many items, whichever comes first (bounds the rows held in memory).
const BATCH_ITEMS: usize = 1024;
/// Batches handed to the fsync thread but not yet committed, at most (bounds memory if the
/// disk falls behind).
const BATCHES_IN_FLIGHT: usize = 2;

/// Reads an item's ciphertext stored before schema 8 from its `item_segment` rows, one segment
/// at a time.
struct SegmentSource<'a, 't> {
    tx: &'a Tx<'t>,
    mailbox: &'a str,
    item: &'a str,
    n: u32,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for SegmentSource<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() && !self.done {
            match self
                .tx
                .segment(self.mailbox, self.item, self.n)
                .map_err(io::Error::other)?
            {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                    self.n += 1;
                }
                None => self.done = true,
            }
        }
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An item's stored ciphertext, from its pack file (or its `item_segment` rows for an item from
/// before schema 8). A missing or truncated pack file is an `Unavailable` error naming the item.
fn item_source<'a>(tx: &'a Tx, item: &'a ItemRow) -> Result<Opened<'a>> {
    let Some(pack) = &item.pack else {
        return Ok(Opened::Source(Box::new(SegmentSource {
            tx,
            mailbox: &item.mailbox_guid,
            item: &item.item_id,
            n: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
        })));
    };
    let opened = tx.open_pack_range(&item.mailbox_guid, pack, item.pack_offset, item.stored_size);
    let f = match opened {
        Ok(f) => f,
        Err(e) => {
            let gone = matches!(&e, crate::store::PackReadError::Open(_, io) if io.kind() == io::ErrorKind::NotFound);
            let mailbox = match tx.recipient(&item.mailbox_guid) {
                Ok(Some(r)) => format!("'{}' ({})", r.name, r.guid),
                _ => item.mailbox_guid.clone(),
            };
            let err = Error::new(
                ErrorKind::Unavailable,
                format!(
                    "item {} (number {}) of mailbox {mailbox} cannot be read: {e}",
                    item.item_id, item.seq
                ),
            )
            .with_help(format!(
                "the content directory {} belongs with the store: restore both from the same backup; the store itself was not changed",
                tx.content_dir().display()
            ));
            return Ok(if gone {
                Opened::Gone(err)
            } else {
                Opened::Failed(err)
            });
        }
    };
    Ok(Opened::Source(Box::new(io::BufReader::with_capacity(
        1 << 16,
        f,
    ))))
}

/// An item's content as [`item_source`] found it.
enum Opened<'a> {
    Source(Box<dyn Read + 'a>),
    /// Its pack file is not there: damage, or (in a snapshot older than a concurrent move's
    /// commit) a pack the move has just reclaimed; a fresh read of the row tells which.
    Gone(Error),
    /// Its pack file is there but shorter than the row says, or unreadable.
    Failed(Error),
}

/// What one read of an item's current row and content came to.
enum Fresh<T> {
    Done(T),
    /// The item was deleted meanwhile (a purge, an undone import).
    Deleted,
    /// Read again: another command re-encrypted or moved it since the row was read.
    Again(Option<Error>),
}

/// How many fresh reads an item gets while other commands keep moving it.
const FRESH_READS: usize = 4;

/// The keys of one mailbox a command has opened, by (id, version), each opened once; a key that
/// does not open is remembered with its error.
struct KeyRing {
    mailbox: String,
    purpose: Purpose,
    request: String,
    opened: Vec<(String, u32, std::result::Result<MailboxKey, Error>)>,
}

impl KeyRing {
    fn new(mailbox: &str, purpose: Purpose, request: &str) -> Self {
        KeyRing {
            mailbox: mailbox.to_string(),
            purpose,
            request: request.to_string(),
            opened: Vec::new(),
        }
    }

    fn find(&self, id: &str, version: u32) -> Option<&std::result::Result<MailboxKey, Error>> {
        self.opened
            .iter()
            .find(|(i, v, _)| i == id && *v == version)
            .map(|(_, _, k)| k)
    }

    /// The key of `row`, opened if it was not yet.
    fn open(
        &mut self,
        store: &mut Store,
        keys: &mut ServiceKeys,
        row: &MailboxKeyRow,
    ) -> std::result::Result<&MailboxKey, Error> {
        let (id, version) = (&row.key_id, row.key_version);
        let i = match self
            .opened
            .iter()
            .position(|(i, v, _)| i == id && *v == version)
        {
            Some(i) => i,
            None => {
                let k = open_key(store, keys, row, self.purpose, &self.request);
                self.opened.push((id.clone(), version, k));
                self.opened.len() - 1
            }
        };
        self.opened[i].2.as_ref().map_err(Error::clone)
    }

    /// Makes sure the key an item is under is opened (or its failure known, a key gone from the
    /// store included, so it is looked up once).
    fn ensure(&mut self, store: &mut Store, keys: &mut ServiceKeys, item: &ItemRow) -> Result<()> {
        if let Some(k) = self.find(&item.key_id, item.key_version) {
            return k.as_ref().map(|_| ()).map_err(Error::clone);
        }
        let rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&self.mailbox)?) })?;
        let Some(row) = rows
            .into_iter()
            .find(|k| k.key_id == item.key_id && k.key_version == item.key_version)
        else {
            let gone = Error::new(
                ErrorKind::Unavailable,
                format!("its key ({} version {}) is gone from the store", item.key_id, item.key_version),
            )
            .with_help("the item cannot be decrypted by anyone; restore the store (and content/) from a backup taken before the key was lost");
            self.opened
                .push((item.key_id.clone(), item.key_version, Err(gone.clone())));
            return Err(gone);
        };
        self.open(store, keys, &row).map(|_| ())
    }
}

/// Reads the item's row afresh and runs `f` on it, its (opened) key and its content, in one read
/// transaction; `f` may ask for another read ([`Fresh::Again`]). A pack file missing in one
/// snapshot is read again in a newer one (a concurrent move may have reclaimed it after moving
/// the item elsewhere); missing in every one, it is an error. `Ok(None)`: the item was deleted.
fn read_fresh<T>(
    store: &mut Store,
    keys: &mut ServiceKeys,
    ring: &mut KeyRing,
    hint: &ItemRow,
    mut f: impl FnMut(&ItemRow, &MailboxKey, Box<dyn Read + '_>) -> Result<Fresh<T>>,
) -> Result<Option<T>> {
    let mut last = None;
    let mailbox = ring.mailbox.clone();
    let item_id = hint.item_id.as_str();
    // The first read trusts the row the caller listed to pick the key (one transaction per
    // item); a later one reads the row again, as it may have moved under another key.
    let mut row = Some(hint.clone());
    for _ in 0..FRESH_READS {
        let known = match row.take() {
            Some(r) => r,
            None => match store.read(|tx| -> Result<_> { Ok(tx.item(&mailbox, item_id)?) })? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        if let Err(e) = ring.ensure(store, keys, &known) {
            // The row listed may be stale: a concurrent move may have re-encrypted the item
            // under its new key and deleted this one. Only a row that still names the key that
            // does not open is an error.
            match store.read(|tx| -> Result<_> { Ok(tx.item(&mailbox, item_id)?) })? {
                None => return Ok(None),
                Some(now) if now.key_id == known.key_id && now.key_version == known.key_version => {
                    return Err(e)
                }
                Some(now) => {
                    row = Some(now);
                    last = Some(e);
                    continue;
                }
            }
        }
        let r = store.read(|tx| -> Result<Fresh<T>> {
            let Some(now) = tx.item(&mailbox, item_id)? else {
                return Ok(Fresh::Deleted);
            };
            let key = match ring.find(&now.key_id, now.key_version) {
                Some(Ok(k)) => k,
                Some(Err(e)) => return Err(e.clone()),
                None => return Ok(Fresh::Again(None)),
            };
            let res = match item_source(tx, &now)? {
                Opened::Source(src) => f(&now, key, src),
                Opened::Gone(e) => Ok(Fresh::Again(Some(e))),
                Opened::Failed(e) => Err(e),
            };
            res
        })?;
        match r {
            Fresh::Done(t) => return Ok(Some(t)),
            Fresh::Deleted => return Ok(None),
            Fresh::Again(e) => last = e.or(last),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::new(
            ErrorKind::Unavailable,
            format!("item {item_id} kept changing while it was read (other commands are moving the mailbox)"),
        )
        .with_help("run the command again when the move requests of the mailbox are done (Get-MoveRequest)")
    }))
}

/// Counts the bytes read through it (an item's plaintext size).
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn store_io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("cannot {what} {}: {e}", path.display()),
    )
    .with_help("check the disk (space, permissions) of the store's directory; nothing of the unfinished batch is visible")
}

/// Appends `src` encrypted (or re-encrypted) to a pack; maps read errors: a content
/// authentication failure stays a crypto error, anything else is `what` of `label`.
fn append_item(
    out: &mut PackAppender,
    src: &mut dyn Read,
    kind: ErrorKind,
    what: &str,
    label: &str,
) -> Result<u64> {
    out.append_from(src)
        .map_err(|e| match crate::crypto::CryptoError::from_io(&e) {
            Some(c) => Error::from(c.clone()),
            None => Error::new(kind, format!("{what} {label}: {e}")).with_help(match kind {
                ErrorKind::InvalidArgument => "check that the file is readable and complete, then run the command again",
                _ => "check the disk (space, permissions) of the store's directory and run the command again; nothing of the unfinished item is visible",
            }),
        })
}

/// Asks for an fsync of everything appended and waits for it.
fn sync_pack(out: &mut PackAppender) -> Result<()> {
    let upto = out
        .request_sync()
        .map_err(|e| store_io_err("write", out.path(), e))?;
    out.durable(Some(upto))
        .map_err(|e| store_io_err("write", out.path(), e))?;
    Ok(())
}

pub(crate) fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{what} {}: {e}", path.display()),
    )
    .with_help("check the path and that it is readable")
}

/// What an import or export did.
#[derive(Debug, Clone, Serialize)]
pub struct TransferResult {
    #[serde(rename = "Mailbox")]
    pub mailbox: String,
    #[serde(rename = "FilePath")]
    pub file_path: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "ItemsTransferred")]
    pub items: u64,
    #[serde(rename = "BytesTransferred")]
    pub bytes: u64,
    /// Messages of the source that earlier runs of the same import had committed, which this run
    /// skipped (an import resumes; 0 for an export).
    #[serde(rename = "ItemsSkipped")]
    pub skipped: u64,
    /// Items an export could not give back (damaged, or under a key that does not open); the
    /// rest were exported. Always 0 for an import.
    #[serde(rename = "BadItemsEncountered")]
    pub bad_items_encountered: u64,
    /// What went wrong with each bad item, naming it (not an output property: the cmdlet
    /// prints them).
    #[serde(skip)]
    pub bad_items: Vec<Error>,
}

/// Commits the rows of every batch whose bytes are durable; with `wait`, waits for all of them
/// (or, with `more` batches queued than [`BATCHES_IN_FLIGHT`], for the oldest).
///
/// A batch commits only while the key it was encrypted under is still the mailbox's current
/// key: once a move has made another key current (and will delete this one when it completes),
/// the import stops with [`KeyRetired`] instead of committing items nobody could read later.
/// Each committed batch's sequence numbers go to `committed`.
fn commit_durable(
    store: &mut Store,
    out: &mut PackAppender,
    waiting: &mut VecDeque<(u64, Vec<ItemRow>)>,
    wait: bool,
    committed: &mut Vec<(i64, i64)>,
    source: Option<&str>,
) -> Result<()> {
    while let Some((upto, _)) = waiting.front() {
        let upto = *upto;
        let block = wait || waiting.len() > BATCHES_IN_FLIGHT;
        let durable = out
            .durable(block.then_some(upto))
            .map_err(|e| store_io_err("write", out.path(), e))?;
        if durable < upto {
            break;
        }
        let Some((_, rows)) = waiting.pop_front() else {
            break;
        };
        let range = store.write(|tx| -> Result<_> {
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let current = tx.current_mailbox_key(&first.mailbox_guid)?;
            if current.as_ref().map(|(id, v)| (id.as_str(), *v))
                != Some((first.key_id.as_str(), first.key_version))
            {
                return Err(key_retired());
            }
            let first_seq = tx.next_item_seq(&first.mailbox_guid)?;
            let n = rows.len() as i64;
            let mailbox = first.mailbox_guid.clone();
            for (seq, row) in (first_seq..).zip(rows) {
                tx.insert_item(&ItemRow { seq, ..row })?;
            }
            // The source's progress commits with its messages: a rerun skips exactly these.
            if let Some(source) = source {
                tx.add_import_progress(&mailbox, source, n, &super::now())?;
            }
            Ok(Some((first_seq, first_seq + n)))
        })?;
        committed.extend(range);
    }
    Ok(())
}

/// The import's mailbox key is no longer current (a move re-keyed the mailbox).
fn key_retired() -> Error {
    Error::rule("a move request gave the mailbox a new key while this import ran; the import was undone and nothing of it was kept")
        .with_help("run the import again (Get-MoveRequest shows the move; the import can run during or after it)")
}

/// Deletes the items an import committed (sequence ranges `committed`) after it failed to
/// commit the rest, so it fails whole; returns `e` (and says so if the undo failed too).
fn undo_import(
    store: &mut Store,
    mailbox: &str,
    committed: &[(i64, i64)],
    source: Option<&str>,
    e: Error,
) -> Error {
    if committed.is_empty() {
        return e;
    }
    let undone = store.write(|tx| -> Result<()> {
        for (from, to) in committed {
            tx.delete_items_in_seq_range(mailbox, *from, *to)?;
        }
        if let Some(source) = source {
            // This run's messages are gone, and so is their count; earlier runs' stay counted.
            let n: i64 = committed.iter().map(|(from, to)| to - from).sum();
            tx.add_import_progress(mailbox, source, -n, &super::now())?;
        }
        Ok(())
    });
    match undone {
        Ok(()) => e,
        Err(u) => Error::new(
            e.kind(),
            format!(
                "{}; the messages committed before that could not be removed either ({})",
                e.message(),
                u.message()
            ),
        )
        .with_help(
            "Get-MailboxStatistics shows what the mailbox holds; run the import again for the rest",
        ),
    }
}

/// `New-MailboxImportRequest -Mailbox -FilePath`.
///
/// Messages are encrypted one after another into one new pack file of the mailbox (a writer
/// thread and an fsync thread overlap with the encryption); their rows commit in batches, each
/// only after its bytes are fsynced. A kill leaves the committed batches and no part of the rest.
/// `-FilePath -` reads standard input. A failed import (a message past the size limit, a read
/// error) leaves no pack that no item points at: it is deleted before the error returns.
pub fn import(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
) -> Result<TransferResult> {
    import_with(store, keys, mailbox, path, &super::Silent)
}

/// [`import`], reporting progress in bytes read and stopping between messages when `progress`
/// says the operator cancelled: the messages read until then are committed (and counted for the
/// source), and the error is [`ErrorKind::Interrupted`]. A rerun of the same source (the same
/// file or folder, unchanged) skips the messages earlier runs committed, so an interrupted or
/// killed import resumes and no message is imported twice; a source an earlier run finished
/// imports nothing again.
pub fn import_with(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
    progress: &dyn super::Progress,
) -> Result<TransferResult> {
    let res = import_from(store, keys, mailbox, path, progress);
    if res.is_err() {
        // The pack appender was dropped (its lock released) when import_from returned.
        let _ = store.reclaim_packs();
    }
    res
}

fn import_from(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
    progress: &dyn super::Progress,
) -> Result<TransferResult> {
    // An archive is named by its GUID (the CLI's -IsArchive resolves it, see `archive_guid`).
    let r = store.read(|tx| recipient::resolve(tx, mailbox, RecipientScope::Content))?;
    let source = super::mail_input::source_key(path);
    let (skip, _finished) = match &source {
        Some(s) => store
            .read(|tx| -> Result<_> { Ok(tx.import_progress(&r.guid, s)?) })?
            .unwrap_or((0, false)),
        None => (0, false),
    };
    let total_bytes = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    progress.start("bytes", total_bytes);
    let mut srcs = sources(path)?;
    let request = request_id();
    let (key, _) = current_key(store, keys, &r, Purpose::User, &request)?;
    let owner = parse_guid(&r.guid)?;
    store.reclaim_packs()?;
    let mut out = PackAppender::start(store.create_pack(&r.guid)?)?;
    let (key_id, key_version) = (key.key_ref().id.to_string(), key.key_ref().version);
    let mut rows: Vec<ItemRow> = Vec::new();
    let mut waiting: VecDeque<(u64, Vec<ItemRow>)> = VecDeque::new();
    let mut batch_start = 0u64;
    let mut committed: Vec<(i64, i64)> = Vec::new();
    let (mut items, mut bytes) = (0u64, 0u64);
    let fault = crate::input::env_int(FAULT_IMPORT_AFTER, 0, i64::MAX, "items")?.map(|n| n as u64);
    let (mut skipped, mut read) = (0u64, 0u64);
    let mut interrupted = false;
    while let Some((p, kind, mut input)) = srcs.next()? {
        if skipped < skip {
            // Committed by an earlier run of this source: read past it.
            read +=
                io::copy(&mut input, &mut io::sink()).map_err(|e| io_err("cannot read", &p, e))?;
            skipped += 1;
            progress.advance(read);
            continue;
        }
        if progress.cancelled() {
            interrupted = true;
            break;
        }
        let item_id = uuid::Uuid::new_v4().to_string();
        let binding = item_binding(owner, &item_id, kind);
        let mut counted = Counting { inner: input, n: 0 };
        let offset = out.position();
        let mut enc = key.encrypting_reader(&binding, &mut counted)?;
        let stored = append_item(
            &mut out,
            &mut enc,
            ErrorKind::InvalidArgument,
            "cannot read the message",
            &p.display().to_string(),
        )
        .map_err(|e| {
            let limit = crate::input::TooLarge(crate::input::MAX_MESSAGE_BYTES).to_string();
            match e.message().ends_with(&limit) {
                true => message_too_large(&p),
                false => e,
            }
        })?;
        drop(enc);
        rows.push(ItemRow {
            mailbox_guid: r.guid.clone(),
            item_id,
            seq: 0,
            source: kind.into(),
            size: counted.n,
            stored_size: stored,
            key_id: key_id.clone(),
            key_version,
            complete: true,
            pack: Some(out.id.clone()),
            pack_offset: offset,
        });
        items += 1;
        bytes += counted.n;
        read += counted.n;
        progress.advance(read);
        if fault.is_some_and(|n| items >= n) {
            // Test fault injection: stop as abruptly as a kill would, mid-batch.
            std::process::exit(137);
        }
        if rows.len() >= BATCH_ITEMS || out.position() - batch_start >= BATCH_BYTES {
            let upto = out
                .request_sync()
                .map_err(|e| store_io_err("write", out.path(), e))?;
            batch_start = upto;
            waiting.push_back((upto, std::mem::take(&mut rows)));
        }
        if let Err(e) = commit_durable(
            store,
            &mut out,
            &mut waiting,
            false,
            &mut committed,
            source.as_deref(),
        ) {
            return Err(undo_import(
                store,
                &r.guid,
                &committed,
                source.as_deref(),
                e,
            ));
        }
    }
    if !rows.is_empty() {
        let upto = out
            .request_sync()
            .map_err(|e| store_io_err("write", out.path(), e))?;
        waiting.push_back((upto, rows));
    }
    if let Err(e) = commit_durable(
        store,
        &mut out,
        &mut waiting,
        true,
        &mut committed,
        source.as_deref(),
    ) {
        // An interruption keeps what it committed; an error undoes this run whole.
        return Err(undo_import(
            store,
            &r.guid,
            &committed,
            source.as_deref(),
            e,
        ));
    }
    let pack_path = out.path().to_path_buf();
    out.finish()
        .map_err(|e| store_io_err("write", &pack_path, e))?;
    let org_id = store.read(super::org::organization_id)?;
    let status = if interrupted {
        "Interrupted"
    } else {
        "Completed"
    };
    store.write(|tx| {
        if let (Some(s), false) = (&source, interrupted) {
            tx.finish_import_progress(&r.guid, s, &super::now())?;
        }
        audit(tx, &org_id, "ExchangeAdmin", "New-MailboxImportRequest", "", &r.guid,
            json!({"Mailbox": r.name, "FilePath": path.display().to_string(), "Items": items, "Bytes": bytes, "Skipped": skipped, "Status": status}))
    })?;
    if interrupted {
        return Err(Error::new(
            ErrorKind::Interrupted,
            format!(
                "the import into {} was interrupted: {items} message(s) imported in this run, {} in all",
                r.name,
                items + skipped
            ),
        )
        .with_help(match source {
            Some(_) => "run the same command again: it resumes after the messages already imported",
            None => "a stream cannot be read again; what was imported stays (Get-MailboxStatistics)",
        }));
    }
    Ok(TransferResult {
        mailbox: r.name,
        file_path: path.display().to_string(),
        status: "Completed".into(),
        items,
        bytes,
        skipped,
        bad_items_encountered: 0,
        bad_items: Vec::new(),
    })
}

/// Writes a file through a temporary name and renames it into place.
pub(crate) fn write_file_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    if !dir.is_dir() {
        return Err(
            Error::invalid(format!("the folder '{}' does not exist", dir.display()))
                .with_help("create it first, or give a path in a folder that exists"),
        );
    }
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&tmp)
        .map_err(|e| io_err("cannot create", &tmp, e))?;
    let res = fill(&mut f).and_then(|_| f.sync_all().map_err(|e| io_err("cannot write", &tmp, e)));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| io_err("cannot write", path, e))
}

fn decrypt_item(
    key: &MailboxKey,
    item: &ItemRow,
    src: Box<dyn Read + '_>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut dec = Counting {
        inner: open_item(key, item, src)?,
        n: 0,
    };
    io::copy(&mut dec, out).map_err(|e| match crate::crypto::CryptoError::from_io(&e) {
        Some(c) => Error::from(c.clone()),
        None => Error::new(
            ErrorKind::Unavailable,
            format!("cannot export the item: {e}"),
        )
        .with_help("check the content directory beside the store (it belongs with the store) and the export's destination, then run the export again"),
    })?;
    check_size(item, dec.n)
}

/// The binding of a mailbox item: its mailbox, its id and its framing (`eml` or `mbox`, which
/// decides how an export gives it back), so a store writer can change none of them.
fn item_binding(owner: uuid::Uuid, item_id: &str, source: &str) -> ItemBinding {
    ItemBinding::new(owner, item_id.as_bytes().to_vec()).with_attributes(source.as_bytes().to_vec())
}

/// An item's plaintext as it is decrypted: its header (read ahead to choose the binding), then
/// the rest of its stored bytes.
type ItemReader<'a> =
    crate::crypto::ContentDecryptor<io::Chain<io::Cursor<Vec<u8>>, Box<dyn Read + 'a>>>;

/// A decrypting reader of an item's content. Items written before the framing was bound
/// (their header's commitment is over owner and id only) open under that older binding; a
/// move re-encrypts them under the full one.
fn open_item<'a>(
    key: &MailboxKey,
    item: &ItemRow,
    mut src: Box<dyn Read + 'a>,
) -> Result<ItemReader<'a>> {
    let owner = parse_guid(&item.mailbox_guid)?;
    let mut head = Vec::with_capacity(crate::crypto::HEADER_LEN);
    (&mut src)
        .take(crate::crypto::HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot read item {}: {e}", item.item_id),
            )
            .with_help("check the content directory beside the store: it belongs with the store; restore both from the same backup")
        })?;
    let bound = item_binding(owner, &item.item_id, &item.source);
    let binding = match crate::crypto::ContentHeader::parse(&head) {
        Ok(h) => match key.derive_content_key(&h, &bound) {
            Err(crate::crypto::CryptoError::KeyCommitment) => {
                let legacy = ItemBinding::new(owner, item.item_id.as_bytes().to_vec());
                match key.derive_content_key(&h, &legacy) {
                    Ok(_) => legacy,
                    Err(_) => bound,
                }
            }
            _ => bound,
        },
        // The reader reports what is wrong with the header.
        Err(_) => bound,
    };
    Ok(key.decrypt_reader(&binding, io::Cursor::new(head).chain(src))?)
}

/// The plaintext size of an item must be what its row says (the row is not authenticated; the
/// content is): a changed size is reported, not passed on.
fn check_size(item: &ItemRow, got: u64) -> Result<()> {
    if got == item.size {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unavailable,
        format!(
            "item {} (number {}) holds {got} bytes but the store says {}: the store's row for it was changed or damaged",
            item.item_id, item.seq, item.size
        ),
    )
    .with_help("the item was not given out; restore the store from a backup (its content is intact, the row is not)"))
}

/// `New-MailboxExportRequest -Mailbox -FilePath`: to an mbox file when the path ends in
/// `.mbox`, else into a folder of `.eml` files (`000001.eml`, ...).
///
/// It reports the items written and stops before the next item when `progress`
/// says the operator cancelled: an mbox file is then not written at all (its temporary file is
/// removed), a folder keeps the whole `.eml` files written so far; the error is
/// [`ErrorKind::Interrupted`].
pub fn export_with(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
    progress: &dyn super::Progress,
) -> Result<TransferResult> {
    // An archive is named by its GUID (the CLI's -IsArchive resolves it, see `archive_guid`).
    let r = store.read(|tx| recipient::resolve(tx, mailbox, RecipientScope::Content))?;
    let request = request_id();
    let key_rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
    // Every key is tried; an item under a key that does not open is a bad item, reported while
    // the rest is exported. When no key opens (access revoked, say) the export fails whole.
    let mut ring = KeyRing::new(&r.guid, Purpose::User, &request);
    let mut first_err = None;
    let mut any_opened = key_rows.is_empty();
    for k in &key_rows {
        match ring.open(store, keys, k) {
            Ok(_) => any_opened = true,
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let (false, Some(e)) = (any_opened, first_err) {
        return Err(e);
    }
    let items = store.read(|tx| -> Result<_> { Ok(tx.items(&r.guid)?) })?;
    progress.start("items", Some(items.len() as u64));
    let to_mbox = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("mbox"));
    let mut bytes = 0u64;
    let mut bad: Vec<BadItem> = Vec::new();
    let mut written = 0u64;
    // Each item is read in a snapshot of its own, so an item a concurrent move re-encrypts is
    // read where it is now.
    if to_mbox {
        write_file_atomic(path, |f| {
            for (n, item) in items.iter().enumerate() {
                progress.advance(n as u64);
                if progress.cancelled() {
                    return Err(export_interrupted(
                        &r.name,
                        n,
                        items.len(),
                        "nothing was written",
                    ));
                }
                // A bad item is cut off the file again, so the file holds whole messages.
                let start = f
                    .stream_position()
                    .map_err(|e| io_err("cannot write", path, e))?;
                let res = read_fresh(store, keys, &mut ring, item, |now, key, src| {
                    if now.source == "mbox" {
                        decrypt_item(key, now, src, f)?;
                    } else {
                        let mut conv = Reframe::new(f, Direction::ToMbox);
                        decrypt_item(key, now, src, &mut conv)?;
                        conv.finish().map_err(|e| io_err("cannot write", path, e))?;
                    }
                    Ok(Fresh::Done(now.size))
                });
                match res {
                    Ok(Some(size)) => {
                        bytes += size;
                        written += 1;
                    }
                    Ok(None) => {}
                    Err(e) if e.kind() == ErrorKind::InvalidArgument => return Err(e),
                    Err(e) => {
                        f.set_len(start)
                            .and_then(|_| f.seek(SeekFrom::Start(start)).map(|_| ()))
                            .map_err(|e| io_err("cannot write", path, e))?;
                        bad.push(BadItem::new(item, e));
                    }
                }
            }
            match bad.first() {
                // Nothing could be exported: no file (write_file_atomic removes it).
                Some(b) if written == 0 => Err(b.error.clone()),
                _ => Ok(()),
            }
        })?;
    } else {
        // A new export folder is private (0700), as the files in it are (0600).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| io_err("cannot create", path, e))?;
        for (n, item) in items.iter().enumerate() {
            progress.advance(n as u64);
            if progress.cancelled() {
                return Err(export_interrupted(
                    &r.name,
                    n,
                    items.len(),
                    "the .eml files written so far stay",
                ));
            }
            let file = path.join(format!("{:06}.eml", item.seq));
            let mut size = None;
            let res = write_file_atomic(&file, |f| {
                size = read_fresh(store, keys, &mut ring, item, |now, key, src| {
                    if now.source == "eml" {
                        decrypt_item(key, now, src, f)?;
                    } else {
                        let mut conv = Reframe::new(f, Direction::ToEml);
                        decrypt_item(key, now, src, &mut conv)?;
                        conv.finish()
                            .map_err(|e| io_err("cannot write", &file, e))?;
                    }
                    Ok(Fresh::Done(now.size))
                })?;
                match size {
                    Some(_) => Ok(()),
                    // Deleted meanwhile: no file for it.
                    None => Err(Error::new(ErrorKind::NotFound, "deleted")),
                }
            });
            match (res, size) {
                (Ok(()), Some(n)) => {
                    bytes += n;
                    written += 1;
                }
                (Err(e), _) if e.kind() == ErrorKind::InvalidArgument => return Err(e),
                (Err(e), _) if e.kind() == ErrorKind::NotFound && size.is_none() => {}
                (Err(e), _) => bad.push(BadItem::new(item, e)),
                (Ok(()), None) => {}
            }
        }
    }
    if written == 0 && !bad.is_empty() {
        return Err(bad.swap_remove(0).error);
    }
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| {
        audit(
            tx,
            &org_id,
            "ExchangeAdmin",
            "New-MailboxExportRequest",
            "",
            &r.guid,
            json!({"Mailbox": r.name, "FilePath": path.display().to_string(), "Items": written,
                   "BadItems": bad.iter().map(|b| b.item_id.as_str()).collect::<Vec<_>>()}),
        )
    })?;
    Ok(TransferResult {
        mailbox: r.name,
        file_path: path.display().to_string(),
        status: if bad.is_empty() {
            "Completed"
        } else {
            "CompletedWithWarning"
        }
        .into(),
        items: written,
        bytes,
        skipped: 0,
        bad_items_encountered: bad.len() as u64,
        bad_items: bad.into_iter().map(BadItem::into_error).collect(),
    })
}

/// An item an export could not give back, and why.
struct BadItem {
    item_id: String,
    seq: i64,
    error: Error,
}

impl BadItem {
    fn new(item: &ItemRow, error: Error) -> Self {
        BadItem {
            item_id: item.item_id.clone(),
            seq: item.seq,
            error,
        }
    }
    fn into_error(self) -> Error {
        about_item(self.seq, &self.item_id, "was not exported", self.error)
    }
}

/// `e` as said of one item ("message 000002 (item <id>) <what>: ..."), its help kept.
fn about_item(seq: i64, item_id: &str, what: &str, e: Error) -> Error {
    let out = Error::new(
        e.kind(),
        format!("message {seq:06} (item {item_id}) {what}: {}", e.message()),
    );
    match e.help() {
        Some(h) => out.with_help(h),
        None => out,
    }
}

/// Which way [`Reframe`] converts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// .eml to an mbox message: a `From ` line first, `>` before lines that read `>*From `,
    /// a blank line after.
    ToMbox,
    /// mbox message to .eml: the first `From ` line dropped, one `>` taken off `>+From ` lines.
    ToEml,
}

/// Converts between .eml and mbox framing as the bytes stream through. Only the start of a
/// line is examined, so memory stays bounded whatever the line lengths. The rest of a line is
/// passed on in one piece (found with `memchr`), and what is written is gathered in a buffer of
/// [`REFRAME_BUF`] bytes: byte by byte into an unbuffered file this ran at about 1 MB/s.
struct Reframe<'a> {
    out: &'a mut dyn Write,
    /// Converted bytes not yet written to `out` (dropped, not written, when the item fails).
    buf: Vec<u8>,
    dir: Direction,
    /// Bytes at the start of the current line not yet written (a run of `>` and a prefix of
    /// `From `).
    pending: Vec<u8>,
    at_line_start: bool,
    first_line: bool,
    /// Dropping the rest of the first line (ToEml).
    skipping: bool,
    last: Option<u8>,
    started: bool,
}

const FROM: &[u8] = b"From ";
/// How many converted bytes [`Reframe`] gathers before it writes them.
const REFRAME_BUF: usize = 256 * 1024;
/// A longer run of `>` than this is passed through without looking further.
const MAX_QUOTES: usize = 4096;

impl<'a> Reframe<'a> {
    fn new(out: &'a mut dyn Write, dir: Direction) -> Self {
        Reframe {
            out,
            buf: Vec::new(),
            dir,
            pending: Vec::new(),
            at_line_start: true,
            first_line: true,
            skipping: false,
            last: None,
            started: false,
        }
    }

    /// Writes converted bytes (through the buffer).
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > REFRAME_BUF {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        if bytes.len() >= REFRAME_BUF {
            return self.out.write_all(bytes);
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve(REFRAME_BUF);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            if self.dir == Direction::ToMbox {
                self.emit(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")?;
            }
        }
        Ok(())
    }

    /// Decides what to write for the pending line start, now that it is complete or broken.
    fn resolve(&mut self, matched_from: bool) -> io::Result<()> {
        let quotes = self.pending.iter().take_while(|&&c| c == b'>').count();
        if matched_from {
            match self.dir {
                Direction::ToMbox => self.emit(b">")?,
                Direction::ToEml if self.first_line && quotes == 0 => {
                    self.skipping = true;
                    self.pending.clear();
                    return Ok(());
                }
                Direction::ToEml if quotes > 0 => {
                    let p = std::mem::take(&mut self.pending);
                    self.emit(&p[1..])?;
                    self.pending.clear();
                    self.at_line_start = false;
                    return Ok(());
                }
                Direction::ToEml => {}
            }
        }
        let p = std::mem::take(&mut self.pending);
        self.emit(&p)?;
        self.at_line_start = false;
        Ok(())
    }

    fn push(&mut self, b: u8) -> io::Result<()> {
        self.last = Some(b);
        if self.skipping {
            if b == b'\n' {
                self.skipping = false;
                self.at_line_start = true;
                self.first_line = false;
            }
            return Ok(());
        }
        if !self.at_line_start {
            self.emit(&[b])?;
            if b == b'\n' {
                self.at_line_start = true;
                self.first_line = false;
            }
            return Ok(());
        }
        self.pending.push(b);
        let quotes = self.pending.iter().take_while(|&&c| c == b'>').count();
        let rest = &self.pending[quotes..];
        if rest.len() == FROM.len() && rest == FROM {
            return self.resolve(true);
        }
        if !FROM.starts_with(rest) || quotes > MAX_QUOTES {
            let newline = b == b'\n';
            self.resolve(false)?;
            if newline {
                self.at_line_start = true;
                self.first_line = false;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.start()?;
        if !self.pending.is_empty() {
            self.resolve(false)?;
        }
        if self.dir == Direction::ToMbox {
            if self.last.is_some_and(|b| b != b'\n') {
                self.emit(b"\n")?;
            }
            self.emit(b"\n")?;
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

impl Write for Reframe<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.start()?;
        let mut i = 0;
        while i < data.len() {
            if self.skipping || !self.at_line_start {
                // The rest of the line, up to and with its newline, in one piece.
                let rest = &data[i..];
                let (part, ends) = match memchr::memchr(b'\n', rest) {
                    Some(k) => (&rest[..=k], true),
                    None => (rest, false),
                };
                if !self.skipping {
                    self.emit(part)?;
                }
                self.last = part.last().copied();
                if ends {
                    self.skipping = false;
                    self.at_line_start = true;
                    self.first_line = false;
                }
                i += part.len();
                continue;
            }
            self.push(data[i])?;
            i += 1;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// A move request as `Get-MoveRequest` / `Get-MoveRequestStatistics` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MoveRequest {
    #[serde(rename = "Identity")]
    pub identity: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "PercentComplete")]
    pub percent_complete: u32,
    #[serde(rename = "ItemsTransferred")]
    pub items_transferred: u64,
    #[serde(rename = "TotalMailboxItemCount")]
    pub total_items: u64,
    #[serde(rename = "WhenCreated")]
    pub when_created: String,
    #[serde(rename = "WhenChanged")]
    pub when_changed: String,
}

fn present_move(m: &MoveRow, name: &str, display: &str) -> MoveRequest {
    MoveRequest {
        identity: name.to_string(),
        display_name: display.to_string(),
        status: m.status.clone(),
        percent_complete: (m.items_done * 100)
            .checked_div(m.items_total)
            .unwrap_or(100) as u32,
        items_transferred: m.items_done,
        total_items: m.items_total,
        when_created: m.when_created.clone(),
        when_changed: m.when_changed.clone(),
    }
}

/// Env var for fault injection in tests: stop (as if killed) after appending N items to the
/// pack, before their batch commits.
pub const FAULT_IMPORT_AFTER: &str = "CUSTKEY_FAULT_IMPORT_AFTER_ITEMS";

/// The error of an export the operator stopped.
fn export_interrupted(mailbox: &str, done: usize, total: usize, kept: &str) -> Error {
    Error::new(
        ErrorKind::Interrupted,
        format!("the export of {mailbox} was interrupted after {done} of {total} items; {kept}"),
    )
    .with_help("run the export again")
}

/// Makes the moved items of `batch` durable (the pack fsynced) and then points their rows at the
/// new ciphertext in one transaction, each only if the item is still under the key it was read
/// under (another move, or a purge, may have changed or deleted it meanwhile). Returns how many.
fn commit_moved(
    store: &mut Store,
    out: &mut PackAppender,
    mv: &mut MoveRow,
    batch: &mut Vec<(ItemRow, (String, u32))>,
) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    sync_pack(out)?;
    let n = batch.len() as u64;
    store.write(|tx| {
        for (row, from) in batch.iter() {
            if tx.set_item_content(row, (&from.0, from.1))? {
                mv.items_done += 1;
            }
        }
        mv.when_changed = now();
        tx.put_move_request(mv)?;
        Ok::<(), Error>(())
    })?;
    batch.clear();
    Ok(n)
}

/// Env var for fault injection in tests: stop (as if killed) after re-encrypting N items.
pub const FAULT_MOVE_AFTER: &str = "CUSTKEY_FAULT_MOVE_AFTER_ITEMS";

/// What `New-MoveRequest` moves of a mailbox: both (Exchange's default), or one part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveParts {
    Both,
    PrimaryOnly,
    ArchiveOnly,
}

/// `New-MoveRequest`: moves the mailbox `identity` and, unless `parts` says otherwise, its
/// archive: each is re-encrypted under a fresh key of its own ([`move_mailbox`]). Returns the
/// request of the primary mailbox (of the archive with [`MoveParts::ArchiveOnly`]).
pub fn move_request(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identity: &str,
    parts: MoveParts,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MoveRequest> {
    let r = store.read(|tx| recipient::resolve(tx, identity, RecipientScope::Mailboxes))?;
    let no_archive = || {
        Error::new(
            super::ErrorKind::NotFound,
            format!("the mailbox '{}' has no archive to move", r.name),
        )
        .with_help(format!(
            "give it one with Enable-Mailbox {} -Archive, or leave -ArchiveOnly out",
            r.name
        ))
    };
    match (parts, &r.archive_guid) {
        (MoveParts::ArchiveOnly, None) => Err(no_archive()),
        (MoveParts::ArchiveOnly, Some(a)) => move_mailbox(store, keys, a, progress),
        (MoveParts::PrimaryOnly, _) | (MoveParts::Both, None) => {
            move_mailbox(store, keys, &r.guid, progress)
        }
        (MoveParts::Both, Some(a)) => {
            let primary = move_mailbox(store, keys, &r.guid, progress)?;
            move_mailbox(store, keys, a, progress).map_err(|e| {
                let help = e.help.clone();
                Error::new(
                    e.kind,
                    format!(
                        "the mailbox '{}' was moved, but its archive was not: {}",
                        r.name, e.message
                    ),
                )
                .with_help(format!(
                    "{}then move the archive alone: New-MoveRequest {} -ArchiveOnly",
                    help.map(|h| format!("{h}; ")).unwrap_or_default(),
                    r.name
                ))
            })?;
            Ok(primary)
        }
    }
}

/// Re-encrypts all of a mailbox's (or an archive's, named by its GUID) content under a fresh
/// key, one item per transaction; a new request on an unfinished move resumes it.
/// `progress(done, total)` is called after each item.
pub fn move_mailbox(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identity: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MoveRequest> {
    let r = store.read(|tx| recipient::resolve(tx, identity, RecipientScope::Content))?;
    let request = request_id();
    let (new_key, new_row, mut mv) = claim_move(store, keys, &r, &request)?;
    let fault = crate::input::env_int(FAULT_MOVE_AFTER, 0, i64::MAX, "items")?.map(|n| n as u64);
    let mut moved_now = 0u64;
    let mut pack: Option<PackAppender> = None;
    // Re-encrypted items whose rows commit together once their bytes are durable: one fsync and
    // one transaction a batch, not two fsyncs an item.
    let mut batch: Vec<(ItemRow, (String, u32))> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut ring = KeyRing::new(&r.guid, Purpose::Service, &request);
    let new_ref = (new_row.key_id.as_str(), new_row.key_version);
    let under_new = |i: &ItemRow| i.key_id == new_ref.0 && i.key_version == new_ref.1;
    // Until no item is left under another key: an item another command wrote under an old key
    // after the first pass (it could not commit once the new key was current, but the check
    // below is what the old keys' deletion rests on) is moved by the next pass.
    loop {
        let items = store.read(|tx| -> Result<_> { Ok(tx.items(&r.guid)?) })?;
        let total = items.len() as u64;
        mv.items_total = total;
        mv.items_done = items.iter().filter(|i| under_new(i)).count() as u64;
        progress(mv.items_done, total);
        for item in items.iter().filter(|i| !under_new(i)) {
            let out = match &mut pack {
                Some(out) => out,
                None => pack.insert(PackAppender::start(store.create_pack(&r.guid)?)?),
            };
            // The item as it is now: another move may have re-encrypted it already.
            let moved = read_fresh(store, keys, &mut ring, item, |now, old_key, src| {
                if under_new(now) {
                    return Ok(Fresh::Done(None));
                }
                Ok(Fresh::Done(Some(reencrypt_item(
                    out, old_key, &new_key, now, src,
                )?)))
            })
            .map_err(|e| about_item(item.seq, &item.item_id, "was not moved", e))?;
            let Some(Some((row, from))) = moved else {
                continue;
            };
            batch_bytes += row.stored_size;
            batch.push((row, from));
            // Test fault injection: stop as abruptly as a kill would, right after N items commit.
            let fault_now = fault.is_some_and(|n| moved_now + batch.len() as u64 >= n);
            if fault_now || batch.len() >= BATCH_ITEMS || batch_bytes >= BATCH_BYTES {
                moved_now += commit_moved(store, out, &mut mv, &mut batch)?;
                batch_bytes = 0;
                progress(mv.items_done, total);
            }
            if fault_now {
                std::process::exit(137);
            }
        }
        if let Some(out) = &mut pack {
            moved_now += commit_moved(store, out, &mut mv, &mut batch)?;
            batch_bytes = 0;
            progress(mv.items_done, total);
        }
        let org_id = store.read(super::org::organization_id)?;
        let done = store.write(|tx| {
            // The old keys go only when no item of the mailbox is under any of them, checked in
            // the same transaction that deletes them.
            if tx.count_items_not_under(&r.guid, new_ref.0, new_ref.1)? > 0 {
                return Ok::<_, Error>(false);
            }
            for k in tx.mailbox_keys(&r.guid)? {
                if !(k.key_id == new_ref.0 && k.key_version == new_ref.1) {
                    tx.delete_mailbox_key(&k.mailbox_guid, &k.key_id, k.key_version)?;
                }
            }
            let (count, _) = tx.item_totals(&r.guid)?;
            mv.items_total = count;
            mv.items_done = count;
            mv.status = "Completed".into();
            mv.when_changed = now();
            tx.put_move_request(&mv)?;
            audit(tx, &org_id, "ExchangeAdmin", "New-MoveRequest", "", &r.guid,
                json!({"Identity": r.name, "Items": count, "NewMailboxKeyVersion": new_row.key_version}))?;
            Ok(true)
        })?;
        if done {
            break;
        }
    }
    if let Some(out) = pack {
        let path = out.path().to_path_buf();
        out.finish().map_err(|e| store_io_err("write", &path, e))?;
    }
    // The old ciphertext: every pack no item points at any more.
    store.reclaim_packs()?;
    Ok(present_move(&mv, &r.name, &r.display_name))
}

/// Starts a move of `r` or joins the one in progress: the new key and the move row are stored
/// in one transaction, so two moves of one mailbox share one new key and neither deletes a key
/// the other re-encrypts under. From that transaction on the new key is the mailbox's current
/// key, so an import that still holds the old one cannot commit (see [`import`]).
fn claim_move(
    store: &mut Store,
    keys: &mut ServiceKeys,
    r: &RecipientRow,
    request: &str,
) -> Result<(MailboxKey, MailboxKeyRow, MoveRow)> {
    let in_progress =
        |m: &Option<MoveRow>| m.as_ref().filter(|m| m.status == "InProgress").cloned();
    let existing = store.read(|tx| -> Result<_> { Ok(tx.move_request(&r.guid)?) })?;
    let fresh = match in_progress(&existing) {
        Some(_) => None,
        None => {
            let d = target_dep(store, keys, r)?;
            let (dk, _) = keys.dep_key(store, &d, Purpose::Service, request)?;
            let rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
            let next = rows.iter().map(|k| k.key_version).max().unwrap_or(0) + 1;
            Some(super::mailbox::wrapped_key(&dk, &d, r, next)?)
        }
    };
    let t = now();
    let (mv, ours) = store.write(|tx| -> Result<_> {
        if let Some(m) = in_progress(&tx.move_request(&r.guid)?) {
            // Resume an unfinished move, or join one another command started meanwhile.
            return Ok((m, false));
        }
        let Some((_, row)) = &fresh else {
            return Err(super::mailbox::changed_meanwhile());
        };
        super::mailbox::unchanged_dep(tx, r)?;
        if tx
            .mailbox_keys(&r.guid)?
            .iter()
            .any(|k| k.key_version >= row.key_version)
        {
            return Err(super::mailbox::changed_meanwhile());
        }
        tx.put_mailbox_key(row)?;
        let mv = MoveRow {
            mailbox_guid: r.guid.clone(),
            status: "InProgress".into(),
            items_total: 0,
            items_done: 0,
            new_key_id: row.key_id.clone(),
            new_key_version: row.key_version,
            when_created: t.clone(),
            when_changed: t.clone(),
        };
        tx.put_move_request(&mv)?;
        Ok((mv, true))
    })?;
    if ours {
        let Some((key, row)) = fresh else {
            return Err(super::mailbox::changed_meanwhile());
        };
        return Ok((key, row, mv));
    }
    let rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
    let row = rows
        .into_iter()
        .find(|k| k.key_id == mv.new_key_id && k.key_version == mv.new_key_version)
        .ok_or_else(|| {
            Error::new(ErrorKind::Unavailable, format!("the new key of the unfinished move of {} is missing from the store", r.name))
                .with_help("restore the store from a backup; the mailbox's content is still under its old keys")
        })?;
    let key = open_key(store, keys, &row, Purpose::Service, request)?;
    Ok((key, row, mv))
}

/// Re-encrypts one item from `src` (its content under `old`) under `new` into `out`; returns
/// the row to commit once `out` is synced, and the key (id, version) it was read under. The
/// item keeps its id (its binding); its old ciphertext stays where it was until no item points
/// at its pack and [`Store::reclaim_packs`] deletes it.
fn reencrypt_item(
    out: &mut PackAppender,
    old: &MailboxKey,
    new: &MailboxKey,
    item: &ItemRow,
    src: Box<dyn Read + '_>,
) -> Result<(ItemRow, (String, u32))> {
    let owner = parse_guid(&item.mailbox_guid)?;
    let offset = out.position();
    let mut dec = Counting {
        inner: open_item(old, item, src)?,
        n: 0,
    };
    let mut enc =
        new.encrypting_reader(&item_binding(owner, &item.item_id, &item.source), &mut dec)?;
    let stored = append_item(
        out,
        &mut enc,
        ErrorKind::Unavailable,
        "cannot move item",
        &item.item_id,
    )?;
    drop(enc);
    check_size(item, dec.n)?;
    Ok((
        ItemRow {
            key_id: new.key_ref().id.to_string(),
            key_version: new.key_ref().version,
            stored_size: stored,
            pack: Some(out.id.clone()),
            pack_offset: offset,
            ..item.clone()
        },
        (item.key_id.clone(), item.key_version),
    ))
}

pub fn move_requests(store: &mut Store, identity: Option<&str>) -> Result<Vec<MoveRequest>> {
    store.read(|tx| {
        let rows = match identity {
            Some(id) => {
                let r = recipient::resolve(tx, id, RecipientScope::Mailboxes)?;
                match tx.move_request(&r.guid)? {
                    Some(m) => vec![m],
                    None => {
                        return Err(Error::not_found(format!(
                            "There is no move request for '{}'.",
                            r.name
                        ))
                        .with_help(format!(
                            "start one: custkey New-MoveRequest -Identity {}",
                            r.alias
                        )))
                    }
                }
            }
            None => tx.move_requests()?,
        };
        let mut out = Vec::new();
        for m in rows {
            if let Some(r) = tx.recipient(&m.mailbox_guid)? {
                out.push(present_move(&m, &r.name, &r.display_name));
            }
        }
        Ok(out)
    })
}

/// The GUID of the archive of the mailbox `identity` (what `-IsArchive` imports into or exports
/// from); an error naming `Enable-Mailbox -Archive` when it has none.
pub fn archive_guid(store: &mut Store, identity: &str) -> Result<String> {
    store.read(|tx| Ok(recipient::archive_of(tx, identity)?.guid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyRef;

    fn row(owner: uuid::Uuid, source: &str, size: u64) -> ItemRow {
        ItemRow {
            mailbox_guid: owner.to_string(),
            item_id: "item-1".into(),
            seq: 1,
            source: source.into(),
            size,
            stored_size: 0,
            key_id: String::new(),
            key_version: 1,
            complete: true,
            pack: None,
            pack_offset: 0,
        }
    }

    fn read_back(key: &MailboxKey, item: &ItemRow, ct: Vec<u8>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        decrypt_item(key, item, Box::new(io::Cursor::new(ct)), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_framing_is_bound_and_items_from_before_it_still_open() {
        let key = MailboxKey::generate(KeyRef::new_random());
        let owner = uuid::Uuid::new_v4();
        let msg = b"Subject: x\r\n\r\nbody\r\n";
        let bound = key
            .encrypt_content(&item_binding(owner, "item-1", "eml"), msg)
            .unwrap();
        assert_eq!(
            read_back(&key, &row(owner, "eml", msg.len() as u64), bound.clone()).unwrap(),
            msg
        );
        // Another framing, or another size, than the one written: refused.
        assert!(read_back(&key, &row(owner, "mbox", msg.len() as u64), bound.clone()).is_err());
        let e = read_back(&key, &row(owner, "eml", 3), bound).unwrap_err();
        assert!(e.message().contains("the store says 3"), "{}", e.message());
        // An item written before the framing was bound opens under the older binding.
        let legacy = key
            .encrypt_content(&ItemBinding::new(owner, b"item-1".to_vec()), msg)
            .unwrap();
        assert_eq!(
            read_back(&key, &row(owner, "eml", msg.len() as u64), legacy).unwrap(),
            msg
        );
    }

    fn reframe(input: &[u8], dir: Direction, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut r = Reframe::new(&mut out, dir);
            for c in input.chunks(chunk.max(1)) {
                r.write_all(c).unwrap();
            }
            r.finish().unwrap();
        }
        out
    }

    #[test]
    fn eml_to_mbox_and_back_in_any_chunking() {
        let eml: &[u8] = b"Subject: x\n\nFrom here\n>From there\nFromage\nend";
        for chunk in [1, 2, 3, 7, 1000] {
            let mbox = reframe(eml, Direction::ToMbox, chunk);
            assert_eq!(
                mbox,
                b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From here\n>>From there\nFromage\nend\n\n".to_vec(),
                "chunk {chunk}"
            );
            let back = reframe(&mbox, Direction::ToEml, chunk);
            assert_eq!(
                back,
                b"Subject: x\n\nFrom here\n>From there\nFromage\nend\n\n".to_vec(),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn long_lines_pass_through() {
        let line = vec![b'a'; 200_000];
        let out = reframe(&line, Direction::ToEml, 4096);
        assert_eq!(out, line);
    }
}
