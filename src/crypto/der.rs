//! A minimal, strict DER reader for RSA SubjectPublicKeyInfo (RFC 5280 / RFC 8017).
//!
//! Only what `RsaPublicKey` needs: definite lengths, no indefinite forms, no trailing bytes.

use super::error::CryptoError;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// 1.2.840.113549.1.1.1 rsaEncryption
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn bad(msg: &'static str) -> CryptoError {
    CryptoError::Malformed(msg)
}

/// Reads one TLV with tag `tag` from the front of `input`; returns (value, rest).
fn read_tlv(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CryptoError> {
    let (&t, rest) = input.split_first().ok_or(bad("DER: missing tag"))?;
    if t != tag {
        return Err(bad("DER: unexpected tag"));
    }
    let (&l0, mut rest) = rest.split_first().ok_or(bad("DER: missing length"))?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 2 {
            return Err(bad("DER: unsupported length form"));
        }
        if rest.len() < n {
            return Err(bad("DER: truncated length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        if len < 0x80 || (n == 2 && len < 0x100) {
            return Err(bad("DER: non-minimal length"));
        }
        len
    };
    if rest.len() < len {
        return Err(bad("DER: truncated value"));
    }
    Ok(rest.split_at(len))
}

/// A positive INTEGER's magnitude without leading zeros.
fn read_positive_integer(input: &[u8]) -> Result<(Vec<u8>, &[u8]), CryptoError> {
    let (v, rest) = read_tlv(input, TAG_INTEGER)?;
    let (&first, _) = v.split_first().ok_or(bad("DER: empty INTEGER"))?;
    if first & 0x80 != 0 {
        return Err(bad("DER: negative INTEGER"));
    }
    let mag = if first == 0 {
        let m = &v[1..];
        match m.first() {
            Some(b) if b & 0x80 != 0 => m,
            None => return Err(bad("DER: zero INTEGER")),
            _ => return Err(bad("DER: non-minimal INTEGER")),
        }
    } else {
        v
    };
    Ok((mag.to_vec(), rest))
}

/// Parses RSA SubjectPublicKeyInfo DER and returns (modulus, exponent), big-endian.
pub fn parse_rsa_spki(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let (spki, rest) = read_tlv(der, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(bad("DER: trailing bytes after SubjectPublicKeyInfo"));
    }
    let (alg, rest) = read_tlv(spki, TAG_SEQUENCE)?;
    let (oid, params) = read_tlv(alg, TAG_OID)?;
    if oid != OID_RSA_ENCRYPTION {
        return Err(bad("SubjectPublicKeyInfo is not rsaEncryption"));
    }
    let (null, after) = read_tlv(params, TAG_NULL)?;
    if !null.is_empty() || !after.is_empty() {
        return Err(bad("DER: rsaEncryption parameters must be NULL"));
    }
    let (bits, rest) = read_tlv(rest, TAG_BIT_STRING)?;
    if !rest.is_empty() {
        return Err(bad("DER: trailing bytes in SubjectPublicKeyInfo"));
    }
    let (&unused, key) = bits.split_first().ok_or(bad("DER: empty BIT STRING"))?;
    if unused != 0 {
        return Err(bad("DER: BIT STRING with unused bits"));
    }
    let (rsa, rest) = read_tlv(key, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(bad("DER: trailing bytes after RSAPublicKey"));
    }
    let (n, rest) = read_positive_integer(rsa)?;
    let (e, rest) = read_positive_integer(rest)?;
    if !rest.is_empty() {
        return Err(bad("DER: trailing bytes in RSAPublicKey"));
    }
    Ok((n, e))
}

/// Bit length of a big-endian magnitude without leading zero bytes.
pub fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&b) => (be.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}
