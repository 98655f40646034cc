//! PKCS#11 vaults through the real binary: a DEP with one local-vault root and one SoftHSM2
//! root (import, roll the HSM key, refresh, byte-identical export), the module path taken away
//! (Unavailable, exit 3, and the availability-key fallback with its audit record), PIN errors,
//! and every Az vault cmdlet on a token vault. Each test has its own SOFTHSM2_CONF and token.

mod common;
mod softhsm;

use common::{audit_operations, files};

use std::path::{Path, PathBuf};

const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";
const TOKEN: &str = "ck-e2e";
const HSM_VAULT: &str = "contoso-ck-hsm1";
const LOCAL_VAULT: &str = "contoso-ck-va1";

/// The shared runbook environment plus this test's own SoftHSM2 configuration and token.
struct Env {
    e: common::Env,
    conf: PathBuf,
    module: PathBuf,
}

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.e
    }
}

impl Env {
    /// A store directory with its own SoftHSM2 configuration and token, or `None` (reason
    /// printed) when SoftHSM2 is not installed.
    fn new() -> Option<Env> {
        Env::with_token(TOKEN)
    }
    fn with_token(label: &str) -> Option<Env> {
        let module = softhsm::module()?;
        let mut e = common::Env::new();
        let conf = softhsm::write_conf(&e.dir.path().join("hsm"));
        softhsm::init_token(&conf, label);
        // The vault binds to this link, so a test can take the module path away.
        std::os::unix::fs::symlink(&module, e.dir.path().join("libsofthsm2.so")).unwrap();
        e.extra
            .push(("SOFTHSM2_CONF".into(), conf.to_string_lossy().into_owned()));
        e.extra
            .push(("CUSTKEY_PKCS11_PIN".into(), softhsm::PIN.into()));
        Some(Env { e, conf, module })
    }
    fn module_link(&self) -> String {
        self.path("libsofthsm2.so").to_str().unwrap().to_string()
    }

    /// One subscription's vault with the admin and Exchange policies and a key.
    fn vault_with_key(&self, sub: &str, vault: &str, key: &str, hsm: bool) {
        self.ok(&["Set-AzContext", "-Subscription", sub]);
        self.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        let rg = format!("{vault}-rg");
        let link = self.module_link();
        let mut args = vec![
            "New-AzKeyVault",
            "-VaultName",
            vault,
            "-ResourceGroupName",
            &rg,
            "-Location",
            "westus",
            "-Sku",
            "Premium",
        ];
        if hsm {
            args.extend(["-Pkcs11Module", &link, "-TokenLabel", TOKEN]);
        }
        self.ok(&args);
        self.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            vault,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
            "-ServicePrincipalName",
            EXO,
        ]);
        self.ok(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-Destination",
            "HSM",
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
    }

    /// A DEP whose roots are a local-vault key and a token key; alice assigned to it, with mail.
    fn setup(&self) -> PathBuf {
        self.vault_with_key("Contoso-CK-Sub1", LOCAL_VAULT, "Key001", false);
        self.vault_with_key("Contoso-CK-Sub2", HSM_VAULT, "HsmKey", true);
        let info = self.json(&["Get-AzKeyVault", HSM_VAULT]);
        assert_eq!(info["Backend"], "PKCS11");
        let dep = self.json(&[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-AzureKeyIDs",
            &format!(
                "https://{LOCAL_VAULT}.vault.azure.net/keys/Key001,https://{HSM_VAULT}.vault.azure.net/keys/HsmKey"
            ),
        ]);
        assert_eq!(dep["State"], "Active");
        self.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
        self.ok(&[
            "Set-MgUserLicense",
            "-UserId",
            "alice",
            "-AddLicenses",
            "SPE_E5",
        ]);
        self.ok(&[
            "Set-Mailbox",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ]);
        let dir = self.path("mail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.eml"),
            b"From: bob@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: HSM\r\n\r\nOn the token.\r\n",
        )
        .unwrap();
        let mut big = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while big.len() < 200 * 1024 + 3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big.extend_from_slice(format!("{x:016x}\r\n").as_bytes());
        }
        std::fs::write(dir.join("b.eml"), &big).unwrap();
        self.ok(&["New-MailboxImportRequest", "alice", dir.to_str().unwrap()]);
        dir
    }

    /// (key uri, recorded OAEP algorithm) of each root wrap of the DEPs, from the store.
    fn root_wrap_algorithms(&self) -> Vec<(String, String)> {
        common::store_rows(
            self,
            "SELECT key_uri, wrapped FROM dep_root_wrap ORDER BY dep_guid, slot",
            &[],
        )
        .into_iter()
        .map(|r| {
            let (uri, w) = (r[0].text(), r[1].blob());
            let wk = custkey::crypto::WrappedKey::from_bytes(&w).unwrap();
            (uri, wk.oaep_alg().unwrap().as_str().to_string())
        })
        .collect()
    }
}

#[test]
fn dep_with_a_local_and_an_hsm_root_survives_an_hsm_roll_and_refresh() {
    let Some(e) = Env::new() else { return };
    let mail = e.setup();
    // The token root was wrapped with the OAEP variant SoftHSM2 has, and that is recorded.
    let algs = e.root_wrap_algorithms();
    assert_eq!(algs.len(), 2, "{algs:?}");
    for (uri, alg) in &algs {
        let want = if uri.contains(HSM_VAULT) {
            "RSA-OAEP"
        } else {
            "RSA-OAEP-256"
        };
        assert_eq!(alg, want, "{uri}");
    }
    let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
    let results: Vec<&str> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Success", "Success", "Success"]);

    let before = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    // Roll the token key: a new key pair on the token, the old version kept.
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        HSM_VAULT,
        "-Name",
        "HsmKey",
        "-Destination",
        "HSM",
        "-KeyOps",
        "wrapKey,unwrapKey",
    ]);
    let versions = e.json(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        HSM_VAULT,
        "-Name",
        "HsmKey",
        "-IncludeVersions",
    ]);
    assert_eq!(versions.as_array().unwrap().len(), 2);
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "US Mailboxes",
        "-Refresh",
    ]);
    let after = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let (b, a) = (
        before["KeyVersionIDs"].as_array().unwrap(),
        after["KeyVersionIDs"].as_array().unwrap(),
    );
    // AzureKeyIDs order: the local key, then the token key. Only the token key's version moved.
    assert_eq!(a[0], b[0], "the local root is untouched");
    assert_ne!(a[1], b[1], "the token root now uses the new version");
    // -IncludeVersions lists the current version first.
    assert_eq!(
        a[1].as_str().unwrap(),
        versions.as_array().unwrap()[0]["Version"].as_str().unwrap()
    );
    e.ok(&["New-MailboxExportRequest", "alice", "rolled"]);
    assert_eq!(files(&e.path("rolled")), files(&mail));
    // Nothing fell back to the availability key.
    assert!(audit_operations(&e)
        .iter()
        .all(|(op, _)| op != "Fallback to Availability Key"));
    // The token holds two private keys (one per version), sensitive and never extractable.
    if let Some(listing) = softhsm::list_objects(&e.conf, &e.module, TOKEN, "privkey") {
        let blocks = softhsm::object_blocks(&listing);
        assert_eq!(blocks.len(), 2, "{listing}");
        for b in blocks {
            assert!(
                b.contains("never extractable") && b.contains("sensitive"),
                "{b}"
            );
        }
    }
}

#[test]
fn module_path_gone_is_unavailable_and_falls_back_to_the_availability_key() {
    let Some(e) = Env::new() else { return };
    let mail = e.setup();
    // The module path is taken away (uninstalled), and the local vault is unreachable too.
    std::fs::remove_file(e.path("libsofthsm2.so")).unwrap();
    let f = e.path(&format!("vaults/{LOCAL_VAULT}.vault"));
    std::fs::rename(&f, e.path("local.offline")).unwrap();
    std::fs::create_dir(&f).unwrap();

    let err = e.fails_env(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            HSM_VAULT,
            "-Name",
            "Another",
        ],
        &[],
        3,
    );
    assert!(err.contains("cannot be loaded"), "{err}");
    assert!(err.contains("libsofthsm2.so"), "{err}");

    e.ok(&["New-MailboxExportRequest", "alice", "fallback"]);
    assert_eq!(files(&e.path("fallback")), files(&mail));
    let fallbacks: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .collect();
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(fallbacks[0].1["Reason"], "SystemError");
    // The vault's own audit log has the failed unwrap as Unavailable.
    let log = e.json(&[
        "Get-AzKeyVaultAuditLog",
        "-VaultName",
        HSM_VAULT,
        "-Operation",
        "UnwrapKey",
    ]);
    let last = match log {
        serde_json::Value::Array(a) => a.last().cloned().unwrap(),
        one => one,
    };
    assert_eq!(last["Result"], "Unavailable", "{last}");

    // Module back: the token key serves again, with no new fallback.
    std::os::unix::fs::symlink(&e.module, e.path("libsofthsm2.so")).unwrap();
    std::fs::remove_dir(&f).unwrap();
    std::fs::rename(e.path("local.offline"), &f).unwrap();
    e.ok(&["New-MailboxExportRequest", "alice", "online"]);
    assert_eq!(files(&e.path("online")), files(&mail));
    let n = audit_operations(&e)
        .iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn pin_errors_are_authentication_and_never_echo_the_pin() {
    let Some(e) = Env::new() else { return };
    e.vault_with_key("Contoso-CK-Sub2", HSM_VAULT, "HsmKey", true);
    let add = ["Add-AzKeyVaultKey", "-VaultName", HSM_VAULT, "-Name", "K2"];
    let err = e.fails_env(&add, &[("CUSTKEY_PKCS11_PIN", "999999")], 1);
    assert!(err.contains("PIN") && err.contains("wrong"), "{err}");
    assert!(!err.contains("999999"), "the PIN is echoed: {err}");
    let err = e.fails_env(&add, &[("CUSTKEY_PKCS11_PIN", "")], 1);
    assert!(err.contains("CUSTKEY_PKCS11_PIN"), "{err}");
    // New-AzKeyVault checks the binding first: a missing module is a system error (exit 3),
    // half a binding is a usage error (exit 2), and no vault is left behind.
    let err = e.fails_env(
        &[
            "New-AzKeyVault",
            "contoso-ck-hsm2",
            "rg",
            "westus",
            "-Pkcs11Module",
            "/nonexistent/lib.so",
            "-TokenLabel",
            TOKEN,
        ],
        &[],
        3,
    );
    assert!(err.contains("cannot be loaded"), "{err}");
    e.fails_env(
        &[
            "New-AzKeyVault",
            "contoso-ck-hsm2",
            "rg",
            "westus",
            "-TokenLabel",
            TOKEN,
        ],
        &[],
        2,
    );
    e.fails_env(&["Get-AzKeyVault", "contoso-ck-hsm2"], &[], 1);
    // (A locked PIN, CKR_PIN_LOCKED, is also Authentication; SoftHSM2 never locks the user
    // PIN, so that case is not exercised here.)
    // The right PIN again: works.
    e.ok(&add);
}

#[test]
fn every_az_vault_cmdlet_works_on_a_token_vault() {
    let Some(e) = Env::new() else { return };
    e.vault_with_key("Contoso-CK-Sub2", HSM_VAULT, "HsmKey", true);
    let v = HSM_VAULT;
    assert_eq!(e.json(&["Get-AzKeyVault", v])["Backend"], "PKCS11");
    let listed = e.json(&["Get-AzKeyVault"]);
    assert!(listed.to_string().contains(v));
    e.ok(&["Update-AzKeyVault", "-VaultName", v, "-Tag", "env=test"]);
    e.ok(&[
        "Update-AzKeyVaultKey",
        v,
        "HsmKey",
        "-Expires",
        "12/31/9999",
        "-Tag",
        "a=b",
    ]);
    let k = e.json(&["Get-AzKeyVaultKey", v, "HsmKey"]);
    assert_eq!(k["Tags"]["a"], "b");
    assert_eq!(k["KeyType"], "RSA-HSM");
    e.ok(&[
        "Backup-AzKeyVaultKey",
        v,
        "HsmKey",
        "-OutputFile",
        "hsm.backup",
    ]);
    e.ok(&["Remove-AzKeyVaultKey", v, "HsmKey", "-Force"]);
    let removed = e.json(&["Get-AzKeyVaultKey", "-VaultName", v, "-InRemovedState"]);
    assert!(removed.to_string().contains("HsmKey"));
    e.ok(&["Undo-AzKeyVaultKeyRemoval", v, "HsmKey"]);
    e.ok(&["Remove-AzKeyVaultKey", v, "HsmKey", "-Force"]);
    // A protected subscription refuses the purge; a backup restores under a fresh name slot
    // only once the name is free, so restore into a second vault on the same token.
    e.ok(&[
        "New-AzKeyVault",
        "contoso-ck-hsm3",
        "rg3",
        "westus",
        "-Sku",
        "Premium",
        "-Pkcs11Module",
        &e.module_link(),
        "-TokenLabel",
        TOKEN,
    ]);
    e.ok(&["Restore-AzKeyVaultKey", "contoso-ck-hsm3", "hsm.backup"]);
    assert_eq!(
        e.json(&["Get-AzKeyVaultKey", "contoso-ck-hsm3", "HsmKey"])["Tags"]["a"],
        "b"
    );
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        v,
        "-UserPrincipalName",
        "auditor@contoso.com",
        "-PermissionsToKeys",
        "get,list",
    ]);
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        v,
        "-UserPrincipalName",
        "auditor@contoso.com",
    ]);
    let log = e.json(&["Get-AzKeyVaultAuditLog", v, "-Operation", "CreateKey"]);
    let entries = match log {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["Result"], "Success");
    e.ok(&["Remove-AzKeyVault", v, "-Force"]);
    e.ok(&["Undo-AzKeyVaultRemoval", "-VaultName", v]);
    assert_eq!(e.json(&["Get-AzKeyVault", v])["Backend"], "PKCS11");
}

#[test]
fn a_pin_that_logs_in_is_cached_in_the_keyring_and_serves_later_processes() {
    let label = format!("ck-kr-{}", std::process::id());
    let Some(e) = Env::with_token(&label) else {
        return;
    };
    let cache = custkey::vault::KeyringCache::open().filter(|c| c.probe());
    let Some(cache) = cache else {
        eprintln!("SKIPPED: no usable kernel keyring here (the PIN cache is best effort)");
        return;
    };
    let binding = custkey::vault::Pkcs11Binding::new(Path::new(&e.module_link()), &label).unwrap();
    let entry = custkey::vault::pkcs11::pin_cache_id(&binding);
    cache.delete(&entry);
    let kr_on = ("CUSTKEY_KEYRING", "on");
    let out = e.run_env(
        &[
            "New-AzKeyVault",
            HSM_VAULT,
            "rg",
            "westus",
            "-Pkcs11Module",
            &e.module_link(),
            "-TokenLabel",
            &label,
        ],
        &[kr_on],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        cache.get(&entry).map(|p| p.to_vec()),
        Some(softhsm::PIN.as_bytes().to_vec()),
        "the PIN that logged in is cached"
    );
    // A later process without the env var: the keyring serves the PIN.
    let add = ["Add-AzKeyVaultKey", HSM_VAULT, "FromKeyring"];
    let out = e.run_env(&add, &[kr_on, ("CUSTKEY_PKCS11_PIN", "")]);
    cache.delete(&entry);
    assert!(out.status.success(), "{out:?}");
    // Keyring off and no env var: no PIN at all.
    let err = e.fails_env(
        &["Add-AzKeyVaultKey", HSM_VAULT, "NoPin"],
        &[("CUSTKEY_PKCS11_PIN", "")],
        1,
    );
    assert!(err.contains("no user PIN"), "{err}");
}
