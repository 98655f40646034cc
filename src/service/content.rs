//! Mailbox content: import (`.eml` files, a folder of them, or an mbox file), export
//! byte-identical, and move requests that re-encrypt a mailbox under a fresh key.
//!
//! Each message is one item, encrypted with the crypto core's streaming format under the
//! mailbox's current key and stored as ciphertext segments of 1 MiB; memory stays bounded
//! whatever the message size. An item becomes visible when its transaction commits, so a
//! crash never leaves half an item.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::keys::{audit, parse_guid, request_id, Purpose, ServiceKeys};
use super::mailbox::{current_key, open_key, target_dep};
use super::{now, recipient, Error, ErrorKind, Result};
use crate::crypto::{ItemBinding, MailboxKey};
use crate::store::{ItemRow, MailboxKeyRow, MoveRow, RecipientScope, Store, Tx};

/// Ciphertext bytes per stored segment.
pub const SEGMENT_BYTES: usize = 1 << 20;

/// Writes ciphertext into `item_segment` rows of [`SEGMENT_BYTES`].
struct SegmentSink<'a, 't> {
    tx: &'a Tx<'t>,
    mailbox: &'a str,
    item: &'a str,
    buf: Vec<u8>,
    n: u32,
    total: u64,
}

impl SegmentSink<'_, '_> {
    fn flush_segment(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.tx
            .put_segment(self.mailbox, self.item, self.n, &self.buf)
            .map_err(io::Error::other)?;
        self.n += 1;
        self.buf.clear();
        Ok(())
    }
}

impl Write for SegmentSink<'_, '_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = SEGMENT_BYTES - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.total += n as u64;
        if self.buf.len() == SEGMENT_BYTES {
            self.flush_segment()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads an item's ciphertext back, one segment at a time.
struct SegmentSource<'a, 't> {
    tx: &'a Tx<'t>,
    mailbox: &'a str,
    item: &'a str,
    n: u32,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<'a, 't> SegmentSource<'a, 't> {
    /// Reads `item`'s stored ciphertext from the start.
    fn of(tx: &'a Tx<'t>, item: &'a ItemRow) -> Self {
        SegmentSource {
            tx,
            mailbox: &item.mailbox_guid,
            item: &item.item_id,
            n: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }
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

pub(crate) fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{what} {}: {e}", path.display()),
    )
    .with_help("check the path and that it is readable")
}

/// Encrypts `input` as a new complete item of the mailbox, in one transaction.
fn store_item(
    tx: &Tx,
    mailbox_guid: &str,
    key: &MailboxKey,
    source: &str,
    input: &mut dyn Read,
) -> Result<ItemRow> {
    let item_id = uuid::Uuid::new_v4().to_string();
    let mut row = ItemRow {
        mailbox_guid: mailbox_guid.to_string(),
        item_id: item_id.clone(),
        seq: tx.next_item_seq(mailbox_guid)?,
        source: source.into(),
        size: 0,
        stored_size: 0,
        key_id: key.key_ref().id.to_string(),
        key_version: key.key_ref().version,
        complete: false,
    };
    tx.insert_item(&row)?;
    let binding = ItemBinding::new(parse_guid(mailbox_guid)?, item_id.as_bytes().to_vec());
    let sink = SegmentSink {
        tx,
        mailbox: mailbox_guid,
        item: &item_id,
        buf: Vec::with_capacity(SEGMENT_BYTES),
        n: 0,
        total: 0,
    };
    let mut enc = key.encrypt_writer(&binding, sink)?;
    let size = io::copy(input, &mut enc).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot read the message: {e}"),
        )
    })?;
    let mut sink = enc.finish().map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot store the message: {e}"),
        )
    })?;
    sink.flush_segment().map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot store the message: {e}"),
        )
    })?;
    row.size = size;
    row.stored_size = sink.total;
    row.complete = true;
    tx.complete_item(&row)?;
    Ok(row)
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

/// `New-MailboxImportRequest -Mailbox -FilePath`.
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
    let (mut items, mut bytes) = (0u64, 0u64);
    for s in srcs {
        let row = match s {
            Source::Eml(p) => {
                let mut f = File::open(&p).map_err(|e| io_err("cannot open", &p, e))?;
                store.write(|tx| store_item(tx, &r.guid, &key, "eml", &mut f))?
            }
            Source::Mbox(p, off, len) => {
                let mut f = File::open(&p).map_err(|e| io_err("cannot open", &p, e))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| io_err("cannot read", &p, e))?;
                let mut part = f.take(len);
                store.write(|tx| store_item(tx, &r.guid, &key, "mbox", &mut part))?
            }
        };
        items += 1;
        bytes += row.size;
    }
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
    let src = SegmentSource::of(tx, item);
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
        store.write(|tx| {
            reencrypt_item(tx, old_key, &new_key, &item)?;
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
    Ok(present_move(&mv, &r.name, &r.display_name))
}

/// Re-encrypts one item under `new` in place: the item keeps its id (its binding), its
/// segments are replaced in the same transaction.
fn reencrypt_item(tx: &Tx, old: &MailboxKey, new: &MailboxKey, item: &ItemRow) -> Result<()> {
    let owner = parse_guid(&item.mailbox_guid)?;
    let binding = ItemBinding::new(owner, item.item_id.as_bytes().to_vec());
    let staging = format!("{}#move", item.item_id);
    let src = SegmentSource::of(tx, item);
    let mut dec = old.decrypt_reader(&binding, src)?;
    let sink = SegmentSink {
        tx,
        mailbox: &item.mailbox_guid,
        item: &staging,
        buf: Vec::with_capacity(SEGMENT_BYTES),
        n: 0,
        total: 0,
    };
    let mut enc = new.encrypt_writer(&binding, sink)?;
    io::copy(&mut dec, &mut enc).map_err(|e| match crate::crypto::CryptoError::from_io(&e) {
        Some(c) => Error::from(c.clone()),
        None => Error::new(
            ErrorKind::Unavailable,
            format!("cannot move item {}: {e}", item.item_id),
        ),
    })?;
    let mut sink = enc
        .finish()
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("cannot move item: {e}")))?;
    sink.flush_segment()
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("cannot move item: {e}")))?;
    let stored = sink.total;
    tx.replace_segments(&item.mailbox_guid, &item.item_id, &staging)?;
    let mut row = item.clone();
    row.key_id = new.key_ref().id.to_string();
    row.key_version = new.key_ref().version;
    row.stored_size = stored;
    tx.complete_item(&row)?;
    Ok(())
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
