//! Keyed commitments to root-wrapped keys (`docs/format.md` §2.4).
//!
//! The check value inside an RSA root wrap is computed from the wrapped key alone, so anyone
//! holding the customer key's public half can make a root wrap of a key of their choosing that
//! passes it. A commitment closes that gap: at creation the service records
//! `HKDF-SHA256(salt = K_c, IKM = key, info = label || tier || key ref || binding)`, where `K_c`
//! is derived from the service master key. Every unwrapped DEP key or TIK must match it, and
//! only a holder of the service master key can make one.

use super::error::CryptoError;
use super::keys::{Binding, DepBinding, TierKey};
use super::provider::{default_provider, CryptoProvider};
use super::secret::{ct_eq, SecretKey32};
use super::wrap::RootWrapped;

/// Length of a key commitment.
pub const KEY_COMMITMENT_LEN: usize = 32;
/// HKDF info of the commitment key (derived from the service master key).
const COMMITMENT_KEY_INFO: &[u8] = b"custkey/v1 key-commitment key";
/// HKDF info prefix of a commitment.
const COMMITMENT_INFO: &[u8] = b"custkey/v1 key-commitment";

/// The service-held key that commitments are made under.
pub struct CommitmentKey(SecretKey32);

impl CommitmentKey {
    /// `K_c = HKDF-SHA256(salt = "", IKM = master, info = "custkey/v1 key-commitment key")`.
    pub fn derive(master: &SecretKey32) -> Result<Self, CryptoError> {
        Self::derive_with(default_provider(), master)
    }

    /// [`CommitmentKey::derive`] with an explicit provider.
    pub fn derive_with(
        provider: &dyn CryptoProvider,
        master: &SecretKey32,
    ) -> Result<Self, CryptoError> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        provider.hkdf_sha256(b"", master.expose(), &[COMMITMENT_KEY_INFO], out.as_mut())?;
        Ok(CommitmentKey(SecretKey32::from_bytes(*out)))
    }

    /// The derived key's bytes (for test vectors only).
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }

    /// The commitment to `key` (a DEP key or TIK) bound to its policy.
    pub fn commit<T: RootWrapped>(
        &self,
        key: &TierKey<T>,
        binding: &DepBinding,
    ) -> Result<[u8; KEY_COMMITMENT_LEN], CryptoError> {
        self.commit_with(default_provider(), key, binding)
    }

    /// [`CommitmentKey::commit`] with an explicit provider.
    pub fn commit_with<T: RootWrapped>(
        &self,
        provider: &dyn CryptoProvider,
        key: &TierKey<T>,
        binding: &DepBinding,
    ) -> Result<[u8; KEY_COMMITMENT_LEN], CryptoError> {
        let mut out = [0u8; KEY_COMMITMENT_LEN];
        let secret = key.to_secret();
        provider.hkdf_sha256(
            self.0.expose(),
            secret.expose(),
            &[
                COMMITMENT_INFO,
                &[key.tier() as u8],
                &key.key_ref().to_bytes(),
                &binding.encode()?,
            ],
            &mut out,
        )?;
        Ok(out)
    }

    /// Checks `key` against a stored commitment in constant time. A mismatch, or a stored
    /// value of the wrong length, is [`CryptoError::Authentication`].
    pub fn verify<T: RootWrapped>(
        &self,
        key: &TierKey<T>,
        binding: &DepBinding,
        stored: &[u8],
    ) -> Result<(), CryptoError> {
        let expect = self.commit(key, binding)?;
        if stored.len() != KEY_COMMITMENT_LEN || !ct_eq(&expect, stored) {
            return Err(CryptoError::Authentication);
        }
        Ok(())
    }
}

impl std::fmt::Debug for CommitmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitmentKey(..)")
    }
}

/// HKDF info of the record key (derived from the service master key).
const RECORD_KEY_INFO: &[u8] = b"custkey/v1 record-mac key";

/// The service-held key that authenticates records a store writer must not be able to make or
/// change (the principal registry, role assignments; `docs/security.md`).
/// `K_r = HKDF-SHA256(salt = "", IKM = master, info = "custkey/v1 record-mac key")`.
#[derive(Clone)]
pub struct RecordKey(SecretKey32);

impl RecordKey {
    /// Derives the record key from the service master key.
    pub fn derive(master: &SecretKey32) -> Result<Self, CryptoError> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        default_provider().hkdf_sha256(b"", master.expose(), &[RECORD_KEY_INFO], out.as_mut())?;
        Ok(RecordKey(SecretKey32::from_bytes(*out)))
    }

    /// `HKDF-SHA256(salt = K_r, IKM = "", info = kind || (len || field)*)`: the fields are
    /// length-prefixed, so no two field lists give the same input.
    pub fn mac(&self, kind: &str, fields: &[&[u8]]) -> Result<[u8; 32], CryptoError> {
        let mut info = Vec::new();
        for f in std::iter::once(kind.as_bytes()).chain(fields.iter().copied()) {
            info.extend_from_slice(&(f.len() as u64).to_be_bytes());
            info.extend_from_slice(f);
        }
        let mut out = [0u8; 32];
        default_provider().hkdf_sha256(self.0.expose(), b"", &[&info], &mut out)?;
        Ok(out)
    }

    /// Checks a stored MAC in constant time.
    pub fn check(&self, kind: &str, fields: &[&[u8]], stored: &[u8]) -> Result<(), CryptoError> {
        let want = self.mac(kind, fields)?;
        if stored.len() == want.len() && ct_eq(&want, stored) {
            Ok(())
        } else {
            Err(CryptoError::Authentication)
        }
    }

    /// The MAC of a serialised `record` under `label` (role records):
    /// `HKDF-SHA256(salt = K_r, IKM = record, info = label)`.
    pub fn mac_record(&self, label: &[u8], record: &[u8]) -> Result<[u8; 32], CryptoError> {
        let mut out = [0u8; 32];
        default_provider().hkdf_sha256(self.0.expose(), record, &[label], &mut out)?;
        Ok(out)
    }

    /// Whether `mac` is the MAC of `record` under `label` (constant time).
    pub fn verify(&self, label: &[u8], record: &[u8], mac: &[u8]) -> bool {
        self.mac_record(label, record).is_ok_and(|m| ct_eq(&m, mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{
        DepKey, KeyRef, OaepAlg, RootKeyRef, RsaPrivateKey, TenantIntermediateKey,
    };

    fn ck() -> CommitmentKey {
        CommitmentKey::derive(&SecretKey32::from_bytes([7u8; 32])).unwrap()
    }

    #[test]
    fn a_commitment_accepts_its_key_only() {
        let (k, dep) = (ck(), uuid::Uuid::new_v4());
        let b = DepBinding::new(dep);
        let key = DepKey::generate(KeyRef::new(dep, 1));
        let c = k.commit(&key, &b).unwrap();
        k.verify(&key, &b, &c).unwrap();
        // Another key, another policy, another tier, another key ref, another service key.
        let other = DepKey::generate(KeyRef::new(dep, 1));
        assert_eq!(k.verify(&other, &b, &c), Err(CryptoError::Authentication));
        let moved = DepBinding::new(uuid::Uuid::new_v4());
        assert_eq!(k.verify(&key, &moved, &c), Err(CryptoError::Authentication));
        let as_tik = TenantIntermediateKey::from_secret(key.to_secret(), key.key_ref());
        assert_eq!(k.verify(&as_tik, &b, &c), Err(CryptoError::Authentication));
        let bumped = DepKey::from_secret(key.to_secret(), KeyRef::new(dep, 2));
        assert_eq!(k.verify(&bumped, &b, &c), Err(CryptoError::Authentication));
        let k2 = CommitmentKey::derive(&SecretKey32::from_bytes([8u8; 32])).unwrap();
        assert_eq!(k2.verify(&key, &b, &c), Err(CryptoError::Authentication));
        assert_eq!(
            k.verify(&key, &b, &c[..31]),
            Err(CryptoError::Authentication)
        );
        assert_eq!(k.verify(&key, &b, &[]), Err(CryptoError::Authentication));
    }

    #[test]
    fn a_root_wrap_forged_with_the_public_key_passes_the_check_value_but_not_the_commitment() {
        let (k, dep) = (ck(), uuid::Uuid::new_v4());
        let b = DepBinding::new(dep);
        let genuine = DepKey::generate(KeyRef::new(dep, 1));
        let c = k.commit(&genuine, &b).unwrap();
        let rsa = RsaPrivateKey::generate(2048).unwrap();
        let root = RootKeyRef::new("https://v.vault.azure.net/keys/k", "1").unwrap();
        let chosen = DepKey::generate(genuine.key_ref());
        let forged = chosen
            .wrap_under_rsa(&root, &rsa.public_key(), OaepAlg::RsaOaep256, &b)
            .unwrap();
        let got = DepKey::unwrap_under_rsa(&forged, &b, &rsa).unwrap();
        assert_eq!(k.verify(&got, &b, &c), Err(CryptoError::Authentication));
    }
}
