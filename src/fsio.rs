//! Atomic file writes, shared by every layer that writes files of its own (vault files, identity
//! key files, saved rollout plans, exported configurations).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The directory `path` lives in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A fresh temporary name beside `path`, 0600, holding `bytes`, fsynced.
fn write_temp(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let mut suffix = [0u8; 8];
    crate::crypto::random_bytes(&mut suffix);
    let tmp = parent(path).join(format!(".{name}.tmp-{}", hex::encode(suffix)));
    let r = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match r {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file (0600) in the same directory,
/// fsynced, renamed over `path`, then the directory fsynced. A crash leaves the old or the new
/// content, never a mix; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    let r = std::fs::rename(&tmp, path).and_then(|()| File::open(parent(path))?.sync_all());
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Writes `bytes` to `path` (0600) only if nothing is there, complete or not at all (a
/// temporary file linked into place). `Ok(false)`: a file was already there, left as it was.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let tmp = write_temp(path, bytes)?;
    let r = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match r {
        Ok(()) => {
            File::open(parent(path))?.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_replace_whole_files_and_new_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!write_new(&p, b"three").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let q = dir.path().join("g");
        assert!(write_new(&q, b"x").unwrap());
        assert_eq!(std::fs::read(&q).unwrap(), b"x");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        // A missing folder is an error, and nothing is created.
        assert!(write_atomic(&dir.path().join("no/such"), b"x").is_err());
    }
}
