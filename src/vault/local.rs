//! The embedded local backend: the stand-in for Azure Key Vault.
//!
//! One file per vault, `<vault dir>/<name in lower case>.vault`, a JSON envelope holding a key
//! check value and the vault state sealed (`crypto::seal`, AES-256-GCM) under the vault
//! directory's master key (see [`super::master_key`]). Beside it: `<name>.lock` (advisory lock:
//! shared for reads, exclusive for changes) and `<name>.audit.jsonl` (the audit log). Every write
//! replaces the file atomically (temporary file 0600, fsync, rename, fsync of the directory).
//!
//! Errors: the vault directory or file unreadable = `Unavailable`; a file sealed under another
//! master key = `Authentication`; a damaged, truncated or altered file = `Unavailable` (the
//! vault cannot be read: a system error), and the file is never rewritten by a failed call.
//!
//! An HSM key here (`-Destination HSM`) is a software key *marked* HSM (KeyType `RSA-HSM`): this
//! backend has no HSM. Real token keys come from the PKCS#11 backend.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::audit::{AuditLog, AuditQuery, AuditRecord, AuditVerification, VaultOperation};
use super::azure::{AzContextInfo, AzureContextStore, ProviderFeature};
use super::backup::{open_backup, seal_backup, BackupHeader};
use super::error::{VaultError, VaultResult};
use super::fsio;
use super::ids::{
    container_uri, deleted_key_id_string, key_id_string_in, new_version, printable,
    validate_key_name, validate_vault_name, validate_version,
};
use super::master_key::{
    resolve_master_key, KeyringCache, MasterKeyKind, MasterKeyOptions, MasterKeyPaths,
    MasterKeySource,
};
use super::material::{HeldKeyRef, HolderBinding, KeyHolder};
use super::model::{
    base64url, validate_key_size, validate_retention_days, DeletedKeyVaultKey, JsonWebKey,
    KeyAttributes, KeyDestination, KeyOperation, KeyUpdate, KeyVaultInfo, KeyVaultKey,
    ManagedHsmSpec, NewKeyRequest, NewVaultRequest, RecoveryLevel, SecurityDomainInfo, VaultSku,
    WrapResult, RETENTION_MAX_DAYS,
};
use super::policy::{
    denied, is_granted, remove_policy, set_policy, AccessPolicy, AccessPolicyEntry, Caller,
    KeyPermission, Principal,
};
use super::rbac::{self, Manage, RoleAssignment, Scope};
use super::registry::VaultProvider;
use super::rotation::{KeyRotationPolicy, LifetimeAction, RotationPolicy};
use super::KeyVault;
use crate::crypto::{OaepAlg, RsaPrivateKey, RsaPublicKey, SecretKey32};

/// The backend name shown in `KeyVaultInfo::backend`.
pub const BACKEND: &str = "Local";
const VAULT_FORMAT: &str = "custkey-local-vault";
const VAULT_FORMAT_VERSION: u32 = 1;
const KEYCHECK_AAD: &[u8] = b"custkey-local-vault-keycheck/v1";
const KEYCHECK_TEXT: &[u8] = b"custkey local vault";
/// A vault file larger than this is refused unread (a vault with hundreds of 4096-bit versions
/// stays far below it).
const MAX_VAULT_FILE_BYTES: u64 = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Stored state (inside the sealed payload)

/// Secret bytes, hex inside the sealed payload, zeroized on drop.
#[derive(Clone)]
struct SecretBytes(Zeroizing<Vec<u8>>);

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Exact-size buffer: no reallocation leaves a copy of the secret behind.
        let mut h = Zeroizing::new(vec![0u8; self.0.len() * 2]);
        hex::encode_to_slice(self.0.as_slice(), h.as_mut_slice())
            .map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&h).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("hex")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretBytes, E> {
                let mut out = Zeroizing::new(vec![0u8; v.len() / 2]);
                hex::decode_to_slice(v, out.as_mut_slice())
                    .map_err(|_| E::custom("secret is not hex"))?;
                Ok(SecretBytes(out))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredVersion {
    version: String,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    enabled: bool,
    expires: Option<DateTime<Utc>>,
    not_before: Option<DateTime<Utc>>,
    key_ops: Vec<KeyOperation>,
    tags: BTreeMap<String, String>,
    destination: KeyDestination,
    key_size: usize,
    public_der: String,
    /// The private key (local vaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_pkcs8: Option<SecretBytes>,
    /// The objects holding the private key, in the vault's key holder (a PKCS#11 token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<HeldKeyRef>,
    /// In a Managed HSM's key backup only: the private key as the token wrapped it under the
    /// key derived from the HSM's security domain (hex; never in a vault file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped_private: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    name: String,
    versions: Vec<StoredVersion>,
    /// Set-AzKeyVaultKeyRotationPolicy (absent in vault files written before rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_policy: Option<RotationPolicy>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDeletedKey {
    key: StoredKey,
    deleted_date: DateTime<Utc>,
    scheduled_purge_date: DateTime<Utc>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VaultState {
    vault_name: String,
    resource_group_name: String,
    location: String,
    subscription_id: String,
    tenant_id: String,
    sku: VaultSku,
    enable_soft_delete: bool,
    enable_purge_protection: bool,
    soft_delete_retention_in_days: u32,
    created: DateTime<Utc>,
    tags: BTreeMap<String, String>,
    access_policies: Vec<AccessPolicy>,
    /// Role assignments at this vault's scope and its keys' (sealed with the rest, so only a
    /// holder of the master key can add one).
    #[serde(default)]
    role_assignments: Vec<RoleAssignment>,
    /// `-EnableRbacAuthorization`: the data plane is authorized by role assignments.
    #[serde(default)]
    enable_rbac_authorization: bool,
    keys: Vec<StoredKey>,
    deleted_keys: Vec<StoredDeletedKey>,
    deleted_date: Option<DateTime<Utc>>,
    /// Set for a vault whose keys live in a key holder (a PKCS#11 token; the JSON name is the
    /// one files have always used): this file is then its sidecar.
    #[serde(default, rename = "pkcs11", skip_serializing_if = "Option::is_none")]
    holder: Option<HolderBinding>,
    /// Set for a Managed HSM (`New-AzKeyVaultManagedHsm`): always with a holder and RBAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    managed_hsm: Option<ManagedHsmSpec>,
    /// One more on every write of the file (0 in files written before generations existed):
    /// sealed with the rest, so only a holder of the master key can change it.
    #[serde(default)]
    generation: u64,
    /// A Managed HSM's security domain: its domain key, and whether it was downloaded or
    /// imported (the HSM is then activated). Absent in files written before security domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_domain: Option<SecurityDomainState>,
}

/// A Managed HSM's security domain (sealed in its vault file with the rest of the state).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityDomainState {
    /// The domain key's public fingerprint (the same in every HSM that holds the domain).
    domain_id: String,
    /// The domain key (32 bytes).
    key: SecretBytes,
    /// When it was first downloaded or imported: the HSM is `Active` from then on.
    #[serde(default)]
    activated: Option<DateTime<Utc>>,
}

impl SecurityDomainState {
    fn generate() -> Self {
        let key = SecretKey32::generate();
        SecurityDomainState {
            domain_id: crate::crypto::security_domain::domain_fingerprint(&key),
            key: SecretBytes(Zeroizing::new(key.expose().to_vec())),
            activated: None,
        }
    }

    fn key(&self) -> VaultResult<SecretKey32> {
        SecretKey32::from_slice(&self.key.0).map_err(|_| {
            VaultError::Damaged("the Managed HSM's security domain key is damaged".into())
        })
    }
}

/// What one read or write of a vault file found there: the vault, its generation and which
/// sealing of the state it was. The service compares these with the highest generation it
/// recorded, to notice an older vault file copied back (docs/vaults.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultStamp {
    /// The vault's name as shown.
    pub vault: String,
    /// This vault, not a later one of the same name: the name in lower case and the
    /// creation time in microseconds, `<name>@<micros>`.
    pub id: String,
    /// The state's generation.
    pub generation: u64,
    /// The nonce and tag of the sealed state (hex): different for every write, so two files
    /// of the same generation are told apart.
    pub seal: String,
}

fn seal_fingerprint(sealed: &[u8]) -> String {
    let head = &sealed[..sealed.len().min(12)];
    let tail = &sealed[sealed.len().saturating_sub(16)..];
    format!("{}{}", hex::encode(head), hex::encode(tail))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    format: String,
    version: u32,
    vault: String,
    key_check: String,
    payload: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupPayload {
    key: StoredKey,
}

/// Serialize into a buffer sized exactly beforehand (a counting pass first), so that growing the
/// buffer never leaves an unzeroized copy of key material on the heap.
fn secret_json<T: Serialize>(value: &T) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value)?;
    Ok(out)
}

/// Whether `key` opens the key check of the vault file at `path` (`Unavailable` if the file
/// cannot be read or is not a vault file).
pub(crate) fn key_opens_vault_file(path: &Path, key: &SecretKey32) -> VaultResult<bool> {
    let bytes = std::fs::read(path).map_err(|e| VaultError::io("cannot read", path, &e))?;
    let env: Envelope = serde_json::from_slice(&bytes).map_err(|_| {
        VaultError::Unavailable(format!("{} is not a complete vault file", path.display()))
    })?;
    let check = hex::decode(&env.key_check).map_err(|_| {
        VaultError::Unavailable(format!("{} has a damaged key check", path.display()))
    })?;
    Ok(crate::crypto::open(key, KEYCHECK_AAD, &check).is_ok_and(|t| t.as_slice() == KEYCHECK_TEXT))
}

fn payload_aad(stem: &str) -> Vec<u8> {
    format!("{VAULT_FORMAT}/v{VAULT_FORMAT_VERSION}|{stem}").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Paths and backend

/// Where the local backend keeps its files.
#[derive(Debug, Clone)]
pub struct LocalPaths {
    /// The data directory.
    pub data_dir: PathBuf,
    /// One `.vault` file per vault (`<data dir>/vaults`).
    pub vault_dir: PathBuf,
    /// The Azure context (`<data dir>/azure.json`).
    pub azure_context: PathBuf,
    /// The master key header (`<data dir>/vault-master.json`).
    pub master_header: PathBuf,
    /// The configuration directory holding the master key file, or `None` for the user's
    /// ([`crate::paths::config_dir`]).
    pub config_dir: Option<PathBuf>,
}

impl LocalPaths {
    /// The standard layout under a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        LocalPaths {
            data_dir: data_dir.to_path_buf(),
            vault_dir: data_dir.join("vaults"),
            azure_context: data_dir.join("azure.json"),
            master_header: data_dir.join("vault-master.json"),
            config_dir: None,
        }
    }

    /// [`LocalPaths::in_data_dir`] with an explicit configuration directory (tests; embedding).
    pub fn with_config_dir(data_dir: &Path, config_dir: &Path) -> Self {
        LocalPaths {
            config_dir: Some(config_dir.to_path_buf()),
            ..Self::in_data_dir(data_dir)
        }
    }
}

struct Inner {
    paths: LocalPaths,
    master: Arc<SecretKey32>,
    source: MasterKeySource,
    /// The master key file in the configuration directory (whether or not it is in use).
    key_file: PathBuf,
    /// Notices for the operator from opening (a key file moved out of the data directory).
    notices: std::sync::Mutex<Vec<String>>,
    azure: AzureContextStore,
    /// Stamps of the vault states read or written since [`LocalBackend::take_stamps`] last
    /// ran (each distinct stamp once).
    stamps: std::sync::Mutex<Vec<VaultStamp>>,
    /// Role assignments above the vaults (subscriptions, resource groups), as the service
    /// verified them: they apply, inherited, to every vault below them. `None` until the
    /// embedding installs them: creating a vault is then not checked (the library's own
    /// tests); the service always installs them, so every command is checked.
    above: std::sync::RwLock<Option<Vec<RoleAssignment>>>,
}

/// The local backend: a directory of vault files plus the Azure context.
#[derive(Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("paths", &self.inner.paths)
            .field("master_key_source", &self.inner.source)
            .finish()
    }
}

fn validate_resource_group(rg: &str) -> VaultResult<()> {
    let ok = (1..=90).contains(&rg.chars().count())
        && rg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
        && !rg.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid resource group name (1-90 letters, digits, - _ . ( ), not ending in .)",
            printable(rg)
        )))
    }
}

fn normalize_location(loc: &str) -> VaultResult<String> {
    let l: String = loc
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if (1..=64).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(l)
    } else {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid location (e.g. eastus, West Europe)",
            printable(loc)
        )))
    }
}

impl LocalBackend {
    /// Open the data directory as the cmdlets do: master key from `CUSTKEY_VAULT_KEY`,
    /// `CUSTKEY_VAULT_PASSPHRASE`, the keyring cache or the key file in the configuration directory (created on
    /// first use). `CUSTKEY_KEYRING=off` skips the keyring.
    pub fn open(data_dir: &Path) -> VaultResult<Self> {
        let opts = MasterKeyOptions::from_env()?;
        let cache = if opts.use_keyring {
            KeyringCache::open()
        } else {
            None
        };
        Self::open_with(LocalPaths::in_data_dir(data_dir), &opts, cache.as_ref())
    }

    /// Open with explicit paths, options and keyring (tests; embedding).
    pub fn open_with(
        paths: LocalPaths,
        opts: &MasterKeyOptions,
        cache: Option<&KeyringCache>,
    ) -> VaultResult<Self> {
        fsio::ensure_private_dir(&paths.data_dir)?;
        fsio::ensure_private_dir(&paths.vault_dir)?;
        let resolved = resolve_master_key(
            &MasterKeyPaths {
                kind: MasterKeyKind::Vault,
                data_dir: paths.data_dir.clone(),
                config_dir: paths.config_dir.clone(),
                vault_dir: Some(paths.vault_dir.clone()),
                in_use: false,
            },
            opts,
            cache,
        )?;
        let master = Arc::new(resolved.key);
        let azure = AzureContextStore::new(paths.azure_context.clone(), Arc::clone(&master));
        Ok(LocalBackend {
            inner: Arc::new(Inner {
                paths,
                master,
                source: resolved.source,
                key_file: resolved.key_file,
                notices: std::sync::Mutex::new(resolved.notices),
                azure,
                stamps: std::sync::Mutex::new(Vec::new()),
                above: std::sync::RwLock::new(None),
            }),
        })
    }

    /// Sets the role assignments above the vaults (subscription and resource group scopes) that
    /// this backend's checks inherit. The caller verified them.
    pub fn set_assignments_above(&self, assignments: Vec<RoleAssignment>) {
        if let Ok(mut a) = self.inner.above.write() {
            *a = Some(assignments);
        }
    }

    /// The stamps of every vault state this backend (any of its handles, local or PKCS#11)
    /// read or wrote since the last call, oldest first; the list starts empty again.
    pub fn take_stamps(&self) -> Vec<VaultStamp> {
        match self.inner.stamps.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// Where the master key came from.
    pub fn master_key_source(&self) -> MasterKeySource {
        self.inner.source
    }

    /// The master key file in the configuration directory (it exists when the key came from
    /// it or was created there).
    pub fn master_key_file(&self) -> &Path {
        &self.inner.key_file
    }

    /// The notices from opening (each given once): a key file moved out of the data directory.
    pub fn take_notices(&self) -> Vec<String> {
        match self.inner.notices.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// The files in use.
    /// Whether `caller` may do `what` (a management-plane action) on the resource group
    /// `resource_group` of the current subscription, by the role assignments above the vaults;
    /// the refusal names the role that would allow it. (Registering or removing a KMIP server
    /// is creating or removing a vault.)
    pub fn authorize_manage(
        &self,
        caller: &Caller,
        resource_group: &str,
        what: Manage,
        operation: &str,
    ) -> VaultResult<()> {
        let ctx = self.inner.azure.get_context()?;
        let group = Scope::parse(&format!(
            "/subscriptions/{}/resourceGroups/{}",
            ctx.subscription_id, resource_group
        ))?;
        let allowed = self.inner.above.read().is_ok_and(|a| match a.as_ref() {
            Some(a) => rbac::allows_manage(a, caller, &group, what),
            None => true,
        });
        if allowed {
            return Ok(());
        }
        Err(rbac::denied(
            caller,
            &format!("{} ({operation})", what.describe()),
            &group,
            rbac::role_for_manage(what),
        ))
    }

    pub fn paths(&self) -> &LocalPaths {
        &self.inner.paths
    }

    /// The Azure context (subscriptions, features, backup keys).
    pub fn azure(&self) -> &AzureContextStore {
        &self.inner.azure
    }

    /// `Set-AzContext -Subscription`.
    pub fn set_context(&self, subscription: &str) -> VaultResult<AzContextInfo> {
        self.inner.azure.set_context(subscription)
    }

    /// `Get-AzContext`.
    pub fn get_context(&self) -> VaultResult<AzContextInfo> {
        self.inner.azure.get_context()
    }

    /// `Register-AzProviderFeature -FeatureName -ProviderNamespace`.
    pub fn register_provider_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
    ) -> VaultResult<ProviderFeature> {
        self.inner
            .azure
            .register_provider_feature(feature_name, provider_namespace)
    }

    /// `Get-AzProviderFeature -FeatureName -ProviderNamespace`.
    pub fn get_provider_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
    ) -> VaultResult<ProviderFeature> {
        self.inner
            .azure
            .get_provider_feature(feature_name, provider_namespace)
    }

    /// `Register-AzResourceProvider -ProviderNamespace`.
    pub fn register_resource_provider(
        &self,
        namespace: &str,
    ) -> VaultResult<super::azure::ResourceProvider> {
        self.inner.azure.register_resource_provider(namespace)
    }

    /// `Get-AzResourceProvider -ProviderNamespace`.
    pub fn get_resource_provider(
        &self,
        namespace: &str,
    ) -> VaultResult<super::azure::ResourceProvider> {
        self.inner.azure.get_resource_provider(namespace)
    }

    fn handle(&self, name: &str) -> VaultResult<LocalVault> {
        validate_vault_name(name)?;
        Ok(LocalVault {
            inner: Arc::clone(&self.inner),
            stem: name.to_ascii_lowercase(),
            display: name.to_string(),
            holder: None,
            hsm: false,
        })
    }

    /// `New-AzKeyVault` in the current subscription. The name must be free (a vault in the
    /// removed state still holds its name until purged).
    pub fn new_key_vault(
        &self,
        caller: &Caller,
        req: &NewVaultRequest,
    ) -> VaultResult<KeyVaultInfo> {
        validate_vault_name(&req.vault_name)?;
        validate_resource_group(&req.resource_group_name)?;
        let location = normalize_location(&req.location)?;
        let retention = req
            .soft_delete_retention_in_days
            .unwrap_or(RETENTION_MAX_DAYS);
        validate_retention_days(retention)?;
        validate_tags(&req.tags)?;
        let ctx = self.inner.azure.get_context()?;
        let v = self.handle(&req.vault_name)?;
        // Creating a vault is `Microsoft.KeyVault/vaults/write` on its resource group.
        let group = Scope::parse(&format!(
            "/subscriptions/{}/resourceGroups/{}",
            ctx.subscription_id, req.resource_group_name
        ))?;
        let allowed = self.inner.above.read().is_ok_and(|a| match a.as_ref() {
            Some(a) => rbac::allows_manage(a, caller, &group, Manage::Write),
            None => true,
        });
        if !allowed {
            let e = rbac::denied(
                caller,
                &format!("{} (CreateVault)", Manage::Write.describe()),
                &group,
                rbac::role_for_manage(Manage::Write),
            );
            let _ = v.record(caller, VaultOperation::CreateVault, None, None, Err(&e));
            return Err(e);
        }
        if let Some(b) = &req.key_holder {
            // The holder must be reachable and its credentials right before a vault is bound
            // to it.
            if let Err(e) = super::key_holders().open(b).and_then(|h| h.check()) {
                let _ = v.record(caller, VaultOperation::CreateVault, None, None, Err(&e));
                return Err(e);
            }
        }
        let result = (|| {
            if !self.inner.paths.vault_dir.is_dir() {
                return Err(VaultError::Unavailable(format!(
                    "the vault directory {} is missing",
                    self.inner.paths.vault_dir.display()
                )));
            }
            let _lock = fsio::lock(&v.lock_path(), true)?;
            if v.file().exists() {
                // A removed vault past its retention is gone (the system purge); its name is free.
                let expired = v
                    .load_state()
                    .is_ok_and(|old| removal_expired(&old, Utc::now()));
                if !expired {
                    return Err(VaultError::Invalid(format!(
                        "the vault name '{}' is already in use (vault names are unique; a removed \
                         vault keeps its name until it is purged)",
                        req.vault_name
                    )));
                }
                v.retire_audit_log()?;
            }
            let mut st = VaultState {
                vault_name: req.vault_name.clone(),
                resource_group_name: req.resource_group_name.clone(),
                location,
                subscription_id: ctx.subscription_id.clone(),
                tenant_id: ctx.tenant_id.clone(),
                sku: req.sku,
                enable_soft_delete: true,
                enable_purge_protection: req.enable_purge_protection,
                soft_delete_retention_in_days: retention,
                created: Utc::now(),
                tags: req.tags.clone(),
                access_policies: Vec::new(),
                role_assignments: Vec::new(),
                enable_rbac_authorization: req.enable_rbac_authorization,
                keys: Vec::new(),
                deleted_keys: Vec::new(),
                deleted_date: None,
                holder: req.key_holder.clone(),
                managed_hsm: req.managed_hsm.clone(),
                generation: 0,
                security_domain: req
                    .managed_hsm
                    .as_ref()
                    .map(|_| SecurityDomainState::generate()),
            };
            if st.managed_hsm.is_some() {
                if st.holder.is_none() {
                    return Err(VaultError::Invalid(format!(
                        "the Managed HSM '{}' needs a PKCS#11 token to hold its keys (-Pkcs11Module, -TokenLabel)",
                        req.vault_name
                    )));
                }
                // A Managed HSM: local RBAC only, every key HSM-protected.
                st.enable_rbac_authorization = true;
                st.sku = VaultSku::Premium;
            }
            // The creator of a vault is its Owner (as Azure makes the creator of a resource).
            let scope = Scope::vault(&st.subscription_id, &st.resource_group_name, &st.vault_name);
            st.role_assignments.push(RoleAssignment::new(
                &scope,
                rbac::role("Owner")?,
                caller,
                &caller.display_name(),
            ));
            if let Some(spec) = &st.managed_hsm {
                let admin = rbac::hsm_role("Managed HSM Administrator")?;
                for a in &spec.initial_admins {
                    let p = if a.contains('@') {
                        Principal::user(a)?
                    } else {
                        Principal::object_id(a)?
                    };
                    st.role_assignments.push(RoleAssignment::new(
                        &scope,
                        admin,
                        &p,
                        &caller.display_name(),
                    ));
                }
            }
            if req.grant_caller_full_access && !st.enable_rbac_authorization {
                set_policy(&mut st.access_policies, caller, &KeyPermission::ALL);
            }
            v.save_state(&mut st)?;
            v.info(&st)
        })();
        match &result {
            Ok(_) => v.record(caller, VaultOperation::CreateVault, None, None, Ok(()))?,
            Err(e) => {
                let _ = v.record(caller, VaultOperation::CreateVault, None, None, Err(e));
            }
        }
        result
    }

    /// A handle on an existing vault (`NotFound` if there is none; the file is read once to
    /// check it opens).
    pub fn vault(&self, name: &str) -> VaultResult<LocalVault> {
        let mut v = self.handle(name)?;
        let st = v.load_state()?;
        if st.deleted_date.is_some() {
            return Err(v.deleted_vault_error());
        }
        v.holder = holder_of(&st)?;
        v.hsm = st.managed_hsm.is_some();
        v.display = st.vault_name;
        Ok(v)
    }

    /// `Get-AzKeyVault -VaultName v`.
    pub fn get_key_vault(&self, name: &str) -> VaultResult<KeyVaultInfo> {
        self.vault(name)?.properties()
    }

    fn vault_stems(&self) -> VaultResult<Vec<String>> {
        let dir = &self.inner.paths.vault_dir;
        let rd = std::fs::read_dir(dir)
            .map_err(|e| VaultError::io("cannot list the vault directory", dir, &e))?;
        let mut out: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let p = e.path();
                (p.extension().is_some_and(|x| x == "vault"))
                    .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .flatten()
            })
            .filter(|s| validate_vault_name(s).is_ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Whether any vault file (active or removed) holds a role assignment: a store is
    /// bootstrapped only when none does. A vault that cannot be read is an error.
    pub fn any_role_assignments(&self) -> VaultResult<bool> {
        if !self.inner.paths.vault_dir.is_dir() {
            return Ok(false);
        }
        for stem in self.vault_stems()? {
            if !self
                .handle(&stem)?
                .load_state()?
                .role_assignments
                .is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `Get-AzKeyVault`: every vault not in the removed state, by name.
    pub fn list_key_vaults(&self) -> VaultResult<Vec<KeyVaultInfo>> {
        let mut out = Vec::new();
        for stem in self.vault_stems()? {
            let v = self.handle(&stem)?;
            let st = v.load_state()?;
            if st.deleted_date.is_none() {
                out.push(v.info(&st)?);
            }
        }
        Ok(out)
    }

    /// `Get-AzKeyVault -InRemovedState`: removed vaults with their deletion date.
    pub fn list_removed_key_vaults(&self) -> VaultResult<Vec<(KeyVaultInfo, DateTime<Utc>)>> {
        let mut out = Vec::new();
        for stem in self.vault_stems()? {
            let v = self.handle(&stem)?;
            let st = v.load_state()?;
            match st.deleted_date {
                Some(d) if !removal_expired(&st, Utc::now()) => out.push((v.info(&st)?, d)),
                _ => {}
            }
        }
        Ok(out)
    }

    /// `Update-AzKeyVault -EnablePurgeProtection` (it cannot be turned off again) and `-Tag`.
    pub fn update_key_vault(
        &self,
        caller: &Caller,
        name: &str,
        enable_purge_protection: bool,
        tags: Option<BTreeMap<String, String>>,
    ) -> VaultResult<KeyVaultInfo> {
        let v = self.handle(name)?;
        v.run(
            Op::manage(caller, VaultOperation::UpdateVault, Manage::Write),
            |_, st| {
                if enable_purge_protection {
                    st.enable_purge_protection = true;
                }
                if let Some(t) = &tags {
                    validate_tags(t)?;
                    st.tags = t.clone();
                }
                Ok(((), None))
            },
        )?;
        self.get_key_vault(name)
    }

    /// `Remove-AzKeyVault`: the vault goes to the removed state with its keys; its name stays
    /// taken until it is purged.
    pub fn remove_key_vault(&self, caller: &Caller, name: &str) -> VaultResult<()> {
        let v = self.handle(name)?;
        v.run(
            Op::manage(caller, VaultOperation::RemoveVault, Manage::Write),
            |ctx, st| {
                st.deleted_date = Some(ctx.now);
                Ok(((), None))
            },
        )
    }

    /// `Undo-AzKeyVaultRemoval`.
    pub fn undo_remove_key_vault(&self, caller: &Caller, name: &str) -> VaultResult<KeyVaultInfo> {
        let v = self.handle(name)?;
        let mut op = Op::manage(caller, VaultOperation::RecoverVault, Manage::Write);
        op.vault_state = VaultPhase::Removed;
        v.run(op, |_, st| {
            st.deleted_date = None;
            Ok(((), None))
        })?;
        self.get_key_vault(name)
    }

    /// `Remove-AzKeyVault -InRemovedState`: delete a removed vault for good. Refused under purge
    /// protection or a protected subscription. The audit log is kept, renamed.
    pub fn purge_key_vault(&self, caller: &Caller, name: &str) -> VaultResult<()> {
        let v = self.handle(name)?;
        let mut op = Op::manage(caller, VaultOperation::PurgeVault, Manage::Write);
        op.vault_state = VaultPhase::Removed;
        op.write = false;
        v.run(op, |ctx, st| {
            if !ctx.level.purge_allowed() {
                return Err(VaultError::Invalid(format!(
                    "vault '{}' cannot be purged: its recovery level is {} ({})",
                    st.vault_name,
                    ctx.level,
                    purge_refusal_reason(st, ctx.level)
                )));
            }
            // A purged vault with a key holder takes its keys' objects with it (except those a
            // backup still refers to).
            if let Some(h) = holder_of(st)? {
                for k in st.keys.iter().chain(st.deleted_keys.iter().map(|d| &d.key)) {
                    destroy_held_objects(h.as_ref(), k)?;
                }
            }
            std::fs::remove_file(v.file())
                .map_err(|e| VaultError::io("cannot remove", &v.file(), &e))?;
            Ok(((), None))
        })?;
        v.retire_audit_log()
    }
}

impl LocalBackend {
    /// The engine handle of a vault of this directory, local or PKCS#11 (`Ok(None)` if there is
    /// no file of that name).
    pub(crate) fn open_engine(&self, name: &str) -> VaultResult<Option<LocalVault>> {
        if validate_vault_name(name).is_err() {
            return Ok(None);
        }
        let h = self.handle(name)?;
        if !self.inner.paths.vault_dir.is_dir() {
            return Err(VaultError::Unavailable(format!(
                "the vault directory {} is missing",
                self.inner.paths.vault_dir.display()
            )));
        }
        if !h.file().exists() {
            return Ok(None);
        }
        Ok(Some(self.vault(name)?))
    }
}

impl VaultProvider for LocalBackend {
    /// Local vaults only: a vault of the same directory whose keys live in a key holder is
    /// answered by that holder's provider.
    fn open_vault(&self, name: &str) -> VaultResult<Option<Arc<dyn KeyVault>>> {
        match self.open_engine(name)? {
            Some(v) if v.holder.is_none() => Ok(Some(Arc::new(v))),
            _ => Ok(None),
        }
    }
}

/// An RBAC vault has no access policies to set (Azure answers the same way).
fn refuse_policies_on_rbac(st: &VaultState) -> VaultResult<()> {
    if st.enable_rbac_authorization {
        return Err(VaultError::Invalid(format!(
            "vault '{}' uses Azure role-based access control (EnableRbacAuthorization): access policies \
             do not apply to it; grant a role instead, e.g. New-AzRoleAssignment -ApplicationId \
             <app id> -RoleDefinitionName 'Key Vault Crypto Service Encryption User' -Scope {}",
            st.vault_name,
            LocalVault::scope(st)
        )));
    }
    Ok(())
}

/// A removed vault whose retention has run out counts as purged.
fn removal_expired(st: &VaultState, now: DateTime<Utc>) -> bool {
    st.deleted_date
        .is_some_and(|d| d + Duration::days(i64::from(st.soft_delete_retention_in_days)) <= now)
}

fn purge_refusal_reason(st: &VaultState, level: RecoveryLevel) -> &'static str {
    match level {
        RecoveryLevel::RecoverableProtectedSubscription
        | RecoveryLevel::CustomizedRecoverableProtectedSubscription => {
            "the subscription is protected by mandatory retention (Microsoft.Resources/mandatoryRetentionPeriodEnabled)"
        }
        _ if st.enable_purge_protection => "purge protection is enabled",
        _ => "purge is not permitted",
    }
}

// ---------------------------------------------------------------------------------------------
// One vault

/// A vault of the local backend.
#[derive(Clone)]
pub struct LocalVault {
    inner: Arc<Inner>,
    stem: String,
    display: String,
    /// The key holder of a vault whose keys live outside its file, as read when the handle
    /// was opened.
    holder: Option<Arc<dyn KeyHolder>>,
    /// A Managed HSM, as read when the handle was opened.
    hsm: bool,
}

impl std::fmt::Debug for LocalVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVault")
            .field("name", &self.display)
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VaultPhase {
    Active,
    Removed,
}

struct Op<'a> {
    caller: &'a Caller,
    op: VaultOperation,
    key: Option<&'a str>,
    version: Option<&'a str>,
    perm: Option<KeyPermission>,
    manage: Option<Manage>,
    write: bool,
    vault_state: VaultPhase,
}

impl<'a> Op<'a> {
    fn key(
        caller: &'a Caller,
        op: VaultOperation,
        perm: KeyPermission,
        key: Option<&'a str>,
        write: bool,
    ) -> Self {
        Op {
            caller,
            op,
            key,
            version: None,
            perm: Some(perm),
            manage: None,
            write,
            vault_state: VaultPhase::Active,
        }
    }
    fn manage(caller: &'a Caller, op: VaultOperation, manage: Manage) -> Self {
        Op {
            caller,
            op,
            key: None,
            version: None,
            perm: None,
            manage: Some(manage),
            write: true,
            vault_state: VaultPhase::Active,
        }
    }
    fn version(mut self, v: Option<&'a str>) -> Self {
        self.version = v;
        self
    }
}

struct Ctx {
    now: DateTime<Utc>,
    level: RecoveryLevel,
}

fn find_key<'s>(st: &'s VaultState, name: &str) -> VaultResult<&'s StoredKey> {
    validate_key_name(name)?;
    st.keys
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| key_not_found(st, name))
}

fn find_key_mut<'s>(st: &'s mut VaultState, name: &str) -> VaultResult<&'s mut StoredKey> {
    validate_key_name(name)?;
    let err = key_not_found(st, name);
    st.keys
        .iter_mut()
        .find(|k| k.name.eq_ignore_ascii_case(name))
        .ok_or(err)
}

fn key_not_found(st: &VaultState, name: &str) -> VaultError {
    let deleted = st
        .deleted_keys
        .iter()
        .any(|d| d.key.name.eq_ignore_ascii_case(name));
    VaultError::NotFound(format!(
        "key '{}' was not found in vault '{}'{}",
        printable(name),
        st.vault_name,
        if deleted {
            " (it is deleted: see -InRemovedState, Undo-AzKeyVaultKeyRemoval)"
        } else {
            ""
        }
    ))
}

fn deleted_index(st: &VaultState, name: &str) -> VaultResult<usize> {
    validate_key_name(name)?;
    st.deleted_keys
        .iter()
        .position(|d| d.key.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            VaultError::NotFound(format!(
                "no deleted key named '{}' in vault '{}' (only a deleted key can be recovered or purged)",
                printable(name),
                st.vault_name
            ))
        })
}

fn pick_version<'k>(
    k: &'k StoredKey,
    version: Option<&str>,
    vault: &str,
) -> VaultResult<&'k StoredVersion> {
    match version {
        None => k.versions.last().ok_or_else(|| {
            VaultError::NotFound(format!(
                "key '{}' in vault '{vault}' has no versions",
                k.name
            ))
        }),
        Some(v) => {
            validate_version(v)?;
            k.versions.iter().find(|x| x.version == v).ok_or_else(|| {
                VaultError::NotFound(format!(
                    "key '{}' in vault '{vault}' has no version {v}",
                    k.name
                ))
            })
        }
    }
}

fn check_usable(
    v: &StoredVersion,
    op: KeyOperation,
    now: DateTime<Utc>,
    key: &str,
    vault: &str,
) -> VaultResult<()> {
    let what = format!("key '{key}' version {} in vault '{vault}'", v.version);
    if !v.enabled {
        return Err(VaultError::KeyDisabled(format!("{what} is disabled")));
    }
    if let Some(exp) = v.expires {
        if now >= exp {
            return Err(VaultError::KeyExpired(format!(
                "{what} expired at {}",
                exp.to_rfc3339()
            )));
        }
    }
    if let Some(nbf) = v.not_before {
        if now < nbf {
            return Err(VaultError::KeyExpired(format!(
                "{what} is not valid before {}",
                nbf.to_rfc3339()
            )));
        }
    }
    if !v.key_ops.contains(&op) {
        return Err(VaultError::AccessDenied(format!(
            "{what} does not permit the operation '{op}' (its KeyOps are {})",
            v.key_ops
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

fn check_validity_window(
    expires: Option<DateTime<Utc>>,
    not_before: Option<DateTime<Utc>>,
) -> VaultResult<()> {
    if let (Some(e), Some(n)) = (expires, not_before) {
        if e <= n {
            return Err(VaultError::Invalid(format!(
                "Expires ({}) must be later than NotBefore ({})",
                e.to_rfc3339(),
                n.to_rfc3339()
            )));
        }
    }
    Ok(())
}

fn validate_tags(tags: &BTreeMap<String, String>) -> VaultResult<()> {
    if tags.len() > 15 {
        return Err(VaultError::Invalid("at most 15 tags".to_string()));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 512 || v.chars().count() > 256 {
            return Err(VaultError::Invalid(format!(
                "tag '{}' is invalid (name 1-512 characters, value up to 256)",
                printable(k)
            )));
        }
    }
    Ok(())
}

/// The key material of a new version: a software key (local vaults) or token objects just
/// generated (PKCS#11 vaults).
enum NewMaterial<'a> {
    Software(&'a RsaPrivateKey),
    Token {
        version: String,
        public_der: Vec<u8>,
        key_size: usize,
        token: HeldKeyRef,
    },
}

fn new_stored_version(
    material: &NewMaterial<'_>,
    req: &NewKeyRequest,
    now: DateTime<Utc>,
) -> StoredVersion {
    let (version, key_size, public_der, private_pkcs8, token) = match material {
        NewMaterial::Software(private) => (
            new_version(),
            private.bits(),
            hex::encode(private.public_key().to_der()),
            Some(SecretBytes(private.to_pkcs8_der())),
            None,
        ),
        NewMaterial::Token {
            version,
            public_der,
            key_size,
            token,
        } => (
            version.clone(),
            *key_size,
            hex::encode(public_der),
            None,
            Some(token.clone()),
        ),
    };
    StoredVersion {
        version,
        created: now,
        updated: now,
        enabled: req.enabled,
        expires: req.expires,
        not_before: req.not_before,
        key_ops: req
            .key_ops
            .clone()
            .unwrap_or_else(|| KeyOperation::RSA_DEFAULT.to_vec()),
        tags: req.tags.clone(),
        destination: req.destination,
        key_size,
        public_der,
        private_pkcs8,
        token,
        wrapped_private: None,
    }
}

fn damaged_version(key: &str, vault: &str) -> VaultError {
    VaultError::Damaged(format!(
        "the stored key '{key}' in vault '{vault}' is damaged (no key material for this backend)"
    ))
}

/// Destroy the held objects of a purged key's versions, except those a backup still refers to.
fn destroy_held_objects(h: &dyn KeyHolder, key: &StoredKey) -> VaultResult<()> {
    for v in &key.versions {
        if let Some(t) = v.token.as_ref().filter(|t| !t.pinned) {
            h.destroy(t)?;
        }
    }
    Ok(())
}

/// The key holder a vault's state names (`None`: keys sealed in the file).
fn holder_of(st: &VaultState) -> VaultResult<Option<Arc<dyn KeyHolder>>> {
    st.holder
        .as_ref()
        .map(|b| super::key_holders().open(b))
        .transpose()
}

impl LocalVault {
    fn require_hsm_admin(&self, st: &VaultState, caller: &Caller, what: &str) -> VaultResult<()> {
        if st.managed_hsm.is_none() {
            return Err(VaultError::Invalid(format!(
                "'{}' is a key vault: security domains belong to Managed HSMs",
                st.vault_name
            )));
        }
        let scope = Self::scope(st);
        let admin = self.assignments(st).into_iter().any(|a| {
            a.role()
                .is_some_and(|r| r.is_hsm_local() && r.name == "Managed HSM Administrator")
                && a.applies(caller, &scope).is_some()
        });
        if admin {
            return Ok(());
        }
        Err(VaultError::AccessDenied(format!(
            "{} is not a Managed HSM Administrator of '{}': only its administrators may {what} \
             (New-AzKeyVaultManagedHsm -Administrator, or New-AzKeyVaultRoleAssignment -HsmName \
             {} -RoleDefinitionName 'Managed HSM Administrator' -Scope /)",
            caller.display_name(),
            st.vault_name,
            st.vault_name
        )))
    }

    fn domain_op(caller: &Caller, op: VaultOperation) -> Op<'_> {
        Op {
            caller,
            op,
            key: None,
            version: None,
            perm: None,
            manage: None,
            write: true,
            vault_state: VaultPhase::Active,
        }
    }

    /// `Export-AzKeyVaultSecurityDomain`: the HSM's domain key split among `certificates`
    /// (`quorum` of them open it); the first download activates the HSM. Needs the local role
    /// Managed HSM Administrator.
    pub fn export_security_domain(
        &self,
        caller: &Caller,
        certificates: &[crate::crypto::security_domain::DomainCertificate],
        quorum: usize,
    ) -> VaultResult<Vec<u8>> {
        let op = Self::domain_op(caller, VaultOperation::ExportSecurityDomain);
        self.run(op, |ctx, st| {
            self.require_hsm_admin(st, caller, "download its security domain")?;
            let name = st.vault_name.clone();
            let sd = st
                .security_domain
                .get_or_insert_with(SecurityDomainState::generate);
            let file = crate::crypto::security_domain::export(
                &sd.key()?,
                &name,
                &sd.domain_id,
                &ctx.now.to_rfc3339(),
                certificates,
                quorum,
            )
            .map_err(|e| VaultError::Invalid(e.0))?;
            if sd.activated.is_none() {
                sd.activated = Some(ctx.now);
            }
            Ok((file, None))
        })
    }

    /// `Import-AzKeyVaultSecurityDomain`: opens `file` with a quorum of `keys` and makes its
    /// domain this HSM's (a new HSM, not yet activated, or one already holding that domain);
    /// returns the domain id. Needs the local role Managed HSM Administrator.
    pub fn import_security_domain(
        &self,
        caller: &Caller,
        file: &[u8],
        keys: &[(
            crate::crypto::security_domain::DomainCertificate,
            Zeroizing<Vec<u8>>,
        )],
    ) -> VaultResult<String> {
        let op = Self::domain_op(caller, VaultOperation::ImportSecurityDomain);
        self.run(op, |ctx, st| {
            self.require_hsm_admin(st, caller, "upload a security domain")?;
            let (_, key) =
                crate::crypto::security_domain::open_domain(file, keys).map_err(|e| {
                    VaultError::Invalid(format!("the security domain was not imported: {e}"))
                })?;
            let id = crate::crypto::security_domain::domain_fingerprint(&key);
            if let Some(sd) = st
                .security_domain
                .as_ref()
                .filter(|d| d.activated.is_some())
            {
                if sd.domain_id == id {
                    return Ok((id, None));
                }
                return Err(VaultError::Invalid(format!(
                    "Managed HSM '{}' is already activated with security domain {}; a security \
                     domain is imported into a new Managed HSM that has not been activated \
                     (New-AzKeyVaultManagedHsm, then Import-AzKeyVaultSecurityDomain)",
                    st.vault_name, sd.domain_id
                )));
            }
            st.security_domain = Some(SecurityDomainState {
                domain_id: id.clone(),
                key: SecretBytes(Zeroizing::new(key.expose().to_vec())),
                activated: Some(ctx.now),
            });
            Ok((id, None))
        })
    }

    /// The vault's scope (`/subscriptions/.../vaults/{name}`).
    pub fn vault_scope(&self) -> VaultResult<Scope> {
        self.dir_check()?;
        let _lock = fsio::lock(&self.lock_path(), false)?;
        Ok(Self::scope(&self.load_state()?))
    }

    /// `New-AzRoleAssignment` at this vault's scope or one of its keys' (`Manage::Authorize`
    /// needed at `scope`). An identical assignment is refused, as Azure answers 409.
    pub fn add_role_assignment(
        &self,
        caller: &Caller,
        scope: &Scope,
        role: &'static rbac::RoleDefinition,
        principal: &Principal,
    ) -> VaultResult<RoleAssignment> {
        let mut op = Op::manage(caller, VaultOperation::NewRoleAssignment, Manage::Authorize);
        op.key = scope.key.as_deref();
        self.run(op, |_, st| {
            let own = Self::scope(st);
            if !own.covers(scope) || scope.vault.is_none() {
                return Err(VaultError::Invalid(format!(
                    "the scope {scope} is not in vault '{}'",
                    st.vault_name
                )));
            }
            if let Some(k) = &scope.key {
                find_key(st, k)?;
            }
            let exists = st.role_assignments.iter().any(|a| {
                a.principal.same_as(principal)
                    && a.role_definition_id.eq_ignore_ascii_case(role.id)
                    && Scope::parse(&a.scope)
                        .is_ok_and(|s| s == *scope || (s.covers(scope) && scope.covers(&s)))
            });
            if exists {
                return Err(VaultError::Invalid(format!(
                    "the role assignment already exists: {} holds '{}' at {scope}",
                    principal.display_name(),
                    role.name
                )));
            }
            let a = RoleAssignment::new(scope, role, principal, &caller.display_name());
            st.role_assignments.push(a.clone());
            Ok((a, None))
        })
    }

    /// `Remove-AzRoleAssignment`: the assignments of this vault that `matches` selects
    /// (`Manage::Authorize` needed). `NotFound` when none does.
    pub fn remove_role_assignments(
        &self,
        caller: &Caller,
        key: Option<&str>,
        matches: &dyn Fn(&RoleAssignment) -> bool,
    ) -> VaultResult<Vec<RoleAssignment>> {
        let mut op = Op::manage(
            caller,
            VaultOperation::RemoveRoleAssignment,
            Manage::Authorize,
        );
        op.key = key;
        self.run(op, |_, st| {
            let (gone, kept): (Vec<_>, Vec<_>) =
                st.role_assignments.drain(..).partition(|a| matches(a));
            st.role_assignments = kept;
            if gone.is_empty() {
                return Err(VaultError::NotFound(format!(
                    "vault '{}' has no such role assignment",
                    st.vault_name
                )));
            }
            Ok((gone, None))
        })
    }

    /// `Get-AzRoleAssignment`: this vault's role assignments (`Manage::Read` needed).
    pub fn role_assignments(&self, caller: &Caller) -> VaultResult<Vec<RoleAssignment>> {
        self.dir_check()?;
        let _lock = fsio::lock(&self.lock_path(), false)?;
        let st = self.load_state()?;
        self.authorize_manage(&st, caller, Manage::Read, "GetRoleAssignment")
            .or_else(|e| {
                // Anyone who may use the keys may see who else may.
                if st.enable_rbac_authorization
                    && rbac::allows_key(
                        &self.assignments(&st),
                        caller,
                        &Self::scope(&st),
                        KeyPermission::Get,
                    )
                {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        Ok(st.role_assignments.clone())
    }

    /// The binding of the key holder of a vault whose keys live outside its file (`None` for
    /// a local vault).
    pub fn holder_binding(&self) -> Option<HolderBinding> {
        self.holder.as_ref().map(|h| h.binding())
    }

    fn file(&self) -> PathBuf {
        self.inner
            .paths
            .vault_dir
            .join(format!("{}.vault", self.stem))
    }
    fn lock_path(&self) -> PathBuf {
        self.inner
            .paths
            .vault_dir
            .join(format!("{}.lock", self.stem))
    }
    fn audit_path(&self) -> PathBuf {
        self.inner
            .paths
            .vault_dir
            .join(format!("{}.audit.jsonl", self.stem))
    }

    fn audit(&self) -> AuditLog {
        AuditLog::chained(self.audit_path(), Arc::clone(&self.inner.master))
    }

    /// Check the chain of this vault's audit log: a record altered, inserted or removed (other
    /// than at the very end) makes it not intact.
    pub fn verify_audit_log(&self) -> VaultResult<AuditVerification> {
        self.dir_check()?;
        self.audit().verify()
    }

    /// Keep a purged vault's audit log under a dated name, so a new vault of the same name
    /// starts a fresh log.
    fn retire_audit_log(&self) -> VaultResult<()> {
        let audit = self.audit_path();
        if !audit.exists() {
            return Ok(());
        }
        let kept = audit.with_extension(format!(
            "purged-{}.jsonl",
            Utc::now().format("%Y%m%dT%H%M%S%.fZ")
        ));
        std::fs::rename(&audit, &kept).map_err(|e| VaultError::io("cannot rename", &audit, &e))
    }

    fn deleted_vault_error(&self) -> VaultError {
        VaultError::NotFound(format!(
            "vault '{}' is in the removed state (Undo-AzKeyVaultRemoval recovers it)",
            self.display
        ))
    }

    fn dir_check(&self) -> VaultResult<()> {
        let d = &self.inner.paths.vault_dir;
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(VaultError::Unavailable(format!(
                "the vault directory {} is not a directory",
                d.display()
            ))),
            Err(e) => Err(VaultError::io(
                "the vault directory is not reachable:",
                d,
                &e,
            )),
        }
    }

    fn load_state(&self) -> VaultResult<VaultState> {
        self.dir_check()?;
        let path = self.file();
        if let Ok(m) = std::fs::metadata(&path) {
            if m.len() > MAX_VAULT_FILE_BYTES {
                return Err(VaultError::Damaged(format!(
                    "the vault file {} is {} bytes, more than a vault can be ({MAX_VAULT_FILE_BYTES}); \
                     it is damaged or not a vault file",
                    path.display(),
                    m.len()
                )));
            }
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NotFound(format!(
                    "vault '{}' does not exist",
                    self.display
                )))
            }
            Err(e) => return Err(VaultError::io("cannot read the vault file", &path, &e)),
        };
        let corrupt = |why: &str| {
            VaultError::Damaged(format!(
                "the vault file {} is damaged or was altered ({why}); it was left unchanged. \
                 Restore it from a copy",
                path.display()
            ))
        };
        let env: Envelope =
            serde_json::from_slice(&bytes).map_err(|_| corrupt("not a complete vault file"))?;
        if env.format != VAULT_FORMAT || env.version != VAULT_FORMAT_VERSION {
            return Err(corrupt("unknown format or version"));
        }
        if env.vault != self.stem {
            return Err(corrupt("it belongs to another vault name"));
        }
        let check = hex::decode(&env.key_check).map_err(|_| corrupt("key check is not hex"))?;
        let key_ok = crate::crypto::open(&self.inner.master, KEYCHECK_AAD, &check)
            .is_ok_and(|t| t.as_slice() == KEYCHECK_TEXT);
        if !key_ok {
            return Err(VaultError::Authentication(format!(
                "the vault file {} was sealed under a different master key (wrong \
                 CUSTKEY_VAULT_KEY, passphrase or key file?)",
                path.display()
            )));
        }
        let sealed = hex::decode(&env.payload).map_err(|_| corrupt("payload is not hex"))?;
        let plain = crate::crypto::open(&self.inner.master, &payload_aad(&self.stem), &sealed)
            .map_err(|_| corrupt("integrity check failed"))?;
        let st = serde_json::from_slice::<VaultState>(&plain)
            .map_err(|_| corrupt("unreadable contents"))?;
        self.note_stamp(&st, &sealed);
        Ok(st)
    }

    fn note_stamp(&self, st: &VaultState, sealed: &[u8]) {
        let stamp = VaultStamp {
            vault: st.vault_name.clone(),
            id: format!("{}@{}", self.stem, st.created.timestamp_micros()),
            generation: st.generation,
            seal: seal_fingerprint(sealed),
        };
        let mut g = match self.inner.stamps.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !g.contains(&stamp) {
            g.push(stamp);
        }
    }

    /// Writes the state as its next generation.
    fn save_state(&self, st: &mut VaultState) -> VaultResult<()> {
        st.generation += 1;
        let plain = secret_json(st)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the vault: {e}")))?;
        let seal_err = |e: crate::crypto::CryptoError| {
            VaultError::Unavailable(format!("cannot seal the vault: {e:?}"))
        };
        let check = crate::crypto::seal(&self.inner.master, KEYCHECK_AAD, KEYCHECK_TEXT)
            .map_err(seal_err)?;
        let sealed = crate::crypto::seal(&self.inner.master, &payload_aad(&self.stem), &plain)
            .map_err(seal_err)?;
        let env = Envelope {
            format: VAULT_FORMAT.to_string(),
            version: VAULT_FORMAT_VERSION,
            vault: self.stem.clone(),
            key_check: hex::encode(check),
            payload: hex::encode(&sealed),
        };
        let bytes = serde_json::to_vec(&env)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the vault: {e}")))?;
        fsio::write_atomic(&self.file(), &bytes)?;
        self.note_stamp(st, &sealed);
        Ok(())
    }

    fn level(&self, st: &VaultState) -> VaultResult<RecoveryLevel> {
        let protected = self
            .inner
            .azure
            .is_subscription_protected(&st.subscription_id)?;
        Ok(RecoveryLevel::derive(
            st.enable_soft_delete,
            st.enable_purge_protection,
            protected,
            st.soft_delete_retention_in_days,
        ))
    }

    fn info(&self, st: &VaultState) -> VaultResult<KeyVaultInfo> {
        Ok(KeyVaultInfo {
            vault_name: st.vault_name.clone(),
            resource_id: format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/{}/{}",
                st.subscription_id,
                st.resource_group_name,
                if st.managed_hsm.is_some() {
                    "managedHSMs"
                } else {
                    "vaults"
                },
                st.vault_name
            ),
            resource_group_name: st.resource_group_name.clone(),
            location: st.location.clone(),
            vault_uri: container_uri(&st.vault_name, st.managed_hsm.is_some()),
            subscription_id: st.subscription_id.clone(),
            tenant_id: st.tenant_id.clone(),
            sku: st.sku,
            enable_soft_delete: st.enable_soft_delete,
            enable_purge_protection: st.enable_purge_protection,
            soft_delete_retention_in_days: st.soft_delete_retention_in_days,
            recovery_level: self.level(st)?,
            access_policies: st
                .access_policies
                .iter()
                .map(AccessPolicyEntry::from)
                .collect(),
            tags: st.tags.clone(),
            backend: backend_name(st)?.to_string(),
            created: st.created,
            enable_rbac_authorization: st.enable_rbac_authorization,
            role_assignments: {
                let own = Self::scope(st);
                self.assignments(st)
                    .into_iter()
                    .filter(|a| {
                        Scope::parse(&a.scope).is_ok_and(|s| s.covers(&own) || own.covers(&s))
                    })
                    .collect()
            },
            managed_hsm: st.managed_hsm.clone(),
            security_domain: st.managed_hsm.as_ref().map(|_| {
                let sd = st.security_domain.as_ref();
                match sd.and_then(|d| d.activated) {
                    Some(when) => SecurityDomainInfo {
                        activation_status: "Active".into(),
                        activation_status_message: format!(
                            "The security domain was downloaded or imported on {}; the HSM is ready to use.",
                            when.format("%Y-%m-%d %H:%M UTC")
                        ),
                        domain_id: sd.map(|d| d.domain_id.clone()).unwrap_or_default(),
                    },
                    None => SecurityDomainInfo {
                        activation_status: "NotActivated".into(),
                        activation_status_message: format!(
                            "Download the security domain to activate the HSM: Export-AzKeyVaultSecurityDomain -Name {} -Certificates a.cer,b.cer,c.cer -Quorum 2 -OutputPath sd.json",
                            st.vault_name
                        ),
                        domain_id: String::new(),
                    },
                }
            }),
        })
    }

    fn output(
        &self,
        st: &VaultState,
        level: RecoveryLevel,
        key_name: &str,
        v: &StoredVersion,
    ) -> VaultResult<KeyVaultKey> {
        let damaged = || {
            VaultError::Damaged(format!(
                "the stored public key of '{key_name}' in vault '{}' is damaged",
                st.vault_name
            ))
        };
        let der = hex::decode(&v.public_der).map_err(|_| damaged())?;
        let public = RsaPublicKey::from_der(&der).map_err(|_| damaged())?;
        let id = key_id_string_in(
            &st.vault_name,
            st.managed_hsm.is_some(),
            key_name,
            Some(&v.version),
        );
        let kty = v.destination.key_type().to_string();
        Ok(KeyVaultKey {
            vault_name: st.vault_name.clone(),
            name: key_name.to_string(),
            version: v.version.clone(),
            id: id.clone(),
            enabled: v.enabled,
            expires: v.expires,
            not_before: v.not_before,
            created: v.created,
            updated: v.updated,
            recovery_level: level,
            recoverable_days: st.soft_delete_retention_in_days,
            key_type: kty.clone(),
            key_size: v.key_size,
            key_ops: v.key_ops.clone(),
            tags: v.tags.clone(),
            attributes: KeyAttributes {
                enabled: v.enabled,
                expires: v.expires,
                not_before: v.not_before,
                key_type: kty.clone(),
                key_ops: v.key_ops.clone(),
                created: v.created,
                updated: v.updated,
                recovery_level: level,
                recoverable_days: st.soft_delete_retention_in_days,
                tags: v.tags.clone(),
            },
            key: JsonWebKey {
                kid: id,
                kty,
                key_ops: v.key_ops.clone(),
                n: base64url(&public.modulus_be()),
                e: base64url(&public.exponent_be()),
            },
            public_key_der: der,
        })
    }

    fn latest_output(
        &self,
        st: &VaultState,
        level: RecoveryLevel,
        k: &StoredKey,
    ) -> VaultResult<KeyVaultKey> {
        let v = pick_version(k, None, &st.vault_name)?;
        self.output(st, level, &k.name, v)
    }

    fn deleted_output(
        &self,
        st: &VaultState,
        level: RecoveryLevel,
        d: &StoredDeletedKey,
    ) -> VaultResult<DeletedKeyVaultKey> {
        Ok(DeletedKeyVaultKey {
            key: self.latest_output(st, level, &d.key)?,
            recovery_id: deleted_key_id_string(
                &st.vault_name,
                st.managed_hsm.is_some(),
                &d.key.name,
            ),
            deleted_date: d.deleted_date,
            scheduled_purge_date: d.scheduled_purge_date,
        })
    }

    /// The vault's scope.
    fn scope(st: &VaultState) -> Scope {
        Scope::vault(&st.subscription_id, &st.resource_group_name, &st.vault_name)
    }

    /// The role assignments that may apply here: the vault's own and those above it.
    fn assignments(&self, st: &VaultState) -> Vec<RoleAssignment> {
        let mut all = st.role_assignments.clone();
        if let Ok(a) = self.inner.above.read() {
            all.extend(a.iter().flatten().cloned());
        }
        all
    }

    /// A key operation: the access policy of an access-policy vault, the caller's roles at
    /// the key's scope (or above) in an RBAC vault.
    fn authorize_key(
        &self,
        st: &VaultState,
        caller: &Caller,
        perm: KeyPermission,
        key: Option<&str>,
    ) -> VaultResult<()> {
        if !st.enable_rbac_authorization {
            return if is_granted(&st.access_policies, caller, perm) {
                Ok(())
            } else {
                Err(denied(caller, perm, &st.vault_name))
            };
        }
        let vault = Self::scope(st);
        let target = match key {
            Some(k) if validate_key_name(k).is_ok() => vault.with_key(k),
            _ => vault.clone(),
        };
        // A Managed HSM's keys answer to its local roles only, a vault's to the Key Vault
        // roles only (as in Azure, where neither kind of role reaches the other's data plane).
        let hsm = st.managed_hsm.is_some();
        let assignments: Vec<RoleAssignment> = self
            .assignments(st)
            .into_iter()
            .filter(|a| a.role().is_some_and(|r| r.is_hsm_local() == hsm))
            .collect();
        if rbac::allows_key(&assignments, caller, &target, perm) {
            return Ok(());
        }
        if hsm {
            return Err(rbac::denied_hsm(caller, perm, &st.vault_name, key));
        }
        Err(rbac::denied(
            caller,
            &format!("{perm} keys (RBAC vault '{}')", st.vault_name),
            &target,
            rbac::role_for_key(perm),
        ))
    }

    /// A management operation: the caller's roles at the vault's scope or above.
    fn authorize_manage(
        &self,
        st: &VaultState,
        caller: &Caller,
        m: Manage,
        op: &str,
    ) -> VaultResult<()> {
        let target = Self::scope(st);
        if rbac::allows_manage(&self.assignments(st), caller, &target, m) {
            return Ok(());
        }
        Err(rbac::denied(
            caller,
            &format!("{} ({op})", m.describe()),
            &target,
            rbac::role_for_manage(m),
        ))
    }

    fn record(
        &self,
        caller: &Caller,
        op: VaultOperation,
        key: Option<&str>,
        version: Option<&str>,
        outcome: Result<(), &VaultError>,
    ) -> VaultResult<()> {
        let rec = AuditRecord::new(&self.display, caller, op, key, version, outcome);
        self.audit().append(&rec)
    }

    /// Run one operation: lock, load, check the vault phase and the caller's permission, apply
    /// `f`, save if it changes state, and audit the outcome. Nothing is written on failure.
    fn run<T>(
        &self,
        op: Op<'_>,
        f: impl FnOnce(&Ctx, &mut VaultState) -> VaultResult<(T, Option<String>)>,
    ) -> VaultResult<T> {
        let result = (|| {
            self.dir_check()?;
            let _lock = fsio::lock(&self.lock_path(), op.write)?;
            let mut st = self.load_state()?;
            match (op.vault_state, st.deleted_date.is_some()) {
                (VaultPhase::Active, true) => return Err(self.deleted_vault_error()),
                (VaultPhase::Removed, false) => {
                    return Err(VaultError::NotFound(format!(
                        "vault '{}' is not in the removed state",
                        st.vault_name
                    )))
                }
                (VaultPhase::Removed, true) if removal_expired(&st, Utc::now()) => {
                    return Err(VaultError::NotFound(format!(
                        "vault '{}' was purged automatically at the end of its retention",
                        st.vault_name
                    )))
                }
                _ => {}
            }
            if let Some(p) = op.perm {
                self.authorize_key(&st, op.caller, p, op.key)?;
                require_activated(&st)?;
            }
            if let Some(m) = op.manage {
                self.authorize_manage(&st, op.caller, m, op.op.as_str())?;
            }
            let ctx = Ctx {
                now: Utc::now(),
                level: self.level(&st)?,
            };
            // Deleted keys past their scheduled purge date are gone (the system purge). In a
            // key holder their objects go too (best effort: a failure leaves labelled objects).
            let expired = st
                .deleted_keys
                .iter()
                .filter(|d| d.scheduled_purge_date <= ctx.now);
            if let (Some(h), true) = (holder_of(&st)?, expired.clone().next().is_some()) {
                for d in expired {
                    let _ = destroy_held_objects(h.as_ref(), &d.key);
                }
            }
            st.deleted_keys.retain(|d| d.scheduled_purge_date > ctx.now);
            let out = f(&ctx, &mut st)?;
            if op.write {
                self.save_state(&mut st)?;
            }
            Ok(out)
        })();
        match result {
            Ok((out, version)) => {
                self.record(
                    op.caller,
                    op.op,
                    op.key,
                    version.as_deref().or(op.version),
                    Ok(()),
                )?;
                Ok(out)
            }
            Err(e) => {
                // Best effort: an unreachable vault may not take an audit record either.
                let _ = self.record(op.caller, op.op, op.key, op.version, Err(&e));
                Err(e)
            }
        }
    }

    /// Before a new version is made: validate the request (`check` adds what the operation
    /// needs), then check the caller's permission, so that neither bad input nor an unauthorized
    /// caller costs a key generation. A refusal is audited.
    fn precheck<T>(
        &self,
        caller: &Caller,
        op: VaultOperation,
        perm: KeyPermission,
        req: &NewKeyRequest,
        check: impl FnOnce() -> VaultResult<T>,
    ) -> VaultResult<(T, Option<Arc<dyn KeyHolder>>)> {
        let r = validate_new_key(req)
            .and_then(|()| check())
            .and_then(|out| {
                self.dir_check()?;
                let _lock = fsio::lock(&self.lock_path(), false)?;
                let st = self.load_state()?;
                if st.deleted_date.is_some() {
                    return Err(self.deleted_vault_error());
                }
                self.authorize_key(&st, caller, perm, Some(&req.name))?;
                require_activated(&st)?;
                hsm_needs_premium(&st, req)?;
                Ok((out, holder_of(&st)?))
            });
        if let Err(e) = &r {
            let _ = self.record(caller, op, Some(&req.name), None, Err(e));
        }
        r
    }

    /// A Managed HSM key backup into a Managed HSM holding the same security domain: each
    /// version's objects are kept if this token has them (the HSM it came from), else its
    /// wrapped private key is unwrapped on this token under the domain's backup key.
    fn restore_hsm_material(
        &self,
        st: &VaultState,
        header: &BackupHeader,
        k: &mut StoredKey,
    ) -> VaultResult<()> {
        let Some(from) = header.security_domain.as_deref() else {
            return Err(VaultError::Invalid(format!(
                "this backup of '{}' comes from a key vault, not a Managed HSM: it restores only into a key vault",
                printable(&header.key_name)
            )));
        };
        if st.managed_hsm.is_none() {
            return Err(VaultError::Invalid(format!(
                "this backup of '{}' comes from Managed HSM '{}': it restores only into a Managed \
                 HSM holding the same security domain, not into key vault '{}'",
                printable(&header.key_name),
                printable(&header.source_vault),
                st.vault_name
            )));
        }
        let sd = active_domain(st)?;
        if sd.domain_id != from {
            return Err(VaultError::Invalid(format!(
                "this backup of '{}' was made in Managed HSM '{}', whose security domain is {}; \
                 Managed HSM '{}' holds security domain {}. A Managed HSM key backup restores \
                 only into an HSM holding the same security domain: import the source HSM's \
                 security domain into a new HSM (Import-AzKeyVaultSecurityDomain) and restore there",
                printable(&header.key_name),
                printable(&header.source_vault),
                printable(from),
                st.vault_name,
                sd.domain_id
            )));
        }
        let kek = backup_kek(sd)?;
        let h = holder_of(st)?.ok_or_else(|| damaged_version(&k.name, &st.vault_name))?;
        for v in &mut k.versions {
            let wrapped = v.wrapped_private.take();
            if let Some(t) = v.token.as_mut().filter(|t| h.present(t).unwrap_or(false)) {
                t.pinned = true;
                continue;
            }
            let wrapped = wrapped.and_then(|w| hex::decode(w).ok()).ok_or_else(|| {
                VaultError::Invalid(format!(
                    "version {} of '{}' is neither on {} nor wrapped in the backup (a backup \
                         made before security domains refers to its token's objects only)",
                    v.version,
                    k.name,
                    h.describe()
                ))
            })?;
            let public =
                hex::decode(&v.public_der).map_err(|_| damaged_version(&k.name, &st.vault_name))?;
            v.token =
                Some(h.import_wrapped(&self.stem, &k.name, &v.version, &public, &kek, &wrapped)?);
        }
        Ok(())
    }

    fn add_version(
        &self,
        caller: &Caller,
        req: &NewKeyRequest,
        material: &NewMaterial<'_>,
        op: VaultOperation,
        perm: KeyPermission,
    ) -> VaultResult<KeyVaultKey> {
        self.run(
            Op::key(caller, op, perm, Some(&req.name), true),
            |ctx, st| {
                hsm_needs_premium(st, req)?;
                if matches!(material, NewMaterial::Token { .. }) != st.holder.is_some() {
                    return Err(VaultError::Unavailable(format!(
                        "vault '{}' changed backend while the key was being made",
                        st.vault_name
                    )));
                }
                if st
                    .deleted_keys
                    .iter()
                    .any(|d| d.key.name.eq_ignore_ascii_case(&req.name))
                {
                    return Err(VaultError::Invalid(format!(
                        "key '{}' in vault '{}' is deleted but recoverable: recover it \
                     (Undo-AzKeyVaultKeyRemoval) or purge it before using its name",
                        req.name, st.vault_name
                    )));
                }
                let version = new_stored_version(material, req, ctx.now);
                let vid = version.version.clone();
                let name = match st
                    .keys
                    .iter_mut()
                    .find(|k| k.name.eq_ignore_ascii_case(&req.name))
                {
                    Some(k) => {
                        k.versions.push(version);
                        k.name.clone()
                    }
                    None => {
                        st.keys.push(StoredKey {
                            name: req.name.clone(),
                            versions: vec![version],
                            rotation_policy: None,
                        });
                        req.name.clone()
                    }
                };
                let k = find_key(st, &name)?;
                let out = self.latest_output(st, ctx.level, k)?;
                Ok((out, Some(vid)))
            },
        )
    }
}

/// A restored key must carry material this vault can use: a private key for a local vault; for
/// a PKCS#11 vault, references to objects present on this vault's token (a backup of a token key
/// holds references, not key material). Restored token objects stay pinned.
fn check_restorable_material(st: &VaultState, k: &mut StoredKey) -> VaultResult<()> {
    for v in &mut k.versions {
        match (holder_of(st)?, &mut v.token) {
            (None, _) if v.private_pkcs8.is_some() => {}
            (Some(h), Some(t)) => {
                if !h.present(t)? {
                    return Err(VaultError::Invalid(format!(
                        "version {} of '{}' is not on {} (a backup of a held key refers to the \
                         holder's objects; it restores only into a vault bound to the token that \
                         holds them, and not after the objects were destroyed)",
                        v.version,
                        k.name,
                        h.describe()
                    )));
                }
                t.pinned = true;
            }
            _ => {
                return Err(VaultError::Invalid(format!(
                    "the backup of '{}' holds no key material usable in vault '{}'",
                    k.name, st.vault_name
                )))
            }
        }
    }
    Ok(())
}

/// A Managed HSM's keys are usable once its security domain was downloaded or imported.
fn require_activated(st: &VaultState) -> VaultResult<()> {
    if st.managed_hsm.is_none()
        || st
            .security_domain
            .as_ref()
            .is_some_and(|d| d.activated.is_some())
    {
        return Ok(());
    }
    Err(VaultError::Invalid(format!(
        "Managed HSM '{0}' is not activated (SecurityDomain.ActivationStatus is NotActivated): \
         download its security domain first, Export-AzKeyVaultSecurityDomain -Name {0} \
         -Certificates a.cer,b.cer,c.cer -Quorum 2 -OutputPath sd.json, or import the security \
         domain of the HSM it replaces (Import-AzKeyVaultSecurityDomain)",
        st.vault_name
    )))
}

/// The security domain of an activated Managed HSM (for backups and restores of its keys).
fn active_domain(st: &VaultState) -> VaultResult<&SecurityDomainState> {
    require_activated(st)?;
    st.security_domain.as_ref().ok_or_else(|| {
        VaultError::Damaged(format!(
            "Managed HSM '{}' has no security domain",
            st.vault_name
        ))
    })
}

fn backup_kek(sd: &SecurityDomainState) -> VaultResult<Zeroizing<[u8; 32]>> {
    crate::crypto::security_domain::backup_kek(&sd.key()?).map_err(|e| VaultError::Unavailable(e.0))
}

fn backend_name(st: &VaultState) -> VaultResult<&'static str> {
    Ok(holder_of(st)?.map_or(BACKEND, |h| h.backend()))
}

fn hsm_needs_premium(st: &VaultState, req: &NewKeyRequest) -> VaultResult<()> {
    if st.managed_hsm.is_some() && req.destination != KeyDestination::Hsm {
        return Err(VaultError::Invalid(format!(
            "Managed HSM '{}' holds HSM-protected keys only (RSA-HSM): give -Destination HSM or leave -Destination out",
            st.vault_name
        )));
    }
    if req.destination == KeyDestination::Hsm && st.sku != VaultSku::Premium {
        return Err(VaultError::Invalid(format!(
            "vault '{}' is Standard SKU: HSM-protected keys (-Destination HSM) need a Premium vault",
            st.vault_name
        )));
    }
    Ok(())
}

fn validate_new_key(req: &NewKeyRequest) -> VaultResult<()> {
    validate_key_name(&req.name)?;
    check_validity_window(req.expires, req.not_before)?;
    validate_tags(&req.tags)
}

impl KeyVault for LocalVault {
    fn vault_name(&self) -> String {
        self.display.clone()
    }

    fn backend(&self) -> &'static str {
        self.holder.as_ref().map_or(BACKEND, |h| h.backend())
    }

    fn managed_hsm(&self) -> bool {
        self.hsm
    }

    fn properties(&self) -> VaultResult<KeyVaultInfo> {
        self.dir_check()?;
        let _lock = fsio::lock(&self.lock_path(), false)?;
        let st = self.load_state()?;
        if st.deleted_date.is_some() {
            return Err(self.deleted_vault_error());
        }
        self.info(&st)
    }

    fn create_key(&self, caller: &Caller, req: &NewKeyRequest) -> VaultResult<KeyVaultKey> {
        let op = VaultOperation::CreateKey;
        let ((), hsm) = self.precheck(caller, op, KeyPermission::Create, req, || {
            validate_key_size(req.size)
        })?;
        // Generation is the slow part: done after the checks, outside the vault lock.
        let Some(holder) = hsm else {
            let private = RsaPrivateKey::generate(req.size).map_err(|e| {
                VaultError::Unavailable(format!("RSA key generation failed: {e:?}"))
            })?;
            return self.add_version(
                caller,
                req,
                &NewMaterial::Software(&private),
                op,
                KeyPermission::Create,
            );
        };
        let version = new_version();
        let (public_der, token) =
            match holder.generate(&self.stem, &req.name, &version, req.size, self.hsm) {
                Ok(x) => x,
                Err(e) => {
                    let _ = self.record(caller, op, Some(&req.name), None, Err(&e));
                    return Err(e);
                }
            };
        let material = NewMaterial::Token {
            version,
            public_der,
            key_size: req.size,
            token: token.clone(),
        };
        let r = self.add_version(caller, req, &material, op, KeyPermission::Create);
        if r.is_err() {
            // Best effort: the objects are labelled if they stay behind.
            let _ = holder.destroy(&token);
        }
        r
    }

    fn import_key(
        &self,
        caller: &Caller,
        req: &NewKeyRequest,
        pkcs8_der: &[u8],
    ) -> VaultResult<KeyVaultKey> {
        let op = VaultOperation::ImportKey;
        let (private, hsm) = self.precheck(caller, op, KeyPermission::Import, req, || {
            let private = RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|_| {
                VaultError::Invalid(
                    "the key to import is not an RSA private key in PKCS#8 DER".into(),
                )
            })?;
            validate_key_size(private.bits())?;
            Ok(private)
        })?;
        if let Some(h) = hsm {
            let e = VaultError::Invalid(format!(
                "vault '{}' keeps its keys on {}, where keys are generated and never imported \
                 in the clear: use Add-AzKeyVaultKey without -KeyFilePath, or import with the \
                 token vendor's tools",
                self.display,
                h.describe()
            ));
            let _ = self.record(caller, op, Some(&req.name), None, Err(&e));
            return Err(e);
        }
        self.add_version(
            caller,
            req,
            &NewMaterial::Software(&private),
            op,
            KeyPermission::Import,
        )
    }

    fn import_wrapped_key(
        &self,
        caller: &Caller,
        req: &NewKeyRequest,
        kek_name: &str,
        kek_version: Option<&str>,
        ciphertext: &[u8],
    ) -> VaultResult<KeyVaultKey> {
        let op = VaultOperation::ImportKey;
        // The checks and the unwrap under the KEK, with the vault locked; the new version is
        // then added as any import is (add_version re-reads the state under its own lock).
        let unwrapped = (|| {
            validate_new_key(req)?;
            if req.destination != KeyDestination::Hsm {
                return Err(VaultError::Invalid(
                    "a key from a .byok file can only be imported as an HSM-protected key: give \
                     -Destination HSM (or leave -Destination out)"
                        .into(),
                ));
            }
            self.dir_check()?;
            let _lock = fsio::lock(&self.lock_path(), false)?;
            let st = self.load_state()?;
            if st.deleted_date.is_some() {
                return Err(self.deleted_vault_error());
            }
            self.authorize_key(&st, caller, KeyPermission::Import, Some(&req.name))?;
            if let Some(h) = holder_of(&st)? {
                return Err(VaultError::Invalid(format!(
                    "vault '{}' keeps its keys on {}, where a .byok import is not supported: use \
                     Add-AzKeyVaultKey without -KeyFilePath, or import with the token vendor's \
                     tools",
                    self.display,
                    h.describe()
                )));
            }
            hsm_needs_premium(&st, req)?;
            let k = find_key(&st, kek_name).map_err(|e| match e {
                VaultError::NotFound(m) => VaultError::NotFound(format!(
                    "the key-exchange key the .byok file names (header.kid) is not in this \
                     vault: {m}; make the .byok file for a KEK of vault '{}'",
                    st.vault_name
                )),
                other => other,
            })?;
            let v = pick_version(k, kek_version, &st.vault_name)?;
            let what = format!(
                "key '{}' version {} in vault '{}'",
                k.name, v.version, st.vault_name
            );
            if v.destination != KeyDestination::Hsm || v.key_ops != [KeyOperation::Import] {
                return Err(VaultError::Invalid(format!(
                    "{what} is not a key-exchange key: a KEK is an HSM key whose only KeyOps is \
                     import (Add-AzKeyVaultKey -Destination HSM -KeyOps import)"
                )));
            }
            check_usable(v, KeyOperation::Import, Utc::now(), &k.name, &st.vault_name)?;
            let pkcs8 = v
                .private_pkcs8
                .as_ref()
                .ok_or_else(|| damaged_version(&k.name, &st.vault_name))?;
            let kek = RsaPrivateKey::from_pkcs8_der(&pkcs8.0).map_err(|_| {
                VaultError::Damaged(format!("the stored key '{}' is damaged", k.name))
            })?;
            let target = crate::crypto::keyfile::byok_unwrap(&kek, ciphertext)
                .map_err(|e| VaultError::Invalid(format!("{e} ({what})")))?;
            RsaPrivateKey::from_pkcs8_der(&target).map_err(|e| {
                VaultError::Invalid(format!("the key in the .byok file is not usable: {e}"))
            })
        })();
        let private = match unwrapped {
            Ok(p) => p,
            Err(e) => {
                let _ = self.record(caller, op, Some(&req.name), None, Err(&e));
                return Err(e);
            }
        };
        self.add_version(
            caller,
            req,
            &NewMaterial::Software(&private),
            op,
            KeyPermission::Import,
        )
    }

    fn get_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> VaultResult<KeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::GetKey,
            KeyPermission::Get,
            Some(name),
            false,
        )
        .version(version);
        self.run(op, |ctx, st| {
            let k = find_key(st, name)?;
            let v = pick_version(k, version, &st.vault_name)?;
            Ok((
                self.output(st, ctx.level, &k.name, v)?,
                Some(v.version.clone()),
            ))
        })
    }

    fn list_keys(&self, caller: &Caller) -> VaultResult<Vec<KeyVaultKey>> {
        let op = Op::key(
            caller,
            VaultOperation::ListKeys,
            KeyPermission::List,
            None,
            false,
        );
        self.run(op, |ctx, st| {
            let mut out = st
                .keys
                .iter()
                .map(|k| self.latest_output(st, ctx.level, k))
                .collect::<VaultResult<Vec<_>>>()?;
            out.sort_by_key(|k| k.name.to_ascii_lowercase());
            Ok((out, None))
        })
    }

    fn list_key_versions(&self, caller: &Caller, name: &str) -> VaultResult<Vec<KeyVaultKey>> {
        let op = Op::key(
            caller,
            VaultOperation::ListKeyVersions,
            KeyPermission::List,
            Some(name),
            false,
        );
        self.run(op, |ctx, st| {
            let k = find_key(st, name)?;
            let out = k
                .versions
                .iter()
                .map(|v| self.output(st, ctx.level, &k.name, v))
                .collect::<VaultResult<Vec<_>>>()?;
            Ok((out, None))
        })
    }

    fn update_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        update: &KeyUpdate,
    ) -> VaultResult<KeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::UpdateKey,
            KeyPermission::Update,
            Some(name),
            true,
        )
        .version(version);
        self.run(op, |ctx, st| {
            if let Some(t) = &update.tags {
                validate_tags(t)?;
            }
            let vault = st.vault_name.clone();
            let k = find_key_mut(st, name)?;
            let key_name = k.name.clone();
            let idx = {
                let v = pick_version(k, version, &vault)?;
                let vid = v.version.clone();
                k.versions
                    .iter()
                    .position(|x| x.version == vid)
                    .ok_or_else(|| VaultError::NotFound("version vanished".into()))?
            };
            let v = &mut k.versions[idx];
            let expires = update.expires.or(v.expires);
            let not_before = update.not_before.or(v.not_before);
            check_validity_window(expires, not_before)?;
            v.expires = expires;
            v.not_before = not_before;
            if let Some(e) = update.enabled {
                v.enabled = e;
            }
            if let Some(ops) = &update.key_ops {
                v.key_ops = ops.clone();
            }
            if let Some(t) = &update.tags {
                v.tags = t.clone();
            }
            v.updated = ctx.now;
            let v = v.clone();
            Ok((self.output(st, ctx.level, &key_name, &v)?, Some(v.version)))
        })
    }

    fn wrap_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        algorithm: OaepAlg,
        key: &[u8],
    ) -> VaultResult<WrapResult> {
        let op = Op::key(
            caller,
            VaultOperation::WrapKey,
            KeyPermission::WrapKey,
            Some(name),
            false,
        )
        .version(version);
        self.run(op, |ctx, st| {
            let k = find_key(st, name)?;
            let v = pick_version(k, version, &st.vault_name)?;
            check_usable(v, KeyOperation::WrapKey, ctx.now, &k.name, &st.vault_name)?;
            let (algorithm, value) = match (holder_of(st)?, &v.token) {
                (Some(h), Some(t)) => h.wrap(t, algorithm, key)?,
                (Some(_), None) => return Err(damaged_version(&k.name, &st.vault_name)),
                (None, _) => {
                    let der = hex::decode(&v.public_der).map_err(|_| {
                        VaultError::Damaged(format!("the stored key '{}' is damaged", k.name))
                    })?;
                    let public = RsaPublicKey::from_der(&der).map_err(|_| {
                        VaultError::Damaged(format!("the stored key '{}' is damaged", k.name))
                    })?;
                    let value = public.oaep_wrap(algorithm, key).map_err(|e| {
                        VaultError::Invalid(format!("cannot wrap with key '{}': {e:?}", k.name))
                    })?;
                    (algorithm, value)
                }
            };
            Ok((
                WrapResult {
                    kid: key_id_string_in(
                        &st.vault_name,
                        st.managed_hsm.is_some(),
                        &k.name,
                        Some(&v.version),
                    ),
                    version: v.version.clone(),
                    algorithm,
                    value,
                },
                Some(v.version.clone()),
            ))
        })
    }

    fn unwrap_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        algorithm: OaepAlg,
        wrapped: &[u8],
    ) -> VaultResult<Zeroizing<Vec<u8>>> {
        let op = Op::key(
            caller,
            VaultOperation::UnwrapKey,
            KeyPermission::UnwrapKey,
            Some(name),
            false,
        )
        .version(version);
        self.run(op, |ctx, st| {
            let k = find_key(st, name)?;
            let v = pick_version(k, version, &st.vault_name)?;
            check_usable(v, KeyOperation::UnwrapKey, ctx.now, &k.name, &st.vault_name)?;
            if let Some(h) = holder_of(st)? {
                let t = v
                    .token
                    .as_ref()
                    .ok_or_else(|| damaged_version(&k.name, &st.vault_name))?;
                let plain = h.unwrap(t, algorithm, wrapped, v.key_size)?;
                return Ok((plain, Some(v.version.clone())));
            }
            let pkcs8 = v
                .private_pkcs8
                .as_ref()
                .ok_or_else(|| damaged_version(&k.name, &st.vault_name))?;
            let private = RsaPrivateKey::from_pkcs8_der(&pkcs8.0).map_err(|_| {
                VaultError::Damaged(format!("the stored key '{}' is damaged", k.name))
            })?;
            let plain = private.oaep_unwrap(algorithm, wrapped).map_err(|_| {
                VaultError::Invalid(format!(
                    "the wrapped key does not unwrap with key '{}' version {} ({}): wrong key, \
                     version or algorithm, or damaged",
                    k.name,
                    v.version,
                    super::model::oaep_alg_name(algorithm)
                ))
            })?;
            Ok((plain, Some(v.version.clone())))
        })
    }

    fn delete_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::DeleteKey,
            KeyPermission::Delete,
            Some(name),
            true,
        );
        self.run(op, |ctx, st| {
            let idx = {
                let k = find_key(st, name)?;
                st.keys
                    .iter()
                    .position(|x| x.name == k.name)
                    .ok_or_else(|| VaultError::NotFound("key vanished".into()))?
            };
            let key = st.keys.remove(idx);
            let days = i64::from(st.soft_delete_retention_in_days);
            let d = StoredDeletedKey {
                key,
                deleted_date: ctx.now,
                scheduled_purge_date: ctx.now + Duration::days(days),
            };
            let out = self.deleted_output(st, ctx.level, &d)?;
            if st.enable_soft_delete {
                st.deleted_keys.push(d);
            }
            Ok((out, None))
        })
    }

    fn get_deleted_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::GetDeletedKey,
            KeyPermission::Get,
            Some(name),
            false,
        );
        self.run(op, |ctx, st| {
            let d = &st.deleted_keys[deleted_index(st, name)?];
            Ok((self.deleted_output(st, ctx.level, d)?, None))
        })
    }

    fn list_deleted_keys(&self, caller: &Caller) -> VaultResult<Vec<DeletedKeyVaultKey>> {
        let op = Op::key(
            caller,
            VaultOperation::ListDeletedKeys,
            KeyPermission::List,
            None,
            false,
        );
        self.run(op, |ctx, st| {
            let mut out = st
                .deleted_keys
                .iter()
                .map(|d| self.deleted_output(st, ctx.level, d))
                .collect::<VaultResult<Vec<_>>>()?;
            out.sort_by_key(|d| d.key.name.to_ascii_lowercase());
            Ok((out, None))
        })
    }

    fn recover_key(&self, caller: &Caller, name: &str) -> VaultResult<KeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::RecoverKey,
            KeyPermission::Recover,
            Some(name),
            true,
        );
        self.run(op, |ctx, st| {
            let idx = deleted_index(st, name)?;
            if st.keys.iter().any(|k| k.name.eq_ignore_ascii_case(name)) {
                return Err(VaultError::Invalid(format!(
                    "a key named '{}' already exists in vault '{}'",
                    printable(name),
                    st.vault_name
                )));
            }
            let d = st.deleted_keys.remove(idx);
            let out = self.latest_output(st, ctx.level, &d.key)?;
            st.keys.push(d.key);
            Ok((out, None))
        })
    }

    fn purge_key(&self, caller: &Caller, name: &str) -> VaultResult<()> {
        let op = Op::key(
            caller,
            VaultOperation::PurgeKey,
            KeyPermission::Purge,
            Some(name),
            true,
        );
        self.run(op, |ctx, st| {
            let idx = deleted_index(st, name)?;
            if !ctx.level.purge_allowed() {
                return Err(VaultError::Invalid(format!(
                    "key '{}' in vault '{}' cannot be purged: the recovery level is {} ({}); it will \
                     be purged automatically on {}",
                    st.deleted_keys[idx].key.name,
                    st.vault_name,
                    ctx.level,
                    purge_refusal_reason(st, ctx.level),
                    st.deleted_keys[idx].scheduled_purge_date.to_rfc3339()
                )));
            }
            if let Some(h) = holder_of(st)? {
                destroy_held_objects(h.as_ref(), &st.deleted_keys[idx].key)?;
            }
            st.deleted_keys.remove(idx);
            Ok(((), None))
        })
    }

    fn backup_key(&self, caller: &Caller, name: &str) -> VaultResult<Vec<u8>> {
        // A backup of held keys pins the holder's objects (a write to the sidecar).
        let op = Op::key(
            caller,
            VaultOperation::BackupKey,
            KeyPermission::Backup,
            Some(name),
            self.holder.is_some(),
        );
        self.run(op, |_, st| {
            if st.holder.is_some() {
                for v in &mut find_key_mut(st, name)?.versions {
                    if let Some(t) = &mut v.token {
                        t.pinned = true;
                    }
                }
            }
            let mut k = find_key(st, name)?.clone();
            let mut domain = None;
            if st.managed_hsm.is_some() {
                // A Managed HSM's backup carries each private key wrapped on the token under
                // the key derived from its security domain: only an HSM holding that domain
                // can bring it back.
                let sd = active_domain(st)?;
                let kek = backup_kek(sd)?;
                let h = holder_of(st)?.ok_or_else(|| damaged_version(&k.name, &st.vault_name))?;
                for v in &mut k.versions {
                    let t = v
                        .token
                        .as_ref()
                        .ok_or_else(|| damaged_version(name, &st.vault_name))?;
                    // A version made before security domains is not extractable: its backup
                    // keeps the reference only, and restores only where its objects are.
                    v.wrapped_private = match h.export_wrapped(t, &kek) {
                        Ok(w) => Some(hex::encode(w)),
                        Err(VaultError::AccessDenied(_)) => None,
                        Err(e) => return Err(e),
                    };
                }
                domain = Some(sd.domain_id.clone());
            }
            let payload = secret_json(&BackupPayload { key: k.clone() })
                .map_err(|e| VaultError::Invalid(format!("cannot encode the backup: {e}")))?;
            let mut header = BackupHeader::new(
                &st.subscription_id,
                &k.name,
                &st.vault_name,
                backend_name(st)?,
            );
            header.security_domain = domain;
            let key = self
                .inner
                .azure
                .subscription_backup_key(&st.subscription_id)?;
            let blob = seal_backup(&key, &header, &payload)?;
            Ok((blob, k.versions.last().map(|v| v.version.clone())))
        })
    }

    fn restore_key(&self, caller: &Caller, backup: &[u8]) -> VaultResult<KeyVaultKey> {
        let op = Op::key(
            caller,
            VaultOperation::RestoreKey,
            KeyPermission::Restore,
            None,
            true,
        );
        self.run(op, |ctx, st| {
            let (header, payload) = open_backup(backup, &st.subscription_id, || {
                self.inner.azure.subscription_backup_key(&st.subscription_id)
            })?;
            if header.backend != backend_name(st)? {
                return Err(VaultError::Invalid(format!(
                    "this backup was made by the {} backend; it restores only into a vault of that backend",
                    printable(&header.backend)
                )));
            }
            let p: BackupPayload = serde_json::from_slice(&payload)
                .map_err(|_| VaultError::Invalid("the backup's contents are unreadable".into()))?;
            let mut k = p.key;
            validate_key_name(&k.name)?;
            if k.versions.is_empty() {
                return Err(VaultError::Invalid("the backup holds no key versions".into()));
            }
            for v in &k.versions {
                validate_version(&v.version)?;
                validate_key_size(v.key_size)?;
                if v.destination == KeyDestination::Hsm && st.sku != VaultSku::Premium {
                    return Err(VaultError::Invalid(format!(
                        "the backup holds HSM-protected versions of '{}'; vault '{}' is Standard \
                         SKU and cannot hold them",
                        k.name, st.vault_name
                    )));
                }
            }
            let taken = st.keys.iter().any(|x| x.name.eq_ignore_ascii_case(&k.name))
                || st
                    .deleted_keys
                    .iter()
                    .any(|d| d.key.name.eq_ignore_ascii_case(&k.name));
            if taken {
                return Err(VaultError::Invalid(format!(
                    "a key named '{}' already exists in vault '{}' (active or deleted); \
                     Restore-AzKeyVaultKey needs the name to be free",
                    k.name, st.vault_name
                )));
            }
            if header.security_domain.is_some() {
                self.restore_hsm_material(st, &header, &mut k)?;
            } else {
                // A backup without a security domain (a token vault's, or an HSM's made before
                // security domains) refers to token objects: it restores where they are.
                check_restorable_material(st, &mut k)?;
            }
            let out = self.latest_output(st, ctx.level, &k)?;
            let version = out.version.clone();
            st.keys.push(k);
            Ok((out, Some(version)))
        })
    }

    fn set_access_policy(
        &self,
        caller: &Caller,
        principal: &Principal,
        permissions: &[KeyPermission],
    ) -> VaultResult<KeyVaultInfo> {
        self.run(
            Op::manage(caller, VaultOperation::SetAccessPolicy, Manage::Write),
            |_, st| {
                refuse_policies_on_rbac(st)?;
                set_policy(&mut st.access_policies, principal, permissions);
                Ok((self.info(st)?, None))
            },
        )
    }

    fn remove_access_policy(
        &self,
        caller: &Caller,
        principal: &Principal,
    ) -> VaultResult<KeyVaultInfo> {
        self.run(
            Op::manage(caller, VaultOperation::RemoveAccessPolicy, Manage::Write),
            |_, st| {
                refuse_policies_on_rbac(st)?;
                if !remove_policy(&mut st.access_policies, principal) {
                    return Err(VaultError::NotFound(format!(
                        "vault '{}' has no access policy for {}",
                        st.vault_name,
                        principal.display_name()
                    )));
                }
                Ok((self.info(st)?, None))
            },
        )
    }

    fn get_rotation_policy(&self, caller: &Caller, name: &str) -> VaultResult<KeyRotationPolicy> {
        self.get_rotation_policy_impl(caller, name)
    }

    fn set_rotation_policy(
        &self,
        caller: &Caller,
        name: &str,
        expires_in: Option<&str>,
        actions: &[LifetimeAction],
    ) -> VaultResult<KeyRotationPolicy> {
        self.set_rotation_policy_impl(caller, name, expires_in, actions)
    }

    fn rotate_key(
        &self,
        caller: &Caller,
        name: &str,
        only_if_due: bool,
    ) -> VaultResult<Option<KeyVaultKey>> {
        self.rotate_impl(caller, name, only_if_due)
    }

    fn audit_log(&self, query: &AuditQuery) -> VaultResult<Vec<AuditRecord>> {
        self.dir_check()?;
        self.audit().query(query)
    }
}

/// Key rotation (Set/Get-AzKeyVaultKeyRotationPolicy, Invoke-AzKeyVaultKeyRotation).
impl LocalVault {
    fn policy_output(st: &VaultState, k: &StoredKey) -> KeyRotationPolicy {
        let p = k.rotation_policy.as_ref();
        KeyRotationPolicy {
            id: format!(
                "{}/rotationpolicy",
                key_id_string_in(&st.vault_name, st.managed_hsm.is_some(), &k.name, None)
            ),
            vault_name: st.vault_name.clone(),
            key_name: k.name.clone(),
            lifetime_actions: p.map(|p| p.lifetime_actions.clone()).unwrap_or_default(),
            expires_in: p.and_then(|p| p.expires_in.clone()),
            created_on: p.map(|p| p.created_on),
            updated_on: p.map(|p| p.updated_on),
        }
    }

    fn get_rotation_policy_impl(
        &self,
        caller: &Caller,
        name: &str,
    ) -> VaultResult<KeyRotationPolicy> {
        let op = Op::key(
            caller,
            VaultOperation::GetKeyRotationPolicy,
            KeyPermission::GetRotationPolicy,
            Some(name),
            false,
        );
        self.run(op, |_, st| {
            let k = find_key(st, name)?;
            Ok((Self::policy_output(st, k), None))
        })
    }

    fn set_rotation_policy_impl(
        &self,
        caller: &Caller,
        name: &str,
        expires_in: Option<&str>,
        actions: &[LifetimeAction],
    ) -> VaultResult<KeyRotationPolicy> {
        let op = Op::key(
            caller,
            VaultOperation::SetKeyRotationPolicy,
            KeyPermission::SetRotationPolicy,
            Some(name),
            true,
        );
        self.run(op, |ctx, st| {
            let k = find_key_mut(st, name)?;
            let created_on = k
                .rotation_policy
                .as_ref()
                .map(|p| p.created_on)
                .unwrap_or(ctx.now);
            let p = RotationPolicy {
                expires_in: expires_in.map(str::to_string),
                lifetime_actions: actions.to_vec(),
                created_on,
                updated_on: ctx.now,
            };
            p.validate()?;
            k.rotation_policy = Some(p);
            let k = find_key(st, name)?;
            Ok((Self::policy_output(st, k), None))
        })
    }

    /// Under the vault lock: when `only_if_due`, check the policy's Rotate action against the
    /// clock first (`None` when not due); then make a new version like the current one.
    fn rotate_impl(
        &self,
        caller: &Caller,
        name: &str,
        only_if_due: bool,
    ) -> VaultResult<Option<KeyVaultKey>> {
        let op = Op::key(
            caller,
            VaultOperation::RotateKey,
            KeyPermission::Rotate,
            Some(name),
            true,
        );
        // The token objects this rotation made, destroyed again if the vault file that would
        // name them is not written (best effort, as for Add-AzKeyVaultKey): no orphans.
        let made: std::cell::RefCell<Option<(Arc<dyn KeyHolder>, HeldKeyRef)>> =
            std::cell::RefCell::new(None);
        let r = self.run(op, |ctx, st| {
            let k = find_key(st, name)?;
            let cur = pick_version(k, None, &st.vault_name)?;
            let policy = k.rotation_policy.clone();
            // A due rotation reads the rotation clock (the system clock in release builds) for
            // both the decision and the new version's dates, so a version it makes is not due.
            let now = if only_if_due {
                super::rotation::now()
            } else {
                ctx.now
            };
            if only_if_due {
                let due = match &policy {
                    Some(p) => p.rotation_due(cur.created, cur.expires, now)?,
                    None => false,
                };
                if !due {
                    return Ok((None, None));
                }
            }
            let expires = match policy.as_ref().map(|p| p.expires_in_duration()) {
                Some(Ok(Some(d))) => Some(now + d),
                Some(Err(e)) => return Err(e),
                _ => None,
            };
            let req = NewKeyRequest {
                name: k.name.clone(),
                destination: cur.destination,
                size: cur.key_size,
                key_ops: Some(cur.key_ops.clone()),
                expires,
                not_before: None,
                enabled: true,
                tags: cur.tags.clone(),
            };
            let version = match holder_of(st)? {
                None => {
                    let private = RsaPrivateKey::generate(req.size).map_err(|e| {
                        VaultError::Unavailable(format!("RSA key generation failed: {e:?}"))
                    })?;
                    new_stored_version(&NewMaterial::Software(&private), &req, now)
                }
                Some(holder) => {
                    let vid = new_version();
                    let (public_der, token) =
                        holder.generate(&self.stem, &req.name, &vid, req.size, self.hsm)?;
                    made.replace(Some((Arc::clone(&holder), token.clone())));
                    let material = NewMaterial::Token {
                        version: vid,
                        public_der,
                        key_size: req.size,
                        token,
                    };
                    new_stored_version(&material, &req, now)
                }
            };
            let vid = version.version.clone();
            find_key_mut(st, name)?.versions.push(version);
            let k = find_key(st, name)?;
            let out = self.latest_output(st, ctx.level, k)?;
            Ok((Some(out), Some(vid)))
        });
        if r.is_err() {
            if let Some((holder, token)) = made.take() {
                let _ = holder.destroy(&token);
            }
        }
        r
    }
}
