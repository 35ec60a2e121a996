//! Passive batches (technique `passive`, `complete = false`, no ports)
//! are evidence that a device is on the network and nothing more: they
//! never make an asset missing, never resolve what only a complete sweep can
//! (a retired asset still answering, a new service, an agent that delivers
//! no sweeps), and they do find devices active sweeps miss.

mod scenario;

use census_proto::{NameSource, RunStatus, Technique};
use censusd::alerts::{AlertKind, AlertState};
use scenario::{DAY, H, HOUR, LAB, Scenario, Sweep, T0, batch, h};
use serde_json::json;

fn server(tag: &str, mac: &str, lifecycle: &str) -> serde_json::Value {
    json!({ "tag": tag, "name": tag, "type": "server", "owner": "ops", "lifecycle": lifecycle,
            "lifecycle_since": "2026-01-01", "macs": [mac], "expected_segment": "198.18.0.0/24" })
}

/// What `census-agent listen` delivers: heard hosts, no ports, never a sweep.
fn passive(t: i64, hosts: &[H]) -> census_proto::Batch {
    let mut b = batch(&Sweep { complete: false, ..LAB }, t, hosts, None);
    b.completeness.addresses_in_scope = 0;
    b.completeness.probes_sent = 0;
    b.completeness.techniques[0].technique = Technique::Passive;
    b.completeness.techniques[0].status = RunStatus::Partial;
    b.completeness.techniques[0].ports = None;
    for o in &mut b.hosts {
        o.seen_by = vec![Technique::Passive];
        o.ports.clear();
        o.rtt_us = None;
    }
    b
}

#[test]
fn passive_batches_never_make_missing_nor_resolve_what_needs_a_complete_sweep() {
    let s = Scenario::new();
    s.register(json!([
        server("SRV-1", "00:1b:21:00:00:01", "deployed"),
        server("OLD-2", "00:1b:21:00:00:02", "decommissioned"),
        server("WEB-3", "00:1b:21:00:00:03", "deployed"),
    ]));
    let srv = h("198.18.0.11", "00:1b:21:00:00:01").ports(&[22]);
    let old = h("198.18.0.12", "00:1b:21:00:00:02").ports(&[22]);
    let web = h("198.18.0.13", "00:1b:21:00:00:03").ports(&[22]);
    // Complete sweeps: a baseline, then WEB-3 opens 8080, OLD-2 still answers.
    s.deliver(&batch(&LAB, T0, &[srv.clone(), old.clone(), web.clone()], Some(HOUR)), T0 + 6000);
    s.deliver(
        &batch(&LAB, T0 + HOUR, &[srv, old.clone(), web.clone().ports(&[22, 8080])], Some(HOUR)),
        T0 + HOUR + 6000,
    );
    s.full(T0 + 2 * HOUR);
    assert_eq!(s.live(AlertKind::ShouldBeRetired).len(), 1);
    assert_eq!(s.live(AlertKind::NewService).len(), 1);
    assert!(s.live(AlertKind::Missing).is_empty());

    // Then only passive batches for 20 days: SRV-1 never heard, OLD-2 and WEB-3 heard without ports.
    for d in 1..=20 {
        s.deliver(&passive(T0 + d * DAY, &[old.clone(), web.clone()]), T0 + d * DAY + 6000);
    }
    s.full(T0 + 21 * DAY);
    assert!(s.live(AlertKind::Missing).is_empty(), "passive batches are no sweeps: {:?}", s.all());
    assert_eq!(s.live(AlertKind::ShouldBeRetired).len(), 1, "still answering: still open");
    let new = s.live(AlertKind::NewService);
    assert_eq!(new.len(), 1, "a passive batch has no ports: it closes nothing");
    let silent = s.live(AlertKind::AgentSilent);
    assert_eq!(silent.len(), 1, "passive batches are not the agent's sweeps: {:?}", s.all());
    assert_eq!(silent[0].state, AlertState::Open);
}

#[test]
fn a_device_heard_only_passively_is_an_unknown_asset_with_its_dhcp_name() {
    let s = Scenario::new();
    s.register(json!([server("SRV-1", "00:1b:21:00:00:01", "deployed")]));
    let shy = h("198.18.0.77", "00:1b:21:00:99:01").named("shy-laptop", NameSource::Dhcp);
    // The active sweep never finds it; passive listening hears it twice.
    s.sweep(&LAB, T0, &[h("198.18.0.11", "00:1b:21:00:00:01")]);
    s.deliver(&passive(T0 + HOUR, std::slice::from_ref(&shy)), T0 + HOUR + 6000);
    s.deliver(&passive(T0 + 2 * HOUR, std::slice::from_ref(&shy)), T0 + 2 * HOUR + 6000);
    s.full(T0 + 3 * HOUR);
    let unknown = s.live(AlertKind::UnknownAsset);
    assert_eq!(unknown.len(), 1, "{:?}", s.all());
    assert!(unknown[0].summary.contains("198.18.0.77"), "{}", unknown[0].summary);
    let w = s.whois("198.18.0.77", T0 + 3 * HOUR).expect("whois of a passively heard device");
    let text = serde_json::to_string(&w).unwrap();
    assert!(text.contains("shy-laptop"), "{text}");
}

/// Regression: a passive batch replaced a swept host's summary, so every
/// minute's passive batch recorded its ports going to none (and back at the
/// next sweep) in the host's history, dropped its PTR names, and left
/// whois's latest sighting without ports. It now refreshes the host and
/// adds what it heard, and the sweep's evidence stays.
#[test]
fn a_passive_batch_refreshes_a_swept_host_without_rewriting_what_the_sweep_saw() {
    let s = Scenario::new();
    let swept = h("198.18.0.21", "00:1b:21:00:00:21").ports(&[22, 443]).named("web-21.lab", NameSource::Ptr);
    let heard = h("198.18.0.21", "00:1b:21:00:00:21").named("web21", NameSource::Dhcp);
    s.sweep(&LAB, T0, std::slice::from_ref(&swept));
    for k in 1..=3 {
        s.deliver(&passive(T0 + k * 60_000, std::slice::from_ref(&heard)), T0 + k * 60_000 + 1000);
    }
    s.sweep(&LAB, T0 + HOUR, std::slice::from_ref(&swept));
    let host = s.store.host("198.18.0.21").unwrap().expect("the host");
    assert_eq!(host.observations, 5, "every observation is kept as evidence");
    let kinds: Vec<(&str, Option<&str>, &str)> =
        host.changes.iter().map(|c| (c.kind.as_str(), c.old.as_deref(), c.new.as_str())).collect();
    assert!(!kinds.iter().any(|(k, _, _)| *k == "ports"), "no false port changes: {kinds:?}");
    assert_eq!(
        kinds.iter().filter(|(k, _, _)| *k == "names").count(),
        1,
        "the DHCP name is added once, and the next sweep does not take it away: {kinds:?}"
    );
    let w = s.whois("198.18.0.21", T0 + HOUR + 60_000).expect("whois");
    let text = serde_json::to_string(&w).unwrap();
    assert!(text.contains("443") && text.contains("web-21.lab"), "the sweep's ports and names stay: {text}");
    s.full(T0 + HOUR + 60_000);
    assert!(s.live(AlertKind::NewService).is_empty(), "{:?}", s.all());
}
