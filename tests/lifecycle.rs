//! Key lifecycle runbooks through the binary: the data purge path (each refusal, approval by
//! a second approver, crypto-shredding checked on the raw files), recovery after losing both
//! root keys, and the warnings before disabling a key version a DEP still uses.

mod common;

use common::{audit_operations, files, files_under, item_ciphertexts, Env, EXO};

const VAULTS: [&str; 2] = ["contoso-ck-va1", "contoso-ck-va2"];

/// Every stored copy of key material and ciphertext, at least 32 bytes each.
fn secrets(e: &Env) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for sql in [
        "SELECT availability_key FROM dep WHERE kind = 'Mailbox' AND availability_key IS NOT NULL",
        "SELECT wrapped_by_availability FROM dep WHERE kind = 'Mailbox' AND wrapped_by_availability IS NOT NULL",
        "SELECT wrapped FROM dep_root_wrap",
        "SELECT wrapped FROM mailbox_key",
    ] {
        let rows = common::blobs(e, sql);
        assert!(!rows.is_empty(), "nothing found by {sql}");
        out.extend(rows);
    }
    let content = item_ciphertexts(e);
    assert!(!content.is_empty(), "no item ciphertext found");
    // Every 64 KiB ciphertext segment of every item, not only each item's first bytes. Content
    // in PostgreSQL rows is TOASTed in ~2 KB pieces, so a byte search of the files cannot find
    // it reliably: there the test checks the rows themselves after the purge instead (and the
    // ciphertext is under the destroyed keys either way, docs/store.md).
    if files_under(&e.path("content")).is_empty() {
        return out;
    }
    for c in content {
        out.extend(c.chunks(65552).map(|s| s.to_vec()));
    }
    out
}

/// The store, its write-ahead log and every content file, concatenated. On PostgreSQL: the
/// files of the store's database in the server's data directory after a CHECKPOINT (the
/// server's WAL is not in it: docs/store.md says what it keeps).
fn on_disk(e: &Env) -> Vec<u8> {
    let mut bytes = match e.pg_url() {
        Some(url) => {
            let mut c = common::postgres_client(url);
            c.batch_execute("CHECKPOINT").unwrap();
            let dir: String = c
                .query_one(
                    "SELECT setting FROM pg_settings WHERE name = 'data_directory'",
                    &[],
                )
                .unwrap()
                .get(0);
            let oid: postgres::types::Oid = c
                .query_one(
                    "SELECT oid FROM pg_database WHERE datname = current_database()",
                    &[],
                )
                .unwrap()
                .get(0);
            let mut b = Vec::new();
            for f in files_under(
                &std::path::Path::new(&dir)
                    .join("base")
                    .join(oid.to_string()),
            ) {
                b.extend(std::fs::read(f).unwrap());
            }
            assert!(
                b.len() > 100_000,
                "the database's files were not found in {dir}"
            );
            b
        }
        None => {
            let mut b = std::fs::read(e.path("service.db")).unwrap();
            if let Ok(w) = std::fs::read(e.path("service.db-wal")) {
                b.extend(w);
            }
            b
        }
    };
    for f in files_under(&e.path("content")) {
        bytes.extend(std::fs::read(f).unwrap());
    }
    bytes
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let n = &needle[..needle.len().min(64)];
    hay.windows(n.len()).any(|w| w == n)
}

#[test]
fn data_purge_path_refusals_second_approver_and_crypto_shredding() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let purge = [
        "Set-DataEncryptionPolicy",
        "-Identity",
        "US Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Leaving the service",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
    ];
    // Refused while the service still holds wrapKey/unwrapKey.
    let err = e.fails(&[&purge[..], &["-Confirm:false"]].concat(), 1);
    assert!(
        err.contains("still has wrapKey and unwrapKey on key vault"),
        "{err}"
    );
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULTS[0],
        "-ServicePrincipalName",
        EXO,
    ]);
    let err = e.fails(&[&purge[..], &["-Confirm:false"]].concat(), 1);
    assert!(err.contains(VAULTS[1]), "{err}");
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULTS[1],
        "-ServicePrincipalName",
        EXO,
    ]);
    // Destructive: without a terminal it needs -Confirm:$false.
    let err = e.fails(&purge, 2);
    assert!(err.contains("needs confirmation"), "{err}");
    let err = e.fails(
        &[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-PermanentDataPurgeRequested",
            "-Confirm:false",
        ],
        2,
    );
    assert!(err.contains("needs -PermanentDataPurgeReason"), "{err}");
    // Only a listed approver requests a purge.
    let err = e.fails(&[&purge[..], &["-Confirm:false"]].concat(), 1);
    assert!(err.contains("is not a data purge approver"), "{err}");
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "admin@contoso.onmicrosoft.com",
    ]);
    e.ok(&[&purge[..], &["-Confirm:false"]].concat());
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["State"],
        "PendingDataPurge"
    );
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "dpo@contoso.com",
    ]);
    // A pending purge blocks assignment.
    e.ok(&["New-Mailbox", "Help", "-Shared"]);
    let err = e.fails(
        &[
            "Set-Mailbox",
            "Help",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(err.contains("pending data purge"), "{err}");

    // Approval: not an approver; the requester himself; then a second approver.
    let err = e.fails(
        &["Approve-DataPurgeRequest", "US Mailboxes", "-Confirm:false"],
        1,
    );
    assert!(err.contains("is not a data purge approver"), "{err}");
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "admin@contoso.onmicrosoft.com,ciso@contoso.com",
    ]);
    let err = e.fails(
        &["Approve-DataPurgeRequest", "US Mailboxes", "-Confirm:false"],
        1,
    );
    assert!(
        err.contains("requested this purge and cannot also approve it"),
        "{err}"
    );
    e.register("ciso@contoso.com");
    e.connect("ciso@contoso.com");
    let err = e.fails(&["Approve-DataPurgeRequest", "US Mailboxes"], 2);
    assert!(err.contains("needs confirmation"), "{err}");

    let before = secrets(&e);
    // The search below sees every secret before the purge (content included), ...
    let disk = on_disk(&e);
    // (content in pack files, or with a PostgreSQL store in its content_chunk rows)
    assert!(
        !files_under(&e.path("content")).is_empty()
            || common::store_rows(&e, "SELECT count(*) FROM content_chunk", &[])[0][0].int() > 0
    );
    for (i, s) in before.iter().enumerate() {
        assert!(contains(&disk, s), "secret #{i} not found before the purge");
    }
    let report = e.json(&["Approve-DataPurgeRequest", "US Mailboxes", "-Confirm:false"]);
    assert_eq!(report["State"], "Purged");
    assert_eq!(report["ItemsDeleted"], 3);
    assert_eq!(report["ApprovedBy"], "ciso@contoso.com");
    assert_eq!(report["RequestedBy"], "admin@contoso.onmicrosoft.com");
    assert_eq!(report["Mailboxes"], serde_json::json!(["Alice Example"]));
    // Both steps are signed, and anyone can check the signatures with OpenSSH.
    let sigs = report["Signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{report}");
    for (sig, (step, who)) in sigs.iter().zip([
        ("request", "admin@contoso.onmicrosoft.com"),
        ("approval", "ciso@contoso.com"),
    ]) {
        assert_eq!(sig["Step"], step);
        assert_eq!(sig["Principal"], who);
        assert_eq!(
            ssh_verify(&e, sig, who),
            Ok(()),
            "{step} signature does not verify"
        );
        // An altered statement does not verify.
        let mut forged = sig.clone();
        forged["Statement"] = serde_json::json!(sig["Statement"]
            .as_str()
            .unwrap()
            .replace("Leaving the service", "Leaving the servicE"));
        if step == "request" {
            assert!(ssh_verify(&e, &forged, who).is_err());
        }
    }
    let approval = sigs[1]["Statement"].as_str().unwrap();
    let request_digest = hex_sha256(sigs[0]["Statement"].as_str().unwrap());
    assert!(
        approval.contains(&format!("request-sha256: {request_digest}")),
        "{approval}"
    );

    // ... and after it, no copy of any wrapped key or ciphertext is left in the files; the
    // purged mailbox's content files are gone.
    assert_eq!(
        files_under(&e.path("content")),
        Vec::<std::path::PathBuf>::new()
    );
    if e.pg_url().is_some() {
        let left = common::store_rows(
            &e,
            "SELECT count(*) FROM content_chunk c WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.pack = c.pack)",
            &[],
        )[0][0]
            .int();
        assert_eq!(left, 0, "content rows of the purged mailbox are left");
    }
    let disk = on_disk(&e);
    for (i, s) in before.iter().enumerate() {
        assert!(
            !contains(&disk, s),
            "secret #{i} is still on disk after the purge"
        );
    }
    // Even with the service's access restored, nothing opens: no key, no content.
    e.connect_owner();
    for v in VAULTS {
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
    let out = e.run(&[
        "Test-DataEncryptionPolicy",
        "US Mailboxes",
        "-Format",
        "Json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["KeyType"], "AvailabilityKey");
    assert_eq!(t["Result"], "Destroyed");
    let stats = e.json(&["Get-MailboxStatistics", "alice"]);
    assert_eq!(stats["ItemCount"], 0);
    let mbx = e.json(&["Get-Mailbox", "alice"]);
    assert!(mbx["DataPurgedTime"].is_string());
    let err = e.fails(
        &["New-MailboxImportRequest", "alice", mail.to_str().unwrap()],
        1,
    );
    assert!(err.contains("destroyed"), "{err}");

    // Every step is in the unified audit log.
    let log = e.json(&[
        "Search-UnifiedAuditLog",
        "-StartDate",
        "2000-01-01",
        "-EndDate",
        "2100-01-01",
        "-ResultSize",
        "1000",
    ]);
    let ops: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Operations"].as_str().unwrap())
        .collect();
    for op in [
        "New-DataEncryptionPolicy",
        "Set-DataEncryptionPolicy -PermanentDataPurgeRequested",
        "Approve-DataPurgeRequest",
        "Availability Key Destroyed",
        "Data Purge Completed",
    ] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let done = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Operations"] == "Data Purge Completed")
        .unwrap();
    assert_eq!(done["AuditData"]["ItemsDeleted"], 3);
    assert_eq!(done["RecordType"], "CustomerKeyServiceEncryption");
}

#[test]
fn a_deleted_vault_needs_force_for_the_purge_request() {
    let e = Env::new();
    e.setup();
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULTS[0],
        "-ServicePrincipalName",
        EXO,
    ]);
    std::fs::remove_file(e.path(&format!("vaults/{}.vault", VAULTS[1]))).unwrap();
    let args = [
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Exit",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
        "-Confirm:false",
    ];
    let err = e.fails(&args, 1);
    assert!(err.contains("add -Force"), "{err}");
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "admin@contoso.onmicrosoft.com",
    ]);
    e.ok(&[&args[..], &["-Force"]].concat());
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["State"],
        "PendingDataPurge"
    );
}

#[test]
fn recovery_after_losing_both_root_keys_uses_the_availability_key() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    // Both root keys are lost for good: their vaults are gone and no backup is used.
    for v in VAULTS {
        std::fs::remove_file(e.path(&format!("vaults/{v}.vault"))).unwrap();
    }
    let err = e.fails(&["New-MailboxExportRequest", "alice", "lost"], 1);
    assert!(err.contains("refused to unwrap"), "{err}");
    // New keys in new vaults, a new DEP, and the mailbox reassigned.
    for (sub, vault, key) in [
        ("Recovery-Sub1", "contoso-ck-vb1", "Key101"),
        ("Recovery-Sub2", "contoso-ck-vb2", "Key102"),
    ] {
        e.ok(&["Set-AzContext", sub]);
        e.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        e.ok(&[
            "New-AzKeyVault",
            vault,
            "rg",
            if vault.ends_with('1') {
                "westus"
            } else {
                "eastus"
            },
        ]);
        e.ok(&["Add-AzKeyVaultKey", vault, key]);
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            vault,
            "-ServicePrincipalName",
            EXO,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    e.ok(&["New-DataEncryptionPolicy", "US Mailboxes 2", "-AzureKeyIDs", "https://contoso-ck-vb1.vault.azure.net/keys/Key101,https://contoso-ck-vb2.vault.azure.net/keys/Key102"]);
    e.ok(&[
        "Set-Mailbox",
        "alice",
        "-DataEncryptionPolicy",
        "US Mailboxes 2",
    ]);
    e.ok(&["New-MailboxExportRequest", "alice", "recovered"]);
    assert_eq!(files(&e.path("recovered")), files(&mail));
    let stats = e.json(&["Get-MailboxStatistics", "alice"]);
    assert_eq!(stats["IsEncrypted"], true);
    assert_eq!(stats["DataEncryptionPolicy"], "US Mailboxes 2");
    let fallbacks: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .collect();
    assert_eq!(fallbacks.len(), 1, "{fallbacks:?}");
}

#[test]
fn disabling_a_key_version_a_dep_uses_warns_and_whatif_changes_nothing() {
    let e = Env::new();
    e.setup();
    let out = e.run(&[
        "Update-AzKeyVaultKey",
        "-VaultName",
        VAULTS[0],
        "-Name",
        "Key001",
        "-Enable",
        "false",
        "-WhatIf",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARNING: disabling https://contoso-ck-va1.vault.azure.net/keys/Key001/"),
        "{err}"
    );
    assert!(
        err.contains("breaks data encryption policy 'US Mailboxes'"),
        "{err}"
    );
    assert!(err.contains("What if:"), "{err}");
    assert_eq!(
        e.json(&["Get-AzKeyVaultKey", VAULTS[0], "Key001"])["Enabled"],
        true
    );
    // After a roll and refresh the old version no longer wraps a live copy: no warning for it.
    let old = e.json(&["Get-AzKeyVaultKey", VAULTS[0], "Key001"])["Version"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok(&["Add-AzKeyVaultKey", VAULTS[0], "Key001"]);
    e.ok(&["Set-DataEncryptionPolicy", "US Mailboxes", "-Refresh"]);
    let out = e.run(&[
        "Update-AzKeyVaultKey",
        VAULTS[0],
        "Key001",
        "-Version",
        &old,
        "-Enable",
        "false",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("WARNING"));
    // Removing the key (all versions) still warns: the new version wraps the DEP key.
    let out = e.run(&["Remove-AzKeyVaultKey", VAULTS[0], "Key001", "-WhatIf"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WARNING: removing"),
        "{out:?}"
    );
}

#[test]
fn one_person_cannot_approve_their_own_purge_under_a_look_alike_name() {
    let e = Env::new();
    e.setup();
    for v in VAULTS {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    // Names with invisible or control characters are refused where they are given.
    for name in [
        "ci\u{200b}so@contoso.com",
        "ciso@contoso.com\u{feff}",
        "ci\u{1b}so@contoso.com",
    ] {
        let err = e.fails(&["Connect-AzAccount", name], 2);
        assert!(err.contains("is not a user principal name"), "{err}");
        let err = e.fails(&["Set-OrganizationConfig", "-DataPurgeApprovers", name], 2);
        assert!(err.contains("is not a user principal name"), "{err}");
    }
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "ciso@contoso.com",
    ]);
    e.register("ciso@contoso.com");
    // The CISO requests the purge as an Exchange administrator.
    e.ok(&[
        "Add-RoleGroupMember",
        "-Identity",
        "Organization Management",
        "-Member",
        "ciso@contoso.com",
    ]);
    e.connect("ciso@contoso.com");
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Leaving",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
        "-Confirm:false",
    ]);
    // The same person under a full-width (compatibility) or differently cased spelling is
    // still the requester.
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "\u{ff43}iso@contoso.com,CISO@Contoso.com",
    ]);
    let key = e.keygen("ciso@contoso.com");
    for name in ["\u{ff43}iso@contoso.com", "CISO@Contoso.com"] {
        e.ok(&["Connect-AzAccount", name, "-KeyFile", key.to_str().unwrap()]);
        let err = e.fails(
            &["Approve-DataPurgeRequest", "US Mailboxes", "-Confirm:false"],
            1,
        );
        assert!(err.contains("cannot also approve it"), "{name}: {err}");
    }
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["State"],
        "PendingDataPurge"
    );
}

#[test]
fn revocation_holds_through_reassignment_moves_and_a_long_running_shell() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "Other",
        "-AzureKeyIDs",
        "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002",
    ]);
    for v in VAULTS {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    e.fails(&["New-MailboxExportRequest", "alice", "revoked"], 1);
    // Reassigning would re-wrap the keys under a policy that still opens: refused, with why.
    for target in ["Other", "$null"] {
        let err = e.fails(
            &["Set-Mailbox", "alice", "-DataEncryptionPolicy", target],
            1,
        );
        assert!(err.contains("refuse the service"), "{target}: {err}");
        assert!(err.contains("data purge path"), "{target}: {err}");
    }
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "alice"])["DataEncryptionPolicy"],
        "US Mailboxes"
    );
    // A move is a service operation under the same policy (availability key, audited); in the
    // same process, a user read afterwards must not use the key it obtained.
    let out = e.run(&[
        "-Command",
        "New-MoveRequest alice; New-MailboxExportRequest alice after-move",
    ]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused to unwrap"), "{err}");
    assert!(!e.path("after-move").join("000001.eml").exists());
    assert!(audit_operations(&e)
        .iter()
        .any(|(op, _)| op == "Fallback to Availability Key"));
    e.fails(&["New-MailboxExportRequest", "alice", "still-revoked"], 1);
}

/// `ssh-keygen -Y verify` of one signature of a purge report, with the allowed-signers line
/// the report gives.
fn ssh_verify(e: &Env, sig: &serde_json::Value, who: &str) -> Result<(), String> {
    common::ssh_verify(&e.config.path().join("verify"), sig, who)
}

fn hex_sha256(s: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Removing a vault whose keys a live policy uses succeeds (it is a soft delete), with a
/// warning naming the policies.
#[test]
fn removing_a_vault_in_use_warns_with_the_policies_it_serves() {
    let e = Env::new();
    e.setup();
    let out = e.run(&["Remove-AzKeyVault", "-VaultName", VAULTS[0], "-Force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARNING") && err.contains("US Mailboxes"),
        "{err}"
    );
    // Undo as Az writes it: a wrong group restores nothing; the vault's own does.
    let err = e.fails(
        &[
            "Undo-AzKeyVaultRemoval",
            "-VaultName",
            VAULTS[0],
            "-ResourceGroupName",
            "not-its-rg",
            "-Location",
            "westus",
        ],
        1,
    );
    assert!(err.contains("nothing was restored"), "{err}");
    let rg = e.json(&["Get-AzKeyVault", "-VaultName", VAULTS[0], "-InRemovedState"])
        ["ResourceGroupName"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok(&[
        "Undo-AzKeyVaultRemoval",
        "-VaultName",
        VAULTS[0],
        "-ResourceGroupName",
        &rg,
        "-Location",
        "westus",
    ]);
    assert!(e
        .ok(&["Get-AzKeyVault", "-VaultName", VAULTS[0]])
        .contains(VAULTS[0]));
    // A vault no policy uses goes without a word.
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "unused-vault",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    let out = e.run(&["Remove-AzKeyVault", "-VaultName", "unused-vault", "-Force"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("WARNING"));
}
