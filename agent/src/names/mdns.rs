//! Unicast mDNS (RFC 6762 §5.1, §6.7): ask the host itself, on UDP 5353,
//! for the PTR record of its own address. Responders (avahi, Apple's
//! mDNSResponder, most printers and IoT stacks) answer a query from an
//! ordinary port with a unicast reply echoing its id, naming what the host
//! calls itself on the link (`printer-3f.local`), DNS record or not.

use std::net::IpAddr;

use crate::fingerprint::sanitize::clean;
use crate::names::unicast::NameProtocol;
use crate::packet::dns;

/// Unicast mDNS reverse lookups.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mdns;

impl NameProtocol for Mdns {
    const PORT: u16 = 5353;
    const LABEL: &'static str = "mdns";

    fn query(&self, id: u16, ip: IpAddr) -> Option<Vec<u8>> {
        let mut buf = [0u8; dns::MAX_QUERY_LEN];
        let n = dns::build_ptr_query(&mut buf, id, ip);
        Some(buf[..n].to_vec())
    }

    fn names(&self, reply: &[u8], id: u16, ip: IpAddr) -> Option<Vec<String>> {
        names_in_reply(reply, id, ip)
    }
}

/// The names a reply to the PTR query `id` for `ip` carries: lowercased,
/// without the root dot, sanitised. `None` when it is not such a reply.
pub fn names_in_reply(reply: &[u8], id: u16, ip: IpAddr) -> Option<Vec<String>> {
    let view = dns::DnsView::new(reply).ok()?;
    if view.id() != id || !view.is_response() {
        return None;
    }
    let targets = dns::ptr_answers(&view, &dns::reverse_name(ip)).ok()?;
    let mut names: Vec<String> = Vec::new();
    for t in targets {
        let name = clean(&t, 253).to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names)
}
