//! Connect-PnPOnline, Disconnect-PnPOnline: the site the PnP cmdlets act on.

use custkey::service::connection;

use super::pnp_site::site_urls;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Connect-PnPOnline",
        module: "PnP.PowerShell",
        synopsis: "Connects to a site; the PnP cmdlets then act on it when given no -Site.",
        description: "Remembers the site: Add-PnPFile, Get-PnPFile and Get-PnPFolderItem given a site-relative \
location and no -Site act on it. The site must exist (New-PnPSite). Sign-in is not modelled: -Interactive is \
accepted so the guides' commands run as they are, and changes nothing.",
        params: &[
            Param::new("Url", Kind::String, "The site URL.").position(0).required().complete(site_urls),
            Param::new("Interactive", Kind::Switch, "Accepted for the guides' commands; custkey has no sign-in."),
        ],
        examples: &[Example {
            title: "Connect, then upload with a site-relative folder",
            code: "custkey Connect-PnPOnline -Url https://contoso.sharepoint.com/sites/Marketing -Interactive",
            output: "",
            remarks: "Then: custkey Add-PnPFile -Path ./report.docx -Folder \"Shared Documents\"",
        }],
        impact: Impact::None,
        table: &[],
        run: connect,
    },
    Cmdlet {
        name: "Disconnect-PnPOnline",
        module: "PnP.PowerShell",
        synopsis: "Forgets the site Connect-PnPOnline connected to.",
        description: "After it, the PnP cmdlets need -Site or a full or server-relative URL again.",
        params: &[],
        examples: &[Example {
            title: "Disconnect",
            code: "custkey Disconnect-PnPOnline",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: disconnect,
    },
];

fn connect(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let url = args.str("Url").unwrap_or_default().to_string();
    let site = connection::connect_pnp(ctx.store()?, &url)?;
    ctx.verbose(&format!("the PnP cmdlets now act on {site}"));
    Ok(Output::None)
}

fn disconnect(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    connection::disconnect_pnp(ctx.store()?)?;
    Ok(Output::None)
}
