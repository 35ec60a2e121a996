//! Names against a real lab: reverse DNS from a dnsmasq serving some hosts'
//! PTR records, unicast mDNS from hosts running a responder, NetBIOS node
//! status from Windows and Samba hosts. Every host's names match the ground
//! truth exactly, source by source: found where the lab serves one, absent
//! where it does not. The lab's responders are first checked with `dig` and
//! `nbtscan`, so the agent is measured against what other tools see.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use census_lab::Lab;
use census_proto::{Batch, NameSource, decode_batch};

fn names_of(batch: &Batch, ip: IpAddr, source: NameSource) -> Vec<String> {
    let host = batch.hosts.iter().find(|h| h.ip == ip).unwrap_or_else(|| panic!("{ip} not found"));
    host.names.iter().filter(|n| n.source == source).map(|n| n.name.clone()).collect()
}

/// Run a peer tool in the scanner namespace; `None` when it is not installed (and the lab is not required).
fn peer(lab: &Lab, program: &str, args: &[String]) -> Option<String> {
    match lab.scanner_command(program).args(args).output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if !census_lab::lab_required() => {
            eprintln!("skipping the {program} cross-check: {e}");
            None
        }
        Err(e) => panic!("{program} (Debian packages bind9-dnsutils, nbtscan): {e}"),
    }
}

/// The lab's own responders give what `dig` and `nbtscan` expect.
fn cross_check_responders(lab: &Lab) -> usize {
    let mut checked = 0;
    for h in lab.hosts() {
        let ip = h.ip.to_string();
        let dig = ["+short", "+time=1", "+tries=2", "-p", "5353", &format!("@{ip}"), "-x", &ip].map(String::from);
        if let Some(out) = peer(lab, "dig", &dig) {
            let answer: Vec<&str> = out.lines().filter(|l| !l.starts_with(';')).collect();
            let want: Vec<String> = h.mdns_name.iter().map(|n| format!("{n}.")).collect();
            assert_eq!(answer, want, "dig's mDNS answer from {ip}: {out:?}");
            checked += 1;
        }
    }
    // One nbtscan pass over the hosts' range: `198.18.0.13;HOST-013;<server>;<unknown>;00:14:22:5e:00:0d`.
    let (first, last) = (lab.hosts()[0].ip, lab.hosts()[lab.hosts().len() - 1].ip);
    let range = format!("{first}-{}", last.octets()[3]);
    if let Some(out) = peer(lab, "nbtscan", &["-q", "-t", "500", "-s", ";", &range].map(String::from)) {
        for h in lab.hosts() {
            let ip = h.ip.to_string();
            let line = out.lines().find(|l| l.split(';').next() == Some(ip.as_str()));
            let name = line.and_then(|l| l.split(';').nth(1)).map(|n| n.trim().to_string());
            assert_eq!(name, h.netbios.as_ref().map(|n| n.name.clone()), "nbtscan's answer from {ip}: {out:?}");
            checked += 1;
        }
    }
    checked
}

#[test]
fn ptr_mdns_and_netbios_names_match_ground_truth() {
    let Some(mut lab) = census_lab::build_or_skip(census_lab::generated_hosts(40)) else { return };
    lab.start_dns().expect("lab DNS");
    let peers_checked = cross_check_responders(&lab);
    let t = Instant::now();
    let out = lab
        .scanner_command(env!("CARGO_BIN_EXE_census-agent"))
        .args(["scan", "198.18.0.0/24", "--exclude", "198.18.0.1", "--arp", "--icmp", "--json"])
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    let batch = decode_batch(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(elapsed < Duration::from_secs(20), "the sweep took {elapsed:?}");
    let mut named = [0usize; 3];
    for h in lab.hosts() {
        let ip = IpAddr::V4(h.ip);
        let want = [
            (NameSource::Ptr, h.ptr_name.clone()),
            (NameSource::Mdns, h.mdns_name.clone()),
            (NameSource::Netbios, h.netbios.as_ref().map(|n| n.name.clone())),
        ];
        for (i, (source, name)) in want.into_iter().enumerate() {
            let found = names_of(&batch, ip, source);
            assert_eq!(found, name.iter().cloned().collect::<Vec<_>>(), "{source:?} names of {ip}");
            named[i] += usize::from(!found.is_empty());
        }
    }
    assert!(named.iter().all(|n| *n >= 5), "names per source: {named:?}");
    eprintln!(
        "lab_names: {named:?} hosts named by PTR/mDNS/NetBIOS in {elapsed:.1?}; {peers_checked} peer answers agreed"
    );
    census_lab::report_checked("lab_names", &lab, lab.hosts().len());

    // Asking only DNS leaves the hosts' own responders alone.
    let out = lab
        .scanner_command(env!("CARGO_BIN_EXE_census-agent"))
        .args(["scan", "198.18.0.0/24", "--exclude", "198.18.0.1", "--arp", "--name-sources", "ptr", "--json"])
        .output()
        .unwrap();
    let batch = decode_batch(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(batch.hosts.iter().all(|h| h.names.iter().all(|n| n.source == NameSource::Ptr)));
    assert!(batch.hosts.iter().any(|h| !h.names.is_empty()));
}

#[test]
fn reverse_dns_answers_are_kept_across_sweeps_for_their_ttl() {
    let Some(mut lab) = census_lab::build_or_skip(census_lab::generated_hosts(12)) else { return };
    let dns = lab.start_dns().expect("lab DNS");
    let ips: Vec<IpAddr> = lab.hosts().iter().map(|h| IpAddr::V4(h.ip)).collect();
    let want: Vec<(IpAddr, String)> =
        lab.hosts().iter().filter_map(|h| Some((IpAddr::V4(h.ip), h.ptr_name.clone()?))).collect();
    let sweep = |lab: &Lab| {
        let ips = ips.clone();
        lab.in_scanner(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let t = Instant::now();
            let found = rt.block_on(census_agent::names::ptr_names(ips, &[dns], Duration::from_secs(1)));
            let names: Vec<(IpAddr, String)> =
                found.into_iter().flat_map(|(ip, ns)| ns.into_iter().map(move |n| (ip, n.name))).collect();
            (names, t.elapsed())
        })
        .unwrap()
    };
    let (first, _) = sweep(&lab);
    assert_eq!(first, want, "first sweep asks the server");
    // With the server gone, the next sweep answers from the cache: names and
    // "no record" alike, without waiting on a silent server.
    lab.stop_dns();
    let (second, took) = sweep(&lab);
    assert_eq!(second, want, "second sweep from the cache");
    assert!(took < Duration::from_millis(500), "the cache answered in {took:?}");
    census_lab::report_checked("lab_names::ptr_cache", &lab, lab.hosts().len());
}
