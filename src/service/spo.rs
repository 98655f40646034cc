//! SharePoint Online, OneDrive and Teams files: one geo DEP per geo, its tenant
//! intermediate key (TIK) and the time-limited TIK cache, registration (which re-wraps the
//! geo's existing site keys, resumably), key rolls (one at a time), recovery with the
//! service's RSA-2048 availability key, and per-site keys.
//!
//! ```text
//! primary key, secondary key (customer, RSA-OAEP-256 in the vaults) ─┐
//! availability key (RSA-2048, service-held, forest-level)            ─┴─> TIK (one per geo DEP)
//! TIK ──AES-256-GCM──> site key ──HKDF per chunk (random salt)──> chunk key ──> chunk
//! ```
//!
//! A geo without a registered DEP keeps its sites under a Microsoft-managed TIK sealed under
//! the service master key. The availability key is never used outside
//! `Restore-SPODataEncryptionPolicy`. Vault calls run as the SharePoint Online service
//! principal, outside store transactions.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::dep::{check_key_as, check_org, CheckedKey, Outcome};
use super::keys::wrap_kind;
use super::keys::{
    audit, damage_warning, key_uri_versionless, parse_guid, CopyFailure, ServiceKeys,
};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::{
    random_bytes, KeyRef, OaepAlg, RootKeyRef, RsaPrivateKey, SecretKey32, SiteBinding, SiteKey,
    TenantIntermediateKey, TierKey, TikBinding, WrappedKey,
};
use crate::store::{SiteRow, SpoDepRow, SpoRootWrapRow, Store, Tx};
use crate::vault::{Principal, VaultError, SHAREPOINT_ONLINE_APP_ID};

pub const STATE_UNREGISTERED: &str = "Unregistered";
pub const STATE_REGISTERING: &str = "Registering";
pub const STATE_REGISTERED: &str = "Registered";
pub const STATE_ROLLING: &str = "Rolling";

pub const KEY_TYPES: &[&str] = &["Primary", "Secondary", "Availability"];

/// Fault injection for tests: stop (as a kill would) after re-wrapping N site keys.
pub const FAULT_REGISTER_AFTER_SITES: &str = "CUSTKEY_FAULT_SPO_REGISTER_AFTER_SITES";
/// Fault injection for tests: stop (as a kill would) once a roll is marked Rolling.
pub const FAULT_ROLL: &str = "CUSTKEY_FAULT_SPO_ROLL";
/// Lifetime of a cached TIK, in seconds (default 24 hours).
pub const ENV_CACHE_SECONDS: &str = "CUSTKEY_SPO_TIK_CACHE_SECONDS";
/// How long before expiry a read re-decrypts the TIK through the vaults (default 2 hours).
pub const ENV_REFRESH_SECONDS: &str = "CUSTKEY_SPO_TIK_REFRESH_SECONDS";
/// Test hook: move the cache clock forward by this many seconds (never backward).
pub const ENV_CLOCK_OFFSET: &str = "CUSTKEY_SPO_CLOCK_OFFSET_SECONDS";

const DEFAULT_CACHE_SECONDS: i64 = 24 * 3600;
const DEFAULT_REFRESH_SECONDS: i64 = 2 * 3600;
const AVAILABILITY_SETTING: &str = "spo.availability-key";
const AVAILABILITY_AAD: &[u8] = b"custkey/spo-availability-key/v1";
const AVAILABILITY_REF: &str = "custkey:spo-availability-key";
/// Plaintext bytes per stored chunk (each chunk has its own key).
pub const CHUNK_BYTES: usize = 1 << 20;

/// `Get-SPODataEncryptionPolicy`: a geo's DEP.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SpoPolicy {
    #[serde(rename = "Geo")]
    pub geo: String,
    #[serde(rename = "PrimaryKeyVaultUri")]
    pub primary: Option<String>,
    #[serde(rename = "SecondaryKeyVaultUri")]
    pub secondary: Option<String>,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "PercentComplete")]
    pub percent: u32,
    #[serde(rename = "RollingKeyType")]
    pub rolling_key_type: Option<String>,
    #[serde(rename = "SitesTotal")]
    pub sites_total: u64,
    #[serde(rename = "SitesEncrypted")]
    pub sites_encrypted: u64,
    #[serde(rename = "Identity")]
    pub identity: Option<String>,
}

/// `Get-SPOSiteDataEncryptionPolicy`: the DEP that protects a site.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SitePolicy {
    #[serde(rename = "Url")]
    pub url: String,
    #[serde(rename = "Geo")]
    pub geo: String,
    #[serde(rename = "PrimaryKeyVaultUri")]
    pub primary: String,
    #[serde(rename = "SecondaryKeyVaultUri")]
    pub secondary: String,
    #[serde(rename = "State")]
    pub state: String,
}

/// A site as `New-PnPSite` returns it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Site {
    #[serde(rename = "Url")]
    pub url: String,
    #[serde(rename = "Title")]
    pub title: String,
    #[serde(rename = "Geo")]
    pub geo: String,
    #[serde(rename = "Encryption")]
    pub encryption: String,
    #[serde(rename = "WhenCreated")]
    pub when_created: String,
}

/// A file as `Add-PnPFile` and `Get-PnPFile` return it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SpoFile {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ServerRelativeUrl")]
    pub server_relative_url: String,
    #[serde(rename = "SiteUrl")]
    pub site_url: String,
    #[serde(rename = "Length")]
    pub length: u64,
    #[serde(rename = "Chunks")]
    pub chunks: u32,
    #[serde(rename = "TimeLastModified")]
    pub time_last_modified: String,
}

fn sharepoint() -> Result<Principal> {
    Ok(Principal::service_principal(SHAREPOINT_ONLINE_APP_ID)?)
}

/// The largest value of the cache knobs: ten years, in seconds.
pub const MAX_CACHE_SECONDS: i64 = 10 * 365 * 24 * 3600;
/// The largest clock offset: a hundred years, in seconds (any date it gives is representable).
pub const MAX_CLOCK_OFFSET_SECONDS: i64 = 100 * 365 * 24 * 3600;

/// A seconds knob from the environment: from 0 to `max`, else an error naming it.
fn env_secs(name: &str, default: i64, max: i64) -> Result<i64> {
    Ok(crate::input::env_int(name, 0, max, "seconds")?.unwrap_or(default))
}

/// The cache clock: now, moved forward by the test hook (never backward, so the hook can
/// only make a cached TIK expire sooner).
fn clock() -> Result<DateTime<Utc>> {
    Ok(Utc::now() + Duration::seconds(env_secs(ENV_CLOCK_OFFSET, 0, MAX_CLOCK_OFFSET_SECONDS)?))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `https://{vault}.vault.azure.net/keys/{name}/{version}`.
pub fn key_uri(vault: &str, name: &str, version: &str) -> String {
    key_uri_in(vault, false, name, version)
}

/// The same in a key vault or (`managed_hsm`, `-KeyVaultType ManagedHSM`) a Managed HSM:
/// `https://{hsm}.managedhsm.azure.net/keys/{name}/{version}`.
pub fn key_uri_in(container: &str, managed_hsm: bool, name: &str, version: &str) -> String {
    format!(
        "https://{}{}/keys/{}/{}",
        container.trim(),
        crate::vault::ids::dns_suffix(managed_hsm),
        name.trim(),
        version.trim().replace('-', "")
    )
}

/// The geo given, else the geo of the connected admin center (`Connect-SPOService`), else the
/// organization's DefaultGeo; checked against the known geos.
pub fn geo_or_default(store: &mut Store, geo: Option<&str>) -> Result<String> {
    match geo {
        Some(g) => {
            let g = g.trim().to_ascii_uppercase();
            if !super::org::GEOS.contains(&g.as_str()) {
                return Err(Error::invalid(format!("unknown geo '{g}'"))
                    .with_help(format!("use one of {}", super::org::GEOS.join(", "))));
            }
            Ok(g)
        }
        None => match super::connection::spo_geo(store)? {
            Some(g) => Ok(g),
            None => Ok(super::org::get(store)?.default_geo),
        },
    }
}

fn pack<T: crate::crypto::tier::Tier>(k: &TierKey<T>) -> zeroize::Zeroizing<Vec<u8>> {
    let mut v = zeroize::Zeroizing::new(Vec::with_capacity(52));
    v.extend_from_slice(k.to_secret().expose());
    v.extend_from_slice(&k.key_ref().to_bytes());
    v
}

fn unpack<T: crate::crypto::tier::Tier>(plain: &[u8]) -> Result<TierKey<T>> {
    if plain.len() != 52 {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "a sealed SharePoint key is malformed",
        )
        .with_help("the store was changed or damaged: restore it from a backup"));
    }
    Ok(TierKey::from_secret(
        SecretKey32::from_slice(&plain[..32])?,
        KeyRef::from_bytes(&plain[32..])?,
    ))
}

fn cache_aad(dep_guid: &str, expires_at: &str) -> Vec<u8> {
    format!("custkey/spo-tik-cache/v1|{dep_guid}|{expires_at}").into_bytes()
}

fn mmk_aad(guid: &str) -> Vec<u8> {
    format!("custkey/spo-mmk-tik/v1|{guid}").into_bytes()
}

/// The TIK sealed for the cache, expiring one lifetime from now.
fn seal_cache(
    keys: &ServiceKeys,
    dep_guid: &str,
    tik: &TenantIntermediateKey,
) -> Result<(Vec<u8>, String)> {
    let expires = stamp(
        clock()?
            + Duration::seconds(env_secs(
                ENV_CACHE_SECONDS,
                DEFAULT_CACHE_SECONDS,
                MAX_CACHE_SECONDS,
            )?),
    );
    let sealed = keys.seal_service(&cache_aad(dep_guid, &expires), &pack(tik))?;
    Ok((sealed, expires))
}

/// The forest-level RSA-2048 availability key, generated on first use and kept sealed under
/// the service master key.
fn availability_key(store: &mut Store, keys: &ServiceKeys) -> Result<RsaPrivateKey> {
    let found = store.read(|tx| -> Result<_> { Ok(tx.setting(AVAILABILITY_SETTING)?) })?;
    let hex_sealed = match found {
        Some(h) => h,
        None => {
            let key = RsaPrivateKey::generate(2048)?;
            let sealed = hex::encode(keys.seal_service(AVAILABILITY_AAD, &key.to_pkcs8_der())?);
            store.write(|tx| -> Result<String> {
                // Another process may have made it meanwhile: the first one stays.
                if let Some(h) = tx.setting(AVAILABILITY_SETTING)? {
                    return Ok(h);
                }
                tx.set_setting(AVAILABILITY_SETTING, &sealed)?;
                Ok(sealed)
            })?
        }
    };
    let sealed = hex::decode(hex_sealed.trim()).map_err(|_| {
        Error::new(
            ErrorKind::Unavailable,
            "the SharePoint availability key in the store is malformed",
        )
        .with_help("the store was changed or damaged: restore it from a backup")
    })?;
    let der = keys.open_service(AVAILABILITY_AAD, &sealed)?;
    Ok(RsaPrivateKey::from_pkcs8_der(&der)?)
}

fn availability_ref() -> Result<RootKeyRef> {
    Ok(RootKeyRef::new(AVAILABILITY_REF, "1")?)
}

/// Wraps the TIK under a customer key in its vault, as SharePoint; returns the versioned URI.
fn root_wrap(
    store: &mut Store,
    keys: &ServiceKeys,
    tik: &TenantIntermediateKey,
    binding: &TikBinding,
    uri: &str,
) -> Result<(String, Vec<u8>)> {
    let res = keys
        .vaults
        .wrap_root(&sharepoint()?, uri, tik.bytes_for_root_wrap());
    keys.check_vaults(store)?;
    let res = res?;
    let versionless = key_uri_versionless(uri);
    let root = RootKeyRef::new(versionless.clone(), res.version.clone())?;
    let wrapped = tik.wrap_from_root_alg(&root, res.alg, &res.value, binding)?;
    Ok((
        format!("{versionless}/{}", res.version),
        wrapped.into_bytes(),
    ))
}

/// The customer keys, in random order: the TIK from the first that unwraps it and matches the
/// DEP's key commitment, else every failure. Every copy is tried, so that a damaged or forged
/// one is warned about (through `keys`) rather than hidden by the other.
fn customer_unwrap(
    store: &mut Store,
    keys: &ServiceKeys,
    dep: &SpoDepRow,
    mut wraps: Vec<SpoRootWrapRow>,
) -> Result<std::result::Result<TenantIntermediateKey, Vec<(String, VaultError)>>> {
    let binding = TikBinding::new(parse_guid(&dep.guid)?);
    let sp = sharepoint()?;
    let mut r = [0u8; 1];
    random_bytes(&mut r);
    if !wraps.is_empty() {
        let n = wraps.len();
        wraps.rotate_left(usize::from(r[0]) % n);
    }
    let mut failures = Vec::new();
    let mut found = None;
    for w in &wraps {
        let mut damage = None;
        let attempt = WrappedKey::from_bytes(&w.wrapped)
            .map_err(|e| {
                damage = Some(format!("the wrapped copy in the store does not parse: {e}"));
                VaultError::Invalid(e.to_string())
            })
            .and_then(|wk| match (wk.root_ciphertext(), wk.root_alg()) {
                (Some(ct), Some(alg)) => {
                    let raw = keys.vaults.unwrap_root(&sp, &w.key_uri, alg, ct)?;
                    TenantIntermediateKey::from_root_unwrap(&wk, &binding, &raw).map_err(|e| {
                        damage = Some(format!(
                            "the wrapped copy in the store does not authenticate: {e}"
                        ));
                        VaultError::Invalid(e.to_string())
                    })
                }
                _ => {
                    damage = Some("the copy in the store is not a root-wrapped key".into());
                    Err(VaultError::Invalid("not a root-wrapped key".into()))
                }
            });
        // A vault file older than one already used must not serve the key.
        keys.check_vaults(store)?;
        match attempt {
            Ok(k) => match check_commitment(store, keys, dep, &k)? {
                Ok(()) => {
                    found.get_or_insert(k);
                }
                Err(e) => {
                    keys.warn(damage_warning(
                        &format!("the SharePoint DEP of geo {}", dep.geo),
                        &w.key_uri,
                        "it opens to a key that does not match the policy's key commitment: the store was altered",
                        "Get-SPODataEncryptionPolicy",
                        "Update-SPODataEncryptionPolicy -KeyType Primary|Secondary",
                    ));
                    failures.push((w.key_uri.clone(), e));
                }
            },
            Err(e) => {
                if let Some(why) = damage.or_else(|| CopyFailure::from(e.clone()).damage) {
                    keys.warn(damage_warning(
                        &format!("the SharePoint DEP of geo {}", dep.geo),
                        &w.key_uri,
                        &why,
                        "Get-SPODataEncryptionPolicy",
                        "Update-SPODataEncryptionPolicy -KeyType Primary|Secondary",
                    ));
                }
                failures.push((w.key_uri.clone(), e));
            }
        }
    }
    Ok(found.ok_or(failures))
}

/// The TIK through the service's RSA availability key (no check; callers check and audit).
fn by_availability(
    store: &mut Store,
    keys: &ServiceKeys,
    dep: &SpoDepRow,
) -> Result<TenantIntermediateKey> {
    let binding = TikBinding::new(parse_guid(&dep.guid)?);
    let avail = availability_key(store, keys)?;
    Ok(TenantIntermediateKey::unwrap_under_rsa(
        &WrappedKey::from_bytes(&dep.tik_by_availability)?,
        &binding,
        &avail,
    )?)
}

/// Checks an unwrapped TIK against the commitment recorded when the geo DEP was registered
/// (`Ok(Err(..))` on a mismatch). A DEP registered before commitments existed gets one from
/// the availability copy first (audited).
fn check_commitment(
    store: &mut Store,
    keys: &ServiceKeys,
    dep: &SpoDepRow,
    key: &TenantIntermediateKey,
) -> Result<std::result::Result<(), VaultError>> {
    let stored = store.read(|tx| -> Result<_> {
        Ok(tx.key_commitment(&dep.guid, crate::crypto::TierId::Tik as u8)?)
    })?;
    keys.verify_committed(store, &dep.guid, stored, key, |store| {
        let genuine = by_availability(store, keys, dep).map_err(|e| {
            Error::rule(format!(
                "the SharePoint DEP of geo {} has no key commitment, and the availability copy of its tenant intermediate key that would restore one cannot be used: {}",
                dep.geo,
                e.message()
            ))
            .with_help("nothing was released: without a commitment an unwrapped key cannot be told from a forged one; restore the store from a backup (and the service master key it was created with)")
        })?;
        let name = crate::vault::service_principal_display_name(SHAREPOINT_ONLINE_APP_ID)
            .unwrap_or(SHAREPOINT_ONLINE_APP_ID);
        Ok((genuine, format!("ServicePrincipal:{name}")))
    })
}

const FORGED_HELP: &str = "a copy of the tenant intermediate key in the store does not match the key the geo DEP was registered with: the store was altered, and nothing was released; restore the store from a backup, or recover with Restore-SPODataEncryptionPolicy and two new keys, which wraps the genuine key from the service's availability copy";

fn describe(failures: &[(String, VaultError)]) -> String {
    failures
        .iter()
        .map(|(k, e)| format!("{k} ({:?}: {})", e.class(), e.message()))
        .collect::<Vec<_>>()
        .join("; ")
}

const GRANT_HELP: &str = "grant wrapKey, unwrapKey and get to Office 365 SharePoint Online (00000003-0000-0ff1-ce00-000000000000) with Set-AzKeyVaultAccessPolicy on both vaults; if the keys are lost for good, recover with Restore-SPODataEncryptionPolicy and two new keys";

/// The TIK of a SharePoint DEP through its cache: a cached copy serves until it expires;
/// within the refresh window before expiry the TIK is re-decrypted through the vaults and,
/// on success, cached for another lifetime (on failure the cached copy still serves, with a
/// warning). Without a live cached copy the customer keys must unwrap it.
fn tik(
    store: &mut Store,
    keys: &ServiceKeys,
    dep: &SpoDepRow,
    warnings: &mut Vec<String>,
) -> Result<TenantIntermediateKey> {
    let now = clock()?;
    let cached = match (&dep.tik_cache, &dep.tik_cache_expires_at) {
        (Some(sealed), Some(exp)) => DateTime::parse_from_rfc3339(exp)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| now < *t)
            .map(|t| (sealed, exp, t)),
        _ => None,
    };
    let cached = match cached {
        Some((sealed, exp, t)) => {
            let opened = keys
                .open_service(&cache_aad(&dep.guid, exp), sealed)
                .and_then(|plain| unpack::<crate::crypto::tier::Tik>(&plain));
            match opened {
                Ok(key) => {
                    let refresh = Duration::seconds(env_secs(
                        ENV_REFRESH_SECONDS,
                        DEFAULT_REFRESH_SECONDS,
                        MAX_CACHE_SECONDS,
                    )?);
                    if now < t - refresh {
                        return Ok(key);
                    }
                    Some((key, exp))
                }
                Err(_) => {
                    // A damaged or altered cache entry is a miss: drop it, go to the vaults.
                    drop_cache(store, dep, sealed)?;
                    warnings.push(format!(
                        "the cached tenant intermediate key of geo {} was damaged and has been dropped; the key was decrypted through the vaults instead",
                        dep.geo
                    ));
                    None
                }
            }
        }
        None => None,
    };
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.spo_root_wraps(&dep.guid)?) })?;
    match customer_unwrap(store, keys, dep, wraps)? {
        Ok(key) => {
            let (sealed, expires) = seal_cache(keys, &dep.guid, &key)?;
            store.write(|tx| -> Result<()> {
                if let Some(mut d) = tx.spo_dep(&dep.geo)?.filter(|d| d.guid == dep.guid) {
                    d.tik_cache = Some(sealed);
                    d.tik_cache_expires_at = Some(expires);
                    tx.put_spo_dep(&d)?;
                }
                Ok(())
            })?;
            Ok(key)
        }
        Err(failures) => match cached {
            Some((key, exp)) => {
                warnings.push(format!(
                    "the customer keys of the SharePoint DEP of geo {} refused to refresh its tenant intermediate key ({}); the cached copy serves until {exp}, then reads fail",
                    dep.geo,
                    describe(&failures)
                ));
                Ok(key)
            }
            None => {
                let revoked = failures
                    .iter()
                    .any(|(_, e)| matches!(e, VaultError::AccessDenied(_)));
                let expired = dep
                    .tik_cache_expires_at
                    .as_deref()
                    .map(|e| format!(" (its cached copy expired at {e})"))
                    .unwrap_or_default();
                let msg = format!(
                    "the tenant intermediate key of geo {} cannot be decrypted{expired}: both customer keys refused: {}",
                    dep.geo,
                    describe(&failures)
                );
                let kind = if revoked {
                    ErrorKind::AccessDenied
                } else if failures.iter().all(|(_, e)| e.is_system_error()) {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Rule
                };
                let forged = failures
                    .iter()
                    .any(|(_, e)| super::keys::is_commitment_mismatch(e));
                Err(Error::new(kind, msg).with_help(if forged { FORGED_HELP } else { GRANT_HELP }))
            }
        },
    }
}

/// Drops a geo DEP's cached TIK if it is still `sealed` (another process may have replaced it).
fn drop_cache(store: &mut Store, dep: &SpoDepRow, sealed: &[u8]) -> Result<()> {
    store.write(|tx| -> Result<()> {
        if let Some(mut d) = tx
            .spo_dep(&dep.geo)?
            .filter(|d| d.guid == dep.guid && d.tik_cache.as_deref() == Some(sealed))
        {
            d.tik_cache = None;
            d.tik_cache_expires_at = None;
            tx.put_spo_dep(&d)?;
        }
        Ok(())
    })
}

/// The Microsoft-managed TIK of a geo, created on first use: (guid, key).
fn mmk_tik(
    store: &mut Store,
    keys: &ServiceKeys,
    geo: &str,
) -> Result<(String, TenantIntermediateKey)> {
    let found = store.read(|tx| -> Result<_> { Ok(tx.spo_mmk_tik(geo)?) })?;
    let (guid, sealed) = match found {
        Some(f) => f,
        None => {
            let guid = uuid::Uuid::new_v4();
            let key = TenantIntermediateKey::generate(KeyRef::new(guid, 1));
            let sealed = keys.seal_service(&mmk_aad(&guid.to_string()), &pack(&key))?;
            store.write(|tx| -> Result<()> {
                tx.insert_spo_mmk_tik(geo, &guid.to_string(), &sealed)?;
                Ok(())
            })?;
            store
                .read(|tx| -> Result<_> { Ok(tx.spo_mmk_tik(geo)?) })?
                .ok_or_else(|| {
                    Error::new(ErrorKind::Unavailable, "the Microsoft-managed TIK vanished")
                })?
        }
    };
    let key = unpack(&keys.open_service(&mmk_aad(&guid), &sealed)?)?;
    Ok((guid, key))
}

/// TIKs opened during one command, by the guid site keys record.
#[derive(Default)]
pub struct Tiks {
    open: HashMap<String, TenantIntermediateKey>,
    pub warnings: Vec<String>,
}

impl Tiks {
    /// The TIK a site's key is wrapped under (its geo's DEP, or the Microsoft-managed one).
    fn for_site(
        &mut self,
        store: &mut Store,
        keys: &ServiceKeys,
        site: &SiteRow,
    ) -> Result<&TenantIntermediateKey> {
        if !self.open.contains_key(&site.tik_guid) {
            let dep = store.read(|tx| -> Result<_> { Ok(tx.spo_dep(&site.geo)?) })?;
            let key = match dep.filter(|d| d.guid == site.tik_guid) {
                Some(d) => tik(store, keys, &d, &mut self.warnings)?,
                None => {
                    let (guid, key) = mmk_tik(store, keys, &site.geo)?;
                    if guid != site.tik_guid {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!("the key that wraps site {}'s key is missing", site.url),
                        )
                        .with_help("the store was changed or damaged: restore it from a backup"));
                    }
                    key
                }
            };
            self.open.insert(site.tik_guid.clone(), key);
        }
        self.open
            .get(&site.tik_guid)
            .ok_or_else(|| Error::new(ErrorKind::Unavailable, "a TIK vanished"))
    }

    /// A site's key.
    pub fn site_key(
        &mut self,
        store: &mut Store,
        keys: &ServiceKeys,
        site: &SiteRow,
    ) -> Result<SiteKey> {
        let binding = SiteBinding::new(parse_guid(&site.tik_guid)?, parse_guid(&site.guid)?);
        let wk = WrappedKey::from_bytes(&site.wrapped_key)?;
        let tik = self.for_site(store, keys, site)?;
        Ok(tik.unwrap_site_key(&wk, &binding)?)
    }
}

fn checked_pair(
    keys: &ServiceKeys,
    primary: &str,
    secondary: &str,
) -> Result<(CheckedKey, CheckedKey)> {
    let sp = sharepoint()?;
    let p = check_key_as(keys, &sp, "SharePoint Online", primary)?;
    let s = check_key_as(keys, &sp, "SharePoint Online", secondary)?;
    if p.vault == s.vault {
        return Err(Error::rule(format!(
            "the primary key {} and the secondary key {} are in the same key vault '{}'",
            p.uri, s.uri, p.vault
        ))
        .with_help(
            "put the two keys in two different vaults (ideally two subscriptions and regions)",
        ));
    }
    Ok((p, s))
}

/// Refuses while any geo's DEP registers or rolls: one key roll at a time in the tenant.
/// Only one key roll (or registration) of a geo's DEP may be in progress at a time: its primary
/// and secondary keys roll one after the other. Geos are independent of each other.
fn one_at_a_time(store: &mut Store, geo: &str) -> Result<()> {
    let dep = store.read(|tx| -> Result<_> { Ok(tx.spo_dep(geo)?) })?;
    if let Some(d) = dep.as_ref().filter(|d| d.state != STATE_REGISTERED) {
        let p = store.read(|tx| present(tx, &d.geo))?;
        let (what, again) = match d.roll_key_type.as_deref() {
            Some(kt) => (
                format!("the roll of the {kt} key"),
                format!(
                    "custkey Update-SPODataEncryptionPolicy -KeyType {kt} -KeyVaultUri {}",
                    d.roll_key_uri.as_deref().unwrap_or_default()
                ),
            ),
            None => (
                "the registration".to_string(),
                "custkey Register-SPODataEncryptionPolicy with the same keys".to_string(),
            ),
        };
        return Err(Error::rule(format!(
            "{what} of the SharePoint DEP of geo {} is in progress ({} {}%); only one key roll of a geo may be in progress at a time",
            d.geo, p.state, p.percent
        ))
        .with_help(format!("let it finish first: re-run {again}")));
    }
    Ok(())
}

/// The same rule inside the write transaction, for a roll another process started meanwhile.
fn busy_in(tx: &Tx, geo: &str) -> Result<()> {
    match tx.spo_dep(geo)?.filter(|d| d.state != STATE_REGISTERED) {
        Some(d) => Err(Error::rule(format!(
            "a key roll of the SharePoint DEP of geo {} started meanwhile ({}); only one key roll of a geo may be in progress at a time",
            d.geo, d.state
        ))
        .with_help("see Get-SPODataEncryptionPolicy, and try again once it shows Registered")),
        None => Ok(()),
    }
}

fn present(tx: &Tx, geo: &str) -> Result<SpoPolicy> {
    let Some(d) = tx.spo_dep(geo)? else {
        let (total, _) = tx.site_counts(geo, "")?;
        return Ok(SpoPolicy {
            geo: geo.into(),
            primary: None,
            secondary: None,
            state: STATE_UNREGISTERED.into(),
            percent: 0,
            rolling_key_type: None,
            sites_total: total,
            sites_encrypted: 0,
            identity: None,
        });
    };
    let wraps = tx.spo_root_wraps(&d.guid)?;
    let uri = |slot: u32| {
        wraps
            .iter()
            .find(|w| w.slot == slot)
            .map(|w| w.key_uri.clone())
    };
    let (total, under) = tx.site_counts(geo, &d.guid)?;
    let percent = match d.state.as_str() {
        STATE_REGISTERING => (under * 100).checked_div(total).unwrap_or(100) as u32,
        STATE_ROLLING => 0,
        _ => 100,
    };
    Ok(SpoPolicy {
        geo: d.geo.clone(),
        primary: uri(0),
        secondary: uri(1),
        state: d.state.clone(),
        percent,
        rolling_key_type: d.roll_key_type.clone(),
        sites_total: total,
        sites_encrypted: under,
        identity: Some(d.guid.clone()),
    })
}

/// `Get-SPODataEncryptionPolicy [-Geo]`.
pub fn get(store: &mut Store, geo: Option<&str>) -> Result<SpoPolicy> {
    let geo = geo_or_default(store, geo)?;
    store.read(|tx| present(tx, &geo))
}

/// `Register-SPODataEncryptionPolicy`: checks the gates, creates the geo's TIK wrapped by both
/// customer keys and the availability key, then re-wraps each existing site key of the geo
/// under it, one site per transaction. Re-running it with the same keys while it is
/// Registering continues where it stopped. `progress(done, total)` follows the sites.
pub fn register(
    store: &mut Store,
    keys: &mut ServiceKeys,
    geo: Option<&str>,
    primary: &str,
    secondary: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome<SpoPolicy>> {
    let org_id = check_org(store)?;
    let geo = geo_or_default(store, geo)?;
    let (p, s) = checked_pair(keys, primary, secondary)?;
    super::onboarding::require_onboarded(
        store,
        super::onboarding::Scenario::SharePointOneDriveTeams,
        &[
            (p.uri.as_str(), p.subscription.as_str()),
            (s.uri.as_str(), s.subscription.as_str()),
        ],
    )?;
    let mut warnings = Vec::new();
    let existing = store.read(|tx| -> Result<_> { Ok(tx.spo_dep(&geo)?) })?;
    let (dep, key) = match existing {
        Some(d) if d.state == STATE_REGISTERING => {
            let wraps = store.read(|tx| -> Result<_> { Ok(tx.spo_root_wraps(&d.guid)?) })?;
            let same = |slot: u32, uri: &str| {
                wraps.iter().any(|w| {
                    w.slot == slot && key_uri_versionless(&w.key_uri) == key_uri_versionless(uri)
                })
            };
            if !(same(0, &p.uri) && same(1, &s.uri)) {
                return Err(Error::rule(format!(
                    "the SharePoint DEP of geo {geo} is being registered with other keys"
                ))
                .with_help("re-run Register-SPODataEncryptionPolicy with the keys it was started with (Get-SPODataEncryptionPolicy shows them)"));
            }
            let key = tik(store, keys, &d, &mut warnings)?;
            (d, key)
        }
        Some(d) => {
            one_at_a_time(store, &geo)?;
            return Err(Error::rule(format!(
                "geo {geo} already has a registered SharePoint DEP (primary {})",
                store
                    .read(|tx| present(tx, &d.geo))?
                    .primary
                    .unwrap_or_default()
            ))
            .with_help("roll a key with Update-SPODataEncryptionPolicy -KeyType Primary|Secondary, or recover lost keys with Restore-SPODataEncryptionPolicy"));
        }
        None => {
            one_at_a_time(store, &geo)?;
            let guid = uuid::Uuid::new_v4();
            let binding = TikBinding::new(guid);
            let key = TenantIntermediateKey::generate(KeyRef::new(guid, 1));
            let mut wraps = Vec::new();
            for (slot, c) in [(0u32, &p), (1, &s)] {
                let (uri, wrapped) = root_wrap(store, keys, &key, &binding, &c.uri)?;
                wraps.push(SpoRootWrapRow {
                    dep_guid: guid.to_string(),
                    slot,
                    key_uri: uri,
                    wrapped,
                });
            }
            let avail = availability_key(store, keys)?;
            let by_avail = key
                .wrap_under_rsa(
                    &availability_ref()?,
                    &avail.public_key(),
                    OaepAlg::RsaOaep256,
                    &binding,
                )?
                .into_bytes();
            let (cache, expires) = seal_cache(keys, &guid.to_string(), &key)?;
            let t = now();
            let row = SpoDepRow {
                guid: guid.to_string(),
                geo: geo.clone(),
                state: STATE_REGISTERING.into(),
                tik_by_availability: by_avail,
                roll_key_type: None,
                roll_key_uri: None,
                tik_cache: Some(cache),
                tik_cache_expires_at: Some(expires),
                when_created: t.clone(),
                when_changed: t,
            };
            store.write(|tx| {
                if tx.spo_dep(&geo)?.is_some() {
                    return Err(Error::rule(format!(
                        "geo {geo} already has a SharePoint DEP"
                    ))
                    .with_help("another command registered it meanwhile: Get-SPODataEncryptionPolicy shows it"));
                }
                busy_in(tx, &geo)?;
                tx.put_spo_dep(&row)?;
                for w in &wraps {
                    tx.put_spo_root_wrap(w)?;
                    tx.set_root_wrap_kind(true, &w.dep_guid, w.slot, wrap_kind(&w.wrapped))?;
                }
                keys.record_commitment(tx, &row.guid, &key)?;
                audit(tx, &org_id, "SharePoint", "Register-SPODataEncryptionPolicy", "", &row.guid,
                    json!({"Geo": geo, "PrimaryKeyVaultUri": wraps[0].key_uri, "SecondaryKeyVaultUri": wraps[1].key_uri}))
            })?;
            (row, key)
        }
    };
    encrypt_sites(store, keys, &dep, &key, progress)?;
    let value = store.read(|tx| present(tx, &geo))?;
    Ok(Outcome { value, warnings })
}

/// Re-wraps every site key of the DEP's geo not yet under its TIK, one transaction per site,
/// then marks the DEP Registered.
fn encrypt_sites(
    store: &mut Store,
    keys: &ServiceKeys,
    dep: &SpoDepRow,
    key: &TenantIntermediateKey,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let fault = crate::input::env_int(FAULT_REGISTER_AFTER_SITES, 0, i64::MAX, "sites")?;
    let dep_uuid = parse_guid(&dep.guid)?;
    let mut tiks = Tiks::default();
    let mut done_now = 0u64;
    loop {
        let (next, (total, under)) = store.read(|tx| -> Result<_> {
            Ok((
                tx.site_not_under(&dep.geo, &dep.guid)?,
                tx.site_counts(&dep.geo, &dep.guid)?,
            ))
        })?;
        progress(under, total);
        let Some(site) = next else { break };
        if fault.is_some_and(|n| done_now >= n as u64) {
            // Test fault injection: stop as abruptly as a kill would.
            std::process::exit(137);
        }
        let sk = tiks.site_key(store, keys, &site)?;
        let wrapped = key
            .wrap_site_key(&sk, &SiteBinding::new(dep_uuid, parse_guid(&site.guid)?))?
            .into_bytes();
        store.write(|tx| -> Result<()> {
            // Re-wrap only what was read: another process may have done it meanwhile.
            if tx
                .site_by_url(&site.url)?
                .is_some_and(|s| s.tik_guid == site.tik_guid)
            {
                tx.rewrap_site_key(&site.guid, &dep.guid, &wrapped)?;
            }
            Ok(())
        })?;
        done_now += 1;
    }
    store.write(|tx| -> Result<()> {
        if let Some(mut d) = tx
            .spo_dep(&dep.geo)?
            .filter(|d| d.state == STATE_REGISTERING)
        {
            d.state = STATE_REGISTERED.into();
            d.when_changed = now();
            tx.put_spo_dep(&d)?;
        }
        Ok(())
    })
}

fn dep_of(store: &mut Store, geo: &str) -> Result<SpoDepRow> {
    store
        .read(|tx| -> Result<_> { Ok(tx.spo_dep(geo)?) })?
        .ok_or_else(|| {
            Error::not_found(format!("geo {geo} has no registered SharePoint data encryption policy"))
                .with_help("register one first: custkey Register-SPODataEncryptionPolicy -PrimaryKeyVaultName ... (see Get-Help Register-SPODataEncryptionPolicy)")
        })
}

/// `Update-SPODataEncryptionPolicy -KeyType Primary|Secondary`: a key roll. The DEP is marked
/// Rolling first; the TIK is then wrapped under the new key and the DEP is Registered again.
/// Re-running the same roll while it is Rolling completes it; any other roll or
/// registration is refused meanwhile.
pub fn update(
    store: &mut Store,
    keys: &mut ServiceKeys,
    geo: Option<&str>,
    key_type: &str,
    uri: &str,
) -> Result<Outcome<SpoPolicy>> {
    let org_id = check_org(store)?;
    let geo = geo_or_default(store, geo)?;
    let slot = match key_type.to_ascii_lowercase().as_str() {
        "primary" => 0u32,
        "secondary" => 1,
        _ => return Err(Error::rule("the SharePoint availability key can't be rolled or revoked: it is held by the service, shared at forest level, and used only for recovery")
            .with_help("roll a customer key with -KeyType Primary or -KeyType Secondary; purging a SharePoint DEP is not supported either (the route is deleting the tenant)")),
    };
    let key_type = if slot == 0 { "Primary" } else { "Secondary" };
    let mut dep = dep_of(store, &geo)?;
    let sp = sharepoint()?;
    let c = check_key_as(keys, &sp, "SharePoint Online", uri)?;
    super::onboarding::require_onboarded(
        store,
        super::onboarding::Scenario::SharePointOneDriveTeams,
        &[(c.uri.as_str(), c.subscription.as_str())],
    )?;
    let resuming = dep.state == STATE_ROLLING
        && dep.roll_key_type.as_deref() == Some(key_type)
        && dep
            .roll_key_uri
            .as_deref()
            .is_some_and(|u| key_uri_versionless(u) == key_uri_versionless(&c.uri));
    if !resuming {
        one_at_a_time(store, &geo)?;
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.spo_root_wraps(&dep.guid)?) })?;
        if let Some(other) = wraps.iter().find(|w| w.slot != slot) {
            // By URI on both sides (dep::holder_of): two keys of one KMIP server are in one
            // holder too.
            if super::dep::holder_of(&other.key_uri) == super::dep::holder_of(&c.uri) {
                return Err(Error::rule(format!(
                    "the new {key_type} key {} is in key vault '{}', which already holds the other key {}",
                    c.uri, c.vault, other.key_uri
                ))
                .with_help("keep the primary and secondary keys in two different vaults"));
            }
        }
        dep.state = STATE_ROLLING.into();
        dep.roll_key_type = Some(key_type.into());
        dep.roll_key_uri = Some(c.uri.clone());
        dep.when_changed = now();
        store.write(|tx| -> Result<()> {
            busy_in(tx, &geo)?;
            tx.put_spo_dep(&dep)?;
            Ok(())
        })?;
        if crate::input::switch_on(FAULT_ROLL) {
            // Test fault injection: stop as abruptly as a kill would.
            std::process::exit(137);
        }
    }
    let mut warnings = Vec::new();
    let key = tik(store, keys, &dep, &mut warnings)?;
    let binding = TikBinding::new(parse_guid(&dep.guid)?);
    let (new_uri, wrapped) = root_wrap(store, keys, &key, &binding, &c.uri)?;
    store.write(|tx| {
        let Some(mut d) = tx.spo_dep(&geo)?.filter(|d| d.guid == dep.guid) else {
            return Err(
                Error::rule(format!("the SharePoint DEP of geo {geo} changed meanwhile"))
                    .with_help("run the command again"),
            );
        };
        tx.put_spo_root_wrap(&SpoRootWrapRow {
            dep_guid: d.guid.clone(),
            slot,
            key_uri: new_uri.clone(),
            wrapped: wrapped.clone(),
        })?;
        tx.set_root_wrap_kind(true, &d.guid, slot, wrap_kind(&wrapped))?;
        d.state = STATE_REGISTERED.into();
        d.roll_key_type = None;
        d.roll_key_uri = None;
        d.when_changed = now();
        tx.put_spo_dep(&d)?;
        audit(
            tx,
            &org_id,
            "SharePoint",
            "Update-SPODataEncryptionPolicy",
            "",
            &d.guid,
            json!({"Geo": geo, "KeyType": key_type, "KeyVaultUri": new_uri}),
        )
    })?;
    let value = store.read(|tx| present(tx, &geo))?;
    Ok(Outcome { value, warnings })
}

/// `Restore-SPODataEncryptionPolicy`: recovery mode. Only when neither current customer key
/// can unwrap the TIK, the availability key recovers it and it is wrapped under two new keys.
pub fn restore(
    store: &mut Store,
    keys: &mut ServiceKeys,
    geo: Option<&str>,
    primary: &str,
    secondary: &str,
) -> Result<Outcome<SpoPolicy>> {
    let org_id = check_org(store)?;
    let geo = geo_or_default(store, geo)?;
    let dep = dep_of(store, &geo)?;
    let (p, s) = checked_pair(keys, primary, secondary)?;
    let wraps = store.read(|tx| -> Result<_> { Ok(tx.spo_root_wraps(&dep.guid)?) })?;
    let failures = match customer_unwrap(store, keys, &dep, wraps)? {
        Ok(_) => {
            return Err(Error::rule(format!(
                "the SharePoint DEP of geo {geo} is not in recovery mode: a current customer key still unwraps its tenant intermediate key"
            ))
            .with_help("replace a key with Update-SPODataEncryptionPolicy -KeyType Primary|Secondary; Restore is for when both keys are lost"))
        }
        Err(f) => f,
    };
    // Recovery is for keys that are lost or unreachable, not for keys the customer revoked:
    // restoring from the availability key would make the files readable again against the
    // customer's will.
    let refused: Vec<&(String, VaultError)> = failures
        .iter()
        .filter(|(_, e)| matches!(e, VaultError::AccessDenied(_) | VaultError::KeyDisabled(_)))
        .collect();
    if !refused.is_empty() {
        return Err(Error::new(
            ErrorKind::AccessDenied,
            format!(
                "the customer keys of the SharePoint DEP of geo {geo} refuse the service ({}): Restore-SPODataEncryptionPolicy recovers from lost keys, not revoked ones",
                describe(&failures)
            ),
        )
        .with_help(format!(
            "restore the service's access (Set-AzKeyVaultAccessPolicy -ServicePrincipalName {} -PermissionsToKeys wrapKey,unwrapKey,get on each vault, or enable the key); the keys then serve again without a restore",
            crate::vault::SHAREPOINT_ONLINE_APP_ID
        )));
    }
    let binding = TikBinding::new(parse_guid(&dep.guid)?);
    let key = by_availability(store, keys, &dep)?;
    if let Err(e) = check_commitment(store, keys, &dep, &key)? {
        return Err(Error::rule(format!(
            "the availability copy of the tenant intermediate key of geo {geo} failed its integrity check: {}",
            e.message()
        ))
        .with_help("the store was altered and nothing was released; restore the store from a backup (and the service master key it was created with)"));
    }
    let mut new_wraps = Vec::new();
    for (slot, c) in [(0u32, &p), (1, &s)] {
        let (uri, wrapped) = root_wrap(store, keys, &key, &binding, &c.uri)?;
        new_wraps.push(SpoRootWrapRow {
            dep_guid: dep.guid.clone(),
            slot,
            key_uri: uri,
            wrapped,
        });
    }
    let (cache, expires) = seal_cache(keys, &dep.guid, &key)?;
    store.write(|tx| {
        let Some(mut d) = tx.spo_dep(&geo)?.filter(|d| d.guid == dep.guid) else {
            return Err(Error::rule(format!("the SharePoint DEP of geo {geo} changed meanwhile"))
                .with_help("run the command again"));
        };
        for w in &new_wraps {
            tx.put_spo_root_wrap(w)?;
            tx.set_root_wrap_kind(true, &w.dep_guid, w.slot, wrap_kind(&w.wrapped))?;
        }
        if d.state == STATE_ROLLING {
            d.state = STATE_REGISTERED.into();
        }
        d.roll_key_type = None;
        d.roll_key_uri = None;
        d.tik_cache = Some(cache.clone());
        d.tik_cache_expires_at = Some(expires.clone());
        d.when_changed = now();
        tx.put_spo_dep(&d)?;
        audit(tx, &org_id, "SharePoint", "Restore-SPODataEncryptionPolicy", "", &d.guid,
            json!({"Geo": geo, "AvailabilityKeyUsed": true, "PrimaryKeyVaultUri": new_wraps[0].key_uri,
                   "SecondaryKeyVaultUri": new_wraps[1].key_uri, "Failures": describe(&failures)}))
    })?;
    // A registration cut short continues under the recovered TIK.
    let dep = dep_of(store, &geo)?;
    if dep.state == STATE_REGISTERING {
        encrypt_sites(store, keys, &dep, &key, &mut |_, _| {})?;
    }
    let value = store.read(|tx| present(tx, &geo))?;
    Ok(Outcome {
        value,
        warnings: Vec::new(),
    })
}

/// Checks and normalises a site URL: `https://host/path`, no trailing slash.
pub fn normalize_url(url: &str) -> Result<String> {
    let u = url.trim().trim_end_matches('/');
    let ok = u
        .strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(host, path)| {
            !host.is_empty()
                && !path.is_empty()
                && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if !ok {
        return Err(Error::invalid(format!("'{url}' is not a site URL"))
            .with_help("give https://<tenant>.sharepoint.com/sites/<name>"));
    }
    Ok(u.to_string())
}

/// The default URL of a new site: `https://<tenant>.sharepoint.com/sites/<alias>`.
pub fn default_site_url(store: &mut Store, alias: &str) -> Result<String> {
    let org = super::org::get(store)?;
    let tenant = org.name.split('.').next().unwrap_or("contoso").to_string();
    let alias: String = alias
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if alias.is_empty() {
        return Err(Error::invalid("a site needs a URL or an alias")
            .with_help("give -Url https://<tenant>.sharepoint.com/sites/<name> or -Alias <name>"));
    }
    Ok(format!("https://{tenant}.sharepoint.com/sites/{alias}"))
}

fn site_of(tx: &Tx, url: &str) -> Result<SiteRow> {
    tx.site_by_url(url)?.ok_or_else(|| {
        Error::not_found(format!("the site '{url}' doesn't exist"))
            .with_help("create it with New-PnPSite; site URLs complete with Tab")
    })
}

fn site_state(site: &SiteRow, dep: Option<&SpoDepRow>) -> String {
    match dep {
        Some(d) if d.guid == site.tik_guid && d.state == STATE_ROLLING => STATE_ROLLING.into(),
        Some(d) if d.guid == site.tik_guid => STATE_REGISTERED.into(),
        Some(_) => STATE_REGISTERING.into(),
        None => STATE_UNREGISTERED.into(),
    }
}

fn present_site(tx: &Tx, site: &SiteRow) -> Result<Site> {
    let dep = tx.spo_dep(&site.geo)?;
    let encryption = match dep.as_ref().filter(|d| d.guid == site.tik_guid) {
        Some(_) => "CustomerKey",
        None => "MicrosoftManaged",
    };
    Ok(Site {
        url: site.url.clone(),
        title: site.title.clone(),
        geo: site.geo.clone(),
        encryption: encryption.into(),
        when_created: site.when_created.clone(),
    })
}

/// `New-PnPSite`: a site in `geo` (the DefaultGeo unless given) with its own site key, wrapped
/// by the geo's DEP TIK when one is registered, else by the geo's Microsoft-managed TIK.
pub fn new_site(
    store: &mut Store,
    keys: &ServiceKeys,
    url: &str,
    title: &str,
    geo: Option<&str>,
) -> Result<Outcome<Site>> {
    let url = normalize_url(url)?;
    let geo = geo_or_default(store, geo)?;
    if store
        .read(|tx| -> Result<_> { Ok(tx.site_by_url(&url)?) })?
        .is_some()
    {
        return Err(Error::rule(format!("the site '{url}' already exists"))
            .with_help("choose another -Url or -Alias"));
    }
    let mut warnings = Vec::new();
    let dep = store.read(|tx| -> Result<_> { Ok(tx.spo_dep(&geo)?) })?;
    let (tik_guid, key) = match dep {
        Some(d) => {
            let k = tik(store, keys, &d, &mut warnings)?;
            (d.guid, k)
        }
        None => mmk_tik(store, keys, &geo)?,
    };
    let guid = uuid::Uuid::new_v4();
    let sk = SiteKey::generate(KeyRef::new(guid, 1));
    let wrapped = key
        .wrap_site_key(&sk, &SiteBinding::new(parse_guid(&tik_guid)?, guid))?
        .into_bytes();
    let row = SiteRow {
        guid: guid.to_string(),
        url: url.clone(),
        title: if title.trim().is_empty() {
            url.rsplit('/').next().unwrap_or_default().to_string()
        } else {
            title.trim().to_string()
        },
        geo,
        tik_guid,
        wrapped_key: wrapped,
        when_created: now(),
    };
    let value = store.write(|tx| {
        if !tx.insert_site(&row)? {
            return Err(Error::rule(format!("the site '{url}' already exists"))
                .with_help("choose another -Alias or -Url"));
        }
        present_site(tx, &row)
    })?;
    Ok(Outcome { value, warnings })
}

/// Every site (`Get-PnPTenantSite`).
pub fn sites(store: &mut Store) -> Result<Vec<Site>> {
    store.read(|tx| tx.sites()?.iter().map(|s| present_site(tx, s)).collect())
}

/// Site URLs, for completion.
pub fn site_urls(store: &mut Store) -> Vec<String> {
    store
        .read(|tx| -> Result<_> { Ok(tx.sites()?) })
        .map(|v| v.into_iter().map(|s| s.url).collect())
        .unwrap_or_default()
}

/// `Get-SPOSiteDataEncryptionPolicy -Identity <url>`: an error when the site's geo has no
/// registered Customer Key.
pub fn site_policy(store: &mut Store, url: &str) -> Result<SitePolicy> {
    let url = normalize_url(url)?;
    store.read(|tx| {
        let site = site_of(tx, &url)?;
        let Some(dep) = tx.spo_dep(&site.geo)? else {
            return Err(Error::rule(format!(
                "the tenant has no Customer Key for geo {}: site '{url}' is encrypted with Microsoft-managed keys",
                site.geo
            ))
            .with_help("register a data encryption policy for the geo: custkey Register-SPODataEncryptionPolicy ..."));
        };
        let wraps = tx.spo_root_wraps(&dep.guid)?;
        let uri = |slot: u32| {
            wraps
                .iter()
                .find(|w| w.slot == slot)
                .map(|w| w.key_uri.clone())
                .unwrap_or_default()
        };
        Ok(SitePolicy {
            url: site.url.clone(),
            geo: site.geo.clone(),
            primary: uri(0),
            secondary: uri(1),
            state: site_state(&site, Some(&dep)),
        })
    })
}

/// Roll every SharePoint geo policy whose primary or secondary key is `vault`/`key` at a
/// version other than `current` onto the key's current version (`Update-SPODataEncryptionPolicy`
/// with the versionless key URI, one geo at a time, under the one-roll-at-a-time rule). Returns
/// the geos rolled. Used by due key rotations (docs/lifecycle.md).
pub fn roll_geos_behind(
    store: &mut Store,
    keys: &mut ServiceKeys,
    vault: &str,
    key: &str,
    current: &str,
) -> Result<Vec<String>> {
    let deps = store.read(|tx| -> Result<_> { Ok(tx.spo_deps()?) })?;
    let mut rolled = Vec::new();
    for d in deps {
        let wraps = store.read(|tx| -> Result<_> { Ok(tx.spo_root_wraps(&d.guid)?) })?;
        for w in wraps {
            let Ok(id) = crate::vault::KeyId::parse(&w.key_uri) else {
                continue;
            };
            let ours = super::rotation::is_key(&w.key_uri, vault, key);
            let behind = id
                .version
                .as_deref()
                .is_some_and(|v| !v.eq_ignore_ascii_case(current));
            if !ours || !behind {
                continue;
            }
            let key_type = if w.slot == 0 { "Primary" } else { "Secondary" };
            let uri = id.versionless().to_string();
            update(store, keys, Some(&d.geo), key_type, &uri)?;
            rolled.push(d.geo.clone());
        }
    }
    Ok(rolled)
}
