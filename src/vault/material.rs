//! Where a vault's private keys live: the seam between the vault engine and key holders.
//!
//! The vault engine ([`super::local`]) keeps a vault's properties, key attributes, access
//! policies, soft-delete state and audit log in its sealed vault file. The private half of each
//! key version lives in one of two places:
//!
//! - **in the vault file** (the engine's own default): the PKCS#8 key, sealed with the rest of
//!   the state under the vault directory's master key; RSA-OAEP in software;
//! - **in a key holder** ([`KeyHolder`]): a backend that generates key pairs, wraps and unwraps
//!   with them and destroys them, and never hands out the private half. The vault file then
//!   records, per version, a [`HeldKeyRef`] naming the holder's objects, and once, the holder's
//!   [`HolderBinding`] (which device, which token).
//!
//! The engine knows only this trait. Which holders exist is decided where the vault module is
//! composed ([`super::key_holders`]): today one, the PKCS#11 token backend
//! ([`super::pkcs11`]), which does not know the engine either.
//!
//! A binding is kept as the holder wrote it (a JSON object), so the engine stores and compares
//! it without reading it; [`KeyHolders::open`] turns it back into a holder.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::VaultResult;
use crate::crypto::OaepAlg;

/// A key version's objects in a holder: how the vault file refers to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldKeyRef {
    /// The holder's identifier of the objects, hex (for a token: `CKA_ID`, the version id's 16
    /// bytes).
    pub id: String,
    /// Their label (for a token: `CKA_LABEL`, `custkey:<vault>/<key>/<version>`).
    pub label: String,
    /// Set once a backup refers to these objects: a purge then leaves them in the holder, since
    /// the backup can bring the key back (docs/vaults.md §11).
    #[serde(default)]
    pub pinned: bool,
}

/// Which holder a vault's keys live in, as that holder describes itself (opaque to the
/// engine; stored in the vault file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HolderBinding(pub serde_json::Value);

/// A backend holding private keys for a vault (see the module docs). Every error carries its
/// exact class: unreachable device or session = `Unavailable`, wrong PIN = `Authentication`,
/// an object that may not do the operation = `AccessDenied`, input that does not fit =
/// `Invalid`.
pub trait KeyHolder: Send + Sync + std::fmt::Debug {
    /// The backend name shown as `KeyVaultInfo::backend` (`PKCS11`).
    fn backend(&self) -> &'static str;

    /// The holder in words, for messages (`PKCS#11 token 'custkey'`).
    fn describe(&self) -> String;

    /// The binding to record in the vault file.
    fn binding(&self) -> HolderBinding;

    /// That the holder is reachable and its credentials work (before a vault is bound to it).
    fn check(&self) -> VaultResult<()>;

    /// A new RSA key pair of `bits` for `vault/key/version`: its public key (SPKI DER) and the
    /// reference to keep. `wrappable`: the private key may leave the holder wrapped (never in
    /// the clear), as a Managed HSM's keys leave in backups under its security domain.
    fn generate(
        &self,
        vault: &str,
        key: &str,
        version: &str,
        bits: usize,
        wrappable: bool,
    ) -> VaultResult<(Vec<u8>, HeldKeyRef)>;

    /// The version's private key wrapped (AES key wrap with padding, RFC 5649) under `kek`, a
    /// 32-byte key the holder uses as a session object only. `AccessDenied` when the key was
    /// not made wrappable.
    fn export_wrapped(&self, key: &HeldKeyRef, kek: &[u8; 32]) -> VaultResult<Vec<u8>>;

    /// Brings in a private key [`KeyHolder::export_wrapped`] wrapped under `kek`, as the
    /// objects of `vault/key/version` (the public-key object made from `public_der`).
    #[allow(clippy::too_many_arguments)]
    fn import_wrapped(
        &self,
        vault: &str,
        key: &str,
        version: &str,
        public_der: &[u8],
        kek: &[u8; 32],
        wrapped: &[u8],
    ) -> VaultResult<HeldKeyRef>;

    /// RSA-OAEP encrypt `data` with the version's public key; returns the variant used (a
    /// holder without SHA-256 OAEP uses RSA-OAEP and says so).
    fn wrap(&self, key: &HeldKeyRef, alg: OaepAlg, data: &[u8]) -> VaultResult<(OaepAlg, Vec<u8>)>;

    /// RSA-OAEP decrypt with the version's private key (`key_bits` is its size).
    fn unwrap(
        &self,
        key: &HeldKeyRef,
        alg: OaepAlg,
        wrapped: &[u8],
        key_bits: usize,
    ) -> VaultResult<Zeroizing<Vec<u8>>>;

    /// Whether the version's objects are all there.
    fn present(&self, key: &HeldKeyRef) -> VaultResult<bool>;

    /// Destroy the version's objects (missing ones are fine).
    fn destroy(&self, key: &HeldKeyRef) -> VaultResult<()>;
}

/// The holders a vault engine can open from a recorded binding.
pub trait KeyHolders: Send + Sync {
    /// The holder a binding names (no I/O: reaching it is the holder's first operation).
    /// `Unavailable` when no known holder reads the binding (a vault file from a newer
    /// custkey, or a damaged one).
    fn open(&self, binding: &HolderBinding) -> VaultResult<Arc<dyn KeyHolder>>;
}
