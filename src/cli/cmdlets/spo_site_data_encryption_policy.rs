//! Get-SPOSiteDataEncryptionPolicy.

use custkey::service::spo;

use super::pnp_site::site_urls;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-SPOSiteDataEncryptionPolicy",
    module: "Microsoft.Online.SharePoint.PowerShell",
    synopsis: "Shows the data encryption policy that protects a site: key URIs and the site's State.",
    description: "Shows the primary and secondary key URIs of the site's geo policy and the site's State: Registered \
(its site key is wrapped under the policy's tenant intermediate key), Registering (not yet), or Rolling. An error when the \
site's geo has no registered Customer Key (the site is under Microsoft-managed keys).",
    params: &[Param::new("Identity", Kind::String, "The site URL.")
        .position(0)
        .required()
        .complete(site_urls)],
    examples: &[Example {
        title: "One site",
        code: "custkey Get-SPOSiteDataEncryptionPolicy -Identity https://contoso.sharepoint.com/sites/Marketing",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let url = args.str("Identity").unwrap_or_default().to_string();
    let store = ctx.store()?;
    Ok(Output::one(record(&spo::site_policy(store, &url)?)?))
}
