//! The unified audit log (append-only).

use super::db::{self, args, Arg, Row};
use super::{Result, StoreError, Tx};

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

fn audit_row(r: &Row) -> Result<AuditRow> {
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
}

impl Tx<'_> {
    pub fn append_audit(&self, a: &AuditRow) -> Result<i64> {
        self.row(
            "INSERT INTO audit_record (creation_time, record_type, operation, organization_id, user_id, object_id, parameters)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            args![a.creation_time, a.record_type, a.operation, a.organization_id, a.user_id, a.object_id, a.parameters],
        )?
        .ok_or_else(|| StoreError::Sql("an audit record was not given an id".into()))?
        .get(0)
    }

    /// Appends records in order (their ids ascend as they are given), in a few statements
    /// ([`db::batches`]).
    pub fn append_audits(&self, rows: &[AuditRow]) -> Result<()> {
        for run in db::batches(rows) {
            let sql = format!(
                "INSERT INTO audit_record (creation_time, record_type, operation, organization_id, user_id, object_id, parameters)
                 VALUES {}",
                db::rows_sql(run.len(), "(?, ?, ?, ?, ?, ?, ?)")
            );
            let mut params: Vec<&dyn Arg> = Vec::with_capacity(run.len() * 7);
            for a in run {
                params.extend([
                    &a.creation_time as &dyn Arg,
                    &a.record_type,
                    &a.operation,
                    &a.organization_id,
                    &a.user_id,
                    &a.object_id,
                    &a.parameters,
                ]);
            }
            self.exec(&sql, &params)?;
        }
        Ok(())
    }

    /// Records with `start <= creation_time <= end` (RFC 3339 strings compare in time order), oldest first.
    pub fn audit_records(&self, start: &str, end: &str, limit: u64) -> Result<Vec<AuditRow>> {
        self.rows(
            "SELECT id, creation_time, record_type, operation, organization_id, user_id, object_id, parameters
             FROM audit_record WHERE creation_time >= ?1 AND creation_time <= ?2 ORDER BY id LIMIT ?3",
            args![start, end, limit.min(i64::MAX as u64)],
        )?
        .iter()
        .map(audit_row)
        .collect()
    }
}
