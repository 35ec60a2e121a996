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
//! mode that uses them, TLS to a Unix socket (the server offers none
//! there) or to an address without a host name to check, relative paths,
//! a key file others can read (libpq's rule) and `PGSSLMODE` asking for TLS
//! the URL does not (the driver reads no `PG*` variable) are errors rather
//! than silently plain or weaker connections. TLS options are read from the
//! `postgres://` form only; keys and values are percent-decoded first, as
//! the driver decodes them (`ssl%6Dode` is `sslmode`). `prefer`
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
    /// Parse `url` (a `postgres://` URL; a libpq key=value string without
    /// TLS options is also taken) and read the TLS files it names.
    ///
    /// # Errors
    /// A message naming the option at fault: the URL does not parse, a TLS
    /// option is unknown, misplaced or incomplete, or a file it names
    /// cannot be read or holds no certificate or key.
    pub fn parse(url: &str) -> Result<Target, String> {
        Self::parse_in(url, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// [`Target::parse`] with the environment `env` gives.
    fn parse_in(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Target, String> {
        let (rest, options) = split(url)?;
        environment_agrees(&options, env)?;
        let mut config: postgres::Config =
            rest.parse().map_err(|e| format!("not a PostgreSQL URL: {}", super::with_causes(&e)))?;
        let tls = match options.verify {
            None => {
                if config.get_ssl_mode() == SslMode::Require {
                    // Only a string outside the URL form gets here with TLS asked for.
                    return Err("sslmode=require: TLS options are read from the postgres:// URL form only".into());
                }
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
                for host in config.get_hosts() {
                    if let Host::Tcp(name) = host
                        && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
                    {
                        return Err(format!(
                            "sslmode={}: host `{name}` is not a name or address a certificate can be checked against",
                            options.mode
                        ));
                    }
                }
                if config.get_hosts().is_empty() {
                    return Err(format!(
                        "sslmode={}: TLS checks the name in the server's certificate, so the URL must name the host \
                         (give host= beside hostaddr=)",
                        options.mode
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

/// Where the parts of a `postgres://` URL begin, read as the driver reads
/// them: the credentials run to the first `@` after the scheme (so the
/// driver reads a `/` or `?` before it as part of a password, where libpq
/// would end the host there: Census refuses such URLs, [`UrlParts::odd`]),
/// the options from the first `?` after that.
#[derive(Debug, PartialEq)]
pub(super) struct UrlParts {
    /// Byte offset just past `://`.
    pub authority: usize,
    /// `user[:password]` as a byte range, when the URL has an `@`.
    pub credentials: Option<std::ops::Range<usize>>,
    /// Byte offset of the `?` that starts the options.
    pub query: Option<usize>,
}

impl UrlParts {
    /// `None` when `url` is not in the `postgres://` (or `postgresql://`) form.
    pub fn of(url: &str) -> Option<UrlParts> {
        let authority = ["postgres://", "postgresql://"].iter().find(|p| url.starts_with(**p))?.len();
        let credentials = url[authority..].find('@').map(|at| authority..authority + at);
        let after = credentials.as_ref().map_or(authority, |c| c.end + 1);
        let query = url[after..].find('?').map(|q| after + q);
        Some(UrlParts { authority, credentials, query })
    }

    /// Why `url` (whose parts these are) would be read by the driver other
    /// than as written: an `@` it takes for the end of the credentials sits
    /// in the path or an option (libpq stops looking at the first `/`), or
    /// there is a second `@` anywhere. Both make a password, or options,
    /// into something else — a user name sent across the network, options
    /// never seen.
    pub fn odd(&self, url: &str) -> Option<&'static str> {
        let credentials = &url[self.credentials.clone()?];
        if credentials.contains(['/', '?']) {
            return Some(
                "the driver reads everything before the first `@` as user and password, and here that holds a `/` or \
                 `?`: write `@`, `/` and `?` inside a user name, password or option as %40, %2F and %3F",
            );
        }
        if url.matches('@').count() > 1 {
            // Wherever the second `@` is — host, database name, an option —
            // it may be the rest of a password the driver cut short, and a
            // driver's message naming what it holds would show it.
            return Some("more than one `@`: write an `@` inside a user name, password or option as %40");
        }
        None
    }
}

/// A URL option's key as the driver reads it (percent-decoded).
pub(super) fn option_key(pair: &str) -> String {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    percent_encoding::percent_decode_str(key).decode_utf8_lossy().into_owned()
}

/// Split `url` into what the driver parses and the TLS options (see the
/// module docs). Keys and values are percent-decoded, as the driver
/// decodes them. A string not in the URL form is given to the driver as
/// it is; TLS options in it are refused by [`Target::parse`].
fn split(url: &str) -> Result<(String, TlsOptions), String> {
    let Some(parts) = UrlParts::of(url) else { return Ok((url.to_string(), TlsOptions::default())) };
    if let Some(why) = parts.odd(url) {
        return Err(why.into());
    }
    let Some(query) = parts.query else { return Ok((url.to_string(), TlsOptions::default())) };
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let mut kept = Vec::new();
    for pair in url[query + 1..].split('&') {
        let key = option_key(pair);
        let Some(&known) = ["sslmode", "sslrootcert", "sslcert", "sslkey"].iter().find(|k| **k == key) else {
            kept.push(pair);
            continue;
        };
        if found.iter().any(|(k, _)| *k == known) {
            return Err(format!("{known} is given twice"));
        }
        let raw = pair.split_once('=').map_or("", |(_, v)| v);
        let value = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| format!("{known}: its value is not UTF-8 once percent-decoded"))?;
        found.push((known, value.into_owned()));
    }
    let base = &url[..query];
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let get = |key: &str| found.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let mode = get("sslmode");
    if mode.as_deref() == Some("") {
        return Err("sslmode is given without a value: one of disable, prefer, require, verify-full".into());
    }
    let mode = mode.unwrap_or_default();
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
    let direct = |pair: &&str| {
        option_key(pair) == "sslnegotiation"
            && pair
                .split_once('=')
                .is_some_and(|(_, v)| percent_encoding::percent_decode_str(v).decode_utf8_lossy() == "direct")
    };
    if !wants_tls && kept.iter().any(direct) {
        // Direct TLS without a TLS mode: the driver refuses it with `prefer`,
        // but Census turns `prefer` into `disable`, which it would take.
        return Err("sslnegotiation=direct is TLS from the first byte: set sslmode=verify-full (or require)".into());
    }
    if !wants_tls {
        if let Some(k) = ["sslrootcert", "sslcert", "sslkey"].into_iter().find(|k| get(k).is_some()) {
            let shown = if mode.is_empty() { "unset".to_string() } else { mode.clone() };
            return Err(format!(
                "{k} has no effect with sslmode {shown}: set sslmode=verify-full (or require) for TLS"
            ));
        }
        return Ok((rest, TlsOptions { mode, verify: None }));
    }
    let absolute = |key: &str, path: &str| -> Result<PathBuf, String> {
        let path = PathBuf::from(path);
        if path.is_relative() {
            // The daemon's working directory under systemd is not the one check-config ran in.
            return Err(format!("{key}={}: give an absolute path", path.display()));
        }
        Ok(path)
    };
    let roots = match root.as_deref() {
        None | Some("") => {
            return Err(format!(
                "sslmode={mode} needs sslrootcert: the PEM file of the CA that signed the server's certificate, \
                 or sslrootcert=system for this machine's trust store"
            ));
        }
        Some("system") => Roots::System,
        Some(path) => Roots::File(absolute("sslrootcert", path)?),
    };
    let client = match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => {
            Some((absolute("sslcert", &c)?, absolute("sslkey", &k)?))
        }
        _ => return Err("sslcert and sslkey go together: give both paths, or neither".into()),
    };
    Ok((rest, TlsOptions { mode, verify: Some(Verify { roots, client }) }))
}

/// Refuse `PGSSLMODE` asking for TLS that the URL does not: libpq reads it,
/// this driver does not, and a daemon the operator believed encrypted would
/// connect in clear. (Census reads no `PG*` variable; everything is in the URL.)
fn environment_agrees(options: &TlsOptions, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    if !options.mode.is_empty() {
        return Ok(());
    }
    let asked = match (env("PGSSLMODE"), env("PGREQUIRESSL")) {
        (Some(m), _) if matches!(m.as_str(), "require" | "verify-ca" | "verify-full") => format!("PGSSLMODE={m}"),
        // libpq's older spelling of PGSSLMODE=require.
        (_, Some(r)) if r == "1" => "PGREQUIRESSL=1".to_string(),
        _ => return Ok(()),
    };
    Err(format!(
        "{asked} is set, but censusd reads its PostgreSQL settings from the URL only: \
         add sslmode=verify-full&sslrootcert=… to it (docs/postgresql.md)"
    ))
}

/// libpq's rule for a private key file: owned by the user censusd runs as
/// and readable by it only, or owned by root and readable also by its group
/// (a key managed by root, shared with the service's group). Source:
/// PostgreSQL's documentation, 34.19.1 "Client Verification of Server
/// Certificates" and libpq's fe-secure-openssl.c.
fn key_file_is_private(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("sslkey {}: {e}", path.display()))?;
    let me = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "sslkey {}: owned by uid {}, neither the user censusd runs as (uid {me}) nor root",
            path.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if mode & allowed != 0 {
        return Err(format!(
            "sslkey {}: readable by others (mode {mode:04o}): make it 0600, owned by the user censusd runs as \
             (or 0640 owned by root)",
            path.display()
        ));
    }
    Ok(())
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3) for `verify`.
fn client_config(verify: &Verify) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &verify.roots {
        Roots::File(path) => {
            for cert in crate::pem::certificates(path).map_err(|e| format!("sslrootcert {e}"))? {
                roots.add(cert).map_err(|e| {
                    format!("sslrootcert {}: a certificate in it is not usable as a CA: {e}", path.display())
                })?;
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
    let mut config = match &verify.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = crate::pem::certificates(cert).map_err(|e| format!("sslcert {e}"))?;
            key_file_is_private(key)?;
            let key = crate::pem::private_key(key).map_err(|e| format!("sslkey {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("sslcert and sslkey do not fit: {e}"))?
        }
    };
    // PostgreSQL 17 takes direct TLS (`sslnegotiation=direct`) only with this
    // ALPN name, as libpq 17 sends it; older servers ignore it. Source:
    // PostgreSQL 17 documentation, 55.2.11 "SSL Session Encryption".
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
