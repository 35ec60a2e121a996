//! ARP for IPv4 over Ethernet (RFC 826): who-has requests and replies.

use std::net::Ipv4Addr;

use census_proto::MacAddr;

use super::ethernet::{self, BROADCAST, ETHERTYPE_ARP, EthernetView, mac_at};
use super::{ParseError, be16, need};

/// Length of an ARP payload for IPv4 over Ethernet.
pub const ARP_LEN: usize = 28;
/// Length of a whole who-has frame (without padding; the NIC pads to 60).
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + ARP_LEN;

const HTYPE: usize = 0;
const PTYPE: usize = 2;
const HLEN: usize = 4;
const PLEN: usize = 5;
const OPER: usize = 6;
const SHA: usize = 8;
const SPA: usize = 14;
const THA: usize = 18;
const TPA: usize = 24;

/// ARP operation: request.
pub const OP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an ARP packet (IPv4 over Ethernet only).
#[derive(Debug, Clone, Copy)]
pub struct ArpView<'a> {
    bytes: &'a [u8],
}

impl<'a> ArpView<'a> {
    /// View an ARP payload; refuses other hardware or protocol types.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        need(bytes, ARP_LEN)?;
        if be16(bytes, HTYPE) != 1 || bytes[HLEN] != 6 {
            return Err(ParseError::Unsupported("ARP hardware type"));
        }
        if be16(bytes, PTYPE) != 0x0800 || bytes[PLEN] != 4 {
            return Err(ParseError::Unsupported("ARP protocol type"));
        }
        Ok(ArpView { bytes })
    }

    /// Operation (1 request, 2 reply).
    pub fn operation(&self) -> u16 {
        be16(self.bytes, OPER)
    }
    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        mac_at(self.bytes, SHA)
    }
    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, SPA)
    }
    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        mac_at(self.bytes, THA)
    }
    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, TPA)
    }
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// An ARP reply found in a frame: who answered for which address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    /// The address claimed.
    pub ip: Ipv4Addr,
    /// The MAC claiming it (ARP sender hardware address).
    pub mac: MacAddr,
    /// The Ethernet source, which differs from `mac` for proxies and spoofers.
    pub frame_source: MacAddr,
}

/// Parse a frame as an ARP reply; `None` for anything else.
pub fn parse_reply(frame: &[u8]) -> Option<ArpReply> {
    let eth = EthernetView::new(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_ARP {
        return None;
    }
    let arp = ArpView::new(eth.payload()).ok()?;
    if arp.operation() != OP_REPLY {
        return None;
    }
    Some(ArpReply { ip: arp.sender_ip(), mac: arp.sender_mac(), frame_source: eth.source() })
}

/// Build a broadcast who-has for `target` from `src_mac`/`src_ip` into `out`.
pub fn build_request(out: &mut [u8; FRAME_LEN], src_mac: MacAddr, src_ip: Ipv4Addr, target: Ipv4Addr) {
    ethernet::write_header(out, BROADCAST, src_mac, ETHERTYPE_ARP);
    let a = &mut out[ethernet::HEADER_LEN..];
    a[HTYPE..HTYPE + 2].copy_from_slice(&1u16.to_be_bytes());
    a[PTYPE..PTYPE + 2].copy_from_slice(&0x0800u16.to_be_bytes());
    a[HLEN] = 6;
    a[PLEN] = 4;
    a[OPER..OPER + 2].copy_from_slice(&OP_REQUEST.to_be_bytes());
    a[SHA..SHA + 6].copy_from_slice(&src_mac.0);
    a[SPA..SPA + 4].copy_from_slice(&src_ip.octets());
    a[THA..THA + 6].copy_from_slice(&[0; 6]);
    a[TPA..TPA + 4].copy_from_slice(&target.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

    #[test]
    fn who_has_is_byte_exact() {
        let mut f = [0u8; FRAME_LEN];
        build_request(&mut f, ME, Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 10));
        #[rustfmt::skip]
        let want: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
            0, 1, 0x08, 0, 6, 4, 0, 1,
            0x02, 0, 0, 0, 0, 1, 198, 18, 0, 1,
            0, 0, 0, 0, 0, 0, 198, 18, 0, 10,
        ];
        assert_eq!(f, want);
    }

    #[test]
    fn parses_a_reply_and_ignores_requests() {
        #[rustfmt::skip]
        let reply: [u8; 60] = {
            let mut r = [0u8; 60];
            r[..42].copy_from_slice(&[
                0x02, 0, 0, 0, 0, 1, 0x00, 0x1b, 0x21, 0x5e, 0, 0, 0x08, 0x06,
                0, 1, 0x08, 0, 6, 4, 0, 2,
                0x00, 0x1b, 0x21, 0x5e, 0, 0, 198, 18, 0, 10,
                0x02, 0, 0, 0, 0, 1, 198, 18, 0, 1,
            ]);
            r
        };
        let got = parse_reply(&reply).unwrap();
        assert_eq!(got.ip, Ipv4Addr::new(198, 18, 0, 10));
        assert_eq!(got.mac.to_string(), "00:1b:21:5e:00:00");
        assert_eq!(got.frame_source, got.mac);
        let mut request = [0u8; FRAME_LEN];
        build_request(&mut request, ME, Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 10));
        assert!(parse_reply(&request).is_none());
        assert!(parse_reply(&reply[..41]).is_none(), "truncated");
        let mut wrong_htype = reply;
        wrong_htype[15] = 6;
        assert!(parse_reply(&wrong_htype).is_none());
    }
}
