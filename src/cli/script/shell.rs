//! The interactive shell: `custkey` with no arguments on a terminal. Line editing and
//! history come from rustyline; history is kept 0600 in the data directory; Tab asks
//! the same completion engine as the shell completion shims.

use std::borrow::Cow;
use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use super::eval::{resolve_command, Interp};
use super::parser;
use crate::cli::complete;

struct Complete;

/// Splits the text of the command under the cursor into words, PowerShell-style: quotes
/// group, `|` and `;` start a new command. Returns (start of the last word, words).
pub fn words_at(line: &str) -> (usize, Vec<String>) {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None => match c {
                '|' | ';' | '{' | '(' => {
                    words.clear();
                    cur.clear();
                    in_word = false;
                    start = i + c.len_utf8();
                }
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                    start = i + c.len_utf8();
                }
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                    cur.push(c);
                }
                _ => {
                    in_word = true;
                    cur.push(c);
                }
            },
        }
    }
    words.push(cur);
    (start, words)
}

impl Completer for Complete {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, mut words) = words_at(&line[..pos]);
        // An alias completes as its cmdlet.
        if words.len() > 1 {
            if let Some(c) = resolve_command(&words[0]) {
                words[0] = c.name.to_string();
            }
        }
        let cands = complete::candidates(&words)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, cands))
    }
}

impl Hinter for Complete {
    type Hint = String;
}
impl Highlighter for Complete {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
/// Whether a syntax error only means "not finished yet": an open brace, parenthesis or
/// quote, or a trailing `|`, at the end of what was typed.
pub fn incomplete(input: &str) -> bool {
    match parser::parse(input) {
        Ok(_) => false,
        Err(e) => {
            let m = &e.message;
            m.contains("found the end of the script")
                || m.contains("missing its closing quote")
                || m.contains("is not closed")
                || (m.contains("empty pipe element") && input.trim_end().ends_with('|'))
        }
    }
}

impl Validator for Complete {
    /// Enter on an unfinished statement continues it on the next line, as PowerShell's `>>`.
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if incomplete(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}
impl Helper for Complete {}

fn history_path(data_dir: PathBuf) -> PathBuf {
    data_dir.join("history")
}

/// Saves the history and makes it owner-only (it may hold names and paths).
fn save_history(ed: &mut Editor<Complete, DefaultHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Create it 0600 before rustyline writes to it.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path);
    }
    if let Err(e) = ed.save_history(path) {
        eprintln!(
            "WARNING: cannot save the history to {}: {e}",
            path.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// Runs the shell until `exit` or end of input; returns the exit code.
pub fn run() -> i32 {
    let ctx = match super::context(true) {
        Ok(c) => c,
        Err(e) => {
            crate::cli::error::report(&e);
            return e.class.exit_code();
        }
    };
    let history = history_path(ctx.data_dir());
    let mut ed: Editor<Complete, DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return 3;
        }
    };
    ed.set_helper(Some(Complete));
    let _ = ed.load_history(&history);
    let mut interp = Interp::new(ctx, "<shell>", Vec::new());
    eprintln!(
        "custkey {} shell: PowerShell-style cmdlets and pipelines. Tab completes; 'exit' leaves.",
        env!("CARGO_PKG_VERSION")
    );
    let mut code = 0;
    loop {
        match ed.readline("PS custkey> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = ed.add_history_entry(line.as_str());
                match parser::parse(&line) {
                    Ok(stmts) => {
                        if let Some(c) = interp.run_top(&stmts, true) {
                            code = c;
                            break;
                        }
                    }
                    Err(e) => eprintln!("{}", super::syntax_error("<shell>", &e)),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: cannot read the line: {e}");
                code = 3;
                break;
            }
        }
    }
    save_history(&mut ed, &history);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_input_continues_on_the_next_line() {
        assert!(incomplete("Get-Mailbox | Where-Object {"));
        assert!(incomplete("Get-Mailbox |"));
        assert!(incomplete("$x = (Get-Mailbox"));
        assert!(incomplete("'open"));
        assert!(!incomplete("Get-Mailbox"));
        assert!(!incomplete("Get-Mailbox | | x"));
        assert!(!incomplete("$x = $a -bogus 1"));
    }

    #[test]
    fn words_of_the_command_under_the_cursor() {
        assert_eq!(words_at("Get-Mail"), (0, vec!["Get-Mail".to_string()]));
        let (start, w) = words_at("Get-Mailbox | Set-Mailbox -Data");
        assert_eq!(w, vec!["Set-Mailbox", "-Data"]);
        assert_eq!(start, 26);
        let (start, w) = words_at("Set-Mailbox 'a b' ");
        assert_eq!(w, vec!["Set-Mailbox", "'a b'", ""]);
        assert_eq!(start, 18);
    }
}
