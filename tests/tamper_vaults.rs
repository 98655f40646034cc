//! Tamper suite, vault part: vault files rolled back to an older copy (refused), and one of a
//! DEP's two customer-key copies damaged (reads go on, with a warning; the test reports it).
//! Everything runs through the binary.

mod common;

use common::{Env, EXO};

const VAULTS: [&str; 2] = ["contoso-ck-va1", "contoso-ck-va2"];

fn vault_file(e: &Env, vault: &str) -> std::path::PathBuf {
    e.path(&format!("vaults/{vault}.vault"))
}

fn stderr_of(e: &Env, args: &[&str]) -> (Option<i32>, String) {
    let out = e.run(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A mailbox with mail in it, under a DEP over both vaults.
fn with_mail(e: &Env) -> std::path::PathBuf {
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.exports_same("alice", "out0", &mail);
    mail
}

#[test]
fn vault_files_copied_back_after_revocation_are_refused_until_accepted() {
    let e = Env::new();
    let mail = with_mail(&e);
    let saved: Vec<Vec<u8>> = VAULTS
        .iter()
        .map(|v| std::fs::read(vault_file(&e, v)).unwrap())
        .collect();
    for v in VAULTS {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    let err = e.fails(&["New-MailboxExportRequest", "alice", "out1"], 1);
    assert!(err.contains("AccessDenied"), "{err}");
    // The files from before the revocation, put back.
    for (v, bytes) in VAULTS.iter().zip(&saved) {
        std::fs::write(vault_file(&e, v), bytes).unwrap();
    }
    let err = e.fails(&["New-MailboxExportRequest", "alice", "out2"], 1);
    assert!(err.contains("was rolled back or replaced"), "{err}");
    assert!(
        VAULTS
            .iter()
            .any(|v| err.contains(&format!("key vault '{v}'"))),
        "{err}"
    );
    assert!(
        err.contains("help: restore the latest copy of vaults/"),
        "{err}"
    );
    assert!(!e.path("out2").join("a.eml").exists());
    // The management cmdlets refuse the old file too, and so does the policy test.
    let err = e.fails(&["Get-AzKeyVault", "-VaultName", VAULTS[0]], 1);
    assert!(
        err.contains("key vault 'contoso-ck-va1' was rolled back"),
        "{err}"
    );
    let err = e.fails(&["Get-AzKeyVaultKey", "-VaultName", VAULTS[1]], 1);
    assert!(
        err.contains("key vault 'contoso-ck-va2' was rolled back"),
        "{err}"
    );
    let err = e.fails(&["Test-DataEncryptionPolicy", "US Mailboxes"], 1);
    assert!(err.contains("RolledBack"), "{err}");
    // Still refused on a second try: nothing was recorded from the old files.
    e.fails(&["New-MailboxExportRequest", "alice", "out3"], 1);

    // A deliberate rollback, accepted per vault: needs confirmation, then is audited.
    let err = e.fails(
        &[
            "Update-AzKeyVault",
            "-VaultName",
            VAULTS[0],
            "-AcceptRollback",
        ],
        2,
    );
    assert!(err.contains("needs confirmation"), "{err}");
    for v in VAULTS {
        let (code, stderr) = stderr_of(
            &e,
            &[
                "Update-AzKeyVault",
                "-VaultName",
                v,
                "-AcceptRollback",
                "-Force",
            ],
        );
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("WARNING: key vault"), "{stderr}");
    }
    e.exports_same("alice", "out4", &mail);
    let accepted: Vec<_> = common::audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Accept Vault Rollback")
        .collect();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(
        accepted[0].1["AcceptedGeneration"].as_u64() < accepted[0].1["RecordedGeneration"].as_u64()
    );
}

#[test]
fn a_vault_file_copied_back_after_a_key_change_is_refused_by_the_vault_cmdlets() {
    let e = Env::new();
    e.key_vault("Contoso-CK-Sub1", VAULTS[0], "Key001", "westus", &[EXO]);
    let saved = std::fs::read(vault_file(&e, VAULTS[0])).unwrap();
    e.ok(&[
        "Update-AzKeyVaultKey",
        "-VaultName",
        VAULTS[0],
        "-Name",
        "Key001",
        "-Enable",
        "false",
    ]);
    std::fs::write(vault_file(&e, VAULTS[0]), &saved).unwrap();
    // Refused before anything is changed: the file stays the old one.
    let err = e.fails(
        &[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            VAULTS[0],
            "-PermissionsToKeys",
            "get",
            "-ServicePrincipalName",
            EXO,
        ],
        1,
    );
    assert!(err.contains("was rolled back or replaced"), "{err}");
    assert_eq!(std::fs::read(vault_file(&e, VAULTS[0])).unwrap(), saved);
}

/// Flips one byte in the middle of the slot-`slot` root wrap of the DEP, as a store writer
/// would (on either backend).
fn damage_root_wrap(e: &Env, slot: u32) {
    let rows = common::store_rows(
        e,
        "SELECT dep_guid, wrapped FROM dep_root_wrap WHERE slot = ?1",
        &[slot.into()],
    );
    for r in rows {
        let mut w = r[1].blob();
        w[100] ^= 0x01;
        common::store_exec_args(
            e,
            "UPDATE dep_root_wrap SET wrapped = ?1 WHERE dep_guid = ?2 AND slot = ?3",
            &[(&w).into(), (&r[0].text()).into(), slot.into()],
        );
    }
}

fn key_result<'a>(tests: &'a serde_json::Value, vault: &str) -> &'a serde_json::Value {
    tests
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["KeyId"].as_str().unwrap_or_default().contains(vault))
        .unwrap()
}

/// Test-DataEncryptionPolicy's report (it exits 1 when a key fails).
fn policy_test(e: &Env) -> serde_json::Value {
    let out = e.run(&[
        "Test-DataEncryptionPolicy",
        "US Mailboxes",
        "-Format",
        "Json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Exports succeed, each with a warning holding every one of `needles` (each run picks a first
/// key at random: the warning must come either way), and the mail comes out whole.
fn exports_warn(e: &Env, mail: &std::path::Path, needles: &[&str]) {
    for out in ["out1", "out2", "out3"] {
        let (code, stderr) = stderr_of(e, &["New-MailboxExportRequest", "alice", out]);
        assert_eq!(code, Some(0), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{n}: {stderr}");
        }
        assert_eq!(common::files(&e.path(out)), common::files(mail));
    }
}

#[test]
fn a_damaged_root_wrap_is_warned_about_and_fails_the_policy_test() {
    let e = Env::new();
    let mail = with_mail(&e);
    damage_root_wrap(&e, 1);
    exports_warn(
        &e,
        &mail,
        &[
            "WARNING: data encryption policy 'US Mailboxes': the copy of its key under https://contoso-ck-va2.vault.azure.net/keys/Key002/",
            "is damaged (the wrapped copy in the store",
        ],
    );
    let tests = policy_test(&e);
    assert_eq!(key_result(&tests, VAULTS[0])["Result"], "Success");
    assert_eq!(key_result(&tests, VAULTS[1])["Result"], "Damaged");
}

#[test]
fn a_damaged_vault_file_is_warned_about_and_fails_the_policy_test() {
    let e = Env::new();
    let mail = with_mail(&e);
    // Flip one hex digit inside the sealed payload of the first vault.
    let path = vault_file(&e, VAULTS[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 200;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &bytes).unwrap();
    exports_warn(
        &e,
        &mail,
        &[
            "WARNING: data encryption policy 'US Mailboxes': the copy of its key under https://contoso-ck-va1.vault.azure.net/keys/Key001/",
            "the vault file is damaged",
            "contoso-ck-va1.vault",
        ],
    );
    let tests = policy_test(&e);
    assert_eq!(key_result(&tests, VAULTS[0])["Result"], "Damaged");
    assert_eq!(key_result(&tests, VAULTS[1])["Result"], "Success");
}

#[test]
fn a_revoked_copy_is_not_reported_as_damage() {
    let e = Env::new();
    let mail = with_mail(&e);
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULTS[1],
        "-ServicePrincipalName",
        EXO,
    ]);
    let (code, stderr) = stderr_of(&e, &["New-MailboxExportRequest", "alice", "out1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("damaged"), "{stderr}");
    assert_eq!(common::files(&e.path("out1")), common::files(&mail));
}

#[test]
fn another_file_of_the_same_generation_is_refused() {
    use custkey::vault::{
        KeyPermission, KeyVault, LocalBackend, LocalPaths, MasterKeyOptions, Principal,
    };
    let e = Env::new();
    e.key_vault("Contoso-CK-Sub1", VAULTS[0], "Key001", "westus", &[EXO]);
    let saved = std::fs::read(vault_file(&e, VAULTS[0])).unwrap();
    // One more write through the service: it records that generation.
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULTS[0],
        "-UserPrincipalName",
        "auditor@contoso.com",
        "-PermissionsToKeys",
        "list",
    ]);
    // The older file back, and written once past the service's sight: the same generation as
    // the recorded one, but another file.
    std::fs::write(vault_file(&e, VAULTS[0]), &saved).unwrap();
    let opts = MasterKeyOptions {
        key_hex: None,
        passphrase: None,
        use_keyring: false,
        pkcs11_uri: None,
    };
    let backend = LocalBackend::open_with(
        LocalPaths::with_config_dir(e.dir.path(), e.config.path()),
        &opts,
        None,
    )
    .unwrap();
    backend
        .vault(VAULTS[0])
        .unwrap()
        .set_access_policy(
            &Principal::user("admin@contoso.onmicrosoft.com").unwrap(),
            &Principal::user("auditor@contoso.com").unwrap(),
            &[KeyPermission::Get],
        )
        .unwrap();
    let err = e.fails(&["Get-AzKeyVault", "-VaultName", VAULTS[0]], 1);
    assert!(
        err.contains("it holds another state of generation"),
        "{err}"
    );
}

/// Several processes writing one vault at once: each raises the generation, none may take
/// another's newer record for a rollback, and the record ends at the file's generation.
#[test]
fn concurrent_writers_of_one_vault_never_see_a_false_rollback() {
    let e = Env::new();
    e.key_vault("Contoso-CK-Sub1", VAULTS[0], "Key001", "westus", &[EXO]);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let e = &e;
                s.spawn(move || {
                    for j in 0..4 {
                        let user = format!("reader{i}x{j}@contoso.com");
                        let out = e.run(&[
                            "Set-AzKeyVaultAccessPolicy",
                            "-VaultName",
                            VAULTS[0],
                            "-UserPrincipalName",
                            &user,
                            "-PermissionsToKeys",
                            "list",
                        ]);
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        let out = e.run(&["Get-AzKeyVaultKey", "-VaultName", VAULTS[0]]);
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap();
        }
    });
    // 24 writes, each raising the generation by one; the last one read is what is recorded.
    let generations = || -> Vec<String> {
        common::store_rows(
            &e,
            "SELECT value FROM setting WHERE key LIKE 'vault_generation:contoso-ck-va1@%'",
            &[],
        )
        .into_iter()
        .map(|r| r[0].text())
        .collect()
    };
    let recorded = generations();
    assert_eq!(recorded.len(), 1);
    let text = recorded[0].clone();
    let generation: u64 = text.split(':').next().unwrap().parse().unwrap();
    e.ok(&["Get-AzKeyVault", "-VaultName", VAULTS[0]]);
    let after = generations();
    assert_eq!(after, recorded, "a read records nothing new");
    assert!(generation >= 24, "{text}");
}
