//! Agent configuration: TOML parsed into raw structs that reject unknown
//! keys, then validated into an [`AgentConfig`] that cannot hold an invalid
//! state — targets are parsed intervals, rates are positive, intervals and
//! timeouts are sane, and no segment is larger than allowed.
//!
//! Operators change a few settings per host without editing the file:
//! `CENSUS_AGENT_ID`, `CENSUS_DAEMON_URL` and `CENSUS_TOKEN_FILE`.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use census_proto::Technique;
use census_proto::config::{ConfigError, duration_in, env_override, load_toml};
use serde::Deserialize;

use crate::ports::PortSet;
use crate::sweep::options::{self, DEFAULT_MAX_TARGET_ADDRESSES, Limits, SweepOptions, check_target_size};
use crate::targets::TargetSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    daemon: Option<RawDaemon>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    segment: Vec<RawSegment>,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: Option<String>,
    state_dir: Option<PathBuf>,
    spool_max_mb: Option<i64>,
    oui_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    url: String,
    token_file: PathBuf,
    ca_file: Option<PathBuf>,
    pin_sha256: Option<String>,
    timeout: Option<String>,
    retry_max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    rate: Option<i64>,
    max_in_flight: Option<i64>,
    max_target_addresses: Option<i64>,
    allow_large_targets: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    name: String,
    targets: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    interface: Option<String>,
    techniques: Option<Vec<String>>,
    ports: Option<String>,
    interval: Option<String>,
    jitter: Option<String>,
    probe_timeout: Option<String>,
    retries: Option<i64>,
    quiet_hours: Option<String>,
    names: Option<bool>,
    name_sources: Option<Vec<String>>,
    #[serde(default)]
    dns_servers: Vec<String>,
    services: Option<bool>,
    max_duration: Option<String>,
    passive: Option<bool>,
}

/// Validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where this configuration came from.
    pub source: PathBuf,
    /// The agent's identity.
    pub agent_id: String,
    /// Directory for the spool and other state.
    pub state_dir: PathBuf,
    /// Spool size cap in bytes.
    pub spool_max_bytes: u64,
    /// MAC vendor overrides (`PREFIX,Name` lines), checked when loaded.
    pub oui_overrides: Option<(PathBuf, Vec<(String, String)>)>,
    /// Where to deliver batches; `None` for scan-only use.
    pub daemon: Option<DaemonTarget>,
    /// Global limits.
    pub limits: Limits,
    /// Segments to sweep.
    pub segments: Vec<Segment>,
    /// Where `census-agent run` serves Prometheus metrics (`[metrics]
    /// listen`: `IP:PORT`, or a port alone for 127.0.0.1); off when `None`.
    /// Read at start: a reload does not move the listener.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub struct DaemonTarget {
    /// Base URL, `http://` or `https://`.
    pub url: String,
    /// File holding the agent's bearer token.
    pub token_file: PathBuf,
    /// CA bundle for a self-hosted daemon's certificate.
    pub ca_file: Option<PathBuf>,
    /// Or: trust only the certificate with this SHA-256 fingerprint.
    pub pin_sha256: Option<String>,
    /// Request timeout.
    pub timeout: Duration,
    /// Longest wait between delivery retries (backoff doubles from 1 s up to this).
    pub retry_max: Duration,
}

/// One segment to sweep on a schedule.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Name, reported in batches.
    pub name: String,
    /// What to sweep.
    pub targets: TargetSet,
    /// Target and exclusion strings as configured (reported in batches).
    pub target_specs: Vec<String>,
    /// Exclusions as configured.
    pub exclude_specs: Vec<String>,
    /// Interface to use; chosen from the routing table when `None`.
    pub interface: Option<String>,
    /// Techniques to run, in order.
    pub techniques: Vec<Technique>,
    /// Ports for the TCP sweep.
    pub ports: PortSet,
    /// Time between sweeps.
    pub interval: Duration,
    /// Random extra delay, up to this much, before each sweep.
    pub jitter: Duration,
    /// Probe timeout, retries and the limit on one sweep.
    pub sweep: SweepOptions,
    /// Daily UTC window with no sweeps.
    pub quiet_hours: Option<crate::schedule::QuietHours>,
    /// Name lookups for found hosts (PTR, mDNS, NetBIOS); `None` when `names = false`.
    pub names: Option<crate::names::NameLookup>,
    /// Probe open services (banners, web pages, certificates).
    pub services: bool,
    /// Also listen passively on the segment's interface (ARP, DHCP) and
    /// deliver what is heard as passive batches, at most one a minute.
    pub passive: bool,
}

impl Segment {
    /// The sweep request for one run of this segment.
    pub fn request(
        &self,
        limits: &Limits,
        vendors: &std::sync::Arc<crate::fingerprint::vendor::VendorTable>,
    ) -> crate::scan::ScanRequest {
        crate::scan::ScanRequest {
            vendors: vendors.clone(),
            segment: self.name.clone(),
            targets: self.targets.clone(),
            target_specs: self.target_specs.clone(),
            exclude_specs: self.exclude_specs.clone(),
            techniques: self.techniques.clone(),
            ports: self.ports.clone(),
            interface: self.interface.clone(),
            limits: *limits,
            sweep: self.sweep,
            force_connect: false,
            report_closed: false,
            identify_services: self.services && self.techniques.contains(&Technique::Tcp),
            names: self.names.clone(),
        }
    }
}

/// Load and validate an agent configuration file, applying environment overrides.
pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
    let raw: RawConfig = load_toml(path)?;
    validate(path, raw)
}

/// Check that a string is an http(s) URL with a host.
pub fn check_url(file: &Path, key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err(ConfigError::at(file, key, format!("`{url}` is not an http:// or https:// URL with a host"))),
    }
}

fn positive(file: &Path, key: &str, v: Option<i64>, default: u32, max: u32) -> Result<NonZeroU32, ConfigError> {
    let v = v.unwrap_or(i64::from(default));
    u32::try_from(v)
        .ok()
        .filter(|&v| v <= max)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| ConfigError::at(file, key, format!("expected a whole number from 1 to {max}, found {v}")))
}

fn validate(file: &Path, raw: RawConfig) -> Result<AgentConfig, ConfigError> {
    let env_id = env_override("CENSUS_AGENT_ID");
    let agent_id = env_id.or(raw.agent.id).unwrap_or_else(default_agent_id);
    if agent_id.is_empty()
        || agent_id.len() > 64
        || !agent_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::at(
            file,
            "agent.id",
            format!("`{agent_id}` must be 1-64 letters, digits, '-', '_' or '.'"),
        ));
    }
    let spool_mb = positive(file, "agent.spool_max_mb", raw.agent.spool_max_mb, 256, 1_048_576)?;
    let daemon = match raw.daemon {
        None => None,
        Some(d) => {
            let url = env_override("CENSUS_DAEMON_URL").unwrap_or(d.url);
            check_url(file, "daemon.url", &url)?;
            let token_file = env_override("CENSUS_TOKEN_FILE").map(PathBuf::from).unwrap_or(d.token_file);
            let timeout = duration_in(
                file,
                "daemon.timeout",
                d.timeout.as_deref(),
                Duration::from_secs(30),
                (Duration::from_secs(1), Duration::from_secs(600)),
            )?;
            if d.ca_file.is_some() && d.pin_sha256.is_some() {
                return Err(ConfigError::at(file, "daemon.pin_sha256", "set ca_file or pin_sha256, not both"));
            }
            // Files named here are checked now, so check-config catches what `run` would refuse.
            // A token file not installed yet is allowed (check-config says so).
            if std::fs::symlink_metadata(&token_file).is_ok() {
                let token =
                    census_proto::config::read_operator_file(&token_file, census_proto::config::MAX_SECRET_FILE)
                        .map_err(|e| {
                            ConfigError::at(file, "daemon.token_file", format!("{}: {e}", token_file.display()))
                        })?;
                if token.trim().is_empty() {
                    let why = format!("{}: the token file is empty", token_file.display());
                    return Err(ConfigError::at(file, "daemon.token_file", why));
                }
            }
            if let Some(ca) = &d.ca_file {
                let pem = census_proto::config::read_operator_bytes(ca, census_proto::config::MAX_PEM_FILE)
                    .map_err(|e| ConfigError::at(file, "daemon.ca_file", format!("{}: {e}", ca.display())))?;
                if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                    let why = format!("{}: no PEM certificate in it", ca.display());
                    return Err(ConfigError::at(file, "daemon.ca_file", why));
                }
            }
            if let Some(pin) = &d.pin_sha256 {
                let hex: String = pin.chars().filter(|c| *c != ':').collect();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(ConfigError::at(
                        file,
                        "daemon.pin_sha256",
                        format!("`{pin}` is not a SHA-256 fingerprint (64 hex digits, colons allowed)"),
                    ));
                }
            }
            Some(DaemonTarget {
                url: url.trim_end_matches('/').to_string(),
                token_file,
                ca_file: d.ca_file,
                pin_sha256: d.pin_sha256,
                timeout,
                retry_max: duration_in(
                    file,
                    "daemon.retry_max",
                    d.retry_max.as_deref(),
                    Duration::from_secs(300),
                    (Duration::from_secs(1), Duration::from_secs(3600)),
                )?,
            })
        }
    };
    let defaults = Limits::default();
    let limits = Limits {
        rate: positive(file, "limits.rate", raw.limits.rate, defaults.rate.get(), 10_000_000)?,
        max_in_flight: positive(
            file,
            "limits.max_in_flight",
            raw.limits.max_in_flight,
            defaults.max_in_flight.get(),
            1_000_000,
        )?,
        max_target_addresses: u64::from(
            positive(
                file,
                "limits.max_target_addresses",
                raw.limits.max_target_addresses,
                DEFAULT_MAX_TARGET_ADDRESSES as u32,
                u32::MAX,
            )?
            .get(),
        ),
        allow_large_targets: raw.limits.allow_large_targets.unwrap_or(false),
    };
    let mut segments = Vec::with_capacity(raw.segment.len());
    for (i, s) in raw.segment.into_iter().enumerate() {
        segments.push(validate_segment(file, i, s, &limits)?);
    }
    for (i, s) in segments.iter().enumerate() {
        if segments[..i].iter().any(|o| o.name == s.name) {
            return Err(ConfigError::at(
                file,
                format!("segment[{i}].name"),
                format!("segment name `{}` is used twice", s.name),
            ));
        }
    }
    let oui_overrides = match raw.agent.oui_file {
        None => None,
        Some(p) => {
            let text = census_proto::config::read_operator_file(&p, crate::fingerprint::vendor::MAX_OVERRIDE_FILE)
                .map_err(|e| ConfigError::at(file, "agent.oui_file", format!("{}: {e}", p.display())))?;
            let parsed = crate::fingerprint::vendor::parse_overrides(&text)
                .map_err(|e| ConfigError::at(file, "agent.oui_file", format!("{}: {e}", p.display())))?;
            Some((p, parsed))
        }
    };
    let metrics_listen = match raw.metrics.listen {
        None => None,
        Some(v) => {
            Some(census_metrics::parse_listen(&v).map_err(|e| ConfigError::at(file, "metrics.listen", e.to_string()))?)
        }
    };
    Ok(AgentConfig {
        metrics_listen,
        source: file.to_path_buf(),
        oui_overrides,
        agent_id,
        state_dir: raw.agent.state_dir.unwrap_or_else(|| PathBuf::from("/var/lib/census/agent")),
        spool_max_bytes: u64::from(spool_mb.get()) * 1024 * 1024,
        daemon,
        limits,
        segments,
    })
}

/// The technique names accepted in configuration and on the command line.
pub fn parse_technique(name: &str) -> Result<Technique, String> {
    match name.trim() {
        "arp" => Ok(Technique::Arp),
        "icmp" => Ok(Technique::Icmp),
        "tcp" => Ok(Technique::Tcp),
        other => Err(format!("unknown technique `{other}`; expected arp, icmp or tcp")),
    }
}

fn validate_segment(file: &Path, i: usize, s: RawSegment, limits: &Limits) -> Result<Segment, ConfigError> {
    let key = |k: &str| format!("segment[{i}].{k}");
    if s.name.trim().is_empty() {
        return Err(ConfigError::at(file, key("name"), "must not be empty"));
    }
    if s.targets.is_empty() {
        return Err(ConfigError::at(file, key("targets"), "expected at least one CIDR, range or address"));
    }
    for (j, t) in s.targets.iter().enumerate() {
        crate::targets::parse_interval(t)
            .map_err(|e| ConfigError::at(file, format!("segment[{i}].targets[{j}]"), e))?;
    }
    for (j, t) in s.exclude.iter().enumerate() {
        crate::targets::parse_interval(t)
            .map_err(|e| ConfigError::at(file, format!("segment[{i}].exclude[{j}]"), e))?;
    }
    let targets = TargetSet::parse(&s.targets, &s.exclude).map_err(|e| ConfigError::at(file, key("targets"), e))?;
    check_target_size(&targets, limits).map_err(|e| ConfigError::at(file, key("targets"), e))?;
    let techniques = match &s.techniques {
        None => vec![Technique::Arp, Technique::Icmp, Technique::Tcp],
        Some(list) => {
            let mut out = Vec::new();
            for (j, t) in list.iter().enumerate() {
                let t = parse_technique(t)
                    .map_err(|e| ConfigError::at(file, format!("segment[{i}].techniques[{j}]"), e))?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            if out.is_empty() {
                return Err(ConfigError::at(file, key("techniques"), "expected at least one of arp, icmp, tcp"));
            }
            out
        }
    };
    let ports =
        PortSet::parse(s.ports.as_deref().unwrap_or("top100")).map_err(|e| ConfigError::at(file, key("ports"), e))?;
    let interval = duration_in(
        file,
        &key("interval"),
        s.interval.as_deref(),
        Duration::from_secs(3600),
        (Duration::from_secs(1), Duration::from_secs(7 * 86_400)),
    )?;
    let jitter = duration_in(file, &key("jitter"), s.jitter.as_deref(), interval / 10, (Duration::ZERO, interval))?;
    let probe_timeout = match s.probe_timeout.as_deref() {
        None => None,
        given => Some(duration_in(
            file,
            &key("probe_timeout"),
            given,
            options::DEFAULT_PROBE_TIMEOUT,
            options::PROBE_TIMEOUT_RANGE,
        )?),
    };
    let retries = s.retries.unwrap_or(i64::from(options::DEFAULT_RETRIES));
    let retries = u8::try_from(retries).ok().filter(|r| *r <= options::MAX_RETRIES).ok_or_else(|| {
        ConfigError::at(
            file,
            key("retries"),
            format!("expected {}, found {retries}", options::OptionError::Retries.allowed()),
        )
    })?;
    let quiet_hours = match &s.quiet_hours {
        Some(q) => {
            Some(crate::schedule::QuietHours::parse(q).map_err(|e| ConfigError::at(file, key("quiet_hours"), e))?)
        }
        None => None,
    };
    let names = segment_names(file, i, &s)?;
    let max_duration = duration_in(
        file,
        &key("max_duration"),
        s.max_duration.as_deref(),
        options::DEFAULT_MAX_DURATION,
        options::MAX_DURATION_RANGE,
    )?;
    let sweep = SweepOptions::new(probe_timeout, retries, max_duration).map_err(|e| {
        let field = match e {
            options::OptionError::ProbeTimeout => "probe_timeout",
            options::OptionError::Retries => "retries",
            options::OptionError::MaxDuration => "max_duration",
        };
        ConfigError::at(file, key(field), format!("expected {}", e.allowed()))
    })?;
    if let Some(ifname) = &s.interface
        && (ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ']))
    {
        return Err(ConfigError::at(file, key("interface"), format!("`{ifname}` is not an interface name")));
    }
    Ok(Segment {
        name: s.name,
        targets,
        target_specs: s.targets,
        exclude_specs: s.exclude,
        interface: s.interface,
        techniques,
        ports,
        interval,
        jitter,
        sweep,
        quiet_hours,
        names,
        services: s.services.unwrap_or(true),
        passive: s.passive.unwrap_or(false),
    })
}

/// `names`, `name_sources` and `dns_servers` of segment `i`.
fn segment_names(file: &Path, i: usize, s: &RawSegment) -> Result<Option<crate::names::NameLookup>, ConfigError> {
    use crate::names::{NameLookup, NameSources};
    let sources = match &s.name_sources {
        None => NameSources::ALL,
        Some(list) => list
            .join(",")
            .parse::<NameSources>()
            .map_err(|e| ConfigError::at(file, format!("segment[{i}].name_sources"), e))?,
    };
    let mut dns_servers = Vec::new();
    for (j, d) in s.dns_servers.iter().enumerate() {
        let ip = d.parse::<std::net::IpAddr>().map_err(|_| {
            ConfigError::at(file, format!("segment[{i}].dns_servers[{j}]"), format!("`{d}` is not an IP address"))
        })?;
        dns_servers.push(ip);
    }
    Ok(s.names.unwrap_or(true).then_some(NameLookup { sources, dns_servers }))
}

fn default_agent_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "census-agent".to_string())
}
