//! Key files `Add-AzKeyVaultKey -KeyFilePath` reads, turned into an RSA private key in PKCS#8
//! DER: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`), PKCS#12 (`.pfx`,
//! `.p12`) and the Azure BYOK transfer blob (`.byok`, whose unwrap needs the vault's
//! key-exchange key and happens in the vault: [`byok_unwrap`]).
//!
//! Pure: bytes in, bytes out. Password-based encryption read here: PBES2 (PBKDF2 with
//! HMAC-SHA-1/256/384/512, AES-128/192/256-CBC), what OpenSSL 3 writes by default; PKCS#12 MACs
//! with SHA-1 or SHA-2. The PKCS#12 PBE ciphers of `openssl pkcs12 -legacy` (3DES, RC2) are
//! refused with an error naming them. Every intermediate buffer holding key material is
//! zeroized.

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::{digest, hmac, pbkdf2};
use zeroize::{Zeroize, Zeroizing};

use super::rsa::{OaepAlg, RsaPrivateKey};

/// Why a key file could not be read. Messages name the file's content, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// The key is encrypted and no password was given.
    PasswordRequired,
    /// The password does not open the file (MAC or decryption failed).
    WrongPassword,
    /// A private key that is not RSA (e.g. `EC P-256`).
    NotRsa(String),
    /// An RSA key of a size Customer Key does not take.
    RsaSize(usize),
    /// A format or algorithm this build does not read.
    Unsupported(String),
    /// Not a well-formed file of the kind its name says.
    Malformed(String),
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::PasswordRequired => f.write_str("the key in the file is encrypted and no password was given"),
            KeyFileError::WrongPassword => f.write_str("the password does not open the file (wrong password, or the file was altered)"),
            KeyFileError::NotRsa(t) => write!(f, "the file holds an {t} key; Customer Key root keys are RSA 2048, 3072 or 4096 bits"),
            KeyFileError::RsaSize(b) => write!(f, "the file holds an RSA key of {b} bits; Customer Key root keys are RSA 2048, 3072 or 4096 bits"),
            KeyFileError::Unsupported(w) => write!(f, "{w}"),
            KeyFileError::Malformed(w) => write!(f, "the file is not a valid key file: {w}"),
        }
    }
}

impl std::error::Error for KeyFileError {}

type R<T> = Result<T, KeyFileError>;

fn malformed(w: &str) -> KeyFileError {
    KeyFileError::Malformed(w.to_string())
}

// ---- DER reading -------------------------------------------------------------------------

const SEQ: u8 = 0x30;
const INT: u8 = 0x02;
const OCTETS: u8 = 0x04;
const OID: u8 = 0x06;
const CTX0: u8 = 0xa0;
const CTX0_PRIM: u8 = 0x80;

/// One TLV from the front of `input`: (tag, value, rest). Definite lengths only.
fn tlv(input: &[u8]) -> R<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input
        .split_first()
        .ok_or_else(|| malformed("DER ends early"))?;
    let (&l0, mut rest) = rest
        .split_first()
        .ok_or_else(|| malformed("DER ends early"))?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(malformed("DER length (indefinite or too long)"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(malformed("DER value ends early"));
    }
    let (v, rest) = rest.split_at(len);
    Ok((tag, v, rest))
}

fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> R<(&'a [u8], &'a [u8])> {
    let (t, v, rest) = tlv(input)?;
    if t != tag {
        return Err(KeyFileError::Malformed(format!("expected {what}")));
    }
    Ok((v, rest))
}

/// A small non-negative INTEGER (versions, iteration counts).
fn small_int(v: &[u8]) -> R<u64> {
    if v.is_empty() || v.len() > 8 || v[0] & 0x80 != 0 {
        return Err(malformed("INTEGER out of range"));
    }
    Ok(v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
}

/// Dotted text of an OID's content bytes, for messages.
fn oid_text(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = if acc < 80 { acc / 40 } else { 2 };
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];

const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const OID_HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const OID_HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const OID_AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
/// 1.2.840.113549.1.12.1: the PKCS#12 PBE ciphers (`-legacy`).
const OID_PKCS12_PBE_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// 1.2.840.113549.1.5.{1,3,4,6,10,11}: PBES1.
const OID_PBES1_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const OID_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01,
];
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

fn pkcs12_pbe_name(oid: &[u8]) -> Option<&'static str> {
    if oid.len() != OID_PKCS12_PBE_PREFIX.len() + 1 || !oid.starts_with(OID_PKCS12_PBE_PREFIX) {
        return None;
    }
    Some(match oid[oid.len() - 1] {
        1 => "pbeWithSHAAnd128BitRC4",
        2 => "pbeWithSHAAnd40BitRC4",
        3 => "pbeWithSHAAnd3-KeyTripleDES-CBC",
        4 => "pbeWithSHAAnd2-KeyTripleDES-CBC",
        5 => "pbeWithSHAAnd128BitRC2-CBC",
        6 => "pbeWithSHAAnd40BitRC2-CBC",
        _ => "a PKCS#12 PBE cipher",
    })
}

// ---- PKCS#8 and PKCS#1 -------------------------------------------------------------------

/// Checks that `der` is a PKCS#8 PrivateKeyInfo holding an RSA key of 2048, 3072 or 4096
/// bits; returns its size.
pub fn check_rsa_pkcs8(der: &[u8]) -> R<usize> {
    let (body, rest) = expect(der, SEQ, "a PKCS#8 PrivateKeyInfo")?;
    if !rest.is_empty() {
        return Err(malformed("bytes after the PKCS#8 key"));
    }
    let (ver, body) = expect(body, INT, "the PKCS#8 version")?;
    if small_int(ver)? > 1 {
        return Err(malformed("unknown PKCS#8 version"));
    }
    let (alg, body) = expect(body, SEQ, "the key's algorithm")?;
    let (oid, params) = expect(alg, OID, "the key's algorithm")?;
    if oid != OID_RSA {
        let name = match oid {
            OID_EC => {
                let curve = expect(params, OID, "")
                    .map(|(c, _)| match c {
                        OID_P256 => "P-256".to_string(),
                        OID_P384 => "P-384".to_string(),
                        OID_P521 => "P-521".to_string(),
                        OID_SECP256K1 => "secp256k1".to_string(),
                        other => format!("curve {}", oid_text(other)),
                    })
                    .unwrap_or_else(|_| "unnamed curve".into());
                format!("EC {curve}")
            }
            OID_RSA_PSS => "RSA-PSS (restricted to signing)".into(),
            OID_ED25519 => "Ed25519".into(),
            OID_ED448 => "Ed448".into(),
            OID_X25519 => "X25519".into(),
            OID_DSA => "DSA".into(),
            other => format!("unknown-type (OID {})", oid_text(other)),
        };
        return Err(KeyFileError::NotRsa(name));
    }
    let (pkcs1, _) = expect(body, OCTETS, "the private key")?;
    let bits = rsa_pkcs1_bits(pkcs1)?;
    if !matches!(bits, 2048 | 3072 | 4096) {
        return Err(KeyFileError::RsaSize(bits));
    }
    Ok(bits)
}

/// The modulus size of a PKCS#1 RSAPrivateKey.
fn rsa_pkcs1_bits(pkcs1: &[u8]) -> R<usize> {
    let (body, _) = expect(pkcs1, SEQ, "an RSA private key")?;
    let (_, body) = expect(body, INT, "the RSA key version")?;
    let (n, _) = expect(body, INT, "the RSA modulus")?;
    let n = match n.iter().position(|&b| b != 0) {
        Some(i) => &n[i..],
        None => return Err(malformed("zero RSA modulus")),
    };
    Ok((n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Wraps a PKCS#1 RSAPrivateKey (`RSA PRIVATE KEY`) in a PKCS#8 PrivateKeyInfo.
pub fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> R<Zeroizing<Vec<u8>>> {
    rsa_pkcs1_bits(pkcs1)?;
    let alg: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut octets = Zeroizing::new(vec![OCTETS]);
    push_len(&mut octets, pkcs1.len());
    octets.extend_from_slice(pkcs1);
    let mut body = Zeroizing::new(vec![INT, 1, 0]);
    body.extend_from_slice(alg);
    body.extend_from_slice(&octets);
    let mut out = Zeroizing::new(vec![SEQ]);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

// ---- PBES2 -------------------------------------------------------------------------------

/// Decrypts an EncryptedPrivateKeyInfo (PKCS#8, or a PKCS#12 shrouded key bag) with
/// `password` (its UTF-8 bytes, as OpenSSL uses them).
pub fn decrypt_pkcs8(der: &[u8], password: Option<&[u8]>) -> R<Zeroizing<Vec<u8>>> {
    let (body, _) = expect(der, SEQ, "an EncryptedPrivateKeyInfo")?;
    let (alg, body) = expect(body, SEQ, "the encryption algorithm")?;
    let (data, _) = expect(body, OCTETS, "the encrypted key")?;
    let password = password.ok_or(KeyFileError::PasswordRequired)?;
    pbes2_decrypt(alg, data, password)
}

fn unsupported_cipher(oid: &[u8]) -> KeyFileError {
    if let Some(name) = pkcs12_pbe_name(oid) {
        return KeyFileError::Unsupported(format!(
            "the file is encrypted with {name} (what `openssl pkcs12 -legacy` and old tools \
             write), which custkey does not read: re-export it with OpenSSL 3's defaults \
             (`openssl pkcs12 -export` without -legacy: PBES2, AES-256-CBC)"
        ));
    }
    if oid.starts_with(OID_PBES1_PREFIX) && oid.len() == OID_PBES1_PREFIX.len() + 1 {
        return KeyFileError::Unsupported(format!(
            "the file is encrypted with PBES1 (OID {}), which custkey does not read: re-encrypt \
             it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            oid_text(oid)
        ));
    }
    KeyFileError::Unsupported(format!(
        "the file is encrypted with an algorithm custkey does not read (OID {}); custkey \
         reads PBES2 with PBKDF2 and AES-CBC",
        oid_text(oid)
    ))
}

/// PBES2 (RFC 8018): PBKDF2 then AES-CBC with PKCS#7 padding. `alg` is the
/// AlgorithmIdentifier's content.
fn pbes2_decrypt(alg: &[u8], data: &[u8], password: &[u8]) -> R<Zeroizing<Vec<u8>>> {
    let (oid, params) = expect(alg, OID, "the encryption algorithm")?;
    if oid != OID_PBES2 {
        return Err(unsupported_cipher(oid));
    }
    let (params, _) = expect(params, SEQ, "PBES2 parameters")?;
    let (kdf, rest) = expect(params, SEQ, "the PBES2 key derivation")?;
    let (enc, _) = expect(rest, SEQ, "the PBES2 cipher")?;
    let (kdf_oid, kdf_params) = expect(kdf, OID, "the PBES2 key derivation")?;
    if kdf_oid != OID_PBKDF2 {
        return Err(KeyFileError::Unsupported(format!(
            "the file's key derivation (OID {}) is not PBKDF2 (scrypt is not read): re-encrypt \
             it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            oid_text(kdf_oid)
        )));
    }
    let (kp, _) = expect(kdf_params, SEQ, "PBKDF2 parameters")?;
    let (salt, kp) = expect(kp, OCTETS, "the PBKDF2 salt")?;
    let (iter, mut kp) = expect(kp, INT, "the PBKDF2 iteration count")?;
    let iter = small_int(iter)?;
    if iter == 0 || iter > 10_000_000 {
        return Err(malformed("PBKDF2 iteration count out of range"));
    }
    let mut key_len: Option<usize> = None;
    let mut prf = pbkdf2::PBKDF2_HMAC_SHA1;
    while !kp.is_empty() {
        let (t, v, rest) = tlv(kp)?;
        match t {
            INT => key_len = Some(small_int(v)? as usize),
            SEQ => {
                let (p, _) = expect(v, OID, "the PBKDF2 PRF")?;
                prf = match p {
                    OID_HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                    OID_HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                    OID_HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
                    OID_HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
                    other => {
                        return Err(KeyFileError::Unsupported(format!(
                            "the file's PBKDF2 PRF (OID {}) is not HMAC-SHA-1/256/384/512",
                            oid_text(other)
                        )))
                    }
                };
            }
            _ => return Err(malformed("PBKDF2 parameters")),
        }
        kp = rest;
    }
    let (enc_oid, enc_params) = expect(enc, OID, "the PBES2 cipher")?;
    let (cipher, len) = match enc_oid {
        OID_AES128_CBC => (&AES_128, 16),
        OID_AES192_CBC => (&AES_192, 24),
        OID_AES256_CBC => (&AES_256, 32),
        other => {
            return Err(KeyFileError::Unsupported(format!(
                "the file's cipher (OID {}) is not AES-CBC: re-encrypt it with `openssl pkcs8 \
                 -topk8 -v2 aes-256-cbc`",
                oid_text(other)
            )))
        }
    };
    if key_len.is_some_and(|k| k != len) {
        return Err(malformed("PBKDF2 key length does not match the cipher"));
    }
    let (iv, _) = expect(enc_params, OCTETS, "the AES-CBC IV")?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| malformed("AES-CBC IV length"))?;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(KeyFileError::WrongPassword);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        prf,
        NonZeroU32::new(iter as u32).ok_or_else(|| malformed("PBKDF2 iterations"))?,
        salt,
        password,
        &mut key[..len],
    );
    let dec = UnboundCipherKey::new(cipher, &key[..len])
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| malformed("AES key"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    let plain_len = dec
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| KeyFileError::WrongPassword)?
        .len();
    buf.truncate(plain_len);
    // A wrong password that happens to give valid padding still has to parse as a key.
    expect(&buf, SEQ, "").map_err(|_| KeyFileError::WrongPassword)?;
    Ok(buf)
}

// ---- PEM ---------------------------------------------------------------------------------

/// Reads a PEM file: the first private-key block (`PRIVATE KEY`, `RSA PRIVATE KEY` or,
/// with `password`, `ENCRYPTED PRIVATE KEY`). Returns checked RSA PKCS#8 DER.
pub fn pkcs8_from_pem(text: &[u8], password: Option<&[u8]>) -> R<Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(text).map_err(|_| malformed("a PEM file is text"))?;
    let mut labels = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = Zeroizing::new(String::new());
        let mut legacy_encrypted = false;
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                legacy_encrypted |= l.starts_with("Proc-Type:") && l.contains("ENCRYPTED");
                continue;
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(KeyFileError::Malformed(format!(
                "the PEM block {label} has no END line"
            )));
        }
        let kind = match label {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => label,
            "EC PRIVATE KEY" => return Err(KeyFileError::NotRsa("EC".into())),
            "DSA PRIVATE KEY" => return Err(KeyFileError::NotRsa("DSA".into())),
            other => {
                labels.push(other.to_string());
                continue;
            }
        };
        if legacy_encrypted {
            return Err(KeyFileError::Unsupported(
                "the key is in OpenSSL's old encrypted PEM form (Proc-Type: 4,ENCRYPTED), which \
                 custkey does not read: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                    .into(),
            ));
        }
        use base64ct::Encoding;
        let der = Zeroizing::new(base64ct::Base64::decode_vec(&b64).map_err(|_| {
            KeyFileError::Malformed(format!("the PEM block {label} is not base64"))
        })?);
        let pkcs8 = match kind {
            "PRIVATE KEY" => Zeroizing::new(der.to_vec()),
            "RSA PRIVATE KEY" => pkcs1_to_pkcs8(&der)?,
            _ => decrypt_pkcs8(&der, password)?,
        };
        check_rsa_pkcs8(&pkcs8)?;
        return Ok(pkcs8);
    }
    Err(KeyFileError::Malformed(if labels.is_empty() {
        "no PEM block found".into()
    } else {
        format!("no private key in it (it holds {})", labels.join(", "))
    }))
}

// ---- PKCS#12 -----------------------------------------------------------------------------

/// The PKCS#12 key derivation (RFC 7292 appendix B.2) for the MAC key (ID 3).
fn pkcs12_kdf(
    alg: &'static digest::Algorithm,
    v: usize,
    bmp: &[u8],
    salt: &[u8],
    iter: u64,
    out_len: usize,
) -> Zeroizing<Vec<u8>> {
    let u = alg.output_len();
    let fill = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let n = v * src.len().div_ceil(v);
        (0..n).map(|i| src[i % src.len()]).collect()
    };
    let mut i_buf = Zeroizing::new(fill(salt));
    i_buf.extend_from_slice(&fill(bmp));
    let d = vec![3u8; v];
    let mut out = Zeroizing::new(Vec::with_capacity(out_len));
    while out.len() < out_len {
        let mut ctx = digest::Context::new(alg);
        ctx.update(&d);
        ctx.update(&i_buf);
        let mut a = Zeroizing::new(ctx.finish().as_ref().to_vec());
        for _ in 1..iter {
            *a = digest::digest(alg, &a).as_ref().to_vec();
        }
        let take = u.min(out_len - out.len());
        out.extend_from_slice(&a[..take]);
        let b: Vec<u8> = (0..v).map(|k| a[k % u]).collect();
        for chunk in i_buf.chunks_mut(v) {
            let mut carry = 1u16;
            for k in (0..v).rev() {
                let s = u16::from(chunk[k]) + u16::from(b[k]) + carry;
                chunk[k] = s as u8;
                carry = s >> 8;
            }
        }
    }
    out
}

/// Checks the PFX MAC over `auth_safe` (the content octets of the outer `data`).
fn check_mac(mac_data: &[u8], auth_safe: &[u8], password: &[u8]) -> R<()> {
    let (md, _) = expect(mac_data, SEQ, "the PKCS#12 MAC")?;
    let (digest_info, rest) = expect(md, SEQ, "the PKCS#12 MAC digest")?;
    let (salt, rest) = expect(rest, OCTETS, "the PKCS#12 MAC salt")?;
    let iter = if rest.is_empty() {
        1
    } else {
        small_int(expect(rest, INT, "the PKCS#12 MAC iterations")?.0)?
    };
    if iter == 0 || iter > 10_000_000 {
        return Err(malformed("PKCS#12 MAC iteration count out of range"));
    }
    let (alg, rest) = expect(digest_info, SEQ, "the PKCS#12 MAC algorithm")?;
    let (tag, _) = expect(rest, OCTETS, "the PKCS#12 MAC value")?;
    let (oid, _) = expect(alg, OID, "the PKCS#12 MAC algorithm")?;
    let (dalg, halg, v) = match oid {
        OID_SHA1 => (
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            64,
        ),
        OID_SHA256 => (&digest::SHA256, hmac::HMAC_SHA256, 64),
        OID_SHA384 => (&digest::SHA384, hmac::HMAC_SHA384, 128),
        OID_SHA512 => (&digest::SHA512, hmac::HMAC_SHA512, 128),
        other => {
            return Err(KeyFileError::Unsupported(format!(
                "the PKCS#12 MAC uses a digest custkey does not read (OID {})",
                oid_text(other)
            )))
        }
    };
    // The password as a NUL-terminated BMPString (UTF-16BE).
    let mut bmp = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    let text = std::str::from_utf8(password).map_err(|_| KeyFileError::WrongPassword)?;
    for unit in text.encode_utf16() {
        bmp.extend_from_slice(&unit.to_be_bytes());
    }
    bmp.extend_from_slice(&[0, 0]);
    let key = pkcs12_kdf(dalg, v, &bmp, salt, iter, dalg.output_len());
    hmac::verify(&hmac::Key::new(halg, &key), auth_safe, tag)
        .map_err(|_| KeyFileError::WrongPassword)
}

/// Reads a PKCS#12 file (`.pfx`, `.p12`): checks its MAC with `password`, finds the private
/// key (a shrouded key bag, or a plain key bag) and returns checked RSA PKCS#8 DER.
pub fn pkcs8_from_pkcs12(der: &[u8], password: Option<&[u8]>) -> R<Zeroizing<Vec<u8>>> {
    let (pfx, _) = expect(der, SEQ, "a PKCS#12 PFX").map_err(|_| {
        malformed("not a PKCS#12 file (a .pfx/.p12 file is DER; PEM keys go in a .pem file)")
    })?;
    let (ver, rest) = expect(pfx, INT, "the PKCS#12 version")?;
    if small_int(ver)? != 3 {
        return Err(malformed("not PKCS#12 version 3"));
    }
    let (auth_ci, mac) = expect(rest, SEQ, "the PKCS#12 content")?;
    let (ct, content) = expect(auth_ci, OID, "the PKCS#12 content type")?;
    if ct != OID_DATA {
        return Err(KeyFileError::Unsupported(
            "the PKCS#12 file is signed with public-key integrity mode, which custkey does not read"
                .into(),
        ));
    }
    let (explicit, _) = expect(content, CTX0, "the PKCS#12 content")?;
    let (auth_safe, _) = expect(explicit, OCTETS, "the PKCS#12 content")?;
    let password = password.ok_or(KeyFileError::PasswordRequired)?;
    if mac.is_empty() {
        return Err(KeyFileError::Unsupported(
            "the PKCS#12 file has no MAC (no password integrity), which custkey does not accept"
                .into(),
        ));
    }
    check_mac(mac, auth_safe, password)?;
    let (mut cis, _) = expect(auth_safe, SEQ, "the PKCS#12 AuthenticatedSafe")?;
    let mut found: Option<Zeroizing<Vec<u8>>> = None;
    while !cis.is_empty() {
        let (ci, rest) = expect(cis, SEQ, "a PKCS#12 ContentInfo")?;
        cis = rest;
        let (ct, content) = expect(ci, OID, "a PKCS#12 content type")?;
        let safe_contents: Zeroizing<Vec<u8>> = if ct == OID_DATA {
            let (explicit, _) = expect(content, CTX0, "PKCS#12 data")?;
            Zeroizing::new(expect(explicit, OCTETS, "PKCS#12 data")?.0.to_vec())
        } else if ct == OID_ENCRYPTED_DATA {
            let (explicit, _) = expect(content, CTX0, "PKCS#12 encrypted data")?;
            let (ed, _) = expect(explicit, SEQ, "PKCS#12 encrypted data")?;
            let (_, ed) = expect(ed, INT, "PKCS#12 encrypted data version")?;
            let (eci, _) = expect(ed, SEQ, "PKCS#12 encrypted content")?;
            let (_, eci) = expect(eci, OID, "PKCS#12 encrypted content type")?;
            let (alg, eci) = expect(eci, SEQ, "PKCS#12 encryption algorithm")?;
            let (data, _) = expect(eci, CTX0_PRIM, "PKCS#12 encrypted content")?;
            match pbes2_decrypt(alg, data, password) {
                Ok(plain) => plain,
                // Certificates under a legacy cipher: not what is looked for here.
                Err(KeyFileError::Unsupported(_)) => continue,
                Err(e) => return Err(e),
            }
        } else {
            continue;
        };
        let (mut bags, _) = expect(&safe_contents, SEQ, "PKCS#12 SafeContents")?;
        while !bags.is_empty() {
            let (bag, rest) = expect(bags, SEQ, "a PKCS#12 SafeBag")?;
            bags = rest;
            let (bag_id, value) = expect(bag, OID, "a PKCS#12 bag type")?;
            let (value, _) = expect(value, CTX0, "a PKCS#12 bag value")?;
            let key = if bag_id == OID_SHROUDED_KEY_BAG {
                decrypt_pkcs8(value, Some(password))?
            } else if bag_id == OID_KEY_BAG {
                Zeroizing::new(expect(value, SEQ, "a key bag").map(|_| value.to_vec())?)
            } else {
                continue;
            };
            if found.is_some() {
                return Err(malformed(
                    "the PKCS#12 file holds more than one private key; export the one to import",
                ));
            }
            found = Some(key);
        }
    }
    let pkcs8 = found.ok_or_else(|| malformed("the PKCS#12 file holds no private key"))?;
    check_rsa_pkcs8(&pkcs8)?;
    Ok(pkcs8)
}

// ---- BYOK --------------------------------------------------------------------------------

/// An Azure Key Vault BYOK transfer blob (`.byok`): JSON with `schema_version`,
/// `header.kid` (the key-exchange key), `header.alg` = `dir`, `header.enc` =
/// `CKM_RSA_AES_KEY_WRAP`, and `ciphertext` (base64url).
#[derive(Clone, PartialEq, Eq)]
pub struct ByokBlob {
    /// The key identifier of the KEK.
    pub kid: String,
    /// RSA-OAEP (SHA-1) of the AES key, then RFC 5649 of the PKCS#8 key.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for ByokBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByokBlob({}, {} bytes)", self.kid, self.ciphertext.len())
    }
}

impl ByokBlob {
    pub fn parse(bytes: &[u8]) -> R<ByokBlob> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| KeyFileError::Malformed(format!("a .byok file is JSON ({e})")))?;
        let field = |path: &[&str]| -> R<String> {
            let mut cur = &v;
            for p in path {
                cur = cur.get(p).ok_or_else(|| {
                    KeyFileError::Malformed(format!("the .byok file has no {}", path.join(".")))
                })?;
            }
            cur.as_str().map(str::to_string).ok_or_else(|| {
                KeyFileError::Malformed(format!("{} in the .byok file is not text", path.join(".")))
            })
        };
        let schema = field(&["schema_version"])?;
        if !schema.starts_with("1.") {
            return Err(KeyFileError::Unsupported(format!(
                "the .byok file's schema_version {schema} is not 1.x"
            )));
        }
        let alg = field(&["header", "alg"])?;
        if alg != "dir" {
            return Err(KeyFileError::Unsupported(format!(
                "the .byok file's header.alg is '{alg}'; only 'dir' is defined"
            )));
        }
        let enc = field(&["header", "enc"])?;
        if enc != "CKM_RSA_AES_KEY_WRAP" {
            return Err(KeyFileError::Unsupported(format!(
                "the .byok file's header.enc is '{enc}'; custkey reads CKM_RSA_AES_KEY_WRAP"
            )));
        }
        let kid = field(&["header", "kid"])?;
        let text = field(&["ciphertext"])?;
        use base64ct::Encoding;
        let trimmed = text.trim().trim_end_matches('=');
        let ciphertext = if trimmed.contains(['+', '/']) {
            base64ct::Base64Unpadded::decode_vec(trimmed)
        } else {
            base64ct::Base64UrlUnpadded::decode_vec(trimmed)
        }
        .map_err(|_| malformed("the .byok ciphertext is not base64url"))?;
        Ok(ByokBlob { kid, ciphertext })
    }
}

/// Unwraps a BYOK ciphertext under the key-exchange key `kek`: RSA-OAEP with SHA-1 (Azure's
/// BYOK specification) of an AES key, then AES key wrap with padding of the target key's
/// PKCS#8 DER. Returns checked RSA PKCS#8 DER. A blob made for another KEK fails here with
/// [`KeyFileError::Malformed`] saying so.
pub fn byok_unwrap(kek: &RsaPrivateKey, ciphertext: &[u8]) -> R<Zeroizing<Vec<u8>>> {
    let k = kek.bits().div_ceil(8);
    if ciphertext.len() <= k {
        return Err(malformed(
            "the .byok ciphertext is shorter than the KEK's RSA block",
        ));
    }
    let (rsa_part, kwp_part) = ciphertext.split_at(k);
    let not_this_kek = || {
        malformed("the .byok ciphertext does not unwrap with this key-exchange key (made for another KEK, or altered)")
    };
    let mut aes = kek
        .oaep_unwrap(OaepAlg::RsaOaep, rsa_part)
        .map_err(|_| not_this_kek())?;
    if !matches!(aes.len(), 16 | 24 | 32) {
        aes.zeroize();
        return Err(not_this_kek());
    }
    let pkcs8 = super::kwp::aes_kwp_unwrap(&aes, kwp_part).map_err(|_| not_this_kek())?;
    check_rsa_pkcs8(&pkcs8)?;
    Ok(pkcs8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_becomes_pkcs8_of_the_same_key() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let pkcs8 = key.to_pkcs8_der();
        let (body, _) = expect(&pkcs8, SEQ, "").unwrap();
        let (_, body) = expect(body, INT, "").unwrap();
        let (_, body) = expect(body, SEQ, "").unwrap();
        let (pkcs1, _) = expect(body, OCTETS, "").unwrap();
        let back = pkcs1_to_pkcs8(pkcs1).unwrap();
        let again = RsaPrivateKey::from_pkcs8_der(&back).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(check_rsa_pkcs8(&back).unwrap(), 2048);
    }

    #[test]
    fn byok_round_trip_and_wrong_kek() {
        let kek = RsaPrivateKey::generate(2048).unwrap();
        let other = RsaPrivateKey::generate(2048).unwrap();
        let target = RsaPrivateKey::generate(2048).unwrap();
        let aes = [9u8; 32];
        let mut ct = kek.public_key().oaep_wrap(OaepAlg::RsaOaep, &aes).unwrap();
        ct.extend(super::super::kwp::aes_kwp_wrap(&aes, &target.to_pkcs8_der()).unwrap());
        let got = byok_unwrap(&kek, &ct).unwrap();
        assert_eq!(&got[..], &target.to_pkcs8_der()[..]);
        assert!(matches!(
            byok_unwrap(&other, &ct),
            Err(KeyFileError::Malformed(_))
        ));
    }

    #[test]
    fn byok_json_fields_are_checked() {
        let ok = br#"{"schema_version":"1.0.0","header":{"kid":"https://v.vault.azure.net/keys/kek/0123","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AAEC_w","generator":"t"}"#;
        let b = ByokBlob::parse(ok).unwrap();
        assert_eq!(b.ciphertext, vec![0, 1, 2, 0xff]);
        let bad_enc = String::from_utf8_lossy(ok).replace("CKM_RSA_AES_KEY_WRAP", "RSA-OAEP");
        assert!(matches!(
            ByokBlob::parse(bad_enc.as_bytes()),
            Err(KeyFileError::Unsupported(_))
        ));
        assert!(matches!(
            ByokBlob::parse(b"{}"),
            Err(KeyFileError::Malformed(_))
        ));
    }
}
