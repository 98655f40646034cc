//! Get-CustomerKeyCompletion, Install-CustomerKeyCompletion: the shell completion shims, for
//! users who have only the binary.

use std::path::PathBuf;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::generate;
use crate::cli::output::Output;
use crate::cli::Ctx;

const SHELLS: &[&str] = &["bash", "zsh", "fish", "pwsh"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Get-CustomerKeyCompletion",
        module: "custkey",
        synopsis: "Prints the completion script for a shell (bash, zsh, fish, pwsh).",
        description: "The same script as completions/ in the source tree, generated from the definition table. \
Source it, or let Install-CustomerKeyCompletion put it where the shell loads it.",
        params: &[Param::new("Shell", Kind::Enum(SHELLS), "The shell.").position(0).required()],
        examples: &[Example {
            title: "Complete custkey in this bash session",
            code: "source <(custkey Get-CustomerKeyCompletion bash)",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: get,
    },
    Cmdlet {
        name: "Install-CustomerKeyCompletion",
        module: "custkey",
        synopsis: "Writes the completion script where the shell loads it, and says what else to do.",
        description: "bash: $XDG_DATA_HOME/bash-completion/completions/custkey (bash-completion loads it on demand); \
zsh: $XDG_DATA_HOME/zsh/site-functions/_custkey (add that folder to fpath before compinit); fish: \
$XDG_CONFIG_HOME/fish/completions/custkey.fish (loaded on demand); pwsh: custkey.ps1 under $XDG_DATA_HOME/custkey, \
to dot-source from $PROFILE. -Path writes somewhere else. The file is replaced atomically.",
        params: &[
            Param::new("Shell", Kind::Enum(SHELLS), "The shell.").position(0).required(),
            Param::new("Path", Kind::Path, "Write the script to this file instead."),
        ],
        examples: &[Example {
            title: "Install bash completion for this user",
            code: "custkey Install-CustomerKeyCompletion -Shell bash",
            output: "",
            remarks: "A new bash session completes custkey.",
        }],
        impact: Impact::Medium,
        table: &[],
        run: install,
    },
];

/// The script for `shell`.
fn script(shell: &str) -> &'static str {
    match shell.to_ascii_lowercase().as_str() {
        "bash" => generate::BASH,
        "zsh" => generate::ZSH,
        "fish" => generate::FISH,
        _ => generate::POWERSHELL,
    }
}

fn get(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    Ok(Output::Text(
        script(args.str("Shell").unwrap_or("bash")).to_string(),
    ))
}

/// `$XDG_DATA_HOME` or `~/.local/share`; `$XDG_CONFIG_HOME` or `~/.config`.
fn base(var: &str, fallback: &str) -> Result<PathBuf, CliError> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(v));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(fallback)),
        None => Err(CliError::usage(format!("neither {var} nor HOME is set"))
            .with_help("give -Path, or set HOME")),
    }
}

fn install(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let shell = args.str("Shell").unwrap_or("bash").to_ascii_lowercase();
    let (path, then) = match args.str("Path") {
        Some(p) => (PathBuf::from(p), "load it from your shell's startup file"),
        None => match shell.as_str() {
            "bash" => (
                base("XDG_DATA_HOME", ".local/share")?.join("bash-completion/completions/custkey"),
                "a new bash session completes custkey (with the bash-completion package; else add 'source <that file>' to ~/.bashrc)",
            ),
            "zsh" => (
                base("XDG_DATA_HOME", ".local/share")?.join("zsh/site-functions/_custkey"),
                "add 'fpath=(~/.local/share/zsh/site-functions $fpath)' before 'compinit' in ~/.zshrc",
            ),
            "fish" => (
                base("XDG_CONFIG_HOME", ".config")?.join("fish/completions/custkey.fish"),
                "a new fish session completes custkey",
            ),
            _ => (
                base("XDG_DATA_HOME", ".local/share")?.join("custkey/custkey.ps1"),
                "dot-source it from $PROFILE: . <that file>",
            ),
        },
    };
    let target = path.display().to_string();
    if !ctx.should_process(&target, "Install-CustomerKeyCompletion", false)? {
        return Ok(Output::None);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::usage(format!("cannot create {}: {e}", dir.display()))
                .with_help("give -Path a file in a folder you may write to")
        })?;
    }
    custkey::fsio::write_atomic(&path, script(&shell).as_bytes()).map_err(|e| {
        CliError::usage(format!("cannot write {target}: {e}"))
            .with_help("give -Path a file in a folder you may write to")
    })?;
    eprintln!("Wrote {target}; {then}.");
    Ok(Output::None)
}
