//! The Customer Key onboarding service (`New-CustomerKeyOnboardingRequest`,
//! `Get-CustomerKeyOnboardingRequest` of Microsoft's M365CustomerKeyOnboarding module): a
//! request names a scenario and two subscription/vault/key triples; the service checks them
//! against the real state of the organization, the subscriptions and the vaults, reports each
//! check, and records the request with its result. A successful request in `Enable` mode
//! onboards the scenario: from then on that scenario's policies must use keys in subscriptions
//! onboarded for it (`require_onboarded`). A scenario never onboarded this way keeps the older
//! flow (FastTrack request and email, then the policy creation's own gates); docs/lifecycle.md.

use serde::{Deserialize, Serialize};

use super::{now, Error, Result};
use crate::store::Store;
use crate::vault::azure::SubscriptionInfo;
use crate::vault::model::ALLOWED_KEY_SIZES;
use crate::vault::{
    KeyId, KeyPermission, Principal, RecoveryLevel, VaultError, EXCHANGE_ONLINE_APP_ID,
    M365_DATA_AT_REST_APP_ID, SHAREPOINT_ONLINE_APP_ID,
};

/// The settings prefix of the recorded requests: `<prefix><created>.<id>`, so that key order
/// is creation order.
const PREFIX: &str = "ck.onboarding.";

pub const PASSED: &str = "Passed";
pub const FAILED: &str = "Failed";
/// `ValidationResult` / `EnablementResult` of a request whose checks all passed (the word
/// Microsoft's module reports).
pub const SUCCESS: &str = "Success";

/// What a request onboards (`-Scenario`), as Microsoft's module names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Multi-workload DEPs (`New-M365DataAtRestEncryptionPolicy`).
    Mdep,
    /// Mailbox DEPs (`New-DataEncryptionPolicy`).
    Exchange,
    /// SharePoint, OneDrive and Teams files (`Register-SPODataEncryptionPolicy`).
    SharePointOneDriveTeams,
}

impl Scenario {
    pub const NAMES: &'static [&'static str] = &["MDEP", "Exchange", "SharePointOneDriveTeams"];

    pub fn parse(s: &str) -> Result<Scenario> {
        match s.to_ascii_lowercase().as_str() {
            "mdep" => Ok(Scenario::Mdep),
            "exchange" => Ok(Scenario::Exchange),
            "sharepointonedriveteams" => Ok(Scenario::SharePointOneDriveTeams),
            _ => Err(
                Error::invalid(format!("'{s}' is not an onboarding scenario"))
                    .with_help("give -Scenario MDEP, Exchange or SharePointOneDriveTeams"),
            ),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Mdep => "MDEP",
            Scenario::Exchange => "Exchange",
            Scenario::SharePointOneDriveTeams => "SharePointOneDriveTeams",
        }
    }
    /// The service principal that wraps and unwraps with the scenario's keys.
    pub fn app_id(self) -> &'static str {
        match self {
            Scenario::Mdep => M365_DATA_AT_REST_APP_ID,
            Scenario::Exchange => EXCHANGE_ONLINE_APP_ID,
            Scenario::SharePointOneDriveTeams => SHAREPOINT_ONLINE_APP_ID,
        }
    }
    fn service(self) -> &'static str {
        match self {
            Scenario::Mdep => "M365DataAtRestEncryption",
            Scenario::Exchange => "Office 365 Exchange Online",
            Scenario::SharePointOneDriveTeams => "Office 365 SharePoint Online",
        }
    }
    /// The cmdlet whose policies the scenario gates.
    pub fn policy_cmdlet(self) -> &'static str {
        match self {
            Scenario::Mdep => "New-M365DataAtRestEncryptionPolicy",
            Scenario::Exchange => "New-DataEncryptionPolicy",
            Scenario::SharePointOneDriveTeams => "Register-SPODataEncryptionPolicy",
        }
    }
}

/// `-OnboardingMode`: `Validate` checks and records the request; `Enable` also onboards the
/// scenario when every check passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Validate,
    Enable,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["Validate", "Enable"];
    pub fn parse(s: &str) -> Result<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "validate" => Ok(Mode::Validate),
            "enable" => Ok(Mode::Enable),
            _ => Err(Error::invalid(format!("'{s}' is not an onboarding mode"))
                .with_help("give -OnboardingMode Validate or Enable")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Validate => "Validate",
            Mode::Enable => "Enable",
        }
    }
}

/// One subscription, vault and key of a request (`-Subscription1 -VaultName1 -KeyIdentifier1`).
#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub subscription: String,
    /// Optional when `key_identifier` is a key URI (it names the vault).
    pub vault_name: Option<String>,
    /// A key URI (`https://<vault>.vault.azure.net/keys/<key>[/<version>]`) or, with
    /// `vault_name`, a key name.
    pub key_identifier: String,
}

/// A request as given.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub organization: String,
    pub scenario: Scenario,
    pub mode: Mode,
    pub slots: [Slot; 2],
}

/// One check the service ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Validation {
    /// What was checked (e.g. `PurgeProtectionEnabled`).
    #[serde(rename = "Name")]
    pub name: String,
    /// The subscription, vault or key it was checked on.
    #[serde(rename = "Target")]
    pub target: String,
    /// `Passed` or `Failed`.
    #[serde(rename = "Result")]
    pub result: String,
    /// What was found, and for a failure what to do.
    #[serde(rename = "Message")]
    pub message: String,
}

/// A recorded request, as both cmdlets show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OnboardingRequest {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "OrganizationId")]
    pub organization_id: String,
    #[serde(rename = "Scenario")]
    pub scenario: String,
    #[serde(rename = "OnboardingMode")]
    pub onboarding_mode: String,
    #[serde(rename = "CreatedDate")]
    pub created_date: String,
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    /// `Success` when every check passed, else `Failed`.
    #[serde(rename = "ValidationResult")]
    pub validation_result: String,
    /// `Enable` mode: `Success` (the scenario is onboarded) or `Failed` (a check failed, nothing
    /// was enabled). `Validate` mode: none.
    #[serde(rename = "EnablementResult")]
    pub enablement_result: Option<String>,
    #[serde(rename = "Subscription1")]
    pub subscription1: String,
    #[serde(rename = "VaultName1")]
    pub vault_name1: String,
    #[serde(rename = "KeyIdentifier1")]
    pub key_identifier1: String,
    #[serde(rename = "Subscription2")]
    pub subscription2: String,
    #[serde(rename = "VaultName2")]
    pub vault_name2: String,
    #[serde(rename = "KeyIdentifier2")]
    pub key_identifier2: String,
    #[serde(rename = "PassedValidations")]
    pub passed_validations: Vec<Validation>,
    #[serde(rename = "FailedValidations")]
    pub failed_validations: Vec<Validation>,
}

impl OnboardingRequest {
    /// Every check, in the order run.
    pub fn validations(&self) -> Vec<&Validation> {
        let mut all: Vec<&Validation> = self
            .passed_validations
            .iter()
            .chain(self.failed_validations.iter())
            .collect();
        all.sort_by_key(|v| self.order_of(v));
        all
    }
    fn order_of(&self, v: &Validation) -> usize {
        CHECK_ORDER
            .iter()
            .position(|n| *n == v.name)
            .unwrap_or(CHECK_ORDER.len())
    }
    /// Whether this request onboarded its scenario.
    pub fn enabled(&self) -> bool {
        self.enablement_result.as_deref() == Some(SUCCESS)
    }
    fn same_request(&self, other: &OnboardingRequest) -> bool {
        self.organization_id == other.organization_id
            && self.scenario == other.scenario
            && self.onboarding_mode == other.onboarding_mode
            && self.subscription1 == other.subscription1
            && self.vault_name1 == other.vault_name1
            && self.key_identifier1 == other.key_identifier1
            && self.subscription2 == other.subscription2
            && self.vault_name2 == other.vault_name2
            && self.key_identifier2 == other.key_identifier2
            && self.passed_validations == other.passed_validations
            && self.failed_validations == other.failed_validations
    }
}

/// The checks, in report order.
const CHECK_ORDER: &[&str] = &[
    "OrganizationSubscriptionType",
    "SubscriptionFound",
    "MandatoryRetentionPeriodEnabled",
    "KeyVaultFound",
    "KeyVaultInSubscription",
    "SoftDeleteEnabled",
    "PurgeProtectionEnabled",
    "ServicePrincipalPermissions",
    "KeyFound",
    "KeyType",
    "KeyEnabled",
    "KeyExpiration",
    "KeyRecoveryLevel",
    "DifferentKeyVaults",
    "DifferentSubscriptions",
];

/// What the store's organization is known by: its name, its GUID, and the Azure tenant id of
/// the context (Microsoft's module takes the tenant id).
pub struct OrgIdentity {
    pub name: String,
    pub guid: String,
    pub tenant_id: String,
}

fn check_organization(org: &OrgIdentity, given: &str) -> Result<()> {
    let g = given.trim();
    if g.eq_ignore_ascii_case(&org.name)
        || g.eq_ignore_ascii_case(&org.guid)
        || g.eq_ignore_ascii_case(&org.tenant_id)
    {
        return Ok(());
    }
    Err(Error::not_found(format!(
        "'{g}' is not this store's organization ({}, tenant {})",
        org.name, org.tenant_id
    ))
    .with_help(format!(
        "give the tenant id, e.g. -Organization {} ((Get-AzContext).TenantId), or the organization's name",
        org.tenant_id
    )))
}

struct Report {
    checks: Vec<Validation>,
}

impl Report {
    fn add(&mut self, name: &str, target: &str, ok: bool, message: String) -> bool {
        self.checks.push(Validation {
            name: name.into(),
            target: target.into(),
            result: if ok { PASSED } else { FAILED }.into(),
            message,
        });
        ok
    }
}

/// One slot once resolved: the subscription id, vault name and key as recorded.
struct Resolved {
    subscription: String,
    vault: String,
    key: String,
}

/// The vault and key name a slot names, or a usage error.
fn key_of(slot: &Slot, n: usize) -> Result<(String, String, Option<String>)> {
    let given = slot.key_identifier.trim();
    if crate::vault::kmip::KmipUri::is_kmip_uri(given) {
        // Checked as a key of the key manager (check_slot), not as an Azure key.
        return Ok((String::new(), given.to_string(), None));
    }
    if given.contains("://") {
        let id = KeyId::parse(given).map_err(|e| {
            Error::invalid(format!(
                "-KeyIdentifier{n} '{}' is not a key URI: {}",
                crate::vault::ids::printable(given),
                e.message()
            ))
            .with_help("give the key's Id: (Get-AzKeyVaultKey -VaultName <vault> -Name <key>).Id")
        })?;
        return Ok((id.vault, id.name, id.version));
    }
    match slot.vault_name.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok((v.to_ascii_lowercase(), given.to_string(), None)),
        _ => Err(Error::invalid(format!(
            "-KeyIdentifier{n} '{}' is a key name, and -VaultName{n} is not given",
            crate::vault::ids::printable(given)
        ))
        .with_help(format!(
            "give the key's URI as -KeyIdentifier{n}, or its vault as -VaultName{n}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_slot(
    keys: &super::keys::ServiceKeys,
    subs: &[SubscriptionInfo],
    scenario: Scenario,
    principal: &Principal,
    slot: &Slot,
    n: usize,
    r: &mut Report,
) -> Result<Resolved> {
    let (vault_name, key_name, version) = key_of(slot, n)?;
    let given_sub = slot.subscription.trim();
    let sub = subs
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(given_sub) || s.name == given_sub);
    let sub_target = format!("Subscription{n} {given_sub}");
    let sub_id = sub
        .map(|s| s.id.clone())
        .unwrap_or_else(|| given_sub.to_string());
    match sub {
        Some(s) => {
            r.add(
                "SubscriptionFound",
                &sub_target,
                true,
                format!("subscription '{}' ({}) is {}", s.name, s.id, s.state),
            );
            r.add(
                "MandatoryRetentionPeriodEnabled",
                &sub_target,
                s.protected,
                if s.protected {
                    "Microsoft.Resources/mandatoryRetentionPeriodEnabled is Registered".into()
                } else {
                    format!("Microsoft.Resources/mandatoryRetentionPeriodEnabled is not registered on '{}': run Set-AzContext -Subscription {} and Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources", s.name, s.id)
                },
            );
        }
        None => {
            r.add(
                "SubscriptionFound",
                &sub_target,
                false,
                format!("no subscription '{given_sub}' in the Azure context: check Get-AzSubscription, or create it with Set-AzContext -Subscription"),
            );
        }
    }
    if crate::vault::kmip::KmipUri::is_kmip_uri(&key_name) {
        return check_kmip(keys, principal, &key_name, n, sub_id, r);
    }
    // A key URI is recorded as given (a vault's or a managed HSM's); a key name as its vault's.
    let given_key = slot.key_identifier.trim();
    let key_uri = if given_key.contains("://") {
        given_key.to_string()
    } else {
        format!("https://{vault_name}.vault.azure.net/keys/{key_name}")
    };
    let resolved = Resolved {
        subscription: sub_id.clone(),
        vault: vault_name.clone(),
        key: key_uri.clone(),
    };
    let vault_target = format!("VaultName{n} {vault_name}");
    if let Some(v) = slot.vault_name.as_deref().map(str::trim) {
        if !v.is_empty() && !v.eq_ignore_ascii_case(&vault_name) {
            r.add(
                "KeyVaultFound",
                &vault_target,
                false,
                format!("-KeyIdentifier{n} names a key of vault '{vault_name}', not of -VaultName{n} '{v}': give the key of that vault"),
            );
            return Ok(resolved);
        }
    }
    let vault = match keys.vaults.vault(&vault_name) {
        Ok(v) => v,
        Err(VaultError::NotFound(_)) => {
            r.add(
                "KeyVaultFound",
                &vault_target,
                false,
                format!("no key vault '{vault_name}': create it with New-AzKeyVault in subscription {given_sub}, or correct the name"),
            );
            return Ok(resolved);
        }
        Err(e) => return Err(e.into()),
    };
    let info = vault.properties()?;
    r.add(
        "KeyVaultFound",
        &vault_target,
        true,
        format!(
            "key vault '{}' in {} ({:?})",
            info.vault_name, info.location, info.sku
        ),
    );
    let in_sub = sub.is_some_and(|s| s.id.eq_ignore_ascii_case(&info.subscription_id));
    r.add(
        "KeyVaultInSubscription",
        &vault_target,
        in_sub,
        if in_sub {
            format!("the vault is in subscription {}", info.subscription_id)
        } else {
            format!(
                "the vault is in subscription {}, not in Subscription{n} {given_sub}: give the vault's own subscription, or use a vault of that subscription",
                info.subscription_id
            )
        },
    );
    let soft = info.enable_soft_delete && info.soft_delete_retention_in_days >= 90;
    r.add(
        "SoftDeleteEnabled",
        &vault_target,
        soft,
        if soft {
            "soft delete is on, with 90 days of retention".into()
        } else if !info.enable_soft_delete {
            format!("soft delete is off: turn it on as the setup guide does: $r = Get-AzResource -ResourceId {}; $r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value 'True'; Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties", info.resource_id)
        } else {
            format!(
                "soft delete keeps deleted keys {} days; Customer Key needs 90 (a vault's retention is set when it is created: create a vault with -SoftDeleteRetentionInDays 90, the default)",
                info.soft_delete_retention_in_days
            )
        },
    );
    r.add(
        "PurgeProtectionEnabled",
        &vault_target,
        info.enable_purge_protection,
        if info.enable_purge_protection {
            "purge protection is on".into()
        } else {
            format!(
                "purge protection is off: custkey Update-AzKeyVault -VaultName {} -ResourceGroupName {} -EnablePurgeProtection",
                info.vault_name, info.resource_group_name
            )
        },
    );
    let app_id = scenario.app_id();
    let service = scenario.service();
    if info.enable_rbac_authorization {
        r.add(
            "ServicePrincipalPermissions",
            &vault_target,
            true,
            format!("the vault authorizes with Azure RBAC: the {service} service principal's role assignments decide (its get is checked below)"),
        );
    } else {
        let policy = info
            .access_policies
            .iter()
            .find(|p| p.application_id.as_deref() == Some(app_id));
        let missing: Vec<&str> = [
            KeyPermission::Get,
            KeyPermission::WrapKey,
            KeyPermission::UnwrapKey,
        ]
        .iter()
        .filter(|need| !policy.is_some_and(|p| p.permissions_to_keys.contains(need)))
        .map(|p| p.as_str())
        .collect();
        r.add(
            "ServicePrincipalPermissions",
            &vault_target,
            missing.is_empty(),
            if missing.is_empty() {
                format!("the {service} service principal ({app_id}) has get, wrapKey and unwrapKey")
            } else {
                format!(
                    "the {service} service principal ({app_id}) lacks {} on the vault: custkey Set-AzKeyVaultAccessPolicy -VaultName {} -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName {app_id}",
                    missing.join(", "),
                    info.vault_name
                )
            },
        );
    }
    let key_target = format!("KeyIdentifier{n} {key_uri}");
    let key = match vault.get_key(principal, &key_name, version.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            let message = match &e {
                VaultError::NotFound(_) => format!("no key '{key_name}' in vault '{vault_name}': create it with Add-AzKeyVaultKey, or correct the identifier"),
                VaultError::AccessDenied(m) => format!("the {service} service principal cannot read the key ({m}): grant it get, wrapKey and unwrapKey"),
                other => other.message().to_string(),
            };
            if matches!(e, VaultError::NotFound(_) | VaultError::AccessDenied(_)) {
                r.add("KeyFound", &key_target, false, message);
                return Ok(resolved);
            }
            return Err(e.into());
        }
    };
    r.add(
        "KeyFound",
        &key_target,
        true,
        format!("key '{}' version {}", key.name, key.version),
    );
    let rsa = key.key_type.starts_with("RSA") && ALLOWED_KEY_SIZES.contains(&key.key_size);
    r.add(
        "KeyType",
        &key_target,
        rsa,
        if rsa {
            format!("{} {}", key.key_type, key.key_size)
        } else if key.key_type.starts_with("RSA") {
            format!("{} {}: Customer Key accepts RSA keys of 2048, 3072 or 4096 bits", key.key_type, key.key_size)
        } else {
            format!("{}: Customer Key wraps with RSA keys only (2048, 3072 or 4096 bits); add an RSA key with Add-AzKeyVaultKey -Destination HSM", key.key_type)
        },
    );
    r.add(
        "KeyEnabled",
        &key_target,
        key.enabled,
        if key.enabled {
            "the key is enabled".into()
        } else {
            format!("the key is disabled: custkey Update-AzKeyVaultKey -VaultName {vault_name} -Name {key_name} -Enable $true")
        },
    );
    let now = chrono::Utc::now();
    let (exp_ok, exp_msg) = match key.expires {
        None => (true, "no expiry".to_string()),
        Some(e) if e.format("%Y-%m-%d").to_string() == "9999-12-31" => {
            (true, "expires 12/31/9999".to_string())
        }
        Some(e) if e <= now => (false, format!("the key expired on {}: Customer Key can't use an expired key; add a new version with Add-AzKeyVaultKey", e.format("%Y-%m-%d"))),
        Some(e) => (false, format!("the key expires on {}: Customer Key accepts no expiry or 12/31/9999: custkey Update-AzKeyVaultKey -VaultName {vault_name} -Name {key_name} -Expires 12/31/9999", e.format("%Y-%m-%d"))),
    };
    let (exp_ok, exp_msg) = match key.not_before {
        Some(nb) if nb > now && exp_ok => (
            false,
            format!(
                "the key is not valid before {}: wait, or use a version valid now",
                nb.to_rfc3339()
            ),
        ),
        _ => (exp_ok, exp_msg),
    };
    r.add("KeyExpiration", &key_target, exp_ok, exp_msg);
    let level_ok = key.recovery_level == RecoveryLevel::RecoverableProtectedSubscription;
    r.add(
        "KeyRecoveryLevel",
        &key_target,
        level_ok,
        if level_ok {
            "Recoverable+ProtectedSubscription".into()
        } else {
            format!("{}, not Recoverable+ProtectedSubscription: register mandatoryRetentionPeriodEnabled on the vault's subscription and keep soft delete on with 90 days", key.recovery_level.as_str())
        },
    );
    Ok(resolved)
}

/// A `kmip://` key: the onboarding service checks Azure Key Vault (and Managed HSM) RSA keys, so
/// a key manager's key is reported for what it is and fails the key type check.
fn check_kmip(
    keys: &super::keys::ServiceKeys,
    principal: &Principal,
    uri: &str,
    n: usize,
    subscription: String,
    r: &mut Report,
) -> Result<Resolved> {
    let target = format!("KeyIdentifier{n} {uri}");
    let info = match keys.vaults.root_identity(principal, uri) {
        Ok(i) => i,
        Err(e) => {
            r.add(
                "KeyFound",
                &target,
                false,
                format!("the KMIP key cannot be read: {}", e.message()),
            );
            return Ok(Resolved {
                subscription,
                vault: uri.to_string(),
                key: uri.to_string(),
            });
        }
    };
    r.add(
        "KeyFound",
        &target,
        true,
        format!(
            "key of the KMIP key manager '{}' ({})",
            info.holder, info.state
        ),
    );
    let kind = match info.kind {
        crate::vault::RootKeyKind::Rsa(bits) => format!("RSA {bits}"),
        crate::vault::RootKeyKind::Aes256 => "oct (AES-256)".to_string(),
    };
    r.add(
        "KeyType",
        &target,
        false,
        format!("{kind} in a KMIP key manager: the onboarding service accepts RSA keys (2048, 3072 or 4096 bits) of Azure Key Vault only; use an Add-AzKeyVaultKey key of a vault in Subscription{n}"),
    );
    Ok(Resolved {
        subscription,
        vault: info.holder.to_ascii_lowercase(),
        key: info.key_uri,
    })
}

/// Runs a request's checks against the store, the subscriptions `subs` and the vaults, without
/// recording anything.
pub fn check(
    store: &mut Store,
    keys: &super::keys::ServiceKeys,
    org: &OrgIdentity,
    subs: &[SubscriptionInfo],
    req: &NewRequest,
    created_by: &str,
) -> Result<OnboardingRequest> {
    check_organization(org, &req.organization)?;
    // Both slots' keys must at least be named before anything is checked (a usage error).
    for (i, s) in req.slots.iter().enumerate() {
        key_of(s, i + 1)?;
    }
    let principal = Principal::service_principal(req.scenario.app_id())?;
    let mut r = Report { checks: Vec::new() };
    let o = super::org::get(store)?;
    r.add(
        "OrganizationSubscriptionType",
        &format!("Organization {}", o.name),
        o.subscription_type != "Trial",
        if o.subscription_type == "Trial" {
            "the organization is a Trial; Customer Key needs a paid subscription: custkey Set-OrganizationConfig -SubscriptionType Paid".into()
        } else {
            format!("the organization is {}", o.subscription_type)
        },
    );
    let a = check_slot(
        keys,
        subs,
        req.scenario,
        &principal,
        &req.slots[0],
        1,
        &mut r,
    )?;
    let b = check_slot(
        keys,
        subs,
        req.scenario,
        &principal,
        &req.slots[1],
        2,
        &mut r,
    )?;
    keys.check_vaults(store)?;
    let pair = format!("{}, {}", a.vault, b.vault);
    r.add(
        "DifferentKeyVaults",
        &pair,
        a.vault != b.vault,
        if a.vault != b.vault {
            "the two keys are in two vaults".into()
        } else {
            format!("both keys are in vault '{}': put the second key in a vault of the second subscription", a.vault)
        },
    );
    let subs_pair = format!("{}, {}", a.subscription, b.subscription);
    let differ = !a.subscription.eq_ignore_ascii_case(&b.subscription);
    r.add(
        "DifferentSubscriptions",
        &subs_pair,
        differ,
        if differ {
            "the two vaults are in two subscriptions".into()
        } else {
            format!("both vaults are given in subscription {}: Customer Key needs two subscriptions, one per vault", a.subscription)
        },
    );
    let (passed, failed): (Vec<Validation>, Vec<Validation>) =
        r.checks.into_iter().partition(|c| c.result == PASSED);
    let ok = failed.is_empty();
    Ok(OnboardingRequest {
        id: String::new(),
        organization_id: o.guid,
        scenario: req.scenario.as_str().into(),
        onboarding_mode: req.mode.as_str().into(),
        created_date: String::new(),
        created_by: created_by.into(),
        validation_result: if ok { SUCCESS } else { FAILED }.into(),
        enablement_result: match req.mode {
            Mode::Validate => None,
            Mode::Enable => Some(if ok { SUCCESS } else { FAILED }.into()),
        },
        subscription1: a.subscription,
        vault_name1: a.vault,
        key_identifier1: a.key,
        subscription2: b.subscription,
        vault_name2: b.vault,
        key_identifier2: b.key,
        passed_validations: passed,
        failed_validations: failed,
    })
}

/// `New-CustomerKeyOnboardingRequest`: checks the request and records it with its result.
/// The same request again, with every check coming out the same, gives back the request
/// recorded before (same `ID`) rather than a second record; anything that changed is a new one.
pub fn submit(
    store: &mut Store,
    keys: &super::keys::ServiceKeys,
    org: &OrgIdentity,
    subs: &[SubscriptionInfo],
    req: &NewRequest,
    created_by: &str,
) -> Result<OnboardingRequest> {
    let mut rec = check(store, keys, org, subs, req, created_by)?;
    store.write(|tx| {
        let all = read_all(tx)?;
        if let Some(prev) = all
            .iter()
            .rev()
            .find(|p| p.scenario == rec.scenario && p.onboarding_mode == rec.onboarding_mode)
            .filter(|p| p.same_request(&rec))
        {
            rec = prev.clone();
            return Ok(());
        }
        rec.id = uuid::Uuid::new_v4().to_string();
        rec.created_date = now();
        let value = serde_json::to_string(&rec)
            .map_err(|e| {
                Error::rule(format!("the onboarding request could not be recorded: {e}"))
                    .with_help("nothing was recorded; send the request again")
            })?;
        // Microseconds in the key: requests sort in the order made, also within a second.
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
        tx.set_setting(&format!("{PREFIX}{stamp}.{}", rec.id), &value)?;
        super::keys::audit(
            tx,
            &rec.organization_id,
            "CustomerKeyOnboarding",
            "New-CustomerKeyOnboardingRequest",
            "",
            &rec.id,
            serde_json::json!({
                "Scenario": rec.scenario,
                "OnboardingMode": rec.onboarding_mode,
                "ValidationResult": rec.validation_result,
                "EnablementResult": rec.enablement_result,
                "FailedValidations": rec.failed_validations.iter().map(|v| &v.name).collect::<Vec<_>>(),
            }),
        )
    })?;
    Ok(rec)
}

fn read_all(tx: &crate::store::Tx<'_>) -> Result<Vec<OnboardingRequest>> {
    let mut out = Vec::new();
    // Keys sort in creation order; the query does not order them (nor do both engines alike).
    let mut rows = tx.settings_with_prefix(PREFIX)?;
    rows.sort();
    for (key, value) in rows {
        let rec: OnboardingRequest = serde_json::from_str(&value).map_err(|e| {
            Error::new(
                super::ErrorKind::Unavailable,
                format!("the recorded onboarding request {key} does not parse: {e}"),
            )
            .with_help("restore the store from its latest backup")
        })?;
        out.push(rec);
    }
    Ok(out)
}

/// `Get-CustomerKeyOnboardingRequest`: every recorded request of the organization, oldest
/// first, or the one `request_id` names.
pub fn list(
    store: &mut Store,
    org: &OrgIdentity,
    organization: &str,
    request_id: Option<&str>,
) -> Result<Vec<OnboardingRequest>> {
    check_organization(org, organization)?;
    let all = store.read(read_all)?;
    match request_id.map(str::trim) {
        None => Ok(all),
        Some(id) => {
            let one: Vec<OnboardingRequest> = all
                .into_iter()
                .filter(|r| r.id.eq_ignore_ascii_case(id))
                .collect();
            if one.is_empty() {
                return Err(Error::not_found(format!("no onboarding request '{id}'"))
                    .with_help("Get-CustomerKeyOnboardingRequest -OrganizationId <tenant id> lists them with their IDs"));
            }
            Ok(one)
        }
    }
}

/// The IDs of the recorded requests (for completion); none when the store cannot be read.
pub fn request_ids(store: &mut Store) -> Vec<String> {
    store
        .read(read_all)
        .map(|all| all.into_iter().map(|r| r.id).collect())
        .unwrap_or_default()
}

/// The subscriptions onboarded for `scenario` by successful `Enable` requests; empty when the
/// scenario was never onboarded through the onboarding service (the older flow).
pub fn onboarded_subscriptions(store: &mut Store, scenario: Scenario) -> Result<Vec<String>> {
    let all = store.read(read_all)?;
    let mut subs = Vec::new();
    for r in all
        .iter()
        .filter(|r| r.scenario == scenario.as_str() && r.enabled())
    {
        for s in [&r.subscription1, &r.subscription2] {
            if !subs.iter().any(|x: &String| x.eq_ignore_ascii_case(s)) {
                subs.push(s.clone());
            }
        }
    }
    Ok(subs)
}

/// The gate of a scenario's policy creation: once the scenario is onboarded through the
/// onboarding service, every Azure-style key of a new policy must be in a subscription onboarded
/// for it. `keys` are (key URI, subscription id); KMIP roots (no subscription) are not the
/// onboarding service's to check. A scenario never onboarded this way passes (the older flow).
pub fn require_onboarded(
    store: &mut Store,
    scenario: Scenario,
    keys: &[(&str, &str)],
) -> Result<()> {
    let subs = onboarded_subscriptions(store, scenario)?;
    if subs.is_empty() {
        return Ok(());
    }
    for (uri, sub) in keys {
        if sub.is_empty() || crate::vault::kmip::KmipUri::is_kmip_uri(uri) {
            continue;
        }
        if !subs.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
            return Err(Error::rule(format!(
                "the key {uri} is in subscription {sub}, which is not onboarded for the {} scenario (onboarded: {})",
                scenario.as_str(),
                subs.join(", ")
            ))
            .with_help(format!(
                "use keys of the onboarded subscriptions, or onboard this pair first: custkey New-CustomerKeyOnboardingRequest -Organization <tenant id> -Scenario {} -Subscription1 ... -KeyIdentifier1 ... -Subscription2 ... -KeyIdentifier2 ... -OnboardingMode Enable",
                scenario.as_str()
            )));
        }
    }
    Ok(())
}
