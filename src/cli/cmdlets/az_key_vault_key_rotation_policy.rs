//! Set-AzKeyVaultKeyRotationPolicy, Get-AzKeyVaultKeyRotationPolicy.

use custkey::model::rotation::{KeyRotationPolicy, LifetimeAction, RotationAction};
use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output, Record};
use crate::cli::Ctx;

const TABLE: &[&str] = &[
    "VaultName",
    "KeyName",
    "ExpiresIn",
    "CreatedOn",
    "UpdatedOn",
];

use super::az_key_vault_key::{container, HSM, VAULT};
const NAME: Param = Param::new("Name", Kind::String, "The key.")
    .position(1)
    .required()
    .aliases(&["KeyName"]);

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Set-AzKeyVaultKeyRotationPolicy",
        module: "Az.KeyVault",
        synopsis: "Sets the rotation policy of a key: when a new version is made and how long it lives.",
        description: "Replaces the key's rotation policy. -ExpiresIn (an ISO 8601 duration such as P2Y or P720D, \
at least 28 days) becomes the Expires of every version a rotation makes. -KeyRotationLifetimeAction takes at most one \
Rotate and one Notify action, each as @{Action='Rotate'; TimeAfterCreate='P18M'} or @{Action='Rotate'; \
TimeBeforeExpiry='P30D'}: triggers are at least 7 days; TimeBeforeExpiry needs -ExpiresIn; Notify takes \
TimeBeforeExpiry only. A due Rotate action is carried out by Invoke-CustomerKeyRotation (see docs/lifecycle.md); \
Invoke-AzKeyVaultKeyRotation rotates at once. Needs the key permission 'setrotationpolicy'.",
        params: &[
            VAULT,
            HSM,
            NAME,
            Param::new("ExpiresIn", Kind::String, "How long a rotated version lives: an ISO 8601 duration (P2Y, P90D)."),
            Param::new("KeyRotationLifetimeAction", Kind::Object, "Lifetime actions: @{Action='Rotate'; TimeAfterCreate='P18M'}, or an array of such tables."),
            Param::new("PolicyPath", Kind::Path, "A policy in Azure's JSON shape: {\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": \"P18M\"}, \"action\": {\"type\": \"Rotate\"}}], \"attributes\": {\"expiryTime\": \"P2Y\"}} (not with -ExpiresIn or -KeyRotationLifetimeAction)."),
        ],
        examples: &[Example {
            title: "Rotate a key every 18 months; each new version expires after 2 years",
            code: "custkey -Command \"Set-AzKeyVaultKeyRotationPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001 -ExpiresIn P2Y -KeyRotationLifetimeAction @{Action='Rotate'; TimeAfterCreate='P18M'} -Property ExpiresIn\"",
            output: "",
            remarks: "Get-AzKeyVaultKeyRotationPolicy shows the policy; Invoke-CustomerKeyRotation carries out due rotations.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Get-AzKeyVaultKeyRotationPolicy",
        module: "Az.KeyVault",
        synopsis: "Shows the rotation policy of a key.",
        description: "Shows Id, VaultName, KeyName, LifetimeActions, ExpiresIn, CreatedOn and UpdatedOn. A key \
without a policy of its own shows no actions and no dates. Needs the key permission 'getrotationpolicy'.",
        params: &[VAULT, HSM, NAME],
        examples: &[Example {
            title: "Show a key's rotation policy",
            code: "custkey Get-AzKeyVaultKeyRotationPolicy -VaultName Contoso-CK-EX-NA-VaultA1 -Name Key001",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn str_field(o: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        })
}

/// `@{Action=...; TimeAfterCreate=...; TimeBeforeExpiry=...}` (one, or an array).
pub fn parse_actions(v: Option<&Value>) -> Result<Vec<LifetimeAction>, CliError> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(x) => vec![x],
    };
    let help = "give @{Action='Rotate'; TimeAfterCreate='P18M'} (or TimeBeforeExpiry='P30D')";
    items
        .into_iter()
        .map(|item| {
            let Value::Object(o) = item else {
                return Err(CliError::usage(
                    "-KeyRotationLifetimeAction takes hashtables with Action and a trigger",
                )
                .with_help(help));
            };
            let action = str_field(o, "Action").ok_or_else(|| {
                CliError::usage("a lifetime action has no Action (Rotate or Notify)")
                    .with_help(help)
            })?;
            Ok(LifetimeAction {
                action: RotationAction::parse(&action)
                    .map_err(|e| CliError::usage(e.to_string()).with_help(help))?,
                time_after_create: str_field(o, "TimeAfterCreate"),
                time_before_expiry: str_field(o, "TimeBeforeExpiry"),
            })
        })
        .collect()
}

pub fn policy_record(p: &KeyRotationPolicy) -> Result<Record, CliError> {
    let mut r = record(p)?;
    let actions: Vec<Value> = p
        .lifetime_actions
        .iter()
        .map(|a| {
            serde_json::json!({
                "Action": a.action.as_str(),
                "TimeAfterCreate": a.time_after_create,
                "TimeBeforeExpiry": a.time_before_expiry,
            })
        })
        .collect();
    r.insert("LifetimeActions".into(), Value::Array(actions));
    Ok(r)
}

/// A rotation policy file is refused unread above this (one is a few hundred bytes).
const MAX_POLICY_FILE_BYTES: u64 = 64 * 1024;

/// A policy file in Azure's JSON shape: (ExpiresIn, lifetime actions).
fn read_policy_file(path: &str) -> Result<(Option<String>, Vec<LifetimeAction>), CliError> {
    let help = "give a file like {\"lifetimeActions\": [{\"trigger\": {\"timeAfterCreate\": \"P18M\"}, \"action\": {\"type\": \"Rotate\"}}], \"attributes\": {\"expiryTime\": \"P2Y\"}}";
    let bytes =
        custkey::input::read_file_limited(std::path::Path::new(path), MAX_POLICY_FILE_BYTES)
            .map_err(|e| match e {
                custkey::input::ReadError::TooLarge { limit } => CliError::usage(format!(
            "-PolicyPath {path} is larger than {limit} bytes: a rotation policy is a few hundred"
        ))
                .with_help(help),
                custkey::input::ReadError::Io(e) => {
                    CliError::usage(format!("cannot read -PolicyPath {path}: {e}")).with_help(help)
                }
            })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!("-PolicyPath {path} is not JSON: {e}")).with_help(help)
    })?;
    let Value::Object(o) = &v else {
        return Err(
            CliError::usage(format!("-PolicyPath {path} holds no JSON object")).with_help(help),
        );
    };
    // Azure's file puts the new versions' lifetime in attributes.expiryTime (its REST shape);
    // a top-level expiresIn (the cmdlet's parameter name) is taken too.
    let attributes = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("attributes"))
        .and_then(|(_, v)| v.as_object());
    let expires_in = attributes
        .and_then(|a| str_field(a, "expiryTime"))
        .or_else(|| str_field(o, "expiresIn"));
    let mut actions = Vec::new();
    let list = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("lifetimeActions"))
        .map(|(_, v)| v);
    if let Some(Value::Array(items)) = list {
        for item in items {
            let Value::Object(a) = item else {
                return Err(
                    CliError::usage("a lifetime action in -PolicyPath is not an object")
                        .with_help(help),
                );
            };
            let get = |name: &str| {
                a.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_object())
            };
            let kind = get("action")
                .and_then(|x| str_field(x, "type"))
                .ok_or_else(|| {
                    CliError::usage("a lifetime action in -PolicyPath has no action.type")
                        .with_help(help)
                })?;
            let trigger = get("trigger");
            actions.push(LifetimeAction {
                action: RotationAction::parse(&kind)
                    .map_err(|e| CliError::usage(e.to_string()).with_help(help))?,
                time_after_create: trigger.and_then(|t| str_field(t, "timeAfterCreate")),
                time_before_expiry: trigger.and_then(|t| str_field(t, "timeBeforeExpiry")),
            });
        }
    }
    Ok((expires_in, actions))
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    let (expires_in, actions) = match args.str("PolicyPath") {
        Some(path) => {
            if args.has_any(&["ExpiresIn", "KeyRotationLifetimeAction"]) {
                return Err(CliError::usage(
                    "-PolicyPath does not go with -ExpiresIn or -KeyRotationLifetimeAction",
                )
                .with_help("put everything in the policy file, or leave -PolicyPath out"));
            }
            read_policy_file(path)?
        }
        None => (
            args.str("ExpiresIn").map(str::to_string),
            parse_actions(args.object("KeyRotationLifetimeAction"))?,
        ),
    };
    let expires_in = expires_in.as_deref();
    if !ctx.should_process(
        &format!("{vault}/{name}"),
        "Set-AzKeyVaultKeyRotationPolicy",
        false,
    )? {
        return Ok(Output::None);
    }
    let p = ctx
        .azure()?
        .set_rotation_policy(vault, name, expires_in, &actions)?;
    Ok(Output::one(policy_record(&p)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let vault = container(ctx, args)?;
    let vault = vault.as_str();
    let name = args.str("Name").unwrap_or_default();
    let p = ctx.azure()?.rotation_policy(vault, name)?;
    Ok(Output::one(policy_record(&p)?))
}
