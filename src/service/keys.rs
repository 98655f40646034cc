//! The service's keys: the service master key, availability keys, and the DEP-key unwrap
//! path with its fallback rule and audit.
//!
//! Unwrapping a DEP key follows the documented order: the customer keys in random order; the
//! availability key only when every customer key failed with a system error (vault
//! unreachable). Every copy is tried, also after one opened the key, so that a damaged copy
//! is reported as a warning instead of being hidden by the good one. A deliberate refusal
//! (access denied, disabled, expired, missing) fails a user request with an error naming the
//! keys; a service action may still use the availability key. Every availability-key use of a customer DEP is audited. Unwrapped DEP
//! keys are cached for the life of the process, so bulk work costs one RSA unwrap per copy.
//! Every vault file read is checked against the generation the store recorded (rollback).

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use super::{Error, ErrorKind, Result};
use crate::crypto::{
    open, random_bytes, seal, AvailabilityKey, CommitmentKey, DepBinding, DepKey, KeyRef,
    RootWrapped, SecretKey32, TierId, TierKey, WrappedKey,
};
use crate::store::{AuditRow, DepRow, RootWrapRow, Store, Tx};
use crate::vault::{
    LocalBackend, Pkcs11Provider, Principal, VaultError, VaultRegistry, EXCHANGE_ONLINE_APP_ID,
    M365_DATA_AT_REST_APP_ID,
};

use crate::paths::ENV_CONFIG_DIR;
use crate::vault::master_key::resolve_master_key;
pub use crate::vault::master_key::{ENV_SERVICE_KEY, ENV_SERVICE_PASSPHRASE};
use crate::vault::{KeyringCache, MasterKeyKind, MasterKeyOptions, MasterKeyPaths};
const CHECK_SETTING: &str = "service.master.check";
const CHECK_TEXT: &[u8] = b"custkey service master key";

/// Who asks for a DEP key: a user request may not fall back on a customer's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    User,
    Service,
    /// Re-wrapping keys away from this DEP (a reassignment): the availability key may stand in
    /// for customer keys that are lost or unreachable, never for ones that refuse the service
    /// (access removed, key disabled), since the keys would then open under another policy and
    /// the customer's revocation would be undone.
    Reassign,
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
    /// Derived from the master key: authenticates unwrapped DEP keys and TIKs.
    commitment: CommitmentKey,
    /// Derived from the master key: authenticates the principal registry's rows.
    record: crate::crypto::RecordKey,
    pub vaults: VaultRegistry,
    pub exchange: Principal,
    /// The multi-workload service principal (M365DataAtRestEncryption).
    pub m365: Principal,
    /// DEP keys unwrapped in this process, each with whether a user request may use it: not
    /// when it came from the availability key because the customer keys refused (a service
    /// operation's fallback must never serve a user read later in the same process).
    cache: HashMap<String, (DepKey, bool)>,
    /// The vault generations recorded in the store (rollback detection).
    generations: super::generation::Generations,
    /// Warnings for the cmdlet to print (damaged copies that reads went around).
    warnings: std::sync::Mutex<Vec<String>>,
}

fn unavailable(msg: String, help: &str) -> Error {
    Error::new(ErrorKind::Unavailable, msg).with_help(help)
}

/// The key that authenticates role records in the store, from the service master key.
pub(super) fn record_key(data_dir: &Path) -> Result<crate::crypto::RecordKey> {
    Ok(crate::crypto::RecordKey::derive(
        &master_key(data_dir, false)?.0,
    )?)
}

/// The service master key: `CUSTKEY_SERVICE_KEY`, `CUSTKEY_SERVICE_PASSPHRASE`, the keyring
/// cache or the key file in the configuration directory (created 0600 on first use; an old
/// `<data dir>/service.key` is moved there). `in_use`: the store already holds data sealed
/// under it, so no new key may be made. Returns the key and the notices to print once.
fn master_key(data_dir: &Path, in_use: bool) -> Result<(SecretKey32, Vec<String>)> {
    let kind = MasterKeyKind::Service;
    let opts = MasterKeyOptions::from_env_for(kind)?;
    let cache = if opts.use_keyring {
        KeyringCache::open()
    } else {
        None
    };
    let paths = MasterKeyPaths {
        kind,
        data_dir: data_dir.to_path_buf(),
        config_dir: None,
        vault_dir: None,
        in_use,
    };
    let r = resolve_master_key(&paths, &opts, cache.as_ref()).map_err(|e| {
        let help = match e.class() {
            crate::vault::ErrorClass::Authentication => format!(
                "give the service master key with {ENV_SERVICE_KEY} (64 hex digits) or \
                 {ENV_SERVICE_PASSPHRASE}, or restore its key file in the configuration directory \
                 ({ENV_CONFIG_DIR}) from its backup; the store's keys are sealed under it"
            ),
            _ => "check that the data directory and the configuration directory are present, \
                  readable and private (0700); nothing was changed"
                .to_string(),
        };
        let kind = match e.class() {
            crate::vault::ErrorClass::Authentication => ErrorKind::Authentication,
            crate::vault::ErrorClass::Invalid => ErrorKind::Rule,
            _ => ErrorKind::Unavailable,
        };
        Error::new(kind, e.message().to_string()).with_help(help)
    })?;
    Ok((r.key, r.notices))
}

impl ServiceKeys {
    /// Opens the service's keys for the data directory, checking the master key against the
    /// store (the first use records a check value).
    pub fn open(data_dir: &Path, store: &mut Store, backend: LocalBackend) -> Result<ServiceKeys> {
        let check = store.read(|tx| -> Result<_> { Ok(tx.setting(CHECK_SETTING)?) })?;
        let (master, notices) = master_key(data_dir, check.is_some())?;
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
                        "give the right key with {ENV_SERVICE_KEY} or restore its key file in the configuration directory"
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
        let generations = super::generation::Generations::open(store, backend.clone())?;
        let mut vaults = VaultRegistry::new();
        // Local vaults, then the vaults of the same directory bound to a PKCS#11 token.
        let hsm = Pkcs11Provider::new(backend.clone());
        let kmip = crate::vault::kmip::KmipRoots::new(&backend.paths().vault_dir);
        vaults.add_provider(std::sync::Arc::new(backend));
        vaults.add_provider(std::sync::Arc::new(hsm));
        // Root keys in registered KMIP key managers (docs/kmip.md).
        vaults.add_root_provider(std::sync::Arc::new(kmip));
        let commitment = CommitmentKey::derive(&master)?;
        let record = crate::crypto::RecordKey::derive(&master)?;
        Ok(ServiceKeys {
            master,
            commitment,
            record,
            vaults,
            exchange: Principal::service_principal(EXCHANGE_ONLINE_APP_ID)?,
            m365: Principal::service_principal(M365_DATA_AT_REST_APP_ID)?,
            cache: HashMap::new(),
            generations,
            warnings: std::sync::Mutex::new(notices),
        })
    }

    /// Checks every vault file read since the last check against the generations the store
    /// recorded: a rolled-back or replaced one is an error naming the vault (docs/vaults.md
    /// §6). Call it after vault calls and before using or storing what they returned.
    pub fn record_key(&self) -> &crate::crypto::RecordKey {
        &self.record
    }

    pub fn check_vaults(&self, store: &mut Store) -> Result<()> {
        self.generations.check(store)
    }

    /// Adds a warning for the cmdlet to print.
    pub(crate) fn warn(&self, msg: String) {
        let mut g = match self.warnings.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !g.contains(&msg) {
            g.push(msg);
        }
    }

    /// The warnings gathered since the last call (each once), for the cmdlet to print.
    pub fn take_warnings(&self) -> Vec<String> {
        match self.warnings.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
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
                .with_help("restore the service master key (its key file in the configuration directory, or CUSTKEY_SERVICE_KEY) that this store was created with")
        })?;
        if plain.len() != 52 {
            return Err(unavailable(
                format!("the availability key of DEP {dep_guid} is malformed"),
                "the store was changed or damaged: restore it from a backup",
            ));
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
                "restore the service master key (its key file in the configuration directory, or CUSTKEY_SERVICE_KEY) that this store was created with",
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
        let res =
            self.vaults
                .wrap_root(self.principal(kind), key_uri, dep.bytes_for_root_wrap())?;
        let root =
            crate::crypto::RootKeyRef::new(key_uri_versionless(key_uri), res.version.clone())
                .map_err(|e| VaultError::Invalid(e.to_string()))?;
        let wrapped = dep
            .wrap_from_root_alg(&root, res.alg, &res.value, &DepBinding::new(dep_guid))
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
        if let Some((k, user_ok)) = self.cache.get(&dep.guid) {
            if *user_ok || purpose == Purpose::Service {
                return Ok((dup(k), Unwrapped::Cached));
            }
        }
        let guid = parse_guid(&dep.guid)?;
        let binding = DepBinding::new(guid);
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&dep.guid)?) })?;
        let (key, how, user_ok) = if dep.kind == "MicrosoftManaged" {
            (
                self.by_availability(dep, &binding)?,
                Unwrapped::Availability,
                true,
            )
        } else {
            self.customer_unwrap(store, dep, &binding, wraps, purpose, request)?
        };
        if how == Unwrapped::Availability {
            self.check_commitment(store, dep, &key)?
                .map_err(|e| forged_error(dep, &format!("availability key: {}", e.message())))?;
        }
        self.cache.insert(dep.guid.clone(), (dup(&key), user_ok));
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

    /// Records the commitment of a new policy's DEP key or TIK (in the transaction that
    /// creates the policy). A commitment already recorded stays.
    pub(crate) fn record_commitment<T: RootWrapped>(
        &self,
        tx: &Tx,
        guid: &str,
        key: &TierKey<T>,
    ) -> Result<()> {
        let binding = DepBinding::new(parse_guid(guid)?);
        let c = self.commitment.commit(key, &binding)?;
        tx.insert_key_commitment(guid, key.tier() as u8, &c)?;
        Ok(())
    }

    /// Checks an unwrapped DEP key or TIK against the commitment recorded for `guid`:
    /// `Ok(Err(..))` when it does not match (a forged or foreign copy). `stored` is the recorded
    /// commitment, or `None` when the store has none; then `backfill` yields the key through the
    /// service-held availability copy (which a store writer cannot forge), its commitment is
    /// recorded and audited, and the check runs against it. A row without a commitment is never
    /// accepted unchecked.
    pub(crate) fn verify_committed<T: RootWrapped>(
        &self,
        store: &mut Store,
        guid: &str,
        stored: Option<Vec<u8>>,
        key: &TierKey<T>,
        backfill: impl FnOnce(&mut Store) -> Result<(TierKey<T>, String)>,
    ) -> Result<std::result::Result<(), VaultError>> {
        let binding = DepBinding::new(parse_guid(guid)?);
        let stored = match stored {
            Some(c) => c,
            None => {
                let (genuine, user) = backfill(store)?;
                let c = self.commitment.commit(&genuine, &binding)?;
                let tier = T::ID as u8;
                let org = store.read(super::org::organization_id)?;
                store.write(|tx| -> Result<Vec<u8>> {
                    if tx.insert_key_commitment(guid, tier, &c)? {
                        audit(
                            tx,
                            &org,
                            "CustomerKeyServiceEncryption",
                            "Record Key Commitment",
                            &user,
                            guid,
                            json!({"Policy Id": guid, "Key": T::ID.name(), "Source": "availability key"}),
                        )?;
                    }
                    tx.key_commitment(guid, tier)?.ok_or_else(|| {
                        unavailable(
                            format!("the key commitment of policy {guid} vanished"),
                            "run the command again; if it keeps failing, restore the store from a backup",
                        )
                    })
                })?
            }
        };
        Ok(match self.commitment.verify(key, &binding, &stored) {
            Ok(()) => Ok(()),
            Err(_) => Err(VaultError::Authentication(format!(
                "{COMMITMENT_MISMATCH}: this copy was replaced in the store (forged with the public key, or taken from elsewhere)"
            ))),
        })
    }

    /// [`ServiceKeys::verify_committed`] for the key of a mailbox or multi-workload DEP; the
    /// backfill goes through the DEP's availability key.
    fn check_commitment(
        &self,
        store: &mut Store,
        dep: &DepRow,
        key: &DepKey,
    ) -> Result<std::result::Result<(), VaultError>> {
        let stored = store
            .read(|tx| -> Result<_> { Ok(tx.key_commitment(&dep.guid, TierId::Dep as u8)?) })?;
        self.verify_committed(store, &dep.guid, stored, key, |_| {
            let binding = DepBinding::new(parse_guid(&dep.guid)?);
            let genuine = self.by_availability(dep, &binding).map_err(|e| {
                Error::rule(format!(
                    "the {} '{}' has no key commitment, and the availability copy of its key that would restore one cannot be used: {}",
                    noun(&dep.kind),
                    dep.name,
                    e.message()
                ))
                .with_help("nothing was released: without a commitment an unwrapped key cannot be told from a forged one; restore the store from a backup (and the service master key it was created with)")
            })?;
            Ok((genuine, principal_user(&dep.kind)))
        })
    }

    /// [`ServiceKeys::check_commitment`] for `Test-DataEncryptionPolicy`.
    pub(crate) fn test_commitment(
        &self,
        store: &mut Store,
        dep: &DepRow,
        key: &DepKey,
    ) -> Result<std::result::Result<(), VaultError>> {
        self.check_commitment(store, dep, key)
    }

    fn customer_unwrap(
        &self,
        store: &mut Store,
        dep: &DepRow,
        binding: &DepBinding,
        mut wraps: Vec<RootWrapRow>,
        purpose: Purpose,
        request: &str,
    ) -> Result<(DepKey, Unwrapped, bool)> {
        // A customer key chosen at random first, then the other(s).
        let mut r = [0u8; 1];
        random_bytes(&mut r);
        if !wraps.is_empty() {
            let n = wraps.len();
            wraps.rotate_left(usize::from(r[0]) % n);
        }
        let mut failures: Vec<(String, VaultError)> = Vec::new();
        let mut found: Option<(DepKey, Unwrapped)> = None;
        // Every copy is tried, also after one has opened the key: a damaged copy is then
        // reported (a warning) instead of being hidden by the good one.
        for w in &wraps {
            let versioned = format!("{}/{}", w.key_uri.trim_end_matches('/'), w.version);
            let attempt = self.root_unwrap(dep, binding, w, &versioned);
            // A vault file older than one already used must not serve the key.
            self.check_vaults(store)?;
            let attempt = match attempt {
                // A copy that opens to a key other than the committed one was forged or altered:
                // a failed copy, reported like a damaged one.
                Ok(k) => match self.check_commitment(store, dep, &k)? {
                    Ok(()) => Ok(k),
                    Err(e) => Err(CopyFailure {
                        damage: Some("it opens to a key that does not match the policy's key commitment: the store was altered".into()),
                        error: e,
                    }),
                },
                Err(f) => Err(f),
            };
            match attempt {
                Ok(k) => {
                    if found.is_none() {
                        found = Some((
                            k,
                            Unwrapped::Customer {
                                key_uri: w.key_uri.clone(),
                                version: w.version.clone(),
                            },
                        ));
                    }
                }
                Err(f) => {
                    if let Some(why) = &f.damage {
                        let policy = format!("data encryption policy '{}'", dep.name);
                        let test = format!("Test-DataEncryptionPolicy -Identity '{}'", dep.name);
                        let refresh =
                            format!("Set-DataEncryptionPolicy -Identity '{}' -Refresh", dep.name);
                        self.warn(damage_warning(&policy, &versioned, why, &test, &refresh));
                    }
                    failures.push((versioned, f.error));
                }
            }
        }
        if let Some((k, how)) = found {
            return Ok((k, how, true));
        }
        let all_system = !failures.is_empty() && failures.iter().all(|(_, e)| e.is_system_error());
        // Revoked: a customer key refuses the service on purpose.
        let refused = failures
            .iter()
            .any(|(_, e)| matches!(e, VaultError::AccessDenied(_) | VaultError::KeyDisabled(_)));
        if purpose == Purpose::Reassign && refused && !all_system {
            let names: Vec<String> = failures
                .iter()
                .map(|(k, e)| format!("{k} ({:?})", e.class()))
                .collect();
            return Err(Error::new(
                ErrorKind::AccessDenied,
                format!(
                    "the customer keys of data encryption policy '{}' refuse the service ({}): its data stays unreadable until the customer restores access, and moving it to another policy would undo that",
                    dep.name,
                    names.join("; ")
                ),
            )
            .with_help(format!(
                "restore the service's access (Set-AzKeyVaultAccessPolicy -ServicePrincipalName {} -PermissionsToKeys wrapKey,unwrapKey,get on each vault, or enable the key), or continue on the data purge path (Set-DataEncryptionPolicy -PermanentDataPurgeRequested)",
                if dep.kind == super::dep::KIND_M365 { M365_DATA_AT_REST_APP_ID } else { EXCHANGE_ONLINE_APP_ID }
            )));
        }
        if all_system || purpose != Purpose::User {
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
            return Ok((key, Unwrapped::Availability, all_system));
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
        Err(if failures.iter().any(|(_, e)| is_commitment_mismatch(e)) {
            Error::rule(msg).with_help(FORGED_HELP)
        } else if revoked {
            Error::new(ErrorKind::AccessDenied, msg).with_help(format!(
                "the service's access was revoked: grant wrapKey, unwrapKey and get to {} with Set-AzKeyVaultAccessPolicy on the key's vault",
                principal_user(&dep.kind).trim_start_matches("ServicePrincipal:")
            ))
        } else {
            Error::rule(msg).with_help("enable the key versions (Update-AzKeyVaultKey -Enable $true) or restore the keys (Undo-AzKeyVaultKeyRemoval / Restore-AzKeyVaultKey)")
        })
    }
}

/// Why one customer-key copy of a DEP key did not open it, and whether that is damage
/// (bytes that do not parse or authenticate, a damaged vault file) rather than a refusal or
/// an unreachable vault.
pub(crate) struct CopyFailure {
    pub error: VaultError,
    pub damage: Option<String>,
}

impl CopyFailure {
    fn damaged(error: VaultError, why: impl Into<String>) -> Self {
        CopyFailure {
            error,
            damage: Some(why.into()),
        }
    }
}

impl From<VaultError> for CopyFailure {
    fn from(error: VaultError) -> Self {
        let damage = match &error {
            VaultError::Damaged(m) => Some(format!("the vault file is damaged: {m}")),
            // The vault could use the key, but the stored ciphertext does not decrypt.
            VaultError::Invalid(m) => Some(format!(
                "the wrapped copy in the store does not unwrap: {m}"
            )),
            _ => None,
        };
        CopyFailure { error, damage }
    }
}

/// The warning for a damaged copy of `policy`'s key that reads went around: how to check it
/// (`test`) and the command that re-wraps it under a new key version (`rewrap`).
pub(crate) fn damage_warning(
    policy: &str,
    versioned: &str,
    why: &str,
    test: &str,
    rewrap: &str,
) -> String {
    format!(
        "{policy}: the copy of its key under {versioned} is damaged ({why}); reads go on through the other copy. Check with {test}; restore the vault file if it is damaged, else add a key version (Add-AzKeyVaultKey) and re-wrap with {rewrap}"
    )
}

impl ServiceKeys {
    /// One customer-key copy of a DEP key, opened through its vault and checked.
    pub(crate) fn root_unwrap(
        &self,
        dep: &DepRow,
        binding: &DepBinding,
        w: &RootWrapRow,
        versioned: &str,
    ) -> std::result::Result<DepKey, CopyFailure> {
        let wk = WrappedKey::from_bytes(&w.wrapped).map_err(|e| {
            CopyFailure::damaged(
                VaultError::Invalid(e.to_string()),
                format!("the wrapped copy in the store does not parse: {e}"),
            )
        })?;
        let (Some(ct), Some(alg)) = (wk.root_ciphertext(), wk.root_alg()) else {
            return Err(CopyFailure::damaged(
                VaultError::Invalid("not a root-wrapped key".into()),
                "the copy in the store is not a root-wrapped key",
            ));
        };
        let raw = self
            .vaults
            .unwrap_root(self.principal(&dep.kind), versioned, alg, ct)?;
        DepKey::from_root_unwrap(&wk, binding, &raw).map_err(|e| {
            CopyFailure::damaged(
                VaultError::Invalid(e.to_string()),
                format!("the wrapped copy in the store does not authenticate: {e}"),
            )
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

/// How a commitment mismatch begins (`is_commitment_mismatch` looks for it).
const COMMITMENT_MISMATCH: &str =
    "the unwrapped key does not match the key commitment recorded when the policy was created";

const FORGED_HELP: &str = "a copy of the policy's key in the store does not match the key it was created with: the store was altered, and nothing was released; restore the store from a backup, or add a new version of each customer key (Add-AzKeyVaultKey) and run Set-DataEncryptionPolicy -Refresh (Set-M365DataAtRestEncryptionPolicy -Refresh for a multi-workload policy), which wraps the genuine key under them";

/// Whether a failure is a key that unwrapped but failed its commitment (a forged copy).
pub fn is_commitment_mismatch(e: &VaultError) -> bool {
    matches!(e, VaultError::Authentication(m) if m.starts_with(COMMITMENT_MISMATCH))
}

fn noun(kind: &str) -> &'static str {
    if kind == super::dep::KIND_M365 {
        super::dep::DepKind::M365.noun()
    } else {
        super::dep::DepKind::Mailbox.noun()
    }
}

fn forged_error(dep: &DepRow, detail: &str) -> Error {
    Error::rule(format!(
        "the key of {} '{}' failed its integrity check ({detail})",
        noun(&dep.kind),
        dep.name
    ))
    .with_help(FORGED_HELP)
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
    tx.append_audit(&audit_record(
        org_id,
        record_type,
        operation,
        user_id,
        object_id,
        parameters,
    ))?;
    Ok(())
}

/// The record [`audit`] appends, not yet stored (a batch appends many at once,
/// `Tx::append_audits`).
pub fn audit_record(
    org_id: &str,
    record_type: &str,
    operation: &str,
    user_id: &str,
    object_id: &str,
    mut parameters: serde_json::Value,
) -> AuditRow {
    // A record written for a service request names it (the service's log does too).
    if let (Some(id), Some(p)) = (
        REQUEST_ID.with(|r| r.borrow().clone()),
        parameters.as_object_mut(),
    ) {
        p.entry("Request Id")
            .or_insert(serde_json::Value::String(id));
    }
    AuditRow {
        id: 0,
        creation_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        record_type: record_type.into(),
        operation: operation.into(),
        organization_id: org_id.into(),
        // A record without a user of its own carries the principal the command acts as.
        user_id: if user_id.is_empty() {
            super::principal::actor()
        } else {
            user_id.into()
        },
        object_id: object_id.into(),
        parameters: parameters.to_string(),
    }
}

pub fn parse_guid(s: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| {
        Error::new(
            ErrorKind::Unavailable,
            format!("the store holds a malformed GUID '{s}'"),
        )
        .with_help("the store was changed or damaged: restore it from a backup")
    })
}

/// `https://v.vault.azure.net/keys/k/ver` -> `https://v.vault.azure.net/keys/k`.
pub fn key_uri_versionless(uri: &str) -> String {
    match crate::vault::KeyId::parse(uri) {
        Ok(id) => id.versionless().to_string(),
        Err(_) => uri.trim_end_matches('/').to_string(),
    }
}

/// The kind of wrap of a stored root-wrapped copy, as recorded beside it in the store:
/// `RSA-OAEP-256`, `RSA-OAEP` or `KMS-AES-256-GCM` (empty if the bytes do not parse).
pub fn wrap_kind(wrapped: &[u8]) -> &'static str {
    WrappedKey::from_bytes(wrapped)
        .ok()
        .and_then(|w| w.root_alg())
        .map_or("", |a| a.as_str())
}

thread_local! {
    /// The id of the service request this thread serves (see [`set_request_id`]).
    static REQUEST_ID: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// A request id for audit records: the id of the service request being served, so that the
/// service's log and the audit log name the same request; else a new one.
pub fn request_id() -> String {
    REQUEST_ID
        .with(|r| r.borrow().clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Sets (or clears) the id of the service request this thread serves.
pub fn set_request_id(id: Option<String>) {
    REQUEST_ID.with(|r| *r.borrow_mut() = id);
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Error::new(ErrorKind::Rule, format!("a cryptographic check failed: {e}"))
            .with_help("the stored key or content does not belong where it was found, or was altered; nothing was released")
    }
}

/// What [`clear_key_cache`] did (`Clear-CustomerKeyCache`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyCacheCleared {
    /// Entries removed (master keys and PINs, current and from older versions).
    pub removed: usize,
    /// Whether the OS keyring could be reached at all.
    pub keyring_reachable: bool,
}

/// Removes every entry custkey cached in the OS keyring (master keys of every data directory,
/// PKCS#11 PINs, and the entries older versions wrote). Nothing else is touched.
pub fn clear_key_cache() -> KeyCacheCleared {
    match KeyringCache::open() {
        Some(c) => KeyCacheCleared {
            removed: c.clear(),
            keyring_reachable: true,
        },
        None => KeyCacheCleared {
            removed: 0,
            keyring_reachable: false,
        },
    }
}
