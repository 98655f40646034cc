//! WrappedKey::from_bytes on arbitrary bytes, then an unwrap attempt under fixed keys.
#![no_main]

use custkey::crypto::*;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = WrappedKey::from_bytes(data) {
        assert_eq!(w.as_bytes(), data);
        let dep = DepKey::from_secret(SecretKey32::from_bytes([1; 32]), w.child_key_ref());
        let _ = dep.unwrap_mailbox_key(&w, &MailboxBinding::new(Uuid::nil(), Uuid::nil()));
        let _ = DepKey::from_root_unwrap(&w, &DepBinding::new(Uuid::nil()), &[2; 32]);
        let _ = w.rsa_ciphertext();
    }
});
