//! The responder's question in one query: what is this host, who owns it,
//! what is licensed on it, should it still exist?
//!
//! An IP, a MAC or a host name is resolved through indexed lookups only
//! (observed hosts, the register's keys, observed names), so the answer
//! stays in single-digit milliseconds with a million-asset register.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::StoreError;
use crate::alerts::{Alert, AlertKind};
use crate::reconcile::{AssetState, Identity};
use crate::register::Asset;

/// One observed address in a whois answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhoisHost {
    /// Address.
    pub ip: String,
    /// MAC last seen on it.
    pub mac: Option<String>,
    /// First sighting (unix ms).
    pub first_seen_ms: i64,
    /// Last sighting (unix ms).
    pub last_seen_ms: i64,
    /// Agent that saw it last.
    pub last_agent: String,
    /// How it was matched to the register (or why not).
    pub identity: Option<Identity>,
    /// The latest observation as the agent sent it: ports, services, fingerprints, names.
    pub observation: serde_json::Value,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhoisAnswer {
    /// What was asked.
    pub query: String,
    /// `ip`, `mac` or `hostname`.
    pub query_kind: &'static str,
    /// One line: is it known, and should it exist?
    pub verdict: String,
    /// The register entry (owner, lifecycle, licences, support dates, expected services).
    pub asset: Option<Asset>,
    /// Reconciliation's memory of it: first/last seen, where, by which agent.
    pub seen: Option<AssetState>,
    /// Observed addresses behind the answer, latest first.
    pub hosts: Vec<WhoisHost>,
    /// Its live alerts.
    pub alerts: Vec<Alert>,
}

const HOST_COLUMNS: &str = "h.ip, h.mac, h.first_seen_ms, h.last_seen_ms, h.last_agent, m.info, o.body, m.tag";

fn host_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(WhoisHost, Option<String>)> {
    let info: Option<String> = r.get(5)?;
    let body: String = r.get(6)?;
    Ok((
        WhoisHost {
            ip: r.get(0)?,
            mac: r.get(1)?,
            first_seen_ms: r.get(2)?,
            last_seen_ms: r.get(3)?,
            last_agent: r.get(4)?,
            identity: info.and_then(|i| serde_json::from_str(&i).ok()),
            observation: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        },
        r.get(7)?,
    ))
}

fn hosts_where(c: &Connection, clause: &str, arg: &str) -> Result<Vec<(WhoisHost, Option<String>)>, StoreError> {
    let sql = format!(
        "SELECT {HOST_COLUMNS} FROM hosts h JOIN observations o ON o.id = h.latest_obs
         LEFT JOIN host_matches m ON m.ip = h.ip WHERE {clause}
         ORDER BY h.last_seen_ms DESC LIMIT 20"
    );
    Ok(c.prepare_cached(&sql)?.query_map([arg], host_row)?.collect::<Result<Vec<_>, _>>()?)
}

fn key_tag(c: &Connection, kind: &str, value: &str) -> Result<Option<String>, StoreError> {
    Ok(c.prepare_cached("SELECT tag FROM asset_keys WHERE kind = ?1 AND value = ?2 LIMIT 1")?
        .query_row([kind, value], |r| r.get(0))
        .optional()?)
}

/// Answer a whois query; `None` when nothing at all is known.
pub fn whois(c: &Connection, query: &str, now_ms: i64, window_ms: i64) -> Result<Option<WhoisAnswer>, StoreError> {
    let q = query.trim();
    let (kind, mut hosts, mut tag) = if let Ok(ip) = q.parse::<IpAddr>() {
        let ip = ip.to_string();
        let hosts = hosts_where(c, "h.ip = ?1", &ip)?;
        let tag = match hosts.first().and_then(|(_, t)| t.clone()) {
            Some(t) => Some(t),
            None => key_tag(c, "ip", &ip)?,
        };
        ("ip", hosts, tag)
    } else if let Ok(mac) = q.parse::<census_proto::MacAddr>() {
        let mac = mac.to_string();
        let hosts = hosts_where(c, "h.ip IN (SELECT ip FROM mac_ip WHERE mac = ?1) AND h.mac = ?1", &mac)?;
        let tag = match key_tag(c, "mac", &mac)? {
            Some(t) => Some(t),
            None => hosts.iter().find_map(|(_, t)| t.clone()),
        };
        ("mac", hosts, tag)
    } else {
        let name = q.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Ok(None);
        }
        let mut hosts = hosts_where(c, "h.ip IN (SELECT ip FROM host_names WHERE name = ?1)", &name)?;
        if hosts.is_empty() && !name.contains('.') {
            let prefix = format!("{name}.");
            hosts =
                hosts_where(c, "h.ip IN (SELECT ip FROM host_names WHERE name > ?1 AND name < ?1 || '~')", &prefix)?;
        }
        let mut tag = key_tag(c, "hostname", &name)?;
        if tag.is_none() && !name.contains('.') {
            tag = c
                .prepare_cached(
                    "SELECT tag FROM asset_keys WHERE kind = 'hostname' AND value > ?1 AND value < ?1 || '~' LIMIT 1",
                )?
                .query_row([format!("{name}.")], |r| r.get(0))
                .optional()?;
        }
        let tag = tag.or_else(|| hosts.iter().find_map(|(_, t)| t.clone()));
        ("hostname", hosts, tag)
    };
    let asset = match &tag {
        Some(t) => super::assets::one(c, t)?,
        None => None,
    };
    if asset.is_none() {
        tag = None;
    }
    if let Some(t) = &tag {
        // Every address the asset answers on: one asset, however many MACs and IPs.
        for h in hosts_where(c, "h.ip IN (SELECT ip FROM host_matches WHERE tag = ?1)", t)? {
            if !hosts.iter().any(|(o, _)| o.ip == h.0.ip) {
                hosts.push(h);
            }
        }
    }
    if asset.is_none() && hosts.is_empty() {
        return Ok(None);
    }
    let seen = match &tag {
        Some(t) => super::reconcile::asset_state(c, t)?,
        None => None,
    };
    let ips: Vec<String> = hosts.iter().map(|(h, _)| h.ip.clone()).collect();
    let alerts = super::alerts::live_about(c, tag.as_deref(), &ips)?;
    let hosts: Vec<WhoisHost> = hosts.into_iter().map(|(h, _)| h).collect();
    let verdict = verdict(asset.as_ref(), &hosts, &alerts, now_ms - window_ms);
    Ok(Some(WhoisAnswer { query: q.to_string(), query_kind: kind, verdict, asset, seen, hosts, alerts }))
}

fn verdict(asset: Option<&Asset>, hosts: &[WhoisHost], alerts: &[Alert], window_start: i64) -> String {
    let live = hosts.iter().any(|h| h.last_seen_ms >= window_start);
    let ambiguous = hosts.iter().find_map(|h| match &h.identity {
        Some(Identity::Ambiguous { candidates }) => {
            Some(candidates.iter().map(|c| c.tag.as_str()).collect::<Vec<_>>().join(", "))
        }
        _ => None,
    });
    match asset {
        None => match ambiguous {
            Some(c) => format!("ambiguous: fits register assets {c} equally; a person must decide"),
            None if alerts.iter().any(|a| a.kind == AlertKind::UnknownAsset) => {
                "unknown: no register asset matches (shadow IT alert open)".into()
            }
            None => "unknown: no register asset matches".into(),
        },
        Some(a) => {
            let owner =
                if a.owner.is_empty() { "no owner recorded".to_string() } else { format!("owned by {}", a.owner) };
            let since = a.lifecycle_since.map(|d| format!(" since {d}")).unwrap_or_default();
            let answering = if live { "answering" } else { "not answering now" };
            if a.lifecycle.retired() && live {
                format!("should NOT exist: {} is {}{since} but still answering; {owner}", a.tag, a.lifecycle)
            } else if a.lifecycle.retired() {
                format!("retired: {} is {}{since} and {answering}; {owner}", a.tag, a.lifecycle)
            } else {
                format!("registered: {} ({}) is {}{since}, {answering}; {owner}", a.tag, a.name, a.lifecycle)
            }
        }
    }
}
