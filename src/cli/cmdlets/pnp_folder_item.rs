//! Get-PnPFolderItem.

use custkey::service::site;

use super::pnp_site::site_urls;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Get-PnPFolderItem",
    module: "PnP.PowerShell",
    synopsis: "Lists the files of a site, under a folder or all of them.",
    description: "Lists the files stored in the site (with -FolderSiteRelativeUrl: those under that folder, at any \
depth) with their size and chunk count. Reads metadata only; nothing is decrypted.",
    params: &[
        Param::new("Site", Kind::String, "The site URL; the Connect-PnPOnline site when omitted.").complete(site_urls),
        Param::new("FolderSiteRelativeUrl", Kind::String, "A folder, site-relative (\"Shared Documents\"); all files when omitted.").position(0),
    ],
    examples: &[Example {
        title: "The files of a document library",
        code: "custkey Get-PnPFolderItem -Site https://contoso.sharepoint.com/sites/Marketing -FolderSiteRelativeUrl \"Shared Documents\"",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["Name", "Length", "Chunks", "ServerRelativeUrl"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let site_url = args.str("Site").map(str::to_string);
    let folder = args
        .str("FolderSiteRelativeUrl")
        .unwrap_or_default()
        .to_string();
    let store = ctx.store()?;
    let files = site::list(store, site_url.as_deref(), &folder)?;
    Ok(Output::many(
        files.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
