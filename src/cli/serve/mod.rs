//! Service mode: the service (server.rs) runs cmdlets for operators who reach it over HTTPS
//! (client.rs), every request signed by a registered account (wire.rs). The cmdlet layer calls
//! [`crate::cli::Ctx::run_cmdlet`], which runs a cmdlet in this process or sends it to the
//! service; no cmdlet is written twice. docs/service.md describes it for operators.

pub mod client;
pub mod files;
pub mod http;
pub mod openapi;
pub mod server;
pub mod tls;
pub mod wire;

use super::def::Cmdlet;

/// Cmdlets that run where the operator is, also when a service is connected: the shell's own
/// utilities (formatting, pipelines, files, dates), help and completion, signing in, and the
/// service connection itself.
const CLIENT_SIDE: &[&str] = &[
    "Get-Help",
    "Get-Command",
    "Get-CustomerKeyCompletion",
    "Install-CustomerKeyCompletion",
    "Connect-AzAccount",
    "Connect-ExchangeOnline",
    "Disconnect-ExchangeOnline",
    "Start-CustomerKeyService",
    "Connect-CustomerKeyService",
    "Disconnect-CustomerKeyService",
    "Get-CustomerKeyService",
];

/// Whether `cmdlet` runs on the service when one is connected.
pub fn runs_on_service(cmdlet: &Cmdlet) -> bool {
    !cmdlet.module.starts_with("Microsoft.PowerShell") && !CLIENT_SIDE.contains(&cmdlet.name)
}
