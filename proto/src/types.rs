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
    /// in either case. Precisely: the separator is the first of `:`, `-`
    /// and `.` that the text holds (none: one group), and the text is six
    /// groups of two hex digits, three of four, or one of twelve.
    ///
    /// Reads the text in place without allocating: every MAC the daemon
    /// stores or receives is parsed this way (a full reconcile of a
    /// million assets parses each recorded MAC twice).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_mac(s.as_bytes()).ok_or_else(|| MacParseError { input: s.chars().take(64).collect() })
    }
}

/// [`MacAddr::from_str`]'s reading (`None`: not a MAC).
fn parse_mac(b: &[u8]) -> Option<MacAddr> {
    let sep = [b':', b'-', b'.'].into_iter().find(|c| b.contains(c));
    let groups = sep.map_or(1, |c| b.iter().filter(|&&x| x == c).count() + 1);
    let group_len = match groups {
        6 => 2,
        3 => 4,
        1 => 12,
        _ => return None,
    };
    if b.len() != groups * group_len + groups - 1 {
        return None;
    }
    let mut out = [0u8; 6];
    let mut digits = 0;
    for (i, &c) in b.iter().enumerate() {
        // Where a separator belongs: with the count and the length right,
        // a separator anywhere else leaves a digit missing here.
        if (i + 1) % (group_len + 1) == 0 {
            if Some(c) != sep {
                return None;
            }
            continue;
        }
        let nibble = char::from(c).to_digit(16)? as u8;
        out[digits / 2] |= nibble << if digits % 2 == 0 { 4 } else { 0 };
        digits += 1;
    }
    Some(MacAddr(out))
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_parsed(d, "a MAC address")
    }
}

/// Deserialize a `T` from a string by its `FromStr`, reading the text where
/// it lies (no copied `String`, unless the text holds an escape); `what`
/// names the expected value in a type error ("a MAC address"), a parse
/// error is `T::Err`'s message.
///
/// # Errors
/// Not a string, or `T::from_str` refused it.
pub fn deserialize_parsed<'de, D, T>(d: D, what: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct Text<T>(&'static str, std::marker::PhantomData<T>);
    impl<T: FromStr> serde::de::Visitor<'_> for Text<T>
    where
        T::Err: fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
            s.parse().map_err(E::custom)
        }
    }
    d.deserialize_str(Text(what, std::marker::PhantomData))
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

    /// The parser before it read in place (groups split into a vector and
    /// joined into a string): the reference the one in place must agree with.
    fn reference(s: &str) -> Option<[u8; 6]> {
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
            _ => return None,
        };
        if groups.iter().any(|g| g.len() != group_len || !g.bytes().all(|b| b.is_ascii_hexdigit())) {
            return None;
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(out)
    }

    #[test]
    fn mac_parsing_in_place_agrees_with_the_splitting_parser() {
        let mut inputs: Vec<String> = [
            "00:1b:21:aa:0b:ff",
            "00-1B-21-AA-0B-FF",
            "001b.21aa.0bff",
            "001b21aa0bff",
            "001b:21aa:0bff",
            "001b-21aa-0bff",
            "00.1b.21.aa.0b.ff",
            "00:1b-21:aa:0b:ff",
            "00:1b:21:aa:0b:ff:",
            ":00:1b:21:aa:0b:f",
            "00::1b:21:aa:0bff",
            "001b.21aa:0bff",
            "+0:1b:21:aa:0b:ff",
            "0x:1b:21:aa:0b:ff",
            " 00:1b:21:aa:0b:ff",
            "001b21aa0bf",
            "001b21aa0bff0",
            "00\u{e9}1b21aa0bf",
            "\u{e9}\u{e9}:1b:21:aa:0b:ff",
            ".....",
            "::::::",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every spelling of a few addresses with one character changed to
        // each kind that matters (a separator, a digit, a non-digit, a
        // two-byte character), or left out.
        for base in ["a0:b1:c2:d3:e4:f5", "A0B1.C2D3.E4F5", "a0b1c2d3e4f5", "a0-b1-c2-d3-e4-f5"] {
            for at in 0..base.len() {
                for c in [':', '-', '.', '0', 'f', 'F', 'g', ' ', '\u{e9}'] {
                    let mut t: Vec<char> = base.chars().collect();
                    t[at] = c;
                    inputs.push(t.into_iter().collect());
                }
                inputs.push(format!("{}{}", &base[..at], &base[at + 1..]));
            }
        }
        for s in &inputs {
            assert_eq!(s.parse::<MacAddr>().ok().map(|m| m.0), reference(s), "{s:?}");
        }
        assert!(inputs.len() > 400, "{}", inputs.len());
    }

    #[test]
    fn a_mac_deserializes_from_json_text_and_says_what_it_rejected() {
        let m: MacAddr = serde_json::from_str("\"00:1B:21:aa:0b:ff\"").unwrap();
        assert_eq!(m, MacAddr([0x00, 0x1b, 0x21, 0xaa, 0x0b, 0xff]));
        // A string with an escape in it (decoded into a buffer first) is read too.
        let m: MacAddr = serde_json::from_str("\"00\\u003a1b:21:aa:0b:ff\"").unwrap();
        assert_eq!(m.0[1], 0x1b);
        let e = serde_json::from_str::<MacAddr>("\"00:1b:21:aa:0b\"").unwrap_err().to_string();
        assert!(e.contains("`00:1b:21:aa:0b` is not a MAC address"), "{e}");
        assert!(serde_json::from_str::<MacAddr>("7").is_err());
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
