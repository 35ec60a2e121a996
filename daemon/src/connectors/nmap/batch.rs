//! An nmap report turned into an observation batch, so it goes through the
//! same checks, store and reconciliation as an agent's sweep.
//!
//! **Completeness decides what the daemon may conclude from absence**, so
//! a report counts as a sweep of the segment only when it provably covered
//! it ([`super::scope`]): otherwise it is imported as a partial sweep, with
//! the reason — its hosts are recorded, but nobody becomes missing because
//! of it. Hosts nmap only assumed up (`-Pn`) are not sightings.
//!
//! Mapping (nmap's DTD → the wire model, docs/report-format.md):
//! - `status@reason` → the technique that saw the host (`arp-response` →
//!   arp; `echo-reply`, `timestamp-reply`, `mask-reply` → icmp; `syn-ack`,
//!   `reset`, `conn-refused` → tcp); `reason_ttl` → the reply TTL (not for
//!   ARP); `times@srtt` → the round-trip time;
//! - `address[@addrtype=mac]` and its `vendor` → the MAC and its vendor;
//! - `hostname[@type=PTR]` → a reverse-DNS name (`user` names, which are
//!   whatever was typed on the command line, are not evidence);
//! - `port` with `state` open, closed or filtered (`open|filtered` counts
//!   as filtered) and its `service` name, product and version, and as the
//!   banner `product version extrainfo` (what end-of-life judgements read);
//! - the most accurate `osmatch` → an OS-family guess with nmap's accuracy
//!   as confidence and the match and its classes as evidence;
//! - `scaninfo` of a TCP scan → the TCP technique, `syn` or `connect`,
//!   with its port list, so ports not in it are never taken as closed.

use std::net::IpAddr;

use census_proto::{
    AgentId, Batch, FingerprintGuess, FingerprintKind, HostObservation, MacAddr, MacInfo, NameObservation, NameSource,
    Port, PortObservation, PortState, RunStatus, SchemaVersion, SegmentScope, ServiceEvidence, SweepCompleteness,
    TcpScanMode, Technique, TechniqueRun, TransportProtocol, Ttl,
};
use ipnet::IpNet;
use time::OffsetDateTime;

use super::xml::{NmapHost, NmapRun};

/// What importing a report will do, beside the batch itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// nmap's version (`nmaprun@version`).
    pub nmap_version: Option<String>,
    /// The command line (`nmaprun@args`).
    pub args: Option<String>,
    /// When the scan started (RFC 3339).
    pub started: Option<String>,
    /// Hosts up in the report and inside the segment.
    pub hosts_up: usize,
    /// Hosts up in the report but outside the segment: not imported.
    pub outside_segment: usize,
    /// Hosts nmap marked up without an answer (`-Pn`: `user-set`, no open
    /// or closed port, no MAC): not sightings, not imported.
    pub not_answering: usize,
    /// Addresses listed more than once: the first kept.
    pub listed_twice: usize,
    /// `runstats/hosts@down`.
    pub hosts_down: u64,
    /// `runstats/hosts@total`: addresses nmap scanned.
    pub addresses_scanned: u64,
    /// The report covered the segment completely (see the module docs).
    pub complete: bool,
    /// Why it does not count as a complete sweep, when it does not.
    pub partial_because: Option<String>,
}

fn at(unix_s: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix_s).ok()
}

fn seen_by(reason: Option<&str>) -> Option<Technique> {
    match reason? {
        "arp-response" | "nd-response" => Some(Technique::Arp),
        "echo-reply" | "timestamp-reply" | "mask-reply" => Some(Technique::Icmp),
        "syn-ack" | "reset" | "conn-refused" => Some(Technique::Tcp),
        _ => None,
    }
}

/// nmap's `osfamily` in Census's OS-family words (agent/src/fingerprint).
fn os_family(family: &str) -> String {
    match family.to_ascii_lowercase().as_str() {
        "linux" => "linux".into(),
        "windows" => "windows".into(),
        "mac os x" | "macos" => "macos".into(),
        "ios" | "junos" | "routeros" | "fortios" | "pan-os" | "nx-os" | "ios xe" => "network-os".into(),
        "freebsd" | "openbsd" | "netbsd" => "bsd".into(),
        other => other.to_string(),
    }
}

fn host(h: &NmapHost, ip: IpAddr, fallback: (OffsetDateTime, OffsetDateTime)) -> HostObservation {
    let technique = seen_by(h.reason.as_deref());
    let mac = h.mac.as_ref().and_then(|(m, vendor)| {
        let mut info = MacInfo::new(m.parse::<MacAddr>().ok()?);
        if let Some(v) = vendor {
            info.vendor = Some(v.clone());
        }
        Some(info)
    });
    let ports = h
        .ports
        .iter()
        .filter_map(|p| {
            let protocol = match p.protocol.as_str() {
                "tcp" => TransportProtocol::Tcp,
                "udp" => TransportProtocol::Udp,
                _ => return None,
            };
            let state = match p.state.as_str() {
                "open" => PortState::Open,
                "closed" => PortState::Closed,
                "filtered" | "open|filtered" => PortState::Filtered,
                _ => return None,
            };
            // A `table` service is only the port's usual name; `probed` is a version scan's finding.
            // The banner is what nmap reports (`OpenSSH 7.4p1 Debian 10+deb9u7
            // protocol 2.0`, `Apache httpd 2.4.25 (Debian)`): the words the
            // end-of-life recognisers read, as they read an agent's banners.
            let service = p.service.as_ref().map(|s| {
                let said = [s.product.as_deref(), s.version.as_deref(), s.extrainfo.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                Box::new(ServiceEvidence {
                    name: s.name.clone(),
                    product: s.product.clone(),
                    version: s.version.clone(),
                    banner: (s.product.is_some() && !said.is_empty()).then_some(said),
                    http: None,
                    tls: None,
                })
            });
            Some(PortObservation { port: Port(p.port), protocol, state, service })
        })
        .collect();
    let names = h
        .hostnames
        .iter()
        .filter(|(_, kind)| kind.eq_ignore_ascii_case("PTR"))
        .map(|(n, _)| NameObservation { name: n.trim_end_matches('.').to_ascii_lowercase(), source: NameSource::Ptr })
        .collect();
    let fingerprints =
        h.os.iter()
            .max_by_key(|m| m.accuracy)
            .and_then(|m| {
                let family = m.family.as_deref()?;
                let mut evidence = vec![format!("nmap OS detection: {} (accuracy {}%)", m.name, m.accuracy)];
                evidence.extend(m.classes.iter().take(4).map(|c| format!("nmap osclass: {c}")));
                Some(FingerprintGuess {
                    kind: FingerprintKind::OsFamily,
                    value: os_family(family),
                    confidence: f64::from(m.accuracy) / 100.0,
                    evidence,
                })
            })
            .into_iter()
            .collect();
    let (first, last) = (
        h.times.0.and_then(at).unwrap_or(fallback.0),
        h.times.1.and_then(at).or(h.times.0.and_then(at)).unwrap_or(fallback.1),
    );
    HostObservation {
        ip,
        mac,
        conflicting_macs: vec![],
        seen_by: technique.into_iter().collect(),
        rtt_us: h.srtt_us,
        reply_ttl: h.reason_ttl.filter(|t| *t > 0 && technique != Some(Technique::Arp)).map(Ttl),
        syn_ack: None,
        ports,
        names,
        fingerprints,
        ipv6: None,
        first_seen: first,
        last_seen: last.max(first),
    }
}

/// The batch an nmap report makes for `segment`, delivered as `agent`
/// (its segment named `segment_name`), with what it will do. `now` dates
/// a report that carries no times.
pub fn to_batch(
    run: &NmapRun,
    segment: IpNet,
    segment_name: &str,
    agent: &str,
    now: OffsetDateTime,
) -> (Batch, ImportSummary) {
    let segment = segment.trunc();
    let started = run.start.and_then(at).unwrap_or(now);
    let (finished_s, exit) = run.finished.clone().unwrap_or((0, "error".into()));
    let finished = at(finished_s).unwrap_or(now).max(started);
    let (_, down, total) = run.totals.unwrap_or_default();
    let (mut outside, mut silent, mut twice) = (0, 0, 0);
    let mut hosts: Vec<HostObservation> = Vec::new();
    for h in &run.hosts {
        let Some(ip) = h.ip.filter(|ip| segment.contains(ip)) else {
            outside += 1;
            continue;
        };
        // `-Pn` marks every target up (`user-set`): only an answer is a sighting.
        let assumed = matches!(h.reason.as_deref(), None | Some("user-set" | "unknown" | "no-response"));
        let answered = !assumed || h.ports.iter().any(|p| p.state == "open" || p.state == "closed") || h.mac.is_some();
        if !answered {
            silent += 1;
        } else if hosts.iter().any(|o| o.ip == ip) {
            twice += 1;
        } else {
            hosts.push(host(h, ip, (started, finished)));
        }
    }
    let (partial_because, excluded) = super::scope::judge(&exit, run.args.as_deref(), total, &segment);
    let complete = partial_because.is_none();
    let status = if complete { RunStatus::Complete } else { RunStatus::Partial };
    let mut techniques: Vec<Technique> = hosts.iter().flat_map(|h| h.seen_by.iter().copied()).collect();
    techniques.sort();
    techniques.dedup();
    let mut runs: Vec<TechniqueRun> = techniques
        .iter()
        .filter(|t| **t != Technique::Tcp)
        .map(|t| TechniqueRun {
            technique: *t,
            status,
            reason: partial_because.clone(),
            tcp_mode: None,
            probes_sent: 0,
            replies: hosts.iter().filter(|h| h.seen_by.contains(t)).count() as u64,
            ports: None,
        })
        .collect();
    if let Some(scan) = run.scans.iter().find(|s| s.protocol == "tcp") {
        runs.push(TechniqueRun {
            technique: Technique::Tcp,
            status,
            reason: partial_because.clone(),
            tcp_mode: Some(if scan.kind == "syn" { TcpScanMode::Syn } else { TcpScanMode::Connect }),
            probes_sent: 0,
            replies: hosts.iter().filter(|h| !h.ports.is_empty()).count() as u64,
            ports: Some(scan.services.clone()).filter(|s| !s.is_empty()),
        });
    }
    let in_scope = match segment {
        IpNet::V4(n) => 1u64 << (32 - u32::from(n.prefix_len())),
        IpNet::V6(n) => 1u64.checked_shl(128 - u32::from(n.prefix_len())).unwrap_or(u64::MAX),
    };
    let enriched = run
        .hosts
        .iter()
        .any(|h| h.ports.iter().any(|p| p.service.as_ref().is_some_and(|s| s.method.as_deref() == Some("probed"))));
    let summary = ImportSummary {
        nmap_version: run.version.clone(),
        args: run.args.clone(),
        started: run.start.and_then(at).and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        hosts_up: hosts.len(),
        outside_segment: outside,
        not_answering: silent,
        listed_twice: twice,
        hosts_down: down,
        addresses_scanned: total,
        complete,
        partial_because,
    };
    let batch = Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: AgentId(agent.to_string()),
        segment: SegmentScope { name: segment_name.to_string(), targets: vec![segment], excluded },
        started_at: started,
        finished_at: finished,
        completeness: SweepCompleteness {
            addresses_in_scope: in_scope,
            probes_sent: 0,
            replies: hosts.len() as u64,
            estimated_loss: 0.0,
            rate_limit_pps: 0,
            rate_achieved_pps: 0.0,
            complete,
            techniques: runs,
            enriched,
        },
        schedule: None,
        hosts,
    };
    (batch, summary)
}
