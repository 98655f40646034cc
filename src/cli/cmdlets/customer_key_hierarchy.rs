//! Show-CustomerKeyHierarchy: a policy's key hierarchy drawn as a tree (root keys with their
//! versions and vaults, the availability key, the DEP key, and what it protects), as text for a
//! terminal, Graphviz DOT (`-As Dot`) or a nested object (`-Format Json`).

use serde_json::{json, Value};

use crate::cli::args::{bind_values, Args};
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::{Class, CliError};
use crate::cli::output::{Form, Output, Record};
use crate::cli::{find_cmdlet, Ctx};

use super::data_encryption_policy::dep_names;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Show-CustomerKeyHierarchy",
    module: "custkey",
    synopsis: "Draws a policy's key hierarchy: root keys and versions in their vaults, the availability key, the DEP key, and the mailboxes or workloads under it.",
    description: "For each data encryption policy (or the one -Identity names; multi-workload policies too): its two \
customer root keys with every version (the one the policy is wrapped under marked in use) and their vault and state, \
the service-held availability key, and the DEP key, with the mailboxes it protects (item counts, encrypted or not) \
or, for the tenant's multi-workload policy, the tenant's workloads. Text on a terminal (a tree; at most -First \
mailboxes a policy, then a count of the rest), Graphviz DOT with -As Dot (pipe it to `dot -Tsvg`), or the whole \
tree as nested JSON objects with -Format Json. Changes nothing.",
    params: &[
        Param::new("Identity", Kind::String, "The policy; default: every policy.").position(0).complete(dep_names),
        Param::new("As", Kind::Enum(&["Tree", "Dot"]), "Tree (text) or Dot (Graphviz).").default("Tree"),
        Param::new("First", Kind::Int { min: 1, max: 1_000_000 }, "How many mailboxes a policy the text tree lists.").default("20"),
    ],
    examples: &[Example {
        title: "What protects alice's mail?",
        code: "custkey Show-CustomerKeyHierarchy \"US Mailboxes\"",
        output: "",
        remarks: "custkey Show-CustomerKeyHierarchy -As Dot | dot -Tsvg > hierarchy.svg draws it.",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

/// Runs a cmdlet by name (with its own role check) and returns its objects.
fn call(ctx: &mut Ctx, name: &str, named: &[(&str, Value)]) -> Result<Vec<Value>, CliError> {
    let cmdlet = find_cmdlet(name)
        .ok_or_else(|| CliError::new(Class::Internal, format!("no cmdlet {name}")))?;
    let named: Vec<(String, Option<Value>)> = named
        .iter()
        .map(|(n, v)| (n.to_string(), Some(v.clone())))
        .collect();
    let args = bind_values(cmdlet, &named, &[], None)?;
    ctx.call(cmdlet, &args)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// One root key of a policy: its URI and every version the vault shows, or why none.
fn root_key(ctx: &mut Ctx, uri: &str, in_use: &[String]) -> Value {
    let base = uri
        .find("/keys/")
        .map(|i| {
            let name = uri[i + 6..].split('/').next().unwrap_or_default();
            format!("{}{name}", &uri[..i + 6])
        })
        .unwrap_or_else(|| uri.to_string());
    let vault = base
        .strip_prefix("https://")
        .and_then(|r| r.split('.').next())
        .unwrap_or_default()
        .to_string();
    let name = base.rsplit('/').next().unwrap_or_default().to_string();
    let mut key = json!({"Kind": "RootKey", "Id": base, "VaultName": vault, "Name": name});
    match call(
        ctx,
        "Get-AzKeyVaultKey",
        &[
            ("VaultName", json!(vault)),
            ("Name", json!(name)),
            ("IncludeVersions", json!(true)),
        ],
    ) {
        Ok(versions) => {
            let list: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let ver = s(v, "Version").to_string();
                    json!({
                        "Kind": "KeyVersion",
                        "Version": ver,
                        "InUse": in_use.iter().any(|u| u.eq_ignore_ascii_case(&ver)),
                        "Enabled": v.get("Enabled").cloned().unwrap_or(Value::Null),
                        "Expires": v.get("Expires").cloned().unwrap_or(Value::Null),
                        "KeyType": v.get("KeyType").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect();
            key["Versions"] = Value::Array(list);
        }
        // The operator may not read the vault: the tree says so and goes on.
        Err(e) => key["Error"] = json!(e.message),
    }
    key
}

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let want = args.str("Identity").map(str::to_string);
    let mut policies: Vec<(Value, &'static str)> = Vec::new();
    for (cmdlet, kind) in [
        ("Get-DataEncryptionPolicy", "Mailbox"),
        ("Get-M365DataAtRestEncryptionPolicy", "MultiWorkload"),
    ] {
        for p in call(ctx, cmdlet, &[])? {
            if want
                .as_deref()
                .is_none_or(|w| s(&p, "Name").eq_ignore_ascii_case(w))
            {
                policies.push((p, kind));
            }
        }
    }
    if let (Some(w), true) = (&want, policies.is_empty()) {
        return Err(
            CliError::failed(format!("there is no data encryption policy '{w}'")).with_help(
                "Get-DataEncryptionPolicy and Get-M365DataAtRestEncryptionPolicy list them",
            ),
        );
    }
    let stats = if policies.iter().any(|(_, k)| *k == "Mailbox") {
        call(ctx, "Get-MailboxStatistics", &[])?
    } else {
        Vec::new()
    };
    let tenant = call(ctx, "Get-M365DataAtRestEncryptionPolicyAssignment", &[])?;
    let tenant_policy = tenant
        .first()
        .map(|t| s(t, "Name").to_string())
        .unwrap_or_default();
    let mut trees = Vec::new();
    for (p, kind) in &policies {
        let versions: Vec<String> = p
            .get("KeyVersionIDs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let roots: Vec<Value> = p
            .get("AzureKeyIDs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .iter()
            .map(|uri| root_key(ctx, uri, &versions))
            .collect();
        let protects: Vec<Value> = if *kind == "Mailbox" {
            stats
                .iter()
                .filter(|m| s(m, "DataEncryptionPolicyID").eq_ignore_ascii_case(s(p, "Guid")))
                .map(|m| {
                    json!({"Kind": "Mailbox", "Name": s(m, "DisplayName"), "MailboxGuid": s(m, "MailboxGuid"),
                           "ItemCount": m.get("ItemCount").cloned().unwrap_or(Value::Null),
                           "IsEncrypted": m.get("IsEncrypted").cloned().unwrap_or(Value::Null)})
                })
                .collect()
        } else if tenant_policy.eq_ignore_ascii_case(s(p, "Name")) {
            vec![
                json!({"Kind": "Tenant", "Name": "the tenant's multi-workload content (Teams chat messages and the workloads docs/multi-workload.md lists)"}),
            ]
        } else {
            Vec::new()
        };
        trees.push(json!({
            "Kind": kind,
            "Name": s(p, "Name"),
            "Guid": s(p, "Guid"),
            "State": s(p, "State"),
            "Enabled": p.get("Enabled").cloned().unwrap_or(Value::Null),
            "RootKeys": roots,
            "AvailabilityKey": {"Kind": "AvailabilityKey", "HeldBy": "the service"},
            "DepKey": {"Kind": "DepKey", "WrappedBy": ["RootKey 1", "RootKey 2", "AvailabilityKey"], "Protects": protects},
        }));
    }
    if ctx.form == Some(Form::Json) {
        return Ok(Output::many(
            trees
                .into_iter()
                .filter_map(|t| match t {
                    Value::Object(m) => Some(Record::from_iter(m)),
                    _ => None,
                })
                .collect(),
        ));
    }
    let first = args.int("First").unwrap_or(20).max(1) as usize;
    Ok(Output::Text(
        if args
            .str("As")
            .is_some_and(|a| a.eq_ignore_ascii_case("Dot"))
        {
            dot(&trees)
        } else {
            text(&trees, first)
        },
    ))
}

/// A value shown in a tree line: control characters escaped (names come from the store).
fn shown(v: &str) -> String {
    crate::cli::output::printable(v).into_owned()
}

fn text(trees: &[Value], first: usize) -> String {
    let mut out = String::new();
    for t in trees {
        let kind = if s(t, "Kind") == "Mailbox" {
            "DEP"
        } else {
            "Multi-workload DEP"
        };
        let enabled = if t["Enabled"] == json!(false) {
            ", disabled"
        } else {
            ""
        };
        out.push_str(&format!(
            "{kind} {} ({}{enabled}) {}\n",
            shown(s(t, "Name")),
            s(t, "State"),
            s(t, "Guid")
        ));
        for k in t["RootKeys"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "├── root key {} (vault {})\n",
                shown(s(k, "Id")),
                shown(s(k, "VaultName"))
            ));
            if let Some(e) = k.get("Error").and_then(Value::as_str) {
                out.push_str(&format!("│   └── (versions not shown: {})\n", shown(e)));
            }
            let versions = k["Versions"].as_array().cloned().unwrap_or_default();
            for (i, v) in versions.iter().enumerate() {
                let branch = if i + 1 == versions.len() {
                    "└──"
                } else {
                    "├──"
                };
                let mut notes = Vec::new();
                if v["InUse"] == json!(true) {
                    notes.push("in use".to_string());
                }
                if v["Enabled"] == json!(false) {
                    notes.push("disabled".to_string());
                }
                if let Some(x) = v["Expires"].as_str() {
                    notes.push(format!("expires {}", &x[..x.len().min(10)]));
                }
                out.push_str(&format!(
                    "│   {branch} version {} ({})\n",
                    shown(s(v, "Version")),
                    notes.join(", ")
                ));
            }
        }
        out.push_str("├── availability key (held by the service; used only when both root keys are lost, audited)\n");
        out.push_str("└── DEP key (wrapped by each root key and the availability key)\n");
        let protects = t["DepKey"]["Protects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let shown_n = protects.len().min(first);
        for (i, m) in protects.iter().take(shown_n).enumerate() {
            let last = i + 1 == shown_n && protects.len() <= first;
            let branch = if last { "└──" } else { "├──" };
            if s(m, "Kind") == "Mailbox" {
                let enc = if m["IsEncrypted"] == json!(true) {
                    "encrypted"
                } else {
                    "NOT encrypted"
                };
                out.push_str(&format!(
                    "    {branch} mailbox {} ({} items, {enc})\n",
                    shown(s(m, "Name")),
                    m["ItemCount"]
                ));
            } else {
                out.push_str(&format!("    {branch} {}\n", shown(s(m, "Name"))));
            }
        }
        if protects.len() > first {
            out.push_str(&format!(
                "    └── … and {} more mailboxes (-First {} shows them)\n",
                protects.len() - first,
                protects.len()
            ));
        }
        if protects.is_empty() {
            out.push_str("    └── (nothing assigned)\n");
        }
    }
    out
}

/// A DOT string: quoted, quotes and backslashes escaped, a line break as DOT's `\n`.
fn q(v: &str) -> String {
    let lines: Vec<String> = v
        .split('\n')
        .map(|l| shown(l).replace('\\', "\\\\").replace('"', "\\\""))
        .collect();
    format!("\"{}\"", lines.join("\\n"))
}

fn dot(trees: &[Value]) -> String {
    let mut out = String::from(
        "digraph custkey {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n",
    );
    for t in trees {
        let dep = format!("dep:{}", s(t, "Guid"));
        let dk = format!("depkey:{}", s(t, "Guid"));
        let ak = format!("avail:{}", s(t, "Guid"));
        out.push_str(&format!(
            "  {} [label={}, shape=folder];\n",
            q(&dep),
            q(&format!("DEP {}\n{}", s(t, "Name"), s(t, "State")))
        ));
        out.push_str(&format!(
            "  {} [label=\"DEP key\", shape=ellipse];\n  {} -> {};\n",
            q(&dk),
            q(&dep),
            q(&dk)
        ));
        out.push_str(&format!("  {} [label=\"availability key\\n(service)\", style=dashed];\n  {} -> {} [label=\"wraps\"];\n", q(&ak), q(&ak), q(&dk)));
        for k in t["RootKeys"].as_array().into_iter().flatten() {
            let id = format!("key:{}", s(k, "Id"));
            out.push_str(&format!(
                "  {} [label={}];\n",
                q(&id),
                q(&format!("{}\nvault {}", s(k, "Name"), s(k, "VaultName")))
            ));
            for v in k["Versions"].as_array().into_iter().flatten() {
                if v["InUse"] == json!(true) {
                    let vid = format!("{id}/{}", s(v, "Version"));
                    out.push_str(&format!("  {} [label={}, shape=note];\n  {} -> {};\n  {} -> {} [label=\"wraps\"];\n",
                        q(&vid), q(&format!("version {}", &s(v, "Version")[..s(v, "Version").len().min(8)])), q(&id), q(&vid), q(&vid), q(&dk)));
                }
            }
        }
        for m in t["DepKey"]["Protects"].as_array().into_iter().flatten() {
            let mid = format!("{}:{}:{}", s(m, "Kind"), s(t, "Guid"), s(m, "MailboxGuid"));
            out.push_str(&format!(
                "  {} [label={}, shape=cylinder];\n  {} -> {};\n",
                q(&mid),
                q(s(m, "Name")),
                q(&dk),
                q(&mid)
            ));
        }
    }
    out.push_str("}\n");
    out
}
