//! Service identification against a real lab: SSH banners, HTTP servers and
//! titles, TLS certificates match the ground truth; hostile hosts (an
//! endless banner, binary garbage, a silent accept) cost bounded time and
//! leave sanitised records.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use census_lab::{HostSpec, ServiceKind, ServiceSpec};
use census_proto::{Port, decode_batch};

const PORTS: &str = "22,80,443,8080,2222,2323,2424";

fn hostile(index: usize, kind: ServiceKind, port: u16) -> HostSpec {
    let mut h = census_lab::generated_host(index);
    h.services = vec![ServiceSpec { port: Port(port), kind }];
    h
}

#[test]
fn banners_pages_and_certificates_match_and_hostile_hosts_are_bounded() {
    let mut hosts = census_lab::generated_hosts(30);
    hosts.push(hostile(30, ServiceKind::Endless, 2222));
    hosts.push(hostile(31, ServiceKind::Garbage, 2323));
    hosts.push(hostile(32, ServiceKind::Silent, 2424));
    let Some(mut lab) = census_lab::build_or_skip(hosts) else { return };
    lab.start_dns().expect("lab DNS");
    let t = Instant::now();
    let out = lab
        .scanner_command(env!("CARGO_BIN_EXE_census-agent"))
        .args(["scan", "198.18.0.0/24", "--exclude", "198.18.0.1", "--arp", "--icmp", "--ports", PORTS, "--json"])
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    let batch = decode_batch(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // The silent host holds its probe for the whole probe limit (6 s); nothing holds it longer.
    assert!(elapsed < Duration::from_secs(30), "the sweep took {elapsed:?}");
    // The endless and garbage hosts cost at most their byte caps: the agent stays small
    // (its usual peak is 15-20 MiB; this bounds every child this test process ran).
    let peak = census_lab::children_peak_rss_kib();
    assert!(peak > 0 && peak < 64 * 1024, "peak RSS {peak} KiB");
    eprintln!("lab_services: sweep with hostile hosts took {elapsed:.1?}, peak child RSS {peak} KiB");
    let mut checked = 0;
    for spec in lab.hosts() {
        let h =
            batch.hosts.iter().find(|h| h.ip == IpAddr::V4(spec.ip)).unwrap_or_else(|| panic!("{} not found", spec.ip));
        for svc in &spec.services {
            let port = h
                .ports
                .iter()
                .find(|p| p.port == svc.port)
                .unwrap_or_else(|| panic!("{}:{} not open", spec.ip, svc.port));
            let ev = port.service.as_deref();
            match &svc.kind {
                ServiceKind::Banner { banner } => {
                    let ev = ev.unwrap_or_else(|| panic!("{}:{} unidentified", spec.ip, svc.port));
                    assert_eq!(ev.banner.as_deref(), Some(banner.as_str()));
                    assert_eq!(ev.name.as_deref(), Some("ssh"));
                }
                ServiceKind::Http { server, title } => {
                    let http =
                        ev.and_then(|e| e.http.as_ref()).unwrap_or_else(|| panic!("{}:{} no HTTP", spec.ip, svc.port));
                    assert_eq!(
                        (http.server.as_deref(), http.title.as_deref()),
                        (Some(server.as_str()), Some(title.as_str()))
                    );
                }
                ServiceKind::Https { common_name, server, title, .. } => {
                    let ev = ev.unwrap_or_else(|| panic!("{}:{} unidentified", spec.ip, svc.port));
                    let cert = ev.tls.as_ref().unwrap_or_else(|| panic!("{}:{} no certificate", spec.ip, svc.port));
                    let truth = lab.certificate(spec.ip, svc.port).unwrap();
                    assert_eq!(cert.subject, truth.subject);
                    assert_eq!((cert.not_before, cert.not_after), (truth.not_before, truth.not_after));
                    assert_eq!(cert.sha256, truth.sha256);
                    assert_eq!(cert.sans, vec![common_name.clone()]);
                    let http = ev.http.as_ref().unwrap();
                    assert_eq!(
                        (http.server.as_deref(), http.title.as_deref()),
                        (Some(server.as_str()), Some(title.as_str()))
                    );
                    assert!(h.names.iter().any(|n| &n.name == common_name));
                }
                ServiceKind::Endless | ServiceKind::Garbage => {
                    let banner = ev.and_then(|e| e.banner.clone()).unwrap_or_default();
                    assert!(!banner.is_empty() && banner.chars().count() <= 256, "{}: {banner:?}", spec.ip);
                    assert!(!banner.chars().any(char::is_control), "control characters kept: {banner:?}");
                }
                ServiceKind::Silent => assert!(ev.is_none(), "a silent service was identified as {ev:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} services checked");
    census_lab::report_checked("lab_services", &lab, lab.hosts().len());
}

#[test]
fn a_syn_only_sweep_of_a_sparse_segment_survives_neighbour_resolution() {
    // Regression: SYN probes to many dead on-link addresses fill the kernel's
    // unresolved-neighbour queue; ENOBUFS must cost a probe, not the sweep.
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(12)) else { return };
    let out = lab
        .scanner_command(env!("CARGO_BIN_EXE_census-agent"))
        .args([
            "scan",
            "198.18.0.0/24",
            "--exclude",
            "198.18.0.1",
            "--ports",
            "22,80,443,8080",
            "--no-services",
            "--json",
        ])
        .output()
        .unwrap();
    let batch = decode_batch(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    for spec in lab.hosts() {
        let open: Vec<Port> = batch
            .hosts
            .iter()
            .find(|h| h.ip == IpAddr::V4(spec.ip))
            .map(|h| h.ports.iter().map(|p| p.port).collect())
            .unwrap_or_default();
        assert_eq!(open, spec.open_ports(), "{}", spec.ip);
    }
    census_lab::report_checked("lab_services::syn_only_sparse", &lab, lab.hosts().len());
}
