//! The organization row.

use rusqlite::{params, OptionalExtension};

use super::{Result, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow {
    pub guid: String,
    pub name: String,
    pub subscription_type: String,
    pub data_purge_approvers: Vec<String>,
    pub default_geo: String,
    pub when_created: String,
    pub when_changed: String,
}

impl Tx<'_> {
    pub fn organization(&self) -> Result<Option<OrganizationRow>> {
        let row = self
            .conn()
            .query_row(
                "SELECT guid, name, subscription_type, data_purge_approvers, default_geo, when_created, when_changed
                 FROM organization WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((guid, name, st, approvers, geo, created, changed)) = row else {
            return Ok(None);
        };
        let data_purge_approvers: Vec<String> = serde_json::from_str(&approvers)
            .map_err(|e| StoreError::Sql(format!("organization.data_purge_approvers: {e}")))?;
        Ok(Some(OrganizationRow {
            guid,
            name,
            subscription_type: st,
            data_purge_approvers,
            default_geo: geo,
            when_created: created,
            when_changed: changed,
        }))
    }

    /// Inserts the organization unless one exists; returns whether it inserted.
    pub fn insert_organization(&self, row: &OrganizationRow) -> Result<bool> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO organization
                 (id, guid, name, subscription_type, data_purge_approvers, default_geo, when_created, when_changed)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.guid,
                    row.name,
                    row.subscription_type,
                    approvers_json(&row.data_purge_approvers),
                    row.default_geo,
                    row.when_created,
                    row.when_changed
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    pub fn update_organization(&self, row: &OrganizationRow) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE organization SET name = ?1, subscription_type = ?2, data_purge_approvers = ?3,
                 default_geo = ?4, when_changed = ?5 WHERE id = 1")
            .and_then(|mut st| st.execute(params![
                    row.name,
                    row.subscription_type,
                    approvers_json(&row.data_purge_approvers),
                    row.default_geo,
                    row.when_changed
                ]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

fn approvers_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
