//! Get-MgUserPresence, Set-MgUserPresenceStatusMessage: a user's Teams status message, its
//! text encrypted under the Teams workload key.

use serde_json::Value;

use custkey::service::teams::{self, StatusMessageRequest};

use super::mg_user_license::user_names;
use crate::cli::args::{parse_date, Args};
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Id", "Availability", "StatusMessage", "EncryptionPolicy"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Set-MgUserPresenceStatusMessage",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Sets a user's Teams status message, encrypted under the Teams workload key.",
        description: "Sets (replaces) the user's status message: -StatusMessage @{Message = @{Content = '...'; \
ContentType = 'text'}; ExpiryDateTime = @{DateTime = '...'; TimeZone = 'UTC'}}, as Graph takes it (ExpiryDateTime is \
optional: without it the message does not expire; Message may also be the text itself). The text (at most 280 \
characters) is encrypted under the current Teams workload key with a key derived for this user and bound to the \
message's content type, expiry and publication time; only ciphertext is stored. Empty content clears the message. \
Under a multi-workload DEP it is refused unless at least one user of the tenant is licensed for Customer Key. \
Only the UTC time zone is accepted for ExpiryDateTime. Graph's other parameter set, -BodyParameter @{StatusMessage = @{...}}, is \
accepted too.",
        params: &[
            Param::new("UserId", Kind::String, "The user: name, alias, address or id.").position(0).required().complete(user_names),
            Param::new("StatusMessage", Kind::Object, "@{Message = @{Content = '...'; ContentType = 'text'}; ExpiryDateTime = @{DateTime = '...'; TimeZone = 'UTC'}}; on the command line, JSON text. This or -BodyParameter."),
            Param::new("BodyParameter", Kind::Object, "Graph's request body: @{StatusMessage = @{...}}, the same table as -StatusMessage inside it."),
            Param::new("PassThru", Kind::Switch, "Write True to the output when the message was set, as Graph does."),
        ],
        examples: &[Example {
            title: "A status message that expires",
            code: "custkey -Command 'Set-MgUserPresenceStatusMessage -UserId alice -StatusMessage @{Message = @{Content = \"In the Falcon review\"; ContentType = \"text\"}; ExpiryDateTime = @{DateTime = \"2099-12-27T17:00:00\"; TimeZone = \"UTC\"}}'",
            output: "",
            remarks: "Get-MgUserPresence -UserId alice shows it until it expires.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Get-MgUserPresence",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Shows a user's presence with the status message decrypted.",
        description: "Shows the user's presence: Id, Availability and Activity (not modelled: PresenceUnknown), and \
StatusMessage (Message.Content, Message.ContentType, ExpiryDateTime, PublishedDateTime), decrypted, or nothing once it has \
expired; EncryptionPolicy names the policy whose key protects it. This is a user request: when a customer key of the \
protecting multi-workload DEP refuses (access revoked), it fails and the availability key is not used.",
        params: &[Param::new("UserId", Kind::String, "The user: name, alias, address or id.").position(0).required().complete(user_names)],
        examples: &[Example {
            title: "Alice's status message",
            code: "custkey -Command '(Get-MgUserPresence -UserId alice).StatusMessage.Message.Content'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

/// A hashtable's entry, PowerShell-style: the key matched regardless of case.
fn entry<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

const SHAPE: &str = "give -StatusMessage @{Message = @{Content = '...'; ContentType = 'text'}; ExpiryDateTime = @{DateTime = '2026-12-27T17:00:00'; TimeZone = 'UTC'}}";

fn request(v: &Value) -> Result<StatusMessageRequest, CliError> {
    let Some(msg) = entry(v, "Message") else {
        return Err(CliError::usage("-StatusMessage has no Message").with_help(SHAPE));
    };
    let (content, content_type) = if msg.is_object() {
        (
            entry(msg, "Content").and_then(text).unwrap_or_default(),
            entry(msg, "ContentType")
                .and_then(text)
                .unwrap_or_else(|| "text".into()),
        )
    } else {
        (text(msg).unwrap_or_default(), "text".into())
    };
    let expiry = match entry(v, "ExpiryDateTime") {
        None | Some(Value::Null) => None,
        Some(e) => {
            let (when, zone) = if e.is_object() {
                (
                    entry(e, "DateTime").and_then(text).unwrap_or_default(),
                    entry(e, "TimeZone").and_then(text),
                )
            } else {
                (text(e).unwrap_or_default(), None)
            };
            if let Some(z) = zone.as_deref() {
                if !["utc", "coordinated universal time", "etc/utc"]
                    .contains(&z.to_ascii_lowercase().as_str())
                {
                    return Err(CliError::usage(format!(
                        "ExpiryDateTime's TimeZone '{z}' is not supported"
                    ))
                    .with_help("give the expiry in UTC: TimeZone = 'UTC'"));
                }
            }
            let t = parse_date(&when)
                .or_else(|| parse_date(&format!("{when}Z")))
                .ok_or_else(|| {
                    CliError::usage(format!("'{when}' is not a date and time")).with_help(SHAPE)
                })?;
            Some(t)
        }
    };
    Ok(StatusMessageRequest {
        content,
        content_type,
        expiry,
    })
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let user = args.str("UserId").unwrap_or_default().to_string();
    let given = match (args.object("StatusMessage"), args.object("BodyParameter")) {
        (Some(v), None) => v,
        (None, Some(body)) => entry(body, "StatusMessage").ok_or_else(|| {
            CliError::usage("-BodyParameter has no StatusMessage")
                .with_help("give -BodyParameter @{StatusMessage = @{Message = @{Content = '...'}}}")
        })?,
        _ => {
            return Err(CliError::usage(
                "give the status message with -StatusMessage or with -BodyParameter (one of them)",
            )
            .with_help(SHAPE))
        }
    };
    let req = request(given)?;
    if !ctx.should_process(&user, "Set-MgUserPresenceStatusMessage", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    teams::set_status_message(store, keys, &user, &req)?;
    if args.switch("PassThru") {
        Ok(Output::Values(vec![Value::Bool(true)]))
    } else {
        Ok(Output::None)
    }
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (store, keys) = ctx.service()?;
    let p = teams::presence(store, keys, args.str("UserId").unwrap_or_default())?;
    Ok(Output::one(record(&p)?))
}
