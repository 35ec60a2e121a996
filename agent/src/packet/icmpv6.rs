//! ICMPv6 frames for on-link IPv6 discovery (RFC 4443 echo, RFC 4861
//! neighbour solicitation): an echo request to the all-nodes multicast
//! address `ff02::1` (every node on the link answers, which a /64 sweep
//! never could), and a neighbour solicitation for an address already known
//! (its owner answers with an advertisement naming its MAC). Whole Ethernet
//! frames are built, with the IPv6 pseudo-header checksum (RFC 8200 §8.1).

use std::net::Ipv6Addr;

use census_proto::MacAddr;

use super::checksum;
use super::ethernet::{self, EthernetView};
use super::ndp::{ETHERTYPE_IPV6, NEXT_ICMPV6};
use super::{ParseError, be16, need};

/// ICMPv6 echo request.
pub const ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Neighbour solicitation.
pub const NEIGHBOR_SOLICITATION: u8 = 135;

/// The all-nodes link-local multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet address of an IPv6 multicast group (RFC 2464 §7: 33:33 and the low 32 bits).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The solicited-node multicast address of `target` (RFC 4291 §2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

/// The ICMPv6 checksum of `msg` (its checksum field zero) from `src` to `dst`.
pub fn checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut acc = checksum::sum(0, &src.octets());
    acc = checksum::sum(acc, &dst.octets());
    acc = checksum::sum(acc, &(msg.len() as u32).to_be_bytes());
    acc = checksum::sum(acc, &[0, 0, 0, NEXT_ICMPV6]);
    checksum::finish(checksum::sum(acc, msg))
}

fn frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, mut msg: Vec<u8>) -> Vec<u8> {
    let c = checksum(src, dst, &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let mut out = vec![0u8; ethernet::HEADER_LEN];
    ethernet::write_header(&mut out, dst_mac, src_mac, ETHERTYPE_IPV6);
    let len = msg.len() as u16;
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[NEXT_ICMPV6, 255]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&msg);
    out
}

/// An echo request from `src` to the all-nodes group, identified by `id` and `seq`.
pub fn all_nodes_echo(src_mac: MacAddr, src: Ipv6Addr, id: u16, seq: u16) -> Vec<u8> {
    let mut msg = vec![ECHO_REQUEST, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(b"census");
    frame(src_mac, multicast_mac(ALL_NODES), src, ALL_NODES, msg)
}

/// A neighbour solicitation for `target` from `src`, with our link-layer address.
pub fn solicitation(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let mut msg = vec![NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    msg.extend_from_slice(&[1, 1]);
    msg.extend_from_slice(&src_mac.0);
    frame(src_mac, multicast_mac(group), src, group, msg)
}

/// An echo reply in a frame: (the replying MAC, its address, the echo id,
/// the hop limit it arrived with — on-link, the sender's initial one).
///
/// # Errors
/// [`ParseError`] for a truncated IPv6 ICMPv6 frame.
pub fn echo_reply(frame: &[u8]) -> Result<Option<(MacAddr, Ipv6Addr, u16, u8)>, ParseError> {
    let eth = EthernetView::new(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Ok(None);
    }
    let ip = eth.payload();
    need(ip, 48)?;
    if ip[0] >> 4 != 6 || ip[6] != NEXT_ICMPV6 || ip[40] != ECHO_REPLY {
        return Ok(None);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    Ok(Some((eth.source(), Ipv6Addr::from(src), be16(ip, 44), ip[7])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x42, 0xc6, 0x12, 0x00, 0x01]);

    #[test]
    fn the_echo_goes_to_the_all_nodes_group_with_a_valid_checksum() {
        let src: Ipv6Addr = "fe80::42:c6ff:fe12:1".parse().unwrap();
        let f = all_nodes_echo(MAC, src, 0x1234, 1);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[21], 255, "hop limit");
        let msg = &f[54..];
        assert_eq!((msg[0], be16(msg, 4), be16(msg, 6)), (ECHO_REQUEST, 0x1234, 1));
        // Summing the message with its checksum over the pseudo-header gives zero.
        assert_eq!(checksum(src, ALL_NODES, msg), 0);
    }

    #[test]
    fn a_solicitation_goes_to_the_solicited_node_group_and_carries_our_mac() {
        let target: Ipv6Addr = "2001:2::1:2345".parse().unwrap();
        assert_eq!(solicited_node(target), "ff02::1:ff01:2345".parse::<Ipv6Addr>().unwrap());
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let f = solicitation(MAC, src, target);
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0x01, 0x23, 0x45]);
        let msg = &f[54..];
        assert_eq!(&msg[8..24], &target.octets());
        assert_eq!(&msg[24..32], &[1, 1, 0x02, 0x42, 0xc6, 0x12, 0x00, 0x01]);
        assert_eq!(checksum(src, solicited_node(target), msg), 0);
        // And it parses as the claim of our own source address.
        let c = super::super::ndp::claim(&f).unwrap().unwrap();
        assert_eq!((c.mac, c.ip), (MAC, src));
    }

    #[test]
    fn echo_replies_are_read_and_the_rest_is_not() {
        let src: Ipv6Addr = "2001:2::b".parse().unwrap();
        let mut f = all_nodes_echo(MacAddr([0, 0x1b, 0x21, 0, 0, 0x0b]), src, 7, 1);
        f[54] = ECHO_REPLY;
        assert_eq!(echo_reply(&f).unwrap(), Some((MacAddr([0, 0x1b, 0x21, 0, 0, 0x0b]), src, 7, 255)));
        f[54] = ECHO_REQUEST;
        assert_eq!(echo_reply(&f).unwrap(), None);
        assert!(echo_reply(&f[..40]).is_err());
    }
}
