//! One sweep of one segment: run the requested techniques in order and
//! assemble the wire model's [`Batch`].
//!
//! Order matters for speed and accuracy: ARP first (every on-link host must
//! answer it, ICMP-silent or not), then ICMP echo only to ARP responders and
//! to addresses ARP could not cover (off-link), then the port sweep only to
//! hosts found alive — or to every address when no discovery technique ran.
//! Whatever cannot run (no CAP_NET_RAW, no on-link interface) is reported as
//! skipped with the reason, and the sweep falls back where it can (connect
//! instead of SYN, unprivileged ICMP sockets).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use census_proto::{
    AgentId, Batch, HostObservation, MacInfo, Port, PortObservation, PortState, RunStatus, SchemaVersion, SegmentScope,
    SweepCompleteness, SynAckSignature, TcpScanMode, Technique, TechniqueRun, TransportProtocol, Ttl,
};
use time::OffsetDateTime;

use crate::config::Limits;
use crate::io::{self, Interface, Privileges};
use crate::ports::PortSet;
use crate::rate::RateLimiter;
use crate::sweep::arp::{self, ArpHost, ArpProtocol};
use crate::sweep::engine::{self, Timing};
use crate::sweep::syn::{SynProtocol, SynReply};
use crate::sweep::{connect, icmp};
use crate::targets::TargetSet;

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Segment name reported in the batch.
    pub segment: String,
    /// Addresses to sweep.
    pub targets: TargetSet,
    /// Targets as written (for the batch).
    pub target_specs: Vec<String>,
    /// Exclusions as written.
    pub exclude_specs: Vec<String>,
    /// Techniques, in the order asked.
    pub techniques: Vec<Technique>,
    /// Ports for the TCP sweep.
    pub ports: PortSet,
    /// Interface to use, if named.
    pub interface: Option<String>,
    /// Rate and in-flight limits.
    pub limits: Limits,
    /// Wait for an answer.
    pub probe_timeout: Duration,
    /// Extra tries for silence.
    pub retries: u8,
    /// Use connect() even when SYN is possible.
    pub force_connect: bool,
    /// Report closed ports too (filtered ones are never listed).
    pub report_closed: bool,
    /// Hard limit on the whole sweep.
    pub max_duration: Duration,
    /// Probe open ports for banners, web pages and certificates.
    pub identify_services: bool,
    /// Name lookups for found hosts (PTR, mDNS, NetBIOS); `None` skips them.
    pub names: Option<crate::names::NameLookup>,
}

/// Shared progress counters for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Probes sent so far, all techniques.
    pub sent: Arc<AtomicU64>,
    /// The technique running now.
    pub phase: Mutex<String>,
}

impl Progress {
    fn set_phase(&self, phase: &str) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase.to_string();
    }
}

/// A sweep could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The request is invalid (e.g. too large).
    #[error("{0}")]
    Refused(String),
    /// A socket failed mid-sweep.
    #[error("{technique} sweep failed: {source}")]
    Io {
        /// Which technique.
        technique: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

#[derive(Default)]
struct Found {
    arp: BTreeMap<Ipv4Addr, ArpHost>,
    icmp: BTreeMap<IpAddr, icmp::IcmpHost>,
    ports: BTreeMap<IpAddr, BTreeMap<Port, PortState>>,
    syn_ack: BTreeMap<IpAddr, (SynAckSignature, u8)>,
    tcp_ttl: BTreeMap<IpAddr, u8>,
    tcp_seen_at: BTreeMap<IpAddr, Instant>,
    services: BTreeMap<(IpAddr, Port), census_proto::ServiceEvidence>,
    names: BTreeMap<IpAddr, Vec<census_proto::NameObservation>>,
    /// IPv6 addresses found on-link, with the MAC that answered for each.
    ndp: BTreeMap<std::net::Ipv6Addr, crate::sweep::ndp::V6Host>,
}

fn run(t: Technique, status: RunStatus, reason: Option<String>, sent: u64, replies: u64) -> TechniqueRun {
    TechniqueRun { technique: t, status, reason, tcp_mode: None, probes_sent: sent, replies, ports: None }
}

/// Sweep as requested and return the batch.
pub async fn scan(req: &ScanRequest, agent: &AgentId, progress: &Progress) -> Result<Batch, ScanError> {
    crate::config::check_target_size(&req.targets, &req.limits).map_err(ScanError::Refused)?;
    let mut swept = req.clone();
    swept.targets.exclude_link_broadcasts(io::interfaces().iter().map(|i| (i.ip, i.prefix)));
    // IPv6 networks too wide to sweep address by address (a /64) are
    // discovered on-link first; the other techniques probe what was found there.
    let full_targets = swept.targets.clone();
    swept.targets = full_targets.swept_and_found(std::iter::empty());
    let req = &swept;
    let started_at = OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let deadline = t0 + req.max_duration;
    let timing = Timing {
        timeout: req.probe_timeout,
        retries: req.retries,
        max_in_flight: req.limits.max_in_flight.get() as usize,
        deadline: Some(deadline),
    };
    // Stateless sweeps (ARP, SYN) keep only a small map entry per probe
    // awaiting an answer, so their window is what the rate fills in one
    // timeout: memory stays bounded (rate x timeout entries) and the in-flight
    // cap does not silently become the rate. Connections and echo tasks hold a
    // socket or a task each and keep the configured cap.
    let stateless = Timing {
        max_in_flight: timing
            .max_in_flight
            .max((f64::from(req.limits.rate.get()) * req.probe_timeout.as_secs_f64()).ceil() as usize + 64),
        ..timing
    };
    let privileges = Privileges::detect();
    let limiter = Arc::new(Mutex::new(RateLimiter::new(req.limits.rate.get())));
    let mut runs: Vec<TechniqueRun> = Vec::new();
    let mut found = Found::default();
    let mut losses: Vec<f64> = Vec::new();
    let mut arp_covered: Option<(Interface, bool)> = None; // (interface, covered every address)

    if req.techniques.contains(&Technique::Arp) {
        progress.set_phase("arp");
        let first_v4 = req.targets.iter().find_map(|ip| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        });
        match (privileges.raw, first_v4) {
            (_, None) => runs.push(run(
                Technique::Arp,
                RunStatus::NotApplicable,
                Some("no IPv4 targets (ARP is IPv4 only)".into()),
                0,
                0,
            )),
            (false, Some(_)) => runs.push(run(
                Technique::Arp,
                RunStatus::Skipped,
                Some("no CAP_NET_RAW (run as root or grant the capability)".into()),
                0,
                0,
            )),
            (true, Some(v4)) => match io::choose_interface(req.interface.as_deref(), v4) {
                // Off-link targets: ARP cannot reach them, and the other techniques sweep them.
                Err(e) if req.interface.is_none() && e.starts_with("no interface is directly connected") => {
                    runs.push(run(
                        Technique::Arp,
                        RunStatus::NotApplicable,
                        Some(format!("{e}: ARP applies only on-link; ICMP and TCP sweep routed targets")),
                        0,
                        0,
                    ))
                }
                Err(e) => runs.push(run(Technique::Arp, RunStatus::Skipped, Some(e), 0, 0)),
                Ok(iface) => {
                    let (targets, iface2, lim, sent) =
                        (req.targets.clone(), iface.clone(), limiter.clone(), progress.sent.clone());
                    let outcome = tokio::task::spawn_blocking(move || {
                        let proto = ArpProtocol { iface: &iface2, targets: &targets };
                        let (mut tx, rx) = io::datalink_pair(&iface2)?;
                        let mut l = lim.lock().unwrap_or_else(|p| p.into_inner());
                        engine::run(&proto, tx.as_mut(), rx, &|| proto.keys(), stateless, &mut l, &sent)
                    })
                    .await
                    .map_err(|e| ScanError::Io { technique: "arp", source: std::io::Error::other(e) })?
                    .map_err(|source| ScanError::Io { technique: "arp", source })?;
                    found.arp = arp::aggregate(&outcome);
                    losses.push(outcome.estimated_loss());
                    let off_link = req.targets.iter().any(|ip| !matches!(ip, IpAddr::V4(v4) if iface.on_link(v4)));
                    let (status, reason) = if outcome.cut_short {
                        (RunStatus::Partial, Some("cut short by the sweep's time limit".to_string()))
                    } else if off_link {
                        // Every address ARP can reach was swept; the others are routed
                        // (ICMP and TCP sweep them), which leaves nothing undone.
                        (
                            RunStatus::Complete,
                            Some(format!("only addresses on {}'s network are ARP-reachable", iface.name)),
                        )
                    } else {
                        (RunStatus::Complete, None)
                    };
                    runs.push(run(Technique::Arp, status, reason, outcome.probes_sent, outcome.answers.len() as u64));
                    arp_covered = Some((iface, !off_link && !outcome.cut_short));
                }
            },
        }
    }

    // IPv6 on-link: the link's nodes answer one multicast echo (a /64 is never swept address by address).
    if req.techniques.iter().any(|t| matches!(t, Technique::Icmp | Technique::Arp)) {
        progress.set_phase("ipv6 neighbours");
        let wait = (req.probe_timeout * 2).max(Duration::from_secs(1));
        let macs: Vec<census_proto::MacAddr> = found.arp.values().map(|a| a.mac).collect();
        if let Some((r, v6)) =
            crate::sweep::ndp::on_link(&full_targets, req.interface.as_deref(), &macs, privileges.raw, wait).await
        {
            runs.push(r);
            found.ndp = v6.hosts;
        }
    }
    // From here on, IPv6 networks too wide to sweep are probed only at the addresses found on them.
    let narrowed = ScanRequest { targets: full_targets.swept_and_found(found.ndp.keys().copied()), ..req.clone() };
    let req = &narrowed;

    if req.techniques.contains(&Technique::Icmp) {
        progress.set_phase("icmp");
        if !privileges.raw && !privileges.icmp_dgram {
            runs.push(run(
                Technique::Icmp,
                RunStatus::Skipped,
                Some("no CAP_NET_RAW and net.ipv4.ping_group_range excludes this user".into()),
                0,
                0,
            ));
        } else {
            // On-link addresses that did not answer ARP cannot answer ICMP either.
            let arp_hosts: BTreeSet<IpAddr> = found.arp.keys().map(|a| IpAddr::V4(*a)).collect();
            let covered = arp_covered.clone();
            let targets = req.targets.iter().filter(move |ip| match (&covered, ip) {
                (Some((iface, _)), IpAddr::V4(v4)) if iface.on_link(*v4) => arp_hosts.contains(ip),
                _ => true,
            });
            // Hosts ARP already proved alive on-link answer within a few of ARP's
            // round trips if they answer at all: wait for that, not the full timeout.
            let icmp_timing = match (&arp_covered, found.arp.values().filter_map(|a| a.rtt).max()) {
                (Some((_, true)), Some(max_rtt)) => Timing {
                    // At least 250 ms: on a loaded machine (the test suite's
                    // parallel lab sweeps) echo replies came back later than
                    // 50 ms, and hosts were reported ICMP-silent.
                    timeout: (max_rtt * 20).clamp(Duration::from_millis(250), timing.timeout),
                    retries: timing.retries.min(1),
                    ..timing
                },
                _ => timing,
            };
            let outcome = icmp::sweep(targets, privileges.raw, icmp_timing, limiter.clone(), progress.sent.clone())
                .await
                .map_err(|source| ScanError::Io { technique: "icmp", source })?;
            losses.push(outcome.estimated_loss());
            let (status, reason) = if outcome.cut_short {
                (RunStatus::Partial, Some("cut short by the sweep's time limit".to_string()))
            } else {
                (RunStatus::Complete, if privileges.raw { None } else { Some("unprivileged ICMP socket".to_string()) })
            };
            runs.push(run(Technique::Icmp, status, reason, outcome.probes_sent, outcome.hosts.len() as u64));
            found.icmp = outcome.hosts;
        }
    }

    if req.techniques.contains(&Technique::Tcp) {
        progress.set_phase("tcp");
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
        let syn = privileges.raw && !req.force_connect;
        let mut tcp_run = if syn {
            tcp_syn(
                req,
                &hosts,
                all_targets,
                arp_covered.as_ref().map(|c| &c.0),
                // SYN probes are stateless (cookies), like ARP's: a window of
                // 1,024 held by silent addresses for a whole timeout capped a
                // --no-arp sweep of a /24 at about 2,200 pps of 5,000.
                stateless,
                &limiter,
                progress,
                &mut found,
            )
            .await?
        } else {
            tcp_connect(req, &hosts, all_targets, timing, &limiter, progress, &mut found).await
        };
        if !syn {
            tcp_run.reason = Some(if req.force_connect {
                "connect() scan requested".into()
            } else {
                "no CAP_NET_RAW: connect() scan instead of SYN".into()
            });
        }
        runs.push(tcp_run);
    }

    // Service probes and reverse DNS run side by side, after the sweep, so
    // neither holds the sweep up.
    progress.set_phase("services and names");
    let live: Vec<IpAddr> = responders(&found).into_iter().collect();
    let services = async { if req.identify_services { identify(&found, deadline).await } else { BTreeMap::new() } };
    let names = async {
        match &req.names {
            Some(how) => crate::names::lookup(live, how, req.limits.rate, deadline.into()).await,
            None => BTreeMap::new(),
        }
    };
    let (services, names) = tokio::join!(services, names);
    found.services = services;
    found.names = names;

    let finished_at = OffsetDateTime::now_utc();
    let to_wall = |i: Instant| started_at + i.saturating_duration_since(t0);
    let hosts = assemble(&found, req.report_closed, &to_wall);
    let lim = limiter.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let probes_sent: u64 = runs.iter().map(|r| r.probes_sent).sum();
    let replies: u64 = runs.iter().map(|r| r.replies).sum();
    let complete = runs.iter().all(|r| matches!(r.status, RunStatus::Complete | RunStatus::NotApplicable));
    let probed = census_proto::portlist::compact(req.ports.ports());
    for r in runs.iter_mut().filter(|r| r.technique == Technique::Tcp && r.status != RunStatus::Skipped) {
        r.ports = Some(probed.clone());
    }
    let enriched = req.identify_services && req.names.is_some();
    Ok(Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: agent.clone(),
        segment: SegmentScope {
            name: req.segment.clone(),
            targets: req.target_specs.iter().filter_map(|s| s.parse().ok()).collect(),
            excluded: req.exclude_specs.iter().filter_map(|s| spec_to_net(s)).collect(),
        },
        started_at,
        finished_at,
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
    })
}

fn spec_to_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse().ok().or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
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

#[allow(clippy::too_many_arguments)]
async fn tcp_syn(
    req: &ScanRequest,
    hosts: &[IpAddr],
    all_targets: bool,
    iface: Option<&Interface>,
    timing: Timing,
    limiter: &Arc<Mutex<RateLimiter>>,
    progress: &Progress,
    found: &mut Found,
) -> Result<TechniqueRun, ScanError> {
    let first = match tcp_keys(req, hosts, all_targets).next() {
        None => return Ok(syn_run(RunStatus::Complete, None, 0, 0)),
        Some((IpAddr::V4(v4), _)) => v4,
        Some((IpAddr::V6(_), _)) => {
            // SYN probes are IPv4-only for now; IPv6 ports go through connect().
            let mut r = tcp_connect(req, hosts, all_targets, timing, limiter, progress, found).await;
            r.reason = Some("IPv6 targets: connect() scan".into());
            return Ok(r);
        }
    };
    let src = match iface {
        Some(i) if i.on_link(first) => i.ip,
        _ => source_for(first).map_err(|source| ScanError::Io { technique: "tcp", source })?,
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
        limiter.clone(),
        progress.sent.clone(),
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let (mut tx, rx) = io::raw_tcp_pair(proto.src, rate_pps)?;
        let mut l = lim.lock().unwrap_or_else(|p| p.into_inner());
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
        engine::run(&proto, tx.as_mut(), rx, &keys, timing, &mut l, &sent)
    })
    .await
    .map_err(|e| ScanError::Io { technique: "tcp", source: std::io::Error::other(e) })?
    .map_err(|source| ScanError::Io { technique: "tcp", source })?;
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
    Ok(syn_run(status, reason, outcome.probes_sent, outcome.answers.len() as u64))
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

async fn tcp_connect(
    req: &ScanRequest,
    hosts: &[IpAddr],
    all_targets: bool,
    timing: Timing,
    limiter: &Arc<Mutex<RateLimiter>>,
    progress: &Progress,
    found: &mut Found,
) -> TechniqueRun {
    let outcome =
        connect::sweep(tcp_keys(req, hosts, all_targets), timing, limiter.clone(), progress.sent.clone()).await;
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

/// The source address the kernel would use towards `dst` (no packet is sent).
fn source_for(dst: Ipv4Addr) -> std::io::Result<Ipv4Addr> {
    let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.connect((dst, 9))?;
    match s.local_addr()?.ip() {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(_) => Err(std::io::Error::other("no IPv4 source address")),
    }
}

/// Service probes on every open port, a bounded number at a time.
async fn identify(found: &Found, deadline: Instant) -> BTreeMap<(IpAddr, Port), census_proto::ServiceEvidence> {
    use crate::fingerprint::probe::{ProbeLimits, probe};
    let open: Vec<(IpAddr, Port)> = found
        .ports
        .iter()
        .flat_map(|(ip, ports)| ports.iter().filter(|(_, s)| **s == PortState::Open).map(move |(p, _)| (*ip, *p)))
        .collect();
    let tls = crate::fingerprint::tls::read_only_client();
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for (ip, port) in open {
        let (slots, tls) = (slots.clone(), tls.clone());
        tasks.spawn(async move {
            let _permit = slots.acquire_owned().await.ok()?;
            let limits = ProbeLimits {
                total: ProbeLimits::default().total.min(deadline.saturating_duration_since(Instant::now())),
                ..ProbeLimits::default()
            };
            probe(ip, port, limits, tls).await.map(|e| ((ip, port), e))
        });
    }
    let mut out = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some((key, ev))) = r {
            out.insert(key, ev);
        }
    }
    out
}

/// Every address that answered anything: ARP, ICMP, or an open or closed port.
fn responders(found: &Found) -> BTreeSet<IpAddr> {
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

fn mac_info(mac: census_proto::MacAddr) -> MacInfo {
    MacInfo { vendor: crate::fingerprint::vendor::vendor(mac), ..MacInfo::new(mac) }
}

fn assemble(found: &Found, report_closed: bool, to_wall: &dyn Fn(Instant) -> OffsetDateTime) -> Vec<HostObservation> {
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
        let rtt = [arp.and_then(|a| a.rtt), icmp.map(|i| i.rtt)].into_iter().flatten().min();
        let reply_ttl = icmp.and_then(|i| i.ttl).or_else(|| found.tcp_ttl.get(&ip).copied()).map(Ttl);
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
