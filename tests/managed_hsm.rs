//! Managed HSMs through the real binary, on SoftHSM2 tokens: New-/Get-/Update-/
//! Remove-AzKeyVaultManagedHsm, local RBAC (New-/Get-/Remove-AzKeyVaultRoleAssignment), the
//! key cmdlets with -HsmName, `https://<hsm>.managedhsm.azure.net/keys/...` ids in a mailbox
//! DEP beside a vault key (mail round trip, revocation by the role assignment and by disabling
//! the key), unknown or mismatched ids refused, and SharePoint's -KeyVaultType ManagedHSM.
//! Each test has its own SOFTHSM2_CONF and token.

mod common;
mod softhsm;

use common::files;

const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";
const SPO: &str = "00000003-0000-0ff1-ce00-000000000000";
const ADMIN: &str = "admin@contoso.onmicrosoft.com";
const TOKEN: &str = "ck-mhsm";
const HSM: &str = "contoso-ck-hsm1";
const VAULT: &str = "contoso-ck-va1";
const SERVICE_ROLE: &str = "Managed HSM Crypto Service Encryption User";

struct Env {
    e: common::Env,
    module: String,
}

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.e
    }
}

impl Env {
    /// A store with its own SoftHSM2 configuration and token, or `None` (reason printed) when
    /// SoftHSM2 is not installed.
    fn new() -> Option<Env> {
        let module = softhsm::module()?;
        let mut e = common::Env::new();
        let conf = softhsm::write_conf(&e.dir.path().join("hsm"));
        softhsm::init_token(&conf, TOKEN);
        e.extra
            .push(("SOFTHSM2_CONF".into(), conf.to_string_lossy().into_owned()));
        e.extra
            .push(("CUSTKEY_PKCS11_PIN".into(), softhsm::PIN.into()));
        Some(Env {
            e,
            module: module.to_string_lossy().into_owned(),
        })
    }

    fn subscription(&self, sub: &str) {
        self.ok(&["Set-AzContext", "-Subscription", sub]);
        self.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
    }

    /// A Managed HSM on token `token` (initialised here unless it is [`TOKEN`]), not activated.
    fn new_hsm(&self, name: &str, token: &str) -> serde_json::Value {
        if token != TOKEN {
            softhsm::init_token(&self.dir.path().join("hsm/softhsm2.conf"), token);
        }
        self.json(&[
            "New-AzKeyVaultManagedHsm",
            "-Name",
            name,
            "-ResourceGroupName",
            &format!("{name}-rg"),
            "-Location",
            "eastus",
            "-Administrator",
            ADMIN,
            "-SoftDeleteRetentionInDays",
            "90",
            "-EnablePurgeProtection",
            "-Pkcs11Module",
            &self.module,
            "-TokenLabel",
            token,
        ])
    }

    /// `n` security-domain key pairs made as Microsoft's guide makes them
    /// (`openssl req -newkey rsa:<bits> -nodes -keyout sdN.key -x509 -out sdN.cer`): (cer, key).
    fn key_pairs(&self, tag: &str, n: usize, bits: u32) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                let cer = self.path(&format!("{tag}{i}.cer"));
                let key = self.path(&format!("{tag}{i}.key"));
                let out = std::process::Command::new("openssl")
                    .args([
                        "req",
                        "-newkey",
                        &format!("rsa:{bits}"),
                        "-nodes",
                        "-keyout",
                    ])
                    .arg(&key)
                    .args([
                        "-x509",
                        "-days",
                        "365",
                        "-subj",
                        &format!("/CN={tag}{i}"),
                        "-out",
                    ])
                    .arg(&cer)
                    .output()
                    .expect("run openssl");
                assert!(
                    out.status.success(),
                    "openssl: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                (
                    cer.to_string_lossy().into_owned(),
                    key.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// `Export-AzKeyVaultSecurityDomain` to `pairs` with `quorum`: the file's path.
    fn activate(&self, hsm: &str, pairs: &[(String, String)], quorum: usize) -> String {
        let out = self.path(&format!("{hsm}.sd.json"));
        let certs: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
        self.ok(&[
            "Export-AzKeyVaultSecurityDomain",
            "-Name",
            hsm,
            "-Certificates",
            &certs.join(","),
            "-OutputPath",
            out.to_str().unwrap(),
            "-Quorum",
            &quorum.to_string(),
        ]);
        out.to_string_lossy().into_owned()
    }

    /// `Import-AzKeyVaultSecurityDomain -Keys @{PublicKey=..; PrivateKey=..},...` as a script
    /// line; the command's output.
    fn import_domain(
        &self,
        hsm: &str,
        pairs: &[(String, String)],
        file: &str,
    ) -> std::process::Output {
        let keys: Vec<String> = pairs
            .iter()
            .map(|(c, k)| format!("@{{PublicKey='{c}'; PrivateKey='{k}'}}"))
            .collect();
        self.run(&[
            "-Command",
            &format!(
                "Import-AzKeyVaultSecurityDomain -Name {hsm} -Keys {} -SecurityDomainPath '{file}'",
                keys.join(", ")
            ),
        ])
    }

    /// A Managed HSM in its own subscription, activated (its security domain downloaded to
    /// three key pairs, quorum 2), the signed-in admin its Administrator and Crypto User, with
    /// key `key`; `service` (if any) granted the service encryption role.
    fn hsm(&self, sub: &str, name: &str, key: &str, service: Option<&str>) -> String {
        self.subscription(sub);
        self.hsm_on(name, TOKEN, key, service)
    }

    /// [`Env::hsm`] in the current subscription, on token `token`.
    fn hsm_on(&self, name: &str, token: &str, key: &str, service: Option<&str>) -> String {
        let made = self.new_hsm(name, token);
        assert_eq!(made["SecurityDomain"]["ActivationStatus"], "NotActivated");
        let pairs = self.key_pairs(name, 3, 2048);
        self.activate(name, &pairs, 2);
        assert_eq!(
            made["HsmUri"],
            format!("https://{name}.managedhsm.azure.net/")
        );
        self.ok(&[
            "New-AzKeyVaultRoleAssignment",
            "-HsmName",
            name,
            "-RoleDefinitionName",
            "Managed HSM Crypto User",
            "-SignInName",
            ADMIN,
        ]);
        if let Some(app) = service {
            self.grant(name, app);
        }
        let k = self.json(&[
            "Add-AzKeyVaultKey",
            "-HsmName",
            name,
            "-Name",
            key,
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
        assert_eq!(k["KeyType"], "RSA-HSM");
        k["Id"].as_str().unwrap().to_string()
    }

    fn grant(&self, hsm: &str, app: &str) {
        self.ok(&[
            "New-AzKeyVaultRoleAssignment",
            "-HsmName",
            hsm,
            "-RoleDefinitionName",
            SERVICE_ROLE,
            "-ApplicationId",
            app,
            "-Scope",
            "/keys",
        ]);
    }

    fn revoke(&self, hsm: &str, app: &str) {
        self.ok(&[
            "Remove-AzKeyVaultRoleAssignment",
            "-HsmName",
            hsm,
            "-RoleDefinitionName",
            SERVICE_ROLE,
            "-ApplicationId",
            app,
            "-Scope",
            "/keys",
        ]);
    }

    /// A local vault in its own subscription whose key `app` may use.
    fn vault(&self, sub: &str, name: &str, key: &str, app: &str) -> String {
        self.subscription(sub);
        self.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            name,
            "-ResourceGroupName",
            &format!("{name}-rg"),
            "-Location",
            "westus",
            "-Sku",
            "Premium",
        ]);
        self.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            name,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
            "-ServicePrincipalName",
            app,
        ]);
        let k = self.json(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            name,
            "-Name",
            key,
            "-Destination",
            "HSM",
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
        k["Id"].as_str().unwrap().to_string()
    }

    /// Each key's Result (the command exits 1 when one fails; its output still lists them).
    fn test_results(&self) -> Vec<String> {
        let out = self.run(&[
            "Test-DataEncryptionPolicy",
            "US Mailboxes",
            "-Format",
            "Json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["Result"].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn a_mailbox_dep_over_a_managed_hsm_key_and_a_vault_key_round_trips_and_revocation_holds() {
    let Some(e) = Env::new() else { return };
    let hsm_key = e.hsm("Contoso-CK-Sub1", HSM, "HsmKey", Some(EXO));
    let vault_key = e.vault("Contoso-CK-Sub2", VAULT, "Key001", EXO);
    let versionless = hsm_key.rsplit_once('/').unwrap().0.to_string();
    assert_eq!(
        versionless,
        format!("https://{HSM}.managedhsm.azure.net/keys/HsmKey")
    );
    let dep = e.json(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{versionless},{vault_key}"),
    ]);
    assert_eq!(dep["State"], "Active");
    let ids = dep["AzureKeyIDs"].to_string();
    assert!(ids.contains(".managedhsm.azure.net/keys/HsmKey"), "{ids}");
    e.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        "alice",
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&[
        "Set-Mailbox",
        "alice",
        "-DataEncryptionPolicy",
        "US Mailboxes",
    ]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "alice", mail.to_str().unwrap()]);
    e.ok(&["New-MailboxExportRequest", "alice", "out1"]);
    assert_eq!(files(&e.path("out1")), files(&mail));
    assert_eq!(e.test_results(), ["Success", "Success", "Success"]);

    // Revocation on the HSM: without its local role the service may not unwrap there.
    e.revoke(HSM, EXO);
    let r = e.test_results();
    assert_eq!(r.iter().filter(|x| *x == "Success").count(), 2, "{r:?}");
    // Both customer keys refusing: the user's content is unavailable (no fallback for users).
    e.ok(&[
        "Remove-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULT,
        "-ServicePrincipalName",
        EXO,
    ]);
    let out = e.run(&["New-MailboxExportRequest", "alice", "out2"]);
    assert!(!out.status.success(), "export succeeded after revocation");
    // Granted again, everything is back.
    e.grant(HSM, EXO);
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        VAULT,
        "-PermissionsToKeys",
        "wrapKey,unwrapKey,get",
        "-ServicePrincipalName",
        EXO,
    ]);
    e.ok(&["New-MailboxExportRequest", "alice", "out3"]);
    assert_eq!(files(&e.path("out3")), files(&mail));

    // Disabling the HSM key refuses unwrap with it.
    e.ok(&[
        "Update-AzKeyVaultKey",
        "-HsmName",
        HSM,
        "-Name",
        "HsmKey",
        "-Enable",
        "false",
    ]);
    let r = e.test_results();
    assert_eq!(r.iter().filter(|x| *x == "Success").count(), 2, "{r:?}");
}

#[test]
fn unknown_and_mismatched_managed_hsm_ids_are_refused_with_a_clear_message() {
    let Some(e) = Env::new() else { return };
    let _ = e.hsm("Contoso-CK-Sub1", HSM, "HsmKey", Some(EXO));
    let vault_key = e.vault("Contoso-CK-Sub2", VAULT, "Key001", EXO);
    // An HSM that does not exist.
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "P1",
            "-AzureKeyIDs",
            &format!("https://nohsm.managedhsm.azure.net/keys/k,{vault_key}"),
        ],
        1,
    );
    assert!(
        err.contains("the Managed HSM 'nohsm'") && err.contains("New-AzKeyVaultManagedHsm"),
        "{err}"
    );
    // The HSM named with the vault host, and the vault with the HSM host: neither is found.
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "P2",
            "-AzureKeyIDs",
            &format!("https://{HSM}.vault.azure.net/keys/HsmKey,{vault_key}"),
        ],
        1,
    );
    assert!(err.contains(&format!("the key vault '{HSM}'")), "{err}");
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "P3",
            "-AzureKeyIDs",
            &format!(
                "https://{HSM}.managedhsm.azure.net/keys/HsmKey,https://{VAULT}.managedhsm.azure.net/keys/Key001"
            ),
        ],
        1,
    );
    assert!(err.contains(&format!("the Managed HSM '{VAULT}'")), "{err}");
}

#[test]
fn a_managed_hsm_key_the_service_is_not_granted_is_refused() {
    let Some(e) = Env::new() else { return };
    let hsm_key = e.hsm("Contoso-CK-Sub1", HSM, "HsmKey", None);
    let vault_key = e.vault("Contoso-CK-Sub2", VAULT, "Key001", EXO);
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-AzureKeyIDs",
            &format!("{hsm_key},{vault_key}"),
        ],
        1,
    );
    assert!(
        err.contains("New-AzKeyVaultRoleAssignment") && err.contains(SERVICE_ROLE),
        "{err}"
    );
    // An Azure RBAC role does not reach a Managed HSM's keys, and a SharePoint grant does not
    // serve Exchange.
    e.grant(HSM, SPO);
    e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-AzureKeyIDs",
            &format!("{hsm_key},{vault_key}"),
        ],
        1,
    );
    e.grant(HSM, EXO);
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{hsm_key},{vault_key}"),
    ]);
}

#[test]
fn key_cmdlets_take_hsm_name_and_managed_hsm_cmdlets_show_microsofts_properties() {
    let Some(e) = Env::new() else { return };
    e.subscription("Contoso-CK-Sub1");
    e.ok(&[
        "New-AzKeyVaultManagedHsm",
        HSM,
        "rg1",
        "eastus",
        ADMIN,
        "-SoftDeleteRetentionInDays",
        "30",
        "-Pkcs11Module",
        &e.module,
        "-TokenLabel",
        TOKEN,
    ]);
    // Administrator alone manages roles but may not make keys.
    let err = e.fails(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"], 1);
    assert!(err.contains("Managed HSM Crypto User"), "{err}");
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        "-HsmName",
        HSM,
        "-RoleDefinitionName",
        "Managed HSM Crypto User",
        "-SignInName",
        ADMIN,
    ]);
    // Not activated: no key until the security domain is downloaded.
    let err = e.fails(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"], 1);
    assert!(
        err.contains("not activated") && err.contains("Export-AzKeyVaultSecurityDomain"),
        "{err}"
    );
    let pairs = e.key_pairs("sd", 3, 2048);
    e.activate(HSM, &pairs, 2);
    let k = e.json(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"]);
    assert_eq!(k["KeyType"], "RSA-HSM");
    assert!(k["Id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("https://{HSM}.managedhsm.azure.net/keys/k1/")));
    e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-HsmName",
            HSM,
            "-Name",
            "k2",
            "-Destination",
            "Software",
        ],
        1,
    );
    // -VaultName does not name an HSM, nor -HsmName a vault.
    let err = e.fails(&["Get-AzKeyVaultKey", "-VaultName", HSM, "-Name", "k1"], 1);
    assert!(err.contains("-HsmName"), "{err}");
    let got = e.json(&["Get-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"]);
    assert_eq!(got["Id"], k["Id"]);
    e.ok(&["Get-AzKeyVaultKey", "-HsmName", HSM]);
    e.ok(&[
        "Update-AzKeyVaultKey",
        "-HsmName",
        HSM,
        "-Name",
        "k1",
        "-Expires",
        "12/31/9999",
    ]);
    e.ok(&[
        "Set-AzKeyVaultKeyRotationPolicy",
        "-HsmName",
        HSM,
        "-Name",
        "k1",
        "-ExpiresIn",
        "P2Y",
    ]);
    e.ok(&[
        "Remove-AzKeyVaultKey",
        "-HsmName",
        HSM,
        "-Name",
        "k1",
        "-Force",
    ]);
    let del = e.json(&["Get-AzKeyVaultKey", "-HsmName", HSM, "-InRemovedState"]);
    assert_eq!(
        del["RecoveryId"],
        format!("https://{HSM}.managedhsm.azure.net/deletedkeys/k1")
    );
    // Recovering a deleted key is the Crypto Officer's, not the Crypto User's (Microsoft's
    // built-in roles reference).
    let err = e.fails(
        &["Undo-AzKeyVaultKeyRemoval", "-HsmName", HSM, "-Name", "k1"],
        1,
    );
    assert!(err.contains("Managed HSM Crypto Officer"), "{err}");
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        "-HsmName",
        HSM,
        "-RoleDefinitionName",
        "Managed HSM Crypto Officer",
        "-SignInName",
        ADMIN,
    ]);
    e.ok(&["Undo-AzKeyVaultKeyRemoval", "-HsmName", HSM, "-Name", "k1"]);

    // The HSM's own properties, and its absence from Get-AzKeyVault.
    let h = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    assert_eq!(h["Name"], HSM);
    assert_eq!(h["ResourceGroupName"], "rg1");
    assert_eq!(h["Sku"], "StandardB1");
    assert_eq!(h["EnableSoftDelete"], true);
    assert_eq!(h["EnablePurgeProtection"], false);
    assert_eq!(h["SoftDeleteRetentionInDays"], 30);
    assert_eq!(h["SecurityDomain"]["ActivationStatus"], "Active");
    assert!(h["ResourceId"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/providers/Microsoft.KeyVault/managedHSMs/{HSM}")));
    assert_eq!(e.json_raw(&["Get-AzKeyVault"]), serde_json::json!([]));
    e.fails(&["Get-AzKeyVault", "-VaultName", HSM], 1);
    let u = e.json(&["Update-AzKeyVaultManagedHsm", HSM, "-EnablePurgeProtection"]);
    assert_eq!(u["EnablePurgeProtection"], true);
    let roles = e.json_raw(&["Get-AzKeyVaultRoleAssignment", HSM]);
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RoleDefinitionName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Managed HSM Administrator",
            "Managed HSM Crypto User",
            "Managed HSM Crypto Officer"
        ]
    );
    // Azure RBAC roles are not local roles, and the reverse.
    e.fails(
        &[
            "New-AzKeyVaultRoleAssignment",
            HSM,
            "-RoleDefinitionName",
            "Key Vault Crypto User",
            "-SignInName",
            ADMIN,
        ],
        2,
    );
    // Removed: its name is held, and it is listed as removed; purge is refused under purge protection.
    e.ok(&["Remove-AzKeyVaultManagedHsm", HSM, "-Force"]);
    assert_eq!(
        e.json_raw(&["Get-AzKeyVaultManagedHsm"]),
        serde_json::json!([])
    );
    let removed = e.json(&["Get-AzKeyVaultManagedHsm", "-InRemovedState"]);
    assert_eq!(removed["Name"], HSM);
    e.fails(
        &[
            "Remove-AzKeyVaultManagedHsm",
            HSM,
            "-InRemovedState",
            "-Force",
        ],
        1,
    );
    // Undo-AzKeyVaultManagedHsmRemoval: the group and region must be the removed HSM's; then
    // it is back, still activated, with its keys.
    let err = e.fails(
        &[
            "Undo-AzKeyVaultManagedHsmRemoval",
            HSM,
            "other-rg",
            "eastus",
        ],
        1,
    );
    assert!(err.contains("resource group 'rg1'"), "{err}");
    let err = e.fails(
        &["Undo-AzKeyVaultManagedHsmRemoval", "nohsm", "rg1", "eastus"],
        1,
    );
    assert!(
        err.contains("no removed Managed HSM named 'nohsm'"),
        "{err}"
    );
    let back = e.json(&[
        "Undo-AzKeyVaultManagedHsmRemoval",
        "-Name",
        HSM,
        "-ResourceGroupName",
        "rg1",
        "-Location",
        "East US",
    ]);
    assert_eq!(back["Name"], HSM);
    assert_eq!(back["SecurityDomain"]["ActivationStatus"], "Active");
    let k = e.json(&["Get-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"]);
    assert_eq!(k["Name"], "k1");
}

#[test]
fn sharepoint_registers_and_rolls_with_key_vault_type_managed_hsm() {
    let Some(e) = Env::new() else { return };
    let k1 = e.hsm("Contoso-CK-Sub1", HSM, "SPKey1", Some(SPO));
    let k2 = e.hsm("Contoso-CK-Sub2", "contoso-ck-hsm2", "SPKey2", Some(SPO));
    let ver = |k: &str| k.rsplit('/').next().unwrap().to_string();
    e.ok(&[
        "Connect-SPOService",
        "-Url",
        "https://contoso-admin.sharepoint.com",
    ]);
    // The vault names as HSM names need -KeyVaultType ManagedHSM.
    let base = [
        "Register-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultName",
        HSM,
        "-PrimaryKeyName",
        "SPKey1",
        "-PrimaryKeyVersion",
    ];
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    args.extend([
        ver(&k1),
        "-SecondaryKeyVaultName".into(),
        "contoso-ck-hsm2".into(),
        "-SecondaryKeyName".into(),
        "SPKey2".into(),
        "-SecondaryKeyVersion".into(),
        ver(&k2),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    e.fails(&a, 1);
    let mut with_type = a.clone();
    with_type.extend(["-KeyVaultType", "ManagedHSM"]);
    let p = e.json(&with_type);
    assert_eq!(p["State"], "Registered");
    assert_eq!(p["PrimaryKeyVaultUri"], k1);
    // A URI of the other kind than -KeyVaultType says is refused before anything is done.
    e.fails(
        &[
            "Update-SPODataEncryptionPolicy",
            "-KeyType",
            "Primary",
            "-KeyVaultUri",
            &k1,
            "-KeyVaultType",
            "KeyVault",
        ],
        2,
    );
    // Roll the primary to a new version on the HSM, by names.
    let k3 = e.json(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "SPKey1"]);
    let v3 = k3["Version"].as_str().unwrap();
    let p = e.json(&[
        "Update-SPODataEncryptionPolicy",
        "-KeyType",
        "Primary",
        "-KeyVaultName",
        HSM,
        "-KeyName",
        "SPKey1",
        "-KeyVersion",
        v3,
        "-KeyVaultType",
        "ManagedHSM",
    ]);
    assert_eq!(p["PrimaryKeyVaultUri"], k3["Id"]);
}

#[test]
fn a_new_managed_hsm_is_activated_by_downloading_its_security_domain_within_azures_bounds() {
    let Some(e) = Env::new() else { return };
    e.subscription("Contoso-CK-Sub1");
    e.new_hsm(HSM, TOKEN);
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        "-HsmName",
        HSM,
        "-RoleDefinitionName",
        "Managed HSM Crypto User",
        "-SignInName",
        ADMIN,
    ]);
    let h = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    assert_eq!(h["SecurityDomain"]["ActivationStatus"], "NotActivated");
    let err = e.fails(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"], 1);
    assert!(
        err.contains("Export-AzKeyVaultSecurityDomain -Name contoso-ck-hsm1"),
        "{err}"
    );

    let pairs = e.key_pairs("sd", 4, 2048);
    let small = e.key_pairs("small", 1, 1024);
    let out = e.path("sd.json");
    let export = |certs: &[&str], quorum: &str| {
        e.run(&[
            "Export-AzKeyVaultSecurityDomain",
            "-Name",
            HSM,
            "-Certificates",
            &certs.join(","),
            "-OutputPath",
            out.to_str().unwrap(),
            "-Quorum",
            quorum,
        ])
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let (c0, c1, c2, c3) = (&pairs[0].0, &pairs[1].0, &pairs[2].0, &pairs[3].0);
    // Fewer than three certificates; a quorum under 2 or above the count.
    let o = export(&[c0, c1], "2");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 to 10 RSA certificates"),
        "{}",
        stderr(&o)
    );
    for q in ["1", "4"] {
        let o = export(&[c0, c1, c2], q);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("-Quorum"), "{}", stderr(&o));
    }
    // Not a certificate (a private key file); an RSA-1024 certificate; the same one twice.
    let o = export(&[c0, c1, &pairs[2].1], "2");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a certificate"), "{}", stderr(&o));
    let o = export(&[c0, c1, &small[0].0], "2");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("1024 bits"), "{}", stderr(&o));
    let o = export(&[c0, c1, c1], "2");
    assert!(stderr(&o).contains("same public key"), "{}", stderr(&o));
    assert!(!out.exists(), "a refused export wrote a file");
    let h = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    assert_eq!(h["SecurityDomain"]["ActivationStatus"], "NotActivated");

    // Four certificates, quorum 3: activated.
    let o = export(&[c0, c1, c2, c3], "3");
    assert!(o.status.success(), "{}", stderr(&o));
    let h = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    assert_eq!(h["SecurityDomain"]["ActivationStatus"], "Active");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(file["header"]["quorum"], 3);
    assert_eq!(file["shares"].as_array().unwrap().len(), 4);
    // The domain key is in no share in the clear: each share is an RSA-2048 ciphertext.
    for s in file["shares"].as_array().unwrap() {
        assert_eq!(s.as_str().unwrap().len(), 512);
    }
    // An existing file is not replaced without -Force.
    let o = export(&[c0, c1, c2], "2");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let k = e.json(&["Add-AzKeyVaultKey", "-HsmName", HSM, "-Name", "k1"]);
    assert_eq!(k["KeyType"], "RSA-HSM");
}

#[test]
fn a_security_domain_opens_with_a_quorum_of_its_keys_only_and_a_tampered_file_is_refused() {
    let Some(e) = Env::new() else { return };
    e.subscription("Contoso-CK-Sub1");
    e.new_hsm(HSM, TOKEN);
    let pairs = e.key_pairs("sd", 3, 2048);
    let file = e.activate(HSM, &pairs, 2);
    let h1 = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    e.new_hsm("contoso-ck-hsm2", "ck-mhsm2");
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // One key of a quorum of two.
    let o = e.import_domain("contoso-ck-hsm2", &pairs[..1], &file);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("quorum of 2"), "{}", stderr(&o));
    // A key pair the domain was not exported to.
    let other = e.key_pairs("other", 1, 2048);
    let o = e.import_domain(
        "contoso-ck-hsm2",
        &[pairs[0].clone(), other[0].clone()],
        &file,
    );
    assert!(
        stderr(&o).contains("not one this security domain was exported to"),
        "{}",
        stderr(&o)
    );
    // A private key given with another pair's certificate.
    let mixed = (pairs[0].0.clone(), pairs[1].1.clone());
    let o = e.import_domain("contoso-ck-hsm2", &[mixed, pairs[2].clone()], &file);
    assert!(
        stderr(&o).contains("not that certificate's key"),
        "{}",
        stderr(&o)
    );
    // Tampered: the header's quorum lowered, or a share's byte changed.
    let text = std::fs::read_to_string(&file).unwrap();
    let lowered = text.replacen("\"quorum\": 2", "\"quorum\": 3", 1);
    assert_ne!(lowered, text);
    let bad1 = e.path("bad1.json");
    std::fs::write(&bad1, &lowered).unwrap();
    let o = e.import_domain("contoso-ck-hsm2", &pairs, bad1.to_str().unwrap());
    assert!(stderr(&o).contains("integrity check"), "{}", stderr(&o));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let share = v["shares"][1].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if share.starts_with('0') { "1" } else { "0" },
        &share[1..]
    );
    v["shares"][1] = serde_json::json!(flipped);
    let bad2 = e.path("bad2.json");
    std::fs::write(&bad2, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = e.import_domain("contoso-ck-hsm2", &pairs[1..], bad2.to_str().unwrap());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("altered") || stderr(&o).contains("integrity check"),
        "{}",
        stderr(&o)
    );
    let h2 = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", "contoso-ck-hsm2"]);
    assert_eq!(h2["SecurityDomain"]["ActivationStatus"], "NotActivated");

    // Any two of the three keys: the new HSM holds the same domain, and is active.
    let o = e.import_domain(
        "contoso-ck-hsm2",
        &[pairs[2].clone(), pairs[0].clone()],
        &file,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let h2 = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", "contoso-ck-hsm2"]);
    assert_eq!(h2["SecurityDomain"]["ActivationStatus"], "Active");
    assert_eq!(h2["SecurityDomainId"], h1["SecurityDomainId"]);
    // An active HSM of another domain does not take this one.
    e.new_hsm("contoso-ck-hsm3", "ck-mhsm3");
    let third = e.key_pairs("third", 3, 2048);
    e.activate("contoso-ck-hsm3", &third, 2);
    let o = e.import_domain("contoso-ck-hsm3", &pairs[..2], &file);
    assert!(stderr(&o).contains("already activated"), "{}", stderr(&o));
}

#[test]
fn a_key_backup_restores_into_a_new_hsm_of_the_same_security_domain_and_no_other() {
    let Some(e) = Env::new() else { return };
    e.subscription("Contoso-CK-Sub1");
    let key = e.hsm_on(HSM, TOKEN, "HsmKey", Some(EXO));
    let backup = e.path("HsmKey.backup");
    e.ok(&[
        "Backup-AzKeyVaultKey",
        "-HsmName",
        HSM,
        "-Name",
        "HsmKey",
        "-OutputFile",
        backup.to_str().unwrap(),
    ]);
    let blob: serde_json::Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    let h1 = e.json(&["Get-AzKeyVaultManagedHsm", "-Name", HSM]);
    assert_eq!(blob["header"]["securityDomain"], h1["SecurityDomainId"]);
    let file = e.path(&format!("{HSM}.sd.json"));
    let pairs: Vec<(String, String)> = (0..3)
        .map(|i| {
            (
                e.path(&format!("{HSM}{i}.cer"))
                    .to_string_lossy()
                    .into_owned(),
                e.path(&format!("{HSM}{i}.key"))
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .collect();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let restore = |hsm: &str| {
        e.run(&[
            "Restore-AzKeyVaultKey",
            "-HsmName",
            hsm,
            "-InputFile",
            backup.to_str().unwrap(),
        ])
    };

    // The recovery HSM, on its own token: refused before activation, restored after the
    // import of the first HSM's security domain.
    let new = "contoso-ck-hsm2";
    e.new_hsm(new, "ck-mhsm2");
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        "-HsmName",
        new,
        "-RoleDefinitionName",
        "Managed HSM Crypto User",
        "-SignInName",
        ADMIN,
    ]);
    let o = restore(new);
    assert!(stderr(&o).contains("not activated"), "{}", stderr(&o));
    let o = e.import_domain(new, &pairs[1..], file.to_str().unwrap());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = restore(new);
    assert!(o.status.success(), "{}", stderr(&o));
    let restored = e.json(&["Get-AzKeyVaultKey", "-HsmName", new, "-Name", "HsmKey"]);
    let original = e.json(&["Get-AzKeyVaultKey", "-HsmName", HSM, "-Name", "HsmKey"]);
    assert_eq!(restored["Key"]["N"], original["Key"]["N"]);
    assert_eq!(
        restored["Id"].as_str().unwrap(),
        key.replace(HSM, new).as_str()
    );

    // The restored private key works on the new token: a policy over it unwraps there.
    e.grant(new, EXO);
    let versionless = format!("https://{new}.managedhsm.azure.net/keys/HsmKey");
    let vault_key = e.vault("Contoso-CK-Sub2", VAULT, "Key001", EXO);
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{versionless},{vault_key}"),
    ]);
    assert_eq!(e.test_results(), ["Success", "Success", "Success"]);

    // An HSM of another security domain refuses the backup, naming both domains.
    e.subscription("Contoso-CK-Sub1");
    let other = "contoso-ck-hsm3";
    e.new_hsm(other, "ck-mhsm3");
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        "-HsmName",
        other,
        "-RoleDefinitionName",
        "Managed HSM Crypto User",
        "-SignInName",
        ADMIN,
    ]);
    let third = e.key_pairs("third", 3, 2048);
    e.activate(other, &third, 2);
    let o = restore(other);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("restores only into an HSM holding the same security domain"),
        "{}",
        stderr(&o)
    );
    assert!(e
        .fails(
            &["Get-AzKeyVaultKey", "-HsmName", other, "-Name", "HsmKey"],
            1
        )
        .contains("HsmKey"));
}

#[test]
fn get_az_key_vault_role_definition_lists_the_local_built_in_roles_with_microsofts_ids() {
    let Some(e) = Env::new() else { return };
    e.hsm("Contoso-CK-Sub1", HSM, "k1", None);
    let all = e.json_raw(&["Get-AzKeyVaultRoleDefinition", "-HsmName", HSM]);
    let got: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["RoleType"], "AKVBuiltInRole");
            (
                r["RoleName"].as_str().unwrap().to_string(),
                r["Name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Names and ids as learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles has them.
    for (name, id) in [
        (
            "Managed HSM Administrator",
            "a290e904-7015-4bba-90c8-60543313cdb4",
        ),
        (
            "Managed HSM Crypto Officer",
            "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        ),
        (
            "Managed HSM Crypto User",
            "21dbd100-6940-42c2-9190-5d6cb909625b",
        ),
        (
            "Managed HSM Policy Administrator",
            "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        ),
        (
            "Managed HSM Crypto Auditor",
            "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        ),
        (
            "Managed HSM Crypto Service Encryption User",
            "33413926-3206-4cdd-b39a-83574fe37a17",
        ),
        ("Managed HSM Backup", "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"),
        (
            "Managed HSM Restore",
            "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        ),
    ] {
        assert!(
            got.contains(&(name.to_string(), id.to_string())),
            "{name}: {got:?}"
        );
    }
    let one = e.json(&[
        "Get-AzKeyVaultRoleDefinition",
        HSM,
        "-RoleDefinitionName",
        SERVICE_ROLE,
    ]);
    let actions = one["Permissions"][0]["DataActions"].to_string();
    assert!(
        actions.contains("keys/wrap/action") && actions.contains("keys/unwrap/action"),
        "{actions}"
    );
    assert_eq!(
        e.json_raw(&["Get-AzKeyVaultRoleDefinition", HSM, "-Custom"]),
        serde_json::json!([])
    );
    let err = e.fails(
        &[
            "Get-AzKeyVaultRoleDefinition",
            HSM,
            "-RoleDefinitionName",
            "Key Vault Crypto User",
        ],
        1,
    );
    assert!(err.contains("not a Managed HSM local role"), "{err}");
    e.fails(&["Get-AzKeyVaultRoleDefinition", "nohsm"], 1);
    // A Crypto Auditor reads key attributes but may not use or make keys.
    e.ok(&[
        "New-AzKeyVaultRoleAssignment",
        HSM,
        "-RoleDefinitionName",
        "Managed HSM Crypto Auditor",
        "-ApplicationId",
        SPO,
    ]);
    let roles = e.json_raw(&["Get-AzKeyVaultRoleAssignment", HSM, "-ApplicationId", SPO]);
    assert_eq!(roles[0]["RoleDefinitionName"], "Managed HSM Crypto Auditor");
}

#[test]
fn only_a_managed_hsm_administrator_downloads_its_security_domain() {
    let Some(e) = Env::new() else { return };
    e.subscription("Contoso-CK-Sub1");
    // The signed-in account creates the HSM (its Azure Owner) but another principal is its
    // Administrator.
    e.ok(&[
        "New-AzKeyVaultManagedHsm",
        HSM,
        "rg1",
        "eastus",
        "11111111-2222-3333-4444-555555555555",
        "-SoftDeleteRetentionInDays",
        "30",
        "-Pkcs11Module",
        &e.module,
        "-TokenLabel",
        TOKEN,
    ]);
    let pairs = e.key_pairs("sd", 3, 2048);
    let certs: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let out = e.path("sd.json");
    let err = e.fails(
        &[
            "Export-AzKeyVaultSecurityDomain",
            "-Name",
            HSM,
            "-Certificates",
            &certs.join(","),
            "-OutputPath",
            out.to_str().unwrap(),
            "-Quorum",
            "2",
        ],
        1,
    );
    assert!(err.contains("is not a Managed HSM Administrator"), "{err}");
    assert!(!out.exists());
    let o = e.import_domain(HSM, &pairs, out.to_str().unwrap());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A key vault has no security domain.
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        VAULT,
        "-ResourceGroupName",
        "rg1",
        "-Location",
        "eastus",
    ]);
    let err = e.fails(
        &[
            "Export-AzKeyVaultSecurityDomain",
            "-Name",
            VAULT,
            "-Certificates",
            &certs.join(","),
            "-OutputPath",
            out.to_str().unwrap(),
            "-Quorum",
            "2",
        ],
        1,
    );
    assert!(err.contains("is a key vault"), "{err}");
}
