//! The vault error classes.
//!
//! The service's unwrap path (spec §3.12) decides whether it may fall back to the availability key
//! from the *class* of a vault failure, so every failure a backend reports is one of the classes
//! below and nothing else. The message is for people; the class is for code.

use serde::Serialize;

/// The class of a vault failure. See [`VaultError::class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorClass {
    /// The vault, key, version or deleted key does not exist.
    NotFound,
    /// The caller's access policy lacks the permission, or the key's KeyOps forbid the operation.
    /// A deliberate customer action (revocation): never a reason for a user-request fallback.
    AccessDenied,
    /// The key version is disabled (`Enabled = false`).
    KeyDisabled,
    /// The key version is outside its validity period (`Expires` passed or `NotBefore` not reached).
    KeyExpired,
    /// A system error: the vault cannot be reached or read (I/O, missing directory, corrupt
    /// file, HSM module failure). The only class that lets a user request fall back.
    Unavailable,
    /// The request is not valid: bad name, size, operation, state conflict, refused purge,
    /// bad or foreign backup, ciphertext that does not unwrap.
    Invalid,
    /// A wrong master key, passphrase or PIN.
    Authentication,
}

impl ErrorClass {
    /// The class name as printed (`NotFound`, `AccessDenied`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::NotFound => "NotFound",
            ErrorClass::AccessDenied => "AccessDenied",
            ErrorClass::KeyDisabled => "KeyDisabled",
            ErrorClass::KeyExpired => "KeyExpired",
            ErrorClass::Unavailable => "Unavailable",
            ErrorClass::Invalid => "Invalid",
            ErrorClass::Authentication => "Authentication",
        }
    }
}

impl ErrorClass {
    /// The process exit code for a cmdlet that fails with this class (design §4): 3 when a
    /// vault could not be reached (a system error), 1 for every other failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Unavailable => 3,
            _ => 1,
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified vault failure with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// See [`ErrorClass::NotFound`].
    #[error("{0}")]
    NotFound(String),
    /// See [`ErrorClass::AccessDenied`].
    #[error("{0}")]
    AccessDenied(String),
    /// See [`ErrorClass::KeyDisabled`].
    #[error("{0}")]
    KeyDisabled(String),
    /// See [`ErrorClass::KeyExpired`].
    #[error("{0}")]
    KeyExpired(String),
    /// See [`ErrorClass::Unavailable`].
    #[error("{0}")]
    Unavailable(String),
    /// Class [`ErrorClass::Unavailable`] too, but known to be damage rather than a passing
    /// failure: the vault file (or what it holds) does not parse or does not authenticate.
    /// Reading again will not help; restoring the file will.
    #[error("{0}")]
    Damaged(String),
    /// See [`ErrorClass::Invalid`].
    #[error("{0}")]
    Invalid(String),
    /// See [`ErrorClass::Authentication`].
    #[error("{0}")]
    Authentication(String),
}

impl VaultError {
    /// The class of this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            VaultError::NotFound(_) => ErrorClass::NotFound,
            VaultError::AccessDenied(_) => ErrorClass::AccessDenied,
            VaultError::KeyDisabled(_) => ErrorClass::KeyDisabled,
            VaultError::KeyExpired(_) => ErrorClass::KeyExpired,
            VaultError::Unavailable(_) | VaultError::Damaged(_) => ErrorClass::Unavailable,
            VaultError::Invalid(_) => ErrorClass::Invalid,
            VaultError::Authentication(_) => ErrorClass::Authentication,
        }
    }

    /// The message without the class.
    pub fn message(&self) -> &str {
        match self {
            VaultError::NotFound(m)
            | VaultError::AccessDenied(m)
            | VaultError::KeyDisabled(m)
            | VaultError::KeyExpired(m)
            | VaultError::Unavailable(m)
            | VaultError::Damaged(m)
            | VaultError::Invalid(m)
            | VaultError::Authentication(m) => m,
        }
    }

    /// The same class with the message `f` makes of the old one.
    pub(crate) fn map_message(self, f: impl FnOnce(&str) -> String) -> Self {
        let m = f(self.message());
        match self {
            VaultError::NotFound(_) => VaultError::NotFound(m),
            VaultError::AccessDenied(_) => VaultError::AccessDenied(m),
            VaultError::KeyDisabled(_) => VaultError::KeyDisabled(m),
            VaultError::KeyExpired(_) => VaultError::KeyExpired(m),
            VaultError::Unavailable(_) => VaultError::Unavailable(m),
            VaultError::Damaged(_) => VaultError::Damaged(m),
            VaultError::Invalid(_) => VaultError::Invalid(m),
            VaultError::Authentication(_) => VaultError::Authentication(m),
        }
    }

    /// True for a system error (spec §3.12 "system ERROR"): the only class after which the
    /// service may use the availability key for a user request.
    pub fn is_system_error(&self) -> bool {
        matches!(self, VaultError::Unavailable(_) | VaultError::Damaged(_))
    }

    /// True when the vault's stored data is damaged or altered ([`VaultError::Damaged`]), as
    /// opposed to a vault that cannot be reached for now.
    pub fn is_damaged(&self) -> bool {
        matches!(self, VaultError::Damaged(_))
    }

    pub(crate) fn io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        VaultError::Unavailable(format!("{what} {}: {err}", path.display()))
    }
}

/// Result alias for vault operations.
pub type VaultResult<T> = Result<T, VaultError>;

impl From<crate::model::Invalid> for VaultError {
    fn from(e: crate::model::Invalid) -> Self {
        VaultError::Invalid(e.0)
    }
}
