//! Wycheproof vectors run through our own wrappers, for every provider in the build.
//! The vendored files and their provenance are in tests/vectors/wycheproof/.

use std::path::PathBuf;

use custkey::crypto::provider::NONCE_LEN;
use custkey::crypto::*;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/wycheproof")
}

fn load(name: &str) -> Value {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn hx(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

fn result(t: &Value) -> &str {
    t["result"].as_str().unwrap()
}

#[test]
fn vendored_files_match_their_checksums() {
    let sums = std::fs::read_to_string(dir().join("SHA256SUMS")).unwrap();
    let mut n = 0;
    for line in sums.lines() {
        let (want, file) = line.split_once("  ").unwrap();
        let data = std::fs::read(dir().join(file)).unwrap();
        let got = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
        assert_eq!(hex::encode(got.as_ref()), want, "{file}");
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn aes_256_gcm() {
    let doc = load("aes_gcm_test.json");
    for p in all_providers() {
        let (mut valid, mut invalid) = (0, 0);
        for g in doc["testGroups"].as_array().unwrap() {
            if g["keySize"] != 256 || g["ivSize"] != 96 || g["tagSize"] != 128 {
                continue;
            }
            for t in g["tests"].as_array().unwrap() {
                let key = SecretKey32::from_slice(&hx(t, "key")).unwrap();
                let (iv, aad, msg, ct, tag) = (
                    hx(t, "iv"),
                    hx(t, "aad"),
                    hx(t, "msg"),
                    hx(t, "ct"),
                    hx(t, "tag"),
                );
                let mut sealed = iv.clone();
                sealed.extend_from_slice(&ct);
                sealed.extend_from_slice(&tag);
                let opened = open_with(p, &key, &aad, &sealed);
                let id = &t["tcId"];
                match result(t) {
                    "valid" => {
                        assert_eq!(
                            opened.unwrap().as_slice(),
                            msg.as_slice(),
                            "{} tc {id}",
                            p.name()
                        );
                        // Encryption through the provider seam gives the same bytes.
                        let aead = p.aead_key(key.expose()).unwrap();
                        let nonce: [u8; NONCE_LEN] = iv.as_slice().try_into().unwrap();
                        let mut buf = msg.clone();
                        let got_tag = aead.seal_in_place(&nonce, &aad, &mut buf).unwrap();
                        assert_eq!(buf, ct, "{} tc {id}", p.name());
                        assert_eq!(got_tag.as_slice(), tag.as_slice(), "{} tc {id}", p.name());
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(opened.is_err(), "{} tc {id} opened", p.name());
                        invalid += 1;
                    }
                    other => panic!("unexpected result {other}"),
                }
            }
        }
        assert!(
            valid >= 20 && invalid >= 20,
            "{}: {valid} valid, {invalid} invalid",
            p.name()
        );
    }
}

#[test]
fn hkdf_sha256() {
    let doc = load("hkdf_sha256_test.json");
    for p in all_providers() {
        let (mut valid, mut invalid) = (0, 0);
        for g in doc["testGroups"].as_array().unwrap() {
            for t in g["tests"].as_array().unwrap() {
                let size = t["size"].as_u64().unwrap() as usize;
                let mut out = vec![0u8; size];
                let res = p.hkdf_sha256(&hx(t, "salt"), &hx(t, "ikm"), &[&hx(t, "info")], &mut out);
                match result(t) {
                    "valid" => {
                        res.unwrap();
                        assert_eq!(out, hx(t, "okm"), "{} tc {}", p.name(), t["tcId"]);
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(res.is_err(), "{} tc {}", p.name(), t["tcId"]);
                        invalid += 1;
                    }
                    other => panic!("unexpected result {other}"),
                }
            }
        }
        assert!(
            valid >= 50 && invalid >= 1,
            "{}: {valid}/{invalid}",
            p.name()
        );
    }
}

fn rsa_oaep(file: &str, alg: OaepAlg, bits: usize) {
    let doc = load(file);
    for p in all_providers() {
        let (mut valid, mut invalid, mut labelled, mut deviations) = (0, 0, 0, 0);
        for g in doc["testGroups"].as_array().unwrap() {
            let der = hx(g, "privateKeyPkcs8");
            let sk = RsaPrivateKey::from_pkcs8_der_with(p, &der).unwrap();
            assert_eq!(sk.bits(), bits);
            for t in g["tests"].as_array().unwrap() {
                let id = &t["tcId"];
                let res = sk.oaep_unwrap(alg, &hx(t, "ct"));
                if !hx(t, "label").is_empty() {
                    // Our wraps always use the empty label, so a labelled ciphertext must fail.
                    assert!(res.is_err(), "{} tc {id}", p.name());
                    labelled += 1;
                    continue;
                }
                match result(t) {
                    "valid" => {
                        assert_eq!(
                            res.unwrap().as_slice(),
                            hx(t, "msg").as_slice(),
                            "{} tc {id}",
                            p.name()
                        );
                        valid += 1;
                    }
                    "invalid" if p.name() == "rustcrypto" && t["comment"] == "First byte is 1" => {
                        // Known deviation of rsa 0.10: it does not check that the leading byte
                        // of the encoded message is zero (RFC 8017 7.1.2 step 3g), so this
                        // invalid padding decrypts. aws-lc-rs rejects it. docs/security.md
                        // records it; this assertion flags the day the crate is fixed.
                        assert!(
                            res.is_ok(),
                            "rsa crate now rejects tc {id}: update docs/security.md"
                        );
                        deviations += 1;
                    }
                    "invalid" => {
                        assert_eq!(
                            res.err(),
                            Some(CryptoError::RsaDecryption),
                            "{} tc {id}",
                            p.name()
                        );
                        invalid += 1;
                    }
                    "acceptable" => {}
                    other => panic!("unexpected result {other}"),
                }
            }
            // Our wrap direction: what we encrypt under this key the vector key decrypts.
            let w = sk
                .public_key()
                .oaep_wrap_with(p, alg, &[0xabu8; 32])
                .unwrap();
            assert_eq!(sk.oaep_unwrap(alg, &w).unwrap().as_slice(), &[0xabu8; 32]);
        }
        assert!(
            valid >= 5 && invalid >= 5,
            "{} {file}: {valid}/{invalid}/{labelled}",
            p.name()
        );
        assert!(
            deviations <= 1,
            "{} {file}: {deviations} deviations",
            p.name()
        );
        eprintln!(
            "{} {file}: {valid} valid, {invalid} invalid rejected, {labelled} labelled rejected, {deviations} known deviation(s)",
            p.name()
        );
    }
}

#[test]
fn rsa_oaep_sha256_2048() {
    rsa_oaep(
        "rsa_oaep_2048_sha256_mgf1sha256_test.json",
        OaepAlg::RsaOaep256,
        2048,
    );
}

#[test]
fn rsa_oaep_sha256_3072() {
    rsa_oaep(
        "rsa_oaep_3072_sha256_mgf1sha256_test.json",
        OaepAlg::RsaOaep256,
        3072,
    );
}

#[test]
fn rsa_oaep_sha256_4096() {
    rsa_oaep(
        "rsa_oaep_4096_sha256_mgf1sha256_test.json",
        OaepAlg::RsaOaep256,
        4096,
    );
}

#[test]
fn rsa_oaep_sha1_2048() {
    rsa_oaep(
        "rsa_oaep_2048_sha1_mgf1sha1_test.json",
        OaepAlg::RsaOaep,
        2048,
    );
}
