//! Show-CustomerKeyHierarchy through the binary: the tree after the runbooks, the same as JSON,
//! and DOT that Graphviz reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn custkey(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(args)
        .current_dir(dir)
        .env("CUSTKEY_STORE", dir.join("service.db"))
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env_remove("SSH_AUTH_SOCK")
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("COLUMNS")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = custkey(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn the_hierarchy_as_a_tree_as_json_and_as_dot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["-File", &example("setup.ps1"), d.to_str().unwrap()]);
    ok(
        d,
        &["-File", &example("multi-workload.ps1"), d.to_str().unwrap()],
    );
    // A roll: Key001 gets a second version, which the policy is not wrapped under yet.
    ok(
        d,
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
            "-Destination",
            "HSM",
        ],
    );

    let tree = ok(d, &["Show-CustomerKeyHierarchy", "US Mailboxes"]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].starts_with("DEP US Mailboxes (Active) "), "{tree}");
    assert!(tree.contains("├── root key https://contoso-ck-va1.vault.azure.net/keys/Key001 (vault contoso-ck-va1)"), "{tree}");
    // Two versions of Key001, one of them in use; Key002 has one, in use.
    let va1: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("│   ") && l.contains("version "))
        .collect();
    assert_eq!(va1.len(), 3, "{tree}");
    assert_eq!(tree.matches("(in use").count(), 2, "{tree}");
    assert!(
        tree.contains("availability key (held by the service"),
        "{tree}"
    );
    assert!(
        tree.contains("    ├── mailbox alice (2 items, encrypted)")
            || tree.contains("mailbox alice ("),
        "{tree}"
    );
    assert!(tree.contains("mailbox Shared Archive"), "{tree}");
    // -First cuts the list and says how many are left.
    let short = ok(
        d,
        &["Show-CustomerKeyHierarchy", "US Mailboxes", "-First", "1"],
    );
    assert!(short.contains("… and 2 more mailboxes"), "{short}");
    // The tenant's multi-workload policy protects the tenant's workloads.
    let all = ok(d, &["Show-CustomerKeyHierarchy"]);
    assert!(all.contains("Multi-workload DEP Contoso Global"), "{all}");
    assert!(all.contains("the tenant's multi-workload content"), "{all}");

    let json: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "Show-CustomerKeyHierarchy",
            "US Mailboxes",
            "-Format",
            "Json",
        ],
    ))
    .unwrap();
    let dep = &json[0];
    assert_eq!(dep["Name"], "US Mailboxes");
    assert_eq!(dep["RootKeys"].as_array().unwrap().len(), 2);
    let versions = dep["RootKeys"][0]["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions.iter().filter(|v| v["InUse"] == true).count(), 1);
    assert_eq!(dep["DepKey"]["Protects"].as_array().unwrap().len(), 3);

    let dot = ok(d, &["Show-CustomerKeyHierarchy", "-As", "Dot"]);
    assert!(
        dot.starts_with("digraph custkey {") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    // Graphviz itself reads it (CI installs graphviz).
    match Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(dot.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "dot: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
        }
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "graphviz is not installed; .ci/run installs it"
            );
            eprintln!("SKIPPED: graphviz (dot) is not installed");
        }
    }

    // An unknown policy is an error (exit 1).
    assert_eq!(
        custkey(d, &["Show-CustomerKeyHierarchy", "nope"])
            .status
            .code(),
        Some(1)
    );
}
