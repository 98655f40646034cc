//! The streaming content format: round trips and every kind of tampering the issue lists.

use std::io::{Read, Write};

use custkey::crypto::content::SEGMENT_CT_SIZE;
use custkey::crypto::*;
use uuid::Uuid;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

struct Fixture {
    key: MailboxKey,
    binding: ItemBinding,
}

fn fixture() -> Fixture {
    Fixture {
        key: MailboxKey::generate(KeyRef::new(Uuid::new_v4(), 1)),
        binding: ItemBinding::new(Uuid::new_v4(), b"item-0001".to_vec()),
    }
}

fn open_err(f: &Fixture, ct: &[u8]) -> CryptoError {
    f.key.decrypt_content(&f.binding, ct).unwrap_err()
}

/// Offset of segment `i` in the ciphertext.
fn seg(i: usize) -> usize {
    HEADER_LEN + i * SEGMENT_CT_SIZE
}

#[test]
fn round_trip_and_lengths_at_segment_edges() {
    let f = fixture();
    for len in [
        0,
        1,
        SEGMENT_SIZE - 1,
        SEGMENT_SIZE,
        SEGMENT_SIZE + 1,
        3 * SEGMENT_SIZE,
    ] {
        let pt = pattern(len, 1);
        let ct = f.key.encrypt_content(&f.binding, &pt).unwrap();
        assert_eq!(ct.len() as u64, encrypted_len(len as u64), "len {len}");
        let back = f.key.decrypt_content(&f.binding, &ct).unwrap();
        assert_eq!(back.as_slice(), pt.as_slice(), "len {len}");
    }
}

#[test]
fn header_records_key_ref_and_parses() {
    let f = fixture();
    let ct = f.key.encrypt_content(&f.binding, b"hello").unwrap();
    let h = ContentHeader::parse(&ct).unwrap();
    assert_eq!(h.key_ref(), f.key.key_ref());
    assert_eq!(h.key_tier(), TierId::Mailbox);
    assert_eq!(&ct[..4], b"CKCT");
    let leaf = f.key.derive_content_key(&h, &f.binding).unwrap();
    assert_eq!(leaf.commitment(), &ct[67..99]);
    assert!(format!("{leaf:?}").contains("REDACTED"));
}

#[test]
fn fresh_salt_and_prefix_per_item() {
    let f = fixture();
    let a = f.key.encrypt_content(&f.binding, b"same").unwrap();
    let b = f.key.encrypt_content(&f.binding, b"same").unwrap();
    assert_ne!(a[28..67], b[28..67]);
    assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
}

#[test]
fn truncation_is_detected() {
    let f = fixture();
    let pt = pattern(2 * SEGMENT_SIZE + 100, 2);
    let ct = f.key.encrypt_content(&f.binding, &pt).unwrap();
    // Drop the final segment exactly at a segment boundary.
    assert_eq!(open_err(&f, &ct[..seg(2)]), CryptoError::Authentication);
    assert_eq!(open_err(&f, &ct[..seg(1)]), CryptoError::Authentication);
    // Drop the last byte, or everything after the header.
    assert_eq!(
        open_err(&f, &ct[..ct.len() - 1]),
        CryptoError::Authentication
    );
    assert!(matches!(
        open_err(&f, &ct[..HEADER_LEN]),
        CryptoError::Truncated(_)
    ));
    assert!(matches!(
        open_err(&f, &ct[..HEADER_LEN - 1]),
        CryptoError::Truncated(_)
    ));
    assert!(matches!(
        open_err(&f, &ct[..HEADER_LEN + 15]),
        CryptoError::Truncated(_)
    ));
    // Exactly one full segment: cutting the (final) full segment is caught too.
    let one = f
        .key
        .encrypt_content(&f.binding, &pattern(SEGMENT_SIZE, 3))
        .unwrap();
    assert!(open_err(&f, &one[..one.len() - 16]) == CryptoError::Authentication);
    // Trailing bytes after the final segment.
    let mut longer = ct.clone();
    longer.push(0);
    assert_eq!(open_err(&f, &longer), CryptoError::Authentication);
}

#[test]
fn reordering_and_splicing_are_detected() {
    let f = fixture();
    let pt = pattern(3 * SEGMENT_SIZE, 4);
    let ct = f.key.encrypt_content(&f.binding, &pt).unwrap();
    // Swap segments 0 and 1.
    let mut swapped = ct[..HEADER_LEN].to_vec();
    swapped.extend_from_slice(&ct[seg(1)..seg(2)]);
    swapped.extend_from_slice(&ct[seg(0)..seg(1)]);
    swapped.extend_from_slice(&ct[seg(2)..]);
    assert_eq!(open_err(&f, &swapped), CryptoError::Authentication);
    // Splice segment 1 of another item under the same mailbox key and binding.
    let other = f
        .key
        .encrypt_content(&f.binding, &pattern(3 * SEGMENT_SIZE, 5))
        .unwrap();
    let mut spliced = ct.clone();
    spliced[seg(1)..seg(2)].copy_from_slice(&other[seg(1)..seg(2)]);
    assert_eq!(open_err(&f, &spliced), CryptoError::Authentication);
    // Another item's header on this body.
    let mut header_swap = other[..HEADER_LEN].to_vec();
    header_swap.extend_from_slice(&ct[HEADER_LEN..]);
    assert_eq!(open_err(&f, &header_swap), CryptoError::Authentication);
}

#[test]
fn other_owner_item_or_key_is_detected() {
    let f = fixture();
    let ct = f.key.encrypt_content(&f.binding, b"mail body").unwrap();
    let other_item = ItemBinding::new(f.binding.owner_id, b"item-0002".to_vec());
    let other_owner = ItemBinding::new(Uuid::new_v4(), f.binding.item_id.clone());
    assert_eq!(
        f.key.decrypt_content(&other_item, &ct).unwrap_err(),
        CryptoError::KeyCommitment
    );
    assert_eq!(
        f.key.decrypt_content(&other_owner, &ct).unwrap_err(),
        CryptoError::KeyCommitment
    );
    let impostor = MailboxKey::from_secret(SecretKey32::generate(), f.key.key_ref());
    assert_eq!(
        impostor.decrypt_content(&f.binding, &ct).unwrap_err(),
        CryptoError::KeyCommitment
    );
    let next_version = MailboxKey::generate(KeyRef::new(f.key.key_ref().id, 2));
    assert!(matches!(
        next_version.decrypt_content(&f.binding, &ct).unwrap_err(),
        CryptoError::BindingMismatch(_)
    ));
    // Same bytes as a workload key: the tier differs.
    let as_workload = WorkloadKey::from_secret(f.key.to_secret(), f.key.key_ref());
    assert!(matches!(
        as_workload.decrypt_content(&f.binding, &ct).unwrap_err(),
        CryptoError::TierMismatch { .. }
    ));
}

#[test]
fn failing_segment_releases_no_plaintext() {
    let f = fixture();
    let pt = pattern(3 * SEGMENT_SIZE, 6);
    let mut ct = f.key.encrypt_content(&f.binding, &pt).unwrap();
    ct[seg(1) + 10] ^= 0x80;
    let mut r = f.key.decrypt_reader(&f.binding, ct.as_slice()).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let err = loop {
        match r.read(&mut chunk) {
            Ok(0) => panic!("tampered content read to the end"),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(
        got.as_slice(),
        &pt[..SEGMENT_SIZE],
        "only segment 0 may be released"
    );
    assert_eq!(
        CryptoError::from_io(&err),
        Some(&CryptoError::Authentication)
    );
    // The reader stays failed.
    assert!(r.read(&mut chunk).is_err());
}

#[test]
fn writer_and_readers_agree_with_small_writes_and_reads() {
    let f = fixture();
    let pt = pattern(2 * SEGMENT_SIZE + 777, 7);
    let mut w = f.key.encrypt_writer(&f.binding, Vec::new()).unwrap();
    let header = w.header().clone();
    for part in pt.chunks(1000) {
        w.write_all(part).unwrap();
    }
    let ct = w.finish().unwrap();
    assert_eq!(&ct[..HEADER_LEN], header.as_bytes());
    // The pull-style encrypter produces the same format.
    let mut er = f.key.encrypting_reader(&f.binding, pt.as_slice()).unwrap();
    let mut ct2 = Vec::new();
    er.read_to_end(&mut ct2).unwrap();
    assert_eq!(ct2.len(), ct.len());
    for c in [&ct, &ct2] {
        let mut r = f.key.decrypt_reader(&f.binding, c.as_slice()).unwrap();
        assert_eq!(r.read_header().unwrap().key_ref(), f.key.key_ref());
        let mut out = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, pt);
    }
}

#[test]
fn dropped_writer_without_finish_is_truncated() {
    let f = fixture();
    let mut sink = Vec::new();
    {
        let mut w = f.key.encrypt_writer(&f.binding, &mut sink).unwrap();
        w.write_all(&pattern(SEGMENT_SIZE + 5, 8)).unwrap();
    }
    assert!(f.key.decrypt_content(&f.binding, &sink).is_err());
}

#[test]
fn site_chunks_and_workload_items() {
    let site = SiteKey::generate(KeyRef::new_random());
    let b = ChunkBinding::new(Uuid::new_v4(), b"chunk/42".to_vec());
    let ct = site.encrypt_content(&b, b"spo chunk").unwrap();
    assert_eq!(ContentHeader::parse(&ct).unwrap().key_tier(), TierId::Site);
    assert_eq!(
        site.decrypt_content(&b, &ct).unwrap().as_slice(),
        b"spo chunk"
    );
    let wl = WorkloadKey::generate(KeyRef::new_random());
    let ct = wl.encrypt_content(&b, b"teams message").unwrap();
    assert_eq!(
        wl.decrypt_content(&b, &ct).unwrap().as_slice(),
        b"teams message"
    );
    let long_id = ContentBinding::new(Uuid::nil(), vec![0u8; 70_000]);
    assert!(wl.encrypt_content(&long_id, b"x").is_err());
}

#[test]
fn content_cross_checks_between_providers() {
    let f = fixture();
    let pt = pattern(SEGMENT_SIZE + 3, 9);
    for a in all_providers() {
        for c in all_providers() {
            let mut w = ContentEncryptor::with_provider(a, &f.key, &f.binding, Vec::new()).unwrap();
            w.write_all(&pt).unwrap();
            let ct = w.finish().unwrap();
            let mut r =
                ContentDecryptor::with_provider(c, &f.key, &f.binding, ct.as_slice()).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, pt, "{} -> {}", a.name(), c.name());
        }
    }
}

/// Hands out one byte per call and an `Interrupted` error every third call.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "again",
            ));
        }
        match (self.data.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.data = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn trickling_and_interrupted_sources_work() {
    let f = fixture();
    let pt = pattern(SEGMENT_SIZE + 300, 11);
    let ct = f.key.encrypt_content(&f.binding, &pt).unwrap();
    let mut r = f
        .key
        .decrypt_reader(
            &f.binding,
            Trickle {
                data: &ct,
                calls: 0,
            },
        )
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out, pt);
    let mut er = f
        .key
        .encrypting_reader(
            &f.binding,
            Trickle {
                data: &pt,
                calls: 0,
            },
        )
        .unwrap();
    let mut ct2 = Vec::new();
    er.read_to_end(&mut ct2).unwrap();
    assert_eq!(
        f.key.decrypt_content(&f.binding, &ct2).unwrap().as_slice(),
        pt.as_slice()
    );
}

/// Accepts `room` bytes, then fails every write.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_poisons_the_writer() {
    let f = fixture();
    let mut w = f
        .key
        .encrypt_writer(&f.binding, Full { room: 1000 })
        .unwrap();
    let pt = pattern(3 * SEGMENT_SIZE, 12);
    let err = w.write_all(&pt).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
    assert!(w.write(b"more").is_err());
    assert!(w.finish().is_err());
}

#[test]
fn a_failing_source_fails_the_readers_for_good() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("cable cut"))
        }
    }
    let f = fixture();
    let mut r = f.key.decrypt_reader(&f.binding, Broken).unwrap();
    let mut buf = [0u8; 10];
    assert!(r.read(&mut buf).is_err());
    assert!(r.read(&mut buf).is_err());
    let mut er = f.key.encrypting_reader(&f.binding, Broken).unwrap();
    let mut head = [0u8; HEADER_LEN];
    er.read_exact(&mut head).unwrap();
    assert!(er.read(&mut buf).is_err());
    assert!(
        er.read(&mut buf).is_err(),
        "an encrypting reader stays failed"
    );
}
