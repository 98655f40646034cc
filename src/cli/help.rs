//! Help pages, rendered from the definition table (the same text feeds docs/cmdlets/).

use super::def::{Cmdlet, Impact, Kind, Param, COMMON};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Name, synopsis, syntax, description.
    Normal,
    /// Examples only (with name and synopsis).
    Examples,
    /// Everything: parameters with types and defaults, examples.
    Full,
}

fn syntax_item(p: &Param) -> String {
    let core = match p.kind {
        Kind::Switch => format!("-{}", p.name),
        _ => {
            let name = if p.position.is_some() {
                format!("[-{}]", p.name)
            } else {
                format!("-{}", p.name)
            };
            format!("{name} <{}>", p.kind.type_name())
        }
    };
    if p.required {
        core
    } else {
        format!("[{core}]")
    }
}

/// `Name -A <T> [-B <T>] [<CommonParameters>]`
pub fn syntax(c: &Cmdlet) -> String {
    let mut s = c.name.to_string();
    for p in c.params {
        s.push(' ');
        s.push_str(&syntax_item(p));
    }
    s.push_str(" [<CommonParameters>]");
    s
}

fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for para in text.split("\n\n") {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width - indent {
                out.push_str(&pad);
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn param_block(p: &Param, out: &mut String) {
    out.push_str(&format!("    -{} <{}>\n", p.name, p.kind.type_name()));
    out.push_str(&wrap(p.help, 8, 100));
    let position = p
        .position
        .map(|n| (n + 1).to_string())
        .unwrap_or_else(|| "named".into());
    let default = p.default.unwrap_or(match p.kind {
        Kind::Switch => "False",
        _ => "None",
    });
    out.push_str(&format!(
        "        Required?                    {}\n",
        p.required
    ));
    out.push_str(&format!(
        "        Position?                    {position}\n"
    ));
    out.push_str(&format!("        Default value                {default}\n"));
    let mut aliases = vec![format!("--{}", p.kebab())];
    aliases.extend(p.aliases.iter().map(|a| format!("-{a}")));
    out.push_str(&format!(
        "        Aliases                      {}\n",
        aliases.join(", ")
    ));
    let values = p.kind.values();
    if !values.is_empty() && !matches!(p.kind, Kind::Bool) {
        out.push_str(&format!(
            "        Accepted values              {}\n",
            values.join(", ")
        ));
    }
    out.push('\n');
}

/// The help page of one cmdlet.
pub fn page(c: &Cmdlet, detail: Detail) -> String {
    let mut out = String::new();
    out.push_str("NAME\n");
    out.push_str(&format!("    {}\n\n", c.name));
    out.push_str("SYNOPSIS\n");
    out.push_str(&wrap(c.synopsis, 4, 100));
    if detail != Detail::Examples {
        out.push_str("SYNTAX\n");
        out.push_str(&wrap(&syntax(c), 4, 100));
        out.push_str("DESCRIPTION\n");
        out.push_str(&wrap(c.description, 4, 100));
        match c.impact {
            Impact::None => {}
            Impact::Medium => out.push_str(&wrap(
                "This cmdlet changes state: -WhatIf shows what it would do, -Confirm asks first.",
                4,
                100,
            )),
            Impact::High => out.push_str(&wrap(
                "This cmdlet is destructive: it asks for confirmation on a terminal, and in scripts needs -Confirm:$false or -Force.",
                4,
                100,
            )),
        }
    }
    if detail == Detail::Full {
        out.push_str("PARAMETERS\n");
        for p in c.params {
            param_block(p, &mut out);
        }
        out.push_str("    <CommonParameters>\n");
        out.push_str(&wrap(
            &format!(
                "This cmdlet also takes the common parameters {}. See 'custkey Get-Help about_CommonParameters' or docs/cli.md.",
                COMMON.iter().map(|p| format!("-{}", p.name)).collect::<Vec<_>>().join(", ")
            ),
            8,
            100,
        ));
    }
    if detail != Detail::Normal && !c.examples.is_empty() {
        out.push_str("EXAMPLES\n");
        for (i, ex) in c.examples.iter().enumerate() {
            out.push_str(&format!(
                "    -------------------------- Example {}: {} --------------------------\n\n",
                i + 1,
                ex.title
            ));
            out.push_str(&format!("    PS> {}\n", ex.code));
            if !ex.output.is_empty() {
                for line in ex.output.lines() {
                    if line.is_empty() {
                        out.push('\n');
                    } else {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
            out.push('\n');
            if !ex.remarks.is_empty() {
                out.push_str(&wrap(ex.remarks, 4, 100));
            }
        }
    }
    if detail == Detail::Normal {
        out.push_str("REMARKS\n");
        out.push_str(&format!(
            "    For examples: custkey Get-Help {0} -Examples\n    For everything: custkey Get-Help {0} -Full\n\n",
            c.name
        ));
    }
    out
}

/// The about_CommonParameters page.
pub fn common_parameters() -> String {
    let mut out = String::from("TOPIC\n    about_CommonParameters\n\nSHORT DESCRIPTION\n    Parameters that every custkey cmdlet takes.\n\nPARAMETERS\n");
    for p in COMMON {
        param_block(p, &mut out);
    }
    out.push_str("EXIT CODES\n    0 success; 1 the cmdlet failed; 2 usage error; 3 the store or a vault could not be reached; 70 internal error.\n\n");
    out
}
