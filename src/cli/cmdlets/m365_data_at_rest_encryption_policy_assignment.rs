//! Set-M365DataAtRestEncryptionPolicyAssignment, Get-M365DataAtRestEncryptionPolicyAssignment.

use custkey::service::m365;

use super::m365_data_at_rest_encryption_policy::policy_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Name", "DataEncryptionPolicyId", "Enabled", "WhenChanged"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Set-M365DataAtRestEncryptionPolicyAssignment",
        module: "ExchangeOnlineManagement",
        synopsis: "Assigns a multi-workload data encryption policy to the tenant.",
        description: "Makes the policy the tenant's multi-workload DEP. Exchange: the mailbox keys of every mailbox \
without a mailbox DEP are re-wrapped under it at once (existing and new data; no content is touched), and new mailboxes \
and Set-Mailbox -DataEncryptionPolicy $null land under it instead of Microsoft-managed keys. Teams: chat messages are \
covered from the time of assignment (a new workload key is made under the policy; earlier messages stay under the key \
they were written with). Moving the assignment to another policy re-wraps every key the previous one wrapped. The \
policy must be enabled. Assigning the assigned policy changes nothing. There is no cmdlet to unassign.",
        params: &[Param::new("DataEncryptionPolicy", Kind::String, "The multi-workload policy: name or GUID.")
            .position(0)
            .required()
            .complete(policy_names)],
        examples: &[Example {
            title: "Protect the tenant's workloads with a policy",
            code: "custkey Set-M365DataAtRestEncryptionPolicyAssignment -DataEncryptionPolicy \"Contoso_Global\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Get-M365DataAtRestEncryptionPolicyAssignment",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows the multi-workload data encryption policy assigned to the tenant.",
        description: "Shows the assigned policy's Name, DataEncryptionPolicyId, Enabled and when it was assigned \
(WhenChanged). Prints nothing when no policy is assigned (Microsoft-managed keys protect the workloads).",
        params: &[],
        examples: &[Example {
            title: "Which policy protects the tenant",
            code: "custkey Get-M365DataAtRestEncryptionPolicyAssignment",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args
        .str("DataEncryptionPolicy")
        .unwrap_or_default()
        .to_string();
    if !ctx.should_process(&id, "Set-M365DataAtRestEncryptionPolicyAssignment", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let out = m365::assign(store, keys, &id)?;
    for w in &out.warnings {
        ctx.warn(w);
    }
    ctx.verbose(&format!(
        "re-wrapped {} mailbox key(s) and {} workload key(s){}",
        out.mailbox_keys,
        out.workload_keys,
        if out.new_workload_key {
            "; made a new Teams workload key"
        } else {
            ""
        }
    ));
    Ok(Output::None)
}

fn get(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    match m365::assignment(ctx.store()?)? {
        Some(a) => Ok(Output::one(record(&a)?)),
        None => Ok(Output::None),
    }
}
