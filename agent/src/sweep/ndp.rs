//! IPv6 on-link discovery: a /64 holds 2^64 addresses, so it is never swept
//! address by address. Instead one ICMPv6 echo goes to the all-nodes group
//! `ff02::1` from each of the interface's addresses (link-local and global:
//! nodes answer from an address of the request's scope, so both kinds are
//! heard), and a neighbour solicitation goes to each address already known
//! (a target list of single addresses). Every node answers the echo; to do
//! so it first resolves our address with a solicitation of its own, which
//! names its MAC and address too. Every answer is kept with the MAC that
//! sent it — the link-layer option, else the frame's source — so an IPv6
//! address is tied to the same device as its IPv4 address.
//!
//! A node answers the echo from one address per scope only, and prefers a
//! temporary one when it has it; its stable address (static, DHCPv6) would
//! go unheard. So an MLD general query goes out too
//! ([`crate::packet::mld`]): each node reports the solicited-node group of
//! every address it holds, which gives each address's low 24 bits. On each
//! wide target network, the address with those low bits and nothing above
//! them (how static addresses are numbered: `::31`, `::1:10`) is then
//! solicited. A random interface id (stable-privacy) cannot be guessed from
//! 24 bits; passive listening hears those.
//!
//! Bounded: at most [`MAX_SOLICIT`] solicitations, [`MAX_FOUND`] addresses
//! kept, and the wait is the caller's. The orchestration works on
//! [`ProbeTx`]/[`ProbeRx`], so it is tested with canned frames.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use census_proto::MacAddr;

use crate::io::{ProbeRx, ProbeTx};
use crate::packet::{icmpv6, mld, ndp};

/// Most addresses solicited one by one.
pub const MAX_SOLICIT: usize = 1024;
/// Most addresses kept from one discovery.
pub const MAX_FOUND: usize = 65_536;

/// What to send.
#[derive(Debug, Clone)]
pub struct V6Plan {
    /// Our MAC.
    pub src_mac: MacAddr,
    /// Our addresses to send the echo from (link-local first).
    pub sources: Vec<Ipv6Addr>,
    /// Addresses to solicit one by one (at most [`MAX_SOLICIT`] are).
    pub known: Vec<Ipv6Addr>,
    /// The wide target networks (a /64: its first address), where the
    /// addresses nodes report by MLD are solicited.
    pub networks: Vec<Ipv6Addr>,
    /// How long to listen after the last probe.
    pub wait: Duration,
    /// Times each echo is sent (for loss), 1–3.
    pub rounds: u8,
    /// The echo identifier (random per sweep: replies to others' echoes are not ours).
    pub id: u16,
}

/// One address found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6Host {
    /// The MAC that answered for it.
    pub mac: MacAddr,
    /// When it was first heard.
    pub at: Instant,
    /// It answered our echo (else it was heard only through NDP).
    pub echoed: bool,
    /// The hop limit its echo reply arrived with (the OS's initial one,
    /// on-link), for the OS guess.
    pub hop_limit: Option<u8>,
}

/// What a discovery found and sent.
#[derive(Debug, Clone, Default)]
pub struct V6Found {
    /// Addresses by address.
    pub hosts: BTreeMap<Ipv6Addr, V6Host>,
    /// Frames sent.
    pub sent: u64,
}

/// The modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A),
/// as the low 64 bits of an address.
pub fn eui64_iid(mac: MacAddr) -> u128 {
    u128::from(u64::from_be_bytes(mac.eui64_interface_id()))
}

/// Run one discovery. `in_scope` says which addresses may be reported;
/// link-local addresses are kept for the caller to tie to a device.
///
/// # Errors
/// The socket's.
pub fn discover(
    tx: &mut dyn ProbeTx,
    rx: &mut dyn ProbeRx,
    plan: &V6Plan,
    in_scope: &dyn Fn(Ipv6Addr) -> bool,
) -> io::Result<V6Found> {
    let mut found = V6Found::default();
    let id = plan.id;
    let ours = |ip: &Ipv6Addr| plan.sources.contains(ip);
    // `echoed`: the hop limit of its echo reply, when it answered one.
    let keep = |found: &mut V6Found, mac: MacAddr, ip: Ipv6Addr, echoed: Option<u8>| {
        if mac == plan.src_mac
            || ours(&ip)
            || !(ip.is_unicast_link_local() || in_scope(ip))
            || found.hosts.len() >= MAX_FOUND
        {
            return;
        }
        let e = found.hosts.entry(ip).or_insert(V6Host { mac, at: Instant::now(), echoed: false, hop_limit: None });
        e.echoed |= echoed.is_some();
        e.hop_limit = e.hop_limit.or(echoed);
    };
    // Addresses named by MLD reports, to solicit after the rounds.
    let mut reported: Vec<Ipv6Addr> = Vec::new();
    let mut read_until = |found: &mut V6Found, rx: &mut dyn ProbeRx, until: Instant| -> io::Result<()> {
        while Instant::now() < until {
            let Some(frame) = rx.recv()? else { continue };
            if let Ok(Some((mac, ip, rid, hops))) = icmpv6::echo_reply(frame) {
                if rid == id {
                    keep(found, mac, ip, Some(hops));
                }
            } else if let Ok(Some(c)) = ndp::claim(frame) {
                keep(found, c.mac, c.ip, None);
            } else if let Ok(Some((mac, src, groups))) = mld::reported_groups(frame) {
                if src.is_unicast_link_local() {
                    keep(found, mac, src, None);
                }
                for low in groups.into_iter().filter_map(mld::solicited_low24) {
                    for net in &plan.networks {
                        let ip = Ipv6Addr::from(u128::from(*net) | u128::from(low));
                        let new = !found.hosts.contains_key(&ip) && !plan.known.contains(&ip) && !ours(&ip);
                        if new && in_scope(ip) && !reported.contains(&ip) && reported.len() < MAX_SOLICIT {
                            reported.push(ip);
                        }
                    }
                }
            }
        }
        Ok(())
    };
    let link_local = plan.sources.iter().find(|s| s.is_unicast_link_local());
    // Solicitations go from a global address when there is one.
    let solicit_from = plan.sources.iter().find(|s| !s.is_unicast_link_local()).or(plan.sources.first());
    let rounds = plan.rounds.clamp(1, 3);
    let per_round = plan.wait / u32::from(rounds);
    for round in 0..rounds {
        for src in &plan.sources {
            tx.send(Ipv4Addr::UNSPECIFIED, &icmpv6::all_nodes_echo(plan.src_mac, *src, id, u16::from(round)))?;
            found.sent += 1;
        }
        if let Some(ll) = link_local.filter(|_| round == 0 && !plan.networks.is_empty()) {
            tx.send(Ipv4Addr::UNSPECIFIED, &mld::general_query(plan.src_mac, *ll))?;
            found.sent += 1;
        }
        if let Some(src) = solicit_from {
            for t in plan.known.iter().take(MAX_SOLICIT) {
                tx.send(Ipv4Addr::UNSPECIFIED, &icmpv6::solicitation(plan.src_mac, *src, *t))?;
                found.sent += 1;
            }
        }
        // Answers to this round before the next goes out.
        read_until(&mut found, rx, Instant::now() + per_round)?;
    }
    // Solicited once more: the addresses MLD named that nothing else did, and
    // the EUI-64 address, on each target network, of every MAC heard here
    // (an IPv6-only node answering from a temporary address may hold one).
    let mut pending: Vec<Ipv6Addr> = Vec::new();
    let macs: std::collections::BTreeSet<MacAddr> = found.hosts.values().map(|h| h.mac).collect();
    let eui64 = macs.iter().flat_map(|m| plan.networks.iter().map(|n| Ipv6Addr::from(u128::from(*n) | eui64_iid(*m))));
    for ip in reported.iter().copied().chain(eui64) {
        let new = !found.hosts.contains_key(&ip) && !plan.known.contains(&ip) && !ours(&ip) && in_scope(ip);
        if new && !pending.contains(&ip) && pending.len() < MAX_SOLICIT {
            pending.push(ip);
        }
    }
    if let (Some(src), false) = (solicit_from, pending.is_empty()) {
        for t in &pending {
            tx.send(Ipv4Addr::UNSPECIFIED, &icmpv6::solicitation(plan.src_mac, *src, *t))?;
            found.sent += 1;
        }
        let until = Instant::now() + per_round;
        while Instant::now() < until {
            let Some(frame) = rx.recv()? else { continue };
            if let Ok(Some(c)) = ndp::claim(frame) {
                keep(&mut found, c.mac, c.ip, None);
            }
        }
    }
    Ok(found)
}

/// The IPv6 on-link step of a sweep: when the targets hold IPv6 addresses
/// on a directly connected network, discover that link's nodes (see the
/// module docs) and return the run to report with what was found; `None`
/// when no target is IPv6 on-link.
pub async fn on_link(
    targets: &crate::targets::TargetSet,
    interface: Option<&str>,
    macs: &[MacAddr],
    raw: bool,
    wait: Duration,
) -> Option<(census_proto::TechniqueRun, V6Found)> {
    use census_proto::{RunStatus, Technique, TechniqueRun};
    let first = targets.iter().find_map(|ip| match ip {
        std::net::IpAddr::V6(v6) => Some(v6),
        std::net::IpAddr::V4(_) => None,
    })?;
    let (iface, sources) = crate::io::v6_interface(interface, first)?;
    let run = |status, reason: String, sent, replies| TechniqueRun {
        technique: Technique::Icmp,
        status,
        reason: Some(reason),
        tcp_mode: None,
        probes_sent: sent,
        replies,
        ports: None,
    };
    if !raw {
        let why = "IPv6 on-link discovery skipped: no CAP_NET_RAW".to_string();
        return Some((run(RunStatus::Skipped, why, 0, 0), V6Found::default()));
    }
    // Addresses among the targets narrow enough to list are solicited one by
    // one, and so is the EUI-64 address (RFC 4291 appendix A) each MAC
    // already found would take on each wider network: a /64 is not enumerable.
    let mut known: Vec<Ipv6Addr> = targets
        .swept_and_found(std::iter::empty())
        .iter()
        .filter_map(|ip| match ip {
            std::net::IpAddr::V6(v6) => Some(v6),
            std::net::IpAddr::V4(_) => None,
        })
        .take(MAX_SOLICIT)
        .collect();
    let mut networks: Vec<Ipv6Addr> = Vec::new();
    for t in targets.targets() {
        if let crate::targets::Interval::V6(lo, hi) = *t
            && hi - lo > crate::targets::MAX_V6_SWEPT
        {
            let net = Ipv6Addr::from(lo & !0xffff_ffff_ffff_ffffu128);
            if !networks.contains(&net) {
                networks.push(net);
            }
            for m in macs {
                let ip = Ipv6Addr::from(u128::from(net) | eui64_iid(*m));
                if known.len() < MAX_SOLICIT && targets.contains(std::net::IpAddr::V6(ip)) && !known.contains(&ip) {
                    known.push(ip);
                }
            }
        }
    }
    let plan = V6Plan { src_mac: iface.mac, sources, known, networks, wait, rounds: 2, id: super::echo::new_id() };
    let scope = targets.clone();
    let name = iface.name.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let (mut tx, mut rx) = crate::io::datalink_pair(&iface)?;
        discover(tx.as_mut(), rx.as_mut(), &plan, &|ip| scope.contains(std::net::IpAddr::V6(ip)))
    })
    .await;
    Some(match outcome {
        Ok(Ok(found)) => {
            let reason = format!("IPv6 on-link: echo to ff02::1 and neighbour solicitations on {name}");
            (run(RunStatus::Complete, reason, found.sent, found.hosts.len() as u64), found)
        }
        Ok(Err(e)) => {
            (run(RunStatus::Skipped, format!("IPv6 on-link discovery on {name}: {e}"), 0, 0), V6Found::default())
        }
        Err(e) => (run(RunStatus::Skipped, format!("IPv6 on-link discovery: {e}"), 0, 0), V6Found::default()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    struct Sent(Vec<Vec<u8>>);
    impl ProbeTx for Sent {
        fn send(&mut self, _dst: Ipv4Addr, bytes: &[u8]) -> io::Result<()> {
            self.0.push(bytes.to_vec());
            Ok(())
        }
    }

    /// Answers every echo it is shown with canned replies carrying the echo's id.
    struct Replies {
        frames: VecDeque<Vec<u8>>,
        current: Vec<u8>,
    }
    impl ProbeRx for Replies {
        fn recv(&mut self) -> io::Result<Option<&[u8]>> {
            match self.frames.pop_front() {
                Some(f) => {
                    self.current = f;
                    Ok(Some(&self.current))
                }
                None => {
                    std::thread::sleep(Duration::from_millis(5));
                    Ok(None)
                }
            }
        }
    }

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const HOST: MacAddr = MacAddr([0x00, 0x1b, 0x21, 0, 0, 0x0b]);

    fn reply(mac: MacAddr, ip: &str, id: u16) -> Vec<u8> {
        let mut f = icmpv6::all_nodes_echo(mac, ip.parse().unwrap(), id, 0);
        f[54] = icmpv6::ECHO_REPLY;
        f
    }

    #[test]
    fn echo_answers_and_their_solicitations_are_tied_to_the_answering_mac() {
        let plan = V6Plan {
            src_mac: OURS,
            sources: vec!["fe80::1".parse().unwrap(), "2001:2::1".parse().unwrap()],
            known: vec!["2001:2::b".parse().unwrap()],
            networks: vec![],
            wait: Duration::from_millis(100),
            rounds: 1,
            id: 0x5151,
        };
        let mut tx = Sent(vec![]);
        let mut rx = Replies { frames: VecDeque::new(), current: vec![] };
        let scope = |ip: Ipv6Addr| "2001:2::/48".parse::<ipnet::Ipv6Net>().unwrap().contains(&ip);
        let quiet = discover(&mut tx, &mut rx, &plan, &scope).unwrap();
        assert_eq!(quiet.sent, 3, "two echoes and one solicitation");
        assert!(quiet.hosts.is_empty());
        assert_eq!(&tx.0[0][..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&tx.0[2][..3], &[0x33, 0x33, 0xff]);

        // Replies with a foreign id are ignored; NDP claims count whatever the id.
        let frames: VecDeque<Vec<u8>> = [
            reply(HOST, "2001:2::dead", 1),
            reply(HOST, "2001:2::b", 0x5151),
            icmpv6::solicitation(HOST, "fe80::21b:21ff:fe00:b".parse().unwrap(), "fe80::1".parse().unwrap()),
            icmpv6::solicitation(HOST, "2001:db8::b".parse().unwrap(), "2001:2::1".parse().unwrap()),
            icmpv6::solicitation(OURS, "2001:2::1".parse().unwrap(), "2001:2::b".parse().unwrap()),
        ]
        .into_iter()
        .collect();
        let mut rx = Replies { frames, current: vec![] };
        let found = discover(&mut Sent(vec![]), &mut rx, &plan, &scope).unwrap();
        let ips: Vec<String> = found.hosts.keys().map(ToString::to_string).collect();
        assert_eq!(
            ips,
            ["2001:2::b", "fe80::21b:21ff:fe00:b"],
            "outside the targets, ours and foreign ids are not kept"
        );
        assert!(found.hosts.values().all(|h| h.mac == HOST));
        assert!(found.hosts[&"2001:2::b".parse::<Ipv6Addr>().unwrap()].echoed);
    }

    /// A node that answers the echo only from its temporary address still
    /// reports, by MLD, the solicited-node group of its static one: the
    /// address with those low bits on the target network is solicited.
    #[test]
    fn addresses_named_by_mld_reports_are_solicited_on_the_target_network() {
        let plan = V6Plan {
            src_mac: OURS,
            sources: vec!["fe80::1".parse().unwrap(), "2001:2::1".parse().unwrap()],
            known: vec![],
            networks: vec!["2001:2::".parse().unwrap()],
            wait: Duration::from_millis(60),
            rounds: 1,
            id: 7,
        };
        // An MLDv2 report from HOST's link-local address naming ff02::1:ff00:31 and ff02::fb.
        let mut msg = vec![mld::REPORT_V2, 0, 0, 0, 0, 0, 0, 2];
        for g in ["ff02::1:ff00:31", "ff02::fb"] {
            msg.extend_from_slice(&[4, 0, 0, 0]);
            msg.extend_from_slice(&g.parse::<Ipv6Addr>().unwrap().octets());
        }
        let mut report = vec![0x33, 0x33, 0, 0, 0, 0x16];
        report.extend_from_slice(&HOST.0);
        report.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        report.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
        report.extend_from_slice(&[0, 1]);
        report.extend_from_slice(&"fe80::21b:21ff:fe00:b".parse::<Ipv6Addr>().unwrap().octets());
        report.extend_from_slice(&"ff02::16".parse::<Ipv6Addr>().unwrap().octets());
        report.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]);
        report.extend_from_slice(&msg);
        let mut tx = Sent(vec![]);
        let mut rx = Replies { frames: VecDeque::from([report]), current: vec![] };
        let scope = |ip: Ipv6Addr| "2001:2::/64".parse::<ipnet::Ipv6Net>().unwrap().contains(&ip);
        let found = discover(&mut tx, &mut rx, &plan, &scope).unwrap();
        assert_eq!(found.sent, 5, "two echoes, the query, two solicitations");
        assert_eq!(tx.0[2][54 + 8], mld::QUERY, "the query follows the hop-by-hop header");
        let solicited: Vec<Ipv6Addr> =
            tx.0[3..].iter().map(|ns| Ipv6Addr::from(<[u8; 16]>::try_from(&ns[62..78]).unwrap())).collect();
        let want: Vec<Ipv6Addr> =
            ["2001:2::31", "2001:2::21b:21ff:fe00:b"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(solicited, want, "the static address MLD named, and the EUI-64 address of the MAC heard");
        let ll: Ipv6Addr = "fe80::21b:21ff:fe00:b".parse().unwrap();
        assert_eq!(found.hosts.get(&ll).map(|h| h.mac), Some(HOST), "the reporter's link-local address, by its MAC");
    }
}
