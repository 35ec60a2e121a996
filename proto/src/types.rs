//! Newtypes for values that would otherwise be bare integers or strings and
//! get mixed up: ports, TTLs, MAC addresses and agent identities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A TCP or UDP port number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An IP time-to-live (IPv4) or hop limit (IPv6) as seen in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ttl(pub u8);

impl Ttl {
    /// The initial TTL the sender most likely used (the next of 32, 64, 128
    /// or 255 at or above the observed value) and the implied hop distance.
    pub fn initial_guess(self) -> (Ttl, u8) {
        let initial: u8 = match self.0 {
            0..=32 => 32,
            33..=64 => 64,
            65..=128 => 128,
            _ => 255,
        };
        (Ttl(initial), initial - self.0)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The identity of an agent, as configured on the agent and registered on the daemon.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 48-bit IEEE 802 MAC address, written `aa:bb:cc:dd:ee:ff` on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True when the locally administered bit is set: the address was chosen
    /// by software (randomised Wi-Fi MACs, VMs, containers), not assigned by a
    /// vendor, so it says nothing about the vendor and is weak identity.
    pub fn is_locally_administered(self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// True for group (multicast or broadcast) addresses, which no host owns.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// The first three octets: the MA-L block (OUI) the address belongs to.
    pub fn oui(self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// The modified EUI-64 interface identifier an IPv6 address derived from
    /// this MAC carries in its low 64 bits (RFC 4291 appendix A: `ff:fe` in
    /// the middle, the universal/local bit flipped).
    pub fn eui64_interface_id(self) -> [u8; 8] {
        let m = self.0;
        [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a MAC address (expected six hex octets like aa:bb:cc:dd:ee:ff)")]
pub struct MacParseError {
    /// The rejected input, truncated to 64 characters.
    pub input: String,
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabb.ccdd.eeff`,
    /// in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError { input: s.chars().take(64).collect() };
        let groups: Vec<&str> = if s.contains(':') {
            s.split(':').collect()
        } else if s.contains('-') {
            s.split('-').collect()
        } else if s.contains('.') {
            s.split('.').collect()
        } else {
            vec![s]
        };
        let group_len = match groups.len() {
            6 => 2,
            3 => 4,
            1 => 12,
            _ => return Err(err()),
        };
        if groups.iter().any(|g| g.len() != group_len || !g.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(err());
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| err())?;
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_common_spellings() {
        let want = MacAddr([0x00, 0x1b, 0x21, 0xaa, 0x0b, 0xff]);
        for s in ["00:1b:21:aa:0b:ff", "00-1B-21-AA-0B-FF", "001b.21aa.0bff", "001b21aa0bff"] {
            assert_eq!(s.parse::<MacAddr>().unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "00:1b:21:aa:0b:ff");
    }

    #[test]
    fn mac_rejects_garbage() {
        for s in
            ["", "00:1b:21:aa:0b", "00:1b:21:aa:0b:ff:00", "zz:1b:21:aa:0b:ff", "0:01b:21:aa:0b:ff", "é0:1b:21:aa:0b:f"]
        {
            assert!(s.parse::<MacAddr>().is_err(), "{s}");
        }
    }

    #[test]
    fn locally_administered_bit() {
        assert!("da:a1:19:00:00:01".parse::<MacAddr>().unwrap().is_locally_administered());
        assert!(!"00:50:56:00:00:01".parse::<MacAddr>().unwrap().is_locally_administered());
    }

    #[test]
    fn initial_ttl_guess() {
        assert_eq!(Ttl(64).initial_guess(), (Ttl(64), 0));
        assert_eq!(Ttl(61).initial_guess(), (Ttl(64), 3));
        assert_eq!(Ttl(127).initial_guess(), (Ttl(128), 1));
        assert_eq!(Ttl(250).initial_guess(), (Ttl(255), 5));
    }
}
