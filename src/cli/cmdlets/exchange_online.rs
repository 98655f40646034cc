//! Connect-ExchangeOnline, Disconnect-ExchangeOnline: the Exchange admin session the guides open
//! first. The same sign-in as Connect-AzAccount (one signed-in account acts for every module).

use custkey::service::principal::Credential;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Connect-ExchangeOnline",
        module: "ExchangeOnlineManagement",
        synopsis: "Signs in to Exchange Online as a registered account, proven by its OpenSSH key.",
        description: "The Exchange Online module's sign-in, as the guides run it before the DEP cmdlets: the account \
(-UserPrincipalName) proves it holds its registered key, from -KeyFile or ssh-agent, exactly as Connect-AzAccount does; \
later cmdlets of every module act as it. Without -UserPrincipalName the signed-in account (or the store's owner) \
proves itself again. -ShowBanner, -Organization and -ShowProgress are accepted as the module takes them and change \
nothing: custkey has one organization a store.",
        params: &[
            Param::new("UserPrincipalName", Kind::String, "The admin account, e.g. admin@contoso.onmicrosoft.com.").position(0),
            Param::new("KeyFile", Kind::Path, "The account's OpenSSH private key file (custkey: the proof of the sign-in)."),
            Param::new("UseSshAgent", Kind::Switch, "Sign with the key held by ssh-agent (SSH_AUTH_SOCK)."),
            Param::new("ShowBanner", Kind::Switch, "Accepted, as the module takes it (custkey prints no banner)."),
            Param::new("ShowProgress", Kind::Bool, "Accepted, as the module takes it."),
            Param::new("Organization", Kind::String, "Accepted: the store's organization is the one custkey serves."),
        ],
        examples: &[Example {
            title: "Sign in as the guides do",
            code: "custkey Connect-ExchangeOnline -UserPrincipalName admin@contoso.onmicrosoft.com -ShowBanner:false",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: &[],
        run: connect,
    },
    Cmdlet {
        name: "Disconnect-ExchangeOnline",
        module: "ExchangeOnlineManagement",
        synopsis: "Ends the Exchange Online session (custkey: nothing to close; -Confirm:$false as the guides write it).",
        description: "Accepted as the guides run it at the end of a session. The signed-in account stays signed in for \
the other modules; sign in as another account with Connect-AzAccount or Connect-ExchangeOnline.",
        params: &[],
        examples: &[Example {
            title: "End the session",
            code: "custkey Disconnect-ExchangeOnline -Confirm:false",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &[],
        run: disconnect,
    },
];

fn connect(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let cred = super::az_account::credential(args)?;
    match args.str("UserPrincipalName") {
        Some(upn) => {
            let upn = upn.to_string();
            if !ctx.should_process(&upn, "Connect-ExchangeOnline", false)? {
                return Ok(Output::None);
            }
            if ctx.connect_remote(&upn, &cred)?.is_some() {
                return Ok(Output::None);
            }
            ctx.connect(&upn, &cred)?;
        }
        None if !matches!(cred, Credential::Default) => {
            return Err(CliError::usage("-KeyFile and -UseSshAgent prove an account: name it with -UserPrincipalName")
                .with_help("custkey Connect-ExchangeOnline -UserPrincipalName admin@contoso.onmicrosoft.com -KeyFile <key>"))
        }
        // The account already signed in proves itself (every command does); against a
        // service, by a request signed with its key.
        None if ctx.is_remote() => {
            let c = crate::cli::find_cmdlet("Get-AzContext")
                .ok_or_else(|| CliError::new(crate::cli::error::Class::Internal, "the definition table is incomplete"))?;
            ctx.run_cmdlet(c, &Args::default()).map(|_| ())?
        }
        None => ctx.service().map(|_| ())?,
    }
    Ok(Output::None)
}

fn disconnect(_ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    Ok(Output::None)
}
