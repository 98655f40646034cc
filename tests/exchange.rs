//! The Exchange runbooks through the real binary, on a fresh store and real local vaults.

mod common;

use common::{audit_operations, files, item_ciphertexts, Env, EXO};

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
    let db = common::store_bytes(&e);
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

/// A root wrap forged with the customer key's public half alone (the attacker can write the
/// store and chooses the DEP key) passes the wrap's check value but not the DEP's key
/// commitment: user reads refuse, Test-DataEncryptionPolicy fails both customer keys, a move
/// (a service action) wraps the new mailbox key under the genuine DEP key through the
/// availability key, and dropping the commitment does not help the attacker.
#[test]
fn a_root_wrap_forged_with_the_public_key_is_refused() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let genuine = common::forge::forge_dep(&e, "US Mailboxes");

    let err = e.fails(&["New-MailboxExportRequest", "alice", "forged"], 1);
    assert!(err.contains("does not match the key commitment"), "{err}");
    assert!(
        err.contains("help: a copy of the policy's key in the store does not match"),
        "{err}"
    );
    assert!(!e.path("forged").join("000001.eml").exists());
    let out = e.fails(&["Test-DataEncryptionPolicy", "US Mailboxes"], 1);
    assert!(out.contains("2 key(s)"), "{out}");
    assert_eq!(
        out.matches("does not match the key commitment").count(),
        2,
        "{out}"
    );
    // Nothing new goes under the forged key: an import (a user request) refuses.
    e.fails(
        &["New-MailboxImportRequest", "alice", mail.to_str().unwrap()],
        1,
    );
    // A move may use the availability key (audited); its new mailbox key is wrapped under the
    // genuine DEP key, as the export after the genuine copies are back shows.
    e.ok(&["New-MoveRequest", "alice"]);
    assert!(audit_operations(&e)
        .iter()
        .any(|(op, _)| op == "Fallback to Availability Key"));

    // Deleting the commitment does not make the forged copies pass: a new one is made from
    // the availability copy (audited).
    assert_eq!(
        common::store_exec_args(&e, "DELETE FROM key_commitment", &[]),
        1
    );
    let out = e.fails(&["Test-DataEncryptionPolicy", "US Mailboxes"], 1);
    assert_eq!(
        out.matches("does not match the key commitment").count(),
        2,
        "{out}"
    );
    e.fails(&["New-MailboxExportRequest", "alice", "forged"], 1);
    let recorded: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Record Key Commitment")
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].1["Source"], "availability key");

    common::forge::put_back_dep(&e, "US Mailboxes", &genuine);
    let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
    let results: Vec<&str> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Success", "Success", "Success"]);
    e.exports_same("alice", "genuine", &mail);
    // A DEP without a commitment (as one from before schema 9) gets one from its availability
    // copy once, and its genuine copies serve.
    assert_eq!(
        common::store_exec_args(&e, "DELETE FROM key_commitment", &[]),
        1
    );
    e.exports_same("alice", "backfilled", &mail);
    e.exports_same("alice", "again", &mail);
    let recorded = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Record Key Commitment")
        .count();
    assert_eq!(recorded, 2);
}

/// One customer-key copy forged: reads go on through the genuine copy, and
/// Test-DataEncryptionPolicy fails for the forged key only.
#[test]
fn one_forged_root_wrap_fails_its_test_while_the_other_copy_serves() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let genuine = common::forge::forge_dep(&e, "US Mailboxes");
    common::forge::put_back_dep(&e, "US Mailboxes", &genuine[1..]);
    for round in 0..3 {
        e.exports_same("alice", &format!("out{round}"), &mail);
    }
    let out = e.fails(&["Test-DataEncryptionPolicy", "US Mailboxes"], 1);
    assert!(out.contains("1 key(s)"), "{out}");
    assert_eq!(
        out.matches("does not match the key commitment").count(),
        1,
        "{out}"
    );
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
        err.contains("already has 50 active data encryption policies"),
        "{err}"
    );
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy"])
            .as_array()
            .unwrap()
            .len(),
        50
    );
    // A disabled policy does not count: one more can be made, and the disabled one cannot be
    // enabled again while 50 others are active.
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "DEP 2",
        "-Enabled",
        "$false",
    ]);
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "DEP 51",
        "-AzureKeyIDs",
        keys,
    ]);
    let err = e.fails(
        &[
            "Set-DataEncryptionPolicy",
            "-Identity",
            "DEP 2",
            "-Enabled",
            "$true",
        ],
        1,
    );
    assert!(err.contains("stays disabled"), "{err}");
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "DEP 3",
        "-Enabled",
        "$false",
    ]);
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "DEP 2",
        "-Enabled",
        "$true",
    ]);
}

#[test]
fn a_wrong_service_master_key_is_refused_and_changes_nothing() {
    let e = Env::new();
    e.setup();
    let before = common::store_bytes(&e);
    let out = e.run_env(
        &["New-MailboxExportRequest", "alice", "x"],
        &[("CUSTKEY_SERVICE_KEY", &"ab".repeat(32))],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Refused by the key check in the service key's header, before the store is read.
    assert!(
        err.contains("CUSTKEY_SERVICE_KEY is not the service master key"),
        "{err}"
    );
    assert_eq!(common::store_bytes(&e), before);
}

#[test]
fn a_pin_in_a_pkcs11_uri_is_never_printed_back() {
    let e = Env::new();
    for args in [
        vec![
            "New-DataEncryptionPolicy",
            "-Name",
            "x",
            "-AzureKeyIDs",
            "pkcs11:token=ck1;object=r?pin-value=S3CRETPIN,pkcs11:token=ck2;object=r;pin-value=S3CRETPIN",
        ],
        vec!["Get-AzKeyVaultKey", "-VaultName", "pkcs11:token=ck1;object=r?pin-source=S3CRETPIN"],
        vec!["-Command", "Get-AzKeyVaultKey -VaultName 'pkcs11:token=a;pin-value=S3CRETPIN'"],
    ] {
        let out = e.run(&args);
        assert_ne!(out.status.code(), Some(0));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("S3CRETPIN"), "{args:?}: {all}");
        assert!(all.contains("REDACTED"), "{args:?}: {all}");
    }
}

/// A policy's DistinguishedName is an identity like its name, and the recipient-filter recipe
/// of Microsoft's filter reference runs as written: `$dn = (Get-DataEncryptionPolicy "US
/// Mailboxes").DistinguishedName`, then a filter on `DataEncryptionPolicy -eq '$dn'`.
#[test]
fn the_distinguished_name_identifies_a_policy_and_filters_its_mailboxes() {
    let e = Env::new();
    e.setup();
    e.ok(&["New-Mailbox", "-Name", "Bob", "-Alias", "bob", "-Shared"]);
    let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let dn = d["DistinguishedName"].as_str().unwrap().to_string();
    assert!(
        dn.starts_with("CN=US Mailboxes,CN=Data Encryption Policies,"),
        "{dn}"
    );
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", &dn])["Guid"],
        d["Guid"]
    );
    e.ok(&["Set-DataEncryptionPolicy", &dn, "-Description", "by DN"]);
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["Description"],
        "by DN"
    );
    let script = e.path("filter.ps1");
    std::fs::write(
        &script,
        "$dn = (Get-DataEncryptionPolicy \"US Mailboxes\").DistinguishedName\n\
         Get-Mailbox -Filter \"DataEncryptionPolicy -eq '$dn'\" | ForEach-Object { $_.Alias }\n",
    )
    .unwrap();
    let out = e.ok(&["-File", script.to_str().unwrap()]);
    assert_eq!(out.trim(), "alice", "{out}");
    // A DN of another container names no mailbox policy.
    let m365_dn = dn.replace(
        "CN=Data Encryption Policies",
        "CN=M365 Data At Rest Encryption Policies",
    );
    let err = e.fails(&["Get-DataEncryptionPolicy", &m365_dn], 1);
    assert!(err.contains("couldn't be found"), "{err}");
}
