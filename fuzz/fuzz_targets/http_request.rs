//! Hostile input: `harness::http_request` (see fuzz/harness.rs; tests/fuzz.rs runs the same body
//! on the stable toolchain for a time budget).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::http_request(data));
