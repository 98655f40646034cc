//! Add-RoleGroupMember, Remove-RoleGroupMember, Get-RoleGroupMember (Exchange Online role groups).

use custkey::service::roles::{AdminKind, AdminMember};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

const GROUPS: &[&str] = &[
    "Organization Management",
    "Compliance Management",
    "View-Only Organization Management",
];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Add-RoleGroupMember",
        module: "ExchangeOnlineManagement",
        synopsis: "Adds a user to an Exchange role group (Organization Management, Compliance Management, ...).",
        description: "Makes the user a member of the role group. Organization Management may run every Exchange \
Customer Key cmdlet; Compliance Management the data encryption policy cmdlets (Exchange and multi-workload); \
View-Only Organization Management the Get- and Test- cmdlets. Needs Organization Management (or Global \
Administrator). Audited in the unified audit log.",
        params: &[
            Param::new("Identity", Kind::Enum(GROUPS), "The role group.").position(0).required(),
            Param::new("Member", Kind::String, "The user, by UPN.").required(),
            Param::new("BypassSecurityGroupManagerCheck", Kind::Switch, "Accepted for compatibility (the check is the role the signed-in account holds)."),
        ],
        examples: &[Example {
            title: "An Exchange administrator for Customer Key",
            code: "custkey Add-RoleGroupMember -Identity 'Organization Management' -Member exadmin@contoso.com",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &[],
        run: add,
    },
    Cmdlet {
        name: "Remove-RoleGroupMember",
        module: "ExchangeOnlineManagement",
        synopsis: "Removes a user from an Exchange role group.",
        description: "Ends the user's membership of the role group. Needs Organization Management (or Global \
Administrator). Audited.",
        params: &[
            Param::new("Identity", Kind::Enum(GROUPS), "The role group.").position(0).required(),
            Param::new("Member", Kind::String, "The user, by UPN.").required(),
            Param::new("BypassSecurityGroupManagerCheck", Kind::Switch, "Accepted for compatibility."),
        ],
        examples: &[Example {
            title: "Take an administrator out",
            code: "custkey Remove-RoleGroupMember -Identity 'Organization Management' -Member exadmin@contoso.com -Confirm:false",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: &[],
        run: remove,
    },
    Cmdlet {
        name: "Get-RoleGroupMember",
        module: "ExchangeOnlineManagement",
        synopsis: "Lists the members of an Exchange role group.",
        description: "Lists the members of the role group.",
        params: &[Param::new("Identity", Kind::Enum(GROUPS), "The role group.").position(0).required()],
        examples: &[Example {
            title: "Who administers Exchange",
            code: "custkey Get-RoleGroupMember -Identity 'Organization Management'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["Name", "RecipientType"],
        run: get,
    },
];

fn member_record(m: &AdminMember) -> Record {
    let mut r = Record::new();
    r.insert("Name".into(), json!(m.member));
    r.insert("PrimarySmtpAddress".into(), json!(m.member));
    r.insert("RecipientType".into(), json!("User"));
    r.insert("RoleGroup".into(), json!(m.role));
    r.insert("AddedBy".into(), json!(m.added_by));
    r.insert("WhenAdded".into(), json!(m.added));
    r
}

fn add(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let group = args.str("Identity").unwrap_or_default();
    let member = args.str("Member").unwrap_or_default();
    if !ctx.should_process(
        &format!("{member} in {group}"),
        "Add-RoleGroupMember",
        false,
    )? {
        return Ok(Output::None);
    }
    ctx.azure()?
        .add_admin(AdminKind::RoleGroup, group, member)?;
    Ok(Output::None)
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let group = args.str("Identity").unwrap_or_default();
    let member = args.str("Member").unwrap_or_default();
    if !ctx.should_process(
        &format!("{member} in {group}"),
        "Remove-RoleGroupMember",
        false,
    )? {
        return Ok(Output::None);
    }
    ctx.azure()?
        .remove_admin(AdminKind::RoleGroup, group, member)?;
    Ok(Output::None)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let group = args.str("Identity");
    let list = ctx.azure()?.admins(AdminKind::RoleGroup, group)?;
    Ok(Output::many(list.iter().map(member_record).collect()))
}
