//! Export-AzKeyVaultSecurityDomain, Import-AzKeyVaultSecurityDomain.
//!
//! A Managed HSM is activated by downloading its security domain: its domain key split by
//! Shamir secret sharing among 3 to 10 RSA certificates, each share RSA-OAEP-256 encrypted to
//! one certificate, any quorum of which rebuild it (crypto/security_domain.rs). Importing the
//! file with a quorum of the private keys into a new HSM gives it the same domain, so key
//! backups of the old HSM restore there (docs/vaults.md §13).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{Output, Record};
use crate::cli::Ctx;

use super::az_key_vault::vault_names;

const TABLE: &[&str] = &["Value"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Export-AzKeyVaultSecurityDomain",
        module: "Az.KeyVault",
        synopsis: "Exports the security domain data of a managed HSM.",
        description: "Downloads a Managed HSM's security domain, which activates a new HSM (SecurityDomain.ActivationStatus \
becomes Active; until then its keys cannot be created or used). The file holds the HSM's domain key split by Shamir \
secret sharing into one share per certificate, each share encrypted (RSA-OAEP-256) to that certificate's RSA public key: \
any -Quorum of the certificates' private keys open it, fewer open nothing. At least 3 certificates (Azure's minimum) \
and at most 10, RSA 2048-4096; a quorum of at least 2 and at most the number of certificates. Keep the file and the private keys \
apart: together, a quorum of them give the HSM's domain to another HSM (Import-AzKeyVaultSecurityDomain), which is how \
an HSM is recovered. Needs the local role Managed HSM Administrator.",
        params: &[
            Param::new("Name", Kind::String, "The Managed HSM's name.")
                .required()
                .aliases(&["HsmName"])
                .complete(vault_names),
            Param::new("Certificates", Kind::StringList, "Paths to the certificates (.cer, PEM or DER) whose RSA public keys encrypt the shares (3 to 10).").reads_files().required(),
            Param::new("OutputPath", Kind::Path, "Where to write the security-domain file.").writes_files().required(),
            Param::new("Quorum", Kind::Int { min: 0, max: 1_000 }, "How many of the private keys open the file (2 to the number of certificates).").required(),
            Param::new("Force", Kind::Switch, "Replace an existing -OutputPath file."),
            Param::new("PassThru", Kind::Switch, "Write True to the output on success."),
        ],
        examples: &[Example {
            title: "Activate a new Managed HSM with three key pairs, any two of which recover it",
            code: "custkey Export-AzKeyVaultSecurityDomain -Name contoso-ck-hsm1 -Certificates sd1.cer,sd2.cer,sd3.cer -OutputPath sd.ps.json -Quorum 2",
            output: "",
            remarks: "Make each key pair first: openssl req -newkey rsa:2048 -nodes -keyout sd1.key -x509 -days 365 -out sd1.cer -subj /CN=sd1",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: export,
    },
    Cmdlet {
        name: "Import-AzKeyVaultSecurityDomain",
        module: "Az.KeyVault",
        synopsis: "Imports previously exported security domain data to a managed HSM.",
        description: "Opens a security-domain file with a quorum of the private keys it was exported to and gives its domain to \
a new Managed HSM (one not yet activated), which is then Active: key backups made in the HSM the file came from \
(Backup-AzKeyVaultKey -HsmName) restore into it with Restore-AzKeyVaultKey -HsmName, and no HSM of another domain can \
restore them. -Keys takes hashtables @{PublicKey = '<certificate>'; PrivateKey = '<PEM private key>'}, one per key pair. \
A file that was altered, keys of another domain or fewer keys than the quorum are refused and nothing changes. Needs the \
local role Managed HSM Administrator. The -Keys files are read where the cmdlet runs (on a service, its machine).",
        params: &[
            Param::new("Name", Kind::String, "The Managed HSM's name.")
                .required()
                .aliases(&["HsmName"])
                .complete(vault_names),
            Param::new("Keys", Kind::Object, "The key pairs that open the file: @{PublicKey = 'sd1.cer'; PrivateKey = 'sd1.key'}, ... (at least the quorum). Read on the machine that runs the cmdlet: against a service, run it in embedded mode on the service's machine.").host_files().required(),
            Param::new("SecurityDomainPath", Kind::Path, "The security-domain file Export-AzKeyVaultSecurityDomain wrote.").reads_files().required().aliases(&["Path"]),
            Param::new("PassThru", Kind::Switch, "Write True to the output on success."),
        ],
        examples: &[Example {
            title: "Recover: give a new HSM the security domain of the one it replaces",
            code: "custkey -Command \"Import-AzKeyVaultSecurityDomain -Name contoso-ck-hsm2 -Keys @{PublicKey='sd1.cer'; PrivateKey='sd1.key'}, @{PublicKey='sd2.cer'; PrivateKey='sd2.key'} -SecurityDomainPath sd.ps.json\"",
            output: "",
            remarks: "Then Restore-AzKeyVaultKey -HsmName contoso-ck-hsm2 -InputFile <a backup from contoso-ck-hsm1>.",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: import,
    },
];

/// As Azure: nothing on success, or True with -PassThru.
fn passthru(args: &Args) -> Output {
    if !args.switch("PassThru") {
        return Output::None;
    }
    let mut r = Record::new();
    r.insert("Value".into(), json!(true));
    Output::one(r)
}

fn export(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    let certs: Vec<PathBuf> = args
        .list("Certificates")
        .unwrap_or_default()
        .iter()
        .map(PathBuf::from)
        .collect();
    let out = PathBuf::from(args.str("OutputPath").unwrap_or_default());
    let quorum = args.int("Quorum").unwrap_or_default();
    if !ctx.should_process(name, "Export-AzKeyVaultSecurityDomain", false)? {
        return Ok(Output::None);
    }
    ctx.azure()?
        .export_security_domain(name, &certs, quorum, &out, args.switch("Force"))?;
    Ok(passthru(args))
}

/// `-Keys` as Azure takes it: hashtables with PublicKey and PrivateKey (one, or an array).
fn key_paths(v: Option<&Value>) -> Result<Vec<(PathBuf, PathBuf)>, CliError> {
    let help = "give -Keys @{PublicKey='sd1.cer'; PrivateKey='sd1.key'}, @{PublicKey='sd2.cer'; PrivateKey='sd2.key'}";
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(x) => vec![x],
    };
    if items.is_empty() {
        return Err(CliError::usage("-Keys names no key pair").with_help(help));
    }
    items
        .into_iter()
        .map(|item| {
            let Value::Object(o) = item else {
                return Err(CliError::usage(
                    "-Keys takes hashtables with PublicKey and PrivateKey (file paths)",
                )
                .with_help(help));
            };
            let field = |f: &str| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(f))
                    .and_then(|(_, v)| v.as_str())
                    .filter(|s| !s.trim().is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| {
                        CliError::usage(format!("a -Keys entry has no {f} (a file path)"))
                            .with_help(help)
                    })
            };
            Ok((field("PublicKey")?, field("PrivateKey")?))
        })
        .collect()
}

fn import(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let name = args.str("Name").unwrap_or_default();
    let keys = key_paths(args.object("Keys"))?;
    let path = PathBuf::from(args.str("SecurityDomainPath").unwrap_or_default());
    if !ctx.should_process(name, "Import-AzKeyVaultSecurityDomain", false)? {
        return Ok(Output::None);
    }
    ctx.azure()?.import_security_domain(name, &keys, &path)?;
    Ok(passthru(args))
}
