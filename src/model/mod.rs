//! Domain vocabulary shared by the layers: plain value types that name a thing of Customer Key
//! (which recipients a listing means, ...). No I/O and no SQL: the store, the vault backends and
//! the service all use them, and the cmdlet layer parses into them and formats them.

pub mod audit;
pub mod principal;
pub mod rotation;

/// A value that does not parse as the vocabulary it should name; the vault takes it as
/// `VaultError::Invalid`, the service as an invalid argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// What is wrong, for people.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Which recipients a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientScope {
    /// Every kind of mailbox: user, shared, group and public-folder.
    Mailboxes,
    MailUsers,
    /// Microsoft 365 groups (GroupMailbox).
    Groups,
    /// Every recipient (never an archive).
    All,
    /// Every kind of mailbox and the archives: what holds content (an archive is found by
    /// its GUID, which is its name).
    Content,
}

/// A GUID in its 8-4-4-4-12 hex form (any case).
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8usize, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Find `s` (trimmed, case-insensitive) among `all` by `name`; otherwise `Invalid`, listing
/// the valid names.
pub(crate) fn parse_named<T: Copy>(
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
) -> Result<T, Invalid> {
    let t = s.trim();
    all.iter()
        .copied()
        .find(|v| name(*v).eq_ignore_ascii_case(t))
        .ok_or_else(|| {
            Invalid(format!(
                "'{}' is not {what}; valid: {}",
                printable(s),
                all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")
            ))
        })
}

/// A short, printable rendering of untrusted input for error messages.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}
