//! The cmdlet shell: PowerShell grammar, the cmdlet registry, output forms, prompts
//! (-WhatIf/-Confirm), completion and the single exit path.

pub mod args;
pub mod cmdlets;
pub mod complete;
pub mod def;
pub mod error;
pub mod filter;
pub mod gate;
pub mod generate;
pub mod help;
pub mod output;
pub mod progress;
pub mod rollout;
pub mod script;
pub mod serve;
pub mod wildcard;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use custkey::service::azure::{Azure, AzureSession};
use custkey::service::keys::ServiceKeys;
use custkey::service::open::{Store, StoreLocation, Vaults};
use custkey::service::principal::{self, Authenticated, Credential};

use args::Args;
use def::{norm, Cmdlet, Impact};
use error::{suggestions, Class, CliError};
use output::{Form, Output};

/// Everything a cmdlet handler may use: its store, the common parameters, the terminal.
pub struct Ctx {
    pub cmdlet: &'static Cmdlet,
    store_path: PathBuf,
    /// What -Store / CUSTKEY_STORE names (a file path or a URL); an unsupported URL is kept to
    /// be reported when the store is first needed.
    store_at: StoreLocation,
    /// Whether -Store named the store (else CUSTKEY_STORE or the default location).
    store_given: bool,
    /// -DataDir: the data directory of a PostgreSQL store (else CUSTKEY_DATA_DIR).
    data_dir_given: Option<PathBuf>,
    store: Option<Store>,
    azure: Option<Azure>,
    keys: Option<ServiceKeys>,
    backend: Option<Vaults>,
    /// The principal this command acts as, once proven (see [`Ctx::principal`]).
    principal: Option<Authenticated>,
    /// "Yes to All" (`Some(true)`) or "No to All" (`Some(false)`) answered to a prompt.
    answer_all: Option<bool>,
    pub form: Option<Form>,
    pub properties: Option<Vec<String>>,
    pub what_if: bool,
    /// `Some(true)`: -Confirm; `Some(false)`: -Confirm:$false; `None`: not given.
    pub confirm: Option<bool>,
    pub verbose: bool,
    interactive: bool,
    /// In a script: the objects piped into this cmdlet (utility cmdlets such as
    /// Sort-Object read them all at once; others are run once per object instead).
    pub input: Vec<serde_json::Value>,
    /// The table view of the cmdlet that produced `input`; Select-Object may replace it.
    pub input_view: Vec<String>,
    /// An exit code other than 0 for a cmdlet that succeeded (Test-CustomerKeyConfiguration:
    /// changes pending).
    pub status: i32,
    /// The objects a cmdlet changed in place (Add-Member), for a script to store back where
    /// they came from (`$r.Properties | Add-Member ...` changes `$r.Properties`).
    pub changed_in_place: Option<Vec<serde_json::Value>>,
    /// In the service: the request being served (its proof, and what the cmdlet wrote for
    /// the operator); `None` in a client or in embedded mode.
    serving: Option<Serving>,
    /// In a client: the service cmdlets are sent to (`None`: embedded mode; an error: a
    /// connection that cannot be used, reported when a cmdlet needs it).
    remote: Option<Result<serve::client::Remote, CliError>>,
}

/// The request a service worker is serving.
pub struct Serving {
    pub account: String,
    /// The signed text and its armored SSHSIG signature.
    text: String,
    signature: String,
    /// The operator answered "Yes" to this invocation's confirmation.
    confirmed: bool,
    pub messages: std::cell::RefCell<Vec<serve::wire::Message>>,
    /// The confirmation the cmdlet needs, if it stopped to ask.
    pub confirm: Option<serve::wire::Confirm>,
}

impl Ctx {
    fn new(cmdlet: &'static Cmdlet, args: &Args) -> Result<Ctx, CliError> {
        let store_path = store_path(args.str("Store"));
        let form = args.str("Format").and_then(Form::parse);
        Ok(Ctx {
            cmdlet,
            store_at: StoreLocation::new(&store_path),
            store_path,
            store_given: args.str("Store").is_some_and(|p| !p.is_empty()),
            data_dir_given: data_dir_arg(args),
            store: None,
            azure: None,
            keys: None,
            backend: None,
            principal: None,
            answer_all: None,
            form,
            properties: args.list("Property").map(<[String]>::to_vec),
            what_if: args.switch("WhatIf"),
            confirm: args.bool("Confirm"),
            verbose: args.switch("Verbose"),
            interactive: std::io::stdin().is_terminal()
                || custkey::input::switch_on("CUSTKEY_ASSUME_TTY"),
            input: Vec::new(),
            input_view: Vec::new(),
            status: 0,
            changed_in_place: None,
            serving: None,
            remote: serve::client::Remote::configured().transpose(),
        })
    }

    /// A service worker's context over the store `store` (the default store when `None`):
    /// never a client, never at a terminal.
    pub fn for_service(store: Option<&str>, data_dir: Option<&str>) -> Result<Ctx, CliError> {
        let cmdlet = find_cmdlet("Get-OrganizationConfig")
            .ok_or_else(|| CliError::new(Class::Internal, "the definition table is incomplete"))?;
        let mut ctx = Ctx::new(cmdlet, &Args::default())?;
        ctx.remote = None;
        ctx.interactive = false;
        let path = store_path(store);
        ctx.store_at = StoreLocation::new(&path);
        ctx.store_given = store.is_some_and(|p| !p.is_empty());
        ctx.store_path = path;
        ctx.data_dir_given = data_dir.filter(|d| !d.is_empty()).map(PathBuf::from);
        Ok(ctx)
    }

    /// Where this context's store is (a path or a URL).
    pub fn store_location(&self) -> PathBuf {
        self.store_path.clone()
    }

    /// Opens the store and the service keys (the service does at start, and /readyz checks);
    /// returns the data directory.
    pub fn open_for_service(&mut self) -> Result<PathBuf, CliError> {
        self.open_keys()?;
        Ok(self.data_dir())
    }

    /// Starts serving a request signed by `account` (`text`, its armored `signature`).
    pub fn begin_request(&mut self, account: &str, text: String, signature: String) {
        custkey::service::principal::serve_as(None);
        self.principal = None;
        self.azure = None;
        self.answer_all = None;
        self.serving = Some(Serving {
            account: account.to_string(),
            text,
            signature,
            confirmed: false,
            messages: Default::default(),
            confirm: None,
        });
    }

    /// Proves the request's account: its signature, by the key it is registered with.
    pub fn prove_request(&mut self) -> Result<(), CliError> {
        self.authenticate()
    }

    /// Runs `cmdlet` for the request being served; its output and exit status.
    pub fn serve(
        &mut self,
        cmdlet: &'static Cmdlet,
        args: &Args,
        inv: &serve::wire::Invocation,
    ) -> Result<serve::server::Served, CliError> {
        if let Some(s) = self.serving.as_mut() {
            s.confirmed = inv.confirmed;
        }
        self.rebind(cmdlet, args);
        self.input = inv.input.clone();
        let out = self.run_cmdlet(cmdlet, args);
        self.flush_warnings();
        out.map(|o| (o, self.status))
    }

    /// Ends the request being served; what it left for the reply.
    pub fn end_request(&mut self) -> Serving {
        self.principal = None;
        self.azure = None;
        self.input.clear();
        custkey::service::principal::serve_as(None);
        self.serving.take().unwrap_or(Serving {
            account: String::new(),
            text: String::new(),
            signature: String::new(),
            confirmed: false,
            messages: Default::default(),
            confirm: None,
        })
    }

    /// Whether cmdlets of this client go to a service.
    pub fn is_remote(&self) -> bool {
        self.serving.is_none() && self.remote.is_some()
    }

    /// Runs `cmdlet`: on the service this client is connected to (unless it runs on the
    /// client, or -Store names a store here), else in this process. The one place every
    /// cmdlet is run from, so no cmdlet is written twice.
    pub fn run_cmdlet(&mut self, cmdlet: &'static Cmdlet, args: &Args) -> Result<Output, CliError> {
        if self.is_remote()
            && serve::runs_on_service(cmdlet)
            && !args.has_any(&["Store", "DataDir"])
        {
            return self.run_remote(cmdlet, args);
        }
        gate::check(self, cmdlet).and_then(|()| (cmdlet.run)(self, args))
    }

    fn remote(&mut self) -> Result<&mut serve::client::Remote, CliError> {
        match self.remote.as_mut() {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(e.clone()),
            None => Err(CliError::new(Class::Internal, "no service is connected")),
        }
    }

    fn run_remote(&mut self, cmdlet: &'static Cmdlet, args: &Args) -> Result<Output, CliError> {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for (p, named) in args.file_params(cmdlet) {
            if p.files == def::Files::Host {
                return Err(serve::files::host_only(cmdlet.name, p.name));
            }
            for path in named {
                files.push(serve::files::outgoing(cmdlet.name, p, &path)?);
                paths.push((p.name, path));
            }
        }
        serve::files::check_total(&files)?;
        let mut inv = serve::wire::Invocation {
            cmdlet: cmdlet.name.to_string(),
            args: args.to_wire(),
            input: std::mem::take(&mut self.input),
            confirmed: false,
            files,
            signatures: Vec::new(),
        };
        loop {
            let reply = self.remote()?.invoke(&inv)?;
            serve::client::show_messages(&reply);
            if let Some(c) = reply.confirm {
                if inv.confirmed {
                    return Err(CliError::new(
                        Class::Internal,
                        "the service asked again for a confirmation it was given",
                    ));
                }
                if self.what_if {
                    return Ok(Output::None);
                }
                if !self.ask(&c.target, &c.action)? {
                    return Ok(Output::None);
                }
                inv.confirmed = true;
                continue;
            }
            if let Some(st) = reply.sign {
                if inv
                    .signatures
                    .iter()
                    .any(|g| g.time == st.time && g.namespace == st.namespace)
                    || inv.signatures.len() >= 4
                {
                    return Err(CliError::new(
                        Class::Internal,
                        "the service asked again for a statement it was given signed",
                    ));
                }
                self.verbose(&format!(
                    "signing with your key, for the service:\n{}",
                    st.text
                ));
                let signed = self.remote()?.sign_statement(&inv, &st)?;
                inv.signatures.push(signed);
                continue;
            }
            if let Some(e) = reply.error {
                return Err(e.into());
            }
            for t in &reply.files {
                if let Some((_, path)) = paths.iter().find(|(p, _)| *p == t.param) {
                    serve::files::write_back(t, std::path::Path::new(path), args.switch("Force"))?;
                }
            }
            self.status = reply.status;
            return Ok(reply.output.into());
        }
    }

    /// `Connect-AzAccount` against a service: checks that the service accepts requests signed
    /// with `cred` as `upn`, then keeps them in the saved connection. `None`: not connected
    /// to a service (sign in to the local store).
    pub fn connect_remote(
        &mut self,
        upn: &str,
        cred: &custkey::service::principal::Credential,
    ) -> Result<Option<Output>, CliError> {
        if !self.is_remote() {
            return Ok(None);
        }
        let remote = self.remote()?;
        let saved = serve::client::sign_in(remote, upn, cred)?;
        saved.save()?;
        remote.set_saved(saved);
        let ctx_cmdlet = find_cmdlet("Get-AzContext")
            .ok_or_else(|| CliError::new(Class::Internal, "the definition table is incomplete"))?;
        self.run_remote(ctx_cmdlet, &Args::default()).map(Some)
    }

    /// Runs another cmdlet from inside this one, as PowerShell's nested calls: it inherits
    /// -WhatIf, -Confirm and -Verbose, shares the store and key cache, and its output comes
    /// back as objects instead of being printed.
    pub fn call(
        &mut self,
        cmdlet: &'static Cmdlet,
        args: &Args,
    ) -> Result<Vec<serde_json::Value>, CliError> {
        // A nested cmdlet needs its own role, as if the operator had typed it: a rollout run by
        // Organization Management does not register a SharePoint policy.
        let out = self.nested(cmdlet, |ctx| {
            gate::check(ctx, cmdlet).and_then(|()| (cmdlet.run)(ctx, args))
        });
        Ok(match out? {
            Output::Objects(recs) | Output::List(recs) => {
                recs.into_iter().map(serde_json::Value::Object).collect()
            }
            Output::Values(v) => v,
            Output::Text(t) => vec![serde_json::Value::String(t)],
            Output::None => Vec::new(),
        })
    }

    /// Runs `f` as `cmdlet` called from inside the current one: its own output form and input,
    /// the current ones restored afterwards.
    fn nested<T>(&mut self, cmdlet: &'static Cmdlet, f: impl FnOnce(&mut Ctx) -> T) -> T {
        let saved = (
            self.cmdlet,
            self.form.take(),
            self.properties.take(),
            std::mem::take(&mut self.input),
            std::mem::take(&mut self.input_view),
        );
        self.cmdlet = cmdlet;
        let out = f(self);
        (
            self.cmdlet,
            self.form,
            self.properties,
            self.input,
            self.input_view,
        ) = saved;
        out
    }

    /// Points a script's one context at the next cmdlet and its common parameters, keeping
    /// the open store and key cache (a different -Store drops them).
    pub fn rebind(&mut self, cmdlet: &'static Cmdlet, args: &Args) {
        let (path, data_dir) = if self.serving.is_some() {
            // The service's store, whatever a request says.
            (self.store_path.clone(), self.data_dir_given.clone())
        } else {
            (store_path(args.str("Store")), data_dir_arg(args))
        };
        if path != self.store_path || data_dir != self.data_dir_given {
            self.data_dir_given = data_dir;
            self.store = None;
            self.azure = None;
            self.keys = None;
            self.backend = None;
            self.principal = None;
            self.store_at = StoreLocation::new(&path);
            self.store_path = path;
            self.store_given = args.str("Store").is_some_and(|p| !p.is_empty());
        }
        // Each cmdlet of a script or shell proves the account again: a key removed from the
        // agent, or an account removed from the registry, stops the next one. (In the service
        // a request is one cmdlet, proven just before by its signature.)
        if self.serving.is_none() {
            self.principal = None;
        }
        self.azure = None;
        self.cmdlet = cmdlet;
        self.form = args.str("Format").and_then(Form::parse);
        self.properties = args.list("Property").map(<[String]>::to_vec);
        self.what_if = args.switch("WhatIf");
        self.confirm = args.bool("Confirm");
        self.verbose = args.switch("Verbose");
        self.input.clear();
        self.input_view.clear();
        self.status = 0;
        self.changed_in_place = None;
    }

    /// Whether prompts may read the terminal.
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Whether prompts may read the terminal (a script read from standard input may not).
    pub fn set_interactive(&mut self, on: bool) {
        self.interactive = on;
    }

    /// The service store, opened (and created if new) on first use, once the signed-in
    /// account has proven who it is: every cmdlet that reads or changes the organization acts
    /// as an authenticated principal.
    pub fn store(&mut self) -> Result<&mut Store, CliError> {
        self.authenticate()?;
        self.open_store()
    }

    fn open_store(&mut self) -> Result<&mut Store, CliError> {
        if self.store.is_none() {
            let s = if self.store_at.is_url() {
                if let Some(e) = self.store_at.error() {
                    return Err(e.into());
                }
                let dir = self.data_dir();
                self.verbose(&format!(
                    "opening the PostgreSQL store {} with the data directory {}",
                    self.store_at.shown(),
                    dir.display()
                ));
                custkey::service::open::open_store(&self.store_at, &dir)?
            } else {
                if let Some(d) = &self.data_dir_given {
                    return Err(CliError::usage(format!(
                        "-DataDir {} is for a PostgreSQL store; the SQLite store {} keeps its files beside it",
                        d.display(),
                        self.store_path.display()
                    ))
                    .with_help("leave -DataDir out, or give -Store a postgres:// URL"));
                }
                self.check_store_folder()?;
                self.verbose(&format!("opening the store {}", self.store_path.display()));
                custkey::service::open::open_store(&self.store_at, &self.data_dir())?
            };
            self.store = Some(s);
        }
        match self.store.as_mut() {
            Some(s) => Ok(s),
            None => Err(CliError::new(Class::Internal, "the store was not opened")),
        }
    }

    /// A store named by -Store or CUSTKEY_STORE is created only in a folder that exists: a
    /// mistyped path must not quietly start a new organization somewhere else. (The default
    /// location's folders are created on first use.)
    fn check_store_folder(&self) -> Result<(), CliError> {
        let explicit =
            self.store_given || std::env::var_os("CUSTKEY_STORE").is_some_and(|p| !p.is_empty());
        if !explicit || self.store_at.is_url() || self.store_path.exists() {
            return Ok(());
        }
        match self.store_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(CliError::unavailable(format!(
                "there is no store at {}, and its folder {} does not exist",
                self.store_path.display(),
                dir.display()
            ))
            .with_help("check the path in -Store or CUSTKEY_STORE; to start a new store there, create the folder first (mkdir -p)")),
            _ => Ok(()),
        }
    }

    fn open_backend(&mut self) -> Result<Vaults, CliError> {
        if self.backend.is_none() {
            self.check_store_folder()?;
            let dir = self.data_dir();
            let b = Vaults::open(&dir)?;
            // Said once, when the vaults are first opened: a master key file moved out of the
            // data directory.
            for n in b.take_notices() {
                self.warn(&n);
            }
            self.backend = Some(b);
        }
        match self.backend.as_ref() {
            Some(b) => Ok(b.clone()),
            None => Err(CliError::new(Class::Internal, "the vaults were not opened")),
        }
    }

    /// The service keys, opened without asking who runs the command (authentication itself
    /// needs them: the principal registry is authenticated under the service master key).
    fn open_keys(&mut self) -> Result<(), CliError> {
        if self.keys.is_none() {
            let dir = self.data_dir();
            // The store first: a path that is no store is reported as such, before any key.
            self.open_store()?;
            let backend = self.open_backend()?;
            let store = self.open_store()?;
            let keys = backend.service_keys(&dir, store)?;
            self.keys = Some(keys);
        }
        Ok(())
    }

    /// Proves the signed-in account (or, on a fresh store, registers it as the owner).
    fn authenticate(&mut self) -> Result<(), CliError> {
        if self.principal.is_some() {
            return Ok(());
        }
        if let Some(s) = &self.serving {
            let (account, text, sig) = (s.account.clone(), s.text.clone(), s.signature.clone());
            self.open_keys()?;
            let (Some(store), Some(keys)) = (self.store.as_mut(), self.keys.as_ref()) else {
                return Err(CliError::new(Class::Internal, "the store was not opened"));
            };
            let who = principal::authenticate_request(
                store,
                keys,
                &account,
                serve::wire::NAMESPACE,
                &text,
                &sig,
            )?;
            self.principal = Some(who);
            return Ok(());
        }
        self.open_keys()?;
        let dir = self.data_dir();
        let (Some(store), Some(keys)) = (self.store.as_mut(), self.keys.as_ref()) else {
            return Err(CliError::new(Class::Internal, "the store was not opened"));
        };
        let upn = custkey::service::azure::account(store)?;
        let cred = principal::recorded_credential(store)?;
        let who = principal::authenticate(store, keys, &dir, &upn, &cred)?;
        self.note_bootstrap(&who);
        self.verbose(&format!("acting as {} (key {})", who.upn, who.fingerprint));
        self.principal = Some(who);
        Ok(())
    }

    fn note_bootstrap(&self, who: &Authenticated) {
        if let Some(path) = &who.bootstrapped {
            self.verbose(&format!(
                "registered {} as the owner of this organization, with the new key {}",
                who.upn,
                path.display()
            ));
        }
    }

    /// The principal this command acts as.
    pub fn principal(&mut self) -> Result<&Authenticated, CliError> {
        self.authenticate()?;
        match self.principal.as_ref() {
            Some(p) => Ok(p),
            None => Err(CliError::new(
                Class::Internal,
                "no principal was authenticated",
            )),
        }
    }

    /// `Connect-AzAccount`: proves `upn` with `cred`; later cmdlets (of this process, and of
    /// later ones through the store) act as it.
    pub fn connect(&mut self, upn: &str, cred: &Credential) -> Result<&Authenticated, CliError> {
        if self.serving.is_some() {
            return Err(CliError::usage("the service signs nobody in: each request is signed by its account's key")
                .with_help("sign in on your own machine: custkey Connect-AzAccount -AccountId you@contoso.com -KeyFile <key>"));
        }
        self.open_keys()?;
        let dir = self.data_dir();
        let (Some(store), Some(keys)) = (self.store.as_mut(), self.keys.as_ref()) else {
            return Err(CliError::new(Class::Internal, "the store was not opened"));
        };
        let who = principal::connect(store, keys, &dir, upn, cred)?;
        self.note_bootstrap(&who);
        self.azure = None;
        self.principal = Some(who);
        self.principal()
    }

    /// The Azure side (local vaults in the data directory), as the signed-in account.
    pub fn azure(&mut self) -> Result<AzureSession<'_>, CliError> {
        self.open_azure()?;
        match (self.azure.as_ref(), self.store.as_mut()) {
            (Some(a), Some(s)) => Ok(a.with(s)),
            _ => Err(CliError::new(Class::Internal, "the vaults were not opened")),
        }
    }

    fn open_azure(&mut self) -> Result<&Azure, CliError> {
        if self.azure.is_none() {
            self.authenticate()?;
            let upn = self.principal()?.upn.clone();
            let backend = self.open_backend()?;
            let dir = self.data_dir();
            let record = match self.keys.as_ref() {
                Some(k) => k.record_key().clone(),
                None => {
                    return Err(CliError::new(
                        Class::Internal,
                        "the service keys were not opened",
                    ))
                }
            };
            let store = self.open_store()?;
            let az = backend.azure(record, store, &upn)?;
            self.verbose(&format!(
                "vaults in {} as {}",
                dir.join("vaults").display(),
                az.caller.display_name()
            ));
            self.azure = Some(az);
        }
        match self.azure.as_ref() {
            Some(a) => Ok(a),
            None => Err(CliError::new(Class::Internal, "the vaults were not opened")),
        }
    }

    /// The store with the service's keys (service master key, vaults as the Exchange service).
    pub fn service(&mut self) -> Result<(&mut Store, &mut ServiceKeys), CliError> {
        self.authenticate()?;
        match (self.store.as_mut(), self.keys.as_mut()) {
            (Some(s), Some(k)) => Ok((s, k)),
            _ => Err(CliError::new(
                Class::Internal,
                "the service keys were not opened",
            )),
        }
    }

    /// The store, the service keys and the principal the command acts as, together.
    pub fn acting(&mut self) -> Result<(&mut Store, &mut ServiceKeys, &Authenticated), CliError> {
        self.authenticate()?;
        match (
            self.store.as_mut(),
            self.keys.as_mut(),
            self.principal.as_ref(),
        ) {
            (Some(s), Some(k), Some(p)) => Ok((s, k, p)),
            _ => Err(CliError::new(
                Class::Internal,
                "the service keys were not opened",
            )),
        }
    }

    /// The directory beside the store that holds vault files and other state; for a store
    /// that is not a file (PostgreSQL), `CUSTKEY_DATA_DIR`, else the default store's directory.
    pub fn data_dir(&self) -> PathBuf {
        if self.store_at.is_url() {
            return self.data_dir_given.clone().unwrap_or_else(data_dir_for_url);
        }
        match self.store_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub fn verbose(&self, msg: &str) {
        if self.verbose && !self.note("verbose", msg) {
            eprintln!("VERBOSE: {msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        if !self.note("warning", msg) {
            error::warn_line(msg);
        }
    }

    /// A line for the operator on standard error (in the service: in the reply, for the
    /// client's standard error).
    pub fn info(&self, msg: &str) {
        if !self.note("info", msg) {
            eprintln!("{msg}");
        }
    }

    /// Writes a report a cmdlet prints before it fails (the checks of an onboarding request):
    /// on standard output here, or, in the service, in the reply for the client's standard
    /// output.
    pub fn write_report(&self, text: &str) -> Result<(), CliError> {
        if self.note("output", text) {
            return Ok(());
        }
        write_out(text)
    }

    /// In the service, keeps a line for the reply (true); elsewhere does nothing (false).
    fn note(&self, stream: &str, msg: &str) -> bool {
        match self.serving.as_ref() {
            Some(s) => {
                s.messages.borrow_mut().push(serve::wire::Message {
                    stream: stream.into(),
                    text: msg.into(),
                });
                true
            }
            None => false,
        }
    }

    /// Prints the warnings the service gathered while the cmdlet ran (damaged key copies that
    /// reads went around), each as a `WARNING:` line.
    pub fn flush_warnings(&self) {
        let taken = self
            .keys
            .as_ref()
            .map(|k| k.take_warnings())
            .unwrap_or_default();
        for w in taken {
            self.warn(&w);
        }
    }

    /// PowerShell's ShouldProcess: under -WhatIf says what would happen and returns false;
    /// prompts when -Confirm is given, or for a destructive cmdlet unless
    /// -Confirm:$false or `force`. Without a terminal a needed prompt is an error.
    pub fn should_process(
        &mut self,
        target: &str,
        action: &str,
        force: bool,
    ) -> Result<bool, CliError> {
        let impact = self.cmdlet.impact;
        self.should_process_as(impact, target, action, force)
    }

    /// Whether [`Ctx::should_process`] would let every object of this cmdlet through without a
    /// word: no -WhatIf, and no prompt (-Confirm not given, or -Confirm:$false, and the cmdlet
    /// is not destructive).
    pub fn asks_nothing(&self) -> bool {
        !self.what_if
            && match self.confirm {
                Some(c) => !c,
                None => self.cmdlet.impact != Impact::High,
            }
    }

    /// [`Ctx::call`] for many objects at once through the cmdlet's batch form
    /// ([`cmdlets::Batch`]); a cmdlet without one runs once per object.
    pub fn call_batch(&mut self, cmdlet: &'static Cmdlet, all: &[Args]) -> cmdlets::Batched {
        self.nested(cmdlet, |ctx| {
            if let Err(e) = gate::check(ctx, cmdlet) {
                return cmdlets::Batched {
                    outputs: Vec::new(),
                    failed: Some(e),
                };
            }
            match cmdlets::batch(cmdlet) {
                Some(run) => run(ctx, all),
                None => {
                    let mut b = cmdlets::Batched::default();
                    b.each(ctx, all, cmdlet.run);
                    b
                }
            }
        })
    }

    /// [`Ctx::should_process`] for an action whose impact differs from the cmdlet's usual one
    /// (`Set-DataEncryptionPolicy -PermanentDataPurgeRequested` is destructive).
    pub fn should_process_as(
        &mut self,
        impact: Impact,
        target: &str,
        action: &str,
        force: bool,
    ) -> Result<bool, CliError> {
        if self.what_if {
            let line =
                format!("What if: Performing the operation \"{action}\" on target \"{target}\".");
            if !self.note("info", &line) {
                eprintln!("{line}");
            }
            return Ok(false);
        }
        let ask = match self.confirm {
            Some(c) => c,
            None => impact == Impact::High && !force,
        };
        if !ask {
            return Ok(true);
        }
        // In the service the operator is asked on the client, which sends the invocation
        // again once they have said yes.
        if let Some(s) = self.serving.as_mut() {
            if s.confirmed {
                return Ok(true);
            }
            s.confirm = Some(serve::wire::Confirm {
                action: action.to_string(),
                target: target.to_string(),
            });
            return Err(CliError::usage(format!(
                "{} needs confirmation to perform \"{action}\" on \"{target}\"",
                self.cmdlet.name
            )));
        }
        self.ask(target, action)
    }

    /// Asks the operator at the terminal (or takes an earlier "to All" answer).
    fn ask(&mut self, target: &str, action: &str) -> Result<bool, CliError> {
        // An earlier "Yes to All" or "No to All" in this script or shell answers the rest.
        if let Some(all) = self.answer_all {
            return Ok(all);
        }
        if !self.interactive {
            return Err(CliError::usage(format!(
                "{} needs confirmation to perform \"{action}\" on \"{target}\", and standard input is not a terminal.",
                self.cmdlet.name
            ))
            .with_help("add -Confirm:$false (in bash: -Confirm:false) or -Force to proceed without a prompt"));
        }
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\nConfirm\nAre you sure you want to perform this action?\nPerforming the operation \"{action}\" on target \"{target}\".\n"
        );
        loop {
            let _ = write!(
                err,
                "[Y] Yes  [A] Yes to All  [N] No  [L] No to All  [S] Suspend  [?] Help (default is \"N\"): "
            );
            let _ = err.flush();
            let mut line = String::new();
            let n = std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::unavailable(format!("cannot read the answer: {e}")))?;
            let answer = line.trim().to_ascii_lowercase();
            let yes = match answer.as_str() {
                "y" | "yes" => true,
                "a" | "yes to all" => {
                    self.answer_all = Some(true);
                    true
                }
                "" | "n" | "no" => false,
                "l" | "no to all" => {
                    self.answer_all = Some(false);
                    false
                }
                "s" | "suspend" => {
                    let _ = writeln!(err, "Suspend opens no nested prompt here: answer Y or N (nothing was changed yet).");
                    continue;
                }
                "?" => {
                    let _ = writeln!(
                        err,
                        "Y - Continue with only this operation.\nA - Continue with this and every later operation of this command.\nN - Skip this operation (the default).\nL - Skip this and every later operation of this command.\nS - Not available here.\n"
                    );
                    continue;
                }
                _ if n == 0 => false,
                other => {
                    let _ = writeln!(err, "'{other}' is not an answer.");
                    continue;
                }
            };
            if !yes {
                eprintln!("Cancelled: nothing was changed.");
            }
            return Ok(yes);
        }
    }
}

/// The data directory of a store that is not a file: `CUSTKEY_DATA_DIR`, else the directory
/// of the default store (`$XDG_DATA_HOME/custkey`).
pub fn data_dir_for_url() -> PathBuf {
    if let Some(d) = std::env::var_os("CUSTKEY_DATA_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(d);
    }
    default_data_dir()
}

/// -DataDir, if given.
fn data_dir_arg(args: &Args) -> Option<PathBuf> {
    args.str("DataDir")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// -Store, else $CUSTKEY_STORE, else $XDG_DATA_HOME/custkey/service.db, else ~/.local/share/custkey/service.db.
pub fn store_path(given: Option<&str>) -> PathBuf {
    if let Some(p) = given.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("CUSTKEY_STORE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    default_data_dir().join("service.db")
}

/// $XDG_DATA_HOME/custkey, else ~/.local/share/custkey: the default store's directory.
pub(crate) fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("custkey")
}

/// Finds a cmdlet by name: case-insensitive, hyphen-insensitive; no abbreviations
/// (PowerShell does not abbreviate cmdlet names).
pub fn find_cmdlet(name: &str) -> Option<&'static Cmdlet> {
    // Built once: a plan of 10,000 steps looks its cmdlet up for each.
    static BY_NAME: std::sync::OnceLock<std::collections::HashMap<String, &'static Cmdlet>> =
        std::sync::OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        cmdlets::all()
            .into_iter()
            .map(|c| (norm(c.name), c))
            .collect()
    });
    by_name.get(&norm(name)).copied()
}

pub(crate) fn unknown_cmdlet(name: &str) -> CliError {
    let all = cmdlets::all();
    let near = suggestions(name, all.iter().map(|c| c.name));
    let err = CliError::usage(format!(
        "The term '{name}' is not recognized as a name of a cmdlet."
    ));
    match near.as_slice() {
        [] => err.with_help("run 'custkey Get-Command' to list the cmdlets"),
        some => err.with_help(format!("did you mean {}?", some.join(" or "))),
    }
}

/// `custkey -Store X Get-Mailbox`: a common parameter before the cmdlet. Says where it goes,
/// with the command line rewritten, instead of "not recognized".
fn common_parameter_first(words: &[String]) -> Option<CliError> {
    const COMMON: &[&str] = &[
        "Store", "Format", "Property", "WhatIf", "Confirm", "Verbose",
    ];
    let first = words.first()?;
    let name = first.trim_start_matches('-');
    let name = name.split(':').next().unwrap_or(name);
    if !first.starts_with('-') {
        return None;
    }
    let param = COMMON.iter().find(|c| norm(c) == norm(name))?;
    let takes_value = matches!(*param, "Store" | "Format" | "Property") && !first.contains(':');
    let n = if takes_value { 2 } else { 1 };
    let moved = &words[n.min(words.len())..];
    let cmdlet = moved.first().filter(|w| find_cmdlet(w).is_some());
    let help = match cmdlet {
        Some(c) => {
            let mut line = vec!["custkey".to_string(), c.clone()];
            line.extend(moved[1..].iter().cloned());
            line.extend(words[..n.min(words.len())].iter().cloned());
            let quoted: Vec<String> = line
                .iter()
                .map(|w| {
                    if w.is_empty()
                        || w.contains(|c: char| c.is_whitespace() || "'\"$`;|&".contains(c))
                    {
                        format!("'{}'", w.replace('\'', "'\\''"))
                    } else {
                        w.clone()
                    }
                })
                .collect();
            format!("write: {}", quoted.join(" "))
        }
        None => format!("write: custkey <Cmdlet> ... -{param} ..."),
    };
    Some(
        CliError::usage(format!(
            "-{param} is a common parameter: it goes after the cmdlet's name, not before it"
        ))
        .with_help(help),
    )
}

const USAGE: &str = "custkey: service encryption with Customer Key, driven by PowerShell-style cmdlets.

Usage: custkey <Cmdlet> [-Parameter value ...]

  custkey Get-Command                       list the cmdlets
  custkey Get-Help <Cmdlet> [-Full]         a cmdlet's parameters and examples
  custkey Get-OrganizationConfig            the organization in the store

Common parameters: -Store PATH, -Format Table|List|Json|Csv, -Property a,b, -WhatIf, -Confirm, -Verbose.
Exit codes: 0 ok, 1 cmdlet failed, 2 usage error, 3 store or vault unreachable, 4 changes pending,
5 drift (rollout), 70 internal error.
";

/// Runs one command line; returns the process exit code.
pub fn main(argv: Vec<String>) -> i32 {
    install_panic_hook();
    progress::install();
    // Every knob that must parse is checked once, before anything runs (exit 2).
    if let Err(e) = custkey::input::check_environment() {
        let help = e.help();
        let err = CliError::usage(e.to_string()).with_help(help);
        error::report(&err);
        return err.class.exit_code();
    }
    if let Some(code) = script_entry(&argv) {
        return code;
    }
    match run(&argv) {
        Ok(code) => code,
        Err(e) => {
            error::report(&e);
            e.class.exit_code()
        }
    }
}

/// The script entry points: `-Command TEXT`, `-File PATH [args]`, a script on standard
/// input, and the interactive shell. `None`: not a script; run one cmdlet.
fn script_entry(argv: &[String]) -> Option<i32> {
    let Some(first) = argv.get(1) else {
        if std::io::stdin().is_terminal() {
            return Some(script::shell::run());
        }
        // Standard input is a pipe or a file: a script, unless it is empty (then usage).
        let text = match script::read_stdin() {
            Ok(t) => t,
            Err(code) => return Some(code),
        };
        if text.trim().is_empty() {
            return None;
        }
        return Some(script::run_text(&text, "<stdin>", Vec::new(), false));
    };
    let usage = |msg: &str, help: &str| {
        eprintln!("{}", CliError::usage(msg).with_help(help));
        Some(2)
    };
    match first.to_ascii_lowercase().as_str() {
        "-command" | "-c" | "--command" => {
            let text = argv[2..].join(" ");
            if text.trim() == "-" {
                let text = match script::read_stdin() {
                    Ok(t) => t,
                    Err(code) => return Some(code),
                };
                return Some(script::run_text(&text, "<stdin>", Vec::new(), false));
            }
            if text.trim().is_empty() {
                return usage(
                    "-Command needs the script text.",
                    "custkey -Command 'Get-Mailbox | Select-Object -ExpandProperty Name'",
                );
            }
            Some(script::run_text(&text, "<command>", Vec::new(), true))
        }
        "-file" | "-f" | "--file" => match argv.get(2) {
            Some(path) => Some(script::run_file(path, argv[3..].to_vec())),
            None => usage(
                "-File needs the path of a script.",
                "custkey -File ./setup.ps1 [arguments]",
            ),
        },
        _ => None,
    }
}

fn run(argv: &[String]) -> Result<i32, CliError> {
    let Some(first) = argv.get(1) else {
        write_out(USAGE)?;
        return Ok(0);
    };
    match first.as_str() {
        // `custkey help Get-Mailbox`, `custkey --help Get-Mailbox`: that cmdlet's help.
        "-?" | "-h" | "--help" | "-Help" | "help" if argv.len() > 2 => {
            let name = &argv[2];
            let cmdlet = find_cmdlet(name).ok_or_else(|| unknown_cmdlet(name))?;
            write_out(&help::page(cmdlet, help::Detail::Full))?;
            return Ok(0);
        }
        "-?" | "-h" | "--help" | "-Help" | "help" => {
            write_out(USAGE)?;
            return Ok(0);
        }
        "--version" | "-Version" => {
            write_out(&format!("custkey {}\n", env!("CARGO_PKG_VERSION")))?;
            return Ok(0);
        }
        "__complete" => return complete::run(&argv[2..]).map(|()| 0),
        "__generate" => return generate::run(&argv[2..]).map(|()| 0),
        // Lets the tests prove that a bug reaches the operator as a short message.
        #[cfg(debug_assertions)]
        "__panic" => panic!("deliberate panic for testing the panic hook"),
        _ => {}
    }
    if let Some(e) = common_parameter_first(&argv[1..]) {
        return Err(e);
    }
    let cmdlet = find_cmdlet(first).ok_or_else(|| unknown_cmdlet(first))?;
    let words = &argv[2..];
    if words.iter().any(|w| w == "-?" || w == "--help") {
        write_out(&help::page(cmdlet, help::Detail::Full))?;
        return Ok(0);
    }
    let args = args::bind(cmdlet, words)?;
    let mut ctx = Ctx::new(cmdlet, &args)?;
    let out = ctx.run_cmdlet(cmdlet, &args);
    ctx.flush_warnings();
    emit(&ctx, cmdlets::view(cmdlet, &args), out?)?;
    Ok(ctx.status)
}

/// Writes text to standard output; a closed pipe is not an error.
pub(crate) fn write_out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::unavailable(format!(
            "cannot write the output: {e}"
        ))),
    }
}

fn emit(ctx: &Ctx, view: &[&str], out: Output) -> Result<(), CliError> {
    let text = match out {
        Output::None => return Ok(()),
        Output::Text(t) => t,
        Output::Values(items) => output::render_values(
            &items,
            view,
            ctx.form,
            ctx.properties.as_deref(),
            terminal_width(),
        )?,
        Output::Objects(items) => output::render(
            &items,
            view,
            ctx.form,
            ctx.properties.as_deref(),
            terminal_width(),
        )?,
        Output::List(items) => output::render_as(
            &items,
            view,
            ctx.form,
            ctx.properties.as_deref(),
            terminal_width(),
            true,
        )?,
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::unavailable(format!(
            "cannot write the output: {e}"
        ))),
    }
}

/// The width to fit tables to: $COLUMNS, else the terminal's, else unlimited (pipes).
pub(crate) fn terminal_width() -> Option<u16> {
    // Checked at the start (`custkey::input::check_environment`): 1 to 65535.
    if let Ok(Some(c)) = custkey::input::env_int("COLUMNS", 1, i64::from(u16::MAX), "columns") {
        return u16::try_from(c).ok();
    }
    if std::io::stdout().is_terminal() {
        return comfy_table::Table::new().width();
    }
    None
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {msg}{at}");
        eprintln!("help: this is a bug in custkey; nothing more was written. Please report it with the command you ran.");
        if custkey::input::switch_on("CUSTKEY_BACKTRACE") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        std::process::exit(Class::Internal.exit_code());
    }));
}
