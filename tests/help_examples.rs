//! Every `Get-Help -Examples` line runs as printed, in bash, with custkey on the PATH, on a
//! store made by `examples/setup.ps1` (in a folder holding a copy of `examples/`, which the
//! examples name by relative path). An example whose own text is wrong (a parameter that does
//! not exist, a value the cmdlet refuses, an unquoted `$false` that bash expands to nothing, a
//! `<placeholder>` that bash reads as a redirection) fails with a usage error, exit 2: none
//! may. An example may fail for the state it finds (a policy the examples never made, an
//! account not registered): those are exit 1 or 3, or listed below with the reason.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Examples that need state this run does not make, by the start of their line.
const NEEDS_STATE: &[(&str, &str)] = &[
    (
        "custkey Connect-AzAccount ciso@contoso.com",
        "the purge approver's own account and key, which setup.ps1 does not register",
    ),
    (
        "custkey Get-PnPFile",
        "a SharePoint site with that file (examples/sharepoint.ps1 makes it)",
    ),
    (
        "custkey Connect-CustomerKeyService",
        "a running service and its thumbprint in $THUMBPRINT",
    ),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[test]
fn every_help_example_runs_as_printed() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        eprintln!("SKIPPED: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("examples"), &work.join("examples"));
    copy_dir(&repo.join("examples/mail"), &work.join("mail"));
    let bin = Path::new(env!("CARGO_BIN_EXE_custkey")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let store = dir.path().join("data/service.db");
    let bash = |line: &str| {
        let mut c = Command::new("bash");
        c.args(["-c", line])
            .current_dir(&work)
            .env("PATH", &path)
            .env("CUSTKEY_STORE", &store)
            .env("CUSTKEY_CONFIG_DIR", config.path())
            .env("CUSTKEY_KEYRING", "off")
            .env("HOME", dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("COLUMNS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let out = bash("custkey -File examples/setup.ps1")
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "setup.ps1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = bash("custkey Get-Command -Format Json")
        .wait_with_output()
        .unwrap();
    let cmdlets: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut lines = Vec::new();
    for c in cmdlets.as_array().unwrap() {
        let name = c["Name"].as_str().unwrap();
        let help = bash(&format!("custkey Get-Help {name} -Examples"))
            .wait_with_output()
            .unwrap();
        for l in String::from_utf8_lossy(&help.stdout).lines() {
            if let Some(code) = l.trim().strip_prefix("PS> ") {
                lines.push(code.to_string());
            }
        }
    }
    assert!(lines.len() > 100, "only {} examples", lines.len());
    let mut bad = Vec::new();
    for line in &lines {
        let mut child = bash(line);
        // A server example (Start-CustomerKeyService) runs until stopped: a few seconds of it
        // is enough to see that it started.
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        match status {
            None if stdout.contains("Listening on") => {}
            None => bad.push(format!("{line}\n    did not finish in 20 s")),
            Some(s) if s.code() == Some(2) || stderr.contains("bash: ") => {
                if !NEEDS_STATE.iter().any(|(p, _)| line.starts_with(p)) {
                    bad.push(format!("{line}\n    exit {:?}: {stderr}", s.code()));
                }
            }
            Some(_) => {}
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} examples do not run as printed:\n{}",
        bad.len(),
        lines.len(),
        bad.join("\n")
    );
}
