//! Bring your own key: `Add-AzKeyVaultKey -KeyFilePath` through the real binary, with key files
//! made by `openssl` (genpkey, pkcs8, rsa -traditional, pkcs12, and a .byok transfer blob made
//! with `pkeyutl -encrypt` RSA-OAEP SHA-1 and `enc -id-aes256-wrap-pad`), and the imported key
//! then protecting a mailbox.

mod common;

use std::path::Path;
use std::process::Command;

use base64ct::Encoding;
use common::{files_under, Env, EXO};

const PASSWORD: &str = "correct horse battery";

/// Runs openssl with `args` in `dir`; panics with its stderr when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The RSA modulus of a PEM private key as openssl prints it (upper-case hex).
fn openssl_modulus(dir: &Path, pem: &str) -> String {
    let out = Command::new("openssl")
        .args(["rsa", "-in", pem, "-noout", "-modulus"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .strip_prefix("Modulus=")
        .unwrap()
        .to_string()
}

fn b64url(s: &str) -> Vec<u8> {
    base64ct::Base64UrlUnpadded::decode_vec(s.trim_end_matches('=')).unwrap()
}

/// A key's JWK modulus from Get-AzKeyVaultKey, as upper-case hex.
fn vault_modulus(e: &Env, vault: &str, key: &str) -> String {
    let k = e.json(&["Get-AzKeyVaultKey", vault, key]);
    hex::encode_upper(b64url(k["Key"]["n"].as_str().unwrap()))
}

/// Key files, outside the data directory (nothing of them may end up there).
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    fn ssl(&self, args: &[&str]) {
        openssl(self.dir.path(), args);
    }
    /// A new RSA key `name.pem` (PKCS#8 `PRIVATE KEY`) of `bits`.
    fn rsa(&self, name: &str, bits: u32) -> String {
        let file = format!("{name}.pem");
        self.ssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            &file,
        ]);
        file
    }
    /// A self-signed certificate for `key` and the PKCS#12 file of both; `legacy` for
    /// `openssl pkcs12 -legacy` (3DES and RC2), else OpenSSL 3's default (AES-256, PBKDF2).
    fn pfx(&self, key: &str, out: &str, legacy: bool) {
        self.ssl(&[
            "req", "-x509", "-new", "-key", key, "-subj", "/CN=ck", "-days", "2", "-out",
            "cert.pem",
        ]);
        let pass = format!("pass:{PASSWORD}");
        let mut args = vec![
            "pkcs12", "-export", "-inkey", key, "-in", "cert.pem", "-out", out, "-passout", &pass,
        ];
        if legacy {
            args.push("-legacy");
        }
        self.ssl(&args);
    }
    /// A .byok transfer blob of `key` (a PEM file) for the KEK `kek_id`, whose public key is
    /// the JWK `n`/`e`; every cryptographic step is openssl's.
    fn byok(&self, key: &str, kek_id: &str, n: &[u8], e: &[u8], out: &str) {
        std::fs::write(
            self.dir.path().join("kek.conf"),
            format!(
                "asn1=SEQUENCE:pubkey\n[pubkey]\nn=INTEGER:0x{}\ne=INTEGER:0x{}\n",
                hex::encode(n),
                hex::encode(e)
            ),
        )
        .unwrap();
        self.ssl(&[
            "asn1parse",
            "-genconf",
            "kek.conf",
            "-out",
            "kek.der",
            "-noout",
        ]);
        self.ssl(&[
            "rsa",
            "-RSAPublicKey_in",
            "-inform",
            "DER",
            "-in",
            "kek.der",
            "-pubout",
            "-out",
            "kek-pub.pem",
        ]);
        self.ssl(&["rand", "-out", "aes.bin", "32"]);
        self.ssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "kek-pub.pem",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
            "-pkeyopt",
            "rsa_mgf1_md:sha1",
            "-in",
            "aes.bin",
            "-out",
            "aes.wrapped",
        ]);
        self.ssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            key,
            "-outform",
            "DER",
            "-out",
            "target.der",
        ]);
        let aes = hex::encode(std::fs::read(self.dir.path().join("aes.bin")).unwrap());
        self.ssl(&[
            "enc",
            "-id-aes256-wrap-pad",
            "-iv",
            "A65959A6",
            "-K",
            &aes,
            "-in",
            "target.der",
            "-out",
            "key.wrapped",
        ]);
        let mut ct = std::fs::read(self.dir.path().join("aes.wrapped")).unwrap();
        ct.extend(std::fs::read(self.dir.path().join("key.wrapped")).unwrap());
        let blob = serde_json::json!({
            "schema_version": "1.0.0",
            "header": {"kid": kek_id, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"},
            "ciphertext": base64ct::Base64UrlUnpadded::encode_string(&ct),
            "generator": "openssl (tests/byok.rs)",
        });
        std::fs::write(self.dir.path().join(out), blob.to_string()).unwrap();
        for f in ["aes.bin", "target.der"] {
            std::fs::remove_file(self.dir.path().join(f)).unwrap();
        }
    }
}

/// Two vaults of the setup guide (Exchange may wrap with their keys); vault 2 has a generated
/// key `Key002` for the second copy of each DEP.
fn two_vaults(e: &Env) {
    e.key_vault(
        "Contoso-CK-Sub1",
        "contoso-ck-va1",
        "Key001",
        "westus",
        &[EXO],
    );
    e.key_vault(
        "Contoso-CK-Sub2",
        "contoso-ck-va2",
        "Key002",
        "centralus",
        &[EXO],
    );
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
}

/// A script line importing `file` into contoso-ck-va1 as `name`, the password from $env:PW.
fn import_script(name: &str, file: &str, extra: &str) -> String {
    format!(
        "Add-AzKeyVaultKey -VaultName contoso-ck-va1 -Name {name} -KeyFilePath '{file}' \
         -KeyFilePassword (ConvertTo-SecureString -String $env:PW -AsPlainText -Force) \
         -KeyOps wrapKey,unwrapKey -Expires 12/31/9999 {extra} -Format Json"
    )
}

/// A DEP over the imported key and Key002, a mailbox on it, mail in and out byte-identical.
fn protects_a_mailbox(e: &Env, key: &str) {
    let policy = format!("DEP {key}");
    let alias = key.to_ascii_lowercase();
    let dep = e.json(&[
        "New-DataEncryptionPolicy",
        "-Name",
        &policy,
        "-AzureKeyIDs",
        &format!(
            "https://contoso-ck-va1.vault.azure.net/keys/{key},https://contoso-ck-va2.vault.azure.net/keys/Key002"
        ),
    ]);
    assert_eq!(dep["State"], "Active");
    e.ok(&["New-Mailbox", "-Name", key, "-Alias", &alias]);
    e.ok(&[
        "Set-MgUserLicense",
        "-UserId",
        &alias,
        "-AddLicenses",
        "SPE_E5",
    ]);
    e.ok(&["Set-Mailbox", &alias, "-DataEncryptionPolicy", &policy]);
    let mail = e.path(&format!("mail-{alias}"));
    std::fs::create_dir_all(&mail).unwrap();
    std::fs::write(
        mail.join("a.eml"),
        format!("From: bob@fabrikam.com\r\nSubject: {key}\r\n\r\nunder an imported key\r\n"),
    )
    .unwrap();
    e.ok(&[
        "New-MailboxImportRequest",
        "-Mailbox",
        &alias,
        "-FilePath",
        mail.to_str().unwrap(),
    ]);
    let stats = e.json(&["Get-MailboxStatistics", &alias]);
    assert_eq!(stats["IsEncrypted"], true);
    let out = format!("export-{alias}");
    e.exports_same(&alias, &out, &mail);
}

#[test]
fn every_key_file_format_imports_and_protects_a_mailbox() {
    let e = Env::new();
    two_vaults(&e);
    let k = Keys::new();
    let pw = [("PW", PASSWORD)];

    // PKCS#8 PEM, PKCS#1 PEM, encrypted PKCS#8 PEM, PKCS#12 (.pfx and .p12).
    let plain = k.rsa("plain", 2048);
    let pkcs1 = k.rsa("pkcs1", 3072);
    k.ssl(&[
        "rsa",
        "-traditional",
        "-in",
        &pkcs1,
        "-out",
        "pkcs1-trad.pem",
    ]);
    assert!(std::fs::read_to_string(k.path("pkcs1-trad.pem"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let enc = k.rsa("enc", 4096);
    k.ssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &enc,
        "-out",
        "enc-encrypted.pem",
        "-passout",
        &format!("pass:{PASSWORD}"),
    ]);
    let pfx = k.rsa("pfx", 2048);
    k.pfx(&pfx, "pfx.pfx", false);
    let p12 = k.rsa("p12", 3072);
    k.ssl(&[
        "pkcs12",
        "-export",
        "-nocerts",
        "-inkey",
        &p12,
        "-out",
        "p12.p12",
        "-passout",
        &format!("pass:{PASSWORD}"),
    ]);

    let cases = [
        ("KeyPkcs8", "plain.pem", &plain, 2048, "Software"),
        ("KeyPkcs1", "pkcs1-trad.pem", &pkcs1, 3072, "Software"),
        ("KeyEnc", "enc-encrypted.pem", &enc, 4096, "HSM"),
        ("KeyPfx", "pfx.pfx", &pfx, 2048, "HSM"),
        ("KeyP12", "p12.p12", &p12, 3072, "Software"),
    ];
    for (name, file, pem, bits, dest) in cases {
        let extra = if dest == "HSM" {
            "-Destination HSM"
        } else {
            ""
        };
        let out = e.run_env(
            &["-Command", &import_script(name, &k.path(file), extra)],
            &pw,
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(key["KeySize"], bits, "{file}");
        let kty = if dest == "HSM" { "RSA-HSM" } else { "RSA" };
        assert_eq!(key["KeyType"], kty, "{file}");
        assert_eq!(key["Expires"].as_str().unwrap()[..10], *"9999-12-31");
        // The vault's public key is the file's.
        assert_eq!(
            vault_modulus(&e, "contoso-ck-va1", name),
            openssl_modulus(k.dir.path(), pem),
            "{file}"
        );
        protects_a_mailbox(&e, name);
    }

    // Audited as imports, each by the signed-in account.
    let log = e.json_raw(&[
        "Get-AzKeyVaultAuditLog",
        "contoso-ck-va1",
        "-Operation",
        "ImportKey",
    ]);
    let names: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Result"] == "Success")
        .map(|r| r["KeyName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["KeyPkcs8", "KeyPkcs1", "KeyEnc", "KeyPfx", "KeyP12"]
    );

    // No key file, nor the key it holds, was copied into the data directory.
    let der = |pem: &str| {
        let o = Command::new("openssl")
            .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", pem])
            .current_dir(k.dir.path())
            .output()
            .unwrap();
        o.stdout
    };
    let secrets: Vec<Vec<u8>> = [&plain, &pkcs1, &enc, &pfx, &p12]
        .iter()
        .map(|p| der(p))
        .chain(
            ["plain.pem", "pfx.pfx", "p12.p12", "enc-encrypted.pem"]
                .iter()
                .map(|f| std::fs::read(k.path(f)).unwrap()),
        )
        .collect();
    for f in files_under(e.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        for s in &secrets {
            let probe = &s[s.len() / 2..s.len() / 2 + 64];
            assert!(
                !bytes.windows(probe.len()).any(|w| w == probe),
                "{} holds key file bytes",
                f.display()
            );
        }
        assert!(!String::from_utf8_lossy(&bytes).contains(PASSWORD));
    }
}

fn kek(e: &Env, vault: &str, name: &str, ops: &str) -> serde_json::Value {
    e.json(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        vault,
        "-Name",
        name,
        "-Destination",
        "HSM",
        "-Size",
        "2048",
        "-KeyOps",
        ops,
    ])
}

fn jwk(k: &serde_json::Value) -> (Vec<u8>, Vec<u8>) {
    (
        b64url(k["Key"]["n"].as_str().unwrap()),
        b64url(k["Key"]["e"].as_str().unwrap()),
    )
}

#[test]
fn a_byok_blob_made_with_openssl_imports_under_its_kek() {
    let e = Env::new();
    two_vaults(&e);
    let k = Keys::new();
    let kek1 = kek(&e, "contoso-ck-va1", "KEKforBYOK", "import");
    let target = k.rsa("target", 3072);
    let (n, ex) = jwk(&kek1);
    k.byok(
        &target,
        kek1["Id"].as_str().unwrap(),
        &n,
        &ex,
        "target.byok",
    );

    // Refused as software, before anything is unwrapped.
    let err = e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "KeyByok",
            "-KeyFilePath",
            &k.path("target.byok"),
            "-Destination",
            "Software",
        ],
        2,
    );
    assert!(
        err.contains("only be imported as an HSM-protected key"),
        "{err}"
    );

    // No -Destination: a .byok key is HSM-protected.
    let key = e.json(&[
        "Add-AzKeyVaultKey",
        "-VaultName",
        "contoso-ck-va1",
        "-Name",
        "KeyByok",
        "-KeyFilePath",
        &k.path("target.byok"),
        "-KeyOps",
        "wrapKey,unwrapKey",
        "-Expires",
        "12/31/9999",
    ]);
    assert_eq!(key["KeyType"], "RSA-HSM");
    assert_eq!(key["KeySize"], 3072);
    assert_eq!(
        vault_modulus(&e, "contoso-ck-va1", "KeyByok"),
        openssl_modulus(k.dir.path(), &target)
    );
    protects_a_mailbox(&e, "KeyByok");

    // The same blob under another vault's KEK name: refused, naming the KEK's vault.
    let err = e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va2",
            "-Name",
            "KeyByok",
            "-KeyFilePath",
            &k.path("target.byok"),
        ],
        1,
    );
    assert!(
        err.contains("of vault 'contoso-ck-va1', not of vault 'contoso-ck-va2'"),
        "{err}"
    );

    // A blob wrapped for another KEK but naming this one: it does not unwrap.
    let other = kek(&e, "contoso-ck-va1", "OtherKEK", "import");
    let (n2, e2) = jwk(&other);
    k.byok(
        &target,
        kek1["Id"].as_str().unwrap(),
        &n2,
        &e2,
        "wrong-kek.byok",
    );
    let err = e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "KeyWrongKek",
            "-KeyFilePath",
            &k.path("wrong-kek.byok"),
        ],
        1,
    );
    assert!(
        err.contains("does not unwrap with this key-exchange key"),
        "{err}"
    );

    // A "KEK" that also wraps is no KEK.
    let wide = kek(&e, "contoso-ck-va1", "WideKEK", "wrapKey,unwrapKey,import");
    let (n3, e3) = jwk(&wide);
    k.byok(&target, wide["Id"].as_str().unwrap(), &n3, &e3, "wide.byok");
    let err = e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "KeyWide",
            "-KeyFilePath",
            &k.path("wide.byok"),
        ],
        1,
    );
    assert!(err.contains("is not a key-exchange key"), "{err}");

    // A KEK that does not exist.
    let gone = kek1["Id"]
        .as_str()
        .unwrap()
        .replace("KEKforBYOK", "NoSuchKEK");
    k.byok(&target, &gone, &n, &ex, "gone.byok");
    let err = e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "KeyGone",
            "-KeyFilePath",
            &k.path("gone.byok"),
        ],
        1,
    );
    assert!(err.contains("is not in this vault"), "{err}");

    // Tampered ciphertext.
    let blob: serde_json::Value =
        serde_json::from_slice(&std::fs::read(k.path("target.byok")).unwrap()).unwrap();
    let mut ct = b64url(blob["ciphertext"].as_str().unwrap());
    let last = ct.len() - 3;
    ct[last] ^= 1;
    let mut bad = blob.clone();
    bad["ciphertext"] = base64ct::Base64UrlUnpadded::encode_string(&ct).into();
    std::fs::write(k.path("tampered.byok"), bad.to_string()).unwrap();
    e.fails(
        &[
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "KeyTampered",
            "-KeyFilePath",
            &k.path("tampered.byok"),
        ],
        1,
    );

    // The failures are audited, the KEK's private key never shows.
    let log = e.json_raw(&[
        "Get-AzKeyVaultAuditLog",
        "contoso-ck-va1",
        "-Operation",
        "ImportKey",
    ]);
    let failed = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Result"] != "Success")
        .count();
    assert!(failed >= 4, "{log}");
}

#[test]
fn bad_key_files_are_clear_errors_with_documented_exit_codes() {
    let e = Env::new();
    two_vaults(&e);
    let k = Keys::new();
    let pw = [("PW", PASSWORD)];
    let wrong = [("PW", "not the password")];
    let rsa = k.rsa("good", 2048);
    k.pfx(&rsa, "good.pfx", false);
    k.pfx(&rsa, "legacy.pfx", true);
    k.ssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &rsa,
        "-out",
        "good-enc.pem",
        "-passout",
        &format!("pass:{PASSWORD}"),
    ]);
    k.ssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "ec.pem",
    ]);
    k.rsa("small", 1024);
    let mut corrupt = std::fs::read(k.path("good.pfx")).unwrap();
    corrupt.truncate(corrupt.len() / 2);
    std::fs::write(k.path("corrupt.pfx"), corrupt).unwrap();
    std::fs::write(
        k.path("corrupt.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();

    let run = |file: &str, env: &[(&str, &str)], code: i32| -> String {
        e.fails_env(
            &["-Command", &import_script("Bad", &k.path(file), "")],
            env,
            code,
        )
    };
    let err = run("good.pfx", &wrong, 1);
    assert!(err.contains("the password does not open the file"), "{err}");
    assert!(
        !err.contains("not the password"),
        "the password was echoed: {err}"
    );
    let err = run("good-enc.pem", &wrong, 1);
    assert!(err.contains("the password does not open the file"), "{err}");
    let err = run("ec.pem", &pw, 2);
    assert!(err.contains("an EC P-256 key"), "{err}");
    let err = run("small.pem", &pw, 2);
    assert!(err.contains("an RSA key of 1024 bits"), "{err}");
    let err = run("legacy.pfx", &pw, 2);
    assert!(err.contains("pbeWithSHAAnd3-KeyTripleDES-CBC"), "{err}");
    let err = run("corrupt.pfx", &pw, 2);
    assert!(err.contains("not a valid key file"), "{err}");
    let err = run("corrupt.pem", &pw, 2);
    assert!(err.contains("not base64"), "{err}");
    let err = run("missing.pem", &pw, 2);
    assert!(err.contains("cannot read -KeyFilePath"), "{err}");

    let fails = |extra: &[&str], code: i32| -> String {
        let mut a = vec![
            "Add-AzKeyVaultKey",
            "-VaultName",
            "contoso-ck-va1",
            "-Name",
            "Bad",
        ];
        a.extend_from_slice(extra);
        e.fails(&a, code)
    };
    // An encrypted key without its password.
    let err = fails(&["-KeyFilePath", &k.path("good-enc.pem")], 2);
    assert!(err.contains("encrypted and no password was given"), "{err}");
    // A password as plain text on the command line never binds.
    let err = fails(
        &[
            "-KeyFilePath",
            &k.path("good.pfx"),
            "-KeyFilePassword",
            PASSWORD,
        ],
        2,
    );
    assert!(err.contains("System.Security.SecureString"), "{err}");
    // A file whose kind is not known from its name.
    std::fs::copy(k.path("good.pem"), k.path("good.key")).unwrap();
    let err = fails(&["-KeyFilePath", &k.path("good.key")], 2);
    assert!(err.contains("name a .pem"), "{err}");
    // -Size belongs to a generated key.
    let err = fails(&["-KeyFilePath", &k.path("good.pem"), "-Size", "4096"], 2);
    assert!(err.contains("-Size does not go with -KeyFilePath"), "{err}");

    // Nothing was imported.
    e.fails(&["Get-AzKeyVaultKey", "contoso-ck-va1", "Bad"], 1);
}

#[test]
fn a_secure_string_never_shows_its_text() {
    let e = Env::new();
    let shown = e.run_env(
        &[
            "-Command",
            "$p = ConvertTo-SecureString -String $env:PW -AsPlainText -Force; $p; $p | ConvertTo-Json; Write-Output \"$p\"",
        ],
        &[("PW", PASSWORD)],
    );
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("System.Security.SecureString"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    let err = e.fails(&["-Command", "ConvertTo-SecureString -String x"], 2);
    assert!(err.contains("-AsPlainText is required"), "{err}");
}

/// The Get-Help examples of Add-AzKeyVaultKey and ConvertTo-SecureString run as printed (in
/// sh, with custkey on the PATH) and print what their help shows.
#[test]
fn the_help_examples_run_as_printed() {
    let e = Env::new();
    e.ok(&["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"]);
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
        "Contoso-CK-EX-NA-VaultA1",
        "-ResourceGroupName",
        "rg",
        "-Location",
        "westus",
        "-Sku",
        "Premium",
    ]);
    let bin = Path::new(env!("CARGO_BIN_EXE_custkey")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut ran = 0;
    for cmdlet in ["Add-AzKeyVaultKey", "ConvertTo-SecureString"] {
        let help = e.ok(&["Get-Help", cmdlet, "-Examples"]);
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(code) = l.trim().strip_prefix("PS> ") else {
                continue;
            };
            let out = Command::new("sh")
                .args(["-c", code])
                .current_dir(e.dir.path())
                .env("PATH", &path)
                .env("CUSTKEY_STORE", e.path("service.db"))
                .env("CUSTKEY_CONFIG_DIR", e.config.path())
                .env("CUSTKEY_KEYRING", "off")
                .env_remove("COLUMNS")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{code}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            // The block after the example line: its sample output when it reads as one.
            let block: Vec<&str> = lines[i + 2..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .map(|l| l.trim())
                .collect();
            if block
                .iter()
                .all(|l| l.contains(" : ") || l.starts_with("System."))
            {
                for want in block {
                    assert!(
                        stdout.lines().any(|got| got.trim() == want),
                        "{code}: expected {want:?} in\n{stdout}"
                    );
                }
            }
            ran += 1;
        }
    }
    assert_eq!(ran, 5);
}
