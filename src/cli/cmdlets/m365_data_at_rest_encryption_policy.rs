//! New-M365DataAtRestEncryptionPolicy, Get-M365DataAtRestEncryptionPolicy,
//! Set-M365DataAtRestEncryptionPolicy, Test-M365DataAtRestEncryptionPolicy.

use custkey::service::dep::{self, DepKind};

use super::data_encryption_policy::{
    change_policy, create_policy, show_policies, test_policies, NEW_PARAMS, TABLE,
};
use crate::cli::args::Args;
use crate::cli::complete::CompletionCtx;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::Output;
use crate::cli::Ctx;

pub fn policy_names(ctx: &CompletionCtx) -> Vec<String> {
    ctx.store()
        .map(|mut s| dep::names(&mut s, DepKind::M365))
        .unwrap_or_default()
}

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-M365DataAtRestEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Creates a multi-workload data encryption policy from two customer keys in two vaults.",
        description: "Creates a multi-workload DEP: the same hierarchy as a mailbox DEP (a DEP key wrapped by each \
customer key and by the DEP's own availability key), with the workload keys of the tenant below it instead of mailbox \
keys. The customer keys are used as the M365DataAtRestEncryption service principal \
(c066d759-24ae-40e7-a56f-027002b5d3e4), which needs wrapKey, unwrapKey and get on both vaults. The other gates are those \
of New-DataEncryptionPolicy: a paid organization, two keys in two vaults, RSA, enabled, no expiry (or 12/31/9999), \
Recoverable+ProtectedSubscription, and a name no other multi-workload policy has. There is no limit on the number of \
policies; one at a time is assigned to the tenant (Set-M365DataAtRestEncryptionPolicyAssignment).",
        params: NEW_PARAMS,
        examples: &[Example {
            title: "A multi-workload policy for the tenant",
            code: "custkey New-M365DataAtRestEncryptionPolicy -Name \"Contoso_Global\" -AzureKeyIDs https://contoso-ck-mw1.vault.azure.net/keys/MW-Key-01,https://contoso-ck-mw2.vault.azure.net/keys/MW-Key-02 -Description \"Tenant default\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-M365DataAtRestEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Shows multi-workload data encryption policies: one by name or GUID, or all of them.",
        description: "Shows multi-workload DEPs with their customer key URIs (AzureKeyIDs), the key versions in use \
(KeyVersionIDs), Enabled and State.",
        params: &[Param::new("Identity", Kind::String, "A name or GUID; all policies when omitted.")
            .position(0)
            .complete(policy_names)],
        examples: &[Example {
            title: "All multi-workload policies",
            code: "custkey Get-M365DataAtRestEncryptionPolicy",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
    Cmdlet {
        name: "Set-M365DataAtRestEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Renames, describes, enables or disables a multi-workload DEP, refreshes it after a key roll (-Refresh), or replaces one of its keys (-AzureKeyIDs <old>,<new> -Replace).",
        description: "Changes a multi-workload DEP. -Refresh re-wraps the DEP key under the newest version of each \
customer key and updates KeyVersionIDs; no workload or mailbox key and no content changes. -AzureKeyIDs <old>,<new> \
-Replace replaces the policy's key <old> by <new> (every rule of a new policy's keys applies to <new>, and it must be in \
another vault than the key that stays): the DEP key is wrapped under <new> and the copy under <old> deleted. The policy assigned to the \
tenant can't be disabled: assign another one first (there is no unassign cmdlet; offboarding goes through Microsoft \
support). A data purge of multi-workload policies is not supported (tenant deletion is the documented route), so this \
cmdlet has no purge parameters.",
        params: &[
            Param::new("Identity", Kind::String, "The policy: name, DistinguishedName or GUID.").position(0).required().complete(policy_names),
            Param::new("Name", Kind::String, "A new name."),
            Param::new("Description", Kind::String, "A new description."),
            Param::new("Enabled", Kind::Bool, "$true or $false."),
            Param::new("Refresh", Kind::Switch, "Re-wrap the DEP key under the newest customer key versions."),
            Param::new("AzureKeyIDs", Kind::StringList, "With -Replace: the key to replace and its replacement, <old>,<new>."),
            Param::new("Replace", Kind::Switch, "Replace the first key of -AzureKeyIDs in the policy by the second."),
        ],
        examples: &[Example {
            title: "After rolling a customer key",
            code: "custkey Set-M365DataAtRestEncryptionPolicy -Identity \"Contoso_Global\" -Refresh",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: set,
    },
    Cmdlet {
        name: "Test-M365DataAtRestEncryptionPolicy",
        module: "ExchangeOnlineManagement",
        synopsis: "Proves each customer key and the availability key of multi-workload DEPs can unwrap the DEP key.",
        description: "For the policy named (every multi-workload policy when -Identity is omitted), asks each \
customer key's vault to unwrap the DEP key as the M365DataAtRestEncryption principal and unwraps it with the \
availability key; reports each key with its result: Success, Damaged (the wrapped copy or the vault file does not \
parse or authenticate), RolledBack (the vault file is older than one the service used), or the error class. Touches no content; the \
availability-key test is audited. Exit code 1 when any key fails.",
        params: &[Param::new("Identity", Kind::String, "The policy: name, DistinguishedName or GUID; all when omitted.")
            .position(0)
            .complete(policy_names)],
        examples: &[Example {
            title: "Check every multi-workload policy",
            code: "custkey Test-M365DataAtRestEncryptionPolicy",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["Policy", "KeyType", "KeyId", "Version", "Result"],
        run: test,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    create_policy(ctx, args, DepKind::M365)
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    show_policies(ctx, args, DepKind::M365)
}

fn set(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let id = args.str("Identity").unwrap_or_default().to_string();
    change_policy(ctx, args, DepKind::M365, &id)
}

fn test(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let ids: Vec<String> = match args.str("Identity") {
        Some(id) => vec![id.to_string()],
        None => dep::names(ctx.store()?, DepKind::M365),
    };
    test_policies(ctx, DepKind::M365, &ids)
}
