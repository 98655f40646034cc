//! Benchmarks of the other two hierarchies (issue 8), on a real store and real local vaults:
//!
//! - `sharepoint`: `Add-PnPFile` of one 256 MiB file into a site under a registered geo policy
//!   (1 MiB chunks, each under its own chunk key, one transaction), and `Get-PnPFile -AsFile` of
//!   it back, MiB/s;
//! - `m365_assign`: `Set-M365DataAtRestEncryptionPolicyAssignment` moving 10,000 mailboxes
//!   without a mailbox DEP from one multi-workload policy to another (and back), with a fresh
//!   key cache each time, so each run pays the RSA unwraps of the two policies.
//!
//! Run: `cargo bench --bench workloads` (figures in docs/performance.md).

use std::time::{Duration, Instant};

mod common;

use common::{custkey, open, row, vault_pair, KEYS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use custkey::service::{m365, site, spo};
use custkey::store::RecipientRow;

const SPO: &str = "00000003-0000-0ff1-ce00-000000000000";
const M365: &str = "c066d759-24ae-40e7-a56f-027002b5d3e4";

/// MiB in the file uploaded and downloaded per iteration.
const FILE_MIB: u64 = 256;

fn bench_sharepoint(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    vault_pair(d, &[SPO, M365]);
    custkey(d, &["New-PnPSite", "-Title", "Bench", "-Alias", "bench"]);
    let version = |v: &str, k: &str| {
        let out = custkey(
            d,
            &[
                "Get-AzKeyVaultKey",
                v,
                k,
                "-Property",
                "Id",
                "-Format",
                "Csv",
            ],
        );
        out.lines().nth(1).unwrap().trim_matches('"').to_string()
    };
    let (p, s) = (version("bench-va1", "k1"), version("bench-va2", "k2"));
    custkey(
        d,
        &[
            "Register-SPODataEncryptionPolicy",
            "-PrimaryKeyVaultUri",
            &p,
            "-SecondaryKeyVaultUri",
            &s,
        ],
    );
    let src = d.join("big.bin");
    {
        let mut b = Vec::with_capacity((FILE_MIB << 20) as usize);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while b.len() < (FILE_MIB << 20) as usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&src, &b).unwrap();
    }
    let site_url = "https://contoso.sharepoint.com/sites/bench";
    let (mut store, keys) = open(d);
    let mut g = c.benchmark_group("sharepoint");
    g.throughput(Throughput::Bytes(FILE_MIB << 20));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("upload_256MiB", |b| {
        b.iter(|| {
            site::upload(
                &mut store,
                &keys,
                Some(site_url),
                "Shared Documents",
                &src,
                None,
            )
            .unwrap();
        })
    });
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    g.bench_function("download_256MiB", |b| {
        b.iter(|| {
            site::download(
                &mut store,
                &keys,
                Some(site_url),
                "Shared Documents/big.bin",
                &out.join("big.bin"),
            )
            .unwrap();
        })
    });
    g.finish();
    assert_eq!(
        std::fs::read(out.join("big.bin")).unwrap(),
        std::fs::read(&src).unwrap()
    );
    let _ = spo::site_urls(&mut store);
}

fn bench_m365_assign(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    vault_pair(d, &[SPO, M365]);
    custkey(
        d,
        &[
            "New-M365DataAtRestEncryptionPolicy",
            "A",
            "-AzureKeyIDs",
            KEYS,
        ],
    );
    custkey(
        d,
        &[
            "New-M365DataAtRestEncryptionPolicy",
            "B",
            "-AzureKeyIDs",
            KEYS,
        ],
    );
    let (mut store, mut keys) = open(d);
    // 10,000 mailboxes, each with a mailbox key under the Microsoft-managed policy.
    let t = "2026-01-01T00:00:00Z".to_string();
    let rows: Vec<RecipientRow> = (0..10_000)
        .map(|i| {
            let n = format!("user{i:05}");
            row(&n, &n, "SharedMailbox", None, &t)
        })
        .collect();
    store
        .write(|tx| -> custkey::service::Result<()> {
            for r in &rows {
                tx.insert_recipient(r)?;
            }
            Ok(())
        })
        .unwrap();
    let ids: Vec<String> = rows.iter().map(|r| r.guid.clone()).collect();
    custkey::service::mailbox::assign(
        &mut store,
        &mut keys,
        &ids,
        custkey::store::RecipientScope::Mailboxes,
        None,
        "Set-Mailbox",
    )
    .unwrap();
    m365::assign(&mut store, &mut keys, "A").unwrap();
    let mut g = c.benchmark_group("m365_assign");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("10000_mailboxes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new process each time: no DEP key is cached.
                let (mut store, mut keys) = open(d);
                let current = m365::assignment(&mut store).unwrap().unwrap().name;
                let target = if current == "A" { "B" } else { "A" };
                let start = Instant::now();
                let out = m365::assign(&mut store, &mut keys, target).unwrap();
                total += start.elapsed();
                assert_eq!(out.mailbox_keys, 10_000);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sharepoint, bench_m365_assign);
criterion_main!(benches);
