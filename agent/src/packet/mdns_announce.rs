//! Multicast DNS announcements (RFC 6762 §8.3) as passive listening hears
//! them: a device on the link says its own name (an A or AAAA record whose
//! address is the packet's source) and the services it offers (DNS-SD PTR
//! records, RFC 6763: `_ipp._tcp.local`, `_airplay._tcp.local`, …).
//!
//! Only responses from port 5353 to port 5353 are read; at most
//! [`super::dns::MAX_ANSWERS`] records of each section are walked, names are
//! decoded with the bounded, loop-checked reader of [`super::dns`], and
//! what is kept is at most [`MAX_KEPT`] names and services.

use std::net::{IpAddr, Ipv4Addr};

use super::dns::{self, DnsView, HEADER_LEN, MAX_ANSWERS, read_name, skip_name};
use super::ethernet::{ETHERTYPE_IPV4, EthernetView};
use super::ipv4::Ipv4View;
use super::{ParseError, be16, need};

/// The mDNS port.
pub const PORT: u16 = 5353;
/// Most host names and services kept from one announcement.
pub const MAX_KEPT: usize = 8;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const SERVICES_META: &[u8] = b"_services._dns-sd._udp.local";

/// What one announcement says about its sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announcement {
    /// Names whose address records point at the sender (raw; callers sanitise).
    pub host_names: Vec<String>,
    /// Service types it advertises (`_ipp._tcp.local`), lowercase.
    pub services: Vec<String>,
}

fn push(list: &mut Vec<String>, s: String) {
    if !s.is_empty() && list.len() < MAX_KEPT && !list.contains(&s) {
        list.push(s);
    }
}

/// A service type named in `name` (`x._ipp._tcp.local` → `_ipp._tcp.local`).
fn service_type(name: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    let labels: Vec<&str> = text.split('.').collect();
    let n = labels.len();
    (n >= 3 && labels[n - 1] == "local" && matches!(labels[n - 2], "_tcp" | "_udp") && labels[n - 3].starts_with('_'))
        .then(|| labels[n - 3..].join("."))
}

/// Parse a DNS message sent by `sender` as an announcement.
///
/// # Errors
/// [`ParseError`] when the message is malformed; a query is `Ok` and empty.
pub fn parse(msg: &[u8], sender: IpAddr) -> Result<Announcement, ParseError> {
    let view = DnsView::new(msg)?;
    let mut out = Announcement::default();
    if !view.is_response() {
        return Ok(out);
    }
    need(msg, HEADER_LEN)?;
    let count = |at: usize| usize::from(be16(msg, at)).min(MAX_ANSWERS);
    let (questions, records) = (count(4), count(6) + count(8) + count(10));
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    let mut owner = Vec::with_capacity(64);
    for _ in 0..records.min(MAX_ANSWERS * 3) {
        owner.clear();
        let after = read_name(msg, at, &mut owner)?;
        let (rtype, _class, data, len) = dns::record_at(msg, after)?;
        at = data + len;
        let rdata = &msg[data..data + len];
        let addressed = match (rtype, sender) {
            (TYPE_A, IpAddr::V4(s)) => len == 4 && rdata == s.octets(),
            (TYPE_AAAA, IpAddr::V6(s)) => len == 16 && rdata == s.octets(),
            _ => false,
        };
        if addressed {
            push(&mut out.host_names, String::from_utf8_lossy(&owner).into_owned());
        } else if rtype == dns::TYPE_PTR {
            if owner.eq_ignore_ascii_case(SERVICES_META) {
                let mut target = Vec::new();
                read_name(msg, data, &mut target)?;
                if let Some(s) = service_type(&target) {
                    push(&mut out.services, s);
                }
            } else if let Some(s) = service_type(&owner) {
                push(&mut out.services, s);
            }
        }
    }
    Ok(out)
}

/// The sender and announcement in an Ethernet frame (IPv4 UDP 5353 → 5353), or `None`.
pub fn in_frame(frame: &[u8]) -> Option<(Ipv4Addr, Announcement)> {
    let eth = EthernetView::new(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4View::new(eth.payload()).ok()?;
    let udp = ip.payload();
    need(udp, 8).ok()?;
    if ip.protocol() != super::dhcp::PROTO_UDP || be16(udp, 0) != PORT || be16(udp, 2) != PORT {
        return None;
    }
    let a = parse(&udp[8..], IpAddr::V4(ip.source())).ok()?;
    Some((ip.source(), a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(out: &mut Vec<u8>, dotted: &str) {
        for l in dotted.split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
    }

    /// An announcement as avahi sends it for a printer at 198.18.0.21.
    fn printer() -> Vec<u8> {
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0];
        name(&mut m, "lab-printer.local");
        m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 198, 18, 0, 21]);
        name(&mut m, "_services._dns-sd._udp.local");
        let target_at = m.len() + 10;
        let mut target = Vec::new();
        name(&mut target, "_ipp._tcp.local");
        m.extend_from_slice(&[0, 12, 0, 1, 0, 0, 17, 148, 0, target.len() as u8]);
        m.extend_from_slice(&target);
        assert_eq!(m.len(), target_at + target.len());
        name(&mut m, "Lab Printer._ipp._tcp.local");
        m.extend_from_slice(&[0, 33, 0x80, 1, 0, 0, 0, 120, 0, 0]);
        m
    }

    #[test]
    fn a_printers_announcement_gives_its_name_and_service() {
        let a = parse(&printer(), "198.18.0.21".parse().unwrap()).unwrap();
        assert_eq!(a.host_names, ["lab-printer.local"]);
        assert_eq!(a.services, ["_ipp._tcp.local"]);
        // Another sender's address record names someone else.
        let other = parse(&printer(), "198.18.0.22".parse().unwrap()).unwrap();
        assert!(other.host_names.is_empty());
    }

    #[test]
    fn queries_and_broken_messages_give_nothing() {
        let mut q = printer();
        q[2] = 0;
        assert_eq!(parse(&q, "198.18.0.21".parse().unwrap()).unwrap(), Announcement::default());
        let p = printer();
        assert!(parse(&p[..20], "198.18.0.21".parse().unwrap()).is_err());
        // A compression pointer to itself.
        let mut looped = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12];
        looped.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 198, 18, 0, 4]);
        assert!(parse(&looped, "198.18.0.4".parse().unwrap()).is_err());
        assert_eq!(service_type(b"_ipp._tcp.local").as_deref(), Some("_ipp._tcp.local"));
        assert_eq!(service_type(b"printer.local"), None);
    }
}
