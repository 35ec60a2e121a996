//! Enrichment after the sweep: service probes on every open port and name
//! lookups for every host that answered, side by side, so neither holds the
//! sweep up. Both stop at the sweep's deadline.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use census_proto::{Port, PortState};

use super::{Found, ScanRequest};

/// Probe services and look names up, as the request asks, into `found`.
pub(super) async fn enrich(req: &ScanRequest, found: &mut Found, deadline: Instant) {
    let live: Vec<IpAddr> = super::assemble::responders(found).into_iter().collect();
    let services = async { if req.identify_services { identify(found, deadline).await } else { BTreeMap::new() } };
    let names = async {
        match &req.names {
            Some(how) => crate::names::lookup(live, how, req.limits.rate, deadline.into()).await,
            None => BTreeMap::new(),
        }
    };
    let (services, names) = tokio::join!(services, names);
    found.services = services;
    found.names = names;
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
