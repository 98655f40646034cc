//! AES key wrap with padding (RFC 5649, NIST SP 800-38F "KWP"), the second half of the
//! PKCS#11 mechanism `CKM_RSA_AES_KEY_WRAP` an Azure `.byok` transfer blob uses.
//!
//! Written over the AES block function (aws-lc-rs, ECB on one block at a time) so that every
//! KEK size of RFC 5649 works (its test vectors use AES-192); Customer Key's blobs use
//! AES-256. Unwrapping checks the integrity value, the length indicator and the padding
//! together and answers one error for all of them, so a failure says nothing about why.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
};
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::secret::ct_eq;

/// The RFC 5649 alternative initial value's constant half.
const AIV: [u8; 4] = [0xa6, 0x59, 0x59, 0xa6];
/// The largest key this reads (far above any PKCS#8 RSA-4096 key, about 2.4 KB).
pub const MAX_KWP_PLAINTEXT: usize = 64 * 1024;

fn algorithm(kek: &[u8]) -> Result<&'static aws_lc_rs::cipher::Algorithm, CryptoError> {
    match kek.len() {
        16 => Ok(&AES_128),
        24 => Ok(&AES_192),
        32 => Ok(&AES_256),
        n => Err(CryptoError::InvalidLength {
            what: "AES key-wrap key",
            expected: 32,
            actual: n,
        }),
    }
}

fn provider(_: aws_lc_rs::error::Unspecified) -> CryptoError {
    CryptoError::Provider("AES block")
}

/// Wraps `key` (1 to [`MAX_KWP_PLAINTEXT`] bytes) under the AES key `kek` (16, 24 or 32 bytes).
pub fn aes_kwp_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if key.is_empty() || key.len() > MAX_KWP_PLAINTEXT {
        return Err(CryptoError::Malformed("AES-KWP: key length out of range"));
    }
    let alg = algorithm(kek)?;
    let enc =
        EncryptingKey::ecb(UnboundCipherKey::new(alg, kek).map_err(provider)?).map_err(provider)?;
    let n = key.len().div_ceil(8);
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&AIV);
    a[4..].copy_from_slice(&(key.len() as u32).to_be_bytes());
    let mut r = Zeroizing::new(vec![0u8; n * 8]);
    r[..key.len()].copy_from_slice(key);
    let mut block = Zeroizing::new([0u8; 16]);
    if n == 1 {
        block[..8].copy_from_slice(&a);
        block[8..].copy_from_slice(&r);
        enc.encrypt(&mut block[..]).map_err(provider)?;
        return Ok(block.to_vec());
    }
    for j in 0..6u64 {
        for i in 0..n {
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(&r[i * 8..i * 8 + 8]);
            enc.encrypt(&mut block[..]).map_err(provider)?;
            let t = (n as u64) * j + (i as u64) + 1;
            a.copy_from_slice(&block[..8]);
            for (x, y) in a.iter_mut().zip(t.to_be_bytes()) {
                *x ^= y;
            }
            r[i * 8..i * 8 + 8].copy_from_slice(&block[8..]);
        }
    }
    let mut out = Vec::with_capacity(8 + r.len());
    out.extend_from_slice(&a);
    out.extend_from_slice(&r);
    Ok(out)
}

/// Unwraps an RFC 5649 `wrapped` value under `kek`. Every failure (wrong key, tampered
/// bytes, bad length indicator or padding) is the same [`CryptoError::Authentication`].
pub fn aes_kwp_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let alg = algorithm(kek)?;
    if wrapped.len() < 16
        || !wrapped.len().is_multiple_of(8)
        || wrapped.len() > MAX_KWP_PLAINTEXT + 16
    {
        return Err(CryptoError::Authentication);
    }
    let dec =
        DecryptingKey::ecb(UnboundCipherKey::new(alg, kek).map_err(provider)?).map_err(provider)?;
    let n = wrapped.len() / 8 - 1;
    let mut a = [0u8; 8];
    let mut r = Zeroizing::new(wrapped[8..].to_vec());
    let mut block = Zeroizing::new([0u8; 16]);
    if n == 1 {
        block.copy_from_slice(wrapped);
        dec.decrypt(&mut block[..], DecryptionContext::None)
            .map_err(provider)?;
        a.copy_from_slice(&block[..8]);
        r.copy_from_slice(&block[8..]);
    } else {
        a.copy_from_slice(&wrapped[..8]);
        for j in (0..6u64).rev() {
            for i in (0..n).rev() {
                let t = (n as u64) * j + (i as u64) + 1;
                for (k, y) in t.to_be_bytes().into_iter().enumerate() {
                    block[k] = a[k] ^ y;
                }
                block[8..].copy_from_slice(&r[i * 8..i * 8 + 8]);
                dec.decrypt(&mut block[..], DecryptionContext::None)
                    .map_err(provider)?;
                a.copy_from_slice(&block[..8]);
                r[i * 8..i * 8 + 8].copy_from_slice(&block[8..]);
            }
        }
    }
    // One verdict for the integrity constant, the length indicator and the zero padding.
    let mli = u32::from_be_bytes([a[4], a[5], a[6], a[7]]) as usize;
    let len_ok = mli > 8 * (n - 1) && mli <= 8 * n;
    let aiv_ok = ct_eq(&a[..4], &AIV);
    let pad_start = if len_ok { mli } else { 8 * n };
    let pad_ok = r[pad_start..].iter().fold(0u8, |acc, b| acc | b) == 0;
    if !(len_ok & aiv_ok & pad_ok) {
        return Err(CryptoError::Authentication);
    }
    r.truncate(mli);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    // RFC 5649 section 6, both examples (192-bit KEK).
    const KEK: &str = "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8";

    #[test]
    fn rfc5649_twenty_octet_key() {
        let key = h("c37b7e6492584340 bed1220780894115 5068f738");
        let wrapped = h("138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a");
        assert_eq!(aes_kwp_wrap(&h(KEK), &key).unwrap(), wrapped);
        assert_eq!(&aes_kwp_unwrap(&h(KEK), &wrapped).unwrap()[..], &key[..]);
    }

    #[test]
    fn rfc5649_seven_octet_key() {
        let key = h("466f7250617369");
        let wrapped = h("afbeb0f07dfbf541 9200f2ccb50bb24f");
        assert_eq!(aes_kwp_wrap(&h(KEK), &key).unwrap(), wrapped);
        assert_eq!(&aes_kwp_unwrap(&h(KEK), &wrapped).unwrap()[..], &key[..]);
    }

    #[test]
    fn tampered_or_wrong_key_fails_alike() {
        let key = h("c37b7e6492584340 bed1220780894115 5068f738");
        let mut wrapped = aes_kwp_wrap(&h(KEK), &key).unwrap();
        let mut other = h(KEK);
        other[0] ^= 1;
        assert_eq!(
            aes_kwp_unwrap(&other, &wrapped).unwrap_err(),
            CryptoError::Authentication
        );
        wrapped[20] ^= 0x40;
        assert_eq!(
            aes_kwp_unwrap(&h(KEK), &wrapped).unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            aes_kwp_unwrap(&h(KEK), &wrapped[..15]).unwrap_err(),
            CryptoError::Authentication
        );
    }

    /// Agrees with aws-lc-rs's own KWP (AES-256, the size `.byok` files use) both ways.
    #[test]
    fn agrees_with_aws_lc_kwp() {
        use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256 as KW256};
        let kek = [7u8; 32];
        for len in [1usize, 8, 9, 1217, 2374] {
            let key: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mine = aes_kwp_wrap(&kek, &key).unwrap();
            let mut out = vec![0u8; len + 16];
            let theirs = AesKek::new(&KW256, &kek)
                .unwrap()
                .wrap_with_padding(&key, &mut out)
                .unwrap()
                .to_vec();
            assert_eq!(mine, theirs, "length {len}");
            assert_eq!(&aes_kwp_unwrap(&kek, &theirs).unwrap()[..], &key[..]);
        }
    }
}
