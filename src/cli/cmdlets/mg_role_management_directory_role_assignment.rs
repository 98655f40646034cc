//! New-MgRoleManagementDirectoryRoleAssignment, Get-MgRoleManagementDirectoryRoleAssignment,
//! Remove-MgRoleManagementDirectoryRoleAssignment (Microsoft Entra directory roles).

use custkey::service::roles::{admin_role, AdminKind, AdminMember};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

const ROLES: &str = "The role template id: f28a1f50-f6e7-4571-818b-6a12f2af6b6c (SharePoint Administrator), \
62e90394-69f5-4237-9190-012177145e10 (Global Administrator), e8611ab8-c189-46e8-94e1-60213ab1f814 (Privileged Role \
Administrator), 29232cdf-9323-42fd-ade2-1d097af3e4de (Exchange Administrator), f2ef992c-3afb-46b9-b7cf-a126ee74c451 \
(Global Reader); the role's display name is accepted too.";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MgRoleManagementDirectoryRoleAssignment",
        module: "Microsoft.Graph.Identity.Governance",
        synopsis: "Assigns a Microsoft Entra directory role (SharePoint Administrator, Global Administrator, ...).",
        description: "Gives the user the directory role tenant-wide (-DirectoryScopeId '/'). SharePoint Administrator \
may run the SPO Customer Key cmdlets; Global Administrator every admin cmdlet; Global Reader the Get- cmdlets. Needs \
Global Administrator or Privileged Role Administrator. -PrincipalId takes the user's UPN here (there is no directory \
of object ids). Audited in the unified audit log.",
        params: &[
            Param::new("PrincipalId", Kind::String, "The user, by UPN.").required(),
            Param::new("RoleDefinitionId", Kind::String, ROLES).required(),
            Param::new("DirectoryScopeId", Kind::String, "Only '/' (the whole tenant).").default("/"),
        ],
        examples: &[Example {
            title: "A SharePoint administrator",
            code: "custkey New-MgRoleManagementDirectoryRoleAssignment -PrincipalId spadmin@contoso.com -RoleDefinitionId f28a1f50-f6e7-4571-818b-6a12f2af6b6c -DirectoryScopeId '/'",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["Id", "PrincipalId", "RoleDefinitionId", "DirectoryScopeId"],
        run: new,
    },
    Cmdlet {
        name: "Get-MgRoleManagementDirectoryRoleAssignment",
        module: "Microsoft.Graph.Identity.Governance",
        synopsis: "Lists the Microsoft Entra directory role assignments.",
        description: "Lists who holds which directory role, or one assignment by -UnifiedRoleAssignmentId.",
        params: &[Param::new("UnifiedRoleAssignmentId", Kind::String, "One assignment, by id.")],
        examples: &[Example {
            title: "Who holds directory roles",
            code: "custkey Get-MgRoleManagementDirectoryRoleAssignment",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["Id", "PrincipalId", "RoleDefinitionId", "DirectoryScopeId"],
        run: get,
    },
    Cmdlet {
        name: "Remove-MgRoleManagementDirectoryRoleAssignment",
        module: "Microsoft.Graph.Identity.Governance",
        synopsis: "Removes a Microsoft Entra directory role assignment.",
        description: "Ends one directory role assignment, by its id. Needs Global Administrator or Privileged Role \
Administrator. Audited.",
        params: &[Param::new("UnifiedRoleAssignmentId", Kind::String, "The assignment's id (Get-MgRoleManagementDirectoryRoleAssignment).").required()],
        examples: &[Example {
            title: "Take a SharePoint administrator out",
            code: "custkey -Command \"Get-MgRoleManagementDirectoryRoleAssignment | Where-Object PrincipalId -eq 'spadmin@contoso.com' | ForEach-Object { Remove-MgRoleManagementDirectoryRoleAssignment -UnifiedRoleAssignmentId \\$_.Id -Confirm:\\$false }\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: &[],
        run: remove,
    },
];

fn assignment_record(m: &AdminMember) -> Record {
    let mut r = Record::new();
    r.insert("Id".into(), json!(m.id));
    r.insert("PrincipalId".into(), json!(m.member));
    r.insert(
        "RoleDefinitionId".into(),
        json!(admin_role(&m.role, AdminKind::DirectoryRole)
            .map(|r| r.id)
            .unwrap_or_default()),
    );
    r.insert("RoleDefinitionName".into(), json!(m.role));
    r.insert("DirectoryScopeId".into(), json!("/"));
    r.insert("CreatedBy".into(), json!(m.added_by));
    r.insert("CreatedDateTime".into(), json!(m.added));
    r
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let who = args.str("PrincipalId").unwrap_or_default();
    let role = args.str("RoleDefinitionId").unwrap_or_default();
    if args.str("DirectoryScopeId").is_some_and(|s| s != "/") {
        return Err(CliError::usage(
            "only the tenant-wide scope -DirectoryScopeId '/' is supported",
        )
        .with_help("give -DirectoryScopeId '/'"));
    }
    if !ctx.should_process(who, "New-MgRoleManagementDirectoryRoleAssignment", false)? {
        return Ok(Output::None);
    }
    let m = ctx
        .azure()?
        .add_admin(AdminKind::DirectoryRole, role, who)?;
    Ok(Output::one(assignment_record(&m)))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("UnifiedRoleAssignmentId");
    let list = ctx.azure()?.admins(AdminKind::DirectoryRole, None)?;
    let items: Vec<Record> = list
        .iter()
        .filter(|m| id.is_none_or(|i| m.id.eq_ignore_ascii_case(i)))
        .map(assignment_record)
        .collect();
    if id.is_some() && items.is_empty() {
        return Err(CliError::failed("no directory role assignment has that id")
            .with_help("list them with Get-MgRoleManagementDirectoryRoleAssignment"));
    }
    Ok(Output::many(items))
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("UnifiedRoleAssignmentId").unwrap_or_default();
    if !ctx.should_process(id, "Remove-MgRoleManagementDirectoryRoleAssignment", false)? {
        return Ok(Output::None);
    }
    let mut az = ctx.azure()?;
    let role = az
        .admins(AdminKind::DirectoryRole, None)?
        .into_iter()
        .find(|m| m.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            CliError::failed("no directory role assignment has that id")
                .with_help("list them with Get-MgRoleManagementDirectoryRoleAssignment")
        })?
        .role;
    az.remove_admin(AdminKind::DirectoryRole, &role, id)?;
    Ok(Output::None)
}
