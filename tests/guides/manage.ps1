# "Manage Customer Key", every PowerShell block in the guide's order.
# Source: sathana87/microsoft-365-docs @3a8acec5bf52d641ef118309b2233afa0516aee8 :
#   microsoft-365/compliance/customer-key-manage.md (2022 English text, a fork of
#   MicrosoftDocs/microsoft-365-docs; stored file id 7639062446).
# Runs after manage.prelude.ps1 on the same store. A syntax block (<placeholders>, [optional]
# parts) runs as the "Example:" the guide gives right after it; the others have their
# placeholders filled as the guide says. Changed example values are listed in README.md.

## Create a DEP for use with multiple workloads for all tenant users
# (syntax block: New-M365DataAtRestEncryptionPolicy -Name <PolicyName> -AzureKeyIDs <KeyVaultURI1, KeyVaultURI2> [-Description <String>])
New-M365DataAtRestEncryptionPolicy -Name "Contoso_Global" -AzureKeyIDs "https://contosoWestUSvault1.vault.azure.net/keys/Key-01","https://contosoCentralUSvault1.vault.azure.net/keys/Key-02" -Description "Policy for multiple workloads for all users in the tenant."

### Assign multi-workload policy
# (syntax block: Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy <PolicyName or ID>)
Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "Contoso_Global"

## Create a DEP for use with Exchange Online mailboxes
# (syntax block: New-DataEncryptionPolicy -Name <PolicyName> -Description "Policy Description" -AzureKeyIDs <KeyVaultURI1>, <KeyVaultURI2>)
New-DataEncryptionPolicy -Name USA_mailboxes -Description "Root key for mailboxes in USA and its territories" -AzureKeyIDs https://contoso-EastUSvault02.vault.azure.net/keys/USA-key-01, https://contoso-CentralUSvault02.vault.azure.net/keys/USA-Key-02

### Assign a DEP to a mailbox
Set-Mailbox -Identity alice -DataEncryptionPolicy USA_mailboxes
Set-MailUser -Identity carol -DataEncryptionPolicy USA_mailboxes

## Create a DEP for use with SharePoint Online, OneDrive for Business, and Teams files
# (syntax block: Register-SPODataEncryptionPolicy -PrimaryKeyVaultName <PrimaryKeyVaultName> -PrimaryKeyName <PrimaryKeyName> -PrimaryKeyVersion <PrimaryKeyVersion> -SecondaryKeyVaultName <SecondaryKeyVaultName> -SecondaryKeyName <SecondaryKeyName> -SecondaryKeyVersion <SecondaryKeyVersion>)
# The example's key versions are the guide's own keys'; these are this store's (see README.md).
Register-SPODataEncryptionPolicy -PrimaryKeyVaultName 'stageRG3vault' -PrimaryKeyName 'SPKey3' -PrimaryKeyVersion (Get-AzKeyVaultKey -VaultName stageRG3vault -Name SPKey3).Version -SecondaryKeyVaultName 'stageRG5vault' -SecondaryKeyName 'SPKey5' -SecondaryKeyVersion (Get-AzKeyVaultKey -VaultName stageRG5vault -Name SPKey5).Version

### View the DEPs you've created for Exchange Online mailboxes
Get-DataEncryptionPolicy

### Assign a DEP before you migrate a mailbox to the cloud
Set-MailUser -Identity carol -DataEncryptionPolicy USA_mailboxes

### Determine the DEP assigned to a mailbox
Get-MailboxStatistics -Identity alice | fl DataEncryptionPolicyID
Get-DataEncryptionPolicy (Get-MailboxStatistics -Identity alice).DataEncryptionPolicyID

## Verify that Customer Key has finished encryption
Get-MailboxStatistics -Identity alice | fl IsEncrypted
Get-SPODataEncryptionPolicy https://contoso-admin.sharepoint.com

## Get details about DEPs you use with multiple workloads
Get-M365DataAtRestEncryptionPolicy
Get-M365DataAtRestEncryptionPolicy -Identity "Contoso_Global"

## Get multi-workload DEP assignment information
Get-M365DataAtRestEncryptionPolicyAssignment

## Disable a multi-workload DEP
# "Before you disable a multi-workload DEP, unassign the DEP": no cmdlet unassigns; another policy takes its place.
New-M365DataAtRestEncryptionPolicy -Name "Contoso_Global_2" -AzureKeyIDs "https://contosoWestUSvault1.vault.azure.net/keys/Key-01","https://contosoCentralUSvault1.vault.azure.net/keys/Key-02"   # (not in the guide)
Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "Contoso_Global_2"   # (not in the guide)
# (syntax block: Set-M365DataAtRestEncryptionPolicy -[Identity] "PolicyName" -Enabled $false)
Set-M365DataAtRestEncryptionPolicy -Identity "Contoso_Global" -Enabled $false

## Restore Azure Key Vault keys
# (syntax block: Restore-AzKeyVaultKey -VaultName <vault name> -InputFile <filename>)
Restore-AzKeyVaultKey -VaultName Contoso-O365EX-NA-VltA1 -InputFile Contoso-O365EX-NA-VaultA1-Key001-Backup-20170802.backup

## Manage key vault permissions
# (syntax block: Get-AzKeyVault -VaultName <vault name>)
Get-AzKeyVault -VaultName Contoso-O365EX-NA-VltA1
# (syntax block: Remove-AzKeyVaultAccessPolicy -VaultName <vault name> -UserPrincipalName <UPN of user>)
Remove-AzKeyVaultAccessPolicy -VaultName Contoso-O365EX-NA-VltA1 -UserPrincipalName alice@contoso.com

## Roll back from Customer Key to Microsoft managed Keys
Set-Mailbox -Identity alice -DataEncryptionPolicy $NULL

## Revoke your Customer Keys and the availability key for Exchange Online and Skype for Business
# Step 1 has no block: "Remove wrap and unwrap permissions for O365 Exchange Online from Azure Key Vaults."
Remove-AzKeyVaultAccessPolicy -VaultName contoso-EastUSvault02 -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000   # (not in the guide)
Remove-AzKeyVaultAccessPolicy -VaultName contoso-CentralUSvault02 -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000   # (not in the guide)
Set-DataEncryptionPolicy USA_mailboxes -PermanentDataPurgeRequested -PermanentDataPurgeReason "Exiting the service" -PermanentDataPurgeContact "Alice Example"
