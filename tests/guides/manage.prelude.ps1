# Prelude of manage.ps1: the state "Manage Customer Key" starts from, made as set-up.ps1 makes it
# ("ensure that you've completed the tasks required to set up Customer Key"): two subscriptions
# with mandatory retention, a pair of vaults and keys for each kind of policy with the names the
# guide's examples use (made valid Azure names where the guide's are not: see README.md),
# licensed mailboxes and a mail user, a SharePoint admin connection, and the key backup file the
# restore example names.
$pairs = @(
    # subscription, vault, key, principal, region
    @('Contoso-CK-Sub1', 'contosoWestUSvault1', 'Key-01', 'c066d759-24ae-40e7-a56f-027002b5d3e4', 'westus'),
    @('Contoso-CK-Sub2', 'contosoCentralUSvault1', 'Key-02', 'c066d759-24ae-40e7-a56f-027002b5d3e4', 'centralus'),
    @('Contoso-CK-Sub1', 'contoso-EastUSvault02', 'USA-key-01', '00000002-0000-0ff1-ce00-000000000000', 'eastus'),
    @('Contoso-CK-Sub2', 'contoso-CentralUSvault02', 'USA-Key-02', '00000002-0000-0ff1-ce00-000000000000', 'centralus'),
    @('Contoso-CK-Sub1', 'stageRG3vault', 'SPKey3', '00000003-0000-0ff1-ce00-000000000000', 'westus'),
    @('Contoso-CK-Sub2', 'stageRG5vault', 'SPKey5', '00000003-0000-0ff1-ce00-000000000000', 'eastus2'),
    @('Contoso-CK-Sub1', 'Contoso-O365EX-NA-VltA0', 'Key001', '00000002-0000-0ff1-ce00-000000000000', 'westus')
)
foreach ($p in $pairs) {
    Set-AzContext -Subscription $p[0] | Out-Null
    Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources | Out-Null
    New-AzKeyVault -VaultName $p[1] -ResourceGroupName "$($p[1])-rg" -Location $p[4] -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $p[1] -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName $p[3]
    Add-AzKeyVaultKey -VaultName $p[1] -Name $p[2] -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
}
# The restore example's vault, and a backup of a key of the same subscription under the name it reads.
Set-AzContext -Subscription Contoso-CK-Sub1 | Out-Null
New-AzKeyVault -VaultName Contoso-O365EX-NA-VltA1 -ResourceGroupName Contoso-O365EX-NA-rg -Location westus -Sku Premium | Out-Null
Set-AzKeyVaultAccessPolicy -VaultName Contoso-O365EX-NA-VltA1 -UserPrincipalName alice@contoso.com -PermissionsToKeys create,import,list,get,backup,restore
Backup-AzKeyVaultKey -VaultName Contoso-O365EX-NA-VltA0 -Name Key001 -OutputFile Contoso-O365EX-NA-VaultA1-Key001-Backup-20170802.backup | Out-Null
# Recipients: licensed mailboxes, and a mail user (a mailbox still on premises).
New-Mailbox -Name alice -Alias alice | Out-Null
New-Mailbox -Name bob -Alias bob | Out-Null
Set-MgUserLicense -UserId alice -AddLicenses SPE_E5 | Out-Null
Set-MgUserLicense -UserId bob -AddLicenses SPE_E5 | Out-Null
New-MailUser -Name carol -ExternalEmailAddress carol@fabrikam.com | Out-Null
Set-MgUserLicense -UserId carol -AddLicenses SPE_E5 | Out-Null
New-MailboxImportRequest -Mailbox alice -FilePath "$PSScriptRoot/../../examples/mail" | Out-Null
Connect-SPOService -Url https://contoso-admin.sharepoint.com
New-PnPSite -Title Marketing -Alias marketing | Out-Null
# The officers the FastTrack offer form authorizes to approve a data purge (custkey keeps them
# in the organization's configuration).
Set-OrganizationConfig -DataPurgeApprovers admin@contoso.onmicrosoft.com,ciso@contoso.com
