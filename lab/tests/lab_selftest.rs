//! The lab is what every other lab test trusts, so it checks itself: a
//! 250-host lab builds, every host answers ARP with its MAC, has its TTL
//! personality, answers or ignores ping as specified, opens exactly its
//! ports with the right banners, and nothing is left behind afterwards.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use census_lab::{HostSpec, Lab, ServiceKind};

/// Ports the self-test probes on every host: every port the generator uses, plus closed ones.
const PROBE_PORTS: [u16; 6] = [21, 22, 80, 443, 3389, 8080];

fn ping_ttl(lab: &Lab, ip: Ipv4Addr) -> Option<u8> {
    let out = lab.scanner_command("ping").args(["-n", "-c1", "-W1", &ip.to_string()]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ttl = text.split("ttl=").nth(1)?.split_whitespace().next()?;
    ttl.parse().ok()
}

fn tcp_probe(ip: Ipv4Addr, port: u16) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let mut buf = vec![0u8; 512];
    if port == 80 || port == 8080 {
        s.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    }
    let n = s.read(&mut buf).unwrap_or(0);
    buf.truncate(n);
    Some(buf)
}

fn check_host(lab: &Lab, h: &HostSpec) -> Result<(), String> {
    match (ping_ttl(lab, h.ip), h.answers_icmp) {
        (Some(ttl), true) if ttl == h.os.ttl() => {}
        (None, false) => {}
        (got, _) => return Err(format!("{}: ping ttl {got:?}, want icmp={} ttl {}", h.ip, h.answers_icmp, h.os.ttl())),
    }
    let found: Vec<(u16, Option<Vec<u8>>)> =
        lab.in_scanner(|| PROBE_PORTS.iter().map(|&p| (p, tcp_probe(h.ip, p))).collect()).map_err(|e| e.to_string())?;
    for (port, reply) in found {
        let spec = h.services.iter().find(|s| s.port.0 == port);
        match (spec, reply) {
            (None, None) => {}
            (Some(s), Some(bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                let ok = match &s.kind {
                    ServiceKind::Banner { banner } => text.trim_end() == banner,
                    ServiceKind::Http { server, title } => {
                        text.contains(&format!("Server: {server}\r\n"))
                            && text.contains(&format!("<title>{title}</title>"))
                    }
                    // A TLS server waits for the client hello: an open socket is what is checked here.
                    _ => true,
                };
                if !ok {
                    return Err(format!("{}:{port}: unexpected reply {text:?}", h.ip));
                }
            }
            (spec, reply) => return Err(format!("{}:{port}: spec {spec:?} but reply {reply:?}", h.ip)),
        }
    }
    Ok(())
}

fn neighbour_macs(lab: &Lab) -> String {
    let out = lab.scanner_command("ip").args(["neigh", "show", "dev", "eth0"]).output().expect("ip neigh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_250_host_lab_matches_its_ground_truth_and_leaves_nothing_behind() {
    let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(250)) else { return };
    assert!(lab.build_time() < Duration::from_secs(60), "lab build took {:?}", lab.build_time());
    let errors = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(h) = lab.hosts().get(i) else { break };
                    if let Err(e) = check_host(&lab, h) {
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    assert!(errors.is_empty(), "{} hosts differ from ground truth:\n{}", errors.len(), errors.join("\n"));
    // Every host was contacted, so the scanner's neighbour table holds its MAC.
    let neigh = neighbour_macs(&lab);
    for h in lab.hosts() {
        let line = neigh.lines().find(|l| l.split_whitespace().next() == Some(&h.ip.to_string()));
        let mac = line.and_then(|l| l.split("lladdr ").nth(1)).and_then(|r| r.split_whitespace().next());
        assert_eq!(mac, Some(h.mac.to_string().as_str()), "ARP for {}", h.ip);
    }
    census_lab::report_checked("lab_selftest", &lab, lab.hosts().len());
    let name = lab.name().to_string();
    drop(lab);
    let left: Vec<String> =
        census_lab::netns::all_lab_namespaces().into_iter().filter(|n| n.starts_with(&format!("{name}-"))).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn a_panicking_test_still_tears_its_lab_down() {
    let Some(probe) = census_lab::build_or_skip(census_lab::generated_hosts(3)) else { return };
    let name = probe.name().to_string();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _lab = probe;
        panic!("deliberate failure inside a lab test");
    }));
    assert!(result.is_err());
    let left: Vec<String> =
        census_lab::netns::all_lab_namespaces().into_iter().filter(|n| n.starts_with(&format!("{name}-"))).collect();
    assert!(left.is_empty(), "namespaces left behind after a panic: {left:?}");
}

#[test]
fn namespaces_of_dead_processes_are_collected() {
    if census_lab::check_available().is_err() {
        assert!(!census_lab::lab_required(), "CENSUS_REQUIRE_LAB=1 but labs are unavailable");
        return;
    }
    // A pid that cannot exist (above pid_max's ceiling).
    let stale = "cl-4999999-0-h0".to_string();
    assert!(Command::new("ip").args(["netns", "add", &stale]).status().unwrap().success());
    // (Another test's lab build may already have collected it: that is the point.)
    let _lab = census_lab::build_or_skip(census_lab::generated_hosts(1)).expect("lab");
    assert!(!census_lab::netns::all_lab_namespaces().contains(&stale), "stale namespace was not collected");
}

#[test]
fn addresses_outside_the_lab_range_are_refused() {
    let mut hosts = census_lab::generated_hosts(1);
    hosts[0].ip = Ipv4Addr::new(192, 168, 1, 10);
    match Lab::build(hosts) {
        Err(census_lab::LabError::Spec(msg)) => assert!(msg.contains("192.168.1.10"), "{msg}"),
        Err(other) => panic!("expected a spec error, got {other}"),
        Ok(_) => panic!("a lab outside 198.18.0.0/16 was built"),
    }
}
