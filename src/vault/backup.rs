//! The key backup envelope (`Backup-AzKeyVaultKey` output): a JSON header in the clear
//! (format, subscription, key name, source vault, backend, time) and the sealed payload.
//!
//! The payload is sealed (AES-256-GCM via `crypto::seal`) under the *subscription's* backup key,
//! with the canonical header bytes as associated data. So a blob opens only with the key of the
//! subscription it names, and any change to the header or the payload is detected. Restoring
//! into a vault of another subscription is refused before any decryption, with a clear reason.
//! Backends choose the payload; the local backend's is all versions of the key with metadata.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use crate::crypto::SecretKey32;

/// The `format` value of a key backup.
pub const BACKUP_FORMAT: &str = "custkey-key-backup";
/// The current backup format version.
pub const BACKUP_VERSION: u32 = 1;
/// The largest blob accepted (a key with many 4096-bit versions is far smaller).
pub const MAX_BACKUP_BYTES: usize = 16 * 1024 * 1024;

/// The clear header of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupHeader {
    /// Always [`BACKUP_FORMAT`].
    pub format: String,
    /// Always [`BACKUP_VERSION`].
    pub version: u32,
    /// The subscription whose vaults may restore it.
    pub subscription_id: String,
    /// The key's name.
    pub key_name: String,
    /// The vault it came from.
    pub source_vault: String,
    /// The backend that made it (`Local`, `PKCS11`).
    pub backend: String,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// A Managed HSM's backup: the security domain (its id) under whose key the versions'
    /// private keys are wrapped; only an HSM holding that domain restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackupBlob {
    header: BackupHeader,
    sealed: String,
}

impl BackupHeader {
    /// A header for a backup made now.
    pub fn new(subscription_id: &str, key_name: &str, source_vault: &str, backend: &str) -> Self {
        BackupHeader {
            format: BACKUP_FORMAT.to_string(),
            version: BACKUP_VERSION,
            subscription_id: subscription_id.to_string(),
            key_name: key_name.to_string(),
            source_vault: source_vault.to_string(),
            backend: backend.to_string(),
            created: Utc::now(),
            security_domain: None,
        }
    }

    fn aad(&self) -> VaultResult<Vec<u8>> {
        let mut aad = b"custkey-key-backup/v1\n".to_vec();
        aad.extend(
            serde_json::to_vec(self)
                .map_err(|e| VaultError::Invalid(format!("backup header not serializable: {e}")))?,
        );
        Ok(aad)
    }
}

/// Seal `payload` under the subscription backup key.
pub fn seal_backup(
    key: &SecretKey32,
    header: &BackupHeader,
    payload: &[u8],
) -> VaultResult<Vec<u8>> {
    let sealed = crate::crypto::seal(key, &header.aad()?, payload)
        .map_err(|e| VaultError::Invalid(format!("cannot seal the backup: {e:?}")))?;
    let blob = BackupBlob {
        header: header.clone(),
        sealed: hex::encode(sealed),
    };
    serde_json::to_vec_pretty(&blob)
        .map_err(|e| VaultError::Invalid(format!("cannot encode the backup: {e}")))
}

/// Read the clear header of a blob (no integrity check yet).
pub fn peek_backup_header(blob: &[u8]) -> VaultResult<BackupHeader> {
    Ok(parse(blob)?.header)
}

fn parse(blob: &[u8]) -> VaultResult<BackupBlob> {
    if blob.len() > MAX_BACKUP_BYTES {
        return Err(VaultError::Invalid(format!(
            "the backup is {} bytes, more than the {MAX_BACKUP_BYTES} accepted",
            blob.len()
        )));
    }
    let b: BackupBlob = serde_json::from_slice(blob).map_err(|e| {
        VaultError::Invalid(format!(
            "this is not a custkey key backup, or it is truncated or damaged ({e})"
        ))
    })?;
    if b.header.format != BACKUP_FORMAT || b.header.version != BACKUP_VERSION {
        return Err(VaultError::Invalid(format!(
            "unsupported backup format '{}' version {}",
            super::ids::printable(&b.header.format),
            b.header.version
        )));
    }
    Ok(b)
}

/// Check the blob belongs to `subscription_id`, then open it with that subscription's key.
/// Foreign subscription, tampering and truncation are all `Invalid`, each with its reason.
/// `key` is asked for only once the blob is known to belong to the subscription.
pub fn open_backup(
    blob: &[u8],
    subscription_id: &str,
    key: impl FnOnce() -> VaultResult<SecretKey32>,
) -> VaultResult<(BackupHeader, Zeroizing<Vec<u8>>)> {
    let b = parse(blob)?;
    if !b
        .header
        .subscription_id
        .eq_ignore_ascii_case(subscription_id)
    {
        return Err(VaultError::Invalid(format!(
            "the backup of key '{}' belongs to subscription {}; the target vault is in subscription \
             {subscription_id}. A key backup restores only into a vault of the same subscription",
            super::ids::printable(&b.header.key_name),
            super::ids::printable(&b.header.subscription_id)
        )));
    }
    let sealed = hex::decode(&b.sealed).map_err(|_| {
        VaultError::Invalid("the backup is damaged: its sealed part is not hex".to_string())
    })?;
    let key = key()?;
    let payload = crate::crypto::open(&key, &b.header.aad()?, &sealed).map_err(|_| {
        VaultError::Invalid(
            "the backup failed its integrity check: it was altered, truncated, or not made in \
             this subscription"
                .to_string(),
        )
    })?;
    Ok((b.header, payload))
}
