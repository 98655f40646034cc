//! Domain vocabulary shared by the layers: plain value types that name a thing of Customer Key
//! (which recipients a listing means, ...). No I/O and no SQL: the store, the vault backends and
//! the service all use them, and the cmdlet layer parses into them and formats them.

pub mod audit;
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
