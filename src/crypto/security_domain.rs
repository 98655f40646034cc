//! A Managed HSM's security domain as a key escrow (`Export-`/`Import-AzKeyVaultSecurityDomain`).
//!
//! The HSM has a 32-byte *domain key*. Its security-domain file holds that key split by Shamir
//! secret sharing over GF(2^8) into one share per certificate, any `quorum` of which rebuild it;
//! each share is RSA-OAEP-256 encrypted to its certificate's public key. The file's header (HSM,
//! domain id, quorum, the certificates' SHA-256 thumbprints) is authenticated by a check value
//! sealed (AES-256-GCM) under the domain key with the header as associated data, so a file
//! whose header or shares were altered, or shares from another domain, fail to open. Nothing in
//! the file opens without `quorum` of the certificates' private keys.
//!
//! Key backups of the HSM are wrapped under [`backup_kek`], derived from the domain key.
//! Pure: no I/O, no clock (the caller passes the creation time as text).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::der::certificate_spki;
use super::provider::default_provider;
use super::{open, seal, sha256, OaepAlg, RsaPrivateKey, RsaPublicKey, SecretKey32};

/// The `format` value of a security-domain file.
pub const SD_FORMAT: &str = "custkey-security-domain";
/// The format version.
pub const SD_VERSION: u32 = 1;
/// At least 3 certificates (Azure's documented minimum).
pub const MIN_CERTIFICATES: usize = 3;
/// At most 10 certificates (custkey's bound).
pub const MAX_CERTIFICATES: usize = 10;
/// The quorum is at least 2 (and at most the number of certificates).
pub const MIN_QUORUM: usize = 2;
/// The largest security-domain file read.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

const CHECK_PLAIN: &[u8] = b"custkey security domain v1";
const AAD_PREFIX: &[u8] = b"custkey-security-domain/v1\n";
const BACKUP_KEK_INFO: &[u8] = b"custkey/managed-hsm/key-backup-kek/v1";

/// Why a security domain could not be made or opened (the message says what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDomainError(pub String);

impl std::fmt::Display for SecurityDomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecurityDomainError {}

type R<T> = Result<T, SecurityDomainError>;

fn err(msg: impl Into<String>) -> SecurityDomainError {
    SecurityDomainError(msg.into())
}

/// A certificate given to the export or import: its RSA public key and SHA-256 thumbprint.
#[derive(Clone)]
pub struct DomainCertificate {
    /// The certificate's public key.
    pub public: RsaPublicKey,
    /// SHA-256 of the certificate's DER (hex, lower case).
    pub thumbprint: String,
}

/// Reads a certificate, PEM (`-----BEGIN CERTIFICATE-----`) or DER, with an RSA key of 2048 to
/// 4096 bits.
pub fn read_certificate(bytes: &[u8]) -> R<DomainCertificate> {
    let is_pem = bytes.windows(10).any(|w| w == b"-----BEGIN");
    let der = if is_pem {
        pem_block(bytes, "CERTIFICATE").ok_or_else(|| {
            err("it is not a certificate: neither DER nor a PEM block BEGIN CERTIFICATE")
        })?
    } else {
        bytes.to_vec()
    };
    let spki = certificate_spki(&der)
        .map_err(|e| err(format!("it is not a readable X.509 certificate ({e})")))?;
    let public = RsaPublicKey::from_der(spki)
        .map_err(|e| err(format!("its public key is not a usable RSA key ({e})")))?;
    if !(2048..=4096).contains(&public.bits()) {
        return Err(err(format!(
            "its RSA key has {} bits; a security-domain key is RSA 2048 to 4096 bits",
            public.bits()
        )));
    }
    Ok(DomainCertificate {
        public,
        thumbprint: hex::encode(sha256(&der)),
    })
}

fn pem_block(text: &[u8], label: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    let text = std::str::from_utf8(text).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64ct::Base64::decode_vec(&b64).ok()
}

/// The authenticated header of a security-domain file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainHeader {
    /// Always [`SD_FORMAT`].
    pub format: String,
    /// Always [`SD_VERSION`].
    pub version: u32,
    /// The HSM it was downloaded from.
    pub hsm: String,
    /// The domain's id (the same in every HSM that holds the domain).
    pub domain_id: String,
    /// Shares needed to rebuild the domain key.
    pub quorum: usize,
    /// When it was downloaded (RFC 3339).
    pub created: String,
    /// The certificates' SHA-256 thumbprints, one per share, in share order.
    pub certificates: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DomainFile {
    header: DomainHeader,
    /// RSA-OAEP-256 encrypted shares (hex), in the order of `header.certificates`.
    shares: Vec<String>,
    /// AES-256-GCM seal of a constant under the domain key, the header as associated data.
    check: String,
}

fn aad(h: &DomainHeader) -> R<Vec<u8>> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend(serde_json::to_vec(h).map_err(|e| err(format!("header not serializable: {e}")))?);
    Ok(a)
}

/// Checks the certificate count and quorum against Azure's bounds.
pub fn check_quorum(certificates: usize, quorum: i64) -> R<usize> {
    if !(MIN_CERTIFICATES..=MAX_CERTIFICATES).contains(&certificates) {
        return Err(err(format!(
            "{certificates} certificate(s) given: a security domain needs {MIN_CERTIFICATES} to \
             {MAX_CERTIFICATES} RSA certificates (-Certificates a.cer,b.cer,c.cer)"
        )));
    }
    let q = usize::try_from(quorum).unwrap_or(0);
    if q < MIN_QUORUM || q > certificates {
        return Err(err(format!(
            "-Quorum {quorum} is out of range: it must be at least {MIN_QUORUM} and at most the \
             number of certificates ({certificates})"
        )));
    }
    Ok(q)
}

/// The security-domain file of `domain_key`: split into one share per certificate, `quorum`
/// of which rebuild it.
pub fn export(
    domain_key: &SecretKey32,
    hsm: &str,
    domain_id: &str,
    created: &str,
    certificates: &[DomainCertificate],
    quorum: usize,
) -> R<Vec<u8>> {
    check_quorum(certificates.len(), quorum as i64)?;
    let mut seen = std::collections::BTreeSet::new();
    for c in certificates {
        if !seen.insert(c.public.to_der()) {
            return Err(err(
                "two certificates carry the same public key: each share needs its own key pair",
            ));
        }
    }
    let header = DomainHeader {
        format: SD_FORMAT.into(),
        version: SD_VERSION,
        hsm: hsm.into(),
        domain_id: domain_id.into(),
        quorum,
        created: created.into(),
        certificates: certificates.iter().map(|c| c.thumbprint.clone()).collect(),
    };
    let shares = split(domain_key.expose(), quorum, certificates.len())?;
    let mut enc = Vec::new();
    for (share, cert) in shares.iter().zip(certificates) {
        let ct = cert
            .public
            .oaep_wrap(OaepAlg::RsaOaep256, share)
            .map_err(|e| err(format!("cannot encrypt a share (RSA-OAEP-256): {e}")))?;
        enc.push(hex::encode(ct));
    }
    let check = seal(domain_key, &aad(&header)?, CHECK_PLAIN)
        .map_err(|e| err(format!("cannot seal the check value: {e}")))?;
    let file = DomainFile {
        header,
        shares: enc,
        check: hex::encode(check),
    };
    serde_json::to_vec_pretty(&file).map_err(|e| err(format!("cannot encode the file: {e}")))
}

fn parse(file: &[u8]) -> R<DomainFile> {
    if file.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "the file is {} bytes, more than the {MAX_FILE_BYTES} a security domain takes",
            file.len()
        )));
    }
    let f: DomainFile = serde_json::from_slice(file).map_err(|e| {
        err(format!(
            "it is not a custkey security-domain file, or it is truncated or damaged ({e})"
        ))
    })?;
    if f.header.format != SD_FORMAT || f.header.version != SD_VERSION {
        return Err(err(
            "it is not a custkey security-domain file of a known version",
        ));
    }
    if f.shares.len() != f.header.certificates.len()
        || check_quorum(f.shares.len(), f.header.quorum as i64).is_err()
    {
        return Err(err(
            "the file is damaged: its shares do not match its certificates and quorum",
        ));
    }
    Ok(f)
}

/// The clear header of a file (not yet authenticated).
pub fn peek(file: &[u8]) -> R<DomainHeader> {
    Ok(parse(file)?.header)
}

/// Opens a security-domain file with `keys` (certificate and its PKCS#8 private key): needs
/// `quorum` of the file's certificates; returns the authenticated header and the domain key.
pub fn open_domain(
    file: &[u8],
    keys: &[(DomainCertificate, Zeroizing<Vec<u8>>)],
) -> R<(DomainHeader, SecretKey32)> {
    let f = parse(file)?;
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for (cert, pkcs8) in keys {
        let private = RsaPrivateKey::from_pkcs8_der(pkcs8)
            .map_err(|e| err(format!("a private key is not a usable RSA key ({e})")))?;
        if private.public_key() != cert.public {
            return Err(err(format!(
                "the private key given with certificate {} is not that certificate's key",
                &cert.thumbprint[..16]
            )));
        }
        let Some(i) = f
            .header
            .certificates
            .iter()
            .position(|t| *t == cert.thumbprint)
        else {
            return Err(err(format!(
                "certificate {} is not one this security domain was exported to",
                &cert.thumbprint[..16]
            )));
        };
        if !used.insert(i) {
            continue;
        }
        let ct = hex::decode(&f.shares[i])
            .map_err(|_| err("the file is damaged: a share is not hex"))?;
        let share = private.oaep_unwrap(OaepAlg::RsaOaep256, &ct).map_err(|_| {
            err("a share does not decrypt with its certificate's private key: the file was altered")
        })?;
        shares.push(share);
    }
    if shares.len() < f.header.quorum {
        return Err(err(format!(
            "{} of the {} keys this security domain was exported to were given; it opens with a \
             quorum of {}",
            shares.len(),
            f.header.certificates.len(),
            f.header.quorum
        )));
    }
    let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
    let key_bytes = combine(&refs)?;
    let key = SecretKey32::from_slice(&key_bytes)
        .map_err(|_| err("the file is damaged: its shares do not rebuild a domain key"))?;
    let check =
        hex::decode(&f.check).map_err(|_| err("the file is damaged: its check is not hex"))?;
    let plain = open(&key, &aad(&f.header)?, &check).map_err(|_| {
        err(
            "the security-domain file failed its integrity check: its header or shares were \
             altered, or it is damaged",
        )
    })?;
    if plain.as_slice() != CHECK_PLAIN {
        return Err(err("the security-domain file failed its integrity check"));
    }
    Ok((f.header, key))
}

/// The key that wraps the HSM's key backups, derived from its domain key.
pub fn backup_kek(domain_key: &SecretKey32) -> R<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    default_provider()
        .hkdf_sha256(b"", domain_key.expose(), &[BACKUP_KEK_INFO], out.as_mut())
        .map_err(|e| err(format!("cannot derive the backup key: {e}")))?;
    Ok(out)
}

/// A short public fingerprint of a domain key (which domain an HSM holds; shown, not secret).
pub fn domain_fingerprint(domain_key: &SecretKey32) -> String {
    let mut b = Zeroizing::new(b"custkey/security-domain/fingerprint/v1".to_vec());
    b.extend_from_slice(domain_key.expose());
    hex::encode(&sha256(&b)[..16])
}

// ---- Shamir secret sharing over GF(2^8) (AES polynomial x^8+x^4+x^3+x+1) ----------------

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    for _ in 0..8 {
        // Constant-time: no branch on secret bits.
        p ^= a & 0u8.wrapping_sub(b & 1);
        let hi = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & hi);
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 (a != 0).
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            r = gf_mul(r, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    r
}

/// Splits `secret` into `count` shares (`x || y bytes`, x = 1..=count), any `quorum` of which
/// rebuild it.
pub fn split(secret: &[u8], quorum: usize, count: usize) -> R<Vec<Zeroizing<Vec<u8>>>> {
    if quorum < 2 || quorum > count || count > 255 {
        return Err(err(
            "a quorum of 2 to the number of shares (at most 255) is needed",
        ));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (1..=count)
        .map(|x| {
            let mut s = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
            s.push(x as u8);
            s
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; quorum]);
    for &byte in secret {
        coeffs[0] = byte;
        super::random_bytes(&mut coeffs[1..]);
        for share in shares.iter_mut() {
            let x = share[0];
            // Horner: a0 + x(a1 + x(a2 + ...)).
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = gf_mul(y, x) ^ c;
            }
            share.push(y);
        }
    }
    Ok(shares)
}

/// Rebuilds the secret from shares made by [`split`] (at least the quorum; distinct x).
pub fn combine(shares: &[&[u8]]) -> R<Zeroizing<Vec<u8>>> {
    let Some(first) = shares.first() else {
        return Err(err("no shares"));
    };
    let len = first.len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(err("the shares are damaged: their lengths differ"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[0]).collect();
    for (i, x) in xs.iter().enumerate() {
        if *x == 0 || xs[..i].contains(x) {
            return Err(err("the shares are damaged: repeated or zero share index"));
        }
    }
    let mut out = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // Lagrange basis at 0: prod over m != i of x_m / (x_m - x_i); in GF(2^8), - is ^.
        let mut basis = 1u8;
        for (m, &xm) in xs.iter().enumerate() {
            if m != i {
                basis = gf_mul(basis, gf_mul(xm, gf_inv(xm ^ xs[i])));
            }
        }
        for (o, &y) in out.iter_mut().zip(&share[1..]) {
            *o ^= gf_mul(y, basis);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gf_inverse_is_an_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "{a}");
        }
    }

    #[test]
    fn any_quorum_of_shares_rebuilds_and_fewer_do_not() {
        let secret = [7u8; 32];
        let shares = split(&secret, 3, 5).unwrap();
        for pick in [[0, 1, 2], [0, 2, 4], [4, 3, 1]] {
            let s: Vec<&[u8]> = pick.iter().map(|&i| shares[i].as_slice()).collect();
            assert_eq!(combine(&s).unwrap().as_slice(), &secret);
        }
        let two: Vec<&[u8]> = vec![&shares[0], &shares[1]];
        assert_ne!(combine(&two).unwrap().as_slice(), &secret);
    }

    #[test]
    fn quorum_bounds_are_azures() {
        assert!(check_quorum(2, 2).is_err());
        assert!(check_quorum(11, 2).is_err());
        assert!(check_quorum(3, 1).is_err());
        assert!(check_quorum(3, 4).is_err());
        assert_eq!(check_quorum(3, 2).unwrap(), 2);
        assert_eq!(check_quorum(10, 10).unwrap(), 10);
    }
}
