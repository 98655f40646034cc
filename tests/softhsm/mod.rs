//! SoftHSM2 helpers for the PKCS#11 tests: find the module, make a temporary SOFTHSM2_CONF and
//! initialise throwaway tokens with `softhsm2-util`, list objects with `pkcs11-tool`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user PIN of every test token.
pub const PIN: &str = "246810";
/// The SO PIN of every test token.
pub const SO_PIN: &str = "12345678";

/// Where Debian/Ubuntu and Fedora put the SoftHSM2 module.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module, or `None` (with the reason printed) when SoftHSM2 is not installed.
pub fn module() -> Option<PathBuf> {
    let util = Command::new("softhsm2-util").arg("--version").output();
    if util.is_err() {
        eprintln!("SKIPPED: softhsm2-util is not installed (apt-get install softhsm2 opensc)");
        return None;
    }
    match MODULE_CANDIDATES.iter().map(Path::new).find(|p| p.exists()) {
        Some(p) => Some(p.to_path_buf()),
        None => {
            eprintln!("SKIPPED: the SoftHSM2 module libsofthsm2.so was not found");
            None
        }
    }
}

/// A SoftHSM2 configuration in `dir` (tokens under `dir/tokens`); returns the conf path.
pub fn write_conf(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("write conf");
    conf
}

/// `softhsm2-util --init-token --free --label <label>` under `conf`.
pub fn init_token(conf: &Path, label: &str) {
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ])
        .output()
        .expect("run softhsm2-util");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `pkcs11-tool --list-objects` output for the token (logged in), or `None` (reason printed)
/// when pkcs11-tool (opensc) is not installed.
pub fn list_objects(conf: &Path, module: &Path, label: &str, kind: &str) -> Option<String> {
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", conf)
        .arg("--module")
        .arg(module)
        .args([
            "--token-label",
            label,
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            kind,
        ])
        .output();
    match out {
        Err(_) => {
            eprintln!("SKIPPED: pkcs11-tool is not installed (apt-get install opensc)");
            None
        }
        Ok(out) => {
            assert!(
                out.status.success(),
                "pkcs11-tool failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    }
}

/// The objects of `pkcs11-tool --list-objects` output, one block per object.
pub fn object_blocks(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') && !line.starts_with('\t') && !line.trim().is_empty() {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks
}
