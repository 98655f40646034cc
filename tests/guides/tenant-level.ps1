# "Customer Key for multiple Microsoft 365 workloads" (the tenant-level guide), every
# PowerShell block in order.
# Source: MicrosoftDocs/microsoft-365-docs, microsoft-365/compliance/customer-key-tenant-level.md,
#   2021 English text (no ms.date; the index gives no commit for it: stored file id 4775784589,
#   ../shared/spec/customer-key-reference.md [TL-21]).
# Runs after tenant-level.prelude.ps1. A syntax block runs as the example(s) after it.

### Create policy
# (syntax block: New-M365DataAtRestEncryptionPolicy [-Name] <String> -AzureKeyIDs <MultiValuedProperty> [-Description <String>])
New-M365DataAtRestEncryptionPolicy -Name "Default_Policy" -AzureKeyIDs "https://contosoWestUSvault01.vault.azure.net/keys/Key-01","https://contosoEastUSvault01.vault.azure.net/keys/Key-02" -Description "Tenant default policy"

### Assign policy
# (syntax block: Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "<Default_PolicyName or Default_PolicyID>")
# The example names "Default_PolicyName", a placeholder for the policy just made (README.md).
Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "Default_Policy"
New-MgChat -Topic "Project Falcon" | Out-Null   # (not in the guide: Teams data for the policy to encrypt)
New-MgChatMessage -ChatId "Project Falcon" -Body "Kick-off at 10" | Out-Null   # (not in the guide)

### Modify or Refresh policy
# (syntax block: Set-M365DataAtRestEncryptionPolicy [-Identity] <M365DataAtRestEncryptionPolicy DataEncryptionPolicyIdParameter> -Refresh [-Enabled <Boolean>] [-Name <String>] [-Description <String>])
Set-M365DataAtRestEncryptionPolicy -Identity "NAM Policy" -Enabled $false
Set-M365DataAtRestEncryptionPolicy -Identity "EUR Policy" -Refresh

### Get policy details
# (syntax block: Get-M365DataAtRestEncryptionPolicy [-Identity] <M365DataAtRestEncryptionPolicy DataEncryptionPolicyIdParameter>)
Get-M365DataAtRestEncryptionPolicy
Get-M365DataAtRestEncryptionPolicy -Identity "NAM Policy"

### Get policy assignment info
Get-M365DataAtRestEncryptionPolicyAssignment
