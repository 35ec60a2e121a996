//! Lifecycle gaps found on the lab by the real agent (service lookups on)
//! and reconciled by the daemon:
//! - hosts whose SSH greeting or HTTP `Server` header names a release past
//!   its end of support raise `end-of-life-software` with the release, the
//!   date and the date's source; a host with a current release raises nothing;
//! - a host serving a certificate that ends in 10 days raises
//!   `certificate-expiring`; one valid for years raises nothing.

use std::sync::Arc;

use census_lab::spec::{ServiceKind, ServiceSpec, generated_host};
use census_tests::binary;
use censusd::alerts::{AlertFilter, AlertKind};
use censusd::reconcile::Reconciler;
use censusd::store::SqliteStore;
use censusd::store::prelude::*;

#[test]
fn lab_hosts_running_end_of_life_releases_raise_the_alert_with_the_dates_source() {
    let service = |port: u16, kind: ServiceKind| ServiceSpec { port: census_proto::Port(port), kind };
    let mut old_ssh = generated_host(0);
    old_ssh.services =
        vec![service(22, ServiceKind::Banner { banner: "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7".into() })];
    let mut old_web = generated_host(1);
    old_web.services =
        vec![service(80, ServiceKind::Http { server: "Apache/2.2.34 (Unix)".into(), title: "legacy intranet".into() })];
    let mut current = generated_host(2);
    current.services =
        vec![service(22, ServiceKind::Banner { banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".into() })];
    let Some(lab) = census_lab::build_or_skip(vec![old_ssh, old_web, current]) else { return };
    let (_dir, store, _r) = swept(&lab, "22,80");
    assert_eq!(store.observation_count().unwrap(), 3, "the agent found every lab host");

    let alerts = store
        .alerts(&AlertFilter { kind: Some(AlertKind::EndOfLifeSoftware), limit: Some(100), ..Default::default() })
        .unwrap();
    let mut found: Vec<(String, String, String, String)> = alerts
        .iter()
        .map(|a| {
            let e = serde_json::to_value(&a.evidence).unwrap();
            let sw = &e["software"][0];
            let s = |k: &str| sw[k].as_str().unwrap_or_default().to_string();
            (a.ip.clone().unwrap_or_default(), s("release"), s("ended"), s("source"))
        })
        .collect();
    found.sort();
    let ip = |i: usize| lab.hosts()[i].ip.to_string();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str(), found[0].2.as_str()),
        (ip(0).as_str(), "Debian 9 (stretch)", "2022-06-30")
    );
    assert!(found[0].3.contains("wiki.debian.org/LTS"), "{found:?}");
    assert_eq!(
        (found[1].0.as_str(), found[1].1.as_str(), found[1].2.as_str()),
        (ip(1).as_str(), "Apache httpd 2.2", "2017-07-11")
    );
    assert!(found[1].3.contains("httpd.apache.org"), "{found:?}");
    census_lab::report_checked("end_of_life_lab", &lab, lab.hosts().len());
}

/// Sweep `lab` (ports 443) with the agent and reconcile into a fresh store; the store and its reconciler.
fn swept(lab: &census_lab::Lab, ports: &str) -> (tempfile::TempDir, Arc<dyn Store>, Reconciler) {
    let scanner = lab.scanner_ip().to_string();
    let out = lab
        .scanner_command(binary("census-agent"))
        .args(["scan", "--json", "--agent-id", "lab-agent", "--ports", ports, "--no-names"])
        .args(["--exclude", &scanner, "--max-seconds", "60", "198.18.0.0/24"])
        .output()
        .expect("running census-agent in the lab");
    assert!(out.status.success(), "census-agent: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
    let r = Reconciler::new(store.clone(), &Default::default(), vec![], Arc::new(tokio::sync::Notify::new()));
    store
        .add_agent("lab-agent", &["198.18.0.0/24".parse().unwrap()], &[7; 32], &mut censusd::store::unaudited())
        .unwrap();
    let agent = store.agents().unwrap().remove(0);
    let now = censusd::store::now_ms();
    censusd::app::ingest::accept(store.as_ref(), &r, &agent, &out.stdout, now).unwrap();
    r.full(now).unwrap();
    (dir, store, r)
}

#[test]
fn a_lab_certificate_ending_in_ten_days_raises_certificate_expiring() {
    let https = |name: &str, not_after| ServiceSpec {
        port: census_proto::Port(443),
        kind: ServiceKind::Https {
            common_name: name.into(),
            server: "nginx/1.22.1".into(),
            title: "portal".into(),
            not_after,
        },
    };
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let mut expiring = generated_host(3);
    expiring.services = vec![https("portal.lab.census.test", Some(soon))];
    let mut fine = generated_host(4);
    fine.services = vec![https("wiki.lab.census.test", None)];
    let Some(lab) = census_lab::build_or_skip(vec![expiring, fine]) else { return };
    let (_dir, store, _r) = swept(&lab, "443");
    let alerts = store
        .alerts(&AlertFilter { kind: Some(AlertKind::CertificateExpiring), limit: Some(100), ..Default::default() })
        .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let truth = lab.certificate(lab.hosts()[0].ip, census_proto::Port(443)).expect("the lab's certificate");
    assert_eq!(alerts[0].subject, format!("cert:{}", truth.sha256));
    let e = serde_json::to_value(&alerts[0].evidence).unwrap();
    assert_eq!(e["served_at"], serde_json::json!([format!("{}:443", lab.hosts()[0].ip)]), "{e}");
    assert_eq!(e["subject"], "CN=portal.lab.census.test");
    assert!(
        store
            .alerts(&AlertFilter { kind: Some(AlertKind::CertificateExpired), limit: Some(100), ..Default::default() })
            .unwrap()
            .is_empty()
    );
    census_lab::report_checked("certificate_lab", &lab, lab.hosts().len());
}
