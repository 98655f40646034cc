//! KMIP root keys: customer root keys held in an enterprise key manager, reached over KMIP 1.4
//! (TTLV over TLS 1.2+ with a client certificate).
//!
//! - [`KmipUri`]: `kmip://host:port/<unique identifier>[?public=<id>]` names a key (a trailing
//!   `/<version>`, or `?version=`, is accepted; KMIP keys have no versions of their own, so the service
//!   records version `1`, and a Re-key makes a new key with a new identifier).
//! - [`KmipServers`]: the registered servers (`New-AzKeyVault -KmipServer host:port
//!   -KmipClientCertificate f -KmipClientKey f -KmipCaCertificate f`), kept in
//!   `<data dir>/vaults/kmip-servers.json` (0600; the key and certificate files stay where the
//!   operator keeps them, the file holds their paths).
//! - [`KmipRoots`]: the root-key backend ([`super::root::RootKeyProvider`]). An AES-256 key
//!   wraps by server-side AES-GCM (our IV in the request, the tag in its own field, the key's
//!   identifier as additional data); the copy records [`RootAlg::KmsAesGcm`]. An RSA key (the
//!   URI names the private key; its public half by its Public Key Link or `?public=<id>`) wraps
//!   here under the public key read with Get, and unwraps by RSA-OAEP Decrypt on the server
//!   ([`client::rsa_oaep_decrypt`]); each RSA copy is decrypted on the server once before it is
//!   returned, so none is stored that the server cannot open.
//!
//! Error classes: a connection, TLS or protocol failure is `Unavailable` (a system error: the
//! service may use the availability key, audited). A refusal is the customer's: Permission
//! Denied on an Active key, Authentication Not Successful and a Compromised key are
//! `AccessDenied`; a Pre-Active key is `KeyDisabled`; a Deactivated key (revoked, or past its
//! deactivation date) is `KeyExpired`; a missing or Destroyed key is `NotFound`; a copy the
//! server cannot decrypt (Cryptographic Failure) is `Invalid`. Azure's rule that Customer Key
//! roots are RSA applies to Azure-style vaults only.

pub mod client;
pub mod ttlv;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::{VaultError, VaultResult};
use super::ids::printable;
use super::policy::Caller;
use super::root::{RootError, RootKeyInfo, RootKeyKind, RootKeyProvider, RootResult, RootWrap};
use crate::crypto::{OaepAlg, RootAlg, RsaPublicKey};
use client::{reason, Endpoint, KmipFailure, State};

/// The backend name.
pub const BACKEND: &str = "KMIP";
/// The version recorded for every wrap under a KMIP key.
pub const KEY_VERSION: &str = "1";
/// The file of registered servers, in the vault directory.
pub const SERVERS_FILE: &str = "kmip-servers.json";
const MAX_ID_LEN: usize = 256;

/// A `kmip://host:port/<unique identifier>[/<version>]` key URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmipUri {
    /// Host name or address, lower case.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The key's Unique Identifier on the server.
    pub id: String,
    /// A version, if the URI has one.
    pub version: Option<String>,
    /// For an RSA private key on a server that records no links between the halves of a key
    /// pair: the Unique Identifier of its public key (`?public=<id>`).
    pub public: Option<String>,
}

impl KmipUri {
    /// Whether `s` is a `kmip:` URI (case-insensitive scheme).
    pub fn is_kmip_uri(s: &str) -> bool {
        s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("kmip://"))
    }

    /// Parse; every refusal says what is wrong and the form wanted.
    pub fn parse(s: &str) -> VaultResult<Self> {
        let bad = |why: &str| {
            VaultError::Invalid(format!(
                "'{}' is not a KMIP key URI ({why}); the form is kmip://host:port/<unique identifier>",
                printable(s)
            ))
        };
        if !Self::is_kmip_uri(s) {
            return Err(bad("it does not start with kmip://"));
        }
        let rest = &s[7..];
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        // The service names a version by appending `/<version>` to the URI it stored, which
        // for `...?public=<id>` lands after the query: read it as the version.
        let (query, appended) = match query.map(|q| q.split_once('/')) {
            Some(Some((q, v))) => (Some(q), Some(v)),
            Some(None) => (query, None),
            None => (None, None),
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no key identifier"))?;
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| bad("no port: give host:port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !host_ok {
            return Err(bad("the host must be a name or IPv4 address"));
        }
        let mut parts = path.splitn(2, '/');
        let id = parts.next().unwrap_or_default();
        let mut version = parts.next().map(str::to_string);
        let mut public = None;
        if let Some(q) = query {
            for kv in q.split('&') {
                match kv.split_once('=') {
                    Some(("version", v)) => version = Some(v.to_string()),
                    Some(("public", p)) if public.is_none() => public = Some(p.to_string()),
                    _ => {
                        return Err(bad(
                            "the query parameters are version= and public=, each once",
                        ))
                    }
                }
            }
        }
        if let Some(v) = appended {
            version = Some(v.to_string());
        }
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= MAX_ID_LEN
                && id
                    .chars()
                    .all(|c| !c.is_control() && !matches!(c, ' ' | '?' | '&' | '/'))
        };
        if !id_ok(id) {
            return Err(bad(
                "the unique identifier must be 1-256 printable characters",
            ));
        }
        if public.as_deref().is_some_and(|p| !id_ok(p)) {
            return Err(bad(
                "the public key's unique identifier (public=) must be 1-256 printable characters",
            ));
        }
        if let Some(v) = &version {
            if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad("the version must be letters and digits"));
            }
        }
        Ok(KmipUri {
            host: host.to_ascii_lowercase(),
            port,
            id: id.to_string(),
            version,
            public,
        })
    }

    /// `host:port`.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for KmipUri {
    /// The versionless form the service stores (with `?public=` if the URI names the public key).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kmip://{}:{}/{}", self.host, self.port, self.id)?;
        match &self.public {
            Some(p) => write!(f, "?public={p}"),
            None => Ok(()),
        }
    }
}

/// One registered KMIP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmipServer {
    /// The name it was registered under (`New-AzKeyVault -VaultName`).
    pub name: String,
    /// The region given at registration (`-Location`), for the two-regions advice.
    pub location: String,
    /// The resource group given at registration (`-ResourceGroupName`): removing the
    /// registration needs the right to remove a vault there. Empty in lists written before.
    #[serde(default)]
    pub resource_group: String,
    /// Where it is and how to authenticate.
    pub endpoint: Endpoint,
    /// When it was registered (RFC 3339).
    pub created: String,
}

impl KmipServer {
    /// `host:port`.
    pub fn server(&self) -> String {
        format!("{}:{}", self.endpoint.host, self.endpoint.port)
    }
}

/// Parse `host:port` as given to `-KmipServer`.
pub fn parse_server(s: &str) -> VaultResult<(String, u16)> {
    let u = KmipUri::parse(&format!("kmip://{s}/x")).map_err(|_| {
        VaultError::Invalid(format!(
            "'{}' is not a KMIP server: give host:port, e.g. 127.0.0.1:5696",
            printable(s)
        ))
    })?;
    Ok((u.host, u.port))
}

/// The registered KMIP servers of a vault directory.
#[derive(Debug, Clone)]
pub struct KmipServers {
    file: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ServersFile {
    servers: Vec<KmipServer>,
}

impl KmipServers {
    /// The servers registered in `vault_dir`.
    pub fn new(vault_dir: &Path) -> Self {
        KmipServers {
            file: vault_dir.join(SERVERS_FILE),
        }
    }

    fn read(&self) -> VaultResult<ServersFile> {
        match super::fsio::read_optional(&self.file)? {
            None => Ok(ServersFile::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                VaultError::Damaged(format!(
                    "the KMIP server list {} does not parse: {e}",
                    self.file.display()
                ))
            }),
        }
    }

    /// Every registered server.
    pub fn list(&self) -> VaultResult<Vec<KmipServer>> {
        Ok(self.read()?.servers)
    }

    /// Register a server after a TLS handshake with it succeeded (so wrong certificates are
    /// found now). Names and `host:port` are unique.
    pub fn register(
        &self,
        name: &str,
        resource_group: &str,
        location: &str,
        endpoint: Endpoint,
    ) -> VaultResult<KmipServer> {
        super::ids::validate_vault_name(name)?;
        for (what, p) in [
            ("-KmipClientCertificate", &endpoint.client_certificate),
            ("-KmipClientKey", &endpoint.client_key),
            ("-KmipCaCertificate", &endpoint.ca_certificate),
        ] {
            if !p.is_absolute() {
                return Err(VaultError::Invalid(format!(
                    "{what} must be an absolute path (the server list keeps the path): {}",
                    p.display()
                )));
            }
        }
        client::check(&endpoint).map_err(|e| classify_connect(&endpoint, e))?;
        if let Some(dir) = self.file.parent() {
            super::fsio::ensure_private_dir(dir)?;
        }
        let lock_path = self.file.with_extension("lock");
        let _lock = super::fsio::lock(&lock_path, true)?;
        let mut f = self.read()?;
        let server = format!("{}:{}", endpoint.host, endpoint.port);
        if let Some(o) = f
            .servers
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name) || s.server() == server)
        {
            return Err(VaultError::Invalid(format!(
                "a KMIP server is already registered as '{}' ({})",
                o.name,
                o.server()
            )));
        }
        let s = KmipServer {
            name: name.to_string(),
            location: location.to_string(),
            resource_group: resource_group.to_string(),
            endpoint,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        f.servers.push(s.clone());
        let bytes = serde_json::to_vec_pretty(&f)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the server list: {e}")))?;
        super::fsio::write_atomic(&self.file, &bytes)?;
        Ok(s)
    }
}

impl KmipServers {
    /// Removes the registration `name`; `None` if there is none.
    pub fn remove(&self, name: &str) -> VaultResult<Option<KmipServer>> {
        if !self.file.exists() {
            return Ok(None);
        }
        let lock_path = self.file.with_extension("lock");
        let _lock = super::fsio::lock(&lock_path, true)?;
        let mut f = self.read()?;
        let Some(i) = f
            .servers
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        let gone = f.servers.remove(i);
        let bytes = serde_json::to_vec_pretty(&f)
            .map_err(|e| VaultError::Invalid(format!("cannot encode the server list: {e}")))?;
        super::fsio::write_atomic(&self.file, &bytes)?;
        Ok(Some(gone))
    }
}

/// A key `Add-AzKeyVaultKey` made in a registered KMIP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmipKey {
    /// The registration it was made in.
    pub server: KmipServer,
    /// The Name attribute given to it.
    pub name: String,
    /// Its URI, as key ids take it (`?public=` for an RSA pair).
    pub uri: KmipUri,
    /// AES-256 or RSA of some size.
    pub kind: RootKeyKind,
}

/// Creates and activates a key named `name` in the registered server `s`: an AES-256 key
/// (Create) or an RSA key pair (Create Key Pair, both halves activated). A key that was made
/// but could not be activated is destroyed again (a Pre-Active key may be), so a failure leaves
/// no key behind where the server allows that. KMIP keys have no versions: each call makes a
/// new object, even under a name already used.
pub fn create_key(s: &KmipServer, name: &str, kind: RootKeyKind) -> VaultResult<KmipKey> {
    super::ids::validate_key_name(name)?;
    let ep = &s.endpoint;
    let fail = |id: Option<&str>, e: KmipFailure| classify(ep, id, e);
    let (id, public) = match kind {
        RootKeyKind::Aes256 => {
            let id = client::create_aes256_named(ep, Some(name)).map_err(|e| fail(None, e))?;
            (id, None)
        }
        RootKeyKind::Rsa(bits) => {
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(VaultError::Invalid(format!(
                    "an RSA key of {bits} bits: give -Size 2048, 3072 or 4096"
                )));
            }
            let (private, public) = client::create_rsa_key_pair_named(ep, bits as i32, Some(name))
                .map_err(|e| fail(None, e))?;
            (private, Some(public))
        }
    };
    let made: Vec<&str> = std::iter::once(id.as_str())
        .chain(public.as_deref())
        .collect();
    for m in &made {
        if let Err(e) = client::activate(ep, m) {
            // Best effort: an Active half must be revoked before it can be destroyed.
            for d in &made {
                let _ = client::revoke(ep, d, false);
                let _ = client::destroy(ep, d);
            }
            return Err(fail(Some(m), e));
        }
    }
    Ok(KmipKey {
        server: s.clone(),
        name: name.to_string(),
        uri: KmipUri {
            host: ep.host.to_ascii_lowercase(),
            port: ep.port,
            id,
            version: None,
            public,
        },
        kind,
    })
}

fn classify_connect(ep: &Endpoint, e: KmipFailure) -> VaultError {
    match e {
        KmipFailure::Config(m) => VaultError::Invalid(m),
        other => classify(ep, None, other),
    }
}

/// The error class of a failed KMIP operation on key `id` (see the module docs). A Permission
/// Denied answer is told apart by the key's state, asked for once.
pub fn classify(ep: &Endpoint, id: Option<&str>, e: KmipFailure) -> VaultError {
    let at = format!("{}:{}", ep.host, ep.port);
    match e {
        KmipFailure::Connection(m) | KmipFailure::Protocol(m) => VaultError::Unavailable(m),
        KmipFailure::Config(m) => {
            VaultError::Unavailable(format!("the KMIP server {at} cannot be used: {m}"))
        }
        KmipFailure::Refused { reason, message } => {
            let key = id
                .map(|i| format!("key '{}' on ", printable(i)))
                .unwrap_or_default();
            let said = format!("{} ({message})", client::reason_name(reason));
            match reason {
                reason::ITEM_NOT_FOUND => {
                    VaultError::NotFound(format!("{key}KMIP server {at}: {said}"))
                }
                reason::PERMISSION_DENIED => {
                    let state = id
                        .and_then(|i| client::get_attributes(ep, i).ok())
                        .and_then(|a| a.state);
                    state_error(&format!("{key}KMIP server {at}"), state, &said)
                }
                reason::AUTHENTICATION_NOT_SUCCESSFUL => VaultError::AccessDenied(format!(
                    "KMIP server {at} refused this client: {said}"
                )),
                reason::CRYPTOGRAPHIC_FAILURE => VaultError::Invalid(format!(
                    "the wrapped key does not unwrap with {key}KMIP server {at}: {said}"
                )),
                reason::GENERAL_FAILURE => {
                    VaultError::Unavailable(format!("{key}KMIP server {at} failed: {said}"))
                }
                _ => VaultError::Invalid(format!("{key}KMIP server {at} refused: {said}")),
            }
        }
    }
}

/// The error for a key that is not Active, by its state.
fn state_error(what: &str, state: Option<State>, said: &str) -> VaultError {
    match state {
        Some(State::PreActive) => VaultError::KeyDisabled(format!(
            "{what} is Pre-Active (not activated): {said}; activate it on the key manager"
        )),
        Some(State::Deactivated) => VaultError::KeyExpired(format!(
            "{what} is Deactivated (revoked, or past its deactivation date): {said}"
        )),
        Some(State::Destroyed | State::DestroyedCompromised) => {
            VaultError::NotFound(format!("{what} was destroyed: {said}"))
        }
        Some(State::Compromised) => {
            VaultError::AccessDenied(format!("{what} was revoked as compromised: {said}"))
        }
        Some(State::Active) | None => {
            VaultError::AccessDenied(format!("{what} refused this client: {said}"))
        }
    }
}

/// Root keys in registered KMIP servers (see the module docs).
#[derive(Debug, Clone)]
pub struct KmipRoots {
    servers: KmipServers,
}

impl KmipRoots {
    /// The KMIP root keys of the servers registered in `vault_dir`.
    pub fn new(vault_dir: &Path) -> Self {
        KmipRoots {
            servers: KmipServers::new(vault_dir),
        }
    }

    fn server(&self, uri: &str) -> RootResult<(KmipServer, KmipUri)> {
        if !KmipUri::is_kmip_uri(uri) {
            return Err(RootError::NotMine);
        }
        let u = KmipUri::parse(uri)?;
        let servers = self.servers.list().map_err(RootError::Unknown)?;
        match servers.into_iter().find(|s| s.server() == u.server()) {
            Some(s) => Ok((s, u)),
            None => Err(RootError::NotMine),
        }
    }
}

/// RSA-OAEP wrap under the RSA private key `u` names: the public half is read from the server
/// (Get, PKCS#1 or X.509 format), found by the key's Public Key Link or named by `?public=`;
/// the key is wrapped here (RSA-OAEP with SHA-1, which KMIP 1.2 servers can decrypt: KMIP 1.2
/// has no field for another mask-generation hash), and the copy is then decrypted on the server
/// once before it is returned. So a copy is stored only if this server opens it with this
/// key: a wrong public key, a server that does no RSA decryption, or a private key that may not
/// decrypt is found now, not when the data is needed.
fn rsa_wrap(ep: &Endpoint, u: &KmipUri, bits: usize, key: &[u8]) -> VaultResult<RootWrap> {
    let at = format!("{}:{}", ep.host, ep.port);
    let public = match &u.public {
        Some(p) => p.clone(),
        None => client::public_key_link(ep, &u.id)
            .map_err(|e| classify(ep, Some(&u.id), e))?
            .ok_or_else(|| {
                VaultError::Invalid(format!(
                    "{u} is an RSA private key and the KMIP server {at} links it to no public key: \
                     name the public key in the URI, kmip://{}/{}?public=<public key id>",
                    u.server(),
                    u.id
                ))
            })?,
    };
    let m = client::get_key(ep, &public).map_err(|e| classify(ep, Some(&public), e))?;
    if m.object_type != client::OBJECT_PUBLIC_KEY {
        return Err(VaultError::Invalid(format!(
            "object '{}' on KMIP server {at} is not a public key (object type {:#x}): \
             public= must name the public half of {u}",
            printable(&public),
            m.object_type
        )));
    }
    let pk = match m.format {
        client::key_format::PKCS1 => RsaPublicKey::from_pkcs1_der(&m.bytes),
        client::key_format::X509 => RsaPublicKey::from_der(&m.bytes),
        other => {
            return Err(VaultError::Invalid(format!(
                "the public key '{}' on KMIP server {at} came in key format {other:#x}; \
                 custkey reads PKCS#1 and X.509",
                printable(&public)
            )))
        }
    }
    .map_err(|e| {
        VaultError::Invalid(format!(
            "the public key '{}' on KMIP server {at} is not a usable RSA key: {e}",
            printable(&public)
        ))
    })?;
    if pk.bits() != bits {
        return Err(VaultError::Invalid(format!(
            "the public key '{}' on KMIP server {at} has {} bits and {u} has {bits}: \
             they are not the two halves of one key pair",
            printable(&public),
            pk.bits()
        )));
    }
    let alg = OaepAlg::RsaOaep;
    let value = pk
        .oaep_wrap(alg, key)
        .map_err(|e| VaultError::Invalid(format!("RSA-OAEP wrap under {u}: {e}")))?;
    // The server's refusal keeps its class (PyKMIP, which does no RSA decryption, answers
    // Permission Denied: AccessDenied); an unreachable server stays a system error.
    let opened = client::rsa_oaep_decrypt(ep, &u.id, &value, false).map_err(|e| {
        let e = classify(ep, Some(&u.id), e);
        if e.is_system_error() {
            return e;
        }
        e.map_message(|m| {
            format!(
                "a copy wrapped under {u} does not open on the server, so none is stored: {m}. \
                 A KMIP RSA root needs a server that decrypts RSA-OAEP (SHA-1) with it, and \
                 public= naming its own public key; else use an AES-256 key"
            )
        })
    })?;
    if opened.as_slice() != key {
        return Err(VaultError::Invalid(format!(
            "a copy wrapped under the public key '{}' opens on KMIP server {at} to other bytes \
             with {u}: they are not the two halves of one key pair; none is stored",
            printable(&public)
        )));
    }
    Ok(RootWrap {
        version: KEY_VERSION.into(),
        alg: RootAlg::Oaep(alg),
        value,
    })
}

/// The additional data of a wrap: the key's identifier, so a copy names the key that made it.
fn aad(id: &str) -> Vec<u8> {
    format!("custkey/kmip-root-wrap/v1|{id}").into_bytes()
}

impl RootKeyProvider for KmipRoots {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn wrap(&self, _caller: &Caller, key_uri: &str, key: &[u8]) -> RootResult<RootWrap> {
        let (s, u) = self.server(key_uri)?;
        let ep = &s.endpoint;
        let attrs = client::get_attributes(ep, &u.id).map_err(|e| classify(ep, Some(&u.id), e))?;
        if let Some(bits) = attrs.rsa_bits() {
            return Ok(rsa_wrap(ep, &u, bits, key)?);
        }
        let value = client::gcm_encrypt(ep, &u.id, key, &aad(&u.id))
            .map_err(|e| classify(ep, Some(&u.id), e))?;
        Ok(RootWrap {
            version: KEY_VERSION.into(),
            alg: RootAlg::KmsAesGcm,
            value,
        })
    }

    fn unwrap(
        &self,
        _caller: &Caller,
        versioned_uri: &str,
        alg: RootAlg,
        wrapped: &[u8],
    ) -> RootResult<Zeroizing<Vec<u8>>> {
        let (s, u) = self.server(versioned_uri)?;
        let ep = &s.endpoint;
        // The key's state decides, not only the server's willingness: KMIP lets a Deactivated
        // or Compromised key still decrypt ("process"), and servers differ (PyKMIP refuses,
        // Cosmian KMS decrypts), but a revoked root key must cut the data off everywhere.
        let attrs = client::get_attributes(ep, &u.id).map_err(|e| classify(ep, Some(&u.id), e))?;
        if attrs.state != Some(State::Active) {
            let state = attrs.state.map_or("unknown", State::as_str);
            return Err(RootError::Mine(state_error(
                &format!("key {u}"),
                attrs.state,
                &format!("state {state}; custkey unwraps only with an Active key"),
            )));
        }
        let out = match alg {
            RootAlg::KmsAesGcm => client::gcm_decrypt(ep, &u.id, wrapped, &aad(&u.id)),
            RootAlg::Oaep(a) => {
                client::rsa_oaep_decrypt(ep, &u.id, wrapped, a == OaepAlg::RsaOaep256)
            }
        };
        Ok(out.map_err(|e| classify(ep, Some(&u.id), e))?)
    }

    fn identity(&self, _caller: &Caller, key_uri: &str) -> RootResult<RootKeyInfo> {
        let (s, u) = self.server(key_uri)?;
        let ep = &s.endpoint;
        let attrs = client::get_attributes(ep, &u.id).map_err(|e| classify(ep, Some(&u.id), e))?;
        let kind = if attrs.is_aes256() {
            RootKeyKind::Aes256
        } else if let Some(bits) = attrs.rsa_bits() {
            RootKeyKind::Rsa(bits)
        } else {
            return Err(RootError::Mine(VaultError::Invalid(format!(
                "{u} is neither an AES-256 nor an RSA key"
            ))));
        };
        let state = attrs.state.map_or("unknown", State::as_str).to_string();
        if attrs.state != Some(State::Active) {
            return Err(RootError::Mine(state_error(
                &format!("key {u}"),
                attrs.state,
                &format!("state {state}"),
            )));
        }
        Ok(RootKeyInfo {
            key_uri: u.to_string(),
            backend: BACKEND,
            holder: s.name.clone(),
            location: s.location.clone(),
            subscription: format!("kmip:{}", s.server()),
            kind,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_may_name_the_public_key_and_keeps_it_through_an_appended_version() {
        let u = KmipUri::parse("kmip://KMS.example:5696/17?public=18").unwrap();
        assert_eq!((u.id.as_str(), u.public.as_deref()), ("17", Some("18")));
        assert_eq!(u.version, None);
        assert_eq!(u.to_string(), "kmip://kms.example:5696/17?public=18");
        // The service names a version by appending `/<version>` to the URI it stored.
        let v = KmipUri::parse(&format!("{u}/1")).unwrap();
        assert_eq!(
            v,
            KmipUri {
                version: Some("1".into()),
                ..u.clone()
            }
        );
        let v = KmipUri::parse("kmip://kms.example:5696/17/1?public=18").unwrap();
        assert_eq!(
            v,
            KmipUri {
                version: Some("1".into()),
                ..u
            }
        );
        // Without public= the form is as before.
        let plain = KmipUri::parse("kmip://h:5696/abc/2").unwrap();
        assert_eq!(
            (plain.version.as_deref(), plain.public.as_deref()),
            (Some("2"), None)
        );
        assert_eq!(plain.to_string(), "kmip://h:5696/abc");
    }

    #[test]
    fn bad_public_parameters_are_refused() {
        for bad in [
            "kmip://h:5696/1?public=",
            "kmip://h:5696/1?public=2&public=3",
            "kmip://h:5696/1?public=a b",
            "kmip://h:5696/1?other=2",
            "kmip://h:5696/1?public=2/",
            "kmip://h:5696/1&2",
        ] {
            let e = KmipUri::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("is not a KMIP key URI"),
                "{bad}: {e}"
            );
        }
    }
}
