//! New-AzKeyVault, Get-AzKeyVault, Update-AzKeyVault, Remove-AzKeyVault, Undo-AzKeyVaultRemoval.

use std::collections::BTreeMap;

use custkey::vault::{NewVaultRequest, Pkcs11Binding, VaultSku};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output, Record};
use crate::cli::Ctx;

/// Vault names from the vault directory beside the store (file names; nothing is decrypted).
pub fn vault_names(ctx: &CompletionCtx) -> Vec<String> {
    let is_url = ctx
        .store_path
        .to_str()
        .is_some_and(custkey::service::open::is_url);
    let dir = match ctx.store_path.parent() {
        _ if is_url => crate::cli::data_dir_for_url(),
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    custkey::service::azure::vault_names(&dir)
}

/// `-Tag` as `name=value,name=value` or PowerShell's `@{name='value'; other='x'}`.
pub fn parse_tags(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for item in items {
        let item = item.trim().trim_start_matches("@{").trim_end_matches('}');
        for pair in item.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(CliError::usage(format!(
                    "Cannot bind parameter 'Tag': '{pair}' is not name=value."
                ))
                .with_help("write tags as env=prod,team=security or '@{env=\"prod\"}'"));
            };
            let v = v.trim().trim_matches(['\'', '"']);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    Ok(out)
}

pub const VAULT_TABLE: &[&str] = &[
    "VaultName",
    "ResourceGroupName",
    "Location",
    "Sku",
    "EnablePurgeProtection",
];

const VAULT_NAME_HELP: &str =
    "The vault's globally unique name: 3-24 letters, digits and hyphens, starting with a letter.";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-AzKeyVault",
        module: "Az.KeyVault",
        synopsis: "Creates a key vault in the current subscription, with soft delete on.",
        description: "Creates a key vault held by the embedded local backend (one encrypted file per vault beside \
the store). Soft delete is always on (retention 7 to 90 days, default 90). The signed-in account becomes the vault's \
Owner (role assignment at the vault's scope) and, in an access-policy vault, gets every key permission. With \
-EnableRbacAuthorization the data plane is authorized by role assignments instead of access policies (docs/roles.md). For Customer Key, create one vault in each of two subscriptions, ideally in two regions, and register \
mandatoryRetentionPeriodEnabled on both subscriptions. With -Pkcs11Module and -TokenLabel the vault is bound to a \
PKCS#11 HSM token instead: its keys are generated on the token and never leave it, and the vault file keeps only \
attributes, access policies and soft-delete state. The token's user PIN comes from CUSTKEY_PKCS11_PIN or the OS \
keyring cache, never from the command line. With -KmipServer (and -KmipClientCertificate, -KmipClientKey, -KmipCaCertificate) no vault is made: a KMIP key manager is registered under the name, after a TLS handshake with the client certificate succeeded; its AES-256 keys are then root keys named kmip://host:port/<unique identifier> (docs/kmip.md). Azure's RSA-only rule is a rule of Azure-style vaults and does not apply to KMIP roots.",
        params: &[
            Param::new("VaultName", Kind::String, VAULT_NAME_HELP).position(0).required().aliases(&["Name"]),
            Param::new("ResourceGroupName", Kind::String, "The resource group.").position(1).required(),
            Param::new("Location", Kind::String, "The Azure region, e.g. westus or West Europe.").position(2).required(),
            Param::new("Sku", Kind::Enum(&["Standard", "Premium"]), "Standard for testing, Premium (HSM-protected keys) for production.").default("Standard"),
            Param::new("EnablePurgeProtection", Kind::Switch, "Forbid purging deleted keys and the vault before the retention period ends. Cannot be turned off."),
            Param::new("SoftDeleteRetentionInDays", Kind::Int { min: 7, max: 90 }, "How long deleted keys and vaults can be recovered.").default("90"),
            Param::new("Tag", Kind::StringList, "Tags: name=value,name=value."),
            Param::new("EnableRbacAuthorization", Kind::Switch, "Authorize the data plane with Azure role assignments (New-AzRoleAssignment) instead of access policies."),
            Param::new("Pkcs11Module", Kind::Path, "Bind the vault to a PKCS#11 token: the module's absolute path (e.g. /usr/lib/softhsm/libsofthsm2.so). Needs -TokenLabel."),
            Param::new("TokenLabel", Kind::String, "The label of the token the vault's keys live on. Needs -Pkcs11Module."),
            Param::new("KmipServer", Kind::String, "Register a KMIP key manager instead of making a vault: its host:port (e.g. kms.contoso.com:5696). Needs the three -Kmip*Certificate/-KmipClientKey files."),
            Param::new("KmipClientCertificate", Kind::Path, "The PEM client certificate custkey authenticates to the KMIP server with (absolute path; the file stays where it is)."),
            Param::new("KmipClientKey", Kind::Path, "The PEM private key of the client certificate (absolute path, readable only by its owner)."),
            Param::new("KmipCaCertificate", Kind::Path, "The PEM CA certificate the KMIP server's certificate must chain to (absolute path)."),
        ],
        examples: &[Example {
            title: "The first Customer Key vault",
            code: "custkey New-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 -ResourceGroupName Contoso-CK-EX-NA-VaultA1-RG -Location westus -Sku Premium",
            output: "",
            remarks: "",
        }, Example {
            title: "A vault whose keys live on an HSM token",
            code: "CUSTKEY_PKCS11_PIN=$(cat ~/.ck1-pin) custkey New-AzKeyVault -VaultName Contoso-CK-HSM -ResourceGroupName Contoso-CK-RG -Location westus -Sku Premium -Pkcs11Module /usr/lib/softhsm/libsofthsm2.so -TokenLabel ck1",
            output: "",
            remarks: "The PIN is read from CUSTKEY_PKCS11_PIN (or the OS keyring cache) and checked before the vault is made.",
        }, Example {
            title: "Register a KMIP key manager",
            code: "custkey New-AzKeyVault -VaultName Contoso-KMS -ResourceGroupName Contoso-CK-RG -Location eastus -KmipServer kms.contoso.com:5696 -KmipClientCertificate /etc/custkey/kmip-client.crt -KmipClientKey /etc/custkey/kmip-client.key -KmipCaCertificate /etc/custkey/kmip-ca.crt",
            output: "",
            remarks: "Then use its keys by URI: New-DataEncryptionPolicy -AzureKeyIDs kmip://kms.contoso.com:5696/<unique identifier>,<a second key>.",
        }],
        impact: Impact::Medium,
        table: VAULT_TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-AzKeyVault",
        module: "Az.KeyVault",
        synopsis: "Shows a key vault (soft delete, purge protection, retention, access policies) or lists them.",
        description: "Shows one vault with -VaultName, as a list with its access policies (as Az shows a vault by name), or lists the vaults in a table. The AccessPolicies property lists who \
may do what with keys (PermissionsToKeys); Customer Key needs wrapKey, unwrapKey and get for the service's principal \
(Office 365 Exchange Online, Office 365 SharePoint Online or M365DataAtRestEncryption). -InRemovedState lists removed \
vaults that can still be recovered.",
        params: &[
            Param::new("VaultName", Kind::String, "The vault; all vaults when omitted.")
                .position(0)
                .aliases(&["Name"])
                .complete(vault_names),
            Param::new("InRemovedState", Kind::Switch, "List removed (soft-deleted) vaults."),
        ],
        examples: &[Example {
            title: "Check soft delete and the service's permissions",
            code: "custkey Get-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 -Property EnableSoftDelete,AccessPolicies",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: VAULT_TABLE,
        run: get,
    },
    Cmdlet {
        name: "Update-AzKeyVault",
        module: "Az.KeyVault",
        synopsis: "Turns on purge protection, or replaces a vault's tags.",
        description: "Changes a vault. Purge protection, once on, cannot be turned off. \
With -AcceptRollback (custkey only) the vault file as it is now becomes the vault's latest state for the service, \
after an older copy was put back on purpose: the service otherwise refuses a vault file older than one it has used \
(docs/vaults.md). It asks for confirmation unless -Force is given and is recorded in the unified audit log.",
        params: &[
            Param::new("VaultName", Kind::String, "The vault.").position(0).required().complete(vault_names),
            Param::new("ResourceGroupName", Kind::String, "The vault's resource group, as the guides give it: it must be the vault's."),
            Param::new("EnablePurgeProtection", Kind::Switch, "Turn purge protection on."),
            Param::new("Tag", Kind::StringList, "Replace the tags: name=value,name=value."),
            Param::new("AcceptRollback", Kind::Switch, "Accept the vault file as it is now, even if it is older than one the service has used."),
            Param::new("Force", Kind::Switch, "With -AcceptRollback: do not ask for confirmation."),
        ],
        examples: &[Example {
            title: "Protect a vault from purging",
            code: "custkey Update-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 -EnablePurgeProtection",
            output: "",
            remarks: "",
        }, Example {
            title: "Accept a vault file restored from an older backup on purpose",
            code: "custkey Update-AzKeyVault -VaultName Contoso-CK-EX-NA-VaultA1 -AcceptRollback -Force",
            output: "",
            remarks: "Only after checking that the older file is what you want: it may grant the service access that was since removed.",
        }],
        impact: Impact::Medium,
        table: VAULT_TABLE,
        run: update,
    },
    Cmdlet {
        name: "Remove-AzKeyVault",
        module: "Az.KeyVault",
        synopsis: "Removes a key vault (soft delete), or with -InRemovedState purges a removed one.",
        description: "Removes a vault with its keys; it stays recoverable (Undo-AzKeyVaultRemoval) for its retention \
period. With -InRemovedState a removed vault is purged for good, which purge protection or a protected subscription \
refuses. Never remove a vault whose keys a data encryption policy uses. The name of a KMIP server's registration (New-AzKeyVault -KmipServer) removes the registration, refused while a policy's root key is on that server.",
        params: &[
            Param::new("VaultName", Kind::String, "The vault.").position(0).required().complete(vault_names),
            Param::new("InRemovedState", Kind::Switch, "Purge a removed vault."),
            Param::new("Force", Kind::Switch, "Do not ask for confirmation."),
        ],
        examples: &[Example {
            title: "Remove a test vault",
            code: "custkey Remove-AzKeyVault -VaultName test-vault -Force",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: &[],
        run: remove,
    },
    Cmdlet {
        name: "Undo-AzKeyVaultRemoval",
        module: "Az.KeyVault",
        synopsis: "Recovers a removed key vault with its keys.",
        description: "Brings back a vault removed with Remove-AzKeyVault, within its retention period. -ResourceGroupName and -Location, which Az requires, are checked against the vault brought back: given wrong, nothing is restored.",
        params: &[
            Param::new("VaultName", Kind::String, "The vault.").position(0).required(),
            Param::new("ResourceGroupName", Kind::String, "The vault's resource group (as Az takes it)."),
            Param::new("Location", Kind::String, "The vault's region (as Az takes it)."),
        ],
        examples: &[Example {
            title: "Recover a vault",
            code: "custkey Undo-AzKeyVaultRemoval -VaultName Contoso-CK-EX-NA-VaultA1",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: VAULT_TABLE,
        run: undo,
    },
];

/// The vault as Get-AzKeyVault shows it; each access policy keeps who and its key permissions,
/// also as Az's `PermissionsToKeysStr` ("wrapKey, unwrapKey, get", the text the guides quote).
pub fn vault_record(info: &custkey::vault::KeyVaultInfo) -> Result<Record, CliError> {
    let mut r = record(info)?;
    r.insert("PSTypeName".into(), json!(crate::cli::output::AZ_KEY_VAULT));
    if let Some(serde_json::Value::Array(policies)) = r.get_mut("AccessPolicies") {
        for p in policies.iter_mut() {
            if let serde_json::Value::Object(m) = p {
                let text = m
                    .get("PermissionsToKeys")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                m.insert(
                    "PermissionsToKeysStr".into(),
                    serde_json::Value::String(text),
                );
            }
        }
    }
    Ok(r)
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("VaultName").unwrap_or_default();
    let mut req = NewVaultRequest::new(
        name,
        args.str("ResourceGroupName").unwrap_or_default(),
        args.str("Location").unwrap_or_default(),
    );
    req.sku = if args.str("Sku") == Some("Premium") {
        VaultSku::Premium
    } else {
        VaultSku::Standard
    };
    req.enable_purge_protection = args.switch("EnablePurgeProtection");
    req.soft_delete_retention_in_days = args.int("SoftDeleteRetentionInDays").map(|d| d as u32);
    req.tags = parse_tags(args.list("Tag").unwrap_or_default())?;
    req.enable_rbac_authorization = args.switch("EnableRbacAuthorization");
    req.key_holder =
        match (args.str("Pkcs11Module"), args.str("TokenLabel")) {
            (None, None) => None,
            (Some(module), Some(label)) => Some(
                Pkcs11Binding::new(std::path::Path::new(module), label)
                    .map_err(|e| CliError::usage(e.message().to_string()))?
                    .holder(),
            ),
            _ => return Err(CliError::usage(
                "-Pkcs11Module and -TokenLabel go together: give both to bind the vault to a token",
            )
            .with_help("e.g. -Pkcs11Module /usr/lib/softhsm/libsofthsm2.so -TokenLabel ck1")),
        };
    if let Some(server) = args.str("KmipServer") {
        return new_kmip(ctx, args, name, server, req.key_holder.is_some());
    }
    if [
        "KmipClientCertificate",
        "KmipClientKey",
        "KmipCaCertificate",
    ]
    .iter()
    .any(|p| args.str(p).is_some())
    {
        return Err(CliError::usage(
            "-KmipClientCertificate, -KmipClientKey and -KmipCaCertificate go with -KmipServer",
        )
        .with_help("give -KmipServer host:port to register a KMIP key manager"));
    }
    if !ctx.should_process(name, "New-AzKeyVault", false)? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.new_vault(&req)?;
    Ok(Output::one(vault_record(&info)?))
}

/// `New-AzKeyVault -KmipServer`: registers a KMIP key manager.
fn new_kmip(
    ctx: &mut Ctx,
    args: &Args,
    name: &str,
    server: &str,
    with_token: bool,
) -> Result<Output, CliError> {
    if with_token {
        return Err(CliError::usage(
            "-KmipServer and -Pkcs11Module are two different backends: give one",
        ));
    }
    let path = |p: &str| -> Result<std::path::PathBuf, CliError> {
        args.str(p).map(std::path::PathBuf::from).ok_or_else(|| {
            CliError::usage(format!("-KmipServer needs -{p}")).with_help(
                "give -KmipClientCertificate, -KmipClientKey and -KmipCaCertificate (PEM files)",
            )
        })
    };
    let (cert, key, ca) = (
        path("KmipClientCertificate")?,
        path("KmipClientKey")?,
        path("KmipCaCertificate")?,
    );
    if !ctx.should_process(name, "New-AzKeyVault -KmipServer", false)? {
        return Ok(Output::None);
    }
    let location = args.str("Location").unwrap_or_default();
    let group = args.str("ResourceGroupName").unwrap_or_default();
    let s = ctx
        .azure()?
        .register_kmip_server(name, group, location, server, &cert, &key, &ca)?;
    Ok(Output::one(kmip_record(&s)))
}

/// A registered KMIP server as `New-`/`Get-AzKeyVault` show it.
fn kmip_record(s: &custkey::service::azure::KmipServerInfo) -> Record {
    let mut r = Record::new();
    r.insert("VaultName".into(), json!(s.name));
    r.insert("ResourceGroupName".into(), json!(s.resource_group));
    r.insert("Backend".into(), json!("KMIP"));
    r.insert("KmipServer".into(), json!(s.server()));
    r.insert("Location".into(), json!(s.location));
    r.insert(
        "KmipClientCertificate".into(),
        json!(s.endpoint.client_certificate.display().to_string()),
    );
    r.insert(
        "KmipCaCertificate".into(),
        json!(s.endpoint.ca_certificate.display().to_string()),
    );
    r.insert("Created".into(), json!(s.created));
    r
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut az = ctx.azure()?;
    if args.switch("InRemovedState") {
        let name = args.str("VaultName");
        let items = az
            .removed_vaults()?
            .into_iter()
            .filter(|(v, _)| name.is_none_or(|n| v.vault_name.eq_ignore_ascii_case(n)))
            .map(|(v, deleted)| {
                let mut r = vault_record(&v)?;
                r.insert("DeletionDate".into(), json!(deleted));
                Ok(r)
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        return Ok(Output::many(items));
    }
    match args.str("VaultName") {
        Some(name) => match az.vault_info(name) {
            Ok(info) if info.managed_hsm.is_some() => Err(CliError::new(
                crate::cli::error::Class::Failed,
                format!("there is no key vault named '{name}': '{name}' is a Managed HSM"),
            )
            .with_help(format!(
                "see it with: custkey Get-AzKeyVaultManagedHsm -Name {name}"
            ))),
            Ok(info) => Ok(Output::many(vec![vault_record(&info)?])),
            // A registered KMIP server answers to its name too.
            Err(e) if e.kind() == custkey::service::ErrorKind::NotFound => {
                match az
                    .kmip_servers()?
                    .into_iter()
                    .find(|s| s.name.eq_ignore_ascii_case(name))
                {
                    Some(s) => Ok(Output::many(vec![kmip_record(&s)])),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        },
        None => {
            let mut all = az
                .vaults()?
                .iter()
                .filter(|v| v.managed_hsm.is_none())
                .map(vault_record)
                .collect::<Result<Vec<_>, _>>()?;
            all.extend(az.kmip_servers()?.iter().map(kmip_record));
            Ok(Output::many(all))
        }
    }
}

/// Refuses an update whose -ResourceGroupName (when given) is not the group the vault or
/// Managed HSM `name` is in (`what` names its kind in the message).
pub(crate) fn check_resource_group(
    ctx: &mut Ctx,
    what: &str,
    name: &str,
    rg: Option<&str>,
) -> Result<(), CliError> {
    let Some(rg) = rg else {
        return Ok(());
    };
    let info = ctx.azure()?.vault_info(name)?;
    if info.resource_group_name.eq_ignore_ascii_case(rg) {
        return Ok(());
    }
    Err(CliError::new(
        crate::cli::error::Class::Failed,
        format!(
            "{what} '{name}' is not in the resource group '{rg}' (it is in '{}'); nothing was changed",
            info.resource_group_name
        ),
    )
    .with_help(format!(
        "give -ResourceGroupName {}, or leave it out",
        info.resource_group_name
    )))
}

fn update(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("VaultName").unwrap_or_default();
    check_resource_group(ctx, "key vault", name, args.str("ResourceGroupName"))?;
    let tags = args.list("Tag").map(parse_tags).transpose()?;
    let protect = args.switch("EnablePurgeProtection");
    let accept = args.switch("AcceptRollback");
    if !protect && tags.is_none() && !accept {
        return Err(
            CliError::usage("Update-AzKeyVault was given nothing to change.")
                .with_help("give -EnablePurgeProtection, -Tag or -AcceptRollback"),
        );
    }
    if accept {
        if !ctx.should_process_as(
            Impact::High,
            name,
            "Accept the vault file as its latest state",
            args.switch("Force"),
        )? {
            return Ok(Output::None);
        }
        let (now, before) = ctx.azure()?.accept_rollback(name)?;
        if now < before {
            ctx.warn(&format!(
                "key vault '{name}' went back from generation {before} to {now}: access granted in the older file is in force again"
            ));
        }
        if !protect && tags.is_none() {
            let info = ctx.azure()?.vault_info(name)?;
            return Ok(Output::one(vault_record(&info)?));
        }
    }
    if !ctx.should_process(name, "Update-AzKeyVault", false)? {
        return Ok(Output::None);
    }
    let info = ctx.azure()?.update_vault(name, protect, tags)?;
    Ok(Output::one(vault_record(&info)?))
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("VaultName").unwrap_or_default();
    let purge = args.switch("InRemovedState");
    let action = if purge {
        "Purge key vault"
    } else {
        "Remove key vault"
    };
    if !ctx.should_process(name, action, args.switch("Force"))? {
        return Ok(Output::None);
    }
    let mut az = ctx.azure()?;
    if purge {
        az.purge_vault(name)?;
    } else if az.remove_kmip_server(name)?.is_none() {
        // Not a KMIP server's registration: a vault.
        let users = az.policies_in_vault(name)?;
        az.remove_vault(name)?;
        if !users.is_empty() {
            ctx.warn(&format!(
                "key vault '{name}' holds root keys of {}: until it is restored (Undo-AzKeyVaultRemoval) they are opened with their other root key only",
                users.join(", ")
            ));
        }
    }
    Ok(Output::None)
}

fn undo(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("VaultName").unwrap_or_default();
    if !ctx.should_process(name, "Undo-AzKeyVaultRemoval", false)? {
        return Ok(Output::None);
    }
    // The removed vault's group and region, from the list of removed vaults.
    let removed = ctx.azure()?.removed_vaults()?;
    if let Some((v, _)) = removed
        .iter()
        .find(|(v, _)| v.vault_name.eq_ignore_ascii_case(name))
    {
        for (given, have, what) in [
            (
                args.str("ResourceGroupName"),
                &v.resource_group_name,
                "resource group",
            ),
            (args.str("Location"), &v.location, "location"),
        ] {
            if let Some(g) = given.filter(|g| !g.eq_ignore_ascii_case(have)) {
                return Err(CliError::new(
                    crate::cli::error::Class::Failed,
                    format!("the removed key vault '{name}' is in the {what} '{have}', not '{g}'; nothing was restored"),
                )
                .with_help(format!("see it with: custkey Get-AzKeyVault -VaultName {name} -InRemovedState")));
            }
        }
    }
    let info = ctx.azure()?.undo_remove_vault(name)?;
    Ok(Output::one(vault_record(&info)?))
}
