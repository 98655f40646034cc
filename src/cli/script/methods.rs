//! Method calls on script values: the .NET methods of strings, arrays, hashtables and dates that
//! Microsoft's guides call (`$s.ToUpper()`, `$s.Split(',')`, `(Get-Date).AddDays(30)`).
//!
//! Values are JSON values, so a date is the RFC 3339 text Get-Date outputs; the date methods
//! work on a string that reads as one. String methods compare as .NET does: ordinally, with
//! regard to case (`'abc'.Contains('B')` is false, unlike `-like` and `-eq`).

use chrono::{DateTime, Datelike, Duration, Months, SecondsFormat, Utc};
use serde_json::Value;

use super::value::{check_size, interpolate, property};
use crate::cli::error::CliError;
use crate::cli::output::display;

/// The methods a string has here.
const STRING_METHODS: &str = "ToString(), ToUpper(), ToLower(), Trim(), TrimStart(), TrimEnd(), \
Split(sep), Replace(old, new), Contains(s), StartsWith(s), EndsWith(s), IndexOf(s), Substring(start[, length]), \
Equals(x); on a date from Get-Date also AddDays(n), AddHours(n), AddMinutes(n), AddSeconds(n), AddMonths(n), \
AddYears(n), ToString(format)";
const ARRAY_METHODS: &str =
    "Contains(x), IndexOf(x), ToString(), or a string method, which applies to each element";
const OBJECT_METHODS: &str = "ToString(), ContainsKey(name), Equals(x)";

/// The .NET type a value stands for, in messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "System.Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "System.Int64",
        Value::Number(_) => "System.Double",
        Value::String(_) => "System.String",
        Value::Array(_) => "System.Object[]",
        Value::Object(_) => "System.Management.Automation.PSCustomObject",
    }
}

fn no_method(v: &Value, name: &str) -> CliError {
    let known = match v {
        Value::String(_) => STRING_METHODS,
        Value::Array(_) => ARRAY_METHODS,
        Value::Object(_) => OBJECT_METHODS,
        _ => "ToString(), Equals(x)",
    };
    CliError::usage(format!(
        "Method invocation failed because [{}] does not contain a method named '{name}'.",
        type_name(v)
    ))
    .with_help(format!(
        "custkey scripts know these methods of a {}: {known}",
        type_name(v)
    ))
}

fn arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), CliError> {
    if (min..=max).contains(&args.len()) {
        return Ok(());
    }
    let want = if min == max {
        format!("{min}")
    } else {
        format!("{min} to {max}")
    };
    Err(CliError::usage(format!(
        "Cannot find an overload for \"{name}\" and the argument count: \"{}\".",
        args.len()
    ))
    .with_help(format!("{name}() takes {want} argument(s)")))
}

fn int_arg(name: &str, v: &Value) -> Result<i64, CliError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1.0e15 => Ok(f as i64),
        _ => Err(CliError::usage(format!(
            "{name}() needs a whole number, and \"{}\" is not one.",
            interpolate(v)
        ))),
    }
}

fn num_arg(name: &str, v: &Value) -> Result<f64, CliError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|f| f.is_finite()).ok_or_else(|| {
        CliError::usage(format!(
            "{name}() needs a number, and \"{}\" is not one.",
            interpolate(v)
        ))
    })
}

/// A date as Get-Date writes it: RFC 3339 in UTC.
fn date_text(d: DateTime<Utc>) -> Value {
    Value::String(d.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn out_of_range(name: &str, d: &str) -> CliError {
    CliError::usage(format!(
        "{name}() takes the date {d} outside the years 1 to 9999."
    ))
}

/// A date as Get-Date and the cmdlets write it (RFC 3339), in UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A property of a date: `$d.Year`, `.Month`, `.Day`, `.Hour`, `.Minute`, `.Second`,
/// `.DayOfWeek` (its English name), `.DayOfYear`, `.Date` (its midnight); `None` for another
/// name or a string that is not a date.
pub fn date_property(s: &str, name: &str) -> Option<Value> {
    use chrono::Timelike;
    let lower = name.to_ascii_lowercase();
    if !matches!(
        lower.as_str(),
        "year"
            | "month"
            | "day"
            | "hour"
            | "minute"
            | "second"
            | "dayofweek"
            | "dayofyear"
            | "date"
    ) {
        return None;
    }
    let d = parse_date(s)?;
    Some(match lower.as_str() {
        "year" => Value::from(d.year()),
        "month" => Value::from(d.month()),
        "day" => Value::from(d.day()),
        "hour" => Value::from(d.hour()),
        "minute" => Value::from(d.minute()),
        "second" => Value::from(d.second()),
        "dayofweek" => Value::String(d.format("%A").to_string()),
        "dayofyear" => Value::from(d.ordinal()),
        _ => date_text(d.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()),
    })
}

/// A date in a .NET format: the standard `o`, `s`, `u`, `d`, `yyyy-MM-dd` style custom
/// specifiers (`yyyy yy MMMM MMM MM M dddd ddd dd d HH H hh h mm m ss s fff ff f tt K`), text in
/// quotes or after a backslash as it is.
pub fn format_date(d: DateTime<Utc>, f: &str) -> Result<String, CliError> {
    use chrono::Timelike;
    let f = match f {
        "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "u" => "yyyy-MM-dd HH:mm:ssK",
        "d" => "M/d/yyyy",
        "" => return Ok(d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        one if one.chars().count() == 1 => {
            return Err(CliError::usage(format!(
                "The date format '{one}' is not one custkey knows."
            ))
            .with_help("use o, s, u or d, or a custom format such as yyyy-MM-dd HH:mm"))
        }
        other => other,
    };
    if f.len() > 256 {
        return Err(CliError::usage("a date format is at most 256 characters"));
    }
    let chars: Vec<char> = f.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let hour12 = match d.hour() % 12 {
            0 => 12,
            h => h,
        };
        match c {
            'y' => out.push_str(&match n {
                1 => (d.year() % 100).to_string(),
                2 => format!("{:02}", d.year() % 100),
                _ => format!("{:0width$}", d.year(), width = n),
            }),
            'M' => out.push_str(&match n {
                1 => d.month().to_string(),
                2 => format!("{:02}", d.month()),
                3 => d.format("%b").to_string(),
                _ => d.format("%B").to_string(),
            }),
            'd' => out.push_str(&match n {
                1 => d.day().to_string(),
                2 => format!("{:02}", d.day()),
                3 => d.format("%a").to_string(),
                _ => d.format("%A").to_string(),
            }),
            'H' => out.push_str(&if n == 1 {
                d.hour().to_string()
            } else {
                format!("{:02}", d.hour())
            }),
            'h' => out.push_str(&if n == 1 {
                hour12.to_string()
            } else {
                format!("{hour12:02}")
            }),
            'm' => out.push_str(&if n == 1 {
                d.minute().to_string()
            } else {
                format!("{:02}", d.minute())
            }),
            's' => out.push_str(&if n == 1 {
                d.second().to_string()
            } else {
                format!("{:02}", d.second())
            }),
            'f' => {
                let digits = format!("{:09}", d.nanosecond() % 1_000_000_000);
                out.push_str(&digits[..n.min(7)]);
                if n > 7 {
                    out.push_str(&"0".repeat(n - 7));
                }
            }
            't' => out.push_str(if d.hour() < 12 {
                if n == 1 {
                    "A"
                } else {
                    "AM"
                }
            } else if n == 1 {
                "P"
            } else {
                "PM"
            }),
            'K' | 'z' => {
                out.push_str(if c == 'K' { "Z" } else { "+00:00" });
                i += n;
                continue;
            }
            '\'' | '"' => {
                // Quoted text, as it is.
                let mut k = i + 1;
                while k < chars.len() && chars[k] != c {
                    out.push(chars[k]);
                    k += 1;
                }
                i = k + 1;
                continue;
            }
            '\\' => {
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                }
                i += 2;
                continue;
            }
            other => {
                for _ in 0..n {
                    out.push(other);
                }
            }
        }
        i += n;
    }
    Ok(out)
}

/// The date methods: `Some` when `name` is one and the string reads as a date.
fn date_method(s: &str, name: &str, args: &[Value]) -> Option<Result<Value, CliError>> {
    let lower = name.to_ascii_lowercase();
    if !matches!(
        lower.as_str(),
        "adddays" | "addhours" | "addminutes" | "addseconds" | "addmonths" | "addyears"
    ) {
        return None;
    }
    let d = DateTime::parse_from_rfc3339(s.trim())
        .ok()?
        .with_timezone(&Utc);
    Some((|| {
        arity(name, args, 1, 1)?;
        let r = match lower.as_str() {
            "addmonths" | "addyears" => {
                let n = int_arg(name, &args[0])?;
                let months = if lower == "addyears" {
                    n.checked_mul(12)
                } else {
                    Some(n)
                };
                let months = months
                    .and_then(|m| u32::try_from(m.unsigned_abs()).ok())
                    .ok_or_else(|| out_of_range(name, s))?;
                if n >= 0 {
                    d.checked_add_months(Months::new(months))
                } else {
                    d.checked_sub_months(Months::new(months))
                }
            }
            _ => {
                let unit = match lower.as_str() {
                    "adddays" => 86_400_000.0,
                    "addhours" => 3_600_000.0,
                    "addminutes" => 60_000.0,
                    _ => 1_000.0,
                };
                let ms = num_arg(name, &args[0])? * unit;
                if ms.abs() > 4.0e14 {
                    None
                } else {
                    d.checked_add_signed(Duration::milliseconds(ms.round() as i64))
                }
            }
        };
        match r {
            Some(r) if (1..=9999).contains(&r.year()) => Ok(date_text(r)),
            _ => Err(out_of_range(name, s)),
        }
    })())
}

/// Whether two values are equal as .NET's `Equals` and `Contains` compare: strings with regard
/// to case, numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn string_arg(name: &str, v: &Value) -> Result<String, CliError> {
    match v {
        Value::Null => Err(CliError::usage(format!(
            "{name}() needs a string, and the argument is $null."
        ))),
        other => Ok(interpolate(other)),
    }
}

fn string_method(s: &str, name: &str, args: &[Value]) -> Result<Value, CliError> {
    if let Some(r) = date_method(s, name, args) {
        return r;
    }
    let text = |r: String| Ok(Value::String(r));
    let arg = |k: usize| string_arg(name, &args[k]);
    match name.to_ascii_lowercase().as_str() {
        "tostring" => {
            arity(name, args, 0, 1)?;
            match args.first() {
                None => text(s.to_string()),
                Some(f) => match parse_date(s) {
                    Some(d) => text(format_date(d, &interpolate(f))?),
                    None => Err(CliError::usage(format!(
                        "ToString(format) formats a date from Get-Date, and \"{s}\" is not one."
                    ))
                    .with_help("call ToString() without a format on a string")),
                },
            }
        }
        "toupper" | "toupperinvariant" => {
            arity(name, args, 0, 0)?;
            text(s.to_uppercase())
        }
        "tolower" | "tolowerinvariant" => {
            arity(name, args, 0, 0)?;
            text(s.to_lowercase())
        }
        lower @ ("trim" | "trimstart" | "trimend") => {
            arity(name, args, 0, 1)?;
            let chars: Option<Vec<char>> = args.first().map(|a| interpolate(a).chars().collect());
            let strip = |c: char| match &chars {
                Some(set) => set.contains(&c),
                None => c.is_whitespace(),
            };
            text(
                match lower {
                    "trim" => s.trim_matches(strip),
                    "trimstart" => s.trim_start_matches(strip),
                    _ => s.trim_end_matches(strip),
                }
                .to_string(),
            )
        }
        "split" => {
            arity(name, args, 0, 1)?;
            let parts: Vec<Value> = match args.first() {
                // .NET splits at each separator character: 'a,b;c'.Split(',;') is three pieces.
                Some(sep) => {
                    let set: Vec<char> = interpolate(sep).chars().collect();
                    if set.is_empty() {
                        vec![Value::String(s.to_string())]
                    } else {
                        s.split(|c| set.contains(&c))
                            .map(|p| Value::String(p.to_string()))
                            .collect()
                    }
                }
                None => s
                    .split(char::is_whitespace)
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            };
            if parts.len() > 500_000 {
                return Err(CliError::usage(
                    "the result of Split() would have more than 500,000 pieces",
                ));
            }
            Ok(Value::Array(parts))
        }
        "replace" => {
            arity(name, args, 2, 2)?;
            let old = arg(0)?;
            if old.is_empty() {
                return Err(CliError::usage(
                    "Replace() needs a string to replace, and the first argument is empty.",
                ));
            }
            let new = match &args[1] {
                Value::Null => String::new(),
                v => interpolate(v),
            };
            let v = Value::String(s.replace(&old, &new));
            check_size(&v, "the result of Replace()")?;
            Ok(v)
        }
        "contains" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(s.contains(&arg(0)?)))
        }
        "startswith" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(s.starts_with(&arg(0)?)))
        }
        "endswith" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(s.ends_with(&arg(0)?)))
        }
        "indexof" => {
            arity(name, args, 1, 1)?;
            let needle = arg(0)?;
            Ok(Value::from(
                s.find(&needle)
                    .map_or(-1, |b| s[..b].chars().count() as i64),
            ))
        }
        "equals" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(matches!(&args[0], Value::String(o) if o == s)))
        }
        "substring" => {
            arity(name, args, 1, 2)?;
            let chars: Vec<char> = s.chars().collect();
            let start = int_arg(name, &args[0])?;
            let len = match args.get(1) {
                Some(n) => int_arg(name, n)?,
                None => chars.len() as i64 - start,
            };
            if start < 0 || len < 0 || start + len > chars.len() as i64 {
                return Err(CliError::usage(format!(
                    "Substring({}) is outside the string \"{s}\", which has {} characters.",
                    args.iter().map(interpolate).collect::<Vec<_>>().join(", "),
                    chars.len()
                ))
                .with_help("Substring(start, length): start from 0, and start + length at most the string's Length"));
            }
            text(
                chars[start as usize..(start + len) as usize]
                    .iter()
                    .collect(),
            )
        }
        _ => Err(no_method(&Value::String(s.to_string()), name)),
    }
}

/// `value.Name(args)`.
pub fn call(v: &Value, name: &str, args: &[Value]) -> Result<Value, CliError> {
    let lower = name.to_ascii_lowercase();
    match v {
        Value::Null => Err(CliError::usage(format!(
            "You cannot call a method on a null-valued expression (.{name}())."
        ))
        .with_help("the value is $null: check the variable or the command that made it")),
        Value::String(s) => string_method(s, name, args),
        Value::Array(items) => match lower.as_str() {
            "contains" => {
                arity(name, args, 1, 1)?;
                Ok(Value::Bool(items.iter().any(|x| same(x, &args[0]))))
            }
            "indexof" => {
                arity(name, args, 1, 1)?;
                Ok(Value::from(
                    items
                        .iter()
                        .position(|x| same(x, &args[0]))
                        .map_or(-1, |k| k as i64),
                ))
            }
            "tostring" => {
                arity(name, args, 0, 0)?;
                Ok(Value::String("System.Object[]".into()))
            }
            // Member enumeration: a method the array lacks applies to each element.
            _ => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    match call(x, name, args) {
                        Ok(r) => out.push(r),
                        Err(_) if !matches!(x, Value::String(_)) => return Err(no_method(v, name)),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Value::Array(out))
            }
        },
        Value::Object(_) => match lower.as_str() {
            "tostring" => {
                arity(name, args, 0, 0)?;
                Ok(Value::String(display(v)))
            }
            "containskey" | "contains" => {
                arity(name, args, 1, 1)?;
                let key = string_arg(name, &args[0])?;
                Ok(Value::Bool(property(v, &key).is_some()))
            }
            "equals" => {
                arity(name, args, 1, 1)?;
                Ok(Value::Bool(v == &args[0]))
            }
            _ => Err(no_method(v, name)),
        },
        Value::Bool(_) | Value::Number(_) => match lower.as_str() {
            "tostring" => {
                arity(name, args, 0, 0)?;
                Ok(Value::String(display(v)))
            }
            "equals" => {
                arity(name, args, 1, 1)?;
                Ok(Value::Bool(same(v, &args[0])))
            }
            _ => Err(no_method(v, name)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value, name: &str, args: &[Value]) -> Value {
        call(&v, name, args).unwrap_or_else(|e| panic!("{name}: {}", e.message))
    }

    #[test]
    fn string_methods_as_dotnet_has_them() {
        let s = json!("  Key001,Key002 ");
        assert_eq!(ok(s.clone(), "Trim", &[]), json!("Key001,Key002"));
        assert_eq!(
            ok(json!("a,b;c"), "Split", &[json!(",;")]),
            json!(["a", "b", "c"])
        );
        assert_eq!(ok(json!("abc"), "ToUpper", &[]), json!("ABC"));
        assert_eq!(ok(json!("AbC"), "tolower", &[]), json!("abc"));
        assert_eq!(
            ok(json!("a.b.c"), "Replace", &[json!("."), json!("-")]),
            json!("a-b-c")
        );
        assert_eq!(ok(json!("abc"), "Contains", &[json!("B")]), json!(false));
        assert_eq!(ok(json!("abc"), "StartsWith", &[json!("ab")]), json!(true));
        assert_eq!(ok(json!("abc"), "EndsWith", &[json!("bc")]), json!(true));
        assert_eq!(
            ok(json!("héllo"), "Substring", &[json!(1), json!(3)]),
            json!("éll")
        );
        assert_eq!(ok(json!("hello"), "Substring", &[json!(2)]), json!("llo"));
        assert_eq!(ok(json!("hello"), "IndexOf", &[json!("l")]), json!(2));
        assert_eq!(ok(json!(42), "ToString", &[]), json!("42"));
        let e = call(&json!("abc"), "Substring", &[json!(2), json!(5)]).unwrap_err();
        assert!(e.message.contains("3 characters"), "{}", e.message);
        let e = call(&json!("abc"), "Frobnicate", &[]).unwrap_err();
        assert!(
            e.message.contains("[System.String]") && e.message.contains("'Frobnicate'"),
            "{}",
            e.message
        );
        let e = call(&json!("abc"), "Replace", &[json!("a")]).unwrap_err();
        assert!(e.message.contains("argument count"), "{}", e.message);
        let e = call(&json!(null), "Trim", &[]).unwrap_err();
        assert!(e.message.contains("null-valued"), "{}", e.message);
    }

    #[test]
    fn dates_from_get_date_add_and_stay_dates() {
        let d = json!("2026-01-31T12:00:00Z");
        assert_eq!(
            ok(d.clone(), "AddDays", &[json!(30)]),
            json!("2026-03-02T12:00:00Z")
        );
        assert_eq!(
            ok(d.clone(), "AddHours", &[json!(-12.5)]),
            json!("2026-01-30T23:30:00Z")
        );
        assert_eq!(
            ok(d.clone(), "AddMonths", &[json!(1)]),
            json!("2026-02-28T12:00:00Z")
        );
        assert_eq!(
            ok(d.clone(), "AddYears", &[json!(-1)]),
            json!("2025-01-31T12:00:00Z")
        );
        assert!(call(&json!("9999-12-31T00:00:00Z"), "AddDays", &[json!(2)]).is_err());
        assert!(call(&d, "AddDays", &[json!("x")]).is_err());
        // Not a date: a string has no AddDays.
        let e = call(&json!("soon"), "AddDays", &[json!(1)]).unwrap_err();
        assert!(e.message.contains("AddDays"), "{}", e.message);
    }

    #[test]
    fn dates_format_and_have_parts() {
        let d = parse_date("2026-12-01T09:05:03Z").unwrap();
        assert_eq!(format_date(d, "yyyyMMdd").unwrap(), "20261201");
        assert_eq!(
            format_date(d, "yyyy-MM-dd HH:mm:ss").unwrap(),
            "2026-12-01 09:05:03"
        );
        assert_eq!(
            format_date(d, "dddd, MMMM d, yyyy h:mm tt").unwrap(),
            "Tuesday, December 1, 2026 9:05 AM"
        );
        assert_eq!(format_date(d, "'Key'-yy\\M").unwrap(), "Key-26M");
        assert_eq!(format_date(d, "o").unwrap(), "2026-12-01T09:05:03.0000000Z");
        assert_eq!(format_date(d, "u").unwrap(), "2026-12-01 09:05:03Z");
        assert!(format_date(d, "Q").is_err());
        let s = "2026-12-01T09:05:03Z";
        assert_eq!(ok(json!(s), "ToString", &[json!("yyyy")]), json!("2026"));
        assert!(call(&json!("soon"), "ToString", &[json!("yyyy")]).is_err());
        assert_eq!(date_property(s, "Year"), Some(json!(2026)));
        assert_eq!(date_property(s, "dayofweek"), Some(json!("Tuesday")));
        assert_eq!(date_property(s, "DayOfYear"), Some(json!(335)));
        assert_eq!(
            date_property(s, "Date"),
            Some(json!("2026-12-01T00:00:00Z"))
        );
        assert_eq!(date_property("not a date", "Year"), None);
        assert_eq!(date_property(s, "Length"), None);
    }

    #[test]
    fn arrays_and_objects() {
        let a = json!(["a", "b", 3]);
        assert_eq!(ok(a.clone(), "Contains", &[json!("b")]), json!(true));
        assert_eq!(ok(a.clone(), "Contains", &[json!("B")]), json!(false));
        assert_eq!(ok(a.clone(), "Contains", &[json!(3.0)]), json!(true));
        assert_eq!(ok(a.clone(), "IndexOf", &[json!(3)]), json!(2));
        assert_eq!(ok(json!(["a", "b"]), "ToUpper", &[]), json!(["A", "B"]));
        assert!(call(&a, "ToUpper", &[]).is_err());
        let o = json!({"Name": "x"});
        assert_eq!(ok(o.clone(), "ContainsKey", &[json!("name")]), json!(true));
        let e = call(&o, "Bogus", &[]).unwrap_err();
        assert!(e.message.contains("PSCustomObject"), "{}", e.message);
    }
}
