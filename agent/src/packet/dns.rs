//! DNS messages, as far as a reverse (PTR) lookup needs them: the query, and
//! the PTR answers in a reply (RFC 1035 §4). Used for unicast mDNS (RFC 6762
//! §5.1 and §6.7: a query sent from an ordinary port gets a unicast reply
//! echoing its id) and, for the name encoding, by NetBIOS (RFC 1002).
//!
//! Replies come from hosts we do not control, so name decoding follows at
//! most [`MAX_JUMPS`] compression pointers and stops at 255 bytes of name:
//! a pointer loop or an endless name costs a few hundred steps, not a hang.

use std::net::IpAddr;

use super::{ParseError, be16, need};

/// Length of a DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest PTR query this module builds (an `ip6.arpa` name is the longest).
pub const MAX_QUERY_LEN: usize = HEADER_LEN + 74 + 4;
/// Record type PTR.
pub const TYPE_PTR: u16 = 12;
/// Record class IN.
pub const CLASS_IN: u16 = 1;
/// Compression pointers followed at most while decoding one name.
pub const MAX_JUMPS: usize = 16;
/// Longest name, in wire bytes (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Answer records examined at most in one reply.
pub const MAX_ANSWERS: usize = 32;

const ID: usize = 0;
const FLAGS: usize = 2;
const QDCOUNT: usize = 4;
const ANCOUNT: usize = 6;

/// The QR bit: set in responses.
const FLAG_RESPONSE: u16 = 0x8000;
/// The class's top bit is mDNS's cache-flush (answers) or unicast-response (questions) bit.
const CLASS_MASK: u16 = 0x7fff;

/// The reverse-lookup name of `ip`: `d.c.b.a.in-addr.arpa` or the 32 nibbles of `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// Write the header of a query with id `id` and one question, no flags set
/// (NetBIOS uses the same header).
pub fn write_query_header(out: &mut [u8], id: u16) {
    out[..HEADER_LEN].fill(0);
    out[ID..ID + 2].copy_from_slice(&id.to_be_bytes());
    out[QDCOUNT..QDCOUNT + 2].copy_from_slice(&1u16.to_be_bytes());
}

/// Write a standard query with id `id` for the PTR record of `ip`; returns its length.
pub fn build_ptr_query(out: &mut [u8; MAX_QUERY_LEN], id: u16, ip: IpAddr) -> usize {
    write_query_header(out, id);
    let mut at = HEADER_LEN;
    for label in reverse_name(ip).split('.') {
        // Labels of a reverse name are 1 to 4 ASCII bytes.
        out[at] = label.len() as u8;
        out[at + 1..at + 1 + label.len()].copy_from_slice(label.as_bytes());
        at += 1 + label.len();
    }
    out[at] = 0;
    out[at + 1..at + 3].copy_from_slice(&TYPE_PTR.to_be_bytes());
    out[at + 3..at + 5].copy_from_slice(&CLASS_IN.to_be_bytes());
    at + 5
}

/// A view of a DNS message's header; the rest is read with [`ptr_answers`].
#[derive(Debug, Clone, Copy)]
pub struct DnsView<'a> {
    bytes: &'a [u8],
}

impl<'a> DnsView<'a> {
    /// View `bytes` as a DNS message (only the header's length is checked here).
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        need(bytes, HEADER_LEN)?;
        Ok(DnsView { bytes })
    }

    /// The transaction id.
    pub fn id(&self) -> u16 {
        be16(self.bytes, ID)
    }

    /// Whether this is a response (QR set).
    pub fn is_response(&self) -> bool {
        be16(self.bytes, FLAGS) & FLAG_RESPONSE != 0
    }

    /// The response code (0 is no error).
    pub fn rcode(&self) -> u8 {
        (be16(self.bytes, FLAGS) & 0x000f) as u8
    }

    /// Number of questions.
    pub fn questions(&self) -> u16 {
        be16(self.bytes, QDCOUNT)
    }

    /// Number of answer records.
    pub fn answers(&self) -> u16 {
        be16(self.bytes, ANCOUNT)
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Decode the possibly compressed name at `at` into dotted text appended to
/// `out` (label bytes as they are; callers sanitise). Returns the offset just
/// past the name where it starts, i.e. where the record continues.
pub fn read_name(msg: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ParseError> {
    let mut pos = at;
    let mut resume = None;
    let mut jumps = 0;
    let mut wire_len = 0usize;
    loop {
        need(msg, pos + 1)?;
        let len = msg[pos];
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(resume.unwrap_or(pos + 1)),
            0x00 => {
                let len = usize::from(len);
                need(msg, pos + 1 + len)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME {
                    return Err(ParseError::Unsupported("name longer than 255 bytes"));
                }
                if wire_len > len + 1 {
                    out.push(b'.');
                }
                out.extend_from_slice(&msg[pos + 1..pos + 1 + len]);
                pos += 1 + len;
            }
            0xc0 => {
                need(msg, pos + 2)?;
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(ParseError::Unsupported("compression pointer loop"));
                }
                resume.get_or_insert(pos + 2);
                pos = usize::from(be16(msg, pos) & 0x3fff);
            }
            _ => return Err(ParseError::Unsupported("label type")),
        }
    }
}

/// Skip the name at `at`; returns where the record continues.
pub fn skip_name(msg: &[u8], at: usize) -> Result<usize, ParseError> {
    read_name(msg, at, &mut Vec::new())
}

/// Read a record header after its name: (type, class without the mDNS bit, data offset, data length).
pub(crate) fn record_at(msg: &[u8], at: usize) -> Result<(u16, u16, usize, usize), ParseError> {
    need(msg, at + 10)?;
    let rtype = be16(msg, at);
    let class = be16(msg, at + 2) & CLASS_MASK;
    let len = usize::from(be16(msg, at + 8));
    need(msg, at + 10 + len)?;
    Ok((rtype, class, at + 10, len))
}

/// The targets of the PTR answers in `msg` whose owner name is `owner`
/// (compared without regard to ASCII case), in the order given. A reply that
/// is not a successful response yields none.
pub fn ptr_answers(msg: &DnsView<'_>, owner: &str) -> Result<Vec<Vec<u8>>, ParseError> {
    if !msg.is_response() || msg.rcode() != 0 {
        return Ok(Vec::new());
    }
    let bytes = msg.bytes();
    let mut at = HEADER_LEN;
    for _ in 0..msg.questions().min(MAX_ANSWERS as u16) {
        at = skip_name(bytes, at)? + 4;
    }
    let mut targets = Vec::new();
    let mut name = Vec::with_capacity(64);
    for _ in 0..msg.answers().min(MAX_ANSWERS as u16) {
        name.clear();
        let after = read_name(bytes, at, &mut name)?;
        let (rtype, class, data, len) = record_at(bytes, after)?;
        if rtype == TYPE_PTR && class == CLASS_IN && name.eq_ignore_ascii_case(owner.as_bytes()) {
            let mut target = Vec::with_capacity(64);
            read_name(bytes, data, &mut target)?;
            if !target.is_empty() && !targets.contains(&target) {
                targets.push(target);
            }
        }
        at = data + len;
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 11));

    #[test]
    fn query_is_byte_exact() {
        let mut buf = [0u8; MAX_QUERY_LEN];
        let n = build_ptr_query(&mut buf, 0xbeef, IP);
        let mut want = vec![0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["11", "0", "18", "198", "in-addr", "arpa"] {
            want.push(l.len() as u8);
            want.extend_from_slice(l.as_bytes());
        }
        want.extend_from_slice(&[0, 0, 12, 0, 1]);
        assert_eq!(&buf[..n], &want[..]);
    }

    #[test]
    fn ipv6_reverse_name_fits_the_buffer() {
        let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x1a));
        assert_eq!(reverse_name(ip), "a.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa");
        let mut buf = [0u8; MAX_QUERY_LEN];
        assert_eq!(build_ptr_query(&mut buf, 1, ip), MAX_QUERY_LEN);
    }

    /// A reply as avahi sends it to a legacy unicast query: the question
    /// echoed, the answer's owner a pointer to it, the target compressed too.
    fn reply(id: u16, target_pointer: bool) -> Vec<u8> {
        let mut q = [0u8; MAX_QUERY_LEN];
        let n = build_ptr_query(&mut q, id, IP);
        let mut m = q[..n].to_vec();
        m[2] = 0x84; // response, authoritative
        m[7] = if target_pointer { 2 } else { 1 };
        // answer 1: owner -> question name (offset 12), PTR, cache-flush IN, TTL 10
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0x80, 1, 0, 0, 0, 10]);
        let rdata = [&[8][..], b"host-011", &[5], b"local", &[0]].concat();
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        let target_at = m.len();
        m.extend_from_slice(&rdata);
        if target_pointer {
            // answer 2: same owner, target "www" + pointer to the first target
            m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 10, 0, 6, 3, b'w', b'w', b'w', 0xc0]);
            m.push(target_at as u8);
        }
        m
    }

    #[test]
    fn ptr_answers_follow_compression() {
        let m = reply(7, true);
        let v = DnsView::new(&m).unwrap();
        assert_eq!(v.id(), 7);
        let owner = reverse_name(IP);
        let got = ptr_answers(&v, &owner.to_uppercase()).unwrap();
        assert_eq!(got, vec![b"host-011.local".to_vec(), b"www.host-011.local".to_vec()]);
        assert!(ptr_answers(&v, "12.0.18.198.in-addr.arpa").unwrap().is_empty(), "another owner");
    }

    #[test]
    fn queries_and_errors_yield_nothing() {
        let mut m = reply(7, false);
        m[2] = 0x04;
        assert!(ptr_answers(&DnsView::new(&m).unwrap(), &reverse_name(IP)).unwrap().is_empty());
        let mut m = reply(7, false);
        m[3] = 0x03; // NXDOMAIN
        assert!(ptr_answers(&DnsView::new(&m).unwrap(), &reverse_name(IP)).unwrap().is_empty());
    }

    #[test]
    fn truncated_and_looping_replies_are_errors() {
        let m = reply(7, false);
        for cut in 0..m.len() - 1 {
            if let Ok(v) = DnsView::new(&m[..cut]) {
                assert!(ptr_answers(&v, &reverse_name(IP)).is_err(), "cut at {cut}");
            }
        }
        // A pointer to itself.
        let mut m = vec![0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            ptr_answers(&DnsView::new(&m).unwrap(), "x"),
            Err(ParseError::Unsupported("compression pointer loop"))
        );
        // Labels adding up past 255 bytes.
        let mut m = vec![0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(0);
        assert!(ptr_answers(&DnsView::new(&m).unwrap(), "x").is_err());
    }
}
