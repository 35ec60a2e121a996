//! Reverse DNS (PTR) with hickory-resolver.
//!
//! Answers are kept across sweeps for their TTL ([`super::cache`]), so a
//! service-mode agent asks the DNS server again only when a name may have
//! changed.
//!
//! Lookups run concurrently with service identification, a bounded number
//! at a time, each with a short timeout and a single attempt, through a
//! caching resolver — a slow or absent DNS server never holds up the sweep
//! beyond its own phase's time limit. Servers come from configuration (or
//! `--dns-server`), else from the system's resolv.conf.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use census_proto::{NameObservation, NameSource};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};

use crate::fingerprint::sanitize::clean;

/// Lookups in flight at once.
const PARALLEL: usize = 32;

/// Lookups that time out, with none answered, before the server is deemed
/// dead and the remaining lookups are skipped.
const GIVE_UP_AFTER: usize = PARALLEL;

/// What one lookup learnt.
enum Answer {
    /// PTR names, valid until then.
    Names(Vec<NameObservation>, std::time::Instant),
    /// The server says there is no PTR record.
    NoRecord,
    /// Timeout or failure: nothing learnt.
    Unknown,
}

/// Reverse-resolve `ips`; addresses without a PTR record are simply absent.
pub async fn ptr_names(
    ips: Vec<IpAddr>,
    servers: &[IpAddr],
    timeout: Duration,
) -> BTreeMap<IpAddr, Vec<NameObservation>> {
    let now = std::time::Instant::now();
    let mut out = BTreeMap::new();
    let mut misses = Vec::new();
    super::cache::with(|c| {
        for ip in ips {
            match c.get(servers, ip, now) {
                Some(names) if !names.is_empty() => drop(out.insert(ip, names)),
                Some(_) => {}
                None => misses.push(ip),
            }
        }
    });
    tracing::debug!(cached = out.len(), to_ask = misses.len(), "reverse DNS");
    if misses.is_empty() {
        return out;
    }
    let answers = lookup(misses, servers, timeout).await;
    let now = std::time::Instant::now();
    super::cache::with(|c| {
        for (ip, answer) in answers {
            match answer {
                Answer::Names(names, until) => {
                    c.put(servers, ip, names.clone(), until.saturating_duration_since(now), now);
                    out.insert(ip, names);
                }
                Answer::NoRecord => c.put(servers, ip, Vec::new(), super::cache::NEGATIVE_TTL, now),
                Answer::Unknown => {}
            }
        }
    });
    out
}

/// Ask the DNS server about every address in `ips`.
async fn lookup(ips: Vec<IpAddr>, servers: &[IpAddr], timeout: Duration) -> Vec<(IpAddr, Answer)> {
    let builder = if servers.is_empty() {
        match Resolver::builder_tokio() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system DNS configuration; skipping reverse DNS");
                return Vec::new();
            }
        }
    } else {
        let config = ResolverConfig::from_name_servers(servers.iter().map(|ip| NameServerConfig::udp(*ip)).collect());
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
    };
    let mut builder = builder;
    let opts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 1;
    let resolver = match builder.build() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build a DNS resolver; skipping reverse DNS");
            return Vec::new();
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    // (timed out, answered) so far: a DNS server that answers nothing is given up on.
    let health = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let mut tasks = tokio::task::JoinSet::new();
    for ip in ips {
        let (resolver, slots, health) = (resolver.clone(), slots.clone(), health.clone());
        tasks.spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else { return (ip, Answer::Unknown) };
            if health.1.load(Ordering::Relaxed) == 0 && health.0.load(Ordering::Relaxed) >= GIVE_UP_AFTER {
                return (ip, Answer::Unknown);
            }
            let query = Name::from(ip).to_string();
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(timeout + timeout / 2, resolver.reverse_lookup(query.as_str())).await;
            // NXDOMAIN is an answer; only silence counts against the server.
            let answered =
                matches!(&result, Ok(Ok(_))) || (matches!(&result, Ok(Err(_))) && started.elapsed() < timeout);
            if answered { &health.1 } else { &health.0 }.fetch_add(1, Ordering::Relaxed);
            let lookup = match result {
                Ok(Ok(lookup)) => lookup,
                Ok(Err(e)) if e.is_no_records_found() => return (ip, Answer::NoRecord),
                _ => return (ip, Answer::Unknown),
            };
            let mut names: Vec<NameObservation> = Vec::new();
            for record in lookup.answers() {
                if let RData::PTR(ptr) = &record.data {
                    let name = clean(ptr.to_string().trim_end_matches('.').to_ascii_lowercase().as_bytes(), 253);
                    if !name.is_empty() && !names.iter().any(|n| n.name == name) {
                        names.push(NameObservation { name, source: NameSource::Ptr });
                    }
                }
            }
            (ip, if names.is_empty() { Answer::NoRecord } else { Answer::Names(names, lookup.valid_until()) })
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(answer) = r {
            out.push(answer);
        }
    }
    if health.1.load(Ordering::Relaxed) == 0 && health.0.load(Ordering::Relaxed) >= GIVE_UP_AFTER {
        tracing::warn!(
            timeouts = health.0.load(Ordering::Relaxed),
            "the DNS server answers nothing; reverse lookups skipped"
        );
    }
    out
}
