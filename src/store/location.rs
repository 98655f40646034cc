//! Where the store is: a file path (SQLite) or a PostgreSQL connection URL.
//!
//! A string with a URL scheme (`letters://`) is never taken for a file path: `postgres://` and
//! `postgresql://` name a PostgreSQL database, any other scheme is refused. The password of a
//! URL is kept out of every message: [`PgUrl::shown`] prints it as `***`.

use std::path::PathBuf;

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
    #[error("the PostgreSQL URL {shown} asks for TLS (sslmode={mode}), which custkey does not support yet")]
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
                "connect through a Unix socket (?host=/socket/dir), or over a network you trust with sslmode=disable or prefer (docs/store.md)".into()
            }
        }
    }
}

/// A PostgreSQL connection URL, parsed; the text (which may hold a password) is zeroized on drop.
pub struct PgUrl {
    raw: Zeroizing<String>,
    config: postgres::Config,
    shown: String,
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
        // TLS modes are refused before parsing: the client library knows no verify-* modes,
        // and a connection asked to be encrypted must never quietly go out in the clear.
        if let Some(q) = s.split_once('?').map(|(_, q)| q) {
            for kv in q.split('&') {
                if let Some((k, v)) = kv.split_once('=') {
                    if k == "sslmode" && matches!(v, "require" | "verify-ca" | "verify-full") {
                        return Err(LocationError::Tls {
                            shown,
                            mode: v.to_string(),
                        });
                    }
                }
            }
        }
        // One spelling of the scheme for the client library (it reads lower case only).
        let rest = &s[scheme.len() + 3..];
        let raw = Zeroizing::new(format!("postgresql://{rest}"));
        let config: postgres::Config =
            raw.parse()
                .map_err(|e: postgres::Error| LocationError::BadUrl {
                    shown: shown.clone(),
                    detail: e.to_string(),
                })?;
        Ok(Location::Postgres(Box::new(PgUrl { raw, config, shown })))
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
    fn tls_modes_are_refused_not_downgraded() {
        for m in ["require", "verify-ca", "verify-full"] {
            let u = format!("postgres://u@h/db?sslmode={m}");
            assert!(
                matches!(Location::parse(&u), Err(LocationError::Tls { .. })),
                "{m}"
            );
        }
        assert!(matches!(
            Location::parse("postgres://u@h/db?sslmode=disable"),
            Ok(Location::Postgres(_))
        ));
    }
}
