# Prelude of tenant-level.ps1: set up as the guide says ("similar to the ones used for
# onboarding to Customer Key for Exchange Online"): two vaults in two subscriptions whose keys
# the M365DataAtRestEncryption principal may use, with the names of the guide's example (made
# valid Azure key names, see README.md); the policies "NAM Policy" and "EUR Policy" its
# examples disable and refresh; a licensed user with a mailbox and a Teams chat.
$mw = 'c066d759-24ae-40e7-a56f-027002b5d3e4'
$vaults = @(
    @('Contoso-CK-Sub1', 'contosoWestUSvault01', 'Key-01', 'westus'),
    @('Contoso-CK-Sub2', 'contosoEastUSvault01', 'Key-02', 'eastus')
)
foreach ($v in $vaults) {
    Set-AzContext -Subscription $v[0] | Out-Null
    Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources | Out-Null
    New-AzKeyVault -VaultName $v[1] -ResourceGroupName "$($v[1])-rg" -Location $v[3] -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $v[1] -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName $mw
    Add-AzKeyVaultKey -VaultName $v[1] -Name $v[2] -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
}
$ids = "https://contosoWestUSvault01.vault.azure.net/keys/Key-01", "https://contosoEastUSvault01.vault.azure.net/keys/Key-02"
New-M365DataAtRestEncryptionPolicy -Name "NAM Policy" -AzureKeyIDs $ids | Out-Null
New-M365DataAtRestEncryptionPolicy -Name "EUR Policy" -AzureKeyIDs $ids | Out-Null
# A key rotated since those two were made: "EUR Policy" has a newer version to refresh onto.
Add-AzKeyVaultKey -VaultName contosoEastUSvault01 -Name Key-02 -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
New-Mailbox -Name alice -Alias alice | Out-Null
Set-MgUserLicense -UserId alice -AddLicenses SPE_E5 | Out-Null
New-MailboxImportRequest -Mailbox alice -FilePath "$PSScriptRoot/../../examples/mail" | Out-Null
