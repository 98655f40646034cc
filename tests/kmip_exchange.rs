//! KMIP root keys through the real binary, against a real PyKMIP server (tests/kmip/mod.rs)
//! and SoftHSM2: a DEP with one root key on a token and one in the key manager protects a
//! mailbox end to end; losing the KMIP server is a system error (fallback to the availability
//! key, audited); revoking the KMIP key is a refusal (no fallback for a user request).

mod common;
mod kmip;
mod softhsm;

use std::path::PathBuf;

use common::{audit_operations, files};
use custkey::vault::kmip::client::{self, Endpoint};

const EXO: &str = "00000002-0000-0ff1-ce00-000000000000";
const TOKEN: &str = "ck-kmip";
const HSM_VAULT: &str = "contoso-ck-hsm1";
const KMS: &str = "contoso-kms";

struct Env {
    e: common::Env,
    ep: Endpoint,
    relay: kmip::Relay,
    kmip_id: String,
}

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.e
    }
}

impl Env {
    fn new() -> Option<Env> {
        let ep = kmip::endpoint()?;
        let module = softhsm::module()?;
        let mut e = common::Env::new();
        let conf = softhsm::write_conf(&e.dir.path().join("hsm"));
        softhsm::init_token(&conf, TOKEN);
        std::os::unix::fs::symlink(&module, e.dir.path().join("libsofthsm2.so")).unwrap();
        e.extra
            .push(("SOFTHSM2_CONF".into(), conf.to_string_lossy().into_owned()));
        e.extra
            .push(("CUSTKEY_PKCS11_PIN".into(), softhsm::PIN.into()));
        let relay = kmip::Relay::new(&ep);
        let (_, kmip_id) = kmip::active_aes_key(&ep);
        Some(Env {
            e,
            ep,
            relay,
            kmip_id,
        })
    }

    fn kmip_uri(&self) -> String {
        format!("kmip://127.0.0.1:{}/{}", self.relay.port, self.kmip_id)
    }

    fn register_kms(&self) -> serde_json::Value {
        let s = format!("127.0.0.1:{}", self.relay.port);
        let path = |p: &PathBuf| p.to_str().unwrap().to_string();
        self.json(&[
            "New-AzKeyVault",
            "-VaultName",
            KMS,
            "-ResourceGroupName",
            "kms-rg",
            "-Location",
            "eastus",
            "-KmipServer",
            &s,
            "-KmipClientCertificate",
            &path(&self.ep.client_certificate),
            "-KmipClientKey",
            &path(&self.ep.client_key),
            "-KmipCaCertificate",
            &path(&self.ep.ca_certificate),
        ])
    }

    /// The SoftHSM2 vault with key `HsmKey`, and the KMIP server registered.
    fn hsm_key_and_kms(&self) {
        self.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
        self.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        let link = self.path("libsofthsm2.so").to_str().unwrap().to_string();
        self.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            HSM_VAULT,
            "-ResourceGroupName",
            "hsm-rg",
            "-Location",
            "westus",
            "-Sku",
            "Premium",
            "-Pkcs11Module",
            &link,
            "-TokenLabel",
            TOKEN,
        ]);
        self.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            HSM_VAULT,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
            "-ServicePrincipalName",
            EXO,
        ]);
        self.ok(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            HSM_VAULT,
            "-Name",
            "HsmKey",
            "-Destination",
            "HSM",
            "-KeyOps",
            "wrapKey,unwrapKey",
        ]);
        let reg = self.register_kms();
        assert_eq!(reg["Backend"], "KMIP");
    }

    /// A DEP with a SoftHSM2 root and a KMIP root; alice assigned to it, with mail imported.
    fn setup(&self) -> PathBuf {
        self.hsm_key_and_kms();
        let ids = format!(
            "https://{HSM_VAULT}.vault.azure.net/keys/HsmKey,{}",
            self.kmip_uri()
        );
        let dep = self.json(&[
            "New-DataEncryptionPolicy",
            "-Name",
            "US Mailboxes",
            "-AzureKeyIDs",
            &ids,
        ]);
        assert_eq!(dep["State"], "Active", "{dep}");
        self.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
        self.ok(&[
            "Set-MgUserLicense",
            "-UserId",
            "alice",
            "-AddLicenses",
            "SPE_E5",
        ]);
        self.ok(&[
            "Set-Mailbox",
            "alice",
            "-DataEncryptionPolicy",
            "US Mailboxes",
        ]);
        let dir = self.path("mail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.eml"),
            b"From: bob@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: KMIP\r\n\r\nIn the key manager.\r\n",
        )
        .unwrap();
        self.ok(&["New-MailboxImportRequest", "alice", dir.to_str().unwrap()]);
        dir
    }

    /// (key uri, recorded wrap kind) of each root wrap, from the store.
    fn wrap_kinds(&self) -> Vec<(String, String)> {
        common::store_rows(
            self,
            "SELECT key_uri, wrap_kind FROM dep_root_wrap ORDER BY slot",
            &[],
        )
        .into_iter()
        .map(|r| (r[0].text(), r[1].text()))
        .collect()
    }

    fn take_hsm_away(&self) {
        std::fs::remove_file(self.path("libsofthsm2.so")).unwrap();
    }
}

#[test]
fn a_dep_with_a_softhsm_root_and_a_kmip_root_protects_a_mailbox() {
    let Some(e) = Env::new() else { return };
    let mail = e.setup();
    let kinds = e.wrap_kinds();
    assert_eq!(
        kinds,
        vec![
            (
                format!("https://{HSM_VAULT}.vault.azure.net/keys/HsmKey"),
                "RSA-OAEP".to_string()
            ),
            (e.kmip_uri(), "KMS-AES-256-GCM".to_string()),
        ]
    );
    e.ok(&["New-MailboxExportRequest", "alice", "out"]);
    assert_eq!(files(&e.path("out")), files(&mail));
    // With the token gone, the KMIP root alone opens the key (no fallback).
    e.take_hsm_away();
    e.ok(&["New-MailboxExportRequest", "alice", "kmip-only"]);
    assert_eq!(files(&e.path("kmip-only")), files(&mail));
    assert!(audit_operations(&e)
        .iter()
        .all(|(op, _)| op != "Fallback to Availability Key"));
    // A refresh wraps under the same KMIP key again.
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "US Mailboxes",
        "-Refresh",
    ]);
}

#[test]
fn losing_the_kmip_server_is_a_system_error_and_falls_back_audited() {
    let Some(e) = Env::new() else { return };
    let mail = e.setup();
    e.take_hsm_away();
    e.relay.cut();
    e.ok(&["New-MailboxExportRequest", "alice", "fallback"]);
    assert_eq!(files(&e.path("fallback")), files(&mail));
    let fallbacks: Vec<_> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Fallback to Availability Key")
        .collect();
    assert_eq!(fallbacks.len(), 1, "{fallbacks:?}");
    assert_eq!(fallbacks[0].1["Reason"], "SystemError");
    // A new policy on an unreachable KMIP key is refused with exit 3 (Unavailable).
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "Other",
            "-AzureKeyIDs",
            &format!(
                "https://{HSM_VAULT}.vault.azure.net/keys/HsmKey,{}",
                e.kmip_uri()
            ),
        ],
        3,
    );
    assert!(err.contains("cannot be reached"), "{err}");
}

#[test]
fn revoking_the_kmip_key_is_a_refusal_without_fallback() {
    let Some(e) = Env::new() else { return };
    e.setup();
    e.take_hsm_away();
    client::revoke(&e.ep, &e.kmip_id, true).unwrap();
    let err = e.fails(&["New-MailboxExportRequest", "alice", "refused"], 1);
    assert!(
        err.contains("revoked") || err.contains("Compromised"),
        "{err}"
    );
    assert!(audit_operations(&e)
        .iter()
        .all(|(op, _)| op != "Fallback to Availability Key"));
}

#[test]
fn registration_is_checked_and_bad_kmip_uris_are_refused() {
    let Some(e) = Env::new() else { return };
    // A relative certificate path is refused (the list keeps paths).
    let err = e.fails(
        &[
            "New-AzKeyVault",
            "-VaultName",
            "kms-x",
            "-ResourceGroupName",
            "rg",
            "-Location",
            "eastus",
            "-KmipServer",
            "127.0.0.1:1",
            "-KmipClientCertificate",
            "c.crt",
            "-KmipClientKey",
            "c.key",
            "-KmipCaCertificate",
            "ca.crt",
        ],
        1,
    );
    assert!(err.contains("absolute path"), "{err}");
    // -KmipServer without its files is a usage error.
    let err = e.fails(
        &[
            "New-AzKeyVault",
            "-VaultName",
            "kms-x",
            "-ResourceGroupName",
            "rg",
            "-Location",
            "eastus",
            "-KmipServer",
            "127.0.0.1:1",
        ],
        2,
    );
    assert!(err.contains("-KmipClientCertificate"), "{err}");
    e.register_kms();
    // Get-AzKeyVault shows the server by its name and in the list.
    let shown = e.json(&["Get-AzKeyVault", "-VaultName", KMS]);
    assert_eq!(shown["Backend"], "KMIP", "{shown}");
    assert_eq!(shown["KmipServer"], e.relay.server());
    let all = e.json(&["Get-AzKeyVault"]);
    let names: Vec<String> = match all {
        serde_json::Value::Array(a) => a.iter().map(|v| v["VaultName"].to_string()).collect(),
        one => vec![one["VaultName"].to_string()],
    };
    assert!(names.iter().any(|n| n.contains(KMS)), "{names:?}");
    // The name and the server are taken now: registering them again is refused.
    let server = e.relay.server();
    let err = e.fails(
        &[
            "New-AzKeyVault",
            "-VaultName",
            KMS,
            "-ResourceGroupName",
            "rg",
            "-Location",
            "eastus",
            "-KmipServer",
            &server,
            "-KmipClientCertificate",
            e.ep.client_certificate.to_str().unwrap(),
            "-KmipClientKey",
            e.ep.client_key.to_str().unwrap(),
            "-KmipCaCertificate",
            e.ep.ca_certificate.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("already registered"), "{err}");
    // A malformed kmip: URI names what is wrong.
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "P",
            "-AzureKeyIDs",
            "kmip://127.0.0.1/1,kmip://127.0.0.1:5696/2",
        ],
        1,
    );
    assert!(err.contains("no port"), "{err}");
}

/// SharePoint and multi-workload policies take a KMIP root key beside a SoftHSM2 one, as
/// mailbox policies do: the same checks and wraps, run end to end.
#[test]
fn sharepoint_and_multi_workload_policies_on_a_softhsm_and_a_kmip_root() {
    const SPO_APP: &str = "00000003-0000-0ff1-ce00-000000000000";
    let Some(e) = Env::new() else { return };
    e.setup();
    for app in [SPO_APP, common::M365] {
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            HSM_VAULT,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
            "-ServicePrincipalName",
            app,
        ]);
    }
    let version = e.json(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        HSM_VAULT,
        "-Name",
        "HsmKey",
    ])["Version"]
        .as_str()
        .unwrap()
        .to_string();
    let hsm_uri = format!("https://{HSM_VAULT}.vault.azure.net/keys/HsmKey/{version}");
    // SharePoint: the geo's policy over both roots, a file up and down byte for byte.
    let p = e.json(&[
        "Register-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultUri",
        &hsm_uri,
        "-SecondaryKeyVaultUri",
        &e.kmip_uri(),
    ]);
    assert_eq!(p["State"], "Registered", "{p}");
    let kinds: Vec<String> = common::store_rows(
        &e,
        "SELECT wrap_kind FROM spo_dep_root_wrap ORDER BY wrap_kind",
        &[],
    )
    .into_iter()
    .map(|r| r[0].text())
    .collect();
    assert!(kinds.iter().any(|k| k == "KMS-AES-256-GCM"), "{kinds:?}");
    // A roll of the primary onto a second key of the same KMIP server would put both keys in
    // one holder: refused.
    let (same_server, _) = kmip::active_aes_key(&e.ep);
    let same_server = same_server.replace(&kmip::server(&e.ep), &e.relay.server());
    let err = e.fails(
        &[
            "Update-SPODataEncryptionPolicy",
            "-KeyType",
            "Primary",
            "-KeyVaultUri",
            &same_server,
        ],
        1,
    );
    assert!(err.contains("already holds the other key"), "{err}");
    let site = "https://contoso.sharepoint.com/sites/kms";
    e.ok(&[
        "New-PnPSite",
        "-Type",
        "TeamSite",
        "-Title",
        "KMS",
        "-Url",
        site,
    ]);
    let file = e.path("report.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    e.ok(&[
        "Add-PnPFile",
        "-Path",
        file.to_str().unwrap(),
        "-Folder",
        "Shared Documents",
        "-Site",
        site,
    ]);
    std::fs::create_dir_all(e.path("dl")).unwrap();
    e.ok(&[
        "Get-PnPFile",
        "-Url",
        "/sites/kms/Shared Documents/report.bin",
        "-AsFile",
        "-Path",
        "dl",
        "-Filename",
        "report.bin",
    ]);
    assert_eq!(std::fs::read(e.path("dl/report.bin")).unwrap(), data);
    // Multi-workload: a policy over the same two roots, tested with each.
    let m = e.json(&[
        "New-M365DataAtRestEncryptionPolicy",
        "-Name",
        "Contoso Global",
        "-AzureKeyIDs",
        &format!(
            "https://{HSM_VAULT}.vault.azure.net/keys/HsmKey,{}",
            e.kmip_uri()
        ),
    ]);
    assert_eq!(m["Enabled"], true, "{m}");
    let t = e.json_raw(&["Test-M365DataAtRestEncryptionPolicy", "Contoso Global"]);
    let results: Vec<&serde_json::Value> = t.as_array().unwrap().iter().collect();
    assert!(!results.is_empty(), "{t}");
    for r in results {
        assert_eq!(r["Result"], "Success", "{r}");
    }
}

/// A KMIP registration is removed with Remove-AzKeyVault, by someone who may remove vaults
/// there, and not while a policy's root key is on that server.
#[test]
fn a_kmip_registration_is_removed_only_when_no_policy_needs_it() {
    let Some(e) = Env::new() else { return };
    e.setup();
    let err = e.fails(&["Remove-AzKeyVault", "-VaultName", KMS, "-Force"], 1);
    assert!(
        err.contains("holds root keys of") && err.contains("US Mailboxes"),
        "{err}"
    );
    assert!(e.ok(&["Get-AzKeyVault"]).contains(KMS));
    // A second server's registration (the same server through another relay), unused.
    let other = kmip::Relay::new(&e.ep);
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let args = |name: &str| {
        vec![
            "New-AzKeyVault".to_string(),
            "-VaultName".into(),
            name.into(),
            "-ResourceGroupName".into(),
            "kms2-rg".into(),
            "-Location".into(),
            "westus".into(),
            "-KmipServer".into(),
            format!("127.0.0.1:{}", other.port),
            "-KmipClientCertificate".into(),
            path(&e.ep.client_certificate),
            "-KmipClientKey".into(),
            path(&e.ep.client_key),
            "-KmipCaCertificate".into(),
            path(&e.ep.ca_certificate),
        ]
    };
    let run = |who: &common::Env, a: &[String]| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        who.run(&a)
    };
    // An account without a role on the subscription can neither register nor remove one.
    e.register("bob@contoso.com");
    e.connect("bob@contoso.com");
    let out = run(&e, &args("kms2"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("RegisterKmipServer"), "{err}");
    e.connect_owner();
    let out = run(&e, &args("kms2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = e.json_raw(&["Get-AzKeyVault"]);
    let kms2 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["VaultName"] == "kms2")
        .unwrap()
        .clone();
    assert_eq!(kms2["ResourceGroupName"], "kms2-rg");
    e.connect("bob@contoso.com");
    let err = e.fails(&["Remove-AzKeyVault", "-VaultName", "kms2", "-Force"], 1);
    assert!(err.contains("RemoveKmipServer"), "{err}");
    e.connect_owner();
    e.ok(&["Remove-AzKeyVault", "-VaultName", "kms2", "-Force"]);
    assert!(!e.ok(&["Get-AzKeyVault"]).contains("kms2"));
    assert!(audit_operations(&e)
        .iter()
        .any(|(op, p)| op == "Remove KMIP server" && p["VaultName"] == "kms2"));
}

/// An RSA key pair in the KMIP server as a root: the copy is made under the public key read
/// from the server, then proven by a decryption on the server before anything is stored.
/// PyKMIP does no RSA decryption, so the policy is refused, with the server's reason and what
/// to do, and no policy exists afterwards; a key named without `?public=` on a server that
/// records no links is refused with the form to use.
#[test]
fn an_rsa_kmip_root_is_refused_when_the_server_cannot_open_its_copy() {
    let Some(e) = Env::new() else { return };
    e.hsm_key_and_kms();
    let (private, public) = client::create_rsa_key_pair(&e.ep, 3072).unwrap();
    client::activate(&e.ep, &private).unwrap();
    client::activate(&e.ep, &public).unwrap();
    let rsa = format!("kmip://127.0.0.1:{}/{private}", e.relay.port);
    let hsm = format!("https://{HSM_VAULT}.vault.azure.net/keys/HsmKey");
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "RSA in KMIP",
            "-AzureKeyIDs",
            &format!("{hsm},{rsa}?public={public}"),
        ],
        1,
    );
    assert!(
        err.contains("does not open on the server, so none is stored"),
        "{err}"
    );
    assert!(err.contains("symmetric"), "{err}");
    let err = e.fails(
        &[
            "New-DataEncryptionPolicy",
            "-Name",
            "RSA in KMIP",
            "-AzureKeyIDs",
            &format!("{hsm},{rsa}"),
        ],
        1,
    );
    assert!(err.contains("?public=<public key id>"), "{err}");
    let all = e.json(&["Get-DataEncryptionPolicy"]);
    assert!(
        !all.to_string().contains("RSA in KMIP"),
        "a refused policy was stored: {all}"
    );
}

/// `Add-AzKeyVaultKey -VaultName <KMIP registration>` makes an active key in the key manager:
/// an AES-256 key with `-KeyType oct` (which then protects a policy beside the SoftHSM2 key),
/// an RSA key pair otherwise (its Id names the public key). Options that belong to the key
/// manager are refused, an account without the right cannot make keys there, and each key made
/// is audited.
#[test]
fn add_azkeyvaultkey_makes_active_keys_in_a_kmip_server() {
    let Some(e) = Env::new() else { return };
    e.hsm_key_and_kms();
    let aes = e.json(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        KMS,
        "-Name",
        "Contoso-KMS-Key001",
        "-KeyType",
        "oct",
    ]);
    assert_eq!(aes["KeyType"], "oct-HSM", "{aes}");
    assert_eq!(aes["KeySize"], 256);
    assert_eq!(aes["Backend"], "KMIP");
    let id = aes["Id"].as_str().unwrap().to_string();
    let prefix = format!("kmip://127.0.0.1:{}/", e.relay.port);
    assert!(id.starts_with(&prefix), "{id}");
    let uid = aes["UniqueIdentifier"].as_str().unwrap();
    let attrs = client::get_attributes(&e.ep, uid).unwrap();
    assert!(attrs.is_aes256());
    assert_eq!(attrs.state, Some(client::State::Active));
    let dep = e.json(&[
        "New-DataEncryptionPolicy",
        "-Name",
        "Made Here",
        "-AzureKeyIDs",
        &format!("https://{HSM_VAULT}.vault.azure.net/keys/HsmKey,{id}"),
    ]);
    assert_eq!(dep["State"], "Active", "{dep}");

    let rsa = e.json(&[
        "Add-AzKeyVaultKey",
        KMS,
        "Contoso-KMS-Rsa001",
        "-Size",
        "3072",
    ]);
    assert_eq!(
        (rsa["KeyType"].clone(), rsa["KeySize"].clone()),
        ("RSA-HSM".into(), 3072.into())
    );
    let public = rsa["PublicKeyIdentifier"].as_str().unwrap();
    let private = rsa["UniqueIdentifier"].as_str().unwrap();
    assert_eq!(
        rsa["Id"].as_str().unwrap(),
        format!("{prefix}{private}?public={public}")
    );
    for k in [private, public] {
        assert_eq!(
            client::get_attributes(&e.ep, k).unwrap().state,
            Some(client::State::Active)
        );
    }
    assert_eq!(
        client::get_key(&e.ep, public).unwrap().object_type,
        client::OBJECT_PUBLIC_KEY
    );

    for (args, says) in [
        (vec!["-KeyOps", "wrapKey"], "-KeyOps does not apply"),
        (vec!["-Disable"], "-Disable does not apply"),
        (vec!["-KeyType", "oct", "-Size", "128"], "AES-256"),
        (vec!["-Destination", "Software"], "held by that key manager"),
        (vec!["-KeyType", "EC"], "RSA"),
        (vec!["-Size", "1024"], "2048, 3072 or 4096"),
    ] {
        let mut a = vec!["Add-AzKeyVaultKey", KMS, "K"];
        a.extend(args.iter().copied());
        let code = if says.contains("2048") { 1 } else { 2 };
        let err = e.fails(&a, code);
        assert!(err.contains(says), "{a:?}: {err}");
    }
    // oct is for KMIP servers only.
    let err = e.fails(&["Add-AzKeyVaultKey", HSM_VAULT, "K", "-KeyType", "oct"], 2);
    assert!(err.contains("not a registered KMIP server"), "{err}");
    // An account without write in the registration's resource group makes no key there.
    e.register("bob@contoso.com");
    e.connect("bob@contoso.com");
    let err = e.fails(&["Add-AzKeyVaultKey", KMS, "K", "-KeyType", "oct"], 1);
    assert!(err.contains("CreateKmipKey"), "{err}");
    e.connect_owner();
    let made: Vec<String> = audit_operations(&e)
        .into_iter()
        .filter(|(op, _)| op == "Create KMIP key")
        .map(|(_, p)| p["Id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(made, vec![id, rsa["Id"].as_str().unwrap().to_string()]);
}

/// Rotating a KMIP root: KMIP keys have no versions (a Re-key is a new object), so a new key is
/// made (`Add-AzKeyVaultKey` on the registration) and put in the policy's place of the old one
/// (`Set-DataEncryptionPolicy -AzureKeyIDs <old>,<new> -Replace`); the old key is then revoked
/// and the mail still opens with the new key alone.
#[test]
fn a_kmip_root_is_rotated_by_a_new_key_and_a_replacement() {
    let Some(e) = Env::new() else { return };
    let mail = e.setup();
    let old = e.kmip_uri();
    let new = e.json(&["Add-AzKeyVaultKey", KMS, "Rotated", "-KeyType", "oct"]);
    let new_id = new["Id"].as_str().unwrap().to_string();
    e.ok(&[
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-AzureKeyIDs",
        &format!("{old},{new_id}"),
        "-Replace",
    ]);
    let kinds = e.wrap_kinds();
    assert_eq!(kinds[1], (new_id.clone(), "KMS-AES-256-GCM".to_string()));
    client::revoke(&e.ep, &e.kmip_id, false).unwrap();
    e.take_hsm_away();
    e.ok(&["New-MailboxExportRequest", "alice", "after"]);
    assert_eq!(files(&e.path("after")), files(&mail));
    assert!(audit_operations(&e)
        .iter()
        .all(|(op, _)| op != "Fallback to Availability Key"));
}
