//! Bulk assignment through the library: one RSA unwrap per customer-key copy of the DEP (both
//! copies are checked, so a damaged one is reported), whatever the number of mailboxes.

mod common;

use common::Env;
use custkey::service::keys::ServiceKeys;
use custkey::service::mailbox;
use custkey::store::{RecipientScope, Store};
use custkey::vault::LocalBackend;

fn unwraps(e: &Env) -> usize {
    ["contoso-ck-va1", "contoso-ck-va2"]
        .iter()
        .map(|v| {
            let log = e.json(&["Get-AzKeyVaultAuditLog", v, "-Operation", "UnwrapKey"]);
            match log {
                serde_json::Value::Array(a) => a.len(),
                serde_json::Value::Object(_) => 1,
                _ => 0,
            }
        })
        .sum()
}

#[test]
fn assigning_many_mailboxes_costs_one_rsa_unwrap_per_dep() {
    let e = Env::new();
    e.setup();
    let ids: Vec<String> = (0..300).map(|i| format!("shared{i:03}")).collect();
    for id in &ids[..3] {
        e.ok(&["New-Mailbox", id, "-Shared"]);
    }
    // The rest straight through the library, as a bulk caller would.
    std::env::set_var("CUSTKEY_KEYRING", "off");
    // The master key files are in this test's configuration directory, never ~/.config.
    std::env::set_var("CUSTKEY_CONFIG_DIR", e.config.path());
    let mut store = match e.pg_url() {
        Some(url) => {
            let Ok(custkey::store::location::Location::Postgres(u)) =
                custkey::store::location::Location::parse(url)
            else {
                panic!("not a PostgreSQL URL: {url}")
            };
            Store::open_url(&u, e.dir.path()).unwrap()
        }
        None => Store::open(&e.path("service.db")).unwrap(),
    };
    for id in &ids[3..] {
        custkey::service::recipient::create(
            &mut store,
            &custkey::service::recipient::NewRecipient {
                kind: custkey::service::recipient::Kind::SharedMailbox,
                name: id.clone(),
                alias: None,
                display_name: None,
                primary_smtp: None,
                upn: None,
                external_email: None,
            },
        )
        .unwrap();
    }
    let before = unwraps(&e);
    let backend = LocalBackend::open(e.dir.path()).unwrap();
    let mut keys = ServiceKeys::open(e.dir.path(), &mut store, backend).unwrap();
    let done = mailbox::assign(
        &mut store,
        &mut keys,
        &ids,
        RecipientScope::Mailboxes,
        Some("US Mailboxes"),
        "Set-Mailbox",
    )
    .unwrap();
    assert_eq!(done.len(), 300);
    assert_eq!(
        unwraps(&e) - before,
        2,
        "one RSA unwrap per customer key of the one DEP"
    );
    // Back to Microsoft-managed keys: the customer DEP is unwrapped once more (fresh cache).
    let backend = LocalBackend::open(e.dir.path()).unwrap();
    let mut keys = ServiceKeys::open(e.dir.path(), &mut store, backend).unwrap();
    mailbox::assign(
        &mut store,
        &mut keys,
        &ids,
        RecipientScope::Mailboxes,
        None,
        "Set-Mailbox",
    )
    .unwrap();
    assert_eq!(unwraps(&e) - before, 4);
    for id in ["shared000", "shared299"] {
        assert_eq!(e.json(&["Get-MailboxStatistics", id])["IsEncrypted"], false);
    }
}

/// `N` shared mailboxes `prefix000..`, created by one pipeline into New-Mailbox.
fn create_by_pipeline(e: &Env, prefix: &str, n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("'{prefix}{i:03}'")).collect();
    e.ok(&[
        "-Command",
        &format!("{} | New-Mailbox -Shared | Out-Null", names.join(", ")),
    ])
}

fn assigned(e: &Env, filter: &str) -> usize {
    common::store_rows(
        e,
        "SELECT count(*) FROM recipient WHERE name LIKE ?1 AND dep_guid IS NOT NULL",
        &[filter.into()],
    )[0][0]
        .int() as usize
}

#[test]
fn a_pipeline_assigns_every_object_with_one_unwrap_per_key_and_an_audit_row_each() {
    let e = Env::new();
    e.setup();
    create_by_pipeline(&e, "s", 120);
    assert_eq!(
        e.json(&["Get-Mailbox", "s119"])["RecipientTypeDetails"],
        "SharedMailbox"
    );
    let before = unwraps(&e);
    let audits = common::audit_operations(&e).len();
    e.ok(&[
        "-Command",
        "Get-Mailbox -Filter \"Name -like 's*'\" -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'",
    ]);
    assert_eq!(assigned(&e, "s%"), 120);
    assert_eq!(unwraps(&e) - before, 2, "one RSA unwrap per customer key");
    let ops = common::audit_operations(&e);
    let new: Vec<_> = ops[audits..]
        .iter()
        .filter(|(op, _)| op == "Set-Mailbox")
        .collect();
    assert_eq!(new.len(), 120, "one audit row per mailbox changed");
    assert_eq!(new[0].1["Identity"], "s000");
    assert_eq!(new[119].1["Identity"], "s119");
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "s077"])["IsEncrypted"],
        true
    );
}

#[test]
fn a_pipeline_that_fails_midway_keeps_the_objects_before_it_and_says_which_failed() {
    let e = Env::new();
    e.setup();
    create_by_pipeline(&e, "s", 10);
    // An unlicensed user mailbox in the middle of the input.
    e.ok(&["New-Mailbox", "-Name", "nolicence"]);
    let out = e.run(&[
        "-Command",
        "'s000', 's001', 's002', 'nolicence', 's003', 's004' | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("'nolicence' is not licensed for Customer Key"),
        "{err}"
    );
    for (id, want) in [
        ("s000", true),
        ("s002", true),
        ("nolicence", false),
        ("s003", false),
        ("s004", false),
    ] {
        let dep = &e.json(&["Get-Mailbox", id])["DataEncryptionPolicy"];
        assert_eq!(!dep.is_null(), want, "{id}: {dep}");
    }
    // An unknown name stops it the same way; with -ErrorAction Continue the rest go on.
    let out = e.run(&[
        "-Command",
        "'s005', 'nosuch', 's006' | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes' -ErrorAction Continue",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("'nosuch' couldn't be found"), "{err}");
    for id in ["s005", "s006"] {
        assert!(
            !e.json(&["Get-Mailbox", id])["DataEncryptionPolicy"].is_null(),
            "{id}"
        );
    }
    // Creation by pipeline: a name already taken stops it after the ones before.
    let out = e.run(&[
        "-Command",
        "'n000', 'n001', 's001', 'n002' | New-Mailbox -Shared | Out-Null",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("s001"), "{err}");
    assert_eq!(e.json(&["Get-Mailbox", "n001"])["Name"], "n001");
    assert_eq!(e.run(&["Get-Mailbox", "n002"]).status.code(), Some(1));
}

#[test]
fn a_pipeline_under_whatif_changes_nothing_and_names_each_object() {
    let e = Env::new();
    e.setup();
    create_by_pipeline(&e, "s", 3);
    let out = e.run(&[
        "-Command",
        "Get-Mailbox -Filter \"Name -like 's*'\" | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes' -WhatIf",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("What if:").count(), 3, "{err}");
    assert_eq!(assigned(&e, "s%"), 0);
}

/// The DEP GUIDs wrapping the keys of the mailbox (or archive) `guid`, sorted.
fn key_deps(e: &Env, guid: &str) -> Vec<String> {
    let mut v: Vec<String> = common::store_rows(
        e,
        "SELECT dep_guid FROM mailbox_key WHERE mailbox_guid = ?1",
        &[guid.into()],
    )
    .iter()
    .map(|r| r[0].text().to_string())
    .collect();
    v.sort();
    v
}

#[test]
fn one_batch_of_every_kind_of_mailbox_named_every_way_moves_each_and_its_archive() {
    let e = Env::new();
    e.setup();
    let dep = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["Guid"]
        .as_str()
        .unwrap()
        .to_string();
    create_by_pipeline(&e, "s", 4);
    e.ok(&[
        "New-UnifiedGroup",
        "-DisplayName",
        "Finance Team",
        "-Alias",
        "finance",
    ]);
    e.ok(&["New-Mailbox", "-PublicFolder", "-Name", "PF Root"]);
    // alice (licensed, under the DEP since setup) gets an archive with mail in it.
    let archive = e.json(&["Enable-Mailbox", "alice", "-Archive"])["ArchiveGuid"]
        .as_str()
        .unwrap()
        .to_string();
    let (mail, _) = e.write_mail();
    e.ok(&[
        "New-MailboxImportRequest",
        "alice",
        mail.to_str().unwrap(),
        "-IsArchive",
    ]);
    assert_eq!(key_deps(&e, &archive), [dep.as_str()]);
    let s1 = e.json(&["Get-Mailbox", "s001"]);
    let s2 = e.json(&["Get-Mailbox", "s002"]);
    let by_smtp = s1["PrimarySmtpAddress"].as_str().unwrap().to_string();
    let by_guid = s2["Guid"].as_str().unwrap().to_uppercase();
    let by_exchange_guid = e.json(&["Get-Mailbox", "s003"])["ExchangeGuid"]
        .as_str()
        .unwrap()
        .to_string();
    // Every one of them under the DEP, in one batch (the group and the public folder need a
    // licensed tenant: alice).
    let all = "Get-Mailbox -RecipientTypeDetails UserMailbox,SharedMailbox,GroupMailbox,PublicFolderMailbox -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'";
    e.ok(&["-Command", all]);
    let under_dep = || {
        common::store_rows(
            &e,
            "SELECT count(*) FROM recipient WHERE dep_guid = ?1",
            &[dep.as_str().into()],
        )[0][0]
            .int()
    };
    // alice, her archive, 4 shared, the group, the public folder
    assert_eq!(under_dep(), 8);
    // Two that the name 'dup' matches: one by name, the other by alias.
    e.ok(&[
        "New-Mailbox",
        "-Name",
        "dup",
        "-Alias",
        "dupname",
        "-Shared",
    ]);
    e.ok(&["New-Mailbox", "-Name", "other", "-Alias", "dup", "-Shared"]);
    e.ok(&[
        "Set-Mailbox",
        "dupname",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    let audits = common::audit_operations(&e).len();

    // One batch: a user mailbox by alias (with its archive), a shared one by name in another
    // case, one by address, one by GUID in capitals, one by Exchange GUID, a group by alias and
    // a public-folder mailbox by name; then an ambiguous name, then one never reached.
    let out = e.run(&[
        "-Command",
        &format!(
            "'alice', 'S000', '{by_smtp}', '{by_guid}', '{by_exchange_guid}', 'finance', 'PF Root', 'dup', 'dupname' | Set-Mailbox -DataEncryptionPolicy $null"
        ),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("'dup' matches multiple entries: dup, other"),
        "{err}"
    );
    for (id, moved) in [
        ("alice", true),
        ("s000", true),
        ("s001", true),
        ("s002", true),
        ("s003", true),
        ("finance", true),
        ("PF Root", true),
        ("dupname", false),
    ] {
        let d = &e.json(&["Get-Mailbox", id])["DataEncryptionPolicy"];
        assert_eq!(d.is_null(), moved, "{id}: {d}");
    }
    // The archive's key left the DEP with its mailbox, and its mail still reads.
    assert!(!key_deps(&e, &archive).contains(&dep), "{archive}");
    let stats = e.json(&["Get-MailboxStatistics", "alice", "-Archive"]);
    assert_eq!(stats["IsEncrypted"], false);
    assert_eq!(stats["ItemCount"], 3);
    // One audit row per mailbox named, in the order given, none for the archive.
    let ops = common::audit_operations(&e);
    let new: Vec<_> = ops[audits..]
        .iter()
        .filter(|(op, _)| op == "Set-Mailbox")
        .map(|(_, p)| p["Identity"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        new,
        [
            "Alice Example",
            "s000",
            "s001",
            "s002",
            "s003",
            "Finance Team",
            "PF Root"
        ]
    );

    assert_eq!(under_dep(), 1, "dup alone");
    // And back, in one batch (all but the name that is ambiguous).
    e.ok(&[
        "-Command",
        &all.replace(
            "| Set-Mailbox",
            "| Where-Object { $_.Name -ne 'dup' } | Set-Mailbox",
        ),
    ]);
    assert_eq!(key_deps(&e, &archive), [dep.as_str()]);
    // the 8 above, other and dup
    assert_eq!(under_dep(), 10);
    let stats = e.json(&["Get-MailboxStatistics", "alice", "-Archive"]);
    assert_eq!(stats["DataEncryptionPolicyID"], dep.as_str());
    assert_eq!(stats["ItemCount"], 3);
    // Its items decrypt under the re-wrapped key.
    let out = e.path("archive-out");
    e.ok(&[
        "New-MailboxExportRequest",
        "alice",
        out.to_str().unwrap(),
        "-IsArchive",
    ]);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
}
