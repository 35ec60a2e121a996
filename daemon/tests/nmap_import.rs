//! nmap `-oX` reports imported as observation batches: real reports of the
//! test lab made by Debian's nmap 7.93 (tests/fixtures), read, mapped and
//! stored through the same ingest path as an agent's; refused whole when
//! cut short or malformed, with the element named and nothing stored.

use std::sync::Arc;

use censusd::app::imports::{self, ImportError};
use censusd::connectors::nmap::{self, NmapError};
use censusd::people::Principal;
use censusd::reconcile::Reconciler;
use censusd::store::prelude::*;

const SCAN: &[u8] = include_bytes!("fixtures/nmap-lab-sS-sV.xml");
const PING: &[u8] = include_bytes!("fixtures/nmap-lab-sn.xml");
const OS: &[u8] = include_bytes!("fixtures/nmap-lab-O.xml");
/// A minute after the fixtures' scans finished: the tests never depend on the wall clock.
const NOW_MS: i64 = 1_796_283_060_000;

fn reconciler(dir: &tempfile::TempDir) -> Reconciler {
    let store: Arc<dyn Store> = censusd::store::testing::fresh(dir.path()).unwrap();
    let cfg = censusd::config::ReconcileConfig::default();
    Reconciler::new(store, &cfg, vec![], Arc::new(tokio::sync::Notify::new()))
}

#[test]
fn a_syn_and_version_scan_reads_whole() {
    let run = nmap::parse(SCAN).unwrap();
    assert_eq!((run.scanner.as_str(), run.version.as_deref()), ("nmap", Some("7.93")));
    assert!(
        run.args.as_deref().unwrap().contains("--exclude 198.18.0.1"),
        "entities in args unescaped: {:?}",
        run.args
    );
    assert_eq!(run.totals, Some((4, 251, 255)));
    assert_eq!(run.hosts.len(), 4, "hosthint elements are not hosts");
    let h = &run.hosts[0];
    assert_eq!(h.ip, Some("198.18.0.10".parse().unwrap()));
    assert_eq!(h.mac, Some(("00:1B:21:5E:00:00".into(), Some("Intel Corporate".into()))));
    assert_eq!(h.hostnames, vec![("host-000.lab.census.test".to_string(), "PTR".to_string())]);
    let ssh = h.ports.iter().find(|p| p.port == 22).unwrap();
    assert_eq!((ssh.protocol.as_str(), ssh.state.as_str()), ("tcp", "open"));
    let s = ssh.service.as_ref().unwrap();
    assert_eq!(
        (s.name.as_deref(), s.product.as_deref(), s.version.as_deref(), s.extrainfo.as_deref()),
        (Some("ssh"), Some("OpenSSH"), Some("9.2p1 Debian 2+deb12u3"), Some("protocol 2.0"))
    );
    assert_eq!(h.ports.iter().find(|p| p.port == 8080).map(|p| p.state.as_str()), Some("closed"));
}

#[test]
fn a_report_covering_the_segment_is_a_complete_sweep_with_its_exclusions() {
    let run = nmap::parse(SCAN).unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap();
    let (batch, summary) = nmap::to_batch(&run, "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(summary.complete, "{summary:?}");
    assert_eq!((summary.hosts_up, summary.outside_segment, summary.addresses_scanned), (4, 0, 255));
    assert_eq!(batch.segment.excluded, vec!["198.18.0.1/32".parse().unwrap()]);
    let tcp = batch.completeness.techniques.iter().find(|t| t.technique == census_proto::Technique::Tcp).unwrap();
    assert_eq!((tcp.tcp_mode, tcp.ports.as_deref()), (Some(census_proto::TcpScanMode::Syn), Some("22,80,443,8080")));
    let h = batch.hosts.iter().find(|h| h.ip.to_string() == "198.18.0.10").unwrap();
    assert_eq!(h.mac.as_ref().map(|m| m.address.to_string()), Some("00:1b:21:5e:00:00".into()));
    assert_eq!(h.seen_by, vec![census_proto::Technique::Arp]);
    assert_eq!(h.names[0].name, "host-000.lab.census.test");
    let open: Vec<u16> =
        h.ports.iter().filter(|p| p.state == census_proto::PortState::Open).map(|p| p.port.0).collect();
    assert_eq!(open, vec![22, 80, 443]);

    // Another segment: the hosts are outside it, and the report does not cover it.
    let (batch, summary) = nmap::to_batch(&run, "198.18.1.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(!summary.complete && batch.hosts.is_empty() && summary.outside_segment == 4, "{summary:?}");
    assert!(summary.partial_because.unwrap().contains("do not include all of 198.18.1.0/24"));
    // A larger segment than was scanned: partial.
    let (_, summary) = nmap::to_batch(&run, "198.18.0.0/23".parse().unwrap(), "lab", "nmap", now);
    assert!(!summary.complete, "{summary:?}");
}

#[test]
fn a_ping_scan_and_an_os_scan_map_their_evidence() {
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap();
    let run = nmap::parse(PING).unwrap();
    let (batch, summary) = nmap::to_batch(&run, "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(summary.complete, "{summary:?}");
    assert_eq!(batch.hosts.len(), 5, "the scanning host answers itself (localhost-response)");
    assert!(batch.completeness.techniques.iter().all(|t| t.technique != census_proto::Technique::Tcp));

    let run = nmap::parse(OS).unwrap();
    let (batch, summary) = nmap::to_batch(&run, "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(!summary.complete, "a range target (198.18.0.10-13) cannot be checked: {summary:?}");
    assert!(summary.partial_because.as_deref().unwrap().contains("198.18.0.10-13"), "{summary:?}");
    let g = &batch.hosts.iter().find(|h| h.ip.to_string() == "198.18.0.10").unwrap().fingerprints[0];
    assert_eq!(g.value, "linux");
    assert!(g.confidence > 0.9 && g.confidence <= 1.0, "{g:?}");
    assert!(g.evidence[0].starts_with("nmap OS detection: Linux"), "{g:?}");
}

#[test]
fn a_report_cut_anywhere_is_refused_naming_where() {
    for cut in (0..SCAN.len() - 12).step_by(53) {
        let e = nmap::parse(&SCAN[..cut]).expect_err(&format!("a report cut at byte {cut} was accepted"));
        assert!(!e.element.is_empty() && !e.message.is_empty(), "{e:?}");
    }
    // Cut inside the third host: the element is named.
    let third = SCAN.windows(6).enumerate().filter(|(_, w)| w == b"<host ").map(|(i, _)| i).nth(2).unwrap();
    for cut in [third + 60, third + 120] {
        let e = nmap::parse(&SCAN[..cut]).unwrap_err();
        assert!(e.element.starts_with("nmaprun/host[3]"), "{e}");
        assert!(e.message.contains("cut short"), "{e}");
    }
    // Whole but for </nmaprun>: still cut short.
    let end = SCAN.len() - b"</nmaprun>\n".len();
    assert!(nmap::parse(&SCAN[..end]).unwrap_err().message.contains("cut short"));
}

#[test]
fn hostile_and_foreign_xml_is_refused_cleanly() {
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
        <nmaprun scanner="nmap" args="&b;&b;&b;"></nmaprun>"#;
    let cases: &[(&[u8], &str)] = &[
        (b"", "no <nmaprun> root element"),
        (b"not xml at all", "root element"),
        (b"<html><body>502 Bad Gateway</body></html>", "<nmaprun>"),
        (b"<nmaprun scanner=\"masscan\"><runstats><finished time=\"1\"/><hosts/></runstats></nmaprun>", "not nmap"),
        (b"<nmaprun scanner=\"nmap\"></nmaprun>", "runstats"),
        (bomb, "entity"),
        (
            b"<nmaprun scanner=\"nmap\"><host><address addr=\"999.1.1.1\" addrtype=\"ipv4\"/></host></nmaprun>",
            "not an IP",
        ),
        (b"<nmaprun scanner=\"nmap\"><host><ports><port portid=\"70000\"/></ports></host></nmaprun>", "portid"),
        (b"<nmaprun scanner=\"nmap\"><host></nmaprun>", "XML"),
        (b"<nmaprun scanner=\"nmap\" start=\"yesterday\"></nmaprun>", "start"),
    ];
    for (xml, says) in cases {
        let e: NmapError = nmap::parse(xml).expect_err(&String::from_utf8_lossy(xml));
        let text = e.to_string();
        assert!(text.contains(says), "want `{says}` in: {text}");
    }
}

#[test]
fn an_import_stores_once_reconciles_and_a_refused_report_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = reconciler(&dir);
    let admin = Principal::builtin_admin();
    let out = imports::nmap(&r, &admin, SCAN, "198.18.0.0/24", None, NOW_MS).unwrap();
    assert_eq!((out.agent.as_str(), out.agent_created), ("nmap", true));
    assert_eq!((out.receipt.stored, out.receipt.duplicate, out.receipt.rejected.len()), (4, false, 0));
    assert!(out.report.complete);
    let store = r.store();
    let h = store.host("198.18.0.13").unwrap().expect("an imported host");
    assert_eq!((h.mac.as_deref(), h.last_agent.as_str()), (Some("00:14:22:5e:00:03"), "nmap"));
    let open = store.alert_count(&Default::default()).unwrap();

    // Its provenance is kept in the audit log.
    let audit = store
        .audit(&censusd::audit::AuditFilter {
            action: Some(censusd::audit::AuditAction::ObservationsImport),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit.len(), 1);
    let after = audit[0].entry.after.as_ref().unwrap();
    assert_eq!((audit[0].entry.actor.as_str(), audit[0].entry.subject.as_str()), ("admin", "agent:nmap"));
    assert_eq!(after["report"]["nmap_version"], "7.93");
    assert!(after["report"]["args"].as_str().unwrap().starts_with("nmap -oX"), "{after}");
    assert_eq!(after["batch_id"], out.receipt.batch_id.as_str());

    // The same report again: acknowledged, not stored twice.
    let again = imports::nmap(&r, &admin, SCAN, "198.18.0.0/24", Some("nmap"), NOW_MS).unwrap();
    assert!(again.receipt.duplicate && !again.agent_created);
    assert_eq!(store.observation_count().unwrap(), 4);
    assert_eq!(store.alert_count(&Default::default()).unwrap(), open);

    // Refused: a cut report, a bad segment, an agent that does not cover the segment.
    let before = (store.observation_count().unwrap(), store.agents().unwrap().len());
    let cut = imports::nmap(&r, &admin, &SCAN[..SCAN.len() / 2], "198.18.0.0/24", Some("other"), NOW_MS);
    assert!(matches!(cut, Err(ImportError::Report(_))), "{cut:?}");
    let bad = imports::nmap(&r, &admin, SCAN, "198.18.0.0/33", None, NOW_MS);
    assert!(matches!(&bad, Err(ImportError::Invalid { field, .. }) if field == "segment"), "{bad:?}");
    let wrong = imports::nmap(&r, &admin, PING, "198.18.4.0/24", Some("nmap"), NOW_MS);
    assert!(matches!(&wrong, Err(ImportError::Invalid { field, .. }) if field == "agent"), "{wrong:?}");
    for wide in ["0.0.0.0/0", "198.0.0.0/8", "::/0"] {
        let r2 = imports::nmap(&r, &admin, SCAN, wide, Some("wide"), NOW_MS);
        assert!(matches!(&r2, Err(ImportError::Invalid { field, .. }) if field == "segment"), "{wide}: {r2:?}");
    }
    assert_eq!(
        (store.observation_count().unwrap(), store.agents().unwrap().len()),
        before,
        "nothing stored, no agent made"
    );
}

/// A report built around `hosts` (each a `<host>` element), of 198.18.0.0/24, with `args`.
fn report(args: &str, hosts: &str, total: u32) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><nmaprun scanner="nmap" args="{args}" start="1796282975" version="7.93">
        <scaninfo type="syn" protocol="tcp" numservices="1" services="22"/>{hosts}
        <runstats><finished time="1796282987" exit="success"/><hosts up="3" down="0" total="{total}"/></runstats></nmaprun>"#
    )
    .into_bytes()
}

fn host(ip: &str, reason: &str, port_state: &str) -> String {
    format!(
        r#"<host><status state="up" reason="{reason}"/><address addr="{ip}" addrtype="ipv4"/>
        <ports><port protocol="tcp" portid="22"><state state="{port_state}"/></port></ports></host>"#
    )
}

/// Regression (review of 2026-12-07): an address nmap reported as
/// `::ffff:198.18.1.72` was taken for an IPv6 host outside the IPv4
/// segment; it is the IPv4 host it maps, as agents' batches store it.
#[test]
fn an_ipv4_address_mapped_into_ipv6_is_the_ipv4_host() {
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap();
    let mapped = r#"<host><status state="up" reason="syn-ack"/><address addr="::ffff:198.18.0.9" addrtype="ipv6"/>
        <ports><port protocol="tcp" portid="22"><state state="open"/></port></ports></host>"#;
    let xml = report("nmap -p 22 198.18.0.0/24", &[host("198.18.0.5", "syn-ack", "open"), mapped.into()].concat(), 256);
    let (batch, summary) =
        nmap::to_batch(&nmap::parse(&xml).unwrap(), "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    let ips: Vec<String> = batch.hosts.iter().map(|h| h.ip.to_string()).collect();
    assert_eq!(ips, ["198.18.0.5", "198.18.0.9"], "{summary:?}");
}

#[test]
fn hosts_nmap_only_assumed_up_are_not_sightings_and_a_list_scan_is_no_sweep() {
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap();
    let xml = report(
        "nmap -Pn -p 22 198.18.0.0/24",
        &[
            host("198.18.0.5", "user-set", "filtered"),
            host("198.18.0.6", "user-set", "open"),
            host("198.18.0.7", "user-set", "closed"),
            host("198.18.0.6", "user-set", "open"),
        ]
        .concat(),
        256,
    );
    let (batch, summary) =
        nmap::to_batch(&nmap::parse(&xml).unwrap(), "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    let ips: Vec<String> = batch.hosts.iter().map(|h| h.ip.to_string()).collect();
    assert_eq!(ips, ["198.18.0.6", "198.18.0.7"], "an open or closed port is an answer; filtered is not");
    assert_eq!((summary.not_answering, summary.listed_twice), (1, 1));

    let xml = report("nmap -sL -n 198.18.0.0/24", "", 256);
    let (_, summary) =
        nmap::to_batch(&nmap::parse(&xml).unwrap(), "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(summary.partial_because.unwrap().contains("list scan"));
    let xml = report("nmap --exclude=198.18.0.128/25 -sn 198.18.0.0/24", "", 4);
    let (_, summary) =
        nmap::to_batch(&nmap::parse(&xml).unwrap(), "198.18.0.0/24".parse().unwrap(), "lab", "nmap", now);
    assert!(summary.partial_because.unwrap().contains("scanned 4"), "runstats disagree with the command line");
}

#[test]
fn the_same_report_imported_at_once_is_stored_once_with_one_receipt_and_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let r = Arc::new(reconciler(&dir));
    let receipts: Vec<(bool, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                scope.spawn(move || {
                    let out =
                        imports::nmap(&r, &Principal::builtin_admin(), SCAN, "198.18.0.0/24", None, NOW_MS).unwrap();
                    (out.receipt.duplicate, out.receipt.stored)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = receipts.clone();
    sorted.sort();
    assert_eq!(sorted, vec![(false, 4), (true, 0), (true, 0), (true, 0)], "{receipts:?}");
    let filter = censusd::audit::AuditFilter {
        action: Some(censusd::audit::AuditAction::ObservationsImport),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(r.store().audit(&filter).unwrap().len(), 1);
}

#[test]
fn a_batch_stored_without_its_provenance_gets_it_at_the_reimport() {
    // As a daemon killed between storing the batch and recording it leaves it.
    let dir = tempfile::tempdir().unwrap();
    let r = reconciler(&dir);
    let store = r.store().clone();
    store.add_agent("nmap", &["198.18.0.0/24".parse().unwrap()], &[5; 32], &mut censusd::store::unaudited()).unwrap();
    let agent = store.agents().unwrap().remove(0);
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap();
    let segment: ipnet::IpNet = "198.18.0.0/24".parse().unwrap();
    let (mut batch, _) = nmap::to_batch(&nmap::parse(SCAN).unwrap(), segment, "nmap 198.18.0.0/24", "nmap", now);
    batch.batch_id = imports::batch_id(SCAN, &segment, "nmap");
    censusd::app::ingest::accept(store.as_ref(), &r, &agent, &census_proto::encode_batch(&batch), NOW_MS).unwrap();
    let filter = censusd::audit::AuditFilter {
        action: Some(censusd::audit::AuditAction::ObservationsImport),
        limit: 10,
        ..Default::default()
    };
    assert!(store.audit(&filter).unwrap().is_empty());
    let again = imports::nmap(&r, &Principal::builtin_admin(), SCAN, "198.18.0.0/24", None, NOW_MS).unwrap();
    assert!(again.receipt.duplicate);
    assert_eq!(store.audit(&filter).unwrap().len(), 1, "the provenance is written at the re-import");
    imports::nmap(&r, &Principal::builtin_admin(), SCAN, "198.18.0.0/24", None, NOW_MS).unwrap();
    assert_eq!(store.audit(&filter).unwrap().len(), 1, "and only once");
}
