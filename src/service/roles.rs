//! Who may do what: Azure role assignments above the vaults (subscriptions, resource groups)
//! and the Microsoft 365 admin roles (Exchange role groups, Entra directory roles).
//!
//! Vault and key scope assignments live in the vault files, sealed with the vault (see
//! `vault::rbac`). Everything here lives in one store setting, `roles.state`, authenticated by a
//! MAC under a key derived from the service master key: a store writer without that key cannot
//! add, change or drop an entry without the whole record failing to verify, and a record that
//! fails to verify grants nothing (the refusal says so).
//!
//! Bootstrap: the first principal of a store becomes its owner. When the store holds no role
//! record yet and no vault holds a role assignment, the acting account gets Owner on the current
//! subscription, Global Administrator and membership of Organization Management (audited).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Error, ErrorKind, Result};
use crate::crypto::RecordKey;
use crate::store::{Store, Tx};
use crate::vault::{Principal, RoleAssignment};

const STATE_SETTING: &str = "roles.state";
const MAC_LABEL: &[u8] = b"custkey/v1 roles.state";

/// The principal a command acts as: the signed-in account. The one place it is taken from,
/// so that how the account is established can change without touching the checks.
pub fn acting_principal(store: &mut Store) -> Result<Principal> {
    Ok(Principal::user(&super::azure::account(store)?)?)
}

/// How an admin role is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminKind {
    /// An Exchange Online role group (`Add-RoleGroupMember`).
    RoleGroup,
    /// A Microsoft Entra directory role (`New-MgRoleManagementDirectoryRoleAssignment`).
    DirectoryRole,
}

/// One admin role.
#[derive(Debug, Clone, Copy)]
pub struct AdminRole {
    pub name: &'static str,
    pub kind: AdminKind,
    /// The Entra role template id (directory roles); empty for role groups, which are named.
    pub id: &'static str,
}

/// The admin roles known here.
pub const ADMIN_ROLES: &[AdminRole] = &[
    AdminRole {
        name: "Organization Management",
        kind: AdminKind::RoleGroup,
        id: "6d9a6f5d-5b47-4bd5-9ab1-6d6c0c6f3a01",
    },
    AdminRole {
        name: "Compliance Management",
        kind: AdminKind::RoleGroup,
        id: "6d9a6f5d-5b47-4bd5-9ab1-6d6c0c6f3a02",
    },
    AdminRole {
        name: "View-Only Organization Management",
        kind: AdminKind::RoleGroup,
        id: "6d9a6f5d-5b47-4bd5-9ab1-6d6c0c6f3a03",
    },
    AdminRole {
        name: "Global Administrator",
        kind: AdminKind::DirectoryRole,
        id: "62e90394-69f5-4237-9190-012177145e10",
    },
    AdminRole {
        name: "Privileged Role Administrator",
        kind: AdminKind::DirectoryRole,
        id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
    },
    AdminRole {
        name: "SharePoint Administrator",
        kind: AdminKind::DirectoryRole,
        id: "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    },
    AdminRole {
        name: "Exchange Administrator",
        kind: AdminKind::DirectoryRole,
        id: "29232cdf-9323-42fd-ade2-1d097af3e4de",
    },
    AdminRole {
        name: "Global Reader",
        kind: AdminKind::DirectoryRole,
        id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    },
];

/// The admin role named `name` (or with id `name`) of kind `kind`.
pub fn admin_role(name: &str, kind: AdminKind) -> Result<&'static AdminRole> {
    ADMIN_ROLES
        .iter()
        .filter(|r| r.kind == kind)
        .find(|r| {
            r.name.eq_ignore_ascii_case(name.trim()) || r.id.eq_ignore_ascii_case(name.trim())
        })
        .ok_or_else(|| {
            let names: Vec<String> = ADMIN_ROLES
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| match kind {
                    AdminKind::RoleGroup => format!("'{}'", r.name),
                    AdminKind::DirectoryRole => format!("{} ({})", r.id, r.name),
                })
                .collect();
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "'{}' is not a {} here",
                    crate::vault::ids::printable(name),
                    match kind {
                        AdminKind::RoleGroup => "role group",
                        AdminKind::DirectoryRole => "directory role",
                    }
                ),
            )
            .with_help(format!("give one of {}", names.join(", ")))
        })
}

/// What a workload cmdlet needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Exchange organization settings and mailbox DEP assignment: Organization Management.
    ExchangeAdmin,
    /// Exchange and multi-workload data encryption policies: Organization Management or
    /// Compliance Management.
    ExchangeDep,
    /// Reading Exchange DEPs and settings: also View-Only Organization Management.
    ExchangeRead,
    /// SharePoint admin cmdlets: SharePoint Administrator.
    SharePointAdmin,
    /// Reading SharePoint DEPs: also Global Reader.
    SharePointRead,
}

impl Need {
    /// The roles that satisfy it (Global Administrator satisfies all).
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Need::ExchangeAdmin => &["Organization Management", "Global Administrator"],
            Need::ExchangeDep => &[
                "Organization Management",
                "Compliance Management",
                "Global Administrator",
            ],
            Need::ExchangeRead => &[
                "Organization Management",
                "Compliance Management",
                "View-Only Organization Management",
                "Global Administrator",
                "Global Reader",
            ],
            Need::SharePointAdmin => &["SharePoint Administrator", "Global Administrator"],
            Need::SharePointRead => &[
                "SharePoint Administrator",
                "Global Administrator",
                "Global Reader",
            ],
        }
    }

    fn advice(self, upn: &str) -> String {
        match self {
            Need::SharePointAdmin | Need::SharePointRead => format!(
                "ask a Global Administrator to run New-MgRoleManagementDirectoryRoleAssignment -PrincipalId {upn} \
                 -RoleDefinitionId f28a1f50-f6e7-4571-818b-6a12f2af6b6c -DirectoryScopeId '/' (SharePoint Administrator)"
            ),
            _ => format!(
                "ask a member of Organization Management to run Add-RoleGroupMember -Identity 'Organization Management' -Member {upn}"
            ),
        }
    }
}

/// A holder of an admin role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminMember {
    /// The membership's id (the `Id` of a directory role assignment).
    pub id: String,
    /// The role's name, as in [`ADMIN_ROLES`].
    pub role: String,
    /// The member, by UPN.
    pub member: String,
    pub added_by: String,
    pub added: DateTime<Utc>,
}

/// The authenticated role record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleState {
    /// The account that bootstrapped the store.
    pub owner: String,
    /// Azure role assignments above the vaults.
    pub assignments: Vec<RoleAssignment>,
    /// Admin role holders.
    pub admins: Vec<AdminMember>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    state: RoleState,
    mac: String,
}

/// What the store holds.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// Nothing yet: the store has not been bootstrapped.
    Absent,
    /// A record that verified.
    Valid(RoleState),
    /// A record that did not verify: it grants nothing.
    Forged,
}

impl Loaded {
    /// The verified state, or an empty one.
    pub fn state(&self) -> RoleState {
        match self {
            Loaded::Valid(s) => s.clone(),
            _ => RoleState::default(),
        }
    }
}

/// The role record and the key that authenticates it.
pub struct Roles {
    key: RecordKey,
}

/// The note added to a refusal when the store's role record failed to verify.
pub const FORGED_NOTE: &str =
    "the role record in the store (setting roles.state) failed its authentication (it was \
changed without the service master key) and grants nothing; restore the store from a backup";

impl Roles {
    pub fn open(data_dir: &std::path::Path) -> Result<Roles> {
        Ok(Roles::with_key(super::keys::record_key(data_dir)?))
    }

    /// Over a record key derived already.
    pub fn with_key(key: crate::crypto::RecordKey) -> Roles {
        Roles { key }
    }

    /// Reads and verifies the record.
    pub fn load(&self, tx: &Tx) -> Result<Loaded> {
        let Some(text) = tx.setting(STATE_SETTING)? else {
            return Ok(Loaded::Absent);
        };
        let Ok(sealed) = serde_json::from_str::<Sealed>(&text) else {
            return Ok(Loaded::Forged);
        };
        let body = serde_json::to_vec(&sealed.state).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot encode the role record: {e}"),
            )
            .with_help("nothing was changed; this is a bug, please report it")
        })?;
        let mac = hex::decode(&sealed.mac).unwrap_or_default();
        Ok(if self.key.verify(MAC_LABEL, &body, &mac) {
            Loaded::Valid(sealed.state)
        } else {
            Loaded::Forged
        })
    }

    /// Writes `state`, authenticated.
    pub fn save(&self, tx: &Tx, state: &RoleState) -> Result<()> {
        let body = serde_json::to_vec(state).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot encode the role record: {e}"),
            )
            .with_help("nothing was changed; this is a bug, please report it")
        })?;
        let mac = hex::encode(self.key.mac_record(MAC_LABEL, &body)?);
        let text = serde_json::to_string(&Sealed {
            state: state.clone(),
            mac,
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot encode the role record: {e}"),
            )
            .with_help("nothing was changed; this is a bug, please report it")
        })?;
        tx.set_setting(STATE_SETTING, &text)?;
        Ok(())
    }

    /// A change to a verified record in one transaction: refused when the record is forged.
    pub fn modify<T>(
        &self,
        store: &mut Store,
        f: impl FnOnce(&Tx, &mut RoleState) -> Result<T>,
    ) -> Result<T> {
        store.write(|tx| -> Result<T> {
            let mut state = match self.load(tx)? {
                Loaded::Valid(s) => s,
                Loaded::Absent => RoleState::default(),
                Loaded::Forged => {
                    return Err(Error::new(ErrorKind::AccessDenied, FORGED_NOTE.to_string())
                        .with_help("nothing was changed"))
                }
            };
            let out = f(tx, &mut state)?;
            self.save(tx, &state)?;
            Ok(out)
        })
    }
}

/// Makes `upn` the owner of a store that has no role record yet: Owner of `subscriptions`, Global
/// Administrator and member of Organization Management (audited). `Ok(false)` when the store
/// already has one (nothing changes). The authentication work calls this at registration; the
/// caller has checked that no vault holds a role assignment.
pub fn bootstrap_owner(
    roles: &Roles,
    tx: &Tx,
    upn: &str,
    subscriptions: &[String],
) -> Result<bool> {
    if !matches!(roles.load(tx)?, Loaded::Absent) {
        return Ok(false);
    }
    let me = Principal::user(upn)?;
    let owner = crate::vault::rbac::role("Owner")?;
    let mut assignments = Vec::new();
    for sub in subscriptions {
        let scope = crate::vault::Scope::parse(&format!("/subscriptions/{sub}"))?;
        assignments.push(RoleAssignment::new(&scope, owner, &me, "bootstrap"));
    }
    let scopes: Vec<String> = assignments.iter().map(|a| a.scope.clone()).collect();
    let now = Utc::now();
    let state = RoleState {
        owner: upn.to_string(),
        assignments,
        admins: ["Global Administrator", "Organization Management"]
            .iter()
            .map(|r| AdminMember {
                id: uuid::Uuid::new_v4().to_string(),
                role: (*r).to_string(),
                member: upn.to_string(),
                added_by: "bootstrap".into(),
                added: now,
            })
            .collect(),
    };
    roles.save(tx, &state)?;
    let org_id = super::org::organization_id(tx)?;
    super::keys::audit(
        tx,
        &org_id,
        "AzureActiveDirectory",
        "Bootstrap owner",
        upn,
        "",
        json!({"Owner": upn, "Scopes": scopes, "Roles": ["Owner", "Global Administrator", "Organization Management"]}),
    )?;
    Ok(true)
}

/// Whether `upn` holds one of `names` in `state`.
pub fn holds(state: &RoleState, upn: &str, names: &[&str]) -> bool {
    state.admins.iter().any(|m| {
        super::org::same_principal(&m.member, upn)
            && names.iter().any(|n| n.eq_ignore_ascii_case(&m.role))
    })
}

/// Refuses `cmdlet` unless the acting account holds a role satisfying `need` (audited).
pub fn require(roles: &Roles, store: &mut Store, need: Need, cmdlet: &str) -> Result<()> {
    let upn = super::azure::account(store)?;
    let loaded = store.read(|tx| roles.load(tx))?;
    if holds(&loaded.state(), &upn, need.roles()) {
        return Ok(());
    }
    let mut msg = format!(
        "{upn} is not allowed to run {cmdlet}: it needs one of the roles {}",
        need.roles()
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if matches!(loaded, Loaded::Forged) {
        msg = format!("{msg}; {FORGED_NOTE}");
    }
    store.write(|tx| -> Result<()> {
        let org_id = super::org::organization_id(tx)?;
        super::keys::audit(
            tx,
            &org_id,
            match need {
                Need::SharePointAdmin | Need::SharePointRead => "SharePoint",
                _ => "ExchangeAdmin",
            },
            cmdlet,
            &upn,
            "",
            json!({"ResultStatus": "AccessDenied", "Needs": need.roles(), "Forged": matches!(loaded, Loaded::Forged)}),
        )
    })?;
    Err(Error::new(ErrorKind::AccessDenied, msg).with_help(need.advice(&upn)))
}
