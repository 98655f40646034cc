//! The Azure side as operators drive it: the signed-in account, the context, and the
//! embedded local vaults. Vault errors become service errors with advice per class.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::generation::Generations;
use super::{Error, ErrorKind, Result};
use crate::store::Store;
use crate::vault::{Caller, LocalBackend, Principal, VaultError};

const ACCOUNT_SETTING: &str = "az.account";

impl From<VaultError> for Error {
    fn from(e: VaultError) -> Self {
        let (kind, help) = match &e {
            VaultError::NotFound(_) => (
                ErrorKind::NotFound,
                "check the names with Get-AzKeyVault and Get-AzKeyVaultKey (-InRemovedState lists removed ones)",
            ),
            VaultError::AccessDenied(m) if m.contains("New-AzKeyVaultRoleAssignment") => (
                ErrorKind::AccessDenied,
                "Get-AzKeyVaultRoleAssignment -HsmName <hsm> lists the local roles held; a Managed HSM Administrator grants one with New-AzKeyVaultRoleAssignment",
            ),
            VaultError::AccessDenied(m) if m.contains("New-AzRoleAssignment") => (
                ErrorKind::AccessDenied,
                "Get-AzRoleAssignment lists the roles held; an Owner (or User Access Administrator) of the scope grants one with New-AzRoleAssignment",
            ),
            VaultError::AccessDenied(_) => (
                ErrorKind::AccessDenied,
                "grant the permission with Set-AzKeyVaultAccessPolicy -VaultName <vault> -UserPrincipalName <account> -PermissionsToKeys ...",
            ),
            VaultError::KeyDisabled(_) => (
                ErrorKind::Rule,
                "enable the key version with Update-AzKeyVaultKey -VaultName <vault> -Name <key> -Enable $true",
            ),
            VaultError::KeyExpired(_) => (
                ErrorKind::Rule,
                "Customer Key can't use an expired key: add a new version with Add-AzKeyVaultKey, or set -Expires 12/31/9999 on one that has not expired",
            ),
            VaultError::Damaged(_) => (
                ErrorKind::Unavailable,
                "restore the vault file named above from its latest copy (an older copy is refused as a rollback); nothing was changed",
            ),
            // A configuration directory inside the data directory: its message says what to set.
            VaultError::Unavailable(m) if m.contains("is inside the data directory") => (
                ErrorKind::Unavailable,
                "point CUSTKEY_CONFIG_DIR at a folder outside the data directory (the default is ~/.config/custkey); nothing was changed",
            ),
            VaultError::Unavailable(_) => (
                ErrorKind::Unavailable,
                "check that the data directory and its vault files are present and readable (for a PKCS#11 vault, also its module path and token); nothing was changed",
            ),
            VaultError::Invalid(_) => (ErrorKind::Rule, "nothing was changed"),
            VaultError::Authentication(_) => (
                ErrorKind::Authentication,
                "give the right master key: CUSTKEY_VAULT_KEY (64 hex digits), CUSTKEY_VAULT_PASSPHRASE, its key file in the configuration directory (CUSTKEY_CONFIG_DIR: restore it from its backup), or the token key of CUSTKEY_MASTER_PKCS11 with CUSTKEY_PKCS11_PIN; for a PKCS#11 vault, the token's user PIN in CUSTKEY_PKCS11_PIN",
            ),
        };
        Error::new(kind, e.message().to_string()).with_help(help)
    }
}

/// The Azure side for one data directory, acting as the signed-in account.
/// A registered KMIP server, as the cmdlets show it.
pub use crate::vault::kmip::KmipKey as KmipKeyInfo;
pub use crate::vault::kmip::KmipServer as KmipServerInfo;
pub use crate::vault::RootKeyKind;

pub struct Azure {
    pub backend: LocalBackend,
    pub caller: Caller,
    /// The role record (subscription-scope assignments and admin roles) and its key.
    roles: super::roles::Roles,
    /// The vault generations recorded in the store: every vault read is checked against them.
    generations: Generations,
}

impl Azure {
    /// Opens the local vault backend in `data_dir` as the account signed in to `store`.
    pub fn open(data_dir: &Path, store: &mut Store) -> Result<Azure> {
        let upn = account(store)?;
        let record = super::keys::record_key(data_dir)?;
        Azure::with_backend(LocalBackend::open(data_dir)?, record, store, &upn)
    }

    /// The Azure side over `backend`, acting as `upn` (an authenticated principal); `record`
    /// authenticates the store's role record (from the service keys already open, so the
    /// service master key is not resolved twice).
    pub fn with_backend(
        backend: LocalBackend,
        record: crate::crypto::RecordKey,
        store: &mut Store,
        upn: &str,
    ) -> Result<Azure> {
        let caller = Principal::user(upn)?;
        let generations = Generations::open(store, backend.clone())?;
        let roles = super::roles::Roles::with_key(record);
        let loaded = store.read(|tx| roles.load(tx))?;
        if matches!(loaded, super::roles::Loaded::Absent) && !backend.any_role_assignments()? {
            let mut subs: Vec<String> = vec![backend.get_context()?.subscription_id];
            for s in backend.azure().list_subscriptions()? {
                if !subs.contains(&s.id) {
                    subs.push(s.id);
                }
            }
            let upn = caller.value().to_string();
            store.write(|tx| super::roles::bootstrap_owner(&roles, tx, &upn, &subs))?;
        }
        let az = Azure {
            backend,
            caller,
            roles,
            generations,
        };
        az.install(store)?;
        Ok(az)
    }

    /// Hands the verified assignments above the vaults to the backend's checks.
    fn install(&self, store: &mut Store) -> Result<()> {
        let loaded = store.read(|tx| self.roles.load(tx))?;
        self.backend
            .set_assignments_above(loaded.state().assignments);
        Ok(())
    }

    /// The notices from opening the vaults (each once): a master key file moved out of the
    /// data directory.
    pub fn take_notices(&self) -> Vec<String> {
        self.backend.take_notices()
    }

    /// The operations, with the store that records the vault generations they see.
    pub fn with<'a>(&'a self, store: &'a mut Store) -> AzureSession<'a> {
        AzureSession { az: self, store }
    }
}

/// The Azure side and the store for one cmdlet: each operation checks the vault files it
/// read against the generations the store recorded (rollback detection, docs/vaults.md §6).
pub struct AzureSession<'a> {
    az: &'a Azure,
    store: &'a mut Store,
}

impl AzureSession<'_> {
    /// The answer of a vault operation, unless a vault file it read was rolled back.
    fn checked<T>(&mut self, r: std::result::Result<T, VaultError>) -> Result<T> {
        self.az.generations.check(self.store)?;
        Ok(r?)
    }

    /// The handle of vault `name`, checked before anything is done with it.
    fn vault(&mut self, name: &str) -> Result<crate::vault::LocalVault> {
        let v = self.az.backend.vault(name);
        self.checked(v)
    }

    /// `Update-AzKeyVault -AcceptRollback`: takes vault `name`'s file as it is now as its
    /// latest state (audited). Returns the generation accepted and the one recorded before.
    ///
    /// Needs a management role (Owner, Contributor, Key Vault Contributor) on the vault's
    /// subscription or resource group, from the store's authenticated record: not on the vault
    /// itself, whose file is the older copy being judged (it may name an owner since removed).
    pub fn accept_rollback(&mut self, name: &str) -> Result<(u64, u64)> {
        self.az.generations.check(self.store)?;
        let scope = self.az.backend.vault(name)?.vault_scope()?;
        // This read is judged by the acceptance itself, not as a rollback.
        let _ = self.az.backend.take_stamps();
        let roles = &self.az.roles;
        let above = self.store.read(|tx| roles.load(tx))?.state().assignments;
        let group = Scope {
            vault: None,
            key: None,
            ..scope
        };
        if !rbac::allows_manage(&above, &self.az.caller, &group, Manage::Write) {
            let _ = self.audit_refusal("Update-AzKeyVault -AcceptRollback", &group, false);
            return Err(rbac::denied(
                &self.az.caller,
                "accept an older vault file (Update-AzKeyVault -AcceptRollback)",
                &group,
                "Key Vault Contributor",
            )
            .into());
        }
        self.az
            .generations
            .accept(self.store, name, &self.az.caller.display_name())
    }
}

/// Whether `uri` is a key id of a Managed HSM (`Some(true)`) or of a key vault
/// (`Some(false)`); `None` when it is no key id.
pub fn key_uri_is_hsm(uri: &str) -> Option<bool> {
    crate::vault::KeyId::parse(uri).ok().map(|id| id.hsm)
}

/// Whether `name` is a valid key name (1-127 letters, digits and hyphens).
pub fn is_key_name(name: &str) -> bool {
    crate::vault::validate_key_name(name).is_ok()
}

/// Names of the local vaults in `data_dir`, from their file names (nothing is decrypted, no
/// master key is needed): for completion.
pub fn vault_names(data_dir: &Path) -> Vec<String> {
    let dir = crate::vault::LocalPaths::in_data_dir(data_dir).vault_dir;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".vault").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The signed-in Azure account: set by `Connect-AzAccount`, else the store's owner (its first
/// principal), else (a new store) `admin@<organization>`, who becomes the owner.
pub fn account(store: &mut Store) -> Result<String> {
    // In the service, the account the request was proven to come from, and no other.
    if let Some(a) = super::principal::request_account() {
        return Ok(a);
    }
    if let Some(a) = store.read(|tx| -> Result<_> { Ok(tx.setting(ACCOUNT_SETTING)?) })? {
        return Ok(a);
    }
    let owner = store.read(|tx| -> Result<_> {
        Ok(tx
            .principals()?
            .into_iter()
            .find(|p| p.owner)
            .map(|p| p.upn))
    })?;
    if let Some(o) = owner {
        return Ok(o);
    }
    let org = super::org::get(store)?;
    Ok(format!("admin@{}", org.name))
}

use crate::vault::{
    AuditQuery, AuditRecord, AzContextInfo, DeletedKeyVaultKey, KeyPermission, KeyRotationPolicy,
    KeyUpdate, KeyVault, KeyVaultInfo, KeyVaultKey, LifetimeAction, NewKeyRequest, NewVaultRequest,
    ProviderFeature,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What `Set-AzResource -Properties` asks of a key vault, in Azure's terms; `None` leaves a
/// property as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VaultPropertyChange {
    pub enable_soft_delete: Option<bool>,
    pub enable_purge_protection: Option<bool>,
    pub soft_delete_retention_in_days: Option<u32>,
    /// The vault's tags, replaced.
    pub tags: Option<BTreeMap<String, String>>,
}

/// Each operation as one cmdlet needs it, acting as the signed-in account.
impl AzureSession<'_> {
    pub fn context(&mut self) -> Result<AzContextInfo> {
        let r = self.az.backend.get_context();
        self.checked(r)
    }
    /// `Get-AzSubscription`: every subscription of the context, with whether mandatory
    /// retention is registered on it.
    pub fn subscriptions(&mut self) -> Result<Vec<crate::vault::azure::SubscriptionInfo>> {
        let r = self.az.backend.azure().list_subscriptions();
        self.checked(r)
    }
    /// `Set-AzContext`; a subscription it creates (there is no Azure to ask) has the signed-in
    /// account as its Owner, as the creator of a subscription is.
    pub fn set_context(&mut self, subscription: &str) -> Result<AzContextInfo> {
        let before = self.az.backend.azure().list_subscriptions()?;
        let r = self.az.backend.set_context(subscription);
        let info = self.checked(r)?;
        if !before.iter().any(|s| s.id == info.subscription_id) {
            let scope = Scope::parse(&format!("/subscriptions/{}", info.subscription_id))?;
            let owner = rbac::role("Owner")?;
            let caller = self.az.caller.clone();
            let a = self.az.roles.modify(self.store, |_, st| {
                let a = RoleAssignment::new(&scope, owner, &caller, &caller.display_name());
                st.assignments.push(a.clone());
                Ok(a)
            })?;
            self.az.install(self.store)?;
            self.audit_role("New-AzRoleAssignment", &a)?;
        }
        Ok(info)
    }
    pub fn register_feature(&mut self, feature: &str, namespace: &str) -> Result<ProviderFeature> {
        let r = self
            .az
            .backend
            .register_provider_feature(feature, namespace);
        self.checked(r)
    }
    pub fn register_provider(
        &mut self,
        namespace: &str,
    ) -> Result<crate::vault::azure::ResourceProvider> {
        let r = self.az.backend.register_resource_provider(namespace);
        self.checked(r)
    }
    pub fn provider(&mut self, namespace: &str) -> Result<crate::vault::azure::ResourceProvider> {
        let r = self.az.backend.get_resource_provider(namespace);
        self.checked(r)
    }
    pub fn feature(&mut self, feature: &str, namespace: &str) -> Result<ProviderFeature> {
        let r = self.az.backend.get_provider_feature(feature, namespace);
        self.checked(r)
    }
    pub fn new_vault(&mut self, req: &NewVaultRequest) -> Result<KeyVaultInfo> {
        let r = self.az.backend.new_key_vault(&self.az.caller, req);
        self.checked(r)
    }
    /// `New-AzKeyVault -KmipServer`: registers a KMIP key manager under `name`, after a TLS
    /// handshake with its client certificate succeeded; its keys are then root keys named
    /// `kmip://host:port/<unique identifier>` (docs/kmip.md).
    #[allow(clippy::too_many_arguments)]
    pub fn register_kmip_server(
        &mut self,
        name: &str,
        resource_group: &str,
        location: &str,
        server: &str,
        client_certificate: &Path,
        client_key: &Path,
        ca_certificate: &Path,
    ) -> Result<KmipServerInfo> {
        if self.az.backend.open_engine(name)?.is_some() {
            return Err(
                Error::rule(format!("a key vault named '{name}' already exists"))
                    .with_help("register the KMIP server under another -VaultName"),
            );
        }
        let (host, port) = crate::vault::kmip::parse_server(server)?;
        let endpoint = crate::vault::kmip::client::Endpoint {
            host,
            port,
            client_certificate: client_certificate.to_path_buf(),
            client_key: client_key.to_path_buf(),
            ca_certificate: ca_certificate.to_path_buf(),
        };
        self.az.backend.authorize_manage(
            &self.az.caller,
            resource_group,
            crate::vault::Manage::Write,
            "RegisterKmipServer",
        )?;
        let servers = crate::vault::kmip::KmipServers::new(&self.az.backend.paths().vault_dir);
        Ok(servers.register(name, resource_group, location, endpoint)?)
    }

    /// The policies (by name) with live copies wrapped by keys of the vault `name`.
    pub fn policies_in_vault(&mut self, name: &str) -> Result<Vec<String>> {
        // Vaults and Managed HSMs share one namespace: the keys of either kind named `name`.
        let mut p: Vec<String> = super::lifecycle::deps_in_vault(self.store, name)?
            .into_iter()
            .chain(super::lifecycle::deps_in_container(self.store, name, true)?)
            .map(|u| u.policy)
            .collect();
        p.sort();
        p.dedup();
        Ok(p)
    }

    /// The KMIP registration `name` (case-insensitive), once the caller may write in its
    /// resource group (`operation` names the check in a refusal); `None` if there is none.
    fn kmip_registration(
        &mut self,
        name: &str,
        operation: &str,
    ) -> Result<Option<(crate::vault::kmip::KmipServers, KmipServerInfo)>> {
        let servers = crate::vault::kmip::KmipServers::new(&self.az.backend.paths().vault_dir);
        let Some(s) = servers
            .list()?
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        self.az.backend.authorize_manage(
            &self.az.caller,
            &s.resource_group,
            crate::vault::Manage::Write,
            operation,
        )?;
        Ok(Some((servers, s)))
    }

    /// `Remove-AzKeyVault` of a KMIP server's registration: refused while a live policy has a
    /// copy wrapped by one of its keys (they could no longer be opened). `None`: no such
    /// registration.
    pub fn remove_kmip_server(&mut self, name: &str) -> Result<Option<KmipServerInfo>> {
        let Some((servers, s)) = self.kmip_registration(name, "RemoveKmipServer")? else {
            return Ok(None);
        };
        let uses = super::lifecycle::deps_on_kmip_server(self.store, &s.server())?;
        if !uses.is_empty() {
            let mut policies: Vec<String> = uses.into_iter().map(|u| u.policy).collect();
            policies.dedup();
            return Err(Error::rule(format!(
                "the KMIP server '{}' ({}) holds root keys of {}: without its registration they could not be opened; nothing was removed",
                s.name,
                s.server(),
                policies.join(", ")
            ))
            .with_help("move those policies to other keys first (a new policy, then assign it), or keep the registration"));
        }
        let gone = servers.remove(&s.name)?;
        let params = serde_json::json!({"VaultName": s.name, "KmipServer": s.server()});
        self.audit_kmip("Remove KMIP server", &s.name, params)?;
        Ok(gone)
    }

    /// `Add-AzKeyVaultKey -VaultName <a KMIP registration>`: creates and activates a key in
    /// that key manager (an AES-256 key, or an RSA key pair), audited. Needs what registering
    /// the server needed (write in its resource group); the key manager's own rules (the client
    /// certificate's rights) apply as well. `None`: no registration has that name.
    pub fn add_kmip_key(
        &mut self,
        server: &str,
        key_name: &str,
        kind: RootKeyKind,
    ) -> Result<Option<KmipKeyInfo>> {
        let Some((_, s)) = self.kmip_registration(server, "CreateKmipKey")? else {
            return Ok(None);
        };
        let key = crate::vault::kmip::create_key(&s, key_name, kind)?;
        let kind = match key.kind {
            RootKeyKind::Aes256 => "AES-256".to_string(),
            RootKeyKind::Rsa(bits) => format!("RSA-{bits}"),
        };
        let params = serde_json::json!({"VaultName": s.name, "Name": key_name, "Id": key.uri.to_string(), "KeyType": kind});
        self.audit_kmip("Create KMIP key", &s.name, params)?;
        Ok(Some(key))
    }

    /// One audit record of a KMIP registration's change, by the signed-in account.
    fn audit_kmip(
        &mut self,
        operation: &str,
        target: &str,
        params: serde_json::Value,
    ) -> Result<()> {
        let by = self.az.caller.display_name();
        self.store.write(|tx| {
            let org_id = super::org::organization_id(tx)?;
            super::keys::audit(tx, &org_id, "AzureKeyVault", operation, &by, target, params)
        })
    }

    /// The registered KMIP servers.
    pub fn kmip_servers(&mut self) -> Result<Vec<KmipServerInfo>> {
        let servers = crate::vault::kmip::KmipServers::new(&self.az.backend.paths().vault_dir);
        Ok(servers.list()?)
    }

    pub fn vault_info(&mut self, name: &str) -> Result<KeyVaultInfo> {
        let r = self.az.backend.get_key_vault(name);
        self.checked(r)
    }
    pub fn vaults(&mut self) -> Result<Vec<KeyVaultInfo>> {
        let r = self.az.backend.list_key_vaults();
        self.checked(r)
    }
    pub fn removed_vaults(&mut self) -> Result<Vec<(KeyVaultInfo, DateTime<Utc>)>> {
        let r = self.az.backend.list_removed_key_vaults();
        self.checked(r)
    }
    pub fn update_vault(
        &mut self,
        name: &str,
        enable_purge_protection: bool,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<KeyVaultInfo> {
        let r =
            self.az
                .backend
                .update_key_vault(&self.az.caller, name, enable_purge_protection, tags);
        self.checked(r)
    }
    /// `Set-AzResource -Properties` on a key vault: applies what Update-AzKeyVault may change
    /// (purge protection on; the tags) and accepts what is already so (soft delete on, the same
    /// retention). What Azure never changes afterwards is refused: soft delete or purge
    /// protection off, another retention period. Nothing changes when any part is refused.
    pub fn set_vault_properties(
        &mut self,
        name: &str,
        change: &VaultPropertyChange,
    ) -> Result<KeyVaultInfo> {
        let info = self.vault_info(name)?;
        let vault = &info.vault_name;
        if change.enable_soft_delete == Some(false) {
            return Err(Error::rule(format!(
                "soft delete cannot be turned off on key vault '{vault}': it is on for every vault, as Azure has it since 2020"
            ))
            .with_help("leave enableSoftDelete true (or out of -Properties)"));
        }
        if change.enable_purge_protection == Some(false) && info.enable_purge_protection {
            return Err(Error::rule(format!(
                "purge protection cannot be turned off on key vault '{vault}': once on, it stays on"
            ))
            .with_help("leave enablePurgeProtection true (or out of -Properties)"));
        }
        if let Some(days) = change.soft_delete_retention_in_days {
            if days != info.soft_delete_retention_in_days {
                return Err(Error::rule(format!(
                    "the soft-delete retention of key vault '{vault}' is {} days, set when it was made; Azure does not change it afterwards",
                    info.soft_delete_retention_in_days
                ))
                .with_help(format!(
                    "leave softDeleteRetentionInDays at {}, or make a new vault with New-AzKeyVault -SoftDeleteRetentionInDays {days}",
                    info.soft_delete_retention_in_days
                )));
            }
        }
        let protect = change.enable_purge_protection == Some(true) && !info.enable_purge_protection;
        let tags = change.tags.clone().filter(|t| *t != info.tags);
        if !protect && tags.is_none() {
            return Ok(info);
        }
        self.update_vault(vault, protect, tags)
    }
    pub fn remove_vault(&mut self, name: &str) -> Result<()> {
        let r = self.az.backend.remove_key_vault(&self.az.caller, name);
        self.checked(r)
    }
    pub fn undo_remove_vault(&mut self, name: &str) -> Result<KeyVaultInfo> {
        let r = self.az.backend.undo_remove_key_vault(&self.az.caller, name);
        self.checked(r)
    }
    pub fn purge_vault(&mut self, name: &str) -> Result<()> {
        let r = self.az.backend.purge_key_vault(&self.az.caller, name);
        self.checked(r)
    }
    /// Checks that `name` is a Managed HSM (`managed_hsm`, the key cmdlets' -HsmName) or a key
    /// vault (-VaultName): a key of one is never reached by naming the other kind.
    pub fn check_container(&mut self, name: &str, managed_hsm: bool) -> Result<()> {
        let v = match self.vault(name) {
            Err(e) if managed_hsm && e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "there is no Managed HSM named '{}'",
                    crate::vault::ids::printable(name)
                ))
                .with_help("create it with New-AzKeyVaultManagedHsm, or list them with Get-AzKeyVaultManagedHsm"))
            }
            other => other?,
        };
        match (v.managed_hsm(), managed_hsm) {
            (true, false) => Err(Error::not_found(format!(
                "there is no key vault named '{name}': '{name}' is a Managed HSM"
            ))
            .with_help(format!("name it with -HsmName {name}"))),
            (false, true) => Err(Error::not_found(format!(
                "there is no Managed HSM named '{name}': '{name}' is a key vault"
            ))
            .with_help(format!("name it with -VaultName {name}"))),
            _ => Ok(()),
        }
    }
    pub fn add_key(&mut self, vault: &str, req: &NewKeyRequest) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.create_key(&self.az.caller, req);
        self.checked(r)
    }
    pub fn import_key(
        &mut self,
        vault: &str,
        req: &NewKeyRequest,
        pkcs8_der: &[u8],
    ) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.import_key(&self.az.caller, req, pkcs8_der);
        self.checked(r)
    }
    /// `Add-AzKeyVaultKey -KeyFilePath`: reads the key file (its kind by its extension:
    /// `.pem`, `.pfx`/`.p12`, `.byok`) and imports its RSA key. `password` opens an encrypted
    /// PEM key or a PKCS#12 file. A `.byok` blob is unwrapped in the vault under the
    /// key-exchange key its `header.kid` names, which must be a key of `vault`; it imports
    /// only as an HSM-protected key. The file is read once into memory (zeroized) and never
    /// copied anywhere.
    pub fn import_key_file(
        &mut self,
        vault: &str,
        req: &NewKeyRequest,
        path: &Path,
        password: Option<&[u8]>,
    ) -> Result<KeyVaultKey> {
        use crate::crypto::keyfile::{self, KeyFileError};
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if !matches!(ext.as_str(), "pem" | "pfx" | "p12" | "byok") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "-KeyFilePath {}: the file's kind is not known from its name",
                    path.display()
                ),
            )
            .with_help("name a .pem (PKCS#8 or PKCS#1 key), .pfx or .p12 (PKCS#12) or .byok (BYOK transfer blob) file"));
        }
        let bytes = zeroize::Zeroizing::new(
            crate::input::read_file_limited(path, crate::input::MAX_KEY_FILE_BYTES).map_err(
                |e| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!("cannot read -KeyFilePath {}: {e}", path.display()),
                    )
                    .with_help(format!(
                        "check the path; a key file is at most {}",
                        crate::input::size(crate::input::MAX_KEY_FILE_BYTES)
                    ))
                },
            )?,
        );
        let file_error = |e: KeyFileError| {
            let what = format!("-KeyFilePath {}: {e}", path.display());
            match e {
                KeyFileError::WrongPassword => Error::new(ErrorKind::Authentication, what)
                    .with_help("give the file's password with -KeyFilePassword (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force); nothing was imported"),
                KeyFileError::PasswordRequired => Error::new(ErrorKind::InvalidArgument, what)
                    .with_help("give its password with -KeyFilePassword (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force)"),
                KeyFileError::NotRsa(_) | KeyFileError::RsaSize(_) => {
                    Error::new(ErrorKind::InvalidArgument, what).with_help(
                        "make an RSA key of 2048, 3072 or 4096 bits (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072), or create one in the vault with Add-AzKeyVaultKey without -KeyFilePath",
                    )
                }
                KeyFileError::Unsupported(_) | KeyFileError::Malformed(_) => {
                    Error::new(ErrorKind::InvalidArgument, what)
                        .with_help("see 'custkey Get-Help Add-AzKeyVaultKey -Full' and docs/vaults.md for the key files custkey reads; nothing was imported")
                }
            }
        };
        if ext == "byok" {
            if req.destination != crate::vault::KeyDestination::Hsm {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "-KeyFilePath {}: a key from a .byok file can only be imported as an HSM-protected key",
                        path.display()
                    ),
                )
                .with_help("give -Destination HSM, or leave -Destination out (a .byok file imports as HSM)"));
            }
            let blob = keyfile::ByokBlob::parse(&bytes).map_err(file_error)?;
            let kid = crate::vault::ids::KeyId::parse(&blob.kid.replacen(".vault.azure.net:443/", ".vault.azure.net/", 1))
                .map_err(|e| {
                    Error::new(ErrorKind::InvalidArgument, format!("-KeyFilePath {}: header.kid: {}", path.display(), e.message()))
                        .with_help("the .byok file must name the key-exchange key by its key id (Get-AzKeyVaultKey shows it as Id)")
                })?;
            if !kid.vault.eq_ignore_ascii_case(vault) {
                return Err(Error::new(
                    ErrorKind::Rule,
                    format!(
                        "-KeyFilePath {}: the .byok file was made for the key-exchange key {} of vault '{}', not of vault '{vault}'",
                        path.display(),
                        blob.kid,
                        kid.vault
                    ),
                )
                .with_help("import it into the vault whose KEK it names, or make a .byok file for a KEK of this vault (Add-AzKeyVaultKey -Destination HSM -KeyOps import)"));
            }
            let v = self.vault(vault)?;
            let r = v.import_wrapped_key(
                &self.az.caller,
                req,
                &kid.name,
                kid.version.as_deref(),
                &blob.ciphertext,
            );
            return self.checked(r);
        }
        let pkcs8 = if ext == "pem" {
            keyfile::pkcs8_from_pem(&bytes, password)
        } else {
            keyfile::pkcs8_from_pkcs12(&bytes, password)
        }
        .map_err(file_error)?;
        self.import_key(vault, req, &pkcs8)
    }
    pub fn key(&mut self, vault: &str, name: &str, version: Option<&str>) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.get_key(&self.az.caller, name, version);
        self.checked(r)
    }
    pub fn keys(&mut self, vault: &str) -> Result<Vec<KeyVaultKey>> {
        let v = self.vault(vault)?;
        let r = v.list_keys(&self.az.caller);
        self.checked(r)
    }
    pub fn key_versions(&mut self, vault: &str, name: &str) -> Result<Vec<KeyVaultKey>> {
        let v = self.vault(vault)?;
        let r = v.list_key_versions(&self.az.caller, name);
        self.checked(r)
    }
    pub fn deleted_key(&mut self, vault: &str, name: &str) -> Result<DeletedKeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.get_deleted_key(&self.az.caller, name);
        self.checked(r)
    }
    pub fn deleted_keys(&mut self, vault: &str) -> Result<Vec<DeletedKeyVaultKey>> {
        let v = self.vault(vault)?;
        let r = v.list_deleted_keys(&self.az.caller);
        self.checked(r)
    }
    pub fn update_key(
        &mut self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        update: &KeyUpdate,
    ) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.update_key(&self.az.caller, name, version, update);
        self.checked(r)
    }
    pub fn remove_key(&mut self, vault: &str, name: &str) -> Result<DeletedKeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.delete_key(&self.az.caller, name);
        self.checked(r)
    }
    pub fn recover_key(&mut self, vault: &str, name: &str) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.recover_key(&self.az.caller, name);
        self.checked(r)
    }
    pub fn purge_key(&mut self, vault: &str, name: &str) -> Result<()> {
        let v = self.vault(vault)?;
        let r = v.purge_key(&self.az.caller, name);
        self.checked(r)
    }
    pub fn backup_key(&mut self, vault: &str, name: &str) -> Result<Vec<u8>> {
        let v = self.vault(vault)?;
        let r = v.backup_key(&self.az.caller, name);
        self.checked(r)
    }
    /// Get-AzKeyVaultKeyRotationPolicy.
    pub fn rotation_policy(&mut self, vault: &str, name: &str) -> Result<KeyRotationPolicy> {
        let v = self.vault(vault)?;
        let r = v.get_rotation_policy(&self.az.caller, name);
        self.checked(r)
    }
    /// Set-AzKeyVaultKeyRotationPolicy.
    pub fn set_rotation_policy(
        &mut self,
        vault: &str,
        name: &str,
        expires_in: Option<&str>,
        actions: &[LifetimeAction],
    ) -> Result<KeyRotationPolicy> {
        let v = self.vault(vault)?;
        let r = v.set_rotation_policy(&self.az.caller, name, expires_in, actions);
        self.checked(r)
    }
    /// Invoke-AzKeyVaultKeyRotation (`only_if_due`: the policy's Rotate action decides, under
    /// the vault lock; `None` when it is not due).
    pub fn rotate_key(
        &mut self,
        vault: &str,
        name: &str,
        only_if_due: bool,
    ) -> Result<Option<KeyVaultKey>> {
        let v = self.vault(vault)?;
        let r = v.rotate_key(&self.az.caller, name, only_if_due);
        self.checked(r)
    }
    pub fn restore_key(&mut self, vault: &str, blob: &[u8]) -> Result<KeyVaultKey> {
        let v = self.vault(vault)?;
        let r = v.restore_key(&self.az.caller, blob);
        self.checked(r)
    }
    pub fn set_access_policy(
        &mut self,
        vault: &str,
        principal: &Principal,
        permissions: &[KeyPermission],
    ) -> Result<KeyVaultInfo> {
        let v = self.vault(vault)?;
        let r = v.set_access_policy(&self.az.caller, principal, permissions);
        self.checked(r)
    }
    pub fn remove_access_policy(
        &mut self,
        vault: &str,
        principal: &Principal,
    ) -> Result<KeyVaultInfo> {
        let v = self.vault(vault)?;
        let r = v.remove_access_policy(&self.az.caller, principal);
        self.checked(r)
    }
    pub fn audit_log(&mut self, vault: &str, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let v = self.vault(vault)?;
        let r = v.audit_log(query);
        self.checked(r)
    }
}

impl AzureSession<'_> {
    /// `Backup-AzKeyVaultKey -OutputFile`: the sealed blob, written 0600 and atomically.
    /// An existing file is replaced only with `force`.
    pub fn backup_key_to_file(
        &mut self,
        vault: &str,
        name: &str,
        path: &Path,
        force: bool,
    ) -> Result<()> {
        if path.exists() && !force {
            return Err(
                Error::rule(format!("the file {} already exists", path.display()))
                    .with_help("choose another -OutputFile, or add -Force to replace it"),
            );
        }
        let blob = self.backup_key(vault, name)?;
        crate::vault::fsio::write_atomic(path, &blob)?;
        Ok(())
    }

    /// `Restore-AzKeyVaultKey -InputFile`.
    pub fn restore_key_from_file(&mut self, vault: &str, path: &Path) -> Result<KeyVaultKey> {
        // Bounded: a backup is at most MAX_BACKUP_BYTES, so `/dev/zero` stops there.
        let blob = crate::input::read_file_limited(path, crate::input::MAX_BACKUP_BYTES)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("cannot read {}: {e}", path.display()),
                )
                .with_help(format!(
                    "give the file Backup-AzKeyVaultKey wrote with -InputFile (a backup is at most {})",
                    crate::input::size(crate::input::MAX_BACKUP_BYTES)
                ))
            })?;
        self.restore_key(vault, &blob)
    }
}

use super::roles::{AdminKind, AdminMember, Loaded, Need};
use crate::vault::rbac::{self, Manage};
use crate::vault::{RoleAssignment, RoleDefinition, Scope};

/// Roles: Azure role assignments and the admin roles, as the signed-in account.
impl AzureSession<'_> {
    /// Refuses `cmdlet` unless the signed-in account holds a role satisfying `need`.
    pub fn require(&mut self, need: Need, cmdlet: &str) -> Result<()> {
        super::roles::require(&self.az.roles, self.store, need, cmdlet)
    }

    /// Whether the store's role record failed to verify (it then grants nothing).
    pub fn roles_forged(&mut self) -> Result<bool> {
        let roles = &self.az.roles;
        Ok(matches!(
            self.store.read(|tx| roles.load(tx))?,
            Loaded::Forged
        ))
    }

    /// The subscription scope of the current context.
    pub fn default_scope(&mut self) -> Result<Scope> {
        let ctx = self.context()?;
        Ok(Scope::parse(&format!(
            "/subscriptions/{}",
            ctx.subscription_id
        ))?)
    }

    fn audit_role(&mut self, operation: &str, a: &RoleAssignment) -> Result<()> {
        let by = self.az.caller.display_name();
        let params = serde_json::json!({
            "Scope": a.scope,
            "RoleDefinitionName": a.role().map(|r| r.name).unwrap_or_default(),
            "RoleDefinitionId": a.role_definition_id,
            "Principal": a.principal.display_name(),
            "PrincipalType": a.principal.kind(),
            "RoleAssignmentId": a.role_assignment_id(),
        });
        self.store.write(|tx| {
            let org_id = super::org::organization_id(tx)?;
            super::keys::audit(
                tx,
                &org_id,
                "AzureActiveDirectory",
                operation,
                &by,
                &a.role_assignment_id(),
                params,
            )
        })
    }

    /// `New-AzRoleAssignment`: at a vault or key scope into that vault's file, above the vaults
    /// into the store's role record. Needs Owner (or User Access Administrator) at the scope.
    pub fn new_role_assignment(
        &mut self,
        principal: &Principal,
        role: &'static RoleDefinition,
        scope: &Scope,
    ) -> Result<RoleAssignment> {
        let a = match &scope.vault {
            Some(name) => {
                let v = self.vault(name)?;
                let r = v.add_role_assignment(&self.az.caller, scope, role, principal);
                self.checked(r)?
            }
            None => {
                let caller = self.az.caller.clone();
                let roles = &self.az.roles;
                let forged = matches!(self.store.read(|tx| roles.load(tx))?, Loaded::Forged);
                let a = self.az.roles.modify(self.store, |_, st| {
                    if !rbac::allows_manage(&st.assignments, &caller, scope, Manage::Authorize) {
                        return Err(rbac::denied(
                            &caller,
                            Manage::Authorize.describe(),
                            scope,
                            "Owner",
                        )
                        .into());
                    }
                    let dup = st.assignments.iter().any(|a| {
                        a.principal.same_as(principal)
                            && a.role_definition_id == role.id
                            && Scope::parse(&a.scope)
                                .is_ok_and(|s| s.covers(scope) && scope.covers(&s))
                    });
                    if dup {
                        return Err(Error::rule(format!(
                            "the role assignment already exists: {} holds '{}' at {scope}",
                            principal.display_name(),
                            role.name
                        ))
                        .with_help(
                            "nothing was changed; Get-AzRoleAssignment lists the assignments",
                        ));
                    }
                    let a = RoleAssignment::new(scope, role, principal, &caller.display_name());
                    st.assignments.push(a.clone());
                    Ok(a)
                });
                let a = match a {
                    Err(e) => {
                        if e.kind() == ErrorKind::AccessDenied {
                            let _ = self.audit_refusal("New-AzRoleAssignment", scope, forged);
                        }
                        return Err(e);
                    }
                    Ok(a) => a,
                };
                self.az.install(self.store)?;
                a
            }
        };
        self.audit_role("New-AzRoleAssignment", &a)?;
        Ok(a)
    }

    fn audit_refusal(&mut self, cmdlet: &str, scope: &Scope, forged: bool) -> Result<()> {
        let by = self.az.caller.display_name();
        self.store.write(|tx| {
            let org_id = super::org::organization_id(tx)?;
            super::keys::audit(
                tx,
                &org_id,
                "AzureActiveDirectory",
                cmdlet,
                &by,
                &scope.to_string(),
                serde_json::json!({"ResultStatus": "AccessDenied", "Scope": scope.to_string(), "Forged": forged}),
            )
        })
    }

    /// `Remove-AzRoleAssignment`: the assignments of `principal` for `role` exactly at `scope`.
    pub fn remove_role_assignment(
        &mut self,
        principal: &Principal,
        role: &'static RoleDefinition,
        scope: &Scope,
    ) -> Result<Vec<RoleAssignment>> {
        let matches = |a: &RoleAssignment| {
            a.principal.same_as(principal)
                && a.role_definition_id.eq_ignore_ascii_case(role.id)
                && Scope::parse(&a.scope).is_ok_and(|s| s.covers(scope) && scope.covers(&s))
        };
        let gone = match &scope.vault {
            Some(name) => {
                let v = self.vault(name)?;
                let r = v.remove_role_assignments(&self.az.caller, scope.key.as_deref(), &matches);
                self.checked(r)?
            }
            None => {
                let caller = self.az.caller.clone();
                let r = self.az.roles.modify(self.store, |_, st| {
                    if !rbac::allows_manage(&st.assignments, &caller, scope, Manage::Authorize) {
                        return Err(rbac::denied(
                            &caller,
                            Manage::Authorize.describe(),
                            scope,
                            "Owner",
                        )
                        .into());
                    }
                    let (gone, kept): (Vec<_>, Vec<_>) =
                        st.assignments.drain(..).partition(|a| matches(a));
                    st.assignments = kept;
                    if gone.is_empty() {
                        return Err(Error::not_found(format!(
                            "{} holds no '{}' role assignment at {scope}",
                            principal.display_name(),
                            role.name
                        ))
                        .with_help("list them with Get-AzRoleAssignment"));
                    }
                    Ok(gone)
                });
                let gone = match r {
                    Err(e) => {
                        if e.kind() == ErrorKind::AccessDenied {
                            let _ = self.audit_refusal("Remove-AzRoleAssignment", scope, false);
                        }
                        return Err(e);
                    }
                    Ok(g) => g,
                };
                self.az.install(self.store)?;
                gone
            }
        };
        for a in &gone {
            self.audit_role("Remove-AzRoleAssignment", a)?;
        }
        Ok(gone)
    }

    /// `Get-AzRoleAssignment`: the assignments at, above (inherited) and below `scope` that
    /// the caller may read (vaults whose assignments it may not read are left out).
    pub fn role_assignments(&mut self, scope: &Scope) -> Result<Vec<RoleAssignment>> {
        let roles = &self.az.roles;
        let above = self.store.read(|tx| roles.load(tx))?.state().assignments;
        let mut out: Vec<RoleAssignment> = above
            .into_iter()
            .filter(|a| Scope::parse(&a.scope).is_ok_and(|s| s.covers(scope) || scope.covers(&s)))
            .collect();
        let names: Vec<String> = match &scope.vault {
            Some(v) => vec![v.clone()],
            None => self.vaults()?.into_iter().map(|v| v.vault_name).collect(),
        };
        for name in names {
            let v = self.vault(&name)?;
            let r = v.role_assignments(&self.az.caller);
            match self.checked(r) {
                Ok(list) => out.extend(list.into_iter().filter(|a| {
                    Scope::parse(&a.scope).is_ok_and(|s| s.covers(scope) || scope.covers(&s))
                })),
                Err(e) if e.kind() == ErrorKind::AccessDenied && scope.vault.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Adds `member` to admin role `role` (a role group or a directory role). Role groups need
    /// Organization Management; directory roles need Global Administrator or Privileged Role
    /// Administrator.
    pub fn add_admin(&mut self, kind: AdminKind, role: &str, member: &str) -> Result<AdminMember> {
        let role = super::roles::admin_role(role, kind)?;
        super::org::require_upn(member, "name the member as user@domain")?;
        let upn = self.az.caller.value().to_string();
        let (cmdlet, need) = admin_authority(kind);
        let r = self.az.roles.modify(self.store, |_, st| {
            if !super::roles::holds(st, &upn, need) {
                return Err(admin_denied(&upn, cmdlet, need));
            }
            if st
                .admins
                .iter()
                .any(|m| m.role == role.name && super::org::same_principal(&m.member, member))
            {
                return Err(
                    Error::rule(format!("{member} already holds '{}'", role.name))
                        .with_help("nothing was changed"),
                );
            }
            let m = AdminMember {
                id: uuid::Uuid::new_v4().to_string(),
                role: role.name.to_string(),
                member: member.to_string(),
                added_by: upn.clone(),
                added: chrono::Utc::now(),
            };
            st.admins.push(m.clone());
            Ok(m)
        });
        self.audit_admin(cmdlet, role.name, member, &r)?;
        r
    }

    /// Removes `member` from admin role `role`.
    pub fn remove_admin(
        &mut self,
        kind: AdminKind,
        role: &str,
        member: &str,
    ) -> Result<AdminMember> {
        let role = super::roles::admin_role(role, kind)?;
        let upn = self.az.caller.value().to_string();
        let (_, need) = admin_authority(kind);
        let cmdlet = match kind {
            AdminKind::RoleGroup => "Remove-RoleGroupMember",
            AdminKind::DirectoryRole => "Remove-MgRoleManagementDirectoryRoleAssignment",
        };
        let r = self.az.roles.modify(self.store, |_, st| {
            if !super::roles::holds(st, &upn, need) {
                return Err(admin_denied(&upn, cmdlet, need));
            }
            let i = st
                .admins
                .iter()
                .position(|m| {
                    m.role == role.name
                        && (super::org::same_principal(&m.member, member)
                            || m.id.eq_ignore_ascii_case(member))
                })
                .ok_or_else(|| {
                    Error::not_found(format!("{member} does not hold '{}'", role.name))
                })?;
            Ok(st.admins.remove(i))
        });
        self.audit_admin(cmdlet, role.name, member, &r)?;
        r
    }

    /// The holders of admin roles of `kind` (of `role` only, if given).
    pub fn admins(&mut self, kind: AdminKind, role: Option<&str>) -> Result<Vec<AdminMember>> {
        let role = role
            .map(|r| super::roles::admin_role(r, kind))
            .transpose()?;
        let roles = &self.az.roles;
        let st = self.store.read(|tx| roles.load(tx))?.state();
        Ok(st
            .admins
            .into_iter()
            .filter(|m| super::roles::admin_role(&m.role, kind).is_ok())
            .filter(|m| role.is_none_or(|r| r.name == m.role))
            .collect())
    }

    fn audit_admin(
        &mut self,
        cmdlet: &str,
        role: &str,
        member: &str,
        r: &Result<AdminMember>,
    ) -> Result<()> {
        let by = self.az.caller.value().to_string();
        let status = match r {
            Ok(_) => "Succeeded".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        };
        let params = serde_json::json!({"Role": role, "Member": member, "ResultStatus": status});
        self.store.write(|tx| {
            let org_id = super::org::organization_id(tx)?;
            super::keys::audit(tx, &org_id, "ExchangeAdmin", cmdlet, &by, role, params)
        })
    }
}

fn admin_authority(kind: AdminKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        AdminKind::RoleGroup => (
            "Add-RoleGroupMember",
            &["Organization Management", "Global Administrator"],
        ),
        AdminKind::DirectoryRole => (
            "New-MgRoleManagementDirectoryRoleAssignment",
            &["Global Administrator", "Privileged Role Administrator"],
        ),
    }
}

fn admin_denied(upn: &str, cmdlet: &str, need: &[&str]) -> Error {
    Error::new(
        ErrorKind::AccessDenied,
        format!(
            "{upn} is not allowed to run {cmdlet}: it needs one of the roles {}",
            need.iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .with_help(format!(
        "ask a holder of '{}' to run it, or to grant you that role",
        need[0]
    ))
}

/// A Managed HSM's security domain (`Export-`/`Import-AzKeyVaultSecurityDomain`).
impl AzureSession<'_> {
    fn read_small(path: &Path, what: &str, help: &str) -> Result<Zeroizing<Vec<u8>>> {
        crate::input::read_file_limited(path, crate::crypto::security_domain::MAX_FILE_BYTES as u64)
            .map(Zeroizing::new)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("cannot read {what} {}: {e}", path.display()),
                )
                .with_help(help.to_string())
            })
    }

    fn certificate(path: &Path) -> Result<crate::crypto::security_domain::DomainCertificate> {
        let bytes = Self::read_small(
            path,
            "certificate",
            "give the certificate files (.cer, PEM or DER) of the security-domain key pairs",
        )?;
        crate::crypto::security_domain::read_certificate(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("certificate {} is not usable: {e}", path.display()),
            )
            .with_help("make each key pair with openssl req -newkey rsa:2048 -nodes -keyout sd1.key -x509 -days 365 -out sd1.cer")
        })
    }

    /// `Export-AzKeyVaultSecurityDomain -Name h -Certificates ... -Quorum q -OutputPath p`:
    /// writes the security-domain file (0600, atomically; an existing file only with
    /// `force`). The first download activates the HSM.
    pub fn export_security_domain(
        &mut self,
        hsm: &str,
        certificates: &[PathBuf],
        quorum: i64,
        out: &Path,
        force: bool,
    ) -> Result<()> {
        self.check_container(hsm, true)?;
        crate::crypto::security_domain::check_quorum(certificates.len(), quorum).map_err(|e| {
            Error::new(ErrorKind::InvalidArgument, e.0)
                .with_help("e.g. -Certificates sd1.cer,sd2.cer,sd3.cer -Quorum 2")
        })?;
        if out.exists() && !force {
            return Err(
                Error::rule(format!("the file {} already exists", out.display()))
                    .with_help("choose another -OutputPath, or add -Force to replace it"),
            );
        }
        let certs = certificates
            .iter()
            .map(|p| Self::certificate(p))
            .collect::<Result<Vec<_>>>()?;
        let v = self.vault(hsm)?;
        let r = v.export_security_domain(&self.az.caller, &certs, quorum as usize);
        let file = self.checked(r)?;
        crate::vault::fsio::write_atomic(out, &file)?;
        Ok(())
    }

    /// `Import-AzKeyVaultSecurityDomain -Name h -Keys @{PublicKey=..; PrivateKey=..},...
    /// -SecurityDomainPath p`: `keys` are (certificate, PEM private key) paths. Returns the
    /// domain id the HSM now holds.
    pub fn import_security_domain(
        &mut self,
        hsm: &str,
        keys: &[(PathBuf, PathBuf)],
        path: &Path,
    ) -> Result<String> {
        self.check_container(hsm, true)?;
        let file = Self::read_small(
            path,
            "security-domain file",
            "give the file Export-AzKeyVaultSecurityDomain wrote with -SecurityDomainPath",
        )?;
        let mut opened = Vec::new();
        for (cert, key) in keys {
            let c = Self::certificate(cert)?;
            let pem = Self::read_small(
                key,
                "private key",
                "give each certificate's private key as PEM (the .key file openssl req -keyout wrote)",
            )?;
            let pkcs8 = crate::crypto::keyfile::pkcs8_from_pem(&pem, None).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("private key {} is not usable: {e}", key.display()),
                )
                .with_help("give an unencrypted PEM RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)")
            })?;
            opened.push((c, pkcs8));
        }
        let v = self.vault(hsm)?;
        let r = v.import_security_domain(&self.az.caller, &file, &opened);
        self.checked(r)
    }
}

/// A Managed HSM local role as `Get-AzKeyVaultRoleDefinition -HsmName` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoleDefinition {
    /// `RoleName` (`Managed HSM Crypto User`).
    pub role_name: String,
    /// The role definition GUID (Azure's, the same everywhere).
    pub id: String,
    /// Microsoft's description.
    pub description: String,
    /// Its data actions (`Microsoft.KeyVault/managedHsm/...`).
    pub data_actions: Vec<String>,
}

impl AzureSession<'_> {
    /// `Get-AzKeyVaultRoleDefinition -HsmName h [-RoleDefinitionName n]`: the built-in local
    /// roles (custkey has no custom ones).
    pub fn hsm_role_definitions(
        &mut self,
        hsm: &str,
        name: Option<&str>,
    ) -> Result<Vec<LocalRoleDefinition>> {
        self.check_container(hsm, true)?;
        let view = |r: &crate::vault::RoleDefinition| LocalRoleDefinition {
            role_name: r.name.to_string(),
            id: r.id.to_string(),
            description: r.description.to_string(),
            data_actions: r.data_actions.iter().map(|s| s.to_string()).collect(),
        };
        match name {
            Some(n) => {
                let r = rbac::hsm_role(n).map_err(|e| {
                    Error::not_found(e.message().to_string()).with_help(format!(
                        "Get-AzKeyVaultRoleDefinition -HsmName {hsm} lists the local roles"
                    ))
                })?;
                Ok(vec![view(r)])
            }
            None => Ok(rbac::HSM_ROLES.iter().map(view).collect()),
        }
    }
}
