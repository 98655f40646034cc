# The SharePoint Online Customer Key cmdlet references: the example of each, in order
# Register-, Update-, Get-SPODataEncryptionPolicy.
# Source: MicrosoftDocs/OfficeDocs-SharePoint-PowerShell,
#   sharepoint/sharepoint-ps/Microsoft.Online.SharePoint.PowerShell/
#   Register-SPODataEncryptionPolicy.md @33c6d3a09fa57a80419d22f2f35858cb8fb334dc,
#   Update-SPODataEncryptionPolicy.md @003877cd5e5f5169eaa86ec60d3c2d8ec8230070,
#   Get-SPODataEncryptionPolicy.md @4dcd84f1968bf4b3b32716a099fc2c13da06f0a6 (ms.date 07/15/2025).
# Runs after spo-cmdlets.prelude.ps1. The key versions of the Register example are the
# reference's own keys'; these are this store's, read with Get-AzKeyVaultKey (README.md).

## Register-SPODataEncryptionPolicy, Example 1
Register-SPODataEncryptionPolicy -PrimaryKeyVaultName 'PKVaultName1' -PrimaryKeyName 'PrimaryKey1' -PrimaryKeyVersion (Get-AzKeyVaultKey -VaultName PKVaultName1 -Name PrimaryKey1).Version -SecondaryKeyVaultName 'SKVaultName1' -SecondaryKeyName 'SecondaryKey2' -SecondaryKeyVersion (Get-AzKeyVaultKey -VaultName SKVaultName1 -Name SecondaryKey2).Version

## Update-SPODataEncryptionPolicy, Example 1
Update-SPODataEncryptionPolicy -KeyVaultName PKVaultName2 -KeyName PrimaryKey3 -KeyVersion (Get-AzKeyVaultKey -VaultName PKVaultName2 -Name PrimaryKey3).Version -KeyType Primary

## Get-SPODataEncryptionPolicy, Example 1
Get-SPODataEncryptionPolicy
