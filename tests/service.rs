//! Service mode end to end: a real `Start-CustomerKeyService` process on loopback, custkey
//! clients that hold no store, and curl and ssh-keygen as a client that is not custkey.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Env;

const OWNER: &str = "admin@contoso.onmicrosoft.com";

/// A running service over the organization of `env`.
struct Service {
    child: Option<Child>,
    url: String,
    thumbprint: String,
    log: PathBuf,
}

impl Service {
    fn start(env: &Env) -> Service {
        Service::start_with(env, &[])
    }

    fn start_with(env: &Env, extra: &[&str]) -> Service {
        let log = env.path(&format!("service-{}.log", uuid_ish()));
        let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
        c.args([
            "Start-CustomerKeyService",
            "-Listen",
            "127.0.0.1:0",
            "-Workers",
            "2",
        ])
        .args(extra)
        .current_dir(env.dir.path())
        .env("CUSTKEY_STORE", env.path("service.db"))
        .env("CUSTKEY_CONFIG_DIR", env.config.path())
        .env("CUSTKEY_KEYRING", "off")
        .env_remove("CUSTKEY_SERVER")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &env.extra {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("start the service");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let second = lines.next().and_then(Result::ok).unwrap_or_default();
        let url = first
            .strip_prefix("Listening on ")
            .unwrap_or("")
            .to_string();
        let thumbprint = second.rsplit(' ').next().unwrap_or("").to_string();
        assert!(
            url.starts_with("https://127.0.0.1:") && thumbprint.len() == 64,
            "the service did not start: {first:?} {second:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // Keep reading its standard output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Service {
            child: Some(child),
            url,
            thumbprint,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let t = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the service did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn uuid_ish() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// An operator's machine: a configuration directory of its own, and no store (a store path
/// in a folder that does not exist, so that anything run locally by mistake fails).
struct Client {
    home: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            home: tempfile::tempdir().unwrap(),
        }
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"));
        c.args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("CUSTKEY_CONFIG_DIR", self.home.path().join("config"))
            .env(
                "CUSTKEY_STORE",
                self.home.path().join("no-such-folder/service.db"),
            )
            .env("CUSTKEY_KEYRING", "off")
            .env_remove("CUSTKEY_SERVER")
            .env_remove("CUSTKEY_SERVER_THUMBPRINT")
            .env_remove("CUSTKEY_DATA_DIR")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("COLUMNS")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custkey {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "custkey {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
    fn connect(&self, svc: &Service) {
        self.ok(&[
            "Connect-CustomerKeyService",
            "-Url",
            &svc.url,
            "-CertificateThumbprint",
            &svc.thumbprint,
        ]);
    }
    /// Signs in as `upn` with the private key file `key` (copied to this machine).
    fn sign_in(&self, upn: &str, key: &Path) {
        let mine = self.home.path().join(format!("{upn}.key"));
        std::fs::copy(key, &mine).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.ok(&[
            "Connect-AzAccount",
            "-AccountId",
            upn,
            "-KeyFile",
            mine.to_str().unwrap(),
        ]);
    }
}

/// A fresh organization with its owner registered (the identity made on first use), and the
/// owner's key file.
fn organization() -> (Env, PathBuf) {
    let e = Env::new();
    e.ok(&["Get-OrganizationConfig"]);
    let key = e.config.path().join("identities").join(OWNER);
    assert!(key.exists(), "the owner's identity was not made");
    (e, key)
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn the_setup_runbook_runs_unchanged_against_the_service() {
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    let backups = c.home.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let runbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/setup.ps1");
    let out = c.ok(&[
        "-File",
        runbook.to_str().unwrap(),
        backups.to_str().unwrap(),
    ]);
    assert!(
        out.contains("DEP US Mailboxes is Active with 2 keys"),
        "{out}"
    );
    assert!(out.contains("IsEncrypted            : True"), "{out}");
    // The key backups came back to the operator's machine, and nothing of the organization
    // is kept there: no store, no vaults, no content.
    for k in ["Key001.backup", "Key002.backup"] {
        assert!(backups.join(k).metadata().unwrap().len() > 1000, "{k}");
    }
    let kept: Vec<_> = common::files_under(c.home.path())
        .into_iter()
        .filter(|p| !p.starts_with(&backups) && p.extension().is_none_or(|x| x != "key"))
        .collect();
    assert_eq!(kept, vec![c.home.path().join("config/service.json")]);
    // The same state, seen in embedded mode on the service's machine.
    let policies = e.json_raw(&["Get-DataEncryptionPolicy"]);
    assert_eq!(policies[0]["Name"], "US Mailboxes");
    // The audit records' Request Id is the service's request id, in its log.
    let log = svc.log();
    let ids: Vec<String> = common::audit_operations(&e)
        .into_iter()
        .filter_map(|(_, p)| {
            p.get("Request Id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect();
    assert!(!ids.is_empty(), "no audit record names a request");
    for id in &ids {
        assert!(
            log.contains(&format!("\"request_id\":\"{id}\"")),
            "{id} is not in the service log"
        );
    }
}

#[test]
fn nothing_for_requests_that_do_not_prove_a_registered_account() {
    let (e, _) = organization();
    let svc = Service::start(&e);
    // No signature at all.
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-d",
        r#"{"cmdlet":"Get-Mailbox"}"#,
        &format!("{}/v1/invoke", svc.url),
    ]);
    assert_eq!(code, 401, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        j.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["error"]
    );
    assert_eq!(j["error"]["class"], "unauthenticated");
    // A key that is not registered: the sign-in is refused and nothing is saved for it.
    let c = Client::new();
    c.connect(&svc);
    let eve = e.keygen("eve@contoso.com");
    let out = c.run(&[
        "Connect-AzAccount",
        "-AccountId",
        OWNER,
        "-KeyFile",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not accept requests signed as"), "{err}");
    let saved = std::fs::read_to_string(c.home.path().join("config/service.json")).unwrap();
    assert!(!saved.contains("KeyFile"), "{saved}");
    // Without a sign-in a cmdlet is refused on the client, before anything is sent.
    let err = c.fails(&["Get-Mailbox"], 2);
    assert!(err.contains("no account is signed in"), "{err}");
    assert!(svc.log().contains("unauthenticated request"));
}

/// Signs `text` as ssh-keygen does (a client that is not custkey).
fn ssh_sign(key: &Path, text: &str, dir: &Path) -> String {
    let msg = dir.join(format!("msg-{}", uuid_ish()));
    std::fs::write(&msg, text).unwrap();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "custkey-request@custkey", "-f"])
        .arg(key)
        .arg(&msg)
        .status()
        .unwrap();
    assert!(st.success());
    let sig = std::fs::read(format!("{}.sig", msg.display())).unwrap();
    let out = Command::new("base64")
        .args(["-w0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(&sig).unwrap();
    let o = out.wait_with_output().unwrap();
    String::from_utf8(o.stdout).unwrap()
}

fn sha256_hex(body: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin
        .as_ref()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let o = out.wait_with_output().unwrap();
    String::from_utf8(o.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn curl_and_ssh_keygen_drive_the_api_and_a_replay_gets_nothing() {
    let (e, owner_key) = organization();
    e.ok(&["New-Mailbox", "-Name", "alice"]);
    let svc = Service::start(&e);
    let (code, body) = curl(&[&format!("{}/healthz", svc.url)]);
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, _) = curl(&[&format!("{}/readyz", svc.url)]);
    assert_eq!(code, 200);
    let (code, doc) = curl(&[&format!("{}/openapi.json", svc.url)]);
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["Get-Mailbox.Invocation"].is_object());
    // File parameters are described with how their content travels; paths on the service's
    // own machine are not offered.
    let schemas = &doc["components"]["schemas"];
    let hosted = &schemas["New-MgChatMessage.Invocation"]["properties"]["args"]["properties"]
        ["HostedContents"]["description"];
    assert!(
        hosted
            .as_str()
            .unwrap_or("")
            .contains("one Transfer per path"),
        "{hosted}"
    );
    assert!(schemas["Transfer"]["properties"]["kind"].is_object());
    let vault_args = &schemas["New-AzKeyVault.Invocation"]["properties"]["args"]["properties"];
    assert!(vault_args["VaultName"].is_object());
    assert!(vault_args.get("Pkcs11Module").is_none(), "{vault_args}");

    let body = r#"{"cmdlet":"Get-Mailbox","args":{"Identity":{"Str":"alice"}}}"#;
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let nonce = "0123456789abcdef0123456789abcdef";
    let text = format!(
        "custkey request v1\nPOST\n/v1/invoke\n{OWNER}\n{ts}\n{nonce}\n{}\n{}\n",
        sha256_hex(body),
        svc.thumbprint
    );
    let sig = ssh_sign(&owner_key, &text, e.config.path());
    let headers = [
        format!("X-Custkey-Account: {OWNER}"),
        format!("X-Custkey-Timestamp: {ts}"),
        format!("X-Custkey-Nonce: {nonce}"),
        format!("X-Custkey-Signature: {sig}"),
        "Content-Type: application/json".to_string(),
    ];
    let mut args: Vec<String> = Vec::new();
    for h in &headers {
        args.push("-H".into());
        args.push(h.clone());
    }
    let send = |data: &str| {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend(["-X", "POST", "--data-binary", data]);
        let url = format!("{}/v1/invoke", svc.url);
        a.push(&url);
        curl(&a)
    };
    // A different body under the same signature: refused.
    let (code, _) = send(r#"{"cmdlet":"Get-Mailbox","args":{"Identity":{"Str":"bob"}}}"#);
    assert_eq!(code, 401);
    let (code, reply) = send(body);
    assert_eq!(code, 200, "{reply}");
    let r: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(r["output"]["items"][0]["Name"], "alice", "{reply}");
    // The same request again: refused, and nothing in the reply.
    let (code, again) = send(body);
    assert_eq!(code, 401, "{again}");
    assert!(!again.contains("alice"));
}

#[test]
fn roles_confirmation_and_what_if_hold_across_the_wire() {
    let (e, owner_key) = organization();
    let bob_key = e.register("bob@contoso.com");
    e.ok(&["New-Mailbox", "-Name", "alice"]);
    let svc = Service::start(&e);
    let bob = Client::new();
    bob.connect(&svc);
    bob.sign_in("bob@contoso.com", &bob_key);
    // The service acts as the account that signed, and checks its roles: bob has none.
    let ctx = bob.ok(&["Get-AzContext", "-Format", "Json"]);
    assert!(ctx.contains("bob@contoso.com"), "{ctx}");
    let err = bob.fails(
        &[
            "Set-Mailbox",
            "-Identity",
            "alice",
            "-DataEncryptionPolicy",
            "x",
        ],
        1,
    );
    assert!(
        err.contains("bob@contoso.com is not allowed to run Set-Mailbox"),
        "{err}"
    );

    let owner = Client::new();
    owner.connect(&svc);
    owner.sign_in(OWNER, &owner_key);
    owner.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "kv1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
    ]);
    // -WhatIf: said on the client's standard error, nothing changed.
    let out = owner.run(&["Remove-AzKeyVault", "-VaultName", "kv1", "-WhatIf"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("What if: Performing the operation"));
    // A destructive cmdlet without a terminal needs -Confirm:$false, as in embedded mode.
    let err = owner.fails(&["Remove-AzKeyVault", "-VaultName", "kv1"], 2);
    assert!(err.contains("needs confirmation"), "{err}");
    assert!(owner
        .ok(&["Get-AzKeyVault", "-VaultName", "kv1"])
        .contains("kv1"));
    owner.ok(&["Remove-AzKeyVault", "-VaultName", "kv1", "-Confirm:$false"]);
    owner.fails(&["Get-AzKeyVault", "-VaultName", "kv1"], 1);
}

#[test]
fn the_certificate_is_pinned_and_service_side_files_stay_there() {
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let c = Client::new();
    let wrong = "ab".repeat(32);
    let out = c.run(&[
        "Connect-CustomerKeyService",
        "-Url",
        &svc.url,
        "-CertificateThumbprint",
        &wrong,
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not the one pinned"));
    // No thumbprint and no terminal: the service's thumbprint is shown, nothing is trusted.
    let err = c.fails(&["Connect-CustomerKeyService", "-Url", &svc.url], 2);
    assert!(err.contains(&svc.thumbprint), "{err}");
    assert!(!c.home.path().join("config/service.json").exists());
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    let st = c.ok(&["Get-CustomerKeyService", "-Format", "Json"]);
    assert!(st.contains("\"Status\": \"Ready\""), "{st}");
    // A PKCS#11 module is a library on the service's machine: no client names one.
    let err = c.fails(
        &[
            "New-AzKeyVault",
            "-VaultName",
            "hsm1",
            "-ResourceGroupName",
            "rg",
            "-Location",
            "westus",
            "-Pkcs11Module",
            "/tmp/evil.so",
        ],
        2,
    );
    assert!(err.contains("on the service's machine"), "{err}");
    // An explicit -Store runs against that local store instead.
    std::fs::create_dir(c.home.path().join("local")).unwrap();
    let local = c.home.path().join("local/service.db");
    c.ok(&["Get-Mailbox", "-Store", local.to_str().unwrap()]);
    assert!(local.exists());
    // Disconnected, cmdlets are local again (and this client has no store folder).
    c.ok(&["Disconnect-CustomerKeyService"]);
    let err = c.fails(&["Get-Mailbox"], 3);
    assert!(err.contains("there is no store at"), "{err}");
}

#[test]
fn sigterm_stops_the_service_cleanly() {
    let (e, owner_key) = organization();
    let mut svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    c.ok(&["New-Mailbox", "-Name", "carol"]);
    let status = svc.stop();
    assert!(status.success(), "{status:?}\n{}", svc.log());
    assert!(svc.log().contains("service stopped"));
    let err = c.fails(&["Get-Mailbox"], 3);
    assert!(err.contains("cannot reach the service"), "{err}");
    assert!(e.ok(&["Get-Mailbox"]).contains("carol"));
}

#[test]
fn a_stale_timestamp_gets_nothing() {
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let body = r#"{"cmdlet":"Get-Mailbox"}"#;
    let ts = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let nonce = "fedcba9876543210fedcba9876543210";
    let text = format!(
        "custkey request v1\nPOST\n/v1/invoke\n{OWNER}\n{ts}\n{nonce}\n{}\n{}\n",
        sha256_hex(body),
        svc.thumbprint
    );
    let sig = ssh_sign(&owner_key, &text, e.config.path());
    let url = format!("{}/v1/invoke", svc.url);
    let (code, reply) = curl(&[
        "-H",
        &format!("X-Custkey-Account: {OWNER}"),
        "-H",
        &format!("X-Custkey-Timestamp: {ts}"),
        "-H",
        &format!("X-Custkey-Nonce: {nonce}"),
        "-H",
        &format!("X-Custkey-Signature: {sig}"),
        "-X",
        "POST",
        "--data-binary",
        body,
        &url,
    ]);
    assert_eq!(code, 401, "{reply}");
    assert!(svc.log().contains("outside the allowed clock skew"));
}

/// Two services on one PostgreSQL store serve one organization: cmdlets racing through
/// different services keep every change (the store's guarantees hold across processes).
#[test]
fn two_services_on_one_postgres_store_lose_nothing() {
    let Some(url) = common::postgres_db() else {
        return;
    };
    let mut e = Env::sqlite();
    let dir = e.dir.path().display().to_string();
    e.extra.push(("CUSTKEY_STORE".into(), url));
    e.extra.push(("CUSTKEY_DATA_DIR".into(), dir));
    e.setup();
    let owner_key = e.config.path().join("identities").join(OWNER);
    let (s1, s2) = (Service::start(&e), Service::start(&e));
    let (a, b) = (Client::new(), Client::new());
    a.connect(&s1);
    a.sign_in(OWNER, &owner_key);
    b.connect(&s2);
    b.sign_in(OWNER, &owner_key);
    for round in 0..4 {
        e.ok(&[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
        ]);
        let newest = e.json(&[
            "Get-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
        ])["Version"]
            .as_str()
            .unwrap()
            .to_string();
        let desc = format!("round {round}");
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.run(&["Set-DataEncryptionPolicy", "US Mailboxes", "-Refresh"]));
            let tb = s.spawn(|| {
                b.run(&[
                    "Set-DataEncryptionPolicy",
                    "US Mailboxes",
                    "-Description",
                    &desc,
                ])
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        for o in [&ra, &rb] {
            assert!(
                o.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let d = e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"]);
        assert_eq!(
            d["Description"],
            desc.as_str(),
            "round {round}: the description was lost"
        );
        assert!(
            d["KeyVersionIDs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_str().unwrap().ends_with(&newest)),
            "round {round}: the refresh was lost: {d}"
        );
        // The same new name through both services at once: exactly one policy.
        let name = format!("EU {round}");
        let keys = "https://contoso-ck-va1.vault.azure.net/keys/Key001,https://contoso-ck-va2.vault.azure.net/keys/Key002";
        let (ca, cb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                a.run(&[
                    "New-DataEncryptionPolicy",
                    "-Name",
                    &name,
                    "-AzureKeyIDs",
                    keys,
                ])
            });
            let tb = s.spawn(|| {
                b.run(&[
                    "New-DataEncryptionPolicy",
                    "-Name",
                    &name,
                    "-AzureKeyIDs",
                    keys,
                ])
            });
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert_eq!(
            [ca.status.success(), cb.status.success()]
                .iter()
                .filter(|x| **x)
                .count(),
            1,
            "round {round}: {} / {}",
            String::from_utf8_lossy(&ca.stderr),
            String::from_utf8_lossy(&cb.stderr)
        );
    }
    // Mailboxes made through both services at once: all of them.
    std::thread::scope(|s| {
        for (c, p) in [(&a, "a"), (&b, "b")] {
            s.spawn(move || {
                for i in 0..10 {
                    c.ok(&["New-Mailbox", "-Name", &format!("{p}{i}")]);
                }
            });
        }
    });
    let all = e.json_raw(&["Get-Mailbox"]);
    assert_eq!(all.as_array().unwrap().len(), 21, "{all}");
}

#[test]
fn completion_offers_the_services_names_to_a_signed_in_client() {
    let (e, owner_key) = organization();
    e.ok(&["New-Mailbox", "-Name", "alice"]);
    e.ok(&["New-Mailbox", "-Name", "albert"]);
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    // Not signed in: nothing (and no error in the shell).
    let out = c.run(&["__complete", "--", "Set-Mailbox", "-Identity", "al"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
    c.sign_in(OWNER, &owner_key);
    let got = c.ok(&["__complete", "--", "Set-Mailbox", "-Identity", "al"]);
    let names: Vec<&str> = got.lines().collect();
    assert!(
        names.contains(&"alice") && names.contains(&"albert"),
        "{got}"
    );
    // Cmdlet and parameter names are the client's own.
    assert!(c
        .ok(&["__complete", "--", "Get-CustomerKeyS"])
        .contains("Get-CustomerKeyService"));
}

#[test]
fn the_data_purge_path_is_signed_on_each_approvers_own_machine() {
    let e = Env::new();
    e.setup();
    let owner_key = e.config.path().join("identities").join(OWNER);
    for v in ["contoso-ck-va1", "contoso-ck-va2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            common::EXO,
        ]);
    }
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        &format!("{OWNER},ciso@contoso.com"),
    ]);
    let ciso_key = e.register("ciso@contoso.com");
    let svc = Service::start(&e);
    let (requester, approver) = (Client::new(), Client::new());
    requester.connect(&svc);
    requester.sign_in(OWNER, &owner_key);
    approver.connect(&svc);
    approver.sign_in("ciso@contoso.com", &ciso_key);
    requester.ok(&[
        "Set-DataEncryptionPolicy",
        "-Identity",
        "US Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Leaving the service",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
        "-Confirm:$false",
    ]);
    // The requester cannot also approve, through the service or not.
    let err = requester.fails(
        &[
            "Approve-DataPurgeRequest",
            "US Mailboxes",
            "-Confirm:$false",
        ],
        1,
    );
    assert!(err.contains("cannot also approve"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&approver.ok(&[
        "Approve-DataPurgeRequest",
        "US Mailboxes",
        "-Confirm:$false",
        "-Format",
        "Json",
    ]))
    .unwrap();
    assert_eq!(report["State"], "Purged", "{report}");
    let sigs = report["Signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    // Each statement was signed by its signer's key on that signer's machine, and verifies
    // with OpenSSH against the registered key.
    let dir = tempfile::tempdir().unwrap();
    for (sig, who) in sigs.iter().zip([OWNER, "ciso@contoso.com"]) {
        assert_eq!(sig["Principal"], who);
        assert_eq!(common::ssh_verify(dir.path(), sig, who), Ok(()), "{sig}");
    }
}

#[test]
fn the_guides_soft_delete_sequence_runs_through_a_client() {
    // Get-AzResource and Set-AzResource run on the service, their -Properties object carried
    // as JSON; Add-Member runs in the client's script and changes $r.Properties there.
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    let out = c.ok(&[
        "-Command",
        "New-AzKeyVault -VaultName contoso-ck-va1 -ResourceGroupName rg1 -Location westus | Out-Null\n\
         $v = Get-AzKeyVault -VaultName contoso-ck-va1\n\
         $r = Get-AzResource -ResourceId $v.ResourceId\n\
         $r.Properties | Add-Member -MemberType NoteProperty -Name enableSoftDelete -Value 'True'\n\
         $r.Properties | Add-Member -MemberType NoteProperty -Name enablePurgeProtection -Value 'True'\n\
         (Set-AzResource -ResourceId $r.ResourceId -Properties $r.Properties).Properties.enablePurgeProtection\n",
    ]);
    assert_eq!(out, "True\n");
    let vault = e.json_raw(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"]);
    let one = vault.get(0).unwrap_or(&vault);
    assert_eq!(one["EnablePurgeProtection"], true, "{vault}");
}

/// `Add-AzKeyVaultKey -KeyFilePath` through a client: the key file goes with the request, the
/// SecureString password is opened on the client and sent in the signed request, and the
/// service keeps neither the file nor the password.
#[test]
fn a_key_file_import_runs_through_a_client() {
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    c.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    c.ok(&[
        "Register-AzProviderFeature",
        "-FeatureName",
        "mandatoryRetentionPeriodEnabled",
        "-ProviderNamespace",
        "Microsoft.Resources",
    ]);
    c.ok(&[
        "New-AzKeyVault",
        "-VaultName",
        "contoso-ck-va1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-Sku",
        "Premium",
    ]);
    let ssl = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(c.home.path())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    ssl(&[
        "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-subj", "/CN=ck", "-keyout", "k.pem",
        "-out", "c.pem",
    ]);
    ssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "k.pem",
        "-in",
        "c.pem",
        "-out",
        "mine.pfx",
        "-passout",
        "pass:over the wire",
    ]);
    let script =
        "Add-AzKeyVaultKey -VaultName contoso-ck-va1 -Name Imported -KeyFilePath mine.pfx \
                  -KeyFilePassword (ConvertTo-SecureString -String $env:PW -AsPlainText -Force) \
                  -KeyOps wrapKey,unwrapKey -Property KeySize";
    let out = c.run_env(&["-Command", script], &[("PW", "over the wire")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("KeySize : 3072"));
    // A wrong password is refused on the service, and not echoed.
    let out = c.run_env(&["-Command", script], &[("PW", "guessed wrong")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the password does not open the file"), "{err}");
    assert!(!err.contains("guessed wrong"));
    // Seen in embedded mode on the service's machine; its log and data hold no password.
    assert_eq!(
        e.json(&["Get-AzKeyVaultKey", "contoso-ck-va1", "Imported"])["KeySize"],
        3072
    );
    assert!(!svc.log().contains("over the wire"));
    for f in common::files_under(e.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("over the wire"),
            "{}",
            f.display()
        );
        assert!(
            f.extension().is_none_or(|x| x != "pfx"),
            "{} was kept",
            f.display()
        );
    }
}

/// An onboarding request through a client: its check report reaches the client's standard
/// output before the exit code 1, and the passing request's result comes back as an object.
#[test]
fn an_onboarding_request_reports_its_checks_through_a_client() {
    let (e, owner_key) = organization();
    let exo = common::EXO;
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[exo],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "eastus",
        &[exo],
    );
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    let req = [
        "New-CustomerKeyOnboardingRequest",
        "-Organization",
        "contoso.onmicrosoft.com",
        "-Scenario",
        "Exchange",
        "-Subscription1",
        "Contoso-CK-Sub1",
        "-KeyIdentifier1",
        "https://contoso-ck-va1.vault.azure.net/keys/Key001",
        "-Subscription2",
        "Contoso-CK-Sub2",
        "-KeyIdentifier2",
        "https://contoso-ck-va2.vault.azure.net/keys/Key002",
    ];
    let out = c.run(&req);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PurgeProtectionEnabled"), "{stdout}");
    assert!(stdout.contains("KeyRecoveryLevel"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 check(s) failed"), "{stderr}");
    for (v, rg) in [
        ("contoso-ck-va1", "contoso-ck-va1-rg"),
        ("contoso-ck-va2", "contoso-ck-va2-rg"),
    ] {
        c.ok(&[
            "Update-AzKeyVault",
            "-VaultName",
            v,
            "-ResourceGroupName",
            rg,
            "-EnablePurgeProtection",
        ]);
    }
    let mut ok = req.to_vec();
    ok.extend(["-Property", "EnablementResult", "-Format", "Json"]);
    let v: serde_json::Value = serde_json::from_str(&c.ok(&ok)).unwrap();
    assert_eq!(v["EnablementResult"], "Success", "{v}");
}

/// The service opens no path a client names: each file a parameter names (one, or each of a
/// list's, such as `New-MgChatMessage -HostedContents`) is sent from the client's machine, a
/// file the cmdlet writes comes back there, and a file name cannot point outside the folder
/// that comes back. Before the definition table said which parameters name files, the service
/// opened `-HostedContents` paths on its own machine (relative to its own folder).
#[test]
fn a_clients_file_lists_are_sent_and_no_file_name_leaves_the_returned_folder() {
    let (e, owner_key) = organization();
    // The same relative names on both machines, with other bytes on the service's.
    std::fs::write(e.dir.path().join("logo.png"), b"SERVICE-SIDE FILE").unwrap();
    std::fs::write(e.dir.path().join("clip.bin"), b"SERVICE-SIDE CLIP").unwrap();
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    std::fs::write(c.home.path().join("logo.png"), b"the client's logo").unwrap();
    std::fs::write(c.home.path().join("clip.bin"), vec![7u8; 300_000]).unwrap();
    c.ok(&["New-MgChat", "-Topic", "Falcon"]);
    let posted = c.ok(&[
        "New-MgChatMessage",
        "-ChatId",
        "Falcon",
        "-Body",
        "two files",
        "-HostedContents",
        "logo.png,clip.bin",
        "-Format",
        "Json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&posted).unwrap();
    let id = v["Id"].as_str().expect("the message's Id").to_string();
    for (n, name, want) in [
        ("1", "logo-copy.png", b"the client's logo".to_vec()),
        ("2", "clip-copy.bin", vec![7u8; 300_000]),
    ] {
        c.ok(&[
            "Get-MgChatMessageHostedContent",
            "-ChatId",
            "Falcon",
            "-ChatMessageId",
            &id,
            "-ChatMessageHostedContentId",
            n,
            "-OutFile",
            name,
        ]);
        let got = std::fs::read(c.home.path().join(name)).unwrap();
        assert!(got == want, "hosted content {n} is not the client's file");
        assert!(
            !e.dir.path().join(name).exists(),
            "{name} was written on the service"
        );
    }
    // A list whose files together are over what a request carries is refused on the client.
    std::fs::write(c.home.path().join("big1.bin"), vec![1u8; 5 << 20]).unwrap();
    std::fs::write(c.home.path().join("big2.bin"), vec![2u8; 5 << 20]).unwrap();
    let err = c.fails(
        &[
            "New-MgChatMessage",
            "-ChatId",
            "Falcon",
            "-Body",
            "x",
            "-HostedContents",
            "big1.bin,big2.bin",
        ],
        2,
    );
    assert!(
        err.contains("over the 8 MiB a service request carries"),
        "{err}"
    );
    // Get-PnPFile: the file name is a name, never a path; and without -Path the service's
    // own folder would be the target, so -Path is needed.
    for bad in [
        "../escaped.docx",
        "/tmp/escaped.docx",
        "a/b.docx",
        "..",
        "a\\b.docx",
    ] {
        let err = c.fails(
            &[
                "Get-PnPFile",
                "-Url",
                "/sites/x/Shared Documents/a.docx",
                "-AsFile",
                "-Path",
                ".",
                "-Filename",
                bad,
            ],
            2,
        );
        assert!(err.contains("is not a plain file name"), "{bad}: {err}");
    }
    let err = c.fails(
        &[
            "Get-PnPFile",
            "-Url",
            "/sites/x/Shared Documents/a.docx",
            "-AsFile",
        ],
        2,
    );
    assert!(err.contains("unless -Path is given"), "{err}");
    // Paths inside a hashtable cannot travel: refused before anything is sent.
    std::fs::write(c.home.path().join("sd.json"), b"{}").unwrap();
    let err = c.fails(
        &[
            "-Command",
            "Import-AzKeyVaultSecurityDomain -Name hsm1 -Keys @{PublicKey = 'sd1.cer'; PrivateKey = 'sd1.key'} -SecurityDomainPath sd.json",
        ],
        2,
    );
    assert!(
        err.contains("-Keys names a file on the service's machine"),
        "{err}"
    );
}

/// A meeting recording through a client: the file goes up with the request, is encrypted on
/// the service, and comes back decrypted with the reply, byte for byte.
#[test]
fn a_meeting_recording_goes_up_and_comes_back_through_a_client() {
    let (e, owner_key) = organization();
    let svc = Service::start(&e);
    let c = Client::new();
    c.connect(&svc);
    c.sign_in(OWNER, &owner_key);
    c.ok(&["New-Mailbox", "-Name", "Alice Example", "-Alias", "alice"]);
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(c.home.path().join("standup.mp4"), &bytes).unwrap();
    let out = c.ok(&[
        "-Command",
        "$m = New-MgUserOnlineMeeting -UserId alice -Subject Standup; \
         $r = Add-CustomerKeyMeetingRecording -UserId alice -OnlineMeetingId $m.Id -Path standup.mp4; \
         Get-MgUserOnlineMeetingRecordingContent -UserId alice -OnlineMeetingId $m.Id -CallRecordingId $r.Id -OutFile back.mp4 | Out-Null; \
         $r.Size",
    ]);
    assert_eq!(out.trim(), "300000");
    assert_eq!(
        std::fs::read(c.home.path().join("back.mp4")).unwrap(),
        bytes
    );
    // The service's data holds the recording only as ciphertext.
    for f in common::files_under(e.dir.path()) {
        let stored = std::fs::read(&f).unwrap();
        assert!(
            !stored.windows(64).any(|w| w == &bytes[100_000..100_064]),
            "{}",
            f.display()
        );
    }
}
