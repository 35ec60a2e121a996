//! Where the store connects and how: the driver's configuration and, when
//! the URL asks for it, TLS to the server.
//!
//! The URL carries libpq's TLS options; the driver knows only `sslmode`
//! (and not all of its values), so they are taken out here:
//!
//! | option                | Census                                                          |
//! |-----------------------|-----------------------------------------------------------------|
//! | `sslmode` unset, `disable`, `prefer` | no TLS (as before TLS was built in)              |
//! | `sslmode=require`, `verify-full`     | TLS; the server's certificate must chain to `sslrootcert` and name the host the URL names |
//! | `sslmode=verify-ca`   | refused: Census always checks the host name too                 |
//! | `sslrootcert=PATH`    | the CA certificates (PEM) the server's certificate must chain to; `system` for this machine's trust store |
//! | `sslcert=PATH`, `sslkey=PATH` | a client certificate and its key, for `cert` authentication (both or neither) |
//!
//! Two differences from libpq, both stricter, because a register's
//! connection that a machine in the middle can read or answer is not what
//! an operator who wrote `require` meant: `require` verifies the server as
//! `verify-full` does (libpq's `require` alone encrypts without checking
//! whom it talks to), and `sslrootcert` has no default (libpq looks in
//! `~/.postgresql/root.crt` of whoever runs it). TLS options without a
//! mode that uses them, or TLS to a Unix socket (the server offers none
//! there), are errors rather than silently plain connections. `prefer`
//! stays plain: Debian's server offers TLS with a self-signed certificate
//! by default, and a daemon that connected before must not start failing
//! verification because the server offers it.
//!
//! Source for libpq's options and their meaning: PostgreSQL's documentation,
//! section 34.1.2 "Parameter Key Words" and 34.19 "SSL Support".

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::{Host, SslMode};
use postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A parsed connection URL and the TLS its connections use.
#[derive(Clone)]
pub struct Target {
    /// The driver's configuration (TLS options taken out).
    pub config: postgres::Config,
    /// `None`: connections are plain.
    tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("hosts", &self.config.get_hosts()).field("tls", &self.tls.is_some()).finish()
    }
}

impl Target {
    /// Parse `url` (a `postgres://` URL or a libpq key=value string) and
    /// read the TLS files it names.
    ///
    /// # Errors
    /// A message naming the option at fault: the URL does not parse, a TLS
    /// option is unknown, misplaced or incomplete, or a file it names
    /// cannot be read or holds no certificate or key.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (rest, options) = split(url)?;
        let mut config: postgres::Config =
            rest.parse().map_err(|e| format!("not a PostgreSQL URL: {}", super::with_causes(&e)))?;
        let tls = match options.verify {
            None => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            Some(verify) => {
                if let Some(Host::Unix(path)) = config.get_hosts().iter().find(|h| matches!(h, Host::Unix(_))) {
                    return Err(format!(
                        "sslmode={}: {} is a Unix socket, where PostgreSQL offers no TLS; connect over TCP or drop sslmode",
                        options.mode,
                        path.display()
                    ));
                }
                config.ssl_mode(SslMode::Require);
                Some(MakeRustlsConnect::new(client_config(&verify)?))
            }
        };
        Ok(Target { config, tls })
    }

    /// Whether connections are made over TLS.
    pub fn encrypted(&self) -> bool {
        self.tls.is_some()
    }

    /// A new connection. Call it off any async runtime (the driver blocks).
    ///
    /// # Errors
    /// The driver's: the server cannot be reached, refuses the login, or
    /// (with TLS) its certificate does not verify.
    pub fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
    }
}

/// The TLS options of a URL, taken out of it.
#[derive(Debug, Default, PartialEq)]
struct TlsOptions {
    /// `sslmode` as written ("" when unset), for messages.
    mode: String,
    /// `Some` when the mode asks for TLS.
    verify: Option<Verify>,
}

/// How a TLS connection proves the server, and itself.
#[derive(Debug, PartialEq)]
struct Verify {
    roots: Roots,
    /// Client certificate chain and key files.
    client: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, PartialEq)]
enum Roots {
    File(PathBuf),
    System,
}

/// Split `url` into what the driver parses and the TLS options (see the
/// module docs). Values in the URL form are percent-decoded; the key=value
/// form takes unquoted values only for these options.
fn split(url: &str) -> Result<(String, TlsOptions), String> {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let take = |key: &str, value: String, found: &mut Vec<(&'static str, String)>| -> Result<bool, String> {
        let Some(&known) = ["sslmode", "sslrootcert", "sslcert", "sslkey"].iter().find(|k| **k == key) else {
            return Ok(false);
        };
        if found.iter().any(|(k, _)| *k == known) {
            return Err(format!("{known} is given twice"));
        }
        found.push((known, value));
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_encoding::percent_decode_str(v)
                        .decode_utf8()
                        .map_err(|_| format!("{k}: its value is not UTF-8 once percent-decoded"))?;
                    if !take(k, value.into_owned(), &mut found)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
            }
        }
    } else {
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            let (k, v) = token.split_once('=').unwrap_or((token, ""));
            if v.starts_with('\'') && ["sslrootcert", "sslcert", "sslkey"].contains(&k) {
                return Err(format!("{k}: give the path unquoted (or use the postgres:// URL form, percent-encoded)"));
            }
            if !take(k, v.to_string(), &mut found)? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    let get = |key: &str| found.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let mode = get("sslmode").unwrap_or_default();
    let wants_tls = match mode.as_str() {
        "" | "disable" | "prefer" => false,
        "require" | "verify-full" => true,
        "verify-ca" => {
            return Err("sslmode=verify-ca: Census always checks that the server's certificate names the host; \
                        use sslmode=verify-full with a certificate naming it"
                .into());
        }
        other => return Err(format!("sslmode={other}: not one of disable, prefer, require, verify-full")),
    };
    let (root, cert, key) = (get("sslrootcert"), get("sslcert"), get("sslkey"));
    if !wants_tls {
        if let Some(k) = ["sslrootcert", "sslcert", "sslkey"].into_iter().find(|k| get(k).is_some()) {
            let shown = if mode.is_empty() { "unset".to_string() } else { mode.clone() };
            return Err(format!(
                "{k} has no effect with sslmode {shown}: set sslmode=verify-full (or require) for TLS"
            ));
        }
        return Ok((rest, TlsOptions { mode, verify: None }));
    }
    let roots = match root.as_deref() {
        None | Some("") => {
            return Err(format!(
                "sslmode={mode} needs sslrootcert: the PEM file of the CA that signed the server's certificate, \
                 or sslrootcert=system for this machine's trust store"
            ));
        }
        Some("system") => Roots::System,
        Some(path) => Roots::File(PathBuf::from(path)),
    };
    let client = match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => Some((PathBuf::from(c), PathBuf::from(k))),
        _ => return Err("sslcert and sslkey go together: give both paths, or neither".into()),
    };
    Ok((rest, TlsOptions { mode, verify: Some(Verify { roots, client }) }))
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3) for `verify`.
fn client_config(verify: &Verify) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &verify.roots {
        Roots::File(path) => {
            for cert in crate::pem::certificates(path).map_err(|e| format!("sslrootcert {e}"))? {
                roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
        }
        Roots::System => {
            // Certificates the platform's store holds but rustls cannot use are skipped, as browsers do.
            let loaded = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(loaded.certs);
            if roots.is_empty() {
                return Err("sslrootcert=system: this machine's trust store holds no usable certificate \
                            (Debian: the ca-certificates package)"
                    .into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match &verify.client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = crate::pem::certificates(cert).map_err(|e| format!("sslcert {e}"))?;
            let key = crate::pem::private_key(key).map_err(|e| format!("sslkey {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("sslcert and sslkey do not fit: {e}"))
        }
    }
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
