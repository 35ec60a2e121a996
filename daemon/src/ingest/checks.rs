//! What the daemon checks in a batch before believing any of it — pure
//! functions over the decoded batch, tested without a server.
//!
//! An agent's token proves who sent a batch, not that its contents are
//! sane. So:
//! - **times are bounded by arrival**: a batch (or host) dated in the future
//!   is clamped to the time it arrived and flagged, so one bad clock can
//!   never freeze a host's "last seen" in 9999; a sweep that ends before it
//!   starts, host times outside their sweep, or a batch older than
//!   [`MAX_AGE_MS`] are refused;
//! - **scope is the agent's**: the targets a batch claims to have swept are
//!   clipped to the agent's segments, so an agent scoped to one /24 cannot
//!   make a sweep of `0.0.0.0/0` count against another segment's assets;
//! - **every field is bounded**: [`caps`] lists the limits, and the error
//!   names the field and the limit;
//! - **identity comes only from values that can identify**: a broadcast,
//!   multicast or all-zero MAC, or an address that is not a host's, refuses
//!   that observation (listed with the reason); `::ffff:198.18.0.5` is the
//!   IPv4 host `198.18.0.5`.

use std::collections::HashSet;
use std::net::IpAddr;

use census_proto::{HostObservation, MacAddr, RawBatch};
use ipnet::IpNet;

use super::ms;

/// Batches whose sweep finished longer ago than this are refused (90 days).
pub const MAX_AGE_MS: i64 = 90 * 86_400_000;
/// A sweep longer than this is refused (7 days).
pub const MAX_SWEEP_MS: i64 = 7 * 86_400_000;
/// Clock skew tolerated without flagging the batch as clamped (60 s).
pub const SKEW_MS: i64 = 60_000;

/// Limits on what one batch may carry.
pub mod caps {
    /// Segment name, characters.
    pub const SEGMENT_NAME: usize = 64;
    /// Targets or exclusions per batch.
    pub const NETWORKS: usize = 256;
    /// Techniques per batch.
    pub const TECHNIQUES: usize = 8;
    /// The compact list of probed ports, characters.
    pub const PORT_LIST: usize = 65_536;
    /// Short text: reasons, vendors, service names, products, versions, fingerprint values.
    pub const TEXT: usize = 256;
    /// Long text: banners, titles, certificate subjects and issuers.
    pub const LONG_TEXT: usize = 1024;
    /// A host name (RFC 1035).
    pub const NAME: usize = 253;
    /// Names per host.
    pub const NAMES: usize = 64;
    /// Ports reported per host.
    pub const PORTS: usize = 65_536;
    /// Further MACs per host.
    pub const MACS: usize = 16;
    /// Fingerprint guesses per host, and evidence lines per guess.
    pub const FINGERPRINTS: usize = 16;
    /// Subject alternative names per certificate.
    pub const SANS: usize = 256;
    /// Option kinds in a SYN-ACK's signature: a TCP header holds at most 40
    /// bytes of options (RFC 9293 §3.1), each at least one byte.
    pub const TCP_OPTIONS: usize = 40;
}

/// A refusal naming the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `segment.name`, `hosts[3].last_seen`, ...
    pub field: String,
    /// What is wrong, with the limit where there is one.
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal { field: field.into(), message: message.into() }
}

// The checks below name their field with a closure: the name is built
// only when the check fails (a 1,000-host batch checks tens of thousands
// of fields, and each used to format its name, e.g. `hosts[812].names[0].name`,
// before looking at the value).

fn text(field: impl FnOnce() -> String, value: &str, cap: usize) -> Result<(), Refusal> {
    if value.len() > cap {
        let n = value.chars().count();
        if n > cap {
            return Err(refuse(field(), format!("is {n} characters; the limit is {cap}")));
        }
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(refuse(field(), "contains control characters"));
    }
    Ok(())
}

/// `options` is a SYN-ACK's option kinds as the agent writes them, p0f-style
/// ([`census_proto::SynAckSignature::options`]): empty, or up to
/// [`caps::TCP_OPTIONS`] of `M` `N` `W` `S` `T` `E` or `?` and a kind number
/// (0-255), comma-separated.
fn tcp_option_kinds(options: &str) -> bool {
    options.is_empty()
        || options.split(',').count() <= caps::TCP_OPTIONS
            && options.split(',').all(|k| match k.strip_prefix('?') {
                Some(n) => {
                    !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u8>().is_ok()
                }
                None => matches!(k, "M" | "N" | "W" | "S" | "T" | "E"),
            })
}

fn count<T>(field: impl FnOnce() -> String, v: &[T], cap: usize) -> Result<(), Refusal> {
    if v.len() > cap {
        return Err(refuse(field(), format!("has {} entries; the limit is {cap}", v.len())));
    }
    Ok(())
}

fn unit(field: impl FnOnce() -> String, v: f64) -> Result<(), Refusal> {
    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
        return Err(refuse(field(), format!("{v} is not between 0 and 1")));
    }
    Ok(())
}

/// The envelope after its checks: times clamped to arrival, targets clipped to the agent's segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Sweep start (unix ms).
    pub started_ms: i64,
    /// Sweep end (unix ms), at most the arrival time.
    pub finished_ms: i64,
    /// The batch said it was from the future and was clamped.
    pub clamped: bool,
    /// Targets inside the agent's segments.
    pub targets: Vec<IpNet>,
    /// Exclusions.
    pub excluded: Vec<IpNet>,
    /// Ports the complete TCP sweep probed, compact.
    pub probed: Option<String>,
    /// The agent's interval for this segment (ms) and when the next sweep is due (unix ms).
    pub schedule: Option<(i64, i64)>,
}

/// The part of `targets` inside `allowed`: a target inside a segment is
/// kept, a segment inside a target (a claim wider than the agent's scope)
/// is kept instead of it, anything else is dropped.
pub fn clip(targets: &[IpNet], allowed: &[IpNet]) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = Vec::new();
    for t in targets {
        for a in allowed {
            let kept = if a.contains(t) {
                Some(*t)
            } else if t.contains(a) {
                Some(*a)
            } else {
                None
            };
            if let Some(k) = kept.map(|n| n.trunc())
                && !out.contains(&k)
            {
                out.push(k);
            }
        }
    }
    out
}

/// Check a batch's envelope from an agent scoped to `segments`, arriving at `received_ms`.
///
/// # Errors
/// The first field at fault.
pub fn envelope(b: &RawBatch<'_>, segments: &[IpNet], received_ms: i64) -> Result<Envelope, Refusal> {
    text(|| "segment.name".into(), &b.segment.name, caps::SEGMENT_NAME)?;
    if b.segment.name.trim().is_empty() {
        return Err(refuse("segment.name", "is empty"));
    }
    count(|| "segment.targets".into(), &b.segment.targets, caps::NETWORKS)?;
    count(|| "segment.excluded".into(), &b.segment.excluded, caps::NETWORKS)?;
    let c = &b.completeness;
    count(|| "completeness.techniques".into(), &c.techniques, caps::TECHNIQUES)?;
    unit(|| "completeness.estimated_loss".into(), c.estimated_loss)?;
    if !c.rate_achieved_pps.is_finite() || c.rate_achieved_pps < 0.0 {
        return Err(refuse("completeness.rate_achieved_pps", format!("{} is not a rate", c.rate_achieved_pps)));
    }
    for (i, t) in c.techniques.iter().enumerate() {
        if let Some(r) = &t.reason {
            text(|| format!("completeness.techniques[{i}].reason"), r, caps::TEXT)?;
        }
        if let Some(p) = &t.ports {
            let field = format!("completeness.techniques[{i}].ports");
            text(|| field.clone(), p, caps::PORT_LIST)?;
            let ok = p.split(',').all(|part| {
                let (a, b) = part.trim().split_once('-').unwrap_or((part.trim(), part.trim()));
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a >= 1 && a <= b)
            });
            if !ok {
                return Err(refuse(field, "is not a list of ports 1-65535 such as 22,80,8000-8010"));
            }
        }
    }
    let (started, finished) = (ms(b.started_at), ms(b.finished_at));
    if finished < started {
        return Err(refuse("finished_at", "is before started_at"));
    }
    if finished - started > MAX_SWEEP_MS {
        return Err(refuse("started_at", "the sweep lasted more than a week; no agent sweeps that long"));
    }
    if finished < received_ms - MAX_AGE_MS {
        return Err(refuse("finished_at", "is more than 90 days ago; the daemon does not take batches that old"));
    }
    let clamped = finished > received_ms + SKEW_MS;
    let shift = (finished - received_ms).max(0);
    let (started_ms, finished_ms) = (started - shift, finished - shift);
    let probed = c
        .techniques
        .iter()
        .find(|t| t.technique == census_proto::Technique::Tcp && t.status == census_proto::RunStatus::Complete)
        .and_then(|t| t.ports.clone());
    let schedule = b.schedule.filter(|s| s.interval_s > 0).map(|s| {
        let interval = (s.interval_s.min(365 * 86_400) * 1000) as i64;
        (interval, (ms(s.next_sweep_by) - shift).clamp(finished_ms, finished_ms + interval.max(60_000) * 3))
    });
    Ok(Envelope {
        started_ms,
        finished_ms,
        clamped,
        targets: clip(&b.segment.targets, segments),
        excluded: b.segment.excluded.iter().map(|e| e.trunc()).collect(),
        probed,
        schedule,
    })
}

/// Whether a MAC can identify a host: not a group (multicast, broadcast) or all-zero address.
pub fn identifying_mac(m: MacAddr) -> bool {
    !m.is_multicast() && m.0 != [0; 6]
}

/// Whether an address can be a host's: not unspecified, multicast or the IPv4 broadcast.
pub fn host_address(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()))
}

/// Check host `i` of a batch whose envelope passed: bounds its fields,
/// canonicalises its address and clamps its times into the sweep.
///
/// # Errors
/// `Ok(Some(note))`: stored, with what was set aside of it (listed to the
/// agent). `Err(Ok(reason))`: this observation is refused (listed to the agent),
/// the rest of the batch is stored. `Err(Err(refusal))`: the whole batch is
/// malformed (a field out of range or over its limit).
pub fn host(
    h: &mut HostObservation,
    i: usize,
    raw_started_ms: i64,
    raw_finished_ms: i64,
    env: &Envelope,
) -> Result<Option<String>, Result<String, Refusal>> {
    let at = |f: &str| format!("hosts[{i}].{f}");
    let bad = |f: &str, m: String| Err(Err(refuse(at(f), m)));
    h.ip = h.ip.to_canonical();
    if !host_address(h.ip) {
        return Err(Ok(format!("{} is not a host's address", h.ip)));
    }
    if let Some(m) = &h.mac
        && !identifying_mac(m.address)
    {
        return Err(Ok(format!("MAC {} is a group or all-zero address and cannot identify a host", m.address)));
    }
    let (first, last) = (ms(h.first_seen), ms(h.last_seen));
    if last < first {
        return bad("last_seen", "is before first_seen".into());
    }
    if first < raw_started_ms - SKEW_MS || last > raw_finished_ms + SKEW_MS {
        return bad("last_seen", "the host's times fall outside its sweep's started_at..finished_at".into());
    }
    // Clamp into the (already clamped) sweep.
    let shift = raw_finished_ms - env.finished_ms;
    let clamp = |t: i64| (t - shift).clamp(env.started_ms, env.finished_ms);
    h.first_seen = at_ms(clamp(first));
    h.last_seen = at_ms(clamp(last));
    let check = || -> Result<(), Refusal> {
        if let Some(m) = &h.mac
            && let Some(v) = &m.vendor
        {
            text(|| at("mac.vendor"), v, caps::TEXT)?;
        }
        if let Some(sa) = &h.syn_ack
            && !tcp_option_kinds(&sa.options)
        {
            return Err(refuse(
                at("syn_ack.options"),
                format!(
                    "is not a list of TCP option kinds (M, N, W, S, T, E or ?KIND, comma-separated, at most {})",
                    caps::TCP_OPTIONS
                ),
            ));
        }
        count(|| at("seen_by"), &h.seen_by, caps::TECHNIQUES)?;
        count(|| at("names"), &h.names, caps::NAMES)?;
        for (j, n) in h.names.iter().enumerate() {
            text(|| at(&format!("names[{j}].name")), &n.name, caps::NAME)?;
        }
        count(|| at("ports"), &h.ports, caps::PORTS)?;
        let mut seen_ports = HashSet::new();
        for (j, p) in h.ports.iter().enumerate() {
            if p.port.0 == 0 {
                return Err(refuse(at(&format!("ports[{j}].port")), "port 0 is not a port"));
            }
            if !seen_ports.insert((p.port.0, p.protocol as u8)) {
                return Err(refuse(at(&format!("ports[{j}].port")), format!("port {} is listed twice", p.port)));
            }
            if let Some(s) = &p.service {
                let f = |k: &str| at(&format!("ports[{j}].service.{k}"));
                for (k, v, cap) in [
                    ("name", &s.name, caps::TEXT),
                    ("product", &s.product, caps::TEXT),
                    ("version", &s.version, caps::TEXT),
                    ("banner", &s.banner, caps::LONG_TEXT),
                ] {
                    if let Some(v) = v {
                        text(|| f(k), v, cap)?;
                    }
                }
                if let Some(http) = &s.http {
                    for (k, v) in
                        [("http.server", &http.server), ("http.title", &http.title), ("http.redirect", &http.redirect)]
                    {
                        if let Some(v) = v {
                            text(|| f(k), v, caps::LONG_TEXT)?;
                        }
                    }
                }
                if let Some(t) = &s.tls {
                    text(|| f("tls.subject"), &t.subject, caps::LONG_TEXT)?;
                    text(|| f("tls.issuer"), &t.issuer, caps::LONG_TEXT)?;
                    count(|| f("tls.sans"), &t.sans, caps::SANS)?;
                    for san in &t.sans {
                        text(|| f("tls.sans"), san, caps::NAME)?;
                    }
                    if t.sha256.len() != 64 || !t.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(refuse(f("tls.sha256"), "is not 64 hex digits"));
                    }
                    // RFC 5280 §4.1.2.2: at most 20 octets; written with or without colons.
                    if let Some(serial) = &t.serial {
                        let hex = crate::register::model::plain_hex(serial);
                        if hex.is_empty()
                            || hex.len() > 64
                            || serial.len() > 100
                            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                        {
                            return Err(refuse(f("tls.serial"), "is not 1-64 hex digits"));
                        }
                    }
                    for (k, v) in [("tls.key", &t.key), ("tls.signature", &t.signature)] {
                        if let Some(v) = v {
                            text(|| f(k), v, caps::NAME)?;
                        }
                    }
                }
            }
        }
        count(|| at("fingerprints"), &h.fingerprints, caps::FINGERPRINTS)?;
        for (j, g) in h.fingerprints.iter().enumerate() {
            let f = |k: &str| at(&format!("fingerprints[{j}].{k}"));
            text(|| f("value"), &g.value, caps::TEXT)?;
            unit(|| f("confidence"), g.confidence)?;
            count(|| f("evidence"), &g.evidence, caps::FINGERPRINTS)?;
            for e in &g.evidence {
                text(|| f("evidence"), e, caps::TEXT)?;
            }
        }
        Ok(())
    };
    check().map_err(Err)?;
    Ok(set_aside_conflicting(h))
}

/// What of `h`'s conflicting MACs cannot be kept is set aside and named,
/// and the host kept — refusing it let anything answering ARP from a group
/// MAC, or from many MACs, hide a real host (review of 2026-12-08): group
/// and all-zero MACs (they identify nothing; the first ten named, the rest
/// counted), repeats, and those past the first [`caps::MACS`] distinct ones.
fn set_aside_conflicting(h: &mut HostObservation) -> Option<String> {
    let unusable: Vec<String> =
        h.conflicting_macs.iter().filter(|m| !identifying_mac(m.address)).map(|m| m.address.to_string()).collect();
    let mut seen = HashSet::new();
    h.conflicting_macs.retain(|m| identifying_mac(m.address) && seen.insert(m.address));
    let past_cap = h.conflicting_macs.len().saturating_sub(caps::MACS);
    h.conflicting_macs.truncate(caps::MACS);
    let mut notes = Vec::new();
    if !unusable.is_empty() {
        let mut named = unusable.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
        if unusable.len() > 10 {
            named.push_str(&format!(" and {} more", unusable.len() - 10));
        }
        notes.push(format!("conflicting MAC {named} set aside: a group or all-zero address identifies no host"));
    }
    if past_cap > 0 {
        notes.push(format!(
            "{past_cap} more conflicting MACs set aside: the first {} distinct ones are kept",
            caps::MACS
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn at_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
