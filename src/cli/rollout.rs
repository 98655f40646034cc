//! Desired-state rollout: a TOML file says which vaults and keys must exist, which DEPs
//! (name, description, key ids, enabled) and which mailboxes are assigned to them (by
//! identity or by -Filter), which multi-workload policies exist and which one the tenant has, and
//! each geo's SharePoint policy with its primary and secondary keys. `plan` compares it with the store and lists what would be
//! created, changed or assigned, and what differs but is never touched; `apply` carries
//! the plan out through the same cmdlets an operator would type. Nothing is ever deleted
//! or unassigned.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use custkey::model::RecipientScope;
use custkey::service::{dep, mailbox};

use super::args::{bind_values, Args};
use super::def::Cmdlet;
use super::error::CliError;
use super::output::Record;
use super::{find_cmdlet, Ctx};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Desired {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vault: Vec<VaultSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dep: Vec<DepSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment: Vec<AssignSpec>,
    /// Multi-workload DEPs (`*-M365DataAtRestEncryptionPolicy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub m365_policy: Vec<DepSpec>,
    /// The tenant's multi-workload assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m365_assignment: Option<M365AssignSpec>,
    /// SharePoint geo policies, one per geo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spo_policy: Vec<SpoSpec>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpoSpec {
    /// The geo; the organization's DefaultGeo when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
    /// A key URI with its version, or without one for the key's newest version.
    pub primary_key_id: String,
    pub secondary_key_id: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct M365AssignSpec {
    pub policy: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DepSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub key_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssignSpec {
    pub dep: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mailboxes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// What one plan step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Already as described.
    NoChange,
    Create,
    Change,
    /// Re-wrap a DEP under the newest version of its keys (after a key roll).
    Refresh,
    Assign,
    /// Differs from the file, and rollout will not touch it (say so, change nothing).
    Differs,
    /// Expected but absent, and not something rollout creates (vaults, keys, mailboxes).
    Missing,
    /// A change rollout would make, but a rule of the service refuses it (an unlicensed mailbox,
    /// a Trial organization, the 50-policy limit, a key that fails a check, a role the signed-in
    /// account lacks): the apply does not attempt it.
    Blocked,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::NoChange => "NoChange",
            Action::Create => "Create",
            Action::Change => "Change",
            Action::Refresh => "Refresh",
            Action::Assign => "Assign",
            Action::Differs => "Differs",
            Action::Missing => "Missing",
            Action::Blocked => "Blocked",
        }
    }
    pub fn pending(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Change | Action::Refresh | Action::Assign
        )
    }
}

/// The steps rollout cannot make true (Missing, Differs, Blocked): drift, whatever else is
/// pending.
pub fn drift(steps: &[Step]) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::Differs | Action::Missing | Action::Blocked
            )
        })
        .collect()
}

/// Parameters for a cmdlet call: (name, value).
pub type Named = Vec<(String, Option<Value>)>;

/// One step: what, on which object, the property it is about with its value now (`before`) and
/// as the file wants it (`after`), and the cmdlet that carries it out.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub kind: &'static str,
    pub target: String,
    pub detail: String,
    /// The property compared (`DataEncryptionPolicy`, `Description`, ...), or `None` for the
    /// whole object (a creation: `before` is null and `after` the new object).
    pub property: Option<&'static str>,
    pub before: Value,
    pub after: Value,
    pub command: Option<(&'static str, Named)>,
    /// What the step needs done first: `DEP:<name>`, `M365Policy:<name>` or `GeoPolicy:<geo>`. A
    /// step whose prerequisite failed is skipped by apply.
    pub needs: Option<String>,
}

impl Step {
    fn new(action: Action, kind: &'static str, target: &str, detail: impl Into<String>) -> Step {
        Step {
            action,
            kind,
            target: target.to_string(),
            detail: detail.into(),
            property: None,
            before: Value::Null,
            after: Value::Null,
            command: None,
            needs: None,
        }
    }
    fn run(mut self, cmdlet: &'static str, args: Vec<(&str, Value)>) -> Step {
        self.command = Some((
            cmdlet,
            args.into_iter()
                .map(|(n, v)| (n.to_string(), Some(v)))
                .collect(),
        ));
        self
    }
    /// The property the step is about, as it is and as the file wants it.
    fn diff(mut self, property: Option<&'static str>, before: Value, after: Value) -> Step {
        self.property = property;
        self.before = before;
        self.after = after;
        self
    }
    fn needs(mut self, what: String) -> Step {
        self.needs = Some(what);
        self
    }
    /// What this step provides to later steps (see [`Step::needs`]).
    fn provides(&self) -> String {
        format!("{}:{}", self.kind, self.target.to_ascii_lowercase())
    }
    /// Whether the step disables a policy.
    fn disables(&self) -> bool {
        self.command.as_ref().is_some_and(|(_, args)| {
            args.iter()
                .any(|(n, v)| n == "Enabled" && v.as_ref() == Some(&json!(false)))
        })
    }
    /// The step as an output record; `result` (and `error`, for a failed step) are set by apply.
    pub fn record(&self, result: Option<&str>, error: Option<&str>) -> Record {
        let mut m = Record::new();
        m.insert("Action".into(), json!(self.action.name()));
        m.insert("Kind".into(), json!(self.kind));
        m.insert("Target".into(), json!(self.target));
        m.insert("Property".into(), json!(self.property));
        m.insert("Before".into(), self.before.clone());
        m.insert("After".into(), self.after.clone());
        m.insert(
            "Cmdlet".into(),
            json!(self.command.as_ref().map(|(c, _)| *c)),
        );
        m.insert("Detail".into(), json!(self.detail));
        if let Some(r) = result {
            m.insert("Result".into(), json!(r));
            m.insert("Error".into(), json!(error));
        }
        m
    }
    /// What a saved plan must still show for the step: all but the prose.
    fn fingerprint(&self) -> Value {
        json!([
            self.action.name(),
            self.kind,
            self.target.to_ascii_lowercase(),
            self.property,
            self.before,
            self.after
        ])
    }
}

/// Reads and checks a desired-state file.
pub fn load(path: &str) -> Result<Desired, CliError> {
    parse(path, &read(path)?)
}

/// Reads a desired-state file's text, bounded.
pub fn read(path: &str) -> Result<String, CliError> {
    // Bounded: a rollout file is at most MAX_ROLLOUT_BYTES (docs/cli.md, "Input limits").
    let limit = custkey::input::MAX_ROLLOUT_BYTES;
    std::fs::File::open(path)
        .map_err(custkey::input::ReadError::Io)
        .and_then(|f| custkey::input::read_text_limited(f, limit))
        .map_err(|e| {
            CliError::usage(format!("cannot read the configuration '{path}': {e}")).with_help(
                format!(
                    "give the path of a TOML file such as examples/rollout.toml (at most {})",
                    custkey::input::size(limit)
                ),
            )
        })
}

/// Checks the text of a desired-state file; `path` names it in messages.
pub fn parse(path: &str, text: &str) -> Result<Desired, CliError> {
    let d: Desired = toml::from_str(text).map_err(|e| {
        // The parser's message quotes the offending line, which may be the whole file.
        let msg = e.to_string();
        let msg = match msg.char_indices().nth(2000) {
            Some((i, _)) => format!("{}...", &msg[..i]),
            None => msg,
        };
        CliError::usage(format!("{path}: {}", msg.trim_end()))
            .with_help("see 'Desired-state rollout' in docs/cli.md for the file's tables and keys")
    })?;
    for a in &d.assignment {
        if a.mailboxes.is_empty() && a.filter.is_none() {
            return Err(CliError::usage(format!(
                "{path}: the assignment to '{}' names no mailboxes and no filter.",
                a.dep
            ))
            .with_help("give mailboxes = [\"alice\"] or filter = \"RecipientTypeDetails -eq 'SharedMailbox'\""));
        }
        if !d.dep.iter().any(|x| x.name.eq_ignore_ascii_case(&a.dep)) {
            return Err(CliError::usage(format!(
                "{path}: the assignment names the DEP '{}', which no [[dep]] describes.",
                a.dep
            ))
            .with_help(
                "describe every assigned DEP in a [[dep]] table, so the file is the whole truth",
            ));
        }
    }
    let mut geos: Vec<String> = Vec::new();
    for p in &d.spo_policy {
        let g = p.geo.clone().unwrap_or_default().to_ascii_uppercase();
        if geos.contains(&g) {
            return Err(CliError::usage(format!(
                "{path}: two [[spo_policy]] tables describe the geo '{}'.",
                if g.is_empty() { "(default)" } else { &g }
            ))
            .with_help("a geo has one SharePoint policy; keep one table per geo"));
        }
        geos.push(g);
    }
    if let Some(a) = &d.m365_assignment {
        if !d
            .m365_policy
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(&a.policy))
        {
            return Err(CliError::usage(format!(
                "{path}: [m365_assignment] names the policy '{}', which no [[m365_policy]] describes.",
                a.policy
            ))
            .with_help("describe the assigned policy in a [[m365_policy]] table, so the file is the whole truth"));
        }
    }
    Ok(d)
}

/// Runs a cmdlet by name from inside rollout (nested: inherits -WhatIf and -Verbose).
fn call(
    ctx: &mut Ctx,
    name: &str,
    named: &[(String, Option<Value>)],
) -> Result<Vec<Value>, CliError> {
    let cmdlet = find_cmdlet(name)
        .ok_or_else(|| CliError::new(super::error::Class::Internal, format!("no cmdlet {name}")))?;
    let args: Args = bind_values(cmdlet, named, &[], None)?;
    ctx.call(cmdlet, &args)
}

fn named(pairs: &[(&str, Value)]) -> Vec<(String, Option<Value>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), Some(v.clone())))
        .collect()
}

fn prop<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

/// The vault and key a key URI names: `https://VAULT.vault.azure.net/keys/KEY[/version]`.
fn vault_and_key(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let vault = host.split('.').next()?.to_string();
    let key = path.strip_prefix("keys/")?.split('/').next()?.to_string();
    (!vault.is_empty() && !key.is_empty()).then_some((vault, key))
}

/// A key URI without its version: `https://v.vault.azure.net/keys/k[/version]` -> `.../keys/k`.
fn key_base(uri: &str) -> String {
    let t = uri.trim_end_matches('/').to_ascii_lowercase();
    match t.find("/keys/") {
        Some(i) => {
            let name = t[i + 6..].split('/').next().unwrap_or_default();
            format!("{}{name}", &t[..i + 6])
        }
        None => t,
    }
}

/// Whether two key URIs name the same key; a URI without a version matches any version.
fn same(have: &str, want: &str) -> bool {
    let want_t = want.trim_end_matches('/');
    if want_t.eq_ignore_ascii_case(have.trim_end_matches('/')) {
        return true;
    }
    // An unversioned wanted URI matches the key at any version.
    let versioned = want_t.to_ascii_lowercase() != key_base(want_t);
    !versioned && key_base(have) == key_base(want_t)
}

/// Which policy cmdlets a `[[dep]]` or `[[m365_policy]]` table is carried out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyNoun {
    Mailbox,
    M365,
}

impl PolicyNoun {
    fn noun(self) -> &'static str {
        match self {
            PolicyNoun::Mailbox => "DataEncryptionPolicy",
            PolicyNoun::M365 => "M365DataAtRestEncryptionPolicy",
        }
    }
    fn cmdlet(self, verb: &str) -> &'static str {
        match (self, verb) {
            (PolicyNoun::Mailbox, "New") => "New-DataEncryptionPolicy",
            (PolicyNoun::Mailbox, _) => "Set-DataEncryptionPolicy",
            (PolicyNoun::M365, "New") => "New-M365DataAtRestEncryptionPolicy",
            (PolicyNoun::M365, _) => "Set-M365DataAtRestEncryptionPolicy",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            PolicyNoun::Mailbox => "DEP",
            PolicyNoun::M365 => "M365Policy",
        }
    }
    fn dep_kind(self) -> dep::DepKind {
        match self {
            PolicyNoun::Mailbox => dep::DepKind::Mailbox,
            PolicyNoun::M365 => dep::DepKind::M365,
        }
    }
}

/// A step the service would refuse becomes `Blocked`, with the refusal in its detail.
fn gate(mut step: Step, check: Result<(), CliError>) -> Step {
    if let Err(e) = check {
        step.action = Action::Blocked;
        step.detail = match &e.help {
            Some(h) => format!("{}: refused: {} ({h})", step.detail, e.message),
            None => format!("{}: refused: {}", step.detail, e.message),
        };
    }
    step
}

/// Whether the signed-in account holds the role `cmdlet` needs.
fn role(ctx: &mut Ctx, cmdlet: &str) -> Result<(), CliError> {
    match find_cmdlet(cmdlet) {
        Some(c) => super::gate::check(ctx, c),
        None => Ok(()),
    }
}

/// The role and the service's gates of a `Set-` step on an existing policy.
fn preflight_set(
    ctx: &mut Ctx,
    noun: PolicyNoun,
    name: &str,
    ch: &dep::PolicyChanges,
) -> Result<(), CliError> {
    role(ctx, noun.cmdlet("Set"))?;
    let (store, keys) = ctx.service()?;
    Ok(dep::preflight_set(store, keys, noun.dep_kind(), name, ch)?)
}

/// The steps that bring the policies of one kind to what the file describes.
fn plan_policies(
    ctx: &mut Ctx,
    specs: &[DepSpec],
    noun: PolicyNoun,
) -> Result<Vec<Step>, CliError> {
    let mut steps = Vec::new();
    let existing = call(ctx, &format!("Get-{}", noun.noun()), &[])?;
    for spec in specs {
        let found = existing.iter().find(|x| {
            prop(x, "Name")
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&spec.name))
        });
        let Some(cur) = found else {
            let mut args = vec![
                ("Name", json!(spec.name)),
                ("AzureKeyIDs", json!(spec.key_ids)),
            ];
            if let Some(desc) = &spec.description {
                args.push(("Description", json!(desc)));
            }
            if let Some(en) = spec.enabled {
                args.push(("Enabled", json!(en)));
            }
            let req = dep::NewPolicy {
                name: spec.name.clone(),
                azure_key_ids: spec.key_ids.clone(),
                description: spec.description.clone().unwrap_or_default(),
                enabled: spec.enabled.unwrap_or(true),
            };
            let planned = steps
                .iter()
                .filter(|s: &&Step| s.action == Action::Create)
                .count() as u64;
            let check = role(ctx, noun.cmdlet("New")).and_then(|()| {
                let (store, keys) = ctx.service()?;
                dep::preflight_create(store, keys, noun.dep_kind(), &req, planned)
                    .map(|_| ())
                    .map_err(CliError::from)
            });
            let step = Step::new(
                Action::Create,
                noun.kind(),
                &spec.name,
                format!("new, over {} keys", spec.key_ids.len()),
            )
            .diff(
                None,
                Value::Null,
                json!({"Name": spec.name, "Description": req.description, "AzureKeyIDs": spec.key_ids, "Enabled": req.enabled}),
            )
            .run(noun.cmdlet("New"), args);
            steps.push(gate(step, check));
            continue;
        };
        let mut changed = false;
        let want_desc = spec.description.clone().unwrap_or_default();
        let have_desc = prop(cur, "Description").as_str().unwrap_or_default();
        if spec.description.is_some() && have_desc != want_desc {
            changed = true;
            let ch = dep::PolicyChanges {
                description: Some(want_desc.clone()),
                ..Default::default()
            };
            let check = preflight_set(ctx, noun, &spec.name, &ch);
            let step = Step::new(
                Action::Change,
                noun.kind(),
                &spec.name,
                format!("Description: '{have_desc}' -> '{want_desc}'"),
            )
            .diff(Some("Description"), json!(have_desc), json!(want_desc))
            .run(
                noun.cmdlet("Set"),
                vec![
                    ("Identity", json!(spec.name)),
                    ("Description", json!(want_desc)),
                ],
            );
            steps.push(gate(step, check));
        }
        let have_en = prop(cur, "Enabled").as_bool().unwrap_or(true);
        if let Some(want) = spec.enabled.filter(|w| *w != have_en) {
            changed = true;
            // Disabling the tenant's multi-workload policy is checked by plan() once it knows
            // whether the tenant's assignment moves away first.
            let check = if noun == PolicyNoun::M365 && !want {
                role(ctx, noun.cmdlet("Set"))
            } else {
                let ch = dep::PolicyChanges {
                    enabled: Some(want),
                    ..Default::default()
                };
                preflight_set(ctx, noun, &spec.name, &ch)
            };
            let step = Step::new(
                Action::Change,
                noun.kind(),
                &spec.name,
                format!("Enabled: {have_en} -> {want}"),
            )
            .diff(Some("Enabled"), json!(have_en), json!(want))
            .run(
                noun.cmdlet("Set"),
                vec![("Identity", json!(spec.name)), ("Enabled", json!(want))],
            );
            steps.push(gate(step, check));
        }
        let have_keys: Vec<String> = prop(cur, "AzureKeyIDs")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let keys_match = have_keys.len() == spec.key_ids.len()
            && spec
                .key_ids
                .iter()
                .all(|k| have_keys.iter().any(|h| same(h, k)));
        if !keys_match {
            changed = true;
            steps.push(
                Step::new(
                    Action::Differs,
                    noun.kind(),
                    &spec.name,
                    format!(
                        "AzureKeyIDs are {} in the store; a policy's keys cannot change (make a new policy and move what it protects)",
                        have_keys.join(", ")
                    ),
                )
                .diff(Some("AzureKeyIDs"), json!(have_keys), json!(spec.key_ids)),
            );
        }
        // A key rolled to a new version since the DEP was made or refreshed: refresh it.
        let versions: Vec<String> = prop(cur, "KeyVersionIDs")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        let mut stale = Vec::new();
        let mut newest_versions = Vec::new();
        for k in &have_keys {
            let Some((vault, name)) = vault_and_key(k) else {
                continue;
            };
            let Ok(found) = call(
                ctx,
                "Get-AzKeyVaultKey",
                &named(&[("VaultName", json!(vault)), ("Name", json!(name))]),
            ) else {
                continue;
            };
            let newest = found
                .first()
                .and_then(|v| prop(v, "Version").as_str())
                .map(str::to_ascii_lowercase);
            if let Some(newest) = &newest {
                newest_versions.push(json!(newest));
            }
            if let Some(newest) = newest.filter(|n| !versions.contains(n)) {
                stale.push(format!("{vault}/{name} is at version {newest}"));
            }
        }
        if !stale.is_empty() {
            changed = true;
            let ch = dep::PolicyChanges {
                refresh: true,
                ..Default::default()
            };
            let check = preflight_set(ctx, noun, &spec.name, &ch);
            let step = Step::new(Action::Refresh, noun.kind(), &spec.name, stale.join("; "))
                .diff(
                    Some("KeyVersionIDs"),
                    json!(versions),
                    Value::Array(newest_versions),
                )
                .run(
                    noun.cmdlet("Set"),
                    vec![("Identity", json!(spec.name)), ("Refresh", json!(true))],
                );
            steps.push(gate(step, check));
        }
        if !changed {
            steps.push(Step::new(
                Action::NoChange,
                noun.kind(),
                &spec.name,
                "as described",
            ));
        }
    }
    Ok(steps)
}

/// Compares the file with the store; changes nothing.
pub fn plan(ctx: &mut Ctx, d: &Desired) -> Result<Vec<Step>, CliError> {
    let mut steps = Vec::new();
    // Vaults and keys: expected, never created (the customer's keys are theirs to make).
    for v in &d.vault {
        match call(
            ctx,
            "Get-AzKeyVault",
            &named(&[("VaultName", json!(v.name))]),
        ) {
            Ok(_) => steps.push(
                Step::new(Action::NoChange, "Vault", &v.name, "exists").diff(
                    Some("Exists"),
                    json!(true),
                    json!(true),
                ),
            ),
            Err(e) if e.class == super::error::Class::Failed => {
                steps.push(
                    Step::new(
                        Action::Missing,
                        "Vault",
                        &v.name,
                        "does not exist; create it with New-AzKeyVault",
                    )
                    .diff(Some("Exists"), json!(false), json!(true)),
                );
                continue;
            }
            Err(e) => return Err(e),
        }
        for k in &v.keys {
            let target = format!("{}/{k}", v.name);
            match call(
                ctx,
                "Get-AzKeyVaultKey",
                &named(&[("VaultName", json!(v.name)), ("Name", json!(k))]),
            ) {
                Ok(_) => steps.push(Step::new(Action::NoChange, "Key", &target, "exists").diff(
                    Some("Exists"),
                    json!(true),
                    json!(true),
                )),
                Err(e) if e.class == super::error::Class::Failed => steps.push(
                    Step::new(
                        Action::Missing,
                        "Key",
                        &target,
                        "does not exist; create it with Add-AzKeyVaultKey",
                    )
                    .diff(Some("Exists"), json!(false), json!(true)),
                ),
                Err(e) => return Err(e),
            }
        }
    }
    // DEPs.
    steps.extend(plan_policies(ctx, &d.dep, PolicyNoun::Mailbox)?);
    // Assignments. A DEP the plan creates is assigned after it exists, enabled as the file says.
    let created = |steps: &[Step], kind: &str, name: &str| {
        steps.iter().any(|s| {
            s.kind == kind && s.action == Action::Create && s.target.eq_ignore_ascii_case(name)
        })
    };
    let assign_role = role(ctx, "Set-Mailbox");
    for a in &d.assignment {
        let planned = created(&steps, "DEP", &a.dep);
        let planned_disabled = planned
            && d.dep
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&a.dep) && x.enabled == Some(false));
        let mut boxes: Vec<Value> = Vec::new();
        for id in &a.mailboxes {
            match call(ctx, "Get-Mailbox", &named(&[("Identity", json!(id))])) {
                Ok(found) => boxes.extend(found),
                Err(e) if e.class == super::error::Class::Failed => steps.push(
                    Step::new(
                        Action::Missing,
                        "Mailbox",
                        id,
                        "does not exist; create it with New-Mailbox",
                    )
                    .diff(Some("Exists"), json!(false), json!(true)),
                ),
                Err(e) => return Err(e),
            }
        }
        if let Some(f) = &a.filter {
            boxes.extend(call(
                ctx,
                "Get-Mailbox",
                &named(&[("Filter", json!(f)), ("ResultSize", json!("Unlimited"))]),
            )?);
        }
        // Each mailbox once, in order; the gates of all the moves checked together.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut entries: Vec<(String, String, String)> = Vec::new(); // (guid, name, current DEP)
        for mb in boxes {
            let ident = prop(&mb, "Identity")
                .as_str()
                .unwrap_or_default()
                .to_string();
            let guid = prop(&mb, "Guid").as_str().unwrap_or_default().to_string();
            if !seen.insert(guid.clone()) {
                continue;
            }
            let name = prop(&mb, "Alias").as_str().unwrap_or(&ident).to_string();
            let have = prop(&mb, "DataEncryptionPolicy")
                .as_str()
                .unwrap_or_default()
                .to_string();
            entries.push((guid, name, have));
        }
        let moving: Vec<String> = entries
            .iter()
            .filter(|(_, _, have)| !have.eq_ignore_ascii_case(&a.dep))
            .map(|(g, _, _)| g.clone())
            .collect();
        let mut checks: std::collections::HashMap<String, Result<(), CliError>> =
            std::collections::HashMap::new();
        let common: Result<(), CliError> = match &assign_role {
            Err(e) => Err(e.clone()),
            Ok(()) if planned_disabled => Err(CliError::usage(format!(
                "the file creates '{}' disabled, and a disabled policy can't be assigned",
                a.dep
            ))
            .with_help("set enabled = true in its [[dep]] table, or drop the assignment")),
            Ok(()) if moving.is_empty() => Ok(()),
            Ok(()) => {
                let (store, _) = ctx.service()?;
                match mailbox::preflight_assign_many(
                    store,
                    &moving,
                    RecipientScope::Mailboxes,
                    &a.dep,
                    planned,
                ) {
                    Ok(each) => {
                        for (g, r) in moving.iter().zip(each) {
                            checks.insert(g.clone(), r.map_or(Ok(()), |e| Err(CliError::from(e))));
                        }
                        Ok(())
                    }
                    Err(e) => Err(CliError::from(e)),
                }
            }
        };
        for (guid, name, have) in entries {
            let before = if have.is_empty() {
                Value::Null
            } else {
                json!(have)
            };
            if have.eq_ignore_ascii_case(&a.dep) {
                steps.push(
                    Step::new(
                        Action::NoChange,
                        "Mailbox",
                        &name,
                        format!("assigned to {}", a.dep),
                    )
                    .diff(Some("DataEncryptionPolicy"), before, json!(a.dep)),
                );
            } else {
                let from = if have.is_empty() {
                    "Microsoft-managed keys".to_string()
                } else {
                    have
                };
                let check = match &common {
                    Err(e) => Err(e.clone()),
                    Ok(()) => checks.remove(&guid).unwrap_or(Ok(())),
                };
                let mut step = Step::new(
                    Action::Assign,
                    "Mailbox",
                    &name,
                    format!("{from} -> {}", a.dep),
                )
                .diff(Some("DataEncryptionPolicy"), before, json!(a.dep))
                .run(
                    "Set-Mailbox",
                    vec![
                        ("Identity", json!(guid)),
                        ("DataEncryptionPolicy", json!(a.dep)),
                    ],
                );
                if planned {
                    step = step.needs(format!("DEP:{}", a.dep.to_ascii_lowercase()));
                }
                steps.push(gate(step, check));
            }
        }
    }
    // Multi-workload policies, then the tenant's assignment; a policy is disabled only after the
    // assignment has moved away from it.
    let (disabling, other): (Vec<Step>, Vec<Step>) =
        plan_policies(ctx, &d.m365_policy, PolicyNoun::M365)?
            .into_iter()
            .partition(Step::disables);
    steps.extend(other);
    if let Some(a) = &d.m365_assignment {
        let have = call(ctx, "Get-M365DataAtRestEncryptionPolicyAssignment", &[])?;
        let current = have
            .first()
            .and_then(|v| prop(v, "Name").as_str())
            .map(str::to_string);
        match current {
            Some(c) if c.eq_ignore_ascii_case(&a.policy) => steps.push(
                Step::new(
                    Action::NoChange,
                    "Tenant",
                    "M365DataAtRestEncryptionPolicyAssignment",
                    format!("assigned to {c}"),
                )
                .diff(Some("DataEncryptionPolicy"), json!(c), json!(a.policy)),
            ),
            other => {
                let mut step = Step::new(
                    Action::Assign,
                    "Tenant",
                    "M365DataAtRestEncryptionPolicyAssignment",
                    format!(
                        "{} -> {}",
                        other
                            .clone()
                            .unwrap_or_else(|| "Microsoft-managed keys".into()),
                        a.policy
                    ),
                )
                .diff(Some("DataEncryptionPolicy"), json!(other), json!(a.policy))
                .run(
                    "Set-M365DataAtRestEncryptionPolicyAssignment",
                    vec![("DataEncryptionPolicy", json!(a.policy))],
                );
                if created(&steps, "M365Policy", &a.policy) {
                    step = step.needs(format!("M365Policy:{}", a.policy.to_ascii_lowercase()));
                }
                let check = role(ctx, "Set-M365DataAtRestEncryptionPolicyAssignment");
                steps.push(gate(step, check));
            }
        }
    }
    // Disabling a policy: refused while the tenant stays assigned to it.
    let tenant_after = d
        .m365_assignment
        .as_ref()
        .map(|a| a.policy.to_ascii_lowercase());
    for s in disabling {
        let target = s.target.to_ascii_lowercase();
        let s = match tenant_after.as_deref() {
            _ if s.action != Action::Change => s,
            Some(t) if t == target => gate(
                s,
                Err(CliError::usage(format!(
                    "the file assigns '{target}' to the tenant and also disables it"
                ))
                .with_help("an assigned multi-workload policy can't be disabled: assign another one in [m365_assignment], or keep enabled = true")),
            ),
            // The tenant's assignment moves to another policy first.
            Some(_) => s,
            None => {
                let ch = dep::PolicyChanges {
                    enabled: Some(false),
                    ..Default::default()
                };
                let check = preflight_set(ctx, PolicyNoun::M365, &target, &ch);
                gate(s, check)
            }
        };
        steps.push(s);
    }
    for spec in &d.spo_policy {
        steps.extend(plan_geo_policy(ctx, spec)?);
    }
    // A step that needs a blocked one is blocked too: the apply would skip it.
    let blocked: Vec<String> = steps
        .iter()
        .filter(|s| s.action == Action::Blocked)
        .map(Step::provides)
        .collect();
    for s in &mut steps {
        if s.action.pending() && s.needs.as_ref().is_some_and(|n| blocked.contains(n)) {
            s.action = Action::Blocked;
            s.detail = format!(
                "{}: waits on {}, which is blocked",
                s.detail,
                s.needs.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(steps)
}

/// The versioned URI of the key a `[[spo_policy]]` names: as written when it has a version, else
/// the key's newest version. `None` when the key does not exist.
fn versioned_key(ctx: &mut Ctx, uri: &str) -> Result<Option<String>, CliError> {
    // A KMIP key has one version of its own: it is used as written (docs/kmip.md).
    if uri
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("kmip://"))
    {
        return Ok(Some(uri.trim_end_matches('/').to_string()));
    }
    let Some((vault, name)) = vault_and_key(uri) else {
        return Err(CliError::usage(format!("'{uri}' is not a key URI"))
            .with_help("give https://<vault>.vault.azure.net/keys/<key>[/<version>] or kmip://<host>:<port>/<unique identifier>"));
    };
    if key_base(uri) != uri.trim_end_matches('/').to_ascii_lowercase() {
        return Ok(Some(uri.trim_end_matches('/').to_string()));
    }
    match call(
        ctx,
        "Get-AzKeyVaultKey",
        &named(&[("VaultName", json!(vault)), ("Name", json!(name))]),
    ) {
        Ok(found) => Ok(found
            .first()
            .and_then(|v| prop(v, "Id").as_str())
            .map(str::to_string)),
        Err(e) if e.class == super::error::Class::Failed => Ok(None),
        Err(e) => Err(e),
    }
}

/// The steps that bring one geo's SharePoint policy to what the file describes: register it,
/// finish an interrupted registration, or roll the keys that differ (one roll at a time: each
/// Update finishes before the next starts).
fn plan_geo_policy(ctx: &mut Ctx, spec: &SpoSpec) -> Result<Vec<Step>, CliError> {
    let mut steps = Vec::new();
    let mut geo_args = Vec::new();
    if let Some(g) = &spec.geo {
        geo_args.push(("Geo", json!(g)));
    }
    let cur = call(ctx, "Get-SPODataEncryptionPolicy", &named(&geo_args))?;
    let cur = cur.first().cloned().unwrap_or(Value::Null);
    let geo = prop(&cur, "Geo").as_str().unwrap_or_default().to_string();
    let mut want = Vec::new();
    for (slot, uri) in [
        ("Primary", &spec.primary_key_id),
        ("Secondary", &spec.secondary_key_id),
    ] {
        match versioned_key(ctx, uri)? {
            Some(v) => want.push((slot, v)),
            None => steps.push(
                Step::new(
                    Action::Missing,
                    "Key",
                    uri,
                    "does not exist; create it with Add-AzKeyVaultKey",
                )
                .diff(Some("Exists"), json!(false), json!(true)),
            ),
        }
    }
    if want.len() < 2 {
        return Ok(steps);
    }
    let state = prop(&cur, "State").as_str().unwrap_or("Unregistered");
    let have = |slot: &str| {
        prop(&cur, &format!("{slot}KeyVaultUri"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = |slot: &str| {
        let v = have(slot);
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    let register = |action: Action, detail: String, keys: [&str; 2]| {
        let mut args = vec![
            ("PrimaryKeyVaultUri", json!(keys[0])),
            ("SecondaryKeyVaultUri", json!(keys[1])),
        ];
        args.extend(geo_args.iter().cloned());
        Step::new(action, "GeoPolicy", &geo, detail)
            .diff(
                None,
                json!({"State": state, "PrimaryKeyVaultUri": before("Primary"), "SecondaryKeyVaultUri": before("Secondary")}),
                json!({"State": "Registered", "PrimaryKeyVaultUri": keys[0], "SecondaryKeyVaultUri": keys[1]}),
            )
            .run("Register-SPODataEncryptionPolicy", args)
    };
    let mut check = || role(ctx, "Register-SPODataEncryptionPolicy");
    match state {
        "Unregistered" => steps.push(gate(
            register(
                Action::Create,
                "register with the primary and secondary keys".into(),
                [&want[0].1, &want[1].1],
            ),
            check(),
        )),
        // An interrupted registration finishes with the keys it started with.
        "Registering" => steps.push(gate(
            register(
                Action::Change,
                format!(
                    "finish the registration ({}% of sites done)",
                    prop(&cur, "PercentComplete")
                ),
                [&have("Primary"), &have("Secondary")],
            ),
            check(),
        )),
        _ => {
            let mut rolled = false;
            for (slot, uri) in &want {
                if have(slot).eq_ignore_ascii_case(uri) {
                    continue;
                }
                rolled = true;
                let mut args = vec![("KeyType", json!(slot)), ("KeyVaultUri", json!(uri))];
                args.extend(geo_args.iter().cloned());
                let property = if *slot == "Primary" {
                    "PrimaryKeyVaultUri"
                } else {
                    "SecondaryKeyVaultUri"
                };
                let mut step = Step::new(
                    Action::Refresh,
                    "GeoPolicy",
                    &geo,
                    format!("roll the {slot} key: {} -> {uri}", have(slot)),
                )
                .diff(Some(property), before(slot), json!(uri))
                .run("Update-SPODataEncryptionPolicy", args);
                // One roll at a time: the second waits for the first.
                if steps.iter().any(|s: &Step| s.action == Action::Refresh) {
                    step = step.needs(format!("GeoPolicy:{}", geo.to_ascii_lowercase()));
                }
                let check = role(ctx, "Update-SPODataEncryptionPolicy");
                steps.push(gate(step, check));
            }
            if !rolled {
                let detail = if state == "Rolling" {
                    format!(
                        "a roll of the {} key was interrupted; run Update-SPODataEncryptionPolicy again to finish it",
                        prop(&cur, "RollingKeyType").as_str().unwrap_or("?")
                    )
                } else {
                    "registered as described".to_string()
                };
                let action = if state == "Rolling" {
                    Action::Differs
                } else {
                    Action::NoChange
                };
                steps.push(Step::new(action, "GeoPolicy", &geo, detail));
            }
        }
    }
    Ok(steps)
}

/// The store's current state as a desired-state file: every DEP and multi-workload policy (not
/// purged) with its keys without versions (so a key roll shows as a `Refresh`, not as drift),
/// description and enabled state; the vaults and keys they use; every mailbox assignment, by
/// alias; the tenant's multi-workload assignment; and the SharePoint policy of each geo that has
/// one, with the key versions in use. Testing the file right after gives exit 0, or 4 where a
/// refresh is due.
pub fn export(ctx: &mut Ctx) -> Result<(Desired, String), CliError> {
    let mut d = Desired {
        vault: Vec::new(),
        dep: Vec::new(),
        assignment: Vec::new(),
        m365_policy: Vec::new(),
        m365_assignment: None,
        spo_policy: Vec::new(),
    };
    let live = |v: &Value| {
        !matches!(
            prop(v, "State").as_str(),
            Some("PendingDeletion" | "Purged" | "PendingPurge")
        )
    };
    let use_key = |d: &mut Desired, uri: &str| {
        if let Some((vault, key)) = vault_and_key(uri) {
            match d
                .vault
                .iter_mut()
                .find(|v| v.name.eq_ignore_ascii_case(&vault))
            {
                Some(v) if !v.keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) => v.keys.push(key),
                Some(_) => {}
                None => d.vault.push(VaultSpec {
                    name: vault,
                    keys: vec![key],
                }),
            }
        }
    };
    let spec = |v: &Value| DepSpec {
        name: prop(v, "Name").as_str().unwrap_or_default().to_string(),
        description: prop(v, "Description")
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        key_ids: prop(v, "AzureKeyIDs")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(unversioned)
                    .collect()
            })
            .unwrap_or_default(),
        enabled: prop(v, "Enabled").as_bool(),
    };
    for v in call(ctx, "Get-DataEncryptionPolicy", &[])?
        .iter()
        .filter(|v| live(v))
    {
        let s = spec(v);
        for k in &s.key_ids {
            use_key(&mut d, k);
        }
        d.dep.push(s);
    }
    let mailboxes = call(
        ctx,
        "Get-Mailbox",
        &named(&[("ResultSize", json!("Unlimited"))]),
    )?;
    for mb in &mailboxes {
        let dep = prop(mb, "DataEncryptionPolicy")
            .as_str()
            .unwrap_or_default();
        if dep.is_empty() || !d.dep.iter().any(|x| x.name.eq_ignore_ascii_case(dep)) {
            continue;
        }
        let alias = prop(mb, "Alias").as_str().unwrap_or_default().to_string();
        match d
            .assignment
            .iter_mut()
            .find(|a| a.dep.eq_ignore_ascii_case(dep))
        {
            Some(a) => a.mailboxes.push(alias),
            None => d.assignment.push(AssignSpec {
                dep: dep.to_string(),
                mailboxes: vec![alias],
                filter: None,
            }),
        }
    }
    for v in call(ctx, "Get-M365DataAtRestEncryptionPolicy", &[])?
        .iter()
        .filter(|v| live(v))
    {
        let s = spec(v);
        for k in &s.key_ids {
            use_key(&mut d, k);
        }
        d.m365_policy.push(s);
    }
    let tenant = call(ctx, "Get-M365DataAtRestEncryptionPolicyAssignment", &[])?;
    if let Some(name) = tenant.first().and_then(|v| prop(v, "Name").as_str()) {
        if d.m365_policy
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name))
        {
            d.m365_assignment = Some(M365AssignSpec {
                policy: name.to_string(),
            });
        }
    }
    // Every geo with a site, and the organization's DefaultGeo.
    let mut geos: Vec<String> = Vec::new();
    for site in call(ctx, "Get-PnPTenantSite", &[])? {
        if let Some(g) = prop(&site, "Geo").as_str() {
            if !geos.iter().any(|x| x.eq_ignore_ascii_case(g)) {
                geos.push(g.to_string());
            }
        }
    }
    let org = call(ctx, "Get-OrganizationConfig", &[])?;
    let org = org.first().cloned().unwrap_or(Value::Null);
    let default_geo = prop(&org, "DefaultGeo")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let org_name = prop(&org, "Name")
        .as_str()
        .unwrap_or("the organization")
        .to_string();
    if !geos.iter().any(|g| g.eq_ignore_ascii_case(&default_geo)) {
        geos.insert(0, default_geo.clone());
    }
    for geo in geos {
        let p = call(
            ctx,
            "Get-SPODataEncryptionPolicy",
            &named(&[("Geo", json!(geo))]),
        )?;
        let Some(p) = p.first() else { continue };
        let (Some(primary), Some(secondary)) = (
            prop(p, "PrimaryKeyVaultUri").as_str(),
            prop(p, "SecondaryKeyVaultUri").as_str(),
        ) else {
            continue;
        };
        for k in [primary, secondary] {
            use_key(&mut d, k);
        }
        d.spo_policy.push(SpoSpec {
            geo: (!geo.eq_ignore_ascii_case(&default_geo)).then(|| geo.clone()),
            primary_key_id: primary.to_string(),
            secondary_key_id: secondary.to_string(),
        });
    }
    Ok((d, org_name))
}

/// A key URI without its version, in its own spelling: `.../keys/k/v` -> `.../keys/k`.
fn unversioned(uri: &str) -> String {
    let t = uri.trim_end_matches('/');
    match t.find("/keys/") {
        Some(i) => {
            let name = t[i + 6..].split('/').next().unwrap_or_default();
            format!("{}{name}", &t[..i + 6])
        }
        None => t.to_string(),
    }
}

/// A desired-state file's text, with a header saying where it came from.
pub fn to_toml(d: &Desired, source: &str) -> Result<String, CliError> {
    let body = toml::to_string(d).map_err(|e| {
        CliError::new(
            super::error::Class::Internal,
            format!("cannot write TOML: {e}"),
        )
    })?;
    Ok(format!(
        "# The desired state of {source}, exported by Export-CustomerKeyConfiguration.\n\
         #   custkey Test-CustomerKeyConfiguration <this file>    # exit 0: the store matches\n\n{body}"
    ))
}

/// The format of a saved plan (`Test-CustomerKeyConfiguration -PlanFile`).
pub const PLAN_FORMAT: &str = "custkey-rollout-plan/1";

/// Saves a plan: the desired-state text it was computed from, and every step with the values it
/// compared, so that `Start-CustomerKeyRollout -PlanFile` applies exactly this plan or nothing.
pub fn save_plan(out: &str, path: &str, text: &str, steps: &[Step]) -> Result<(), CliError> {
    let plan = json!({
        "Format": PLAN_FORMAT,
        "Path": path,
        "Created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Desired": text,
        "Steps": steps.iter().map(|s| Value::Object(s.record(None, None))).collect::<Vec<_>>(),
        "Fingerprint": steps.iter().map(Step::fingerprint).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&plan)
        .map_err(|e| CliError::new(super::error::Class::Internal, e.to_string()))?;
    custkey::fsio::write_atomic(std::path::Path::new(out), &bytes).map_err(|e| {
        CliError::usage(format!("cannot write the plan '{out}': {e}"))
            .with_help("give -PlanFile a path in a folder that exists and that you may write to")
    })
}

/// A saved plan: the file it was made from, that file's text then, and the steps' fingerprints.
pub struct SavedPlan {
    pub path: String,
    pub text: String,
    fingerprint: Vec<Value>,
}

/// Reads a plan saved by `Test-CustomerKeyConfiguration -PlanFile`.
pub fn load_plan(file: &str) -> Result<SavedPlan, CliError> {
    // The plan holds the desired-state text and a record per step: a few times the file's limit.
    let limit = 8 * custkey::input::MAX_ROLLOUT_BYTES;
    let bad = |why: String| {
        CliError::usage(format!("'{file}' is not a saved rollout plan: {why}")).with_help(
            "make one with: custkey Test-CustomerKeyConfiguration -Path f.toml -PlanFile plan.json",
        )
    };
    let text = std::fs::File::open(file)
        .map_err(custkey::input::ReadError::Io)
        .and_then(|f| custkey::input::read_text_limited(f, limit))
        .map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if v.get("Format").and_then(Value::as_str) != Some(PLAN_FORMAT) {
        return Err(bad(format!("its Format is not {PLAN_FORMAT}")));
    }
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("it has no {name}")))
    };
    Ok(SavedPlan {
        path: field("Path")?,
        text: field("Desired")?,
        fingerprint: v
            .get("Fingerprint")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| bad("it has no Fingerprint".into()))?,
    })
}

/// Refuses a saved plan that the store has moved away from: the plan computed now must show
/// the same steps with the same values as the saved one (exit 6, nothing changed).
pub fn check_plan(saved: &SavedPlan, file: &str, now: &[Step]) -> Result<(), CliError> {
    let stale = |what: String| {
        CliError::new(
            super::error::Class::Stale,
            format!(
                "the store has changed since the plan {file} was made: {what}; nothing was changed"
            ),
        )
        .with_help(format!(
            "review a new plan: custkey Test-CustomerKeyConfiguration -Path {} -PlanFile {file}",
            saved.path
        ))
    };
    for (i, step) in now.iter().enumerate() {
        let fp = step.fingerprint();
        match saved.fingerprint.get(i) {
            Some(s) if *s == fp => {}
            Some(_) | None => {
                return Err(stale(format!(
                    "step {} is now {} {} {}",
                    i + 1,
                    step.action.name(),
                    step.kind,
                    step.target
                )))
            }
        }
    }
    if saved.fingerprint.len() > now.len() {
        return Err(stale(format!(
            "the plan had {} steps, the store now gives {}",
            saved.fingerprint.len(),
            now.len()
        )));
    }
    Ok(())
}

/// One step as apply left it.
pub struct Applied {
    pub step: Step,
    /// `Done`, `WhatIf`, `Unchanged`, `NotTouched` (Missing, Differs), `Blocked` (the plan
    /// showed it refused), `Failed` (its cmdlet failed: see `error`) or `Skipped` (it needs a step
    /// that failed, or a system error stopped the apply).
    pub result: &'static str,
    pub error: Option<CliError>,
}

impl Applied {
    pub fn record(&self) -> Record {
        let msg = self.error.as_ref().map(|e| e.message.as_str());
        self.step.record(Some(self.result), msg)
    }
}

/// Carries out the pending steps in order, each with its own cmdlet (one store transaction a
/// step), and reports every step. A step that fails does not stop the others: the steps that
/// need it (an assignment to a DEP whose creation failed, the second key roll of a geo) are
/// skipped, the rest go ahead, as the plan described. A system error (the store or a vault
/// unreachable) stops the apply there; the steps after it are skipped.
///
/// On a terminal a progress bar counts the pending steps; Ctrl-C stops the apply before its next
/// step (the steps after it are `Skipped`, the exit code 130).
pub fn apply(ctx: &mut Ctx, steps: Vec<Step>) -> Vec<Applied> {
    use custkey::service::Progress;
    let mut out: Vec<Applied> = Vec::with_capacity(steps.len());
    let mut failed: Vec<String> = Vec::new();
    let mut stopped = false;
    let pending = steps
        .iter()
        .filter(|s| s.action.pending() && s.command.is_some())
        .count();
    let bar = super::progress::Bar::new(ctx, "Applying the rollout");
    bar.start("steps", Some(pending as u64));
    let mut done = 0u64;
    let mut steps = steps.into_iter().peekable();
    while let Some(s) = steps.next() {
        if let Some(cmdlet) = batchable(&s, stopped, &failed).filter(|_| !bar.cancelled()) {
            // A run of steps of one cmdlet with a batch form (a plan's mailbox assignments), with
            // the steps that run nothing (already assigned) that sit among them: one call, so
            // Ctrl-C takes effect after it.
            let mut run = vec![s];
            while let Some(next) = steps.peek() {
                let joins = match batchable(next, stopped, &failed) {
                    Some(c) => std::ptr::eq(c, cmdlet),
                    None => passive(next).is_some(),
                };
                if !joins {
                    break;
                }
                run.extend(steps.next());
            }
            done += run.iter().filter(|s| passive(s).is_none()).count() as u64;
            apply_run(ctx, cmdlet, run, &mut out, &mut failed, &mut stopped);
            bar.advance(done);
            continue;
        }
        if s.action.pending() && s.command.is_some() && !stopped && bar.cancelled() {
            stopped = true;
            out.push(Applied {
                step: s,
                result: "Skipped",
                error: Some(CliError::new(
                    super::error::Class::Interrupted,
                    "the rollout was interrupted before this step; run it again to carry out the rest",
                )),
            });
            continue;
        }
        let (result, error) = match (&s.command, s.action) {
            _ if s.action == Action::Blocked => ("Blocked", None),
            (Some(_), a) if a.pending() && stopped => ("Skipped", None),
            (Some(_), a) if a.pending() && s.needs.as_ref().is_some_and(|n| failed.contains(n)) => {
                failed.push(s.provides());
                ("Skipped", None)
            }
            (Some((cmdlet, args)), a) if a.pending() => match call(ctx, cmdlet, args) {
                Ok(_) if ctx.what_if => ("WhatIf", None),
                Ok(_) => ("Done", None),
                Err(e) => {
                    failed.push(s.provides());
                    stopped = e.class != super::error::Class::Failed;
                    ("Failed", Some(e))
                }
            },
            _ if s.action == Action::NoChange => ("Unchanged", None),
            _ => ("NotTouched", None),
        };
        if s.action.pending() && s.command.is_some() {
            done += 1;
            bar.advance(done);
        }
        out.push(Applied {
            step: s,
            result,
            error,
        });
    }
    out
}

/// The cmdlet of a step that runs now and has a batch form ([`Ctx::call_batch`]).
fn batchable(s: &Step, stopped: bool, failed: &[String]) -> Option<&'static Cmdlet> {
    let (name, _) = s.command.as_ref()?;
    if !s.action.pending() || stopped || s.needs.as_ref().is_some_and(|n| failed.contains(n)) {
        return None;
    }
    find_cmdlet(name).filter(|c| super::cmdlets::batch(c).is_some())
}

/// The result of a step that runs nothing.
fn passive(s: &Step) -> Option<&'static str> {
    match s.action {
        Action::Blocked => Some("Blocked"),
        a if a.pending() => None,
        Action::NoChange => Some("Unchanged"),
        _ => Some("NotTouched"),
    }
}

/// Carries out a run of [`batchable`] steps (and passive ones among them) in as few calls as
/// the failures allow: each call takes the steps up to the first that fails; that one is
/// `Failed` and the next call starts after it, or, after a system error, the rest are
/// `Skipped`. The results are those of running the steps one by one.
fn apply_run(
    ctx: &mut Ctx,
    cmdlet: &'static Cmdlet,
    run: Vec<Step>,
    out: &mut Vec<Applied>,
    failed: &mut Vec<String>,
    stopped: &mut bool,
) {
    let mut pending = std::collections::VecDeque::from(run);
    while !pending.is_empty() {
        if *stopped {
            for s in pending.drain(..) {
                let result = passive(&s).unwrap_or("Skipped");
                out.push(Applied {
                    step: s,
                    result,
                    error: None,
                });
            }
            return;
        }
        // Bound up to the first step that does not bind.
        let mut all = Vec::new();
        let mut bind_err = None;
        for s in pending.iter().filter(|s| passive(s).is_none()) {
            let named = s.command.as_ref().map(|(_, a)| a.as_slice()).unwrap_or(&[]);
            match bind_values(cmdlet, named, &[], None) {
                Ok(a) => all.push(a),
                Err(e) => {
                    bind_err = Some(e);
                    break;
                }
            }
        }
        let b = if all.is_empty() {
            super::cmdlets::Batched::default()
        } else {
            ctx.call_batch(cmdlet, &all)
        };
        let mut done = b.outputs.len();
        let error = match b.failed {
            Some(e) => Some(e),
            None => bind_err,
        };
        let result = if ctx.what_if { "WhatIf" } else { "Done" };
        while let Some(s) = pending.pop_front() {
            if let Some(r) = passive(&s) {
                out.push(Applied {
                    step: s,
                    result: r,
                    error: None,
                });
                continue;
            }
            if done > 0 {
                done -= 1;
                out.push(Applied {
                    step: s,
                    result,
                    error: None,
                });
                continue;
            }
            // The step the call stopped at (a batch that stops says why).
            let e = error.unwrap_or_else(|| {
                CliError::new(
                    super::error::Class::Internal,
                    format!("{} stopped without an error", cmdlet.name),
                )
            });
            failed.push(s.provides());
            *stopped = e.class != super::error::Class::Failed;
            out.push(Applied {
                step: s,
                result: "Failed",
                error: Some(e),
            });
            break;
        }
    }
}

/// The first failure of an apply, which decides its exit code.
pub fn first_failure(done: &[Applied]) -> Option<&CliError> {
    done.iter().find_map(|d| d.error.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_uris_match_without_a_version() {
        let v = "https://va1.vault.azure.net/keys/Key001/0123abcd";
        assert!(same(v, "https://va1.vault.azure.net/keys/Key001"));
        assert!(same(v, "https://VA1.vault.azure.net/keys/key001/"));
        assert!(same(v, v));
        assert!(!same(v, "https://va1.vault.azure.net/keys/Key001/ffff"));
        assert!(!same(v, "https://va1.vault.azure.net/keys/Key002"));
        assert_eq!(vault_and_key(v), Some(("va1".into(), "Key001".into())));
        assert_eq!(
            vault_and_key("https://va1.vault.azure.net/keys/K"),
            Some(("va1".into(), "K".into()))
        );
        assert_eq!(vault_and_key("http://x/keys/k"), None);
        assert_eq!(vault_and_key("https://va1.vault.azure.net/secrets/k"), None);
    }

    #[test]
    fn files_are_checked_before_anything_runs() {
        let dir = std::env::temp_dir().join(format!("custkey-rollout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.toml");
        std::fs::write(&p, "[[dep]]\nname = 'US'\nkey_ids = ['a', 'b']\n\n[[assignment]]\ndep = 'EU'\nmailboxes = ['x']\n").unwrap();
        let e = load(p.to_str().unwrap()).unwrap_err();
        assert!(e.message.contains("no [[dep]] describes"), "{}", e.message);
        std::fs::write(&p, "[[dep]]\nname = 'US'\nkeys = ['a']\n").unwrap();
        let e = load(p.to_str().unwrap()).unwrap_err();
        assert!(e.message.contains("unknown field"), "{}", e.message);
        std::fs::write(&p, "[[dep]]\nname = 'US'\nkey_ids = ['a', 'b']\nenabled = false\n[[assignment]]\ndep = 'us'\nfilter = \"Name -like 'a*'\"\n").unwrap();
        let d = load(p.to_str().unwrap()).unwrap();
        assert_eq!(d.dep[0].enabled, Some(false));
        assert_eq!(d.assignment[0].filter.as_deref(), Some("Name -like 'a*'"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
