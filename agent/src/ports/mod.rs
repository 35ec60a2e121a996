//! Port sets: by name (`top100`, `top1000`), explicit lists and ranges, or a mix.
//!
//! A [`PortSet`] keeps the order ports should be probed in — named sets first,
//! most-often-open first — without duplicates.

mod top;

use census_proto::Port;

pub use top::TOP_1000;

/// An ordered, duplicate-free set of TCP ports to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet {
    ports: Vec<Port>,
}

/// Largest number of ports one spec may name (all of them).
pub const MAX_PORTS: usize = 65_535;

impl PortSet {
    /// Parse a spec such as `top100`, `top1000`, `22,80,443`, `1-1024` or
    /// `top100,8000-8100`. Port 0 is refused.
    pub fn parse(spec: &str) -> Result<PortSet, String> {
        let mut seen = vec![false; 65_536];
        let mut ports = Vec::new();
        let mut push = |p: u16, ports: &mut Vec<Port>| {
            if !seen[p as usize] {
                seen[p as usize] = true;
                ports.push(Port(p));
            }
        };
        if spec.trim().is_empty() {
            return Err("empty port spec; write e.g. \"top100\", \"22,80,443\" or \"1-1024\"".into());
        }
        for item in spec.split(',').map(str::trim) {
            match item {
                "top100" => TOP_1000[..100].iter().for_each(|&p| push(p, &mut ports)),
                "top1000" => TOP_1000.iter().for_each(|&p| push(p, &mut ports)),
                "all" => (1..=65_535).for_each(|p| push(p, &mut ports)),
                _ => {
                    let (lo, hi) = match item.split_once('-') {
                        Some((a, b)) => (parse_port(a)?, parse_port(b)?),
                        None => (parse_port(item)?, parse_port(item)?),
                    };
                    if lo > hi {
                        return Err(format!("port range `{item}` runs backwards"));
                    }
                    (lo..=hi).for_each(|p| push(p, &mut ports));
                }
            }
        }
        Ok(PortSet { ports })
    }

    /// The ports, in probe order.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// True when no port is named (never, for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("port 0 cannot be probed".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!(
            "`{}` is not a port (1-65535) or a named set (top100, top1000, all)",
            s.chars().take(40).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sets_are_frequency_ordered() {
        let top = PortSet::parse("top100").unwrap();
        assert_eq!(top.len(), 100);
        assert_eq!(&top.ports()[..5], &[Port(80), Port(23), Port(443), Port(21), Port(22)]);
        assert_eq!(PortSet::parse("top1000").unwrap().len(), 1000);
        let mut all = TOP_1000.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1000, "no duplicates in the list");
    }

    #[test]
    fn lists_ranges_and_mixes_without_duplicates() {
        let set = PortSet::parse("22, 80,443,80,8000-8002,top100").unwrap();
        assert_eq!(&set.ports()[..6], &[Port(22), Port(80), Port(443), Port(8000), Port(8001), Port(8002)]);
        assert_eq!(set.len(), 6 + 100 - 3 - 1, "22, 80, 443 and 8000 are in top100 already");
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!(PortSet::parse("").unwrap_err().contains("empty"));
        assert!(PortSet::parse("0").unwrap_err().contains("port 0"));
        assert!(PortSet::parse("70000").unwrap_err().contains("`70000` is not a port"));
        assert!(PortSet::parse("100-10").unwrap_err().contains("backwards"));
        assert!(PortSet::parse("top10").unwrap_err().contains("named set"));
    }
}
