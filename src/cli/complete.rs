//! The completion engine. Shell shims (completions/) call `custkey __complete -- <words>`
//! with the words typed so far, the last being the one under the cursor (maybe empty);
//! it prints one candidate per line. It completes cmdlet names, `-PascalCase` (and
//! `--kebab-case`) parameter names, enum and boolean values, and object names read
//! from the store (never creating one).

use std::path::PathBuf;

use custkey::store::Store;

use super::args::resolve_param;
use super::def::{kebab, norm, Cmdlet, Kind, Param};
use super::error::CliError;
use super::{cmdlets, find_cmdlet, store_path};

/// What a value completer can read.
pub struct CompletionCtx {
    pub store_path: PathBuf,
}

impl CompletionCtx {
    /// The store, if one exists at the path; completion never creates or migrates one.
    pub fn store(&self) -> Option<Store> {
        // A URL is never a file path (and completion does not connect to a server).
        if self
            .store_path
            .to_str()
            .and_then(custkey::store::location::url_scheme)
            .is_some()
        {
            return None;
        }
        Store::open_if_exists(&self.store_path).ok().flatten()
    }
}

pub fn run(args: &[String]) -> Result<(), CliError> {
    let words = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    // One write, and a reader that stops early (`| head`) is no error.
    let mut out = String::new();
    for c in candidates(words) {
        out.push_str(&c);
        out.push('\n');
    }
    super::write_out(&out)
}

fn starts_with_ci(candidate: &str, partial: &str) -> bool {
    candidate
        .to_lowercase()
        .starts_with(&partial.to_lowercase())
}

fn quote_if_needed(s: &str) -> String {
    if s.contains(char::is_whitespace) || s.contains(',') {
        format!("'{s}'")
    } else {
        s.to_string()
    }
}

/// Candidates for the last word of `words` (the words after the program name).
pub fn candidates(words: &[String]) -> Vec<String> {
    let empty = String::new();
    let current = words.last().unwrap_or(&empty);
    if words.len() <= 1 {
        let n = norm(current);
        return cmdlets::all()
            .iter()
            .filter(|c| starts_with_ci(c.name, current) || norm(c.name).starts_with(&n))
            .map(|c| c.name.to_string())
            .collect();
    }
    let Some(cmdlet) = find_cmdlet(&words[0]) else {
        return Vec::new();
    };
    let before = &words[1..words.len() - 1];
    let ctx = CompletionCtx {
        store_path: store_path(given_store(cmdlet, before).as_deref()),
    };
    // The value of the parameter just named?
    if let Some(prev) = before.last() {
        if let Some(p) = param_expecting_value(cmdlet, prev) {
            return values(p, current, &ctx);
        }
    }
    if let Some(rest) = current.strip_prefix('-') {
        if let Some((name, partial)) = rest.split_once(':') {
            // -Enabled:<TAB>
            return match resolve_param(cmdlet, name) {
                Ok(p) if matches!(p.kind, Kind::Switch | Kind::Bool) => ["$true", "$false"]
                    .iter()
                    .filter(|v| starts_with_ci(v, partial))
                    .map(|v| format!("-{}:{v}", p.name))
                    .collect(),
                _ => Vec::new(),
            };
        }
        let given: Vec<&'static str> = before
            .iter()
            .filter_map(|w| w.strip_prefix('-'))
            .filter_map(|w| resolve_param(cmdlet, w.split([':', '=']).next().unwrap_or(w)).ok())
            .map(|p| p.name)
            .collect();
        let kebab_form = current.starts_with("--");
        let partial = norm(current);
        return cmdlet
            .all_params()
            .filter(|p| !given.contains(&p.name))
            .filter(|p| norm(p.name).starts_with(&partial))
            .map(|p| {
                if kebab_form {
                    format!("--{}", kebab(p.name))
                } else {
                    format!("-{}", p.name)
                }
            })
            .collect();
    }
    // A positional value.
    match next_positional(cmdlet, before) {
        Some(p) => values(p, current, &ctx),
        None => Vec::new(),
    }
}

fn given_store(cmdlet: &Cmdlet, words: &[String]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if let Some(rest) = w.strip_prefix('-') {
            let rest = rest.trim_start_matches('-');
            let (name, attached) = match rest.split_once([':', '=']) {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (rest, None),
            };
            if let Ok(p) = resolve_param(cmdlet, name) {
                if p.name == "Store" {
                    return attached.or_else(|| it.next().cloned());
                }
            }
        }
    }
    None
}

fn param_expecting_value(cmdlet: &Cmdlet, word: &str) -> Option<&'static Param> {
    let rest = word.strip_prefix('-')?;
    if rest.contains(':') || rest.contains('=') {
        return None;
    }
    let p = resolve_param(cmdlet, rest.trim_start_matches('-')).ok()?;
    p.kind.takes_value().then_some(p)
}

fn next_positional(cmdlet: &Cmdlet, before: &[String]) -> Option<&'static Param> {
    let mut named: Vec<&'static str> = Vec::new();
    let mut positional_count = 0usize;
    let mut i = 0;
    while i < before.len() {
        let w = &before[i];
        i += 1;
        if let Some(rest) = w.strip_prefix('-') {
            let rest = rest.trim_start_matches('-');
            let (name, attached) = match rest.split_once([':', '=']) {
                Some((n, _)) => (n, true),
                None => (rest, false),
            };
            if let Ok(p) = resolve_param(cmdlet, name) {
                named.push(p.name);
                if p.kind.takes_value() && !attached {
                    i += 1;
                }
                continue;
            }
        }
        positional_count += 1;
    }
    let mut slots: Vec<&'static Param> = cmdlet
        .params
        .iter()
        .filter(|p| p.position.is_some() && !named.contains(&p.name))
        .collect();
    slots.sort_by_key(|p| p.position);
    slots.into_iter().nth(positional_count)
}

fn values(p: &Param, current: &str, ctx: &CompletionCtx) -> Vec<String> {
    let partial = current.trim_start_matches(['\'', '"']);
    let mut out: Vec<String> = p.kind.values().iter().map(|v| v.to_string()).collect();
    if let Some(f) = p.complete {
        out.extend(f(ctx));
    }
    out.sort_by_key(|a| a.to_lowercase());
    out.dedup();
    out.into_iter()
        .filter(|v| starts_with_ci(v, partial))
        .map(|v| quote_if_needed(&v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(words: &[&str]) -> Vec<String> {
        candidates(&words.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn cmdlet_names_by_prefix_in_any_case() {
        let got = c(&["get-org"]);
        assert_eq!(got, vec!["Get-OrganizationConfig"]);
    }

    #[test]
    fn parameters_and_enum_values() {
        let got = c(&["Set-OrganizationConfig", "-Sub"]);
        assert_eq!(got, vec!["-SubscriptionType"]);
        let got = c(&["Set-OrganizationConfig", "-SubscriptionType", "t"]);
        assert_eq!(got, vec!["Trial"]);
        let got = c(&["Get-OrganizationConfig", "--for"]);
        assert_eq!(got, vec!["--format"]);
        let got = c(&["Get-OrganizationConfig", "-Format", ""]);
        assert_eq!(got, vec!["Csv", "Json", "List", "Table"]);
    }
}
