# SharePoint, OneDrive and Teams files under a geo policy, after examples/setup.ps1:
#   a pair of vaults granted to SharePoint Online, a site with a file, the geo policy registered
#   from versioned keys (which encrypts the existing site under it), a roll of the primary key,
#   and the file read back.
#
#   d=$(mktemp -d); export CUSTKEY_STORE=$d/service.db
#   cargo run -- -File examples/setup.ps1 $d
#   cargo run -- -File examples/sharepoint.ps1 $d
# The argument is the folder for key backups and the downloaded file (default: the current folder).

$out = '.'
if ($args.Count -gt 0) { $out = $args[0] }

$spo = '00000003-0000-0ff1-ce00-000000000000'   # the SharePoint Online principal
$vaults = @(
    @('Contoso-CK-Sub1', 'contoso-ck-sp1', 'SPKey01', 'westus'),
    @('Contoso-CK-Sub2', 'contoso-ck-sp2', 'SPKey02', 'centralus')
)

# 1. The vaults and keys.
$vaults | ForEach-Object {
    $sub = $_[0]; $vault = $_[1]; $key = $_[2]; $location = $_[3]
    Set-AzContext -Subscription $sub | Out-Null
    New-AzKeyVault -VaultName $vault -ResourceGroupName "$vault-rg" -Location $location -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $vault -ServicePrincipalName $spo `
        -PermissionsToKeys wrapKey,unwrapKey,get
    Add-AzKeyVaultKey -VaultName $vault -Name $key -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
    Backup-AzKeyVaultKey -VaultName $vault -Name $key -OutputFile "$out/$key.backup" | Out-Null
    "vault $vault and key $key ready in $sub"
}

# 2. A site with a file, under Microsoft-managed keys until the policy is registered.
New-PnPSite -Title Marketing -Alias marketing | Out-Null
Connect-PnPOnline -Url https://contoso.sharepoint.com/sites/marketing -Interactive
Add-PnPFile -Path "$PSScriptRoot/mail/q3.eml" -Folder "Shared Documents" | Out-Null

# 3. Register the geo's policy, as the guide does, from vault, key and version.
Connect-SPOService -Url https://contoso-admin.sharepoint.com
$p = Get-AzKeyVaultKey -VaultName contoso-ck-sp1 -Name SPKey01
$s = Get-AzKeyVaultKey -VaultName contoso-ck-sp2 -Name SPKey02
Register-SPODataEncryptionPolicy -PrimaryKeyVaultName contoso-ck-sp1 -PrimaryKeyName SPKey01 `
    -PrimaryKeyVersion $p.Version -SecondaryKeyVaultName contoso-ck-sp2 -SecondaryKeyName SPKey02 `
    -SecondaryKeyVersion $s.Version | Out-Null
Get-SPODataEncryptionPolicy | Format-List State,PercentComplete

# 4. Roll the primary key: a new version, then the policy onto it (the TIK is re-wrapped only).
Set-AzContext -Subscription Contoso-CK-Sub1 | Out-Null
$new = Add-AzKeyVaultKey -VaultName contoso-ck-sp1 -Name SPKey01 -Destination HSM -KeyOps wrapKey,unwrapKey
Update-SPODataEncryptionPolicy -KeyType Primary -KeyVaultName contoso-ck-sp1 -KeyName SPKey01 `
    -KeyVersion $new.Version | Out-Null
$policy = Get-SPODataEncryptionPolicy
"geo $($policy.Geo) is $($policy.State) with primary key $($policy.PrimaryKeyVaultUri)"

# 5. The file back, under the rolled key.
Get-PnPFile -Url "Shared Documents/q3.eml" -AsFile -Path $out -Force | Out-Null
Get-SPOSiteDataEncryptionPolicy -Identity https://contoso.sharepoint.com/sites/marketing |
    Format-List PrimaryKeyVaultUri,State
