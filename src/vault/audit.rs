//! The vault audit log: one JSON line per operation (time, caller, operation, key, version,
//! result), appended to the vault's own log file, and a query with filters.
//!
//! The file is append-only (`O_APPEND`, 0600, `fsync` after each record). Each record is one
//! `write` of a whole line, so concurrent writers never interleave; a crash can at worst leave a
//! partial last line, which a query skips (and counts in [`AuditLog::query`]'s result).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
use super::policy::Principal;

/// The operations a vault records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VaultOperation {
    /// New-AzKeyVault
    CreateVault,
    /// Remove-AzKeyVault
    RemoveVault,
    /// Undo-AzKeyVaultRemoval
    RecoverVault,
    /// Remove-AzKeyVault -InRemovedState
    PurgeVault,
    /// Update-AzKeyVault
    UpdateVault,
    /// Add-AzKeyVaultKey (new key or new version)
    CreateKey,
    /// Add-AzKeyVaultKey -KeyFilePath
    ImportKey,
    /// Get-AzKeyVaultKey -Name
    GetKey,
    /// Get-AzKeyVaultKey
    ListKeys,
    /// Get-AzKeyVaultKey -IncludeVersions
    ListKeyVersions,
    /// Update-AzKeyVaultKey
    UpdateKey,
    /// wrapKey
    WrapKey,
    /// unwrapKey
    UnwrapKey,
    /// Remove-AzKeyVaultKey
    DeleteKey,
    /// Get-AzKeyVaultKey -InRemovedState -Name
    GetDeletedKey,
    /// Get-AzKeyVaultKey -InRemovedState
    ListDeletedKeys,
    /// Undo-AzKeyVaultKeyRemoval
    RecoverKey,
    /// Remove-AzKeyVaultKey -InRemovedState
    PurgeKey,
    /// Backup-AzKeyVaultKey
    BackupKey,
    /// Restore-AzKeyVaultKey
    RestoreKey,
    /// Set-AzKeyVaultAccessPolicy
    SetAccessPolicy,
    /// Remove-AzKeyVaultAccessPolicy
    RemoveAccessPolicy,
}

impl VaultOperation {
    /// Every operation.
    pub const ALL: [VaultOperation; 22] = [
        VaultOperation::CreateVault,
        VaultOperation::RemoveVault,
        VaultOperation::RecoverVault,
        VaultOperation::PurgeVault,
        VaultOperation::UpdateVault,
        VaultOperation::CreateKey,
        VaultOperation::ImportKey,
        VaultOperation::GetKey,
        VaultOperation::ListKeys,
        VaultOperation::ListKeyVersions,
        VaultOperation::UpdateKey,
        VaultOperation::WrapKey,
        VaultOperation::UnwrapKey,
        VaultOperation::DeleteKey,
        VaultOperation::GetDeletedKey,
        VaultOperation::ListDeletedKeys,
        VaultOperation::RecoverKey,
        VaultOperation::PurgeKey,
        VaultOperation::BackupKey,
        VaultOperation::RestoreKey,
        VaultOperation::SetAccessPolicy,
        VaultOperation::RemoveAccessPolicy,
    ];

    /// The name as recorded (`WrapKey`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            VaultOperation::CreateVault => "CreateVault",
            VaultOperation::RemoveVault => "RemoveVault",
            VaultOperation::RecoverVault => "RecoverVault",
            VaultOperation::PurgeVault => "PurgeVault",
            VaultOperation::UpdateVault => "UpdateVault",
            VaultOperation::CreateKey => "CreateKey",
            VaultOperation::ImportKey => "ImportKey",
            VaultOperation::GetKey => "GetKey",
            VaultOperation::ListKeys => "ListKeys",
            VaultOperation::ListKeyVersions => "ListKeyVersions",
            VaultOperation::UpdateKey => "UpdateKey",
            VaultOperation::WrapKey => "WrapKey",
            VaultOperation::UnwrapKey => "UnwrapKey",
            VaultOperation::DeleteKey => "DeleteKey",
            VaultOperation::GetDeletedKey => "GetDeletedKey",
            VaultOperation::ListDeletedKeys => "ListDeletedKeys",
            VaultOperation::RecoverKey => "RecoverKey",
            VaultOperation::PurgeKey => "PurgeKey",
            VaultOperation::BackupKey => "BackupKey",
            VaultOperation::RestoreKey => "RestoreKey",
            VaultOperation::SetAccessPolicy => "SetAccessPolicy",
            VaultOperation::RemoveAccessPolicy => "RemoveAccessPolicy",
        }
    }

    /// Parse an operation name (case-insensitive).
    pub fn parse(s: &str) -> VaultResult<Self> {
        super::ids::parse_named(
            s,
            &VaultOperation::ALL,
            VaultOperation::as_str,
            "a vault operation",
        )
    }
}

impl std::fmt::Display for VaultOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuditRecord {
    /// When (UTC).
    pub time: DateTime<Utc>,
    /// Vault name.
    pub vault_name: String,
    /// Who (`User:admin@contoso.com`, `ServicePrincipal:0000...`, `ObjectId:...`).
    pub caller: String,
    /// What.
    pub operation: VaultOperation,
    /// Key name, if the operation names a key.
    pub key_name: Option<String>,
    /// Key version, if known.
    pub version: Option<String>,
    /// `Success`, or the error class (`AccessDenied`, `Unavailable`, ...).
    pub result: String,
    /// The error message, for a failure.
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A record stamped now.
    pub fn new(
        vault: &str,
        caller: &Principal,
        op: VaultOperation,
        key: Option<&str>,
        version: Option<&str>,
        outcome: Result<(), &VaultError>,
    ) -> Self {
        AuditRecord {
            time: Utc::now(),
            vault_name: vault.to_string(),
            caller: caller.to_string(),
            operation: op,
            key_name: key.map(str::to_string),
            version: version.map(str::to_string),
            result: match outcome {
                Ok(()) => "Success".to_string(),
                Err(e) => e.class().as_str().to_string(),
            },
            detail: outcome.err().map(|e| e.message().to_string()),
        }
    }
}

/// Filters for [`AuditLog::query`]; every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// At or before this time.
    pub end_time: Option<DateTime<Utc>>,
    /// Key name (case-insensitive).
    pub key_name: Option<String>,
    /// Operation.
    pub operation: Option<VaultOperation>,
    /// Caller: matches the recorded `Kind:Value` or just the value (case-insensitive).
    pub caller: Option<String>,
}

impl AuditQuery {
    /// Does a record pass every filter?
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.start_time.is_none_or(|t| r.time >= t)
            && self.end_time.is_none_or(|t| r.time <= t)
            && self.key_name.as_ref().is_none_or(|k| {
                r.key_name
                    .as_ref()
                    .is_some_and(|rk| rk.eq_ignore_ascii_case(k))
            })
            && self.operation.is_none_or(|o| r.operation == o)
            && self.caller.as_ref().is_none_or(|c| {
                r.caller.eq_ignore_ascii_case(c)
                    || r.caller
                        .split_once(':')
                        .is_some_and(|(_, v)| v.eq_ignore_ascii_case(c))
            })
    }
}

/// An append-only JSON-lines audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// A log at `path` (created on first append, 0600).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record and flush it to disk.
    pub fn append(&self, record: &AuditRecord) -> VaultResult<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| VaultError::Unavailable(format!("audit record not serializable: {e}")))?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| VaultError::io("cannot open the audit log", &self.path, &e))?;
        f.write_all(&line)
            .and_then(|()| f.sync_data())
            .map_err(|e| VaultError::io("cannot append to the audit log", &self.path, &e))
    }

    /// The records passing `q`, oldest first. A missing log is empty; unreadable lines
    /// (a partial last line after a crash) are skipped.
    pub fn query(&self, q: &AuditQuery) -> VaultResult<Vec<AuditRecord>> {
        let data = match std::fs::read(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(VaultError::io("cannot read the audit log", &self.path, &e)),
        };
        Ok(data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice::<AuditRecord>(l).ok())
            .filter(|r| q.matches(r))
            .collect())
    }
}
