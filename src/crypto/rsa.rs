//! RSA root keys held in software and the two RSA-OAEP variants used for root wraps.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::der;
use super::error::CryptoError;
use super::provider::{check_rsa_bits, default_provider, CryptoProvider, RsaPrivateOps};

/// Which RSA-OAEP variant wrapped a key. Both use an empty label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OaepAlg {
    /// SHA-256 with MGF1-SHA-256; Azure Key Vault's "RSA-OAEP-256". The default.
    RsaOaep256,
    /// SHA-1 with MGF1-SHA-1; Azure's "RSA-OAEP". For HSMs such as SoftHSM2 2.6 that only do
    /// SHA-1 OAEP.
    RsaOaep,
}

impl OaepAlg {
    /// The Azure Key Vault name.
    pub fn as_str(&self) -> &'static str {
        match self {
            OaepAlg::RsaOaep256 => "RSA-OAEP-256",
            OaepAlg::RsaOaep => "RSA-OAEP",
        }
    }

    /// Hash output length in bytes (OAEP overhead is `2 * hash_len + 2`).
    pub fn hash_len(&self) -> usize {
        match self {
            OaepAlg::RsaOaep256 => 32,
            OaepAlg::RsaOaep => 20,
        }
    }
}

impl fmt::Display for OaepAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OaepAlg {
    type Err = CryptoError;
    /// Accepts the Azure names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        if s.eq_ignore_ascii_case("RSA-OAEP-256") {
            Ok(OaepAlg::RsaOaep256)
        } else if s.eq_ignore_ascii_case("RSA-OAEP") {
            Ok(OaepAlg::RsaOaep)
        } else {
            Err(CryptoError::UnknownAlgorithmName(s.to_owned()))
        }
    }
}

/// An RSA private key held in software (a local-vault root key or a service-held RSA key).
///
/// Holds the PKCS#8 DER (zeroized on drop) and the provider's parsed key. `Debug` prints
/// `REDACTED`.
pub struct RsaPrivateKey {
    der: Zeroizing<Vec<u8>>,
    ops: Box<dyn RsaPrivateOps>,
    public: RsaPublicKey,
}

impl RsaPrivateKey {
    /// Generates a key of 2048, 3072 or 4096 bits (e = 65537); other sizes fail with
    /// [`CryptoError::InvalidKeySize`].
    pub fn generate(bits: usize) -> Result<Self, CryptoError> {
        Self::generate_with(default_provider(), bits)
    }

    /// [`RsaPrivateKey::generate`] with an explicit provider.
    pub fn generate_with(provider: &dyn CryptoProvider, bits: usize) -> Result<Self, CryptoError> {
        check_rsa_bits(bits)?;
        let der = provider.rsa_generate_pkcs8(bits)?;
        Self::from_pkcs8_der_with(provider, &der)
    }

    /// Parses a PKCS#8 DER private key (2048, 3072 or 4096 bits).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        Self::from_pkcs8_der_with(default_provider(), der)
    }

    /// [`RsaPrivateKey::from_pkcs8_der`] with an explicit provider.
    pub fn from_pkcs8_der_with(
        provider: &dyn CryptoProvider,
        der: &[u8],
    ) -> Result<Self, CryptoError> {
        let ops = provider.rsa_private_from_pkcs8(der)?;
        check_rsa_bits(ops.bits())?;
        let public = RsaPublicKey::from_der(&ops.public_spki_der()?)?;
        Ok(RsaPrivateKey {
            der: Zeroizing::new(der.to_vec()),
            ops,
            public,
        })
    }

    /// The PKCS#8 DER encoding.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.der.clone()
    }

    /// The public half.
    pub fn public_key(&self) -> RsaPublicKey {
        self.public.clone()
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.ops.bits()
    }

    /// RSA-OAEP decryption of a wrapped key. Every failure is the same
    /// [`CryptoError::RsaDecryption`], so the error says nothing about why.
    pub fn oaep_unwrap(
        &self,
        alg: OaepAlg,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if wrapped.len() != self.public.modulus_len() {
            return Err(CryptoError::RsaDecryption);
        }
        self.ops.oaep_decrypt(alg, wrapped)
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPrivateKey({} bits, REDACTED)", self.bits())
    }
}

/// An RSA public key: SubjectPublicKeyInfo DER inside, with `n` and `e` parsed out.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    spki: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl RsaPublicKey {
    /// Parses SubjectPublicKeyInfo DER (rsaEncryption). Keys of 2048, 3072 and 4096 bits only.
    pub fn from_der(spki_der: &[u8]) -> Result<Self, CryptoError> {
        let (n, e) = der::parse_rsa_spki(spki_der)?;
        let odd = |v: &[u8]| v.last().is_some_and(|b| b & 1 == 1);
        if !odd(&n) || !odd(&e) || e == [1] {
            return Err(CryptoError::InvalidRsaKey(
                "modulus and exponent must be odd, e > 1",
            ));
        }
        let key = RsaPublicKey {
            spki: spki_der.to_vec(),
            n,
            e,
        };
        check_rsa_bits(key.bits())?;
        Ok(key)
    }

    /// Parses a PKCS#1 RSAPublicKey (DER; as a KMIP server returns a public key in Key Format
    /// Type PKCS#1). Keys of 2048, 3072 and 4096 bits only.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        let (n, e) = der::parse_rsa_public_key(der)?;
        Self::from_components(&n, &e)
    }

    /// From a big-endian modulus and exponent (as a PKCS#11 token reports a public key).
    /// Keys of 2048, 3072 and 4096 bits only.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, CryptoError> {
        Self::from_der(&der::encode_rsa_spki(n, e))
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        der::bit_len(&self.n)
    }

    fn modulus_len(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// Modulus, big-endian, no leading zero bytes (JWK `n`).
    pub fn modulus_be(&self) -> Vec<u8> {
        self.n.clone()
    }

    /// Public exponent, big-endian, no leading zero bytes (JWK `e`).
    pub fn exponent_be(&self) -> Vec<u8> {
        self.e.clone()
    }

    /// RSA-OAEP encryption of key bytes (empty label).
    pub fn oaep_wrap(&self, alg: OaepAlg, key_bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.oaep_wrap_with(default_provider(), alg, key_bytes)
    }

    /// [`RsaPublicKey::oaep_wrap`] with an explicit provider.
    pub fn oaep_wrap_with(
        &self,
        provider: &dyn CryptoProvider,
        alg: OaepAlg,
        key_bytes: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        provider.rsa_oaep_encrypt(&self.spki, alg, key_bytes)
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}
