//! Criterion benches of the crypto core: content streams, wraps per tier, RSA-OAEP unwrap.
//!
//! Run: `cargo bench --bench crypto -- --measurement-time 3` (see docs/performance.md).

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use custkey::crypto::*;
use uuid::Uuid;

fn content(c: &mut Criterion) {
    let key = MailboxKey::generate(KeyRef::new_random());
    let binding = ItemBinding::new(Uuid::new_v4(), b"bench-item".to_vec());
    let mut g = c.benchmark_group("content");
    for (label, size) in [
        ("1KiB", 1usize << 10),
        ("64KiB", 1 << 16),
        ("1MiB", 1 << 20),
        ("64MiB", 1 << 26),
    ] {
        let pt = vec![0x5au8; size];
        let mut sink = Vec::with_capacity(encrypted_len(size as u64) as usize);
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 1 << 26 {
            g.sample_size(10);
        } else {
            g.sample_size(50);
        }
        g.bench_with_input(BenchmarkId::new("encrypt", label), &pt, |b, pt| {
            b.iter(|| {
                sink.clear();
                let mut w = key.encrypt_writer(&binding, &mut sink).unwrap();
                w.write_all(pt).unwrap();
                w.finish().unwrap();
                black_box(sink.len())
            })
        });
        let ct = key.encrypt_content(&binding, &pt).unwrap();
        let mut out = vec![0u8; size];
        g.bench_with_input(BenchmarkId::new("decrypt", label), &ct, |b, ct| {
            b.iter(|| {
                let mut r = key.decrypt_reader(&binding, ct.as_slice()).unwrap();
                r.read_exact(&mut out).unwrap();
                black_box(out[size - 1])
            })
        });
    }
    g.finish();
}

fn wraps(c: &mut Criterion) {
    let dep_id = Uuid::new_v4();
    let owner = Uuid::new_v4();
    let avail = AvailabilityKey::generate(KeyRef::new_random());
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let tik = TenantIntermediateKey::generate(KeyRef::new(dep_id, 1));
    let mbx = MailboxKey::generate(KeyRef::new_random());
    let site = SiteKey::generate(KeyRef::new_random());
    let db = DepBinding::new(dep_id);
    let ob = OwnerBinding::new(dep_id, owner);
    let mut g = c.benchmark_group("wrap");
    g.sample_size(50);
    let w = avail.wrap_dep_key(&dep, &db).unwrap();
    g.bench_function("wrap/availability->dep", |b| {
        b.iter(|| black_box(avail.wrap_dep_key(&dep, &db).unwrap()))
    });
    g.bench_function("unwrap/availability->dep", |b| {
        b.iter(|| black_box(avail.unwrap_dep_key(&w, &db).unwrap()))
    });
    let w = dep.wrap_mailbox_key(&mbx, &ob).unwrap();
    g.bench_function("wrap/dep->mailbox", |b| {
        b.iter(|| black_box(dep.wrap_mailbox_key(&mbx, &ob).unwrap()))
    });
    g.bench_function("unwrap/dep->mailbox", |b| {
        b.iter(|| black_box(dep.unwrap_mailbox_key(&w, &ob).unwrap()))
    });
    let w = tik.wrap_site_key(&site, &ob).unwrap();
    g.bench_function("wrap/tik->site", |b| {
        b.iter(|| black_box(tik.wrap_site_key(&site, &ob).unwrap()))
    });
    g.bench_function("unwrap/tik->site", |b| {
        b.iter(|| black_box(tik.unwrap_site_key(&w, &ob).unwrap()))
    });
    let cb = ItemBinding::new(owner, b"item".to_vec());
    let ct = mbx.encrypt_content(&cb, b"").unwrap();
    let header = ContentHeader::parse(&ct).unwrap();
    g.bench_function("derive/mailbox->item", |b| {
        b.iter(|| black_box(mbx.derive_content_key(&header, &cb).unwrap()))
    });
    g.finish();
}

fn rsa(c: &mut Criterion) {
    let dep_id = Uuid::new_v4();
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let db = DepBinding::new(dep_id);
    let root = RootKeyRef::new("https://bench.vault.azure.net/keys/root", "1").unwrap();
    let mut g = c.benchmark_group("rsa");
    g.sample_size(20);
    for bits in [2048usize, 3072, 4096] {
        let sk = RsaPrivateKey::generate(bits).unwrap();
        let pk = sk.public_key();
        for alg in [OaepAlg::RsaOaep256, OaepAlg::RsaOaep] {
            let w = dep.wrap_under_rsa(&root, &pk, alg, &db).unwrap();
            g.bench_function(format!("unwrap/{}/{bits}", alg.as_str()), |b| {
                b.iter(|| black_box(DepKey::unwrap_under_rsa(&w, &db, &sk).unwrap()))
            });
        }
        g.bench_function(format!("wrap/RSA-OAEP-256/{bits}"), |b| {
            b.iter(|| {
                black_box(
                    dep.wrap_under_rsa(&root, &pk, OaepAlg::RsaOaep256, &db)
                        .unwrap(),
                )
            })
        });
        #[cfg(feature = "rustcrypto")]
        {
            let rc = RsaPrivateKey::from_pkcs8_der_with(&RustCryptoProvider, &sk.to_pkcs8_der())
                .unwrap();
            let w = pk.oaep_wrap(OaepAlg::RsaOaep256, &[7u8; 32]).unwrap();
            g.bench_function(format!("unwrap-rustcrypto/RSA-OAEP-256/{bits}"), |b| {
                b.iter(|| black_box(rc.oaep_unwrap(OaepAlg::RsaOaep256, &w).unwrap()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, content, wraps, rsa);
criterion_main!(benches);
