//! SharePoint Online runbooks through the binary: register a geo DEP over existing sites
//! (resumable after a kill), upload and download files byte-identical, roll both keys one at
//! a time (a roll interrupted by a kill blocks any other), revocation with the TIK cache
//! (reads go on until the cached copy expires, then fail), recovery with the availability key,
//! and completion of site URLs.

mod common;

use common::Env;

const SP: &str = "00000003-0000-0ff1-ce00-000000000000";
const MKT: &str = "https://contoso.sharepoint.com/sites/marketing";
const HR: &str = "https://contoso.sharepoint.com/sites/hr";
const OPS: &str = "https://contoso.sharepoint.com/sites/ops";
const MARKER: &[u8] = b"CUSTKEY-SPO-PLAINTEXT-MARKER-0123456789";

/// Two subscriptions with mandatory retention; a vault with a key in each, SharePoint Online
/// granted wrapKey, unwrapKey and get.
fn vaults(e: &Env, names: &[(&str, &str, &str)]) {
    for (sub, vault, key) in names {
        e.ok(&["Set-AzContext", "-Subscription", sub]);
        e.ok(&[
            "Register-AzProviderFeature",
            "-FeatureName",
            "mandatoryRetentionPeriodEnabled",
            "-ProviderNamespace",
            "Microsoft.Resources",
        ]);
        e.ok(&[
            "New-AzKeyVault",
            "-VaultName",
            vault,
            "-ResourceGroupName",
            &format!("{vault}-rg"),
            "-Location",
            "westus",
        ]);
        e.ok(&["Add-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            vault,
            "-ServicePrincipalName",
            SP,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
}

fn setup() -> Env {
    let e = Env::new();
    vaults(
        &e,
        &[("sub-1", "spva1", "SPKey1"), ("sub-2", "spva2", "SPKey2")],
    );
    e
}

fn version(e: &Env, vault: &str, key: &str) -> String {
    e.json(&["Get-AzKeyVaultKey", "-VaultName", vault, "-Name", key])["Version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Rolls a key in its vault (a new version) and returns that version.
fn new_version(e: &Env, vault: &str, key: &str) -> String {
    e.ok(&["Add-AzKeyVaultKey", "-VaultName", vault, "-Name", key]);
    version(e, vault, key)
}

fn register(e: &Env, env: &[(&str, &str)]) -> std::process::Output {
    let (v1, v2) = (version(e, "spva1", "SPKey1"), version(e, "spva2", "SPKey2"));
    e.run_env(
        &[
            "Register-SPODataEncryptionPolicy",
            "-PrimaryKeyVaultName",
            "spva1",
            "-PrimaryKeyName",
            "SPKey1",
            "-PrimaryKeyVersion",
            &v1,
            "-SecondaryKeyVaultName",
            "spva2",
            "-SecondaryKeyName",
            "SPKey2",
            "-SecondaryKeyVersion",
            &v2,
            "-Format",
            "Json",
        ],
        env,
    )
}

fn policy(e: &Env) -> serde_json::Value {
    e.json(&["Get-SPODataEncryptionPolicy"])
}

fn site(e: &Env, url: &str) {
    e.ok(&[
        "New-PnPSite",
        "-Type",
        "TeamSite",
        "-Title",
        "Site",
        "-Url",
        url,
    ]);
}

/// A file of `len` non-repeating bytes with the marker near its start.
fn write_file(e: &Env, name: &str, len: usize) -> std::path::PathBuf {
    let mut data = MARKER.to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(format!("{x:016x}\n").as_bytes());
    }
    data.truncate(len.max(MARKER.len()));
    let p = e.path(name);
    std::fs::write(&p, &data).unwrap();
    p
}

fn upload(e: &Env, site: &str, path: &std::path::Path) -> serde_json::Value {
    e.json(&[
        "Add-PnPFile",
        "-Path",
        path.to_str().unwrap(),
        "-Folder",
        "Shared Documents",
        "-Site",
        site,
    ])
}

/// Downloads `/sites/<x>/Shared Documents/<name>` and returns its bytes.
fn download_env(e: &Env, site: &str, name: &str, env: &[(&str, &str)]) -> std::process::Output {
    let rel = format!(
        "{}/Shared Documents/{name}",
        site.trim_start_matches("https://contoso.sharepoint.com")
    );
    let _ = std::fs::remove_file(e.path("dl").join(name));
    std::fs::create_dir_all(e.path("dl")).unwrap();
    e.run_env(
        &[
            "Get-PnPFile",
            "-Url",
            &rel,
            "-AsFile",
            "-Path",
            "dl",
            "-Filename",
            name,
        ],
        env,
    )
}

fn download(e: &Env, site: &str, name: &str) -> Vec<u8> {
    let out = download_env(e, site, name, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(e.path("dl").join(name)).unwrap()
}

/// The store and every content pack file beside it (on PostgreSQL every row, content chunks
/// among them, and any pack files).
fn store_bytes(e: &Env) -> Vec<u8> {
    let mut bytes = common::store_bytes(e);
    for f in common::files_under(&e.path("content")) {
        bytes.extend(std::fs::read(f).unwrap());
    }
    bytes
}

/// A file's rows: guid, site, pack, offset, size, chunks.
fn file_row(e: &Env, name: &str) -> (String, String, Option<String>, u64, u64, u32) {
    let rows = common::store_rows(
        e,
        "SELECT guid, site_guid, pack, pack_offset, size, chunks FROM spo_file WHERE path = ?1",
        &[(&format!("Shared Documents/{name}")).into()],
    );
    let r = &rows[0];
    (
        r[0].text(),
        r[1].text(),
        r[2].opt_text(),
        r[3].int() as u64,
        r[4].int() as u64,
        r[5].int() as u32,
    )
}

/// A content pack of a site: a file under `content/`, or rows of the database.
struct Pack {
    site: String,
    id: String,
}

impl Pack {
    fn bytes(&self, e: &Env) -> Vec<u8> {
        common::pack_bytes(e, &self.site, &self.id)
    }
    /// Replaces its bytes from outside, as a store writer could.
    fn put(&self, e: &Env, bytes: &[u8]) {
        common::put_pack_bytes(e, &self.site, &self.id, bytes)
    }
    fn exists(&self, e: &Env) -> bool {
        common::pack_exists(e, &self.site, &self.id)
    }
    /// Deletes its bytes (the file, or the chunk rows), leaving its `content_pack` row.
    fn remove_bytes(&self, e: &Env) {
        if common::pack_in_database(e, &self.id) {
            common::store_exec_args(
                e,
                "DELETE FROM content_chunk WHERE pack = ?1",
                &[(&self.id).into()],
            );
        } else {
            std::fs::remove_file(e.path(&format!("content/{}/{}.pack", self.site, self.id)))
                .unwrap();
        }
    }
    /// The message of a download that finds the pack shorter than the file's row says.
    fn truncated_message(&self, e: &Env) -> &'static str {
        match common::pack_in_database(e, &self.id) {
            true => "is incomplete",
            false => "is truncated",
        }
    }
}

/// Where each chunk of a file lies in its pack: (offset, length), and the pack.
fn pack_chunks(e: &Env, name: &str) -> (Pack, Vec<(usize, usize)>) {
    let (_, site, pack, off, size, chunks) = file_row(e, name);
    let pack = pack.expect("the file is in a pack");
    let chunk = custkey::service::spo::CHUNK_BYTES as u64;
    let full = custkey::crypto::encrypted_len(chunk);
    let extents = (0..u64::from(chunks))
        .map(|n| {
            let plain = if n + 1 == u64::from(chunks) {
                size - n * chunk
            } else {
                chunk
            };
            (
                (off + n * full) as usize,
                custkey::crypto::encrypted_len(plain) as usize,
            )
        })
        .collect();
    (Pack { site, id: pack }, extents)
}

/// Every stored chunk ciphertext, file by file (by guid), in order: from the packs, or rows.
fn chunks(e: &Env) -> Vec<Vec<u8>> {
    let files: Vec<(String, Option<String>)> = common::store_rows(
        e,
        "SELECT substr(path, length('Shared Documents/') + 1), pack FROM spo_file ORDER BY guid",
        &[],
    )
    .into_iter()
    .map(|r| (r[0].text(), r[1].opt_text()))
    .collect();
    let mut out = common::blobs(e, "SELECT data FROM spo_file_chunk ORDER BY file_guid, n");
    for (name, pack) in files {
        if pack.is_none() {
            continue;
        }
        let (pack, extents) = pack_chunks(e, &name);
        let bytes = pack.bytes(e);
        out.extend(
            extents
                .iter()
                .map(|&(at, len)| bytes[at..at + len].to_vec()),
        );
    }
    out
}

/// Moves a file's chunks out of its pack into `spo_file_chunk` rows, as a store written before
/// schema 12 holds them (the same ciphertext; the pack goes with the next reclaim).
fn to_chunk_rows(e: &Env, name: &str) {
    let (pack, extents) = pack_chunks(e, name);
    let bytes = pack.bytes(e);
    let (guid, ..) = file_row(e, name);
    for (n, &(at, len)) in extents.iter().enumerate() {
        common::store_exec_args(
            e,
            "INSERT INTO spo_file_chunk (file_guid, n, data) VALUES (?1, ?2, ?3)",
            &[
                (&guid).into(),
                (n as u32).into(),
                (&bytes[at..at + len]).into(),
            ],
        );
    }
    common::store_exec_args(
        e,
        "UPDATE spo_file SET pack = NULL, pack_offset = 0 WHERE guid = ?1",
        &[(&guid).into()],
    );
    pack.remove_bytes(e);
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn runbook_register_upload_roll_and_download() {
    let e = setup();
    site(&e, MKT);
    let small = write_file(&e, "small.txt", 100);
    let big = write_file(&e, "big.bin", 3 * 1024 * 1024 + 5);
    // Before registration the site is under Microsoft-managed keys.
    assert_eq!(upload(&e, MKT, &small)["Length"], 100);
    assert_eq!(policy(&e)["State"], "Unregistered");
    let sites = e.json(&["Get-PnPTenantSite"]);
    assert_eq!(sites["Encryption"], "MicrosoftManaged");

    let out = register(&e, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = policy(&e);
    assert_eq!(p["State"], "Registered");
    assert_eq!(p["PercentComplete"], 100);
    assert_eq!(
        e.json(&["Get-PnPTenantSite", MKT])["Encryption"],
        "CustomerKey"
    );
    let up = upload(&e, MKT, &big);
    assert_eq!(up["Chunks"], 4);

    // Roll the primary key to a new version, then the secondary.
    let old_primary = p["PrimaryKeyVaultUri"].as_str().unwrap().to_string();
    let v = new_version(&e, "spva1", "SPKey1");
    let rolled = e.json(&[
        "Update-SPODataEncryptionPolicy",
        "-KeyType",
        "Primary",
        "-KeyVaultName",
        "spva1",
        "-KeyName",
        "SPKey1",
        "-KeyVersion",
        &v,
    ]);
    assert_eq!(rolled["State"], "Registered");
    assert_ne!(rolled["PrimaryKeyVaultUri"], old_primary.as_str());
    assert!(rolled["PrimaryKeyVaultUri"].as_str().unwrap().ends_with(&v));
    let v2 = new_version(&e, "spva2", "SPKey2");
    let rolled = e.json(&[
        "Update-SPODataEncryptionPolicy",
        "-KeyType",
        "Secondary",
        "-KeyVaultUri",
        &format!("https://spva2.vault.azure.net/keys/SPKey2/{v2}"),
    ]);
    assert!(rolled["SecondaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .ends_with(&v2));

    // Byte-identical round trips, under the rolled keys.
    assert_eq!(
        download(&e, MKT, "small.txt"),
        std::fs::read(&small).unwrap()
    );
    assert_eq!(download(&e, MKT, "big.bin"), std::fs::read(&big).unwrap());
    let site_dep = e.json(&["Get-SPOSiteDataEncryptionPolicy", MKT]);
    assert_eq!(site_dep["State"], "Registered");
    assert_eq!(site_dep["PrimaryKeyVaultUri"], rolled["PrimaryKeyVaultUri"]);

    // What is stored is not the plaintext.
    assert!(!store_bytes(&e).windows(MARKER.len()).any(|w| w == MARKER));

    // Two uploads of the same bytes: new chunk keys (salts in the headers) and ciphertext.
    let before = chunks(&e);
    upload(&e, MKT, &small);
    let after = chunks(&e);
    assert_eq!(
        before.len(),
        after.len(),
        "the replaced file's chunks are gone"
    );
    let old_small: Vec<&Vec<u8>> = before.iter().filter(|c| !after.contains(c)).collect();
    let new_small: Vec<&Vec<u8>> = after.iter().filter(|c| !before.contains(c)).collect();
    assert_eq!((old_small.len(), new_small.len()), (1, 1));
    assert_ne!(
        old_small[0][28..60],
        new_small[0][28..60],
        "chunk key salts"
    );
    assert_eq!(
        download(&e, MKT, "small.txt"),
        std::fs::read(&small).unwrap()
    );

    let listing = e.json(&["Get-PnPFolderItem", "-Site", MKT, "Shared Documents"]);
    assert_eq!(listing.as_array().unwrap().len(), 2);
}

#[test]
fn registration_encrypts_existing_sites_and_resumes_after_a_kill() {
    let e = setup();
    for s in [MKT, HR, OPS] {
        site(&e, s);
    }
    let f = write_file(&e, "a.txt", 5000);
    upload(&e, HR, &f);
    let out = register(&e, &[("CUSTKEY_FAULT_SPO_REGISTER_AFTER_SITES", "1")]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let p = policy(&e);
    assert_eq!(p["State"], "Registering");
    assert_eq!(p["PercentComplete"], 33);
    assert_eq!(p["SitesEncrypted"], 1);
    // Everything stays readable mid-way, whichever key wraps the site.
    assert_eq!(download(&e, HR, "a.txt"), std::fs::read(&f).unwrap());
    let states: Vec<String> = [MKT, HR, OPS]
        .iter()
        .map(|s| {
            e.json(&["Get-SPOSiteDataEncryptionPolicy", s])["State"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(states.iter().filter(|s| *s == "Registering").count(), 2);
    // No roll while registering.
    let v = version(&e, "spva1", "SPKey1");
    let err = e.fails(
        &[
            "Update-SPODataEncryptionPolicy",
            "-KeyType",
            "Primary",
            "-KeyVaultUri",
            &format!("https://spva1.vault.azure.net/keys/SPKey1/{v}"),
        ],
        1,
    );
    assert!(
        err.contains(
            "registration of the SharePoint DEP of geo NAM is in progress (Registering 33%)"
        ),
        "{err}"
    );
    // Running the registration again finishes it.
    let out = register(&e, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = policy(&e);
    assert_eq!(
        (p["State"].as_str(), p["PercentComplete"].as_u64()),
        (Some("Registered"), Some(100))
    );
    assert_eq!(p["SitesEncrypted"], 3);
    assert_eq!(download(&e, HR, "a.txt"), std::fs::read(&f).unwrap());
    // A second registration of the geo is refused.
    let out = register(&e, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already has a registered SharePoint DEP"));
}

#[test]
fn one_roll_at_a_time() {
    let e = setup();
    vaults(
        &e,
        &[("sub-3", "spva3", "SPKey3"), ("sub-4", "spva4", "SPKey4")],
    );
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 10);
    upload(&e, MKT, &f);
    assert!(register(&e, &[]).status.success());
    let uri = format!(
        "https://spva1.vault.azure.net/keys/SPKey1/{}",
        new_version(&e, "spva1", "SPKey1")
    );
    let roll = [
        "Update-SPODataEncryptionPolicy",
        "-KeyType",
        "Primary",
        "-KeyVaultUri",
        &uri,
    ];
    let out = e.run_env(&roll, &[("CUSTKEY_FAULT_SPO_ROLL", "1")]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let p = policy(&e);
    assert_eq!(p["State"], "Rolling");
    assert_eq!(p["RollingKeyType"], "Primary");
    assert_eq!(p["PercentComplete"], 0);
    // Another roll of this geo is refused (its two keys roll one after the other); another geo
    // is independent: registering it goes ahead.
    let v2 = version(&e, "spva2", "SPKey2");
    let err = e.fails(
        &[
            "Update-SPODataEncryptionPolicy",
            "-KeyType",
            "Secondary",
            "-KeyVaultUri",
            &format!("https://spva2.vault.azure.net/keys/SPKey2/{v2}"),
        ],
        1,
    );
    assert!(err.contains("the roll of the Primary key of the SharePoint DEP of geo NAM is in progress (Rolling 0%); only one key roll of a geo may be in progress at a time"), "{err}");
    assert!(
        err.contains(&format!(
            "re-run custkey Update-SPODataEncryptionPolicy -KeyType Primary -KeyVaultUri {uri}"
        )),
        "{err}"
    );
    let (v3, v4) = (
        version(&e, "spva3", "SPKey3"),
        version(&e, "spva4", "SPKey4"),
    );
    e.ok(&[
        "Register-SPODataEncryptionPolicy",
        "-Geo",
        "EUR",
        "-PrimaryKeyVaultUri",
        &format!("https://spva3.vault.azure.net/keys/SPKey3/{v3}"),
        "-SecondaryKeyVaultUri",
        &format!("https://spva4.vault.azure.net/keys/SPKey4/{v4}"),
    ]);
    assert_eq!(
        e.json(&["Get-SPODataEncryptionPolicy", "-Geo", "EUR"])["State"],
        "Registered"
    );
    assert_eq!(
        policy(&e)["State"],
        "Rolling",
        "NAM's roll is still pending"
    );
    // Files stay readable while the roll is pending; the same roll again finishes it.
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    let done = e.json(&roll);
    assert_eq!(done["State"], "Registered");
    assert!(done["PrimaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .starts_with(&uri));
    assert_eq!(
        e.json(&["Get-SPODataEncryptionPolicy", "-Geo", "EUR"])["State"],
        "Registered"
    );
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
}

#[test]
fn revocation_fails_reads_once_the_cached_tik_expires() {
    // A cached TIK lives an hour and is refreshed in its last ten minutes.
    let (e, f) = with_file();
    for v in ["spva1", "spva2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            SP,
        ]);
    }
    // Before expiry the cached TIK still serves, without asking the vaults.
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    // Within the refresh window the vaults are asked; their refusal leaves the cached copy.
    let out = download_env(
        &e,
        MKT,
        "a.txt",
        &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3300")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let warn = stderr(&out);
    assert!(warn.contains("WARNING: the customer keys of the SharePoint DEP of geo NAM refused to refresh its tenant intermediate key"), "{warn}");
    assert!(warn.contains("AccessDenied"), "{warn}");
    // After expiry reads fail, naming the keys and what to do.
    let out = download_env(
        &e,
        MKT,
        "a.txt",
        &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3700")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: the tenant intermediate key of geo NAM cannot be decrypted (its cached copy expired at"), "{err}");
    assert!(
        err.contains("https://spva1.vault.azure.net/keys/SPKey1/")
            && err.contains("https://spva2.vault.azure.net/keys/SPKey2/"),
        "{err}"
    );
    assert!(
        err.contains("help: grant wrapKey, unwrapKey and get to Office 365 SharePoint Online"),
        "{err}"
    );
    let up = e.run_env(
        &[
            "Add-PnPFile",
            "-Path",
            f.to_str().unwrap(),
            "-Folder",
            "Shared Documents",
            "-Site",
            MKT,
        ],
        &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3700")],
    );
    assert_eq!(up.status.code(), Some(1));
    // Granting access again brings reads back, and refreshes the cache.
    for v in ["spva1", "spva2"] {
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            SP,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    let out = download_env(
        &e,
        MKT,
        "a.txt",
        &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3700")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn restore_after_losing_both_keys() {
    let e = setup();
    vaults(
        &e,
        &[("sub-3", "spva3", "SPKey3"), ("sub-4", "spva4", "SPKey4")],
    );
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 1_500_000);
    assert!(register(&e, &[]).status.success());
    upload(&e, MKT, &f);
    let (v3, v4) = (
        version(&e, "spva3", "SPKey3"),
        version(&e, "spva4", "SPKey4"),
    );
    let restore = [
        "Restore-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultUri",
        &format!("https://spva3.vault.azure.net/keys/SPKey3/{v3}"),
        "-SecondaryKeyVaultUri",
        &format!("https://spva4.vault.azure.net/keys/SPKey4/{v4}"),
    ];
    // Not in recovery while a current key works.
    let err = e.fails(&restore, 1);
    assert!(err.contains("is not in recovery mode"), "{err}");
    // Both keys lost: after the cache expires nothing reads.
    for (v, k) in [("spva1", "SPKey1"), ("spva2", "SPKey2")] {
        e.ok(&[
            "Remove-AzKeyVaultKey",
            "-VaultName",
            v,
            "-Name",
            k,
            "-Force",
        ]);
    }
    let late = [("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "100000")];
    assert_eq!(download_env(&e, MKT, "a.txt", &late).status.code(), Some(1));
    // The availability key recovers the TIK under two new keys.
    let p = e.json(&restore);
    assert_eq!(p["State"], "Registered");
    assert!(p["PrimaryKeyVaultUri"].as_str().unwrap().contains("spva3"));
    let out = download_env(&e, MKT, "a.txt", &late);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(e.path("dl/a.txt")).unwrap(),
        std::fs::read(&f).unwrap()
    );
    let ops = common::audit_operations(&e);
    let (_, params) = ops
        .iter()
        .find(|(op, _)| op == "Restore-SPODataEncryptionPolicy")
        .expect("a restore audit record");
    assert_eq!(params["AvailabilityKeyUsed"], true);
}

/// The TIK's root wraps forged with the customer keys' public halves (and the cached copy
/// dropped): reads refuse with a message naming the forgery, no new site key goes under the
/// forged TIK, and recovery through the availability copy brings the genuine one back.
#[test]
fn a_tik_root_wrap_forged_with_the_public_key_is_refused() {
    let e = setup();
    vaults(
        &e,
        &[("sub-3", "spva3", "SPKey3"), ("sub-4", "spva4", "SPKey4")],
    );
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 1_500_000);
    assert!(register(&e, &[]).status.success());
    upload(&e, MKT, &f);
    common::forge::forge_tik(&e, "NAM");

    let out = download_env(&e, MKT, "a.txt", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("does not match the key commitment"), "{err}");
    assert!(
        err.contains("help: a copy of the tenant intermediate key in the store does not match"),
        "{err}"
    );
    assert!(!e.path("dl").join("a.txt").exists());
    let err = e.fails(
        &[
            "New-PnPSite",
            "-Type",
            "TeamSite",
            "-Title",
            "HR",
            "-Url",
            HR,
        ],
        1,
    );
    assert!(err.contains("does not match the key commitment"), "{err}");
    // Deleting the commitment does not help: a new one is made from the availability copy.
    assert_eq!(
        common::store_exec_args(&e, "DELETE FROM key_commitment", &[]),
        1
    );
    let err = stderr(&download_env(&e, MKT, "a.txt", &[]));
    assert!(err.contains("does not match the key commitment"), "{err}");

    let (v3, v4) = (
        version(&e, "spva3", "SPKey3"),
        version(&e, "spva4", "SPKey4"),
    );
    e.ok(&[
        "Restore-SPODataEncryptionPolicy",
        "-PrimaryKeyVaultUri",
        &format!("https://spva3.vault.azure.net/keys/SPKey3/{v3}"),
        "-SecondaryKeyVaultUri",
        &format!("https://spva4.vault.azure.net/keys/SPKey4/{v4}"),
    ]);
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    site(&e, HR);
}

fn file_guid(e: &Env, name: &str) -> String {
    file_row(e, name).0
}

/// Chunks are bound to their file, number and to whether they are the last: a file cut short
/// at a chunk boundary, extended, with chunks reordered or duplicated, or marked as an older
/// chunk format, fails to download with nothing written.
#[test]
fn a_file_cut_short_extended_or_reordered_fails_to_download() {
    let e = setup();
    site(&e, MKT);
    let mib = custkey::service::spo::CHUNK_BYTES;
    let f = write_file(&e, "a.txt", 3 * mib + 100);
    assert_eq!(upload(&e, MKT, &f)["Chunks"], 4);
    // Exact multiples of the chunk size and empty files still round-trip.
    let exact = write_file(&e, "b.txt", 2 * mib);
    assert_eq!(upload(&e, MKT, &exact)["Chunks"], 2);
    assert_eq!(download(&e, MKT, "b.txt"), std::fs::read(&exact).unwrap());
    let empty = e.path("c.txt");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(upload(&e, MKT, &empty)["Chunks"], 1);
    assert_eq!(download(&e, MKT, "c.txt"), b"");

    // The same checks on the chunk rows of a file uploaded before packs (schema 10 and older).
    to_chunk_rows(&e, "a.txt");
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    std::fs::remove_file(e.path("dl/a.txt")).unwrap();
    let g = file_guid(&e, "a.txt");
    let chunk = |n: u32| -> Vec<u8> {
        common::store_rows(
            &e,
            "SELECT data FROM spo_file_chunk WHERE file_guid = ?1 AND n = ?2",
            &[(&g).into(), n.into()],
        )[0][0]
            .blob()
    };
    let put = |n: u32, data: &[u8]| {
        common::store_exec_args(
            &e,
            "INSERT INTO spo_file_chunk (file_guid, n, data) VALUES (?1, ?2, ?3) ON CONFLICT (file_guid, n) DO UPDATE SET data = excluded.data",
            &[(&g).into(), n.into(), data.into()],
        );
    };
    let set = |sql: &str| {
        common::store_exec_args(&e, sql, &[(&g).into()]);
    };
    let refused = |what: &str| {
        let out = download_env(&e, MKT, "a.txt", &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("error: the file 'Shared Documents/a.txt' was altered in the store"),
            "{what}: {err}"
        );
        assert!(err.contains("help: nothing was written"), "{what}: {err}");
        assert!(!e.path("dl").join("a.txt").exists(), "{what}");
    };
    let (c1, c2, c3) = (chunk(1), chunk(2), chunk(3));

    // Cut short at a chunk boundary: the last chunk dropped and the count lowered.
    set("DELETE FROM spo_file_chunk WHERE file_guid = ?1 AND n = 3");
    set("UPDATE spo_file SET chunks = 3 WHERE guid = ?1");
    refused("truncated");
    put(3, &c3);
    refused("count lowered, rows kept");
    set("UPDATE spo_file SET chunks = 4 WHERE guid = ?1");
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    // Extended by a copy of the last chunk.
    put(4, &c3);
    set("UPDATE spo_file SET chunks = 5 WHERE guid = ?1");
    refused("extended");
    set("DELETE FROM spo_file_chunk WHERE file_guid = ?1 AND n = 4");
    set("UPDATE spo_file SET chunks = 4 WHERE guid = ?1");
    // Reordered, then duplicated.
    put(1, &c2);
    put(2, &c1);
    refused("reordered");
    put(2, &c2);
    refused("duplicated");
    put(1, &c1);
    // Downgraded to the older chunk format, and to no chunks at all.
    set("UPDATE spo_file SET chunk_format = 1 WHERE guid = ?1");
    refused("chunk format 1");
    set("UPDATE spo_file SET chunk_format = 2, chunks = 0 WHERE guid = ?1");
    refused("no chunks");
    set("UPDATE spo_file SET chunks = 4 WHERE guid = ?1");
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
}

/// A cached TIK that does not open (a flipped byte, or bytes appended) is a cache miss: the
/// read decrypts the TIK through the vaults, warns, and caches it afresh.
#[test]
fn a_damaged_or_extended_cached_tik_is_fetched_from_the_vaults_again() {
    let e = setup();
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 200_000);
    assert!(register(&e, &[]).status.success());
    upload(&e, MKT, &f);
    let cache = || -> Option<Vec<u8>> {
        match &common::store_rows(&e, "SELECT tik_cache FROM spo_dep", &[])[0][0] {
            common::Val::Null => None,
            v => Some(v.blob()),
        }
    };
    let damages: [fn(&mut Vec<u8>); 2] = [|b| b[20] ^= 0x01, |b| b.extend_from_slice(&[0u8; 16])];
    for damage in damages {
        let mut bad = cache().unwrap();
        damage(&mut bad);
        common::store_exec_args(&e, "UPDATE spo_dep SET tik_cache = ?1", &[(&bad).into()]);
        let out = download_env(&e, MKT, "a.txt", &[]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains(
                "the cached tenant intermediate key of geo NAM was damaged and has been dropped"
            ),
            "{err}"
        );
        assert_eq!(
            std::fs::read(e.path("dl").join("a.txt")).unwrap(),
            std::fs::read(&f).unwrap()
        );
        let fresh = cache().expect("cached again");
        assert_ne!(fresh, bad);
        // The fresh copy serves without a warning.
        let out = download_env(&e, MKT, "a.txt", &[]);
        assert!(
            out.status.success() && !stderr(&out).contains("damaged"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn site_policy_needs_customer_key_and_site_urls_complete() {
    let e = setup();
    site(&e, MKT);
    site(&e, HR);
    let err = e.fails(&["Get-SPOSiteDataEncryptionPolicy", MKT], 1);
    assert!(
        err.contains("error: the tenant has no Customer Key for geo NAM"),
        "{err}"
    );
    let out = e.ok(&[
        "__complete",
        "--",
        "Get-SPOSiteDataEncryptionPolicy",
        "-Identity",
        "https://contoso.sharepoint.com/sites/m",
    ]);
    assert_eq!(out.trim(), e.completed_names(MKT));
    let out = e.ok(&["__complete", "--", "Add-PnPFile", "-Site", ""]);
    let sites = format!("{MKT}\n{HR}\n");
    assert_eq!(
        out.lines().count(),
        e.completed_names(&sites).lines().count(),
        "{out}"
    );
    // Purging or rolling the availability key is not supported.
    let err = e.fails(
        &["Update-SPODataEncryptionPolicy", "-KeyType", "Availability"],
        1,
    );
    assert!(
        err.contains("the SharePoint availability key can't be rolled or revoked"),
        "{err}"
    );
}

/// big.bin's download fails at its first chunk, leaving nothing behind.
fn first_chunk_refused(e: &Env) {
    let out = download_env(e, MKT, "big.bin", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: the file 'Shared Documents/big.bin' was altered in the store (chunk 0 of 3 fails its integrity check)"),
        "{}",
        stderr(&out)
    );
    assert!(
        !e.path("dl/big.bin").exists(),
        "no partial download is left"
    );
}

#[test]
fn a_chunk_moved_to_another_place_does_not_decrypt() {
    let e = setup();
    site(&e, MKT);
    assert!(register(&e, &[]).status.success());
    let big = write_file(&e, "big.bin", 2 * 1024 * 1024 + 1);
    assert_eq!(upload(&e, MKT, &big)["Chunks"], 3);
    assert_eq!(download(&e, MKT, "big.bin"), std::fs::read(&big).unwrap());
    // Swap the first two chunks of the file in its pack.
    let (pack, extents) = pack_chunks(&e, "big.bin");
    let mut bytes = pack.bytes(&e);
    let ((a, n), (b, _)) = (extents[0], extents[1]);
    let first = bytes[a..a + n].to_vec();
    bytes.copy_within(b..b + n, a);
    bytes[b..b + n].copy_from_slice(&first);
    pack.put(&e, &bytes);
    first_chunk_refused(&e);
    // Cut short: the pack is shorter than the file's row says.
    pack.put(&e, &bytes[..bytes.len() - 1]);
    let out = download_env(&e, MKT, "big.bin", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(pack.truncated_message(&e)),
        "{}",
        stderr(&out)
    );
    assert!(
        !e.path("dl/big.bin").exists(),
        "no partial download is left"
    );
    // Swapped back and moved into chunk rows (a file from before packs): the same swap there.
    bytes.copy_within(a..a + n, b);
    bytes[a..a + n].copy_from_slice(&first);
    pack.put(&e, &bytes);
    assert_eq!(download(&e, MKT, "big.bin"), std::fs::read(&big).unwrap());
    std::fs::remove_file(e.path("dl/big.bin")).unwrap();
    to_chunk_rows(&e, "big.bin");
    assert_eq!(download(&e, MKT, "big.bin"), std::fs::read(&big).unwrap());
    std::fs::remove_file(e.path("dl/big.bin")).unwrap();
    common::store_exec(
        &e,
        "UPDATE spo_file_chunk SET n = -1 WHERE n = 0;
         UPDATE spo_file_chunk SET n = 0 WHERE n = 1;
         UPDATE spo_file_chunk SET n = 1 WHERE n = -1;",
    );
    first_chunk_refused(&e);
}

/// An SPO test env with an hour-long TIK cache refreshed in its last ten minutes, a site, a
/// registered DEP and one uploaded file.
fn with_file() -> (Env, std::path::PathBuf) {
    let mut e = setup();
    for (k, v) in [
        ("CUSTKEY_SPO_TIK_CACHE_SECONDS", "3600"),
        ("CUSTKEY_SPO_TIK_REFRESH_SECONDS", "600"),
    ] {
        e.extra.push((k.into(), v.into()));
    }
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 2000);
    assert!(register(&e, &[]).status.success());
    upload(&e, MKT, &f);
    (e, f)
}

#[test]
fn a_damaged_tik_copy_is_warned_about_when_the_vaults_are_asked() {
    let (e, f) = with_file();
    // Byte 41 of every second copy set to zero.
    let rows = common::store_rows(
        &e,
        "SELECT dep_guid, wrapped FROM spo_dep_root_wrap WHERE slot = 1",
        &[],
    );
    assert!(!rows.is_empty());
    for r in rows {
        let mut wrapped = r[1].blob();
        wrapped[40] = 0;
        common::store_exec_args(
            &e,
            "UPDATE spo_dep_root_wrap SET wrapped = ?1 WHERE dep_guid = ?2 AND slot = 1",
            &[(&wrapped).into(), (&r[0].text()).into()],
        );
    }
    // Within the refresh window both copies are tried: the read goes on, with a warning. Each
    // refresh caches the TIK for another hour, so each read is an hour later.
    for hours in 1..4 {
        let offset = (3300 * hours).to_string();
        let out = download_env(
            &e,
            MKT,
            "a.txt",
            &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", &offset)],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let warn = stderr(&out);
        assert!(
            warn.contains("WARNING: the SharePoint DEP of geo NAM: the copy of its key under https://spva2.vault.azure.net/keys/SPKey2/"),
            "{warn}"
        );
        assert!(warn.contains("is damaged"), "{warn}");
        assert_eq!(
            std::fs::read(e.path("dl/a.txt")).unwrap(),
            std::fs::read(&f).unwrap()
        );
    }
}

#[test]
fn vault_files_copied_back_do_not_refresh_a_revoked_tik() {
    let (e, _) = with_file();
    let file = |v: &str| e.path(&format!("vaults/{v}.vault"));
    let saved: Vec<Vec<u8>> = ["spva1", "spva2"]
        .iter()
        .map(|v| std::fs::read(file(v)).unwrap())
        .collect();
    for v in ["spva1", "spva2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            SP,
        ]);
    }
    for (v, bytes) in ["spva1", "spva2"].iter().zip(&saved) {
        std::fs::write(file(v), bytes).unwrap();
    }
    let out = download_env(
        &e,
        MKT,
        "a.txt",
        &[("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3700")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("was rolled back or replaced"), "{err}");
    assert!(err.contains("key vault 'spva"), "{err}");
}

#[test]
fn restore_is_refused_for_keys_the_customer_revoked() {
    let (e, f) = with_file();
    vaults(
        &e,
        &[("sub-3", "spva3", "SPKey3"), ("sub-4", "spva4", "SPKey4")],
    );
    for v in ["spva1", "spva2"] {
        e.ok(&[
            "Remove-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            SP,
        ]);
    }
    let late = [("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "100000")];
    assert_eq!(download_env(&e, MKT, "a.txt", &late).status.code(), Some(1));
    let (v3, v4) = (
        version(&e, "spva3", "SPKey3"),
        version(&e, "spva4", "SPKey4"),
    );
    let out = e.run_env(
        &[
            "Restore-SPODataEncryptionPolicy",
            "-PrimaryKeyVaultUri",
            &format!("https://spva3.vault.azure.net/keys/SPKey3/{v3}"),
            "-SecondaryKeyVaultUri",
            &format!("https://spva4.vault.azure.net/keys/SPKey4/{v4}"),
        ],
        &late,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("recovers from lost keys, not revoked ones"),
        "{err}"
    );
    assert!(err.contains("help: restore the service's access"), "{err}");
    // The revocation holds: the files stay unreadable, the policy still names the old keys.
    assert_eq!(download_env(&e, MKT, "a.txt", &late).status.code(), Some(1));
    assert!(policy(&e)["PrimaryKeyVaultUri"]
        .as_str()
        .unwrap()
        .contains("spva1"));
    // Restoring access is the way back.
    for v in ["spva1", "spva2"] {
        e.ok(&[
            "Set-AzKeyVaultAccessPolicy",
            "-VaultName",
            v,
            "-ServicePrincipalName",
            SP,
            "-PermissionsToKeys",
            "wrapKey,unwrapKey,get",
        ]);
    }
    let out = download_env(&e, MKT, "a.txt", &late);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
}

/// A file's pack is a user of the pack reclaim's rules: a mailbox import (which reclaims unused
/// packs first) leaves it alone, and replacing the file deletes the old pack.
#[test]
fn a_files_pack_outlives_mailbox_reclaims_and_goes_when_the_file_is_replaced() {
    let e = setup();
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 3 * custkey::service::spo::CHUNK_BYTES + 5);
    upload(&e, MKT, &f);
    let (first, _) = pack_chunks(&e, "a.txt");
    assert!(first.exists(&e));
    e.ok(&["New-Mailbox", "-Name", "box", "-Shared"]);
    let (mail, _) = e.write_mail();
    e.ok(&["New-MailboxImportRequest", "box", mail.to_str().unwrap()]);
    assert!(
        first.exists(&e),
        "a mailbox import's reclaim took the file's pack"
    );
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
    upload(&e, MKT, &f);
    let (second, _) = pack_chunks(&e, "a.txt");
    assert_ne!(first.id, second.id);
    assert!(!first.exists(&e), "the replaced file's pack is deleted");
    let rows = common::store_rows(
        &e,
        "SELECT count(*) FROM content_pack WHERE id = ?1",
        &[(&first.id).into()],
    );
    assert_eq!(rows[0][0].int(), 0);
    assert_eq!(download(&e, MKT, "a.txt"), std::fs::read(&f).unwrap());
}

#[test]
fn the_admin_center_url_selects_the_geo_as_older_guides_write_it() {
    let e = setup();
    // Get- and Update- with the admin center first, as positional -Identity.
    let p = e.json(&[
        "Get-SPODataEncryptionPolicy",
        "https://contoso-admin.sharepoint.com",
    ]);
    assert_eq!(p["Geo"], "NAM");
    assert_eq!(p["State"], "Unregistered");
    let eur = e.json(&[
        "Get-SPODataEncryptionPolicy",
        "https://contosoeur-admin.sharepoint.com",
    ]);
    assert_eq!(eur["Geo"], "EUR");
    let out = register(&e, &[]);
    assert!(out.status.success(), "{out:?}");
    let v = new_version(&e, "spva1", "SPKey1");
    e.ok(&[
        "Update-SPODataEncryptionPolicy",
        "https://contoso-admin.sharepoint.com",
        "-KeyType",
        "Primary",
        "-KeyVaultName",
        "spva1",
        "-KeyName",
        "SPKey1",
        "-KeyVersion",
        &v,
    ]);
    let p = e.json(&[
        "Get-SPODataEncryptionPolicy",
        "https://contoso-admin.sharepoint.com",
    ]);
    assert!(
        p["PrimaryKeyVaultUri"].as_str().unwrap().ends_with(&v),
        "{p}"
    );
    // Another tenant's admin center, or two geos at once, are refused before anything changes.
    let err = e.fails(
        &[
            "Get-SPODataEncryptionPolicy",
            "https://fabrikam-admin.sharepoint.com",
        ],
        2,
    );
    assert!(
        err.contains("is not the SharePoint admin center of this organization"),
        "{err}"
    );
    let err = e.fails(
        &[
            "Get-SPODataEncryptionPolicy",
            "https://contosoeur-admin.sharepoint.com",
            "-Geo",
            "NAM",
        ],
        2,
    );
    assert!(err.contains("name two geos"), "{err}");
}

/// File and folder names follow SharePoint's rules, so that no name can read as a path: `..`
/// was taken as a file name (its ServerRelativeUrl then named the library's parent), and a
/// name from the store that is not a plain file name is not used as a local file name.
#[test]
fn names_follow_sharepoints_rules_and_a_download_lands_in_its_folder() {
    let e = setup();
    site(&e, MKT);
    let f = write_file(&e, "a.txt", 100);
    assert!(register(&e, &[]).status.success());
    let add = |folder: &str, name: &str| {
        e.run(&[
            "Add-PnPFile",
            "-Path",
            f.to_str().unwrap(),
            "-Folder",
            folder,
            "-Site",
            MKT,
            "-NewFileName",
            name,
        ])
    };
    for bad in [
        "..",
        ".",
        "../up.txt",
        "a/b.txt",
        "a\\b.txt",
        "a:b.txt",
        "what?.txt",
        "x|y",
        "CON",
        "lpt1",
        "desktop.ini",
        ".lock",
        "my_vti_file",
        "~$draft.docx",
        "a\"b",
    ] {
        let out = add("Shared Documents", bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?} was accepted");
        assert!(
            stderr(&out).contains("is not a valid file name"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    let out = add("Shared Documents/../Other", "ok.txt");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a valid folder name"),
        "{}",
        stderr(&out)
    );
    // Nothing of those was stored; good names still are (a leading space is trimmed as before).
    let listed = e.json(&["Get-PnPFolderItem", "-Site", MKT]);
    assert_eq!(listed.as_array().map_or(0, Vec::len), 0, "{listed}");
    assert!(add("Shared Documents", "COM10.txt").status.success());
    assert!(add("Shared Documents", " report 1.txt").status.success());
    // A download's -Filename is a name, never a path.
    let dl = e.path("dl");
    std::fs::create_dir(&dl).unwrap();
    for bad in ["../x.txt", "/tmp/x.txt", "a/x.txt", ".."] {
        let out = e.run(&[
            "Get-PnPFile",
            "-Url",
            "/sites/marketing/Shared Documents/COM10.txt",
            "-AsFile",
            "-Path",
            dl.to_str().unwrap(),
            "-Filename",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("is not a plain file name"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    // A name the store gives that is not a plain file name (the store writer's) is not used.
    common::store_exec(
        &e,
        "UPDATE spo_file SET path = 'Shared Documents/..' WHERE path = 'Shared Documents/COM10.txt'",
    );
    let out = e.run(&[
        "Get-PnPFile",
        "-Url",
        "/sites/marketing/Shared Documents/..",
        "-AsFile",
        "-Path",
        dl.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("which is not a plain file name"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&dl).unwrap().count(), 0);
}
