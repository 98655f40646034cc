//! Recipients: user, shared, group (Microsoft 365 group) and public-folder mailboxes, and
//! mail users.

use super::db::{self, args, Arg, Row};
use super::{Result, StoreError, Tx};
pub use crate::model::RecipientScope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRow {
    pub guid: String,
    pub exchange_guid: String,
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub primary_smtp: String,
    pub upn: Option<String>,
    pub external_email: Option<String>,
    /// UserMailbox, SharedMailbox, GroupMailbox, PublicFolderMailbox or MailUser.
    pub kind: String,
    /// Licence SKU part numbers.
    pub licenses: Vec<String>,
    pub dep_guid: Option<String>,
    pub when_created: String,
    pub when_changed: String,
    /// When the mailbox's data was destroyed by a data purge of its DEP.
    pub data_purged: Option<String>,
    /// The GUID of the mailbox's archive (its ArchiveMailbox row) once it has one.
    pub archive_guid: Option<String>,
}

const COLUMNS: &str = "guid, exchange_guid, name, alias, display_name, primary_smtp, upn, external_email, kind, licenses, dep_guid, when_created, when_changed, data_purged, archive_guid";

fn from_row(r: &Row) -> Result<(RecipientRow, String)> {
    let licenses: String = r.get(9)?;
    Ok((
        RecipientRow {
            guid: r.get(0)?,
            exchange_guid: r.get(1)?,
            name: r.get(2)?,
            alias: r.get(3)?,
            display_name: r.get(4)?,
            primary_smtp: r.get(5)?,
            upn: r.get(6)?,
            external_email: r.get(7)?,
            kind: r.get(8)?,
            licenses: Vec::new(),
            dep_guid: r.get(10)?,
            when_created: r.get(11)?,
            when_changed: r.get(12)?,
            data_purged: r.get(13)?,
            archive_guid: r.get(14)?,
        },
        licenses,
    ))
}

fn finish((mut row, licenses): (RecipientRow, String)) -> Result<RecipientRow> {
    row.licenses = serde_json::from_str(&licenses)
        .map_err(|e| StoreError::Sql(format!("recipient.licenses of {}: {e}", row.name)))?;
    Ok(row)
}

/// The SQL condition that selects `scope`'s recipients.
fn clause(scope: RecipientScope) -> &'static str {
    match scope {
        RecipientScope::Mailboxes => {
            "kind IN ('UserMailbox', 'SharedMailbox', 'GroupMailbox', 'PublicFolderMailbox')"
        }
        RecipientScope::MailUsers => "kind = 'MailUser'",
        RecipientScope::Groups => "kind = 'GroupMailbox'",
        RecipientScope::All => "kind <> 'ArchiveMailbox'",
        RecipientScope::Content => "kind <> 'MailUser'",
    }
}

impl Tx<'_> {
    /// Inserts a recipient. Returns `Ok(false)` when its name, alias, address or UPN is taken.
    pub fn insert_recipient(&self, r: &RecipientRow) -> Result<bool> {
        self.exec_unless_taken(
            &format!("INSERT INTO recipient ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            args![
                r.guid,
                r.exchange_guid,
                r.name,
                r.alias,
                r.display_name,
                r.primary_smtp,
                r.upn,
                r.external_email,
                r.kind,
                serde_json::to_string(&r.licenses).unwrap_or_else(|_| "[]".into()),
                r.dep_guid,
                r.when_created,
                r.when_changed,
                r.data_purged,
                r.archive_guid
            ],
        )
    }

    /// Recipients whose GUID, name, alias, primary address or UPN equals `identity`
    /// (case-insensitively), within `scope`. More than one means the identity is ambiguous.
    pub fn recipients_by_identity(
        &self,
        identity: &str,
        scope: RecipientScope,
    ) -> Result<Vec<RecipientRow>> {
        // One indexed lookup per column the identity could match (an OR over them would scan
        // the table): GUIDs look like GUIDs, addresses and UPNs contain '@', aliases never do.
        let scope = clause(scope);
        let guid_like = uuid::Uuid::parse_str(identity).is_ok();
        let mut branches = vec!["name = ?1 COLLATE NOCASE"];
        if guid_like {
            branches.extend(["guid = lower(?1)", "exchange_guid = lower(?1)"]);
        }
        if identity.contains('@') {
            branches.extend([
                "primary_smtp = ?1 COLLATE NOCASE",
                "upn = ?1 COLLATE NOCASE",
            ]);
        } else {
            branches.push("alias = ?1 COLLATE NOCASE");
        }
        let sql = branches
            .iter()
            .map(|b| format!("SELECT {COLUMNS} FROM recipient WHERE ({scope}) AND {b}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows = self
            .rows(&sql, args![identity])?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut out: Vec<RecipientRow> = Vec::with_capacity(rows.len());
        for r in rows {
            let r = finish(r)?;
            if !out.iter().any(|o| o.guid == r.guid) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// [`Tx::recipients_by_identity`] for many identities at once: for each identity, in order,
    /// the recipients it matches within `scope` (more than one: ambiguous), found by the same
    /// indexed lookups (its name; its GUID when it looks like one; its address and UPN when it
    /// holds '@', else its alias), in a few statements whatever their number
    /// ([`db::batches`]): each joins a list of the identities with the table.
    pub fn recipients_by_identities(
        &self,
        identities: &[String],
        scope: RecipientScope,
    ) -> Result<Vec<Vec<RecipientRow>>> {
        let scope = clause(scope);
        let mut out: Vec<Vec<RecipientRow>> = vec![Vec::new(); identities.len()];
        let numbered: Vec<(usize, &String, bool, bool)> = identities
            .iter()
            .enumerate()
            .map(|(i, id)| (i, id, uuid::Uuid::parse_str(id).is_ok(), id.contains('@')))
            .collect();
        // Each branch a lookup of one index, as in the single lookup; its number keeps the
        // order of the matches of one identity.
        let branches = [
            "name = v.id COLLATE NOCASE",
            "guid = lower(v.id) AND v.g = 1",
            "exchange_guid = lower(v.id) AND v.g = 1",
            "primary_smtp = v.id COLLATE NOCASE AND v.a = 1",
            "upn = v.id COLLATE NOCASE AND v.a = 1",
            "alias = v.id COLLATE NOCASE AND v.a = 0",
        ];
        let select = branches
            .iter()
            .enumerate()
            .map(|(b, on)| {
                format!("SELECT {COLUMNS}, v.i, {b} FROM v JOIN recipient ON {on} WHERE ({scope})")
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for run in db::batches(&numbered) {
            let sql = format!(
                "WITH v(i, id, g, a) AS (VALUES {}) {select} ORDER BY 16, 17",
                db::rows_sql(
                    run.len(),
                    "(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))"
                )
            );
            let mut params: Vec<&dyn Arg> = Vec::with_capacity(run.len() * 4);
            for (i, id, g, a) in run {
                params.extend([i as &dyn Arg, *id as &dyn Arg, g as &dyn Arg, a as &dyn Arg]);
            }
            for row in self.rows(&sql, &params)? {
                let i: usize = row.get(15)?;
                let r = finish(from_row(&row)?)?;
                let found = out.get_mut(i).ok_or_else(|| {
                    StoreError::Sql(format!(
                        "a lookup answered for identity {i} of {}",
                        identities.len()
                    ))
                })?;
                if !found.iter().any(|o| o.guid == r.guid) {
                    found.push(r);
                }
            }
        }
        Ok(out)
    }

    /// The recipients of these GUIDs (those that exist), in a few statements ([`db::batches`]).
    pub fn recipients_by_guid(&self, guids: &[&str]) -> Result<Vec<RecipientRow>> {
        let mut out = Vec::with_capacity(guids.len());
        for run in db::batches(guids) {
            let sql = format!(
                "SELECT {COLUMNS} FROM recipient WHERE guid IN ({})",
                db::rows_sql(run.len(), "?")
            );
            let params: Vec<&dyn Arg> = run.iter().map(|g| g as &dyn Arg).collect();
            for row in self.rows(&sql, &params)? {
                out.push(finish(from_row(&row)?)?);
            }
        }
        Ok(out)
    }

    pub fn recipient(&self, guid: &str) -> Result<Option<RecipientRow>> {
        let sql = format!("SELECT {COLUMNS} FROM recipient WHERE guid = ?1");
        self.row(&sql, args![guid])?
            .as_ref()
            .map(|r| from_row(r).and_then(finish))
            .transpose()
    }

    /// Recipients in `scope`, by name, at most `limit` of them.
    pub fn list_recipients(
        &self,
        scope: RecipientScope,
        limit: Option<u64>,
    ) -> Result<Vec<RecipientRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recipient WHERE {} ORDER BY name COLLATE NOCASE LIMIT ?1",
            clause(scope)
        );
        // No limit is the largest one (PostgreSQL refuses SQLite's LIMIT -1).
        let limit = limit.unwrap_or(u64::MAX).min(i64::MAX as u64);
        self.rows(&sql, args![limit])?
            .iter()
            .map(|r| from_row(r).and_then(finish))
            .collect()
    }

    /// Names of recipients in `scope` (for completion).
    /// The names, aliases and display names of the recipients in `scope` of which one begins
    /// with `prefix` (any case), each once, in name order; every recipient, not a first page.
    pub fn recipient_names(&self, scope: RecipientScope, prefix: &str) -> Result<Vec<String>> {
        // LIKE with its wildcards escaped: the prefix is text, not a pattern; lower() on both
        // sides because PostgreSQL's LIKE, unlike SQLite's, minds case.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let sql = format!(
            "SELECT name, alias, display_name FROM recipient WHERE {} AND
             (lower(name) LIKE lower(?1) ESCAPE '\\' OR lower(alias) LIKE lower(?1) ESCAPE '\\'
              OR lower(display_name) LIKE lower(?1) ESCAPE '\\')
             ORDER BY name COLLATE NOCASE",
            clause(scope)
        );
        let rows = self
            .rows(&sql, args![pattern])?
            .iter()
            .map(|r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let lower = prefix.to_lowercase();
        let mut out = Vec::with_capacity(rows.len());
        for (name, alias, display) in rows {
            for v in [name, alias, display] {
                if v.to_lowercase().starts_with(&lower)
                    && !out.iter().any(|o: &String| o.eq_ignore_ascii_case(&v))
                {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// Rewrites the mutable fields of a recipient. Returns `Ok(false)` on a uniqueness clash.
    pub fn update_recipient(&self, r: &RecipientRow) -> Result<bool> {
        self.exec_unless_taken(
            "UPDATE recipient SET name = ?2, alias = ?3, display_name = ?4, primary_smtp = ?5, upn = ?6,
             external_email = ?7, licenses = ?8, dep_guid = ?9, when_changed = ?10, data_purged = ?11,
             archive_guid = ?12 WHERE guid = ?1",
            args![
                r.guid,
                r.name,
                r.alias,
                r.display_name,
                r.primary_smtp,
                r.upn,
                r.external_email,
                serde_json::to_string(&r.licenses).unwrap_or_else(|_| "[]".into()),
                r.dep_guid,
                r.when_changed,
                r.data_purged,
                r.archive_guid
            ],
        )
    }
}

impl Tx<'_> {
    /// Sets a recipient's assigned DEP (`None`: Microsoft-managed keys).
    pub fn set_recipient_dep(
        &self,
        guid: &str,
        dep_guid: Option<&str>,
        when_changed: &str,
    ) -> Result<()> {
        self.exec(
            "UPDATE recipient SET dep_guid = ?2, when_changed = ?3 WHERE guid = ?1",
            args![guid, dep_guid, when_changed],
        )?;
        Ok(())
    }

    /// [`Tx::set_recipient_dep`] for many recipients, in a few statements ([`db::batches`]).
    pub fn set_recipients_dep(
        &self,
        guids: &[&str],
        dep_guid: Option<&str>,
        when_changed: &str,
    ) -> Result<()> {
        for run in db::batches(guids) {
            let n = run.len();
            let sql = format!(
                "UPDATE recipient SET dep_guid = ?{}, when_changed = ?{} WHERE guid IN ({})",
                n + 1,
                n + 2,
                db::rows_sql(n, "?")
            );
            let mut params: Vec<&dyn Arg> = run.iter().map(|g| g as &dyn Arg).collect();
            params.push(&dep_guid);
            params.push(&when_changed);
            self.exec(&sql, &params)?;
        }
        Ok(())
    }

    /// Changes a recipient's kind (a mail user migrated in becomes a UserMailbox) and clears
    /// its external address.
    pub fn set_recipient_kind(&self, guid: &str, kind: &str, when_changed: &str) -> Result<()> {
        self.exec(
            "UPDATE recipient SET kind = ?2, external_email = NULL, when_changed = ?3 WHERE guid = ?1",
            args![guid, kind, when_changed],
        )?;
        Ok(())
    }

    /// The licence lists (SKU part numbers) of every recipient that has at least one licence.
    pub fn recipient_licence_sets(&self) -> Result<Vec<Vec<String>>> {
        self.rows(
            "SELECT name, licenses FROM recipient WHERE licenses <> '[]' ORDER BY name COLLATE NOCASE",
            args![],
        )?
        .iter()
        .map(|r| {
            let (name, l): (String, String) = (r.get(0)?, r.get(1)?);
            serde_json::from_str(&l)
                .map_err(|e| StoreError::Sql(format!("recipient.licenses of {name}: {e}")))
        })
        .collect()
    }

    /// Recipients assigned to a DEP.
    pub fn recipients_of_dep(&self, dep_guid: &str) -> Result<Vec<RecipientRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recipient WHERE dep_guid = ?1 ORDER BY name COLLATE NOCASE"
        );
        self.rows(&sql, args![dep_guid])?
            .iter()
            .map(|r| from_row(r).and_then(finish))
            .collect()
    }
}
