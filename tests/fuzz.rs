//! The fuzz targets on the stable toolchain: each target of `fuzz/harness.rs` (the bodies the
//! cargo-fuzz targets in `fuzz/fuzz_targets/` run under libFuzzer on nightly) gets random inputs
//! for a time budget: seeds, then mutations of them (byte flips, dictionary tokens, deleted and
//! spliced slices, and slices repeated hundreds of times, which is what builds deep nesting).
//! No coverage guidance, but no nightly either.
//!
//! - `CUSTKEY_FUZZ_SECONDS`: the budget per target (default 2; `.ci/run` gives 10).
//! - `CUSTKEY_FUZZ_SEED`: the seed (default: from the clock; a failure prints it).
//!
//! A failing input (a panic, or one input taking over 2 s) is written to
//! `target/fuzz-failures/` and the test fails naming it; `cargo +nightly fuzz run <target>
//! <file>` replays it under libFuzzer.

#[path = "../fuzz/harness.rs"]
mod harness;

/// What `src/main.rs` gives the cmdlet shell; `parser.rs`'s own tests, compiled in here with
/// it, run on a stack this size.
pub(crate) const STACK_BYTES: usize = 64 << 20;

use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_secs(2);
const MAX_INPUT: usize = 256 << 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "$(",
    "@(",
    "\"",
    "'",
    "`",
    "$a",
    "$_",
    ".b",
    "[0]",
    " -and ",
    " -or ",
    "-not ",
    "!",
    " -eq ",
    " -like ",
    " + ",
    ",",
    "|",
    ";",
    "\n",
    "\r\n",
    "*",
    "?",
    "Get-Mailbox ",
    "Where-Object ",
    "if ($a) ",
    "foreach ($m in $a) ",
    "exit ",
    "<#",
    "#>",
    "#",
    "Name -eq 'a'",
    "$null",
    "$true",
    "From ",
    "\n\n",
    "From x\n",
    "\u{1b}",
    "\u{0}",
    "é",
    "=",
    "[[",
    "]]",
    "[[assignment]]\n",
    "filter = ",
    "key_ids = [",
    "{\"header\":",
    "\"sealed\":",
    "custkey-key-backup",
    "\\u0000",
    "1e400",
    "-9223372036854775808",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 | 2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 if !v.is_empty() => {
                // A slice repeated many times: deep nesting, long chains, long lines.
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(16)).min(v.len());
                let piece = v[start..end].to_vec();
                let times = 1 + rng.below(2000);
                let mut rep = Vec::with_capacity(piece.len() * times);
                for _ in 0..times {
                    rep.extend_from_slice(&piece);
                }
                v.splice(at..at, rep);
            }
            5 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let times = 1 + rng.below(3000);
                v.splice(at..at, t.iter().copied().cycle().take(t.len() * times));
            }
            _ => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                v.splice(at..at, other[from..].iter().copied());
            }
        }
    }
    v.truncate(MAX_INPUT);
    v
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut s: Vec<Vec<u8>> = match target {
        "script_parser" => vec![
            "Get-Mailbox | Where-Object { $_.Name -like 'a*' -and -not $_.IsEncrypted } | Select-Object -ExpandProperty Name".into(),
            "$a = @(1, 2); $a[0].b; $a += 'x'; \"n=$($a.Count) ${a}\"".into(),
            "if ($x -eq 1) { 'a' } elseif ($y) { } else { exit 3 }\nforeach ($m in $a) { $m.Name }".into(),
            "Set-Mailbox -Identity alice -DataEncryptionPolicy:'US' -Confirm:$false <# c #> # d\n$x = `\n 1".into(),
            "$h = @{Name='a';Value=1}; switch -Regex ($h.Name) { '^a' { $matches[0] } default { break } }".into(),
            "$s.Trim().Split(',')[0].Substring(1, 2); (Get-Date).AddDays(30); $r.Properties.x = 1; $a[0] += 2".into(),
        ],
        "opath_filter" => vec![
            "{RecipientTypeDetails -eq 'SharedMailbox' -and Name -like 'a*'}".into(),
            "-not (Name -eq alice) -or Count -gt 2 -and List -ne $null".into(),
            "Name -eq 'it''s'".into(),
        ],
        "wildcard" => vec![
            b"*a?b*\0xxaxbyy".to_vec(),
            b"*?*?*?*?*?*?*Q\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            "G?T-*\0get-Mailbox".into(),
        ],
        "rollout_file" => ["rollout.toml", "rollout-multi-workload.toml", "rollout-sharepoint.toml"]
            .iter()
            .filter_map(|f| std::fs::read(format!("{root}/examples/{f}")).ok())
            .collect(),
        "backup_blob" => {
            use custkey::crypto::SecretKey32;
            use custkey::vault::backup::{seal_backup, BackupHeader};
            let h = BackupHeader::new("sub", "k", "v", "local");
            vec![
                seal_backup(&SecretKey32::from_bytes([5; 32]), &h, b"{\"versions\":[]}").unwrap(),
                b"{}".to_vec(),
            ]
        }
        "mail_parsers" => vec![
            b"From a\nSubject: 1\n\nbody\n\nFrom b\r\n\r\nFrom c\nFrom d\n".to_vec(),
            b"From x\n\n\n\nFrom y".to_vec(),
            b"Subject: not an mbox\n".to_vec(),
        ],
        "http_request" => vec![
            b"\x05POST /v1/invoke HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Custkey-Nonce: n\r\n\r\n{}GET /healthz HTTP/1.1\r\n\r\n".to_vec(),
            b"\x01GET /readyz HTTP/1.0\r\nConnection: close\r\n\r\n".to_vec(),
            b"\x07HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}".to_vec(),
        ],
        "kmip_ttlv" => {
            use custkey::vault::kmip::ttlv::{Item, Value};
            let ok = Item::structure(
                0x42007B,
                vec![Item::structure(
                    0x42000F,
                    vec![
                        Item::enumeration(0x42005C, 0x20),
                        Item::enumeration(0x42007F, 0),
                        Item::structure(
                            0x42007C,
                            vec![
                                Item::text(0x420094, "1"),
                                Item::bytes(0x4200C2, &[7; 32]),
                                Item::new(0x420001, Value::LongInteger(-1)),
                                Item::new(0x420006, Value::Boolean(true)),
                            ],
                        ),
                    ],
                )],
            );
            let refused = Item::structure(
                0x42007B,
                vec![Item::structure(
                    0x42000F,
                    vec![
                        Item::enumeration(0x42007F, 1),
                        Item::enumeration(0x42007E, 0x0C),
                        Item::text(0x42007D, "must be in the Active state"),
                    ],
                )],
            );
            vec![ok.encode(), refused.encode()]
        }
        _ => Vec::new(),
    };
    s.push(Vec::new());
    s
}

fn budget() -> Duration {
    let secs = std::env::var("CUSTKEY_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("CUSTKEY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

fn save(target: &str, input: &[u8]) -> String {
    let dir = format!("{}/target/fuzz-failures", env!("CARGO_MANIFEST_DIR"));
    let _ = std::fs::create_dir_all(&dir);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    let path = format!("{dir}/{target}-{h:016x}");
    let _ = std::fs::write(&path, input);
    path
}

fn fuzz(target: &'static str) {
    let body = harness::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .map(|(_, f)| *f)
        .unwrap();
    let seed = seed();
    let budget = budget();
    // The script parser recurses once a level: give it the stack the binary has.
    let run = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let mut rng = Rng(seed);
            let mut corpus = seeds(target);
            let start = Instant::now();
            let mut n = 0u64;
            let mut k = 0usize;
            loop {
                let input = if k < corpus.len() {
                    corpus[k].clone()
                } else {
                    let base = corpus[rng.below(corpus.len())].clone();
                    mutate(&mut rng, &base, &corpus)
                };
                k += 1;
                let t = Instant::now();
                let res = std::panic::catch_unwind(|| body(&input));
                let took = t.elapsed();
                if res.is_err() || took > SLOW {
                    let path = save(target, &input);
                    return Err(format!(
                        "{target}: {} on an input of {} bytes (seed {seed}), saved as {path}",
                        if res.is_err() { "a panic" } else { "over 2 s" },
                        input.len()
                    ));
                }
                n += 1;
                // Keep some mutants as bases for more (a poor man's corpus growth).
                if corpus.len() < 256 && rng.below(8) == 0 {
                    corpus.push(input);
                }
                if start.elapsed() >= budget {
                    return Ok(n);
                }
            }
        })
        .unwrap();
    match run.join().unwrap() {
        Ok(n) => eprintln!("{target}: {n} inputs in {budget:?} (seed {seed})"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn fuzz_script_parser() {
    fuzz("script_parser");
}

#[test]
fn fuzz_opath_filter() {
    fuzz("opath_filter");
}

#[test]
fn fuzz_wildcard() {
    fuzz("wildcard");
}

#[test]
fn fuzz_rollout_file() {
    fuzz("rollout_file");
}

#[test]
fn fuzz_backup_blob() {
    fuzz("backup_blob");
}

#[test]
fn fuzz_mail_parsers() {
    fuzz("mail_parsers");
}

#[test]
fn fuzz_kmip_ttlv() {
    fuzz("kmip_ttlv");
}

#[test]
fn fuzz_http_request() {
    fuzz("http_request");
}
