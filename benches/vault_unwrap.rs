//! unwrapKey through the `KeyVault` trait: a key on a SoftHSM2 token (C_Decrypt with
//! CKM_RSA_PKCS_OAEP, SHA-1) against the same call on a local vault (aws-lc-rs, both OAEP
//! variants). Each call is what the service pays per DEP-key unwrap: sidecar/vault file read and
//! decrypt, access-policy check, the RSA operation, and the audit record.
//!
//! With `CUSTKEY_TEST_KMIP` (and `_CERT`, `_KEY`, `_CA`, as tests/kmip/mod.rs reads them) set,
//! a root unwrap through the KMIP backend (AES-256-GCM Decrypt on the server, one round trip
//! on the pooled TLS connection) is measured too; benches/root_unwrap.sh starts a PyKMIP
//! server for it and times `pkcs11-tool`'s own RSA private operation in the same run.
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
    req.key_holder = binding.map(|b| b.holder());
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
        if bits == 3072 {
            if let Some(h) = &hsm {
                let w = h
                    .wrap_key(&admin, &name, None, OaepAlg::RsaOaep, &dek)
                    .expect("wrap");
                let key = h.get_key(&admin, &name, None).expect("key");
                g.bench_with_input(
                    BenchmarkId::new("softhsm2 raw C_Decrypt (logged-in session)", bits),
                    &w,
                    |bch, w| bch.iter(|| black_box(raw_decrypt(&key, &w.value))),
                );
            }
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
    if let Some(ep) = kmip_endpoint() {
        use custkey::vault::RootKeyProvider;
        let kdir = dir.path().join("kmip");
        std::fs::create_dir_all(&kdir).expect("dir");
        custkey::vault::kmip::KmipServers::new(&kdir)
            .register("bench-kms", "bench-rg", "eastus", ep.clone())
            .expect("register");
        let roots = custkey::vault::kmip::KmipRoots::new(&kdir);
        let id = custkey::vault::kmip::client::create_aes256(&ep).expect("Create");
        custkey::vault::kmip::client::activate(&ep, &id).expect("Activate");
        let uri = format!("kmip://{}:{}/{id}", ep.host, ep.port);
        let w = roots.wrap(&admin, &uri, &dek).expect("wrap");
        let versioned = format!("{uri}/{}", w.version);
        g.bench_function("pykmip AES-256-GCM Decrypt", |bch| {
            bch.iter(|| {
                let k = roots
                    .unwrap(&admin, &versioned, w.alg, &w.value)
                    .expect("unwrap");
                black_box(k.len())
            })
        });
    } else {
        eprintln!(
            "vault_unwrap: no KMIP server (CUSTKEY_TEST_KMIP unset): the KMIP case is not measured"
        );
    }
    // A KMIP server that decrypts with RSA keys (CUSTKEY_TEST_KMIP_RSA, e.g. Cosmian KMS): an
    // RSA-2048 key pair made there, the copy wrapped under its public half, unwrapped by the
    // server's RSA-OAEP Decrypt.
    if let Some(ep) = endpoint_of("CUSTKEY_TEST_KMIP_RSA") {
        use custkey::vault::RootKeyProvider;
        let kdir = dir.path().join("kmip-rsa");
        std::fs::create_dir_all(&kdir).expect("dir");
        let s = custkey::vault::kmip::KmipServers::new(&kdir)
            .register("bench-kms-rsa", "bench-rg", "eastus", ep.clone())
            .expect("register");
        let roots = custkey::vault::kmip::KmipRoots::new(&kdir);
        let k = custkey::vault::kmip::create_key(
            &s,
            "bench-rsa",
            custkey::vault::RootKeyKind::Rsa(2048),
        )
        .expect("Create Key Pair");
        let uri = k.uri.to_string();
        let w = roots.wrap(&admin, &uri, &dek).expect("wrap");
        let u = custkey::vault::kmip::KmipUri::parse(&uri).expect("uri");
        let versioned = format!(
            "kmip://{}/{}/1?public={}",
            u.server(),
            u.id,
            u.public.unwrap_or_default()
        );
        g.bench_function("kmip RSA-2048 RSA-OAEP Decrypt", |bch| {
            bch.iter(|| {
                let k = roots
                    .unwrap(&admin, &versioned, w.alg, &w.value)
                    .expect("unwrap");
                black_box(k.len())
            })
        });
    }
    g.finish();
}

/// The KMIP server of tests/kmip/mod.rs, if one was started.
fn kmip_endpoint() -> Option<custkey::vault::kmip::client::Endpoint> {
    endpoint_of("CUSTKEY_TEST_KMIP")
}

/// A KMIP server named by the variable `var` (host:port), with the client files of
/// tests/kmip/mod.rs.
fn endpoint_of(var: &str) -> Option<custkey::vault::kmip::client::Endpoint> {
    let server = std::env::var(var).ok()?;
    let (host, port) = server.rsplit_once(':')?;
    let file = |v: &str| std::env::var(v).ok().map(std::path::PathBuf::from);
    Some(custkey::vault::kmip::client::Endpoint {
        host: host.to_string(),
        port: port.parse().ok()?,
        client_certificate: file("CUSTKEY_TEST_KMIP_CERT")?,
        client_key: file("CUSTKEY_TEST_KMIP_KEY")?,
        ca_certificate: file("CUSTKEY_TEST_KMIP_CA")?,
    })
}

/// The token's own RSA-OAEP private operation on a session logged in once: the anchor the
/// vault's unwrap is compared with (no vault file, policy check or audit record).
fn raw_decrypt(key: &custkey::vault::KeyVaultKey, ct: &[u8]) -> usize {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
    use cryptoki::mechanism::{Mechanism, MechanismType};
    use cryptoki::object::{Attribute, ObjectClass};
    use cryptoki::session::{Session, UserType};
    thread_local! {
        static S: std::cell::OnceCell<Session> = const { std::cell::OnceCell::new() };
    }
    S.with(|cell| {
        let s = cell.get_or_init(|| {
            let m = Pkcs11::new(softhsm::module().expect("module")).expect("load");
            let _ = m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
            let slot = m
                .get_slots_with_token()
                .expect("slots")
                .into_iter()
                .find(|s| {
                    m.get_token_info(*s)
                        .is_ok_and(|t| t.label().trim_end() == "bench")
                })
                .expect("bench token");
            let s = m.open_rw_session(slot).expect("session");
            let pin = cryptoki::types::AuthPin::new(softhsm::PIN.into());
            let _ = s.login(UserType::User, Some(&pin));
            s
        });
        let id = hex::decode(&key.version).expect("version id");
        let h = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id),
            ])
            .expect("find")
            .into_iter()
            .next()
            .expect("private key");
        let oaep = PkcsOaepParams::new(
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        );
        s.decrypt(&Mechanism::RsaPkcsOaep(oaep), h, ct)
            .expect("C_Decrypt")
            .len()
    })
}

criterion_group!(benches, unwrap);
criterion_main!(benches);
