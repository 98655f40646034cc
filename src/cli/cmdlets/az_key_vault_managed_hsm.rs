//! New-AzKeyVaultManagedHsm, Get-AzKeyVaultManagedHsm, Update-AzKeyVaultManagedHsm,
//! Remove-AzKeyVaultManagedHsm, Undo-AzKeyVaultManagedHsmRemoval.
//!
//! A Managed HSM is a key container of the data directory whose keys all live on a PKCS#11
//! token (bound as `New-AzKeyVault -Pkcs11Module -TokenLabel` binds a vault), named
//! `https://<name>.managedhsm.azure.net/keys/...`, authorized by its local RBAC roles only
//! (New-AzKeyVaultRoleAssignment -HsmName).

use custkey::vault::{KeyVaultInfo, ManagedHsmSpec, NewVaultRequest, Pkcs11Binding};
use serde_json::json;

use super::az_key_vault::{parse_tags, vault_names};
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Name", "ResourceGroupName", "Location", "Sku"];

const SKUS: &[&str] = &["StandardB1", "CustomB32", "CustomB6"];

const NAME: Param = Param::new("Name", Kind::String, "The Managed HSM's name (3-24 letters, digits, hyphens; one namespace with the key vaults here).")
    .position(0)
    .aliases(&["HsmName"])
    .complete(vault_names);

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-AzKeyVaultManagedHsm",
        module: "Az.KeyVault",
        synopsis: "Creates a Managed HSM whose keys live on a PKCS#11 token.",
        description: "Creates a Managed HSM in the current subscription. Its keys are generated and used on the PKCS#11 \
token named by -Pkcs11Module and -TokenLabel (custkey's binding, the same as New-AzKeyVault's; the PIN comes from \
CUSTKEY_PKCS11_PIN or the keyring), and are named https://<name>.managedhsm.azure.net/keys/<key>/<version>. Soft delete \
is always on (-SoftDeleteRetentionInDays 7-90); purge protection, once on, stays on. Access is local RBAC only: each \
-Administrator (an object id, or the UPN of a custkey account) gets the local role Managed HSM Administrator at /, which \
lets it grant roles with New-AzKeyVaultRoleAssignment -HsmName; creating and using keys needs Managed HSM Crypto User \
(Crypto Officer purges and recovers deleted keys), and Customer Key's service principals need Managed HSM Crypto Service Encryption User. \
A new HSM is NotActivated (SecurityDomain.ActivationStatus): its keys cannot be created or used until its security domain \
is downloaded with Export-AzKeyVaultSecurityDomain (or another HSM's is imported with Import-AzKeyVaultSecurityDomain).",
        params: &[
            Param::new("Name", Kind::String, "The Managed HSM's name (3-24 letters, digits, hyphens).").position(0).required(),
            Param::new("ResourceGroupName", Kind::String, "The resource group.").position(1).required(),
            Param::new("Location", Kind::String, "The region.").position(2).required(),
            Param::new("Administrator", Kind::StringList, "The initial administrators: object ids, or UPNs of custkey accounts.").position(3).required(),
            Param::new("Sku", Kind::Enum(SKUS), "The SKU (shown; the token is the hardware).").default("StandardB1"),
            Param::new("SoftDeleteRetentionInDays", Kind::Int { min: 0, max: 1_000 }, "Days a deleted key is kept (7-90).").required(),
            Param::new("EnablePurgeProtection", Kind::Switch, "Refuse purges during the retention period (Customer Key needs it)."),
            Param::new("Tag", Kind::StringList, "Tags: name=value,name=value."),
            Param::new("Pkcs11Module", Kind::Path, "The PKCS#11 module (absolute path) of the token that holds the keys (custkey extension).").required(),
            Param::new("TokenLabel", Kind::String, "The token's label (custkey extension).").required(),
        ],
        examples: &[Example {
            title: "A Managed HSM on a SoftHSM2 token, for Customer Key",
            code: "CUSTKEY_PKCS11_PIN=1234 custkey New-AzKeyVaultManagedHsm -Name contoso-ck-hsm1 -ResourceGroupName Contoso-CK-RG -Location westus -Administrator admin@contoso.onmicrosoft.com -SoftDeleteRetentionInDays 90 -EnablePurgeProtection -Pkcs11Module /usr/lib/softhsm/libsofthsm2.so -TokenLabel ck-hsm1",
            output: "",
            remarks: "The token must exist (softhsm2-util --init-token --free --label ck-hsm1 --pin 1234 --so-pin 5678). Then activate it: Export-AzKeyVaultSecurityDomain.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-AzKeyVaultManagedHsm",
        module: "Az.KeyVault",
        synopsis: "Shows a Managed HSM, or lists them.",
        description: "Shows Name, ResourceGroupName, Location, ResourceId, HsmUri, TenantId, InitialAdminObjectIds, Sku, \
EnableSoftDelete, EnablePurgeProtection, SoftDeleteRetentionInDays, ProvisioningState, SecurityDomain (ActivationStatus, ActivationStatusMessage), Tags and (custkey) \
SecurityDomainId (which security domain it holds), Backend and TokenLabel. Without -Name, every Managed HSM (key vaults are listed by Get-AzKeyVault). -InRemovedState lists \
the removed ones.",
        params: &[
            NAME,
            Param::new("ResourceGroupName", Kind::String, "Only those of this resource group."),
            Param::new("InRemovedState", Kind::Switch, "Removed Managed HSMs (still holding their names)."),
        ],
        examples: &[Example {
            title: "The HSM URI",
            code: "custkey Get-AzKeyVaultManagedHsm -Name contoso-ck-hsm1 -Property HsmUri",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Update-AzKeyVaultManagedHsm",
        module: "Az.KeyVault",
        synopsis: "Turns purge protection on, or replaces the tags, of a Managed HSM.",
        description: "Purge protection can be turned on, never off. Needs a management role (Owner, Contributor, Key Vault \
Contributor) at the HSM's scope or above.",
        params: &[
            NAME,
            Param::new("ResourceGroupName", Kind::String, "Its resource group (checked)."),
            Param::new("EnablePurgeProtection", Kind::Switch, "Turn purge protection on."),
            Param::new("Tag", Kind::StringList, "Replace the tags: name=value,name=value."),
        ],
        examples: &[Example {
            title: "Purge protection, as Customer Key requires",
            code: "custkey Update-AzKeyVaultManagedHsm -Name contoso-ck-hsm1 -EnablePurgeProtection",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: update,
    },
    Cmdlet {
        name: "Remove-AzKeyVaultManagedHsm",
        module: "Az.KeyVault",
        synopsis: "Removes (soft-deletes) a Managed HSM, or purges a removed one.",
        description: "A removed Managed HSM keeps its name and its keys until purged; its keys no longer wrap or unwrap, so \
the policies that use one fall back to their other root key. -InRemovedState purges it (refused under purge protection \
or in a protected subscription); purging destroys its key objects on the token.",
        params: &[
            NAME,
            Param::new("InRemovedState", Kind::Switch, "Purge a removed Managed HSM."),
            Param::new("Force", Kind::Switch, "Do not ask for confirmation."),
            Param::new("PassThru", Kind::Switch, "Write True to the output on success."),
        ],
        examples: &[Example {
            title: "Remove a test HSM",
            code: "custkey Remove-AzKeyVaultManagedHsm -Name test-hsm -Force",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: TABLE,
        run: remove,
    },
    Cmdlet {
        name: "Undo-AzKeyVaultManagedHsmRemoval",
        module: "Az.KeyVault",
        synopsis: "Recover a managed HSM.",
        description: "Recovers a removed (soft-deleted) Managed HSM within its retention period, with its keys, role \
assignments and security domain as they were: its keys wrap and unwrap again, so the policies that use them are whole \
again. -ResourceGroupName and -Location must be the removed HSM's (Get-AzKeyVaultManagedHsm -InRemovedState shows them). \
Needs a management role (Owner, Contributor, Key Vault Contributor) at its scope or above.",
        params: &[
            Param::new("Name", Kind::String, "The removed Managed HSM's name.").position(0).required(),
            Param::new("ResourceGroupName", Kind::String, "Its resource group.").position(1).required(),
            Param::new("Location", Kind::String, "Its region.").position(2).required(),
        ],
        examples: &[Example {
            title: "Recover a deleted HSM",
            code: "custkey Undo-AzKeyVaultManagedHsmRemoval -Name contoso-ck-hsm1 -ResourceGroupName Contoso-CK-RG -Location westus",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: undo,
    },
];

/// A Managed HSM as Az.KeyVault shows a `PSManagedHsm`.
pub fn hsm_record(info: &KeyVaultInfo) -> Record {
    let spec = info.managed_hsm.clone().unwrap_or(ManagedHsmSpec {
        sku: "StandardB1".into(),
        initial_admins: Vec::new(),
    });
    let mut r = Record::new();
    r.insert("Name".into(), json!(info.vault_name));
    r.insert("ResourceGroupName".into(), json!(info.resource_group_name));
    r.insert("Location".into(), json!(info.location));
    r.insert("ResourceId".into(), json!(info.resource_id));
    r.insert("HsmUri".into(), json!(info.vault_uri));
    r.insert("TenantId".into(), json!(info.tenant_id));
    r.insert("InitialAdminObjectIds".into(), json!(spec.initial_admins));
    r.insert("Sku".into(), json!(spec.sku));
    r.insert("EnableSoftDelete".into(), json!(info.enable_soft_delete));
    r.insert(
        "EnablePurgeProtection".into(),
        json!(info.enable_purge_protection),
    );
    r.insert(
        "SoftDeleteRetentionInDays".into(),
        json!(info.soft_delete_retention_in_days),
    );
    r.insert("RecoveryLevel".into(), json!(info.recovery_level));
    r.insert("ProvisioningState".into(), json!("Succeeded"));
    r.insert(
        "StatusMessage".into(),
        json!("The Managed HSM is provisioned and ready to use."),
    );
    r.insert(
        "SecurityDomain".into(),
        match &info.security_domain {
            Some(sd) => json!({
                "ActivationStatus": sd.activation_status,
                "ActivationStatusMessage": sd.activation_status_message,
            }),
            None => json!({ "ActivationStatus": "Unknown", "ActivationStatusMessage": "" }),
        },
    );
    r.insert(
        "SecurityDomainId".into(),
        json!(info.security_domain.as_ref().map(|s| s.domain_id.clone())),
    );
    r.insert("PublicNetworkAccess".into(), json!("Enabled"));
    r.insert("Tags".into(), json!(info.tags));
    r.insert("Backend".into(), json!(info.backend));
    r
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    let mut req = NewVaultRequest::new(
        name,
        args.str("ResourceGroupName").unwrap_or_default(),
        args.str("Location").unwrap_or_default(),
    );
    req.enable_purge_protection = args.switch("EnablePurgeProtection");
    req.soft_delete_retention_in_days = args.int("SoftDeleteRetentionInDays").map(|d| d as u32);
    req.tags = parse_tags(args.list("Tag").unwrap_or_default())?;
    req.enable_rbac_authorization = true;
    req.grant_caller_full_access = false;
    let admins: Vec<String> = args
        .list("Administrator")
        .unwrap_or_default()
        .iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if admins.is_empty() {
        return Err(
            CliError::usage("a Managed HSM needs at least one -Administrator")
                .with_help("e.g. -Administrator admin@contoso.onmicrosoft.com (or an object id)"),
        );
    }
    req.managed_hsm = Some(ManagedHsmSpec {
        sku: args.str("Sku").unwrap_or("StandardB1").to_string(),
        initial_admins: admins,
    });
    let module = args.str("Pkcs11Module").unwrap_or_default();
    let label = args.str("TokenLabel").unwrap_or_default();
    req.key_holder = Some(
        Pkcs11Binding::new(std::path::Path::new(module), label)
            .map_err(|e| CliError::usage(e.message().to_string()))?
            .holder(),
    );
    if !ctx.should_process(name, "New-AzKeyVaultManagedHsm", false)? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.new_vault(&req)?;
    Ok(Output::one(hsm_record(&info)))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name");
    let group = args.str("ResourceGroupName");
    let mut az = ctx.azure()?;
    let in_group =
        |i: &KeyVaultInfo| group.is_none_or(|g| i.resource_group_name.eq_ignore_ascii_case(g));
    if args.switch("InRemovedState") {
        let items = az
            .removed_vaults()?
            .into_iter()
            .filter(|(v, _)| v.managed_hsm.is_some() && in_group(v))
            .filter(|(v, _)| name.is_none_or(|n| v.vault_name.eq_ignore_ascii_case(n)))
            .map(|(v, deleted)| {
                let mut r = hsm_record(&v);
                r.insert("DeletionDate".into(), json!(deleted));
                r
            })
            .collect();
        return Ok(Output::many(items));
    }
    match name {
        Some(n) => {
            az.check_container(n, true)?;
            let info = az.vault_info(n)?;
            Ok(Output::many(
                [info]
                    .iter()
                    .filter(|i| in_group(i))
                    .map(hsm_record)
                    .collect(),
            ))
        }
        None => Ok(Output::many(
            az.vaults()?
                .iter()
                .filter(|i| i.managed_hsm.is_some() && in_group(i))
                .map(hsm_record)
                .collect(),
        )),
    }
}

fn update(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    ctx.azure()?.check_container(name, true)?;
    super::az_key_vault::check_resource_group(
        ctx,
        "Managed HSM",
        name,
        args.str("ResourceGroupName"),
    )?;
    let tags = args.list("Tag").map(parse_tags).transpose()?;
    let protect = args.switch("EnablePurgeProtection");
    if !protect && tags.is_none() {
        return Err(
            CliError::usage("Update-AzKeyVaultManagedHsm was given nothing to change.")
                .with_help("give -EnablePurgeProtection or -Tag"),
        );
    }
    if !ctx.should_process(name, "Update-AzKeyVaultManagedHsm", false)? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.update_vault(name, protect, tags)?;
    Ok(Output::one(hsm_record(&info)))
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    let purge = args.switch("InRemovedState");
    let mut az = ctx.azure()?;
    if purge {
        let removed = az.removed_vaults()?;
        if !removed
            .iter()
            .any(|(v, _)| v.managed_hsm.is_some() && v.vault_name.eq_ignore_ascii_case(name))
        {
            return Err(CliError::new(
                crate::cli::error::Class::Failed,
                format!("there is no removed Managed HSM named '{name}'"),
            )
            .with_help("Get-AzKeyVaultManagedHsm -InRemovedState lists them"));
        }
    } else {
        az.check_container(name, true)?;
    }
    let action = if purge {
        "Purge Managed HSM"
    } else {
        "Remove Managed HSM"
    };
    if !ctx.should_process(name, action, args.switch("Force"))? {
        return Ok(Output::None);
    }
    let mut az = ctx.azure()?;
    if purge {
        az.purge_vault(name)?;
    } else {
        let names = az.policies_in_vault(name)?;
        az.remove_vault(name)?;
        if !names.is_empty() {
            ctx.warn(&format!(
                "Managed HSM '{name}' holds root keys of {}: until it is restored they are opened with their other root key only",
                names.join(", ")
            ));
        }
    }
    Ok(if args.switch("PassThru") {
        Output::one({
            let mut r = Record::new();
            r.insert("Value".into(), json!(true));
            r
        })
    } else {
        Output::None
    })
}

fn undo(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    let removed = ctx.azure()?.removed_vaults()?;
    let Some((v, _)) = removed
        .iter()
        .find(|(v, _)| v.managed_hsm.is_some() && v.vault_name.eq_ignore_ascii_case(name))
    else {
        return Err(CliError::new(
            crate::cli::error::Class::Failed,
            format!("there is no removed Managed HSM named '{name}'"),
        )
        .with_help("Get-AzKeyVaultManagedHsm -InRemovedState lists them"));
    };
    let location = |l: &str| l.to_ascii_lowercase().replace(' ', "");
    for (given, have, what) in [
        (
            args.str("ResourceGroupName").unwrap_or_default(),
            v.resource_group_name.clone(),
            "resource group",
        ),
        (
            args.str("Location").unwrap_or_default(),
            v.location.clone(),
            "location",
        ),
    ] {
        if location(given) != location(&have) {
            return Err(CliError::new(
                crate::cli::error::Class::Failed,
                format!("the removed Managed HSM '{name}' is in the {what} '{have}', not '{given}'; nothing was recovered"),
            )
            .with_help(format!("see it with: custkey Get-AzKeyVaultManagedHsm -Name {name} -InRemovedState")));
        }
    }
    if !ctx.should_process(name, "Undo-AzKeyVaultManagedHsmRemoval", false)? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.undo_remove_vault(name)?;
    Ok(Output::one(hsm_record(&info)))
}
