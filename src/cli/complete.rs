//! The completion engine. Shell shims (completions/) call
//! `custkey __complete [--shell bash|zsh|fish|pwsh] -- <words>` with the words typed so far, the
//! last being the one under the cursor (maybe empty); it prints one candidate per line, quoted
//! for that shell, or first the line `@files` where a file name belongs (the shim then completes
//! files). It completes cmdlet names, `-PascalCase` (and `--kebab-case`) parameter names, enum
//! and boolean values, and object names read from the store (never creating one).
//!
//! - `bash`: the shim passes `--line "${COMP_LINE:0:COMP_POINT}" --cur "$2"`; the line is split
//!   here with the shell's quoting, since bash's own words break at `:` and `=`. A candidate is
//!   printed quoted for bash, minus the part of the token before bash's current word.
//! - `zsh`, `fish`: the words as typed; candidates are printed unquoted, and the shell quotes
//!   them as it inserts them (inside an open quote too).
//! - `pwsh` (and no `--shell`): PowerShell quoting, `'...'` with `''` for a quote.

use std::path::PathBuf;

use custkey::service::open::{Store, StoreLocation};

use super::args::resolve_param;
use super::def::{kebab, norm, Cmdlet, Kind, Param};
use super::error::CliError;
use super::{cmdlets, find_cmdlet, store_path};

/// What a value completer can read: the store, and what has been typed of the value.
pub struct CompletionCtx {
    pub store_path: PathBuf,
    /// The value typed so far, unquoted (completers may filter by it; the engine filters too).
    pub partial: String,
    /// In the service: a PostgreSQL store may be opened too (a shell's completion never
    /// connects to a database server), with this data directory.
    pub service: bool,
    pub data_dir: Option<PathBuf>,
}

impl CompletionCtx {
    /// The store, if one exists at the path; completion never creates or migrates one.
    pub fn store(&self) -> Option<Store> {
        let at = StoreLocation::new(&self.store_path);
        let dir = match (&self.data_dir, at.is_url()) {
            (Some(d), true) => d.clone(),
            (None, true) => super::data_dir_for_url(),
            (_, false) => PathBuf::new(),
        };
        custkey::service::open::open_existing_store(&at, &dir, self.service)
    }
}

/// In the service: the names `cmdlet`'s parameter `param` completes to, from the service's
/// store at `store_path`, starting with `partial`.
pub fn service_values(
    cmdlet: &str,
    param: &str,
    partial: &str,
    store_path: PathBuf,
    data_dir: PathBuf,
) -> Vec<String> {
    let Some(c) = find_cmdlet(cmdlet) else {
        return Vec::new();
    };
    let Some(p) = c.all_params().find(|p| p.name == param) else {
        return Vec::new();
    };
    let ctx = CompletionCtx {
        store_path,
        partial: partial.to_string(),
        service: true,
        data_dir: Some(data_dir),
    };
    values(c, p, partial, &ctx).values
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shell {
    Bash,
    Zsh,
    Fish,
    Pwsh,
}

pub fn run(args: &[String]) -> Result<(), CliError> {
    let mut shell = Shell::Pwsh;
    let (mut line, mut cur) = (None, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--" => {
                i += 1;
                break;
            }
            "--shell" => {
                shell = match args.get(i + 1).map(String::as_str) {
                    Some("bash") => Shell::Bash,
                    Some("zsh") => Shell::Zsh,
                    Some("fish") => Shell::Fish,
                    _ => Shell::Pwsh,
                };
                i += 2;
            }
            "--line" => {
                line = args.get(i + 1).cloned();
                i += 2;
            }
            "--cur" => {
                cur = args.get(i + 1).cloned();
                i += 2;
            }
            _ => break,
        }
    }
    // The tokens as typed (raw), the last under the cursor.
    let raw: Vec<String> = match &line {
        Some(l) => {
            let mut t = split_line(l);
            if !t.is_empty() {
                t.remove(0); // the program name
            }
            t
        }
        None => args[i..].to_vec(),
    };
    let words: Vec<String> = raw.iter().map(|w| unquote(w).0).collect();
    let found = candidates_for(&words);
    let typed = raw.last().cloned().unwrap_or_default();
    let mut out = String::new();
    if found.files {
        out.push_str("@files\n");
    }
    for c in found.values {
        let text = match shell {
            Shell::Bash => for_bash(&c, &typed, cur.as_deref().unwrap_or(&typed)),
            Shell::Zsh | Shell::Fish => c,
            Shell::Pwsh => quote_if_needed(&c),
        };
        // A candidate is one line: a name with a line break cannot be offered.
        if text.contains(['\n', '\r']) {
            continue;
        }
        out.push_str(&text);
        out.push('\n');
    }
    // One write, and a reader that stops early (`| head`) is no error.
    super::write_out(&out)
}

/// Splits a command line as a POSIX shell would into raw tokens (quotes kept); a line that ends
/// in a blank gives an empty last token.
fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut tok = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut in_token = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut tok));
                    in_token = false;
                }
                continue;
            }
            (None, '\\') | (Some('"'), '\\') => {
                tok.push(c);
                if let Some(n) = chars.next() {
                    tok.push(n);
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                tok.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                tok.push(c);
            }
            _ => tok.push(c),
        }
        in_token = true;
    }
    out.push(tok);
    out
}

/// A raw token's value (quotes and backslashes removed) and the quote still open at its end.
fn unquote(raw: &str) -> (String, Option<char>) {
    let mut v = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') => v.extend(chars.next()),
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => v.push(n),
                Some(n) => {
                    v.push('\\');
                    v.push(n);
                }
                None => v.push('\\'),
            },
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => v.push(c),
        }
    }
    (v, quote)
}

/// `value` as bash must see it, written in the quoting `typed` opened, less the part of the token
/// before bash's current word `cur` (bash breaks words at `:` and `=`).
fn for_bash(value: &str, typed: &str, cur: &str) -> String {
    let opened = typed.chars().next().filter(|c| *c == '\'' || *c == '"');
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./@%+=:,^~".contains(c);
    let quoted = match opened {
        Some('\'') => format!("'{}'", value.replace('\'', "'\\''")),
        Some(_) => {
            let mut q = String::from('"');
            for c in value.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        }
        None if value.chars().all(safe) => value.to_string(),
        // `-Enabled:$true`: only the dollar needs a backslash.
        None if value.chars().all(|c| safe(c) || c == '$') => value.replace('$', "\\$"),
        None => format!("'{}'", value.replace('\'', "'\\''")),
    };
    let k = typed.len().saturating_sub(cur.len());
    if k > 0 && typed.ends_with(cur) && quoted.starts_with(&typed[..k]) {
        quoted[k..].to_string()
    } else {
        quoted
    }
}

/// The candidates for the last word, and whether a file name belongs there.
struct Found {
    values: Vec<String>,
    files: bool,
}

fn starts_with_ci(candidate: &str, partial: &str) -> bool {
    candidate
        .to_lowercase()
        .starts_with(&partial.to_lowercase())
}

/// PowerShell quoting: `'...'` (a quote inside doubled) when the value has a blank, a comma,
/// a quote or a character PowerShell reads specially.
fn quote_if_needed(s: &str) -> String {
    let special = |c: char| c.is_whitespace() || ",'\"$`;(){}|&@#<>".contains(c);
    // `-Enabled:$true` and `$false` are meant as PowerShell variables.
    let variable = s.starts_with('$') || s.contains(":$");
    if !variable && s.chars().any(special) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        s.to_string()
    }
}

/// Candidates for the last of `words` (unquoted values), quoted for PowerShell.
pub fn candidates(words: &[String]) -> Vec<String> {
    candidates_for(words)
        .values
        .iter()
        .map(|c| quote_if_needed(c))
        .collect()
}

/// Candidates for the last word of `words` (unquoted, the words after the program name).
fn candidates_for(words: &[String]) -> Found {
    let none = Found {
        values: Vec::new(),
        files: false,
    };
    let empty = String::new();
    let current = words.last().unwrap_or(&empty);
    if words.len() <= 1 {
        let n = norm(current);
        return Found {
            values: cmdlets::all()
                .iter()
                .filter(|c| starts_with_ci(c.name, current) || norm(c.name).starts_with(&n))
                .map(|c| c.name.to_string())
                .collect(),
            files: false,
        };
    }
    let Some(cmdlet) = find_cmdlet(&words[0]) else {
        return none;
    };
    let before = &words[1..words.len() - 1];
    let given = given_store(cmdlet, before);
    let ctx = CompletionCtx {
        store_path: store_path(given.as_deref()),
        partial: current.clone(),
        service: false,
        data_dir: None,
    };
    // The value of the parameter just named?
    if let Some(prev) = before.last() {
        if let Some(p) = param_expecting_value(cmdlet, prev) {
            return values(cmdlet, p, current, &ctx);
        }
    }
    let found = |values: Vec<String>| Found {
        values,
        files: false,
    };
    if let Some(rest) = current.strip_prefix('-') {
        if let Some((name, partial)) = rest.split_once(':') {
            // -Enabled:<TAB>, -Format:<TAB>
            return found(match resolve_param(cmdlet, name) {
                Ok(p) if matches!(p.kind, Kind::Switch | Kind::Bool) => ["$true", "$false"]
                    .iter()
                    .filter(|v| starts_with_ci(v, partial))
                    .map(|v| format!("-{name}:{v}"))
                    .collect(),
                Ok(p) if p.kind.takes_value() => values(cmdlet, p, partial, &ctx)
                    .values
                    .into_iter()
                    .map(|v| format!("-{name}:{v}"))
                    .collect(),
                _ => Vec::new(),
            });
        }
        let given: Vec<&'static str> = before
            .iter()
            .filter_map(|w| w.strip_prefix('-'))
            .filter_map(|w| resolve_param(cmdlet, w.split([':', '=']).next().unwrap_or(w)).ok())
            .map(|p| p.name)
            .collect();
        let kebab_form = current.starts_with("--");
        let partial = norm(current);
        return found(
            cmdlet
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
                .collect(),
        );
    }
    // A positional value.
    match next_positional(cmdlet, before) {
        Some(p) => values(cmdlet, p, current, &ctx),
        None => none,
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

fn values(cmdlet: &Cmdlet, p: &Param, partial: &str, ctx: &CompletionCtx) -> Found {
    let mut out: Vec<String> = p.kind.values().iter().map(|v| v.to_string()).collect();
    if let Some(f) = p.complete {
        // Connected to a service (and no local -Store named): its names, asked for with a
        // signed request; nothing when it cannot be asked.
        let remote = (!ctx.service
            && ctx.store_path == store_path(None)
            && super::serve::runs_on_service(cmdlet))
        .then(|| super::serve::client::Remote::configured().ok().flatten())
        .flatten();
        match remote {
            Some(mut r) => out.extend(r.complete(cmdlet.name, p.name, partial).unwrap_or_default()),
            None => out.extend(f(ctx)),
        }
    }
    out.sort_by_key(|a| a.to_lowercase());
    out.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    Found {
        values: out
            .into_iter()
            .filter(|v| starts_with_ci(v, partial))
            .collect(),
        // A path, with nothing else to offer: the shell completes file names.
        files: p.files != crate::cli::def::Files::None && p.complete.is_none(),
    }
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
