//! The one error type of the crypto core.
//!
//! Messages name what failed, never key bytes, plaintext or anything derived from them.

use thiserror::Error;

/// Everything that can go wrong in the crypto core.
///
/// Authentication failures are deliberately coarse: a wrong key, a wrong binding and tampered
/// bytes all look the same from the outside, so an error never acts as an oracle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An RSA key size other than 2048, 3072 or 4096 bits.
    #[error("unsupported RSA key size: {bits} bits (use 2048, 3072 or 4096)")]
    InvalidKeySize {
        /// The size that was asked for or found.
        bits: usize,
    },
    /// A byte string had the wrong length.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// What was being read.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// AEAD authentication failed: wrong key, wrong associated data (binding) or tampered bytes.
    #[error("authentication failed: wrong key, wrong binding or tampered data")]
    Authentication,
    /// The key-commitment value in a content header does not match the key and binding.
    #[error("key commitment mismatch: wrong key, wrong binding or tampered header")]
    KeyCommitment,
    /// The input ended before the format said it would.
    #[error("truncated input: {0}")]
    Truncated(&'static str),
    /// The bytes are not a well-formed instance of the expected format.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// A format version this build does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// An algorithm identifier this build does not know.
    #[error("unsupported algorithm id {0}")]
    UnsupportedAlgorithm(u8),
    /// An algorithm name that is not known (for `FromStr`).
    #[error("unknown algorithm name {0:?}")]
    UnknownAlgorithmName(String),
    /// A wrapped key or ciphertext belongs to another tier than the one asked for.
    #[error("key tier mismatch: expected {expected}, found {found}")]
    TierMismatch {
        /// The tier the caller asked for.
        expected: &'static str,
        /// The tier recorded in the bytes.
        found: &'static str,
    },
    /// A recorded key id/version or owner does not match the one supplied.
    #[error("binding mismatch: {0}")]
    BindingMismatch(&'static str),
    /// RSA-OAEP decryption failed. Always this one message, whatever the cause.
    #[error("RSA-OAEP decryption failed")]
    RsaDecryption,
    /// An RSA key could not be parsed or used.
    #[error("invalid RSA key: {0}")]
    InvalidRsaKey(&'static str),
    /// The key-derivation parameters are out of range.
    #[error("invalid KDF parameters: {0}")]
    InvalidKdfParams(&'static str),
    /// The provider failed an operation that should not fail with valid input.
    #[error("crypto provider failure: {0}")]
    Provider(&'static str),
}

impl CryptoError {
    /// Finds the `CryptoError` inside an `std::io::Error` made by the stream adapters.
    pub fn from_io(err: &std::io::Error) -> Option<&CryptoError> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<CryptoError>())
    }
}
