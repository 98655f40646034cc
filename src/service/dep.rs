//! Data encryption policies: mailbox DEPs (`*-DataEncryptionPolicy`) and multi-workload DEPs
//! (`*-M365DataAtRestEncryptionPolicy`) share one hierarchy and one set of rules: creation with
//! its gates, reads, changes, refresh and the key test. Also the built-in Microsoft-managed DEP.

use serde::Serialize;
use serde_json::json;

use super::keys::{
    audit, key_uri_versionless, parse_guid, principal_user, request_id, Purpose, ServiceKeys,
};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::DepBinding;
use crate::store::{DepRow, RootWrapRow, Store};
use crate::vault::{
    KeyId, KeyPermission, Principal, RecoveryLevel, VaultError, EXCHANGE_ONLINE_APP_ID,
    M365_DATA_AT_REST_APP_ID,
};

/// Customer DEPs an organization may have.
pub const MAX_DEPS: u64 = 50;
pub const KIND_MAILBOX: &str = "Mailbox";
pub const KIND_MMK: &str = "MicrosoftManaged";
pub const KIND_M365: &str = "M365";
pub const MMK_NAME: &str = "Microsoft-managed keys";

pub const STATE_ACTIVE: &str = "Active";
pub const STATE_PENDING_PURGE: &str = "PendingDataPurge";
pub const STATE_PURGED: &str = "Purged";

/// The two kinds of customer DEP. They differ in the service principal that uses their keys,
/// their cmdlets and their limits; the hierarchy and the rules are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// A mailbox DEP (Exchange Online).
    Mailbox,
    /// A multi-workload DEP, assigned to the whole tenant.
    M365,
}

impl DepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepKind::Mailbox => KIND_MAILBOX,
            DepKind::M365 => KIND_M365,
        }
    }
    /// What error messages call a policy of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            DepKind::Mailbox => "data encryption policy",
            DepKind::M365 => "multi-workload data encryption policy",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            DepKind::Mailbox => "data encryption policies",
            DepKind::M365 => "multi-workload data encryption policies",
        }
    }
    /// The app id of the service principal that wraps and unwraps with the customer keys.
    pub fn app_id(self) -> &'static str {
        match self {
            DepKind::Mailbox => EXCHANGE_ONLINE_APP_ID,
            DepKind::M365 => M365_DATA_AT_REST_APP_ID,
        }
    }
    fn principal_name(self) -> &'static str {
        match self {
            DepKind::Mailbox => "Exchange Online",
            DepKind::M365 => "M365DataAtRestEncryption",
        }
    }
    /// The cmdlet noun: `DataEncryptionPolicy` or `M365DataAtRestEncryptionPolicy`.
    pub fn cmdlet_noun(self) -> &'static str {
        match self {
            DepKind::Mailbox => "DataEncryptionPolicy",
            DepKind::M365 => "M365DataAtRestEncryptionPolicy",
        }
    }
    /// The onboarding scenario whose onboarding gates this kind's policies.
    pub fn scenario(self) -> super::onboarding::Scenario {
        match self {
            DepKind::Mailbox => super::onboarding::Scenario::Exchange,
            DepKind::M365 => super::onboarding::Scenario::Mdep,
        }
    }
    /// How many policies of this kind an organization may have.
    fn max(self) -> Option<u64> {
        match self {
            DepKind::Mailbox => Some(MAX_DEPS),
            // No maximum is documented: "multiple DEPs per tenant but only assign one".
            DepKind::M365 => None,
        }
    }
}

/// A DEP as `Get-DataEncryptionPolicy` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DataEncryptionPolicy {
    #[serde(rename = "Identity")]
    pub identity: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Guid")]
    pub guid: String,
    /// The policy's distinguished name ([`distinguished_name`]); an identity like its name and
    /// GUID, and what a recipient filter on `DataEncryptionPolicy` compares with.
    #[serde(rename = "DistinguishedName")]
    pub distinguished_name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    #[serde(rename = "AzureKeyIDs")]
    pub azure_key_ids: Vec<String>,
    #[serde(rename = "KeyVersionIDs")]
    pub key_version_ids: Vec<String>,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "PermanentDataPurgeReason")]
    pub permanent_data_purge_reason: Option<String>,
    #[serde(rename = "PermanentDataPurgeContact")]
    pub permanent_data_purge_contact: Option<String>,
    #[serde(rename = "WhenCreated")]
    pub when_created: String,
    #[serde(rename = "WhenChanged")]
    pub when_changed: String,
}

fn present(d: &DepRow, wraps: &[RootWrapRow]) -> DataEncryptionPolicy {
    DataEncryptionPolicy {
        identity: d.name.clone(),
        name: d.name.clone(),
        guid: d.guid.clone(),
        distinguished_name: distinguished_name(&d.kind, &d.name),
        description: d.description.clone(),
        enabled: d.enabled,
        azure_key_ids: d.azure_key_ids.clone(),
        key_version_ids: wraps.iter().map(|w| w.version.clone()).collect(),
        state: d.state.clone(),
        permanent_data_purge_reason: d.purge_reason.clone(),
        permanent_data_purge_contact: d.purge_contact.clone(),
        when_created: d.when_created.clone(),
        when_changed: d.when_changed.clone(),
    }
}

/// The result of a change: the policy and warnings for the operator.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewPolicy {
    pub name: String,
    pub azure_key_ids: Vec<String>,
    pub description: String,
    pub enabled: bool,
}

fn not_found(kind: DepKind, identity: &str) -> Error {
    Error::not_found(format!(
        "The {} '{identity}' couldn't be found.",
        kind.noun()
    ))
    .with_help(format!(
        "list them with 'custkey Get-{}' (a name or GUID identifies one)",
        kind.cmdlet_noun()
    ))
}

/// Resolves a customer DEP of `kind` by name or GUID.
pub fn resolve(store: &mut Store, kind: DepKind, identity: &str) -> Result<DepRow> {
    // A DN of this kind's container names the policy; any other text (a policy may be named
    // `CN=x`) is a name or GUID.
    let by = name_from_dn(kind.as_str(), identity).unwrap_or_else(|| identity.to_string());
    store
        .read(|tx| -> Result<_> { Ok(tx.dep_by_identity(&by, kind.as_str())?) })?
        .ok_or_else(|| not_found(kind, identity))
}

/// Where the policies of a kind sit in distinguished names, below [`DN_BASE`].
fn dn_container(kind: &str) -> &'static str {
    if kind == KIND_M365 {
        "CN=M365 Data At Rest Encryption Policies"
    } else {
        "CN=Data Encryption Policies"
    }
}

/// The base of every policy's distinguished name (custkey's own directory: there is no Active
/// Directory behind it, so the form is Exchange's and the base is fixed).
pub const DN_BASE: &str = "CN=Transport Settings,CN=Configuration,DC=custkey";

/// Whether an identity is given as a distinguished name (`CN=...`).
pub fn is_dn(identity: &str) -> bool {
    identity
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("CN="))
}

/// The distinguished name of the policy `name` of `kind`:
/// `CN=<name>,CN=Data Encryption Policies,` + [`DN_BASE`] (multi-workload policies under
/// `CN=M365 Data At Rest Encryption Policies`). The name is escaped as RFC 4514 says.
pub fn distinguished_name(kind: &str, name: &str) -> String {
    let mut cn = String::with_capacity(name.len() + 8);
    let last = name.chars().count().saturating_sub(1);
    for (i, c) in name.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            cn.push('\\');
        }
        cn.push(c);
    }
    format!("CN={cn},{},{DN_BASE}", dn_container(kind))
}

/// The policy name a distinguished name of `kind` names, or `None` if it is not one (another
/// container or base, or a malformed escape). Case-insensitive in the container and base.
pub fn name_from_dn(kind: &str, dn: &str) -> Option<String> {
    let rest = dn.get(3..).filter(|_| is_dn(dn))?;
    let mut name = String::new();
    let mut chars = rest.char_indices();
    let mut tail = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?.1),
            ',' => {
                tail = Some(&rest[i + 1..]);
                break;
            }
            c => name.push(c),
        }
    }
    let want = format!("{},{DN_BASE}", dn_container(kind));
    (tail?.eq_ignore_ascii_case(&want) && !name.is_empty()).then_some(name)
}

pub fn get(store: &mut Store, kind: DepKind, identity: &str) -> Result<DataEncryptionPolicy> {
    let d = resolve(store, kind, identity)?;
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
    Ok(present(&d, &wraps))
}

pub fn list(store: &mut Store, kind: DepKind) -> Result<Vec<DataEncryptionPolicy>> {
    store.read(|tx| {
        let mut out = Vec::new();
        for d in tx.deps(kind.as_str())? {
            let wraps = tx.root_wraps(&d.guid)?;
            out.push(present(&d, &wraps));
        }
        Ok(out)
    })
}

pub fn names(store: &mut Store, kind: DepKind) -> Vec<String> {
    store
        .read(|tx| -> Result<_> { Ok(tx.dep_names(kind.as_str())?) })
        .unwrap_or_default()
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(
            Error::invalid(format!("'{name}' is not a valid policy name")).with_help(
                "give 1 to 64 printable characters; names may contain spaces (quote them)",
            ),
        );
    }
    Ok(())
}

/// The newest version of a DEP's root key, for a refresh.
struct Latest {
    version: String,
    enabled: bool,
}

/// The validated customer key of one slot.
pub(crate) struct CheckedKey {
    pub(crate) uri: String,
    pub(crate) vault: String,
    location: String,
    pub(crate) subscription: String,
}

/// Checks one key against every Customer Key rule, as the service principal of `kind`.
fn check_key(keys: &ServiceKeys, kind: DepKind, given: &str) -> Result<CheckedKey> {
    check_key_as(
        keys,
        keys.principal(kind.as_str()),
        kind.principal_name(),
        given,
    )
}

/// Checks one key against every Customer Key rule, as `principal` (a service principal; its
/// `service` name appears in the messages).
pub(crate) fn check_key_as(
    keys: &ServiceKeys,
    principal: &Principal,
    service: &str,
    given: &str,
) -> Result<CheckedKey> {
    let app_id = match principal {
        Principal::ServicePrincipal(id) => id.as_str(),
        _ => EXCHANGE_ONLINE_APP_ID,
    };
    // An RFC 7512 `pkcs11:` URI names a key of a token vault; use its Azure-style id.
    let canonical = keys
        .vaults
        .canonical_key_id(principal, given)
        .unwrap_or_else(|_| given.to_string());
    let uri = canonical.as_str();
    // A key in a KMIP key manager: Azure's vault rules (RSA only, soft delete, access policies,
    // subscriptions) are the rules of Azure-style vaults; a KMIP root must be registered,
    // Active and AES-256 or RSA (docs/kmip.md).
    if crate::vault::kmip::KmipUri::is_kmip_uri(uri) {
        let info = keys
            .vaults
            .root_identity(principal, uri)
            .map_err(|e| match e {
                VaultError::NotFound(m) => {
                    Error::rule(format!("the KMIP key {uri} cannot be used: {m}")).with_help(
                        "register its server with New-AzKeyVault -KmipServer, or correct the URI",
                    )
                }
                other => other.into(),
            })?;
        return Ok(CheckedKey {
            uri: info.key_uri,
            vault: info.holder.to_ascii_lowercase(),
            location: info.location,
            subscription: info.subscription,
        });
    }
    let id = KeyId::parse(uri).map_err(|e| {
        Error::invalid(format!(
            "'{}' is not a key URI: {}",
            crate::vault::ids::printable(uri),
            e.message()
        ))
            .with_help("give URIs as https://<vault>.vault.azure.net/keys/<key> or https://<hsm>.managedhsm.azure.net/keys/<key>, e.g. (Get-AzKeyVaultKey -VaultName v -Name k).Id")
    })?;
    // The id's host says which kind of container holds the key: a key vault or a Managed HSM.
    let (vault, _) = keys.vaults.resolve(uri).map_err(|e| match e {
        VaultError::NotFound(_) if id.hsm => Error::rule(format!(
            "the Managed HSM '{}' of {uri} does not exist",
            id.vault
        ))
        .with_help("create it with New-AzKeyVaultManagedHsm, or correct the URI"),
        VaultError::NotFound(_) => Error::rule(format!(
            "the key vault '{}' of {uri} does not exist",
            id.vault
        ))
        .with_help("create it with New-AzKeyVault, or correct the URI"),
        other => other.into(),
    })?;
    let info = vault.properties()?;
    let sp = info
        .access_policies
        .iter()
        .find(|p| p.application_id.as_deref() == Some(app_id));
    // An RBAC vault has no access policies: the service principal's role assignments decide,
    // and the key operations below, made as the service principal, are refused without them.
    // A Managed HSM is always so: its local roles decide (Managed HSM Crypto Service
    // Encryption User for the service principal).
    let needs: &[KeyPermission] = if info.enable_rbac_authorization {
        &[]
    } else {
        &[
            KeyPermission::WrapKey,
            KeyPermission::UnwrapKey,
            KeyPermission::Get,
        ]
    };
    for &need in needs {
        if !sp.is_some_and(|p| p.permissions_to_keys.contains(&need)) {
            return Err(Error::rule(format!(
                "the {service} service principal ({app_id}) lacks the '{}' permission on key vault '{}'",
                need.as_str(),
                info.vault_name
            ))
            .with_help(format!(
                "run: custkey Set-AzKeyVaultAccessPolicy -VaultName {} -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName {app_id}",
                info.vault_name
            )));
        }
    }
    let key = vault
        .get_key(principal, &id.name, id.version.as_deref())
        .map_err(|e| match e {
            VaultError::NotFound(_) => Error::rule(format!("the key {uri} does not exist"))
                .with_help("create it with Add-AzKeyVaultKey, or correct the URI"),
            VaultError::AccessDenied(m) if id.hsm => Error::rule(format!(
                "the {service} service principal ({app_id}) may not use the key {uri}: {m}"
            ))
            .with_help(format!(
                "run: custkey New-AzKeyVaultRoleAssignment -HsmName {} -RoleDefinitionName 'Managed HSM Crypto Service Encryption User' -ApplicationId {app_id} -Scope /keys",
                id.vault
            )),
            other => other.into(),
        })?;
    let switch = if id.hsm { "-HsmName" } else { "-VaultName" };
    if !key.key_type.starts_with("RSA") {
        return Err(
            Error::rule(format!("the key {uri} is {}, not RSA", key.key_type))
                .with_help("Customer Key wraps with RSA keys only"),
        );
    }
    if !key.enabled {
        return Err(
            Error::rule(format!("the key {uri} is disabled")).with_help(format!(
                "enable it: custkey Update-AzKeyVaultKey {switch} {} -Name {} -Enable $true",
                id.vault, id.name
            )),
        );
    }
    if let Some(exp) = key.expires {
        if exp.format("%Y-%m-%d").to_string() != "9999-12-31" {
            return Err(Error::rule(format!(
                "the key {uri} expires on {}; Customer Key accepts keys with no expiry or 12/31/9999",
                exp.format("%Y-%m-%d")
            ))
            .with_help(format!(
                "set it: custkey Update-AzKeyVaultKey {switch} {} -Name {} -Expires 12/31/9999",
                id.vault, id.name
            )));
        }
    }
    if id.hsm {
        // The Managed HSM guide's rule: soft delete and purge protection on the HSM.
        if !(info.enable_soft_delete && info.enable_purge_protection) {
            return Err(Error::rule(format!(
                "the Managed HSM '{}' of {uri} does not have purge protection (RecoveryLevel {})",
                info.vault_name,
                key.recovery_level.as_str()
            ))
            .with_help(format!(
                "turn it on: custkey Update-AzKeyVaultManagedHsm -Name {} -EnablePurgeProtection",
                info.vault_name
            )));
        }
    } else if key.recovery_level != RecoveryLevel::RecoverableProtectedSubscription {
        return Err(Error::rule(format!(
            "the key {uri} has RecoveryLevel {}, not Recoverable+ProtectedSubscription",
            key.recovery_level.as_str()
        ))
        .with_help("register mandatoryRetentionPeriodEnabled on the vault's subscription: custkey Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources"));
    }
    Ok(CheckedKey {
        uri: uri.to_string(),
        vault: info.vault_name.to_ascii_lowercase(),
        location: info.location,
        subscription: info.subscription_id,
    })
}

/// Checks the organization may use Customer Key.
pub fn check_org(store: &mut Store) -> Result<String> {
    let org = super::org::get(store)?;
    if org.subscription_type == "Trial" {
        return Err(Error::rule(format!(
            "Customer Key is not available to the Trial organization '{}'",
            org.name
        ))
        .with_help("Customer Key needs a paid subscription: custkey Set-OrganizationConfig -SubscriptionType Paid"));
    }
    Ok(org.guid)
}

/// The gates of `New-DataEncryptionPolicy` / `New-M365DataAtRestEncryptionPolicy`, checked
/// without creating anything: the organization (no Trial), the name, two keys in two vaults each
/// passing every key rule, and the limit on policies, counting `planned` more that a rollout
/// plan creates before this one. Returns the warnings the creation would print. A rollout plan
/// calls this for every policy it would create, so that the plan refuses what the apply would.
pub fn preflight_create(
    store: &mut Store,
    keys: &ServiceKeys,
    kind: DepKind,
    req: &NewPolicy,
    planned: u64,
) -> Result<Vec<String>> {
    gates(store, keys, kind, req, planned).map(|g| g.2)
}

/// The checks before a policy is created: (organization id, checked keys, warnings).
fn gates(
    store: &mut Store,
    keys: &ServiceKeys,
    kind: DepKind,
    req: &NewPolicy,
    planned: u64,
) -> Result<(String, Vec<CheckedKey>, Vec<String>)> {
    let noun = kind.noun();
    let org_id = check_org(store)?;
    check_name(&req.name)?;
    if req.azure_key_ids.len() < 2 {
        return Err(Error::invalid(format!(
            "a {noun} needs two Azure Key Vault keys; {} given",
            req.azure_key_ids.len()
        ))
        .with_help("give two key URIs in two different vaults: -AzureKeyIDs <uri1>,<uri2>"));
    }
    let (count, taken) = store.read(|tx| -> Result<_> {
        Ok((
            tx.count_active_deps(kind.as_str())?,
            tx.dep_by_identity(&req.name, kind.as_str())?.is_some(),
        ))
    })?;
    if taken {
        return Err(
            Error::rule(format!("a {noun} named '{}' already exists", req.name))
                .with_help("names are unique regardless of case; choose another -Name"),
        );
    }
    let count = count + planned;
    if kind.max().is_some_and(|max| count >= max) {
        return Err(Error::rule(format!(
            "the organization already has {count} active {}, the most it may have",
            kind.plural()
        ))
        .with_help("reassign mailboxes to an existing policy instead of creating another (disabled policies do not count)"));
    }
    let mut checked: Vec<CheckedKey> = Vec::new();
    for uri in &req.azure_key_ids {
        let c = check_key(keys, kind, uri)?;
        if let Some(other) = checked.iter().find(|o| o.vault == c.vault) {
            return Err(Error::rule(format!(
                "the keys {} and {} are in the same key vault '{}'",
                other.uri, c.uri, c.vault
            ))
            .with_help("put the two keys of a policy in two different vaults (ideally two subscriptions and regions)"));
        }
        checked.push(c);
    }
    // Once the scenario is onboarded through the onboarding service, its keys must be in
    // onboarded subscriptions; else the older flow's gates above are the whole check.
    super::onboarding::require_onboarded(
        store,
        kind.scenario(),
        &checked
            .iter()
            .map(|c| (c.uri.as_str(), c.subscription.as_str()))
            .collect::<Vec<_>>(),
    )?;
    let mut warnings = Vec::new();
    if checked.windows(2).any(|w| w[0].location == w[1].location) {
        warnings.push(format!(
            "both key vaults are in region '{}'; Customer Key recommends two regions for geo-redundancy",
            checked[0].location
        ));
    }
    if checked
        .windows(2)
        .any(|w| w[0].subscription == w[1].subscription)
    {
        warnings.push("both key vaults are in the same Azure subscription; Customer Key recommends one subscription per vault".into());
    }
    Ok((org_id, checked, warnings))
}

/// `New-DataEncryptionPolicy` / `New-M365DataAtRestEncryptionPolicy`: checks every gate,
/// creates the DEP key and availability key, and stores the three wrapped copies, each bound to
/// the DEP.
pub fn create(
    store: &mut Store,
    keys: &mut ServiceKeys,
    kind: DepKind,
    req: &NewPolicy,
) -> Result<Outcome<DataEncryptionPolicy>> {
    let noun = kind.noun();
    let (org_id, checked, warnings) = gates(store, keys, kind, req, 0)?;
    let (row, dep_key) = fresh_dep(
        keys,
        kind.as_str(),
        req.name.trim(),
        &req.description,
        req.enabled,
        req.azure_key_ids.clone(),
    )?;
    let guid = parse_guid(&row.guid)?;
    let mut wraps = Vec::new();
    for (slot, c) in checked.iter().enumerate() {
        let (version, wrapped) = keys.root_wrap(kind.as_str(), &dep_key, guid, &c.uri)?;
        wraps.push(RootWrapRow {
            dep_guid: row.guid.clone(),
            slot: slot as u32,
            key_uri: key_uri_versionless(&c.uri),
            version,
            wrapped: wrapped.into_bytes(),
        });
    }
    keys.check_vaults(store)?;
    store.write(|tx| {
        if !tx.insert_dep(&row)? {
            return Err(Error::rule(format!("a {noun} named '{}' already exists", row.name))
                .with_help("choose another -Name, or change the existing one with Set-"));
        }
        if let Some(max) = kind.max() {
            if tx.count_active_deps(kind.as_str())? > max {
                return Err(Error::rule(format!("the organization already has {max} active {}", kind.plural()))
                    .with_help("reuse an existing policy (a policy can be assigned to many mailboxes), or purge one that is no longer needed"));
            }
        }
        for w in &wraps {
            tx.put_root_wrap(w)?;
            tx.set_root_wrap_kind(false, &w.dep_guid, w.slot, super::keys::wrap_kind(&w.wrapped))?;
        }
        keys.record_commitment(tx, &row.guid, &dep_key)?;
        audit(
            tx,
            &org_id,
            "ExchangeAdmin",
            &format!("New-{}", kind.cmdlet_noun()),
            "",
            &row.guid,
            json!({"Name": row.name, "AzureKeyIDs": row.azure_key_ids, "KeyVersionIDs": wraps.iter().map(|w| &w.version).collect::<Vec<_>>()}),
        )
    })?;
    Ok(Outcome {
        value: present(&row, &wraps),
        warnings,
    })
}

/// A new DEP: its GUID, a fresh DEP key, and its own availability key (sealed) with the DEP key
/// wrapped under it. Customer-key copies are added by the caller.
fn fresh_dep(
    keys: &ServiceKeys,
    kind: &str,
    name: &str,
    description: &str,
    enabled: bool,
    azure_key_ids: Vec<String>,
) -> Result<(DepRow, crate::crypto::DepKey)> {
    let guid = uuid::Uuid::new_v4();
    let dep_key = ServiceKeys::new_dep_key();
    let (avail, sealed) = keys.new_availability_key(&guid.to_string())?;
    let by_avail = avail.wrap_dep_key(&dep_key, &DepBinding::new(guid))?;
    let t = now();
    let row = DepRow {
        guid: guid.to_string(),
        kind: kind.into(),
        name: name.to_string(),
        description: description.to_string(),
        enabled,
        azure_key_ids,
        state: STATE_ACTIVE.into(),
        dep_key_id: dep_key.key_ref().id.to_string(),
        dep_key_version: dep_key.key_ref().version,
        availability_key: Some(sealed),
        wrapped_by_availability: Some(by_avail.into_bytes()),
        purge_reason: None,
        purge_contact: None,
        purge_requested_by: None,
        when_created: t.clone(),
        when_changed: t,
    };
    Ok((row, dep_key))
}

/// Changes to a DEP (`Set-DataEncryptionPolicy`).
#[derive(Debug, Clone, Default)]
pub struct PolicyChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub refresh: bool,
    /// `-AzureKeyIDs <old>,<new> -Replace`: the policy's key `old` is replaced by `new`.
    pub replace: Option<(String, String)>,
}

/// The gates of `Set-DataEncryptionPolicy` / `Set-M365DataAtRestEncryptionPolicy`, checked
/// without changing anything (for a rollout plan): the organization, the policy's state, the
/// tenant assignment rule, a new name, and with `-Refresh` that every key of the policy can be
/// read by its service principal.
pub fn preflight_set(
    store: &mut Store,
    keys: &ServiceKeys,
    kind: DepKind,
    identity: &str,
    ch: &PolicyChanges,
) -> Result<()> {
    let (_, d) = set_gates(store, kind, identity, ch)?;
    if ch.refresh {
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
        for w in &wraps {
            keys.vaults.get_key(keys.principal(&d.kind), &w.key_uri)?;
        }
    }
    Ok(())
}

/// The checks before a policy changes: (organization id, the policy).
fn set_gates(
    store: &mut Store,
    kind: DepKind,
    identity: &str,
    ch: &PolicyChanges,
) -> Result<(String, DepRow)> {
    let org_id = check_org(store)?;
    let d = resolve(store, kind, identity)?;
    let noun = kind.noun();
    if d.state == STATE_PURGED {
        return Err(Error::rule(format!("the {noun} '{}' was purged", d.name))
            .with_help("a purged policy keeps no keys and cannot be changed; create a new one"));
    }
    if kind == DepKind::M365 && ch.enabled == Some(false) && d.enabled {
        let assigned = store.read(|tx| -> Result<_> { Ok(tx.m365_assignment()?) })?;
        if assigned.is_some_and(|(g, _)| g == d.guid) {
            return Err(Error::rule(format!(
                "the {noun} '{}' is assigned to the tenant and can't be disabled",
                d.name
            ))
            .with_help("assign another policy first (Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy <other>); there is no cmdlet that unassigns the tenant's policy: offboarding goes through Microsoft support"));
        }
    }
    if let Some(n) = &ch.name {
        check_name(n)?;
    }
    Ok((org_id, d))
}

/// `Set-DataEncryptionPolicy` / `Set-M365DataAtRestEncryptionPolicy`: rename, describe,
/// enable/disable, and `-Refresh` (re-wrap the DEP key under the newest version of each
/// customer key; no mailbox or workload key and no content changes). A multi-workload DEP that
/// is assigned to the tenant can't be disabled.
pub fn set(
    store: &mut Store,
    keys: &mut ServiceKeys,
    kind: DepKind,
    identity: &str,
    ch: &PolicyChanges,
) -> Result<Outcome<DataEncryptionPolicy>> {
    if ch.refresh && ch.replace.is_some() {
        return Err(Error::invalid(
            "a refresh and a key replacement are two changes: make them one after the other",
        )
        .with_help("replace the key first (-AzureKeyIDs <old>,<new> -Replace), then -Refresh"));
    }
    let (org_id, d) = set_gates(store, kind, identity, ch)?;
    let noun = kind.noun();
    let mut warnings = Vec::new();
    // Each new copy with the key version it replaces (the write applies only if the slot still
    // holds that version: a concurrent refresh or purge is never overwritten).
    let mut new_wraps: Vec<(RootWrapRow, String, String)> = Vec::new();
    if ch.refresh {
        let guid = parse_guid(&d.guid)?;
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
        let mut latest = Vec::new();
        for w in &wraps {
            // A KMIP key has no versions (a Re-key makes a new key with a new identifier):
            // its copy is already under its only version, `1`. The key must still be usable.
            if crate::vault::kmip::KmipUri::is_kmip_uri(&w.key_uri) {
                let info = keys
                    .vaults
                    .root_identity(keys.principal(&d.kind), &w.key_uri)?;
                latest.push(Latest {
                    version: w.version.clone(),
                    enabled: info.state == "Active",
                });
                continue;
            }
            let k = keys.vaults.get_key(keys.principal(&d.kind), &w.key_uri)?;
            latest.push(Latest {
                version: k.version,
                enabled: k.enabled,
            });
        }
        if latest
            .iter()
            .zip(&wraps)
            .all(|(k, w)| k.version == w.version)
        {
            warnings.push(format!(
                "the keys of '{}' have no newer version; nothing to refresh",
                d.name
            ));
        } else {
            let (dep_key, _) = keys.dep_key(store, &d, Purpose::Service, &request_id())?;
            for (k, w) in latest.iter().zip(&wraps) {
                if k.version == w.version {
                    continue;
                }
                if !k.enabled {
                    warnings.push(format!(
                        "the newest version {} of {} is disabled; the policy stays on {}",
                        k.version, w.key_uri, w.version
                    ));
                    continue;
                }
                let versioned = format!("{}/{}", w.key_uri, k.version);
                let (version, wrapped) = keys.root_wrap(&d.kind, &dep_key, guid, &versioned)?;
                new_wraps.push((
                    RootWrapRow {
                        dep_guid: d.guid.clone(),
                        slot: w.slot,
                        key_uri: w.key_uri.clone(),
                        version,
                        wrapped: wrapped.into_bytes(),
                    },
                    w.key_uri.clone(),
                    w.version.clone(),
                ));
            }
        }
        keys.check_vaults(store)?;
    }
    // The slot whose key is replaced, and the new AzureKeyIDs entry for it.
    let mut replaced: Option<(u32, String)> = None;
    if let Some((old, new)) = &ch.replace {
        let (row, from_uri, from_version, entry) = replacement(store, keys, &d, kind, old, new)?;
        replaced = Some((row.slot, entry));
        new_wraps.push((row, from_uri, from_version));
        keys.check_vaults(store)?;
    }
    let name = ch.name.as_deref().map(str::trim);
    let (d, wraps) = store.write(|tx| {
        // Only the columns this command changes are written, each guarded: a purge, a refresh
        // or another Set that ran meanwhile keeps what it wrote.
        match tx.set_dep_properties(&d.guid, name, ch.description.as_deref(), ch.enabled, &now())? {
            None => {
                return Err(Error::rule(format!(
                    "a {noun} named '{}' already exists",
                    name.unwrap_or_default()
                ))
                .with_help("choose another -Name"))
            }
            Some(false) => return Err(purged_meanwhile(noun, &d.name)),
            Some(true) => {}
        }
        // Enabling a policy makes it count toward the limit again (checked in the same
        // transaction, so two enables at once cannot pass it together).
        if let (Some(true), false, Some(max)) = (ch.enabled, d.enabled, kind.max()) {
            if tx.count_active_deps(kind.as_str())? > max {
                return Err(Error::rule(format!(
                    "the organization already has {max} active {}: '{}' stays disabled",
                    kind.plural(),
                    d.name
                ))
                .with_help("disable or purge another policy first"));
            }
        }
        for (w, from_uri, from_version) in &new_wraps {
            if !tx.replace_root_wrap(w, from_uri, from_version)? {
                return Err(super::mailbox::changed_meanwhile());
            }
            tx.set_root_wrap_kind(false, &w.dep_guid, w.slot, super::keys::wrap_kind(&w.wrapped))?;
        }
        if let Some((slot, entry)) = &replaced {
            // Read and written under the write lock: a racing change of the other slot keeps
            // its entry.
            let cur = tx.dep(&d.guid)?.ok_or_else(|| purged_meanwhile(noun, &d.name))?;
            let mut ids = cur.azure_key_ids;
            match ids.get_mut(*slot as usize) {
                Some(e) => *e = entry.clone(),
                None => ids = tx.root_wraps(&d.guid)?.into_iter().map(|w| w.key_uri).collect(),
            }
            tx.set_dep_azure_key_ids(&d.guid, &ids)?;
        }
        let op_params = json!({
            "Name": ch.name, "Description": ch.description, "Enabled": ch.enabled, "Refresh": ch.refresh,
            "Replace": ch.replace.as_ref().map(|(o, n)| json!({"Old": o, "New": n})),
            "KeyVersionIDs": new_wraps.iter().map(|(w, _, _)| &w.version).collect::<Vec<_>>(),
        });
        audit(tx, &org_id, "ExchangeAdmin", &format!("Set-{}", kind.cmdlet_noun()), "", &d.guid, op_params)?;
        let now_row = tx.dep(&d.guid)?.ok_or_else(|| purged_meanwhile(noun, &d.name))?;
        Ok((now_row, tx.root_wraps(&d.guid)?))
    })?;
    Ok(Outcome {
        value: present(&d, &wraps),
        warnings,
    })
}

/// Who holds a key, from its URI alone: the vault of an Azure-style id, the server of a KMIP
/// URI (so two keys of one policy are never in one holder).
pub(crate) fn holder_of(uri: &str) -> String {
    if crate::vault::kmip::KmipUri::is_kmip_uri(uri) {
        return match crate::vault::kmip::KmipUri::parse(uri) {
            Ok(u) => format!("kmip:{}", u.server()),
            Err(_) => uri.to_ascii_lowercase(),
        };
    }
    match KeyId::parse(uri) {
        Ok(id) => id.vault.to_ascii_lowercase(),
        Err(_) => uri.to_ascii_lowercase(),
    }
}

/// `-AzureKeyIDs <old>,<new> -Replace`: the copy of the DEP key under `new` that replaces the
/// one under `old` (the row to write, the version it replaces, the AzureKeyIDs entry). `old`
/// must be a key of the policy, by its URI with or without a version (it need not be usable:
/// replacing a lost or revoked key is what this is for); `new` passes every rule a key of a new
/// policy passes, is not already a key of the policy, and is in another holder than the key
/// that stays. The DEP key is opened as for a reassignment (`Purpose::Reassign`): with a
/// customer key, or the availability key when the customer keys are lost or unreachable, but
/// not when they refuse the service. No mailbox or workload key and no content changes.
fn replacement(
    store: &mut Store,
    keys: &mut ServiceKeys,
    d: &DepRow,
    kind: DepKind,
    old: &str,
    new: &str,
) -> Result<(RootWrapRow, String, String, String)> {
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
    let principal = keys.principal(&d.kind);
    let canonical = |given: &str| {
        key_uri_versionless(
            &keys
                .vaults
                .canonical_key_id(principal, given)
                .unwrap_or_else(|_| given.to_string()),
        )
    };
    let old_uri = canonical(old);
    let listed = || {
        wraps
            .iter()
            .map(|w| w.key_uri.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(w) = wraps
        .iter()
        .find(|w| w.key_uri.eq_ignore_ascii_case(&old_uri))
    else {
        return Err(Error::invalid(format!(
            "'{}' is not a key of the {} '{}'; its keys are {}",
            crate::vault::ids::printable(old),
            kind.noun(),
            d.name,
            listed()
        ))
        .with_help("give the key to replace first and its replacement second: -AzureKeyIDs <old>,<new> -Replace"));
    };
    let c = check_key(keys, kind, new)?;
    super::onboarding::require_onboarded(
        store,
        kind.scenario(),
        &[(c.uri.as_str(), c.subscription.as_str())],
    )?;
    let new_uri = key_uri_versionless(&c.uri);
    if wraps
        .iter()
        .any(|o| o.key_uri.eq_ignore_ascii_case(&new_uri))
    {
        return Err(Error::rule(format!(
            "{new_uri} is already a key of the {} '{}'",
            kind.noun(),
            d.name
        ))
        .with_help("replace the key with one the policy does not have yet"));
    }
    if let Some(stays) = wraps
        .iter()
        .find(|o| o.slot != w.slot && holder_of(&o.key_uri) == holder_of(&new_uri))
    {
        return Err(Error::rule(format!(
            "the keys {} and {new_uri} would be in the same key vault '{}'",
            stays.key_uri,
            holder_of(&new_uri)
        ))
        .with_help("put the two keys of a policy in two different vaults (ideally two subscriptions and regions)"));
    }
    let guid = parse_guid(&d.guid)?;
    // As a reassignment: the availability key may stand in for a lost or unreachable customer
    // key, never for keys that refuse the service, or a replacement would undo a revocation.
    let (dep_key, _) = keys.dep_key(store, d, Purpose::Reassign, &request_id())?;
    let (version, wrapped) = keys.root_wrap(&d.kind, &dep_key, guid, &c.uri)?;
    Ok((
        RootWrapRow {
            dep_guid: d.guid.clone(),
            slot: w.slot,
            key_uri: new_uri.clone(),
            version,
            wrapped: wrapped.into_bytes(),
        },
        w.key_uri.clone(),
        w.version.clone(),
        c.uri,
    ))
}

/// A DEP that another command purged while this one ran.
fn purged_meanwhile(noun: &str, name: &str) -> Error {
    Error::rule(format!(
        "the {noun} '{name}' was purged while this command ran; nothing was changed"
    ))
    .with_help("a purged policy keeps no keys; create a new one with New-DataEncryptionPolicy")
}

/// The built-in Microsoft-managed DEP (service keys only), created on first need.
pub fn microsoft_managed(store: &mut Store, keys: &ServiceKeys) -> Result<DepRow> {
    if let Some(d) = store.read(|tx| -> Result<_> { Ok(tx.deps(KIND_MMK)?.into_iter().next()) })? {
        return Ok(d);
    }
    let (row, key) = fresh_dep(
        keys,
        KIND_MMK,
        MMK_NAME,
        "The built-in policy for mailboxes without a customer DEP: Microsoft-managed keys only.",
        true,
        Vec::new(),
    )?;
    store.write(|tx| {
        if let Some(d) = tx.deps(KIND_MMK)?.into_iter().next() {
            return Ok(d);
        }
        tx.insert_dep(&row)?;
        keys.record_commitment(tx, &row.guid, &key)?;
        Ok(row.clone())
    })
}

/// One key's result in `Test-DataEncryptionPolicy`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyTest {
    pub policy: String,
    pub key_type: String,
    pub key_id: String,
    pub version: String,
    pub result: String,
    pub message: String,
}

/// `Test-DataEncryptionPolicy` / `Test-M365DataAtRestEncryptionPolicy`: each customer key and
/// the availability key must each unwrap the DEP key. Touches no content; the availability-key
/// test is audited.
pub fn test(
    store: &mut Store,
    keys: &mut ServiceKeys,
    kind: DepKind,
    identity: &str,
) -> Result<Vec<KeyTest>> {
    let d = resolve(store, kind, identity)?;
    let guid = parse_guid(&d.guid)?;
    let binding = DepBinding::new(guid);
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.root_wraps(&d.guid)?) })?;
    let mut out = Vec::new();
    for w in &wraps {
        let versioned = format!("{}/{}", w.key_uri, w.version);
        let res = keys.root_unwrap(&d, &binding, w, &versioned);
        let (result, message) = match (keys.check_vaults(store), res) {
            (Err(e), _) => ("RolledBack".to_string(), e.message().to_string()),
            // A copy that unwraps must also be the key the policy was created with.
            (Ok(()), Ok(k)) => match keys.test_commitment(store, &d, &k) {
                Ok(Ok(())) => ("Success".to_string(), String::new()),
                Ok(Err(e)) => (format!("{:?}", e.class()), e.message().to_string()),
                Err(e) => (format!("{:?}", e.kind()), e.message().to_string()),
            },
            (Ok(()), Err(f)) => match f.damage {
                Some(why) => ("Damaged".to_string(), why),
                None => (
                    format!("{:?}", f.error.class()),
                    f.error.message().to_string(),
                ),
            },
        };
        out.push(KeyTest {
            policy: d.name.clone(),
            key_type: "CustomerKey".into(),
            key_id: w.key_uri.clone(),
            version: w.version.clone(),
            result,
            message,
        });
    }
    let avail = match (&d.availability_key, &d.wrapped_by_availability) {
        (Some(_), Some(_)) => {
            let r = keys.by_availability(&d, &binding).and_then(|k| {
                keys.test_commitment(store, &d, &k)?
                    .map_err(|e| Error::new(ErrorKind::Authentication, e.message().to_string()))
            });
            match r {
                Ok(_) => ("Success".to_string(), String::new()),
                Err(e) => (format!("{:?}", e.kind()), e.message().to_string()),
            }
        }
        _ => (
            "Destroyed".to_string(),
            "the availability key was destroyed by the data purge".to_string(),
        ),
    };
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| {
        audit(
            tx,
            &org_id,
            "CustomerKeyServiceEncryption",
            "Test Availability Key",
            &principal_user(&d.kind),
            &d.guid,
            json!({"Policy Id": d.guid, "Result": avail.0, "Request Id": request_id()}),
        )
    })?;
    out.push(KeyTest {
        policy: d.name.clone(),
        key_type: "AvailabilityKey".into(),
        key_id: format!("availability key of {}", d.name),
        version: String::new(),
        result: avail.0,
        message: avail.1,
    });
    Ok(out)
}

#[cfg(test)]
mod dn_tests {
    use super::*;

    #[test]
    fn a_distinguished_name_round_trips_every_name() {
        for name in [
            "US Mailboxes",
            "a,b",
            "x+y=z",
            " lead",
            "trail ",
            "#1",
            "back\\slash",
            "q\"uote",
        ] {
            for kind in [KIND_MAILBOX, KIND_M365] {
                let dn = distinguished_name(kind, name);
                assert!(is_dn(&dn), "{dn}");
                assert_eq!(name_from_dn(kind, &dn).as_deref(), Some(name), "{dn}");
            }
        }
        assert_eq!(
            distinguished_name(KIND_MAILBOX, "US Mailboxes"),
            "CN=US Mailboxes,CN=Data Encryption Policies,CN=Transport Settings,CN=Configuration,DC=custkey"
        );
        // Another kind's container, another base, or a bad escape is not a name of this kind.
        let m365 = distinguished_name(KIND_M365, "P");
        assert_eq!(name_from_dn(KIND_MAILBOX, &m365), None);
        assert_eq!(
            name_from_dn(KIND_MAILBOX, "CN=P,CN=Data Encryption Policies,DC=other"),
            None
        );
        assert_eq!(name_from_dn(KIND_MAILBOX, "CN=P\\"), None);
        assert_eq!(
            name_from_dn(
                KIND_MAILBOX,
                "CN=,CN=Data Encryption Policies,CN=Transport Settings,CN=Configuration,DC=custkey"
            ),
            None
        );
        // Case does not matter in the container and base.
        assert_eq!(
            name_from_dn(KIND_MAILBOX, "cn=P,cn=data encryption policies,cn=transport settings,cn=configuration,dc=CUSTKEY").as_deref(),
            Some("P")
        );
    }
}
