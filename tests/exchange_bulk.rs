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
