//! TCP SYN (half-open) sweep over a raw socket.
//!
//! Each SYN carries a keyed-hash cookie as its sequence number; a SYN-ACK
//! or RST is ours only when it acknowledges that cookie + 1, so no per-probe
//! state is needed to match answers and stray segments are ignored. We
//! never complete a handshake: the kernel, which has no socket for our
//! source port, answers the SYN-ACK with a RST and the target frees its
//! half-open connection at once. Ports that answer nothing are filtered.

use std::net::Ipv4Addr;

use census_proto::{Port, SynAckSignature};

use super::engine::Protocol;
use crate::packet::ipv4::{Ipv4View, PROTO_TCP};
use crate::packet::tcp::{self, ACK_FLAG, RST, SYN, TcpView};

/// The SYN probing protocol.
pub struct SynProtocol {
    /// Our source address (the raw socket is bound to it).
    pub src: Ipv4Addr,
    /// Our source port for every probe.
    pub src_port: u16,
    /// Per-sweep secret keying the cookies.
    pub secret: u64,
}

/// What a port said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SynReply {
    /// SYN-ACK: open; the segment's shape and the reply's TTL.
    Open {
        /// Window, MSS and option order.
        signature: SynAckSignature,
        /// TTL of the reply.
        ttl: u8,
    },
    /// RST: closed.
    Closed {
        /// TTL of the reply.
        ttl: u8,
    },
}

impl Protocol for SynProtocol {
    type Key = (Ipv4Addr, Port);
    type Reply = SynReply;

    fn probe(&self, (ip, port): (Ipv4Addr, Port), buf: &mut Vec<u8>) -> Ipv4Addr {
        let mut seg = [0u8; tcp::SYN_LEN];
        tcp::build_syn(&mut seg, self.src, ip, self.src_port, port.0, tcp::cookie(self.secret, ip, port.0));
        buf.extend_from_slice(&seg);
        ip
    }

    fn parse(&self, packet: &[u8]) -> Option<((Ipv4Addr, Port), SynReply)> {
        let ip = Ipv4View::new(packet).ok()?;
        if ip.protocol() != PROTO_TCP || ip.destination() != self.src {
            return None;
        }
        let seg = TcpView::new(ip.payload()).ok()?;
        if seg.destination_port() != self.src_port {
            return None;
        }
        let key = (ip.source(), Port(seg.source_port()));
        if seg.acknowledgement() != tcp::cookie(self.secret, key.0, key.1.0).wrapping_add(1) {
            return None;
        }
        let flags = seg.flags();
        if flags & (SYN | ACK_FLAG) == SYN | ACK_FLAG {
            Some((key, SynReply::Open { signature: seg.signature(), ttl: ip.ttl() }))
        } else if flags & RST != 0 {
            Some((key, SynReply::Closed { ttl: ip.ttl() }))
        } else {
            None
        }
    }

    fn in_scope(&self, _key: (Ipv4Addr, Port)) -> bool {
        // The cookie check in `parse` already proves we probed it.
        true
    }
}
