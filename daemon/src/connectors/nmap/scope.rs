//! Whether an nmap report is a complete sweep of a segment: what its
//! command line (`nmaprun@args`) says was scanned, checked against what
//! `runstats` says was scanned.
//!
//! Completeness decides what the daemon may conclude from absence (a
//! registered asset becomes *missing* only over complete sweeps), so every
//! doubt makes a report partial, with the reason:
//! - nmap did not finish (`exit` other than `success`);
//! - a list scan (`-sL`) probes nothing;
//! - targets Census cannot read: from a file (`-iL`, `--excludefile`),
//!   random (`-iR`), a resumed scan (`--resume`), ranges (`198.18.0.1-20`),
//!   names; nmap accepts long options with one dash and with `=`
//!   (`-exclude`, `--exclude=…`), and so does this reader;
//! - the targets (merged: two /25s make a /24) do not contain the segment;
//! - `runstats/hosts@total` is smaller than the segment's addresses less
//!   the excluded ones (the command line and the run disagree).

use ipnet::IpNet;

/// Options (without their dashes) whose value is the next word unless
/// given with `=`, so that value is not taken for a target; from `nmap --help`.
const WITH_VALUE: &[&str] = &[
    "p",
    "oX",
    "oN",
    "oG",
    "oA",
    "oS",
    "e",
    "S",
    "D",
    "g",
    "T",
    "source-port",
    "top-ports",
    "max-retries",
    "host-timeout",
    "scan-delay",
    "max-scan-delay",
    "min-rate",
    "max-rate",
    "min-hostgroup",
    "max-hostgroup",
    "min-parallelism",
    "max-parallelism",
    "min-rtt-timeout",
    "max-rtt-timeout",
    "initial-rtt-timeout",
    "ttl",
    "data-length",
    "data",
    "data-string",
    "spoof-mac",
    "script",
    "script-args",
    "script-args-file",
    "datadir",
    "servicedb",
    "versiondb",
    "stylesheet",
    "dns-servers",
    "mtu",
    "proxies",
    "version-intensity",
    "port-ratio",
    "exclude-ports",
    "script-timeout",
    "scanflags",
    "ip-options",
    "sI",
];

/// What the command line says was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Targets (addresses and CIDRs).
    pub include: Vec<IpNet>,
    /// `--exclude` addresses and CIDRs.
    pub exclude: Vec<IpNet>,
    /// A list scan (`-sL`): nothing was probed.
    pub list_scan: bool,
}

fn net(t: &str) -> Option<IpNet> {
    crate::net::parse_net(t, true)
}

/// Read `args` (the whole command line, `nmap` first).
///
/// # Errors
/// Why the targets cannot be known.
pub fn read(args: &str) -> Result<Scope, String> {
    let words: Vec<&str> = args.split_whitespace().skip(1).collect();
    let mut scope = Scope::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        i += 1;
        if w == "--" {
            continue;
        }
        let Some(opt) = w.strip_prefix("--").or_else(|| w.strip_prefix('-')) else {
            scope.include.push(net(w).ok_or_else(|| {
                format!(
                    "target `{}` is not an address or CIDR Census reads (ranges and names are not)",
                    w.escape_debug()
                )
            })?);
            continue;
        };
        let (name, inline) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (opt, None),
        };
        if name.starts_with("iL") || name.starts_with("iR") || name == "excludefile" || name == "resume" {
            return Err(format!("targets from `{}`: which addresses were scanned cannot be checked", w.escape_debug()));
        }
        if name == "sL" {
            scope.list_scan = true;
            continue;
        }
        if name == "exclude" {
            let list = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    words.get(i - 1).copied().unwrap_or_default()
                }
            };
            for t in list.split(',').filter(|t| !t.is_empty()) {
                scope.exclude.push(net(t).ok_or_else(|| {
                    format!("excluded `{}` is not an address or CIDR Census reads", t.escape_debug())
                })?);
            }
            continue;
        }
        if inline.is_none() && WITH_VALUE.contains(&name) {
            i += 1;
        }
    }
    Ok(scope)
}

/// Addresses in `n`.
fn size(n: &IpNet) -> u128 {
    let bits = u32::from(n.max_prefix_len() - n.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

/// Why a report with `exit`, `args` and `scanned` (runstats total) is not a
/// complete sweep of `segment`, or `None` when it is; and the exclusions
/// inside the segment (for the batch's scope).
pub fn judge(exit: &str, args: Option<&str>, scanned: u64, segment: &IpNet) -> (Option<String>, Vec<IpNet>) {
    if exit != "success" {
        return (Some(format!("nmap ended with exit=\"{}\"", exit.escape_debug())), vec![]);
    }
    let scope = match read(args.unwrap_or_default()) {
        Ok(s) => s,
        Err(why) => return (Some(why), vec![]),
    };
    let excluded: Vec<IpNet> =
        IpNet::aggregate(&scope.exclude.iter().filter(|n| segment.contains(&n.network())).copied().collect());
    if scope.list_scan {
        return (Some("a list scan (-sL) probes nothing".into()), excluded);
    }
    if !IpNet::aggregate(&scope.include).iter().any(|n| n.contains(segment)) {
        return (Some(format!("the scan's targets do not include all of {segment}")), excluded);
    }
    let to_scan = size(segment).saturating_sub(excluded.iter().map(size).sum());
    if u128::from(scanned) < to_scan {
        let why = format!("nmap scanned {scanned} addresses but {segment} has {to_scan} to scan (less exclusions)");
        return (Some(why), excluded);
    }
    (None, excluded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(args: &str, scanned: u64) -> Option<String> {
        judge("success", Some(args), scanned, &"198.18.0.0/24".parse().unwrap()).0
    }

    #[test]
    fn a_full_scan_of_the_segment_is_complete_and_its_exclusions_are_kept() {
        assert_eq!(partial("nmap -sn 198.18.0.0/24", 256), None);
        assert_eq!(partial("nmap -sS -p 22,80 -T 4 198.18.0.0/24", 256), None);
        assert_eq!(partial("nmap -sn -PS22,80 198.18.0.0/16", 65_536), None);
        assert_eq!(partial("nmap -sn 198.18.0.0/25 198.18.0.128/25", 256), None, "two halves make the whole");
        let (why, ex) = judge(
            "success",
            Some("nmap --exclude=198.18.0.1,198.18.0.2 -oX - 198.18.0.0/24"),
            254,
            &"198.18.0.0/24".parse().unwrap(),
        );
        assert_eq!((why, ex), (None, vec!["198.18.0.1/32".parse().unwrap(), "198.18.0.2/32".parse().unwrap()]));
        // Half excluded, with nmap's one-dash spelling: complete for the other
        // half, the excluded half named so nothing in it becomes missing.
        let (why, ex) = judge(
            "success",
            Some("nmap -exclude 198.18.0.128/25 198.18.0.0/24"),
            128,
            &"198.18.0.0/24".parse().unwrap(),
        );
        assert_eq!((why, ex), (None, vec!["198.18.0.128/25".parse().unwrap()]));
        // Regression (review of 2026-12-08): mapped addresses on the command
        // line are the IPv4 hosts and networks they map.
        let (why, ex) = judge(
            "success",
            Some("nmap --exclude ::ffff:198.18.0.1,::ffff:198.18.0.128/121 ::ffff:198.18.0.0/120"),
            127,
            &"198.18.0.0/24".parse().unwrap(),
        );
        assert_eq!((why, ex), (None, vec!["198.18.0.1/32".parse().unwrap(), "198.18.0.128/25".parse().unwrap()]));
    }

    #[test]
    fn every_doubt_makes_it_partial_with_the_reason() {
        for (args, scanned, says) in [
            ("nmap -sL -n 198.18.0.0/24", 256, "list scan"),
            ("nmap --exclude=198.18.0.128/25 198.18.0.0/24", 100, "has 128"),
            ("nmap --excludefile=ex.txt 198.18.0.0/24", 200, "excludefile"),
            ("nmap --excludefile ex.txt 198.18.0.0/24", 200, "excludefile"),
            ("nmap -iL=t.txt 198.18.0.0/24", 256, "iL"),
            ("nmap -iL t.txt", 256, "iL"),
            ("nmap -iR 10 198.18.0.0/24", 256, "iR"),
            ("nmap --resume old.xml", 256, "resume"),
            ("nmap -sn 198.18.0.10-20", 11, "ranges"),
            ("nmap -sn lab.example.org", 1, "names"),
            ("nmap -sn 198.18.0.0/25", 128, "do not include all"),
            ("nmap -sn 198.18.0.0/24", 4, "scanned 4"),
        ] {
            let why = partial(args, scanned).unwrap_or_else(|| panic!("{args} counted as complete"));
            assert!(why.contains(says), "{args}: {why}");
        }
        let (why, _) = judge("error", Some("nmap -sn 198.18.0.0/24"), 256, &"198.18.0.0/24".parse().unwrap());
        assert!(why.unwrap().contains("exit"));
    }
}
