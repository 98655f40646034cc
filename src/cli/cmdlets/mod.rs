//! The cmdlets, one file per noun. Each file exports `CMDLETS`, its part of the
//! definition table.

use super::def::Cmdlet;

pub mod command;
pub mod help;
pub mod mail_user;
pub mod mailbox;
pub mod mg_user_license;
pub mod organization_config;

/// Every cmdlet, sorted by name.
pub fn all() -> Vec<&'static Cmdlet> {
    let mut v: Vec<&'static Cmdlet> = [
        command::CMDLETS,
        help::CMDLETS,
        mail_user::CMDLETS,
        mailbox::CMDLETS,
        mg_user_license::CMDLETS,
        organization_config::CMDLETS,
    ]
    .iter()
    .flat_map(|s| s.iter())
    .collect();
    v.sort_by_key(|c| c.name);
    v
}
