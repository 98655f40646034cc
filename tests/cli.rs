//! CLI snapshots: every file in tests/cmd/ is a transcript (`$ custkey ...`, its output,
//! and `? N` for a non-zero exit code) run against the real binary. A case with a
//! `NAME.out/` folder runs in a fresh temporary directory, where its store is created.
//! Update after a deliberate change with `TRYCMD=overwrite cargo test --test cli` and
//! review the diff.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .env("CUSTKEY_STORE", "service.db")
        // Identities of the first principal: outside every case's data directory.
        .env(
            "CUSTKEY_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/custkey-config"),
        )
        .env("SSH_AUTH_SOCK", "")
        .env("XDG_DATA_HOME", "xdg")
        .env("COLUMNS", "")
        // The vault master key comes from the key file beside the store; the keyring cache
        // is exercised by tests/vault_local.rs.
        .env("CUSTKEY_KEYRING", "off")
        .case("tests/cmd/*.md");
}
