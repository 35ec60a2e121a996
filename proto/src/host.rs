//! What an agent observed about one address: link-layer identity, how it
//! was seen, open ports with service evidence, names, and fingerprint guesses.
//!
//! Every guess carries its evidence and a confidence; nothing here is a bare
//! label, because a responder has to be able to ask "why does Census think so".

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::batch::Technique;
use crate::types::{MacAddr, Port, Ttl};

/// One address that answered during a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostObservation {
    /// The address that answered.
    pub ip: IpAddr,
    /// The MAC that answered for it (on-link sweeps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacInfo>,
    /// Further MACs that also answered for this IP in the same sweep:
    /// an identity conflict (or a spoofer) the daemon must see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicting_macs: Vec<MacInfo>,
    /// Which techniques got an answer from this address.
    pub seen_by: Vec<Technique>,
    /// Best round-trip time in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// TTL (hop limit) of the reply, as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_ttl: Option<Ttl>,
    /// Shape of the SYN-ACK to a SYN probe, kept for OS fingerprinting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_ack: Option<Box<SynAckSignature>>,
    /// Probed ports; closed and filtered ones are listed only when asked.
    #[serde(default)]
    pub ports: Vec<PortObservation>,
    /// Names the host is known by, with where each came from.
    #[serde(default)]
    pub names: Vec<NameObservation>,
    /// Guesses about what the host is.
    #[serde(default)]
    pub fingerprints: Vec<FingerprintGuess>,
    /// For an IPv6 address: its scope and what its interface identifier says (since 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Facts>,
    /// First answer in this sweep.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// Last answer in this sweep.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// The scope of an IPv6 address (RFC 4291 §2.5, RFC 4193).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv6Scope {
    /// fe80::/10: on this link only.
    LinkLocal,
    /// fc00::/7: the organisation's own.
    UniqueLocal,
    /// Anything else unicast.
    Global,
    /// A scope this reader does not know.
    #[serde(other)]
    Unknown,
}

/// What an IPv6 address says about the device that answered from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Facts {
    /// Its scope.
    pub scope: Ipv6Scope,
    /// The interface identifier is the answering MAC's modified EUI-64
    /// (RFC 4291 appendix A): the address names the hardware, and follows it
    /// from network to network.
    pub eui64: bool,
    /// The interface identifier is not derived from the MAC: a temporary
    /// (privacy, RFC 8981) or stable-privacy (RFC 7217) address, or one
    /// configured by hand or DHCPv6 — it says nothing about the hardware.
    pub random_iid: bool,
}

impl Ipv6Facts {
    /// The facts of `ip` as answered by `mac`.
    pub fn of(ip: std::net::Ipv6Addr, mac: Option<MacAddr>) -> Self {
        let scope = if ip.is_unicast_link_local() {
            Ipv6Scope::LinkLocal
        } else if ip.is_unique_local() {
            Ipv6Scope::UniqueLocal
        } else {
            Ipv6Scope::Global
        };
        let o = ip.octets();
        let eui64 = mac.is_some_and(|m| o[8..16] == m.eui64_interface_id());
        // An identifier with few non-zero bytes (::1, ::b, ::1:2) was set by
        // a person or DHCPv6, not drawn at random.
        let nonzero = o[8..16].iter().filter(|b| **b != 0).count();
        Ipv6Facts { scope, eui64, random_iid: !eui64 && nonzero >= 5 && !(o[11] == 0xff && o[12] == 0xfe) }
    }
}

/// A MAC address with what can be said about it without a register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacInfo {
    /// The address.
    pub address: MacAddr,
    /// Set when the address is locally administered (randomised): no vendor, weak identity.
    pub locally_administered: bool,
    /// Vendor from the IEEE registry; never set for locally administered addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

impl MacInfo {
    /// A MAC with its locally-administered flag derived and no vendor yet.
    pub fn new(address: MacAddr) -> Self {
        MacInfo { address, locally_administered: address.is_locally_administered(), vendor: None }
    }
}

/// TCP SYN-ACK fields that differ between network stacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynAckSignature {
    /// Advertised receive window.
    pub window: u16,
    /// Maximum segment size option, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mss: Option<u16>,
    /// Window scale option, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_scale: Option<u8>,
    /// Option kinds in order, p0f-style: `M` MSS, `N` NOP, `W` window scale,
    /// `S` SACK permitted, `T` timestamps, `E` end, `?n` other kind n.
    pub options: String,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// A protocol this reader does not know.
    #[serde(other)]
    Unknown,
}

/// State of a probed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    /// Accepted a connection (SYN-ACK).
    Open,
    /// Refused (RST).
    Closed,
    /// No answer, or an ICMP unreachable.
    Filtered,
    /// A state this reader does not know.
    #[serde(other)]
    Unknown,
}

/// One probed port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortObservation {
    /// Port number.
    pub port: Port,
    /// Transport protocol.
    pub protocol: TransportProtocol,
    /// State.
    pub state: PortState,
    /// What answered on it, when probed (boxed: most ports carry none, and
    /// a daemon decoding 100,000-host batches should not pay for it inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Box<ServiceEvidence>>,
}

/// What a service said about itself. All text is sanitised by the agent:
/// valid UTF-8, no control characters, length-capped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvidence {
    /// Protocol name, e.g. `ssh`, `http`, `https`, `smtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Product, e.g. `OpenSSH`, `nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Product version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The greeting or banner line, sanitised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// HTTP specifics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpEvidence>,
    /// TLS certificate presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCertificate>,
}

/// HTTP response details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpEvidence {
    /// Status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Server` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `<title>` of the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `Location` of a redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// A TLS certificate, read for identification only (never trusted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCertificate {
    /// Subject distinguished name.
    pub subject: String,
    /// Subject alternative names (DNS names and IPs).
    #[serde(default)]
    pub sans: Vec<String>,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER certificate, lowercase hex: ties a host to an asset across IP changes.
    pub sha256: String,
    /// Serial number, lowercase hex without separators or leading zeros
    /// (absent from agents before it was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Public key, e.g. `RSA 2048`, `EC 256`, `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Signature algorithm, e.g. `sha256WithRSAEncryption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Where a name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// Reverse DNS.
    Ptr,
    /// Multicast DNS.
    Mdns,
    /// NetBIOS node status.
    Netbios,
    /// A TLS certificate's subject or SAN.
    TlsCert,
    /// The host name a DHCP client sent (option 12), heard passively.
    Dhcp,
    /// A source this reader does not know.
    #[serde(other)]
    Unknown,
}

impl NameSource {
    /// The source as it is spelled on the wire (`ptr`, `mdns`, `netbios`, `tls_cert`).
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Ptr => "ptr",
            NameSource::Mdns => "mdns",
            NameSource::Netbios => "netbios",
            NameSource::TlsCert => "tls_cert",
            NameSource::Dhcp => "dhcp",
            NameSource::Unknown => "unknown",
        }
    }
}

/// A name the host is known by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameObservation {
    /// The name, lowercase, without a trailing dot.
    pub name: String,
    /// Where it came from.
    pub source: NameSource,
}

/// What a fingerprint guess is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintKind {
    /// Operating-system family (`linux`, `windows`, `network-os`, ...).
    OsFamily,
    /// Kind of device (`printer`, `phone`, `hypervisor`, ...).
    DeviceType,
    /// A kind this reader does not know.
    #[serde(other)]
    Unknown,
}

/// A guess about what a host is, with its confidence and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FingerprintGuess {
    /// What the guess is about.
    pub kind: FingerprintKind,
    /// The guess, e.g. `linux`.
    pub value: String,
    /// 0.0 (no idea) to 1.0 (certain). Conflicting evidence lowers it.
    pub confidence: f64,
    /// Human-readable evidence, one fact per entry (e.g. `reply TTL 64 (initial 64, 0 hops)`).
    pub evidence: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_source_text_is_its_wire_spelling() {
        for s in [NameSource::Ptr, NameSource::Mdns, NameSource::Netbios, NameSource::TlsCert, NameSource::Dhcp] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!(serde_json::from_str::<NameSource>("\"llmnr\"").unwrap(), NameSource::Unknown);
    }
}
