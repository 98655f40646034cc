//! The service store through the real binary: concurrent writers, damaged files.

use std::path::Path;
use std::process::{Command, Output};

fn custkey(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(args)
        .env("CUSTKEY_STORE", store)
        // The master key files: beside the data directory, never in ~/.config.
        .env(
            "CUSTKEY_CONFIG_DIR",
            store
                .parent()
                .unwrap_or(Path::new("/nonexistent"))
                .with_extension("config"),
        )
        .env_remove("COLUMNS")
        .output()
        .expect("run custkey")
}

#[test]
fn two_processes_writing_the_same_store_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("service.db");
    // Both processes start on a store that does not exist yet, so they also race to create it.
    let spawn = |geo: &'static str, approver: &'static str| {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            for _ in 0..15 {
                let out = custkey(
                    &store,
                    &[
                        "Set-OrganizationConfig",
                        "-DefaultGeo",
                        geo,
                        "-DataPurgeApprovers",
                        approver,
                    ],
                );
                codes.push((
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ));
            }
            codes
        })
    };
    let a = spawn("EUR", "a@contoso.com");
    let b = spawn("NAM", "b@contoso.com");
    for (code, stderr) in a.join().unwrap().into_iter().chain(b.join().unwrap()) {
        assert_eq!(code, Some(0), "a concurrent write failed: {stderr}");
    }
    let out = custkey(&store, &["Get-OrganizationConfig", "-Format", "Json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let geo = v["DefaultGeo"].as_str().unwrap();
    assert!(geo == "EUR" || geo == "NAM");
}

fn assert_refused_unchanged(name: &str, content: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join(name);
    std::fs::write(&store, content).unwrap();
    for args in [
        &["Get-OrganizationConfig"][..],
        &["Set-OrganizationConfig", "-DefaultGeo", "EUR"][..],
    ] {
        let out = custkey(&store, args);
        assert_eq!(out.status.code(), Some(3), "{name}: {:?}", out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: the store"), "{name}: {stderr}");
        assert!(
            stderr.contains("help: the file was left as it is"),
            "{name}: {stderr}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(
            std::fs::read(&store).unwrap(),
            content,
            "{name} was modified"
        );
    }
}

#[test]
fn random_bytes_are_refused_and_left_unchanged() {
    let mut bytes = vec![0u8; 8192];
    let mut x: u32 = 0x9e37_79b9;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    assert_refused_unchanged("random.db", &bytes);
}

#[test]
fn a_truncated_store_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.db");
    assert_eq!(
        custkey(&good, &["Set-OrganizationConfig", "-DefaultGeo", "EUR"])
            .status
            .code(),
        Some(0)
    );
    let bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() >= 8192);
    assert_refused_unchanged("truncated-page.db", &bytes[..4096]);
    assert_refused_unchanged("truncated-odd.db", &bytes[..bytes.len() - 100]);
    assert_refused_unchanged("truncated-header.db", &bytes[..60]);
}

#[test]
fn a_store_from_a_newer_custkey_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("service.db");
    assert_eq!(
        custkey(&store, &["Get-OrganizationConfig"]).status.code(),
        Some(0)
    );
    let status = Command::new("sqlite3")
        .arg(&store)
        .arg("PRAGMA user_version = 999;")
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        // Without the sqlite3 tool, bump the version field of the header directly
        // (offset 60, big-endian), as SQLite itself stores it.
        let mut bytes = std::fs::read(&store).unwrap();
        bytes[60..64].copy_from_slice(&999u32.to_be_bytes());
        std::fs::write(&store, &bytes).unwrap();
    }
    let before = std::fs::read(&store).unwrap();
    let out = custkey(&store, &["Get-OrganizationConfig"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("schema version 999, newer than this custkey understands"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&store).unwrap(), before);
}

#[test]
fn a_new_store_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nested/dir/service.db");
    assert_eq!(
        custkey(&store, &["Get-OrganizationConfig"]).status.code(),
        Some(0)
    );
    let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(store.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
