//! Desired-state rollout: a TOML file says which vaults and keys must exist, which DEPs
//! (name, description, key ids, enabled) and which mailboxes are assigned to them (by
//! identity or by -Filter), which multi-workload policies exist and which one the tenant has, and
//! each geo's SharePoint policy with its primary and secondary keys. `plan` compares it with the store and lists what would be
//! created, changed or assigned, and what differs but is never touched; `apply` carries
//! the plan out through the same cmdlets an operator would type. Nothing is ever deleted
//! or unassigned.

use serde::Deserialize;
use serde_json::{json, Value};

use super::args::{bind_values, Args};
use super::error::CliError;
use super::output::Record;
use super::{find_cmdlet, Ctx};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desired {
    #[serde(default)]
    pub vault: Vec<VaultSpec>,
    #[serde(default)]
    pub dep: Vec<DepSpec>,
    #[serde(default)]
    pub assignment: Vec<AssignSpec>,
    /// Multi-workload DEPs (`*-M365DataAtRestEncryptionPolicy`).
    #[serde(default)]
    pub m365_policy: Vec<DepSpec>,
    /// The tenant's multi-workload assignment.
    #[serde(default)]
    pub m365_assignment: Option<M365AssignSpec>,
    /// SharePoint geo policies, one per geo.
    #[serde(default)]
    pub spo_policy: Vec<SpoSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoSpec {
    /// The geo; the organization's DefaultGeo when absent.
    #[serde(default)]
    pub geo: Option<String>,
    /// A key URI with its version, or without one for the key's newest version.
    pub primary_key_id: String,
    pub secondary_key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct M365AssignSpec {
    pub policy: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSpec {
    pub name: String,
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub key_ids: Vec<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignSpec {
    pub dep: String,
    #[serde(default)]
    pub mailboxes: Vec<String>,
    #[serde(default)]
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
        }
    }
    pub fn pending(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Change | Action::Refresh | Action::Assign
        )
    }
}

/// The steps rollout cannot make true (Missing, Differs): drift, whatever else is pending.
pub fn drift(steps: &[Step]) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| matches!(s.action, Action::Differs | Action::Missing))
        .collect()
}

/// Parameters for a cmdlet call: (name, value).
pub type Named = Vec<(String, Option<Value>)>;

/// One step: what, on which object, and the cmdlet that carries it out.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub kind: &'static str,
    pub target: String,
    pub detail: String,
    pub command: Option<(&'static str, Named)>,
}

impl Step {
    fn new(action: Action, kind: &'static str, target: &str, detail: impl Into<String>) -> Step {
        Step {
            action,
            kind,
            target: target.to_string(),
            detail: detail.into(),
            command: None,
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
    /// Whether the step disables a policy.
    fn disables(&self) -> bool {
        self.command.as_ref().is_some_and(|(_, args)| {
            args.iter()
                .any(|(n, v)| n == "Enabled" && v.as_ref() == Some(&json!(false)))
        })
    }
    /// The step as an output record; `result` is set by apply.
    pub fn record(&self, result: Option<&str>) -> Record {
        let mut m = Record::new();
        m.insert("Action".into(), json!(self.action.name()));
        m.insert("Kind".into(), json!(self.kind));
        m.insert("Target".into(), json!(self.target));
        m.insert("Detail".into(), json!(self.detail));
        if let Some(r) = result {
            m.insert("Result".into(), json!(r));
        }
        m
    }
}

/// Reads and checks a desired-state file.
pub fn load(path: &str) -> Result<Desired, CliError> {
    // Bounded: a rollout file is at most MAX_ROLLOUT_BYTES (docs/cli.md, "Input limits").
    let limit = custkey::input::MAX_ROLLOUT_BYTES;
    let text = std::fs::File::open(path)
        .map_err(custkey::input::ReadError::Io)
        .and_then(|f| custkey::input::read_text_limited(f, limit))
        .map_err(|e| {
            CliError::usage(format!("cannot read the configuration '{path}': {e}")).with_help(
                format!(
                    "give the path of a TOML file such as examples/rollout.toml (at most {})",
                    custkey::input::size(limit)
                ),
            )
        })?;
    let d: Desired = toml::from_str(&text).map_err(|e| {
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
            steps.push(
                Step::new(
                    Action::Create,
                    noun.kind(),
                    &spec.name,
                    format!("new, over {} keys", spec.key_ids.len()),
                )
                .run(noun.cmdlet("New"), args),
            );
            continue;
        };
        let mut changed = false;
        let want_desc = spec.description.clone().unwrap_or_default();
        let have_desc = prop(cur, "Description").as_str().unwrap_or_default();
        if spec.description.is_some() && have_desc != want_desc {
            changed = true;
            steps.push(
                Step::new(
                    Action::Change,
                    noun.kind(),
                    &spec.name,
                    format!("Description: '{have_desc}' -> '{want_desc}'"),
                )
                .run(
                    noun.cmdlet("Set"),
                    vec![
                        ("Identity", json!(spec.name)),
                        ("Description", json!(want_desc)),
                    ],
                ),
            );
        }
        let have_en = prop(cur, "Enabled").as_bool().unwrap_or(true);
        if let Some(want) = spec.enabled.filter(|w| *w != have_en) {
            changed = true;
            steps.push(
                Step::new(
                    Action::Change,
                    noun.kind(),
                    &spec.name,
                    format!("Enabled: {have_en} -> {want}"),
                )
                .run(
                    noun.cmdlet("Set"),
                    vec![("Identity", json!(spec.name)), ("Enabled", json!(want))],
                ),
            );
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
            steps.push(Step::new(
                Action::Differs,
                noun.kind(),
                &spec.name,
                format!(
                    "AzureKeyIDs are {} in the store; a policy's keys cannot change (make a new policy and move what it protects)",
                    have_keys.join(", ")
                ),
            ));
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
            if let Some(newest) = newest.filter(|n| !versions.contains(n)) {
                stale.push(format!("{vault}/{name} is at version {newest}"));
            }
        }
        if !stale.is_empty() {
            changed = true;
            steps.push(
                Step::new(Action::Refresh, noun.kind(), &spec.name, stale.join("; ")).run(
                    noun.cmdlet("Set"),
                    vec![("Identity", json!(spec.name)), ("Refresh", json!(true))],
                ),
            );
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
            Ok(_) => steps.push(Step::new(Action::NoChange, "Vault", &v.name, "exists")),
            Err(e) if e.class == super::error::Class::Failed => {
                steps.push(Step::new(
                    Action::Missing,
                    "Vault",
                    &v.name,
                    "does not exist; create it with New-AzKeyVault",
                ));
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
                Ok(_) => steps.push(Step::new(Action::NoChange, "Key", &target, "exists")),
                Err(e) if e.class == super::error::Class::Failed => steps.push(Step::new(
                    Action::Missing,
                    "Key",
                    &target,
                    "does not exist; create it with Add-AzKeyVaultKey",
                )),
                Err(e) => return Err(e),
            }
        }
    }
    // DEPs.
    steps.extend(plan_policies(ctx, &d.dep, PolicyNoun::Mailbox)?);
    // Assignments.
    for a in &d.assignment {
        let mut boxes: Vec<Value> = Vec::new();
        for id in &a.mailboxes {
            match call(ctx, "Get-Mailbox", &named(&[("Identity", json!(id))])) {
                Ok(found) => boxes.extend(found),
                Err(e) if e.class == super::error::Class::Failed => steps.push(Step::new(
                    Action::Missing,
                    "Mailbox",
                    id,
                    "does not exist; create it with New-Mailbox",
                )),
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
        let mut seen: Vec<String> = Vec::new();
        for mb in boxes {
            let ident = prop(&mb, "Identity")
                .as_str()
                .unwrap_or_default()
                .to_string();
            let guid = prop(&mb, "Guid").as_str().unwrap_or_default().to_string();
            if seen.contains(&guid) {
                continue;
            }
            seen.push(guid.clone());
            let name = prop(&mb, "Alias").as_str().unwrap_or(&ident).to_string();
            let have = prop(&mb, "DataEncryptionPolicy")
                .as_str()
                .unwrap_or_default()
                .to_string();
            if have.eq_ignore_ascii_case(&a.dep) {
                steps.push(Step::new(
                    Action::NoChange,
                    "Mailbox",
                    &name,
                    format!("assigned to {}", a.dep),
                ));
            } else {
                let from = if have.is_empty() {
                    "Microsoft-managed keys".to_string()
                } else {
                    have
                };
                steps.push(
                    Step::new(
                        Action::Assign,
                        "Mailbox",
                        &name,
                        format!("{from} -> {}", a.dep),
                    )
                    .run(
                        "Set-Mailbox",
                        vec![
                            ("Identity", json!(guid)),
                            ("DataEncryptionPolicy", json!(a.dep)),
                        ],
                    ),
                );
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
            Some(c) if c.eq_ignore_ascii_case(&a.policy) => steps.push(Step::new(
                Action::NoChange,
                "Tenant",
                "M365DataAtRestEncryptionPolicyAssignment",
                format!("assigned to {c}"),
            )),
            other => steps.push(
                Step::new(
                    Action::Assign,
                    "Tenant",
                    "M365DataAtRestEncryptionPolicyAssignment",
                    format!(
                        "{} -> {}",
                        other.unwrap_or_else(|| "Microsoft-managed keys".into()),
                        a.policy
                    ),
                )
                .run(
                    "Set-M365DataAtRestEncryptionPolicyAssignment",
                    vec![("DataEncryptionPolicy", json!(a.policy))],
                ),
            ),
        }
    }
    steps.extend(disabling);
    for spec in &d.spo_policy {
        steps.extend(plan_geo_policy(ctx, spec)?);
    }
    Ok(steps)
}

/// The versioned URI of the key a `[[spo_policy]]` names: as written when it has a version, else
/// the key's newest version. `None` when the key does not exist.
fn versioned_key(ctx: &mut Ctx, uri: &str) -> Result<Option<String>, CliError> {
    let Some((vault, name)) = vault_and_key(uri) else {
        return Err(CliError::usage(format!("'{uri}' is not a key URI"))
            .with_help("give https://<vault>.vault.azure.net/keys/<key>[/<version>]"));
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
            None => steps.push(Step::new(
                Action::Missing,
                "Key",
                uri,
                "does not exist; create it with Add-AzKeyVaultKey",
            )),
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
    let register = |action: Action, detail: String, keys: [&str; 2]| {
        let mut args = vec![
            ("PrimaryKeyVaultUri", json!(keys[0])),
            ("SecondaryKeyVaultUri", json!(keys[1])),
        ];
        args.extend(geo_args.iter().cloned());
        Step::new(action, "GeoPolicy", &geo, detail).run("Register-SPODataEncryptionPolicy", args)
    };
    match state {
        "Unregistered" => steps.push(register(
            Action::Create,
            "register with the primary and secondary keys".into(),
            [&want[0].1, &want[1].1],
        )),
        // An interrupted registration finishes with the keys it started with.
        "Registering" => steps.push(register(
            Action::Change,
            format!(
                "finish the registration ({}% of sites done)",
                prop(&cur, "PercentComplete")
            ),
            [&have("Primary"), &have("Secondary")],
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
                steps.push(
                    Step::new(
                        Action::Refresh,
                        "GeoPolicy",
                        &geo,
                        format!("roll the {slot} key: {} -> {uri}", have(slot)),
                    )
                    .run("Update-SPODataEncryptionPolicy", args),
                );
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

/// Carries out the pending steps in order; returns each step with its result. A run of
/// pending steps of one cmdlet that has a batch form (the mailbox assignments of a filter) is
/// carried out in one call ([`Ctx::call_batch`]: one transaction, one RSA unwrap per DEP); a
/// failure stops the apply after the steps before it, as it would one by one.
pub fn apply(ctx: &mut Ctx, steps: Vec<Step>) -> Result<Vec<(Step, &'static str)>, CliError> {
    let mut out = Vec::with_capacity(steps.len());
    let mut steps = steps.into_iter().peekable();
    while let Some(s) = steps.next() {
        let batched = match (&s.command, s.action.pending()) {
            (Some((name, _)), true) => find_cmdlet(name)
                .filter(|c| super::cmdlets::batch(c).is_some())
                .map(|c| (c, *name)),
            _ => None,
        };
        if let Some((cmdlet, name)) = batched {
            // Steps with nothing to run (mailboxes already assigned) may sit among them.
            let mut run = vec![s];
            while let Some(next) = steps.peek() {
                match &next.command {
                    Some((n, _)) if *n == name && next.action.pending() => {}
                    _ if !next.action.pending() => {}
                    _ => break,
                }
                run.extend(steps.next());
            }
            let mut all = Vec::with_capacity(run.len());
            let mut bad = None;
            for st in run.iter().filter(|st| st.action.pending()) {
                let named = st
                    .command
                    .as_ref()
                    .map(|(_, a)| a.as_slice())
                    .unwrap_or(&[]);
                match bind_values(cmdlet, named, &[], None) {
                    Ok(a) => all.push(a),
                    Err(e) => {
                        bad = Some(e);
                        break;
                    }
                }
            }
            let b = ctx.call_batch(cmdlet, &all);
            let result = if ctx.what_if { "WhatIf" } else { "Done" };
            let done = b.outputs.len();
            if let Some(e) = b.failed.or(bad) {
                return Err(e);
            }
            debug_assert_eq!(done, all.len());
            out.extend(run.into_iter().map(|st| {
                let r = match st.action {
                    _ if st.action.pending() => result,
                    Action::NoChange => "Unchanged",
                    _ => "NotTouched",
                };
                (st, r)
            }));
            continue;
        }
        let result = match (&s.command, s.action.pending()) {
            (Some((cmdlet, args)), true) => {
                call(ctx, cmdlet, args)?;
                if ctx.what_if {
                    "WhatIf"
                } else {
                    "Done"
                }
            }
            _ if s.action == Action::NoChange => "Unchanged",
            _ => "NotTouched",
        };
        out.push((s, result));
    }
    Ok(out)
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
