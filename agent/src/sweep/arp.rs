//! ARP sweep: who-has for every on-link address of the target, retrying
//! only the silent ones. Replies are collected into IP → MAC; a second MAC
//! answering for the same IP (a conflict, a proxy, or a spoofer) is kept as
//! evidence rather than overwritten.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use census_proto::MacAddr;

use super::engine::{Outcome, Protocol};
use crate::io::Interface;
use crate::packet::arp::{self, ArpReply};
use crate::targets::TargetSet;

/// The ARP probing protocol for one interface and target set.
pub struct ArpProtocol<'a> {
    /// The interface probes leave from.
    pub iface: &'a Interface,
    /// The sweep's targets (answers from outside them are ignored).
    pub targets: &'a TargetSet,
}

impl ArpProtocol<'_> {
    /// The on-link IPv4 targets, lazily.
    pub fn keys(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.targets.iter().filter_map(|ip| match ip {
            IpAddr::V4(v4) if self.iface.on_link(v4) && v4 != self.iface.ip => Some(v4),
            _ => None,
        })
    }
}

impl Protocol for ArpProtocol<'_> {
    type Key = Ipv4Addr;
    type Reply = ArpReply;

    fn probe(&self, key: Ipv4Addr, buf: &mut Vec<u8>) -> Ipv4Addr {
        let mut frame = [0u8; arp::FRAME_LEN];
        arp::build_request(&mut frame, self.iface.mac, self.iface.ip, key);
        buf.extend_from_slice(&frame);
        key
    }

    fn parse(&self, packet: &[u8]) -> Option<(Ipv4Addr, ArpReply)> {
        let reply = arp::parse_reply(packet)?;
        // Replies for addresses outside the configured targets are not ours to report.
        if !self.targets.contains(IpAddr::V4(reply.ip)) || reply.mac == self.iface.mac {
            return None;
        }
        Some((reply.ip, reply))
    }

    fn in_scope(&self, key: Ipv4Addr) -> bool {
        self.iface.on_link(key) && self.targets.contains(IpAddr::V4(key))
    }
}

/// What ARP learned about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpHost {
    /// The first MAC that answered.
    pub mac: MacAddr,
    /// Other MACs that answered for the same address.
    pub conflicting: Vec<MacAddr>,
    /// Best round trip.
    pub rtt: Option<Duration>,
    /// Replies received in all (duplicates included).
    pub replies: u32,
    /// Every reply was unsolicited (gratuitous ARP overheard).
    pub unsolicited: bool,
    /// First and last reply.
    pub first: Instant,
    /// Last reply.
    pub last: Instant,
}

/// Fold the answers of an ARP sweep into one entry per address.
pub fn aggregate(outcome: &Outcome<Ipv4Addr, ArpReply>) -> BTreeMap<Ipv4Addr, ArpHost> {
    let mut hosts: BTreeMap<Ipv4Addr, ArpHost> = BTreeMap::new();
    for a in &outcome.answers {
        let h = hosts.entry(a.key).or_insert_with(|| ArpHost {
            mac: a.reply.mac,
            conflicting: Vec::new(),
            rtt: None,
            replies: 0,
            unsolicited: true,
            first: a.at,
            last: a.at,
        });
        h.replies += 1;
        h.last = h.last.max(a.at);
        h.unsolicited &= !a.solicited;
        h.rtt = match (h.rtt, a.rtt) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        if a.reply.mac != h.mac && !h.conflicting.contains(&a.reply.mac) {
            h.conflicting.push(a.reply.mac);
        }
    }
    hosts
}
