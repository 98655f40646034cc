//! The root-key seam: what the service needs from a customer root key, whatever holds it.
//!
//! A DEP's (or a SharePoint TIK's) key is wrapped under customer root keys. The service asks
//! only four things of a root key: wrap these 32 bytes, unwrap this copy, say what the key is
//! (its identity and kind), and say whether it is usable now. [`RootKeyProvider`] is that and
//! nothing more; the Azure-style management plane (soft delete, backup, access policies,
//! audit) stays the embedded vault's own interface, [`super::KeyVault`].
//!
//! Backends, each a provider of its own:
//! - [`super::registry::VaultRoots`] over a [`super::VaultProvider`]: the keys of the embedded local vaults, and
//!   (over [`super::Pkcs11Provider`]) those of vaults bound to a PKCS#11 token. Both are named
//!   by Azure-style key ids; each provider answers only for the vaults it holds.
//! - [`super::kmip::KmipRoots`]: keys in a KMIP key manager, named `kmip://host:port/<id>`.
//!
//! Errors say whose a key is: [`RootError::NotMine`] (the URI is not of this backend: ask the
//! next), [`RootError::Unknown`] (this backend could not tell, being unreachable: ask the next,
//! and answer with this failure if none claims the key), and [`RootError::Mine`] (this backend
//! holds the key and the operation failed, with its exact [`super::ErrorClass`]: NotFound,
//! AccessDenied, KeyDisabled, KeyExpired, Unavailable, ...). The service's fallback rule reads
//! only that class.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::policy::Caller;
use crate::crypto::RootAlg;

/// What a root wrap returned: the version of the key that made it, how it wrapped, and the
/// bytes to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootWrap {
    /// The key version (an Azure-style version id; `1` for a KMIP key, whose versions are
    /// separate objects with ids of their own).
    pub version: String,
    /// RSA-OAEP (which variant) or AES-GCM in a key manager.
    pub alg: RootAlg,
    /// RSA-OAEP output, or the key manager's `iv || ciphertext || tag`.
    pub value: Vec<u8>,
}

/// The kind of a root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKeyKind {
    /// An RSA key of that many bits (wraps by RSA-OAEP).
    Rsa(usize),
    /// An AES-256 key held by a key manager (wraps by AES-GCM on the server).
    Aes256,
}

/// What a root key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKeyInfo {
    /// The key's URI without a version.
    pub key_uri: String,
    /// The backend (`Local`, `PKCS11`, `KMIP`).
    pub backend: &'static str,
    /// What holds it: the vault name, or the registered KMIP server's name.
    pub holder: String,
    /// Where the holder is (an Azure region, or `kmip:<host:port>`).
    pub location: String,
    /// The Azure subscription of the holder, or `kmip:<host:port>` for a key manager.
    pub subscription: String,
    /// RSA of some size, or AES-256.
    pub kind: RootKeyKind,
    /// The state as the backend names it (`Enabled`, `Disabled`, `Active`, `Deactivated`, ...).
    pub state: String,
}

/// Whose a key is, and how an operation on it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootError {
    /// Not a key of this backend.
    NotMine,
    /// This backend could not tell (it is unreachable); another may hold the key.
    Unknown(VaultError),
    /// A key of this backend, and the operation failed.
    Mine(VaultError),
}

impl From<VaultError> for RootError {
    fn from(e: VaultError) -> Self {
        RootError::Mine(e)
    }
}

/// Result alias of root-key operations.
pub type RootResult<T> = Result<T, RootError>;

/// A source of customer root keys (see the module docs).
pub trait RootKeyProvider: Send + Sync {
    /// The backend name (`Local`, `PKCS11`, `KMIP`).
    fn backend(&self) -> &'static str;

    /// Wrap 32 key bytes under the key `key_uri` names (its latest version if it has none), as
    /// `caller`.
    fn wrap(&self, caller: &Caller, key_uri: &str, key: &[u8]) -> RootResult<RootWrap>;

    /// Unwrap what [`RootKeyProvider::wrap`] returned, with the versioned URI
    /// (`<key uri>/<version>`) and the algorithm it reported.
    fn unwrap(
        &self,
        caller: &Caller,
        versioned_uri: &str,
        alg: RootAlg,
        wrapped: &[u8],
    ) -> RootResult<Zeroizing<Vec<u8>>>;

    /// What the key is.
    fn identity(&self, caller: &Caller, key_uri: &str) -> RootResult<RootKeyInfo>;

    /// Whether the key can be used now: `Ok` or the class of why not.
    fn health(&self, caller: &Caller, key_uri: &str) -> RootResult<()> {
        self.identity(caller, key_uri).map(|_| ())
    }
}

/// Tries `providers` in order for the key `uri` names (see [`RootError`]). `None` when none
/// claims it and none was unreachable.
pub(crate) fn first_claim<T>(
    providers: &[Arc<dyn RootKeyProvider>],
    mut f: impl FnMut(&dyn RootKeyProvider) -> RootResult<T>,
) -> Option<VaultResult<T>> {
    let mut unknown = None;
    for p in providers {
        match f(p.as_ref()) {
            Ok(v) => return Some(Ok(v)),
            Err(RootError::Mine(e)) => return Some(Err(e)),
            Err(RootError::Unknown(e)) => {
                unknown.get_or_insert(e);
            }
            Err(RootError::NotMine) => {}
        }
    }
    unknown.map(Err)
}
