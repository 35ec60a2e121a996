use super::*;

/// A DHCPDISCOVER as Debian's isc-dhcp-client 4.4 sends it (its default
/// `request` list in dhclient.conf order), byte for byte from the BOOTP header.
fn discover(options: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 1; // BOOTREQUEST
    b[1] = 1; // Ethernet
    b[2] = 6;
    b[4..8].copy_from_slice(&[0x3a, 0x91, 0x0c, 0x55]); // xid
    b[28..34].copy_from_slice(&[0x02, 0x42, 0xc6, 0x12, 0x00, 0x2a]); // chaddr
    b[236..240].copy_from_slice(&MAGIC);
    b.extend_from_slice(options);
    b
}

const DHCLIENT_OPTIONS: &[u8] = &[
    53, 1, 1, // DISCOVER
    50, 4, 198, 18, 0, 42, // requested address
    12, 6, b'l', b'a', b'b', b'-', b'4', b'2', // host name
    55, 13, 1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42, // parameter request list
    255,
];

#[test]
fn a_dhclient_discover_gives_its_mac_address_name_and_request_list() {
    let c = parse(&discover(DHCLIENT_OPTIONS)).unwrap();
    assert_eq!(c.message, MessageType::Discover);
    assert_eq!(c.mac.to_string(), "02:42:c6:12:00:2a");
    assert_eq!(c.requested_ip, Some(Ipv4Addr::new(198, 18, 0, 42)));
    assert_eq!(c.host_name.as_deref(), Some("lab-42"));
    assert_eq!(c.vendor_class, None);
    assert_eq!(c.parameter_list, [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
}

#[test]
fn pads_vendor_class_and_ciaddr_are_read() {
    let mut b = discover(&[53, 1, 8, 0, 0, 60, 8, b'M', b'S', b'F', b'T', b' ', b'5', b'.', b'0', 255]);
    b[12..16].copy_from_slice(&[198, 18, 0, 7]);
    let c = parse(&b).unwrap();
    assert_eq!(c.message, MessageType::Inform);
    assert_eq!(c.vendor_class.as_deref(), Some("MSFT 5.0"));
    assert_eq!(c.requested_ip, Some(Ipv4Addr::new(198, 18, 0, 7)));
}

#[test]
fn servers_other_hardware_no_cookie_and_no_type_are_refused() {
    let mut offer = discover(&[53, 1, 2, 255]);
    offer[0] = 2;
    assert!(parse(&offer).is_err());
    let mut token_ring = discover(&[53, 1, 1, 255]);
    token_ring[1] = 6;
    assert!(parse(&token_ring).is_err());
    let mut bootp = discover(&[53, 1, 1, 255]);
    bootp[236] = 0;
    assert!(parse(&bootp).is_err());
    assert!(parse(&discover(&[12, 1, b'x', 255])).is_err(), "plain BOOTP has no option 53");
    assert!(matches!(parse(&[1u8; 100]), Err(ParseError::Truncated { .. })));
}

#[test]
fn an_option_longer_than_the_packet_ends_the_walk_without_reading_past_it() {
    // The host name claims 200 bytes; 3 are there. What came before is kept.
    let c = parse(&discover(&[53, 1, 3, 12, 200, b'a', b'b', b'c'])).unwrap();
    assert_eq!(c.message, MessageType::Request);
    assert_eq!(c.host_name, None);
    // A code with no length byte at the very end.
    assert!(parse(&discover(&[53, 1, 1, 12])).is_ok());
}

#[test]
fn a_frame_is_unwrapped_to_the_client_message() {
    let payload = discover(DHCLIENT_OPTIONS);
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0x42, 0xc6, 0x12, 0x00, 0x2a, 0x08, 0x00]);
    let total = 20 + 8 + payload.len();
    let mut ip =
        vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255];
    frame.append(&mut ip);
    let udp_len = 8 + payload.len();
    frame.extend_from_slice(&[0, 68, 0, 67, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    frame.extend_from_slice(&payload);
    let c = in_frame(&frame).unwrap();
    assert_eq!(c.host_name.as_deref(), Some("lab-42"));
    // The same bytes to another port are not DHCP.
    let mut other = frame.clone();
    other[14 + 20 + 3] = 53;
    assert!(in_frame(&other).is_none());
    assert!(in_frame(&frame[..100]).is_none());
}
