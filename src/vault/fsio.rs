//! File helpers: atomic 0600 replacement, private directories and advisory locks.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::error::{VaultError, VaultResult};

/// Replace `path` with `bytes` atomically: write a temporary file (0600) in the same directory,
/// fsync it, rename it over `path`, fsync the directory. A crash leaves the old or the new
/// content, never a mix; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> VaultResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let mut suffix = [0u8; 8];
    crate::crypto::random_bytes(&mut suffix);
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(suffix)));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        VaultError::io("cannot write", path, &e)
    })
}

/// Create `dir` (and parents) with mode 0700 if it does not exist.
pub fn ensure_private_dir(dir: &Path) -> VaultResult<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| VaultError::io("cannot create the directory", dir, &e))
}

/// Read a file; a missing file is `Ok(None)`, any other failure `Unavailable`.
pub fn read_optional(path: &Path) -> VaultResult<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::io("cannot read", path, &e)),
    }
}

/// An advisory lock held until dropped (the lock file itself stays).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Take a lock on `path` (created 0600 if missing): exclusive for writers, shared for readers.
/// A missing directory is `Unavailable`.
pub fn lock(path: &Path, exclusive: bool) -> VaultResult<FileLock> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| VaultError::io("cannot open the lock file", path, &e))?;
    let r = if exclusive { f.lock() } else { f.lock_shared() };
    r.map_err(|e| VaultError::io("cannot lock", path, &e))?;
    Ok(FileLock { _file: f })
}
