//! Microsoft's Customer Key guides as scripts (tests/guides/, issue 16): each guide's
//! PowerShell blocks run unchanged with `custkey -File` on a fresh store, after the small
//! prelude beside it that makes the state the guide starts from. Each run must exit 0 with no
//! `error:` on standard error, and the effects the guide describes are read back with single
//! cmdlets afterwards. tests/guides/README.md lists the sources, the blocks and what differs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Store {
    dir: tempfile::TempDir,
    config: tempfile::TempDir,
}

fn guides() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guides")
}

impl Store {
    fn new() -> Store {
        Store {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
        c.current_dir(self.path())
            .env("CUSTKEY_STORE", self.path().join("service.db"))
            .env("CUSTKEY_CONFIG_DIR", self.config.path())
            .env("CUSTKEY_KEYRING", "off")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("CUSTKEY_VAULT_KEY")
            .env_remove("CUSTKEY_VAULT_PASSPHRASE")
            .env_remove("CUSTKEY_SERVICE_KEY")
            .env_remove("CUSTKEY_SERVER")
            .env_remove("COLUMNS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs a script of tests/guides/ with `-File`. `answers` are typed at the guide's
    /// confirmation prompts, as the reader would at a terminal.
    fn file(&self, name: &str, answers: Option<&str>) -> (String, String) {
        let mut c = self.cmd();
        c.args(["-File", guides().join(name).to_str().unwrap()]);
        let out = match answers {
            None => c.stdin(Stdio::null()).output().unwrap(),
            Some(a) => {
                let mut child = c
                    .env("CUSTKEY_ASSUME_TTY", "1")
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(a.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            }
        };
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "{name} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status.code()
        );
        assert!(
            !stderr.contains("error:"),
            "{name} printed an error\n--- stderr\n{stderr}"
        );
        (stdout, stderr)
    }

    /// One cmdlet, its `-Format Json` output.
    fn json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd()
            .args(args)
            .args(["-Format", "Json"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The one object of a listing cmdlet's array.
fn one(v: Value) -> Value {
    match v {
        Value::Array(mut a) if a.len() == 1 => a.remove(0),
        Value::Array(a) => panic!("expected one object, got {}", a.len()),
        other => other,
    }
}

fn newest_version(s: &Store, vault: &str, key: &str) -> String {
    one(s.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key]))["Version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn set_up_customer_key_runs_as_written() {
    let s = Store::new();
    let (stdout, stderr) = s.file("set-up.ps1", None);
    assert_eq!(stderr, "", "the guide's lines print no warnings either");
    // Mandatory retention is registered on both subscriptions.
    for sub in ["Contoso-CK-Sub1", "Contoso-CK-Sub2"] {
        let script = format!(
            "Set-AzContext -Subscription {sub} | Out-Null; Get-AzProviderFeature \
             -ProviderNamespace Microsoft.Resources -FeatureName mandatoryRetentionPeriodEnabled"
        );
        let f = one(s.json(&["-Command", &script]));
        assert_eq!(f["RegistrationState"], "Registered", "{sub}: {f}");
    }
    // The vault: soft delete on, the Exchange Online principal with wrapKey, unwrapKey, get,
    // which `Get-AzKeyVault | fl` shows as the guide's tip says.
    let v = one(s.json(&["Get-AzKeyVault", "-VaultName", "Contoso-CK-EX-NA-VaultA1"]));
    assert_eq!(v["EnableSoftDelete"], true, "{v}");
    let exo = v["AccessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ApplicationId"] == "00000002-0000-0ff1-ce00-000000000000")
        .unwrap_or_else(|| panic!("no Exchange Online access policy: {v}"));
    assert_eq!(exo["PermissionsToKeysStr"], "wrapKey, unwrapKey, get");
    assert!(
        stdout.contains("Permissions to Keys : wrapKey, unwrapKey, get")
            && stdout.contains("Soft Delete Enabled?"),
        "{stdout}"
    );
    // The key: its expiry changed to 12/31/9999, recoverable in a protected subscription.
    let k = one(s.json(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "Contoso-CK-EX-NA-VaultA1",
        "-Name",
        "Contoso-CK-EX-NA-VaultA1-Key001",
    ]));
    assert!(
        k["Expires"].as_str().unwrap().starts_with("9999-12-31"),
        "{k}"
    );
    assert!(
        stdout.contains("RecoveryLevel   : Recoverable+ProtectedSubscription"),
        "{stdout}"
    );
    assert!(s
        .path()
        .join("Contoso-CK-EX-NA-VaultA1-Key001.backup")
        .exists());
    // The last block prints the key's URI, the one a DEP is made with.
    let id = k["Id"].as_str().unwrap();
    assert!(stdout.lines().any(|l| l == id), "{id} not in {stdout}");
}

#[test]
fn manage_customer_key_runs_as_written() {
    let s = Store::new();
    s.file("manage.prelude.ps1", None);
    // The data purge request asks for confirmation, as Exchange's does: answered Yes.
    let (stdout, _) = s.file("manage.ps1", Some("Y\n"));
    // The multi-workload policy was made, assigned, then disabled once another took its place.
    let g = one(s.json(&["Get-M365DataAtRestEncryptionPolicy", "Contoso_Global"]));
    assert_eq!(g["Enabled"], false, "{g}");
    let a = s.json(&["Get-M365DataAtRestEncryptionPolicyAssignment"]);
    assert_eq!(a["Name"], "Contoso_Global_2", "{a}");
    // The mailbox DEP: alice showed it (DataEncryptionPolicyID, IsEncrypted) before the roll
    // back to Microsoft-managed keys removed it; the mail user keeps it.
    let dep = one(s.json(&["Get-DataEncryptionPolicy", "USA_mailboxes"]));
    let guid = dep["Guid"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("DataEncryptionPolicyID : {guid}")),
        "{stdout}"
    );
    assert!(stdout.contains("IsEncrypted : True"), "{stdout}");
    let alice = one(s.json(&["Get-MailboxStatistics", "alice"]));
    assert_eq!(alice["DataEncryptionPolicyID"], Value::Null, "{alice}");
    let carol = one(s.json(&["Get-MailUser", "carol"]));
    assert_eq!(carol["DataEncryptionPolicy"], "USA_mailboxes", "{carol}");
    // The purge request is recorded with its reason and contact.
    assert_eq!(dep["State"], "PendingDataPurge", "{dep}");
    assert_eq!(dep["PermanentDataPurgeContact"], "Alice Example");
    // SharePoint's geo policy over the two keys, all sites encrypted.
    let spo = s.json(&["Get-SPODataEncryptionPolicy"]);
    let spo = one(spo);
    assert_eq!(spo["State"], "Registered", "{spo}");
    assert!(spo["PrimaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .contains("/keys/SPKey3/"));
    // "To view key vault permissions, run the Get-AzKeyVault cmdlet": one vault by name shows
    // as a list with its access policies (alice's, which the next block removes).
    assert!(
        stdout.contains("Vault Name                          : Contoso-O365EX-NA-VltA1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("User Principal Name : alice@contoso.com")
            && stdout.contains("Permissions to Keys : create, import, list, get, backup, restore"),
        "{stdout}"
    );
    // The restored key is in the vault; alice's access policy there is gone.
    one(s.json(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "Contoso-O365EX-NA-VltA1",
        "-Name",
        "Key001",
    ]));
    let v = one(s.json(&["Get-AzKeyVault", "-VaultName", "Contoso-O365EX-NA-VltA1"]));
    assert!(
        !v["AccessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["UserPrincipalName"] == "alice@contoso.com"),
        "{v}"
    );
}

#[test]
fn roll_a_customer_key_runs_as_written() {
    let s = Store::new();
    s.file("roll.prelude.ps1", None);
    let before = one(s.json(&["Get-DataEncryptionPolicy", "Contoso EX NA"]));
    let spo_before = one(s.json(&["Get-SPODataEncryptionPolicy"]));
    let (_, stderr) = s.file("roll.ps1", None);
    assert_eq!(stderr, "");
    let new_ex = newest_version(
        &s,
        "Contoso-CK-EX-NA-VaultA1",
        "Contoso-CK-EX-NA-VaultA1-Key001",
    );
    assert_ne!(before["KeyVersionIDs"][0], new_ex.as_str());
    // After -Refresh both policies are wrapped under the new version: AzureKeyIDs and
    // KeyVersionIDs name the same keys, the first at its new version.
    for (cmd, name) in [
        ("Get-DataEncryptionPolicy", "Contoso EX NA"),
        ("Get-M365DataAtRestEncryptionPolicy", "Contoso_Global"),
    ] {
        let d = one(s.json(&[cmd, name]));
        assert_eq!(d["KeyVersionIDs"][0], new_ex.as_str(), "{name}: {d}");
        assert_eq!(d["KeyVersionIDs"][1], before["KeyVersionIDs"][1], "{d}");
        assert!(d["AzureKeyIDs"][0]
            .as_str()
            .unwrap()
            .ends_with("/keys/Contoso-CK-EX-NA-VaultA1-Key001"));
    }
    // The NotBefore of "12/27/2016 12:01 AM" is on the new version, time included.
    let versions = s.json(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "Contoso-CK-EX-NA-VaultA1",
        "-Name",
        "Contoso-CK-EX-NA-VaultA1-Key001",
        "-IncludeVersions",
    ]);
    let v = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Version"] == new_ex.as_str())
        .unwrap();
    assert_eq!(v["Attributes"]["NotBefore"], "2016-12-27T00:01:00Z", "{v}");
    // The mailbox still reads under the refreshed policy.
    let alice = one(s.json(&["Get-MailboxStatistics", "alice"]));
    assert_eq!(alice["IsEncrypted"], true, "{alice}");
    assert_eq!(alice["DataEncryptionPolicyID"], before["Guid"]);
    // SharePoint rolled its primary key onto the new version.
    let new_sp = newest_version(
        &s,
        "Contoso-CK-SP-NA-VaultA1",
        "Contoso-CK-SP-NA-VaultA1-Key001",
    );
    let spo = one(s.json(&["Get-SPODataEncryptionPolicy"]));
    assert_ne!(spo["PrimaryKeyVaultUri"], spo_before["PrimaryKeyVaultUri"]);
    assert!(spo["PrimaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .ends_with(&new_sp));
    assert_eq!(spo["State"], "Registered", "{spo}");
}

#[test]
fn multi_workload_guide_runs_as_written() {
    let s = Store::new();
    s.file("tenant-level.prelude.ps1", None);
    let (_, stderr) = s.file("tenant-level.ps1", None);
    assert_eq!(stderr, "");
    let a = s.json(&["Get-M365DataAtRestEncryptionPolicyAssignment"]);
    assert_eq!(a["Name"], "Default_Policy", "{a}");
    let nam = one(s.json(&["Get-M365DataAtRestEncryptionPolicy", "NAM Policy"]));
    assert_eq!(nam["Enabled"], false, "{nam}");
    let eur = one(s.json(&["Get-M365DataAtRestEncryptionPolicy", "EUR Policy"]));
    let key2 = newest_version(&s, "contosoEastUSvault01", "Key-02");
    assert_eq!(eur["KeyVersionIDs"][1], key2.as_str(), "{eur}");
    // Teams messages and the mailbox without a mailbox DEP are under the tenant's policy.
    let m = one(s.json(&["Get-MgChatMessage", "-ChatId", "Project Falcon"]));
    assert_eq!(m["EncryptionPolicy"], "Default_Policy", "{m}");
    let alice = one(s.json(&["Get-MailboxStatistics", "alice"]));
    assert_eq!(alice["EncryptionPolicy"], "Default_Policy", "{alice}");
}

#[test]
fn sharepoint_cmdlet_reference_examples_run_as_written() {
    let s = Store::new();
    s.file("spo-cmdlets.prelude.ps1", None);
    let (stdout, stderr) = s.file("spo-cmdlets.ps1", None);
    assert_eq!(stderr, "");
    let spo = one(s.json(&["Get-SPODataEncryptionPolicy"]));
    assert_eq!(spo["State"], "Registered", "{spo}");
    let p3 = newest_version(&s, "PKVaultName2", "PrimaryKey3");
    assert_eq!(
        spo["PrimaryKeyVaultUri"],
        format!("https://pkvaultname2.vault.azure.net/keys/PrimaryKey3/{p3}")
    );
    assert!(spo["SecondaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .contains("/keys/SecondaryKey2/"));
    assert_eq!(spo["SitesEncrypted"], spo["SitesTotal"]);
    assert!(stdout.contains("Registered"), "{stdout}");
}
