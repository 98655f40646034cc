//! Bound key wraps across the tiers, and the wrapped-key byte format.

use custkey::crypto::*;
use uuid::Uuid;

fn ids() -> (Uuid, Uuid) {
    (Uuid::new_v4(), Uuid::new_v4())
}

#[test]
fn tier_keys_print_redacted() {
    let r = KeyRef::new(Uuid::nil(), 3);
    let k = DepKey::generate(r);
    let dbg = format!("{k:?}");
    assert!(dbg.starts_with("DepKey("), "{dbg}");
    assert!(dbg.contains("REDACTED"));
    assert_eq!(format!("{k}"), "REDACTED");
    let hex_key = hex::encode(k.to_secret().expose());
    assert!(!dbg.contains(&hex_key));
    assert!(format!("{:?}", MailboxKey::generate(r)).starts_with("MailboxKey("));
    assert!(
        format!("{:?}", TenantIntermediateKey::generate(r)).starts_with("TenantIntermediateKey(")
    );
}

#[test]
fn availability_wraps_dep_key_bound_to_dep() {
    let (dep_id, other_dep) = ids();
    let avail = AvailabilityKey::generate(KeyRef::new_random());
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let b = DepBinding::new(dep_id);
    let w = avail.wrap_dep_key(&dep, &b).unwrap();
    assert_eq!(w.as_bytes().len(), 108);
    assert_eq!(w.child_tier(), TierId::Dep);
    assert_eq!(w.child_key_ref(), dep.key_ref());
    assert_eq!(
        w.parent(),
        &WrapParent::Key {
            tier: TierId::Availability,
            key_ref: avail.key_ref()
        }
    );
    let back = avail.unwrap_dep_key(&w, &b).unwrap();
    assert!(back.to_secret().ct_eq(&dep.to_secret()));
    assert_eq!(back.key_ref(), dep.key_ref());
    // Moved to another DEP.
    assert_eq!(
        avail
            .unwrap_dep_key(&w, &DepBinding::new(other_dep))
            .unwrap_err(),
        CryptoError::Authentication
    );
    // Same id/version, other key material.
    let impostor = AvailabilityKey::from_secret(SecretKey32::generate(), avail.key_ref());
    assert_eq!(
        impostor.unwrap_dep_key(&w, &b).unwrap_err(),
        CryptoError::Authentication
    );
    // Another version of the availability key.
    let rolled = AvailabilityKey::from_secret(
        avail.to_secret(),
        KeyRef::new(avail.key_ref().id, avail.key_ref().version + 1),
    );
    assert!(matches!(
        rolled.unwrap_dep_key(&w, &b),
        Err(CryptoError::BindingMismatch(_))
    ));
    // A wrapped DEP key is not a TIK.
    assert!(matches!(
        avail.unwrap_tik(&w, &b),
        Err(CryptoError::TierMismatch { .. })
    ));
}

#[test]
fn dep_key_wraps_mailbox_and_workload_keys() {
    let (dep_id, mbx_id) = ids();
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let mbx = MailboxKey::generate(KeyRef::new_random());
    let b = MailboxBinding::new(dep_id, mbx_id);
    let w = dep.wrap_mailbox_key(&mbx, &b).unwrap();
    let back = dep.unwrap_mailbox_key(&w, &b).unwrap();
    assert!(back.to_secret().ct_eq(&mbx.to_secret()));
    // Swapped to another mailbox, or to another DEP id.
    assert_eq!(
        dep.unwrap_mailbox_key(&w, &MailboxBinding::new(dep_id, Uuid::new_v4()))
            .unwrap_err(),
        CryptoError::Authentication
    );
    assert_eq!(
        dep.unwrap_mailbox_key(&w, &MailboxBinding::new(Uuid::new_v4(), mbx_id))
            .unwrap_err(),
        CryptoError::Authentication
    );
    // Read back through the byte format.
    let parsed = WrappedKey::from_bytes(w.as_bytes()).unwrap();
    assert_eq!(parsed, w);
    assert!(dep.unwrap_mailbox_key(&parsed, &b).is_ok());
    // A mailbox key is not a workload key, even under the same DEP key.
    assert!(matches!(
        dep.unwrap_workload_key(&w, &b),
        Err(CryptoError::TierMismatch { .. })
    ));
    let wl = WorkloadKey::generate(KeyRef::new_random());
    let ww = dep.wrap_workload_key(&wl, &b).unwrap();
    assert!(dep
        .unwrap_workload_key(&ww, &b)
        .unwrap()
        .to_secret()
        .ct_eq(&wl.to_secret()));
}

#[test]
fn every_bit_flip_of_an_aes_wrap_fails() {
    let (dep_id, mbx_id) = ids();
    let dep = DepKey::generate(KeyRef::new(dep_id, 7));
    let mbx = MailboxKey::generate(KeyRef::new_random());
    let b = MailboxBinding::new(dep_id, mbx_id);
    let bytes = dep.wrap_mailbox_key(&mbx, &b).unwrap().into_bytes();
    for i in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[i / 8] ^= 1 << (i % 8);
        let res = WrappedKey::from_bytes(&t).and_then(|w| dep.unwrap_mailbox_key(&w, &b));
        assert!(res.is_err(), "bit {i} flipped and still unwrapped");
    }
    for len in 0..bytes.len() {
        assert!(WrappedKey::from_bytes(&bytes[..len]).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(WrappedKey::from_bytes(&longer).is_err());
    // A mailbox key claimed to be wrapped by an availability key: not a pair the format allows.
    let mut odd_pair = bytes.clone();
    odd_pair[27] = TierId::Availability as u8;
    assert!(matches!(
        WrappedKey::from_bytes(&odd_pair),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn tik_wraps_site_keys() {
    let (spo_dep, site_id) = ids();
    let avail = AvailabilityKey::generate(KeyRef::new_random());
    let tik = TenantIntermediateKey::generate(KeyRef::new(spo_dep, 1));
    let wt = avail.wrap_tik(&tik, &TikBinding::new(spo_dep)).unwrap();
    let tik2 = avail.unwrap_tik(&wt, &TikBinding::new(spo_dep)).unwrap();
    let site = SiteKey::generate(KeyRef::new_random());
    let b = SiteBinding::new(spo_dep, site_id);
    let ws = tik2.wrap_site_key(&site, &b).unwrap();
    assert_eq!(ws.child_tier(), TierId::Site);
    assert!(tik
        .unwrap_site_key(&ws, &b)
        .unwrap()
        .to_secret()
        .ct_eq(&site.to_secret()));
    assert!(tik
        .unwrap_site_key(&ws, &SiteBinding::new(spo_dep, Uuid::new_v4()))
        .is_err());
}

#[test]
fn root_wraps_with_both_oaep_variants() {
    let rsa = RsaPrivateKey::generate(2048).unwrap();
    let dep_id = Uuid::new_v4();
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let root = RootKeyRef::new(
        "https://contoso-a.vault.azure.net/keys/dep-root",
        "0123abcd",
    )
    .unwrap();
    let b = DepBinding::new(dep_id);
    for alg in [OaepAlg::RsaOaep256, OaepAlg::RsaOaep] {
        let w = dep
            .wrap_under_rsa(&root, &rsa.public_key(), alg, &b)
            .unwrap();
        assert_eq!(w.oaep_alg(), Some(alg));
        assert_eq!(w.root_key_ref(), Some(&root));
        assert_eq!(w.rsa_ciphertext().unwrap().len(), 256);
        let parsed = WrappedKey::from_bytes(w.as_bytes()).unwrap();
        let back = DepKey::unwrap_under_rsa(&parsed, &b, &rsa).unwrap();
        assert!(back.to_secret().ct_eq(&dep.to_secret()));
        assert_eq!(back.key_ref(), dep.key_ref());
        // The vault path: the caller unwraps the RSA part elsewhere and hands back 32 bytes.
        let raw = rsa.oaep_unwrap(alg, w.rsa_ciphertext().unwrap()).unwrap();
        assert!(DepKey::from_root_unwrap(&w, &b, &raw).is_ok());
        // Copy moved to another DEP: the check value no longer matches.
        assert_eq!(
            DepKey::from_root_unwrap(&w, &DepBinding::new(Uuid::new_v4()), &raw).unwrap_err(),
            CryptoError::Authentication
        );
        // A vault that returns other bytes.
        assert_eq!(
            DepKey::from_root_unwrap(&w, &b, &[0u8; 32]).unwrap_err(),
            CryptoError::Authentication
        );
        assert!(DepKey::from_root_unwrap(&w, &b, &raw[..31]).is_err());
        // A corrupted RSA part fails with the same error as a bad check value (no padding oracle).
        let mut bad_rsa = w.as_bytes().to_vec();
        let last = bad_rsa.len() - 1;
        bad_rsa[last] ^= 0x01;
        let bad_rsa = WrappedKey::from_bytes(&bad_rsa).unwrap();
        assert_eq!(
            DepKey::unwrap_under_rsa(&bad_rsa, &b, &rsa).unwrap_err(),
            CryptoError::Authentication
        );
        // A root-wrapped DEP key is not a TIK.
        assert!(matches!(
            TenantIntermediateKey::from_root_unwrap(&w, &b, &raw),
            Err(CryptoError::TierMismatch { .. })
        ));
        // Every bit flip anywhere fails (parse, RSA, or check value).
        let bytes = w.as_bytes().to_vec();
        for i in (0..bytes.len() * 8).step_by(3) {
            let mut t = bytes.clone();
            t[i / 8] ^= 1 << (i % 8);
            let res =
                WrappedKey::from_bytes(&t).and_then(|w| DepKey::unwrap_under_rsa(&w, &b, &rsa));
            assert!(res.is_err(), "bit {i}");
        }
    }
}

#[test]
fn vault_shaped_root_wrap() {
    // Service side: generate a DEP key, hand its bytes to a "vault", store its output.
    let rsa = RsaPrivateKey::generate(3072).unwrap();
    let dep_id = Uuid::new_v4();
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let vault_output = rsa
        .public_key()
        .oaep_wrap(OaepAlg::RsaOaep256, dep.bytes_for_root_wrap())
        .unwrap();
    let root = RootKeyRef::new("https://b.vault.azure.net/keys/k2", "v9").unwrap();
    let w = dep
        .wrap_from_root(
            &root,
            OaepAlg::RsaOaep256,
            &vault_output,
            &DepBinding::new(dep_id),
        )
        .unwrap();
    assert_eq!(w.rsa_ciphertext().unwrap(), vault_output.as_slice());
    let raw = rsa
        .oaep_unwrap(w.oaep_alg().unwrap(), w.rsa_ciphertext().unwrap())
        .unwrap();
    let back = DepKey::from_root_unwrap(&w, &DepBinding::new(dep_id), &raw).unwrap();
    assert!(back.to_secret().ct_eq(&dep.to_secret()));
    assert!(dep
        .wrap_from_root(
            &root,
            OaepAlg::RsaOaep256,
            &vault_output[1..],
            &DepBinding::new(dep_id)
        )
        .is_err());
    assert!(RootKeyRef::new("", "v").is_err());
}

#[test]
fn aes_wraps_cross_check_between_providers() {
    let (dep_id, mbx_id) = ids();
    let dep = DepKey::generate(KeyRef::new(dep_id, 1));
    let mbx = MailboxKey::generate(KeyRef::new_random());
    let b = MailboxBinding::new(dep_id, mbx_id);
    for a in all_providers() {
        for c in all_providers() {
            let w = dep.wrap_with(a, &mbx, &b).unwrap();
            let k: MailboxKey = dep.unwrap_with(c, &w, &b).unwrap();
            assert!(
                k.to_secret().ct_eq(&mbx.to_secret()),
                "{} -> {}",
                a.name(),
                c.name()
            );
        }
    }
}
