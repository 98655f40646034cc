//! The tokenizer. PowerShell words are context-dependent, so tokens stay close to the
//! text: a bareword (`alice`, `12/31/9999`, `https://...`) is a `Word` whether it later
//! reads as a command name, an argument or a number; `-Name` and `-eq` are both `Param`,
//! which the parser reads as a parameter in a command and as an operator in an expression.

use std::fmt;

/// A place in the source, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn start() -> Pos {
        Pos { line: 1, col: 1 }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A piece of a double-quoted string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    /// `$name` (or `${name}`).
    Var(String),
    /// `$( ... )`: its source text and where that text starts.
    Sub(String, Pos),
}

/// Tokens that are one character whatever follows.
fn single_char_token(c: char) -> Option<Tok> {
    Some(match c {
        '|' => Tok::Pipe,
        ';' => Tok::Semi,
        ',' => Tok::Comma,
        '(' => Tok::LParen,
        ')' => Tok::RParen,
        '{' => Tok::LBrace,
        '}' => Tok::RBrace,
        '=' => Tok::Assign,
        '!' => Tok::Bang,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bareword.
    Word(String),
    /// `-Name`, `-Name:` (colon: a value follows), `--kebab-name=`; `text` is the word as written.
    Param {
        name: String,
        colon: bool,
        text: String,
    },
    /// `$name`.
    Var(String),
    /// `'...'`.
    Str(String),
    /// `"..."`.
    Expand(Vec<Part>),
    /// `.Name` right after a value.
    Member(String),
    /// `[ ... ]` right after a value: the index expression's text and where it starts.
    Index(String, Pos),
    LParen,
    RParen,
    /// `$(`
    DollarParen,
    /// `@(`
    AtParen,
    /// `@{`: a hashtable.
    AtBrace,
    LBrace,
    RBrace,
    Comma,
    Pipe,
    Semi,
    Newline,
    Assign,
    Bang,
    /// `+` between values.
    Plus,
    /// `+=`
    PlusAssign,
    /// `++` / `--` right after a variable.
    Incr,
    Decr,
    /// `[Name]` or `[Name(args)]` where no index can be: a type or an attribute.
    Type(String),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Param { text, .. } => format!("'{text}'"),
            Tok::Var(v) => format!("'${v}'"),
            Tok::Str(_) | Tok::Expand(_) => "a string".into(),
            Tok::Member(m) => format!("'.{m}'"),
            Tok::Index(..) => "'['".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::DollarParen => "'$('".into(),
            Tok::AtParen => "'@('".into(),
            Tok::AtBrace => "'@{'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Comma => "','".into(),
            Tok::Pipe => "'|'".into(),
            Tok::Semi => "';'".into(),
            Tok::Newline => "the end of the line".into(),
            Tok::Assign => "'='".into(),
            Tok::Bang => "'!'".into(),
            Tok::Plus => "'+'".into(),
            Tok::PlusAssign => "'+='".into(),
            Tok::Incr => "'++'".into(),
            Tok::Decr => "'--'".into(),
            Tok::Type(t) => format!("'[{t}]'"),
            Tok::Eof => "the end of the script".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// A syntax error at a place.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// What an open bracket is: a hashtable's `@{` reads its keys specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Hash,
    Brace,
    Paren,
}

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    pos: Pos,
    out: Vec<Token>,
    /// The brackets open at the cursor, innermost last.
    open: Vec<Open>,
    _src: &'a str,
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '|' | ';' | '(' | ')' | '{' | '}' | ',')
}

fn is_var_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '?' || c == ':'
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }
    fn err<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }
    fn push(&mut self, tok: Tok, pos: Pos) {
        self.track(&tok);
        self.out.push(Token { tok, pos });
    }
    /// Whether a `.` here reads a member of the token before it.
    fn member_allowed(&self) -> bool {
        matches!(
            self.out.last().map(|t| &t.tok),
            Some(
                Tok::Var(_)
                    | Tok::RParen
                    | Tok::Member(_)
                    | Tok::Index(..)
                    | Tok::Str(_)
                    | Tok::Expand(_)
            )
        )
    }
    /// Whether a word here is a hashtable key: directly in `@{ }`, first in the hashtable or
    /// after `;` or a new line. A key ends at `=` (`@{Name='a';Value=1}`), as in PowerShell.
    fn at_hash_key(&self) -> bool {
        self.open.last() == Some(&Open::Hash)
            && matches!(
                self.out.last().map(|t| &t.tok),
                Some(Tok::AtBrace | Tok::Semi | Tok::Newline)
            )
    }

    /// Keeps [`Self::open`] in step with a bracket token just pushed.
    fn track(&mut self, tok: &Tok) {
        match tok {
            Tok::AtBrace => self.open.push(Open::Hash),
            Tok::LBrace => self.open.push(Open::Brace),
            Tok::LParen | Tok::DollarParen | Tok::AtParen => self.open.push(Open::Paren),
            Tok::RBrace | Tok::RParen => {
                self.open.pop();
            }
            _ => {}
        }
    }

    /// Whether the token just before `at` is a variable ending right there (`$i++`).
    fn after_var(&self, at: Pos) -> bool {
        matches!(self.out.last().map(|t| &t.tok), Some(Tok::Var(_))) && self.last_end_adjacent(at)
    }

    /// A type literal at the cursor: `[` name (letters, digits, `.`, `_`), an optional
    /// `( ... )` without brackets inside, `]`. Returns the text between the brackets and the
    /// number of characters it spans, or `None` when the text is not one.
    fn type_literal(&self) -> Option<(String, usize)> {
        let mut k = 1;
        let mut name = String::new();
        while let Some(c) = self
            .peek(k)
            .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_'))
        {
            name.push(c);
            k += 1;
        }
        if self.peek(k) == Some('(') {
            let mut depth = 0;
            loop {
                let c = self.peek(k)?;
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    '[' | ']' | '\n' => return None,
                    _ => {}
                }
                name.push(c);
                k += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        if self.peek(k) != Some(']') || name.len() > 200 {
            return None;
        }
        Some((name, k + 1))
    }

    fn last_end_adjacent(&self, at: Pos) -> bool {
        // Members must follow their value with no space: `$x.Name`, not `$x .Name`.
        self.i > 0 && !self.chars[self.i - 1].is_whitespace() && at.line > 0
    }

    fn run(mut self) -> Result<Vec<Token>, SyntaxError> {
        while let Some(c) = self.peek(0) {
            let at = self.pos;
            match c {
                '\n' => {
                    self.bump();
                    self.push(Tok::Newline, at);
                }
                '\r' => {
                    self.bump();
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '`' => {
                    // Line continuation: a backtick at the end of a line.
                    let mut k = 1;
                    while self.peek(k) == Some('\r')
                        || self.peek(k).is_some_and(|c| c == ' ' || c == '\t')
                    {
                        k += 1;
                    }
                    if self.peek(k) == Some('\n') || self.peek(k).is_none() {
                        for _ in 0..=k {
                            self.bump();
                        }
                    } else {
                        self.word(at)?;
                    }
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '<' if self.peek(1) == Some('#') => {
                    self.bump();
                    self.bump();
                    loop {
                        match self.peek(0) {
                            None => {
                                return self
                                    .err(at, "the block comment '<#' is not closed with '#>'")
                            }
                            Some('#') if self.peek(1) == Some('>') => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            Some(_) => {
                                self.bump();
                            }
                        }
                    }
                }
                c if single_char_token(c).is_some() => {
                    self.bump();
                    if let Some(tok) = single_char_token(c) {
                        self.push(tok, at);
                    }
                }
                '+' if self.peek(1) == Some('+') && self.after_var(at) => {
                    self.bump();
                    self.bump();
                    self.push(Tok::Incr, at);
                }
                '-' if self.peek(1) == Some('-')
                    && self.after_var(at)
                    && !self.peek(2).is_some_and(|c| c.is_alphanumeric()) =>
                {
                    self.bump();
                    self.bump();
                    self.push(Tok::Decr, at);
                }
                '[' if !(self.member_allowed() && self.last_end_adjacent(at))
                    && self.peek(1).is_some_and(|c| c.is_ascii_alphabetic()) =>
                {
                    match self.type_literal() {
                        Some((name, len)) => {
                            for _ in 0..len {
                                self.bump();
                            }
                            self.push(Tok::Type(name), at);
                        }
                        None => self.word(at)?,
                    }
                }
                '+' if self.peek(1) == Some('=') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::PlusAssign, at);
                }
                '+' if self.peek(1).is_none_or(|c| {
                    c.is_whitespace() || matches!(c, '$' | '(' | '@' | '\'' | '"')
                }) =>
                {
                    self.bump();
                    self.push(Tok::Plus, at);
                }
                '.' if self.member_allowed()
                    && self.last_end_adjacent(at)
                    && self.peek(1).is_some_and(|c| c.is_alphabetic() || c == '_') =>
                {
                    self.bump();
                    let mut name = String::new();
                    while let Some(c) = self.peek(0).filter(|c| c.is_alphanumeric() || *c == '_') {
                        name.push(c);
                        self.bump();
                    }
                    self.push(Tok::Member(name), at);
                }
                '[' if self.member_allowed() && self.last_end_adjacent(at) => {
                    self.bump();
                    let start = self.pos;
                    let mut depth = 1;
                    let mut text = String::new();
                    loop {
                        match self.bump() {
                            None => return self.err(at, "the index '[' is not closed with ']'"),
                            Some('[') => {
                                depth += 1;
                                text.push('[');
                            }
                            Some(']') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                                text.push(']');
                            }
                            Some(c) => text.push(c),
                        }
                    }
                    self.push(Tok::Index(text, start), at);
                }
                '\'' => {
                    let s = self.single_quoted()?;
                    self.push(Tok::Str(s), at);
                }
                '"' => {
                    let parts = self.double_quoted()?;
                    self.push(Tok::Expand(parts), at);
                }
                '$' if self.peek(1) == Some('(') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::DollarParen, at);
                }
                '@' if self.peek(1) == Some('(') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::AtParen, at);
                }
                '@' if self.peek(1) == Some('{') => {
                    self.bump();
                    self.bump();
                    self.push(Tok::AtBrace, at);
                }
                '$' => {
                    self.bump();
                    let name = self.var_name(at)?;
                    self.push(Tok::Var(name), at);
                }
                '-' if self.peek(1).is_some_and(|c| c.is_alphabetic())
                    || (self.peek(1) == Some('-')
                        && self.peek(2).is_some_and(|c| c.is_alphabetic())) =>
                {
                    self.param(at);
                }
                _ => self.word(at)?,
            }
        }
        let end = self.pos;
        self.push(Tok::Eof, end);
        Ok(self.out)
    }

    fn var_name(&mut self, at: Pos) -> Result<String, SyntaxError> {
        if self.peek(0) == Some('{') {
            self.bump();
            let mut name = String::new();
            loop {
                match self.bump() {
                    None => return self.err(at, "the variable name '${' is not closed with '}'"),
                    Some('}') => break,
                    Some(c) => name.push(c),
                }
            }
            return Ok(name);
        }
        let mut name = String::new();
        // `$?` and `$_` are whole names.
        if let Some(c @ ('?' | '_')) = self.peek(0) {
            if !self
                .peek(1)
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                self.bump();
                return Ok(c.to_string());
            }
        }
        while let Some(c) = self.peek(0).filter(|c| is_var_char(*c)) {
            // A scope colon (`$env:HOME`) stays in the name; a trailing `:` does not.
            if c == ':'
                && !self
                    .peek(1)
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                break;
            }
            name.push(c);
            self.bump();
        }
        if name.is_empty() {
            return self.err(
                at,
                "a '$' must be followed by a variable name (write '`$' for a literal dollar)",
            );
        }
        Ok(name)
    }

    fn param(&mut self, at: Pos) {
        let mut text = String::new();
        let mut name = String::new();
        let kebab = self.peek(1) == Some('-');
        text.push('-');
        self.bump();
        if kebab {
            text.push('-');
            self.bump();
        }
        let mut colon = false;
        while let Some(c) = self.peek(0) {
            if ends_word(c) {
                break;
            }
            if c == ':' || (kebab && c == '=') {
                self.bump();
                text.push(c);
                colon = true;
                break;
            }
            name.push(c);
            text.push(c);
            self.bump();
        }
        if kebab {
            name = format!("-{name}");
        }
        self.push(Tok::Param { name, colon, text }, at);
    }

    fn word(&mut self, at: Pos) -> Result<(), SyntaxError> {
        let key = self.at_hash_key();
        let mut w = String::new();
        while let Some(c) = self.peek(0) {
            if ends_word(c) || (key && c == '=') {
                break;
            }
            if c == '`' {
                self.bump();
                match self.bump() {
                    Some(e) => w.push(escape(e)),
                    None => return self.err(at, "a backtick must be followed by a character"),
                }
                continue;
            }
            w.push(c);
            self.bump();
        }
        self.push(Tok::Word(w), at);
        Ok(())
    }

    fn single_quoted(&mut self) -> Result<String, SyntaxError> {
        let at = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.err(at, "the string is missing its closing quote (')"),
                Some('\'') if self.peek(0) == Some('\'') => {
                    self.bump();
                    s.push('\'');
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<Vec<Part>, SyntaxError> {
        let at = self.pos;
        self.bump();
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            let here = self.pos;
            match self.bump() {
                None => return self.err(at, "the string is missing its closing quote (\")"),
                Some('"') if self.peek(0) == Some('"') => {
                    self.bump();
                    lit.push('"');
                }
                Some('"') => break,
                Some('`') => match self.bump() {
                    Some(e) => lit.push(escape(e)),
                    None => return self.err(here, "a backtick must be followed by a character"),
                },
                Some('$') if self.peek(0) == Some('(') => {
                    self.bump();
                    let start = self.pos;
                    let mut depth = 1;
                    let mut text = String::new();
                    loop {
                        match self.bump() {
                            None => {
                                return self
                                    .err(here, "the subexpression '$(' is not closed with ')'")
                            }
                            Some('(') => {
                                depth += 1;
                                text.push('(');
                            }
                            Some(')') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                                text.push(')');
                            }
                            Some(c) => text.push(c),
                        }
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Sub(text, start));
                }
                Some('$')
                    if self.peek(0).is_some_and(|c| {
                        c.is_alphanumeric() || c == '_' || c == '{' || c == '?'
                    }) =>
                {
                    let name = self.var_name(here)?;
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(name));
                }
                Some(c) => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(parts)
    }
}

/// PowerShell's backtick escapes.
fn escape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        other => other,
    }
}

/// Splits `src` into tokens; positions count from `start`.
pub fn tokenize(src: &str, start: Pos) -> Result<Vec<Token>, SyntaxError> {
    Lexer {
        chars: src.chars().collect(),
        i: 0,
        pos: start,
        out: Vec::new(),
        open: Vec::new(),
        _src: src,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s, Pos::start())
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn commands_parameters_and_values() {
        assert_eq!(
            toks("Set-Mailbox alice -DataEncryptionPolicy 'US Mailboxes' -Confirm:$false"),
            vec![
                Tok::Word("Set-Mailbox".into()),
                Tok::Word("alice".into()),
                Tok::Param {
                    name: "DataEncryptionPolicy".into(),
                    colon: false,
                    text: "-DataEncryptionPolicy".into()
                },
                Tok::Str("US Mailboxes".into()),
                Tok::Param {
                    name: "Confirm".into(),
                    colon: true,
                    text: "-Confirm:".into()
                },
                Tok::Var("false".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("--default-geo=EUR -5"),
            vec![
                Tok::Param {
                    name: "-default-geo".into(),
                    colon: true,
                    text: "--default-geo=".into()
                },
                Tok::Word("EUR".into()),
                Tok::Word("-5".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn members_only_follow_a_value_directly() {
        assert_eq!(
            toks("$dep.Guid (x).Name"),
            vec![
                Tok::Var("dep".into()),
                Tok::Member("Guid".into()),
                Tok::LParen,
                Tok::Word("x".into()),
                Tok::RParen,
                Tok::Member("Name".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("contoso.onmicrosoft.com"),
            vec![Tok::Word("contoso.onmicrosoft.com".into()), Tok::Eof]
        );
    }

    #[test]
    fn strings_comments_and_continuation() {
        assert_eq!(
            toks("'it''s' # a comment\n\"a $x b$(1)`n\" `\n c <# block\n #> d"),
            vec![
                Tok::Str("it's".into()),
                Tok::Newline,
                Tok::Expand(vec![
                    Part::Lit("a ".into()),
                    Part::Var("x".into()),
                    Part::Lit(" b".into()),
                    Part::Sub("1".into(), Pos { line: 2, col: 10 }),
                    Part::Lit("\n".into()),
                ]),
                Tok::Word("c".into()),
                Tok::Word("d".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("$_ $? @( $( a,b|c;"),
            vec![
                Tok::Var("_".into()),
                Tok::Var("?".into()),
                Tok::AtParen,
                Tok::DollarParen,
                Tok::Word("a".into()),
                Tok::Comma,
                Tok::Word("b".into()),
                Tok::Pipe,
                Tok::Word("c".into()),
                Tok::Semi,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn errors_point_at_the_opening() {
        let e = tokenize("x\n  'open", Pos::start()).unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 3 });
        assert!(e.message.contains("closing quote"));
        let e = tokenize("a $ b", Pos::start()).unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 3 });
        let e = tokenize("\"x $(y\"", Pos::start()).unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 4 });
    }
}
