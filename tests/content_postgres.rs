//! Content in the database itself: a PostgreSQL store keeps mail and SharePoint content in
//! `content_chunk` rows by default, so the database alone holds everything but the vault files.
//! Against a real server (CUSTKEY_TEST_POSTGRES, started by .ci/run). What the pack-file tests
//! (exchange_packs.rs) check of files is checked here of rows: nothing visible after a kill, a
//! damaged pack named, the old content gone after a move, nothing left behind after kills at
//! changing moments, and the `CUSTKEY_CONTENT=files` choice.

mod common;

use common::{
    files_under, item_ciphertexts, pack_bytes, postgres_db, store_exec_args, store_rows, Env,
};

/// An organization on a fresh database, data directory in the test's folder.
fn on_postgres() -> Option<Env> {
    let url = postgres_db()?;
    let mut e = Env::sqlite();
    let dir = e.dir.path().display().to_string();
    e.extra.push(("CUSTKEY_STORE".into(), url));
    e.extra.push(("CUSTKEY_DATA_DIR".into(), dir));
    Some(e)
}

fn count(e: &Env, sql: &str) -> i64 {
    store_rows(e, sql, &[])[0][0].int()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let n = &needle[..needle.len().min(64)];
    hay.windows(n.len()).any(|w| w == n)
}

/// Packs no item and no SharePoint file points at.
fn unused_packs(e: &Env) -> i64 {
    count(
        e,
        "SELECT count(*) FROM content_pack p WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.pack = p.id)
           AND NOT EXISTS (SELECT 1 FROM spo_file f WHERE f.pack = p.id)",
    )
}

/// Chunks of packs no item points at.
fn orphan_chunks(e: &Env) -> i64 {
    count(
        e,
        "SELECT count(*) FROM content_chunk c WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.pack = c.pack)",
    )
}

#[test]
fn mail_content_lives_in_the_database_and_no_file_is_written() {
    let Some(e) = on_postgres() else { return };
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    assert_eq!(
        files_under(&e.path("content")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        count(
            &e,
            "SELECT count(*) FROM content_pack WHERE storage = 'database'"
        ),
        1
    );
    assert!(count(&e, "SELECT count(*) FROM content_chunk") >= 1);
    // The rows hold the items back to back, and ciphertext only.
    let cts = item_ciphertexts(&e);
    assert_eq!(cts.len(), 3);
    let pack = store_rows(&e, "SELECT id FROM content_pack", &[])[0][0].text();
    let alice =
        store_rows(&e, "SELECT guid FROM recipient WHERE alias = 'alice'", &[])[0][0].text();
    let bytes = pack_bytes(&e, &alice, &pack);
    assert_eq!(bytes.len(), cts.iter().map(Vec::len).sum::<usize>());
    for c in &cts {
        assert!(contains(&bytes, c));
    }
    let plain = std::fs::read(mail.join("b.eml")).unwrap();
    assert!(!contains(&bytes, &plain[..64]), "plaintext in the database");
    let all = common::blobs(&e, "SELECT data FROM content_chunk").concat();
    assert!(
        !contains(&all, &plain[1000..1064]),
        "plaintext in the database"
    );
    e.exports_same("alice", "out", &mail);
    // A move re-encrypts into a new pack and the old one's rows go.
    let before = count(&e, "SELECT count(*) FROM content_chunk");
    e.ok(&["New-MoveRequest", "alice"]);
    let packs: Vec<String> = store_rows(&e, "SELECT id FROM content_pack", &[])
        .iter()
        .map(|r| r[0].text())
        .collect();
    assert_eq!(packs.len(), 1);
    assert_ne!(packs[0], pack, "the move wrote a new pack");
    assert_eq!(
        count(
            &e,
            &format!("SELECT count(*) FROM content_chunk WHERE pack = '{pack}'")
        ),
        0
    );
    assert!(before > 0);
    e.exports_same("alice", "moved", &mail);
    assert_eq!(
        files_under(&e.path("content")),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn a_killed_import_shows_nothing_and_its_chunks_are_reclaimed() {
    let Some(e) = on_postgres() else { return };
    e.setup();
    let (mail, _) = e.write_mail();
    let out = e.run_env(
        &["New-MailboxImportRequest", "alice", mail.to_str().unwrap()],
        &[("CUSTKEY_FAULT_IMPORT_AFTER_ITEMS", "2")],
    );
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 0);
    assert_eq!(
        unused_packs(&e),
        1,
        "the killed writer's pack is registered"
    );
    // The next import reclaims it (its writer's session, and lock, ended with the process).
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    assert_eq!(unused_packs(&e), 0);
    assert_eq!(orphan_chunks(&e), 0);
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 3);
    e.exports_same("alice", "out", &mail);
}

#[test]
fn a_damaged_pack_in_the_database_is_a_clear_error_naming_the_item() {
    let Some(e) = on_postgres() else { return };
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let pack = store_rows(&e, "SELECT id FROM content_pack", &[])[0][0].text();
    // Cut the pack short: the last chunk loses its tail.
    store_exec_args(
        &e,
        "UPDATE content_chunk SET data = substring(data FROM 1 FOR length(data) - 1000)
         WHERE pack = ?1 AND off = (SELECT max(off) FROM content_chunk WHERE pack = ?1)",
        &[pack.as_str().into()],
    );
    let err = e.fails(&["New-MailboxExportRequest", "alice", "cut"], 3);
    assert!(err.contains("in the database) is incomplete"), "{err}");
    assert!(err.contains(&pack), "{err}");
    assert!(err.contains("'Alice Example'"), "{err}");
    assert!(err.contains("CompletedWithWarning"), "{err}");
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
    let exported = files_under(&e.path("cut")).len();
    assert!((1..3).contains(&exported), "{exported} files exported");
    // The chunk gone altogether: the same, and statistics still answer.
    store_exec_args(
        &e,
        "DELETE FROM content_chunk WHERE pack = ?1",
        &[pack.as_str().into()],
    );
    let err = e.fails(&["New-MailboxExportRequest", "alice", "gone.mbox"], 3);
    assert!(err.contains("is incomplete (0 bytes"), "{err}");
    assert!(!e.path("gone.mbox").exists());
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 3);
}

#[test]
fn after_kills_at_changing_moments_nothing_is_left_behind() {
    let Some(e) = on_postgres() else { return };
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let mut big = String::new();
    for i in 0..3000 {
        big.push_str(&format!(
            "From a@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: {i}\n\n{}\n\n",
            "y".repeat(300)
        ));
    }
    std::fs::write(e.path("big.mbox"), big).unwrap();
    let big = e.path("big.mbox");
    for round in 0..6u64 {
        let args: Vec<&str> = if round % 2 == 0 {
            vec!["New-MailboxImportRequest", "alice", big.to_str().unwrap()]
        } else {
            vec!["New-MoveRequest", "alice"]
        };
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_custkey"))
            .args(&args)
            .current_dir(e.dir.path())
            .env("CUSTKEY_CONFIG_DIR", e.config.path())
            .env("CUSTKEY_KEYRING", "off")
            .envs(e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60 + 90 * round));
        let _ = c.kill();
        let _ = c.wait();
    }
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&["New-MoveRequest", "alice"]);
    assert_eq!(unused_packs(&e), 0);
    // Every chunk belongs to a pack an item points at (the foreign key keeps the first half).
    assert_eq!(orphan_chunks(&e), 0);
    assert_eq!(
        files_under(&e.path("content")),
        Vec::<std::path::PathBuf>::new()
    );
    e.ok(&["New-MailboxExportRequest", "alice", "after"]);
    let n = e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"]
        .as_u64()
        .unwrap();
    assert_eq!(files_under(&e.path("after")).len() as u64, n);
}

#[test]
fn sharepoint_files_round_trip_through_the_database() {
    let Some(e) = on_postgres() else { return };
    let mut versions = Vec::new();
    for (sub, vault, key) in [("sub-1", "spva1", "SPKey1"), ("sub-2", "spva2", "SPKey2")] {
        e.ok(&["Set-AzContext", "-Subscription", sub]);
        e.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        e.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            vault,
            "-ResourceGroupName",
            &format!("{vault}-rg"),
            "-Location",
            "westus",
        ]);
        let k = e.json(&["Add-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
        versions.push(k["Version"].as_str().unwrap().to_string());
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            vault,
            "-ServicePrincipalName",
            "00000003-0000-0ff1-ce00-000000000000",
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    e.ok(&[
        "Register-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultName",
        "spva1",
        "-PrimaryKeyName",
        "SPKey1",
        "-PrimaryKeyVersion",
        &versions[0],
        "-SecondaryKeyVaultName",
        "spva2",
        "-SecondaryKeyName",
        "SPKey2",
        "-SecondaryKeyVersion",
        &versions[1],
    ]);
    let site = "https://contoso.sharepoint.com/sites/marketing";
    e.ok(&[
        "New-PnPSite",
        "-Type",
        "TeamSite",
        "-Title",
        "Site",
        "-Url",
        site,
    ]);
    let data: Vec<u8> = (0..(5u32 << 20) + 123)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(e.path("big.bin"), &data).unwrap();
    e.ok(&[
        "Add-PnPFile",
        "-Path",
        "big.bin",
        "-Folder",
        "Shared Documents",
        "-Site",
        site,
    ]);
    assert_eq!(
        files_under(&e.path("content")),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(count(&e, "SELECT count(*) FROM content_chunk") >= 5);
    std::fs::create_dir_all(e.path("dl")).unwrap();
    e.ok(&[
        "Get-PnPFile",
        "-Url",
        "/sites/marketing/Shared Documents/big.bin",
        "-AsFile",
        "-Path",
        "dl",
        "-Filename",
        "big.bin",
    ]);
    assert!(
        std::fs::read(e.path("dl/big.bin")).unwrap() == data,
        "the file came back changed"
    );
    // Replacing the file reclaims the old pack's rows.
    e.ok(&[
        "Add-PnPFile",
        "-Path",
        "big.bin",
        "-Folder",
        "Shared Documents",
        "-Site",
        site,
    ]);
    assert_eq!(unused_packs(&e), 0);
    assert_eq!(count(&e, "SELECT count(*) FROM content_pack"), 1);
}

#[test]
fn content_files_is_the_shared_directory_choice_and_both_kinds_read_back() {
    let Some(e) = on_postgres() else { return };
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-Mailbox", "-Name", "Bob Example", "-Alias", "bob"]);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "bob",
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&[
        "Set-Mailbox",
        "-Identity",
        "bob",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    // First in the database, then (CUSTKEY_CONTENT=files) into bob's pack file.
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let out = e.run_env(
        &["New-MailboxImportRequest", "bob", mail.to_str().unwrap()],
        &[("CUSTKEY_CONTENT", "files")],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(files_under(&e.path("content")).len(), 1);
    assert_eq!(
        count(
            &e,
            "SELECT count(*) FROM content_pack WHERE storage = 'file'"
        ),
        1
    );
    // Either kind reads back whatever this process would write.
    e.exports_same("alice", "a", &mail);
    e.exports_same("bob", "b", &mail);
    let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_CONTENT", "s3")], 2);
    assert!(err.contains("CUSTKEY_CONTENT is 's3'"), "{err}");
    assert!(err.contains("'database' or 'files'"), "{err}");
}

#[test]
fn content_in_the_database_is_refused_for_a_sqlite_store() {
    let e = Env::sqlite();
    let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_CONTENT", "database")], 2);
    assert!(err.contains("is for a PostgreSQL store"), "{err}");
    assert!(!e.path("service.db").exists());
}
