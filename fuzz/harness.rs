//! The bodies of the hostile-input fuzz targets, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, nightly) and the stable-toolchain driver that the test suite runs
//! (`tests/fuzz.rs`, a time budget per target). Each takes arbitrary bytes and must neither
//! panic nor take more than linear-ish time; where there is a simple reference, it must agree
//! with it.
//!
//! The script parser, the OPATH filter and the wildcard matcher live in the `custkey` binary,
//! not the library, so their source files are compiled in here as they are, with the two small
//! modules the filter reads (`error`, `output`) standing in for the binary's.
#![allow(dead_code)]

use std::io::Read;

#[path = "../src/cli/script/ast.rs"]
pub mod ast;
#[path = "../src/cli/filter.rs"]
pub mod filter;
#[path = "../src/cli/serve/http.rs"]
pub mod http;
#[path = "../src/cli/script/lexer.rs"]
pub mod lexer;
#[path = "../src/cli/script/parser.rs"]
pub mod parser;
#[path = "../src/cli/wildcard.rs"]
pub mod wildcard;

/// Stands in for the binary's `cli::error` (what `filter.rs` uses of it).
pub mod error {
    #[derive(Debug, Clone)]
    pub struct CliError {
        pub message: String,
        pub help: Option<String>,
    }
    impl CliError {
        pub fn usage(message: impl Into<String>) -> Self {
            CliError {
                message: message.into(),
                help: None,
            }
        }
        pub fn with_help(mut self, help: impl Into<String>) -> Self {
            self.help = Some(help.into());
            self
        }
    }
}

/// Stands in for the binary's `cli::output` (what `filter.rs` uses of it).
pub mod output {
    pub use super::wildcard::wildcard;
    use serde_json::Value;
    pub type Record = serde_json::Map<String, Value>;
    pub fn display(v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) => format!(
                "{{{}}}",
                a.iter().map(display).collect::<Vec<_>>().join(", ")
            ),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", display(v)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// The script parser on any text up to the script size limit: a syntax tree or a syntax
/// error, never a stack overflow.
pub fn script_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() as u64 > custkey::input::MAX_SCRIPT_BYTES {
        return;
    }
    if let Err(e) = parser::parse(text) {
        assert!(!e.message.is_empty());
    }
}

/// `-Filter` on any text: a filter that can be matched, or a usage error.
pub fn opath_filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match filter::parse(text) {
        Ok(f) => {
            let mut r = output::Record::new();
            r.insert("Name".into(), serde_json::json!("alice"));
            r.insert("Count".into(), serde_json::json!(3));
            r.insert("List".into(), serde_json::json!(["a", "b"]));
            let _ = f.matches(&r);
            let _ = f.properties();
        }
        Err(e) => assert!(e.help.is_some() && e.message.len() < 4096, "{e:?}"),
    }
}

/// The obvious dynamic-programming matcher, `pattern × text` cells.
fn reference_wildcard(p: &[char], t: &[char]) -> bool {
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &pc in p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (pc == '?' || pc == t[j - 1]);
            }
        }
        row = next;
    }
    row[t.len()]
}

/// The wildcard matcher: pattern and text split at the first zero byte. It agrees with the
/// reference matcher on short inputs and is linear-ish on long ones.
pub fn wildcard_matcher(data: &[u8]) {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let pattern = String::from_utf8_lossy(&data[..cut]);
    let text = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or_default());
    let got = wildcard::wildcard(&pattern, &text);
    if pattern.len() <= 256 && text.len() <= 256 {
        let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
        let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        assert_eq!(got, reference_wildcard(&p, &t), "{pattern:?} {text:?}");
    }
}

/// A rollout file: TOML up to the rollout size limit, and the filters it gives.
pub fn rollout_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() as u64 > custkey::input::MAX_ROLLOUT_BYTES {
        return;
    }
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    if let Some(toml::Value::Array(a)) = table.get("assignment") {
        for item in a {
            if let Some(toml::Value::String(f)) = item.get("filter") {
                opath_filter(f.as_bytes());
            }
        }
    }
}

/// A key backup blob: the header parses or not; opening it fails cleanly unless it is
/// genuine; a blob sealed around the input opens to the input again.
pub fn backup_blob(data: &[u8]) {
    use custkey::crypto::SecretKey32;
    use custkey::vault::backup::{open_backup, peek_backup_header, seal_backup, BackupHeader};
    let _ = peek_backup_header(data);
    // The seeds are sealed under [5; 32]: under another key, nothing may open.
    let other = || Ok(SecretKey32::from_bytes([6; 32]));
    assert!(
        open_backup(data, "sub", other).is_err(),
        "a forged backup opened"
    );
    let key = || Ok(SecretKey32::from_bytes([5; 32]));
    let _ = open_backup(data, "sub", key);
    let header = BackupHeader::new("sub", "k", "v", "local");
    let blob = seal_backup(&SecretKey32::from_bytes([5; 32]), &header, data).unwrap();
    let (h, payload) = open_backup(&blob, "SUB", key).unwrap();
    assert_eq!(h, header);
    assert_eq!(&payload[..], data);
}

/// Reads in pieces of a size the input chooses (so buffer boundaries land everywhere).
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(out.len()).min(self.step);
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Where the reference splitter (the whole input at once) starts messages.
fn reference_mbox_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut pos, mut prev_blank) = (0usize, true);
    for line in data.split_inclusive(|&b| b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            starts.push(pos);
        }
        prev_blank = line == b"\n" || line == b"\r\n";
        pos += line.len();
    }
    starts
}

/// The streaming mbox splitter of mail import: the same messages as the reference splitter,
/// whatever the read sizes; or "not an mbox" exactly when the input does not begin with one.
/// `.eml` import is a byte stream with a size limit, covered by `Limited`.
pub fn mail_parsers(data: &[u8]) {
    use custkey::service::mail_input::MboxSplitter;
    let step = data.first().map_or(1, |b| usize::from(*b % 64) + 1);
    let mut split = MboxSplitter::new(Pieces { data, step });
    let starts = reference_mbox_starts(data);
    let mut got: Vec<Vec<u8>> = Vec::new();
    loop {
        match split.next_message() {
            Ok(true) => {
                let mut m = Vec::new();
                split.message().read_to_end(&mut m).unwrap();
                got.push(m);
            }
            Ok(false) => break,
            Err(e) => {
                assert_ne!(starts.first(), Some(&0), "{e}");
                return;
            }
        }
    }
    assert_eq!(starts.first(), Some(&0));
    let want: Vec<&[u8]> = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &data[s..starts.get(i + 1).copied().unwrap_or(data.len())])
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(&g[..], w);
    }
    // A message bounded by the limit stops at it.
    let mut limited = custkey::input::Limited::new(Pieces { data, step }, 10);
    let mut sink = Vec::new();
    let r = limited.read_to_end(&mut sink);
    assert_eq!(r.is_err(), data.len() > 10);
}

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target by name, for the drivers.
/// The KMIP TTLV decoder and response parser: any bytes decode or are refused, never panic; what
/// decodes encodes back to the same bytes (the encoding is canonical); a response that parses
/// is a Response Message.
pub fn kmip_ttlv(data: &[u8]) {
    use custkey::vault::kmip::{client, ttlv};
    if let Ok(item) = ttlv::decode(data) {
        assert_eq!(item.encode(), data, "TTLV re-encoding differs");
    }
    if data.len() >= 8 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&data[..8]);
        let _ = ttlv::message_len(&head);
    }
    let _ = client::parse_response(data, client::op::DECRYPT);
    // A Get or Get Attributes answer from a hostile server: key material and links are read
    // from whatever payload it sends.
    if let Ok(payload) = client::parse_response(data, client::op::GET) {
        if let Ok(m) = client::parse_get(&payload) {
            assert!(!m.bytes.is_empty() && m.bytes.len() <= 64 * 1024);
            let _ = custkey::crypto::RsaPublicKey::from_pkcs1_der(&m.bytes);
            let _ = custkey::crypto::RsaPublicKey::from_der(&m.bytes);
        }
        let _ = client::linked_public_key(&payload);
    }
}

/// The service's HTTP reader on any bytes from a peer, read in pieces the input chooses: a
/// request within the limits, or a refusal with a status; never more body than the limit.
pub fn http_request(data: &[u8]) {
    let step = 1 + data.first().copied().unwrap_or(0) as usize % 61;
    let mut r = std::io::BufReader::with_capacity(
        1 + step * 3,
        Pieces {
            data: data.get(1..).unwrap_or_default(),
            step,
        },
    );
    // Several requests on one connection, as keep-alive reads them.
    for _ in 0..8 {
        match http::read_request(&mut r, 4096) {
            Ok(req) => {
                assert!(req.body.len() <= 4096);
                assert!(!req.method.is_empty());
            }
            Err(http::HttpError::Bad(status, msg)) => {
                assert!((400..600).contains(&status) && !msg.is_empty());
                return;
            }
            Err(_) => return,
        }
    }
    let _ = http::read_response(&mut std::io::BufReader::new(data), 4096);
}

pub const TARGETS: &[(&str, Body)] = &[
    ("script_parser", script_parser),
    ("opath_filter", opath_filter),
    ("wildcard", wildcard_matcher),
    ("rollout_file", rollout_file),
    ("backup_blob", backup_blob),
    ("mail_parsers", mail_parsers),
    ("kmip_ttlv", kmip_ttlv),
    ("http_request", http_request),
];
