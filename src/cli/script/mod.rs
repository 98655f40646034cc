//! Scripts: a small PowerShell language over the cmdlets (see docs/cli.md, "Scripts").
//! `custkey -Command '<text>'`, `custkey -File script.ps1 [args]`, a script on standard
//! input, and the interactive shell all run here.

pub mod ast;
pub mod eval;
pub mod lexer;
pub mod methods;
pub mod parser;
pub mod shell;
pub mod value;

use super::args::Args;
use super::def::{Cmdlet, Impact};
use super::error::CliError;
use super::output::Output;
use super::Ctx;

fn no_op(_: &mut Ctx, _: &Args) -> Result<Output, CliError> {
    Ok(Output::None)
}

/// The cmdlet a script's context points at before its first statement runs.
static SCRIPT: Cmdlet = Cmdlet {
    name: "<script>",
    module: "custkey",
    synopsis: "",
    description: "",
    params: &[],
    examples: &[],
    impact: Impact::None,
    table: &[],
    run: no_op,
};

/// One context for a whole script: the store and key cache are shared by its cmdlets.
pub fn context(interactive: bool) -> Result<Ctx, CliError> {
    let mut ctx = Ctx::new(&SCRIPT, &Args::default())?;
    ctx.set_interactive(interactive && ctx.interactive);
    Ok(ctx)
}

/// A parse error as `error: FILE:LINE:COL: message` with a help line (exit 2).
pub fn syntax_error(file: &str, e: &lexer::SyntaxError) -> CliError {
    CliError::usage(format!("{file}:{}: {}", e.pos, e.message))
        .with_help("see 'Scripts' in docs/cli.md for the grammar; nothing was run")
}

/// Reads a script from standard input, at most [`custkey::input::MAX_SCRIPT_BYTES`]; the
/// error is printed and its exit code returned.
pub fn read_stdin() -> Result<String, i32> {
    let limit = custkey::input::MAX_SCRIPT_BYTES;
    custkey::input::read_text_limited(std::io::stdin().lock(), limit).map_err(|e| {
        let msg = format!("cannot read the script from standard input: {e}");
        let err = match &e {
            custkey::input::ReadError::TooLarge { .. } => CliError::usage(msg).with_help(format!(
                "a script is at most {}; split it, or pipe data to a shorter one",
                custkey::input::size(limit)
            )),
            custkey::input::ReadError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                CliError::usage(msg).with_help("a script is UTF-8 text; nothing was run")
            }
            custkey::input::ReadError::Io(_) => CliError::unavailable(msg)
                .with_help("check what feeds standard input; nothing was run"),
        };
        crate::cli::error::report(&err);
        err.class.exit_code()
    })
}

/// Runs a script's text; returns the process exit code. `file` names it in messages.
pub fn run_text(text: &str, file: &str, args: Vec<String>, interactive: bool) -> i32 {
    run_text_in(text, file, args, interactive, None)
}

fn run_text_in(
    text: &str,
    file: &str,
    args: Vec<String>,
    interactive: bool,
    root: Option<String>,
) -> i32 {
    let limit = custkey::input::MAX_SCRIPT_BYTES;
    if text.len() as u64 > limit {
        let err = CliError::usage(format!(
            "the script {file} is larger than {}",
            custkey::input::size(limit)
        ))
        .with_help("split it into smaller scripts; nothing was run");
        crate::cli::error::report(&err);
        return err.class.exit_code();
    }
    let stmts = match parser::parse(text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", syntax_error(file, &e));
            return 2;
        }
    };
    let ctx = match context(interactive) {
        Ok(c) => c,
        Err(e) => {
            crate::cli::error::report(&e);
            return e.class.exit_code();
        }
    };
    let mut interp = eval::Interp::new(ctx, file, args);
    if let Some(r) = root {
        interp.set_var("PSScriptRoot", serde_json::Value::String(r));
    }
    match interp.run_top(&stmts, false) {
        Some(code) => code,
        None => interp.final_code(),
    }
}

/// `custkey -File PATH [args]`.
pub fn run_file(path: &str, args: Vec<String>) -> i32 {
    let read = std::fs::File::open(path)
        .map_err(custkey::input::ReadError::Io)
        .and_then(|f| custkey::input::read_text_limited(f, custkey::input::MAX_SCRIPT_BYTES));
    match read {
        Ok(text) => {
            // $PSScriptRoot: the script's folder, so it can find the files beside it.
            let dir = std::path::Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| ".".to_string(), |p| p.display().to_string());
            run_text_in(&text, path, args, true, Some(dir))
        }
        Err(e) => {
            let err = CliError::usage(format!("cannot read the script '{path}': {e}")).with_help(
                format!(
                    "give the path of a .ps1 file of at most {}: custkey -File ./setup.ps1",
                    custkey::input::size(custkey::input::MAX_SCRIPT_BYTES)
                ),
            );
            crate::cli::error::report(&err);
            2
        }
    }
}
