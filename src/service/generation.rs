//! Rollback detection for vault files.
//!
//! Every write of a local (or PKCS#11 sidecar) vault file raises a generation sealed inside
//! it; the backend reports the stamp (generation and seal) of every state it reads or writes.
//! The store keeps, per vault, the highest stamp the service has seen (setting
//! `vault_generation:<vault id>`, value `<generation, 20 digits>:<seal>`, so text order is
//! generation order). A stamp older than the one recorded, or of the same generation but
//! another seal, is a vault file that was put back or replaced: refused, until the latest file
//! is restored or the rollback is accepted (`Update-AzKeyVault -AcceptRollback`, audited).
//!
//! Races: the comparison is against what was recorded *before* the vault was read (the
//! baseline, loaded when this opens and after each recording), so another process raising the
//! record meanwhile is never mistaken for a rollback; recording is `max(old, new)` in SQL.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use super::{Error, Result};
use crate::store::Store;
use crate::vault::{LocalBackend, VaultStamp};

const PREFIX: &str = "vault_generation:";

/// A recorded stamp: generation and seal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    generation: u64,
    seal: String,
}

impl Seen {
    fn parse(v: &str) -> Option<Seen> {
        let (g, seal) = v.split_once(':')?;
        Some(Seen {
            generation: g.parse().ok()?,
            seal: seal.to_string(),
        })
    }
    fn of(s: &VaultStamp) -> Seen {
        Seen {
            generation: s.generation,
            seal: s.seal.clone(),
        }
    }
    fn value(&self) -> String {
        format!("{:020}:{}", self.generation, self.seal)
    }
}

/// The vault stamps the service has recorded, and the check of new ones against them.
pub struct Generations {
    backend: LocalBackend,
    baseline: Mutex<HashMap<String, Seen>>,
}

fn load(store: &mut Store) -> Result<HashMap<String, Seen>> {
    let rows = store.read(|tx| -> Result<_> { Ok(tx.settings_with_prefix(PREFIX)?) })?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), Seen::parse(&v)?)))
        .collect())
}

fn rollback_error(s: &VaultStamp, recorded: &Seen) -> Error {
    let what = if s.generation < recorded.generation {
        format!(
            "it holds generation {} but the service has already used generation {}",
            s.generation, recorded.generation
        )
    } else {
        format!(
            "it holds another state of generation {} than the one the service used",
            s.generation
        )
    };
    let file = s.id.split('@').next().unwrap_or_default();
    Error::rule(format!(
        "the file of key vault '{}' was rolled back or replaced: {what}. Nothing was read through it",
        s.vault
    ))
    .with_help(format!(
        "restore the latest copy of vaults/{file}.vault beside the store; if the older file was put back on purpose, accept it with: custkey Update-AzKeyVault -VaultName {} -AcceptRollback (audited)",
        s.vault
    ))
}

impl Generations {
    /// The recorded stamps of the store; checks the stamps `backend` reports from now on.
    pub fn open(store: &mut Store, backend: LocalBackend) -> Result<Generations> {
        // Stamps from before this baseline was read cannot be judged against it.
        backend.take_stamps();
        Ok(Generations {
            baseline: Mutex::new(load(store)?),
            backend,
        })
    }

    fn baseline(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        match self.baseline.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Checks every vault state read or written since the last check: an older one than the
    /// store recorded is refused with an error naming the vault; newer ones are recorded.
    pub fn check(&self, store: &mut Store) -> Result<()> {
        let stamps = self.backend.take_stamps();
        if stamps.is_empty() {
            return Ok(());
        }
        let mut newest: HashMap<&str, &VaultStamp> = HashMap::new();
        {
            let base = self.baseline();
            for s in &stamps {
                if let Some(r) = base.get(&s.id) {
                    if s.generation < r.generation
                        || (s.generation == r.generation && s.seal != r.seal)
                    {
                        return Err(rollback_error(s, r));
                    }
                }
                let e = newest.entry(&s.id).or_insert(s);
                if s.generation > e.generation {
                    *e = s;
                }
            }
            newest.retain(|id, s| base.get(*id) != Some(&Seen::of(s)));
        }
        if newest.is_empty() {
            return Ok(());
        }
        let fresh = store.write(|tx| -> Result<_> {
            for (id, s) in &newest {
                tx.raise_setting(&format!("{PREFIX}{id}"), &Seen::of(s).value())?;
            }
            Ok(tx.settings_with_prefix(PREFIX)?)
        })?;
        let mut base = self.baseline();
        for (k, v) in fresh {
            if let (Some(id), Some(seen)) = (k.strip_prefix(PREFIX), Seen::parse(&v)) {
                base.insert(id.to_string(), seen);
            }
        }
        Ok(())
    }

    /// Accepts the current file of vault `name` as its latest state, even if it is older than
    /// what the store recorded: the record is set to it (not raised) and the acceptance is
    /// appended to the unified audit log as `Accept Vault Rollback` by `user_id`. Returns the
    /// generation accepted and the one recorded before.
    pub fn accept(&self, store: &mut Store, name: &str, user_id: &str) -> Result<(u64, u64)> {
        // Whatever was read before this call is judged as usual.
        self.check(store)?;
        self.backend.vault(name)?;
        let stamps = self.backend.take_stamps();
        let Some(s) = stamps.iter().max_by_key(|s| s.generation) else {
            return Err(
                Error::rule(format!("key vault '{name}' reported no state to accept"))
                    .with_help("check the vault with Get-AzKeyVault -VaultName <name>"),
            );
        };
        let key = format!("{PREFIX}{}", s.id);
        let org = store.read(super::org::organization_id)?;
        let before = store.write(|tx| -> Result<_> {
            let before = tx
                .setting(&key)?
                .and_then(|v| Seen::parse(&v))
                .map_or(0, |r| r.generation);
            tx.set_setting(&key, &Seen::of(s).value())?;
            super::keys::audit(
                tx,
                &org,
                "CustomerKeyServiceEncryption",
                "Accept Vault Rollback",
                user_id,
                &s.vault,
                json!({
                    "VaultName": s.vault,
                    "AcceptedGeneration": s.generation,
                    "RecordedGeneration": before,
                }),
            )?;
            Ok(before)
        })?;
        self.baseline().insert(s.id.clone(), Seen::of(s));
        Ok((s.generation, before))
    }
}
