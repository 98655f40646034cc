//! The pure-Rust provider (feature `rustcrypto`): aes-gcm 0.11, rsa 0.10, sha1/sha2 0.11,
//! hkdf 0.13, randomness from the operating system through getrandom.
//!
//! rsa 0.10 is still flagged by RUSTSEC-2023-0071 (Marvin); see `docs/security.md` before
//! using this provider for private-key operations on a network-reachable service.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use zeroize::{Zeroize, Zeroizing};

use super::error::CryptoError;
use super::provider::{check_rsa_bits, AeadKey, CryptoProvider, RsaPrivateOps, NONCE_LEN, TAG_LEN};
use super::rsa::OaepAlg;

/// RustCrypto crates: pure Rust, portable, slower, and `rsa` carries the Marvin advisory.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoProvider;

struct RcAead(Aes256Gcm);

impl AeadKey for RcAead {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .0
            .encrypt_inout_detached(&(*nonce).into(), aad, in_out.into())
            .map_err(|_| CryptoError::Provider("AES-256-GCM seal"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_slice());
        Ok(out)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct_and_tag: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let ct_len = ct_and_tag
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::Truncated(
                "AES-GCM ciphertext shorter than its tag",
            ))?;
        let (ct, tag) = ct_and_tag.split_at_mut(ct_len);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        let res = self.0.decrypt_inout_detached(
            &(*nonce).into(),
            aad,
            InOutBuf::from(ct),
            &tag_arr.into(),
        );
        match res {
            Ok(()) => Ok(ct_len),
            Err(_) => {
                ct_and_tag.zeroize();
                Err(CryptoError::Authentication)
            }
        }
    }
}

struct RcRsaPrivate(rsa::PrivateKey);

impl RsaPrivateOps for RcRsaPrivate {
    fn bits(&self) -> usize {
        self.0.n().bit_width() as usize
    }

    fn public_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.0
            .to_public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| CryptoError::Provider("RSA public key encoding"))
    }

    fn oaep_decrypt(&self, alg: OaepAlg, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let res = match alg {
            OaepAlg::RsaOaep256 => self.0.oaep_decrypt::<sha2::Sha256>(ct),
            OaepAlg::RsaOaep => self.0.oaep_decrypt::<sha1::Sha1>(ct),
        };
        res.map(Zeroizing::new)
            .map_err(|_| CryptoError::RsaDecryption)
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::fill(buf).map_err(|_| CryptoError::Provider("random generator"))
    }

    fn aead_key(&self, key: &[u8; 32]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let cipher = Aes256Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::Provider("AES-256-GCM key setup"))?;
        Ok(Box::new(RcAead(cipher)))
    }

    fn hkdf_sha256(
        &self,
        salt: &[u8],
        ikm: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm);
        hk.expand_multi_info(info, out)
            .map_err(|_| CryptoError::Provider("HKDF-SHA256 output length"))
    }

    fn rsa_generate_pkcs8(&self, bits: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        check_rsa_bits(bits)?;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
            .map_err(|_| CryptoError::Provider("RSA key generation"))?;
        let doc = key
            .to_pkcs8_der()
            .map_err(|_| CryptoError::Provider("RSA PKCS#8 encoding"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    fn rsa_private_from_pkcs8(&self, der: &[u8]) -> Result<Box<dyn RsaPrivateOps>, CryptoError> {
        let key = rsa::PrivateKey::from_pkcs8_der(der)
            .map_err(|_| CryptoError::InvalidRsaKey("not a PKCS#8 RSA private key"))?;
        check_rsa_bits(key.n().bit_width() as usize)?;
        Ok(Box::new(RcRsaPrivate(key)))
    }

    fn rsa_oaep_encrypt(
        &self,
        spki_der: &[u8],
        alg: OaepAlg,
        msg: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = rsa::PublicKey::from_public_key_der(spki_der)
            .map_err(|_| CryptoError::InvalidRsaKey("not an RSA SubjectPublicKeyInfo"))?;
        let max = key.size().saturating_sub(2 * alg.hash_len() + 2);
        if msg.len() > max {
            return Err(CryptoError::InvalidLength {
                what: "RSA-OAEP plaintext",
                expected: max,
                actual: msg.len(),
            });
        }
        let res = match alg {
            OaepAlg::RsaOaep256 => key.oaep_encrypt::<sha2::Sha256>(msg),
            OaepAlg::RsaOaep => key.oaep_encrypt::<sha1::Sha1>(msg),
        };
        res.map_err(|_| CryptoError::Provider("RSA-OAEP encryption"))
    }
}
