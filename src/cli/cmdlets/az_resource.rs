//! Get-AzResource, Set-AzResource (Az.Resources): a key vault as an Azure resource, with its
//! properties in Azure's camelCase names, as the setup guide reads and writes them to turn soft
//! delete on for an older vault.

use std::collections::BTreeMap;

use custkey::service::azure::VaultPropertyChange;
use custkey::vault::{KeyVaultInfo, VaultSku};
use serde_json::{json, Map, Value};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{display, Output, Record};
use crate::cli::script::methods::type_name;
use crate::cli::Ctx;

const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";

const ID_HELP: &str = "The resource's id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>, as Get-AzKeyVault shows it (ResourceId).";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Get-AzResource",
        module: "Az.Resources",
        synopsis: "Shows a key vault as an Azure resource, with its properties in Azure's names.",
        description: "Shows the resource with the id given: ResourceId, Name, ResourceType \
(Microsoft.KeyVault/vaults), ResourceGroupName, Location, SubscriptionId, Tags and Properties, the vault's \
properties as Azure Resource Manager names them (sku, tenantId, accessPolicies, vaultUri, enableSoftDelete, \
softDeleteRetentionInDays, enableRbacAuthorization, provisioningState, and enablePurgeProtection once it is on, \
as Azure leaves it out before). custkey's resources are its key vaults; other resource types are not found.",
        params: &[Param::new("ResourceId", Kind::String, ID_HELP).position(0).required().aliases(&["Id"])],
        examples: &[Example {
            title: "A vault's resource properties, as the setup guide reads them",
            code: "custkey -Command '$v = Get-AzKeyVault -VaultName contoso-ck-va1; (Get-AzResource -ResourceId $v.ResourceId).Properties'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: get,
    },
    Cmdlet {
        name: "Set-AzResource",
        module: "Az.Resources",
        synopsis: "Changes a key vault's resource properties: purge protection on, and tags.",
        description: "Applies the properties given (an object as Get-AzResource's Properties, changed or not) \
to the key vault with the id given, through the same rules as Update-AzKeyVault: enablePurgeProtection true turns \
purge protection on (it is never turned off again); enableSoftDelete true and the vault's own \
softDeleteRetentionInDays are accepted as they are (soft delete is on for every vault, and the retention is \
fixed when the vault is made). The other properties Get-AzResource shows may be passed back unchanged; a change \
to one of them, or a property a vault does not have, is refused with what to use instead, and then nothing \
changes. -Tag replaces the vault's tags. It outputs the resource as Get-AzResource shows it; -WhatIf shows what \
would change. -Force is accepted as Az's (custkey asks for confirmation only under -Confirm).",
        params: &[
            Param::new("ResourceId", Kind::String, ID_HELP).required().aliases(&["Id"]),
            Param::new("Properties", Kind::Object, "The resource's properties, as Get-AzResource's Properties: an object, or JSON text on the command line.").aliases(&["PropertyObject"]),
            Param::new("Tag", Kind::Object, "Replace the tags: @{name = 'value'}."),
            Param::new("Force", Kind::Switch, "Do not ask for confirmation."),
        ],
        examples: &[Example {
            title: "Turn soft delete on for an older vault, as the setup guide writes it",
            code: "custkey -Command '$v = Get-AzKeyVault -VaultName contoso-ck-va1; $r = Get-AzResource -ResourceId $v.ResourceId; $r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value \"True\"; Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties'",
            output: "",
            remarks: "custkey's vaults have soft delete on from the start; the sequence changes nothing and succeeds.",
        }, Example {
            title: "Turn purge protection on",
            code: "custkey -Command '$v = Get-AzKeyVault -VaultName contoso-ck-va1; Set-AzResource -ResourceId $v.ResourceId -Properties @{enablePurgeProtection = $true}'",
            output: "",
            remarks: "The same as Update-AzKeyVault -VaultName contoso-ck-va1 -EnablePurgeProtection. On the command line -Properties takes JSON text: -Properties '{\"enablePurgeProtection\": true}'.",
        }],
        impact: Impact::Medium,
        table: &[],
        run: set,
    },
];

/// The vault a resource id names: `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.KeyVault/vaults/{v}`.
fn vault_of(id: &str) -> Result<&str, CliError> {
    let parts: Vec<&str> = id.trim().trim_end_matches('/').split('/').collect();
    let bad = || {
        CliError::usage(format!("'{id}' is not a key vault's resource id.")).with_help(
            "give it as /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>; $v.ResourceId of Get-AzKeyVault is one",
        )
    };
    match parts.as_slice() {
        ["", s, sub, g, rg, p, ns, ty, v]
            if s.eq_ignore_ascii_case("subscriptions")
                && !sub.is_empty()
                && g.eq_ignore_ascii_case("resourceGroups")
                && !rg.is_empty()
                && p.eq_ignore_ascii_case("providers")
                && !v.is_empty() =>
        {
            if ns.eq_ignore_ascii_case("Microsoft.KeyVault") && ty.eq_ignore_ascii_case("vaults") {
                Ok(v)
            } else {
                Err(CliError::usage(format!(
                    "The resource type {ns}/{ty} is not one custkey has: its resources are key vaults ({VAULT_TYPE})."
                ))
                .with_help("give a key vault's ResourceId (Get-AzKeyVault shows it)"))
            }
        }
        _ => Err(bad()),
    }
}

/// The vault whose resource id this is (the whole id must match, subscription and group too).
fn find(ctx: &mut Ctx, id: &str) -> Result<KeyVaultInfo, CliError> {
    let name = vault_of(id)?;
    let not_found = || {
        CliError::new(
            crate::cli::error::Class::Failed,
            format!("The Resource '{VAULT_TYPE}/{name}' under the id '{id}' was not found."),
        )
        .with_help("check the id with Get-AzKeyVault -VaultName <name> (ResourceId)")
    };
    match ctx.azure()?.vault_info(name) {
        Ok(info)
            if info
                .resource_id
                .eq_ignore_ascii_case(id.trim().trim_end_matches('/')) =>
        {
            Ok(info)
        }
        Ok(_) => Err(not_found()),
        Err(e) if e.kind() == custkey::service::ErrorKind::NotFound => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The vault's properties as Azure Resource Manager names them.
pub fn properties(info: &KeyVaultInfo) -> Result<Map<String, Value>, CliError> {
    let sku = match info.sku {
        VaultSku::Standard => "standard",
        VaultSku::Premium => "premium",
    };
    let mut policies = Vec::with_capacity(info.access_policies.len());
    for p in &info.access_policies {
        let keys = serde_json::to_value(&p.permissions_to_keys).map_err(|e| {
            CliError::new(
                crate::cli::error::Class::Internal,
                format!("an access policy could not be serialized: {e}"),
            )
        })?;
        let object_id = p
            .object_id
            .clone()
            .or_else(|| p.application_id.clone())
            .or_else(|| p.user_principal_name.clone())
            .unwrap_or_else(|| p.display_name.clone());
        policies.push(json!({
            "tenantId": info.tenant_id,
            "objectId": object_id,
            "permissions": {"keys": keys},
        }));
    }
    let mut m = Map::new();
    m.insert("sku".into(), json!({"family": "A", "name": sku}));
    m.insert("tenantId".into(), json!(info.tenant_id));
    m.insert("accessPolicies".into(), Value::Array(policies));
    m.insert("vaultUri".into(), json!(info.vault_uri));
    m.insert("enableSoftDelete".into(), json!(info.enable_soft_delete));
    m.insert(
        "softDeleteRetentionInDays".into(),
        json!(info.soft_delete_retention_in_days),
    );
    m.insert(
        "enableRbacAuthorization".into(),
        json!(info.enable_rbac_authorization),
    );
    if info.enable_purge_protection {
        m.insert("enablePurgeProtection".into(), json!(true));
    }
    m.insert("provisioningState".into(), json!("Succeeded"));
    Ok(m)
}

fn resource(info: &KeyVaultInfo) -> Result<Record, CliError> {
    let mut r = Record::new();
    r.insert("Name".into(), json!(info.vault_name));
    r.insert("ResourceGroupName".into(), json!(info.resource_group_name));
    r.insert("ResourceType".into(), json!(VAULT_TYPE));
    r.insert("Location".into(), json!(info.location));
    r.insert("ResourceId".into(), json!(info.resource_id));
    r.insert("SubscriptionId".into(), json!(info.subscription_id));
    r.insert("Tags".into(), json!(info.tags));
    r.insert("Properties".into(), Value::Object(properties(info)?));
    Ok(r)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let info = find(ctx, args.str("ResourceId").unwrap_or_default())?;
    Ok(Output::one(resource(&info)?))
}

/// A property's value as a boolean: `$true`, `'True'`, 1.
fn as_bool(name: &str, v: &Value) -> Result<bool, CliError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        other => Err(CliError::usage(format!(
            "The property {name} is true or false, not \"{}\".",
            display(other)
        ))),
    }
}

/// Whether a property given back reads as the vault's own value.
fn unchanged(given: &Value, current: &Value) -> bool {
    given == current
        || (!given.is_object()
            && !given.is_array()
            && display(given).eq_ignore_ascii_case(&display(current)))
}

/// What to use instead of changing a property Set-AzResource leaves alone.
fn instead(name: &str) -> &'static str {
    match name {
        "accessPolicies" => "change access policies with Set-AzKeyVaultAccessPolicy and Remove-AzKeyVaultAccessPolicy",
        "enableRbacAuthorization" => "the authorization model is chosen when the vault is made: New-AzKeyVault -EnableRbacAuthorization",
        "sku" => "the SKU is chosen when the vault is made: New-AzKeyVault -Sku Premium",
        _ => "it is set by the service; pass it back as Get-AzResource shows it, or leave it out",
    }
}

/// The change `-Properties` asks for, checked against the vault's properties now.
fn change_of(info: &KeyVaultInfo, given: &Value) -> Result<VaultPropertyChange, CliError> {
    let Value::Object(given) = given else {
        return Err(CliError::usage(format!(
            "-Properties takes the resource's properties as an object, not a [{}].",
            type_name(given)
        ))
        .with_help("pass $r.Properties of Get-AzResource, changed, or JSON text such as '{\"enablePurgeProtection\": true}'"));
    };
    let current = properties(info)?;
    let known = [
        "sku",
        "tenantId",
        "accessPolicies",
        "vaultUri",
        "enableSoftDelete",
        "softDeleteRetentionInDays",
        "enableRbacAuthorization",
        "enablePurgeProtection",
        "provisioningState",
    ];
    let mut change = VaultPropertyChange::default();
    for (k, v) in given {
        let Some(name) = known.iter().find(|n| n.eq_ignore_ascii_case(k)) else {
            return Err(CliError::usage(format!(
                "A key vault has no property '{k}' that Set-AzResource can set."
            ))
            .with_help(format!(
                "a vault's properties: {}; Set-AzResource turns enablePurgeProtection on",
                known.join(", ")
            )));
        };
        if v.is_null() {
            continue;
        }
        match *name {
            "enableSoftDelete" => change.enable_soft_delete = Some(as_bool(name, v)?),
            "enablePurgeProtection" => change.enable_purge_protection = Some(as_bool(name, v)?),
            "softDeleteRetentionInDays" => {
                let days = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                change.soft_delete_retention_in_days =
                    Some(days.and_then(|d| u32::try_from(d).ok()).ok_or_else(|| {
                        CliError::usage(format!(
                            "softDeleteRetentionInDays is a number of days, not \"{}\".",
                            display(v)
                        ))
                    })?);
            }
            other => {
                let now = current.get(other).unwrap_or(&Value::Null);
                if !unchanged(v, now) {
                    return Err(CliError::usage(format!(
                        "Set-AzResource cannot change {other} of key vault '{}'.",
                        info.vault_name
                    ))
                    .with_help(instead(other)));
                }
            }
        }
    }
    Ok(change)
}

fn tags_of(v: &Value) -> Result<BTreeMap<String, String>, CliError> {
    match v {
        Value::Object(m) => Ok(m.iter().map(|(k, v)| (k.clone(), display(v))).collect()),
        other => Err(CliError::usage(format!(
            "-Tag takes a hashtable of names and values, not a [{}].",
            type_name(other)
        ))
        .with_help("write -Tag @{env = 'prod'}")),
    }
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("ResourceId").unwrap_or_default();
    let info = find(ctx, id)?;
    let mut change = match args.object("Properties") {
        Some(p) => change_of(&info, p)?,
        None => VaultPropertyChange::default(),
    };
    if let Some(t) = args.object("Tag") {
        change.tags = Some(tags_of(t)?);
    }
    if change == VaultPropertyChange::default() && args.object("Properties").is_none() {
        return Err(
            CliError::usage("Set-AzResource was given nothing to change.")
                .with_help("give -Properties (as Get-AzResource's Properties) or -Tag"),
        );
    }
    let mut what = Vec::new();
    if change.enable_purge_protection == Some(true) && !info.enable_purge_protection {
        what.push("enablePurgeProtection = true".to_string());
    }
    if change.tags.as_ref().is_some_and(|t| *t != info.tags) {
        what.push("tags".to_string());
    }
    let action = if what.is_empty() {
        "Set resource properties (no change)".to_string()
    } else {
        format!("Set resource properties: {}", what.join(", "))
    };
    if !ctx.should_process(&info.resource_id, &action, args.switch("Force"))? {
        return Ok(Output::None);
    }
    let after = ctx
        .azure()?
        .set_vault_properties(&info.vault_name, &change)?;
    Ok(Output::one(resource(&after)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_name_key_vaults() {
        let id = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/va1";
        assert_eq!(vault_of(id).unwrap(), "va1");
        assert_eq!(vault_of(&format!("{}/", id.to_lowercase())).unwrap(), "va1");
        let e = vault_of(
            "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x",
        )
        .unwrap_err();
        assert!(
            e.message.contains("Microsoft.Storage/storageAccounts"),
            "{}",
            e.message
        );
        assert!(vault_of("va1").is_err());
        assert!(vault_of(
            "/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/"
        )
        .is_err());
    }
}
