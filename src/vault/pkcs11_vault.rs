//! PKCS#11 vaults: the vault engine's management plane (attributes, access policies, soft
//! delete, audit) over a vault file of the data directory, with every key's material on a
//! token ([`super::pkcs11`] does the token operations). The registry's source of them is
//! [`Pkcs11Provider`]; as a root-key backend they are reached through
//! [`super::registry::VaultRoots`] like any other Azure-style vault.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::audit::{AuditQuery, AuditRecord, AuditVerification};
use super::error::{VaultError, VaultResult};
use super::ids::{printable, KeyId};
use super::local::{LocalBackend, LocalVault};
use super::model::{
    DeletedKeyVaultKey, KeyUpdate, KeyVaultInfo, KeyVaultKey, NewKeyRequest, WrapResult,
};
use super::pkcs11::{Pkcs11Binding, Pkcs11Uri, BACKEND};
use super::policy::{Caller, KeyPermission, Principal};
use super::registry::VaultProvider;
use super::rotation::{KeyRotationPolicy, LifetimeAction};
use super::KeyVault;
use crate::crypto::OaepAlg;

/// A PKCS#11 vault: the shared vault engine over its sidecar, with key material on the token.
#[derive(Clone, Debug)]
pub struct Pkcs11Vault {
    engine: LocalVault,
    binding: Pkcs11Binding,
}

impl Pkcs11Vault {
    /// The module and token this vault is bound to.
    pub fn binding(&self) -> &Pkcs11Binding {
        &self.binding
    }

    /// Check the chain of the vault's audit log.
    pub fn verify_audit_log(&self) -> VaultResult<AuditVerification> {
        self.engine.verify_audit_log()
    }

    /// Find a key version by a `pkcs11:` URI whose token is this vault's: returns the
    /// Azure-style key id (with version when the URI names one).
    pub fn key_id_for_uri(&self, caller: &Caller, uri: &Pkcs11Uri) -> VaultResult<Option<KeyId>> {
        if uri.token != self.binding.token_label {
            return Ok(None);
        }
        let (name, version) = uri.key_and_version()?;
        let vault = self.vault_name().to_ascii_lowercase();
        let keys = match &name {
            Some(n) => match self.list_key_versions(caller, n) {
                Ok(v) => v,
                Err(VaultError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            },
            None => {
                let mut all = Vec::new();
                for k in self.list_keys(caller)? {
                    all.extend(self.list_key_versions(caller, &k.name)?);
                }
                all
            }
        };
        let hit = match &version {
            Some(v) => keys.into_iter().find(|k| &k.version == v),
            None => keys.into_iter().last(),
        };
        Ok(hit.map(|k| KeyId {
            vault,
            name: k.name,
            version: version.map(|_| k.version),
            hsm: self.managed_hsm(),
        }))
    }
}

macro_rules! delegate {
    ($($name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret { self.engine.$name($($arg),*) })*
    };
}

impl KeyVault for Pkcs11Vault {
    fn vault_name(&self) -> String {
        self.engine.vault_name()
    }
    fn backend(&self) -> &'static str {
        BACKEND
    }
    fn managed_hsm(&self) -> bool {
        self.engine.managed_hsm()
    }
    delegate! {
        properties(&self) -> VaultResult<KeyVaultInfo>;
        create_key(&self, caller: &Caller, request: &NewKeyRequest) -> VaultResult<KeyVaultKey>;
        import_key(&self, caller: &Caller, request: &NewKeyRequest, pkcs8_der: &[u8]) -> VaultResult<KeyVaultKey>;
        import_wrapped_key(&self, caller: &Caller, request: &NewKeyRequest, kek_name: &str, kek_version: Option<&str>, ciphertext: &[u8]) -> VaultResult<KeyVaultKey>;
        get_key(&self, caller: &Caller, name: &str, version: Option<&str>) -> VaultResult<KeyVaultKey>;
        list_keys(&self, caller: &Caller) -> VaultResult<Vec<KeyVaultKey>>;
        list_key_versions(&self, caller: &Caller, name: &str) -> VaultResult<Vec<KeyVaultKey>>;
        update_key(&self, caller: &Caller, name: &str, version: Option<&str>, update: &KeyUpdate) -> VaultResult<KeyVaultKey>;
        wrap_key(&self, caller: &Caller, name: &str, version: Option<&str>, algorithm: OaepAlg, key: &[u8]) -> VaultResult<WrapResult>;
        unwrap_key(&self, caller: &Caller, name: &str, version: Option<&str>, algorithm: OaepAlg, wrapped: &[u8]) -> VaultResult<Zeroizing<Vec<u8>>>;
        delete_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey>;
        get_deleted_key(&self, caller: &Caller, name: &str) -> VaultResult<DeletedKeyVaultKey>;
        list_deleted_keys(&self, caller: &Caller) -> VaultResult<Vec<DeletedKeyVaultKey>>;
        recover_key(&self, caller: &Caller, name: &str) -> VaultResult<KeyVaultKey>;
        purge_key(&self, caller: &Caller, name: &str) -> VaultResult<()>;
        backup_key(&self, caller: &Caller, name: &str) -> VaultResult<Vec<u8>>;
        restore_key(&self, caller: &Caller, backup: &[u8]) -> VaultResult<KeyVaultKey>;
        set_access_policy(&self, caller: &Caller, principal: &Principal, permissions: &[KeyPermission]) -> VaultResult<KeyVaultInfo>;
        remove_access_policy(&self, caller: &Caller, principal: &Principal) -> VaultResult<KeyVaultInfo>;
        audit_log(&self, query: &AuditQuery) -> VaultResult<Vec<AuditRecord>>;
        get_rotation_policy(&self, caller: &Caller, name: &str) -> VaultResult<KeyRotationPolicy>;
        set_rotation_policy(&self, caller: &Caller, name: &str, expires_in: Option<&str>, actions: &[LifetimeAction]) -> VaultResult<KeyRotationPolicy>;
        rotate_key(&self, caller: &Caller, name: &str, only_if_due: bool) -> VaultResult<Option<KeyVaultKey>>;
    }
}

/// The registry's source of PKCS#11 vaults: the vaults of a data directory that are bound to a
/// token (the local provider answers for the others).
#[derive(Clone, Debug)]
pub struct Pkcs11Provider {
    backend: LocalBackend,
}

impl Pkcs11Provider {
    /// PKCS#11 vaults of `backend`'s data directory.
    pub fn new(backend: LocalBackend) -> Self {
        Pkcs11Provider { backend }
    }

    /// The PKCS#11 vault of that name (`NotFound` if there is none, or it is a local vault).
    pub fn vault(&self, name: &str) -> VaultResult<Pkcs11Vault> {
        let engine = self.backend.vault(name)?;
        match engine
            .holder_binding()
            .as_ref()
            .and_then(Pkcs11Binding::from_holder)
        {
            Some(binding) => Ok(Pkcs11Vault { engine, binding }),
            None => Err(VaultError::NotFound(format!(
                "vault '{}' is not a PKCS#11 vault",
                printable(name)
            ))),
        }
    }

    /// Every PKCS#11 vault of the data directory.
    pub fn vaults(&self) -> VaultResult<Vec<Pkcs11Vault>> {
        let mut out = Vec::new();
        for info in self.backend.list_key_vaults()? {
            if info.backend == BACKEND {
                out.push(self.vault(&info.vault_name)?);
            }
        }
        Ok(out)
    }

    /// Resolve a `pkcs11:` URI to its vault and Azure-style key id, searching the vaults bound
    /// to the URI's token (as `caller`, who needs `list` on them).
    pub fn resolve_uri(
        &self,
        caller: &Caller,
        uri: &str,
    ) -> VaultResult<(Arc<dyn KeyVault>, KeyId)> {
        let u = Pkcs11Uri::parse(uri)?;
        for v in self.vaults()? {
            if let Some(id) = v.key_id_for_uri(caller, &u)? {
                return Ok((Arc::new(v), id));
            }
        }
        Err(VaultError::NotFound(format!(
            "no PKCS#11 vault on token '{}' holds the key {}",
            printable(&u.token),
            printable(uri)
        )))
    }
}

impl VaultProvider for Pkcs11Provider {
    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    fn open_vault(&self, name: &str) -> VaultResult<Option<Arc<dyn KeyVault>>> {
        match self.backend.open_engine(name)? {
            Some(engine) => match engine
                .holder_binding()
                .as_ref()
                .and_then(Pkcs11Binding::from_holder)
            {
                Some(binding) => Ok(Some(Arc::new(Pkcs11Vault { engine, binding }))),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    fn resolve_pkcs11_uri(
        &self,
        caller: &Caller,
        uri: &str,
    ) -> VaultResult<Option<(Arc<dyn KeyVault>, KeyId)>> {
        match self.resolve_uri(caller, uri) {
            Ok(found) => Ok(Some(found)),
            Err(VaultError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl LocalBackend {
    /// A registry holding this backend's vaults: local ones, then those bound to a PKCS#11
    /// token (add other backends to it).
    pub fn registry(&self) -> super::registry::VaultRegistry {
        let mut r = super::registry::VaultRegistry::new();
        r.add_provider(Arc::new(self.clone()));
        r.add_provider(Arc::new(Pkcs11Provider::new(self.clone())));
        r
    }
}
