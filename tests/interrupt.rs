//! Interrupting long operations: Ctrl-C (SIGINT) stops an import between messages with exit 130
//! and keeps what it committed; a kill mid-import loses only the uncommitted batch; and running
//! the same import again resumes after the committed messages, so no message is imported twice
//! and a finished import imports nothing again.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn custkey(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
    c.current_dir(dir)
        .env("CUSTKEY_STORE", dir.join("service.db"))
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env_remove("SSH_AUTH_SOCK")
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("CUSTKEY_FAULT_IMPORT_AFTER_ITEMS");
    c
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = custkey(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An mbox of `n` messages of about `size` bytes each.
fn mbox(path: &Path, n: usize, size: usize) {
    let body = "x".repeat(size);
    let mut s = String::with_capacity(n * (size + 120));
    for i in 0..n {
        s.push_str(&format!(
            "From sender@example.com Mon Jan  1 00:00:00 2024\nSubject: message {i}\n\n{body}\n\n"
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// Item rows committed so far, read straight from the store while an import runs.
fn count_rows(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("service.db"))
        .and_then(|c| c.query_row("SELECT count(*) FROM item", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn item_count(dir: &Path) -> u64 {
    let out = ok(dir, &["Get-MailboxStatistics", "alice", "-Format", "Json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["ItemCount"].as_u64().unwrap()
}

fn setup(dir: &Path) {
    ok(dir, &["New-Mailbox", "-Name", "alice"]);
}

fn import(dir: &Path, file: &Path) -> Output {
    custkey(dir)
        .args([
            "New-MailboxImportRequest",
            "-Mailbox",
            "alice",
            "-FilePath",
            file.to_str().unwrap(),
            "-Format",
            "Json",
        ])
        .output()
        .unwrap()
}

#[test]
fn a_killed_import_resumes_and_imports_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let file = d.join("big.mbox");
    mbox(&file, 3000, 200);
    // Killed after 2500 messages (mid-batch): the committed batches (1024 messages each) stay.
    let out = custkey(d)
        .args([
            "New-MailboxImportRequest",
            "-Mailbox",
            "alice",
            "-FilePath",
            file.to_str().unwrap(),
        ])
        .env("CUSTKEY_FAULT_IMPORT_AFTER_ITEMS", "2500")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let kept = item_count(d);
    // Whole batches (1024 messages each) whose bytes were durable before the kill; the batch in
    // flight is lost.
    assert!(kept.is_multiple_of(1024) && kept < 2500, "{kept}");
    // Again: the rest, and nothing twice.
    let out = import(d, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ItemsSkipped"], kept);
    assert_eq!(v["ItemsTransferred"], 3000 - kept);
    assert_eq!(item_count(d), 3000);
    // Finished: a third run imports nothing.
    let out = import(d, &file);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ItemsTransferred"], 0);
    assert_eq!(v["ItemsSkipped"], 3000);
    assert_eq!(item_count(d), 3000);
    // A changed file is another source: imported whole.
    mbox(&file, 10, 50);
    let out = import(d, &file);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ItemsTransferred"], 10);
    assert_eq!(item_count(d), 3010);
}

#[test]
fn ctrl_c_stops_an_import_between_messages_with_exit_130_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let file = d.join("large.mbox");
    let n = 60_000;
    mbox(&file, n, 2000);
    let child = custkey(d)
        .args([
            "New-MailboxImportRequest",
            "-Mailbox",
            "alice",
            "-FilePath",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first batch is committed, then press Ctrl-C once.
    let start = Instant::now();
    loop {
        let c = rusqlite::Connection::open(d.join("service.db")).unwrap();
        let items: i64 = c
            .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
            .unwrap_or(0);
        if items > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the import never committed a batch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // The machine finished the import before the signal arrived: nothing to interrupt.
        assert_eq!(item_count(d), n as u64);
        eprintln!("note: the import finished before Ctrl-C; the interruption was not exercised");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("was interrupted"), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let kept = item_count(d);
    assert!(kept > 0 && kept < n as u64, "{kept}");
    let out = import(d, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ItemsSkipped"], kept);
    assert_eq!(item_count(d), n as u64);
}

#[path = "common/tmux.rs"]
mod tmux;

/// Runs `custkey <args>` in `d` on a terminal of its own (tmux): the terminal, and the file its
/// exit code is written to (`rc=N`) when it ends.
fn on_terminal(name: &str, d: &Path, args: &str) -> (tmux::Tmux, std::path::PathBuf) {
    let status = d.join(format!("status-{name}"));
    let shell = format!(
        "cd '{}' && env CUSTKEY_STORE='{}' CUSTKEY_CONFIG_DIR='{}' CUSTKEY_KEYRING=off TERM=xterm '{}' {args}; echo \"rc=$?\" > '{}'; sleep 60",
        d.display(),
        d.join("service.db").display(),
        concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        env!("CARGO_BIN_EXE_custkey"),
        status.display()
    );
    (tmux::Tmux::start(name, 140, &shell), status)
}

/// Waits (up to a minute) for the command of [`on_terminal`] to end; its `rc=N` line.
fn exit_line(t: &tmux::Tmux, status: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(status) {
            if s.ends_with('\n') {
                return s.trim().to_string();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit: {}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn on_a_terminal_an_import_shows_its_rate_and_eta_and_ctrl_c_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let file = d.join("large.mbox");
    mbox(&file, 150_000, 2000);
    let (t, status) = on_terminal(
        "progress",
        d,
        "New-MailboxImportRequest -Mailbox alice -FilePath large.mbox",
    );
    let screen = t.wait_for_within("ETA", 60);
    assert!(screen.contains("Importing into alice"), "{screen}");
    assert!(
        screen.contains("296.87 MiB"),
        "the size of the file: {screen}"
    );
    // Under way: a batch committed and the bar moved on.
    let start = Instant::now();
    while count_rows(d) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no batch: {}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let screen = t.wait_for("B/s");
    assert!(screen.contains("ETA"), "{screen}");
    // Ctrl-C at the terminal, as an operator presses it.
    t.press("C-c");
    let rc = exit_line(&t, &status);
    let screen = t.screen();
    if rc == "rc=0" {
        eprintln!("note: the import finished before Ctrl-C reached it");
        return;
    }
    assert_eq!(rc, "rc=130", "{screen}");
    assert!(
        screen.contains("Stopping after the current step"),
        "{screen}"
    );
    assert!(screen.contains("was interrupted"), "{screen}");
    let kept = item_count(d);
    assert!(kept < 150_000, "{kept}");
}

#[test]
fn on_a_terminal_a_move_shows_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let file = d.join("large.mbox");
    mbox(&file, 3000, 200);
    let out = import(d, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (t, status) = on_terminal("move", d, "New-MoveRequest alice");
    let screen = t.wait_for_within("Moving alice", 60);
    assert!(screen.contains("/3000 "), "items of the mailbox: {screen}");
    assert!(screen.contains("/s ETA"), "a rate and an ETA: {screen}");
    let rc = exit_line(&t, &status);
    assert_eq!(rc, "rc=0", "{}", t.screen());
}

#[test]
fn on_a_terminal_a_long_pipeline_shows_its_progress_and_ctrl_c_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names: Vec<String> = (0..3000).map(|i| format!("'s{i:04}'")).collect();
    let out = custkey(d)
        .args([
            "-Command",
            &format!("{} | New-Mailbox -Shared | Out-Null", names.join(", ")),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = d.join("p.ps1");
    std::fs::write(
        &script,
        "Get-Mailbox -ResultSize Unlimited | Get-MailboxStatistics | Out-Null\n'finished'\n",
    )
    .unwrap();
    let (t, status) = on_terminal("pipeline", d, "-File p.ps1");
    let screen = t.wait_for_within("Get-MailboxStatistics over 3000 objects", 60);
    assert!(screen.contains("/3000"), "{screen}");
    t.press("C-c");
    let rc = exit_line(&t, &status);
    let screen = t.screen();
    if rc == "rc=0" {
        eprintln!("note: the pipeline finished before Ctrl-C reached it");
        return;
    }
    assert_eq!(rc, "rc=130", "{screen}");
    assert!(screen.contains("was interrupted after"), "{screen}");
    assert!(!screen.contains("finished"), "the script went on: {screen}");
}

#[test]
fn on_a_terminal_an_export_shows_its_progress_and_ctrl_c_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let file = d.join("large.mbox");
    mbox(&file, 60_000, 2000);
    let out = import(d, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (t, status) = on_terminal(
        "export",
        d,
        "New-MailboxExportRequest -Mailbox alice -FilePath out.mbox",
    );
    let screen = t.wait_for_within("Exporting alice", 60);
    assert!(screen.contains("/60000"), "{screen}");
    t.press("C-c");
    let rc = exit_line(&t, &status);
    if rc == "rc=0" {
        eprintln!("note: the export finished before Ctrl-C reached it");
        assert!(d.join("out.mbox").exists());
        return;
    }
    let screen = t.screen();
    assert_eq!(rc, "rc=130", "{screen}");
    assert!(screen.contains("was interrupted after"), "{screen}");
    // An mbox is written whole or not at all: no file, no temporary file left.
    let left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out.mbox"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
