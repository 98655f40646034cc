//! The principal registry (accounts and the OpenSSH public keys they prove themselves with) and
//! the signatures of data purge steps. Rows only: the MAC that authenticates a principal row is
//! made and checked by the service, which holds the key.

use super::db::{args, Row};
use super::{Result, Tx};

/// One registered principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRow {
    /// The normalised account name the row is looked up by.
    pub upn_key: String,
    pub upn: String,
    pub display_name: String,
    /// `ssh-ed25519 AAAA...` (no comment).
    pub public_key: String,
    /// `SHA256:...`.
    pub fingerprint: String,
    /// The store's first principal.
    pub owner: bool,
    pub registered_by: String,
    pub when_created: String,
    pub mac: Vec<u8>,
}

const COLUMNS: &str =
    "upn_key, upn, display_name, public_key, fingerprint, owner, registered_by, when_created, mac";

fn principal(r: &Row) -> Result<PrincipalRow> {
    Ok(PrincipalRow {
        upn_key: r.get(0)?,
        upn: r.get(1)?,
        display_name: r.get(2)?,
        public_key: r.get(3)?,
        fingerprint: r.get(4)?,
        owner: r.get(5)?,
        registered_by: r.get(6)?,
        when_created: r.get(7)?,
        mac: r.get(8)?,
    })
}

/// One signed step of a data purge (`request` or `approval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeSignatureRow {
    pub dep_guid: String,
    pub step: String,
    pub upn: String,
    pub fingerprint: String,
    /// The text that was signed.
    pub statement: String,
    /// The armored SSHSIG signature of `statement`.
    pub signature: String,
}

impl Tx<'_> {
    pub fn principals(&self) -> Result<Vec<PrincipalRow>> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM principal ORDER BY upn_key"),
            args![],
        )?
        .iter()
        .map(principal)
        .collect()
    }

    pub fn principal(&self, upn_key: &str) -> Result<Option<PrincipalRow>> {
        self.row(
            &format!("SELECT {COLUMNS} FROM principal WHERE upn_key = ?1"),
            args![upn_key],
        )?
        .as_ref()
        .map(principal)
        .transpose()
    }

    pub fn count_principals(&self) -> Result<u64> {
        match self.row("SELECT count(*) FROM principal", args![])? {
            Some(r) => r.get(0),
            None => Ok(0),
        }
    }

    pub fn principal_by_fingerprint(&self, fingerprint: &str) -> Result<Option<PrincipalRow>> {
        self.row(
            &format!("SELECT {COLUMNS} FROM principal WHERE fingerprint = ?1"),
            args![fingerprint],
        )?
        .as_ref()
        .map(principal)
        .transpose()
    }

    /// Adds a principal unless its name or key is registered already: `Ok(false)` then.
    pub fn insert_principal(&self, p: &PrincipalRow) -> Result<bool> {
        let n = self.exec(
            &format!(
                "INSERT INTO principal ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT DO NOTHING"
            ),
            args![
                p.upn_key,
                p.upn,
                p.display_name,
                p.public_key,
                p.fingerprint,
                p.owner,
                p.registered_by,
                p.when_created,
                p.mac
            ],
        )?;
        Ok(n == 1)
    }

    /// Removes a principal; `Ok(false)` when none had that name.
    pub fn delete_principal(&self, upn_key: &str) -> Result<bool> {
        let n = self.exec("DELETE FROM principal WHERE upn_key = ?1", args![upn_key])?;
        Ok(n == 1)
    }

    pub fn purge_signatures(&self, dep_guid: &str) -> Result<Vec<PurgeSignatureRow>> {
        self.rows(
            "SELECT dep_guid, step, upn, fingerprint, statement, signature FROM purge_signature
             WHERE dep_guid = ?1 ORDER BY step DESC",
            args![dep_guid],
        )?
        .iter()
        .map(|r| {
            Ok(PurgeSignatureRow {
                dep_guid: r.get(0)?,
                step: r.get(1)?,
                upn: r.get(2)?,
                fingerprint: r.get(3)?,
                statement: r.get(4)?,
                signature: r.get(5)?,
            })
        })
        .collect()
    }

    /// Records (or replaces) the signature of one step of a purge.
    pub fn put_purge_signature(&self, s: &PurgeSignatureRow) -> Result<()> {
        self.exec(
            "INSERT INTO purge_signature (dep_guid, step, upn, fingerprint, statement, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (dep_guid, step) DO UPDATE SET upn = excluded.upn,
               fingerprint = excluded.fingerprint, statement = excluded.statement,
               signature = excluded.signature",
            args![
                s.dep_guid,
                s.step,
                s.upn,
                s.fingerprint,
                s.statement,
                s.signature
            ],
        )?;
        Ok(())
    }
}
