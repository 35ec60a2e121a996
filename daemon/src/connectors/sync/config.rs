//! `[sync.snipeit]` and `[sync.netbox]`: where the register is, the file
//! its token is in (never the token itself), TLS, the schedule, and the
//! tables from upstream statuses and kinds to lifecycle stages and types.
//!
//! ```toml
//! [sync.snipeit]
//! url = "https://snipeit.example.org"
//! token_file = "/etc/census/snipeit.token"
//! interval = "1h"                      # also on a schedule (else on request only)
//! mac_fields = ["MAC Address"]         # custom fields holding MACs
//! last_seen_field = "_snipeit_last_seen_by_census_7"   # write-back, optional
//! [sync.snipeit.status_map]
//! "Out for Repair" = "maintenance"
//! [sync.snipeit.type_map]
//! "Laptops" = "endpoint"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use census_proto::config::{ConfigError, duration_in};
use reqwest::Url;
use serde::Deserialize;

use super::{Mapping, System};
use crate::register::{AssetType, Lifecycle};

/// `[sync.*]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    url: Option<String>,
    token_file: Option<PathBuf>,
    token: Option<serde::de::IgnoredAny>,
    ca_file: Option<PathBuf>,
    tls_verify: Option<bool>,
    plaintext: Option<bool>,
    timeout: Option<String>,
    interval: Option<String>,
    max_records: Option<i64>,
    mac_fields: Option<Vec<String>>,
    owner_from: Option<String>,
    last_seen_field: Option<String>,
    #[serde(default)]
    status_map: BTreeMap<String, String>,
    #[serde(default)]
    type_map: BTreeMap<String, String>,
}

/// `[sync]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyncs {
    snipeit: Option<RawSync>,
    netbox: Option<RawSync>,
}

/// Which field of Snipe-IT's assigned user is the asset's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFrom {
    /// `username` (the default; the directory id when Snipe-IT syncs from LDAP).
    Username,
    /// `email`.
    Email,
    /// `employee_number`.
    EmployeeNumber,
}

/// One validated `[sync.*]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Which system.
    pub system: System,
    /// Its base URL (the API paths are joined under it).
    pub url: Url,
    /// The file holding the API token (read at each sync).
    pub token_file: PathBuf,
    /// A private CA to trust (PEM).
    pub ca_file: Option<PathBuf>,
    /// Verify the server's certificate (default on).
    pub tls_verify: bool,
    /// Timeout per request.
    pub timeout: Duration,
    /// Sync on this schedule as well as on request.
    pub interval: Option<Duration>,
    /// Most records one sync reads (more fails the sync).
    pub max_records: usize,
    /// Snipe-IT custom fields (by name or column) holding MACs.
    pub mac_fields: Vec<String>,
    /// Snipe-IT: the assigned user's field that is the owner.
    pub owner_from: OwnerFrom,
    /// The custom field "last seen by Census" is written to, when set.
    pub last_seen_field: Option<String>,
    /// Status and kind tables.
    pub mapping: Mapping,
}

/// Default most records one sync reads.
pub const DEFAULT_MAX_RECORDS: usize = 200_000;

/// Validated `[sync]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncConfigs {
    /// `[sync.snipeit]`.
    pub snipeit: Option<SyncConfig>,
    /// `[sync.netbox]`.
    pub netbox: Option<SyncConfig>,
}

impl SyncConfigs {
    /// The configuration of `system`, when there is one.
    pub fn get(&self, system: System) -> Option<&SyncConfig> {
        match system {
            System::SnipeIt => self.snipeit.as_ref(),
            System::NetBox => self.netbox.as_ref(),
        }
    }
}

/// Validate `[sync]`.
///
/// # Errors
/// The first key that is missing or wrong, named.
pub fn validate(file: &Path, raw: RawSyncs) -> Result<SyncConfigs, ConfigError> {
    Ok(SyncConfigs {
        snipeit: raw.snipeit.map(|r| validate_one(file, System::SnipeIt, r)).transpose()?,
        netbox: raw.netbox.map(|r| validate_one(file, System::NetBox, r)).transpose()?,
    })
}

fn loopback(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

fn validate_one(file: &Path, system: System, raw: RawSync) -> Result<SyncConfig, ConfigError> {
    let key = |k: &str| format!("sync.{}.{k}", system.as_str());
    let at = |k: &str, m: String| ConfigError::at(file, key(k), m);
    if raw.token.is_some() {
        return Err(at(
            "token",
            "the token is never written in the configuration: put it in a file and name it \
            with token_file (readable by censusd only)"
                .into(),
        ));
    }
    let url_text = raw.url.ok_or_else(|| at("url", "required".into()))?;
    let url = Url::parse(url_text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| at("url", format!("`{}` is not an http:// or https:// URL", url_text.escape_debug())))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(at(
            "url",
            "give the base URL only: no credentials, no query (the token goes in token_file)".into(),
        ));
    }
    if url.scheme() == "http" && !loopback(&url) && raw.plaintext != Some(true) {
        return Err(at(
            "url",
            format!(
                "{url} would send the token in clear text; use https:// (or set plaintext = true on a trusted link)"
            ),
        ));
    }
    let token_file = raw.token_file.ok_or_else(|| at("token_file", "required".into()))?;
    if !token_file.is_absolute() {
        return Err(at("token_file", format!("`{}` is not an absolute path", token_file.display())));
    }
    if let Some(ca) = &raw.ca_file {
        let pem = census_proto::config::read_operator_bytes(ca, census_proto::config::MAX_PEM_FILE)
            .map_err(|e| at("ca_file", format!("{}: {e}", ca.display())))?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice()).filter(Result::is_ok).count();
        if certs == 0 {
            return Err(at("ca_file", format!("{} holds no PEM certificate", ca.display())));
        }
    }
    let timeout = duration_in(
        file,
        &key("timeout"),
        raw.timeout.as_deref(),
        Duration::from_secs(30),
        (Duration::from_secs(1), Duration::from_secs(600)),
    )?;
    let interval = raw
        .interval
        .as_deref()
        .map(|i| {
            let range = (Duration::from_secs(60), Duration::from_secs(7 * 86_400));
            duration_in(file, &key("interval"), Some(i), Duration::ZERO, range)
        })
        .transpose()?;
    let max_records = match raw.max_records {
        None => DEFAULT_MAX_RECORDS,
        Some(n) if (1..=10_000_000).contains(&n) => usize::try_from(n).unwrap_or(DEFAULT_MAX_RECORDS),
        Some(n) => return Err(at("max_records", format!("{n} is not between 1 and 10000000"))),
    };
    if system == System::NetBox {
        if raw.mac_fields.is_some() {
            return Err(at("mac_fields", "is a Snipe-IT setting; NetBox's MACs come from its interfaces".into()));
        }
        if raw.owner_from.is_some() {
            return Err(at("owner_from", "is a Snipe-IT setting; NetBox devices have no assigned user".into()));
        }
    }
    let owner_from = match raw.owner_from.as_deref().map(str::trim) {
        None | Some("username") => OwnerFrom::Username,
        Some("email") => OwnerFrom::Email,
        Some("employee_number") => OwnerFrom::EmployeeNumber,
        Some(o) => {
            return Err(at("owner_from", format!("`{}` is not username, email or employee_number", o.escape_debug())));
        }
    };
    let field_ok = |f: &str| !f.trim().is_empty() && f.len() <= 100 && !f.chars().any(char::is_control);
    let mac_fields = raw.mac_fields.unwrap_or_else(|| vec!["MAC Address".into()]);
    if let Some(f) = mac_fields.iter().find(|f| !field_ok(f)) {
        return Err(at("mac_fields", format!("`{}` is not a field name", f.escape_debug())));
    }
    let last_seen_field = raw.last_seen_field.map(|f| f.trim().to_string());
    if let Some(f) = last_seen_field.as_deref().filter(|f| !field_ok(f)) {
        return Err(at("last_seen_field", format!("`{}` is not a field name", f.escape_debug())));
    }
    let mut mapping = Mapping::default();
    for (status, stage) in raw.status_map {
        let stage: Lifecycle = stage.parse().map_err(|e: String| at(&format!("status_map.{status}"), e))?;
        mapping.status.insert(status.trim().to_lowercase(), stage);
    }
    for (kind, t) in raw.type_map {
        let t: AssetType = t.parse().map_err(|e: String| at(&format!("type_map.{kind}"), e))?;
        mapping.types.insert(kind.trim().to_lowercase(), t);
    }
    Ok(SyncConfig {
        system,
        url,
        token_file,
        ca_file: raw.ca_file,
        tls_verify: raw.tls_verify.unwrap_or(true),
        timeout,
        interval,
        max_records,
        mac_fields,
        owner_from,
        last_seen_field,
        mapping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SyncConfigs, String> {
        let raw: RawSyncs = toml::from_str(text).map_err(|e| e.to_string())?;
        validate(Path::new("censusd.toml"), raw).map_err(|e| e.to_string())
    }

    #[test]
    fn a_token_in_the_text_is_refused_and_a_file_is_required() {
        let e = parse("[snipeit]\nurl = \"https://s.example\"\ntoken = \"abc\"\n").unwrap_err();
        assert!(e.contains("sync.snipeit.token") && e.contains("token_file"), "{e}");
        let e = parse("[netbox]\nurl = \"https://n.example\"\n").unwrap_err();
        assert!(e.contains("sync.netbox.token_file") && e.contains("required"), "{e}");
        let e = parse("[netbox]\nurl = \"https://n\"\ntoken_file = \"netbox.token\"\n").unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = parse("[netbox]\nurl = \"https://n\"\ntoken_file = \"/t\"\nca_file = \"/nonexistent/ca.pem\"\n")
            .unwrap_err();
        assert!(e.contains("sync.netbox.ca_file"), "{e}");
        let e = parse("[netbox]\nurl = \"https://n\"\ntoken_file = \"/t\"\nca_file = \"/etc/hostname\"\n").unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn clear_text_is_refused_off_loopback_and_tls_is_verified_by_default() {
        let e = parse("[snipeit]\nurl = \"http://s.example\"\ntoken_file = \"/t\"\n").unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        let c = parse("[snipeit]\nurl = \"http://127.0.0.1:8080/snipe\"\ntoken_file = \"/t\"\n").unwrap();
        let s = c.snipeit.unwrap();
        assert!(s.tls_verify);
        assert_eq!(s.mac_fields, ["MAC Address"]);
        let e = parse("[snipeit]\nurl = \"https://u:p@s.example\"\ntoken_file = \"/t\"\n").unwrap_err();
        assert!(e.contains("no credentials"), "{e}");
    }

    #[test]
    fn maps_are_checked_and_snipeit_settings_stay_with_snipeit() {
        let e = parse("[snipeit]\nurl = \"https://s\"\ntoken_file = \"/t\"\n[snipeit.status_map]\nBroken = \"gone\"\n")
            .unwrap_err();
        assert!(e.contains("sync.snipeit.status_map.Broken") && e.contains("disposed"), "{e}");
        let e = parse("[netbox]\nurl = \"https://n\"\ntoken_file = \"/t\"\nmac_fields = [\"MAC\"]\n").unwrap_err();
        assert!(e.contains("sync.netbox.mac_fields"), "{e}");
        let c = parse(
            "[netbox]\nurl = \"https://n\"\ntoken_file = \"/t\"\n[netbox.type_map]\n\"Core Switch\" = \"network\"\n",
        )
        .unwrap();
        assert_eq!(c.netbox.unwrap().mapping.types["core switch"], AssetType::Network);
    }
}
