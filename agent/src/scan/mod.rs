//! One sweep of one segment: run the requested techniques in order and
//! assemble the wire model's [`Batch`].
//!
//! Order matters for speed and accuracy: ARP first (every on-link host must
//! answer it, ICMP-silent or not), then the link's IPv6 nodes, then ICMP
//! echo only to ARP responders and to addresses ARP could not cover
//! (off-link), then the port sweep only to hosts found alive — or to every
//! address when no discovery technique ran. Whatever cannot run (no
//! CAP_NET_RAW, no on-link interface) is reported as skipped with the
//! reason, and the sweep falls back where it can (connect instead of SYN,
//! unprivileged ICMP sockets).
//!
//! The steps live beside this file: [`discovery`] (ARP and echo),
//! [`ports`] (SYN and connect), [`enrich`] (service probes and names, after
//! the sweep) and [`assemble`] (the batch). [`timing`] keeps where the time
//! went for `--verbose`.

mod assemble;
mod discovery;
mod enrich;
mod ports;
pub mod timing;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use census_proto::{AgentId, Batch, Port, PortState, RunStatus, SynAckSignature, Technique, TechniqueRun};
use time::OffsetDateTime;

use crate::io::{self, Privileges};
use crate::ports::PortSet;
use crate::rate::RateLimiter;
use crate::sweep::arp::ArpHost;
use crate::sweep::engine::Timing;
use crate::sweep::icmp;
use crate::sweep::options::{Limits, SweepOptions, check_target_size};
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
    /// Probe timeout, retries and the limit on the whole sweep.
    pub sweep: SweepOptions,
    /// Use connect() even when SYN is possible.
    pub force_connect: bool,
    /// Report closed ports too (filtered ones are never listed).
    pub report_closed: bool,
    /// Probe open ports for banners, web pages and certificates.
    pub identify_services: bool,
    /// Name lookups for found hosts (PTR, mDNS, NetBIOS); `None` skips them.
    pub names: Option<crate::names::NameLookup>,
    /// MAC vendors: the registry and any operator overrides.
    pub vendors: Arc<crate::fingerprint::vendor::VendorTable>,
}

/// Shared progress counters for a progress bar, and where the time went.
#[derive(Debug, Default)]
pub struct Progress {
    /// Probes sent so far, all techniques.
    pub sent: Arc<AtomicU64>,
    /// The technique running now.
    pub phase: Mutex<String>,
    /// Each step's time, in order (see [`timing`]).
    pub steps: Mutex<Vec<timing::StepTiming>>,
}

impl Progress {
    fn set_phase(&self, phase: &str) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase.to_string();
    }

    fn record(&self, step: &'static str, started: Instant, rounds: Vec<crate::sweep::engine::RoundStats>) {
        self.push(step, started.elapsed(), rounds);
    }

    fn push(&self, step: &'static str, elapsed: Duration, rounds: Vec<crate::sweep::engine::RoundStats>) {
        let t = timing::StepTiming { step, elapsed, rounds };
        self.steps.lock().unwrap_or_else(|p| p.into_inner()).push(t);
    }

    /// The steps recorded so far.
    pub fn steps(&self) -> Vec<timing::StepTiming> {
        self.steps.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
pub(crate) struct Found {
    pub(crate) arp: BTreeMap<Ipv4Addr, ArpHost>,
    pub(crate) icmp: BTreeMap<IpAddr, icmp::IcmpHost>,
    pub(crate) ports: BTreeMap<IpAddr, BTreeMap<Port, PortState>>,
    pub(crate) syn_ack: BTreeMap<IpAddr, (SynAckSignature, u8)>,
    pub(crate) tcp_ttl: BTreeMap<IpAddr, u8>,
    pub(crate) tcp_seen_at: BTreeMap<IpAddr, Instant>,
    pub(crate) services: BTreeMap<(IpAddr, Port), census_proto::ServiceEvidence>,
    pub(crate) names: BTreeMap<IpAddr, Vec<census_proto::NameObservation>>,
    /// IPv6 addresses found on-link, with the MAC that answered for each.
    pub(crate) ndp: BTreeMap<std::net::Ipv6Addr, crate::sweep::ndp::V6Host>,
}

pub(crate) fn run(t: Technique, status: RunStatus, reason: Option<String>, sent: u64, replies: u64) -> TechniqueRun {
    TechniqueRun { technique: t, status, reason, tcp_mode: None, probes_sent: sent, replies, ports: None }
}

/// Run `f`, socket work that blocks, on a blocking thread: its error, or
/// the thread's, is `technique`'s.
async fn blocking<T: Send + 'static>(
    technique: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ScanError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ScanError::Io { technique, source: std::io::Error::other(e) })?
        .map_err(|source| ScanError::Io { technique, source })
}

/// Why a step did not run.
const OUT_OF_TIME: &str = "not run: the sweep's time limit was reached before it";

impl Sweep<'_> {
    /// The sweep's time limit has passed: later steps do not start.
    fn out_of_time(&self) -> bool {
        self.timing.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What every step of one sweep shares.
pub(crate) struct Sweep<'a> {
    /// The request, narrowed to what is swept.
    pub req: &'a ScanRequest,
    /// Timing for socket-per-probe techniques (echo sockets, connect()).
    pub timing: Timing,
    /// Timing for the stateless engine sweeps (ARP, echo frames, SYN).
    pub stateless: Timing,
    pub privileges: Privileges,
    pub limiter: Arc<Mutex<RateLimiter>>,
    pub progress: &'a Progress,
}

/// Sweep as requested and return the batch.
///
/// # Errors
/// [`ScanError::Refused`] for a request over the size limits,
/// [`ScanError::Io`] when a socket fails mid-sweep.
pub async fn scan(req: &ScanRequest, agent: &AgentId, progress: &Progress) -> Result<Batch, ScanError> {
    check_target_size(&req.targets, &req.limits).map_err(ScanError::Refused)?;
    let mut swept = req.clone();
    swept.targets.exclude_link_broadcasts(io::interfaces().iter().map(|i| (i.ip, i.prefix)));
    swept.targets.exclude_own(io::local_addresses());
    // IPv6 networks too wide to sweep address by address (a /64) are
    // discovered on-link first; the other techniques probe what was found there.
    let full_targets = swept.targets.clone();
    swept.targets = full_targets.swept_and_found(std::iter::empty());
    let started_at = OffsetDateTime::now_utc();
    let t0 = Instant::now();
    let deadline = t0 + req.sweep.max_duration();
    let timing = Timing {
        timeout: req.sweep.probe_timeout(),
        fixed_wait: req.sweep.fixed_wait(),
        retries: req.sweep.retries(),
        max_in_flight: req.limits.max_in_flight.get() as usize,
        deadline: Some(deadline),
    };
    // Stateless sweeps (ARP, echo frames, SYN) keep only a small map entry
    // per probe awaiting an answer, so their window is what the rate fills in
    // one timeout: memory stays bounded (rate x timeout entries) and the
    // in-flight cap does not silently become the rate. Connections and echo
    // sockets hold a socket or a task each and keep the configured cap.
    // (A window of 1,024 held by silent addresses for a whole timeout capped
    // a --no-arp SYN sweep of a /24 at about 2,200 pps of 5,000.)
    let stateless = Timing {
        max_in_flight: timing
            .max_in_flight
            .max((f64::from(req.limits.rate.get()) * req.sweep.probe_timeout().as_secs_f64()).ceil() as usize + 64),
        ..timing
    };
    let limiter = Arc::new(Mutex::new(RateLimiter::new(req.limits.rate.get())));
    let mut s = Sweep { req: &swept, timing, stateless, privileges: Privileges::detect(), limiter, progress };
    let mut runs: Vec<TechniqueRun> = Vec::new();
    let mut found = Found::default();
    let mut losses: Vec<f64> = Vec::new();

    let mut arp = None;
    if req.techniques.contains(&Technique::Arp) {
        progress.set_phase("arp");
        let echo_beside = req.techniques.contains(&Technique::Icmp);
        arp = discovery::arp_step(&s, echo_beside, &mut runs, &mut found, &mut losses).await?;
    }
    // IPv6 on-link: the link's nodes answer one multicast echo (a /64 is never swept address by address).
    if req.techniques.iter().any(|t| matches!(t, Technique::Icmp | Technique::Arp)) {
        progress.set_phase("ipv6 neighbours");
        let started = Instant::now();
        let wait = (req.sweep.probe_timeout() * 2).max(Duration::from_secs(1));
        let macs: Vec<census_proto::MacAddr> = found.arp.values().map(|a| a.mac).collect();
        if let Some((r, v6)) =
            crate::sweep::ndp::on_link(&full_targets, req.interface.as_deref(), &macs, s.privileges.raw, wait).await
        {
            runs.push(r);
            found.ndp = v6.hosts;
            progress.record("ipv6 neighbours", started, Vec::new());
        }
    }
    // From here on, IPv6 networks too wide to sweep are probed only at the addresses found on them.
    let narrowed = ScanRequest { targets: full_targets.swept_and_found(found.ndp.keys().copied()), ..swept.clone() };
    s.req = &narrowed;
    if req.techniques.contains(&Technique::Icmp) {
        progress.set_phase("icmp");
        discovery::echo_step(&s, arp.as_ref(), &mut runs, &mut found, &mut losses).await?;
    }
    if req.techniques.contains(&Technique::Tcp) {
        progress.set_phase("tcp");
        let started = Instant::now();
        let (tcp_run, rounds) = ports::tcp_step(&s, &runs, arp.as_ref().map(|c| &c.iface), &mut found).await?;
        runs.push(tcp_run);
        progress.record("tcp", started, rounds);
    }
    // Service probes and reverse DNS run side by side, after the sweep, so
    // neither holds the sweep up.
    progress.set_phase("services and names");
    let started = Instant::now();
    enrich::enrich(s.req, &mut found, deadline).await;
    if s.req.identify_services || s.req.names.is_some() {
        progress.record("services and names", started, Vec::new());
    }
    let lim = s.limiter.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let to_wall = |i: Instant| started_at + i.saturating_duration_since(t0);
    let window = assemble::Window { started_at, finished_at: OffsetDateTime::now_utc(), to_wall: &to_wall };
    Ok(assemble::batch(s.req, agent, &found, runs, &losses, &lim, &window))
}
