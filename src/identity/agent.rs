//! A minimal ssh-agent client (the agent protocol, draft-miller-ssh-agent): list the agent's
//! keys and ask it to sign. The private key never leaves the agent.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use ssh_key::{PublicKey, Signature};

use super::IdentityError;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
/// An agent's answer is small; anything larger is not an agent.
const MAX_REPLY: usize = 256 * 1024;
/// An agent that does not answer (or waits for a confirmation nobody gives) in this time is
/// given up on.
const TIMEOUT: Duration = Duration::from_secs(60);

fn agent_err(socket: &Path, what: impl std::fmt::Display) -> IdentityError {
    IdentityError::new(
        format!("the ssh-agent at {} {what}", socket.display()),
        "check that ssh-agent runs and SSH_AUTH_SOCK names its socket (ssh-add -l lists its keys), or connect with -KeyFile",
    )
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// A reader over one agent reply.
struct Reply<'a>(&'a [u8]);

impl<'a> Reply<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        if self.0.len() < 4 {
            return None;
        }
        let (n, rest) = self.0.split_at(4);
        self.0 = rest;
        Some(u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(s)
    }
}

fn request(socket: &Path, body: &[u8]) -> Result<Vec<u8>, IdentityError> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| agent_err(socket, format!("cannot be reached ({e})")))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let mut msg = Vec::with_capacity(body.len() + 4);
    put_string(&mut msg, body);
    s.write_all(&msg)
        .map_err(|e| agent_err(socket, format!("did not take the request ({e})")))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .map_err(|e| agent_err(socket, format!("did not answer ({e})")))?;
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_REPLY {
        return Err(agent_err(
            socket,
            format!("sent a reply of {n} bytes, which no agent sends"),
        ));
    }
    let mut reply = vec![0u8; n];
    s.read_exact(&mut reply)
        .map_err(|e| agent_err(socket, format!("sent a truncated reply ({e})")))?;
    Ok(reply)
}

/// The public keys the agent holds (keys it holds in a form this program does not read are
/// skipped).
pub fn identities(socket: &Path) -> Result<Vec<PublicKey>, IdentityError> {
    let reply = request(socket, &[SSH_AGENTC_REQUEST_IDENTITIES])?;
    let mut r = Reply(&reply);
    let bad = || agent_err(socket, "sent a malformed list of keys");
    if r.u8() != Some(SSH_AGENT_IDENTITIES_ANSWER) {
        return Err(agent_err(socket, "refused to list its keys"));
    }
    let n = r.u32().ok_or_else(bad)?;
    let mut keys = Vec::new();
    for _ in 0..n.min(1024) {
        let blob = r.string().ok_or_else(bad)?;
        let comment = r.string().ok_or_else(bad)?;
        if let Ok(mut k) = PublicKey::from_bytes(blob) {
            k.set_comment(String::from_utf8_lossy(comment));
            keys.push(k);
        }
    }
    Ok(keys)
}

/// Has the agent sign `data` with `key` (which it must hold).
pub fn sign(socket: &Path, key: &PublicKey, data: &[u8]) -> Result<Signature, IdentityError> {
    let blob = key
        .to_bytes()
        .map_err(|e| agent_err(socket, format!("cannot be asked about this key ({e})")))?;
    let mut body = vec![SSH_AGENTC_SIGN_REQUEST];
    put_string(&mut body, &blob);
    put_string(&mut body, data);
    body.extend_from_slice(&0u32.to_be_bytes());
    let reply = request(socket, &body)?;
    let mut r = Reply(&reply);
    match r.u8() {
        Some(SSH_AGENT_SIGN_RESPONSE) => {}
        Some(SSH_AGENT_FAILURE) => {
            return Err(agent_err(
                socket,
                "refused to sign (is the key still added, and confirmed if it asks?)",
            ))
        }
        _ => {
            return Err(agent_err(
                socket,
                "sent an unexpected reply to a signing request",
            ))
        }
    }
    let mut sig = r
        .string()
        .ok_or_else(|| agent_err(socket, "sent a malformed signature"))?;
    use ssh_encoding::Decode;
    Signature::decode(&mut sig).map_err(|e| {
        agent_err(
            socket,
            format!("sent a signature this program cannot read ({e})"),
        )
    })
}
