//! Assembling the wire model's [`Batch`] from what the steps found: one
//! [`HostObservation`] per address that answered anything, with its MAC and
//! vendor, round trip, TTL, ports, services, names and OS guess, and the
//! sweep's completeness (what ran, what was skipped and why).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use census_proto::{
    AgentId, Batch, HostObservation, MacInfo, Port, PortObservation, PortState, RunStatus, SchemaVersion, SegmentScope,
    SweepCompleteness, Technique, TechniqueRun, TransportProtocol, Ttl,
};
use time::OffsetDateTime;

use super::{Found, ScanRequest};
use crate::rate::RateLimiter;

/// When the sweep ran, and how to turn a monotonic instant into wall time.
pub(super) struct Window<'a> {
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub to_wall: &'a dyn Fn(Instant) -> OffsetDateTime,
}

/// The batch for `found`.
pub(super) fn batch(
    req: &ScanRequest,
    agent: &AgentId,
    found: &Found,
    mut runs: Vec<TechniqueRun>,
    losses: &[f64],
    lim: &RateLimiter,
    w: &Window<'_>,
) -> Batch {
    let hosts = assemble(found, req, w.to_wall);
    let probes_sent: u64 = runs.iter().map(|r| r.probes_sent).sum();
    let replies: u64 = runs.iter().map(|r| r.replies).sum();
    let complete = runs.iter().all(|r| matches!(r.status, RunStatus::Complete | RunStatus::NotApplicable));
    let probed = census_proto::portlist::compact(req.ports.ports());
    for r in runs.iter_mut().filter(|r| r.technique == Technique::Tcp && r.status != RunStatus::Skipped) {
        r.ports = Some(probed.clone());
    }
    let enriched = req.identify_services && req.names.is_some();
    Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: agent.clone(),
        segment: SegmentScope {
            name: req.segment.clone(),
            targets: req.target_specs.iter().filter_map(|s| s.parse().ok()).collect(),
            excluded: req.exclude_specs.iter().filter_map(|s| spec_to_net(s)).collect(),
        },
        started_at: w.started_at,
        finished_at: w.finished_at,
        completeness: SweepCompleteness {
            addresses_in_scope: req.targets.count(),
            probes_sent,
            replies,
            estimated_loss: losses.iter().copied().fold(0.0, f64::max),
            rate_limit_pps: lim.configured_pps(),
            rate_achieved_pps: (lim.achieved_pps() * 10.0).round() / 10.0,
            complete,
            techniques: runs,
            enriched,
        },
        schedule: None,
        hosts,
    }
}

fn spec_to_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse().ok().or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Every address that answered anything: ARP, ICMP, or an open or closed port.
pub(super) fn responders(found: &Found) -> BTreeSet<IpAddr> {
    let mut ips: BTreeSet<IpAddr> = found.arp.keys().map(|a| IpAddr::V4(*a)).collect();
    // A link-local address is reported only for a device with an address in the targets.
    let devices: BTreeSet<census_proto::MacAddr> = found
        .arp
        .values()
        .map(|a| a.mac)
        .chain(found.ndp.iter().filter(|(ip, _)| !crate::passive::link_local(&IpAddr::V6(**ip))).map(|(_, h)| h.mac))
        .collect();
    ips.extend(
        found
            .ndp
            .iter()
            .filter(|(ip, h)| !crate::passive::link_local(&IpAddr::V6(**ip)) || devices.contains(&h.mac))
            .map(|(ip, _)| IpAddr::V6(*ip)),
    );
    ips.extend(found.icmp.keys().copied());
    ips.extend(found.ports.iter().filter(|(_, p)| p.values().any(|s| *s != PortState::Filtered)).map(|(ip, _)| *ip));
    ips
}

fn assemble(found: &Found, req: &ScanRequest, to_wall: &dyn Fn(Instant) -> OffsetDateTime) -> Vec<HostObservation> {
    let report_closed = req.report_closed;
    let mac_info = |mac| MacInfo { vendor: req.vendors.vendor(mac), ..MacInfo::new(mac) };
    let ips = responders(found);
    let mut out = Vec::with_capacity(ips.len());
    for ip in ips {
        let arp = match ip {
            IpAddr::V4(v4) => found.arp.get(&v4),
            IpAddr::V6(_) => None,
        };
        let icmp = found.icmp.get(&ip);
        let ports = found.ports.get(&ip);
        let ndp = match ip {
            IpAddr::V6(v6) => found.ndp.get(&v6),
            IpAddr::V4(_) => None,
        };
        let mut seen_by = Vec::new();
        let mut times: Vec<Instant> = Vec::new();
        if let Some(n) = ndp
            && icmp.is_none()
        {
            seen_by.push(Technique::Icmp);
            times.push(n.at);
        }
        if let Some(a) = arp {
            seen_by.push(if a.unsolicited { Technique::Passive } else { Technique::Arp });
            times.extend([a.first, a.last]);
        }
        if let Some(i) = icmp {
            seen_by.push(Technique::Icmp);
            times.push(i.at);
        }
        if ports.is_some_and(|p| p.values().any(|s| *s != PortState::Filtered)) {
            seen_by.push(Technique::Tcp);
            times.extend(found.tcp_seen_at.get(&ip).copied());
        }
        let rtt = [arp.and_then(|a| a.rtt), icmp.and_then(|i| i.rtt)].into_iter().flatten().min();
        let reply_ttl = icmp
            .and_then(|i| i.ttl)
            .or_else(|| found.tcp_ttl.get(&ip).copied())
            .or_else(|| ndp.and_then(|n| n.hop_limit))
            .map(Ttl);
        let port_list = ports
            .map(|p| {
                p.iter()
                    .filter(|(_, s)| **s == PortState::Open || (report_closed && **s == PortState::Closed))
                    .map(|(port, state)| PortObservation {
                        port: *port,
                        protocol: TransportProtocol::Tcp,
                        state: *state,
                        service: found.services.get(&(ip, *port)).cloned().map(Box::new),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let first = times.iter().min().copied().unwrap_or_else(Instant::now);
        let last = times.iter().max().copied().unwrap_or(first);
        let syn_ack = found.syn_ack.get(&ip).map(|(s, _)| Box::new(s.clone()));
        let services: Vec<(&Port, &census_proto::ServiceEvidence)> =
            found.services.range((ip, Port(0))..=(ip, Port(u16::MAX))).map(|((_, p), e)| (p, e)).collect();
        let hints: Vec<(&'static str, String)> = services
            .iter()
            .filter_map(|(p, e)| crate::fingerprint::banner::os_hint(e).map(|(f, w)| (f, format!("`{w}` on port {p}"))))
            .collect();
        let mac = arp.map(|a| mac_info(a.mac)).or_else(|| ndp.map(|n| mac_info(n.mac)));
        let ipv6 = match ip {
            IpAddr::V6(v6) => Some(census_proto::Ipv6Facts::of(v6, mac.as_ref().map(|m| m.address))),
            IpAddr::V4(_) => None,
        };
        let vendor = mac.as_ref().and_then(|m| m.vendor.as_deref());
        let fingerprints =
            crate::fingerprint::os::guess(reply_ttl, syn_ack.as_deref(), &hints, vendor).into_iter().collect();
        let mut names: Vec<census_proto::NameObservation> = found.names.get(&ip).cloned().unwrap_or_default();
        for (_, e) in &services {
            for san in e.tls.iter().flat_map(|t| t.sans.iter()) {
                let name = san.trim_end_matches('.').to_ascii_lowercase();
                if name.parse::<IpAddr>().is_err() && !names.iter().any(|n| n.name == name) {
                    names.push(census_proto::NameObservation { name, source: census_proto::NameSource::TlsCert });
                }
            }
        }
        out.push(HostObservation {
            ip,
            mac,
            conflicting_macs: arp.map(|a| a.conflicting.iter().map(|m| mac_info(*m)).collect()).unwrap_or_default(),
            seen_by,
            rtt_us: rtt.map(|d| d.as_micros() as u64),
            reply_ttl,
            syn_ack,
            ports: port_list,
            names,
            fingerprints,
            ipv6,
            first_seen: to_wall(first),
            last_seen: to_wall(last),
        });
    }
    out
}
