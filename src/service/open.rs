//! The composition root: which store a location names, opening it with its content storage,
//! and the vaults of a data directory. The cmdlet layer opens everything through these and
//! never names the store's or the vaults' own types; it holds the [`Store`] and [`Vaults`]
//! handles only to hand them back to the service.

use std::path::{Path, PathBuf};

use super::azure::Azure;
use super::keys::ServiceKeys;
use super::{Error, Result};
use crate::store::{location, ContentStorage, Location, LocationError, PgUrl};
use crate::vault::LocalBackend;

/// The service store handle: every service call takes it; its rows and SQL stay in `store`.
pub use crate::store::Store;

/// What `-Store` / `CUSTKEY_STORE` names: a SQLite file, or a PostgreSQL URL (an unsupported
/// URL is kept, to be reported when the store is first needed).
#[derive(Debug)]
pub struct StoreLocation {
    path: PathBuf,
    url: Option<std::result::Result<PgUrl, LocationError>>,
}

impl StoreLocation {
    /// The location `path` names: a URL is never taken for a file path.
    pub fn new(path: &Path) -> StoreLocation {
        let url = path.to_str().and_then(|text| {
            location::url_scheme(text)?;
            match Location::parse(text) {
                Ok(Location::Postgres(url)) => Some(Ok(*url)),
                Ok(Location::File(_)) => None,
                Err(e) => Some(Err(e)),
            }
        });
        StoreLocation {
            path: path.to_path_buf(),
            url,
        }
    }

    /// The text as given (a file path, or the URL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is a URL (a store that is not a file), supported or not.
    pub fn is_url(&self) -> bool {
        self.url.is_some()
    }

    /// How to name the store to the operator: the file path, or the URL without its password.
    pub fn shown(&self) -> String {
        match &self.url {
            Some(Ok(url)) => url.shown().to_string(),
            _ => self.path.display().to_string(),
        }
    }

    /// An unsupported or malformed URL, as the error opening it would give.
    pub fn error(&self) -> Option<Error> {
        match &self.url {
            Some(Err(e)) => Some(Error::invalid(e.to_string()).with_help(e.help())),
            _ => None,
        }
    }
}

/// Whether `text` is a URL (`scheme://`) rather than a file path.
pub fn is_url(text: &str) -> bool {
    location::url_scheme(text).is_some()
}

/// Opens (creating if new, migrating if older) the store at `at`; a PostgreSQL store keeps its
/// files in `data_dir`. `CUSTKEY_CONTENT` chooses where a PostgreSQL store keeps new content.
pub fn open_store(at: &StoreLocation, data_dir: &Path) -> Result<Store> {
    match &at.url {
        Some(Err(e)) => Err(Error::invalid(e.to_string()).with_help(e.help())),
        Some(Ok(url)) => {
            let content = content_storage()?;
            let mut s = Store::open_url(url, data_dir)?;
            if let Some(c) = content {
                s.set_content_storage(c)?;
            }
            Ok(s)
        }
        None => {
            if content_storage()? == Some(ContentStorage::Database) {
                return Err(Error::invalid(format!(
                    "CUSTKEY_CONTENT=database is for a PostgreSQL store; the SQLite store {} keeps content in files beside it",
                    at.path.display()
                ))
                .with_help("unset CUSTKEY_CONTENT, or give -Store a postgres:// URL"));
            }
            Ok(Store::open(&at.path)?)
        }
    }
}

/// The store at `at` if one exists there, never created or migrated (completion). A
/// PostgreSQL store is opened only when `server` allows a connection to a database server.
pub fn open_existing_store(at: &StoreLocation, data_dir: &Path, server: bool) -> Option<Store> {
    match &at.url {
        Some(Ok(url)) if server => Store::open_url(url, data_dir).ok(),
        Some(_) => None,
        None => Store::open_if_exists(&at.path).ok().flatten(),
    }
}

/// `CUSTKEY_CONTENT`: where a PostgreSQL store keeps new content (`database`, its default, or
/// `files` in the data directory; docs/store.md). Unset or empty: the store's default.
fn content_storage() -> Result<Option<ContentStorage>> {
    let Some(v) = std::env::var_os("CUSTKEY_CONTENT").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.to_string_lossy().to_ascii_lowercase().as_str() {
        "database" => Ok(Some(ContentStorage::Database)),
        "files" => Ok(Some(ContentStorage::Files)),
        other => Err(Error::invalid(format!(
            "CUSTKEY_CONTENT is '{other}'; it must be 'database' or 'files'"
        ))
        .with_help("unset it for the store's default (docs/store.md, Content)")),
    }
}

/// The vaults of a data directory (the local backend), opened once per command and handed to
/// the service keys and the Azure side.
#[derive(Clone)]
pub struct Vaults(LocalBackend);

impl Vaults {
    /// Opens the vaults in `data_dir` (the vault master key from its usual sources).
    pub fn open(data_dir: &Path) -> Result<Vaults> {
        Ok(Vaults(LocalBackend::open(data_dir)?))
    }

    /// What opening them found worth saying once (a master key file moved out of the data
    /// directory).
    pub fn take_notices(&self) -> Vec<String> {
        self.0.take_notices()
    }

    /// The service keys over these vaults.
    pub fn service_keys(&self, data_dir: &Path, store: &mut Store) -> Result<ServiceKeys> {
        ServiceKeys::open(data_dir, store, self.0.clone())
    }

    /// The Azure side over these vaults, acting as `upn` (an authenticated principal).
    pub fn azure(
        &self,
        record: crate::crypto::RecordKey,
        store: &mut Store,
        upn: &str,
    ) -> Result<Azure> {
        Azure::with_backend(self.0.clone(), record, store, upn)
    }
}
