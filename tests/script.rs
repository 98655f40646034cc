//! Scripts through the real binary: the examples/ runbook end to end, a script on standard
//! input, one context for a whole pipeline, and the interactive shell driven through a
//! pseudo-terminal (tmux).

use std::io::Write;
use std::path::{Path, PathBuf};
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
        .env_remove("CUSTKEY_VAULT_KEY")
        .env_remove("CUSTKEY_VAULT_PASSPHRASE")
        .env_remove("CUSTKEY_SERVICE_KEY")
        .env_remove("COLUMNS");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = custkey(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run custkey");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write the script");
    child.wait_with_output().expect("wait for custkey")
}

#[test]
fn the_examples_runbook_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/setup.ps1");
    let out = custkey(dir.path())
        .args(["-File", script.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("vault contoso-ck-va2 and key Key002 ready in Contoso-CK-Sub2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("DEP US Mailboxes is Active with 2 keys"),
        "{stdout}"
    );
    assert!(stdout.contains("IsEncrypted            : True"), "{stdout}");
    assert!(dir.path().join("Key001.backup").exists());

    // What the runbook built, read back with single cmdlets.
    let stats = custkey(dir.path())
        .args(["Get-MailboxStatistics", "-Format", "Json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|s| s["IsEncrypted"] == true), "{v}");
    let alice = all.iter().find(|s| s["DisplayName"] == "alice").unwrap();
    assert_eq!(alice["ItemCount"], 2);
    let lic = custkey(dir.path())
        .args([
            "Get-Mailbox",
            "bob",
            "-Property",
            "Licenses",
            "-Format",
            "Json",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&lic.stdout).contains("SPE_E5"));
}

/// The other two runbooks of examples/, after the setup runbook, on the same store.
#[test]
fn the_multi_workload_and_sharepoint_runbooks_run_after_setup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let run = |name: &str| {
        let out = custkey(d)
            .args([
                "-File",
                examples.join(name).to_str().unwrap(),
                d.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
        stdout
    };
    run("setup.ps1");
    let mw = run("multi-workload.ps1");
    assert!(
        mw.contains("room1 is protected by Contoso Global (M365)"),
        "{mw}"
    );
    assert!(
        mw.contains("the chat message is protected by Contoso Global"),
        "{mw}"
    );
    // The setup runbook's mailboxes keep their mailbox DEP.
    let alice = custkey(d)
        .args(["Get-MailboxStatistics", "alice", "-Format", "Json"])
        .output()
        .unwrap();
    let alice: serde_json::Value = serde_json::from_slice(&alice.stdout).unwrap();
    assert_eq!(alice[0]["EncryptionPolicy"], "US Mailboxes");

    let spo = run("sharepoint.ps1");
    assert!(spo.contains("State           : Registered"), "{spo}");
    assert!(spo.contains("geo NAM is Registered with primary key https://contoso-ck-sp1.vault.azure.net/keys/SPKey01/"), "{spo}");
    assert_eq!(
        std::fs::read(d.join("q3.eml")).unwrap(),
        std::fs::read(examples.join("mail/q3.eml")).unwrap()
    );
}

#[test]
fn a_script_on_standard_input_runs_and_empty_input_prints_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stdin(
        dir.path(),
        &[],
        "New-Mailbox -Name Alice -Alias alice | Out-Null\n$n = Get-Mailbox | Measure-Object\n\"count: $($n.Count)\"\n",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "count: 1\n");

    let out = with_stdin(dir.path(), &[], "Get-Mailbox\nGet-Mailbox | | x\n");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout.is_empty(),
        "a script with a syntax error runs nothing: {stdout}"
    );
    assert!(stderr.starts_with("error: <stdin>:2:15: "), "{stderr}");

    let out = with_stdin(dir.path(), &[], "  \n");
    assert!(out.status.success());
    assert!(text(&out)
        .0
        .starts_with("custkey: service encryption with Customer Key"));

    // -Command - reads the script from standard input too.
    let out = with_stdin(
        dir.path(),
        &["-Command", "-"],
        "Get-Mailbox alice | % Alias",
    );
    assert_eq!(text(&out).0, "alice\n");
}

#[test]
fn a_whole_pipeline_shares_one_store_and_key_cache() {
    let dir = tempfile::tempdir().unwrap();
    let script = "'a1','a2','a3','a4','a5','a6','a7','a8' | ForEach-Object { New-Mailbox -Name $_ -Verbose } | Out-Null\n\
                  Get-Mailbox -Verbose | Set-Mailbox -DisplayName Renamed -Verbose\n\
                  Get-Mailbox | Where-Object DisplayName -eq Renamed | Measure-Object | Select-Object -ExpandProperty Count";
    let out = custkey(dir.path())
        .args(["-Command", script])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "8\n");
    assert_eq!(
        stderr.matches("VERBOSE: opening the store").count(),
        1,
        "the store is opened once for the whole script:\n{stderr}"
    );
}

/// A tmux server of its own, killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "shell"]).stdout)
            .into_owned()
    }
    fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the screen never showed {what:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn the_interactive_shell_completes_runs_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("service.db");
    let bin = env!("CARGO_BIN_EXE_custkey");
    let tmux = Tmux {
        socket: format!("custkey-test-{}", std::process::id()),
    };
    let status = dir.path().join("status");
    let shell = format!(
        "env CUSTKEY_STORE='{}' CUSTKEY_CONFIG_DIR='{}' CUSTKEY_KEYRING=off TERM=xterm '{bin}'; echo $? > '{}'; sleep 30",
        store.display(),
        concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        status.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "shell",
        "-x",
        "150",
        "-y",
        "40",
        &shell,
    ]);
    assert!(out.status.success(), "{out:?}");
    tmux.wait_for("PS custkey>");

    // Tab completes a cmdlet name through the completion engine.
    tmux.cmd(&["send-keys", "-t", "shell", "-l", "Get-OrganizationCon"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Tab"]);
    tmux.wait_for("PS custkey> Get-OrganizationConfig");
    tmux.cmd(&["send-keys", "-t", "shell", "-l", " -Property Name"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    tmux.wait_for("Name : contoso.onmicrosoft.com");

    // An unfinished line continues on the next one.
    tmux.cmd(&["send-keys", "-t", "shell", "-l", "'n=' + (Get-Mailbox |"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    tmux.cmd(&["send-keys", "-t", "shell", "-l", "Measure-Object).Count"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    tmux.wait_for("n=0");

    // A pipeline, and a failure that does not end the shell.
    tmux.cmd(&["send-keys", "-t", "shell", "-l", "Get-Mailbox nobody"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    tmux.wait_for("error: <shell>:1:1:");
    tmux.cmd(&["send-keys", "-t", "shell", "-l", "\"ok: $?\""]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    tmux.wait_for("ok: False");

    tmux.cmd(&["send-keys", "-t", "shell", "-l", "exit"]);
    tmux.cmd(&["send-keys", "-t", "shell", "Enter"]);
    let start = Instant::now();
    while !status.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the shell did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");

    // History is saved, owner-only.
    let history = dir.path().join("history");
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("Get-OrganizationConfig -Property Name"), "{h}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&history).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn a_pipeline_of_assignments_unwraps_each_dep_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/setup.ps1");
    let out = custkey(d)
        .args(["-File", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    // The vaults' audit logs count every RSA unwrap of a DEP key.
    let unwraps = || -> i64 {
        let out = custkey(d)
            .args([
                "-Command",
                "@(Get-AzKeyVaultAuditLog contoso-ck-va1 -Operation UnwrapKey) + @(Get-AzKeyVaultAuditLog contoso-ck-va2 -Operation UnwrapKey) | Measure-Object | Select-Object -ExpandProperty Count",
            ])
            .output()
            .unwrap();
        text(&out).0.trim().parse().unwrap()
    };
    let before = unwraps();
    let script = "$names = 'm01','m02','m03','m04','m05','m06','m07','m08','m09','m10','m11','m12'\n\
                  $names | ForEach-Object { New-Mailbox -Name $_ } | Out-Null\n\
                  $names | ForEach-Object { Set-MgUserLicense -UserId $_ -AddLicenses SPE_E5 } | Out-Null\n\
                  Get-Mailbox -Filter \"Name -like 'm*'\" | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'\n\
                  Get-MailboxStatistics | Where-Object { $_.DisplayName -like 'm*' -and $_.IsEncrypted } | Measure-Object | Select-Object -ExpandProperty Count";
    let out = custkey(d).args(["-Command", script]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "12\n");
    assert_eq!(
        unwraps() - before,
        2,
        "twelve assignments in one script, one unwrap per customer key"
    );
}

#[test]
fn an_assigned_expression_keeps_its_array_and_plus_equals_appends() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stdin(
        dir.path(),
        &["-Command", "-"],
        "$ids = @()\nforeach ($v in @('a','b')) { $ids += \"x$v\" }\n$ids.Count\n$one = @(1)\n$one.Count\n$n = 5\n$n += 2\n$n\n",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "2\n1\n7\n", "{stderr}");
}

#[test]
fn a_failing_argument_ends_its_statement_and_the_script_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup = "Set-AzContext -Subscription s1 | Out-Null\n\
                 New-AzKeyVault -VaultName va1 -ResourceGroupName rg -Location westus -Sku Premium | Out-Null\n";
    let out = with_stdin(d, &["-Command", "-"], setup);
    assert!(out.status.success(), "{}", text(&out).1);
    let script = "$ErrorActionPreference = 'Continue'\n\
                  Add-AzKeyVaultKey -VaultName va1 -Name k1 -Destination HSM -NotBefore (Get-Date \"bad\")\n\
                  foreach ($n in @('k2', 'k3')) { New-Mailbox -Name (Get-Date $n) ; \"looped $n\" }\n\
                  'after'\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert!(stderr.contains("Cannot convert value"), "{stderr}");
    assert!(
        !stderr.contains("Premium"),
        "the outer cmdlet ran: {stderr}"
    );
    // The statement ended: no key was made without its -NotBefore; the next statements ran.
    assert!(
        stdout.contains("looped k2") && stdout.contains("looped k3") && stdout.contains("after"),
        "{stdout}\n{stderr}"
    );
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "Get-AzKeyVaultKey -VaultName va1 -Name k1\n",
    );
    assert!(
        !out.status.success(),
        "the key was created: {}",
        text(&out).0
    );
    let out = with_stdin(d, &["-Command", "-"], "(Get-Mailbox).Count\n");
    assert_eq!(
        text(&out).0.trim(),
        "0",
        "mailboxes were created from failed names"
    );
    // Under Stop (the default) the first failure ends the script.
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "New-Mailbox -Name (Get-Date 'bad')\n'not reached'\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out).0.contains("not reached"));
}

#[test]
fn hashtables_and_graph_licence_ids_as_the_guides_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "New-Mailbox -Name alice | Out-Null\n\
                  $h = @{ SkuId = '06ebc4ee-1bb5-47dd-8120-11324bc54e06'; Note = 'x'\n  Empty = @() }\n\
                  $h.SkuId\n\
                  $h.Empty.Count\n\
                  Set-MgUserLicense -UserId alice -AddLicenses @{SkuId = \"06ebc4ee-1bb5-47dd-8120-11324bc54e06\"} -RemoveLicenses @() | Out-Null\n\
                  (Get-MgUserLicenseDetail alice).SkuPartNumber\n\
                  Set-MgUserLicense -UserId alice -AddLicenses c7df2760-2c81-4ef7-b578-5b5392b571df -RemoveLicenses SPE_E5 | Out-Null\n\
                  (Get-MgUserLicenseDetail alice).SkuPartNumber\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout, "06ebc4ee-1bb5-47dd-8120-11324bc54e06\n0\nSPE_E5\nENTERPRISEPREMIUM\n",
        "{stderr}"
    );
    // A malformed hashtable is a syntax error; nothing runs.
    for (bad, why) in [
        ("$h = @{ a = 1; a = 2 }", "the key 'a' twice"),
        ("$h = @{ a 1 }", "expected '=' after the hashtable key 'a'"),
        ("$h = @{ a = 1", "found the end of the script"),
    ] {
        let out = with_stdin(d, &["-Command", "-"], bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out).1.contains(why), "{bad}: {}", text(&out).1);
    }
}

#[test]
fn ranges_of_whole_numbers_as_powershell_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "$a = 1..3\n$a.Count\n3..1 | ForEach-Object { \"n$_\" }\n(1..250 | ForEach-Object { \"m$_\" }) | New-Mailbox -Shared | Out-Null\n(Get-Mailbox -ResultSize Unlimited).Count\n",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "3\nn3\nn2\nn1\n250\n", "{stderr}");
    // Bounded: a range past what a script value holds is refused before anything runs.
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "New-Mailbox x\n@(1..1000000).Count\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("gives more than 500000 numbers"),
        "{}",
        text(&out).1
    );
}

#[test]
fn write_output_goes_down_the_pipeline_and_write_host_to_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "$v = 'va1'\nWrite-Output \"vault $v ready\"\nWrite-Host 'shown' | Out-Null\n$a = Write-Host 'also shown'\n\"a=[$a]\"\nWrite-Host 'a','b' -Separator '-' -NoNewline\nWrite-Host '!'\n(Write-Output 1,2).Count\n",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout, "vault va1 ready\nshown\nalso shown\na=[]\na-b!\n2\n",
        "{stderr}"
    );
}

#[test]
fn hashtable_keys_without_spaces_as_powershell_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "New-Mailbox -Name alice | Out-Null\n\
                  $h = @{Name='a';Value=1}\n\
                  \"$($h.Name) $($h.Value)\"\n\
                  Set-MgUserLicense -UserId alice -AddLicenses @{SkuId=\"06ebc4ee-1bb5-47dd-8120-11324bc54e06\"} -RemoveLicenses @() | Out-Null\n\
                  (Get-MgUserLicenseDetail alice).SkuPartNumber\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "a 1\nSPE_E5\n", "{stderr}");
}

#[test]
fn switch_statements_pick_clauses_as_powershell_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "foreach ($v in 'contoso-ck-va1', 'contoso-ck-eu2', 'other') {\n\
                  \x20 switch -Wildcard ($v) {\n\
                  \x20   '*-va*' { \"US $_\" }\n\
                  \x20   '*-eu*' { \"EU $_\" }\n\
                  \x20   default { \"skip $_\" }\n\
                  \x20 }\n\
                  }\n\
                  switch ('b') { 'a' { 'A' } 'B' { 'B'; break } 'b' { 'never' } }\n\
                  switch -Regex ('Key002') { '^key0+(\\d)$' { 'regex' } }\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout, "US contoso-ck-va1\nEU contoso-ck-eu2\nskip other\nB\nregex\n",
        "{stderr}"
    );
    // A switch without its block is a syntax error that names what is missing.
    let out = with_stdin(d, &["-Command", "-"], "switch ($x) 'a'\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("expected '{'"), "{}", text(&out).1);
}

#[test]
fn method_calls_on_strings_arrays_and_dates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = "$keys = 'Key001, Key002'.Split(',')\n\
                  $keys.Count\n\
                  $keys[1].Trim().ToLower()\n\
                  'contoso-ck-va1'.ToUpper().Replace('-', '_')\n\
                  'contoso-ck-va1'.Substring(11, 3)\n\
                  @('a', 'b').Contains('b')\n\
                  'https://x.vault.azure.net/keys/k'.StartsWith('https://')\n\
                  (Get-Date -Date '2026-01-01').AddDays(30).AddHours(12)\n\
                  Get-Date -Date (Get-Date -Date '12/31/2026').AddYears(1)\n\
                  \"Key001-$((Get-Date -Date '2026-12-01 09:30').ToString('yyyyMMdd-HHmm')).backup\"\n\
                  $d = Get-Date -Date '12/31/9999'; \"$($d.Year) $($d.DayOfWeek) $($d.Month)\"\n\
                  'x'.NoSuch(1)\n\
                  'not reached'\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        stdout,
        "2\nkey002\nCONTOSO_CK_VA1\nva1\nTrue\nTrue\n2026-01-31T12:00:00Z\n2027-12-31T00:00:00Z\nKey001-20261201-0930.backup\n9999 Friday 12\n",
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[System.String] does not contain a method named 'NoSuch'"),
        "{stderr}"
    );
}

#[test]
fn the_guides_soft_delete_sequence_runs_on_a_new_vault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The setup guide's lines, unchanged, on a vault New-AzKeyVault made (soft delete is on).
    let script = "New-AzKeyVault -VaultName contoso-ck-va1 -ResourceGroupName rg1 -Location westus | Out-Null\n\
                  $v = Get-AzKeyVault -VaultName contoso-ck-va1\n\
                  $r = Get-AzResource -ResourceId $v.ResourceId\n\
                  $r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value 'True'\n\
                  Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties | Out-Null\n\
                  \"$($r.ResourceType) $($r.Name) $($r.Properties.enableSoftDelete) $($r.Properties.softDeleteRetentionInDays) $($r.ResourceId -eq $v.ResourceId)\"\n\
                  # Purge protection the same way: -WhatIf changes nothing, then it is on.\n\
                  $r.Properties | Add-Member -MemberType NoteProperty -Name enablePurgeProtection -Value 'True'\n\
                  Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties -WhatIf\n\
                  (Get-AzKeyVault -VaultName contoso-ck-va1).EnablePurgeProtection\n\
                  (Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties).Properties.enablePurgeProtection\n\
                  (Get-AzKeyVault -VaultName contoso-ck-va1).EnablePurgeProtection\n";
    let out = with_stdin(d, &["-Command", "-"], script);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout, "Microsoft.KeyVault/vaults contoso-ck-va1 True 90 True\nFalse\nTrue\nTrue\n",
        "{stderr}"
    );
    assert!(
        stderr.contains("What if: Performing the operation \"Set resource properties: enablePurgeProtection = true\""),
        "{stderr}"
    );
    // What Azure never changes afterwards is refused, with what to do, and nothing changes.
    let get = "$r = Get-AzResource -ResourceId (Get-AzKeyVault contoso-ck-va1).ResourceId\n";
    for (change, why) in [
        (
            "$r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value $false -Force",
            "soft delete cannot be turned off",
        ),
        (
            "$r.Properties.enablePurgeProtection = $false",
            "purge protection cannot be turned off",
        ),
        (
            "$r.Properties.softDeleteRetentionInDays = 30",
            "is 90 days, set when it was made",
        ),
        (
            "$r.Properties | Add-Member -NotePropertyName enableFoo -NotePropertyValue 1",
            "no property 'enableFoo'",
        ),
        (
            "$r.Properties.sku = @{family = 'A'; name = 'premium'}",
            "New-AzKeyVault -Sku Premium",
        ),
    ] {
        let s = format!("{get}{change}\nSet-AzResource -ResourceId $r.ResourceId -Properties $r.Properties\n");
        let out = with_stdin(d, &["-Command", "-"], &s);
        assert_ne!(out.status.code(), Some(0), "{change}");
        assert!(text(&out).1.contains(why), "{change}: {}", text(&out).1);
    }
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "(Get-AzKeyVault contoso-ck-va1).EnablePurgeProtection\n(Get-AzResource -ResourceId (Get-AzKeyVault contoso-ck-va1).ResourceId).Properties.softDeleteRetentionInDays\n",
    );
    assert_eq!(text(&out).0, "True\n90\n", "{}", text(&out).1);
    // -Tag replaces the tags (-WhatIf first: nothing changes); without a change it is refused.
    let out = with_stdin(
        d,
        &["-Command", "-"],
        "$id = (Get-AzKeyVault contoso-ck-va1).ResourceId\n\
         Set-AzResource -ResourceId $id -Tag @{env = 'prod'} -WhatIf\n\
         (Get-AzKeyVault contoso-ck-va1).Tags.env -eq $null\n\
         (Set-AzResource -ResourceId $id -Tag @{env = 'prod'; team = 7}).Tags.team\n\
         (Get-AzKeyVault contoso-ck-va1).Tags.env\n\
         Set-AzResource -ResourceId $id\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert_eq!(text(&out).0, "True\n7\nprod\n", "{}", text(&out).1);
    assert!(
        text(&out).1.contains("\"Set resource properties: tags\"")
            && text(&out)
                .1
                .contains("Set-AzResource was given nothing to change"),
        "{}",
        text(&out).1
    );
    // On the command line, -Properties is JSON text; another resource type is not custkey's.
    let id = text(&with_stdin(
        d,
        &["-Command", "-"],
        "(Get-AzKeyVault contoso-ck-va1).ResourceId\n",
    ))
    .0;
    let out = custkey(d)
        .args([
            "Set-AzResource",
            "-ResourceId",
            id.trim(),
            "-Properties",
            r#"{"enableSoftDelete": true}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let out = custkey(d)
        .args([
            "Get-AzResource",
            "-ResourceId",
            "/subscriptions/0/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("Microsoft.Storage/storageAccounts"),
        "{}",
        text(&out).1
    );
}

/// Runs `lines` twice on fresh stores: as written (consecutive cmdlet lines go to the cmdlet's
/// batch form together) and with `; $sep = 0` after each line (every line on its own, as before
/// batching). Returns both runs' exit code, output, errors and resulting mailboxes.
fn batched_and_one_by_one(
    prelude: &str,
    lines: &[&str],
) -> [(Option<i32>, String, String, String); 2] {
    let run = |sep: &str| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut script = String::from(prelude);
        for l in lines {
            script.push_str(l);
            script.push_str(sep);
            script.push('\n');
        }
        std::fs::write(d.join("s.ps1"), &script).unwrap();
        let out = custkey(d).args(["-File", "s.ps1"]).output().unwrap();
        let (stdout, stderr) = text(&out);
        let after = custkey(d)
            .args([
                "-Command",
                "Get-Mailbox -ResultSize Unlimited | Select-Object Name,RecipientTypeDetails,DisplayName | ConvertTo-Json",
            ])
            .output()
            .unwrap();
        (out.status.code(), stdout, stderr, text(&after).0)
    };
    [run(""), run("; $sep = 0")]
}

#[test]
fn consecutive_cmdlet_lines_run_as_one_batch_with_each_lines_output_and_failure() {
    let lines = [
        "New-Mailbox -Name a1",
        "New-Mailbox -Name a2 -Shared | Out-Null",
        "New-Mailbox -Name $n -DisplayName \"Mailbox $n\"",
        "New-Mailbox a4 -Shared",
        "New-Mailbox -Name a1",
        "New-Mailbox -Name a5",
    ];
    // Under Stop (the default): the lines before the failing one are applied and printed, the
    // failure is reported at its own line, and nothing after it is applied.
    let [batched, single] = batched_and_one_by_one("$n = 'a3'\n", &lines);
    assert_eq!(
        batched, single,
        "the batched run differs from one line at a time"
    );
    let (code, stdout, stderr, after) = batched;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("s.ps1:6:1: The name 'a1' is already used"),
        "{stderr}"
    );
    assert!(
        stdout.contains("a1") && stdout.contains("a3") && stdout.contains("a4"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("a2"),
        "Out-Null's output was printed: {stdout}"
    );
    assert!(
        after.contains("Mailbox a3") && !after.contains("a5"),
        "{after}"
    );

    // Under Continue: every failure reported at its line (a binding failure inside the run
    // too), and the lines after each go on.
    let mut more = lines.to_vec();
    more.extend([
        "New-Mailbox -Name a6 -Shared -PublicFolder",
        "New-Mailbox -Name a7 -Nope x",
        "New-Mailbox -Name a8",
        "Set-Mailbox a8 -DisplayName 'Eight'",
        "Set-Mailbox nobody -DisplayName 'Nobody'",
        "Set-Mailbox a1 -DisplayName 'One'",
    ]);
    let [batched, single] =
        batched_and_one_by_one("$ErrorActionPreference = 'Continue'\n$n = 'a3'\n", &more);
    assert_eq!(
        batched, single,
        "the batched run differs from one line at a time"
    );
    let (code, stdout, stderr, after) = batched;
    assert_eq!(code, Some(0), "the last line succeeded: {stderr}");
    for at in ["s.ps1:7:1:", "s.ps1:9:1:", "s.ps1:10:", "s.ps1:13:1:"] {
        assert!(stderr.contains(at), "no failure reported at {at}: {stderr}");
    }
    assert!(stdout.contains("a5") && stdout.contains("a8"), "{stdout}");
    assert!(
        after.contains("Eight") && after.contains("\"One\""),
        "{after}"
    );
}

#[test]
fn az_context_objects_read_as_az_has_them_and_get_azsubscription_picks_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str| {
        let out = custkey(dir.path())
            .args(["-Command", script])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{script}\n{stdout}\n{stderr}");
        stdout
    };
    run("Set-AzContext -Subscription Contoso-CK-Sub1 | Out-Null; Set-AzContext -Subscription Contoso-CK-Sub2 | Out-Null");
    let ctx: serde_json::Value = serde_json::from_str(&run("Get-AzContext -Format Json")).unwrap();
    let (id, tenant) = (
        ctx["SubscriptionId"].as_str().unwrap(),
        ctx["TenantId"].as_str().unwrap(),
    );
    // The objects Az returns, and the flat properties beside them.
    assert_eq!(ctx["Subscription"]["Id"], id);
    assert_eq!(ctx["Subscription"]["Name"], "Contoso-CK-Sub2");
    assert_eq!(ctx["Subscription"]["TenantId"], tenant);
    assert_eq!(ctx["Subscription"]["State"], "Enabled");
    assert_eq!(ctx["Tenant"]["Id"], tenant);
    assert_eq!(ctx["Account"]["Id"], "admin@contoso.onmicrosoft.com");
    assert_eq!(ctx["SubscriptionName"], "Contoso-CK-Sub2");
    let lines = run(
        "$c = Get-AzContext; $c.Subscription.Id; $c.Subscription.Name; $c.Subscription.TenantId; \
         $c.Tenant.Id; $c.Account.Id; \"as text: $($c.Account) $($c.Environment)\"; \
         $c.Tenant -eq $c.TenantId",
    );
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [
            id,
            "Contoso-CK-Sub2",
            tenant,
            tenant,
            "admin@contoso.onmicrosoft.com",
            "as text: admin@contoso.onmicrosoft.com AzureCloud",
            "True"
        ]
    );
    // A table shows the objects as Az's view does: the account's id, not its properties.
    let table = run("Get-AzContext");
    assert!(
        table.contains("admin@contoso.onmicrosoft.com Contoso-CK-Sub2"),
        "{table}"
    );
    // Get-AzSubscription: all of them, one by name or id, those of a tenant (the Tenant
    // object binds as its id, as in Az's example).
    let names = run("(Get-AzSubscription).Name");
    assert!(
        names.contains("Contoso-CK-Sub1") && names.contains("Contoso-CK-Sub2"),
        "{names}"
    );
    assert_eq!(
        run("(Get-AzSubscription -SubscriptionName contoso-ck-sub2).Id").trim(),
        id
    );
    assert_eq!(
        run(&format!("(Get-AzSubscription -SubscriptionId {id}).Name")).trim(),
        "Contoso-CK-Sub2"
    );
    assert_eq!(
        run("(Get-AzSubscription -TenantId (Get-AzContext).Tenant).Count").trim(),
        run("(Get-AzSubscription).Count").trim()
    );
    assert_eq!(
        run("@(Get-AzSubscription -TenantId 00000000-0000-0000-0000-000000000000).Count").trim(),
        "0"
    );
    let out = custkey(dir.path())
        .args(["Get-AzSubscription", "-SubscriptionName", "Contoso-CK-Sub9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("Unable to find subscription with name 'Contoso-CK-Sub9'"),
        "{}",
        text(&out).1
    );
    let out = custkey(dir.path())
        .args([
            "Get-AzSubscription",
            "-SubscriptionName",
            "a",
            "-SubscriptionId",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn get_azkeyvault_lists_azs_labels_and_keeps_property_names() {
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str| {
        let out = custkey(dir.path())
            .args(["-Command", script])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{script}\n{stdout}\n{stderr}");
        stdout
    };
    run("New-AzKeyVault -VaultName va1 -ResourceGroupName rg1 -Location westus | Out-Null; \
         Set-AzKeyVaultAccessPolicy -VaultName va1 -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000");
    for script in ["Get-AzKeyVault -VaultName va1", "Get-AzKeyVault va1 | fl"] {
        let s = run(script);
        for label in [
            "Vault Name",
            "Soft Delete Enabled?                : True",
            "Access Policies",
            "Permissions to Keys : wrapKey, unwrapKey, get",
        ] {
            assert!(s.contains(label), "{script}: {label}\n{s}");
        }
        assert!(!s.contains("EnableSoftDelete"), "{s}");
    }
    assert_eq!(run("(Get-AzKeyVault va1).EnableSoftDelete").trim(), "True");
    assert!(run("Get-AzKeyVault va1 | fl EnableSoftDelete").contains("EnableSoftDelete : True"));
    let json: serde_json::Value =
        serde_json::from_str(&run("Get-AzKeyVault va1 -Format Json")).unwrap();
    let one = if json.is_array() { &json[0] } else { &json };
    assert_eq!(one["EnableSoftDelete"], true);
}
