//! Key rotation policies (Set/Get-AzKeyVaultKeyRotationPolicy), Invoke-AzKeyVaultKeyRotation and
//! due rotations (Invoke-CustomerKeyRotation) refreshing the DEPs that use the key, through the
//! real binary on a SQLite store.

mod common;

use common::Env;

const KEY1: &str = "https://contoso-ck-va1.vault.azure.net/keys/Key001";

fn set_policy(e: &Env, vault: &str, key: &str, tail: &str) -> std::process::Output {
    e.run(&[
        "-Command",
        &format!("Set-AzKeyVaultKeyRotationPolicy -VaultName {vault} -KeyName {key} {tail}"),
    ])
}

fn versions(e: &Env, vault: &str, key: &str) -> Vec<String> {
    let v = e.json_raw(&["Get-AzKeyVaultKey", vault, key, "-IncludeVersions"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| k["Version"].as_str().unwrap().to_string())
        .collect()
}

/// Ten days from now, as the due-rotation clock of the (debug) test binary.
fn later() -> String {
    (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339()
}

#[test]
fn policy_round_trip_and_limits() {
    let e = Env::new();
    e.setup();
    let p = e.json(&[
        "Get-AzKeyVaultKeyRotationPolicy",
        "contoso-ck-va1",
        "Key001",
    ]);
    assert_eq!(p["LifetimeActions"].as_array().unwrap().len(), 0);
    assert!(p["CreatedOn"].is_null());
    let out = set_policy(
        &e,
        "contoso-ck-va1",
        "Key001",
        "-ExpiresIn P2Y -KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P18M'}",
    );
    assert!(out.status.success(), "{out:?}");
    let p = e.json(&[
        "Get-AzKeyVaultKeyRotationPolicy",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ]);
    assert_eq!(p["Id"], format!("{KEY1}/rotationpolicy"));
    assert_eq!(p["VaultName"], "contoso-ck-va1");
    assert_eq!(p["KeyName"], "Key001");
    assert_eq!(p["ExpiresIn"], "P2Y");
    assert_eq!(p["LifetimeActions"][0]["Action"], "Rotate");
    assert_eq!(p["LifetimeActions"][0]["TimeAfterCreate"], "P18M");
    assert!(p["CreatedOn"].is_string() && p["UpdatedOn"].is_string());

    for (tail, says) in [
        ("-ExpiresIn P20D", "at least 28 days"),
        ("-KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P6D'}", "at least 7 days"),
        ("-KeyRotationLifetimeAction @{Action='Rotate'; TimeBeforeExpiry='P30D'}", "needs -ExpiresIn"),
        ("-KeyRotationLifetimeAction @(@{Action='Rotate'; TimeAfterCreate='P7D'}, @{Action='Rotate'; TimeAfterCreate='P8D'})", "at most one Rotate"),
        ("-KeyRotationLifetimeAction @{Action='Explode'; TimeAfterCreate='P8D'}", "Rotate or Notify"),
        ("-ExpiresIn 2years", "ISO 8601"),
    ] {
        let out = set_policy(&e, "contoso-ck-va1", "Key001", tail);
        assert!(!out.status.success(), "{tail} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{tail}: {err}");
    }
    // The refused policies left the first one as it was.
    let p = e.json(&[
        "Get-AzKeyVaultKeyRotationPolicy",
        "contoso-ck-va1",
        "Key001",
    ]);
    assert_eq!(p["ExpiresIn"], "P2Y");
}

#[test]
fn invoke_rotation_makes_a_like_version_with_the_policy_expiry() {
    let e = Env::new();
    e.setup();
    let before = versions(&e, "contoso-ck-va1", "Key001");
    assert!(
        set_policy(&e, "contoso-ck-va1", "Key001", "-ExpiresIn P90D")
            .status
            .success()
    );
    let k = e.json(&["Invoke-AzKeyVaultKeyRotation", "contoso-ck-va1", "Key001"]);
    let after = versions(&e, "contoso-ck-va1", "Key001");
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&k["Version"].as_str().unwrap().to_string()));
    // -IncludeVersions lists the current version first, as Azure does; the rest oldest first.
    assert_eq!(after[0], k["Version"].as_str().unwrap(), "{after:?}");
    assert_eq!(after[1..], before[..], "{after:?} after {before:?}");
    assert_eq!(k["KeyType"], "RSA-HSM");
    let ops: Vec<_> = k["Key"]["key_ops"].as_array().unwrap().clone();
    assert!(ops.iter().any(|o| o == "wrapKey") && ops.iter().any(|o| o == "unwrapKey"));
    let exp =
        chrono::DateTime::parse_from_rfc3339(k["Attributes"]["Expires"].as_str().unwrap()).unwrap();
    let days = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "{days}");
    for op in ["RotateKey", "SetKeyRotationPolicy"] {
        let recs = e.json_raw(&["Get-AzKeyVaultAuditLog", "contoso-ck-va1", "-Operation", op]);
        assert!(!recs.as_array().unwrap().is_empty(), "no {op} audit record");
    }
}

#[test]
fn due_rotation_rotates_and_refreshes_deps_and_not_due_does_nothing() {
    let e = Env::new();
    e.setup();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let old: Vec<String> = serde_json::from_value(dep["KeyVersionIDs"].clone()).unwrap();
    assert!(set_policy(
        &e,
        "contoso-ck-va1",
        "Key001",
        "-KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P7D'}"
    )
    .status
    .success());
    // Not due yet: nothing changes, and it still succeeds.
    let n = versions(&e, "contoso-ck-va1", "Key001").len();
    let out = e.run(&["Invoke-CustomerKeyRotation", "-Format", "Json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key rotation is due"));
    assert_eq!(versions(&e, "contoso-ck-va1", "Key001").len(), n);
    // -WhatIf in ten days: listed as due, nothing made.
    let t = later();
    let out = e.run_env(
        &["Invoke-CustomerKeyRotation", "-WhatIf", "-Format", "Json"],
        &[("CUSTKEY_TEST_NOW", &t)],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(row["Due"], true);
    assert_eq!(row["Rotated"], false);
    assert_eq!(versions(&e, "contoso-ck-va1", "Key001").len(), n);
    // For real in ten days: a new version, and the DEP moves onto it.
    let out = e.run_env(
        &["Invoke-CustomerKeyRotation", "-Format", "Json"],
        &[("CUSTKEY_TEST_NOW", &t)],
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(row["Rotated"], true);
    let new = row["NewVersion"].as_str().unwrap().to_string();
    assert_eq!(row["RefreshedPolicies"][0], "Mailbox:US Mailboxes");
    let vs = versions(&e, "contoso-ck-va1", "Key001");
    assert_eq!(vs.len(), n + 1);
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let now: Vec<String> = serde_json::from_value(dep["KeyVersionIDs"].clone()).unwrap();
    assert!(now.contains(&new), "{now:?} lacks {new}");
    assert_ne!(now, old);
    // The new version is fresh: the same clock finds nothing due any more.
    let out = e.run_env(
        &["Invoke-CustomerKeyRotation", "-Format", "Json"],
        &[("CUSTKEY_TEST_NOW", &t)],
    );
    assert!(out.status.success());
    assert_eq!(versions(&e, "contoso-ck-va1", "Key001").len(), n + 1);
}

#[test]
fn racing_due_rotations_make_one_version() {
    let e = Env::new();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "race-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "race-vault",
        "-Name",
        "RaceKey",
    ]);
    assert!(set_policy(
        &e,
        "race-vault",
        "RaceKey",
        "-KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P7D'}"
    )
    .status
    .success());
    let t = later();
    let bin = env!("CARGO_BIN_EXE_custkey");
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(bin)
                .args(["Invoke-CustomerKeyRotation", "-Format", "Json"])
                .current_dir(e.dir.path())
                .env("CUSTKEY_STORE", e.path("service.db"))
                .env("CUSTKEY_CONFIG_DIR", e.config.path())
                .env("CUSTKEY_KEYRING", "off")
                .env("CUSTKEY_TEST_NOW", &t)
                .envs(e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut rotated = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = if v.is_array() { v[0].clone() } else { v };
        if row["Rotated"] == true {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
    assert_eq!(versions(&e, "race-vault", "RaceKey").len(), 2);
}

#[test]
fn keys_without_a_policy_still_open_and_are_never_due() {
    // A key without a policy is stored exactly as before rotation policies existed (the field
    // is left out), so this is the old vault-file shape.
    let e = Env::new();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "old-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "old-vault",
        "-Name",
        "OldKey",
    ]);
    let t = (chrono::Utc::now() + chrono::Duration::days(3650)).to_rfc3339();
    let out = e.run_env(&["Invoke-CustomerKeyRotation"], &[("CUSTKEY_TEST_NOW", &t)]);
    assert!(out.status.success());
    assert_eq!(versions(&e, "old-vault", "OldKey").len(), 1);
    let k = e.json(&["Get-AzKeyVaultKey", "old-vault", "OldKey"]);
    assert_eq!(k["Name"], "OldKey");
}

#[test]
fn rotation_needs_azure_s_key_permissions() {
    let e = Env::new();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "perm-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "perm-vault",
        "-Name",
        "PermKey",
    ]);
    e.register("bob@contoso.com");
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "perm-vault",
        "-UserPrincipalName",
        "bob@contoso.com",
        "-PermissionsToKeys",
        "get,list",
    ]);
    e.connect("bob@contoso.com");
    let err = e.fails(
        &["Invoke-AzKeyVaultKeyRotation", "perm-vault", "PermKey"],
        1,
    );
    assert!(err.contains("rotate"), "{err}");
    let err = e.fails(
        &["Get-AzKeyVaultKeyRotationPolicy", "perm-vault", "PermKey"],
        1,
    );
    assert!(err.contains("getrotationpolicy"), "{err}");
    e.connect_owner();
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "perm-vault",
        "-UserPrincipalName",
        "bob@contoso.com",
        "-PermissionsToKeys",
        "get,list,rotate,getrotationpolicy",
    ]);
    e.connect("bob@contoso.com");
    e.ok(&["Invoke-AzKeyVaultKeyRotation", "perm-vault", "PermKey"]);
    assert_eq!(versions(&e, "perm-vault", "PermKey").len(), 2);
}

#[test]
fn policy_from_azure_s_json_file() {
    let e = Env::new();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "file-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "file-vault",
        "-Name",
        "FileKey",
    ]);
    let file = e.config.path().join("rotation_policy.json");
    std::fs::write(
        &file,
        // The file of Azure's Example 1: the lifetime under attributes.expiryTime.
        r#"{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P18M", "timeBeforeExpiry": null}, "action": {"type": "Rotate"}}, {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}], "attributes": {"expiryTime": "P2Y"}}"#,
    )
    .unwrap();
    let p = e.json(&[
        "Set-AzKeyVaultKeyRotationPolicy",
        "file-vault",
        "FileKey",
        "-PolicyPath",
        file.to_str().unwrap(),
    ]);
    assert_eq!(p["ExpiresIn"], "P2Y");
    assert_eq!(p["LifetimeActions"][0]["TimeAfterCreate"], "P18M");
    assert_eq!(p["LifetimeActions"][1]["Action"], "Notify");
    assert_eq!(p["LifetimeActions"][1]["TimeBeforeExpiry"], "P30D");
    let err = e.fails(
        &[
            "Set-AzKeyVaultKeyRotationPolicy",
            "file-vault",
            "FileKey",
            "-PolicyPath",
            file.to_str().unwrap(),
            "-ExpiresIn",
            "P1Y",
        ],
        2,
    );
    assert!(err.contains("-PolicyPath does not go with"), "{err}");
    // A top-level expiresIn (the parameter's name) is read too.
    std::fs::write(
        &file,
        r#"{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}], "expiresIn": "P1Y"}"#,
    )
    .unwrap();
    let p = e.json(&[
        "Set-AzKeyVaultKeyRotationPolicy",
        "file-vault",
        "FileKey",
        "-PolicyPath",
        file.to_str().unwrap(),
    ]);
    assert_eq!(p["ExpiresIn"], "P1Y");
    // A file that never ends is refused at the limit, not read into memory.
    let err = e.fails(
        &[
            "Set-AzKeyVaultKeyRotationPolicy",
            "file-vault",
            "FileKey",
            "-PolicyPath",
            "/dev/zero",
        ],
        2,
    );
    assert!(err.contains("larger than"), "{err}");
    let p = e.json(&["Get-AzKeyVaultKeyRotationPolicy", "file-vault", "FileKey"]);
    assert_eq!(p["ExpiresIn"], "P1Y", "a refused file changes nothing");
}

/// A policy left behind its key's current version (a version made by Invoke-AzKeyVaultKeyRotation,
/// which refreshes nothing, or a due-rotation run killed between the new version and the
/// refresh: the store is then in the same state) is refreshed by the next
/// Invoke-CustomerKeyRotation even though no rotation is due; once caught up, a run changes
/// nothing and says so.
#[test]
fn a_policy_behind_its_key_catches_up_on_the_next_run() {
    let e = Env::new();
    e.setup();
    assert!(set_policy(
        &e,
        "contoso-ck-va1",
        "Key001",
        "-KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P7D'}"
    )
    .status
    .success());
    let k = e.json(&["Invoke-AzKeyVaultKeyRotation", "contoso-ck-va1", "Key001"]);
    let new = k["Version"].as_str().unwrap().to_string();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let behind: Vec<String> = serde_json::from_value(dep["KeyVersionIDs"].clone()).unwrap();
    assert!(
        !behind.contains(&new),
        "the manual rotation refreshed nothing yet"
    );
    let out = e.run(&["Invoke-CustomerKeyRotation", "-Format", "Json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(row["Due"], false);
    assert_eq!(row["Rotated"], false);
    assert_eq!(row["RefreshedPolicies"][0], "Mailbox:US Mailboxes");
    assert!(String::from_utf8_lossy(&out.stderr).contains("caught up"));
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let now: Vec<String> = serde_json::from_value(dep["KeyVersionIDs"].clone()).unwrap();
    assert!(now.contains(&new), "{now:?} lacks {new}");
    // Caught up: the next run refreshes nothing.
    let out = e.run(&["Invoke-CustomerKeyRotation", "-Format", "Json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(row["RefreshedPolicies"].as_array().map(Vec::len), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key rotation is due"));
}

/// A due rotation of a SharePoint geo policy's primary key rolls the geo onto the new version
/// (as Update-SPODataEncryptionPolicy -KeyType Primary would), and the geo ends Registered.
#[test]
fn a_rotated_key_rolls_the_sharepoint_geo_that_uses_it() {
    const SPO: &str = "00000003-0000-0ff1-ce00-000000000000";
    let e = Env::new();
    e.key_vault("Contoso-SP-Sub1", "spva1", "SPKey1", "westus", &[SPO]);
    e.key_vault("Contoso-SP-Sub2", "spva2", "SPKey2", "centralus", &[SPO]);
    let version = |vault: &str, key: &str| {
        e.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key])["Version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (v1, v2) = (version("spva1", "SPKey1"), version("spva2", "SPKey2"));
    e.ok(&[
        "Register-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultName",
        "spva1",
        "-PrimaryKeyName",
        "SPKey1",
        "-PrimaryKeyVersion",
        &v1,
        "-SecondaryKeyVaultName",
        "spva2",
        "-SecondaryKeyName",
        "SPKey2",
        "-SecondaryKeyVersion",
        &v2,
    ]);
    assert!(set_policy(
        &e,
        "spva1",
        "SPKey1",
        "-KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P7D'}"
    )
    .status
    .success());
    let out = e.run_env(
        &["Invoke-CustomerKeyRotation", "-Format", "Json"],
        &[("CUSTKEY_TEST_NOW", &later())],
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(row["Rotated"], true);
    let new = row["NewVersion"].as_str().unwrap().to_string();
    let refreshed: Vec<String> = serde_json::from_value(row["RefreshedPolicies"].clone()).unwrap();
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");
    assert!(refreshed[0].starts_with("SharePoint:"), "{refreshed:?}");
    let p = e.json(&["Get-SPODataEncryptionPolicy"]);
    assert_eq!(p["State"], "Registered");
    let primary = p["PrimaryKeyVaultUri"].as_str().unwrap();
    assert!(
        primary.ends_with(&format!("/{new}")),
        "{primary} is not on {new}"
    );
    assert!(p["SecondaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{v2}")));
}

/// Durations past a hundred years are refused when the policy is set (exit 1, as every limit
/// of the policy), so a rotation
/// never computes an expiry past the calendar's range (that would abort the process).
#[test]
fn durations_past_a_hundred_years_are_refused() {
    let e = Env::new();
    e.setup();
    for tail in [
        "-ExpiresIn P100000Y100000Y100000Y",
        "-ExpiresIn P2Y -KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P36501D'}",
    ] {
        let out = set_policy(&e, "contoso-ck-va1", "Key001", tail);
        assert_eq!(out.status.code(), Some(1), "{tail}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("hundred years"), "{tail}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let p = e.json(&[
        "Get-AzKeyVaultKeyRotationPolicy",
        "contoso-ck-va1",
        "Key001",
    ]);
    assert!(p["CreatedOn"].is_null(), "nothing was stored");
    let out = e.run(&["Invoke-AzKeyVaultKeyRotation", "contoso-ck-va1", "Key001"]);
    assert!(out.status.success(), "{out:?}");
}

/// A Notify action is reported when it is due (the key's current version expires within its
/// TimeBeforeExpiry): a NotifyDue row and a warning naming the key and the date; nothing is
/// rotated by it, and before that time nothing is said.
#[test]
fn a_due_notify_action_is_reported_and_changes_nothing() {
    let e = Env::new();
    e.setup();
    let expires = (chrono::Utc::now() + chrono::Duration::days(60)).format("%m/%d/%Y");
    e.ok(&[
        "Update-AzKeyVaultKey",
        "contoso-ck-va1",
        "Key001",
        "-Expires",
        &expires.to_string(),
    ]);
    assert!(set_policy(
        &e,
        "contoso-ck-va1",
        "Key001",
        "-ExpiresIn P1Y -KeyRotationLifetimeAction @{Action='Notify'; TimeBeforeExpiry='P30D'}"
    )
    .status
    .success());
    let n = versions(&e, "contoso-ck-va1", "Key001").len();
    let row = |out: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    };
    // Sixty days before expiry: not yet.
    let out = e.run(&["Invoke-CustomerKeyRotation", "-Format", "Json"]);
    assert!(out.status.success());
    assert_eq!(row(&out)["NotifyDue"], false);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Notify"));
    // Forty days on, within thirty days of expiry: reported, nothing rotated.
    let t = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let out = e.run_env(
        &["Invoke-CustomerKeyRotation", "-Format", "Json"],
        &[("CUSTKEY_TEST_NOW", &t)],
    );
    assert!(out.status.success(), "{out:?}");
    let r = row(&out);
    assert_eq!(r["NotifyDue"], true, "{r}");
    assert_eq!(r["Due"], false);
    assert_eq!(r["Rotated"], false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key contoso-ck-va1/Key001") && err.contains("Notify action is due"),
        "{err}"
    );
    assert_eq!(versions(&e, "contoso-ck-va1", "Key001").len(), n);
}
