//! Register-SPODataEncryptionPolicy, Get-SPODataEncryptionPolicy,
//! Update-SPODataEncryptionPolicy, Restore-SPODataEncryptionPolicy.

use custkey::service::dep::Outcome;
use custkey::service::spo::{self, SpoPolicy, KEY_TYPES};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &[
    "Geo",
    "State",
    "PercentComplete",
    "PrimaryKeyVaultUri",
    "SecondaryKeyVaultUri",
];

const GEO_HELP: &str =
    "The geo of the policy (custkey extension for multi-geo tenants); default: the geo of -Identity, else of Connect-SPOService, else the organization's DefaultGeo.";

const IDENTITY_HELP: &str = "The SharePoint admin center of the geo, as older guides give it: https://<tenant>-admin.sharepoint.com (the default geo) or https://<tenant><geo>-admin.sharepoint.com.";

/// The geo the cmdlet acts on: -Geo, else the geo of the admin center -Identity names, else the
/// connected one or the DefaultGeo; -Geo and an -Identity of another geo together are refused.
fn geo_arg(ctx: &mut Ctx, args: &Args) -> Result<String, CliError> {
    let store = ctx.store()?;
    let by_url = match args.str("Identity") {
        Some(url) => Some(custkey::service::connection::geo_of_admin_url(store, url)?),
        None => None,
    };
    match (args.str("Geo"), by_url) {
        (Some(g), Some(u)) if !g.eq_ignore_ascii_case(&u) => Err(CliError::usage(format!(
            "-Geo {g} and -Identity (the admin center of geo {u}) name two geos"
        ))
        .with_help("give one of them")),
        (None, Some(u)) => Ok(u),
        (g, _) => Ok(spo::geo_or_default(store, g)?),
    }
}

/// The parameters of both parameter sets of Register and Restore.
const KEY_PAIR_PARAMS: &[Param] = &[
    Param::new(
        "PrimaryKeyVaultName",
        Kind::String,
        "The vault of the primary key (BYOK_MultipleParameters).",
    ),
    Param::new("PrimaryKeyName", Kind::String, "The primary key's name."),
    Param::new(
        "PrimaryKeyVersion",
        Kind::String,
        "The primary key's version (32 hex digits; a GUID with dashes is accepted).",
    ),
    Param::new(
        "SecondaryKeyVaultName",
        Kind::String,
        "The vault of the secondary key (another vault).",
    ),
    Param::new(
        "SecondaryKeyName",
        Kind::String,
        "The secondary key's name.",
    ),
    Param::new(
        "SecondaryKeyVersion",
        Kind::String,
        "The secondary key's version.",
    ),
    Param::new(
        "PrimaryKeyVaultUri",
        Kind::String,
        "The primary key's URI, https://<vault>.vault.azure.net/keys/<key>/<version> or https://<hsm>.managedhsm.azure.net/keys/<key>/<version> (BYOK_Uri).",
    ),
    Param::new(
        "SecondaryKeyVaultUri",
        Kind::String,
        "The secondary key's URI (BYOK_Uri).",
    ),
    KEY_VAULT_TYPE,
    Param::new("Geo", Kind::String, GEO_HELP),
    Param::new("Identity", Kind::String, IDENTITY_HELP).position(0),
];

const KEY_VAULT_TYPE: Param = Param::new(
    "KeyVaultType",
    Kind::Enum(&["KeyVault", "ManagedHSM"]),
    "What the -*KeyVaultName parameters name: a key vault (KeyVault, the default) or a Managed HSM (ManagedHSM, \
made with New-AzKeyVaultManagedHsm; the key ids are then https://<hsm>.managedhsm.azure.net/keys/...). With URIs, \
it must agree with their host.",
);

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Register-SPODataEncryptionPolicy",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Registers the geo's data encryption policy for SharePoint, OneDrive and Teams files; encrypts the geo's sites under it.",
        description: "Creates the geo's tenant intermediate key (TIK, AES-256), wraps it under the primary and secondary customer \
keys (in their vaults, as SharePoint Online) and under the service's RSA-2048 availability key, then re-wraps the key of \
every existing site of the geo under the TIK, one site per transaction: State is Registering with the percentage of sites \
done, then Registered. A kill loses nothing: run the same command again to continue. While a registration or a key roll \
is in progress, another one is refused. One policy per geo; give either the six name/version parameters or the two URIs. \
Refused when: the organization is Trial; a key is missing, not RSA, disabled, expiring (other than 12/31/9999) or not \
Recoverable+ProtectedSubscription; the SharePoint Online service principal (00000003-0000-0ff1-ce00-000000000000) lacks \
wrapKey, unwrapKey or get on a vault; or both keys are in one vault. Shows a progress bar on a terminal.",
        params: KEY_PAIR_PARAMS,
        examples: &[
            Example {
                title: "Register with vault names, key names and versions",
                code: "custkey Register-SPODataEncryptionPolicy -PrimaryKeyVaultName Contoso-CK-SP-NA-VaultA1 -PrimaryKeyName SPKey1 -PrimaryKeyVersion f635a23bd4a44b9996ff6aadd88d42ba -SecondaryKeyVaultName Contoso-CK-SP-NA-VaultA2 -SecondaryKeyName SPKey2 -SecondaryKeyVersion 2b3e8f1d93e4428d9b1b5e0f6c3e2f4d",
                output: "",
                remarks: "",
            },
            Example {
                title: "Register with key URIs",
                code: "custkey Register-SPODataEncryptionPolicy -PrimaryKeyVaultUri https://contoso-ck-sp-va1.vault.azure.net/keys/SPKey1/f635a23bd4a44b9996ff6aadd88d42ba -SecondaryKeyVaultUri https://contoso-ck-sp-va2.vault.azure.net/keys/SPKey2/2b3e8f1d93e4428d9b1b5e0f6c3e2f4d",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: register,
    },
    Cmdlet {
        name: "Get-SPODataEncryptionPolicy",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Shows the geo's SharePoint data encryption policy: key URIs and State with its percentage.",
        description: "Shows PrimaryKeyVaultUri and SecondaryKeyVaultUri (with the versions in use) and State: Unregistered, \
Registering (PercentComplete: the share of the geo's sites encrypted under the policy), Registered, or Rolling \
(RollingKeyType names the key being rolled). Reads only; it never continues an interrupted registration or roll.",
        params: &[
            Param::new("Identity", Kind::String, IDENTITY_HELP).position(0),
            Param::new("Geo", Kind::String, GEO_HELP),
        ],
        examples: &[Example {
            title: "The state of the default geo",
            code: "custkey Get-SPODataEncryptionPolicy",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Update-SPODataEncryptionPolicy",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Rolls the primary or secondary customer key of the geo's policy: re-wraps the TIK under the new key.",
        description: "A key roll. The policy is marked Rolling, then the tenant intermediate key is wrapped under the new key \
(site keys and files do not change) and the policy is Registered again. Only one roll of a geo at a time: while the \
geo's policy is rolling, another roll of it is refused (other geos are independent); run the same roll again to finish \
an interrupted one. The new key passes \
the same checks as at registration and must not share a vault with the other key. -KeyType Availability is refused: \
the availability key is service-held. Give -KeyVaultName, -KeyName and -KeyVersion, or -KeyVaultUri.",
        params: &[
            Param::new("KeyType", Kind::Enum(KEY_TYPES), "Which key to roll: Primary or Secondary.").required(),
            Param::new("KeyVaultName", Kind::String, "The new key's vault."),
            Param::new("KeyName", Kind::String, "The new key's name."),
            Param::new("KeyVersion", Kind::String, "The new key's version."),
            Param::new("KeyVaultUri", Kind::String, "The new key's URI, https://<vault>.vault.azure.net/keys/<key>/<version> or https://<hsm>.managedhsm.azure.net/keys/<key>/<version>."),
            KEY_VAULT_TYPE,
            Param::new("Geo", Kind::String, GEO_HELP),
            Param::new("Identity", Kind::String, IDENTITY_HELP).position(0),
        ],
        examples: &[Example {
            title: "Roll the primary key to a new version",
            code: "custkey Update-SPODataEncryptionPolicy -KeyType Primary -KeyVaultName Contoso-CK-SP-NA-VaultA1 -KeyName SPKey1 -KeyVersion 8ab4e2f5c1d04a7b9e3f6d2c1b0a9e8f",
            output: "",
            remarks: "Roll the secondary key only after Get-SPODataEncryptionPolicy shows Registered again.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: update,
    },
    Cmdlet {
        name: "Restore-SPODataEncryptionPolicy",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Recovery mode: recovers the TIK with the availability key and wraps it under two new customer keys.",
        description: "For a geo whose customer keys are both lost. Refused while either current key can still unwrap the \
tenant intermediate key (roll it with Update-SPODataEncryptionPolicy instead). Otherwise the service's availability key \
(never used outside this cmdlet) decrypts the TIK, which is wrapped under the two new keys; site keys and files do not \
change. The use is recorded in the unified audit log. The new keys pass the same checks as at registration.",
        params: KEY_PAIR_PARAMS,
        examples: &[Example {
            title: "Recover with two new keys",
            code: "custkey Restore-SPODataEncryptionPolicy -PrimaryKeyVaultUri https://contoso-ck-sp-va3.vault.azure.net/keys/SPKey3/0c2b6e5a4d3f4e1a9b8c7d6e5f4a3b2c -SecondaryKeyVaultUri https://contoso-ck-sp-va4.vault.azure.net/keys/SPKey4/1d3c7f6b5e4a4f2b0c9d8e7f6a5b4c3d",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: restore,
    },
];

/// A key from either parameter set: `<prefix>KeyVaultUri`, or vault, name and version.
fn key_arg(args: &Args, prefix: &str) -> Result<Option<String>, CliError> {
    let uri = args.str(&format!("{prefix}KeyVaultUri"));
    let parts = [
        args.str(&format!("{prefix}KeyVaultName")),
        args.str(&format!("{prefix}KeyName")),
        args.str(&format!("{prefix}KeyVersion")),
    ];
    let hsm = args
        .str("KeyVaultType")
        .is_some_and(|t| t.eq_ignore_ascii_case("ManagedHSM"));
    match (uri, parts) {
        (Some(u), [None, None, None]) => {
            if args.has_any(&["KeyVaultType"]) {
                if let Some(key_hsm) = custkey::service::azure::key_uri_is_hsm(u) {
                    if key_hsm != hsm {
                        return Err(CliError::usage(format!(
                            "-KeyVaultType {} does not match {u}, a key of a {}",
                            if hsm { "ManagedHSM" } else { "KeyVault" },
                            if key_hsm { "Managed HSM" } else { "key vault" }
                        ))
                        .with_help("leave -KeyVaultType out with URIs, or give the type their host names"));
                    }
                }
            }
            Ok(Some(u.to_string()))
        }
        (None, [Some(v), Some(n), Some(ver)]) => Ok(Some(spo::key_uri_in(v, hsm, n, ver))),
        (None, [None, None, None]) => Ok(None),
        _ => Err(CliError::usage(format!(
            "give either -{prefix}KeyVaultUri, or all of -{prefix}KeyVaultName, -{prefix}KeyName and -{prefix}KeyVersion."
        ))
        .with_help("the two parameter sets can't be mixed; see Get-Help for the examples")),
    }
}

fn key_pair(args: &Args) -> Result<(String, String), CliError> {
    match (key_arg(args, "Primary")?, key_arg(args, "Secondary")?) {
        (Some(p), Some(s)) => Ok((p, s)),
        _ => Err(CliError::usage("both a primary and a secondary key are needed.").with_help(
            "give -PrimaryKeyVaultName, -PrimaryKeyName, -PrimaryKeyVersion and the three Secondary ones, or -PrimaryKeyVaultUri and -SecondaryKeyVaultUri",
        )),
    }
}

fn done(ctx: &Ctx, out: Outcome<SpoPolicy>) -> Result<Output, CliError> {
    for w in &out.warnings {
        ctx.warn(w);
    }
    Ok(Output::one(record(&out.value)?))
}

fn register(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (primary, secondary) = key_pair(args)?;
    let geo = geo_arg(ctx, args)?;
    let target = format!("geo {geo}");
    if !ctx.should_process(&target, "Register-SPODataEncryptionPolicy", false)? {
        return Ok(Output::None);
    }
    let bar = crate::cli::progress::Bar::new(ctx, format!("Encrypting the sites of {geo}"));
    let (store, keys) = ctx.service()?;
    let out = spo::register(
        store,
        keys,
        Some(&geo),
        &primary,
        &secondary,
        &mut |d, t| bar.count("sites", d, t),
    )?;
    done(ctx, out)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let geo = geo_arg(ctx, args)?;
    let store = ctx.store()?;
    Ok(Output::one(record(&spo::get(store, Some(&geo))?)?))
}

fn update(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let key_type = args.str("KeyType").unwrap_or_default().to_string();
    let uri = key_arg(args, "")?;
    let uri = match (uri, key_type.eq_ignore_ascii_case("Availability")) {
        (Some(u), _) => u,
        (None, true) => String::new(),
        (None, false) => {
            return Err(
                CliError::usage("Update-SPODataEncryptionPolicy needs the new key.")
                    .with_help("give -KeyVaultName, -KeyName and -KeyVersion, or -KeyVaultUri"),
            )
        }
    };
    let geo = geo_arg(ctx, args)?;
    let target = format!("{key_type} key of geo {geo}");
    if !ctx.should_process(&target, "Update-SPODataEncryptionPolicy", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = spo::update(store, keys, Some(&geo), &key_type, &uri)?;
    done(ctx, out)
}

fn restore(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (primary, secondary) = key_pair(args)?;
    let geo = geo_arg(ctx, args)?;
    let target = format!("geo {geo}");
    if !ctx.should_process(&target, "Restore-SPODataEncryptionPolicy", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = spo::restore(store, keys, Some(&geo), &primary, &secondary)?;
    done(ctx, out)
}
