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
    Var(String),
    Member(Box<Expr>, String),
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
}
