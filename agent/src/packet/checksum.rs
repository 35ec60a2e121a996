//! The Internet checksum (RFC 1071) and the TCP/UDP IPv4 pseudo-header sum.

use std::net::Ipv4Addr;

/// Add `bytes` to a running one's-complement sum (not yet folded).
pub fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Fold a running sum into the final 16-bit checksum.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Checksum of `bytes` alone (IPv4 header, ICMP).
pub fn internet(bytes: &[u8]) -> u16 {
    finish(sum(0, bytes))
}

/// Checksum of a TCP or UDP segment with its IPv4 pseudo-header.
pub fn transport_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc += u32::from(protocol);
    acc += segment.len() as u32;
    finish(sum(acc, segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 section 3: sum 0xddf2, checksum 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet(&data), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(internet(&[0xab]), !0xab00);
    }
}
