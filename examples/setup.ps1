# Customer Key setup, end to end, as Microsoft's setup guide runs it:
#   two subscriptions with mandatory retention, a vault and a key in each, the access
#   policies, a DEP over both keys, licensed mailboxes assigned to it, mail imported,
#   and the statistics that prove the mailboxes are encrypted under the customer keys.
#
# Run it on a fresh store (the README's first command does):
#   d=$(mktemp -d); CUSTKEY_STORE=$d/service.db cargo run -- -File examples/setup.ps1 $d
# The argument is the folder for the key backups (default: the current folder).
# Any failing step stops the script with that step's exit code.

$backups = '.'
if ($args.Count -gt 0) { $backups = $args[0] }

$exo = '00000002-0000-0ff1-ce00-000000000000'   # the Exchange Online service principal
$vaults = @(
    @('Contoso-CK-Sub1', 'contoso-ck-va1', 'Key001', 'westus'),
    @('Contoso-CK-Sub2', 'contoso-ck-va2', 'Key002', 'centralus')
)

# 1. Vaults and keys, one per subscription.
$vaults | ForEach-Object {
    $sub = $_[0]; $vault = $_[1]; $key = $_[2]; $location = $_[3]
    Set-AzContext -Subscription $sub | Out-Null
    Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled `
        -ProviderNamespace Microsoft.Resources | Out-Null
    New-AzKeyVault -VaultName $vault -ResourceGroupName "$vault-rg" -Location $location -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $vault -UserPrincipalName kvadmin@contoso.com `
        -PermissionsToKeys create,import,list,get,backup,restore
    Set-AzKeyVaultAccessPolicy -VaultName $vault -ServicePrincipalName $exo `
        -PermissionsToKeys wrapKey,unwrapKey,get
    Add-AzKeyVaultKey -VaultName $vault -Name $key -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
    Update-AzKeyVaultKey -VaultName $vault -Name $key -Expires (Get-Date -Date "12/31/9999") | Out-Null
    Backup-AzKeyVaultKey -VaultName $vault -Name $key -OutputFile "$backups/$key.backup" | Out-Null
    "vault $vault and key $key ready in $sub"
}

# 2. The data encryption policy over both keys.
$ids = $vaults | ForEach-Object { Get-AzKeyVaultKey -VaultName $_[1] -Name $_[2] } |
    Select-Object -ExpandProperty Id
$dep = New-DataEncryptionPolicy -Name "US Mailboxes" -Description "Root keys for US mailboxes" -AzureKeyIDs $ids
"DEP $($dep.Name) is $($dep.State) with $($dep.AzureKeyIDs.Count) keys"

# 3. Mailboxes, licences, and the assignment (by pipeline: each mailbox binds to -Identity).
'alice', 'bob' | ForEach-Object { New-Mailbox -Name $_ -Alias $_ } | Out-Null
New-Mailbox -Name "Shared Archive" -Alias archive -Shared | Out-Null
Get-Mailbox | Where-Object RecipientTypeDetails -eq UserMailbox |
    ForEach-Object { Set-MgUserLicense -UserId $_.Alias -AddLicenses SPE_E5 } | Out-Null
Get-Mailbox | Set-Mailbox -DataEncryptionPolicy "US Mailboxes"

# 4. Mail in, then the proof.
New-MailboxImportRequest -Mailbox alice -FilePath "$PSScriptRoot/mail" | Out-Null
Get-MailboxStatistics | Sort-Object DisplayName | Format-Table DisplayName,ItemCount,IsEncrypted

# Fail the run (exit 1) if any mailbox is not encrypted under its customer DEP.
$plain = @(Get-MailboxStatistics | Where-Object IsEncrypted -eq $false)
if ($plain.Count -gt 0) {
    "not encrypted: $($plain.DisplayName)"
    exit 1
}
Get-MailboxStatistics -Identity alice | fl IsEncrypted,DataEncryptionPolicyID
