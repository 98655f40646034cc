//! Add-AzKeyVaultKey, Get-AzKeyVaultKey, Update-AzKeyVaultKey, Remove-AzKeyVaultKey,
//! Undo-AzKeyVaultKeyRemoval, Backup-AzKeyVaultKey, Restore-AzKeyVaultKey.

use std::path::PathBuf;

use custkey::vault::{KeyDestination, KeyOperation, KeyUpdate, KeyVaultKey, NewKeyRequest};
use serde_json::json;

use super::az_key_vault::{parse_tags, vault_names};
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output, Record};
use crate::cli::Ctx;

const KEY_OPS: &[&str] = &[
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
    "import",
];
const KEY_TABLE: &[&str] = &[
    "VaultName",
    "Name",
    "Version",
    "Enabled",
    "Expires",
    "RecoveryLevel",
];

/// `-VaultName` or, for a Managed HSM, `-HsmName` (one of the two is needed).
pub const VAULT: Param = Param::new(
    "VaultName",
    Kind::String,
    "The key vault (or give -HsmName).",
)
.position(0)
.complete(vault_names);

/// `-HsmName`: the Managed HSM, instead of -VaultName.
pub const HSM: Param = Param::new(
    "HsmName",
    Kind::String,
    "The Managed HSM (New-AzKeyVaultManagedHsm), instead of -VaultName.",
)
.complete(vault_names);

/// The container a key cmdlet names: -VaultName or -HsmName, exactly one.
pub fn container_name(args: &Args) -> Result<(String, bool), CliError> {
    match (args.str("VaultName"), args.str("HsmName")) {
        (Some(v), None) => Ok((v.to_string(), false)),
        (None, Some(h)) => Ok((h.to_string(), true)),
        (Some(_), Some(_)) => Err(CliError::usage("give -VaultName or -HsmName, not both.")
            .with_help("-HsmName names a Managed HSM, -VaultName a key vault")),
        (None, None) => Err(CliError::usage(
            "the key vault is missing: give -VaultName (or -HsmName for a Managed HSM).",
        )
        .with_help("e.g. -VaultName Contoso-CK-EX-NA-VaultA1")),
    }
}

/// The container a key cmdlet names, checked to be of the kind named (-HsmName: a Managed
/// HSM; -VaultName: a key vault).
pub fn container(ctx: &mut Ctx, args: &Args) -> Result<String, CliError> {
    let (name, hsm) = container_name(args)?;
    ctx.azure()?.check_container(&name, hsm)?;
    Ok(name)
}

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Add-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Creates or imports an RSA key in a vault, or a new version of an existing key (a key roll).",
        description: "Creates an RSA key of 2048, 3072 or 4096 bits. Adding a key under a name that exists makes a new \
version: the key is rolled, older versions stay usable for what they still wrap. -Destination HSM marks the key \
HSM-protected (in the local backend it is held like a software key; see docs/vaults.md). For Customer Key, keys need \
wrapKey and unwrapKey, no expiry (or 12/31/9999), and RecoveryLevel Recoverable+ProtectedSubscription. \
-KeyFilePath imports a key of your own instead (bring your own key): a .pem file (PKCS#8 PRIVATE KEY, PKCS#1 RSA \
PRIVATE KEY, or ENCRYPTED PRIVATE KEY with -KeyFilePassword), a .pfx/.p12 file (PKCS#12, with -KeyFilePassword; \
OpenSSL 3's default AES-256-CBC/PBKDF2 encryption, not -legacy), or a .byok transfer blob wrapped for a key-exchange \
key (KEK) of this vault: an HSM key with -KeyOps import only, whose private key never leaves the vault. A .byok key is \
always HSM-protected (-Destination Software is refused); a .pem or .pfx key is Software unless -Destination HSM. The \
key file is read, never copied; import needs the vault permission 'import'. With -VaultName naming a registered KMIP \
server (New-AzKeyVault -KmipServer), the key is made and activated in that key manager (KMIP Create, or Create Key \
Pair for RSA) under the Name given, and its Id is the kmip:// URI to give New-DataEncryptionPolicy; each call makes a \
new key there (KMIP keys have no versions), and -KeyFilePath, -KeyOps, -Expires, -NotBefore, -Disable and -Tag do not \
apply (set them on the key manager).",
        params: &[
            VAULT,
            HSM,
            Param::new("Name", Kind::String, "The key's name (1-127 letters, digits, hyphens).").position(1).required(),
            Param::new("Destination", Kind::Enum(&["Software", "HSM"]), "Software- or HSM-protected. Default: Software; with -KeyFilePath, HSM for a .byok file."),
            Param::new("KeyType", Kind::Enum(&["RSA", "EC", "oct"]), "RSA (the default), or oct: an AES-256 key, in a registered KMIP server only. EC keys are refused (Customer Key roots are RSA)."),
            Param::new("Size", Kind::Int { min: 0, max: 1_000_000 }, "RSA modulus size: 2048, 3072 or 4096 (not with -KeyFilePath: the file's key has its own); 256 for -KeyType oct.").default("2048"),
            Param::new("KeyFilePath", Kind::Path, "A key file to import: .pem, .pfx/.p12 (PKCS#12) or .byok (BYOK transfer blob).").reads_files(),
            Param::new("KeyFilePassword", Kind::SecureString, "The password of an encrypted .pem key or a .pfx/.p12 file: (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force)."),
            Param::new("KeyOps", Kind::EnumList(KEY_OPS), "Operations the key permits.").default("all"),
            Param::new("Expires", Kind::Date, "When the key expires (Customer Key accepts none, or 12/31/9999)."),
            Param::new("NotBefore", Kind::Date, "When the key becomes usable."),
            Param::new("Disable", Kind::Switch, "Create the key disabled."),
            Param::new("Tag", Kind::StringList, "Tags: name=value,name=value."),
        ],
        examples: &[
            Example {
                title: "A Customer Key root key",
                code: "custkey Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Contoso-CK-EX-NA-VaultA1-Key001 -Destination HSM -KeyOps wrapKey,unwrapKey",
                output: "",
                remarks: "Run it again with the same name to roll the key to a new version.",
            },
            Example {
                title: "Import a key made with openssl (a .pem file)",
                code: "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out Key002.pem 2>/dev/null && custkey Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key002 -KeyFilePath Key002.pem -Destination HSM -KeyOps wrapKey,unwrapKey -Property Name,KeyType",
                output: "
Name    : Key002
KeyType : RSA-HSM
",
                remarks: "Delete the .pem file afterwards: the vault holds the key now.",
            },
            Example {
                title: "Import a PKCS#12 file with its password",
                code: "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=ck -keyout k.pem -out c.pem 2>/dev/null && openssl pkcs12 -export -inkey k.pem -in c.pem -out Key003.pfx -passout pass:example && KEY_PASSWORD=example custkey -Command 'Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key003 -KeyFilePath Key003.pfx -KeyFilePassword (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force) -KeyOps wrapKey,unwrapKey -Property Name'",
                output: "
Name : Key003
",
                remarks: "The password comes from the environment, so it is not in the process list.",
            },
            Example {
                title: "A key-exchange key (KEK) for .byok files",
                code: "custkey Add-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name KEKforBYOK -Destination HSM -Size 4096 -KeyOps import -Property Id",
                output: "",
                remarks: "Give the KEK's public key (Get-AzKeyVaultKey ... -Property Key) to your HSM's BYOK tool, then import its .byok file with -KeyFilePath x.byok.",
            },
        ],
        impact: Impact::Medium,
        table: KEY_TABLE,
        run: add,
    },
    Cmdlet {
        name: "Get-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Shows keys of a vault: the latest versions, one key, one version, all versions, or removed keys.",
        description: "Lists the latest version of every key in a vault, or one key with -Name (-Version for a given \
version, -IncludeVersions for all of them: the current version first, as Azure lists them, then the others \
oldest first). -InRemovedState shows soft-deleted keys with their \
scheduled purge dates. Id is the key URI a data encryption policy names; Attributes holds Enabled, Expires, \
NotBefore, Created, Updated and RecoveryLevel.",
        params: &[
            VAULT,
            HSM,
            Param::new("Name", Kind::String, "The key.").position(1),
            Param::new("Version", Kind::String, "A version (32 hex digits)."),
            Param::new("IncludeVersions", Kind::Switch, "Every version of -Name."),
            Param::new("InRemovedState", Kind::Switch, "Removed (soft-deleted) keys."),
        ],
        examples: &[Example {
            title: "Check a key's recovery level",
            code: "custkey Get-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001 -Property RecoveryLevel",
            output: "
RecoveryLevel : Recoverable+ProtectedSubscription
",
            remarks: "",
        }],
        impact: Impact::None,
        table: KEY_TABLE,
        run: get,
    },
    Cmdlet {
        name: "Update-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Enables or disables a key version, or changes its expiry, activation date, operations or tags.",
        description: "Changes the attributes of the latest version of a key (or of -Version). An expiry, once set, \
cannot be removed; Customer Key accepts only 12/31/9999. Disabling a version that a data encryption policy still \
uses makes the data under it unreadable.",
        params: &[
            VAULT,
            HSM,
            Param::new("Name", Kind::String, "The key.").position(1).required(),
            Param::new("Version", Kind::String, "A version; the latest when omitted."),
            Param::new("Enable", Kind::Bool, "$true to enable, $false to disable."),
            Param::new("Expires", Kind::Date, "The new expiry."),
            Param::new("NotBefore", Kind::Date, "The new activation date."),
            Param::new("KeyOps", Kind::EnumList(KEY_OPS), "The operations the version permits."),
            Param::new("Tag", Kind::StringList, "Replace the tags: name=value,name=value."),
            Param::new("PassThru", Kind::Switch, "Write the updated key to the output."),
        ],
        examples: &[Example {
            title: "The expiry Customer Key accepts",
            code: "custkey Update-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001 -Expires 12/31/9999",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: KEY_TABLE,
        run: update,
    },
    Cmdlet {
        name: "Remove-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Removes a key with all its versions (soft delete), or purges a removed key with -InRemovedState.",
        description: "Soft-deletes a key: it can be recovered with Undo-AzKeyVaultKeyRemoval until its scheduled purge \
date. -InRemovedState purges a removed key for good, which is refused under purge protection or a protected \
subscription (RecoveryLevel Recoverable+ProtectedSubscription).",
        params: &[
            VAULT,
            HSM,
            Param::new("Name", Kind::String, "The key.").position(1).required(),
            Param::new("InRemovedState", Kind::Switch, "Purge a removed key."),
            Param::new("Force", Kind::Switch, "Do not ask for confirmation."),
            Param::new("PassThru", Kind::Switch, "Write the removed key to the output."),
        ],
        examples: &[Example {
            title: "Remove a test key",
            code: "custkey Remove-AzKeyVaultKey -VaultName test-vault -Name test-key -Force",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: KEY_TABLE,
        run: remove,
    },
    Cmdlet {
        name: "Undo-AzKeyVaultKeyRemoval",
        module: "Az.KeyVault",
        synopsis: "Recovers a removed key with all its versions.",
        description: "Brings back a soft-deleted key before its scheduled purge date.",
        params: &[VAULT, HSM, Param::new("Name", Kind::String, "The key.").position(1).required()],
        examples: &[Example {
            title: "Recover a key",
            code: "custkey Undo-AzKeyVaultKeyRemoval -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: KEY_TABLE,
        run: undo,
    },
    Cmdlet {
        name: "Backup-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Writes a sealed backup of a key (all versions and attributes) to a file.",
        description: "Backs a key up into a sealed blob that only Restore-AzKeyVaultKey into a vault of the same \
subscription can open. Back a key up right after creating or changing it, and keep copies online and offline. The \
file is written 0600; an existing file is replaced only with -Force.",
        params: &[
            VAULT,
            HSM,
            Param::new("Name", Kind::String, "The key.").position(1).required(),
            Param::new("OutputFile", Kind::Path, "Where to write the backup. Default: <vault>-<key>-<date>.keybackup.").writes_files(),
            Param::new("Force", Kind::Switch, "Replace an existing file."),
        ],
        examples: &[Example {
            title: "Back up a root key",
            code: "custkey Backup-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001 -OutputFile Key001.backup",
            output: "Key001.backup\n",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &[],
        run: backup,
    },
    Cmdlet {
        name: "Restore-AzKeyVaultKey",
        module: "Az.KeyVault",
        synopsis: "Restores a key from a backup file into a vault of the same subscription.",
        description: "Restores every version and attribute of a backed-up key. Refused when the vault is in another \
subscription, when a key of that name exists (active or removed), or when the file was altered.",
        params: &[
            VAULT,
            HSM,
            Param::new("InputFile", Kind::Path, "The file Backup-AzKeyVaultKey wrote.").reads_files().position(1).required(),
        ],
        examples: &[Example {
            title: "Restore a root key",
            code: "custkey Restore-AzKeyVaultKey -VaultName Contoso-CK-EX-NA-VaultA1 -InputFile Key001.backup",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: KEY_TABLE,
        run: restore,
    },
];

/// The key as Azure PowerShell shows it, plus `Attributes` so `-Property Attributes` answers
/// `(Get-AzKeyVaultKey ...).Attributes`.
pub fn key_record(k: &KeyVaultKey) -> Result<Record, CliError> {
    let mut r = record(k)?;
    let attrs = json!({
        "Enabled": k.enabled,
        "Expires": k.expires,
        "NotBefore": k.not_before,
        "Created": k.created,
        "Updated": k.updated,
        "RecoveryLevel": k.recovery_level,
        "RecoverableDays": k.recoverable_days,
    });
    r.insert("Attributes".into(), attrs);
    Ok(r)
}

/// Warns (before acting, so -WhatIf shows it too) when the key version still wraps a live
/// DEP-key copy: disabling, expiring or deleting it cuts users off from that DEP's data.
fn warn_if_in_use(
    ctx: &mut Ctx,
    vault: &str,
    name: &str,
    version: Option<&str>,
    what: &str,
) -> Result<(), CliError> {
    // The name is a key vault's or a Managed HSM's (one namespace): look for either's ids.
    let uses =
        custkey::service::lifecycle::deps_using_key_named(ctx.store()?, vault, name, version)?;
    for u in uses {
        ctx.warn(&format!(
            "{what} {}/{} breaks {}: it still wraps that policy's key, so {}",
            u.key_uri, u.version, u.policy, u.consequence
        ));
    }
    Ok(())
}

fn key_ops(args: &Args, name: &str) -> Result<Option<Vec<KeyOperation>>, CliError> {
    match args.list(name) {
        None => Ok(None),
        Some(items) => Ok(Some(
            KeyOperation::parse_list(items).map_err(custkey::service::Error::from)?,
        )),
    }
}

fn add(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (vault, in_hsm) = container_name(args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    if args.str("KeyType") == Some("EC") {
        return Err(CliError::usage(
            "-KeyType EC: custkey makes RSA keys (Customer Key roots are RSA), and AES-256 keys (oct) in KMIP servers",
        )
        .with_help("leave -KeyType out for an RSA key"));
    }
    let is_kmip = !in_hsm
        && ctx
            .azure()?
            .kmip_servers()?
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(vault));
    if is_kmip {
        return add_kmip(ctx, args, vault, name);
    }
    if args.str("KeyType") == Some("oct") {
        return Err(CliError::usage(format!(
            "-KeyType oct: '{vault}' is not a registered KMIP server; the keys of Azure-style vaults are RSA"
        ))
        .with_help("leave -KeyType out, or name a KMIP server registered with New-AzKeyVault -KmipServer"));
    }
    ctx.azure()?.check_container(vault, in_hsm)?;
    let mut req = NewKeyRequest::new(name);
    let file = args.str("KeyFilePath").map(PathBuf::from);
    let byok = file.as_ref().is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("byok"))
    });
    req.destination = match args.str("Destination") {
        Some("HSM") => KeyDestination::Hsm,
        Some(_) => KeyDestination::Software,
        None if byok || in_hsm => KeyDestination::Hsm,
        None => KeyDestination::Software,
    };
    if file.is_some() && args.has_any(&["Size"]) {
        return Err(CliError::usage(
            "-Size does not go with -KeyFilePath: the imported key keeps its own size",
        )
        .with_help("leave -Size out"));
    }
    if file.is_none() && args.has_any(&["KeyFilePassword"]) {
        return Err(
            CliError::usage("-KeyFilePassword goes with -KeyFilePath (the file it opens)")
                .with_help("give -KeyFilePath <file.pem|file.pfx>, or leave -KeyFilePassword out"),
        );
    }
    req.size = args.int("Size").unwrap_or(2048) as usize;
    req.key_ops = key_ops(args, "KeyOps")?;
    req.expires = args.date("Expires");
    req.not_before = args.date("NotBefore");
    req.enabled = !args.switch("Disable");
    req.tags = parse_tags(args.list("Tag").unwrap_or_default())?;
    if let Some(path) = file {
        if !ctx.should_process(
            &format!("{vault}/{name}"),
            "Add-AzKeyVaultKey -KeyFilePath",
            false,
        )? {
            return Ok(Output::None);
        }
        let password = args.secret("KeyFilePassword").map(str::as_bytes);
        let key = ctx.azure()?.import_key_file(vault, &req, &path, password)?;
        return Ok(Output::one(key_record(&key)?));
    }
    if !ctx.should_process(&format!("{vault}/{name}"), "Add-AzKeyVaultKey", false)? {
        return Ok(Output::None);
    }
    let key = ctx.azure()?.add_key(vault, &req)?;
    Ok(Output::one(key_record(&key)?))
}

/// `Add-AzKeyVaultKey` in a registered KMIP server: a new, active key there.
fn add_kmip(ctx: &mut Ctx, args: &Args, server: &str, name: &str) -> Result<Output, CliError> {
    use custkey::service::azure::RootKeyKind;
    for p in [
        "KeyFilePath",
        "KeyFilePassword",
        "KeyOps",
        "Expires",
        "NotBefore",
        "Disable",
        "Tag",
    ] {
        if args.has_any(&[p]) {
            return Err(CliError::usage(format!(
                "-{p} does not apply to a key made in the KMIP server '{server}'"
            ))
            .with_help("set it on the key manager itself, or leave it out"));
        }
    }
    if args.str("Destination") == Some("Software") {
        return Err(CliError::usage(format!(
            "-Destination Software: a key made in the KMIP server '{server}' is held by that key manager"
        ))
        .with_help("leave -Destination out (or give HSM)"));
    }
    let size = args.has_any(&["Size"]).then(|| args.int("Size")).flatten();
    let kind = match args.str("KeyType") {
        Some("oct") => match size {
            None | Some(256) => RootKeyKind::Aes256,
            Some(n) => {
                return Err(CliError::usage(format!(
                    "-KeyType oct -Size {n}: the KMIP keys custkey makes are AES-256"
                ))
                .with_help("give -Size 256, or leave -Size out"))
            }
        },
        _ => RootKeyKind::Rsa(size.unwrap_or(2048) as usize),
    };
    if !ctx.should_process(
        &format!("{server}/{name}"),
        "Add-AzKeyVaultKey (KMIP Create)",
        false,
    )? {
        return Ok(Output::None);
    }
    let Some(k) = ctx.azure()?.add_kmip_key(server, name, kind)? else {
        return Err(CliError::usage(format!(
            "no KMIP server is registered as '{server}'"
        )));
    };
    let (key_type, size) = match k.kind {
        RootKeyKind::Aes256 => ("oct-HSM", 256),
        RootKeyKind::Rsa(bits) => ("RSA-HSM", bits),
    };
    let mut r = Record::new();
    r.insert("VaultName".into(), json!(k.server.name));
    r.insert("Name".into(), json!(k.name));
    r.insert("Id".into(), json!(k.uri.to_string()));
    r.insert("KeyType".into(), json!(key_type));
    r.insert("KeySize".into(), json!(size));
    r.insert("Enabled".into(), json!(true));
    r.insert("State".into(), json!("Active"));
    r.insert("Backend".into(), json!("KMIP"));
    r.insert("KmipServer".into(), json!(k.server.server()));
    r.insert("UniqueIdentifier".into(), json!(k.uri.id));
    r.insert("PublicKeyIdentifier".into(), json!(k.uri.public));
    Ok(Output::one(r))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name");
    let mut az = ctx.azure()?;
    if args.switch("InRemovedState") {
        let deleted = match name {
            Some(n) => vec![az.deleted_key(vault, n)?],
            None => az.deleted_keys(vault)?,
        };
        return Ok(Output::many(
            deleted.iter().map(record).collect::<Result<Vec<_>, _>>()?,
        ));
    }
    let keys = match (name, args.str("Version"), args.switch("IncludeVersions")) {
        (None, Some(_), _) | (None, _, true) => {
            return Err(CliError::usage("-Version and -IncludeVersions need -Name.")
                .with_help("name the key: -Name <key>"))
        }
        (Some(n), _, true) => current_first(az.key_versions(vault, n)?),
        (Some(n), v, false) => vec![az.key(vault, n, v)?],
        (None, None, false) => az.keys(vault)?,
    };
    Ok(Output::many(
        keys.iter().map(key_record).collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `-IncludeVersions` order: the current (newest) version first, as Azure lists them, then the
/// others oldest first (the vault lists them oldest first).
fn current_first<T>(mut versions: Vec<T>) -> Vec<T> {
    if let Some(current) = versions.pop() {
        versions.insert(0, current);
    }
    versions
}

fn update(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    let update = KeyUpdate {
        enabled: args.bool("Enable"),
        expires: args.date("Expires"),
        not_before: args.date("NotBefore"),
        key_ops: key_ops(args, "KeyOps")?,
        tags: args.list("Tag").map(parse_tags).transpose()?,
    };
    if update.enabled.is_none()
        && update.expires.is_none()
        && update.not_before.is_none()
        && update.key_ops.is_none()
        && update.tags.is_none()
    {
        return Err(
            CliError::usage("Update-AzKeyVaultKey was given nothing to change.")
                .with_help("give -Enable, -Expires, -NotBefore, -KeyOps or -Tag"),
        );
    }
    let disabling = update.enabled == Some(false);
    let expiring = update
        .expires
        .is_some_and(|e| e.format("%Y-%m-%d").to_string() != "9999-12-31");
    if disabling || expiring {
        let version = match args.str("Version") {
            Some(v) => Some(v.to_string()),
            None => ctx.azure()?.key(vault, name, None).ok().map(|k| k.version),
        };
        let what = if disabling {
            "disabling"
        } else {
            "setting an expiry on"
        };
        warn_if_in_use(ctx, vault, name, version.as_deref(), what)?;
    }
    if !ctx.should_process(&format!("{vault}/{name}"), "Update-AzKeyVaultKey", false)? {
        return Ok(Output::None);
    }
    let key = ctx
        .azure()?
        .update_key(vault, name, args.str("Version"), &update)?;
    if args.switch("PassThru") {
        Ok(Output::one(key_record(&key)?))
    } else {
        Ok(Output::None)
    }
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    let purge = args.switch("InRemovedState");
    let action = if purge { "Purge key" } else { "Remove key" };
    warn_if_in_use(
        ctx,
        vault,
        name,
        None,
        if purge { "purging" } else { "removing" },
    )?;
    if !ctx.should_process(&format!("{vault}/{name}"), action, args.switch("Force"))? {
        return Ok(Output::None);
    }
    let mut az = ctx.azure()?;
    if purge {
        az.purge_key(vault, name)?;
        return Ok(Output::None);
    }
    let deleted = az.remove_key(vault, name)?;
    if args.switch("PassThru") {
        Ok(Output::one(record(&deleted)?))
    } else {
        Ok(Output::None)
    }
}

fn undo(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    if !ctx.should_process(
        &format!("{vault}/{name}"),
        "Undo-AzKeyVaultKeyRemoval",
        false,
    )? {
        return Ok(Output::None);
    }
    let key = ctx.azure()?.recover_key(vault, name)?;
    Ok(Output::one(key_record(&key)?))
}

fn backup(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    let path = args
        .str("OutputFile")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(format!(
                "{vault}-{name}-{}.keybackup",
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            ))
        });
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "the folder {} of -OutputFile {} does not exist",
                dir.display(),
                path.display()
            ))
            .with_help("create it first (mkdir -p), or give a path in an existing folder; nothing was written"));
        }
    }
    if !ctx.should_process(&format!("{vault}/{name}"), "Backup-AzKeyVaultKey", false)? {
        return Ok(Output::None);
    }
    ctx.azure()?
        .backup_key_to_file(vault, name, &path, args.switch("Force"))?;
    Ok(Output::Text(format!("{}\n", path.display())))
}

fn restore(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let path = PathBuf::from(args.str("InputFile").unwrap_or_default());
    if !ctx.should_process(vault, "Restore-AzKeyVaultKey", false)? {
        return Ok(Output::None);
    }
    let key = ctx.azure()?.restore_key_from_file(vault, &path)?;
    Ok(Output::one(key_record(&key)?))
}
