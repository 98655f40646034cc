//! Recipients beyond user and shared mailboxes: Microsoft 365 groups (New-/Set-/Get-UnifiedGroup),
//! public-folder mailboxes (New-Mailbox -PublicFolder), Get-Mailbox -RecipientTypeDetails and
//! Set-User -ClearDataEncryptionPolicy, through the real binary on a fresh store and local vaults.

mod common;

use common::{audit_operations, item_ciphertexts, Env, EXO};

/// Names of the objects a list cmdlet printed, sorted.
fn names(v: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// Two vaults and the "US Mailboxes" DEP, with no mailbox and no licensed user.
fn dep_only(e: &Env) {
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "centralus",
        &[EXO],
    );
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002",
    ]);
}

/// The DEP GUIDs wrapping the keys of the recipient `name`.
fn key_deps(e: &Env, name: &str) -> Vec<String> {
    common::store_rows(
        e,
        "SELECT k.dep_guid FROM mailbox_key k JOIN recipient r ON r.guid = k.mailbox_guid WHERE r.name = ?1 ORDER BY k.key_id",
        &[name.into()],
    )
    .into_iter()
    .map(|r| r[0].text())
    .collect()
}

#[test]
fn get_mailbox_recipient_type_details_filters_the_list() {
    let e = Env::new();
    e.ok(&["New-Mailbox", "-Name", "Alice", "-Alias", "alice"]);
    e.ok(&["New-Mailbox", "-Name", "Support", "-Shared"]);
    e.ok(&["New-Mailbox", "-PublicFolder", "-Name", "PF Root"]);
    let g = e.json(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
    ]);
    assert_eq!(g["RecipientTypeDetails"], "GroupMailbox");
    assert_eq!(g["Alias"], "finance");

    // As in Exchange Online, a plain listing shows user and shared mailboxes.
    assert_eq!(names(&e.json_raw(&["Get-Mailbox"])), ["Alice", "Support"]);
    assert_eq!(
        names(&e.json_raw(&[
            "Get-Mailbox",
            "-RecipientTypeDetails",
            "SharedMailbox,GroupMailbox"
        ])),
        ["Finance Team", "Support"]
    );
    assert_eq!(
        names(&e.json_raw(&["Get-Mailbox", "-RecipientTypeDetails", "UserMailbox"])),
        ["Alice"]
    );
    assert_eq!(
        names(&e.json_raw(&["Get-Mailbox", "-PublicFolder"])),
        ["PF Root"]
    );
    assert_eq!(
        names(&e.json_raw(&["Get-Mailbox", "-GroupMailbox"])),
        ["Finance Team"]
    );
    // One by identity is found whatever its type, unless the types given exclude it.
    assert_eq!(
        e.json(&["Get-Mailbox", "finance"])["RecipientTypeDetails"],
        "GroupMailbox"
    );
    assert_eq!(
        e.json_raw(&[
            "Get-Mailbox",
            "finance",
            "-RecipientTypeDetails",
            "UserMailbox"
        ]),
        serde_json::json!([])
    );
    // A type Microsoft's parameter doesn't take is refused, naming the valid ones.
    let err = e.fails(&["Get-Mailbox", "-RecipientTypeDetails", "Mailbox"], 2);
    assert!(err.contains("SharedMailbox"), "{err}");
    assert_eq!(names(&e.json_raw(&["Get-UnifiedGroup"])), ["Finance Team"]);
    // -Shared and -PublicFolder are different parameter sets.
    e.fails(
        &["New-Mailbox", "-Name", "Both", "-Shared", "-PublicFolder"],
        2,
    );
    e.fails(&["Get-Mailbox", "Both"], 1);
}

#[test]
fn group_content_round_trips_and_reassignment_rewraps_without_touching_content() {
    let e = Env::new();
    e.setup();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let g = e.json(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    assert_eq!(g["DataEncryptionPolicy"], "US Mailboxes");
    assert_eq!(g["RecipientTypeDetails"], "GroupMailbox");
    let stats = e.json(&["Get-MailboxStatistics", "finance"]);
    assert_eq!(stats["IsEncrypted"], true);
    assert_eq!(stats["DataEncryptionPolicyID"], dep["Guid"]);

    let (mail, _) = e.write_mail();
    e.ok(&[
        "New-MailboxImportRequest",
        "-Mailbox",
        "finance",
        "-FilePath",
        mail.to_str().unwrap(),
    ]);
    let before = item_ciphertexts(&e);
    assert!(!before.is_empty());
    let wrapped_under = key_deps(&e, "Finance Team");
    assert!(wrapped_under
        .iter()
        .all(|d| Some(d.as_str()) == dep["Guid"].as_str()));

    // Back to Microsoft-managed keys: the key is re-wrapped, no content byte changes.
    e.ok(&[
        "Set-UnifiedGroup",
        "-Identity",
        "finance",
        "-DataEncryptionPolicy",
        "$null",
    ]);
    assert!(e.json(&["Get-UnifiedGroup", "finance"])["DataEncryptionPolicy"].is_null());
    let stats = e.json(&["Get-MailboxStatistics", "finance"]);
    assert_eq!(stats["IsEncrypted"], false);
    assert_eq!(stats["EncryptionPolicyKind"], "MicrosoftManaged");
    assert_eq!(item_ciphertexts(&e), before);
    assert_ne!(key_deps(&e, "Finance Team"), wrapped_under);
    e.exports_same("finance", "out-mmk", &mail);

    // And under the customer DEP again: same content bytes, exports byte-identical.
    e.ok(&[
        "Set-UnifiedGroup",
        "finance",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "finance"])["IsEncrypted"],
        true
    );
    assert_eq!(item_ciphertexts(&e), before);
    assert_eq!(key_deps(&e, "Finance Team"), wrapped_under);
    e.exports_same("finance", "out-dep", &mail);
    let ops: Vec<String> = audit_operations(&e).into_iter().map(|(o, _)| o).collect();
    assert!(
        ops.iter().filter(|o| *o == "Set-UnifiedGroup").count() >= 2,
        "{ops:?}"
    );
    assert!(ops.iter().any(|o| o == "New-UnifiedGroup"), "{ops:?}");

    // A group is not licensed; it needs no licence of its own.
    let err = e.fails(
        &[
            "Set-MgUserLicense",
            "-UserId",
            "finance",
            "-AddLicenses",
            "SPE_E5",
        ],
        1,
    );
    assert!(err.contains("not licensed"), "{err}");
}

#[test]
fn groups_and_public_folders_need_a_licensed_user_in_the_tenant_not_a_licence_of_their_own() {
    let e = Env::new();
    dep_only(&e);
    // No licensed user yet: a group with a customer DEP is refused, and none is created.
    let err = e.fails(
        &[
            "New-UnifiedGroup",
            "-DisplayName",
            "Finance Team",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(err.contains("no user licensed for Customer Key"), "{err}");
    assert!(err.contains("Set-MgUserLicense"), "{err}");
    assert_eq!(e.json_raw(&["Get-UnifiedGroup"]), serde_json::json!([]));
    e.ok(&["New-UnifiedGroup", "-DisplayName", "Finance Team"]);
    e.fails(
        &[
            "Set-UnifiedGroup",
            "Finance Team",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    e.ok(&["New-Mailbox", "-PublicFolder", "-Name", "PF Root"]);
    let err = e.fails(
        &[
            "Set-Mailbox",
            "PF Root",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(err.contains("PublicFolderMailbox"), "{err}");
    // A shared mailbox is under the same rule (it needs no licence when the tenant meets the
    // user-mailbox licensing requirement), also when piped.
    e.ok(&["New-Mailbox", "-Shared", "-Name", "Info"]);
    let err = e.fails(
        &[
            "Set-Mailbox",
            "Info",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(
        err.contains("SharedMailbox") && err.contains("no user licensed"),
        "{err}"
    );
    let err = e.fails(
        &[
            "-Command",
            "Get-Mailbox Info | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'",
        ],
        1,
    );
    assert!(err.contains("no user licensed"), "{err}");
    // An unlicensed user does not meet the rule.
    e.ok(&["New-Mailbox", "-Name", "Alice", "-Alias", "alice"]);
    e.fails(
        &[
            "Set-Mailbox",
            "PF Root",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-AddLicenses",
        "SPE_E3",
    ]);
    e.fails(
        &[
            "Set-UnifiedGroup",
            "Finance Team",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    // One user licensed for Customer Key: both can be assigned, unlicensed themselves.
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&[
        "Set-UnifiedGroup",
        "Finance Team",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    e.ok(&[
        "Set-Mailbox",
        "PF Root",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    e.ok(&[
        "Set-Mailbox",
        "Info",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    for who in ["Finance Team", "PF Root", "Info"] {
        let m = e.json(&["Get-Mailbox", who]);
        assert_eq!(m["DataEncryptionPolicy"], "US Mailboxes");
        assert_eq!(m["Licenses"], serde_json::json!([]));
        assert_eq!(e.json(&["Get-MailboxStatistics", who])["IsEncrypted"], true);
    }
    // The user mailbox itself still needs its own licence: alice is licensed, a new one is not.
    e.ok(&["New-Mailbox", "-Name", "Bob", "-Alias", "bob"]);
    let err = e.fails(
        &[
            "Set-Mailbox",
            "bob",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(err.contains("not licensed for Customer Key"), "{err}");
}

#[test]
fn public_folder_mailbox_content_round_trips_under_its_dep() {
    let e = Env::new();
    e.setup();
    let pf = e.json(&[
        "New-Mailbox",
        "-PublicFolder",
        "-Name",
        "PF Root",
        "-Alias",
        "pfroot",
    ]);
    assert_eq!(pf["RecipientTypeDetails"], "PublicFolderMailbox");
    assert!(pf["UserPrincipalName"].is_null());
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "pfroot", mail.to_str().unwrap()]);
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "pfroot"])["IsEncrypted"],
        false
    );
    let before = item_ciphertexts(&e);
    e.ok(&[
        "Set-Mailbox",
        "pfroot",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    let stats = e.json(&["Get-MailboxStatistics", "pfroot"]);
    assert_eq!(stats["IsEncrypted"], true);
    assert_eq!(stats["ItemCount"], 3);
    assert_eq!(item_ciphertexts(&e), before);
    e.exports_same("pfroot", "pf-out", &mail);
}

#[test]
fn unified_group_whatif_changes_nothing() {
    let e = Env::new();
    e.setup();
    e.ok(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
        "-WhatIf",
    ]);
    assert_eq!(e.json_raw(&["Get-UnifiedGroup"]), serde_json::json!([]));
    e.ok(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
    ]);
    e.ok(&[
        "Set-UnifiedGroup",
        "finance",
        "-DataEncryptionPolicy",
        "US Mailboxes",
        "-WhatIf",
    ]);
    assert!(e.json(&["Get-UnifiedGroup", "finance"])["DataEncryptionPolicy"].is_null());
    e.ok(&["Set-User", "alice", "-ClearDataEncryptionPolicy", "-WhatIf"]);
    assert_eq!(
        e.json(&["Get-Mailbox", "alice"])["DataEncryptionPolicy"],
        "US Mailboxes"
    );
    // Set-UnifiedGroup finds groups only.
    let err = e.fails(
        &[
            "Set-UnifiedGroup",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ],
        1,
    );
    assert!(err.contains("Get-UnifiedGroup"), "{err}");
}

#[test]
fn set_user_clear_data_encryption_policy_unassigns_like_set_mailbox_null() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let before = item_ciphertexts(&e);
    let dep_keys = key_deps(&e, "Alice Example");
    e.fails(&["Set-User", "alice"], 2);
    e.ok(&[
        "Set-User",
        "-Identity",
        "alice",
        "-ClearDataEncryptionPolicy",
    ]);
    assert!(e.json(&["Get-Mailbox", "alice"])["DataEncryptionPolicy"].is_null());
    let stats = e.json(&["Get-MailboxStatistics", "alice"]);
    assert_eq!(stats["IsEncrypted"], false);
    assert_eq!(stats["EncryptionPolicyKind"], "MicrosoftManaged");
    assert_ne!(key_deps(&e, "Alice Example"), dep_keys);
    assert_eq!(item_ciphertexts(&e), before);
    e.exports_same("alice", "out", &mail);
    let ops: Vec<String> = audit_operations(&e).into_iter().map(|(o, _)| o).collect();
    assert!(ops.iter().any(|o| o == "Set-User"), "{ops:?}");
    // It works on a mail user too.
    e.ok(&[
        "New-MailUser",
        "-Name",
        "Bob",
        "-ExternalEmailAddress",
        "bob@onprem.contoso.com",
    ]);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "Bob",
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&[
        "Set-MailUser",
        "Bob",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    e.ok(&["Set-User", "Bob", "-ClearDataEncryptionPolicy"]);
    assert!(e.json(&["Get-MailUser", "Bob"])["DataEncryptionPolicy"].is_null());
}

#[test]
fn archive_is_encrypted_under_its_mailbox_dep_rewrapped_with_it_and_round_trips() {
    let e = Env::new();
    e.setup();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    let (mail, _) = e.write_mail();
    let m = e.json(&["Get-Mailbox", "alice"]);
    assert_eq!(m["ArchiveStatus"], "None");
    assert_eq!(m["ArchiveGuid"], "00000000-0000-0000-0000-000000000000");
    let err = e.fails(&["Get-MailboxStatistics", "alice", "-Archive"], 1);
    assert!(err.contains("Enable-Mailbox alice -Archive"), "{err}");
    e.fails(
        &[
            "New-MailboxImportRequest",
            "alice",
            mail.to_str().unwrap(),
            "-IsArchive",
        ],
        1,
    );

    e.ok(&["Enable-Mailbox", "alice", "-Archive", "-WhatIf"]);
    assert_eq!(e.json(&["Get-Mailbox", "alice"])["ArchiveStatus"], "None");
    let m = e.json(&["Enable-Mailbox", "alice", "-Archive"]);
    assert_eq!(m["ArchiveStatus"], "Active");
    let archive = m["ArchiveGuid"].as_str().unwrap().to_string();
    assert_ne!(archive, "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        e.json(&["Get-Mailbox", "alice"])["ArchiveGuid"],
        archive.as_str()
    );
    let err = e.fails(&["Enable-Mailbox", "alice", "-Archive"], 1);
    assert!(err.contains("already has an archive"), "{err}");

    e.ok(&[
        "New-MailboxImportRequest",
        "alice",
        mail.to_str().unwrap(),
        "-IsArchive",
    ]);
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 0);
    let stats = e.json(&["Get-MailboxStatistics", "alice", "-Archive"]);
    assert_eq!(stats["ItemCount"], 3);
    assert_eq!(stats["MailboxGuid"], archive.as_str());
    assert_eq!(stats["IsEncrypted"], true);
    assert_eq!(stats["DataEncryptionPolicyID"], dep["Guid"]);
    assert_eq!(stats["DisplayName"], "In-Place Archive - Alice Example");
    let before = item_ciphertexts(&e);
    let archive_keys = key_deps(&e, &archive);
    assert_eq!(archive_keys, [dep["Guid"].as_str().unwrap()]);

    // Reassigning the mailbox re-wraps the archive's key too; no content byte changes.
    e.ok(&["Set-Mailbox", "alice", "-DataEncryptionPolicy", "$null"]);
    let stats = e.json(&["Get-MailboxStatistics", "alice", "-Archive"]);
    assert_eq!(stats["IsEncrypted"], false);
    assert_eq!(stats["EncryptionPolicyKind"], "MicrosoftManaged");
    assert_ne!(key_deps(&e, &archive), archive_keys);
    assert_eq!(item_ciphertexts(&e), before);
    e.ok(&[
        "Set-Mailbox",
        "alice",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "alice", "-Archive"])["IsEncrypted"],
        true
    );
    assert_eq!(key_deps(&e, &archive), archive_keys);
    assert_eq!(item_ciphertexts(&e), before);
    // The archive exports what went in, byte for byte; the mailbox itself holds nothing.
    e.ok(&[
        "New-MailboxExportRequest",
        "alice",
        "archive-out",
        "-IsArchive",
    ]);
    assert_eq!(common::files(&e.path("archive-out")), common::files(&mail));
    e.ok(&["New-MailboxExportRequest", "alice", "primary-out"]);
    assert!(common::files(&e.path("primary-out")).is_empty());
}

#[test]
fn an_archive_is_no_recipient_of_its_own() {
    let e = Env::new();
    e.ok(&["New-Mailbox", "-Name", "Alice", "-Alias", "alice"]);
    let archive = e.json(&["Enable-Mailbox", "alice", "-Archive"])["ArchiveGuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        names(&e.json_raw(&["Get-Mailbox", "-ResultSize", "Unlimited"])),
        ["Alice"]
    );
    e.fails(&["Get-Mailbox", &archive], 1);
    e.fails(&["Set-User", &archive, "-ClearDataEncryptionPolicy"], 1);
    // Only user and shared mailboxes have archives.
    e.ok(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
    ]);
    let err = e.fails(&["Enable-Mailbox", "finance", "-Archive"], 1);
    assert!(err.contains("only user and shared mailboxes"), "{err}");
    e.fails(&["Enable-Mailbox", "alice"], 2);
}

#[test]
fn a_mail_user_migrated_in_is_encrypted_under_the_dep_assigned_before_migration() {
    let e = Env::new();
    e.setup();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    e.ok(&[
        "New-MailUser",
        "-Name",
        "Carol",
        "-ExternalEmailAddress",
        "carol@onprem.contoso.com",
    ]);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "Carol",
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&[
        "Set-MailUser",
        "Carol",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    let guid = e.json(&["Get-MailUser", "Carol"])["Guid"]
        .as_str()
        .unwrap()
        .to_string();
    // Not a mailbox yet: nothing to import into, no move without -Remote.
    e.fails(&["New-MoveRequest", "Carol"], 1);
    e.ok(&["New-MoveRequest", "Carol", "-Remote", "-WhatIf"]);
    assert_eq!(
        e.json(&["Get-MailUser", "Carol"])["RecipientTypeDetails"],
        "MailUser"
    );
    let mv = e.json(&[
        "New-MoveRequest",
        "Carol",
        "-Remote",
        "-RemoteHostName",
        "mail.contoso.com",
        "-TargetDeliveryDomain",
        "contoso.mail.onmicrosoft.com",
    ]);
    assert_eq!(mv["Status"], "Completed");
    let m = e.json(&["Get-Mailbox", "Carol"]);
    assert_eq!(m["RecipientTypeDetails"], "UserMailbox");
    assert_eq!(m["Guid"], guid.as_str());
    assert_eq!(m["DataEncryptionPolicy"], "US Mailboxes");
    assert!(m["ExternalEmailAddress"].is_null());
    e.fails(&["Get-MailUser", "Carol"], 1);
    // Its first key is under the DEP: encrypted from the first item on.
    let stats = e.json(&["Get-MailboxStatistics", "Carol"]);
    assert_eq!(stats["IsEncrypted"], true);
    assert_eq!(stats["DataEncryptionPolicyID"], dep["Guid"]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "Carol", mail.to_str().unwrap()]);
    assert_eq!(key_deps(&e, "Carol"), [dep["Guid"].as_str().unwrap()]);
    e.exports_same("Carol", "carol-out", &mail);
    // Again with -Remote: already a mailbox, moved as without it.
    e.ok(&["New-MoveRequest", "Carol", "-Remote"]);
    e.exports_same("Carol", "carol-out2", &mail);
    let err = e.fails(
        &["New-MoveRequest", "-Identity", "Support-nope", "-Remote"],
        1,
    );
    assert!(err.contains("couldn't be found"), "{err}");
}

/// The key ids of the recipient with this GUID.
fn key_ids(e: &Env, guid: &str) -> Vec<String> {
    common::store_rows(
        e,
        "SELECT key_id FROM mailbox_key WHERE mailbox_guid = ?1 ORDER BY key_id",
        &[guid.into()],
    )
    .into_iter()
    .map(|r| r[0].text())
    .collect()
}

#[test]
fn a_move_re_encrypts_the_archive_too_unless_told_one_part() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    let m = e.json(&["Get-Mailbox", "alice"]);
    let primary = m["Guid"].as_str().unwrap().to_string();
    let archive = e.json(&["Enable-Mailbox", "alice", "-Archive"])["ArchiveGuid"]
        .as_str()
        .unwrap()
        .to_string();
    let src = mail.to_str().unwrap();
    e.ok(&["New-MailboxImportRequest", "alice", src]);
    e.ok(&["New-MailboxImportRequest", "alice", src, "-IsArchive"]);
    let keys = |e: &Env| (key_ids(e, &primary), key_ids(e, &archive));
    let round_trips = |e: &Env, tag: &str| {
        e.ok(&["New-MailboxExportRequest", "alice", &format!("p-{tag}")]);
        e.ok(&[
            "New-MailboxExportRequest",
            "alice",
            &format!("a-{tag}"),
            "-IsArchive",
        ]);
        assert_eq!(
            common::files(&e.path(&format!("p-{tag}"))),
            common::files(&mail)
        );
        assert_eq!(
            common::files(&e.path(&format!("a-{tag}"))),
            common::files(&mail)
        );
    };

    // Both, the primary first: each under a fresh key of its own, the old ones destroyed.
    let (p0, a0) = keys(&e);
    let before = item_ciphertexts(&e);
    e.ok(&["New-MoveRequest", "alice"]);
    let (p1, a1) = keys(&e);
    assert_eq!((p1.len(), a1.len()), (1, 1), "old keys left: {p1:?} {a1:?}");
    assert!(
        p1 != p0 && a1 != a0,
        "a part was not moved: {p0:?} {p1:?} {a0:?} {a1:?}"
    );
    assert_ne!(p1, a1);
    let after = item_ciphertexts(&e);
    assert!(
        after.iter().all(|c| !before.contains(c)),
        "an item kept its ciphertext"
    );
    assert_eq!(
        e.json(&["Get-MoveRequestStatistics", "alice"])["Status"],
        "Completed"
    );
    round_trips(&e, "both");

    e.ok(&["New-MoveRequest", "alice", "-PrimaryOnly"]);
    let (p2, a2) = keys(&e);
    assert!(p2 != p1 && a2 == a1, "{p1:?} {p2:?} {a1:?} {a2:?}");
    e.ok(&["New-MoveRequest", "alice", "-ArchiveOnly"]);
    let (p3, a3) = keys(&e);
    assert!(p3 == p2 && a3 != a2, "{p2:?} {p3:?} {a2:?} {a3:?}");
    round_trips(&e, "parts");

    let err = e.fails(
        &["New-MoveRequest", "alice", "-PrimaryOnly", "-ArchiveOnly"],
        2,
    );
    assert!(err.contains("-PrimaryOnly and -ArchiveOnly"), "{err}");
    e.ok(&["New-Mailbox", "-Name", "bob"]);
    let err = e.fails(&["New-MoveRequest", "bob", "-ArchiveOnly"], 1);
    assert!(
        err.contains("has no archive") && err.contains("Enable-Mailbox bob -Archive"),
        "{err}"
    );
}
