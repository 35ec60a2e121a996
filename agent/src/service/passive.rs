//! Passive listening in service mode (`passive = true` on a segment): one
//! capture per such segment, on a thread of its own (the capture blocks),
//! turned into passive batches on a cadence — at most one a minute
//! ([`WINDOW`]), and only when something new or changed was heard (a device
//! not reported before, another address, name or DHCP fingerprint), or
//! once per the segment's `interval` to keep the devices' last sightings
//! fresh. Batches go to the spool like sweeps' and are delivered the same way.
//!
//! Memory stays bounded: the table holds at most
//! [`crate::passive::table::DEFAULT_CAP`] devices per window, and what was
//! reported is remembered for at most as many (the oldest forgotten first).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use census_proto::{AgentId, MacAddr, encode_batch};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use super::spool::Spool;
use crate::config::Segment;
use crate::fingerprint::dhcp::DhcpSignatures;
use crate::passive::table::{DEFAULT_CAP, Heard, Neighbours};
use crate::passive::{batch, capture, observations};

/// The shortest time between two passive batches of one segment.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What was last reported of a device.
type Summary = (Vec<std::net::IpAddr>, Option<String>, Option<String>, Vec<u8>);

/// What was reported, by MAC, bounded.
#[derive(Default)]
pub struct Reported {
    by_mac: HashMap<MacAddr, Summary>,
    order: VecDeque<MacAddr>,
}

impl Reported {
    /// Whether `heard` holds anything not reported before (and remember it).
    pub fn news(&mut self, heard: &[Heard]) -> bool {
        let mut news = false;
        for h in heard {
            let mut addresses = h.addresses.clone();
            addresses.sort();
            let summary = (addresses, h.host_name.clone(), h.vendor_class.clone(), h.parameter_list.clone());
            match self.by_mac.get_mut(&h.mac) {
                Some(old) if *old == summary => {}
                Some(old) => {
                    *old = summary;
                    news = true;
                }
                None => {
                    news = true;
                    self.by_mac.insert(h.mac, summary);
                    self.order.push_back(h.mac);
                    while self.order.len() > DEFAULT_CAP {
                        if let Some(gone) = self.order.pop_front() {
                            self.by_mac.remove(&gone);
                        }
                    }
                }
            }
        }
        news
    }
}

/// Listen on `seg` until `stop`, spooling passive batches.
pub fn run(
    seg: Segment,
    vendors: Arc<crate::fingerprint::vendor::VendorTable>,
    agent: AgentId,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) {
    let interface = match &seg.interface {
        Some(i) => i.clone(),
        None => {
            let first = seg.targets.iter().find_map(|ip| match ip {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            });
            match first.map(|ip| crate::io::choose_interface(None, ip)) {
                Some(Ok(i)) => i.name,
                Some(Err(e)) => {
                    tracing::error!(segment = %seg.name, error = %e, "passive listening not started: name the segment's interface");
                    return;
                }
                None => {
                    tracing::error!(segment = %seg.name, "passive listening not started: the segment has no IPv4 target");
                    return;
                }
            }
        }
    };
    let mut cap = match capture::Capture::open(&interface, capture::Filter::Passive) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(segment = %seg.name, interface, error = %e, "passive listening not started (it needs CAP_NET_RAW)");
            return;
        }
    };
    tracing::info!(segment = %seg.name, interface, "listening passively");
    let targets = seg.targets.clone();
    let mut table = Neighbours::with_scope(DEFAULT_CAP, move |ip| targets.contains(ip));
    let sigs = DhcpSignatures::default();
    let mut reported = Reported::default();
    let mut last_sent: Option<Instant> = None;
    let scope: Vec<ipnet::IpNet> = seg.target_specs.iter().filter_map(|s| s.parse().ok()).collect();
    while !*stop.borrow() {
        let window_started = OffsetDateTime::now_utc();
        let until = Instant::now() + WINDOW;
        while Instant::now() < until && !*stop.borrow() {
            let slice = (Instant::now() + Duration::from_secs(1)).min(until);
            if let Err(e) = crate::passive::listen(&mut cap, &mut table, slice) {
                tracing::error!(segment = %seg.name, error = %e, "passive capture failed; listening stopped");
                return;
            }
        }
        let (frames, dropped) = (table.frames, table.dropped);
        let heard = table.take();
        let news = reported.news(&heard);
        let refresh = last_sent.is_none_or(|t| t.elapsed() >= seg.interval);
        if heard.is_empty() || !(news || refresh) {
            continue;
        }
        let hosts = observations(&heard, &sigs, &vendors);
        let b = batch(&agent, &seg.name, &scope, hosts, (window_started, OffsetDateTime::now_utc()), frames);
        match spool.put(&b.batch_id.to_string(), super::now_ms(), &encode_batch(&b)) {
            Ok(_) => {
                last_sent = Some(Instant::now());
                tracing::info!(segment = %seg.name, batch = %b.batch_id, hosts = b.hosts.len(), frames, dropped, "passive batch spooled");
                wake.notify_one();
            }
            Err(e) => {
                tracing::error!(segment = %seg.name, error = %e, "cannot write the passive batch to the spool; it is lost")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(mac: u8, ip: &str, name: Option<&str>) -> Heard {
        Heard {
            mac: MacAddr([2, 0, 0, 0, 0, mac]),
            addresses: vec![ip.parse().unwrap()],
            host_name: name.map(String::from),
            vendor_class: None,
            parameter_list: vec![],
            dhcp_messages: vec![],
            announced: true,
            mdns_names: vec![],
            services: vec![],
            first: OffsetDateTime::UNIX_EPOCH,
            last: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn only_new_or_changed_devices_are_news_and_memory_is_bounded() {
        let mut r = Reported::default();
        assert!(r.news(&[heard(1, "198.18.0.1", None)]));
        assert!(!r.news(&[heard(1, "198.18.0.1", None)]), "the same again");
        assert!(r.news(&[heard(1, "198.18.0.1", Some("lab-1"))]), "a name is news");
        assert!(r.news(&[heard(1, "198.18.0.2", Some("lab-1"))]), "another address is news");
        for n in 0..(DEFAULT_CAP + 10) {
            let b = (n as u32).to_be_bytes();
            let mut h = heard(0, "198.18.0.9", None);
            h.mac = MacAddr([2, 1, b[0], b[1], b[2], b[3]]);
            r.news(&[h]);
        }
        assert_eq!(r.by_mac.len(), DEFAULT_CAP);
        assert_eq!(r.order.len(), DEFAULT_CAP);
    }
}
