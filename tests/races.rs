//! Races between custkey processes on one store: each pair of commands is started as two real
//! processes, many times, and the store is checked afterwards for lost or resurrected data.
//!
//! To make the two commands overlap every time, the test holds the store's write lock (an open
//! `BEGIN IMMEDIATE` transaction on its own connection) while it starts them: both read what
//! they need and then queue for the lock; when the test lets go, their writes land in either
//! order, each after the other's reads. Without column-level, guarded writes one of them then
//! overwrites the other's change.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Env, EXO};

const VAULTS: [&str; 2] = ["contoso-ck-va1", "contoso-ck-va2"];
const KEYS: &str = "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002";

/// How many times each race runs.
const ROUNDS: usize = 6;

fn spawn(e: &Env, args: &[&str]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
    c.args(args)
        .current_dir(e.dir.path())
        .env("CUSTKEY_STORE", e.path("service.db"))
        .env("CUSTKEY_CONFIG_DIR", e.config.path())
        .env_remove("SSH_AUTH_SOCK")
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("CUSTKEY_VAULT_KEY")
        .env_remove("CUSTKEY_VAULT_PASSPHRASE")
        .env_remove("CUSTKEY_SERVICE_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &e.extra {
        c.env(k, v);
    }
    c.spawn().expect("start custkey")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The store's write lock, held by the test: SQLite's (an open `BEGIN IMMEDIATE`), or on
/// PostgreSQL the advisory lock every write transaction takes first (store/pg.rs).
enum Gate {
    Sqlite(rusqlite::Connection),
    Pg(postgres::Client),
}

impl Gate {
    fn hold(e: &Env) -> Gate {
        match e.pg_url() {
            Some(url) => {
                let mut c = common::postgres_client(url);
                c.execute(
                    "SELECT pg_advisory_lock($1)",
                    &[&custkey::store::pg::WRITE_LOCK],
                )
                .unwrap();
                Gate::Pg(c)
            }
            None => {
                let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                Gate::Sqlite(c)
            }
        }
    }

    fn release(self) {
        match self {
            Gate::Pg(mut c) => {
                c.execute(
                    "SELECT pg_advisory_unlock($1)",
                    &[&custkey::store::pg::WRITE_LOCK],
                )
                .unwrap();
            }
            Gate::Sqlite(c) => c.execute_batch("COMMIT").unwrap(),
        }
    }
}

/// Runs `a` and `b` as two processes that overlap: both start while the test holds the store's
/// write lock, and both are let go together after `hold`.
fn race(e: &Env, a: &[&str], b: &[&str], hold: Duration) -> (Output, Output) {
    let gate = Gate::hold(e);
    let pa = spawn(e, a);
    let pb = spawn(e, b);
    std::thread::sleep(hold);
    gate.release();
    (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    )
}

fn one_row(e: &Env, sql: &str, p: &str) -> i64 {
    common::store_rows(e, sql, &[p.into()])[0][0].int()
}

fn vaults(e: &Env) {
    e.key_vault("Contoso-CK-Sub1", VAULTS[0], "Key001", "westus", &[EXO]);
    e.key_vault("Contoso-CK-Sub2", VAULTS[1], "Key002", "centralus", &[EXO]);
}

#[test]
fn a_purge_approved_while_the_policy_is_changed_never_gets_its_keys_back() {
    let e = Env::new();
    vaults(&e);
    for i in 0..ROUNDS {
        let name = format!("P{i}");
        e.ok(&[
            "New-DataEncryptionPolicy",
            "-Name",
            &name,
            "-AzureKeyIDs",
            KEYS,
        ]);
    }
    for v in VAULTS {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "admin@contoso.onmicrosoft.com,ciso@contoso.com",
    ]);
    e.register("ciso@contoso.com");
    for i in 0..ROUNDS {
        e.ok(&[
            "Set-DataEncryptionPolicy",
            &format!("P{i}"),
            "-PermanentDataPurgeRequested",
            "-PermanentDataPurgeReason",
            "Leaving",
            "-PermanentDataPurgeContact",
            "cio@contoso.com",
            "-Confirm:false",
        ]);
    }
    // The approver is an Exchange administrator too: its Set-DataEncryptionPolicy races.
    e.ok(&[
        "Add-RoleGroupMember",
        "-Identity",
        "Organization Management",
        "-Member",
        "ciso@contoso.com",
    ]);
    e.connect("ciso@contoso.com");
    let mut set_first = 0;
    for i in 0..ROUNDS {
        let name = format!("P{i}");
        let desc = format!("changed in round {i}");
        let (approve, set) = race(
            &e,
            &["Approve-DataPurgeRequest", &name, "-Confirm:false"],
            &["Set-DataEncryptionPolicy", &name, "-Description", &desc],
            Duration::from_millis(800),
        );
        assert!(approve.status.success(), "approve: {}", text(&approve));
        let d = e.json(&["Get-DataEncryptionPolicy", &name]);
        let guid = d["Guid"].as_str().unwrap().to_string();
        // Whatever the order, the purge holds: no availability key, no copy of the DEP key.
        assert_eq!(d["State"], "Purged", "round {i}: {d}\n{}", text(&set));
        let keys: i64 = one_row(
            &e,
            "SELECT count(availability_key) + count(wrapped_by_availability) FROM dep WHERE guid = ?1",
            &guid,
        );
        assert_eq!(keys, 0, "round {i}: key material came back");
        let wraps: i64 = one_row(
            &e,
            "SELECT count(*) FROM dep_root_wrap WHERE dep_guid = ?1",
            &guid,
        );
        assert_eq!(wraps, 0, "round {i}: root wraps came back");
        // And the other command either landed whole (its description kept) or was refused.
        if set.status.success() {
            set_first += 1;
            assert_eq!(d["Description"], desc.as_str(), "round {i}: lost update");
        } else {
            assert!(
                text(&set).contains("was purged"),
                "round {i}: {}",
                text(&set)
            );
        }
    }
    eprintln!("Set before the approval in {set_first} of {ROUNDS} rounds");
}

#[test]
fn a_refresh_and_a_description_change_at_once_keep_both() {
    let e = Env::new();
    vaults(&e);
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        KEYS,
    ]);
    for i in 0..ROUNDS {
        e.ok(&["Add-AzKeyVaultKey", VAULTS[0], "Key001"]);
        e.ok(&["Add-AzKeyVaultKey", VAULTS[1], "Key002"]);
        let newest: Vec<String> = [(VAULTS[0], "Key001"), (VAULTS[1], "Key002")]
            .iter()
            .map(|(v, k)| {
                e.json(&["Get-AzKeyVaultKey", "-VaultName", v, "-Name", k])["Version"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let desc = format!("round {i}");
        let (refresh, set) = race(
            &e,
            &["Set-DataEncryptionPolicy", "US Mailboxes", "-Refresh"],
            &[
                "Set-DataEncryptionPolicy",
                "US Mailboxes",
                "-Description",
                &desc,
            ],
            Duration::from_millis(800),
        );
        assert!(refresh.status.success(), "refresh: {}", text(&refresh));
        assert!(set.status.success(), "set: {}", text(&set));
        let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
        assert_eq!(
            d["Description"],
            desc.as_str(),
            "round {i}: the description was lost"
        );
        let versions: Vec<String> = d["KeyVersionIDs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        for n in &newest {
            assert!(
                versions.iter().any(|v| v.ends_with(n.as_str())),
                "round {i}: the refresh to {n} was lost: {versions:?}"
            );
        }
        // The refreshed copies open the DEP key.
        let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
        for r in t.as_array().unwrap() {
            assert_eq!(r["Result"], "Success", "round {i}: {r}");
        }
    }
}

/// An mbox file of `n` small messages.
fn mbox(e: &Env, name: &str, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "From sender{i}@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: message {i}\n\nbody of message {i}\n{}\n\n",
            "x".repeat(200)
        ));
    }
    let p = e.path(name);
    std::fs::write(&p, s).unwrap();
    p.to_str().unwrap().to_string()
}

fn item_count(e: &Env, mailbox: &str) -> u64 {
    e.json(&["Get-MailboxStatistics", mailbox])["ItemCount"]
        .as_u64()
        .unwrap()
}

/// Every item of the mailbox exports, and the export holds as many messages as the store says.
fn all_items_read_back(e: &Env, mailbox: &str, round: usize) -> u64 {
    let count = item_count(e, mailbox);
    let out = format!("export-{round}");
    let r = e.run(&["New-MailboxExportRequest", mailbox, &out, "-Format", "Json"]);
    assert!(r.status.success(), "round {round}: export: {}", text(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        v["BadItemsEncountered"].as_u64().unwrap_or(0),
        0,
        "round {round}: {v}"
    );
    assert_eq!(
        v["ItemsTransferred"].as_u64(),
        Some(count),
        "round {round}: {v}"
    );
    assert_eq!(
        std::fs::read_dir(e.path(&out)).unwrap().count() as u64,
        count,
        "round {round}"
    );
    count
}

/// Every mailbox key row is wrapped by the DEP the mailbox is assigned to, and no item is under
/// a key that is not there.
fn keys_consistent(e: &Env, mailbox_alias: &str, round: usize) {
    let r = &common::store_rows(
        e,
        "SELECT guid, dep_guid FROM recipient WHERE alias = ?1",
        &[mailbox_alias.into()],
    )[0];
    let (guid, dep) = (r[0].text(), r[1].clone());
    let wrong = common::store_rows(
        e,
        "SELECT count(*) FROM mailbox_key WHERE mailbox_guid = ?1 AND dep_guid IS DISTINCT FROM ?2",
        &[(&guid).into(), dep],
    )[0][0]
        .int();
    assert_eq!(
        wrong, 0,
        "round {round}: a key is wrapped by a DEP the mailbox is not assigned to"
    );
    let orphans = one_row(
        e,
        "SELECT count(*) FROM item i WHERE i.mailbox_guid = ?1 AND NOT EXISTS
         (SELECT 1 FROM mailbox_key k WHERE k.mailbox_guid = i.mailbox_guid AND k.key_id = i.key_id AND k.key_version = i.key_version)",
        &guid,
    );
    assert_eq!(orphans, 0, "round {round}: items under a key that is gone");
    let current = one_row(
        e,
        "SELECT count(*) FROM mailbox_key WHERE mailbox_guid = ?1 AND current = 1",
        &guid,
    );
    assert!(current <= 1, "round {round}: {current} current keys");
}

#[test]
fn an_import_during_a_move_either_lands_readable_or_is_undone() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let (mut landed, mut undone) = (0, 0);
    for round in 0..ROUNDS {
        // More messages than one batch, so the import commits several times while the move
        // runs; a new file each round (an import of a file it finished imports nothing again).
        let file = mbox(&e, &format!("many-{round}.mbox"), 2500);
        let before = item_count(&e, "alice");
        let hold = Duration::from_millis(300 + 100 * round as u64);
        let (import, mv) = race(
            &e,
            &["New-MailboxImportRequest", "alice", &file],
            &["New-MoveRequest", "alice"],
            hold,
        );
        assert!(mv.status.success(), "round {round}: move: {}", text(&mv));
        let after = all_items_read_back(&e, "alice", round);
        if import.status.success() {
            landed += 1;
            assert_eq!(after, before + 2500, "round {round}: {}", text(&import));
        } else {
            undone += 1;
            assert!(
                text(&import).contains("the import was undone"),
                "round {round}: {}",
                text(&import)
            );
            assert_eq!(
                after, before,
                "round {round}: a failed import left items behind"
            );
        }
        keys_consistent(&e, "alice", round);
    }
    eprintln!("import landed in {landed} rounds, undone in {undone}");
}

#[test]
fn two_moves_of_one_mailbox_at_once_lose_nothing() {
    let e = Env::new();
    e.setup();
    let (mail, mbox_file) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&[
        "New-MailboxImportRequest",
        "alice",
        mbox_file.to_str().unwrap(),
    ]);
    let file = mbox(&e, "many.mbox", 300);
    e.ok(&["New-MailboxImportRequest", "alice", &file]);
    let expected = item_count(&e, "alice");
    for round in 0..ROUNDS {
        let (a, b) = race(
            &e,
            &["New-MoveRequest", "alice"],
            &["New-MoveRequest", "alice"],
            Duration::from_millis(500),
        );
        for (n, o) in [("first", &a), ("second", &b)] {
            assert!(
                o.status.success() || text(o).contains("run the command again"),
                "round {round}: {n} move: {}",
                text(o)
            );
        }
        assert_eq!(all_items_read_back(&e, "alice", round), expected);
        keys_consistent(&e, "alice", round);
        let keys: i64 = one_row(
            &e,
            "SELECT count(*) FROM mailbox_key k JOIN recipient r ON r.guid = k.mailbox_guid WHERE r.alias = ?1",
            "alice",
        );
        assert_eq!(keys, 1, "round {round}: a completed move leaves one key");
    }
}

#[test]
fn assignments_racing_each_other_and_a_move_keep_every_key_under_the_assigned_policy() {
    let e = Env::new();
    e.setup();
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "EU Mailboxes",
        "-AzureKeyIDs",
        KEYS,
    ]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let expected = item_count(&e, "alice");
    let policies = ["US Mailboxes", "EU Mailboxes"];
    for round in 0..ROUNDS {
        let (a, b) = race(
            &e,
            &[
                "Set-Mailbox",
                "alice",
                "-DataEncryptionPolicy",
                policies[round % 2],
            ],
            &[
                "Set-Mailbox",
                "alice",
                "-DataEncryptionPolicy",
                policies[(round + 1) % 2],
            ],
            Duration::from_millis(500),
        );
        for o in [&a, &b] {
            assert!(
                o.status.success() || text(o).contains("run the command again"),
                "round {round}: {}",
                text(o)
            );
        }
        keys_consistent(&e, "alice", round);
        let (a, b) = race(
            &e,
            &[
                "Set-Mailbox",
                "alice",
                "-DataEncryptionPolicy",
                policies[round % 2],
            ],
            &["New-MoveRequest", "alice"],
            Duration::from_millis(500),
        );
        for o in [&a, &b] {
            assert!(
                o.status.success() || text(o).contains("run the command again"),
                "round {round}: {}",
                text(o)
            );
        }
        keys_consistent(&e, "alice", round);
        assert_eq!(all_items_read_back(&e, "alice", round), expected);
    }
}

#[test]
fn two_pipelines_assigning_the_same_mailboxes_each_land_whole_and_lose_no_key() {
    let e = Env::new();
    e.setup();
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "EU Mailboxes",
        "-AzureKeyIDs",
        KEYS,
    ]);
    let names: Vec<String> = (0..40).map(|i| format!("'p{i:03}'")).collect();
    e.ok(&[
        "-Command",
        &format!("{} | New-Mailbox -Shared | Out-Null", names.join(", ")),
    ]);
    let pipe = |dep: &str| {
        format!(
            "Get-Mailbox -Filter \"Name -like 'p*'\" | Set-Mailbox -DataEncryptionPolicy '{dep}'"
        )
    };
    let policies = ["US Mailboxes", "EU Mailboxes"];
    for round in 0..ROUNDS {
        let (a, b) = race(
            &e,
            &["-Command", &pipe(policies[round % 2])],
            &["-Command", &pipe(policies[(round + 1) % 2])],
            Duration::from_millis(500),
        );
        for o in [&a, &b] {
            assert!(
                o.status.success() || text(o).contains("run the command again"),
                "round {round}: {}",
                text(o)
            );
        }
        for i in 0..40 {
            keys_consistent(&e, &format!("p{i:03}"), round);
        }
        // Each pipeline's assignments are one transaction: the last one to commit holds all.
        let deps = common::store_rows(
            &e,
            "SELECT count(DISTINCT dep_guid) FROM recipient WHERE name LIKE 'p%'",
            &[],
        )[0][0]
            .int();
        assert_eq!(
            deps, 1,
            "round {round}: the mailboxes ended up under a mix of policies"
        );
    }
}

/// The two vaults and the policy over Key001 and Key002, and `spare` more vaults (va3, va4)
/// with keys a replacement can move to.
fn policy_with_spare_vaults(spare: usize) -> Env {
    let e = Env::new();
    vaults(&e);
    for (sub, vault, key, location) in [
        ("Contoso-CK-Sub3", "contoso-ck-va3", "Key003", "eastus"),
        ("Contoso-CK-Sub4", "contoso-ck-va4", "Key004", "eastus2"),
    ]
    .into_iter()
    .take(spare)
    {
        e.key_vault(sub, vault, key, location, &[EXO]);
    }
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        KEYS,
    ]);
    e
}

/// Two replacements of the same key at once: one lands, the other fails with a message (the
/// slot changed meanwhile, or the old key is no longer in the policy), and the policy's
/// AzureKeyIDs always name the keys whose copies it holds, which open it.
#[test]
fn two_replacements_of_one_key_at_once_leave_one_and_a_consistent_policy() {
    let e = policy_with_spare_vaults(2);
    let mut current = "https://contoso-ck-va1.vault.azure.net/keys/Key001".to_string();
    let mut wins = [0usize; 2];
    for i in 0..ROUNDS {
        let candidates = [
            format!("https://contoso-ck-va3.vault.azure.net/keys/R{i}"),
            format!("https://contoso-ck-va4.vault.azure.net/keys/R{i}"),
        ];
        e.ok(&[
            "Add-AzKeyVaultKey",
            "contoso-ck-va3",
            &format!("R{i}"),
            "-Destination",
            "HSM",
        ]);
        e.ok(&[
            "Add-AzKeyVaultKey",
            "contoso-ck-va4",
            &format!("R{i}"),
            "-Destination",
            "HSM",
        ]);
        let ids: Vec<String> = candidates
            .iter()
            .map(|c| format!("{current},{c}"))
            .collect();
        let args = |ids: &str| {
            vec![
                "Set-DataEncryptionPolicy".to_string(),
                "US Mailboxes".into(),
                "-AzureKeyIDs".into(),
                ids.to_string(),
                "-Replace".into(),
            ]
        };
        let (a, b) = (args(&ids[0]), args(&ids[1]));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (ra, rb) = race(&e, &a, &b, Duration::from_millis(800));
        let ok: Vec<bool> = [&ra, &rb].iter().map(|o| o.status.success()).collect();
        assert_eq!(
            ok.iter().filter(|x| **x).count(),
            1,
            "round {i}: exactly one replacement lands:\n{}\n{}",
            text(&ra),
            text(&rb)
        );
        let winner = ok.iter().position(|x| *x).unwrap();
        wins[winner] += 1;
        let loser = if winner == 0 { &rb } else { &ra };
        let said = text(loser);
        assert!(
            said.contains("changed") || said.contains("is not a key of"),
            "round {i}: {said}"
        );
        let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
        let listed: Vec<String> = d["AzureKeyIDs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let held: Vec<String> =
            common::store_rows(&e, "SELECT key_uri FROM dep_root_wrap ORDER BY slot", &[])
                .into_iter()
                .map(|r| r[0].text())
                .collect();
        assert_eq!(
            listed, held,
            "round {i}: AzureKeyIDs and the copies disagree"
        );
        assert_eq!(held[0], candidates[winner], "round {i}");
        let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
        for r in t.as_array().unwrap() {
            assert_eq!(r["Result"], "Success", "round {i}: {r}");
        }
        current = candidates[winner].clone();
    }
    eprintln!("winners: first {} times, second {} times", wins[0], wins[1]);
}

/// A replacement of one key and a refresh of the policy at once: the refresh of the other key
/// is kept, and the replaced slot holds the new key.
#[test]
fn a_replacement_and_a_refresh_at_once_keep_both() {
    let e = policy_with_spare_vaults(1);
    let key3 = "https://contoso-ck-va3.vault.azure.net/keys/Key003";
    let key1 = "https://contoso-ck-va1.vault.azure.net/keys/Key001";
    let mut slot0 = key1.to_string();
    for i in 0..ROUNDS {
        e.ok(&["Add-AzKeyVaultKey", VAULTS[1], "Key002"]);
        let newest = e.json(&["Get-AzKeyVaultKey", VAULTS[1], "Key002"])["Version"]
            .as_str()
            .unwrap()
            .to_string();
        let to = if slot0 == key1 { key3 } else { key1 };
        let ids = format!("{slot0},{to}");
        let (replace, refresh) = race(
            &e,
            &[
                "Set-DataEncryptionPolicy",
                "US Mailboxes",
                "-AzureKeyIDs",
                &ids,
                "-Replace",
            ],
            &["Set-DataEncryptionPolicy", "US Mailboxes", "-Refresh"],
            Duration::from_millis(800),
        );
        // Each either lands or says the policy changed under it; run the loser again.
        for (o, again) in [
            (
                &replace,
                vec![
                    "Set-DataEncryptionPolicy",
                    "US Mailboxes",
                    "-AzureKeyIDs",
                    &ids,
                    "-Replace",
                ],
            ),
            (
                &refresh,
                vec!["Set-DataEncryptionPolicy", "US Mailboxes", "-Refresh"],
            ),
        ] {
            if !o.status.success() {
                assert!(text(o).contains("changed"), "round {i}: {}", text(o));
                e.ok(&again);
            }
        }
        let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
        assert_eq!(d["AzureKeyIDs"][0], to, "round {i}: {d}");
        assert!(
            d["KeyVersionIDs"][1].as_str().unwrap().ends_with(&newest),
            "round {i}: the refresh was lost: {d}"
        );
        let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
        for r in t.as_array().unwrap() {
            assert_eq!(r["Result"], "Success", "round {i}: {r}");
        }
        slot0 = to.to_string();
    }
}

/// Replacements of the policy's two keys at once: both land, and AzureKeyIDs keeps both new
/// keys (each command rewrites its own entry under the write lock, not the list it read).
#[test]
fn replacements_of_both_keys_at_once_keep_both() {
    let e = policy_with_spare_vaults(2);
    let uri = |v: &str, k: &str| format!("https://{v}.vault.azure.net/keys/{k}");
    let mut keys = [uri(VAULTS[0], "Key001"), uri(VAULTS[1], "Key002")];
    for i in 0..ROUNDS {
        // Slot 0 moves between va1 and va3, slot 1 between va2 and va4.
        let (v0, v1) = if i % 2 == 0 {
            ("contoso-ck-va3", "contoso-ck-va4")
        } else {
            (VAULTS[0], VAULTS[1])
        };
        let name = format!("S{i}");
        e.ok(&["Add-AzKeyVaultKey", v0, &name, "-Destination", "HSM"]);
        e.ok(&["Add-AzKeyVaultKey", v1, &name, "-Destination", "HSM"]);
        let new = [uri(v0, &name), uri(v1, &name)];
        let a = format!("{},{}", keys[0], new[0]);
        let b = format!("{},{}", keys[1], new[1]);
        let (ra, rb) = race(
            &e,
            &[
                "Set-DataEncryptionPolicy",
                "US Mailboxes",
                "-AzureKeyIDs",
                &a,
                "-Replace",
            ],
            &[
                "Set-DataEncryptionPolicy",
                "US Mailboxes",
                "-AzureKeyIDs",
                &b,
                "-Replace",
            ],
            Duration::from_millis(800),
        );
        assert!(ra.status.success(), "round {i}: {}", text(&ra));
        assert!(rb.status.success(), "round {i}: {}", text(&rb));
        let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
        assert_eq!(
            d["AzureKeyIDs"],
            serde_json::json!([new[0], new[1]]),
            "round {i}: a replacement was lost from AzureKeyIDs"
        );
        let t = e.json(&["Test-DataEncryptionPolicy", "US Mailboxes"]);
        for r in t.as_array().unwrap() {
            assert_eq!(r["Result"], "Success", "round {i}: {r}");
        }
        keys = new;
    }
}
