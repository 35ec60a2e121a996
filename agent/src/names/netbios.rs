//! NetBIOS node status (RFC 1002 §4.2.17) on UDP 137: Windows hosts and
//! Samba servers list their registered names. The host's own unique
//! workstation name is reported (as the host spells it, usually upper case);
//! the workgroup is logged, not reported as a name of the host.

use std::net::IpAddr;

use crate::fingerprint::sanitize::clean;
use crate::names::unicast::NameProtocol;
use crate::packet::netbios;

/// NetBIOS node status queries (IPv4 only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Netbios;

impl NameProtocol for Netbios {
    const PORT: u16 = 137;
    const LABEL: &'static str = "netbios";

    fn query(&self, id: u16, ip: IpAddr) -> Option<Vec<u8>> {
        if !ip.is_ipv4() {
            return None;
        }
        let mut buf = [0u8; netbios::REQUEST_LEN];
        netbios::build_request(&mut buf, id);
        Some(buf.to_vec())
    }

    fn names(&self, reply: &[u8], id: u16, ip: IpAddr) -> Option<Vec<String>> {
        names_in_reply(reply, id, ip)
    }
}

/// The host name a node status reply to query `id` carries, sanitised
/// (NetBIOS names are at most 15 bytes). `None` when it is not such a reply.
pub fn names_in_reply(reply: &[u8], id: u16, ip: IpAddr) -> Option<Vec<String>> {
    let status = netbios::parse_reply(reply).ok()?;
    if status.id != id {
        return None;
    }
    if let Some(group) = status.workgroup() {
        tracing::debug!(%ip, workgroup = %clean(group, 15), "NetBIOS workgroup");
    }
    Some(status.host_name().map(|n| clean(n, 15)).filter(|n| !n.is_empty()).into_iter().collect())
}
