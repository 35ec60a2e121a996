//! Pure packet building and parsing: no I/O.
//!
//! Each packet type is a zero-copy view over a byte slice with `const`
//! offsets; constructors check lengths once, so accessors cannot go out of
//! bounds whatever a hostile or broken host sends. Parsers allocate only for
//! what they return (the names in a DNS or NetBIOS reply). Builders write
//! into a caller-provided buffer. Every parser has a fuzz target
//! (`agent/fuzz/`).

pub mod arp;
pub mod checksum;
pub mod dhcp;
pub mod dns;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod mdns_announce;
pub mod mld;
pub mod ndp;
pub mod netbios;
pub mod tcp;

/// Why bytes are not the expected packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the header needs.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A field holds a value this parser does not handle.
    #[error("unsupported {0}")]
    Unsupported(&'static str),
}

pub(crate) fn need(bytes: &[u8], n: usize) -> Result<(), ParseError> {
    if bytes.len() < n { Err(ParseError::Truncated { need: n, have: bytes.len() }) } else { Ok(()) }
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
