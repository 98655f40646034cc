//! What goes over the connection between a client and the service: the invocation a client
//! sends, the reply it gets, and the text a request signature covers. Both sides use these
//! types, so the two cannot drift apart; the OpenAPI description (openapi.rs) is made from them
//! and from the definition table.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cli::error::{Class, CliError};
use crate::cli::output::Output;

/// The SSHSIG namespace of request signatures (a signature made for anything else, a data
/// purge approval or a sign-in challenge, is no request).
pub const NAMESPACE: &str = "custkey-request@custkey";
/// The path cmdlets are invoked at.
pub const INVOKE_PATH: &str = "/v1/invoke";
/// The path shell completion asks for names at.
pub const COMPLETE_PATH: &str = "/v1/complete";
/// How far a request's timestamp may be from the service's clock.
pub const MAX_SKEW_SECONDS: i64 = 300;
/// The largest request body the service reads.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// The largest reply a client reads.
pub const MAX_REPLY_BYTES: usize = 256 << 20;

pub const H_ACCOUNT: &str = "x-custkey-account";
pub const H_TIMESTAMP: &str = "x-custkey-timestamp";
pub const H_NONCE: &str = "x-custkey-nonce";
pub const H_SIGNATURE: &str = "x-custkey-signature";
pub const H_REQUEST_ID: &str = "x-request-id";

/// One cmdlet to run, as bound on the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    pub cmdlet: String,
    /// Parameter name -> bound value (`{"Str": "..."}`, `{"List": [...]}`, ...).
    #[serde(default)]
    pub args: Map<String, Value>,
    /// Objects piped into the cmdlet (utility cmdlets read them all).
    #[serde(default)]
    pub input: Vec<Value>,
    /// The operator has answered "Yes" to the confirmation this invocation asked for.
    #[serde(default)]
    pub confirmed: bool,
    /// The content of the files the file parameters name (files.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::files::Transfer>,
    /// The client's signatures of statements the service asked it to sign.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<custkey::service::principal::SignedStatement>,
}

/// The one namespace a client signs statements in when the service asks (the data purge
/// path). A service asking for any other signature gets none.
pub const STATEMENT_NAMESPACE: &str = "custkey-purge";

/// Whether the invocation of `cmdlet` with `args` is one of the data purge path's steps, the
/// only invocations whose statements a client signs: `Approve-DataPurgeRequest`, and
/// `Set-DataEncryptionPolicy -PermanentDataPurgeRequested` (not any other Set).
pub fn makes_statement(cmdlet: &str, args: &Map<String, Value>) -> bool {
    match cmdlet {
        "Approve-DataPurgeRequest" => true,
        "Set-DataEncryptionPolicy" => {
            args.get("PermanentDataPurgeRequested") == Some(&serde_json::json!({"Bool": true}))
        }
        _ => false,
    }
}

/// How a cmdlet's output came back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "items", rename_all = "camelCase")]
pub enum WireOutput {
    None,
    Objects(Vec<Map<String, Value>>),
    List(Vec<Map<String, Value>>),
    Text(String),
    Values(Vec<Value>),
}

impl From<Output> for WireOutput {
    fn from(o: Output) -> Self {
        match o {
            Output::None => WireOutput::None,
            Output::Objects(r) => WireOutput::Objects(r),
            Output::List(r) => WireOutput::List(r),
            Output::Text(t) => WireOutput::Text(t),
            Output::Values(v) => WireOutput::Values(v),
        }
    }
}

impl From<WireOutput> for Output {
    fn from(o: WireOutput) -> Self {
        match o {
            WireOutput::None => Output::None,
            WireOutput::Objects(r) => Output::Objects(r),
            WireOutput::List(r) => Output::List(r),
            WireOutput::Text(t) => Output::Text(t),
            WireOutput::Values(v) => Output::Values(v),
        }
    }
}

/// A line the cmdlet wrote for the operator (not output): warnings, verbose and -WhatIf lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// `warning`, `verbose` or `info`.
    pub stream: String,
    pub text: String,
}

/// An error as the client reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireError {
    /// `failed`, `usage`, `unavailable`, `stale`, `interrupted`, `internal` or
    /// `unauthenticated`.
    pub class: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The process exit code the error means.
    pub exit_code: i32,
}

/// The confirmation a cmdlet needs before it changes anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirm {
    pub action: String,
    pub target: String,
}

/// The reply to an invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The request id, also the Request Id of the audit records the invocation wrote.
    pub request_id: String,
    pub output: WireOutput,
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The exit code of a cmdlet that succeeded (4: changes pending).
    #[serde(default)]
    pub status: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// Set when nothing ran because a confirmation is needed: the client asks the operator
    /// and sends the invocation again with `confirmed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    /// The files the cmdlet wrote for its file parameters, for the client to put in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::files::Transfer>,
    /// Set when nothing ran because a statement must be signed with the client's key: the
    /// client signs it and sends the invocation again with the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<custkey::service::principal::StatementToSign>,
}

pub fn class_name(c: Class) -> &'static str {
    match c {
        Class::Failed => "failed",
        Class::Usage => "usage",
        Class::Unavailable => "unavailable",
        Class::Stale => "stale",
        Class::Interrupted => "interrupted",
        Class::Internal => "internal",
    }
}

pub fn class_of(name: &str) -> Class {
    match name {
        "usage" => Class::Usage,
        "unavailable" => Class::Unavailable,
        "stale" => Class::Stale,
        "interrupted" => Class::Interrupted,
        "internal" => Class::Internal,
        _ => Class::Failed,
    }
}

impl From<&CliError> for WireError {
    fn from(e: &CliError) -> Self {
        WireError {
            class: class_name(e.class).into(),
            message: e.message.clone(),
            help: e.help.clone(),
            exit_code: e.class.exit_code(),
        }
    }
}

impl From<WireError> for CliError {
    fn from(w: WireError) -> Self {
        let e = CliError::new(class_of(&w.class), w.message);
        match w.help {
            Some(h) => e.with_help(h),
            None => e,
        }
    }
}

/// The HTTP status an error is sent with.
pub fn http_status(c: Class) -> u16 {
    match c {
        Class::Failed => 422,
        Class::Usage => 400,
        Class::Unavailable => 503,
        Class::Stale => 409,
        Class::Interrupted => 503,
        Class::Internal => 500,
    }
}

/// The text a request signature covers: what is asked (method, path, the body's SHA-256),
/// by whom, when, once (the nonce), and of which service (its certificate's SHA-256, so a
/// request made for one service cannot be replayed to another).
pub fn signed_text(
    method: &str,
    path: &str,
    account: &str,
    timestamp: &str,
    nonce: &str,
    body_sha256_hex: &str,
    service_thumbprint: &str,
) -> String {
    format!(
        "custkey request v1\n{method}\n{path}\n{account}\n{timestamp}\n{nonce}\n{body_sha256_hex}\n{}\n",
        service_thumbprint.to_ascii_lowercase()
    )
}

/// A certificate thumbprint as given (`AB:CD...`, `abcd...`, `SHA256:abcd...`), normalised to
/// 64 lowercase hex digits.
pub fn parse_thumbprint(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_prefix("SHA256:")
        .or_else(|| t.strip_prefix("sha256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_in_their_usual_spellings() {
        let h = "ab".repeat(32);
        assert_eq!(parse_thumbprint(&h).as_deref(), Some(h.as_str()));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_thumbprint(&colons).as_deref(), Some(h.as_str()));
        assert_eq!(
            parse_thumbprint(&format!("SHA256:{h}")).as_deref(),
            Some(h.as_str())
        );
        assert_eq!(parse_thumbprint("abcd"), None);
        assert_eq!(parse_thumbprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn the_signed_text_binds_every_field() {
        let base = signed_text("POST", "/v1/invoke", "a@b.c", "t", "n", "h", "T");
        for other in [
            signed_text("GET", "/v1/invoke", "a@b.c", "t", "n", "h", "T"),
            signed_text("POST", "/v1/other", "a@b.c", "t", "n", "h", "T"),
            signed_text("POST", "/v1/invoke", "x@b.c", "t", "n", "h", "T"),
            signed_text("POST", "/v1/invoke", "a@b.c", "u", "n", "h", "T"),
            signed_text("POST", "/v1/invoke", "a@b.c", "t", "m", "h", "T"),
            signed_text("POST", "/v1/invoke", "a@b.c", "t", "n", "g", "T"),
            signed_text("POST", "/v1/invoke", "a@b.c", "t", "n", "h", "U"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn outputs_round_trip() {
        let mut m = Map::new();
        m.insert("Name".into(), Value::from("x"));
        let o = WireOutput::List(vec![m]);
        let j = serde_json::to_string(&o).unwrap();
        let back: WireOutput = serde_json::from_str(&j).unwrap();
        assert!(matches!(back, WireOutput::List(v) if v[0]["Name"] == "x"));
    }
}
