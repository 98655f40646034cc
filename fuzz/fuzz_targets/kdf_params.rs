//! KdfParams from bytes and from its string form.
#![no_main]

use custkey::crypto::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = KdfParams::from_bytes(data) {
        assert_eq!(KdfParams::from_bytes(&p.to_bytes()), Ok(p));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = s.parse::<KdfParams>() {
            assert_eq!(p.to_string().parse::<KdfParams>(), Ok(p));
        }
    }
});
