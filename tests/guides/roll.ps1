# "Roll or rotate a Customer Key or an availability key", every PowerShell block in order.
# Source: MicrosoftDocs/microsoft-365-docs @f7e9033a111f41cfa60518e9f503b90d3668b1e2 :
#   microsoft-365/compliance/customer-key-availability-key-roll.md (stored file id 5025053310).
# Runs after roll.prelude.ps1 on the same store. A syntax block runs as the example after it.

## Request a new version of each existing root key you want to roll
Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001 -Destination HSM -KeyOps @('wrapKey','unwrapKey') -NotBefore (Get-Date -Date "12/27/2016 12:01 AM")
# "Do this step in each Azure Key Vault": the same line for the SharePoint key the last section rolls.
Add-AzKeyVaultKey -VaultName Contoso-CK-SP-NA-VaultA1 -Name Contoso-CK-SP-NA-VaultA1-Key001 -Destination HSM -KeyOps @('wrapKey','unwrapKey') -NotBefore (Get-Date -Date "12/27/2016 12:01 AM")

## Update the keys for multi-workload DEPs
# (syntax block: Set-M365DataAtRestEncryptionPolicy -[Identity] "PolicyName" -Refresh)
Set-M365DataAtRestEncryptionPolicy -Identity "Contoso_Global" -Refresh

## Update the keys for Exchange Online DEPs
Set-DataEncryptionPolicy -Identity "Contoso EX NA" -Refresh

## Update the keys for SharePoint Online, OneDrive for Business, and Teams files
Update-SPODataEncryptionPolicy -Identity https://contoso-admin.sharepoint.com -KeyVaultName Contoso-CK-SP-NA-VaultA1 -KeyName Contoso-CK-SP-NA-VaultA1-Key001 -KeyVersion (Get-AzKeyVaultKey -VaultName Contoso-CK-SP-NA-VaultA1 -Name Contoso-CK-SP-NA-VaultA1-Key001).Version -KeyType Primary
Get-SPODataEncryptionPolicy -Identity https://contoso-admin.sharepoint.com
