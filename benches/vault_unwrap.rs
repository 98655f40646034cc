//! unwrapKey through the `KeyVault` trait: a key on a SoftHSM2 token (C_Decrypt with
//! CKM_RSA_PKCS_OAEP, SHA-1) against the same call on a local vault (aws-lc-rs, both OAEP
//! variants). Each call is what the service pays per DEP-key unwrap: sidecar/vault file read and
//! decrypt, access-policy check, the RSA operation, and the audit record.
//!
//! Run: `cargo bench --bench vault_unwrap` (see docs/performance.md). Without SoftHSM2 installed
//! only the local vault is measured (the reason is printed).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use custkey::crypto::OaepAlg;
use custkey::vault::master_key::MasterKeyOptions;
use custkey::vault::{
    KeyPermission, KeyVault, LocalBackend, LocalPaths, NewKeyRequest, NewVaultRequest,
    Pkcs11Binding, Pkcs11Provider, Principal,
};
use zeroize::Zeroizing;

#[path = "../tests/softhsm/mod.rs"]
mod softhsm;

fn backend(dir: &Path) -> LocalBackend {
    let mut k = [0u8; 32];
    custkey::crypto::random_bytes(&mut k);
    let opts = MasterKeyOptions {
        key_hex: Some(Zeroizing::new(hex::encode(k))),
        passphrase: None,
        use_keyring: false,
        pkcs11_uri: None,
    };
    // The master key is given, so nothing is written to the configuration directory; it is
    // still one outside the data directory, never ~/.config.
    let paths = LocalPaths::with_config_dir(dir, &dir.with_extension("config"));
    LocalBackend::open_with(paths, &opts, None).expect("backend")
}

/// A SoftHSM2 token in `dir` (its own SOFTHSM2_CONF, set for this process before the module is
/// loaded), or `None` when SoftHSM2 is not installed.
fn softhsm_token(dir: &Path) -> Option<Pkcs11Binding> {
    let module = softhsm::module()?;
    let conf = softhsm::write_conf(dir);
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var(custkey::vault::pkcs11::ENV_PIN, softhsm::PIN);
    std::env::set_var("CUSTKEY_KEYRING", "off");
    softhsm::init_token(&conf, "bench");
    Pkcs11Binding::new(&module, "bench").ok()
}

fn vault(
    b: &LocalBackend,
    name: &str,
    binding: Option<Pkcs11Binding>,
    admin: &Principal,
) -> Box<dyn KeyVault> {
    let mut req = NewVaultRequest::new(name, "bench-rg", "westus");
    let hsm = binding.is_some();
    req.pkcs11 = binding;
    b.new_key_vault(admin, &req).expect("vault");
    let v: Box<dyn KeyVault> = if hsm {
        Box::new(Pkcs11Provider::new(b.clone()).vault(name).expect("open"))
    } else {
        Box::new(b.vault(name).expect("open"))
    };
    v.set_access_policy(admin, admin, &KeyPermission::ALL)
        .expect("grant");
    v
}

fn unwrap(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = softhsm_token(&dir.path().join("hsm"));
    let b = backend(&dir.path().join("data"));
    let admin = Principal::user("bench@contoso.example").expect("upn");
    let local = vault(&b, "bench-local", None, &admin);
    let hsm = token.map(|t| vault(&b, "bench-hsm", Some(t), &admin));
    let dek = [0x42u8; 32];
    let mut g = c.benchmark_group("vault_unwrap");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for bits in [2048usize, 3072] {
        let name = format!("k{bits}");
        let mut req = NewKeyRequest::new(&name);
        req.size = bits;
        let mut cases: Vec<(&str, &dyn KeyVault, OaepAlg)> = vec![
            ("local RSA-OAEP-256", local.as_ref(), OaepAlg::RsaOaep256),
            ("local RSA-OAEP", local.as_ref(), OaepAlg::RsaOaep),
        ];
        if let Some(h) = &hsm {
            cases.push(("softhsm2 RSA-OAEP", h.as_ref(), OaepAlg::RsaOaep));
        }
        local.create_key(&admin, &req).expect("local key");
        if let Some(h) = &hsm {
            h.create_key(&admin, &req).expect("token key");
        }
        for (label, v, alg) in cases {
            let w = v.wrap_key(&admin, &name, None, alg, &dek).expect("wrap");
            assert_eq!(w.algorithm, alg);
            g.bench_with_input(BenchmarkId::new(label, bits), &w, |bch, w| {
                bch.iter(|| {
                    let k = v
                        .unwrap_key(&admin, &name, Some(&w.version), w.algorithm, &w.value)
                        .expect("unwrap");
                    black_box(k.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, unwrap);
criterion_main!(benches);
