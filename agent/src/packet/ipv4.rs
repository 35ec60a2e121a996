//! IPv4 headers, as received on raw sockets.

use std::net::Ipv4Addr;

use super::{ParseError, be16, need};

/// Minimum IPv4 header length.
pub const MIN_HEADER_LEN: usize = 20;
const VERSION_IHL: usize = 0;
const TOTAL_LEN: usize = 2;
const TTL: usize = 8;
const PROTOCOL: usize = 9;
const SRC: usize = 12;
const DST: usize = 16;

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;

/// A view of an IPv4 packet whose header and declared length fit the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4View<'a> {
    bytes: &'a [u8],
    header_len: usize,
    total_len: usize,
}

impl<'a> Ipv4View<'a> {
    /// View `bytes` as IPv4; checks version, header length and total length.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        need(bytes, MIN_HEADER_LEN)?;
        if bytes[VERSION_IHL] >> 4 != 4 {
            return Err(ParseError::Unsupported("IP version"));
        }
        let header_len = usize::from(bytes[VERSION_IHL] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(ParseError::Unsupported("IPv4 header length"));
        }
        need(bytes, header_len)?;
        // Some raw-socket paths hand over packets with a total length of 0
        // (offloads); trust the buffer then, otherwise the smaller of the two.
        let declared = usize::from(be16(bytes, TOTAL_LEN));
        let total_len = if declared == 0 { bytes.len() } else { declared.min(bytes.len()) };
        if total_len < header_len {
            return Err(ParseError::Unsupported("IPv4 total length"));
        }
        Ok(Ipv4View { bytes, header_len, total_len })
    }

    /// Time to live as received.
    pub fn ttl(&self) -> u8 {
        self.bytes[TTL]
    }
    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.bytes[PROTOCOL]
    }
    /// Source address.
    pub fn source(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.bytes[SRC], self.bytes[SRC + 1], self.bytes[SRC + 2], self.bytes[SRC + 3])
    }
    /// Destination address.
    pub fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.bytes[DST], self.bytes[DST + 1], self.bytes[DST + 2], self.bytes[DST + 3])
    }
    /// The payload, bounded by the declared total length.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..self.total_len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_bounds() {
        let mut p = [0u8; 24];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&24u16.to_be_bytes());
        p[8] = 128;
        p[9] = PROTO_TCP;
        p[12..16].copy_from_slice(&[198, 18, 0, 13]);
        p[16..20].copy_from_slice(&[198, 18, 0, 1]);
        p[20..24].copy_from_slice(&[1, 2, 3, 4]);
        let v = Ipv4View::new(&p).unwrap();
        assert_eq!((v.ttl(), v.protocol()), (128, PROTO_TCP));
        assert_eq!(v.source(), Ipv4Addr::new(198, 18, 0, 13));
        assert_eq!(v.payload(), &[1, 2, 3, 4]);
        p[0] = 0x4f; // header claims 60 bytes
        assert!(matches!(Ipv4View::new(&p), Err(ParseError::Truncated { need: 60, .. })));
        p[0] = 0x65;
        assert!(Ipv4View::new(&p).is_err());
    }
}
