//! The Azure side as operators drive it: the signed-in account, the context, and the
//! embedded local vaults. Vault errors become service errors with advice per class.

use std::path::Path;

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
pub struct Azure {
    pub backend: LocalBackend,
    pub caller: Caller,
    /// The vault generations recorded in the store: every vault read is checked against them.
    generations: Generations,
}

impl Azure {
    /// Opens the local vault backend in `data_dir` as the account signed in to `store`.
    pub fn open(data_dir: &Path, store: &mut Store) -> Result<Azure> {
        let upn = account(store)?;
        Azure::with_backend(LocalBackend::open(data_dir)?, store, &upn)
    }

    /// The Azure side over `backend`, acting as `upn` (an authenticated principal).
    pub fn with_backend(backend: LocalBackend, store: &mut Store, upn: &str) -> Result<Azure> {
        let caller = Principal::user(upn)?;
        let generations = Generations::open(store, backend.clone())?;
        Ok(Azure {
            backend,
            caller,
            generations,
        })
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
    pub fn accept_rollback(&mut self, name: &str) -> Result<(u64, u64)> {
        self.az
            .generations
            .accept(self.store, name, &self.az.caller.display_name())
    }
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
    AuditQuery, AuditRecord, AzContextInfo, DeletedKeyVaultKey, KeyPermission, KeyUpdate, KeyVault,
    KeyVaultInfo, KeyVaultKey, NewKeyRequest, NewVaultRequest, ProviderFeature,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Each operation as one cmdlet needs it, acting as the signed-in account.
impl AzureSession<'_> {
    pub fn context(&mut self) -> Result<AzContextInfo> {
        let r = self.az.backend.get_context();
        self.checked(r)
    }
    pub fn set_context(&mut self, subscription: &str) -> Result<AzContextInfo> {
        let r = self.az.backend.set_context(subscription);
        self.checked(r)
    }
    pub fn register_feature(&mut self, feature: &str, namespace: &str) -> Result<ProviderFeature> {
        let r = self
            .az
            .backend
            .register_provider_feature(feature, namespace);
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
