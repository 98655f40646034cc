//! Who a vault operation names (a user, a service principal, an object id) and the key
//! permissions an access policy grants. Access policies themselves, and checking them, are the
//! vault's (`vault::policy`).

use serde::{Deserialize, Serialize};

use super::{is_guid, parse_named, printable, Invalid};

/// App id of the Exchange Online service principal (mailbox DEPs).
pub const EXCHANGE_ONLINE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// App id of the SharePoint Online service principal (SharePoint, OneDrive, Teams files).
pub const SHAREPOINT_ONLINE_APP_ID: &str = "00000003-0000-0ff1-ce00-000000000000";
/// App id of the multi-workload service principal.
pub const M365_DATA_AT_REST_APP_ID: &str = "c066d759-24ae-40e7-a56f-027002b5d3e4";

/// The three Customer Key service principals: (app id, display name).
pub const KNOWN_SERVICE_PRINCIPALS: [(&str, &str); 3] = [
    (EXCHANGE_ONLINE_APP_ID, "Office 365 Exchange Online"),
    (SHAREPOINT_ONLINE_APP_ID, "Office 365 SharePoint Online"),
    (M365_DATA_AT_REST_APP_ID, "M365DataAtRestEncryption"),
];

/// The display name of a known service principal app id.
pub fn service_principal_display_name(app_id: &str) -> Option<&'static str> {
    KNOWN_SERVICE_PRINCIPALS
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(app_id))
        .map(|(_, n)| *n)
}

/// Who performs an operation, or whom an access policy names.
///
/// Matching is by kind and value: a user by UPN (case-insensitive), a service principal by app
/// id, an object id by GUID (both GUIDs compared in lower case). There is no directory here to
/// map a UPN to an object id, so a policy for an object id matches only callers that present that
/// object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "Kind", content = "Value")]
pub enum Principal {
    /// A user, by user principal name (`admin@contoso.com`).
    User(String),
    /// A service principal, by application id (lower-case GUID).
    ServicePrincipal(String),
    /// Any principal, by object id (lower-case GUID).
    ObjectId(String),
}

impl Principal {
    /// A user by UPN: `local@domain`, no spaces or control characters.
    pub fn user(upn: &str) -> Result<Self, Invalid> {
        let ok = upn.len() <= 256
            && upn
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
            && !upn.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Principal::User(upn.to_string()))
        } else {
            Err(Invalid(format!(
                "'{}' is not a user principal name (expected user@domain)",
                printable(upn)
            )))
        }
    }

    /// A service principal by app id, or by the display name of one of the three Customer Key
    /// service principals ("Office 365 Exchange Online", ...).
    pub fn service_principal(app_id_or_name: &str) -> Result<Self, Invalid> {
        if is_guid(app_id_or_name) {
            return Ok(Principal::ServicePrincipal(
                app_id_or_name.to_ascii_lowercase(),
            ));
        }
        KNOWN_SERVICE_PRINCIPALS
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(app_id_or_name))
            .map(|(id, _)| Principal::ServicePrincipal((*id).to_string()))
            .ok_or_else(|| {
                Invalid(format!(
                    "'{}' is neither an application id (GUID) nor a known service principal name ({})",
                    printable(app_id_or_name),
                    KNOWN_SERVICE_PRINCIPALS
                        .iter()
                        .map(|(_, n)| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Any principal by object id (GUID).
    pub fn object_id(id: &str) -> Result<Self, Invalid> {
        if is_guid(id) {
            Ok(Principal::ObjectId(id.to_ascii_lowercase()))
        } else {
            Err(Invalid(format!(
                "'{}' is not an object id (GUID)",
                printable(id)
            )))
        }
    }

    /// The kind as Azure prints it: `User`, `ServicePrincipal`, `ObjectId`.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "User",
            Principal::ServicePrincipal(_) => "ServicePrincipal",
            Principal::ObjectId(_) => "ObjectId",
        }
    }

    /// The identifying value (UPN, app id or object id).
    pub fn value(&self) -> &str {
        match self {
            Principal::User(v) | Principal::ServicePrincipal(v) | Principal::ObjectId(v) => v,
        }
    }

    /// The display name: the UPN, the known service principal name, or the object id.
    pub fn display_name(&self) -> String {
        match self {
            Principal::ServicePrincipal(id) => match service_principal_display_name(id) {
                Some(n) => format!("{n} ({id})"),
                None => id.clone(),
            },
            Principal::User(v) | Principal::ObjectId(v) => v.clone(),
        }
    }

    /// Whether two principals are the same identity.
    pub fn same_as(&self, other: &Principal) -> bool {
        match (self, other) {
            (Principal::User(a), Principal::User(b)) => a.eq_ignore_ascii_case(b),
            (Principal::ServicePrincipal(a), Principal::ServicePrincipal(b))
            | (Principal::ObjectId(a), Principal::ObjectId(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind(), self.value())
    }
}

/// A key permission of an access policy (Azure's `PermissionsToKeys` list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPermission {
    /// `decrypt`
    Decrypt,
    /// `encrypt`
    Encrypt,
    /// `unwrapKey`
    UnwrapKey,
    /// `wrapKey`
    WrapKey,
    /// `verify`
    Verify,
    /// `sign`
    Sign,
    /// `get`
    Get,
    /// `list`
    List,
    /// `update`
    Update,
    /// `create`
    Create,
    /// `import`
    Import,
    /// `delete`
    Delete,
    /// `backup`
    Backup,
    /// `restore`
    Restore,
    /// `recover`
    Recover,
    /// `purge`
    Purge,
    /// `rotate` (Invoke-AzKeyVaultKeyRotation)
    Rotate,
    /// `getrotationpolicy` (Get-AzKeyVaultKeyRotationPolicy)
    GetRotationPolicy,
    /// `setrotationpolicy` (Set-AzKeyVaultKeyRotationPolicy)
    SetRotationPolicy,
}

impl KeyPermission {
    /// Every key permission, in Azure's order.
    pub const ALL: [KeyPermission; 19] = [
        KeyPermission::Decrypt,
        KeyPermission::Encrypt,
        KeyPermission::UnwrapKey,
        KeyPermission::WrapKey,
        KeyPermission::Verify,
        KeyPermission::Sign,
        KeyPermission::Get,
        KeyPermission::List,
        KeyPermission::Update,
        KeyPermission::Create,
        KeyPermission::Import,
        KeyPermission::Delete,
        KeyPermission::Backup,
        KeyPermission::Restore,
        KeyPermission::Recover,
        KeyPermission::Purge,
        KeyPermission::Rotate,
        KeyPermission::GetRotationPolicy,
        KeyPermission::SetRotationPolicy,
    ];

    /// Azure's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPermission::Decrypt => "decrypt",
            KeyPermission::Encrypt => "encrypt",
            KeyPermission::UnwrapKey => "unwrapKey",
            KeyPermission::WrapKey => "wrapKey",
            KeyPermission::Verify => "verify",
            KeyPermission::Sign => "sign",
            KeyPermission::Get => "get",
            KeyPermission::List => "list",
            KeyPermission::Update => "update",
            KeyPermission::Create => "create",
            KeyPermission::Import => "import",
            KeyPermission::Delete => "delete",
            KeyPermission::Backup => "backup",
            KeyPermission::Restore => "restore",
            KeyPermission::Recover => "recover",
            KeyPermission::Purge => "purge",
            KeyPermission::Rotate => "rotate",
            KeyPermission::GetRotationPolicy => "getrotationpolicy",
            KeyPermission::SetRotationPolicy => "setrotationpolicy",
        }
    }

    /// Parse one permission, case-insensitively. Unknown names are `Invalid`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        parse_named(
            s,
            &KeyPermission::ALL,
            KeyPermission::as_str,
            "a key permission",
        )
    }

    /// Parse a list (items may themselves be comma-separated; `all` means every permission).
    /// Duplicates are dropped; the order given is kept (Azure shows permissions as set).
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<KeyPermission>, Invalid> {
        let mut out = Vec::new();
        for item in items {
            for part in item.as_ref().split(',') {
                if part.trim().eq_ignore_ascii_case("all") {
                    out.extend(KeyPermission::ALL);
                } else if !part.trim().is_empty() {
                    out.push(KeyPermission::parse(part)?);
                }
            }
        }
        Ok(dedup_keep_order(out))
    }
}

impl std::fmt::Display for KeyPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for KeyPermission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyPermission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyPermission::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn dedup_keep_order(v: Vec<KeyPermission>) -> Vec<KeyPermission> {
    let mut out: Vec<KeyPermission> = Vec::with_capacity(v.len());
    for p in v {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}
