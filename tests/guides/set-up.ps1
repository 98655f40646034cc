# "Set up Customer Key", every PowerShell block in the guide's order.
# Source: MicrosoftDocs/microsoft-365-docs, microsoft-365/compliance/customer-key-set-up.md,
#   late-2022 revision (ms.collection purview-compliance, no ms.date; the index gives no commit
#   for it: stored file id 8024465270, see ../shared/spec/customer-key-reference.md [SETUP-22]).
# Placeholders replaced as the guide tells the reader: <SubscriptionId>, <vault name>,
# <UPN of user>, <Office 365 appID>, <key name>. Steps without a block (creating the vaults and
# keys, backups) are in set-up.prelude.ps1 or the between-block lines marked "(not in the guide)".

# Register Azure subscriptions to use a mandatory retention period (for each subscription)
Set-AzContext -SubscriptionId Contoso-CK-Sub1
Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources
Set-AzContext -SubscriptionId Contoso-CK-Sub2
Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources

# Verify the status of each your Azure Subscriptions (for each subscription)
Set-AzContext -SubscriptionId Contoso-CK-Sub1   # (not in the guide: switch subscription)
Get-AzProviderFeature -ProviderNamespace Microsoft.Resources -FeatureName mandatoryRetentionPeriodEnabled
Set-AzContext -SubscriptionId Contoso-CK-Sub2   # (not in the guide: switch subscription)
Get-AzProviderFeature -ProviderNamespace Microsoft.Resources -FeatureName mandatoryRetentionPeriodEnabled

# Create a premium Azure Key Vault in each subscription (no block: the guide links to Azure's docs)
Set-AzContext -SubscriptionId Contoso-CK-Sub1   # (not in the guide)
New-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 -ResourceGroupName Contoso-CK-EX-NA-RG1 -Location westus -Sku Premium   # (not in the guide)
New-AzKeyVault -VaultName Contoso-CK-SP-NA-VaultA1 -ResourceGroupName Contoso-CK-SP-NA-RG1 -Location westus -Sku Premium   # (not in the guide)
New-AzKeyVault -VaultName mmcexchangevault -ResourceGroupName Contoso-CK-MW-RG1 -Location westus -Sku Premium   # (not in the guide)
Set-AzContext -SubscriptionId Contoso-CK-Sub2   # (not in the guide)
New-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA2 -ResourceGroupName Contoso-CK-EX-NA-RG2 -Location centralus -Sku Premium   # (not in the guide)
Set-AzContext -SubscriptionId Contoso-CK-Sub1   # (not in the guide)

# Assign permissions to each key vault: key vault administrators
Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -UserPrincipalName kvadmin@contoso.com -PermissionsToKeys create,import,list,get,backup,restore
Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -UserPrincipalName alice@contoso.com -PermissionsToKeys create,import,list,get,backup,restore

# Permissions to Microsoft 365 applications
Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000
Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName 00000002-0000-0ff1-ce00-000000000000
Set-AzKeyVaultAccessPolicy -VaultName Contoso-CK-SP-NA-VaultA1 -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName 00000003-0000-0ff1-ce00-000000000000
Get-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 | fl
Set-AzKeyVaultAccessPolicy -VaultName mmcexchangevault -PermissionsToKeys wrapKey,unwrapKey,get -ServicePrincipalName c066d759-24ae-40e7-a56f-027002b5d3e4   # (not in the guide: the tip's vault, for M365DataAtRestEncryption)
Get-AzKeyVault -VaultName mmcexchangevault | fl

# Make sure soft delete is enabled on your key vaults
$v = Get-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1
$r = Get-AzResource -ResourceId $v.ResourceId
$r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value 'True'
Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties
Get-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 | fl

# Add a key to each key vault (no block: the guide links to Add-AzKeyVaultKey)
Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001 -Destination HSM -KeyOps wrapKey,unwrapKey -Expires (Get-Date -Date "2030-01-01")   # (not in the guide; an expiry, so the next step has one to change)

# Verify expiration date of your keys
Get-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1
Update-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001 -Expires (Get-Date -Date "12/31/9999")

# Check the recovery level of your keys
(Get-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001).Attributes

# Back up Azure Key Vault (no block: the guide links to Backup-AzKeyVaultKey)
Backup-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001 -OutputFile Contoso-CK-EX-NA-VaultA1-Key001.backup   # (not in the guide)

# Obtain the URI for each Azure Key Vault key
(Get-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1).Id
