//! Property tests: the vault's parsers never panic, key ids round-trip, and any change to a
//! vault file or a backup blob is either harmless or refused with the right class, never
//! written back.

use std::path::PathBuf;
use std::sync::OnceLock;

use custkey::vault::{
    validate_key_name, validate_vault_name, ErrorClass, KeyId, KeyOperation, KeyPermission,
    KeyVault, LocalBackend, MasterKeyOptions, NewKeyRequest, NewVaultRequest, Principal,
    RecoveryLevel,
};
use proptest::prelude::*;
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

fn vault_name() -> impl Strategy<Value = String> {
    // Azure's rule, built up rather than filtered: letter, then groups of alphanumerics
    // separated by single hyphens, ending in an alphanumeric.
    "[a-zA-Z]([a-zA-Z0-9]{1,3}-?){1,5}[a-zA-Z0-9]".prop_filter("length 3..=24", |s| {
        (3..=24).contains(&s.len()) && !s.contains("--")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn key_id_parse_never_panics(s in "\\PC{0,120}") {
        if let Ok(id) = KeyId::parse(&s) {
            let again = KeyId::parse(&id.to_string()).expect("printed id parses");
            prop_assert_eq!(again, id);
        }
    }

    #[test]
    fn key_id_like_strings_never_panic(
        host in "[a-zA-Z0-9.-]{0,30}",
        kind in "(keys|secrets|Keys|)",
        name in "[a-zA-Z0-9_-]{0,20}",
        ver in "[0-9a-fA-F]{0,40}",
    ) {
        let s = format!("https://{host}.vault.azure.net/{kind}/{name}/{ver}");
        let _ = KeyId::parse(&s);
    }

    #[test]
    fn valid_parts_round_trip(vault in vault_name(), key in "[a-zA-Z0-9-]{1,127}", v in "[0-9a-f]{32}") {
        let id = KeyId::new(&vault, &key, Some(&v)).expect("valid parts");
        let parsed = KeyId::parse(&id.to_string()).expect("parses");
        prop_assert_eq!(&parsed.vault, &vault.to_ascii_lowercase());
        prop_assert_eq!(&parsed.name, &key);
        prop_assert_eq!(parsed.version.as_deref(), Some(v.as_str()));
        prop_assert!(validate_vault_name(&vault).is_ok());
    }

    #[test]
    fn recovery_level_rules(soft in any::<bool>(), pp in any::<bool>(), protected in any::<bool>(), days in 7u32..=90) {
        let level = RecoveryLevel::derive(soft, pp, protected, days);
        // Purge is possible exactly when nothing protects the vault.
        prop_assert_eq!(level.purge_allowed(), !soft || (!pp && !protected));
        let name = level.as_str();
        prop_assert_eq!(name.contains("ProtectedSubscription"), soft && protected);
        prop_assert_eq!(name.starts_with("Customized"), soft && days < 90);
        prop_assert_eq!(serde_json::to_value(level).expect("json"), serde_json::Value::from(name));
    }

    #[test]
    fn name_rules_hold_for_anything(s in "\\PC{0,40}") {
        if validate_vault_name(&s).is_ok() {
            prop_assert!((3..=24).contains(&s.len()));
            prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            prop_assert!(s.starts_with(|c: char| c.is_ascii_alphabetic()));
            prop_assert!(s.ends_with(|c: char| c.is_ascii_alphanumeric()));
            prop_assert!(!s.contains("--"));
        }
        if validate_key_name(&s).is_ok() {
            prop_assert!(!s.is_empty() && s.len() <= 127);
        }
        let _ = KeyOperation::parse_list(&[s.as_str()]);
        let _ = KeyPermission::parse_list(&[s.as_str()]);
        let _ = Principal::user(&s);
        let _ = Principal::service_principal(&s);
        let _ = Principal::object_id(&s);
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    backend: LocalBackend,
    file: PathBuf,
    good: Vec<u8>,
    backup: Vec<u8>,
    key_n: String,
}

fn admin() -> Principal {
    Principal::user("prop-admin@contoso.example").expect("upn")
}

/// One vault with one key and its backup, made once (RSA generation is the slow part).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut k = [0u8; 32];
        custkey::crypto::random_bytes(&mut k);
        let opts = MasterKeyOptions {
            key_hex: Some(Zeroizing::new(hex::encode(k))),
            passphrase: None,
            use_keyring: false,
            pkcs11_uri: None,
        };
        let backend = LocalBackend::open_with(test_paths(tmp.path()), &opts, None).expect("open");
        backend
            .new_key_vault(
                &admin(),
                &NewVaultRequest::new("prop-vault", "rg", "eastus"),
            )
            .expect("vault");
        let v = backend.vault("prop-vault").expect("open vault");
        let key_n = v
            .create_key(&admin(), &NewKeyRequest::new("k"))
            .expect("key")
            .key
            .n;
        let backup = v.backup_key(&admin(), "k").expect("backup");
        backend
            .new_key_vault(
                &admin(),
                &NewVaultRequest::new("prop-empty", "rg", "eastus"),
            )
            .expect("second vault");
        let file = tmp.path().join("vaults").join("prop-vault.vault");
        let good = std::fs::read(&file).expect("read");
        Fixture {
            key_n,
            _tmp: tmp,
            backend,
            file,
            good,
            backup,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A changed byte in the vault file: the vault either reads the same (a change JSON or hex
    /// does not see, such as a hex digit's case) or fails as Unavailable / Authentication, and
    /// the file is never rewritten.
    #[test]
    fn mutated_vault_file_is_refused_and_untouched(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let f = fixture();
        let mut bad = f.good.clone();
        let i = pos.index(bad.len());
        bad[i] = byte;
        std::fs::write(&f.file, &bad).expect("write");
        match f.backend.vault("prop-vault").and_then(|v| v.get_key(&admin(), "k", None)) {
            Ok(k) => prop_assert_eq!(k.name, "k"),
            Err(e) => prop_assert!(
                matches!(e.class(), ErrorClass::Unavailable | ErrorClass::Authentication),
                "unexpected class {} for a damaged file: {}", e.class(), e
            ),
        }
        prop_assert_eq!(std::fs::read(&f.file).expect("read"), bad);
        std::fs::write(&f.file, &f.good).expect("restore");
    }

    /// A changed or cut backup is refused as Invalid, unless the change is one the format
    /// does not see (then it restores the very same key); never a panic.
    #[test]
    fn mutated_backup_is_invalid(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let f = fixture();
        let mut blob = f.backup.clone();
        let i = pos.index(blob.len());
        if cut { blob.truncate(i) } else { blob[i] = byte }
        let v = f.backend.vault("prop-empty").expect("vault");
        match v.restore_key(&admin(), &blob) {
            Err(e) => prop_assert_eq!(e.class(), ErrorClass::Invalid, "{}", e),
            Ok(k) => {
                prop_assert_eq!(&k.key.n, &f.key_n);
                v.delete_key(&admin(), "k").expect("delete");
                v.purge_key(&admin(), "k").expect("purge");
            }
        }
    }
}
