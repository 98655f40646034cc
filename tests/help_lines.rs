//! Every error the service layer makes for an operator carries a `help:` line saying what to do.
//! The check reads the source: each `Error::new(..)`, `Error::rule(..)` or `Error::invalid(..)`
//! must be followed by `.with_help(..)`, but for the few listed here, which are never shown as
//! they are (internal invariants, or errors that copy the help of the error they wrap).

const NOT_SHOWN: &[&str] = &[
    // content.rs: the marker for an item deleted during an export (never printed).
    "\"deleted\"",
    // content.rs: an error said of one item, which takes the help of the error it wraps.
    "message {seq:06} (item {item_id}) {what}",
    // dep.rs: a key test's row (Test-* prints a table, not an error).
    "e.message().to_string()",
    // Rows read in the same transaction that wrote them (unreachable).
    "the organization row vanished",
    "TIK vanished",
];

#[test]
fn every_service_error_has_a_help_line() {
    let mut missing = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/service");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for ctor in ["Error::new(", "Error::rule(", "Error::invalid("] {
            let mut from = 0;
            while let Some(at) = src[from..].find(ctor) {
                let start = from + at;
                // `io::Error::new` and the like are not the service's errors.
                if src[..start].ends_with("::") {
                    from = start + ctor.len();
                    continue;
                }
                let mut depth = 1;
                let mut i = start + ctor.len();
                let bytes = src.as_bytes();
                while depth > 0 && i < bytes.len() {
                    match bytes[i] {
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                let call = &src[start..i];
                let rest = src[i..].trim_start();
                if !rest.starts_with(".with_help") && !NOT_SHOWN.iter().any(|n| call.contains(n)) {
                    let line = src[..start].matches('\n').count() + 1;
                    missing.push(format!(
                        "{}:{line}: {}",
                        f.display(),
                        call.replace('\n', " ")
                    ));
                }
                from = i;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "errors without a help line:\n{}",
        missing.join("\n")
    );
}

/// The first example of New-DataEncryptionPolicy, exactly as `Get-Help` prints it, creates the
/// policy once the vaults and keys it names exist.
#[test]
fn the_new_dep_help_example_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_custkey"))
            .args(args)
            .current_dir(d)
            .env("CUSTKEY_STORE", d.join("service.db"))
            .env(
                "CUSTKEY_CONFIG_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
            )
            .env("CUSTKEY_KEYRING", "off")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap()
    };
    let setup = "foreach ($v in @(@('s1','contosowestusvault01','USA-Key-01','westus'), @('s2','contosocentralusvault01','USA-Key-02','centralus'))) {\n\
        Set-AzContext -Subscription $v[0] | Out-Null\n\
        Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources | Out-Null\n\
        New-AzKeyVault -VaultName $v[1] -ResourceGroupName rg -Location $v[3] -Sku Premium | Out-Null\n\
        Set-AzKeyVaultAccessPolicy -VaultName $v[1] -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000 -PermissionsToKeys wrapKey,unwrapKey,get\n\
        Add-AzKeyVaultKey -VaultName $v[1] -Name $v[2] -Destination HSM | Out-Null\n}\n";
    std::fs::write(d.join("setup.ps1"), setup).unwrap();
    let out = run(&["-File", "setup.ps1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = run(&["Get-Help", "New-DataEncryptionPolicy", "-Examples"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let line = help
        .lines()
        .find_map(|l| l.trim().strip_prefix("PS> custkey "))
        .expect("an example");
    // The example's words, as a shell splits them (double quotes group).
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    words.push(cur);
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let out = run(&args);
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("US Mailboxes"));
}
