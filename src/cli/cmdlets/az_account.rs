//! Connect-AzAccount, Get-AzContext, Set-AzContext, Register-AzProviderFeature,
//! Get-AzProviderFeature: the Azure session and subscriptions.

use custkey::service::azure;
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output, Record};
use crate::cli::Ctx;

const CONTEXT_TABLE: &[&str] = &[
    "Name",
    "Account",
    "SubscriptionName",
    "Environment",
    "TenantId",
];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Connect-AzAccount",
        module: "Az.Accounts",
        synopsis: "Signs in to Azure as a user; later Az cmdlets act as that account.",
        description: "Sets the account the Az cmdlets act as. Key vault access policies are checked against it: \
the account that creates a vault gets every key permission on it. Before any sign-in the account is \
admin@<organization name>.",
        params: &[Param::new("AccountId", Kind::String, "The user principal name to act as.")
            .position(0)
            .required()],
        examples: &[Example {
            title: "Act as a key vault administrator",
            code: "custkey Connect-AzAccount -AccountId kvadmin@contoso.com",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["Account", "SubscriptionName", "TenantId", "Environment"],
        run: connect,
    },
    Cmdlet {
        name: "Get-AzContext",
        module: "Az.Accounts",
        synopsis: "Shows the signed-in account and the current subscription.",
        description: "Shows the Azure context: account, subscription and tenant. A default subscription exists \
from the first use.",
        params: &[],
        examples: &[Example {
            title: "Where am I?",
            code: "custkey Get-AzContext",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: CONTEXT_TABLE,
        run: get_context,
    },
    Cmdlet {
        name: "Set-AzContext",
        module: "Az.Accounts",
        synopsis: "Selects the subscription later Az cmdlets work in (creating it on first use).",
        description: "Makes a subscription current; new key vaults are created in it. A subscription is named \
by GUID or by name; an unknown one is created (custkey emulates the subscriptions of the tenant). Customer Key \
wants the two vaults of a DEP in two different subscriptions.",
        params: &[Param::new("Subscription", Kind::String, "The subscription's GUID or name.")
            .position(0)
            .required()
            .aliases(&["SubscriptionId", "SubscriptionName"])],
        examples: &[Example {
            title: "Work in the first Customer Key subscription",
            code: "custkey Set-AzContext -SubscriptionId 2e1a9f2c-77b0-4c1e-9d55-0c6c2b7a1f01",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: CONTEXT_TABLE,
        run: set_context,
    },
    Cmdlet {
        name: "Register-AzProviderFeature",
        module: "Az.Resources",
        synopsis: "Registers a preview feature on the current subscription (mandatoryRetentionPeriodEnabled for Customer Key).",
        description: "Registers a feature. Customer Key needs -FeatureName mandatoryRetentionPeriodEnabled \
-ProviderNamespace Microsoft.Resources on both subscriptions: it makes the subscription impossible to cancel at once, \
so keys in its vaults show RecoveryLevel Recoverable+ProtectedSubscription.",
        params: &[
            Param::new("FeatureName", Kind::String, "The feature, e.g. mandatoryRetentionPeriodEnabled.").required(),
            Param::new("ProviderNamespace", Kind::String, "The provider, e.g. Microsoft.Resources.").required(),
        ],
        examples: &[Example {
            title: "The mandatory retention period",
            code: "custkey Register-AzProviderFeature -FeatureName mandatoryRetentionPeriodEnabled -ProviderNamespace Microsoft.Resources",
            output: "
FeatureName                     ProviderName        RegistrationState
------------------------------- ------------------- -----------------
mandatoryRetentionPeriodEnabled Microsoft.Resources Registered
",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &["FeatureName", "ProviderName", "RegistrationState"],
        run: register_feature,
    },
    Cmdlet {
        name: "Get-AzProviderFeature",
        module: "Az.Resources",
        synopsis: "Shows whether a feature is registered on the current subscription.",
        description: "Shows a feature's RegistrationState (Registered or NotRegistered) on the current subscription.",
        params: &[
            Param::new("FeatureName", Kind::String, "The feature.").required(),
            Param::new("ProviderNamespace", Kind::String, "The provider.").required(),
        ],
        examples: &[Example {
            title: "Check the mandatory retention period",
            code: "custkey Get-AzProviderFeature -ProviderNamespace Microsoft.Resources -FeatureName mandatoryRetentionPeriodEnabled",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["FeatureName", "ProviderName", "RegistrationState"],
        run: get_feature,
    },
];

fn context_record(ctx: &mut Ctx) -> Result<Record, CliError> {
    let account = azure::account(ctx.store()?)?;
    let info = ctx.azure()?.context()?;
    let mut r = record(&info)?;
    r.insert("Account".into(), json!(account));
    Ok(r)
}

fn connect(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let upn = args.str("AccountId").unwrap_or_default().to_string();
    if !ctx.should_process(&upn, "Connect-AzAccount", false)? {
        return Ok(Output::None);
    }
    azure::connect(ctx.store()?, &upn)?;
    Ok(Output::one(context_record(ctx)?))
}

fn get_context(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    Ok(Output::one(context_record(ctx)?))
}

fn set_context(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let sub = args.str("Subscription").unwrap_or_default().to_string();
    if !ctx.should_process(&sub, "Set-AzContext", false)? {
        return Ok(Output::None);
    }
    ctx.azure()?.set_context(&sub)?;
    Ok(Output::one(context_record(ctx)?))
}

fn register_feature(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (f, p) = (
        args.str("FeatureName").unwrap_or_default(),
        args.str("ProviderNamespace").unwrap_or_default(),
    );
    if !ctx.should_process(&format!("{p}/{f}"), "Register-AzProviderFeature", false)? {
        return Ok(Output::None);
    }
    let feature = ctx.azure()?.register_feature(f, p)?;
    Ok(Output::one(record(&feature)?))
}

fn get_feature(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (f, p) = (
        args.str("FeatureName").unwrap_or_default(),
        args.str("ProviderNamespace").unwrap_or_default(),
    );
    let feature = ctx.azure()?.feature(f, p)?;
    Ok(Output::one(record(&feature)?))
}
