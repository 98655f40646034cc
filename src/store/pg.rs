//! The PostgreSQL side of the store: connecting (with errors that name the server and never
//! the password), the schema (the same migrations as SQLite, translated), its version in a
//! `schema_version` table, and the "refuse a store newer than me" rule.
//!
//! The migrations are the SQLite ones (mod.rs), translated by [`pg_sql`]: `INTEGER` becomes
//! `BIGINT`, `BLOB` becomes `BYTEA`, an `AUTOINCREMENT` key an identity column, and
//! `COLLATE NOCASE` names a case-insensitive ICU collation of that name that the first
//! migration creates. The two migrations that rebuild a table to widen a CHECK (6: dep,
//! 15: recipient) are replaced by the `ALTER TABLE` PostgreSQL can do in place.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Statement};

use super::db::{self, Arg};
use super::location::{PgTls, PgUrl};
use super::{Result, StoreError, BUSY_TIMEOUT, MIGRATIONS, SCHEMA_VERSION};

/// How long connecting may take before the server counts as unreachable (unless the URL
/// sets `connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock that makes concurrent processes migrate one at a time.
const MIGRATION_LOCK: i64 = 0x0063_7573_746b_6579; // "custkey"

/// The advisory lock every write transaction takes first: writers take turns, as SQLite's
/// `BEGIN IMMEDIATE` makes them, so no command works from a read another has overtaken.
pub const WRITE_LOCK: i64 = 0x0063_7573_746b_6577; // "custkew"

/// Created before the first migration: the schema version and the collation the SQLite
/// schema calls NOCASE (comparisons ignore case, as SQLite's NOCASE does for ASCII).
const BOOTSTRAP: &str = "CREATE TABLE schema_version (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        version BIGINT NOT NULL
    );
    INSERT INTO schema_version VALUES (1, 0);
    CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);";

/// What migration 6 does on PostgreSQL instead of rebuilding `dep`.
const WIDEN_DEP_KIND: &str = "ALTER TABLE dep DROP CONSTRAINT dep_kind_check;
    ALTER TABLE dep ADD CONSTRAINT dep_kind_check CHECK (kind IN ('Mailbox', 'MicrosoftManaged', 'M365'));
    DROP INDEX dep_name;
    CREATE UNIQUE INDEX dep_name ON dep (kind, name COLLATE NOCASE);
    ";

/// What migration 15 does on PostgreSQL instead of rebuilding `recipient` (whose rows other
/// tables reference, so it can't be dropped there).
const WIDEN_RECIPIENT_KIND: &str = "ALTER TABLE recipient DROP CONSTRAINT recipient_kind_check;
    ALTER TABLE recipient ADD CONSTRAINT recipient_kind_check CHECK (kind IN ('UserMailbox',
        'SharedMailbox', 'MailUser', 'GroupMailbox', 'PublicFolderMailbox', 'ArchiveMailbox'));
    ALTER TABLE recipient ADD COLUMN archive_guid TEXT;
    CREATE UNIQUE INDEX recipient_archive ON recipient (archive_guid);
    ";

/// Where migration 6 stops rebuilding `dep` and starts creating new tables.
const AFTER_DEP_REBUILD: &str = "CREATE TABLE m365_assignment";

/// A connection to a PostgreSQL store at the current schema.
pub struct PgStore {
    client: Client,
    shown: String,
    /// Statements prepared on this connection, by their SQL text.
    statements: RefCell<HashMap<String, Statement>>,
    /// Other connections to the same database (pack writers), kept for reuse.
    pool: Arc<Pool>,
}

/// At most this many idle connections are kept for reuse ([`Pool`]); more are closed when
/// given back.
pub(crate) const POOL_IDLE: usize = 2;

/// The connections a store opens beside its own, for the writers of packs in the database
/// ([`super::pgpack`]): a process that imports into many mailboxes (a pipeline, the service's
/// workers) takes a connection per pack, and reusing one saves a connect, authentication and
/// TLS handshake each time. Bounded ([`POOL_IDLE`] idle); a connection goes back when its
/// [`Pooled`] is dropped, after a reset (any transaction rolled back, every advisory lock, the
/// pack's among them, released); one that fails the reset, or is found closed or not answering
/// when taken, is discarded, never reused.
pub(crate) struct Pool {
    idle: Mutex<Vec<Client>>,
    connector: Connector,
}

impl Pool {
    /// An idle connection that still answers, or a new one.
    fn take(self: &Arc<Pool>) -> std::result::Result<Pooled, postgres::Error> {
        loop {
            let next = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some(mut client) = next else { break };
            if !client.is_closed() && client.is_valid(Duration::from_secs(5)).is_ok() {
                return Ok(Pooled {
                    client: Some(client),
                    pool: Arc::clone(self),
                });
            }
            // Broken (the server restarted, an administrator ended the session): dropped.
        }
        let client = self.connector.try_connect()?;
        Ok(Pooled {
            client: Some(client),
            pool: Arc::clone(self),
        })
    }

    /// How many connections wait idle for reuse.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }
}

/// A connection from the store's [`Pool`], given back when dropped (or closed, when it is
/// broken or the pool is full). It dereferences to the `postgres::Client`.
pub(crate) struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
}

impl Pooled {
    /// Closes the connection instead of giving it back (its session state is unknown).
    pub(crate) fn discard(mut self) {
        self.client = None;
    }
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        if client.is_closed() {
            return;
        }
        // Back to a clean session: no transaction, no advisory lock (a pack's lock must end
        // with its writer, as it would with the session). ROLLBACK outside a transaction is a
        // warning, not an error.
        if client
            .batch_execute("ROLLBACK; SELECT pg_advisory_unlock_all()")
            .is_err()
        {
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            if idle.len() < POOL_IDLE {
                idle.push(client);
            }
        }
    }
}

/// What it takes to connect to the store's database again (the URL's password stays in the
/// driver's configuration, never in a message).
pub(crate) struct Connector {
    config: postgres::Config,
    tls: Option<rustls::ClientConfig>,
    shown: String,
}

impl Connector {
    fn try_connect(&self) -> std::result::Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(cfg) => {
                self.config
                    .connect(tokio_postgres_rustls_improved::MakeRustlsConnect::new(
                        cfg.clone(),
                    ))
            }
        }
    }
}

/// One transaction on a PostgreSQL store.
pub(crate) struct PgTx<'c> {
    tx: RefCell<postgres::Transaction<'c>>,
    statements: &'c RefCell<HashMap<String, Statement>>,
    shown: &'c str,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", self.shown)
    }
}

impl PgStore {
    /// Connects, creates or migrates the schema, and refuses a schema newer than this build.
    pub fn open(url: &PgUrl) -> Result<PgStore> {
        let mut config = url.config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = match url.tls() {
            None => None,
            Some(tls) => Some(tls_config(url, tls)?),
        };
        let connector = Connector {
            config,
            tls,
            shown: url.shown().to_string(),
        };
        let mut client = connector
            .try_connect()
            .map_err(|e| connect_error(url, &e))?;
        let shown = url.shown().to_string();
        // A writer waits for another's write transaction as long as SQLite's busy timeout.
        client
            .batch_execute(&format!("SET lock_timeout = '{}s'", BUSY_TIMEOUT.as_secs()))
            .map_err(|e| query_error(&shown, &e))?;
        migrate(&mut client, &shown)?;
        Ok(PgStore {
            client,
            shown,
            statements: RefCell::new(HashMap::new()),
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                connector,
            }),
        })
    }

    /// Another connection to the same database (the writer of a pack whose content lives in
    /// the database, [`super::pgpack`]), from the store's [`Pool`]: an idle one that still
    /// answers, else a new one; the schema is the one this store checked.
    pub(crate) fn connect_again(&self) -> Result<Pooled> {
        let shown = &self.pool.connector.shown;
        self.pool.take().map_err(|e| StoreError::Postgres {
            url: shown.clone(),
            detail: format!("cannot open another connection: {}", db_text(&e)),
            help: "check the server's max_connections and that it is still running; nothing was stored".into(),
        })
    }

    /// Starts a transaction: a write one takes the write lock first and reads the latest
    /// committed rows (READ COMMITTED, with no other writer running); a read one sees one
    /// snapshot (REPEATABLE READ).
    pub(crate) fn begin(&mut self, write: bool) -> Result<PgTx<'_>> {
        let PgStore {
            client,
            shown,
            statements,
            ..
        } = self;
        let level = if write {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::RepeatableRead
        };
        let mut tx = client
            .build_transaction()
            .isolation_level(level)
            .start()
            .map_err(|e| query_error(shown, &e))?;
        if write {
            tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .map_err(|e| query_error(shown, &e))?;
        }
        Ok(PgTx {
            tx: RefCell::new(tx),
            statements,
            shown,
        })
    }

    /// After a purge: rewrites the tables that hold wrapped keys (`VACUUM FULL`: new files, the
    /// old ones unlinked), because a plain VACUUM frees dead tuples' space in a page without
    /// overwriting it, so a destroyed key's bytes would stay in the table's file; then a plain
    /// VACUUM of the rest (content rows are ciphertext under the destroyed keys). WAL and
    /// backups are another matter: docs/store.md.
    pub(crate) fn vacuum(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        // One statement per query: VACUUM cannot run inside a (multi-statement) transaction.
        for sql in [
            "VACUUM FULL dep, dep_root_wrap, mailbox_key, workload_key, spo_dep, spo_dep_root_wrap, spo_mmk_tik, spo_site, key_commitment",
            "VACUUM",
        ] {
            self.client
                .batch_execute(sql)
                .map_err(|e| query_error(&shown, &e))?;
        }
        Ok(())
    }

    /// The URL with its password hidden.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&mut self) -> Result<i64> {
        let shown = self.shown.clone();
        let row = self
            .client
            .query_one("SELECT version FROM schema_version", &[])
            .map_err(|e| query_error(&shown, &e))?;
        Ok(row.get(0))
    }
}

impl PgTx<'_> {
    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .tx
            .borrow_mut()
            .prepare(&db::pg_placeholders(sql))
            .map_err(|e| query_error(self.shown, &e))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub(crate) fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<usize> {
        let st = self.statement(sql)?;
        let values = values(args);
        let params = params(&values);
        let n = self
            .tx
            .borrow_mut()
            .execute(&st, &params)
            .map_err(|e| query_error(self.shown, &e))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn rows(&self, sql: &str, args: &[&dyn Arg]) -> Result<Vec<db::Row>> {
        let st = self.statement(sql)?;
        let values = values(args);
        let params = params(&values);
        let rows = self
            .tx
            .borrow_mut()
            .query(&st, &params)
            .map_err(|e| query_error(self.shown, &e))?;
        rows.iter().map(db::Row::from_pg).collect()
    }

    /// As [`PgTx::exec`], but a uniqueness violation is `Ok(false)` and the transaction goes
    /// on (the statement ran in a savepoint, which is rolled back).
    pub(crate) fn exec_unless_taken(&self, sql: &str, args: &[&dyn Arg]) -> Result<bool> {
        let st = self.statement(sql)?;
        let values = values(args);
        let params = params(&values);
        let mut tx = self.tx.borrow_mut();
        let mut sp = tx
            .savepoint("unless_taken")
            .map_err(|e| query_error(self.shown, &e))?;
        match sp.execute(&st, &params) {
            Ok(_) => {
                sp.commit().map_err(|e| query_error(self.shown, &e))?;
                Ok(true)
            }
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                sp.rollback().map_err(|e| query_error(self.shown, &e))?;
                Ok(false)
            }
            Err(e) => Err(query_error(self.shown, &e)),
        }
    }

    pub(crate) fn commit(self) -> Result<()> {
        let shown = self.shown;
        self.tx
            .into_inner()
            .commit()
            .map_err(|e| query_error(shown, &e))
    }
}

fn values<'a>(args: &'a [&'a dyn Arg]) -> Vec<db::ValueRef<'a>> {
    args.iter().map(|a| a.value()).collect()
}

fn params<'a>(values: &'a [db::ValueRef<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// The SQLite migration `i` (0-based) as PostgreSQL runs it.
pub fn pg_sql(i: usize, sql: &str) -> String {
    let sql = if i == 5 {
        match sql.find(AFTER_DEP_REBUILD) {
            Some(at) => format!("{WIDEN_DEP_KIND}{}", &sql[at..]),
            None => sql.to_string(),
        }
    } else if i == 14 {
        WIDEN_RECIPIENT_KIND.to_string()
    } else {
        sql.to_string()
    };
    let sql = sql.replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    );
    let mut out = String::with_capacity(sql.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "INTEGER" => "BIGINT",
            "BLOB" => "BYTEA",
            w => w,
        });
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn migrate(client: &mut Client, shown: &str) -> Result<()> {
    let q = |e: postgres::Error| query_error(shown, &e);
    let mut tx = client.transaction().map_err(q)?;
    tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(q)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(q)?
        .get(0);
    if !exists {
        tx.batch_execute(BOOTSTRAP).map_err(|e| {
            let mut err = query_error(shown, &e);
            if let StoreError::Postgres { help, .. } = &mut err {
                *help = "custkey needs a PostgreSQL server built with ICU (for case-insensitive names) and a role allowed to create tables in this database".into();
            }
            err
        })?;
    }
    let version: i64 = tx
        .query_one("SELECT version FROM schema_version", &[])
        .map_err(q)?
        .get(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: shown.into(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(&pg_sql(i, sql)).map_err(|e| {
            StoreError::Sql(format!(
                "migration {} on PostgreSQL: {}",
                i + 1,
                db_text(&e)
            ))
        })?;
    }
    if version < SCHEMA_VERSION {
        tx.execute("UPDATE schema_version SET version = $1", &[&SCHEMA_VERSION])
            .map_err(q)?;
    }
    tx.commit().map_err(q)
}

/// The server's own message when there is one (the client's Display says only "db error").
fn db_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                let t = inner.to_string();
                if !s.contains(&t) {
                    s.push_str(": ");
                    s.push_str(&t);
                }
                src = inner.source();
            }
            s
        }
    }
}

/// The rustls configuration of a TLS connection: the server's chain must lead to the CA in
/// the URL's `sslrootcert`; with `verify-full` its certificate must also name the host.
fn tls_config(url: &PgUrl, tls: &PgTls) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |detail: String, help: &str| StoreError::Postgres {
        url: url.shown().to_string(),
        detail,
        help: help.to_string(),
    };
    let root = tls.root();
    let pem = crate::input::read_file_limited(root, 1 << 20).map_err(|e| {
        bad(
            format!("cannot read the CA certificate {}: {e}", root.display()),
            "give sslrootcert the PEM file of the CA that issued the server's certificate",
        )
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.map_err(|e| {
            bad(
                format!("{} is not a PEM certificate ({e})", root.display()),
                "give sslrootcert the PEM file of the CA that issued the server's certificate",
            )
        })?;
        roots.add(c).map_err(|e| {
            bad(
                format!(
                    "{} holds a certificate rustls refuses as a CA ({e})",
                    root.display()
                ),
                "give sslrootcert the PEM file of the CA that issued the server's certificate",
            )
        })?;
    }
    if roots.is_empty() {
        return Err(bad(
            format!("{} holds no certificate", root.display()),
            "give sslrootcert the PEM file of the CA that issued the server's certificate",
        ));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let internal =
        |e: rustls::Error| bad(format!("cannot set up TLS: {e}"), "report this as a bug");
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(internal)?;
    let roots = std::sync::Arc::new(roots);
    let cfg = match tls {
        PgTls::VerifyFull { .. } => builder.with_root_certificates(roots).with_no_client_auth(),
        PgTls::VerifyCa { .. } => {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| bad(format!("cannot set up TLS: {e}"), "report this as a bug"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
    };
    Ok(cfg)
}

/// `sslmode=verify-ca`: the chain to the CA is checked, the name in the certificate is not
/// (as libpq does).
#[derive(Debug)]
struct ChainOnly(std::sync::Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn connect_error(url: &PgUrl, e: &postgres::Error) -> StoreError {
    let code = e.code();
    let (detail, help) = if code == Some(&SqlState::INVALID_PASSWORD)
        || code == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    {
        (
            format!(
                "authentication failed for the user {}: {}",
                url.user(),
                db_text(e)
            ),
            "check the user and password (in the URL, PGPASSWORD is not read) and the server's pg_hba.conf; the password is never printed".to_string(),
        )
    } else if code == Some(&SqlState::INVALID_CATALOG_NAME) {
        (
            format!("the server has no database {}", url.database()),
            format!(
                "create it first (createdb {}), or name another database in the URL",
                url.database()
            ),
        )
    } else if e.as_db_error().is_some() {
        (
            db_text(e),
            "see the server's log; the store was not changed".to_string(),
        )
    } else if url.tls().is_some() && db_text(e).contains("TLS") {
        (
            format!("the TLS connection to {} failed: {}", url.target(), db_text(e)),
            format!(
                "check that sslrootcert ({}) is the CA that issued the server's certificate and, with sslmode=verify-full, that the certificate names the host in the URL",
                url.tls().map(|t| t.root().display().to_string()).unwrap_or_default()
            ),
        )
    } else {
        (
            format!("cannot reach the server at {}: {}", url.target(), db_text(e)),
            "check that PostgreSQL is running there and the host, port or socket directory in the URL".to_string(),
        )
    };
    StoreError::Postgres {
        url: url.shown().to_string(),
        detail,
        help,
    }
}

fn query_error(shown: &str, e: &postgres::Error) -> StoreError {
    let code = e.code();
    if code == Some(&SqlState::LOCK_NOT_AVAILABLE)
        || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
    {
        return StoreError::Busy {
            path: PathBuf::from(shown),
            detail: db_text(e),
        };
    }
    if e.is_closed() || e.as_db_error().is_none() {
        return StoreError::Postgres {
            url: shown.to_string(),
            detail: format!("the connection failed: {}", db_text(e)),
            help: "check that the server is running; the transaction was rolled back".into(),
        };
    }
    StoreError::Sql(db_text(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database on the test server (`CUSTKEY_TEST_POSTGRES`, .ci/run) opened as a
    /// store; `None` (loudly) without a server, a failure with `CI=true`.
    fn fresh_store() -> Option<PgStore> {
        let Some(base) = std::env::var("CUSTKEY_TEST_POSTGRES")
            .ok()
            .filter(|s| !s.is_empty())
        else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but CUSTKEY_TEST_POSTGRES is not set"
            );
            eprintln!(
                "SKIPPED: CUSTKEY_TEST_POSTGRES is not set, so this PostgreSQL test did not run"
            );
            return None;
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = Client::connect(&base, NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = match base.split_once('?') {
            Some((head, q)) => format!("{}/{name}?{q}", &head[..head.rfind('/').unwrap()]),
            None => format!("{}/{name}", &base[..base.rfind('/').unwrap()]),
        };
        let url = match super::super::location::Location::parse(&url).unwrap() {
            super::super::location::Location::Postgres(u) => u,
            other => panic!("not a PostgreSQL URL: {other:?}"),
        };
        Some(PgStore::open(&url).unwrap())
    }

    fn pid(c: &mut Client) -> i32 {
        c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
    }

    /// A connection given back is the next one taken (one connect for many packs), clean: no
    /// transaction left open, no advisory lock (a pack's) still held.
    #[test]
    fn the_pool_reuses_a_connection_given_back_with_its_locks_released() {
        let Some(mut store) = fresh_store() else {
            return;
        };
        let mut first = store.connect_again().unwrap();
        let p1 = pid(&mut first);
        first
            .batch_execute("BEGIN; SELECT pg_advisory_lock(4242)")
            .unwrap();
        drop(first);
        assert_eq!(store.pool.idle(), 1);
        let mut second = store.connect_again().unwrap();
        assert_eq!(pid(&mut second), p1, "the idle connection was reused");
        let held: i64 = store
            .client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
                &[&p1],
            )
            .unwrap()
            .get(0);
        assert_eq!(held, 0, "the pack lock went with the writer");
        // No transaction left open: its state is idle, not "idle in transaction".
        let state: String = store
            .client
            .query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&p1])
            .unwrap()
            .get(0);
        assert_eq!(state, "idle");
        // Two at once: two connections; given back, the pool keeps at most POOL_IDLE.
        let third = store.connect_again().unwrap();
        let fourth = store.connect_again().unwrap();
        drop((second, third, fourth));
        assert_eq!(store.pool.idle(), POOL_IDLE);
    }

    /// A pooled connection the server ended (an administrator's pg_terminate_backend, a
    /// restart) is discarded when taken, and a new one made: the writer never gets a dead one.
    #[test]
    fn a_broken_pooled_connection_is_discarded_not_reused() {
        let Some(mut store) = fresh_store() else {
            return;
        };
        let mut first = store.connect_again().unwrap();
        let p1 = pid(&mut first);
        drop(first);
        assert_eq!(store.pool.idle(), 1);
        let ended: bool = store
            .client
            .query_one("SELECT pg_terminate_backend($1, 5000)", &[&p1])
            .unwrap()
            .get(0);
        assert!(ended);
        let mut next = store.connect_again().unwrap();
        let p2 = pid(&mut next);
        assert_ne!(p2, p1);
        next.batch_execute("SELECT 1").unwrap();
        assert_eq!(store.pool.idle(), 0, "the dead one is not kept");
        // A connection discarded by its user is closed, not given back.
        next.discard();
        assert_eq!(store.pool.idle(), 0);
    }

    #[test]
    fn the_translation_maps_types_and_keeps_names() {
        let sql = pg_sql(
            3,
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, big_integer_x INTEGER, b BLOB, blobby TEXT);",
        );
        assert_eq!(
            sql,
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, big_integer_x BIGINT, b BYTEA, blobby TEXT);"
        );
    }

    #[test]
    fn migration_15_widens_recipient_kind_in_place() {
        let sql = pg_sql(14, MIGRATIONS[14]);
        assert!(sql.starts_with("ALTER TABLE recipient DROP CONSTRAINT recipient_kind_check"));
        assert!(!sql.contains("recipient_new"));
        assert!(sql.contains("'GroupMailbox', 'PublicFolderMailbox', 'ArchiveMailbox'"));
        assert!(sql.contains("ADD COLUMN archive_guid"));
    }

    #[test]
    fn migration_6_widens_in_place_and_keeps_its_new_tables() {
        let sql = pg_sql(5, MIGRATIONS[5]);
        assert!(sql.starts_with("ALTER TABLE dep DROP CONSTRAINT"));
        assert!(!sql.contains("dep_new"));
        for t in ["m365_assignment", "workload_key", "chat_message"] {
            assert!(sql.contains(&format!("CREATE TABLE {t}")), "{t}");
        }
    }
}
