//! Generated files (completion shims, docs/cmdlets/) must match the definition table,
//! and every cmdlet must have its help pinned in tests/cmd/help.md.

use std::process::Command;

#[test]
fn generated_files_are_fresh() {
    let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(["__generate", env!("CARGO_MANIFEST_DIR"), "--check"])
        .output()
        .expect("run custkey");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_cmdlet_has_a_help_snapshot() {
    let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(["Get-Command", "-Format", "Json", "-Property", "Name"])
        .output()
        .expect("run custkey");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let help =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cmd/help.md")).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["Name"].as_str())
        .collect();
    assert!(names.len() >= 4);
    for name in names {
        assert!(
            help.contains(&format!("$ custkey Get-Help {name} -Full\n")),
            "tests/cmd/help.md has no page for {name}"
        );
    }
}
