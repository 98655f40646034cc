//! A recursive-descent parser for the PowerShell subset (see docs/cli.md, "Scripts"):
//!
//! ```text
//! script    := sep* (statement (sep+ statement)*)? sep*          sep := newline | ';'
//! statement := 'exit' expr? | if | $var ('=' | '+=') pipeline | pipeline
//! if        := 'if' '(' pipeline ')' block ('elseif' '(' pipeline ')' block)* ('else' block)?
//! foreach   := 'foreach' '(' $var 'in' pipeline ')' block
//! pipeline  := element ('|' newline* command)*
//! element   := command | expr
//! command   := WORD (PARAM [':' arg] | arg)*
//! arg       := arg-primary (',' newline* arg-primary)*
//! expr      := and ('-or' and)*
//! and       := not ('-and' not)*
//! not       := ('-not' | '!') not | cmp
//! cmp       := additive (CMPOP additive)*
//! additive  := array ('+' array)*
//! array     := postfix (',' newline* postfix)*
//! postfix   := primary MEMBER*
//! primary   := NUMBER | STRING | $var | '(' pipeline ')' | '$(' script ')' | '@(' script ')' | '{' script '}'
//!            | '@{' (KEY '=' pipeline sep*)* '}'
//! ```

use std::rc::Rc;

use serde_json::Value;

use super::ast::*;
use super::lexer::{self, Pos, SyntaxError, Tok, Token};

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// How deeply parentheses, blocks, `-not` and quoted subexpressions nest here.
    depth: usize,
    /// The deepest level of the syntax tree built so far: nesting (`depth`) plus the links of
    /// the left-deep chains (`a.b.c`, `a -eq b -eq c`, `a + b + c`, `$a[0][0]`) below it.
    peak: usize,
}

/// A syntax tree deeper than this is refused: nested parentheses, blocks, `-not`s and quoted
/// subexpressions count, and so does each link of a chain of members, indexes or binary
/// operators, since the evaluator (and dropping the tree) recurses once per level. A hostile
/// script gets a syntax error, never a stack overflow.
pub const MAX_DEPTH: usize = 100;

type PResult<T> = Result<T, SyntaxError>;

/// The most numbers a range `a..b` may give (a script value holds at most 32 MiB, 64 bytes an
/// element).
const MAX_RANGE: u64 = 500_000;

/// `a..b` with whole numbers: its bounds.
fn range(w: &str) -> Option<(i64, i64)> {
    let (a, b) = w.split_once("..")?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

pub(super) fn number(w: &str) -> Option<Value> {
    if let Ok(i) = w.parse::<i64>() {
        return Some(Value::from(i));
    }
    if w.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '.')
    {
        if let Ok(f) = w.parse::<f64>() {
            if f.is_finite() {
                return Some(Value::from(f));
            }
        }
    }
    None
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> Pos {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(SyntaxError {
            pos: self.pos(),
            message: message.into(),
        })
    }
    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Tok::Newline) {
            self.i += 1;
        }
    }
    fn expect(&mut self, want: Tok, what: &str, opened: Pos) -> PResult<()> {
        self.skip_newlines();
        if *self.peek() == want {
            self.i += 1;
            Ok(())
        } else {
            Err(SyntaxError {
                pos: self.pos(),
                message: format!(
                    "expected {what} to close the one at {opened}, found {}",
                    self.peek().describe()
                ),
            })
        }
    }

    /// Statements until `end` (Eof, `)` or `}`), which is not consumed.
    fn statements(&mut self, end: &Tok) -> PResult<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            while matches!(self.peek(), Tok::Newline | Tok::Semi) {
                self.i += 1;
            }
            if self.peek() == end || matches!(self.peek(), Tok::Eof) {
                return Ok(out);
            }
            out.push(self.statement()?);
            match self.peek() {
                Tok::Newline | Tok::Semi => {}
                t if t == end => {}
                Tok::Eof => {}
                other => {
                    return self.err(format!(
                    "unexpected {} after the statement; separate statements with a new line or ';'",
                    other.describe()
                ))
                }
            }
        }
    }

    /// `{ statements }` after `if`, `elseif` or `else`.
    fn block(&mut self, after: &str) -> PResult<Rc<Vec<Stmt>>> {
        self.skip_newlines();
        let open = self.pos();
        if !matches!(self.peek(), Tok::LBrace) {
            return self.err(format!(
                "expected '{{' after {after}, found {}",
                self.peek().describe()
            ));
        }
        self.i += 1;
        self.enter()?;
        let body = self.statements(&Tok::RBrace)?;
        self.depth -= 1;
        self.expect(Tok::RBrace, "'}'", open)?;
        Ok(Rc::new(body))
    }

    /// `( pipeline )` after `if` or `elseif`.
    fn condition(&mut self, after: &str) -> PResult<Pipeline> {
        self.skip_newlines();
        let open = self.pos();
        if !matches!(self.peek(), Tok::LParen) {
            return self.err(format!(
                "expected '(' and a condition after {after}, found {}",
                self.peek().describe()
            ));
        }
        self.i += 1;
        self.skip_newlines();
        let p = self.pipeline()?;
        self.expect(Tok::RParen, "')'", open)?;
        Ok(p)
    }

    fn at_word(&self, k: usize, word: &str) -> bool {
        matches!(self.toks.get(k).map(|t| &t.tok), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn if_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let mut branches = vec![(self.condition("if")?, self.block("the if condition")?)];
        let mut otherwise = None;
        loop {
            // `elseif` / `else` may follow on the next line.
            let mut k = self.i;
            while matches!(self.toks.get(k).map(|t| &t.tok), Some(Tok::Newline)) {
                k += 1;
            }
            if self.at_word(k, "elseif") {
                self.i = k + 1;
                branches.push((
                    self.condition("elseif")?,
                    self.block("the elseif condition")?,
                ));
            } else if self.at_word(k, "else") {
                self.i = k + 1;
                otherwise = Some(self.block("else")?);
                break;
            } else {
                break;
            }
        }
        Ok(Stmt {
            kind: StmtKind::If(branches, otherwise),
            pos,
        })
    }

    fn foreach_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let open = self.pos();
        self.i += 1; // the '(' checked by the caller
        self.skip_newlines();
        let Tok::Var(name) = self.peek().clone() else {
            return self.err(format!(
                "expected a variable after 'foreach (', found {}",
                self.peek().describe()
            ));
        };
        self.i += 1;
        if !self.at_word(self.i, "in") {
            return self.err(format!(
                "expected 'in' after ${name}, found {}",
                self.peek().describe()
            ));
        }
        self.i += 1;
        self.skip_newlines();
        let items = self.pipeline()?;
        self.expect(Tok::RParen, "')'", open)?;
        let body = self.block("the foreach")?;
        Ok(Stmt {
            kind: StmtKind::Foreach(name, items, body),
            pos,
        })
    }

    /// Whether the statement ends here (nothing follows `return`, `throw`, `exit`).
    fn at_statement_end(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Newline | Tok::Semi | Tok::Eof | Tok::RBrace | Tok::RParen
        )
    }

    /// `( pipeline )` after `while`, `until`.
    fn loop_condition(&mut self, after: &str) -> PResult<Pipeline> {
        self.condition(after)
    }

    fn while_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let cond = self.loop_condition("while")?;
        let body = self.block("the while condition")?;
        Ok(Stmt {
            kind: StmtKind::While(cond, body),
            pos,
        })
    }

    fn do_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let body = self.block("do")?;
        let mut k = self.i;
        while matches!(self.toks.get(k).map(|t| &t.tok), Some(Tok::Newline)) {
            k += 1;
        }
        let until = if self.at_word(k, "while") {
            false
        } else if self.at_word(k, "until") {
            true
        } else {
            return self
                .err("expected 'while (condition)' or 'until (condition)' after the do block");
        };
        self.i = k + 1;
        let cond = self.loop_condition(if until { "until" } else { "while" })?;
        Ok(Stmt {
            kind: StmtKind::Do(body, cond, until),
            pos,
        })
    }

    fn for_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let open = self.pos();
        self.i += 1; // the '(' checked by the caller
        self.skip_newlines();
        let init = if matches!(self.peek(), Tok::Semi) {
            None
        } else {
            Some(Box::new(self.statement()?))
        };
        self.expect(Tok::Semi, "';' after the for loop's first part", open)?;
        self.skip_newlines();
        let cond = if matches!(self.peek(), Tok::Semi) {
            None
        } else {
            Some(self.pipeline()?)
        };
        self.expect(Tok::Semi, "';' after the for loop's condition", open)?;
        self.skip_newlines();
        let step = if matches!(self.peek(), Tok::RParen) {
            None
        } else {
            Some(Box::new(self.statement()?))
        };
        self.expect(Tok::RParen, "')'", open)?;
        let body = self.block("the for loop")?;
        Ok(Stmt {
            kind: StmtKind::For(init, cond, step, body),
            pos,
        })
    }

    /// `[Parameter(...)] [type] $Name = default`, separated by commas, up to `)`.
    fn params(&mut self, open: Pos) -> PResult<Vec<FuncParam>> {
        let mut out: Vec<FuncParam> = Vec::new();
        loop {
            self.skip_newlines();
            if matches!(self.peek(), Tok::RParen) {
                break;
            }
            let mut p = FuncParam {
                name: String::new(),
                switch: false,
                mandatory: false,
                ty: None,
                default: None,
            };
            while let Tok::Type(t) = self.peek().clone() {
                self.i += 1;
                self.skip_newlines();
                let lower = t.to_ascii_lowercase().replace(' ', "");
                if lower.starts_with("parameter(") {
                    p.mandatory =
                        lower.contains("mandatory") && !lower.contains("mandatory=$false");
                } else if lower == "switch" || lower == "switchparameter" {
                    p.switch = true;
                } else if !lower.contains('(') {
                    p.ty = Some(lower);
                }
            }
            let Tok::Var(name) = self.peek().clone() else {
                return self.err(format!(
                    "expected a parameter such as $Name in the parameter list, found {}",
                    self.peek().describe()
                ));
            };
            self.i += 1;
            if out.iter().any(|q| q.name.eq_ignore_ascii_case(&name)) {
                return self.err(format!("the parameter ${name} is declared twice"));
            }
            p.name = name;
            if matches!(self.peek(), Tok::Assign) {
                self.i += 1;
                self.skip_newlines();
                p.default = Some(self.postfix()?);
            }
            out.push(p);
            self.skip_newlines();
            match self.peek() {
                Tok::Comma => self.i += 1,
                Tok::RParen => break,
                other => {
                    return self.err(format!(
                        "expected ',' or ')' in the parameter list, found {}",
                        other.describe()
                    ))
                }
            }
        }
        self.expect(Tok::RParen, "')'", open)?;
        Ok(out)
    }

    fn function_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let name = match self.peek().clone() {
            Tok::Word(w) if number(&w).is_none() => w,
            other => {
                return self.err(format!(
                    "expected a function name after 'function', found {}",
                    other.describe()
                ))
            }
        };
        self.i += 1;
        let mut params = Vec::new();
        if matches!(self.peek(), Tok::LParen) {
            let open = self.pos();
            self.i += 1;
            params = self.params(open)?;
        }
        self.skip_newlines();
        let open = self.pos();
        if !matches!(self.peek(), Tok::LBrace) {
            return self.err(format!(
                "expected '{{' and the body of the function {name}, found {}",
                self.peek().describe()
            ));
        }
        self.i += 1;
        self.enter()?;
        self.skip_newlines();
        if self.at_word(self.i, "param")
            && matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::LParen))
        {
            if !params.is_empty() {
                return self.err(format!(
                    "the function {name} declares its parameters twice (after its name and in param())"
                ));
            }
            self.i += 1;
            let popen = self.pos();
            self.i += 1;
            params = self.params(popen)?;
        }
        let body = self.statements(&Tok::RBrace)?;
        self.depth -= 1;
        self.expect(Tok::RBrace, "'}'", open)?;
        Ok(Stmt {
            kind: StmtKind::Function(Rc::new(Function {
                name,
                params,
                body: Rc::new(body),
            })),
            pos,
        })
    }

    fn try_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let body = self.block("try")?;
        let mut catches = Vec::new();
        let mut finally = None;
        loop {
            let mut k = self.i;
            while matches!(self.toks.get(k).map(|t| &t.tok), Some(Tok::Newline)) {
                k += 1;
            }
            if self.at_word(k, "catch") && finally.is_none() {
                self.i = k + 1;
                let mut types = Vec::new();
                while let Tok::Type(t) = self.peek().clone() {
                    self.i += 1;
                    types.push(t);
                    if matches!(self.peek(), Tok::Comma) {
                        self.i += 1;
                        self.skip_newlines();
                    }
                }
                catches.push(Catch {
                    types,
                    body: self.block("catch")?,
                });
            } else if self.at_word(k, "finally") && finally.is_none() {
                self.i = k + 1;
                finally = Some(self.block("finally")?);
            } else {
                break;
            }
        }
        if catches.is_empty() && finally.is_none() {
            return self.err("a try block needs a catch or a finally block after it");
        }
        Ok(Stmt {
            kind: StmtKind::Try(body, catches, finally),
            pos,
        })
    }

    fn switch_statement(&mut self, pos: Pos) -> PResult<Stmt> {
        self.i += 1;
        let mut mode = SwitchMode::Exact;
        let mut case_sensitive = false;
        while let Tok::Param { name, text, .. } = self.peek().clone() {
            match name.to_ascii_lowercase().as_str() {
                "wildcard" => mode = SwitchMode::Wildcard,
                "regex" => mode = SwitchMode::Regex,
                "exact" => mode = SwitchMode::Exact,
                "casesensitive" => case_sensitive = true,
                _ => {
                    return self.err(format!(
                        "the switch option {text} is not supported; use -Wildcard, -Regex, -Exact or -CaseSensitive"
                    ))
                }
            }
            self.i += 1;
        }
        let subject = self.condition("switch")?;
        self.skip_newlines();
        let open = self.pos();
        if !matches!(self.peek(), Tok::LBrace) {
            return self.err(format!(
                "expected '{{' and the switch's patterns after its value, found {}",
                self.peek().describe()
            ));
        }
        self.i += 1;
        self.enter()?;
        let mut clauses = Vec::new();
        let mut default = None;
        loop {
            while matches!(self.peek(), Tok::Newline | Tok::Semi) {
                self.i += 1;
            }
            let at = self.pos();
            let pattern = match self.peek().clone() {
                Tok::RBrace | Tok::Eof => break,
                Tok::Word(w) if w.eq_ignore_ascii_case("default") => {
                    self.i += 1;
                    if default.is_some() {
                        return Err(SyntaxError {
                            pos: at,
                            message: "the switch has two default clauses; keep one".into(),
                        });
                    }
                    default = Some(self.block("default in the switch")?);
                    continue;
                }
                // A bare word is a string (a number when it reads as one), as in PowerShell.
                Tok::Word(w) => {
                    self.i += 1;
                    Expr {
                        kind: ExprKind::Lit(number(&w).unwrap_or(Value::String(w))),
                        pos: at,
                    }
                }
                _ => self.postfix()?,
            };
            let body = self.block("the switch pattern")?;
            clauses.push((pattern, body));
        }
        self.depth -= 1;
        self.expect(Tok::RBrace, "'}'", open)?;
        Ok(Stmt {
            kind: StmtKind::Switch(Rc::new(Switch {
                mode,
                case_sensitive,
                subject,
                clauses,
                default,
            })),
            pos,
        })
    }

    fn statement(&mut self) -> PResult<Stmt> {
        let pos = self.pos();
        if self.at_word(self.i, "if") {
            return self.if_statement(pos);
        }
        let paren_next = matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::LParen));
        if self.at_word(self.i, "while") && paren_next {
            return self.while_statement(pos);
        }
        if self.at_word(self.i, "for") && paren_next {
            return self.for_statement(pos);
        }
        let brace_next = matches!(
            self.toks.get(self.i + 1).map(|t| &t.tok),
            Some(Tok::LBrace | Tok::Newline)
        );
        if self.at_word(self.i, "do") && brace_next {
            return self.do_statement(pos);
        }
        if self.at_word(self.i, "try") && brace_next {
            return self.try_statement(pos);
        }
        if self.at_word(self.i, "function") {
            return self.function_statement(pos);
        }
        if self.at_word(self.i, "switch")
            && matches!(
                self.toks.get(self.i + 1).map(|t| &t.tok),
                Some(Tok::LParen | Tok::Param { .. })
            )
        {
            return self.switch_statement(pos);
        }
        for (word, kind) in [("break", StmtKind::Break), ("continue", StmtKind::Continue)] {
            if self.at_word(self.i, word) {
                self.i += 1;
                if !self.at_statement_end() {
                    return self.err(format!(
                        "'{word}' with a loop label is not supported; write {word} alone"
                    ));
                }
                return Ok(Stmt { kind, pos });
            }
        }
        if self.at_word(self.i, "return") || self.at_word(self.i, "throw") {
            let ret = self.at_word(self.i, "return");
            self.i += 1;
            let value = if self.at_statement_end() {
                None
            } else {
                Some(self.pipeline()?)
            };
            let kind = if ret {
                StmtKind::Return(value)
            } else {
                StmtKind::Throw(value)
            };
            return Ok(Stmt { kind, pos });
        }
        if let (Tok::Var(name), Some(step @ (Tok::Incr | Tok::Decr))) = (
            self.peek().clone(),
            self.toks.get(self.i + 1).map(|t| t.tok.clone()),
        ) {
            self.i += 2;
            return Ok(Stmt {
                kind: StmtKind::Step(name, if step == Tok::Incr { 1 } else { -1 }),
                pos,
            });
        }
        // `foreach (` starts a loop; `foreach` elsewhere is the ForEach-Object alias.
        if self.at_word(self.i, "foreach")
            && matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::LParen))
        {
            return self.foreach_statement(pos);
        }
        if let Tok::Word(w) = self.peek() {
            if w.eq_ignore_ascii_case("exit") {
                self.i += 1;
                let code = if matches!(
                    self.peek(),
                    Tok::Newline | Tok::Semi | Tok::Eof | Tok::RBrace | Tok::RParen
                ) {
                    None
                } else {
                    Some(self.expr()?)
                };
                return Ok(Stmt {
                    kind: StmtKind::Exit(code),
                    pos,
                });
            }
        }
        if matches!(self.peek(), Tok::Var(_))
            && matches!(
                self.toks.get(self.i + 1).map(|t| &t.tok),
                Some(Tok::Member(_) | Tok::Index(..))
            )
        {
            if let Some(st) = self.set_place(pos)? {
                return Ok(st);
            }
        }
        if let (Tok::Var(name), Some(op @ (Tok::Assign | Tok::PlusAssign))) = (
            self.peek().clone(),
            self.toks.get(self.i + 1).map(|t| t.tok.clone()),
        ) {
            self.i += 2;
            self.skip_newlines();
            let mut p = self.pipeline()?;
            if op == Tok::PlusAssign {
                // `$a += x` is `$a = $a + (x)`.
                let var = Expr {
                    kind: ExprKind::Var(name.clone()),
                    pos,
                };
                let rhs = Expr {
                    kind: ExprKind::Paren(Box::new(p)),
                    pos,
                };
                p = Pipeline {
                    elements: vec![Element::Expr(Expr {
                        kind: ExprKind::Binary(BinOp::Add, Box::new(var), Box::new(rhs)),
                        pos,
                    })],
                };
            }
            return Ok(Stmt {
                kind: StmtKind::Assign(name, p),
                pos,
            });
        }
        let p = self.pipeline()?;
        Ok(Stmt {
            kind: StmtKind::Pipeline(p),
            pos,
        })
    }

    /// `$a.b.c = value` / `$a[0] += value`, when the statement is one; otherwise nothing is
    /// consumed.
    fn set_place(&mut self, pos: Pos) -> PResult<Option<Stmt>> {
        let (start, peak) = (self.i, self.peak);
        let target = self.postfix()?;
        let op = self.peek().clone();
        if !matches!(op, Tok::Assign | Tok::PlusAssign) || !place(&target) {
            self.i = start;
            self.peak = peak;
            return Ok(None);
        }
        self.i += 1;
        self.skip_newlines();
        let mut p = self.pipeline()?;
        if op == Tok::PlusAssign {
            let rhs = Expr {
                kind: ExprKind::Paren(Box::new(p)),
                pos,
            };
            p = Pipeline {
                elements: vec![Element::Expr(Expr {
                    kind: ExprKind::Binary(BinOp::Add, Box::new(target.clone()), Box::new(rhs)),
                    pos,
                })],
            };
        }
        Ok(Some(Stmt {
            kind: StmtKind::SetPlace(target, p),
            pos,
        }))
    }

    fn pipeline(&mut self) -> PResult<Pipeline> {
        let mut elements = vec![self.element(true)?];
        while matches!(self.peek(), Tok::Pipe) {
            self.i += 1;
            self.skip_newlines();
            elements.push(self.element(false)?);
        }
        Ok(Pipeline { elements })
    }

    fn element(&mut self, first: bool) -> PResult<Element> {
        match self.peek().clone() {
            Tok::Word(w) if number(&w).is_none() && range(&w).is_none() => {
                Ok(Element::Command(self.command()?))
            }
            Tok::Pipe | Tok::Eof | Tok::Newline | Tok::Semi | Tok::RParen | Tok::RBrace => {
                if first {
                    self.err(format!("expected a command or an expression, found {}", self.peek().describe()))
                } else {
                    self.err("an empty pipe element is not allowed: a command must follow '|'")
                }
            }
            _ if first => Ok(Element::Expr(self.expr()?)),
            other => self.err(format!(
                "expressions are only allowed as the first element of a pipeline; found {} after '|'",
                other.describe()
            )),
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let t = self.next();
        let Tok::Word(name) = t.tok else {
            return Err(SyntaxError {
                pos: t.pos,
                message: "expected a command name".into(),
            });
        };
        let mut args = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Pipe | Tok::Newline | Tok::Semi | Tok::Eof | Tok::RParen | Tok::RBrace => {
                    break
                }
                Tok::Param { name, colon, text } => {
                    let pos = self.pos();
                    self.i += 1;
                    let value = if colon {
                        if matches!(
                            self.peek(),
                            Tok::Pipe
                                | Tok::Newline
                                | Tok::Semi
                                | Tok::Eof
                                | Tok::RParen
                                | Tok::RBrace
                        ) {
                            return self.err(format!(
                                "the parameter {text} needs a value after the colon"
                            ));
                        }
                        Some(self.arg()?)
                    } else {
                        None
                    };
                    args.push(CmdArg::Param {
                        name,
                        text,
                        value,
                        pos,
                    });
                }
                Tok::Assign | Tok::Bang | Tok::Plus | Tok::PlusAssign => {
                    return self.err(format!(
                        "unexpected {} in the arguments of {name}",
                        self.peek().describe()
                    ))
                }
                _ => args.push(CmdArg::Value(self.arg()?)),
            }
        }
        Ok(Command {
            name,
            pos: t.pos,
            args,
        })
    }

    /// An argument: one value, or a comma list of them.
    fn arg(&mut self) -> PResult<Expr> {
        self.comma_list(Self::arg_primary)
    }

    /// One `item`, or a comma list of them (a newline may follow each comma) as an array.
    fn comma_list(&mut self, item: fn(&mut Self) -> PResult<Expr>) -> PResult<Expr> {
        let pos = self.pos();
        let first = item(self)?;
        if !matches!(self.peek(), Tok::Comma) {
            return Ok(first);
        }
        let mut items = vec![first];
        while matches!(self.peek(), Tok::Comma) {
            self.i += 1;
            self.skip_newlines();
            items.push(item(self)?);
        }
        Ok(Expr {
            kind: ExprKind::Array(items),
            pos,
        })
    }

    fn arg_primary(&mut self) -> PResult<Expr> {
        match self.peek().clone() {
            Tok::Word(w) => {
                let pos = self.pos();
                self.i += 1;
                Ok(Expr {
                    kind: ExprKind::Word(w),
                    pos,
                })
            }
            // `[text]` as a word unless a value follows it to convert (`[int]$x`).
            Tok::Type(t)
                if !matches!(
                    self.toks.get(self.i + 1).map(|t| &t.tok),
                    Some(
                        Tok::Var(_)
                            | Tok::LParen
                            | Tok::Str(_)
                            | Tok::Expand(_)
                            | Tok::DollarParen
                            | Tok::AtParen
                    )
                ) =>
            {
                let pos = self.pos();
                self.i += 1;
                Ok(Expr {
                    kind: ExprKind::Lit(Value::String(format!("[{t}]"))),
                    pos,
                })
            }
            // A word that looks like a parameter, where a value is expected (after a comma).
            Tok::Param { text, .. } => {
                let pos = self.pos();
                self.i += 1;
                Ok(Expr {
                    kind: ExprKind::Lit(Value::String(text)),
                    pos,
                })
            }
            _ => self.postfix(),
        }
    }

    fn expr(&mut self) -> PResult<Expr> {
        let (mut left, mut height) = self.measured(Self::and)?;
        while self.at_op("or") {
            let pos = self.pos();
            self.i += 1;
            self.skip_newlines();
            let (right, h) = self.measured(Self::and)?;
            height = 1 + height.max(h);
            self.link(height)?;
            left = Expr {
                kind: ExprKind::Binary(BinOp::Or, Box::new(left), Box::new(right)),
                pos,
            };
        }
        Ok(left)
    }

    fn at_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Param { name, colon: false, .. } if name.eq_ignore_ascii_case(op))
    }

    fn and(&mut self) -> PResult<Expr> {
        let (mut left, mut height) = self.measured(Self::not)?;
        while self.at_op("and") {
            let pos = self.pos();
            self.i += 1;
            self.skip_newlines();
            let (right, h) = self.measured(Self::not)?;
            height = 1 + height.max(h);
            self.link(height)?;
            left = Expr {
                kind: ExprKind::Binary(BinOp::And, Box::new(left), Box::new(right)),
                pos,
            };
        }
        Ok(left)
    }

    /// Enters one level of nesting; `self.depth -= 1` must follow.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        self.peak = self.peak.max(self.depth);
        if self.depth > MAX_DEPTH {
            return self.err(too_deep());
        }
        Ok(())
    }

    /// Runs one parse step and also returns the height of the tree it built, in levels below
    /// the current depth.
    #[inline(always)]
    fn measured<T>(&mut self, step: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<(T, usize)> {
        let outer = self.peak;
        self.peak = self.depth;
        let r = step(self);
        let height = self.peak - self.depth;
        self.peak = self.peak.max(outer);
        r.map(|v| (v, height))
    }

    /// One more link of a left-deep chain, whose tree is now `height` levels deep.
    #[inline(always)]
    fn link(&mut self, height: usize) -> PResult<()> {
        let level = self.depth + height;
        self.peak = self.peak.max(level);
        if level > MAX_DEPTH {
            return self.err(too_deep());
        }
        Ok(())
    }

    fn not(&mut self) -> PResult<Expr> {
        for (word, op) in [("join", BinOp::Join), ("split", BinOp::Split)] {
            if self.at_op(word) {
                let pos = self.pos();
                self.i += 1;
                self.enter()?;
                let inner = self.not()?;
                self.depth -= 1;
                return Ok(Expr {
                    kind: ExprKind::Unary(op, Box::new(inner)),
                    pos,
                });
            }
        }
        if self.at_op("not") || matches!(self.peek(), Tok::Bang) {
            let pos = self.pos();
            self.i += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(inner)),
                pos,
            });
        }
        self.cmp()
    }

    fn cmp(&mut self) -> PResult<Expr> {
        let (mut left, mut height) = self.measured(Self::additive)?;
        while let Tok::Param {
            name, colon: false, ..
        } = self.peek().clone()
        {
            let Some(op) = BinOp::parse(&name) else {
                if name.eq_ignore_ascii_case("and") || name.eq_ignore_ascii_case("or") {
                    break;
                }
                return self.err(format!(
                    "unknown operator -{name}; use -eq -ne -like -notlike -match -notmatch -gt -lt -ge -le -contains -notcontains -in -notin -join -split -replace -and -or -not"
                ));
            };
            if matches!(
                op,
                BinOp::And
                    | BinOp::Or
                    | BinOp::Add
                    | BinOp::Sub
                    | BinOp::Mul
                    | BinOp::Div
                    | BinOp::Mod
            ) {
                break;
            }
            let pos = self.pos();
            self.i += 1;
            self.skip_newlines();
            let (right, h) = self.measured(Self::additive)?;
            height = 1 + height.max(h);
            self.link(height)?;
            left = Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                pos,
            };
        }
        Ok(left)
    }

    /// The arithmetic operator at the cursor of the given level: `+` `-` (additive) or `*` `/`
    /// `%` (multiplicative).
    fn arith_op(&self, multiplicative: bool) -> Option<BinOp> {
        match (self.peek(), multiplicative) {
            (Tok::Plus, false) => Some(BinOp::Add),
            (Tok::Word(w), false) if w == "-" => Some(BinOp::Sub),
            (Tok::Word(w), true) if w == "*" => Some(BinOp::Mul),
            (Tok::Word(w), true) if w == "/" => Some(BinOp::Div),
            (Tok::Word(w), true) if w == "%" => Some(BinOp::Mod),
            _ => None,
        }
    }

    fn additive(&mut self) -> PResult<Expr> {
        self.arith_chain(false)
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        self.arith_chain(true)
    }

    /// A left-deep chain of one precedence level: `a + b - c` over multiplicative terms, or
    /// `a * b / c` over array terms.
    fn arith_chain(&mut self, multiplicative: bool) -> PResult<Expr> {
        let term = |p: &mut Self| {
            if multiplicative {
                p.array()
            } else {
                p.multiplicative()
            }
        };
        let (mut left, mut height) = self.measured(term)?;
        while let Some(op) = self.arith_op(multiplicative) {
            let pos = self.pos();
            self.i += 1;
            self.skip_newlines();
            let (right, h) = self.measured(term)?;
            height = 1 + height.max(h);
            self.link(height)?;
            left = Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                pos,
            };
        }
        Ok(left)
    }

    fn array(&mut self) -> PResult<Expr> {
        self.comma_list(Self::postfix)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let (mut e, mut height) = self.measured(Self::primary)?;
        loop {
            match self.peek().clone() {
                Tok::Member(m) => {
                    let pos = self.pos();
                    self.i += 1;
                    // `(` right after the name, with no space: a method call.
                    let call = matches!(self.peek(), Tok::LParen)
                        && self.pos().line == pos.line
                        && self.pos().col == pos.col + 1 + m.chars().count();
                    if call {
                        let open = self.pos();
                        self.i += 1;
                        let outer = self.peak;
                        self.peak = self.depth;
                        self.enter()?;
                        let args = self.method_args(open);
                        self.depth -= 1;
                        let h = self.peak - self.depth;
                        self.peak = self.peak.max(outer);
                        height = 1 + height.max(h);
                        self.link(height)?;
                        e = Expr {
                            kind: ExprKind::Method(Box::new(e), m, args?),
                            pos,
                        };
                        continue;
                    }
                    height += 1;
                    self.link(height)?;
                    e = Expr {
                        kind: ExprKind::Member(Box::new(e), m),
                        pos,
                    };
                }
                Tok::Index(text, at) => {
                    let pos = self.pos();
                    self.i += 1;
                    let toks = lexer::tokenize(&text, at)?;
                    // The index parses one level below the chain (so nested indexes nest).
                    let mut sub = Parser {
                        toks,
                        i: 0,
                        depth: self.depth + 1,
                        peak: self.depth + 1,
                    };
                    if sub.depth > MAX_DEPTH {
                        return self.err(too_deep());
                    }
                    sub.skip_newlines();
                    let idx = sub.expr()?;
                    sub.skip_newlines();
                    if !matches!(sub.peek(), Tok::Eof) {
                        return sub
                            .err(format!("unexpected {} in the index", sub.peek().describe()));
                    }
                    height = 1 + height.max(sub.peak - self.depth);
                    self.link(height)?;
                    e = Expr {
                        kind: ExprKind::Index(Box::new(e), Box::new(idx)),
                        pos,
                    };
                }
                _ => return Ok(e),
            }
        }
    }

    /// A method's arguments after its `(`, separated by commas, and the closing `)`.
    fn method_args(&mut self, open: Pos) -> PResult<Vec<Expr>> {
        self.skip_newlines();
        if matches!(self.peek(), Tok::RParen) {
            self.i += 1;
            return Ok(Vec::new());
        }
        let e = self.expr()?;
        self.expect(Tok::RParen, "')' after the method's arguments", open)?;
        Ok(match e.kind {
            ExprKind::Array(items) => items,
            _ => vec![e],
        })
    }

    fn primary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.primary_inner();
        self.depth -= 1;
        e
    }

    fn primary_inner(&mut self) -> PResult<Expr> {
        let t = self.next();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Word(w) => match (number(&w), range(&w)) {
                (Some(n), _) => ExprKind::Lit(n),
                // A range is made when it is evaluated: the script holds only its bounds.
                (None, Some((a, b))) if a.abs_diff(b) < MAX_RANGE => ExprKind::Range(a, b),
                (None, Some(_)) => {
                    self.i -= 1;
                    return self.err(format!(
                        "the range {w} gives more than {MAX_RANGE} numbers, more than a script value may hold"
                    ));
                }
                (None, None) => {
                    self.i -= 1;
                    return self.err(format!(
                        "unexpected word '{w}' in an expression; quote a string ('{w}') or write a command first in the pipeline"
                    ));
                }
            },
            Tok::Str(s) => ExprKind::Lit(Value::String(s)),
            Tok::Type(t) => {
                let inner = self.postfix()?;
                ExprKind::Cast(t.to_ascii_lowercase(), Box::new(inner))
            }
            Tok::Expand(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    out.push(match p {
                        lexer::Part::Lit(s) => Part::Lit(s),
                        lexer::Part::Var(v) => Part::Var(v),
                        lexer::Part::Sub(text, at) => {
                            let (stmts, peak) = parse_nested(&text, at, self.depth + 1)?;
                            self.peak = self.peak.max(peak);
                            Part::Sub(stmts)
                        }
                    });
                }
                ExprKind::Expand(out)
            }
            Tok::Var(v) => ExprKind::Var(v),
            Tok::LParen => {
                self.skip_newlines();
                let p = self.pipeline()?;
                self.expect(Tok::RParen, "')'", pos)?;
                ExprKind::Paren(Box::new(p))
            }
            Tok::DollarParen => {
                let s = self.statements(&Tok::RParen)?;
                self.expect(Tok::RParen, "')'", pos)?;
                ExprKind::Sub(s)
            }
            Tok::AtParen => {
                let s = self.statements(&Tok::RParen)?;
                self.expect(Tok::RParen, "')'", pos)?;
                ExprKind::ArrayExpr(s)
            }
            Tok::LBrace => {
                let s = self.statements(&Tok::RBrace)?;
                self.expect(Tok::RBrace, "'}'", pos)?;
                ExprKind::Block(Rc::new(s))
            }
            Tok::AtBrace => {
                let mut entries: Vec<(String, Pipeline)> = Vec::new();
                loop {
                    while matches!(self.peek(), Tok::Newline | Tok::Semi) {
                        self.i += 1;
                    }
                    let key = match self.peek().clone() {
                        Tok::RBrace => break,
                        Tok::Word(w) => w,
                        Tok::Str(s) => s,
                        other => {
                            return self.err(format!(
                                "expected a key in the hashtable, found {}",
                                other.describe()
                            ))
                        }
                    };
                    self.i += 1;
                    if !matches!(self.peek(), Tok::Assign) {
                        return self.err(format!(
                            "expected '=' after the hashtable key '{key}', found {}",
                            self.peek().describe()
                        ));
                    }
                    self.i += 1;
                    self.skip_newlines();
                    let value = self.pipeline()?;
                    if entries.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                        return self.err(format!("the hashtable has the key '{key}' twice"));
                    }
                    entries.push((key, value));
                }
                self.expect(Tok::RBrace, "'}'", pos)?;
                ExprKind::Hash(entries)
            }
            other => {
                self.i -= 1;
                return self.err(format!("expected a value, found {}", other.describe()));
            }
        };
        Ok(Expr { kind, pos })
    }
}

/// Whether an expression is a property or element of a variable, to any depth.
fn place(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Var(_) => true,
        ExprKind::Member(inner, _) | ExprKind::Index(inner, _) => place(inner),
        _ => false,
    }
}

fn too_deep() -> String {
    format!("the script nests deeper than {MAX_DEPTH} levels (parentheses, blocks, -not, and each link of a chain such as $a.b.c, a -eq b -eq c or a + b + c count)")
}

/// Parses source text whose first character is at `start`.
pub fn parse_at(src: &str, start: Pos) -> Result<Vec<Stmt>, SyntaxError> {
    parse_nested(src, start, 0).map(|(stmts, _)| stmts)
}

/// The statements, and the deepest level their tree reaches.
fn parse_nested(src: &str, start: Pos, depth: usize) -> Result<(Vec<Stmt>, usize), SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            pos: start,
            message: too_deep(),
        });
    }
    let toks = lexer::tokenize(src, start)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth,
        peak: depth,
    };
    let stmts = p.statements(&Tok::Eof)?;
    match p.peek() {
        Tok::Eof => Ok((stmts, p.peak)),
        other => p.err(format!("unexpected {}", other.describe())),
    }
}

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Vec<Stmt>, SyntaxError> {
    parse_at(src, Pos::start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &Stmt) -> &Command {
        match &s.kind {
            StmtKind::Pipeline(p) => match &p.elements[0] {
                Element::Command(c) => c,
                e => panic!("not a command: {e:?}"),
            },
            k => panic!("not a pipeline: {k:?}"),
        }
    }

    #[test]
    fn statements_split_on_newlines_and_semicolons() {
        let s = parse("Get-Mailbox; Get-Mailbox alice\n\n# note\nGet-Date").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(cmd(&s[1]).name, "Get-Mailbox");
        assert_eq!(s[2].pos, Pos { line: 4, col: 1 });
    }

    #[test]
    fn assignments_members_and_subexpressions() {
        let s = parse("$dep = Get-DataEncryptionPolicy X\nSet-Thing -Guid $dep.Guid -Expires (Get-Date -Date \"12/31/9999\")").unwrap();
        let StmtKind::Assign(name, p) = &s[0].kind else {
            panic!("{:?}", s[0])
        };
        assert_eq!(name, "dep");
        assert!(
            matches!(&p.elements[0], Element::Command(c) if c.name == "Get-DataEncryptionPolicy")
        );
        let c = cmd(&s[1]);
        let CmdArg::Param {
            value: None, name, ..
        } = &c.args[0]
        else {
            panic!()
        };
        assert_eq!(name, "Guid");
        let CmdArg::Value(Expr {
            kind: ExprKind::Member(inner, m),
            ..
        }) = &c.args[1]
        else {
            panic!("{:?}", c.args[1])
        };
        assert_eq!(m, "Guid");
        assert_eq!(inner.kind, ExprKind::Var("dep".into()));
        let CmdArg::Value(Expr {
            kind: ExprKind::Paren(p),
            ..
        }) = &c.args[3]
        else {
            panic!()
        };
        assert!(
            matches!(&p.elements[0], Element::Command(c) if c.name == "Get-Date" && c.args.len() == 2)
        );
    }

    #[test]
    fn arrays_in_both_modes() {
        let s = parse("$a = @('a','b'); $b = 'x', 'y'; Set-X -L a,b, `\n c").unwrap();
        let StmtKind::Assign(_, p) = &s[0].kind else {
            panic!()
        };
        assert!(
            matches!(&p.elements[0], Element::Expr(Expr { kind: ExprKind::ArrayExpr(v), .. }) if v.len() == 1)
        );
        let StmtKind::Assign(_, p) = &s[1].kind else {
            panic!()
        };
        assert!(
            matches!(&p.elements[0], Element::Expr(Expr { kind: ExprKind::Array(v), .. }) if v.len() == 2)
        );
        let c = cmd(&s[2]);
        assert!(
            matches!(&c.args[1], CmdArg::Value(Expr { kind: ExprKind::Array(v), .. }) if v.len() == 3)
        );
    }

    #[test]
    fn pipelines_blocks_and_operators() {
        let s = parse("Get-Mailbox | Where-Object { $_.IsEncrypted -eq $false -and -not ($_.Name -like 'a*') } |\n  Select-Object -ExpandProperty Name").unwrap();
        let StmtKind::Pipeline(p) = &s[0].kind else {
            panic!()
        };
        assert_eq!(p.elements.len(), 3);
        let Element::Command(w) = &p.elements[1] else {
            panic!()
        };
        let CmdArg::Value(Expr {
            kind: ExprKind::Block(b),
            ..
        }) = &w.args[0]
        else {
            panic!()
        };
        let StmtKind::Pipeline(inner) = &b[0].kind else {
            panic!()
        };
        let Element::Expr(Expr {
            kind: ExprKind::Binary(BinOp::And, l, r),
            ..
        }) = &inner.elements[0]
        else {
            panic!("{inner:?}")
        };
        assert!(matches!(l.kind, ExprKind::Binary(BinOp::Eq, _, _)));
        assert!(matches!(r.kind, ExprKind::Not(_)));
    }

    #[test]
    fn indexes_parse_as_expressions() {
        let s = parse("$a[0]; $a[-1].Name").unwrap();
        let StmtKind::Pipeline(p) = &s[1].kind else {
            panic!()
        };
        let Element::Expr(Expr {
            kind: ExprKind::Member(inner, m),
            ..
        }) = &p.elements[0]
        else {
            panic!()
        };
        assert_eq!(m, "Name");
        assert!(
            matches!(&inner.kind, ExprKind::Index(_, i) if i.kind == ExprKind::Lit(serde_json::json!(-1)))
        );
        let e = parse("$a[1 2]").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 6 });
    }

    #[test]
    fn foreach_loops() {
        let s = parse("foreach ($m in Get-Mailbox) {\n Set-Mailbox $m.Identity -DisplayName x\n}\nGet-Mailbox | foreach { $_ }").unwrap();
        assert_eq!(s.len(), 2);
        assert!(matches!(&s[0].kind, StmtKind::Foreach(n, _, b) if n == "m" && b.len() == 1));
        let StmtKind::Pipeline(p) = &s[1].kind else {
            panic!()
        };
        assert!(matches!(&p.elements[1], Element::Command(c) if c.name == "foreach"));
        let e = parse("foreach (m in $x) { }").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 10 });
        let e = parse("foreach ($m of $x) { }").unwrap_err();
        assert!(e.message.contains("expected 'in'"), "{}", e.message);
    }

    #[test]
    fn if_elseif_else() {
        let s = parse(
            "if ($a -eq 1) { 'one' }\nelseif ($a) {\n 'some' } else { 'none'; exit 2 }\n'after'",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        let StmtKind::If(branches, Some(otherwise)) = &s[0].kind else {
            panic!("{:?}", s[0])
        };
        assert_eq!(branches.len(), 2);
        assert_eq!(otherwise.len(), 2);
        let s = parse("if (Get-Mailbox alice) { 'x' }; 'y'").unwrap();
        assert!(matches!(&s[0].kind, StmtKind::If(b, None) if b.len() == 1));
        let e = parse("if $a { 'x' }").unwrap_err();
        assert!(
            e.message.contains("expected '(' and a condition after if"),
            "{}",
            e.message
        );
        let e = parse("if ($a) 'x'").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 9 });
        let e = parse("if ($a) { 'x' } else").unwrap_err();
        assert!(e.message.contains("after else"), "{}", e.message);
    }

    #[test]
    fn hashtable_keys_end_at_equals() {
        let keys = |src: &str| -> Vec<(String, usize)> {
            let s = parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
            let StmtKind::Assign(_, p) = &s[0].kind else {
                panic!("{:?}", s[0])
            };
            let Element::Expr(Expr {
                kind: ExprKind::Hash(entries),
                ..
            }) = &p.elements[0]
            else {
                panic!("{p:?}")
            };
            entries
                .iter()
                .map(|(k, v)| (k.clone(), v.elements.len()))
                .collect()
        };
        assert_eq!(
            keys("$h = @{Name='a';Value=1}"),
            vec![("Name".into(), 1), ("Value".into(), 1)]
        );
        assert_eq!(keys("$h = @{SkuId=\"06eb\"}"), vec![("SkuId".into(), 1)]);
        assert_eq!(
            keys("$h = @{a=1\n'b c'=2; 3=@{x=4}}"),
            vec![("a".into(), 1), ("b c".into(), 1), ("3".into(), 1)]
        );
        // Outside a hashtable's keys a word keeps its '=': `-Filter a=b`, and a block in a
        // hashtable's value reads its own words.
        let s = parse("Set-X a=b; $h = @{ f = { Set-Y c=d } }").unwrap();
        assert!(
            matches!(&cmd(&s[0]).args[0], CmdArg::Value(Expr { kind: ExprKind::Word(w), .. }) if w == "a=b")
        );
    }

    #[test]
    fn switch_statements() {
        let s = parse("switch -Wildcard ($x)\n{\n 'a*' { 1 }\n b { 2 }; 3 { 3 }\n { $_ -gt 1 } { 4 }\n default { 5 }\n}").unwrap();
        let StmtKind::Switch(sw) = &s[0].kind else {
            panic!("{:?}", s[0])
        };
        assert_eq!(sw.mode, SwitchMode::Wildcard);
        assert_eq!(sw.clauses.len(), 4);
        assert_eq!(
            sw.clauses[1].0.kind,
            ExprKind::Lit(Value::String("b".into()))
        );
        assert_eq!(sw.clauses[2].0.kind, ExprKind::Lit(Value::from(3)));
        assert!(matches!(sw.clauses[3].0.kind, ExprKind::Block(_)));
        assert!(sw.default.is_some());
        let e = parse("switch ($x) { default { 1 } default { 2 } }").unwrap_err();
        assert!(e.message.contains("two default"), "{}", e.message);
        let e = parse("switch -File x.txt { }").unwrap_err();
        assert!(
            e.message.contains("-File is not supported"),
            "{}",
            e.message
        );
        let e = parse("switch ($x) { 'a' }").unwrap_err();
        assert!(e.message.contains("expected '{'"), "{}", e.message);
    }

    #[test]
    fn method_calls() {
        let s = parse("$s.Substring(0, 3).ToUpper(); $s.Length (1)").unwrap_err();
        assert!(s.message.contains("unexpected '('"), "{}", s.message);
        let s = parse("$s.Substring(0,\n 3).ToUpper()").unwrap();
        let StmtKind::Pipeline(p) = &s[0].kind else {
            panic!()
        };
        let Element::Expr(Expr {
            kind: ExprKind::Method(inner, m, args),
            ..
        }) = &p.elements[0]
        else {
            panic!("{p:?}")
        };
        assert_eq!(m, "ToUpper");
        assert!(args.is_empty());
        assert!(
            matches!(&inner.kind, ExprKind::Method(_, m, a) if m == "Substring" && a.len() == 2)
        );
        assert!(parse(&format!("$a{}", ".b()".repeat(200))).is_err());
    }

    #[test]
    fn properties_and_elements_as_assignment_targets() {
        let s = parse(
            "$r.Properties.enableSoftDelete = 'True'; $a[0] += 1; $r.Name -eq 'x'; $s.Trim()",
        )
        .unwrap();
        assert!(
            matches!(&s[0].kind, StmtKind::SetPlace(Expr { kind: ExprKind::Member(_, m), .. }, _) if m == "enableSoftDelete")
        );
        let StmtKind::SetPlace(t, p) = &s[1].kind else {
            panic!("{:?}", s[1])
        };
        assert!(matches!(t.kind, ExprKind::Index(..)));
        assert!(matches!(
            &p.elements[0],
            Element::Expr(Expr {
                kind: ExprKind::Binary(BinOp::Add, _, _),
                ..
            })
        ));
        assert!(matches!(&s[2].kind, StmtKind::Pipeline(_)));
        assert!(matches!(&s[3].kind, StmtKind::Pipeline(_)));
        let e = parse("$s.Trim() = 1").unwrap_err();
        assert!(e.message.contains("'='"), "{}", e.message);
    }

    #[test]
    fn exit_and_expressions_first() {
        let s = parse("'a','b' | Set-X; exit 3").unwrap();
        assert!(
            matches!(&s[1].kind, StmtKind::Exit(Some(Expr { kind: ExprKind::Lit(v), .. })) if v == 3)
        );
        let StmtKind::Pipeline(p) = &s[0].kind else {
            panic!()
        };
        assert!(matches!(&p.elements[0], Element::Expr(_)));
    }

    /// Runs a test on a stack as large as the binary gives its main thread (`src/main.rs`):
    /// the test harness's threads have 2 MiB, too little for 100 levels in a debug build.
    fn on_big_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(crate::STACK_BYTES)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        on_big_stack(deep_nesting);
    }

    fn deep_nesting() {
        let deep = format!("$x = {}1{}", "(".repeat(5000), ")".repeat(5000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nests deeper"), "{}", e.message);
        let e = parse(&"-not ".repeat(5000)).unwrap_err();
        assert!(e.message.contains("nests deeper"), "{}", e.message);
        let mut s = String::from("1");
        for _ in 0..300 {
            s = format!("\"$({s})\"");
        }
        assert!(parse(&s).is_err());
        assert!(parse(&format!("$x = {}1{}", "(".repeat(50), ")".repeat(50))).is_ok());
    }

    #[test]
    fn long_chains_count_as_nesting() {
        on_big_stack(long_chains);
    }

    fn long_chains() {
        // Left-deep chains build a tree as deep as they are long.
        for chain in [
            format!("$a{}", ".b".repeat(10_000)),
            format!("$a{}", "[0]".repeat(10_000)),
            format!("$a{}1{}", "[$a".repeat(5_000), "]".repeat(5_000)),
            format!("1{}", " -eq 1".repeat(10_000)),
            format!("1{}", " + 1".repeat(10_000)),
            format!("$a{}", " -and $a".repeat(10_000)),
            format!("$a{}", " -or $a".repeat(10_000)),
            (0..60).fold("$a".to_string(), |s, _| format!("\"$({s}.b)\".Length")),
            // Chains inside parentheses inside chains: the levels add up.
            format!("((($a{0}){0}){0}){1}", ".b".repeat(10), ".b".repeat(80)),
        ] {
            let e = parse(&chain).unwrap_err();
            assert!(e.message.contains("nests deeper"), "{}", e.message);
        }
        assert!(parse(&format!("$a{}", ".b".repeat(90))).is_ok());
        assert!(parse(&format!("1{}", " + 1".repeat(90))).is_ok());
        assert!(parse(&format!("$a{}", "[0]".repeat(90))).is_ok());
        assert!(parse(&format!(
            "((($a{0}){0}){0}){1}",
            ".b".repeat(10),
            ".b".repeat(50)
        ))
        .is_ok());
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = parse("Get-Mailbox |\n\n  | x").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 3 });
        assert!(e.message.contains("empty pipe element"), "{}", e.message);
        let e = parse("Get-X (Get-Y\nSet-Z").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        assert!(e.message.contains("close the one at 1:7"), "{}", e.message);
        let e = parse("$x = $a -bogus 1").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 9 });
        let e = parse("Get-X | 'a'").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 9 });
        let e = parse("Where-Object { $_.x -eq 1 ").unwrap_err();
        assert!(e.message.contains("'}'"), "{}", e.message);
        let e = parse("$x = \"a $(Get-X (\" ").unwrap_err();
        assert_eq!(e.pos.line, 1);
        let e = parse("x -P:").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 6 });
    }
}
