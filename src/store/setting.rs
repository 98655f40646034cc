//! Small named settings (such as the signed-in Azure account).

use super::db::args;
use super::{Result, Tx};

impl Tx<'_> {
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.row("SELECT value FROM setting WHERE key = ?1", args![key])?
            .map(|r| r.get(0))
            .transpose()
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO setting (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            args![key, value],
        )?;
        Ok(())
    }

    pub fn delete_setting(&self, key: &str) -> Result<()> {
        self.exec("DELETE FROM setting WHERE key = ?1", args![key])?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Every setting whose key starts with `prefix`, as (key, value).
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.rows(
            "SELECT key, value FROM setting WHERE substr(key, 1, length(?1)) = ?1",
            args![prefix],
        )?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
    }

    /// Sets `key` to `value` unless it already holds a value that sorts after it (text
    /// order): writers racing each other can only raise it, never lower it.
    pub fn raise_setting(&self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO setting (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = CASE WHEN excluded.value > setting.value
                 THEN excluded.value ELSE setting.value END",
            args![key, value],
        )?;
        Ok(())
    }
}
