//! Daemon configuration: TOML parsed into raw structs that reject unknown
//! keys, then validated into a [`DaemonConfig`] that cannot hold an invalid
//! state (a listen address that parses, TLS certificate and key given
//! together, positive limits, sane reconciliation windows).
//!
//! Per-host environment overrides: `CENSUSD_LISTEN`, `CENSUSD_DATABASE`,
//! `CENSUSD_ADMIN_TOKEN_FILE` and `CENSUSD_METRICS_LISTEN`.

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
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    people: RawPeople,
    #[serde(default)]
    sync: crate::connectors::sync::config::RawSyncs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeople {
    ldap: Option<crate::directory::ldap::RawLdap>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
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
    url: Option<String>,
    retention: Option<String>,
    connections: Option<u32>,
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
    missing_after_by_type: Option<std::collections::BTreeMap<String, String>>,
    seen_window: Option<String>,
    interval: Option<String>,
    gone_after_sweeps: Option<i64>,
    retirement_sweeps: Option<i64>,
    clear_after_sweeps: Option<i64>,
    reopen_window: Option<String>,
    alert_flood_per_hour: Option<i64>,
    end_of_life_file: Option<PathBuf>,
    certificate_lead: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    jsonl: Option<String>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    url: String,
    format: Option<String>,
    min_severity: Option<String>,
}

/// How long raw observations are kept by default (docs/data-retention.md).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

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
    /// Where the store lives: the SQLite file of `[store] database` (the
    /// default, `/var/lib/census/census.db`) or the PostgreSQL database of
    /// `[store] url`.
    pub store: crate::store::StoreLocation,
    /// Raw observations older than this are rolled up into daily summaries
    /// (`[store] retention`, default 30 days; docs/data-retention.md).
    pub retention: Duration,
    /// Connections in the PostgreSQL pool (`[store] connections`, 2–64,
    /// default 8); PostgreSQL only.
    pub store_connections: u32,
    /// File holding the admin token for the operator API.
    pub admin_token_file: PathBuf,
    /// Reconciliation settings.
    pub reconcile: ReconcileConfig,
    /// Where alerts are sent.
    pub notify: NotifyConfig,
    /// Where Prometheus metrics are served (`[metrics] listen`); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// The people directory's LDAP source (`[people.ldap]`), when configured.
    pub ldap: Option<crate::directory::ldap::LdapConfig>,
    /// Register sync with Snipe-IT and NetBox (`[sync.snipeit]`, `[sync.netbox]`).
    pub sync: crate::connectors::sync::config::SyncConfigs,
}

/// Where alerts go besides the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// JSON lines of alert events: a file path, or `-` for stdout.
    pub jsonl: Option<String>,
    /// Webhooks.
    pub webhooks: Vec<WebhookConfig>,
}

/// Body shape of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The alert event as JSON.
    Json,
    /// A Slack-compatible `{"text": ...}` message.
    Slack,
}

/// One webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Name, unique; the delivery queue is kept per name.
    pub name: String,
    /// URL (http or https).
    pub url: String,
    /// Body shape.
    pub format: WebhookFormat,
    /// Alerts below this severity are not sent.
    pub min_severity: crate::alerts::Severity,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// A deployed asset unseen for this long (over complete sweeps) is missing.
    pub missing_after: Duration,
    /// Per asset type overrides of `missing_after`.
    pub missing_after_by_type: std::collections::BTreeMap<crate::register::AssetType, Duration>,
    /// Hosts no complete sweep covers (seen only by partial sweeps or
    /// passively) count as on the network this long after their last sighting.
    pub seen_window: Duration,
    /// A host is gone after this many complete sweeps of its segment without it.
    pub gone_after_sweeps: u32,
    /// Complete sweeps without an answer, since its decommissioning, that
    /// verify an asset is off the network (retirement checklist).
    pub retirement_sweeps: u32,
    /// New-service and coverage-gap alerts resolve after the condition was
    /// absent in this many consecutive complete sweeps.
    pub clear_after_sweeps: u32,
    /// A resolved alert whose condition returns within this is reopened.
    pub reopen_window: Duration,
    /// New device alerts one agent may raise per hour before one `alert-flood` alert replaces them.
    pub alert_flood_per_hour: u32,
    /// How often the full reconcile runs (time-based alerts, suppression expiry).
    pub interval: Duration,
    /// Sightings before an unknown asset alerts.
    pub unknown_after_sightings: u32,
    /// Or time since first sighting before an unknown asset alerts.
    pub unknown_after: Duration,
    /// End-of-support dates: the built-in table with `end_of_life_file`'s
    /// releases over it (docs/end-of-life.md).
    pub end_of_life: std::sync::Arc<crate::eol::EolTable>,
    /// A served certificate ending within this raises `certificate-expiring`.
    pub certificate_lead: Duration,
}

impl Default for ReconcileConfig {
    /// The defaults a configuration without `[reconcile]` gets.
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        ReconcileConfig {
            missing_after: 7 * day,
            missing_after_by_type: Default::default(),
            seen_window: 7 * day,
            gone_after_sweeps: 2,
            retirement_sweeps: 3,
            clear_after_sweeps: 2,
            reopen_window: 7 * day,
            alert_flood_per_hour: 1000,
            interval: Duration::from_secs(300),
            unknown_after_sightings: 2,
            unknown_after: Duration::from_secs(600),
            end_of_life: Default::default(),
            certificate_lead: 30 * day,
        }
    }
}

/// Load and validate a daemon configuration file, applying environment overrides.
pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
    let raw: RawConfig = load_toml(path)?;
    validate(path, raw)
}

/// `[store] database` or `[store] url` (one of them; the environment's
/// `CENSUSD_DATABASE` or `CENSUSD_STORE_URL` overrides both), else the
/// default SQLite file.
fn store_location(
    file: &Path,
    database: Option<PathBuf>,
    url: Option<String>,
) -> Result<crate::store::StoreLocation, ConfigError> {
    use crate::store::StoreLocation;
    if let Some(url) = env_override("CENSUSD_STORE_URL") {
        return postgres_url(file, "CENSUSD_STORE_URL (environment)", url);
    }
    if let Some(path) = env_override("CENSUSD_DATABASE") {
        return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
    }
    match (database, url) {
        (Some(_), Some(_)) => {
            Err(ConfigError::at(file, "store.url", "set either `database` (SQLite) or `url` (PostgreSQL), not both"))
        }
        (None, Some(url)) => postgres_url(file, "store.url", url),
        (database, None) => {
            Ok(StoreLocation::Sqlite(database.unwrap_or_else(|| PathBuf::from("/var/lib/census/census.db"))))
        }
    }
}

/// A PostgreSQL URL, checked for shape (never echoing a password).
fn postgres_url(file: &Path, key: &str, url: String) -> Result<crate::store::StoreLocation, ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(ConfigError::at(
            file,
            key,
            "expected a PostgreSQL URL such as postgres://census@/census?host=/run/postgresql",
        ));
    }
    crate::store::check_postgres_url(&url).map_err(|e| ConfigError::at(file, key, e))?;
    Ok(crate::store::StoreLocation::Postgres(url))
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
    let store = store_location(file, raw.store.database, raw.store.url)?;
    let store_connections = match (raw.store.connections, &store) {
        (None, _) => crate::store::DEFAULT_CONNECTIONS,
        (Some(_), crate::store::StoreLocation::Sqlite(_)) => {
            return Err(ConfigError::at(file, "store.connections", "applies to PostgreSQL (`url`) only"));
        }
        (Some(n), _) if (2..=64).contains(&n) => n,
        (Some(n), _) => {
            return Err(ConfigError::at(file, "store.connections", format!("{n} is not between 2 and 64")));
        }
    };
    let retention = duration_in(
        file,
        "store.retention",
        raw.store.retention.as_deref(),
        DEFAULT_RETENTION,
        (Duration::from_secs(86_400), Duration::from_secs(3650 * 86_400)),
    )?;
    let admin_token_file = env_override("CENSUSD_ADMIN_TOKEN_FILE")
        .map(PathBuf::from)
        .or(raw.auth.admin_token_file)
        .unwrap_or_else(|| PathBuf::from("/var/lib/census/admin.token"));
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
    let mut by_type = std::collections::BTreeMap::new();
    for (name, value) in r.missing_after_by_type.unwrap_or_default() {
        let key = format!("reconcile.missing_after_by_type.{name}");
        let t: crate::register::AssetType = name.parse().map_err(|e: String| ConfigError::at(file, &key, e))?;
        let d = duration_in(file, &key, Some(&value), 7 * day, (Duration::from_secs(3600), 365 * day))?;
        by_type.insert(t, d);
    }
    let notify = notify(file, raw.notify)?;
    let (metrics_key, metrics_value) = match env_override("CENSUSD_METRICS_LISTEN") {
        Some(v) => ("CENSUSD_METRICS_LISTEN (environment)", Some(v)),
        None => ("metrics.listen", raw.metrics.listen),
    };
    let metrics_listen = match metrics_value {
        None => None,
        Some(v) => {
            Some(census_metrics::parse_listen(&v).map_err(|e| ConfigError::at(file, metrics_key, e.to_string()))?)
        }
    };
    if let Some(m) = metrics_listen
        && census_metrics::overlaps(m, listen)
    {
        return Err(ConfigError::at(
            file,
            metrics_key,
            format!("{m} overlaps the API's {listen}: metrics need a port of their own"),
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
        missing_after_by_type: by_type,
        seen_window: duration_in(
            file,
            "reconcile.seen_window",
            r.seen_window.as_deref(),
            7 * day,
            (Duration::from_secs(60), 90 * day),
        )?,
        gone_after_sweeps: count_in(file, "reconcile.gone_after_sweeps", r.gone_after_sweeps, 2, 1..=100)?,
        retirement_sweeps: count_in(file, "reconcile.retirement_sweeps", r.retirement_sweeps, 3, 1..=100)?,
        clear_after_sweeps: count_in(file, "reconcile.clear_after_sweeps", r.clear_after_sweeps, 2, 1..=100)?,
        reopen_window: duration_in(
            file,
            "reconcile.reopen_window",
            r.reopen_window.as_deref(),
            7 * day,
            (Duration::ZERO, 365 * day),
        )?,
        alert_flood_per_hour: count_in(
            file,
            "reconcile.alert_flood_per_hour",
            r.alert_flood_per_hour,
            1000,
            1..=1_000_000,
        )?,
        interval: duration_in(
            file,
            "reconcile.interval",
            r.interval.as_deref(),
            Duration::from_secs(300),
            (Duration::from_secs(1), day),
        )?,
        unknown_after_sightings: sightings as u32,
        unknown_after: duration_in(
            file,
            "reconcile.unknown_after",
            r.unknown_after.as_deref(),
            Duration::from_secs(600),
            (Duration::ZERO, 30 * day),
        )?,
        certificate_lead: duration_in(
            file,
            "reconcile.certificate_lead",
            r.certificate_lead.as_deref(),
            30 * day,
            (day, 365 * day),
        )?,
        end_of_life: std::sync::Arc::new(match &r.end_of_life_file {
            None => crate::eol::EolTable::built_in(),
            Some(p) => crate::eol::EolTable::with_file(p)
                .map_err(|e| ConfigError::at(file, "reconcile.end_of_life_file", e))?,
        }),
    };
    let ldap = raw.people.ldap.map(|l| crate::directory::ldap::validate(file, l)).transpose()?;
    let sync = crate::connectors::sync::config::validate(file, raw.sync)?;
    Ok(DaemonConfig {
        source: file.to_path_buf(),
        listen,
        tls,
        max_body_bytes: max_body_mb as usize * 1024 * 1024,
        store,
        retention,
        store_connections,
        admin_token_file,
        reconcile,
        notify,
        metrics_listen,
        ldap,
        sync,
    })
}

fn count_in(
    file: &Path,
    key: &str,
    value: Option<i64>,
    default: u32,
    range: std::ops::RangeInclusive<i64>,
) -> Result<u32, ConfigError> {
    let v = value.unwrap_or(i64::from(default));
    if !range.contains(&v) {
        return Err(ConfigError::at(file, key, format!("expected {} to {}, found {v}", range.start(), range.end())));
    }
    Ok(v as u32)
}

fn notify(file: &Path, raw: RawNotify) -> Result<NotifyConfig, ConfigError> {
    let mut webhooks: Vec<WebhookConfig> = Vec::new();
    for (i, w) in raw.webhook.into_iter().enumerate() {
        let at = |k: &str| format!("notify.webhook[{i}].{k}");
        let name = w.name.trim().to_string();
        if name.is_empty()
            || name.len() > 64
            || name.chars().any(char::is_control)
            || name == "jsonl"
            || webhooks.iter().any(|o| o.name == name)
        {
            return Err(ConfigError::at(
                file,
                at("name"),
                format!(
                    "`{}` must be 1-64 characters without control characters, unique, not `jsonl`",
                    name.escape_debug()
                ),
            ));
        }
        let url = reqwest::Url::parse(&w.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ConfigError::at(file, at("url"), format!("`{}` is not an http(s) URL", w.url)))?;
        let format = match w.format.as_deref().unwrap_or("json") {
            "json" => WebhookFormat::Json,
            "slack" => WebhookFormat::Slack,
            other => return Err(ConfigError::at(file, at("format"), format!("`{other}` is not one of json, slack"))),
        };
        let min_severity = match w.min_severity.as_deref() {
            None => crate::alerts::Severity::Low,
            Some(s) => s.parse().map_err(|e: String| ConfigError::at(file, at("min_severity"), e))?,
        };
        webhooks.push(WebhookConfig { name, url: url.to_string(), format, min_severity });
    }
    let jsonl = match raw.jsonl {
        Some(s) if s.trim().is_empty() => {
            return Err(ConfigError::at(file, "notify.jsonl", "expected a file path or `-` for stdout"));
        }
        other => other,
    };
    Ok(NotifyConfig { jsonl, webhooks })
}
