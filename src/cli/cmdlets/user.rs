//! Set-User: -ClearDataEncryptionPolicy.

use custkey::model::RecipientScope;
use custkey::service::mailbox as encryption;
use custkey::service::recipient;

use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

fn recipient_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| recipient::names(&mut s, RecipientScope::All, &ctx.partial))
        .unwrap_or_default()
}

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Set-User",
    module: "ExchangeOnlineManagement",
    synopsis: "With -ClearDataEncryptionPolicy, removes a recipient's data encryption policy (Microsoft-managed keys).",
    description: "Microsoft's reference lists -ClearDataEncryptionPolicy without describing it. custkey defines it as \
clearing the recipient's DEP assignment, exactly as Set-Mailbox (or Set-MailUser, Set-UnifiedGroup) -DataEncryptionPolicy \
'$null' does: the mailbox keys are re-wrapped under the tenant's multi-workload DEP if there is one, else the built-in \
Microsoft-managed DEP; no content is touched. It works on any recipient: user, shared, group and public-folder mailboxes and \
mail users. A recipient without a customer DEP is left as it is.",
    params: &[
        Param::new("Identity", Kind::String, "The recipient: name, alias, address, UPN or GUID.")
            .position(0)
            .required()
            .complete(recipient_names),
        Param::new("ClearDataEncryptionPolicy", Kind::Switch, "Remove the recipient's data encryption policy."),
    ],
    examples: &[Example {
        title: "Return a mailbox to Microsoft-managed keys",
        code: "custkey Set-User -Identity alice -ClearDataEncryptionPolicy",
        output: "",
        remarks: "The same as Set-Mailbox alice -DataEncryptionPolicy '$null'.",
    }],
    impact: Impact::Medium,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    if !args.switch("ClearDataEncryptionPolicy") {
        return Err(
            CliError::usage("Set-User was given nothing to change.").with_help(
                "give -ClearDataEncryptionPolicy to remove the recipient's data encryption policy",
            ),
        );
    }
    if !ctx.should_process(&id, ctx.cmdlet.name, false)? {
        return Ok(Output::None);
    }
    let cmdlet = ctx.cmdlet.name;
    let (store, keys) = ctx.service()?;
    encryption::assign(store, keys, &[id], RecipientScope::All, None, cmdlet)?;
    Ok(Output::None)
}
