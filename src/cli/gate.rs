//! Which admin role each Microsoft 365 workload cmdlet needs (docs/roles.md). Az cmdlets are
//! checked by the vaults themselves (role assignments and access policies), not here.

use custkey::service::roles::Need;

use super::def::Cmdlet;
use super::error::CliError;
use super::Ctx;

/// The admin role `cmdlet` needs, if any.
pub fn need(cmdlet: &str) -> Option<Need> {
    Some(match cmdlet {
        "New-DataEncryptionPolicy"
        | "Set-DataEncryptionPolicy"
        | "New-M365DataAtRestEncryptionPolicy"
        | "Set-M365DataAtRestEncryptionPolicy"
        | "Set-M365DataAtRestEncryptionPolicyAssignment"
        | "New-CustomerKeyOnboardingRequest" => Need::ExchangeDep,
        "Set-Mailbox" | "Set-OrganizationConfig" | "Start-CustomerKeyRollout" => {
            Need::ExchangeAdmin
        }
        "Get-DataEncryptionPolicy"
        | "Test-DataEncryptionPolicy"
        | "Get-OrganizationConfig"
        | "Get-M365DataAtRestEncryptionPolicy"
        | "Test-M365DataAtRestEncryptionPolicy"
        | "Get-M365DataAtRestEncryptionPolicyAssignment"
        | "Get-CustomerKeyOnboardingRequest" => Need::ExchangeRead,
        "Register-SPODataEncryptionPolicy"
        | "Update-SPODataEncryptionPolicy"
        | "Restore-SPODataEncryptionPolicy" => Need::SharePointAdmin,
        "Get-SPODataEncryptionPolicy" | "Get-SPOSiteDataEncryptionPolicy" => Need::SharePointRead,
        _ => return None,
    })
}

/// Refuses `cmdlet` unless the signed-in account holds the role it needs.
pub fn check(ctx: &mut Ctx, cmdlet: &'static Cmdlet) -> Result<(), CliError> {
    match need(cmdlet.name) {
        Some(n) => Ok(ctx.azure()?.require(n, cmdlet.name)?),
        None => Ok(()),
    }
}
