//! The plain value types the vault API takes and returns. Output structs serialize with the
//! Azure PowerShell property names (`VaultName`, `RecoveryLevel`, `PermissionsToKeys`, ...).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
use super::ids::parse_named;
use super::policy::AccessPolicyEntry;
use crate::crypto::OaepAlg;

/// Azure's name of an OAEP algorithm: `RSA-OAEP-256` or `RSA-OAEP`.
pub fn oaep_alg_name(alg: OaepAlg) -> &'static str {
    match alg {
        OaepAlg::RsaOaep256 => "RSA-OAEP-256",
        OaepAlg::RsaOaep => "RSA-OAEP",
    }
}

/// Parse `RSA-OAEP-256` / `RSA-OAEP` (case-insensitive).
pub fn parse_oaep_alg(s: &str) -> VaultResult<OaepAlg> {
    parse_named(
        s,
        &[OaepAlg::RsaOaep256, OaepAlg::RsaOaep],
        oaep_alg_name,
        "a wrap algorithm",
    )
}

/// RSA key sizes a vault accepts.
pub const ALLOWED_KEY_SIZES: [usize; 3] = [2048, 3072, 4096];

/// Check an RSA key size (2048, 3072 or 4096; anything else, 1024 included, is `Invalid`).
pub fn validate_key_size(bits: usize) -> VaultResult<()> {
    if ALLOWED_KEY_SIZES.contains(&bits) {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "RSA key size {bits} is not allowed (2048, 3072 or 4096)"
        )))
    }
}

/// A key operation a key version permits (JSON Web Key `key_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyOperation {
    /// `encrypt`
    Encrypt,
    /// `decrypt`
    Decrypt,
    /// `sign`
    Sign,
    /// `verify`
    Verify,
    /// `wrapKey`
    WrapKey,
    /// `unwrapKey`
    UnwrapKey,
    /// `import`
    Import,
}

impl KeyOperation {
    /// Every accepted value.
    pub const ALL: [KeyOperation; 7] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
        KeyOperation::Import,
    ];

    /// What a new RSA key permits when `-KeyOps` is not given.
    pub const RSA_DEFAULT: [KeyOperation; 6] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
    ];

    /// Azure's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::WrapKey => "wrapKey",
            KeyOperation::UnwrapKey => "unwrapKey",
            KeyOperation::Import => "import",
        }
    }

    /// Parse one operation (case-insensitive); unknown ones are `Invalid`.
    pub fn parse(s: &str) -> VaultResult<Self> {
        parse_named(
            s,
            &KeyOperation::ALL,
            KeyOperation::as_str,
            "a key operation",
        )
    }

    /// Parse a list (items may be comma-separated); duplicates dropped, order kept.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> VaultResult<Vec<KeyOperation>> {
        let mut out: Vec<KeyOperation> = Vec::new();
        for item in items {
            for part in item.as_ref().split(',') {
                if part.trim().is_empty() {
                    continue;
                }
                let op = KeyOperation::parse(part)?;
                if !out.contains(&op) {
                    out.push(op);
                }
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for KeyOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for KeyOperation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyOperation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyOperation::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a key is generated (`-Destination Software|HSM`).
///
/// The local backend has no HSM: an `HSM` key there is a software key *marked* HSM (KeyType
/// `RSA-HSM`) so that setup scripts run unchanged; the PKCS#11 backend makes real token keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KeyDestination {
    /// A software-protected key (KeyType `RSA`).
    #[default]
    Software,
    /// An HSM-protected key (KeyType `RSA-HSM`).
    #[serde(rename = "HSM")]
    Hsm,
}

impl KeyDestination {
    /// Parse `Software` / `HSM` (case-insensitive).
    pub fn parse(s: &str) -> VaultResult<Self> {
        parse_named(
            s,
            &[KeyDestination::Software, KeyDestination::Hsm],
            |d| match d {
                KeyDestination::Software => "Software",
                KeyDestination::Hsm => "HSM",
            },
            "a key destination",
        )
    }

    /// The KeyType Azure shows for an RSA key with this destination.
    pub fn key_type(self) -> &'static str {
        match self {
            KeyDestination::Software => "RSA",
            KeyDestination::Hsm => "RSA-HSM",
        }
    }
}

/// Vault SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VaultSku {
    /// Standard (testing, per the Customer Key guide).
    #[default]
    Standard,
    /// Premium (production, HSM-protected keys).
    Premium,
}

impl VaultSku {
    /// Parse `Standard` / `Premium` (case-insensitive).
    pub fn parse(s: &str) -> VaultResult<Self> {
        parse_named(
            s,
            &[VaultSku::Standard, VaultSku::Premium],
            |k| match k {
                VaultSku::Standard => "Standard",
                VaultSku::Premium => "Premium",
            },
            "a vault SKU",
        )
    }
}

/// Azure's deletion recovery level of a vault's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecoveryLevel {
    /// No soft delete: deletion is final.
    Purgeable,
    /// Soft delete (90 days), purge allowed.
    #[serde(rename = "Recoverable+Purgeable")]
    RecoverablePurgeable,
    /// Soft delete (90 days) with purge protection: no purge.
    Recoverable,
    /// Soft delete (90 days), no purge, and the subscription cannot be cancelled
    /// (mandatory retention registered). What Customer Key requires.
    #[serde(rename = "Recoverable+ProtectedSubscription")]
    RecoverableProtectedSubscription,
    /// As `Recoverable+Purgeable`, retention 7..89 days.
    #[serde(rename = "CustomizedRecoverable+Purgeable")]
    CustomizedRecoverablePurgeable,
    /// As `Recoverable`, retention 7..89 days.
    CustomizedRecoverable,
    /// As `Recoverable+ProtectedSubscription`, retention 7..89 days.
    #[serde(rename = "CustomizedRecoverable+ProtectedSubscription")]
    CustomizedRecoverableProtectedSubscription,
}

impl RecoveryLevel {
    /// Derive the level as Azure does from the vault and subscription settings.
    ///
    /// - no soft delete: `Purgeable`;
    /// - the subscription's `Microsoft.Resources/mandatoryRetentionPeriodEnabled` feature
    ///   registered: `…+ProtectedSubscription` (purge is never allowed);
    /// - else purge protection on: `Recoverable`;
    /// - else `Recoverable+Purgeable`;
    /// - with a retention shorter than 90 days each recoverable level takes its `Customized` form.
    pub fn derive(
        soft_delete: bool,
        purge_protection: bool,
        subscription_protected: bool,
        retention_days: u32,
    ) -> Self {
        if !soft_delete {
            return RecoveryLevel::Purgeable;
        }
        let customized = retention_days < 90;
        match (subscription_protected, purge_protection, customized) {
            (true, _, false) => RecoveryLevel::RecoverableProtectedSubscription,
            (true, _, true) => RecoveryLevel::CustomizedRecoverableProtectedSubscription,
            (false, true, false) => RecoveryLevel::Recoverable,
            (false, true, true) => RecoveryLevel::CustomizedRecoverable,
            (false, false, false) => RecoveryLevel::RecoverablePurgeable,
            (false, false, true) => RecoveryLevel::CustomizedRecoverablePurgeable,
        }
    }

    /// Azure's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryLevel::Purgeable => "Purgeable",
            RecoveryLevel::RecoverablePurgeable => "Recoverable+Purgeable",
            RecoveryLevel::Recoverable => "Recoverable",
            RecoveryLevel::RecoverableProtectedSubscription => "Recoverable+ProtectedSubscription",
            RecoveryLevel::CustomizedRecoverablePurgeable => "CustomizedRecoverable+Purgeable",
            RecoveryLevel::CustomizedRecoverable => "CustomizedRecoverable",
            RecoveryLevel::CustomizedRecoverableProtectedSubscription => {
                "CustomizedRecoverable+ProtectedSubscription"
            }
        }
    }

    /// Whether a user may purge a deleted key at this level.
    pub fn purge_allowed(self) -> bool {
        matches!(
            self,
            RecoveryLevel::Purgeable
                | RecoveryLevel::RecoverablePurgeable
                | RecoveryLevel::CustomizedRecoverablePurgeable
        )
    }
}

impl std::fmt::Display for RecoveryLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Soft-delete retention bounds (days) and default.
pub const RETENTION_MIN_DAYS: u32 = 7;
/// Upper bound and default.
pub const RETENTION_MAX_DAYS: u32 = 90;

/// Check `-SoftDeleteRetentionInDays`.
pub fn validate_retention_days(days: u32) -> VaultResult<()> {
    if (RETENTION_MIN_DAYS..=RETENTION_MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "SoftDeleteRetentionInDays {days} is out of range (7 to 90)"
        )))
    }
}

/// `New-AzKeyVault` parameters.
#[derive(Debug, Clone)]
pub struct NewVaultRequest {
    /// `-VaultName`
    pub vault_name: String,
    /// `-ResourceGroupName`
    pub resource_group_name: String,
    /// `-Location`
    pub location: String,
    /// `-Sku` (default Standard)
    pub sku: VaultSku,
    /// `-EnablePurgeProtection`
    pub enable_purge_protection: bool,
    /// `-SoftDeleteRetentionInDays` (default 90)
    pub soft_delete_retention_in_days: Option<u32>,
    /// `-Tag`
    pub tags: BTreeMap<String, String>,
    /// Give the creating caller an access policy with every key permission, as Azure
    /// PowerShell granted the signed-in account before RBAC became the default (default true).
    pub grant_caller_full_access: bool,
    /// Keep the vault's keys in a key holder (`-Pkcs11Module`, `-TokenLabel`: a PKCS#11 token,
    /// `Pkcs11Binding::holder`): they are then generated and used there. `None` (the default):
    /// a local vault, its keys sealed in its file.
    pub key_holder: Option<super::material::HolderBinding>,
    /// `-EnableRbacAuthorization`: the data plane is authorized by role assignments instead
    /// of access policies.
    pub enable_rbac_authorization: bool,
    /// `New-AzKeyVaultManagedHsm`: the container is a Managed HSM (keys named
    /// `https://{name}.managedhsm.azure.net/keys/...`, local RBAC only, every key on the
    /// token). Needs `key_holder`.
    pub managed_hsm: Option<ManagedHsmSpec>,
}

/// What a Managed HSM has beyond a vault's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedHsmSpec {
    /// `-Sku`: `StandardB1`, `CustomB32` or `CustomB6` (shown; the token is the hardware).
    pub sku: String,
    /// `-Administrator`: the principals given the local role Managed HSM Administrator at
    /// `/` when the HSM is made (object ids, or UPNs of custkey's accounts).
    pub initial_admins: Vec<String>,
}

impl NewVaultRequest {
    /// A request with the defaults (Standard, no purge protection, 90 days).
    pub fn new(vault_name: &str, resource_group_name: &str, location: &str) -> Self {
        NewVaultRequest {
            vault_name: vault_name.to_string(),
            resource_group_name: resource_group_name.to_string(),
            location: location.to_string(),
            sku: VaultSku::Standard,
            enable_purge_protection: false,
            soft_delete_retention_in_days: None,
            tags: BTreeMap::new(),
            grant_caller_full_access: true,
            key_holder: None,
            enable_rbac_authorization: false,
            managed_hsm: None,
        }
    }
}

/// A vault as `Get-AzKeyVault` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVaultInfo {
    /// Vault name as created.
    pub vault_name: String,
    /// `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.KeyVault/vaults/{v}`
    pub resource_id: String,
    /// Resource group.
    pub resource_group_name: String,
    /// Region.
    pub location: String,
    /// `https://{vault}.vault.azure.net/`
    pub vault_uri: String,
    /// Subscription the vault belongs to.
    pub subscription_id: String,
    /// Tenant of that subscription.
    pub tenant_id: String,
    /// SKU.
    pub sku: VaultSku,
    /// Always true for vaults made here (Azure turned soft delete on for every vault).
    pub enable_soft_delete: bool,
    /// Purge protection (can be turned on, never off).
    pub enable_purge_protection: bool,
    /// 7..90 days.
    pub soft_delete_retention_in_days: u32,
    /// The recovery level of the vault's keys, derived as Azure does.
    pub recovery_level: RecoveryLevel,
    /// Access policies ("Permissions to Keys").
    pub access_policies: Vec<AccessPolicyEntry>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Which backend holds the vault (`Local`, `PKCS11`, ...).
    pub backend: String,
    /// When the vault was created.
    pub created: DateTime<Utc>,
    /// Role assignments, not access policies, authorize the data plane.
    pub enable_rbac_authorization: bool,
    /// The role assignments that apply to the vault or its keys (its own and those inherited
    /// from above). Not shown by `Get-AzKeyVault` (as in Azure: `Get-AzRoleAssignment` lists them).
    #[serde(skip)]
    pub role_assignments: Vec<super::rbac::RoleAssignment>,
    /// Set for a Managed HSM (`vault_uri` is then its HsmUri). Not shown by `Get-AzKeyVault`,
    /// which does not list Managed HSMs.
    #[serde(skip)]
    pub managed_hsm: Option<ManagedHsmSpec>,
    /// A Managed HSM's security domain (`SecurityDomain` of `Get-AzKeyVaultManagedHsm`).
    #[serde(skip)]
    pub security_domain: Option<SecurityDomainInfo>,
}

/// A Managed HSM's security domain as custkey shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityDomainInfo {
    /// Azure's `ActivationStatus`: `Active` once the security domain was downloaded
    /// (`Export-AzKeyVaultSecurityDomain`) or imported, `NotActivated` before.
    pub activation_status: String,
    /// Azure's `ActivationStatusMessage`.
    pub activation_status_message: String,
    /// custkey: which domain the HSM holds (HSMs holding the same one share the fingerprint).
    pub domain_id: String,
}

/// `Add-AzKeyVaultKey` parameters (also used for import and for a new version).
#[derive(Debug, Clone)]
pub struct NewKeyRequest {
    /// `-Name`
    pub name: String,
    /// `-Destination` (default Software)
    pub destination: KeyDestination,
    /// `-Size` (default 2048; 2048, 3072 or 4096)
    pub size: usize,
    /// `-KeyOps` (default: encrypt, decrypt, sign, verify, wrapKey, unwrapKey)
    pub key_ops: Option<Vec<KeyOperation>>,
    /// `-Expires`
    pub expires: Option<DateTime<Utc>>,
    /// `-NotBefore`
    pub not_before: Option<DateTime<Utc>>,
    /// `-Disable` inverted (default true)
    pub enabled: bool,
    /// `-Tag`
    pub tags: BTreeMap<String, String>,
}

impl NewKeyRequest {
    /// A request with the defaults.
    pub fn new(name: &str) -> Self {
        NewKeyRequest {
            name: name.to_string(),
            destination: KeyDestination::Software,
            size: 2048,
            key_ops: None,
            expires: None,
            not_before: None,
            enabled: true,
            tags: BTreeMap::new(),
        }
    }
}

/// `Update-AzKeyVaultKey` parameters; `None` leaves a field as it is. An expiry, once set, can
/// be changed but not removed (spec §2.7).
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    /// `-Enable`
    pub enabled: Option<bool>,
    /// `-Expires`
    pub expires: Option<DateTime<Utc>>,
    /// `-NotBefore`
    pub not_before: Option<DateTime<Utc>>,
    /// `-KeyOps`
    pub key_ops: Option<Vec<KeyOperation>>,
    /// `-Tag` (replaces all tags)
    pub tags: Option<BTreeMap<String, String>>,
}

/// The public half of an RSA key as a JSON Web Key (base64url `n` and `e`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonWebKey {
    /// Key id with version.
    pub kid: String,
    /// `RSA` or `RSA-HSM`.
    pub kty: String,
    /// Permitted operations.
    pub key_ops: Vec<KeyOperation>,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

/// A key version's attributes, as Azure PowerShell nests them under `Attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyAttributes {
    /// Enabled.
    pub enabled: bool,
    /// Expiry.
    pub expires: Option<DateTime<Utc>>,
    /// Not valid before.
    pub not_before: Option<DateTime<Utc>>,
    /// `RSA` or `RSA-HSM`.
    pub key_type: String,
    /// Permitted operations.
    pub key_ops: Vec<KeyOperation>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Updated.
    pub updated: DateTime<Utc>,
    /// Recovery level.
    pub recovery_level: RecoveryLevel,
    /// Soft-delete retention in days.
    pub recoverable_days: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// One key version as `Get-AzKeyVaultKey` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVaultKey {
    /// Vault name.
    pub vault_name: String,
    /// Key name.
    pub name: String,
    /// Version (32 hex digits).
    pub version: String,
    /// `https://{vault}.vault.azure.net/keys/{name}/{version}`
    pub id: String,
    /// Enabled.
    pub enabled: bool,
    /// Expiry.
    pub expires: Option<DateTime<Utc>>,
    /// Not valid before.
    pub not_before: Option<DateTime<Utc>>,
    /// Creation time of this version.
    pub created: DateTime<Utc>,
    /// Last change of this version.
    pub updated: DateTime<Utc>,
    /// Recovery level of the vault.
    pub recovery_level: RecoveryLevel,
    /// Soft-delete retention of the vault, in days.
    pub recoverable_days: u32,
    /// `RSA` or `RSA-HSM`.
    pub key_type: String,
    /// Modulus size in bits.
    pub key_size: usize,
    /// Permitted operations.
    pub key_ops: Vec<KeyOperation>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The attributes again, nested as Azure PowerShell shows them
    /// (`(Get-AzKeyVaultKey -VaultName v -Name k).Attributes`).
    pub attributes: KeyAttributes,
    /// The public key.
    pub key: JsonWebKey,
    /// The public key, DER (SubjectPublicKeyInfo as the crypto module writes it).
    #[serde(skip)]
    pub public_key_der: Vec<u8>,
}

impl KeyVaultKey {
    /// The public key as the crypto module's type.
    pub fn public_key(&self) -> VaultResult<crate::crypto::RsaPublicKey> {
        crate::crypto::RsaPublicKey::from_der(&self.public_key_der).map_err(|e| {
            VaultError::Invalid(format!("the stored public key does not parse: {e:?}"))
        })
    }
}

/// A soft-deleted key (`Get-AzKeyVaultKey -InRemovedState`): its latest version plus the
/// deletion data.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedKeyVaultKey {
    /// The latest version at deletion.
    #[serde(flatten)]
    pub key: KeyVaultKey,
    /// `https://{vault}.vault.azure.net/deletedkeys/{name}`
    pub recovery_id: String,
    /// When it was deleted.
    pub deleted_date: DateTime<Utc>,
    /// When the system purges it: deletion + retention.
    pub scheduled_purge_date: DateTime<Utc>,
}

/// The result of a wrap: which version wrapped, with which algorithm, and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapResult {
    /// Key id with the version that wrapped.
    pub kid: String,
    /// That version.
    pub version: String,
    /// The algorithm.
    pub algorithm: OaepAlg,
    /// The wrapped key.
    pub value: Vec<u8>,
}

/// Base64url without padding (JWK `n`, `e`).
pub fn base64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_levels() {
        use RecoveryLevel as R;
        assert_eq!(R::derive(false, true, true, 90), R::Purgeable);
        assert_eq!(R::derive(true, false, false, 90), R::RecoverablePurgeable);
        assert_eq!(R::derive(true, true, false, 90), R::Recoverable);
        assert_eq!(
            R::derive(true, false, true, 90),
            R::RecoverableProtectedSubscription
        );
        assert_eq!(
            R::derive(true, true, true, 90),
            R::RecoverableProtectedSubscription
        );
        assert_eq!(
            R::derive(true, false, false, 7),
            R::CustomizedRecoverablePurgeable
        );
        assert_eq!(R::derive(true, true, false, 30), R::CustomizedRecoverable);
        assert_eq!(
            R::derive(true, false, true, 89),
            R::CustomizedRecoverableProtectedSubscription
        );
        assert!(R::RecoverablePurgeable.purge_allowed());
        assert!(!R::Recoverable.purge_allowed());
        assert!(!R::RecoverableProtectedSubscription.purge_allowed());
        assert_eq!(
            serde_json::to_string(&R::RecoverableProtectedSubscription).unwrap(),
            "\"Recoverable+ProtectedSubscription\""
        );
    }

    #[test]
    fn key_ops_and_sizes() {
        assert_eq!(
            KeyOperation::parse_list(&["wrapKey,unwrapKey", "WRAPKEY"]).unwrap(),
            vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]
        );
        let e = KeyOperation::parse_list(&["wrapKey,explode"]).unwrap_err();
        assert_eq!(e.class(), crate::vault::ErrorClass::Invalid);
        assert!(validate_key_size(1024).is_err());
        assert!(validate_key_size(3072).is_ok());
        assert!(validate_retention_days(6).is_err());
        assert!(validate_retention_days(91).is_err());
        assert!(validate_retention_days(7).is_ok());
    }

    #[test]
    fn base64url_vectors() {
        // RFC 4648 test vectors, without padding, URL alphabet.
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0x01, 0x00, 0x01]), "AQAB");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
