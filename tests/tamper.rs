//! Someone who can write the store and the content files changes them; every change is caught
//! on read: a non-zero exit, a message naming what is wrong, and never a wrong plaintext. An
//! export names each damaged item and still gives back the others, byte-identical.

mod common;

use std::path::PathBuf;

use common::{files, store_exec_args, store_rows, Env, Val};

/// Bytes of a full content segment (64 KiB plaintext and a 16-byte tag); the header is 99.
const SEGMENT: usize = 65552;
const HEADER: usize = 99;

struct Item {
    id: String,
    pack: PathBuf,
    offset: usize,
    len: usize,
}

/// Alice with the guide's mail (three .eml files and a two-message mbox), Bob with one message.
fn two_mailboxes() -> (Env, Vec<Vec<u8>>) {
    let e = Env::new();
    e.setup();
    let (mail, mbox) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&["New-MailboxImportRequest", "alice", mbox.to_str().unwrap()]);
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
        "bob",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    let bob = e.path("bob-mail");
    std::fs::create_dir_all(&bob).unwrap();
    std::fs::write(
        bob.join("x.eml"),
        b"Subject: for bob\r\n\r\nbob's only message\r\n",
    )
    .unwrap();
    e.ok(&["New-MailboxImportRequest", "bob", bob.to_str().unwrap()]);
    e.ok(&["New-MailboxExportRequest", "alice", "clean"]);
    let clean = files(&e.path("clean"));
    assert_eq!(clean.len(), 5);
    (e, clean)
}

/// A statement as the store writer runs it, on either backend.
fn exec(e: &Env, sql: &str, args: &[Val]) {
    store_exec_args(e, sql, args);
}

fn guid(e: &Env, alias: &str) -> String {
    store_rows(
        e,
        "SELECT guid FROM recipient WHERE alias = ?1",
        &[alias.into()],
    )[0][0]
        .text()
}

/// The items of a mailbox in export order.
fn items(e: &Env, alias: &str) -> Vec<Item> {
    let g = guid(e, alias);
    store_rows(
        e,
        "SELECT item_id, pack, pack_offset, stored_size FROM item WHERE mailbox_guid = ?1 ORDER BY seq",
        &[(&g).into()],
    )
    .into_iter()
    .map(|r| Item {
        id: r[0].text(),
        pack: e.path(&format!("content/{g}/{}.pack", r[1].text())),
        offset: r[2].int() as usize,
        len: r[3].int() as usize,
    })
    .collect()
}

/// Exports alice into `out` and requires a failure naming each item in `bad`; every file that
/// did come out is byte-identical to the clean export's file of the same name.
fn export_names(e: &Env, clean: &[Vec<u8>], out: &str, bad: &[&Item], code: i32) -> String {
    let err = e.fails(&["New-MailboxExportRequest", "alice", out], code);
    for b in bad {
        assert!(
            err.contains(&b.id),
            "the message does not name item {}:\n{err}",
            b.id
        );
    }
    assert!(err.contains("help: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    no_wrong_plaintext(e, clean, out);
    err
}

fn no_wrong_plaintext(e: &Env, clean: &[Vec<u8>], out: &str) {
    let mut names: Vec<PathBuf> = std::fs::read_dir(e.path(out))
        .map(|rd| rd.map(|x| x.unwrap().path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let n: usize = name.trim_end_matches(".eml").parse().unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            clean[n - 1],
            "{name} came out different from the original"
        );
    }
}

fn patch(item: &Item, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(&item.pack).unwrap();
    f(&mut b);
    std::fs::write(&item.pack, b).unwrap();
}

#[test]
fn flipped_reordered_spliced_and_extended_content_is_named_and_the_rest_exported() {
    let (e, clean) = two_mailboxes();
    let it = items(&e, "alice");
    let big = &it[1]; // b.eml: 49 segments
    assert!(big.len > 3 * SEGMENT);

    // A flipped bit in the middle of a segment.
    let at = big.offset + HEADER + SEGMENT + 77;
    patch(big, |b| b[at] ^= 0x20);
    export_names(&e, &clean, "flip", &[big], 1);
    patch(big, |b| b[at] ^= 0x20);
    e.exports_same("alice", "restored", &e.path("clean"));

    // Two segments swapped.
    let s1 = big.offset + HEADER;
    let s2 = s1 + SEGMENT;
    patch(big, |b| {
        let first: Vec<u8> = b[s1..s2].to_vec();
        let second: Vec<u8> = b[s2..s2 + SEGMENT].to_vec();
        b[s1..s2].copy_from_slice(&second);
        b[s2..s2 + SEGMENT].copy_from_slice(&first);
    });
    export_names(&e, &clean, "swapped", &[big], 1);
    patch(big, |b| {
        let first: Vec<u8> = b[s1..s2].to_vec();
        let second: Vec<u8> = b[s2..s2 + SEGMENT].to_vec();
        b[s1..s2].copy_from_slice(&second);
        b[s2..s2 + SEGMENT].copy_from_slice(&first);
    });

    // The first item's last segment spliced over the start of another item's body.
    let small = &it[0];
    let seg = std::fs::read(&small.pack).unwrap()[small.offset + HEADER..small.offset + small.len]
        .to_vec();
    let original = std::fs::read(&big.pack).unwrap();
    patch(big, |b| b[s1..s1 + seg.len()].copy_from_slice(&seg));
    export_names(&e, &clean, "spliced", &[big], 1);
    std::fs::write(&big.pack, &original).unwrap();

    // The row made to cover more bytes than the item has (a trailing segment's worth).
    exec(
        &e,
        "UPDATE item SET stored_size = stored_size + 100 WHERE item_id = ?1",
        &[(&small.id).into()],
    );
    export_names(&e, &clean, "extended", &[small], 1);
    exec(
        &e,
        "UPDATE item SET stored_size = stored_size - 100 WHERE item_id = ?1",
        &[(&small.id).into()],
    );
    e.exports_same("alice", "again", &e.path("clean"));
}

#[test]
fn rows_and_wrapped_keys_moved_between_mailboxes_or_items_do_not_open() {
    let (e, clean) = two_mailboxes();
    let alice = items(&e, "alice");
    let bob = items(&e, "bob");

    // Two items' ids swapped (each id is bound into its content).
    exec(
        &e,
        "UPDATE item SET item_id = 'tmp' WHERE item_id = ?1",
        &[(&alice[0].id).into()],
    );
    exec(
        &e,
        "UPDATE item SET item_id = ?1 WHERE item_id = ?2",
        &[(&alice[0].id).into(), (&alice[2].id).into()],
    );
    exec(
        &e,
        "UPDATE item SET item_id = ?1 WHERE item_id = 'tmp'",
        &[(&alice[2].id).into()],
    );
    let err = e.fails(&["New-MailboxExportRequest", "alice", "ids"], 1);
    assert!(
        err.contains("BadItemsEncountered") || err.contains("WARNING"),
        "{err}"
    );
    no_wrong_plaintext(&e, &clean, "ids");
    exec(
        &e,
        "UPDATE item SET item_id = 'tmp' WHERE item_id = ?1",
        &[(&alice[0].id).into()],
    );
    exec(
        &e,
        "UPDATE item SET item_id = ?1 WHERE item_id = ?2",
        &[(&alice[0].id).into(), (&alice[2].id).into()],
    );
    exec(
        &e,
        "UPDATE item SET item_id = ?1 WHERE item_id = 'tmp'",
        &[(&alice[2].id).into()],
    );
    e.exports_same("alice", "back", &e.path("clean"));

    // Bob's item row given to Alice (its key and pack copied along): it does not open as hers.
    let row = store_rows(
        &e,
        "SELECT key_id, key_version FROM item WHERE item_id = ?1",
        &[(&bob[0].id).into()],
    );
    let (bob_key, bob_ver) = (row[0][0].text(), row[0][1].int());
    let alice_guid = guid(&e, "alice");
    std::fs::copy(
        &bob[0].pack,
        e.path(&format!(
            "content/{alice_guid}/{}",
            bob[0].pack.file_name().unwrap().to_string_lossy()
        )),
    )
    .unwrap();
    exec(&e, "INSERT INTO mailbox_key (mailbox_guid, key_id, key_version, dep_guid, wrapped, current)
         SELECT ?1, key_id, key_version, dep_guid, wrapped, 0 FROM mailbox_key WHERE key_id = ?2 AND key_version = ?3", &[(&alice_guid).into(), (&bob_key).into(), Val::Int(bob_ver)]);
    exec(
        &e,
        "UPDATE item SET mailbox_guid = ?1, seq = 100 WHERE item_id = ?2",
        &[(&alice_guid).into(), (&bob[0].id).into()],
    );
    let err = e.fails(&["New-MailboxExportRequest", "alice", "stolen"], 1);
    assert!(err.contains(&bob[0].id), "{err}");
    assert!(!err.contains("bob's only message"));
    no_wrong_plaintext(&e, &clean, "stolen");
    assert!(!e.path("stolen/000100.eml").exists());
    exec(
        &e,
        "DELETE FROM item WHERE item_id = ?1",
        &[(&bob[0].id).into()],
    );
    exec(
        &e,
        "DELETE FROM mailbox_key WHERE mailbox_guid = ?1 AND key_id = ?2",
        &[(&alice_guid).into(), (&bob_key).into()],
    );

    // Bob's wrapped mailbox key written into Alice's key row: Alice's key does not unwrap.
    let g_bob = guid(&e, "bob");
    let wrapped_of = |g: &String| {
        store_rows(
            &e,
            "SELECT wrapped FROM mailbox_key WHERE mailbox_guid = ?1",
            &[g.into()],
        )[0][0]
            .blob()
    };
    let bob_wrapped = wrapped_of(&g_bob);
    let alice_wrapped = wrapped_of(&alice_guid);
    exec(
        &e,
        "UPDATE mailbox_key SET wrapped = ?1 WHERE mailbox_guid = ?2",
        &[(&bob_wrapped).into(), (&alice_guid).into()],
    );
    let r = e.run(&["New-MailboxExportRequest", "alice", "swapped-key"]);
    assert_ne!(r.status.code(), Some(0));
    assert!(!e.path("swapped-key").exists() || files(&e.path("swapped-key")).is_empty());
    exec(
        &e,
        "UPDATE mailbox_key SET wrapped = ?1 WHERE mailbox_guid = ?2",
        &[(&alice_wrapped).into(), (&alice_guid).into()],
    );
    e.exports_same("alice", "fine", &e.path("clean"));
}

#[test]
fn edited_item_metadata_is_caught_not_passed_on() {
    let (e, clean) = two_mailboxes();
    let it = items(&e, "alice");
    // An .eml item claimed to be an mbox message: the export would rewrite its lines.
    exec(
        &e,
        "UPDATE item SET source = 'mbox' WHERE item_id = ?1",
        &[(&it[0].id).into()],
    );
    // An mbox message claimed to be an .eml file.
    exec(
        &e,
        "UPDATE item SET source = 'eml' WHERE item_id = ?1",
        &[(&it[3].id).into()],
    );
    export_names(&e, &clean, "framing", &[&it[0], &it[3]], 1);
    let mbox = e.fails(&["New-MailboxExportRequest", "alice", "framing.mbox"], 1);
    assert!(
        mbox.contains(&it[0].id) && mbox.contains(&it[3].id),
        "{mbox}"
    );
    exec(
        &e,
        "UPDATE item SET source = 'eml' WHERE item_id = ?1",
        &[(&it[0].id).into()],
    );
    exec(
        &e,
        "UPDATE item SET source = 'mbox' WHERE item_id = ?1",
        &[(&it[3].id).into()],
    );

    // A changed plaintext size.
    exec(
        &e,
        "UPDATE item SET size = size + 1 WHERE item_id = ?1",
        &[(&it[1].id).into()],
    );
    let err = export_names(&e, &clean, "size", &[&it[1]], 3);
    assert!(err.contains("the store says"), "{err}");
    // A move does not carry the forged size over either.
    let err = e.fails(&["New-MoveRequest", "alice"], 3);
    assert!(err.contains("the store says"), "{err}");
    exec(
        &e,
        "UPDATE item SET size = size - 1 WHERE item_id = ?1",
        &[(&it[1].id).into()],
    );
    e.ok(&["New-MoveRequest", "alice"]);
    e.exports_same("alice", "after-move", &e.path("clean"));
}
