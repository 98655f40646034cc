//! Files named by a cmdlet's parameters, when the cmdlet runs on the service: a file or folder
//! the cmdlet reads is sent with the request, one it writes comes back with the reply, and the
//! service works on a private copy in a folder of its own that it removes afterwards. The
//! service never opens a path a client names.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::args::Args;
use crate::cli::def::{Files, Param};
use crate::cli::error::{Class, CliError};

/// The most bytes of files one request or reply carries (before base64).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// The most files one request or reply carries.
pub const MAX_FILES: usize = 10_000;

/// Output files a cmdlet writes where none is named (the service's current folder): on the
/// service the parameter must be given.
pub fn needs_named_output(cmdlet: &str, args: &Args) -> Option<&'static str> {
    match cmdlet {
        "Backup-AzKeyVaultKey" => Some("OutputFile"),
        "Get-PnPFile" if args.switch("AsFile") => Some("Path"),
        _ => None,
    }
}

/// One file of a [`Transfer`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Relative, `/`-separated; empty for the transfer's single file.
    pub path: String,
    /// Base64.
    pub data: String,
}

/// A file parameter's content on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    pub param: String,
    /// The file or folder name on the client (the service uses it for its copy, so that
    /// names in messages and outputs read as the client's).
    pub name: String,
    /// `file`, `dir`, or, for a parameter the cmdlet writes, `out` (a file) or `outdir` (into
    /// a folder).
    pub kind: String,
    #[serde(default)]
    pub entries: Vec<Entry>,
}

fn too_big(what: &str) -> CliError {
    CliError::usage(format!(
        "{what} is over the {} MiB a service request carries",
        MAX_FILE_BYTES >> 20
    ))
    .with_help("run this cmdlet in embedded mode on the service's machine, or split the input")
}

/// A relative path of an entry, checked: plain components only.
fn safe_rel(p: &str) -> Result<PathBuf, CliError> {
    let path = Path::new(p);
    let ok = !p.is_empty()
        && !p.contains('\0')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(
            CliError::usage(format!("'{p}' is not a relative file name"))
                .with_help("file names in a request are plain relative names"),
        );
    }
    Ok(path.to_path_buf())
}

fn b64(bytes: &[u8]) -> String {
    super::http::base64_encode(bytes)
}

fn unb64(s: &str) -> Result<Vec<u8>, CliError> {
    super::http::base64_decode(s)
        .ok_or_else(|| CliError::usage("a file in the request is not base64"))
}

/// Reads the files under `root` (a file, or a folder's regular files at any depth; links are
/// not followed), bounded.
fn collect(root: &Path, what: &str) -> Result<(String, Vec<Entry>), CliError> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| {
        CliError::usage(format!("cannot read {}: {e}", root.display())).with_help("check the path")
    })?;
    let read = |p: &Path, total: &mut u64| -> Result<Vec<u8>, CliError> {
        let left = MAX_FILE_BYTES - *total;
        let data = custkey::input::read_file_limited(p, left).map_err(|e| match e {
            custkey::input::ReadError::TooLarge { .. } => too_big(what),
            e => CliError::usage(format!("cannot read {}: {e}", p.display())),
        })?;
        *total += data.len() as u64;
        Ok(data)
    };
    let mut total = 0u64;
    if !meta.is_dir() {
        let data = read(root, &mut total)?;
        return Ok((
            "file".into(),
            vec![Entry {
                path: String::new(),
                data: b64(&data),
            }],
        ));
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let Ok(ft) = e.file_type() else { continue };
            let r = rel.join(e.file_name());
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() {
                if out.len() == MAX_FILES {
                    return Err(too_big(what));
                }
                let data = read(&e.path(), &mut total)?;
                out.push(Entry {
                    path: r.to_string_lossy().replace('\\', "/"),
                    data: b64(&data),
                });
            }
        }
    }
    Ok(("dir".into(), out))
}

fn base_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "file".into())
}

/// The refusal of a parameter that names files on the service's own machine.
pub fn host_only(cmdlet: &str, param: &str) -> CliError {
    CliError::usage(format!(
        "-{param} names a file on the service's machine, which only the service's operator gives"
    ))
    .with_help(format!(
        "run {cmdlet} in embedded mode on the service's machine (docs/service.md, \"Files\")"
    ))
}

/// On the client: what to send for the file parameter `param` = `path` of `cmdlet`.
pub fn outgoing(cmdlet: &str, param: &Param, path: &str) -> Result<Transfer, CliError> {
    let p = Path::new(path);
    let (files, param) = (param.files, param.name);
    match files {
        Files::None | Files::Host => Err(host_only(cmdlet, param)),
        Files::Reads => {
            if path == "-" {
                return Err(CliError::usage(format!(
                    "-{param} - (standard input) is not sent to a service"
                ))
                .with_help("give a file or folder; it is sent with the request"));
            }
            let (kind, entries) = collect(p, &format!("-{param} {path}"))?;
            Ok(Transfer {
                param: param.into(),
                name: base_name(p),
                kind,
                entries,
            })
        }
        Files::Writes => Ok(Transfer {
            param: param.into(),
            name: base_name(p),
            kind: if p.is_dir() { "outdir" } else { "out" }.into(),
            entries: Vec::new(),
        }),
    }
}

/// On the client: the files of one request together stay within [`MAX_FILE_BYTES`].
pub fn check_total(files: &[Transfer]) -> Result<(), CliError> {
    // Base64 carries three bytes in four characters.
    let total: u64 = files
        .iter()
        .flat_map(|t| &t.entries)
        .map(|e| e.data.len() as u64 / 4 * 3)
        .sum();
    if total > MAX_FILE_BYTES {
        return Err(too_big("the files named"));
    }
    Ok(())
}

/// On the service: a private folder for one request's files, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(rid: &str) -> Result<Scratch, CliError> {
        let safe: String = rid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let dir = std::env::temp_dir().join(format!("custkey-request-{safe}"));
        let _ = std::fs::remove_dir_all(&dir);
        custkey::paths::create_private_dir(&dir)
            .map_err(|e| CliError::unavailable(format!("cannot make a scratch folder: {e}")))?;
        Ok(Scratch { dir })
    }

    /// Writes an incoming transfer; the path the cmdlet is given instead of the client's.
    pub fn receive(&self, t: &Transfer, index: usize) -> Result<PathBuf, CliError> {
        let name = safe_rel(&t.name)?;
        if name.components().count() != 1 {
            return Err(CliError::usage(
                "a file name in the request has a folder in it",
            ));
        }
        let base = self.dir.join(index.to_string());
        custkey::paths::create_private_dir(&base)
            .map_err(|e| CliError::unavailable(format!("cannot make a scratch folder: {e}")))?;
        let target = base.join(&name);
        let mut total = 0u64;
        if t.entries.len() > MAX_FILES {
            return Err(too_big("the files sent"));
        }
        let write = |p: &Path, data: &[u8]| {
            custkey::fsio::write_atomic(p, data)
                .map_err(|e| CliError::unavailable(format!("cannot write a scratch file: {e}")))
        };
        match t.kind.as_str() {
            "file" => {
                let [one] = t.entries.as_slice() else {
                    return Err(CliError::usage("a file transfer carries exactly one file"));
                };
                let data = unb64(&one.data)?;
                write(&target, &data)?;
            }
            "dir" => {
                custkey::paths::create_private_dir(&target).map_err(|e| {
                    CliError::unavailable(format!("cannot make a scratch folder: {e}"))
                })?;
                for e in &t.entries {
                    let rel = safe_rel(&e.path)?;
                    let data = unb64(&e.data)?;
                    total += data.len() as u64;
                    if total > MAX_FILE_BYTES {
                        return Err(too_big("the files sent"));
                    }
                    let p = target.join(rel);
                    if let Some(parent) = p.parent() {
                        custkey::paths::create_private_dir(parent).map_err(|e| {
                            CliError::unavailable(format!("cannot make a scratch folder: {e}"))
                        })?;
                    }
                    write(&p, &data)?;
                }
            }
            "out" => {}
            "outdir" => custkey::paths::create_private_dir(&target)
                .map_err(|e| CliError::unavailable(format!("cannot make a scratch folder: {e}")))?,
            other => {
                return Err(
                    CliError::usage(format!("'{other}' is not a kind of file transfer"))
                        .with_help("file, dir, out or outdir"),
                )
            }
        }
        Ok(target)
    }

    /// What the cmdlet wrote at `path` (an output parameter's scratch path), to send back.
    pub fn send_back(&self, t: &Transfer, path: &Path) -> Result<Option<Transfer>, CliError> {
        if !path.exists() {
            return Ok(None);
        }
        let (kind, entries) = collect(path, &format!("the output of -{}", t.param))?;
        if t.kind == "out" && kind != "file" {
            return Err(CliError::new(
                Class::Internal,
                "the cmdlet wrote a folder where a file was asked for",
            ));
        }
        Ok(Some(Transfer {
            param: t.param.clone(),
            name: t.name.clone(),
            kind,
            entries,
        }))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// On the client: writes a returned transfer at `path` (the client's own path). An existing
/// file is replaced only with `force` (as the cmdlet itself would refuse).
pub fn write_back(t: &Transfer, path: &Path, force: bool) -> Result<(), CliError> {
    let place = |p: &Path, data: &[u8]| -> Result<(), CliError> {
        if p.exists() && !force {
            return Err(CliError::new(
                Class::Failed,
                format!("{} exists; nothing was written there", p.display()),
            )
            .with_help("add -Force to replace it, or give another path"));
        }
        if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            custkey::paths::create_private_dir(parent).map_err(|e| {
                CliError::unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        custkey::fsio::write_atomic(p, data)
            .map_err(|e| CliError::unavailable(format!("cannot write {}: {e}", p.display())))
    };
    match t.kind.as_str() {
        "file" => {
            let [one] = t.entries.as_slice() else {
                return Err(CliError::new(
                    Class::Internal,
                    "the service sent a file transfer without its one file",
                ));
            };
            place(path, &unb64(&one.data)?)
        }
        _ => {
            for e in &t.entries {
                let rel = safe_rel(&e.path)?;
                place(&path.join(rel), &unb64(&e.data)?)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(cmdlet: &str, name: &str) -> &'static Param {
        crate::cli::find_cmdlet(cmdlet)
            .and_then(|c| c.all_params().find(|p| p.name == name))
            .expect("a parameter of the definition table")
    }

    #[test]
    fn entry_names_cannot_leave_the_scratch_folder() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/./b/..", "a\0b"] {
            assert!(safe_rel(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_rel("a/b.eml").unwrap(), PathBuf::from("a/b.eml"));
    }

    #[test]
    fn a_folder_goes_and_comes_back() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("mail");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.eml"), b"A").unwrap();
        std::fs::write(src.join("sub/b.eml"), b"B").unwrap();
        let t = outgoing(
            "New-MailboxImportRequest",
            param("New-MailboxImportRequest", "FilePath"),
            src.to_str().unwrap(),
        )
        .unwrap();
        assert_eq!((t.kind.as_str(), t.entries.len()), ("dir", 2));
        let s = Scratch::new("t-1").unwrap();
        let got = s.receive(&t, 0).unwrap();
        assert!(got.starts_with(&s.dir));
        assert_eq!(std::fs::read(got.join("sub/b.eml")).unwrap(), b"B");
        let back = s.send_back(&t, &got).unwrap().unwrap();
        let out = d.path().join("copy");
        write_back(&back, &out, false).unwrap();
        assert_eq!(std::fs::read(out.join("a.eml")).unwrap(), b"A");
        // Not over an existing file without -Force.
        assert!(write_back(&back, &out, false).is_err());
        write_back(&back, &out, true).unwrap();
        let dir = s.dir.clone();
        drop(s);
        assert!(!dir.exists());
    }

    /// docs/service.md names every parameter that a client's files travel for, under the
    /// cmdlet's name (a new one fails here until the page says it).
    #[test]
    fn the_service_page_names_every_file_parameter() {
        let page = include_str!("../../../docs/service.md").replace('\n', " ");
        for c in crate::cli::cmdlets::all() {
            for p in c
                .params
                .iter()
                .filter(|p| matches!(p.files, Files::Reads | Files::Writes))
            {
                // `Cmdlet -Param`, or `Cmdlet -Other`/`-Param`: up to the next list item.
                let named = page.match_indices(&format!("`{} -", c.name)).any(|(i, _)| {
                    let rest = &page[i + 1..];
                    let item = rest.find(", `").map_or(rest, |end| &rest[..end]);
                    item.contains(&format!("-{}`", p.name))
                });
                assert!(
                    named,
                    "docs/service.md does not name {} -{}",
                    c.name, p.name
                );
            }
        }
    }

    #[test]
    fn service_side_files_are_not_sent() {
        for (cmdlet, name) in [
            ("New-AzKeyVault", "Pkcs11Module"),
            ("New-AzKeyVault", "KmipClientKey"),
            ("Start-CustomerKeyService", "CertificateKey"),
        ] {
            assert_eq!(param(cmdlet, name).files, Files::Host, "{cmdlet} -{name}");
            assert!(outgoing(cmdlet, param(cmdlet, name), "/usr/lib/x.so").is_err());
        }
        let p = param("New-MailboxImportRequest", "FilePath");
        assert!(outgoing("New-MailboxImportRequest", p, "-").is_err());
    }

    #[test]
    fn hostile_transfers_are_refused() {
        let s = Scratch::new("t-2").unwrap();
        let t = |name: &str, kind: &str, path: &str| Transfer {
            param: "FilePath".into(),
            name: name.into(),
            kind: kind.into(),
            entries: vec![Entry {
                path: path.into(),
                data: "QQ==".into(),
            }],
        };
        assert!(s.receive(&t("../x", "file", ""), 0).is_err());
        assert!(s.receive(&t("a/b", "file", ""), 0).is_err());
        assert!(s.receive(&t("m", "dir", "../../etc/x"), 0).is_err());
        assert!(s.receive(&t("m", "weird", ""), 0).is_err());
    }
}
