//! CLI snapshots: every file in tests/cmd/ is a transcript (`$ custkey ...`, its output,
//! and `? N` for a non-zero exit code) run against the real binary. A case with a
//! `NAME.out/` folder runs in a fresh temporary directory, where its store is created.
//! Update after a deliberate change with `TRYCMD=overwrite cargo test --test cli` and
//! review the diff.

#[test]
fn cli_snapshots() {
    // The master key files go to a configuration directory of this test (each case's data
    // directory has its own id, so the cases do not share keys), never to ~/.config.
    let config = tempfile::tempdir().unwrap();
    let cases = trycmd::TestCases::new();
    cases
        .env("CUSTKEY_STORE", "service.db")
        .env("CUSTKEY_CONFIG_DIR", config.path().to_string_lossy())
        .env("SSH_AUTH_SOCK", "")
        .env("XDG_DATA_HOME", "xdg")
        .env("COLUMNS", "")
        // The master keys come from the key files in that directory; the keyring cache
        // is exercised by tests/vault_local.rs.
        .env("CUSTKEY_KEYRING", "off")
        .case("tests/cmd/*.md");
    // The cases run when `cases` is dropped, so before the configuration directory goes.
    drop(cases);
    drop(config);
}
