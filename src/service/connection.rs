//! The SharePoint sessions the guides open first: `Connect-SPOService -Url <admin center>`
//! (which geo the SPO cmdlets act on) and `Connect-PnPOnline -Url <site>` (which site the PnP
//! cmdlets act on). Sign-in itself is not modelled: a connection is a remembered URL, kept in the
//! store like the signed-in Azure account.

use super::{Error, Result};
use crate::store::Store;

const SPO_GEO_SETTING: &str = "spo.connection.geo";
const SPO_URL_SETTING: &str = "spo.connection.url";
const PNP_SITE_SETTING: &str = "pnp.connection.site";

fn tenant(store: &mut Store) -> Result<String> {
    let org = super::org::get(store)?;
    Ok(org
        .name
        .split('.')
        .next()
        .unwrap_or("contoso")
        .to_ascii_lowercase())
}

/// The geo an admin center URL names: `https://<tenant>-admin.sharepoint.com` is the
/// organization's default geo (`None`), `https://<tenant><geo>-admin.sharepoint.com` a satellite
/// geo (e.g. `contosoeur-admin` for EUR).
fn admin_geo(tenant: &str, url: &str) -> Option<Option<String>> {
    let host = url
        .trim()
        .trim_end_matches('/')
        .strip_prefix("https://")?
        .to_ascii_lowercase();
    let name = host.strip_suffix("-admin.sharepoint.com")?;
    let rest = name.strip_prefix(tenant)?;
    if rest.is_empty() {
        return Some(None);
    }
    let geo = rest.to_ascii_uppercase();
    super::org::GEOS
        .contains(&geo.as_str())
        .then_some(Some(geo))
}

/// The geo an admin center URL names (the `-Identity` of the SPO policy cmdlets), without
/// connecting to it: the default geo for `https://<tenant>-admin.sharepoint.com`.
pub fn geo_of_admin_url(store: &mut Store, url: &str) -> Result<String> {
    let t = tenant(store)?;
    match admin_geo(&t, url) {
        Some(Some(g)) => Ok(g),
        Some(None) => Ok(super::org::get(store)?.default_geo),
        None => Err(Error::invalid(format!(
            "'{url}' is not the SharePoint admin center of this organization"
        ))
        .with_help(format!(
            "give https://{t}-admin.sharepoint.com, or https://{t}<geo>-admin.sharepoint.com for a satellite geo (e.g. https://{t}eur-admin.sharepoint.com)"
        ))),
    }
}

/// `Connect-SPOService -Url`: remembers the admin center, and so the geo the SPO cmdlets act on
/// when they are given no `-Geo`. Returns the geo (the default geo when the URL names none).
pub fn connect_spo(store: &mut Store, url: &str) -> Result<String> {
    let t = tenant(store)?;
    let Some(geo) = admin_geo(&t, url) else {
        return Err(Error::invalid(format!(
            "'{url}' is not the SharePoint admin center of this organization"
        ))
        .with_help(format!(
            "give https://{t}-admin.sharepoint.com, or https://{t}<geo>-admin.sharepoint.com for a satellite geo (e.g. https://{t}eur-admin.sharepoint.com)"
        )));
    };
    let default_geo = super::org::get(store)?.default_geo;
    store.write(|tx| -> Result<()> {
        tx.set_setting(SPO_URL_SETTING, url.trim().trim_end_matches('/'))?;
        match &geo {
            Some(g) => tx.set_setting(SPO_GEO_SETTING, g)?,
            None => tx.delete_setting(SPO_GEO_SETTING)?,
        }
        Ok(())
    })?;
    Ok(geo.unwrap_or(default_geo))
}

/// The geo of the connected admin center, if `Connect-SPOService` named a satellite geo.
pub fn spo_geo(store: &mut Store) -> Result<Option<String>> {
    store.read(|tx| -> Result<_> { Ok(tx.setting(SPO_GEO_SETTING)?) })
}

/// `Disconnect-SPOService`.
pub fn disconnect_spo(store: &mut Store) -> Result<()> {
    store.write(|tx| -> Result<()> {
        tx.delete_setting(SPO_GEO_SETTING)?;
        tx.delete_setting(SPO_URL_SETTING)?;
        Ok(())
    })
}

/// `Connect-PnPOnline -Url`: remembers the site the PnP cmdlets act on when they are given no
/// `-Site` and a site-relative location. The site must exist.
pub fn connect_pnp(store: &mut Store, url: &str) -> Result<String> {
    let url = super::spo::normalize_url(url)?;
    let site = store.read(|tx| -> Result<_> { Ok(tx.site_by_url(&url)?) })?;
    let Some(site) = site else {
        return Err(Error::not_found(format!("the site '{url}' doesn't exist"))
            .with_help("create it with New-PnPSite; site URLs complete with Tab"));
    };
    store.write(|tx| -> Result<()> { Ok(tx.set_setting(PNP_SITE_SETTING, &site.url)?) })?;
    Ok(site.url)
}

/// `Disconnect-PnPOnline`.
pub fn disconnect_pnp(store: &mut Store) -> Result<()> {
    store.write(|tx| -> Result<()> { Ok(tx.delete_setting(PNP_SITE_SETTING)?) })
}

/// The site `Connect-PnPOnline` connected to, if any.
pub fn pnp_site(tx: &crate::store::Tx) -> Result<Option<String>> {
    Ok(tx.setting(PNP_SITE_SETTING)?)
}

#[cfg(test)]
mod tests {
    use super::admin_geo;

    #[test]
    fn admin_center_urls_name_a_geo() {
        assert_eq!(
            admin_geo("contoso", "https://contoso-admin.sharepoint.com"),
            Some(None)
        );
        assert_eq!(
            admin_geo("contoso", "https://ContosoEUR-admin.sharepoint.com/"),
            Some(Some("EUR".into()))
        );
        assert_eq!(
            admin_geo("contoso", "https://contosoxyz-admin.sharepoint.com"),
            None
        );
        assert_eq!(
            admin_geo("contoso", "https://fabrikam-admin.sharepoint.com"),
            None
        );
        assert_eq!(admin_geo("contoso", "https://contoso.sharepoint.com"), None);
        assert_eq!(
            admin_geo("contoso", "http://contoso-admin.sharepoint.com"),
            None
        );
    }
}
