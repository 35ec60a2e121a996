//! DHCPv4 client messages (RFC 2131, options RFC 2132) as passive listening
//! hears them: who asked (the client hardware address), for which address,
//! under which host name, and the client's fingerprint — its parameter
//! request list (option 55, in the client's order) and vendor class
//! (option 60).
//!
//! Only BOOTREQUESTs (DISCOVER, REQUEST, INFORM, …) are read: the client
//! speaks for itself there. Options are walked with every length checked
//! against the bytes present; a malformed option list ends the walk (what
//! was read before it is kept), it never reads out of bounds.

use std::net::Ipv4Addr;

use census_proto::MacAddr;

use super::ethernet::{ETHERTYPE_IPV4, EthernetView, mac_at};
use super::ipv4::Ipv4View;
use super::{ParseError, be16, need};

/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// The DHCP server port (clients send to it).
pub const SERVER_PORT: u16 = 67;
/// The DHCP client port.
pub const CLIENT_PORT: u16 = 68;

const OP: usize = 0;
const HTYPE: usize = 1;
const HLEN: usize = 2;
const CIADDR: usize = 12;
const CHADDR: usize = 28;
const COOKIE: usize = 236;
const OPTIONS: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Longest host name or vendor class kept (option values are at most 255 bytes anyway).
const MAX_TEXT: usize = 255;

/// DHCP message type (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// Another type (a server's message, or one this parser does not name).
    Other(u8),
}

impl MessageType {
    fn from_code(c: u8) -> Self {
        match c {
            1 => MessageType::Discover,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            n => MessageType::Other(n),
        }
    }

    /// The message's name (`DISCOVER`, …).
    pub fn name(self) -> String {
        match self {
            MessageType::Discover => "DISCOVER".into(),
            MessageType::Request => "REQUEST".into(),
            MessageType::Decline => "DECLINE".into(),
            MessageType::Release => "RELEASE".into(),
            MessageType::Inform => "INFORM".into(),
            MessageType::Other(n) => format!("type {n}"),
        }
    }
}

/// What a client's DHCP message says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpClient {
    /// Message type (option 53).
    pub message: MessageType,
    /// Client hardware address (`chaddr`).
    pub mac: MacAddr,
    /// The address it asks for (option 50) or already holds (`ciaddr`).
    pub requested_ip: Option<Ipv4Addr>,
    /// Host name (option 12), as sent (not yet sanitised).
    pub host_name: Option<String>,
    /// Vendor class identifier (option 60), as sent.
    pub vendor_class: Option<String>,
    /// Parameter request list (option 55), in the client's order.
    pub parameter_list: Vec<u8>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)]).into_owned()
}

/// Parse a BOOTP/DHCP payload (the UDP payload) sent by a client.
///
/// # Errors
/// [`ParseError`] when it is truncated, not a BOOTREQUEST over Ethernet, or
/// has no DHCP magic cookie or message type.
pub fn parse(bytes: &[u8]) -> Result<DhcpClient, ParseError> {
    need(bytes, OPTIONS)?;
    if bytes[OP] != 1 {
        return Err(ParseError::Unsupported("BOOTP op (not a client request)"));
    }
    if bytes[HTYPE] != 1 || bytes[HLEN] != 6 {
        return Err(ParseError::Unsupported("DHCP hardware type"));
    }
    if bytes[COOKIE..OPTIONS] != MAGIC {
        return Err(ParseError::Unsupported("DHCP magic cookie"));
    }
    let ciaddr = Ipv4Addr::new(bytes[CIADDR], bytes[CIADDR + 1], bytes[CIADDR + 2], bytes[CIADDR + 3]);
    let mut out = DhcpClient {
        message: MessageType::Other(0),
        mac: mac_at(bytes, CHADDR),
        requested_ip: (!ciaddr.is_unspecified()).then_some(ciaddr),
        host_name: None,
        vendor_class: None,
        parameter_list: Vec::new(),
    };
    let mut typed = false;
    let mut at = OPTIONS;
    while at < bytes.len() {
        let code = bytes[at];
        match code {
            0 => {
                at += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = bytes.get(at + 1) else { break };
        let (start, end) = (at + 2, at + 2 + usize::from(len));
        let Some(value) = bytes.get(start..end) else { break };
        match code {
            53 if len == 1 => {
                out.message = MessageType::from_code(value[0]);
                typed = true;
            }
            50 if len == 4 => out.requested_ip = Some(Ipv4Addr::new(value[0], value[1], value[2], value[3])),
            12 if len > 0 => out.host_name = Some(text(value)),
            60 if len > 0 => out.vendor_class = Some(text(value)),
            55 => out.parameter_list = value.to_vec(),
            _ => {}
        }
        at = end;
    }
    if !typed {
        return Err(ParseError::Unsupported("BOOTP without a DHCP message type"));
    }
    Ok(out)
}

/// The DHCP client message in an Ethernet frame (IPv4, UDP to port 67, not
/// a fragment), or `None`.
pub fn in_frame(frame: &[u8]) -> Option<DhcpClient> {
    let eth = EthernetView::new(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4View::new(eth.payload()).ok()?;
    if ip.protocol() != PROTO_UDP {
        return None;
    }
    let udp = ip.payload();
    need(udp, 8).ok()?;
    if be16(udp, 2) != SERVER_PORT {
        return None;
    }
    let client = parse(&udp[8..]).ok()?;
    // The frame's source and the client hardware address agree, unless a relay forwarded it.
    Some(client)
}

#[cfg(test)]
#[path = "dhcp_tests.rs"]
mod tests;
