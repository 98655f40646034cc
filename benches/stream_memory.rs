//! Peak-memory check: streams N bytes (4 GiB under `cargo bench`) from a generator through the encrypting
//! reader and straight into the decrypting reader, and checks the result, without files.
//!
//! ```text
//! cargo bench --bench stream_memory --no-run          # prints the binary path
//! CUSTKEY_STREAM_BYTES=4294967296 /usr/bin/time -v <binary>
//! CUSTKEY_STREAM_BYTES=0          /usr/bin/time -v <binary>   # baseline
//! ```

use std::io::Read;
use std::time::Instant;

use custkey::crypto::*;
use uuid::Uuid;

/// Yields `remaining` bytes of a cheap deterministic pattern; byte `i` depends only on `i`,
/// so readers with different buffer sizes see the same stream.
struct Generator {
    remaining: u64,
    pos: u64,
}

impl Generator {
    fn new(len: u64) -> Self {
        Generator {
            remaining: len,
            pos: 0,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            let x = self.pos.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            *b = (x >> 56) as u8 ^ (self.pos as u8);
            self.pos += 1;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn main() {
    // `cargo bench` passes --bench: stream 4 GiB. Run as a test (`cargo test --benches`), it
    // only smoke-tests 8 MiB. CUSTKEY_STREAM_BYTES overrides both.
    let benching = std::env::args().any(|a| a == "--bench");
    let bytes: u64 = std::env::var("CUSTKEY_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 4 << 30 } else { 8 << 20 });
    let key = MailboxKey::generate(KeyRef::new_random());
    let binding = ItemBinding::new(Uuid::new_v4(), b"memory-check".to_vec());
    let start = Instant::now();
    let source = Generator::new(bytes);
    let enc = key
        .encrypting_reader(&binding, source)
        .expect("encrypting reader");
    let mut dec = key
        .decrypt_reader(&binding, enc)
        .expect("decrypting reader");
    let mut expect = Generator::new(bytes);
    let mut got = vec![0u8; 1 << 16];
    let mut want = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = dec.read(&mut got).expect("decrypt");
        if n == 0 {
            break;
        }
        expect.read_exact(&mut want[..n]).expect("generator");
        assert!(got[..n] == want[..n], "plaintext mismatch at {total}");
        total += n as u64;
    }
    assert_eq!(total, bytes);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "streamed {total} bytes (encrypt + decrypt) in {secs:.2} s, {:.0} MB/s each way",
        total as f64 / secs / 1e6
    );
}
