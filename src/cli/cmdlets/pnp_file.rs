//! Add-PnPFile, Get-PnPFile.

use std::path::PathBuf;

use custkey::service::site;

use super::pnp_site::site_urls;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Name", "Length", "TimeLastModified", "ServerRelativeUrl"];

const SITE_HELP: &str = "The site URL; the Connect-PnPOnline site when omitted. Not needed when the location is a full or server-relative URL that begins with the site's.";

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Add-PnPFile",
        module: "PnP.PowerShell",
        synopsis: "Uploads a file into a site's folder, encrypted chunk by chunk, each chunk under its own key.",
        description: "Streams the local file in 1 MiB chunks (memory stays bounded whatever its size); each chunk is \
encrypted under its own chunk key, derived from the site key with a fresh random salt and bound to the site, the file \
version and the chunk number. An existing file of the same name is replaced, with new chunk keys. The file appears \
only once completely stored. The site's keys must be available: with the service's access revoked and the cached TIK \
expired the upload fails.",
        params: &[
            Param::new("Path", Kind::Path, "The local file.").reads_files().required(),
            Param::new("Folder", Kind::String, "The folder: site-relative (\"Shared Documents\") with -Site, or a URL beginning with the site's.").required(),
            Param::new("Site", Kind::String, SITE_HELP).complete(site_urls),
            Param::new("NewFileName", Kind::String, "The name in SharePoint (default: the local file's name)."),
        ],
        examples: &[Example {
            title: "Upload into a document library",
            code: "custkey Add-PnPFile -Path ./report.docx -Folder \"Shared Documents\" -Site https://contoso.sharepoint.com/sites/Marketing",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: add,
    },
    Cmdlet {
        name: "Get-PnPFile",
        module: "PnP.PowerShell",
        synopsis: "Shows a file's properties, or with -AsFile downloads it, decrypted, byte-identical.",
        description: "Without -AsFile: the file's properties (nothing is decrypted). With -AsFile: decrypts the file chunk \
by chunk into -Path (a local folder) under -Filename (default: the file's name), written under a temporary name and \
renamed into place; an existing local file is replaced only with -Force.",
        params: &[
            Param::new("Url", Kind::String, "The file: a full URL, a server-relative URL (/sites/x/Shared Documents/a.docx), or site-relative with -Site.").position(0).required(),
            Param::new("Site", Kind::String, SITE_HELP).complete(site_urls),
            Param::new("AsFile", Kind::Switch, "Download the file."),
            Param::new("Path", Kind::Path, "The local folder to download into (default: the current folder).").writes_files(),
            Param::new("Filename", Kind::String, "The local file name, without a folder (default: the file's name in SharePoint)."),
            Param::new("Force", Kind::Switch, "Replace an existing local file."),
        ],
        examples: &[Example {
            title: "Download a file",
            code: "custkey Get-PnPFile -Url \"/sites/Marketing/Shared Documents/report.docx\" -AsFile -Path ./downloads -Filename report.docx",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn add(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let path = PathBuf::from(args.str("Path").unwrap_or_default());
    let folder = args.str("Folder").unwrap_or_default().to_string();
    let site_url = args.str("Site").map(str::to_string);
    let new_name = args.str("NewFileName").map(str::to_string);
    if !ctx.should_process(&folder, "Add-PnPFile", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = site::upload(
        store,
        keys,
        site_url.as_deref(),
        &folder,
        &path,
        new_name.as_deref(),
    )?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    Ok(Output::one(record(&out.value)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let url = args.str("Url").unwrap_or_default().to_string();
    let site_url = args.str("Site").map(str::to_string);
    if !args.switch("AsFile") {
        let store = ctx.store()?;
        return Ok(Output::one(record(&site::info(
            store,
            site_url.as_deref(),
            &url,
        )?)?));
    }
    if let Some(name) = args.str("Filename").filter(|n| !plain_file_name(n)) {
        return Err(
            CliError::usage(format!("-Filename '{name}' is not a plain file name"))
                .with_help("give the folder with -Path and only the file's name with -Filename"),
        );
    }
    let info = site::info(ctx.store()?, site_url.as_deref(), &url)?;
    let dir = PathBuf::from(args.str("Path").unwrap_or("."));
    let name = args.str("Filename").unwrap_or(&info.name);
    if !plain_file_name(name) {
        return Err(CliError::failed(format!(
            "the store names the file '{name}', which is not a plain file name"
        ))
        .with_help(
            "the store was changed outside custkey; give -Filename to choose the local name",
        ));
    }
    let dest = dir.join(name);
    if dest.exists() && !args.switch("Force") {
        return Err(
            CliError::failed(format!("{} already exists", dest.display()))
                .with_help("add -Force to replace it, or give another -Path or -Filename"),
        );
    }
    let (store, keys) = ctx.service()?;
    let out = site::download(store, keys, site_url.as_deref(), &url, &dest)?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    Ok(Output::None)
}

/// A name of one file, without a folder (`report.docx`, not `../report.docx` or `/tmp/x`): the
/// file lands in -Path's folder and nowhere else (on a service, only that folder comes back).
fn plain_file_name(name: &str) -> bool {
    let mut parts = std::path::Path::new(name).components();
    matches!(parts.next(), Some(std::path::Component::Normal(_)))
        && parts.next().is_none()
        && !name.contains(['\\', '/'])
}
