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
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

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
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Dash("or".into())) {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::Dash("and".into())) {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Filter, String> {
        match self.peek() {
            Some(Tok::Dash(d)) if d == "not" => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let f = self.or()?;
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
            "Cannot bind parameter 'Filter' to the value \"{text}\": {why}."
        ))
        .with_help("write a filter as \"Property -eq 'value'\", joined with -and / -or")
    };
    let toks = tokens(t).map_err(bad)?;
    let mut p = Parser { toks, pos: 0 };
    let f = p.or().map_err(bad)?;
    if p.pos < p.toks.len() {
        return Err(bad(format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(f)
}

impl Filter {
    /// Property names the filter reads (checked against the objects' properties).
    pub fn properties(&self) -> Vec<&str> {
        match self {
            Filter::Cmp { property, .. } => vec![property],
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mut v = a.properties();
                v.extend(b.properties());
                v
            }
            Filter::Not(a) => a.properties(),
        }
    }

    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Filter::And(a, b) => a.matches(r) && b.matches(r),
            Filter::Or(a, b) => a.matches(r) || b.matches(r),
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
}
