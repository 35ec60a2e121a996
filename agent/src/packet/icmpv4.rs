//! ICMPv4 echo (RFC 792) in whole Ethernet frames, for the on-link echo
//! sweep.
//!
//! Why frames and not an ICMP socket: an on-link host that ARP has just
//! found has a known MAC, but the kernel's neighbour table does not know it
//! (Linux ignores ARP replies it did not ask for, `arp_accept` = 0). An echo
//! through a socket would first make the kernel resolve every target again,
//! one more broadcast per host, and wait in its neighbour queue. Written
//! straight to the MAC ARP found, the echo leaves at once, and the reply's
//! frame is read on the same AF_PACKET socket with its TTL.

use std::net::Ipv4Addr;

use census_proto::MacAddr;

use super::checksum;
use super::ethernet::{self, ETHERTYPE_IPV4, EthernetView};
use super::ipv4::{Ipv4View, PROTO_ICMP};
use super::{ParseError, be16, need};

/// ICMP echo reply type.
pub const ECHO_REPLY: u8 = 0;
/// ICMP echo request type.
pub const ECHO_REQUEST: u8 = 8;
/// The payload every echo carries (a recognisable 8 bytes).
const PAYLOAD: &[u8; 8] = b"census\0\0";
/// Length of an echo request frame: Ethernet, a 20-byte IPv4 header, 8 bytes of ICMP header and the payload.
pub const ECHO_FRAME_LEN: usize = ethernet::HEADER_LEN + 20 + 8 + PAYLOAD.len();

/// Where an echo request goes, and how it is told apart from others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// Our MAC.
    pub src_mac: MacAddr,
    /// The target's MAC (from ARP).
    pub dst_mac: MacAddr,
    /// Our address.
    pub src: Ipv4Addr,
    /// The target's address.
    pub dst: Ipv4Addr,
    /// Identifier (one per sweep).
    pub id: u16,
    /// Sequence number (the round).
    pub seq: u16,
}

/// Append the echo request frame described by `e` to `out`.
pub fn write_echo(e: &Echo, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + ECHO_FRAME_LEN, 0);
    let f = &mut out[start..];
    ethernet::write_header(f, e.dst_mac, e.src_mac, ETHERTYPE_IPV4);
    let ip = &mut f[ethernet::HEADER_LEN..];
    let total = (20 + 8 + PAYLOAD.len()) as u16;
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = PROTO_ICMP;
    ip[12..16].copy_from_slice(&e.src.octets());
    ip[16..20].copy_from_slice(&e.dst.octets());
    let c = checksum::internet(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut ip[20..];
    icmp[0] = ECHO_REQUEST;
    icmp[4..6].copy_from_slice(&e.id.to_be_bytes());
    icmp[6..8].copy_from_slice(&e.seq.to_be_bytes());
    icmp[8..].copy_from_slice(PAYLOAD);
    let c = checksum::internet(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// An echo reply read from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// The frame's source MAC.
    pub mac: MacAddr,
    /// Who answered.
    pub src: Ipv4Addr,
    /// To whom.
    pub dst: Ipv4Addr,
    /// The echo identifier answered.
    pub id: u16,
    /// The reply's TTL as received (the OS's initial TTL on-link).
    pub ttl: u8,
}

/// An ICMP echo reply in an Ethernet frame; `Ok(None)` for any other frame.
///
/// # Errors
/// [`ParseError`] for a truncated or malformed IPv4 ICMP frame.
pub fn parse_echo_reply(frame: &[u8]) -> Result<Option<EchoReply>, ParseError> {
    let eth = EthernetView::new(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Ok(None);
    }
    let ip = Ipv4View::new(eth.payload())?;
    if ip.protocol() != PROTO_ICMP {
        return Ok(None);
    }
    let icmp = ip.payload();
    need(icmp, 8)?;
    if icmp[0] != ECHO_REPLY || icmp[1] != 0 {
        return Ok(None);
    }
    Ok(Some(EchoReply { mac: eth.source(), src: ip.source(), dst: ip.destination(), id: be16(icmp, 4), ttl: ip.ttl() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const THEM: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);

    fn echo() -> Echo {
        Echo {
            src_mac: US,
            dst_mac: THEM,
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 7),
            id: 0xbeef,
            seq: 1,
        }
    }

    #[test]
    fn the_request_is_byte_exact_with_valid_checksums() {
        let mut f = Vec::new();
        write_echo(&echo(), &mut f);
        assert_eq!(f.len(), ECHO_FRAME_LEN);
        let want: [u8; ECHO_FRAME_LEN] = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
            0x45, 0, 0, 36, 0, 0, 0x40, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 7, // IPv4 (checksum below)
            8, 0, 0, 0, 0xbe, 0xef, 0, 1, b'c', b'e', b'n', b's', b'u', b's', 0, 0, // ICMP (checksum below)
        ];
        assert_eq!(f[..24], want[..24]);
        assert_eq!(f[26..36], want[26..36]);
        assert_eq!(f[38..], want[38..]);
        // A header or message summed with its own checksum gives zero.
        assert_eq!(checksum::internet(&f[14..34]), 0);
        assert_eq!(checksum::internet(&f[34..]), 0);
    }

    #[test]
    fn a_reply_is_read_with_its_ttl_and_id() {
        // The target's reply: the request with addresses and MACs swapped, type 0, TTL 128.
        let e = echo();
        let mut f = Vec::new();
        write_echo(&Echo { src_mac: THEM, dst_mac: US, src: e.dst, dst: e.src, ..e }, &mut f);
        f[14 + 8] = 128;
        f[34] = ECHO_REPLY;
        let r = parse_echo_reply(&f).unwrap().unwrap();
        assert_eq!(r, EchoReply { mac: THEM, src: e.dst, dst: e.src, id: 0xbeef, ttl: 128 });
    }

    #[test]
    fn requests_other_protocols_and_short_frames_are_not_replies() {
        let mut f = Vec::new();
        write_echo(&echo(), &mut f);
        assert_eq!(parse_echo_reply(&f).unwrap(), None, "a request is not a reply");
        let mut tcp = f.clone();
        tcp[14 + 9] = 6;
        assert_eq!(parse_echo_reply(&tcp).unwrap(), None);
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_echo_reply(&arp).unwrap(), None);
        for cut in [0, 13, 20, 33, 37] {
            let mut g = f.clone();
            g[34] = ECHO_REPLY;
            g.truncate(cut);
            assert!(parse_echo_reply(&g).is_err(), "{cut} bytes must not parse");
        }
    }
}
