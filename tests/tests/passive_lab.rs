//! Passive listening in the lab: hosts that answer no probe (ICMP echo
//! ignored, ARP never answered, so no TCP probe reaches them either) get an
//! address from the lab's dnsmasq with a real Debian DHCP client
//! (isc-dhcp-client's dhclient, BusyBox's udhcpc) and announce it with a
//! gratuitous ARP. `census-agent listen` in the scanner namespace finds
//! each within one DHCP exchange, with its MAC, address, host name and a
//! DHCP fingerprint naming it Linux, while an active sweep of the same
//! range finds nothing there.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use census_lab::spec::generated_host;
use census_proto::{Batch, FingerprintKind, MacAddr, NameSource, Technique};
use census_tests::binary;

/// The DHCP clients this machine has, with the script each runs when bound:
/// put the address on eth0, then bounce the link so `arp_notify` sends the
/// gratuitous ARP.
fn clients() -> Vec<&'static str> {
    let found: Vec<&str> =
        ["dhclient", "udhcpc"].into_iter().filter(|c| Path::new("/usr/sbin").join(c).exists()).collect();
    if found.is_empty() && census_lab::lab_required() {
        panic!("no DHCP client: install the Debian packages isc-dhcp-client and udhcpc");
    }
    found
}

const BOUND_SCRIPT: &str = "#!/bin/sh\n\
    addr=\"${new_ip_address:-$ip}\"\n\
    case \"$reason$1\" in\n\
    BOUND|RENEW|REBOOT|bound|renew)\n\
      ip addr add \"$addr/16\" dev eth0 2>/dev/null\n\
      ip link set eth0 down; ip link set eth0 up ;;\n\
    esac\n\
    exit 0\n";

/// Start `client` in namespace `ns` sending host name `name`; it is killed by the caller.
fn start_client(client: &str, ns: &str, name: &str, dir: &Path) -> std::process::Child {
    let script = dir.join("bound.sh");
    std::fs::write(&script, BOUND_SCRIPT).unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    match client {
        "dhclient" => {
            // Debian's own configuration, with this host's name instead of the machine's.
            let conf = std::fs::read_to_string("/etc/dhcp/dhclient.conf")
                .unwrap_or_default()
                .replace("send host-name = gethostname();", &format!("send host-name \"{name}\";\ntimeout 20;"));
            let cf = dir.join(format!("{ns}.conf"));
            std::fs::write(&cf, conf).unwrap();
            cmd.arg("dhclient").args(["-d", "-1", "-sf"]).arg(&script).arg("-cf").arg(&cf);
            cmd.arg("-pf").arg(dir.join(format!("{ns}.pid"))).arg("-lf").arg(dir.join(format!("{ns}.leases")));
            cmd.arg("eth0");
        }
        _ => {
            cmd.arg("udhcpc").args(["-f", "-q", "-n", "-t", "10", "-T", "1", "-i", "eth0", "-x"]);
            cmd.arg(format!("hostname:{name}")).arg("-s").arg(&script);
        }
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting the DHCP client")
}

#[test]
fn hosts_that_answer_no_probe_are_found_by_their_dhcp_exchange_and_recognised_as_linux() {
    let clients = clients();
    if clients.is_empty() {
        eprintln!("skipping: no DHCP client installed");
        return;
    }
    let Some(mut lab) = census_lab::build_or_skip(vec![generated_host(0)]) else { return };
    let dir = tempfile::tempdir().unwrap();
    lab.start_dhcp_server("198.18.0.200".parse().unwrap(), "198.18.0.220".parse().unwrap()).unwrap();
    let hosts: Vec<(&str, MacAddr, String, String)> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mac = MacAddr([0x00, 0x1b, 0x21, 0x00, 0x99, i as u8 + 1]);
            let ns = lab.add_silent_client(mac).unwrap();
            (*c, mac, ns, format!("passive-{c}"))
        })
        .collect();

    let listener = lab
        .scanner_command(binary("census-agent"))
        .args(["listen", "eth0", "--seconds", "15", "--targets", "198.18.0.0/16", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running census-agent listen in the lab");
    std::thread::sleep(Duration::from_millis(800));
    let started = Instant::now();
    let mut running: Vec<std::process::Child> =
        hosts.iter().map(|(c, _, ns, name)| start_client(c, ns, name, dir.path())).collect();
    let out = listener.wait_with_output().unwrap();
    for c in &mut running {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(out.status.success(), "census-agent listen: {}", String::from_utf8_lossy(&out.stderr));
    let batch: Batch = serde_json::from_slice(&out.stdout).expect("a batch as JSON");
    assert!(!batch.completeness.complete, "a passive batch is never a sweep");
    assert_eq!(batch.completeness.techniques[0].technique, Technique::Passive);
    for (client, mac, _, name) in &hosts {
        let seen: Vec<_> = batch.hosts.iter().filter(|h| h.mac.as_ref().is_some_and(|m| m.address == *mac)).collect();
        assert!(
            !seen.is_empty(),
            "{client}'s host {mac} was not heard in {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout)
        );
        let h = seen[0];
        eprintln!("{client}: heard {} at {} named {:?}: {:?}", mac, h.ip, h.names, h.fingerprints);
        let ip = h.ip.to_string();
        assert!(ip.starts_with("198.18.0.2"), "{client}: address {ip} is the lease");
        assert_eq!(h.seen_by, [Technique::Passive]);
        assert!(
            h.names.iter().any(|n| n.source == NameSource::Dhcp && n.name == *name),
            "{client}: names {:?}",
            h.names
        );
        let os = h.fingerprints.iter().find(|f| f.kind == FingerprintKind::OsFamily).expect("an OS guess");
        assert_eq!(os.value, "linux", "{client}: {os:?}");
        assert!(os.evidence.iter().any(|e| e.starts_with("DHCP")), "{client}: {os:?}");
        assert_eq!(h.mac.as_ref().unwrap().vendor.as_deref(), Some("Intel Corporate"), "{client}");
    }
    // Nothing outside the targets, nothing but the silent hosts (the lab host never used DHCP).
    assert_eq!(
        batch.hosts.iter().filter(|h| h.ip.to_string().starts_with("198.18.0.2")).count(),
        batch.hosts.len(),
        "{:?}",
        batch.hosts
    );

    // An active sweep of the leased range finds none of them.
    let sweep = lab
        .scanner_command(binary("census-agent"))
        .args(["scan", "--json", "--no-names", "--no-services", "--ports", "22,80,443", "--max-seconds", "60"])
        .arg("198.18.0.192/27")
        .output()
        .expect("running census-agent scan in the lab");
    let swept: Batch = serde_json::from_slice(&sweep.stdout).expect("the sweep's batch");
    for (client, mac, _, _) in &hosts {
        assert!(
            !swept.hosts.iter().any(|h| h.mac.as_ref().is_some_and(|m| m.address == *mac)),
            "{client}'s host answered a probe"
        );
    }
    lab.teardown();
}

/// `key N` in the listener's summary line.
fn figure(summary: &str, after: &str) -> u64 {
    let rest = summary.split(after).nth(1).unwrap_or_else(|| panic!("no `{after}` in {summary}"));
    rest.split_whitespace()
        .next()
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("{summary}"))
}

#[test]
fn a_flood_of_spoofed_arp_sources_costs_the_table_cap_and_a_drop_count() {
    let Some(lab) = census_lab::build_or_skip(vec![generated_host(0)]) else { return };
    let listener = lab
        .scanner_command(binary("census-agent"))
        .args(["listen", "eth0", "--seconds", "10", "--targets", "198.18.0.0/16", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running census-agent listen in the lab");
    std::thread::sleep(Duration::from_millis(800));
    // 100,000 gratuitous ARPs, each from another locally administered MAC,
    // sent from the lab host's namespace with a raw socket.
    let flood = "import socket, struct\n\
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
        s.bind(('eth0', 0))\n\
        for n in range(100000):\n\
        \x20   mac = bytes([2, 0x66]) + struct.pack('>I', n)\n\
        \x20   ip = bytes([198, 18, (n >> 8) & 255, n & 255])\n\
        \x20   arp = bytes([0, 1, 8, 0, 6, 4, 0, 1]) + mac + ip + bytes(6) + ip\n\
        \x20   s.send(b'\\xff' * 6 + mac + b'\\x08\\x06' + arp)\n";
    let sent = Command::new("ip")
        .args(["netns", "exec", &lab.host_netns(0), "python3", "-c", flood])
        .output()
        .expect("python3 in the lab host");
    assert!(sent.status.success(), "the flood: {}", String::from_utf8_lossy(&sent.stderr));
    let out = listener.wait_with_output().unwrap();
    assert!(out.status.success(), "census-agent listen: {}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("{summary}");
    let frames = figure(&summary, "eth0: ");
    let dropped = figure(&summary, "addresses, ");
    let peak_kib = figure(&summary, "peak RSS ");
    let batch: Batch = serde_json::from_slice(&out.stdout).expect("a batch as JSON");
    let devices: std::collections::BTreeSet<_> =
        batch.hosts.iter().filter_map(|h| h.mac.as_ref().map(|m| m.address)).collect();
    assert!(devices.len() <= census_agent::passive::table::DEFAULT_CAP, "{} devices kept", devices.len());
    assert!(frames >= 90_000, "the kernel queue kept most of the flood: {frames} frames read");
    let accounted = dropped + devices.len() as u64;
    assert!(accounted <= frames && accounted + 10 >= frames, "every device turned away is counted: {summary}");
    assert!(dropped >= 85_000, "{summary}");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}
