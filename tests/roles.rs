//! Roles and the management plane, through the binary: every step of an attacker with no role
//! is refused and audited; an Owner grants roles and the grantee can then act, with scopes
//! inherited downward; RBAC vaults authorize the data plane (the service principals included)
//! by role assignments; a role record forged in the store grants nothing.

mod common;

use common::{audit_operations, store_exec_args, store_rows, Env, EXO};

const ADMIN: &str = "admin@contoso.onmicrosoft.com";
const MALLORY: &str = "mallory@contoso.com";

/// Signs in as `upn` with its own key: the owner with its generated identity; anyone else
/// registered first (by the owner) with a key made for it.
fn as_user(e: &Env, upn: &str) {
    if upn == "admin@contoso.onmicrosoft.com" {
        e.connect_owner();
        return;
    }
    let known = store_rows(
        e,
        "SELECT count(*) FROM principal WHERE upn_key = lower(?1)",
        &[upn.into()],
    )[0][0]
        .int();
    if known == 0 {
        let current = store_rows(e, "SELECT value FROM setting WHERE key = 'az.account'", &[])
            .first()
            .map(|r| r[0].text());
        e.connect_owner();
        e.register(upn);
        if let Some(prev) = current.filter(|p| p != "admin@contoso.onmicrosoft.com") {
            e.connect(&prev);
        }
    }
    e.connect(upn);
}

fn vault_scope(e: &Env, vault: &str) -> String {
    e.json(&["Get-AzKeyVault", "-VaultName", vault])["ResourceId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sub_id(e: &Env, name: &str) -> String {
    e.json(&["Set-AzContext", "-Subscription", name])["SubscriptionId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The vault's audit records of `caller` that were refused.
fn denied_in_vault(e: &Env, vault: &str, caller: &str) -> Vec<String> {
    let v = e.json(&[
        "Get-AzKeyVaultAuditLog",
        "-VaultName",
        vault,
        "-Caller",
        caller,
    ]);
    let items = match v {
        serde_json::Value::Array(a) => a,
        o => vec![o],
    };
    items
        .iter()
        .filter(|r| r["Result"] == "AccessDenied")
        .map(|r| r["Operation"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn refused(e: &Env, args: &[&str]) -> String {
    let err = e.fails(args, 1);
    assert!(err.contains(MALLORY), "{args:?}: {err}");
    err
}

#[test]
fn an_account_without_a_role_is_refused_at_every_step_and_audited() {
    let e = Env::new();
    e.setup();
    // A vault to remove and purge, and a deleted key in it to purge.
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "contoso-test",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-test",
        "-Name",
        "K",
        "-Destination",
        "Software",
    ]);
    e.ok(&[
        "Remove-AzKeyVaultKey",
        "-VaultName",
        "contoso-test",
        "-Name",
        "K",
        "-Force",
    ]);
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "contoso-gone",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    e.ok(&["Remove-AzKeyVault", "-VaultName", "contoso-gone", "-Force"]);
    let va1 = vault_scope(&e, "contoso-ck-va1");

    as_user(&e, MALLORY);
    // Grant yourself every key permission.
    let err = refused(
        &e,
        &[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va1",
            "-UserPrincipalName",
            MALLORY,
            "-PermissionsToKeys",
            "all",
        ],
    );
    assert!(err.contains(&va1) && err.contains("New-AzRoleAssignment -SignInName mallory@contoso.com -RoleDefinitionName 'Key Vault Contributor'"), "{err}");
    assert!(err.contains("SetAccessPolicy"), "{err}");
    // Back up a root key, or make a vault of your own in the subscription to restore it into.
    let err = refused(
        &e,
        &[
            "Backup-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
            "-OutputFile",
            "stolen.backup",
        ],
    );
    assert!(err.contains("'backup'"), "{err}");
    assert!(!e.path("stolen.backup").exists());
    let err = refused(
        &e,
        &[
            "New-AzKeyVault",
            "-VaultName",
            "mallory-vault",
            "-ResourceGroupName",
            "contoso-ck-va1-rg",
            "-Location",
            "westus",
        ],
    );
    assert!(err.contains("CreateVault"), "{err}");
    refused(
        &e,
        &[
            "Restore-AzKeyVaultKey",
            "-VaultName",
            "contoso-test",
            "-InputFile",
            "Key001.backup",
        ],
    );
    // Remove the owner's policy; revoke or grant the service principal.
    refused(
        &e,
        &[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va1",
            "-UserPrincipalName",
            ADMIN,
        ],
    );
    refused(
        &e,
        &[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va1",
            "-ServicePrincipalName",
            EXO,
        ],
    );
    refused(
        &e,
        &[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va2",
            "-ServicePrincipalName",
            EXO,
            "-PermissionsToKeys",
            "get",
        ],
    );
    // Change, remove, purge a vault; purge a key.
    refused(
        &e,
        &[
            "Update-AzKeyVault",
            "-VaultName",
            "contoso-ck-va1",
            "-Tag",
            "x=y",
        ],
    );
    // Accept an older copy of a vault file (one that still had your access) as its latest.
    let err = refused(
        &e,
        &[
            "Update-AzKeyVault",
            "-VaultName",
            "contoso-ck-va1",
            "-AcceptRollback",
            "-Force",
        ],
    );
    assert!(err.contains("AcceptRollback"), "{err}");
    refused(
        &e,
        &[
            "Remove-AzKeyVault",
            "-VaultName",
            "contoso-ck-va1",
            "-Force",
        ],
    );
    refused(
        &e,
        &[
            "Remove-AzKeyVault",
            "-VaultName",
            "contoso-gone",
            "-InRemovedState",
            "-Force",
        ],
    );
    refused(
        &e,
        &["Undo-AzKeyVaultRemoval", "-VaultName", "contoso-gone"],
    );
    refused(
        &e,
        &[
            "Remove-AzKeyVaultKey",
            "-VaultName",
            "contoso-test",
            "-Name",
            "K",
            "-InRemovedState",
            "-Force",
        ],
    );
    // Make yourself Owner.
    let err = refused(
        &e,
        &[
            "New-AzRoleAssignment",
            "-SignInName",
            MALLORY,
            "-RoleDefinitionName",
            "Owner",
            "-Scope",
            &va1,
        ],
    );
    assert!(err.contains("create or remove role assignments"), "{err}");
    let sub1 = sub_id(&e, "Contoso-CK-Sub1");
    refused(
        &e,
        &[
            "New-AzRoleAssignment",
            "-SignInName",
            MALLORY,
            "-RoleDefinitionName",
            "Owner",
            "-Scope",
            &format!("/subscriptions/{sub1}"),
        ],
    );
    // The admin roles of the workloads.
    for args in [
        &["Set-DataEncryptionPolicy", "US Mailboxes", "-Description", "mine"][..],
        &["New-DataEncryptionPolicy", "-Name", "Mine", "-AzureKeyIDs", "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002"],
        &["Set-Mailbox", "-Identity", "alice", "-DataEncryptionPolicy", "US Mailboxes"],
        &["Set-OrganizationConfig", "-DataPurgeApprovers", MALLORY],
        &["Get-DataEncryptionPolicy"],
        &["New-M365DataAtRestEncryptionPolicy", "-Name", "M", "-AzureKeyIDs", "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002"],
    ] {
        let err = refused(&e, args);
        assert!(err.contains("not allowed to run") && err.contains("Organization Management"), "{args:?}: {err}");
        assert!(err.contains("Add-RoleGroupMember -Identity 'Organization Management' -Member mallory@contoso.com"), "{err}");
    }
    let err = refused(&e, &["Get-SPODataEncryptionPolicy"]);
    assert!(
        err.contains("SharePoint Administrator")
            && err.contains("New-MgRoleManagementDirectoryRoleAssignment"),
        "{err}"
    );
    refused(
        &e,
        &[
            "Add-RoleGroupMember",
            "-Identity",
            "Organization Management",
            "-Member",
            MALLORY,
        ],
    );
    refused(
        &e,
        &[
            "New-MgRoleManagementDirectoryRoleAssignment",
            "-PrincipalId",
            MALLORY,
            "-RoleDefinitionId",
            "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        ],
    );

    // Nothing changed, and every refusal is on record.
    as_user(&e, ADMIN);
    let v = e.json(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"]);
    let policies = v["AccessPolicies"].as_array().unwrap();
    assert!(policies.iter().all(|p| p["DisplayName"] != MALLORY));
    assert!(policies
        .iter()
        .any(|p| p["DisplayName"].as_str().unwrap().contains(EXO)));
    assert_eq!(
        e.json(&[
            "Get-AzKeyVault",
            "-VaultName",
            "contoso-gone",
            "-InRemovedState"
        ])["VaultName"],
        "contoso-gone"
    );
    let ops = denied_in_vault(&e, "contoso-ck-va1", MALLORY);
    for op in [
        "SetAccessPolicy",
        "BackupKey",
        "RemoveAccessPolicy",
        "UpdateVault",
        "RemoveVault",
        "NewRoleAssignment",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} not audited: {ops:?}");
    }
    assert!(denied_in_vault(&e, "contoso-test", MALLORY)
        .iter()
        .any(|o| o == "PurgeKey"));
    let unified = audit_operations(&e);
    for op in [
        "Set-DataEncryptionPolicy",
        "Set-OrganizationConfig",
        "Get-SPODataEncryptionPolicy",
        "Add-RoleGroupMember",
        "New-AzRoleAssignment",
    ] {
        assert!(
            unified.iter().any(|(o, p)| o == op
                && p["ResultStatus"] != "Succeeded"
                && !p["ResultStatus"].is_null()),
            "{op} refusal not in the unified audit log"
        );
    }
    assert!(unified
        .iter()
        .any(|(o, p)| o == "Bootstrap owner" && p["Owner"] == ADMIN));
}

#[test]
fn an_owner_grants_roles_and_they_are_inherited_downward() {
    let e = Env::new();
    e.setup();
    let va1 = vault_scope(&e, "contoso-ck-va1");
    let sub2 = sub_id(&e, "Contoso-CK-Sub2");
    let ops = "ops@contoso.com";
    let grant = |role: &str, scope: &str| {
        let a = e.json(&[
            "New-AzRoleAssignment",
            "-SignInName",
            ops,
            "-RoleDefinitionName",
            role,
            "-Scope",
            scope,
        ]);
        assert_eq!(a["RoleDefinitionName"], role);
        assert_eq!(a["SignInName"], ops);
        assert_eq!(a["Scope"], scope);
        assert_eq!(a["ObjectType"], "User");
        assert!(a["RoleAssignmentId"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/"
            )));
    };
    grant("Key Vault Contributor", &va1);
    let set = |vault: &str| -> std::process::Output {
        e.run(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            vault,
            "-UserPrincipalName",
            "helper@contoso.com",
            "-PermissionsToKeys",
            "get",
        ])
    };
    as_user(&e, ops);
    assert!(set("contoso-ck-va1").status.success());
    assert_eq!(
        set("contoso-ck-va2").status.code(),
        Some(1),
        "a vault-scope role does not reach another vault"
    );
    // A Contributor cannot grant roles.
    let err = e.fails(
        &[
            "New-AzRoleAssignment",
            "-SignInName",
            "x@contoso.com",
            "-RoleDefinitionName",
            "Reader",
            "-Scope",
            &va1,
        ],
        1,
    );
    assert!(err.contains("Owner"), "{err}");

    // A subscription-scope role reaches every vault in it.
    as_user(&e, ADMIN);
    grant("Contributor", &format!("/subscriptions/{sub2}"));
    // The current subscription (Sub2) shows the subscription's; the vault's in Sub1 shows there.
    let listed = e.json(&["Get-AzRoleAssignment", "-SignInName", ops]);
    assert_eq!(listed["RoleDefinitionName"], "Contributor", "{listed}");
    let listed = e.json(&["Get-AzRoleAssignment", "-SignInName", ops, "-Scope", &va1]);
    assert_eq!(
        listed["RoleDefinitionName"], "Key Vault Contributor",
        "{listed}"
    );
    as_user(&e, ops);
    assert!(set("contoso-ck-va2").status.success());
    // ... and it is gone when removed.
    as_user(&e, ADMIN);
    e.ok(&[
        "Remove-AzRoleAssignment",
        "-SignInName",
        ops,
        "-RoleDefinitionName",
        "Contributor",
        "-Scope",
        &format!("/subscriptions/{sub2}"),
    ]);
    e.ok(&[
        "Remove-AzRoleAssignment",
        "-SignInName",
        ops,
        "-RoleDefinitionName",
        "Key Vault Contributor",
        "-Scope",
        &va1,
    ]);
    as_user(&e, ops);
    assert_eq!(set("contoso-ck-va1").status.code(), Some(1));
    assert_eq!(set("contoso-ck-va2").status.code(), Some(1));
    let unified = audit_operations(&e);
    assert!(unified
        .iter()
        .any(|(o, p)| o == "Remove-AzRoleAssignment" && p["RoleDefinitionName"] == "Contributor"));

    // Exchange and SharePoint admin roles.
    let ex = "exadmin@contoso.com";
    as_user(&e, ex);
    assert_eq!(
        e.run(&["Set-OrganizationConfig", "-DataPurgeApprovers", ex])
            .status
            .code(),
        Some(1)
    );
    as_user(&e, ADMIN);
    e.ok(&[
        "Add-RoleGroupMember",
        "-Identity",
        "Organization Management",
        "-Member",
        ex,
    ]);
    e.ok(&[
        "Add-RoleGroupMember",
        "-Identity",
        "View-Only Organization Management",
        "-Member",
        "auditor@contoso.com",
    ]);
    let members = e.json(&[
        "Get-RoleGroupMember",
        "-Identity",
        "Organization Management",
    ]);
    assert!(
        members.as_array().unwrap().iter().any(|m| m["Name"] == ex),
        "{members}"
    );
    as_user(&e, ex);
    e.ok(&["Set-OrganizationConfig", "-DataPurgeApprovers", ex]);
    as_user(&e, "auditor@contoso.com");
    e.ok(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
    assert_eq!(
        e.run(&[
            "Set-DataEncryptionPolicy",
            "US Mailboxes",
            "-Description",
            "x"
        ])
        .status
        .code(),
        Some(1)
    );
    as_user(&e, ADMIN);
    e.ok(&[
        "Remove-RoleGroupMember",
        "-Identity",
        "Organization Management",
        "-Member",
        ex,
        "-Confirm:$false",
    ]);
    as_user(&e, ex);
    assert_eq!(
        e.run(&["Set-OrganizationConfig", "-DataPurgeApprovers", ex])
            .status
            .code(),
        Some(1)
    );

    let sp = "spadmin@contoso.com";
    as_user(&e, sp);
    assert!(e
        .fails(&["Get-SPODataEncryptionPolicy"], 1)
        .contains("SharePoint Administrator"));
    as_user(&e, ADMIN);
    let a = e.json(&[
        "New-MgRoleManagementDirectoryRoleAssignment",
        "-PrincipalId",
        sp,
        "-RoleDefinitionId",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "-DirectoryScopeId",
        "/",
    ]);
    assert_eq!(
        a["RoleDefinitionId"],
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c"
    );
    as_user(&e, sp);
    let out = e.run(&["Get-SPODataEncryptionPolicy"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("not allowed"),
        "{out:?}"
    );
}

#[test]
fn rbac_vaults_authorize_keys_by_role_and_serve_the_service_principals() {
    let e = Env::new();
    let mut uris = Vec::new();
    for (sub, vault, key, loc) in [
        ("Contoso-CK-Sub1", "contoso-rbac1", "Key001", "westus"),
        ("Contoso-CK-Sub2", "contoso-rbac2", "Key002", "centralus"),
    ] {
        e.ok(&["Set-AzContext", "-Subscription", sub]);
        e.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        e.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            vault,
            "-ResourceGroupName",
            "rg",
            "-Location",
            loc,
            "-Sku",
            "Premium",
            "-EnableRbacAuthorization",
        ]);
        let scope = vault_scope(&e, vault);
        // Access policies do not apply to an RBAC vault.
        let err = e.fails(
            &[
                "Set-AzKeyVaultAccessPolicy",
                "-VaultName",
                vault,
                "-ServicePrincipalName",
                EXO,
                "-PermissionsToKeys",
                "wrapKey,unwrapKey,get",
            ],
            1,
        );
        assert!(
            err.contains("role-based access control") && err.contains("New-AzRoleAssignment"),
            "{err}"
        );
        // The Owner manages the vault but holds no data role: keys need one.
        let err = e.fails(
            &[
                "Add-AzKeyVaultKey",
                "-VaultName",
                vault,
                "-Name",
                key,
                "-Destination",
                "HSM",
            ],
            1,
        );
        assert!(err.contains("Key Vault Crypto Officer"), "{err}");
        e.ok(&[
            "New-AzRoleAssignment",
            "-SignInName",
            ADMIN,
            "-RoleDefinitionName",
            "Key Vault Crypto Officer",
            "-Scope",
            &scope,
        ]);
        e.ok(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-Destination",
            "HSM",
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
        e.ok(&[
            "Update-AzKeyVaultKey",
            "-VaultName",
            vault,
            "-Name",
            key,
            "-Expires",
            "12/31/9999",
        ]);
        // The service principal on the key in one vault, on the vault in the other.
        let sp_scope = if vault == "contoso-rbac1" {
            format!("{scope}/keys/{key}")
        } else {
            scope.clone()
        };
        e.ok(&[
            "New-AzRoleAssignment",
            "-ApplicationId",
            EXO,
            "-RoleDefinitionName",
            "Key Vault Crypto Service Encryption User",
            "-Scope",
            &sp_scope,
        ]);
        // A reader sees keys, cannot back them up or use them.
        e.ok(&[
            "New-AzRoleAssignment",
            "-SignInName",
            "reader@contoso.com",
            "-RoleDefinitionName",
            "Key Vault Reader",
            "-Scope",
            &scope,
        ]);
        as_user(&e, "reader@contoso.com");
        e.ok(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
        let err = e.fails(
            &[
                "Backup-AzKeyVaultKey",
                "-VaultName",
                vault,
                "-Name",
                key,
                "-OutputFile",
                "r.backup",
            ],
            1,
        );
        assert!(err.contains("backup keys"), "{err}");
        as_user(&e, ADMIN);
        uris.push(format!("https://{vault}.vault.azure.net/keys/{key}"));
    }
    // Exchange Online wraps and unwraps through its role assignments.
    let dep = e.json(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "RBAC Mailboxes",
        "-AzureKeyIDs",
        &uris.join(","),
    ]);
    assert_eq!(dep["State"], "Active");
    let t = e.run(&["Test-DataEncryptionPolicy", "RBAC Mailboxes"]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    // A data purge is refused while the service still holds its role on a vault.
    let purge = [
        "Set-DataEncryptionPolicy",
        "RBAC Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Leaving",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
        "-Confirm:false",
    ];
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        "admin@contoso.onmicrosoft.com",
    ]);
    let err = e.fails(&purge, 1);
    assert!(
        err.contains("still holds 'Key Vault Crypto Service Encryption User'")
            && err.contains("Remove-AzRoleAssignment"),
        "{err}"
    );
    // Revoked on both vaults, the keys refuse it.
    let s1 = vault_scope(&e, "contoso-rbac1");
    e.ok(&[
        "Remove-AzRoleAssignment",
        "-ApplicationId",
        EXO,
        "-RoleDefinitionName",
        "Key Vault Crypto Service Encryption User",
        "-Scope",
        &format!("{s1}/keys/Key001"),
    ]);
    let s2 = vault_scope(&e, "contoso-rbac2");
    e.ok(&[
        "Remove-AzRoleAssignment",
        "-ApplicationId",
        EXO,
        "-RoleDefinitionName",
        "Key Vault Crypto Service Encryption User",
        "-Scope",
        &s2,
    ]);
    let t = e.run(&["Test-DataEncryptionPolicy", "RBAC Mailboxes"]);
    assert_eq!(t.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&t.stdout),
        String::from_utf8_lossy(&t.stderr)
    );
    assert!(text.contains("AccessDenied"), "{text}");
    e.ok(&purge);
}

#[test]
fn a_role_record_forged_in_the_store_grants_nothing() {
    let e = Env::new();
    e.setup();
    // Mallory writes himself into Organization Management and as subscription Owner, keeping
    // the old MAC (he does not hold the service master key).
    let state = store_rows(
        &e,
        "SELECT value FROM setting WHERE key = 'roles.state'",
        &[],
    )[0][0]
        .text();
    assert!(state.contains(ADMIN));
    let forged = state.replace(ADMIN, MALLORY);
    assert_eq!(
        store_exec_args(
            &e,
            "UPDATE setting SET value = ?1 WHERE key = 'roles.state'",
            &[(&forged).into()],
        ),
        1
    );
    as_user(&e, MALLORY);
    let err = e.fails(
        &["Set-OrganizationConfig", "-DataPurgeApprovers", MALLORY],
        1,
    );
    assert!(err.contains("failed its authentication"), "{err}");
    e.fails(
        &[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va1",
            "-UserPrincipalName",
            MALLORY,
            "-PermissionsToKeys",
            "all",
        ],
        1,
    );
    e.fails(
        &[
            "New-AzRoleAssignment",
            "-SignInName",
            MALLORY,
            "-RoleDefinitionName",
            "Owner",
        ],
        1,
    );
    // Nor does dropping the record to be bootstrapped again: the vaults still name their owner.
    common::store_exec(&e, "DELETE FROM setting WHERE key = 'roles.state'");
    e.fails(
        &[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            "contoso-ck-va1",
            "-UserPrincipalName",
            MALLORY,
            "-PermissionsToKeys",
            "all",
        ],
        1,
    );
    e.fails(
        &["Set-OrganizationConfig", "-DataPurgeApprovers", MALLORY],
        1,
    );
    assert!(!audit_operations(&e)
        .iter()
        .any(|(o, p)| o == "Bootstrap owner" && p["Owner"] == MALLORY));
    // The vault's owner still owns it.
    as_user(&e, ADMIN);
    e.ok(&[
        "Update-AzKeyVault",
        "-VaultName",
        "contoso-ck-va1",
        "-Tag",
        "owner=admin",
    ]);
}
