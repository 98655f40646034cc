//! ContentHeader::parse on arbitrary bytes.
#![no_main]

use custkey::crypto::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ContentHeader::parse(data) {
        assert_eq!(&h.as_bytes()[..], &data[..HEADER_LEN]);
        let _ = (h.key_ref(), h.key_tier());
    }
});
