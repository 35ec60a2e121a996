//! TCP segments: the SYN probe we send and the SYN-ACK/RST we read back.
//!
//! The probe's sequence number is a keyed hash of the target address and
//! port (a SYN cookie), so replies are matched statelessly and forged or
//! stray segments are ignored.

use std::net::Ipv4Addr;

use census_proto::SynAckSignature;

use super::checksum;
use super::ipv4::PROTO_TCP;
use super::{ParseError, be16, be32, need};

/// Minimum TCP header length.
pub const MIN_HEADER_LEN: usize = 20;
const SRC_PORT: usize = 0;
const DST_PORT: usize = 2;
const SEQ: usize = 4;
const ACK: usize = 8;
const DATA_OFFSET: usize = 12;
const FLAGS: usize = 13;
const WINDOW: usize = 14;
const CHECKSUM: usize = 16;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// ACK flag.
pub const ACK_FLAG: u8 = 0x10;

/// Options of our SYN, in the order Linux sends them: MSS 1460, SACK
/// permitted, timestamps, NOP, window scale 7. Offering them all lets the
/// SYN-ACK show which ones the target echoes (and in what order).
const SYN_OPTIONS: [u8; 20] = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7];
/// Length of the SYN probe.
pub const SYN_LEN: usize = MIN_HEADER_LEN + SYN_OPTIONS.len();

/// A view of a TCP segment with a header that fits the bytes.
#[derive(Debug, Clone, Copy)]
pub struct TcpView<'a> {
    bytes: &'a [u8],
    header_len: usize,
}

impl<'a> TcpView<'a> {
    /// View `bytes` as TCP; checks the data offset.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        need(bytes, MIN_HEADER_LEN)?;
        let header_len = usize::from(bytes[DATA_OFFSET] >> 4) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(ParseError::Unsupported("TCP data offset"));
        }
        need(bytes, header_len)?;
        Ok(TcpView { bytes, header_len })
    }

    /// Source port.
    pub fn source_port(&self) -> u16 {
        be16(self.bytes, SRC_PORT)
    }
    /// Destination port.
    pub fn destination_port(&self) -> u16 {
        be16(self.bytes, DST_PORT)
    }
    /// Sequence number.
    pub fn sequence(&self) -> u32 {
        be32(self.bytes, SEQ)
    }
    /// Acknowledgement number.
    pub fn acknowledgement(&self) -> u32 {
        be32(self.bytes, ACK)
    }
    /// Flags byte (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
    pub fn flags(&self) -> u8 {
        self.bytes[FLAGS]
    }
    /// Advertised window.
    pub fn window(&self) -> u16 {
        be16(self.bytes, WINDOW)
    }
    /// The raw options bytes.
    pub fn options(&self) -> &'a [u8] {
        &self.bytes[MIN_HEADER_LEN..self.header_len]
    }

    /// The stack-specific shape of this segment (for SYN-ACKs): window,
    /// MSS, window scale and option order.
    pub fn signature(&self) -> SynAckSignature {
        let mut sig = SynAckSignature { window: self.window(), mss: None, window_scale: None, options: String::new() };
        let mut kinds: Vec<String> = Vec::new();
        let opts = self.options();
        let mut i = 0;
        while i < opts.len() {
            let kind = opts[i];
            let (name, len) = match kind {
                0 => ("E".to_string(), 1),
                1 => ("N".to_string(), 1),
                _ => {
                    let Some(&len) = opts.get(i + 1) else { break };
                    let len = usize::from(len);
                    if len < 2 || i + len > opts.len() {
                        break;
                    }
                    let body = &opts[i + 2..i + len];
                    match (kind, body.len()) {
                        (2, 2) => sig.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                        (3, 1) => sig.window_scale = Some(body[0]),
                        _ => {}
                    }
                    let name = match kind {
                        2 => "M".to_string(),
                        3 => "W".to_string(),
                        4 => "S".to_string(),
                        8 => "T".to_string(),
                        k => format!("?{k}"),
                    };
                    (name, len)
                }
            };
            kinds.push(name);
            if kind == 0 {
                break;
            }
            i += len;
        }
        sig.options = kinds.join(",");
        sig
    }
}

/// Write a SYN probe (header and options, checksummed) into `out`.
pub fn build_syn(out: &mut [u8; SYN_LEN], src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, seq: u32) {
    out.fill(0);
    out[SRC_PORT..SRC_PORT + 2].copy_from_slice(&src_port.to_be_bytes());
    out[DST_PORT..DST_PORT + 2].copy_from_slice(&dst_port.to_be_bytes());
    out[SEQ..SEQ + 4].copy_from_slice(&seq.to_be_bytes());
    out[DATA_OFFSET] = ((SYN_LEN / 4) as u8) << 4;
    out[FLAGS] = SYN;
    out[WINDOW..WINDOW + 2].copy_from_slice(&64240u16.to_be_bytes());
    out[MIN_HEADER_LEN..].copy_from_slice(&SYN_OPTIONS);
    let c = checksum::transport_v4(src, dst, PROTO_TCP, out);
    out[CHECKSUM..CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
}

/// The SYN cookie: a keyed hash of the target, so replies can be matched
/// without keeping per-probe state. (SipHash via std's `DefaultHasher` keyed
/// with a per-sweep random secret.)
pub fn cookie(secret: u64, dst: Ipv4Addr, dst_port: u16) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (secret, dst, dst_port).hash(&mut h);
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

    #[test]
    fn syn_is_byte_exact_and_checksums_to_zero() {
        let mut s = [0u8; SYN_LEN];
        build_syn(&mut s, SRC, DST, 40000, 22, 0x01020304);
        #[rustfmt::skip]
        let head = [0x9c, 0x40, 0x00, 0x16, 1, 2, 3, 4, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0];
        assert_eq!(&s[..16], &head);
        assert_eq!(&s[18..20], &[0, 0], "urgent pointer");
        assert_eq!(&s[20..], &SYN_OPTIONS);
        // A correct checksum makes the pseudo-header sum over the segment fold to zero.
        assert_eq!(checksum::transport_v4(SRC, DST, PROTO_TCP, &s), 0);
    }

    #[test]
    fn synack_signature_reads_options_in_order() {
        // A Linux SYN-ACK: window 65160, options M1460,S,T,N,W7.
        let mut seg = [0u8; 40];
        seg[12] = 0xa0;
        seg[13] = SYN | ACK_FLAG;
        seg[14..16].copy_from_slice(&65160u16.to_be_bytes());
        seg[20..40].copy_from_slice(&[2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7]);
        let sig = TcpView::new(&seg).unwrap().signature();
        assert_eq!(sig.window, 65160);
        assert_eq!(sig.mss, Some(1460));
        assert_eq!(sig.window_scale, Some(7));
        assert_eq!(sig.options, "M,S,T,N,W");
    }

    #[test]
    fn hostile_options_do_not_panic() {
        let mut seg = [0u8; 28];
        seg[12] = 0x70;
        seg[20..28].copy_from_slice(&[2, 0, 3, 200, 8, 1, 1, 1]);
        let sig = TcpView::new(&seg).unwrap().signature();
        assert_eq!(sig.mss, None);
        seg[12] = 0x10; // data offset 4 bytes: invalid
        assert!(TcpView::new(&seg).is_err());
        seg[12] = 0xf0; // 60 bytes claimed, 28 present
        assert!(TcpView::new(&seg).is_err());
    }

    #[test]
    fn cookies_differ_per_target() {
        assert_ne!(cookie(7, DST, 22), cookie(7, DST, 23));
        assert_eq!(cookie(7, DST, 22), cookie(7, DST, 22));
        assert_ne!(cookie(7, DST, 22), cookie(8, DST, 22));
    }
}
