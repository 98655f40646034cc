//! The OpenAPI 3.1 description of the service's API, made from the definition table and the
//! wire types: one request schema a cmdlet, with each parameter's bound-value form.

use serde_json::{json, Map, Value};

use crate::cli::def::{Cmdlet, Files, Kind, Param};

/// What a file parameter's value means on the wire.
fn file_note(files: Files) -> Option<&'static str> {
    match files {
        Files::Reads => Some("The path as on your machine (one per list item); each file's content travels in `files`, one Transfer per path in the same order (kind file or dir)."),
        Files::Writes => Some("The path as on your machine; send a Transfer of kind out (a file) or outdir (a folder) with no entries, and the reply's `files` carries what the cmdlet wrote."),
        Files::None | Files::Host => None,
    }
}

fn bound(tag: &str, inner: Value) -> Value {
    json!({"type": "object", "properties": {tag: inner}, "required": [tag], "additionalProperties": false})
}

fn param_schema(p: &Param) -> Value {
    let v = match p.kind {
        Kind::String | Kind::Path | Kind::ScriptBlock => bound("Str", json!({"type": "string"})),
        Kind::StringList => bound(
            "List",
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        Kind::Int { min, max } => bound(
            "Int",
            json!({"type": "integer", "minimum": min, "maximum": max}),
        ),
        Kind::Bool | Kind::Switch => bound("Bool", json!({"type": "boolean"})),
        Kind::Enum(set) => bound("Str", json!({"type": "string", "enum": set})),
        Kind::EnumList(set) => bound(
            "List",
            json!({"type": "array", "items": {"type": "string", "enum": set}}),
        ),
        Kind::Date => bound("Date", json!({"type": "string", "format": "date-time"})),
        // Any JSON value: an object such as Get-AzResource's Properties.
        Kind::Object => bound("Json", json!({})),
        // The password text (the request is signed and goes over TLS only).
        Kind::SecureString => bound("Secret", json!({"type": "string"})),
    };
    json!({"description": p.help, "oneOf": [v, {"const": "Null"}]})
}

fn args_schema(c: &Cmdlet) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    // Paths on the service's own machine are refused from clients, so they are not offered.
    for p in c
        .all_params()
        .filter(|p| !matches!(p.name, "Store" | "DataDir") && p.files != Files::Host)
    {
        let mut schema = param_schema(p);
        if let (Some(o), Some(what)) = (schema.as_object_mut(), file_note(p.files)) {
            o.insert(
                "description".into(),
                Value::from(format!("{} {what}", p.help)),
            );
        }
        props.insert(p.name.to_string(), schema);
        if p.required {
            required.push(Value::from(p.name));
        }
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let cmdlets: Vec<&'static Cmdlet> = crate::cli::cmdlets::all()
        .into_iter()
        .filter(|c| super::runs_on_service(c))
        .collect();
    let mut schemas = Map::new();
    let mut one_of = Vec::new();
    for c in &cmdlets {
        let name = format!("{}.Invocation", c.name);
        schemas.insert(
            name.clone(),
            json!({
                "type": "object",
                "description": c.synopsis,
                "properties": {
                    "cmdlet": {"const": c.name},
                    "args": args_schema(c),
                    "input": {"type": "array", "description": "Objects piped into the cmdlet."},
                    "confirmed": {"type": "boolean", "description": "The operator answered Yes to the confirmation the cmdlet asked for."},
                    "files": {"type": "array", "items": {"$ref": "#/components/schemas/Transfer"}, "description": "The content of the files the file parameters name (8 MiB in all)."}
                },
                "required": ["cmdlet"]
            }),
        );
        one_of.push(json!({"$ref": format!("#/components/schemas/{name}")}));
    }
    schemas.insert(
        "Invocation".into(),
        json!({"oneOf": one_of, "discriminator": {"propertyName": "cmdlet"}}),
    );
    schemas.insert("Reply".into(), json!({
        "type": "object",
        "properties": {
            "requestId": {"type": "string", "description": "Also the Request Id of the audit records the invocation wrote."},
            "output": {"type": "object", "properties": {
                "kind": {"enum": ["none", "objects", "list", "text", "values"]},
                "items": {}
            }, "required": ["kind"]},
            "messages": {"type": "array", "items": {"type": "object", "properties": {
                "stream": {"enum": ["warning", "verbose", "info"]}, "text": {"type": "string"}}}},
            "status": {"type": "integer", "description": "The exit code the cmdlet means (0, or 4: changes pending)."},
            "error": {"$ref": "#/components/schemas/Error"},
            "files": {"type": "array", "items": {"$ref": "#/components/schemas/Transfer"}, "description": "What the cmdlet wrote for its file parameters that write."},
            "confirm": {"type": "object", "properties": {"action": {"type": "string"}, "target": {"type": "string"}},
                "description": "Nothing ran: the operator must confirm, then the invocation is sent again with confirmed: true (HTTP 428)."}
        },
        "required": ["requestId", "output"]
    }));
    schemas.insert("Transfer".into(), json!({
        "type": "object",
        "properties": {
            "param": {"type": "string", "description": "The file parameter's name."},
            "name": {"type": "string", "description": "The file or folder's own name on your machine (no folder part)."},
            "kind": {"enum": ["file", "dir", "out", "outdir"]},
            "entries": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string", "description": "Relative and /-separated inside a dir; empty for a file."},
                "data": {"type": "string", "contentEncoding": "base64"}
            }, "required": ["path", "data"]}}
        },
        "required": ["param", "name", "kind"]
    }));
    schemas.insert("Error".into(), json!({
        "type": "object",
        "properties": {
            "class": {"enum": ["failed", "usage", "unavailable", "stale", "interrupted", "internal", "unauthenticated"]},
            "message": {"type": "string"},
            "help": {"type": "string"},
            "exitCode": {"type": "integer"}
        },
        "required": ["class", "message", "exitCode"]
    }));
    let header = |name: &str, what: &str| json!({"type": "apiKey", "in": "header", "name": name, "description": what});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "custkey service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Runs Customer Key cmdlets for registered accounts. Every POST /v1/invoke carries an SSHSIG signature (namespace custkey-request@custkey) of the text `custkey request v1\\n{METHOD}\\n{path}\\n{account}\\n{timestamp}\\n{nonce}\\n{sha256(body) hex}\\n{service certificate SHA-256 hex}\\n`, base64 in X-Custkey-Signature; anything else gets 401."
        },
        "paths": {
            "/healthz": {"get": {"summary": "The service is running.", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "The service can open its store and keys.", "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/invoke": {"post": {
                "summary": "Runs one cmdlet as the signing account.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invocation"}}}},
                "responses": {
                    "200": {"description": "The cmdlet ran.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reply"}}}},
                    "400": {"description": "The invocation is malformed (exit code 2)."},
                    "401": {"description": "Not signed by a registered account; nothing else is said."},
                    "422": {"description": "The cmdlet failed (exit code 1)."},
                    "428": {"description": "The cmdlet needs confirmation; send again with confirmed: true."},
                    "503": {"description": "The store or a vault is unreachable (exit code 3)."}
                }
            }}
        },
        "security": [{"account": [], "timestamp": [], "nonce": [], "signature": []}],
        "components": {
            "securitySchemes": {
                "account": header("X-Custkey-Account", "The account's user principal name."),
                "timestamp": header("X-Custkey-Timestamp", "RFC 3339, within 300 seconds of the service's clock."),
                "nonce": header("X-Custkey-Nonce", "16 to 128 characters, never reused."),
                "signature": header("X-Custkey-Signature", "Base64 of the armored SSHSIG signature.")
            },
            "schemas": schemas
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_service_cmdlet_has_a_request_schema() {
        let d = super::document();
        let schemas = d["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("Get-Mailbox.Invocation"));
        assert!(schemas.contains_key("New-DataEncryptionPolicy.Invocation"));
        // Client-side cmdlets are not the service's.
        assert!(!schemas.contains_key("Format-List.Invocation"));
        assert!(!schemas.contains_key("Connect-AzAccount.Invocation"));
        let args = &schemas["New-DataEncryptionPolicy.Invocation"]["properties"]["args"];
        assert!(args["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "Name"));
        assert!(args["properties"].get("Store").is_none());
    }
}
