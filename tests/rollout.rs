//! Desired-state rollout through the binary: the plan on an empty store, apply, a second
//! apply that changes nothing, and drift after a manual change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn custkey(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(args)
        .current_dir(dir)
        .env("CUSTKEY_STORE", dir.join("service.db"))
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env_remove("SSH_AUTH_SOCK")
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("CUSTKEY_VAULT_KEY")
        .env_remove("CUSTKEY_VAULT_PASSPHRASE")
        .env_remove("CUSTKEY_SERVICE_KEY")
        .env_remove("COLUMNS")
        .output()
        .expect("run custkey")
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// Runs a rollout cmdlet on examples/rollout.toml with -Format Json.
fn steps(dir: &Path, cmdlet: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    steps_with(dir, &PathBuf::from(example("rollout.toml")), cmdlet, extra)
}

/// Runs a rollout cmdlet on `file` with -Format Json; returns (exit code, steps, stderr).
fn steps_with(
    dir: &Path,
    file: &Path,
    cmdlet: &str,
    extra: &[&str],
) -> (i32, Vec<serde_json::Value>, String) {
    let file = file.display().to_string();
    let mut args = vec![cmdlet, file.as_str(), "-Format", "Json"];
    args.extend(extra);
    let out = custkey(dir, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    let list = match v {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    (out.status.code().unwrap_or(-1), list, stderr)
}

fn find<'a>(steps: &'a [serde_json::Value], kind: &str, target: &str) -> &'a serde_json::Value {
    steps
        .iter()
        .find(|s| s["Kind"] == kind && s["Target"] == target)
        .unwrap_or_else(|| panic!("no {kind} {target} in {steps:?}"))
}

#[test]
fn plan_apply_idempotent_and_drift() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // An empty store: everything is missing or to be created. What rollout cannot create is
    // drift (exit 5, never "matches"), even with changes pending.
    let (code, plan, stderr) = steps(d, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("Drift: "), "{stderr}");
    assert!(!stderr.contains("matches"), "{stderr}");
    assert_eq!(find(&plan, "Vault", "contoso-ck-va1")["Action"], "Missing");
    assert_eq!(find(&plan, "DEP", "US Mailboxes")["Action"], "Create");
    assert_eq!(find(&plan, "Mailbox", "alice")["Action"], "Missing");
    assert!(
        stderr.contains("WARNING: Vault contoso-ck-va1: does not exist"),
        "{stderr}"
    );
    // The plan changed nothing.
    let deps = custkey(d, &["Get-DataEncryptionPolicy", "-Format", "Json"]);
    assert!(!String::from_utf8_lossy(&deps.stdout).contains("US Mailboxes"));

    // The setup runbook makes the vaults, keys, mailboxes and "US Mailboxes".
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, plan, _) = steps(d, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 4);
    assert_eq!(
        find(&plan, "Key", "contoso-ck-va2/Key002")["Action"],
        "NoChange"
    );
    // The runbook made the DEP from versioned key ids: the same keys.
    assert_eq!(find(&plan, "DEP", "US Mailboxes")["Action"], "NoChange");
    assert_eq!(find(&plan, "DEP", "Shared Mailboxes")["Action"], "Create");
    assert_eq!(find(&plan, "Mailbox", "archive")["Action"], "Assign");
    assert_eq!(find(&plan, "Mailbox", "alice")["Action"], "NoChange");

    // -WhatIf applies nothing.
    let (code, res, _) = steps(d, "Start-CustomerKeyRollout", &["-WhatIf"]);
    assert_eq!(code, 0);
    assert_eq!(find(&res, "DEP", "Shared Mailboxes")["Result"], "WhatIf");
    assert_eq!(steps(d, "Test-CustomerKeyConfiguration", &[]).0, 4);

    // Apply.
    let (code, res, stderr) = steps(d, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(find(&res, "DEP", "Shared Mailboxes")["Result"], "Done");
    assert_eq!(find(&res, "Mailbox", "archive")["Result"], "Done");
    assert!(stderr.contains("2 change(s) made."), "{stderr}");
    let mb = custkey(d, &["Get-Mailbox", "archive", "-Format", "Json"]);
    let mb: serde_json::Value = serde_json::from_slice(&mb.stdout).unwrap();
    assert_eq!(mb[0]["DataEncryptionPolicy"], "Shared Mailboxes");

    // A second apply changes nothing and says so; the plan is clean (exit 0).
    let (code, res, stderr) = steps(d, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 0);
    assert!(res.iter().all(|s| s["Result"] == "Unchanged"), "{res:?}");
    assert!(
        stderr.contains("No changes: the store already matches"),
        "{stderr}"
    );
    assert_eq!(steps(d, "Test-CustomerKeyConfiguration", &[]).0, 0);

    // Drift: a manual change shows in the plan, and the next apply puts it back.
    assert!(custkey(
        d,
        &[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-Description",
            "edited by hand"
        ]
    )
    .status
    .success());
    assert!(
        custkey(d, &["Set-Mailbox", "bob", "-DataEncryptionPolicy", "$null"])
            .status
            .success()
    );
    let (code, plan, _) = steps(d, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 4);
    let dep = find(&plan, "DEP", "US Mailboxes");
    assert_eq!(dep["Action"], "Change");
    assert!(dep["Detail"].as_str().unwrap().contains("edited by hand"));
    assert_eq!(find(&plan, "Mailbox", "bob")["Action"], "Assign");
    let (code, _, _) = steps(d, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 0);
    assert_eq!(steps(d, "Test-CustomerKeyConfiguration", &[]).0, 0);

    // A key roll (a new version of Key001): both DEPs are refreshed onto it.
    let out = custkey(
        d,
        &[
            "-Command",
            "Set-AzContext -Subscription Contoso-CK-Sub1 | Out-Null; Add-AzKeyVaultKey -VaultName contoso-ck-va1 -Name Key001 -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, plan, _) = steps(d, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 4);
    assert_eq!(find(&plan, "DEP", "US Mailboxes")["Action"], "Refresh");
    assert_eq!(find(&plan, "DEP", "Shared Mailboxes")["Action"], "Refresh");
    let (code, res, _) = steps(d, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 0);
    assert_eq!(find(&res, "DEP", "US Mailboxes")["Result"], "Done");
    assert_eq!(steps(d, "Test-CustomerKeyConfiguration", &[]).0, 0);
}

#[test]
fn a_bad_file_is_a_usage_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[[dep]]\nname = \"X\"\nkey_ids = [\"a\"]\nenabld = true\n",
    )
    .unwrap();
    let out = custkey(
        dir.path(),
        &["Start-CustomerKeyRollout", f.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `enabld`"), "{stderr}");
}

fn steps_of(dir: &Path, file: &Path, cmdlet: &str) -> (i32, Vec<serde_json::Value>, String) {
    steps_with(dir, file, cmdlet, &[])
}

#[test]
fn multi_workload_policies_and_the_tenant_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        let out = custkey(
            d,
            &[
                "Set-AzKeyVaultAccessPolicy",
                "-VaultName",
                v,
                "-ServicePrincipalName",
                "M365DataAtRestEncryption",
                "-PermissionsToKeys",
                "wrapKey,unwrapKey,get",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let file = PathBuf::from(example("rollout-multi-workload.toml"));
    let (code, plan, _) = steps_of(d, &file, "Test-CustomerKeyConfiguration");
    assert_eq!(code, 4);
    assert_eq!(
        find(&plan, "M365Policy", "Contoso Global")["Action"],
        "Create"
    );
    let a = find(&plan, "Tenant", "M365DataAtRestEncryptionPolicyAssignment");
    assert_eq!(a["Action"], "Assign");
    assert_eq!(a["Detail"], "Microsoft-managed keys -> Contoso Global");

    let (code, res, stderr) = steps_of(d, &file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(find(&res, "M365Policy", "Contoso Global")["Result"], "Done");
    let got = custkey(
        d,
        &[
            "Get-M365DataAtRestEncryptionPolicyAssignment",
            "-Format",
            "Json",
        ],
    );
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["Name"], "Contoso Global");
    // Idempotent.
    let (code, res, _) = steps_of(d, &file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0);
    assert!(res.iter().all(|s| s["Result"] == "Unchanged"), "{res:?}");

    // Moving the tenant to a new policy and disabling the old one in the same file: the plan
    // assigns first, so the disable is allowed.
    let text = std::fs::read_to_string(&file).unwrap();
    let moved = text
        .replace("[m365_assignment]\npolicy = \"Contoso Global\"", "[m365_assignment]\npolicy = \"Contoso Next\"")
        .replace(
            "description = \"Teams, and mailboxes without a mailbox DEP\"",
            "description = \"Teams, and mailboxes without a mailbox DEP\"\nenabled = false",
        )
        + "\n[[m365_policy]]\nname = \"Contoso Next\"\nkey_ids = [\"https://contoso-ck-va1.vault.azure.net/keys/Key001\", \"https://contoso-ck-va2.vault.azure.net/keys/Key002\"]\n";
    let moved_file = d.join("moved.toml");
    std::fs::write(&moved_file, moved).unwrap();
    let (code, plan, _) = steps_of(d, &moved_file, "Test-CustomerKeyConfiguration");
    assert_eq!(code, 4);
    let order: Vec<(String, String)> = plan
        .iter()
        .filter(|s| s["Action"] != "NoChange")
        .map(|s| {
            (
                s["Action"].as_str().unwrap().into(),
                s["Target"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            ("Create".into(), "Contoso Next".into()),
            (
                "Assign".into(),
                "M365DataAtRestEncryptionPolicyAssignment".into()
            ),
            ("Change".into(), "Contoso Global".into()),
        ]
    );
    let (code, _, stderr) = steps_of(d, &moved_file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        steps_of(d, &moved_file, "Test-CustomerKeyConfiguration").0,
        0
    );

    // A file that assigns a policy it does not describe is refused before anything runs.
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[m365_assignment]\npolicy = \"Elsewhere\"\n").unwrap();
    let out = custkey(d, &["Test-CustomerKeyConfiguration", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("which no [[m365_policy]] describes"));
}

#[test]
fn a_geo_policy_is_registered_then_rolled_onto_new_key_versions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let out = custkey(d, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&["-File", &example("setup.ps1")]);
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            "00000003-0000-0ff1-ce00-000000000000",
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    // A site with a file exists before the policy: registration takes it under the policy.
    ok(&["New-PnPSite", "-Title", "Finance", "-Alias", "finance"]);
    std::fs::write(d.join("q3.txt"), b"quarterly numbers").unwrap();
    ok(&[
        "Add-PnPFile",
        "-Path",
        "q3.txt",
        "-Folder",
        "Shared Documents",
        "-Site",
        "https://contoso.sharepoint.com/sites/finance",
    ]);

    let file = PathBuf::from(example("rollout-sharepoint.toml"));
    let (code, plan, _) = steps_of(d, &file, "Test-CustomerKeyConfiguration");
    assert_eq!(code, 4);
    assert_eq!(find(&plan, "GeoPolicy", "NAM")["Action"], "Create");
    let (code, res, stderr) = steps_of(d, &file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(find(&res, "GeoPolicy", "NAM")["Result"], "Done");
    let geo: serde_json::Value =
        serde_json::from_str(&ok(&["Get-SPODataEncryptionPolicy", "-Format", "Json"])).unwrap();
    assert_eq!(geo["State"], "Registered");
    let first_primary = geo["PrimaryKeyVaultUri"].as_str().unwrap().to_string();
    let (code, res, _) = steps_of(d, &file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0);
    assert!(res.iter().all(|s| s["Result"] == "Unchanged"), "{res:?}");

    // Roll both customer keys: the plan rolls each, one after the other.
    ok(&["-Command", "Set-AzContext Contoso-CK-Sub1 | Out-Null; Add-AzKeyVaultKey -VaultName contoso-ck-va1 -Name Key001 -Destination HSM | Out-Null; Set-AzContext Contoso-CK-Sub2 | Out-Null; Add-AzKeyVaultKey -VaultName contoso-ck-va2 -Name Key002 -Destination HSM | Out-Null"]);
    let (code, plan, _) = steps_of(d, &file, "Test-CustomerKeyConfiguration");
    assert_eq!(code, 4);
    let rolls: Vec<&str> = plan
        .iter()
        .filter(|s| s["Kind"] == "GeoPolicy")
        .map(|s| s["Detail"].as_str().unwrap())
        .collect();
    assert_eq!(rolls.len(), 2, "{rolls:?}");
    assert!(
        rolls[0].starts_with("roll the Primary key")
            && rolls[1].starts_with("roll the Secondary key")
    );
    let (code, _, stderr) = steps_of(d, &file, "Start-CustomerKeyRollout");
    assert_eq!(code, 0, "{stderr}");
    let geo: serde_json::Value =
        serde_json::from_str(&ok(&["Get-SPODataEncryptionPolicy", "-Format", "Json"])).unwrap();
    assert_eq!(geo["State"], "Registered");
    assert_ne!(geo["PrimaryKeyVaultUri"], first_primary.as_str());
    assert_eq!(steps_of(d, &file, "Test-CustomerKeyConfiguration").0, 0);
    // The file reads back under the rolled keys (into a folder that must exist).
    let out = custkey(
        d,
        &[
            "Get-PnPFile",
            "-Url",
            "/sites/finance/Shared Documents/q3.txt",
            "-AsFile",
            "-Path",
            "out",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the folder 'out' does not exist"));
    std::fs::create_dir(d.join("out")).unwrap();
    ok(&[
        "Get-PnPFile",
        "-Url",
        "/sites/finance/Shared Documents/q3.txt",
        "-AsFile",
        "-Path",
        "out",
    ]);
    assert_eq!(
        std::fs::read(d.join("out/q3.txt")).unwrap(),
        b"quarterly numbers"
    );

    // Disabling the key version the geo policy now uses warns about the geo policy only (the
    // mailbox DEP is still on the previous version).
    let out = custkey(
        d,
        &[
            "Update-AzKeyVaultKey",
            "contoso-ck-va1",
            "Key001",
            "-Enable",
            "false",
            "-WhatIf",
        ],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("breaks the SharePoint geo policy of NAM"),
        "{err}"
    );
    assert!(!err.contains("US Mailboxes"), "{err}");
}

#[test]
fn drift_rollout_cannot_fix_is_never_reported_as_matching() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A vault and a mailbox that do not exist, and a DEP whose keys differ from the store's;
    // nothing else to do.
    let file = d.join("r2.toml");
    std::fs::write(
        &file,
        r#"
[[vault]]
name = "contoso-ck-va9"
keys = ["Key009"]

[[dep]]
name = "US Mailboxes"
key_ids = [
    "https://contoso-ck-va1.vault.azure.net/keys/Key001",
    "https://contoso-ck-va9.vault.azure.net/keys/Key009",
]

[[assignment]]
dep = "US Mailboxes"
mailboxes = ["nobody"]
"#,
    )
    .unwrap();
    for cmdlet in ["Test-CustomerKeyConfiguration", "Start-CustomerKeyRollout"] {
        let (code, plan, stderr) = steps_with(d, &file, cmdlet, &[]);
        assert_eq!(code, 5, "{cmdlet}: {stderr}");
        assert!(!stderr.contains("matches"), "{cmdlet}: {stderr}");
        assert!(stderr.contains("Drift: "), "{cmdlet}: {stderr}");
        assert_eq!(find(&plan, "Vault", "contoso-ck-va9")["Action"], "Missing");
        assert_eq!(find(&plan, "DEP", "US Mailboxes")["Action"], "Differs");
        assert_eq!(find(&plan, "Mailbox", "nobody")["Action"], "Missing");
    }
}
