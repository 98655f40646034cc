//! The PKCS#11 backend: vaults whose RSA keys live on an HSM token.
//!
//! A PKCS#11 vault is a vault of the data directory (same name rules, same subscription, same
//! cmdlets) whose sealed vault file is a **sidecar**: it holds the vault's properties, access
//! policies, key attributes, soft-delete state and, per key version, a reference to the token
//! objects instead of key material. The audit log is the same chained log as the local
//! backend's. All of that is the shared vault engine in `super::local`; this module holds
//! what is specific to a token:
//!
//! - [`Pkcs11Binding`]: the module path and token label a vault is bound to (kept in the
//!   sidecar, set once by `New-AzKeyVault -Pkcs11Module ... -TokenLabel ...`).
//! - key generation on the token (RSA key pairs whose private halves are `CKA_TOKEN`,
//!   `CKA_PRIVATE`, `CKA_SENSITIVE` and not `CKA_EXTRACTABLE`, except a Managed HSM's, which
//!   leave the token wrapped under its security domain: `export_wrapped`, `import_wrapped`), wrap (C_Encrypt with the
//!   token's public-key object) and unwrap (C_Decrypt with the private-key object) with
//!   `CKM_RSA_PKCS_OAEP`, and destruction on purge;
//! - the label/id scheme: both objects of a key version carry `CKA_ID` = the 16 bytes of the
//!   version id (32 hex digits) and `CKA_LABEL` = `custkey:<vault>/<key>/<version>`;
//! - the user PIN: `CUSTKEY_PKCS11_PIN`, else the OS keyring cache (never a command-line
//!   argument); a PIN from the environment that logs in is cached in the keyring;
//! - error classes: module not loadable, token absent, session failure = `Unavailable`; wrong or
//!   locked PIN = `Authentication`; a key object without the decrypt/encrypt function =
//!   `AccessDenied`;
//! - RFC 7512 `pkcs11:` URIs naming a key ([`Pkcs11Uri`]);
//! - the token as a root-key backend of its own ([`super::root`]).
//!
//! [`super::pkcs11_vault`] puts the vault engine's management plane over these operations
//! (`Pkcs11Vault`, `Pkcs11Provider`); this module does not know the engine.
//!
//! OAEP: RSA-OAEP-256 (SHA-256, MGF1-SHA-256) is used when the token does it; SoftHSM2 2.6 does
//! only SHA-1/MGF1-SHA-1, so there a wrap asked for RSA-OAEP-256 is made with RSA-OAEP and the
//! [`WrapResult`](super::WrapResult) says so (the service records the algorithm with every
//! wrapped key). See docs/security.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::ids::printable;
use super::master_key::{KeyringCache, MasterKeyOptions};
use super::material::{HeldKeyRef, HolderBinding, KeyHolder, KeyHolders};
use crate::crypto::OaepAlg;

/// The backend name shown in `KeyVaultInfo::backend` and written in backups.
pub const BACKEND: &str = "PKCS11";
/// Env var holding the token's user PIN.
pub const ENV_PIN: &str = "CUSTKEY_PKCS11_PIN";
/// Prefix of every `CKA_LABEL` this backend writes.
pub const LABEL_PREFIX: &str = "custkey:";

/// The module and token a PKCS#11 vault is bound to (stored in the vault's sidecar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pkcs11Binding {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, as `softhsm2-util --init-token --label`).
    pub token_label: String,
}

impl Pkcs11Binding {
    /// A binding; the module path must be absolute and the label 1-32 printable characters.
    pub fn new(module: &Path, token_label: &str) -> VaultResult<Self> {
        if !module.is_absolute() {
            return Err(VaultError::Invalid(format!(
                "the PKCS#11 module path must be absolute (got '{}')",
                printable(&module.display().to_string())
            )));
        }
        let ok = (1..=32).contains(&token_label.len())
            && token_label
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ');
        if !ok || token_label.trim() != token_label {
            return Err(VaultError::Invalid(format!(
                "'{}' is not a valid token label (1-32 printable ASCII characters, no leading \
                 or trailing spaces)",
                printable(token_label)
            )));
        }
        Ok(Pkcs11Binding {
            module: module.to_path_buf(),
            token_label: token_label.to_string(),
        })
    }

    /// The binding as a vault records it ([`HolderBinding`]).
    pub fn holder(&self) -> HolderBinding {
        // A struct of a path and a string always serializes.
        HolderBinding(serde_json::to_value(self).unwrap_or_default())
    }

    /// The binding a vault recorded, if it is a PKCS#11 one.
    pub fn from_holder(b: &HolderBinding) -> Option<Self> {
        serde_json::from_value(b.0.clone()).ok()
    }
}

/// A PKCS#11 token as the vault engine's key holder ([`KeyHolder`]).
#[derive(Debug, Clone)]
pub struct TokenHolder {
    binding: Pkcs11Binding,
}

impl TokenHolder {
    /// The holder for a token binding.
    pub fn new(binding: Pkcs11Binding) -> Self {
        TokenHolder { binding }
    }
}

impl KeyHolder for TokenHolder {
    fn backend(&self) -> &'static str {
        BACKEND
    }
    fn describe(&self) -> String {
        format!("PKCS#11 token '{}'", self.binding.token_label)
    }
    fn binding(&self) -> HolderBinding {
        self.binding.holder()
    }
    fn check(&self) -> VaultResult<()> {
        check_binding(&self.binding)
    }
    fn generate(
        &self,
        vault: &str,
        key: &str,
        version: &str,
        bits: usize,
        wrappable: bool,
    ) -> VaultResult<(Vec<u8>, HeldKeyRef)> {
        generate(&self.binding, vault, key, version, bits, wrappable)
    }
    fn export_wrapped(&self, key: &HeldKeyRef, kek: &[u8; 32]) -> VaultResult<Vec<u8>> {
        export_wrapped(&self.binding, key, kek)
    }
    fn import_wrapped(
        &self,
        vault: &str,
        key: &str,
        version: &str,
        public_der: &[u8],
        kek: &[u8; 32],
        wrapped: &[u8],
    ) -> VaultResult<HeldKeyRef> {
        import_wrapped(&self.binding, vault, key, version, public_der, kek, wrapped)
    }
    fn wrap(&self, key: &HeldKeyRef, alg: OaepAlg, data: &[u8]) -> VaultResult<(OaepAlg, Vec<u8>)> {
        wrap(&self.binding, key, alg, data)
    }
    fn unwrap(
        &self,
        key: &HeldKeyRef,
        alg: OaepAlg,
        wrapped: &[u8],
        key_bits: usize,
    ) -> VaultResult<Zeroizing<Vec<u8>>> {
        unwrap(&self.binding, key, alg, wrapped, key_bits)
    }
    fn present(&self, key: &HeldKeyRef) -> VaultResult<bool> {
        objects_present(&self.binding, key)
    }
    fn destroy(&self, key: &HeldKeyRef) -> VaultResult<()> {
        destroy(&self.binding, key)
    }
}

/// The PKCS#11 holders: any recorded [`Pkcs11Binding`].
pub struct TokenHolders;

impl KeyHolders for TokenHolders {
    fn open(&self, b: &HolderBinding) -> VaultResult<std::sync::Arc<dyn KeyHolder>> {
        match Pkcs11Binding::from_holder(b) {
            Some(binding) => Ok(std::sync::Arc::new(TokenHolder::new(binding))),
            None => Err(VaultError::Unavailable(
                "the vault file names a key holder this custkey does not know (written by a \
                 newer version, or damaged); use the custkey that created the vault"
                    .to_string(),
            )),
        }
    }
}

/// One key version's objects on the token, as the sidecar refers to them: `id` is `CKA_ID`
/// (hex), `label` is `CKA_LABEL`.
pub type TokenKeyRef = HeldKeyRef;

/// The `CKA_LABEL` of a key version's objects.
pub fn object_label(vault: &str, key: &str, version: &str) -> String {
    format!(
        "{LABEL_PREFIX}{}/{}/{version}",
        vault.to_ascii_lowercase(),
        key.to_ascii_lowercase()
    )
}

// ---------------------------------------------------------------------------------------------
// Modules and sessions

fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static M: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The loaded, initialized module at `path`. A module is loaded once per process and kept; the
/// path is checked on every call, so a module that has been removed or made unreadable reads
/// as unavailable even while a copy is still mapped.
fn module(path: &Path) -> VaultResult<Pkcs11> {
    let unloadable = |why: String| {
        VaultError::Unavailable(format!(
            "the PKCS#11 module {} cannot be loaded: {why}",
            path.display()
        ))
    };
    let canonical = std::fs::canonicalize(path).map_err(|e| unloadable(e.to_string()))?;
    std::fs::File::open(&canonical).map_err(|e| unloadable(e.to_string()))?;
    let mut map = modules()
        .lock()
        .map_err(|_| unloadable("the module table is poisoned".into()))?;
    if let Some(m) = map.get(&canonical) {
        return Ok(m.clone());
    }
    let m = Pkcs11::new(&canonical).map_err(|e| unloadable(e.to_string()))?;
    match m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(unloadable(format!("C_Initialize failed: {e}"))),
    }
    map.insert(canonical, m.clone());
    Ok(m)
}

/// The OS keyring entry (user name; service `custkey-vault`) caching a token's PIN.
pub fn pin_cache_id(b: &Pkcs11Binding) -> String {
    let m = std::fs::canonicalize(&b.module).unwrap_or_else(|_| b.module.clone());
    format!("pkcs11-pin:{}|{}", m.display(), b.token_label)
}

/// Where a PIN came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinSource {
    Env,
    Keyring,
}

fn resolve_pin(b: &Pkcs11Binding) -> VaultResult<(Zeroizing<String>, PinSource)> {
    if let Ok(v) = std::env::var(ENV_PIN) {
        let v = Zeroizing::new(v);
        if !v.is_empty() {
            return Ok((v, PinSource::Env));
        }
    }
    if MasterKeyOptions::from_env()?.use_keyring {
        if let Some(cache) = KeyringCache::open() {
            if let Some(bytes) = cache.get(&pin_cache_id(b)) {
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    return Ok((Zeroizing::new(s.to_string()), PinSource::Keyring));
                }
            }
        }
    }
    Err(VaultError::Authentication(format!(
        "no user PIN for token '{}': set {ENV_PIN} (a PIN that logs in is then cached in the \
         OS keyring)",
        b.token_label
    )))
}

/// A logged-in read-write session on a vault's token, taken from the process's pool and given
/// back when dropped: one login per token per process, not one per operation.
pub(crate) struct TokenSession {
    session: Option<Session>,
    binding: Pkcs11Binding,
    pool_key: (PathBuf, String),
}

/// Idle logged-in sessions by (canonical module path, token label).
type SessionPool = Mutex<HashMap<(PathBuf, String), Vec<Session>>>;

fn sessions() -> &'static SessionPool {
    static S: OnceLock<SessionPool> = OnceLock::new();
    S.get_or_init(|| Mutex::new(HashMap::new()))
}

/// At most this many idle sessions are kept per token (concurrent threads each take one).
const MAX_IDLE_SESSIONS: usize = 4;

impl Drop for TokenSession {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if let Ok(mut pool) = sessions().lock() {
                let idle = pool.entry(self.pool_key.clone()).or_default();
                if idle.len() < MAX_IDLE_SESSIONS {
                    idle.push(s);
                }
            }
        }
    }
}

fn unavailable(b: &Pkcs11Binding, what: &str, e: &CkError) -> VaultError {
    VaultError::Unavailable(format!(
        "token '{}' (module {}): {what} failed: {e}",
        b.token_label,
        b.module.display()
    ))
}

/// Log `session` in as the user with the token's PIN (`UserAlreadyLoggedIn` is fine).
fn login(b: &Pkcs11Binding, session: &Session) -> VaultResult<()> {
    let (pin, source) = resolve_pin(b)?;
    let auth = AuthPin::new(pin.as_str().into());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(VaultError::Authentication(format!(
                "the user PIN of token '{}' is locked (too many wrong PINs); the security \
                 officer must reset it",
                b.token_label
            )))
        }
        Err(CkError::Pkcs11(
            RvError::PinIncorrect
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::PinExpired,
            _,
        )) => {
            if source == PinSource::Keyring {
                if let Some(c) = KeyringCache::open() {
                    c.delete(&pin_cache_id(b));
                }
            }
            return Err(VaultError::Authentication(format!(
                "the user PIN for token '{}' is wrong (from {})",
                b.token_label,
                match source {
                    PinSource::Env => ENV_PIN,
                    PinSource::Keyring => "the OS keyring cache, now cleared",
                }
            )));
        }
        Err(e) => return Err(unavailable(b, "C_Login", &e)),
    }
    if source == PinSource::Env && MasterKeyOptions::from_env()?.use_keyring {
        if let Some(c) = KeyringCache::open() {
            c.set(&pin_cache_id(b), pin.as_bytes());
        }
    }
    Ok(())
}

impl TokenSession {
    /// Load the module, find the token by label, open a session and log in as the user.
    pub(crate) fn open(b: &Pkcs11Binding) -> VaultResult<Self> {
        let m = module(&b.module)?;
        let canonical = std::fs::canonicalize(&b.module).unwrap_or_else(|_| b.module.clone());
        let pool_key = (canonical, b.token_label.clone());
        // A pooled session is reused while the token still knows it: C_GetSessionInfo fails on
        // a closed session or a removed token (then a new one is opened), and a session whose
        // login was lost (CKR_USER_NOT_LOGGED_IN, another application logged out) logs in again.
        loop {
            let idle = sessions()
                .lock()
                .ok()
                .and_then(|mut p| p.get_mut(&pool_key).and_then(Vec::pop));
            let Some(session) = idle else { break };
            match session.get_session_info().map(|i| i.session_state()) {
                Ok(SessionState::RwUser) => {
                    return Ok(TokenSession {
                        session: Some(session),
                        binding: b.clone(),
                        pool_key,
                    })
                }
                Ok(_) => {
                    login(b, &session)?;
                    return Ok(TokenSession {
                        session: Some(session),
                        binding: b.clone(),
                        pool_key,
                    });
                }
                Err(_) => continue,
            }
        }
        let slots = m
            .get_slots_with_token()
            .map_err(|e| unavailable(b, "C_GetSlotList", &e))?;
        let slot = slots
            .into_iter()
            .find(|s| {
                m.get_token_info(*s)
                    .is_ok_and(|t| t.label().trim_end() == b.token_label)
            })
            .ok_or_else(|| {
                VaultError::Unavailable(format!(
                    "token '{}' is not present in module {} (removed, or never initialized)",
                    b.token_label,
                    b.module.display()
                ))
            })?;
        let session = m
            .open_rw_session(slot)
            .map_err(|e| unavailable(b, "C_OpenSession", &e))?;
        login(b, &session)?;
        Ok(TokenSession {
            session: Some(session),
            binding: b.clone(),
            pool_key,
        })
    }

    /// The session (present until drop; taken only by `Drop`).
    fn s(&self) -> VaultResult<&Session> {
        self.session.as_ref().ok_or_else(|| {
            VaultError::Unavailable(format!(
                "the session with token '{}' was already closed",
                self.binding.token_label
            ))
        })
    }

    fn find(&self, class: ObjectClass, id: &[u8]) -> VaultResult<Option<ObjectHandle>> {
        let found = self
            .s()?
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(|e| unavailable(&self.binding, "C_FindObjects", &e))?;
        Ok(found.into_iter().next())
    }

    fn object(&self, class: ObjectClass, key: &TokenKeyRef) -> VaultResult<ObjectHandle> {
        let id = hex::decode(&key.id).map_err(|_| {
            VaultError::Unavailable(format!(
                "the vault's reference to token object '{}' is damaged",
                key.label
            ))
        })?;
        self.find(class, &id)?.ok_or_else(|| {
            VaultError::Unavailable(format!(
                "the {} object '{}' (CKA_ID {}) is missing from token '{}'",
                if class == ObjectClass::PRIVATE_KEY {
                    "private key"
                } else {
                    "public key"
                },
                key.label,
                key.id,
                self.binding.token_label
            ))
        })
    }
}

fn oaep(alg: OaepAlg) -> Mechanism<'static> {
    let params = match alg {
        OaepAlg::RsaOaep256 => PkcsOaepParams::new(
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::empty(),
        ),
        OaepAlg::RsaOaep => PkcsOaepParams::new(
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        ),
    };
    Mechanism::RsaPkcsOaep(params)
}

/// The token refused the OAEP parameters (hash or MGF it does not implement).
fn params_refused(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::ArgumentsBad | RvError::MechanismParamInvalid | RvError::MechanismInvalid,
            _
        )
    )
}

fn function_refused(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::KeyFunctionNotPermitted | RvError::KeyTypeInconsistent,
            _
        )
    )
}

/// Errors that mean the token or session went away rather than the input being wrong.
fn system_failure(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::DeviceRemoved
                | RvError::HostMemory
                | RvError::SessionClosed
                | RvError::SessionHandleInvalid
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn
                | RvError::FunctionFailed,
            _
        ) | CkError::LibraryLoading(_)
            | CkError::NullFunctionPointer
            | CkError::MissingSymbol(_)
    )
}

/// Which OAEP variants a module+token does, found by trying (cached per process).
fn oaep256_cache() -> &'static Mutex<HashMap<(PathBuf, String), bool>> {
    static C: OnceLock<Mutex<HashMap<(PathBuf, String), bool>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

// ---------------------------------------------------------------------------------------------
// Token operations used by the vault engine

/// Check that a binding works: module loads, token present, PIN logs in.
pub(crate) fn check_binding(b: &Pkcs11Binding) -> VaultResult<()> {
    TokenSession::open(b).map(|_| ())
}

/// A new RSA key pair on the token for `vault/key/version`. Returns the public key (SPKI DER)
/// and the reference to keep in the sidecar.
pub(crate) fn generate(
    b: &Pkcs11Binding,
    vault: &str,
    key: &str,
    version: &str,
    bits: usize,
    wrappable: bool,
) -> VaultResult<(Vec<u8>, TokenKeyRef)> {
    let id = hex::decode(version)
        .map_err(|_| VaultError::Invalid(format!("'{version}' is not a version id")))?;
    let id_hex = hex::encode(&id);
    let label = object_label(vault, key, version);
    let t = TokenSession::open(b)?;
    let bits_u64 = u64::try_from(bits)
        .map_err(|_| VaultError::Invalid(format!("{bits} is not a key size")))?;
    let public = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::ModulusBits(bits_u64.into()),
        Attribute::PublicExponent(vec![1, 0, 1]),
        Attribute::Encrypt(true),
        Attribute::Wrap(true),
        Attribute::Verify(false),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(wrappable),
        Attribute::Decrypt(true),
        Attribute::Unwrap(true),
        Attribute::Sign(false),
        Attribute::Id(id),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let (pubk, privk) = t
        .s()?
        .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .map_err(|e| {
            if system_failure(&e) {
                unavailable(b, "C_GenerateKeyPair", &e)
            } else {
                VaultError::Invalid(format!(
                    "token '{}' cannot generate an RSA-{bits} key pair: {e}",
                    b.token_label
                ))
            }
        })?;
    let read = t.s()?.get_attributes(
        pubk,
        &[AttributeType::Modulus, AttributeType::PublicExponent],
    );
    let (mut n, mut e) = (Vec::new(), Vec::new());
    match read {
        Ok(attrs) => {
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => n = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
        }
        Err(err) => {
            let _ = t.s().map(|s| s.destroy_object(pubk));
            let _ = t.s().map(|s| s.destroy_object(privk));
            return Err(unavailable(b, "C_GetAttributeValue", &err));
        }
    }
    if n.is_empty() || e.is_empty() {
        let _ = t.s().map(|s| s.destroy_object(pubk));
        let _ = t.s().map(|s| s.destroy_object(privk));
        return Err(VaultError::Unavailable(format!(
            "token '{}' did not return the new public key",
            b.token_label
        )));
    }
    let der = match crate::crypto::RsaPublicKey::from_components(&n, &e) {
        Ok(k) => k.to_der(),
        Err(err) => {
            let _ = t.s().map(|s| s.destroy_object(pubk));
            let _ = t.s().map(|s| s.destroy_object(privk));
            return Err(VaultError::Unavailable(format!(
                "token '{}' returned an unusable public key: {err:?}",
                b.token_label
            )));
        }
    };
    Ok((
        der,
        TokenKeyRef {
            id: id_hex,
            label,
            pinned: false,
        },
    ))
}

/// RSA-OAEP encrypt `data` with the version's public-key object. Asked for RSA-OAEP-256 on a
/// token without SHA-256 OAEP, uses RSA-OAEP; returns the algorithm used.
pub(crate) fn wrap(
    b: &Pkcs11Binding,
    key: &TokenKeyRef,
    alg: OaepAlg,
    data: &[u8],
) -> VaultResult<(OaepAlg, Vec<u8>)> {
    let t = TokenSession::open(b)?;
    let h = t.object(ObjectClass::PUBLIC_KEY, key)?;
    let cache_key = (b.module.clone(), b.token_label.clone());
    let known = oaep256_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(&cache_key).copied());
    let mut use_alg = alg;
    if alg == OaepAlg::RsaOaep256 && known == Some(false) {
        use_alg = OaepAlg::RsaOaep;
    }
    let map = |e: CkError| {
        if system_failure(&e) {
            unavailable(b, "C_Encrypt", &e)
        } else if function_refused(&e) {
            VaultError::AccessDenied(format!(
                "the public key object '{}' on token '{}' does not permit encryption",
                key.label, b.token_label
            ))
        } else {
            VaultError::Invalid(format!("cannot wrap with token key '{}': {e}", key.label))
        }
    };
    match t.s()?.encrypt(&oaep(use_alg), h, data) {
        Ok(v) => {
            if use_alg == OaepAlg::RsaOaep256 {
                if let Ok(mut c) = oaep256_cache().lock() {
                    c.insert(cache_key, true);
                }
            }
            Ok((use_alg, v))
        }
        Err(e) if use_alg == OaepAlg::RsaOaep256 && params_refused(&e) => {
            if let Ok(mut c) = oaep256_cache().lock() {
                c.insert(cache_key, false);
            }
            let v = t
                .s()?
                .encrypt(&oaep(OaepAlg::RsaOaep), h, data)
                .map_err(map)?;
            Ok((OaepAlg::RsaOaep, v))
        }
        Err(e) => Err(map(e)),
    }
}

/// RSA-OAEP decrypt on the token with the version's private-key object.
pub(crate) fn unwrap(
    b: &Pkcs11Binding,
    key: &TokenKeyRef,
    alg: OaepAlg,
    wrapped: &[u8],
    key_bits: usize,
) -> VaultResult<Zeroizing<Vec<u8>>> {
    let not_unwrapping = || {
        VaultError::Invalid(format!(
            "the wrapped key does not unwrap with token key '{}' ({}): wrong key, version or \
             algorithm, or damaged",
            key.label,
            alg.as_str()
        ))
    };
    if wrapped.len() != key_bits.div_ceil(8) {
        return Err(not_unwrapping());
    }
    let t = TokenSession::open(b)?;
    let h = t.object(ObjectClass::PRIVATE_KEY, key)?;
    match t.s()?.decrypt(&oaep(alg), h, wrapped) {
        Ok(v) => Ok(Zeroizing::new(v)),
        Err(e) if system_failure(&e) => Err(unavailable(b, "C_Decrypt", &e)),
        Err(e) if function_refused(&e) => Err(VaultError::AccessDenied(format!(
            "the private key object '{}' on token '{}' does not permit decryption (CKA_DECRYPT \
             is false)",
            key.label, b.token_label
        ))),
        Err(e) if params_refused(&e) => Err(VaultError::Invalid(format!(
            "token '{}' does not do {} (its module refused the OAEP parameters: {e}); keys \
             wrapped on this token record the algorithm it used",
            b.token_label,
            alg.as_str()
        ))),
        Err(_) => Err(not_unwrapping()),
    }
}

/// A session AES-256 key object (`CKA_TOKEN` false, gone with the session) holding `kek`, for
/// CKM_AES_KEY_WRAP_PAD.
fn session_kek(t: &TokenSession, kek: &[u8; 32]) -> VaultResult<ObjectHandle> {
    let mut template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Value(kek.to_vec()),
    ];
    let r = t.s().and_then(|s| {
        s.create_object(&template)
            .map_err(|e| unavailable(&t.binding, "C_CreateObject (session AES key)", &e))
    });
    // The key bytes given to the module are not left behind in this process.
    for a in template.iter_mut() {
        if let Attribute::Value(v) = a {
            zeroize::Zeroize::zeroize(v);
        }
    }
    r
}

/// C_WrapKey of a version's private key under a session key holding `kek`
/// (CKM_AES_KEY_WRAP_PAD: the token's PKCS#8 encoding, RFC 5649-wrapped).
pub(crate) fn export_wrapped(
    b: &Pkcs11Binding,
    key: &TokenKeyRef,
    kek: &[u8; 32],
) -> VaultResult<Vec<u8>> {
    let t = TokenSession::open(b)?;
    let private = t.object(ObjectClass::PRIVATE_KEY, key)?;
    let wrapping = session_kek(&t, kek)?;
    let r = t
        .s()?
        .wrap_key(&Mechanism::AesKeyWrapPad, wrapping, private);
    let _ = t.s().map(|s| s.destroy_object(wrapping));
    r.map_err(|e| {
        if system_failure(&e) {
            unavailable(b, "C_WrapKey", &e)
        } else {
            VaultError::AccessDenied(format!(
                "the private key object '{}' on token '{}' cannot be wrapped ({e}): it was made \
                 not extractable (keys made before security domains were wrappable stay on the \
                 token; make a new key version to back up)",
                key.label, b.token_label
            ))
        }
    })
}

/// C_UnwrapKey of a private key [`export_wrapped`] made, as the private-key object of
/// `vault/key/version`, and C_CreateObject of its public key from `public_der`.
pub(crate) fn import_wrapped(
    b: &Pkcs11Binding,
    vault: &str,
    key: &str,
    version: &str,
    public_der: &[u8],
    kek: &[u8; 32],
    wrapped: &[u8],
) -> VaultResult<TokenKeyRef> {
    let id = hex::decode(version)
        .map_err(|_| VaultError::Invalid(format!("'{version}' is not a version id")))?;
    let label = object_label(vault, key, version);
    let public = crate::crypto::RsaPublicKey::from_der(public_der)
        .map_err(|_| VaultError::Invalid("the backup's public key is not an RSA key".into()))?;
    let t = TokenSession::open(b)?;
    if t.find(ObjectClass::PRIVATE_KEY, &id)?.is_some() {
        return Err(VaultError::Invalid(format!(
            "token '{}' already holds objects with CKA_ID {version}",
            b.token_label
        )));
    }
    let unwrapping = session_kek(&t, kek)?;
    let template = [
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::Decrypt(true),
        Attribute::Unwrap(true),
        Attribute::Sign(false),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let r = t
        .s()?
        .unwrap_key(&Mechanism::AesKeyWrapPad, unwrapping, wrapped, &template);
    let _ = t.s().map(|s| s.destroy_object(unwrapping));
    let privk = r.map_err(|e| {
        if system_failure(&e) {
            unavailable(b, "C_UnwrapKey", &e)
        } else {
            VaultError::Invalid(format!(
                "the backup's key does not unwrap on token '{}' ({e}): it was wrapped under \
                 another security domain, or it is damaged",
                b.token_label
            ))
        }
    })?;
    let pubk = t.s()?.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Modulus(public.modulus_be()),
        Attribute::PublicExponent(public.exponent_be()),
        Attribute::Encrypt(true),
        Attribute::Wrap(true),
        Attribute::Verify(false),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]);
    match pubk {
        Ok(_) => Ok(TokenKeyRef {
            id: hex::encode(&id),
            label,
            pinned: false,
        }),
        Err(e) => {
            let _ = t.s().map(|s| s.destroy_object(privk));
            Err(unavailable(b, "C_CreateObject (public key)", &e))
        }
    }
}

/// Whether both objects of a key version are on the token.
pub(crate) fn objects_present(b: &Pkcs11Binding, key: &TokenKeyRef) -> VaultResult<bool> {
    let t = TokenSession::open(b)?;
    let Ok(id) = hex::decode(&key.id) else {
        return Ok(false);
    };
    Ok(t.find(ObjectClass::PUBLIC_KEY, &id)?.is_some()
        && t.find(ObjectClass::PRIVATE_KEY, &id)?.is_some())
}

/// Destroy a key version's objects (both; missing ones are fine).
pub(crate) fn destroy(b: &Pkcs11Binding, key: &TokenKeyRef) -> VaultResult<()> {
    let t = TokenSession::open(b)?;
    let Ok(id) = hex::decode(&key.id) else {
        return Ok(());
    };
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        while let Some(h) = t.find(class, &id)? {
            t.s()?
                .destroy_object(h)
                .map_err(|e| unavailable(b, "C_DestroyObject", &e))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// RFC 7512 URIs

/// A `pkcs11:` URI naming a key (RFC 7512): `token=` is required, then `object=` (a key name,
/// or a full `custkey:<vault>/<key>/<version>` label) and/or `id=` (the percent-encoded
/// `CKA_ID`, i.e. a version). `pin-value`/`pin-source` are refused: the PIN never comes from a
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`
    pub token: String,
    /// `object=`
    pub object: Option<String>,
    /// `id=`, decoded.
    pub id: Option<Vec<u8>>,
    /// `type=` if given (`private`, `public`, ...).
    pub object_type: Option<String>,
}

fn pct_decode(s: &str) -> VaultResult<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    VaultError::Invalid(format!(
                        "bad percent-encoding in pkcs11: URI component '{}'",
                        printable(s)
                    ))
                })?;
            out.push(h);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl Pkcs11Uri {
    /// Whether `s` is a `pkcs11:` URI (scheme case-insensitive).
    pub fn is_pkcs11_uri(s: &str) -> bool {
        s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parse a `pkcs11:` URI.
    pub fn parse(s: &str) -> VaultResult<Self> {
        // The query is never echoed: it could hold a PIN.
        let shown = s.split('?').next().unwrap_or_default();
        let bad = |why: &str| {
            VaultError::Invalid(format!(
                "'{}' is not a usable pkcs11: URI ({why})",
                printable(shown)
            ))
        };
        if !Self::is_pkcs11_uri(s) {
            return Err(bad("it must start with pkcs11:"));
        }
        let rest = &s[7..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, q),
            None => (rest, ""),
        };
        let mut uri = Pkcs11Uri {
            token: String::new(),
            object: None,
            id: None,
            object_type: None,
        };
        let mut token = None;
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad("each attribute is name=value"))?;
            let text = |v: &str| -> VaultResult<String> {
                String::from_utf8(pct_decode(v)?).map_err(|_| bad("a value is not UTF-8"))
            };
            match k.to_ascii_lowercase().as_str() {
                "token" => token = Some(text(v)?),
                "object" => uri.object = Some(text(v)?),
                "id" => uri.id = Some(pct_decode(v)?),
                "type" => uri.object_type = Some(text(v)?),
                // Other path attributes (manufacturer, model, serial, library-*, slot-*) narrow
                // the token; the label is what a vault binding names, so they are accepted and
                // not used.
                "manufacturer"
                | "model"
                | "serial"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer"
                | "slot-id" => {}
                other => return Err(bad(&format!("unknown attribute '{}'", printable(other)))),
            }
        }
        for q in query.split('&').filter(|a| !a.is_empty()) {
            let k = q.split_once('=').map_or(q, |(k, _)| k);
            if k.eq_ignore_ascii_case("pin-value") || k.eq_ignore_ascii_case("pin-source") {
                return Err(bad(&format!(
                    "a PIN is never taken from a URI or command line; set {ENV_PIN} or use the \
                     keyring cache"
                )));
            }
            if !k.eq_ignore_ascii_case("module-path") && !k.eq_ignore_ascii_case("module-name") {
                return Err(bad(&format!("unknown query attribute '{}'", printable(k))));
            }
        }
        uri.token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("token= is required"))?;
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad("object= or id= is required"));
        }
        Ok(uri)
    }

    /// The key name and version this URI names inside a vault (`version` from `id=` or from a
    /// full `custkey:` label).
    pub(crate) fn key_and_version(&self) -> VaultResult<(Option<String>, Option<String>)> {
        let mut name = None;
        let mut version = self.id.as_ref().map(hex::encode);
        if let Some(o) = &self.object {
            if let Some(l) = o.strip_prefix(LABEL_PREFIX) {
                let parts: Vec<&str> = l.split('/').collect();
                let [_, k, v] = parts.as_slice() else {
                    return Err(VaultError::Invalid(format!(
                        "object label '{}' is not custkey:<vault>/<key>/<version>",
                        printable(o)
                    )));
                };
                name = Some((*k).to_string());
                version = Some((*v).to_string());
            } else {
                name = Some(o.clone());
            }
        }
        Ok((name, version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binding a vault file records keeps the JSON shape sidecars have always had, so
    /// vaults bound before the key-holder seam still open, and a binding no holder reads is a
    /// clear system error rather than a local vault.
    #[test]
    fn holder_binding_keeps_the_sidecar_shape() {
        let b = Pkcs11Binding::new(Path::new("/usr/lib/softhsm/libsofthsm2.so"), "ck1")
            .expect("binding");
        let json = serde_json::to_string(&b.holder()).expect("json");
        assert_eq!(
            json,
            r#"{"module":"/usr/lib/softhsm/libsofthsm2.so","tokenLabel":"ck1"}"#
        );
        let old: HolderBinding = serde_json::from_str(&json).expect("parse");
        assert_eq!(Pkcs11Binding::from_holder(&old), Some(b.clone()));
        let h = TokenHolders.open(&old).expect("holder");
        assert_eq!(h.backend(), BACKEND);
        assert_eq!(h.describe(), "PKCS#11 token 'ck1'");
        assert_eq!(h.binding(), old);
        let strange = HolderBinding(serde_json::json!({"kmipServer": "x"}));
        let e = TokenHolders.open(&strange).expect_err("unknown holder");
        assert_eq!(e.class(), super::super::ErrorClass::Unavailable);
        assert!(e.message().contains("does not know"), "{}", e.message());
    }

    /// A held key reference keeps the field names sidecars have always used.
    #[test]
    fn held_key_ref_keeps_the_sidecar_shape() {
        let old = r#"{"id":"00ff","label":"custkey:v/k/00ff"}"#;
        let r: TokenKeyRef = serde_json::from_str(old).expect("parse");
        assert!(!r.pinned);
        let pinned = TokenKeyRef { pinned: true, ..r };
        assert_eq!(
            serde_json::to_string(&pinned).expect("json"),
            r#"{"id":"00ff","label":"custkey:v/k/00ff","pinned":true}"#
        );
    }

    #[test]
    fn uri_parses_token_object_and_id() {
        let u = Pkcs11Uri::parse("pkcs11:token=ck%201;object=root;id=%01%ab?module-path=/x.so")
            .expect("parse");
        assert_eq!(u.token, "ck 1");
        assert_eq!(u.object.as_deref(), Some("root"));
        assert_eq!(u.id, Some(vec![0x01, 0xab]));
        let (n, v) = u.key_and_version().expect("names");
        assert_eq!(n.as_deref(), Some("root"));
        assert_eq!(v.as_deref(), Some("01ab"));
    }

    #[test]
    fn uri_with_full_label() {
        let u = Pkcs11Uri::parse(
            "PKCS11:token=ck1;object=custkey:v1/root/0123456789abcdef0123456789abcdef;type=private",
        )
        .expect("parse");
        let (n, v) = u.key_and_version().expect("names");
        assert_eq!(n.as_deref(), Some("root"));
        assert_eq!(v.as_deref(), Some("0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn uri_refusals() {
        for bad in [
            "pkcs11:object=root",
            "pkcs11:token=ck1",
            "pkcs11:token=ck1;object=root?pin-value=1234",
            "pkcs11:token=ck1;object=root?pin-source=file:/p",
            "pkcs11:token=ck1;id=%zz",
            "pkcs11:token=ck1;bogus=1;object=x",
            "https://v.vault.azure.net/keys/k",
            "pkcs11:token=ck1;object=custkey:a/b",
        ] {
            let r = Pkcs11Uri::parse(bad).and_then(|u| u.key_and_version().map(|_| u));
            let e = r.expect_err(bad);
            assert_eq!(e.class(), super::super::ErrorClass::Invalid, "{bad}: {e}");
        }
        let e = Pkcs11Uri::parse("pkcs11:token=ck1;object=r?pin-value=1234").expect_err("pin");
        assert!(!e.message().contains("1234"), "the PIN is not echoed: {e}");
    }

    #[test]
    fn binding_validation() {
        assert!(Pkcs11Binding::new(Path::new("/usr/lib/x.so"), "ck1").is_ok());
        assert!(Pkcs11Binding::new(Path::new("x.so"), "ck1").is_err());
        assert!(Pkcs11Binding::new(Path::new("/x.so"), "").is_err());
        assert!(Pkcs11Binding::new(Path::new("/x.so"), &"a".repeat(33)).is_err());
        assert!(Pkcs11Binding::new(Path::new("/x.so"), " ck").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(
            object_label("Vault-A", "Root", "00ff"),
            "custkey:vault-a/root/00ff"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A master key wrapped by a token key (CUSTKEY_MASTER_PKCS11)

/// Env var: the `pkcs11:` URI of an AES key on a token that wraps the master keys, with its
/// module as `?module-path=`. The token's PIN comes from `CUSTKEY_PKCS11_PIN` (or the keyring).
pub const ENV_MASTER_PKCS11: &str = "CUSTKEY_MASTER_PKCS11";

/// An AES key on a token that wraps a master key (AES-256-GCM on the token: the key never
/// leaves it, the wrapped master key is kept in the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterWrapKey {
    binding: Pkcs11Binding,
    label: String,
    id: Option<Vec<u8>>,
}

const GCM_IV_LEN: usize = 12;
const GCM_TAG_BITS: u64 = 128;

impl MasterWrapKey {
    /// From `pkcs11:token=<label>;object=<key label>[;id=..][;type=secret-key]?module-path=<.so>`.
    /// The PIN is never part of the URI.
    pub fn parse(s: &str) -> VaultResult<Self> {
        let uri = Pkcs11Uri::parse(s)?;
        let shown = s.split('?').next().unwrap_or_default();
        let bad = |why: &str| {
            VaultError::Invalid(format!(
                "{ENV_MASTER_PKCS11} '{}' is not usable: {why}",
                printable(shown)
            ))
        };
        if uri
            .object_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("secret-key"))
        {
            return Err(bad("it must name an AES key (type=secret-key)"));
        }
        let label = uri
            .object
            .clone()
            .ok_or_else(|| bad("object=<the AES key's label> is required"))?;
        let query = s.split_once('?').map_or("", |(_, q)| q);
        let module = query
            .split('&')
            .filter_map(|q| q.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("module-path"))
            .map(|(_, v)| pct_decode(v))
            .transpose()?
            .ok_or_else(|| bad("?module-path=<the PKCS#11 module> is required"))?;
        let module = PathBuf::from(
            String::from_utf8(module).map_err(|_| bad("the module path is not UTF-8"))?,
        );
        Ok(MasterWrapKey {
            binding: Pkcs11Binding::new(&module, &uri.token)?,
            label,
            id: uri.id,
        })
    }

    /// The URI as recorded in a header (no PIN is ever part of it).
    pub fn uri(&self) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let mut u = format!(
            "pkcs11:token={};object={};type=secret-key",
            enc(&self.binding.token_label),
            enc(&self.label)
        );
        if let Some(id) = &self.id {
            u.push_str(";id=");
            for b in id {
                u.push_str(&format!("%{b:02X}"));
            }
        }
        u.push_str("?module-path=");
        u.push_str(&enc(&self.binding.module.display().to_string()));
        u
    }

    fn key(&self, t: &TokenSession) -> VaultResult<ObjectHandle> {
        let mut attrs = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(self.label.as_bytes().to_vec()),
        ];
        if let Some(id) = &self.id {
            attrs.push(Attribute::Id(id.clone()));
        }
        let found = t
            .s()?
            .find_objects(&attrs)
            .map_err(|e| unavailable(&self.binding, "C_FindObjects", &e))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(VaultError::Unavailable(format!(
                "token '{}' has no secret key labelled '{}' ({ENV_MASTER_PKCS11})",
                self.binding.token_label,
                printable(&self.label)
            ))),
            _ => Err(VaultError::Invalid(format!(
                "token '{}' has several secret keys labelled '{}': add id= to {ENV_MASTER_PKCS11}",
                self.binding.token_label,
                printable(&self.label)
            ))),
        }
    }

    /// Seals `plain` on the token: `iv || ciphertext || tag`.
    pub fn wrap(&self, plain: &[u8], aad: &[u8]) -> VaultResult<Vec<u8>> {
        let t = TokenSession::open(&self.binding)?;
        let key = self.key(&t)?;
        let mut iv = [0u8; GCM_IV_LEN];
        crate::crypto::random_bytes(&mut iv);
        let mut iv_param = iv;
        let params =
            cryptoki::mechanism::aead::GcmParams::new(&mut iv_param, aad, GCM_TAG_BITS.into())
                .map_err(|e| unavailable(&self.binding, "AES-GCM parameters", &e))?;
        let ct = t
            .s()?
            .encrypt(&Mechanism::AesGcm(params), key, plain)
            .map_err(|e| unavailable(&self.binding, "C_Encrypt (AES-GCM)", &e))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`MasterWrapKey::wrap`] sealed; a wrong key or altered bytes are an
    /// `Authentication` error.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> VaultResult<Zeroizing<Vec<u8>>> {
        if wrapped.len() < GCM_IV_LEN + 16 {
            return Err(VaultError::Unavailable(
                "the token-wrapped master key in the header is truncated".into(),
            ));
        }
        let t = TokenSession::open(&self.binding)?;
        let key = self.key(&t)?;
        let mut iv = [0u8; GCM_IV_LEN];
        iv.copy_from_slice(&wrapped[..GCM_IV_LEN]);
        let params = cryptoki::mechanism::aead::GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())
            .map_err(|e| unavailable(&self.binding, "AES-GCM parameters", &e))?;
        match t
            .s()?
            .decrypt(&Mechanism::AesGcm(params), key, &wrapped[GCM_IV_LEN..])
        {
            Ok(p) => Ok(Zeroizing::new(p)),
            // A failed GCM tag check: SoftHSM2 reports it as a general error, others as
            // invalid encrypted data. The session and the key were just found working.
            Err(CkError::Pkcs11(
                rv @ (RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError
                | RvError::FunctionFailed),
                _,
            )) => Err(VaultError::Authentication(format!(
                "the key '{}' on token '{}' does not open this data directory's wrapped master \
                 key (another key, or the header was altered; the token said {rv})",
                printable(&self.label),
                self.binding.token_label
            ))),
            Err(e) => Err(unavailable(&self.binding, "C_Decrypt (AES-GCM)", &e)),
        }
    }
}
