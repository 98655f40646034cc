//! RsaPublicKey::from_der (our own DER reader) on arbitrary bytes.
#![no_main]

use custkey::crypto::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = RsaPublicKey::from_der(data) {
        assert!(matches!(k.bits(), 2048 | 3072 | 4096));
        let _ = k.oaep_wrap(OaepAlg::RsaOaep256, &[0; 32]);
    }
});
