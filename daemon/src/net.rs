//! Networks as Census keeps them. An IPv4 address mapped into IPv6
//! (`::ffff:198.18.0.5`, RFC 4291 §2.5.5.2) is the IPv4 host it maps
//! wherever an address comes in (agents' batches, the register, nmap
//! reports, search); a network inside `::ffff:0:0/96` is likewise the IPv4
//! network it maps (`::ffff:198.18.0.0/120` is `198.18.0.0/24`), so a
//! segment, an expected segment, a suppression or an nmap exclusion given
//! either way covers the same hosts the stored IPv4 addresses are.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// `n` with its host bits cleared, and a network inside `::ffff:0:0/96`
/// as the IPv4 network it maps. A wider IPv6 network stays as it is.
pub fn canonical_net(n: IpNet) -> IpNet {
    let n = n.trunc();
    match n {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(n, IpNet::V4),
            None => n,
        },
        _ => n,
    }
}

/// A CIDR (`198.18.0.0/24`), as [`canonical_net`] keeps it; with
/// `bare_address`, an address alone is its own /32 or /128 too.
pub fn parse_net(text: &str, bare_address: bool) -> Option<IpNet> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(n) => Some(canonical_net(n)),
        Err(_) if bare_address => text.parse::<IpAddr>().ok().map(|ip| IpNet::from(ip.to_canonical())),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (review of 2026-12-08): `--exclude ::ffff:198.18.9.1` on
    /// an nmap command line was not read as the IPv4 host it is.
    #[test]
    fn a_mapped_network_is_the_ipv4_network_it_maps() {
        let n = |t: &str| parse_net(t, true).map(|n| n.to_string());
        assert_eq!(n("::ffff:198.18.0.0/120").as_deref(), Some("198.18.0.0/24"));
        assert_eq!(n("::ffff:198.18.0.77/120").as_deref(), Some("198.18.0.0/24"), "host bits cleared");
        assert_eq!(n("::ffff:198.18.9.1").as_deref(), Some("198.18.9.1/32"));
        assert_eq!(n("::ffff:198.18.9.1/128").as_deref(), Some("198.18.9.1/32"));
        assert_eq!(n("::ffff:0:0/96").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(n("::ffff:0:0/95").as_deref(), Some("::fffe:0:0/95"), "wider than the mapped space: IPv6");
        assert_eq!(n("2001:2::/48").as_deref(), Some("2001:2::/48"));
        assert_eq!(n(" 198.18.0.9/24 ").as_deref(), Some("198.18.0.0/24"));
        assert_eq!(parse_net("198.18.0.9", false), None, "an address alone only where one is taken");
        assert_eq!(n("198.18.0.0/33"), None);
        assert_eq!(n("nope"), None);
    }
}
