//! IPv6 Neighbor Discovery (RFC 4861) as passive listening hears it: which
//! MAC claims which IPv6 address. Router and neighbour solicitations and
//! advertisements carry the sender's link-layer address in an option
//! (source or target link-layer address); a duplicate address detection
//! probe (source `::`) announces the address its sender is about to use.
//!
//! Only messages with hop limit 255 are read (RFC 4861 §7.1.1: anything
//! else crossed a router and is forged or misrouted). Extension headers are
//! not walked: NDP is sent without them.

use std::net::Ipv6Addr;

use census_proto::MacAddr;

use super::ethernet::{EthernetView, mac_at};
use super::{ParseError, need};

/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IPv6 next header of ICMPv6.
pub const NEXT_ICMPV6: u8 = 58;

const IPV6_LEN: usize = 40;

/// What one NDP message says: this MAC has this address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdpClaim {
    /// The claiming MAC (the link-layer option, else the frame's source).
    pub mac: MacAddr,
    /// The address it claims.
    pub ip: Ipv6Addr,
    /// The message type (133 RS, 134 RA, 135 NS, 136 NA).
    pub message: u8,
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

/// The link-layer address option of type `want` (1 source, 2 target) in `opts`.
fn lla_option(opts: &[u8], want: u8) -> Option<MacAddr> {
    let mut at = 0;
    while at + 2 <= opts.len() {
        let (kind, len) = (opts[at], usize::from(opts[at + 1]) * 8);
        if len == 0 || at + len > opts.len() {
            return None;
        }
        if kind == want && len >= 8 {
            return Some(mac_at(opts, at + 2));
        }
        at += len;
    }
    None
}

/// The claim in an Ethernet frame carrying NDP, if any.
///
/// # Errors
/// [`ParseError`] when the frame is IPv6 ICMPv6 but truncated or malformed.
pub fn claim(frame: &[u8]) -> Result<Option<NdpClaim>, ParseError> {
    let eth = EthernetView::new(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Ok(None);
    }
    let ip = eth.payload();
    need(ip, IPV6_LEN + 4)?;
    if ip[0] >> 4 != 6 || ip[6] != NEXT_ICMPV6 || ip[7] != 255 {
        return Ok(None);
    }
    let src = addr_at(ip, 8);
    let icmp = &ip[IPV6_LEN..];
    let (message, code) = (icmp[0], icmp[1]);
    if code != 0 {
        return Ok(None);
    }
    let (addr, opts_at, option) = match message {
        133 => (src, 8, 1),
        134 => (src, 16, 1),
        135 => {
            need(icmp, 24)?;
            // A DAD probe from `::` announces its target; otherwise the sender's own source.
            if src.is_unspecified() { (addr_at(icmp, 8), 24, 0) } else { (src, 24, 1) }
        }
        136 => {
            need(icmp, 24)?;
            (addr_at(icmp, 8), 24, 2)
        }
        _ => return Ok(None),
    };
    if addr.is_unspecified() || addr.is_multicast() {
        return Ok(None);
    }
    need(icmp, opts_at)?;
    let mac = if option == 0 { None } else { lla_option(&icmp[opts_at..], option) };
    Ok(Some(NdpClaim { mac: mac.unwrap_or_else(|| eth.source()), ip: addr, message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src_mac: [u8; 6], src: Ipv6Addr, hop: u8, icmp: &[u8]) -> Vec<u8> {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1];
        f.extend_from_slice(&src_mac);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, icmp.len() as u8, 58, hop]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(icmp);
        f
    }

    const MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x00, 0x00, 0x0b];

    fn na(target: Ipv6Addr, option_mac: [u8; 6]) -> Vec<u8> {
        let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        icmp.extend_from_slice(&[2, 1]);
        icmp.extend_from_slice(&option_mac);
        icmp
    }

    #[test]
    fn an_advertisement_claims_its_target_with_the_target_link_layer_option() {
        let target: Ipv6Addr = "2001:2::b".parse().unwrap();
        let f = frame([2, 0, 0, 0, 0, 99], "fe80::1".parse().unwrap(), 255, &na(target, MAC));
        let c = claim(&f).unwrap().unwrap();
        assert_eq!((c.ip, c.mac, c.message), (target, MacAddr(MAC), 136));
    }

    #[test]
    fn a_solicitation_claims_its_source_and_a_dad_probe_its_target() {
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&"2001:2::1".parse::<Ipv6Addr>().unwrap().octets());
        ns.extend_from_slice(&[1, 1]);
        ns.extend_from_slice(&MAC);
        let src: Ipv6Addr = "fe80::21b:21ff:fe00:b".parse().unwrap();
        let c = claim(&frame(MAC, src, 255, &ns)).unwrap().unwrap();
        assert_eq!((c.ip, c.mac), (src, MacAddr(MAC)));
        assert!(
            census_proto::Ipv6Facts::of(src, Some(MacAddr(MAC))).eui64,
            "fe80::21b:21ff:fe00:b is 00:1b:21:00:00:0b's EUI-64"
        );
        let dad = claim(&frame(MAC, Ipv6Addr::UNSPECIFIED, 255, &ns[..24])).unwrap().unwrap();
        assert_eq!(dad.ip, "2001:2::1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn forged_truncated_and_other_messages_claim_nothing() {
        let target: Ipv6Addr = "2001:2::b".parse().unwrap();
        assert_eq!(claim(&frame(MAC, "fe80::1".parse().unwrap(), 64, &na(target, MAC))).unwrap(), None, "hop limit 64");
        assert!(claim(&frame(MAC, "fe80::1".parse().unwrap(), 255, &na(target, MAC)[..10])).is_err());
        assert_eq!(claim(&frame(MAC, "fe80::1".parse().unwrap(), 255, &[128, 0, 0, 0, 0, 0, 0, 0])).unwrap(), None);
        // An option of length 0 ends the walk: the frame's source MAC stands.
        let mut bad = na(target, MAC);
        bad[25] = 0;
        assert_eq!(
            claim(&frame([2, 0, 0, 0, 0, 7], "fe80::1".parse().unwrap(), 255, &bad)).unwrap().unwrap().mac,
            MacAddr([2, 0, 0, 0, 0, 7])
        );
    }
}
