# A multi-workload data encryption policy for the tenant, after examples/setup.ps1:
#   its own pair of vaults granted to the M365DataAtRestEncryption principal, the policy,
#   its assignment to the tenant, and the proof: a mailbox without a mailbox DEP and a Teams
#   chat message are both protected by it.
#
#   d=$(mktemp -d); export CUSTKEY_STORE=$d/service.db
#   cargo run -- -File examples/setup.ps1 $d
#   cargo run -- -File examples/multi-workload.ps1 $d
# The argument is the folder for the key backups (default: the current folder).

$backups = '.'
if ($args.Count -gt 0) { $backups = $args[0] }

$m365 = 'c066d759-24ae-40e7-a56f-027002b5d3e4'   # the M365DataAtRestEncryption principal
$vaults = @(
    @('Contoso-CK-Sub1', 'contoso-ck-mw1', 'MWKey01', 'westus'),
    @('Contoso-CK-Sub2', 'contoso-ck-mw2', 'MWKey02', 'centralus')
)

# 1. A separate pair of vaults for the multi-workload policy (the setup guide's advice).
$vaults | ForEach-Object {
    $sub = $_[0]; $vault = $_[1]; $key = $_[2]; $location = $_[3]
    Set-AzContext -Subscription $sub | Out-Null
    New-AzKeyVault -VaultName $vault -ResourceGroupName "$vault-rg" -Location $location -Sku Premium | Out-Null
    Set-AzKeyVaultAccessPolicy -VaultName $vault -ServicePrincipalName $m365 `
        -PermissionsToKeys wrapKey,unwrapKey,get
    Add-AzKeyVaultKey -VaultName $vault -Name $key -Destination HSM -KeyOps wrapKey,unwrapKey | Out-Null
    Backup-AzKeyVaultKey -VaultName $vault -Name $key -OutputFile "$backups/$key.backup" | Out-Null
    "vault $vault and key $key ready in $sub"
}

# 2. The policy, assigned to the tenant.
$ids = $vaults | ForEach-Object { Get-AzKeyVaultKey -VaultName $_[1] -Name $_[2] } |
    Select-Object -ExpandProperty Id
New-M365DataAtRestEncryptionPolicy -Name "Contoso Global" -AzureKeyIDs $ids `
    -Description "Teams, and mailboxes without a mailbox DEP" | Out-Null
Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy "Contoso Global"
Test-M365DataAtRestEncryptionPolicy -Identity "Contoso Global" | Format-Table KeyType,Result

# 3. The proof: a mailbox with no mailbox DEP, and a Teams message, under the policy.
New-Mailbox -Name "Room 1" -Alias room1 -Shared | Out-Null
New-MailboxImportRequest -Mailbox room1 -FilePath "$PSScriptRoot/mail/lunch.eml" | Out-Null
New-MgChat -Topic "Project Falcon" | Out-Null
New-MgChatMessage -ChatId "Project Falcon" -Body "Kick-off at 10" | Out-Null
$room = Get-MailboxStatistics -Identity room1
$msg = Get-MgChatMessage -ChatId "Project Falcon"
"room1 is protected by $($room.EncryptionPolicy) ($($room.EncryptionPolicyKind))"
"the chat message is protected by $($msg.EncryptionPolicy)"
if ($room.EncryptionPolicy -ne "Contoso Global" -or $msg.EncryptionPolicy -ne "Contoso Global") {
    exit 1
}
