//! The vault audit log: one JSON line per operation (time, caller, operation, key, version,
//! result), appended to the vault's own log file, and a query with filters.
//!
//! The file is append-only (`O_APPEND`, 0600, `fsync` after each record). Each record is one
//! `write` of a whole line, so concurrent writers never interleave; a crash can at worst leave a
//! partial last line, which a query skips. The local backend's logs are chained (see
//! [`AuditLog::chained`]), so tampering with them is detectable.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
use super::fsio;
use super::policy::Principal;
use crate::crypto::SecretKey32;

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
    /// New-AzRoleAssignment at the vault's scope or one of its keys'
    NewRoleAssignment,
    /// Remove-AzRoleAssignment at the vault's scope or one of its keys'
    RemoveRoleAssignment,
    /// Get-AzKeyVaultKeyRotationPolicy
    GetKeyRotationPolicy,
    /// Set-AzKeyVaultKeyRotationPolicy
    SetKeyRotationPolicy,
    /// Invoke-AzKeyVaultKeyRotation, or a due rotation (Invoke-CustomerKeyRotation)
    RotateKey,
    /// Export-AzKeyVaultSecurityDomain (a Managed HSM's security domain downloaded)
    ExportSecurityDomain,
    /// Import-AzKeyVaultSecurityDomain
    ImportSecurityDomain,
}

impl VaultOperation {
    /// Every operation.
    pub const ALL: [VaultOperation; 29] = [
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
        VaultOperation::NewRoleAssignment,
        VaultOperation::RemoveRoleAssignment,
        VaultOperation::GetKeyRotationPolicy,
        VaultOperation::SetKeyRotationPolicy,
        VaultOperation::RotateKey,
        VaultOperation::ExportSecurityDomain,
        VaultOperation::ImportSecurityDomain,
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
            VaultOperation::NewRoleAssignment => "NewRoleAssignment",
            VaultOperation::RemoveRoleAssignment => "RemoveRoleAssignment",
            VaultOperation::GetKeyRotationPolicy => "GetKeyRotationPolicy",
            VaultOperation::SetKeyRotationPolicy => "SetKeyRotationPolicy",
            VaultOperation::RotateKey => "RotateKey",
            VaultOperation::ExportSecurityDomain => "ExportSecurityDomain",
            VaultOperation::ImportSecurityDomain => "ImportSecurityDomain",
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
    /// The chain value of a keyed log (see [`AuditLog::chained`]); absent in an unkeyed log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
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
            chain: None,
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
///
/// A *chained* log (the local backend's) makes each record carry a chain value: the record, with
/// the previous record's chain value, sealed under the log key (`crypto::seal` of an empty text
/// with that as associated data, which authenticates it). [`AuditLog::verify`] recomputes the
/// chain, so a record altered, inserted or removed anywhere but at the very end is found.
/// Appends to a chained log take an exclusive lock (`<log>.lock`) so the chain stays linear.
#[derive(Clone)]
pub struct AuditLog {
    path: PathBuf,
    key: Option<Arc<SecretKey32>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("chained", &self.key.is_some())
            .finish()
    }
}

/// What [`AuditLog::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuditVerification {
    /// Complete records read.
    pub records: usize,
    /// True when every record's chain value checks.
    pub intact: bool,
    /// The first line (1-based) whose chain value does not check, or that is not a record.
    pub first_bad_line: Option<usize>,
    /// The file ends in a partial line (a write cut short by a crash), which is ignored.
    pub torn_tail: bool,
}

const CHAIN_AAD: &[u8] = b"custkey-audit-chain/v1|";

fn chain_aad(prev: &str, body: &[u8]) -> Vec<u8> {
    let mut aad = CHAIN_AAD.to_vec();
    aad.extend_from_slice(prev.as_bytes());
    aad.push(b'|');
    aad.extend_from_slice(body);
    aad
}

fn unchained_body(r: &AuditRecord) -> VaultResult<Vec<u8>> {
    let mut r = r.clone();
    r.chain = None;
    serde_json::to_vec(&r)
        .map_err(|e| VaultError::Unavailable(format!("audit record not serializable: {e}")))
}

/// How far back from the end to look for the last record (records are far smaller).
const TAIL_WINDOW: u64 = 64 * 1024;

impl AuditLog {
    /// An unkeyed log at `path` (created on first append, 0600).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog {
            path: path.into(),
            key: None,
        }
    }

    /// A chained log at `path`, keyed with `key`.
    pub fn chained(path: impl Into<PathBuf>, key: Arc<SecretKey32>) -> Self {
        AuditLog {
            path: path.into(),
            key: Some(key),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// The chain value of the last complete record ("" for an empty or missing log).
    fn last_chain(&self) -> VaultResult<String> {
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) => return Err(VaultError::io("cannot read the audit log", &self.path, &e)),
        };
        let io = |e: std::io::Error| VaultError::io("cannot read the audit log", &self.path, &e);
        let len = f.metadata().map_err(io)?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL_WINDOW)))
            .map_err(io)?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).map_err(io)?;
        let complete = match tail.iter().rposition(|b| *b == b'\n') {
            Some(i) => &tail[..i],
            None => return Ok(String::new()),
        };
        Ok(complete
            .split(|b| *b == b'\n')
            .rev()
            .find_map(|l| serde_json::from_slice::<AuditRecord>(l).ok())
            .and_then(|r| r.chain)
            .unwrap_or_default())
    }

    /// Append one record and flush it to disk (chained logs: under the log lock).
    pub fn append(&self, record: &AuditRecord) -> VaultResult<()> {
        let mut record = record.clone();
        let _lock = match &self.key {
            Some(key) => {
                let lock = fsio::lock(&self.lock_path(), true)?;
                let prev = self.last_chain()?;
                let aad = chain_aad(&prev, &unchained_body(&record)?);
                let tag = crate::crypto::seal(key, &aad, b"").map_err(|e| {
                    VaultError::Unavailable(format!("cannot seal the audit chain: {e:?}"))
                })?;
                record.chain = Some(hex::encode(tag));
                Some(lock)
            }
            None => None,
        };
        let mut line = serde_json::to_vec(&record)
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

    /// Recompute the chain of a chained log. An unkeyed log is `Invalid` to verify.
    pub fn verify(&self) -> VaultResult<AuditVerification> {
        let Some(key) = &self.key else {
            return Err(VaultError::Invalid(
                "this audit log has no chain to verify".to_string(),
            ));
        };
        let data = match std::fs::read(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(VaultError::io("cannot read the audit log", &self.path, &e)),
        };
        let torn_tail = !data.is_empty() && !data.ends_with(b"\n");
        let complete = match data.iter().rposition(|b| *b == b'\n') {
            Some(i) => &data[..i],
            None => &data[..0],
        };
        let mut prev = String::new();
        let mut records = 0;
        let mut first_bad_line = None;
        for (i, line) in complete.split(|b| *b == b'\n').enumerate() {
            if complete.is_empty() {
                break;
            }
            let ok = serde_json::from_slice::<AuditRecord>(line)
                .ok()
                .and_then(|r| {
                    let chain = r.chain.clone()?;
                    let tag = hex::decode(&chain).ok()?;
                    let aad = chain_aad(&prev, &unchained_body(&r).ok()?);
                    crate::crypto::open(key, &aad, &tag).ok()?;
                    Some(chain)
                });
            match ok {
                Some(chain) => {
                    records += 1;
                    prev = chain;
                }
                None => {
                    first_bad_line = Some(i + 1);
                    break;
                }
            }
        }
        Ok(AuditVerification {
            records,
            intact: first_bad_line.is_none(),
            first_bad_line,
            torn_tail,
        })
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
