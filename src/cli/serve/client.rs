//! The remote side of the service interface: a cmdlet bound on the operator's machine is sent
//! to the service, signed by the operator's key, and its reply comes back as the same
//! [`Output`] the in-process call returns; the cmdlet layer formats both alike.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use custkey::identity::{self, Signer};
use serde::{Deserialize, Serialize};

use super::http;
use super::wire::{self, Invocation, Reply};
use crate::cli::error::{Class, CliError};

use super::tls::REPLY_TIMEOUT;
/// How long shell completion waits for the service.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(3);

/// `CUSTKEY_SERVER`: the service's URL (overrides the saved connection).
pub const ENV_SERVER: &str = "CUSTKEY_SERVER";
/// `CUSTKEY_SERVER_THUMBPRINT`: the thumbprint to pin with `CUSTKEY_SERVER`.
pub const ENV_THUMBPRINT: &str = "CUSTKEY_SERVER_THUMBPRINT";

/// The saved connection (`service.json` in the configuration directory, 0600).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Saved {
    pub url: String,
    pub certificate_thumbprint: String,
    /// The account requests are signed as (Connect-AzAccount while connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The public key of the account, to find it in ssh-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default)]
    pub use_ssh_agent: bool,
}

fn saved_path() -> Result<PathBuf, CliError> {
    let dir =
        custkey::paths::config_dir().map_err(|e| CliError::usage(e.message).with_help(e.help))?;
    Ok(dir.join("service.json"))
}

impl Saved {
    /// The saved connection, if there is one.
    pub fn load() -> Result<Option<Saved>, CliError> {
        let p = saved_path()?;
        if !p.exists() {
            return Ok(None);
        }
        let bytes = custkey::input::read_file_limited(&p, 64 * 1024).map_err(|e| {
            CliError::unavailable(format!(
                "cannot read the service connection {}: {e}",
                p.display()
            ))
        })?;
        let s: Saved = serde_json::from_slice(&bytes).map_err(|e| {
            CliError::usage(format!("the service connection {} is damaged ({e})", p.display()))
                .with_help("connect again: custkey Connect-CustomerKeyService -Url https://host:port -CertificateThumbprint <thumbprint>")
        })?;
        Ok(Some(s))
    }

    pub fn save(&self) -> Result<PathBuf, CliError> {
        let p = saved_path()?;
        if let Some(dir) = p.parent() {
            custkey::paths::create_private_dir(dir).map_err(|e| {
                CliError::unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        custkey::fsio::write_atomic(&p, &text)
            .map_err(|e| CliError::unavailable(format!("cannot write {}: {e}", p.display())))?;
        Ok(p)
    }

    /// Forgets the saved connection; whether there was one.
    pub fn remove() -> Result<bool, CliError> {
        let p = saved_path()?;
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CliError::unavailable(format!(
                "cannot remove {}: {e}",
                p.display()
            ))),
        }
    }
}

/// Where the service is: `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, CliError> {
        let bad = |why: &str| {
            CliError::usage(format!("'{url}' is not a service URL ({why})"))
                .with_help("give https://host:port, as Start-CustomerKeyService printed it")
        };
        let rest = url
            .trim()
            .strip_prefix("https://")
            .ok_or_else(|| bad("it must start with https://"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err(bad("give only the host and port"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (rest, 443),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("the host or port is missing"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
    pub fn url(&self) -> String {
        format!("https://{}", self.addr())
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A connection to the service, and the account requests are signed as.
pub struct Remote {
    pub endpoint: Endpoint,
    pub thumbprint: String,
    pub saved: Saved,
    conn: Option<BufReader<Tls>>,
    tls: Arc<rustls::ClientConfig>,
    /// How long to wait for a connection and a reply.
    timeout: Duration,
    /// The signed-in account's signer, once read (a script's requests share it).
    signer: Option<(String, Arc<Signer>)>,
}

impl Remote {
    /// The service this client uses: `CUSTKEY_SERVER` (with `CUSTKEY_SERVER_THUMBPRINT`), else
    /// the saved connection, else none (embedded mode).
    pub fn configured() -> Result<Option<Remote>, CliError> {
        let env_url = std::env::var(ENV_SERVER)
            .ok()
            .filter(|v| !v.trim().is_empty());
        // No configuration directory (no HOME, no CUSTKEY_CONFIG_DIR): no saved connection.
        let saved = match Saved::load() {
            Ok(s) => s,
            Err(_) if env_url.is_none() && saved_path().is_err() => None,
            Err(e) => return Err(e),
        };
        let env_thumb = std::env::var(ENV_THUMBPRINT)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let mut s = match (env_url, saved) {
            (None, None) => return Ok(None),
            (None, Some(s)) => s,
            (Some(url), saved) => {
                let mut s = saved.unwrap_or_default();
                if s.url != url {
                    s.certificate_thumbprint.clear();
                }
                s.url = url;
                s
            }
        };
        if let Some(t) = env_thumb {
            s.certificate_thumbprint = t;
        }
        Remote::new(s).map(Some)
    }

    pub fn new(saved: Saved) -> Result<Remote, CliError> {
        let endpoint = Endpoint::parse(&saved.url)?;
        let thumbprint = wire::parse_thumbprint(&saved.certificate_thumbprint).ok_or_else(|| {
            CliError::usage(format!("the certificate of the service at {} is not pinned", saved.url))
                .with_help(format!("give its SHA-256 thumbprint, as Start-CustomerKeyService printed it: set {ENV_THUMBPRINT}, or run custkey Connect-CustomerKeyService -Url {} -CertificateThumbprint <thumbprint>", saved.url))
        })?;
        let tls = super::tls::client_config(&thumbprint)?;
        Ok(Remote {
            endpoint,
            thumbprint,
            saved,
            conn: None,
            tls,
            timeout: REPLY_TIMEOUT,
            signer: None,
        })
    }

    fn connect(&self) -> Result<BufReader<Tls>, CliError> {
        let tcp = super::tls::dial(&self.endpoint.addr())?;
        let _ = tcp.set_read_timeout(Some(self.timeout));
        let _ = tcp.set_write_timeout(Some(self.timeout));
        let name = rustls::pki_types::ServerName::try_from(self.endpoint.host.clone())
            .map_err(|_| CliError::usage(format!("'{}' is not a host name", self.endpoint.host)))?;
        let conn = rustls::ClientConnection::new(self.tls.clone(), name)
            .map_err(|e| CliError::new(Class::Internal, e.to_string()))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so a wrong certificate is reported as such.
        while tls.conn.is_handshaking() {
            if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                return Err(handshake_error(&self.endpoint, &e));
            }
        }
        Ok(BufReader::new(tls))
    }

    /// Sends one request (reusing the open connection if there is one) and reads the reply.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<http::Response, CliError> {
        let host = self.endpoint.addr();
        for attempt in 0..2 {
            let reused = self.conn.is_some();
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => self.connect()?,
            };
            let sent = http::write_request(conn.get_mut(), method, &host, path, headers, body);
            let got = sent
                .map_err(http::HttpError::Io)
                .and_then(|()| http::read_response(&mut conn, wire::MAX_REPLY_BYTES));
            match got {
                Ok(r) => {
                    let close = r
                        .headers
                        .iter()
                        .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close"));
                    if !close {
                        self.conn = Some(conn);
                    }
                    return Ok(r);
                }
                // An idle connection the service closed: the same signed request again, on a
                // new connection (its nonce makes a second run impossible).
                Err(http::HttpError::Closed | http::HttpError::Io(_)) if reused && attempt == 0 => {
                    continue
                }
                Err(e) => {
                    return Err(CliError::unavailable(format!(
                        "the service at {} did not answer: {e}",
                        self.endpoint.url()
                    ))
                    .with_help("see the service's log; the request may or may not have run: check with a Get- cmdlet before trying again"))
                }
            }
        }
        Err(CliError::unavailable(format!(
            "the service at {} closed the connection",
            self.endpoint.url()
        )))
    }

    /// Replaces the saved connection (a new sign-in): the next request reads its key.
    pub fn set_saved(&mut self, saved: Saved) {
        self.saved = saved;
        self.signer = None;
    }

    /// The signer of the connected account (read once).
    fn signer(&mut self) -> Result<(String, Arc<Signer>), CliError> {
        if let Some((a, s)) = &self.signer {
            return Ok((a.clone(), s.clone()));
        }
        let (a, s) = self.read_signer()?;
        let s = Arc::new(s);
        self.signer = Some((a.clone(), s.clone()));
        Ok((a, s))
    }

    fn read_signer(&self) -> Result<(String, Signer), CliError> {
        let Some(account) = self.saved.account.clone() else {
            return Err(CliError::usage(format!(
                "no account is signed in to the service at {}",
                self.endpoint.url()
            ))
            .with_help("sign in with your registered key: custkey Connect-AzAccount -AccountId you@contoso.com -KeyFile <private key>"));
        };
        let id_err = |e: identity::IdentityError| CliError::usage(e.message).with_help(e.help);
        if let Some(k) = &self.saved.key_file {
            return Ok((account, Signer::from_key_file(k).map_err(id_err)?));
        }
        if self.saved.use_ssh_agent {
            let sock = identity::agent_socket().ok_or_else(|| {
                CliError::usage("SSH_AUTH_SOCK is not set, so there is no ssh-agent to sign with")
                    .with_help("start ssh-agent and add the key, or sign in with -KeyFile")
            })?;
            let line = self.saved.public_key.clone().unwrap_or_default();
            let key = identity::parse_public_key(&line).map_err(id_err)?;
            return Ok((account, Signer::from_agent(&sock, &key).map_err(id_err)?));
        }
        Err(CliError::usage(format!("there is no key to sign requests as {account}"))
            .with_help(format!("sign in again: custkey Connect-AzAccount -AccountId {account} -KeyFile <private key>")))
    }

    /// Signs `s`, a statement the service asked for while running `inv`, with the connected
    /// account's key, if `inv` is a step of the data purge path ([`wire::makes_statement`]).
    pub fn sign_statement(
        &mut self,
        inv: &Invocation,
        s: &custkey::service::principal::StatementToSign,
    ) -> Result<custkey::service::principal::SignedStatement, CliError> {
        let cmdlet = inv.cmdlet.as_str();
        if !wire::makes_statement(cmdlet, &inv.args) || s.namespace != wire::STATEMENT_NAMESPACE {
            return Err(CliError::new(
                Class::Failed,
                format!("the service asked for a signature in '{}' while running {cmdlet}; nothing was signed", s.namespace),
            )
            .with_help("only the data purge path's statements are signed for the service; report this to the service's operator"));
        }
        let (_, signer) = self.signer()?;
        let sig = signer
            .sign(&s.namespace, s.text.as_bytes())
            .map_err(|e| CliError::usage(e.message).with_help(e.help))?;
        Ok(custkey::service::principal::SignedStatement {
            namespace: s.namespace.clone(),
            time: s.time.clone(),
            signature: identity::armor(&sig),
        })
    }

    /// Runs `inv` on the service as the connected account.
    pub fn invoke(&mut self, inv: &Invocation) -> Result<Reply, CliError> {
        let (account, signer) = self.signer()?;
        self.invoke_as(&account, &signer, inv)
    }

    pub fn invoke_as(
        &mut self,
        account: &str,
        signer: &Signer,
        inv: &Invocation,
    ) -> Result<Reply, CliError> {
        let body =
            serde_json::to_vec(inv).map_err(|e| CliError::new(Class::Internal, e.to_string()))?;
        let resp = self.signed_post(wire::INVOKE_PATH, account, signer, &body)?;
        serde_json::from_slice(&resp.body).map_err(|e| {
            CliError::unavailable(format!(
                "the service at {} sent a reply this client cannot read (HTTP {}: {e})",
                self.endpoint.url(),
                resp.status
            ))
            .with_help("check that client and service are the same custkey version")
        })
    }

    /// The names the service completes `cmdlet -param partial` to (for shell completion: a
    /// short wait, and nothing on any failure).
    pub fn complete(
        &mut self,
        cmdlet: &str,
        param: &str,
        partial: &str,
    ) -> Result<Vec<String>, CliError> {
        self.timeout = COMPLETE_TIMEOUT;
        let (account, signer) = self.signer()?;
        let body = serde_json::to_vec(
            &serde_json::json!({"cmdlet": cmdlet, "param": param, "partial": partial}),
        )
        .map_err(|e| CliError::new(Class::Internal, e.to_string()))?;
        let resp = self.signed_post(wire::COMPLETE_PATH, &account, &signer, &body)?;
        #[derive(Deserialize)]
        struct Values {
            values: Vec<String>,
        }
        serde_json::from_slice::<Values>(&resp.body)
            .map(|v| v.values)
            .map_err(|e| {
                CliError::unavailable(format!("the service's completion reply is unreadable: {e}"))
            })
    }

    /// POSTs `body` to `path`, signed as `account`; a 401 is an error naming the account.
    fn signed_post(
        &mut self,
        path: &str,
        account: &str,
        signer: &Signer,
        body: &[u8],
    ) -> Result<http::Response, CliError> {
        let digest =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref());
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut n = [0u8; 16];
        custkey::crypto::random_bytes(&mut n);
        let nonce = hex::encode(n);
        let text = wire::signed_text(
            "POST",
            path,
            account,
            &ts,
            &nonce,
            &digest,
            &self.thumbprint,
        );
        let sig = signer
            .sign(wire::NAMESPACE, text.as_bytes())
            .map_err(|e| CliError::usage(e.message).with_help(e.help))?;
        let sig_header = http::base64_encode(identity::armor(&sig).as_bytes());
        let headers = [
            ("content-type", "application/json".to_string()),
            (wire::H_ACCOUNT, account.to_string()),
            (wire::H_TIMESTAMP, ts),
            (wire::H_NONCE, nonce),
            (wire::H_SIGNATURE, sig_header),
        ];
        let resp = self.request("POST", path, &headers, body)?;
        if resp.status == 401 {
            #[derive(Deserialize)]
            struct Denied {
                error: wire::WireError,
            }
            let e = serde_json::from_slice::<Denied>(&resp.body)
                .map(|d| CliError::from(d.error))
                .unwrap_or_else(|_| {
                    CliError::new(Class::Failed, "the service refused the request (HTTP 401)")
                });
            return Err(CliError::new(
                Class::Failed,
                format!(
                    "the service at {} does not accept requests signed as {account}: {}",
                    self.endpoint.url(),
                    e.message
                ),
            )
            .with_help(e.help.unwrap_or_default()));
        }
        Ok(resp)
    }

    /// A GET of a public endpoint (health, readiness, the API description).
    pub fn get(&mut self, path: &str) -> Result<http::Response, CliError> {
        self.request("GET", path, &[], &[])
    }
}

/// Signs in to the service as `upn` with `cred`: finds the key, checks that the service
/// accepts requests signed with it, and returns the connection to save.
pub fn sign_in(
    remote: &mut Remote,
    upn: &str,
    cred: &custkey::service::principal::Credential,
) -> Result<Saved, CliError> {
    use custkey::service::principal::Credential;
    let mut s = remote.saved.clone();
    s.url = remote.endpoint.url();
    s.certificate_thumbprint = remote.thumbprint.clone();
    s.account = Some(upn.to_string());
    let id_err = |e: identity::IdentityError| CliError::usage(e.message).with_help(e.help);
    let probe = Invocation {
        cmdlet: "Get-AzContext".into(),
        args: Default::default(),
        input: Vec::new(),
        confirmed: false,
        files: Vec::new(),
        signatures: Vec::new(),
    };
    let from_file =
        |remote: &mut Remote, s: &mut Saved, path: &std::path::Path| -> Result<(), CliError> {
            let signer = Signer::from_key_file(path).map_err(id_err)?;
            remote.invoke_as(upn, &signer, &probe)?;
            s.key_file = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
            s.use_ssh_agent = false;
            s.public_key = Some(identity::public_line(signer.public_key()));
            Ok(())
        };
    let from_agent = |remote: &mut Remote, s: &mut Saved| -> Result<(), CliError> {
        let sock = identity::agent_socket().ok_or_else(|| {
            CliError::usage("SSH_AUTH_SOCK is not set, so there is no ssh-agent to sign with")
                .with_help("start ssh-agent and add the key (eval $(ssh-agent); ssh-add <key>), or sign in with -KeyFile")
        })?;
        let mut last = None;
        for key in identity::agent::identities(&sock).map_err(id_err)? {
            let Ok(signer) = Signer::from_agent(&sock, &key) else {
                continue;
            };
            match remote.invoke_as(upn, &signer, &probe) {
                Ok(_) => {
                    s.key_file = None;
                    s.use_ssh_agent = true;
                    s.public_key = Some(identity::public_line(&key));
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            CliError::usage(format!("the ssh-agent at {} holds no key", sock.display())).with_help(
                "add the account's key to the agent (ssh-add <key file>), or sign in with -KeyFile",
            )
        }))
    };
    match cred {
        Credential::KeyFile(p) => from_file(remote, &mut s, p)?,
        Credential::Agent => from_agent(remote, &mut s)?,
        Credential::Default => {
            let dir = crate::cli::default_data_dir();
            let path = custkey::service::principal::default_identity_file(&dir, upn)?;
            if path.exists() {
                from_file(remote, &mut s, &path)?;
            } else if identity::agent_socket().is_some() {
                from_agent(remote, &mut s)?;
            } else {
                return Err(CliError::usage(format!("there is no key to prove to the service that this is {upn}"))
                    .with_help(format!("sign in with the account's key: custkey Connect-AzAccount -AccountId {upn} -KeyFile <private key>")));
            }
        }
    }
    Ok(s)
}

fn handshake_error(ep: &Endpoint, e: &std::io::Error) -> CliError {
    let text = e.to_string();
    if text.contains("thumbprint") {
        return CliError::unavailable(format!("the service at {} is not the one pinned: {text}", ep.url()))
            .with_help("if the service's certificate was replaced on purpose, check the new thumbprint with its operator and connect again with -CertificateThumbprint");
    }
    CliError::unavailable(format!(
        "cannot open a TLS connection to {}: {text}",
        ep.url()
    ))
    .with_help("check that the URL names a custkey service (Start-CustomerKeyService)")
}

/// Writes `reply`'s messages on standard error as the in-process cmdlet would have.
pub fn show_messages(reply: &Reply) {
    let mut err = std::io::stderr().lock();
    for m in &reply.messages {
        match m.stream.as_str() {
            "warning" => crate::cli::error::warn_line(&m.text),
            "verbose" => {
                let _ = writeln!(err, "VERBOSE: {}", m.text);
            }
            // A report the cmdlet printed on its standard output before it failed.
            "output" => {
                let _ = crate::cli::write_out(&m.text);
            }
            _ => {
                let _ = writeln!(err, "{}", m.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_signs_only_the_purge_paths_statements() {
        let mut r = Remote::new(Saved {
            url: "https://127.0.0.1:1".into(),
            certificate_thumbprint: "ab".repeat(32),
            ..Saved::default()
        })
        .unwrap();
        let st = |ns: &str| custkey::service::principal::StatementToSign {
            namespace: ns.into(),
            time: "2026-12-02T00:00:00Z".into(),
            text: "anything".into(),
        };
        let inv = |cmdlet: &str, args: serde_json::Value| Invocation {
            cmdlet: cmdlet.into(),
            args: args.as_object().cloned().unwrap_or_default(),
            input: Vec::new(),
            confirmed: false,
            files: Vec::new(),
            signatures: Vec::new(),
        };
        // Asked while running a cmdlet that makes no statement (a Set-DataEncryptionPolicy
        // that requests no purge among them), or in another namespace: no signature, and the
        // key is not even read.
        let purge = serde_json::json!({"PermanentDataPurgeRequested": {"Bool": true}});
        for (i, ns) in [
            (inv("Get-Mailbox", serde_json::json!({})), "custkey-purge"),
            (
                inv(
                    "Set-DataEncryptionPolicy",
                    serde_json::json!({"Description": {"Str": "x"}}),
                ),
                "custkey-purge",
            ),
            (
                inv(
                    "Set-DataEncryptionPolicy",
                    serde_json::json!({"PermanentDataPurgeRequested": {"Bool": false}}),
                ),
                "custkey-purge",
            ),
            (inv("Set-DataEncryptionPolicy", purge.clone()), "git"),
            (
                inv("Approve-DataPurgeRequest", serde_json::json!({})),
                "custkey-request@custkey",
            ),
        ] {
            let e = r.sign_statement(&i, &st(ns)).unwrap_err();
            assert!(e.message.contains("nothing was signed"), "{}", e.message);
        }
        assert!(wire::makes_statement(
            "Set-DataEncryptionPolicy",
            purge.as_object().unwrap()
        ));
    }

    #[test]
    fn service_urls() {
        let e = Endpoint::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8443));
        assert_eq!(
            Endpoint::parse("https://svc.contoso.com/").unwrap().port,
            443
        );
        let v6 = Endpoint::parse("https://[::1]:9").unwrap();
        assert_eq!((v6.host.as_str(), v6.addr().as_str()), ("::1", "[::1]:9"));
        for bad in [
            "http://a:1",
            "https://a:x",
            "https://a:1/v1",
            "https://u@a:1",
            "https://:1",
            "https://a:0",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
