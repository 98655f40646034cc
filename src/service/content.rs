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
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::keys::{audit, parse_guid, request_id, Purpose, ServiceKeys};
use super::mailbox::{current_key, open_key, target_dep};
use super::{now, recipient, Error, ErrorKind, Result};
use crate::crypto::{ItemBinding, MailboxKey};
use crate::store::{ItemRow, MailboxKeyRow, MoveRow, PackAppender, RecipientScope, Store, Tx};

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
fn item_source<'a>(tx: &'a Tx, item: &'a ItemRow) -> Result<Box<dyn Read + 'a>> {
    let Some(pack) = &item.pack else {
        return Ok(Box::new(SegmentSource {
            tx,
            mailbox: &item.mailbox_guid,
            item: &item.item_id,
            n: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }));
    };
    let opened = tx.open_pack_range(&item.mailbox_guid, pack, item.pack_offset, item.stored_size);
    let f = match opened {
        Ok(f) => f,
        Err(e) => {
            let mailbox = match tx.recipient(&item.mailbox_guid) {
                Ok(Some(r)) => format!("'{}' ({})", r.name, r.guid),
                _ => item.mailbox_guid.clone(),
            };
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "item {} (number {}) of mailbox {mailbox} cannot be read: {e}",
                    item.item_id, item.seq
                ),
            )
            .with_help(format!(
                "the content directory {} belongs with the store: restore both from the same backup; the store itself was not changed",
                tx.content_dir().display()
            )));
        }
    };
    Ok(Box::new(io::BufReader::with_capacity(1 << 16, f)))
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
            None => Error::new(kind, format!("{what} {label}: {e}")),
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

/// Where messages start in an mbox file: byte offsets of each `From ` line that begins the
/// file or follows an empty line. Reads line by line (bounded memory).
pub fn mbox_offsets(path: &Path) -> Result<Vec<(u64, u64)>> {
    let f = File::open(path).map_err(|e| io_err("cannot open", path, e))?;
    let mut r = BufReader::new(f);
    let mut starts = Vec::new();
    let mut pos = 0u64;
    let mut prev_blank = true;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| io_err("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        if prev_blank && line.starts_with(b"From ") {
            starts.push(pos);
        }
        prev_blank = line == b"\n" || line == b"\r\n";
        pos += n as u64;
    }
    if starts.first() != Some(&0) {
        return Err(Error::invalid(format!(
            "{} is not an mbox file: it does not begin with a 'From ' line",
            path.display()
        ))
        .with_help("give an mbox file, an .eml file, or a folder of .eml files"));
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(pos);
        out.push((*s, end - s));
    }
    Ok(out)
}

/// What an import or export did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
}

enum Source {
    Eml(PathBuf),
    Mbox(PathBuf, u64, u64),
}

fn sources(path: &Path) -> Result<Vec<Source>> {
    let meta = std::fs::metadata(path).map_err(|e| io_err("cannot read", path, e))?;
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io_err("cannot list", path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")) && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!(
                "the folder {} holds no .eml files",
                path.display()
            ))
            .with_help("give a folder of .eml files, an .eml file, or an mbox file"));
        }
        return Ok(files.into_iter().map(Source::Eml).collect());
    }
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
    {
        return Ok(vec![Source::Eml(path.to_path_buf())]);
    }
    Ok(mbox_offsets(path)?
        .into_iter()
        .map(|(o, l)| Source::Mbox(path.to_path_buf(), o, l))
        .collect())
}

/// Commits the rows of every batch whose bytes are durable; with `wait`, waits for all of them
/// (or, with `more` batches queued than [`BATCHES_IN_FLIGHT`], for the oldest).
fn commit_durable(
    store: &mut Store,
    out: &mut PackAppender,
    waiting: &mut VecDeque<(u64, Vec<ItemRow>)>,
    wait: bool,
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
        store.write(|tx| -> Result<()> {
            let Some(first) = rows.first() else {
                return Ok(());
            };
            let first_seq = tx.next_item_seq(&first.mailbox_guid)?;
            for (seq, row) in (first_seq..).zip(rows) {
                tx.insert_item(&ItemRow { seq, ..row })?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `New-MailboxImportRequest -Mailbox -FilePath`.
///
/// Messages are encrypted one after another into one new pack file of the mailbox (a writer
/// thread and an fsync thread overlap with the encryption); their rows commit in batches, each
/// only after its bytes are fsynced. A kill leaves the committed batches and no part of the rest.
pub fn import(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
) -> Result<TransferResult> {
    let r = store.read(|tx| recipient::resolve(tx, mailbox, RecipientScope::Mailboxes))?;
    let srcs = sources(path)?;
    let request = request_id();
    let (key, _) = current_key(store, keys, &r, Purpose::User, &request)?;
    let owner = parse_guid(&r.guid)?;
    store.reclaim_packs()?;
    let mut out = PackAppender::start(store.create_pack(&r.guid)?)?;
    let (key_id, key_version) = (key.key_ref().id.to_string(), key.key_ref().version);
    let mut rows: Vec<ItemRow> = Vec::new();
    let mut waiting: VecDeque<(u64, Vec<ItemRow>)> = VecDeque::new();
    let mut batch_start = 0u64;
    let (mut items, mut bytes) = (0u64, 0u64);
    let fault: Option<u64> = std::env::var(FAULT_IMPORT_AFTER)
        .ok()
        .and_then(|v| v.parse().ok());
    for s in srcs {
        let (p, kind, input): (PathBuf, &str, Box<dyn Read>) = match s {
            Source::Eml(p) => {
                let f = File::open(&p).map_err(|e| io_err("cannot open", &p, e))?;
                (p, "eml", Box::new(f))
            }
            Source::Mbox(p, off, len) => {
                let mut f = File::open(&p).map_err(|e| io_err("cannot open", &p, e))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| io_err("cannot read", &p, e))?;
                (p, "mbox", Box::new(f.take(len)))
            }
        };
        let item_id = uuid::Uuid::new_v4().to_string();
        let binding = ItemBinding::new(owner, item_id.as_bytes().to_vec());
        let mut counted = Counting { inner: input, n: 0 };
        let offset = out.position();
        let mut enc = key.encrypting_reader(&binding, &mut counted)?;
        let stored = append_item(
            &mut out,
            &mut enc,
            ErrorKind::InvalidArgument,
            "cannot read the message",
            &p.display().to_string(),
        )?;
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
        commit_durable(store, &mut out, &mut waiting, false)?;
    }
    if !rows.is_empty() {
        let upto = out
            .request_sync()
            .map_err(|e| store_io_err("write", out.path(), e))?;
        waiting.push_back((upto, rows));
    }
    commit_durable(store, &mut out, &mut waiting, true)?;
    let pack_path = out.path().to_path_buf();
    out.finish()
        .map_err(|e| store_io_err("write", &pack_path, e))?;
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| {
        audit(tx, &org_id, "ExchangeAdmin", "New-MailboxImportRequest", "", &r.guid,
            json!({"Mailbox": r.name, "FilePath": path.display().to_string(), "Items": items, "Bytes": bytes}))
    })?;
    Ok(TransferResult {
        mailbox: r.name,
        file_path: path.display().to_string(),
        status: "Completed".into(),
        items,
        bytes,
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

fn decrypt_item(tx: &Tx, key: &MailboxKey, item: &ItemRow, out: &mut dyn Write) -> Result<()> {
    let src = item_source(tx, item)?;
    let binding = ItemBinding::new(
        parse_guid(&item.mailbox_guid)?,
        item.item_id.as_bytes().to_vec(),
    );
    let mut dec = key.decrypt_reader(&binding, src)?;
    io::copy(&mut dec, out).map_err(|e| match crate::crypto::CryptoError::from_io(&e) {
        Some(c) => Error::from(c.clone()),
        None => Error::new(
            ErrorKind::Unavailable,
            format!("cannot export the item: {e}"),
        ),
    })?;
    Ok(())
}

/// `New-MailboxExportRequest -Mailbox -FilePath`: to an mbox file when the path ends in
/// `.mbox`, else into a folder of `.eml` files (`000001.eml`, ...).
pub fn export(
    store: &mut Store,
    keys: &mut ServiceKeys,
    mailbox: &str,
    path: &Path,
) -> Result<TransferResult> {
    let r = store.read(|tx| recipient::resolve(tx, mailbox, RecipientScope::Mailboxes))?;
    let request = request_id();
    let key_rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
    let mut opened: Vec<(MailboxKeyRow, MailboxKey)> = Vec::new();
    for k in key_rows {
        let mk = open_key(store, keys, &k, Purpose::User, &request)?;
        opened.push((k, mk));
    }
    let items = store.read(|tx| -> Result<_> { Ok(tx.items(&r.guid)?) })?;
    let key_of = |item: &ItemRow| -> Result<&MailboxKey> {
        opened
            .iter()
            .find(|(k, _)| k.key_id == item.key_id && k.key_version == item.key_version)
            .map(|(_, mk)| mk)
            .ok_or_else(|| Error::rule(format!("the key of item {} is gone", item.item_id)))
    };
    let to_mbox = path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("mbox"));
    let mut bytes = 0u64;
    if to_mbox {
        write_file_atomic(path, |f| {
            store.read(|tx| {
                for item in &items {
                    let key = key_of(item)?;
                    if item.source == "mbox" {
                        decrypt_item(tx, key, item, f)?;
                    } else {
                        let mut conv = Reframe::new(f, Direction::ToMbox);
                        decrypt_item(tx, key, item, &mut conv)?;
                        conv.finish().map_err(|e| io_err("cannot write", path, e))?;
                    }
                    bytes += item.size;
                }
                Ok(())
            })
        })?;
    } else {
        std::fs::create_dir_all(path).map_err(|e| io_err("cannot create", path, e))?;
        for item in &items {
            let key = key_of(item)?;
            let file = path.join(format!("{:06}.eml", item.seq));
            write_file_atomic(&file, |f| {
                store.read(|tx| {
                    if item.source == "eml" {
                        decrypt_item(tx, key, item, f)
                    } else {
                        let mut conv = Reframe::new(f, Direction::ToEml);
                        decrypt_item(tx, key, item, &mut conv)?;
                        conv.finish().map_err(|e| io_err("cannot write", &file, e))
                    }
                })
            })?;
            bytes += item.size;
        }
    }
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| {
        audit(tx, &org_id, "ExchangeAdmin", "New-MailboxExportRequest", "", &r.guid,
            json!({"Mailbox": r.name, "FilePath": path.display().to_string(), "Items": items.len()}))
    })?;
    Ok(TransferResult {
        mailbox: r.name,
        file_path: path.display().to_string(),
        status: "Completed".into(),
        items: items.len() as u64,
        bytes,
    })
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
/// line is examined, so memory stays bounded whatever the line lengths.
struct Reframe<'a> {
    out: &'a mut dyn Write,
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
/// A longer run of `>` than this is passed through without looking further.
const MAX_QUOTES: usize = 4096;

impl<'a> Reframe<'a> {
    fn new(out: &'a mut dyn Write, dir: Direction) -> Self {
        Reframe {
            out,
            dir,
            pending: Vec::new(),
            at_line_start: true,
            first_line: true,
            skipping: false,
            last: None,
            started: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            if self.dir == Direction::ToMbox {
                self.out
                    .write_all(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")?;
            }
        }
        Ok(())
    }

    /// Decides what to write for the pending line start, now that it is complete or broken.
    fn resolve(&mut self, matched_from: bool) -> io::Result<()> {
        let quotes = self.pending.iter().take_while(|&&c| c == b'>').count();
        if matched_from {
            match self.dir {
                Direction::ToMbox => self.out.write_all(b">")?,
                Direction::ToEml if self.first_line && quotes == 0 => {
                    self.skipping = true;
                    self.pending.clear();
                    return Ok(());
                }
                Direction::ToEml if quotes > 0 => {
                    self.out.write_all(&self.pending[1..])?;
                    self.pending.clear();
                    self.at_line_start = false;
                    return Ok(());
                }
                Direction::ToEml => {}
            }
        }
        self.out.write_all(&self.pending)?;
        self.pending.clear();
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
            self.out.write_all(&[b])?;
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
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}

impl Write for Reframe<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.start()?;
        for &b in data {
            self.push(b)?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
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

/// Env var for fault injection in tests: stop (as if killed) after re-encrypting N items.
pub const FAULT_MOVE_AFTER: &str = "CUSTKEY_FAULT_MOVE_AFTER_ITEMS";

/// `New-MoveRequest`: re-encrypts all of a mailbox's content under a fresh mailbox key, one item
/// per transaction; a new request on an unfinished move resumes it. `progress(done, total)`
/// is called after each item.
pub fn move_mailbox(
    store: &mut Store,
    keys: &mut ServiceKeys,
    identity: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MoveRequest> {
    let r = store.read(|tx| recipient::resolve(tx, identity, RecipientScope::Mailboxes))?;
    let request = request_id();
    let existing = store.read(|tx| -> Result<_> { Ok(tx.move_request(&r.guid)?) })?;
    let key_rows = store.read(|tx| -> Result<_> { Ok(tx.mailbox_keys(&r.guid)?) })?;
    // The new key: the one an unfinished move created, else a fresh one under the mailbox's DEP.
    let (new_key, new_row) = match existing.as_ref().filter(|m| m.status == "InProgress") {
        Some(m) => {
            let row = key_rows
                .iter()
                .find(|k| k.key_id == m.new_key_id && k.key_version == m.new_key_version)
                .cloned()
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unavailable,
                        "the key of the unfinished move is missing",
                    )
                })?;
            (
                open_key(store, keys, &row, Purpose::Service, &request)?,
                row,
            )
        }
        None => {
            let d = target_dep(store, keys, &r)?;
            let (dk, _) = keys.dep_key(store, &d, Purpose::Service, &request)?;
            let next = key_rows.iter().map(|k| k.key_version).max().unwrap_or(0) + 1;
            super::mailbox::new_key(store, &dk, &d, &r, next)?
        }
    };
    let mut old: Vec<(MailboxKeyRow, MailboxKey)> = Vec::new();
    for k in key_rows
        .iter()
        .filter(|k| !(k.key_id == new_row.key_id && k.key_version == new_row.key_version))
    {
        old.push((
            k.clone(),
            open_key(store, keys, k, Purpose::Service, &request)?,
        ));
    }
    let items = store.read(|tx| -> Result<_> { Ok(tx.items(&r.guid)?) })?;
    let total = items.len() as u64;
    let t = now();
    let mut mv = MoveRow {
        mailbox_guid: r.guid.clone(),
        status: "InProgress".into(),
        items_total: total,
        items_done: items
            .iter()
            .filter(|i| i.key_id == new_row.key_id && i.key_version == new_row.key_version)
            .count() as u64,
        new_key_id: new_row.key_id.clone(),
        new_key_version: new_row.key_version,
        when_created: existing
            .as_ref()
            .filter(|m| m.status == "InProgress")
            .map(|m| m.when_created.clone())
            .unwrap_or_else(|| t.clone()),
        when_changed: t,
    };
    store.write(|tx| -> Result<()> { Ok(tx.put_move_request(&mv)?) })?;
    let fault: Option<u64> = std::env::var(FAULT_MOVE_AFTER)
        .ok()
        .and_then(|v| v.parse().ok());
    let mut moved_now = 0u64;
    let mut pack: Option<PackAppender> = None;
    progress(mv.items_done, total);
    for item in items {
        if item.key_id == new_row.key_id && item.key_version == new_row.key_version {
            continue;
        }
        let Some((_, old_key)) = old
            .iter()
            .find(|(k, _)| k.key_id == item.key_id && k.key_version == item.key_version)
        else {
            return Err(Error::rule(format!(
                "the key of item {} is gone",
                item.item_id
            )));
        };
        let out = match &mut pack {
            Some(out) => out,
            None => pack.insert(PackAppender::start(store.create_pack(&r.guid)?)?),
        };
        let row = reencrypt_item(store, out, old_key, &new_key, &item)?;
        store.write(|tx| {
            tx.set_item_content(&row)?;
            mv.items_done += 1;
            mv.when_changed = now();
            tx.put_move_request(&mv)?;
            Ok::<(), Error>(())
        })?;
        moved_now += 1;
        progress(mv.items_done, total);
        if fault.is_some_and(|n| moved_now >= n) {
            // Test fault injection: stop as abruptly as a kill would.
            std::process::exit(137);
        }
    }
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| {
        for (k, _) in &old {
            tx.delete_mailbox_key(&k.mailbox_guid, &k.key_id, k.key_version)?;
        }
        mv.status = "Completed".into();
        mv.when_changed = now();
        tx.put_move_request(&mv)?;
        audit(tx, &org_id, "ExchangeAdmin", "New-MoveRequest", "", &r.guid,
            json!({"Identity": r.name, "Items": total, "NewMailboxKeyVersion": new_row.key_version}))
    })?;
    if let Some(out) = pack {
        let path = out.path().to_path_buf();
        out.finish().map_err(|e| store_io_err("write", &path, e))?;
    }
    // The old ciphertext: every pack no item points at any more.
    store.reclaim_packs()?;
    Ok(present_move(&mv, &r.name, &r.display_name))
}

/// Re-encrypts one item under `new` into `out` and fsyncs it; returns the row to commit. The
/// item keeps its id (its binding); its old ciphertext stays where it was until the move is
/// complete and [`Store::reclaim_packs`] deletes the packs no item points at.
fn reencrypt_item(
    store: &mut Store,
    out: &mut PackAppender,
    old: &MailboxKey,
    new: &MailboxKey,
    item: &ItemRow,
) -> Result<ItemRow> {
    let owner = parse_guid(&item.mailbox_guid)?;
    let binding = ItemBinding::new(owner, item.item_id.as_bytes().to_vec());
    let offset = out.position();
    let stored = store.read(|tx| {
        let dec = old.decrypt_reader(&binding, item_source(tx, item)?)?;
        let mut enc = new.encrypting_reader(&binding, dec)?;
        append_item(
            out,
            &mut enc,
            ErrorKind::Unavailable,
            "cannot move item",
            &item.item_id,
        )
    })?;
    sync_pack(out)?;
    Ok(ItemRow {
        key_id: new.key_ref().id.to_string(),
        key_version: new.key_ref().version,
        stored_size: stored,
        pack: Some(out.id.clone()),
        pack_offset: offset,
        ..item.clone()
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
