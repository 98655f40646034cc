//! Key vaults: the customer's side of Customer Key.
//!
//! - [`KeyVault`]: one vault, whatever holds it (the embedded [`local`] backend, a PKCS#11
//!   token, ...). Every key operation is performed as a named [`Caller`] and checked against the
//!   vault's access policies; every failure has an exact [`ErrorClass`].
//! - [`KeyId`]: Azure's key ids, `https://{vault}.vault.azure.net/keys/{name}[/{version}]`, and
//!   [`VaultRegistry`], which resolves one to its vault whatever the backend.
//! - [`RootKeyProvider`]: the narrow seam the service wraps and unwraps DEP keys through,
//!   implemented by the local and PKCS#11 vaults ([`VaultRoots`]) and by KMIP key managers
//!   ([`kmip::KmipRoots`]).
//! - [`AzureContextStore`]: subscriptions, provider features and subscription backup keys.
//! - [`RecoveryLevel`]: derived as Azure derives it.
//!
//! docs/vaults.md describes the formats and rules in full.

pub mod audit;
pub mod azure;
pub mod backup;
pub mod error;
pub mod fsio;
pub mod ids;
pub mod kmip;
pub mod local;
pub mod master_key;
pub mod material;
pub mod model;
pub mod pkcs11;
pub mod pkcs11_vault;
pub mod policy;
pub mod rbac;
pub mod registry;
pub mod root;
pub mod rotation;

use zeroize::Zeroizing;

pub use audit::{AuditLog, AuditQuery, AuditRecord, AuditVerification, VaultOperation};
pub use azure::{
    AzContextInfo, AzureContextStore, ProviderFeature, ResourceProvider, SubscriptionInfo,
};
pub use error::{ErrorClass, VaultError, VaultResult};
pub use ids::{validate_key_name, validate_vault_name, validate_version, KeyId};
pub use local::{LocalBackend, LocalPaths, LocalVault, VaultStamp};
pub use master_key::{
    KeyringCache, MasterKeyKind, MasterKeyOptions, MasterKeyPaths, MasterKeySource,
};
pub use material::{HeldKeyRef, HolderBinding, KeyHolder, KeyHolders};
pub use model::{
    DeletedKeyVaultKey, JsonWebKey, KeyAttributes, KeyDestination, KeyOperation, KeyUpdate,
    KeyVaultInfo, KeyVaultKey, ManagedHsmSpec, NewKeyRequest, NewVaultRequest, RecoveryLevel,
    VaultSku, WrapResult,
};
pub use pkcs11::{Pkcs11Binding, Pkcs11Uri};
pub use pkcs11_vault::{Pkcs11Provider, Pkcs11Vault};
pub use policy::{
    service_principal_display_name, AccessPolicy, AccessPolicyEntry, Caller, KeyPermission,
    Principal, EXCHANGE_ONLINE_APP_ID, KNOWN_SERVICE_PRINCIPALS, M365_DATA_AT_REST_APP_ID,
    SHAREPOINT_ONLINE_APP_ID,
};
pub use rbac::{Manage, RoleAssignment, RoleDefinition, Scope, ROLES};
pub use registry::{VaultProvider, VaultRegistry, VaultRoots};
pub use root::{RootError, RootKeyInfo, RootKeyKind, RootKeyProvider, RootWrap};
pub use rotation::{
    parse_iso_duration, KeyRotationPolicy, LifetimeAction, RotationAction, RotationPolicy,
};

use crate::crypto::OaepAlg;

/// The key holders this build knows (the composition point of [`material`]): the vault engine
/// opens a recorded [`HolderBinding`] through this, so it never names a holder backend itself.
pub(crate) fn key_holders() -> &'static dyn KeyHolders {
    &pkcs11::TokenHolders
}

/// One key vault.
///
/// Key-plane operations take the [`Caller`] and need the access-policy permission named in
/// their docs; without it they fail with [`VaultError::AccessDenied`] before anything else is
/// looked at (as Azure answers 403 before 404). Access-policy and audit operations are
/// management-plane: they are recorded with their caller but not gated by key permissions.
///
/// `version: None` means the latest version. Every call, success or failure, is appended to the
/// vault's audit log.
pub trait KeyVault: Send + Sync {
    /// The vault name as created.
    fn vault_name(&self) -> String;

    /// The backend (`Local`, `PKCS11`, ...).
    fn backend(&self) -> &'static str;

    /// Whether this is a Managed HSM (`New-AzKeyVaultManagedHsm`): its keys are named
    /// `https://{name}.managedhsm.azure.net/keys/...`, not with the vault host.
    fn managed_hsm(&self) -> bool {
        false
    }

    /// `Get-AzKeyVault -VaultName v`.
    fn properties(&self) -> VaultResult<KeyVaultInfo>;

    /// `Add-AzKeyVaultKey` (permission `create`): a new key, or a new version of an existing
    /// one (a roll). RSA 2048/3072/4096 only.
    fn create_key(&self, caller: &Caller, request: &NewKeyRequest) -> VaultResult<KeyVaultKey>;

    /// `Add-AzKeyVaultKey -KeyFilePath` (permission `import`): bring an RSA private key (PKCS#8
    /// DER) in as a new key or a new version. `request.size` is ignored; the key's own size must
    /// be allowed.
    fn import_key(
        &self,
        caller: &Caller,
        request: &NewKeyRequest,
        pkcs8_der: &[u8],
    ) -> VaultResult<KeyVaultKey>;

    /// `Add-AzKeyVaultKey -KeyFilePath x.byok` (permission `import`): bring in an RSA key
    /// wrapped for this vault's key-exchange key `kek_name` (version `kek_version`, or the
    /// latest) as a BYOK transfer blob's ciphertext (RSA-OAEP SHA-1 of an AES key, then RFC
    /// 5649 of the PKCS#8 key). The KEK must be an HSM key of this vault whose only KeyOps is
    /// `import`, enabled and inside its validity period; its private key never leaves the
    /// vault. The new key is HSM-protected.
    fn import_wrapped_key(
        &self,
        caller: &Caller,
        request: &NewKeyRequest,
        kek_name: &str,
        kek_version: Option<&str>,
        ciphertext: &[u8],
    ) -> VaultResult<KeyVaultKey>;

    /// `Get-AzKeyVaultKey -Name [-Version]` (permission `get`). Works on disabled keys.
    fn get_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> VaultResult<KeyVaultKey>;

    /// `Get-AzKeyVaultKey -VaultName v` (permission `list`): the latest version of each key.
    fn list_keys(&self, caller: &Caller) -> VaultResult<Vec<KeyVaultKey>>;

    /// `Get-AzKeyVaultKey -Name k -IncludeVersions` (permission `list`), oldest first.
    fn list_key_versions(&self, caller: &Caller, name: &str) -> VaultResult<Vec<KeyVaultKey>>;

    /// `Update-AzKeyVaultKey` (permission `update`).
    fn update_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        update: &KeyUpdate,
    ) -> VaultResult<KeyVaultKey>;

    /// wrapKey (permission `wrapKey`; the version must be enabled, inside its validity period
    /// and permit `wrapKey`).
    fn wrap_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        algorithm: OaepAlg,
        key: &[u8],
    ) -> VaultResult<WrapResult>;

    /// unwrapKey (permission `unwrapKey`; same key checks as wrap). A ciphertext that does not
    /// unwrap under this version is `Invalid`.
    fn unwrap_key(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
        algorithm: OaepAlg,
        wrapped: &[u8],
    ) -> VaultResult<Zeroizing<Vec<u8>>>;

    /// `Remove-AzKeyVaultKey` (permission `delete`): soft delete, all versions.
    fn delete_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey>;

    /// `Get-AzKeyVaultKey -InRemovedState -Name k` (permission `get`).
    fn get_deleted_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey>;

    /// `Get-AzKeyVaultKey -InRemovedState` (permission `list`).
    fn list_deleted_keys(&self, caller: &Caller) -> VaultResult<Vec<DeletedKeyVaultKey>>;

    /// `Undo-AzKeyVaultKeyRemoval` (permission `recover`).
    fn recover_key(&self, caller: &Caller, name: &str) -> VaultResult<KeyVaultKey>;

    /// `Remove-AzKeyVaultKey -InRemovedState` (permission `purge`). Refused (`Invalid`) when the
    /// recovery level forbids purge (purge protection, or a protected subscription).
    fn purge_key(&self, caller: &Caller, name: &str) -> VaultResult<()>;

    /// `Backup-AzKeyVaultKey` (permission `backup`): a sealed blob of all versions and metadata.
    fn backup_key(&self, caller: &Caller, name: &str) -> VaultResult<Vec<u8>>;

    /// `Restore-AzKeyVaultKey` (permission `restore`): only a blob of this vault's subscription,
    /// only when no key (active or deleted) has that name.
    fn restore_key(&self, caller: &Caller, backup: &[u8]) -> VaultResult<KeyVaultKey>;

    /// `Set-AzKeyVaultAccessPolicy -PermissionsToKeys`: the principal's key permissions become
    /// exactly `permissions`.
    fn set_access_policy(
        &self,
        caller: &Caller,
        principal: &Principal,
        permissions: &[KeyPermission],
    ) -> VaultResult<KeyVaultInfo>;

    /// `Remove-AzKeyVaultAccessPolicy`. `NotFound` if the principal had no policy.
    fn remove_access_policy(
        &self,
        caller: &Caller,
        principal: &Principal,
    ) -> VaultResult<KeyVaultInfo>;

    /// The vault's audit records passing `query`, oldest first.
    fn audit_log(&self, query: &AuditQuery) -> VaultResult<Vec<AuditRecord>>;

    /// `Get-AzKeyVaultKeyRotationPolicy` (permission `getrotationpolicy`). A key without a
    /// policy of its own shows no actions and no dates.
    fn get_rotation_policy(&self, caller: &Caller, name: &str) -> VaultResult<KeyRotationPolicy>;

    /// `Set-AzKeyVaultKeyRotationPolicy` (permission `setrotationpolicy`): replaces the policy,
    /// after checking Azure's limits ([`RotationPolicy::validate`]).
    fn set_rotation_policy(
        &self,
        caller: &Caller,
        name: &str,
        expires_in: Option<&str>,
        actions: &[LifetimeAction],
    ) -> VaultResult<KeyRotationPolicy>;

    /// `Invoke-AzKeyVaultKeyRotation` (permission `rotate`): a new version with the current
    /// version's type, size, KeyOps and tags, and `Expires = now + ExpiresIn` when the policy
    /// sets it. With `only_if_due`, the policy's Rotate action is checked under the vault lock
    /// first and `None` is returned when it is not due (so racing callers make one version).
    fn rotate_key(
        &self,
        caller: &Caller,
        name: &str,
        only_if_due: bool,
    ) -> VaultResult<Option<KeyVaultKey>>;
}
