//! The Exchange runbooks through the real binary, on a fresh store and real local vaults.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("CUSTKEY_STORE", self.path("service.db"))
            .env("CUSTKEY_KEYRING", "off")
            .env_remove("CUSTKEY_VAULT_KEY")
            .env_remove("CUSTKEY_VAULT_PASSPHRASE")
            .env_remove("CUSTKEY_SERVICE_KEY")
            .env_remove("COLUMNS");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run custkey")
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custkey {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-Format", "Json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
    /// Runs and requires failure with `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "custkey {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// The setup guide: two subscriptions with mandatory retention, a vault and a key in each,
    /// admins and the Exchange service principal, a DEP, a licensed mailbox assigned to it.
    fn setup(&self) {
        for (sub, vault, key, location) in [
            ("Contoso-CK-Sub1", "contoso-ck-va1", "Key001", "westus"),
            ("Contoso-CK-Sub2", "contoso-ck-va2", "Key002", "centralus"),
        ] {
            self.ok(&["Set-AzContext", "-Subscription", sub]);
            self.ok(&[
                "Register-AzProviderFeature",
                "-FeatureName",
                "mandatoryRetentionPeriodEnabled",
                "-ProviderNamespace",
                "Microsoft.Resources",
            ]);
            let f = self.json(&[
                "Get-AzProviderFeature",
                "-ProviderNamespace",
                "Microsoft.Resources",
                "-FeatureName",
                "mandatoryRetentionPeriodEnabled",
            ]);
            assert_eq!(f["RegistrationState"], "Registered");
            self.ok(&[
                "New-AzKeyVault",
                "-VaultName",
                vault,
                "-ResourceGroupName",
                &format!("{vault}-rg"),
                "-Location",
                location,
                "-Sku",
                "Premium",
            ]);
            self.ok(&[
                "Set-AzKeyVaultAccessPolicy",
                "-VaultName",
                vault,
                "-UserPrincipalName",
                "kvadmin@contoso.com",
                "-PermissionsToKeys",
                "create,import,list,get,backup,restore",
            ]);
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
            self.ok(&[
                "Update-AzKeyVaultKey",
                "-VaultName",
                vault,
                "-Name",
                key,
                "-Expires",
                "12/31/9999",
            ]);
            let k = self.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
            assert_eq!(k["RecoveryLevel"], "Recoverable+ProtectedSubscription");
            self.ok(&[
                "Backup-AzKeyVaultKey",
                "-VaultName",
                vault,
                "-Name",
                key,
                "-OutputFile",
                &format!("{key}.backup"),
            ]);
        }
        let dep = self.json(&[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-Description",
            "Root keys for US mailboxes",
            "-AzureKeyIDs",
            "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002",
        ]);
        assert_eq!(dep["State"], "Active");
        assert_eq!(dep["KeyVersionIDs"].as_array().unwrap().len(), 2);
        self.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
        self.ok(&[
            "Set-MgUserLicense",
            "-UserId",
            "alice",
            "-AddLicenses",
            "SPE_E5",
        ]);
        let caps = self.json(&["Get-Mailbox", "alice", "-Property", "PersistedCapabilities"]);
        assert!(caps["PersistedCapabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "BPOS_S_EquivioAnalytics"));
        self.ok(&[
            "Set-Mailbox",
            "-Identity",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ]);
    }

    fn write_mail(&self) -> (PathBuf, PathBuf) {
        let dir = self.path("mail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.eml"), b"From: bob@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: Q3\r\n\r\nNumbers attached.\r\n").unwrap();
        // A large message (several segments) of non-repeating bytes.
        let mut big = Vec::new();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        while big.len() < 3 * 1024 * 1024 + 17 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big.extend_from_slice(format!("{x:016x}\r\n").as_bytes());
        }
        std::fs::write(dir.join("b.eml"), &big).unwrap();
        std::fs::write(dir.join("c.eml"), b"").unwrap();
        let mbox = self.path("archive.mbox");
        std::fs::write(
            &mbox,
            b"From bob@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: one\n\nfirst body\n>From the start\n\nFrom carol@fabrikam.com Tue Jan  2 00:00:00 2024\nSubject: two\n\nsecond body\n",
        )
        .unwrap();
        (dir, mbox)
    }
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn setup_runbook_import_statistics_export_byte_identical() {
    let e = Env::new();
    e.setup();
    let stats = e.json(&["Get-MailboxStatistics", "-Identity", "alice"]);
    assert_eq!(stats["IsEncrypted"], true);
    let dep = e.json(&[
        "Get-DataEncryptionPolicy",
        stats["DataEncryptionPolicyID"].as_str().unwrap(),
    ]);
    assert_eq!(dep["Name"], "US Mailboxes");

    let (mail, mbox) = e.write_mail();
    e.ok(&[
        "New-MailboxImportRequest",
        "-Mailbox",
        "alice",
        "-FilePath",
        mail.to_str().unwrap(),
    ]);
    let stats = e.json(&["Get-MailboxStatistics", "alice"]);
    assert_eq!(stats["ItemCount"], 3);
    assert_eq!(stats["IsEncrypted"], true);

    // The store holds no plaintext of the messages.
    let db = std::fs::read(e.path("service.db")).unwrap();
    let needle = b"Numbers attached.";
    assert!(!db.windows(needle.len()).any(|w| w == needle));

    e.ok(&[
        "New-MailboxExportRequest",
        "-Mailbox",
        "alice",
        "-FilePath",
        "export",
    ]);
    assert_eq!(files(&e.path("export")), files(&mail));

    // mbox in, mbox out: byte-identical.
    e.ok(&[
        "New-Mailbox",
        "-Name",
        "Shared Archive",
        "-Alias",
        "archive",
        "-Shared",
    ]);
    e.ok(&[
        "Set-Mailbox",
        "archive",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    e.ok(&[
        "New-MailboxImportRequest",
        "archive",
        mbox.to_str().unwrap(),
    ]);
    e.ok(&["New-MailboxExportRequest", "archive", "archive-out.mbox"]);
    assert_eq!(
        std::fs::read(e.path("archive-out.mbox")).unwrap(),
        std::fs::read(&mbox).unwrap()
    );

    // Test-DataEncryptionPolicy: both customer keys and the availability key unwrap.
    let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
    let results: Vec<&str> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Success", "Success", "Success"]);

    // Back to Microsoft-managed keys: still readable, no longer IsEncrypted.
    e.ok(&["Set-Mailbox", "alice", "-DataEncryptionPolicy", "$null"]);
    let stats = e.json(&["Get-MailboxStatistics", "alice"]);
    assert_eq!(stats["IsEncrypted"], false);
    assert!(stats["DataEncryptionPolicyID"].is_null());
    e.ok(&["New-MailboxExportRequest", "alice", "export-mmk"]);
    assert_eq!(files(&e.path("export-mmk")), files(&mail));
}

#[test]
fn a_killed_move_request_resumes_and_loses_nothing() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let out = e.run_env(
        &["New-MoveRequest", "alice"],
        &[("CUSTKEY_FAULT_MOVE_AFTER_ITEMS", "1")],
    );
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let st = e.json(&["Get-MoveRequestStatistics", "alice"]);
    assert_eq!(st["Status"], "InProgress");
    assert_eq!(st["ItemsTransferred"], 1);
    // Mid-move, everything still reads back.
    e.ok(&["New-MailboxExportRequest", "alice", "mid"]);
    assert_eq!(files(&e.path("mid")), files(&mail));
    let done = e.json(&["New-MoveRequest", "alice"]);
    assert_eq!(done["Status"], "Completed");
    assert_eq!(done["PercentComplete"], 100);
    e.ok(&["New-MailboxExportRequest", "alice", "after"]);
    assert_eq!(files(&e.path("after")), files(&mail));
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "alice"])["IsEncrypted"],
        true
    );
}

fn audit_operations(e: &Env) -> Vec<(String, serde_json::Value)> {
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let mut st = c
        .prepare("SELECT operation, parameters FROM audit_record ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (op, p) = r.unwrap();
            (op, serde_json::from_str(&p).unwrap())
        })
        .collect()
}

#[test]
fn revocation_fails_user_reads_and_restoring_the_policy_restores_them() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    let err = e.fails(&["New-MailboxExportRequest", "alice", "denied"], 1);
    assert!(err.contains("refused to unwrap"), "{err}");
    assert!(
        err.contains("contoso-ck-va1") && err.contains("contoso-ck-va2"),
        "{err}"
    );
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(!e.path("denied").join("000001.eml").exists());
    // Test-DataEncryptionPolicy reports each key's class and fails.
    let err = e.fails(&["Test-DataEncryptionPolicy", "US Mailboxes"], 1);
    assert!(err.contains("2 key(s)"), "{err}");
    // A service operation (a move) may still use the availability key, and is audited.
    e.ok(&["New-MoveRequest", "alice"]);
    let fallbacks: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .collect();
    assert!(!fallbacks.is_empty());
    assert_eq!(fallbacks[0].1["Reason"], "CustomerKeyRefused");
    assert!(fallbacks[0].1["Policy Id"].is_string());
    assert!(fallbacks[0].1["Request Id"].is_string());
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    e.ok(&["New-MailboxExportRequest", "alice", "restored"]);
    assert_eq!(files(&e.path("restored")), files(&mail));
}

#[test]
fn a_system_error_on_both_vaults_falls_back_to_the_availability_key_with_an_audit_record() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    // Both vaults unreachable (a system error, not a refusal): their files cannot be read.
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        let f = e.path(&format!("vaults/{v}.vault"));
        std::fs::rename(&f, e.path(&format!("{v}.offline"))).unwrap();
        std::fs::create_dir(&f).unwrap();
    }
    e.ok(&["New-MailboxExportRequest", "alice", "fallback"]);
    assert_eq!(files(&e.path("fallback")), files(&mail));
    let fallbacks: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .collect();
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(fallbacks[0].1["Reason"], "SystemError");
    assert_eq!(
        fallbacks[0].1["Scope Key Version Id"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        2
    );
    // Back online: the customer keys serve again, with no new fallback.
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        let f = e.path(&format!("vaults/{v}.vault"));
        std::fs::remove_dir(&f).unwrap();
        std::fs::rename(e.path(&format!("{v}.offline")), &f).unwrap();
    }
    e.ok(&["New-MailboxExportRequest", "alice", "online"]);
    let n = audit_operations(&e)
        .iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn roll_and_refresh_rewraps_only_the_dep_key() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let before = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
        "-Destination",
        "HSM",
        "-KeyOps",
        "wrapKey,unwrapKey",
    ]);
    let db_before = item_ciphertexts(&e);
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
    assert_ne!(a[0], b[0]);
    assert_eq!(a[1], b[1]);
    assert_eq!(item_ciphertexts(&e), db_before, "refresh touched content");
    e.ok(&["New-MailboxExportRequest", "alice", "rolled"]);
    assert_eq!(files(&e.path("rolled")), files(&mail));
}

fn item_ciphertexts(e: &Env) -> Vec<Vec<u8>> {
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let mut st = c
        .prepare("SELECT data FROM item_segment ORDER BY mailbox_guid, item_id, n")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn the_fifty_first_dep_is_refused() {
    let e = Env::new();
    e.setup();
    let keys = "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002";
    for i in 2..=50 {
        e.ok(&[
            "New-DataEncryptionPolicy",
            "-Name",
            &format!("DEP {i}"),
            "-AzureKeyIDs",
            keys,
        ]);
    }
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "DEP 51",
            "-AzureKeyIDs",
            keys,
        ],
        1,
    );
    assert!(
        err.contains("already has 50 data encryption policies"),
        "{err}"
    );
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy"])
            .as_array()
            .unwrap()
            .len(),
        50
    );
}

#[test]
fn a_wrong_service_master_key_is_refused_and_changes_nothing() {
    let e = Env::new();
    e.setup();
    let before = std::fs::read(e.path("service.db")).unwrap();
    let out = e.run_env(
        &["New-MailboxExportRequest", "alice", "x"],
        &[("CUSTKEY_SERVICE_KEY", &"ab".repeat(32))],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("service master key does not match"), "{err}");
    assert_eq!(std::fs::read(e.path("service.db")).unwrap(), before);
}
