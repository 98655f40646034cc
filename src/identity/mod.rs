//! Who runs a command: OpenSSH keys, from a key file or from ssh-agent, and SSHSIG signatures
//! (OpenSSH's `PROTOCOL.sshsig`, the format `ssh-keygen -Y sign` writes and `ssh-keygen -Y
//! verify` checks). This module knows keys and signatures, not accounts or roles: the service
//! decides which key an account is registered with and what a signature must cover.
//!
//! Ed25519 keys only (the kind `ssh-keygen -t ed25519` makes); an encrypted key file is
//! refused with the advice to add it to ssh-agent, which then signs without the key leaving it.

pub mod agent;

use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use zeroize::Zeroizing;

/// The largest key file read (an OpenSSH Ed25519 private key is about 400 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// The largest signature accepted (an armored Ed25519 SSHSIG is under 300 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// Why a key or signature cannot be used: what is wrong, and what to do.
#[derive(Debug, Clone)]
pub struct IdentityError {
    pub message: String,
    pub help: String,
}

impl IdentityError {
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        IdentityError {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A public key as OpenSSH writes it (`ssh-ed25519 AAAA... comment`), checked.
pub fn parse_public_key(text: &str) -> Result<PublicKey, IdentityError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let key = PublicKey::from_openssh(line).map_err(|e| {
        IdentityError::new(
            format!("this is not an OpenSSH public key ({e})"),
            "give the .pub file ssh-keygen wrote, or its one line `ssh-ed25519 AAAA... name`",
        )
    })?;
    supported(key.algorithm())?;
    Ok(key)
}

fn supported(alg: Algorithm) -> Result<(), IdentityError> {
    if alg == Algorithm::Ed25519 {
        return Ok(());
    }
    Err(IdentityError::new(
        format!("{} keys are not supported", alg.as_str()),
        "make an Ed25519 key: ssh-keygen -t ed25519 -f <file>",
    ))
}

/// The key's SHA256 fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key's one-line OpenSSH form, without its comment.
pub fn public_line(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh().unwrap_or_default().trim().to_string()
}

/// Something that signs as one key: a private key read from a file, or ssh-agent.
pub struct Signer {
    public: PublicKey,
    how: How,
}

enum How {
    Key(Box<PrivateKey>),
    Agent(PathBuf),
    /// The key is on another machine (a client of the service): nothing can be signed here.
    Elsewhere,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match &self.how {
            How::Key(_) => "key file",
            How::Agent(_) => "ssh-agent",
            How::Elsewhere => "elsewhere",
        };
        f.debug_struct("Signer")
            .field("key", &fingerprint(&self.public))
            .field("how", &how)
            .finish()
    }
}

impl Signer {
    /// Reads an unencrypted OpenSSH private key file. Like ssh, refuses one that others may
    /// read.
    pub fn from_key_file(path: &Path) -> Result<Signer, IdentityError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            IdentityError::new(
                format!("cannot read the key file {}: {e}", path.display()),
                "give the private key file ssh-keygen wrote (not the .pub), readable by you",
            )
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(IdentityError::new(
                format!(
                    "the key file {} may be read by others (mode {:o}); it proves nothing",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ),
                format!("make it private: chmod 600 {}", path.display()),
            ));
        }
        let bytes = crate::input::read_file_limited(path, MAX_KEY_FILE_BYTES).map_err(|e| {
            IdentityError::new(
                format!("cannot read the key file {}: {e}", path.display()),
                "give the private key file ssh-keygen wrote (not the .pub)",
            )
        })?;
        let bytes = Zeroizing::new(bytes);
        let key = PrivateKey::from_openssh(&*bytes).map_err(|e| {
            IdentityError::new(
                format!("{} is not an OpenSSH private key ({e})", path.display()),
                "give the private key file ssh-keygen wrote (not the .pub)",
            )
        })?;
        if key.is_encrypted() {
            return Err(IdentityError::new(
                format!("the key file {} is protected by a passphrase", path.display()),
                format!("add it to ssh-agent (ssh-add {}) and connect without -KeyFile: the agent signs for custkey", path.display()),
            ));
        }
        supported(key.algorithm())?;
        Ok(Signer {
            public: key.public_key().clone(),
            how: How::Key(Box::new(key)),
        })
    }

    /// The agent at `socket`, signing as `key`, which it must hold.
    pub fn from_agent(socket: &Path, key: &PublicKey) -> Result<Signer, IdentityError> {
        let held = agent::identities(socket)?;
        if !held.iter().any(|k| k.key_data() == key.key_data()) {
            return Err(IdentityError::new(
                format!(
                    "the ssh-agent at {} does not hold the key {}",
                    socket.display(),
                    fingerprint(key)
                ),
                "add the account's key to the agent (ssh-add <key file>), or connect with -KeyFile",
            ));
        }
        Ok(Signer {
            public: key.clone(),
            how: How::Agent(socket.to_path_buf()),
        })
    }

    /// The key of a principal proven by a signature made elsewhere (a request to the
    /// service): it proves who asked, and signs nothing.
    pub fn elsewhere(key: PublicKey) -> Signer {
        Signer {
            public: key,
            how: How::Elsewhere,
        }
    }

    /// Whether the key is on another machine (see [`Signer::elsewhere`]).
    pub fn is_elsewhere(&self) -> bool {
        matches!(self.how, How::Elsewhere)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// An SSHSIG signature of `msg` in `namespace` (SHA-512, as ssh-keygen makes them).
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<SshSig, IdentityError> {
        let fail =
            |e: ssh_key::Error| IdentityError::new(format!("cannot sign: {e}"), "check the key");
        match &self.how {
            How::Key(k) => k.sign(namespace, HashAlg::Sha512, msg).map_err(fail),
            How::Elsewhere => Err(IdentityError::new(
                "this account's key is on its client, so the service cannot sign with it",
                "statements the service needs signed are signed by the client (docs/service.md)",
            )),
            How::Agent(socket) => {
                let data = SshSig::signed_data(namespace, HashAlg::Sha512, msg).map_err(fail)?;
                let sig = agent::sign(socket, &self.public, &data)?;
                SshSig::new(
                    self.public.key_data().clone(),
                    namespace,
                    HashAlg::Sha512,
                    sig,
                )
                .map_err(fail)
            }
        }
    }
}

/// The ssh-agent socket named by `SSH_AUTH_SOCK`, if set.
pub fn agent_socket() -> Option<PathBuf> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// An armored signature (`-----BEGIN SSH SIGNATURE-----`), as `ssh-keygen -Y sign` writes it.
pub fn armor(sig: &SshSig) -> String {
    sig.to_pem(LineEnding::LF).unwrap_or_default()
}

/// Checks an armored signature of `msg` in `namespace` by `key`.
pub fn verify(
    key: &PublicKey,
    namespace: &str,
    msg: &[u8],
    armored: &str,
) -> Result<(), IdentityError> {
    let bad = |why: String| {
        IdentityError::new(
            why,
            "the signature does not belong to this key and text; nothing was accepted",
        )
    };
    if armored.len() > MAX_SIGNATURE_BYTES {
        return Err(bad(format!(
            "the signature is {} bytes, more than {MAX_SIGNATURE_BYTES}",
            armored.len()
        )));
    }
    let sig = SshSig::from_pem(armored)
        .map_err(|e| bad(format!("the signature cannot be read ({e})")))?;
    key.verify(namespace, msg, &sig)
        .map_err(|e| bad(format!("the signature does not verify ({e})")))
}

/// A new Ed25519 key from 32 random bytes, with `comment`.
pub fn new_ed25519(seed: &[u8; 32], comment: &str) -> PrivateKey {
    let pair = ssh_key::private::Ed25519Keypair::from_seed(seed);
    let mut key = PrivateKey::from(pair);
    key.set_comment(comment);
    key
}

/// The private key in OpenSSH's file format, and its public line (`.pub`).
pub fn openssh_files(key: &PrivateKey) -> Result<(Zeroizing<String>, String), IdentityError> {
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| IdentityError::new(format!("cannot encode the key: {e}"), "report this"))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| IdentityError::new(format!("cannot encode the key: {e}"), "report this"))?;
    Ok((private, public))
}

/// Writes `key` as an OpenSSH key file at `path` (0600; its directory created 0700) and its
/// public line at `<path>.pub`, unless a key file is there already: of two commands making one
/// at once, the first one's stays (written aside, fsynced, then linked into place). `Ok(false)`:
/// one was there.
pub fn write_key_files(path: &Path, key: &PrivateKey) -> std::io::Result<bool> {
    let (private, public) = openssh_files(key).map_err(|e| std::io::Error::other(e.message))?;
    if let Some(dir) = path.parent() {
        crate::paths::create_private_dir(dir)?;
    }
    if !crate::fsio::write_new(path, private.as_bytes())? {
        return Ok(false);
    }
    crate::fsio::write_atomic(&pub_path(path), format!("{public}\n").as_bytes())?;
    Ok(true)
}

/// `<path>.pub`, as ssh-keygen names a public key.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_reject_others() {
        let k = new_ed25519(&[7u8; 32], "a@contoso.com");
        let (private, public) = openssh_files(&k).unwrap();
        let pk = parse_public_key(&public).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        std::fs::write(&path, private.as_bytes()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Signer::from_key_file(&path)
            .unwrap_err()
            .message
            .contains("read by others"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = Signer::from_key_file(&path).unwrap();
        let sig = armor(&s.sign("custkey-test", b"hello").unwrap());
        verify(&pk, "custkey-test", b"hello", &sig).unwrap();
        assert!(verify(&pk, "custkey-test", b"hellp", &sig).is_err());
        assert!(verify(&pk, "custkey-other", b"hello", &sig).is_err());
        let other =
            parse_public_key(&openssh_files(&new_ed25519(&[8u8; 32], "b")).unwrap().1).unwrap();
        assert!(verify(&other, "custkey-test", b"hello", &sig).is_err());
    }
}
