//! File helpers: atomic 0600 replacement, private directories and advisory locks.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::error::{VaultError, VaultResult};

/// Replace `path` with `bytes` atomically: write a temporary file (0600) in the same directory,
/// fsync it, rename it over `path`, fsync the directory. A crash leaves the old or the new
/// content, never a mix; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> VaultResult<()> {
    crate::fsio::write_atomic(path, bytes).map_err(|e| VaultError::io("cannot write", path, &e))
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
