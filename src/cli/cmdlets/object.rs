//! The object cmdlets of scripts' pipelines: Select-Object, Where-Object,
//! ForEach-Object, Sort-Object, Measure-Object. They read the objects piped in
//! (`ctx.input`); script blocks (`Where-Object { ... }`) are run by the script evaluator.

use serde_json::{Map, Value};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::{suggestions, CliError};
use crate::cli::output::{display, wildcard, Output};
use crate::cli::script::ast::BinOp;
use crate::cli::script::value::{compare_scalar, order, property, truthy};
use crate::cli::Ctx;

const CORE: &str = "Microsoft.PowerShell.Core";
const UTILITY: &str = "Microsoft.PowerShell.Utility";

/// The comparison switches of Where-Object's simplified form.
const OPERATORS: &[(&str, BinOp)] = &[
    ("EQ", BinOp::Eq),
    ("NE", BinOp::Ne),
    ("Like", BinOp::Like),
    ("NotLike", BinOp::NotLike),
    ("Match", BinOp::Match),
    ("NotMatch", BinOp::NotMatch),
    ("GT", BinOp::Gt),
    ("LT", BinOp::Lt),
    ("GE", BinOp::Ge),
    ("LE", BinOp::Le),
];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Select-Object",
        module: UTILITY,
        synopsis: "Picks properties of the objects piped in, or the first or last of them.",
        description: "In a script, selects from the objects piped in: -Property keeps only the named \
properties (wildcards allowed, * for all), -ExpandProperty outputs the value of one property instead of \
objects (list values are flattened), -First and -Last keep that many objects.",
        params: &[
            Param::new("Property", Kind::StringList, "The properties to keep (wildcards allowed).").position(0),
            Param::new("ExpandProperty", Kind::String, "Output this property's value instead of the object."),
            Param::new("First", Kind::Int { min: 0, max: i32::MAX as i64 }, "Only the first N objects."),
            Param::new("Last", Kind::Int { min: 0, max: i32::MAX as i64 }, "Only the last N objects."),
        ],
        examples: &[Example {
            title: "The names of the shared mailboxes",
            code: "custkey -Command \"Get-Mailbox | Where-Object { \\$_.RecipientTypeDetails -eq 'SharedMailbox' } | Select-Object -ExpandProperty Name\"",
            output: "",
            remarks: "Select-Object Name,Guid keeps two properties; Select-Object -First 1 keeps one object.",
        }],
        impact: Impact::None,
        table: &[],
        run: select,
    },
    Cmdlet {
        name: "Where-Object",
        module: CORE,
        synopsis: "Keeps the objects piped in that match a condition. Aliases: where, ?.",
        description: "In a script, keeps the objects for which the script block is true \
(`Where-Object { $_.IsEncrypted -eq $false }`), or uses the simplified form \
(`Where-Object IsEncrypted -EQ $false`): a property, one comparison switch and a value. Comparisons are \
case-insensitive, numeric when both sides are numbers; -Like takes * and ? wildcards and -Match a regular \
expression. A property alone keeps objects where it is true.",
        params: &[
            Param::new("Property", Kind::String, "Simplified form: the property to compare.").position(0),
            Param::new("Value", Kind::String, "Simplified form: the value to compare with.").position(1),
            Param::new("FilterScript", Kind::ScriptBlock, "The condition, with $_ for the object: { $_.Name -like 'a*' }."),
            Param::new("EQ", Kind::Switch, "Equal."),
            Param::new("NE", Kind::Switch, "Not equal."),
            Param::new("Like", Kind::Switch, "Matches the wildcard pattern."),
            Param::new("NotLike", Kind::Switch, "Does not match the wildcard pattern."),
            Param::new("Match", Kind::Switch, "Matches the regular expression."),
            Param::new("NotMatch", Kind::Switch, "Does not match the regular expression."),
            Param::new("GT", Kind::Switch, "Greater than."),
            Param::new("LT", Kind::Switch, "Less than."),
            Param::new("GE", Kind::Switch, "Greater than or equal."),
            Param::new("LE", Kind::Switch, "Less than or equal."),
        ],
        examples: &[Example {
            title: "Mailboxes not yet encrypted under a customer key",
            code: "custkey -Command 'Get-MailboxStatistics | Where-Object IsEncrypted -eq $false'",
            output: "",
            remarks: "The same as Where-Object { $_.IsEncrypted -eq $false }.",
        }],
        impact: Impact::None,
        table: &[],
        run: where_object,
    },
    Cmdlet {
        name: "ForEach-Object",
        module: CORE,
        synopsis: "Runs a script block for each object piped in, or outputs one property of each. Aliases: foreach, %.",
        description: "In a script, runs the script block once per object with $_ set to it and outputs what the \
block outputs (`Get-Mailbox | ForEach-Object { Set-Mailbox $_.Identity -DataEncryptionPolicy EUR }`); with a \
property name instead (`ForEach-Object Name`) outputs that property of each object.",
        params: &[
            Param::new("MemberName", Kind::String, "Output this property of each object.").position(0),
            Param::new("Process", Kind::ScriptBlock, "The script block, with $_ for the object."),
        ],
        examples: &[Example {
            title: "Put every mailbox under one DEP",
            code: "custkey -Command 'Get-Mailbox | ForEach-Object { Set-Mailbox -Identity $_.Identity -DataEncryptionPolicy \"US Mailboxes\" }'",
            output: "",
            remarks: "Get-Mailbox | Set-Mailbox -DataEncryptionPolicy \"US Mailboxes\" does the same by pipeline binding.",
        }],
        impact: Impact::None,
        table: &[],
        run: for_each,
    },
    Cmdlet {
        name: "Sort-Object",
        module: UTILITY,
        synopsis: "Sorts the objects piped in by one or more properties. Alias: sort.",
        description: "In a script, sorts the objects piped in by the named properties (or by their values when \
none are named): numbers numerically, everything else as text without regard to case. -Descending reverses \
the order; -Unique drops repeated objects.",
        params: &[
            Param::new("Property", Kind::StringList, "The properties to sort by, most significant first.").position(0),
            Param::new("Descending", Kind::Switch, "Largest first."),
            Param::new("Unique", Kind::Switch, "Drop repeated objects."),
        ],
        examples: &[Example {
            title: "The largest mailboxes first",
            code: "custkey -Command 'Get-MailboxStatistics | Sort-Object ItemCount -Descending'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: sort,
    },
    Cmdlet {
        name: "Group-Object",
        module: UTILITY,
        synopsis: "Groups the objects piped in by the values of properties. Alias: group.",
        description: "In a script, puts the objects piped in into groups that have the same values of the named \
properties (or the same value, when none are named), compared without regard to case unless -CaseSensitive. Each \
group is an object with Count, Name (the values, joined by \", \") and Group (its objects), in the order each \
group's first object came. -NoElement leaves Group out; -AsHashTable outputs one object whose properties are the \
groups' names and whose values are their objects.",
        params: &[
            Param::new("Property", Kind::StringList, "The properties to group by.").position(0),
            Param::new("NoElement", Kind::Switch, "Only Count and Name, without the objects."),
            Param::new("AsHashTable", Kind::Switch, "One object: group name to its objects."),
            Param::new("CaseSensitive", Kind::Switch, "\"A\" and \"a\" are different groups."),
        ],
        examples: &[Example {
            title: "How many mailboxes each policy protects",
            code: "custkey -Command 'Get-Mailbox | Group-Object DataEncryptionPolicy -NoElement'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: group,
    },
    Cmdlet {
        name: "Measure-Object",
        module: UTILITY,
        synopsis: "Counts the objects piped in, and sums, averages or bounds a numeric property. Alias: measure.",
        description: "In a script, counts the objects piped in. With -Property and -Sum, -Average, -Maximum or \
-Minimum it also computes those over that property (objects without it are not counted).",
        params: &[
            Param::new("Property", Kind::String, "The numeric property to measure.").position(0),
            Param::new("Sum", Kind::Switch, "Add up the property."),
            Param::new("Average", Kind::Switch, "The mean of the property."),
            Param::new("Maximum", Kind::Switch, "The largest value."),
            Param::new("Minimum", Kind::Switch, "The smallest value."),
        ],
        examples: &[Example {
            title: "How many mailboxes, and how many items in all",
            code: "custkey -Command 'Get-MailboxStatistics | Measure-Object ItemCount -Sum'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: measure,
    },
];

/// Resolves a property name against the objects' properties (case-insensitive, wildcards).
fn resolve_props(items: &[Value], wanted: &[String]) -> Result<Vec<String>, CliError> {
    let mut known: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(m) = item {
            for k in m.keys() {
                if !known.contains(k) {
                    known.push(k.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    for w in wanted {
        let hits: Vec<&String> = known.iter().filter(|k| wildcard(w, k)).collect();
        if hits.is_empty() && !w.contains(['*', '?']) {
            if items.is_empty() || known.is_empty() {
                out.push(w.clone());
                continue;
            }
            let near = suggestions(w, known.iter().map(String::as_str));
            let err = CliError::usage(format!("The objects have no property named '{w}'."));
            return Err(match near.first() {
                Some(n) => err.with_help(format!("did you mean {n}?")),
                None => err.with_help(format!("their properties are: {}", known.join(", "))),
            });
        }
        for h in hits {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
    }
    Ok(out)
}

fn select(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut items = std::mem::take(&mut ctx.input);
    if let Some(n) = args.int("First") {
        items.truncate(n as usize);
    }
    if let Some(n) = args.int("Last") {
        let skip = items.len().saturating_sub(n as usize);
        items.drain(..skip);
    }
    if let Some(p) = args.str("ExpandProperty") {
        let name = resolve_props(&items, &[p.to_string()])?;
        let name = name.first().map(String::as_str).unwrap_or(p);
        let mut out = Vec::new();
        for item in &items {
            match property(item, name) {
                Some(Value::Array(a)) => out.extend(a.iter().cloned()),
                Some(Value::Null) | None => {}
                Some(v) => out.push(v.clone()),
            }
        }
        return Ok(Output::Values(out));
    }
    let Some(wanted) = args.list("Property") else {
        return Ok(Output::Values(items));
    };
    let names = resolve_props(&items, wanted)?;
    let out: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut m = Map::new();
            for n in &names {
                m.insert(n.clone(), property(item, n).cloned().unwrap_or(Value::Null));
            }
            Value::Object(m)
        })
        .collect();
    // As PowerShell: up to four properties show as a table, more as a list.
    ctx.input_view = if names.len() <= 4 { names } else { Vec::new() };
    Ok(Output::Values(out))
}

fn where_object(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    let Some(prop) = args.str("Property") else {
        return Ok(Output::Values(items));
    };
    let ops: Vec<BinOp> = OPERATORS
        .iter()
        .filter(|(n, _)| args.switch(n))
        .map(|(_, op)| *op)
        .collect();
    if ops.len() > 1 {
        return Err(
            CliError::usage("Where-Object takes one comparison switch at a time.").with_help(
                "write a script block to combine conditions: { $_.A -eq 1 -and $_.B -eq 2 }",
            ),
        );
    }
    let value = if args.is_null("Value") {
        Value::Null
    } else {
        args.str("Value")
            .map_or(Value::Null, |v| Value::String(v.to_string()))
    };
    let mut out = Vec::new();
    for item in items {
        let left = property(&item, prop).cloned().unwrap_or(Value::Null);
        let keep = match ops.first() {
            None => truthy(&left),
            Some(op) => {
                // A list property matches when any item does (as -Filter).
                match (&left, op) {
                    (Value::Array(a), BinOp::Ne | BinOp::NotLike | BinOp::NotMatch) => {
                        let mut all = true;
                        for x in a {
                            all &= compare_scalar(*op, x, &value)?;
                        }
                        all
                    }
                    (Value::Array(a), _) => {
                        let mut any = false;
                        for x in a {
                            any |= compare_scalar(*op, x, &value)?;
                        }
                        any
                    }
                    _ => compare_scalar(*op, &left, &value)?,
                }
            }
        };
        if keep {
            out.push(item);
        }
    }
    Ok(Output::Values(out))
}

fn for_each(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    ctx.input_view.clear();
    let Some(name) = args.str("MemberName") else {
        return Err(CliError::usage(
            "ForEach-Object needs a script block { ... } or a property name.",
        )
        .with_help(
            "in a script: Get-Mailbox | ForEach-Object { $_.Name }, or ForEach-Object Name",
        ));
    };
    let mut out = Vec::new();
    for item in &items {
        match property(item, name) {
            Some(Value::Array(a)) => out.extend(a.iter().cloned()),
            Some(v) => out.push(v.clone()),
            None => {}
        }
    }
    Ok(Output::Values(out))
}

fn sort(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let mut items = std::mem::take(&mut ctx.input);
    let keys = match args.list("Property") {
        Some(p) => resolve_props(&items, p)?,
        None => Vec::new(),
    };
    items.sort_by(|a, b| {
        if keys.is_empty() {
            return order(a, b);
        }
        for k in &keys {
            let o = order(
                property(a, k).unwrap_or(&Value::Null),
                property(b, k).unwrap_or(&Value::Null),
            );
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    if args.switch("Descending") {
        items.reverse();
    }
    if args.switch("Unique") {
        items.dedup();
    }
    Ok(Output::Values(items))
}

fn group(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    let keys = match args.list("Property") {
        Some(p) => resolve_props(&items, p)?,
        None => Vec::new(),
    };
    let case = args.switch("CaseSensitive");
    // Groups in the order of their first object; the index finds a group by its folded name.
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in items {
        let name = if keys.is_empty() {
            display(&item)
        } else {
            keys.iter()
                .map(|k| display(property(&item, k).unwrap_or(&Value::Null)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let folded = if case {
            name.clone()
        } else {
            name.to_lowercase()
        };
        match index.get(&folded) {
            Some(&g) => groups[g].1.push(item),
            None => {
                index.insert(folded, groups.len());
                groups.push((name, vec![item]));
            }
        }
    }
    if args.switch("AsHashTable") {
        ctx.input_view.clear();
        let mut m = Map::new();
        for (name, members) in groups {
            m.insert(name, crate::cli::script::value::collapse(members));
        }
        return Ok(Output::Values(vec![Value::Object(m)]));
    }
    let no_element = args.switch("NoElement");
    ctx.input_view = if no_element {
        vec!["Count".into(), "Name".into()]
    } else {
        vec!["Count".into(), "Name".into(), "Group".into()]
    };
    let out = groups
        .into_iter()
        .map(|(name, members)| {
            let mut m = Map::new();
            m.insert("Count".into(), Value::from(members.len()));
            m.insert("Name".into(), Value::String(name));
            if !no_element {
                m.insert("Group".into(), Value::Array(members));
            }
            Value::Object(m)
        })
        .collect();
    Ok(Output::Values(out))
}

fn measure(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let items = std::mem::take(&mut ctx.input);
    ctx.input_view.clear();
    let prop = args.str("Property");
    let mut nums: Vec<f64> = Vec::new();
    let mut count = 0;
    {
        for item in &items {
            let v = match (item, prop) {
                (Value::Object(_), Some(p)) => property(item, p).cloned(),
                (Value::Object(_), None) => {
                    count += 1;
                    continue;
                }
                (other, _) => Some(other.clone()),
            };
            let Some(v) = v.filter(|v| !v.is_null()) else {
                continue;
            };
            count += 1;
            let n = match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match n {
                Some(n) => nums.push(n),
                None if args.switch("Sum")
                    || args.switch("Average")
                    || args.switch("Maximum")
                    || args.switch("Minimum") =>
                {
                    return Err(CliError::failed(format!(
                        "Measure-Object cannot measure '{}': '{}' is not a number.",
                        prop.unwrap_or("the input"),
                        crate::cli::output::display(&v)
                    ))
                    .with_help("measure a numeric property such as ItemCount"))
                }
                None => {}
            }
        }
    }
    let num = |f: f64| {
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            Value::from(f as i64)
        } else {
            Value::from(f)
        }
    };
    let pick = |on: bool, v: Option<f64>| {
        if on {
            v.map_or(Value::Null, num)
        } else {
            Value::Null
        }
    };
    let sum: f64 = nums.iter().sum();
    let mut m = Map::new();
    m.insert("Count".into(), Value::from(count));
    m.insert(
        "Average".into(),
        pick(
            args.switch("Average"),
            (!nums.is_empty()).then(|| sum / nums.len() as f64),
        ),
    );
    m.insert("Sum".into(), pick(args.switch("Sum"), Some(sum)));
    m.insert(
        "Maximum".into(),
        pick(
            args.switch("Maximum"),
            nums.iter().copied().reduce(f64::max),
        ),
    );
    m.insert(
        "Minimum".into(),
        pick(
            args.switch("Minimum"),
            nums.iter().copied().reduce(f64::min),
        ),
    );
    m.insert(
        "Property".into(),
        prop.map_or(Value::Null, |p| Value::String(p.to_string())),
    );
    Ok(Output::one(m))
}
