use super::*;

const T: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

/// An ARP frame from `mac` claiming `spa`, asking for `tpa`.
fn arp(mac: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f
}

fn lab() -> Vec<IpNet> {
    vec!["198.18.0.0/24".parse().unwrap()]
}

#[test]
fn a_gratuitous_arp_inside_the_targets_is_a_device_and_outside_is_nothing() {
    let mut t = Neighbours::new(16, lab());
    assert!(t.hear(&arp([2, 0, 0, 0, 0, 9], [198, 18, 0, 9], [198, 18, 0, 9]), T));
    assert!(!t.hear(&arp([2, 0, 0, 0, 0, 8], [198, 19, 0, 9], [198, 19, 0, 9]), T), "outside the targets");
    assert!(!t.hear(&arp([2, 0, 0, 0, 0, 7], [0, 0, 0, 0], [198, 18, 0, 7]), T), "a probe claims nothing");
    assert!(!t.hear(&arp([3, 0, 0, 0, 0, 6], [198, 18, 0, 6], [198, 18, 0, 1]), T), "a multicast sender");
    let heard = t.take();
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].addresses, ["198.18.0.9".parse::<IpAddr>().unwrap()]);
    assert!(heard[0].announced);
    assert!(t.is_empty(), "taken");
}

#[test]
fn a_flood_of_sources_costs_the_cap_and_a_count() {
    let mut t = Neighbours::new(100, lab());
    for n in 0u32..10_000 {
        let b = n.to_be_bytes();
        t.hear(&arp([2, 0, b[0], b[1], b[2], b[3]], [198, 18, 0, (n % 250) as u8 + 1], [198, 18, 0, 1]), T);
    }
    assert_eq!(t.len(), 100);
    assert_eq!(t.dropped, 9_900);
    assert_eq!(t.frames, 10_000);
    // A device already held is still updated when the table is full.
    assert!(t.hear(&arp([2, 0, 0, 0, 0, 0], [198, 18, 0, 200], [198, 18, 0, 1]), T));
    // Addresses per device are capped too.
    for n in 0..50u8 {
        t.hear(&arp([2, 0, 0, 0, 0, 1], [198, 18, 0, n + 1], [198, 18, 0, 1]), T);
    }
    let all = t.take();
    assert!(all.iter().all(|h| h.addresses.len() <= MAX_ADDRESSES));
}

#[test]
fn a_dhcp_request_names_the_device_and_gives_its_fingerprint() {
    let mut t = Neighbours::new(16, lab());
    let mut c = DhcpClient {
        message: crate::packet::dhcp::MessageType::Discover,
        mac: MacAddr([2, 0, 0, 0, 0, 42]),
        requested_ip: None,
        host_name: Some("lab-42".into()),
        vendor_class: None,
        parameter_list: vec![1, 3, 6, 12, 15, 28, 42],
    };
    assert!(!t.hear_dhcp(&c, T), "no address yet: nothing to report");
    c.message = crate::packet::dhcp::MessageType::Request;
    c.requested_ip = Some("198.18.0.42".parse().unwrap());
    assert!(t.hear_dhcp(&c, T));
    c.requested_ip = Some("203.0.113.5".parse().unwrap());
    assert!(t.hear_dhcp(&c, T), "known device: the message counts, the outside address does not");
    let h = &t.take()[0];
    assert_eq!(h.addresses, ["198.18.0.42".parse::<IpAddr>().unwrap()]);
    assert_eq!(h.host_name.as_deref(), Some("lab-42"));
    assert_eq!(h.parameter_list, [1, 3, 6, 12, 15, 28, 42]);
    assert_eq!(h.dhcp_messages, ["REQUEST"]);
}

/// A neighbour advertisement from `mac` for `target` (hop limit 255).
fn na(mac: [u8; 6], target: &str) -> Vec<u8> {
    let mut f = vec![0x33, 0x33, 0, 0, 0, 1];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255]);
    f.extend_from_slice(&"fe80::9".parse::<std::net::Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&"ff02::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&[136, 0, 0, 0, 0x20, 0, 0, 0]);
    f.extend_from_slice(&target.parse::<std::net::Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&[2, 1]);
    f.extend_from_slice(&mac);
    f
}

#[test]
fn ndp_ties_ipv6_addresses_to_the_mac_of_the_ipv4_host_and_link_local_alone_is_not_reported() {
    let mut t = Neighbours::new(16, vec!["198.18.0.0/24".parse().unwrap(), "2001:2::/48".parse().unwrap()]);
    let mac = [0x00, 0x1b, 0x21, 0, 0, 0x0b];
    assert!(t.hear(&arp(mac, [198, 18, 0, 11], [198, 18, 0, 11]), T));
    assert!(t.hear(&na(mac, "2001:2::b"), T));
    assert!(t.hear(&na(mac, "fe80::21b:21ff:fe00:b"), T));
    assert!(!t.hear(&na(mac, "2001:db8::b"), T), "outside the targets");
    assert!(t.hear(&na([0x00, 0x1b, 0x21, 0, 0, 0x0c], "fe80::c"), T), "held, not reported");
    let heard = t.take();
    let obs =
        crate::passive::observations(&heard, &crate::fingerprint::dhcp::DhcpSignatures::default(), &Default::default());
    let ips: Vec<String> = obs.iter().map(|o| o.ip.to_string()).collect();
    assert_eq!(ips, ["198.18.0.11", "2001:2::b", "fe80::21b:21ff:fe00:b"]);
    assert!(obs.iter().all(|o| o.mac.as_ref().unwrap().address == MacAddr(mac)), "one device, one MAC");
}
