//! The domain: the rules of Customer Key over the store, the vaults and the crypto core.
//! Never prints; returns values and classified errors.

pub mod azure;
pub mod connection;
pub mod content;
pub mod dep;
pub mod generation;
pub mod keys;
pub mod lifecycle;
pub mod m365;
pub mod mail_input;
pub mod mailbox;
pub mod onboarding;
pub mod open;
pub mod org;
pub mod principal;
pub mod recipient;
pub mod roles;
pub mod rotation;
pub mod site;
pub mod spo;
pub mod teams;

use std::fmt;

use crate::store::StoreError;

/// How a failure is classified; the cmdlet shell maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object named does not exist.
    NotFound,
    /// A domain rule refused the operation.
    Rule,
    /// A key or vault denied access (revocation).
    AccessDenied,
    /// An argument's value is not acceptable.
    InvalidArgument,
    /// The store or a vault could not be reached or read (a system error).
    Unavailable,
    /// A wrong master key, passphrase or PIN.
    Authentication,
    /// The operator stopped the operation (Ctrl-C); what it committed before stays.
    Interrupted,
}

/// What a long operation reports as it goes, and how it learns that the operator wants it to
/// stop. The service never prints: the cmdlet layer draws the progress.
pub trait Progress {
    /// `done` of `total` units (messages, items, objects, bytes: the operation says which in
    /// [`Progress::start`]).
    fn advance(&self, _done: u64) {}
    /// The operation starts: what it counts, and how many if known.
    fn start(&self, _what: &'static str, _total: Option<u64>) {}
    /// Whether the operator asked it to stop; checked between units of work that commit whole.
    fn cancelled(&self) -> bool {
        false
    }
}

/// No progress shown, never cancelled.
pub struct Silent;
impl Progress for Silent {}

/// A domain error: what happened, and what the operator can do about it.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    help: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            help: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn rule(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Rule, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let help = e.help();
        Error::new(ErrorKind::Unavailable, e.to_string()).with_help(help)
    }
}

/// A value that names no vocabulary item is refused as the vault refuses an invalid request
/// (a rule, exit 1), so the answer is the same wherever it is parsed.
impl From<crate::model::Invalid> for Error {
    fn from(e: crate::model::Invalid) -> Self {
        Error::rule(e.0).with_help("nothing was changed")
    }
}

impl From<crate::input::EnvError> for Error {
    fn from(e: crate::input::EnvError) -> Self {
        let help = e.help();
        Error::invalid(e.to_string()).with_help(help)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The time now, as stored (RFC 3339, UTC, seconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
