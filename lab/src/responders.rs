//! Lab name responders: what a host running avahi (unicast mDNS on UDP
//! 5353) or Windows/Samba (NetBIOS node status on UDP 137) answers.
//!
//! They are written independently of the agent's packet code — the mDNS side
//! through hickory-proto, the NetBIOS side straight from RFC 1002 — so a
//! lab test is Census against another implementation, not against itself;
//! the names test also checks them with `dig` and `nbtscan`.

use std::net::{IpAddr, Ipv4Addr, UdpSocket as StdUdpSocket};

use census_proto::MacAddr;
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::spec::NetbiosSpec;

/// What a bound UDP socket answers.
#[derive(Debug, Clone)]
pub enum Responder {
    /// Unicast mDNS: PTR queries for the host's own address get `name`.
    Mdns {
        /// The host's address.
        ip: Ipv4Addr,
        /// Its `.local` name.
        name: String,
    },
    /// NetBIOS node status: the host's name table and MAC.
    Netbios {
        /// Names to list.
        spec: NetbiosSpec,
        /// Unit id reported in the statistics.
        mac: MacAddr,
    },
}

/// A UDP socket bound inside a host's namespace, and what it answers.
pub struct BoundResponder {
    /// The socket.
    pub socket: StdUdpSocket,
    /// Its behaviour.
    pub responder: Responder,
}

/// Serve one responder until the runtime stops.
pub(crate) async fn serve(bound: BoundResponder) {
    if bound.socket.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(socket) = tokio::net::UdpSocket::from_std(bound.socket) else { return };
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = socket.recv_from(&mut buf).await {
        let reply = match &bound.responder {
            Responder::Mdns { ip, name } => mdns_reply(&buf[..n], *ip, name),
            Responder::Netbios { spec, mac } => netbios_reply(&buf[..n], spec, *mac),
        };
        if let Some(reply) = reply {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// The answer to a legacy unicast mDNS query (RFC 6762 §6.7): id and
/// question echoed, TTL at most 10 s; `None` for anything not about `ip`.
pub fn mdns_reply(query: &[u8], ip: Ipv4Addr, name: &str) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let q = query.queries.first()?;
    let own = Name::from(IpAddr::V4(ip));
    if q.query_type() != RecordType::PTR || q.name() != &own {
        return None;
    }
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.add_query(q.clone());
    let target = Name::from_ascii(format!("{name}.")).ok()?;
    reply.add_answer(Record::from_rdata(q.name().clone(), 10, RData::PTR(PTR(target))));
    reply.to_vec().ok()
}

/// The answer to a node status request for `*`: the name table (workstation
/// and server names unique, the workgroup a group) and the MAC as unit id.
pub fn netbios_reply(request: &[u8], spec: &NetbiosSpec, mac: MacAddr) -> Option<Vec<u8>> {
    // Header (12), wildcard name (34), NBSTAT IN (4).
    if request.len() < 50 || request[2] & 0x80 != 0 || request[12] != 32 || request[46..50] != [0, 0x21, 0, 1] {
        return None;
    }
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(&request[0..2]);
    m.extend_from_slice(&[0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(&request[12..46]);
    m.extend_from_slice(&[0, 0x21, 0, 1, 0, 0, 0, 0]);
    let entries: [(&str, u8, u16); 3] =
        [(&spec.name, 0x00, 0x0400), (&spec.workgroup, 0x00, 0x8400), (&spec.name, 0x20, 0x0400)];
    let mut rdata = vec![entries.len() as u8];
    for (name, suffix, flags) in entries {
        let mut padded = [b' '; 15];
        for (slot, b) in padded.iter_mut().zip(name.to_ascii_uppercase().bytes()) {
            *slot = b;
        }
        rdata.extend_from_slice(&padded);
        rdata.push(suffix);
        rdata.extend_from_slice(&flags.to_be_bytes());
    }
    rdata.extend_from_slice(&mac.0);
    rdata.extend_from_slice(&[0u8; 40]);
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(&rdata);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);

    fn query(name: Name, rtype: RecordType) -> Vec<u8> {
        let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(name, rtype));
        m.to_vec().unwrap()
    }

    #[test]
    fn mdns_answers_its_own_reverse_name_only() {
        let reply = mdns_reply(&query(Name::from(IpAddr::V4(IP)), RecordType::PTR), IP, "host-011.local").unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!((reply.metadata.id, reply.metadata.message_type), (0x4242, MessageType::Response));
        assert_eq!(reply.queries.len(), 1, "the question is echoed");
        match &reply.answers[0].data {
            RData::PTR(p) => assert_eq!(p.0.to_ascii(), "host-011.local."),
            other => panic!("{other:?}"),
        }
        let other = Name::from(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 12)));
        assert!(mdns_reply(&query(other, RecordType::PTR), IP, "x.local").is_none());
        assert!(mdns_reply(&query(Name::from(IpAddr::V4(IP)), RecordType::A), IP, "x.local").is_none());
        assert!(mdns_reply(b"garbage", IP, "x.local").is_none());
    }

    #[test]
    fn netbios_lists_name_workgroup_and_mac() {
        let mut req = vec![0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 32, b'C', b'K'];
        req.extend_from_slice(&[b'A'; 30]);
        req.extend_from_slice(&[0, 0, 0x21, 0, 1]);
        let spec = NetbiosSpec { name: "host-003".into(), workgroup: "CENSUSLAB".into() };
        let mac = MacAddr([0, 0x14, 0x22, 0x5e, 0, 3]);
        let r = netbios_reply(&req, &spec, mac).unwrap();
        assert_eq!(&r[..2], &[0xab, 0xcd]);
        let table = &r[56..];
        assert_eq!(table[0], 3);
        assert_eq!(&table[1..17], b"HOST-003       \x00");
        assert_eq!(&table[1 + 54..1 + 60], &mac.0);
        req[2] = 0x80;
        assert!(netbios_reply(&req, &spec, mac).is_none(), "a response is not answered");
    }
}
