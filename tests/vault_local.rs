//! The local vault backend: the conformance suite, plus what only this backend has (files,
//! master key sources, the keyring cache, the Azure context) and the bad-input cases of issue 4.
//! Everything runs on real files in a temporary directory and the real kernel keyring.

#[macro_use]
mod vault_conformance;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use custkey::crypto::OaepAlg;
use custkey::vault::local::LocalBackend;
use custkey::vault::master_key::{cache_id, KeyringCache, MasterKeyOptions, MasterKeySource};
use custkey::vault::{
    Caller, ErrorClass, KeyPermission, KeyVault, NewKeyRequest, NewVaultRequest, Principal,
    RecoveryLevel, VaultError, VaultRegistry, EXCHANGE_ONLINE_APP_ID,
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

fn random_hex_key() -> Zeroizing<String> {
    let mut k = [0u8; 32];
    custkey::crypto::random_bytes(&mut k);
    Zeroizing::new(hex::encode(k))
}

fn key_opts(key: &Zeroizing<String>) -> MasterKeyOptions {
    MasterKeyOptions {
        key_hex: Some(key.clone()),
        passphrase: None,
        use_keyring: false,
        pkcs11_uri: None,
    }
}

fn no_opts() -> MasterKeyOptions {
    MasterKeyOptions {
        key_hex: None,
        passphrase: None,
        use_keyring: false,
        pkcs11_uri: None,
    }
}

fn pass_opts(p: &str) -> MasterKeyOptions {
    MasterKeyOptions {
        key_hex: None,
        passphrase: Some(Zeroizing::new(p.to_string())),
        use_keyring: true,
        pkcs11_uri: None,
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

// ---------------------------------------------------------------------------------------------
// The harness

struct LocalHarness {
    tmp: tempfile::TempDir,
    backend: LocalBackend,
    sub_a: String,
    sub_b: String,
    sub_p: String,
    n: AtomicUsize,
}

impl LocalHarness {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let backend =
            LocalBackend::open_with(test_paths(tmp.path()), &key_opts(&random_hex_key()), None)
                .expect("open backend");
        let sub_a = backend
            .set_context("Contoso CK A")
            .expect("sub A")
            .subscription_id;
        let sub_b = backend
            .set_context("Contoso CK B")
            .expect("sub B")
            .subscription_id;
        let sub_p = backend
            .set_context("Contoso CK Protected")
            .expect("sub P")
            .subscription_id;
        backend
            .register_provider_feature("mandatoryRetentionPeriodEnabled", "Microsoft.Resources")
            .expect("register");
        LocalHarness {
            tmp,
            backend,
            sub_a,
            sub_b,
            sub_p,
            n: AtomicUsize::new(0),
        }
    }

    fn vault_dir(&self) -> PathBuf {
        self.tmp.path().join("vaults")
    }
}

impl Harness for LocalHarness {
    fn new_vault(&self, spec: &VaultSpec) -> Box<dyn KeyVault> {
        let sub = match spec.subscription {
            Sub::A => &self.sub_a,
            Sub::B => &self.sub_b,
            Sub::Protected => &self.sub_p,
        };
        self.backend.set_context(sub).expect("select subscription");
        let name = format!("conf-vault-{}", self.n.fetch_add(1, Ordering::SeqCst));
        let mut req = NewVaultRequest::new(&name, "ck-rg", "West Europe");
        req.enable_purge_protection = spec.purge_protection;
        req.soft_delete_retention_in_days = Some(spec.retention_days);
        req.grant_caller_full_access = false;
        if spec.premium {
            req.sku = custkey::vault::VaultSku::Premium;
        }
        let info = self
            .backend
            .new_key_vault(&admin(), &req)
            .expect("new vault");
        assert_eq!(&info.subscription_id, sub);
        Box::new(self.backend.vault(&name).expect("open vault"))
    }

    fn break_vault(&self, _vault: &dyn KeyVault) {
        std::fs::rename(self.vault_dir(), self.tmp.path().join("vaults.offline"))
            .expect("take offline");
    }

    fn repair_vault(&self, _vault: &dyn KeyVault) {
        std::fs::rename(self.tmp.path().join("vaults.offline"), self.vault_dir())
            .expect("bring back");
    }
}

vault_conformance_tests!(LocalHarness::new);

#[test]
fn conformance_run_all_with_rsa_oaep_sha1() {
    // The same suite through `run_all`, with the SHA-1 OAEP variant a PKCS#11 token may need.
    struct Sha1(LocalHarness);
    impl Harness for Sha1 {
        fn new_vault(&self, spec: &VaultSpec) -> Box<dyn KeyVault> {
            self.0.new_vault(spec)
        }
        fn break_vault(&self, v: &dyn KeyVault) {
            self.0.break_vault(v)
        }
        fn repair_vault(&self, v: &dyn KeyVault) {
            self.0.repair_vault(v)
        }
        fn algorithm(&self) -> OaepAlg {
            OaepAlg::RsaOaep
        }
    }
    vault_conformance::run_all(&Sha1(LocalHarness::new()));
}

// ---------------------------------------------------------------------------------------------
// Helpers for the local-only tests

struct Setup {
    tmp: tempfile::TempDir,
    key: Zeroizing<String>,
    backend: LocalBackend,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = random_hex_key();
    let backend =
        LocalBackend::open_with(test_paths(tmp.path()), &key_opts(&key), None).expect("open");
    Setup { tmp, key, backend }
}

fn make_vault(b: &LocalBackend, name: &str) -> custkey::vault::LocalVault {
    b.new_key_vault(&admin(), &NewVaultRequest::new(name, "rg", "eastus"))
        .expect("new vault");
    b.vault(name).expect("open")
}

fn vault_file(s: &Setup, name: &str) -> PathBuf {
    s.tmp
        .path()
        .join("vaults")
        .join(format!("{}.vault", name.to_ascii_lowercase()))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// Files on disk

#[test]
fn files_are_private_and_sealed() {
    let s = setup();
    let v = make_vault(&s.backend, "Files-Vault");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let f = vault_file(&s, "Files-Vault");
    assert_eq!(mode(&f), 0o600);
    assert_eq!(
        mode(&s.tmp.path().join("vaults").join("files-vault.audit.jsonl")),
        0o600
    );
    assert_eq!(mode(&s.tmp.path().join("azure.json")), 0o600);
    assert_eq!(mode(&s.tmp.path().join("vault-master.json")), 0o600);
    assert_eq!(mode(&s.tmp.path().join("vaults")), 0o700);
    // Nothing readable about the keys in the file: the vault state is sealed.
    let text = std::fs::read_to_string(&f).expect("read");
    assert!(text.contains("custkey-local-vault"));
    assert!(!text.contains("\"k\""), "key names are not in the clear");
    assert!(!text.contains("privatePkcs8"));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.tmp.path().join("vaults"))
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn key_file_created_on_first_use_then_reused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = test_paths(tmp.path());
    let b = LocalBackend::open_with(paths.clone(), &no_opts(), None).expect("first open");
    assert_eq!(b.master_key_source(), MasterKeySource::NewKeyFile);
    // The key file is in the configuration directory, never in the data directory.
    let key_file = b.master_key_file().to_path_buf();
    assert!(
        key_file.starts_with(test_config_dir()),
        "{}",
        key_file.display()
    );
    assert!(!tmp.path().join("vault.key").exists());
    assert_eq!(mode(&key_file), 0o600);
    let text = std::fs::read_to_string(&key_file).expect("key file");
    assert_eq!(text.trim().len(), 64);
    let v = make_vault(&b, "kf-vault");
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    drop(b);
    let b2 = LocalBackend::open_with(paths.clone(), &no_opts(), None).expect("second open");
    assert_eq!(b2.master_key_source(), MasterKeySource::KeyFile);
    let got = b2
        .vault("kf-vault")
        .expect("vault")
        .get_key(&admin(), "k", None)
        .expect("get");
    assert_eq!(got.version, k.version);
    // The env key, when it is the same key, works too.
    let same = Zeroizing::new(text.trim().to_string());
    let b3 = LocalBackend::open_with(paths, &key_opts(&same), None).expect("env key");
    assert_eq!(b3.master_key_source(), MasterKeySource::EnvKey);
}

#[test]
fn wrong_master_key_is_authentication_and_changes_nothing() {
    let s = setup();
    let v = make_vault(&s.backend, "auth-vault");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let f = vault_file(&s, "auth-vault");
    let before = std::fs::read(&f).expect("read");
    let paths = test_paths(s.tmp.path());
    assert_eq!(
        class(LocalBackend::open_with(
            paths.clone(),
            &key_opts(&random_hex_key()),
            None
        )),
        ErrorClass::Authentication
    );
    let bad = Zeroizing::new("xyz".to_string());
    assert_eq!(
        class(LocalBackend::open_with(
            paths.clone(),
            &key_opts(&bad),
            None
        )),
        ErrorClass::Authentication
    );
    // No key file (the directory was made with an env key) and no env: a clear error.
    assert_eq!(
        class(LocalBackend::open_with(paths, &no_opts(), None)),
        ErrorClass::Authentication
    );
    assert_eq!(
        std::fs::read(&f).expect("read"),
        before,
        "vault file unchanged"
    );
}

#[test]
fn lost_header_is_rebuilt_only_from_the_right_key() {
    let s = setup();
    make_vault(&s.backend, "header-vault");
    let paths = test_paths(s.tmp.path());
    std::fs::remove_file(&paths.master_header).expect("lose the header");
    // A wrong key cannot become the directory's key while vault files exist.
    assert_eq!(
        class(LocalBackend::open_with(
            paths.clone(),
            &key_opts(&random_hex_key()),
            None
        )),
        ErrorClass::Authentication
    );
    assert!(
        !paths.master_header.exists(),
        "no header written from a wrong key"
    );
    // The right key rebuilds it.
    let b = LocalBackend::open_with(paths.clone(), &key_opts(&s.key), None).expect("right key");
    b.vault("header-vault").expect("opens");
    assert!(paths.master_header.exists());
}

#[test]
fn vault_file_from_another_directory_is_authentication() {
    let s1 = setup();
    let s2 = setup();
    make_vault(&s1.backend, "moved-vault");
    std::fs::copy(
        vault_file(&s1, "moved-vault"),
        vault_file(&s2, "moved-vault"),
    )
    .expect("copy");
    let before = std::fs::read(vault_file(&s2, "moved-vault")).expect("read");
    assert_eq!(
        class(s2.backend.vault("moved-vault")),
        ErrorClass::Authentication
    );
    assert_eq!(
        std::fs::read(vault_file(&s2, "moved-vault")).expect("read"),
        before
    );
}

#[test]
fn tampered_or_truncated_vault_file_is_unavailable_and_left_unchanged() {
    let s = setup();
    let v = make_vault(&s.backend, "tamper-vault");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    v.set_access_policy(
        &admin(),
        &Principal::service_principal(EXCHANGE_ONLINE_APP_ID).expect("sp"),
        &[KeyPermission::UnwrapKey],
    )
    .expect("grant");
    let f = vault_file(&s, "tamper-vault");
    let good = std::fs::read(&f).expect("read");

    // Flip one hex digit inside the sealed payload.
    let text = String::from_utf8(good.clone()).expect("utf8");
    let at = text.find("\"payload\":\"").expect("payload") + 11 + 40;
    let mut tampered = good.clone();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let truncated = good[..good.len() / 2].to_vec();

    for (what, bytes) in [
        ("tampered", tampered),
        ("truncated", truncated),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&f, &bytes).expect("write");
        assert_eq!(
            class(s.backend.vault("tamper-vault")),
            ErrorClass::Unavailable,
            "{what}: open"
        );
        assert_eq!(
            class(v.get_key(&admin(), "k", None)),
            ErrorClass::Unavailable,
            "{what}: get"
        );
        assert_eq!(
            class(v.create_key(&admin(), &NewKeyRequest::new("k2"))),
            ErrorClass::Unavailable,
            "{what}: create"
        );
        assert_eq!(
            class(v.set_access_policy(&admin(), &admin(), &[KeyPermission::Get])),
            ErrorClass::Unavailable,
            "{what}: policy"
        );
        assert_eq!(
            std::fs::read(&f).expect("read"),
            bytes,
            "{what}: bytes unchanged"
        );
    }
    std::fs::write(&f, &good).expect("restore good copy");
    v.get_key(&admin(), "k", None)
        .expect("works with the good copy");
}

#[test]
fn unreadable_vault_file_or_missing_directory_is_unavailable() {
    let s = setup();
    let v = make_vault(&s.backend, "io-vault");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let f = vault_file(&s, "io-vault");
    // A directory where the file should be: reading fails with an I/O error (root ignores
    // permission bits, so this is how a test makes the file unreadable).
    let saved = std::fs::read(&f).expect("read");
    std::fs::remove_file(&f).expect("rm");
    std::fs::create_dir(&f).expect("mkdir");
    assert_eq!(
        class(v.get_key(&admin(), "k", None)),
        ErrorClass::Unavailable
    );
    std::fs::remove_dir(&f).expect("rmdir");
    std::fs::write(&f, &saved).expect("put back");
    // The whole vault directory missing.
    let dir = s.tmp.path().join("vaults");
    std::fs::rename(&dir, s.tmp.path().join("elsewhere")).expect("mv");
    let e = v
        .wrap_key(&admin(), "k", None, OaepAlg::RsaOaep256, &[7u8; 32])
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unavailable);
    assert!(e.is_system_error());
    assert_eq!(class(s.backend.vault("io-vault")), ErrorClass::Unavailable);
    assert_eq!(
        class(v.get_key(&admin(), "k", None)),
        ErrorClass::Unavailable
    );
    assert_eq!(class(v.properties()), ErrorClass::Unavailable);
    assert_eq!(class(v.list_keys(&admin())), ErrorClass::Unavailable);
    assert_eq!(
        class(v.audit_log(&custkey::vault::AuditQuery::default())),
        ErrorClass::Unavailable
    );
    std::fs::rename(s.tmp.path().join("elsewhere"), &dir).expect("mv back");
    v.wrap_key(&admin(), "k", None, OaepAlg::RsaOaep256, &[7u8; 32])
        .expect("back");
}

#[test]
fn bad_input_leaves_files_unchanged() {
    let s = setup();
    let v = make_vault(&s.backend, "bad-input");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let blob = v.backup_key(&admin(), "k").expect("backup");
    let f = vault_file(&s, "bad-input");
    let before = std::fs::read(&f).expect("read");

    let mut small = NewKeyRequest::new("small");
    small.size = 1024;
    assert_eq!(class(v.create_key(&admin(), &small)), ErrorClass::Invalid);
    assert_eq!(
        class(custkey::vault::KeyOperation::parse_list(&[
            "wrapKey", "unwrap"
        ])),
        ErrorClass::Invalid
    );
    assert_eq!(
        class(v.restore_key(&admin(), &blob)),
        ErrorClass::Invalid,
        "name exists"
    );
    let mut tampered = blob.clone();
    let last = tampered.len() - 10;
    tampered[last] ^= 1;
    assert_eq!(
        class(v.restore_key(&admin(), &tampered)),
        ErrorClass::Invalid
    );
    assert_eq!(
        class(v.import_key(&admin(), &NewKeyRequest::new("imp"), b"not a key")),
        ErrorClass::Invalid
    );
    assert_eq!(
        std::fs::read(&f).expect("read"),
        before,
        "vault file unchanged"
    );

    // A backup from another subscription.
    s.backend.set_context("Other Subscription").expect("ctx");
    let other = make_vault(&s.backend, "other-sub");
    let of = vault_file(&s, "other-sub");
    let other_before = std::fs::read(&of).expect("read");
    let e = other.restore_key(&admin(), &blob).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("subscription"), "{e}");
    assert_eq!(std::fs::read(&of).expect("read"), other_before);

    // Invalid vault names: Invalid, and no file appears.
    for bad in [
        "ab",
        "1vault",
        "bad--name",
        "trailing-",
        "under_score",
        "x".repeat(25).as_str(),
    ] {
        assert_eq!(
            class(
                s.backend
                    .new_key_vault(&admin(), &NewVaultRequest::new(bad, "rg", "eastus"))
            ),
            ErrorClass::Invalid,
            "{bad}"
        );
    }
    let names: Vec<String> = std::fs::read_dir(s.tmp.path().join("vaults"))
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".vault"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Retention out of range.
    let mut r = NewVaultRequest::new("retention-vault", "rg", "eastus");
    r.soft_delete_retention_in_days = Some(6);
    assert_eq!(
        class(s.backend.new_key_vault(&admin(), &r)),
        ErrorClass::Invalid
    );
}

#[test]
fn hsm_keys_need_a_premium_vault() {
    let s = setup();
    let v = make_vault(&s.backend, "standard-vault");
    let mut req = NewKeyRequest::new("hsm");
    req.destination = custkey::vault::KeyDestination::Hsm;
    let e = v.create_key(&admin(), &req).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("Premium"), "{e}");
    req.destination = custkey::vault::KeyDestination::Software;
    assert_eq!(
        v.create_key(&admin(), &req).expect("software key").key_type,
        "RSA"
    );

    // An HSM key's backup does not restore into a Standard vault either.
    let mut premium = NewVaultRequest::new("premium-vault", "rg", "eastus");
    premium.sku = custkey::vault::VaultSku::Premium;
    s.backend
        .new_key_vault(&admin(), &premium)
        .expect("premium vault");
    let p = s.backend.vault("premium-vault").expect("open");
    let mut hsm = NewKeyRequest::new("hsm-root");
    hsm.destination = custkey::vault::KeyDestination::Hsm;
    assert_eq!(
        p.create_key(&admin(), &hsm).expect("hsm key").key_type,
        "RSA-HSM"
    );
    let blob = p.backup_key(&admin(), "hsm-root").expect("backup");
    let before = std::fs::read(vault_file(&s, "standard-vault")).expect("read");
    let e = v.restore_key(&admin(), &blob).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("Standard"), "{e}");
    assert_eq!(
        std::fs::read(vault_file(&s, "standard-vault")).expect("read"),
        before
    );
}

#[test]
fn import_key_pkcs8() {
    let s = setup();
    let v = make_vault(&s.backend, "import-vault");
    let private = custkey::crypto::RsaPrivateKey::generate(2048).expect("gen");
    let der = private.to_pkcs8_der();
    let k = v
        .import_key(&admin(), &NewKeyRequest::new("byok"), &der)
        .expect("import");
    assert_eq!(k.key_size, 2048);
    let wrapped = private
        .public_key()
        .oaep_wrap(OaepAlg::RsaOaep256, &[9u8; 32])
        .expect("wrap");
    let back = v
        .unwrap_key(&admin(), "byok", None, OaepAlg::RsaOaep256, &wrapped)
        .expect("unwrap");
    assert_eq!(back.as_slice(), &[9u8; 32]);
    // Import needs the import permission, not create.
    let other = Principal::user("creator@contoso.example").expect("upn");
    v.set_access_policy(&admin(), &other, &[KeyPermission::Create])
        .expect("grant");
    assert_eq!(
        class(v.import_key(&other, &NewKeyRequest::new("byok2"), &der)),
        ErrorClass::AccessDenied
    );
}

// ---------------------------------------------------------------------------------------------
// Passphrase and the keyring cache

#[test]
fn passphrase_wrong_and_right() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = test_paths(tmp.path());
    let mut opts = pass_opts("correct horse battery staple");
    opts.use_keyring = false;
    let b = LocalBackend::open_with(paths.clone(), &opts, None).expect("first open");
    assert_eq!(b.master_key_source(), MasterKeySource::EnvPassphrase);
    assert!(
        !b.master_key_file().exists(),
        "no key file in passphrase mode"
    );
    make_vault(&b, "pp-vault");
    let before = std::fs::read(paths.vault_dir.join("pp-vault.vault")).expect("read");
    let mut wrong = pass_opts("incorrect horse");
    wrong.use_keyring = false;
    assert_eq!(
        class(LocalBackend::open_with(paths.clone(), &wrong, None)),
        ErrorClass::Authentication
    );
    // Without the passphrase (and without a keyring) the error says what to set.
    let e = LocalBackend::open_with(paths.clone(), &no_opts(), None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Authentication);
    assert!(e.message().contains("CUSTKEY_VAULT_PASSPHRASE"), "{e}");
    assert_eq!(
        std::fs::read(paths.vault_dir.join("pp-vault.vault")).expect("read"),
        before
    );
    LocalBackend::open_with(paths, &opts, None)
        .expect("right passphrase")
        .vault("pp-vault")
        .expect("opens");
}

#[test]
fn keyring_cache_used_when_available_and_bypassed_when_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = test_paths(tmp.path());
    let cache = KeyringCache::open();
    let available = cache.as_ref().is_some_and(KeyringCache::probe);
    eprintln!("kernel keyring available: {available}");

    let b = LocalBackend::open_with(
        paths.clone(),
        &pass_opts("keyring test passphrase"),
        cache.as_ref(),
    )
    .expect("open with passphrase");
    let id = cache_id(tmp.path()).expect("the header names the cache entry");
    assert_eq!(b.master_key_source(), MasterKeySource::EnvPassphrase);
    make_vault(&b, "kr-vault");

    let mut no_pass = no_opts();
    no_pass.use_keyring = true;
    if available {
        let c = cache.as_ref().expect("cache");
        assert!(c.get(&id).is_some(), "the resolved key was cached");
        // A later open with no passphrase finds the key in the keyring.
        let b2 =
            LocalBackend::open_with(paths.clone(), &no_pass, Some(c)).expect("open from cache");
        assert_eq!(b2.master_key_source(), MasterKeySource::KeyringCache);
        b2.vault("kr-vault")
            .expect("vault opens with the cached key");

        // A wrong entry is ignored (and dropped), never trusted.
        assert!(c.set(&id, &[0x42u8; 32]));
        assert_eq!(
            class(LocalBackend::open_with(paths.clone(), &no_pass, Some(c))),
            ErrorClass::Authentication
        );
        assert!(c.get(&id).is_none(), "the stale entry was removed");
        // A malformed entry (wrong length) likewise.
        assert!(c.set(&id, b"short"));
        assert_eq!(
            class(LocalBackend::open_with(paths.clone(), &no_pass, Some(c))),
            ErrorClass::Authentication
        );
        // The passphrase repairs it.
        LocalBackend::open_with(
            paths.clone(),
            &pass_opts("keyring test passphrase"),
            Some(c),
        )
        .expect("repair");
        assert_eq!(
            LocalBackend::open_with(paths.clone(), &no_pass, Some(c))
                .expect("cached again")
                .master_key_source(),
            MasterKeySource::KeyringCache
        );
        c.delete(&id);
    }
    // Without a keyring (unavailable, or CUSTKEY_KEYRING=off) the cache is simply bypassed.
    let e = LocalBackend::open_with(paths.clone(), &no_pass, None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Authentication);
    LocalBackend::open_with(paths, &pass_opts("keyring test passphrase"), None)
        .expect("works without keyring");
}

#[test]
fn key_file_mode_with_wrong_keyring_entry_falls_back_to_key_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = test_paths(tmp.path());
    let Some(cache) = KeyringCache::open().filter(KeyringCache::probe) else {
        eprintln!("no kernel keyring here: only the bypass is checked");
        let mut o = no_opts();
        o.use_keyring = true;
        LocalBackend::open_with(paths, &o, None).expect("open without keyring");
        return;
    };
    let mut o = no_opts();
    o.use_keyring = true;
    let b = LocalBackend::open_with(paths.clone(), &o, Some(&cache)).expect("first");
    let id = cache_id(tmp.path()).expect("the header names the cache entry");
    assert_eq!(b.master_key_source(), MasterKeySource::NewKeyFile);
    assert_eq!(
        LocalBackend::open_with(paths.clone(), &o, Some(&cache))
            .expect("second")
            .master_key_source(),
        MasterKeySource::KeyringCache
    );
    cache.set(&id, &[1u8; 32]);
    assert_eq!(
        LocalBackend::open_with(paths.clone(), &o, Some(&cache))
            .expect("wrong entry")
            .master_key_source(),
        MasterKeySource::KeyFile
    );
    cache.delete(&id);
    assert_eq!(
        LocalBackend::open_with(paths, &o, Some(&cache))
            .expect("missing entry")
            .master_key_source(),
        MasterKeySource::KeyFile
    );
    cache.delete(&id);
}

// ---------------------------------------------------------------------------------------------
// Azure context, vault properties, registry

#[test]
fn azure_context_and_recovery_level() {
    let s = setup();
    let b = &s.backend;
    let ctx = b
        .set_context("11111111-aaaa-bbbb-cccc-000000000001")
        .expect("set by id");
    assert_eq!(ctx.subscription_id, "11111111-aaaa-bbbb-cccc-000000000001");
    let f = b
        .get_provider_feature("mandatoryRetentionPeriodEnabled", "Microsoft.Resources")
        .expect("get");
    assert_eq!(f.registration_state, "NotRegistered");
    let mut req = NewVaultRequest::new("Contoso-CK-EX-NA-VaultA1", "Contoso-CK-RG", "West US");
    req.sku = custkey::vault::VaultSku::Premium;
    let info = b.new_key_vault(&admin(), &req).expect("vault");
    assert_eq!(info.recovery_level, RecoveryLevel::RecoverablePurgeable);
    assert_eq!(info.location, "westus");
    assert_eq!(
        info.vault_uri,
        "https://contoso-ck-ex-na-vaulta1.vault.azure.net/"
    );
    assert!(info.enable_soft_delete);
    assert_eq!(info.soft_delete_retention_in_days, 90);
    // The creator got every key permission (grant_caller_full_access defaults to true).
    assert_eq!(info.access_policies.len(), 1);
    assert_eq!(
        info.access_policies[0].permissions_to_keys.len(),
        KeyPermission::ALL.len()
    );

    assert_eq!(
        b.azure()
            .get_resource_provider("Microsoft.KeyVault")
            .expect("rp")
            .registration_state,
        "NotRegistered"
    );
    b.azure()
        .register_resource_provider("Microsoft.KeyVault")
        .expect("register rp");
    assert_eq!(
        b.azure()
            .get_resource_provider("microsoft.keyvault")
            .expect("rp")
            .registration_state,
        "Registered"
    );
    assert_eq!(
        class(b.register_provider_feature("bad feature!", "Microsoft.Resources")),
        ErrorClass::Invalid
    );
    let reg = b
        .register_provider_feature("mandatoryRetentionPeriodEnabled", "Microsoft.Resources")
        .expect("register");
    assert_eq!(reg.registration_state, "Registered");
    assert_eq!(
        b.get_provider_feature("MANDATORYRETENTIONPERIODENABLED", "microsoft.resources")
            .expect("get")
            .registration_state,
        "Registered"
    );
    let info = b
        .get_key_vault("contoso-ck-ex-na-vaulta1")
        .expect("get vault");
    assert_eq!(
        info.recovery_level,
        RecoveryLevel::RecoverableProtectedSubscription
    );
    let k = b
        .vault("Contoso-CK-EX-NA-VaultA1")
        .expect("vault")
        .create_key(&admin(), &NewKeyRequest::new("k1"))
        .expect("key");
    assert_eq!(
        k.recovery_level.as_str(),
        "Recoverable+ProtectedSubscription"
    );

    // The cmdlet-facing JSON uses Azure PowerShell's property names.
    let json = serde_json::to_value(&info).expect("json");
    for field in [
        "VaultName",
        "ResourceGroupName",
        "Location",
        "Sku",
        "EnableSoftDelete",
        "EnablePurgeProtection",
        "SoftDeleteRetentionInDays",
        "AccessPolicies",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    assert_eq!(json["Sku"], "Premium");
    assert_eq!(json["AccessPolicies"][0]["PermissionsToKeys"][0], "decrypt");
    let kj = serde_json::to_value(&k).expect("json");
    for field in [
        "VaultName",
        "Name",
        "Version",
        "Id",
        "Enabled",
        "Expires",
        "NotBefore",
        "Created",
        "Updated",
        "RecoveryLevel",
        "KeyType",
        "KeySize",
        "KeyOps",
        "Tags",
    ] {
        assert!(kj.get(field).is_some(), "{field} in {kj}");
    }
    assert_eq!(kj["RecoveryLevel"], "Recoverable+ProtectedSubscription");
    assert_eq!(
        kj["Attributes"]["RecoveryLevel"],
        "Recoverable+ProtectedSubscription"
    );
    assert_eq!(kj["Attributes"]["Enabled"], true);
    assert_eq!(kj["Key"]["kty"], "RSA");
    assert_eq!(kj["Key"]["e"], "AQAB");
    assert!(kj.get("PublicKeyDer").is_none());
    // A deleted key: the key's properties plus the deletion data, flat.
    let v = b.vault("Contoso-CK-EX-NA-VaultA1").expect("vault");
    let d = v.delete_key(&admin(), "k1").expect("delete");
    let dj = serde_json::to_value(&d).expect("json");
    for field in [
        "Name",
        "Version",
        "RecoveryId",
        "DeletedDate",
        "ScheduledPurgeDate",
    ] {
        assert!(dj.get(field).is_some(), "{field} in {dj}");
    }
    v.recover_key(&admin(), "k1").expect("recover");

    // The vault belongs to its subscription whatever the current context.
    b.set_context("Another").expect("switch");
    assert_eq!(
        b.get_key_vault("Contoso-CK-EX-NA-VaultA1")
            .expect("get")
            .subscription_id,
        "11111111-aaaa-bbbb-cccc-000000000001"
    );
    assert_eq!(b.list_key_vaults().expect("list").len(), 1);
    assert_eq!(b.azure().list_subscriptions().expect("subs").len(), 2);
    // The name is taken.
    assert_eq!(
        class(b.new_key_vault(
            &admin(),
            &NewVaultRequest::new("contoso-ck-ex-na-vaulta1", "rg", "eastus")
        )),
        ErrorClass::Invalid
    );
}

#[test]
fn vault_remove_undo_purge() {
    let s = setup();
    let b = &s.backend;
    make_vault(b, "gone-vault");
    b.remove_key_vault(&admin(), "gone-vault").expect("remove");
    assert_eq!(class(b.get_key_vault("gone-vault")), ErrorClass::NotFound);
    assert_eq!(b.list_removed_key_vaults().expect("removed").len(), 1);
    assert_eq!(
        class(b.new_key_vault(
            &admin(),
            &NewVaultRequest::new("gone-vault", "rg", "eastus")
        )),
        ErrorClass::Invalid
    );
    b.undo_remove_key_vault(&admin(), "gone-vault")
        .expect("undo");
    b.get_key_vault("gone-vault").expect("back");
    b.remove_key_vault(&admin(), "gone-vault")
        .expect("remove again");
    b.purge_key_vault(&admin(), "gone-vault").expect("purge");
    assert!(b.list_removed_key_vaults().expect("removed").is_empty());
    make_vault(b, "gone-vault");

    // Purge protection keeps a removed vault.
    let mut req = NewVaultRequest::new("kept-vault", "rg", "eastus");
    req.enable_purge_protection = true;
    b.new_key_vault(&admin(), &req).expect("vault");
    b.remove_key_vault(&admin(), "kept-vault").expect("remove");
    let e = b.purge_key_vault(&admin(), "kept-vault").unwrap_err();
    assert_eq!(e.class(), ErrorClass::Invalid);
    assert!(e.message().contains("purge protection"), "{e}");
    // Purge protection, once on, stays on.
    b.undo_remove_key_vault(&admin(), "kept-vault")
        .expect("undo");
    let info = b
        .update_key_vault(&admin(), "kept-vault", false, None)
        .expect("update");
    assert!(info.enable_purge_protection);
}

#[test]
fn registry_resolves_key_ids() {
    let s = setup();
    let v = make_vault(&s.backend, "Reg-Vault");
    let k = v
        .create_key(&admin(), &NewKeyRequest::new("dep-root"))
        .expect("create");
    let sp: Caller = Principal::service_principal("Office 365 Exchange Online").expect("sp");
    v.set_access_policy(
        &admin(),
        &sp,
        &[
            KeyPermission::WrapKey,
            KeyPermission::UnwrapKey,
            KeyPermission::Get,
        ],
    )
    .expect("grant");
    let mut reg = VaultRegistry::new();
    reg.add_provider(Arc::new(s.backend.clone()));

    let versionless = "https://reg-vault.vault.azure.net/keys/dep-root";
    let w = reg
        .wrap_key(&sp, versionless, OaepAlg::RsaOaep256, &[5u8; 32])
        .expect("wrap by id");
    assert_eq!(w.kid, k.id);
    let back = reg
        .unwrap_key(&sp, &w.kid, OaepAlg::RsaOaep256, &w.value)
        .expect("unwrap by id");
    assert_eq!(back.as_slice(), &[5u8; 32]);
    assert_eq!(
        reg.get_key(&sp, &k.id).expect("get by id").version,
        k.version
    );
    let (vault, id) = reg
        .resolve("HTTPS://REG-VAULT.vault.azure.net/keys/dep-root/")
        .expect("resolve");
    assert_eq!(vault.vault_name(), "Reg-Vault");
    assert_eq!(id.version, None);
    assert_eq!(
        class(
            reg.resolve("https://nope-vault.vault.azure.net/keys/k")
                .map(|_| ())
        ),
        ErrorClass::NotFound
    );
    assert_eq!(
        class(
            reg.resolve("https://reg-vault.example.com/keys/k")
                .map(|_| ())
        ),
        ErrorClass::Invalid
    );
    // A vault registered directly resolves too.
    let mut reg2 = VaultRegistry::new();
    reg2.add_vault(Arc::new(v));
    reg2.get_key(&sp, versionless).expect("direct vault");
}

#[test]
fn concurrent_writers_do_not_lose_versions() {
    let s = setup();
    let v = make_vault(&s.backend, "busy-vault");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let v = v.clone();
            scope.spawn(move || {
                v.create_key(&admin(), &NewKeyRequest::new("k"))
                    .expect("create");
            });
        }
    });
    assert_eq!(
        v.list_key_versions(&admin(), "k").expect("versions").len(),
        4
    );
    // A second process-like handle sees the same state.
    let again =
        LocalBackend::open_with(test_paths(s.tmp.path()), &key_opts(&s.key), None).expect("reopen");
    assert_eq!(
        again
            .vault("busy-vault")
            .expect("vault")
            .list_key_versions(&admin(), "k")
            .expect("versions")
            .len(),
        4
    );
}

// ---------------------------------------------------------------------------------------------
// The documented file format, read and rewritten from outside (docs/vaults.md §6)

/// Open a vault file as docs/vaults.md describes it, let `f` change the state JSON, seal it again.
fn rewrite_state(file: &Path, key_hex: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).expect("read")).expect("envelope");
    assert_eq!(env["format"], "custkey-local-vault");
    assert_eq!(env["version"], 1);
    let stem = env["vault"].as_str().expect("vault").to_string();
    let mut raw = [0u8; 32];
    hex::decode_to_slice(key_hex, &mut raw).expect("key hex");
    let key = custkey::crypto::SecretKey32::from_bytes(raw);
    let check = hex::decode(env["keyCheck"].as_str().expect("check")).expect("hex");
    let text =
        custkey::crypto::open(&key, b"custkey-local-vault-keycheck/v1", &check).expect("key check");
    assert_eq!(text.as_slice(), b"custkey local vault");
    let aad = format!("custkey-local-vault/v1|{stem}");
    let sealed = hex::decode(env["payload"].as_str().expect("payload")).expect("hex");
    let plain = custkey::crypto::open(&key, aad.as_bytes(), &sealed).expect("payload opens");
    let mut state: serde_json::Value = serde_json::from_slice(&plain).expect("state");
    f(&mut state);
    let plain = serde_json::to_vec(&state).expect("encode");
    let sealed = custkey::crypto::seal(&key, aad.as_bytes(), &plain).expect("seal");
    env["payload"] = serde_json::Value::String(hex::encode(sealed));
    std::fs::write(file, serde_json::to_vec(&env).expect("encode")).expect("write");
}

#[test]
fn documented_format_opens_and_retention_expiry_purges() {
    let s = setup();
    let v = make_vault(&s.backend, "expiry-vault");
    v.create_key(&admin(), &NewKeyRequest::new("old-key"))
        .expect("create");
    v.delete_key(&admin(), "old-key").expect("delete");
    let f = vault_file(&s, "expiry-vault");
    // The state holds what the docs say, and no private key in the clear outside the seal.
    rewrite_state(&f, &s.key, |st| {
        assert_eq!(st["vaultName"], "expiry-vault");
        assert_eq!(st["deletedKeys"][0]["key"]["name"], "old-key");
        assert!(st["deletedKeys"][0]["key"]["versions"][0]["privatePkcs8"].is_string());
        // Move the deletion 91 days into the past: the scheduled purge has passed.
        let past = (chrono::Utc::now() - chrono::Duration::days(91)).to_rfc3339();
        st["deletedKeys"][0]["deletedDate"] = past.clone().into();
        st["deletedKeys"][0]["scheduledPurgeDate"] = (chrono::Utc::now()
            - chrono::Duration::days(1))
        .to_rfc3339()
        .into();
    });
    assert!(
        v.list_deleted_keys(&admin()).expect("list").is_empty(),
        "purged by the system"
    );
    assert_eq!(
        class(v.recover_key(&admin(), "old-key")),
        ErrorClass::NotFound
    );
    v.create_key(&admin(), &NewKeyRequest::new("old-key"))
        .expect("name free again");

    // A removed vault past its retention is purged too: gone from the lists, name free.
    s.backend
        .remove_key_vault(&admin(), "expiry-vault")
        .expect("remove vault");
    rewrite_state(&f, &s.key, |st| {
        st["deletedDate"] = (chrono::Utc::now() - chrono::Duration::days(91))
            .to_rfc3339()
            .into();
    });
    assert!(s
        .backend
        .list_removed_key_vaults()
        .expect("removed")
        .is_empty());
    assert_eq!(
        class(s.backend.undo_remove_key_vault(&admin(), "expiry-vault")),
        ErrorClass::NotFound
    );
    let fresh = make_vault(&s.backend, "expiry-vault");
    assert!(
        fresh.list_keys(&admin()).expect("keys").is_empty(),
        "a new, empty vault"
    );
    let log = fresh
        .audit_log(&custkey::vault::AuditQuery::default())
        .expect("log");
    assert!(
        log.iter()
            .all(|r| r.operation != custkey::vault::VaultOperation::DeleteKey),
        "the new vault starts a fresh audit log"
    );
}

#[test]
fn audit_log_chain_detects_tampering() {
    let s = setup();
    let v = make_vault(&s.backend, "chain-vault");
    v.create_key(&admin(), &NewKeyRequest::new("k"))
        .expect("create");
    let sp = Principal::service_principal(EXCHANGE_ONLINE_APP_ID).expect("sp");
    let w = v
        .wrap_key(&admin(), "k", None, OaepAlg::RsaOaep256, &[1u8; 32])
        .expect("wrap");
    assert!(v
        .unwrap_key(&sp, "k", None, OaepAlg::RsaOaep256, &w.value)
        .is_err());
    v.get_key(&admin(), "k", None).expect("get");
    let ok = v.verify_audit_log().expect("verify");
    assert!(ok.intact, "{ok:?}");
    assert_eq!(ok.records, 5);
    assert!(!ok.torn_tail);

    let log = s.tmp.path().join("vaults").join("chain-vault.audit.jsonl");
    let good = std::fs::read_to_string(&log).expect("read");
    let lines: Vec<&str> = good.lines().collect();
    assert!(lines[3].contains("AccessDenied"));

    // Rewrite the denied unwrap as a success: found at that line.
    let forged = good.replacen("\"Result\":\"AccessDenied\"", "\"Result\":\"Success\"", 1);
    std::fs::write(&log, &forged).expect("write");
    let r = v.verify_audit_log().expect("verify");
    assert!(!r.intact);
    assert_eq!(r.first_bad_line, Some(4));

    // Drop a record in the middle: the next one no longer chains.
    let mut dropped: Vec<&str> = lines.clone();
    dropped.remove(1);
    std::fs::write(&log, dropped.join("\n") + "\n").expect("write");
    assert_eq!(
        v.verify_audit_log().expect("verify").first_bad_line,
        Some(2)
    );

    // A torn last line (a crash mid-write) is reported as such, not as tampering, and the
    // next append chains onto the last complete record.
    std::fs::write(&log, format!("{good}{{\"Time\":\"2026-")).expect("write");
    let t = v.verify_audit_log().expect("verify");
    assert!(t.intact && t.torn_tail && t.records == 5, "{t:?}");
    std::fs::write(&log, &good).expect("restore");
    v.get_key(&admin(), "k", None).expect("get");
    let after = v.verify_audit_log().expect("verify");
    assert!(after.intact);
    assert_eq!(after.records, 6);
    // Queries still read the records.
    assert_eq!(
        v.audit_log(&custkey::vault::AuditQuery::default())
            .expect("query")
            .len(),
        6
    );
}

#[test]
fn registry_across_backends_classifies_failures_for_the_fallback_rule() {
    // Two customer keys for one DEP, in vaults held by two different backends (here two data
    // directories, as two subscriptions' vaults would be).
    let a = setup();
    let b = setup();
    let va = make_vault(&a.backend, "dep-vault-a");
    let vb = make_vault(&b.backend, "dep-vault-b");
    let sp = Principal::service_principal(EXCHANGE_ONLINE_APP_ID).expect("sp");
    let perms = [
        KeyPermission::WrapKey,
        KeyPermission::UnwrapKey,
        KeyPermission::Get,
    ];
    for v in [&va, &vb] {
        v.create_key(&admin(), &NewKeyRequest::new("root"))
            .expect("key");
        v.set_access_policy(&admin(), &sp, &perms).expect("grant");
    }
    let mut reg = a.backend.registry();
    reg.add_provider(Arc::new(b.backend.clone()));
    let dek = [3u8; 32];
    let wa = reg
        .wrap_key(
            &sp,
            "https://dep-vault-a.vault.azure.net/keys/root",
            OaepAlg::RsaOaep256,
            &dek,
        )
        .expect("wrap a");
    let wb = reg
        .wrap_key(
            &sp,
            "https://dep-vault-b.vault.azure.net/keys/root",
            OaepAlg::RsaOaep256,
            &dek,
        )
        .expect("wrap b");
    let unwrap =
        |w: &custkey::vault::WrapResult| reg.unwrap_key(&sp, &w.kid, w.algorithm, &w.value);
    assert_eq!(unwrap(&wa).expect("a").as_slice(), &dek);
    assert_eq!(unwrap(&wb).expect("b").as_slice(), &dek);

    // Vault B unreachable: a system error. Vault A revoked: access denied, not a system error.
    let dir_b = b.tmp.path().join("vaults");
    std::fs::rename(&dir_b, b.tmp.path().join("gone")).expect("take B offline");
    let eb = unwrap(&wb).unwrap_err();
    assert_eq!(eb.class(), ErrorClass::Unavailable);
    assert!(eb.is_system_error());
    assert_eq!(eb.class().exit_code(), 3);
    assert_eq!(unwrap(&wa).expect("A still works").as_slice(), &dek);
    // With B's provider first and unreachable, vault A is still found through the next one.
    let mut reg_b_first = b.backend.registry();
    reg_b_first.add_provider(Arc::new(a.backend.clone()));
    reg_b_first
        .get_key(&sp, "https://dep-vault-a.vault.azure.net/keys/root")
        .expect("A found past an unreachable provider");
    va.remove_access_policy(&admin(), &sp).expect("revoke A");
    let ea = unwrap(&wa).unwrap_err();
    assert_eq!(ea.class(), ErrorClass::AccessDenied);
    assert!(!ea.is_system_error());
    assert_eq!(ea.class().exit_code(), 1);
    std::fs::rename(b.tmp.path().join("gone"), &dir_b).expect("B back");
    assert_eq!(unwrap(&wb).expect("B back").as_slice(), &dek);
}

#[test]
fn root_key_conformance_suite_on_local_vaults() {
    let h = LocalHarness::new();
    vault_conformance::roots::run_all(&vault_conformance::roots::VaultRootHarness::new(
        &h,
        custkey::vault::local::BACKEND,
    ));
}
