//! One error type and one exit path for every cmdlet.
//!
//! Exit codes (documented in docs/cli.md):
//! 0 success, 1 the cmdlet failed, 2 usage error, 3 store or vault unreachable,
//! 70 internal error (a bug).

use std::fmt;

/// The class of a failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A rule was broken, an object is missing, a key was denied.
    Failed,
    /// The command line itself is wrong.
    Usage,
    /// The store or a vault could not be reached or read (a system error).
    Unavailable,
    /// A saved rollout plan no longer matches the store (`Start-CustomerKeyRollout -PlanFile`).
    Stale,
    /// The operator pressed Ctrl-C; what was committed before stays.
    Interrupted,
    /// A bug in custkey.
    Internal,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Failed => 1,
            Class::Usage => 2,
            Class::Unavailable => 3,
            Class::Stale => 6,
            Class::Interrupted => 130,
            Class::Internal => 70,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CliError {
    pub class: Class,
    pub message: String,
    pub help: Option<String>,
}

impl CliError {
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        CliError {
            class,
            message: message.into(),
            help: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Class::Usage, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Class::Failed, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Class::Unavailable, message)
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Whether standard error gets colour: never with `NO_COLOR` set (<https://no-color.org>), always
/// with `CLICOLOR_FORCE` set (not `0`), else only on a terminal that is not `TERM=dumb`.
pub fn stderr_color() -> bool {
    use std::io::IsTerminal;
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if set("CLICOLOR_FORCE") && std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Prints an error on standard error: `error:` in red and `help:` in cyan where colour is on
/// ([`stderr_color`]), plain otherwise.
pub fn report(e: &CliError) {
    if !stderr_color() {
        eprintln!("{e}");
        return;
    }
    eprintln!("\x1b[31merror:\x1b[0m {}", redact_secrets(&e.message));
    if let Some(help) = &e.help {
        eprintln!("\x1b[36mhelp:\x1b[0m {}", redact_secrets(help));
    }
}

/// Prints a warning on standard error: `WARNING:` in yellow where colour is on.
pub fn warn_line(msg: &str) {
    if stderr_color() {
        eprintln!("\x1b[33mWARNING:\x1b[0m {}", redact_secrets(msg));
    } else {
        eprintln!("WARNING: {}", redact_secrets(msg));
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", redact_secrets(&self.message))?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {}", redact_secrets(help))?;
        }
        Ok(())
    }
}

/// `text` with the value of every `pin-value=` / `pin-source=` attribute (RFC 7512 `pkcs11:`
/// URIs) replaced by `REDACTED`: an error or warning that quotes what an operator typed never
/// prints a PIN back.
pub fn redact_secrets(text: &str) -> std::borrow::Cow<'_, str> {
    const KEYS: [&str; 2] = ["pin-value=", "pin-source="];
    let lower = text.to_ascii_lowercase();
    if !KEYS.iter().any(|k| lower.contains(k)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match KEYS.iter().find(|k| lower[i..].starts_with(**k)) {
            Some(k) => {
                out.push_str(&text[i..i + k.len()]);
                out.push_str("REDACTED");
                i += k.len();
                // The value runs to the next attribute or query separator, quote or space.
                while let Some(c) = text[i..].chars().next() {
                    if matches!(c, '&' | ';' | ',' | '\'' | '"' | ')') || c.is_whitespace() {
                        break;
                    }
                    i += c.len_utf8();
                }
            }
            None => {
                let c = text[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod redact_tests {
    use super::redact_secrets;

    #[test]
    fn pins_in_uris_never_come_back() {
        let t = "'pkcs11:token=ck1;object=r?pin-value=S3CRET&module-name=x' and pkcs11:token=a;PIN-VALUE=1234;object=b, pin-source=file:/etc/pin";
        let r = redact_secrets(t);
        assert!(
            !r.contains("S3CRET") && !r.contains("1234") && !r.contains("/etc/pin"),
            "{r}"
        );
        assert!(r.contains("pin-value=REDACTED&module-name=x'"), "{r}");
        assert!(r.contains("PIN-VALUE=REDACTED;object=b"), "{r}");
        assert_eq!(
            redact_secrets("no pin here, ünïcode"),
            "no pin here, ünïcode"
        );
    }
}

impl From<custkey::service::Error> for CliError {
    fn from(e: custkey::service::Error) -> Self {
        use custkey::service::ErrorKind;
        let class = match e.kind() {
            ErrorKind::Unavailable => Class::Unavailable,
            ErrorKind::InvalidArgument => Class::Usage,
            ErrorKind::NotFound
            | ErrorKind::Rule
            | ErrorKind::AccessDenied
            | ErrorKind::Authentication => Class::Failed,
            ErrorKind::Interrupted => Class::Interrupted,
        };
        CliError {
            class,
            message: e.message().to_string(),
            help: e.help().map(str::to_string),
        }
    }
}

/// Edit distance, for "did you mean".
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest names to `word`, best first, within a distance that scales with its length.
pub fn suggestions<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let lower = word.to_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .filter_map(|n| {
            let d = distance(word, n);
            let contains = lower.len() >= 4 && n.to_lowercase().contains(&lower);
            if d <= limit || contains {
                Some((if contains { d.min(limit) } else { d }, n))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("Get-Mailbox", "get-mailbox"), 0);
        assert_eq!(distance("Get-Mailbx", "Get-Mailbox"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_rank_closest_first() {
        let names = [
            "Get-OrganizationConfig",
            "Set-OrganizationConfig",
            "Get-Command",
        ];
        assert_eq!(
            suggestions("Get-OrganisationConfig", names),
            vec!["Get-OrganizationConfig", "Set-OrganizationConfig"]
        );
        assert!(suggestions("Frobnicate", names).is_empty());
    }
}
