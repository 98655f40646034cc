//! The root-key conformance suite: what the service needs of every root-key backend, through
//! the `RootKeyProvider` seam only. It runs against local vault keys and SoftHSM2 token keys
//! ([`VaultRootHarness`] over the vault suite's [`Harness`]) and against a KMIP server
//! (tests/kmip_ops.rs): round trip, a DEP key wrapped and checked as the service does, wrong
//! key, disabled/deactivated, revoked access, unreachable backend, refresh after a roll, and
//! "not mine" for another backend's URI.
//!
//! The service-level parts (fallback to the availability key and its audit record, a mailbox
//! end to end with roots in two backends) run through the binary: tests/hsm_exchange.rs and
//! tests/kmip_exchange.rs.

use std::sync::{Arc, Mutex};

use custkey::crypto::{DepBinding, DepKey, KeyRef};
use custkey::vault::{
    Caller, ErrorClass, KeyPermission, KeyUpdate, KeyVault, NewKeyRequest, RootError,
    RootKeyProvider, VaultProvider, VaultResult, VaultRoots,
};

use super::{admin, exchange, vault_with_admin, Harness, VaultSpec};

/// A root-key backend under test.
pub trait RootHarness {
    /// The backend, as the service's registry holds it.
    fn provider(&self) -> Arc<dyn RootKeyProvider>;
    /// The principal the service acts as.
    fn caller(&self) -> Caller {
        exchange()
    }
    /// A new usable root key: its URI without a version.
    fn new_key(&self) -> String;
    /// Add a version to the key (a roll); `false` when the backend's keys have no versions.
    fn roll(&self, uri: &str) -> bool;
    /// Make the key unusable by its own state (disabled, deactivated); returns the class then
    /// expected.
    fn disable(&self, uri: &str) -> ErrorClass;
    /// Take the service's use of the key away (a customer's revocation).
    fn revoke(&self, uri: &str);
    /// Make the backend unreachable, as a system failure would.
    fn break_backend(&self, uri: &str);
    /// Undo [`RootHarness::break_backend`].
    fn repair_backend(&self, uri: &str);
    /// A URI of another backend, which this one must call not its own.
    fn foreign_uri(&self) -> String;
}

fn class<T>(r: Result<T, RootError>, what: &str) -> ErrorClass {
    match r {
        Ok(_) => panic!("{what}: expected a failure"),
        Err(RootError::Mine(e)) => {
            assert!(!e.message().is_empty(), "{what}: empty message");
            e.class()
        }
        Err(other) => panic!("{what}: expected a failure of this backend, got {other:?}"),
    }
}

fn secret() -> [u8; 32] {
    let mut k = [0u8; 32];
    custkey::crypto::random_bytes(&mut k);
    k
}

/// Wrap, unwrap with the versioned URI; the identity names the key.
pub fn check_round_trip(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let k = secret();
    let w = p.wrap(&h.caller(), &uri, &k).expect("wrap");
    assert!(!w.value.is_empty());
    let back = p
        .unwrap(
            &h.caller(),
            &format!("{uri}/{}", w.version),
            w.alg,
            &w.value,
        )
        .expect("unwrap");
    assert_eq!(back.as_slice(), &k);
    let info = p.identity(&h.caller(), &uri).expect("identity");
    assert_eq!(info.key_uri.to_ascii_lowercase(), uri.to_ascii_lowercase());
    assert_eq!(info.backend, p.backend());
    p.health(&h.caller(), &uri).expect("healthy");
}

/// A DEP key wrapped as the service wraps it (the format records the wrap kind and binds the
/// copy to its DEP) and opened again; a copy moved to another DEP does not open.
pub fn check_dep_key(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let dep = DepKey::generate(KeyRef::new_random());
    let guid = uuid::Uuid::new_v4();
    let w = p
        .wrap(&h.caller(), &uri, dep.bytes_for_root_wrap())
        .expect("wrap");
    let root = custkey::crypto::RootKeyRef::new(uri.clone(), w.version.clone()).unwrap();
    let wk = dep
        .wrap_from_root_alg(&root, w.alg, &w.value, &DepBinding::new(guid))
        .expect("format");
    assert_eq!(wk.root_alg(), Some(w.alg));
    let raw = p
        .unwrap(
            &h.caller(),
            &format!("{uri}/{}", w.version),
            wk.root_alg().unwrap(),
            wk.root_ciphertext().unwrap(),
        )
        .expect("unwrap");
    let back = DepKey::from_root_unwrap(&wk, &DepBinding::new(guid), &raw).expect("check");
    assert_eq!(back.bytes_for_root_wrap(), dep.bytes_for_root_wrap());
    assert!(DepKey::from_root_unwrap(&wk, &DepBinding::new(uuid::Uuid::new_v4()), &raw).is_err());
}

/// A copy unwrapped with another key is Invalid (no system error, so no fallback).
pub fn check_wrong_key(h: &dyn RootHarness) {
    let p = h.provider();
    let (a, b) = (h.new_key(), h.new_key());
    let w = p.wrap(&h.caller(), &a, &secret()).expect("wrap");
    let r = p.unwrap(
        &h.caller(),
        &format!("{b}/{}", version_of(h, &b)),
        w.alg,
        &w.value,
    );
    assert_eq!(class(r, "unwrap with another key"), ErrorClass::Invalid);
}

fn version_of(h: &dyn RootHarness, uri: &str) -> String {
    h.provider()
        .wrap(&h.caller(), uri, &secret())
        .expect("wrap")
        .version
}

/// A disabled or deactivated key refuses wrap and unwrap with the backend's exact class.
pub fn check_disabled(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let w = p.wrap(&h.caller(), &uri, &secret()).expect("wrap");
    let want = h.disable(&uri);
    assert!(matches!(
        want,
        ErrorClass::KeyDisabled | ErrorClass::KeyExpired
    ));
    assert_eq!(
        class(p.wrap(&h.caller(), &uri, &secret()), "wrap disabled"),
        want
    );
    let r = p.unwrap(
        &h.caller(),
        &format!("{uri}/{}", w.version),
        w.alg,
        &w.value,
    );
    assert_eq!(class(r, "unwrap disabled"), want);
}

/// Revoked access is AccessDenied: a refusal, never a system error.
pub fn check_revoked(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let w = p.wrap(&h.caller(), &uri, &secret()).expect("wrap");
    h.revoke(&uri);
    let r = p.unwrap(
        &h.caller(),
        &format!("{uri}/{}", w.version),
        w.alg,
        &w.value,
    );
    assert_eq!(class(r, "unwrap revoked"), ErrorClass::AccessDenied);
    assert_eq!(
        class(p.wrap(&h.caller(), &uri, &secret()), "wrap revoked"),
        ErrorClass::AccessDenied
    );
}

/// An unreachable backend is Unavailable (the one class that lets a user request fall back),
/// and works again once repaired.
pub fn check_unavailable(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let w = p.wrap(&h.caller(), &uri, &secret()).expect("wrap");
    let versioned = format!("{uri}/{}", w.version);
    h.break_backend(&uri);
    let e = match p.unwrap(&h.caller(), &versioned, w.alg, &w.value) {
        Err(RootError::Mine(e) | RootError::Unknown(e)) => e,
        other => panic!("unwrap unreachable: {other:?}"),
    };
    assert_eq!(e.class(), ErrorClass::Unavailable, "{e}");
    assert!(e.is_system_error());
    h.repair_backend(&uri);
    let back = p
        .unwrap(&h.caller(), &versioned, w.alg, &w.value)
        .expect("reachable again");
    assert_eq!(back.len(), 32);
}

/// After a roll a wrap uses the new version and both copies still unwrap (a refresh re-wraps
/// under the new one; readers of the old copy keep working meanwhile). A backend without
/// versions keeps wrapping under its one version.
pub fn check_refresh_after_roll(h: &dyn RootHarness) {
    let p = h.provider();
    let uri = h.new_key();
    let k = secret();
    let old = p.wrap(&h.caller(), &uri, &k).expect("wrap");
    let rolled = h.roll(&uri);
    let new = p.wrap(&h.caller(), &uri, &k).expect("wrap after roll");
    if rolled {
        assert_ne!(new.version, old.version);
    } else {
        assert_eq!(new.version, old.version);
    }
    for w in [&old, &new] {
        let back = p
            .unwrap(
                &h.caller(),
                &format!("{uri}/{}", w.version),
                w.alg,
                &w.value,
            )
            .expect("unwrap");
        assert_eq!(back.as_slice(), &k);
    }
}

/// Another backend's URI is not this one's: the registry then asks the next backend.
pub fn check_not_mine(h: &dyn RootHarness) {
    let p = h.provider();
    assert_eq!(
        p.wrap(&h.caller(), &h.foreign_uri(), &secret()),
        Err(RootError::NotMine)
    );
}

/// Every check.
pub fn run_all(h: &dyn RootHarness) {
    check_round_trip(h);
    check_dep_key(h);
    check_wrong_key(h);
    check_disabled(h);
    check_revoked(h);
    check_unavailable(h);
    check_refresh_after_roll(h);
    check_not_mine(h);
}

/// The vaults a [`VaultRootHarness`] made, as a vault provider.
#[derive(Default, Clone)]
struct Made(Arc<Mutex<Vec<Arc<dyn KeyVault>>>>);

impl VaultProvider for Made {
    fn open_vault(&self, name: &str) -> VaultResult<Option<Arc<dyn KeyVault>>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|v| v.vault_name().eq_ignore_ascii_case(name))
            .cloned())
    }
}

/// Root keys of an Azure-style vault backend (local, PKCS#11), made through its vault harness.
pub struct VaultRootHarness<'a> {
    vaults: &'a dyn Harness,
    made: Made,
    backend: &'static str,
}

impl<'a> VaultRootHarness<'a> {
    /// Root keys in vaults `vaults` makes; `backend` is the backend's name.
    pub fn new(vaults: &'a dyn Harness, backend: &'static str) -> Self {
        VaultRootHarness {
            vaults,
            made: Made::default(),
            backend,
        }
    }

    fn vault(&self, uri: &str) -> Arc<dyn KeyVault> {
        let id = custkey::vault::KeyId::parse(uri).unwrap();
        self.made.open_vault(&id.vault).unwrap().unwrap()
    }
}

impl RootHarness for VaultRootHarness<'_> {
    fn provider(&self) -> Arc<dyn RootKeyProvider> {
        Arc::new(VaultRoots::new(Arc::new(self.made.clone()), self.backend))
    }

    fn new_key(&self) -> String {
        let v: Arc<dyn KeyVault> = Arc::from(vault_with_admin(self.vaults, &VaultSpec::default()));
        v.set_access_policy(
            &admin(),
            &exchange(),
            &[
                KeyPermission::WrapKey,
                KeyPermission::UnwrapKey,
                KeyPermission::Get,
            ],
        )
        .expect("grant the service");
        v.create_key(&admin(), &NewKeyRequest::new("root"))
            .expect("create");
        let uri = format!("https://{}.vault.azure.net/keys/root", v.vault_name());
        self.made.0.lock().unwrap().push(v);
        uri
    }

    fn roll(&self, uri: &str) -> bool {
        self.vault(uri)
            .create_key(&admin(), &NewKeyRequest::new("root"))
            .expect("roll");
        true
    }

    fn disable(&self, uri: &str) -> ErrorClass {
        let v = self.vault(uri);
        for k in v.list_key_versions(&admin(), "root").expect("versions") {
            v.update_key(
                &admin(),
                "root",
                Some(&k.version),
                &KeyUpdate {
                    enabled: Some(false),
                    ..KeyUpdate::default()
                },
            )
            .expect("disable");
        }
        ErrorClass::KeyDisabled
    }

    fn revoke(&self, uri: &str) {
        self.vault(uri)
            .remove_access_policy(&admin(), &exchange())
            .expect("remove the service's policy");
    }

    fn break_backend(&self, uri: &str) {
        self.vaults.break_vault(self.vault(uri).as_ref());
    }

    fn repair_backend(&self, uri: &str) {
        self.vaults.repair_vault(self.vault(uri).as_ref());
    }

    fn foreign_uri(&self) -> String {
        "kmip://127.0.0.1:5696/1".into()
    }
}
