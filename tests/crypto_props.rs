//! Property tests: round trips at the segment edges and beyond, bit flips, parser robustness.

use std::io::{Read, Write};

use custkey::crypto::*;
use proptest::prelude::*;
use uuid::Uuid;

fn key_and_binding(seed: u8) -> (MailboxKey, ItemBinding) {
    (
        MailboxKey::from_secret(
            SecretKey32::from_bytes([seed; 32]),
            KeyRef::new(Uuid::from_bytes([seed; 16]), 1),
        ),
        ItemBinding::new(Uuid::from_bytes([seed ^ 0xff; 16]), vec![seed; 12]),
    )
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(SEGMENT_SIZE - 1),
        Just(SEGMENT_SIZE),
        Just(SEGMENT_SIZE + 1),
        Just(3 * SEGMENT_SIZE),
        Just(3 * 1024 * 1024 + 17),
        Just(5 * 1024 * 1024),
        0usize..(4 * SEGMENT_SIZE),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stream_round_trips(len in sizes(), seed in any::<u8>(), wchunk in 1usize..200_000, rchunk in 1usize..200_000) {
        let (key, binding) = key_and_binding(seed);
        let pt = data(len, seed);
        let mut w = key.encrypt_writer(&binding, Vec::new()).unwrap();
        for part in pt.chunks(wchunk) {
            w.write_all(part).unwrap();
        }
        let ct = w.finish().unwrap();
        prop_assert_eq!(ct.len() as u64, encrypted_len(len as u64));
        let mut r = key.decrypt_reader(&binding, ct.as_slice()).unwrap();
        let mut out = Vec::with_capacity(len);
        let mut buf = vec![0u8; rchunk];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 { break; }
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert!(out == pt);
        // The pull-style encrypter gives the same format.
        let mut er = key.encrypting_reader(&binding, pt.as_slice()).unwrap();
        let mut ct2 = Vec::new();
        er.read_to_end(&mut ct2).unwrap();
        prop_assert!(key.decrypt_content(&binding, &ct2).unwrap().as_slice() == pt.as_slice());
    }

    #[test]
    fn random_bit_flips_in_multi_segment_content_fail(bit in 0usize..((HEADER_LEN + 2 * (SEGMENT_SIZE + 16) + 116) * 8)) {
        let (key, binding) = key_and_binding(7);
        let ct = key.encrypt_content(&binding, &data(2 * SEGMENT_SIZE + 100, 7)).unwrap();
        let mut t = ct.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(key.decrypt_content(&binding, &t).is_err());
    }

    #[test]
    fn wraps_round_trip(parent in any::<[u8; 32]>(), child in any::<[u8; 32]>(), ids in any::<[u8; 48]>(), v in any::<(u32, u32)>()) {
        let dep_id = Uuid::from_slice(&ids[..16]).unwrap();
        let mbx_id = Uuid::from_slice(&ids[16..32]).unwrap();
        let dep = DepKey::from_secret(SecretKey32::from_bytes(parent), KeyRef::new(dep_id, v.0));
        let mbx = MailboxKey::from_secret(SecretKey32::from_bytes(child), KeyRef::new(Uuid::from_slice(&ids[32..]).unwrap(), v.1));
        let b = MailboxBinding::new(dep_id, mbx_id);
        let w = dep.wrap_mailbox_key(&mbx, &b).unwrap();
        let back = dep.unwrap_mailbox_key(&WrappedKey::from_bytes(w.as_bytes()).unwrap(), &b).unwrap();
        let got = back.to_secret();
        prop_assert_eq!(got.expose(), &child);
        prop_assert_eq!(back.key_ref(), mbx.key_ref());
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = WrappedKey::from_bytes(&bytes);
        let _ = ContentHeader::parse(&bytes);
        let _ = RsaPublicKey::from_der(&bytes);
        let _ = KdfParams::from_bytes(&bytes);
        let _ = String::from_utf8_lossy(&bytes).parse::<KdfParams>();
        let (key, binding) = key_and_binding(1);
        prop_assert!(key.decrypt_content(&binding, &bytes).is_err());
        prop_assert!(open(&SecretKey32::from_bytes([1; 32]), b"", &bytes).is_err());
    }

    #[test]
    fn parsers_never_panic_on_mutated_valid_input(pos in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let (key, binding) = key_and_binding(3);
        let dep = DepKey::generate(KeyRef::new_random());
        let w = dep.wrap_mailbox_key(&key, &MailboxBinding::new(Uuid::nil(), Uuid::nil())).unwrap().into_bytes();
        let ct = key.encrypt_content(&binding, b"mutation target").unwrap();
        for input in [w, ct] {
            let mut m = input.clone();
            let i = pos.index(m.len());
            m[i] = val;
            m.truncate(cut.index(m.len() + 1));
            let _ = WrappedKey::from_bytes(&m);
            let _ = ContentHeader::parse(&m);
            if m != input {
                prop_assert!(key.decrypt_content(&binding, &m).is_err());
            }
        }
    }
}

#[test]
fn every_single_bit_flip_of_a_one_segment_item_fails() {
    let (key, binding) = key_and_binding(9);
    let ct = key.encrypt_content(&binding, &data(200, 9)).unwrap();
    assert_eq!(ct.len(), HEADER_LEN + 200 + 16);
    for bit in 0..ct.len() * 8 {
        let mut t = ct.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(key.decrypt_content(&binding, &t).is_err(), "bit {bit}");
    }
}

#[test]
fn every_header_bit_flip_of_a_multi_segment_item_fails() {
    let (key, binding) = key_and_binding(10);
    let ct = key
        .encrypt_content(&binding, &data(SEGMENT_SIZE + 1, 10))
        .unwrap();
    for bit in 0..HEADER_LEN * 8 {
        let mut t = ct.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(key.decrypt_content(&binding, &t).is_err(), "bit {bit}");
    }
}
