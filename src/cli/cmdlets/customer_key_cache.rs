//! Clear-CustomerKeyCache.

use custkey::service::keys;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Clear-CustomerKeyCache",
    module: "custkey",
    synopsis: "Removes the master keys and PINs custkey cached in the OS keyring.",
    description: "custkey caches a resolved master key (and a PKCS#11 PIN) in the kernel keyring for \
CUSTKEY_KEYRING_TIMEOUT seconds (15 minutes by default), so a passphrase is not stretched on every command. This \
removes every such entry of this session, for every data directory, including the ones older versions wrote \
without a timeout; the next command reads its key from its source again. Nothing else changes: no key, vault or \
store is touched. Outputs how many entries were removed.",
    params: &[],
    examples: &[Example {
        title: "Lock a passphrase-protected data directory again before leaving the terminal",
        code: "custkey Clear-CustomerKeyCache",
        output: "",
        remarks: "",
    }],
    impact: Impact::Medium,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, _args: &Args) -> Result<Output, CliError> {
    if !ctx.should_process(
        "the custkey entries of the OS keyring",
        "Clear-CustomerKeyCache",
        false,
    )? {
        return Ok(Output::None);
    }
    let r = keys::clear_key_cache();
    if !r.keyring_reachable {
        ctx.warn("the OS keyring cannot be reached here, so nothing is cached in it");
    }
    Ok(Output::one(record(&r)?))
}
