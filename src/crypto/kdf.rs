//! Passphrase key derivation: Argon2id (RFC 9106, version 0x13).
//!
//! The parameters travel with whatever they protect: store [`KdfParams::to_bytes`] (14 bytes) or
//! its string form (`argon2id$v=19$m=65536,t=3,p=1`) beside the salt.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::CryptoError;
use super::secret::SecretKey32;

const PARAMS_FORMAT_VERSION: u8 = 1;
const ALG_ARGON2ID_V13: u8 = 1;

/// Smallest salt accepted (bytes).
pub const MIN_SALT_LEN: usize = 16;
/// Upper bound on memory, to stop stored parameters from exhausting memory (4 GiB, in KiB).
pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
/// Upper bound on passes.
pub const MAX_T_COST: u32 = 64;
/// Upper bound on lanes.
pub const MAX_P_COST: u32 = 64;

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KdfParamsRepr", into = "KdfParamsRepr")]
pub struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

#[derive(Serialize, Deserialize)]
struct KdfParamsRepr {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl From<KdfParams> for KdfParamsRepr {
    fn from(p: KdfParams) -> Self {
        KdfParamsRepr {
            algorithm: "argon2id".to_owned(),
            m_cost_kib: p.m_cost_kib,
            t_cost: p.t_cost,
            p_cost: p.p_cost,
        }
    }
}

impl TryFrom<KdfParamsRepr> for KdfParams {
    type Error = CryptoError;
    fn try_from(r: KdfParamsRepr) -> Result<Self, CryptoError> {
        if r.algorithm != "argon2id" {
            return Err(CryptoError::UnknownAlgorithmName(r.algorithm));
        }
        KdfParams::new(r.m_cost_kib, r.t_cost, r.p_cost)
    }
}

impl KdfParams {
    /// RFC 9106 §4 second recommendation, one lane: 64 MiB, 3 passes.
    pub fn recommended() -> Self {
        KdfParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }

    /// Checked constructor: memory in KiB (at least 8 × lanes, at most 4 GiB), passes 1..=64,
    /// lanes 1..=64.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, CryptoError> {
        if !(1..=MAX_P_COST).contains(&p_cost) {
            return Err(CryptoError::InvalidKdfParams("lanes must be 1..=64"));
        }
        if !(1..=MAX_T_COST).contains(&t_cost) {
            return Err(CryptoError::InvalidKdfParams("passes must be 1..=64"));
        }
        if m_cost_kib < 8 * p_cost || m_cost_kib > MAX_M_COST_KIB {
            return Err(CryptoError::InvalidKdfParams(
                "memory must be at least 8 KiB per lane and at most 4 GiB",
            ));
        }
        Ok(KdfParams {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }
    /// Number of passes.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Number of lanes.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    /// 14 bytes: format version (1), algorithm (1 = Argon2id v0x13), m, t, p as u32 big-endian.
    pub fn to_bytes(&self) -> [u8; 14] {
        let mut b = [0u8; 14];
        b[0] = PARAMS_FORMAT_VERSION;
        b[1] = ALG_ARGON2ID_V13;
        b[2..6].copy_from_slice(&self.m_cost_kib.to_be_bytes());
        b[6..10].copy_from_slice(&self.t_cost.to_be_bytes());
        b[10..14].copy_from_slice(&self.p_cost.to_be_bytes());
        b
    }

    /// Parses [`KdfParams::to_bytes`], checking every bound.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() != 14 {
            return Err(CryptoError::InvalidLength {
                what: "KDF parameters",
                expected: 14,
                actual: b.len(),
            });
        }
        if b[0] != PARAMS_FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(b[0]));
        }
        if b[1] != ALG_ARGON2ID_V13 {
            return Err(CryptoError::UnsupportedAlgorithm(b[1]));
        }
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        KdfParams::new(word(2), word(6), word(10))
    }
}

impl fmt::Display for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "argon2id$v=19$m={},t={},p={}",
            self.m_cost_kib, self.t_cost, self.p_cost
        )
    }
}

impl FromStr for KdfParams {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        let rest = s
            .strip_prefix("argon2id$v=19$")
            .ok_or(CryptoError::InvalidKdfParams(
                "expected argon2id$v=19$m=..,t=..,p=..",
            ))?;
        let (mut m, mut t, mut p) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or(CryptoError::InvalidKdfParams("expected key=value"))?;
            let v: u32 = v
                .parse()
                .map_err(|_| CryptoError::InvalidKdfParams("value is not a number"))?;
            let slot = match k {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut p,
                _ => return Err(CryptoError::InvalidKdfParams("unknown parameter")),
            };
            if slot.replace(v).is_some() {
                return Err(CryptoError::InvalidKdfParams("repeated parameter"));
            }
        }
        match (m, t, p) {
            (Some(m), Some(t), Some(p)) => KdfParams::new(m, t, p),
            _ => Err(CryptoError::InvalidKdfParams("m, t and p are all required")),
        }
    }
}

/// Derives a 32-byte key from a passphrase with Argon2id.
///
/// `salt` must be random, unique per protected object and at least 16 bytes.
pub fn derive_key_from_passphrase(
    passphrase: &[u8],
    salt: &[u8],
    params: &KdfParams,
) -> Result<SecretKey32, CryptoError> {
    use argon2::{Algorithm, Argon2, Params, Version};
    if salt.len() < MIN_SALT_LEN {
        return Err(CryptoError::InvalidKdfParams(
            "salt must be at least 16 bytes",
        ));
    }
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| CryptoError::InvalidKdfParams("rejected by Argon2"))?;
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|_| CryptoError::InvalidKdfParams("rejected by Argon2"))?;
    Ok(SecretKey32::from_bytes(*out))
}
