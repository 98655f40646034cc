//! The definition table: every cmdlet and parameter is declared once here (in the
//! `cmdlets/*` files) and that one table drives parsing, `Get-Help`, `Get-Command`,
//! the generated docs and the completions.

use super::complete::CompletionCtx;
use super::error::CliError;
use super::output::Output;
use super::Ctx;

/// What a parameter takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    String,
    /// A multi-valued property: `a,b`, `a, b`, `'"a,b",c'`.
    StringList,
    Int {
        min: i64,
        max: i64,
    },
    /// `[bool]`: `$true`/`$false` (also `true`/`false`, `1`/`0`).
    Bool,
    /// `[switch]`: present means true; `-X:$false` turns it off.
    Switch,
    /// One of a fixed set, matched case-insensitively.
    Enum(&'static [&'static str]),
    /// A list of values from a fixed set.
    EnumList(&'static [&'static str]),
    /// A date: `12/31/9999`, `9999-12-31`, or RFC 3339.
    Date,
    /// A file system path.
    Path,
    /// `{ ... }`: a script block, given in a script (`Where-Object { $_.Name -like 'a*' }`).
    ScriptBlock,
    /// `[SecureString]`: a value ConvertTo-SecureString made (a password); never plain text
    /// from the command line.
    SecureString,
    /// Any value as it is: an object, an array, a string, a number (`Add-Member -Value`,
    /// `Set-AzResource -Properties`). On the command line, JSON text, else a string.
    Object,
}

impl Kind {
    /// The type name shown by `Get-Help`.
    pub fn type_name(&self) -> String {
        match self {
            Kind::String => "String".into(),
            Kind::StringList => "String[]".into(),
            Kind::Int { .. } => "Int32".into(),
            Kind::Bool => "Boolean".into(),
            Kind::Switch => "SwitchParameter".into(),
            Kind::Enum(v) => v.join(" | "),
            Kind::EnumList(v) => format!("{}[]", v.join(" | ")),
            Kind::Date => "DateTime".into(),
            Kind::Path => "String (path)".into(),
            Kind::ScriptBlock => "ScriptBlock".into(),
            Kind::SecureString => "SecureString".into(),
            Kind::Object => "PSObject".into(),
        }
    }
    pub fn takes_value(&self) -> bool {
        !matches!(self, Kind::Switch)
    }
    pub fn values(&self) -> &'static [&'static str] {
        match self {
            Kind::Enum(v) | Kind::EnumList(v) => v,
            Kind::Bool => &["$true", "$false"],
            _ => &[],
        }
    }
}

/// A source of completion candidates for a parameter's value (names from the store, ...).
pub type Completer = fn(&CompletionCtx) -> Vec<String>;

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Position for positional binding (0 is the first word after the cmdlet name).
    pub position: Option<u8>,
    pub default: Option<&'static str>,
    pub help: &'static str,
    pub aliases: &'static [&'static str],
    pub complete: Option<Completer>,
    /// PowerShell's ValueFromRemainingArguments: this positional list also takes every
    /// positional value after its own (`Write-Host a b c`).
    pub remaining: bool,
    /// Whether the value names files, and what the cmdlet does with them (which decides what a
    /// client sends to a service, and what comes back).
    pub files: Files,
}

/// What a parameter's value says about files on the caller's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Not a file.
    None,
    /// A path on the machine that runs the cmdlet (a PKCS#11 module, KMIP credentials, the
    /// service's certificate, a shell's profile): against a service, only its own operator
    /// gives one, in embedded mode there. Every `Kind::Path` parameter is this unless declared
    /// otherwise, so a new file parameter is refused from clients until it says what it does.
    Host,
    /// The cmdlet reads the file or folder (each of them, for a list): a client sends them.
    Reads,
    /// The cmdlet writes the file, or files into the folder: a service sends them back.
    Writes,
}

impl Param {
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Param {
            name,
            kind,
            required: false,
            position: None,
            default: None,
            help,
            aliases: &[],
            complete: None,
            remaining: false,
            files: if matches!(kind, Kind::Path) {
                Files::Host
            } else {
                Files::None
            },
        }
    }
    /// The cmdlet reads the files this names (a path, or a list of paths).
    pub const fn reads_files(mut self) -> Self {
        self.files = Files::Reads;
        self
    }
    /// The value names files on the machine that runs the cmdlet in a form a client cannot
    /// send (paths inside hashtables: `Import-AzKeyVaultSecurityDomain -Keys`): against a
    /// service it is refused, so that the service opens no path a client names.
    pub const fn host_files(mut self) -> Self {
        self.files = Files::Host;
        self
    }
    /// The cmdlet writes the file (or into the folder) this names.
    pub const fn writes_files(mut self) -> Self {
        self.files = Files::Writes;
        self
    }
    pub const fn remaining(mut self) -> Self {
        self.remaining = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn position(mut self, p: u8) -> Self {
        self.position = Some(p);
        self
    }
    pub const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Self {
        self.aliases = a;
        self
    }
    pub const fn complete(mut self, c: Completer) -> Self {
        self.complete = Some(c);
        self
    }
    /// The `--kebab-case` long form of the name.
    pub fn kebab(&self) -> String {
        kebab(self.name)
    }
}

/// `DataEncryptionPolicy` -> `data-encryption-policy`; `AzureKeyIDs` -> `azure-key-ids`.
pub fn kebab(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower && !is_plural_s(&chars, i));
            if boundary {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

// "IDs": the lowercase s ends an acronym rather than starting a word.
fn is_plural_s(chars: &[char], i: usize) -> bool {
    chars.get(i + 1) == Some(&'s') && chars.get(i + 2).is_none_or(|c| c.is_ascii_uppercase())
}

/// Normalised form used for matching: lowercase, no `-` or `_`.
pub fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    /// Reads only.
    None,
    /// Changes state: honours -WhatIf and -Confirm.
    Medium,
    /// Destroys something: prompts unless -Confirm:$false or -Force.
    High,
}

#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub title: &'static str,
    pub code: &'static str,
    pub output: &'static str,
    pub remarks: &'static str,
}

pub type Handler = fn(&mut Ctx, &super::args::Args) -> Result<Output, CliError>;

#[derive(Clone, Copy)]
pub struct Cmdlet {
    pub name: &'static str,
    /// The PowerShell module the real cmdlet comes from.
    pub module: &'static str,
    pub synopsis: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
    pub examples: &'static [Example],
    pub impact: Impact,
    /// Columns of the default table view; empty means a list view.
    pub table: &'static [&'static str],
    pub run: Handler,
}

impl Cmdlet {
    pub fn verb(&self) -> &'static str {
        self.name.split_once('-').map_or(self.name, |(v, _)| v)
    }
    pub fn noun(&self) -> &'static str {
        self.name.split_once('-').map_or("", |(_, n)| n)
    }
    /// Own parameters followed by the common ones; an own parameter of the same name as a
    /// common one (Select-Object's -Property) replaces it.
    pub fn all_params(&self) -> impl Iterator<Item = &'static Param> {
        let own = self.params;
        own.iter().chain(
            COMMON
                .iter()
                .filter(move |c| !own.iter().any(|p| p.name == c.name)),
        )
    }
}

pub const FORMATS: &[&str] = &["Table", "List", "Json", "Csv"];

pub const ERROR_ACTIONS: &[&str] = &["Stop", "Continue", "SilentlyContinue"];

/// Parameters every cmdlet takes.
pub const COMMON: &[Param] = &[
    Param::new(
        "Store",
        Kind::Path,
        "The service store: a SQLite file, or a postgres:// URL (docs/store.md). Default: $CUSTKEY_STORE, else $XDG_DATA_HOME/custkey/service.db.",
    ),
    Param::new(
        "DataDir",
        Kind::Path,
        "With a PostgreSQL store: the data directory of its vault files and content (docs/store.md). Default: $CUSTKEY_DATA_DIR, else $XDG_DATA_HOME/custkey.",
    ),
    Param::new(
        "Format",
        Kind::Enum(FORMATS),
        "Output form: Table, List (as Format-List), Json (stable property names) or Csv.",
    ),
    Param::new(
        "Property",
        Kind::StringList,
        "Only these properties (* for all). Without -Format this is Format-List with named properties.",
    ),
    Param::new(
        "WhatIf",
        Kind::Switch,
        "Show what would change and change nothing.",
    ),
    Param::new(
        "Confirm",
        Kind::Switch,
        "Prompt before changing anything; -Confirm:$false skips the prompt of a destructive cmdlet.",
    ),
    Param::new(
        "Verbose",
        Kind::Switch,
        "Describe each step on standard error.",
    ),
    Param::new(
        "ErrorAction",
        Kind::Enum(ERROR_ACTIONS),
        "In a script: Stop (the default) ends the script when this cmdlet fails; Continue reports the error and goes on; SilentlyContinue goes on without a word.",
    )
    .aliases(&["EA"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_splits_words_and_acronyms() {
        assert_eq!(kebab("DataEncryptionPolicy"), "data-encryption-policy");
        assert_eq!(kebab("AzureKeyIDs"), "azure-key-ids");
        assert_eq!(kebab("Identity"), "identity");
        assert_eq!(kebab("WhatIf"), "what-if");
        assert_eq!(kebab("PrimaryKeyVaultUri"), "primary-key-vault-uri");
        assert_eq!(
            kebab("SoftDeleteRetentionInDays"),
            "soft-delete-retention-in-days"
        );
        assert_eq!(kebab("UserPrincipalName"), "user-principal-name");
    }

    #[test]
    fn norm_ignores_case_and_dashes() {
        assert_eq!(norm("--azure-key-ids"), "azurekeyids");
        assert_eq!(norm("AzureKeyIDs"), "azurekeyids");
    }
}
