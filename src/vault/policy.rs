//! Principals (who calls), key permissions (what an access policy grants) and access policies.

use serde::{Deserialize, Serialize};

use super::error::VaultError;
use crate::model::principal::dedup_keep_order;
pub use crate::model::principal::{
    service_principal_display_name, KeyPermission, Principal, EXCHANGE_ONLINE_APP_ID,
    KNOWN_SERVICE_PRINCIPALS, M365_DATA_AT_REST_APP_ID, SHAREPOINT_ONLINE_APP_ID,
};

/// The principal an operation is performed as.
pub type Caller = Principal;

/// One access policy as stored: a principal and the key permissions it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// Whom the policy names.
    pub principal: Principal,
    /// What it grants on keys.
    pub permissions_to_keys: Vec<KeyPermission>,
}

/// One access policy as `Get-AzKeyVault` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessPolicyEntry {
    /// `User`, `ServicePrincipal` or `ObjectId`.
    pub principal_type: String,
    /// The object id, for a policy set by object id.
    pub object_id: Option<String>,
    /// The application id, for a service principal.
    pub application_id: Option<String>,
    /// The UPN, for a user.
    pub user_principal_name: Option<String>,
    /// UPN, service principal name with its app id, or object id.
    pub display_name: String,
    /// Key permissions, Azure's spelling.
    pub permissions_to_keys: Vec<KeyPermission>,
    /// The same, joined as `Get-AzKeyVault` prints "Permissions to Keys" (`wrapKey, unwrapKey, get`).
    pub permissions_to_keys_str: String,
}

impl From<&AccessPolicy> for AccessPolicyEntry {
    fn from(p: &AccessPolicy) -> Self {
        let (object_id, application_id, upn) = match &p.principal {
            Principal::User(u) => (None, None, Some(u.clone())),
            Principal::ServicePrincipal(a) => (None, Some(a.clone()), None),
            Principal::ObjectId(o) => (Some(o.clone()), None, None),
        };
        AccessPolicyEntry {
            principal_type: p.principal.kind().to_string(),
            object_id,
            application_id,
            user_principal_name: upn,
            display_name: p.principal.display_name(),
            permissions_to_keys: p.permissions_to_keys.clone(),
            permissions_to_keys_str: p
                .permissions_to_keys
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Does any policy in `policies` grant `perm` to `caller`?
pub fn is_granted(policies: &[AccessPolicy], caller: &Principal, perm: KeyPermission) -> bool {
    policies
        .iter()
        .any(|p| p.principal.same_as(caller) && p.permissions_to_keys.contains(&perm))
}

/// Replace (or add) the policy for `principal` with exactly `perms` (Set-AzKeyVaultAccessPolicy
/// with `-PermissionsToKeys` sets the principal's key permissions to the list given).
pub fn set_policy(
    policies: &mut Vec<AccessPolicy>,
    principal: &Principal,
    perms: &[KeyPermission],
) {
    let perms = dedup_keep_order(perms.to_vec());
    if let Some(p) = policies.iter_mut().find(|p| p.principal.same_as(principal)) {
        p.permissions_to_keys = perms;
    } else {
        policies.push(AccessPolicy {
            principal: principal.clone(),
            permissions_to_keys: perms,
        });
    }
}

/// Remove the policy for `principal`; false if there was none.
pub fn remove_policy(policies: &mut Vec<AccessPolicy>, principal: &Principal) -> bool {
    let before = policies.len();
    policies.retain(|p| !p.principal.same_as(principal));
    policies.len() != before
}

/// The standard AccessDenied error.
pub(crate) fn denied(caller: &Principal, perm: KeyPermission, vault: &str) -> VaultError {
    VaultError::AccessDenied(format!(
        "the access policy of vault '{vault}' does not grant '{perm}' to {} ({})",
        caller.display_name(),
        caller.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse() {
        let p = KeyPermission::parse_list(&["wrapKey,unwrapKey", "GET", "get"]).unwrap();
        assert_eq!(
            p,
            vec![
                KeyPermission::WrapKey,
                KeyPermission::UnwrapKey,
                KeyPermission::Get
            ]
        );
        assert_eq!(KeyPermission::parse_list(&["all"]).unwrap().len(), 19);
        let e = KeyPermission::parse_list(&["get,fly"]).unwrap_err();
        let e = VaultError::from(e);
        assert_eq!(e.class(), crate::vault::ErrorClass::Invalid);
        assert!(e.message().contains("fly"));
    }

    #[test]
    fn principals() {
        let sp = Principal::service_principal("office 365 exchange online").unwrap();
        assert_eq!(
            sp,
            Principal::ServicePrincipal(EXCHANGE_ONLINE_APP_ID.into())
        );
        assert_eq!(
            sp.display_name(),
            "Office 365 Exchange Online (00000002-0000-0ff1-ce00-000000000000)"
        );
        let sp2 = Principal::service_principal("C066D759-24AE-40E7-A56F-027002B5D3E4").unwrap();
        assert_eq!(
            service_principal_display_name(sp2.value()),
            Some("M365DataAtRestEncryption")
        );
        assert!(Principal::service_principal("Nobody").is_err());
        assert!(Principal::user("no-at-sign").is_err());
        assert!(Principal::user("a@b@c").is_err());
        assert!(Principal::object_id("123").is_err());
        let u = Principal::user("Admin@Contoso.com").unwrap();
        assert!(u.same_as(&Principal::user("admin@contoso.com").unwrap()));
        assert!(!u.same_as(&sp));
    }

    #[test]
    fn policies_set_replace_remove() {
        let sp = Principal::service_principal(SHAREPOINT_ONLINE_APP_ID).unwrap();
        let mut v = Vec::new();
        set_policy(&mut v, &sp, &[KeyPermission::Get, KeyPermission::WrapKey]);
        assert!(is_granted(&v, &sp, KeyPermission::WrapKey));
        set_policy(&mut v, &sp, &[KeyPermission::Get]);
        assert!(!is_granted(&v, &sp, KeyPermission::WrapKey));
        assert_eq!(v.len(), 1);
        let entry = AccessPolicyEntry::from(&v[0]);
        assert_eq!(
            entry.display_name,
            format!("Office 365 SharePoint Online ({SHAREPOINT_ONLINE_APP_ID})")
        );
        assert!(remove_policy(&mut v, &sp));
        assert!(!remove_policy(&mut v, &sp));
    }
}
