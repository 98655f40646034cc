//! Register-AzResourceProvider, Get-AzResourceProvider: resource providers of the current
//! subscription (the 2021 setup guide registers Microsoft.KeyVault before making vaults).

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["ProviderNamespace", "RegistrationState", "SubscriptionId"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Register-AzResourceProvider",
        module: "Az.Resources",
        synopsis: "Registers a resource provider (Microsoft.KeyVault) on the current subscription.",
        description: "Records the provider as Registered on the subscription Set-AzContext selected; it takes \
effect at once. Older Customer Key guides run it with -ProviderNamespace Microsoft.KeyVault on each subscription before \
creating the vaults; custkey's vaults do not need it, and registering it again changes nothing.",
        params: &[Param::new("ProviderNamespace", Kind::String, "The provider, e.g. Microsoft.KeyVault.").position(0).required()],
        examples: &[Example {
            title: "As the 2021 setup guide does",
            code: "custkey Register-AzResourceProvider -ProviderNamespace Microsoft.KeyVault",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: register,
    },
    Cmdlet {
        name: "Get-AzResourceProvider",
        module: "Az.Resources",
        synopsis: "Shows whether a resource provider is registered on the current subscription.",
        description: "RegistrationState is Registered after Register-AzResourceProvider on this subscription, \
NotRegistered before.",
        params: &[Param::new("ProviderNamespace", Kind::String, "The provider, e.g. Microsoft.KeyVault.").position(0).required()],
        examples: &[Example {
            title: "Is Key Vault registered here?",
            code: "custkey Get-AzResourceProvider -ProviderNamespace Microsoft.KeyVault",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn register(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let ns = args.str("ProviderNamespace").unwrap_or_default();
    if !ctx.should_process(ns, "Register-AzResourceProvider", false)? {
        return Ok(Output::None);
    }
    let p = ctx.azure()?.register_provider(ns)?;
    Ok(Output::one(record(&p)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let ns = args.str("ProviderNamespace").unwrap_or_default();
    let p = ctx.azure()?.provider(ns)?;
    Ok(Output::one(record(&p)?))
}
