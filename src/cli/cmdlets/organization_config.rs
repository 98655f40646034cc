//! Get-OrganizationConfig, Set-OrganizationConfig.

use custkey::service::org::{self, OrgChanges, GEOS, SUBSCRIPTION_TYPES};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Get-OrganizationConfig",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows the organization: name, GUID, subscription type, data-purge approvers and default geo.",
        description: "Shows the one organization (tenant) of the store. The first time any cmdlet runs against a new store, \
the organization is created with the defaults: Name contoso.onmicrosoft.com, SubscriptionType Paid, DefaultGeo NAM and no \
data-purge approvers. Change them with Set-OrganizationConfig.",
        params: &[],
        examples: &[Example {
            title: "Show the organization",
            code: "custkey Get-OrganizationConfig",
            output: "
Identity           : contoso.onmicrosoft.com
Name               : contoso.onmicrosoft.com
Guid               : 6a1f0c52-9d7e-4f3a-8a8e-2f4c7b1d9e30
SubscriptionType   : Paid
DataPurgeApprovers : {}
DefaultGeo         : NAM
WhenCreated        : 2026-11-28T15:37:51Z
WhenChanged        : 2026-11-28T15:37:51Z
",
            remarks: "A new store starts with a paid organization in geo NAM.",
        }],
        impact: Impact::None,
        table: &[],
        run: get,
    },
    Cmdlet {
        name: "Set-OrganizationConfig",
        module: "ExchangeOnlineManagement",
        synopsis: "Changes the organization's name, subscription type, data-purge approvers or default geo.",
        description: "Changes properties of the organization. Customer Key cmdlets refuse a Trial organization. \
DataPurgeApprovers lists the people (UPNs) who may approve a data purge; the approver must differ from the person who \
requested the purge. -DataPurgeApprovers replaces the whole list; '$null' clears it.",
        params: &[
            Param::new("Name", Kind::String, "The organization's name, such as contoso.onmicrosoft.com."),
            Param::new(
                "SubscriptionType",
                Kind::Enum(SUBSCRIPTION_TYPES),
                "Paid or Trial. Customer Key is not available to a Trial organization.",
            ),
            Param::new(
                "DataPurgeApprovers",
                Kind::StringList,
                "User principal names of the people who may approve a data purge (replaces the list; '$null' clears it).",
            ),
            Param::new("DefaultGeo", Kind::Enum(GEOS), "The organization's default (central) geo location."),
            Param::new("PassThru", Kind::Switch, "Write the changed organization to the output."),
        ],
        examples: &[Example {
            title: "Name two data-purge approvers",
            code: "custkey Set-OrganizationConfig -DataPurgeApprovers cfo@contoso.com,ciso@contoso.com -PassThru -Property DataPurgeApprovers",
            output: "
DataPurgeApprovers : {cfo@contoso.com, ciso@contoso.com}
",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &[],
        run: set,
    },
];

fn get(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    let org = org::get(ctx.store()?)?;
    Ok(Output::one(record(&org)?))
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let changes = OrgChanges {
        name: args.str("Name").map(str::to_string),
        subscription_type: args.str("SubscriptionType").map(str::to_string),
        data_purge_approvers: if args.is_null("DataPurgeApprovers") {
            Some(Vec::new())
        } else {
            args.list("DataPurgeApprovers").map(<[String]>::to_vec)
        },
        default_geo: args.str("DefaultGeo").map(str::to_string),
    };
    if changes.is_empty() {
        return Err(
            CliError::usage("Set-OrganizationConfig was given nothing to change.").with_help(
                "name at least one of -Name, -SubscriptionType, -DataPurgeApprovers, -DefaultGeo",
            ),
        );
    }
    changes.validate()?;
    let current = org::get(ctx.store()?)?;
    if !ctx.should_process(&current.name, "Set-OrganizationConfig", false)? {
        return Ok(Output::None);
    }
    let updated = org::set(ctx.store()?, &changes)?;
    ctx.verbose(&format!("organization {} updated", updated.name));
    if args.switch("PassThru") {
        Ok(Output::one(record(&updated)?))
    } else {
        Ok(Output::None)
    }
}
