//! The cmdlets, one file per noun. Each file exports `CMDLETS`, its part of the
//! definition table.

use super::def::Cmdlet;

pub mod az_account;
pub mod az_ad_user;
pub mod az_key_vault;
pub mod az_key_vault_access_policy;
pub mod az_key_vault_audit_log;
pub mod az_key_vault_key;
pub mod az_key_vault_key_rotation;
pub mod az_key_vault_key_rotation_policy;
pub mod az_key_vault_managed_hsm;
pub mod az_key_vault_role_assignment;
pub mod az_key_vault_role_definition;
pub mod az_key_vault_security_domain;
pub mod az_resource;
pub mod az_resource_provider;
pub mod az_role_assignment;
pub mod az_role_definition;
pub mod command;
pub mod customer_key_cache;
pub mod customer_key_completion;
pub mod customer_key_configuration;
pub mod customer_key_hierarchy;
pub mod customer_key_meeting_recording;
pub mod customer_key_onboarding_request;
pub mod customer_key_rollout;
pub mod customer_key_rotation;
pub mod customer_key_service;
pub mod data_encryption_policy;
pub mod data_purge_request;
pub mod date;
pub mod exchange_online;
pub mod file;
pub mod format_list;
pub mod format_table;
pub mod help;
pub mod json;
pub mod m365_data_at_rest_encryption_policy;
pub mod m365_data_at_rest_encryption_policy_assignment;
pub mod mail_user;
pub mod mailbox;
pub mod mailbox_export_request;
pub mod mailbox_import_request;
pub mod mailbox_statistics;
pub mod member;
pub mod mg_chat;
pub mod mg_chat_message;
pub mod mg_chat_message_hosted_content;
pub mod mg_role_management_directory_role_assignment;
pub mod mg_user_license;
pub mod mg_user_online_meeting;
pub mod mg_user_online_meeting_recording;
pub mod mg_user_presence;
pub mod move_request;
pub mod null;
pub mod object;
pub mod organization_config;
pub mod pnp_file;
pub mod pnp_folder_item;
pub mod pnp_online;
pub mod pnp_site;
pub mod role_group_member;
pub mod secure_string;
pub mod spo_data_encryption_policy;
pub mod spo_service;
pub mod spo_site_data_encryption_policy;
pub mod unified_audit_log;
pub mod unified_group;
pub mod user;
pub mod write_host;
pub mod write_output;

/// Every cmdlet, sorted by name.
pub fn all() -> Vec<&'static Cmdlet> {
    let mut v: Vec<&'static Cmdlet> = [
        az_account::CMDLETS,
        az_ad_user::CMDLETS,
        az_key_vault::CMDLETS,
        az_key_vault_access_policy::CMDLETS,
        az_key_vault_audit_log::CMDLETS,
        az_key_vault_key::CMDLETS,
        az_key_vault_key_rotation::CMDLETS,
        az_key_vault_key_rotation_policy::CMDLETS,
        az_key_vault_managed_hsm::CMDLETS,
        az_key_vault_security_domain::CMDLETS,
        az_key_vault_role_definition::CMDLETS,
        az_key_vault_role_assignment::CMDLETS,
        az_resource::CMDLETS,
        az_resource_provider::CMDLETS,
        az_role_assignment::CMDLETS,
        az_role_definition::CMDLETS,
        command::CMDLETS,
        customer_key_cache::CMDLETS,
        customer_key_completion::CMDLETS,
        customer_key_configuration::CMDLETS,
        customer_key_hierarchy::CMDLETS,
        customer_key_meeting_recording::CMDLETS,
        customer_key_onboarding_request::CMDLETS,
        customer_key_rollout::CMDLETS,
        customer_key_rotation::CMDLETS,
        customer_key_service::CMDLETS,
        data_encryption_policy::CMDLETS,
        data_purge_request::CMDLETS,
        date::CMDLETS,
        exchange_online::CMDLETS,
        file::CMDLETS,
        format_list::CMDLETS,
        format_table::CMDLETS,
        help::CMDLETS,
        json::CMDLETS,
        m365_data_at_rest_encryption_policy::CMDLETS,
        m365_data_at_rest_encryption_policy_assignment::CMDLETS,
        mail_user::CMDLETS,
        mailbox::CMDLETS,
        mailbox_export_request::CMDLETS,
        mailbox_import_request::CMDLETS,
        mailbox_statistics::CMDLETS,
        member::CMDLETS,
        mg_chat::CMDLETS,
        mg_chat_message::CMDLETS,
        mg_chat_message_hosted_content::CMDLETS,
        mg_role_management_directory_role_assignment::CMDLETS,
        mg_user_license::CMDLETS,
        mg_user_online_meeting::CMDLETS,
        mg_user_online_meeting_recording::CMDLETS,
        mg_user_presence::CMDLETS,
        move_request::CMDLETS,
        null::CMDLETS,
        object::CMDLETS,
        organization_config::CMDLETS,
        pnp_file::CMDLETS,
        pnp_folder_item::CMDLETS,
        pnp_online::CMDLETS,
        pnp_site::CMDLETS,
        role_group_member::CMDLETS,
        secure_string::CMDLETS,
        spo_data_encryption_policy::CMDLETS,
        spo_service::CMDLETS,
        spo_site_data_encryption_policy::CMDLETS,
        unified_audit_log::CMDLETS,
        unified_group::CMDLETS,
        user::CMDLETS,
        write_host::CMDLETS,
        write_output::CMDLETS,
    ]
    .iter()
    .flat_map(|s| s.iter())
    .collect();
    v.sort_by_key(|c| c.name);
    v
}

/// A cmdlet that takes all the objects piped into it in one call, as PowerShell runs one
/// instance of a cmdlet for its whole input: one proof of the signed-in account, and one
/// store transaction for a run of like objects (one RSA unwrap per DEP). It handles the objects
/// in order and stops at the first that fails: [`Batched::outputs`] holds one output for each
/// object handled before it, all of them applied, and [`Batched::failed`] that object's error.
pub type Batch = fn(&mut crate::cli::Ctx, &[crate::cli::args::Args]) -> Batched;

/// What a [`Batch`] did.
#[derive(Default)]
pub struct Batched {
    pub outputs: Vec<crate::cli::output::Output>,
    pub failed: Option<crate::cli::error::CliError>,
}

impl Batched {
    /// Runs `run` once per object (prompts, -WhatIf, and objects a batch can't group).
    pub fn each(
        &mut self,
        ctx: &mut crate::cli::Ctx,
        all: &[crate::cli::args::Args],
        run: fn(
            &mut crate::cli::Ctx,
            &crate::cli::args::Args,
        ) -> Result<crate::cli::output::Output, crate::cli::error::CliError>,
    ) -> bool {
        for a in all {
            match run(ctx, a) {
                Ok(o) => self.outputs.push(o),
                Err(e) => {
                    self.failed = Some(e);
                    return false;
                }
            }
        }
        true
    }
}

/// The batch form of a cmdlet, for those that have one.
pub fn batch(cmdlet: &Cmdlet) -> Option<Batch> {
    match cmdlet.name {
        "New-Mailbox" => Some(mailbox::new_batch),
        "Set-Mailbox" => Some(mailbox::set_batch),
        "Set-MailUser" => Some(mail_user::set_batch),
        "Set-UnifiedGroup" => Some(unified_group::set_batch),
        _ => None,
    }
}

/// The default view of one call: the cmdlet's table columns, or none (a list) where Az shows
/// the object a call returns as a list. `Get-AzKeyVault -VaultName x` returns one vault with its
/// access policies (Az's PSKeyVault, a list view), which the guides read to check the service's
/// permissions; the listing returns rows (PSKeyVaultIdentityItem, a table).
pub fn view(cmdlet: &'static Cmdlet, args: &crate::cli::args::Args) -> &'static [&'static str] {
    match cmdlet.name {
        "Get-AzKeyVault" if args.str("VaultName").is_some() && !args.switch("InRemovedState") => {
            &[]
        }
        _ => cmdlet.table,
    }
}
