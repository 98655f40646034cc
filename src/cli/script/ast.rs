//! The syntax tree the parser builds and the evaluator walks.

use std::rc::Rc;

use super::lexer::Pos;

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `$name = pipeline`
    Assign(String, Pipeline),
    Pipeline(Pipeline),
    /// `exit [code]`
    Exit(Option<Expr>),
    /// `if (cond) { } elseif (cond) { } else { }`: the branches in order, then the else.
    If(Vec<(Pipeline, Rc<Vec<Stmt>>)>, Option<Rc<Vec<Stmt>>>),
    /// `foreach ($name in pipeline) { }`
    Foreach(String, Pipeline, Rc<Vec<Stmt>>),
    /// `while (cond) { }`
    While(Pipeline, Rc<Vec<Stmt>>),
    /// `do { } while (cond)` (`until`: `do { } until (cond)`).
    Do(Rc<Vec<Stmt>>, Pipeline, bool),
    /// `for (init; cond; step) { }`, each part optional.
    For(
        Option<Box<Stmt>>,
        Option<Pipeline>,
        Option<Box<Stmt>>,
        Rc<Vec<Stmt>>,
    ),
    /// `break`, `continue`: the innermost loop.
    Break,
    Continue,
    /// `return [value]`: outputs the value, then leaves the function or script.
    Return(Option<Pipeline>),
    /// `throw [value]`: a terminating error (in a catch block, bare `throw` rethrows).
    Throw(Option<Pipeline>),
    /// `function Name { param(...) ... }`
    Function(Rc<Function>),
    /// `try { } catch [T] { } finally { }`
    Try(Rc<Vec<Stmt>>, Vec<Catch>, Option<Rc<Vec<Stmt>>>),
    /// `$i++` (1) and `$i--` (-1).
    Step(String, i64),
    /// `$r.Properties.enableSoftDelete = value`, `$a[0] = value`: a property or element of a
    /// variable set (`+=` adds to it).
    SetPlace(Expr, Pipeline),
    /// `switch [-Wildcard | -Regex | -Exact] [-CaseSensitive] (value) { pattern { } ... default { } }`
    Switch(Rc<Switch>),
}

/// How a `switch` compares each value with its patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchMode {
    /// `-eq` (the default, and `-Exact`).
    Exact,
    /// `-like`: `*` and `?` wildcards.
    Wildcard,
    /// `-match`: a regular expression.
    Regex,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    pub mode: SwitchMode,
    pub case_sensitive: bool,
    /// The value switched on: each element of an array in turn.
    pub subject: Pipeline,
    /// The patterns in order: a value (compared as `mode` says) or a script block
    /// (`{ $_ -gt 5 }`, true or not), each with its body.
    pub clauses: Vec<(Expr, Rc<Vec<Stmt>>)>,
    /// `default { }`: runs for a value no pattern matched.
    pub default: Option<Rc<Vec<Stmt>>>,
}

/// A script function: PowerShell's `function` with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub params: Vec<FuncParam>,
    pub body: Rc<Vec<Stmt>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FuncParam {
    pub name: String,
    /// `[switch]$Force`: present or not, takes no value.
    pub switch: bool,
    /// `[Parameter(Mandatory)]` / `[Parameter(Mandatory = $true)]`.
    pub mandatory: bool,
    /// `[string]`, `[int]`...: the value is converted when bound.
    pub ty: Option<String>,
    pub default: Option<Expr>,
}

/// One `catch` clause: the error types it names (none: every error), and its block.
#[derive(Debug, Clone, PartialEq)]
pub struct Catch {
    pub types: Vec<String>,
    pub body: Rc<Vec<Stmt>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Command(Command),
    /// Only as the first element: `'a','b' | Set-Mailbox ...`, `$x | fl`.
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub pos: Pos,
    pub args: Vec<CmdArg>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CmdArg {
    /// `-Name`, or `-Name:value` (then `value` is set).
    Param {
        name: String,
        text: String,
        value: Option<Expr>,
        pos: Pos,
    },
    Value(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Like,
    NotLike,
    Match,
    NotMatch,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    /// `+`: numbers add, strings and arrays concatenate.
    Add,
    /// `-`, `*`, `/`, `%`: arithmetic (`*` also repeats a string or an array).
    Sub,
    Mul,
    Div,
    Mod,
    /// `-join`: the elements of the left side as text, separated by the right side.
    Join,
    /// `-split`: the left side cut at each match of the regular expression on the right.
    Split,
    /// `-replace`: `'text' -replace 'regex', 'with'`.
    Replace,
    /// `-contains` / `-notcontains`: whether the left collection holds the right value.
    Contains,
    NotContains,
    /// `-in` / `-notin`: whether the right collection holds the left value.
    In,
    NotIn,
}

impl BinOp {
    pub fn parse(name: &str) -> Option<BinOp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "eq" | "ieq" => BinOp::Eq,
            "ne" | "ine" => BinOp::Ne,
            "like" | "ilike" => BinOp::Like,
            "notlike" | "inotlike" => BinOp::NotLike,
            "match" | "imatch" => BinOp::Match,
            "notmatch" | "inotmatch" => BinOp::NotMatch,
            "gt" | "igt" => BinOp::Gt,
            "lt" | "ilt" => BinOp::Lt,
            "ge" | "ige" => BinOp::Ge,
            "le" | "ile" => BinOp::Le,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "join" => BinOp::Join,
            "split" | "isplit" => BinOp::Split,
            "replace" | "ireplace" => BinOp::Replace,
            "contains" | "icontains" => BinOp::Contains,
            "notcontains" | "inotcontains" => BinOp::NotContains,
            "in" | "iin" => BinOp::In,
            "notin" | "inotin" => BinOp::NotIn,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Var(String),
    Sub(Vec<Stmt>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A string, number or other constant.
    Lit(serde_json::Value),
    /// A bare word in a command's arguments: a string to a cmdlet, which converts it to its
    /// parameter's type; a number to a script function when it reads as one (`Add-Two 3`).
    Word(String),
    Var(String),
    Member(Box<Expr>, String),
    /// `$s.ToUpper()`, `$s.Substring(0, 3)`: a method of the value, with its arguments.
    Method(Box<Expr>, String, Vec<Expr>),
    /// `$a[0]`, `$a[-1]`, `$o['Name']`
    Index(Box<Expr>, Box<Expr>),
    /// A double-quoted string.
    Expand(Vec<Part>),
    /// `( pipeline )`
    Paren(Box<Pipeline>),
    /// `$( statements )`
    Sub(Vec<Stmt>),
    /// `@( statements )`: always an array.
    ArrayExpr(Vec<Stmt>),
    /// `a, b, c`
    Array(Vec<Expr>),
    /// `1..10`, `10..1`: the whole numbers from one bound to the other (fewer than 500,000).
    Range(i64, i64),
    /// `@{ Key = value; ... }`: a hashtable, in the order written.
    Hash(Vec<(String, Pipeline)>),
    /// `{ statements }`
    Block(Rc<Vec<Stmt>>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// Unary `-join $a` (no separator) and `-split $s` (at whitespace).
    Unary(BinOp, Box<Expr>),
    /// `[int]$x`, `[string](...)`: a conversion to a type.
    Cast(String, Box<Expr>),
}
