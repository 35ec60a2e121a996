//! NetBIOS node status (RFC 1002 §4.2.17–18, "NBSTAT"): the request that
//! asks a host for its registered NetBIOS names, and the reply listing them.
//!
//! Windows hosts and Samba servers answer it on UDP 137 from any source
//! port, which makes it the one name source that works on hosts with no DNS
//! record. The reply's name table is the host's own claim: its names are
//! length-capped, sanitised by the caller, and a table longer than its
//! record is rejected.

use census_proto::MacAddr;

use super::dns::{DnsView, HEADER_LEN, record_at, skip_name, write_query_header};
use super::{ParseError, be16, need};

/// Length of a node status request.
pub const REQUEST_LEN: usize = HEADER_LEN + ENCODED_NAME_LEN + 4;
/// Record type NBSTAT.
pub const TYPE_NBSTAT: u16 = 0x0021;
/// Suffix of a workstation (or domain, for a group) name.
pub const SUFFIX_WORKSTATION: u8 = 0x00;
/// Suffix of a file server name.
pub const SUFFIX_SERVER: u8 = 0x20;

/// A NetBIOS name on the wire: length byte, 32 half-byte letters, root label.
const ENCODED_NAME_LEN: usize = 34;
/// One node name entry: 15 name bytes, suffix, flags.
const ENTRY_LEN: usize = 18;
/// The name flag's group bit.
const FLAG_GROUP: u16 = 0x8000;

/// Write a node status request for the wildcard name `*` with id `id`.
pub fn build_request(out: &mut [u8; REQUEST_LEN], id: u16) {
    write_query_header(out, id);
    let name = &mut out[HEADER_LEN..HEADER_LEN + ENCODED_NAME_LEN];
    name[0] = 32;
    // `*` padded with NULs to 16 bytes, each byte split into two letters 'A' + nibble.
    let mut raw = [0u8; 16];
    raw[0] = b'*';
    for (i, b) in raw.iter().enumerate() {
        name[1 + 2 * i] = b'A' + (b >> 4);
        name[2 + 2 * i] = b'A' + (b & 0x0f);
    }
    name[33] = 0;
    let at = HEADER_LEN + ENCODED_NAME_LEN;
    out[at..at + 2].copy_from_slice(&TYPE_NBSTAT.to_be_bytes());
    out[at + 2..at + 4].copy_from_slice(&super::dns::CLASS_IN.to_be_bytes());
}

/// One entry of a node's name table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName {
    /// The name, trailing spaces and NULs removed (raw bytes; callers sanitise).
    pub name: Vec<u8>,
    /// The 16th byte: what the name is registered for.
    pub suffix: u8,
    /// A group name (a workgroup or domain) rather than the host's own.
    pub group: bool,
}

/// A parsed node status reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The transaction id it answers.
    pub id: u16,
    /// The name table, in the order given.
    pub names: Vec<NodeName>,
    /// The unit id (usually the adapter's MAC) when the statistics carry one.
    pub unit_id: Option<MacAddr>,
}

impl NodeStatus {
    /// The host's own name: its unique workstation name, else its server name.
    pub fn host_name(&self) -> Option<&[u8]> {
        let unique = |suffix| self.names.iter().find(|n| !n.group && n.suffix == suffix && !n.name.is_empty());
        unique(SUFFIX_WORKSTATION).or_else(|| unique(SUFFIX_SERVER)).map(|n| n.name.as_slice())
    }

    /// The workgroup or domain it belongs to.
    pub fn workgroup(&self) -> Option<&[u8]> {
        self.names
            .iter()
            .find(|n| n.group && n.suffix == SUFFIX_WORKSTATION && !n.name.is_empty())
            .map(|n| n.name.as_slice())
    }
}

/// Parse a node status reply.
pub fn parse_reply(msg: &[u8]) -> Result<NodeStatus, ParseError> {
    let header = DnsView::new(msg)?;
    if !header.is_response() {
        return Err(ParseError::Unsupported("not a response"));
    }
    if header.answers() == 0 {
        return Err(ParseError::Unsupported("no answer record"));
    }
    // Some stacks echo the question; skip any.
    let mut at = HEADER_LEN;
    for _ in 0..header.questions().min(4) {
        at = skip_name(msg, at)? + 4;
    }
    let (rtype, _, data, len) = record_at(msg, skip_name(msg, at)?)?;
    if rtype != TYPE_NBSTAT {
        return Err(ParseError::Unsupported("record type"));
    }
    let rdata = &msg[data..data + len];
    need(rdata, 1)?;
    let count = usize::from(rdata[0]);
    let table_end = 1 + count * ENTRY_LEN;
    need(rdata, table_end)?;
    let names = rdata[1..table_end]
        .chunks_exact(ENTRY_LEN)
        .map(|e| {
            let mut name = e[..15].to_vec();
            while matches!(name.last(), Some(b' ' | 0)) {
                name.pop();
            }
            NodeName { name, suffix: e[15], group: be16(e, 16) & FLAG_GROUP != 0 }
        })
        .collect();
    let unit_id = rdata.get(table_end..table_end + 6).map(|m| MacAddr([m[0], m[1], m[2], m[3], m[4], m[5]]));
    let unit_id = unit_id.filter(|m| m.0 != [0; 6]);
    Ok(NodeStatus { id: header.id(), names, unit_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_byte_exact() {
        let mut buf = [0u8; REQUEST_LEN];
        build_request(&mut buf, 0x1234);
        let mut want = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 32];
        want.extend_from_slice(b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        want.extend_from_slice(&[0, 0, 0x21, 0, 1]);
        assert_eq!(&buf[..], &want[..]);
    }

    fn entry(name: &str, suffix: u8, flags: u16) -> Vec<u8> {
        let mut e = format!("{name:<15}").into_bytes();
        e.push(suffix);
        e.extend_from_slice(&flags.to_be_bytes());
        e
    }

    /// A reply shaped as Windows sends it: no question, the wildcard name as owner.
    fn reply(entries: &[Vec<u8>], mac: [u8; 6]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 32];
        m.extend_from_slice(b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        m.extend_from_slice(&[0, 0, 0x21, 0, 1, 0, 0, 0, 0]);
        let mut rdata = vec![entries.len() as u8];
        for e in entries {
            rdata.extend_from_slice(e);
        }
        rdata.extend_from_slice(&mac);
        rdata.extend_from_slice(&[0u8; 40]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        m
    }

    #[test]
    fn windows_style_reply_names_host_and_workgroup() {
        let m = reply(
            &[entry("CENSUSLAB", 0x00, 0x8400), entry("HOST-003", 0x00, 0x0400), entry("HOST-003", 0x20, 0x0400)],
            [0x00, 0x14, 0x22, 0x5e, 0, 3],
        );
        let s = parse_reply(&m).unwrap();
        assert_eq!(s.id, 0x1234);
        assert_eq!(s.names.len(), 3);
        assert_eq!(s.host_name(), Some(&b"HOST-003"[..]));
        assert_eq!(s.workgroup(), Some(&b"CENSUSLAB"[..]));
        assert_eq!(s.unit_id, Some(MacAddr([0x00, 0x14, 0x22, 0x5e, 0, 3])));
    }

    #[test]
    fn samba_without_workstation_name_falls_back_to_server_name() {
        let s = parse_reply(&reply(&[entry("FILES", 0x20, 0x0400)], [0; 6])).unwrap();
        assert_eq!(s.host_name(), Some(&b"FILES"[..]));
        assert_eq!(s.workgroup(), None);
        assert_eq!(s.unit_id, None, "an all-zero unit id is no MAC");
    }

    #[test]
    fn short_or_overlong_tables_are_errors() {
        let m = reply(&[entry("HOST", 0, 0)], [1, 2, 3, 4, 5, 6]);
        for cut in 0..m.len() - 46 {
            assert!(parse_reply(&m[..cut]).is_err(), "cut at {cut}");
        }
        let mut m = reply(&[entry("HOST", 0, 0)], [1, 2, 3, 4, 5, 6]);
        let count_at = HEADER_LEN + ENCODED_NAME_LEN + 10;
        m[count_at] = 200;
        assert!(parse_reply(&m).is_err(), "a table past its record");
        let mut q = [0u8; REQUEST_LEN];
        build_request(&mut q, 1);
        assert_eq!(parse_reply(&q), Err(ParseError::Unsupported("not a response")));
    }
}
