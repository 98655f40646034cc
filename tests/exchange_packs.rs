//! Content pack files through the real binary: where content lives, their permissions, a
//! killed import, a damaged pack, moves deleting the old content, items stored before packs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{files, files_under, item_ciphertexts, store_exec_args, store_rows, Env, Val};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn packs(e: &Env) -> Vec<PathBuf> {
    files_under(&e.path("content"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let n = &needle[..needle.len().min(64)];
    hay.windows(n.len()).any(|w| w == n)
}

/// The setup guide, then the test mail imported into alice's mailbox.
fn imported() -> (Env, PathBuf) {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    (e, mail)
}

fn content_bytes(e: &Env) -> Vec<u8> {
    packs(e)
        .into_iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn content_lives_in_private_pack_files_beside_the_store_not_in_sqlite() {
    let (e, mail) = imported();
    let p = packs(&e);
    assert_eq!(p.len(), 1, "one pack per import request: {p:?}");
    assert_eq!(mode(&p[0]), 0o600);
    assert_eq!(mode(p[0].parent().unwrap()), 0o700);
    assert_eq!(mode(&e.path("content")), 0o700);
    // The pack holds exactly the three items, back to back; SQLite holds no segment.
    let cts = item_ciphertexts(&e);
    assert_eq!(cts.len(), 3);
    let pack = std::fs::read(&p[0]).unwrap();
    assert_eq!(pack.len(), cts.iter().map(Vec::len).sum::<usize>());
    for c in &cts {
        assert!(contains(&pack, c));
    }
    let n = store_rows(&e, "SELECT count(*) FROM item_segment", &[])[0][0].int();
    assert_eq!(n, 0);
    e.exports_same("alice", "out", &mail);
    // What comes out is private too: the export folder and its files, and Out-File's file.
    assert_eq!(mode(&e.path("out")), 0o700);
    for f in files_under(&e.path("out")) {
        assert_eq!(mode(&f), 0o600, "{f:?}");
    }
    e.ok(&[
        "-Command",
        "Get-MailboxStatistics alice | Out-File stats.txt",
    ]);
    assert_eq!(mode(&e.path("stats.txt")), 0o600);
}

#[test]
fn a_killed_import_shows_no_item_and_its_orphan_pack_is_reclaimed() {
    let e = Env::new();
    e.setup();
    let (mail, _) = e.write_mail();
    let out = e.run_env(
        &["New-MailboxImportRequest", "alice", mail.to_str().unwrap()],
        &[("CUSTKEY_FAULT_IMPORT_AFTER_ITEMS", "2")],
    );
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    // Bytes were appended, no row points at them: nothing is visible.
    let orphan = packs(&e);
    assert_eq!(orphan.len(), 1);
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 0);
    e.ok(&["New-MailboxExportRequest", "alice", "empty"]);
    assert!(files(&e.path("empty")).is_empty());
    // The next import reclaims the orphan pack and stores everything once.
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let now = packs(&e);
    assert_eq!(now.len(), 1);
    assert!(!orphan[0].exists(), "the orphan pack was not reclaimed");
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 3);
    e.exports_same("alice", "out", &mail);
}

#[test]
fn a_truncated_or_missing_pack_is_a_clear_error_naming_the_item() {
    let (e, _) = imported();
    let p = packs(&e).remove(0);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 1000]).unwrap();
    // The damaged item is named and the others are exported (exit 3: damage in the store).
    let err = e.fails(&["New-MailboxExportRequest", "alice", "cut"], 3);
    assert!(err.contains("is truncated"), "{err}");
    assert!(err.contains("WARNING: message "), "{err}");
    assert!(err.contains("CompletedWithWarning"), "{err}");
    let exported = files_under(&e.path("cut")).len();
    assert!((1..3).contains(&exported), "{exported} files exported");
    assert!(err.contains(&p.display().to_string()), "{err}");
    assert!(
        err.contains("item ") && err.contains("'Alice Example'"),
        "{err}"
    );
    assert!(err.contains("help: "), "{err}");
    assert!(err.contains("backup"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    // Nothing half-written is left where the export was going.
    assert!(files_under(&e.path("cut")).iter().all(|f| f
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with(".eml")));
    std::fs::remove_file(&p).unwrap();
    let err = e.fails(&["New-MailboxExportRequest", "alice", "gone.mbox"], 3);
    assert!(err.contains("is missing"), "{err}");
    assert!(!e.path("gone.mbox").exists());
    // Statistics still answer (they need no content).
    assert_eq!(e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"], 3);
}

#[test]
fn a_completed_move_deletes_the_old_content() {
    let (e, mail) = imported();
    let before_packs = packs(&e);
    let before = item_ciphertexts(&e);
    let out = e.run_env(
        &["New-MoveRequest", "alice"],
        &[("CUSTKEY_FAULT_MOVE_AFTER_ITEMS", "1")],
    );
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    // Mid-move the old pack is still needed.
    assert!(before_packs[0].exists());
    e.ok(&["New-MoveRequest", "alice"]);
    assert!(!before_packs[0].exists(), "the old pack survived the move");
    let disk = content_bytes(&e);
    for (i, c) in before.iter().enumerate() {
        for seg in c.chunks(65552) {
            assert!(
                !contains(&disk, seg),
                "old ciphertext #{i} survived the move"
            );
        }
    }
    e.exports_same("alice", "moved", &mail);
}

/// Turns every item into the layout of schema 5: its ciphertext in 1 MiB `item_segment` rows,
/// no pack.
fn back_to_segment_rows(e: &Env) {
    let cts = item_ciphertexts(e);
    let ids: Vec<(String, String)> = store_rows(
        e,
        "SELECT mailbox_guid, item_id FROM item ORDER BY mailbox_guid, item_id",
        &[],
    )
    .into_iter()
    .map(|r| (r[0].text(), r[1].text()))
    .collect();
    for ((mbx, item), ct) in ids.iter().zip(&cts) {
        for (n, seg) in ct.chunks(1 << 20).enumerate() {
            store_exec_args(
                e,
                "INSERT INTO item_segment (mailbox_guid, item_id, n, data) VALUES (?1, ?2, ?3, ?4)",
                &[mbx.into(), item.into(), Val::Int(n as i64), seg.into()],
            );
        }
        store_exec_args(
            e,
            "UPDATE item SET pack = NULL, pack_offset = 0 WHERE mailbox_guid = ?1 AND item_id = ?2",
            &[mbx.into(), item.into()],
        );
    }
    store_exec_args(e, "DELETE FROM content_pack", &[]);
    std::fs::remove_dir_all(e.path("content")).unwrap();
}

#[test]
fn items_stored_before_packs_read_back_and_a_move_rewrites_them_into_a_pack() {
    let (e, mail) = imported();
    back_to_segment_rows(&e);
    e.exports_same("alice", "legacy", &mail);
    e.ok(&["New-MoveRequest", "alice"]);
    let r = &store_rows(
        &e,
        "SELECT (SELECT count(*) FROM item_segment), (SELECT count(*) FROM item WHERE pack IS NULL)",
        &[],
    )[0];
    let (segments, unpacked) = (r[0].int(), r[1].int());
    assert_eq!((segments, unpacked), (0, 0));
    assert_eq!(packs(&e).len(), 1);
    e.exports_same("alice", "packed", &mail);
}

#[test]
fn more_items_than_one_batch_commit_in_order() {
    let e = Env::new();
    e.setup();
    let dir = e.path("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..1100 {
        std::fs::write(
            dir.join(format!("{i:05}.eml")),
            format!("Subject: {i}\r\n\r\nbody {i}\r\n"),
        )
        .unwrap();
    }
    e.ok(&["New-MailboxImportRequest", "alice", dir.to_str().unwrap()]);
    assert_eq!(
        e.json(&["Get-MailboxStatistics", "alice"])["ItemCount"],
        1100
    );
    e.exports_same("alice", "out", &dir);
}

/// Files under `content/` that neither a `content_pack` row nor an item names.
fn unowned(e: &Env) -> Vec<PathBuf> {
    let known: Vec<String> = store_rows(
        e,
        "SELECT id FROM content_pack UNION SELECT pack FROM item WHERE pack IS NOT NULL",
        &[],
    )
    .into_iter()
    .map(|r| r[0].text())
    .collect();
    packs(e)
        .into_iter()
        .filter(|p| {
            let id = p.file_stem().unwrap().to_string_lossy().to_string();
            !known.contains(&id)
        })
        .collect()
}

#[test]
fn after_kills_at_any_point_the_next_command_leaves_no_file_without_a_row() {
    let (e, mail) = imported();
    let mut big = String::new();
    for i in 0..3000 {
        big.push_str(&format!(
            "From a@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: {i}\n\n{}\n\n",
            "y".repeat(300)
        ));
    }
    std::fs::write(e.path("big.mbox"), big).unwrap();
    let big = e.path("big.mbox");
    // The states a kill leaves between a pack file's creation and its row, or between a
    // reclaim's commit and the file's deletion (here also in a purged mailbox's directory).
    let alice =
        store_rows(&e, "SELECT guid FROM recipient WHERE alias = 'alice'", &[])[0][0].text();
    std::fs::write(
        e.path(&format!("content/{alice}/{}.pack", uuid_like(1))),
        b"created, never registered",
    )
    .unwrap();
    std::fs::create_dir_all(e.path("content/0b7c1d52-purged")).unwrap();
    std::fs::write(
        e.path(&format!("content/0b7c1d52-purged/{}.pack", uuid_like(2))),
        vec![7u8; 4096],
    )
    .unwrap();
    assert_eq!(unowned(&e).len(), 2);
    // Real kills at changing moments of imports and moves.
    for round in 0..6u64 {
        let args: Vec<&str> = if round % 2 == 0 {
            vec!["New-MailboxImportRequest", "alice", big.to_str().unwrap()]
        } else {
            vec!["New-MoveRequest", "alice"]
        };
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_custkey"))
            .args(&args)
            .current_dir(e.dir.path())
            .env("CUSTKEY_STORE", e.path("service.db"))
            .env("CUSTKEY_CONFIG_DIR", e.config.path())
            .env("CUSTKEY_KEYRING", "off")
            .envs(e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(40 + 70 * round));
        let _ = c.kill();
        let _ = c.wait();
    }
    // The next import (it reclaims first) and a move (it reclaims last) leave nothing behind.
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&["New-MoveRequest", "alice"]);
    assert_eq!(unowned(&e), Vec::<PathBuf>::new());
    // Every pack left holds an item.
    let empty = store_rows(
        &e,
        "SELECT count(*) FROM content_pack p WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.pack = p.id)",
        &[],
    )[0][0]
        .int();
    assert_eq!(empty, 0);
    e.ok(&["New-MailboxExportRequest", "alice", "after"]);
}

fn uuid_like(n: u8) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}
