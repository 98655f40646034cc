//! Teams hosted contents (images and media posted in a chat message) under the tenant's
//! multi-workload DEP, through the real binary: round trip, the assignment moving to another
//! policy (re-wrap, not re-encrypt), revocation, a copied data directory, tampering, the
//! "at least one licensed user" rule and the size limits.

mod common;

use std::path::{Path, PathBuf};

use common::{audit_operations, store_rows, Env, M365};

const MW_KEYS: &str =
    "https://contoso-ck-mw1.vault.azure.net/keys/MWKey01,https://contoso-ck-mw2.vault.azure.net/keys/MWKey02";

/// The setup runbook (alice licensed), a multi-workload policy "Global" assigned, and a chat.
fn tenant() -> Env {
    let e = Env::new();
    e.setup();
    for (sub, vault, key, region) in [
        ("Contoso-CK-Sub1", "contoso-ck-mw1", "MWKey01", "westus"),
        ("Contoso-CK-Sub2", "contoso-ck-mw2", "MWKey02", "centralus"),
    ] {
        e.key_vault(sub, vault, key, region, &[M365]);
    }
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Global",
        "-AzureKeyIDs",
        MW_KEYS,
    ]);
    e.ok(&["Set-M365DataAtRestEncryptionPolicyAssignment", "Global"]);
    e.ok(&["New-MgChat", "-Topic", "Ops"]);
    e
}

/// A file of `len` bytes that is not all one value.
fn media(e: &Env, name: &str, len: usize) -> PathBuf {
    let p = e.path(name);
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i * 31 % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Posts a message with hosted contents; returns the message id.
fn post(e: &Env, files: &[&Path]) -> String {
    let list = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let m = e.json(&[
        "New-MgChatMessage",
        "Ops",
        "see attached",
        "-HostedContents",
        &list,
    ]);
    assert_eq!(m["HostedContents"].as_array().unwrap().len(), files.len());
    m["Id"].as_str().unwrap().to_string()
}

fn read_back(e: &Env, msg: &str, id: &str, out: &str) -> std::process::Output {
    e.run(&[
        "Get-MgChatMessageHostedContent",
        "Ops",
        msg,
        "-ChatMessageHostedContentId",
        id,
        "-OutFile",
        out,
    ])
}

fn hosted_rows(e: &Env) -> Vec<(String, i64, i64, String)> {
    store_rows(
        e,
        "SELECT pack, pack_offset, stored_size, key_id FROM chat_hosted_content ORDER BY seq",
        &[],
    )
    .iter()
    .map(|r| (r[0].text(), r[1].int(), r[2].int(), r[3].text()))
    .collect()
}

fn pack_bytes(e: &Env) -> Vec<u8> {
    let rows = store_rows(
        e,
        "SELECT chat_guid, pack FROM chat_hosted_content LIMIT 1",
        &[],
    );
    let p = e.path(&format!(
        "content/{}/{}.pack",
        rows[0][0].text(),
        rows[0][1].text()
    ));
    std::fs::read(p).unwrap()
}

#[test]
fn hosted_contents_round_trip_and_move_with_the_assignment_by_re_wrap() {
    let e = tenant();
    let logo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/media/logo.png");
    let clip = media(&e, "clip.mp4", 3 << 20);
    let msg = post(&e, &[&logo, &clip]);
    let listed = e.json_raw(&["Get-MgChatMessageHostedContent", "Ops", &msg]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["ContentType"], "image/png");
    assert_eq!(listed[1]["ContentType"], "video/mp4");
    assert_eq!(listed[1]["Size"], 3 << 20);
    for h in listed {
        assert_eq!(h["EncryptionPolicy"], "Global");
    }
    assert!(read_back(&e, &msg, "1", "logo-out.png").status.success());
    assert!(read_back(&e, &msg, "2", "clip-out.mp4").status.success());
    assert_eq!(
        std::fs::read(e.path("logo-out.png")).unwrap(),
        std::fs::read(&logo).unwrap()
    );
    assert_eq!(
        std::fs::read(e.path("clip-out.mp4")).unwrap(),
        std::fs::read(&clip).unwrap()
    );
    // Only ciphertext is stored: the clip's bytes are nowhere in the pack.
    let before = pack_bytes(&e);
    let clip_bytes = std::fs::read(&clip).unwrap();
    assert!(!before.windows(64).any(|w| w == &clip_bytes[4096..4160]));
    let rows_before = hosted_rows(&e);

    // The assignment moves: the workload key is re-wrapped, the contents are not touched.
    for (sub, vault, key, region) in [
        ("Contoso-CK-Sub1", "contoso-ck-mw3", "MWKey03", "westus"),
        ("Contoso-CK-Sub2", "contoso-ck-mw4", "MWKey04", "centralus"),
    ] {
        e.key_vault(sub, vault, key, region, &[M365]);
    }
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "Second",
        "-AzureKeyIDs",
        "https://contoso-ck-mw3.vault.azure.net/keys/MWKey03,https://contoso-ck-mw4.vault.azure.net/keys/MWKey04",
    ]);
    e.ok(&["Set-M365DataAtRestEncryptionPolicyAssignment", "Second"]);
    assert_eq!(hosted_rows(&e), rows_before);
    assert_eq!(pack_bytes(&e), before);
    let h = e.json(&[
        "Get-MgChatMessageHostedContent",
        "Ops",
        &msg,
        "-ChatMessageHostedContentId",
        "2",
    ]);
    assert_eq!(h["EncryptionPolicy"], "Second");
    assert!(read_back(&e, &msg, "2", "clip-again.mp4").status.success());
    assert_eq!(std::fs::read(e.path("clip-again.mp4")).unwrap(), clip_bytes);
    // The first policy can be disabled now, and nothing becomes unreadable.
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicy",
        "-Identity",
        "Global",
        "-Enabled",
        "$false",
    ]);
    assert!(read_back(&e, &msg, "1", "logo-again.png").status.success());
    // -OutFile writes one content: naming none is refused.
    let err = e.fails(
        &[
            "Get-MgChatMessageHostedContent",
            "Ops",
            &msg,
            "-OutFile",
            "x",
        ],
        2,
    );
    assert!(err.contains("-ChatMessageHostedContentId"), "{err}");
}

#[test]
fn revoked_keys_refuse_hosted_contents_without_the_availability_key() {
    let e = tenant();
    let clip = media(&e, "clip.mp4", 200_000);
    let msg = post(&e, &[&clip]);
    for v in ["contoso-ck-mw1", "contoso-ck-mw2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            M365,
        ]);
    }
    let fallbacks = |e: &Env| {
        audit_operations(e)
            .into_iter()
            .filter(|(o, _)| o == "Fallback to Availability Key")
            .count()
    };
    let before = fallbacks(&e);
    let out = read_back(&e, &msg, "1", "out.mp4");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused to unwrap its key"), "{err}");
    assert!(!e.path("out.mp4").exists());
    let err = e.fails(&["Get-MgChatMessageHostedContent", "Ops", &msg], 1);
    assert!(err.contains("refused to unwrap its key"), "{err}");
    // A user read never falls back to the availability key.
    assert_eq!(fallbacks(&e), before);
    // Posting new content is refused as well, and stores nothing.
    let more = media(&e, "more.mp4", 1000);
    let err = e.fails(
        &[
            "New-MgChatMessage",
            "Ops",
            "more",
            "-HostedContents",
            more.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("refused to unwrap its key"), "{err}");
    assert_eq!(hosted_rows(&e).len(), 1);
    // Restoring access restores reads.
    for v in ["contoso-ck-mw1", "contoso-ck-mw2"] {
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            M365,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    assert!(read_back(&e, &msg, "1", "out.mp4").status.success());
    assert_eq!(
        std::fs::read(e.path("out.mp4")).unwrap(),
        std::fs::read(&clip).unwrap()
    );
}

#[test]
fn tampered_hosted_content_is_refused_and_a_copied_data_directory_opens_nothing() {
    let e = tenant();
    let clip = media(&e, "clip.mp4", 300_000);
    let msg = post(&e, &[&clip]);
    // A copy of the data directory without the configuration (its master keys) opens nothing.
    let copy = Env {
        dir: tempfile::tempdir().unwrap(),
        config: tempfile::tempdir().unwrap(),
        extra: Vec::new(),
    };
    copy_dir(e.dir.path(), copy.dir.path());
    let out = read_back(&copy, &msg, "1", "stolen.mp4");
    assert_ne!(out.status.code(), Some(0));
    assert!(!copy.path("stolen.mp4").exists());
    // One flipped bit in the ciphertext: refused, and no output file is left.
    let rows = store_rows(
        &e,
        "SELECT chat_guid, pack, pack_offset FROM chat_hosted_content",
        &[],
    );
    let pack = e.path(&format!(
        "content/{}/{}.pack",
        rows[0][0].text(),
        rows[0][1].text()
    ));
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = rows[0][2].int() as usize + 150_000;
    bytes[at] ^= 0x01;
    std::fs::write(&pack, bytes).unwrap();
    let out = read_back(&e, &msg, "1", "tampered.mp4");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!e.path("tampered.mp4").exists());
    let leftovers: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn the_licence_rule_and_the_size_limits_refuse_before_anything_is_stored() {
    let e = tenant();
    let clip = media(&e, "clip.mp4", 1000);
    // No user licensed for Customer Key: Teams data is not put under the customer keys.
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-RemoveLicenses",
        "SPE_E5",
    ]);
    let err = e.fails(
        &[
            "New-MgChatMessage",
            "Ops",
            "hi",
            "-HostedContents",
            clip.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("at least one user"), "{err}");
    assert!(err.contains("Set-MgUserLicense"), "{err}");
    e.fails(&["New-MgChatMessage", "Ops", "plain text"], 1);
    assert!(hosted_rows(&e).is_empty());
    assert!(store_rows(&e, "SELECT 1 FROM chat_message", &[]).is_empty());
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-AddLicenses",
        "SPE_E5",
    ]);
    post(&e, &[&clip]);

    // Too large (a sparse file: nothing is read), too many, not a file.
    let big = e.path("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((100 << 20) + 1)
        .unwrap();
    let err = e.fails(
        &[
            "New-MgChatMessage",
            "Ops",
            "big",
            "-HostedContents",
            big.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("at most 104857600 bytes"), "{err}");
    let many = [clip.to_str().unwrap(); 11].join(",");
    let err = e.fails(
        &["New-MgChatMessage", "Ops", "many", "-HostedContents", &many],
        2,
    );
    assert!(err.contains("at most 10"), "{err}");
    let err = e.fails(
        &[
            "New-MgChatMessage",
            "Ops",
            "dir",
            "-HostedContents",
            e.path("content").to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("is not a file"), "{err}");
    assert_eq!(hosted_rows(&e).len(), 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}
