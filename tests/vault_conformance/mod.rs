//! The vault conformance suite: the behaviour every `KeyVault` backend must show.
//!
//! A backend's test file implements [`Harness`] and expands
//! `vault_conformance_tests!(|| MyHarness::new())`, which makes one `#[test]` per check (or
//! calls [`run_all`]). The checks use only the `KeyVault` trait, plus the harness to make
//! vaults and to cut a vault off (a system error). Access policies are set through the trait, so
//! a harness needs no backend-specific permission setup.
#![allow(dead_code)]

pub mod roots;

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use custkey::crypto::OaepAlg;
use custkey::vault::{
    AuditQuery, Caller, ErrorClass, KeyDestination, KeyId, KeyOperation, KeyPermission, KeyUpdate,
    KeyVault, NewKeyRequest, Principal, RecoveryLevel, VaultError, VaultOperation,
    EXCHANGE_ONLINE_APP_ID,
};

/// Which subscription a test vault lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// A plain subscription.
    A,
    /// Another plain subscription.
    B,
    /// A subscription with mandatoryRetentionPeriodEnabled registered.
    Protected,
}

/// How to make a test vault.
#[derive(Debug, Clone, Copy)]
pub struct VaultSpec {
    /// Subscription.
    pub subscription: Sub,
    /// `-EnablePurgeProtection`.
    pub purge_protection: bool,
    /// `-SoftDeleteRetentionInDays`.
    pub retention_days: u32,
    /// `-Sku Premium` (HSM-protected keys need it).
    pub premium: bool,
}

impl Default for VaultSpec {
    fn default() -> Self {
        VaultSpec {
            subscription: Sub::A,
            purge_protection: false,
            retention_days: 90,
            premium: false,
        }
    }
}

/// What a backend provides to the suite.
pub trait Harness {
    /// A new empty vault with a fresh name, made as `spec` says.
    fn new_vault(&self, spec: &VaultSpec) -> Box<dyn KeyVault>;
    /// Make the vault unreachable, as a system failure would (directory gone, module missing).
    fn break_vault(&self, vault: &dyn KeyVault);
    /// Undo [`Harness::break_vault`].
    fn repair_vault(&self, vault: &dyn KeyVault);
    /// The OAEP variant the backend supports.
    fn algorithm(&self) -> OaepAlg {
        OaepAlg::RsaOaep256
    }
}

/// The key administrator the suite acts as.
pub fn admin() -> Caller {
    Principal::user("kv-admin@contoso.example").expect("valid upn")
}

/// The Exchange Online service principal.
pub fn exchange() -> Caller {
    Principal::service_principal(EXCHANGE_ONLINE_APP_ID).expect("valid app id")
}

/// A vault with the suite's admin holding every key permission.
pub fn vault_with_admin(h: &dyn Harness, spec: &VaultSpec) -> Box<dyn KeyVault> {
    let v = h.new_vault(spec);
    v.set_access_policy(&admin(), &admin(), &KeyPermission::ALL)
        .expect("grant admin");
    v
}

fn assert_class<T: std::fmt::Debug>(
    r: Result<T, VaultError>,
    class: ErrorClass,
    what: &str,
) -> VaultError {
    match r {
        Ok(v) => panic!("{what}: expected {class}, got success {v:?}"),
        Err(e) => {
            assert_eq!(e.class(), class, "{what}: wrong class for error: {e}");
            assert!(!e.message().is_empty(), "{what}: empty message");
            e
        }
    }
}

fn dep_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    custkey::crypto::random_bytes(&mut k);
    k
}

/// Versions: create, roll, list, get by version; ids in Azure's form; key type and size.
pub fn check_versions(h: &dyn Harness) {
    let premium = VaultSpec {
        premium: true,
        ..Default::default()
    };
    let v = vault_with_admin(h, &premium);
    let mut req = NewKeyRequest::new("ck-root");
    req.key_ops = Some(vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]);
    req.tags.insert("purpose".into(), "exchange".into());
    let k1 = v.create_key(&admin(), &req).expect("create");
    assert_eq!(k1.name, "ck-root");
    assert_eq!(k1.version.len(), 32);
    assert!(custkey::vault::validate_version(&k1.version).is_ok());
    let id = KeyId::parse(&k1.id).expect("id parses");
    assert_eq!(id.vault, v.vault_name().to_ascii_lowercase());
    assert_eq!(id.name, "ck-root");
    assert_eq!(id.version.as_deref(), Some(k1.version.as_str()));
    assert_eq!(k1.key_type, "RSA");
    assert_eq!(k1.key_size, 2048);
    assert!(k1.enabled);
    assert_eq!(
        k1.key_ops,
        vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]
    );
    assert_eq!(k1.tags.get("purpose").map(String::as_str), Some("exchange"));
    assert_eq!(k1.key.e, "AQAB");
    assert_eq!(k1.key.kid, k1.id);
    assert_eq!(k1.recovery_level, RecoveryLevel::RecoverablePurgeable);

    // The same name again is a roll: a new version, the old one kept.
    let k2 = v.create_key(&admin(), &req).expect("roll");
    assert_ne!(k1.version, k2.version);
    let versions = v.list_key_versions(&admin(), "ck-root").expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|k| k.version.clone())
            .collect::<Vec<_>>(),
        vec![k1.version.clone(), k2.version.clone()]
    );
    assert_eq!(
        v.get_key(&admin(), "ck-root", None)
            .expect("latest")
            .version,
        k2.version
    );
    let old = v
        .get_key(&admin(), "ck-root", Some(&k1.version))
        .expect("old");
    assert_eq!(old.key.n, k1.key.n);
    assert_ne!(old.key.n, k2.key.n);
    // Key names are case-insensitive, as in Azure.
    assert_eq!(
        v.get_key(&admin(), "CK-ROOT", None).expect("case").version,
        k2.version
    );

    let mut hsm = NewKeyRequest::new("hsm-key");
    hsm.destination = KeyDestination::Hsm;
    let kh = v.create_key(&admin(), &hsm).expect("hsm key");
    assert_eq!(kh.key_type, "RSA-HSM");
    assert_eq!(kh.key_ops, KeyOperation::RSA_DEFAULT.to_vec());

    let listed = v.list_keys(&admin()).expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "ck-root", "listed by name");
    assert_eq!(listed[1].name, "hsm-key");
    let root = listed.iter().find(|k| k.name == "ck-root").expect("listed");
    assert_eq!(root.version, k2.version, "list shows the latest version");
}

/// A 3072-bit key (the size the guides use for production) works end to end.
pub fn check_key_size_3072(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let mut req = NewKeyRequest::new("big");
    req.size = 3072;
    let k = v.create_key(&admin(), &req).expect("create 3072");
    assert_eq!(k.key_size, 3072);
    let dek = dep_key();
    let w = v
        .wrap_key(&admin(), "big", None, h.algorithm(), &dek)
        .expect("wrap");
    assert_eq!(w.value.len(), 384);
    let back = v
        .unwrap_key(&admin(), "big", Some(&w.version), h.algorithm(), &w.value)
        .expect("unwrap");
    assert_eq!(back.as_slice(), dek);
}

/// Wrap and unwrap round trip, with named versions, across a roll.
pub fn check_wrap_unwrap(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let k1 = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let dek = dep_key();
    let w1 = v.wrap_key(&admin(), "k", None, alg, &dek).expect("wrap");
    assert_eq!(w1.version, k1.version);
    assert_eq!(w1.kid, k1.id);
    assert_eq!(w1.algorithm, alg);
    assert_ne!(w1.value.as_slice(), dek.as_slice());
    let back = v
        .unwrap_key(&admin(), "k", Some(&w1.version), alg, &w1.value)
        .expect("unwrap");
    assert_eq!(back.as_slice(), dek);

    // A wrap made with the public key outside the vault opens inside it.
    let public = k1.public_key().expect("public key");
    let outside = public.oaep_wrap(alg, &dek).expect("outside wrap");
    let back = v
        .unwrap_key(&admin(), "k", Some(&k1.version), alg, &outside)
        .expect("unwrap outside");
    assert_eq!(back.as_slice(), dek);

    // Roll: the old version still unwraps what it wrapped; the new one does not.
    let k2 = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("roll");
    let back = v
        .unwrap_key(&admin(), "k", Some(&k1.version), alg, &w1.value)
        .expect("old version");
    assert_eq!(back.as_slice(), dek);
    assert_class(
        v.unwrap_key(&admin(), "k", Some(&k2.version), alg, &w1.value),
        ErrorClass::Invalid,
        "unwrap with the wrong version",
    );
    let w2 = v
        .wrap_key(&admin(), "k", None, alg, &dek)
        .expect("wrap latest");
    assert_eq!(w2.version, k2.version);
    let w_old = v
        .wrap_key(&admin(), "k", Some(&k1.version), alg, &dek)
        .expect("wrap named old");
    assert_eq!(w_old.version, k1.version);
    // Garbage does not unwrap.
    assert_class(
        v.unwrap_key(&admin(), "k", None, alg, &[0u8; 256]),
        ErrorClass::Invalid,
        "unwrap garbage",
    );
}

/// Disabled keys refuse wrap and unwrap (KeyDisabled) but can still be read and re-enabled.
pub fn check_disabled(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let w = v
        .wrap_key(&admin(), "k", None, alg, &dep_key())
        .expect("wrap");
    let off = v
        .update_key(
            &admin(),
            "k",
            None,
            &KeyUpdate {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .expect("disable");
    assert!(!off.enabled);
    assert_class(
        v.wrap_key(&admin(), "k", None, alg, &dep_key()),
        ErrorClass::KeyDisabled,
        "wrap disabled",
    );
    assert_class(
        v.unwrap_key(&admin(), "k", Some(&w.version), alg, &w.value),
        ErrorClass::KeyDisabled,
        "unwrap disabled",
    );
    assert!(
        !v.get_key(&admin(), "k", None)
            .expect("get disabled")
            .enabled
    );
    v.update_key(
        &admin(),
        "k",
        None,
        &KeyUpdate {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .expect("enable");
    v.unwrap_key(&admin(), "k", Some(&w.version), alg, &w.value)
        .expect("unwrap re-enabled");
    // Disabling an old version leaves the latest usable.
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("roll");
    v.update_key(
        &admin(),
        "k",
        Some(&w.version),
        &KeyUpdate {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .expect("disable old");
    assert_class(
        v.unwrap_key(&admin(), "k", Some(&w.version), alg, &w.value),
        ErrorClass::KeyDisabled,
        "old version disabled",
    );
    v.wrap_key(&admin(), "k", None, alg, &dep_key())
        .expect("latest still works");
}

/// Expired keys and keys not yet valid are refused (KeyExpired); an impossible window is Invalid.
pub fn check_expired(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let mut req = NewKeyRequest::new("k");
    req.expires = Some(Utc::now() + Duration::days(365));
    let k = v.create_key(&admin(), &req).expect("create");
    assert!(k.expires.is_some());
    let w = v
        .wrap_key(&admin(), "k", None, alg, &dep_key())
        .expect("wrap while valid");
    v.update_key(
        &admin(),
        "k",
        None,
        &KeyUpdate {
            expires: Some(Utc::now() - Duration::minutes(1)),
            ..Default::default()
        },
    )
    .expect("expire");
    assert_class(
        v.wrap_key(&admin(), "k", None, alg, &dep_key()),
        ErrorClass::KeyExpired,
        "wrap expired",
    );
    assert_class(
        v.unwrap_key(&admin(), "k", Some(&w.version), alg, &w.value),
        ErrorClass::KeyExpired,
        "unwrap expired",
    );
    // 12/31/9999, the only expiry Customer Key accepts, makes it usable again.
    let far = chrono::DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .expect("date")
        .with_timezone(&Utc);
    let k = v
        .update_key(
            &admin(),
            "k",
            None,
            &KeyUpdate {
                expires: Some(far),
                ..Default::default()
            },
        )
        .expect("extend");
    assert_eq!(k.expires, Some(far));
    v.unwrap_key(&admin(), "k", Some(&w.version), alg, &w.value)
        .expect("unwrap after extension");

    let mut later = NewKeyRequest::new("later");
    later.not_before = Some(Utc::now() + Duration::hours(1));
    v.create_key(&admin(), &later)
        .expect("create not-yet-valid");
    assert_class(
        v.wrap_key(&admin(), "later", None, alg, &dep_key()),
        ErrorClass::KeyExpired,
        "not yet valid",
    );

    let mut bad = NewKeyRequest::new("bad-window");
    bad.not_before = Some(Utc::now() + Duration::days(2));
    bad.expires = Some(Utc::now() + Duration::days(1));
    assert_class(
        v.create_key(&admin(), &bad),
        ErrorClass::Invalid,
        "expires before not-before",
    );
}

/// KeyOps are enforced: a key without unwrapKey refuses unwrap.
pub fn check_key_ops(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let mut req = NewKeyRequest::new("wrap-only");
    req.key_ops = Some(vec![KeyOperation::WrapKey]);
    v.create_key(&admin(), &req).expect("create");
    let w = v
        .wrap_key(&admin(), "wrap-only", None, alg, &dep_key())
        .expect("wrap");
    assert_class(
        v.unwrap_key(&admin(), "wrap-only", None, alg, &w.value),
        ErrorClass::AccessDenied,
        "unwrap not in KeyOps",
    );
    v.update_key(
        &admin(),
        "wrap-only",
        None,
        &KeyUpdate {
            key_ops: Some(vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]),
            ..Default::default()
        },
    )
    .expect("update ops");
    v.unwrap_key(&admin(), "wrap-only", None, alg, &w.value)
        .expect("unwrap now allowed");
}

/// The service principal: access granted, removed (AccessDenied, the revocation signal), and
/// restored (success again).
pub fn check_access_policy(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let sp = exchange();
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    // No policy yet: denied, and denied before existence is revealed.
    assert_class(
        v.wrap_key(&sp, "k", None, alg, &dep_key()),
        ErrorClass::AccessDenied,
        "no policy",
    );
    assert_class(
        v.get_key(&sp, "no-such-key", None),
        ErrorClass::AccessDenied,
        "403 before 404",
    );

    let perms = [
        KeyPermission::WrapKey,
        KeyPermission::UnwrapKey,
        KeyPermission::Get,
    ];
    let info = v.set_access_policy(&admin(), &sp, &perms).expect("grant");
    let entry = info
        .access_policies
        .iter()
        .find(|p| p.application_id.as_deref() == Some(EXCHANGE_ONLINE_APP_ID))
        .expect("policy shown");
    assert!(entry.display_name.starts_with("Office 365 Exchange Online"));
    assert_eq!(entry.permissions_to_keys_str, "wrapKey, unwrapKey, get");

    let dek = dep_key();
    let w = v
        .wrap_key(&sp, "k", None, alg, &dek)
        .expect("service wraps");
    assert_eq!(
        v.unwrap_key(&sp, "k", Some(&k.version), alg, &w.value)
            .expect("service unwraps")
            .as_slice(),
        dek
    );
    v.get_key(&sp, "k", None).expect("service gets");
    // The service may not do anything else.
    assert_class(
        v.list_keys(&sp),
        ErrorClass::AccessDenied,
        "list not granted",
    );
    assert_class(
        v.create_key(&sp, &NewKeyRequest::new("x")),
        ErrorClass::AccessDenied,
        "create not granted",
    );
    assert_class(
        v.delete_key(&sp, "k"),
        ErrorClass::AccessDenied,
        "delete not granted",
    );

    // Revoke: AccessDenied, not a system error.
    v.remove_access_policy(&admin(), &sp).expect("revoke");
    let e = assert_class(
        v.unwrap_key(&sp, "k", Some(&k.version), alg, &w.value),
        ErrorClass::AccessDenied,
        "revoked",
    );
    assert!(!e.is_system_error());
    assert_class(
        v.get_key(&sp, "k", None),
        ErrorClass::AccessDenied,
        "revoked get",
    );

    // Partial grant: get only.
    v.set_access_policy(&admin(), &sp, &[KeyPermission::Get])
        .expect("get only");
    v.get_key(&sp, "k", None).expect("get allowed");
    assert_class(
        v.unwrap_key(&sp, "k", None, alg, &w.value),
        ErrorClass::AccessDenied,
        "unwrap not granted",
    );

    // Restore: works again.
    v.set_access_policy(&admin(), &sp, &perms).expect("restore");
    assert_eq!(
        v.unwrap_key(&sp, "k", Some(&k.version), alg, &w.value)
            .expect("restored")
            .as_slice(),
        dek
    );

    // Removing a policy that does not exist is NotFound.
    let nobody = Principal::object_id("11111111-2222-3333-4444-555555555555").expect("guid");
    assert_class(
        v.remove_access_policy(&admin(), &nobody),
        ErrorClass::NotFound,
        "no such policy",
    );
}

/// NotFound for keys, versions and deleted keys that do not exist.
pub fn check_not_found(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    assert_class(
        v.get_key(&admin(), "missing", None),
        ErrorClass::NotFound,
        "missing key",
    );
    assert_class(
        v.wrap_key(&admin(), "missing", None, alg, &dep_key()),
        ErrorClass::NotFound,
        "wrap missing",
    );
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    assert_class(
        v.get_key(&admin(), "k", Some("0123456789abcdef0123456789abcdef")),
        ErrorClass::NotFound,
        "missing version",
    );
    assert_class(
        v.get_deleted_key(&admin(), "k"),
        ErrorClass::NotFound,
        "not deleted",
    );
    assert_class(
        v.recover_key(&admin(), "k"),
        ErrorClass::NotFound,
        "recover active",
    );
    assert_class(
        v.purge_key(&admin(), "k"),
        ErrorClass::NotFound,
        "purge active",
    );
    assert_class(
        v.backup_key(&admin(), "missing"),
        ErrorClass::NotFound,
        "backup missing",
    );
    assert_class(
        v.list_key_versions(&admin(), "missing"),
        ErrorClass::NotFound,
        "versions missing",
    );
}

/// A vault that cannot be reached gives Unavailable (a system error) for the operations the
/// fallback rule depends on (wrap, unwrap) and for key creation, and works again once reachable.
/// (Whether reads such as `get_key` can be served from a backend's own metadata is the
/// backend's business; the local backend's are checked in its own tests.)
pub fn check_unavailable(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    v.set_access_policy(
        &admin(),
        &exchange(),
        &[KeyPermission::WrapKey, KeyPermission::UnwrapKey],
    )
    .expect("grant");
    let w = v
        .wrap_key(&exchange(), "k", None, alg, &dep_key())
        .expect("wrap");
    h.break_vault(v.as_ref());
    let e = assert_class(
        v.unwrap_key(&exchange(), "k", Some(&w.version), alg, &w.value),
        ErrorClass::Unavailable,
        "unwrap unreachable",
    );
    assert!(e.is_system_error());
    assert_class(
        v.wrap_key(&exchange(), "k", None, alg, &dep_key()),
        ErrorClass::Unavailable,
        "wrap unreachable",
    );
    assert_class(
        v.create_key(&admin(), &NewKeyRequest::new("k2")),
        ErrorClass::Unavailable,
        "create unreachable",
    );
    h.repair_vault(v.as_ref());
    v.unwrap_key(&exchange(), "k", Some(&w.version), alg, &w.value)
        .expect("reachable again");
}

/// Soft delete, listing in the removed state, recover, purge (allowed in a purgeable vault).
pub fn check_soft_delete_recover_purge(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let k1 = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let w = v
        .wrap_key(&admin(), "k", None, alg, &dep_key())
        .expect("wrap");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("roll");

    let d = v.delete_key(&admin(), "k").expect("delete");
    assert_eq!(d.scheduled_purge_date - d.deleted_date, Duration::days(90));
    assert!(d.recovery_id.ends_with("/deletedkeys/k"));
    assert_eq!(d.key.recovery_level, RecoveryLevel::RecoverablePurgeable);
    assert_class(
        v.get_key(&admin(), "k", None),
        ErrorClass::NotFound,
        "deleted key is gone",
    );
    assert_class(
        v.wrap_key(&admin(), "k", None, alg, &dep_key()),
        ErrorClass::NotFound,
        "deleted key wraps nothing",
    );
    assert!(v.list_keys(&admin()).expect("list").is_empty());
    let removed = v.list_deleted_keys(&admin()).expect("list removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].key.name, "k");
    assert_eq!(
        v.get_deleted_key(&admin(), "k")
            .expect("get removed")
            .key
            .name,
        "k"
    );
    // The name stays taken while the key is recoverable.
    assert_class(
        v.create_key(&admin(), &NewKeyRequest::new("k")),
        ErrorClass::Invalid,
        "name taken by deleted key",
    );

    let back = v.recover_key(&admin(), "k").expect("recover");
    assert_eq!(back.name, "k");
    assert_eq!(
        v.list_key_versions(&admin(), "k").expect("versions").len(),
        2,
        "all versions recovered"
    );
    v.unwrap_key(&admin(), "k", Some(&k1.version), alg, &w.value)
        .expect("old version works after recovery");
    assert!(v.list_deleted_keys(&admin()).expect("removed").is_empty());

    v.delete_key(&admin(), "k").expect("delete again");
    v.purge_key(&admin(), "k")
        .expect("purge allowed in a Recoverable+Purgeable vault");
    assert_class(
        v.get_deleted_key(&admin(), "k"),
        ErrorClass::NotFound,
        "purged",
    );
    assert_class(
        v.recover_key(&admin(), "k"),
        ErrorClass::NotFound,
        "purged cannot be recovered",
    );
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("name free after purge");
}

/// Purge protection: RecoveryLevel Recoverable, purge refused with the reason, recover still works.
pub fn check_purge_protection(h: &dyn Harness) {
    let spec = VaultSpec {
        purge_protection: true,
        ..Default::default()
    };
    let v = vault_with_admin(h, &spec);
    let info = v.properties().expect("props");
    assert!(info.enable_purge_protection);
    assert_eq!(info.recovery_level, RecoveryLevel::Recoverable);
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    assert_eq!(k.recovery_level, RecoveryLevel::Recoverable);
    v.delete_key(&admin(), "k").expect("delete");
    let e = assert_class(
        v.purge_key(&admin(), "k"),
        ErrorClass::Invalid,
        "purge under purge protection",
    );
    assert!(e.message().contains("purge protection"), "{e}");
    assert_eq!(v.list_deleted_keys(&admin()).expect("still there").len(), 1);
    v.recover_key(&admin(), "k").expect("recover");
}

/// A protected subscription: Recoverable+ProtectedSubscription (what Customer Key requires),
/// purge refused with the reason.
pub fn check_protected_subscription(h: &dyn Harness) {
    let spec = VaultSpec {
        subscription: Sub::Protected,
        ..Default::default()
    };
    let v = vault_with_admin(h, &spec);
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    assert_eq!(
        k.recovery_level,
        RecoveryLevel::RecoverableProtectedSubscription
    );
    assert_eq!(
        k.recovery_level.as_str(),
        "Recoverable+ProtectedSubscription"
    );
    v.delete_key(&admin(), "k").expect("delete");
    let e = assert_class(
        v.purge_key(&admin(), "k"),
        ErrorClass::Invalid,
        "purge in a protected subscription",
    );
    assert!(e.message().contains("subscription"), "{e}");
    v.recover_key(&admin(), "k").expect("recover");
}

/// A retention shorter than 90 days: the Customized levels and an earlier purge date.
pub fn check_customized_retention(h: &dyn Harness) {
    let spec = VaultSpec {
        retention_days: 7,
        ..Default::default()
    };
    let v = vault_with_admin(h, &spec);
    assert_eq!(
        v.properties().expect("props").soft_delete_retention_in_days,
        7
    );
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let d = v.delete_key(&admin(), "k").expect("delete");
    assert_eq!(
        d.key.recovery_level,
        RecoveryLevel::CustomizedRecoverablePurgeable
    );
    assert_eq!(d.scheduled_purge_date - d.deleted_date, Duration::days(7));
}

/// Backup and restore: all versions and metadata, same subscription only, name must be free,
/// tampered blobs refused.
pub fn check_backup_restore(h: &dyn Harness) {
    let alg = h.algorithm();
    let v = vault_with_admin(h, &VaultSpec::default());
    let mut req = NewKeyRequest::new("k");
    req.tags = BTreeMap::from([("owner".to_string(), "ck-team".to_string())]);
    let k1 = v.create_key(&admin(), &req).expect("create");
    let dek = dep_key();
    let w = v.wrap_key(&admin(), "k", None, alg, &dek).expect("wrap");
    let k2 = v.create_key(&admin(), &req).expect("roll");
    let blob = v.backup_key(&admin(), "k").expect("backup");

    // Name exists: refused.
    assert_class(
        v.restore_key(&admin(), &blob),
        ErrorClass::Invalid,
        "restore over an existing key",
    );

    // Into another vault of the same subscription.
    let v2 = vault_with_admin(h, &VaultSpec::default());
    let r = v2
        .restore_key(&admin(), &blob)
        .expect("restore same subscription");
    assert_eq!(r.version, k2.version);
    assert_eq!(r.tags.get("owner").map(String::as_str), Some("ck-team"));
    let versions = v2.list_key_versions(&admin(), "k").expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version, k1.version);
    assert_eq!(
        v2.unwrap_key(&admin(), "k", Some(&k1.version), alg, &w.value)
            .expect("old version restored")
            .as_slice(),
        dek
    );

    // Back into the original vault after delete + purge.
    v.delete_key(&admin(), "k").expect("delete");
    assert_class(
        v.restore_key(&admin(), &blob),
        ErrorClass::Invalid,
        "restore over a deleted key",
    );
    v.purge_key(&admin(), "k").expect("purge");
    v.restore_key(&admin(), &blob).expect("restore after purge");

    // Another subscription: refused with the reason.
    let vb = vault_with_admin(
        h,
        &VaultSpec {
            subscription: Sub::B,
            ..Default::default()
        },
    );
    let e = assert_class(
        vb.restore_key(&admin(), &blob),
        ErrorClass::Invalid,
        "restore into another subscription",
    );
    assert!(e.message().contains("subscription"), "{e}");
    assert!(vb.list_keys(&admin()).expect("list").is_empty());

    // Tampered and truncated blobs: refused.
    let v3 = vault_with_admin(h, &VaultSpec::default());
    let mut tampered = blob.clone();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'a' { b'b' } else { b'a' };
    assert_class(
        v3.restore_key(&admin(), &tampered),
        ErrorClass::Invalid,
        "tampered backup",
    );
    assert_class(
        v3.restore_key(&admin(), &blob[..blob.len() / 3]),
        ErrorClass::Invalid,
        "truncated backup",
    );
    assert_class(
        v3.restore_key(&admin(), b"not a backup"),
        ErrorClass::Invalid,
        "garbage backup",
    );
    assert!(v3.list_keys(&admin()).expect("list").is_empty());
}

/// Bad input through the trait: size 1024, bad key names and versions.
pub fn check_invalid_input(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let mut small = NewKeyRequest::new("small");
    small.size = 1024;
    let e = assert_class(
        v.create_key(&admin(), &small),
        ErrorClass::Invalid,
        "1024-bit key",
    );
    assert!(e.message().contains("1024"), "{e}");
    assert_class(
        v.create_key(&admin(), &NewKeyRequest::new("bad_name")),
        ErrorClass::Invalid,
        "bad key name",
    );
    assert_class(
        v.create_key(&admin(), &NewKeyRequest::new("")),
        ErrorClass::Invalid,
        "empty key name",
    );
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    assert_class(
        v.get_key(&admin(), "k", Some("v1")),
        ErrorClass::Invalid,
        "bad version",
    );
    assert_class(
        custkey::vault::KeyOperation::parse_list(&["wrapKey,fly"]),
        ErrorClass::Invalid,
        "unknown key operation",
    );
    assert_class(
        KeyPermission::parse_list(&["get,teleport"]).map_err(custkey::vault::VaultError::from),
        ErrorClass::Invalid,
        "unknown permission",
    );
    assert!(
        v.list_keys(&admin()).expect("list").len() == 1,
        "nothing was created by bad input"
    );
}

/// Every operation is audited (time, caller, operation, key, version, result) and the log can
/// be filtered.
pub fn check_audit(h: &dyn Harness) {
    let v = vault_with_admin(h, &VaultSpec::default());
    let alg = h.algorithm();
    let start = Utc::now() - Duration::seconds(1);
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    v.create_key(&admin(), &NewKeyRequest::new("other"))
        .expect("create other");
    let w = v
        .wrap_key(&admin(), "k", None, alg, &dep_key())
        .expect("wrap");
    let denied = v.unwrap_key(&exchange(), "k", Some(&w.version), alg, &w.value);
    assert!(denied.is_err());
    v.set_access_policy(&admin(), &exchange(), &[KeyPermission::UnwrapKey])
        .expect("grant");
    v.unwrap_key(&exchange(), "k", Some(&w.version), alg, &w.value)
        .expect("unwrap");

    let all = v.audit_log(&AuditQuery::default()).expect("log");
    assert!(all.len() >= 6, "{all:?}");
    let unwraps = v
        .audit_log(&AuditQuery {
            operation: Some(VaultOperation::UnwrapKey),
            ..Default::default()
        })
        .expect("unwraps");
    assert_eq!(unwraps.len(), 2);
    assert_eq!(unwraps[0].result, "AccessDenied");
    assert!(unwraps[0].detail.is_some());
    assert_eq!(unwraps[1].result, "Success");
    assert_eq!(unwraps[1].version.as_deref(), Some(k.version.as_str()));
    assert_eq!(unwraps[1].key_name.as_deref(), Some("k"));
    assert!(unwraps[1].caller.contains(EXCHANGE_ONLINE_APP_ID));
    assert!(unwraps[1].time >= start && unwraps[1].time <= Utc::now());

    let by_caller = v
        .audit_log(&AuditQuery {
            caller: Some(EXCHANGE_ONLINE_APP_ID.into()),
            ..Default::default()
        })
        .expect("by caller");
    assert_eq!(by_caller.len(), 2);
    let by_key = v
        .audit_log(&AuditQuery {
            key_name: Some("other".into()),
            ..Default::default()
        })
        .expect("by key");
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0].operation, VaultOperation::CreateKey);
    let future = v
        .audit_log(&AuditQuery {
            start_time: Some(Utc::now() + Duration::hours(1)),
            ..Default::default()
        })
        .expect("future");
    assert!(future.is_empty());
    let past = v
        .audit_log(&AuditQuery {
            end_time: Some(start),
            ..Default::default()
        })
        .expect("past");
    assert!(past.iter().all(|r| r.time <= start));
    let policy = v
        .audit_log(&AuditQuery {
            operation: Some(VaultOperation::SetAccessPolicy),
            ..Default::default()
        })
        .expect("policy changes");
    assert!(
        policy.len() >= 2,
        "admin grant and exchange grant are recorded"
    );
}

/// Every check, in order.
pub fn run_all(h: &dyn Harness) {
    check_versions(h);
    check_key_size_3072(h);
    check_wrap_unwrap(h);
    check_disabled(h);
    check_expired(h);
    check_key_ops(h);
    check_access_policy(h);
    check_not_found(h);
    check_unavailable(h);
    check_soft_delete_recover_purge(h);
    check_purge_protection(h);
    check_protected_subscription(h);
    check_customized_retention(h);
    check_backup_restore(h);
    check_invalid_input(h);
    check_audit(h);
}

/// One `#[test]` per check, each with a fresh harness from `$make` (a closure or fn returning
/// the harness). Use with `#[macro_use] mod vault_conformance;`.
macro_rules! vault_conformance_tests {
    ($make:expr) => {
        vault_conformance_tests!(@each $make;
            check_versions, check_key_size_3072, check_wrap_unwrap, check_disabled,
            check_expired, check_key_ops, check_access_policy, check_not_found,
            check_unavailable, check_soft_delete_recover_purge, check_purge_protection,
            check_protected_subscription, check_customized_retention, check_backup_restore,
            check_invalid_input, check_audit);
    };
    (@each $make:expr; $($name:ident),*) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let h = ($make)();
                    crate::vault_conformance::$name(&h);
                }
            )*
        }
    };
}
