//! The unified audit log (append-only).

use rusqlite::params;

use super::{Result, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub creation_time: String,
    pub record_type: String,
    pub operation: String,
    pub organization_id: String,
    pub user_id: String,
    pub object_id: String,
    /// JSON object of custom parameters.
    pub parameters: String,
}

impl Tx<'_> {
    pub fn append_audit(&self, a: &AuditRow) -> Result<i64> {
        self.conn()
            .prepare_cached("INSERT INTO audit_record (creation_time, record_type, operation, organization_id, user_id, object_id, parameters)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .and_then(|mut st| st.execute(params![a.creation_time, a.record_type, a.operation, a.organization_id, a.user_id, a.object_id, a.parameters]))
            .map_err(|e| self.err(e))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Records with `start <= creation_time <= end` (RFC 3339 strings compare in time order), oldest first.
    pub fn audit_records(&self, start: &str, end: &str, limit: u64) -> Result<Vec<AuditRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, creation_time, record_type, operation, organization_id, user_id, object_id, parameters
                 FROM audit_record WHERE creation_time >= ?1 AND creation_time <= ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![start, end, limit.min(i64::MAX as u64) as i64],
                |r| {
                    Ok(AuditRow {
                        id: r.get(0)?,
                        creation_time: r.get(1)?,
                        record_type: r.get(2)?,
                        operation: r.get(3)?,
                        organization_id: r.get(4)?,
                        user_id: r.get(5)?,
                        object_id: r.get(6)?,
                        parameters: r.get(7)?,
                    })
                },
            )
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}
