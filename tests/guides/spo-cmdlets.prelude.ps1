# Prelude of spo-cmdlets.ps1: vaults and keys with the names of the SharePoint cmdlet
# references' examples, in two subscriptions, for the Office 365 SharePoint Online principal; a
# replacement key for the Update example; the SharePoint admin connection and a site with a file.
$sp = '00000003-0000-0ff1-ce00-000000000000'
$vaults = @(
    @('Contoso-CK-Sub1', 'PKVaultName1', 'PrimaryKey1', 'westus'),
    @('Contoso-CK-Sub2', 'SKVaultName1', 'SecondaryKey2', 'eastus'),
    @('Contoso-CK-Sub1', 'PKVaultName2', 'PrimaryKey3', 'westus2')
)
foreach ($v in $vaults) {
    Set-AzContext -Subscription $v[0] | Out-Null
    Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources | Out-Null
    New-AzKeyVault -VaultName $v[1] -ResourceGroupName "$($v[1])-rg" -Location $v[3] -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $v[1] -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName $sp
    Add-AzKeyVaultKey -VaultName $v[1] -Name $v[2] -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
}
Connect-SPOService -Url https://contoso-admin.sharepoint.com
New-PnPSite -Title Marketing -Alias marketing | Out-Null
Connect-PnPOnline -Url https://contoso.sharepoint.com/sites/marketing -Interactive
Add-PnPFile -Path "$PSScriptRoot/../../README.md" -Folder "Shared Documents" | Out-Null
