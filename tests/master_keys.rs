//! Where the master keys live (issue 14): never inside the data directory. A copy of a data
//! directory opens nothing; the old layout (keys beside the store) is migrated; the keyring
//! cache has a bounded lifetime, drops superseded entries and can be cleared. Real binary, real
//! files, the real kernel keyring.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, EXO};

/// Authentication failures exit with 1 (docs/cli.md, "Exit codes").
const AUTH: i32 = 1;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The one key file of `kind` (`vault`, `service`) in a configuration directory.
fn key_file(config: &Path, kind: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(config)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("{kind}-")) && n.ends_with(".key")
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} key file in {}",
        config.display()
    );
    found[0].clone()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The full setup guide plus mail content, so every kind of sealed state exists.
fn full_setup() -> Env {
    let e = Env::new();
    e.setup();
    let (mail, _mbox) = e.write_mail();
    e.ok(&[
        "New-MailboxImportRequest",
        "-Mailbox",
        "alice",
        "-FilePath",
        mail.to_str().unwrap(),
    ]);
    e
}

#[test]
fn a_copy_of_the_data_directory_opens_nothing_and_holds_no_master_key() {
    let e = full_setup();
    let vault_key = std::fs::read_to_string(key_file(e.config.path(), "vault")).unwrap();
    let service_key = std::fs::read_to_string(key_file(e.config.path(), "service")).unwrap();
    for (k, name) in [(&vault_key, "vault"), (&service_key, "service")] {
        assert_eq!(k.trim().len(), 64, "{name} key file");
    }
    assert!(!e.path("vault.key").exists() && !e.path("service.key").exists());

    // No file of the data directory holds either key: raw bytes, lower or upper case hex.
    for k in [&vault_key, &service_key] {
        let hexed = k.trim().to_string();
        let raw = hex::decode(&hexed).unwrap();
        for f in files_under(e.dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            for needle in [
                raw.as_slice(),
                hexed.as_bytes(),
                hexed.to_uppercase().as_bytes(),
            ] {
                assert!(
                    !contains(&bytes, needle),
                    "{} holds a master key",
                    f.display()
                );
            }
        }
    }

    // The copy, on a "machine" with an empty configuration directory and no env keys.
    let copy = Env {
        dir: tempfile::tempdir().unwrap(),
        config: tempfile::tempdir().unwrap(),
        extra: Vec::new(),
    };
    copy_dir(e.dir.path(), copy.dir.path());
    let looked = copy.config.path().display().to_string();
    let key_needing: &[&[&str]] = &[
        &[
            "Get-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
        ],
        &["New-MailboxExportRequest", "alice", "out"],
        &["Restore-AzKeyVaultKey", "contoso-ck-va2", "Key001.backup"],
        &[
            "Set-Mailbox",
            "-Identity",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
    ];
    for args in key_needing {
        let err = copy.fails(args, AUTH);
        assert!(
            err.contains("vault master key") && err.contains("is not available"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&looked),
            "{args:?} names the key file looked for: {err}"
        );
    }
    assert!(!copy.path("out").exists(), "nothing was exported");
    // With the vault key given, the service master key is still missing.
    let vk = vault_key.trim().to_string();
    let err = copy.fails_env(
        &["New-MailboxExportRequest", "alice", "out"],
        &[("CUSTKEY_VAULT_KEY", &vk)],
        AUTH,
    );
    assert!(err.contains("service master key"), "{err}");
    assert!(err.contains(&looked), "{err}");
    assert!(!copy.path("out").exists());
    // And nothing was created in the copy's configuration directory for it.
    assert!(std::fs::read_dir(copy.config.path())
        .unwrap()
        .next()
        .is_none());

    // The control: the same copy opens with the original configuration directory.
    let out = copy.run_env(
        &[
            "Get-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
        ],
        &[("CUSTKEY_CONFIG_DIR", e.config.path().to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_backup_cannot_be_restored_with_only_a_copy_of_the_data_directory() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    let copy = Env {
        dir: tempfile::tempdir().unwrap(),
        config: tempfile::tempdir().unwrap(),
        extra: Vec::new(),
    };
    copy_dir(e.dir.path(), copy.dir.path());
    // The thief makes the copy his own: a new vault master key, a new vault in the same
    // subscription (a new store too: every command proves its principal, and the copied
    // store's registry is sealed under the service key he lacks). The subscription's backup
    // key stays sealed under the old master key.
    std::fs::remove_file(copy.path("vault-master.json")).unwrap();
    std::fs::remove_dir_all(copy.path("vaults")).unwrap();
    for f in [
        "service-master.json",
        "service.db",
        "service.db-wal",
        "service.db-shm",
    ] {
        let _ = std::fs::remove_file(copy.path(f));
    }
    copy.ok(&[
        "New-AzKeyVault",
        "-Name",
        "thief-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-Sku",
        "Premium",
    ]);
    let err = copy.fails(
        &["Restore-AzKeyVaultKey", "thief-vault", "Key001.backup"],
        AUTH,
    );
    assert!(err.contains("backup key"), "{err}");
    let keys = copy.ok(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "thief-vault",
        "-Format",
        "Json",
    ]);
    assert!(!keys.contains("Key001"), "nothing was restored: {keys}");

    // The control: on the machine with the keys the same blob restores into the subscription.
    e.ok(&[
        "New-AzKeyVault",
        "-Name",
        "contoso-ck-vb1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-Sku",
        "Premium",
    ]);
    e.ok(&["Restore-AzKeyVaultKey", "contoso-ck-vb1", "Key001.backup"]);
}

/// Turns a data directory set up by this version back into the old layout: the key files
/// beside the store, a vault header without an id, no service header.
fn make_old_layout(e: &Env) -> (String, String) {
    let vault = key_file(e.config.path(), "vault");
    let service = key_file(e.config.path(), "service");
    let (vk, sk) = (
        std::fs::read_to_string(&vault).unwrap(),
        std::fs::read_to_string(&service).unwrap(),
    );
    std::fs::write(e.path("vault.key"), &vk).unwrap();
    std::fs::write(e.path("service.key"), &sk).unwrap();
    std::fs::remove_file(&vault).unwrap();
    std::fs::remove_file(&service).unwrap();
    std::fs::remove_file(e.path("service-master.json")).unwrap();
    let mut h: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.path("vault-master.json")).unwrap()).unwrap();
    h.as_object_mut()
        .unwrap()
        .remove("id")
        .expect("the header had an id");
    std::fs::write(e.path("vault-master.json"), serde_json::to_vec(&h).unwrap()).unwrap();
    (vk, sk)
}

#[test]
fn the_old_layout_is_migrated_once_and_keeps_working() {
    let mut e = full_setup();
    let (mail, _) = e.write_mail();
    e.exports_same("alice", "before", &mail);
    // The owner's identity stays where it is (signed in with it by path), whatever happens to
    // the configuration directory below.
    let identity = e
        .config
        .path()
        .join("identities/admin@contoso.onmicrosoft.com");
    e.ok(&[
        "Connect-AzAccount",
        "admin@contoso.onmicrosoft.com",
        "-KeyFile",
        identity.to_str().unwrap(),
    ]);
    let (vk, sk) = make_old_layout(&e);

    // A configuration directory that does not exist yet: created 0700.
    let config = e.config.path().join("nested").join("custkey");
    e.extra
        .push(("CUSTKEY_CONFIG_DIR".into(), config.display().to_string()));
    let out = e.run(&["New-MailboxExportRequest", "alice", "after"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("WARNING: the vault master key was moved out of the data directory")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("WARNING: the service master key was moved out of the data directory")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!e.path("vault.key").exists() && !e.path("service.key").exists());
    assert_eq!(mode(&config), 0o700);
    for (kind, old) in [("vault", &vk), ("service", &sk)] {
        let f = key_file(&config, kind);
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        assert_eq!(
            &std::fs::read_to_string(&f).unwrap(),
            old,
            "{kind} key moved intact"
        );
        assert!(stderr.contains(&f.display().to_string()), "{stderr}");
    }
    assert_eq!(
        common::files(&e.path("after")),
        common::files(&mail),
        "the mail still opens"
    );
    // Once: the next command has nothing to say.
    let out = e.run(&["New-MailboxExportRequest", "alice", "again"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("moved"));

    // A backup made before the move still restores into the subscription.
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    e.ok(&[
        "New-AzKeyVault",
        "-Name",
        "contoso-ck-vb1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-Sku",
        "Premium",
    ]);
    e.ok(&["Restore-AzKeyVaultKey", "contoso-ck-vb1", "Key001.backup"]);

    // A moved data directory still finds its keys (the file is named by the header's id).
    let moved = tempfile::tempdir().unwrap();
    copy_dir(e.dir.path(), moved.path());
    let m = Env {
        dir: moved,
        config: tempfile::tempdir().unwrap(),
        extra: e.extra.clone(),
    };
    m.exports_same("alice", "moved", &mail);
}

#[test]
fn an_old_key_file_that_disagrees_with_the_configuration_directory_is_left_alone() {
    let e = Env::new();
    e.setup();
    let (vk, _) = make_old_layout(&e);
    // The first open moves the key; then an old file with another key reappears.
    e.ok(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ]);
    let stray = format!("{}\n", "ab".repeat(32));
    std::fs::write(e.path("vault.key"), &stray).unwrap();
    let err = e.fails(
        &[
            "Get-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
        ],
        AUTH,
    );
    assert!(
        err.contains("vault.key") && err.contains("does not hold"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(e.path("vault.key")).unwrap(), stray);
    assert_eq!(
        std::fs::read_to_string(key_file(e.config.path(), "vault")).unwrap(),
        vk
    );
}

/// The custkey entries of this thread's session keyring: (serial, description).
fn custkey_entries(ring: &linux_keyutils::KeyRing) -> Vec<(i32, String)> {
    let Ok(links) = ring.get_links(4096) else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|n| n.as_key())
        .filter_map(|k| {
            let d = k.metadata().ok()?.get_description().to_string();
            // The vault master key's entries (and the legacy one); every command also caches
            // the service master key (it authenticates the principal), in its own entry.
            (d.starts_with("custkey:vault-master:") || d.contains("custkey-vault"))
                .then(|| (k.get_id().as_raw_id(), d))
        })
        .collect()
}

/// The expiry column of /proc/keys for a key (`perm` for no timeout, else e.g. `2m`, `58s`).
fn expiry(serial: i32) -> String {
    let keys = std::fs::read_to_string("/proc/keys").unwrap();
    let want = format!("{serial:08x}");
    keys.lines()
        .find(|l| l.split_whitespace().next() == Some(want.as_str()))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap_or("missing")
        .to_string()
}

#[test]
fn keyring_entries_expire_are_superseded_and_cleared() {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    // A session keyring of this test thread (joined anonymously when the process has none),
    // which the commands it starts inherit.
    let ring = match KeyRing::from_special_id(KeyRingIdentifier::Session, true) {
        Ok(r)
            if r.add_key("custkey-test-probe", b"x")
                .is_ok_and(|k| k.invalidate().is_ok()) =>
        {
            r
        }
        other => {
            eprintln!(
                "the kernel keyring is unreachable here ({:?}): skipped",
                other.err()
            );
            return;
        }
    };
    let mut e = Env::new();
    e.extra = vec![
        ("CUSTKEY_KEYRING".into(), "on".into()),
        ("CUSTKEY_KEYRING_TIMEOUT".into(), "120".into()),
    ];
    let pass = [("CUSTKEY_VAULT_PASSPHRASE", "keyring passphrase")];
    let get = [
        "Get-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ];
    // An entry an older custkey wrote for this directory (named by its path, no timeout).
    let legacy = keyring_core::Entry::new_in_store(
        &(linux_keyutils_keyring_store::Store::new().unwrap()
            as std::sync::Arc<keyring_core::CredentialStore>),
        "custkey-vault",
        &format!(
            "master:{}",
            std::fs::canonicalize(e.dir.path()).unwrap().display()
        ),
    )
    .unwrap();
    legacy.set_secret(&[7u8; 32]).unwrap();
    assert_eq!(custkey_entries(&ring).len(), 1, "the legacy entry is there");

    let out = e.run_env(
        &[
            "Connect-AzAccount",
            "-AccountId",
            "admin@contoso.onmicrosoft.com",
        ],
        &pass,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    let entries = custkey_entries(&ring);
    assert_eq!(
        entries.len(),
        1,
        "the legacy entry was superseded: {entries:?}"
    );
    let (serial, desc) = entries[0].clone();
    assert!(desc.starts_with("custkey:vault-master:"), "{desc}");
    let exp = expiry(serial);
    assert!(
        exp == "2m" || exp.ends_with('s'),
        "a 120 s timeout, /proc/keys says {exp}"
    );

    // The cache works: later commands need no passphrase.
    e.ok(&[
        "New-AzKeyVault",
        "-Name",
        "contoso-ck-va1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    let out = e.run(&get);
    assert!(!out.status.success(), "no such key yet");

    // An entry of an older header of the same directory is removed when the key is resolved
    // from its source again.
    let group = desc.rsplit_once(':').unwrap().0.to_string();
    let stale = format!("{group}:0000000000000000");
    ring.add_key(&stale, &[9u8; 32]).unwrap();
    let out = e.run_env(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"], &pass);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = custkey_entries(&ring).into_iter().map(|(_, d)| d).collect();
    assert_eq!(names, vec![desc.clone()], "only the current entry is left");

    // Clear-CustomerKeyCache removes it; the passphrase is needed again.
    let cleared = e.json(&["Clear-CustomerKeyCache"]);
    assert_eq!(
        cleared["Removed"], 2,
        "the vault and service master keys: {cleared}"
    );
    assert_eq!(cleared["KeyringReachable"], true);
    assert!(custkey_entries(&ring).is_empty());
    let err = e.fails(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"], AUTH);
    assert!(err.contains("CUSTKEY_VAULT_PASSPHRASE"), "{err}");

    // The lifetime is real: a 1-second entry is gone after it.
    let out = e.run_env(
        &["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"],
        &[pass[0], ("CUSTKEY_KEYRING_TIMEOUT", "1")],
    );
    assert!(out.status.success());
    e.ok(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    e.fails(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"], AUTH);

    // The timeout is validated: 1 to 86400 seconds.
    for bad in ["0", "86401", "soon"] {
        let out = e.run_env(&["Get-Date"], &[("CUSTKEY_KEYRING_TIMEOUT", bad)]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("CUSTKEY_KEYRING_TIMEOUT") && err.contains("86400"),
            "{err}"
        );
    }
    e.ok(&["Clear-CustomerKeyCache"]);
}

#[path = "softhsm/mod.rs"]
mod softhsm;

#[test]
fn master_keys_wrapped_by_a_softhsm2_token_key() {
    let Some(module) = softhsm::module() else {
        return;
    };
    // The token lives outside the data directory, as a device would.
    let hsm = tempfile::tempdir().unwrap();
    let conf = softhsm::write_conf(hsm.path());
    softhsm::init_token(&conf, "custkey-master");
    let keygen = std::process::Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .arg("--module")
        .arg(&module)
        .args([
            "--token-label",
            "custkey-master",
            "--login",
            "--pin",
            softhsm::PIN,
            "--keygen",
            "--key-type",
            "AES:32",
            "--label",
            "master wrap",
        ])
        .output();
    let Ok(keygen) = keygen else {
        eprintln!("SKIPPED: pkcs11-tool is not installed (apt-get install opensc)");
        return;
    };
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );

    let uri = format!(
        "pkcs11:token=custkey-master;object=master%20wrap?module-path={}",
        module.display()
    );
    let mut e = Env::new();
    e.extra = vec![
        ("SOFTHSM2_CONF".into(), conf.display().to_string()),
        ("CUSTKEY_PKCS11_PIN".into(), softhsm::PIN.into()),
        ("CUSTKEY_MASTER_PKCS11".into(), uri.clone()),
    ];
    e.setup();
    // Both master keys are wrapped by the token key, kept in their headers; no key file (the
    // owner's generated sign-in identity is the only thing there).
    let left: Vec<String> = std::fs::read_dir(e.config.path())
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["identities".to_string()], "{left:?}");
    for h in ["vault-master.json", "service-master.json"] {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path(h)).unwrap()).unwrap();
        assert_eq!(v["mode"], "pkcs11", "{h}");
        assert!(v["tokenKey"]
            .as_str()
            .unwrap()
            .starts_with("pkcs11:token=custkey-master;"));
        assert!(!v["tokenKey"].as_str().unwrap().contains(softhsm::PIN));
    }
    let get = [
        "Get-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ];
    // The header records the URI, so only the PIN is needed later.
    let out = e.run_env(&get, &[("CUSTKEY_MASTER_PKCS11", "")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mail, _) = e.write_mail();
    e.ok(&[
        "New-MailboxImportRequest",
        "-Mailbox",
        "alice",
        "-FilePath",
        mail.to_str().unwrap(),
    ]);
    e.exports_same("alice", "out", &mail);

    // A wrong PIN, or none: Authentication, naming the PIN's source and never the PIN.
    let err = e.fails_env(&get, &[("CUSTKEY_PKCS11_PIN", "999999")], AUTH);
    assert!(err.contains("PIN") && err.contains("wrong"), "{err}");
    assert!(!err.contains("999999"), "{err}");
    let err = e.fails_env(&get, &[("CUSTKEY_PKCS11_PIN", "")], AUTH);
    assert!(err.contains("CUSTKEY_PKCS11_PIN"), "{err}");

    // An altered wrapped key is refused, and the header is left as it was.
    let path = e.path("vault-master.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let w = v["wrapped"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        &w[..w.len() - 1],
        if w.ends_with('0') { "1" } else { "0" }
    );
    v["wrapped"] = serde_json::Value::String(flipped);
    let altered = serde_json::to_vec(&v).unwrap();
    std::fs::write(&path, &altered).unwrap();
    let err = e.fails(&get, AUTH);
    assert!(err.contains("does not open"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), altered);

    // The data directory without the token opens nothing.
    let no_token = tempfile::tempdir().unwrap();
    let empty_conf = softhsm::write_conf(no_token.path());
    std::fs::write(
        &path,
        serde_json::to_vec(&{
            v["wrapped"] = serde_json::Value::String(w);
            v
        })
        .unwrap(),
    )
    .unwrap();
    e.ok(&get);
    let out = e.run_env(&get, &[("SOFTHSM2_CONF", empty_conf.to_str().unwrap())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("custkey-master"), "{err}");
}

#[test]
fn a_damaged_key_file_or_header_is_reported_and_left_alone() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    let get = [
        "Get-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ];
    let kf = key_file(e.config.path(), "vault");
    let good = std::fs::read(&kf).unwrap();

    // A key file that is not 64 hex digits: Authentication, naming the file; unchanged.
    std::fs::write(&kf, b"not a key\n").unwrap();
    let err = e.fails(&get, AUTH);
    assert!(
        err.contains(&kf.display().to_string()) && err.contains("64 hexadecimal"),
        "{err}"
    );
    assert_eq!(std::fs::read(&kf).unwrap(), b"not a key\n");
    // Another well-formed key: refused by the key check, never adopted.
    std::fs::write(&kf, format!("{}\n", "cd".repeat(32))).unwrap();
    let err = e.fails(&get, AUTH);
    assert!(err.contains("does not hold the vault master key"), "{err}");
    std::fs::write(&kf, &good).unwrap();
    e.ok(&get);

    // A damaged header: Unavailable (exit 3), named, never rewritten.
    let header = e.path("vault-master.json");
    let saved = std::fs::read(&header).unwrap();
    for bad in [
        b"{".to_vec(),
        String::from_utf8(saved.clone())
            .unwrap()
            .replace("\"key\"", "\"magic\"")
            .into_bytes(),
    ] {
        std::fs::write(&header, &bad).unwrap();
        let err = e.fails(&get, 3);
        assert!(err.contains("vault-master.json"), "{err}");
        assert_eq!(std::fs::read(&header).unwrap(), bad);
    }
    std::fs::write(&header, &saved).unwrap();
    e.ok(&get);

    // A configuration directory inside the data directory is refused.
    let inside = e.path("cfg");
    let err = e.fails_env(&get, &[("CUSTKEY_CONFIG_DIR", inside.to_str().unwrap())], 3);
    assert!(err.contains("inside the data directory"), "{err}");
    // The help says what to do about that, not to check the vault files.
    assert!(
        err.contains("help: point CUSTKEY_CONFIG_DIR at a folder outside the data directory"),
        "{err}"
    );
    assert!(!inside.exists());
}
