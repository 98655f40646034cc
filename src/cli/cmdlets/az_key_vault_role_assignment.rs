//! New-AzKeyVaultRoleAssignment, Get-AzKeyVaultRoleAssignment, Remove-AzKeyVaultRoleAssignment:
//! a Managed HSM's local RBAC.
//!
//! Local scopes are `/`, `/keys` and `/keys/<key>`. custkey keeps a local assignment in the
//! HSM's file at the HSM's Azure scope (`/` and `/keys` both become the HSM itself, `/keys/<key>`
//! its key), so the engine's one role check serves both; a listing shows them as local scopes.

use custkey::model::principal::Principal;
use custkey::vault::{rbac, RoleAssignment, Scope};
use serde_json::json;

use super::az_role_assignment::{assignment_record, principal};
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

const TABLE: &[&str] = &["RoleDefinitionName", "DisplayName", "ObjectType", "Scope"];

const ROLE_NAMES: &[&str] = &[
    "Managed HSM Administrator",
    "Managed HSM Crypto Officer",
    "Managed HSM Crypto User",
    "Managed HSM Crypto Service Encryption User",
    "Managed HSM Policy Administrator",
    "Managed HSM Crypto Auditor",
    "Managed HSM Backup",
    "Managed HSM Restore",
];

const SCOPE_HELP: &str =
    "The local scope: / (the whole HSM, the default), /keys, or /keys/<key name>.";

const HSM: Param = Param::new("HsmName", Kind::String, "The Managed HSM.")
    .position(0)
    .required()
    .complete(super::az_key_vault::vault_names);

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-AzKeyVaultRoleAssignment",
        module: "Az.KeyVault",
        synopsis: "Assigns a Managed HSM local role to a user or service principal at a local scope.",
        description: "Grants a Managed HSM local role: Managed HSM Administrator (role assignments), Crypto Officer (purge \
and recover deleted keys), Crypto User (all other key management and use) or Crypto Service Encryption User (get, wrapKey, \
unwrapKey: what Customer Key's service principals need). Needs Managed HSM Administrator on the HSM (or Owner of its \
Azure scope). The HSM's keys answer to these roles only; Azure RBAC roles (New-AzRoleAssignment) and access policies do \
not reach them. Audited.",
        params: &[
            HSM,
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "The role, by name."),
            Param::new("RoleDefinitionId", Kind::String, "The role, by definition GUID."),
            Param::new("SignInName", Kind::String, "A user, by UPN.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID.").aliases(&["Id", "PrincipalId"]),
            Param::new("Scope", Kind::String, SCOPE_HELP),
        ],
        examples: &[
            Example {
                title: "Let Exchange Online wrap and unwrap with the HSM's keys",
                code: "custkey New-AzKeyVaultRoleAssignment -HsmName contoso-ck-hsm1 -RoleDefinitionName 'Managed HSM Crypto Service Encryption User' -ApplicationId 00000002-0000-0ff1-ce00-000000000000 -Scope /keys",
                output: "",
                remarks: "For SharePoint: 00000003-0000-0ff1-ce00-000000000000; multi-workload: c066d759-24ae-40e7-a56f-027002b5d3e4.",
            },
            Example {
                title: "An administrator who creates the keys",
                code: "custkey New-AzKeyVaultRoleAssignment -HsmName contoso-ck-hsm1 -RoleDefinitionName 'Managed HSM Crypto User' -SignInName admin@contoso.onmicrosoft.com",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-AzKeyVaultRoleAssignment",
        module: "Az.KeyVault",
        synopsis: "Lists a Managed HSM's local role assignments.",
        description: "Lists the local role assignments of the HSM, filtered by principal, role and scope.",
        params: &[
            HSM,
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "Only this role's."),
            Param::new("RoleDefinitionId", Kind::String, "Only this role's, by definition GUID."),
            Param::new("SignInName", Kind::String, "Only this user's.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "Only this service principal's.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "Only this object's.").aliases(&["Id", "PrincipalId"]),
            Param::new("Scope", Kind::String, "Only those at this local scope."),
        ],
        examples: &[Example {
            title: "Who may use the HSM's keys",
            code: "custkey Get-AzKeyVaultRoleAssignment -HsmName contoso-ck-hsm1",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Remove-AzKeyVaultRoleAssignment",
        module: "Az.KeyVault",
        synopsis: "Removes a Managed HSM local role assignment (how a customer revokes a service principal on an HSM).",
        description: "Removes the assignment of the role to the principal made exactly at the local scope. After the \
service principal's Crypto Service Encryption User is removed, the service can no longer unwrap with the HSM's keys. \
Needs Managed HSM Administrator (or Owner). Audited.",
        params: &[
            HSM,
            Param::new("RoleDefinitionName", Kind::Enum(ROLE_NAMES), "The role, by name."),
            Param::new("RoleDefinitionId", Kind::String, "The role, by definition GUID."),
            Param::new("SignInName", Kind::String, "A user, by UPN.").aliases(&["Email", "UserPrincipalName"]),
            Param::new("ApplicationId", Kind::String, "A service principal, by application id or display name.").aliases(&["SPN", "ServicePrincipalName"]),
            Param::new("ObjectId", Kind::String, "A directory object, by GUID.").aliases(&["Id", "PrincipalId"]),
            Param::new("Scope", Kind::String, SCOPE_HELP),
            Param::new("PassThru", Kind::Switch, "Write the removed assignments to the output."),
        ],
        examples: &[Example {
            title: "Revoke Exchange Online on an HSM",
            code: "custkey Remove-AzKeyVaultRoleAssignment -HsmName contoso-ck-hsm1 -RoleDefinitionName 'Managed HSM Crypto Service Encryption User' -ApplicationId 00000002-0000-0ff1-ce00-000000000000 -Scope /keys",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: remove,
    },
];

fn role(args: &Args, required: bool) -> Result<Option<&'static rbac::RoleDefinition>, CliError> {
    let given = match (args.str("RoleDefinitionName"), args.str("RoleDefinitionId")) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "Give -RoleDefinitionName or -RoleDefinitionId, not both.",
            ))
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) if !required => return Ok(None),
        (None, None) => {
            return Err(CliError::usage("No role was named.").with_help(
                "give -RoleDefinitionName, e.g. 'Managed HSM Crypto Service Encryption User'",
            ))
        }
    };
    Ok(Some(
        rbac::hsm_role(given).map_err(|e| CliError::usage(e.message().to_string()))?,
    ))
}

/// The HSM's Azure scope, and the local scope given (`/`, `/keys`, `/keys/<key>`) as one of its.
fn scopes(ctx: &mut Ctx, args: &Args) -> Result<(Scope, Option<Scope>), CliError> {
    let hsm = args.str("HsmName").unwrap_or_default();
    let mut az = ctx.azure()?;
    az.check_container(hsm, true)?;
    let info = az.vault_info(hsm)?;
    let base = Scope::vault(
        &info.subscription_id,
        &info.resource_group_name,
        &info.vault_name,
    );
    let Some(s) = args.str("Scope") else {
        return Ok((base, None));
    };
    let t = s.trim().trim_end_matches('/');
    let local = match t.strip_prefix("/keys") {
        _ if t.is_empty() => base.clone(),
        Some("") => base.clone(),
        Some(k) if k.starts_with('/') && custkey::service::azure::is_key_name(&k[1..]) => {
            base.with_key(&k[1..])
        }
        _ => {
            return Err(
                CliError::usage(format!("'{s}' is not a Managed HSM local scope"))
                    .with_help(SCOPE_HELP),
            )
        }
    };
    Ok((base, Some(local)))
}

/// The local scope an assignment shows: `/` for the whole HSM, `/keys/<key>` for one key.
fn local_record(a: &RoleAssignment) -> Record {
    let mut r = assignment_record(a);
    let local = match Scope::parse(&a.scope).ok().and_then(|s| s.key) {
        Some(k) => format!("/keys/{k}"),
        None => "/".to_string(),
    };
    r.insert("Scope".into(), json!(local));
    r.insert(
        "RoleAssignmentId".into(),
        json!(format!(
            "{local}/providers/Microsoft.Authorization/roleAssignments/{}",
            a.id
        )
        .replace("//", "/")),
    );
    r
}

/// The principal, role and scope that New- and Remove-AzKeyVaultRoleAssignment change, once
/// -WhatIf/-Confirm allow it (`None`: not to be done).
fn change_target(
    ctx: &mut Ctx,
    args: &Args,
) -> Result<Option<(Principal, &'static rbac::RoleDefinition, Scope)>, CliError> {
    let who = principal(args, true)?.unwrap_or_else(|| Principal::ObjectId(String::new()));
    let role = role(args, true)?.ok_or_else(|| CliError::usage("No role was named."))?;
    let (base, local) = scopes(ctx, args)?;
    let scope = local.unwrap_or(base);
    let name = ctx.cmdlet.name;
    if !ctx.should_process(&format!("{scope} for {}", who.display_name()), name, false)? {
        return Ok(None);
    }
    Ok(Some((who, role, scope)))
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let Some((who, role, scope)) = change_target(ctx, args)? else {
        return Ok(Output::None);
    };
    let a = ctx.azure()?.new_role_assignment(&who, role, &scope)?;
    Ok(Output::one(local_record(&a)))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let who = principal(args, false)?;
    let role = role(args, false)?;
    let (base, local) = scopes(ctx, args)?;
    let list = ctx.azure()?.role_assignments(&base)?;
    Ok(Output::many(
        list.iter()
            .filter(|a| a.role().is_some_and(|r| r.is_hsm_local()))
            .filter(|a| who.as_ref().is_none_or(|p| a.principal.same_as(p)))
            .filter(|a| role.is_none_or(|r| a.role_definition_id.eq_ignore_ascii_case(r.id)))
            .filter(|a| {
                local.as_ref().is_none_or(|l| {
                    Scope::parse(&a.scope).is_ok_and(|s| s.covers(l) && l.covers(&s))
                })
            })
            .map(local_record)
            .collect(),
    ))
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let Some((who, role, scope)) = change_target(ctx, args)? else {
        return Ok(Output::None);
    };
    let gone = ctx.azure()?.remove_role_assignment(&who, role, &scope)?;
    Ok(if args.switch("PassThru") {
        Output::many(gone.iter().map(local_record).collect())
    } else {
        Output::None
    })
}
