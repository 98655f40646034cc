//! Our own format vectors in tests/vectors/: this test checks that the implementation
//! reproduces every positive vector byte for byte (randomness is replayed through a scripted
//! provider) and rejects every negative one (files named `*_invalid_*`).
//!
//! Regenerate with `CUSTKEY_WRITE_VECTORS=1 cargo test --test crypto_vectors` (the AES parts come
//! out identical; the RSA key and OAEP outputs are random and change).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use custkey::crypto::provider::{AeadKey, CryptoProvider, RsaPrivateOps};
use custkey::crypto::*;
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The default provider, except that randomness is replayed from a script.
struct Scripted {
    queue: Mutex<VecDeque<Vec<u8>>>,
}

impl Scripted {
    fn new(items: &[&[u8]]) -> Self {
        Scripted {
            queue: Mutex::new(items.iter().map(|b| b.to_vec()).collect()),
        }
    }
}

impl CryptoProvider for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let next = self
            .queue
            .lock()
            .unwrap()
            .pop_front()
            .expect("script exhausted");
        assert_eq!(next.len(), buf.len(), "scripted random length");
        buf.copy_from_slice(&next);
        Ok(())
    }
    fn aead_key(&self, key: &[u8; 32]) -> Result<Box<dyn AeadKey>, CryptoError> {
        AwsLcProvider.aead_key(key)
    }
    fn hkdf_sha256(
        &self,
        s: &[u8],
        k: &[u8],
        i: &[&[u8]],
        o: &mut [u8],
    ) -> Result<(), CryptoError> {
        AwsLcProvider.hkdf_sha256(s, k, i, o)
    }
    fn rsa_generate_pkcs8(&self, bits: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        AwsLcProvider.rsa_generate_pkcs8(bits)
    }
    fn rsa_private_from_pkcs8(&self, der: &[u8]) -> Result<Box<dyn RsaPrivateOps>, CryptoError> {
        AwsLcProvider.rsa_private_from_pkcs8(der)
    }
    fn rsa_oaep_encrypt(
        &self,
        spki: &[u8],
        alg: OaepAlg,
        m: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        AwsLcProvider.rsa_oaep_encrypt(spki, alg, m)
    }
}

/// Deterministic "random" bytes for generating vectors: SHA-256(label || counter) blocks.
fn det(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < len {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(label.as_bytes());
        ctx.update(&i.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        i += 1;
    }
    out.truncate(len);
    out
}

fn det32(label: &str) -> [u8; 32] {
    det(label, 32).try_into().unwrap()
}

fn uuid(label: &str) -> Uuid {
    Uuid::from_slice(&det(label, 16)).unwrap()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn writing() -> bool {
    std::env::var_os("CUSTKEY_WRITE_VECTORS").is_some()
}

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

fn uh(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("field {k}"))).unwrap()
}

fn write_if_asked(name: &str, doc: &Value) {
    let path = dir().join(name);
    let text = serde_json::to_string_pretty(doc).unwrap() + "\n";
    if writing() {
        std::fs::write(&path, text).unwrap();
    }
}

fn load(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir().join(name)).unwrap()).unwrap()
}

fn error_name(e: &CryptoError) -> &'static str {
    match e {
        CryptoError::Authentication => "Authentication",
        CryptoError::KeyCommitment => "KeyCommitment",
        CryptoError::Truncated(_) => "Truncated",
        CryptoError::Malformed(_) => "Malformed",
        CryptoError::BindingMismatch(_) => "BindingMismatch",
        CryptoError::TierMismatch { .. } => "TierMismatch",
        CryptoError::UnsupportedVersion(_) => "UnsupportedVersion",
        CryptoError::UnsupportedAlgorithm(_) => "UnsupportedAlgorithm",
        CryptoError::InvalidLength { .. } => "InvalidLength",
        CryptoError::RsaDecryption => "RsaDecryption",
        _ => "Other",
    }
}

// ---------------------------------------------------------------- content

fn content_case(name: &str, len: usize, random_label: &str) -> (Value, Vec<u8>) {
    let key_bytes = det32(&format!("{name}/mailbox-key"));
    let key_ref = KeyRef::new(uuid(&format!("{name}/mailbox-key-id")), 3);
    let key = MailboxKey::from_secret(SecretKey32::from_bytes(key_bytes), key_ref);
    let owner = uuid(&format!("{name}/mailbox-id"));
    let item_id = format!("item:{name}").into_bytes();
    let binding = ItemBinding::new(owner, item_id.clone());
    let salt = det(&format!("{random_label}/salt"), 32);
    let prefix = det(&format!("{random_label}/prefix"), 7);
    let pt = det(&format!("{random_label}/plaintext"), len);
    let p = Scripted::new(&[&salt, &prefix]);
    let mut w = ContentEncryptor::with_provider(&p, &key, &binding, Vec::new()).unwrap();
    w.write_all(&pt).unwrap();
    let ct = w.finish().unwrap();
    let header = ContentHeader::parse(&ct).unwrap();
    let leaf = key.derive_content_key(&header, &binding).unwrap();
    let mut info = b"custkey/v1 content key".to_vec();
    info.extend_from_slice(&ct[..28]);
    info.extend_from_slice(&binding.encode().unwrap());
    let v = json!({
        "name": name,
        "result": "valid",
        "key_tier": "mailbox",
        "parent_key": h(&key_bytes),
        "key_id": key_ref.id.to_string(),
        "key_version": key_ref.version,
        "owner_id": owner.to_string(),
        "item_id": h(&item_id),
        "binding": h(&binding.encode().unwrap()),
        "salt": h(&salt),
        "nonce_prefix": h(&prefix),
        "hkdf_info": h(&info),
        "item_key": h(leaf.expose()),
        "commitment": h(leaf.commitment()),
        "header": h(header.as_bytes()),
        "plaintext": h(&pt),
        "ciphertext": h(&ct),
    });
    (v, ct)
}

fn negative(base: &Value, name: &str, note: &str, ct: &[u8], expect: &str) -> Value {
    let mut v = base.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("plaintext");
    o.insert("name".into(), json!(name));
    o.insert("result".into(), json!("invalid"));
    o.insert("expected_error".into(), json!(expect));
    o.insert("note".into(), json!(note));
    o.insert("ciphertext".into(), json!(h(ct)));
    v
}

fn seg(i: usize) -> usize {
    HEADER_LEN + i * (SEGMENT_SIZE + 16)
}

fn generate_content() {
    let mut valid = Vec::new();
    let mut bases = Vec::new();
    for (name, len) in [
        ("empty", 0usize),
        ("short", 13),
        ("two-segments", SEGMENT_SIZE + 10),
    ] {
        let (v, ct) = content_case(name, len, name);
        valid.push(v.clone());
        bases.push((v, ct));
    }
    write_if_asked(
        "content_v1.json",
        &json!({"format": "custkey content v1 (docs/format.md section 3)", "vectors": valid}),
    );
    let (short, short_ct) = &bases[1];
    let (two, two_ct) = &bases[2];
    let mut flipped_body = short_ct.clone();
    flipped_body[HEADER_LEN + 2] ^= 0x01;
    let mut flipped_header = short_ct.clone();
    flipped_header[40] ^= 0x80; // inside the salt
    let mut reordered = two_ct[..HEADER_LEN].to_vec();
    reordered.extend_from_slice(&two_ct[seg(1)..]);
    reordered.extend_from_slice(&two_ct[seg(0)..seg(1)]);
    let (_, other_ct) = content_case("two-segments", SEGMENT_SIZE + 10, "two-segments-other");
    let mut spliced = two_ct[..seg(1)].to_vec();
    spliced.extend_from_slice(&other_ct[seg(1)..]);
    let mut swapped = short.clone();
    swapped["item_id"] = json!(h(b"item:another"));
    swapped["binding"] = json!(h(&ItemBinding::new(
        short["owner_id"].as_str().unwrap().parse().unwrap(),
        b"item:another".to_vec()
    )
    .encode()
    .unwrap()));
    let mut wrong_owner = short.clone();
    let other_owner = uuid("some-other-mailbox");
    wrong_owner["owner_id"] = json!(other_owner.to_string());
    wrong_owner["binding"] = json!(h(&ItemBinding::new(other_owner, uh(short, "item_id"))
        .encode()
        .unwrap()));
    let mut wrong_key = short.clone();
    wrong_key["parent_key"] = json!(h(&det32("wrong-key")));
    for (file, v) in [
        (
            "content_v1_invalid_truncated.json",
            negative(
                two,
                "truncated-final-segment",
                "final segment removed at a segment boundary",
                &two_ct[..seg(1)],
                "Authentication",
            ),
        ),
        (
            "content_v1_invalid_truncated_header.json",
            negative(
                short,
                "truncated-header",
                "cut inside the header",
                &short_ct[..50],
                "Truncated",
            ),
        ),
        (
            "content_v1_invalid_flipped_body.json",
            negative(
                short,
                "flipped-body-bit",
                "one ciphertext bit flipped",
                &flipped_body,
                "Authentication",
            ),
        ),
        (
            "content_v1_invalid_flipped_header.json",
            negative(
                short,
                "flipped-salt-bit",
                "one salt bit flipped: the commitment no longer matches",
                &flipped_header,
                "KeyCommitment",
            ),
        ),
        (
            "content_v1_invalid_reordered.json",
            negative(
                two,
                "reordered-segments",
                "segments 0 and 1 swapped",
                &reordered,
                "Authentication",
            ),
        ),
        (
            "content_v1_invalid_spliced.json",
            negative(
                two,
                "spliced-segment",
                "final segment taken from another item under the same key and binding",
                &spliced,
                "Authentication",
            ),
        ),
        (
            "content_v1_invalid_swapped_item.json",
            negative(
                &swapped,
                "swapped-item-id",
                "ciphertext presented under another item id",
                short_ct,
                "KeyCommitment",
            ),
        ),
        (
            "content_v1_invalid_swapped_owner.json",
            negative(
                &wrong_owner,
                "swapped-owner-id",
                "ciphertext presented under another mailbox",
                short_ct,
                "KeyCommitment",
            ),
        ),
        (
            "content_v1_invalid_wrong_key.json",
            negative(
                &wrong_key,
                "wrong-key",
                "same key id and version, other key bytes",
                short_ct,
                "KeyCommitment",
            ),
        ),
    ] {
        write_if_asked(
            file,
            &json!({"format": "custkey content v1", "vectors": [v]}),
        );
    }
}

fn check_content_file(file: &str) -> usize {
    let doc = load(file);
    let mut n = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let key = MailboxKey::from_secret(
            SecretKey32::from_slice(&uh(v, "parent_key")).unwrap(),
            KeyRef::new(
                v["key_id"].as_str().unwrap().parse().unwrap(),
                v["key_version"].as_u64().unwrap() as u32,
            ),
        );
        let binding = ItemBinding::new(
            v["owner_id"].as_str().unwrap().parse().unwrap(),
            uh(v, "item_id"),
        );
        assert_eq!(binding.encode().unwrap(), uh(v, "binding"));
        let ct = uh(v, "ciphertext");
        let res = key.decrypt_content(&binding, &ct);
        match v["result"].as_str().unwrap() {
            "valid" => {
                assert!(!file.contains("invalid"));
                let pt = uh(v, "plaintext");
                assert_eq!(res.unwrap().as_slice(), pt.as_slice(), "{file}");
                // Re-encrypt with the recorded randomness: byte-identical.
                let p = Scripted::new(&[&uh(v, "salt"), &uh(v, "nonce_prefix")]);
                let mut w =
                    ContentEncryptor::with_provider(&p, &key, &binding, Vec::new()).unwrap();
                w.write_all(&pt).unwrap();
                assert_eq!(w.finish().unwrap(), ct, "{file} {}", v["name"]);
                let mut r = key.decrypt_reader(&binding, ct.as_slice()).unwrap();
                let header = r.read_header().unwrap();
                let leaf = key.derive_content_key(&header, &binding).unwrap();
                assert_eq!(h(leaf.expose()), v["item_key"].as_str().unwrap());
                let mut rest = Vec::new();
                r.read_to_end(&mut rest).unwrap();
                assert_eq!(rest, pt);
            }
            "invalid" => {
                assert!(
                    file.contains("_invalid_"),
                    "negative vectors are marked in the file name"
                );
                let e = res.unwrap_err();
                assert_eq!(
                    error_name(&e),
                    v["expected_error"].as_str().unwrap(),
                    "{file}: {e}"
                );
            }
            other => panic!("{other}"),
        }
        n += 1;
    }
    n
}

// ---------------------------------------------------------------- wrapped keys

fn aes_wrap_case<P: tier::Tier, C: WrapsUnder<P>>(
    name: &str,
    binding: &C::Binding,
    binding_json: Value,
) -> Value {
    let parent_bytes = det32(&format!("{name}/parent"));
    let child_bytes = det32(&format!("{name}/child"));
    let parent = TierKey::<P>::from_secret(
        SecretKey32::from_bytes(parent_bytes),
        KeyRef::new(uuid(&format!("{name}/parent-id")), 2),
    );
    let child = TierKey::<C>::from_secret(
        SecretKey32::from_bytes(child_bytes),
        KeyRef::new(uuid(&format!("{name}/child-id")), 5),
    );
    let nonce = det(&format!("{name}/nonce"), 12);
    let w = parent
        .wrap_with(&Scripted::new(&[&nonce]), &child, binding)
        .unwrap();
    let mut aad = w.as_bytes()[..48].to_vec();
    aad.extend_from_slice(&binding.encode().unwrap());
    json!({
        "name": name,
        "result": "valid",
        "kind": "aes-256-gcm",
        "parent_tier": P::ID as u8,
        "child_tier": C::ID as u8,
        "parent_key": h(&parent_bytes),
        "parent_key_id": parent.key_ref().id.to_string(),
        "parent_key_version": parent.key_ref().version,
        "child_key": h(&child_bytes),
        "child_key_id": child.key_ref().id.to_string(),
        "child_key_version": child.key_ref().version,
        "binding_fields": binding_json,
        "binding": h(&binding.encode().unwrap()),
        "nonce": h(&nonce),
        "aad": h(&aad),
        "wrapped": h(w.as_bytes()),
    })
}

fn generate_wraps() {
    let dep_id = uuid("dep-guid");
    let mbx_id = uuid("mailbox-guid");
    let site_id = uuid("site-guid");
    let db = DepBinding::new(dep_id);
    let ob = OwnerBinding::new(dep_id, mbx_id);
    let sb = OwnerBinding::new(dep_id, site_id);
    let mut v = vec![
        aes_wrap_case::<tier::Availability, tier::Dep>(
            "availability-wraps-dep",
            &db,
            json!({"dep_id": dep_id.to_string()}),
        ),
        aes_wrap_case::<tier::Dep, tier::Mailbox>(
            "dep-wraps-mailbox",
            &ob,
            json!({"dep_id": dep_id.to_string(), "owner_id": mbx_id.to_string()}),
        ),
        aes_wrap_case::<tier::Tik, tier::Site>(
            "tik-wraps-site",
            &sb,
            json!({"dep_id": dep_id.to_string(), "owner_id": site_id.to_string()}),
        ),
    ];
    let rsa = RsaPrivateKey::generate(2048).unwrap();
    let dep_bytes = det32("root-wrapped-dep");
    let dep = DepKey::from_secret(SecretKey32::from_bytes(dep_bytes), KeyRef::new(dep_id, 1));
    let root = RootKeyRef::new(
        "https://contoso.vault.azure.net/keys/customer-key-1",
        "5f2a0c7e9b3d4e1f8a6b2c0d9e8f7a6b",
    )
    .unwrap();
    for alg in [OaepAlg::RsaOaep256, OaepAlg::RsaOaep] {
        let w = dep
            .wrap_under_rsa(&root, &rsa.public_key(), alg, &db)
            .unwrap();
        let check_at = w.as_bytes().len() - 2 - 256 - 32;
        v.push(json!({
            "name": format!("root-wraps-dep-{}", alg.as_str()),
            "result": "valid",
            "kind": alg.as_str(),
            "parent_tier": 1,
            "child_tier": 3,
            "rsa_private_key_pkcs8": h(&rsa.to_pkcs8_der()),
            "root_key_id": root.key_id(),
            "root_key_version": root.version(),
            "child_key": h(&dep_bytes),
            "child_key_id": dep_id.to_string(),
            "child_key_version": 1,
            "binding_fields": {"dep_id": dep_id.to_string()},
            "binding": h(&db.encode().unwrap()),
            "check": h(&w.as_bytes()[check_at..check_at + 32]),
            "wrapped": h(w.as_bytes()),
        }));
    }
    write_if_asked(
        "wrapped_key_v1.json",
        &json!({"format": "custkey wrapped key v1 (docs/format.md section 2)", "vectors": v.clone()}),
    );
    // Negative vectors, derived from the positive ones.
    let mut flipped = v[1].clone();
    let mut b = uh(&flipped, "wrapped");
    b[100] ^= 0x04;
    flipped["wrapped"] = json!(h(&b));
    let mut moved = v[1].clone();
    let other = uuid("another-mailbox");
    moved["binding_fields"]["owner_id"] = json!(other.to_string());
    moved["binding"] = json!(h(&OwnerBinding::new(dep_id, other).encode().unwrap()));
    let mut rolled = v[1].clone();
    rolled["parent_key_version"] = json!(3);
    let mut root_moved = v[3].clone();
    let other_dep = uuid("another-dep");
    root_moved["binding_fields"]["dep_id"] = json!(other_dep.to_string());
    root_moved["binding"] = json!(h(&DepBinding::new(other_dep).encode().unwrap()));
    let mut bad_check = v[3].clone();
    let mut b = uh(&bad_check, "wrapped");
    let at = b.len() - 2 - 256 - 32;
    b[at] ^= 0x01;
    bad_check["wrapped"] = json!(h(&b));
    for (file, mut case, note, expect) in [
        (
            "wrapped_key_v1_invalid_flipped.json",
            flipped,
            "one ciphertext bit flipped",
            "Authentication",
        ),
        (
            "wrapped_key_v1_invalid_swapped_owner.json",
            moved,
            "mailbox key presented for another mailbox",
            "Authentication",
        ),
        (
            "wrapped_key_v1_invalid_wrong_parent_version.json",
            rolled,
            "unwrapped with another version of the DEP key",
            "BindingMismatch",
        ),
        (
            "wrapped_key_v1_invalid_root_moved_dep.json",
            root_moved,
            "root-wrapped DEP key presented for another DEP",
            "Authentication",
        ),
        (
            "wrapped_key_v1_invalid_root_check.json",
            bad_check,
            "check value bit flipped",
            "Authentication",
        ),
    ] {
        case["result"] = json!("invalid");
        case["expected_error"] = json!(expect);
        case["note"] = json!(note);
        case["name"] = json!(format!("{}-{}", case["name"].as_str().unwrap(), "negative"));
        write_if_asked(
            file,
            &json!({"format": "custkey wrapped key v1", "vectors": [case]}),
        );
    }
}

fn unwrap_case(v: &Value) -> Result<Vec<u8>, CryptoError> {
    let w = WrappedKey::from_bytes(&uh(v, "wrapped"))?;
    let dep_id: Uuid = v["binding_fields"]["dep_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let owner = v["binding_fields"]["owner_id"]
        .as_str()
        .map(|s| s.parse::<Uuid>().unwrap());
    if v["kind"] != "aes-256-gcm" {
        let sk = RsaPrivateKey::from_pkcs8_der(&uh(v, "rsa_private_key_pkcs8")).unwrap();
        let k = DepKey::unwrap_under_rsa(&w, &DepBinding::new(dep_id), &sk)?;
        return Ok(k.to_secret().expose().to_vec());
    }
    let pref = KeyRef::new(
        v["parent_key_id"].as_str().unwrap().parse().unwrap(),
        v["parent_key_version"].as_u64().unwrap() as u32,
    );
    let ps = || SecretKey32::from_slice(&uh(v, "parent_key")).unwrap();
    let out = match (
        v["parent_tier"].as_u64().unwrap(),
        v["child_tier"].as_u64().unwrap(),
    ) {
        (2, 3) => AvailabilityKey::from_secret(ps(), pref)
            .unwrap_dep_key(&w, &DepBinding::new(dep_id))?
            .to_secret(),
        (3, 5) => DepKey::from_secret(ps(), pref)
            .unwrap_mailbox_key(&w, &OwnerBinding::new(dep_id, owner.unwrap()))?
            .to_secret(),
        (4, 7) => TenantIntermediateKey::from_secret(ps(), pref)
            .unwrap_site_key(&w, &OwnerBinding::new(dep_id, owner.unwrap()))?
            .to_secret(),
        other => panic!("unexpected tiers {other:?}"),
    };
    Ok(out.expose().to_vec())
}

fn check_wrap_file(file: &str) -> usize {
    let doc = load(file);
    let mut n = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let res = unwrap_case(v);
        if v["result"] == "valid" {
            assert_eq!(res.unwrap(), uh(v, "child_key"), "{file} {}", v["name"]);
            if v["kind"] == "aes-256-gcm" {
                // Re-wrapping with the recorded nonce gives the same bytes.
                let again = aes_rewrap(v);
                assert_eq!(again, uh(v, "wrapped"));
            }
        } else {
            assert!(file.contains("_invalid_"));
            let e = res.unwrap_err();
            assert_eq!(
                error_name(&e),
                v["expected_error"].as_str().unwrap(),
                "{file}: {e}"
            );
        }
        n += 1;
    }
    n
}

fn aes_rewrap(v: &Value) -> Vec<u8> {
    let r = |k: &str, ver: &str| {
        KeyRef::new(
            v[k].as_str().unwrap().parse().unwrap(),
            v[ver].as_u64().unwrap() as u32,
        )
    };
    let s = |k: &str| SecretKey32::from_slice(&uh(v, k)).unwrap();
    let p = Scripted::new(&[&uh(v, "nonce")]);
    let dep_id: Uuid = v["binding_fields"]["dep_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let owner = || {
        OwnerBinding::new(
            dep_id,
            v["binding_fields"]["owner_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        )
    };
    let (pk, ck) = (
        r("parent_key_id", "parent_key_version"),
        r("child_key_id", "child_key_version"),
    );
    let w = match v["child_tier"].as_u64().unwrap() {
        3 => AvailabilityKey::from_secret(s("parent_key"), pk).wrap_with(
            &p,
            &DepKey::from_secret(s("child_key"), ck),
            &DepBinding::new(dep_id),
        ),
        5 => DepKey::from_secret(s("parent_key"), pk).wrap_with(
            &p,
            &MailboxKey::from_secret(s("child_key"), ck),
            &owner(),
        ),
        7 => TenantIntermediateKey::from_secret(s("parent_key"), pk).wrap_with(
            &p,
            &SiteKey::from_secret(s("child_key"), ck),
            &owner(),
        ),
        other => panic!("{other}"),
    };
    w.unwrap().into_bytes()
}

// ---------------------------------------------------------------- key commitments

fn commitment_case(
    name: &str,
    ck: &CommitmentKey,
    master: &[u8; 32],
    child_tier: TierId,
    key: &[u8; 32],
    key_ref: KeyRef,
    policy: Uuid,
) -> Value {
    let b = DepBinding::new(policy);
    let secret = SecretKey32::from_bytes(*key);
    let c = match child_tier {
        TierId::Dep => ck.commit(&DepKey::from_secret(secret, key_ref), &b),
        TierId::Tik => ck.commit(&TenantIntermediateKey::from_secret(secret, key_ref), &b),
        other => panic!("{other:?}"),
    }
    .unwrap();
    json!({
        "name": name,
        "result": "valid",
        "master_key": h(master),
        "commitment_key": h(ck.expose()),
        "tier": child_tier as u8,
        "key": h(key),
        "key_id": key_ref.id.to_string(),
        "key_version": key_ref.version,
        "binding_fields": {"dep_id": policy.to_string()},
        "binding": h(&b.encode().unwrap()),
        "commitment": h(&c),
    })
}

fn generate_commitments() {
    let master = det32("commitment/service-master-key");
    let ck = CommitmentKey::derive(&SecretKey32::from_bytes(master)).unwrap();
    let dep_id = uuid("dep-guid");
    let tik_id = uuid("spo-dep-guid");
    let dep_key = det32("commitment/dep-key");
    let v = vec![
        commitment_case(
            "dep-key",
            &ck,
            &master,
            TierId::Dep,
            &dep_key,
            KeyRef::new(dep_id, 1),
            dep_id,
        ),
        commitment_case(
            "tik",
            &ck,
            &master,
            TierId::Tik,
            &det32("commitment/tik"),
            KeyRef::new(tik_id, 1),
            tik_id,
        ),
    ];
    write_if_asked(
        "key_commitment_v1.json",
        &json!({"format": "custkey key commitment v1 (docs/format.md section 2.4)", "vectors": v.clone()}),
    );
    // A root wrap forged with the customer key's public half: the attacker's own DEP key,
    // RSA-OAEP-256 wrapped, with a correct check value. It unwraps; its commitment differs.
    let rsa = RsaPrivateKey::generate(2048).unwrap();
    let root = RootKeyRef::new(
        "https://contoso.vault.azure.net/keys/customer-key-1",
        "5f2a0c7e9b3d4e1f8a6b2c0d9e8f7a6b",
    )
    .unwrap();
    let chosen = DepKey::from_secret(
        SecretKey32::from_bytes(det32("commitment/attacker-chosen-key")),
        KeyRef::new(dep_id, 1),
    );
    let forged = chosen
        .wrap_under_rsa(
            &root,
            &rsa.public_key(),
            OaepAlg::RsaOaep256,
            &DepBinding::new(dep_id),
        )
        .unwrap();
    let mut f = v[0].clone();
    f["name"] = json!("forged-root-wrap");
    f["result"] = json!("invalid");
    f["expected_error"] = json!("Authentication");
    f["note"] = json!("a root wrap of an attacker-chosen key made with the public key alone: its check value is correct, but the key does not match the commitment of the genuine DEP key");
    f["parent_tier"] = json!(1);
    f["child_tier"] = json!(3);
    f["rsa_private_key_pkcs8"] = json!(h(&rsa.to_pkcs8_der()));
    f["wrapped"] = json!(h(forged.as_bytes()));
    let mut moved = v[0].clone();
    let other = uuid("another-dep");
    moved["name"] = json!("commitment-of-another-policy");
    moved["result"] = json!("invalid");
    moved["expected_error"] = json!("Authentication");
    moved["note"] = json!("the genuine key checked against the binding of another policy");
    moved["binding_fields"]["dep_id"] = json!(other.to_string());
    moved["binding"] = json!(h(&DepBinding::new(other).encode().unwrap()));
    write_if_asked(
        "key_commitment_v1_invalid_forged_root_wrap.json",
        &json!({"format": "custkey key commitment v1 (docs/format.md section 2.4)", "vectors": [f, moved]}),
    );
}

/// The key a commitment vector names, checked against its commitment.
fn verify_commitment(v: &Value) -> Result<(), CryptoError> {
    let ck = CommitmentKey::derive(&SecretKey32::from_slice(&uh(v, "master_key")).unwrap())?;
    assert_eq!(h(ck.expose()), v["commitment_key"].as_str().unwrap());
    let policy: Uuid = v["binding_fields"]["dep_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let b = DepBinding::new(policy);
    assert_eq!(h(&b.encode()?), v["binding"].as_str().unwrap());
    let stored = uh(v, "commitment");
    let key_ref = KeyRef::new(
        v["key_id"].as_str().unwrap().parse().unwrap(),
        v["key_version"].as_u64().unwrap() as u32,
    );
    if v.get("wrapped").is_some() {
        // The forged wrap passes every check of the wrap itself.
        let rsa = RsaPrivateKey::from_pkcs8_der(&uh(v, "rsa_private_key_pkcs8"))?;
        let w = WrappedKey::from_bytes(&uh(v, "wrapped"))?;
        let k = DepKey::unwrap_under_rsa(&w, &b, &rsa).expect("the forged wrap unwraps");
        return ck.verify(&k, &b, &stored);
    }
    let secret = SecretKey32::from_slice(&uh(v, "key"))?;
    match v["tier"].as_u64().unwrap() {
        3 => ck.verify(&DepKey::from_secret(secret, key_ref), &b, &stored),
        4 => ck.verify(
            &TenantIntermediateKey::from_secret(secret, key_ref),
            &b,
            &stored,
        ),
        other => panic!("tier {other}"),
    }
}

fn check_commitment_file(file: &str) -> usize {
    let doc = load(file);
    let mut n = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let res = verify_commitment(v);
        if v["result"] == "valid" {
            res.unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        } else {
            let e = res.expect_err(v["name"].as_str().unwrap());
            assert_eq!(
                error_name(&e),
                v["expected_error"].as_str().unwrap(),
                "{}",
                v["name"]
            );
        }
        n += 1;
    }
    n
}

// ---------------------------------------------------------------- sealed blob + KDF

fn generate_misc() {
    let key = det32("sealed/key");
    let nonce = det("sealed/nonce", 12);
    let aad = b"custkey service master key v1".to_vec();
    let pt = det("sealed/plaintext", 40);
    let sealed = seal_with(
        &Scripted::new(&[&nonce]),
        &SecretKey32::from_bytes(key),
        &aad,
        &pt,
    )
    .unwrap();
    let mut bad = sealed.clone();
    bad[20] ^= 0x10;
    write_if_asked(
        "sealed_v1.json",
        &json!({"format": "nonce(12) || ciphertext || tag(16)", "vectors": [
            {"name": "sealed", "result": "valid", "key": h(&key), "aad": h(&aad), "nonce": h(&nonce), "plaintext": h(&pt), "sealed": h(&sealed)}
        ]}),
    );
    write_if_asked(
        "sealed_v1_invalid_flipped.json",
        &json!({"format": "nonce(12) || ciphertext || tag(16)", "vectors": [
            {"name": "sealed-flipped", "result": "invalid", "expected_error": "Authentication", "key": h(&key), "aad": h(&aad), "sealed": h(&bad)}
        ]}),
    );
    let params = KdfParams::new(1024, 2, 1).unwrap();
    let salt = det("kdf/salt", 16);
    let pass = b"correct horse battery staple".to_vec();
    let k = derive_key_from_passphrase(&pass, &salt, &params).unwrap();
    write_if_asked(
        "kdf_argon2id_v1.json",
        &json!({"format": "Argon2id v0x13, 32-byte output", "vectors": [
            {"name": "argon2id-small", "result": "valid", "passphrase": h(&pass), "salt": h(&salt), "params": params.to_string(),
             "params_bytes": h(&params.to_bytes()), "m_cost_kib": 1024, "t_cost": 2, "p_cost": 1, "key": h(k.expose())}
        ]}),
    );
}

fn check_misc() -> usize {
    let s = load("sealed_v1.json");
    let v = &s["vectors"][0];
    let key = SecretKey32::from_slice(&uh(v, "key")).unwrap();
    assert_eq!(
        open(&key, &uh(v, "aad"), &uh(v, "sealed"))
            .unwrap()
            .as_slice(),
        uh(v, "plaintext").as_slice()
    );
    let again = seal_with(
        &Scripted::new(&[&uh(v, "nonce")]),
        &key,
        &uh(v, "aad"),
        &uh(v, "plaintext"),
    )
    .unwrap();
    assert_eq!(again, uh(v, "sealed"));
    let s = load("sealed_v1_invalid_flipped.json");
    let v = &s["vectors"][0];
    assert_eq!(
        open(&key, &uh(v, "aad"), &uh(v, "sealed")).unwrap_err(),
        CryptoError::Authentication
    );
    let k = load("kdf_argon2id_v1.json");
    let v = &k["vectors"][0];
    let params: KdfParams = v["params"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        KdfParams::from_bytes(&uh(v, "params_bytes")).unwrap(),
        params
    );
    let got = derive_key_from_passphrase(&uh(v, "passphrase"), &uh(v, "salt"), &params).unwrap();
    assert_eq!(h(got.expose()), v["key"].as_str().unwrap());
    3
}

#[test]
fn format_vectors() {
    if writing() {
        generate_content();
        generate_wraps();
        generate_misc();
        generate_commitments();
    }
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let (mut content, mut wraps, mut commitments) = (0, 0, 0);
    for f in &files {
        if f.starts_with("key_commitment_v1") {
            commitments += check_commitment_file(f);
        } else if f.starts_with("content_v1") {
            content += check_content_file(f);
        } else if f.starts_with("wrapped_key_v1") {
            wraps += check_wrap_file(f);
        }
    }
    let misc = check_misc();
    assert_eq!(content, 3 + 9, "content vectors");
    assert_eq!(wraps, 5 + 5, "wrapped-key vectors");
    assert_eq!(misc, 3);
    assert_eq!(commitments, 2 + 2, "key-commitment vectors");
}
