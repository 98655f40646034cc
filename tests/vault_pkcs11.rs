//! The PKCS#11 vault backend against a real SoftHSM2: the conformance suite, the token objects
//! seen from outside with `pkcs11-tool`, the label/id scheme, RFC 7512 URIs, the OAEP variant,
//! purge and backup on the token.
//!
//! SoftHSM reads SOFTHSM2_CONF and its token directory once per process (at C_Initialize: a
//! token initialised by another process afterwards is not seen), so this test binary uses one
//! temporary configuration and initialises a pool of throwaway tokens in it with
//! `softhsm2-util --init-token` before the module is first loaded; each test takes tokens of
//! its own from the pool. (The binary-level tests in tests/hsm_exchange.rs give every test its
//! own SOFTHSM2_CONF.) The tests skip, with the reason printed, only when SoftHSM2 is not
//! installed.

// The suite runs through `run_all` (one test that can skip when SoftHSM2 is absent), so its
// per-check macro is not expanded here.
mod softhsm;
#[allow(unused_macros)]
mod vault_conformance;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use custkey::crypto::OaepAlg;
use custkey::vault::master_key::MasterKeyOptions;
use custkey::vault::{
    Caller, ErrorClass, KeyPermission, KeyVault, LocalBackend, NewKeyRequest, NewVaultRequest,
    Pkcs11Binding, Pkcs11Provider, Principal, VaultError,
};
use vault_conformance::{admin, Harness, Sub, VaultSpec};
use zeroize::Zeroizing;

/// The configuration directory of this test process (the master key files): a temporary
/// directory outside every data directory, never ~/.config.
fn test_config_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// The standard layout of a data directory, with the test's configuration directory.
fn test_paths(data_dir: &std::path::Path) -> custkey::vault::LocalPaths {
    custkey::vault::LocalPaths::with_config_dir(data_dir, test_config_dir())
}

struct Hsm {
    _dir: tempfile::TempDir,
    conf: PathBuf,
    module: PathBuf,
    tokens: Vec<String>,
    next: AtomicUsize,
}

/// Tokens initialised up front (enough for every test of this file).
const POOL: usize = 16;

impl Hsm {
    /// A fresh token of the pool, used by no other test.
    fn token(&self) -> String {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.tokens
            .get(i)
            .cloned()
            .unwrap_or_else(|| panic!("the token pool ({POOL}) is exhausted: raise POOL"))
    }
}

/// The process-wide SoftHSM configuration (`None` when SoftHSM2 is absent).
fn hsm() -> Option<&'static Hsm> {
    static H: OnceLock<Option<Hsm>> = OnceLock::new();
    H.get_or_init(|| {
        let module = softhsm::module()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = softhsm::write_conf(dir.path());
        // Set before the module is first loaded in this process; read by SoftHSM at C_Initialize.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(custkey::vault::pkcs11::ENV_PIN, softhsm::PIN);
        std::env::set_var("CUSTKEY_KEYRING", "off");
        let tokens: Vec<String> = (0..POOL).map(|i| format!("ck-test-{i}")).collect();
        for t in &tokens {
            softhsm::init_token(&conf, t);
        }
        Some(Hsm {
            _dir: dir,
            conf,
            module,
            tokens,
            next: AtomicUsize::new(0),
        })
    })
    .as_ref()
}

fn key_opts(k: &[u8; 32]) -> MasterKeyOptions {
    MasterKeyOptions {
        key_hex: Some(Zeroizing::new(hex::encode(k))),
        passphrase: None,
        use_keyring: false,
        pkcs11_uri: None,
    }
}

struct HsmHarness {
    hsm: &'static Hsm,
    master: [u8; 32],
    tmp: tempfile::TempDir,
    backend: LocalBackend,
    token: String,
    subs: [String; 3],
    n: AtomicUsize,
}

impl HsmHarness {
    fn new() -> Option<Self> {
        let hsm = hsm()?;
        let token = hsm.token();
        let tmp = tempfile::tempdir().expect("tempdir");
        // Vaults bind to a link to the module, so that a test can take the module path away.
        std::os::unix::fs::symlink(&hsm.module, tmp.path().join("libsofthsm2.so"))
            .expect("module link");
        let mut master = [0u8; 32];
        custkey::crypto::random_bytes(&mut master);
        let backend = LocalBackend::open_with(test_paths(tmp.path()), &key_opts(&master), None)
            .expect("open backend");
        let mut subs: [String; 3] = Default::default();
        for (i, name) in ["HSM A", "HSM B", "HSM Protected"].iter().enumerate() {
            subs[i] = backend.set_context(name).expect("sub").subscription_id;
        }
        backend
            .register_provider_feature("mandatoryRetentionPeriodEnabled", "Microsoft.Resources")
            .expect("register");
        Some(HsmHarness {
            hsm,
            master,
            tmp,
            backend,
            token,
            subs,
            n: AtomicUsize::new(0),
        })
    }

    fn module_link(&self) -> PathBuf {
        self.tmp.path().join("libsofthsm2.so")
    }

    fn binding(&self) -> Pkcs11Binding {
        Pkcs11Binding::new(&self.module_link(), &self.token).expect("binding")
    }

    fn provider(&self) -> Pkcs11Provider {
        Pkcs11Provider::new(self.backend.clone())
    }

    fn objects(&self, kind: &str) -> Option<Vec<String>> {
        softhsm::list_objects(&self.hsm.conf, &self.hsm.module, &self.token, kind)
            .map(|l| softhsm::object_blocks(&l))
    }
}

impl Harness for HsmHarness {
    fn new_vault(&self, spec: &VaultSpec) -> Box<dyn KeyVault> {
        let sub = match spec.subscription {
            Sub::A => &self.subs[0],
            Sub::B => &self.subs[1],
            Sub::Protected => &self.subs[2],
        };
        self.backend.set_context(sub).expect("select subscription");
        let name = format!("hsm-vault-{}", self.n.fetch_add(1, Ordering::SeqCst));
        let mut req = NewVaultRequest::new(&name, "ck-rg", "West Europe");
        req.enable_purge_protection = spec.purge_protection;
        req.soft_delete_retention_in_days = Some(spec.retention_days);
        req.grant_caller_full_access = false;
        req.sku = if spec.premium {
            custkey::vault::VaultSku::Premium
        } else {
            custkey::vault::VaultSku::Standard
        };
        req.key_holder = Some(self.binding().holder());
        self.backend
            .new_key_vault(&admin(), &req)
            .expect("new hsm vault");
        Box::new(self.provider().vault(&name).expect("open hsm vault"))
    }

    fn break_vault(&self, _vault: &dyn KeyVault) {
        std::fs::remove_file(self.module_link()).expect("take the module away");
    }

    fn repair_vault(&self, _vault: &dyn KeyVault) {
        std::os::unix::fs::symlink(&self.hsm.module, self.module_link()).expect("module back");
    }

    /// SoftHSM2 2.6 does OAEP with SHA-1 only.
    fn algorithm(&self) -> OaepAlg {
        OaepAlg::RsaOaep
    }
}

fn class<T: std::fmt::Debug>(r: Result<T, VaultError>) -> ErrorClass {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            eprintln!("({}) {e}", e.class());
            e.class()
        }
    }
}

fn exchange() -> Caller {
    Principal::service_principal(custkey::vault::EXCHANGE_ONLINE_APP_ID).expect("sp")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn conformance_suite_on_softhsm() {
    let Some(h) = HsmHarness::new() else { return };
    vault_conformance::run_all(&h);
}

#[test]
fn root_key_conformance_suite_on_softhsm() {
    let Some(h) = HsmHarness::new() else { return };
    vault_conformance::roots::run_all(&vault_conformance::roots::VaultRootHarness::new(
        &h,
        custkey::vault::pkcs11::BACKEND,
    ));
}

#[test]
fn private_key_objects_are_sensitive_and_never_extractable() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    let k1 = v
        .create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("create");
    let k2 = v
        .create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("roll");
    let Some(privs) = h.objects("privkey") else {
        return;
    };
    assert_eq!(
        privs.len(),
        2,
        "one private key object per version: {privs:?}"
    );
    for p in &privs {
        assert!(p.contains("sensitive"), "{p}");
        assert!(p.contains("always sensitive"), "{p}");
        assert!(p.contains("never extractable"), "{p}");
        assert!(!p.contains("Access:       extractable"), "{p}");
        assert!(p.contains("local"), "generated on the token: {p}");
    }
    // The label/id scheme: CKA_ID = the version's 16 bytes, label custkey:<vault>/<key>/<version>.
    let vault = v.vault_name();
    for k in [&k1, &k2] {
        let label = format!("custkey:{vault}/root/{}", k.version);
        let p = privs
            .iter()
            .find(|p| p.contains(&label))
            .unwrap_or_else(|| panic!("no object labelled {label}: {privs:?}"));
        assert!(p.contains(&format!("ID:         {}", k.version)), "{p}");
    }
    let pubs = h.objects("pubkey").expect("pkcs11-tool");
    assert_eq!(pubs.len(), 2, "{pubs:?}");
    // What the private objects may do: decrypt and unwrap, nothing else (no signing).
    for p in &privs {
        let usage = p
            .lines()
            .find(|l| l.trim_start().starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no usage line: {p}"));
        assert!(
            usage.contains("decrypt") && usage.contains("unwrap"),
            "{usage}"
        );
        assert!(!usage.contains("sign"), "{usage}");
    }
}

#[test]
fn rsa_oaep_256_becomes_rsa_oaep_on_softhsm_and_is_recorded() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let dek = [7u8; 32];
    let w = v
        .wrap_key(&admin(), "k", None, OaepAlg::RsaOaep256, &dek)
        .expect("wrap");
    assert_eq!(
        w.algorithm,
        OaepAlg::RsaOaep,
        "SoftHSM2 has SHA-1 OAEP only"
    );
    let back = v
        .unwrap_key(&admin(), "k", Some(&w.version), w.algorithm, &w.value)
        .expect("unwrap with the recorded algorithm");
    assert_eq!(back.as_slice(), dek);
    // Asking the token for SHA-256 OAEP on unwrap: refused as Invalid, not a system error.
    assert_eq!(
        class(v.unwrap_key(
            &admin(),
            "k",
            Some(&w.version),
            OaepAlg::RsaOaep256,
            &w.value
        )),
        ErrorClass::Invalid
    );
    // A software wrap with the public key and the same parameters unwraps on the token.
    let k = v.get_key(&admin(), "k", None).expect("get");
    let public = custkey::crypto::RsaPublicKey::from_der(&k.public_key_der).expect("public");
    let soft = public.oaep_wrap(OaepAlg::RsaOaep, &dek).expect("soft wrap");
    assert_eq!(
        v.unwrap_key(&admin(), "k", None, OaepAlg::RsaOaep, &soft)
            .expect("token unwrap of a software wrap")
            .as_slice(),
        dek
    );
    // A damaged ciphertext is Invalid (no fallback), never Unavailable.
    let mut bad = w.value.clone();
    bad[10] ^= 1;
    assert_eq!(
        class(v.unwrap_key(&admin(), "k", None, OaepAlg::RsaOaep, &bad)),
        ErrorClass::Invalid
    );
}

#[test]
fn purge_destroys_token_objects_unless_a_backup_refers_to_them() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.create_key(&admin(), &NewKeyRequest::new("gone"))
        .expect("create");
    v.create_key(&admin(), &NewKeyRequest::new("kept"))
        .expect("create");
    let Some(before) = h.objects("privkey") else {
        return;
    };
    assert_eq!(before.len(), 2);
    let blob = v.backup_key(&admin(), "kept").expect("backup");
    for k in ["gone", "kept"] {
        v.delete_key(&admin(), k).expect("delete");
        v.purge_key(&admin(), k).expect("purge");
    }
    let after = h.objects("privkey").expect("list");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].contains("/kept/"), "{after:?}");
    let r = v
        .restore_key(&admin(), &blob)
        .expect("restore from the backup");
    assert_eq!(r.name, "kept");
    let w = v
        .wrap_key(&admin(), "kept", None, OaepAlg::RsaOaep, &[1u8; 32])
        .expect("wrap");
    v.unwrap_key(&admin(), "kept", None, OaepAlg::RsaOaep, &w.value)
        .expect("restored key unwraps on the token");
}

#[test]
fn a_backup_restores_only_into_a_vault_on_the_same_token() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let blob = v.backup_key(&admin(), "k").expect("backup");
    // Another token, same subscription and data directory.
    let other = h.hsm.token();
    let mut req = NewVaultRequest::new("hsm-other-token", "ck-rg", "westus");
    req.key_holder = Some(
        Pkcs11Binding::new(&h.module_link(), &other)
            .expect("binding")
            .holder(),
    );
    h.backend.set_context(&h.subs[0]).expect("sub");
    h.backend.new_key_vault(&admin(), &req).expect("vault");
    let v2 = h.provider().vault("hsm-other-token").expect("open");
    let e = v2.restore_key(&admin(), &blob).expect_err("other token");
    assert_eq!(e.class(), ErrorClass::Invalid, "{e}");
    assert!(e.message().contains(&other), "{e}");
    // A local vault refuses a PKCS#11 backup, and the reverse.
    let mut lreq = NewVaultRequest::new("plain-local", "ck-rg", "westus");
    lreq.grant_caller_full_access = true;
    h.backend.new_key_vault(&admin(), &lreq).expect("local");
    let local = h.backend.vault("plain-local").expect("open");
    assert_eq!(
        class(local.restore_key(&admin(), &blob)),
        ErrorClass::Invalid
    );
    local
        .create_key(&admin(), &NewKeyRequest::new("soft"))
        .expect("create");
    let lblob = local.backup_key(&admin(), "soft").expect("backup");
    assert_eq!(class(v.restore_key(&admin(), &lblob)), ErrorClass::Invalid);
}

#[test]
fn import_is_refused_on_a_token_vault() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    let pk = custkey::crypto::RsaPrivateKey::generate(2048).expect("key");
    let e = v
        .import_key(&admin(), &NewKeyRequest::new("byok"), &pk.to_pkcs8_der())
        .expect_err("refused");
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("token"), "{e}");
    // A .byok blob is refused too, before any key-exchange key is looked at.
    let mut req = NewKeyRequest::new("byok");
    req.destination = custkey::vault::KeyDestination::Hsm;
    let e = v
        .import_wrapped_key(&admin(), &req, "KEKforBYOK", None, &[0u8; 600])
        .expect_err("refused");
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("token"), "{e}");
    assert!(v.list_keys(&admin()).expect("list").is_empty());
}

#[test]
fn registry_resolves_vault_names_and_pkcs11_uris() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    let k1 = v
        .create_key(&admin(), &NewKeyRequest::new("Root"))
        .expect("create");
    let k2 = v
        .create_key(&admin(), &NewKeyRequest::new("Root"))
        .expect("roll");
    let reg = h.backend.registry();
    let vault = reg.vault(&v.vault_name()).expect("by name");
    assert_eq!(vault.backend(), "PKCS11");
    assert_eq!(vault.properties().expect("props").backend, "PKCS11");
    let got = reg.get_key(&admin(), &k1.id).expect("by key id");
    assert_eq!(got.version, k1.version);

    let p = h.provider();
    let (found, id) = p
        .resolve_uri(&admin(), &format!("pkcs11:token={};object=root", h.token))
        .expect("object= key name");
    assert_eq!(found.vault_name(), v.vault_name());
    assert_eq!(id.name, "Root");
    assert_eq!(id.version, None);
    let pct: String = hex::decode(&k1.version)
        .expect("hex")
        .iter()
        .map(|b| format!("%{b:02x}"))
        .collect();
    let (_, id) = p
        .resolve_uri(
            &admin(),
            &format!("pkcs11:token={};id={pct};type=private", h.token),
        )
        .expect("id=");
    assert_eq!(id.version.as_deref(), Some(k1.version.as_str()));
    let (_, id) = p
        .resolve_uri(
            &admin(),
            &format!(
                "pkcs11:token={};object=custkey:{}/root/{}",
                h.token,
                v.vault_name(),
                k2.version
            ),
        )
        .expect("full label");
    assert_eq!(id.version.as_deref(), Some(k2.version.as_str()));
    assert_eq!(
        p.resolve_uri(&admin(), "pkcs11:token=no-such-token;object=root")
            .map(|_| ())
            .expect_err("unknown token")
            .class(),
        ErrorClass::NotFound
    );
    assert_eq!(
        p.resolve_uri(
            &admin(),
            &format!("pkcs11:token={};object=root?pin-value=1", h.token)
        )
        .map(|_| ())
        .expect_err("pin in uri")
        .class(),
        ErrorClass::Invalid
    );
    // The registry turns a URI into the Azure-style key id callers store.
    assert_eq!(
        reg.canonical_key_id(&admin(), &format!("pkcs11:token={};object=Root", h.token))
            .expect("canonical"),
        format!("https://{}.vault.azure.net/keys/Root", v.vault_name())
    );
    assert_eq!(
        reg.canonical_key_id(&admin(), &k1.id)
            .expect("https ids pass through"),
        k1.id
    );
    assert_eq!(
        class(reg.canonical_key_id(&admin(), "pkcs11:token=nope;object=Root")),
        ErrorClass::NotFound
    );
    // The local provider does not answer for a token vault, and the reverse.
    let mut lreq = NewVaultRequest::new("plain-local2", "ck-rg", "westus");
    lreq.grant_caller_full_access = true;
    h.backend.new_key_vault(&admin(), &lreq).expect("local");
    assert_eq!(reg.vault("plain-local2").expect("local").backend(), "Local");
    assert_eq!(class(p.vault("plain-local2")), ErrorClass::NotFound);
}

#[test]
fn binding_errors_are_classified() {
    let Some(h) = HsmHarness::new() else { return };
    // Module path that does not exist: Unavailable, and no vault is made.
    let mut req = NewVaultRequest::new("hsm-nomodule", "ck-rg", "westus");
    req.key_holder = Some(
        Pkcs11Binding::new(Path::new("/nonexistent/libnothing.so"), &h.token)
            .expect("b")
            .holder(),
    );
    assert_eq!(
        class(h.backend.new_key_vault(&admin(), &req)),
        ErrorClass::Unavailable
    );
    assert_eq!(class(h.backend.vault("hsm-nomodule")), ErrorClass::NotFound);
    // A file that is not a PKCS#11 module.
    let junk = h.tmp.path().join("junk.so");
    std::fs::write(&junk, b"not a shared object").expect("junk");
    req.key_holder = Some(Pkcs11Binding::new(&junk, &h.token).expect("b").holder());
    assert_eq!(
        class(h.backend.new_key_vault(&admin(), &req)),
        ErrorClass::Unavailable
    );
    // A token that is not there.
    req.key_holder = Some(
        Pkcs11Binding::new(&h.module_link(), "absent-token")
            .expect("b")
            .holder(),
    );
    let e = h.backend.new_key_vault(&admin(), &req).expect_err("absent");
    assert_eq!(e.class(), ErrorClass::Unavailable);
    assert!(e.message().contains("not present"), "{e}");
    // Key ops without unwrapKey: AccessDenied for the service.
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.set_access_policy(
        &admin(),
        &exchange(),
        &[KeyPermission::WrapKey, KeyPermission::Get],
    )
    .expect("grant sp");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let w = v
        .wrap_key(&exchange(), "k", None, OaepAlg::RsaOaep, &[2u8; 32])
        .expect("wrap");
    assert_eq!(
        class(v.unwrap_key(&exchange(), "k", None, OaepAlg::RsaOaep, &w.value)),
        ErrorClass::AccessDenied
    );
}

#[test]
fn the_sidecar_holds_object_references_and_no_private_key() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("create");
    // Open the sealed vault file with the master key (docs/vaults.md §6 gives the format).
    let stem = v.vault_name().to_ascii_lowercase();
    let file = h.tmp.path().join("vaults").join(format!("{stem}.vault"));
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("envelope");
    let sealed = hex::decode(env["payload"].as_str().expect("payload")).expect("hex");
    let key = custkey::crypto::SecretKey32::from_slice(&h.master).expect("key");
    let aad = format!("custkey-local-vault/v1|{stem}");
    let plain = custkey::crypto::open(&key, aad.as_bytes(), &sealed).expect("opens");
    let state: serde_json::Value = serde_json::from_slice(&plain).expect("state");
    assert_eq!(state["pkcs11"]["tokenLabel"], h.token.as_str());
    let version = &state["keys"][0]["versions"][0];
    assert!(version.get("privatePkcs8").is_none(), "{version}");
    assert_eq!(version["token"]["id"], k.version.as_str());
    assert_eq!(
        version["token"]["label"],
        format!("custkey:{stem}/root/{}", k.version).as_str()
    );
    assert_eq!(version["token"]["pinned"], false);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // A backup pins the objects.
    v.backup_key(&admin(), "root").expect("backup");
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("envelope");
    let sealed = hex::decode(env["payload"].as_str().expect("payload")).expect("hex");
    let plain = custkey::crypto::open(&key, aad.as_bytes(), &sealed).expect("opens");
    let state: serde_json::Value = serde_json::from_slice(&plain).expect("state");
    assert_eq!(state["keys"][0]["versions"][0]["token"]["pinned"], true);
}

/// A read-only session of this process on the test's token, opened beside the vault's own.
/// PKCS#11 login state is per application and token, so it sees (and changes) theirs.
fn own_session(h: &HsmHarness) -> cryptoki::session::Session {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    let m = Pkcs11::new(&h.hsm.module).expect("load module");
    let _ = m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = m
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            m.get_token_info(*s)
                .is_ok_and(|t| t.label().trim_end() == h.token)
        })
        .expect("the test's token");
    m.open_ro_session(slot).expect("session")
}

/// Whether the user is logged in to the test's token.
fn token_logged_in(h: &HsmHarness) -> bool {
    let state = own_session(h)
        .get_session_info()
        .expect("info")
        .session_state();
    matches!(state, cryptoki::session::SessionState::RoUser)
}

/// Logs the user out of the test's token (every session of the process loses its login, as
/// when another part of an application logs out).
fn logout_token(h: &HsmHarness) {
    own_session(h).logout().expect("C_Logout");
}

#[test]
fn one_logged_in_session_is_kept_and_logs_in_again_after_a_logout() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("create");
    let w = v
        .wrap_key(&admin(), "root", None, OaepAlg::RsaOaep, &[5u8; 32])
        .expect("wrap");
    let once = v
        .unwrap_key(&admin(), "root", Some(&w.version), w.algorithm, &w.value)
        .expect("unwrap");
    assert_eq!(once.as_slice(), &[5u8; 32]);
    // The session that did it stays open and logged in (closing the last session of a token
    // would have logged the user out).
    assert!(token_logged_in(&h), "no logged-in session was kept");
    // Lose the login: the next call notices (C_GetSessionInfo) and logs in again.
    logout_token(&h);
    assert!(!token_logged_in(&h));
    let again = v
        .unwrap_key(&admin(), "root", Some(&w.version), w.algorithm, &w.value)
        .expect("unwrap after a logout");
    assert_eq!(again.as_slice(), &[5u8; 32]);
    assert!(token_logged_in(&h));
}

/// `Invoke-AzKeyVaultKeyRotation` on a token vault: the new version is a key pair generated on
/// the token (its objects labelled for the new version, the old version's left in place), with
/// the policy's expiry, and it wraps and unwraps there; a rotation that is not due makes nothing.
#[test]
fn rotation_generates_the_new_version_on_the_token() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    let first = v
        .create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("create");
    v.set_rotation_policy(
        &admin(),
        "root",
        Some("P90D"),
        &[custkey::vault::LifetimeAction {
            action: custkey::vault::RotationAction::Rotate,
            time_after_create: Some("P30D".into()),
            time_before_expiry: None,
        }],
    )
    .expect("policy");
    assert!(
        v.rotate_key(&admin(), "root", true)
            .expect("due check")
            .is_none(),
        "a key made just now is not due for rotation"
    );
    let second = v
        .rotate_key(&admin(), "root", false)
        .expect("rotate")
        .expect("a new version");
    assert_ne!(second.version, first.version);
    assert_eq!(second.key_size, first.key_size);
    assert_eq!(second.key_ops, first.key_ops);
    let expires = second
        .expires
        .expect("ExpiresIn sets the new version's expiry");
    let days = (expires - second.created).num_days();
    assert!((89..=90).contains(&days), "{days}");
    if let Some(privs) = h.objects("privkey") {
        let vault = v.vault_name();
        for k in [&first, &second] {
            let label = format!("custkey:{vault}/root/{}", k.version);
            assert!(
                privs
                    .iter()
                    .any(|p| p.contains(&label) && p.contains("never extractable")),
                "no token object for {label}: {privs:?}"
            );
        }
    }
    let dek = [9u8; 32];
    let w = v
        .wrap_key(&admin(), "root", None, OaepAlg::RsaOaep, &dek)
        .expect("wrap under the rotated version");
    assert_eq!(w.version, second.version);
    let back = v
        .unwrap_key(&admin(), "root", Some(&w.version), w.algorithm, &w.value)
        .expect("unwrap on the token");
    assert_eq!(back.as_slice(), dek);
}

/// A rotation that made its new version on the token but could not write the vault file that
/// would name it destroys the token objects again: a failed rotation leaves no orphans. The
/// vault file is made immutable (`chattr +i`; the test says so and passes where the file system
/// has no such attribute) so that the save fails after the generation.
#[test]
fn a_rotation_whose_vault_file_cannot_be_written_leaves_no_token_objects() {
    let Some(h) = HsmHarness::new() else { return };
    let v = vault_conformance::vault_with_admin(&h, &VaultSpec::default());
    v.create_key(&admin(), &NewKeyRequest::new("root"))
        .expect("create");
    let Some(before) = h.objects("privkey") else {
        return;
    };
    let file = walk(h.tmp.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "vault"))
        .expect("a vault file");
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .args([flag, file.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+i") {
        eprintln!("SKIPPED: chattr +i is not available here");
        return;
    }
    let r = v.rotate_key(&admin(), "root", false);
    assert!(chattr("-i"), "chattr -i");
    assert!(
        r.is_err(),
        "the rotation saved into an immutable file: {r:?}"
    );
    let after = h.objects("privkey").expect("list");
    assert_eq!(
        after.len(),
        before.len(),
        "a failed rotation left objects: {after:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
