//! The decrypting reader on arbitrary bytes, with odd read sizes. It must fail cleanly (no
//! attacker can forge a segment), and never panic.
#![no_main]

use std::io::Read;

use custkey::crypto::*;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let key = MailboxKey::from_secret(
        SecretKey32::from_bytes([7; 32]),
        KeyRef::new(Uuid::nil(), 1),
    );
    let binding = ItemBinding::new(Uuid::nil(), b"fuzz".to_vec());
    let step = data.first().map_or(1, |b| usize::from(*b) + 1);
    let Ok(mut r) = key.decrypt_reader(&binding, data) else {
        return;
    };
    let mut buf = vec![0u8; step];
    loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("forged content accepted"),
            Ok(_) => {}
            Err(_) => break,
        }
    }
});
