//! Ethernet II frames.

use census_proto::MacAddr;

use super::{ParseError, be16, need};

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = 14;
const DST: usize = 0;
const SRC: usize = 6;
const ETHERTYPE: usize = 12;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// The broadcast address.
pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetView<'a> {
    bytes: &'a [u8],
}

impl<'a> EthernetView<'a> {
    /// View `bytes` as a frame (at least a full header).
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        need(bytes, HEADER_LEN)?;
        Ok(EthernetView { bytes })
    }

    /// Destination MAC.
    pub fn destination(&self) -> MacAddr {
        mac_at(self.bytes, DST)
    }

    /// Source MAC.
    pub fn source(&self) -> MacAddr {
        mac_at(self.bytes, SRC)
    }

    /// EtherType.
    pub fn ethertype(&self) -> u16 {
        be16(self.bytes, ETHERTYPE)
    }

    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

pub(crate) fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

/// Write an Ethernet II header into `out[..14]`.
pub fn write_header(out: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    out[DST..DST + 6].copy_from_slice(&dst.0);
    out[SRC..SRC + 6].copy_from_slice(&src.0);
    out[ETHERTYPE..ETHERTYPE + 2].copy_from_slice(&ethertype.to_be_bytes());
}
