//! ConvertTo-SecureString: a password as a SecureString for `-KeyFilePassword`.
//!
//! Script values are JSON, so a SecureString is an object whose text is sealed (AES-256-GCM)
//! under a key made at random for this process and never stored: printing it, piping it to
//! ConvertTo-Json or writing it with -Format Json shows `System.Security.SecureString` or
//! bytes no other process can open. Only a `SecureString` parameter opens it, into a value
//! zeroized when dropped (`args::Secret`).

use std::sync::OnceLock;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;
use custkey::crypto::SecretKey32;

/// The `PSTypeName` of a SecureString value.
pub const SECURE_STRING: &str = "System.Security.SecureString";
const AAD: &[u8] = b"custkey SecureString v1";

fn process_key() -> &'static SecretKey32 {
    static KEY: OnceLock<SecretKey32> = OnceLock::new();
    KEY.get_or_init(SecretKey32::generate)
}

/// The script value of a SecureString holding `text`.
pub fn seal(text: &str) -> Result<Value, CliError> {
    let sealed = custkey::crypto::seal(process_key(), AAD, text.as_bytes()).map_err(|e| {
        CliError::new(
            crate::cli::error::Class::Internal,
            format!("sealing a SecureString: {e}"),
        )
    })?;
    Ok(json!({
        "PSTypeName": SECURE_STRING,
        "Length": text.chars().count(),
        "Sealed": hex::encode(sealed),
    }))
}

/// Whether `v` is a SecureString value.
pub fn is_secure_string(v: &Value) -> bool {
    v.get("PSTypeName").and_then(Value::as_str) == Some(SECURE_STRING)
}

/// The text of a SecureString value made by [`seal`] in this process.
pub fn open(v: &Value) -> Option<Zeroizing<String>> {
    let sealed = hex::decode(v.get("Sealed")?.as_str()?).ok()?;
    let plain = Zeroizing::new(
        custkey::crypto::open(process_key(), AAD, &sealed)
            .ok()?
            .to_vec(),
    );
    std::str::from_utf8(&plain)
        .ok()
        .map(|s| Zeroizing::new(s.to_string()))
}

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "ConvertTo-SecureString",
    module: "Microsoft.PowerShell.Security",
    synopsis: "Makes a SecureString from text, for parameters such as -KeyFilePassword.",
    description: "Turns plain text into a SecureString, as PowerShell's ConvertTo-SecureString -AsPlainText \
-Force does. The text is held sealed under a key that lives only in this process: shown, it reads \
System.Security.SecureString. Take the text from an environment variable ($env:NAME) rather than writing it into \
the command, where other users of the machine can see it in the process list.",
    params: &[
        Param::new("String", Kind::String, "The text to protect.").position(0).required(),
        Param::new("AsPlainText", Kind::Switch, "The text is plain text (required: the encrypted standard-string form is not read)."),
        Param::new("Force", Kind::Switch, "Confirms that plain text is meant (PowerShell requires it with -AsPlainText)."),
    ],
    examples: &[Example {
        title: "A key file password from the environment",
        code: "KEY_PASSWORD=example custkey -Command '$p = ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force; $p'",
        output: "System.Security.SecureString\n",
        remarks: "Pass $p to Add-AzKeyVaultKey -KeyFilePassword.",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    if !args.switch("AsPlainText") {
        return Err(CliError::usage(
            "ConvertTo-SecureString reads plain text only: -AsPlainText is required",
        )
        .with_help("ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force"));
    }
    if !args.switch("Force") {
        return Err(CliError::usage(
            "ConvertTo-SecureString -AsPlainText needs -Force to confirm that plain text is meant",
        )
        .with_help("ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force"));
    }
    let text = Zeroizing::new(args.str("String").unwrap_or_default().to_string());
    Ok(Output::Values(vec![seal(&text)?]))
}
