//! The master key of a local vault directory, its sources, and the OS keyring cache.
//!
//! Sources, in order:
//! 1. `CUSTKEY_VAULT_KEY`: 64 hex digits (CI);
//! 2. `CUSTKEY_VAULT_PASSPHRASE`: a passphrase, stretched by the crypto module's KDF with the salt
//!    and parameters kept in the header file;
//! 3. the OS keyring cache (an entry written by an earlier process that resolved the key);
//! 4. the key file (`<data dir>/vault.key`, 64 hex digits, 0600);
//! 5. nothing yet (a fresh directory): a random key is written to the key file, so the embedded
//!    default works with no setup.
//!
//! The header file (`<data dir>/vault-master.json`, 0600) records the mode (`key` or
//! `passphrase`), the KDF salt and parameters, and a *check value*: a fixed text sealed under the
//! master key. Every key, whatever its source, is verified against it, so a wrong
//! `CUSTKEY_VAULT_KEY`, a wrong passphrase or a stale keyring entry gives an `Authentication`
//! error (or, for the keyring, is ignored and replaced) before any vault file is touched.
//!
//! The keyring is only a cache (design §5): kernel keyrings lose their contents at reboot. A
//! keyring that cannot be reached is skipped silently; it never makes resolution fail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::fsio;
use crate::crypto::{KdfParams, SecretKey32};

/// Env var: the master key as 64 hex digits.
pub const ENV_VAULT_KEY: &str = "CUSTKEY_VAULT_KEY";
/// Env var: the master passphrase.
pub const ENV_VAULT_PASSPHRASE: &str = "CUSTKEY_VAULT_PASSPHRASE";
/// Env var: `off` (or `0`, `false`, `no`) disables the keyring cache.
pub const ENV_KEYRING: &str = "CUSTKEY_KEYRING";

const HEADER_FORMAT: &str = "custkey-vault-master";
const CHECK_AAD: &[u8] = b"custkey-vault-master-check/v1";
const CHECK_TEXT: &[u8] = b"custkey local vault master key";
const KEYRING_SERVICE: &str = "custkey-vault";

/// Where the resolved master key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `CUSTKEY_VAULT_KEY`.
    EnvKey,
    /// `CUSTKEY_VAULT_PASSPHRASE` through the KDF.
    EnvPassphrase,
    /// The OS keyring cache.
    KeyringCache,
    /// The existing key file.
    KeyFile,
    /// A key file created just now (fresh directory).
    NewKeyFile,
}

/// Inputs to resolution other than files. [`MasterKeyOptions::from_env`] reads the env vars.
#[derive(Clone, Default)]
pub struct MasterKeyOptions {
    /// The master key as hex.
    pub key_hex: Option<Zeroizing<String>>,
    /// The passphrase.
    pub passphrase: Option<Zeroizing<String>>,
    /// Use the OS keyring cache.
    pub use_keyring: bool,
}

impl std::fmt::Debug for MasterKeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeyOptions")
            .field("key_hex", &self.key_hex.as_ref().map(|_| "<set>"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("use_keyring", &self.use_keyring)
            .finish()
    }
}

impl MasterKeyOptions {
    /// From `CUSTKEY_VAULT_KEY`, `CUSTKEY_VAULT_PASSPHRASE` and `CUSTKEY_KEYRING`.
    /// `CUSTKEY_KEYRING` is `on`/`off` (or 1/0, true/false, yes/no); anything else is an
    /// `Invalid` error naming it.
    pub fn from_env() -> VaultResult<Self> {
        let get = |n: &str| {
            std::env::var(n)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Zeroizing::new)
        };
        let use_keyring = crate::input::env_bool(ENV_KEYRING)
            .map_err(|e| VaultError::Invalid(format!("{e}; {}", e.help())))?
            .unwrap_or(true);
        Ok(MasterKeyOptions {
            key_hex: get(ENV_VAULT_KEY),
            passphrase: get(ENV_VAULT_PASSPHRASE),
            use_keyring,
        })
    }
}

/// The files involved.
#[derive(Debug, Clone)]
pub struct MasterKeyPaths {
    /// The header (`vault-master.json`).
    pub header: PathBuf,
    /// The key file (`vault.key`).
    pub key_file: PathBuf,
    /// The vault directory (to tell a fresh directory from one that already holds vaults).
    pub vault_dir: PathBuf,
}

/// A resolved, verified master key.
pub struct ResolvedMasterKey {
    /// The key.
    pub key: SecretKey32,
    /// Where it came from.
    pub source: MasterKeySource,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    format: String,
    version: u32,
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf_salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf_params: Option<KdfParams>,
    check: String,
}

impl Header {
    fn new(key: &SecretKey32, mode: &str, kdf: Option<(&[u8], KdfParams)>) -> VaultResult<Self> {
        let check = crate::crypto::seal(key, CHECK_AAD, CHECK_TEXT)
            .map_err(|e| VaultError::Invalid(format!("cannot seal the key check: {e:?}")))?;
        let (salt, params) = match kdf {
            Some((s, p)) => (Some(hex::encode(s)), Some(p)),
            None => (None, None),
        };
        Ok(Header {
            format: HEADER_FORMAT.to_string(),
            version: 1,
            mode: mode.to_string(),
            kdf_salt: salt,
            kdf_params: params,
            check: hex::encode(check),
        })
    }

    fn verifies(&self, key: &SecretKey32) -> bool {
        hex::decode(&self.check)
            .ok()
            .and_then(|c| crate::crypto::open(key, CHECK_AAD, &c).ok())
            .is_some_and(|t| t.as_slice() == CHECK_TEXT)
    }

    fn save(&self, path: &Path) -> VaultResult<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the header: {e}")))?;
        fsio::write_atomic(path, &bytes)
    }
}

fn load_header(path: &Path) -> VaultResult<Option<Header>> {
    let Some(bytes) = fsio::read_optional(path)? else {
        return Ok(None);
    };
    let h: Header = serde_json::from_slice(&bytes).map_err(|e| {
        VaultError::Unavailable(format!(
            "the master key header {} is damaged ({e})",
            path.display()
        ))
    })?;
    if h.format != HEADER_FORMAT || h.version != 1 {
        return Err(VaultError::Unavailable(format!(
            "{} is not a custkey master key header",
            path.display()
        )));
    }
    Ok(Some(h))
}

fn vaults_exist(dir: &Path) -> VaultResult<bool> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "vault"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(VaultError::io("cannot list the vault directory", dir, &e)),
    }
}

/// No header yet but a key in hand: if vault files exist, the key must open them (checked on the
/// first one's key check) before it is written down as this directory's key, so a wrong key
/// cannot poison the header.
fn adopt_key(key: &SecretKey32, paths: &MasterKeyPaths) -> VaultResult<()> {
    let first_vault = match std::fs::read_dir(&paths.vault_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "vault")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(VaultError::io(
                "cannot list the vault directory",
                &paths.vault_dir,
                &e,
            ))
        }
    };
    if let Some(file) = first_vault {
        if !super::local::key_opens_vault_file(&file, key)? {
            return Err(VaultError::Authentication(format!(
                "the given master key does not open the existing vault file {}",
                file.display()
            )));
        }
    }
    Header::new(key, "key", None)?.save(&paths.header)
}

fn parse_hex_key(text: &str, what: &str) -> VaultResult<SecretKey32> {
    let t = text.trim();
    let mut bytes = Zeroizing::new([0u8; 32]);
    if t.len() != 64 || hex::decode_to_slice(t, bytes.as_mut()).is_err() {
        return Err(VaultError::Authentication(format!(
            "{what} must be 64 hexadecimal digits (a 32-byte key)"
        )));
    }
    Ok(SecretKey32::from_bytes(*bytes))
}

/// Resolve and verify the master key (see the module docs for the order). Holds an exclusive
/// lock beside the header while it runs, so two first uses cannot create two keys.
pub fn resolve_master_key(
    paths: &MasterKeyPaths,
    opts: &MasterKeyOptions,
    cache: Option<&KeyringCache>,
) -> VaultResult<ResolvedMasterKey> {
    let data_dir = paths
        .header
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    fsio::ensure_private_dir(&data_dir)?;
    let _lock = fsio::lock(&data_dir.join("vault-master.lock"), true)?;
    let cache_id = cache_id(&data_dir);
    let header = load_header(&paths.header)?;
    let remember = |key: &SecretKey32| {
        if let Some(c) = cache {
            c.set(&cache_id, key.expose());
        }
    };

    // 1. CUSTKEY_VAULT_KEY
    if let Some(hexkey) = &opts.key_hex {
        let key = parse_hex_key(hexkey, ENV_VAULT_KEY)?;
        match &header {
            Some(h) if !h.verifies(&key) => {
                return Err(VaultError::Authentication(format!(
                    "{ENV_VAULT_KEY} is not the master key of the vault directory {}",
                    data_dir.display()
                )))
            }
            Some(_) => {}
            None => adopt_key(&key, paths)?,
        }
        remember(&key);
        return Ok(ResolvedMasterKey {
            key,
            source: MasterKeySource::EnvKey,
        });
    }

    // 2. CUSTKEY_VAULT_PASSPHRASE
    if let Some(pass) = &opts.passphrase {
        let key = match &header {
            Some(h) if h.mode == "passphrase" => {
                let (Some(salt), Some(params)) = (&h.kdf_salt, &h.kdf_params) else {
                    return Err(VaultError::Unavailable(format!(
                        "the master key header {} lacks its KDF salt or parameters",
                        paths.header.display()
                    )));
                };
                let salt = hex::decode(salt).map_err(|_| {
                    VaultError::Unavailable("the master key header's salt is not hex".to_string())
                })?;
                let key = crate::crypto::derive_key_from_passphrase(pass.as_bytes(), &salt, params)
                    .map_err(|e| VaultError::Invalid(format!("key derivation failed: {e:?}")))?;
                if !h.verifies(&key) {
                    return Err(VaultError::Authentication(format!(
                        "wrong passphrase for the vault directory {} ({ENV_VAULT_PASSPHRASE})",
                        data_dir.display()
                    )));
                }
                key
            }
            Some(_) => {
                return Err(VaultError::Authentication(format!(
                    "{ENV_VAULT_PASSPHRASE} is set, but the vault directory {} is protected by a \
                     key (key file or {ENV_VAULT_KEY}), not a passphrase",
                    data_dir.display()
                )))
            }
            None => {
                if paths.key_file.exists() || vaults_exist(&paths.vault_dir)? {
                    return Err(VaultError::Authentication(format!(
                        "{ENV_VAULT_PASSPHRASE} is set, but the vault directory {} already has a \
                         key file or vaults and no passphrase header",
                        data_dir.display()
                    )));
                }
                let mut salt = [0u8; 16];
                crate::crypto::random_bytes(&mut salt);
                let params = KdfParams::recommended();
                let key =
                    crate::crypto::derive_key_from_passphrase(pass.as_bytes(), &salt, &params)
                        .map_err(|e| {
                            VaultError::Invalid(format!("key derivation failed: {e:?}"))
                        })?;
                Header::new(&key, "passphrase", Some((&salt, params)))?.save(&paths.header)?;
                key
            }
        };
        remember(&key);
        return Ok(ResolvedMasterKey {
            key,
            source: MasterKeySource::EnvPassphrase,
        });
    }

    // 3. the keyring cache (only meaningful once a header exists to verify against)
    if let (Some(h), Some(c)) = (&header, cache) {
        if let Some(bytes) = c.get(&cache_id) {
            match SecretKey32::from_slice(&bytes) {
                Ok(key) if h.verifies(&key) => {
                    return Ok(ResolvedMasterKey {
                        key,
                        source: MasterKeySource::KeyringCache,
                    })
                }
                // A stale or foreign entry: drop it and go on.
                _ => {
                    c.delete(&cache_id);
                }
            }
        }
    }

    // 4. the key file
    if let Some(text) = fsio::read_optional(&paths.key_file)? {
        let text = Zeroizing::new(text);
        let s = std::str::from_utf8(&text).map_err(|_| {
            VaultError::Authentication(format!(
                "the key file {} must hold 64 hexadecimal digits",
                paths.key_file.display()
            ))
        })?;
        let key = parse_hex_key(s, &format!("the key file {}", paths.key_file.display()))?;
        match &header {
            Some(h) if !h.verifies(&key) => {
                return Err(VaultError::Authentication(format!(
                    "the key file {} does not hold the master key of this vault directory{}",
                    paths.key_file.display(),
                    if h.mode == "passphrase" {
                        format!(" (it is passphrase-protected: set {ENV_VAULT_PASSPHRASE})")
                    } else {
                        String::new()
                    }
                )))
            }
            Some(_) => {}
            None => adopt_key(&key, paths)?,
        }
        remember(&key);
        return Ok(ResolvedMasterKey {
            key,
            source: MasterKeySource::KeyFile,
        });
    }

    if let Some(h) = &header {
        return Err(VaultError::Authentication(if h.mode == "passphrase" {
            format!(
                "the vault directory {} is passphrase-protected: set {ENV_VAULT_PASSPHRASE} (or {ENV_VAULT_KEY})",
                data_dir.display()
            )
        } else {
            format!(
                "the master key of the vault directory {} is not available: the key file {} is \
                 missing; set {ENV_VAULT_KEY} or restore the key file",
                data_dir.display(),
                paths.key_file.display()
            )
        }));
    }
    if vaults_exist(&paths.vault_dir)? {
        return Err(VaultError::Authentication(format!(
            "the vault directory {} holds vaults but no master key source was found (no key file, \
             no {ENV_VAULT_KEY}, no {ENV_VAULT_PASSPHRASE}); refusing to create a new key",
            paths.vault_dir.display()
        )));
    }

    // 5. a fresh directory: make a key file.
    let key = SecretKey32::generate();
    let mut text = Zeroizing::new(vec![b'\n'; 65]);
    hex::encode_to_slice(key.expose(), &mut text[..64])
        .map_err(|e| VaultError::Invalid(format!("cannot encode the key: {e}")))?;
    fsio::write_atomic(&paths.key_file, &text)?;
    Header::new(&key, "key", None)?.save(&paths.header)?;
    remember(&key);
    Ok(ResolvedMasterKey {
        key,
        source: MasterKeySource::NewKeyFile,
    })
}

/// The keyring entry name for a data directory (its canonical path).
pub fn cache_id(data_dir: &Path) -> String {
    let p = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!("master:{}", p.display())
}

/// The OS keyring used as a cache of resolved master keys (Linux: the kernel keyutils store).
#[derive(Clone)]
pub struct KeyringCache {
    store: Arc<keyring_core::CredentialStore>,
}

impl std::fmt::Debug for KeyringCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyringCache")
    }
}

impl KeyringCache {
    /// Open the platform keyring, or `None` when there is none usable. On Linux a root or
    /// daemon process may lack a session keyring of its own; one is attached first (the
    /// measured fix, crates-measured §2).
    pub fn open() -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            use linux_keyutils::{KeyRing, KeyRingIdentifier};
            // Failure here is not fatal: the store may still reach a keyring.
            let _ = KeyRing::from_special_id(KeyRingIdentifier::Session, true);
            let store = linux_keyutils_keyring_store::Store::new().ok()?;
            let store: Arc<keyring_core::CredentialStore> = store;
            Some(KeyringCache { store })
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    fn entry(&self, id: &str) -> Option<keyring_core::Entry> {
        keyring_core::Entry::new_in_store(&self.store, KEYRING_SERVICE, id).ok()
    }

    /// The cached secret, if any (any keyring failure reads as "none").
    pub fn get(&self, id: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.entry(id)?.get_secret().ok().map(Zeroizing::new)
    }

    /// Cache a secret; false if the keyring refused.
    pub fn set(&self, id: &str, secret: &[u8]) -> bool {
        self.entry(id).is_some_and(|e| e.set_secret(secret).is_ok())
    }

    /// Drop an entry; false if there was none or the keyring refused.
    pub fn delete(&self, id: &str) -> bool {
        self.entry(id)
            .is_some_and(|e| e.delete_credential().is_ok())
    }

    /// Whether the keyring works here: writes, reads back and deletes a probe entry.
    pub fn probe(&self) -> bool {
        let mut probe = [0u8; 16];
        crate::crypto::random_bytes(&mut probe);
        let id = format!("probe:{}", hex::encode(probe));
        let ok = self.set(&id, &probe) && self.get(&id).is_some_and(|v| v.as_slice() == probe);
        self.delete(&id);
        ok
    }
}
