//! Sweep targets: CIDRs, ranges and single addresses, minus exclusions,
//! generated lazily.
//!
//! A /16 is 65,536 addresses; the sweep never materialises them. A
//! [`TargetSet`] is a handful of inclusive `u32`/`u128` intervals, and
//! [`TargetSet::iter`] walks them in order, skipping excluded intervals, so
//! memory is bounded by the size of the configuration, not of the target.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// One inclusive address interval of a single family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// IPv4 addresses `lo..=hi`.
    V4(u32, u32),
    /// IPv6 addresses `lo..=hi`.
    V6(u128, u128),
}

impl Interval {
    /// Number of addresses in the interval.
    pub fn len(&self) -> u128 {
        match *self {
            Interval::V4(lo, hi) => u128::from(hi - lo) + 1,
            Interval::V6(lo, hi) => (hi - lo).saturating_add(1),
        }
    }

    /// Always false: an interval holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Interval::V4(lo, hi), IpAddr::V4(a)) => (lo..=hi).contains(&u32::from(a)),
            (Interval::V6(lo, hi), IpAddr::V6(a)) => (lo..=hi).contains(&u128::from(a)),
            _ => false,
        }
    }
}

/// Parse one target or exclusion: `198.18.0.0/24`, `198.18.0.10-198.18.0.50`,
/// `198.18.0.7`, or the IPv6 equivalents. A CIDR is every address in it:
/// `198.18.0.0/27` cut from a /23 segment holds two hosts at .0 and .31.
/// The network and broadcast addresses of the scanner's own connected
/// networks are left out at sweep time ([`TargetSet::exclude_link_broadcasts`]),
/// where the agent knows which they are.
pub fn parse_interval(s: &str) -> Result<Interval, String> {
    let s = s.trim();
    let short: String = s.chars().take(60).collect();
    if let Some((a, b)) = s.split_once('-') {
        let a: IpAddr = a.trim().parse().map_err(|_| format!("`{short}`: `{}` is not an IP address", a.trim()))?;
        let b: IpAddr = b.trim().parse().map_err(|_| format!("`{short}`: `{}` is not an IP address", b.trim()))?;
        return match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(Interval::V4(a.into(), b.into())),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(Interval::V6(a.into(), b.into())),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Err(format!("`{short}`: the range runs backwards"))
            }
            _ => Err(format!("`{short}`: a range cannot mix IPv4 and IPv6")),
        };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(single(ip));
    }
    let net: IpNet = s.parse().map_err(|_| {
        format!("`{short}` is not a CIDR (198.18.0.0/24), a range (198.18.0.10-198.18.0.50) or an address")
    })?;
    if net.trunc() != net {
        return Err(format!("`{short}` has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(match net {
        IpNet::V4(n) => Interval::V4(u32::from(n.network()), u32::from(n.broadcast())),
        IpNet::V6(n) => Interval::V6(n.network().into(), n.broadcast().into()),
    })
}

fn single(ip: IpAddr) -> Interval {
    match ip {
        IpAddr::V4(a) => Interval::V4(a.into(), a.into()),
        IpAddr::V6(a) => Interval::V6(a.into(), a.into()),
    }
}

fn bounds(i: &Interval) -> (u128, u128) {
    match *i {
        Interval::V4(lo, hi) => (u128::from(lo), u128::from(hi)),
        Interval::V6(lo, hi) => (lo, hi),
    }
}

/// What to sweep: target intervals minus excluded ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSet {
    targets: Vec<Interval>,
    excluded: Vec<Interval>,
}

/// The largest IPv6 interval swept address by address (a /112). A wider one
/// — a /64 holds 2^64 addresses — is discovered on-link instead
/// ([`crate::sweep::ndp`]), and only the addresses found there are probed.
pub const MAX_V6_SWEPT: u128 = 65_536;

impl TargetSet {
    /// Upper bound on the addresses swept one by one: IPv4 intervals and
    /// IPv6 intervals of at most [`MAX_V6_SWEPT`] addresses (wider IPv6
    /// ones are discovered, not swept).
    pub fn swept_size(&self) -> u128 {
        self.targets
            .iter()
            .filter(|t| !matches!(t, Interval::V6(..)) || t.len() <= MAX_V6_SWEPT)
            .map(Interval::len)
            .fold(0u128, u128::saturating_add)
    }

    /// The set probed one address at a time: these targets without the IPv6
    /// intervals wider than [`MAX_V6_SWEPT`], plus `found` (addresses
    /// discovered on-link) that the targets hold.
    pub fn swept_and_found(&self, found: impl IntoIterator<Item = Ipv6Addr>) -> TargetSet {
        let mut targets: Vec<Interval> = self
            .targets
            .iter()
            .copied()
            .filter(|t| !matches!(t, Interval::V6(..)) || t.len() <= MAX_V6_SWEPT)
            .collect();
        for ip in found {
            if self.contains(IpAddr::V6(ip)) && !targets.iter().any(|t| t.contains(IpAddr::V6(ip))) {
                targets.push(Interval::V6(u128::from(ip), u128::from(ip)));
            }
        }
        TargetSet { targets, excluded: self.excluded.clone() }
    }

    /// A target set from parsed intervals.
    pub fn new(targets: Vec<Interval>, excluded: Vec<Interval>) -> Self {
        TargetSet { targets, excluded }
    }

    /// Parse targets and exclusions, naming the entry at fault.
    pub fn parse<S: AsRef<str>>(targets: &[S], excluded: &[S]) -> Result<Self, String> {
        let t = targets.iter().map(|s| parse_interval(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let e = excluded.iter().map(|s| parse_interval(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        if t.is_empty() {
            return Err("no targets".into());
        }
        Ok(TargetSet::new(t, e))
    }

    /// Upper bound on the number of addresses swept (exclusions not subtracted).
    pub fn size_upper_bound(&self) -> u128 {
        self.targets.iter().map(Interval::len).fold(0u128, u128::saturating_add)
    }

    /// Exact number of addresses swept after exclusions (saturating), computed
    /// from the intervals without walking them: an allowed IPv6 /48 counts as
    /// fast as a /24. An address named by two targets counts twice, as
    /// [`TargetSet::iter`] yields it twice.
    pub fn count(&self) -> u64 {
        let mut total: u128 = 0;
        for t in &self.targets {
            let (lo, hi) = bounds(t);
            // Exclusions of the same family, clipped to this target, merged.
            let mut cut: Vec<(u128, u128)> = self
                .excluded
                .iter()
                .filter(|e| std::mem::discriminant(*e) == std::mem::discriminant(t))
                .map(bounds)
                .filter(|(a, b)| *a <= hi && *b >= lo)
                .map(|(a, b)| (a.max(lo), b.min(hi)))
                .collect();
            cut.sort_unstable();
            let mut excluded: u128 = 0;
            let mut reach: Option<u128> = None; // highest excluded address counted so far
            for (a, b) in cut {
                let start = match reach {
                    Some(r) if r >= b => continue,
                    Some(r) if r >= a => r + 1,
                    _ => a,
                };
                excluded += b - start + 1;
                reach = Some(b);
            }
            total = total.saturating_add(t.len() - excluded);
        }
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// Leave out the network and broadcast addresses of the scanner's
    /// connected IPv4 networks (`(address, prefix length)` of each
    /// interface): no host holds them, and only broadcast replies come from
    /// there. Other addresses of a target CIDR are swept, whatever its
    /// bounds: which addresses are a subnet's network and broadcast depends
    /// on the link, not on how the target was written (a /27 cut from a /23
    /// has hosts at both ends; nmap sweeps them too).
    pub fn exclude_link_broadcasts(&mut self, links: impl IntoIterator<Item = (Ipv4Addr, u8)>) {
        for (ip, prefix) in links {
            if prefix >= 31 {
                continue; // point-to-point (RFC 3021) and host routes: every address is a host
            }
            let Ok(net) = ipnet::Ipv4Net::new(ip, prefix) else { continue };
            for edge in [net.network(), net.broadcast()] {
                if self.contains(IpAddr::V4(edge)) {
                    self.excluded.push(single(IpAddr::V4(edge)));
                }
            }
        }
    }

    /// Leave out this host's own addresses (`own`): a sweep that probed
    /// them would report the scanner as a host of the segment.
    pub fn exclude_own(&mut self, own: impl IntoIterator<Item = IpAddr>) {
        for ip in own {
            if self.contains(ip) {
                self.excluded.push(single(ip));
            }
        }
    }

    /// Whether `ip` is excluded.
    pub fn is_excluded(&self, ip: IpAddr) -> bool {
        self.excluded.iter().any(|e| e.contains(ip))
    }

    /// Whether `ip` is one of the addresses swept.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.targets.iter().any(|t| t.contains(ip)) && !self.is_excluded(ip)
    }

    /// The target intervals.
    pub fn targets(&self) -> &[Interval] {
        &self.targets
    }

    /// Every address to sweep, lazily, in target order, without exclusions.
    /// An address named by two targets is yielded once per target.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + Send + '_ {
        self.targets
            .iter()
            .flat_map(|t| -> Box<dyn Iterator<Item = IpAddr> + Send> {
                match *t {
                    Interval::V4(lo, hi) => Box::new((lo..=hi).map(|a| IpAddr::V4(Ipv4Addr::from(a)))),
                    Interval::V6(lo, hi) => Box::new((lo..=hi).map(|a| IpAddr::V6(Ipv6Addr::from(a)))),
                }
            })
            .filter(move |ip| !self.is_excluded(*ip))
    }
}

/// The IPv4 test-lab range, 198.18.0.0/15 (RFC 2544 benchmarking): Census's
/// labs live there, inside network namespaces.
const LAB_V4: (u32, u32) = (0xC612_0000, 0xC613_FFFF);

/// The IPv6 test-lab range, 2001:2::/48 (RFC 5180 benchmarking).
const LAB_V6: (u128, u128) = (0x2001_0002_0000_u128 << 80, (0x2001_0002_0000_u128 << 80) | ((1u128 << 80) - 1));

/// A warning when IPv4 targets in the lab range 198.18.0.0/15 are not on a
/// directly connected network (`on_link` says which are): from here they
/// would be routed to the default gateway and the probes would leave the
/// machine, which is never what a lab scan means.
pub fn lab_leak_warning(targets: &TargetSet, on_link: impl Fn(IpAddr) -> bool) -> Option<String> {
    let routed = targets.targets().iter().find_map(|t| {
        let first = match *t {
            Interval::V4(lo, hi) if lo <= LAB_V4.1 && hi >= LAB_V4.0 => IpAddr::V4(Ipv4Addr::from(lo.max(LAB_V4.0))),
            Interval::V6(lo, hi) if lo <= LAB_V6.1 && hi >= LAB_V6.0 => IpAddr::V6(Ipv6Addr::from(lo.max(LAB_V6.0))),
            _ => return None,
        };
        (!on_link(first)).then(|| first.to_string())
    })?;
    Some(format!(
        "{routed} is in a test-lab range but not on a directly connected network: from here the probes \
         would go to the default gateway and leave this machine. Scan a lab from inside its scanner \
         namespace: ip netns exec NAMESPACE census-agent scan ... (`censusd demo` prints the exact command)"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lab_targets_off_link_are_warned_about_and_on_link_ones_are_not() {
        let t = TargetSet::parse(&["198.18.0.0/24"], &[] as &[&str]).unwrap();
        let w = lab_leak_warning(&t, |_| false).unwrap();
        assert!(w.contains("198.18.0.0") && w.contains("ip netns exec"), "{w}");
        assert_eq!(lab_leak_warning(&t, |ip| matches!(ip, IpAddr::V4(v) if v.octets()[..3] == [198, 18, 0])), None);
        // Regression: IPv6 lab targets reached through a gateway were not warned about.
        let v6 = TargetSet::parse(&["2001:2::/120"], &[] as &[&str]).unwrap();
        assert!(lab_leak_warning(&v6, |_| false).unwrap().contains("2001:2::"));
        assert_eq!(lab_leak_warning(&v6, |ip| ip.is_ipv6()), None);
        let outside = TargetSet::parse(&["2001:3::/120"], &[] as &[&str]).unwrap();
        assert_eq!(lab_leak_warning(&outside, |_| false), None, "2001:3:: is not the lab's");
        let elsewhere = TargetSet::parse(&["127.0.0.1"], &[] as &[&str]).unwrap();
        assert_eq!(lab_leak_warning(&elsewhere, |_| false), None, "only lab ranges");
    }

    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Regression: `scan 2001:2::/120 --icmp` reported the scanner's own
    /// IPv6 address as a host of the segment.
    #[test]
    fn the_scanners_own_addresses_are_never_swept() {
        let mut t = TargetSet::parse(&["198.18.0.0/29", "2001:2::/120"], &[] as &[&str]).unwrap();
        let before = t.count();
        t.exclude_own([v4("198.18.0.1"), v4("2001:2::1"), v4("127.0.0.1"), v4("fe80::1")]);
        assert!(!t.contains(v4("198.18.0.1")) && !t.contains(v4("2001:2::1")));
        assert!(t.contains(v4("198.18.0.2")) && t.contains(v4("2001:2::2")));
        assert_eq!(t.count(), before - 2, "addresses outside the targets change nothing");
    }

    /// Regression: a /27 swept inside a /23 segment left out .0 and .31,
    /// which are hosts there (the sweep bench found 18 of nmap's 19 ports).
    #[test]
    fn only_the_links_own_network_and_broadcast_are_left_out() {
        let mut t = TargetSet::parse(&["198.18.0.0/27", "198.18.1.224/27"], &[] as &[&str]).unwrap();
        assert_eq!(t.count(), 64, "a CIDR is every address in it");
        t.exclude_link_broadcasts([(Ipv4Addr::new(198, 18, 0, 1), 23)]);
        let got: Vec<IpAddr> = t.iter().collect();
        assert_eq!(got.len(), 62);
        assert!(!t.contains(v4("198.18.0.0")), "the /23's network address");
        assert!(!t.contains(v4("198.18.1.255")), "the /23's broadcast address");
        assert!(t.contains(v4("198.18.0.31")) && t.contains(v4("198.18.1.224")), "hosts inside the /23");
        assert_eq!(t.count(), 62);
        // A /31 link has no network or broadcast address; a routed target keeps both ends.
        let mut p2p = TargetSet::parse(&["198.18.4.0/31", "198.18.8.0/30"], &[] as &[&str]).unwrap();
        p2p.exclude_link_broadcasts([(Ipv4Addr::new(198, 18, 4, 0), 31)]);
        assert_eq!(p2p.count(), 6);
    }

    #[test]
    fn ranges_singles_and_exclusions() {
        let t =
            TargetSet::parse(&["198.18.0.10-198.18.0.14", "198.18.1.1"], &["198.18.0.12", "198.18.0.13/32"]).unwrap();
        let got: Vec<String> = t.iter().map(|i| i.to_string()).collect();
        assert_eq!(got, ["198.18.0.10", "198.18.0.11", "198.18.0.14", "198.18.1.1"]);
        assert!(t.is_excluded(v4("198.18.0.12")));
        assert!(!t.contains(v4("198.18.0.12")));
        assert!(t.contains(v4("198.18.1.1")));
    }

    #[test]
    fn a_slash_16_is_generated_lazily() {
        let t = TargetSet::parse(&["198.18.0.0/16"], &["198.18.0.0/24"]).unwrap();
        assert_eq!(t.size_upper_bound(), 65_536);
        assert_eq!(t.count(), 65_536 - 256);
        let huge = TargetSet::parse(&["2001:2::/48"], &[] as &[&str]).unwrap();
        assert_eq!(huge.size_upper_bound(), 1u128 << 80);
        assert_eq!(huge.iter().take(3).count(), 3);
    }

    #[test]
    fn count_is_arithmetic_and_matches_the_walk() {
        let cases: [(&[&str], &[&str]); 4] = [
            (
                &["198.18.0.0/24"],
                &["198.18.0.10-198.18.0.20", "198.18.0.15-198.18.0.30", "198.18.0.25", "198.18.1.0/24"],
            ),
            (&["198.18.0.0/28", "198.18.0.8/29"], &["198.18.0.9"]),
            (&["198.18.0.0/24", "2001:2::/120"], &["2001:2::10/124", "198.18.0.0/16"]),
            (&["198.18.0.0/22"], &["198.18.0.0/22"]),
        ];
        for (t, e) in cases {
            let set = TargetSet::parse(t, e).unwrap();
            assert_eq!(set.count(), set.iter().count() as u64, "{t:?} minus {e:?}");
        }
        // An allowed IPv6 /48 counts instantly (and saturates).
        let huge = TargetSet::parse(&["2001:2::/48"], &["2001:2::/64"]).unwrap();
        assert_eq!(huge.count(), u64::MAX);
        let big = TargetSet::parse(&["2001:2::/80"], &["2001:2::/96"]).unwrap();
        assert_eq!(big.count(), (1u64 << 48) - (1u64 << 32));
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let err = |s: &str| parse_interval(s).unwrap_err();
        assert!(err("198.18.0.0/33").contains("is not a CIDR"));
        assert!(err("198.18.0.1/24").contains("did you mean 198.18.0.0/24"));
        assert!(err("198.18.0.9-198.18.0.1").contains("backwards"));
        assert!(err("198.18.0.1-2001:2::1").contains("mix"));
        assert!(err("banana").contains("`banana` is not a CIDR"));
    }
}
