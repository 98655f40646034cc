//! A KMIP 1.4 client over TLS 1.2+ with a client certificate (rustls on aws-lc-rs; no
//! OpenSSL), reusing one connection per server within a process.
//!
//! Operations: Create (AES-256), Create Key Pair (RSA), Activate, Get, Get Attributes, Encrypt and
//! Decrypt (AES-GCM with the IV in the request and the tag in its own field; RSA-OAEP
//! decrypt), Revoke, Destroy, Re-key. A failed operation becomes a [`KmipFailure`] carrying
//! the server's result reason and message; [`super`] maps it to an error class.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use zeroize::Zeroizing;

use super::ttlv::{self, Item, Value};

/// Tags (KMIP 1.4 §9.1.3.1).
pub mod tag {
    pub const ATTRIBUTE: u32 = 0x420008;
    pub const ATTRIBUTE_NAME: u32 = 0x42000A;
    pub const ATTRIBUTE_VALUE: u32 = 0x42000B;
    pub const BATCH_COUNT: u32 = 0x42000D;
    pub const BATCH_ITEM: u32 = 0x42000F;
    pub const BLOCK_CIPHER_MODE: u32 = 0x420011;
    pub const COMMON_TEMPLATE_ATTRIBUTE: u32 = 0x42001F;
    pub const COMPROMISE_OCCURRENCE_DATE: u32 = 0x420021;
    pub const CRYPTOGRAPHIC_ALGORITHM: u32 = 0x420028;
    pub const CRYPTOGRAPHIC_PARAMETERS: u32 = 0x42002B;
    pub const HASHING_ALGORITHM: u32 = 0x420038;
    pub const IV_COUNTER_NONCE: u32 = 0x42003D;
    pub const KEY_BLOCK: u32 = 0x420040;
    pub const KEY_FORMAT_TYPE: u32 = 0x420042;
    pub const KEY_MATERIAL: u32 = 0x420043;
    pub const KEY_VALUE: u32 = 0x420045;
    pub const LINK: u32 = 0x42004A;
    pub const LINK_TYPE: u32 = 0x42004B;
    pub const LINKED_OBJECT_IDENTIFIER: u32 = 0x42004C;
    pub const NAME: u32 = 0x420053;
    pub const NAME_TYPE: u32 = 0x420054;
    pub const NAME_VALUE: u32 = 0x420055;
    pub const OBJECT_TYPE: u32 = 0x420057;
    pub const OPERATION: u32 = 0x42005C;
    pub const PADDING_METHOD: u32 = 0x42005F;
    pub const PRIVATE_KEY: u32 = 0x420064;
    pub const PRIVATE_KEY_TEMPLATE_ATTRIBUTE: u32 = 0x420065;
    pub const PRIVATE_KEY_UNIQUE_IDENTIFIER: u32 = 0x420066;
    pub const PROTOCOL_VERSION: u32 = 0x420069;
    pub const PROTOCOL_VERSION_MAJOR: u32 = 0x42006A;
    pub const PROTOCOL_VERSION_MINOR: u32 = 0x42006B;
    pub const PUBLIC_KEY: u32 = 0x42006D;
    pub const PUBLIC_KEY_TEMPLATE_ATTRIBUTE: u32 = 0x42006E;
    pub const PUBLIC_KEY_UNIQUE_IDENTIFIER: u32 = 0x42006F;
    pub const REQUEST_HEADER: u32 = 0x420077;
    pub const REQUEST_MESSAGE: u32 = 0x420078;
    pub const REQUEST_PAYLOAD: u32 = 0x420079;
    pub const RESPONSE_MESSAGE: u32 = 0x42007B;
    pub const RESPONSE_PAYLOAD: u32 = 0x42007C;
    pub const RESULT_MESSAGE: u32 = 0x42007D;
    pub const RESULT_REASON: u32 = 0x42007E;
    pub const RESULT_STATUS: u32 = 0x42007F;
    pub const REVOCATION_REASON: u32 = 0x420081;
    pub const REVOCATION_REASON_CODE: u32 = 0x420082;
    pub const SYMMETRIC_KEY: u32 = 0x42008F;
    pub const TEMPLATE_ATTRIBUTE: u32 = 0x420091;
    pub const UNIQUE_IDENTIFIER: u32 = 0x420094;
    pub const DATA: u32 = 0x4200C2;
    pub const TAG_LENGTH: u32 = 0x4200CE;
    pub const AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA: u32 = 0x4200FE;
    pub const AUTHENTICATED_ENCRYPTION_TAG: u32 = 0x4200FF;
    pub const MASK_GENERATOR: u32 = 0x420101;
    pub const MASK_GENERATOR_HASHING_ALGORITHM: u32 = 0x420102;
}

/// Operations (KMIP 1.4 §9.1.3.2.27).
pub mod op {
    pub const CREATE: u32 = 0x01;
    pub const CREATE_KEY_PAIR: u32 = 0x02;
    pub const REKEY: u32 = 0x04;
    pub const GET: u32 = 0x0A;
    pub const GET_ATTRIBUTES: u32 = 0x0B;
    pub const ACTIVATE: u32 = 0x12;
    pub const REVOKE: u32 = 0x13;
    pub const DESTROY: u32 = 0x14;
    pub const ENCRYPT: u32 = 0x1F;
    pub const DECRYPT: u32 = 0x20;
}

/// Result reasons (KMIP 1.4 §9.1.3.2.29) this client tells apart.
pub mod reason {
    pub const ITEM_NOT_FOUND: u32 = 0x01;
    pub const AUTHENTICATION_NOT_SUCCESSFUL: u32 = 0x03;
    pub const OPERATION_NOT_SUPPORTED: u32 = 0x05;
    pub const FEATURE_NOT_SUPPORTED: u32 = 0x08;
    pub const CRYPTOGRAPHIC_FAILURE: u32 = 0x0A;
    pub const ILLEGAL_OPERATION: u32 = 0x0B;
    pub const PERMISSION_DENIED: u32 = 0x0C;
    pub const GENERAL_FAILURE: u32 = 0x100;
}

/// Object states (KMIP 1.4 §9.1.3.2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    PreActive,
    Active,
    Deactivated,
    Compromised,
    Destroyed,
    DestroyedCompromised,
}

impl State {
    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => State::PreActive,
            2 => State::Active,
            3 => State::Deactivated,
            4 => State::Compromised,
            5 => State::Destroyed,
            6 => State::DestroyedCompromised,
            _ => return None,
        })
    }

    /// The standard's name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::PreActive => "Pre-Active",
            State::Active => "Active",
            State::Deactivated => "Deactivated",
            State::Compromised => "Compromised",
            State::Destroyed => "Destroyed",
            State::DestroyedCompromised => "Destroyed Compromised",
        }
    }
}

const ALG_AES: u32 = 0x03;
const ALG_RSA: u32 = 0x04;
const MODE_GCM: u32 = 0x09;
const PADDING_OAEP: u32 = 0x02;
const HASH_SHA256: u32 = 0x06;
const HASH_SHA1: u32 = 0x04;
const MGF1: u32 = 0x01;
const OBJECT_SYMMETRIC_KEY: u32 = 0x02;
/// Object Type Public Key.
pub const OBJECT_PUBLIC_KEY: u32 = 0x03;
/// Object Type Private Key.
pub const OBJECT_PRIVATE_KEY: u32 = 0x04;
/// Link Type Public Key Link (KMIP 1.4 §9.1.3.2.20).
const LINK_PUBLIC_KEY: u32 = 0x102;
/// A Get response's key material is a key of a few KiB: larger is refused.
const MAX_KEY_MATERIAL: usize = 64 * 1024;
const USAGE_ENCRYPT: i32 = 0x04;
const USAGE_DECRYPT: i32 = 0x08;
/// GCM IV length sent in Encrypt requests.
pub const GCM_IV_LEN: usize = 12;
/// GCM tag length asked for (bytes).
pub const GCM_TAG_LEN: usize = 16;

/// How a KMIP request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmipFailure {
    /// The server could not be reached, the TLS handshake failed, or the connection broke.
    Connection(String),
    /// A response that is not a KMIP response to the request.
    Protocol(String),
    /// The server answered Operation Failed with this result reason and message.
    Refused { reason: u32, message: String },
    /// Local configuration: a certificate or key file that cannot be read or used.
    Config(String),
}

impl std::fmt::Display for KmipFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KmipFailure::Connection(m) | KmipFailure::Protocol(m) | KmipFailure::Config(m) => {
                f.write_str(m)
            }
            KmipFailure::Refused { reason, message } => {
                write!(f, "{} ({message})", reason_name(*reason))
            }
        }
    }
}

/// The standard's name of a result reason.
pub fn reason_name(r: u32) -> String {
    match r {
        reason::ITEM_NOT_FOUND => "Item Not Found".into(),
        reason::AUTHENTICATION_NOT_SUCCESSFUL => "Authentication Not Successful".into(),
        reason::OPERATION_NOT_SUPPORTED => "Operation Not Supported".into(),
        reason::FEATURE_NOT_SUPPORTED => "Feature Not Supported".into(),
        reason::CRYPTOGRAPHIC_FAILURE => "Cryptographic Failure".into(),
        reason::ILLEGAL_OPERATION => "Illegal Operation".into(),
        reason::PERMISSION_DENIED => "Permission Denied".into(),
        reason::GENERAL_FAILURE => "General Failure".into(),
        other => format!("result reason {other:#x}"),
    }
}

/// Result alias.
pub type KmipResult<T> = Result<T, KmipFailure>;

/// Where a KMIP server is and the files to authenticate to it with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (KMIP's is 5696).
    pub port: u16,
    /// PEM client certificate (chain).
    pub client_certificate: PathBuf,
    /// PEM private key of the client certificate (PKCS#8, SEC1 or PKCS#1).
    pub client_key: PathBuf,
    /// PEM CA certificate(s) the server's certificate must chain to.
    pub ca_certificate: PathBuf,
}

/// Connect timeout and per-read timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn pool() -> &'static Mutex<HashMap<Endpoint, Vec<Tls>>> {
    static P: OnceLock<Mutex<HashMap<Endpoint, Vec<Tls>>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(HashMap::new()))
}

fn configs() -> &'static Mutex<HashMap<Endpoint, Arc<rustls::ClientConfig>>> {
    static C: OnceLock<Mutex<HashMap<Endpoint, Arc<rustls::ClientConfig>>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn read_pem(what: &str, path: &Path) -> KmipResult<Vec<u8>> {
    let fail = |e: &dyn std::fmt::Display| {
        KmipFailure::Config(format!("the {what} {} cannot be read: {e}", path.display()))
    };
    let f = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    // A PEM file of a few certificates is a few KiB: read at most 1 MiB.
    f.take(1 << 20)
        .read_to_end(&mut out)
        .map_err(|e| fail(&e))?;
    Ok(out)
}

fn config(ep: &Endpoint) -> KmipResult<Arc<rustls::ClientConfig>> {
    if let Some(c) = configs().lock().ok().and_then(|m| m.get(ep).cloned()) {
        return Ok(c);
    }
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        KmipFailure::Config(format!("the {what} {} is not usable: {e}", path.display()))
    };
    let ca = read_pem("CA certificate", &ep.ca_certificate)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        let c = c.map_err(|e| bad("CA certificate", &ep.ca_certificate, &e))?;
        roots
            .add(c)
            .map_err(|e| bad("CA certificate", &ep.ca_certificate, &e))?;
    }
    if roots.is_empty() {
        return Err(KmipFailure::Config(format!(
            "the CA certificate file {} holds no certificate",
            ep.ca_certificate.display()
        )));
    }
    let cert = read_pem("client certificate", &ep.client_certificate)?;
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("client certificate", &ep.client_certificate, &e))?;
    if chain.is_empty() {
        return Err(KmipFailure::Config(format!(
            "the client certificate file {} holds no certificate",
            ep.client_certificate.display()
        )));
    }
    let key = Zeroizing::new(read_pem("client key", &ep.client_key)?);
    let key =
        PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad("client key", &ep.client_key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| KmipFailure::Config(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| bad("client key", &ep.client_key, &e))?;
    let cfg = Arc::new(cfg);
    if let Ok(mut m) = configs().lock() {
        m.insert(ep.clone(), Arc::clone(&cfg));
    }
    Ok(cfg)
}

fn connect(ep: &Endpoint) -> KmipResult<Tls> {
    let cfg = config(ep)?;
    let where_ = format!("{}:{}", ep.host, ep.port);
    let down = |e: &dyn std::fmt::Display| {
        KmipFailure::Connection(format!("the KMIP server {where_} cannot be reached: {e}"))
    };
    let addr = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| down(&e))?
        .next()
        .ok_or_else(|| down(&"the name has no address"))?;
    let sock = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| down(&e))?;
    sock.set_read_timeout(Some(TIMEOUT)).map_err(|e| down(&e))?;
    sock.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| down(&e))?;
    let _ = sock.set_nodelay(true);
    let name = ServerName::try_from(ep.host.clone())
        .map_err(|e| KmipFailure::Config(format!("server name '{}': {e}", ep.host)))?;
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| down(&e))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // Complete the handshake now so that a refused certificate is a connection failure here.
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| down(&format!("TLS handshake: {e}")))?;
    }
    Ok(tls)
}

fn exchange(tls: &mut Tls, request: &[u8]) -> std::io::Result<Vec<u8>> {
    tls.write_all(request)?;
    tls.flush()?;
    let mut head = [0u8; 8];
    tls.read_exact(&mut head)?;
    let len = ttlv::message_len(&head)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let mut msg = vec![0u8; len];
    msg[..8].copy_from_slice(&head);
    tls.read_exact(&mut msg[8..])?;
    Ok(msg)
}

/// Sends one operation and returns its response payload. A pooled connection that fails is
/// dropped and the request is sent once more on a new one (the server may have closed an idle
/// connection); a new connection that fails is a [`KmipFailure::Connection`].
pub fn call(ep: &Endpoint, operation: u32, payload: Vec<Item>) -> KmipResult<Item> {
    let request = Item::structure(
        tag::REQUEST_MESSAGE,
        vec![
            Item::structure(
                tag::REQUEST_HEADER,
                vec![
                    Item::structure(
                        tag::PROTOCOL_VERSION,
                        vec![
                            Item::integer(tag::PROTOCOL_VERSION_MAJOR, 1),
                            Item::integer(tag::PROTOCOL_VERSION_MINOR, 4),
                        ],
                    ),
                    Item::integer(tag::BATCH_COUNT, 1),
                ],
            ),
            Item::structure(
                tag::BATCH_ITEM,
                vec![
                    Item::enumeration(tag::OPERATION, operation),
                    Item::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
    .encode();
    let request = Zeroizing::new(request);
    let pooled = pool()
        .lock()
        .ok()
        .and_then(|mut m| m.get_mut(ep).and_then(Vec::pop));
    let fresh = || -> KmipResult<(Tls, Vec<u8>)> {
        let mut tls = connect(ep)?;
        let raw = exchange(&mut tls, &request).map_err(|e| {
            KmipFailure::Connection(format!(
                "the KMIP server {}:{} broke the connection: {e}",
                ep.host, ep.port
            ))
        })?;
        Ok((tls, raw))
    };
    let (mut tls, raw) = match pooled {
        Some(mut tls) => match exchange(&mut tls, &request) {
            Ok(raw) => (tls, raw),
            Err(_) => fresh()?,
        },
        None => fresh()?,
    };
    let raw = Zeroizing::new(raw);
    let parsed = parse_response(&raw, operation);
    if !matches!(parsed, Err(KmipFailure::Protocol(_))) {
        if let Ok(mut m) = pool().lock() {
            m.entry(ep.clone()).or_default().push(tls);
        }
    } else {
        tls.conn.send_close_notify();
    }
    parsed
}

/// The response payload of a one-item response to `operation`, or the server's refusal.
pub fn parse_response(raw: &[u8], operation: u32) -> KmipResult<Item> {
    let proto = |m: &str| KmipFailure::Protocol(format!("the KMIP server's response {m}"));
    let msg = ttlv::decode(raw).map_err(|e| KmipFailure::Protocol(e.to_string()))?;
    if msg.tag != tag::RESPONSE_MESSAGE {
        return Err(proto("is not a Response Message"));
    }
    let item = msg
        .child(tag::BATCH_ITEM)
        .ok_or_else(|| proto("has no batch item"))?;
    if let Some(op) = item.child(tag::OPERATION).and_then(Item::as_enum) {
        if op != operation {
            return Err(proto("answers another operation"));
        }
    }
    let status = item
        .child(tag::RESULT_STATUS)
        .and_then(Item::as_enum)
        .ok_or_else(|| proto("has no result status"))?;
    if status != 0 {
        let reason = item
            .child(tag::RESULT_REASON)
            .and_then(Item::as_enum)
            .unwrap_or(reason::GENERAL_FAILURE);
        let message = item
            .child(tag::RESULT_MESSAGE)
            .and_then(Item::as_text)
            .unwrap_or("no message")
            .chars()
            .take(300)
            .collect::<String>();
        return Err(KmipFailure::Refused {
            reason,
            message: crate::vault::ids::printable(&message).to_string(),
        });
    }
    Ok(item
        .child(tag::RESPONSE_PAYLOAD)
        .cloned()
        .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, vec![])))
}

fn uid(id: &str) -> Item {
    Item::text(tag::UNIQUE_IDENTIFIER, id)
}

fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            Item::text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn returned_uid(payload: &Item, t: u32) -> KmipResult<String> {
    payload
        .child(t)
        .and_then(Item::as_text)
        .map(str::to_string)
        .ok_or_else(|| KmipFailure::Protocol("the response has no unique identifier".into()))
}

/// The Name attribute (an uninterpreted text string).
fn name_attribute(name: &str) -> Item {
    attribute(
        "Name",
        Value::Structure(vec![
            Item::text(tag::NAME_VALUE, name),
            Item::enumeration(tag::NAME_TYPE, 1),
        ]),
    )
}

/// Create an AES-256 key for Encrypt and Decrypt; returns its unique identifier (Pre-Active).
pub fn create_aes256(ep: &Endpoint) -> KmipResult<String> {
    create_aes256_named(ep, None)
}

/// [`create_aes256`] with a Name attribute.
pub fn create_aes256_named(ep: &Endpoint, name: Option<&str>) -> KmipResult<String> {
    let mut attrs = vec![
        attribute("Cryptographic Algorithm", Value::Enumeration(ALG_AES)),
        attribute("Cryptographic Length", Value::Integer(256)),
        attribute(
            "Cryptographic Usage Mask",
            Value::Integer(USAGE_ENCRYPT | USAGE_DECRYPT),
        ),
    ];
    attrs.extend(name.map(name_attribute));
    let p = call(
        ep,
        op::CREATE,
        vec![
            Item::enumeration(tag::OBJECT_TYPE, OBJECT_SYMMETRIC_KEY),
            Item::structure(tag::TEMPLATE_ATTRIBUTE, attrs),
        ],
    )?;
    returned_uid(&p, tag::UNIQUE_IDENTIFIER)
}

/// Create an RSA key pair of `bits`; returns (private key id, public key id).
pub fn create_rsa_key_pair(ep: &Endpoint, bits: i32) -> KmipResult<(String, String)> {
    create_rsa_key_pair_named(ep, bits, None)
}

/// [`create_rsa_key_pair`] with Name attributes: `name` on the private key, `name.public` on
/// the public key.
pub fn create_rsa_key_pair_named(
    ep: &Endpoint,
    bits: i32,
    name: Option<&str>,
) -> KmipResult<(String, String)> {
    let mut private = vec![attribute(
        "Cryptographic Usage Mask",
        Value::Integer(USAGE_DECRYPT),
    )];
    let mut public = vec![attribute(
        "Cryptographic Usage Mask",
        Value::Integer(USAGE_ENCRYPT),
    )];
    if let Some(n) = name {
        private.push(name_attribute(n));
        public.push(name_attribute(&format!("{n}.public")));
    }
    let p = call(
        ep,
        op::CREATE_KEY_PAIR,
        vec![
            Item::structure(
                tag::COMMON_TEMPLATE_ATTRIBUTE,
                vec![
                    attribute("Cryptographic Algorithm", Value::Enumeration(ALG_RSA)),
                    attribute("Cryptographic Length", Value::Integer(bits)),
                ],
            ),
            Item::structure(tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE, private),
            Item::structure(tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE, public),
        ],
    )?;
    Ok((
        returned_uid(&p, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER)?,
        returned_uid(&p, tag::PUBLIC_KEY_UNIQUE_IDENTIFIER)?,
    ))
}

/// Activate (Pre-Active to Active).
pub fn activate(ep: &Endpoint, id: &str) -> KmipResult<()> {
    call(ep, op::ACTIVATE, vec![uid(id)]).map(|_| ())
}

/// Re-key: a new key replacing `id`; returns the new key's identifier.
pub fn rekey(ep: &Endpoint, id: &str) -> KmipResult<String> {
    let p = call(ep, op::REKEY, vec![uid(id)])?;
    returned_uid(&p, tag::UNIQUE_IDENTIFIER)
}

/// Revoke: `compromised` makes the key Compromised (reason Key Compromise), else Deactivated
/// (reason Cessation of Operation).
pub fn revoke(ep: &Endpoint, id: &str, compromised: bool) -> KmipResult<()> {
    let mut payload = vec![
        uid(id),
        Item::structure(
            tag::REVOCATION_REASON,
            vec![Item::enumeration(
                tag::REVOCATION_REASON_CODE,
                if compromised { 0x02 } else { 0x06 },
            )],
        ),
    ];
    if compromised {
        payload.push(Item::new(
            tag::COMPROMISE_OCCURRENCE_DATE,
            Value::DateTime(chrono::Utc::now().timestamp()),
        ));
    }
    call(ep, op::REVOKE, payload).map(|_| ())
}

/// Destroy.
pub fn destroy(ep: &Endpoint, id: &str) -> KmipResult<()> {
    call(ep, op::DESTROY, vec![uid(id)]).map(|_| ())
}

/// What Get Attributes says of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttributes {
    /// The object's state.
    pub state: Option<State>,
    /// The Cryptographic Algorithm enumeration (3 = AES, 4 = RSA).
    pub algorithm: Option<u32>,
    /// The Cryptographic Length in bits.
    pub length: Option<i32>,
}

impl KeyAttributes {
    /// True for an AES-256 key.
    pub fn is_aes256(&self) -> bool {
        self.algorithm == Some(ALG_AES) && self.length == Some(256)
    }

    /// The RSA modulus size, for an RSA key.
    pub fn rsa_bits(&self) -> Option<usize> {
        (self.algorithm == Some(ALG_RSA))
            .then(|| self.length.and_then(|l| usize::try_from(l).ok()))
            .flatten()
    }
}

/// Get Attributes: state, algorithm and length.
pub fn get_attributes(ep: &Endpoint, id: &str) -> KmipResult<KeyAttributes> {
    let p = call(
        ep,
        op::GET_ATTRIBUTES,
        vec![
            uid(id),
            Item::text(tag::ATTRIBUTE_NAME, "State"),
            Item::text(tag::ATTRIBUTE_NAME, "Cryptographic Algorithm"),
            Item::text(tag::ATTRIBUTE_NAME, "Cryptographic Length"),
        ],
    )?;
    let mut out = KeyAttributes {
        state: None,
        algorithm: None,
        length: None,
    };
    for a in p.children(tag::ATTRIBUTE) {
        let name = a.child(tag::ATTRIBUTE_NAME).and_then(Item::as_text);
        let value = a.child(tag::ATTRIBUTE_VALUE);
        match (name, value) {
            (Some("State"), Some(v)) => out.state = v.as_enum().and_then(State::from_u32),
            (Some("Cryptographic Algorithm"), Some(v)) => out.algorithm = v.as_enum(),
            (Some("Cryptographic Length"), Some(v)) => out.length = v.as_int(),
            _ => {}
        }
    }
    Ok(out)
}

/// Key Format Types (KMIP 1.4 §9.1.3.2.3) of the key material a Get returns.
pub mod key_format {
    /// PKCS#1 (RSAPublicKey / RSAPrivateKey DER).
    pub const PKCS1: u32 = 0x03;
    /// PKCS#8 (PrivateKeyInfo DER).
    pub const PKCS8: u32 = 0x04;
    /// X.509 (SubjectPublicKeyInfo DER, for a public key).
    pub const X509: u32 = 0x05;
}

/// What a Get returned of a key: its Object Type, the Key Format Type and the key material.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// Object Type (3 = Public Key, 4 = Private Key, 2 = Symmetric Key).
    pub object_type: u32,
    /// Key Format Type (see [`key_format`]).
    pub format: u32,
    /// The key material bytes.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyMaterial(object type {}, format {}, {} bytes)",
            self.object_type,
            self.format,
            self.bytes.len()
        )
    }
}

/// Get: the key material of object `id` in the server's own format (none is asked for: a
/// server that cannot convert formats, such as PyKMIP, refuses a request for another).
/// custkey asks for public keys only; the tests also read a PyKMIP private key to check a
/// wrap made under its public half.
pub fn get_key(ep: &Endpoint, id: &str) -> KmipResult<KeyMaterial> {
    let p = call(ep, op::GET, vec![uid(id)])?;
    parse_get(&p)
}

/// The key material of a Get response payload (see [`get_key`]).
pub fn parse_get(p: &Item) -> KmipResult<KeyMaterial> {
    let proto = |m: &str| KmipFailure::Protocol(format!("the Get response {m}"));
    let object_type = p
        .child(tag::OBJECT_TYPE)
        .and_then(Item::as_enum)
        .ok_or_else(|| proto("has no object type"))?;
    let object = [tag::PUBLIC_KEY, tag::PRIVATE_KEY, tag::SYMMETRIC_KEY]
        .iter()
        .find_map(|t| p.child(*t))
        .ok_or_else(|| proto("holds no key object"))?;
    let block = object
        .child(tag::KEY_BLOCK)
        .ok_or_else(|| proto("has no key block"))?;
    let format = block
        .child(tag::KEY_FORMAT_TYPE)
        .and_then(Item::as_enum)
        .ok_or_else(|| proto("has no key format type"))?;
    let value = block
        .child(tag::KEY_VALUE)
        .ok_or_else(|| proto("has no key value"))?;
    if value.as_bytes().is_some() {
        return Err(proto(
            "holds the key wrapped (a Key Value byte string): ask for it unwrapped",
        ));
    }
    let bytes = value
        .child(tag::KEY_MATERIAL)
        .and_then(Item::as_bytes)
        .ok_or_else(|| {
            proto(&format!(
                "holds key material of format {format:#x} that is not a byte string (a transparent key)"
            ))
        })?;
    if bytes.is_empty() || bytes.len() > MAX_KEY_MATERIAL {
        return Err(proto("holds key material of an implausible length"));
    }
    Ok(KeyMaterial {
        object_type,
        format,
        bytes: Zeroizing::new(bytes.to_vec()),
    })
}

/// The identifier of the public key linked to private key `id` (its Public Key Link), if the
/// server records links (PyKMIP 0.11 does not).
pub fn public_key_link(ep: &Endpoint, id: &str) -> KmipResult<Option<String>> {
    let p = call(
        ep,
        op::GET_ATTRIBUTES,
        vec![uid(id), Item::text(tag::ATTRIBUTE_NAME, "Link")],
    )?;
    Ok(linked_public_key(&p))
}

/// The Public Key Link of a Get Attributes response payload.
pub fn linked_public_key(p: &Item) -> Option<String> {
    p.children(tag::ATTRIBUTE)
        .filter(|a| a.child(tag::ATTRIBUTE_NAME).and_then(Item::as_text) == Some("Link"))
        .filter_map(|a| a.child(tag::ATTRIBUTE_VALUE))
        .find(|v| v.child(tag::LINK_TYPE).and_then(Item::as_enum) == Some(LINK_PUBLIC_KEY))
        .and_then(|v| v.child(tag::LINKED_OBJECT_IDENTIFIER))
        .and_then(Item::as_text)
        .map(str::to_string)
}

fn gcm_parameters() -> Item {
    Item::structure(
        tag::CRYPTOGRAPHIC_PARAMETERS,
        vec![
            Item::enumeration(tag::BLOCK_CIPHER_MODE, MODE_GCM),
            Item::enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, ALG_AES),
            Item::integer(tag::TAG_LENGTH, GCM_TAG_LEN as i32),
        ],
    )
}

/// AES-GCM Encrypt on the server with a fresh IV of ours: returns `iv || ciphertext || tag`.
pub fn gcm_encrypt(ep: &Endpoint, id: &str, plain: &[u8], aad: &[u8]) -> KmipResult<Vec<u8>> {
    let mut iv = [0u8; GCM_IV_LEN];
    crate::crypto::random_bytes(&mut iv);
    let p = call(
        ep,
        op::ENCRYPT,
        vec![
            uid(id),
            gcm_parameters(),
            Item::bytes(tag::DATA, plain),
            Item::bytes(tag::IV_COUNTER_NONCE, &iv),
            Item::bytes(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, aad),
        ],
    )?;
    let ct = p
        .child(tag::DATA)
        .and_then(Item::as_bytes)
        .ok_or_else(|| KmipFailure::Protocol("the Encrypt response has no data".into()))?;
    let t = p
        .child(tag::AUTHENTICATED_ENCRYPTION_TAG)
        .and_then(Item::as_bytes)
        .ok_or_else(|| {
            KmipFailure::Protocol("the Encrypt response has no authentication tag".into())
        })?;
    if ct.len() != plain.len() || t.len() != GCM_TAG_LEN {
        return Err(KmipFailure::Protocol(
            "the Encrypt response has a ciphertext or tag of the wrong length".into(),
        ));
    }
    let mut out = iv.to_vec();
    out.extend_from_slice(ct);
    out.extend_from_slice(t);
    Ok(out)
}

/// AES-GCM Decrypt on the server of what [`gcm_encrypt`] returned.
pub fn gcm_decrypt(
    ep: &Endpoint,
    id: &str,
    wrapped: &[u8],
    aad: &[u8],
) -> KmipResult<Zeroizing<Vec<u8>>> {
    if wrapped.len() < GCM_IV_LEN + GCM_TAG_LEN {
        return Err(KmipFailure::Protocol(
            "the wrapped value is too short".into(),
        ));
    }
    let (iv, rest) = wrapped.split_at(GCM_IV_LEN);
    let (ct, t) = rest.split_at(rest.len() - GCM_TAG_LEN);
    let p = call(
        ep,
        op::DECRYPT,
        vec![
            uid(id),
            gcm_parameters(),
            Item::bytes(tag::DATA, ct),
            Item::bytes(tag::IV_COUNTER_NONCE, iv),
            Item::bytes(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, aad),
            Item::bytes(tag::AUTHENTICATED_ENCRYPTION_TAG, t),
        ],
    )
    .map_err(decrypt_failure)?;
    p.child(tag::DATA)
        .and_then(Item::as_bytes)
        .map(|d| Zeroizing::new(d.to_vec()))
        .ok_or_else(|| KmipFailure::Protocol("the Decrypt response has no data".into()))
}

/// RSA-OAEP Decrypt on the server with a private key: `sha256` asks for SHA-256 with
/// MGF1-SHA-256 (the KMIP 1.4 Mask Generator fields), else SHA-1 with the default MGF1-SHA-1
/// (no Mask Generator fields, which KMIP 1.2 servers such as PyKMIP cannot parse).
pub fn rsa_oaep_decrypt(
    ep: &Endpoint,
    id: &str,
    wrapped: &[u8],
    sha256: bool,
) -> KmipResult<Zeroizing<Vec<u8>>> {
    let mut params = vec![
        Item::enumeration(tag::PADDING_METHOD, PADDING_OAEP),
        Item::enumeration(
            tag::HASHING_ALGORITHM,
            if sha256 { HASH_SHA256 } else { HASH_SHA1 },
        ),
        Item::enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, ALG_RSA),
    ];
    if sha256 {
        params.push(Item::enumeration(tag::MASK_GENERATOR, MGF1));
        params.push(Item::enumeration(
            tag::MASK_GENERATOR_HASHING_ALGORITHM,
            HASH_SHA256,
        ));
    }
    let p = call(
        ep,
        op::DECRYPT,
        vec![
            uid(id),
            Item::structure(tag::CRYPTOGRAPHIC_PARAMETERS, params),
            Item::bytes(tag::DATA, wrapped),
        ],
    )
    .map_err(decrypt_failure)?;
    p.child(tag::DATA)
        .and_then(Item::as_bytes)
        .map(|d| Zeroizing::new(d.to_vec()))
        .ok_or_else(|| KmipFailure::Protocol("the Decrypt response has no data".into()))
}

/// A Decrypt that the server failed with General Failure: PyKMIP answers so when the GCM tag
/// does not verify (its cryptography library raises InvalidTag), so it is read as a copy that
/// does not decrypt (Cryptographic Failure), not as a server in trouble.
fn decrypt_failure(e: KmipFailure) -> KmipFailure {
    match e {
        KmipFailure::Refused { reason, message } if reason == reason::GENERAL_FAILURE => {
            KmipFailure::Refused {
                reason: reason::CRYPTOGRAPHIC_FAILURE,
                message: format!("{message} (General Failure to Decrypt)"),
            }
        }
        other => other,
    }
}

/// Connect (TCP and the TLS handshake with the client certificate) and keep the connection.
pub fn check(ep: &Endpoint) -> KmipResult<()> {
    let tls = connect(ep)?;
    if let Ok(mut m) = pool().lock() {
        m.entry(ep.clone()).or_default().push(tls);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_payload(object: u32, object_type: u32, format: u32, value: Item) -> Item {
        Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Item::enumeration(tag::OBJECT_TYPE, object_type),
                uid("7"),
                Item::structure(
                    object,
                    vec![Item::structure(
                        tag::KEY_BLOCK,
                        vec![Item::enumeration(tag::KEY_FORMAT_TYPE, format), value],
                    )],
                ),
            ],
        )
    }

    fn material(b: &[u8]) -> Item {
        Item::structure(tag::KEY_VALUE, vec![Item::bytes(tag::KEY_MATERIAL, b)])
    }

    #[test]
    fn a_get_response_gives_its_key_material_or_says_why_not() {
        let p = get_payload(
            tag::PUBLIC_KEY,
            OBJECT_PUBLIC_KEY,
            key_format::X509,
            material(b"spki"),
        );
        let m = parse_get(&p).unwrap();
        assert_eq!(
            (m.object_type, m.format),
            (OBJECT_PUBLIC_KEY, key_format::X509)
        );
        assert_eq!(m.bytes.as_slice(), b"spki");
        // Material wrapped by the server, a transparent key, no material, too much.
        let wrapped = get_payload(
            tag::PUBLIC_KEY,
            OBJECT_PUBLIC_KEY,
            key_format::PKCS1,
            Item::bytes(tag::KEY_VALUE, b"wrapped"),
        );
        let transparent = get_payload(
            tag::PUBLIC_KEY,
            OBJECT_PUBLIC_KEY,
            0x0B,
            Item::structure(
                tag::KEY_VALUE,
                vec![Item::structure(tag::KEY_MATERIAL, vec![])],
            ),
        );
        let empty = get_payload(tag::PUBLIC_KEY, OBJECT_PUBLIC_KEY, 3, material(b""));
        let huge = get_payload(
            tag::PUBLIC_KEY,
            OBJECT_PUBLIC_KEY,
            3,
            material(&vec![0u8; MAX_KEY_MATERIAL + 1]),
        );
        let no_object = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![Item::enumeration(tag::OBJECT_TYPE, 3), uid("7")],
        );
        for (p, says) in [
            (wrapped, "wrapped"),
            (transparent, "transparent"),
            (empty, "implausible"),
            (huge, "implausible"),
            (no_object, "no key object"),
        ] {
            match parse_get(&p) {
                Err(KmipFailure::Protocol(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{says}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_public_key_link_is_read_from_get_attributes() {
        let link = |t: u32, id: &str| {
            attribute(
                "Link",
                Value::Structure(vec![
                    Item::enumeration(tag::LINK_TYPE, t),
                    Item::text(tag::LINKED_OBJECT_IDENTIFIER, id),
                ]),
            )
        };
        let p = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![uid("1"), link(0x101, "cert"), link(LINK_PUBLIC_KEY, "2")],
        );
        assert_eq!(linked_public_key(&p).as_deref(), Some("2"));
        let none = Item::structure(tag::RESPONSE_PAYLOAD, vec![uid("1"), link(0x103, "3")]);
        assert_eq!(linked_public_key(&none), None);
    }
}
