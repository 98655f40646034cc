//! Recipients: user, shared, group (Microsoft 365 group) and public-folder mailboxes, mail
//! users, and their licences.
//!
//! Licence rule (the overview, spec §4): user mailboxes and mail users need a Customer Key
//! licence of their own; shared, public-folder and group mailboxes need none "when the tenant
//! meets the user-mailbox licensing requirement". custkey reads that as: a group or
//! public-folder mailbox can be given a customer DEP once at least one recipient of the tenant
//! is licensed for Customer Key (shared mailboxes keep their older rule: no check at all).
//!
//! Licences are assigned by SKU part number (as `Set-MgUserLicense` does); a recipient's
//! `PersistedCapabilities` are derived from them. Customer Key needs the capability
//! `BPOS_S_EquivioAnalytics`, which the E5-class SKUs carry.

use serde::Serialize;

use super::{now, Error, ErrorKind, Result};
use crate::model::RecipientScope;
use crate::store::{RecipientRow, Store, Tx};

/// The capability that licenses Customer Key on a mailbox.
pub const CUSTOMER_KEY_CAPABILITY: &str = "BPOS_S_EquivioAnalytics";

/// A licence SKU: part number, product name, the capabilities it gives a mailbox.
pub struct Sku {
    pub part_number: &'static str,
    pub product: &'static str,
    pub sku_id: &'static str,
    pub capabilities: &'static [&'static str],
}

pub const SKUS: &[Sku] = &[
    Sku {
        part_number: "ENTERPRISEPREMIUM",
        product: "Office 365 E5",
        sku_id: "c7df2760-2c81-4ef7-b578-5b5392b571df",
        capabilities: &[
            "BPOS_S_CustomerLockbox",
            "BPOS_S_Enterprise",
            CUSTOMER_KEY_CAPABILITY,
        ],
    },
    Sku {
        part_number: "SPE_E5",
        product: "Microsoft 365 E5",
        sku_id: "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        capabilities: &[
            "BPOS_S_CustomerLockbox",
            "BPOS_S_Enterprise",
            CUSTOMER_KEY_CAPABILITY,
        ],
    },
    Sku {
        part_number: "INFORMATION_PROTECTION_COMPLIANCE",
        product: "Microsoft 365 E5 Compliance",
        sku_id: "184efa21-98c3-4e5d-95ab-d07053a96e67",
        capabilities: &["BPOS_S_CustomerLockbox", CUSTOMER_KEY_CAPABILITY],
    },
    Sku {
        part_number: "EQUIVIO_ANALYTICS",
        product: "Office 365 Advanced Compliance",
        sku_id: "1b1b1f7a-8355-43b6-829f-336cfccb744c",
        capabilities: &[CUSTOMER_KEY_CAPABILITY],
    },
    Sku {
        part_number: "M365_SECURITY_COMPLIANCE_FOR_FLW",
        product: "Microsoft 365 Security and Compliance for Firstline Workers",
        sku_id: "2347355b-4e81-41a4-9c22-55057a399791",
        capabilities: &[CUSTOMER_KEY_CAPABILITY],
    },
    Sku {
        part_number: "ENTERPRISEPACK",
        product: "Office 365 E3",
        sku_id: "6fd2c87f-b296-42f0-b197-1e91e994b900",
        capabilities: &["BPOS_S_Enterprise"],
    },
    Sku {
        part_number: "SPE_E3",
        product: "Microsoft 365 E3",
        sku_id: "05e9a617-0261-4cee-bb44-138d3ef5d965",
        capabilities: &["BPOS_S_Enterprise"],
    },
];

pub const SKU_PART_NUMBERS: &[&str] = &[
    "ENTERPRISEPREMIUM",
    "SPE_E5",
    "INFORMATION_PROTECTION_COMPLIANCE",
    "EQUIVIO_ANALYTICS",
    "M365_SECURITY_COMPLIANCE_FOR_FLW",
    "ENTERPRISEPACK",
    "SPE_E3",
];

pub fn sku(part_or_id: &str) -> Option<&'static Sku> {
    SKUS.iter().find(|s| {
        s.part_number.eq_ignore_ascii_case(part_or_id) || s.sku_id.eq_ignore_ascii_case(part_or_id)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UserMailbox,
    SharedMailbox,
    MailUser,
    /// A Microsoft 365 group's mailbox.
    GroupMailbox,
    PublicFolderMailbox,
    /// A mailbox's archive (`Enable-Mailbox -Archive`): content only, never a recipient of its
    /// own; it follows its primary's DEP.
    ArchiveMailbox,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserMailbox => "UserMailbox",
            Kind::SharedMailbox => "SharedMailbox",
            Kind::MailUser => "MailUser",
            Kind::GroupMailbox => "GroupMailbox",
            Kind::PublicFolderMailbox => "PublicFolderMailbox",
            Kind::ArchiveMailbox => "ArchiveMailbox",
        }
    }
    /// The kind a stored `RecipientTypeDetails` names (a user mailbox for anything unknown).
    pub fn of(details: &str) -> Kind {
        match details {
            "SharedMailbox" => Kind::SharedMailbox,
            "MailUser" => Kind::MailUser,
            "GroupMailbox" => Kind::GroupMailbox,
            "PublicFolderMailbox" => Kind::PublicFolderMailbox,
            "ArchiveMailbox" => Kind::ArchiveMailbox,
            _ => Kind::UserMailbox,
        }
    }
    /// User and mail-user mailboxes need a licence for Customer Key; shared, group and
    /// public-folder ones do not.
    pub fn needs_license(self) -> bool {
        matches!(self, Kind::UserMailbox | Kind::MailUser)
    }
    /// Shared, group and public-folder mailboxes need no licence of their own but a tenant with
    /// at least one user licensed for Customer Key ("when the tenant meets the user-mailbox
    /// licensing requirement").
    pub fn needs_licensed_tenant(self) -> bool {
        matches!(
            self,
            Kind::SharedMailbox | Kind::GroupMailbox | Kind::PublicFolderMailbox
        )
    }
    /// Whether licences can be assigned to it (a user account stands behind it).
    pub fn licensable(self) -> bool {
        self.needs_license()
    }
}

/// A recipient as `Get-Mailbox` / `Get-MailUser` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Recipient {
    pub identity: String,
    pub name: String,
    pub alias: String,
    pub display_name: String,
    pub primary_smtp_address: String,
    pub user_principal_name: Option<String>,
    pub external_email_address: Option<String>,
    pub recipient_type_details: String,
    pub guid: String,
    pub exchange_guid: String,
    pub licenses: Vec<String>,
    pub persisted_capabilities: Vec<String>,
    /// The assigned data encryption policy's name; empty when Microsoft-managed keys apply.
    pub data_encryption_policy: Option<String>,
    pub when_created: String,
    pub when_changed: String,
    /// When the mailbox's data was destroyed by the data purge of its DEP.
    pub data_purged_time: Option<String>,
    /// `Active` once `Enable-Mailbox -Archive` gave it an archive, else `None`.
    pub archive_status: String,
    /// The archive's GUID (`00000000-0000-0000-0000-000000000000` without one, as Exchange shows).
    pub archive_guid: String,
}

impl Recipient {
    pub fn kind(&self) -> Kind {
        Kind::of(&self.recipient_type_details)
    }
    pub fn licensed_for_customer_key(&self) -> bool {
        self.persisted_capabilities
            .iter()
            .any(|c| c == CUSTOMER_KEY_CAPABILITY)
    }
}

pub fn capabilities(licenses: &[String]) -> Vec<String> {
    let mut caps: Vec<String> = licenses
        .iter()
        .filter_map(|l| sku(l))
        .flat_map(|s| s.capabilities.iter().map(|c| c.to_string()))
        .collect();
    caps.sort();
    caps.dedup();
    caps
}

/// Builds the output object; `dep_name` resolves the assigned DEP's GUID to its name.
pub fn present(row: RecipientRow, dep_name: Option<String>) -> Recipient {
    Recipient {
        identity: row.name.clone(),
        persisted_capabilities: capabilities(&row.licenses),
        name: row.name,
        alias: row.alias,
        display_name: row.display_name,
        primary_smtp_address: row.primary_smtp,
        user_principal_name: row.upn,
        external_email_address: row.external_email,
        recipient_type_details: row.kind,
        guid: row.guid,
        exchange_guid: row.exchange_guid,
        licenses: row.licenses,
        data_encryption_policy: dep_name,
        when_created: row.when_created,
        when_changed: row.when_changed,
        data_purged_time: row.data_purged,
        archive_status: if row.archive_guid.is_some() {
            "Active"
        } else {
            "None"
        }
        .into(),
        archive_guid: row
            .archive_guid
            .unwrap_or_else(|| uuid::Uuid::nil().to_string()),
    }
}

/// What `New-Mailbox` / `New-MailUser` asks for.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub kind: Kind,
    pub name: String,
    pub alias: Option<String>,
    pub display_name: Option<String>,
    pub primary_smtp: Option<String>,
    pub upn: Option<String>,
    pub external_email: Option<String>,
}

fn valid_alias(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 64
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !a.starts_with('.')
        && !a.ends_with('.')
}

/// An alias made from a name: its letters, digits, dots, dashes and underscores, lowercased.
pub fn alias_from_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .flat_map(|c| c.to_lowercase())
        .collect::<String>()
        .trim_matches('.')
        .to_string()
}

fn valid_smtp(s: &str) -> bool {
    super::org::is_upn(s)
}

/// Resolves a recipient by identity (GUID, name, alias, address or UPN) within `scope`.
pub fn resolve(tx: &Tx, identity: &str, scope: RecipientScope) -> Result<RecipientRow> {
    resolved(identity, scope, tx.recipients_by_identity(identity, scope)?)
}

/// [`resolve`] for many identities, in a few statements (`Tx::recipients_by_identities`): each
/// identity's recipient, or its error, in order.
pub fn resolve_many(
    tx: &Tx,
    identities: &[String],
    scope: RecipientScope,
) -> Result<Vec<Result<RecipientRow>>> {
    Ok(tx
        .recipients_by_identities(identities, scope)?
        .into_iter()
        .zip(identities)
        .map(|(rows, id)| resolved(id, scope, rows))
        .collect())
}

/// The recipient `identity` names among `rows`, the recipients it matches: an error when none
/// or several do.
fn resolved(
    identity: &str,
    scope: RecipientScope,
    mut rows: Vec<RecipientRow>,
) -> Result<RecipientRow> {
    match rows.len() {
        0 => {
            let what = match scope {
                RecipientScope::MailUsers => "mail user",
                RecipientScope::Mailboxes => "mailbox",
                RecipientScope::Groups => "Microsoft 365 group",
                RecipientScope::All => "recipient",
                RecipientScope::Content => "mailbox or archive",
            };
            Err(Error::not_found(format!(
                "The operation couldn't be performed because object '{identity}' couldn't be found: no {what} has that name, alias, address, UPN or GUID."
            ))
            .with_help(match scope {
                RecipientScope::MailUsers => "list mail users with 'custkey Get-MailUser'",
                RecipientScope::Groups => "list groups with 'custkey Get-UnifiedGroup'",
                _ => "list mailboxes with 'custkey Get-Mailbox'",
            }))
        }
        1 => Ok(rows.remove(0)),
        _ => Err(Error::rule(format!(
            "The operation couldn't be performed because '{identity}' matches multiple entries: {}.",
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .with_help("name the recipient by its primary SMTP address or GUID")),
    }
}

/// Creates a recipient; the organization's name is the default mail domain.
pub fn create(store: &mut Store, req: &NewRecipient) -> Result<RecipientRow> {
    let mut p = create_each(store, std::slice::from_ref(req))?;
    match p.failed {
        Some(e) => Err(e),
        None => p.done.pop().ok_or_else(|| {
            Error::new(super::ErrorKind::Unavailable, "no recipient was created")
                .with_help("check with Get-Mailbox, then run the command again")
        }),
    }
}

/// Creates recipients in order, in one transaction: those before the first that can't be
/// created (an invalid request, a name or address already taken) are created, and that one's
/// error is returned beside them; none after it is tried. An `Err` means none was created.
pub fn create_each(
    store: &mut Store,
    reqs: &[NewRecipient],
) -> Result<super::mailbox::Partial<RecipientRow>> {
    let mut valid = Vec::with_capacity(reqs.len());
    let mut failed = None;
    for req in reqs {
        match checked(req) {
            Ok(alias) => valid.push((req, alias)),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if valid.is_empty() {
        return Ok(super::mailbox::Partial {
            done: Vec::new(),
            failed,
        });
    }
    store.write(|tx| {
        let org = super::org::current(tx)?;
        let mut done = Vec::with_capacity(valid.len());
        for (req, alias) in valid {
            let smtp = req
                .primary_smtp
                .clone()
                .unwrap_or_else(|| format!("{alias}@{}", org.name));
            let upn = match req.kind.licensable() {
                false => req.upn.clone(),
                true => Some(req.upn.clone().unwrap_or_else(|| smtp.clone())),
            };
            let t = now();
            let name = req.name.trim();
            let row = RecipientRow {
                guid: uuid::Uuid::new_v4().to_string(),
                exchange_guid: uuid::Uuid::new_v4().to_string(),
                name: name.to_string(),
                alias,
                display_name: req.display_name.clone().unwrap_or_else(|| name.to_string()),
                primary_smtp: smtp,
                upn,
                external_email: req.external_email.clone(),
                kind: req.kind.as_str().into(),
                licenses: Vec::new(),
                dep_guid: None,
                when_created: t.clone(),
                when_changed: t,
                data_purged: None,
                archive_guid: None,
            };
            if !tx.insert_recipient(&row)? {
                // The ones before it stay created (this transaction commits them).
                failed = Some(clash(tx, &row));
                break;
            }
            done.push(row);
        }
        Ok(super::mailbox::Partial { done, failed })
    })
}

/// Checks a request before anything is written; returns its alias.
fn checked(req: &NewRecipient) -> Result<String> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(
            Error::invalid("a recipient's -Name must be 1 to 64 characters")
                .with_help("give a name such as \"Alice Example\""),
        );
    }
    let alias = req.alias.clone().unwrap_or_else(|| alias_from_name(name));
    if !valid_alias(&alias) {
        return Err(
            Error::invalid(format!("'{alias}' is not a valid alias")).with_help(
                "an alias uses letters, digits and . - _ (no spaces); give one with -Alias",
            ),
        );
    }
    for (what, v) in [
        ("-PrimarySmtpAddress", &req.primary_smtp),
        ("-MicrosoftOnlineServicesID", &req.upn),
        ("-ExternalEmailAddress", &req.external_email),
    ] {
        if let Some(v) = v {
            if !valid_smtp(v) {
                return Err(Error::invalid(format!(
                    "'{v}' given to {what} is not an email address"
                ))
                .with_help("write it as user@domain"));
            }
        }
    }
    if req.kind == Kind::MailUser && req.external_email.is_none() {
        return Err(Error::invalid("a mail user needs -ExternalEmailAddress")
            .with_help("give the address outside the organization, e.g. -ExternalEmailAddress alice@fabrikam.com"));
    }
    Ok(alias)
}

fn clash(tx: &Tx, row: &RecipientRow) -> Error {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    type Field = fn(&RecipientRow) -> Option<&str>;
    let fields: [(&str, Field); 4] = [
        ("name", |r| Some(r.name.as_str())),
        ("alias", |r| Some(r.alias.as_str())),
        ("address", |r| Some(r.primary_smtp.as_str())),
        ("user principal name", |r| r.upn.as_deref()),
    ];
    for (what, field) in fields {
        let Some(v) = field(row) else { continue };
        if let Ok(found) = tx.recipients_by_identity(v, RecipientScope::All) {
            if let Some(other) = found
                .into_iter()
                .find(|o| o.guid != row.guid && field(o).is_some_and(|x| same(x, v)))
            {
                return Error::rule(format!(
                    "The {what} '{v}' is already used by recipient '{}'.",
                    other.name
                ))
                .with_help(format!("choose another {what}"));
            }
        }
    }
    Error::rule(format!("'{}' clashes with an existing recipient", row.name))
        .with_help("choose another -Name, -Alias or address")
}

/// Lists recipients in `scope`, at most `limit`.
pub fn list(
    store: &mut Store,
    scope: RecipientScope,
    limit: Option<u64>,
) -> Result<Vec<RecipientRow>> {
    store.read(|tx| Ok(tx.list_recipients(scope, limit)?))
}

pub fn get(store: &mut Store, identity: &str, scope: RecipientScope) -> Result<RecipientRow> {
    store.read(|tx| resolve(tx, identity, scope))
}

/// Adds and removes licences of a user or mail user (`Set-MgUserLicense`).
pub fn set_licenses(
    store: &mut Store,
    user: &str,
    add: &[String],
    remove: &[String],
) -> Result<RecipientRow> {
    let mut add_parts = Vec::new();
    for l in add.iter().chain(remove) {
        if sku(l).is_none() {
            return Err(Error::invalid(format!("'{l}' is not a known licence SKU"))
                .with_help(format!("use one of {}", SKU_PART_NUMBERS.join(", "))));
        }
    }
    for l in add {
        if let Some(s) = sku(l) {
            add_parts.push(s.part_number.to_string());
        }
    }
    let remove_parts: Vec<&str> = remove
        .iter()
        .filter_map(|l| sku(l))
        .map(|s| s.part_number)
        .collect();
    store.write(|tx| {
        let mut row = resolve(tx, user, RecipientScope::All)?;
        let kind = Kind::of(&row.kind);
        if !kind.licensable() {
            let word = match kind {
                Kind::GroupMailbox => "group",
                Kind::PublicFolderMailbox => "public-folder",
                _ => "shared",
            };
            return Err(Error::rule(format!(
                "'{}' is a {word} mailbox; {word} mailboxes are not licensed",
                row.name
            ))
            .with_help(
                "license the users who use it; shared, group and public-folder mailboxes need no licence of their own for Customer Key",
            ));
        }
        row.licenses.retain(|l| !remove_parts.contains(&l.as_str()));
        for p in add_parts {
            if !row.licenses.contains(&p) {
                row.licenses.push(p);
            }
        }
        row.when_changed = now();
        if !tx.update_recipient(&row)? {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the recipient could not be updated (another command changed or removed it)",
            )
            .with_help("run the command again"));
        }
        Ok(row)
    })
}

/// Names for completion, never creating a store.
pub fn names(store: &mut Store, scope: RecipientScope, prefix: &str) -> Vec<String> {
    store
        .read(|tx| -> Result<_> { Ok(tx.recipient_names(scope, prefix)?) })
        .unwrap_or_default()
}

/// Changes a recipient's display name.
pub fn set_display_name(
    store: &mut Store,
    identity: &str,
    scope: RecipientScope,
    display: &str,
) -> Result<RecipientRow> {
    if display.trim().is_empty() || display.len() > 256 {
        return Err(Error::invalid("a display name must be 1 to 256 characters")
            .with_help("give -DisplayName a name of 1 to 256 characters"));
    }
    store.write(|tx| {
        let mut r = resolve(tx, identity, scope)?;
        r.display_name = display.to_string();
        r.when_changed = now();
        tx.update_recipient(&r)?;
        Ok(r)
    })
}

/// Whether at least one recipient of the tenant is licensed for Customer Key (what group and
/// public-folder mailboxes need before a customer DEP is assigned to them).
pub fn tenant_licensed(tx: &Tx) -> Result<bool> {
    Ok(tx
        .recipient_licence_sets()?
        .iter()
        .any(|l| capabilities(l).iter().any(|c| c == CUSTOMER_KEY_CAPABILITY)))
}

/// `Enable-Mailbox <id> -Archive`: gives a user or shared mailbox an archive (a content row of
/// kind ArchiveMailbox whose GUID becomes the mailbox's ArchiveGuid), under the same DEP as the
/// mailbox. Returns the mailbox.
pub fn enable_archive(store: &mut Store, identity: &str) -> Result<RecipientRow> {
    store.write(|tx| {
        let mut r = resolve(tx, identity, RecipientScope::Mailboxes)?;
        if !matches!(Kind::of(&r.kind), Kind::UserMailbox | Kind::SharedMailbox) {
            return Err(Error::rule(format!(
                "'{}' is a {}; only user and shared mailboxes have archives",
                r.name, r.kind
            ))
            .with_help("give Enable-Mailbox -Archive a user or shared mailbox"));
        }
        if r.archive_guid.is_some() {
            return Err(
                Error::rule(format!("The mailbox '{}' already has an archive.", r.name))
                    .with_help("Get-MailboxStatistics <mailbox> -Archive shows it"),
            );
        }
        let guid = uuid::Uuid::new_v4().to_string();
        let t = now();
        let archive = RecipientRow {
            guid: guid.clone(),
            exchange_guid: uuid::Uuid::new_v4().to_string(),
            // Hidden from every recipient scope; unique by its GUID.
            name: guid.clone(),
            alias: format!(
                "archive-{}",
                uuid::Uuid::parse_str(&guid)
                    .map(|u| u.simple().to_string())
                    .unwrap_or_default()
            ),
            display_name: format!("In-Place Archive - {}", r.display_name),
            primary_smtp: format!("{guid}@archive.invalid"),
            upn: None,
            external_email: None,
            kind: Kind::ArchiveMailbox.as_str().into(),
            licenses: Vec::new(),
            dep_guid: r.dep_guid.clone(),
            when_created: t.clone(),
            when_changed: t.clone(),
            data_purged: None,
            archive_guid: None,
        };
        if !tx.insert_recipient(&archive)? {
            return Err(
                Error::new(ErrorKind::Unavailable, "the archive could not be created")
                    .with_help("run the command again"),
            );
        }
        r.archive_guid = Some(guid);
        r.when_changed = t;
        if !tx.update_recipient(&r)? {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the mailbox could not be updated (another command changed or removed it)",
            )
            .with_help("run the command again"));
        }
        Ok(r)
    })
}

/// The archive row of the mailbox `identity`; an error naming `Enable-Mailbox -Archive` when it
/// has none.
pub fn archive_of(tx: &Tx, identity: &str) -> Result<RecipientRow> {
    let r = resolve(tx, identity, RecipientScope::Mailboxes)?;
    let none = || {
        Error::rule(format!("The mailbox '{}' has no archive.", r.name)).with_help(format!(
            "give it one first: custkey Enable-Mailbox {} -Archive",
            r.alias
        ))
    };
    match &r.archive_guid {
        Some(g) => tx.recipient(g)?.ok_or_else(none),
        None => Err(none()),
    }
}

/// The migration of a mail user's mailbox into the organization (`New-MoveRequest -Remote`):
/// the mail user becomes a user mailbox with the same GUID, licences and DEP assignment, so a
/// DEP assigned before the migration (`Set-MailUser -DataEncryptionPolicy`) applies to its
/// content from the first item. Returns the mailbox. A user mailbox is returned as it is (a
/// migration that stopped after this step is finished by moving it).
pub fn migrate_mail_user(store: &mut Store, identity: &str) -> Result<RecipientRow> {
    store.write(|tx| {
        let mut r = resolve(tx, identity, RecipientScope::All)?;
        match Kind::of(&r.kind) {
            Kind::MailUser => {}
            Kind::UserMailbox => return Ok(r),
            _ => {
                return Err(Error::rule(format!(
                    "'{}' is a {}; only a mail user is migrated in with -Remote",
                    r.name, r.kind
                ))
                .with_help("move it without -Remote"))
            }
        }
        let t = now();
        tx.set_recipient_kind(&r.guid, Kind::UserMailbox.as_str(), &t)?;
        r.kind = Kind::UserMailbox.as_str().into();
        r.external_email = None;
        r.when_changed = t;
        Ok(r)
    })
}
