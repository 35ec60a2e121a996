//! `census-agent run`: the agent as a service.
//!
//! One task per segment sweeps on its schedule ([`schedule`]) and writes
//! each batch to the [`spool`] before anything else; one delivery task
//! drains the spool to the daemon ([`deliver`]) oldest first. So a batch is
//! never only in memory: a dead daemon, an agent restart or a SIGKILL all
//! leave it on disk, and the daemon's idempotent ingest makes the resend
//! exactly-once.
//!
//! Signals: SIGTERM/SIGINT stop the schedule, abandon a sweep in progress
//! (nothing of it was promised yet) and let a delivery in flight finish for
//! up to a few seconds — whatever is not acknowledged stays spooled. SIGHUP
//! reloads the configuration and the token; a bad new configuration is
//! refused with the reason and the old one kept.

pub mod deliver;
pub mod metrics;
pub mod passive;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use census_proto::{AgentId, encode_batch};
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::{AgentConfig, Segment};
use crate::schedule;
use census_proto::retry::backoff;
use deliver::{Deliverer, Outcome};
use metrics::{AgentMetrics, DeliveryResult, SweepResult};
use spool::Spool;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// The state directory or a signal handler could not be set up.
    #[error("{0}")]
    Io(String),
}

pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn random() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

/// Everything one configuration generation runs with.
struct Generation {
    cfg: AgentConfig,
    deliverer: Deliverer,
    retry_max: Duration,
    /// MAC vendors: the registry and the configuration's overrides.
    vendors: Arc<crate::fingerprint::vendor::VendorTable>,
}

fn prepare(path: &Path) -> Result<Generation, ServiceError> {
    let cfg = crate::config::load(path).map_err(|e| ServiceError::Config(e.to_string()))?;
    let d = cfg.daemon.as_ref().ok_or_else(|| {
        ServiceError::Config(format!("{}: `run` needs a [daemon] section to deliver to", path.display()))
    })?;
    if cfg.segments.is_empty() {
        return Err(ServiceError::Config(format!("{}: no [[segment]] to sweep", path.display())));
    }
    let token = census_proto::config::read_operator_file(&d.token_file, census_proto::config::MAX_SECRET_FILE)
        .map_err(|e| ServiceError::Config(format!("the token file {}: {e}", d.token_file.display())))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(ServiceError::Config(format!("the token file {} is empty", d.token_file.display())));
    }
    let deliverer = Deliverer::new(&d.url, token, d.ca_file.as_deref(), d.pin_sha256.as_deref(), d.timeout)
        .map_err(ServiceError::Config)?;
    let vendors = match &cfg.oui_overrides {
        Some((path, entries)) => {
            tracing::info!(file = %path.display(), entries = entries.len(), "MAC vendor overrides loaded");
            crate::fingerprint::vendor::VendorTable::with_overrides(entries.clone())
        }
        None => crate::fingerprint::vendor::VendorTable::registry(),
    };
    let retry_max = d.retry_max;
    Ok(Generation { cfg, deliverer, retry_max, vendors: Arc::new(vendors) })
}

/// Run until SIGTERM or SIGINT.
pub async fn run(config_path: PathBuf) -> Result<(), ServiceError> {
    let io = |e: std::io::Error| ServiceError::Io(e.to_string());
    let mut generation = prepare(&config_path)?;
    let spool = Arc::new(
        Spool::open(&generation.cfg.state_dir, generation.cfg.spool_max_bytes)
            .map_err(|e| ServiceError::Io(format!("spool in {}: {e}", generation.cfg.state_dir.display())))?,
    );
    let mut term = signal(SignalKind::terminate()).map_err(io)?;
    let mut int = signal(SignalKind::interrupt()).map_err(io)?;
    let mut hup = signal(SignalKind::hangup()).map_err(io)?;
    let metrics = Arc::new(AgentMetrics::new());
    let (metrics_stop, metrics_stopped) = watch::channel(false);
    let metrics_server = match generation.cfg.metrics_listen {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                ServiceError::Io(format!("listening for metrics scrapes on {addr} (metrics.listen): {e}"))
            })?;
            tracing::info!(listen = %addr, "serving Prometheus metrics at /metrics");
            let (m, s) = (metrics.clone(), spool.clone());
            let render = move || {
                let (m, s) = (m.clone(), s.clone());
                async move { tokio::task::spawn_blocking(move || m.render(&s)).await.unwrap_or_default() }
            };
            let mut stop = metrics_stopped;
            Some(tokio::spawn(census_metrics::serve(listener, render, async move { stopped(&mut stop).await })))
        }
    };
    let privileges = crate::io::Privileges::detect();
    tracing::info!(
        agent = %generation.cfg.agent_id,
        segments = generation.cfg.segments.len(),
        spooled = spool.list().map(|l| l.len()).unwrap_or(0),
        raw_sockets = privileges.raw,
        icmp_sockets = privileges.icmp_dgram,
        "census-agent running"
    );
    loop {
        metrics.configure_segments(&generation.cfg.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let agent = AgentId(generation.cfg.agent_id.clone());
        for seg in &generation.cfg.segments {
            let (seg, limits) = (seg.clone(), generation.cfg.limits);
            let (spool, wake, stop, agent) = (spool.clone(), wake.clone(), stop_rx.clone(), agent.clone());
            let (m, req) = (metrics.clone(), seg.request(&limits, &generation.vendors));
            tasks.spawn(async move { sweeper(seg, req, agent, spool, wake, stop, m).await });
        }
        // Passive listening blocks on its capture: a thread of its own per
        // segment, which checks the stop signal every second.
        let mut listeners = Vec::new();
        for seg in generation.cfg.segments.iter().filter(|s| s.passive) {
            let (seg, spool, wake, stop, agent, vendors) =
                (seg.clone(), spool.clone(), wake.clone(), stop_rx.clone(), agent.clone(), generation.vendors.clone());
            listeners.push(std::thread::spawn(move || passive::run(seg, vendors, agent, spool, wake, stop)));
        }
        let (d, s, w, st) = (generation.deliverer.clone(), spool.clone(), wake.clone(), stop_rx.clone());
        let (retry_max, m) = (generation.retry_max, metrics.clone());
        tasks.spawn(async move { delivery(d, retry_max, s, w, st, m).await });
        let reload = loop {
            tokio::select! {
                _ = term.recv() => break false,
                _ = int.recv() => break false,
                _ = hup.recv() => match prepare(&config_path) {
                    Ok(g) => {
                        tracing::info!(config = %config_path.display(), "configuration reloaded");
                        generation = g;
                        break true;
                    }
                    Err(e) => tracing::error!(error = %e, "the new configuration is refused; keeping the old one"),
                },
            }
        };
        let _ = stop_tx.send(true);
        // Sweeps stop at once; a delivery in flight gets a few seconds.
        let drained =
            tokio::time::timeout(Duration::from_secs(4), async { while tasks.join_next().await.is_some() {} });
        if drained.await.is_err() {
            tasks.abort_all();
        }
        for l in listeners {
            let _ = tokio::task::spawn_blocking(move || l.join()).await;
        }
        if !reload {
            let _ = metrics_stop.send(true);
            if let Some(m) = metrics_server {
                let _ = m.await;
            }
            tracing::info!(spooled = spool.list().map(|l| l.len()).unwrap_or(0), "census-agent stopped");
            return Ok(());
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sweep `seg` on its schedule with `req` (the segment's request, built once).
async fn sweeper(
    seg: Segment,
    req: crate::scan::ScanRequest,
    agent: AgentId,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<AgentMetrics>,
) {
    let mut last: Option<OffsetDateTime> = None;
    loop {
        let now = OffsetDateTime::now_utc();
        let next = schedule::next_run(now, last, seg.interval, seg.jitter, seg.quiet_hours, random());
        let wait = (next - now).try_into().unwrap_or(Duration::ZERO);
        if wait > Duration::from_secs(1) {
            tracing::debug!(segment = %seg.name, in_s = wait.as_secs(), "next sweep scheduled");
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        last = Some(OffsetDateTime::now_utc());
        let progress = crate::scan::Progress::default();
        let started = std::time::Instant::now();
        let result = tokio::select! {
            _ = stopped(&mut stop) => {
                tracing::info!(segment = %seg.name, "sweep in progress abandoned at shutdown");
                return;
            }
            r = crate::scan::scan(&req, &agent, &progress) => r,
        };
        match &result {
            Ok(batch) => metrics.sweep(
                &seg.name,
                if batch.completeness.complete { SweepResult::Complete } else { SweepResult::Partial },
                started.elapsed(),
                batch.completeness.probes_sent,
                batch.hosts.len(),
            ),
            Err(_) => metrics.sweep(&seg.name, SweepResult::Failed, started.elapsed(), 0, 0),
        }
        match result {
            Ok(mut batch) => {
                // Tell the daemon when to expect the next sweep at the latest
                // (the largest jitter, quiet hours included), so it can tell
                // a silent agent from one between sweeps.
                let jitter_max = seg.jitter.as_millis() as u64;
                batch.schedule = Some(census_proto::SweepSchedule {
                    interval_s: seg.interval.as_secs(),
                    next_sweep_by: schedule::next_run(
                        OffsetDateTime::now_utc(),
                        last,
                        seg.interval,
                        seg.jitter,
                        seg.quiet_hours,
                        jitter_max,
                    ),
                });
                let body = encode_batch(&batch);
                match spool.put(&batch.batch_id.to_string(), now_ms(), &body) {
                    Ok(_) => {
                        tracing::info!(
                            segment = %seg.name,
                            batch = %batch.batch_id,
                            hosts = batch.hosts.len(),
                            complete = batch.completeness.complete,
                            "batch spooled"
                        );
                        wake.notify_one();
                    }
                    Err(e) => {
                        metrics.spool_write_failed();
                        tracing::error!(segment = %seg.name, error = %e, "cannot write the batch to the spool; it is lost")
                    }
                }
            }
            Err(e) => tracing::error!(segment = %seg.name, error = %e, "sweep failed"),
        }
    }
}

async fn delivery(
    d: Deliverer,
    retry_max: Duration,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<AgentMetrics>,
) {
    let mut attempt = 0u32;
    loop {
        let items = spool.list().unwrap_or_default();
        if items.is_empty() {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = wake.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
            }
        }
        for item in items {
            if *stop.borrow() {
                return;
            }
            let Ok(body) = std::fs::read(&item.path) else { continue };
            match d.send(&item.batch_id, body).await {
                Outcome::Delivered { duplicate } => {
                    metrics.delivery(if duplicate { DeliveryResult::Duplicate } else { DeliveryResult::Delivered });
                    attempt = 0;
                    if let Err(e) = spool.remove(&item) {
                        tracing::error!(batch = %item.batch_id, error = %e, "delivered but cannot remove from the spool; it will be resent (harmless)");
                    }
                    tracing::info!(batch = %item.batch_id, duplicate, "batch delivered");
                }
                Outcome::Retry(reason) => {
                    metrics.delivery(DeliveryResult::Retry);
                    attempt += 1;
                    let wait = backoff(attempt, retry_max);
                    tracing::warn!(
                        batch = %item.batch_id,
                        attempt,
                        retry_in_ms = wait.as_millis() as u64,
                        reason = %reason,
                        "delivery failed; the batch stays in the spool"
                    );
                    tokio::select! {
                        _ = stopped(&mut stop) => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    break;
                }
                Outcome::Unauthorized(reason) => {
                    metrics.delivery(DeliveryResult::Unauthorized);
                    tracing::error!(
                        reason = %reason,
                        spooled = spool.list().map(|l| l.len()).unwrap_or(0),
                        "the daemon refused this agent's token (revoked or wrong): delivery stopped, batches stay in the spool; fix the token file and send SIGHUP"
                    );
                    stopped(&mut stop).await;
                    return;
                }
                Outcome::Rejected(reason) => {
                    metrics.delivery(DeliveryResult::Rejected);
                    let kept = spool.reject(&item).map(|p| p.display().to_string()).unwrap_or_default();
                    tracing::error!(batch = %item.batch_id, reason = %reason, kept = %kept, "the daemon rejected the batch; set aside, not resent");
                }
            }
        }
    }
}
