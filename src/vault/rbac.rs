//! Azure role-based access control for vaults: the built-in role definitions (names and ids as
//! Azure publishes them), scopes, role assignments, and the checks made with them.
//!
//! A role assignment gives a principal a role at a scope; it applies at that scope and every
//! scope below it (subscription > resource group > vault > key). Management-plane operations
//! (changing or removing a vault, its access policies, its role assignments) always need a role;
//! data-plane operations (keys) need one only in a vault made with `-EnableRbacAuthorization`,
//! which uses role assignments instead of access policies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
use super::ids::printable;
use super::policy::{KeyPermission, Principal};

/// A management-plane action, as the built-in roles' `Actions` grant them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manage {
    /// `Microsoft.KeyVault/vaults/read`: see the vault, its access policies and its role
    /// assignments.
    Read,
    /// `Microsoft.KeyVault/vaults/write`, `.../delete`, `.../accessPolicies/write`,
    /// `locations/deletedVaults/purge/action`: change, remove, recover or purge a vault and
    /// set its access policies.
    Write,
    /// `Microsoft.Authorization/roleAssignments/write` and `/delete`: grant and revoke roles.
    Authorize,
}

impl Manage {
    /// What the action is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Manage::Read => "read vault properties and role assignments",
            Manage::Write => "change, remove, recover or purge vaults and their access policies",
            Manage::Authorize => "create or remove role assignments",
        }
    }
}

/// One built-in role.
#[derive(Debug, Clone, Copy)]
pub struct RoleDefinition {
    /// `RoleDefinitionName` as Azure spells it.
    pub name: &'static str,
    /// Azure's role definition GUID (the same in every tenant).
    pub id: &'static str,
    /// Azure's description.
    pub description: &'static str,
    /// The management-plane actions it grants.
    pub manage: &'static [Manage],
    /// The key data actions it grants, as the access-policy permission each one corresponds to.
    pub keys: &'static [KeyPermission],
    /// Azure's `Actions`, `DataActions` as shown by `Get-AzRoleDefinition`.
    pub actions: &'static [&'static str],
    /// Azure's `DataActions`.
    pub data_actions: &'static [&'static str],
}

use KeyPermission as K;

const KEYS_ALL: &[KeyPermission] = &KeyPermission::ALL;
const KEYS_READ: &[KeyPermission] = &[K::Get, K::List];

/// The built-in roles that matter for Customer Key.
pub const ROLES: &[RoleDefinition] = &[
    RoleDefinition {
        name: "Owner",
        id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        manage: &[Manage::Read, Manage::Write, Manage::Authorize],
        keys: &[],
        actions: &["*"],
        data_actions: &[],
    },
    RoleDefinition {
        name: "Contributor",
        id: "b24988ac-6180-42a0-ab88-20f7382dd24c",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
        manage: &[Manage::Read, Manage::Write],
        keys: &[],
        actions: &["*"],
        data_actions: &[],
    },
    RoleDefinition {
        name: "Reader",
        id: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        description: "View all resources, but does not allow you to make any changes.",
        manage: &[Manage::Read],
        keys: &[],
        actions: &["*/read"],
        data_actions: &[],
    },
    RoleDefinition {
        name: "User Access Administrator",
        id: "18d7d88d-d35e-4fb5-a5c3-7773c2a72d9b",
        description: "Lets you manage user access to Azure resources.",
        manage: &[Manage::Read, Manage::Authorize],
        keys: &[],
        actions: &["*/read", "Microsoft.Authorization/*"],
        data_actions: &[],
    },
    RoleDefinition {
        name: "Key Vault Contributor",
        id: "f25e0fa2-a7c8-4377-a976-54943a77a395",
        description: "Lets you manage key vaults, but not access to them.",
        manage: &[Manage::Read, Manage::Write],
        keys: &[],
        actions: &["Microsoft.KeyVault/*"],
        data_actions: &[],
    },
    RoleDefinition {
        name: "Key Vault Administrator",
        id: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        description: "Perform all data plane operations on a key vault and all secrets, keys, and certificates in that key vault.",
        manage: &[Manage::Read],
        keys: KEYS_ALL,
        actions: &["Microsoft.KeyVault/vaults/*/read"],
        data_actions: &["Microsoft.KeyVault/vaults/*"],
    },
    RoleDefinition {
        name: "Key Vault Crypto Officer",
        id: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        description: "Perform any action on the keys of a key vault, except manage permissions.",
        manage: &[Manage::Read],
        keys: KEYS_ALL,
        actions: &["Microsoft.KeyVault/vaults/*/read"],
        data_actions: &["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"],
    },
    RoleDefinition {
        name: "Key Vault Crypto User",
        id: "12338af0-0e69-4776-bea7-57ae8d297424",
        description: "Perform cryptographic operations using keys.",
        manage: &[],
        keys: &[K::Get, K::List, K::Update, K::Backup, K::Encrypt, K::Decrypt, K::WrapKey, K::UnwrapKey, K::Sign, K::Verify],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/update/action",
            "Microsoft.KeyVault/vaults/keys/backup/action",
            "Microsoft.KeyVault/vaults/keys/encrypt/action",
            "Microsoft.KeyVault/vaults/keys/decrypt/action",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
            "Microsoft.KeyVault/vaults/keys/sign/action",
            "Microsoft.KeyVault/vaults/keys/verify/action",
        ],
    },
    RoleDefinition {
        name: "Key Vault Crypto Service Encryption User",
        id: "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        description: "Read metadata of keys and perform wrap/unwrap operations.",
        manage: &[],
        keys: &[K::Get, K::List, K::WrapKey, K::UnwrapKey],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    },
    RoleDefinition {
        name: "Key Vault Reader",
        id: "21090545-7ca7-4776-b22c-e363652d74d2",
        description: "Read metadata of key vaults and its certificates, keys, and secrets.",
        manage: &[Manage::Read],
        keys: KEYS_READ,
        actions: &["Microsoft.KeyVault/vaults/*/read"],
        data_actions: &["Microsoft.KeyVault/vaults/*/read"],
    },
];

/// Managed HSM local RBAC roles (Azure's built-in names and ids). A Managed HSM's keys answer
/// to these only; they give nothing in a key vault.
// As Microsoft's built-in roles reference has them: the Crypto Officer purges and recovers
// deleted keys (and manages role assignments), nothing else of key management; the Crypto User
// does all key management and use except purge and recover.
const HSM_KEYS_OFFICER: &[KeyPermission] = &[K::Get, K::List, K::Recover, K::Purge];
const HSM_KEYS_USER: &[KeyPermission] = &[
    K::Get,
    K::List,
    K::Update,
    K::Create,
    K::Import,
    K::Delete,
    K::Backup,
    K::Restore,
    K::Encrypt,
    K::Decrypt,
    K::WrapKey,
    K::UnwrapKey,
    K::Sign,
    K::Verify,
    K::GetRotationPolicy,
    K::SetRotationPolicy,
    K::Rotate,
];

/// The Managed HSM local roles custkey knows.
pub const HSM_ROLES: &[RoleDefinition] = &[
    RoleDefinition {
        name: "Managed HSM Administrator",
        id: "a290e904-7015-4bba-90c8-60543313cdb4",
        description: "Grants permissions to perform all operations related to the security domain, full backup and restore, and role management. Not permitted to perform any key management operations.",
        manage: &[Manage::Read, Manage::Authorize],
        keys: &[],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/roleAssignments/*",
            "Microsoft.KeyVault/managedHsm/roleDefinitions/read",
            "Microsoft.KeyVault/managedHsm/securitydomain/*",
        ],
    },
    RoleDefinition {
        name: "Managed HSM Crypto Officer",
        id: "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        description: "Grants permissions to perform all role management, purge or recover deleted keys, and export keys. Not permitted to perform any other key management operations.",
        manage: &[Manage::Read, Manage::Authorize],
        keys: HSM_KEYS_OFFICER,
        actions: &[],
        data_actions: &["Microsoft.KeyVault/managedHsm/keys/*/action", "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete"],
    },
    RoleDefinition {
        name: "Managed HSM Crypto User",
        id: "21dbd100-6940-42c2-9190-5d6cb909625b",
        description: "Grants permissions to perform all key management operations except purge or recover deleted keys and export keys.",
        manage: &[],
        keys: HSM_KEYS_USER,
        actions: &[],
        data_actions: &["Microsoft.KeyVault/managedHsm/keys/*"],
    },
    RoleDefinition {
        name: "Managed HSM Crypto Service Encryption User",
        id: "33413926-3206-4cdd-b39a-83574fe37a17",
        description: "Grants permissions to use a key for service encryption.",
        manage: &[],
        keys: &[K::Get, K::WrapKey, K::UnwrapKey],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/keys/read/action",
            "Microsoft.KeyVault/managedHsm/keys/wrap/action",
            "Microsoft.KeyVault/managedHsm/keys/unwrap/action",
        ],
    },
    RoleDefinition {
        name: "Managed HSM Policy Administrator",
        id: "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        description: "Grants permissions to create and delete role assignments.",
        manage: &[Manage::Read, Manage::Authorize],
        keys: &[],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/roleAssignments/*",
            "Microsoft.KeyVault/managedHsm/roleDefinitions/read",
        ],
    },
    RoleDefinition {
        name: "Managed HSM Crypto Auditor",
        id: "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        description: "Grants read permissions to read (but not use) key attributes.",
        manage: &[],
        keys: KEYS_READ,
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/keys/read/action",
            "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action",
        ],
    },
    RoleDefinition {
        name: "Managed HSM Backup",
        id: "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
        description: "Grants permissions to perform single key or whole HSM backup.",
        manage: &[],
        keys: &[K::Get, K::Backup],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/backup/start/action",
            "Microsoft.KeyVault/managedHsm/backup/status/action",
            "Microsoft.KeyVault/managedHsm/keys/backup/action",
        ],
    },
    RoleDefinition {
        name: "Managed HSM Restore",
        id: "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        description: "Grants permissions to perform single key or whole HSM restore.",
        manage: &[],
        keys: &[K::Restore],
        actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/managedHsm/restore/start/action",
            "Microsoft.KeyVault/managedHsm/restore/status/action",
            "Microsoft.KeyVault/managedHsm/keys/restore/action",
        ],
    },
];

impl RoleDefinition {
    /// A Managed HSM local role (not an Azure RBAC role).
    pub fn is_hsm_local(&self) -> bool {
        HSM_ROLES.iter().any(|r| r.id == self.id)
    }
}

/// Every role custkey knows: the Azure RBAC roles, then the Managed HSM local roles.
fn all_roles() -> impl Iterator<Item = &'static RoleDefinition> {
    ROLES.iter().chain(HSM_ROLES.iter())
}

/// The Managed HSM local role named `name_or_id` (by name, case-insensitive, or id).
pub fn hsm_role(name_or_id: &str) -> VaultResult<&'static RoleDefinition> {
    let t = name_or_id.trim();
    let id = t.rsplit('/').next().unwrap_or(t);
    HSM_ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(t) || r.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            VaultError::Invalid(format!(
                "'{}' is not a Managed HSM local role (roles: {})",
                printable(t),
                HSM_ROLES
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The refusal of a Managed HSM key operation: names the role to grant and how.
pub fn denied_hsm(
    caller: &Principal,
    perm: KeyPermission,
    hsm: &str,
    key: Option<&str>,
) -> VaultError {
    let who = match caller {
        Principal::User(u) => format!("-SignInName {u}"),
        Principal::ServicePrincipal(a) => format!("-ApplicationId {a}"),
        Principal::ObjectId(o) => format!("-ObjectId {o}"),
    };
    let role = if [K::Get, K::WrapKey, K::UnwrapKey].contains(&perm)
        && !matches!(caller, Principal::User(_))
    {
        "Managed HSM Crypto Service Encryption User"
    } else if HSM_KEYS_USER.contains(&perm) {
        "Managed HSM Crypto User"
    } else {
        "Managed HSM Crypto Officer"
    };
    let scope = key.map_or("/keys".to_string(), |k| format!("/keys/{k}"));
    VaultError::AccessDenied(format!(
        "{} ({}) is not allowed to {perm} keys of Managed HSM '{hsm}': no local role assignment at {scope} or above grants it; \
         a Managed HSM Administrator can run New-AzKeyVaultRoleAssignment -HsmName {hsm} {who} -RoleDefinitionName '{role}' -Scope /keys",
        caller.display_name(),
        caller.kind()
    ))
}

/// The role named `name` (case-insensitive) or with id `name` (a GUID, or
/// `/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`).
pub fn role(name_or_id: &str) -> VaultResult<&'static RoleDefinition> {
    let t = name_or_id.trim();
    let id = t.rsplit('/').next().unwrap_or(t);
    ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(t) || r.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            VaultError::Invalid(format!(
                "'{}' is not a built-in role here (roles: {})",
                printable(t),
                ROLES.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
            ))
        })
}

/// A scope: `/subscriptions/{s}`, `/subscriptions/{s}/resourceGroups/{g}`,
/// `.../providers/Microsoft.KeyVault/vaults/{v}` or `.../vaults/{v}/keys/{k}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub subscription: String,
    pub resource_group: Option<String>,
    pub vault: Option<String>,
    pub key: Option<String>,
}

impl Scope {
    /// Parses a scope (segment names case-insensitively, as ARM does).
    pub fn parse(s: &str) -> VaultResult<Scope> {
        let bad = || {
            VaultError::Invalid(format!(
                "'{}' is not a scope: give /subscriptions/{{id}}, /subscriptions/{{id}}/resourceGroups/{{rg}}, \
                 .../providers/Microsoft.KeyVault/vaults/{{name}} or .../vaults/{{name}}/keys/{{key}}",
                printable(s)
            ))
        };
        let parts: Vec<&str> = s.trim().trim_end_matches('/').split('/').collect();
        if parts.first() != Some(&"") || parts.iter().skip(1).any(|p| p.is_empty() || p.len() > 127)
        {
            return Err(bad());
        }
        let p = &parts[1..];
        let eq = |i: usize, w: &str| p.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        if !eq(0, "subscriptions") || p.len() < 2 {
            return Err(bad());
        }
        let mut sc = Scope {
            subscription: p[1].to_string(),
            resource_group: None,
            vault: None,
            key: None,
        };
        match p.len() {
            2 => {}
            4 if eq(2, "resourceGroups") => sc.resource_group = Some(p[3].to_string()),
            8 | 10
                if eq(2, "resourceGroups")
                    && eq(4, "providers")
                    && eq(5, "Microsoft.KeyVault")
                    && eq(6, "vaults")
                    && (p.len() == 8 || eq(8, "keys")) =>
            {
                sc.resource_group = Some(p[3].to_string());
                sc.vault = Some(p[7].to_string());
                sc.key = p.get(9).map(|k| k.to_string());
            }
            _ => return Err(bad()),
        }
        if p.iter()
            .any(|x| x.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(bad());
        }
        Ok(sc)
    }

    /// The scope of a vault.
    pub fn vault(subscription: &str, resource_group: &str, vault: &str) -> Scope {
        Scope {
            subscription: subscription.into(),
            resource_group: Some(resource_group.into()),
            vault: Some(vault.into()),
            key: None,
        }
    }

    /// This vault scope narrowed to one key.
    pub fn with_key(&self, key: &str) -> Scope {
        Scope {
            key: Some(key.into()),
            ..self.clone()
        }
    }

    /// Whether `self` is `other` or above it.
    pub fn covers(&self, other: &Scope) -> bool {
        fn part(a: &Option<String>, b: &Option<String>) -> Option<bool> {
            match (a, b) {
                (None, _) => None,
                (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => Some(true),
                _ => Some(false),
            }
        }
        if !self.subscription.eq_ignore_ascii_case(&other.subscription) {
            return false;
        }
        for (a, b) in [
            (&self.resource_group, &other.resource_group),
            (&self.vault, &other.vault),
            (&self.key, &other.key),
        ] {
            match part(a, b) {
                None => return true,
                Some(false) => return false,
                Some(true) => {}
            }
        }
        true
    }

    /// Whether the scope is a subscription or resource group (kept by the service, not a vault).
    pub fn above_vaults(&self) -> bool {
        self.vault.is_none()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/subscriptions/{}", self.subscription)?;
        if let Some(g) = &self.resource_group {
            write!(f, "/resourceGroups/{g}")?;
        }
        if let Some(v) = &self.vault {
            write!(f, "/providers/Microsoft.KeyVault/vaults/{v}")?;
        }
        if let Some(k) = &self.key {
            write!(f, "/keys/{k}")?;
        }
        Ok(())
    }
}

/// One role assignment as kept (in a vault file for vault and key scopes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The assignment's GUID (the last segment of `RoleAssignmentId`).
    pub id: String,
    /// The scope, as [`Scope`] prints it.
    pub scope: String,
    /// The role definition GUID.
    pub role_definition_id: String,
    /// Whom it names.
    pub principal: Principal,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created: DateTime<Utc>,
}

impl RoleAssignment {
    /// A new assignment with a fresh id.
    pub fn new(scope: &Scope, role: &RoleDefinition, principal: &Principal, by: &str) -> Self {
        RoleAssignment {
            id: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_string(),
            role_definition_id: role.id.to_string(),
            principal: principal.clone(),
            created_by: by.to_string(),
            created: Utc::now(),
        }
    }

    /// Its role, if it names a known one.
    pub fn role(&self) -> Option<&'static RoleDefinition> {
        all_roles().find(|r| r.id.eq_ignore_ascii_case(&self.role_definition_id))
    }

    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{id}`.
    pub fn role_assignment_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope, self.id
        )
    }

    pub(crate) fn applies(
        &self,
        caller: &Principal,
        target: &Scope,
    ) -> Option<&'static RoleDefinition> {
        if !self.principal.same_as(caller) {
            return None;
        }
        let scope = Scope::parse(&self.scope).ok()?;
        scope.covers(target).then(|| self.role()).flatten()
    }
}

/// Whether `assignments` give `caller` management action `m` at `target`.
pub fn allows_manage(
    assignments: &[RoleAssignment],
    caller: &Principal,
    target: &Scope,
    m: Manage,
) -> bool {
    assignments
        .iter()
        .filter_map(|a| a.applies(caller, target))
        .any(|r| r.manage.contains(&m))
}

/// Whether `assignments` give `caller` the key data action for `perm` at `target`.
pub fn allows_key(
    assignments: &[RoleAssignment],
    caller: &Principal,
    target: &Scope,
    perm: KeyPermission,
) -> bool {
    assignments
        .iter()
        .filter_map(|a| a.applies(caller, target))
        .any(|r| r.keys.contains(&perm))
}

/// The narrowest role that allows `m` (for advice).
pub fn role_for_manage(m: Manage) -> &'static str {
    match m {
        Manage::Read => "Reader",
        Manage::Write => "Key Vault Contributor",
        Manage::Authorize => "Owner",
    }
}

/// The narrowest role that allows `perm` (for advice).
pub fn role_for_key(perm: KeyPermission) -> &'static str {
    [
        "Key Vault Crypto Service Encryption User",
        "Key Vault Crypto User",
        "Key Vault Crypto Officer",
    ]
    .into_iter()
    .find(|n| role(n).is_ok_and(|r| r.keys.contains(&perm)))
    .unwrap_or("Key Vault Administrator")
}

/// The refusal: names the caller, the operation, the scope and the role that would allow it.
pub fn denied(caller: &Principal, what: &str, target: &Scope, role: &str) -> VaultError {
    let who = match caller {
        Principal::User(u) => format!("-SignInName {u}"),
        Principal::ServicePrincipal(a) => format!("-ApplicationId {a}"),
        Principal::ObjectId(o) => format!("-ObjectId {o}"),
    };
    VaultError::AccessDenied(format!(
        "{} ({}) is not allowed to {what} at scope {target}: no role assignment there or above grants it; \
         ask an Owner of {target} to run New-AzRoleAssignment {who} -RoleDefinitionName '{role}' -Scope {target}",
        caller.display_name(),
        caller.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_nest() {
        let v = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/V1";
        let sv = Scope::parse(v).unwrap();
        assert_eq!(sv.to_string(), v);
        let k = Scope::parse(&format!("{v}/keys/K")).unwrap();
        let s = Scope::parse("/subscriptions/s1").unwrap();
        let g = Scope::parse("/subscriptions/s1/resourcegroups/rg").unwrap();
        assert!(s.covers(&sv) && s.covers(&k) && g.covers(&k) && sv.covers(&k) && k.covers(&k));
        assert!(!k.covers(&sv) && !sv.covers(&s));
        assert!(!Scope::parse("/subscriptions/s2").unwrap().covers(&sv));
        assert!(!sv.covers(
            &Scope::parse(
                "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/V2"
            )
            .unwrap()
        ));
        for bad in [
            "",
            "/",
            "subscriptions/s",
            "/subscriptions",
            "/subscriptions/s/x",
            "/subscriptions/s//resourceGroups",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_by_name_and_id() {
        assert_eq!(
            role("key vault crypto officer").unwrap().id,
            "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
        );
        assert_eq!(role("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635").unwrap().name, "Owner");
        assert!(role("God").is_err());
        assert_eq!(
            role_for_key(KeyPermission::WrapKey),
            "Key Vault Crypto Service Encryption User"
        );
        assert_eq!(
            role_for_key(KeyPermission::Purge),
            "Key Vault Crypto Officer"
        );
    }
}
