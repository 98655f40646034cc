# Prelude of roll.ps1: Customer Key set up as set-up.ps1 and manage.ps1 leave it, with the names
# the roll guide uses: a mailbox DEP and the multi-workload policy "Contoso_Global" over the keys
# of Contoso-CK-EX-NA-VaultA1 and -VaultA2 (both services may use them), a licensed mailbox with
# mail assigned to the DEP, and the SharePoint geo policy over the keys of two more vaults.
$vaults = @(
    @('Contoso-CK-Sub1', 'Contoso-CK-EX-NA-VaultA1', 'Contoso-CK-EX-NA-VaultA1-Key001', 'westus'),
    @('Contoso-CK-Sub2', 'Contoso-CK-EX-NA-VaultA2', 'Contoso-CK-EX-NA-VaultA2-Key001', 'centralus'),
    @('Contoso-CK-Sub1', 'Contoso-CK-SP-NA-VaultA1', 'Contoso-CK-SP-NA-VaultA1-Key001', 'westus'),
    @('Contoso-CK-Sub2', 'Contoso-CK-SP-NA-VaultA2', 'Contoso-CK-SP-NA-VaultA2-Key001', 'centralus')
)
foreach ($v in $vaults) {
    Set-AzContext -Subscription $v[0] | Out-Null
    Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources | Out-Null
    New-AzKeyVault -VaultName $v[1] -ResourceGroupName "$($v[1])-rg" -Location $v[3] -Sku Premium | Out-Null
    foreach ($sp in '00000002-0000-0ff1-ce00-000000000000', 'c066d759-24ae-40e7-a56f-027002b5d3e4', '00000003-0000-0ff1-ce00-000000000000') {
        Set-AzKeyVaultAccessPolicy -VaultName $v[1] -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName $sp
    }
    Add-AzKeyVaultKey -VaultName $v[1] -Name $v[2] -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
}
$ex = 'https://contoso-ck-ex-na-vaulta1.vault.azure.net/keys/Contoso-CK-EX-NA-VaultA1-Key001',
      'https://contoso-ck-ex-na-vaulta2.vault.azure.net/keys/Contoso-CK-EX-NA-VaultA2-Key001'
New-DataEncryptionPolicy -Name "Contoso EX NA" -AzureKeyIDs $ex | Out-Null
New-M365DataAtRestEncryptionPolicy -Name "Contoso_Global" -AzureKeyIDs $ex | Out-Null
Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "Contoso_Global"
New-Mailbox -Name alice -Alias alice | Out-Null
Set-MgUserLicense -UserId alice -AddLicenses SPE_E5 | Out-Null
Set-Mailbox -Identity alice -DataEncryptionPolicy "Contoso EX NA"
New-MailboxImportRequest -Mailbox alice -FilePath "$PSScriptRoot/../../examples/mail" | Out-Null
Connect-SPOService -Url https://contoso-admin.sharepoint.com
New-PnPSite -Title Marketing -Alias marketing | Out-Null
Register-SPODataEncryptionPolicy -PrimaryKeyVaultName Contoso-CK-SP-NA-VaultA1 -PrimaryKeyName Contoso-CK-SP-NA-VaultA1-Key001 -PrimaryKeyVersion (Get-AzKeyVaultKey -VaultName Contoso-CK-SP-NA-VaultA1 -Name Contoso-CK-SP-NA-VaultA1-Key001).Version -SecondaryKeyVaultName Contoso-CK-SP-NA-VaultA2 -SecondaryKeyName Contoso-CK-SP-NA-VaultA2-Key001 -SecondaryKeyVersion (Get-AzKeyVaultKey -VaultName Contoso-CK-SP-NA-VaultA2 -Name Contoso-CK-SP-NA-VaultA2-Key001).Version | Out-Null
