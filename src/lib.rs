//! custkey: service encryption with Customer Key.
//!
//! The library is the core; the `custkey` binary (`src/main.rs`, `src/cli/`) is a cmdlet shell on top.
//!
//! - [`crypto`]: pure key types, bound key wraps and the content stream format. No I/O, no clock.
//! - [`vault`]: the `KeyVault` trait and its backends (the Azure side: subscriptions, vaults, keys).
//! - [`store`]: the SQLite service store: schema, migrations, typed rows. No keys in the clear.
//! - [`service`]: the domain rules (organization, DEPs, mailboxes, lifecycle, audit). Never prints.
//! - [`identity`]: OpenSSH keys (key files, ssh-agent) and SSHSIG signatures: who runs a command.
//! - [`paths`]: the user's configuration directory, where secrets live instead of the data directory.
//! - [`fsio`]: atomic file writes (0600, temporary file and rename), for every layer that writes files.
//! - [`model`]: domain vocabulary (plain value types, no I/O) that the store, the vaults and the service share.
//! - [`input`]: the limits of what custkey reads from outside, bounded readers, checked environment variables.

pub mod crypto;
pub mod fsio;
pub mod identity;
pub mod input;
pub mod model;
pub mod paths;
pub mod service;
pub mod store;
pub mod vault;
