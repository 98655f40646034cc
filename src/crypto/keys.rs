//! Tiered key types and the bindings that tie a wrapped key to its place.
//!
//! ```text
//! root key (RSA, customer vault)  ──RSA-OAEP──┐
//! availability key (AES-256)      ──AES-GCM───┴─> DEP key / tenant intermediate key (TIK)
//! DEP key ──AES-GCM──> mailbox key / workload key      TIK ──AES-GCM──> site key
//! mailbox / workload / site key ──HKDF-SHA256──> item key / chunk key ──> content
//! ```
//!
//! Every tier is its own type ([`TierKey<T>`] with a marker `T`), so a mailbox key cannot be
//! passed where a DEP key belongs, and a DEP key can only wrap the tiers below it. Every key
//! carries its [`KeyRef`] (id + version), which goes into the associated data of each wrap.
//!
//! ```
//! use custkey::crypto::*;
//! use uuid::Uuid;
//!
//! let (dep_id, mailbox_id) = (Uuid::new_v4(), Uuid::new_v4());
//! let avail = AvailabilityKey::generate(KeyRef::new_random());
//! let dep = DepKey::generate(KeyRef::new(dep_id, 1));
//! let stored_dep = avail.wrap_dep_key(&dep, &DepBinding::new(dep_id))?;
//!
//! let mbx = MailboxKey::generate(KeyRef::new_random());
//! let binding = MailboxBinding::new(dep_id, mailbox_id);
//! let stored_mbx = dep.wrap_mailbox_key(&mbx, &binding)?;
//!
//! // Later: unwrap down the hierarchy and read an item.
//! let dep = avail.unwrap_dep_key(&WrappedKey::from_bytes(stored_dep.as_bytes())?, &DepBinding::new(dep_id))?;
//! let mbx = dep.unwrap_mailbox_key(&stored_mbx, &binding)?;
//! let item = ItemBinding::new(mailbox_id, b"msg-1".to_vec());
//! let ct = mbx.encrypt_content(&item, b"hello")?;
//! assert_eq!(mbx.decrypt_content(&item, &ct)?.as_slice(), b"hello");
//! # Ok::<(), CryptoError>(())
//! ```
//!
//! A key of one tier does not fit where another belongs. A site key is not a mailbox key:
//!
//! ```compile_fail
//! use custkey::crypto::*;
//! let dep = DepKey::generate(KeyRef::new_random());
//! let site = SiteKey::generate(KeyRef::new_random());
//! let b = OwnerBinding::new(uuid::Uuid::nil(), uuid::Uuid::nil());
//! let _ = dep.wrap_mailbox_key(&site, &b);
//! ```
//!
//! A DEP key cannot wrap a site key, even through the generic method (only a TIK can):
//!
//! ```compile_fail
//! use custkey::crypto::*;
//! let dep = DepKey::generate(KeyRef::new_random());
//! let site = SiteKey::generate(KeyRef::new_random());
//! let b = OwnerBinding::new(uuid::Uuid::nil(), uuid::Uuid::nil());
//! let _ = dep.wrap(&site, &b);
//! ```
//!
//! Only DEP keys and TIKs are root-wrapped, and content is encrypted only under mailbox,
//! workload and site keys:
//!
//! ```compile_fail
//! use custkey::crypto::*;
//! let mbx = MailboxKey::generate(KeyRef::new_random());
//! let _ = mbx.bytes_for_root_wrap();
//! ```
//!
//! ```compile_fail
//! use custkey::crypto::*;
//! let dep = DepKey::generate(KeyRef::new_random());
//! let b = ItemBinding::new(uuid::Uuid::nil(), b"x".to_vec());
//! let _ = dep.encrypt_content(&b, b"not here");
//! ```

use std::fmt;
use std::marker::PhantomData;

use uuid::Uuid;

use super::error::CryptoError;
use super::secret::SecretKey32;

/// Identifies a service-held key: a GUID and a version number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRef {
    /// The key's GUID.
    pub id: Uuid,
    /// The key's version (1 for the first).
    pub version: u32,
}

/// Encoded length of a [`KeyRef`]: 16-byte GUID and a big-endian u32.
pub const KEY_REF_LEN: usize = 20;

impl KeyRef {
    /// A key reference.
    pub fn new(id: Uuid, version: u32) -> Self {
        KeyRef { id, version }
    }

    /// A fresh random id at version 1.
    pub fn new_random() -> Self {
        KeyRef {
            id: Uuid::new_v4(),
            version: 1,
        }
    }

    /// `id (16) || version (u32 big-endian)`.
    pub fn to_bytes(&self) -> [u8; KEY_REF_LEN] {
        let mut b = [0u8; KEY_REF_LEN];
        b[..16].copy_from_slice(self.id.as_bytes());
        b[16..].copy_from_slice(&self.version.to_be_bytes());
        b
    }

    /// Reads the 20-byte form.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() != KEY_REF_LEN {
            return Err(CryptoError::InvalidLength {
                what: "key reference",
                expected: KEY_REF_LEN,
                actual: b.len(),
            });
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[..16]);
        Ok(KeyRef {
            id: Uuid::from_bytes(id),
            version: u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        })
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/v{}", self.id, self.version)
    }
}

/// Longest root key id accepted, in bytes.
pub const MAX_ROOT_KEY_ID_LEN: usize = 1024;
/// Longest root key version accepted, in bytes.
pub const MAX_ROOT_VERSION_LEN: usize = 256;

/// Identifies a customer root key in a vault: its key id (such as
/// `https://contoso.vault.azure.net/keys/dep-key`) and version. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RootKeyRef {
    key_id: String,
    version: String,
}

impl RootKeyRef {
    /// `key_id`: 1 to 1024 bytes of UTF-8; `version`: up to 256 bytes.
    pub fn new(key_id: impl Into<String>, version: impl Into<String>) -> Result<Self, CryptoError> {
        let key_id = key_id.into();
        let version = version.into();
        if key_id.is_empty() || key_id.len() > MAX_ROOT_KEY_ID_LEN {
            return Err(CryptoError::Malformed("root key id must be 1..=1024 bytes"));
        }
        if version.len() > MAX_ROOT_VERSION_LEN {
            return Err(CryptoError::Malformed(
                "root key version must be at most 256 bytes",
            ));
        }
        Ok(RootKeyRef { key_id, version })
    }

    /// The vault key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key version.
    pub fn version(&self) -> &str {
        &self.version
    }
}

impl fmt::Display for RootKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.version.is_empty() {
            f.write_str(&self.key_id)
        } else {
            write!(f, "{}/{}", self.key_id, self.version)
        }
    }
}

/// The tier byte recorded in wrapped keys and content headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TierId {
    /// Customer root key (RSA, in a vault).
    Root = 0x01,
    /// Availability key (AES-256, service-held).
    Availability = 0x02,
    /// Data encryption policy key (Exchange or multi-workload DEP).
    Dep = 0x03,
    /// SharePoint tenant intermediate key.
    Tik = 0x04,
    /// Mailbox key.
    Mailbox = 0x05,
    /// Workload key (multi-workload DEP).
    Workload = 0x06,
    /// Site key (SharePoint / OneDrive).
    Site = 0x07,
    /// Item key (derived per content item).
    Item = 0x08,
    /// Chunk key (derived per stored chunk).
    Chunk = 0x09,
}

impl TierId {
    /// Reads a tier byte.
    pub fn from_u8(b: u8) -> Result<Self, CryptoError> {
        Ok(match b {
            0x01 => TierId::Root,
            0x02 => TierId::Availability,
            0x03 => TierId::Dep,
            0x04 => TierId::Tik,
            0x05 => TierId::Mailbox,
            0x06 => TierId::Workload,
            0x07 => TierId::Site,
            0x08 => TierId::Item,
            0x09 => TierId::Chunk,
            _ => return Err(CryptoError::Malformed("unknown key tier")),
        })
    }

    /// A human name.
    pub fn name(&self) -> &'static str {
        match self {
            TierId::Root => "root key",
            TierId::Availability => "availability key",
            TierId::Dep => "DEP key",
            TierId::Tik => "tenant intermediate key",
            TierId::Mailbox => "mailbox key",
            TierId::Workload => "workload key",
            TierId::Site => "site key",
            TierId::Item => "item key",
            TierId::Chunk => "chunk key",
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Marker types for the tiers. They cannot be implemented outside this crate.
pub mod tier {
    use super::{sealed::Sealed, TierId};

    /// A key tier.
    pub trait Tier: Sealed + 'static {
        /// The tier byte.
        const ID: TierId;
        /// The type name used in `Debug`.
        const TYPE_NAME: &'static str;
    }

    macro_rules! tiers {
        ($($(#[$m:meta])* $name:ident => $id:ident, $tn:literal;)*) => {$(
            $(#[$m])*
            #[derive(Debug)]
            pub enum $name {}
            impl Sealed for $name {}
            impl Tier for $name {
                const ID: TierId = TierId::$id;
                const TYPE_NAME: &'static str = $tn;
            }
        )*};
    }

    tiers! {
        /// Availability key tier.
        Availability => Availability, "AvailabilityKey";
        /// DEP key tier.
        Dep => Dep, "DepKey";
        /// Tenant intermediate key tier.
        Tik => Tik, "TenantIntermediateKey";
        /// Mailbox key tier.
        Mailbox => Mailbox, "MailboxKey";
        /// Workload key tier.
        Workload => Workload, "WorkloadKey";
        /// Site key tier.
        Site => Site, "SiteKey";
    }
}

use tier::Tier;

/// A 32-byte AES-256 key of tier `T`, with its id and version.
///
/// Zeroized on drop; `Debug` shows the type and [`KeyRef`], never the bytes; `Display` prints
/// `REDACTED`.
pub struct TierKey<T: Tier> {
    pub(crate) secret: SecretKey32,
    key_ref: KeyRef,
    _tier: PhantomData<fn() -> T>,
}

/// Availability key: service-held AES-256 key that wraps a DEP key or TIK.
pub type AvailabilityKey = TierKey<tier::Availability>;
/// DEP key (Exchange or multi-workload data encryption policy).
pub type DepKey = TierKey<tier::Dep>;
/// SharePoint tenant intermediate key.
pub type TenantIntermediateKey = TierKey<tier::Tik>;
/// Mailbox key.
pub type MailboxKey = TierKey<tier::Mailbox>;
/// Workload key (multi-workload DEP).
pub type WorkloadKey = TierKey<tier::Workload>;
/// Site key (SharePoint / OneDrive).
pub type SiteKey = TierKey<tier::Site>;

impl<T: Tier> TierKey<T> {
    /// A fresh random key with the given id and version.
    pub fn generate(key_ref: KeyRef) -> Self {
        Self::from_secret(SecretKey32::generate(), key_ref)
    }

    /// Wraps existing key material (for instance read back from an availability-key store).
    pub fn from_secret(secret: SecretKey32, key_ref: KeyRef) -> Self {
        TierKey {
            secret,
            key_ref,
            _tier: PhantomData,
        }
    }

    /// The key's id and version.
    pub fn key_ref(&self) -> KeyRef {
        self.key_ref
    }

    /// The tier byte.
    pub fn tier(&self) -> TierId {
        T::ID
    }

    /// A copy of the raw key material, e.g. to seal an availability key at rest under the
    /// service master key. Prefer the wrap methods.
    pub fn to_secret(&self) -> SecretKey32 {
        self.secret.clone()
    }
}

impl<T: Tier> fmt::Debug for TierKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}, REDACTED)", T::TYPE_NAME, self.key_ref)
    }
}

impl<T: Tier> fmt::Display for TierKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

// Binding field tags (see docs/format.md §Bindings).
pub(crate) const FIELD_DEP_ID: u8 = 0x01;
pub(crate) const FIELD_OWNER_ID: u8 = 0x02;
pub(crate) const FIELD_ITEM_ID: u8 = 0x03;
/// Attributes of a content item that change how it is given back (a mailbox item's framing).
pub(crate) const FIELD_ATTRIBUTES: u8 = 0x05;

pub(crate) fn push_field(out: &mut Vec<u8>, tag: u8, value: &[u8]) -> Result<(), CryptoError> {
    let len = u16::try_from(value.len())
        .map_err(|_| CryptoError::Malformed("binding field longer than 65535 bytes"))?;
    out.push(tag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Owner ids bound into a wrap's associated data.
pub trait Binding {
    /// The canonical encoding (`tag || u16 length || value` fields; see docs/format.md).
    fn encode(&self) -> Result<Vec<u8>, CryptoError>;
}

/// Binds a DEP key or TIK to its data encryption policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepBinding {
    /// The DEP's GUID (for a TIK: the SharePoint DEP's GUID).
    pub dep_id: Uuid,
}

/// The binding of a TIK: the SharePoint DEP it belongs to.
pub type TikBinding = DepBinding;

impl DepBinding {
    /// A binding to the given DEP.
    pub fn new(dep_id: Uuid) -> Self {
        DepBinding { dep_id }
    }
}

impl Binding for DepBinding {
    fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let mut v = Vec::with_capacity(19);
        push_field(&mut v, FIELD_DEP_ID, self.dep_id.as_bytes())?;
        Ok(v)
    }
}

/// Binds a mailbox, workload or site key to its DEP and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnerBinding {
    /// The GUID of the DEP whose key wraps this one.
    pub dep_id: Uuid,
    /// The mailbox, workload or site GUID.
    pub owner_id: Uuid,
}

/// Binding of a mailbox key: (DEP GUID, mailbox GUID).
pub type MailboxBinding = OwnerBinding;
/// Binding of a workload key: (DEP GUID, workload GUID).
pub type WorkloadBinding = OwnerBinding;
/// Binding of a site key: (SharePoint DEP GUID, site GUID).
pub type SiteBinding = OwnerBinding;

impl OwnerBinding {
    /// A binding to `owner_id` under `dep_id`.
    pub fn new(dep_id: Uuid, owner_id: Uuid) -> Self {
        OwnerBinding { dep_id, owner_id }
    }
}

impl Binding for OwnerBinding {
    fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let mut v = Vec::with_capacity(38);
        push_field(&mut v, FIELD_DEP_ID, self.dep_id.as_bytes())?;
        push_field(&mut v, FIELD_OWNER_ID, self.owner_id.as_bytes())?;
        Ok(v)
    }
}

/// Binds a content item (or chunk) to its owner (mailbox, workload or site GUID) and item id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentBinding {
    /// Mailbox, workload or site GUID.
    pub owner_id: Uuid,
    /// The item (or chunk) id, at most 65535 bytes.
    pub item_id: Vec<u8>,
    /// What else the reader relies on, bound so that a store writer cannot change it (a mailbox
    /// item's framing, `eml` or `mbox`); empty for none, which encodes as before (no field).
    pub attributes: Vec<u8>,
}

/// Binding of a mailbox (or workload) item.
pub type ItemBinding = ContentBinding;
/// Binding of a SharePoint chunk.
pub type ChunkBinding = ContentBinding;

impl ContentBinding {
    /// A binding to `item_id` owned by `owner_id`.
    pub fn new(owner_id: Uuid, item_id: impl Into<Vec<u8>>) -> Self {
        ContentBinding {
            owner_id,
            item_id: item_id.into(),
            attributes: Vec::new(),
        }
    }

    /// The same binding, also bound to `attributes` (at most 65535 bytes).
    pub fn with_attributes(mut self, attributes: impl Into<Vec<u8>>) -> Self {
        self.attributes = attributes.into();
        self
    }
}

impl Binding for ContentBinding {
    fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let mut v = Vec::with_capacity(25 + self.item_id.len() + self.attributes.len());
        push_field(&mut v, FIELD_OWNER_ID, self.owner_id.as_bytes())?;
        push_field(&mut v, FIELD_ITEM_ID, &self.item_id)?;
        if !self.attributes.is_empty() {
            push_field(&mut v, FIELD_ATTRIBUTES, &self.attributes)?;
        }
        Ok(v)
    }
}
