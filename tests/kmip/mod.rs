//! The PyKMIP server the KMIP tests run against: `.ci/run` starts one
//! (tests/kmip/pykmip-server.sh) and exports `CUSTKEY_TEST_KMIP` (host:port) and
//! `CUSTKEY_TEST_KMIP_CERT`, `_KEY`, `_CA` (PEM files). Without them a test says loudly that it
//! skipped; with `CI=true` a missing server fails the test.

#![allow(dead_code)]

use std::path::PathBuf;

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
    let (host, port) = server
        .rsplit_once(':')
        .expect("CUSTKEY_TEST_KMIP is host:port");
    let file =
        |v: &str| PathBuf::from(std::env::var(v).unwrap_or_else(|_| panic!("{v} is not set")));
    Some(Endpoint {
        host: host.to_string(),
        port: port.parse().expect("a port"),
        client_certificate: file("CUSTKEY_TEST_KMIP_CERT"),
        client_key: file("CUSTKEY_TEST_KMIP_KEY"),
        ca_certificate: file("CUSTKEY_TEST_KMIP_CA"),
    })
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
