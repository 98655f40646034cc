//! KMIP operations against a real PyKMIP 0.11 server (see tests/kmip/mod.rs): the client's
//! TTLV, TLS with a client certificate, and how each answer maps to an error class.

mod kmip;
#[allow(unused_macros)]
mod vault_conformance;

use custkey::crypto::RootAlg;
use custkey::vault::kmip::client::{self, KmipFailure, State};
use custkey::vault::kmip::{classify, KmipRoots, KmipServers};
use custkey::vault::{Caller, ErrorClass, RootKeyProvider};

#[test]
fn aes_gcm_round_trip_with_the_tag_in_its_own_field() {
    let Some(ep) = kmip::endpoint() else { return };
    let id = client::create_aes256(&ep).unwrap();
    let a = client::get_attributes(&ep, &id).unwrap();
    assert_eq!(a.state, Some(State::PreActive));
    assert!(a.is_aes256());
    // Not yet Active: refused, and the state makes it KeyDisabled.
    let e = client::gcm_encrypt(&ep, &id, &[7u8; 32], b"aad").unwrap_err();
    assert!(matches!(e, KmipFailure::Refused { .. }), "{e:?}");
    assert_eq!(classify(&ep, Some(&id), e).class(), ErrorClass::KeyDisabled);
    client::activate(&ep, &id).unwrap();
    assert_eq!(
        client::get_attributes(&ep, &id).unwrap().state,
        Some(State::Active)
    );
    let w = client::gcm_encrypt(&ep, &id, &[7u8; 32], b"aad").unwrap();
    assert_eq!(w.len(), custkey::crypto::KMS_GCM_WRAP_LEN);
    assert_ne!(&w[12..44], &[7u8; 32]);
    let p = client::gcm_decrypt(&ep, &id, &w, b"aad").unwrap();
    assert_eq!(p.as_slice(), &[7u8; 32]);
    // Another IV each time.
    let w2 = client::gcm_encrypt(&ep, &id, &[7u8; 32], b"aad").unwrap();
    assert_ne!(w[..12], w2[..12]);
    // A changed tag, ciphertext or additional data does not decrypt, and is no system error.
    for (i, aad) in [(59usize, &b"aad"[..]), (20, b"aad"), (0, b"other")] {
        let mut bad = w.clone();
        if aad == b"aad" {
            bad[i] ^= 1;
        }
        let e = client::gcm_decrypt(&ep, &id, &bad, aad).unwrap_err();
        let class = classify(&ep, Some(&id), e.clone()).class();
        assert_ne!(class, ErrorClass::Unavailable, "{e:?}");
        assert_eq!(class, ErrorClass::Invalid, "{e:?}");
    }
}

#[test]
fn revoked_destroyed_and_missing_keys_map_to_refusals() {
    let Some(ep) = kmip::endpoint() else { return };
    // Revoked (cessation of operation): Deactivated, KeyExpired.
    let (_, id) = kmip::active_aes_key(&ep);
    let w = client::gcm_encrypt(&ep, &id, &[1u8; 32], b"a").unwrap();
    client::revoke(&ep, &id, false).unwrap();
    assert_eq!(
        client::get_attributes(&ep, &id).unwrap().state,
        Some(State::Deactivated)
    );
    let e = client::gcm_decrypt(&ep, &id, &w, b"a").unwrap_err();
    assert!(
        matches!(&e, KmipFailure::Refused { reason, .. } if *reason == client::reason::PERMISSION_DENIED),
        "{e:?}"
    );
    assert_eq!(classify(&ep, Some(&id), e).class(), ErrorClass::KeyExpired);
    // Revoked as compromised: AccessDenied.
    let (_, id) = kmip::active_aes_key(&ep);
    let w = client::gcm_encrypt(&ep, &id, &[1u8; 32], b"a").unwrap();
    client::revoke(&ep, &id, true).unwrap();
    assert_eq!(
        client::get_attributes(&ep, &id).unwrap().state,
        Some(State::Compromised)
    );
    let e = client::gcm_decrypt(&ep, &id, &w, b"a").unwrap_err();
    assert_eq!(
        classify(&ep, Some(&id), e).class(),
        ErrorClass::AccessDenied
    );
    // Destroyed (PyKMIP destroys only keys that are not Active): NotFound.
    let id = client::create_aes256(&ep).unwrap();
    client::destroy(&ep, &id).unwrap();
    let e = client::gcm_decrypt(&ep, &id, &w, b"a").unwrap_err();
    assert_eq!(classify(&ep, Some(&id), e).class(), ErrorClass::NotFound);
    // Never existed: NotFound.
    let e = client::get_attributes(&ep, "no-such-key-4711").unwrap_err();
    assert_eq!(
        classify(&ep, Some("no-such-key-4711"), e).class(),
        ErrorClass::NotFound
    );
}

#[test]
fn rekey_and_rsa_decrypt_are_refused_by_pykmip_as_documented() {
    let Some(ep) = kmip::endpoint() else { return };
    // PyKMIP 0.11 has no Re-key operation.
    let (_, id) = kmip::active_aes_key(&ep);
    let e = client::rekey(&ep, &id).unwrap_err();
    assert!(
        matches!(&e, KmipFailure::Refused { reason, .. } if *reason == client::reason::OPERATION_NOT_SUPPORTED),
        "{e:?}"
    );
    // Create Key Pair works; RSA-OAEP Decrypt is refused: "Only symmetric decryption is
    // currently supported".
    let (private, public) = client::create_rsa_key_pair(&ep, 3072).unwrap();
    assert_ne!(private, public);
    assert_eq!(
        client::get_attributes(&ep, &private).unwrap().rsa_bits(),
        Some(3072)
    );
    client::activate(&ep, &private).unwrap();
    let e = client::rsa_oaep_decrypt(&ep, &private, &[0u8; 384], false).unwrap_err();
    match &e {
        KmipFailure::Refused { message, .. } => {
            assert!(message.contains("symmetric"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_client_certificate_or_ca_is_a_connection_failure() {
    let Some(ep) = kmip::endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A CA that did not sign the server's certificate: the handshake fails.
    let other_ca = dir.path().join("ca.crt");
    let key = dir.path().join("ca.key");
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=other",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let mut bad = ep.clone();
    bad.ca_certificate = other_ca;
    let e = client::get_attributes(&bad, "1").unwrap_err();
    assert!(matches!(e, KmipFailure::Connection(_)), "{e:?}");
    assert_eq!(classify(&bad, None, e).class(), ErrorClass::Unavailable);
    // Nobody listening: Unavailable.
    let mut down = ep.clone();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    down.port = l.local_addr().unwrap().port();
    drop(l);
    let e = client::get_attributes(&down, "1").unwrap_err();
    assert_eq!(classify(&down, None, e).class(), ErrorClass::Unavailable);
}

#[test]
fn root_provider_wraps_unwraps_and_says_whose_a_key_is() {
    let Some(ep) = kmip::endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    KmipServers::new(dir.path())
        .register("kms1", "kms-rg", "eastus", ep.clone())
        .unwrap();
    let roots = KmipRoots::new(dir.path());
    let caller = Caller::user("admin@contoso.com").unwrap();
    let (uri, _) = kmip::active_aes_key(&ep);
    let w = roots.wrap(&caller, &uri, &[9u8; 32]).unwrap();
    assert_eq!(w.alg, RootAlg::KmsAesGcm);
    assert_eq!(w.version, "1");
    let p = roots
        .unwrap(&caller, &format!("{uri}/1"), w.alg, &w.value)
        .unwrap();
    assert_eq!(p.as_slice(), &[9u8; 32]);
    let info = roots.identity(&caller, &uri).unwrap();
    assert_eq!(info.holder, "kms1");
    assert_eq!(info.state, "Active");
    // Not its keys: an Azure-style id, a server nobody registered.
    use custkey::vault::RootError;
    assert_eq!(
        roots.wrap(&caller, "https://v1.vault.azure.net/keys/k", &[0; 32]),
        Err(RootError::NotMine)
    );
    assert_eq!(
        roots.wrap(&caller, "kmip://10.9.9.9:5696/1", &[0; 32]),
        Err(RootError::NotMine)
    );
    // A malformed kmip: URI is this backend's, and Invalid.
    match roots.wrap(&caller, "kmip://host/1", &[0; 32]) {
        Err(RootError::Mine(e)) => assert_eq!(e.class(), ErrorClass::Invalid),
        other => panic!("{other:?}"),
    }
    // The server list is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(custkey::vault::kmip::SERVERS_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn one_connection_is_reused_within_a_process() {
    let Some(ep) = kmip::endpoint() else { return };
    let (_, id) = kmip::active_aes_key(&ep);
    let log = std::path::Path::new(&std::env::var("CUSTKEY_TEST_KMIP_CA").unwrap())
        .parent()
        .unwrap()
        .join("server.log");
    let sessions = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("Starting session")
            .count()
    };
    let before = sessions();
    for _ in 0..5 {
        client::get_attributes(&ep, &id).unwrap();
    }
    // Other tests of this process may open connections meanwhile, but five calls in a row on
    // a pooled connection add at most one session each for the tests running beside them.
    let after = sessions();
    assert!(
        after - before < 5,
        "{before} -> {after} sessions for 5 calls"
    );
}

/// The root-key conformance suite (tests/vault_conformance/roots.rs) on PyKMIP AES-256 keys.
struct KmipHarness {
    ep: custkey::vault::kmip::client::Endpoint,
    relay: kmip::Relay,
    dir: tempfile::TempDir,
}

impl vault_conformance::roots::RootHarness for KmipHarness {
    fn provider(&self) -> std::sync::Arc<dyn RootKeyProvider> {
        std::sync::Arc::new(KmipRoots::new(self.dir.path()))
    }
    fn new_key(&self) -> String {
        let (_, id) = kmip::active_aes_key(&self.ep);
        format!("kmip://{}/{id}", self.relay.server())
    }
    fn roll(&self, _uri: &str) -> bool {
        // PyKMIP 0.11 has no Re-key; a KMIP key has one version of its own.
        false
    }
    fn disable(&self, uri: &str) -> ErrorClass {
        client::revoke(&self.ep, id_of(uri), false).unwrap();
        ErrorClass::KeyExpired
    }
    fn revoke(&self, uri: &str) {
        client::revoke(&self.ep, id_of(uri), true).unwrap();
    }
    fn break_backend(&self, _uri: &str) {
        self.relay.cut();
    }
    fn repair_backend(&self, _uri: &str) {
        self.relay.restore();
    }
    fn foreign_uri(&self) -> String {
        "https://contoso-ck-va1.vault.azure.net/keys/Key001".into()
    }
}

fn id_of(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap()
}

#[test]
fn root_key_conformance_suite_on_pykmip() {
    let Some(ep) = kmip::endpoint() else { return };
    let relay = kmip::Relay::new(&ep);
    let dir = tempfile::tempdir().unwrap();
    let mut through = ep.clone();
    through.port = relay.port;
    KmipServers::new(dir.path())
        .register("kms1", "kms-rg", "eastus", through)
        .unwrap();
    vault_conformance::roots::run_all(&KmipHarness { ep, relay, dir });
}

/// The RSA path as far as PyKMIP goes. The public half is read with Get (PyKMIP returns it as
/// PKCS#1) and is the public half of the server's private key (checked by reading that one too,
/// which custkey itself never does); the wrap is then refused, nothing returned, because the
/// server cannot decrypt the copy ("Only symmetric decryption is currently supported"): a copy
/// is returned only after the server opened it. Without `?public=` PyKMIP, which records no
/// links, gets a message saying how to name the public key.
#[test]
fn rsa_wrap_reads_the_public_key_and_stores_no_copy_the_server_cannot_open() {
    use custkey::crypto::{OaepAlg, RsaPrivateKey, RsaPublicKey};
    use custkey::vault::RootError;
    let Some(ep) = kmip::endpoint() else { return };
    let (private, public) = client::create_rsa_key_pair(&ep, 3072).unwrap();
    client::activate(&ep, &private).unwrap();
    client::activate(&ep, &public).unwrap();

    let m = client::get_key(&ep, &public).unwrap();
    assert_eq!(m.object_type, client::OBJECT_PUBLIC_KEY);
    assert_eq!(m.format, client::key_format::PKCS1);
    let pk = RsaPublicKey::from_pkcs1_der(&m.bytes).unwrap();
    assert_eq!(pk.bits(), 3072);
    let sk = client::get_key(&ep, &private).unwrap();
    assert_eq!(sk.object_type, client::OBJECT_PRIVATE_KEY);
    assert_eq!(sk.format, client::key_format::PKCS8);
    let sk = RsaPrivateKey::from_pkcs8_der(&sk.bytes).unwrap();
    assert_eq!(sk.public_key(), pk);
    let wrapped = pk.oaep_wrap(OaepAlg::RsaOaep, &[5u8; 32]).unwrap();
    assert_eq!(
        sk.oaep_unwrap(OaepAlg::RsaOaep, &wrapped)
            .unwrap()
            .as_slice(),
        &[5u8; 32]
    );
    assert_eq!(client::public_key_link(&ep, &private).unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    KmipServers::new(dir.path())
        .register("kms1", "kms-rg", "eastus", ep.clone())
        .unwrap();
    let roots = KmipRoots::new(dir.path());
    let caller = Caller::user("admin@contoso.com").unwrap();
    let base = format!("kmip://{}/{private}", kmip::server(&ep));
    let refused_as = |class: ErrorClass, uri: &str| match roots.wrap(&caller, uri, &[7u8; 32]) {
        Err(RootError::Mine(e)) => {
            assert_eq!(e.class(), class, "{uri}: {e}");
            e.to_string()
        }
        other => panic!("{uri}: {other:?}"),
    };
    let refused = |uri: &str| refused_as(ErrorClass::Invalid, uri);
    // PyKMIP refuses the decryption as Permission Denied on an Active key: AccessDenied.
    let m = refused_as(ErrorClass::AccessDenied, &format!("{base}?public={public}"));
    assert!(
        m.contains("does not open on the server, so none is stored"),
        "{m}"
    );
    assert!(m.contains("symmetric"), "{m}");
    let m = refused(&base);
    assert!(m.contains("links it to no public key"), "{m}");
    assert!(m.contains(&format!("{base}?public=<public key id>")), "{m}");
    // public= naming an object that is not a public key, or the public key of another pair.
    let (_, aes) = kmip::active_aes_key(&ep);
    let m = refused(&format!("{base}?public={aes}"));
    assert!(m.contains("is not a public key"), "{m}");
    let (_, other_public) = client::create_rsa_key_pair(&ep, 2048).unwrap();
    let m = refused(&format!("{base}?public={other_public}"));
    assert!(m.contains("not the two halves of one key pair"), "{m}");
    // The identity keeps public= in the URI the service stores.
    let info = roots
        .identity(&caller, &format!("{base}?public={public}"))
        .unwrap();
    assert_eq!(info.key_uri, format!("{base}?public={public}"));
}

/// The RSA path end to end on a server that decrypts with RSA keys: a key pair made by the
/// client, the wrap under its public half (found by the Public Key Link, or named by
/// `?public=`), the server's decryption of the copy before it is returned, and the unwrap.
#[test]
fn rsa_root_round_trip_on_a_server_that_decrypts_rsa() {
    use custkey::vault::kmip::{create_key, KmipUri};
    use custkey::vault::RootKeyKind;
    let Some(ep) = kmip::rsa_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let servers = KmipServers::new(dir.path());
    let s = servers
        .register("kms-rsa", "kms-rg", "eastus", ep.clone())
        .unwrap();
    let roots = KmipRoots::new(dir.path());
    let caller = Caller::user("admin@contoso.com").unwrap();
    let k = create_key(&s, "custkey-rsa-test", RootKeyKind::Rsa(2048)).unwrap();
    let private = k.uri.id.clone();
    let public = k.uri.public.clone().expect("a public key id");
    let base = format!("kmip://{}/{private}", kmip::server(&ep));
    let linked = client::public_key_link(&ep, &private).unwrap();
    eprintln!("Public Key Link of {private}: {linked:?}");
    let mut uris = vec![format!("{base}?public={public}")];
    if linked.as_deref() == Some(public.as_str()) {
        uris.push(base.clone());
    }
    for uri in uris {
        let w = roots.wrap(&caller, &uri, &[3u8; 32]).unwrap();
        assert_eq!(w.alg, RootAlg::Oaep(custkey::crypto::OaepAlg::RsaOaep));
        assert_eq!(w.version, "1");
        let u = KmipUri::parse(&uri).unwrap();
        let back = roots
            .unwrap(&caller, &format!("{u}/1"), w.alg, &w.value)
            .unwrap();
        assert_eq!(back.as_slice(), &[3u8; 32], "{uri}");
        let info = roots.identity(&caller, &uri).unwrap();
        assert!(matches!(info.kind, RootKeyKind::Rsa(2048)), "{info:?}");
    }
    // Revoked: the unwrap is a refusal of the key's, not a system error.
    let w = roots
        .wrap(&caller, &format!("{base}?public={public}"), &[4u8; 32])
        .unwrap();
    client::revoke(&ep, &private, false).unwrap();
    let e = roots
        .unwrap(
            &caller,
            &format!("{base}/1?public={public}"),
            w.alg,
            &w.value,
        )
        .unwrap_err();
    // Cosmian KMS would still decrypt with a Deactivated key (KMIP allows "process" use):
    // custkey refuses by the key's state.
    match e {
        custkey::vault::RootError::Mine(e) => assert_eq!(e.class(), ErrorClass::KeyExpired, "{e}"),
        other => panic!("{other:?}"),
    }
}
