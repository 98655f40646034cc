//! Values in scripts are JSON values (what cmdlets output as records, plus plain strings,
//! numbers and booleans); these are the operations the language and the utility cmdlets
//! share: truth, member access, comparison, ordering.

use std::cmp::Ordering;

use serde_json::Value;

use crate::cli::error::CliError;
use crate::cli::filter::{self, Op};
use crate::cli::output::display;

use super::ast::BinOp;

/// PowerShell's truth: `$null`, `$false`, 0, '' and an empty array are false; a
/// one-element array is as true as its element.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => match a.as_slice() {
            [] => false,
            [one] => truthy(one),
            _ => true,
        },
        Value::Object(_) => true,
    }
}

/// A property, matched without regard to case.
pub fn property<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// `$x.Name`: an object's property; on an array, each element's (member enumeration);
/// `.Count` and `.Length` of arrays and strings.
pub fn member(v: &Value, name: &str) -> Value {
    if let Some(p) = property(v, name) {
        return p.clone();
    }
    let lower = name.to_ascii_lowercase();
    match v {
        Value::Array(a) if lower == "count" || lower == "length" => Value::from(a.len()),
        Value::String(s) if lower == "length" => Value::from(s.chars().count()),
        // A date from Get-Date (RFC 3339 text): `.Year`, `.DayOfWeek`, `.Date`...
        Value::String(s) => match super::methods::date_property(s, name) {
            Some(p) => p,
            None if lower == "count" => Value::from(1),
            None => Value::Null,
        },
        Value::Null if lower == "count" => Value::from(0),
        Value::Array(a) => {
            let mut out = Vec::new();
            for item in a {
                match member(item, name) {
                    Value::Null => {}
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Value::Array(out)
        }
        _ if lower == "count" => Value::from(1),
        _ => Value::Null,
    }
}

/// `$a[i]`: an array element (negative counts from the end), a string's character, an
/// object's property by name; anything out of range is `$null`.
pub fn index(v: &Value, i: &Value) -> Value {
    if let Value::String(name) = i {
        if let Some(p) = property(v, name) {
            return p.clone();
        }
    }
    if let (Value::Object(_), Value::Number(n)) = (v, i) {
        if let Some(p) = property(v, &n.to_string()) {
            return p.clone();
        }
    }
    let Some(n) = i
        .as_i64()
        .or_else(|| i.as_str().and_then(|s| s.trim().parse().ok()))
    else {
        return Value::Null;
    };
    let at = |len: usize| -> Option<usize> {
        let k = if n < 0 { len as i64 + n } else { n };
        (0..len as i64).contains(&k).then_some(k as usize)
    };
    match v {
        Value::Array(a) => at(a.len()).map_or(Value::Null, |k| a[k].clone()),
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            at(chars.len()).map_or(Value::Null, |k| Value::String(chars[k].to_string()))
        }
        Value::Null => Value::Null,
        other if n == 0 || n == -1 => other.clone(),
        _ => Value::Null,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(display(other)),
    }
}

/// One comparison of two scalars (the semantics of -Filter: case-insensitive, numeric when
/// both read as numbers, wildcards for -like); -match is a case-insensitive regex.
pub fn compare_scalar(op: BinOp, left: &Value, right: &Value) -> Result<bool, CliError> {
    let (l, r) = (text(left), text(right));
    // `$x -eq $true`: the left side converts to a boolean, as PowerShell converts.
    if let Value::Bool(b) = right {
        if matches!(op, BinOp::Eq | BinOp::Ne) && !left.is_null() {
            let lb = match left {
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                other => truthy(other),
            };
            return Ok((lb == *b) == (op == BinOp::Eq));
        }
    }
    let fop = match op {
        BinOp::Eq => Op::Eq,
        BinOp::Ne => Op::Ne,
        BinOp::Like => Op::Like,
        BinOp::NotLike => Op::NotLike,
        BinOp::Gt => Op::Gt,
        BinOp::Lt => Op::Lt,
        BinOp::Ge => Op::Ge,
        BinOp::Le => Op::Le,
        BinOp::Match | BinOp::NotMatch => {
            let pattern = r.unwrap_or_default();
            let re = regex::RegexBuilder::new(&pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| {
                    CliError::usage(format!("The regular expression '{pattern}' is not valid: {e}"))
                        .with_help("-match takes a .NET-style regular expression; -like takes * and ? wildcards")
                })?;
            let hit = re.is_match(&l.unwrap_or_default());
            return Ok(if op == BinOp::Match { hit } else { !hit });
        }
        BinOp::And
        | BinOp::Or
        | BinOp::Add
        | BinOp::Sub
        | BinOp::Mul
        | BinOp::Div
        | BinOp::Mod
        | BinOp::Join
        | BinOp::Split
        | BinOp::Replace
        | BinOp::Contains
        | BinOp::NotContains
        | BinOp::In
        | BinOp::NotIn => return Ok(false),
    };
    Ok(filter::compare(l.as_deref(), fop, r.as_deref()))
}

/// A comparison as an expression: on an array left side, the elements that match (as
/// PowerShell filters); otherwise a boolean.
pub fn compare(op: BinOp, left: &Value, right: &Value) -> Result<Value, CliError> {
    match op {
        BinOp::Join => return join(left, &text(right).unwrap_or_default()),
        BinOp::Split => return split(left, Some(&text(right).unwrap_or_default())),
        BinOp::Replace => return replace(left, right),
        BinOp::Contains | BinOp::NotContains => {
            let hit = contains(left, right)?;
            return Ok(Value::Bool(hit == (op == BinOp::Contains)));
        }
        BinOp::In | BinOp::NotIn => {
            let hit = contains(right, left)?;
            return Ok(Value::Bool(hit == (op == BinOp::In)));
        }
        _ => {}
    }
    if let Value::Array(items) = left {
        let mut out = Vec::new();
        for item in items {
            if compare_scalar(op, item, right)? {
                out.push(item.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    Ok(Value::Bool(compare_scalar(op, left, right)?))
}

fn regex(pattern: &str, op: &str) -> Result<regex::Regex, CliError> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            CliError::usage(format!("The regular expression '{pattern}' of {op} is not valid: {e}"))
                .with_help("-split and -replace take a .NET-style regular expression; escape . * + ? ( ) [ ] with a backslash to match them as text")
        })
}

/// `text -match pattern` with its captures: `None` when it does not match, else PowerShell's
/// `$matches`: the whole match as key `0`, each group that took part by number, and named
/// groups (`(?<name>...)`) by name.
pub fn captures(
    text: &str,
    pattern: &str,
    case_insensitive: bool,
) -> Result<Option<Value>, CliError> {
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            CliError::usage(format!(
                "The regular expression '{pattern}' is not valid: {e}"
            ))
            .with_help(
                "-match takes a .NET-style regular expression; -like takes * and ? wildcards",
            )
        })?;
    let Some(c) = re.captures(text) else {
        return Ok(None);
    };
    let mut m = serde_json::Map::new();
    for (k, name) in re.capture_names().enumerate() {
        if let Some(g) = c.get(k) {
            let key = name.map_or_else(|| k.to_string(), str::to_string);
            m.insert(key, Value::String(g.as_str().to_string()));
        }
    }
    Ok(Some(Value::Object(m)))
}

/// `a -join sep` and `-join a`: the elements as text, separated by `sep`.
pub fn join(left: &Value, sep: &str) -> Result<Value, CliError> {
    let parts: Vec<String> = items(left.clone()).iter().map(interpolate).collect();
    let v = Value::String(parts.join(sep));
    check_size(&v, "the result of -join")?;
    Ok(v)
}

/// `s -split pattern` (a case-insensitive regular expression) and `-split s` (`None`: at runs of
/// whitespace, empty pieces dropped); an array splits each element.
pub fn split(left: &Value, pattern: Option<&str>) -> Result<Value, CliError> {
    let re = pattern.map(|p| regex(p, "-split")).transpose()?;
    let mut out = Vec::new();
    for item in items(left.clone()) {
        let s = interpolate(&item);
        match &re {
            Some(re) => out.extend(re.split(&s).map(|p| Value::String(p.to_string()))),
            None => out.extend(s.split_whitespace().map(|p| Value::String(p.to_string()))),
        }
        if out.len() > 500_000 {
            return Err(CliError::usage(
                "the result of -split would have more than 500,000 pieces",
            )
            .with_help("a script value is limited in size (see 'Input limits' in docs/cli.md)"));
        }
    }
    let v = Value::Array(out);
    check_size(&v, "the result of -split")?;
    Ok(v)
}

/// `s -replace pattern, with` (`with` may name groups as `$1`; no `with`: the matches are
/// removed); an array replaces in each element.
pub fn replace(left: &Value, right: &Value) -> Result<Value, CliError> {
    let (pattern, with) = match right {
        Value::Array(a) => match a.as_slice() {
            [p] => (interpolate(p), String::new()),
            [p, w] => (interpolate(p), interpolate(w)),
            _ => {
                return Err(CliError::usage(format!(
                "-replace takes a pattern and a replacement ('a' -replace 'x', 'y'), not {} values",
                a.len()
            )))
            }
        },
        other => (interpolate(other), String::new()),
    };
    let re = regex(&pattern, "-replace")?;
    let one =
        |v: &Value| Value::String(re.replace_all(&interpolate(v), with.as_str()).into_owned());
    let v = match left {
        Value::Array(a) => Value::Array(a.iter().map(one).collect()),
        Value::Null => Value::String(String::new()),
        other => one(other),
    };
    check_size(&v, "the result of -replace")?;
    Ok(v)
}

/// Whether the collection `set` holds `item` (compared as -eq compares).
pub fn contains(set: &Value, item: &Value) -> Result<bool, CliError> {
    for x in items(set.clone()) {
        if compare_scalar(BinOp::Eq, &x, item)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn number_of(v: &Value, op: &str) -> Result<f64, CliError> {
    match v {
        Value::Null => Ok(0.0),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            CliError::usage(format!(
                "Cannot convert value \"{s}\" to a number for '{op}'."
            ))
        }),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        other => Err(CliError::usage(format!(
            "'{op}' needs numbers, and \"{}\" is not one.",
            interpolate(other)
        ))),
    }
}

/// A result as a whole number when it is one, as PowerShell keeps integers integral.
fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// `a - b`, `a * b`, `a / b`, `a % b`; `'ab' * 3` and `@(1) * 3` repeat.
pub fn arith(op: BinOp, a: &Value, b: &Value) -> Result<Value, CliError> {
    let sym = match op {
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "%",
    };
    if op == BinOp::Mul && matches!(a, Value::String(_) | Value::Array(_)) {
        let n = number_of(b, sym)?;
        if !(0.0..=1.0e9).contains(&n) {
            return Err(CliError::usage(format!("Cannot repeat a value {n} times.")));
        }
        let n = n as usize;
        let unit = match a {
            Value::String(s) => s.len(),
            Value::Array(x) => x.len() * 64,
            _ => 0,
        };
        if unit.saturating_mul(n) > MAX_VALUE_BYTES {
            return Err(CliError::usage(format!(
                "the result of * would be larger than the {} MiB a script value may hold",
                MAX_VALUE_BYTES >> 20
            )));
        }
        return Ok(match a {
            Value::String(s) => Value::String(s.repeat(n)),
            Value::Array(x) => Value::Array((0..n).flat_map(|_| x.iter().cloned()).collect()),
            _ => Value::Null,
        });
    }
    let (x, y) = (number_of(a, sym)?, number_of(b, sym)?);
    if matches!(op, BinOp::Div | BinOp::Mod) && y == 0.0 {
        return Err(CliError::usage("Attempted to divide by zero."));
    }
    Ok(num(match op {
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        _ => x % y,
    }))
}

/// `[type]value`: the conversions scripts use.
pub fn cast(ty: &str, v: Value) -> Result<Value, CliError> {
    let bad = |v: &Value| {
        CliError::usage(format!(
            "Cannot convert value \"{}\" to type [{ty}].",
            interpolate(v)
        ))
    };
    Ok(match ty.trim_start_matches("system.") {
        "string" => match v {
            Value::Null => Value::String(String::new()),
            other => Value::String(interpolate(&other)),
        },
        "int" | "int32" | "long" | "int64" => match &v {
            Value::Null => Value::from(0),
            Value::Bool(b) => Value::from(i64::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::from(i),
                (None, Some(f)) if f.is_finite() && f.abs() < 9.0e18 => Value::from(f.round_ties_even() as i64),
                _ => return Err(bad(&v)),
            },
            Value::String(s) => {
                let t = s.trim();
                match t.parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => match t.parse::<f64>() {
                        Ok(f) if f.is_finite() && f.abs() < 9.0e18 => Value::from(f.round_ties_even() as i64),
                        _ => return Err(bad(&v)),
                    },
                }
            }
            _ => return Err(bad(&v)),
        },
        "double" => match &v {
            Value::Null => Value::from(0.0),
            Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => s.trim().parse::<f64>().map(Value::from).map_err(|_| bad(&v))?,
            _ => return Err(bad(&v)),
        },
        "bool" | "boolean" | "switch" => Value::Bool(truthy(&v)),
        "array" | "object[]" | "string[]" => {
            let all = items(v);
            if ty.ends_with("string[]") {
                Value::Array(all.iter().map(|x| Value::String(interpolate(x))).collect())
            } else {
                Value::Array(all)
            }
        }
        "object" | "psobject" | "pscustomobject" | "hashtable" | "ordered" => v,
        "guid" => match uuid::Uuid::parse_str(interpolate(&v).trim()) {
            Ok(u) => Value::String(u.to_string()),
            Err(_) => return Err(bad(&v)),
        },
        "void" => Value::Null,
        _ => {
            return Err(CliError::usage(format!("The type [{ty}] is not one custkey scripts know."))
                .with_help("scripts convert to [string], [int], [long], [double], [bool], [switch], [guid], [array], [string[]], [object] and [void]"))
        }
    })
}

/// The largest value `+`, `,` or `@( )` may build in a script, in bytes (its strings, and 64
/// bytes an element: about what an element takes in memory): doubling a string or an array in a few statements must not exhaust memory.
pub const MAX_VALUE_BYTES: usize = 32 << 20;
/// How deeply arrays a script builds may nest (`$a = $a, 1` in a loop nests one level a turn);
/// what reads values (display, comparisons, JSON) recurses once a level.
pub const MAX_VALUE_DEPTH: usize = 100;

/// Refuses a value a script built that is larger than [`MAX_VALUE_BYTES`] or nests deeper than
/// [`MAX_VALUE_DEPTH`]. Walks without recursion and stops at the first limit passed.
pub fn check_size(v: &Value, what: &str) -> Result<(), CliError> {
    let mut bytes = 0usize;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_VALUE_DEPTH {
            return Err(CliError::usage(format!(
                "{what} would nest arrays deeper than {MAX_VALUE_DEPTH} levels"
            ))
            .with_help("build flat arrays: $a += $x appends to an array"));
        }
        bytes += 64;
        match v {
            Value::String(s) => bytes += s.len(),
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Value::Object(m) => {
                for (k, x) in m {
                    bytes += k.len();
                    stack.push((x, depth + 1));
                }
            }
            _ => {}
        }
        if bytes > MAX_VALUE_BYTES {
            return Err(CliError::usage(format!(
                "{what} would be larger than the {} MiB a script value may hold",
                MAX_VALUE_BYTES >> 20
            ))
            .with_help("a script value is limited in size (see 'Input limits' in docs/cli.md)"));
        }
    }
    Ok(())
}

/// `a + b`: arrays concatenate, numbers add, a string appends the other side as text;
/// `$null` is nothing. The result is refused when it passes [`MAX_VALUE_BYTES`].
pub fn add(a: &Value, b: &Value) -> Result<Value, CliError> {
    // Sizes first, so a doubling never allocates past the limit.
    let size = |v: &Value| match v {
        Value::String(s) => s.len(),
        Value::Array(x) => x.len() * 64,
        _ => 0,
    };
    if size(a).saturating_add(size(b)) > MAX_VALUE_BYTES {
        return Err(CliError::usage(format!(
            "the result of + would be larger than the {} MiB a script value may hold",
            MAX_VALUE_BYTES >> 20
        ))
        .with_help("a script value is limited in size (see 'Input limits' in docs/cli.md)"));
    }
    let v = add_unchecked(a, b)?;
    check_size(&v, "the result of +")?;
    Ok(v)
}

fn add_unchecked(a: &Value, b: &Value) -> Result<Value, CliError> {
    Ok(match (a, b) {
        (Value::Null, other) | (other, Value::Null) => other.clone(),
        (Value::Array(x), Value::Array(y)) => Value::Array(x.iter().chain(y).cloned().collect()),
        (Value::Array(x), other) => {
            let mut v = x.clone();
            v.push(other.clone());
            Value::Array(v)
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => p
                .checked_add(q)
                .map_or_else(|| Value::from(p as f64 + q as f64), Value::from),
            _ => Value::from(x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0)),
        },
        (Value::String(s), other) => Value::String(format!("{s}{}", interpolate(other))),
        (Value::Number(x), Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) => Value::from(x.as_f64().unwrap_or(0.0) + f),
            Err(_) => {
                return Err(CliError::usage(format!(
                    "Cannot convert value \"{s}\" to a number to add it to {x}."
                )))
            }
        },
        (x, y) => {
            return Err(
                CliError::usage(format!("Cannot add {} and {}.", display(x), display(y)))
                    .with_help("+ adds numbers and joins strings and arrays"),
            )
        }
    })
}

/// Sort-Object's order: numbers numerically, everything else as case-insensitive text;
/// `$null` first.
pub fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        _ => {
            let (x, y) = (display(a), display(b));
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
                _ => x.to_lowercase().cmp(&y.to_lowercase()),
            }
        }
    }
}

/// How a value reads inside a double-quoted string: arrays joined by spaces.
pub fn interpolate(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(interpolate).collect::<Vec<_>>().join(" "),
        Value::String(s) => s.clone(),
        other => display(other),
    }
}

/// Flattens a pipeline's input: an array is its elements, `$null` is nothing.
pub fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        other => vec![other],
    }
}

/// What a captured pipeline holds: nothing is `$null`, one object is itself, more are an array.
pub fn collapse(mut items: Vec<Value>) -> Value {
    match items.len() {
        0 => Value::Null,
        1 => items.pop().unwrap_or(Value::Null),
        _ => Value::Array(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truth_and_members() {
        assert!(
            !truthy(&json!(null))
                && !truthy(&json!(""))
                && !truthy(&json!([]))
                && !truthy(&json!([false]))
        );
        assert!(truthy(&json!("x")) && truthy(&json!([1, 2])) && truthy(&json!({})));
        let v = json!([{"Name": "a", "L": ["x"]}, {"name": "b", "L": ["y", "z"]}]);
        assert_eq!(member(&v, "NAME"), json!(["a", "b"]));
        assert_eq!(member(&v, "L"), json!(["x", "y", "z"]));
        assert_eq!(member(&v, "Count"), json!(2));
        assert_eq!(member(&json!("abc"), "Length"), json!(3));
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            compare(BinOp::Eq, &json!(false), &json!(false)).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Eq, &json!(true), &json!(false)).unwrap(),
            json!(false)
        );
        assert_eq!(
            compare(BinOp::Eq, &json!("Alice"), &json!("alice")).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Gt, &json!(10), &json!("9")).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Like, &json!("Shared Archive"), &json!("shared*")).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Match, &json!("Key002"), &json!("^key0+2$")).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::NotMatch, &json!("Key002"), &json!("1")).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Eq, &json!(null), &json!(null)).unwrap(),
            json!(true)
        );
        assert_eq!(
            compare(BinOp::Eq, &json!([1, 2, 3, 2]), &json!(2)).unwrap(),
            json!([2, 2])
        );
        assert!(compare(BinOp::Match, &json!("x"), &json!("(")).is_err());
    }

    #[test]
    fn adding() {
        assert_eq!(add(&json!([1]), &json!([2, 3])).unwrap(), json!([1, 2, 3]));
        assert_eq!(add(&json!([1]), &json!(2)).unwrap(), json!([1, 2]));
        assert_eq!(add(&json!(1), &json!(2)).unwrap(), json!(3));
        assert_eq!(add(&json!("a"), &json!(2)).unwrap(), json!("a2"));
        assert_eq!(add(&json!(null), &json!("x")).unwrap(), json!("x"));
        assert!(add(&json!(1), &json!("x")).is_err());
        assert!(add(&json!({}), &json!(true)).is_err());
    }

    #[test]
    fn indexing() {
        let a = json!(["a", "b", "c"]);
        assert_eq!(index(&a, &json!(0)), json!("a"));
        assert_eq!(index(&a, &json!(-1)), json!("c"));
        assert_eq!(index(&a, &json!(3)), json!(null));
        assert_eq!(index(&json!({"Name": "x"}), &json!("name")), json!("x"));
        assert_eq!(index(&json!("abc"), &json!(1)), json!("b"));
    }

    #[test]
    fn ordering() {
        let mut v = vec![json!("b"), json!(10), json!(null), json!(9), json!("A")];
        v.sort_by(order);
        assert_eq!(
            v,
            vec![json!(null), json!(9), json!(10), json!("A"), json!("b")]
        );
    }
}
