//! The master keys of a data directory (the local vault master key and the service master key),
//! their sources, and the OS keyring cache.
//!
//! Neither master key is ever stored inside the data directory: a copy of it alone opens
//! nothing. Sources, in order:
//! 1. the env var (`CUSTKEY_VAULT_KEY`, `CUSTKEY_SERVICE_KEY`): 64 hex digits (CI);
//! 2. the passphrase (`CUSTKEY_VAULT_PASSPHRASE`, `CUSTKEY_SERVICE_PASSPHRASE`), stretched by
//!    Argon2id with the salt and parameters recorded in the header;
//! 3. the OS keyring cache (an entry written by an earlier process that resolved the key; it
//!    expires after `CUSTKEY_KEYRING_TIMEOUT` seconds);
//! 4. the key file in the user's configuration directory (`<config dir>/vault-<id>.key`,
//!    `<config dir>/service-<id>.key`, 64 hex digits, 0600), `<id>` being the random id the
//!    header records, so a moved data directory still finds its key and two data directories
//!    never share a file;
//! 5. nothing yet (a fresh directory): a random key is written to the key file in the
//!    configuration directory, so the embedded default works with no setup.
//!
//! A data directory of the old layout (`<data dir>/vault.key`, `<data dir>/service.key`) has
//! its key file moved into the configuration directory on first open: the new file is written
//! (0600, fsync) before the old one is removed, and a notice says so once.
//!
//! The header file (`<data dir>/vault-master.json`, `<data dir>/service-master.json`, 0600)
//! records the id, the mode (`key` or `passphrase`), the KDF salt and parameters, and a *check
//! value*: a fixed text sealed under the master key. Every key, whatever its source, is verified
//! against it, so a wrong env key, a wrong passphrase or a stale keyring entry gives an
//! `Authentication` error (or, for the keyring, is ignored and dropped) before any file is
//! touched. The header holds nothing secret.
//!
//! The keyring is only a cache (design §5): kernel keyrings lose their contents at reboot, and
//! every entry custkey writes has a timeout. A keyring that cannot be reached is skipped
//! silently; it never makes resolution fail.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::fsio;
use crate::crypto::{KdfParams, SecretKey32};

/// Env var: the vault master key as 64 hex digits.
pub const ENV_VAULT_KEY: &str = "CUSTKEY_VAULT_KEY";
/// Env var: the vault master passphrase.
pub const ENV_VAULT_PASSPHRASE: &str = "CUSTKEY_VAULT_PASSPHRASE";
/// Env var: the service master key as 64 hex digits.
pub const ENV_SERVICE_KEY: &str = "CUSTKEY_SERVICE_KEY";
/// Env var: the service master passphrase.
pub const ENV_SERVICE_PASSPHRASE: &str = "CUSTKEY_SERVICE_PASSPHRASE";
/// Env var: `off` (or `0`, `false`, `no`) disables the keyring cache.
pub const ENV_KEYRING: &str = "CUSTKEY_KEYRING";
/// Env var: the lifetime of a keyring cache entry, in seconds.
pub const ENV_KEYRING_TIMEOUT: &str = "CUSTKEY_KEYRING_TIMEOUT";
/// The default lifetime of a keyring cache entry (15 minutes).
pub const DEFAULT_KEYRING_TIMEOUT_SECONDS: i64 = 15 * 60;
/// The longest lifetime `CUSTKEY_KEYRING_TIMEOUT` may set (24 hours).
pub const MAX_KEYRING_TIMEOUT_SECONDS: i64 = 24 * 60 * 60;

const HEADER_FORMAT: &str = "custkey-vault-master";
/// The prefix of every keyring entry custkey writes.
pub const KEYRING_PREFIX: &str = "custkey:";
/// The service name of the entries older custkey versions wrote (no timeout): removed when met.
const LEGACY_KEYRING_SERVICE: &str = "custkey-vault";

/// Which master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyKind {
    /// The local vault master key (seals the vault files and the subscription backup keys).
    Vault,
    /// The service master key (seals the availability keys and the service's secrets).
    Service,
}

impl MasterKeyKind {
    /// The env var holding the key as hex.
    pub fn env_key(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => ENV_VAULT_KEY,
            MasterKeyKind::Service => ENV_SERVICE_KEY,
        }
    }
    /// The env var holding the passphrase.
    pub fn env_passphrase(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => ENV_VAULT_PASSPHRASE,
            MasterKeyKind::Service => ENV_SERVICE_PASSPHRASE,
        }
    }
    /// The header's file name in the data directory.
    pub fn header_name(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => "vault-master.json",
            MasterKeyKind::Service => "service-master.json",
        }
    }
    /// The key file of the old layout, inside the data directory (migrated away).
    pub fn legacy_key_name(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => "vault.key",
            MasterKeyKind::Service => "service.key",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => "vault",
            MasterKeyKind::Service => "service",
        }
    }
    fn label(self) -> &'static str {
        match self {
            MasterKeyKind::Vault => "vault master key",
            MasterKeyKind::Service => "service master key",
        }
    }
    fn check_aad(self) -> &'static [u8] {
        match self {
            MasterKeyKind::Vault => b"custkey-vault-master-check/v1",
            MasterKeyKind::Service => b"custkey-service-master-check/v1",
        }
    }
    fn check_text(self) -> &'static [u8] {
        match self {
            MasterKeyKind::Vault => b"custkey local vault master key",
            MasterKeyKind::Service => b"custkey service master key",
        }
    }
    /// The key file's name in the configuration directory for a data directory id.
    pub fn key_file_name(self, id: &str) -> String {
        format!("{}-{id}.key", self.prefix())
    }
}

/// Where the resolved master key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// The env var (`CUSTKEY_VAULT_KEY`, `CUSTKEY_SERVICE_KEY`).
    EnvKey,
    /// The passphrase env var through Argon2id.
    EnvPassphrase,
    /// The OS keyring cache.
    KeyringCache,
    /// The existing key file in the configuration directory.
    KeyFile,
    /// A key file created just now (fresh directory).
    NewKeyFile,
    /// Unwrapped by the token key (`CUSTKEY_MASTER_PKCS11`).
    Pkcs11,
    /// Created just now and wrapped by the token key (fresh directory).
    NewPkcs11,
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
    /// `CUSTKEY_MASTER_PKCS11`: the token key that wraps a new master key (and opens one whose
    /// header does not record its URI).
    pub pkcs11_uri: Option<String>,
}

impl std::fmt::Debug for MasterKeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeyOptions")
            .field("key_hex", &self.key_hex.as_ref().map(|_| "<set>"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("use_keyring", &self.use_keyring)
            // The query is never shown: a PIN put there by mistake must not reach a log.
            .field(
                "pkcs11_uri",
                &self
                    .pkcs11_uri
                    .as_deref()
                    .map(|u| u.split('?').next().unwrap_or_default()),
            )
            .finish()
    }
}

impl MasterKeyOptions {
    /// The vault master key's options: [`MasterKeyOptions::from_env_for`] of
    /// [`MasterKeyKind::Vault`].
    pub fn from_env() -> VaultResult<Self> {
        Self::from_env_for(MasterKeyKind::Vault)
    }

    /// From the kind's key and passphrase env vars and `CUSTKEY_KEYRING` (`on`/`off`, or 1/0,
    /// true/false, yes/no; anything else is an `Invalid` error naming it).
    pub fn from_env_for(kind: MasterKeyKind) -> VaultResult<Self> {
        let get = |n: &str| {
            std::env::var(n)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Zeroizing::new)
        };
        Ok(MasterKeyOptions {
            key_hex: get(kind.env_key()),
            passphrase: get(kind.env_passphrase()),
            use_keyring: keyring_enabled()?,
            pkcs11_uri: std::env::var(super::pkcs11::ENV_MASTER_PKCS11)
                .ok()
                .filter(|v| !v.is_empty()),
        })
    }
}

/// Whether `CUSTKEY_KEYRING` allows the keyring cache (default: yes).
pub fn keyring_enabled() -> VaultResult<bool> {
    Ok(crate::input::env_bool(ENV_KEYRING)
        .map_err(|e| VaultError::Invalid(format!("{e}; {}", e.help())))?
        .unwrap_or(true))
}

/// The files involved.
#[derive(Debug, Clone)]
pub struct MasterKeyPaths {
    /// Which key.
    pub kind: MasterKeyKind,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The configuration directory, or `None` for the user's ([`crate::paths`]).
    pub config_dir: Option<PathBuf>,
    /// The vault directory, for the vault key: a fresh key is refused when vaults exist.
    pub vault_dir: Option<PathBuf>,
    /// The data directory already holds data sealed under this key (the service key: the
    /// store has a check value), so a fresh key must not be made.
    pub in_use: bool,
}

impl MasterKeyPaths {
    /// The header file.
    pub fn header(&self) -> PathBuf {
        self.data_dir.join(self.kind.header_name())
    }
    /// The key file of the old layout.
    pub fn legacy_key_file(&self) -> PathBuf {
        self.data_dir.join(self.kind.legacy_key_name())
    }
    /// The configuration directory (not created: only writing a key file creates it), refused
    /// when it lies inside the data directory.
    pub fn config_dir(&self) -> VaultResult<PathBuf> {
        let d = match &self.config_dir {
            Some(d) => d.clone(),
            None => crate::paths::config_dir()
                .map_err(|e| VaultError::Unavailable(format!("{}; {}", e.message, e.help)))?,
        };
        if crate::paths::is_inside(&d, &self.data_dir) {
            return Err(VaultError::Unavailable(format!(
                "the configuration directory {} is inside the data directory {}; set {} to a \
                 directory outside it: keys kept there would travel with every copy of it",
                d.display(),
                self.data_dir.display(),
                crate::paths::ENV_CONFIG_DIR
            )));
        }
        Ok(d)
    }
}

/// A resolved, verified master key.
pub struct ResolvedMasterKey {
    /// The key.
    pub key: SecretKey32,
    /// Where it came from.
    pub source: MasterKeySource,
    /// The key file in the configuration directory (whether or not it exists).
    pub key_file: PathBuf,
    /// What the operator should be told once (a key file moved out of the data directory).
    pub notices: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    format: String,
    version: u32,
    /// The data directory's id for this key (names the key file and the keyring entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf_salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf_params: Option<KdfParams>,
    /// Mode `pkcs11`: the token key's URI (no PIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_key: Option<String>,
    /// Mode `pkcs11`: the master key sealed by the token key (hex of IV, ciphertext, tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<String>,
    check: String,
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    crate::crypto::random_bytes(&mut b);
    hex::encode(b)
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

impl Header {
    fn new(
        kind: MasterKeyKind,
        id: &str,
        key: &SecretKey32,
        mode: &str,
        kdf: Option<(&[u8], KdfParams)>,
    ) -> VaultResult<Self> {
        let check = crate::crypto::seal(key, kind.check_aad(), kind.check_text())
            .map_err(|e| VaultError::Invalid(format!("cannot seal the key check: {e:?}")))?;
        let (salt, params) = match kdf {
            Some((s, p)) => (Some(hex::encode(s)), Some(p)),
            None => (None, None),
        };
        Ok(Header {
            format: HEADER_FORMAT.to_string(),
            version: 1,
            id: Some(id.to_string()),
            mode: mode.to_string(),
            kdf_salt: salt,
            kdf_params: params,
            token_key: None,
            wrapped: None,
            check: hex::encode(check),
        })
    }

    fn verifies(&self, kind: MasterKeyKind, key: &SecretKey32) -> bool {
        hex::decode(&self.check)
            .ok()
            .and_then(|c| crate::crypto::open(key, kind.check_aad(), &c).ok())
            .is_some_and(|t| t.as_slice() == kind.check_text())
    }

    /// The keyring entry of this header's key: the id and a digest of the check value, so a
    /// header made anew (another key, another passphrase) has another entry and the old one is
    /// superseded.
    fn cache_id(&self, kind: MasterKeyKind) -> String {
        format!(
            "{}{}",
            cache_group(kind, self.id.as_deref().unwrap_or("")),
            &self.check.get(..16).unwrap_or(&self.check)
        )
    }

    fn save(&self, path: &Path) -> VaultResult<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the header: {e}")))?;
        fsio::write_atomic(path, &bytes)
    }
}

fn wrap_aad(kind: MasterKeyKind, id: &str) -> Vec<u8> {
    let mut a = kind.check_aad().to_vec();
    a.extend_from_slice(b"|pkcs11-wrap|");
    a.extend_from_slice(id.as_bytes());
    a
}

/// Mode `pkcs11`: the master key, opened by the token key.
fn unwrap_on_token(
    kind: MasterKeyKind,
    h: &Header,
    opts: &MasterKeyOptions,
    header_path: &Path,
) -> VaultResult<SecretKey32> {
    let env = super::pkcs11::ENV_MASTER_PKCS11;
    let uri = opts
        .pkcs11_uri
        .as_deref()
        .or(h.token_key.as_deref())
        .ok_or_else(|| {
            VaultError::Authentication(format!(
                "the {} is wrapped by a PKCS#11 token key: set {env} to its pkcs11: URI",
                kind.label()
            ))
        })?;
    let token_key = super::pkcs11::MasterWrapKey::parse(uri)?;
    let wrapped = h
        .wrapped
        .as_deref()
        .and_then(|w| hex::decode(w).ok())
        .ok_or_else(|| {
            VaultError::Unavailable(format!(
                "the master key header {} lacks its token-wrapped key; restore it from a backup",
                header_path.display()
            ))
        })?;
    let plain = token_key.unwrap(&wrapped, &wrap_aad(kind, h.id.as_deref().unwrap_or("")))?;
    let key = SecretKey32::from_slice(&plain).map_err(|_| {
        VaultError::Unavailable("the token-wrapped master key has the wrong length".into())
    })?;
    if !h.verifies(kind, &key) {
        return Err(VaultError::Authentication(format!(
            "the token key of {env} does not hold the {} of this data directory",
            kind.label()
        )));
    }
    Ok(key)
}

fn cache_group(kind: MasterKeyKind, id: &str) -> String {
    format!("{}-master:{id}:", kind.prefix())
}

fn load_header(path: &Path) -> VaultResult<Option<Header>> {
    let Some(bytes) = fsio::read_optional(path)? else {
        return Ok(None);
    };
    let damaged = |why: String| {
        VaultError::Unavailable(format!(
            "the master key header {} is damaged ({why}); restore it from a backup of the data directory",
            path.display()
        ))
    };
    let h: Header = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if h.format != HEADER_FORMAT || h.version != 1 {
        return Err(VaultError::Unavailable(format!(
            "{} is not a custkey master key header",
            path.display()
        )));
    }
    if h.id.as_deref().is_some_and(|id| !valid_id(id)) {
        return Err(damaged("its id is not 32 lowercase hex digits".into()));
    }
    if !matches!(h.mode.as_str(), "key" | "passphrase" | "pkcs11") {
        return Err(damaged(format!("unknown mode '{}'", h.mode.escape_debug())));
    }
    Ok(Some(h))
}

/// The keyring entry name of the vault master key of a data directory, from its header
/// (`None` before the first open).
pub fn cache_id(data_dir: &Path) -> Option<String> {
    cache_id_for(MasterKeyKind::Vault, data_dir)
}

/// The keyring entry name of a master key of a data directory, from its header.
pub fn cache_id_for(kind: MasterKeyKind, data_dir: &Path) -> Option<String> {
    load_header(&data_dir.join(kind.header_name()))
        .ok()
        .flatten()
        .filter(|h| h.id.is_some())
        .map(|h| h.cache_id(kind))
}

fn vaults_exist(dir: Option<&Path>) -> VaultResult<bool> {
    Ok(first_vault(dir)?.is_some())
}

fn first_vault(dir: Option<&Path>) -> VaultResult<Option<PathBuf>> {
    let Some(dir) = dir else { return Ok(None) };
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "vault"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::io("cannot list the vault directory", dir, &e)),
    }
}

/// No header yet but a key in hand: if vault files exist, the key must open them (checked on the
/// first one's key check) before it is written down as this directory's key, so a wrong key
/// cannot poison the header.
fn adopt_key(key: &SecretKey32, paths: &MasterKeyPaths, id: &str) -> VaultResult<Header> {
    if let Some(file) = first_vault(paths.vault_dir.as_deref())? {
        if !super::local::key_opens_vault_file(&file, key)? {
            return Err(VaultError::Authentication(format!(
                "the given master key does not open the existing vault file {}",
                file.display()
            )));
        }
    }
    let h = Header::new(paths.kind, id, key, "key", None)?;
    h.save(&paths.header())?;
    Ok(h)
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

fn read_key_file(path: &Path) -> VaultResult<Option<SecretKey32>> {
    let Some(text) = fsio::read_optional(path)? else {
        return Ok(None);
    };
    let text = Zeroizing::new(text);
    let s = std::str::from_utf8(&text).map_err(|_| {
        VaultError::Authentication(format!(
            "the key file {} must hold 64 hexadecimal digits; restore it from its backup",
            path.display()
        ))
    })?;
    parse_hex_key(s, &format!("the key file {}", path.display())).map(Some)
}

/// Writes a key file (0600, atomically), creating its directory (0700, parents too) first.
fn write_key_file(path: &Path, key: &SecretKey32) -> VaultResult<()> {
    if let Some(dir) = path.parent() {
        crate::paths::create_private_dir(dir)
            .map_err(|e| VaultError::io("cannot create the configuration directory", dir, &e))?;
    }
    let mut text = Zeroizing::new(vec![b'\n'; 65]);
    hex::encode_to_slice(key.expose(), &mut text[..64])
        .map_err(|e| VaultError::Invalid(format!("cannot encode the key: {e}")))?;
    fsio::write_atomic(path, &text)
}

fn sync_dir(dir: &Path) -> VaultResult<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| VaultError::io("cannot sync the directory", dir, &e))
}

/// The old layout: a key file inside the data directory. It is moved to the configuration
/// directory (new file written and synced first, then the old one removed), so it is never lost.
fn migrate_legacy(
    paths: &MasterKeyPaths,
    header: &mut Option<Header>,
    id: &str,
    key_file: &Path,
    notices: &mut Vec<String>,
) -> VaultResult<()> {
    let legacy = paths.legacy_key_file();
    let Some(key) = read_key_file(&legacy)? else {
        return Ok(());
    };
    let kind = paths.kind;
    match header {
        Some(h) if !h.verifies(kind, &key) => {
            return Err(VaultError::Authentication(format!(
                "the old key file {} does not hold the {} of the data directory {}; move it away \
                 (it was not changed) and give the key with {}",
                legacy.display(),
                kind.label(),
                paths.data_dir.display(),
                kind.env_key()
            )))
        }
        Some(_) => {}
        None => *header = Some(adopt_key(&key, paths, id)?),
    }
    match read_key_file(key_file)? {
        Some(existing) if existing.expose() != key.expose() => {
            return Err(VaultError::Authentication(format!(
                "the data directory {} holds an old key file {} and the configuration directory \
                 holds another key in {}; keep the right one (check it with {}) and move the \
                 other away",
                paths.data_dir.display(),
                legacy.display(),
                key_file.display(),
                kind.env_key()
            )))
        }
        Some(_) => {}
        None => write_key_file(key_file, &key)?,
    }
    std::fs::remove_file(&legacy)
        .map_err(|e| VaultError::io("cannot remove the old key file", &legacy, &e))?;
    sync_dir(&paths.data_dir)?;
    notices.push(format!(
        "the {} was moved out of the data directory: {} is now {} (back it up; a copy of the \
         data directory no longer carries it)",
        kind.label(),
        legacy.display(),
        key_file.display()
    ));
    Ok(())
}

/// Resolve and verify a master key (see the module docs for the order). Holds an exclusive
/// lock beside the header while it runs, so two first uses cannot create two keys.
pub fn resolve_master_key(
    paths: &MasterKeyPaths,
    opts: &MasterKeyOptions,
    cache: Option<&KeyringCache>,
) -> VaultResult<ResolvedMasterKey> {
    let kind = paths.kind;
    let data_dir = &paths.data_dir;
    let header_path = paths.header();
    fsio::ensure_private_dir(data_dir)?;
    let _lock = fsio::lock(
        &data_dir.join(format!("{}-master.lock", kind.prefix())),
        true,
    )?;
    let config_dir = paths.config_dir()?;
    let mut header = load_header(&header_path)?;
    // A header of an older version has no id yet: give it one (nothing secret changes).
    if let Some(h) = header.as_mut().filter(|h| h.id.is_none()) {
        h.id = Some(new_id());
        h.save(&header_path)?;
    }
    let id = header
        .as_ref()
        .and_then(|h| h.id.clone())
        .unwrap_or_else(new_id);
    let key_file = config_dir.join(kind.key_file_name(&id));
    let mut notices = Vec::new();
    migrate_legacy(paths, &mut header, &id, &key_file, &mut notices)?;
    if let Some(c) = cache {
        c.remove_legacy(data_dir);
    }
    let done = |key: SecretKey32,
                source: MasterKeySource,
                header: &Header,
                notices: Vec<String>|
     -> ResolvedMasterKey {
        if let Some(c) = cache {
            if source != MasterKeySource::KeyringCache {
                c.set_superseding(
                    &cache_group(kind, &id),
                    &header.cache_id(kind),
                    key.expose(),
                );
            }
        }
        ResolvedMasterKey {
            key,
            source,
            key_file: key_file.clone(),
            notices,
        }
    };

    // 1. the env key
    if let Some(hexkey) = &opts.key_hex {
        let key = parse_hex_key(hexkey, kind.env_key())?;
        let h = match header {
            Some(h) if !h.verifies(kind, &key) => {
                return Err(VaultError::Authentication(format!(
                    "{} is not the {} of the data directory {}",
                    kind.env_key(),
                    kind.label(),
                    data_dir.display()
                )))
            }
            Some(h) => h,
            None => adopt_key(&key, paths, &id)?,
        };
        return Ok(done(key, MasterKeySource::EnvKey, &h, notices));
    }

    // 2. the passphrase
    if let Some(pass) = &opts.passphrase {
        let env = kind.env_passphrase();
        let (key, h) = match header {
            Some(h) if h.mode == "passphrase" => {
                let (Some(salt), Some(params)) = (&h.kdf_salt, &h.kdf_params) else {
                    return Err(VaultError::Unavailable(format!(
                        "the master key header {} lacks its KDF salt or parameters",
                        header_path.display()
                    )));
                };
                let salt = hex::decode(salt).map_err(|_| {
                    VaultError::Unavailable(format!(
                        "the salt in the master key header {} is not hex",
                        header_path.display()
                    ))
                })?;
                let key = crate::crypto::derive_key_from_passphrase(pass.as_bytes(), &salt, params)
                    .map_err(|e| VaultError::Invalid(format!("key derivation failed: {e:?}")))?;
                if !h.verifies(kind, &key) {
                    return Err(VaultError::Authentication(format!(
                        "wrong passphrase for the {} of the data directory {} ({env})",
                        kind.label(),
                        data_dir.display()
                    )));
                }
                (key, h)
            }
            Some(h) if h.mode == "pkcs11" => {
                return Err(VaultError::Authentication(format!(
                    "{env} is set, but the {} of the data directory {} is wrapped by a PKCS#11 \
                     token key, not a passphrase: unset {env} and give the token's PIN in {}",
                    kind.label(),
                    data_dir.display(),
                    super::pkcs11::ENV_PIN
                )))
            }
            Some(_) => {
                return Err(VaultError::Authentication(format!(
                    "{env} is set, but the {} of the data directory {} is a key (the key file {} \
                     or {}), not a passphrase",
                    kind.label(),
                    data_dir.display(),
                    key_file.display(),
                    kind.env_key()
                )))
            }
            None => {
                if paths.in_use || vaults_exist(paths.vault_dir.as_deref())? {
                    return Err(VaultError::Authentication(format!(
                        "{env} is set, but the data directory {} already holds data sealed under \
                         a {} and has no passphrase header; give that key with {}",
                        data_dir.display(),
                        kind.label(),
                        kind.env_key()
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
                let h = Header::new(kind, &id, &key, "passphrase", Some((&salt, params)))?;
                h.save(&header_path)?;
                (key, h)
            }
        };
        return Ok(done(key, MasterKeySource::EnvPassphrase, &h, notices));
    }

    // 3. the keyring cache (only meaningful once a header exists to verify against)
    if let (Some(h), Some(c)) = (&header, cache) {
        let cid = h.cache_id(kind);
        if let Some(bytes) = c.get(&cid) {
            match SecretKey32::from_slice(&bytes) {
                Ok(key) if h.verifies(kind, &key) => {
                    return Ok(done(key, MasterKeySource::KeyringCache, h, notices));
                }
                // A stale or foreign entry: drop it and go on.
                _ => {
                    c.delete(&cid);
                }
            }
        }
    }

    // 4. the key file in the configuration directory, or the token key for a header of mode
    //    pkcs11
    if let Some(h) = header.as_ref().filter(|h| h.mode == "pkcs11") {
        let key = unwrap_on_token(kind, h, opts, &header_path)?;
        return Ok(done(key, MasterKeySource::Pkcs11, h, notices));
    }
    if let Some(key) = read_key_file(&key_file)? {
        let h = match header {
            Some(h) if !h.verifies(kind, &key) => {
                return Err(VaultError::Authentication(format!(
                    "the key file {} does not hold the {} of the data directory {}{}",
                    key_file.display(),
                    kind.label(),
                    data_dir.display(),
                    if h.mode == "passphrase" {
                        format!(
                            " (it is passphrase-protected: set {})",
                            kind.env_passphrase()
                        )
                    } else {
                        String::new()
                    }
                )))
            }
            Some(h) => h,
            None => adopt_key(&key, paths, &id)?,
        };
        let mut notices = notices;
        if opts.pkcs11_uri.is_some() {
            notices.push(format!(
                "{} is set, but the {} of the data directory {} is the key file {}; the token \
                 key was not used",
                super::pkcs11::ENV_MASTER_PKCS11,
                kind.label(),
                data_dir.display(),
                key_file.display()
            ));
        }
        return Ok(done(key, MasterKeySource::KeyFile, &h, notices));
    }

    if let Some(h) = &header {
        return Err(VaultError::Authentication(if h.mode == "passphrase" {
            format!(
                "the {} of the data directory {} is passphrase-protected: set {} (or {})",
                kind.label(),
                data_dir.display(),
                kind.env_passphrase(),
                kind.env_key()
            )
        } else {
            format!(
                "the {} of the data directory {} is not available: looked for {}, {}, the \
                 keyring cache and the key file {}; restore that file from its backup or give \
                 the key with {}",
                kind.label(),
                data_dir.display(),
                kind.env_key(),
                kind.env_passphrase(),
                key_file.display(),
                kind.env_key()
            )
        }));
    }
    if paths.in_use || vaults_exist(paths.vault_dir.as_deref())? {
        return Err(VaultError::Authentication(format!(
            "the data directory {} holds data sealed under a {} but no source of it was found \
             (no {}, no {}, no key file {}); refusing to create a new key",
            data_dir.display(),
            kind.label(),
            kind.env_key(),
            kind.env_passphrase(),
            key_file.display()
        )));
    }

    // 5. a fresh directory: a new key, wrapped by the token key of CUSTKEY_MASTER_PKCS11 (kept
    //    in the header), else written to a key file in the configuration directory.
    let key = SecretKey32::generate();
    if let Some(uri) = &opts.pkcs11_uri {
        let token_key = super::pkcs11::MasterWrapKey::parse(uri)?;
        let wrapped = token_key.wrap(key.expose(), &wrap_aad(kind, &id))?;
        let mut h = Header::new(kind, &id, &key, "pkcs11", None)?;
        h.token_key = Some(token_key.uri());
        h.wrapped = Some(hex::encode(wrapped));
        h.save(&header_path)?;
        return Ok(done(key, MasterKeySource::NewPkcs11, &h, notices));
    }
    write_key_file(&key_file, &key)?;
    let h = Header::new(kind, &id, &key, "key", None)?;
    h.save(&header_path)?;
    Ok(done(key, MasterKeySource::NewKeyFile, &h, notices))
}

/// The lifetime of keyring entries: `CUSTKEY_KEYRING_TIMEOUT` seconds (1 to 86400), else 15
/// minutes. A value outside the range is an `Invalid` error naming it.
pub fn keyring_timeout() -> VaultResult<u32> {
    let v = crate::input::env_int(
        ENV_KEYRING_TIMEOUT,
        1,
        MAX_KEYRING_TIMEOUT_SECONDS,
        "seconds",
    )
    .map_err(|e| VaultError::Invalid(format!("{e}; {}", e.help())))?
    .unwrap_or(DEFAULT_KEYRING_TIMEOUT_SECONDS);
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// The OS keyring used as a cache of resolved master keys and PINs (Linux: the kernel keyutils
/// session keyring). Every entry is named `custkey:<id>` and expires after its timeout.
#[derive(Clone)]
pub struct KeyringCache {
    #[cfg(target_os = "linux")]
    ring: linux_keyutils::KeyRing,
    timeout: u32,
}

impl std::fmt::Debug for KeyringCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringCache")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl KeyringCache {
    /// Open the platform keyring with the timeout of `CUSTKEY_KEYRING_TIMEOUT` (an invalid one
    /// falls back to the default here; [`crate::input::check_environment`] reports it), or
    /// `None` when there is none usable. On Linux a process without a session keyring of its own
    /// gets one attached first.
    pub fn open() -> Option<Self> {
        let timeout = keyring_timeout().unwrap_or(DEFAULT_KEYRING_TIMEOUT_SECONDS as u32);
        Self::open_with_timeout(timeout)
    }

    /// [`KeyringCache::open`] with an explicit entry lifetime in seconds.
    pub fn open_with_timeout(timeout: u32) -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            use linux_keyutils::{KeyRing, KeyRingIdentifier};
            let ring = KeyRing::from_special_id(KeyRingIdentifier::Session, true).ok()?;
            Some(KeyringCache {
                ring,
                timeout: timeout.max(1),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = timeout;
            None
        }
    }

    /// The lifetime given to entries, in seconds.
    pub fn timeout(&self) -> u32 {
        self.timeout
    }

    fn description(id: &str) -> String {
        format!("{KEYRING_PREFIX}{id}")
    }

    /// The cached secret, if any (any keyring failure reads as "none").
    pub fn get(&self, id: &str) -> Option<Zeroizing<Vec<u8>>> {
        #[cfg(target_os = "linux")]
        {
            let key = self.ring.search(&Self::description(id)).ok()?;
            key.read_to_vec().ok().map(Zeroizing::new)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = id;
            None
        }
    }

    /// Cache a secret for the cache's timeout; false if the keyring refused (an entry that
    /// could not be given its timeout is removed again).
    pub fn set(&self, id: &str, secret: &[u8]) -> bool {
        #[cfg(target_os = "linux")]
        {
            let Ok(key) = self.ring.add_key(&Self::description(id), secret) else {
                return false;
            };
            if key.set_timeout(self.timeout as usize).is_err() {
                let _ = key.invalidate();
                return false;
            }
            true
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (id, secret);
            false
        }
    }

    /// Cache a secret under `id` and remove every other entry whose id starts with `group`
    /// (the same data directory's key under an older header).
    pub fn set_superseding(&self, group: &str, id: &str, secret: &[u8]) -> bool {
        let ok = self.set(id, secret);
        let mine = Self::description(id);
        let group = Self::description(group);
        self.remove_where(|d| d.starts_with(&group) && d != mine);
        ok
    }

    /// Drop an entry; false if there was none or the keyring refused.
    pub fn delete(&self, id: &str) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.ring
                .search(&Self::description(id))
                .is_ok_and(|k| k.invalidate().is_ok())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = id;
            false
        }
    }

    /// The descriptions of custkey's entries in the session keyring (current and legacy).
    pub fn entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_entry(|d, _| out.push(d.to_string()));
        out
    }

    /// Removes every custkey entry (current and legacy) from the session keyring; returns how
    /// many were removed.
    pub fn clear(&self) -> usize {
        self.remove_where(|_| true)
    }

    /// Removes the entry older custkey versions wrote for `data_dir` (named by its path, with
    /// no timeout).
    pub fn remove_legacy(&self, data_dir: &Path) {
        let p = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let legacy_user = format!("master:{}", p.display());
        self.remove_where(|d| !d.starts_with(KEYRING_PREFIX) && d.contains(&legacy_user));
    }

    fn remove_where(&self, pred: impl Fn(&str) -> bool) -> usize {
        let mut n = 0;
        self.for_each_entry(|d, key| {
            if pred(d) && key.invalidate().is_ok() {
                n += 1;
            }
        });
        n
    }

    #[cfg(target_os = "linux")]
    fn for_each_entry(&self, mut f: impl FnMut(&str, &linux_keyutils::Key)) {
        let Ok(links) = self.ring.get_links(4096) else {
            return;
        };
        for node in links.iter() {
            let Some(key) = node.as_key() else { continue };
            let Ok(meta) = key.metadata() else { continue };
            let d = meta.get_description();
            if d.starts_with(KEYRING_PREFIX) || d.contains(LEGACY_KEYRING_SERVICE) {
                f(d, &key);
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn for_each_entry(&self, _f: impl FnMut(&str, &())) {}

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
