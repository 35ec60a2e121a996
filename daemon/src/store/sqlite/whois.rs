//! Loading a whois answer: an IP, a MAC, an asset tag or a host name is
//! resolved through indexed lookups only (observed hosts, reconciliation's
//! matches, the register's keys, observed names), so the answer stays in
//! single-digit milliseconds with a million-asset register. Which asset the
//! answer is about is decided by [`crate::whois::pick`]; the verdict by
//! [`crate::whois::answer`].

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;
use crate::whois::{WhoisData, WhoisHost, pick};

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
            present: false,
            missed_sweeps: 0,
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
    Ok(c.prepare_cached("SELECT tag FROM asset_keys WHERE kind = ?1 AND value = ?2 ORDER BY tag LIMIT 1")?
        .query_row([kind, value], |r| r.get(0))
        .optional()?)
}

/// The stored tag spelled as asked, case-insensitively.
pub fn tag_nocase(c: &Connection, tag: &str) -> Result<Option<String>, StoreError> {
    Ok(c.prepare_cached("SELECT tag FROM assets WHERE tag = ?1 COLLATE NOCASE ORDER BY tag LIMIT 1")?
        .query_row([tag], |r| r.get(0))
        .optional()?)
}

/// Load what is known about `query`; `None` when nothing at all is.
pub fn whois(c: &Connection, query: &str) -> Result<Option<WhoisData>, StoreError> {
    let q = query.trim();
    let (kind, mut hosts, register) = if let Ok(ip) = q.parse::<IpAddr>() {
        let ip = ip.to_canonical().to_string();
        ("ip", hosts_where(c, "h.ip = ?1", &ip)?, key_tag(c, "ip", &ip)?)
    } else if let Ok(mac) = q.parse::<census_proto::MacAddr>() {
        let mac = mac.to_string();
        let hosts = hosts_where(c, "h.ip IN (SELECT ip FROM mac_ip WHERE mac = ?1) AND h.mac = ?1", &mac)?;
        ("mac", hosts, key_tag(c, "mac", &mac)?)
    } else if let Some(tag) = tag_nocase(c, q)? {
        ("tag", Vec::new(), Some(tag))
    } else if let Some(tag) = q
        .split_once(':')
        .map(|(system, id)| format!("{}:{id}", system.to_ascii_lowercase()))
        .map(|id| key_tag(c, "external_id", &id))
        .transpose()?
        .flatten()
    {
        ("external_id", Vec::new(), Some(tag))
    } else if let Some(tag) = key_tag(c, "serial", &q.to_lowercase())? {
        ("serial", Vec::new(), Some(tag))
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
        ("hostname", hosts, tag)
    };
    let matched = hosts.iter().find_map(|(_, t)| t.clone());
    let (answering, other) = pick(kind, matched.as_deref(), register.as_deref(), !hosts.is_empty());
    let asset = match &answering {
        Some(t) => super::assets::one(c, t)?,
        None => None,
    };
    if let Some(a) = &asset {
        // Every address the asset answers on: one asset, however many MACs and IPs.
        if kind != "ip" {
            hosts.retain(|(_, t)| t.as_deref() == Some(a.tag.as_str()));
        }
        for h in hosts_where(c, "h.ip IN (SELECT ip FROM host_matches WHERE tag = ?1)", &a.tag)? {
            if !hosts.iter().any(|(o, _)| o.ip == h.0.ip) {
                hosts.push(h);
            }
        }
    }
    let recorded = match &other {
        Some(t) => super::assets::one(c, t)?.map(|a| {
            let state = super::reconcile::asset_state(c, &a.tag).ok().flatten();
            (a, state)
        }),
        None => None,
    };
    if asset.is_none() && hosts.is_empty() && recorded.is_none() {
        return Ok(None);
    }
    let seen = match &asset {
        Some(a) => super::reconcile::asset_state(c, &a.tag)?,
        None => None,
    };
    let ips: Vec<String> = hosts.iter().map(|(h, _)| h.ip.clone()).collect();
    let alerts = super::alerts::live_about(c, asset.as_ref().map(|a| a.tag.as_str()), &ips)?;
    Ok(Some(WhoisData {
        query_kind: kind,
        asset,
        seen,
        recorded,
        hosts: hosts.into_iter().map(|(h, _)| h).collect(),
        alerts,
        owner: None,
    }))
}

/// Addresses whose latest sighting served a certificate (`"tls"` is written
/// into the sighting only when one was), with their latest observations.
pub fn certificate_hosts(c: &Connection) -> Result<Vec<crate::certificates::HostTls>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT h.ip, h.last_seen_ms, h.last_agent, m.tag, o.body FROM hosts h
           JOIN observations o ON o.id = h.latest_obs LEFT JOIN host_matches m ON m.ip = h.ip
          WHERE instr(h.sighting, '\"tls\"') > 0 ORDER BY h.ip",
    )?;
    let rows =
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)))?;
    let mut since: std::collections::HashMap<String, Vec<(u16, String, i64)>> = Default::default();
    let mut st_since = c.prepare_cached("SELECT ip, port, sha256, first_ms FROM served_certificates")?;
    for r in st_since.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))? {
        let (ip, port, sha, first) = r?;
        since.entry(ip).or_default().push((port, sha, first));
    }
    let mut out = Vec::new();
    for row in rows {
        let (ip, last_seen_ms, agent, asset, body) = row?;
        match serde_json::from_str(&body) {
            Ok(observation) => {
                let first_served = since.remove(&ip).unwrap_or_default();
                out.push(crate::certificates::HostTls { ip, last_seen_ms, agent, asset, observation, first_served })
            }
            Err(e) => {
                tracing::warn!(ip, error = %e, "an observation does not decode; left out of the certificate inventory")
            }
        }
    }
    Ok(out)
}
