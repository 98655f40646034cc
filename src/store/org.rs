//! The organization row.

use super::db::args;
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
        let Some(r) = self.row(
            "SELECT guid, name, subscription_type, data_purge_approvers, default_geo, when_created, when_changed
             FROM organization WHERE id = 1",
            args![],
        )?
        else {
            return Ok(None);
        };
        let approvers: String = r.get(3)?;
        let data_purge_approvers: Vec<String> = serde_json::from_str(&approvers)
            .map_err(|e| StoreError::Sql(format!("organization.data_purge_approvers: {e}")))?;
        Ok(Some(OrganizationRow {
            guid: r.get(0)?,
            name: r.get(1)?,
            subscription_type: r.get(2)?,
            data_purge_approvers,
            default_geo: r.get(4)?,
            when_created: r.get(5)?,
            when_changed: r.get(6)?,
        }))
    }

    /// Inserts the organization unless one exists; returns whether it inserted.
    pub fn insert_organization(&self, row: &OrganizationRow) -> Result<bool> {
        let n = self.exec(
            "INSERT INTO organization
             (id, guid, name, subscription_type, data_purge_approvers, default_geo, when_created, when_changed)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            args![
                row.guid,
                row.name,
                row.subscription_type,
                approvers_json(&row.data_purge_approvers),
                row.default_geo,
                row.when_created,
                row.when_changed
            ],
        )?;
        Ok(n == 1)
    }

    pub fn update_organization(&self, row: &OrganizationRow) -> Result<()> {
        self.exec(
            "UPDATE organization SET name = ?1, subscription_type = ?2, data_purge_approvers = ?3,
                 default_geo = ?4, when_changed = ?5 WHERE id = 1",
            args![
                row.name,
                row.subscription_type,
                approvers_json(&row.data_purge_approvers),
                row.default_geo,
                row.when_changed
            ],
        )?;
        Ok(())
    }
}

fn approvers_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
