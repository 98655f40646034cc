//! -Store / CUSTKEY_STORE as a URL: never a file path; PostgreSQL connection errors, schema
//! creation and version checks against a real server (CUSTKEY_TEST_POSTGRES, started by
//! .ci/run with .ci/postgres-start).

mod common;

use common::{files_under, postgres_client, postgres_db, with_database, Env};

/// Everything under the test's folder, as paths relative to it.
fn left_behind(e: &Env) -> Vec<String> {
    files_under(e.dir.path())
        .into_iter()
        .map(|p| p.strip_prefix(e.dir.path()).unwrap().display().to_string())
        .collect()
}

#[test]
fn an_unknown_scheme_is_a_usage_error_and_makes_no_folder() {
    let e = Env::new();
    for url in [
        "mysql://ops@db/custkey",
        "sqlite:///tmp/x.db",
        "file://service.db",
    ] {
        let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", url)], 2);
        assert!(err.contains("a scheme custkey does not support"), "{err}");
        assert!(err.contains("postgres:// or postgresql://"), "{err}");
        let err = e.fails(&["Get-Mailbox", "-Store", url], 2);
        assert!(err.contains("does not support"), "{err}");
    }
    assert_eq!(left_behind(&e), Vec::<String>::new());
    assert!(!e.path("mysql:").exists() && !e.path("file:").exists());
}

/// The bug this fixes: `CUSTKEY_STORE=postgres://...` made a SQLite store under a folder
/// named `postgres:`. Now it is a connection, and an unreachable server is exit 3 naming the
/// socket directory, with the password kept out of every line.
#[test]
fn a_postgres_url_is_a_connection_never_a_path() {
    let e = Env::new();
    let nowhere = e.path("no-server");
    std::fs::create_dir(&nowhere).unwrap();
    for scheme in ["postgres", "postgresql"] {
        let url = format!(
            "{scheme}://ops:hunter2secret@/custkey?host={}&port=5999",
            nowhere.display()
        );
        let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", &url)], 3);
        assert!(
            err.contains(&format!(
                "the socket directory {}, port 5999",
                nowhere.display()
            )),
            "{err}"
        );
        assert!(err.contains("ops:***@"), "{err}");
        assert!(!err.contains("hunter2secret"), "{err}");
        let verbose = e.fails_env(&["Get-Mailbox", "-Verbose"], &[("CUSTKEY_STORE", &url)], 3);
        assert!(!verbose.contains("hunter2secret"), "{verbose}");
    }
    assert_eq!(left_behind(&e), Vec::<String>::new());
}

/// A TCP address where nothing listens: exit 3 naming host and port, within the connect timeout.
#[test]
fn an_unreachable_host_names_host_and_port() {
    let e = Env::new();
    // A port taken and closed again: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgres://ops@127.0.0.1:{port}/custkey");
    let started = std::time::Instant::now();
    let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", &url)], 3);
    assert!(
        err.contains(&format!("host 127.0.0.1, port {port}")),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn tls_without_a_ca_is_refused_rather_than_left_unchecked() {
    let e = Env::new();
    let home = e.path("home");
    std::fs::create_dir_all(&home).unwrap();
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = format!("postgres://ops:pw1234567@db.contoso.com/custkey?sslmode={mode}");
        let err = e.fails_env(
            &["Get-Mailbox"],
            &[("CUSTKEY_STORE", &url), ("HOME", home.to_str().unwrap())],
            2,
        );
        assert!(err.contains("without a CA certificate"), "{err}");
        assert!(err.contains("sslrootcert="), "{err}");
        assert!(!err.contains("pw1234567"), "{err}");
    }
}

/// The TLS URL of the test server (`.ci/postgres-start`: TLS only on 127.0.0.1, plain TCP
/// rejected), naming the database `db`.
fn tls_url(db: &str) -> Option<String> {
    let Some(base) = std::env::var("CUSTKEY_TEST_POSTGRES_TLS")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but CUSTKEY_TEST_POSTGRES_TLS is not set: .ci/run must export it from .ci/postgres-start");
        }
        eprintln!(
            "SKIPPED: CUSTKEY_TEST_POSTGRES_TLS is not set, so the PostgreSQL TLS test did not run"
        );
        return None;
    };
    Some(with_database(&base, db))
}

#[test]
fn tls_connections_check_the_servers_certificate() {
    let Some(socket_url) = postgres_db() else {
        return;
    };
    let path = socket_url.split('?').next().unwrap();
    let db = path.rsplit('/').next().unwrap().to_string();
    let Some(url) = tls_url(&db) else {
        return;
    };
    // verify-full against the run's CA: the store works over TLS.
    let e = on(&url);
    e.ok(&["New-Mailbox", "-Name", "alice"]);
    assert!(e.ok(&["Get-Mailbox"]).contains("alice"));
    let with =
        |e: &Env, u: &str, code: i32| e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", u)], code);
    // The server takes TLS only: the same connection in the clear is refused (so the one
    // above was encrypted).
    let plain = url.split('?').next().unwrap().to_string() + "?sslmode=disable";
    let err = with(&e, &plain, 3);
    assert!(err.contains("no encryption"), "{err}");
    // A CA that did not issue the server's certificate: no connection.
    let other = e.path("other-ca.pem");
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other CA",
            "-keyout",
        ])
        .arg(e.path("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let root = url.split("sslrootcert=").nth(1).unwrap().to_string();
    let wrong_ca = url.replace(&root, other.to_str().unwrap());
    let err = with(&e, &wrong_ca, 3);
    assert!(err.contains("TLS") && err.contains("sslrootcert"), "{err}");
    // A host name the certificate does not name: refused by verify-full, accepted by
    // verify-ca (the chain alone), as libpq does.
    let port = url
        .split("127.0.0.1:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let misnamed = format!("postgres://postgres@wrong.name:{port}/{db}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={root}");
    let err = with(&e, &misnamed, 3);
    assert!(err.contains("not valid for name"), "{err}");
    let chain_only = misnamed.replace("verify-full", "verify-ca");
    let out = e.run_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", &chain_only)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An organization on `url` with its data directory in the test's folder.
fn on(url: &str) -> Env {
    let mut e = Env::sqlite();
    let dir = e.dir.path().display().to_string();
    e.extra.push(("CUSTKEY_STORE".into(), url.to_string()));
    e.extra.push(("CUSTKEY_DATA_DIR".into(), dir));
    e
}

/// A fresh database gets the whole schema, its version recorded in `schema_version`.
#[test]
fn a_new_database_gets_the_schema_and_its_version() {
    let Some(url) = postgres_db() else { return };
    let e = on(&url);
    e.ok(&["Get-Mailbox"]);
    let version = custkey::store::SCHEMA_VERSION;
    let mut c = postgres_client(&url);
    let v: i64 = c
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, version);
    // The tables of the last migrations are there, with case-insensitive names as in SQLite.
    for t in [
        "principal",
        "purge_signature",
        "key_commitment",
        "spo_file_chunk",
    ] {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
                &[&t],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "{t}");
    }
    c.batch_execute(
        "INSERT INTO dep (guid, kind, name, enabled, azure_key_ids, state, dep_key_id, dep_key_version, when_created, when_changed)
         VALUES ('d1', 'M365', 'Contoso', 1, '[]', 'Active', 'k', 1, 't', 't')",
    )
    .unwrap();
    let dup = c.batch_execute(
        "INSERT INTO dep (guid, kind, name, enabled, azure_key_ids, state, dep_key_id, dep_key_version, when_created, when_changed)
         VALUES ('d2', 'M365', 'CONTOSO', 1, '[]', 'Active', 'k', 1, 't', 't')",
    );
    assert!(dup.is_err(), "a name differing only in case was accepted");
    // Opening again leaves the schema as it is.
    e.ok(&["Get-Mailbox"]);
    let n: i64 = c.query_one("SELECT count(*) FROM dep", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn a_database_newer_than_this_custkey_is_refused_and_left_alone() {
    let Some(url) = postgres_db() else { return };
    let e = on(&url);
    e.ok(&["Get-Mailbox"]);
    let newer = custkey::store::SCHEMA_VERSION + 1;
    let mut c = postgres_client(&url);
    c.execute("UPDATE schema_version SET version = $1", &[&newer])
        .unwrap();
    let err = e.fails(&["Get-Mailbox"], 3);
    assert!(
        err.contains(&format!("schema version {newer}, newer")),
        "{err}"
    );
    assert!(err.contains("upgrade custkey"), "{err}");
    let v: i64 = c
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, newer);
}

#[test]
fn a_missing_database_and_an_unknown_role_are_named() {
    let Some(url) = postgres_db() else { return };
    let e = Env::sqlite();
    let missing = with_database(&url, "no_such_db");
    let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", &missing)], 3);
    assert!(
        err.contains("the server has no database no_such_db"),
        "{err}"
    );
    assert!(err.contains("createdb no_such_db"), "{err}");
    let stranger = url.replacen("postgres@", "stranger:topsecret99@", 1);
    let err = e.fails_env(&["Get-Mailbox"], &[("CUSTKEY_STORE", &stranger)], 3);
    assert!(
        err.contains("authentication failed for the user stranger"),
        "{err}"
    );
    assert!(!err.contains("topsecret99"), "{err}");
}

/// Eight processes opening one new database at once: one creates the schema, the others wait
/// for it (an advisory lock) and find it made; none fails or applies a migration twice.
#[test]
fn concurrent_first_opens_create_the_schema_once() {
    let Some(url) = postgres_db() else { return };
    let e = Env::sqlite();
    let kids: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_custkey"))
                .arg("Get-Mailbox")
                .env("CUSTKEY_STORE", &url)
                .env("CUSTKEY_DATA_DIR", e.dir.path())
                .env("CUSTKEY_CONFIG_DIR", e.config.path())
                .env("CUSTKEY_KEYRING", "off")
                .current_dir(e.dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
    }
    let mut c = postgres_client(&url);
    let v: i64 = c
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, custkey::store::SCHEMA_VERSION);
}

/// Two machines pointed at one database with different data directories: the second is
/// refused (exit 3), naming the directory the store's vaults are in, and creates nothing.
#[test]
fn another_data_directory_is_refused_not_given_its_own_vaults() {
    let Some(url) = postgres_db() else { return };
    let first = on(&url);
    first.setup();
    let vaults = first.json_raw(&["Get-AzKeyVault"]);
    assert!(!vaults.as_array().unwrap().is_empty());
    let second = on(&url);
    let err = second.fails(&["Get-Mailbox"], 3);
    assert!(
        err.contains(&format!("first used at {}", first.dir.path().display())),
        "{err}"
    );
    assert!(err.contains("CUSTKEY_DATA_DIR"), "{err}");
    assert_eq!(left_behind(&second), Vec::<String>::new());
    // A copy of the first directory's identity is taken for the same directory.
    let third = on(&url);
    std::fs::copy(
        first.dir.path().join(custkey::store::datadir::ID_FILE),
        third.dir.path().join(custkey::store::datadir::ID_FILE),
    )
    .unwrap();
    // (It then lacks the vault files and keys: those are the next thing it asks for.)
    let out = third.run(&["Get-Mailbox"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("first used at"), "{err}");
    assert!(err.contains("service master key"), "{err}");
}

/// `-DataDir` names the data directory as `CUSTKEY_DATA_DIR` does, for a PostgreSQL store
/// only; it wins over the variable.
#[test]
fn data_dir_parameter_names_the_data_directory_of_a_postgres_store() {
    let Some(url) = postgres_db() else { return };
    let mut e = Env::sqlite();
    e.extra.push(("CUSTKEY_STORE".into(), url.clone()));
    // The variable points elsewhere: -DataDir must be the one used.
    let elsewhere = e.path("elsewhere");
    e.extra
        .push(("CUSTKEY_DATA_DIR".into(), elsewhere.display().to_string()));
    let dir = e.path("data");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "kv1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-DataDir",
        d,
    ]);
    assert!(dir.join(custkey::store::datadir::ID_FILE).exists());
    assert!(!elsewhere.exists(), "the variable's directory was used");
    assert!(e.ok(&["Get-AzKeyVault", "-DataDir", d]).contains("kv1"));
    // Without it, the variable's directory is another one: refused, nothing made there.
    let err = e.fails(&["Get-AzKeyVault"], 3);
    assert!(err.contains("-DataDir"), "{err}");
    // With a SQLite store it is a usage error.
    let err = e.fails(
        &[
            "Get-Mailbox",
            "-Store",
            e.path("service.db").to_str().unwrap(),
            "-DataDir",
            d,
        ],
        2,
    );
    assert!(err.contains("is for a PostgreSQL store"), "{err}");
}

/// Eight processes writing through one PostgreSQL store at once, each importing into its own
/// mailbox while all of them append to the shared audit log and item sequence: every import
/// lands whole and readable, none is lost or mixed with another.
#[test]
fn eight_processes_import_at_once_and_lose_nothing() {
    let Some(url) = postgres_db() else { return };
    let e = on(&url);
    e.setup();
    let (mail, _) = e.write_mail();
    let names: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for n in &names {
        e.ok(&["New-Mailbox", "-Name", n, "-Alias", n]);
        e.ok(&["Set-MgUserLicense", "-UserId", n, "-AddLicenses", "SPE_E5"]);
        e.ok(&[
            "Set-Mailbox",
            "-Identity",
            n,
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ]);
    }
    let audit_before = common::audit_operations(&e).len();
    let kids: Vec<_> = names
        .iter()
        .map(|n| {
            std::process::Command::new(env!("CARGO_BIN_EXE_custkey"))
                .args(["New-MailboxImportRequest", n, mail.to_str().unwrap()])
                .current_dir(e.dir.path())
                .env("CUSTKEY_CONFIG_DIR", e.config.path())
                .env("CUSTKEY_KEYRING", "off")
                .envs(e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for n in &names {
        assert_eq!(e.json(&["Get-MailboxStatistics", n])["ItemCount"], 3, "{n}");
        e.exports_same(n, &format!("out-{n}"), &mail);
    }
    let audit = common::audit_operations(&e);
    assert!(
        audit.len() >= audit_before + 8,
        "{} audit records",
        audit.len()
    );
}

/// Sessions opened to the database of `url` so far (`pg_stat_database.sessions`), read once
/// no session of it is left and the count has settled (a backend adds itself to the count as
/// it exits).
fn sessions_so_far(url: &str) -> i64 {
    let db = url
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let base = std::env::var("CUSTKEY_TEST_POSTGRES").unwrap();
    let mut c = common::postgres_client(&base);
    let mut last = -1;
    for _ in 0..100 {
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = $1), (SELECT sessions FROM pg_stat_database WHERE datname = $1)",
                &[&db],
            )
            .unwrap();
        let (live, n): (i64, i64) = (r.get(0), r.get(1));
        if live == 0 && n == last {
            return n;
        }
        last = if live == 0 { n } else { -1 };
        c.batch_execute("SELECT pg_stat_clear_snapshot()").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the sessions of {db} did not settle");
}

/// One process that imports into many mailboxes (a pipeline) writes a pack for each, through
/// a connection beside the store's own; the store's pool gives the same one to each writer in
/// turn, so the process opens two connections, not one more per mailbox (docs/store.md,
/// "Connections").
#[test]
fn a_pipeline_of_imports_reuses_one_writer_connection() {
    let Some(url) = postgres_db() else { return };
    let e = on(&url);
    e.setup();
    let (mail, _) = e.write_mail();
    let names: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    e.ok(&[
        "-Command",
        &format!(
            "{} | New-Mailbox -Shared | Out-Null",
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ]);
    let before = sessions_so_far(&url);
    e.ok(&[
        "-Command",
        &format!(
            "Get-Mailbox -Filter \"Name -like 'p*'\" | ForEach-Object {{ New-MailboxImportRequest -Mailbox $_.Name -FilePath '{}' }} | Out-Null",
            mail.display()
        ),
    ]);
    let opened = sessions_so_far(&url) - before;
    for n in &names {
        assert_eq!(e.json(&["Get-MailboxStatistics", n])["ItemCount"], 3, "{n}");
    }
    let packs = common::store_rows(
        &e,
        "SELECT count(DISTINCT pack) FROM item WHERE pack IS NOT NULL",
        &[],
    )[0][0]
        .int();
    assert!(packs >= 6, "{packs} packs");
    assert_eq!(
        opened, 2,
        "six imports in one process: the store's connection and one pooled writer connection"
    );
}

/// A database made by a custkey of schema 14 (before migration 15 widened the recipient kinds
/// and added archives), with an organization and mail in it, opened by this custkey: migration
/// 15 alters the table in place, every row and item stays readable, and the new kinds work.
#[test]
fn a_schema_14_database_with_mail_is_migrated_in_place() {
    let Some(url) = postgres_db() else { return };
    assert_eq!(
        custkey::store::SCHEMA_VERSION,
        17,
        "this test makes a schema-14 database by undoing migrations 17, 16 and 15: undo the later ones too"
    );
    let e = on(&url);
    e.setup();
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    let before = e.json(&["Get-Mailbox", "alice"]);
    // Back to schema 14 as that custkey left it.
    let mut c = postgres_client(&url);
    c.batch_execute(
        "DROP TABLE presence_status;
         DROP TABLE meeting_recording;
         DROP TABLE online_meeting;
         DROP TABLE chat_hosted_content;
         DROP INDEX recipient_archive;
         ALTER TABLE recipient DROP COLUMN archive_guid;
         ALTER TABLE recipient DROP CONSTRAINT recipient_kind_check;
         ALTER TABLE recipient ADD CONSTRAINT recipient_kind_check
             CHECK (kind IN ('UserMailbox', 'SharedMailbox', 'MailUser'));
         UPDATE schema_version SET version = 14;",
    )
    .unwrap();

    let after = e.json(&["Get-Mailbox", "alice"]);
    let v: i64 = c
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, custkey::store::SCHEMA_VERSION);
    for p in ["Guid", "DataEncryptionPolicy", "PrimarySmtpAddress"] {
        assert_eq!(after[p], before[p], "{p}");
    }
    e.ok(&["New-MailboxExportRequest", "alice", "out"]);
    assert_eq!(common::files(&e.path("out")), common::files(&mail));
    // The kinds and the column migration 15 added.
    assert_eq!(
        e.json(&["Enable-Mailbox", "alice", "-Archive"])["ArchiveStatus"],
        "Active"
    );
    e.ok(&["New-Mailbox", "-Name", "pf1", "-PublicFolder"]);
    e.ok(&["New-UnifiedGroup", "-DisplayName", "Finance"]);
}
