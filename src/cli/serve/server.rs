//! `Start-CustomerKeyService`: the service in the foreground. It alone holds the store, the
//! content, the service master key and the vault connections; operators reach it over HTTPS
//! and every request is signed by a registered account's key (wire.rs says what a signature
//! covers). Connections are read on threads of their own; cmdlets run on a fixed set of
//! workers, each with its own open store and key cache.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::http::{self, HttpError, Request, Response};
use super::wire::{self, Invocation, Message, Reply, WireError};
use crate::cli::args::Args;
use crate::cli::error::{Class, CliError};
use crate::cli::output::Output;
use crate::cli::Ctx;

/// How long a connection may sit idle between requests, or take to send one.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections served at once; more are refused with 503.
pub const MAX_CONNECTIONS: usize = 64;
/// The most nonces remembered (requests of the last [`wire::MAX_SKEW_SECONDS`] window).
const MAX_NONCES: usize = 1 << 20;

pub struct Options {
    pub listen: String,
    pub certificate: Option<(PathBuf, PathBuf)>,
    pub workers: usize,
}

/// A request handed to a worker, and where its response goes.
enum Job {
    Invoke(Request, String, SyncSender<Response>),
    Complete(Request, String, SyncSender<Response>),
    Ready(SyncSender<Response>),
}

/// The nonces of recent requests, so that none is run twice.
struct Nonces(Mutex<HashMap<String, i64>>);

impl Nonces {
    /// Records `nonce` (seen at `now`); false if it was seen within the window.
    fn fresh(&self, nonce: &str, now: i64) -> Result<bool, ()> {
        let mut m = self.0.lock().map_err(|_| ())?;
        if m.len() >= MAX_NONCES {
            m.retain(|_, t| now - *t <= 2 * wire::MAX_SKEW_SECONDS);
            if m.len() >= MAX_NONCES {
                return Err(());
            }
        }
        Ok(m.insert(nonce.to_string(), now).is_none())
    }
}

struct Shared {
    thumbprint: String,
    jobs: Mutex<Option<SyncSender<Job>>>,
    nonces: Nonces,
    connections: AtomicUsize,
    stop: Arc<AtomicBool>,
}

fn json_response(status: u16, body: &serde_json::Value, rid: &str) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (wire::H_REQUEST_ID.into(), rid.to_string()),
        ],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

fn error_body(class: &str, message: &str, help: &str, exit: i32) -> serde_json::Value {
    json!({"error": {"class": class, "message": message, "help": help, "exitCode": exit}})
}

/// What every request that does not prove a registered account gets: 401, and nothing else.
fn unauthenticated(rid: &str) -> Response {
    json_response(
        401,
        &error_body(
            "unauthenticated",
            "the request is not signed by an account registered with this service",
            "sign in with your registered key (custkey Connect-AzAccount -AccountId you@contoso.com -KeyFile <key>) and check that your clock is right",
            1,
        ),
        rid,
    )
}

pub fn run(opts: Options, ctx_for: impl Fn() -> Result<Ctx, CliError>) -> Result<i32, CliError> {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    // Open the store once here, so a wrong -Store is reported before anything listens.
    let mut probe = ctx_for()?;
    let data_dir = probe.open_for_service()?;
    drop(probe);
    let cert_dir = custkey::paths::ensure_config_dir(&data_dir)
        .map_err(|e| CliError::unavailable(e.message).with_help(e.help))?;
    let host = opts
        .listen
        .rsplit_once(':')
        .map_or(opts.listen.as_str(), |(h, _)| h);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let identity = match &opts.certificate {
        Some((c, k)) => super::tls::Identity::load(c, k)?,
        None => super::tls::Identity::generated(&cert_dir, std::slice::from_ref(&host))?,
    };
    let tls = identity.server_config()?;
    let listener = TcpListener::bind(&opts.listen).map_err(|e| {
        CliError::unavailable(format!("cannot listen on {}: {e}", opts.listen)).with_help(
            "give a free address and port, e.g. -Listen 127.0.0.1:8443 (port 0: any free port)",
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError::unavailable(format!("cannot listen: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::unavailable(format!("cannot listen: {e}")))?;
    let thumb = identity.thumbprint();
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())
        .map_err(|e| CliError::unavailable(format!("cannot watch for SIGTERM: {e}")))?;
    let _hold = crate::cli::progress::Stoppable::hold();

    let (tx, rx) = sync_channel::<Job>(opts.workers * 4);
    let rx = Arc::new(Mutex::new(rx));
    let shared = Arc::new(Shared {
        thumbprint: thumb.clone(),
        jobs: Mutex::new(Some(tx)),
        nonces: Nonces(Mutex::new(HashMap::new())),
        connections: AtomicUsize::new(0),
        stop: stop.clone(),
    });
    let mut workers = Vec::new();
    for i in 0..opts.workers.max(1) {
        let ctx = ctx_for()?;
        let rx = rx.clone();
        let sh = shared.clone();
        let w = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .stack_size(crate::STACK_BYTES)
            .spawn(move || worker(ctx, rx, sh))
            .map_err(|e| CliError::unavailable(format!("cannot start a worker: {e}")))?;
        workers.push(w);
    }
    let url = if local.is_ipv6() {
        format!("https://[{}]:{}", local.ip(), local.port())
    } else {
        format!("https://{}:{}", local.ip(), local.port())
    };
    let mut banner = format!("Listening on {url}\nCertificate thumbprint (SHA-256): {thumb}\n");
    if identity.generated {
        banner.push_str(&format!(
            "Made a self-signed certificate: {}\n",
            identity.cert_path.display()
        ));
    }
    banner.push_str(&format!(
        "Clients connect with: custkey Connect-CustomerKeyService -Url {url} -CertificateThumbprint {thumb}\n"
    ));
    crate::cli::write_out(&banner)?;
    tracing::info!(url = %url, thumbprint = %thumb, workers = opts.workers, "service started");

    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) && !crate::cli::progress::requested() {
        match listener.accept() {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nonblocking(false);
                if shared.connections.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    tracing::warn!(peer = %peer, "refused a connection: too many open");
                    drop(tcp);
                    continue;
                }
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let sh = shared.clone();
                let cfg = tls.clone();
                match std::thread::Builder::new()
                    .name("connection".into())
                    .spawn(move || {
                        serve_connection(tcp, cfg, &sh);
                        sh.connections.fetch_sub(1, Ordering::SeqCst);
                    }) {
                    Ok(h) => conns.push(h),
                    Err(e) => {
                        shared.connections.fetch_sub(1, Ordering::SeqCst);
                        tracing::error!(error = %e, "cannot start a connection thread");
                    }
                }
                conns.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // Drain: no new connections; each open one finishes the request it is on and closes.
    stop.store(true, Ordering::SeqCst);
    tracing::info!(
        open = conns.len(),
        "stopping: finishing the requests in progress"
    );
    drop(listener);
    for h in conns {
        let _ = h.join();
    }
    if let Ok(mut j) = shared.jobs.lock() {
        j.take();
    }
    for w in workers {
        let _ = w.join();
    }
    tracing::info!("service stopped");
    Ok(0)
}

fn serve_connection(tcp: TcpStream, cfg: Arc<rustls::ServerConfig>, sh: &Shared) {
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = tcp.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut stream = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut idle_since = Instant::now();
    loop {
        let rid = custkey::service::keys::request_id();
        // Wait for the next request in short reads, so that a stop is seen while idle.
        match wait_readable(&mut stream, sh, &mut idle_since) {
            Ok(true) => {}
            Ok(false) => return,
            Err(()) => return,
        }
        let _ = stream.get_ref().sock.set_read_timeout(Some(IDLE_TIMEOUT));
        let req = http::read_request(&mut stream, wire::MAX_BODY_BYTES);
        let _ = stream
            .get_ref()
            .sock
            .set_read_timeout(Some(Duration::from_millis(500)));
        let (resp, close) = match req {
            Ok(r) => {
                let close = r.wants_close() || sh.stop.load(Ordering::SeqCst);
                (route(r, &rid, sh), close)
            }
            Err(HttpError::Closed) => return,
            Err(HttpError::Io(_)) => return,
            Err(HttpError::Bad(status, msg)) => (
                json_response(
                    status,
                    &error_body(
                        "usage",
                        &msg,
                        "send an HTTP/1.1 request with a Content-Length body",
                        2,
                    ),
                    &rid,
                ),
                true,
            ),
        };
        if http::write_response(stream.get_mut(), &resp, close).is_err() || close {
            let s = stream.get_mut();
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
            return;
        }
        idle_since = Instant::now();
    }
}

/// Whether a request has begun arriving (false: the peer closed, the connection was idle too
/// long, or the service is stopping).
fn wait_readable(
    stream: &mut BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>,
    sh: &Shared,
    idle_since: &mut Instant,
) -> Result<bool, ()> {
    use std::io::BufRead;
    loop {
        if sh.stop.load(Ordering::SeqCst) || crate::cli::progress::requested() {
            return Ok(false);
        }
        match stream.fill_buf() {
            Ok([]) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if idle_since.elapsed() > IDLE_TIMEOUT {
                    return Ok(false);
                }
            }
            Err(_) => return Err(()),
        }
    }
}

fn route(req: Request, rid: &str, sh: &Shared) -> Response {
    let started = Instant::now();
    let resp = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/healthz") => json_response(200, &json!({"status": "ok"}), rid),
        ("GET", "/openapi.json") => json_response(200, &super::openapi::document(), rid),
        ("GET", "/readyz") => {
            let (tx, rx) = sync_channel(1);
            dispatch(sh, Job::Ready(tx), rx, rid)
        }
        ("POST", wire::INVOKE_PATH) => {
            let (tx, rx) = sync_channel(1);
            dispatch(sh, Job::Invoke(req, rid.to_string(), tx), rx, rid)
        }
        ("POST", wire::COMPLETE_PATH) => {
            let (tx, rx) = sync_channel(1);
            dispatch(sh, Job::Complete(req, rid.to_string(), tx), rx, rid)
        }
        (_, "/healthz" | "/readyz" | "/openapi.json" | wire::INVOKE_PATH | wire::COMPLETE_PATH) => {
            json_response(
                405,
                &error_body(
                    "usage",
                    "this method is not served here",
                    "GET /healthz, /readyz, /openapi.json; POST /v1/invoke",
                    2,
                ),
                rid,
            )
        }
        _ => json_response(
            404,
            &error_body(
                "usage",
                "there is nothing at this path",
                "GET /healthz, /readyz, /openapi.json; POST /v1/invoke",
                2,
            ),
            rid,
        ),
    };
    tracing::debug!(
        request_id = rid,
        status = resp.status,
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

fn dispatch(sh: &Shared, job: Job, rx: Receiver<Response>, rid: &str) -> Response {
    let sent = match sh.jobs.lock() {
        Ok(j) => j.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false),
        Err(_) => false,
    };
    let unavailable = || {
        json_response(
            503,
            &error_body(
                "unavailable",
                "the service is stopping",
                "try again once it is back",
                3,
            ),
            rid,
        )
    };
    if !sent {
        return unavailable();
    }
    rx.recv().unwrap_or_else(|_| unavailable())
}

fn worker(mut ctx: Ctx, rx: Arc<Mutex<Receiver<Job>>>, sh: Arc<Shared>) {
    loop {
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        match job {
            Job::Ready(tx) => {
                let resp = match ctx.open_for_service() {
                    Ok(_) => json_response(200, &json!({"status": "ready"}), ""),
                    Err(e) => json_response(
                        503,
                        &json!({"status": "unavailable", "message": e.message}),
                        "",
                    ),
                };
                let _ = tx.send(resp);
            }
            Job::Complete(req, rid, tx) => {
                let resp = match prove(&mut ctx, &req, &rid, &sh) {
                    Ok(()) => {
                        let j: serde_json::Value =
                            serde_json::from_slice(&req.body).unwrap_or_default();
                        let f =
                            |k: &str| j.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                        let values = crate::cli::complete::service_values(
                            &f("cmdlet"),
                            &f("param"),
                            &f("partial"),
                            ctx.store_location(),
                            ctx.data_dir(),
                        );
                        json_response(200, &json!({"values": values}), &rid)
                    }
                    Err(resp) => resp,
                };
                ctx.end_request();
                let _ = tx.send(resp);
            }
            Job::Invoke(req, rid, tx) => {
                let started = Instant::now();
                custkey::service::keys::set_request_id(Some(rid.clone()));
                // A panic in one request must not take the worker (and its store) down.
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    invoke(&mut ctx, &req, &rid, &sh)
                }));
                custkey::service::keys::set_request_id(None);
                custkey::service::principal::serve_as(None);
                let resp = out.unwrap_or_else(|_| {
                    json_response(
                        500,
                        &error_body(
                            "internal",
                            "the service failed on this request",
                            "see the service's log",
                            70,
                        ),
                        &rid,
                    )
                });
                tracing::info!(
                    request_id = %rid,
                    status = resp.status,
                    millis = started.elapsed().as_millis() as u64,
                    "invoke"
                );
                let _ = tx.send(resp);
            }
        }
    }
}

fn invoke(ctx: &mut Ctx, req: &Request, rid: &str, sh: &Shared) -> Response {
    if let Err(resp) = prove(ctx, req, rid, sh) {
        return resp;
    }
    let inv: Invocation = match serde_json::from_slice(&req.body) {
        Ok(i) => i,
        Err(e) => {
            let err = CliError::usage(format!("the request body is not an invocation ({e})"))
                .with_help("see /openapi.json");
            return reply_error(&err, rid, Vec::new());
        }
    };
    let account = req.header(wire::H_ACCOUNT).unwrap_or("");
    tracing::info!(request_id = rid, account = %account, cmdlet = %inv.cmdlet, "run");
    let reply = run_invocation(ctx, &inv, rid);
    let status = match (&reply.error, &reply.confirm, &reply.sign) {
        (_, Some(_), _) | (_, _, Some(_)) => 428,
        (Some(e), None, None) => wire::http_status(wire::class_of(&e.class)),
        (None, None, None) => 200,
    };
    json_response(
        status,
        &serde_json::to_value(&reply).unwrap_or_default(),
        rid,
    )
}

/// Proves who sent `req`: its signature, by the key its account is registered with, over
/// this request (method, path, body), at a time near now, with a nonce not seen before. The
/// response to send instead when it does not.
fn prove(ctx: &mut Ctx, req: &Request, rid: &str, sh: &Shared) -> Result<(), Response> {
    // Who asks: every part of the signed text must be there.
    let h = |n: &str| req.header(n).unwrap_or("").to_string();
    let (account, ts, nonce, sig) = (
        h(wire::H_ACCOUNT),
        h(wire::H_TIMESTAMP),
        h(wire::H_NONCE),
        h(wire::H_SIGNATURE),
    );
    let deny = |why: &str| {
        tracing::warn!(request_id = rid, account = %account, reason = why, "unauthenticated request");
        unauthenticated(rid)
    };
    if account.is_empty() || ts.is_empty() || nonce.is_empty() || sig.is_empty() {
        return Err(deny("a signature header is missing"));
    }
    if nonce.len() < 16 || nonce.len() > 128 {
        return Err(deny("the nonce is malformed"));
    }
    let now = chrono::Utc::now().timestamp();
    match chrono::DateTime::parse_from_rfc3339(&ts) {
        Ok(t) if (t.timestamp() - now).abs() <= wire::MAX_SKEW_SECONDS => {}
        Ok(_) => return Err(deny("the timestamp is outside the allowed clock skew")),
        Err(_) => return Err(deny("the timestamp is not RFC 3339")),
    }
    let Some(armored) = super::http::base64_decode(&sig).and_then(|b| String::from_utf8(b).ok())
    else {
        return Err(deny("the signature header is not base64"));
    };
    let digest =
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &req.body).as_ref());
    let text = wire::signed_text(
        &req.method,
        &req.path,
        &account,
        &ts,
        &nonce,
        &digest,
        &sh.thumbprint,
    );
    ctx.begin_request(&account, text, armored);
    if let Err(e) = ctx.prove_request() {
        // The store being unreachable is no authentication failure.
        if e.class == Class::Unavailable || e.class == Class::Internal {
            return Err(reply_error(&e, rid, Vec::new()));
        }
        return Err(deny(&e.message));
    }
    match sh.nonces.fresh(&nonce, now) {
        Ok(true) => Ok(()),
        Ok(false) => Err(deny("the nonce was used before (a replayed request)")),
        Err(()) => Err(json_response(
            503,
            &error_body(
                "unavailable",
                "the service is too busy to take more requests",
                "try again in a few minutes",
                3,
            ),
            rid,
        )),
    }
}

fn reply_error(e: &CliError, rid: &str, messages: Vec<Message>) -> Response {
    let reply = Reply {
        request_id: rid.to_string(),
        output: wire::WireOutput::None,
        messages,
        status: e.class.exit_code(),
        error: Some(WireError::from(e)),
        confirm: None,
        files: Vec::new(),
        sign: None,
    };
    json_response(
        wire::http_status(e.class),
        &serde_json::to_value(&reply).unwrap_or_default(),
        rid,
    )
}

/// Runs one invocation as the proven account.
fn run_invocation(ctx: &mut Ctx, inv: &Invocation, rid: &str) -> Reply {
    let mut reply = Reply {
        request_id: rid.to_string(),
        output: wire::WireOutput::None,
        messages: Vec::new(),
        status: 0,
        error: None,
        confirm: None,
        files: Vec::new(),
        sign: None,
    };
    custkey::service::principal::provide_signatures(inv.signatures.clone());
    // The scratch copies of the request's files, and for each the client's own path.
    let mut scratch: Option<super::files::Scratch> = None;
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut outputs: Vec<(super::files::Transfer, PathBuf)> = Vec::new();
    let out = bind(inv)
        .and_then(|(cmdlet, mut args)| {
            place_files(
                cmdlet,
                &mut args,
                inv,
                rid,
                &mut scratch,
                &mut renames,
                &mut outputs,
            )?;
            Ok((cmdlet, args))
        })
        .and_then(|(cmdlet, args)| ctx.serve(cmdlet, &args, inv));
    let served = ctx.end_request();
    let needed = custkey::service::principal::take_needed();
    custkey::service::principal::provide_signatures(Vec::new());
    reply.messages = served.messages.into_inner();
    if let Some(c) = served.confirm {
        reply.confirm = Some(c);
        return reply;
    }
    if let Some(n) = needed {
        reply.sign = Some(n);
        return reply;
    }
    match out {
        Ok((o, status)) => {
            reply.output = wire::WireOutput::from(o);
            reply.status = status;
            if let Some(s) = &scratch {
                for (t, path) in &outputs {
                    match s.send_back(t, path) {
                        Ok(Some(back)) => reply.files.push(back),
                        Ok(None) => {}
                        Err(e) => {
                            reply.status = e.class.exit_code();
                            reply.error = Some(WireError::from(&e));
                        }
                    }
                }
            }
        }
        Err(e) => {
            reply.status = e.class.exit_code();
            reply.error = Some(WireError::from(&e));
        }
    }
    if !renames.is_empty() {
        reply = rename_paths(reply, &renames);
    }
    reply
}

/// Gives the cmdlet scratch copies of the files its parameters name.
#[allow(clippy::too_many_arguments)]
fn place_files(
    cmdlet: &'static crate::cli::def::Cmdlet,
    args: &mut Args,
    inv: &Invocation,
    rid: &str,
    scratch: &mut Option<super::files::Scratch>,
    renames: &mut Vec<(String, String)>,
    outputs: &mut Vec<(super::files::Transfer, PathBuf)>,
) -> Result<(), CliError> {
    use super::files::{needs_named_output, Scratch};
    use crate::cli::def::Files;
    if let Some(p) = needs_named_output(cmdlet.name, args) {
        if !args.has_any(&[p]) {
            return Err(CliError::usage(format!(
                "{} writes its file in the current folder unless -{p} is given, and on the service that folder is not yours",
                cmdlet.name
            ))
            .with_help(format!("give -{p} <path>: the file comes back to your machine")));
        }
    }
    let mut index = 0;
    for (param, client_paths) in args.file_params(cmdlet) {
        let name = param.name;
        if !matches!(param.files, Files::Reads | Files::Writes) {
            return Err(super::files::host_only(cmdlet.name, name));
        }
        // The request carries one transfer per path, in the order the paths were given.
        let sent: Vec<_> = inv.files.iter().filter(|t| t.param == name).collect();
        if sent.len() != client_paths.len() {
            return Err(CliError::usage(format!(
                "-{name} names {} file(s), and the request carries {}",
                client_paths.len(),
                sent.len()
            ))
            .with_help("send each named file's content in the invocation's files, in order (see /openapi.json)"));
        }
        if scratch.is_none() {
            *scratch = Some(Scratch::new(rid)?);
        }
        let Some(s) = scratch.as_ref() else {
            return Err(CliError::new(Class::Internal, "no scratch folder"));
        };
        let mut local_paths = Vec::with_capacity(sent.len());
        for (t, client_path) in sent.into_iter().zip(client_paths) {
            let local = s.receive(t, index)?;
            index += 1;
            let local_text = local.to_string_lossy().into_owned();
            renames.push((local_text.clone(), client_path));
            if param.files == Files::Writes {
                outputs.push((t.clone(), local));
            }
            local_paths.push(local_text);
        }
        if matches!(param.kind, crate::cli::def::Kind::Path) {
            let one = local_paths.pop().unwrap_or_default();
            args.set_str(name, one);
        } else {
            args.set_list(name, local_paths);
        }
    }
    Ok(())
}

/// Writes the client's paths where the scratch copies' paths appear in a reply.
fn rename_paths(reply: Reply, renames: &[(String, String)]) -> Reply {
    let Ok(mut text) = serde_json::to_string(&reply) else {
        return reply;
    };
    for (from, to) in renames {
        let enc = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let (f, t) = (enc(from), enc(to));
        // Inside JSON strings: without their quotes.
        text = text.replace(&f[1..f.len() - 1], &t[1..t.len() - 1]);
    }
    serde_json::from_str(&text).unwrap_or(reply)
}

fn bind(inv: &Invocation) -> Result<(&'static crate::cli::def::Cmdlet, Args), CliError> {
    let cmdlet = crate::cli::find_cmdlet(&inv.cmdlet)
        .filter(|c| c.name == inv.cmdlet)
        .ok_or_else(|| {
            CliError::usage(format!("'{}' is not a cmdlet of this service", inv.cmdlet))
                .with_help("give the cmdlet's full name, as Get-Command lists it")
        })?;
    if !super::runs_on_service(cmdlet) {
        return Err(CliError::usage(format!(
            "{} runs on the client, not on the service",
            cmdlet.name
        ))
        .with_help("run it on your own machine; custkey sends the other cmdlets to the service"));
    }
    let args = Args::from_wire(cmdlet, &inv.args)?;
    if args.has_any(&["Store", "DataDir"]) {
        return Err(CliError::usage(
            "-Store and -DataDir name the client's store; the service keeps its own",
        )
        .with_help(
            "leave -Store out, or run the cmdlet in embedded mode against a store of your own",
        ));
    }
    Ok((cmdlet, args))
}

/// The result of a served cmdlet before it is put on the wire.
pub type Served = (Output, i32);
