//! The local stand-in for the Azure context: tenant, subscriptions (`Set-AzContext`), provider
//! feature registration (`Register-AzProviderFeature` / `Get-AzProviderFeature`) and each
//! subscription's backup key.
//!
//! Kept in one JSON file (`<data dir>/azure.json`, 0600, replaced atomically, guarded by a lock
//! file). Nothing in it is secret except the backup keys, which are sealed under the vault
//! directory's master key (associated data: the subscription id).
//!
//! Local differences from Azure, on purpose: `Set-AzContext` with an unknown subscription id or
//! name creates that subscription (there is no Azure to ask); a feature registration takes effect
//! at once (`Registered`, where Azure takes up to five business days).

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
use super::fsio;
use super::ids::{is_guid, printable};
use crate::crypto::SecretKey32;

/// The provider namespace of the mandatory-retention feature (spec §2.6, [SETUP-22]).
pub const MANDATORY_RETENTION_NAMESPACE: &str = "Microsoft.Resources";
/// The feature that makes a subscription "protected" (Recoverable+ProtectedSubscription).
pub const MANDATORY_RETENTION_FEATURE: &str = "mandatoryRetentionPeriodEnabled";

const CONTEXT_FORMAT: &str = "custkey-azure-context";
const DEFAULT_SUBSCRIPTION_NAME: &str = "Default Subscription";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeatureRecord {
    provider_namespace: String,
    feature_name: String,
    registration_state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionRecord {
    id: String,
    name: String,
    #[serde(default)]
    features: Vec<FeatureRecord>,
    #[serde(default)]
    backup_key: Option<String>,
    #[serde(default)]
    resource_providers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextFile {
    format: String,
    version: u32,
    tenant_id: String,
    current_subscription: Option<String>,
    subscriptions: Vec<SubscriptionRecord>,
}

/// What `Set-AzContext` / `Get-AzContext` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AzContextInfo {
    /// `"{subscription name} ({id})"`
    pub name: String,
    /// Subscription id.
    pub subscription_id: String,
    /// Subscription name.
    pub subscription_name: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Always `AzureCloud`.
    pub environment: String,
}

/// What `Get-AzProviderFeature` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderFeature {
    /// Feature name.
    pub feature_name: String,
    /// Provider namespace.
    pub provider_name: String,
    /// `Registered` or `NotRegistered`.
    pub registration_state: String,
    /// The subscription asked about.
    pub subscription_id: String,
}

/// What `Register-AzResourceProvider` / `Get-AzResourceProvider` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceProvider {
    /// The namespace (`Microsoft.KeyVault`).
    pub provider_namespace: String,
    /// `Registered` or `NotRegistered`.
    pub registration_state: String,
    /// The subscription asked about.
    pub subscription_id: String,
}

/// A subscription as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionInfo {
    /// Id (GUID).
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant id.
    pub tenant_id: String,
    /// `Enabled`.
    pub state: String,
    /// True when mandatory retention is registered (Recoverable+ProtectedSubscription).
    pub protected: bool,
}

/// The Azure context file and its operations.
#[derive(Clone)]
pub struct AzureContextStore {
    path: PathBuf,
    master: Arc<SecretKey32>,
}

impl std::fmt::Debug for AzureContextStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureContextStore")
            .field("path", &self.path)
            .finish()
    }
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn validate_namespace_or_feature(s: &str, what: &str) -> VaultResult<()> {
    if !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid {what}",
            printable(s)
        )))
    }
}

impl AzureContextStore {
    /// The context kept at `path`; `master` seals the backup keys.
    pub fn new(path: impl Into<PathBuf>, master: Arc<SecretKey32>) -> Self {
        AzureContextStore {
            path: path.into(),
            master,
        }
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn load(&self) -> VaultResult<ContextFile> {
        match fsio::read_optional(&self.path)? {
            None => Ok(ContextFile {
                format: CONTEXT_FORMAT.to_string(),
                version: 1,
                tenant_id: new_guid(),
                current_subscription: None,
                subscriptions: Vec::new(),
            }),
            Some(bytes) => {
                let f: ContextFile = serde_json::from_slice(&bytes).map_err(|e| {
                    VaultError::Unavailable(format!(
                        "the Azure context file {} is damaged ({e})",
                        self.path.display()
                    ))
                })?;
                if f.format != CONTEXT_FORMAT || f.version != 1 {
                    return Err(VaultError::Unavailable(format!(
                        "{} is not a custkey Azure context file",
                        self.path.display()
                    )));
                }
                Ok(f)
            }
        }
    }

    fn save(&self, f: &ContextFile) -> VaultResult<()> {
        let bytes = serde_json::to_vec_pretty(f)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the Azure context: {e}")))?;
        fsio::write_atomic(&self.path, &bytes)
    }

    fn read<T>(&self, f: impl FnOnce(&ContextFile) -> VaultResult<T>) -> VaultResult<T> {
        let _l = fsio::lock(&self.lock_path(), false)?;
        f(&self.load()?)
    }

    fn modify<T>(&self, f: impl FnOnce(&mut ContextFile) -> VaultResult<T>) -> VaultResult<T> {
        let _l = fsio::lock(&self.lock_path(), true)?;
        let mut file = self.load()?;
        let out = f(&mut file)?;
        self.save(&file)?;
        Ok(out)
    }

    fn info(file: &ContextFile, s: &SubscriptionRecord) -> AzContextInfo {
        AzContextInfo {
            name: format!("{} ({})", s.name, s.id),
            subscription_id: s.id.clone(),
            subscription_name: s.name.clone(),
            tenant_id: file.tenant_id.clone(),
            environment: "AzureCloud".to_string(),
        }
    }

    fn ensure_current(file: &mut ContextFile) -> usize {
        if let Some(cur) = &file.current_subscription {
            if let Some(i) = file.subscriptions.iter().position(|s| &s.id == cur) {
                return i;
            }
        }
        let i = match file
            .subscriptions
            .iter()
            .position(|s| s.name == DEFAULT_SUBSCRIPTION_NAME)
        {
            Some(i) => i,
            None => {
                file.subscriptions.push(SubscriptionRecord {
                    id: new_guid(),
                    name: DEFAULT_SUBSCRIPTION_NAME.to_string(),
                    features: Vec::new(),
                    backup_key: None,
                    resource_providers: Vec::new(),
                });
                file.subscriptions.len() - 1
            }
        };
        file.current_subscription = Some(file.subscriptions[i].id.clone());
        i
    }

    /// `Set-AzContext -Subscription <id or name>`: select it, creating it if it is new.
    pub fn set_context(&self, subscription: &str) -> VaultResult<AzContextInfo> {
        let s = subscription.trim();
        if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            return Err(VaultError::Invalid(format!(
                "'{}' is not a subscription id or name",
                printable(subscription)
            )));
        }
        self.modify(|f| {
            let found = f
                .subscriptions
                .iter()
                .position(|r| r.id.eq_ignore_ascii_case(s) || r.name == s);
            let i = match found {
                Some(i) => i,
                None => {
                    let (id, name) = if is_guid(s) {
                        (s.to_ascii_lowercase(), s.to_ascii_lowercase())
                    } else {
                        (new_guid(), s.to_string())
                    };
                    f.subscriptions.push(SubscriptionRecord {
                        id,
                        name,
                        features: Vec::new(),
                        backup_key: None,
                        resource_providers: Vec::new(),
                    });
                    f.subscriptions.len() - 1
                }
            };
            f.current_subscription = Some(f.subscriptions[i].id.clone());
            Ok(Self::info(f, &f.subscriptions[i]))
        })
    }

    /// `Get-AzContext`: the current subscription (a default one is created on first use).
    pub fn get_context(&self) -> VaultResult<AzContextInfo> {
        if let Some(info) = self.read(|f| {
            Ok(f.current_subscription.as_ref().and_then(|cur| {
                f.subscriptions
                    .iter()
                    .find(|s| &s.id == cur)
                    .map(|s| Self::info(f, s))
            }))
        })? {
            return Ok(info);
        }
        self.modify(|f| {
            let i = Self::ensure_current(f);
            Ok(Self::info(f, &f.subscriptions[i]))
        })
    }

    /// `Get-AzSubscription`.
    pub fn list_subscriptions(&self) -> VaultResult<Vec<SubscriptionInfo>> {
        self.read(|f| {
            Ok(f.subscriptions
                .iter()
                .map(|s| SubscriptionInfo {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    tenant_id: f.tenant_id.clone(),
                    state: "Enabled".to_string(),
                    protected: is_protected(s),
                })
                .collect())
        })
    }

    /// `Register-AzProviderFeature -FeatureName f -ProviderNamespace ns` on the current
    /// subscription. Takes effect at once.
    pub fn register_provider_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
    ) -> VaultResult<ProviderFeature> {
        self.set_feature(feature_name, provider_namespace, true)
    }

    /// `Unregister-AzProviderFeature`: back to `NotRegistered`.
    pub fn unregister_provider_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
    ) -> VaultResult<ProviderFeature> {
        self.set_feature(feature_name, provider_namespace, false)
    }

    fn set_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
        registered: bool,
    ) -> VaultResult<ProviderFeature> {
        validate_namespace_or_feature(feature_name, "feature name")?;
        validate_namespace_or_feature(provider_namespace, "provider namespace")?;
        let state = if registered {
            "Registered"
        } else {
            "NotRegistered"
        };
        self.modify(|f| {
            let i = Self::ensure_current(f);
            let sub = &mut f.subscriptions[i];
            sub.features
                .retain(|r| !r.is(feature_name, provider_namespace));
            if registered {
                sub.features.push(FeatureRecord {
                    provider_namespace: provider_namespace.to_string(),
                    feature_name: feature_name.to_string(),
                    registration_state: state.to_string(),
                });
            }
            Ok(ProviderFeature {
                feature_name: feature_name.to_string(),
                provider_name: provider_namespace.to_string(),
                registration_state: state.to_string(),
                subscription_id: sub.id.clone(),
            })
        })
    }

    /// `Get-AzProviderFeature -FeatureName f -ProviderNamespace ns` on the current subscription.
    pub fn get_provider_feature(
        &self,
        feature_name: &str,
        provider_namespace: &str,
    ) -> VaultResult<ProviderFeature> {
        validate_namespace_or_feature(feature_name, "feature name")?;
        validate_namespace_or_feature(provider_namespace, "provider namespace")?;
        let ctx = self.get_context()?;
        self.read(|f| {
            let sub = f
                .subscriptions
                .iter()
                .find(|s| s.id == ctx.subscription_id)
                .ok_or_else(|| VaultError::NotFound("the current subscription vanished".into()))?;
            let state = sub
                .features
                .iter()
                .find(|r| r.is(feature_name, provider_namespace))
                .map(|r| r.registration_state.clone())
                .unwrap_or_else(|| "NotRegistered".to_string());
            Ok(ProviderFeature {
                feature_name: feature_name.to_string(),
                provider_name: provider_namespace.to_string(),
                registration_state: state,
                subscription_id: sub.id.clone(),
            })
        })
    }

    /// `Register-AzResourceProvider -ProviderNamespace ns` on the current subscription
    /// ([SETUP-21] registers `Microsoft.KeyVault`). Recorded only; takes effect at once.
    pub fn register_resource_provider(&self, namespace: &str) -> VaultResult<ResourceProvider> {
        validate_namespace_or_feature(namespace, "provider namespace")?;
        self.modify(|f| {
            let i = Self::ensure_current(f);
            let sub = &mut f.subscriptions[i];
            if !sub
                .resource_providers
                .iter()
                .any(|p| p.eq_ignore_ascii_case(namespace))
            {
                sub.resource_providers.push(namespace.to_string());
            }
            Ok(ResourceProvider {
                provider_namespace: namespace.to_string(),
                registration_state: "Registered".to_string(),
                subscription_id: sub.id.clone(),
            })
        })
    }

    /// `Get-AzResourceProvider -ProviderNamespace ns` on the current subscription.
    pub fn get_resource_provider(&self, namespace: &str) -> VaultResult<ResourceProvider> {
        validate_namespace_or_feature(namespace, "provider namespace")?;
        let ctx = self.get_context()?;
        self.read(|f| {
            let registered = f
                .subscriptions
                .iter()
                .find(|s| s.id == ctx.subscription_id)
                .is_some_and(|s| {
                    s.resource_providers
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(namespace))
                });
            Ok(ResourceProvider {
                provider_namespace: namespace.to_string(),
                registration_state: if registered {
                    "Registered"
                } else {
                    "NotRegistered"
                }
                .to_string(),
                subscription_id: ctx.subscription_id.clone(),
            })
        })
    }

    /// Whether a subscription has mandatory retention registered (Microsoft.Resources /
    /// mandatoryRetentionPeriodEnabled). An unknown subscription is not protected.
    pub fn is_subscription_protected(&self, subscription_id: &str) -> VaultResult<bool> {
        self.read(|f| {
            Ok(f.subscriptions
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(subscription_id))
                .is_some_and(is_protected))
        })
    }

    /// The tenant id of this context.
    pub fn tenant_id(&self) -> VaultResult<String> {
        // The tenant id is fixed at the first save; make sure there is one on disk.
        self.get_context().map(|c| c.tenant_id)
    }

    /// The backup key of a subscription (created on first use, kept sealed in the context file).
    pub fn subscription_backup_key(&self, subscription_id: &str) -> VaultResult<SecretKey32> {
        let aad = format!(
            "custkey-subscription-backup-key/v1|{}",
            subscription_id.to_ascii_lowercase()
        );
        let master = Arc::clone(&self.master);
        let unseal = move |hexed: &str| -> VaultResult<SecretKey32> {
            let sealed = hex::decode(hexed).map_err(|_| {
                VaultError::Unavailable("a subscription backup key is damaged (not hex)".into())
            })?;
            let raw = crate::crypto::open(&master, aad.as_bytes(), &sealed).map_err(|_| {
                VaultError::Authentication(
                    "a subscription backup key does not open under this master key".into(),
                )
            })?;
            SecretKey32::from_slice(&raw).map_err(|_| {
                VaultError::Unavailable("a subscription backup key has the wrong length".into())
            })
        };
        let existing = self.read(|f| {
            Ok(f.subscriptions
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(subscription_id))
                .map(|s| s.backup_key.clone()))
        })?;
        match existing {
            None => Err(VaultError::NotFound(format!(
                "subscription {} is not known to this context",
                printable(subscription_id)
            ))),
            Some(Some(hexed)) => unseal(&hexed),
            Some(None) => {
                let aad = format!(
                    "custkey-subscription-backup-key/v1|{}",
                    subscription_id.to_ascii_lowercase()
                );
                let hexed = self.modify(|f| {
                    let sub = f
                        .subscriptions
                        .iter_mut()
                        .find(|s| s.id.eq_ignore_ascii_case(subscription_id))
                        .ok_or_else(|| VaultError::NotFound("subscription vanished".into()))?;
                    if let Some(h) = &sub.backup_key {
                        return Ok(h.clone());
                    }
                    let key = SecretKey32::generate();
                    let sealed = crate::crypto::seal(&self.master, aad.as_bytes(), key.expose())
                        .map_err(|e| VaultError::Invalid(format!("cannot seal: {e:?}")))?;
                    let h = hex::encode(sealed);
                    sub.backup_key = Some(h.clone());
                    Ok(h)
                })?;
                unseal(&hexed)
            }
        }
    }
}

fn is_protected(s: &SubscriptionRecord) -> bool {
    s.features.iter().any(|r| {
        r.is(MANDATORY_RETENTION_FEATURE, MANDATORY_RETENTION_NAMESPACE)
            && r.registration_state == "Registered"
    })
}

impl FeatureRecord {
    fn is(&self, feature_name: &str, provider_namespace: &str) -> bool {
        self.feature_name.eq_ignore_ascii_case(feature_name)
            && self
                .provider_namespace
                .eq_ignore_ascii_case(provider_namespace)
    }
}
