//! Passive listening: devices found by what they say on the segment
//! rather than by what they answer — a host whose firewall drops every
//! probe still asks DHCP for an address and announces it with ARP.
//!
//! - [`crate::io::capture`]: the AF_PACKET socket the sweeps use too, here
//!   with the passive kernel filter ([`crate::io::filter::passive_program`]:
//!   only ARP, DHCP client messages, mDNS and NDP reach the process; only
//!   the chosen interface's, never this host's own frames), behind
//!   [`capture::FrameSource`];
//! - [`table`]: what was heard, by MAC, in bounded memory;
//! - this module: listening for a while and turning what was heard into a
//!   batch with technique `passive` and `complete = false`, so the daemon
//!   never counts it as a sweep (nobody becomes missing from it).
//!
//! A DHCP client's request list and vendor class become an OS family /
//! device type guess ([`crate::fingerprint::dhcp`]); its host name (option
//! 12, cleaned) becomes a name with source `dhcp`.

pub mod table;

pub use crate::io::capture;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use census_proto::{
    AgentId, Batch, HostObservation, MacInfo, NameObservation, NameSource, RunStatus, SchemaVersion, SegmentScope,
    SweepCompleteness, Technique, TechniqueRun,
};
use ipnet::IpNet;
use time::OffsetDateTime;

use crate::fingerprint::dhcp::{DhcpSignatures, guess, prl_text};
use table::{Heard, Neighbours};

/// Listen on `source` into `table` until `until` (bounded by it whatever arrives).
///
/// # Errors
/// The source's.
pub fn listen(source: &mut dyn capture::FrameSource, table: &mut Neighbours, until: Instant) -> std::io::Result<()> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        match source.next_frame(left.min(Duration::from_millis(200)))? {
            Some(frame) => {
                table.hear(frame, OffsetDateTime::now_utc());
            }
            None if left <= Duration::from_millis(200) => return Ok(()),
            None => {}
        }
    }
}

/// A DHCP host name as a name Census keeps: cleaned, lowercase, without a
/// trailing dot; `None` unless it is a host name (letters, digits, `-`, `.`, `_`).
pub fn host_name(raw: &str) -> Option<String> {
    let n = crate::fingerprint::sanitize::clean(raw.as_bytes(), 253).to_ascii_lowercase();
    let n = n.trim_end_matches('.');
    (!n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))).then(|| n.to_string())
}

/// Whether `ip` is an IPv6 link-local address (fe80::/10).
pub fn link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

/// Service types (DNS-SD) that say what a device is, with the type.
const SERVICE_TYPES: &[(&str, &str)] = &[
    ("_ipp._tcp.local", "printer"),
    ("_ipps._tcp.local", "printer"),
    ("_printer._tcp.local", "printer"),
    ("_pdl-datastream._tcp.local", "printer"),
    ("_scanner._tcp.local", "printer"),
    ("_airplay._tcp.local", "media-player"),
    ("_raop._tcp.local", "media-player"),
    ("_googlecast._tcp.local", "media-player"),
    ("_hap._tcp.local", "iot"),
    ("_homekit._tcp.local", "iot"),
];

/// A device-type guess from advertised services (RFC 6763 service types as
/// registered with IANA: IPP printers, AirPlay and Cast receivers, HomeKit accessories).
fn service_guess(services: &[String]) -> Option<census_proto::FingerprintGuess> {
    let (service, kind) =
        services.iter().find_map(|s| SERVICE_TYPES.iter().find(|(t, _)| t == s).map(|(t, k)| (*t, *k)))?;
    Some(census_proto::FingerprintGuess {
        kind: census_proto::FingerprintKind::DeviceType,
        value: kind.into(),
        confidence: 0.8,
        evidence: vec![format!("mDNS announces {service}")],
    })
}

/// One observation per address each device claimed; a device heard only at
/// IPv6 link-local addresses is left out (nothing outside the targets is
/// reported), its link-local addresses kept when it has one inside them.
pub fn observations(
    heard: &[Heard],
    sigs: &DhcpSignatures,
    vendors: &crate::fingerprint::vendor::VendorTable,
) -> Vec<HostObservation> {
    let mut out = Vec::new();
    for h in heard.iter().filter(|h| h.addresses.iter().any(|a| !link_local(a))) {
        let mut mac = MacInfo::new(h.mac);
        if !mac.locally_administered {
            mac.vendor = vendors.vendor(h.mac);
        }
        let mut names: Vec<NameObservation> = h
            .host_name
            .as_deref()
            .and_then(host_name)
            .map(|name| NameObservation { name, source: NameSource::Dhcp })
            .into_iter()
            .collect();
        names.extend(
            h.mdns_names
                .iter()
                .filter_map(|n| host_name(n))
                .map(|name| NameObservation { name, source: NameSource::Mdns }),
        );
        let mut fingerprints = guess(sigs, &h.parameter_list, h.vendor_class.as_deref());
        if fingerprints.is_empty() && !h.parameter_list.is_empty() {
            // Unknown to the table: the list itself is evidence worth keeping.
            fingerprints.push(census_proto::FingerprintGuess {
                kind: census_proto::FingerprintKind::OsFamily,
                value: "unknown".into(),
                confidence: 0.0,
                evidence: vec![format!(
                    "DHCP parameter request list {} (not in the table)",
                    prl_text(&h.parameter_list)
                )],
            });
        }
        fingerprints.extend(service_guess(&h.services));
        for ip in &h.addresses {
            out.push(HostObservation {
                ip: *ip,
                mac: Some(mac.clone()),
                conflicting_macs: vec![],
                seen_by: vec![Technique::Passive],
                rtt_us: None,
                reply_ttl: None,
                syn_ack: None,
                ports: vec![],
                names: names.clone(),
                fingerprints: fingerprints.clone(),
                ipv6: match ip {
                    IpAddr::V6(v6) => Some(census_proto::Ipv6Facts::of(*v6, Some(h.mac))),
                    IpAddr::V4(_) => None,
                },
                first_seen: h.first,
                last_seen: h.last,
            });
        }
    }
    out.sort_by_key(|o| o.ip);
    out
}

/// A passive batch: never a sweep (`complete = false`, technique `passive`).
pub fn batch(
    agent: &AgentId,
    segment: &str,
    targets: &[IpNet],
    hosts: Vec<HostObservation>,
    (started_at, finished_at): (OffsetDateTime, OffsetDateTime),
    frames: u64,
) -> Batch {
    let replies = hosts.len() as u64;
    Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: agent.clone(),
        segment: SegmentScope { name: segment.into(), targets: targets.to_vec(), excluded: vec![] },
        started_at,
        finished_at,
        completeness: SweepCompleteness {
            addresses_in_scope: 0,
            probes_sent: 0,
            replies,
            estimated_loss: 0.0,
            rate_limit_pps: 0,
            rate_achieved_pps: 0.0,
            complete: false,
            techniques: vec![TechniqueRun {
                technique: Technique::Passive,
                status: RunStatus::Partial,
                reason: Some(format!("passive listening: {frames} frames heard; never a complete sweep")),
                tcp_mode: None,
                probes_sent: 0,
                replies,
                ports: None,
            }],
            enriched: false,
        },
        schedule: None,
        hosts,
    }
}

/// Whether an address is inside `targets`.
pub fn in_targets(targets: &[IpNet], ip: IpAddr) -> bool {
    targets.iter().any(|t| t.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_frames_become_a_passive_batch_that_is_no_sweep() {
        let mut frames = Vec::new();
        // A gratuitous ARP from 198.18.0.42.
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0x42, 0, 0, 0, 42, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0x42, 0, 0, 0, 42]);
        f.extend_from_slice(&[198, 18, 0, 42, 0, 0, 0, 0, 0, 0, 198, 18, 0, 42]);
        frames.push(f);
        let mut source = capture::Canned::new(frames);
        let targets: Vec<IpNet> = vec!["198.18.0.0/24".parse().unwrap()];
        let mut table = Neighbours::new(16, targets.clone());
        listen(&mut source, &mut table, Instant::now() + Duration::from_millis(300)).unwrap();
        let hosts = observations(&table.take(), &DhcpSignatures::default(), &Default::default());
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].seen_by, [Technique::Passive]);
        let now = OffsetDateTime::now_utc();
        let b = batch(&AgentId("a".into()), "lab", &targets, hosts, (now, now), table.frames);
        assert!(!b.completeness.complete);
        assert_eq!(b.completeness.techniques[0].technique, Technique::Passive);
        assert!(census_proto::decode_batch(&census_proto::encode_batch(&b)).is_ok());
    }

    #[test]
    fn dhcp_host_names_are_cleaned_or_refused() {
        assert_eq!(host_name("Lab-42.").as_deref(), Some("lab-42"));
        assert_eq!(host_name("evil\u{202e}name"), Some("evilname".into()));
        assert_eq!(host_name("two words"), None);
        assert_eq!(host_name(""), None);
    }
}
