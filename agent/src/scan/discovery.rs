//! Host discovery steps of a sweep: ARP on the interface's own network,
//! then ICMP echo.
//!
//! Echo goes two ways. Hosts ARP has just found get their echo as a frame to
//! the MAC that answered, on the probe engine ([`crate::sweep::echo`]): no
//! kernel neighbour resolution, and rounds that retry only the silent. That
//! echo starts as soon as ARP's first round ends, beside ARP's retries (which
//! spend most of their time waiting on silent addresses); hosts only a retry
//! found are echoed after ARP.
//! Routed, IPv6 and unprivileged targets go through ICMP sockets
//! ([`crate::sweep::icmp`]). On-link addresses that did not answer ARP are
//! not echoed: a host that cannot answer ARP cannot answer an echo either.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use census_proto::{MacAddr, RunStatus, Technique, TechniqueRun};

use super::{Found, ScanError, Sweep, run};
use crate::io::{self, Interface};
use crate::sweep::arp::{self, ArpProtocol};
use crate::sweep::echo::{self, EchoProtocol};
use crate::sweep::engine;
use crate::sweep::icmp;

/// What the ARP step leaves for the next ones.
pub(super) struct ArpCoverage {
    /// The interface ARP swept from.
    pub iface: Interface,
    /// The echo that ran beside ARP's retries, when one was asked for.
    pub beside: Option<EarlyEcho>,
}

/// The on-link echo run beside ARP's retries.
pub(super) struct EarlyEcho {
    /// Its answers and rounds.
    pub outcome: engine::Outcome<Ipv4Addr, echo::EchoAnswer>,
    /// The hosts it echoed (those ARP's first round found).
    pub echoed: HashMap<Ipv4Addr, MacAddr>,
    /// How long it took.
    pub elapsed: std::time::Duration,
}

/// Echo `hosts` as frames on `iface` (blocking: run on a blocking thread).
fn echo_frames(
    iface: &Interface,
    hosts: &HashMap<Ipv4Addr, MacAddr>,
    limiter: &std::sync::Mutex<crate::rate::RateLimiter>,
    sent: &std::sync::atomic::AtomicU64,
    timing: engine::Timing,
) -> std::io::Result<engine::Outcome<Ipv4Addr, echo::EchoAnswer>> {
    let proto = EchoProtocol { iface, hosts, id: echo::new_id() };
    let mut keys: Vec<Ipv4Addr> = hosts.keys().copied().collect();
    keys.sort_unstable();
    let (mut tx, rx) = io::datalink_pair(iface)?;
    engine::run(&proto, tx.as_mut(), rx, &|| keys.iter().copied(), timing, limiter, sent)
}

fn macs_of(answers: &[engine::Answer<Ipv4Addr, crate::packet::arp::ArpReply>]) -> HashMap<Ipv4Addr, MacAddr> {
    let mut out = HashMap::new();
    for a in answers.iter().filter(|a| a.solicited) {
        out.entry(a.key).or_insert(a.reply.mac);
    }
    out
}

/// The ARP step: who-has for every on-link target (see [`crate::sweep::arp`]);
/// with `echo_beside`, the on-link echo of what the first round found runs
/// beside the retries.
///
/// # Errors
/// [`ScanError::Io`] when a capture socket fails mid-sweep.
pub(super) async fn arp_step(
    s: &Sweep<'_>,
    echo_beside: bool,
    runs: &mut Vec<TechniqueRun>,
    found: &mut Found,
    losses: &mut Vec<f64>,
) -> Result<Option<ArpCoverage>, ScanError> {
    let req = s.req;
    let first_v4 = req.targets.iter().find_map(|ip| match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    });
    let skip = |status, why: String| run(Technique::Arp, status, Some(why), 0, 0);
    let v4 = match (s.privileges.raw, first_v4) {
        (_, None) => {
            runs.push(skip(RunStatus::NotApplicable, "no IPv4 targets (ARP is IPv4 only)".into()));
            return Ok(None);
        }
        (false, Some(_)) => {
            runs.push(skip(RunStatus::Skipped, "no CAP_NET_RAW (run as root or grant the capability)".into()));
            return Ok(None);
        }
        (true, Some(v4)) => v4,
    };
    let iface = match io::choose_interface(req.interface.as_deref(), v4) {
        // Off-link targets: ARP cannot reach them, and the other techniques sweep them.
        Err(e) if req.interface.is_none() && e.starts_with("no interface is directly connected") => {
            let via = match io::route_to(v4) {
                Ok(io::Route { source, interface: Some(i) }) => format!(" (routed via {} from {source})", i.name),
                Ok(io::Route { source, interface: None }) => format!(" (routed from {source})"),
                Err(_) => " (no route)".to_string(),
            };
            let why = format!("{e}{via}: ARP applies only on-link; ICMP and TCP sweep routed targets");
            runs.push(skip(RunStatus::NotApplicable, why));
            return Ok(None);
        }
        Err(e) => {
            runs.push(skip(RunStatus::Skipped, e));
            return Ok(None);
        }
        Ok(iface) => iface,
    };
    let started = Instant::now();
    let (targets, iface2, lim, sent, timing) =
        (req.targets.clone(), iface.clone(), s.limiter.clone(), s.progress.sent.clone(), s.stateless);
    let (outcome, beside, arp_elapsed) = super::blocking("arp", move || {
        let proto = ArpProtocol { iface: &iface2, targets: &targets };
        let (mut tx, rx) = io::datalink_pair(&iface2)?;
        std::thread::scope(|scope| {
            let mut early = None;
            let mut after_round = |round: u8, answers: &[engine::Answer<Ipv4Addr, crate::packet::arp::ArpReply>]| {
                if round == 0 && echo_beside && early.is_none() {
                    let hosts = macs_of(answers);
                    let (iface, lim, sent) = (&iface2, &lim, &sent);
                    early = Some(scope.spawn(move || {
                        let started = Instant::now();
                        let outcome = echo_frames(iface, &hosts, lim, sent, timing)?;
                        Ok::<_, std::io::Error>(EarlyEcho { outcome, echoed: hosts, elapsed: started.elapsed() })
                    }));
                }
            };
            let arp =
                engine::run_observed(&proto, tx.as_mut(), rx, &|| proto.keys(), timing, &lim, &sent, &mut after_round);
            // ARP's own time, not the echo's that may still run beside it.
            let arp_elapsed = started.elapsed();
            let beside = match early {
                Some(h) => Some(h.join().map_err(|_| std::io::Error::other("echo thread panicked"))?),
                None => None,
            };
            Ok::<_, std::io::Error>((arp, beside, arp_elapsed))
        })
    })
    .await?;
    let outcome = outcome.map_err(|source| ScanError::Io { technique: "arp", source })?;
    let beside = beside.transpose().map_err(|source| ScanError::Io { technique: "icmp", source })?;
    s.progress.push("arp", arp_elapsed, outcome.rounds.clone());
    found.arp = arp::aggregate(&outcome);
    losses.push(outcome.estimated_loss());
    let off_link = req.targets.iter().any(|ip| !matches!(ip, IpAddr::V4(v4) if iface.on_link(v4)));
    let (status, reason) = if outcome.cut_short {
        (RunStatus::Partial, Some("cut short by the sweep's time limit".to_string()))
    } else if off_link {
        // Every address ARP can reach was swept; the others are routed
        // (ICMP and TCP sweep them), which leaves nothing undone.
        (RunStatus::Complete, Some(format!("only addresses on {}'s network are ARP-reachable", iface.name)))
    } else {
        (RunStatus::Complete, None)
    };
    runs.push(run(Technique::Arp, status, reason, outcome.probes_sent, outcome.answers.len() as u64));
    Ok(Some(ArpCoverage { iface, beside }))
}

/// The ICMP echo step.
///
/// # Errors
/// [`ScanError::Io`] when a socket fails mid-sweep.
pub(super) async fn echo_step(
    s: &Sweep<'_>,
    arp: Option<&ArpCoverage>,
    runs: &mut Vec<TechniqueRun>,
    found: &mut Found,
    losses: &mut Vec<f64>,
) -> Result<(), ScanError> {
    let req = s.req;
    if !s.privileges.raw && !s.privileges.icmp_dgram {
        let why = "no CAP_NET_RAW and net.ipv4.ping_group_range excludes this user";
        runs.push(run(Technique::Icmp, RunStatus::Skipped, Some(why.into()), 0, 0));
        return Ok(());
    }
    if s.out_of_time() {
        runs.push(run(Technique::Icmp, RunStatus::Partial, Some(super::OUT_OF_TIME.into()), 0, 0));
        s.progress.push("icmp (not run: time limit)", std::time::Duration::ZERO, Vec::new());
        return Ok(());
    }
    let started = Instant::now();
    // Hosts ARP found on its interface's network: echoed as frames to their MAC,
    // beside ARP's retries for those its first round found, now for the others.
    let by_frame: HashMap<Ipv4Addr, MacAddr> = match arp {
        Some(c) => found
            .arp
            .iter()
            .filter(|(ip, _)| c.iface.on_link(**ip))
            .filter(|(ip, _)| !c.beside.as_ref().is_some_and(|b| b.echoed.contains_key(ip)))
            .map(|(ip, h)| (*ip, h.mac))
            .collect(),
        None => HashMap::new(),
    };
    let (mut probes, mut cut_short) = (0u64, false);
    if let Some(b) = arp.and_then(|c| c.beside.as_ref()) {
        losses.push(b.outcome.estimated_loss());
        probes += b.outcome.probes_sent;
        cut_short |= b.outcome.cut_short;
        found.icmp.extend(echo::aggregate(&b.outcome));
        s.progress.push("icmp beside arp", b.elapsed, b.outcome.rounds.clone());
    }
    let mut rounds = Vec::new();
    let mut ran = false;
    if let Some(c) = arp.filter(|_| !by_frame.is_empty()) {
        ran = true;
        let (iface, hosts, lim, sent, timing) =
            (c.iface.clone(), by_frame.clone(), s.limiter.clone(), s.progress.sent.clone(), s.stateless);
        let outcome = super::blocking("icmp", move || echo_frames(&iface, &hosts, &lim, &sent, timing)).await?;
        losses.push(outcome.estimated_loss());
        probes += outcome.probes_sent;
        cut_short |= outcome.cut_short;
        rounds = outcome.rounds.clone();
        found.icmp.extend(echo::aggregate(&outcome));
    }
    // The rest through sockets: routed and IPv6 targets, or every target when ARP did not run.
    let rest: Vec<IpAddr> = req
        .targets
        .iter()
        .filter(|ip| !matches!((arp, ip), (Some(c), IpAddr::V4(v4)) if c.iface.on_link(*v4)))
        .collect();
    if !rest.is_empty() {
        ran = true;
        let outcome =
            icmp::sweep(rest.into_iter(), s.privileges.raw, s.timing, s.limiter.clone(), s.progress.sent.clone())
                .await
                .map_err(|source| ScanError::Io { technique: "icmp", source })?;
        losses.push(outcome.estimated_loss());
        probes += outcome.probes_sent;
        cut_short |= outcome.cut_short;
        found.icmp.extend(outcome.hosts);
    }
    if ran {
        s.progress.record("icmp", started, rounds);
    }
    let (status, reason) = if cut_short {
        (RunStatus::Partial, Some("cut short by the sweep's time limit".to_string()))
    } else {
        (RunStatus::Complete, if s.privileges.raw { None } else { Some("unprivileged ICMP socket".to_string()) })
    };
    runs.push(run(Technique::Icmp, status, reason, probes, found.icmp.len() as u64));
    Ok(())
}
