//! The completion engine through the binary's hidden `__complete` command, and the shims.

use std::process::Command;

/// The configuration directory of these tests: never ~/.config, never in a data directory.
fn config_dir(_data_dir: &std::path::Path) -> std::path::PathBuf {
    // Shared by the cases (key files are named by each data directory's id), under target/.
    std::path::PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"))
}

fn complete(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .arg("__complete")
        .arg("--")
        .args(words)
        .env("CUSTKEY_STORE", dir.path().join("none.db"))
        .env("CUSTKEY_CONFIG_DIR", config_dir(dir.path()))
        .output()
        .expect("run custkey");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !dir.path().join("none.db").exists(),
        "completion created a store"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn cmdlet_names() {
    assert_eq!(complete(&["Get-Org"]), ["Get-OrganizationConfig"]);
    assert_eq!(complete(&["set-o"]), ["Set-OrganizationConfig"]);
    let all = complete(&[""]);
    assert!(all.contains(&"Get-Command".to_string()) && all.contains(&"Get-Help".to_string()));
    assert!(complete(&["Frob"]).is_empty());
}

#[test]
fn parameter_names_skip_those_already_given() {
    assert_eq!(
        complete(&["Set-OrganizationConfig", "-D"]),
        ["-DataPurgeApprovers", "-DefaultGeo", "-DataDir"]
    );
    assert_eq!(
        complete(&["Set-OrganizationConfig", "-DefaultGeo", "EUR", "-D"]),
        ["-DataPurgeApprovers", "-DataDir"]
    );
    assert_eq!(
        complete(&["Set-OrganizationConfig", "--def"]),
        ["--default-geo"]
    );
    let common = complete(&["Get-OrganizationConfig", "-"]);
    for p in [
        "-Store",
        "-Format",
        "-Property",
        "-WhatIf",
        "-Confirm",
        "-Verbose",
    ] {
        assert!(
            common.contains(&p.to_string()),
            "{p} missing from {common:?}"
        );
    }
}

#[test]
fn values() {
    assert_eq!(
        complete(&["Set-OrganizationConfig", "-DefaultGeo", "e"]),
        ["ESP", "EUR"]
    );
    assert_eq!(
        complete(&["Set-OrganizationConfig", "-Sub", ""]),
        ["Paid", "Trial"]
    );
    assert_eq!(
        complete(&["Set-OrganizationConfig", "-PassThru:"]),
        ["-PassThru:$true", "-PassThru:$false"]
    );
    assert_eq!(
        complete(&["Get-Help", "Set-Org"]),
        ["Set-OrganizationConfig"]
    );
    assert_eq!(complete(&["Get-Help", "about"]), ["about_CommonParameters"]);
    assert_eq!(complete(&["Get-Command", "-Format", "j"]), ["Json"]);
}

#[test]
fn the_bash_shim_completes_through_the_engine() {
    let Ok(bash) = which("bash") else { return };
    let shim = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/custkey.bash");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_custkey"))
        .parent()
        .unwrap()
        .to_path_buf();
    let script = format!(
        "source {shim}; COMP_LINE='custkey Set-OrganizationConfig -Def'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(custkey Set-OrganizationConfig -Def); COMP_CWORD=2; _custkey custkey -Def Set-OrganizationConfig; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(bash)
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-DefaultGeo\n",
        "{out:?}"
    );
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.exists())
        })
        .ok_or(())
}

#[test]
fn object_names_come_from_the_store_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
            .args(args)
            .env("CUSTKEY_STORE", &store)
            .env("CUSTKEY_CONFIG_DIR", config_dir(dir.path()))
            .env("CUSTKEY_KEYRING", "off")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["New-Mailbox", "alice"]);
    run(&["New-Mailbox", "Albert Shared", "-Shared"]);
    run(&["New-MailUser", "bob", "-ExternalEmailAddress", "bob@x.com"]);
    run(&["Set-AzContext", "s1"]);
    run(&["New-AzKeyVault", "contoso-va1", "rg", "westus"]);
    let before = std::fs::read(&store).unwrap();
    // Names and aliases (and display names) alike.
    let got = run(&["__complete", "--", "Set-Mailbox", "-Identity", "al"]);
    assert_eq!(got, "'Albert Shared'\nalbertshared\nalice\n");
    let got = run(&["__complete", "--", "Get-Mailbox", ""]);
    assert_eq!(got, "'Albert Shared'\nalbertshared\nalice\n");
    let got = run(&["__complete", "--", "Get-MailUser", "-Identity", ""]);
    assert_eq!(got, "bob\n");
    let got = run(&["__complete", "--", "Get-AzKeyVaultKey", "-VaultName", "con"]);
    assert_eq!(got, "contoso-va1\n");
    // The Teams meeting and presence cmdlets complete -UserId from the users.
    let got = run(&["__complete", "--", "Get-MgUserPresence", "ali"]);
    assert_eq!(got, "alice\n");
    let got = run(&[
        "__complete",
        "--",
        "Add-CustomerKeyMeetingRecording",
        "-UserId",
        "bo",
    ]);
    assert_eq!(got, "bob\n");
    assert_eq!(std::fs::read(&store).unwrap(), before);
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    // The read end is closed before custkey writes: every write gets EPIPE.
    for args in [
        vec!["__complete", "--", ""],
        vec!["Get-Help", "New-DataEncryptionPolicy", "-Full"],
        vec!["Get-Command"],
        vec!["--version"],
        vec!["New-DataEncryptionPolicy", "-?"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_custkey"))
            .args(&args)
            .env("CUSTKEY_STORE", dir.path().join("s.db"))
            .env(
                "CUSTKEY_CONFIG_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
            )
            .env("CUSTKEY_KEYRING", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
