//! The Customer Key onboarding service through the real binary: `New-CustomerKeyOnboardingRequest`
//! checks the organization, the subscriptions, the vaults and the keys as they are, reports each
//! check and records the request; `Get-CustomerKeyOnboardingRequest` shows the records; once a
//! scenario is onboarded, its policies must use keys of onboarded subscriptions.

mod common;
mod kmip;

use common::{audit_operations, Env, EXO, M365};

const KEY1: &str = "https://contoso-ck-va1.vault.azure.net/keys/Key001";
const KEY2: &str = "https://contoso-ck-va2.vault.azure.net/keys/Key002";
const KEY3: &str = "https://contoso-ck-va3.vault.azure.net/keys/Key003";
const ORG: &str = "contoso.onmicrosoft.com";
const SPO: &str = "00000003-0000-0ff1-ce00-000000000000";

/// A vault of the setup guide ([`Env::key_vault`]) with purge protection turned on.
fn protected_vault(e: &Env, sub: &str, vault: &str, key: &str, principals: &[&str]) {
    e.key_vault(sub, vault, key, "westus", principals);
    e.ok(&[
        "Update-AzKeyVault",
        "-VaultName",
        vault,
        "-ResourceGroupName",
        &format!("{vault}-rg"),
        "-EnablePurgeProtection",
    ]);
}

/// Two subscriptions, each with a protected vault whose key the Exchange and multi-workload
/// principals may use.
fn two_vaults() -> Env {
    let e = Env::new();
    protected_vault(
        &e,
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        &[EXO, M365],
    );
    protected_vault(
        &e,
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        &[EXO, M365],
    );
    e
}

fn request<'a>(scenario: &'a str, k1: &'a str, k2: &'a str, mode: &'a str) -> Vec<&'a str> {
    vec![
        "New-CustomerKeyOnboardingRequest",
        "-Organization",
        ORG,
        "-Scenario",
        scenario,
        "-Subscription1",
        "Contoso-CK-Sub1",
        "-KeyIdentifier1",
        k1,
        "-Subscription2",
        "Contoso-CK-Sub2",
        "-KeyIdentifier2",
        k2,
        "-OnboardingMode",
        mode,
    ]
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect()
}

/// The failed checks of the newest request.
fn last_failed(e: &Env) -> Vec<(String, String)> {
    let all = e.json_raw(&["Get-CustomerKeyOnboardingRequest", "-OrganizationId", ORG]);
    let last = all.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ValidationResult"], "Failed");
    last["FailedValidations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Result"], "Failed");
            assert!(!c["Message"].as_str().unwrap().is_empty());
            (
                c["Name"].as_str().unwrap().to_string(),
                c["Target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_check_passing_validates_then_enables_and_the_same_request_is_the_same_record() {
    let e = two_vaults();
    let v = e.json(&request("Exchange", KEY1, KEY2, "Validate"));
    assert_eq!(v["ValidationResult"], "Success");
    assert!(v["EnablementResult"].is_null());
    assert_eq!(v["FailedValidations"].as_array().unwrap().len(), 0);
    let passed = names(&v["PassedValidations"]);
    for check in [
        "OrganizationSubscriptionType",
        "SubscriptionFound",
        "MandatoryRetentionPeriodEnabled",
        "KeyVaultFound",
        "KeyVaultInSubscription",
        "SoftDeleteEnabled",
        "PurgeProtectionEnabled",
        "ServicePrincipalPermissions",
        "KeyFound",
        "KeyType",
        "KeyEnabled",
        "KeyExpiration",
        "KeyRecoveryLevel",
        "DifferentKeyVaults",
        "DifferentSubscriptions",
    ] {
        assert!(passed.iter().any(|p| p == check), "{check} in {passed:?}");
    }
    // Per slot checks run twice.
    assert_eq!(passed.iter().filter(|p| *p == "KeyType").count(), 2);

    let en = e.json(&request("Exchange", KEY1, KEY2, "Enable"));
    assert_eq!(en["ValidationResult"], "Success");
    assert_eq!(en["EnablementResult"], "Success");
    assert_ne!(en["ID"], v["ID"]);
    assert_eq!(en["KeyIdentifier1"], KEY1);
    assert_eq!(en["VaultName2"], "contoso-ck-va2");

    // The same request again, nothing changed: the same record, no second one.
    let again = e.json(&request("Exchange", KEY1, KEY2, "Enable"));
    assert_eq!(again, en);
    let all = e.json_raw(&["Get-CustomerKeyOnboardingRequest", "-OrganizationId", ORG]);
    assert_eq!(all.as_array().unwrap().len(), 2);

    // The Azure tenant id identifies the organization too, and the older module's form
    // (vault and key names) is the same request.
    let tenant = e.json(&["Get-AzContext"])["TenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let named = e.json(&[
        "New-CustomerKeyOnboardingRequest",
        "-OrganizationId",
        &tenant,
        "-Scenario",
        "Exchange",
        "-Subscription1",
        "Contoso-CK-Sub1",
        "-VaultName1",
        "contoso-ck-va1",
        "-KeyIdentifier1",
        "Key001",
        "-Subscription2",
        "Contoso-CK-Sub2",
        "-VaultName2",
        "contoso-ck-va2",
        "-KeyIdentifier2",
        "Key002",
    ]);
    assert_eq!(named["ID"], en["ID"]);
    assert!(audit_operations(&e)
        .iter()
        .any(|(op, _)| op == "New-CustomerKeyOnboardingRequest"));
}

#[test]
fn the_status_cmdlet_shows_one_request_by_id_and_refuses_unknown_ones() {
    let e = two_vaults();
    let en = e.json(&request("MDEP", KEY1, KEY2, "Enable"));
    let id = en["ID"].as_str().unwrap();
    let one = e.json(&[
        "Get-CustomerKeyOnboardingRequest",
        "-OrganizationId",
        ORG,
        "-RequestId",
        id,
    ]);
    assert_eq!(one["ID"], id);
    assert_eq!(one["Scenario"], "MDEP");
    assert_eq!(one["EnablementResult"], "Success");
    assert!(one["CreatedDate"].as_str().unwrap().starts_with("20"));
    // -RequestId completes with the recorded IDs (from a store file: completion does not
    // open a database store it is not a client of).
    if !common::on_postgres() {
        let got = e.ok(&[
            "__complete",
            "--",
            "Get-CustomerKeyOnboardingRequest",
            "-RequestId",
            &id[..4],
        ]);
        assert_eq!(got, format!("{id}\n"));
    }
    let err = e.fails(
        &[
            "Get-CustomerKeyOnboardingRequest",
            "-OrganizationId",
            ORG,
            "-RequestId",
            "00000000-0000-0000-0000-000000000000",
        ],
        1,
    );
    assert!(err.contains("no onboarding request"), "{err}");
    let err = e.fails(
        &[
            "Get-CustomerKeyOnboardingRequest",
            "-OrganizationId",
            "fabrikam.onmicrosoft.com",
        ],
        1,
    );
    assert!(err.contains("is not this store's organization"), "{err}");
}

#[test]
fn missing_purge_protection_fails_with_the_report_and_exit_1() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "westus",
        &[EXO],
    );
    let out = e.fails(&request("Exchange", KEY1, KEY2, "Enable"), 1);
    // The report lists every check, passed and failed, and the error names the failures.
    assert!(out.contains("KeyRecoveryLevel"), "{out}");
    assert!(out.contains("Passed"), "{out}");
    assert!(out.contains("-EnablePurgeProtection"), "{out}");
    assert!(out.contains("2 check(s) failed"), "{out}");
    assert_eq!(
        last_failed(&e),
        vec![
            (
                "PurgeProtectionEnabled".into(),
                "VaultName1 contoso-ck-va1".into()
            ),
            (
                "PurgeProtectionEnabled".into(),
                "VaultName2 contoso-ck-va2".into()
            ),
        ]
    );
    let all = e.json_raw(&["Get-CustomerKeyOnboardingRequest", "-OrganizationId", ORG]);
    assert_eq!(all[0]["EnablementResult"], "Failed");
    // The same failing request again is the same record, with the same report and exit code.
    let id = all[0]["ID"].as_str().unwrap().to_string();
    let again = e.fails(&request("Exchange", KEY1, KEY2, "Enable"), 1);
    assert!(again.contains(&id), "{again}");
    let all = e.json_raw(&["Get-CustomerKeyOnboardingRequest", "-OrganizationId", ORG]);
    assert_eq!(all.as_array().unwrap().len(), 1);
    // A failed Enable onboards nothing: the older flow still creates the policy.
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY2}"),
    ]);
    // Once fixed, the same request passes.
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        e.ok(&[
            "Update-AzKeyVault",
            "-VaultName",
            v,
            "-ResourceGroupName",
            &format!("{v}-rg"),
            "-EnablePurgeProtection",
        ]);
    }
    assert_eq!(
        e.json(&request("Exchange", KEY1, KEY2, "Enable"))["EnablementResult"],
        "Success"
    );
}

#[test]
fn a_missing_unwrap_key_permission_fails_for_that_vault() {
    let e = two_vaults();
    protected_vault(&e, "Contoso-CK-Sub2", "contoso-ck-va3", "Key003", &[]);
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va3",
        "-PermissionsToKeys",
        "wrapKey,get",
        "-ServicePrincipalName",
        EXO,
    ]);
    let out = e.fails(&request("Exchange", KEY1, KEY3, "Enable"), 1);
    assert!(out.contains("lacks unwrapKey"), "{out}");
    assert_eq!(
        last_failed(&e),
        vec![(
            "ServicePrincipalPermissions".into(),
            "VaultName2 contoso-ck-va3".into()
        )]
    );
    // The keys are the MDEP principal's in no vault of this pair but va1/va2: the MDEP scenario
    // of va3 fails on its permissions, get included (its key cannot be read either).
    e.fails(&request("MDEP", KEY1, KEY3, "Validate"), 1);
    let failed = last_failed(&e);
    assert!(failed.contains(&(
        "ServicePrincipalPermissions".into(),
        "VaultName2 contoso-ck-va3".into()
    )));
    assert!(failed.iter().any(|(n, _)| n == "KeyFound"), "{failed:?}");
}

#[test]
fn the_same_vault_twice_fails_and_so_does_the_subscription_it_is_not_in() {
    let e = two_vaults();
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key009",
        "-Destination",
        "HSM",
        "-KeyOps",
        "wrapKey,unwrapKey",
    ]);
    let other = "https://contoso-ck-va1.vault.azure.net/keys/Key009";
    let out = e.fails(&request("Exchange", KEY1, other, "Enable"), 1);
    assert!(out.contains("DifferentKeyVaults"), "{out}");
    let failed = last_failed(&e);
    assert!(
        failed.iter().any(|(n, _)| n == "DifferentKeyVaults"),
        "{failed:?}"
    );
    // Subscription2 was given as Sub2, but va1 is in Sub1.
    assert!(failed.contains(&(
        "KeyVaultInSubscription".into(),
        "VaultName2 contoso-ck-va1".into()
    )));
    // A key URI of one vault with -VaultName of another is refused as a check too.
    let mut r = request("Exchange", KEY1, KEY2, "Validate");
    r.extend(["-VaultName2", "contoso-ck-va1"]);
    e.fails(&r, 1);
    assert!(last_failed(&e).contains(&("KeyVaultFound".into(), "VaultName2 contoso-ck-va2".into())));
}

#[test]
fn mandatory_retention_not_registered_fails_the_subscription_and_the_recovery_level() {
    let e = Env::new();
    protected_vault(&e, "Contoso-CK-Sub1", "contoso-ck-va1", "Key001", &[EXO]);
    // Sub2: a vault and a key, without Register-AzProviderFeature.
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub2"]);
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "contoso-ck-va2",
        "-ResourceGroupName",
        "rg2",
        "-Location",
        "eastus",
        "-Sku",
        "Premium",
        "-EnablePurgeProtection",
    ]);
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va2",
        "-PermissionsToKeys",
        "wrapKey,unwrapKey,get",
        "-ServicePrincipalName",
        EXO,
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va2",
        "-Name",
        "Key002",
        "-Destination",
        "HSM",
        "-KeyOps",
        "wrapKey,unwrapKey",
    ]);
    let out = e.fails(&request("Exchange", KEY1, KEY2, "Enable"), 1);
    assert!(out.contains("Register-AzProviderFeature"), "{out}");
    assert_eq!(
        last_failed(&e),
        vec![
            (
                "MandatoryRetentionPeriodEnabled".into(),
                "Subscription2 Contoso-CK-Sub2".into()
            ),
            ("KeyRecoveryLevel".into(), format!("KeyIdentifier2 {KEY2}")),
        ]
    );
    // An unknown subscription is a failed check, not a crash.
    let mut r = request("Exchange", KEY1, KEY2, "Validate");
    let i = r.iter().position(|a| *a == "Contoso-CK-Sub2").unwrap();
    r[i] = "Contoso-CK-Nowhere";
    e.fails(&r, 1);
    assert!(last_failed(&e).contains(&(
        "SubscriptionFound".into(),
        "Subscription2 Contoso-CK-Nowhere".into()
    )));
}

#[test]
fn a_key_manager_aes_key_fails_the_key_type_check() {
    let Some(ep) = kmip::endpoint() else { return };
    let e = two_vaults();
    let relay = kmip::Relay::new(&ep);
    let (_, id) = kmip::active_aes_key(&ep);
    let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    e.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "contoso-kms",
        "-ResourceGroupName",
        "kms-rg",
        "-Location",
        "eastus",
        "-KmipServer",
        &format!("127.0.0.1:{}", relay.port),
        "-KmipClientCertificate",
        &path(&ep.client_certificate),
        "-KmipClientKey",
        &path(&ep.client_key),
        "-KmipCaCertificate",
        &path(&ep.ca_certificate),
    ]);
    let uri = format!("kmip://127.0.0.1:{}/{id}", relay.port);
    let out = e.fails(&request("Exchange", KEY1, &uri, "Enable"), 1);
    assert!(out.contains("oct (AES-256)"), "{out}");
    assert!(last_failed(&e).contains(&("KeyType".into(), format!("KeyIdentifier2 {uri}"))));
}

#[test]
fn a_trial_organization_fails_and_what_if_records_nothing() {
    let e = two_vaults();
    e.ok(&[
        "New-CustomerKeyOnboardingRequest",
        "-Organization",
        ORG,
        "-Scenario",
        "Exchange",
        "-Subscription1",
        "Contoso-CK-Sub1",
        "-KeyIdentifier1",
        KEY1,
        "-Subscription2",
        "Contoso-CK-Sub2",
        "-KeyIdentifier2",
        KEY2,
        "-WhatIf",
    ]);
    let all = e.json_raw(&["Get-CustomerKeyOnboardingRequest", "-OrganizationId", ORG]);
    assert_eq!(all.as_array().unwrap().len(), 0);
    e.ok(&["Set-OrganizationConfig", "-SubscriptionType", "Trial"]);
    e.fails(&request("Exchange", KEY1, KEY2, "Validate"), 1);
    assert_eq!(
        last_failed(&e),
        vec![(
            "OrganizationSubscriptionType".into(),
            format!("Organization {ORG}")
        )]
    );
    // A key name without its vault is a usage error.
    let err = e.fails(
        &[
            "New-CustomerKeyOnboardingRequest",
            "-Organization",
            ORG,
            "-Scenario",
            "Exchange",
            "-Subscription1",
            "Contoso-CK-Sub1",
            "-KeyIdentifier1",
            "Key001",
            "-Subscription2",
            "Contoso-CK-Sub2",
            "-KeyIdentifier2",
            KEY2,
        ],
        2,
    );
    assert!(err.contains("-VaultName1"), "{err}");
}

#[test]
fn an_onboarded_scenario_admits_only_keys_of_its_onboarded_subscriptions() {
    let e = two_vaults();
    protected_vault(
        &e,
        "Contoso-CK-Sub3",
        "contoso-ck-va3",
        "Key003",
        &[EXO, M365],
    );
    // Before onboarding (the older flow), any pair passing the policy gates is accepted.
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "Before",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY3}"),
    ]);
    // A passed Validate onboards nothing: still the older flow.
    assert_eq!(
        e.json(&request("Exchange", KEY1, KEY2, "Validate"))["ValidationResult"],
        "Success"
    );
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "Validated only",
        "-AzureKeyIDs",
        &format!("{KEY3},{KEY2}"),
    ]);
    e.json(&request("Exchange", KEY1, KEY2, "Enable"));
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "After",
            "-AzureKeyIDs",
            &format!("{KEY1},{KEY3}"),
        ],
        1,
    );
    assert!(
        err.contains("not onboarded for the Exchange scenario"),
        "{err}"
    );
    assert!(err.contains("New-CustomerKeyOnboardingRequest"), "{err}");
    e.ok(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "After",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY2}"),
    ]);
    // A replacement key must be in an onboarded subscription too.
    let err = e.fails(
        &[
            "Set-DataEncryptionPolicy",
            "After",
            "-AzureKeyIDs",
            &format!("{KEY2},{KEY3}"),
            "-Replace",
        ],
        1,
    );
    assert!(err.contains("not onboarded"), "{err}");
    // The policy made before onboarding stays as it is.
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "Before"])["State"],
        "Active"
    );
    // Each scenario is onboarded on its own: MDEP still follows the older flow...
    e.ok(&[
        "New-M365DataAtRestEncryptionPolicy",
        "-Name",
        "Global",
        "-AzureKeyIDs",
        &format!("{KEY1},{KEY3}"),
    ]);
    // ...until it is onboarded, with Sub1 and Sub3 here.
    let mut r = request("MDEP", KEY1, KEY3, "Enable");
    let i = r.iter().position(|a| *a == "Contoso-CK-Sub2").unwrap();
    r[i] = "Contoso-CK-Sub3";
    assert_eq!(e.json(&r)["EnablementResult"], "Success");
    let err = e.fails(
        &[
            "New-M365DataAtRestEncryptionPolicy",
            "-Name",
            "Global 2",
            "-AzureKeyIDs",
            &format!("{KEY1},{KEY2}"),
        ],
        1,
    );
    assert!(err.contains("not onboarded for the MDEP scenario"), "{err}");
}

#[test]
fn an_onboarded_sharepoint_scenario_gates_the_geo_policy() {
    let e = Env::new();
    protected_vault(&e, "Contoso-CK-Sub1", "contoso-ck-sp1", "SPKey1", &[SPO]);
    protected_vault(&e, "Contoso-CK-Sub2", "contoso-ck-sp2", "SPKey2", &[SPO]);
    protected_vault(&e, "Contoso-CK-Sub3", "contoso-ck-sp3", "SPKey3", &[SPO]);
    let id = |v: &str, k: &str| {
        e.json(&["Get-AzKeyVaultKey", "-VaultName", v, "-Name", k])["Id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (k1, k2, k3) = (
        id("contoso-ck-sp1", "SPKey1"),
        id("contoso-ck-sp2", "SPKey2"),
        id("contoso-ck-sp3", "SPKey3"),
    );
    e.json(&request("SharePointOneDriveTeams", &k1, &k2, "Enable"));
    e.ok(&[
        "Connect-SPOService",
        "-Url",
        "https://contoso-admin.sharepoint.com",
    ]);
    let err = e.fails(
        &[
            "Register-SPODataEncryptionPolicy",
            "-PrimaryKeyVaultUri",
            &k1,
            "-SecondaryKeyVaultUri",
            &k3,
        ],
        1,
    );
    assert!(
        err.contains("not onboarded for the SharePointOneDriveTeams scenario"),
        "{err}"
    );
    e.ok(&[
        "Register-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultUri",
        &k1,
        "-SecondaryKeyVaultUri",
        &k2,
    ]);
}

#[test]
fn a_script_reads_the_results_as_the_guides_do() {
    let e = two_vaults();
    let script = format!(
        r#"$v = New-CustomerKeyOnboardingRequest -Organization (Get-AzContext).TenantId -Scenario MDEP -Subscription1 Contoso-CK-Sub1 -KeyIdentifier1 {KEY1} -Subscription2 Contoso-CK-Sub2 -KeyIdentifier2 {KEY2} -OnboardingMode Validate
if ($v.ValidationResult -eq "Success") {{
    $en = New-CustomerKeyOnboardingRequest -Organization (Get-AzContext).TenantId -Scenario MDEP -Subscription1 Contoso-CK-Sub1 -KeyIdentifier1 {KEY1} -Subscription2 Contoso-CK-Sub2 -KeyIdentifier2 {KEY2} -OnboardingMode Enable
    "enabled: $($en.EnablementResult)"
}}
(Get-CustomerKeyOnboardingRequest -OrganizationId (Get-AzContext).TenantId -RequestId $v.ID).PassedValidations.Count"#
    );
    let out = e.ok(&["-Command", &script]);
    assert!(out.contains("enabled: Success"), "{out}");
    // 1 organization check, 12 per slot, 2 for the pair.
    assert!(out.trim_end().ends_with("27"), "{out}");
}

#[test]
fn a_disabled_key_and_an_expiry_other_than_9999_fail_their_checks() {
    let e = two_vaults();
    e.ok(&[
        "Update-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
        "-Expires",
        "12/31/2030",
    ]);
    e.ok(&[
        "Update-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va2",
        "-Name",
        "Key002",
        "-Enable",
        "false",
    ]);
    let out = e.fails(&request("MDEP", KEY1, KEY2, "Enable"), 1);
    assert!(out.contains("-Expires 12/31/9999"), "{out}");
    assert!(out.contains("-Enable $true"), "{out}");
    assert_eq!(
        last_failed(&e),
        vec![
            ("KeyExpiration".into(), format!("KeyIdentifier1 {KEY1}")),
            ("KeyEnabled".into(), format!("KeyIdentifier2 {KEY2}")),
        ]
    );
}

#[test]
fn a_failed_request_is_still_output_so_a_script_can_read_its_failed_validations() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "westus",
        &[EXO],
    );
    let script = format!(
        r#"$v = New-CustomerKeyOnboardingRequest -Organization (Get-AzContext).TenantId -Scenario Exchange -Subscription1 Contoso-CK-Sub1 -KeyIdentifier1 {KEY1} -Subscription2 Contoso-CK-Sub2 -KeyIdentifier2 {KEY2} -OnboardingMode Validate
if ($v.ValidationResult -eq "Success") {{ "passed" }} else {{ "failed: $($v.FailedValidations.Count) $LASTEXITCODE" }}"#
    );
    let out = e.ok(&["-Command", &script]);
    assert!(out.contains("failed: 2 1"), "{out}");
    // -Format Json prints the one object, FailedValidations included, and still exits 1.
    let out = e.run(&{
        let mut r = request("Exchange", KEY1, KEY2, "Validate");
        r.extend(["-Format", "Json"]);
        r
    });
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ValidationResult"], "Failed");
    assert_eq!(names(&v["FailedValidations"]).len(), 2);
}

#[test]
fn a_seven_day_retention_vault_fails_soft_delete_and_the_recovery_level() {
    let e = Env::new();
    protected_vault(&e, "Contoso-CK-Sub1", "contoso-ck-va1", "Key001", &[EXO]);
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub2"]);
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
        "contoso-ck-va2",
        "-ResourceGroupName",
        "rg2",
        "-Location",
        "eastus",
        "-SoftDeleteRetentionInDays",
        "7",
        "-EnablePurgeProtection",
    ]);
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va2",
        "-PermissionsToKeys",
        "wrapKey,unwrapKey,get",
        "-ServicePrincipalName",
        EXO,
    ]);
    e.ok(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va2",
        "-Name",
        "Key002",
        "-Destination",
        "Software",
    ]);
    let out = e.fails(&request("Exchange", KEY1, KEY2, "Validate"), 1);
    assert!(out.contains("keeps deleted keys 7 days"), "{out}");
    assert_eq!(
        last_failed(&e),
        vec![
            (
                "SoftDeleteEnabled".into(),
                "VaultName2 contoso-ck-va2".into()
            ),
            ("KeyRecoveryLevel".into(), format!("KeyIdentifier2 {KEY2}")),
        ]
    );
}
