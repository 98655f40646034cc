//! Multi-workload DEPs through the real binary: create, assign, a mailbox without a mailbox DEP
//! and Teams chat messages protected by it, refresh after a roll, disabling refused while
//! assigned, moving the assignment, and revocation.

mod common;

use common::{audit_operations, files, Env, M365};

const MW_KEYS: &str =
    "https://contoso-ck-mw1.vault.azure.net/keys/MWKey01,https://contoso-ck-mw2.vault.azure.net/keys/MWKey02";

/// The setup runbook, plus a second pair of vaults for the multi-workload policy with the
/// M365DataAtRestEncryption principal.
fn tenant() -> Env {
    let e = Env::new();
    e.setup();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-mw1",
        "MWKey01",
        "westus",
        &[M365],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-mw2",
        "MWKey02",
        "centralus",
        &[M365],
    );
    e
}

fn stats(e: &Env, who: &str) -> serde_json::Value {
    e.json(&["Get-MailboxStatistics", who])
}

fn chat_policies(e: &Env, chat: &str) -> Vec<(String, String)> {
    let v = e.json(&["Get-MgChatMessage", "-ChatId", chat]);
    let list = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    list.iter()
        .map(|m| {
            (
                m["Body"].as_str().unwrap().to_string(),
                m["EncryptionPolicy"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn create_assign_protects_mailboxes_without_dep_and_teams_refresh_and_disable_refused() {
    let e = tenant();
    // Before any multi-workload policy: bob (no mailbox DEP) and the chat are under
    // Microsoft-managed keys.
    e.ok(&["New-Mailbox", "-Name", "Bob", "-Alias", "bob"]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "bob", mail.to_str().unwrap()]);
    assert_eq!(stats(&e, "bob")["EncryptionPolicyKind"], "MicrosoftManaged");
    e.ok(&["New-MgChat", "-Topic", "Project Falcon"]);
    e.ok(&[
        "New-MgChatMessage",
        "Project Falcon",
        "before the policy",
        "-From",
        "bob",
    ]);

    // The M365 principal is the one whose permissions are checked: EXO's vaults do not do.
    let err = e.fails(
        &[
            "New-M365DataAtRestEncryptionPolicy",
            "-Name",
            "Contoso Global",
            "-AzureKeyIDs",
            "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002",
        ],
        1,
    );
    assert!(
        err.contains("the M365DataAtRestEncryption service principal (c066d759-24ae-40e7-a56f-027002b5d3e4) lacks the 'wrapKey' permission on key vault 'contoso-ck-va1'"),
        "{err}"
    );
    let p = e.json(&[
        "New-M365DataAtRestEncryptionPolicy",
        "-Name",
        "Contoso Global",
        "-AzureKeyIDs",
        MW_KEYS,
        "-Description",
        "Tenant default",
    ]);
    assert_eq!(p["Enabled"], true);
    assert_eq!(p["State"], "Active");
    let first_versions = p["KeyVersionIDs"].clone();
    // A mailbox DEP of the same name is another kind: no clash; but the name is taken among
    // multi-workload policies, case-insensitively.
    let err = e.fails(
        &[
            "New-M365DataAtRestEncryptionPolicy",
            "contoso global",
            "-AzureKeyIDs",
            MW_KEYS,
        ],
        1,
    );
    assert!(
        err.contains(
            "a multi-workload data encryption policy named 'contoso global' already exists"
        ),
        "{err}"
    );
    // Mailbox DEP cmdlets do not see multi-workload policies, nor the other way round.
    e.fails(&["Get-DataEncryptionPolicy", "Contoso Global"], 1);
    e.fails(&["Get-M365DataAtRestEncryptionPolicy", "US Mailboxes"], 1);
    assert_eq!(e.ok(&["Get-M365DataAtRestEncryptionPolicyAssignment"]), "");

    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicyAssignment",
        "-DataEncryptionPolicy",
        "Contoso Global",
    ]);
    let a = e.json(&["Get-M365DataAtRestEncryptionPolicyAssignment"]);
    assert_eq!(a["Name"], "Contoso Global");
    assert_eq!(a["DataEncryptionPolicyId"], p["Guid"]);

    // Exchange: bob's existing data moved under the policy at once; alice keeps her mailbox DEP.
    let b = stats(&e, "bob");
    assert_eq!(b["EncryptionPolicyKind"], "M365");
    assert_eq!(b["EncryptionPolicy"], "Contoso Global");
    assert_eq!(b["IsEncrypted"], false, "IsEncrypted is about mailbox DEPs");
    assert_eq!(stats(&e, "alice")["EncryptionPolicy"], "US Mailboxes");
    // New mailboxes, and a mailbox whose DEP is removed, land under the policy.
    e.ok(&[
        "New-Mailbox",
        "-Name",
        "Carol",
        "-Alias",
        "carol",
        "-Shared",
    ]);
    e.ok(&["New-MailboxImportRequest", "carol", mail.to_str().unwrap()]);
    assert_eq!(stats(&e, "carol")["EncryptionPolicy"], "Contoso Global");
    e.ok(&["Set-Mailbox", "alice", "-DataEncryptionPolicy", "$null"]);
    assert_eq!(stats(&e, "alice")["EncryptionPolicyKind"], "M365");

    // Teams: covered from the time of assignment.
    e.ok(&["New-MgChatMessage", "Project Falcon", "after the policy"]);
    assert_eq!(
        chat_policies(&e, "Project Falcon"),
        vec![
            ("before the policy".into(), "Microsoft-managed keys".into()),
            ("after the policy".into(), "Contoso Global".into()),
        ]
    );
    // Only ciphertext in the store.
    let db = common::store_bytes(&e);
    assert!(!db.windows(16).any(|w| w == b"after the policy"));

    // Assigning it again changes nothing and says so.
    let again = e.run(&[
        "Set-M365DataAtRestEncryptionPolicyAssignment",
        "Contoso Global",
    ]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already the tenant's"));

    // Roll a customer key, then refresh: new KeyVersionIDs, everything still readable.
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-mw1",
        "-Name",
        "MWKey01",
        "-Destination",
        "HSM",
    ]);
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicy",
        "Contoso Global",
        "-Refresh",
    ]);
    let p2 = e.json(&["Get-M365DataAtRestEncryptionPolicy", "Contoso Global"]);
    assert_ne!(p2["KeyVersionIDs"][0], first_versions[0]);
    assert_eq!(p2["KeyVersionIDs"][1], first_versions[1]);
    e.ok(&["New-MailboxExportRequest", "bob", "bob-out"]);
    assert_eq!(files(&e.path("bob-out")), files(&mail));
    assert_eq!(chat_policies(&e, "Project Falcon").len(), 2);
    let t = e.json(&["Test-M365DataAtRestEncryptionPolicy"]);
    assert!(t
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["Result"] == "Success" && k["Policy"] == "Contoso Global"));

    // The assigned policy can't be disabled.
    let err = e.fails(
        &[
            "Set-M365DataAtRestEncryptionPolicy",
            "Contoso Global",
            "-Enabled",
            "$false",
        ],
        1,
    );
    assert!(
        err.contains("is assigned to the tenant and can't be disabled"),
        "{err}"
    );
    assert_eq!(
        e.json(&["Get-M365DataAtRestEncryptionPolicy", "Contoso Global"])["Enabled"],
        true
    );

    // Move the assignment to a second policy: everything the first wrapped follows, so the
    // first can then be disabled and nothing becomes unreadable.
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Contoso Second",
        "-AzureKeyIDs",
        MW_KEYS,
    ]);
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicyAssignment",
        "Contoso Second",
    ]);
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicy",
        "Contoso Global",
        "-Enabled",
        "$false",
    ]);
    assert_eq!(stats(&e, "bob")["EncryptionPolicy"], "Contoso Second");
    assert_eq!(
        chat_policies(&e, "Project Falcon"),
        vec![
            ("before the policy".into(), "Microsoft-managed keys".into()),
            ("after the policy".into(), "Contoso Second".into()),
        ]
    );
    // A disabled policy can't be assigned.
    let err = e.fails(
        &[
            "Set-M365DataAtRestEncryptionPolicyAssignment",
            "Contoso Global",
        ],
        1,
    );
    assert!(err.contains("is disabled"), "{err}");

    // Disabling a key version a multi-workload policy uses warns first.
    let out = e.run(&[
        "Update-AzKeyVaultKey",
        "contoso-ck-mw2",
        "MWKey02",
        "-Enable",
        "false",
        "-WhatIf",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("breaks multi-workload data encryption policy 'Contoso Second'"),
        "{err}"
    );

    // Completion knows multi-workload policies (not mailbox DEPs) and chat topics.
    assert_eq!(
        e.ok(&[
            "__complete",
            "--",
            "Set-M365DataAtRestEncryptionPolicyAssignment",
            ""
        ]),
        e.completed_names("'Contoso Global'\n'Contoso Second'\n")
    );
    assert_eq!(
        e.ok(&[
            "__complete",
            "--",
            "Set-DataEncryptionPolicy",
            "-Identity",
            ""
        ]),
        e.completed_names("'US Mailboxes'\n")
    );
    assert_eq!(
        e.ok(&["__complete", "--", "Get-MgChatMessage", "-ChatId", "Pro"]),
        e.completed_names("'Project Falcon'\n")
    );

    let ops: Vec<String> = audit_operations(&e).into_iter().map(|(o, _)| o).collect();
    assert!(ops
        .iter()
        .any(|o| o == "New-M365DataAtRestEncryptionPolicy"));
    assert_eq!(
        ops.iter()
            .filter(|o| *o == "Set-M365DataAtRestEncryptionPolicyAssignment")
            .count(),
        2,
        "the no-op assignment writes no record"
    );
}

/// A multi-workload DEP's root wraps forged with the customer keys' public halves: Teams
/// reads and Test-M365DataAtRestEncryptionPolicy fail for both keys; a move of a mailbox under
/// the policy wraps its new key under the genuine DEP key (through the availability key).
#[test]
fn a_root_wrap_forged_with_the_public_key_is_refused() {
    let e = tenant();
    e.ok(&["New-Mailbox", "-Name", "Bob", "-Alias", "bob"]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "bob", mail.to_str().unwrap()]);
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Global",
        "-AzureKeyIDs",
        MW_KEYS,
    ]);
    e.ok(&["Set-M365DataAtRestEncryptionPolicyAssignment", "Global"]);
    e.ok(&["New-MgChat", "Ops"]);
    e.ok(&["New-MgChatMessage", "Ops", "secret plans"]);
    let genuine = common::forge::forge_dep(&e, "Global");

    let err = e.fails(&["Get-MgChatMessage", "Ops"], 1);
    assert!(err.contains("does not match the key commitment"), "{err}");
    assert!(
        err.contains("help: a copy of the policy's key in the store does not match"),
        "{err}"
    );
    let out = e.fails(&["Test-M365DataAtRestEncryptionPolicy", "Global"], 1);
    assert_eq!(
        out.matches("does not match the key commitment").count(),
        2,
        "{out}"
    );
    e.fails(&["New-MgChatMessage", "Ops", "more plans"], 1);
    e.ok(&["New-MoveRequest", "bob"]);

    common::forge::put_back_dep(&e, "Global", &genuine);
    let t = e.json(&["Test-M365DataAtRestEncryptionPolicy", "Global"]);
    assert!(
        t.as_array()
            .unwrap()
            .iter()
            .all(|r| r["Result"] == "Success"),
        "{t}"
    );
    assert_eq!(
        chat_policies(&e, "Ops"),
        [("secret plans".to_string(), "Global".to_string())]
    );
    e.exports_same("bob", "genuine", &mail);
}

#[test]
fn revocation_fails_user_reads_the_availability_key_serves_moves_and_recovery() {
    let e = tenant();
    e.ok(&["New-Mailbox", "-Name", "Bob", "-Alias", "bob"]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "bob", mail.to_str().unwrap()]);
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Global",
        "-AzureKeyIDs",
        MW_KEYS,
    ]);
    e.ok(&["Set-M365DataAtRestEncryptionPolicyAssignment", "Global"]);
    e.ok(&["New-MgChat", "Ops"]);
    e.ok(&["New-MgChatMessage", "Ops", "secret plans"]);
    for v in ["contoso-ck-mw1", "contoso-ck-mw2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            M365,
        ]);
    }
    let err = e.fails(&["Get-MgChatMessage", "Ops"], 1);
    assert!(err.contains("refused to unwrap its key"), "{err}");
    assert!(
        err.contains("grant wrapKey, unwrapKey and get to M365DataAtRestEncryption"),
        "{err}"
    );
    let err = e.fails(&["New-MailboxExportRequest", "bob", "out"], 1);
    assert!(err.contains("'Global'"), "{err}");
    // A service action (a move) may still use the availability key, and it is audited as the
    // multi-workload principal.
    e.ok(&["New-MoveRequest", "bob"]);
    let fallback: Vec<serde_json::Value> = audit_operations(&e)
        .into_iter()
        .filter(|(o, _)| o == "Fallback to Availability Key")
        .map(|(_, p)| p)
        .collect();
    assert!(!fallback.is_empty());
    let user = common::store_rows(
        &e,
        "SELECT user_id FROM audit_record WHERE operation = 'Fallback to Availability Key'",
        &[],
    );
    assert!(!user.is_empty());
    for r in &user {
        assert_eq!(r[0].text(), "ServicePrincipal:M365DataAtRestEncryption");
    }
    // Recovery: new keys and a new policy; assigning it re-wraps through the old policy's
    // availability key once the old keys are lost (not while they are revoked), and user reads
    // work again under the new policy.
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-mw3",
        "MWKey03",
        "westus",
        &[M365],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-mw4",
        "MWKey04",
        "centralus",
        &[M365],
    );
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Recovered",
        "-AzureKeyIDs",
        "https://contoso-ck-mw3.vault.azure.net/keys/MWKey03,https://contoso-ck-mw4.vault.azure.net/keys/MWKey04",
    ]);
    // While the old keys refuse the service (revoked), moving the data to another policy would
    // undo the revocation: refused.
    let err = e.fails(
        &["Set-M365DataAtRestEncryptionPolicyAssignment", "Recovered"],
        1,
    );
    assert!(err.contains("refuse the service"), "{err}");
    assert!(
        err.contains(M365),
        "the help names the principal to grant: {err}"
    );
    e.fails(&["Get-MgChatMessage", "Ops"], 1);
    // Once the old keys are lost for good (their vaults gone), recovery re-wraps through the
    // old policy's availability key.
    for v in ["contoso-ck-mw1", "contoso-ck-mw2"] {
        std::fs::remove_file(e.path(&format!("vaults/{v}.vault"))).unwrap();
    }
    e.ok(&["Set-M365DataAtRestEncryptionPolicyAssignment", "Recovered"]);
    assert_eq!(
        chat_policies(&e, "Ops"),
        vec![("secret plans".to_string(), "Recovered".to_string())]
    );
    e.ok(&["New-MailboxExportRequest", "bob", "out"]);
    assert_eq!(files(&e.path("out")), files(&mail));
    assert_eq!(stats(&e, "bob")["EncryptionPolicy"], "Recovered");
}
