//! On-link ICMP echo sweep: echo requests written as frames to the MACs
//! ARP found, on the probe engine like ARP and SYN.
//!
//! Only for hosts ARP has just found on the interface's own network: their
//! MAC is known, so nothing waits on the kernel's neighbour resolution (see
//! [`crate::packet::icmpv4`]), and the engine's rounds retry only the
//! silent. Routed and IPv6 targets go through [`super::icmp`]'s sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use census_proto::MacAddr;

use super::engine::{Outcome, Protocol};
use super::icmp::IcmpHost;
use crate::io::Interface;
use crate::packet::icmpv4::{self, Echo};

/// The echo protocol for one interface and the hosts ARP found on it.
pub struct EchoProtocol<'a> {
    /// The interface probes leave from.
    pub iface: &'a Interface,
    /// Each host to echo, with the MAC that answered its ARP request.
    pub hosts: &'a HashMap<Ipv4Addr, MacAddr>,
    /// Identifier of this sweep's echoes (replies with another are not ours).
    pub id: u16,
}

/// What an echo reply says: its TTL as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoAnswer {
    /// Reply TTL.
    pub ttl: u8,
}

impl Protocol for EchoProtocol<'_> {
    type Key = Ipv4Addr;
    type Reply = EchoAnswer;

    fn probe(&self, key: Ipv4Addr, buf: &mut Vec<u8>) -> Ipv4Addr {
        if let Some(mac) = self.hosts.get(&key) {
            let e = Echo { src_mac: self.iface.mac, dst_mac: *mac, src: self.iface.ip, dst: key, id: self.id, seq: 1 };
            icmpv4::write_echo(&e, buf);
        }
        key
    }

    fn parse(&self, frame: &[u8]) -> Option<(Ipv4Addr, EchoAnswer)> {
        let r = icmpv4::parse_echo_reply(frame).ok()??;
        // Ours: our identifier, to our address, from a host we asked.
        (r.id == self.id && r.dst == self.iface.ip && self.hosts.contains_key(&r.src))
            .then_some((r.src, EchoAnswer { ttl: r.ttl }))
    }

    fn in_scope(&self, key: Ipv4Addr) -> bool {
        self.hosts.contains_key(&key)
    }
}

/// Fold an echo sweep's answers into one entry per host: the best round
/// trip (unknown for an answer that came after its round ended), the TTL,
/// and whether only a retry was answered.
pub fn aggregate(outcome: &Outcome<Ipv4Addr, EchoAnswer>) -> BTreeMap<IpAddr, IcmpHost> {
    let mut hosts: BTreeMap<IpAddr, IcmpHost> = BTreeMap::new();
    for a in outcome.answers.iter().filter(|a| a.solicited) {
        let h = hosts.entry(IpAddr::V4(a.key)).or_insert(IcmpHost {
            rtt: None,
            ttl: Some(a.reply.ttl),
            at: a.at,
            retried: a.round > 0,
        });
        h.rtt = match (h.rtt, a.rtt) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    hosts
}

/// The identifier for one echo sweep (random, so two agents or two sweeps
/// on one host do not take each other's replies).
pub fn new_id() -> u16 {
    uuid::Uuid::new_v4().as_u128() as u16
}
