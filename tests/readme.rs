//! The README's example blocks run as written, pasted in order into one shell in the source
//! tree with custkey on PATH (all but the first block, whose two commands are cargo's own, and
//! the line that starts the interactive shell on a terminal, which tests/script.rs drives).

use std::path::Path;
use std::process::Command;

#[test]
fn every_readme_block_runs_when_pasted_in_order() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(Path::new(root).join("README.md")).unwrap();
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 3, "README has {} sh blocks", blocks.len());
    assert!(
        blocks[0].contains("cargo test"),
        "the first block is the two commands"
    );
    let mut script = String::from("set -e\n");
    for b in &blocks[1..] {
        for line in b.lines() {
            if line.contains("# on a terminal:") {
                continue;
            }
            // Each line as pasted; a failing line stops the run and names itself.
            script.push_str(&format!("{line}\n"));
        }
    }
    let home = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_custkey")).parent().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("CUSTKEY_STORE")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a README line failed:\n{stderr}\n--- stdout ---\n{stdout}"
    );
    // What the lines promise.
    assert!(stdout.contains("IsEncrypted"), "{stdout}");
    assert!(stdout.contains("DEP US Mailboxes (Active)"), "{stdout}");
    assert!(stdout.contains("digraph custkey {"), "{stdout}");
    assert!(stdout.contains("Registered"), "{stdout}");
    assert!(!stderr.contains("error:"), "{stderr}");
}
