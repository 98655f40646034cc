//! Teams meeting recordings and status messages under the tenant's multi-workload DEP, through
//! the real binary: round trips byte for byte, the assignment moving to another policy
//! (re-wrap, ciphertext unchanged), revocation without the availability key, a copied data
//! directory, tampering, the "at least one licensed user" rule and bad input. Runs on SQLite and
//! (CUSTKEY_TEST_STORE_BACKEND=postgres) on PostgreSQL, with content in files or the database.

mod common;

use std::path::{Path, PathBuf};

use common::{
    audit_operations, pack_bytes, pack_in_database, put_pack_bytes, store_exec_args, store_rows,
    Env, M365,
};

const MW_KEYS: &str =
    "https://contoso-ck-mw1.vault.azure.net/keys/MWKey01,https://contoso-ck-mw2.vault.azure.net/keys/MWKey02";

/// The setup runbook (alice licensed), a multi-workload policy "Global" assigned, and a
/// meeting Alice organizes; returns the meeting's id.
fn tenant() -> (Env, String) {
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
    let m = e.json(&[
        "New-MgUserOnlineMeeting",
        "-UserId",
        "alice",
        "-Subject",
        "Falcon review",
        "-StartDateTime",
        "2026-12-27 10:00",
        "-EndDateTime",
        "2026-12-27 11:00",
    ]);
    assert_eq!(m["StartDateTime"], "2026-12-27T10:00:00Z");
    assert_eq!(m["EndDateTime"], "2026-12-27T11:00:00Z");
    (e, m["Id"].as_str().unwrap().to_string())
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

/// Stores a recording; returns its id.
fn record(e: &Env, meeting: &str, file: &Path) -> String {
    let r = e.json(&[
        "Add-CustomerKeyMeetingRecording",
        "-UserId",
        "alice",
        "-OnlineMeetingId",
        meeting,
        "-Path",
        file.to_str().unwrap(),
    ]);
    r["Id"].as_str().unwrap().to_string()
}

fn read_back(e: &Env, meeting: &str, id: &str, out: &str) -> std::process::Output {
    e.run(&[
        "Get-MgUserOnlineMeetingRecordingContent",
        "-UserId",
        "alice",
        "-OnlineMeetingId",
        meeting,
        "-CallRecordingId",
        id,
        "-OutFile",
        out,
    ])
}

/// (meeting, pack, offset, stored size, key id) of every recording.
fn recording_rows(e: &Env) -> Vec<(String, String, i64, i64, String)> {
    store_rows(
        e,
        "SELECT meeting_guid, pack, pack_offset, stored_size, key_id FROM meeting_recording ORDER BY seq",
        &[],
    )
    .iter()
    .map(|r| (r[0].text(), r[1].text(), r[2].int(), r[3].int(), r[4].text()))
    .collect()
}

fn status_rows(e: &Env) -> Vec<(String, Vec<u8>)> {
    store_rows(e, "SELECT key_id, message FROM presence_status", &[])
        .iter()
        .map(|r| (r[0].text(), r[1].blob()))
        .collect()
}

fn set_status(e: &Env, text: &str) -> std::process::Output {
    let v = serde_json::json!({"Message": {"Content": text, "ContentType": "text"}});
    e.run(&[
        "Set-MgUserPresenceStatusMessage",
        "-UserId",
        "alice",
        "-StatusMessage",
        &v.to_string(),
    ])
}

fn status_text(e: &Env) -> serde_json::Value {
    e.json(&["Get-MgUserPresence", "-UserId", "alice"])
}

fn second_policy(e: &Env) {
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
}

#[test]
fn recordings_and_status_messages_round_trip_and_move_with_the_assignment_by_re_wrap() {
    let (e, meeting) = tenant();
    let big = media(&e, "recording.mp4", 5 << 20);
    let small = media(&e, "audio.m4a", 70_001);
    let first = record(&e, &meeting, &big);
    let second = record(&e, &meeting, &small);
    let listed = e.json_raw(&[
        "Get-MgUserOnlineMeetingRecording",
        "-UserId",
        "alice",
        "-OnlineMeetingId",
        &meeting,
    ]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["Id"], first.as_str());
    assert_eq!(listed[0]["ContentType"], "video/mp4");
    assert_eq!(listed[0]["Size"], 5 << 20);
    assert_eq!(listed[1]["ContentType"], "audio/mp4");
    for r in listed {
        assert_eq!(r["EncryptionPolicy"], "Global");
        assert_eq!(r["MeetingId"], meeting.as_str());
    }
    // The meeting is found by its subject too, and counts its recordings.
    let m = e.json(&["Get-MgUserOnlineMeeting", "alice", "falcon REVIEW"]);
    assert_eq!(m["RecordingCount"], 2);
    assert!(read_back(&e, &meeting, &first, "big-out.mp4")
        .status
        .success());
    assert!(read_back(&e, &meeting, &second, "small-out.m4a")
        .status
        .success());
    let big_bytes = std::fs::read(&big).unwrap();
    assert_eq!(std::fs::read(e.path("big-out.mp4")).unwrap(), big_bytes);
    assert_eq!(
        std::fs::read(e.path("small-out.m4a")).unwrap(),
        std::fs::read(&small).unwrap()
    );
    // Only ciphertext is stored: in a pack file, or on a PostgreSQL store with database
    // content storage (its default) in the database.
    let rows_before = recording_rows(&e);
    let in_db = e.pg_url().is_some() && std::env::var("CUSTKEY_CONTENT").as_deref() != Ok("files");
    assert_eq!(pack_in_database(&e, &rows_before[0].1), in_db);
    let pack_before = pack_bytes(&e, &rows_before[0].0, &rows_before[0].1);
    assert!(!pack_before
        .windows(64)
        .any(|w| w == &big_bytes[1 << 20..(1 << 20) + 64]));

    // A status message, with an expiry.
    let v = serde_json::json!({
        "Message": {"Content": "In the Falcon review", "ContentType": "text"},
        "ExpiryDateTime": {"DateTime": "2099-12-27T17:00:00", "TimeZone": "UTC"}
    });
    e.ok(&[
        "Set-MgUserPresenceStatusMessage",
        "alice",
        "-StatusMessage",
        &v.to_string(),
    ]);
    let p = status_text(&e);
    assert_eq!(
        p["StatusMessage"]["Message"]["Content"],
        "In the Falcon review"
    );
    assert_eq!(p["StatusMessage"]["Message"]["ContentType"], "text");
    assert_eq!(
        p["StatusMessage"]["ExpiryDateTime"]["DateTime"],
        "2099-12-27T17:00:00"
    );
    assert_eq!(p["EncryptionPolicy"], "Global");
    let status_before = status_rows(&e);
    assert_eq!(status_before.len(), 1);
    assert!(!status_before[0].1.windows(6).any(|w| w == b"Falcon"));
    // In a script, as the Graph examples write it.
    let out = e.ok(&[
        "-Command",
        "Set-MgUserPresenceStatusMessage -UserId alice -StatusMessage @{Message = @{Content = 'Back at 3'; ContentType = 'text'}}; (Get-MgUserPresence -UserId alice).StatusMessage.Message.Content",
    ]);
    assert_eq!(out.trim(), "Back at 3");
    // Graph's other parameter set, and -PassThru's True.
    let out = e.ok(&[
        "-Command",
        "Set-MgUserPresenceStatusMessage -UserId alice -BodyParameter @{StatusMessage = @{Message = @{Content = 'Back at 4'}}} -PassThru",
    ]);
    assert_eq!(out.trim(), "True");
    assert_eq!(
        status_text(&e)["StatusMessage"]["Message"]["Content"],
        "Back at 4"
    );
    let err = e.fails(&["Set-MgUserPresenceStatusMessage", "alice"], 2);
    assert!(
        err.contains("-StatusMessage or with -BodyParameter"),
        "{err}"
    );
    assert!(set_status(&e, "Back at 3").status.success());
    let status_before = status_rows(&e);

    // The assignment moves: the workload key is re-wrapped; no ciphertext is touched.
    second_policy(&e);
    assert_eq!(recording_rows(&e), rows_before);
    assert_eq!(
        pack_bytes(&e, &rows_before[0].0, &rows_before[0].1),
        pack_before
    );
    assert_eq!(status_rows(&e), status_before);
    let r = e.json(&[
        "Get-MgUserOnlineMeetingRecording",
        "alice",
        &meeting,
        "-CallRecordingId",
        &first,
    ]);
    assert_eq!(r["EncryptionPolicy"], "Second");
    assert_eq!(status_text(&e)["EncryptionPolicy"], "Second");
    // The first policy can be disabled now, and nothing becomes unreadable.
    e.ok(&[
        "Set-M365DataAtRestEncryptionPolicy",
        "-Identity",
        "Global",
        "-Enabled",
        "$false",
    ]);
    assert!(read_back(&e, &meeting, &first, "big-again.mp4")
        .status
        .success());
    assert_eq!(std::fs::read(e.path("big-again.mp4")).unwrap(), big_bytes);
    assert_eq!(
        status_text(&e)["StatusMessage"]["Message"]["Content"],
        "Back at 3"
    );
    // Empty content clears the message.
    assert!(set_status(&e, "").status.success());
    assert!(status_text(&e)["StatusMessage"].is_null());
    assert!(status_rows(&e).is_empty());
}

#[test]
fn revoked_keys_refuse_recordings_and_status_messages_without_the_availability_key() {
    let (e, meeting) = tenant();
    let rec = media(&e, "rec.mp4", 400_000);
    let id = record(&e, &meeting, &rec);
    assert!(set_status(&e, "Heads down").status.success());
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
    let names_keys = |err: &str| {
        assert!(err.contains("refused to unwrap its key"), "{err}");
        assert!(err.contains("MWKey01") && err.contains("MWKey02"), "{err}");
    };
    let out = read_back(&e, &meeting, &id, "out.mp4");
    assert_eq!(out.status.code(), Some(1));
    names_keys(&String::from_utf8_lossy(&out.stderr));
    assert!(!e.path("out.mp4").exists());
    names_keys(&e.fails(&["Get-MgUserOnlineMeetingRecording", "alice", &meeting], 1));
    names_keys(&e.fails(&["Get-MgUserPresence", "alice"], 1));
    // A user read never falls back to the availability key.
    assert_eq!(fallbacks(&e), before);
    // Writing is refused as well, and stores nothing.
    names_keys(&e.fails(
        &[
            "Add-CustomerKeyMeetingRecording",
            "-UserId",
            "alice",
            "-OnlineMeetingId",
            &meeting,
            "-Path",
            rec.to_str().unwrap(),
        ],
        1,
    ));
    let out = set_status(&e, "Another");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(recording_rows(&e).len(), 1);
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
    assert!(read_back(&e, &meeting, &id, "out.mp4").status.success());
    assert_eq!(
        std::fs::read(e.path("out.mp4")).unwrap(),
        std::fs::read(&rec).unwrap()
    );
    assert_eq!(
        status_text(&e)["StatusMessage"]["Message"]["Content"],
        "Heads down"
    );
}

#[test]
fn tampered_ciphertext_is_refused_and_a_copied_data_directory_opens_nothing() {
    let (e, meeting) = tenant();
    let rec = media(&e, "rec.mp4", 2 << 20);
    let id = record(&e, &meeting, &rec);
    assert!(set_status(&e, "Out until Monday").status.success());
    // A copy of the data directory without the configuration (its master keys) opens nothing.
    let mut copy = Env {
        dir: tempfile::tempdir().unwrap(),
        config: tempfile::tempdir().unwrap(),
        extra: Vec::new(),
    };
    copy_dir(e.dir.path(), copy.dir.path());
    if let Some(url) = e.pg_url() {
        copy.extra.push(("CUSTKEY_STORE".into(), url.to_string()));
        copy.extra.push((
            "CUSTKEY_DATA_DIR".into(),
            copy.dir.path().display().to_string(),
        ));
    }
    let out = read_back(&copy, &meeting, &id, "stolen.mp4");
    assert_ne!(out.status.code(), Some(0));
    assert!(!copy.path("stolen.mp4").exists());
    let out = copy.run(&["Get-MgUserPresence", "alice", "-Format", "Json"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Out until Monday"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // One flipped bit in the recording's ciphertext: refused, and no output file is left.
    let rows = recording_rows(&e);
    let (owner, pack, offset, _, _) = &rows[0];
    let mut bytes = pack_bytes(&e, owner, pack);
    bytes[*offset as usize + (1 << 20)] ^= 0x01;
    put_pack_bytes(&e, owner, pack, &bytes);
    let out = read_back(&e, &meeting, &id, "tampered.mp4");
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

    // A flipped bit in the status message, and a changed expiry (bound to the ciphertext).
    let (_, mut sealed) = status_rows(&e).remove(0);
    let original = sealed.clone();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    store_exec_args(
        &e,
        "UPDATE presence_status SET message = ?1",
        &[(&sealed).into()],
    );
    e.fails(&["Get-MgUserPresence", "alice"], 1);
    store_exec_args(
        &e,
        "UPDATE presence_status SET message = ?1",
        &[(&original).into()],
    );
    assert_eq!(
        status_text(&e)["StatusMessage"]["Message"]["Content"],
        "Out until Monday"
    );
    store_exec_args(
        &e,
        "UPDATE presence_status SET expiry = ?1",
        &["2099-01-01T00:00:00Z".into()],
    );
    e.fails(&["Get-MgUserPresence", "alice"], 1);
}

#[test]
fn the_licence_rule_refuses_recordings_and_status_messages_before_anything_is_stored() {
    let (e, meeting) = tenant();
    let rec = media(&e, "rec.mp4", 1000);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-RemoveLicenses",
        "SPE_E5",
    ]);
    let err = e.fails(
        &[
            "Add-CustomerKeyMeetingRecording",
            "-UserId",
            "alice",
            "-OnlineMeetingId",
            &meeting,
            "-Path",
            rec.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("at least one user"), "{err}");
    assert!(err.contains("Set-MgUserLicense"), "{err}");
    let out = set_status(&e, "Lunch");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one user"));
    assert!(recording_rows(&e).is_empty());
    assert!(status_rows(&e).is_empty());
    let packs = store_rows(
        &e,
        "SELECT 1 FROM content_pack WHERE mailbox_guid = ?1",
        &[meeting.as_str().into()],
    );
    assert!(packs.is_empty(), "a refused recording registers no pack");
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-AddLicenses",
        "SPE_E5",
    ]);
    record(&e, &meeting, &rec);
    assert!(set_status(&e, "Lunch").status.success());
    assert_eq!(recording_rows(&e).len(), 1);
    assert_eq!(status_rows(&e).len(), 1);
}

#[test]
fn bad_input_is_refused_with_clear_errors_and_stores_nothing() {
    let (e, meeting) = tenant();
    let add = |path: &str, meeting: &str| {
        vec![
            "Add-CustomerKeyMeetingRecording".to_string(),
            "-UserId".into(),
            "alice".into(),
            "-OnlineMeetingId".into(),
            meeting.into(),
            "-Path".into(),
            path.into(),
        ]
    };
    let fails = |a: Vec<String>, code: i32| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        e.fails(&a, code)
    };
    // A missing file, a folder, an empty file.
    let missing = e.path("missing.mp4");
    let err = fails(add(missing.to_str().unwrap(), &meeting), 2);
    assert!(
        err.contains("cannot read") && err.contains("missing.mp4"),
        "{err}"
    );
    let err = fails(add(e.dir.path().to_str().unwrap(), &meeting), 2);
    assert!(err.contains("is not a file"), "{err}");
    let empty = e.path("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let err = fails(add(empty.to_str().unwrap(), &meeting), 2);
    assert!(err.contains("is empty"), "{err}");
    // Too large (a sparse file: nothing is read).
    let big = e.path("big.mp4");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((4u64 << 30) + 1)
        .unwrap();
    let err = fails(add(big.to_str().unwrap(), &meeting), 2);
    assert!(err.contains("at most 4294967296 bytes"), "{err}");
    std::fs::remove_file(&big).unwrap();
    // An unknown meeting, an unknown user, an unknown recording.
    let rec = media(&e, "rec.mp4", 5000);
    let err = fails(add(rec.to_str().unwrap(), "no-such-meeting"), 1);
    assert!(
        err.contains("'no-such-meeting'") && err.contains("couldn't be found"),
        "{err}"
    );
    assert!(err.contains("Get-MgUserOnlineMeeting"), "{err}");
    let err = e.fails(&["Get-MgUserOnlineMeeting", "nobody"], 1);
    assert!(err.contains("nobody"), "{err}");
    let err = e.fails(
        &[
            "Get-MgUserOnlineMeetingRecording",
            "alice",
            &meeting,
            "-CallRecordingId",
            "nope",
        ],
        1,
    );
    assert!(err.contains("no recording 'nope'"), "{err}");
    assert!(recording_rows(&e).is_empty());
    // A meeting that ends before it starts.
    let err = e.fails(
        &[
            "New-MgUserOnlineMeeting",
            "alice",
            "-StartDateTime",
            "2026-12-27 11:00",
            "-EndDateTime",
            "2026-12-27 10:00",
        ],
        2,
    );
    assert!(err.contains("before it starts"), "{err}");

    // Status messages: too long, not text, expired, a time zone custkey does not read, no Message.
    let long = "x".repeat(281);
    let err = String::from_utf8(set_status(&e, &long).stderr).unwrap();
    assert!(err.contains("at most 280"), "{err}");
    for (v, want) in [
        (
            serde_json::json!({"Message": {"Content": "hi", "ContentType": "html"}}),
            "are text",
        ),
        (
            serde_json::json!({"Message": "hi", "ExpiryDateTime": {"DateTime": "2020-01-01T00:00:00", "TimeZone": "UTC"}}),
            "has passed",
        ),
        (
            serde_json::json!({"Message": "hi", "ExpiryDateTime": {"DateTime": "2099-01-01T00:00:00", "TimeZone": "Pacific Standard Time"}}),
            "not supported",
        ),
        (serde_json::json!({"Content": "hi"}), "no Message"),
    ] {
        let err = e.fails(
            &[
                "Set-MgUserPresenceStatusMessage",
                "alice",
                "-StatusMessage",
                &v.to_string(),
            ],
            2,
        );
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(status_rows(&e).is_empty());
    assert!(status_text(&e)["StatusMessage"].is_null());
}

#[test]
fn an_expired_status_message_is_no_longer_shown() {
    let (e, _) = tenant();
    let at = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let v = serde_json::json!({
        "Message": {"Content": "Brb", "ContentType": "text"},
        "ExpiryDateTime": {"DateTime": at, "TimeZone": "UTC"}
    });
    e.ok(&[
        "Set-MgUserPresenceStatusMessage",
        "alice",
        "-StatusMessage",
        &v.to_string(),
    ]);
    assert_eq!(
        status_text(&e)["StatusMessage"]["Message"]["Content"],
        "Brb"
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(status_text(&e)["StatusMessage"].is_null());
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

/// Runs custkey as [`Env::run`] does and returns (success, peak resident set in KiB), read from
/// /proc while it runs.
fn run_measured(e: &Env, args: &[&str]) -> (bool, u64) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_custkey"));
    c.args(args)
        .current_dir(e.dir.path())
        .env("CUSTKEY_STORE", e.path("service.db"))
        .env("CUSTKEY_CONFIG_DIR", e.config.path())
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("CUSTKEY_VAULT_KEY")
        .env_remove("CUSTKEY_VAULT_PASSPHRASE")
        .env_remove("CUSTKEY_SERVICE_KEY")
        .env_remove("CUSTKEY_SERVICE_PASSPHRASE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &e.extra {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    let mut peak = 0u64;
    loop {
        if let Some(h) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
        {
            peak = peak.max(h);
        }
        if let Some(s) = child.try_wait().unwrap() {
            return (s.success(), peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_large_recording_streams_in_and_out_with_bounded_memory() {
    let (e, meeting) = tenant();
    const LEN: usize = 160 << 20;
    let rec = media(&e, "long.mp4", LEN);
    let (ok, peak_in) = run_measured(
        &e,
        &[
            "Add-CustomerKeyMeetingRecording",
            "-UserId",
            "alice",
            "-OnlineMeetingId",
            &meeting,
            "-Path",
            rec.to_str().unwrap(),
        ],
    );
    assert!(ok);
    let id = store_rows(&e, "SELECT recording_id FROM meeting_recording", &[])[0][0].text();
    let (ok, peak_out) = run_measured(
        &e,
        &[
            "Get-MgUserOnlineMeetingRecordingContent",
            "-UserId",
            "alice",
            "-OnlineMeetingId",
            &meeting,
            "-CallRecordingId",
            &id,
            "-OutFile",
            "long-out.mp4",
        ],
    );
    assert!(ok);
    assert!(std::fs::read(e.path("long-out.mp4")).unwrap() == std::fs::read(&rec).unwrap());
    eprintln!("peak resident set: {peak_in} KiB in, {peak_out} KiB out");
    // Neither holds the recording (160 MiB) in memory: a quarter of it is the bound.
    for peak in [peak_in, peak_out] {
        assert!(peak > 0 && peak < (LEN as u64 / 1024) / 4, "{peak} KiB");
    }
}
