//! The organization (tenant): name, subscription type, data-purge approvers, default geo.
//!
//! A store holds one organization. It comes to exist implicitly the first time any
//! cmdlet needs it, as a paid tenant named `contoso.onmicrosoft.com` in geo NAM;
//! `Set-OrganizationConfig` changes it.

use serde::Serialize;

use super::{now, Error, Result};
use crate::store::{OrganizationRow, Store, Tx};

pub const DEFAULT_NAME: &str = "contoso.onmicrosoft.com";
pub const DEFAULT_GEO: &str = "NAM";

/// Microsoft 365 multi-geo location codes.
pub const GEOS: &[&str] = &[
    "APC", "ARE", "AUS", "BRA", "CAN", "CHE", "DEU", "ESP", "EUR", "FRA", "GBR", "IND", "ISR",
    "ITA", "JPN", "KOR", "MEX", "NAM", "NOR", "NZL", "POL", "QAT", "SWE", "ZAF",
];

pub const SUBSCRIPTION_TYPES: &[&str] = &["Paid", "Trial"];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Organization {
    pub identity: String,
    pub name: String,
    pub guid: String,
    pub subscription_type: String,
    pub data_purge_approvers: Vec<String>,
    pub default_geo: String,
    pub when_created: String,
    pub when_changed: String,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Organization {
            identity: r.name.clone(),
            name: r.name,
            guid: r.guid,
            subscription_type: r.subscription_type,
            data_purge_approvers: r.data_purge_approvers,
            default_geo: r.default_geo,
            when_created: r.when_created,
            when_changed: r.when_changed,
        }
    }
}

/// The organization in this transaction, created with the defaults if there is none yet.
pub fn current(tx: &Tx) -> Result<Organization> {
    if let Some(row) = tx.organization()? {
        return Ok(row.into());
    }
    let t = now();
    tx.insert_organization(&OrganizationRow {
        guid: uuid::Uuid::new_v4().to_string(),
        name: DEFAULT_NAME.into(),
        subscription_type: "Paid".into(),
        data_purge_approvers: Vec::new(),
        default_geo: DEFAULT_GEO.into(),
        when_created: t.clone(),
        when_changed: t,
    })?;
    tx.organization()?.map(Into::into).ok_or_else(|| {
        Error::new(
            super::ErrorKind::Unavailable,
            "the organization row vanished",
        )
    })
}

/// The organization's GUID, or an empty string before it exists.
pub fn organization_id(tx: &Tx) -> Result<String> {
    Ok(tx.organization()?.map(|o| o.guid).unwrap_or_default())
}

/// Reads the organization (creating the default one on first use).
pub fn get(store: &mut Store) -> Result<Organization> {
    let found = store.read(|tx| -> Result<_> { Ok(tx.organization()?) })?;
    match found {
        Some(row) => Ok(row.into()),
        None => store.write(current),
    }
}

/// Changes to apply with `Set-OrganizationConfig`; `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub subscription_type: Option<String>,
    /// `Some(vec![])` clears the list.
    pub data_purge_approvers: Option<Vec<String>>,
    pub default_geo: Option<String>,
}

impl OrgChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.subscription_type.is_none()
            && self.data_purge_approvers.is_none()
            && self.default_geo.is_none()
    }

    /// Checks every value; nothing is written.
    pub fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            let ok = !name.is_empty()
                && name.len() <= 256
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !ok {
                return Err(
                    Error::invalid(format!("'{name}' is not a valid organization name"))
                        .with_help("use a domain-like name such as contoso.onmicrosoft.com"),
                );
            }
        }
        if let Some(st) = &self.subscription_type {
            if !SUBSCRIPTION_TYPES.contains(&st.as_str()) {
                return Err(Error::invalid(format!("unknown subscription type '{st}'"))
                    .with_help("use Paid or Trial"));
            }
        }
        if let Some(geo) = &self.default_geo {
            if !GEOS.contains(&geo.as_str()) {
                return Err(Error::invalid(format!("unknown geo '{geo}'"))
                    .with_help(format!("use one of {}", GEOS.join(", "))));
            }
        }
        if let Some(list) = &self.data_purge_approvers {
            for upn in list {
                require_upn(upn, "list approvers as user@domain, separated by commas")?;
            }
        }
        Ok(())
    }
}

/// A user principal name: `local@domain.tld`, no spaces, no control or invisible characters.
/// `upn` if it is a user principal name, else an InvalidArgument error that quotes it (control
/// characters escaped) with `help`.
pub fn require_upn(upn: &str, help: &str) -> Result<()> {
    if is_upn(upn) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "'{}' is not a user principal name",
        crate::vault::ids::printable(upn)
    ))
    .with_help(help))
}

pub fn is_upn(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        && !domain.contains('@')
}

/// Characters that print as nothing (format characters such as zero-width spaces and joiners,
/// bidirectional controls, the soft hyphen, variation selectors, fillers): two names that differ
/// only by them look the same to a person.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// A principal name as two of them are compared: NFKC-normalised (so full-width or other
/// compatibility forms of the same letters are the same name) and lowercased. Names with
/// control or invisible characters are refused where they are given ([`is_upn`]).
pub fn principal_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.trim()
        .nfkc()
        .filter(|c| !is_invisible(*c) && !c.is_control())
        .collect::<String>()
        .to_lowercase()
}

/// Whether two principal names name the same person.
pub fn same_principal(a: &str, b: &str) -> bool {
    principal_key(a) == principal_key(b)
}

/// Applies `changes` in one transaction and returns the organization as it now is.
pub fn set(store: &mut Store, changes: &OrgChanges) -> Result<Organization> {
    changes.validate()?;
    store.write(|tx| {
        let org = current(tx)?;
        let mut approvers = changes
            .data_purge_approvers
            .clone()
            .unwrap_or(org.data_purge_approvers);
        approvers.dedup_by(|a, b| same_principal(a, b));
        let row = OrganizationRow {
            guid: org.guid,
            name: changes.name.clone().unwrap_or(org.name),
            subscription_type: changes
                .subscription_type
                .clone()
                .unwrap_or(org.subscription_type),
            data_purge_approvers: approvers,
            default_geo: changes.default_geo.clone().unwrap_or(org.default_geo),
            when_created: org.when_created,
            when_changed: now(),
        };
        tx.update_organization(&row)?;
        // Who changed the approvers (or anything else) is on record: the acting principal.
        super::keys::audit(
            tx,
            &row.guid,
            "ExchangeAdmin",
            "Set-OrganizationConfig",
            "",
            &row.guid,
            serde_json::json!({
                "Name": changes.name,
                "SubscriptionType": changes.subscription_type,
                "DataPurgeApprovers": changes.data_purge_approvers,
                "DefaultGeo": changes.default_geo,
            }),
        )?;
        Ok(Organization::from(row))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upns() {
        assert!(is_upn("admin@contoso.com"));
        assert!(!is_upn("admin"));
        assert!(!is_upn("admin@contoso"));
        assert!(!is_upn("a b@contoso.com"));
        assert!(!is_upn("ci\u{200b}so@contoso.com"));
        assert!(!is_upn("ciso@contoso.com\u{2060}"));
        assert!(!is_upn("ci\u{7}so@contoso.com"));
        assert!(same_principal("CISO@contoso.com", "ciso@contoso.com"));
        assert!(same_principal(
            "\u{ff43}iso@contoso.com",
            "ciso@contoso.com"
        ));
        assert!(same_principal(
            "ci\u{200b}so@contoso.com",
            "ciso@contoso.com"
        ));
        assert!(!same_principal("ciso@contoso.com", "cis0@contoso.com"));
    }

    #[test]
    fn the_default_organization_appears_once_and_changes_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let first = get(&mut store).unwrap();
        assert_eq!(first.name, DEFAULT_NAME);
        assert_eq!(first.subscription_type, "Paid");
        assert_eq!(get(&mut store).unwrap().guid, first.guid);
        let changed = set(
            &mut store,
            &OrgChanges {
                subscription_type: Some("Trial".into()),
                data_purge_approvers: Some(vec!["a@contoso.com".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(changed.subscription_type, "Trial");
        drop(store);
        let mut again = Store::open(&path).unwrap();
        let org = get(&mut again).unwrap();
        assert_eq!(org.guid, first.guid);
        assert_eq!(org.data_purge_approvers, vec!["a@contoso.com"]);
    }

    #[test]
    fn invalid_changes_are_refused_before_writing() {
        let bad = OrgChanges {
            data_purge_approvers: Some(vec!["nobody".into()]),
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().kind(),
            super::super::ErrorKind::InvalidArgument
        );
    }
}
