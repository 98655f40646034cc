//! Bound key wraps and the versioned wrapped-key byte format (`docs/format.md` §2).
//!
//! - AES-256-GCM wraps of a lower tier under a higher one, with associated data made of the
//!   wrapped-key header (tiers, both key refs) and the owner [`Binding`].
//! - RSA-OAEP root wraps: the 32 key bytes go to a vault (or a software [`RsaPublicKey`]); the
//!   result is stored with the root key id/version, the OAEP variant and a check value that
//!   binds the key to its DEP, so a copy moved to another DEP fails to unwrap.
//! - KMS AES-GCM root wraps: the same format with a root key held as an AES-256 key in a key
//!   manager (KMIP): the key manager's `iv || ciphertext || tag` takes the place of the RSA
//!   output ([`RootAlg::KmsAesGcm`]).

use std::fmt;

use super::error::CryptoError;
use super::keys::{
    tier, Binding, DepBinding, KeyRef, OwnerBinding, RootKeyRef, TierId, TierKey, KEY_REF_LEN,
    MAX_ROOT_KEY_ID_LEN, MAX_ROOT_VERSION_LEN,
};
use super::provider::{default_provider, CryptoProvider, NONCE_LEN};
use super::rsa::{OaepAlg, RsaPrivateKey, RsaPublicKey};
use super::secret::{ct_eq, SecretKey32};

/// Magic bytes of a wrapped key.
pub const WRAPPED_KEY_MAGIC: [u8; 4] = *b"CKWK";
/// Wrapped-key format version.
pub const WRAPPED_KEY_VERSION: u8 = 1;
/// Length of an AES-256-GCM wrapped key.
pub const AES_WRAPPED_KEY_LEN: usize = 108;
/// Length of the AES-wrapped-key header that goes into the associated data.
const AES_HEADER_LEN: usize = 48;
/// Offset of the parent tier byte.
const PARENT_TIER_OFFSET: usize = 27;
/// Length of the root-wrap check value.
pub const ROOT_CHECK_LEN: usize = 32;
/// HKDF info prefix of the root-wrap check value.
pub(crate) const ROOT_CHECK_INFO: &[u8] = b"custkey/v1 root-wrap check";

/// Wrap algorithm byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WrapAlg {
    /// AES-256-GCM under a service-held key.
    Aes256Gcm = 0x01,
    /// RSA-OAEP with SHA-256 / MGF1-SHA-256.
    RsaOaep256 = 0x02,
    /// RSA-OAEP with SHA-1 / MGF1-SHA-1.
    RsaOaep = 0x03,
    /// AES-256-GCM by a key manager under a root key it holds (KMIP Encrypt).
    KmsAesGcm = 0x04,
}

/// Length of a key manager's AES-256-GCM root wrap of a 32-byte key: a 12-byte IV, the 32
/// ciphertext bytes and a 16-byte tag.
pub const KMS_GCM_WRAP_LEN: usize = 12 + 32 + 16;

/// How a root key wrapped a key: RSA-OAEP (Azure-style vaults, PKCS#11 tokens, KMIP RSA keys)
/// or AES-256-GCM inside a key manager (KMIP AES keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootAlg {
    /// RSA-OAEP of the given variant.
    Oaep(OaepAlg),
    /// AES-256-GCM by the key manager; the stored value is `iv || ciphertext || tag`.
    KmsAesGcm,
}

impl RootAlg {
    /// The name recorded in the store and shown: `RSA-OAEP-256`, `RSA-OAEP`, `KMS-AES-256-GCM`.
    pub fn as_str(self) -> &'static str {
        match self {
            RootAlg::Oaep(a) => a.as_str(),
            RootAlg::KmsAesGcm => "KMS-AES-256-GCM",
        }
    }

    /// The OAEP variant, for an RSA wrap.
    pub fn oaep(self) -> Option<OaepAlg> {
        match self {
            RootAlg::Oaep(a) => Some(a),
            RootAlg::KmsAesGcm => None,
        }
    }

    fn wrap_alg(self) -> WrapAlg {
        match self {
            RootAlg::Oaep(a) => WrapAlg::from_oaep(a),
            RootAlg::KmsAesGcm => WrapAlg::KmsAesGcm,
        }
    }
}

impl fmt::Display for RootAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl WrapAlg {
    fn from_u8(b: u8) -> Result<Self, CryptoError> {
        match b {
            0x01 => Ok(WrapAlg::Aes256Gcm),
            0x02 => Ok(WrapAlg::RsaOaep256),
            0x03 => Ok(WrapAlg::RsaOaep),
            0x04 => Ok(WrapAlg::KmsAesGcm),
            other => Err(CryptoError::UnsupportedAlgorithm(other)),
        }
    }

    fn from_oaep(alg: OaepAlg) -> Self {
        match alg {
            OaepAlg::RsaOaep256 => WrapAlg::RsaOaep256,
            OaepAlg::RsaOaep => WrapAlg::RsaOaep,
        }
    }
}

/// What wrapped a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapParent {
    /// A service-held AES key of the given tier.
    Key {
        /// The parent's tier.
        tier: TierId,
        /// The parent's id and version.
        key_ref: KeyRef,
    },
    /// A customer root key, with the wrap it made.
    Root {
        /// The vault key id and version.
        root: RootKeyRef,
        /// RSA-OAEP (and its variant) or a key manager's AES-GCM.
        alg: RootAlg,
    },
}

#[derive(Clone, PartialEq, Eq)]
struct RootParts {
    check_offset: usize,
    ct_offset: usize,
}

/// A wrapped key in the versioned byte format, parsed and validated.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    bytes: Vec<u8>,
    child_tier: TierId,
    child_ref: KeyRef,
    parent: WrapParent,
    root: Option<RootParts>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("child_tier", &self.child_tier)
            .field("child_ref", &self.child_ref)
            .field("parent", &self.parent)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The (parent, child) tier pairs of docs/format.md §1.1.
fn allowed_pair(parent: TierId, child: TierId) -> bool {
    use TierId::*;
    matches!(
        (parent, child),
        (Root, Dep)
            | (Root, Tik)
            | (Availability, Dep)
            | (Availability, Tik)
            | (Dep, Mailbox)
            | (Dep, Workload)
            | (Tik, Site)
    )
}

fn read_u16(b: &[u8], at: usize) -> Result<(usize, usize), CryptoError> {
    let s = b
        .get(at..at + 2)
        .ok_or(CryptoError::Truncated("wrapped key length field"))?;
    Ok((usize::from(u16::from_be_bytes([s[0], s[1]])), at + 2))
}

fn read_str(b: &[u8], at: usize, max: usize) -> Result<(String, usize), CryptoError> {
    let (len, at) = read_u16(b, at)?;
    if len > max {
        return Err(CryptoError::Malformed("wrapped key string too long"));
    }
    let s = b
        .get(at..at + len)
        .ok_or(CryptoError::Truncated("wrapped key string"))?;
    let s = std::str::from_utf8(s).map_err(|_| CryptoError::Malformed("string is not UTF-8"))?;
    Ok((s.to_owned(), at + len))
}

impl WrappedKey {
    /// Parses and validates the byte format (no key needed). Never panics on any input.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() < PARENT_TIER_OFFSET + 1 {
            return Err(CryptoError::Truncated("wrapped key header"));
        }
        if b[..4] != WRAPPED_KEY_MAGIC {
            return Err(CryptoError::Malformed("not a wrapped key (bad magic)"));
        }
        if b[4] != WRAPPED_KEY_VERSION {
            return Err(CryptoError::UnsupportedVersion(b[4]));
        }
        let alg = WrapAlg::from_u8(b[5])?;
        let child_tier = TierId::from_u8(b[6])?;
        if matches!(child_tier, TierId::Root | TierId::Item | TierId::Chunk) {
            return Err(CryptoError::Malformed("this tier is never wrapped"));
        }
        let child_ref = KeyRef::from_bytes(&b[7..7 + KEY_REF_LEN])?;
        let parent_tier = TierId::from_u8(b[PARENT_TIER_OFFSET])?;
        if !allowed_pair(parent_tier, child_tier) {
            return Err(CryptoError::Malformed("this tier cannot wrap that tier"));
        }
        match alg {
            WrapAlg::Aes256Gcm => {
                if b.len() != AES_WRAPPED_KEY_LEN {
                    return Err(CryptoError::InvalidLength {
                        what: "AES-wrapped key",
                        expected: AES_WRAPPED_KEY_LEN,
                        actual: b.len(),
                    });
                }
                if parent_tier == TierId::Root {
                    return Err(CryptoError::Malformed("AES wrap under a root key"));
                }
                let parent_ref = KeyRef::from_bytes(&b[28..AES_HEADER_LEN])?;
                Ok(WrappedKey {
                    bytes: b.to_vec(),
                    child_tier,
                    child_ref,
                    parent: WrapParent::Key {
                        tier: parent_tier,
                        key_ref: parent_ref,
                    },
                    root: None,
                })
            }
            WrapAlg::RsaOaep256 | WrapAlg::RsaOaep | WrapAlg::KmsAesGcm => {
                if parent_tier != TierId::Root {
                    return Err(CryptoError::Malformed("RSA wrap under a non-root key"));
                }
                let (key_id, at) = read_str(b, 28, MAX_ROOT_KEY_ID_LEN)?;
                let (version, at) = read_str(b, at, MAX_ROOT_VERSION_LEN)?;
                let root = RootKeyRef::new(key_id, version)?;
                let check_offset = at;
                let (ct_len, ct_offset) = read_u16(b, check_offset + ROOT_CHECK_LEN)
                    .map_err(|_| CryptoError::Truncated("root wrap check value"))?;
                check_root_output(alg, ct_len)?;
                if b.len() != ct_offset + ct_len {
                    return Err(if b.len() < ct_offset + ct_len {
                        CryptoError::Truncated("RSA ciphertext")
                    } else {
                        CryptoError::Malformed("trailing bytes after RSA ciphertext")
                    });
                }
                let root_alg = match alg {
                    WrapAlg::RsaOaep256 => RootAlg::Oaep(OaepAlg::RsaOaep256),
                    WrapAlg::RsaOaep => RootAlg::Oaep(OaepAlg::RsaOaep),
                    _ => RootAlg::KmsAesGcm,
                };
                Ok(WrappedKey {
                    bytes: b.to_vec(),
                    child_tier,
                    child_ref,
                    parent: WrapParent::Root {
                        root,
                        alg: root_alg,
                    },
                    root: Some(RootParts {
                        check_offset,
                        ct_offset,
                    }),
                })
            }
        }
    }

    /// The encoded bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The tier of the wrapped key.
    pub fn child_tier(&self) -> TierId {
        self.child_tier
    }

    /// The id and version of the wrapped key.
    pub fn child_key_ref(&self) -> KeyRef {
        self.child_ref
    }

    /// What wrapped it.
    pub fn parent(&self) -> &WrapParent {
        &self.parent
    }

    /// For an RSA root wrap: the RSA-OAEP output to hand to the vault's `unwrapKey`.
    pub fn rsa_ciphertext(&self) -> Option<&[u8]> {
        self.oaep_alg()?;
        self.root_ciphertext()
    }

    /// For an RSA root wrap: the OAEP variant, which the vault's `unwrapKey` must be asked for.
    pub fn oaep_alg(&self) -> Option<OaepAlg> {
        self.root_alg().and_then(RootAlg::oaep)
    }

    /// For any root wrap: what the root key's holder returned (RSA-OAEP output, or a key
    /// manager's `iv || ciphertext || tag`).
    pub fn root_ciphertext(&self) -> Option<&[u8]> {
        self.root.as_ref().map(|r| &self.bytes[r.ct_offset..])
    }

    /// For any root wrap: how the root key wrapped it.
    pub fn root_alg(&self) -> Option<RootAlg> {
        match &self.parent {
            WrapParent::Root { alg, .. } => Some(*alg),
            WrapParent::Key { .. } => None,
        }
    }

    /// For a root wrap: the root key it was made with.
    pub fn root_key_ref(&self) -> Option<&RootKeyRef> {
        match &self.parent {
            WrapParent::Root { root, .. } => Some(root),
            WrapParent::Key { .. } => None,
        }
    }

    fn expect_child<C: tier::Tier>(&self) -> Result<(), CryptoError> {
        if self.child_tier != C::ID {
            return Err(CryptoError::TierMismatch {
                expected: C::ID.name(),
                found: self.child_tier.name(),
            });
        }
        Ok(())
    }
}

/// Which tier may be AES-wrapped under which, and with what binding.
pub trait WrapsUnder<P: tier::Tier>: tier::Tier {
    /// The owner ids bound into the wrap.
    type Binding: Binding;
}

impl WrapsUnder<tier::Availability> for tier::Dep {
    type Binding = DepBinding;
}
impl WrapsUnder<tier::Availability> for tier::Tik {
    type Binding = DepBinding;
}
impl WrapsUnder<tier::Dep> for tier::Mailbox {
    type Binding = OwnerBinding;
}
impl WrapsUnder<tier::Dep> for tier::Workload {
    type Binding = OwnerBinding;
}
impl WrapsUnder<tier::Tik> for tier::Site {
    type Binding = OwnerBinding;
}

/// Tiers whose keys a customer root key wraps (DEP key, TIK).
pub trait RootWrapped: tier::Tier {}
impl RootWrapped for tier::Dep {}
impl RootWrapped for tier::Tik {}

fn common_header(alg: WrapAlg, child_tier: TierId, child: KeyRef, parent_tier: TierId) -> Vec<u8> {
    let mut h = Vec::with_capacity(AES_WRAPPED_KEY_LEN);
    h.extend_from_slice(&WRAPPED_KEY_MAGIC);
    h.push(WRAPPED_KEY_VERSION);
    h.push(alg as u8);
    h.push(child_tier as u8);
    h.extend_from_slice(&child.to_bytes());
    h.push(parent_tier as u8);
    h
}

impl<P: tier::Tier> TierKey<P> {
    /// AES-256-GCM wrap of `child` under this key, bound to `binding`.
    pub fn wrap<C: WrapsUnder<P>>(
        &self,
        child: &TierKey<C>,
        binding: &C::Binding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap_with(default_provider(), child, binding)
    }

    /// [`TierKey::wrap`] with an explicit provider.
    pub fn wrap_with<C: WrapsUnder<P>>(
        &self,
        provider: &dyn CryptoProvider,
        child: &TierKey<C>,
        binding: &C::Binding,
    ) -> Result<WrappedKey, CryptoError> {
        let mut out = common_header(WrapAlg::Aes256Gcm, C::ID, child.key_ref(), P::ID);
        out.extend_from_slice(&self.key_ref().to_bytes());
        let mut aad = out.clone();
        aad.extend_from_slice(&binding.encode()?);
        let mut nonce = [0u8; NONCE_LEN];
        provider.fill_random(&mut nonce)?;
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(child.secret.expose());
        let aead = provider.aead_key(self.secret.expose())?;
        let tag = aead.seal_in_place(&nonce, &aad, &mut out[body..])?;
        out.extend_from_slice(&tag);
        WrappedKey::from_bytes(&out)
    }

    /// Unwraps a key of tier `C` made by [`TierKey::wrap`], checking tiers, this key's id and
    /// version, and the binding.
    pub fn unwrap<C: WrapsUnder<P>>(
        &self,
        wrapped: &WrappedKey,
        binding: &C::Binding,
    ) -> Result<TierKey<C>, CryptoError> {
        self.unwrap_with(default_provider(), wrapped, binding)
    }

    /// [`TierKey::unwrap`] with an explicit provider.
    pub fn unwrap_with<C: WrapsUnder<P>>(
        &self,
        provider: &dyn CryptoProvider,
        wrapped: &WrappedKey,
        binding: &C::Binding,
    ) -> Result<TierKey<C>, CryptoError> {
        wrapped.expect_child::<C>()?;
        match &wrapped.parent {
            WrapParent::Key { tier, key_ref } => {
                if *tier != P::ID {
                    return Err(CryptoError::TierMismatch {
                        expected: P::ID.name(),
                        found: tier.name(),
                    });
                }
                if *key_ref != self.key_ref() {
                    return Err(CryptoError::BindingMismatch(
                        "wrapped under another key id or version",
                    ));
                }
            }
            WrapParent::Root { .. } => {
                return Err(CryptoError::TierMismatch {
                    expected: P::ID.name(),
                    found: TierId::Root.name(),
                })
            }
        }
        let b = &wrapped.bytes;
        let mut aad = b[..AES_HEADER_LEN].to_vec();
        aad.extend_from_slice(&binding.encode()?);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&b[AES_HEADER_LEN..AES_HEADER_LEN + NONCE_LEN]);
        let mut body = zeroize::Zeroizing::new(b[AES_HEADER_LEN + NONCE_LEN..].to_vec());
        let aead = provider.aead_key(self.secret.expose())?;
        let n = aead.open_in_place(&nonce, &aad, &mut body)?;
        let key = SecretKey32::from_slice(&body[..n])?;
        Ok(TierKey::from_secret(key, wrapped.child_ref))
    }
}

fn root_check(
    provider: &dyn CryptoProvider,
    key: &SecretKey32,
    header: &[u8],
    binding: &[u8],
) -> Result<[u8; ROOT_CHECK_LEN], CryptoError> {
    let mut out = [0u8; ROOT_CHECK_LEN];
    provider.hkdf_sha256(
        b"",
        key.expose(),
        &[ROOT_CHECK_INFO, header, binding],
        &mut out,
    )?;
    Ok(out)
}

fn push_str(out: &mut Vec<u8>, s: &str) -> Result<(), CryptoError> {
    push_str_bytes(out, s.as_bytes())
}

impl<T: RootWrapped> TierKey<T> {
    /// The 32 raw bytes a vault RSA-wraps (`wrapKey`). Keep the borrow short; the result of the
    /// vault call goes to [`TierKey::wrap_from_root`].
    pub fn bytes_for_root_wrap(&self) -> &[u8; 32] {
        self.secret.expose()
    }

    /// Builds the root-wrapped key format from a vault's RSA-OAEP output over
    /// [`TierKey::bytes_for_root_wrap`]. The check value binds it to `binding` and this key's
    /// id and version.
    pub fn wrap_from_root(
        &self,
        root: &RootKeyRef,
        alg: OaepAlg,
        rsa_output: &[u8],
        binding: &DepBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap_from_root_alg(root, RootAlg::Oaep(alg), rsa_output, binding)
    }

    /// [`TierKey::wrap_from_root`] for any root wrap: RSA-OAEP output, or a key manager's
    /// AES-GCM `iv || ciphertext || tag` ([`KMS_GCM_WRAP_LEN`] bytes).
    pub fn wrap_from_root_alg(
        &self,
        root: &RootKeyRef,
        alg: RootAlg,
        rsa_output: &[u8],
        binding: &DepBinding,
    ) -> Result<WrappedKey, CryptoError> {
        check_root_output(alg.wrap_alg(), rsa_output.len())?;
        let mut out = common_header(alg.wrap_alg(), T::ID, self.key_ref(), TierId::Root);
        push_str(&mut out, root.key_id())?;
        push_str(&mut out, root.version())?;
        let check = root_check(default_provider(), &self.secret, &out, &binding.encode()?)?;
        out.extend_from_slice(&check);
        push_str_bytes(&mut out, rsa_output)?;
        WrappedKey::from_bytes(&out)
    }

    /// Root wrap with a software-held RSA public key (local vault, service-held RSA key).
    pub fn wrap_under_rsa(
        &self,
        root: &RootKeyRef,
        public: &RsaPublicKey,
        alg: OaepAlg,
        binding: &DepBinding,
    ) -> Result<WrappedKey, CryptoError> {
        let ct = public.oaep_wrap(alg, self.secret.expose())?;
        self.wrap_from_root(root, alg, &ct, binding)
    }

    /// Rebuilds the key from a vault's `unwrapKey` result for `wrapped`, checking the length, the
    /// tier and the check value (so a copy moved to another DEP, or a wrong unwrap, fails).
    pub fn from_root_unwrap(
        wrapped: &WrappedKey,
        binding: &DepBinding,
        unwrapped: &[u8],
    ) -> Result<Self, CryptoError> {
        wrapped.expect_child::<T>()?;
        let parts = wrapped.root.as_ref().ok_or(CryptoError::TierMismatch {
            expected: TierId::Root.name(),
            found: "service key",
        })?;
        let key = SecretKey32::from_slice(unwrapped).map_err(|_| CryptoError::Authentication)?;
        let b = &wrapped.bytes;
        let expect = root_check(
            default_provider(),
            &key,
            &b[..parts.check_offset],
            &binding.encode()?,
        )?;
        if !ct_eq(
            &expect,
            &b[parts.check_offset..parts.check_offset + ROOT_CHECK_LEN],
        ) {
            return Err(CryptoError::Authentication);
        }
        Ok(TierKey::from_secret(key, wrapped.child_ref))
    }

    /// Unwraps with a software-held RSA private key. Every failure after parsing (RSA-OAEP
    /// decoding, wrong key, wrong binding) is [`CryptoError::Authentication`].
    pub fn unwrap_under_rsa(
        wrapped: &WrappedKey,
        binding: &DepBinding,
        private: &RsaPrivateKey,
    ) -> Result<Self, CryptoError> {
        let (ct, alg) = match (wrapped.rsa_ciphertext(), wrapped.oaep_alg()) {
            (Some(ct), Some(alg)) => (ct, alg),
            _ => {
                return Err(CryptoError::TierMismatch {
                    expected: TierId::Root.name(),
                    found: "service key",
                })
            }
        };
        // An RSA failure and a check-value failure look the same to the caller (one error,
        // the same HKDF work), so this path is no OAEP padding oracle.
        match private.oaep_unwrap(alg, ct) {
            Ok(raw) => Self::from_root_unwrap(wrapped, binding, &raw),
            Err(_) => {
                let _ = Self::from_root_unwrap(wrapped, binding, &[0u8; 32]);
                Err(CryptoError::Authentication)
            }
        }
    }
}

fn check_root_output(alg: WrapAlg, len: usize) -> Result<(), CryptoError> {
    match alg {
        WrapAlg::KmsAesGcm if len != KMS_GCM_WRAP_LEN => Err(CryptoError::Malformed(
            "a key manager's AES-GCM root wrap must be 60 bytes (IV, ciphertext, tag)",
        )),
        WrapAlg::RsaOaep256 | WrapAlg::RsaOaep if !matches!(len, 256 | 384 | 512) => Err(
            CryptoError::Malformed("RSA ciphertext must be 256, 384 or 512 bytes"),
        ),
        _ => Ok(()),
    }
}

fn push_str_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<(), CryptoError> {
    let len = u16::try_from(b.len()).map_err(|_| CryptoError::Malformed("field too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

// Named forms of the generic wraps, for readability at call sites.

impl TierKey<tier::Availability> {
    /// Wraps a DEP key, bound to its DEP.
    pub fn wrap_dep_key(
        &self,
        dep_key: &TierKey<tier::Dep>,
        binding: &DepBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap(dep_key, binding)
    }
    /// Unwraps a DEP key.
    pub fn unwrap_dep_key(
        &self,
        wrapped: &WrappedKey,
        binding: &DepBinding,
    ) -> Result<TierKey<tier::Dep>, CryptoError> {
        self.unwrap(wrapped, binding)
    }
    /// Wraps a tenant intermediate key, bound to its SharePoint DEP.
    pub fn wrap_tik(
        &self,
        tik: &TierKey<tier::Tik>,
        binding: &DepBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap(tik, binding)
    }
    /// Unwraps a tenant intermediate key.
    pub fn unwrap_tik(
        &self,
        wrapped: &WrappedKey,
        binding: &DepBinding,
    ) -> Result<TierKey<tier::Tik>, CryptoError> {
        self.unwrap(wrapped, binding)
    }
}

impl TierKey<tier::Dep> {
    /// Wraps a mailbox key, bound to (DEP GUID, mailbox GUID) and both key refs.
    pub fn wrap_mailbox_key(
        &self,
        key: &TierKey<tier::Mailbox>,
        binding: &OwnerBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap(key, binding)
    }
    /// Unwraps a mailbox key.
    pub fn unwrap_mailbox_key(
        &self,
        wrapped: &WrappedKey,
        binding: &OwnerBinding,
    ) -> Result<TierKey<tier::Mailbox>, CryptoError> {
        self.unwrap(wrapped, binding)
    }
    /// Wraps a workload key, bound to (DEP GUID, workload GUID) and both key refs.
    pub fn wrap_workload_key(
        &self,
        key: &TierKey<tier::Workload>,
        binding: &OwnerBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap(key, binding)
    }
    /// Unwraps a workload key.
    pub fn unwrap_workload_key(
        &self,
        wrapped: &WrappedKey,
        binding: &OwnerBinding,
    ) -> Result<TierKey<tier::Workload>, CryptoError> {
        self.unwrap(wrapped, binding)
    }
}

impl TierKey<tier::Tik> {
    /// Wraps a site key, bound to (SharePoint DEP GUID, site GUID) and both key refs.
    pub fn wrap_site_key(
        &self,
        key: &TierKey<tier::Site>,
        binding: &OwnerBinding,
    ) -> Result<WrappedKey, CryptoError> {
        self.wrap(key, binding)
    }
    /// Unwraps a site key.
    pub fn unwrap_site_key(
        &self,
        wrapped: &WrappedKey,
        binding: &OwnerBinding,
    ) -> Result<TierKey<tier::Site>, CryptoError> {
        self.unwrap(wrapped, binding)
    }
}
