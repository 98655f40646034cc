//! Add-Member: a note property added to the objects piped in (or -InputObject), as the guides
//! add `enableSoftDelete` to a vault's resource properties before Set-AzResource.

use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{display, Output};
use crate::cli::script::methods::type_name;
use crate::cli::script::value::check_size;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Add-Member",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Adds a note property to the objects piped in, or to -InputObject.",
    description: "Adds a NoteProperty (a name and a value) to each object piped in, or to -InputObject, \
in place: `$r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value 'True'` changes \
`$r.Properties` itself, so a later `Set-AzResource -Properties $r.Properties` sees the new property, as in PowerShell. \
(In custkey the object is changed where the script names it: a variable, or a property or element of one, piped in \
or given to -InputObject; a copy made before, `$p = $r.Properties`, keeps its old members.) -NotePropertyName with \
-NotePropertyValue adds one the other way; -NotePropertyMembers @{a=1; b=2} adds several. A member of that name \
already there is an error unless -Force replaces it, or unless it already has the same value (as text, without \
regard to case: true and 'True' are the same), when nothing changes. -PassThru outputs the objects; otherwise \
Add-Member outputs nothing. Only note properties are supported, on objects (hashtables, cmdlet output), not on \
strings or numbers.",
    params: &[
        Param::new("MemberType", Kind::Enum(&["NoteProperty"]), "The kind of member: NoteProperty.").position(0),
        Param::new("Name", Kind::String, "The new property's name.").position(1),
        Param::new("Value", Kind::Object, "The new property's value (any value: a string, a number, an object).").position(2),
        Param::new("NotePropertyName", Kind::String, "The new note property's name, without -MemberType."),
        Param::new("NotePropertyValue", Kind::Object, "The value for -NotePropertyName."),
        Param::new("NotePropertyMembers", Kind::Object, "Several note properties at once: @{name = value; other = value}."),
        Param::new("InputObject", Kind::Object, "The object to add to, instead of piping it in."),
        Param::new("Force", Kind::Switch, "Replace a member of the same name."),
        Param::new("PassThru", Kind::Switch, "Output the objects with the new member."),
    ],
    examples: &[
        Example {
            title: "Turn soft delete on for an older vault, as the Customer Key setup guide does",
            code: "custkey -Command '$v = Get-AzKeyVault -VaultName contoso-ck-va1; $r = Get-AzResource -ResourceId $v.ResourceId; $r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value \"True\"; Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties'",
            output: "",
            remarks: "custkey's vaults have soft delete on already: Add-Member finds enableSoftDelete true and changes nothing, and Set-AzResource accepts it.",
        },
        Example {
            title: "Label objects in a pipeline",
            code: "custkey -Command 'Get-Mailbox | Add-Member -NotePropertyName Checked -NotePropertyValue $true -PassThru | Select-Object Name, Checked'",
            output: "",
            remarks: "",
        },
    ],
    impact: Impact::None,
    table: &[],
    run,
}];

/// The members asked for, in order.
fn members(args: &Args) -> Result<Vec<(String, Value)>, CliError> {
    let value = |name: &str| args.object(name).cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    match (args.str("MemberType"), args.str("Name")) {
        (Some(_), Some(name)) => out.push((name.to_string(), value("Value"))),
        (None, Some(name)) => {
            return Err(CliError::usage(format!(
                "Add-Member -Name {name} needs -MemberType NoteProperty."
            ))
            .with_help("write Add-Member -MemberType NoteProperty -Name x -Value y, or -NotePropertyName x -NotePropertyValue y"))
        }
        (Some(_), None) => {
            return Err(CliError::usage("Add-Member -MemberType needs -Name, the member's name.")
                .with_help("write Add-Member -MemberType NoteProperty -Name x -Value y"))
        }
        (None, None) => {}
    }
    if let Some(name) = args.str("NotePropertyName") {
        out.push((name.to_string(), value("NotePropertyValue")));
    }
    match args.object("NotePropertyMembers") {
        None => {}
        Some(Value::Object(m)) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Some(other) => {
            return Err(CliError::usage(format!(
                "-NotePropertyMembers takes a hashtable of names and values, not a [{}].",
                type_name(other)
            ))
            .with_help("write -NotePropertyMembers @{name = 'value'; other = 2}"))
        }
    }
    if out.is_empty() {
        return Err(CliError::usage("Add-Member was given no member to add.").with_help(
            "give -MemberType NoteProperty -Name x -Value y, -NotePropertyName x -NotePropertyValue y, or -NotePropertyMembers @{x = y}",
        ));
    }
    if let Some((name, _)) = out.iter().find(|(n, _)| n.trim().is_empty()) {
        return Err(CliError::usage(format!(
            "Add-Member needs a member name, and '{name}' is empty."
        )));
    }
    Ok(out)
}

/// Whether two values read the same: equal, or the same text without regard to case (a
/// property `true` and a value `'True'`).
fn same_value(a: &Value, b: &Value) -> bool {
    a == b
        || (!a.is_object()
            && !a.is_array()
            && !b.is_object()
            && !b.is_array()
            && display(a).eq_ignore_ascii_case(&display(b)))
}

/// Adds the members to one object.
pub fn add_to(
    target: &mut Value,
    members: &[(String, Value)],
    force: bool,
) -> Result<(), CliError> {
    let Value::Object(map) = target else {
        return Err(CliError::usage(format!(
            "Add-Member adds properties to objects, and the input is a [{}] (\"{}\").",
            type_name(target),
            display(target)
        ))
        .with_help("pipe in an object (a hashtable @{...} or a cmdlet's output), or give one with -InputObject"));
    };
    // Check every member first: an error changes nothing.
    for (name, value) in members {
        if let Some((k, old)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            if !force && !same_value(old, value) {
                return Err(CliError::usage(format!(
                    "Cannot add a member with the name \"{k}\" because a member with that name already exists."
                ))
                .with_help("to overwrite the member anyway, add -Force"));
            }
        }
    }
    for (name, value) in members {
        let existing = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
        match existing {
            Some(k) if force => {
                map.insert(k, value.clone());
            }
            Some(_) => {}
            None => {
                map.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(())
}

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let members = members(args)?;
    let mut targets = std::mem::take(&mut ctx.input);
    match args.object("InputObject") {
        Some(_) if !targets.is_empty() => {
            return Err(CliError::usage(
                "Add-Member was given objects both piped in and with -InputObject.",
            )
            .with_help("pipe the objects in, or give -InputObject, not both"))
        }
        Some(o) => targets.push(o.clone()),
        None => {}
    }
    if targets.is_empty() {
        return Err(
            CliError::usage("Add-Member needs an object to add the member to.")
                .with_help("pipe one in ($o | Add-Member ...) or give -InputObject $o"),
        );
    }
    for t in targets.iter_mut() {
        add_to(t, &members, args.switch("Force"))?;
        // An object given itself as a value grows with each call: bounded as every value a
        // script builds is.
        check_size(t, "the object with its new member")?;
    }
    if args.switch("PassThru") {
        ctx.changed_in_place = Some(targets.clone());
        Ok(Output::Values(targets))
    } else {
        ctx.changed_in_place = Some(targets);
        Ok(Output::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn note_properties_are_added_replaced_or_refused() {
        let mut o = json!({"Name": "x", "enableSoftDelete": true});
        add_to(&mut o, &[("Extra".into(), json!(1))], false).unwrap();
        assert_eq!(o["Extra"], json!(1));
        // The same value (as text): nothing changes, no error.
        add_to(&mut o, &[("enablesoftdelete".into(), json!("True"))], false).unwrap();
        assert_eq!(o["enableSoftDelete"], json!(true));
        // Another value: refused without -Force, and nothing of the call is applied.
        let e = add_to(
            &mut o,
            &[("New".into(), json!(2)), ("name".into(), json!("y"))],
            false,
        )
        .unwrap_err();
        assert!(e.message.contains("\"Name\""), "{}", e.message);
        assert!(o.get("New").is_none());
        add_to(&mut o, &[("name".into(), json!("y"))], true).unwrap();
        assert_eq!(o["Name"], json!("y"));
        let mut s = json!("text");
        let e = add_to(&mut s, &[("a".into(), json!(1))], false).unwrap_err();
        assert!(e.message.contains("[System.String]"), "{}", e.message);
    }
}
