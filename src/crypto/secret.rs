//! 32-byte secret keys, randomness and the sealed-blob format for data at rest.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::CryptoError;
use super::provider::{default_provider, CryptoProvider, NONCE_LEN, TAG_LEN};

/// 32 secret bytes: an AES-256 key or a key-derivation input.
///
/// Zeroized on drop; `Debug` and `Display` print `REDACTED`. There is no `PartialEq`: compare with
/// [`SecretKey32::ct_eq`], which runs in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey32([u8; 32]);

impl SecretKey32 {
    /// A fresh random key from the default provider.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        random_bytes(&mut b);
        let k = Self(b);
        b.zeroize();
        k
    }

    /// Takes ownership of 32 bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// Copies exactly 32 bytes from a slice.
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = b.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "secret key",
            expected: 32,
            actual: b.len(),
        })?;
        Ok(Self(arr))
    }

    /// The raw key bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &SecretKey32) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey32(REDACTED)")
    }
}

impl fmt::Display for SecretKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// Constant-time comparison of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        acc |= x ^ y;
    }
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(acc) == 0
}

/// Fills `buf` with cryptographically secure random bytes from the operating system's generator
/// (getrandom(2), which blocks until the kernel's pool is seeded), or, should that fail, from the
/// default provider. If neither answers the process aborts, because continuing would mean
/// predictable keys and nonces.
pub fn random_bytes(buf: &mut [u8]) {
    // The OS generator (getrandom(2)): AWS-LC's own generator seeds itself on first use from
    // CPU-jitter entropy, about 25 ms of CPU a process, which a command that needs no RSA
    // operation (a store read proving its principal) should not pay. docs/performance.md.
    if getrandom::fill(buf).is_err() && default_provider().fill_random(buf).is_err() {
        std::process::abort();
    }
}

/// Length added by [`seal`]: nonce and tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// AES-256-GCM sealed blob for data at rest: `nonce(12) || ciphertext || tag(16)`, random nonce.
///
/// `aad` is authenticated but not stored; [`open`] must be given the same bytes.
pub fn seal(key: &SecretKey32, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    seal_with(default_provider(), key, aad, plaintext)
}

/// Opens a blob made by [`seal`]. Any change to key, `aad` or blob fails with
/// [`CryptoError::Authentication`].
pub fn open(
    key: &SecretKey32,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(default_provider(), key, aad, sealed)
}

/// [`seal`] with an explicit provider.
pub fn seal_with(
    provider: &dyn CryptoProvider,
    key: &SecretKey32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let aead = provider.aead_key(key.expose())?;
    let mut nonce = [0u8; NONCE_LEN];
    provider.fill_random(&mut nonce)?;
    let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = aead.seal_in_place(&nonce, aad, &mut out[NONCE_LEN..])?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// [`open`] with an explicit provider.
pub fn open_with(
    provider: &dyn CryptoProvider,
    key: &SecretKey32,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(CryptoError::Truncated(
            "sealed blob shorter than nonce and tag",
        ));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let mut nonce_arr = [0u8; NONCE_LEN];
    nonce_arr.copy_from_slice(nonce);
    let aead = provider.aead_key(key.expose())?;
    let mut buf = Zeroizing::new(body.to_vec());
    let n = aead.open_in_place(&nonce_arr, aad, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}
