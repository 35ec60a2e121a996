//! What passive listening heard, by MAC, in bounded memory.
//!
//! Whatever arrives — a flood of 100,000 spoofed ARP sources costs the same
//! as a quiet segment — the table holds at most `cap` devices and each
//! device at most [`MAX_ADDRESSES`] addresses and one host name, vendor
//! class and request list (each at most 255 bytes): about 1 KB a device,
//! so the default cap of 4,096 is a few MB. Devices past the cap are not
//! added; each one turned away is counted in [`Neighbours::dropped`] (a
//! device already in the table is always updated). The table is emptied
//! after each batch is taken ([`Neighbours::take`]).

use std::collections::HashMap;
use std::net::IpAddr;

use census_proto::MacAddr;
use ipnet::IpNet;
use time::OffsetDateTime;

use crate::packet::dhcp::DhcpClient;
use crate::packet::{arp, ethernet};

/// Most addresses kept per device.
pub const MAX_ADDRESSES: usize = 8;

/// Default most devices held between two batches.
pub const DEFAULT_CAP: usize = 4096;

/// One device as heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Its MAC.
    pub mac: MacAddr,
    /// Addresses it claimed (ARP sender, DHCP requested address).
    pub addresses: Vec<IpAddr>,
    /// The host name its DHCP client sent.
    pub host_name: Option<String>,
    /// Its DHCP vendor class.
    pub vendor_class: Option<String>,
    /// Its DHCP parameter request list.
    pub parameter_list: Vec<u8>,
    /// The DHCP messages heard (`DISCOVER`, `REQUEST`, …), at most 4 names.
    pub dhcp_messages: Vec<String>,
    /// Gratuitous ARP heard (an announcement of its own address).
    pub announced: bool,
    /// Names it announced over mDNS (raw).
    pub mdns_names: Vec<String>,
    /// Service types it advertised over mDNS (`_ipp._tcp.local`).
    pub services: Vec<String>,
    /// First and last time heard.
    pub first: OffsetDateTime,
    /// Last time heard.
    pub last: OffsetDateTime,
}

/// Whether `mac` can be one device's: not all zeros, not a group (multicast, broadcast) address.
fn names_a_device(mac: MacAddr) -> bool {
    mac.0 != [0; 6] && mac.0[0] & 1 == 0
}

/// Which addresses are reported.
type Scope = Box<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// The table.
pub struct Neighbours {
    cap: usize,
    scope: Scope,
    devices: HashMap<MacAddr, Heard>,
    /// Frames from devices turned away because the table was full (since
    /// the start): a device heard twice while the table is full counts twice.
    pub dropped: u64,
    /// Frames read (since the start).
    pub frames: u64,
}

impl Neighbours {
    /// A table of at most `cap` devices; only addresses inside `targets` are kept.
    pub fn new(cap: usize, targets: Vec<IpNet>) -> Self {
        Self::with_scope(cap, move |ip| targets.iter().any(|t| t.contains(&ip)))
    }

    /// A table of at most `cap` devices; only addresses `scope` holds are kept
    /// (a segment's targets without its exclusions).
    pub fn with_scope(cap: usize, scope: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Self {
        Neighbours { cap: cap.max(1), scope: Box::new(scope), devices: HashMap::new(), dropped: 0, frames: 0 }
    }

    /// Devices held now.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    fn in_targets(&self, ip: IpAddr) -> bool {
        (self.scope)(ip)
    }

    /// The entry for `mac`, created when there is room.
    fn entry(&mut self, mac: MacAddr, now: OffsetDateTime) -> Option<&mut Heard> {
        if !self.devices.contains_key(&mac) {
            if self.devices.len() >= self.cap {
                self.dropped += 1;
                return None;
            }
            self.devices.insert(
                mac,
                Heard {
                    mac,
                    addresses: Vec::new(),
                    host_name: None,
                    vendor_class: None,
                    parameter_list: Vec::new(),
                    dhcp_messages: Vec::new(),
                    announced: false,
                    mdns_names: Vec::new(),
                    services: Vec::new(),
                    first: now,
                    last: now,
                },
            );
        }
        let e = self.devices.get_mut(&mac)?;
        e.last = now;
        Some(e)
    }

    fn add_address(e: &mut Heard, ip: IpAddr) {
        if !e.addresses.contains(&ip) && e.addresses.len() < MAX_ADDRESSES {
            e.addresses.push(ip);
        }
    }

    /// Read one captured frame. Returns whether it told something (a device
    /// inside the targets was heard).
    pub fn hear(&mut self, frame: &[u8], now: OffsetDateTime) -> bool {
        self.frames += 1;
        let Ok(eth) = ethernet::EthernetView::new(frame) else { return false };
        if eth.ethertype() == ethernet::ETHERTYPE_ARP {
            let Ok(a) = arp::ArpView::new(eth.payload()) else { return false };
            let (mac, ip) = (a.sender_mac(), IpAddr::V4(a.sender_ip()));
            // A probe (sender 0.0.0.0) claims nothing yet; a multicast or zero sender is no device.
            if ip.is_unspecified() || !self.in_targets(ip) || !names_a_device(mac) {
                return false;
            }
            let gratuitous = a.sender_ip() == a.target_ip();
            let Some(e) = self.entry(mac, now) else { return false };
            Self::add_address(e, ip);
            e.announced |= gratuitous;
            return true;
        }
        if eth.ethertype() == crate::packet::ndp::ETHERTYPE_IPV6 {
            return match crate::packet::ndp::claim(frame) {
                Ok(Some(c)) => self.hear_claim(c.mac, IpAddr::V6(c.ip), now),
                _ => false,
            };
        }
        if let Some(c) = crate::packet::dhcp::in_frame(frame) {
            return self.hear_dhcp(&c, now);
        }
        if let Some((sender, a)) = crate::packet::mdns_announce::in_frame(frame) {
            let ip = IpAddr::V4(sender);
            if !self.in_targets(ip) || (a.host_names.is_empty() && a.services.is_empty()) {
                return false;
            }
            let mac = eth.source();
            if !self.hear_claim(mac, ip, now) {
                return false;
            }
            if let Some(e) = self.devices.get_mut(&mac) {
                for (list, more) in [(&mut e.mdns_names, a.host_names), (&mut e.services, a.services)] {
                    for m in more {
                        if !list.contains(&m) && list.len() < crate::packet::mdns_announce::MAX_KEPT {
                            list.push(m);
                        }
                    }
                }
            }
            return true;
        }
        false
    }

    /// `mac` claims `ip` (NDP, mDNS): kept when `ip` is in scope, or is an
    /// IPv6 link-local address (on this link by definition).
    fn hear_claim(&mut self, mac: MacAddr, ip: IpAddr, now: OffsetDateTime) -> bool {
        let link_local = super::link_local(&ip);
        if !names_a_device(mac) || !(link_local || self.in_targets(ip)) {
            return false;
        }
        let Some(e) = self.entry(mac, now) else { return false };
        Self::add_address(e, ip);
        true
    }

    fn hear_dhcp(&mut self, c: &DhcpClient, now: OffsetDateTime) -> bool {
        if !names_a_device(c.mac) {
            return false;
        }
        // A client without an address yet is reported once it asks for one inside the targets.
        let ip = c.requested_ip.map(IpAddr::V4).filter(|ip| self.in_targets(*ip));
        let known = self.devices.contains_key(&c.mac);
        if ip.is_none() && !known {
            return false;
        }
        let Some(e) = self.entry(c.mac, now) else { return false };
        if let Some(ip) = ip {
            Self::add_address(e, ip);
        }
        if c.host_name.is_some() {
            e.host_name.clone_from(&c.host_name);
        }
        if c.vendor_class.is_some() {
            e.vendor_class.clone_from(&c.vendor_class);
        }
        if !c.parameter_list.is_empty() {
            e.parameter_list.clone_from(&c.parameter_list);
        }
        let m = c.message.name();
        if !e.dhcp_messages.contains(&m) && e.dhcp_messages.len() < 4 {
            e.dhcp_messages.push(m);
        }
        true
    }

    /// Every device heard since the last call, and an empty table.
    pub fn take(&mut self) -> Vec<Heard> {
        let mut out: Vec<Heard> = self.devices.drain().map(|(_, h)| h).collect();
        out.sort_by_key(|h| h.mac.0);
        out
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
