//! Start-CustomerKeyService, Connect-CustomerKeyService, Disconnect-CustomerKeyService,
//! Get-CustomerKeyService: service mode, where the service holds the store, the content and
//! the keys, and operators' cmdlets are signed requests to it (docs/service.md).

use std::path::PathBuf;

use serde_json::json;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::serve::client::{self, Remote, Saved};
use crate::cli::serve::{server, tls, wire};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Url", "CertificateThumbprint", "Account", "Status"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Start-CustomerKeyService",
        module: "custkey",
        synopsis: "Runs the service in the foreground: it alone holds the store, the content and the keys; operators drive it over HTTPS.",
        description: "Serves the organization in -Store (or CUSTKEY_STORE, or the default store) on -Listen, over \
HTTPS. Without -Certificate it makes a self-signed certificate on first start (kept in the configuration directory as \
service.crt and service.key) and prints its SHA-256 thumbprint, which clients pin (Connect-CustomerKeyService \
-CertificateThumbprint). Every request must be signed by an account registered in the store (New-AzADUser) with its \
OpenSSH key; anything else gets HTTP 401 and nothing more. Roles, access policies and the audit log apply as in \
embedded mode, and each audit record's Request Id is the request's. Endpoints: GET /healthz, GET /readyz, GET \
/openapi.json, POST /v1/invoke. Logs are JSON lines on standard error. SIGTERM or Ctrl-C stops it after the requests in \
progress finish. Register the owner before the first start, in embedded mode on this machine \
(Connect-AzAccount -KeyFile, then New-AzADUser for the other operators).",
        params: &[
            Param::new("Listen", Kind::String, "The address and port to listen on, e.g. 127.0.0.1:8443 (port 0: any free port, printed).")
                .position(0)
                .required(),
            Param::new("Certificate", Kind::Path, "The service's certificate chain (PEM); without it, a self-signed one is made on first start."),
            Param::new("CertificateKey", Kind::Path, "The private key (PEM) of -Certificate."),
            Param::new("Workers", Kind::Int { min: 1, max: 64 }, "How many cmdlets run at once (each worker keeps its own store connection).").default("4"),
        ],
        examples: &[Example {
            title: "Serve the default store on loopback",
            code: "custkey Start-CustomerKeyService -Listen 127.0.0.1:8443",
            output: "
Listening on https://127.0.0.1:8443
Certificate thumbprint (SHA-256): 3f1c...
Clients connect with: custkey Connect-CustomerKeyService -Url https://127.0.0.1:8443 -CertificateThumbprint 3f1c...
",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: start,
    },
    Cmdlet {
        name: "Connect-CustomerKeyService",
        module: "custkey",
        synopsis: "Sends this machine's cmdlets to a service, pinning its certificate.",
        description: "Saves the connection (service.json in the configuration directory, 0600): later cmdlets run on \
the service, with the same output, exit codes, -WhatIf and -Confirm, while formatting, pipelines and scripts run here. \
Give the thumbprint Start-CustomerKeyService printed; without -CertificateThumbprint the service's thumbprint is shown \
and, at a terminal, you are asked whether it is the right one. Then sign in with Connect-AzAccount -KeyFile (or \
-UseSshAgent): your key stays here and signs each request. CUSTKEY_SERVER and CUSTKEY_SERVER_THUMBPRINT do the same \
for one process; -Store on a command runs it against a local store instead.",
        params: &[
            Param::new("Url", Kind::String, "The service, https://host:port.").position(0).required(),
            Param::new("CertificateThumbprint", Kind::String, "The SHA-256 thumbprint of the service's certificate (64 hex digits, colons allowed)."),
        ],
        examples: &[Example {
            title: "Connect, then sign in",
            code: "custkey Connect-CustomerKeyService -Url https://127.0.0.1:8443 -CertificateThumbprint $THUMBPRINT\ncustkey Connect-AzAccount -AccountId kvadmin@contoso.com -KeyFile ~/.ssh/id_ed25519",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: connect,
    },
    Cmdlet {
        name: "Disconnect-CustomerKeyService",
        module: "custkey",
        synopsis: "Forgets the saved service connection: cmdlets run on the local store again.",
        description: "Removes the saved connection and sign-in (your key files are left alone). CUSTKEY_SERVER, if \
set, still connects its process.",
        params: &[],
        examples: &[Example {
            title: "Back to embedded mode",
            code: "custkey Disconnect-CustomerKeyService",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &[],
        run: disconnect,
    },
    Cmdlet {
        name: "Get-CustomerKeyService",
        module: "custkey",
        synopsis: "Shows the service this machine's cmdlets go to, the signed-in account, and whether the service is ready.",
        description: "Shows the connection (from CUSTKEY_SERVER or Connect-CustomerKeyService) and asks the service's \
/readyz: Status is Ready, NotReady (it runs but cannot open its store or keys) or Unreachable. Nothing is shown in \
embedded mode.",
        params: &[],
        examples: &[Example {
            title: "Where do my cmdlets go?",
            code: "custkey Get-CustomerKeyService",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn start(_ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let certificate = match (args.str("Certificate"), args.str("CertificateKey")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        _ => {
            return Err(
                CliError::usage("-Certificate and -CertificateKey go together")
                    .with_help("give both PEM files, or neither for a self-signed certificate"),
            )
        }
    };
    let store = args.str("Store").map(str::to_string);
    let data_dir = args.str("DataDir").map(str::to_string);
    let opts = server::Options {
        listen: args.str("Listen").unwrap_or_default().to_string(),
        certificate,
        workers: args.int("Workers").unwrap_or(4).clamp(1, 64) as usize,
    };
    let code = server::run(opts, || {
        Ctx::for_service(store.as_deref(), data_dir.as_deref())
    })?;
    if code != 0 {
        return Err(CliError::unavailable("the service stopped with an error"));
    }
    Ok(Output::None)
}

fn status(remote: &mut Remote) -> &'static str {
    match remote.get("/readyz") {
        Ok(r) if r.status == 200 => "Ready",
        Ok(_) => "NotReady",
        Err(_) => "Unreachable",
    }
}

fn record(remote: &Remote, status: &str) -> Record {
    let mut r = Record::new();
    r.insert("Url".into(), json!(remote.endpoint.url()));
    r.insert("CertificateThumbprint".into(), json!(remote.thumbprint));
    r.insert("Account".into(), json!(remote.saved.account));
    r.insert("Status".into(), json!(status));
    r
}

fn connect(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let url = args.str("Url").unwrap_or_default().to_string();
    let ep = client::Endpoint::parse(&url)?;
    let thumb = match args.str("CertificateThumbprint") {
        Some(t) => wire::parse_thumbprint(t).ok_or_else(|| {
            CliError::usage(format!("'{t}' is not a SHA-256 certificate thumbprint")).with_help(
                "give the 64 hex digits Start-CustomerKeyService printed (colons allowed)",
            )
        })?,
        None => {
            let seen = tls::probe_thumbprint(&ep.addr(), &ep.host)?;
            let target = format!(
                "the service at {} with the certificate thumbprint {seen}",
                ep.url()
            );
            let e = CliError::usage(format!("the certificate of {} is not pinned; it presents the thumbprint {seen}", ep.url()))
                .with_help(format!("check the thumbprint with the service's operator (Start-CustomerKeyService prints it), then: custkey Connect-CustomerKeyService -Url {} -CertificateThumbprint {seen}", ep.url()));
            if !ctx.interactive() {
                return Err(e);
            }
            if !ctx.should_process_as(crate::cli::def::Impact::High, &target, "Trust", false)? {
                return Ok(Output::None);
            }
            seen
        }
    };
    let previous = Saved::load()?.filter(|s| {
        client::Endpoint::parse(&s.url).ok().as_ref() == Some(&ep)
            && wire::parse_thumbprint(&s.certificate_thumbprint).as_deref() == Some(thumb.as_str())
    });
    let saved = Saved {
        url: ep.url(),
        certificate_thumbprint: thumb,
        // The same service: the sign-in stays.
        ..previous.unwrap_or_default()
    };
    let mut remote = Remote::new(saved.clone())?;
    let health = remote.get("/healthz")?;
    if health.status != 200 {
        return Err(CliError::unavailable(format!(
            "the service at {} answers /healthz with HTTP {}",
            ep.url(),
            health.status
        ))
        .with_help("see the service's log"));
    }
    if ctx.what_if {
        ctx.should_process(&ep.url(), "Connect-CustomerKeyService", false)?;
        return Ok(Output::None);
    }
    saved.save()?;
    let s = status(&mut remote);
    Ok(Output::one(record(&remote, s)))
}

fn disconnect(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    if !ctx.should_process(
        "the saved service connection",
        "Disconnect-CustomerKeyService",
        false,
    )? {
        return Ok(Output::None);
    }
    Saved::remove()?;
    if std::env::var_os(client::ENV_SERVER).is_some_and(|v| !v.is_empty()) {
        ctx.warn(&format!(
            "{} is set: this shell's cmdlets still go to that service",
            client::ENV_SERVER
        ));
    }
    Ok(Output::None)
}

fn get(_ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    let Some(mut remote) = Remote::configured()? else {
        return Ok(Output::List(Vec::new()));
    };
    let s = status(&mut remote);
    Ok(Output::List(vec![record(&remote, s)]))
}
