//! `Set-DataEncryptionPolicy -AzureKeyIDs <old>,<new> -Replace` (and the multi-workload
//! cmdlet's): the DEP key is re-wrapped under the new key, the copy under the old key is gone,
//! and every rule of a new policy's keys holds for the new one.

mod common;

use common::{audit_operations, store_rows, Env, EXO, M365};

const KEY1: &str = "https://contoso-ck-va1.vault.azure.net/keys/Key001";
const KEY2: &str = "https://contoso-ck-va2.vault.azure.net/keys/Key002";
const KEY3: &str = "https://contoso-ck-va3.vault.azure.net/keys/Key003";

fn key_ids(e: &Env, policy: &str) -> Vec<String> {
    e.json(&["Get-DataEncryptionPolicy", policy])["AzureKeyIDs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn wrapped_key_uris(e: &Env) -> Vec<String> {
    store_rows(e, "SELECT key_uri FROM dep_root_wrap ORDER BY slot", &[])
        .into_iter()
        .map(|r| r[0].text())
        .collect()
}

/// The setup guide's policy over Key001 and Key002, alice's mail imported, and a third vault.
fn setup() -> (Env, std::path::PathBuf) {
    let e = Env::new();
    e.setup();
    e.key_vault(
        "Contoso-CK-Sub3",
        "contoso-ck-va3",
        "Key003",
        "eastus",
        &[EXO],
    );
    let (dir, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", dir.to_str().unwrap()]);
    (e, dir)
}

#[test]
fn a_replaced_key_no_longer_opens_the_policy_and_the_new_one_does() {
    let (e, mail) = setup();
    let before = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY3}"),
        "-Replace",
    ]);
    let after = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    assert_eq!(
        key_ids(&e, "US Mailboxes"),
        vec![KEY3.to_string(), KEY2.into()]
    );
    let k3 = e.json(&["Get-AzKeyVaultKey", "contoso-ck-va3", "Key003"]);
    let versions = after["KeyVersionIDs"].as_array().unwrap();
    assert!(
        versions[0]
            .as_str()
            .unwrap()
            .ends_with(k3["Version"].as_str().unwrap()),
        "{after}"
    );
    assert_eq!(
        versions[1], before["KeyVersionIDs"][1],
        "the other copy is untouched"
    );
    assert_eq!(after["Guid"], before["Guid"]);
    // The copy under Key001 is gone from the store.
    assert_eq!(wrapped_key_uris(&e), vec![KEY3.to_string(), KEY2.into()]);
    let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
    let tested: Vec<String> = t
        .as_array()
        .unwrap()
        .iter()
        .inspect(|r| assert_eq!(r["Result"], "Success", "{r}"))
        .map(|r| r["KeyId"].as_str().unwrap().to_string())
        .collect();
    assert!(tested.iter().any(|k| k.starts_with(KEY3)), "{tested:?}");
    assert!(!tested.iter().any(|k| k.starts_with(KEY1)), "{tested:?}");
    // With Key002 revoked, Key003 alone opens the mail; with Key003 revoked too, nothing does,
    // though the service can still use Key001: it no longer holds a copy.
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va2",
        "-ServicePrincipalName",
        EXO,
    ]);
    e.exports_same("alice", "out1", &mail);
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va3",
        "-ServicePrincipalName",
        EXO,
    ]);
    let out = e.run(&["New-MailboxExportRequest", "alice", "out2"]);
    assert!(!out.status.success(), "the old key still opened the policy");
    // Audited, with both keys named.
    assert!(audit_operations(&e)
        .iter()
        .any(|(op, p)| op == "Set-DataEncryptionPolicy"
            && p["Replace"]["Old"] == KEY1
            && p["Replace"]["New"] == KEY3));
}

#[test]
fn a_replacement_key_must_pass_the_rules_and_a_refused_one_changes_nothing() {
    let (e, _) = setup();
    // A vault the Exchange service principal has no access to.
    e.key_vault(
        "Contoso-CK-Sub4",
        "contoso-ck-va4",
        "Key004",
        "eastus2",
        &[],
    );
    e.ok(&[
        "Add-AzKeyVaultKey",
        "contoso-ck-va2",
        "Key002b",
        "-Destination",
        "HSM",
    ]);
    let set = |ids: &str| {
        vec![
            "Set-DataEncryptionPolicy".to_string(),
            "US Mailboxes".into(),
            "-AzureKeyIDs".into(),
            ids.to_string(),
            "-Replace".into(),
        ]
    };
    let fails = |args: Vec<String>, code: i32| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        e.fails(&a, code)
    };
    let err = fails(set(&format!("{KEY3},{KEY1}")), 2);
    assert!(
        err.contains("is not a key of the data encryption policy"),
        "{err}"
    );
    assert!(
        err.contains(KEY2),
        "the message lists the policy's keys: {err}"
    );
    let err = fails(set(&format!("{KEY1},{KEY2}")), 1);
    assert!(err.contains("already a key of"), "{err}");
    let err = fails(
        set(&format!(
            "{KEY1},https://contoso-ck-va2.vault.azure.net/keys/Key002b"
        )),
        1,
    );
    assert!(err.contains("same key vault"), "{err}");
    let err = fails(
        set(&format!(
            "{KEY1},https://contoso-ck-va4.vault.azure.net/keys/Key004"
        )),
        1,
    );
    assert!(err.contains("wrapKey"), "{err}");
    // The parameter set: two keys, with -Replace, not with -Refresh.
    let err = fails(set(&format!("{KEY1},{KEY2},{KEY3}")), 2);
    assert!(err.contains("two keys"), "{err}");
    let err = e.fails(
        &[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-AzureKeyIDs",
            KEY3,
        ],
        2,
    );
    assert!(err.contains("only with -Replace"), "{err}");
    let err = e.fails(&["Set-DataEncryptionPolicy", "US Mailboxes", "-Replace"], 2);
    assert!(err.contains("needs -AzureKeyIDs"), "{err}");
    let mut both = set(&format!("{KEY1},{KEY3}"));
    both.push("-Refresh".into());
    let err = fails(both, 2);
    assert!(err.contains("two parameter sets"), "{err}");
    // -WhatIf changes nothing either.
    let mut what_if = set(&format!("{KEY1},{KEY3}"));
    what_if.push("-WhatIf".into());
    let a: Vec<&str> = what_if.iter().map(String::as_str).collect();
    e.ok(&a);
    assert_eq!(
        key_ids(&e, "US Mailboxes"),
        vec![KEY1.to_string(), KEY2.into()]
    );
    assert_eq!(wrapped_key_uris(&e), vec![KEY1.to_string(), KEY2.into()]);
}

/// A key that is lost (its vault deleted) is what a replacement is for: the policy is opened
/// with the key that remains.
#[test]
fn a_lost_key_is_replaced_with_the_key_that_remains() {
    let (e, mail) = setup();
    e.ok(&[
        "Remove-AzKeyVault",
        "-VaultName",
        "contoso-ck-va1",
        "-Force",
    ]);
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY3}"),
        "-Replace",
    ]);
    assert_eq!(
        key_ids(&e, "US Mailboxes"),
        vec![KEY3.to_string(), KEY2.into()]
    );
    e.exports_same("alice", "out", &mail);
}

#[test]
fn a_multi_workload_policy_key_is_replaced_the_same_way() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[M365],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "centralus",
        &[M365],
    );
    e.key_vault(
        "Contoso-CK-Sub3",
        "contoso-ck-va3",
        "Key003",
        "eastus",
        &[M365],
    );
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "-Name",
        "Contoso_Global",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY2}"),
    ]);
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicy",
        "Contoso_Global",
        "-AzureKeyIDs",
        &format!("{KEY2},{KEY3}"),
        "-Replace",
    ]);
    let p = e.json(&["Get-M365DataAtRestEncryptionPolicy", "Contoso_Global"]);
    assert_eq!(p["AzureKeyIDs"], serde_json::json!([KEY1, KEY3]), "{p}");
    let t = e.json(&["Test-M365DataAtRestEncryptionPolicy", "Contoso_Global"]);
    for r in t.as_array().unwrap() {
        assert_eq!(r["Result"], "Success", "{r}");
    }
}

/// When the customer has revoked the service's access to both keys, a replacement does not
/// open the DEP key with the availability key and wrap it under a new key: that would undo the
/// revocation. It is refused, and nothing changes.
#[test]
fn a_replacement_does_not_undo_a_revocation_of_both_keys() {
    let (e, _) = setup();
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    let err = e.fails(
        &[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-AzureKeyIDs",
            &format!("{KEY1},{KEY3}"),
            "-Replace",
        ],
        1,
    );
    assert!(err.contains("refuse the service"), "{err}");
    assert_eq!(
        key_ids(&e, "US Mailboxes"),
        vec![KEY1.to_string(), KEY2.into()]
    );
    assert_eq!(wrapped_key_uris(&e), vec![KEY1.to_string(), KEY2.into()]);
    assert!(!audit_operations(&e)
        .iter()
        .any(|(op, _)| op == "Fallback to Availability Key"));
    // One key revoked and the other fine: the replacement opens it with the good one.
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va2",
        "-PermissionsToKeys",
        "wrapKey,unwrapKey,get",
        "-ServicePrincipalName",
        EXO,
    ]);
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY3}"),
        "-Replace",
    ]);
    assert_eq!(
        key_ids(&e, "US Mailboxes"),
        vec![KEY3.to_string(), KEY2.into()]
    );
}
