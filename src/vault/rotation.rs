//! Key rotation policies, as Azure Key Vault has them (`Set-AzKeyVaultKeyRotationPolicy`).
//!
//! A policy is stored sealed with its key. It holds `ExpiresIn` (an ISO 8601 duration applied
//! as the `Expires` of each version a rotation makes) and at most one `Rotate` and one `Notify`
//! lifetime action, each triggered `TimeAfterCreate` (of the current version) or
//! `TimeBeforeExpiry` (of the current version). Azure's limits are enforced by
//! [`RotationPolicy::validate`]; [`RotationPolicy::rotation_due`] decides whether a `Rotate`
//! action is due for a version. Both are pure: the caller passes the clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::{VaultError, VaultResult};
pub use crate::model::rotation::{KeyRotationPolicy, LifetimeAction, RotationAction};

/// A test hook: the time a due-rotation check takes as now (RFC 3339).
pub const ENV_TEST_NOW: &str = "CUSTKEY_TEST_NOW";

/// The clock a due-rotation check reads. Only a build with the `test-hooks` feature (the test
/// suite's) honours [`ENV_TEST_NOW`], so tests can stand days in the future; any other build
/// reads the system clock (and refuses to start with the variable set, as for every test hook:
/// docs/cli.md, Environment variables).
pub fn now() -> DateTime<Utc> {
    if cfg!(feature = "test-hooks") {
        if let Some(t) = std::env::var(ENV_TEST_NOW)
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        {
            return t.with_timezone(&Utc);
        }
    }
    Utc::now()
}

/// The least `ExpiresIn` Azure accepts.
pub const MIN_EXPIRES_IN_DAYS: i64 = 28;
/// The least `TimeAfterCreate` / `TimeBeforeExpiry` Azure accepts.
pub const MIN_TRIGGER_DAYS: i64 = 7;

/// A key's rotation policy as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    /// `ExpiresIn` (ISO 8601 duration)
    #[serde(default)]
    pub expires_in: Option<String>,
    /// `LifetimeActions`
    #[serde(default)]
    pub lifetime_actions: Vec<LifetimeAction>,
    /// `CreatedOn`
    pub created_on: DateTime<Utc>,
    /// `UpdatedOn`
    pub updated_on: DateTime<Utc>,
}

/// The longest duration a policy takes (a hundred years): what a key's lifetime can sensibly be,
/// and far inside the calendar's range, so `created + duration` cannot overflow.
pub const MAX_DURATION_DAYS: i64 = 36_500;

/// Parse an ISO 8601 duration (`P2Y`, `P720D`, `P1Y6M`, `PT12H`, `P2W`). Years count as 365
/// days and months as 30, as fixed lengths. Refused: empty, negative, fractional or
/// unknown-unit forms, and more than [`MAX_DURATION_DAYS`] in all.
pub fn parse_iso_duration(s: &str) -> VaultResult<Duration> {
    let bad = |why: &str| {
        VaultError::Invalid(format!(
            "'{}' is not an ISO 8601 duration ({why}; examples: P2Y, P90D, P1Y6M, PT12H)",
            s.escape_debug()
        ))
    };
    let t = s.trim();
    let rest = t
        .strip_prefix('P')
        .or_else(|| t.strip_prefix('p'))
        .ok_or_else(|| bad("it must start with P"))?;
    if rest.is_empty() || rest.eq_ignore_ascii_case("T") {
        return Err(bad("no amount"));
    }
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        if c == 'T' || c == 't' {
            if in_time || !num.is_empty() {
                return Err(bad("misplaced T"));
            }
            in_time = true;
            continue;
        }
        if num.is_empty() {
            return Err(bad("a unit without a number"));
        }
        let n: i64 = num.parse().map_err(|_| bad("number too large"))?;
        if n > 100_000 {
            return Err(bad("number too large"));
        }
        num.clear();
        let d = match (in_time, c.to_ascii_uppercase()) {
            (false, 'Y') => Duration::days(365 * n),
            (false, 'M') => Duration::days(30 * n),
            (false, 'W') => Duration::weeks(n),
            (false, 'D') => Duration::days(n),
            (true, 'H') => Duration::hours(n),
            (true, 'M') => Duration::minutes(n),
            (true, 'S') => Duration::seconds(n),
            _ => return Err(bad("unknown unit")),
        };
        total += d;
        if total > Duration::days(MAX_DURATION_DAYS) {
            return Err(bad("longer than a hundred years (P100Y)"));
        }
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad("a number without a unit"));
    }
    Ok(total)
}

fn at_least(what: &str, value: &str, days: i64) -> VaultResult<Duration> {
    let d = parse_iso_duration(value)?;
    if d < Duration::days(days) {
        return Err(VaultError::Invalid(format!(
            "{what} '{value}' is too short: Azure Key Vault requires at least {days} days (P{days}D)"
        )));
    }
    Ok(d)
}

impl RotationPolicy {
    /// Check Azure's rules: `ExpiresIn` at least 28 days; at most one `Rotate` and one `Notify`;
    /// each action has exactly one trigger, at least 7 days; `TimeBeforeExpiry` needs
    /// `ExpiresIn` and must leave at least 7 days after creation; `Notify` only before expiry;
    /// a `TimeAfterCreate` rotation at least 7 days before the version would expire.
    pub fn validate(&self) -> VaultResult<()> {
        let expires = match &self.expires_in {
            Some(e) => Some(at_least("ExpiresIn", e, MIN_EXPIRES_IN_DAYS)?),
            None => None,
        };
        for kind in [RotationAction::Rotate, RotationAction::Notify] {
            if self
                .lifetime_actions
                .iter()
                .filter(|a| a.action == kind)
                .count()
                > 1
            {
                return Err(VaultError::Invalid(format!(
                    "a rotation policy takes at most one {} lifetime action",
                    kind.as_str()
                )));
            }
        }
        for a in &self.lifetime_actions {
            let name = a.action.as_str();
            match (&a.time_after_create, &a.time_before_expiry) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(VaultError::Invalid(format!(
                        "the {name} lifetime action needs exactly one of TimeAfterCreate and TimeBeforeExpiry"
                    )))
                }
                (Some(tac), None) => {
                    if a.action == RotationAction::Notify {
                        return Err(VaultError::Invalid(
                            "a Notify lifetime action takes TimeBeforeExpiry only (Azure notifies before expiry)"
                                .to_string(),
                        ));
                    }
                    let d = at_least("TimeAfterCreate", tac, MIN_TRIGGER_DAYS)?;
                    if let Some(e) = expires {
                        if d > e - Duration::days(MIN_TRIGGER_DAYS) {
                            return Err(VaultError::Invalid(format!(
                                "TimeAfterCreate '{tac}' must be at least 7 days shorter than ExpiresIn '{}'",
                                self.expires_in.as_deref().unwrap_or_default()
                            )));
                        }
                    }
                }
                (None, Some(tbe)) => {
                    let d = at_least("TimeBeforeExpiry", tbe, MIN_TRIGGER_DAYS)?;
                    let Some(e) = expires else {
                        return Err(VaultError::Invalid(format!(
                            "the {name} lifetime action uses TimeBeforeExpiry '{tbe}', which needs -ExpiresIn on the policy"
                        )));
                    };
                    if d > e - Duration::days(MIN_TRIGGER_DAYS) {
                        return Err(VaultError::Invalid(format!(
                            "TimeBeforeExpiry '{tbe}' must be at least 7 days shorter than ExpiresIn '{}'",
                            self.expires_in.as_deref().unwrap_or_default()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// `ExpiresIn` as a duration (validated policies only).
    pub fn expires_in_duration(&self) -> VaultResult<Option<Duration>> {
        self.expires_in
            .as_deref()
            .map(parse_iso_duration)
            .transpose()
    }

    /// Whether the `Rotate` action is due at `now` for the current version created at
    /// `created` (expiring at `expires`). No `Rotate` action: never due.
    pub fn rotation_due(
        &self,
        created: DateTime<Utc>,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> VaultResult<bool> {
        self.action_due(RotationAction::Rotate, created, expires, now)
    }

    /// Whether the `Notify` action is due for a version made at `created` that expires at
    /// `expires` (Azure sends a near-expiry event then; custkey reports it).
    pub fn notify_due(
        &self,
        created: DateTime<Utc>,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> VaultResult<bool> {
        self.action_due(RotationAction::Notify, created, expires, now)
    }

    fn action_due(
        &self,
        action: RotationAction,
        created: DateTime<Utc>,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> VaultResult<bool> {
        let Some(a) = self.lifetime_actions.iter().find(|a| a.action == action) else {
            return Ok(false);
        };
        if let Some(tac) = &a.time_after_create {
            return Ok(now >= created + parse_iso_duration(tac)?);
        }
        if let (Some(tbe), Some(exp)) = (&a.time_before_expiry, expires) {
            return Ok(now >= exp - parse_iso_duration(tbe)?);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(exp: Option<&str>, actions: Vec<LifetimeAction>) -> RotationPolicy {
        RotationPolicy {
            expires_in: exp.map(str::to_string),
            lifetime_actions: actions,
            created_on: Utc::now(),
            updated_on: Utc::now(),
        }
    }

    fn rotate_after(d: &str) -> LifetimeAction {
        LifetimeAction {
            action: RotationAction::Rotate,
            time_after_create: Some(d.to_string()),
            time_before_expiry: None,
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_iso_duration("P2Y").unwrap(), Duration::days(730));
        assert_eq!(parse_iso_duration("P720D").unwrap(), Duration::days(720));
        assert_eq!(parse_iso_duration("P1Y6M").unwrap(), Duration::days(545));
        assert_eq!(parse_iso_duration("PT12H").unwrap(), Duration::hours(12));
        assert_eq!(parse_iso_duration("P2W").unwrap(), Duration::days(14));
        // Bounded: a duration past the calendar's range would overflow `created + duration`.
        assert_eq!(parse_iso_duration("P100Y").unwrap(), Duration::days(36_500));
        for long in ["P101Y", "P100000Y100000Y100000Y", "P36501D", "P36500DT1H"] {
            let e = parse_iso_duration(long).expect_err(long);
            assert!(
                e.message().contains("hundred years"),
                "{long}: {}",
                e.message()
            );
        }
        for bad in ["", "P", "PT", "2Y", "P2", "P2X", "P-1D", "PT1D", "P1.5D"] {
            assert!(parse_iso_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_due() {
        assert!(policy(Some("P2Y"), vec![rotate_after("P18M")])
            .validate()
            .is_ok());
        assert!(policy(Some("P27D"), vec![]).validate().is_err());
        assert!(policy(None, vec![rotate_after("P6D")]).validate().is_err());
        assert!(policy(None, vec![rotate_after("P7D"), rotate_after("P8D")])
            .validate()
            .is_err());
        let tbe = LifetimeAction {
            action: RotationAction::Rotate,
            time_after_create: None,
            time_before_expiry: Some("P30D".to_string()),
        };
        assert!(policy(None, vec![tbe.clone()]).validate().is_err());
        assert!(policy(Some("P90D"), vec![tbe]).validate().is_ok());
        let p = policy(None, vec![rotate_after("P7D")]);
        let t0 = Utc::now();
        assert!(!p.rotation_due(t0, None, t0 + Duration::days(6)).unwrap());
        assert!(p.rotation_due(t0, None, t0 + Duration::days(7)).unwrap());
    }
}
