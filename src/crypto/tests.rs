//! Unit tests for the contract API (secret keys, sealed blobs, KDF, RSA).

use super::*;

#[test]
fn secret_key_debug_and_display_are_redacted() {
    let k = SecretKey32::from_bytes([0x41; 32]);
    assert_eq!(format!("{k:?}"), "SecretKey32(REDACTED)");
    assert_eq!(format!("{k}"), "REDACTED");
    assert!(!format!("{k:?}").contains("41"));
}

#[test]
fn secret_key_from_slice_checks_length() {
    assert!(SecretKey32::from_slice(&[1u8; 31]).is_err());
    assert!(SecretKey32::from_slice(&[1u8; 33]).is_err());
    let k = SecretKey32::from_slice(&[7u8; 32]).unwrap();
    assert_eq!(k.expose(), &[7u8; 32]);
}

#[test]
fn generated_keys_differ() {
    let a = SecretKey32::generate();
    let b = SecretKey32::generate();
    assert!(!a.ct_eq(&b));
    assert!(a.ct_eq(&a.clone()));
}

#[test]
fn random_bytes_fills() {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    random_bytes(&mut a);
    random_bytes(&mut b);
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 64]);
}

#[test]
fn seal_open_round_trip_and_layout() {
    let k = SecretKey32::generate();
    for len in [0usize, 1, 15, 16, 17, 1000] {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let s = seal(&k, b"aad", &pt).unwrap();
        assert_eq!(s.len(), len + SEAL_OVERHEAD);
        assert_eq!(open(&k, b"aad", &s).unwrap().as_slice(), pt.as_slice());
    }
}

#[test]
fn seal_uses_fresh_nonces() {
    let k = SecretKey32::generate();
    let a = seal(&k, b"", b"same").unwrap();
    let b = seal(&k, b"", b"same").unwrap();
    assert_ne!(a[..12], b[..12]);
}

#[test]
fn open_rejects_wrong_key_aad_and_tampering() {
    let k = SecretKey32::generate();
    let s = seal(&k, b"ctx", b"secret payload").unwrap();
    assert_eq!(
        open(&SecretKey32::generate(), b"ctx", &s).unwrap_err(),
        CryptoError::Authentication
    );
    assert_eq!(
        open(&k, b"ctx2", &s).unwrap_err(),
        CryptoError::Authentication
    );
    for i in 0..s.len() * 8 {
        let mut t = s.clone();
        t[i / 8] ^= 1 << (i % 8);
        assert!(open(&k, b"ctx", &t).is_err(), "bit {i}");
    }
    assert!(matches!(
        open(&k, b"ctx", &s[..27]),
        Err(CryptoError::Truncated(_))
    ));
    assert!(open(&k, b"ctx", &s[..s.len() - 1]).is_err());
}

#[test]
fn kdf_params_round_trip() {
    let p = KdfParams::recommended();
    assert_eq!(KdfParams::from_bytes(&p.to_bytes()).unwrap(), p);
    assert_eq!(p.to_string(), "argon2id$v=19$m=65536,t=3,p=1");
    assert_eq!(p.to_string().parse::<KdfParams>().unwrap(), p);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<KdfParams>(&json).unwrap(), p);
    assert!(KdfParams::new(7, 1, 1).is_err());
    assert!(KdfParams::new(64, 0, 1).is_err());
    assert!(KdfParams::new(64, 1, 0).is_err());
    assert!(KdfParams::new(u32::MAX, 1, 1).is_err());
    let mut b = p.to_bytes();
    b[1] = 9;
    assert_eq!(
        KdfParams::from_bytes(&b).unwrap_err(),
        CryptoError::UnsupportedAlgorithm(9)
    );
    assert!("argon2id$v=19$m=64,t=1".parse::<KdfParams>().is_err());
    assert!("argon2id$v=19$m=64,t=1,p=1,p=1"
        .parse::<KdfParams>()
        .is_err());
    assert!(serde_json::from_str::<KdfParams>(
        r#"{"algorithm":"scrypt","m_cost_kib":64,"t_cost":1,"p_cost":1}"#
    )
    .is_err());
}

#[test]
fn kdf_derivation_is_deterministic_and_salted() {
    let p = KdfParams::new(256, 2, 1).unwrap();
    let salt = [9u8; 16];
    let a = derive_key_from_passphrase(b"correct horse", &salt, &p).unwrap();
    let b = derive_key_from_passphrase(b"correct horse", &salt, &p).unwrap();
    let c = derive_key_from_passphrase(b"correct horsf", &salt, &p).unwrap();
    let d = derive_key_from_passphrase(b"correct horse", &[8u8; 16], &p).unwrap();
    assert!(a.ct_eq(&b));
    assert!(!a.ct_eq(&c));
    assert!(!a.ct_eq(&d));
    assert!(derive_key_from_passphrase(b"x", &[0u8; 15], &p).is_err());
}

#[test]
fn oaep_alg_names() {
    assert_eq!(OaepAlg::RsaOaep256.as_str(), "RSA-OAEP-256");
    assert_eq!(OaepAlg::RsaOaep.as_str(), "RSA-OAEP");
    assert_eq!(
        "rsa-oaep-256".parse::<OaepAlg>().unwrap(),
        OaepAlg::RsaOaep256
    );
    assert_eq!("RSA-OAEP".parse::<OaepAlg>().unwrap(), OaepAlg::RsaOaep);
    assert!("RSA1_5".parse::<OaepAlg>().is_err());
}

#[test]
fn rsa_rejects_other_sizes() {
    for bits in [1024usize, 2047, 8192] {
        assert_eq!(
            RsaPrivateKey::generate(bits).unwrap_err(),
            CryptoError::InvalidKeySize { bits }
        );
    }
}

#[test]
fn rsa_2048_wrap_unwrap_both_algs_and_der_round_trip() {
    let sk = RsaPrivateKey::generate(2048).unwrap();
    assert_eq!(sk.bits(), 2048);
    assert!(format!("{sk:?}").contains("REDACTED"));
    let pk = sk.public_key();
    assert_eq!(pk.bits(), 2048);
    assert_eq!(pk.exponent_be(), vec![1, 0, 1]);
    assert_eq!(pk.modulus_be().len(), 256);
    assert_eq!(RsaPublicKey::from_der(&pk.to_der()).unwrap(), pk);
    let dek = [0x5au8; 32];
    for alg in [OaepAlg::RsaOaep256, OaepAlg::RsaOaep] {
        let w = pk.oaep_wrap(alg, &dek).unwrap();
        assert_eq!(w.len(), 256);
        assert_eq!(sk.oaep_unwrap(alg, &w).unwrap().as_slice(), &dek);
        let other = match alg {
            OaepAlg::RsaOaep256 => OaepAlg::RsaOaep,
            OaepAlg::RsaOaep => OaepAlg::RsaOaep256,
        };
        assert_eq!(
            sk.oaep_unwrap(other, &w).unwrap_err(),
            CryptoError::RsaDecryption
        );
        let mut t = w.clone();
        t[100] ^= 1;
        assert_eq!(
            sk.oaep_unwrap(alg, &t).unwrap_err(),
            CryptoError::RsaDecryption
        );
        assert_eq!(
            sk.oaep_unwrap(alg, &w[1..]).unwrap_err(),
            CryptoError::RsaDecryption
        );
    }
    let again = RsaPrivateKey::from_pkcs8_der(&sk.to_pkcs8_der()).unwrap();
    assert_eq!(again.public_key(), pk);
    let w = pk.oaep_wrap(OaepAlg::RsaOaep256, &dek).unwrap();
    assert_eq!(
        again
            .oaep_unwrap(OaepAlg::RsaOaep256, &w)
            .unwrap()
            .as_slice(),
        &dek
    );
    assert!(RsaPrivateKey::from_pkcs8_der(&[0x30, 0x00]).is_err());
    assert!(RsaPublicKey::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
}

#[test]
fn rsa_3072_and_4096() {
    for bits in [3072usize, 4096] {
        let sk = RsaPrivateKey::generate(bits).unwrap();
        let pk = sk.public_key();
        assert_eq!(pk.bits(), bits);
        let w = pk.oaep_wrap(OaepAlg::RsaOaep256, &[1u8; 32]).unwrap();
        assert_eq!(w.len(), bits / 8);
        assert_eq!(
            sk.oaep_unwrap(OaepAlg::RsaOaep256, &w).unwrap().as_slice(),
            &[1u8; 32]
        );
    }
}

#[test]
fn providers_cross_check_aead_hkdf_and_rsa() {
    let providers = all_providers();
    assert_eq!(providers[0].name(), "aws-lc-rs");
    #[cfg(feature = "rustcrypto")]
    assert_eq!(providers.len(), 2);
    let key = SecretKey32::generate();
    // RFC 5869 test case 1 checks each provider's HKDF on its own.
    let ikm = [0x0bu8; 22];
    let salt: Vec<u8> = (0u8..=0x0c).collect();
    let info: Vec<u8> = (0xf0u8..=0xf9).collect();
    let expected = hex::decode(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    )
    .unwrap();
    for p in &providers {
        let mut okm = [0u8; 42];
        p.hkdf_sha256(&salt, &ikm, &[&info[..5], &info[5..]], &mut okm)
            .unwrap();
        assert_eq!(okm.as_slice(), expected.as_slice(), "{}", p.name());
    }
    let rsa = RsaPrivateKey::generate(2048).unwrap();
    let der = rsa.to_pkcs8_der();
    for a in &providers {
        for b in &providers {
            let sealed = seal_with(*a, &key, b"aad", b"cross-provider").unwrap();
            assert_eq!(
                open_with(*b, &key, b"aad", &sealed).unwrap().as_slice(),
                b"cross-provider"
            );
            assert!(open_with(*b, &key, b"aae", &sealed).is_err());
            let sk_b = RsaPrivateKey::from_pkcs8_der_with(*b, &der).unwrap();
            assert_eq!(sk_b.public_key(), rsa.public_key());
            for alg in [OaepAlg::RsaOaep256, OaepAlg::RsaOaep] {
                let w = rsa
                    .public_key()
                    .oaep_wrap_with(*a, alg, &[3u8; 32])
                    .unwrap();
                assert_eq!(sk_b.oaep_unwrap(alg, &w).unwrap().as_slice(), &[3u8; 32]);
            }
        }
    }
}
