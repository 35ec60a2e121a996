//! Multicast Listener Discovery (MLDv2, RFC 3810; MLDv1 reports, RFC 2710)
//! for on-link IPv6 discovery: a general query to `ff02::1` makes every
//! node report the groups it listens to, among them the solicited-node
//! group `ff02::1:ffXX:XXXX` of each of its unicast addresses (RFC 4291
//! §2.7.1). That gives the low 24 bits of every address a node holds —
//! including a static or DHCPv6 address it never answers an echo from
//! because it prefers a temporary one — which a neighbour solicitation then
//! confirms.
//!
//! Whole Ethernet frames are built and read. The query goes out with hop
//! limit 1 and a Router Alert hop-by-hop option from a link-local address,
//! as nodes require (RFC 3810 §5.1.14); the checksum covers the ICMPv6
//! message under the IPv6 pseudo-header (the option header excluded).

use std::net::Ipv6Addr;

use census_proto::MacAddr;

use super::ethernet::{self, EthernetView};
use super::icmpv6::{ALL_NODES, checksum, multicast_mac};
use super::ndp::{ETHERTYPE_IPV6, NEXT_ICMPV6};
use super::{ParseError, be16, need};

/// MLD query.
pub const QUERY: u8 = 130;
/// MLDv1 report.
pub const REPORT_V1: u8 = 131;
/// MLDv2 report.
pub const REPORT_V2: u8 = 143;
/// IPv6 hop-by-hop options header.
const NEXT_HOP_BY_HOP: u8 = 0;
/// The longest a node waits before reporting, in milliseconds (the query's Maximum Response Code).
pub const MAX_RESPONSE_MS: u16 = 400;
/// Most groups read from one report (a node listens to a handful).
pub const MAX_GROUPS: usize = 64;

/// A general query from `src` (a link-local address) to all nodes.
pub fn general_query(src_mac: MacAddr, src: Ipv6Addr) -> Vec<u8> {
    let mut msg = vec![QUERY, 0, 0, 0];
    msg.extend_from_slice(&MAX_RESPONSE_MS.to_be_bytes());
    msg.extend_from_slice(&[0, 0]); // reserved
    msg.extend_from_slice(&[0; 16]); // the unspecified address: every group
    msg.extend_from_slice(&[2, 125, 0, 0]); // robustness 2, interval 125 s, no sources
    let c = checksum(src, ALL_NODES, &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    // Hop-by-hop: next header ICMPv6, length 0 (8 bytes), Router Alert (MLD), PadN.
    let hop_by_hop = [NEXT_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
    let mut out = vec![0u8; ethernet::HEADER_LEN];
    ethernet::write_header(&mut out, multicast_mac(ALL_NODES), src_mac, ETHERTYPE_IPV6);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&((hop_by_hop.len() + msg.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[NEXT_HOP_BY_HOP, 1]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&ALL_NODES.octets());
    out.extend_from_slice(&hop_by_hop);
    out.extend_from_slice(&msg);
    out
}

/// The groups a report in `frame` names, with the reporting MAC and source
/// address; `Ok(None)` for any other frame. At most [`MAX_GROUPS`].
///
/// # Errors
/// [`ParseError`] for a truncated or malformed IPv6 MLD report.
pub fn reported_groups(frame: &[u8]) -> Result<Option<(MacAddr, Ipv6Addr, Vec<Ipv6Addr>)>, ParseError> {
    let eth = EthernetView::new(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Ok(None);
    }
    let ip = eth.payload();
    need(ip, 40)?;
    let src = addr(ip, 8);
    let (mut next, mut at) = (ip[6], 40);
    // Skip hop-by-hop options (a report carries Router Alert); nothing else is expected before ICMPv6.
    if next == NEXT_HOP_BY_HOP {
        need(ip, at + 2)?;
        next = ip[at];
        at += (usize::from(ip[at + 1]) + 1) * 8;
    }
    if next != NEXT_ICMPV6 {
        return Ok(None);
    }
    let msg = ip.get(at..).ok_or(ParseError::Truncated { need: at, have: ip.len() })?;
    need(msg, 8)?;
    let mut groups = Vec::new();
    match msg[0] {
        REPORT_V1 => {
            need(msg, 24)?;
            groups.push(addr(msg, 8));
        }
        REPORT_V2 => {
            let mut at = 8;
            for _ in 0..be16(msg, 6) {
                need(msg, at + 20)?;
                let (aux, sources) = (usize::from(msg[at + 1]), usize::from(be16(msg, at + 2)));
                if groups.len() < MAX_GROUPS {
                    groups.push(addr(msg, at + 4));
                }
                at += 20 + sources * 16 + aux * 4;
            }
        }
        _ => return Ok(None),
    }
    Ok(Some((eth.source(), src, groups)))
}

fn addr(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

/// The low 24 bits of the address a solicited-node group stands for;
/// `None` for any other group.
pub fn solicited_low24(group: Ipv6Addr) -> Option<u32> {
    let o = group.octets();
    (o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff])
        .then(|| u32::from(o[13]) << 16 | u32::from(o[14]) << 8 | u32::from(o[15]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x42, 0xc6, 0x12, 0x00, 0x01]);
    const HOST: MacAddr = MacAddr([0x00, 0x1b, 0x21, 0x5e, 0x00, 0x15]);

    #[test]
    fn the_query_is_byte_exact_with_router_alert_hop_limit_1_and_a_valid_checksum() {
        let src: Ipv6Addr = "fe80::42:c6ff:fe12:1".parse().unwrap();
        let f = general_query(MAC, src);
        assert_eq!(f.len(), 14 + 40 + 8 + 28);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!((be16(&f, 18), f[20], f[21]), (36, NEXT_HOP_BY_HOP, 1), "payload length, next header, hop limit");
        assert_eq!(&f[54..62], &[58, 0, 5, 2, 0, 0, 1, 0], "router alert (MLD) and padding");
        let msg = &f[62..];
        assert_eq!((msg[0], be16(msg, 4)), (QUERY, MAX_RESPONSE_MS));
        assert_eq!(&msg[8..24], &[0u8; 16], "a general query");
        assert_eq!(checksum(src, ALL_NODES, msg), 0);
    }

    /// A report as Linux sends it: hop-by-hop Router Alert, then MLDv2 with
    /// records of type 4 (exclude, no sources), one with aux data.
    fn v2_report(groups: &[Ipv6Addr]) -> Vec<u8> {
        let mut msg = vec![REPORT_V2, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&(groups.len() as u16).to_be_bytes());
        for (i, g) in groups.iter().enumerate() {
            let aux = u8::from(i == 0);
            msg.extend_from_slice(&[4, aux, 0, 0]);
            msg.extend_from_slice(&g.octets());
            msg.extend(std::iter::repeat_n(0xee, usize::from(aux) * 4));
        }
        let mut f = vec![0u8; 14];
        ethernet::write_header(&mut f, MacAddr([0x33, 0x33, 0, 0, 0, 0x16]), HOST, ETHERTYPE_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 1]);
        f.extend_from_slice(&"fe80::21b:21ff:fe5e:15".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&"ff02::16".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]);
        f.extend_from_slice(&msg);
        f
    }

    #[test]
    fn a_v2_report_gives_its_groups_and_the_solicited_node_ones_their_low_bits() {
        let g: Vec<Ipv6Addr> =
            ["ff02::1:ff00:31", "ff02::1:ff5e:15", "ff02::fb"].iter().map(|s| s.parse().unwrap()).collect();
        let (mac, src, groups) = reported_groups(&v2_report(&g)).unwrap().unwrap();
        assert_eq!((mac, src.is_unicast_link_local(), &groups), (HOST, true, &g));
        let low: Vec<Option<u32>> = groups.iter().map(|g| solicited_low24(*g)).collect();
        assert_eq!(low, [Some(0x31), Some(0x5e_0015), None]);
    }

    #[test]
    fn a_v1_report_truncations_and_other_frames() {
        let mut f = v2_report(&[]);
        let v1_group: Ipv6Addr = "ff02::1:ff00:31".parse().unwrap();
        f.truncate(62);
        f.extend_from_slice(&[REPORT_V1, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&v1_group.octets());
        f[18..20].copy_from_slice(&32u16.to_be_bytes());
        assert_eq!(reported_groups(&f).unwrap().unwrap().2, [v1_group]);
        let q = general_query(MAC, "fe80::1".parse().unwrap());
        assert_eq!(reported_groups(&q).unwrap(), None, "a query is not a report");
        let full = v2_report(&[v1_group, v1_group]);
        for cut in [0, 20, 53, 60, 69, full.len() - 1] {
            assert!(reported_groups(&full[..cut]).is_err(), "{cut} bytes must not parse");
        }
        // A record count far beyond the bytes: an error, not a panic or a loop.
        let mut lying = v2_report(&[v1_group]);
        lying[62 + 6..62 + 8].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(reported_groups(&lying).is_err());
    }
}
