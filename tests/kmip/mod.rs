//! The PyKMIP server the KMIP tests run against: `.ci/run` starts one
//! (tests/kmip/pykmip-server.sh) and exports `CUSTKEY_TEST_KMIP` (host:port) and
//! `CUSTKEY_TEST_KMIP_CERT`, `_KEY`, `_CA` (PEM files). Without them a test says loudly that it
//! skipped; with `CI=true` a missing server fails the test.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use custkey::vault::kmip::client::Endpoint;

/// The server's endpoint, or `None` (after saying so) when no server was started.
pub fn endpoint() -> Option<Endpoint> {
    let Ok(server) = std::env::var("CUSTKEY_TEST_KMIP") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but CUSTKEY_TEST_KMIP is not set: .ci/run must start the PyKMIP server"
            );
        }
        eprintln!(
            "SKIPPED: no KMIP server (set CUSTKEY_TEST_KMIP=host:port and CUSTKEY_TEST_KMIP_CERT, \
             _KEY, _CA; tests/kmip/pykmip-server.sh starts one)"
        );
        return None;
    };
    Some(endpoint_at(&server))
}

/// The server at `host:port`, with the client files `CUSTKEY_TEST_KMIP_CERT`, `_KEY`, `_CA`.
fn endpoint_at(server: &str) -> Endpoint {
    let (host, port) = server.rsplit_once(':').expect("a KMIP server is host:port");
    let file =
        |v: &str| PathBuf::from(std::env::var(v).unwrap_or_else(|_| panic!("{v} is not set")));
    Endpoint {
        host: host.to_string(),
        port: port.parse().expect("a port"),
        client_certificate: file("CUSTKEY_TEST_KMIP_CERT"),
        client_key: file("CUSTKEY_TEST_KMIP_KEY"),
        ca_certificate: file("CUSTKEY_TEST_KMIP_CA"),
    }
}

/// `host:port`.
pub fn server(ep: &Endpoint) -> String {
    format!("{}:{}", ep.host, ep.port)
}

/// A new Active AES-256 key; returns its `kmip://` URI.
pub fn active_aes_key(ep: &Endpoint) -> (String, String) {
    let id = custkey::vault::kmip::client::create_aes256(ep).expect("Create");
    custkey::vault::kmip::client::activate(ep, &id).expect("Activate");
    (format!("kmip://{}/{id}", server(ep)), id)
}

/// A TCP relay to the KMIP server that can be cut and restored, to lose the server without
/// stopping the one every test shares. Cutting closes every relayed connection and refuses new
/// ones.
pub struct Relay {
    pub port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn new(to: &Endpoint) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, conns) = (Arc::clone(&up), Arc::clone(&open));
        let target = format!("{}:{}", to.host, to.port);
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                if !flag.load(Ordering::SeqCst) {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(s) = TcpStream::connect(&target) else {
                    continue;
                };
                conns
                    .lock()
                    .unwrap()
                    .extend([c.try_clone().unwrap(), s.try_clone().unwrap()]);
                let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                let (mut c, mut s) = (c, s);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay { port, up, open }
    }

    /// Lose the server: open connections are closed, new ones closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Bring it back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// `127.0.0.1:<port>`.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A KMIP server that decrypts with RSA keys (Cosmian KMS, for one), named by
/// `CUSTKEY_TEST_KMIP_RSA` (host:port, with the client certificate, key and CA of
/// `CUSTKEY_TEST_KMIP_CERT`, `_KEY`, `_CA`). CI builds none (docs/kmip.md says why): without it
/// the RSA round-trip tests say that they skipped, also with `CI=true`.
pub fn rsa_endpoint() -> Option<Endpoint> {
    let Ok(server) = std::env::var("CUSTKEY_TEST_KMIP_RSA") else {
        eprintln!(
            "SKIPPED: no KMIP server with RSA decryption (set CUSTKEY_TEST_KMIP_RSA=host:port; \
             docs/kmip.md shows how to run Cosmian KMS for it)"
        );
        return None;
    };
    Some(endpoint_at(&server))
}
