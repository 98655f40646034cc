//! Connect-SPOService, Disconnect-SPOService: the SharePoint admin center the SPO cmdlets act on.

use custkey::service::connection;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Connect-SPOService",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Connects to a SharePoint admin center; the SPO cmdlets then act on its geo.",
        description: "Remembers the admin center: https://<tenant>-admin.sharepoint.com is the organization's \
default geo, https://<tenant><geo>-admin.sharepoint.com a satellite geo (e.g. contosoeur-admin for EUR). \
Register-, Get-, Update- and Restore-SPODataEncryptionPolicy act on that geo when they are given no -Geo. Sign-in \
is not modelled: the connection is a remembered URL. Any other URL is refused.",
        params: &[Param::new("Url", Kind::String, "The admin center URL.").position(0).required()],
        examples: &[Example {
            title: "Connect to the admin center of the EUR geo",
            code: "custkey Connect-SPOService -Url https://contosoeur-admin.sharepoint.com",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: connect,
    },
    Cmdlet {
        name: "Disconnect-SPOService",
        module: "Microsoft.Online.SharePoint.PowerShell",
        synopsis: "Forgets the SharePoint admin center connection; SPO cmdlets act on the default geo again.",
        description: "Forgets the URL Connect-SPOService remembered.",
        params: &[],
        examples: &[Example {
            title: "Disconnect",
            code: "custkey Disconnect-SPOService",
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
    let geo = connection::connect_spo(ctx.store()?, &url)?;
    ctx.verbose(&format!("the SPO cmdlets now act on geo {geo}"));
    Ok(Output::None)
}

fn disconnect(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    connection::disconnect_spo(ctx.store()?)?;
    Ok(Output::None)
}
