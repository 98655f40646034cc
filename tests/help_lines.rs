//! Every error the service layer makes for an operator carries a `help:` line saying what to do.
//! The check reads the source: each `Error::new(..)`, `Error::rule(..)` or `Error::invalid(..)`
//! must be followed by `.with_help(..)`, but for the few listed here, which are never shown as
//! they are (internal invariants, or errors that copy the help of the error they wrap).

const NOT_SHOWN: &[&str] = &[
    // content.rs: the marker for an item deleted during an export (never printed).
    "\"deleted\"",
    // content.rs: an error said of one item, which takes the help of the error it wraps.
    "message {seq:06} (item {item_id}) {what}",
    // dep.rs: a key test's row (Test-* prints a table, not an error).
    "e.message().to_string()",
    // Rows read in the same transaction that wrote them (unreachable).
    "the organization row vanished",
    "TIK vanished",
];

#[test]
fn every_service_error_has_a_help_line() {
    let mut missing = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/service");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for ctor in ["Error::new(", "Error::rule(", "Error::invalid("] {
            let mut from = 0;
            while let Some(at) = src[from..].find(ctor) {
                let start = from + at;
                // `io::Error::new` and the like are not the service's errors.
                if src[..start].ends_with("::") {
                    from = start + ctor.len();
                    continue;
                }
                let mut depth = 1;
                let mut i = start + ctor.len();
                let bytes = src.as_bytes();
                while depth > 0 && i < bytes.len() {
                    match bytes[i] {
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                let call = &src[start..i];
                let rest = src[i..].trim_start();
                if !rest.starts_with(".with_help") && !NOT_SHOWN.iter().any(|n| call.contains(n)) {
                    let line = src[..start].matches('\n').count() + 1;
                    missing.push(format!(
                        "{}:{line}: {}",
                        f.display(),
                        call.replace('\n', " ")
                    ));
                }
                from = i;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "errors without a help line:\n{}",
        missing.join("\n")
    );
}
