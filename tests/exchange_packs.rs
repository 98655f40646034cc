//! Content pack files through the real binary: where content lives, their permissions, a
//! killed import, a damaged pack, moves deleting the old content, items stored before packs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{files, files_under, item_ciphertexts, Env};

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
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM item_segment", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    e.exports_same("alice", "out", &mail);
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
    let err = e.fails(&["New-MailboxExportRequest", "alice", "cut"], 3);
    assert!(err.contains("is truncated"), "{err}");
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
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let ids: Vec<(String, String)> = c
        .prepare("SELECT mailbox_guid, item_id FROM item ORDER BY mailbox_guid, item_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for ((mbx, item), ct) in ids.iter().zip(&cts) {
        for (n, seg) in ct.chunks(1 << 20).enumerate() {
            c.execute(
                "INSERT INTO item_segment (mailbox_guid, item_id, n, data) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![mbx, item, n as i64, seg],
            )
            .unwrap();
        }
        c.execute(
            "UPDATE item SET pack = NULL, pack_offset = 0 WHERE mailbox_guid = ?1 AND item_id = ?2",
            [mbx, item],
        )
        .unwrap();
    }
    c.execute("DELETE FROM content_pack", []).unwrap();
    drop(c);
    std::fs::remove_dir_all(e.path("content")).unwrap();
}

#[test]
fn items_stored_before_packs_read_back_and_a_move_rewrites_them_into_a_pack() {
    let (e, mail) = imported();
    back_to_segment_rows(&e);
    e.exports_same("alice", "legacy", &mail);
    e.ok(&["New-MoveRequest", "alice"]);
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let (segments, unpacked): (i64, i64) = c
        .query_row(
            "SELECT (SELECT count(*) FROM item_segment), (SELECT count(*) FROM item WHERE pack IS NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
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
