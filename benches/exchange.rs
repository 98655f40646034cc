//! Exchange service benchmarks (issue 5 targets), on a real store and real local vaults:
//!
//! - `import`: New-MailboxImportRequest of 1 GiB of mail (256 messages of 4 MiB) into a store
//!   on disk (content in pack files, fsynced), MiB/s, to compare with the crypto core's
//!   content-encryption rate (benches/crypto.rs);
//! - `assign_10000`: assigning 10,000 mailboxes to a DEP (and back), with a fresh key cache each
//!   time, so each run pays the RSA unwrap of each DEP involved;
//! - `get_mailbox_100k`: the whole `custkey Get-Mailbox -Identity` process on a store of
//!   100,000 mailboxes, beside the `sqlite3` CLI doing the same indexed lookup.
//!
//! Run: `cargo bench --bench exchange` (see docs/performance.md for figures).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{custkey, open, row, vault_pair, KEYS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use custkey::service::{content, mailbox, org};
use custkey::store::{RecipientScope, Store};

const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Two vaults granted to Exchange, a DEP "Bench", and a shared mailbox "bench" assigned to it.
fn setup(dir: &Path) {
    vault_pair(dir, &[EXO]);
    custkey(
        dir,
        &["New-DataEncryptionPolicy", "Bench", "-AzureKeyIDs", KEYS],
    );
    custkey(dir, &["New-Mailbox", "bench", "-Shared"]);
    custkey(
        dir,
        &["Set-Mailbox", "bench", "-DataEncryptionPolicy", "Bench"],
    );
}

/// Messages of 4 MiB imported per iteration: 256 = 1 GiB.
const MESSAGES: usize = 256;

fn bench_import(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let msg_len = 4 << 20;
    for i in 0..MESSAGES {
        let mut b = Vec::with_capacity(msg_len);
        while b.len() < msg_len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(mail.join(format!("{i:03}.eml")), &b).unwrap();
    }
    let total = MESSAGES as u64 * msg_len as u64;
    let (mut store, mut keys) = open(dir.path());
    let mut g = c.benchmark_group("import");
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("1GiB_as_256_messages", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                content::import(&mut store, &mut keys, "bench", &mail).unwrap();
                spent += t.elapsed();
                // Empty the mailbox again (not timed).
                let guid = store
                    .read(|tx| {
                        custkey::service::recipient::resolve(tx, "bench", RecipientScope::Mailboxes)
                    })
                    .unwrap()
                    .guid;
                store
                    .write(|tx| -> custkey::service::Result<_> { Ok(tx.delete_items_of(&guid)?) })
                    .unwrap();
                store.reclaim_packs().unwrap();
                store.checkpoint().unwrap();
            }
            spent
        })
    });
    g.finish();
}

fn bench_assign(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let (mut store, _) = open(dir.path());
    let t = custkey::service::now();
    let ids: Vec<String> = (0..10_000).map(|i| format!("shared{i:05}")).collect();
    store
        .write(|tx| -> custkey::service::Result<()> {
            org::current(tx)?;
            for id in &ids {
                tx.insert_recipient(&row(id, id, "SharedMailbox", None, &t))?;
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    let mut g = c.benchmark_group("assign");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let mut flip = false;
    g.bench_function("10000_mailboxes_fresh_key_cache", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let (mut store, mut keys) = open(dir.path());
                flip = !flip;
                let target = if flip { Some("Bench") } else { None };
                let t = Instant::now();
                mailbox::assign(
                    &mut store,
                    &mut keys,
                    &ids,
                    RecipientScope::Mailboxes,
                    target,
                    "Set-Mailbox",
                )
                .unwrap();
                spent += t.elapsed();
            }
            spent
        })
    });
    g.finish();
}

fn bench_get_mailbox(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // The master key files of the processes: a directory of this bench, never ~/.config.
    let config = tempfile::tempdir().unwrap();
    let db = dir.path().join("service.db");
    let mut store = Store::open(&db).unwrap();
    let t = custkey::service::now();
    store
        .write(|tx| -> custkey::service::Result<()> {
            org::current(tx)?;
            for i in 0..100_000 {
                let id = format!("user{i:06}");
                let upn = format!("{id}@contoso.onmicrosoft.com");
                let mut r = row(&format!("User {i:06}"), &id, "UserMailbox", Some(upn), &t);
                r.licenses = vec!["SPE_E5".into()];
                tx.insert_recipient(&r)?;
            }
            Ok(())
        })
        .unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let mut g = c.benchmark_group("get_mailbox_100k");
    g.sample_size(30);
    g.bench_function("custkey_process", |b| {
        b.iter(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
                .args(["Get-Mailbox", "-Identity", "user054321", "-Format", "Json"])
                .env("CUSTKEY_STORE", &db)
                .env("CUSTKEY_CONFIG_DIR", config.path())
                .output()
                .unwrap();
            assert!(out.status.success());
        })
    });
    if Command::new("sqlite3").arg("-version").output().is_ok() {
        g.bench_function("sqlite3_cli_same_lookup", |b| {
            b.iter(|| {
                let out = Command::new("sqlite3")
                    .arg(&db)
                    .arg("SELECT * FROM recipient WHERE alias = 'user054321' COLLATE NOCASE;")
                    .output()
                    .unwrap();
                assert!(out.status.success());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_import, bench_assign, bench_get_mailbox);
criterion_main!(benches);
