//! TLS for the service and its clients (rustls on aws-lc-rs, the provider the KMIP client
//! already uses). The service presents a certificate given to it, or one it made itself on
//! first start; clients pin the SHA-256 thumbprint of that certificate, so a self-signed one
//! is as safe as a CA-issued one once the thumbprint has been checked out of band.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use zeroize::Zeroizing;

use crate::cli::error::CliError;

/// The largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The SHA-256 of a certificate's DER, in lowercase hex.
pub fn thumbprint(cert: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert).as_ref())
}

fn read_pem(what: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    custkey::input::read_file_limited(path, MAX_PEM_BYTES)
        .map(Zeroizing::new)
        .map_err(|e| {
            CliError::usage(format!("cannot read the {what} {}: {e}", path.display()))
                .with_help("give a PEM file readable by the service's account")
        })
}

/// The service's certificate and key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Where they were read from (or written to, when made here).
    pub cert_path: PathBuf,
    /// Whether this start made them.
    pub generated: bool,
}

impl Identity {
    pub fn thumbprint(&self) -> String {
        self.chain
            .first()
            .map(|c| thumbprint(c.as_ref()))
            .unwrap_or_default()
    }

    /// Reads a PEM certificate chain and its PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, CliError> {
        let bad = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
            CliError::usage(format!("{} is not a PEM {what} ({e})", p.display()))
                .with_help("give the certificate (BEGIN CERTIFICATE) and its key (BEGIN PRIVATE KEY) as PEM files")
        };
        let c = read_pem("certificate", cert)?;
        let chain = CertificateDer::pem_slice_iter(&c)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("certificate", cert, &e))?;
        if chain.is_empty() {
            return Err(bad("certificate", cert, &"no certificate in it"));
        }
        let k = read_pem("key", key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&k).map_err(|e| bad("key", key, &e))?;
        Ok(Identity {
            chain,
            key: key_der,
            cert_path: cert.to_path_buf(),
            generated: false,
        })
    }

    /// The certificate kept in `dir` (service.crt, service.key), made on first use for the
    /// names `hosts` (an ECDSA P-256 key, self-signed).
    pub fn generated(dir: &Path, hosts: &[String]) -> Result<Identity, CliError> {
        let cert = dir.join("service.crt");
        let key = dir.join("service.key");
        if cert.exists() && key.exists() {
            return Identity::load(&cert, &key);
        }
        let mut names = vec!["localhost".to_string()];
        for h in hosts {
            if !names.contains(h) {
                names.push(h.clone());
            }
        }
        let made = rcgen::generate_simple_self_signed(names).map_err(|e| {
            CliError::new(
                crate::cli::error::Class::Internal,
                format!("cannot make a certificate: {e}"),
            )
        })?;
        let key_pem = Zeroizing::new(made.signing_key.serialize_pem());
        let write = |p: &Path, text: &[u8]| {
            custkey::fsio::write_atomic(p, text).map_err(|e| {
                CliError::unavailable(format!("cannot write {}: {e}", p.display())).with_help(
                    "check the configuration directory's permissions, or set CUSTKEY_CONFIG_DIR",
                )
            })
        };
        write(&key, key_pem.as_bytes())?;
        write(&cert, made.cert.pem().as_bytes())?;
        let mut id = Identity::load(&cert, &key)?;
        id.generated = true;
        Ok(id)
    }

    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, CliError> {
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.chain.clone(), self.key.clone_key())
            })
            .map_err(|e| {
                CliError::usage(format!(
                    "the certificate {} cannot be served: {e}",
                    self.cert_path.display()
                ))
                .with_help("give a certificate and the private key that belongs to it")
            })?;
        Ok(Arc::new(cfg))
    }
}

/// Accepts exactly the certificate with the pinned thumbprint (whatever its issuer, names or
/// dates: the pin is the trust), and checks the handshake signatures as usual.
#[derive(Debug)]
struct Pinned {
    /// The pinned thumbprint; `None` for a probe, which records what it sees and trusts
    /// nothing.
    thumbprint: Option<String>,
    seen: std::sync::Mutex<Option<String>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = thumbprint(end_entity.as_ref());
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(seen.clone());
        }
        match &self.thumbprint {
            Some(pinned) if *pinned == seen => Ok(ServerCertVerified::assertion()),
            Some(pinned) => Err(rustls::Error::General(format!(
                "the service's certificate has the thumbprint {seen}, not the pinned {pinned}"
            ))),
            // A probe stops here: nothing is sent to a service not yet trusted.
            None => Err(rustls::Error::General("probe".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that trusts only the certificate with `thumbprint`.
pub fn client_config(thumbprint: &str) -> Result<Arc<rustls::ClientConfig>, CliError> {
    let p = provider();
    let cfg = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::new(crate::cli::error::Class::Internal, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            thumbprint: Some(thumbprint.to_string()),
            seen: std::sync::Mutex::new(None),
            provider: p,
        }))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Learns the thumbprint of the certificate a service presents (trusting nothing: the caller
/// shows it to the operator to check).
pub fn probe_thumbprint(addr: &str, host: &str) -> Result<String, CliError> {
    let p = provider();
    let rec = Arc::new(Pinned {
        thumbprint: None,
        seen: std::sync::Mutex::new(None),
        provider: p.clone(),
    });
    let cfg = rustls::ClientConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::new(crate::cli::error::Class::Internal, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(rec.clone())
        .with_no_client_auth();
    let mut tcp = dial(addr)?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| CliError::usage(format!("'{host}' is not a host name")))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name)
        .map_err(|e| CliError::new(crate::cli::error::Class::Internal, e.to_string()))?;
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            break;
        }
    }
    let seen = rec.seen.lock().ok().and_then(|s| s.clone());
    seen.ok_or_else(|| {
        CliError::unavailable(format!("the service at {addr} presented no certificate"))
            .with_help("check that the URL names a custkey service (Start-CustomerKeyService)")
    })
}

/// How long a client waits to connect, and at most for a reply.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A TCP connection to the service at `addr` (host:port), with the client's timeouts.
pub fn dial(addr: &str) -> Result<TcpStream, CliError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        CliError::unavailable(format!("cannot reach the service at {addr}: {e}"))
            .with_help("check that Start-CustomerKeyService runs there and that the URL is right (Get-CustomerKeyService)")
    };
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(&e))?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(REPLY_TIMEOUT));
                let _ = s.set_write_timeout(Some(REPLY_TIMEOUT));
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => unreachable(&e),
        None => unreachable(&"the name resolves to no address"),
    })
}
