//! What custkey reads from outside, bounded: the size limits of every file and stream it reads
//! (docs/cli.md, "Input limits"), readers that stop at them, and the checked reading of the
//! environment variables it takes. No input may crash, hang or exhaust memory: a reader stops
//! with a clear error at its limit, and an environment variable outside its range is an error
//! naming it and the range, never a panic or a silent default.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// A script file (`-File`) or a script on standard input (`-Command -`, a piped script).
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;
/// A desired-state rollout file (`Test-CustomerKeyConfiguration`, `Start-CustomerKeyRollout`).
pub const MAX_ROLLOUT_BYTES: u64 = 1 << 20;
/// One message of a mail import (an `.eml` file, or one message of an mbox file or stream):
/// Exchange Online's largest message size limit, 150 MiB.
pub const MAX_MESSAGE_BYTES: u64 = 150 << 20;
/// A file uploaded to a SharePoint site (`Add-PnPFile -Path`), kept in the store in 1 MiB chunks.
pub const MAX_SPO_FILE_BYTES: u64 = 512 << 20;
/// A key backup blob (`Restore-AzKeyVaultKey -InputFile`).
pub const MAX_BACKUP_BYTES: u64 = crate::vault::backup::MAX_BACKUP_BYTES as u64;

/// A key file `Add-AzKeyVaultKey -KeyFilePath` reads (.pem, .pfx/.p12, .byok).
pub const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// More than the limit (the bytes past it were never read).
    TooLarge {
        limit: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge { limit } => write!(f, "it is larger than {}", size(*limit)),
        }
    }
}

/// A size as the limits are documented: `1 MiB`, `150 MiB`, or bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads `r` to its end, but never more than `limit + 1` bytes: more than `limit` is
/// [`ReadError::TooLarge`]. Memory is bounded by the limit whatever the source (`/dev/zero`).
pub fn read_limited(r: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(out)
}

/// [`read_limited`] of a file (a regular file, a FIFO, `/dev/stdin`, a process substitution).
pub fn read_file_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let f = std::fs::File::open(path).map_err(ReadError::Io)?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a folder",
        )));
    }
    read_limited(f, limit)
}

/// [`read_limited`] as UTF-8 text.
pub fn read_text_limited(r: impl Read, limit: u64) -> Result<String, ReadError> {
    let bytes = read_limited(r, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// A reader that fails with an error once more than `limit` bytes come through it, so a source
/// that never ends (`/dev/zero`, a pipe that keeps writing) stops at the limit. Streams: it
/// holds nothing.
pub struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Limited<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            left: limit,
            limit,
        }
    }
}

/// The error a [`Limited`] reader fails with: `TooLarge`, found again with [`too_large`].
#[derive(Debug)]
pub struct TooLarge(pub u64);

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "it is larger than {}", size(self.0))
    }
}

impl std::error::Error for TooLarge {}

/// The limit, when an I/O error is a [`Limited`] reader's.
pub fn too_large(e: &io::Error) -> Option<u64> {
    e.get_ref()
        .and_then(|x| x.downcast_ref::<TooLarge>())
        .map(|t| t.0)
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the limit: one more byte means too large, none means the end.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLarge(self.limit))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// An environment variable that is set to something custkey does not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub name: String,
    /// The value as set (shortened and escaped for the message).
    pub value: String,
    /// What it accepts.
    pub allowed: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the environment variable {}={} is not valid: {}",
            self.name, self.value, self.allowed
        )
    }
}

impl std::error::Error for EnvError {}

impl EnvError {
    /// What to do about it.
    pub fn help(&self) -> String {
        if self.allowed.starts_with("it is a test hook") {
            return format!(
                "unset {}; test hooks work only in a build with --features test-hooks, as the test suite's (see 'Environment variables' in docs/cli.md)",
                self.name
            );
        }
        format!(
            "set {} to {}, or unset it (see 'Environment variables' in docs/cli.md)",
            self.name, self.allowed
        )
    }
}

/// The value of `name` as text: `None` when unset or empty; an error when it is not UTF-8.
/// Test hooks: the SharePoint TIK cache lifetime, refresh window and clock offset, and the fault
/// injections that stop a command as a kill would. Only a build with the `test-hooks` feature
/// (the test suite's) reads them: in any other build they could let whoever sets the environment
/// keep a revoked key cached for years, or shift the clock past a revocation.
pub const TEST_HOOKS: &[&str] = &[
    crate::service::spo::ENV_CACHE_SECONDS,
    crate::service::spo::ENV_REFRESH_SECONDS,
    crate::service::spo::ENV_CLOCK_OFFSET,
    crate::service::spo::FAULT_REGISTER_AFTER_SITES,
    crate::service::spo::FAULT_ROLL,
    crate::service::content::FAULT_IMPORT_AFTER,
    crate::service::content::FAULT_MOVE_AFTER,
    crate::vault::rotation::ENV_TEST_NOW,
];

/// Whether this build reads the [`TEST_HOOKS`].
pub const HOOKS_ENABLED: bool = cfg!(feature = "test-hooks");

fn var(name: &str) -> Result<Option<String>, EnvError> {
    if !HOOKS_ENABLED && TEST_HOOKS.contains(&name) {
        return Ok(None);
    }
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => Err(EnvError {
            name: name.to_string(),
            value: shown(&raw.to_string_lossy()),
            allowed: "text (it is not UTF-8)".into(),
        }),
    }
}

/// A value as an error message shows it: quoted, escaped, at most 64 characters.
fn shown(v: &str) -> String {
    let short: String = v.chars().take(64).collect();
    let more = if v.chars().count() > 64 { "..." } else { "" };
    format!("'{}{more}'", short.escape_debug())
}

/// A whole number from `min` to `max` (`unit` names what it counts, for the message), or
/// `None` when unset or empty.
pub fn env_int(name: &str, min: i64, max: i64, unit: &str) -> Result<Option<i64>, EnvError> {
    let Some(v) = var(name)? else {
        return Ok(None);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(EnvError {
            name: name.to_string(),
            value: shown(&v),
            allowed: format!("a whole number of {unit} from {min} to {max}"),
        }),
    }
}

/// A switch: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case); `None` when
/// unset or empty.
pub fn env_bool(name: &str) -> Result<Option<bool>, EnvError> {
    let Some(v) = var(name)? else {
        return Ok(None);
    };
    let t = v.trim().to_ascii_lowercase();
    match t.as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(EnvError {
            name: name.to_string(),
            value: shown(&v),
            allowed: "one of on, off, 1, 0, true, false, yes, no".into(),
        }),
    }
}

/// The switches custkey reads (presence flags): `on`/`off` and the like.
pub const ENV_SWITCHES: &[&str] = &[
    "CUSTKEY_ASSUME_TTY",
    "CUSTKEY_BACKTRACE",
    crate::service::spo::FAULT_ROLL,
    crate::vault::master_key::ENV_KEYRING,
];

/// Whether a switch is on: set to `1`, `true`, `yes` or `on` (an invalid value is off here;
/// [`check_environment`] reports it).
pub fn switch_on(name: &str) -> bool {
    matches!(env_bool(name), Ok(Some(true)))
}

/// Checks every environment variable custkey reads whose value must parse (numbers and
/// switches), so a bad one is reported once, before anything runs, naming it and its range.
/// The other variables are text: paths (`CUSTKEY_STORE`, `XDG_DATA_HOME`, `HOME`) and
/// secrets (`CUSTKEY_VAULT_KEY`, `CUSTKEY_VAULT_PASSPHRASE`, `CUSTKEY_SERVICE_KEY`,
/// `CUSTKEY_SERVICE_PASSPHRASE`, `CUSTKEY_PKCS11_PIN`) and the token key URI
/// (`CUSTKEY_MASTER_PKCS11`), each checked where it is used; the configuration directory
/// (`CUSTKEY_CONFIG_DIR`) is checked where keys are resolved.
pub fn check_environment() -> Result<(), EnvError> {
    use crate::service::{content, spo};
    if !HOOKS_ENABLED {
        for h in TEST_HOOKS {
            if std::env::var_os(h).is_some_and(|v| !v.is_empty()) {
                return Err(EnvError {
                    name: h.to_string(),
                    value: shown(&std::env::var(h).unwrap_or_default()),
                    allowed: "it is a test hook, and this build (without the test-hooks feature) does not take it".into(),
                });
            }
        }
    }
    env_int(spo::ENV_CACHE_SECONDS, 0, spo::MAX_CACHE_SECONDS, "seconds")?;
    env_int(
        spo::ENV_REFRESH_SECONDS,
        0,
        spo::MAX_CACHE_SECONDS,
        "seconds",
    )?;
    env_int(
        spo::ENV_CLOCK_OFFSET,
        0,
        spo::MAX_CLOCK_OFFSET_SECONDS,
        "seconds",
    )?;
    if let Some(v) = var(crate::vault::rotation::ENV_TEST_NOW)? {
        if chrono::DateTime::parse_from_rfc3339(v.trim()).is_err() {
            return Err(EnvError {
                name: crate::vault::rotation::ENV_TEST_NOW.to_string(),
                value: shown(&v),
                allowed: "a date and time in RFC 3339 form (2027-06-01T00:00:00Z)".into(),
            });
        }
    }
    env_int(content::FAULT_IMPORT_AFTER, 0, i64::MAX, "items")?;
    env_int(content::FAULT_MOVE_AFTER, 0, i64::MAX, "items")?;
    env_int(spo::FAULT_REGISTER_AFTER_SITES, 0, i64::MAX, "sites")?;
    env_int(
        crate::vault::master_key::ENV_KEYRING_TIMEOUT,
        1,
        crate::vault::master_key::MAX_KEYRING_TIMEOUT_SECONDS,
        "seconds",
    )?;
    env_int("COLUMNS", 1, i64::from(u16::MAX), "columns")?;
    for s in ENV_SWITCHES {
        env_bool(s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_stop_at_the_limit() {
        let zero = io::repeat(0);
        assert!(matches!(
            read_limited(zero, 1000),
            Err(ReadError::TooLarge { limit: 1000 })
        ));
        assert_eq!(read_limited(&b"abc"[..], 3).unwrap(), b"abc");
        assert!(read_limited(&b"abcd"[..], 3).is_err());
        let mut l = Limited::new(io::repeat(1), 10);
        let mut out = Vec::new();
        let e = l.read_to_end(&mut out).unwrap_err();
        assert_eq!(too_large(&e), Some(10));
        assert_eq!(out.len(), 10);
        let mut l = Limited::new(&b"0123456789"[..], 10);
        let mut out = Vec::new();
        l.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 10);
        assert_eq!(size(150 << 20), "150 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
