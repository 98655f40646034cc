//! Runs of like cmdlet statements, handed to the cmdlet's batch form.
//!
//! A script of 10,000 lines `New-Mailbox -Name x -Shared` would otherwise pay, per line, a
//! proof of the signed-in account and a durable write transaction. Consecutive top-level
//! statements that each call one cmdlet with a batch form ([`crate::cli::cmdlets::Batch`]),
//! with arguments that only read constants and variables, run as one batch, as the objects of a
//! pipeline do: one proof, one transaction for a run of like objects. What each statement sees
//! is unchanged: its own output in its place, its own failure reported at its own line, and
//! under `$ErrorActionPreference = 'Stop'` nothing after a failing statement is applied (the
//! batch stops at its first failure, with every statement before it applied).
//!
//! What may join a run is decided from the statement's text alone, so that evaluating its
//! arguments early can change nothing and read nothing an earlier statement of the run sets:
//! no subexpressions or script blocks (they could run cmdlets), no `$?`, `$LASTEXITCODE`,
//! `$Error` or `$_`, no common parameter (-WhatIf, -Confirm, -ErrorAction, -Store, ... change
//! how a cmdlet runs), no script function of the cmdlet's name, and not against a service
//! (there each statement is its own signed request).

use super::*;
use crate::cli::args::Args;
use crate::cli::def::COMMON;

/// One statement of a run, bound.
struct Bound {
    args: Args,
    pos: Pos,
    /// `| Out-Null`: its output is dropped.
    discard: bool,
}

impl Interp {
    /// How many statements at the start of `stmts` form a run for one batch (0 or 1: none).
    pub(super) fn batchable_run(&self, stmts: &[Stmt]) -> usize {
        if self.ctx.is_remote() {
            return 0;
        }
        let Some((first, _, _)) = stmts.first().and_then(|s| self.batchable(s)) else {
            return 0;
        };
        stmts
            .iter()
            .take_while(|s| {
                self.batchable(s)
                    .is_some_and(|(c, _, _)| std::ptr::eq(c, first))
            })
            .count()
    }

    /// The cmdlet, command and whether its output is dropped, when `s` may join a run.
    fn batchable<'s>(&self, s: &'s Stmt) -> Option<(&'static Cmdlet, &'s Command, bool)> {
        let StmtKind::Pipeline(p) = &s.kind else {
            return None;
        };
        let (cmd, discard) = match p.elements.as_slice() {
            [Element::Command(c)] => (c, false),
            [Element::Command(c), Element::Command(n)] if n.args.is_empty() => {
                match resolve_command(&n.name) {
                    Some(o) if o.name == "Out-Null" && !self.is_function(&n.name) => (c, true),
                    _ => return None,
                }
            }
            _ => return None,
        };
        if self.is_function(&cmd.name) {
            return None;
        }
        let cmdlet = resolve_command(&cmd.name)?;
        crate::cli::cmdlets::batch(cmdlet)?;
        for a in &cmd.args {
            match a {
                CmdArg::Value(e) => {
                    if !plain(e) {
                        return None;
                    }
                }
                CmdArg::Param { name, value, .. } => {
                    let param = resolve_param(cmdlet, name).ok()?;
                    if COMMON.iter().any(|c| std::ptr::eq(c, param)) {
                        return None;
                    }
                    if value.as_ref().is_some_and(|e| !plain(e)) {
                        return None;
                    }
                }
            }
        }
        Some((cmdlet, cmd, discard))
    }

    fn is_function(&self, name: &str) -> bool {
        self.functions.contains_key(&name.to_ascii_lowercase())
    }

    /// Runs `run` (from [`Interp::batchable_run`]) as the top-level statements it is:
    /// `None` to go on after it, else what [`Interp::run_top`] returns.
    pub(super) fn run_statements_batched(
        &mut self,
        run: &[Stmt],
        keep_going: bool,
    ) -> Option<Option<i32>> {
        let mut pending: Vec<Bound> = Vec::with_capacity(run.len());
        let mut cmdlet = None;
        for s in run {
            let Some((c, cmd, discard)) = self.batchable(s) else {
                continue;
            };
            cmdlet = Some(c);
            let action = self.preference();
            let bound = match self.plain_args(c, cmd) {
                Ok((named, positionals)) => bind_values(c, &named, &positionals, None).map_err(Ok),
                Err(i) => Err(Err(i)),
            };
            match bound {
                Ok(args) => pending.push(Bound {
                    args,
                    pos: cmd.pos,
                    discard,
                }),
                Err(failure) => {
                    // The statements before it run first, then its own failure is handled
                    // where it stands.
                    if let Some(end) = self.flush_batched(c, &mut pending, keep_going) {
                        return Some(end);
                    }
                    self.failed = false;
                    self.status = 0;
                    let r = match failure {
                        Ok(e) => self.handle(e, cmd.pos, action).map(|_| ()),
                        Err(i) => Err(i),
                    };
                    if let Some(end) = self.after_top(r, keep_going) {
                        return Some(end);
                    }
                }
            }
        }
        match cmdlet {
            Some(c) => self.flush_batched(c, &mut pending, keep_going),
            None => None,
        }
    }

    /// The arguments of a command [`Interp::batchable`] accepted, evaluated as
    /// [`Interp::command`] evaluates them.
    #[allow(clippy::type_complexity)]
    fn plain_args(
        &mut self,
        cmdlet: &'static Cmdlet,
        cmd: &Command,
    ) -> EResult<(Vec<(String, Option<Value>)>, Vec<Value>)> {
        let mut named = Vec::new();
        let mut positionals = Vec::new();
        let mut i = 0;
        while i < cmd.args.len() {
            let a = &cmd.args[i];
            i += 1;
            match a {
                CmdArg::Value(e) => positionals.push(self.expr(e)?),
                CmdArg::Param {
                    name,
                    value: Some(e),
                    ..
                } => {
                    let v = self.expr(e)?;
                    named.push((name.clone(), Some(v)));
                }
                CmdArg::Param {
                    name, value: None, ..
                } => {
                    let takes = resolve_param(cmdlet, name).is_ok_and(|p| p.kind.takes_value());
                    if !takes {
                        named.push((name.clone(), None));
                        continue;
                    }
                    let v = match cmd.args.get(i) {
                        Some(CmdArg::Value(e)) => Some(self.expr(e)?),
                        Some(CmdArg::Param {
                            text, value: None, ..
                        }) => Some(Value::String(text.clone())),
                        _ => None,
                    };
                    if v.is_some() {
                        i += 1;
                    }
                    named.push((name.clone(), v));
                }
            }
        }
        Ok((named, positionals))
    }

    /// Hands the bound statements to the cmdlet's batch form, then settles each statement in
    /// order: its output printed (unless dropped), the first failure handled at its line as a
    /// failing statement is, and under Continue the rest handed over again.
    fn flush_batched(
        &mut self,
        cmdlet: &'static Cmdlet,
        pending: &mut Vec<Bound>,
        keep_going: bool,
    ) -> Option<Option<i32>> {
        let Some(batch) = crate::cli::cmdlets::batch(cmdlet) else {
            pending.clear();
            return None;
        };
        let all: Vec<Bound> = std::mem::take(pending);
        let args: Vec<Args> = all.iter().map(|b| b.args.clone()).collect();
        let view: Vec<String> = cmdlet.table.iter().map(|s| s.to_string()).collect();
        let mut start = 0;
        while start < all.len() {
            let action = self.preference();
            self.ctx.rebind(cmdlet, &args[start]);
            let b = match crate::cli::gate::check(&mut self.ctx, cmdlet) {
                Ok(()) => batch(&mut self.ctx, &args[start..]),
                Err(e) => crate::cli::cmdlets::Batched {
                    outputs: Vec::new(),
                    failed: Some(e),
                },
            };
            self.ctx.flush_warnings();
            let done = b.outputs.len();
            let (form, properties) = (self.ctx.form, self.ctx.properties.clone());
            let status = self.ctx.status;
            for (k, o) in b.outputs.into_iter().enumerate() {
                let st = &all[start + k];
                self.failed = false;
                self.status = status;
                self.vars.insert("lastexitcode".into(), Value::from(status));
                let r = if st.discard {
                    Ok(())
                } else {
                    self.print(stream_of(o, view.clone(), form, properties.clone()))
                        .map_err(|e| Interrupt::Fail(e, st.pos))
                };
                if let Some(end) = self.after_top(r, keep_going) {
                    return Some(end);
                }
            }
            let Some(e) = b.failed else {
                break;
            };
            let Some(st) = all.get(start + done) else {
                break;
            };
            self.failed = false;
            self.status = 0;
            let r = self.handle(e, st.pos, action).map(|_| ());
            if let Some(end) = self.after_top(r, keep_going) {
                return Some(end);
            }
            start += done + 1;
        }
        None
    }
}

/// Whether evaluating `e` can run nothing and read nothing a statement sets as it runs.
fn plain(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Word(_) | ExprKind::Range(..) => true,
        ExprKind::Var(n) => plain_var(n),
        ExprKind::Member(inner, _) | ExprKind::Not(inner) | ExprKind::Unary(_, inner) => {
            plain(inner)
        }
        ExprKind::Cast(_, inner) => plain(inner),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => plain(a) && plain(b),
        ExprKind::Array(items) => items.iter().all(plain),
        ExprKind::Expand(parts) => parts.iter().all(|p| match p {
            Part::Lit(_) => true,
            Part::Var(n) => plain_var(n),
            Part::Sub(_) => false,
        }),
        ExprKind::Method(..)
        | ExprKind::Paren(_)
        | ExprKind::Sub(_)
        | ExprKind::ArrayExpr(_)
        | ExprKind::Hash(_)
        | ExprKind::Block(_) => false,
    }
}

/// Variables a running statement sets (`$?`, `$LASTEXITCODE`, `$Error`, `$_`) are not plain.
fn plain_var(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.split(['.', '[']).next().unwrap_or_default();
    !matches!(
        base,
        "?" | "lastexitcode" | "error" | "_" | "psitem" | "matches"
    )
}
