//! Where custkey keeps what must not live in the data directory: the user's configuration
//! directory (master key files, sign-in identities). A copy of the data directory alone must
//! open nothing, so nothing secret is written beside the store.
//!
//! `CUSTKEY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/custkey`, else `$HOME/.config/custkey`.
//! Created 0700 on first use.

use std::path::{Path, PathBuf};

/// Env var: the configuration directory.
pub const ENV_CONFIG_DIR: &str = "CUSTKEY_CONFIG_DIR";

/// Why the configuration directory cannot be used.
#[derive(Debug, Clone)]
pub struct ConfigDirError {
    pub message: String,
    pub help: String,
}

/// The configuration directory (not created).
pub fn config_dir() -> Result<PathBuf, ConfigDirError> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = if let Some(d) = var(ENV_CONFIG_DIR) {
        d
    } else if let Some(x) = var("XDG_CONFIG_HOME") {
        x.join("custkey")
    } else if let Some(h) = var("HOME") {
        h.join(".config").join("custkey")
    } else {
        return Err(ConfigDirError {
            message: "there is no configuration directory: none of CUSTKEY_CONFIG_DIR, XDG_CONFIG_HOME and HOME is set".into(),
            help: "set CUSTKEY_CONFIG_DIR to a private directory outside the data directory".into(),
        });
    };
    if !dir.is_absolute() {
        return Err(ConfigDirError {
            message: format!(
                "the configuration directory {} is not an absolute path",
                dir.display()
            ),
            help: format!("set {ENV_CONFIG_DIR} (or XDG_CONFIG_HOME, HOME) to an absolute path"),
        });
    }
    Ok(dir)
}

/// The configuration directory, created (0700, parents too) if missing, refused if it lies
/// inside `data_dir` (a copy of the data directory would then carry the keys).
pub fn ensure_config_dir(data_dir: &Path) -> Result<PathBuf, ConfigDirError> {
    let dir = config_dir()?;
    if is_inside(&dir, data_dir) {
        return Err(ConfigDirError {
            message: format!(
                "the configuration directory {} is inside the data directory {}",
                dir.display(),
                data_dir.display()
            ),
            help: format!("set {ENV_CONFIG_DIR} to a directory outside the data directory: keys kept there would travel with every copy of it"),
        });
    }
    create_private_dir(&dir).map_err(|e| ConfigDirError {
        message: format!(
            "cannot create the configuration directory {}: {e}",
            dir.display()
        ),
        help: format!("check its parent's permissions, or set {ENV_CONFIG_DIR}"),
    })?;
    Ok(dir)
}

/// Creates `dir` and its missing parents; the ones created here are 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Whether `path` is `dir` or lies under it (both made absolute and resolved where they exist).
pub fn is_inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| -> PathBuf {
        // Resolve the longest existing prefix, keep the rest as written.
        let mut existing = p.to_path_buf();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.file_name(), existing.parent()) {
                (Some(n), Some(parent)) => {
                    rest.push(n.to_os_string());
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut r = std::fs::canonicalize(&existing).unwrap_or(existing);
        for n in rest.iter().rev() {
            r.push(n);
        }
        r
    };
    resolve(path).starts_with(resolve(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_and_outside() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(is_inside(&data.join("x/y"), &data));
        assert!(is_inside(&data, &data));
        assert!(!is_inside(&t.path().join("cfg"), &data));
        assert!(!is_inside(&t.path().join("data2"), &data));
    }
}
