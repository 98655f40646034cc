//! What the service benchmarks share: the binary for setup steps, two protected vaults with an
//! RSA-3072 key each, and the store and service keys opened as one command would.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use custkey::service::keys::ServiceKeys;
use custkey::store::{RecipientRow, Store};
use custkey::vault::LocalBackend;

/// The two keys of [`vault_pair`], as `-AzureKeyIDs` takes them.
pub const KEYS: &str =
    "https://bench-va1.vault.azure.net/keys/k1,https://bench-va2.vault.azure.net/keys/k2";

/// Runs the binary on the store in `dir`; requires success and returns standard output.
/// The configuration directory (master key files) of a bench's data directory: beside it,
/// never ~/.config.
pub fn config_dir(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("config")
}

pub fn custkey(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(args)
        .env("CUSTKEY_STORE", dir.join("service.db"))
        .env("CUSTKEY_CONFIG_DIR", config_dir(dir))
        .env("CUSTKEY_KEYRING", "off")
        .output()
        .expect("run custkey");
    assert!(
        out.status.success(),
        "custkey {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two vaults in two protected subscriptions with an RSA-3072 key each, granting wrapKey,
/// unwrapKey and get to each of `principals`.
pub fn vault_pair(dir: &Path, principals: &[&str]) {
    for (sub, v, k, loc) in [
        ("s1", "bench-va1", "k1", "westus"),
        ("s2", "bench-va2", "k2", "eastus"),
    ] {
        custkey(dir, &["Set-AzContext", sub]);
        custkey(
            dir,
            &[
                "Register-AzProviderFeature",
                "-FeatureName",
                "mandatoryRetentionPeriodEnabled",
                "-ProviderNamespace",
                "Microsoft.Resources",
            ],
        );
        custkey(dir, &["New-AzKeyVault", v, "rg", loc]);
        custkey(dir, &["Add-AzKeyVaultKey", v, k, "-Size", "3072"]);
        for sp in principals {
            custkey(
                dir,
                &[
                    "Set-AzKeyVaultAccessPolicy",
                    v,
                    "-ServicePrincipalName",
                    sp,
                    "-PermissionsToKeys",
                    "wrapKey,unwrapKey,get",
                ],
            );
        }
    }
}

/// The store and the service keys of `dir`, as one command opens them.
pub fn open(dir: &Path) -> (Store, ServiceKeys) {
    std::env::set_var("CUSTKEY_KEYRING", "off");
    std::env::set_var("CUSTKEY_CONFIG_DIR", config_dir(dir));
    let mut store = Store::open(&dir.join("service.db")).unwrap();
    let backend = LocalBackend::open(dir).unwrap();
    let keys = ServiceKeys::open(dir, &mut store, backend).unwrap();
    (store, keys)
}

/// A recipient row for bulk inserts.
pub fn row(name: &str, alias: &str, kind: &str, upn: Option<String>, t: &str) -> RecipientRow {
    RecipientRow {
        guid: uuid::Uuid::new_v4().to_string(),
        exchange_guid: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        alias: alias.to_string(),
        display_name: name.to_string(),
        primary_smtp: format!("{alias}@contoso.onmicrosoft.com"),
        upn,
        external_email: None,
        kind: kind.into(),
        licenses: Vec::new(),
        dep_guid: None,
        when_created: t.to_string(),
        when_changed: t.to_string(),
        data_purged: None,
        archive_guid: None,
    }
}
