//! Shared helpers for the runbook tests: a fresh data directory, the binary, the setup guide.
#![allow(dead_code)]

pub mod forge;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";
pub const M365: &str = "c066d759-24ae-40e7-a56f-027002b5d3e4";

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The configuration directory (`CUSTKEY_CONFIG_DIR`): the master key files and generated
    /// identities, outside the data directory.
    pub config: tempfile::TempDir,
    /// Environment variables every command of this test gets (e.g. an HSM configuration).
    pub extra: Vec<(String, String)>,
}

impl Env {
    /// A fresh organization: a SQLite store in a new folder, or with
    /// `CUSTKEY_TEST_STORE_BACKEND=postgres` a new PostgreSQL database (see [`postgres_db`])
    /// with that folder as its data directory.
    pub fn new() -> Env {
        let mut e = Env {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
        };
        if on_postgres() {
            let url = postgres_db()
                .expect("CUSTKEY_TEST_STORE_BACKEND=postgres needs CUSTKEY_TEST_POSTGRES");
            let dir = e.dir.path().display().to_string();
            e.extra.push(("CUSTKEY_STORE".into(), url));
            e.extra.push(("CUSTKEY_DATA_DIR".into(), dir));
        }
        e
    }

    /// A fresh organization in a SQLite file whatever the backend under test (tests that read
    /// or damage the file itself).
    pub fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
        }
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("CUSTKEY_STORE", self.path("service.db"))
            .env("CUSTKEY_CONFIG_DIR", self.config.path())
            .env("CUSTKEY_KEYRING", "off")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("CUSTKEY_VAULT_KEY")
            .env_remove("CUSTKEY_VAULT_PASSPHRASE")
            .env_remove("CUSTKEY_SERVICE_KEY")
            .env_remove("CUSTKEY_SERVICE_PASSPHRASE")
            .env_remove("COLUMNS");
        for (k, v) in &self.extra {
            c.env(k, v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run custkey")
    }
    /// A new Ed25519 key for `upn` (made by ssh-keygen, outside the data directory); returns
    /// the private key file (`<file>.pub` beside it).
    pub fn keygen(&self, upn: &str) -> PathBuf {
        let dir = self.config.path().join("test-keys");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(upn);
        if !path.exists() {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", upn, "-f"])
                .arg(&path)
                .status()
                .expect("run ssh-keygen");
            assert!(st.success(), "ssh-keygen failed");
        }
        path
    }
    /// Registers `upn` (as the current account, which must be an owner) with a new key;
    /// returns its private key file.
    pub fn register(&self, upn: &str) -> PathBuf {
        let key = self.keygen(upn);
        let public = format!("{}.pub", key.display());
        self.ok(&[
            "New-AzADUser",
            "-UserPrincipalName",
            upn,
            "-PublicKeyFile",
            &public,
        ]);
        key
    }
    /// Signs in as `upn` with the key [`Env::register`] made for it.
    pub fn connect(&self, upn: &str) {
        let key = self.keygen(upn);
        self.ok(&[
            "Connect-AzAccount",
            "-AccountId",
            upn,
            "-KeyFile",
            key.to_str().unwrap(),
        ]);
    }
    /// Signs in as the store's owner again (the identity generated on first use).
    pub fn connect_owner(&self) {
        self.ok(&[
            "Connect-AzAccount",
            "-AccountId",
            "admin@contoso.onmicrosoft.com",
        ]);
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custkey {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    /// Runs with -Format Json; a list cmdlet's array of exactly one object comes back as that
    /// object (to index it), anything else as printed. [`Env::json_raw`] keeps the array.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        match self.json_raw(args) {
            serde_json::Value::Array(mut a) if a.len() == 1 => a.remove(0),
            v => v,
        }
    }
    /// Runs with -Format Json; the value exactly as printed.
    pub fn json_raw(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-Format", "Json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
    /// Runs and requires failure with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        self.fails_env(args, &[], code)
    }
    /// [`Env::fails`] with extra environment variables for this command. Returns standard
    /// output followed by standard error (the error is in the latter).
    pub fn fails_env(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
        let out = self.run_env(args, env);
        assert_eq!(
            out.status.code(),
            Some(code),
            "custkey {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut all = String::from_utf8(out.stdout).unwrap();
        all.push_str(&String::from_utf8(out.stderr).unwrap());
        all
    }

    /// One vault of the setup guide: the subscription's mandatory retention, the vault, its
    /// admins, the service principals (`wrapKey,unwrapKey,get`), an HSM key with the accepted
    /// expiry and recovery level, and its backup.
    pub fn key_vault(
        &self,
        sub: &str,
        vault: &str,
        key: &str,
        location: &str,
        principals: &[&str],
    ) {
        self.ok(&["Set-AzContext", "-Subscription", sub]);
        self.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        let f = self.json(&[
            "Get-AzProviderFeature",
            "-ProviderNamespace",
            "Microsoft.Resources",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
        ]);
        assert_eq!(f["RegistrationState"], "Registered");
        self.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            vault,
            "-ResourceGroupName",
            &format!("{vault}-rg"),
            "-Location",
            location,
            "-Sku",
            "Premium",
        ]);
        self.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            vault,
            "-UserPrincipalName",
            "kvadmin@contoso.com",
            "-PermissionsToKeys",
            "create,import,list,get,backup,restore",
        ]);
        for sp in principals {
            self.ok(&[
                "Set-AzKeyVaultAccessPolicy",
                "-VaultName",
                vault,
                "-PermissionsToKeys",
                "wrapKey,unwrapKey,get",
                "-ServicePrincipalName",
                sp,
            ]);
        }
        self.ok(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-Destination",
            "HSM",
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
        self.ok(&[
            "Update-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-Expires",
            "12/31/9999",
        ]);
        let k = self.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
        assert_eq!(k["RecoveryLevel"], "Recoverable+ProtectedSubscription");
        self.ok(&[
            "Backup-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-OutputFile",
            &format!("{key}.backup"),
        ]);
    }

    /// The setup guide: two subscriptions with mandatory retention, a vault and a key in each,
    /// admins and the Exchange service principal, a DEP, a licensed mailbox assigned to it.
    pub fn setup(&self) {
        self.key_vault(
            "Contoso-CK-Sub1",
            "contoso-ck-va1",
            "Key001",
            "westus",
            &[EXO],
        );
        self.key_vault(
            "Contoso-CK-Sub2",
            "contoso-ck-va2",
            "Key002",
            "centralus",
            &[EXO],
        );
        let dep = self.json(&[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-Description",
            "Root keys for US mailboxes",
            "-AzureKeyIDs",
            "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002",
        ]);
        assert_eq!(dep["State"], "Active");
        assert_eq!(dep["KeyVersionIDs"].as_array().unwrap().len(), 2);
        self.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
        self.ok(&[
            "Set-MgUserLicense",
            "-UserId",
            "alice",
            "-AddLicenses",
            "SPE_E5",
        ]);
        let caps = self.json(&["Get-Mailbox", "alice", "-Property", "PersistedCapabilities"]);
        assert!(caps["PersistedCapabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "BPOS_S_EquivioAnalytics"));
        self.ok(&[
            "Set-Mailbox",
            "-Identity",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ]);
    }

    /// Exports `mailbox` into the folder `out` and checks it holds the same files as `mail`.
    pub fn exports_same(&self, mailbox: &str, out: &str, mail: &Path) {
        self.ok(&["New-MailboxExportRequest", mailbox, out]);
        assert_eq!(files(&self.path(out)), files(mail), "export {out}");
    }

    pub fn write_mail(&self) -> (PathBuf, PathBuf) {
        let dir = self.path("mail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.eml"), b"From: bob@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: Q3\r\n\r\nNumbers attached.\r\n").unwrap();
        // A large message (several segments) of non-repeating bytes.
        let mut big = Vec::new();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        while big.len() < 3 * 1024 * 1024 + 17 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big.extend_from_slice(format!("{x:016x}\r\n").as_bytes());
        }
        std::fs::write(dir.join("b.eml"), &big).unwrap();
        std::fs::write(dir.join("c.eml"), b"").unwrap();
        let mbox = self.path("archive.mbox");
        std::fs::write(
            &mbox,
            b"From bob@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: one\n\nfirst body\n>From the start\n\nFrom carol@fabrikam.com Tue Jan  2 00:00:00 2024\nSubject: two\n\nsecond body\n",
        )
        .unwrap();
        (dir, mbox)
    }
}

pub fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

pub fn audit_operations(e: &Env) -> Vec<(String, serde_json::Value)> {
    store_rows(
        e,
        "SELECT operation, parameters FROM audit_record ORDER BY id",
        &[],
    )
    .into_iter()
    .map(|r| (r[0].text(), serde_json::from_str(&r[1].text()).unwrap()))
    .collect()
}

/// A value of a row read from the store by [`store_rows`].
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    pub fn text(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            v => panic!("expected text, found {v:?}"),
        }
    }
    pub fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            v => panic!("expected an integer, found {v:?}"),
        }
    }
    pub fn blob(&self) -> Vec<u8> {
        match self {
            Val::Blob(b) => b.clone(),
            v => panic!("expected bytes, found {v:?}"),
        }
    }
    pub fn opt_text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            v => Some(v.text()),
        }
    }
}

impl Env {
    /// The PostgreSQL URL of this test's store, when it is one.
    pub fn pg_url(&self) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == "CUSTKEY_STORE")
            .map(|(_, v)| v.as_str())
            .filter(|v| v.starts_with("postgres"))
    }
}

impl Env {
    /// What `custkey __complete` prints for object names read from the store: `names` with a
    /// SQLite store; nothing with a PostgreSQL one, since a shell's completion never connects
    /// to a database server (src/cli/complete.rs, docs/cli.md "Completion").
    pub fn completed_names<'a>(&self, names: &'a str) -> &'a str {
        match self.pg_url() {
            Some(_) => "",
            None => names,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Val {
        Val::Text(s.clone())
    }
}
impl From<u32> for Val {
    fn from(i: u32) -> Val {
        Val::Int(i.into())
    }
}
impl From<&[u8]> for Val {
    fn from(b: &[u8]) -> Val {
        Val::Blob(b.to_vec())
    }
}
impl From<&Vec<u8>> for Val {
    fn from(b: &Vec<u8>) -> Val {
        Val::Blob(b.clone())
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => V::Null,
            Val::Int(i) => V::Integer(*i),
            Val::Text(t) => V::Text(t.as_bytes()),
            Val::Blob(b) => V::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Val::Null => Ok(postgres::types::IsNull::Yes),
            Val::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Val::Int(i) => i.to_sql(ty, out),
            Val::Text(t) => t.as_str().to_sql(ty, out),
            Val::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }
    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

fn dollars(sql: &str) -> String {
    sql.chars()
        .map(|c| if c == '?' { '$' } else { c })
        .collect()
}

/// Runs one statement with arguments on the test's store (either engine).
pub fn store_exec_args(e: &Env, sql: &str, args: &[Val]) -> u64 {
    match e.pg_url() {
        Some(url) => {
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
                .iter()
                .map(|a| a as &(dyn postgres::types::ToSql + Sync))
                .collect();
            postgres_client(url)
                .execute(&dollars(sql), &params)
                .unwrap()
        }
        None => rusqlite::Connection::open(e.path("service.db"))
            .unwrap()
            .execute(sql, rusqlite::params_from_iter(args.iter()))
            .unwrap() as u64,
    }
}

/// Every value the store holds, as bytes (the SQLite file itself; on PostgreSQL every column
/// of every row of custkey's tables, bytes as they are): to look for plaintext in it, or to
/// compare it before and after.
pub fn store_bytes(e: &Env) -> Vec<u8> {
    let Some(_) = e.pg_url() else {
        let mut bytes = std::fs::read(e.path("service.db")).unwrap();
        if let Ok(wal) = std::fs::read(e.path("service.db-wal")) {
            bytes.extend(wal);
        }
        return bytes;
    };
    let tables = store_rows(
        e,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        &[],
    );
    let mut out = Vec::new();
    for t in tables {
        for row in store_rows(e, &format!("SELECT * FROM {} ORDER BY 1", t[0].text()), &[]) {
            for v in row {
                match v {
                    Val::Null => out.push(0),
                    Val::Int(i) => out.extend(i.to_le_bytes()),
                    Val::Text(s) => out.extend(s.into_bytes()),
                    Val::Blob(b) => out.extend(b),
                }
            }
        }
    }
    out
}

/// The rows of a query of the test's store (either engine), `?N` placeholders bound to `args`.
pub fn store_rows(e: &Env, sql: &str, args: &[Val]) -> Vec<Vec<Val>> {
    if let Some(url) = e.pg_url() {
        let mut c = postgres_client(url);
        let q = dollars(sql);
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|a| a as &(dyn postgres::types::ToSql + Sync))
            .collect();
        return c
            .query(&q, &params)
            .unwrap()
            .iter()
            .map(|r| {
                use postgres::types::Type;
                (0..r.len())
                    .map(|i| match *r.columns()[i].type_() {
                        Type::INT8 => r.get::<_, Option<i64>>(i).map_or(Val::Null, Val::Int),
                        Type::INT4 => r
                            .get::<_, Option<i32>>(i)
                            .map_or(Val::Null, |v| Val::Int(v.into())),
                        Type::BOOL => r
                            .get::<_, Option<bool>>(i)
                            .map_or(Val::Null, |v| Val::Int(v.into())),
                        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map_or(Val::Null, Val::Blob),
                        _ => r.get::<_, Option<String>>(i).map_or(Val::Null, Val::Text),
                    })
                    .collect()
            })
            .collect();
    }
    let c = rusqlite::Connection::open(e.path("service.db")).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(args.iter())).unwrap();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        use rusqlite::types::ValueRef as V;
        out.push(
            (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    V::Null => Val::Null,
                    V::Integer(i) => Val::Int(i),
                    V::Real(f) => Val::Int(f as i64),
                    V::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    V::Blob(b) => Val::Blob(b.to_vec()),
                })
                .collect(),
        );
    }
    out
}

/// Runs statements on the test's store (either engine): to damage or change it from outside.
pub fn store_exec(e: &Env, sql: &str) {
    match e.pg_url() {
        Some(url) => postgres_client(url).batch_execute(sql).unwrap(),
        None => rusqlite::Connection::open(e.path("service.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
    }
}

/// The bytes of a pack: its file under `content/`, or (a PostgreSQL store's content in the
/// database) its `content_chunk` rows one after another, checked to be contiguous.
pub fn pack_bytes(e: &Env, owner: &str, pack: &str) -> Vec<u8> {
    let storage = store_rows(
        e,
        "SELECT storage FROM content_pack WHERE id = ?1",
        &[pack.into()],
    );
    if storage.first().map(|r| r[0].text()) == Some("database".into()) {
        let mut out = Vec::new();
        for r in store_rows(
            e,
            "SELECT off, data FROM content_chunk WHERE pack = ?1 ORDER BY off",
            &[pack.into()],
        ) {
            assert_eq!(
                r[0].int() as usize,
                out.len(),
                "chunks of pack {pack} are contiguous"
            );
            out.extend(r[1].blob());
        }
        return out;
    }
    std::fs::read(e.path(&format!("content/{owner}/{pack}.pack"))).unwrap()
}

/// Replaces the bytes of a pack (to damage it from outside, as a store writer could): its file
/// under `content/`, or its `content_chunk` rows, rewritten as chunks of at most 256 KiB.
pub fn put_pack_bytes(e: &Env, owner: &str, pack: &str, bytes: &[u8]) {
    if pack_in_database(e, pack) {
        store_exec_args(
            e,
            "DELETE FROM content_chunk WHERE pack = ?1",
            &[pack.into()],
        );
        for (i, part) in bytes.chunks(256 * 1024).enumerate() {
            store_exec_args(
                e,
                "INSERT INTO content_chunk (pack, off, data) VALUES (?1, ?2, ?3)",
                &[pack.into(), Val::Int((i * 256 * 1024) as i64), part.into()],
            );
        }
        return;
    }
    std::fs::write(e.path(&format!("content/{owner}/{pack}.pack")), bytes).unwrap();
}

/// Whether a pack's bytes are still stored: its file, or (content in the database) its
/// `content_pack` row or any chunk of it.
pub fn pack_exists(e: &Env, owner: &str, pack: &str) -> bool {
    if e.pg_url().is_some() {
        let rows = store_rows(
            e,
            "SELECT (SELECT count(*) FROM content_pack WHERE id = ?1 AND storage = 'database') + (SELECT count(*) FROM content_chunk WHERE pack = ?1)",
            &[pack.into()],
        );
        if rows[0][0].int() > 0 {
            return true;
        }
    }
    e.path(&format!("content/{owner}/{pack}.pack")).exists()
}

/// Whether pack `pack` keeps its bytes in `content_chunk` rows (a PostgreSQL store's default).
pub fn pack_in_database(e: &Env, pack: &str) -> bool {
    e.pg_url().is_some()
        && store_rows(
            e,
            "SELECT storage FROM content_pack WHERE id = ?1",
            &[pack.into()],
        )
        .first()
        .is_some_and(|r| r[0].text() == "database")
}

/// Every item's stored ciphertext, in (mailbox, item) order: the bytes its row points at in its
/// pack (file or rows, [`pack_bytes`]), or its `item_segment` rows for an item from before the packs.
pub fn item_ciphertexts(e: &Env) -> Vec<Vec<u8>> {
    let rows = store_rows(
        e,
        "SELECT mailbox_guid, item_id, pack, pack_offset, stored_size FROM item ORDER BY mailbox_guid, item_id",
        &[],
    );
    rows.into_iter()
        .map(|r| {
            let (mailbox, item) = (r[0].text(), r[1].text());
            let (offset, len) = (r[3].int() as usize, r[4].int() as usize);
            match r[2].opt_text() {
                Some(p) => pack_bytes(e, &mailbox, &p)[offset..offset + len].to_vec(),
                None => store_rows(
                    e,
                    "SELECT data FROM item_segment WHERE mailbox_guid = ?1 AND item_id = ?2 ORDER BY n",
                    &[(&mailbox).into(), (&item).into()],
                )
                .into_iter()
                .flat_map(|r| r[0].blob())
                .collect(),
            }
        })
        .collect()
}

/// The one-column rows a query of the store returns (ciphertexts, wrapped keys).
pub fn blobs(e: &Env, sql: &str) -> Vec<Vec<u8>> {
    store_rows(e, sql, &[])
        .into_iter()
        .map(|r| r[0].blob())
        .collect()
}

/// The paths of every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd {
            let p = entry.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether this run tests the PostgreSQL backend (`CUSTKEY_TEST_STORE_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("CUSTKEY_TEST_STORE_BACKEND").is_ok_and(|v| v == "postgres")
}

/// A fresh, empty PostgreSQL database for one test (`CREATE DATABASE t_<uuid>` on the server
/// named by `CUSTKEY_TEST_POSTGRES`, which `.ci/run` starts); returns its URL. Without that
/// variable a developer's run skips loudly (`None`), and CI (`CI=true`) fails.
pub fn postgres_db() -> Option<String> {
    let Some(base) = std::env::var("CUSTKEY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but CUSTKEY_TEST_POSTGRES is not set: .ci/run must start PostgreSQL (.ci/postgres-start)");
        }
        eprintln!("SKIPPED: CUSTKEY_TEST_POSTGRES is not set, so this PostgreSQL test did not run (start a server with .ci/postgres-start and export its URL)");
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("CUSTKEY_TEST_POSTGRES={base}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    Some(with_database(&base, &name))
}

/// `url` naming the database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A connection to a test database (to look at or change what custkey wrote).
pub fn postgres_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// Checks a purge report's signature (`Signatures[i]`: `AllowedSigner`, `Signature`,
/// `Statement`, `Namespace`) with `ssh-keygen -Y verify`, working in `dir`; the tool's words
/// when it refuses.
pub fn ssh_verify(dir: &Path, sig: &serde_json::Value, who: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).unwrap();
    let (allowed, sigfile, msg) = (dir.join("allowed"), dir.join("msg.sig"), dir.join("msg"));
    std::fs::write(
        &allowed,
        format!("{}\n", sig["AllowedSigner"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::write(&sigfile, sig["Signature"].as_str().unwrap()).unwrap();
    std::fs::write(&msg, sig["Statement"].as_str().unwrap()).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed)
        .args(["-I", who, "-n", sig["Namespace"].as_str().unwrap(), "-s"])
        .arg(&sigfile)
        .stdin(std::fs::File::open(&msg).unwrap())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
