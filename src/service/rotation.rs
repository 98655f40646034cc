//! Due key rotations (`Invoke-CustomerKeyRotation`): which keys' rotation policies have a due
//! Rotate action, and the data encryption policies to refresh once a key has a new version.

use serde::Serialize;

use super::azure::AzureSession;
use super::dep::{self, DepKind, PolicyChanges};
use super::keys::ServiceKeys;
use super::Result;
use crate::store::Store;
use crate::vault::{KeyRotationPolicy, KeyVaultKey, RotationPolicy};

/// One key with a rotation policy, as `Invoke-CustomerKeyRotation` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RotationItem {
    pub vault_name: String,
    pub key_name: String,
    /// The version current before this run.
    pub version: String,
    /// Whether the policy's Rotate action was due.
    pub due: bool,
    /// Whether the policy's Notify action is due: the current version expires within its
    /// TimeBeforeExpiry (Azure's near-expiry event; here a warning and this column).
    pub notify_due: bool,
    /// When the current version expires.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether this run made a new version (false with -WhatIf, when not due, or when another
    /// process rotated it first).
    pub rotated: bool,
    /// The new version.
    pub new_version: Option<String>,
    /// The DEPs refreshed onto the new version (`Mailbox:Name`, `M365:Name`,
    /// `SharePoint:<geo>`).
    pub refreshed_policies: Vec<String>,
}

/// Whether `policy`'s Rotate action is due for the key's current version `key`, by the clock
/// the vault uses for the same decision.
pub fn is_due(policy: &KeyRotationPolicy, key: &KeyVaultKey) -> Result<bool> {
    Ok(due(policy, key)?.0)
}

/// (Rotate due, Notify due) for the key's current version, by the vault's rotation clock.
fn due(policy: &KeyRotationPolicy, key: &KeyVaultKey) -> Result<(bool, bool)> {
    let (Some(created_on), Some(updated_on)) = (policy.created_on, policy.updated_on) else {
        return Ok((false, false));
    };
    let p = RotationPolicy {
        expires_in: policy.expires_in.clone(),
        lifetime_actions: policy.lifetime_actions.clone(),
        created_on,
        updated_on,
    };
    let now = crate::vault::rotation::now();
    Ok((
        p.rotation_due(key.created, key.expires, now)?,
        p.notify_due(key.created, key.expires, now)?,
    ))
}

/// Whether `ids` (a policy's AzureKeyIDs) name `vault`/`key`, with or without a version.
pub(crate) fn uses_key(ids: &[String], vault: &str, key: &str) -> bool {
    ids.iter().any(|id| is_key(id, vault, key))
}

/// Whether the key id `id` names `vault`/`key` (any version); ids that do not parse do not.
pub(crate) fn is_key(id: &str, vault: &str, key: &str) -> bool {
    crate::vault::KeyId::parse(id)
        .is_ok_and(|k| k.vault.eq_ignore_ascii_case(vault) && k.name.eq_ignore_ascii_case(key))
}

/// Whether a policy's KeyVersionIDs hold `version` (version ids are 128 random bits: one
/// names one version of one key).
fn has_version(ids: &[String], version: &str) -> bool {
    ids.iter().any(|v| v.eq_ignore_ascii_case(version))
}

/// Refresh every mailbox and multi-workload DEP that names `vault`/`key` (not purged) and does
/// not yet use its `current` version, so its KeyVersionIDs show it, and roll every SharePoint
/// geo policy whose primary or secondary key it is onto that version. Returns `Kind:Name` of
/// each one (`Mailbox:`, `M365:`, `SharePoint:<geo>`).
///
/// Deciding by the versions the policies show, not by whether this run made the version, is
/// what makes a due rotation safe to repeat: a run killed between the new version and the
/// refresh, or one that lost the race to make the version, leaves policies that the next run
/// (or the racing one) still finds behind and refreshes.
pub fn refresh_policies_using(
    store: &mut Store,
    keys: &mut ServiceKeys,
    vault: &str,
    key: &str,
    current: &str,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for kind in [DepKind::Mailbox, DepKind::M365] {
        for d in dep::list(store, kind)? {
            if d.state == dep::STATE_PURGED
                || !uses_key(&d.azure_key_ids, vault, key)
                || has_version(&d.key_version_ids, current)
            {
                continue;
            }
            let ch = PolicyChanges {
                refresh: true,
                ..PolicyChanges::default()
            };
            dep::set(store, keys, kind, &d.name, &ch)?;
            out.push(format!("{}:{}", kind.as_str(), d.name));
        }
    }
    for geo in super::spo::roll_geos_behind(store, keys, vault, key, current)? {
        out.push(format!("SharePoint:{geo}"));
    }
    Ok(out)
}

/// The keys with a rotation policy in every vault `az`'s account can read, each with whether
/// its Rotate action is due now (nothing is changed).
pub fn plan(az: &mut AzureSession<'_>) -> Result<Vec<RotationItem>> {
    let mut items = Vec::new();
    for v in az.vaults()? {
        for k in az.keys(&v.vault_name)? {
            let policy = az.rotation_policy(&v.vault_name, &k.name)?;
            if policy.created_on.is_none() {
                continue;
            }
            let (rotate, notify) = due(&policy, &k)?;
            items.push(RotationItem {
                vault_name: v.vault_name.clone(),
                key_name: k.name.clone(),
                version: k.version.clone(),
                due: rotate,
                notify_due: notify,
                expires: k.expires,
                rotated: false,
                new_version: None,
                refreshed_policies: Vec::new(),
            });
        }
    }
    Ok(items)
}

/// Carries out `item`: if it was due, rotates the key (due is decided again under the vault's
/// lock, so a racing run makes the one new version), and returns the key's current version
/// now, whoever made it.
pub fn rotate_if_due(az: &mut AzureSession<'_>, item: &mut RotationItem) -> Result<String> {
    if item.due {
        if let Some(new) = az.rotate_key(&item.vault_name, &item.key_name, true)? {
            item.rotated = true;
            item.new_version = Some(new.version);
        }
    }
    Ok(az.key(&item.vault_name, &item.key_name, None)?.version)
}

/// What a run says about itself (warnings): each key whose Notify action is due, and whether
/// rotations were due and made.
pub fn summary(items: &[RotationItem]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .filter(|i| i.notify_due && !i.rotated)
        .map(|i| {
            let when = i
                .expires
                .map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "soon".into());
            format!(
                "key {}/{} (version {}) expires {when}: its rotation policy's Notify action is due",
                i.vault_name, i.key_name, i.version
            )
        })
        .collect();
    let rotated = items.iter().filter(|i| i.rotated).count();
    let due = items.iter().filter(|i| i.due).count();
    let refreshed: usize = items.iter().map(|i| i.refreshed_policies.len()).sum();
    if due == 0 && refreshed == 0 {
        out.push("no key rotation is due".into());
    } else if due == 0 {
        out.push(format!(
            "no key rotation is due; {refreshed} policy refresh(es) caught up with a newer key version"
        ));
    } else if rotated == 0 {
        out.push(format!("{due} key rotation(s) due; none made by this run"));
    }
    out
}
