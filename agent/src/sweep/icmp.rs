//! ICMP (and ICMPv6) echo sweep with surge-ping: RTT and reply TTL per host.
//!
//! One task per address in flight, bounded by `max_in_flight` and fed from
//! the lazy target iterator, every echo paced by the global rate limiter.
//! Raw sockets when privileged (the reply's TTL is read from its IP header);
//! otherwise unprivileged datagram sockets where `net.ipv4.ping_group_range`
//! allows them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::engine::Timing;
use crate::rate::RateLimiter;

/// What an echo sweep learned about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpHost {
    /// Best round trip (unknown for an answer that came after its round ended).
    pub rtt: Option<Duration>,
    /// TTL / hop limit of the reply, when the socket shows it.
    pub ttl: Option<u8>,
    /// When the reply came.
    pub at: Instant,
    /// The answer needed a retry.
    pub retried: bool,
}

/// The result of an echo sweep.
#[derive(Debug, Default)]
pub struct IcmpOutcome {
    /// Hosts that answered.
    pub hosts: BTreeMap<IpAddr, IcmpHost>,
    /// Echo requests sent.
    pub probes_sent: u64,
    /// The deadline cut the sweep short.
    pub cut_short: bool,
}

impl IcmpOutcome {
    /// Share of answering hosts that needed a retry.
    pub fn estimated_loss(&self) -> f64 {
        let n = self.hosts.len();
        if n == 0 { 0.0 } else { self.hosts.values().filter(|h| h.retried).count() as f64 / n as f64 }
    }
}

fn client(v6: bool, raw: bool) -> std::io::Result<Client> {
    let kind = if v6 { ICMP::V6 } else { ICMP::V4 };
    let sock_type = if raw { socket2::Type::RAW } else { socket2::Type::DGRAM };
    Client::new(&Config::builder().kind(kind).sock_type_hint(sock_type).build())
}

/// Ping every address `targets` yields.
pub async fn sweep(
    targets: impl Iterator<Item = IpAddr>,
    raw: bool,
    timing: Timing,
    limiter: Arc<Mutex<RateLimiter>>,
    progress: Arc<AtomicU64>,
) -> std::io::Result<IcmpOutcome> {
    let mut v4: Option<Client> = None;
    let mut v6: Option<Client> = None;
    let slots = Arc::new(Semaphore::new(timing.max_in_flight.max(1)));
    let mut tasks: JoinSet<(IpAddr, u64, Option<IcmpHost>)> = JoinSet::new();
    let mut out = IcmpOutcome::default();
    let mut ident: u16 = super::echo::new_id();
    let take = |out: &mut IcmpOutcome, r: Result<(IpAddr, u64, Option<IcmpHost>), tokio::task::JoinError>| {
        if let Ok((ip, sent, host)) = r {
            out.probes_sent += sent;
            if let Some(h) = host {
                out.hosts.insert(ip, h);
            }
        }
    };
    for ip in targets {
        if timing.deadline.is_some_and(|d| Instant::now() >= d) {
            out.cut_short = true;
            break;
        }
        let client = match ip {
            IpAddr::V4(_) => match &v4 {
                Some(c) => c.clone(),
                None => v4.insert(client(false, raw)?).clone(),
            },
            IpAddr::V6(_) => match &v6 {
                Some(c) => c.clone(),
                None => v6.insert(client(true, raw)?).clone(),
            },
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { break };
        while let Some(r) = tasks.try_join_next() {
            take(&mut out, r);
        }
        ident = ident.wrapping_add(1);
        let (limiter, progress) = (limiter.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let mut pinger = client.pinger(ip, PingIdentifier(ident)).await;
            pinger.timeout(timing.timeout);
            let payload = [0x43u8; 16];
            let mut sent = 0;
            for attempt in 0..=timing.retries {
                if timing.deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                crate::rate::acquire(&limiter).await;
                progress.fetch_add(1, Ordering::Relaxed);
                sent += 1;
                if let Ok((packet, rtt)) = pinger.ping(PingSequence(u16::from(attempt)), &payload).await {
                    // surge-ping sees ICMPv6 without its IPv6 header, so it cannot
                    // know the reply's hop limit (it reports 0): say "unknown".
                    let ttl = match &packet {
                        IcmpPacket::V4(p) => p.get_ttl(),
                        IcmpPacket::V6(_) => None,
                    };
                    return (
                        ip,
                        sent,
                        Some(IcmpHost { rtt: Some(rtt), ttl, at: Instant::now(), retried: attempt > 0 }),
                    );
                }
            }
            (ip, sent, None)
        });
    }
    while let Some(r) = tasks.join_next().await {
        take(&mut out, r);
    }
    Ok(out)
}
