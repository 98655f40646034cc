//! The Azure side as operators drive it: the signed-in account, the context, and the
//! embedded local vaults. Vault errors become service errors with advice per class.

use std::path::Path;

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
            VaultError::Unavailable(_) => (
                ErrorKind::Unavailable,
                "check that the data directory and its vault files are present and readable (for a PKCS#11 vault, also its module path and token); nothing was changed",
            ),
            VaultError::Invalid(_) => (ErrorKind::Rule, "nothing was changed"),
            VaultError::Authentication(_) => (
                ErrorKind::Authentication,
                "give the right master key: CUSTKEY_VAULT_KEY (64 hex digits), CUSTKEY_VAULT_PASSPHRASE, or the key file vault.key beside the store; for a PKCS#11 vault, the token's user PIN in CUSTKEY_PKCS11_PIN",
            ),
        };
        Error::new(kind, e.message().to_string()).with_help(help)
    }
}

/// The Azure side for one data directory, acting as the signed-in account.
pub struct Azure {
    pub backend: LocalBackend,
    pub caller: Caller,
}

impl Azure {
    /// Opens the local vault backend in `data_dir` as the account signed in to `store`.
    pub fn open(data_dir: &Path, store: &mut Store) -> Result<Azure> {
        let caller = Principal::user(&account(store)?)?;
        let backend = LocalBackend::open(data_dir)?;
        Ok(Azure { backend, caller })
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

/// The signed-in Azure account: set by `Connect-AzAccount`, else `admin@<organization>`.
pub fn account(store: &mut Store) -> Result<String> {
    if let Some(a) = store.read(|tx| -> Result<_> { Ok(tx.setting(ACCOUNT_SETTING)?) })? {
        return Ok(a);
    }
    let org = super::org::get(store)?;
    Ok(format!("admin@{}", org.name))
}

/// `Connect-AzAccount -AccountId`: later Az cmdlets act as this user.
pub fn connect(store: &mut Store, upn: &str) -> Result<String> {
    if !super::org::is_upn(upn) {
        return Err(
            Error::invalid(format!("'{upn}' is not a user principal name"))
                .with_help("sign in as user@domain"),
        );
    }
    store.write(|tx| -> Result<()> { Ok(tx.set_setting(ACCOUNT_SETTING, upn)?) })?;
    Ok(upn.to_string())
}

use crate::vault::{
    AuditQuery, AuditRecord, AzContextInfo, DeletedKeyVaultKey, KeyPermission, KeyUpdate, KeyVault,
    KeyVaultInfo, KeyVaultKey, NewKeyRequest, NewVaultRequest, ProviderFeature,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Each operation as one cmdlet needs it, acting as the signed-in account.
impl Azure {
    pub fn context(&self) -> Result<AzContextInfo> {
        Ok(self.backend.get_context()?)
    }
    pub fn set_context(&self, subscription: &str) -> Result<AzContextInfo> {
        Ok(self.backend.set_context(subscription)?)
    }
    pub fn register_feature(&self, feature: &str, namespace: &str) -> Result<ProviderFeature> {
        Ok(self.backend.register_provider_feature(feature, namespace)?)
    }
    pub fn feature(&self, feature: &str, namespace: &str) -> Result<ProviderFeature> {
        Ok(self.backend.get_provider_feature(feature, namespace)?)
    }
    pub fn new_vault(&self, req: &NewVaultRequest) -> Result<KeyVaultInfo> {
        Ok(self.backend.new_key_vault(&self.caller, req)?)
    }
    pub fn vault_info(&self, name: &str) -> Result<KeyVaultInfo> {
        Ok(self.backend.get_key_vault(name)?)
    }
    pub fn vaults(&self) -> Result<Vec<KeyVaultInfo>> {
        Ok(self.backend.list_key_vaults()?)
    }
    pub fn removed_vaults(&self) -> Result<Vec<(KeyVaultInfo, DateTime<Utc>)>> {
        Ok(self.backend.list_removed_key_vaults()?)
    }
    pub fn update_vault(
        &self,
        name: &str,
        enable_purge_protection: bool,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<KeyVaultInfo> {
        Ok(self
            .backend
            .update_key_vault(&self.caller, name, enable_purge_protection, tags)?)
    }
    pub fn remove_vault(&self, name: &str) -> Result<()> {
        Ok(self.backend.remove_key_vault(&self.caller, name)?)
    }
    pub fn undo_remove_vault(&self, name: &str) -> Result<KeyVaultInfo> {
        Ok(self.backend.undo_remove_key_vault(&self.caller, name)?)
    }
    pub fn purge_vault(&self, name: &str) -> Result<()> {
        Ok(self.backend.purge_key_vault(&self.caller, name)?)
    }
    pub fn add_key(&self, vault: &str, req: &NewKeyRequest) -> Result<KeyVaultKey> {
        Ok(self.backend.vault(vault)?.create_key(&self.caller, req)?)
    }
    pub fn import_key(
        &self,
        vault: &str,
        req: &NewKeyRequest,
        pkcs8_der: &[u8],
    ) -> Result<KeyVaultKey> {
        Ok(self
            .backend
            .vault(vault)?
            .import_key(&self.caller, req, pkcs8_der)?)
    }
    pub fn key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<KeyVaultKey> {
        Ok(self
            .backend
            .vault(vault)?
            .get_key(&self.caller, name, version)?)
    }
    pub fn keys(&self, vault: &str) -> Result<Vec<KeyVaultKey>> {
        Ok(self.backend.vault(vault)?.list_keys(&self.caller)?)
    }
    pub fn key_versions(&self, vault: &str, name: &str) -> Result<Vec<KeyVaultKey>> {
        Ok(self
            .backend
            .vault(vault)?
            .list_key_versions(&self.caller, name)?)
    }
    pub fn deleted_key(&self, vault: &str, name: &str) -> Result<DeletedKeyVaultKey> {
        Ok(self
            .backend
            .vault(vault)?
            .get_deleted_key(&self.caller, name)?)
    }
    pub fn deleted_keys(&self, vault: &str) -> Result<Vec<DeletedKeyVaultKey>> {
        Ok(self.backend.vault(vault)?.list_deleted_keys(&self.caller)?)
    }
    pub fn update_key(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        update: &KeyUpdate,
    ) -> Result<KeyVaultKey> {
        Ok(self
            .backend
            .vault(vault)?
            .update_key(&self.caller, name, version, update)?)
    }
    pub fn remove_key(&self, vault: &str, name: &str) -> Result<DeletedKeyVaultKey> {
        Ok(self.backend.vault(vault)?.delete_key(&self.caller, name)?)
    }
    pub fn recover_key(&self, vault: &str, name: &str) -> Result<KeyVaultKey> {
        Ok(self.backend.vault(vault)?.recover_key(&self.caller, name)?)
    }
    pub fn purge_key(&self, vault: &str, name: &str) -> Result<()> {
        Ok(self.backend.vault(vault)?.purge_key(&self.caller, name)?)
    }
    pub fn backup_key(&self, vault: &str, name: &str) -> Result<Vec<u8>> {
        Ok(self.backend.vault(vault)?.backup_key(&self.caller, name)?)
    }
    pub fn restore_key(&self, vault: &str, blob: &[u8]) -> Result<KeyVaultKey> {
        Ok(self.backend.vault(vault)?.restore_key(&self.caller, blob)?)
    }
    pub fn set_access_policy(
        &self,
        vault: &str,
        principal: &Principal,
        permissions: &[KeyPermission],
    ) -> Result<KeyVaultInfo> {
        Ok(self
            .backend
            .vault(vault)?
            .set_access_policy(&self.caller, principal, permissions)?)
    }
    pub fn remove_access_policy(&self, vault: &str, principal: &Principal) -> Result<KeyVaultInfo> {
        Ok(self
            .backend
            .vault(vault)?
            .remove_access_policy(&self.caller, principal)?)
    }
    pub fn audit_log(&self, vault: &str, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.backend.vault(vault)?.audit_log(query)?)
    }
}

impl Azure {
    /// `Backup-AzKeyVaultKey -OutputFile`: the sealed blob, written 0600 and atomically.
    /// An existing file is replaced only with `force`.
    pub fn backup_key_to_file(
        &self,
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
    pub fn restore_key_from_file(&self, vault: &str, path: &Path) -> Result<KeyVaultKey> {
        let blob = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot read {}: {e}", path.display()),
            )
            .with_help("give the file Backup-AzKeyVaultKey wrote with -InputFile")
        })?;
        self.restore_key(vault, &blob)
    }
}
