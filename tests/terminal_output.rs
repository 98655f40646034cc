//! What a terminal user sees: colour only where it belongs (NO_COLOR wins), tables fitted to
//! the width with `…` instead of wrapped rows, `--version`, and a man page with every cmdlet.

use std::process::{Command, Output};

fn custkey(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
    c.args(args)
        .current_dir(dir)
        .env("CUSTKEY_STORE", dir.join("service.db"))
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env_remove("SSH_AUTH_SOCK")
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn errors_are_coloured_only_when_asked_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Not a terminal: plain.
    let out = custkey(d, &["Get-Mailbox", "nobody"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    // Forced: red error, cyan help.
    let out = custkey(d, &["Get-Mailbox", "nobody"], &[("CLICOLOR_FORCE", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("\u{1b}[31merror:\u{1b}[0m "), "{err:?}");
    assert!(err.contains("\u{1b}[36mhelp:\u{1b}[0m "), "{err:?}");
    // NO_COLOR wins over everything.
    let out = custkey(
        d,
        &["Get-Mailbox", "nobody"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn narrow_tables_truncate_cells_and_keep_rows_and_headers_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = custkey(
        d,
        &["Get-Command", "-Noun", "*Encryption*"],
        &[("COLUMNS", "50")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CommandType Name"), "{text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 50), "{text}");
    assert!(text.contains('…'), "{text}");
    // One line a cmdlet: every row starts with its CommandType, none is a wrapped remainder.
    assert!(lines[2..].iter().all(|l| l.starts_with("Cmdlet")), "{text}");
    // Without a width (a pipe), nothing is cut.
    let wide = custkey(d, &["Get-Command", "-Noun", "*Encryption*"], &[]);
    let wide = String::from_utf8_lossy(&wide.stdout);
    assert!(!wide.contains('…'), "{wide}");
    assert!(
        wide.contains("New-M365DataAtRestEncryptionPolicy"),
        "{wide}"
    );
}

#[test]
fn version_and_a_man_page_with_every_cmdlet() {
    let dir = tempfile::tempdir().unwrap();
    let out = custkey(dir.path(), &["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("custkey {}", env!("CARGO_PKG_VERSION"))
    );
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/custkey.1")).unwrap();
    assert!(man.contains(".TH CUSTKEY 1"));
    let out = custkey(
        dir.path(),
        &["Get-Command", "-Format", "Json", "-Property", "Name"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in v.as_array().unwrap() {
        let name = c["Name"].as_str().unwrap().replace('-', "\\-");
        assert!(
            man.contains(&format!(".SS {name}\n")),
            "{name} is not in man/custkey.1"
        );
    }
    for code in ["\n.B 5\n", "\n.B 6\n", "\n.B 130\n"] {
        assert!(
            man.contains(code),
            "exit status {code:?} is not in the man page"
        );
    }
}
