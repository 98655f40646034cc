//! The PowerShell parameter grammar: binds the words after a cmdlet name to its
//! parameters (case-insensitive names, unique prefixes, `-Name:value`, `--kebab-case`,
//! positionals, switches, `$true`/`$false`/`$null`, comma lists).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::def::{kebab, norm, Cmdlet, Kind, Param};
use super::error::{suggestions, CliError};

/// A bound value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Str(String),
    List(Vec<String>),
    Int(i64),
    Bool(bool),
    Date(DateTime<Utc>),
    /// `$null`: clear the property.
    Null,
    /// A [`Kind::Object`] parameter's value, as the script gave it.
    Json(serde_json::Value),
    /// A [`Kind::SecureString`] parameter's text, zeroized when dropped.
    Secret(Secret),
}

/// A password's text: zeroized on drop, `REDACTED` in debug output. On the wire (a request to
/// the service, signed and over TLS) it is the text.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

/// Whether `v` is what binding a value to a parameter of `kind` makes.
fn wire_kind_ok(kind: Kind, v: &Value) -> bool {
    let member = |set: &[&str], s: &str| set.iter().any(|m| m.eq_ignore_ascii_case(s));
    match (kind, v) {
        (_, Value::Null) => true,
        (Kind::String | Kind::Path, Value::Str(_)) => true,
        (Kind::StringList, Value::List(_)) => true,
        (Kind::Int { min, max }, Value::Int(i)) => (min..=max).contains(i),
        (Kind::Bool | Kind::Switch, Value::Bool(_)) => true,
        (Kind::Enum(set), Value::Str(s)) => member(set, s),
        (Kind::EnumList(set), Value::List(l)) => l.iter().all(|s| member(set, s)),
        (Kind::Date, Value::Date(_)) => true,
        (Kind::Object, Value::Json(_)) => true,
        (Kind::SecureString, Value::Secret(_)) => true,
        _ => false,
    }
}

/// The parameters bound for one invocation, keyed by canonical parameter name.
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: BTreeMap<&'static str, Value>,
}

impl Args {
    /// The bound values as JSON, for a request to the service (src/cli/serve/wire.rs).
    pub fn to_wire(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                let j = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
                ((*k).to_string(), j)
            })
            .collect()
    }

    /// The values of a request to the service: each name must be one of `cmdlet`'s
    /// parameters and each value of that parameter's kind, and the required ones present.
    pub fn from_wire(
        cmdlet: &Cmdlet,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Args, CliError> {
        let mut args = Args::default();
        for (name, j) in map {
            let Some(param) = cmdlet.all_params().find(|p| p.name == name.as_str()) else {
                return Err(
                    CliError::usage(format!("{} has no parameter '{name}'", cmdlet.name))
                        .with_help(format!("see 'custkey Get-Help {} -Full'", cmdlet.name)),
                );
            };
            let v: Value = serde_json::from_value(j.clone()).map_err(|e| {
                CliError::usage(format!("the value of -{} is not a bound value ({e})", param.name))
                    .with_help("send {\"Str\": \"...\"}, {\"List\": [...]}, {\"Int\": n}, {\"Bool\": b}, {\"Date\": \"RFC 3339\"}, {\"Json\": any value} or \"Null\"")
            })?;
            if !wire_kind_ok(param.kind, &v) {
                return Err(CliError::usage(format!(
                    "the value of -{} is not a {}",
                    param.name,
                    param.kind.type_name()
                ))
                .with_help(format!("see 'custkey Get-Help {} -Full'", cmdlet.name)));
            }
            args.values.insert(param.name, v);
        }
        check_required(cmdlet, &args)?;
        Ok(args)
    }

    /// The bound parameters that name files on the caller's machine (`Param::files`), with
    /// the paths each names (one, or each of a list's), in order.
    pub fn file_params(&self, cmdlet: &Cmdlet) -> Vec<(&'static Param, Vec<String>)> {
        cmdlet
            .all_params()
            .filter(|p| p.files != crate::cli::def::Files::None)
            .filter_map(|p| match self.values.get(p.name) {
                Some(Value::Str(s)) => Some((p, vec![s.clone()])),
                Some(Value::List(v)) => Some((p, v.clone())),
                // Paths inside another value (a hashtable's): none a client could send.
                Some(Value::Null) | None => None,
                Some(_) => Some((p, Vec::new())),
            })
            .collect()
    }

    /// Binds `name` (a parameter of the cmdlet these were bound for) to the string `v`.
    pub fn set_str(&mut self, name: &'static str, v: String) {
        self.values.insert(name, Value::Str(v));
    }

    /// Binds `name` (a list parameter of the cmdlet these were bound for) to `v`.
    pub fn set_list(&mut self, name: &'static str, v: Vec<String>) {
        self.values.insert(name, Value::List(v));
    }

    /// Whether any of `names` was given.
    pub fn has_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.values.contains_key(n))
    }
    #[cfg(test)]
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    /// A string value; `$null` reads as `None`.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Null))
    }
    pub fn list(&self, name: &str) -> Option<&[String]> {
        match self.values.get(name) {
            Some(Value::List(v)) => Some(v),
            _ => None,
        }
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// A `[bool]` parameter's value, if given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.values.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    /// A switch: true when given (and not turned off with `:$false`).
    pub fn switch(&self, name: &str) -> bool {
        self.bool(name).unwrap_or(false)
    }
    /// A [`Kind::Object`] value; `$null` reads as `None`.
    pub fn object(&self, name: &str) -> Option<&serde_json::Value> {
        match self.values.get(name) {
            Some(Value::Json(v)) => Some(v),
            _ => None,
        }
    }
    /// A [`Kind::SecureString`] value's text.
    pub fn secret(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Secret(s)) => Some(s.expose()),
            _ => None,
        }
    }
    pub fn date(&self, name: &str) -> Option<DateTime<Utc>> {
        match self.values.get(name) {
            Some(Value::Date(d)) => Some(*d),
            _ => None,
        }
    }
}

/// A typed value for [`bind_values`]: what a script passes (strings, numbers, booleans,
/// arrays, objects from a pipeline), before conversion to the parameter's kind.
pub type Typed = serde_json::Value;

/// How a typed value reads as text: strings as they are, booleans as `True`/`False`.
fn typed_text(v: &Typed) -> String {
    match v {
        Typed::String(s) => s.clone(),
        other => super::output::display(other),
    }
}

/// Converts one typed value to `param`'s kind with the same checks as the command line.
pub fn convert_typed(param: &Param, v: &Typed) -> Result<Value, CliError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match (param.kind, v) {
        (Kind::Object, v) => Ok(Value::Json(v.clone())),
        (Kind::SecureString, v) => {
            let one = match v {
                Typed::Array(items) if items.len() == 1 => &items[0],
                other => other,
            };
            if !crate::cli::cmdlets::secure_string::is_secure_string(one) {
                return Err(secure_string_needed(param));
            }
            let text = crate::cli::cmdlets::secure_string::open(one).ok_or_else(|| {
                CliError::usage(format!(
                    "the SecureString given to -{} was not made in this process",
                    param.name
                ))
                .with_help("make it here: (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force)")
            })?;
            Ok(Value::Secret(Secret(text.to_string())))
        }
        (Kind::Switch | Kind::Bool, Typed::Bool(b)) => Ok(Value::Bool(*b)),
        (Kind::Switch | Kind::Bool, Typed::Number(n)) => {
            Ok(Value::Bool(n.as_f64().is_some_and(|f| f != 0.0)))
        }
        (Kind::StringList, Typed::Array(items)) => Ok(Value::List(
            items
                .iter()
                .filter(|i| !i.is_null())
                .map(typed_text)
                .collect(),
        )),
        (Kind::StringList, other) => Ok(Value::List(vec![typed_text(other)])),
        (Kind::EnumList(allowed), Typed::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(enum_value(param, allowed, &typed_text(item))?);
            }
            Ok(Value::List(out))
        }
        (Kind::EnumList(allowed), other) => Ok(Value::List(vec![enum_value(
            param,
            allowed,
            &typed_text(other),
        )?])),
        (_, Typed::Array(items)) if items.len() == 1 => convert_typed(param, &items[0]),
        // An object that reads as one of its properties (an Az context's Tenant, Account,
        // Subscription) binds as that property, as PowerShell binds its ToString().
        (_, Typed::Object(m)) if super::output::string_form(m).is_some() => {
            match super::output::string_form(m) {
                Some(inner) => convert_typed(param, inner),
                None => Ok(Value::Null),
            }
        }
        (_, Typed::Array(_)) | (_, Typed::Object(_)) => Err(CliError::usage(format!(
            "Cannot convert {} to the type {} that parameter '{}' takes.",
            if v.is_array() {
                "an array"
            } else {
                "an object"
            },
            param.kind.type_name(),
            param.name
        ))
        .with_help("pass one value, or a property of the object: $x.Name")),
        (Kind::String | Kind::Path, Typed::String(s)) => {
            if s.is_empty() && param.required {
                return Err(CliError::usage(format!(
                    "Cannot validate argument on parameter '{}'. The argument is null or empty.",
                    param.name
                ))
                .with_help(format!("give -{} a non-empty value", param.name)));
            }
            Ok(Value::Str(s.clone()))
        }
        (Kind::Switch, other) => Ok(Value::Bool(parse_bool(param, &typed_text(other))?)),
        (_, other) => convert(param, &typed_text(other)),
    }
}

/// Binds already-typed values (from a script) to `cmdlet`'s parameters: `named` pairs a
/// (possibly shortened) parameter name with its value (`None`: a switch given bare);
/// `positionals` fill the positional slots in order; then `piped`, an object from the
/// pipeline, fills what is still unbound by property name (see [`bind_piped`]).
pub fn bind_values(
    cmdlet: &Cmdlet,
    named: &[(String, Option<Typed>)],
    positionals: &[Typed],
    piped: Option<&Typed>,
) -> Result<Args, CliError> {
    let mut args = Args::default();
    for (given, value) in named {
        let param = resolve_param(cmdlet, given)?;
        if args.values.contains_key(param.name) {
            return Err(CliError::usage(format!(
                "Cannot bind parameter because parameter '{}' is specified more than once.",
                param.name
            ))
            .with_help(format!("give -{} once; lists take commas: a,b", param.name)));
        }
        let v = match (param.kind, value) {
            (Kind::Switch, None) => Value::Bool(true),
            (_, None) => return Err(missing_value(param, false)),
            (_, Some(v)) => convert_typed(param, v)?,
        };
        args.values.insert(param.name, v);
    }
    let mut slots: Vec<&'static Param> = cmdlet
        .params
        .iter()
        .filter(|p| p.position.is_some() && !args.values.contains_key(p.name))
        .collect();
    slots.sort_by_key(|p| p.position);
    let mut slots = slots.into_iter();
    let mut positionals = positionals.iter();
    while let Some(v) = positionals.next() {
        let Some(param) = slots.next() else {
            return Err(CliError::usage(format!(
                "A positional parameter cannot be found that accepts argument '{}'.",
                typed_text(v)
            ))
            .with_help(format!(
                "name the parameter this value is for; see 'custkey Get-Help {} -Full'",
                cmdlet.name
            )));
        };
        if param.remaining {
            // This value and every one after it, each as one element of the list.
            let mut all = Vec::new();
            for x in std::iter::once(v).chain(positionals.by_ref()) {
                match x {
                    Typed::Array(a) => all.extend(a.iter().cloned()),
                    other => all.push(other.clone()),
                }
            }
            args.values
                .insert(param.name, convert_typed(param, &Typed::Array(all))?);
            break;
        }
        args.values.insert(param.name, convert_typed(param, v)?);
    }
    if let Some(obj) = piped {
        bind_piped(cmdlet, &mut args, obj)?;
    }
    check_required(cmdlet, &args)?;
    Ok(args)
}

/// Pipeline binding by property name, as PowerShell's ValueFromPipelineByPropertyName:
/// an object's property binds to a still-unbound parameter of the same name (or alias)
/// when that parameter is `Identity`, positional or mandatory; an object with no such
/// property binds its `Identity` (else `Name`) to `Identity`, else to the first positional
/// parameter. A plain value (a string) binds to the first unbound positional parameter.
pub fn bind_piped(cmdlet: &Cmdlet, args: &mut Args, obj: &Typed) -> Result<(), CliError> {
    let Typed::Object(map) = obj else {
        let mut slots: Vec<&'static Param> = cmdlet
            .params
            .iter()
            .filter(|p| p.position.is_some() && !args.values.contains_key(p.name))
            .collect();
        slots.sort_by_key(|p| p.position);
        return match slots.first() {
            Some(p) => {
                args.values.insert(p.name, convert_typed(p, obj)?);
                Ok(())
            }
            None => Err(CliError::usage(format!(
                "The input object '{}' cannot be bound to any parameter of {}.",
                typed_text(obj),
                cmdlet.name
            ))
            .with_help("pass it by name instead: -Identity $_")),
        };
    };
    let prop = |name: &str| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let mut bound_any = false;
    for p in cmdlet.params {
        if args.values.contains_key(p.name) {
            continue;
        }
        if !(p.name == "Identity" || p.position.is_some() || p.required) {
            continue;
        }
        let found = std::iter::once(p.name)
            .chain(p.aliases.iter().copied())
            .find_map(prop);
        if let Some(v) = found.filter(|v| !v.is_null()) {
            args.values.insert(p.name, convert_typed(p, v)?);
            bound_any = true;
        }
    }
    if !bound_any {
        let ident = prop("Identity")
            .or_else(|| prop("Name"))
            .filter(|v| !v.is_null());
        let target = cmdlet
            .params
            .iter()
            .find(|p| p.name == "Identity")
            .or_else(|| cmdlet.params.iter().find(|p| p.position == Some(0)))
            .filter(|p| !args.values.contains_key(p.name));
        if let (Some(v), Some(p)) = (ident, target) {
            args.values.insert(p.name, convert_typed(p, v)?);
        }
    }
    Ok(())
}

fn check_required(cmdlet: &Cmdlet, args: &Args) -> Result<(), CliError> {
    for p in cmdlet.params.iter().filter(|p| p.required) {
        if !args.values.contains_key(p.name) {
            return Err(CliError::usage(format!(
                "{} is missing the mandatory parameter -{}.",
                cmdlet.name, p.name
            ))
            .with_help(format!(
                "add -{} <{}>; see 'custkey Get-Help {} -Full'",
                p.name,
                p.kind.type_name(),
                cmdlet.name
            )));
        }
    }
    Ok(())
}

/// How a word names a parameter: `-Name`, `-Name:value`, `--name`, `--name=value`.
struct ParamWord<'a> {
    name: &'a str,
    attached: Option<&'a str>,
    kebab: bool,
}

fn param_word(word: &str) -> Option<ParamWord<'_>> {
    let (rest, kebab) = if let Some(r) = word.strip_prefix("--") {
        (r, true)
    } else if let Some(r) = word.strip_prefix('-') {
        (r, false)
    } else {
        return None;
    };
    // A parameter name starts with a letter: `-5` or `-` alone are values.
    if !rest.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let split = if kebab {
        rest.find('=')
    } else {
        rest.find(':')
    };
    Some(match split {
        Some(i) => ParamWord {
            name: &rest[..i],
            attached: Some(&rest[i + 1..]),
            kebab,
        },
        None => ParamWord {
            name: rest,
            attached: None,
            kebab,
        },
    })
}

/// Finds the parameter a (possibly shortened) name refers to.
pub fn resolve_param(cmdlet: &Cmdlet, given: &str) -> Result<&'static Param, CliError> {
    let n = norm(given);
    let names = |p: &'static Param| {
        std::iter::once(p.name)
            .chain(p.aliases.iter().copied())
            .map(norm)
    };
    if let Some(p) = cmdlet.all_params().find(|p| names(p).any(|a| a == n)) {
        return Ok(p);
    }
    let mut cands: Vec<&'static Param> = cmdlet
        .all_params()
        .filter(|p| !n.is_empty() && names(p).any(|a| a.starts_with(&n)))
        .collect();
    // A prefix of one of the cmdlet's own parameters names it, even if a common parameter
    // starts the same way (`-Data` is -DataEncryptionPolicy, not -DataDir): common
    // parameters are reached by prefix only where no own parameter matches.
    if cands
        .iter()
        .any(|p| cmdlet.params.iter().any(|o| o.name == p.name))
    {
        cands.retain(|p| cmdlet.params.iter().any(|o| o.name == p.name));
    }
    match cands.len() {
        1 => Ok(cands[0]),
        0 => {
            let mut err = CliError::usage(format!(
                "A parameter cannot be found that matches parameter name '{given}' of {}.",
                cmdlet.name
            ));
            let all: Vec<&str> = cmdlet.all_params().map(|p| p.name).collect();
            let near = suggestions(given, all);
            err = if near.is_empty() {
                err.with_help(format!(
                    "run 'custkey Get-Help {} -Full' to see its parameters",
                    cmdlet.name
                ))
            } else {
                err.with_help(format!(
                    "did you mean {}?",
                    near.iter()
                        .map(|n| format!("-{n}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            };
            Err(err)
        }
        _ => Err(CliError::usage(format!(
            "Parameter cannot be processed because the parameter name '{given}' is ambiguous. Possible matches include: {}.",
            cands.iter().map(|p| format!("-{}", p.name)).collect::<Vec<_>>().join(" ")
        ))
        .with_help("type more of the parameter name")),
    }
}

/// Binds `words` (everything after the cmdlet name) to `cmdlet`'s parameters.
pub fn bind(cmdlet: &Cmdlet, words: &[String]) -> Result<Args, CliError> {
    let mut args = Args::default();
    let mut positionals: Vec<&str> = Vec::new();
    let mut i = 0;
    let mut only_values = false;
    while i < words.len() {
        let word = words[i].as_str();
        i += 1;
        if only_values {
            positionals.push(word);
            continue;
        }
        if word == "--" {
            only_values = true;
            continue;
        }
        let Some(pw) = param_word(word) else {
            positionals.push(word);
            continue;
        };
        let param = resolve_param(cmdlet, pw.name)?;
        if args.values.contains_key(param.name) {
            return Err(CliError::usage(format!(
                "Cannot bind parameter because parameter '{}' is specified more than once.",
                param.name
            ))
            .with_help(format!("give -{} once; lists take commas: a,b", param.name)));
        }
        let value = match (param.kind, pw.attached) {
            (Kind::Switch, None) => Value::Bool(true),
            (Kind::Switch, Some(v)) => Value::Bool(parse_bool(param, v)?),
            (_, Some(v)) => {
                let mut raw = v.to_string();
                if matches!(param.kind, Kind::StringList | Kind::EnumList(_)) {
                    i = continue_list(&mut raw, words, i);
                }
                convert(param, &raw)?
            }
            (_, None) => {
                let Some(next) = words.get(i) else {
                    return Err(missing_value(param, pw.kebab));
                };
                i += 1;
                let mut raw = next.clone();
                if matches!(param.kind, Kind::StringList | Kind::EnumList(_)) {
                    i = continue_list(&mut raw, words, i);
                }
                convert(param, &raw)?
            }
        };
        args.values.insert(param.name, value);
    }
    bind_positionals(cmdlet, &mut args, &positionals)?;
    check_required(cmdlet, &args)?;
    Ok(args)
}

/// PowerShell reads `a, b` and `a ,b` as one list; in argv they arrive as two words.
fn continue_list(raw: &mut String, words: &[String], mut i: usize) -> usize {
    while i < words.len() {
        let next = &words[i];
        if raw.trim_end().ends_with(',') || next.starts_with(',') {
            raw.push_str(next);
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn bind_positionals(cmdlet: &Cmdlet, args: &mut Args, words: &[&str]) -> Result<(), CliError> {
    let mut slots: Vec<&'static Param> = cmdlet
        .params
        .iter()
        .filter(|p| p.position.is_some())
        .collect();
    slots.sort_by_key(|p| p.position);
    let free: Vec<&'static Param> = slots
        .into_iter()
        .filter(|p| !args.values.contains_key(p.name))
        .collect();
    let mut slots = free.into_iter();
    let mut k = 0;
    while k < words.len() {
        let word = words[k];
        k += 1;
        let Some(param) = slots.next() else {
            let mut err = CliError::usage(format!(
                "A positional parameter cannot be found that accepts argument '{word}'."
            ));
            err = if word.starts_with('$')
                || word.eq_ignore_ascii_case("true")
                || word.eq_ignore_ascii_case("false")
            {
                err.with_help("a switch takes its value after a colon: -Name:$false")
            } else {
                err.with_help(format!(
                    "name the parameter this value is for; see 'custkey Get-Help {} -Full'",
                    cmdlet.name
                ))
            };
            return Err(err);
        };
        let mut raw = word.to_string();
        if matches!(param.kind, Kind::StringList | Kind::EnumList(_)) {
            while k < words.len() && (raw.trim_end().ends_with(',') || words[k].starts_with(',')) {
                raw.push_str(words[k]);
                k += 1;
            }
        }
        let value = if matches!(param.kind, Kind::Switch) {
            Value::Bool(parse_bool(param, &raw)?)
        } else {
            convert(param, &raw)?
        };
        args.values.insert(param.name, value);
    }
    Ok(())
}

fn missing_value(param: &Param, kebab_form: bool) -> CliError {
    let shown = if kebab_form {
        format!("--{}", kebab(param.name))
    } else {
        format!("-{}", param.name)
    };
    let mut err = CliError::usage(format!(
        "Missing an argument for parameter '{}'. Specify a parameter of type '{}' and try again.",
        param.name,
        param.kind.type_name()
    ));
    err = match param.kind {
        Kind::Bool => err.with_help(format!(
            "write {shown} false or {shown}:false; in bash and zsh quote '$false' (unquoted, the shell expands it to nothing)"
        )),
        _ => err.with_help(format!(
            "give a value after {shown}; to clear a property write '$null' in single quotes"
        )),
    };
    err
}

fn parse_bool(param: &Param, raw: &str) -> Result<bool, CliError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "$true" | "true" | "1" | "yes" => Ok(true),
        "$false" | "false" | "0" | "no" => Ok(false),
        other => {
            let mut err = CliError::usage(format!(
                "Cannot process argument transformation on parameter '{}'. Cannot convert value '{other}' to type System.Boolean.",
                param.name
            ));
            err = if other.is_empty() {
                err.with_help(format!(
                    "in bash and zsh an unquoted $false expands to nothing: write -{}:false or '-{}:$false'",
                    param.name, param.name
                ))
            } else {
                err.with_help("use $true or $false (true/false and 1/0 work too)")
            };
            Err(err)
        }
    }
}

/// Splits a comma list, honouring single and double quotes around items.
pub fn split_list(raw: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut quoted_item = false;
    for c in raw.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                '"' | '\'' => {
                    quote = Some(c);
                    quoted_item = true;
                }
                ',' => {
                    push_item(&mut items, &mut cur, quoted_item);
                    quoted_item = false;
                }
                _ => cur.push(c),
            },
        }
    }
    if let Some(q) = quote {
        return Err(format!("the list {raw:?} has an unclosed {q} quote"));
    }
    push_item(&mut items, &mut cur, quoted_item);
    Ok(items)
}

fn push_item(items: &mut Vec<String>, cur: &mut String, quoted: bool) {
    let item = if quoted {
        cur.clone()
    } else {
        cur.trim().to_string()
    };
    cur.clear();
    if !item.is_empty() || quoted {
        items.push(item);
    }
}

/// Strips one layer of matching quotes from a scalar (`'"US Mailboxes"'` typed in bash).
fn unquote(raw: &str) -> &str {
    let t = raw.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return &t[1..t.len() - 1];
        }
    }
    raw
}

fn convert(param: &Param, raw: &str) -> Result<Value, CliError> {
    if raw.trim().eq_ignore_ascii_case("$null") {
        return Ok(Value::Null);
    }
    let invalid = |why: String| {
        CliError::usage(format!(
            "Cannot validate argument on parameter '{}'. {why}",
            param.name
        ))
    };
    match param.kind {
        Kind::String | Kind::Path => {
            let v = unquote(raw);
            if v.is_empty() && param.required {
                return Err(invalid("The argument is null or empty.".into())
                    .with_help(format!("give -{} a non-empty value", param.name)));
            }
            Ok(Value::Str(v.to_string()))
        }
        Kind::StringList => {
            let items = split_list(raw).map_err(invalid)?;
            if items.is_empty() && param.required {
                return Err(invalid("The argument is null or empty.".into()));
            }
            Ok(Value::List(items))
        }
        Kind::Int { min, max } => {
            let v: i64 = unquote(raw).trim().parse().map_err(|_| {
                invalid(format!(
                    "Cannot convert value '{raw}' to type System.Int32."
                ))
                .with_help(format!("give a whole number from {min} to {max}"))
            })?;
            if v < min || v > max {
                return Err(invalid(format!(
                    "The {v} argument is outside the range {min}..{max}."
                ))
                .with_help(format!("give a whole number from {min} to {max}")));
            }
            Ok(Value::Int(v))
        }
        Kind::Bool => Ok(Value::Bool(parse_bool(param, unquote(raw))?)),
        Kind::Switch => Ok(Value::Bool(parse_bool(param, raw)?)),
        Kind::Enum(allowed) => Ok(Value::Str(enum_value(param, allowed, unquote(raw))?)),
        Kind::EnumList(allowed) => {
            let items = split_list(raw).map_err(invalid)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(enum_value(param, allowed, &item)?);
            }
            Ok(Value::List(out))
        }
        // JSON text (`'{"enablePurgeProtection": true}'`), else the text itself.
        Kind::Object => Ok(Value::Json(
            serde_json::from_str(raw.trim())
                .unwrap_or_else(|_| serde_json::Value::String(unquote(raw).to_string())),
        )),
        Kind::SecureString => Err(secure_string_needed(param)),
        Kind::ScriptBlock => Err(invalid(format!(
            "Cannot convert the \"{raw}\" value to type ScriptBlock."
        ))
        .with_help("a script block { ... } can only be given in a script: custkey -Command '...'")),
        Kind::Date => parse_date(unquote(raw)).map(Value::Date).ok_or_else(|| {
            invalid(format!(
                "Cannot convert value '{raw}' to type System.DateTime."
            ))
            .with_help("write a date as 12/31/9999, \"12/27/2016 12:01 AM\", 2016-12-27 00:01 or 9999-12-31T00:00:00Z")
        }),
    }
}

/// A SecureString parameter given anything but a SecureString (plain text never binds: it
/// would sit in the shell's history and the process list).
fn secure_string_needed(param: &Param) -> CliError {
    CliError::usage(format!(
        "Cannot convert the value given to -{} to type System.Security.SecureString.",
        param.name
    ))
    .with_help(format!(
        "give a SecureString in a script: custkey -Command '... -{} (ConvertTo-SecureString -String $env:KEY_PASSWORD -AsPlainText -Force)'",
        param.name
    ))
}

fn enum_value(param: &Param, allowed: &[&str], raw: &str) -> Result<String, CliError> {
    let t = raw.trim();
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(t))
        .map(|a| a.to_string())
        .ok_or_else(|| {
            let mut err = CliError::usage(format!(
                "Cannot validate argument on parameter '{}'. The argument \"{t}\" does not belong to the set \"{}\".",
                param.name,
                allowed.join(",")
            ));
            let near = suggestions(t, allowed.iter().copied());
            err = match near.first() {
                Some(n) => err.with_help(format!("did you mean {n}?")),
                None => err.with_help(format!("use one of: {}", allowed.join(", "))),
            };
            err
        })
}

/// Dates as the guides write them (`12/31/9999`, US order) or ISO 8601; UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // The forms PowerShell (en-US) reads: ISO with or without seconds, US month/day/year with a
    // 24-hour or an AM/PM time, and month names.
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %I:%M %p",
        "%Y-%m-%d %I:%M:%S %p",
        "%Y-%m-%d %I:%M %p",
        "%B %d, %Y %I:%M %p",
        "%B %d, %Y %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for f in [
        "%Y-%m-%d",
        "%m/%d/%Y",
        "%B %d, %Y",
        "%b %d, %Y",
        "%d %B %Y",
        "%A, %B %d, %Y",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::def::{Example, Impact};
    use crate::cli::output::Output;

    const OPS: &[&str] = &["wrapKey", "unwrapKey", "get"];

    #[test]
    fn object_parameters_keep_script_values_and_read_json_text() {
        let p = Param::new("Properties", Kind::Object, "");
        let obj = serde_json::json!({"a": [1, {"b": true}]});
        assert_eq!(convert_typed(&p, &obj).unwrap(), Value::Json(obj.clone()));
        assert_eq!(
            convert(&p, r#"{"a": [1, {"b": true}]}"#).unwrap(),
            Value::Json(obj)
        );
        assert_eq!(
            convert(&p, "'plain'").unwrap(),
            Value::Json(serde_json::json!("plain"))
        );
        assert_eq!(convert(&p, "$null").unwrap(), Value::Null);
        // To the service and back (Set-AzResource -Properties runs there).
        let set = crate::cli::find_cmdlet("Set-AzResource").unwrap();
        let props = serde_json::json!({"enableSoftDelete": "True", "sku": {"name": "standard"}});
        let named = vec![
            (
                "ResourceId".to_string(),
                Some(serde_json::json!(
                    "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v"
                )),
            ),
            ("Properties".to_string(), Some(props.clone())),
        ];
        let args = bind_values(set, &named, &[], None).unwrap();
        let back = Args::from_wire(set, &args.to_wire()).unwrap();
        assert_eq!(back.object("Properties"), Some(&props));
    }

    #[test]
    fn a_secure_string_binds_only_from_convertto_securestring() {
        use crate::cli::cmdlets::secure_string;
        let add = crate::cli::find_cmdlet("Add-AzKeyVaultKey").unwrap();
        let p = add
            .all_params()
            .find(|p| p.name == "KeyFilePassword")
            .unwrap();
        let sealed = secure_string::seal("s3cret").unwrap();
        assert!(!sealed.to_string().contains("s3cret"));
        let v = convert_typed(p, &sealed).unwrap();
        assert!(!format!("{v:?}").contains("s3cret"));
        // Plain text, on the command line or from a script, never binds.
        assert!(convert(p, "s3cret").is_err());
        assert!(convert_typed(p, &serde_json::json!("s3cret")).is_err());
        // A sealed value altered (or made by another process) does not open.
        let mut forged = sealed.clone();
        forged["Sealed"] = serde_json::json!("00".repeat(40));
        assert!(convert_typed(p, &forged).is_err());
        // To the service and back.
        let named = vec![
            ("VaultName".to_string(), Some(serde_json::json!("vault1"))),
            ("Name".to_string(), Some(serde_json::json!("k"))),
            ("KeyFilePath".to_string(), Some(serde_json::json!("k.pfx"))),
            ("KeyFilePassword".to_string(), Some(sealed)),
        ];
        let args = bind_values(add, &named, &[], None).unwrap();
        let back = Args::from_wire(add, &args.to_wire()).unwrap();
        assert_eq!(back.secret("KeyFilePassword"), Some("s3cret"));
    }

    #[test]
    fn dates_in_the_forms_powershell_reads_keep_their_times() {
        let at = |s: &str| parse_date(s).map(|d| d.to_rfc3339());
        let t = Some("2016-12-27T00:01:00+00:00".to_string());
        for form in [
            "12/27/2016 12:01 AM",
            "12/27/2016 12:01:00 am",
            "2016-12-27 00:01",
            "2016-12-27T00:01",
            "2016-12-27 00:01:00",
            "12/27/2016 00:01",
            "2016-12-27T00:01:00Z",
            "December 27, 2016 12:01 AM",
        ] {
            assert_eq!(at(form), t, "{form}");
        }
        assert_eq!(
            at("12/27/2016 1:30 PM"),
            Some("2016-12-27T13:30:00+00:00".into())
        );
        assert_eq!(at("12/31/9999"), Some("9999-12-31T00:00:00+00:00".into()));
        assert_eq!(at("1/2/2020"), Some("2020-01-02T00:00:00+00:00".into()));
        assert_eq!(
            at("December 31, 9999"),
            Some("9999-12-31T00:00:00+00:00".into())
        );
        for bad in ["bad", "13/01/2020", "2020-02-30", "12/27/2016 25:00", ""] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    fn noop(_: &mut crate::cli::Ctx, _: &Args) -> Result<Output, CliError> {
        Ok(Output::None)
    }

    const T: Cmdlet = Cmdlet {
        name: "Set-Thing",
        module: "test",
        synopsis: "",
        description: "",
        params: &[
            Param::new("Identity", Kind::String, "")
                .position(0)
                .required(),
            Param::new("Name", Kind::String, "").position(1),
            Param::new("Enabled", Kind::Bool, ""),
            Param::new("Force", Kind::Switch, ""),
            Param::new(
                "Size",
                Kind::Int {
                    min: 2048,
                    max: 4096,
                },
                "",
            ),
            Param::new("Expires", Kind::Date, ""),
            Param::new("KeyOps", Kind::EnumList(OPS), ""),
            Param::new("AzureKeyIDs", Kind::StringList, ""),
            Param::new("DataEncryptionPolicy", Kind::String, "").aliases(&["DEP"]),
            Param::new("PermanentDataPurgeRequested", Kind::Switch, ""),
            Param::new("PermanentDataPurgeReason", Kind::String, ""),
        ],
        examples: &[] as &[Example],
        impact: Impact::Medium,
        table: &[],
        run: noop,
    };

    fn b(words: &[&str]) -> Result<Args, CliError> {
        bind(&T, &words.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn names_are_case_insensitive_prefixes_and_kebab() {
        let a = b(&["-identity", "x", "-DATA", "EUR", "--azure-key-ids", "a,b"]).unwrap();
        assert_eq!(a.str("Identity"), Some("x"));
        assert_eq!(a.str("DataEncryptionPolicy"), Some("EUR"));
        assert_eq!(a.list("AzureKeyIDs").unwrap(), ["a", "b"]);
        let a = b(&["x", "--data-encryption-policy=EUR", "-dep", "y"]);
        assert!(a.is_err(), "the alias names the same parameter twice");
        let a = b(&["x", "-DEP", "EUR"]).unwrap();
        assert_eq!(a.str("DataEncryptionPolicy"), Some("EUR"));
        // A common parameter is reached by a prefix no own parameter has.
        let a = b(&["x", "-DataD", "/srv/custkey"]).unwrap();
        assert_eq!(a.str("DataDir"), Some("/srv/custkey"));
    }

    #[test]
    fn ambiguous_prefixes_name_the_candidates() {
        let e = b(&["x", "-Permanent", "y"]).unwrap_err();
        assert_eq!(e.class, crate::cli::error::Class::Usage);
        assert!(
            e.message
                .contains("-PermanentDataPurgeRequested -PermanentDataPurgeReason"),
            "{}",
            e.message
        );
    }

    #[test]
    fn booleans_switches_and_null() {
        let a = b(&["x", "-Enabled", "$false", "-Force:$false"]).unwrap();
        assert_eq!(a.bool("Enabled"), Some(false));
        assert!(a.has("Force") && !a.switch("Force"));
        let a = b(&["x", "-Enabled:true", "-Force"]).unwrap();
        assert_eq!(a.bool("Enabled"), Some(true));
        assert!(a.switch("Force"));
        let e = b(&["x", "-Enabled:"]).unwrap_err();
        assert!(e.help.unwrap().contains("unquoted $false"));
        let e = b(&["x", "-Enabled"]).unwrap_err();
        assert!(e.message.contains("Missing an argument"));
        let a = b(&["x", "-DataEncryptionPolicy", "$null"]).unwrap();
        assert!(a.is_null("DataEncryptionPolicy"));
    }

    #[test]
    fn typed_values_are_checked() {
        let a = b(&[
            "x",
            "-Size",
            "3072",
            "-Expires",
            "12/31/9999",
            "-KeyOps",
            "WRAPKEY, unwrapkey",
        ])
        .unwrap();
        assert_eq!(a.int("Size"), Some(3072));
        assert_eq!(
            a.date("Expires").unwrap().to_rfc3339(),
            "9999-12-31T00:00:00+00:00"
        );
        assert_eq!(a.list("KeyOps").unwrap(), ["wrapKey", "unwrapKey"]);
        assert!(b(&["x", "-Size", "1024"])
            .unwrap_err()
            .message
            .contains("outside the range"));
        assert!(b(&["x", "-Size", "big"]).is_err());
        let e = b(&["x", "-KeyOps", "wrapkey,sing"]).unwrap_err();
        assert!(e.message.contains("does not belong to the set"));
    }

    #[test]
    fn lists_across_words_and_positionals() {
        let a = b(&["x", "-AzureKeyIDs", "a,", "b", ",c"]).unwrap();
        assert_eq!(a.list("AzureKeyIDs").unwrap(), ["a", "b", "c"]);
        let a = b(&["x", "US Mailboxes"]).unwrap();
        assert_eq!(a.str("Name"), Some("US Mailboxes"));
        let e = b(&["x", "y", "z"]).unwrap_err();
        assert!(e.message.contains("positional parameter cannot be found"));
        let a = b(&["-Name", "n", "--", "-weird-"]).unwrap();
        assert_eq!(a.str("Identity"), Some("-weird-"));
        let a = b(&["-Identity", "-weird-name-"]).unwrap();
        assert_eq!(a.str("Identity"), Some("-weird-name-"));
        assert!(b(&["-Name", "n"])
            .unwrap_err()
            .message
            .contains("mandatory parameter -Identity"));
    }

    #[test]
    fn lists_split_on_commas_with_quotes() {
        assert_eq!(split_list("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(split_list("a, b").unwrap(), vec!["a", "b"]);
        assert_eq!(split_list("\"a,b\",c").unwrap(), vec!["a,b", "c"]);
        assert_eq!(split_list("'x y', z").unwrap(), vec!["x y", "z"]);
        assert!(split_list("\"open").is_err());
    }

    #[test]
    fn dates_in_the_guides_forms() {
        let d = parse_date("12/31/9999").unwrap();
        assert_eq!(d.to_rfc3339(), "9999-12-31T00:00:00+00:00");
        assert_eq!(parse_date("9999-12-31"), Some(d));
        assert!(parse_date("31/12/9999").is_none());
    }

    #[test]
    fn param_words() {
        let w = param_word("-Enabled:$false").unwrap();
        assert_eq!((w.name, w.attached), ("Enabled", Some("$false")));
        let w = param_word("--azure-key-ids=a,b").unwrap();
        assert_eq!(
            (w.name, w.attached, w.kebab),
            ("azure-key-ids", Some("a,b"), true)
        );
        assert!(param_word("-5").is_none());
        assert!(param_word("alice").is_none());
    }
}
