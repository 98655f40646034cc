//! Principals that prove who they are (docs/security.md): registration, sign-in with a key
//! file or ssh-agent, the first principal as owner, a registry a store writer cannot forge,
//! and a data purge one person cannot complete.

mod common;

use std::process::Command;

use common::{Env, EXO};

const VAULTS: [&str; 2] = ["contoso-ck-va1", "contoso-ck-va2"];
const OWNER: &str = "admin@contoso.onmicrosoft.com";

/// Runs statements on the organization's store from outside, as a store writer would (either
/// engine).
fn sql(e: &Env, stmt: &str) {
    common::store_exec(e, stmt);
}

/// The one value of a one-row, one-column query of the store.
fn one(e: &Env, query: &str) -> common::Val {
    let rows = common::store_rows(e, query, &[]);
    assert_eq!(rows.len(), 1, "{query}: {rows:?}");
    rows[0][0].clone()
}

#[test]
fn the_first_principal_is_the_owner_with_a_generated_key_outside_the_data_directory() {
    let e = Env::new();
    e.ok(&["Get-AzContext"]);
    let users = e.json(&["Get-AzADUser"]);
    let users = users.as_array().cloned().unwrap_or_else(|| vec![users]);
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["UserPrincipalName"], OWNER);
    assert_eq!(users[0]["IsOwner"], true);
    // The key lives in the configuration directory, 0600; nothing of it in the data directory.
    let key = e.config.path().join("identities").join(OWNER);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let private = std::fs::read(&key).unwrap();
    for f in common::files_under(e.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes
                .windows(private.len().min(64))
                .any(|w| private.windows(64).next() == Some(w)),
            "{} holds the private key",
            f.display()
        );
    }
    // The fingerprint is the one ssh-keygen computes.
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(users[0]["Fingerprint"].as_str().unwrap()),
        "{listed}"
    );
    // The bootstrap is audited.
    let ops = common::audit_operations(&e);
    assert!(
        ops.iter()
            .any(|(op, p)| op == "Add user" && p["Bootstrap"] == true),
        "{ops:?}"
    );
}

#[test]
fn an_account_is_only_acted_as_with_its_own_key() {
    let e = Env::new();
    e.ok(&["Get-AzContext"]);
    // Not registered: refused.
    let err = e.fails(&["Connect-AzAccount", "eve@contoso.com"], 1);
    assert!(err.contains("is not registered"), "{err}");
    let ciso = e.register("ciso@contoso.com");
    // Registered, but proven with another key, or with none: refused.
    let owner_key = e.config.path().join("identities").join(OWNER);
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "ciso@contoso.com",
            "-KeyFile",
            owner_key.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains("is not the key ciso@contoso.com is registered with"),
        "{err}"
    );
    let err = e.fails(&["Connect-AzAccount", "ciso@contoso.com"], 1);
    assert!(err.contains("there is no key to prove"), "{err}");
    // A key file others may read proves nothing.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ciso, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "ciso@contoso.com",
            "-KeyFile",
            ciso.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("may be read by others"), "{err}");
    std::fs::set_permissions(&ciso, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Its own key: later commands act as it, proving it each time.
    e.connect("ciso@contoso.com");
    assert_eq!(
        e.json(&["Get-AzContext"])["Account"]["Id"],
        "ciso@contoso.com"
    );
    // Not the owner: cannot register anyone.
    let eve = e.keygen("eve@contoso.com");
    let err = e.fails(
        &[
            "New-AzADUser",
            "eve@contoso.com",
            "-PublicKeyFile",
            &format!("{}.pub", eve.display()),
        ],
        1,
    );
    assert!(err.contains("is not an owner"), "{err}");
    // Without the key file (someone else at the terminal, another OS user), nothing runs as it.
    let moved = e.config.path().join("away");
    std::fs::rename(&ciso, &moved).unwrap();
    let err = e.fails(&["Get-AzContext"], 1);
    assert!(err.contains("cannot read the key file"), "{err}");
    std::fs::rename(&moved, &ciso).unwrap();
    // Sign-ins are audited with the principal.
    let n = one(
        &e,
        "SELECT count(*) FROM audit_record WHERE operation = 'UserLoggedIn' AND user_id = 'ciso@contoso.com'",
    );
    assert_eq!(n.int(), 1);
}

#[test]
fn one_key_registers_one_account() {
    let e = Env::new();
    let key = e.register("ciso@contoso.com");
    let err = e.fails(
        &[
            "New-AzADUser",
            "dpo@contoso.com",
            "-PublicKeyFile",
            &format!("{}.pub", key.display()),
        ],
        1,
    );
    assert!(
        err.contains("is registered already, for ciso@contoso.com"),
        "{err}"
    );
    let err = e.fails(
        &[
            "New-AzADUser",
            "CISO@contoso.com",
            "-PublicKeyFile",
            &format!("{}.pub", e.keygen("x").display()),
        ],
        1,
    );
    assert!(err.contains("is registered already"), "{err}");
}

#[test]
fn a_store_writer_cannot_add_a_principal_or_swap_its_key() {
    let e = Env::new();
    e.register("ciso@contoso.com");
    let eve = e.keygen("eve@contoso.com");
    let eve_pub = std::fs::read_to_string(format!("{}.pub", eve.display())).unwrap();
    let eve_line: String = eve_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    // A row of one's own, with a made-up MAC.
    common::store_exec_args(
        &e,
        &format!(
            "INSERT INTO principal VALUES ('eve@contoso.com', 'eve@contoso.com', 'Eve', '{eve_line}', 'SHA256:eve', 1, 'eve@contoso.com', '2026-01-01T00:00:00Z', ?1)"
        ),
        &[(&vec![0u8; 32]).into()],
    );
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "eve@contoso.com",
            "-KeyFile",
            eve.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("was altered"), "{err}");
    // Another's row with one's own key in it.
    sql(
        &e,
        &format!(
            "UPDATE principal SET public_key = '{eve_line}' WHERE upn_key = 'ciso@contoso.com'"
        ),
    );
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "ciso@contoso.com",
            "-KeyFile",
            eve.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("was altered"), "{err}");
    // Raising a registered account to owner breaks its MAC too.
    let dpo = e.register("dpo@contoso.com");
    sql(
        &e,
        "UPDATE principal SET owner = 1 WHERE upn_key = 'dpo@contoso.com'",
    );
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "dpo@contoso.com",
            "-KeyFile",
            dpo.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("was altered"), "{err}");
    // Listing shows the altered registration as an error, not as an account.
    sql(
        &e,
        "DELETE FROM principal WHERE upn_key = 'eve@contoso.com'",
    );
    let err = e.fails(&["Get-AzADUser"], 1);
    assert!(
        err.contains("registration of ciso@contoso.com in the store was altered"),
        "{err}"
    );
}

#[test]
fn ssh_agent_signs_and_a_key_removed_from_it_signs_nothing() {
    let e = Env::new();
    e.ok(&["Get-AzContext"]);
    let key = e.register("ciso@contoso.com");
    let sock = e.config.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start ssh-agent");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let add = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let with_agent = [("SSH_AUTH_SOCK", sock.to_str().unwrap())];
    let out = e.run_env(
        &["Connect-AzAccount", "ciso@contoso.com", "-UseSshAgent"],
        &with_agent,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.run_env(&["Get-AzContext", "-Format", "Json"], &with_agent);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ciso@contoso.com"));
    // Without the agent, or with the key removed from it, the account cannot act.
    let err = e.fails(&["Get-AzContext"], 1);
    assert!(err.contains("SSH_AUTH_SOCK is not set"), "{err}");
    let del = Command::new("ssh-add")
        .arg("-D")
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(del.status.success());
    let out = e.run_env(&["Get-AzContext"], &with_agent);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not hold the key"));
    let _ = agent.kill();
    let _ = agent.wait();
}

#[test]
fn one_person_cannot_complete_a_purge_and_a_tampered_request_purges_nothing() {
    let e = Env::new();
    e.setup();
    for v in VAULTS {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            EXO,
        ]);
    }
    e.ok(&[
        "Set-OrganizationConfig",
        "-DataPurgeApprovers",
        &format!("{OWNER},ciso@contoso.com"),
    ]);
    e.register("ciso@contoso.com");
    let purge = [
        "Set-DataEncryptionPolicy",
        "US Mailboxes",
        "-PermanentDataPurgeRequested",
        "-PermanentDataPurgeReason",
        "Leaving",
        "-PermanentDataPurgeContact",
        "cio@contoso.com",
        "-Confirm:false",
    ];
    e.ok(&purge);
    // The requester cannot approve, nor switch to the other approver without their key.
    let approve = ["Approve-DataPurgeRequest", "US Mailboxes", "-Confirm:false"];
    let err = e.fails(&approve, 1);
    assert!(err.contains("cannot also approve it"), "{err}");
    let owner_key = e.config.path().join("identities").join(OWNER);
    let err = e.fails(
        &[
            "Connect-AzAccount",
            "ciso@contoso.com",
            "-KeyFile",
            owner_key.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("is not the key"), "{err}");
    // A request whose signed text was changed in the store purges nothing.
    sql(
        &e,
        "UPDATE purge_signature SET statement = replace(statement, 'Leaving', 'Leavinh')",
    );
    e.connect("ciso@contoso.com");
    let err = e.fails(&approve, 1);
    assert!(err.contains("does not verify"), "{err}");
    // A request with its signature removed neither.
    sql(&e, "DELETE FROM purge_signature");
    let err = e.fails(&approve, 1);
    assert!(err.contains("carries no signature"), "{err}");
    e.connect_owner();
    assert_eq!(
        e.json(&["Get-DataEncryptionPolicy", "US Mailboxes"])["State"],
        "PendingDataPurge"
    );
    // Every audit record names who acted.
    let empty = one(&e, "SELECT count(*) FROM audit_record WHERE user_id = ''");
    assert_eq!(empty.int(), 0, "audit records without a principal");
    let who = one(
        &e,
        "SELECT user_id FROM audit_record WHERE operation = 'Set-OrganizationConfig' AND parameters LIKE '%ciso@contoso.com%'",
    );
    assert_eq!(who.text(), OWNER, "the approvers' change names who made it");
}

#[test]
fn access_policies_bind_the_signed_in_principal() {
    let e = Env::new();
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    e.register("kvadmin@contoso.com");
    e.ok(&[
        "Set-AzKeyVaultAccessPolicy",
        "-VaultName",
        "contoso-ck-va1",
        "-UserPrincipalName",
        "kvadmin@contoso.com",
        "-PermissionsToKeys",
        "get",
    ]);
    e.connect("kvadmin@contoso.com");
    let err = e.fails(&["Get-AzKeyVaultKey", "-VaultName", "contoso-ck-va1"], 1);
    assert!(
        err.contains("does not grant 'list' to kvadmin@contoso.com"),
        "{err}"
    );
    e.ok(&[
        "Get-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "Key001",
    ]);
    let err = e.fails(
        &[
            "Remove-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Key001",
            "-Force",
        ],
        1,
    );
    assert!(
        err.contains("does not grant 'delete' to kvadmin@contoso.com"),
        "{err}"
    );
    let log = e.ok(&[
        "Get-AzKeyVaultAuditLog",
        "-VaultName",
        "contoso-ck-va1",
        "-Caller",
        "kvadmin@contoso.com",
        "-Format",
        "Csv",
        "-Property",
        "Operation,Result",
    ]);
    assert!(log.contains("\"GetKey\",\"Success\""), "{log}");
    assert!(log.contains("\"DeleteKey\",\"AccessDenied\""), "{log}");
}

/// Runs a script with `answers` on standard input as a terminal would give them.
fn script_with_answers(e: &Env, script: &str, answers: &str) -> std::process::Output {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_custkey"))
        .args(["-Command", script])
        .current_dir(e.dir.path())
        .env("CUSTKEY_STORE", e.path("service.db"))
        .env("CUSTKEY_CONFIG_DIR", e.config.path())
        .env("CUSTKEY_KEYRING", "off")
        .env("CUSTKEY_ASSUME_TTY", "1")
        .env_remove("SSH_AUTH_SOCK")
        .envs(e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn prompts_take_yes_to_all_and_no_to_all() {
    let e = Env::new();
    for u in [
        "a@contoso.com",
        "b@contoso.com",
        "c@contoso.com",
        "d@contoso.com",
    ] {
        e.register(u);
    }
    let users = |e: &Env| {
        e.ok(&[
            "Get-AzADUser",
            "-Format",
            "Csv",
            "-Property",
            "UserPrincipalName",
        ])
    };
    // No to All: one prompt, nothing removed.
    let out = script_with_answers(
        &e,
        "Remove-AzADUser a@contoso.com; Remove-AzADUser b@contoso.com",
        "l\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("[A] Yes to All").count(), 1, "{err}");
    assert!(users(&e).contains("a@contoso.com") && users(&e).contains("b@contoso.com"));
    // Yes to All: one prompt, both removed; help and Suspend ask again.
    let out = script_with_answers(
        &e,
        "Remove-AzADUser a@contoso.com; Remove-AzADUser b@contoso.com",
        "?\ns\na\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Y - Continue with only this operation"),
        "{err}"
    );
    assert!(!users(&e).contains("a@contoso.com") && !users(&e).contains("b@contoso.com"));
    // Yes, then No: the first only.
    let out = script_with_answers(
        &e,
        "Remove-AzADUser c@contoso.com; Remove-AzADUser d@contoso.com",
        "y\nn\n",
    );
    assert!(out.status.success());
    let left = users(&e);
    assert!(
        !left.contains("c@contoso.com") && left.contains("d@contoso.com"),
        "{left}"
    );
}

#[test]
fn connect_exchange_online_signs_in_as_connect_az_account_does() {
    let e = Env::new();
    e.ok(&["Get-OrganizationConfig"]);
    let key = e.register("exo-admin@contoso.com");
    // As the guides write it, plus the key that proves it.
    e.ok(&[
        "Connect-ExchangeOnline",
        "-UserPrincipalName",
        "exo-admin@contoso.com",
        "-KeyFile",
        key.to_str().unwrap(),
        "-ShowBanner:$false",
    ]);
    assert_eq!(
        e.json(&["Get-AzContext"])["Account"]["Id"],
        "exo-admin@contoso.com"
    );
    // Without -UserPrincipalName: the signed-in account proves itself again.
    e.ok(&["Connect-ExchangeOnline", "-ShowBanner:$false"]);
    e.ok(&["Disconnect-ExchangeOnline", "-Confirm:$false"]);
    // An account that is not registered, or a key that is not its own, is refused.
    let other = e.keygen("stranger@contoso.com");
    let err = e.fails(
        &[
            "Connect-ExchangeOnline",
            "-UserPrincipalName",
            "exo-admin@contoso.com",
            "-KeyFile",
            other.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("exo-admin@contoso.com"), "{err}");
    let err = e.fails(
        &["Connect-ExchangeOnline", "-KeyFile", key.to_str().unwrap()],
        2,
    );
    assert!(err.contains("-UserPrincipalName"), "{err}");
}

#[test]
fn a_vault_shows_each_access_policy_with_its_permissions_as_the_guides_quote_them() {
    let e = Env::new();
    e.setup();
    let v = e.json(&["Get-AzKeyVault", "-VaultName", "contoso-ck-va1"]);
    let policies = v["AccessPolicies"].as_array().expect("AccessPolicies");
    let exo = policies
        .iter()
        .find(|p| {
            p["DisplayName"]
                .as_str()
                .is_some_and(|d| d.starts_with("Office 365 Exchange Online"))
        })
        .unwrap_or_else(|| panic!("no Exchange Online policy in {policies:?}"));
    assert_eq!(exo["PermissionsToKeysStr"], "wrapKey, unwrapKey, get");
    assert_eq!(exo["ApplicationId"], EXO);
}

#[test]
fn register_az_resource_provider_as_the_older_setup_guide_runs_it() {
    let e = Env::new();
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    let before = e.json(&[
        "Get-AzResourceProvider",
        "-ProviderNamespace",
        "Microsoft.KeyVault",
    ]);
    assert_eq!(before["RegistrationState"], "NotRegistered");
    let p = e.json(&[
        "Register-AzResourceProvider",
        "-ProviderNamespace",
        "Microsoft.KeyVault",
    ]);
    assert_eq!(p["RegistrationState"], "Registered");
    assert_eq!(p["ProviderNamespace"], "Microsoft.KeyVault");
    // Per subscription: the other one has not registered it.
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub2"]);
    assert_eq!(
        e.json(&["Get-AzResourceProvider", "Microsoft.KeyVault"])["RegistrationState"],
        "NotRegistered"
    );
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
    assert_eq!(
        e.json(&["Get-AzResourceProvider", "Microsoft.KeyVault"])["RegistrationState"],
        "Registered"
    );
    // A malformed namespace is refused.
    let err = e.fails(
        &[
            "Register-AzResourceProvider",
            "-ProviderNamespace",
            "not a namespace!",
        ],
        1,
    );
    assert!(err.contains("is not a valid provider namespace"), "{err}");
}
