//! Names and identifiers in Azure's forms: vault names, key names, key versions and key ids
//! (`https://{vault}.vault.azure.net/keys/{name}[/{version}]`).

use super::error::{VaultError, VaultResult};

/// The DNS suffix of the key ids of key vaults, whatever backend holds the vault.
pub const VAULT_DNS_SUFFIX: &str = ".vault.azure.net";

/// The DNS suffix of the key ids of Managed HSMs (`https://{hsm}.managedhsm.azure.net/`).
pub const MANAGED_HSM_DNS_SUFFIX: &str = ".managedhsm.azure.net";

/// The DNS suffix of a container's ids: a Managed HSM's or a key vault's.
pub fn dns_suffix(managed_hsm: bool) -> &'static str {
    if managed_hsm {
        MANAGED_HSM_DNS_SUFFIX
    } else {
        VAULT_DNS_SUFFIX
    }
}

/// Check a vault name as Azure does: 3 to 24 characters, ASCII letters, digits and hyphens,
/// starting with a letter, ending with a letter or digit, no two hyphens in a row.
pub fn validate_vault_name(name: &str) -> VaultResult<()> {
    let bad = |why: &str| {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid vault name: {why} (3-24 characters, letters, digits and hyphens, \
             starting with a letter, ending with a letter or digit, no consecutive hyphens)",
            printable(name)
        )))
    };
    let len = name.chars().count();
    if !(3..=24).contains(&len) {
        return bad("wrong length");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("it contains a character other than a letter, digit or hyphen");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it does not start with a letter");
    }
    if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it does not end with a letter or digit");
    }
    if name.contains("--") {
        return bad("it has consecutive hyphens");
    }
    Ok(())
}

/// Check a key name as Azure does: 1 to 127 characters, ASCII letters, digits and hyphens.
pub fn validate_key_name(name: &str) -> VaultResult<()> {
    let len = name.chars().count();
    if (1..=127).contains(&len) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid key name (1-127 characters, letters, digits and hyphens)",
            printable(name)
        )))
    }
}

/// Check a key version: 32 lowercase hexadecimal digits.
pub fn validate_version(version: &str) -> VaultResult<()> {
    if version.len() == 32
        && version
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "'{}' is not a valid key version (32 lowercase hexadecimal digits)",
            printable(version)
        )))
    }
}

/// A fresh random key version (32 lowercase hex digits).
pub fn new_version() -> String {
    let mut b = [0u8; 16];
    crate::crypto::random_bytes(&mut b);
    hex::encode(b)
}

/// The vault URI: `https://{vault}.vault.azure.net/`.
pub fn vault_uri(vault: &str) -> String {
    container_uri(vault, false)
}

/// The URI of a key vault or (`managed_hsm`) of a Managed HSM: `https://{hsm}.managedhsm.azure.net/`.
pub fn container_uri(name: &str, managed_hsm: bool) -> String {
    format!(
        "https://{}{}/",
        name.to_ascii_lowercase(),
        dns_suffix(managed_hsm)
    )
}

/// A parsed key id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId {
    /// Vault name, lower case (vault names are case-insensitive DNS labels).
    pub vault: String,
    /// Key name as written.
    pub name: String,
    /// Key version, if the id names one.
    pub version: Option<String>,
    /// The id names a key of a Managed HSM (`{hsm}.managedhsm.azure.net`), not of a key vault.
    pub hsm: bool,
}

impl KeyId {
    /// Build an id from parts, validating each.
    pub fn new(vault: &str, name: &str, version: Option<&str>) -> VaultResult<Self> {
        validate_vault_name(vault)?;
        validate_key_name(name)?;
        if let Some(v) = version {
            validate_version(v)?;
        }
        Ok(KeyId {
            vault: vault.to_ascii_lowercase(),
            name: name.to_string(),
            version: version.map(str::to_string),
            hsm: false,
        })
    }

    /// Parse `https://{vault}.vault.azure.net/keys/{name}[/{version}]` or
    /// `https://{hsm}.managedhsm.azure.net/keys/{name}[/{version}]` (a trailing slash is
    /// accepted; scheme and host are case-insensitive; anything else is `Invalid`).
    pub fn parse(id: &str) -> VaultResult<Self> {
        let bad = |why: &str| {
            Err(VaultError::Invalid(format!(
                "'{}' is not a key id: {why} (expected https://{{vault}}.vault.azure.net/keys/{{name}}[/{{version}}] \
                 or https://{{hsm}}.managedhsm.azure.net/keys/{{name}}[/{{version}}])",
                printable(id)
            )))
        };
        let Some(scheme) = id.get(..8) else {
            return bad("too short");
        };
        if !scheme.eq_ignore_ascii_case("https://") {
            return bad("it does not start with https://");
        }
        let rest = &id[8..];
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host_lc = host.to_ascii_lowercase();
        let (vault, hsm) = if let Some(v) = host_lc.strip_suffix(VAULT_DNS_SUFFIX) {
            (v, false)
        } else if let Some(h) = host_lc.strip_suffix(MANAGED_HSM_DNS_SUFFIX) {
            (h, true)
        } else {
            return bad("the host is not {vault}.vault.azure.net or {hsm}.managedhsm.azure.net");
        };
        if path.contains(['?', '#']) {
            return bad("it has a query or fragment");
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut parts = path.split('/');
        // A path starts with '/', so the first element is empty.
        let (Some(""), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return bad("the path is not /keys/{name}");
        };
        if kind != "keys" {
            return bad("the path is not /keys/{name}");
        }
        let version = parts.next();
        if parts.next().is_some() {
            return bad("the path has too many segments");
        }
        let version = version.map(str::to_ascii_lowercase);
        Ok(KeyId {
            hsm,
            ..KeyId::new(vault, name, version.as_deref())?
        })
    }

    /// What holds the key, for messages: `key vault 'v'` or `Managed HSM 'h'`.
    pub fn container(&self) -> String {
        if self.hsm {
            format!("Managed HSM '{}'", self.vault)
        } else {
            format!("key vault '{}'", self.vault)
        }
    }

    /// The same id with the version dropped.
    pub fn versionless(&self) -> KeyId {
        KeyId {
            version: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "https://{}{}/keys/{}",
            self.vault,
            dns_suffix(self.hsm),
            self.name
        )?;
        if let Some(v) = &self.version {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for KeyId {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyId::parse(s)
    }
}

/// The key id string for a vault, key and optional version (no validation).
pub fn key_id_string(vault: &str, name: &str, version: Option<&str>) -> String {
    key_id_string_in(vault, false, name, version)
}

/// The key id string of a key of a key vault or (`managed_hsm`) of a Managed HSM.
pub fn key_id_string_in(
    container: &str,
    managed_hsm: bool,
    name: &str,
    version: Option<&str>,
) -> String {
    KeyId {
        vault: container.to_ascii_lowercase(),
        name: name.to_string(),
        version: version.map(str::to_string),
        hsm: managed_hsm,
    }
    .to_string()
}

/// The recovery id of a deleted key: `https://{vault}.vault.azure.net/deletedkeys/{name}`
/// (`.managedhsm.azure.net` for a Managed HSM's).
pub fn deleted_key_id_string(vault: &str, managed_hsm: bool, name: &str) -> String {
    format!(
        "https://{}{}/deletedkeys/{name}",
        vault.to_ascii_lowercase(),
        dns_suffix(managed_hsm)
    )
}

pub use crate::model::is_guid;
pub(crate) use crate::model::printable;

/// Find `s` (trimmed, case-insensitive) among `all` by `name`; otherwise `Invalid`, listing
/// the valid names.
pub(crate) fn parse_named<T: Copy>(
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
) -> VaultResult<T> {
    Ok(crate::model::parse_named(s, all, name, what)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names() {
        for ok in [
            "abc",
            "Contoso-CK-EX-NA-VaultA1",
            "a1b",
            "a-b-c",
            "A23456789012345678901234",
        ] {
            assert!(validate_vault_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1abc",
            "abc-",
            "a--b",
            "a_bc",
            "abcdefghijklmnopqrstuvwxy",
            "",
            "ab c",
            "-abc",
            "abé",
        ] {
            let e = validate_vault_name(bad).unwrap_err();
            assert_eq!(e.class(), crate::vault::ErrorClass::Invalid, "{bad}");
        }
    }

    #[test]
    fn key_names() {
        assert!(validate_key_name("k").is_ok());
        assert!(validate_key_name(&"a".repeat(127)).is_ok());
        assert!(validate_key_name(&"a".repeat(128)).is_err());
        assert!(validate_key_name("").is_err());
        assert!(validate_key_name("a_b").is_err());
        assert!(validate_key_name("a/b").is_err());
    }

    #[test]
    fn key_ids_round_trip() {
        let v = "0123456789abcdef0123456789abcdef";
        let id = KeyId::parse(&format!("https://Contoso-A.vault.azure.net/keys/k1/{v}")).unwrap();
        assert_eq!(id.vault, "contoso-a");
        assert_eq!(id.name, "k1");
        assert_eq!(id.version.as_deref(), Some(v));
        assert_eq!(
            id.to_string(),
            format!("https://contoso-a.vault.azure.net/keys/k1/{v}")
        );
        let id = KeyId::parse("HTTPS://contoso-a.VAULT.azure.net/keys/k1/").unwrap();
        assert_eq!(id.version, None);
        assert_eq!(id.to_string(), "https://contoso-a.vault.azure.net/keys/k1");
        let h = KeyId::parse(&format!(
            "https://Contoso-HSM1.ManagedHSM.azure.net/keys/k1/{v}/"
        ))
        .unwrap();
        assert!(h.hsm && !id.hsm);
        assert_eq!(h.vault, "contoso-hsm1");
        assert_eq!(
            h.to_string(),
            format!("https://contoso-hsm1.managedhsm.azure.net/keys/k1/{v}")
        );
        assert_eq!(h.container(), "Managed HSM 'contoso-hsm1'");
    }

    #[test]
    fn key_ids_rejected() {
        for bad in [
            "",
            "http://a1b.vault.azure.net/keys/k",
            "https://a1b.example.com/keys/k",
            "https://a1b.vault.azure.net/secrets/k",
            "https://a1b.vault.azure.net/keys/",
            "https://a1b.vault.azure.net/keys/k/xyz",
            "https://a1b.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef/x",
            "https://a1b.vault.azure.net/keys/k?x=1",
            "https://a.vault.azure.net/keys/k",
            "https://a1b.managedhsm.azure.com/keys/k",
            "https://a1b.vault.managedhsm.azure.net.evil/keys/k",
            "https://é",
        ] {
            let e = KeyId::parse(bad).unwrap_err();
            assert_eq!(e.class(), crate::vault::ErrorClass::Invalid, "{bad}");
        }
    }

    #[test]
    fn versions() {
        let v = new_version();
        assert!(validate_version(&v).is_ok());
        assert_ne!(v, new_version());
        assert!(validate_version("0123456789ABCDEF0123456789abcdef").is_err());
        assert!(validate_version("0123").is_err());
    }

    #[test]
    fn guids() {
        assert!(is_guid("00000002-0000-0ff1-ce00-000000000000"));
        assert!(!is_guid("00000002-0000-0ff1-ce00-00000000000"));
        assert!(!is_guid("not-a-guid"));
    }
}
