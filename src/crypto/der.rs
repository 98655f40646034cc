//! A minimal, strict DER reader for RSA SubjectPublicKeyInfo (RFC 5280) and PKCS#1
//! RSAPublicKey (RFC 8017).
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
    parse_rsa_public_key(key)
}

/// Parses a PKCS#1 RSAPublicKey (RFC 8017 A.1.1: SEQUENCE of modulus and exponent) and returns
/// (modulus, exponent), big-endian.
pub fn parse_rsa_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let (rsa, rest) = read_tlv(der, TAG_SEQUENCE)?;
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

fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
}

fn push_positive_integer(out: &mut Vec<u8>, be: &[u8]) {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let mag = &be[start..];
    let mut v = Vec::with_capacity(mag.len() + 1);
    if mag.first().is_none_or(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(mag);
    push_tlv(out, TAG_INTEGER, &v);
}

/// Encodes an RSA public key (big-endian modulus and exponent, as a PKCS#11 token returns
/// them) as SubjectPublicKeyInfo DER. Lengths up to 65535 bytes (any RSA size in use).
pub fn encode_rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut rsa = Vec::new();
    push_positive_integer(&mut rsa, n);
    push_positive_integer(&mut rsa, e);
    let mut rsa_seq = Vec::new();
    push_tlv(&mut rsa_seq, TAG_SEQUENCE, &rsa);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&rsa_seq);
    let mut alg = Vec::new();
    push_tlv(&mut alg, TAG_OID, OID_RSA_ENCRYPTION);
    push_tlv(&mut alg, TAG_NULL, &[]);
    let mut body = Vec::new();
    push_tlv(&mut body, TAG_SEQUENCE, &alg);
    push_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut out = Vec::new();
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// The SubjectPublicKeyInfo (whole TLV) of an X.509 certificate's DER (RFC 5280
/// `tbsCertificate.subjectPublicKeyInfo`). Only the fields before it are walked; nothing is
/// verified (a security-domain certificate is a carrier of a public key).
pub(crate) fn certificate_spki(der: &[u8]) -> Result<&[u8], CryptoError> {
    let (cert, rest) = read_tlv(der, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(bad("certificate: trailing bytes"));
    }
    let (tbs, _) = read_tlv(cert, TAG_SEQUENCE)?;
    let mut cur = tbs;
    // [0] EXPLICIT version, when present.
    if cur.first() == Some(&0xa0) {
        cur = read_tlv(cur, 0xa0)?.1;
    }
    cur = read_tlv(cur, TAG_INTEGER)?.1; // serialNumber
    for _ in 0..4 {
        // signature algorithm, issuer, validity, subject
        cur = read_tlv(cur, TAG_SEQUENCE)?.1;
    }
    let (_, after) = read_tlv(cur, TAG_SEQUENCE)?;
    Ok(&cur[..cur.len() - after.len()])
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    #[test]
    fn spki_round_trip() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 0x01;
        let der = encode_rsa_spki(&n, &[1, 0, 1]);
        let (n2, e2) = parse_rsa_spki(&der).expect("parses");
        assert_eq!(n2, n);
        assert_eq!(e2, vec![1, 0, 1]);
        // Leading zeros in the input are dropped, as DER requires.
        let mut padded = vec![0u8, 0u8];
        padded.extend_from_slice(&n);
        assert_eq!(encode_rsa_spki(&padded, &[0, 1, 0, 1]), der);
    }

    #[test]
    fn pkcs1_public_key_is_the_inner_sequence_of_the_spki() {
        let mut n = vec![0xc5u8; 384];
        n[383] = 0x01;
        let spki = encode_rsa_spki(&n, &[1, 0, 1]);
        // The RSAPublicKey is the BIT STRING's content after its unused-bits byte: the last
        // 4 + 5 + 385 bytes (SEQUENCE header, exponent, modulus with its zero byte).
        let pkcs1 = &spki[spki.len() - (4 + 389 + 5)..];
        assert_eq!(pkcs1[0], TAG_SEQUENCE);
        let (n2, e2) = parse_rsa_public_key(pkcs1).expect("parses");
        assert_eq!((n2, e2), (n.clone(), vec![1, 0, 1]));
        // Trailing bytes, a truncated key and an SPKI given as PKCS#1 are refused.
        let mut long = pkcs1.to_vec();
        long.push(0);
        assert!(parse_rsa_public_key(&long).is_err());
        assert!(parse_rsa_public_key(&pkcs1[..pkcs1.len() - 1]).is_err());
        assert!(parse_rsa_public_key(&spki).is_err());
    }
}
