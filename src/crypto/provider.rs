//! The provider seam: the handful of primitives the crypto core needs, behind one trait.
//!
//! [`AwsLcProvider`] (aws-lc-rs) is the default and is what every public function uses unless a
//! `*_with` variant is given another provider. With the `rustcrypto` feature, `RustCryptoProvider`
//! offers the same primitives in pure Rust (aes-gcm, rsa, sha1/sha2, hkdf); tests run both and
//! check that what one seals the other opens.

use zeroize::{Zeroize, Zeroizing};

use super::error::CryptoError;
use super::rsa::OaepAlg;

/// AES-256-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key, expanded once and usable for many messages.
pub trait AeadKey: Send + Sync {
    /// Encrypts `in_out` in place and returns the 16-byte tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Decrypts `ct_and_tag` (ciphertext followed by the tag) in place and returns the plaintext
    /// length. On failure the whole buffer is zeroed, so no unauthenticated plaintext survives.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct_and_tag: &mut [u8],
    ) -> Result<usize, CryptoError>;
}

/// An RSA private key parsed by a provider, ready for OAEP decryption.
pub trait RsaPrivateOps: Send + Sync {
    /// Modulus size in bits.
    fn bits(&self) -> usize;
    /// The public key as SubjectPublicKeyInfo DER.
    fn public_spki_der(&self) -> Result<Vec<u8>, CryptoError>;
    /// RSA-OAEP decryption with an empty label.
    fn oaep_decrypt(&self, alg: OaepAlg, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// The primitives the crypto core is built on.
pub trait CryptoProvider: Send + Sync {
    /// A short name for reports and test output.
    fn name(&self) -> &'static str;
    /// Fills `buf` from a cryptographically secure generator.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
    /// Expands a 32-byte AES-256-GCM key.
    fn aead_key(&self, key: &[u8; 32]) -> Result<Box<dyn AeadKey>, CryptoError>;
    /// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with the concatenation of `info`.
    fn hkdf_sha256(
        &self,
        salt: &[u8],
        ikm: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError>;
    /// Generates an RSA key (e = 65537) and returns it as PKCS#8 DER.
    fn rsa_generate_pkcs8(&self, bits: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
    /// Parses a PKCS#8 DER RSA private key.
    fn rsa_private_from_pkcs8(&self, der: &[u8]) -> Result<Box<dyn RsaPrivateOps>, CryptoError>;
    /// RSA-OAEP encryption (empty label) under a SubjectPublicKeyInfo DER public key.
    fn rsa_oaep_encrypt(
        &self,
        spki_der: &[u8],
        alg: OaepAlg,
        msg: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;
}

/// The default provider.
pub fn default_provider() -> &'static dyn CryptoProvider {
    &AwsLcProvider
}

/// Every provider compiled into this build (the default first).
pub fn all_providers() -> Vec<&'static dyn CryptoProvider> {
    #[allow(unused_mut)]
    let mut v: Vec<&'static dyn CryptoProvider> = vec![&AwsLcProvider];
    #[cfg(feature = "rustcrypto")]
    v.push(&super::provider_rustcrypto::RustCryptoProvider);
    v
}

/// RSA key sizes the core accepts for root keys.
pub(crate) fn check_rsa_bits(bits: usize) -> Result<(), CryptoError> {
    match bits {
        2048 | 3072 | 4096 => Ok(()),
        _ => Err(CryptoError::InvalidKeySize { bits }),
    }
}

/// aws-lc-rs: constant-time RSA, AES-NI/CLMUL AES-GCM. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcProvider;

struct AwsLcAead(aws_lc_rs::aead::LessSafeKey);

impl AeadKey for AwsLcAead {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        use aws_lc_rs::aead::{Aad, Nonce};
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                in_out,
            )
            .map_err(|_| CryptoError::Provider("AES-256-GCM seal"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct_and_tag: &mut [u8],
    ) -> Result<usize, CryptoError> {
        use aws_lc_rs::aead::{Aad, Nonce};
        if ct_and_tag.len() < TAG_LEN {
            return Err(CryptoError::Truncated(
                "AES-GCM ciphertext shorter than its tag",
            ));
        }
        let res = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                ct_and_tag,
            )
            .map(|pt| pt.len());
        match res {
            Ok(n) => Ok(n),
            Err(_) => {
                ct_and_tag.zeroize();
                Err(CryptoError::Authentication)
            }
        }
    }
}

struct AwsLcRsaPrivate {
    key: aws_lc_rs::rsa::OaepPrivateDecryptingKey,
    public_der: Vec<u8>,
}

impl RsaPrivateOps for AwsLcRsaPrivate {
    fn bits(&self) -> usize {
        self.key.key_size_bits()
    }

    fn public_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        Ok(self.public_der.clone())
    }

    fn oaep_decrypt(&self, alg: OaepAlg, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let n = self
            .key
            .decrypt(aws_oaep(alg), ct, &mut out, None)
            .map_err(|_| CryptoError::RsaDecryption)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

fn aws_oaep(alg: OaepAlg) -> &'static aws_lc_rs::rsa::OaepAlgorithm {
    match alg {
        OaepAlg::RsaOaep256 => &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
        OaepAlg::RsaOaep => &aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1,
    }
}

/// Output length for aws-lc-rs HKDF expansion.
struct HkdfLen(usize);

impl aws_lc_rs::hkdf::KeyType for HkdfLen {
    fn len(&self) -> usize {
        self.0
    }
}

impl CryptoProvider for AwsLcProvider {
    fn name(&self) -> &'static str {
        "aws-lc-rs"
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        // The OS generator, as `crate::crypto::random_bytes`: AWS-LC's own seeds itself from
        // CPU-jitter entropy on first use (about 25 ms a process), which every import and upload
        // paid for its first content salt. AWS-LC's generator is the fallback.
        getrandom::fill(buf)
            .or_else(|_| aws_lc_rs::rand::fill(buf).map_err(|_| getrandom::Error::UNSUPPORTED))
            .map_err(|_| CryptoError::Provider("random generator"))
    }

    fn aead_key(&self, key: &[u8; 32]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key)
            .map_err(|_| CryptoError::Provider("AES-256-GCM key setup"))?;
        Ok(Box::new(AwsLcAead(aws_lc_rs::aead::LessSafeKey::new(
            unbound,
        ))))
    }

    fn hkdf_sha256(
        &self,
        salt: &[u8],
        ikm: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
        let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
        prk.expand(info, HkdfLen(out.len()))
            .and_then(|okm| okm.fill(out))
            .map_err(|_| CryptoError::Provider("HKDF-SHA256 output length"))
    }

    fn rsa_generate_pkcs8(&self, bits: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::InvalidKeySize { bits }),
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| CryptoError::Provider("RSA key generation"))?;
        let der = key
            .as_der()
            .map_err(|_| CryptoError::Provider("RSA PKCS#8 encoding"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    fn rsa_private_from_pkcs8(&self, der: &[u8]) -> Result<Box<dyn RsaPrivateOps>, CryptoError> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey};
        let key = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|_| CryptoError::InvalidRsaKey("not a PKCS#8 RSA private key"))?;
        check_rsa_bits(key.key_size_bits())?;
        let public_der = key
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Provider("RSA public key encoding"))?
            .as_ref()
            .to_vec();
        let key = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| CryptoError::InvalidRsaKey("key not usable for OAEP"))?;
        Ok(Box::new(AwsLcRsaPrivate { key, public_der }))
    }

    fn rsa_oaep_encrypt(
        &self,
        spki_der: &[u8],
        alg: OaepAlg,
        msg: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
        let key = PublicEncryptingKey::from_der(spki_der)
            .map_err(|_| CryptoError::InvalidRsaKey("not an RSA SubjectPublicKeyInfo"))?;
        let key = OaepPublicEncryptingKey::new(key)
            .map_err(|_| CryptoError::InvalidRsaKey("key not usable for OAEP"))?;
        if msg.len() > key.max_plaintext_size(aws_oaep(alg)) {
            return Err(CryptoError::InvalidLength {
                what: "RSA-OAEP plaintext",
                expected: key.max_plaintext_size(aws_oaep(alg)),
                actual: msg.len(),
            });
        }
        let mut out = vec![0u8; key.ciphertext_size()];
        let n = key
            .encrypt(aws_oaep(alg), msg, &mut out, None)
            .map_err(|_| CryptoError::Provider("RSA-OAEP encryption"))?
            .len();
        out.truncate(n);
        Ok(out)
    }
}
