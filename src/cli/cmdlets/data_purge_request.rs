//! Approve-DataPurgeRequest: the second person's approval that crypto-shreds a DEP.

use custkey::service::lifecycle;

use super::data_encryption_policy::dep_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Approve-DataPurgeRequest",
    module: "custkey",
    synopsis: "Approves a requested data purge: destroys every key under the DEP and deletes its content.",
    description: "The last step of the data purge path (Microsoft's signed eDocument, here a cmdlet). The signed-in \
account (Connect-AzAccount) must be listed in the organization's DataPurgeApprovers and differ from the person who \
requested the purge. Approval destroys the DEP's availability key, every wrapped copy of the DEP key and the mailbox keys \
under it, deletes the mailboxes' content, marks the mailboxes (DataPurgedTime) and writes a purge report to the audit \
log. Deleted rows are overwritten on disk. After it nothing under that DEP can be read with any key that ever existed. \
Irreversible: it asks for confirmation on a terminal and needs -Confirm:$false or -Force in scripts.",
    params: &[
        Param::new("Identity", Kind::String, "The DEP with a pending purge: name or GUID.")
            .position(0)
            .required()
            .complete(dep_names),
        Param::new("Force", Kind::Switch, "Do not ask for confirmation."),
    ],
    examples: &[Example {
        title: "The second approver signs off",
        code: "custkey Connect-AzAccount ciso@contoso.com; custkey Approve-DataPurgeRequest -Identity \"US Mailboxes\" -Confirm:false",
        output: "",
        remarks: "",
    }],
    impact: Impact::High,
    table: &["DataEncryptionPolicy", "State", "ItemsDeleted", "BytesDeleted", "ApprovedBy"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    if !ctx.should_process(
        &id,
        "Destroy every key and all data under the policy",
        args.switch("Force"),
    )? {
        return Ok(Output::None);
    }
    let (store, keys, approver) = ctx.acting()?;
    let report = lifecycle::approve_purge(store, keys, &id, approver)?;
    Ok(Output::one(record(&report)?))
}
