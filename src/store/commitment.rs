//! Keyed commitments to DEP keys and TIKs (opaque 32-byte values made under a key derived from
//! the service master key; `docs/format.md` §2.4). One row per (policy GUID, tier byte): the
//! mailbox and multi-workload DEPs of the `dep` table (tier 3), SharePoint geo DEPs (tier 4).

use super::db::args;
use super::{Result, Tx};

impl Tx<'_> {
    /// The commitment recorded for the key of tier `tier` of policy `owner_guid`.
    pub fn key_commitment(&self, owner_guid: &str, tier: u8) -> Result<Option<Vec<u8>>> {
        self.row(
            "SELECT commitment FROM key_commitment WHERE owner_guid = ?1 AND tier = ?2",
            args![owner_guid, tier],
        )?
        .map(|r| r.get(0))
        .transpose()
    }

    /// Records a commitment unless one exists; `Ok(false)` when one did (the first stays).
    pub fn insert_key_commitment(
        &self,
        owner_guid: &str,
        tier: u8,
        commitment: &[u8],
    ) -> Result<bool> {
        let n = self.exec(
            "INSERT INTO key_commitment (owner_guid, tier, commitment) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            args![owner_guid, tier, commitment],
        )?;
        Ok(n == 1)
    }
}
