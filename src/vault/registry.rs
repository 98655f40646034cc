//! Resolving a key id to its vault, whatever backend holds it.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::ids::KeyId;
use super::model::{KeyVaultKey, WrapResult};
use super::policy::Caller;
use super::root::{
    first_claim, RootError, RootKeyInfo, RootKeyKind, RootKeyProvider, RootResult, RootWrap,
};
use super::KeyVault;
use crate::crypto::{OaepAlg, RootAlg};

/// A source of vaults by name (a backend's directory of vaults).
pub trait VaultProvider: Send + Sync {
    /// The backend of this provider's vaults (`Local`, `PKCS11`).
    fn backend_name(&self) -> &'static str {
        super::local::BACKEND
    }

    /// The vault of that name, `Ok(None)` if this provider has none by that name.
    fn open_vault(&self, name: &str) -> VaultResult<Option<Arc<dyn KeyVault>>>;

    /// The vault and Azure-style key id an RFC 7512 `pkcs11:` URI names, looked up as
    /// `caller`; `Ok(None)` if this provider holds no such key (the default: providers without
    /// tokens).
    fn resolve_pkcs11_uri(
        &self,
        _caller: &Caller,
        _uri: &str,
    ) -> VaultResult<Option<(Arc<dyn KeyVault>, KeyId)>> {
        Ok(None)
    }
}

/// Vaults known by name: explicitly added vaults first, then each provider in order.
#[derive(Default, Clone)]
pub struct VaultRegistry {
    vaults: Vec<Arc<dyn KeyVault>>,
    providers: Vec<Arc<dyn VaultProvider>>,
    /// Every root-key backend, in order: one per vault provider, then the others (KMIP).
    roots: Vec<Arc<dyn RootKeyProvider>>,
}

impl VaultRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        VaultRegistry::default()
    }

    /// Add a single vault.
    pub fn add_vault(&mut self, vault: Arc<dyn KeyVault>) {
        self.vaults.push(vault);
    }

    /// Add a provider (a backend holding many vaults).
    pub fn add_provider(&mut self, provider: Arc<dyn VaultProvider>) {
        let backend = provider.backend_name();
        self.providers.push(Arc::clone(&provider));
        self.roots
            .push(Arc::new(VaultRoots::new(provider, backend)) as Arc<dyn RootKeyProvider>);
    }

    /// Add a root-key backend that is no vault provider (a KMIP key manager).
    pub fn add_root_provider(&mut self, provider: Arc<dyn RootKeyProvider>) {
        self.roots.push(provider);
    }

    /// The explicitly added vault a key id names, as a root-key backend of one vault.
    fn explicit_roots(&self, key_uri: &str) -> Option<VaultRoots> {
        let id = KeyId::parse(key_uri).ok()?;
        let v = self
            .vaults
            .iter()
            .find(|v| v.vault_name().eq_ignore_ascii_case(&id.vault))?;
        let backend = v.backend();
        Some(VaultRoots::new(Arc::new(OneVault(Arc::clone(v))), backend))
    }

    fn claim<T>(
        &self,
        key_uri: &str,
        f: impl Fn(&dyn RootKeyProvider) -> super::root::RootResult<T>,
    ) -> VaultResult<T> {
        if let Some(one) = self.explicit_roots(key_uri) {
            if let Some(r) = first_claim(&[Arc::new(one) as Arc<dyn RootKeyProvider>], &f) {
                return r;
            }
        }
        if let Some(r) = first_claim(&self.roots, &f) {
            return r;
        }
        // No backend holds it: say what was wrong with the URI, or that no vault has it.
        if super::kmip::KmipUri::is_kmip_uri(key_uri) {
            super::kmip::KmipUri::parse(key_uri)?;
            return Err(VaultError::NotFound(format!(
                "no KMIP server registered for {}: register it with New-AzKeyVault -KmipServer",
                super::ids::printable(key_uri)
            )));
        }
        let id = KeyId::parse(key_uri)?;
        Err(not_registered(&id))
    }

    /// Root wrap (the service's DEP and TIK wraps) under the key `key_uri` names, whatever
    /// backend holds it.
    pub fn wrap_root(&self, caller: &Caller, key_uri: &str, key: &[u8]) -> VaultResult<RootWrap> {
        self.claim(key_uri, |p| p.wrap(caller, key_uri, key))
    }

    /// Root unwrap of a copy [`VaultRegistry::wrap_root`] made (pass `<key uri>/<version>`).
    pub fn unwrap_root(
        &self,
        caller: &Caller,
        versioned_uri: &str,
        alg: RootAlg,
        wrapped: &[u8],
    ) -> VaultResult<Zeroizing<Vec<u8>>> {
        self.claim(versioned_uri, |p| {
            p.unwrap(caller, versioned_uri, alg, wrapped)
        })
    }

    /// What the root key `key_uri` names is.
    pub fn root_identity(&self, caller: &Caller, key_uri: &str) -> VaultResult<RootKeyInfo> {
        self.claim(key_uri, |p| p.identity(caller, key_uri))
    }

    /// The vault named `name` (case-insensitive). `NotFound` if no vault or provider has it;
    /// the error of a provider that failed (e.g. `Unavailable`) if none has it and one failed.
    pub fn vault(&self, name: &str) -> VaultResult<Arc<dyn KeyVault>> {
        if let Some(v) = self
            .vaults
            .iter()
            .find(|v| v.vault_name().eq_ignore_ascii_case(name))
        {
            return Ok(Arc::clone(v));
        }
        // A provider that cannot be reached must not hide a vault another provider holds; if
        // no provider has the vault, the first such failure is the answer (a system error,
        // since the vault may well be behind it), else NotFound.
        let mut first_error = None;
        for p in &self.providers {
            match p.open_vault(name) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            VaultError::NotFound(format!(
                "no vault named '{}' is registered",
                super::ids::printable(name)
            ))
        }))
    }

    /// The Azure-style key id (`https://{vault}.vault.azure.net/keys/{name}[/{version}]`) of a
    /// key id or of a `pkcs11:` URI (RFC 7512: `token=` and `object=`/`id=`), looked up as
    /// `caller`. Callers that store key ids store this form.
    pub fn canonical_key_id(&self, caller: &Caller, key_id: &str) -> VaultResult<String> {
        if super::kmip::KmipUri::is_kmip_uri(key_id) {
            return Ok(super::kmip::KmipUri::parse(key_id)?.to_string());
        }
        if !super::pkcs11::Pkcs11Uri::is_pkcs11_uri(key_id) {
            return Ok(KeyId::parse(key_id)?.to_string());
        }
        super::pkcs11::Pkcs11Uri::parse(key_id)?;
        for p in &self.providers {
            if let Some((_, id)) = p.resolve_pkcs11_uri(caller, key_id)? {
                return Ok(id.to_string());
            }
        }
        Err(VaultError::NotFound(format!(
            "no registered vault holds the key {}",
            super::ids::printable(key_id.split('?').next().unwrap_or_default())
        )))
    }

    /// Parse a key id and find its vault or Managed HSM (`NotFound` when the id's host names
    /// the other kind: a vault's key is never reached by a `managedhsm` id, nor the reverse).
    pub fn resolve(&self, key_id: &str) -> VaultResult<(Arc<dyn KeyVault>, KeyId)> {
        let id = KeyId::parse(key_id)?;
        let v = match self.vault(&id.vault) {
            Err(VaultError::NotFound(_)) => return Err(not_registered(&id)),
            other => other?,
        };
        if v.managed_hsm() != id.hsm {
            return Err(not_registered(&id));
        }
        Ok((v, id))
    }

    /// Get the key a key id names.
    pub fn get_key(&self, caller: &Caller, key_id: &str) -> VaultResult<KeyVaultKey> {
        let (v, id) = self.resolve(key_id)?;
        v.get_key(caller, &id.name, id.version.as_deref())
    }

    /// Wrap with the key a key id names (the latest version if the id has none).
    pub fn wrap_key(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: OaepAlg,
        key: &[u8],
    ) -> VaultResult<WrapResult> {
        let (v, id) = self.resolve(key_id)?;
        v.wrap_key(caller, &id.name, id.version.as_deref(), algorithm, key)
    }

    /// Unwrap with the key a key id names (pass the versioned id a wrap returned).
    pub fn unwrap_key(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: OaepAlg,
        wrapped: &[u8],
    ) -> VaultResult<Zeroizing<Vec<u8>>> {
        let (v, id) = self.resolve(key_id)?;
        v.unwrap_key(caller, &id.name, id.version.as_deref(), algorithm, wrapped)
    }
}

/// No container of the id's kind by that name.
fn not_registered(id: &KeyId) -> VaultError {
    let name = super::ids::printable(&id.vault);
    VaultError::NotFound(if id.hsm {
        format!(
            "no Managed HSM named '{name}' is registered (create it with New-AzKeyVaultManagedHsm)"
        )
    } else {
        format!("no vault named '{name}' is registered")
    })
}

/// One explicitly added vault, as a provider.
struct OneVault(Arc<dyn KeyVault>);

impl VaultProvider for OneVault {
    fn open_vault(&self, name: &str) -> VaultResult<Option<Arc<dyn KeyVault>>> {
        Ok(self
            .0
            .vault_name()
            .eq_ignore_ascii_case(name)
            .then(|| Arc::clone(&self.0)))
    }
}

/// The root keys of a vault provider (the local vaults, or the PKCS#11 vaults of a data
/// directory), by Azure-style key id. Wraps ask for RSA-OAEP-256; a token that only does
/// RSA-OAEP answers with that, and the result says so.
pub struct VaultRoots {
    provider: Arc<dyn VaultProvider>,
    backend: &'static str,
}

impl VaultRoots {
    /// The root keys of `provider`'s vaults, named `backend`.
    pub fn new(provider: Arc<dyn VaultProvider>, backend: &'static str) -> Self {
        VaultRoots { provider, backend }
    }

    fn vault(&self, key_uri: &str) -> RootResult<(Arc<dyn KeyVault>, KeyId)> {
        let Ok(id) = KeyId::parse(key_uri) else {
            return Err(RootError::NotMine);
        };
        match self.provider.open_vault(&id.vault) {
            // A Managed HSM's keys are named with its own host, a vault's with the vault host.
            Ok(Some(v)) if v.managed_hsm() != id.hsm => Err(RootError::NotMine),
            Ok(Some(v)) => Ok((v, id)),
            Ok(None) => Err(RootError::NotMine),
            Err(e) => Err(RootError::Unknown(e)),
        }
    }
}

impl RootKeyProvider for VaultRoots {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn wrap(&self, caller: &Caller, key_uri: &str, key: &[u8]) -> RootResult<RootWrap> {
        let (v, id) = self.vault(key_uri)?;
        let r = v.wrap_key(
            caller,
            &id.name,
            id.version.as_deref(),
            OaepAlg::RsaOaep256,
            key,
        )?;
        Ok(RootWrap {
            version: r.version,
            alg: RootAlg::Oaep(r.algorithm),
            value: r.value,
        })
    }

    fn unwrap(
        &self,
        caller: &Caller,
        versioned_uri: &str,
        alg: RootAlg,
        wrapped: &[u8],
    ) -> RootResult<Zeroizing<Vec<u8>>> {
        let (v, id) = self.vault(versioned_uri)?;
        let Some(oaep) = alg.oaep() else {
            return Err(RootError::Mine(VaultError::Invalid(format!(
                "the copy was wrapped by a key manager ({alg}), but {} is an RSA key of a vault",
                super::ids::printable(versioned_uri)
            ))));
        };
        Ok(v.unwrap_key(caller, &id.name, id.version.as_deref(), oaep, wrapped)?)
    }

    fn identity(&self, caller: &Caller, key_uri: &str) -> RootResult<RootKeyInfo> {
        let (v, id) = self.vault(key_uri)?;
        let info = v.properties()?;
        let key = v.get_key(caller, &id.name, id.version.as_deref())?;
        let bits = key.key_size;
        let enabled = key.enabled;
        Ok(RootKeyInfo {
            key_uri: KeyId {
                version: None,
                ..id
            }
            .to_string(),
            backend: self.backend,
            holder: info.vault_name,
            location: info.location,
            subscription: info.subscription_id,
            kind: RootKeyKind::Rsa(bits),
            state: if enabled { "Enabled" } else { "Disabled" }.into(),
        })
    }
}
