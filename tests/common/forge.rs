//! What someone who can write the store can make with public information only: a root wrap of
//! a key of their choosing under a customer key's public half (as `Get-AzKeyVaultKey` shows
//! it), with a check value that is correct for it.

use custkey::crypto::{
    DepBinding, DepKey, OaepAlg, RsaPublicKey, TenantIntermediateKey, TierId, WrappedKey,
};

use super::{store_exec_args, store_rows, Env};

fn b64url(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' | b'+' => 62,
        b'_' | b'/' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | u32::from(val(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The public half of the vault key a key URI names
/// (`https://<vault>.vault.azure.net/keys/<name>[/<version>]`), from `Get-AzKeyVaultKey`.
pub fn public_key(e: &Env, key_uri: &str) -> RsaPublicKey {
    let rest = key_uri.strip_prefix("https://").unwrap();
    let vault = rest.split('.').next().unwrap();
    let name = rest.split('/').nth(2).unwrap();
    let k = e.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", name]);
    let n = b64url(k["Key"]["n"].as_str().unwrap());
    let x = b64url(k["Key"]["e"].as_str().unwrap());
    RsaPublicKey::from_components(&n, &x).unwrap()
}

/// A forged copy of the root wrap `genuine` of policy `policy`: same header (tier, key ref,
/// root key id and version), but the RSA-OAEP-256 wrap of a fresh key chosen by the attacker,
/// with a check value that is correct for that key. Returns the bytes and the chosen key.
pub fn forge_root_wrap(
    genuine: &[u8],
    public: &RsaPublicKey,
    policy: uuid::Uuid,
) -> (Vec<u8>, [u8; 32]) {
    let wk = WrappedKey::from_bytes(genuine).unwrap();
    let root = wk.root_key_ref().unwrap().clone();
    let b = DepBinding::new(policy);
    match wk.child_tier() {
        TierId::Dep => {
            let k = DepKey::generate(wk.child_key_ref());
            let f = k
                .wrap_under_rsa(&root, public, OaepAlg::RsaOaep256, &b)
                .unwrap();
            (f.into_bytes(), *k.to_secret().expose())
        }
        TierId::Tik => {
            let k = TenantIntermediateKey::generate(wk.child_key_ref());
            let f = k
                .wrap_under_rsa(&root, public, OaepAlg::RsaOaep256, &b)
                .unwrap();
            (f.into_bytes(), *k.to_secret().expose())
        }
        other => panic!("not a root-wrapped tier: {other:?}"),
    }
}

/// Replaces every customer-key copy of the key of the DEP (mailbox or multi-workload) named
/// `name` with a forged one; returns the genuine rows `(slot, wrapped)` for [`put_back_dep`].
pub fn forge_dep(e: &Env, name: &str) -> Vec<(u32, Vec<u8>)> {
    let guid = store_rows(e, "SELECT guid FROM dep WHERE name = ?1", &[name.into()])[0][0].text();
    let rows = wraps(e, "dep_root_wrap", &guid);
    assert_eq!(rows.len(), 2);
    for (slot, uri, wrapped) in &rows {
        let public = public_key(e, uri);
        let (forged, _) = forge_root_wrap(wrapped, &public, guid.parse().unwrap());
        store_exec_args(
            e,
            "UPDATE dep_root_wrap SET wrapped = ?3 WHERE dep_guid = ?1 AND slot = ?2",
            &[(&guid).into(), (*slot).into(), (&forged).into()],
        );
    }
    rows.into_iter().map(|(s, _, w)| (s, w)).collect()
}

/// (slot, key URI, wrapped) of the root wraps in `table` of policy `guid`.
fn wraps(e: &Env, table: &str, guid: &str) -> Vec<(u32, String, Vec<u8>)> {
    store_rows(
        e,
        &format!("SELECT slot, key_uri, wrapped FROM {table} WHERE dep_guid = ?1 ORDER BY slot"),
        &[guid.into()],
    )
    .into_iter()
    .map(|r| (r[0].int() as u32, r[1].text(), r[2].blob()))
    .collect()
}

/// Puts the genuine copies [`forge_dep`] returned back.
pub fn put_back_dep(e: &Env, name: &str, rows: &[(u32, Vec<u8>)]) {
    for (slot, wrapped) in rows {
        store_exec_args(
            e,
            "UPDATE dep_root_wrap SET wrapped = ?3 WHERE slot = ?2 AND dep_guid = (SELECT guid FROM dep WHERE name = ?1)",
            &[name.into(), (*slot).into(), wrapped.into()],
        );
    }
}

/// Replaces both customer-key copies of the TIK of geo `geo`'s SharePoint DEP with forged ones
/// and drops its cached copy (as the attacker can); returns the chosen TIK.
pub fn forge_tik(e: &Env, geo: &str) -> [u8; 32] {
    let guid = store_rows(e, "SELECT guid FROM spo_dep WHERE geo = ?1", &[geo.into()])[0][0].text();
    let rows = wraps(e, "spo_dep_root_wrap", &guid);
    assert_eq!(rows.len(), 2);
    // One chosen key under both customer keys, as an attacker would do.
    let chosen = TenantIntermediateKey::generate(
        WrappedKey::from_bytes(&rows[0].2).unwrap().child_key_ref(),
    );
    for (slot, uri, wrapped) in &rows {
        let root = WrappedKey::from_bytes(wrapped)
            .unwrap()
            .root_key_ref()
            .unwrap()
            .clone();
        let forged = chosen
            .wrap_under_rsa(
                &root,
                &public_key(e, uri),
                OaepAlg::RsaOaep256,
                &DepBinding::new(guid.parse().unwrap()),
            )
            .unwrap();
        store_exec_args(
            e,
            "UPDATE spo_dep_root_wrap SET wrapped = ?3 WHERE dep_guid = ?1 AND slot = ?2",
            &[(&guid).into(), (*slot).into(), forged.as_bytes().into()],
        );
    }
    store_exec_args(
        e,
        "UPDATE spo_dep SET tik_cache = NULL, tik_cache_expires_at = NULL WHERE guid = ?1",
        &[(&guid).into()],
    );
    *chosen.to_secret().expose()
}
