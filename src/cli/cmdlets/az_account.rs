//! Connect-AzAccount, Get-AzContext, Get-AzSubscription, Set-AzContext, Register-AzProviderFeature,
//! Get-AzProviderFeature: the Azure session and subscriptions.

use custkey::service::azure;
use custkey::service::principal::Credential;
use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{self, record, Output, Record};
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
        synopsis: "Signs in as a registered account, proven by its OpenSSH key; later cmdlets act as that account.",
        description: "Proves that the caller holds the key the account is registered with (New-AzADUser): the key \
signs a fresh challenge, from a private key file (-KeyFile) or from ssh-agent (-UseSshAgent, or by default when \
SSH_AUTH_SOCK holds the key). Later cmdlets act as the account and prove it again, each time, with the same key; \
key vault access policies, roles and the audit log name it. Before any sign-in the account is admin@<organization \
name>. On a new store the first account to act becomes its owner: with -KeyFile, registered with that key; \
without, with a new Ed25519 key written to the configuration directory (identities/<account>). Signing in as an \
account that is not registered, or without its key, is refused.",
        params: &[
            Param::new("AccountId", Kind::String, "The user principal name to act as.")
                .position(0)
                .required(),
            Param::new(
                "KeyFile",
                Kind::Path,
                "The account's OpenSSH private key file (unencrypted, mode 0600; an encrypted key goes through ssh-agent).",
            ),
            Param::new(
                "UseSshAgent",
                Kind::Switch,
                "Sign with the key held by ssh-agent (SSH_AUTH_SOCK).",
            ),
        ],
        examples: &[
            Example {
                title: "Act as a key vault administrator, with the key ssh-keygen made",
                code: "custkey Connect-AzAccount -AccountId kvadmin@contoso.com -KeyFile ~/.ssh/id_ed25519",
                output: "",
                remarks: "",
            },
            Example {
                title: "Sign in with the key in ssh-agent",
                code: "custkey Connect-AzAccount -AccountId kvadmin@contoso.com -UseSshAgent",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::Medium,
        table: &["Account", "SubscriptionName", "TenantId", "Environment"],
        run: connect,
    },
    Cmdlet {
        name: "Get-AzContext",
        module: "Az.Accounts",
        synopsis: "Shows the signed-in account and the current subscription.",
        description: "Shows the Azure context: account, subscription and tenant. A default subscription exists \
from the first use. As in Az, Account, Subscription, Tenant and Environment are objects \
((Get-AzContext).Subscription.Id, .Subscription.Name, .Subscription.TenantId, .Tenant.Id, .Account.Id, \
.Environment.Name) that read as their Id (Environment: its Name) in tables, strings and string parameters; the \
flat SubscriptionId, SubscriptionName and TenantId say the same.",
        params: &[],
        examples: &[
            Example {
                title: "Where am I?",
                code: "custkey Get-AzContext",
                output: "",
                remarks: "",
            },
            Example {
                title: "The current subscription's id, as scripts read it",
                code: "custkey -Command '(Get-AzContext).Subscription.Id'",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::None,
        table: CONTEXT_TABLE,
        run: get_context,
    },
    Cmdlet {
        name: "Get-AzSubscription",
        module: "Az.Accounts",
        synopsis: "Lists the subscriptions the signed-in account can use, or the one named by id or name.",
        description: "Gets the subscriptions of the tenant (those Set-AzContext made): Name, Id, TenantId and \
State, and Protected (True once mandatoryRetentionPeriodEnabled is registered on it, which Customer Key \
needs). -SubscriptionId or -SubscriptionName picks one (an unknown one is an error); -TenantId keeps those of \
that tenant (custkey has one tenant: (Get-AzContext).Tenant).",
        params: &[
            Param::new("SubscriptionId", Kind::String, "The subscription's id (GUID)."),
            Param::new("SubscriptionName", Kind::String, "The subscription's name."),
            Param::new("TenantId", Kind::String, "Only subscriptions of this tenant."),
        ],
        examples: &[
            Example {
                title: "All subscriptions",
                code: "custkey Get-AzSubscription",
                output: "",
                remarks: "",
            },
            Example {
                title: "One subscription by name, and whether it is protected",
                code: "custkey Get-AzSubscription -SubscriptionName Contoso-CK-Sub1 -Property Name,Id,Protected",
                output: "",
                remarks: "",
            },
            Example {
                title: "The subscriptions of the current tenant",
                code: "custkey -Command 'Get-AzSubscription -TenantId (Get-AzContext).Tenant'",
                output: "",
                remarks: "",
            },
        ],
        impact: Impact::None,
        table: &["Name", "Id", "TenantId", "State"],
        run: get_subscription,
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

/// The context as Az returns it: `Account`, `Subscription`, `Tenant` and `Environment` are
/// objects (`.Subscription.Id`, `.Tenant.Id`, `.Account.Id`) that read as their Id or Name in
/// tables and strings; the flat `SubscriptionId`, `SubscriptionName` and `TenantId` stay for
/// scripts that use them.
fn context_record(ctx: &mut Ctx) -> Result<Record, CliError> {
    let account = azure::account(ctx.store()?)?;
    let info = ctx.azure()?.context()?;
    let state = ctx
        .azure()?
        .subscriptions()?
        .into_iter()
        .find(|s| s.id == info.subscription_id)
        .map_or_else(|| "Enabled".to_string(), |s| s.state);
    let v = json!({
        "Name": info.name,
        "Account": {
            "Id": account,
            "Type": "User",
            "Tenants": [info.tenant_id],
            "PSTypeName": output::AZ_ACCOUNT,
        },
        "Environment": { "Name": info.environment, "PSTypeName": output::AZ_ENVIRONMENT },
        "Subscription": {
            "Id": info.subscription_id,
            "Name": info.subscription_name,
            "State": state,
            "TenantId": info.tenant_id,
            "PSTypeName": output::AZ_SUBSCRIPTION,
        },
        "Tenant": { "Id": info.tenant_id, "PSTypeName": output::AZ_TENANT },
        "SubscriptionId": info.subscription_id,
        "SubscriptionName": info.subscription_name,
        "TenantId": info.tenant_id,
    });
    record(&v)
}

fn connect(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let upn = args.str("AccountId").unwrap_or_default().to_string();
    if !ctx.should_process(&upn, "Connect-AzAccount", false)? {
        return Ok(Output::None);
    }
    let cred = credential(args)?;
    // Connected to a service: the sign-in is kept on this machine, with the key.
    if let Some(out) = ctx.connect_remote(&upn, &cred)? {
        return Ok(out);
    }
    ctx.connect(&upn, &cred)?;
    Ok(Output::one(context_record(ctx)?))
}

/// How a sign-in proves the account: `-KeyFile`, `-UseSshAgent`, or the default (the agent when
/// it holds the key, else the identity generated for the store's owner).
pub(crate) fn credential(args: &Args) -> Result<Credential, CliError> {
    Ok(match (args.str("KeyFile"), args.switch("UseSshAgent")) {
        (Some(_), true) => {
            return Err(
                CliError::usage("-KeyFile and -UseSshAgent cannot be used together").with_help(
                    "give one way to prove the account: a private key file, or the agent",
                ),
            )
        }
        (Some(p), false) => Credential::KeyFile(std::path::PathBuf::from(p)),
        (None, true) => Credential::Agent,
        (None, false) => Credential::Default,
    })
}

fn get_context(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    Ok(Output::one(context_record(ctx)?))
}

fn get_subscription(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (id, name, tenant) = (
        args.str("SubscriptionId"),
        args.str("SubscriptionName"),
        args.str("TenantId"),
    );
    if id.is_some() && name.is_some() {
        return Err(CliError::usage(
            "-SubscriptionId and -SubscriptionName cannot be used together",
        )
        .with_help("name the subscription one way: by its id or by its name"));
    }
    let mut subs = ctx.azure()?.subscriptions()?;
    if let Some(t) = tenant {
        subs.retain(|s| s.tenant_id.eq_ignore_ascii_case(t));
    }
    let wanted = match (id, name) {
        (Some(i), _) => Some(("id", i)),
        (None, Some(n)) => Some(("name", n)),
        (None, None) => None,
    };
    if let Some((how, w)) = wanted {
        subs.retain(|s| {
            if how == "id" {
                s.id.eq_ignore_ascii_case(w)
            } else {
                s.name.eq_ignore_ascii_case(w)
            }
        });
        if subs.is_empty() {
            return Err(CliError::failed(format!(
                "Unable to find subscription with {how} '{w}'{}.",
                tenant
                    .map(|t| format!(" in tenant '{t}'"))
                    .unwrap_or_default()
            ))
            .with_help(
                "list them with Get-AzSubscription; Set-AzContext -Subscription creates one",
            ));
        }
    }
    let out = subs.iter().map(record).collect::<Result<Vec<_>, _>>()?;
    Ok(Output::many(out))
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
