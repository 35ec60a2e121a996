//! The discovery engine against a real lab: every live host found (ICMP-
//! silent ones included), no false positives, and exactly the ground truth's
//! open ports on every host, with SYN and with connect() alike.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::process::Output;

use census_lab::Lab;
use census_proto::{Batch, PortState, RunStatus, TcpScanMode, Technique, decode_batch};

/// Every port the lab generator uses, plus some that are always closed.
const PORTS: &str = "21,22,25,80,443,3389,8080";

fn scan(lab: &Lab, args: &[&str]) -> (Output, Option<Batch>) {
    let out = lab
        .scanner_command(env!("CARGO_BIN_EXE_census-agent"))
        .arg("scan")
        .args(args)
        // These tests are about the sweep; names and services have their own (lab_services.rs).
        .args(["--json", "--no-names", "--no-services"])
        .output()
        .expect("run census-agent");
    let batch = decode_batch(&out.stdout).ok();
    (out, batch)
}

fn expect_batch(out: &Output, batch: Option<Batch>) -> Batch {
    batch.unwrap_or_else(|| {
        panic!(
            "no batch; exit {:?}\nstderr: {}\nstdout: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout).chars().take(2000).collect::<String>()
        )
    })
}

/// Compare a batch's hosts and open ports with the lab's ground truth.
fn assert_matches_truth(lab: &Lab, batch: &Batch, with_macs: bool) -> usize {
    let truth: BTreeMap<IpAddr, &census_lab::HostSpec> = lab.hosts().iter().map(|h| (IpAddr::V4(h.ip), h)).collect();
    let found: BTreeSet<IpAddr> = batch.hosts.iter().map(|h| h.ip).collect();
    let missing: Vec<_> = truth.keys().filter(|ip| !found.contains(ip)).collect();
    let extra: Vec<_> = found.iter().filter(|ip| !truth.contains_key(ip)).collect();
    assert!(missing.is_empty(), "hosts not found: {missing:?}");
    assert!(extra.is_empty(), "false positives: {extra:?}");
    for h in &batch.hosts {
        let spec = truth[&h.ip];
        let open: Vec<u16> = h.ports.iter().filter(|p| p.state == PortState::Open).map(|p| p.port.0).collect();
        let want: Vec<u16> = spec.open_ports().iter().map(|p| p.0).collect();
        assert_eq!(open, want, "open ports of {}", h.ip);
        if with_macs {
            let mac = h.mac.as_ref().unwrap_or_else(|| panic!("{} has no MAC", h.ip));
            assert_eq!(mac.address, spec.mac, "MAC of {}", h.ip);
            assert_eq!(mac.locally_administered, spec.vendor.is_none());
            assert_eq!(mac.vendor.as_deref(), spec.vendor, "vendor of {}", h.ip);
            if h.reply_ttl.is_some() {
                let os = h.fingerprints.iter().find(|f| f.kind == census_proto::FingerprintKind::OsFamily);
                assert_eq!(os.map(|f| f.value.as_str()), Some(spec.os.family()), "OS family of {}: {os:?}", h.ip);
            }
            assert!(h.conflicting_macs.is_empty(), "{} has conflicts", h.ip);
            assert_eq!(h.seen_by.contains(&Technique::Icmp), spec.answers_icmp, "ICMP of {}", h.ip);
            if spec.answers_icmp {
                assert_eq!(h.reply_ttl.map(|t| t.0), Some(spec.os.ttl()), "TTL of {}", h.ip);
            }
        }
    }
    batch.hosts.len()
}

#[test]
fn syn_and_connect_sweeps_of_250_hosts_match_ground_truth() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(250)) else { return };
    let (out, batch) = scan(&lab, &["198.18.0.0/23", "--exclude", "198.18.0.1", "--ports", PORTS, "--arp", "--icmp"]);
    let batch = expect_batch(&out, batch);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(batch.completeness.complete);
    let tcp = batch.completeness.techniques.iter().find(|t| t.technique == Technique::Tcp).unwrap();
    assert_eq!(tcp.tcp_mode, Some(TcpScanMode::Syn));
    let checked = assert_matches_truth(&lab, &batch, true);
    // SYN-ACK shapes were kept for fingerprinting on hosts with an open port.
    assert!(batch.hosts.iter().filter(|h| !h.ports.is_empty()).all(|h| h.syn_ack.is_some()));

    let (out, batch) =
        scan(&lab, &["198.18.0.0/23", "--exclude", "198.18.0.1", "--ports", PORTS, "--arp", "--icmp", "--connect"]);
    let batch = expect_batch(&out, batch);
    let tcp = batch.completeness.techniques.iter().find(|t| t.technique == Technique::Tcp).unwrap();
    assert_eq!(tcp.tcp_mode, Some(TcpScanMode::Connect));
    assert_matches_truth(&lab, &batch, true);
    census_lab::report_checked("lab_sweep::syn_and_connect", &lab, checked);
}

/// Regression: `--timeout-ms` under 250 with `--arp --icmp` panicked (a
/// clamp whose floor passed its ceiling). A short timeout is a ceiling the
/// rounds wait under; the on-link echo still finds every ICMP-answering
/// host with its TTL, and `--verbose` says where the time went.
#[test]
fn a_short_timeout_sweeps_exactly_and_verbose_accounts_for_the_time() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(60)) else { return };
    for timeout in ["10", "100", "240"] {
        let args = [
            "198.18.0.0/24",
            "--exclude",
            "198.18.0.1",
            "--arp",
            "--icmp",
            "--ports",
            PORTS,
            "--timeout-ms",
            timeout,
            "-v",
        ];
        let (out, batch) = scan(&lab, &args);
        let batch = expect_batch(&out, batch);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "--timeout-ms {timeout}: {stderr}");
        if timeout == "10" {
            // 10 ms is shorter than a loaded machine's round trips: it must not
            // panic or report a false host, but it may miss an echo.
            let truth: BTreeSet<IpAddr> = lab.hosts().iter().map(|h| IpAddr::V4(h.ip)).collect();
            assert!(batch.hosts.iter().all(|h| truth.contains(&h.ip)), "a false host at 10 ms");
        } else {
            assert_matches_truth(&lab, &batch, true);
        }
        for step in ["arp ", "icmp beside arp ", "total "] {
            assert!(stderr.lines().any(|l| l.starts_with(step)), "no `{step}` line in:\n{stderr}");
        }
        assert!(stderr.contains("first round") && stderr.contains("answered"), "{stderr}");
    }
}

#[test]
fn a_whole_slash_16_around_the_lab_completes() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(20)) else { return };
    let (out, batch) = scan(
        &lab,
        &[
            "198.18.0.0/16",
            "--exclude",
            "198.18.0.1",
            "--arp",
            "--icmp",
            "--ports",
            PORTS,
            "--rate",
            "20000",
            "--retries",
            "1",
        ],
    );
    let batch = expect_batch(&out, batch);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(batch.completeness.addresses_in_scope, 65_533);
    let arp = &batch.completeness.techniques[0];
    assert_eq!((arp.technique, arp.status), (Technique::Arp, RunStatus::Complete));
    assert!(arp.probes_sent >= 65_533, "every address got a who-has: {}", arp.probes_sent);
    let checked = assert_matches_truth(&lab, &batch, true);
    census_lab::report_checked("lab_sweep::slash_16", &lab, checked);
}

#[test]
fn larger_than_a_slash_16_is_refused_without_a_packet() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(1)) else { return };
    let (out, _) = scan(&lab, &["198.18.0.0/15"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-large") || err.contains("allow_large_targets"), "{err}");
}

#[test]
fn without_privileges_it_does_what_it_can_and_says_why() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(12)) else { return };
    // Drop to nobody with no capabilities: no raw sockets, and the lab's
    // ping_group_range excludes nobody, so only connect() remains.
    let out = lab
        .scanner_command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_census-agent"))
        .args(["scan", "198.18.0.10-198.18.0.21", "--arp", "--icmp", "--ports", PORTS, "--json", "--timeout-ms", "200"])
        .output()
        .expect("setpriv");
    let batch = expect_batch(&out, decode_batch(&out.stdout).ok());
    assert_eq!(out.status.code(), Some(3), "incomplete sweeps exit 3");
    assert!(!batch.completeness.complete);
    let by: BTreeMap<Technique, &census_proto::TechniqueRun> =
        batch.completeness.techniques.iter().map(|t| (t.technique, t)).collect();
    assert_eq!(by[&Technique::Arp].status, RunStatus::Skipped);
    assert!(by[&Technique::Arp].reason.as_deref().unwrap_or("").contains("CAP_NET_RAW"));
    assert_eq!(by[&Technique::Icmp].status, RunStatus::Skipped);
    assert_eq!(by[&Technique::Tcp].tcp_mode, Some(TcpScanMode::Connect));
    // Hosts with an open port are found by connect() alone, with exactly their ports.
    for h in lab.hosts() {
        let seen = batch.hosts.iter().find(|o| o.ip == IpAddr::V4(h.ip));
        let open: Vec<u16> = seen.map(|o| o.ports.iter().map(|p| p.port.0).collect()).unwrap_or_default();
        let want: Vec<u16> = h.open_ports().iter().map(|p| p.0).collect();
        assert_eq!(open, want, "{}", h.ip);
    }
    census_lab::report_checked("lab_sweep::unprivileged", &lab, lab.hosts().len());
}

#[test]
fn ipv6_echo_and_solicitations_find_every_host_of_a_listed_range() {
    let Some(lab) = census_lab::build_dual_stack_or_skip(census_lab::generated_hosts(14)) else { return };
    let last = census_lab::host_ipv6(13);
    let range = format!("{}-{last}", census_lab::host_ipv6(0));
    let (out, batch) = scan(&lab, &[&range, "--icmp", "--timeout-ms", "300"]);
    let batch = expect_batch(&out, batch);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let found: BTreeSet<IpAddr> = batch.hosts.iter().map(|h| h.ip).filter(|ip| !link_local(ip)).collect();
    // Every listed address is solicited: ICMP-silent hosts answer neighbour solicitations too.
    let want: BTreeSet<IpAddr> = (0..lab.hosts().len()).map(|i| IpAddr::V6(census_lab::host_ipv6(i))).collect();
    assert_eq!(found, want);
    for (i, h) in lab.hosts().iter().enumerate() {
        let o = batch.hosts.iter().find(|o| o.ip == IpAddr::V6(census_lab::host_ipv6(i))).unwrap();
        assert_eq!(o.mac.as_ref().map(|m| m.address), Some(h.mac), "host {i}: tied to its MAC");
        // The echo's reply time, for hosts that answer it, and the hop limit
        // their answer to the all-nodes echo arrived with (the lab sets each
        // host's to its OS's initial TTL); never a made-up 0.
        assert_eq!(o.rtt_us.is_some(), h.answers_icmp, "host {i}: {:?}", o.seen_by);
        let want = h.answers_icmp.then(|| h.os.ttl());
        assert_eq!(o.reply_ttl.map(|t| t.0), want, "host {i}: hop limit");
    }
    census_lab::report_checked("lab_sweep::ipv6_echo", &lab, lab.hosts().len());
}

fn link_local(ip: &IpAddr) -> bool {
    census_agent::passive::link_local(ip)
}

/// The modified EUI-64 link-local address of `mac` (what Linux gives an interface by default).
fn eui64_link_local(mac: census_proto::MacAddr) -> IpAddr {
    let m = mac.0;
    IpAddr::V6(std::net::Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ]))
}

#[test]
fn a_64_is_discovered_on_link_and_each_address_is_tied_to_its_ipv4_host_by_mac() {
    let Some(lab) = census_lab::build_dual_stack_or_skip(census_lab::generated_hosts(8)) else { return };
    // One host answering ICMP becomes IPv6-only.
    let v6_only = (1..lab.hosts().len()).find(|i| lab.hosts()[*i].answers_icmp).unwrap();
    let del = format!("{}/16", lab.hosts()[v6_only].ip);
    let ok = std::process::Command::new("ip")
        .args(["-n", &lab.host_netns(v6_only), "addr", "del", &del, "dev", "eth0"])
        .status()
        .unwrap();
    assert!(ok.success());
    let scanner = lab.scanner_ip().to_string();
    let (out, batch) =
        scan(&lab, &["198.18.0.0/24", "2001:2::/64", "--arp", "--icmp", "--timeout-ms", "300", "--exclude", &scanner]);
    let batch = expect_batch(&out, batch);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_ip: BTreeMap<IpAddr, &census_proto::HostObservation> = batch.hosts.iter().map(|o| (o.ip, o)).collect();
    let mac_of = |ip: IpAddr| by_ip.get(&ip).and_then(|o| o.mac.as_ref()).map(|m| m.address);
    for (i, h) in lab.hosts().iter().enumerate() {
        if i != v6_only {
            assert_eq!(mac_of(IpAddr::V4(h.ip)), Some(h.mac), "host {i}'s IPv4 address");
        } else {
            assert!(!by_ip.contains_key(&IpAddr::V4(h.ip)), "host {i} has no IPv4 address any more");
        }
        if !h.answers_icmp {
            continue; // ICMPv6-silent, and no listed address to solicit on a /64
        }
        let global = IpAddr::V6(census_lab::host_ipv6(i));
        assert_eq!(mac_of(global), Some(h.mac), "host {i}'s global address, tied by MAC: {:?}", by_ip.keys());
        let facts = by_ip[&global].ipv6.expect("IPv6 facts");
        assert_eq!((facts.scope, facts.eui64), (census_proto::Ipv6Scope::Global, false), "host {i}");
        let ll = eui64_link_local(h.mac);
        assert_eq!(mac_of(ll), Some(h.mac), "host {i}'s link-local address {ll}");
        let facts = by_ip[&ll].ipv6.expect("IPv6 facts");
        assert_eq!((facts.scope, facts.eui64), (census_proto::Ipv6Scope::LinkLocal, true), "host {i}");
    }
    // Nothing outside the targets: link-local only for devices found inside them, never the scanner.
    let inside: BTreeSet<census_proto::MacAddr> =
        batch.hosts.iter().filter(|o| !link_local(&o.ip)).filter_map(|o| o.mac.as_ref().map(|m| m.address)).collect();
    for o in &batch.hosts {
        let ok = match o.ip {
            IpAddr::V4(v4) => v4.octets()[..3] == [198, 18, 0] && v4 != lab.scanner_ip(),
            IpAddr::V6(_) if link_local(&o.ip) => o.mac.as_ref().is_some_and(|m| inside.contains(&m.address)),
            IpAddr::V6(v6) => v6.segments()[..4] == [0x2001, 2, 0, 0] && v6 != census_lab::spec::SCANNER_IP6,
        };
        assert!(ok, "{} is outside the targets or the scanner's own", o.ip);
    }
    census_lab::report_checked("lab_sweep::ipv6_on_link", &lab, lab.hosts().len());
}

/// Temporary (privacy, RFC 8981) addresses: Linux makes them itself from an
/// address flagged `mngtmpaddr` when `use_tempaddr` is 2, and answers from
/// one by preference. Two hosts carry a link-local, a stable global (one
/// EUI-64, one static: the break attempt's case, once missed) and a
/// kernel-made temporary address: the sweep of the /64 finds all three with
/// the host's MAC (the temporary one answering the echo, the stable one its
/// neighbour solicitation — to the EUI-64 of its MAC, or to the address its
/// MLD report names), flags each kind, and ties them to the IPv4 host.
#[test]
fn temporary_addresses_are_found_flagged_and_tied_to_their_host() {
    let Some(lab) = census_lab::build_dual_stack_or_skip(census_lab::generated_hosts(6)) else { return };
    let ip = |ns: &str, args: &[&str]| {
        let out = std::process::Command::new("ip").args(["-n", ns]).args(args).output().unwrap();
        assert!(out.status.success(), "ip -n {ns} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let private: Vec<usize> = (1..lab.hosts().len()).filter(|i| lab.hosts()[*i].answers_icmp).take(2).collect();
    assert_eq!(private.len(), 2, "the lab has two ICMP-answering hosts");
    let mut temporary = BTreeMap::new();
    for &i in &private {
        let ns = lab.host_netns(i);
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "sysctl", "-qw", "net.ipv6.conf.eth0.use_tempaddr=2"])
            .status()
            .unwrap();
        assert!(ok.success());
        ip(&ns, &["-6", "addr", "del", &format!("{}/64", census_lab::host_ipv6(i)), "dev", "eth0"]);
        // The first host's stable address is its EUI-64 one (solicited from
        // its MAC), the second's a static one (named by its MLD report).
        let stable = if i == private[0] {
            let IpAddr::V6(ll) = eui64_link_local(lab.hosts()[i].mac) else { unreachable!() };
            let mut stable = ll.segments();
            stable[..4].copy_from_slice(&[0x2001, 2, 0, 0]);
            std::net::Ipv6Addr::from(stable)
        } else {
            census_lab::host_ipv6(i)
        };
        ip(&ns, &["-6", "addr", "add", &format!("{stable}/64"), "dev", "eth0", "mngtmpaddr", "nodad"]);
        // The kernel makes the temporary address at once (no DAD in the lab).
        let mut temp = None;
        for _ in 0..50 {
            let shown = ip(&ns, &["-6", "-o", "addr", "show", "dev", "eth0", "temporary"]);
            temp = shown
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next()?.parse().ok());
            if temp.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let temp: std::net::Ipv6Addr = temp.expect("the kernel made a temporary address");
        temporary.insert(i, (stable, temp));
    }
    let scanner = lab.scanner_ip().to_string();
    let (out, batch) =
        scan(&lab, &["198.18.0.0/24", "2001:2::/64", "--arp", "--icmp", "--timeout-ms", "300", "--exclude", &scanner]);
    let batch = expect_batch(&out, batch);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let by_ip: BTreeMap<IpAddr, &census_proto::HostObservation> = batch.hosts.iter().map(|o| (o.ip, o)).collect();
    for (i, (stable, temp)) in &temporary {
        let mac = lab.hosts()[*i].mac;
        let kinds = [
            (eui64_link_local(mac), census_proto::Ipv6Scope::LinkLocal, true, false),
            (IpAddr::V6(*stable), census_proto::Ipv6Scope::Global, *i == private[0], false),
            (IpAddr::V6(*temp), census_proto::Ipv6Scope::Global, false, true),
        ];
        for (addr, scope, eui64, random) in kinds {
            let o = by_ip.get(&addr).unwrap_or_else(|| panic!("host {i}: {addr} not found in {:?}", by_ip.keys()));
            assert_eq!(o.mac.as_ref().map(|m| m.address), Some(mac), "host {i}: {addr} tied to its MAC");
            let f = o.ipv6.expect("IPv6 facts");
            assert_eq!((f.scope, f.eui64, f.random_iid), (scope, eui64, random), "host {i}: {addr}");
        }
        let v4 = by_ip.get(&IpAddr::V4(lab.hosts()[*i].ip)).expect("the IPv4 host");
        assert_eq!(v4.mac.as_ref().map(|m| m.address), Some(mac), "host {i}: one device by MAC");
    }
    census_lab::report_checked("lab_sweep::ipv6_temporary", &lab, temporary.len() * 3);
}

/// Regression: a CIDR cut from the middle of a segment lost its first and
/// last addresses (treated as network and broadcast, which they are only on
/// a link of that size): a /27 of the lab's /16 never swept .31, a host.
/// And without ARP first, probes for the /27's empty addresses filled the
/// raw socket's send buffer while the kernel resolved them (the sweep ran at
/// a fifteenth of its rate); both ways now find every host and port.
#[test]
fn a_slice_of_a_segment_is_swept_to_its_last_address_with_and_without_arp() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(30)) else { return };
    let slice: ipnet::Ipv4Net = "198.18.0.0/27".parse().unwrap();
    let inside: Vec<&census_lab::HostSpec> = lab.hosts().iter().filter(|h| slice.contains(&h.ip)).collect();
    assert!(inside.iter().any(|h| h.ip == slice.broadcast()), "the lab has a host at the /27's last address");
    for arp in ["--arp", "--no-arp"] {
        let (out, batch) = scan(&lab, &["198.18.0.0/27", "--exclude", "198.18.0.1", "--ports", PORTS, arp]);
        let batch = expect_batch(&out, batch);
        assert!(batch.completeness.complete, "{arp}: {:?}", batch.completeness);
        assert_eq!(
            batch.completeness.addresses_in_scope, 30,
            "{arp}: 32 addresses, less the scanner's own and .0, the network address of the lab's /16"
        );
        let found: BTreeMap<IpAddr, Vec<u16>> = batch
            .hosts
            .iter()
            .map(|h| (h.ip, h.ports.iter().filter(|p| p.state == PortState::Open).map(|p| p.port.0).collect()))
            .collect();
        for h in &inside {
            let want: Vec<u16> = h.open_ports().iter().map(|p| p.0).collect();
            assert_eq!(found.get(&IpAddr::V4(h.ip)), Some(&want), "{arp}: {}", h.ip);
        }
        assert_eq!(found.len(), inside.len(), "{arp}: no false hosts");
    }
}
