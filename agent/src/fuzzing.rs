//! Entry points shared by the cargo-fuzz targets (`agent/fuzz/`) and the
//! stable test that replays their seed corpora, so CI covers what the
//! fuzzers found without a nightly toolchain.
//!
//! Each function must accept any bytes without panicking.

use std::net::{IpAddr, Ipv4Addr};

use crate::fingerprint::{banner, sanitize};
use crate::packet::{arp, dns, ethernet, ipv4, netbios, tcp};

/// Parse a received frame the way the ARP and on-link echo sweeps do.
pub fn arp_frame(data: &[u8]) {
    if let Ok(Some(r)) = crate::packet::icmpv4::parse_echo_reply(data) {
        let _ = (r.mac.to_string(), r.src, r.dst, r.id, r.ttl);
    }
    if let Some(reply) = arp::parse_reply(data) {
        let _ = (reply.ip, reply.mac.to_string(), reply.frame_source.is_locally_administered());
    }
    if let Ok(eth) = ethernet::EthernetView::new(data)
        && let Ok(a) = arp::ArpView::new(eth.payload())
    {
        let _ = (a.operation(), a.sender_ip(), a.target_ip(), a.sender_mac(), a.target_mac());
    }
}

/// Parse a raw-socket IPv4 packet the way the SYN sweep does.
pub fn ip_tcp(data: &[u8]) {
    if let Ok(ip) = ipv4::Ipv4View::new(data) {
        let _ = (ip.ttl(), ip.protocol(), ip.source(), ip.destination());
        if let Ok(seg) = tcp::TcpView::new(ip.payload()) {
            let sig = seg.signature();
            let _ = (seg.flags(), seg.acknowledgement(), sig.options.len());
            let _ = tcp::cookie(1, Ipv4Addr::UNSPECIFIED, seg.source_port());
        }
    }
}

/// Parse a service's first bytes the way service identification does.
pub fn banner(data: &[u8]) {
    if let Some(ev) = banner::parse_greeting(data) {
        let _ = banner::os_hint(&ev);
        assert!(ev.banner.as_deref().is_none_or(|b| b.chars().count() <= sanitize::MAX_TEXT));
    }
    if let Some(http) = banner::parse_http(data) {
        for text in [&http.server, &http.title, &http.redirect].into_iter().flatten() {
            assert!(!text.chars().any(char::is_control), "control characters kept");
        }
    }
    let _ = crate::fingerprint::tls::describe(data);
}

/// Parse a unicast mDNS reply the way name lookup does (any id, the lab's address).
pub fn mdns_reply(data: &[u8]) {
    if let Ok(view) = dns::DnsView::new(data) {
        let ip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 11));
        for name in crate::names::mdns::names_in_reply(data, view.id(), ip).unwrap_or_default() {
            assert!(name.len() <= 253 * 4 && !name.chars().any(char::is_control), "unsanitised {name:?}");
        }
    }
}

/// Parse a NetBIOS node status reply the way name lookup does.
pub fn netbios_reply(data: &[u8]) {
    if let Ok(status) = netbios::parse_reply(data) {
        let _ = (status.host_name(), status.workgroup(), status.unit_id);
        let ip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 13));
        for name in crate::names::netbios::names_in_reply(data, status.id, ip).unwrap_or_default() {
            assert!(name.chars().count() <= 15 && !name.chars().any(char::is_control), "unsanitised {name:?}");
        }
    }
}

/// Hear a captured frame the way passive listening does (ARP, DHCP), and
/// parse it as a bare DHCP payload; a table of one device bounds the memory.
pub fn passive_frame(data: &[u8]) {
    let targets = vec!["0.0.0.0/0".parse().expect("a CIDR")];
    let mut table = crate::passive::table::Neighbours::new(1, targets);
    table.hear(data, time::OffsetDateTime::UNIX_EPOCH);
    let heard = table.take();
    assert!(heard.len() <= 1 && heard.iter().all(|h| h.addresses.len() <= crate::passive::table::MAX_ADDRESSES));
    let sigs = crate::fingerprint::dhcp::DhcpSignatures::default();
    for o in crate::passive::observations(&heard, &sigs, &Default::default()) {
        assert!(o.names.iter().all(|n| !n.name.chars().any(char::is_control)), "unsanitised {:?}", o.names);
    }
    if let Ok(Some((_, _, groups))) = crate::packet::mld::reported_groups(data) {
        assert!(groups.len() <= crate::packet::mld::MAX_GROUPS);
        for g in groups {
            let _ = crate::packet::mld::solicited_low24(g);
        }
    }
    if let Ok(c) = crate::packet::dhcp::parse(data) {
        let _ = crate::fingerprint::dhcp::guess(&sigs, &c.parameter_list, c.vendor_class.as_deref());
        let _ = c.host_name.as_deref().and_then(crate::passive::host_name);
    }
}
