//! The crypto core: key types, bound key wraps and the content stream format.
//!
//! Pure code: no file or network I/O and no clock. Randomness comes from the provider.
//!
//! - [`provider`]: the seam between this core and the primitive implementations (aws-lc-rs by
//!   default; RustCrypto with the `rustcrypto` feature).
//! - [`SecretKey32`], [`seal`]/[`open`]: 32-byte keys and the sealed blob for data at rest.
//! - [`derive_key_from_passphrase`]: Argon2id with stored [`KdfParams`].
//! - [`RsaPrivateKey`]/[`RsaPublicKey`]: software-held RSA root keys and RSA-OAEP wraps.
//! - [`keys`]: one type per key tier ([`DepKey`], [`MailboxKey`], [`SiteKey`], ...) and the
//!   bindings (owner ids) that go into each wrap's associated data.
//! - [`wrap`]: bound AES-256-GCM wraps between tiers, RSA-OAEP root wraps, and the versioned
//!   [`WrappedKey`] byte format.
//! - [`CommitmentKey`]: keyed commitments that authenticate an unwrapped DEP key or TIK.
//! - [`keyfile`]: key files a BYOK import reads (PEM, PKCS#12, `.byok` blobs), and
//!   [`aes_kwp_unwrap`] (RFC 5649) for the `.byok` blob.
//! - [`content`]: the segmented, key-committing content stream with `Read`/`Write` adapters.
//!
//! Byte formats are specified in `docs/format.md`.

mod commit;
pub mod content;
mod der;
mod error;
mod kdf;
pub mod keyfile;
pub mod keys;
mod kwp;
pub mod provider;
#[cfg(feature = "rustcrypto")]
mod provider_rustcrypto;
mod rsa;
mod secret;
pub mod security_domain;
pub mod wrap;

pub use commit::{CommitmentKey, RecordKey, KEY_COMMITMENT_LEN};
pub use content::{
    encrypted_len, ChunkKey, ContentDecryptor, ContentEncryptor, ContentHeader, ContentTier,
    EncryptingReader, ItemKey, LeafKey, WorkloadItemKey, HEADER_LEN, SEGMENT_SIZE,
};
pub use error::CryptoError;
pub use kdf::{derive_key_from_passphrase, KdfParams};
pub use keys::{
    tier, AvailabilityKey, Binding, ChunkBinding, ContentBinding, DepBinding, DepKey, ItemBinding,
    KeyRef, MailboxBinding, MailboxKey, OwnerBinding, RootKeyRef, SiteBinding, SiteKey,
    TenantIntermediateKey, TierId, TierKey, TikBinding, WorkloadBinding, WorkloadKey,
};
pub use kwp::{aes_kwp_unwrap, aes_kwp_wrap};
pub use provider::{all_providers, default_provider, AwsLcProvider, CryptoProvider};
#[cfg(feature = "rustcrypto")]
pub use provider_rustcrypto::RustCryptoProvider;
pub use rsa::{OaepAlg, RsaPrivateKey, RsaPublicKey};
pub use secret::{
    ct_eq, open, open_with, random_bytes, seal, seal_with, SecretKey32, SEAL_OVERHEAD,
};
pub use wrap::{
    RootAlg, RootWrapped, WrapAlg, WrapParent, WrappedKey, WrapsUnder, KMS_GCM_WRAP_LEN,
};

#[cfg(test)]
mod tests;

/// SHA-256 of `data` (statement digests in signed records).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
