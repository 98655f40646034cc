//! A PostgreSQL store and its data directory belong together: the local vault files, content
//! packs and other files of an organization live in one data directory (`CUSTKEY_DATA_DIR`),
//! and the store's rows point into them. Several machines pointed at one database must share
//! that directory (docs/store.md, Topologies), never quietly start one each: a machine with
//! another (or an empty) directory would create new vaults and keys the others cannot see.
//!
//! So the directory carries an identity (`data-dir.id`, a random UUID, 0600) and the store
//! records the identity it was first used with (setting `data_dir.id`, with the path and host
//! that recorded it). Opening with another directory is refused, naming both.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::{Result, Store, StoreError};

/// The file in the data directory holding its identity.
pub const ID_FILE: &str = "data-dir.id";

const ID_SETTING: &str = "data_dir.id";
const WHERE_SETTING: &str = "data_dir.where";

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

fn failed(store: &Store, detail: String, help: &str) -> StoreError {
    StoreError::Postgres {
        url: store.path().display().to_string(),
        detail,
        help: help.into(),
    }
}

/// The identity of `dir`, if it has one.
fn read_id(store: &Store, dir: &Path) -> Result<Option<String>> {
    let file = dir.join(ID_FILE);
    match fs::read_to_string(&file) {
        Ok(s) => {
            let id = s.trim();
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(failed(
                    store,
                    format!("{} does not hold a data directory identity", file.display()),
                    "restore the file from a backup of the data directory; custkey did not change it",
                ));
            }
            Ok(Some(id.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Unavailable {
            path: file,
            detail: e.to_string(),
        }),
    }
}

/// Gives `dir` an identity (created 0600 under a temporary name and linked into place, so a
/// concurrent process keeps the first); returns the identity it has.
fn make_id(store: &Store, dir: &Path) -> Result<String> {
    let io = |e: std::io::Error| StoreError::Unavailable {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = dir.join(format!(".{ID_FILE}.new-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    let linked = fs::hard_link(&tmp, dir.join(ID_FILE));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_id(store, dir)?.ok_or_else(|| {
                failed(
                    store,
                    "the data directory identity vanished".into(),
                    "try again",
                )
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// Checks (or, on first use, records) that `store` is opened with its own data directory.
pub fn bind(store: &mut Store) -> Result<()> {
    let dir = store.data_dir().to_path_buf();
    let recorded = store.read(|tx| tx.setting(ID_SETTING))?;
    let local = read_id(store, &dir)?;
    let id = match (&recorded, local) {
        (Some(r), Some(l)) if *r == l => return Ok(()),
        (None, Some(l)) => l,
        (None, None) => make_id(store, &dir)?,
        (Some(r), local) => return Err(mismatch(store, &dir, r, local.as_deref())),
    };
    let here = format!("{} on {}", dir.display(), host());
    // Two processes binding at once: the first record stays, and the second compares with it.
    let winner = store.write(|tx| -> Result<String> {
        if let Some(r) = tx.setting(ID_SETTING)? {
            return Ok(r);
        }
        tx.set_setting(ID_SETTING, &id)?;
        tx.set_setting(WHERE_SETTING, &here)?;
        Ok(id.clone())
    })?;
    if winner != id {
        return Err(mismatch(store, &dir, &winner, Some(&id)));
    }
    Ok(())
}

fn mismatch(store: &mut Store, dir: &Path, recorded: &str, local: Option<&str>) -> StoreError {
    let first = store
        .read(|tx| tx.setting(WHERE_SETTING))
        .ok()
        .flatten()
        .unwrap_or_else(|| "another directory".into());
    let what = match local {
        Some(l) => format!("the data directory {} is another one ({l})", dir.display()),
        None => format!(
            "the data directory {} is not it (it has no {ID_FILE})",
            dir.display()
        ),
    };
    failed(
        store,
        format!("its vaults, keys and content live in the data directory {recorded}, first used at {first}; {what}"),
        "point CUSTKEY_DATA_DIR (or -DataDir) at that directory (shared by every machine using this database, docs/store.md, Topologies); nothing was created here",
    )
}
