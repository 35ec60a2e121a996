//! TCP connect() sweep: the unprivileged fallback for the port sweep.
//!
//! The kernel does the handshake: a completed connect is open, a refusal
//! closed, a timeout filtered (retried before it is believed). Connections
//! are closed at once. One task per (host, port) in flight, bounded by
//! `max_in_flight`, paced by the global rate limiter.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use census_proto::{Port, PortState};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::engine::Timing;
use crate::rate::RateLimiter;

/// The result of a connect sweep.
#[derive(Debug, Default)]
pub struct ConnectOutcome {
    /// State of every probed (host, port); only hosts with an open or closed port are listed.
    pub ports: BTreeMap<IpAddr, BTreeMap<Port, PortState>>,
    /// Connection attempts made.
    pub probes_sent: u64,
    /// Attempts answered (open or closed).
    pub replies: u64,
    /// The deadline cut the sweep short.
    pub cut_short: bool,
}

/// Probe every (host, port) pair `keys` yields with connect().
pub async fn sweep(
    keys: impl Iterator<Item = (IpAddr, Port)>,
    timing: Timing,
    limiter: Arc<Mutex<RateLimiter>>,
    progress: Arc<AtomicU64>,
) -> ConnectOutcome {
    let slots = Arc::new(Semaphore::new(timing.max_in_flight.max(1)));
    let mut tasks: JoinSet<(IpAddr, Port, PortState, u64)> = JoinSet::new();
    let mut out = ConnectOutcome::default();
    let take = |out: &mut ConnectOutcome, r: Result<(IpAddr, Port, PortState, u64), tokio::task::JoinError>| {
        if let Ok((ip, port, state, sent)) = r {
            out.probes_sent += sent;
            if state != PortState::Filtered {
                out.replies += 1;
            }
            out.ports.entry(ip).or_default().insert(port, state);
        }
    };
    for (ip, port) in keys {
        if timing.deadline.is_some_and(|d| Instant::now() >= d) {
            out.cut_short = true;
            break;
        }
        let Ok(permit) = slots.clone().acquire_owned().await else { break };
        while let Some(r) = tasks.try_join_next() {
            take(&mut out, r);
        }
        let (limiter, progress) = (limiter.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let mut sent = 0;
            for _ in 0..=timing.retries {
                crate::rate::acquire(&limiter).await;
                progress.fetch_add(1, Ordering::Relaxed);
                sent += 1;
                let attempt = tokio::net::TcpStream::connect(SocketAddr::new(ip, port.0));
                match tokio::time::timeout(timing.timeout, attempt).await {
                    Ok(Ok(_stream)) => return (ip, port, PortState::Open, sent),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return (ip, port, PortState::Closed, sent);
                    }
                    // Unreachable, timed out: try again, then call it filtered.
                    _ => {}
                }
            }
            (ip, port, PortState::Filtered, sent)
        });
    }
    while let Some(r) = tasks.join_next().await {
        take(&mut out, r);
    }
    out.ports.retain(|_, ports| ports.values().any(|s| *s != PortState::Filtered));
    out
}
