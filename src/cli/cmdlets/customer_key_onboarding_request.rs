//! New-CustomerKeyOnboardingRequest, Get-CustomerKeyOnboardingRequest (Microsoft's
//! M365CustomerKeyOnboarding module): the Customer Key onboarding service.

use custkey::service::onboarding::{
    self, Mode, NewRequest, OnboardingRequest, OrgIdentity, Scenario, Slot,
};

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Form, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &[
    "ID",
    "Scenario",
    "OnboardingMode",
    "ValidationResult",
    "EnablementResult",
];

/// The columns of the check report printed when a check fails.
const REPORT: &[&str] = &["Name", "Target", "Result", "Message"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-CustomerKeyOnboardingRequest",
        module: "M365CustomerKeyOnboarding",
        synopsis: "Asks the Customer Key onboarding service to check (and enable) a scenario's two subscriptions, vaults and keys.",
        description: "Runs the checks the onboarding service runs, against the organization, the Azure subscriptions and \
the vaults as they are now, and records the request with its result. Checks: the organization is not Trial; each \
subscription exists and has mandatoryRetentionPeriodEnabled registered; each vault exists in its subscription, has soft \
delete with 90 days of retention and purge protection, and gives the scenario's service principal (Exchange: Office 365 \
Exchange Online; MDEP: M365DataAtRestEncryption; SharePointOneDriveTeams: Office 365 SharePoint Online) get, wrapKey and \
unwrapKey; each key exists, is RSA 2048, 3072 or 4096, is enabled, has no expiry or 12/31/9999, and is \
Recoverable+ProtectedSubscription; the two keys are in two vaults and two subscriptions. The result has \
ValidationResult (Success or Failed), EnablementResult (with -OnboardingMode Enable: Success, and the scenario is \
onboarded, or Failed), and PassedValidations and FailedValidations (Name, Target, Result, Message: what to do). \
When a check fails, the report of every check is printed, the request is still output (a script reads \
$r.ValidationResult and $r.FailedValidations as the guides do), and the exit code is 1. Once a scenario is onboarded, its \
policies (New-DataEncryptionPolicy, New-M365DataAtRestEncryptionPolicy, Register-SPODataEncryptionPolicy) must use keys \
of onboarded subscriptions; a scenario never onboarded this way keeps the older flow (docs/lifecycle.md). The same \
request again, with the same outcome, returns the request recorded before.",
        params: &[
            Param::new("Organization", Kind::String, "The organization: its tenant id ((Get-AzContext).TenantId), GUID or name.")
                .required()
                .aliases(&["OrganizationId"]),
            Param::new("Scenario", Kind::Enum(Scenario::NAMES), "What to onboard: MDEP (multi-workload), Exchange (mailboxes) or SharePointOneDriveTeams.")
                .required(),
            Param::new("Subscription1", Kind::String, "The first key's subscription (id or name).").required(),
            Param::new("VaultName1", Kind::String, "The first key's vault (optional when -KeyIdentifier1 is a key URI)."),
            Param::new("KeyIdentifier1", Kind::String, "The first key: its URI ((Get-AzKeyVaultKey -VaultName v -Name k).Id), or its name with -VaultName1.")
                .required()
                .aliases(&["KeyName1"]),
            Param::new("Subscription2", Kind::String, "The second key's subscription (id or name).").required(),
            Param::new("VaultName2", Kind::String, "The second key's vault (optional when -KeyIdentifier2 is a key URI)."),
            Param::new("KeyIdentifier2", Kind::String, "The second key: its URI, or its name with -VaultName2.")
                .required()
                .aliases(&["KeyName2"]),
            Param::new("OnboardingMode", Kind::Enum(Mode::NAMES), "Validate: check and record only. Enable: also onboard the scenario when every check passes.")
                .default("Enable"),
        ],
        examples: &[
            Example {
                title: "Validate, then enable, the multi-workload scenario",
                code: "custkey New-CustomerKeyOnboardingRequest -Organization contoso.onmicrosoft.com -Scenario MDEP -Subscription1 Contoso-CK-Sub1 -KeyIdentifier1 https://contoso-ck-mw1.vault.azure.net/keys/MWKey1 -Subscription2 Contoso-CK-Sub2 -KeyIdentifier2 https://contoso-ck-mw2.vault.azure.net/keys/MWKey2 -OnboardingMode Validate",
                output: "",
                remarks: "Give the tenant id as the guides do (-Organization (Get-AzContext).TenantId) or the organization's name. When a check fails, each check is printed with what to do, and the exit code is 1. Run it again with -OnboardingMode Enable once it passes.",
            },
            Example {
                title: "The older module's form: vault and key names",
                code: "custkey New-CustomerKeyOnboardingRequest -OrganizationId contoso.onmicrosoft.com -Scenario Exchange -Subscription1 Contoso-CK-Sub1 -VaultName1 contoso-ck-va1 -KeyIdentifier1 Key001 -Subscription2 Contoso-CK-Sub2 -VaultName2 contoso-ck-va2 -KeyIdentifier2 Key002",
                output: "",
                remarks: "Without -OnboardingMode the request enables the scenario when every check passes.",
            },
        ],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-CustomerKeyOnboardingRequest",
        module: "M365CustomerKeyOnboarding",
        synopsis: "Shows the recorded onboarding requests of the organization, or one by its ID.",
        description: "Shows each request New-CustomerKeyOnboardingRequest recorded, oldest first: ID, CreatedDate, \
Scenario, OnboardingMode, ValidationResult, EnablementResult, the subscriptions, vaults and keys, and \
PassedValidations and FailedValidations.",
        params: &[
            Param::new("OrganizationId", Kind::String, "The organization: its tenant id, GUID or name.")
                .required()
                .aliases(&["Organization"]),
            Param::new("RequestId", Kind::String, "One request's ID.").complete(request_ids),
        ],
        examples: &[Example {
            title: "The requests, with the checks that failed",
            code: "custkey -Command 'Get-CustomerKeyOnboardingRequest -OrganizationId contoso.onmicrosoft.com | Format-List ID, CreatedDate, Scenario, ValidationResult, EnablementResult'",
            output: "",
            remarks: "(Get-CustomerKeyOnboardingRequest -OrganizationId <tenant id> -RequestId <ID>).FailedValidations lists one request's failed checks with what to do.",
        }],
        impact: Impact::None,
        table: &["ID", "CreatedDate", "Scenario", "OnboardingMode", "ValidationResult", "EnablementResult"],
        run: get,
    },
];

fn request_ids(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| onboarding::request_ids(&mut s))
        .unwrap_or_default()
}

/// The store's organization as the onboarding service knows it, and the subscriptions.
fn identity(
    ctx: &mut Ctx,
) -> Result<(OrgIdentity, Vec<custkey::vault::SubscriptionInfo>), CliError> {
    let (tenant_id, subs) = {
        let mut az = ctx.azure()?;
        let tenant = az.context()?.tenant_id;
        (tenant, az.subscriptions()?)
    };
    let org = custkey::service::org::get(ctx.store()?)?;
    Ok((
        OrgIdentity {
            name: org.name,
            guid: org.guid,
            tenant_id,
        },
        subs,
    ))
}

fn slot(args: &Args, n: u8) -> Slot {
    Slot {
        subscription: args
            .str(&format!("Subscription{n}"))
            .unwrap_or_default()
            .to_string(),
        vault_name: args.str(&format!("VaultName{n}")).map(str::to_string),
        key_identifier: args
            .str(&format!("KeyIdentifier{n}"))
            .unwrap_or_default()
            .to_string(),
    }
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let req = NewRequest {
        organization: args.str("Organization").unwrap_or_default().to_string(),
        scenario: Scenario::parse(args.str("Scenario").unwrap_or_default())?,
        mode: Mode::parse(args.str("OnboardingMode").unwrap_or("Enable"))?,
        slots: [slot(args, 1), slot(args, 2)],
    };
    let target = format!("{} ({})", req.scenario.as_str(), req.mode.as_str());
    if !ctx.should_process(&target, "New-CustomerKeyOnboardingRequest", false)? {
        return Ok(Output::None);
    }
    let (org, subs) = identity(ctx)?;
    let (store, keys, who) = ctx.acting()?;
    let upn = who.upn.clone();
    let rec = onboarding::submit(store, keys, &org, &subs, &req, &upn)?;
    report(ctx, rec)
}

/// The request as output. When a check failed, also the report of every check (before it, in
/// the human forms; Json and Csv carry FailedValidations in the object), an error line naming
/// the failed checks, and exit code 1: the object is still output, as Microsoft's module
/// returns it, so that a script can read `$r.ValidationResult` and `$r.FailedValidations`.
fn report(ctx: &mut Ctx, rec: OnboardingRequest) -> Result<Output, CliError> {
    let out = Output::one(record(&rec)?);
    if rec.failed_validations.is_empty() {
        if let Some(e) = rec.enablement_result.as_deref() {
            ctx.verbose(&format!(
                "the {} scenario is onboarded (EnablementResult {e})",
                rec.scenario
            ));
        }
        return Ok(out);
    }
    if matches!(ctx.form, None | Some(Form::Table) | Some(Form::List)) {
        let items = rec
            .validations()
            .into_iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
        let text = crate::cli::output::render(&items, REPORT, ctx.form, None, None)?;
        ctx.write_report(&text)?;
    }
    let names: Vec<String> = rec
        .failed_validations
        .iter()
        .map(|v| format!("{} ({})", v.name, v.target))
        .collect();
    ctx.info(&format!(
        "error: onboarding request {} for {}: {} check(s) failed: {}",
        rec.id,
        rec.scenario,
        names.len(),
        names.join("; ")
    ));
    ctx.info("help: fix what each failed check's Message says, then send the same request again");
    ctx.status = 1;
    Ok(out)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (org, _) = identity(ctx)?;
    let store = ctx.store()?;
    let all = onboarding::list(
        store,
        &org,
        args.str("OrganizationId").unwrap_or_default(),
        args.str("RequestId"),
    )?;
    Ok(Output::many(
        all.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
