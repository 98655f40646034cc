//! What a vault's audit log records an operation as, and the filters of a query over it. The
//! log itself, its records and the query's matching are the vault's (`vault::audit`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
}

impl std::fmt::Display for VaultOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Filters for a vault's audit log query; every given filter must match.
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
