//! Names for discovered addresses, from three sources that answer for
//! different hosts:
//!
//! - reverse DNS ([`ptr`]): the organisation's own record of the address;
//! - unicast mDNS ([`mdns`]): what the host calls itself on the link —
//!   printers, Macs, Linux with avahi, most IoT, usually absent from DNS;
//! - NetBIOS node status ([`netbios`]): Windows and Samba hosts.
//!
//! A responder asking "what is this host" wants every one of them, each
//! labelled with where it came from: a PTR record and an mDNS name that
//! disagree are themselves a finding. All three run at once, after the sweep
//! and beside service identification, each bounded in time, so a silent DNS
//! server or a segment with no mDNS never holds the sweep up. Only hosts the
//! sweep found are asked, and only those within the configured targets.

pub mod cache;
pub mod mdns;
pub mod netbios;
pub mod ptr;
pub mod unicast;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use census_proto::{NameObservation, NameSource};
use tokio::time::Instant;

pub use ptr::ptr_names;

/// Which name sources to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameSources {
    /// Reverse DNS.
    pub ptr: bool,
    /// Unicast mDNS to UDP 5353.
    pub mdns: bool,
    /// NetBIOS node status to UDP 137.
    pub netbios: bool,
}

impl NameSources {
    /// Every source.
    pub const ALL: NameSources = NameSources { ptr: true, mdns: true, netbios: true };
    /// The names accepted by [`FromStr`], in order.
    pub const NAMES: [&'static str; 3] = ["ptr", "mdns", "netbios"];
}

impl FromStr for NameSources {
    type Err = String;

    /// Parse a comma-separated list such as `ptr,mdns`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = NameSources { ptr: false, mdns: false, netbios: false };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "ptr" | "dns" => out.ptr = true,
                "mdns" => out.mdns = true,
                "netbios" | "nbstat" => out.netbios = true,
                other => return Err(format!("`{other}` is not a name source (use {})", Self::NAMES.join(", "))),
            }
        }
        if out == (NameSources { ptr: false, mdns: false, netbios: false }) {
            return Err("no name source given".into());
        }
        Ok(out)
    }
}

/// How to look names up for one sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameLookup {
    /// Sources to ask.
    pub sources: NameSources,
    /// DNS servers for PTR lookups; empty uses the system's (resolv.conf).
    pub dns_servers: Vec<IpAddr>,
}

/// Time each PTR lookup may take.
const PTR_TIMEOUT: Duration = Duration::from_secs(1);
/// Wait after the last mDNS or NetBIOS query of a round.
const UNICAST_WAIT: Duration = Duration::from_millis(600);
/// Rounds of mDNS and NetBIOS queries.
const UNICAST_ATTEMPTS: u8 = 2;

/// Look up the names of `ips` from every enabled source, at most `rate`
/// queries per second for the unicast sources together, ending by
/// `deadline`. Per address, names come PTR first, then mDNS, then NetBIOS.
pub async fn lookup(
    ips: Vec<IpAddr>,
    how: &NameLookup,
    rate: std::num::NonZeroU32,
    deadline: Instant,
) -> BTreeMap<IpAddr, Vec<NameObservation>> {
    let unicast = u32::from(how.sources.mdns) + u32::from(how.sources.netbios);
    let pacing = unicast::Pacing {
        interval: Duration::from_secs(1) * unicast.max(1) / rate.get(),
        wait: UNICAST_WAIT,
        attempts: UNICAST_ATTEMPTS,
        deadline,
    };
    let ptr = async {
        if how.sources.ptr {
            tokio::time::timeout_at(deadline, ptr_names(ips.clone(), &how.dns_servers, PTR_TIMEOUT))
                .await
                .unwrap_or_default()
        } else {
            BTreeMap::new()
        }
    };
    let mdns =
        async { if how.sources.mdns { ask_by_family(&mdns::Mdns, &ips, pacing).await } else { BTreeMap::new() } };
    let netbios = async {
        if how.sources.netbios { ask_by_family(&netbios::Netbios, &ips, pacing).await } else { BTreeMap::new() }
    };
    let (mut out, mdns, netbios) = tokio::join!(ptr, mdns, netbios);
    for (found, source) in [(mdns, NameSource::Mdns), (netbios, NameSource::Netbios)] {
        for (ip, names) in found {
            let entry = out.entry(ip).or_default();
            for name in names {
                if !entry.iter().any(|n| n.name == name && n.source == source) {
                    entry.push(NameObservation { name, source });
                }
            }
        }
    }
    out
}

/// Run [`unicast::ask`] over one socket per address family present.
async fn ask_by_family<P: unicast::NameProtocol>(
    proto: &P,
    ips: &[IpAddr],
    pacing: unicast::Pacing,
) -> BTreeMap<IpAddr, Vec<String>> {
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| ip.is_ipv4());
    let family = |ips: Vec<IpAddr>, any: IpAddr| async move {
        if ips.is_empty() {
            return BTreeMap::new();
        }
        match tokio::net::UdpSocket::bind((any, 0)).await {
            Ok(sock) => unicast::ask(&sock, proto, &ips, pacing).await,
            Err(e) => {
                tracing::warn!(protocol = P::LABEL, error = %e, "cannot open a UDP socket; names skipped");
                BTreeMap::new()
            }
        }
    };
    let (mut a, b) =
        tokio::join!(family(v4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)), family(v6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
    a.extend(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_refuse_unknown_ones() {
        assert_eq!("ptr,mdns".parse(), Ok(NameSources { ptr: true, mdns: true, netbios: false }));
        assert_eq!(" NetBIOS ".parse(), Ok(NameSources { ptr: false, mdns: false, netbios: true }));
        assert_eq!("ptr,mdns,netbios".parse(), Ok(NameSources::ALL));
        assert!("ptr,llmnr".parse::<NameSources>().unwrap_err().contains("`llmnr` is not a name source"));
        assert!(",".parse::<NameSources>().is_err());
    }
}
