//! The port sweep step: SYN probes through a raw socket (stateless, on the
//! probe engine) when privileged, connect() otherwise and for IPv6 targets.
//! Ports are probed on the hosts discovery found, or on every target when
//! no discovery technique ran.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use census_proto::{Port, PortState, RunStatus, TcpScanMode, Technique, TechniqueRun};

use super::{Found, ScanError, ScanRequest, Sweep};
use crate::io::{self, Interface};
use crate::sweep::connect;
use crate::sweep::engine::{self, RoundStats};
use crate::sweep::syn::{SynProtocol, SynReply};

/// The TCP step; returns its run and, for SYN, the engine's rounds.
///
/// # Errors
/// [`ScanError::Io`] when the raw socket fails mid-sweep.
pub(super) async fn tcp_step(
    s: &Sweep<'_>,
    runs: &[TechniqueRun],
    iface: Option<&Interface>,
    found: &mut Found,
) -> Result<(TechniqueRun, Vec<RoundStats>), ScanError> {
    let req = s.req;
    let discovered = req.techniques.iter().any(|t| matches!(t, Technique::Arp | Technique::Icmp))
        && runs.iter().any(|r| r.status != RunStatus::Skipped);
    let hosts: Vec<IpAddr> = if discovered {
        let mut set: BTreeSet<IpAddr> = found.arp.keys().map(|a| IpAddr::V4(*a)).collect();
        set.extend(found.icmp.keys().copied());
        set.into_iter().collect()
    } else {
        Vec::new()
    };
    let all_targets = !discovered;
    if s.out_of_time() {
        let mut r = syn_run(RunStatus::Partial, Some(super::OUT_OF_TIME.into()), 0, 0);
        r.tcp_mode = None;
        s.progress.push("tcp (not run: time limit)", std::time::Duration::ZERO, Vec::new());
        return Ok((r, Vec::new()));
    }
    if s.privileges.raw && !req.force_connect {
        return tcp_syn(s, &hosts, all_targets, iface, found).await;
    }
    let mut tcp_run = tcp_connect(s, &hosts, all_targets, found).await;
    tcp_run.reason = Some(if req.force_connect {
        "connect() scan requested".into()
    } else {
        "no CAP_NET_RAW: connect() scan instead of SYN".into()
    });
    Ok((tcp_run, Vec::new()))
}

fn tcp_keys<'a>(
    req: &'a ScanRequest,
    hosts: &'a [IpAddr],
    all_targets: bool,
) -> Box<dyn Iterator<Item = (IpAddr, Port)> + Send + 'a> {
    let ports = req.ports.ports();
    if all_targets {
        Box::new(req.targets.iter().flat_map(move |ip| ports.iter().map(move |p| (ip, *p))))
    } else {
        Box::new(hosts.iter().flat_map(move |ip| ports.iter().map(move |p| (*ip, *p))))
    }
}

async fn tcp_syn(
    s: &Sweep<'_>,
    hosts: &[IpAddr],
    all_targets: bool,
    iface: Option<&Interface>,
    found: &mut Found,
) -> Result<(TechniqueRun, Vec<RoundStats>), ScanError> {
    let req = s.req;
    let first = match tcp_keys(req, hosts, all_targets).next() {
        None => return Ok((syn_run(RunStatus::Complete, None, 0, 0), Vec::new())),
        Some((IpAddr::V4(v4), _)) => v4,
        Some((IpAddr::V6(_), _)) => {
            // SYN probes are IPv4-only for now; IPv6 ports go through connect().
            let mut r = tcp_connect(s, hosts, all_targets, found).await;
            r.reason = Some("IPv6 targets: connect() scan".into());
            return Ok((r, Vec::new()));
        }
    };
    let src = match iface {
        Some(i) if i.on_link(first) => i.ip,
        _ => io::route_to(first).map_err(|source| ScanError::Io { technique: "tcp", source })?.source,
    };
    let proto = SynProtocol {
        src,
        src_port: 40_000 + (uuid::Uuid::new_v4().as_u128() % 20_000) as u16,
        secret: uuid::Uuid::new_v4().as_u128() as u64,
    };
    let rate_pps = req.limits.rate.get();
    let (targets, ports, hosts_v4, lim, sent) = (
        req.targets.clone(),
        req.ports.clone(),
        hosts.iter().filter_map(|h| if let IpAddr::V4(v) = h { Some(*v) } else { None }).collect::<Vec<_>>(),
        s.limiter.clone(),
        s.progress.sent.clone(),
    );
    let timing = s.stateless;
    let outcome = super::blocking("tcp", move || {
        let (mut tx, rx) = io::raw_tcp_pair(proto.src, rate_pps)?;
        let keys = || -> Box<dyn Iterator<Item = (Ipv4Addr, Port)> + '_> {
            if all_targets {
                Box::new(
                    targets
                        .iter()
                        .filter_map(|ip| if let IpAddr::V4(v) = ip { Some(v) } else { None })
                        .flat_map(|ip| ports.ports().iter().map(move |p| (ip, *p))),
                )
            } else {
                Box::new(hosts_v4.iter().flat_map(|ip| ports.ports().iter().map(move |p| (*ip, *p))))
            }
        };
        engine::run(&proto, tx.as_mut(), rx, &keys, timing, &lim, &sent)
    })
    .await?;
    for a in &outcome.answers {
        let ip = IpAddr::V4(a.key.0);
        let (state, ttl) = match &a.reply {
            SynReply::Open { signature, ttl } => {
                found.syn_ack.entry(ip).or_insert_with(|| (signature.clone(), *ttl));
                (PortState::Open, *ttl)
            }
            SynReply::Closed { ttl } => (PortState::Closed, *ttl),
        };
        found.tcp_ttl.entry(ip).or_insert(ttl);
        let seen = found.tcp_seen_at.entry(ip).or_insert(a.at);
        *seen = (*seen).max(a.at);
        // An open answer wins over a later RST (e.g. our kernel's reset echoing back).
        let slot = found.ports.entry(ip).or_default().entry(a.key.1).or_insert(state);
        if state == PortState::Open {
            *slot = PortState::Open;
        }
    }
    let status = if outcome.cut_short { RunStatus::Partial } else { RunStatus::Complete };
    let reason = outcome.cut_short.then(|| "cut short by the sweep's time limit".to_string());
    Ok((syn_run(status, reason, outcome.probes_sent, outcome.answers.len() as u64), outcome.rounds))
}

fn syn_run(status: RunStatus, reason: Option<String>, sent: u64, replies: u64) -> TechniqueRun {
    TechniqueRun {
        technique: Technique::Tcp,
        status,
        reason,
        tcp_mode: Some(TcpScanMode::Syn),
        probes_sent: sent,
        replies,
        ports: None,
    }
}

async fn tcp_connect(s: &Sweep<'_>, hosts: &[IpAddr], all_targets: bool, found: &mut Found) -> TechniqueRun {
    let keys = tcp_keys(s.req, hosts, all_targets);
    let outcome = connect::sweep(keys, s.timing, s.limiter.clone(), s.progress.sent.clone()).await;
    let now = Instant::now();
    for (ip, ports) in outcome.ports {
        found.tcp_seen_at.insert(ip, now);
        found.ports.entry(ip).or_default().extend(ports);
    }
    TechniqueRun {
        technique: Technique::Tcp,
        status: if outcome.cut_short { RunStatus::Partial } else { RunStatus::Complete },
        reason: None,
        tcp_mode: Some(TcpScanMode::Connect),
        probes_sent: outcome.probes_sent,
        replies: outcome.replies,
        ports: None,
    }
}
