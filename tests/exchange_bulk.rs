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
    let mut store = Store::open(&e.path("service.db")).unwrap();
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
