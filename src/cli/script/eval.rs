//! The evaluator: walks the syntax tree with one [`Ctx`] for the whole script, so the
//! store and the key cache are opened once however many cmdlets run.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use super::ast::*;
use super::lexer::Pos;
use super::value::{self, collapse, interpolate, truthy};
use crate::cli::args::{bind_values, resolve_param};
use crate::cli::def::{Cmdlet, Kind};
use crate::cli::error::CliError;
use crate::cli::output::{self, Form, Output};
use crate::cli::{find_cmdlet, unknown_cmdlet, write_out, Ctx};

mod statements;

/// Aliases that resolve in scripts, as PowerShell's built-in ones.
pub const ALIASES: &[(&str, &str)] = &[
    ("%", "ForEach-Object"),
    ("?", "Where-Object"),
    ("fl", "Format-List"),
    ("foreach", "ForEach-Object"),
    ("ft", "Format-Table"),
    ("group", "Group-Object"),
    ("measure", "Measure-Object"),
    ("select", "Select-Object"),
    ("sort", "Sort-Object"),
    ("where", "Where-Object"),
];

/// Finds a cmdlet by name or alias.
pub fn resolve_command(name: &str) -> Option<&'static Cmdlet> {
    let target = ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(name))
        .map_or(name, |(_, t)| t);
    find_cmdlet(target)
}

/// Why evaluation stopped early.
#[derive(Debug)]
pub enum Interrupt {
    /// `exit N`.
    Exit(i32),
    /// A failure that stops the script, and where.
    Fail(CliError, Pos),
    /// A failure inside an argument (reported already, under `Continue` or
    /// `SilentlyContinue`): it ends the statement it is in, as in PowerShell, and the script
    /// goes on with the next statement.
    EndStatement,
    /// `break` and `continue`, up to the innermost loop.
    Break,
    Continue,
    /// `return`: up to the function (or the script).
    Return,
}

/// How deeply script functions may call one another.
const MAX_CALL_DEPTH: usize = 100;

/// What a loop body asks of its loop.
enum Flow {
    Next,
    Break,
}

type EResult<T> = Result<T, Interrupt>;

/// From how many piped objects a cmdlet run once per object shows its progress on a terminal.
const PROGRESS_FROM: usize = 100;

/// What flows between pipeline elements.
#[derive(Debug, Default)]
struct Stream {
    items: Vec<Value>,
    /// Columns of the default table view of the cmdlet that made the objects.
    view: Vec<String>,
    form: Option<Form>,
    properties: Option<Vec<String>>,
    /// The items are preformatted text (Format-List), printed as they are.
    raw: bool,
}

impl Stream {
    fn into_value(self) -> Value {
        if self.raw {
            let text: String = self.items.iter().map(interpolate).collect();
            return Value::String(text);
        }
        collapse(self.items)
    }
}

enum ArgVal {
    V(Value),
    Block(Rc<Vec<Stmt>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Stop,
    Continue,
    Silent,
}

fn action_of(s: &str) -> Action {
    match s.to_ascii_lowercase().as_str() {
        "continue" => Action::Continue,
        "silentlycontinue" | "ignore" => Action::Silent,
        _ => Action::Stop,
    }
}

pub struct Interp {
    ctx: Ctx,
    vars: HashMap<String, Value>,
    /// The script's name in messages (`setup.ps1`, `<command>`, `<stdin>`).
    pub file: String,
    /// `$?`: whether the last statement succeeded.
    last_ok: bool,
    /// Set when a cmdlet failed under -ErrorAction Continue in the current statement.
    failed: bool,
    /// Failures handled without stopping (`Continue`, `SilentlyContinue`) so far.
    swallowed: u64,
    /// A non-zero status a cmdlet of the current statement succeeded with (4: changes pending).
    status: i32,
    /// The script's functions, by lower-case name.
    functions: HashMap<String, Rc<Function>>,
    /// How many function calls are running.
    depth: usize,
    /// The errors the running catch blocks handle, innermost last: the record a block sees as
    /// `$_` and the error itself, which a bare `throw` (or `throw $_`) raises again unchanged.
    caught: Vec<(Value, CliError)>,
}

/// A cmdlet's output as the stream the next pipeline element reads.
fn stream_of(
    out: Output,
    view: Vec<String>,
    form: Option<Form>,
    properties: Option<Vec<String>>,
) -> Stream {
    match out {
        Output::None => Stream::default(),
        Output::Text(t) => Stream {
            items: vec![Value::String(t)],
            raw: true,
            ..Stream::default()
        },
        Output::Objects(recs) | Output::List(recs) => Stream {
            items: recs.into_iter().map(Value::Object).collect(),
            view,
            form,
            properties,
            raw: false,
        },
        Output::Values(v) => Stream {
            items: v,
            view,
            form,
            properties,
            raw: false,
        },
    }
}

impl Interp {
    pub fn new(ctx: Ctx, file: &str, args: Vec<String>) -> Interp {
        let mut vars = HashMap::new();
        vars.insert(
            "args".to_string(),
            Value::Array(args.into_iter().map(Value::String).collect()),
        );
        vars.insert("lastexitcode".to_string(), Value::from(0));
        vars.insert(
            "erroractionpreference".to_string(),
            Value::String("Stop".into()),
        );
        Interp {
            ctx,
            vars,
            file: file.to_string(),
            last_ok: true,
            failed: false,
            swallowed: 0,
            status: 0,
            functions: HashMap::new(),
            depth: 0,
            caught: Vec::new(),
        }
    }

    /// Sets a variable before the script runs (`$PSScriptRoot`).
    pub fn set_var(&mut self, name: &str, v: Value) {
        self.vars.insert(name.to_ascii_lowercase(), v);
    }

    /// The exit code a failed statement leaves in `$LASTEXITCODE`.
    pub fn last_exit_code(&self) -> i32 {
        self.vars
            .get("lastexitcode")
            .and_then(Value::as_i64)
            .map_or(0, |c| c as i32)
    }

    fn preference(&self) -> Action {
        match self.vars.get("erroractionpreference") {
            Some(Value::String(s)) => action_of(s),
            _ => Action::Stop,
        }
    }

    /// Prints an error as `error: FILE:LINE:COL: message` and its help line.
    pub fn report(&self, e: &CliError, pos: Pos) {
        let mut msg = format!("error: {}:{pos}: {}", self.file, e.message);
        if let Some(h) = &e.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        eprintln!("{}", crate::cli::error::redact_secrets(&msg));
    }

    fn note_failure(&mut self, e: &CliError) {
        self.failed = true;
        self.swallowed += 1;
        self.vars
            .insert("lastexitcode".into(), Value::from(e.class.exit_code()));
    }

    /// Runs top-level statements, printing what each outputs. `keep_going` (the interactive
    /// shell) reports a failure and goes on; otherwise a failure ends the run unless
    /// `$ErrorActionPreference` is Continue. Returns the exit code when the run must end.
    pub fn run_top(&mut self, stmts: &[Stmt], keep_going: bool) -> Option<i32> {
        let mut i = 0;
        while i < stmts.len() {
            // A run of like cmdlet statements goes to the cmdlet's batch form as a pipeline's
            // objects do (see statements.rs); each statement keeps its own output and failure.
            let n = self.batchable_run(&stmts[i..]);
            if n >= 2 {
                if let Some(end) = self.run_statements_batched(&stmts[i..i + n], keep_going) {
                    return end;
                }
                i += n;
                continue;
            }
            self.failed = false;
            self.status = 0;
            let r = self.statement(&stmts[i], None);
            i += 1;
            if let Some(end) = self.after_top(r, keep_going) {
                return end;
            }
        }
        None
    }

    /// What a top-level statement's result means for the run: `None` to go on, else what
    /// [`Interp::run_top`] returns.
    fn after_top(&mut self, r: EResult<()>, keep_going: bool) -> Option<Option<i32>> {
        match r {
            Ok(()) => self.last_ok = !self.failed,
            // statement() ends the statement itself; nothing reaches here.
            Err(Interrupt::EndStatement) => self.last_ok = false,
            // `return`, or `break`/`continue` outside a loop: the script ends there, as
            // PowerShell ends it.
            Err(Interrupt::Return | Interrupt::Break | Interrupt::Continue) => {
                return Some(if keep_going {
                    None
                } else {
                    Some(self.final_code())
                })
            }
            Err(Interrupt::Exit(code)) => return Some(Some(code)),
            Err(Interrupt::Fail(e, pos)) => {
                self.last_ok = false;
                self.note_failure(&e);
                let pref = self.preference();
                if pref != Action::Silent || !keep_going {
                    self.report(&e, pos);
                }
                // Ctrl-C ends a script whatever the preference.
                let stop = pref == Action::Stop || e.class == crate::cli::error::Class::Interrupted;
                if !keep_going && stop {
                    return Some(Some(e.class.exit_code()));
                }
            }
        }
        None
    }

    /// The exit code of a script that ran to its end: 0 (or the status its last statement's
    /// cmdlet succeeded with, such as 4 for changes pending), or `$LASTEXITCODE` when its last
    /// statement failed (under Continue).
    pub fn final_code(&self) -> i32 {
        if self.last_ok {
            self.status
        } else {
            match self.last_exit_code() {
                0 => 1,
                c => c,
            }
        }
    }

    fn statement(&mut self, s: &Stmt, capture: Option<&mut Vec<Value>>) -> EResult<()> {
        match self.statement_inner(s, capture) {
            Err(Interrupt::EndStatement) => Ok(()),
            r => r,
        }
    }

    /// Runs a loop's body once: whether the loop goes on.
    fn loop_body(&mut self, body: &[Stmt], mut capture: Option<&mut Vec<Value>>) -> EResult<Flow> {
        for st in body {
            match self.statement(st, capture.as_deref_mut()) {
                Ok(()) => {}
                Err(Interrupt::Break) => return Ok(Flow::Break),
                Err(Interrupt::Continue) => return Ok(Flow::Next),
                Err(e) => return Err(e),
            }
        }
        Ok(Flow::Next)
    }

    fn condition(&mut self, p: &Pipeline) -> EResult<bool> {
        Ok(truthy(&self.pipeline(p)?.into_value()))
    }

    fn statement_inner(&mut self, s: &Stmt, mut capture: Option<&mut Vec<Value>>) -> EResult<()> {
        match &s.kind {
            StmtKind::Foreach(name, items, body) => {
                let lower = name.to_ascii_lowercase();
                for item in value::items(self.pipeline(items)?.into_value()) {
                    self.vars.insert(lower.clone(), item);
                    if let Flow::Break = self.loop_body(body, capture.as_deref_mut())? {
                        break;
                    }
                }
                Ok(())
            }
            StmtKind::While(cond, body) => {
                while self.condition(cond)? {
                    if let Flow::Break = self.loop_body(body, capture.as_deref_mut())? {
                        break;
                    }
                }
                Ok(())
            }
            StmtKind::Do(body, cond, until) => {
                loop {
                    if let Flow::Break = self.loop_body(body, capture.as_deref_mut())? {
                        break;
                    }
                    if self.condition(cond)? == *until {
                        break;
                    }
                }
                Ok(())
            }
            StmtKind::For(init, cond, step, body) => {
                if let Some(i) = init {
                    self.statement(i, capture.as_deref_mut())?;
                }
                loop {
                    if let Some(c) = cond {
                        if !self.condition(c)? {
                            break;
                        }
                    }
                    if let Flow::Break = self.loop_body(body, capture.as_deref_mut())? {
                        break;
                    }
                    if let Some(st) = step {
                        self.statement(st, capture.as_deref_mut())?;
                    }
                }
                Ok(())
            }
            StmtKind::Switch(sw) => self.switch(sw, capture),
            StmtKind::SetPlace(target, p) => {
                if !is_place(target) {
                    return Err(Interrupt::Fail(
                        CliError::usage(
                            "This variable is read-only: its properties cannot be set.",
                        )
                        .with_help("copy it into a variable of your own first"),
                        s.pos,
                    ));
                }
                let v = match p.elements.as_slice() {
                    [Element::Expr(e)] => self.expr(e)?,
                    _ => self.pipeline(p)?.into_value(),
                };
                if self.set_place(target, v)? {
                    Ok(())
                } else {
                    let holder = match &target.kind {
                        ExprKind::Member(inner, _) | ExprKind::Index(inner, _) => {
                            self.expr(inner)?
                        }
                        _ => Value::Null,
                    };
                    Err(Interrupt::Fail(
                        CliError::usage(format!(
                            "Cannot set a property or element of a [{}] here.",
                            super::methods::type_name(&holder)
                        ))
                        .with_help("properties can be set on objects ($h = @{}; $h.Name = 'x'), elements on arrays ($a[0] = 1)"),
                        s.pos,
                    ))
                }
            }
            StmtKind::Break => Err(Interrupt::Break),
            StmtKind::Continue => Err(Interrupt::Continue),
            StmtKind::Return(value) => {
                if let Some(p) = value {
                    let v = match p.elements.as_slice() {
                        [Element::Expr(e)] => value::items(self.expr(e)?),
                        _ => self.pipeline(p)?.items,
                    };
                    match capture {
                        Some(out) => out.extend(v),
                        None => self
                            .print(Stream {
                                items: v,
                                ..Stream::default()
                            })
                            .map_err(|e| Interrupt::Fail(e, s.pos))?,
                    }
                }
                Err(Interrupt::Return)
            }
            StmtKind::Throw(value) => Err(self.throw(value.as_ref(), s.pos)?),
            StmtKind::Function(f) => {
                self.functions
                    .insert(f.name.to_ascii_lowercase(), f.clone());
                Ok(())
            }
            StmtKind::Try(body, catches, finally) => {
                let mut result = (|| {
                    for st in body.iter() {
                        self.statement(st, capture.as_deref_mut())?;
                    }
                    Ok(())
                })();
                if let Err(Interrupt::Fail(e, pos)) = &result {
                    if let Some(c) = catches.iter().find(|c| catches_all(&c.types)) {
                        let record = self.error_record(e, *pos);
                        self.caught.push((record.clone(), e.clone()));
                        let saved = self.vars.insert("_".into(), record);
                        result = (|| {
                            for st in c.body.iter() {
                                self.statement(st, capture.as_deref_mut())?;
                            }
                            Ok(())
                        })();
                        self.caught.pop();
                        match saved {
                            Some(v) => self.vars.insert("_".into(), v),
                            None => self.vars.remove("_"),
                        };
                    }
                }
                if let Some(f) = finally {
                    // The finally block runs whatever happened; its own failure wins.
                    for st in f.iter() {
                        self.statement(st, capture.as_deref_mut())?;
                    }
                }
                result
            }
            StmtKind::Step(name, by) => {
                let lower = name.to_ascii_lowercase();
                let old = self.var(name);
                if !matches!(old, Value::Null | Value::Number(_)) {
                    return Err(Interrupt::Fail(
                        CliError::usage(format!(
                            "${name}{} needs a number, and ${name} holds \"{}\".",
                            if *by > 0 { "++" } else { "--" },
                            interpolate(&old)
                        )),
                        s.pos,
                    ));
                }
                let v =
                    value::add(&old, &Value::from(*by)).map_err(|e| Interrupt::Fail(e, s.pos))?;
                self.vars.insert(lower, v);
                Ok(())
            }
            StmtKind::If(branches, otherwise) => {
                let mut body = otherwise.as_ref();
                for (cond, block) in branches {
                    if truthy(&self.pipeline(cond)?.into_value()) {
                        body = Some(block);
                        break;
                    }
                }
                if let Some(b) = body {
                    for st in b.iter() {
                        self.statement(st, capture.as_deref_mut())?;
                    }
                }
                Ok(())
            }
            StmtKind::Exit(code) => {
                let code = match code {
                    None => 0,
                    Some(e) => {
                        let v = self.expr(e)?;
                        match &v {
                            Value::Number(n) => n.as_i64().unwrap_or(1) as i32,
                            Value::String(t) => t.trim().parse().unwrap_or(1),
                            Value::Null => 0,
                            other => i32::from(truthy(other)),
                        }
                    }
                };
                Err(Interrupt::Exit(code))
            }
            StmtKind::Assign(name, p) => {
                let lower = name.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "true" | "false" | "null" | "?" | "_" | "psitem"
                ) || lower.starts_with("env:")
                {
                    return Err(Interrupt::Fail(
                        CliError::usage(format!(
                            "Cannot overwrite variable ${name}: it is read-only."
                        ))
                        .with_help("choose another name"),
                        s.pos,
                    ));
                }
                // An expression keeps its value (`$a = @(1)` is an array of one, `$a += x`
                // appends to it); only a pipeline's output collapses to one value or an array.
                let v = match p.elements.as_slice() {
                    [Element::Expr(e)] => self.expr(e)?,
                    _ => self.pipeline(p)?.into_value(),
                };
                self.vars.insert(lower, v);
                Ok(())
            }
            StmtKind::Pipeline(p) => {
                let stream = self.pipeline(p)?;
                match capture {
                    Some(out) => {
                        if stream.raw {
                            out.push(stream.into_value());
                        } else {
                            out.extend(stream.items);
                        }
                        Ok(())
                    }
                    None => self.print(stream).map_err(|e| Interrupt::Fail(e, s.pos)),
                }
            }
        }
    }

    /// Whether a `switch` pattern matches the value: a script block is a condition on `$_`,
    /// anything else compares as the switch's mode says.
    fn switch_match(&mut self, sw: &Switch, pattern: &Expr, item: &Value) -> EResult<bool> {
        if let ExprKind::Block(b) = &pattern.kind {
            return Ok(truthy(&collapse(self.capture(b)?)));
        }
        let p = self.expr(pattern)?;
        let fail = |err| Interrupt::Fail(err, pattern.pos);
        if sw.mode == SwitchMode::Regex {
            let hit = value::captures(&interpolate(item), &interpolate(&p), !sw.case_sensitive)
                .map_err(|err| {
                    fail(
                        CliError::usage(format!("{} (a pattern of the switch)", err.message))
                            .with_help("switch -Regex takes .NET-style regular expressions"),
                    )
                })?;
            let matched = hit.is_some();
            if let Some(m) = hit {
                self.vars.insert("matches".into(), m);
            }
            return Ok(matched);
        }
        if sw.case_sensitive {
            let (text, pat) = (interpolate(item), interpolate(&p));
            if sw.mode == SwitchMode::Exact {
                return Ok(text == pat);
            }
            let re = format!(
                "^{}$",
                regex::escape(&pat).replace("\\*", ".*").replace("\\?", ".")
            );
            return Ok(regex::Regex::new(&re).is_ok_and(|r| r.is_match(&text)));
        }
        let op = match sw.mode {
            SwitchMode::Exact => BinOp::Eq,
            SwitchMode::Wildcard => BinOp::Like,
            SwitchMode::Regex => BinOp::Match,
        };
        value::compare_scalar(op, item, &p).map_err(fail)
    }

    /// `switch (value) { ... }`: for each element of the value, every clause whose pattern
    /// matches runs in order with `$_` the element; `default` runs when none did. `break` ends
    /// the switch; `continue` goes on with the next element.
    fn switch(&mut self, sw: &Switch, mut capture: Option<&mut Vec<Value>>) -> EResult<()> {
        let subject = match sw.subject.elements.as_slice() {
            [Element::Expr(e)] => self.expr(e)?,
            _ => self.pipeline(&sw.subject)?.into_value(),
        };
        let items = match subject {
            Value::Array(a) => a,
            other => vec![other],
        };
        let saved = self.vars.remove("_");
        let result = (|| -> EResult<()> {
            'items: for item in items {
                self.vars.insert("_".into(), item.clone());
                let mut matched = false;
                for (pattern, body) in &sw.clauses {
                    self.vars.insert("_".into(), item.clone());
                    if !self.switch_match(sw, pattern, &item)? {
                        continue;
                    }
                    matched = true;
                    for st in body.iter() {
                        match self.statement(st, capture.as_deref_mut()) {
                            Ok(()) => {}
                            Err(Interrupt::Break) => break 'items,
                            Err(Interrupt::Continue) => continue 'items,
                            Err(e) => return Err(e),
                        }
                    }
                }
                if let (false, Some(body)) = (matched, &sw.default) {
                    self.vars.insert("_".into(), item.clone());
                    for st in body.iter() {
                        match self.statement(st, capture.as_deref_mut()) {
                            Ok(()) => {}
                            Err(Interrupt::Break) => break 'items,
                            Err(Interrupt::Continue) => continue 'items,
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Ok(())
        })();
        match saved {
            Some(v) => self.vars.insert("_".into(), v),
            None => self.vars.remove("_"),
        };
        result
    }

    fn print(&self, stream: Stream) -> Result<(), CliError> {
        if stream.items.is_empty() {
            return Ok(());
        }
        let text = if stream.raw {
            stream.items.iter().map(interpolate).collect::<String>()
        } else {
            let view: Vec<&str> = stream.view.iter().map(String::as_str).collect();
            output::render_values(
                &stream.items,
                &view,
                stream.form,
                stream.properties.as_deref(),
                crate::cli::terminal_width(),
            )?
        };
        write_out(&text)
    }

    /// Runs statements and collects their output as values (script blocks, `$( )`, `@( )`).
    fn capture(&mut self, stmts: &[Stmt]) -> EResult<Vec<Value>> {
        let mut out = Vec::new();
        for s in stmts {
            self.statement(s, Some(&mut out))?;
        }
        Ok(out)
    }

    fn pipeline(&mut self, p: &Pipeline) -> EResult<Stream> {
        let mut stream: Option<Stream> = None;
        // Where the objects piped in came from, when that is a place (`$r.Properties`), and
        // whether it held an array.
        let mut source: Option<(&Expr, bool)> = None;
        for el in &p.elements {
            stream = Some(match el {
                Element::Expr(e) => {
                    let v = self.expr(e)?;
                    if is_place(e) {
                        source = Some((e, v.is_array()));
                    }
                    Stream {
                        items: value::items(v),
                        ..Stream::default()
                    }
                }
                Element::Command(c) if self.changes_in_place(c) => {
                    self.ctx.changed_in_place = None;
                    let out = self.command(c, stream.take())?;
                    if let Some(changed) = self.ctx.changed_in_place.take() {
                        self.store_changed(c, source.take(), changed)?;
                    }
                    out
                }
                Element::Command(c) => {
                    source = None;
                    self.command(c, stream.take())?
                }
            });
        }
        Ok(stream.unwrap_or_default())
    }

    /// Whether the command is a cmdlet that changes its objects in place (Add-Member), not a
    /// script function of that name.
    fn changes_in_place(&self, c: &Command) -> bool {
        !self.functions.contains_key(&c.name.to_ascii_lowercase())
            && resolve_command(&c.name).is_some_and(|x| x.name == "Add-Member")
    }

    /// Objects are references in PowerShell: Add-Member's changes show wherever the object is
    /// named. Here values are copied, so the changed objects are stored back where they came
    /// from: the place piped in (`$r.Properties | Add-Member ...`), or the place given to
    /// -InputObject.
    fn store_changed(
        &mut self,
        c: &Command,
        piped: Option<(&Expr, bool)>,
        changed: Vec<Value>,
    ) -> EResult<()> {
        if let Some((e, was_array)) = piped {
            let v = if was_array {
                Value::Array(changed)
            } else {
                collapse(changed)
            };
            self.set_place(e, v)?;
            return Ok(());
        }
        let Some(cmdlet) = resolve_command(&c.name) else {
            return Ok(());
        };
        let mut args = c.args.iter();
        while let Some(a) = args.next() {
            let CmdArg::Param { name, value, .. } = a else {
                continue;
            };
            if !matches!(resolve_param(cmdlet, name), Ok(p) if p.name == "InputObject") {
                continue;
            }
            let e = match value {
                Some(e) => Some(e),
                None => match args.next() {
                    Some(CmdArg::Value(e)) => Some(e),
                    _ => None,
                },
            };
            if let Some(e) = e.filter(|e| is_place(e)) {
                self.set_place(e, collapse(changed))?;
                return Ok(());
            }
            break;
        }
        Ok(())
    }

    /// Stores a value in a place: a variable, a property of one (`$r.Properties`), an element
    /// (`$a[0]`, `$h['k']`), to any depth. A place that does not hold an object or array where
    /// the path needs one is left as it is.
    fn set_place(&mut self, e: &Expr, v: Value) -> EResult<bool> {
        match &e.kind {
            ExprKind::Var(n) => {
                self.vars.insert(n.to_ascii_lowercase(), v);
                Ok(true)
            }
            ExprKind::Member(inner, name) => {
                let mut c = self.expr(inner)?;
                let Value::Object(m) = &mut c else {
                    return Ok(false);
                };
                let key = m
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(name))
                    .cloned()
                    .unwrap_or_else(|| name.clone());
                m.insert(key, v);
                value::check_size(&c, "the object").map_err(|err| Interrupt::Fail(err, e.pos))?;
                self.set_place(inner, c)
            }
            ExprKind::Index(inner, idx) => {
                let mut c = self.expr(inner)?;
                let i = self.expr(idx)?;
                match (&mut c, &i) {
                    (Value::Array(a), Value::Number(n)) => {
                        let len = a.len() as i64;
                        let k = n.as_i64().map(|k| if k < 0 { len + k } else { k });
                        match k.filter(|k| (0..len).contains(k)) {
                            Some(k) => a[k as usize] = v,
                            None => {
                                return Err(Interrupt::Fail(
                                    CliError::usage(format!(
                                        "Index {} was outside the bounds of the array of {len}.",
                                        interpolate(&i)
                                    ))
                                    .with_help("$a += $x appends to an array"),
                                    e.pos,
                                ))
                            }
                        }
                    }
                    (Value::Object(m), Value::String(name)) => {
                        let key = m
                            .keys()
                            .find(|k| k.eq_ignore_ascii_case(name))
                            .cloned()
                            .unwrap_or_else(|| name.clone());
                        m.insert(key, v);
                    }
                    _ => return Ok(false),
                }
                value::check_size(&c, "the object").map_err(|err| Interrupt::Fail(err, e.pos))?;
                self.set_place(inner, c)
            }
            _ => Ok(false),
        }
    }

    fn command(&mut self, cmd: &Command, input: Option<Stream>) -> EResult<Stream> {
        // A script's own function comes before a cmdlet of the same name, as in PowerShell.
        if let Some(f) = self.functions.get(&cmd.name.to_ascii_lowercase()).cloned() {
            return self.call_function(&f, cmd, input);
        }
        let Some(cmdlet) = resolve_command(&cmd.name) else {
            return self.handle(unknown_cmdlet(&cmd.name), cmd.pos, self.preference());
        };
        // -ErrorAction for this command (else the preference) decides how its failures,
        // binding included, are handled.
        let mut action = self.preference();
        for (k, a) in cmd.args.iter().enumerate() {
            let CmdArg::Param { name, value, .. } = a else {
                continue;
            };
            if !matches!(resolve_param(cmdlet, name), Ok(p) if p.name == "ErrorAction") {
                continue;
            }
            let e = match (value, cmd.args.get(k + 1)) {
                (Some(e), _) | (None, Some(CmdArg::Value(e))) => e,
                _ => continue,
            };
            if let Value::String(s) = self.expr(e)? {
                action = action_of(&s);
            }
        }
        // Evaluate the arguments. One that fails ends the statement, also when the failure was
        // only reported (`-NotBefore (Get-Date "bad")` must not create the key without it).
        let failures_before = self.swallowed;
        let mut named: Vec<(String, Option<ArgVal>)> = Vec::new();
        let mut positionals: Vec<ArgVal> = Vec::new();
        let mut i = 0;
        while i < cmd.args.len() {
            let a = &cmd.args[i];
            i += 1;
            match a {
                CmdArg::Value(e) => positionals.push(self.arg(e)?),
                CmdArg::Param {
                    name,
                    value: Some(e),
                    ..
                } => {
                    let v = self.arg(e)?;
                    named.push((name.clone(), Some(v)));
                }
                CmdArg::Param {
                    name,
                    value: None,
                    pos,
                    ..
                } => {
                    let takes = match resolve_param(cmdlet, name) {
                        Ok(p) => p.kind.takes_value(),
                        Err(e) => return self.handle(e, *pos, action),
                    };
                    if !takes {
                        named.push((name.clone(), None));
                        continue;
                    }
                    let v = match cmd.args.get(i) {
                        Some(CmdArg::Value(e)) => Some(self.arg(e)?),
                        // A value that begins with '-': `-Identity -odd-name-`.
                        Some(CmdArg::Param {
                            text, value: None, ..
                        }) => Some(ArgVal::V(Value::String(text.clone()))),
                        _ => None,
                    };
                    if v.is_some() {
                        i += 1;
                    }
                    named.push((name.clone(), v));
                }
            }
        }
        if self.swallowed > failures_before {
            return Err(Interrupt::EndStatement);
        }
        // Script blocks: Where-Object { } and ForEach-Object { }.
        let mut block = None;
        for (n, v) in named.iter_mut() {
            if let Some(ArgVal::Block(b)) = v {
                match resolve_param(cmdlet, n) {
                    Ok(p) if matches!(p.kind, Kind::ScriptBlock) => {
                        block = Some(b.clone());
                        *v = None;
                    }
                    _ => {
                        return self.handle(
                            CliError::usage(format!(
                                "The parameter -{n} of {} does not take a script block.",
                                cmdlet.name
                            ))
                            .with_help(
                                "pass a value, or a subexpression ( ... ) that computes one",
                            ),
                            cmd.pos,
                            action,
                        )
                    }
                }
            }
        }
        named.retain(|(n, v)| {
            v.is_some()
                || !matches!(
                    resolve_param(cmdlet, n).map(|p| p.kind),
                    Ok(Kind::ScriptBlock)
                )
        });
        if let Some(pos) = positionals
            .iter()
            .position(|p| matches!(p, ArgVal::Block(_)))
        {
            if let ArgVal::Block(b) = positionals.remove(pos) {
                block = Some(b);
            }
        }
        let named: Vec<(String, Option<Value>)> = named
            .into_iter()
            .map(|(n, v)| {
                (
                    n,
                    v.map(|v| match v {
                        ArgVal::V(v) => v,
                        ArgVal::Block(_) => Value::Null,
                    }),
                )
            })
            .collect();
        let positionals: Vec<Value> = positionals
            .into_iter()
            .map(|v| match v {
                ArgVal::V(v) => v,
                ArgVal::Block(_) => Value::Null,
            })
            .collect();

        if let Some(b) = block {
            return self.block_command(cmdlet, &b, input, cmd.pos, action);
        }

        let utility = cmdlet.module.starts_with("Microsoft.PowerShell");
        if let (Some(batch), Some(inp)) = (crate::cli::cmdlets::batch(cmdlet), &input) {
            // Against a service each object is one request (the batch form runs in-process).
            if !utility && inp.items.len() > 1 && !self.ctx.is_remote() {
                let items = input.map(|i| i.items).unwrap_or_default();
                return self.batch_command(
                    cmdlet,
                    batch,
                    &named,
                    &positionals,
                    &items,
                    cmd.pos,
                    action,
                );
            }
        }
        match input {
            Some(inp) if !utility => {
                let mut out = Stream {
                    view: cmdlet.table.iter().map(|s| s.to_string()).collect(),
                    ..Stream::default()
                };
                // Many objects: a progress bar on a terminal, and Ctrl-C stops before the next.
                let bar = (inp.items.len() >= PROGRESS_FROM).then(|| {
                    use custkey::service::Progress;
                    let b = crate::cli::progress::Bar::new(
                        &self.ctx,
                        format!("{} over {} objects", cmdlet.name, inp.items.len()),
                    );
                    b.start("objects", Some(inp.items.len() as u64));
                    b
                });
                for (done, item) in inp.items.iter().enumerate() {
                    if let Some(b) = &bar {
                        use custkey::service::Progress;
                        b.advance(done as u64);
                        if b.cancelled() {
                            return Err(Interrupt::Fail(
                                CliError::new(
                                    crate::cli::error::Class::Interrupted,
                                    format!(
                                        "{} was interrupted after {done} of {} objects; those are done",
                                        cmdlet.name,
                                        inp.items.len()
                                    ),
                                )
                                .with_help("run the pipeline again for the rest"),
                                cmd.pos,
                            ));
                        }
                    }
                    let s = self.invoke(
                        cmdlet,
                        &named,
                        &positionals,
                        Some(item),
                        None,
                        cmd.pos,
                        action,
                    )?;
                    out.raw |= s.raw;
                    out.form = s.form.or(out.form);
                    out.properties = s.properties.or(out.properties);
                    out.items.extend(s.items);
                }
                Ok(out)
            }
            inp => self.invoke(cmdlet, &named, &positionals, None, inp, cmd.pos, action),
        }
    }

    /// Objects piped into a cmdlet with a batch form: bound one by one as they would be for
    /// one call each, then handed over in runs ([`crate::cli::cmdlets::Batch`]). A failing
    /// object (binding or running) is handled as a failing call would be, after the objects
    /// before it were applied; under -ErrorAction Continue the rest go on as a new run.
    #[allow(clippy::too_many_arguments)]
    fn batch_command(
        &mut self,
        cmdlet: &'static Cmdlet,
        batch: crate::cli::cmdlets::Batch,
        named: &[(String, Option<Value>)],
        positionals: &[Value],
        items: &[Value],
        pos: Pos,
        action: Action,
    ) -> EResult<Stream> {
        let mut out = Stream {
            view: cmdlet.table.iter().map(|s| s.to_string()).collect(),
            ..Stream::default()
        };
        let mut pending = Vec::with_capacity(items.len());
        for item in items {
            match bind_values(cmdlet, named, positionals, Some(item)) {
                Ok(a) => pending.push(a),
                Err(e) => {
                    self.run_batch(
                        cmdlet,
                        batch,
                        &std::mem::take(&mut pending),
                        pos,
                        action,
                        &mut out,
                    )?;
                    self.handle(e, pos, action)?;
                }
            }
        }
        self.run_batch(cmdlet, batch, &pending, pos, action, &mut out)?;
        Ok(out)
    }

    fn run_batch(
        &mut self,
        cmdlet: &'static Cmdlet,
        batch: crate::cli::cmdlets::Batch,
        all: &[crate::cli::args::Args],
        pos: Pos,
        action: Action,
        out: &mut Stream,
    ) -> EResult<()> {
        let mut start = 0;
        while start < all.len() {
            self.ctx.rebind(cmdlet, &all[start]);
            let b = match crate::cli::gate::check(&mut self.ctx, cmdlet) {
                Ok(()) => batch(&mut self.ctx, &all[start..]),
                Err(e) => crate::cli::cmdlets::Batched {
                    outputs: Vec::new(),
                    failed: Some(e),
                },
            };
            self.ctx.flush_warnings();
            let done = b.outputs.len();
            let form = self.ctx.form;
            let properties = self.ctx.properties.clone();
            for o in b.outputs {
                let s = stream_of(o, Vec::new(), form, properties.clone());
                out.raw |= s.raw;
                out.form = s.form.or(out.form);
                out.properties = s.properties.or(out.properties.take());
                out.items.extend(s.items);
            }
            match b.failed {
                None => {
                    self.vars
                        .insert("lastexitcode".into(), Value::from(self.ctx.status));
                    if self.ctx.status != 0 {
                        self.status = self.ctx.status;
                    }
                    break;
                }
                Some(e) => {
                    self.handle(e, pos, action)?;
                    start += done + 1;
                }
            }
        }
        Ok(())
    }

    fn handle(&mut self, e: CliError, pos: Pos, action: Action) -> EResult<Stream> {
        match action {
            Action::Stop => Err(Interrupt::Fail(e, pos)),
            Action::Continue => {
                self.report(&e, pos);
                self.note_failure(&e);
                Ok(Stream::default())
            }
            Action::Silent => {
                self.note_failure(&e);
                Ok(Stream::default())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &mut self,
        cmdlet: &'static Cmdlet,
        named: &[(String, Option<Value>)],
        positionals: &[Value],
        piped: Option<&Value>,
        input: Option<Stream>,
        pos: Pos,
        action: Action,
    ) -> EResult<Stream> {
        let args = match bind_values(cmdlet, named, positionals, piped) {
            Ok(a) => a,
            Err(e) => return self.handle(e, pos, action),
        };
        self.ctx.rebind(cmdlet, &args);
        let mut view: Vec<String> = crate::cli::cmdlets::view(cmdlet, &args)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut form = self.ctx.form;
        let mut properties = self.ctx.properties.clone();
        if let Some(mut inp) = input {
            if form.is_none() {
                form = inp.form;
            }
            if properties.is_none() && cmdlet.name != "Select-Object" {
                properties = inp.properties.take();
            }
            self.ctx.input_view = std::mem::take(&mut inp.view);
            self.ctx.input = if inp.raw {
                vec![inp.into_value()]
            } else {
                inp.items
            };
        }
        let result = self.ctx.run_cmdlet(cmdlet, &args);
        self.ctx.flush_warnings();
        let out = match result {
            Ok(o) => o,
            Err(e) => return self.handle(e, pos, action),
        };
        self.vars
            .insert("lastexitcode".into(), Value::from(self.ctx.status));
        if self.ctx.status != 0 {
            self.status = self.ctx.status;
        }
        if cmdlet.module.starts_with("Microsoft.PowerShell") {
            // Utility cmdlets keep the view of their input unless they chose another.
            view = std::mem::take(&mut self.ctx.input_view);
            if matches!(
                cmdlet.name,
                "Format-List"
                    | "Format-Table"
                    | "Select-Object"
                    | "ConvertTo-Json"
                    | "Group-Object"
                    | "Sort-Object"
                    | "Measure-Object"
            ) {
                properties = None;
                form = None;
            }
        }
        Ok(stream_of(out, view, form, properties))
    }

    /// Where-Object { ... } and ForEach-Object { ... }: the block runs once per input
    /// object with `$_` set to it.
    fn block_command(
        &mut self,
        cmdlet: &'static Cmdlet,
        block: &Rc<Vec<Stmt>>,
        input: Option<Stream>,
        pos: Pos,
        action: Action,
    ) -> EResult<Stream> {
        let inp = input.unwrap_or_default();
        let saved = self.vars.remove("_");
        let mut out = Stream {
            view: inp.view.clone(),
            form: inp.form,
            properties: inp.properties.clone(),
            ..Stream::default()
        };
        let result = (|| -> EResult<()> {
            match cmdlet.name {
                "Where-Object" => {
                    for item in inp.items {
                        self.vars.insert("_".into(), item.clone());
                        let v = collapse(self.capture(block)?);
                        if truthy(&v) {
                            out.items.push(item);
                        }
                    }
                }
                "ForEach-Object" => {
                    out.view.clear();
                    let items = if inp.items.is_empty() && inp.raw {
                        Vec::new()
                    } else {
                        inp.items
                    };
                    for item in items {
                        self.vars.insert("_".into(), item);
                        let produced = self.capture(block)?;
                        out.items.extend(produced);
                    }
                }
                other => {
                    return Err(Interrupt::Fail(
                        CliError::usage(format!("{other} does not take a script block.")),
                        pos,
                    ))
                }
            }
            Ok(())
        })();
        match saved {
            Some(v) => {
                self.vars.insert("_".into(), v);
            }
            None => {
                self.vars.remove("_");
            }
        }
        match result {
            Ok(()) => Ok(out),
            Err(Interrupt::Fail(e, p)) if action != Action::Stop => self.handle(e, p, action),
            Err(e) => Err(e),
        }
    }

    /// An argument of a script function: a bare word that reads as a number is one, as
    /// PowerShell passes `Add-Two 3`.
    fn function_arg(&mut self, e: &Expr) -> EResult<Value> {
        match &e.kind {
            ExprKind::Word(w) => {
                Ok(super::parser::number(w).unwrap_or_else(|| Value::String(w.clone())))
            }
            _ => self.expr(e),
        }
    }

    /// `$_` in a catch block: an error record as PowerShell's, which reads as its message.
    fn error_record(&self, e: &CliError, pos: Pos) -> Value {
        let id = match e.class {
            crate::cli::error::Class::Usage => "InvalidArgument",
            crate::cli::error::Class::Unavailable => "ResourceUnavailable",
            crate::cli::error::Class::Stale => "InvalidData",
            crate::cli::error::Class::Interrupted => "OperationStopped",
            crate::cli::error::Class::Internal => "NotSpecified",
            crate::cli::error::Class::Failed => "InvalidOperation",
        };
        serde_json::json!({
            "PSTypeName": output::ERROR_RECORD,
            "Exception": {"Message": e.message, "HelpLink": e.help},
            "FullyQualifiedErrorId": id,
            "CategoryInfo": {"Category": id},
            "ExitCode": e.class.exit_code(),
            "InvocationInfo": {"ScriptName": self.file, "ScriptLineNumber": pos.line, "OffsetInLine": pos.col},
        })
    }

    /// The error `throw` raises: the one being handled again (bare `throw`, or `throw $_`), or a
    /// new one whose message is the value.
    fn throw(&mut self, value: Option<&Pipeline>, pos: Pos) -> EResult<Interrupt> {
        let v = match value {
            None => match self.caught.last() {
                Some((_, e)) => return Ok(Interrupt::Fail(e.clone(), pos)),
                None => Value::String("ScriptHalted".into()),
            },
            Some(p) => match p.elements.as_slice() {
                [Element::Expr(e)] => self.expr(e)?,
                _ => self.pipeline(p)?.into_value(),
            },
        };
        if let Some((_, e)) = self.caught.iter().rev().find(|(r, _)| *r == v) {
            return Ok(Interrupt::Fail(e.clone(), pos));
        }
        let message = match output::display(&v) {
            m if m.is_empty() => "ScriptHalted".to_string(),
            m => m,
        };
        Ok(Interrupt::Fail(CliError::failed(message), pos))
    }

    /// Runs a script function: its parameters bound from the command's arguments (by name, then
    /// by position; the rest in `$args`, piped objects in `$input`), in a scope of its own that
    /// ends with it (variables it sets do not outlive it).
    fn call_function(
        &mut self,
        f: &Rc<Function>,
        cmd: &Command,
        input: Option<Stream>,
    ) -> EResult<Stream> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(Interrupt::Fail(
                CliError::usage(format!(
                    "the function {} calls functions more than {MAX_CALL_DEPTH} deep",
                    f.name
                ))
                .with_help("a function that calls itself needs a condition that ends the calls"),
                cmd.pos,
            ));
        }
        let usage = |m: String| {
            Interrupt::Fail(
                CliError::usage(m).with_help(format!(
                    "the parameters of {}: {}",
                    f.name,
                    param_list(f)
                )),
                cmd.pos,
            )
        };
        let mut bound: Vec<Option<Value>> = vec![None; f.params.len()];
        let mut rest = Vec::new();
        let mut i = 0;
        while i < cmd.args.len() {
            let a = &cmd.args[i];
            i += 1;
            match a {
                CmdArg::Value(e) => rest.push(self.function_arg(e)?),
                CmdArg::Param {
                    name, value, text, ..
                } => {
                    let lower = name.to_ascii_lowercase();
                    let hits: Vec<usize> = (0..f.params.len())
                        .filter(|&k| f.params[k].name.to_ascii_lowercase().starts_with(&lower))
                        .collect();
                    let k = match hits.as_slice() {
                        [k] => *k,
                        [] => match (0..f.params.len())
                            .find(|&k| f.params[k].name.eq_ignore_ascii_case(name))
                        {
                            Some(k) => k,
                            None => {
                                return Err(usage(format!(
                                    "The function {} has no parameter {text}.",
                                    f.name
                                )))
                            }
                        },
                        many => match many
                            .iter()
                            .find(|&&k| f.params[k].name.eq_ignore_ascii_case(name))
                        {
                            Some(k) => *k,
                            None => {
                                return Err(usage(format!(
                                    "The parameter {text} of {} is ambiguous.",
                                    f.name
                                )))
                            }
                        },
                    };
                    let p = &f.params[k];
                    let v = match value {
                        Some(e) => self.function_arg(e)?,
                        None if p.switch => Value::Bool(true),
                        None => match cmd.args.get(i) {
                            Some(CmdArg::Value(e)) => {
                                i += 1;
                                self.function_arg(e)?
                            }
                            _ => {
                                return Err(usage(format!(
                                    "The parameter -{} of {} needs a value.",
                                    p.name, f.name
                                )))
                            }
                        },
                    };
                    bound[k] = Some(v);
                }
            }
        }
        // Positional values fill the parameters not bound by name, in order.
        let mut rest = rest.into_iter();
        for (k, p) in f.params.iter().enumerate() {
            if bound[k].is_none() && !p.switch {
                if let Some(v) = rest.next() {
                    bound[k] = Some(v);
                }
            }
        }
        let extra: Vec<Value> = rest.collect();
        let saved = self.vars.clone();
        let result = (|| -> EResult<Vec<Value>> {
            self.vars.insert("args".into(), Value::Array(extra));
            self.vars.insert(
                "input".into(),
                Value::Array(input.map(|i| i.items).unwrap_or_default()),
            );
            for (k, p) in f.params.iter().enumerate() {
                let v = match bound[k].take() {
                    Some(v) => v,
                    None if p.switch => Value::Bool(false),
                    None if p.mandatory => {
                        return Err(usage(format!(
                            "The function {} needs the parameter -{}.",
                            f.name, p.name
                        )))
                    }
                    None => match &p.default {
                        Some(e) => self.expr(e)?,
                        None => Value::Null,
                    },
                };
                let v = match &p.ty {
                    Some(t) => value::cast(t, v).map_err(|e| {
                        Interrupt::Fail(
                            e.with_help(format!(
                                "the parameter -{} of {} is [{t}]",
                                p.name, f.name
                            )),
                            cmd.pos,
                        )
                    })?,
                    None => v,
                };
                self.vars.insert(p.name.to_ascii_lowercase(), v);
            }
            self.depth += 1;
            let mut out = Vec::new();
            let r = (|| {
                for st in f.body.iter() {
                    self.statement(st, Some(&mut out))?;
                }
                Ok(())
            })();
            self.depth -= 1;
            match r {
                Ok(()) | Err(Interrupt::Return) => Ok(out),
                Err(e) => Err(e),
            }
        })();
        // The function's scope ends; $LASTEXITCODE is the script's.
        let code = self.vars.get("lastexitcode").cloned();
        self.vars = saved;
        if let Some(c) = code {
            self.vars.insert("lastexitcode".into(), c);
        }
        Ok(Stream {
            items: result?,
            ..Stream::default()
        })
    }

    fn arg(&mut self, e: &Expr) -> EResult<ArgVal> {
        if let ExprKind::Block(b) = &e.kind {
            return Ok(ArgVal::Block(b.clone()));
        }
        Ok(ArgVal::V(self.expr(e)?))
    }

    fn var(&self, name: &str) -> Value {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "?" => Value::Bool(self.last_ok),
            "psitem" => self.vars.get("_").cloned().unwrap_or(Value::Null),
            _ => {
                if let Some(env) = lower.strip_prefix("env:") {
                    let key = &name[4..];
                    let _ = env;
                    return std::env::var(key).map(Value::String).unwrap_or(Value::Null);
                }
                self.vars.get(&lower).cloned().unwrap_or(Value::Null)
            }
        }
    }

    pub fn expr(&mut self, e: &Expr) -> EResult<Value> {
        Ok(match &e.kind {
            ExprKind::Lit(v) => v.clone(),
            ExprKind::Word(w) => Value::String(w.clone()),
            ExprKind::Var(n) => self.var(n),
            ExprKind::Member(inner, m) => value::member(&self.expr(inner)?, m),
            ExprKind::Method(inner, m, args) => {
                let v = self.expr(inner)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.expr(a)?);
                }
                super::methods::call(&v, m, &vals).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            ExprKind::Index(inner, idx) => {
                let (v, i) = (self.expr(inner)?, self.expr(idx)?);
                value::index(&v, &i)
            }
            ExprKind::Expand(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Lit(l) => s.push_str(l),
                        Part::Var(v) => s.push_str(&interpolate(&self.var(v))),
                        Part::Sub(stmts) => {
                            let v = collapse(self.capture(stmts)?);
                            s.push_str(&interpolate(&v));
                        }
                    }
                }
                Value::String(s)
            }
            ExprKind::Paren(p) => self.pipeline(p)?.into_value(),
            ExprKind::Sub(stmts) => collapse(self.capture(stmts)?),
            ExprKind::ArrayExpr(stmts) => {
                let v = Value::Array(self.capture(stmts)?);
                value::check_size(&v, "the array @( )").map_err(|err| Interrupt::Fail(err, e.pos))?;
                v
            }
            ExprKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.expr(i)?);
                }
                let v = Value::Array(out);
                value::check_size(&v, "the array").map_err(|err| Interrupt::Fail(err, e.pos))?;
                v
            }
            ExprKind::Range(a, b) => Value::Array(if a <= b {
                (*a..=*b).map(Value::from).collect()
            } else {
                (*b..=*a).rev().map(Value::from).collect()
            }),
            ExprKind::Hash(entries) => {
                let mut m = serde_json::Map::new();
                for (k, p) in entries {
                    // A value keeps its form (`@()` stays an empty array).
                    let v = match p.elements.as_slice() {
                        [Element::Expr(x)] => self.expr(x)?,
                        _ => self.pipeline(p)?.into_value(),
                    };
                    m.insert(k.clone(), v);
                }
                let v = Value::Object(m);
                value::check_size(&v, "the hashtable").map_err(|err| Interrupt::Fail(err, e.pos))?;
                v
            }
            ExprKind::Block(_) => {
                return Err(Interrupt::Fail(
                    CliError::usage("A script block { ... } can only be an argument of Where-Object or ForEach-Object here.")
                        .with_help("use ( ... ) to compute a value"),
                    e.pos,
                ))
            }
            ExprKind::Not(inner) => Value::Bool(!truthy(&self.expr(inner)?)),
            ExprKind::Unary(BinOp::Join, inner) => {
                value::join(&self.expr(inner)?, "").map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            ExprKind::Unary(_, inner) => {
                value::split(&self.expr(inner)?, None).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            ExprKind::Cast(ty, inner) => {
                let v = self.expr(inner)?;
                value::cast(ty, v).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            ExprKind::Binary(BinOp::And, l, r) => {
                Value::Bool(truthy(&self.expr(l)?) && truthy(&self.expr(r)?))
            }
            ExprKind::Binary(BinOp::Or, l, r) => {
                Value::Bool(truthy(&self.expr(l)?) || truthy(&self.expr(r)?))
            }
            ExprKind::Binary(BinOp::Add, l, r) => {
                let (a, b) = (self.expr(l)?, self.expr(r)?);
                value::add(&a, &b).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            ExprKind::Binary(op @ (BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod), l, r) => {
                let (a, b) = (self.expr(l)?, self.expr(r)?);
                value::arith(*op, &a, &b).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
            // A scalar -match sets $matches, as in PowerShell (an array left side filters).
            ExprKind::Binary(op @ (BinOp::Match | BinOp::NotMatch), l, r) => {
                let (a, b) = (self.expr(l)?, self.expr(r)?);
                if a.is_array() {
                    value::compare(*op, &a, &b).map_err(|err| Interrupt::Fail(err, e.pos))?
                } else {
                    let hit = value::captures(&interpolate(&a), &interpolate(&b), true)
                        .map_err(|err| Interrupt::Fail(err, e.pos))?;
                    let matched = hit.is_some();
                    if let Some(m) = hit {
                        self.vars.insert("matches".into(), m);
                    }
                    Value::Bool(matched == (*op == BinOp::Match))
                }
            }
            ExprKind::Binary(op, l, r) => {
                let (a, b) = (self.expr(l)?, self.expr(r)?);
                value::compare(*op, &a, &b).map_err(|err| Interrupt::Fail(err, e.pos))?
            }
        })
    }
}

/// Whether an expression names a place a value can be stored in: a variable a script may set,
/// or a property or element of one.
fn is_place(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Var(n) => {
            let lower = n.to_ascii_lowercase();
            !matches!(lower.as_str(), "true" | "false" | "null" | "?" | "psitem")
                && !lower.starts_with("env:")
        }
        ExprKind::Member(inner, _) | ExprKind::Index(inner, _) => is_place(inner),
        _ => false,
    }
}

/// Whether a catch clause naming `types` handles a custkey error. Every error a script meets is a
/// runtime error, so a clause without types, or naming `Exception`, `RuntimeException` or
/// `ActionPreferenceStopException` (with or without their namespaces), handles it; a clause for
/// another .NET type never does.
fn catches_all(types: &[String]) -> bool {
    types.is_empty()
        || types.iter().any(|t| {
            let name = t.rsplit('.').next().unwrap_or(t).to_ascii_lowercase();
            matches!(
                name.as_str(),
                "exception" | "runtimeexception" | "actionpreferencestopexception" | "errorrecord"
            )
        })
}

/// `-Name, -Other` for messages.
fn param_list(f: &Function) -> String {
    if f.params.is_empty() {
        return "none".into();
    }
    f.params
        .iter()
        .map(|p| format!("-{}", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::script::parser::parse;
    use serde_json::json;

    fn interp() -> Interp {
        // No statement here touches the store, so none is opened.
        let ctx = crate::cli::script::context(false).unwrap();
        Interp::new(ctx, "<test>", vec!["one".into(), "two".into()])
    }

    fn eval(i: &mut Interp, src: &str) -> EResult<Vec<Value>> {
        let stmts = parse(src).unwrap();
        i.capture(&stmts)
    }

    fn ok(src: &str) -> Vec<Value> {
        eval(&mut interp(), src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    #[test]
    fn values_variables_and_expansion() {
        assert_eq!(
            ok("$a = 1, 2, 3; $a -eq 2; $a.Count; $a[-1]"),
            vec![json!(2), json!(3), json!(3)]
        );
        assert_eq!(
            ok("$args; $args[1]"),
            vec![json!("one"), json!("two"), json!("two")]
        );
        assert_eq!(
            ok("$n = 'x'; \"n=$n $($n.Length) ${n}`t'\""),
            vec![json!("n=x 1 x\t'")]
        );
        assert_eq!(
            ok("$null -eq $undefined; !$true; -not (1 -gt 2)"),
            vec![json!(true), json!(false), json!(true)]
        );
        assert_eq!(
            ok("@(); @(1); $e = @(); $e.Count"),
            vec![json!(1), json!(0)]
        );
        assert_eq!(
            ok("'Key001' -match 'key0+1'; 'abc' -like 'A?C'"),
            vec![json!(true), json!(true)]
        );
        assert_eq!(
            ok("$n = 2; if ($n -eq 1) { 'one' } elseif ($n -gt 1) { 'many'; 'more' } else { 'none' }; if ($null) { 'no' }; if (@()) { 'no' } else { 'empty' }"),
            vec![json!("many"), json!("more"), json!("empty")]
        );
        assert_eq!(
            ok("$t = 0; foreach ($n in 1, 2, 3) { $t += $n; if ($n -eq 2) { \"two\" } }; $t; foreach ($x in $null) { 'never' }"),
            vec![json!("two"), json!(6)]
        );
        assert_eq!(
            ok("$a = @('x') + @('y', 'z'); $a.Count; 1 + 2 -eq 3; 'n' + 1; $a += 'w'; $a[-1]; $n = $null; $n += 2; $n"),
            vec![json!(3), json!(true), json!("n1"), json!("w"), json!(2)]
        );
    }

    #[test]
    fn pipelines_through_utility_cmdlets() {
        assert_eq!(
            ok("@(3, 1, 2) | Sort-Object -Descending"),
            vec![json!(3), json!(2), json!(1)]
        );
        assert_eq!(
            ok("1, 2, 3, 4 | Where-Object { $_ -gt 2 }"),
            vec![json!(3), json!(4)]
        );
        assert_eq!(
            ok("'a', 'b' | ForEach-Object { \"x$_\" }"),
            vec![json!("xa"), json!("xb")]
        );
        assert_eq!(
            ok("'a', 'b', 'c' | select -Last 2 | % { $_ }"),
            vec![json!("b"), json!("c")]
        );
        let m = ok("1, 2, 3 | measure -Sum");
        assert_eq!(m[0]["Count"], json!(3));
        assert_eq!(m[0]["Sum"], json!(6));
        assert_eq!(
            ok("(1, 2 | ConvertTo-Json -Compress)"),
            vec![json!("[1,2]")]
        );
        // $_ is restored after a nested block.
        assert_eq!(
            ok("1, 2 | ForEach-Object { $o = $_; 10, 20 | Where-Object { $_ -gt 15 } | ForEach-Object { \"$o-$_\" } }"),
            vec![json!("1-20"), json!("2-20")]
        );
    }

    #[test]
    fn failures_stop_unless_told_to_continue() {
        let mut i = interp();
        match eval(&mut i, "'a'\nGet-Nothing -X 1") {
            Err(Interrupt::Fail(e, pos)) => {
                assert_eq!(e.class, crate::cli::error::Class::Usage);
                assert_eq!(pos, Pos { line: 2, col: 1 });
            }
            other => panic!("{other:?}"),
        }
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$true = 1"),
            Err(Interrupt::Fail(_, _))
        ));
        // Continue: the failing command yields nothing, $? and $LASTEXITCODE tell.
        let mut i = interp();
        let stmts = parse("$ErrorActionPreference = 'SilentlyContinue'; Get-Nothing").unwrap();
        assert_eq!(i.run_top(&stmts, false), None);
        assert_eq!(i.final_code(), 2);
        let mut i = interp();
        let stmts =
            parse("Sort-Object -Bogus -ErrorAction SilentlyContinue; $r = $?; $LASTEXITCODE; $r")
                .unwrap();
        assert_eq!(
            eval(
                &mut i,
                "Sort-Object -Bogus -ErrorAction SilentlyContinue; $LASTEXITCODE"
            )
            .unwrap(),
            vec![json!(2)]
        );
        assert_eq!(i.run_top(&stmts, false), None);
        // exit from inside a block ends the whole script.
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "1, 2 | ForEach-Object { exit 7 }; 'never'"),
            Err(Interrupt::Exit(7))
        ));
    }

    #[test]
    fn loops_break_continue_and_steps() {
        assert_eq!(
            ok("$i = 0; while ($i -lt 3) { $i++ }; $i; do { $i-- } until ($i -le 0); $i"),
            vec![json!(3), json!(0)]
        );
        assert_eq!(
            ok("for ($j = 0; $j -lt 10; $j++) { if ($j -eq 1) { continue }; if ($j -ge 3) { break }; $j }"),
            vec![json!(0), json!(2)]
        );
        assert_eq!(
            ok("foreach ($n in 1..5) { if ($n -eq 4) { break }; $n }"),
            vec![json!(1), json!(2), json!(3)]
        );
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$s = 'x'; $s++"),
            Err(Interrupt::Fail(_, _))
        ));
    }

    #[test]
    fn functions_bind_by_name_position_and_switch() {
        // 100 nested calls need the stack the binary gives its main thread (src/main.rs).
        std::thread::Builder::new()
            .stack_size(crate::STACK_BYTES)
            .spawn(functions_inner)
            .unwrap()
            .join()
            .unwrap();
    }

    fn functions_inner() {
        assert_eq!(
            ok("function Add-Two([int]$a, [int]$b = 2) { return $a + $b; 'never' }; Add-Two 3; Add-Two -b 5 -a 1"),
            vec![json!(5), json!(6)]
        );
        assert_eq!(
            ok("function F { param([string]$Name, [switch]$Loud) if ($Loud) { \"HI $Name\" } else { $Name }; $args.Count }; F bob; F -Loud x y z"),
            vec![json!("bob"), json!(0), json!("HI x"), json!(2)]
        );
        // Recursion, and variables set inside do not outlive the call.
        assert_eq!(
            ok("function Fact($n) { if ($n -le 1) { 1 } else { $n * (Fact ($n - 1)) } }; Fact 5; $v = 1; function S { $v = 9 }; S; $v"),
            vec![json!(120), json!(1)]
        );
        let mut i = interp();
        match eval(
            &mut i,
            "function M { param([Parameter(Mandatory)]$Name) $Name }; M",
        ) {
            Err(Interrupt::Fail(e, _)) => assert!(e.message.contains("-Name"), "{}", e.message),
            other => panic!("{other:?}"),
        }
        let mut i = interp();
        assert!(
            matches!(eval(&mut i, "function L { L }; L"), Err(Interrupt::Fail(e, _)) if e.message.contains("100 deep"))
        );
        let mut i = interp();
        assert!(
            matches!(eval(&mut i, "function G($a) { $a }; G -Bogus 1"), Err(Interrupt::Fail(e, _)) if e.message.contains("-Bogus"))
        );
    }

    #[test]
    fn try_catch_finally_and_throw() {
        assert_eq!(
            ok("try { Get-Nothing; 'not reached' } catch { \"caught: $_\" } finally { 'finally' }"),
            vec![
                json!("caught: The term 'Get-Nothing' is not recognized as a name of a cmdlet."),
                json!("finally")
            ]
        );
        assert_eq!(
            ok("try { throw 'boom' } catch [System.Exception] { $_.Exception.Message; $_.ExitCode }"),
            vec![json!("boom"), json!(1)]
        );
        // A bare throw rethrows the error unchanged (its class and exit code too).
        let mut i = interp();
        match eval(&mut i, "try { Get-Nothing } catch { throw }") {
            Err(Interrupt::Fail(e, _)) => assert_eq!(e.class, crate::cli::error::Class::Usage),
            other => panic!("{other:?}"),
        }
        // A catch for another type does not handle it; finally still runs.
        let mut i = interp();
        let r = eval(
            &mut i,
            "try { throw 'x' } catch [System.IO.IOException] { 'no' } finally { $script:f = 1 }",
        );
        assert!(matches!(r, Err(Interrupt::Fail(e, _)) if e.message == "x"));
    }

    #[test]
    fn string_and_collection_operators() {
        assert_eq!(
            ok("'a','b' -join '+'; -join ('x','y'); ('a,b,,c' -split ',').Count; (-split ' p  q ').Count"),
            vec![json!("a+b"), json!("xy"), json!(4), json!(2)]
        );
        assert_eq!(
            ok("'Key001' -replace 'key(\\d+)', 'K$1'; 'a.b' -replace '\\.'; 'a','b' -contains 'B'; 'z' -in 'a','b'; 'z' -notin 'a'"),
            vec![json!("K001"), json!("ab"), json!(true), json!(false), json!(true)]
        );
        assert_eq!(
            ok("10 / 4; 7 % 3; 2 + 3 * 4; 10 - 3; 'ab' * 2; [int]'42' + 1; [string]5 + 1"),
            vec![
                json!(2.5),
                json!(1),
                json!(14),
                json!(7),
                json!("abab"),
                json!(43),
                json!("51")
            ]
        );
        let mut i = interp();
        assert!(matches!(eval(&mut i, "1 / 0"), Err(Interrupt::Fail(_, _))));
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "'x' -split '('"),
            Err(Interrupt::Fail(_, _))
        ));
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "'x' * 100000000"),
            Err(Interrupt::Fail(_, _))
        ));
    }

    #[test]
    fn hashtables_without_spaces() {
        assert_eq!(
            ok("$h = @{Name='a';Value=1}; $h.Name; $h.Value + 1; (@{a=1}).a; (@{'x y'=2\n3='c'})['3']"),
            vec![json!("a"), json!(2), json!(1), json!("c")]
        );
    }

    #[test]
    fn switch_statements() {
        assert_eq!(
            ok("foreach ($x in 'a', 'B', 'z') { switch ($x) { 'a' { \"A:$_\" } b { 'bee' } default { \"other $_\" } } }"),
            vec![json!("A:a"), json!("bee"), json!("other z")]
        );
        // Every matching clause runs; break ends the switch, continue the element.
        assert_eq!(
            ok("switch (1, 2, 3) { { $_ -ge 2 } { \"big $_\" } 2 { 'two'; continue } 3 { 'three'; break } 1 { 'one' } }; 'after'"),
            vec![json!("one"), json!("big 2"), json!("two"), json!("big 3"), json!("three"), json!("after")]
        );
        assert_eq!(
            ok("switch -Wildcard ('Key001') { 'key*' { 'wild' } 'x*' { 'no' } }; switch -Regex ('Key002') { '^key0+2$' { 're' } }; switch -CaseSensitive ('a') { 'A' { 'no' } default { 'case' } }"),
            vec![json!("wild"), json!("re"), json!("case")]
        );
        // A break inside a switch in a loop ends the switch, not the loop; $_ comes back.
        assert_eq!(
            ok("$r = @(foreach ($n in 1..3) { switch ($n) { 2 { break } default { $n } } }); $r; 'x' | ForEach-Object { switch (5) { 5 { $_ } }; $_ }"),
            vec![json!(1), json!(3), json!(5), json!("x")]
        );
        // -Regex and -match set $matches: the whole match, numbered and named groups.
        assert_eq!(
            ok("switch -Regex ('Key012') { '^key0*(?<n>\\d+)$' { $matches.n; $matches[0] } }; 'a-b' -match '(\\w)-(\\w)'; $matches[2]; 'zzz' -match 'q'; $matches[1]; @('x1', 'y') -match '\\d'"),
            vec![json!("12"), json!("Key012"), json!(true), json!("b"), json!(false), json!("a"), json!("x1")]
        );
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "switch -Regex ('x') { '(' { 1 } }"),
            Err(Interrupt::Fail(_, _))
        ));
    }

    #[test]
    fn method_calls() {
        assert_eq!(
            ok("$s = ' Key001,Key002 '; $s.Trim().Split(',')[1]; 'abc'.ToUpper(); ('x' + 'Y').ToLower(); $s.Replace('Key', 'K').Trim()"),
            vec![json!("Key002"), json!("ABC"), json!("xy"), json!("K001,K002")]
        );
        assert_eq!(
            ok("$a = 'p', 'q'; $a.Contains('q'); 'hello'.Substring(1, 3); 'hello'.Substring(3).Length; (5).ToString() + 1; 'ab'.StartsWith('a') -and 'ab'.EndsWith('b')"),
            vec![json!(true), json!("ell"), json!(2), json!("51"), json!(true)]
        );
        assert_eq!(
            ok("$d = '2026-12-01T00:00:00Z'; $d.AddDays(30); $d.AddHours(1).AddYears(1); @($d.AddDays(1), 'x').Count"),
            vec![json!("2026-12-31T00:00:00Z"), json!("2027-12-01T01:00:00Z"), json!(2)]
        );
        // A method call in a command's arguments.
        assert_eq!(
            ok("Write-Output 'abc'.ToUpper() ('d').ToUpper()"),
            vec![json!("ABC"), json!("D")]
        );
        let mut i = interp();
        match eval(&mut i, "$n = 5; $n.Frob(1)") {
            Err(Interrupt::Fail(e, pos)) => {
                assert!(
                    e.message.contains("'Frob'") && e.message.contains("[System.Int64]"),
                    "{}",
                    e.message
                );
                assert_eq!(pos.col, 11);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_member_changes_the_object_where_it_lives() {
        // Piped from a property of a variable: the property itself changes, as a reference would.
        assert_eq!(
            ok("$r = @{ Properties = @{ a = 1 } }; $r.Properties | Add-Member -MemberType NoteProperty -Name b -Value 'x'; $r.Properties.b; $r.Properties.a"),
            vec![json!("x"), json!(1)]
        );
        // -InputObject, an element, and -PassThru.
        assert_eq!(
            ok("$l = @(@{n = 1}, @{n = 2}); Add-Member -InputObject $l[1] -NotePropertyName m -NotePropertyValue (5); $l[1].m; $l | Add-Member -NotePropertyMembers @{k = 'v'}; $l.k; (@{} | Add-Member NoteProperty z (3) -PassThru).z"),
            vec![json!(5), json!("v"), json!("v"), json!(3)]
        );
        // A copy made before keeps its old members; a failure changes nothing.
        assert_eq!(
            ok("$o = @{a = 1}; $p = $o; $o | Add-Member NoteProperty b 2; $p.b -eq $null; $o.b"),
            vec![json!(true), json!("2")]
        );
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$o = @{a = 1}; $o | Add-Member NoteProperty a 2"),
            Err(Interrupt::Fail(e, _)) if e.message.contains("already exists")
        ));
        assert_eq!(i.var("o"), json!({"a": 1}));
        // A function named Add-Member is the script's own, and changes nothing in place.
        assert_eq!(
            ok("function Add-Member { 'mine' }; $o = @{a = 1}; $o | Add-Member NoteProperty b 2; $o.b -eq $null"),
            vec![json!("mine"), json!(true)]
        );
    }

    #[test]
    fn properties_and_elements_are_set_by_assignment() {
        assert_eq!(
            ok("$r = @{ Properties = @{ a = 1 } }; $r.Properties.enableSoftDelete = 'True'; $r.properties.A += 2; $r.Properties.enableSoftDelete; $r.Properties.a; $l = 1, 2, 3; $l[-1] = 9; $l[2]; $h = @{}; $h['k'] = 'v'; $h.k"),
            vec![json!("True"), json!(3), json!(9), json!("v")]
        );
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$s = 'x'; $s.Name = 1"),
            Err(Interrupt::Fail(e, _)) if e.message.contains("[System.String]")
        ));
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$l = 1, 2; $l[5] = 1"),
            Err(Interrupt::Fail(e, _)) if e.message.contains("outside the bounds")
        ));
        let mut i = interp();
        assert!(matches!(
            eval(&mut i, "$true.x = 1"),
            Err(Interrupt::Fail(e, _)) if e.message.contains("read-only")
        ));
    }

    #[test]
    fn group_object_and_remaining_arguments() {
        let g =
            ok("@{N = 'a'; D = 'US'}, @{N = 'b'; D = 'EU'}, @{N = 'c'; D = 'us'} | Group-Object D");
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0]["Name"].clone(), g[0]["Count"].clone()),
            (json!("US"), json!(2))
        );
        assert_eq!(g[1]["Group"][0]["N"], json!("b"));
        assert_eq!(
            ok("$h = 'p', 'q', 'P' | Group-Object -AsHashTable; $h.p.Count; Write-Output x y"),
            vec![json!(2), json!("x"), json!("y")]
        );
    }
}
