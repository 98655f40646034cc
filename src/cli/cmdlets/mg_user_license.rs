//! Set-MgUserLicense, Get-MgUserLicenseDetail: licences by SKU part number.

use custkey::model::RecipientScope;
use custkey::service::recipient::{self, SKUS, SKU_PART_NUMBERS};
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

pub fn user_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| recipient::names(&mut s, RecipientScope::All, &ctx.partial))
        .unwrap_or_default()
}

fn sku_names(_ctx: &CompletionCtx) -> Vec<String> {
    SKU_PART_NUMBERS.iter().map(|s| s.to_string()).collect()
}

/// A licence as given: a part number, a SKU id, or Graph's `@{SkuId = "<id>"}` (which reaches
/// the cmdlet as `SkuId=<id>`).
fn sku_of(given: &str) -> String {
    match given.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("SkuId") => v.trim().to_string(),
        _ => given.trim().to_string(),
    }
}

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Set-MgUserLicense",
        module: "Microsoft.Graph.Users.Actions",
        synopsis: "Adds or removes licences (by SKU part number or SKU id) of a user or mail user.",
        description: "Assigns licences. Customer Key needs one whose service plans carry BPOS_S_EquivioAnalytics on \
every user and mail-user mailbox that gets a customer DEP: ENTERPRISEPREMIUM (Office 365 E5), SPE_E5 (Microsoft 365 E5), \
INFORMATION_PROTECTION_COMPLIANCE (Microsoft 365 E5 Compliance), EQUIVIO_ANALYTICS (Office 365 Advanced Compliance) or \
M365_SECURITY_COMPLIANCE_FOR_FLW. ENTERPRISEPACK (Office 365 E3) and SPE_E3 (Microsoft 365 E3) do not license Customer Key. \
Graph takes SKU GUIDs in -AddLicenses @{SkuId=...}; custkey takes part numbers or SKU GUIDs as a list.",
        params: &[
            Param::new("UserId", Kind::String, "The user: name, alias, address, UPN or GUID.")
                .position(0)
                .required()
                .complete(user_names),
            Param::new("AddLicenses", Kind::StringList, "SKUs to add: part numbers (SPE_E5), SKU ids, or Graph's @{SkuId = \"<id>\"}.").default("none").complete(sku_names),
            Param::new("RemoveLicenses", Kind::StringList, "SKUs to remove, as -AddLicenses; @() for none.").default("none").complete(sku_names),
        ],
        examples: &[Example {
            title: "License alice for Customer Key",
            code: "custkey Set-MgUserLicense -UserId alice -AddLicenses SPE_E5",
            output: "
UserId DisplayName Licenses PersistedCapabilities
------ ----------- -------- ---------------------
alice  alice       {SPE_E5} {BPOS_S_CustomerLockbox, BPOS_S_Enterprise, BPOS_S_EquivioAnalytics}
",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["UserId", "DisplayName", "Licenses", "PersistedCapabilities"],
        run: set,
    },
    Cmdlet {
        name: "Get-MgUserLicenseDetail",
        module: "Microsoft.Graph.Users",
        synopsis: "Lists a user's licences with their SKU ids and products.",
        description: "Shows each licence of a user or mail user: SkuPartNumber, SkuId and the product name.",
        params: &[Param::new("UserId", Kind::String, "The user: name, alias, address, UPN or GUID.")
            .position(0)
            .required()
            .complete(user_names)],
        examples: &[Example {
            title: "Alice's licences",
            code: "custkey Get-MgUserLicenseDetail alice",
            output: "
SkuPartNumber SkuId                                Product
------------- ------------------------------------ ----------------
SPE_E5        06ebc4ee-1bb5-47dd-8120-11324bc54e06 Microsoft 365 E5
",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["SkuPartNumber", "SkuId", "Product"],
        run: get,
    },
];

fn obj(v: serde_json::Value) -> Record {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Record::new(),
    }
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let user = args.str("UserId").unwrap_or_default().to_string();
    let add: Vec<String> = args
        .list("AddLicenses")
        .unwrap_or_default()
        .iter()
        .map(|l| sku_of(l))
        .collect();
    let remove: Vec<String> = args
        .list("RemoveLicenses")
        .unwrap_or_default()
        .iter()
        .map(|l| sku_of(l))
        .collect();
    if add.is_empty() && remove.is_empty() {
        return Err(
            CliError::usage("Set-MgUserLicense was given no licence to add or remove.").with_help(
                "give -AddLicenses or -RemoveLicenses with SKU part numbers such as SPE_E5",
            ),
        );
    }
    if !ctx.should_process(&user, "Set-MgUserLicense", false)? {
        return Ok(Output::None);
    }
    let row = recipient::set_licenses(ctx.store()?, &user, &add, &remove)?;
    let r = recipient::present(row, None);
    Ok(Output::one(obj(json!({
        "UserId": r.alias,
        "DisplayName": r.display_name,
        "UserPrincipalName": r.user_principal_name,
        "Licenses": r.licenses,
        "PersistedCapabilities": r.persisted_capabilities,
    }))))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let user = args.str("UserId").unwrap_or_default();
    let row = recipient::get(ctx.store()?, user, RecipientScope::All)?;
    let items = row
        .licenses
        .iter()
        .filter_map(|l| SKUS.iter().find(|s| s.part_number == l))
        .map(|s| {
            obj(json!({
                "SkuPartNumber": s.part_number,
                "SkuId": s.sku_id,
                "Product": s.product,
                "ServicePlans": s.capabilities,
            }))
        })
        .collect();
    Ok(Output::many(items))
}
