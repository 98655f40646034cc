//! OPATH filters as `-Filter` takes them: `Name -eq 'alice'`,
//! `{RecipientTypeDetails -eq 'SharedMailbox' -and Name -like 'a*'}`, with -eq -ne
//! -like -notlike -gt -lt -ge -le, -and, -or, -not and parentheses. Values are quoted
//! strings, bare words, $true, $false or $null. Compared case-insensitively against
//! the objects' properties; a list property matches when any item does.

use serde_json::Value;

use super::error::CliError;
use super::output::{display, wildcard, Record};

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp {
        property: String,
        op: Op,
        value: Option<String>,
    },
    /// All of them (a chain `a -and b -and c` is one node, so a long chain is not a deep tree).
    And(Vec<Filter>),
    /// Any of them.
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// Parentheses and `-not`s may nest this deep; deeper is refused (matching recurses once a level).
pub const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Gt,
    Lt,
    Ge,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Dash(String),
    Open,
    Close,
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '\'' | '"' => {
                let q = c;
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unclosed {q} quote")),
                        Some(&ch) if ch == q => {
                            // '' inside '...' is a literal quote, as in PowerShell.
                            if chars.get(i + 1) == Some(&q) {
                                v.push(q);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')')
                {
                    i += 1;
                }
                let w: String = chars[start..i].iter().collect();
                if let Some(op) = w.strip_prefix('-') {
                    out.push(Tok::Dash(op.to_ascii_lowercase()));
                } else {
                    out.push(Tok::Word(w));
                }
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// How deeply parentheses and `-not`s nest here.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<Filter, String> {
        let first = self.and()?;
        if self.peek() != Some(&Tok::Dash("or".into())) {
            return Ok(first);
        }
        let mut any = vec![first];
        while self.peek() == Some(&Tok::Dash("or".into())) {
            self.pos += 1;
            any.push(self.and()?);
        }
        Ok(Filter::Or(any))
    }
    fn and(&mut self) -> Result<Filter, String> {
        let first = self.unary()?;
        if self.peek() != Some(&Tok::Dash("and".into())) {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.peek() == Some(&Tok::Dash("and".into())) {
            self.pos += 1;
            all.push(self.unary()?);
        }
        Ok(Filter::And(all))
    }
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "parentheses and -not nest deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }
    fn unary(&mut self) -> Result<Filter, String> {
        match self.peek() {
            Some(Tok::Dash(d)) if d == "not" => {
                self.pos += 1;
                self.enter()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                self.enter()?;
                let f = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Tok::Close) => Ok(f),
                    _ => Err("a '(' is not closed".into()),
                }
            }
            _ => self.cmp(),
        }
    }
    fn cmp(&mut self) -> Result<Filter, String> {
        let property = match self.next() {
            Some(Tok::Word(w)) => w,
            Some(t) => return Err(format!("expected a property name, found {t:?}")),
            None => return Err("expected a property name".into()),
        };
        let op = match self.next() {
            Some(Tok::Dash(d)) => match d.as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "like" => Op::Like,
                "notlike" => Op::NotLike,
                "gt" => Op::Gt,
                "lt" => Op::Lt,
                "ge" => Op::Ge,
                "le" => Op::Le,
                other => return Err(format!("unknown operator -{other}")),
            },
            _ => return Err(format!("expected an operator such as -eq after {property}")),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Some(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "$null" => None,
                "$true" => Some("True".into()),
                "$false" => Some("False".into()),
                _ => Some(w),
            },
            _ => return Err(format!("expected a value after {property}")),
        };
        Ok(Filter::Cmp {
            property,
            op,
            value,
        })
    }
}

pub fn parse(text: &str) -> Result<Filter, CliError> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(t);
    let bad = |why: String| {
        CliError::usage(format!(
            "Cannot bind parameter 'Filter' to the value \"{}\": {}.",
            shorten(text),
            shorten(&why)
        ))
        .with_help("write a filter as \"Property -eq 'value'\", joined with -and / -or")
    };
    let toks = tokens(t).map_err(bad)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let f = p.or().map_err(bad)?;
    if p.pos < p.toks.len() {
        return Err(bad(format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(f)
}

/// A filter as an error message quotes it: at most 200 characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}... ({} characters)", &text[..i], text.chars().count()),
        None => text.to_string(),
    }
}

impl Filter {
    /// Property names the filter reads (checked against the objects' properties).
    pub fn properties(&self) -> Vec<&str> {
        match self {
            Filter::Cmp { property, .. } => vec![property],
            Filter::And(all) | Filter::Or(all) => all.iter().flat_map(Filter::properties).collect(),
            Filter::Not(a) => a.properties(),
        }
    }

    /// Rewrites the value of every comparison on `property` that `f` maps (e.g. a
    /// distinguished name to the name the objects show).
    pub fn map_values(&mut self, property: &str, f: &impl Fn(&str) -> Option<String>) {
        match self {
            Filter::Cmp {
                property: p, value, ..
            } => {
                if p.eq_ignore_ascii_case(property) {
                    if let Some(new) = value.as_deref().and_then(f) {
                        *value = Some(new);
                    }
                }
            }
            Filter::And(all) | Filter::Or(all) => {
                for x in all {
                    x.map_values(property, f);
                }
            }
            Filter::Not(a) => a.map_values(property, f),
        }
    }

    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(r)),
            Filter::Or(any) => any.iter().any(|f| f.matches(r)),
            Filter::Not(a) => !a.matches(r),
            Filter::Cmp {
                property,
                op,
                value,
            } => {
                let v = r
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(property))
                    .map(|(_, v)| v)
                    .unwrap_or(&Value::Null);
                let items: Vec<Option<String>> = match v {
                    Value::Null => vec![None],
                    Value::Array(a) if a.is_empty() => vec![None],
                    Value::Array(a) => a.iter().map(|x| Some(display(x))).collect(),
                    other => vec![Some(display(other))],
                };
                let negative = matches!(op, Op::Ne | Op::NotLike);
                let hit = |item: &Option<String>| cmp(item.as_deref(), *op, value.as_deref());
                if negative {
                    items.iter().all(hit)
                } else {
                    items.iter().any(hit)
                }
            }
        }
    }
}

/// One comparison as -Filter and Where-Object make it: case-insensitive, numeric when
/// both sides are numbers, `*`/`?` wildcards for -like; `None` is `$null`.
pub fn compare(item: Option<&str>, op: Op, value: Option<&str>) -> bool {
    cmp(item, op, value)
}

fn cmp(item: Option<&str>, op: Op, value: Option<&str>) -> bool {
    match (item, value) {
        (None, None) => matches!(op, Op::Eq | Op::Like | Op::Ge | Op::Le),
        (None, Some(_)) | (Some(_), None) => matches!(op, Op::Ne | Op::NotLike),
        (Some(a), Some(b)) => {
            let (la, lb) = (a.to_lowercase(), b.to_lowercase());
            let ord = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => la.cmp(&lb),
            };
            match op {
                Op::Eq => la == lb,
                Op::Ne => la != lb,
                Op::Like => wildcard(b, a),
                Op::NotLike => !wildcard(b, a),
                Op::Gt => ord.is_gt(),
                Op::Lt => ord.is_lt(),
                Op::Ge => ord.is_ge(),
                Op::Le => ord.is_le(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        match v {
            Value::Object(m) => m,
            _ => Record::new(),
        }
    }

    #[test]
    fn comparisons_and_logic() {
        let r = rec(
            json!({"Name": "Alice", "RecipientTypeDetails": "UserMailbox", "PersistedCapabilities": ["A", "BPOS_S_EquivioAnalytics"], "DataEncryptionPolicy": null}),
        );
        assert!(parse("Name -eq 'alice'").unwrap().matches(&r));
        assert!(
            parse("{Name -like 'a*' -and RecipientTypeDetails -ne 'SharedMailbox'}")
                .unwrap()
                .matches(&r)
        );
        assert!(parse("PersistedCapabilities -eq 'BPOS_S_EquivioAnalytics'")
            .unwrap()
            .matches(&r));
        assert!(parse("DataEncryptionPolicy -eq $null").unwrap().matches(&r));
        assert!(!parse("-not (Name -eq alice) -or Name -eq bob")
            .unwrap()
            .matches(&r));
        assert!(parse("Name -eq \"it's\"").is_ok());
        assert!(
            parse("Name -eq 'it''s'").unwrap()
                == Filter::Cmp {
                    property: "Name".into(),
                    op: Op::Eq,
                    value: Some("it's".into())
                }
        );
        assert!(parse("Name -bogus 1").is_err());
        assert!(parse("Name -eq").is_err());
        assert!(parse("(Name -eq a").is_err());
    }

    #[test]
    fn deep_or_long_filters_are_errors_or_flat_not_crashes() {
        let r = rec(json!({"Name": "a"}));
        let deep = format!("{}Name -eq a{}", "(".repeat(20_000), ")".repeat(20_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nest deeper"), "{}", e.message);
        assert!(e.message.len() < 1000, "{}", e.message.len());
        let e = parse(&format!("{}Name -eq a", "-not ".repeat(20_000))).unwrap_err();
        assert!(e.message.contains("nest deeper"), "{}", e.message);
        let long = vec!["Name -eq a"; 50_000].join(" -and ");
        assert!(parse(&long).unwrap().matches(&r));
        let long = vec!["Name -eq b"; 50_000].join(" -or ");
        assert!(!parse(&long).unwrap().matches(&r));
        let ok = format!("{}Name -eq a{}", "(".repeat(99), ")".repeat(99));
        assert!(parse(&ok).unwrap().matches(&r));
    }
}
