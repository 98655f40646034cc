//! New-AzADUser, Get-AzADUser, Remove-AzADUser: the accounts of the organization and the
//! OpenSSH keys they prove themselves with.

use custkey::service::principal::{self, PrincipalInfo};

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::wildcard;
use crate::cli::Ctx;

const TABLE: &[&str] = &["UserPrincipalName", "DisplayName", "Fingerprint", "IsOwner"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-AzADUser",
        module: "Az.Resources",
        synopsis: "Registers an account with the OpenSSH public key it proves itself with.",
        description: "Registers a user principal: its name and the Ed25519 public key (as ssh-keygen writes it) that \
Connect-AzAccount later checks. Only the organization's owner registers accounts. A key registers one account: two \
accounts with one key would be one person. The registration is authenticated under the service master key, so a \
change made to the store by anyone else grants nothing. Audited (Add user).",
        params: &[
            Param::new("UserPrincipalName", Kind::String, "The account: user@domain.")
                .position(0)
                .required(),
            Param::new("DisplayName", Kind::String, "The name shown. Default: the account."),
            Param::new("PublicKeyFile", Kind::Path, "The account's OpenSSH public key file (<key>.pub).").reads_files(),
            Param::new("PublicKey", Kind::String, "The public key itself: 'ssh-ed25519 AAAA... comment'."),
        ],
        examples: &[Example {
            title: "Register a second data purge approver",
            code: "ssh-keygen -t ed25519 -f ciso -C ciso@contoso.com\ncustkey New-AzADUser -UserPrincipalName ciso@contoso.com -DisplayName \"CISO\" -PublicKeyFile ciso.pub",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-AzADUser",
        module: "Az.Resources",
        synopsis: "Shows the registered accounts and their key fingerprints.",
        description: "Shows the registered accounts: name, display name, key fingerprint (as ssh-keygen -l prints it) \
and whether the account is the organization's owner. An entry altered in the store is an error naming it.",
        params: &[Param::new("UserPrincipalName", Kind::String, "One account (wildcards allowed); all when omitted.")
            .position(0)],
        examples: &[Example {
            title: "Who may sign in?",
            code: "custkey Get-AzADUser",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Remove-AzADUser",
        module: "Az.Resources",
        synopsis: "Removes a registered account: it can no longer sign in.",
        description: "Removes an account's registration; later commands signed in as it are refused. The owner \
cannot be removed. Audited (Delete user).",
        params: &[Param::new("UserPrincipalName", Kind::String, "The account.")
            .position(0)
            .required()],
        examples: &[Example {
            title: "An approver leaves",
            code: "custkey Remove-AzADUser -UserPrincipalName ciso@contoso.com -Confirm:false",
            output: "",
            remarks: "",
        }],
        impact: Impact::High,
        table: TABLE,
        run: remove,
    },
];

fn out(users: Vec<PrincipalInfo>) -> Result<Output, CliError> {
    Ok(Output::many(
        users.iter().map(record).collect::<Result<_, _>>()?,
    ))
}

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let upn = args
        .str("UserPrincipalName")
        .unwrap_or_default()
        .to_string();
    let key = match (args.str("PublicKeyFile"), args.str("PublicKey")) {
        (Some(_), Some(_)) => {
            return Err(
                CliError::usage("-PublicKeyFile and -PublicKey cannot be used together")
                    .with_help("give the key once"),
            )
        }
        (Some(path), None) => {
            let bytes = custkey::input::read_file_limited(
                std::path::Path::new(path),
                custkey::identity::MAX_KEY_FILE_BYTES,
            )
            .map_err(|e| {
                CliError::usage(format!("cannot read the public key file {path}: {e}"))
                    .with_help("give the .pub file ssh-keygen wrote")
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        (None, Some(k)) => k.to_string(),
        (None, None) => {
            return Err(
                CliError::usage("New-AzADUser needs the account's public key")
                    .with_help("add -PublicKeyFile <key>.pub (made with ssh-keygen -t ed25519)"),
            )
        }
    };
    if !ctx.should_process(&upn, "New-AzADUser", false)? {
        return Ok(Output::None);
    }
    let display = args.str("DisplayName").unwrap_or_default().to_string();
    let (store, keys, actor) = ctx.acting()?;
    let u = principal::register(store, keys, actor, &upn, &display, &key)?;
    out(vec![u])
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (store, keys, _) = ctx.acting()?;
    let mut users = principal::list(store, keys)?;
    if let Some(pat) = args.str("UserPrincipalName") {
        users.retain(|u| wildcard::wildcard(pat, &u.upn));
        if users.is_empty() && !pat.contains(['*', '?']) {
            return Err(CliError::failed(format!("no account {pat} is registered"))
                .with_help("Get-AzADUser lists the registered accounts"));
        }
    }
    out(users)
}

fn remove(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let upn = args
        .str("UserPrincipalName")
        .unwrap_or_default()
        .to_string();
    if !ctx.should_process(&upn, "Remove-AzADUser", false)? {
        return Ok(Output::None);
    }
    let (store, keys, actor) = ctx.acting()?;
    principal::remove(store, keys, actor, &upn)?;
    Ok(Output::None)
}
