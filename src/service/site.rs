//! Files of SharePoint sites: upload and download, streamed in chunks of
//! [`CHUNK_BYTES`](super::spo::CHUNK_BYTES). Each chunk is encrypted under its own chunk key
//! (derived from the site key with a fresh random salt, bound to the site, the file version
//! and the chunk number), so every upload, even of the same bytes, gets new chunk keys. A file
//! becomes visible when its one transaction commits; replacing a file drops the old chunks in
//! the same transaction. Memory stays at about two chunks whatever the file size.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use super::content::{io_err, write_file_atomic};
use super::dep::Outcome;
use super::keys::{parse_guid, ServiceKeys};
use super::spo::{SpoFile, Tiks, CHUNK_BYTES};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::{encrypted_len, ChunkBinding};
use crate::store::{PackReadError, SiteRow, SpoFileRow, Store, Tx};

/// The chunk format new uploads write: chunks bound to their file, number and finality.
const CHUNK_FORMAT: u32 = 2;

/// The binding of chunk `n` of a file: format 2 (written since schema 9) binds whether it is
/// the file's last chunk, so a file cut short at a chunk boundary, or extended, fails on read;
/// format 1 (older files) binds the file and the number only. No format-1 binding equals a
/// format-2 one, so marking a newer file as format 1 makes its chunks fail.
fn chunk_binding(
    site: &SiteRow,
    file_guid: &str,
    n: u32,
    format: u32,
    last: bool,
) -> Result<ChunkBinding> {
    let item = match format {
        1 => format!("{file_guid}/{n}"),
        2 => format!("{file_guid}/{n}/{}", if last { "last" } else { "more" }),
        other => {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("the file {file_guid} has an unknown chunk format {other}"),
            )
            .with_help("the store was altered or written by a newer custkey; restore it from a backup, or upload the file again"))
        }
    };
    Ok(ChunkBinding::new(
        parse_guid(&site.guid)?,
        item.into_bytes(),
    ))
}

/// Fills `buf` from `input` as far as it goes; the number of bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let got = input.read(&mut buf[filled..]).map_err(|e| {
            match crate::input::too_large(&e) {
                Some(limit) => Error::invalid(format!(
                    "cannot read {}: it is larger than {}",
                    path.display(),
                    crate::input::size(limit)
                ))
                .with_help("a file uploaded with Add-PnPFile is at most 512 MiB (see 'Input limits' in docs/cli.md); nothing was stored"),
                None => io_err("cannot read", path, e),
            }
        })?;
        if got == 0 {
            break;
        }
        filled += got;
    }
    Ok(filled)
}

/// The server-relative part of a site URL: `https://h/sites/x` -> `/sites/x`.
fn server_relative(site_url: &str) -> &str {
    site_url
        .strip_prefix("https://")
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .unwrap_or(site_url)
}

/// Finds the site and site-relative path a location names: a full URL
/// (`https://contoso.sharepoint.com/sites/x/Shared Documents/a.txt`), a server-relative one
/// (`/sites/x/Shared Documents/a.txt`), or a site-relative one with `site`.
pub fn locate(tx: &Tx, site: Option<&str>, location: &str) -> Result<(SiteRow, String)> {
    let loc = location.trim();
    // A site-relative location without -Site is relative to the `Connect-PnPOnline` site.
    let connected = match site.filter(|s| !s.trim().is_empty()) {
        None if !loc.starts_with("https://") && !loc.starts_with('/') => {
            super::connection::pnp_site(tx)?
        }
        _ => None,
    };
    if let Some(url) = site
        .filter(|s| !s.trim().is_empty())
        .or(connected.as_deref())
    {
        let url = super::spo::normalize_url(url)?;
        let row = tx.site_by_url(&url)?.ok_or_else(|| {
            Error::not_found(format!("the site '{url}' doesn't exist"))
                .with_help("create it with New-PnPSite; site URLs complete with Tab")
        })?;
        let rel = if loc.starts_with("https://") {
            loc.get(row.url.len()..)
                .filter(|_| loc.to_lowercase().starts_with(&row.url.to_lowercase()))
                .unwrap_or(loc)
        } else if loc.starts_with('/') {
            let base = server_relative(&row.url);
            loc.get(base.len()..)
                .filter(|_| loc.to_lowercase().starts_with(&base.to_lowercase()))
                .unwrap_or(loc)
        } else {
            loc
        };
        return Ok((row, rel.trim_matches('/').to_string()));
    }
    let lower = loc.to_lowercase();
    let best = tx
        .sites()?
        .into_iter()
        .filter_map(|s| {
            let base = if loc.starts_with("https://") {
                s.url.clone()
            } else {
                server_relative(&s.url).to_string()
            };
            let b = base.to_lowercase();
            let fits =
                lower.starts_with(&b) && matches!(lower.as_bytes().get(b.len()), None | Some(b'/'));
            fits.then_some((base.len(), s))
        })
        .max_by_key(|(n, _)| *n);
    match best {
        Some((n, s)) => Ok((s, loc[n..].trim_matches('/').to_string())),
        None if loc.is_empty() => Err(Error::invalid("no site was given")
            .with_help("give -Site <site URL>, or connect first: custkey Connect-PnPOnline -Url <site URL>")),
        None => Err(Error::invalid(format!(
            "'{location}' names no known site"
        ))
        .with_help("give -Site <site URL> (or connect with Connect-PnPOnline -Url <site URL>) with a site-relative path, or a full or server-relative URL that begins with a site's URL")),
    }
}

fn present(site: &SiteRow, f: &SpoFileRow) -> SpoFile {
    SpoFile {
        name: f.path.rsplit('/').next().unwrap_or_default().to_string(),
        server_relative_url: format!("{}/{}", server_relative(&site.url), f.path),
        site_url: site.url.clone(),
        length: f.size,
        chunks: f.chunks,
        time_last_modified: f.when_changed.clone(),
    }
}

/// A file whose chunks were dropped, reordered, duplicated, replaced or cut short in the store.
fn altered(path: &str, detail: &str) -> Error {
    Error::new(
        ErrorKind::Rule,
        format!("the file '{path}' was altered in the store ({detail}): its chunks were dropped, reordered, replaced or cut short"),
    )
    .with_help("nothing was written; restore the store from a backup, or upload the file again")
}

fn stream_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unavailable, format!("{what}: {e}")).with_help(
        "check the path, its folder's permissions and the free space, then run the command again",
    )
}

/// `Add-PnPFile -Path <local file> -Folder <folder> [-NewFileName]`: uploads (or replaces)
/// a file, chunk by chunk, in one transaction.
pub fn upload(
    store: &mut Store,
    keys: &ServiceKeys,
    site: Option<&str>,
    folder: &str,
    path: &Path,
    new_name: Option<&str>,
) -> Result<Outcome<SpoFile>> {
    let (site, folder) = store.read(|tx| locate(tx, site, folder))?;
    let name = match new_name.filter(|n| !n.trim().is_empty()) {
        Some(n) => n.trim().to_string(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::invalid(format!("{} is not a file", path.display()))
                    .with_help("give the path of a file with -Path")
            })?,
    };
    check_name(&name, "file")?;
    for part in folder.split('/').filter(|p| !p.is_empty()) {
        check_name(part, "folder")?;
    }
    let rel = if folder.is_empty() {
        name
    } else {
        format!("{folder}/{name}")
    };
    let file = File::open(path).map_err(|e| io_err("cannot open", path, e))?;
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::invalid(format!("{} is a folder", path.display()))
            .with_help("give the path of a file with -Path"));
    }
    // Bounded: a regular file past the limit is refused before anything is read; a stream
    // (a pipe, /dev/zero) stops at the limit.
    let limit = crate::input::MAX_SPO_FILE_BYTES;
    let too_large = || {
        Error::invalid(format!(
            "cannot read {}: it is larger than {}",
            path.display(),
            crate::input::size(limit)
        ))
        .with_help("a file uploaded with Add-PnPFile is at most 512 MiB (see 'Input limits' in docs/cli.md); nothing was stored")
    };
    if meta.is_some_and(|m| m.len() > limit) {
        return Err(too_large());
    }
    let mut input = crate::input::Limited::new(file, limit);
    let mut tiks = Tiks::default();
    let key = tiks.site_key(store, keys, &site)?;
    let file_guid = uuid::Uuid::new_v4().to_string();
    // The chunks go into a new pack of the site, one after another, and are fsynced before the
    // row that points at them commits; no store lock is held while they are written. A failure
    // before the commit leaves a pack no row names, which the reclaim below (or the next one)
    // deletes.
    let pack = store.create_pack(&site.guid)?;
    let pack_id = pack.id.clone();
    let written = write_chunks(&key, &site, &file_guid, &mut input, path, pack);
    let (n, size) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = store.reclaim_packs();
            return Err(e);
        }
    };
    let mut replaced_pack = None;
    let committed = store.write(|tx| {
        let old = tx.spo_file(&site.guid, &rel)?;
        if let Some(o) = &old {
            tx.delete_spo_file(&o.guid)?;
            replaced_pack = o.pack.clone();
        }
        let t = now();
        let row = SpoFileRow {
            guid: file_guid.clone(),
            site_guid: site.guid.clone(),
            path: rel.clone(),
            size,
            chunks: n,
            when_created: old.map(|o| o.when_created).unwrap_or_else(|| t.clone()),
            when_changed: t,
            chunk_format: CHUNK_FORMAT,
            pack: Some(pack_id.clone()),
            pack_offset: 0,
        };
        tx.insert_spo_file(&row)?;
        Ok::<_, Error>(row)
    });
    // The replaced file's pack (no row names it now), or this one's after a failed commit.
    let row = match committed {
        Ok(row) => row,
        Err(e) => {
            let _ = store.reclaim_packs();
            return Err(e);
        }
    };
    // Only the replaced file's pack: a full reclaim also lists every content directory.
    if let Some(old) = replaced_pack {
        store.reclaim_pack(&site.guid, &old)?;
    }
    Ok(Outcome {
        value: present(&site, &row),
        warnings: tiks.warnings,
    })
}

/// Encrypts `input` chunk by chunk into `pack` and makes it durable; returns the number of
/// chunks and of plaintext bytes.
fn write_chunks(
    key: &crate::crypto::SiteKey,
    site: &SiteRow,
    file_guid: &str,
    input: &mut impl Read,
    path: &Path,
    pack: crate::store::PackFile,
) -> Result<(u32, u64)> {
    let pack_path = pack.path.clone();
    let write_err = |e: std::io::Error| io_err("cannot write", &pack_path, e);
    let mut out = crate::store::PackAppender::start(pack)?;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; CHUNK_BYTES]);
    let (mut n, mut size) = (0u32, 0u64);
    // One byte read ahead past a full chunk tells whether it is the last.
    let mut ahead: Option<u8> = None;
    loop {
        let start = match ahead.take() {
            Some(b) => {
                buf[0] = b;
                1
            }
            None => 0,
        };
        let filled = start + fill(input, &mut buf[start..], path)?;
        let mut one = [0u8; 1];
        let last = filled < CHUNK_BYTES || fill(input, &mut one, path)? == 0;
        if !last {
            ahead = Some(one[0]);
        }
        let binding = chunk_binding(site, file_guid, n, CHUNK_FORMAT, last)?;
        // Encrypted straight into the pack's write buffers.
        let mut ct = key.encrypting_reader(&binding, &buf[..filled])?;
        let len = out.append_from(&mut ct).map_err(write_err)?;
        if len != encrypted_len(filled as u64) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("chunk {n} of {} came out {len} bytes long", path.display()),
            )
            .with_help("nothing was stored; this is a bug in custkey, please report it"));
        }
        size += filled as u64;
        n += 1;
        if last {
            break;
        }
    }
    out.finish().map_err(write_err)?;
    Ok((n, size))
}

/// Where chunk `n` of a file in a pack starts (relative to its `pack_offset`) and how long its
/// ciphertext is: every chunk but the last holds [`CHUNK_BYTES`] of plaintext.
fn chunk_extent(f: &SpoFileRow, n: u32) -> Option<(u64, u64)> {
    let full = CHUNK_BYTES as u64;
    let before = u64::from(n).checked_mul(full)?;
    let plain = if n + 1 == f.chunks {
        f.size.checked_sub(before)?
    } else {
        full
    };
    if plain > full {
        return None;
    }
    Some((u64::from(n) * encrypted_len(full), encrypted_len(plain)))
}

/// A file's pack that is missing or shorter than its row says.
fn pack_damaged(path: &str, e: PackReadError) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("the content of the file '{path}' cannot be read: {e}"),
    )
    .with_help("nothing was written; restore the store and its content/ directory from the same backup, or upload the file again")
}

/// Decrypts the chunks of a file in a pack, read in order from `src`, into `out`.
fn read_pack_chunks(
    key: &crate::crypto::SiteKey,
    site: &SiteRow,
    f: &SpoFileRow,
    mut src: impl Read,
    out: &mut File,
    dest: &Path,
) -> Result<()> {
    // Each chunk is decrypted as it is read (64 KiB segments, each authenticated before its
    // plaintext is handed out); a chunk that fails leaves only the temporary file, which is
    // removed.
    let mut pt = zeroize::Zeroizing::new(vec![0u8; 64 << 10]);
    for n in 0..f.chunks {
        let Some((_, len)) = chunk_extent(f, n) else {
            return Err(altered(&f.path, "its size does not match its chunks"));
        };
        let binding = chunk_binding(site, &f.guid, n, f.chunk_format, n + 1 == f.chunks)?;
        let fails = || {
            altered(
                &f.path,
                &format!("chunk {n} of {} fails its integrity check", f.chunks),
            )
        };
        let mut r = key
            .decrypt_reader(&binding, (&mut src).take(len))
            .map_err(|_| fails())?;
        loop {
            let got = match r.read(&mut pt) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(fails()),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("chunk {n} of '{}' cannot be read from its pack: {e}", f.path),
                    )
                    .with_help("nothing was written; restore the store and its content/ directory from the same backup, or upload the file again"))
                }
            };
            out.write_all(&pt[..got])
                .map_err(|e| stream_err(&format!("cannot write {}", dest.display()), e))?;
        }
    }
    Ok(())
}

/// Decrypts the chunks of a file uploaded before packs (`spo_file_chunk` rows) into `out`.
fn read_row_chunks(
    tx: &Tx,
    key: &crate::crypto::SiteKey,
    site: &SiteRow,
    f: &SpoFileRow,
    out: &mut File,
    dest: &Path,
) -> Result<()> {
    for n in 0..f.chunks {
        let ct = tx.spo_chunk(&f.guid, n)?.ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!("chunk {n} of '{}' is missing from the store", f.path),
            )
            .with_help(
                "nothing was written; restore the store from a backup, or upload the file again",
            )
        })?;
        open_chunk(key, site, f, n, &ct, out, dest)?;
    }
    Ok(())
}

/// Decrypts chunk `n` of a file and writes its plaintext to `out`.
fn open_chunk(
    key: &crate::crypto::SiteKey,
    site: &SiteRow,
    f: &SpoFileRow,
    n: u32,
    ct: &[u8],
    out: &mut File,
    dest: &Path,
) -> Result<()> {
    let binding = chunk_binding(site, &f.guid, n, f.chunk_format, n + 1 == f.chunks)?;
    let pt = key.decrypt_content(&binding, ct).map_err(|_| {
        altered(
            &f.path,
            &format!("chunk {n} of {} fails its integrity check", f.chunks),
        )
    })?;
    out.write_all(&pt)
        .map_err(|e| stream_err(&format!("cannot write {}", dest.display()), e))
}

fn file_of(tx: &Tx, site: Option<&str>, url: &str) -> Result<(SiteRow, SpoFileRow)> {
    let (site, rel) = locate(tx, site, url)?;
    let f = tx.spo_file(&site.guid, &rel)?.ok_or_else(|| {
        Error::not_found(format!(
            "the file '{rel}' doesn't exist in site {}",
            site.url
        ))
        .with_help("list the site's files with Get-PnPFolderItem -Site <url>")
    })?;
    Ok((site, f))
}

/// `Get-PnPFile -Url` (without -AsFile): the file's properties; nothing is decrypted.
pub fn info(store: &mut Store, site: Option<&str>, url: &str) -> Result<SpoFile> {
    store.read(|tx| {
        let (s, f) = file_of(tx, site, url)?;
        Ok(present(&s, &f))
    })
}

/// `Get-PnPFolderItem`: files of a site (`None`: the connected one) under a folder (all when
/// empty).
pub fn list(store: &mut Store, site: Option<&str>, folder: &str) -> Result<Vec<SpoFile>> {
    store.read(|tx| {
        let (s, rel) = locate(tx, site, folder)?;
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        Ok(tx
            .spo_files(&s.guid, &prefix)?
            .iter()
            .map(|f| present(&s, f))
            .collect())
    })
}

/// `Get-PnPFile -Url -AsFile -Path -Filename`: decrypts the file chunk by chunk into `dest`
/// (written under a temporary name and renamed into place).
pub fn download(
    store: &mut Store,
    keys: &ServiceKeys,
    site: Option<&str>,
    url: &str,
    dest: &Path,
) -> Result<Outcome<SpoFile>> {
    let mut tiks = Tiks::default();
    // Read in one snapshot; a pack deleted meanwhile (the file was replaced and the old pack
    // reclaimed after this snapshot began) is looked up again, where the file is now, and so
    // is a site whose key was re-wrapped since its key was opened.
    let mut attempt = 0;
    let (site_row, f) = loop {
        attempt += 1;
        let (site_row, _) = store.read(|tx| file_of(tx, site, url))?;
        let key = tiks.site_key(store, keys, &site_row)?;
        let got = store.read(|tx| {
            let (s, f) = file_of(tx, site, url)?;
            if s != site_row {
                return Ok(Err(()));
            }
            if f.chunk_format >= 2 && f.chunks == 0 {
                return Err(altered(&f.path, "it records no chunks"));
            }
            match &f.pack {
                Some(pack) => {
                    let total = match (f.chunks.checked_sub(1)).and_then(|l| chunk_extent(&f, l)) {
                        Some((at, len)) => at + len,
                        None => return Err(altered(&f.path, "its size does not match its chunks")),
                    };
                    let src = match tx.open_pack_range(&s.guid, pack, f.pack_offset, total) {
                        Ok(src) => src,
                        Err(PackReadError::Open(_, e))
                            if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 =>
                        {
                            return Ok(Err(()));
                        }
                        Err(e) => return Err(pack_damaged(&f.path, e)),
                    };
                    write_file_atomic(dest, |out| {
                        read_pack_chunks(
                            &key,
                            &s,
                            &f,
                            std::io::BufReader::with_capacity(1 << 20, src),
                            out,
                            dest,
                        )
                    })?;
                }
                None => {
                    write_file_atomic(dest, |out| read_row_chunks(tx, &key, &s, &f, out, dest))?
                }
            }
            Ok(Ok(f))
        })?;
        match got {
            Ok(f) => break (site_row, f),
            Err(()) if attempt < 3 => continue,
            Err(()) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("the file '{url}' kept changing while it was read"),
                )
                .with_help("nothing was written; run the command again"))
            }
        }
    };
    let site = site_row;
    Ok(Outcome {
        value: present(&site, &f),
        warnings: tiks.warnings,
    })
}

/// SharePoint's rules for a file or folder name, as Microsoft documents them for SharePoint
/// in Microsoft 365 and OneDrive: none of `" * : < > ? / \ |` (nor control characters), no
/// leading or trailing space, not `.lock`, `CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`,
/// `LPT0`-`LPT9` or `desktop.ini`, no `_vti_` anywhere, not beginning with `~$`. Names made of
/// periods alone (`.`, `..`) are refused too: in a server-relative URL they would name another
/// folder.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(format!("'{name}' is not a valid {what} name: {why}"))
            .with_help("SharePoint names have none of \" * : < > ? / \\ |, no leading or trailing space, and are not a reserved name (CON, NUL, .lock, desktop.ini, ...)"))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || "\"*:<>?/\\|".contains(*c))
    {
        return bad(&format!("it has the character {c:?}"));
    }
    if name.trim() != name {
        return bad("it begins or ends with a space");
    }
    if name.chars().all(|c| c == '.') {
        return bad("it is made of periods alone");
    }
    let lower = name.to_ascii_lowercase();
    let device = |prefix: &str| {
        lower.len() == 4 && lower.starts_with(prefix) && lower.as_bytes()[3].is_ascii_digit()
    };
    if matches!(
        lower.as_str(),
        ".lock" | "con" | "prn" | "aux" | "nul" | "desktop.ini"
    ) || device("com")
        || device("lpt")
    {
        return bad("it is a reserved name");
    }
    if lower.contains("_vti_") {
        return bad("it contains _vti_");
    }
    if name.starts_with("~$") {
        return bad("it begins with ~$");
    }
    Ok(())
}
