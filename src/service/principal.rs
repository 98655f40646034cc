//! Principals: accounts that prove who they are. An account is registered with an OpenSSH
//! public key; every command acts as the signed-in account only after the key has signed a
//! fresh challenge (a key file the caller can read, or ssh-agent). The registry's rows carry a
//! MAC under a key derived from the service master key, so a store writer without that key can
//! neither add a principal nor swap one's key.
//!
//! Bootstrap: the first principal of a store becomes its owner. On a fresh store the signed-in
//! account (`admin@<organization>` unless `Connect-AzAccount` named another) is registered with
//! the key it connected with, or, with none, a new Ed25519 key written to the configuration
//! directory (`<config>/identities/<account>`, 0600), so the first command runs unattended.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::keys::{audit, ServiceKeys};
use super::{now, Error, ErrorKind, Result};
use crate::identity::{self, IdentityError, Signer};
use crate::store::{PrincipalRow, Store};

/// The setting naming how the signed-in account proves itself (`{"KeyFile": path}`, or
/// `{"Agent": fingerprint}`); the account itself is `az.account` (service::azure).
const CREDENTIAL_SETTING: &str = "az.credential";
/// The SSHSIG namespace of the per-command proof.
const SESSION_NAMESPACE: &str = "custkey-session";
/// The MAC kind of a principal row.
const MAC_KIND: &str = "principal/v1";

thread_local! {
    /// The account the current command acts as, once proven: audit records without a user of
    /// their own carry it. One a thread: each of the service's workers serves its own request.
    static ACTOR: RefCell<String> = const { RefCell::new(String::new()) };
    /// In the service: the account the request being served was proven to come from.
    static REQUEST_ACCOUNT: RefCell<Option<String>> = const { RefCell::new(None) };
    /// In the service: the signatures the request's client made of statements the service
    /// asked it to sign (see [`Authenticated::sign_dated`]).
    static PROVIDED: RefCell<Vec<SignedStatement>> = const { RefCell::new(Vec::new()) };
    /// In the service: the statement a cmdlet needed signed and had no signature for.
    static NEEDED: RefCell<Option<StatementToSign>> = const { RefCell::new(None) };
}

/// A statement the service needs signed by the client's key, dated `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementToSign {
    pub namespace: String,
    pub time: String,
    pub text: String,
}

/// The client's signature of a [`StatementToSign`]: its namespace, its time, and the armored
/// SSHSIG signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedStatement {
    pub namespace: String,
    pub time: String,
    pub signature: String,
}

/// Sets the signatures this thread's request carries (the service, per request).
pub fn provide_signatures(sigs: Vec<SignedStatement>) {
    PROVIDED.with(|p| *p.borrow_mut() = sigs);
    NEEDED.with(|n| *n.borrow_mut() = None);
}

/// The statement the request's cmdlet needed signed, if it stopped for one.
pub fn take_needed() -> Option<StatementToSign> {
    NEEDED.with(|n| n.borrow_mut().take())
}

/// How far a client-signed statement's time may be from now.
const STATEMENT_SKEW_SECONDS: i64 = 600;

/// The authenticated account of this thread's command ("" before one is).
pub fn actor() -> String {
    ACTOR.with(|a| a.borrow().clone())
}

fn set_actor(upn: &str) {
    ACTOR.with(|a| *a.borrow_mut() = upn.to_string());
}

/// Sets (or, with `None`, clears) the account this thread's request acts as: the service sets
/// it once the request's signature is proven, and clears it when the request ends.
pub fn serve_as(upn: Option<String>) {
    if upn.is_none() {
        set_actor("");
    }
    REQUEST_ACCOUNT.with(|a| *a.borrow_mut() = upn);
}

/// The account of the request this thread serves, if it serves one.
pub fn request_account() -> Option<String> {
    REQUEST_ACCOUNT.with(|a| a.borrow().clone())
}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        Error::new(ErrorKind::Authentication, e.message).with_help(e.help)
    }
}

/// How the signed-in account proves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An OpenSSH private key file.
    KeyFile(PathBuf),
    /// ssh-agent (`SSH_AUTH_SOCK`), holding the registered key.
    Agent,
    /// Nothing said: the agent if it holds the key, else the default identity file.
    Default,
}

/// A principal as `Get-AzADUser` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrincipalInfo {
    #[serde(rename = "UserPrincipalName")]
    pub upn: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "PublicKey")]
    pub public_key: String,
    #[serde(rename = "Fingerprint")]
    pub fingerprint: String,
    #[serde(rename = "IsOwner")]
    pub owner: bool,
    #[serde(rename = "RegisteredBy")]
    pub registered_by: String,
    #[serde(rename = "CreatedDateTime")]
    pub when_created: String,
}

/// The principal a command acts as, proven in this process.
pub struct Authenticated {
    pub upn: String,
    pub fingerprint: String,
    pub owner: bool,
    /// The public key line (allowed-signers entries of purge reports).
    pub public_key: String,
    /// Set when this command registered the store's first principal.
    pub bootstrapped: Option<PathBuf>,
    signer: Signer,
}

impl Authenticated {
    /// An SSHSIG signature of `msg` in `namespace`, by this principal's key.
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<String> {
        Ok(identity::armor(&self.signer.sign(namespace, msg)?))
    }

    /// A statement made now, signed by this principal: `make(time)` writes it for a time.
    /// Returns the time, the statement and its armored signature. For a principal whose key
    /// is on its client (a request to the service), the client signs: the first time this
    /// records the statement to sign ([`take_needed`]) and fails; the request sent again with
    /// the client's signature of it ([`provide_signatures`]) then passes, once the signature
    /// verifies with the registered key and its time is recent.
    pub fn sign_dated(
        &self,
        namespace: &str,
        make: impl Fn(&str) -> String,
    ) -> Result<(String, String, String)> {
        if !self.signer.is_elsewhere() {
            let t = now();
            let text = make(&t);
            let sig = self.sign(namespace, text.as_bytes())?;
            return Ok((t, text, sig));
        }
        let key = identity::parse_public_key(&self.public_key)?;
        let provided = PROVIDED.with(|p| p.borrow().clone());
        let now_ts = chrono::Utc::now().timestamp();
        for p in provided.iter().filter(|p| p.namespace == namespace) {
            let recent = chrono::DateTime::parse_from_rfc3339(&p.time)
                .is_ok_and(|t| (t.timestamp() - now_ts).abs() <= STATEMENT_SKEW_SECONDS);
            let text = make(&p.time);
            if recent && identity::verify(&key, namespace, text.as_bytes(), &p.signature).is_ok() {
                return Ok((p.time.clone(), text, p.signature.clone()));
            }
        }
        let t = now();
        let text = make(&t);
        NEEDED.with(|n| {
            *n.borrow_mut() = Some(StatementToSign {
                namespace: namespace.to_string(),
                time: t,
                text,
            })
        });
        Err(Error::new(
            ErrorKind::Authentication,
            format!(
                "this statement must be signed with {}'s key, which is on its client",
                self.upn
            ),
        )
        .with_help("the custkey client signs it and sends the request again"))
    }
}

fn mac_fields(p: &PrincipalRow) -> [Vec<u8>; 7] {
    [
        p.upn_key.as_bytes().to_vec(),
        p.upn.as_bytes().to_vec(),
        p.public_key.as_bytes().to_vec(),
        p.fingerprint.as_bytes().to_vec(),
        vec![u8::from(p.owner)],
        p.registered_by.as_bytes().to_vec(),
        p.when_created.as_bytes().to_vec(),
    ]
}

fn seal(keys: &ServiceKeys, p: &mut PrincipalRow) -> Result<()> {
    let f = mac_fields(p);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    p.mac = keys.record_key().mac(MAC_KIND, &refs)?.to_vec();
    Ok(())
}

/// The row, if its MAC holds; an altered row is an error naming it (it grants nothing).
fn checked(keys: &ServiceKeys, p: PrincipalRow) -> Result<PrincipalRow> {
    let f = mac_fields(&p);
    let refs: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
    if keys.record_key().check(MAC_KIND, &refs, &p.mac).is_err() {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!("the registration of {} in the store was altered (its MAC does not match)", p.upn),
        )
        .with_help("nobody can act as this account until the store is restored from a backup; the change was not made by custkey"));
    }
    Ok(p)
}

fn info(p: &PrincipalRow) -> PrincipalInfo {
    PrincipalInfo {
        upn: p.upn.clone(),
        display_name: p.display_name.clone(),
        id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, p.upn_key.as_bytes()).to_string(),
        public_key: p.public_key.clone(),
        fingerprint: p.fingerprint.clone(),
        owner: p.owner,
        registered_by: p.registered_by.clone(),
        when_created: p.when_created.clone(),
    }
}

/// Where a generated identity of `upn` is kept.
pub fn default_identity_file(data_dir: &Path, upn: &str) -> Result<PathBuf> {
    let dir = crate::paths::ensure_config_dir(data_dir)
        .map_err(|e| Error::new(ErrorKind::Unavailable, e.message).with_help(e.help))?;
    let safe: String = super::org::principal_key(upn)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(dir.join("identities").join(safe))
}

/// Writes a new Ed25519 identity for `upn` at `path` (0600, and `path.pub`), unless one is
/// there already; returns its signer.
fn generate_identity(path: &Path, upn: &str) -> Result<Signer> {
    if path.exists() {
        return Ok(Signer::from_key_file(path)?);
    }
    let seed = crate::crypto::SecretKey32::generate();
    let key = identity::new_ed25519(seed.expose(), upn);
    identity::write_key_files(path, &key).map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("cannot write the identity {}: {e}", path.display()),
        )
        .with_help("check the configuration directory's permissions, or set CUSTKEY_CONFIG_DIR")
    })?;
    Ok(Signer::from_key_file(path)?)
}

/// The credential recorded for the signed-in account.
pub fn recorded_credential(store: &mut Store) -> Result<Credential> {
    let v = store.read(|tx| -> Result<_> { Ok(tx.setting(CREDENTIAL_SETTING)?) })?;
    let Some(v) = v else {
        return Ok(Credential::Default);
    };
    let j: serde_json::Value = serde_json::from_str(&v).unwrap_or_default();
    Ok(
        match (j.get("KeyFile").and_then(|p| p.as_str()), j.get("Agent")) {
            (Some(p), _) => Credential::KeyFile(PathBuf::from(p)),
            (None, Some(_)) => Credential::Agent,
            _ => Credential::Default,
        },
    )
}

fn not_registered(upn: &str) -> Error {
    Error::new(ErrorKind::AccessDenied, format!("the account {upn} is not registered in this organization"))
        .with_help(format!("an owner registers it with its OpenSSH public key: custkey New-AzADUser -UserPrincipalName {upn} -DisplayName \"...\" -PublicKeyFile <key>.pub"))
}

/// A signer for `row`'s key from `cred`.
fn signer_for(data_dir: &Path, row: &PrincipalRow, cred: &Credential) -> Result<Signer> {
    let registered = identity::parse_public_key(&row.public_key)?;
    let from_file = |path: &Path| -> Result<Signer> {
        let s = Signer::from_key_file(path)?;
        if s.public_key().key_data() != registered.key_data() {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "the key in {} ({}) is not the key {} is registered with ({})",
                    path.display(),
                    identity::fingerprint(s.public_key()),
                    row.upn,
                    row.fingerprint
                ),
            )
            .with_help(format!("connect with the account's own key: custkey Connect-AzAccount -AccountId {} -KeyFile <its private key>", row.upn)));
        }
        Ok(s)
    };
    let agent = || -> Result<Signer> {
        let Some(sock) = identity::agent_socket() else {
            return Err(Error::new(ErrorKind::Authentication, "SSH_AUTH_SOCK is not set, so there is no ssh-agent to sign with")
                .with_help("start ssh-agent and add the key (eval $(ssh-agent); ssh-add <key>), or connect with -KeyFile"));
        };
        Ok(Signer::from_agent(&sock, &registered)?)
    };
    match cred {
        Credential::KeyFile(p) => from_file(p),
        Credential::Agent => agent(),
        Credential::Default => {
            if let Ok(s) = agent() {
                return Ok(s);
            }
            let path = default_identity_file(data_dir, &row.upn)?;
            if path.exists() {
                return from_file(&path);
            }
            Err(Error::new(ErrorKind::Authentication, format!("there is no key to prove that this is {}", row.upn))
                .with_help(format!("connect with the account's key: custkey Connect-AzAccount -AccountId {} -KeyFile <private key>, or add it to ssh-agent", row.upn)))
        }
    }
}

/// Proves that `signer` holds its key: it signs a fresh challenge, checked against the
/// registered key.
fn prove(row: &PrincipalRow, signer: &Signer) -> Result<()> {
    let registered = identity::parse_public_key(&row.public_key)?;
    let nonce = crate::crypto::SecretKey32::generate();
    let challenge = format!(
        "custkey session\n{}\n{}\n{}\n",
        row.upn_key,
        now(),
        hex::encode(nonce.expose())
    );
    let sig = identity::armor(&signer.sign(SESSION_NAMESPACE, challenge.as_bytes())?);
    identity::verify(&registered, SESSION_NAMESPACE, challenge.as_bytes(), &sig)?;
    Ok(())
}

/// Authenticates `upn` with `cred` (bootstrapping the store's owner when no principal is
/// registered yet). Later audit records of this process carry `upn`.
pub fn authenticate(
    store: &mut Store,
    keys: &ServiceKeys,
    data_dir: &Path,
    upn: &str,
    cred: &Credential,
) -> Result<Authenticated> {
    let upn_key = super::org::principal_key(upn);
    let row = store.read(|tx| -> Result<_> { Ok(tx.principal(&upn_key)?) })?;
    let (row, bootstrapped) = match row {
        Some(r) => (checked(keys, r)?, None),
        None => match bootstrap(store, keys, data_dir, upn, cred)? {
            Some((r, path)) => (r, path),
            None => return Err(not_registered(upn)),
        },
    };
    let signer = signer_for(data_dir, &row, cred)?;
    prove(&row, &signer)?;
    set_actor(&row.upn);
    Ok(proven(&row, bootstrapped, signer))
}

/// The principal of `row`, proven (by `signer`'s signature, made here or by its client).
fn proven(row: &PrincipalRow, bootstrapped: Option<PathBuf>, signer: Signer) -> Authenticated {
    Authenticated {
        upn: row.upn.clone(),
        fingerprint: row.fingerprint.clone(),
        owner: row.owner,
        public_key: row.public_key.clone(),
        bootstrapped,
        signer,
    }
}

/// Proves a request to the service: `signature` (armored SSHSIG in `namespace`) of `text` by
/// the key `upn` is registered with. The principal it gives cannot sign anything itself (its
/// key stays on its client).
pub fn authenticate_request(
    store: &mut Store,
    keys: &ServiceKeys,
    upn: &str,
    namespace: &str,
    text: &str,
    signature: &str,
) -> Result<Authenticated> {
    let upn_key = super::org::principal_key(upn);
    let Some(row) = store.read(|tx| -> Result<_> { Ok(tx.principal(&upn_key)?) })? else {
        return Err(not_registered(upn));
    };
    let row = checked(keys, row)?;
    let registered = identity::parse_public_key(&row.public_key)?;
    identity::verify(&registered, namespace, text.as_bytes(), signature)?;
    serve_as(Some(row.upn.clone()));
    set_actor(&row.upn);
    Ok(proven(&row, None, Signer::elsewhere(registered)))
}

/// Registers `upn` as the owner if the store has no principal yet. Returns the row (and the
/// identity file generated, if one was), or `None` when principals exist.
#[allow(clippy::type_complexity)]
fn bootstrap(
    store: &mut Store,
    keys: &ServiceKeys,
    data_dir: &Path,
    upn: &str,
    cred: &Credential,
) -> Result<Option<(PrincipalRow, Option<PathBuf>)>> {
    if store.read(|tx| -> Result<_> { Ok(tx.count_principals()?) })? > 0 {
        // Principals exist: perhaps the first one was registered by another command since
        // this one looked (two first commands at once); then it is this account.
        return registered_since(store, keys, upn);
    }
    super::org::require_upn(upn, "sign in as user@domain")?;
    let (signer, generated) = match cred {
        Credential::KeyFile(p) => (Signer::from_key_file(p)?, None),
        Credential::Agent => {
            return Err(Error::invalid("the store's first principal is registered from a key file, not from the agent")
                .with_help(format!("connect once with the key file: custkey Connect-AzAccount -AccountId {upn} -KeyFile <private key>")))
        }
        Credential::Default => {
            let path = default_identity_file(data_dir, upn)?;
            (generate_identity(&path, upn)?, Some(path))
        }
    };
    let mut row = PrincipalRow {
        upn_key: super::org::principal_key(upn),
        upn: upn.to_string(),
        display_name: upn.split('@').next().unwrap_or(upn).to_string(),
        public_key: identity::public_line(signer.public_key()),
        fingerprint: identity::fingerprint(signer.public_key()),
        owner: true,
        registered_by: upn.to_string(),
        when_created: now(),
        mac: Vec::new(),
    };
    seal(keys, &mut row)?;
    let org_id = store.read(super::org::organization_id)?;
    let inserted = store.write(|tx| -> Result<bool> {
        // Only into an empty registry: of two first commands racing, one becomes the owner.
        if tx.count_principals()? > 0 || !tx.insert_principal(&row)? {
            return Ok(false);
        }
        audit(tx, &org_id, "AzureActiveDirectory", "Add user", &row.upn, &row.upn,
            json!({"UserPrincipalName": row.upn, "Fingerprint": row.fingerprint, "Owner": true, "Bootstrap": true}))?;
        Ok(true)
    })?;
    if !inserted {
        // Another command registered the first principal meanwhile: look again.
        return registered_since(store, keys, upn);
    }
    Ok(Some((row, generated)))
}

/// `upn`'s registration, if another command made it after this one first looked.
#[allow(clippy::type_complexity)]
fn registered_since(
    store: &mut Store,
    keys: &ServiceKeys,
    upn: &str,
) -> Result<Option<(PrincipalRow, Option<PathBuf>)>> {
    let upn_key = super::org::principal_key(upn);
    match store.read(|tx| -> Result<_> { Ok(tx.principal(&upn_key)?) })? {
        Some(r) => Ok(Some((checked(keys, r)?, None))),
        None => Ok(None),
    }
}

/// `Connect-AzAccount`: proves `upn` with `cred` and records it as the signed-in account.
pub fn connect(
    store: &mut Store,
    keys: &ServiceKeys,
    data_dir: &Path,
    upn: &str,
    cred: &Credential,
) -> Result<Authenticated> {
    super::org::require_upn(upn, "sign in as user@domain")?;
    let cred = match cred {
        Credential::KeyFile(p) => {
            Credential::KeyFile(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        }
        c => c.clone(),
    };
    let who = authenticate(store, keys, data_dir, upn, &cred)?;
    let recorded = match &cred {
        Credential::KeyFile(p) => Some(json!({"KeyFile": p.to_string_lossy()}).to_string()),
        Credential::Agent => Some(json!({"Agent": who.fingerprint}).to_string()),
        Credential::Default => None,
    };
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| -> Result<()> {
        tx.set_setting("az.account", &who.upn)?;
        match &recorded {
            Some(c) => tx.set_setting(CREDENTIAL_SETTING, c)?,
            None => tx.delete_setting(CREDENTIAL_SETTING)?,
        }
        audit(
            tx,
            &org_id,
            "AzureActiveDirectory",
            "UserLoggedIn",
            &who.upn,
            &who.upn,
            json!({"Fingerprint": who.fingerprint}),
        )
    })?;
    Ok(who)
}

/// Requires an owner: the registry is the owner's to change.
fn require_owner(actor: &Authenticated, what: &str) -> Result<()> {
    if actor.owner {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::AccessDenied,
        format!(
            "{} is not an owner of this organization and cannot {what}",
            actor.upn
        ),
    )
    .with_help("an owner (Get-AzADUser shows IsOwner) runs it"))
}

/// `New-AzADUser`: registers `upn` with an OpenSSH public key.
pub fn register(
    store: &mut Store,
    keys: &ServiceKeys,
    actor: &Authenticated,
    upn: &str,
    display_name: &str,
    public_key: &str,
) -> Result<PrincipalInfo> {
    require_owner(actor, "register accounts")?;
    super::org::require_upn(upn, "give user@domain")?;
    let key = identity::parse_public_key(public_key)?;
    let mut row = PrincipalRow {
        upn_key: super::org::principal_key(upn),
        upn: upn.to_string(),
        display_name: if display_name.trim().is_empty() {
            upn.to_string()
        } else {
            display_name.to_string()
        },
        public_key: identity::public_line(&key),
        fingerprint: identity::fingerprint(&key),
        owner: false,
        registered_by: actor.upn.clone(),
        when_created: now(),
        mac: Vec::new(),
    };
    seal(keys, &mut row)?;
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| -> Result<()> {
        if let Some(p) = tx.principal(&row.upn_key)? {
            return Err(Error::rule(format!("{} is registered already (as {})", upn, p.upn))
                .with_help("remove it first with Remove-AzADUser to register another key"));
        }
        if let Some(p) = tx.principal_by_fingerprint(&row.fingerprint)? {
            return Err(Error::rule(format!("the key {} is registered already, for {}", row.fingerprint, p.upn))
                .with_help("every account needs a key of its own: two accounts with one key would be one person"));
        }
        if !tx.insert_principal(&row)? {
            return Err(super::mailbox::changed_meanwhile());
        }
        audit(tx, &org_id, "AzureActiveDirectory", "Add user", &actor.upn, &row.upn,
            json!({"UserPrincipalName": row.upn, "Fingerprint": row.fingerprint}))
    })?;
    Ok(info(&row))
}

/// `Get-AzADUser`: the registered principals (every row's MAC checked).
pub fn list(store: &mut Store, keys: &ServiceKeys) -> Result<Vec<PrincipalInfo>> {
    let rows = store.read(|tx| -> Result<_> { Ok(tx.principals()?) })?;
    rows.into_iter()
        .map(|r| checked(keys, r).map(|r| info(&r)))
        .collect()
}

/// `Remove-AzADUser`: removes a registered principal (not the last owner, not oneself).
pub fn remove(
    store: &mut Store,
    keys: &ServiceKeys,
    actor: &Authenticated,
    upn: &str,
) -> Result<PrincipalInfo> {
    require_owner(actor, "remove accounts")?;
    let key = super::org::principal_key(upn);
    let row = store
        .read(|tx| -> Result<_> { Ok(tx.principal(&key)?) })?
        .ok_or_else(|| not_registered(upn))?;
    let row = checked(keys, row)?;
    if row.owner {
        return Err(Error::rule(format!(
            "{} is the owner of this organization and cannot be removed",
            row.upn
        ))
        .with_help("the owner stays registered"));
    }
    let org_id = store.read(super::org::organization_id)?;
    store.write(|tx| -> Result<()> {
        if !tx.delete_principal(&key)? {
            return Err(not_registered(upn));
        }
        audit(
            tx,
            &org_id,
            "AzureActiveDirectory",
            "Delete user",
            &actor.upn,
            &row.upn,
            json!({"UserPrincipalName": row.upn, "Fingerprint": row.fingerprint}),
        )
    })?;
    Ok(info(&row))
}

/// The registered, unaltered principal named `upn` (for checking its signatures).
pub fn registered(store: &mut Store, keys: &ServiceKeys, upn: &str) -> Result<PrincipalRow> {
    let key = super::org::principal_key(upn);
    let row = store
        .read(|tx| -> Result<_> { Ok(tx.principal(&key)?) })?
        .ok_or_else(|| not_registered(upn))?;
    checked(keys, row)
}
