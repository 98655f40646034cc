//! Key rotation policies as Azure Key Vault shows them (`Set-AzKeyVaultKeyRotationPolicy`):
//! what a lifetime action does and when, and the policy a cmdlet shows. The rules a stored
//! policy keeps, and the clock, are the vault's (`vault::rotation`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Invalid;

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationAction {
    /// Make a new version.
    Rotate,
    /// Notify (custkey reports it; nothing changes).
    Notify,
}

impl RotationAction {
    /// Parse `Rotate` / `Notify` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rotate" => Ok(RotationAction::Rotate),
            "notify" => Ok(RotationAction::Notify),
            _ => Err(Invalid(format!(
                "'{}' is not a rotation action (use Rotate or Notify)",
                s.escape_debug()
            ))),
        }
    }

    /// Azure's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationAction::Rotate => "Rotate",
            RotationAction::Notify => "Notify",
        }
    }
}

/// One lifetime action (`PSKeyRotationLifetimeAction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeAction {
    /// `Action`
    pub action: RotationAction,
    /// `TimeAfterCreate` (ISO 8601 duration)
    #[serde(default)]
    pub time_after_create: Option<String>,
    /// `TimeBeforeExpiry` (ISO 8601 duration)
    #[serde(default)]
    pub time_before_expiry: Option<String>,
}

/// `Get-AzKeyVaultKeyRotationPolicy` output (`PSKeyRotationPolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRotationPolicy {
    /// `https://{vault}.vault.azure.net/keys/{name}/rotationpolicy`
    pub id: String,
    /// `VaultName`
    pub vault_name: String,
    /// `KeyName`
    pub key_name: String,
    /// `LifetimeActions`
    pub lifetime_actions: Vec<LifetimeAction>,
    /// `ExpiresIn`
    pub expires_in: Option<String>,
    /// `CreatedOn` (none while the key has no policy of its own)
    pub created_on: Option<DateTime<Utc>>,
    /// `UpdatedOn`
    pub updated_on: Option<DateTime<Utc>>,
}
