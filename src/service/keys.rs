//! The service's keys: the service master key, availability keys, and the DEP-key unwrap
//! path with its fallback rule and audit.
//!
//! Unwrapping a DEP key follows the documented order: the customer keys in random order; the
//! availability key only when every customer key failed with a system error (vault
//! unreachable). A deliberate refusal (access denied, disabled, expired, missing) fails a
//! user request with an error naming the keys; a service action may still use the
//! availability key. Every availability-key use of a customer DEP is audited. Unwrapped DEP
//! keys are cached for the life of the process, so bulk work costs one RSA unwrap per DEP.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use super::{Error, ErrorKind, Result};
use crate::crypto::{
    open, random_bytes, seal, AvailabilityKey, DepBinding, DepKey, KeyRef, OaepAlg, SecretKey32,
    WrappedKey,
};
use crate::store::{AuditRow, DepRow, RootWrapRow, Store, Tx};
use crate::vault::{
    fsio, LocalBackend, Pkcs11Provider, Principal, VaultError, VaultRegistry,
    EXCHANGE_ONLINE_APP_ID, M365_DATA_AT_REST_APP_ID,
};

/// Env var holding the service master key (64 hex digits); else `<data dir>/service.key`.
pub const ENV_SERVICE_KEY: &str = "CUSTKEY_SERVICE_KEY";
const CHECK_SETTING: &str = "service.master.check";
const CHECK_TEXT: &[u8] = b"custkey service master key";

/// Who asks for a DEP key: a user request may not fall back on a customer's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    User,
    Service,
}

/// How a DEP key was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwrapped {
    Customer {
        key_uri: String,
        version: String,
    },
    Availability,
    /// Unwrapped earlier in this process.
    Cached,
}

fn dup(k: &DepKey) -> DepKey {
    DepKey::from_secret(k.to_secret(), k.key_ref())
}

pub struct ServiceKeys {
    master: SecretKey32,
    pub vaults: VaultRegistry,
    pub exchange: Principal,
    /// The multi-workload service principal (M365DataAtRestEncryption).
    pub m365: Principal,
    cache: HashMap<String, DepKey>,
}

fn hex_key(s: &str) -> Option<SecretKey32> {
    let b = hex::decode(s.trim()).ok()?;
    SecretKey32::from_slice(&b).ok()
}

fn unavailable(msg: String) -> Error {
    Error::new(ErrorKind::Unavailable, msg)
}

/// The service master key: `CUSTKEY_SERVICE_KEY`, else the key file (created 0600 on first use).
fn master_key(data_dir: &Path) -> Result<SecretKey32> {
    if let Ok(v) = std::env::var(ENV_SERVICE_KEY) {
        if !v.is_empty() {
            return hex_key(&v).ok_or_else(|| {
                Error::new(ErrorKind::Authentication, format!("{ENV_SERVICE_KEY} is not 64 hex digits"))
                    .with_help("set it to the service master key as 64 hexadecimal digits, or unset it to use service.key")
            });
        }
    }
    let path = data_dir.join("service.key");
    match std::fs::read_to_string(&path) {
        Ok(s) => hex_key(&s).ok_or_else(|| {
            Error::new(ErrorKind::Authentication, format!("{} does not hold a 64-hex-digit key", path.display()))
                .with_help("restore the service key file from its backup; the store's keys are sealed under it")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey32::generate();
            let text = zeroize::Zeroizing::new(format!("{}\n", hex::encode(key.expose())));
            fsio::ensure_private_dir(data_dir)?;
            fsio::write_atomic(&path, text.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(unavailable(format!("cannot read {}: {e}", path.display()))),
    }
}

impl ServiceKeys {
    /// Opens the service's keys for the data directory, checking the master key against the
    /// store (the first use records a check value).
    pub fn open(data_dir: &Path, store: &mut Store, backend: LocalBackend) -> Result<ServiceKeys> {
        let master = master_key(data_dir)?;
        let check = store.read(|tx| -> Result<_> { Ok(tx.setting(CHECK_SETTING)?) })?;
        match check {
            Some(c) => {
                let sealed = hex::decode(c).unwrap_or_default();
                let ok = open(&master, b"custkey/service-master-check/v1", &sealed)
                    .is_ok_and(|pt| pt.as_slice() == CHECK_TEXT);
                if !ok {
                    return Err(Error::new(
                        ErrorKind::Authentication,
                        "the service master key does not match the one this store was created with",
                    )
                    .with_help(format!(
                        "give the right key with {ENV_SERVICE_KEY} or restore service.key beside the store"
                    )));
                }
            }
            None => {
                let sealed = seal(&master, b"custkey/service-master-check/v1", CHECK_TEXT)?;
                store.write(|tx| -> Result<()> {
                    if tx.setting(CHECK_SETTING)?.is_none() {
                        tx.set_setting(CHECK_SETTING, &hex::encode(&sealed))?;
                    }
                    Ok(())
                })?;
            }
        }
        let mut vaults = VaultRegistry::new();
        // Local vaults, then the vaults of the same directory bound to a PKCS#11 token.
        let hsm = Pkcs11Provider::new(backend.clone());
        vaults.add_provider(std::sync::Arc::new(backend));
        vaults.add_provider(std::sync::Arc::new(hsm));
        Ok(ServiceKeys {
            master,
            vaults,
            exchange: Principal::service_principal(EXCHANGE_ONLINE_APP_ID)?,
            m365: Principal::service_principal(M365_DATA_AT_REST_APP_ID)?,
            cache: HashMap::new(),
        })
    }

    fn availability_aad(dep_guid: &str) -> Vec<u8> {
        format!("custkey/availability-key/v1|{dep_guid}").into_bytes()
    }

    /// A new availability key, and its sealed form for the store.
    pub fn new_availability_key(&self, dep_guid: &str) -> Result<(AvailabilityKey, Vec<u8>)> {
        let key = AvailabilityKey::generate(KeyRef::new_random());
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(52));
        plain.extend_from_slice(key.to_secret().expose());
        plain.extend_from_slice(&key.key_ref().to_bytes());
        let sealed = seal(&self.master, &Self::availability_aad(dep_guid), &plain)?;
        Ok((key, sealed))
    }

    fn open_availability_key(&self, dep_guid: &str, sealed: &[u8]) -> Result<AvailabilityKey> {
        let plain = open(&self.master, &Self::availability_aad(dep_guid), sealed).map_err(|_| {
            Error::new(ErrorKind::Authentication, format!("the availability key of DEP {dep_guid} does not open under the service master key"))
                .with_help("restore service.key (or CUSTKEY_SERVICE_KEY) that this store was created with")
        })?;
        if plain.len() != 52 {
            return Err(unavailable(format!(
                "the availability key of DEP {dep_guid} is malformed"
            )));
        }
        let mut b = [0u8; 32];
        b.copy_from_slice(&plain[..32]);
        let secret = SecretKey32::from_bytes(b);
        zeroize::Zeroize::zeroize(&mut b);
        Ok(AvailabilityKey::from_secret(
            secret,
            KeyRef::from_bytes(&plain[32..])?,
        ))
    }

    /// Seals a service-held secret under the service master key, bound to `aad`.
    pub(crate) fn seal_service(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        Ok(seal(&self.master, aad, plain)?)
    }

    /// Opens what [`ServiceKeys::seal_service`] sealed with the same `aad`.
    pub(crate) fn open_service(
        &self,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        open(&self.master, aad, sealed).map_err(|_| {
            Error::new(
                ErrorKind::Authentication,
                "a service-held key does not open under the service master key",
            )
            .with_help(
                "restore service.key (or CUSTKEY_SERVICE_KEY) that this store was created with",
            )
        })
    }

    /// A fresh DEP key for a new DEP.
    pub fn new_dep_key() -> DepKey {
        DepKey::generate(KeyRef::new_random())
    }

    /// The service principal that uses the customer keys of DEPs of `kind`: the
    /// multi-workload principal for `M365` DEPs, Exchange Online for the others.
    pub fn principal(&self, kind: &str) -> &Principal {
        if kind == super::dep::KIND_M365 {
            &self.m365
        } else {
            &self.exchange
        }
    }

    /// Wraps a DEP key under a customer key (as the service principal of the DEP's kind).
    pub fn root_wrap(
        &self,
        kind: &str,
        dep: &DepKey,
        dep_guid: uuid::Uuid,
        key_uri: &str,
    ) -> std::result::Result<(String, WrappedKey), VaultError> {
        let res = self.vaults.wrap_key(
            self.principal(kind),
            key_uri,
            OaepAlg::RsaOaep256,
            dep.bytes_for_root_wrap(),
        )?;
        let root =
            crate::crypto::RootKeyRef::new(key_uri_versionless(key_uri), res.version.clone())
                .map_err(|e| VaultError::Invalid(e.to_string()))?;
        let wrapped = dep
            .wrap_from_root(&root, res.algorithm, &res.value, &DepBinding::new(dep_guid))
            .map_err(|e| VaultError::Invalid(e.to_string()))?;
        Ok((res.version, wrapped))
    }

    /// Drops cached DEP keys (after a purge).
    pub fn forget(&mut self, dep_guid: &str) {
        self.cache.remove(dep_guid);
    }

    /// The DEP key of `dep`, by the documented unwrap path. Returns how it was obtained.
    pub fn dep_key(
        &mut self,
        store: &mut Store,
        dep: &DepRow,
        purpose: Purpose,
        request: &str,
    ) -> Result<(DepKey, Unwrapped)> {
        if dep.state == "Purged" {
            return Err(Error::rule(format!(
                "the data encryption policy '{}' was purged: its keys were destroyed and the data under it cannot be read by anyone",
                dep.name
            ))
            .with_help("assign the mailbox another policy to store new content"));
        }
        if let Some(k) = self.cache.get(&dep.guid) {
            return Ok((dup(k), Unwrapped::Cached));
        }
        let guid = parse_guid(&dep.guid)?;
        let binding = DepBinding::new(guid);
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&dep.guid)?) })?;
        let (key, how) = if dep.kind == "MicrosoftManaged" {
            (
                self.by_availability(dep, &binding)?,
                Unwrapped::Availability,
            )
        } else {
            self.customer_unwrap(store, dep, &binding, wraps, purpose, request)?
        };
        self.cache.insert(dep.guid.clone(), dup(&key));
        Ok((key, how))
    }

    /// The DEP key through the availability key alone (no audit: callers audit their use).
    pub(crate) fn by_availability(&self, dep: &DepRow, binding: &DepBinding) -> Result<DepKey> {
        let (Some(sealed), Some(wrapped)) = (&dep.availability_key, &dep.wrapped_by_availability)
        else {
            return Err(Error::rule(format!(
                "the availability key of data encryption policy '{}' has been destroyed",
                dep.name
            ))
            .with_help("the data under this policy was purged and cannot be read by anyone"));
        };
        let avail = self.open_availability_key(&dep.guid, sealed)?;
        let wk = WrappedKey::from_bytes(wrapped)?;
        Ok(avail.unwrap_dep_key(&wk, binding)?)
    }

    fn customer_unwrap(
        &self,
        store: &mut Store,
        dep: &DepRow,
        binding: &DepBinding,
        mut wraps: Vec<RootWrapRow>,
        purpose: Purpose,
        request: &str,
    ) -> Result<(DepKey, Unwrapped)> {
        // A customer key chosen at random first, then the other(s).
        let mut r = [0u8; 1];
        random_bytes(&mut r);
        if !wraps.is_empty() {
            let n = wraps.len();
            wraps.rotate_left(usize::from(r[0]) % n);
        }
        let mut failures: Vec<(String, VaultError)> = Vec::new();
        for w in &wraps {
            let versioned = format!("{}/{}", w.key_uri.trim_end_matches('/'), w.version);
            let wk = match WrappedKey::from_bytes(&w.wrapped) {
                Ok(k) => k,
                Err(e) => {
                    failures.push((versioned, VaultError::Invalid(e.to_string())));
                    continue;
                }
            };
            let (Some(ct), Some(alg)) = (wk.rsa_ciphertext(), wk.oaep_alg()) else {
                failures.push((
                    versioned,
                    VaultError::Invalid("not a root-wrapped key".into()),
                ));
                continue;
            };
            match self
                .vaults
                .unwrap_key(self.principal(&dep.kind), &versioned, alg, ct)
            {
                Ok(raw) => match DepKey::from_root_unwrap(&wk, binding, &raw) {
                    Ok(k) => {
                        return Ok((
                            k,
                            Unwrapped::Customer {
                                key_uri: w.key_uri.clone(),
                                version: w.version.clone(),
                            },
                        ))
                    }
                    Err(e) => failures.push((versioned, VaultError::Invalid(e.to_string()))),
                },
                Err(e) => failures.push((versioned, e)),
            }
        }
        let all_system = !failures.is_empty() && failures.iter().all(|(_, e)| e.is_system_error());
        if all_system || purpose == Purpose::Service {
            let key = self.by_availability(dep, binding)?;
            let scope_version = wraps
                .iter()
                .map(|w| w.version.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let org = store.read(super::org::organization_id)?;
            store.write(|tx| {
                audit(
                    tx,
                    &org,
                    "CustomerKeyServiceEncryption",
                    "Fallback to Availability Key",
                    &principal_user(&dep.kind),
                    &dep.guid,
                    json!({
                        "Policy Id": dep.guid,
                        "Scope Key Version Id": scope_version,
                        "Request Id": request,
                        "Reason": if all_system { "SystemError" } else { "CustomerKeyRefused" },
                        "Failures": failures.iter().map(|(k, e)| format!("{k}: {:?}: {}", e.class(), e.message())).collect::<Vec<_>>(),
                    }),
                )
            })?;
            return Ok((key, Unwrapped::Availability));
        }
        let names: Vec<String> = failures
            .iter()
            .map(|(k, e)| format!("{k} ({:?}: {})", e.class(), e.message()))
            .collect();
        let revoked = failures
            .iter()
            .any(|(_, e)| matches!(e, VaultError::AccessDenied(_)));
        let msg = format!(
            "the customer keys of data encryption policy '{}' refused to unwrap its key: {}",
            dep.name,
            names.join("; ")
        );
        Err(if revoked {
            Error::new(ErrorKind::AccessDenied, msg).with_help(format!(
                "the service's access was revoked: grant wrapKey, unwrapKey and get to {} with Set-AzKeyVaultAccessPolicy on the key's vault",
                principal_user(&dep.kind).trim_start_matches("ServicePrincipal:")
            ))
        } else {
            Error::rule(msg).with_help("enable the key versions (Update-AzKeyVaultKey -Enable $true) or restore the keys (Undo-AzKeyVaultKeyRemoval / Restore-AzKeyVaultKey)")
        })
    }
}

/// The audit `UserId` of the service principal that uses DEPs of `kind`.
pub fn principal_user(kind: &str) -> String {
    let app = if kind == super::dep::KIND_M365 {
        M365_DATA_AT_REST_APP_ID
    } else {
        EXCHANGE_ONLINE_APP_ID
    };
    let name = crate::vault::service_principal_display_name(app).unwrap_or(app);
    format!("ServicePrincipal:{name}")
}

/// Appends a unified audit record.
pub fn audit(
    tx: &Tx,
    org_id: &str,
    record_type: &str,
    operation: &str,
    user_id: &str,
    object_id: &str,
    parameters: serde_json::Value,
) -> Result<()> {
    tx.append_audit(&AuditRow {
        id: 0,
        creation_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        record_type: record_type.into(),
        operation: operation.into(),
        organization_id: org_id.into(),
        user_id: user_id.into(),
        object_id: object_id.into(),
        parameters: parameters.to_string(),
    })?;
    Ok(())
}

pub fn parse_guid(s: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| {
        Error::new(
            ErrorKind::Unavailable,
            format!("the store holds a malformed GUID '{s}'"),
        )
    })
}

/// `https://v.vault.azure.net/keys/k/ver` -> `https://v.vault.azure.net/keys/k`.
pub fn key_uri_versionless(uri: &str) -> String {
    match crate::vault::KeyId::parse(uri) {
        Ok(id) => id.versionless().to_string(),
        Err(_) => uri.trim_end_matches('/').to_string(),
    }
}

/// A new request id (recorded in audit records).
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Error::new(ErrorKind::Rule, format!("a cryptographic check failed: {e}"))
            .with_help("the stored key or content does not belong where it was found, or was altered; nothing was released")
    }
}
