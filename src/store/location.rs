//! Where the store is: a file path (SQLite) or a PostgreSQL connection URL.
//!
//! A string with a URL scheme (`letters://`) is never taken for a file path: `postgres://` and
//! `postgresql://` name a PostgreSQL database, any other scheme is refused. The password of a
//! URL is kept out of every message: [`PgUrl::shown`] prints it as `***`.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The URL schemes a store may be named by.
pub const SUPPORTED_SCHEMES: &[&str] = &["postgres", "postgresql"];

#[derive(Debug)]
pub enum Location {
    File(PathBuf),
    Postgres(Box<PgUrl>),
}

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("the store is named by a {scheme}:// URL, a scheme custkey does not support")]
    UnknownScheme { scheme: String },
    #[error("the PostgreSQL URL {shown} is not valid: {detail}")]
    BadUrl { shown: String, detail: String },
    #[error("the PostgreSQL URL {shown} asks for TLS (sslmode={mode}) without a CA certificate to check the server with")]
    Tls { shown: String, mode: String },
}

impl LocationError {
    pub fn help(&self) -> String {
        match self {
            LocationError::UnknownScheme { .. } => format!(
                "give -Store or CUSTKEY_STORE a file path (a SQLite store) or a {} URL",
                SUPPORTED_SCHEMES
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            LocationError::BadUrl { .. } => {
                "write it as postgres://user@host:port/database, or postgres://user@/database?host=/socket/dir for a Unix socket".into()
            }
            LocationError::Tls { .. } => {
                "add sslrootcert=/path/to/ca.pem (the CA that issued the server's certificate), or put it at ~/.postgresql/root.crt; custkey never connects over TLS without checking the server (docs/store.md)".into()
            }
        }
    }
}

/// `%XX` escapes decoded (a URL parameter's value); a malformed escape is kept as written.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a PostgreSQL connection checks the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// `sslmode=verify-full`: the chain to the CA, and the host name (or address) in it.
    VerifyFull { root: PathBuf },
    /// `sslmode=verify-ca`, or `require` with a CA certificate (as libpq does): the chain only.
    VerifyCa { root: PathBuf },
}

impl PgTls {
    pub fn root(&self) -> &Path {
        match self {
            PgTls::VerifyFull { root } | PgTls::VerifyCa { root } => root,
        }
    }
}

/// A PostgreSQL connection URL, parsed; the text (which may hold a password) is zeroized on drop.
pub struct PgUrl {
    raw: Zeroizing<String>,
    config: postgres::Config,
    shown: String,
    tls: Option<PgTls>,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgUrl {
    /// The URL with any password replaced by `***`, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// TLS, when the URL asks for it (`sslmode=require|verify-ca|verify-full`).
    pub fn tls(&self) -> Option<&PgTls> {
        self.tls.as_ref()
    }

    /// The URL as given (password included): only for connecting.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Where the server is looked for, for messages: `the socket directory /run/x, port 5432`
    /// or `host db.contoso.com, port 5432`.
    pub fn target(&self) -> String {
        let ports = self.config.get_ports();
        let hosts = self.config.get_hosts();
        if hosts.is_empty() {
            return "the default socket directory /var/run/postgresql, port 5432".into();
        }
        let mut parts = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            parts.push(match h {
                postgres::config::Host::Tcp(name) => format!("host {name}, port {port}"),
                postgres::config::Host::Unix(dir) => {
                    format!("the socket directory {}, port {port}", dir.display())
                }
            });
        }
        parts.join("; ")
    }

    /// The database name (the user's name when the URL names none, as libpq does).
    pub fn database(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    pub fn user(&self) -> String {
        self.config.get_user().unwrap_or("postgres").to_string()
    }
}

/// The scheme of `s` when it starts like a URL (`letter [letter digit + - .]* ://`).
pub fn url_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        Some(scheme)
    } else {
        None
    }
}

/// `s` with the password of its user info (between `user:` and `@`) and any `password=`
/// query value replaced by `***`.
pub fn redact(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..]
            .find(['/', '?'])
            .map(|i| start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

impl Location {
    /// Reads `-Store` / `CUSTKEY_STORE`.
    pub fn parse(s: &str) -> Result<Location, LocationError> {
        let Some(scheme) = url_scheme(s) else {
            return Ok(Location::File(PathBuf::from(s)));
        };
        if !SUPPORTED_SCHEMES
            .iter()
            .any(|k| k.eq_ignore_ascii_case(scheme))
        {
            return Err(LocationError::UnknownScheme {
                scheme: scheme.to_ascii_lowercase(),
            });
        }
        let shown = redact(s);
        // The TLS parameters are custkey's to read (the client library knows no verify-*
        // modes and no CA file); a connection asked to be encrypted is encrypted and checked,
        // or not made.
        let (base, query) = match s.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (s, None),
        };
        let mut mode: Option<String> = None;
        let mut root: Option<PathBuf> = None;
        let mut kept: Vec<&str> = Vec::new();
        for kv in query.unwrap_or("").split('&').filter(|kv| !kv.is_empty()) {
            match kv.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.to_string()),
                Some(("sslrootcert", v)) => root = Some(PathBuf::from(percent_decode(v))),
                _ => kept.push(kv),
            }
        }
        let default_root = || {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".postgresql").join("root.crt"))
                .filter(|p| p.is_file())
        };
        let tls = match mode.as_deref() {
            Some(m @ ("require" | "verify-ca" | "verify-full")) => {
                let Some(root) = root.clone().or_else(default_root) else {
                    return Err(LocationError::Tls {
                        shown,
                        mode: m.to_string(),
                    });
                };
                Some(if m == "verify-full" {
                    PgTls::VerifyFull { root }
                } else {
                    PgTls::VerifyCa { root }
                })
            }
            Some("disable" | "prefer" | "allow") | None => None,
            Some(other) => {
                return Err(LocationError::BadUrl {
                    shown,
                    detail: format!("sslmode={other} is not a mode (disable, prefer, require, verify-ca, verify-full)"),
                })
            }
        };
        // Without TLS the client library gets the mode it knows (disable or prefer: no TLS).
        if tls.is_none() {
            if let Some(m) = mode.as_deref() {
                if m != "allow" {
                    kept.push(if m == "disable" {
                        "sslmode=disable"
                    } else {
                        "sslmode=prefer"
                    });
                }
            }
        } else {
            kept.push("sslmode=require");
        }
        let s_clean = Zeroizing::new(if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        });
        let s = s_clean.as_str();
        // One spelling of the scheme for the client library (it reads lower case only).
        let rest = &s[scheme.len() + 3..];
        let raw = Zeroizing::new(format!("postgresql://{rest}"));
        let config: postgres::Config =
            raw.parse()
                .map_err(|e: postgres::Error| LocationError::BadUrl {
                    shown: shown.clone(),
                    detail: e.to_string(),
                })?;
        Ok(Location::Postgres(Box::new(PgUrl {
            raw,
            config,
            shown,
            tls,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_paths_and_urls_are_never_paths() {
        for p in [
            "service.db",
            "/tmp/a/service.db",
            "./x://y",
            "a b/c.db",
            "C:store",
        ] {
            assert!(matches!(Location::parse(p), Ok(Location::File(_))), "{p}");
        }
        for u in [
            "sqlite:///tmp/x.db",
            "file:///tmp/x.db",
            "mysql://u@h/db",
            "HTTPS://x",
        ] {
            assert!(
                matches!(Location::parse(u), Err(LocationError::UnknownScheme { .. })),
                "{u}"
            );
        }
        for u in [
            "postgres://postgres@/custkey?host=/tmp/x&port=5433",
            "postgresql://u@db.contoso.com:5432/custkey",
            "POSTGRES://u@h/db",
        ] {
            assert!(
                matches!(Location::parse(u), Ok(Location::Postgres(_))),
                "{u}"
            );
        }
    }

    #[test]
    fn a_socket_url_names_its_directory_and_database() {
        let Ok(Location::Postgres(u)) =
            Location::parse("postgres://postgres@/custkey?host=/tmp/x&port=5433")
        else {
            panic!("not a PostgreSQL URL")
        };
        assert_eq!(u.target(), "the socket directory /tmp/x, port 5433");
        assert_eq!(u.database(), "custkey");
        assert_eq!(u.user(), "postgres");
    }

    #[test]
    fn passwords_never_reach_a_message() {
        let secret = "s3cr3t-pw";
        for u in [
            format!("postgres://ops:{secret}@db.contoso.com/custkey"),
            format!("postgres://ops@db.contoso.com/custkey?password={secret}"),
            format!("postgres://ops:{secret}@db/custkey?sslmode=verify-full"),
            format!("postgres://ops:{secret}@db/custkey?port=notanumber"),
        ] {
            let text = match Location::parse(&u) {
                Ok(Location::Postgres(p)) => format!("{} {:?} {}", p.shown(), p, p.target()),
                Ok(Location::File(_)) => panic!("{u} taken for a path"),
                Err(e) => format!("{e} {}", e.help()),
            };
            assert!(!text.contains(secret), "{text}");
            assert!(text.contains("***") || text.contains("db"), "{text}");
        }
    }

    #[test]
    fn tls_without_a_ca_is_refused_not_downgraded() {
        let home = std::env::var_os("HOME");
        let no_default = home
            .map(|h| !PathBuf::from(h).join(".postgresql/root.crt").exists())
            .unwrap_or(true);
        if no_default {
            for m in ["require", "verify-ca", "verify-full"] {
                let u = format!("postgres://u@h/db?sslmode={m}");
                assert!(
                    matches!(Location::parse(&u), Err(LocationError::Tls { .. })),
                    "{m}"
                );
            }
        }
        assert!(matches!(
            Location::parse("postgres://u@h/db?sslmode=disable"),
            Ok(Location::Postgres(p)) if p.tls().is_none()
        ));
        assert!(matches!(
            Location::parse("postgres://u@h/db?sslmode=bogus"),
            Err(LocationError::BadUrl { .. })
        ));
    }

    #[test]
    fn tls_modes_with_a_ca() {
        let tls = |m: &str| match Location::parse(&format!(
            "postgres://u@h/db?sslmode={m}&sslrootcert=/etc/ca%20dir/ca.pem&connect_timeout=3"
        )) {
            Ok(Location::Postgres(p)) => {
                assert_eq!(
                    p.config().get_ssl_mode(),
                    postgres::config::SslMode::Require
                );
                p.tls().cloned()
            }
            other => panic!("{other:?}"),
        };
        let root = PathBuf::from("/etc/ca dir/ca.pem");
        assert_eq!(
            tls("verify-full"),
            Some(PgTls::VerifyFull { root: root.clone() })
        );
        assert_eq!(
            tls("verify-ca"),
            Some(PgTls::VerifyCa { root: root.clone() })
        );
        assert_eq!(tls("require"), Some(PgTls::VerifyCa { root }));
    }
}
