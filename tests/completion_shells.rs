//! Completion in real shells: bash, zsh and fish under a terminal (tmux), with the generated
//! shims from completions/, typing and pressing Tab as a user does. Names with spaces and
//! apostrophes come out quoted for each shell, `-Enabled:` offers `$true`/`$false` (quoted),
//! path parameters complete files, every mailbox is seen (not a first page), aliases complete,
//! and bash adds the space after a completed word.

#[path = "common/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;

const CONFIG: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config");

fn have(shell: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {shell}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // CI installs every shell (.ci/run); a developer without one is told.
        assert!(
            std::env::var_os("CI").is_none(),
            "{shell} is not installed; .ci/run installs it"
        );
        eprintln!("SKIPPED: {shell} is not installed (apt-get install {shell})");
    }
    found
}

/// A store with "Pat O'Brien" (alias pob), 600 more mailboxes, and a file to complete.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut script = String::from("New-Mailbox -Name \"Pat O'Brien\" -Alias pob | Out-Null\n");
    for i in 0..600 {
        script.push_str(&format!("New-Mailbox mbx{i:03} | Out-Null\n"));
    }
    std::fs::write(d.join("mk.ps1"), script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(["-File", "mk.ps1"])
        .current_dir(d)
        .env("CUSTKEY_STORE", d.join("service.db"))
        .env("CUSTKEY_CONFIG_DIR", CONFIG)
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.join("example.toml"), "").unwrap();
    dir
}

fn shims() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("completions")
}

/// Starts `shell_cmd` in a terminal, in `d`, with custkey on PATH and the store set.
fn start(name: &str, d: &Path, shell_cmd: &str) -> tmux::Tmux {
    let bin = Path::new(env!("CARGO_BIN_EXE_custkey")).parent().unwrap();
    let cmd = format!(
        "cd '{}' && env -i HOME='{}' PATH='{}:/usr/local/bin:/usr/bin:/bin' TERM=xterm CUSTKEY_STORE='{}' CUSTKEY_CONFIG_DIR='{CONFIG}' CUSTKEY_KEYRING=off {shell_cmd}; sleep 60",
        d.display(),
        d.display(),
        bin.display(),
        d.join("service.db").display()
    );
    tmux::Tmux::start(name, 160, &cmd)
}

/// Types `typed`, presses Tab (then types `more` and Tab again, if given), types `X`, and waits
/// for the line to read `want` (which ends in ` X` where a space must follow).
fn case(t: &tmux::Tmux, prompt: &str, typed: &str, more: Option<&str>, want: &str) {
    t.type_text(typed);
    t.press("Tab");
    if let Some(m) = more {
        std::thread::sleep(std::time::Duration::from_millis(300));
        t.type_text(m);
        t.press("Tab");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.type_text("X");
    t.wait_for(&format!("{prompt}{want}"));
    t.press("C-c");
    std::thread::sleep(std::time::Duration::from_millis(200));
}

fn common_cases(t: &tmux::Tmux, prompt: &str, apostrophe: &str) {
    case(
        t,
        prompt,
        "custkey Get-OrganizationCon",
        None,
        "custkey Get-OrganizationConfig X",
    );
    case(
        t,
        prompt,
        "custkey Get-Mailbox 'Pat",
        None,
        &format!("custkey Get-Mailbox {apostrophe} X"),
    );
    case(
        t,
        prompt,
        "custkey Get-Mailbox po",
        None,
        "custkey Get-Mailbox pob X",
    );
    // Past the first 500 names.
    case(
        t,
        prompt,
        "custkey Get-Mailbox mbx599",
        None,
        "custkey Get-Mailbox mbx599 X",
    );
    // A path parameter completes files.
    case(
        t,
        prompt,
        "custkey Test-CustomerKeyConfiguration exam",
        None,
        "custkey Test-CustomerKeyConfiguration example.toml X",
    );
    // -Enabled: offers $true and $false, quoted for the shell.
    case(
        t,
        prompt,
        "custkey Set-DataEncryptionPolicy x -Enabled:",
        Some("f"),
        "custkey Set-DataEncryptionPolicy x -Enabled:\\$false X",
    );
}

#[test]
fn bash_completes_quoted_names_booleans_files_and_every_object() {
    if !have("bash") {
        return;
    }
    let dir = fixture();
    let d = dir.path();
    let rc = d.join("bashrc");
    std::fs::write(
        &rc,
        format!("PS1='$ '\nsource '{}/custkey.bash'\n", shims().display()),
    )
    .unwrap();
    let t = start(
        "bash",
        d,
        &format!("bash --noprofile --rcfile '{}' -i", rc.display()),
    );
    t.wait_for("$");
    common_cases(&t, "$ ", "'Pat O'\\''Brien'");
    // bash breaks words at ':'; the engine completes the whole -Enabled: token anyway.
    case(
        &t,
        "$ ",
        "custkey Set-DataEncryptionPolicy x -Enabled:$f",
        None,
        "custkey Set-DataEncryptionPolicy x -Enabled:\\$false X",
    );
}

#[test]
fn zsh_completes_quoted_names_booleans_files_and_every_object() {
    if !have("zsh") {
        return;
    }
    let dir = fixture();
    let d = dir.path();
    let zd = d.join("zdot");
    std::fs::create_dir(&zd).unwrap();
    std::fs::write(
        zd.join(".zshrc"),
        format!(
            "PROMPT='%% '\nautoload -Uz compinit && compinit -u -d '{}/dump'\nsource '{}/_custkey'\n",
            zd.display(),
            shims().display()
        ),
    )
    .unwrap();
    let t = start("zsh", d, &format!("ZDOTDIR='{}' zsh -i", zd.display()));
    t.wait_for_within("%", 30);
    common_cases(&t, "% ", "'Pat O'\\''Brien'");
    // An unquoted prefix of a quoted name: zsh quotes what it inserts.
    case(
        &t,
        "% ",
        "custkey Get-Mailbox Pat",
        None,
        "custkey Get-Mailbox Pat\\ O\\'Brien X",
    );
}

#[test]
fn fish_completes_quoted_names_booleans_files_and_every_object() {
    if !have("fish") {
        return;
    }
    let dir = fixture();
    let d = dir.path();
    let init = format!(
        "function fish_prompt; echo -n '> '; end; set -g fish_greeting; source '{}/custkey.fish'",
        shims().display()
    );
    let t = start("fish", d, &format!("fish --no-config -i -C \"{init}\""));
    t.wait_for(">");
    common_cases(&t, "> ", "'Pat O\\'Brien'");
}
