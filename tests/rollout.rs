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
    // Its keys do not exist yet: the creation the apply would attempt is refused, and the plan
    // says so before anything runs.
    let dep = find(&plan, "DEP", "US Mailboxes");
    assert_eq!(dep["Action"], "Blocked", "{dep}");
    assert!(
        dep["Detail"]
            .as_str()
            .unwrap()
            .contains("refused: the key vault 'contoso-ck-va1'"),
        "{dep}"
    );
    assert_eq!(dep["Before"], serde_json::Value::Null);
    assert_eq!(dep["After"]["Name"], "US Mailboxes");
    assert_eq!(dep["Cmdlet"], "New-DataEncryptionPolicy");
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
    assert!(
        stderr.contains("2 of 2 change(s) made, 0 failed, 0 skipped."),
        "{stderr}"
    );
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

/// Runs a script on the store in `dir`; panics unless it succeeds.
fn script(dir: &Path, text: &str) {
    let f = dir.join("step.ps1");
    std::fs::write(&f, text).unwrap();
    let out = custkey(dir, &["-File", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const TEAM: &str = r#"
[[dep]]
name = "Team"
key_ids = ["https://contoso-ck-va1.vault.azure.net/keys/Key001",
           "https://contoso-ck-va2.vault.azure.net/keys/Key002"]

[[assignment]]
dep = "Team"
mailboxes = ["dave", "carol", "erin"]
"#;

#[test]
fn the_plan_shows_what_the_service_would_refuse_and_apply_carries_out_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // carol has no licence; dave and erin do.
    script(
        d,
        "'carol','dave','erin' | ForEach-Object { New-Mailbox -Name $_ -Alias $_ } | Out-Null\n\
         'dave','erin' | ForEach-Object { Set-MgUserLicense -UserId $_ -AddLicenses SPE_E5 } | Out-Null\n",
    );
    let file = d.join("team.toml");
    std::fs::write(&file, TEAM).unwrap();

    let (code, plan, stderr) = steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(
        code, 5,
        "an assignment the service refuses is drift: {stderr}"
    );
    assert_eq!(find(&plan, "DEP", "Team")["Action"], "Create");
    let carol = find(&plan, "Mailbox", "carol");
    assert_eq!(carol["Action"], "Blocked", "{carol}");
    assert!(
        carol["Detail"]
            .as_str()
            .unwrap()
            .contains("not licensed for Customer Key"),
        "{carol}"
    );
    assert!(stderr.contains("WARNING: Mailbox carol:"), "{stderr}");
    // Before and after, as values.
    let dave = find(&plan, "Mailbox", "dave");
    assert_eq!(dave["Action"], "Assign");
    assert_eq!(dave["Property"], "DataEncryptionPolicy");
    assert_eq!(dave["Before"], serde_json::Value::Null);
    assert_eq!(dave["After"], "Team");
    assert!(!stderr.contains("matches"), "{stderr}");

    // The apply does what the plan said: the DEP, dave and erin (after carol), never carol; every
    // step is reported, also as JSON; exit 5 for what is left.
    let (code, res, stderr) = steps_with(d, &file, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(find(&res, "DEP", "Team")["Result"], "Done");
    assert_eq!(find(&res, "Mailbox", "dave")["Result"], "Done");
    assert_eq!(find(&res, "Mailbox", "carol")["Result"], "Blocked");
    assert_eq!(find(&res, "Mailbox", "erin")["Result"], "Done");
    let mb = custkey(d, &["Get-Mailbox", "erin", "-Format", "Json"]);
    let mb: serde_json::Value = serde_json::from_slice(&mb.stdout).unwrap();
    assert_eq!(mb[0]["DataEncryptionPolicy"], "Team");

    // Licensed now: the next plan has one change left, then none.
    script(
        d,
        "Set-MgUserLicense -UserId carol -AddLicenses SPE_E5 | Out-Null\n",
    );
    let (code, plan, _) = steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 4);
    assert_eq!(find(&plan, "Mailbox", "carol")["Action"], "Assign");
    assert_eq!(steps_with(d, &file, "Start-CustomerKeyRollout", &[]).0, 0);
    assert_eq!(
        steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]).0,
        0
    );
}

#[test]
fn a_failing_step_is_reported_and_the_steps_after_it_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A DEP over two more vaults; then the Exchange service principal loses its access to them,
    // which no plan check sees (the plan never unwraps a DEP key) and the move of dave refuses.
    script(
        d,
        "$exo = '00000002-0000-0ff1-ce00-000000000000'\n\
         foreach ($v in @('contoso-ck-va3', 'contoso-ck-va4')) {\n\
           New-AzKeyVault -VaultName $v -ResourceGroupName rg -Location westus -Sku Premium | Out-Null\n\
           Set-AzKeyVaultAccessPolicy -VaultName $v -ServicePrincipalName $exo -PermissionsToKeys wrapKey,unwrapKey,get\n\
           Add-AzKeyVaultKey -VaultName $v -Name K -Destination HSM | Out-Null\n\
         }\n\
         $ids = @((Get-AzKeyVaultKey -VaultName contoso-ck-va3 -Name K).Id, (Get-AzKeyVaultKey -VaultName contoso-ck-va4 -Name K).Id)\n\
         New-DataEncryptionPolicy -Name Locked -AzureKeyIDs $ids | Out-Null\n\
         'dave','erin' | ForEach-Object { New-Mailbox -Name $_ -Alias $_ } | Out-Null\n\
         'dave','erin' | ForEach-Object { Set-MgUserLicense -UserId $_ -AddLicenses SPE_E5 } | Out-Null\n\
         Set-Mailbox dave -DataEncryptionPolicy Locked\n\
         foreach ($v in @('contoso-ck-va3', 'contoso-ck-va4')) {\n\
           Remove-AzKeyVaultAccessPolicy -VaultName $v -ServicePrincipalName $exo\n\
         }\n",
    );
    let file = d.join("move.toml");
    std::fs::write(
        &file,
        r#"
[[dep]]
name = "US Mailboxes"
key_ids = ["https://contoso-ck-va1.vault.azure.net/keys/Key001",
           "https://contoso-ck-va2.vault.azure.net/keys/Key002"]

[[assignment]]
dep = "US Mailboxes"
mailboxes = ["dave", "erin"]
"#,
    )
    .unwrap();
    let (code, plan, _) = steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 4);
    assert_eq!(find(&plan, "Mailbox", "dave")["Action"], "Assign");
    let (code, res, stderr) = steps_with(d, &file, "Start-CustomerKeyRollout", &[]);
    assert_eq!(code, 1, "{stderr}");
    let dave = find(&res, "Mailbox", "dave");
    assert_eq!(dave["Result"], "Failed", "{dave}");
    assert!(
        dave["Error"].as_str().is_some_and(|e| !e.is_empty()),
        "{dave}"
    );
    assert!(stderr.contains("error: Mailbox dave (Assign):"), "{stderr}");
    // erin, after dave, was still moved.
    assert_eq!(find(&res, "Mailbox", "erin")["Result"], "Done");
    assert!(
        stderr.contains("1 of 2 change(s) made, 1 failed, 0 skipped."),
        "{stderr}"
    );
    let mb = custkey(d, &["Get-Mailbox", "dave", "-Format", "Json"]);
    let mb: serde_json::Value = serde_json::from_slice(&mb.stdout).unwrap();
    assert_eq!(mb[0]["DataEncryptionPolicy"], "Locked");
}

#[test]
fn a_saved_plan_applies_only_to_the_store_it_was_made_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rollout = example("rollout.toml");
    let plan = d.join("plan.json");
    let p = plan.to_str().unwrap();
    let out = custkey(
        d,
        &["Test-CustomerKeyConfiguration", &rollout, "-PlanFile", p],
    );
    assert_eq!(out.status.code(), Some(4));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(saved["Format"], "custkey-rollout-plan/1");

    // The store moved on (the archive mailbox went elsewhere): the saved plan is refused, exit 6,
    // and nothing changes.
    script(d, "Set-Mailbox archive -DataEncryptionPolicy $null\n");
    let out = custkey(d, &["Start-CustomerKeyRollout", "-PlanFile", p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("the store has changed since the plan"),
        "{stderr}"
    );
    let deps = custkey(d, &["Get-DataEncryptionPolicy", "-Format", "Json"]);
    assert!(!String::from_utf8_lossy(&deps.stdout).contains("Shared Mailboxes"));

    // A fresh plan applies; the rollout file may change meanwhile, the plan carries its own copy.
    let out = custkey(
        d,
        &["Test-CustomerKeyConfiguration", &rollout, "-PlanFile", p],
    );
    assert_eq!(out.status.code(), Some(4));
    let out = custkey(
        d,
        &[
            "Start-CustomerKeyRollout",
            "-PlanFile",
            p,
            "-Format",
            "Json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        custkey(d, &["Test-CustomerKeyConfiguration", &rollout])
            .status
            .code(),
        Some(0)
    );
    // Applied, it is stale: a second apply of the same plan changes nothing.
    assert_eq!(
        custkey(d, &["Start-CustomerKeyRollout", "-PlanFile", p])
            .status
            .code(),
        Some(6)
    );

    // Not a plan, or both -Path and -PlanFile: usage errors.
    std::fs::write(&plan, "{}").unwrap();
    assert_eq!(
        custkey(d, &["Start-CustomerKeyRollout", "-PlanFile", p])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        custkey(d, &["Start-CustomerKeyRollout", &rollout, "-PlanFile", p])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_rollout_needs_the_roles_of_the_cmdlets_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(d, &["-File", &example("setup.ps1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only Compliance Management: may make DEPs, may not assign mailboxes (Organization
    // Management), so the assignment steps are Blocked and never run.
    let key = d.join("cm");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(kg.status.success());
    script(
        d,
        &format!(
            "New-AzADUser -UserPrincipalName cm@contoso.com -PublicKeyFile '{}.pub' | Out-Null\n\
             Add-RoleGroupMember -Identity 'Compliance Management' -Member cm@contoso.com\n",
            key.display()
        ),
    );
    let rollout = example("rollout.toml");
    let c = custkey(
        d,
        &[
            "Connect-AzAccount",
            "-AccountId",
            "cm@contoso.com",
            "-KeyFile",
            key.to_str().unwrap(),
        ],
    );
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let (code, plan, stderr) = steps(d, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(find(&plan, "DEP", "Shared Mailboxes")["Action"], "Create");
    let archive = find(&plan, "Mailbox", "archive");
    assert_eq!(archive["Action"], "Blocked", "{archive}");
    assert!(
        archive["Detail"]
            .as_str()
            .unwrap()
            .contains("Organization Management"),
        "{archive}"
    );
    // Start-CustomerKeyRollout itself needs Organization Management.
    let out = custkey(d, &["Start-CustomerKeyRollout", &rollout]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("not allowed to run Start-CustomerKeyRollout"));
}

#[test]
fn an_exported_configuration_matches_the_store_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for runbook in ["setup.ps1", "multi-workload.ps1", "sharepoint.ps1"] {
        let out = custkey(d, &["-File", &example(runbook), d.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{runbook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let file = d.join("contoso.toml");
    let f = file.to_str().unwrap();
    let out = custkey(d, &["Export-CustomerKeyConfiguration", "-Path", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    for want in [
        "[[dep]]",
        "name = \"US Mailboxes\"",
        "[[m365_policy]]",
        "[m365_assignment]",
        "[[spo_policy]]",
        "mailboxes = [",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    // Nothing pending, nothing drifted: the file is the store.
    let (code, plan, stderr) = steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]);
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(plan.iter().all(|s| s["Action"] == "NoChange"), "{plan:?}");
    // To standard output as well; an existing file is replaced only with -Force.
    let out = custkey(d, &["Export-CustomerKeyConfiguration"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        text.trim_end()
    );
    let out = custkey(d, &["Export-CustomerKeyConfiguration", "-Path", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(custkey(
        d,
        &["Export-CustomerKeyConfiguration", "-Path", f, "-Force"]
    )
    .status
    .success());
    // A change after the export is pending in the next plan.
    let out = custkey(
        d,
        &[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-Description",
            "changed",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        steps_with(d, &file, "Test-CustomerKeyConfiguration", &[]).0,
        4
    );
}
