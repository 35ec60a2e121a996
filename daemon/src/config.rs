//! Daemon configuration: TOML parsed into raw structs that reject unknown
//! keys, then validated into a [`DaemonConfig`] that cannot hold an invalid
//! state (a listen address that parses, TLS certificate and key given
//! together, positive limits, sane reconciliation windows).
//!
//! Per-host environment overrides: `CENSUSD_LISTEN`, `CENSUSD_DATABASE` and
//! `CENSUSD_ADMIN_TOKEN_FILE`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use census_proto::config::{ConfigError, duration_in, env_override, load_toml};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    reconcile: RawReconcile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_body_mb: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    database: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconcile {
    missing_after: Option<String>,
    unknown_after_sightings: Option<i64>,
    unknown_after: Option<String>,
}

/// Validated daemon configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where this configuration came from.
    pub source: PathBuf,
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM), when the API serves HTTPS.
    pub tls: Option<TlsFiles>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// SQLite database file.
    pub database: PathBuf,
    /// File holding the admin token for the operator API.
    pub admin_token_file: PathBuf,
    /// Reconciliation settings.
    pub reconcile: ReconcileConfig,
}

/// TLS certificate chain and private key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Reconciliation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// A deployed asset unseen for this long (over complete sweeps) is missing.
    pub missing_after: Duration,
    /// Sightings before an unknown asset alerts.
    pub unknown_after_sightings: u32,
    /// Or time since first sighting before an unknown asset alerts.
    pub unknown_after: Duration,
}

/// Load and validate a daemon configuration file, applying environment overrides.
pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
    let raw: RawConfig = load_toml(path)?;
    validate(path, raw)
}

fn validate(file: &Path, raw: RawConfig) -> Result<DaemonConfig, ConfigError> {
    let (listen_key, listen) = match env_override("CENSUSD_LISTEN") {
        Some(v) => ("CENSUSD_LISTEN (environment)", v),
        None => ("server.listen", raw.server.listen.unwrap_or_else(|| "127.0.0.1:8440".into())),
    };
    let listen: SocketAddr = listen.parse().map_err(|_| {
        ConfigError::at(
            file,
            listen_key,
            format!("`{listen}` is not an address:port such as 127.0.0.1:8440 or [::]:8443"),
        )
    })?;
    let tls = match (raw.server.tls_cert, raw.server.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::at(file, "server.tls_key", "tls_cert is set, so tls_key is required too"));
        }
        (None, Some(_)) => {
            return Err(ConfigError::at(file, "server.tls_cert", "tls_key is set, so tls_cert is required too"));
        }
    };
    let max_body_mb = raw.server.max_body_mb.unwrap_or(64);
    if !(1..=4096).contains(&max_body_mb) {
        return Err(ConfigError::at(file, "server.max_body_mb", format!("expected 1 to 4096, found {max_body_mb}")));
    }
    let database = env_override("CENSUSD_DATABASE")
        .map(PathBuf::from)
        .or(raw.store.database)
        .unwrap_or_else(|| PathBuf::from("/var/lib/census/census.db"));
    let admin_token_file = env_override("CENSUSD_ADMIN_TOKEN_FILE")
        .map(PathBuf::from)
        .or(raw.auth.admin_token_file)
        .unwrap_or_else(|| PathBuf::from("/etc/census/admin.token"));
    let r = raw.reconcile;
    let day = Duration::from_secs(86_400);
    let sightings = r.unknown_after_sightings.unwrap_or(2);
    if !(1..=1000).contains(&sightings) {
        return Err(ConfigError::at(
            file,
            "reconcile.unknown_after_sightings",
            format!("expected 1 to 1000, found {sightings}"),
        ));
    }
    let reconcile = ReconcileConfig {
        missing_after: duration_in(
            file,
            "reconcile.missing_after",
            r.missing_after.as_deref(),
            7 * day,
            (Duration::from_secs(3600), 365 * day),
        )?,
        unknown_after_sightings: sightings as u32,
        unknown_after: duration_in(
            file,
            "reconcile.unknown_after",
            r.unknown_after.as_deref(),
            Duration::from_secs(600),
            (Duration::ZERO, 30 * day),
        )?,
    };
    Ok(DaemonConfig {
        source: file.to_path_buf(),
        listen,
        tls,
        max_body_bytes: max_body_mb as usize * 1024 * 1024,
        database,
        admin_token_file,
        reconcile,
    })
}
