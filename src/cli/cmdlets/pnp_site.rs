//! New-PnPSite, Get-PnPTenantSite.

use custkey::service::spo;

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

/// Site URLs from the store, for completion.
pub fn site_urls(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| spo::site_urls(&mut s))
        .unwrap_or_default()
}

const TABLE: &[&str] = &["Url", "Title", "Geo", "Encryption"];
const SITE_TYPES: &[&str] = &["CommunicationSite", "TeamSite"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-PnPSite",
        module: "PnP.PowerShell",
        synopsis: "Creates a SharePoint site with its own site key, in a geo.",
        description: "Creates a site in -PreferredDataLocation (default: the organization's DefaultGeo). Its site key \
(AES-256) is wrapped under the geo's tenant intermediate key when the geo has a registered data encryption policy \
(Encryption: CustomerKey), else under the geo's Microsoft-managed key (Encryption: MicrosoftManaged) until one is \
registered. -Url gives the address; without it the site is https://<tenant>.sharepoint.com/sites/<Alias>.",
        params: &[
            Param::new("Type", Kind::Enum(SITE_TYPES), "The kind of site (recorded only).").default("TeamSite"),
            Param::new("Title", Kind::String, "The site's title.").required(),
            Param::new("Url", Kind::String, "The site URL, https://<tenant>.sharepoint.com/sites/<name>."),
            Param::new("Alias", Kind::String, "The name in the default URL (default: the title without spaces)."),
            Param::new("PreferredDataLocation", Kind::String, "The geo (NAM, EUR, ...); default: the DefaultGeo.").aliases(&["Geo"]),
        ],
        examples: &[Example {
            title: "A team site",
            code: "custkey New-PnPSite -Type TeamSite -Title Marketing -Alias marketing",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-PnPTenantSite",
        module: "PnP.PowerShell",
        synopsis: "Lists the sites with their geo and whether a customer key protects them.",
        description: "Shows every site, or one by -Identity (its URL): Url, Title, Geo and Encryption (CustomerKey when \
its site key is wrapped under the geo's registered policy, else MicrosoftManaged).",
        params: &[Param::new("Identity", Kind::String, "A site URL; all sites when omitted.")
            .position(0)
            .complete(site_urls)],
        examples: &[Example {
            title: "All sites",
            code: "custkey Get-PnPTenantSite",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let title = args.str("Title").unwrap_or_default().to_string();
    let url = match args.str("Url") {
        Some(u) => u.to_string(),
        None => {
            let alias = args.str("Alias").unwrap_or(&title).to_string();
            spo::default_site_url(ctx.store()?, &alias)?
        }
    };
    if !ctx.should_process(&url, "New-PnPSite", false)? {
        return Ok(Output::None);
    }
    let geo = args.str("PreferredDataLocation").map(str::to_string);
    let (store, keys) = ctx.service()?;
    let out = spo::new_site(store, keys, &url, &title, geo.as_deref())?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    Ok(Output::one(record(&out.value)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let store = ctx.store()?;
    let all = spo::sites(store)?;
    let items = match args.str("Identity") {
        Some(id) => {
            let url = spo::normalize_url(id)?;
            let one: Vec<_> = all
                .into_iter()
                .filter(|s| s.url.eq_ignore_ascii_case(&url))
                .collect();
            if one.is_empty() {
                return Err(CliError::failed(format!("the site '{url}' doesn't exist"))
                    .with_help("list the sites with Get-PnPTenantSite"));
            }
            one
        }
        None => all,
    };
    Ok(Output::many(
        items.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
