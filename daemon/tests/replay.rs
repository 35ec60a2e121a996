//! Verdicts that hold over time: two segments swept on a cadence, replayed
//! three ways — in order and on time, with one agent's batches for several
//! sweeps delivered together after an outage, and shuffled — with the
//! shipped configuration. All three must end with exactly the same alerts:
//! each expected alert once, none on anything that should stay quiet, none
//! raised twice. The outage adds one `agent-silent` alert (resolved when its
//! spool drains), never one alert per asset.
//!
//! The same replay runs at a daily cadence (14 sweeps) and at a
//! five-minute cadence for a day (288 sweeps).

mod scenario;

use std::collections::BTreeMap;

use census_proto::NameSource;
use censusd::alerts::{AlertKind, AlertState};
use censusd::config::ReconcileConfig;
use scenario::{DAY, H, HOUR, Scenario, Sweep, T0, batch, h};

use serde_json::json;

const LAB: Sweep =
    Sweep { agent: "a1", segment: "lab", targets: "198.18.0.0/24", complete: true, ports: "22,80,443,8080" };
const LAB2: Sweep =
    Sweep { agent: "a2", segment: "lab2", targets: "198.18.1.0/24", complete: true, ports: "22,80,443,8080" };

fn server(tag: &str, mac: &str, seg: &str, lifecycle: &str) -> serde_json::Value {
    json!({ "tag": tag, "name": format!("{tag} server"), "type": "server", "owner": "ops", "lifecycle": lifecycle,
            "lifecycle_since": "2026-01-01", "macs": [mac], "expected_segment": seg })
}

fn register() -> serde_json::Value {
    json!([
        server("SRV-1", "00:1b:21:00:00:11", "198.18.0.0/24", "deployed"),
        server("SRV-2", "00:1b:21:00:00:12", "198.18.0.0/24", "deployed"),
        server("SRV-3", "00:1b:21:00:01:13", "198.18.1.0/24", "deployed"),
        server("SRV-4", "00:1b:21:00:01:14", "198.18.1.0/24", "deployed"),
        server("SRV-OFF", "00:1b:21:00:01:99", "198.18.1.0/24", "deployed"),
        server("OLD-1", "00:1b:21:00:00:77", "198.18.0.0/24", "decommissioned"),
        { "tag": "MH-1", "name": "multi-homed server", "type": "server", "owner": "ops", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:00:a1", "00:1b:21:00:00:a2"], "expected_segment": "198.18.0.0/24" },
        { "tag": "LT-1", "name": "Ann's laptop", "type": "endpoint", "owner": "ann", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:00:c1"], "ips": ["198.18.0.100"] },
        { "tag": "LT-2", "name": "Bo's laptop", "type": "endpoint", "owner": "bo", "lifecycle": "deployed",
          "macs": ["00:1b:21:00:01:c2"], "ips": ["198.18.1.100"] },
    ])
}

/// What segment `lab` / `lab2` show at step `i` of `steps` (a "day" is `steps / 14` steps).
fn hosts(i: usize, steps: usize) -> (Vec<H>, Vec<H>) {
    let day = i * 14 / steps;
    let mut lab = vec![
        h("198.18.0.11", "00:1b:21:00:00:11"),
        h("198.18.0.12", "00:1b:21:00:00:12"),
        h("198.18.0.77", "00:1b:21:00:00:77"),
        // Multi-homed: each address answered from both interfaces.
        h("198.18.0.21", "00:1b:21:00:00:a1").also_mac("00:1b:21:00:00:a2"),
        h("198.18.0.22", "00:1b:21:00:00:a2").also_mac("00:1b:21:00:00:a1"),
        // DHCP: a new address every day.
        h(&format!("198.18.0.{}", 100 + day), "00:1b:21:00:00:c1").ports(&[]),
    ];
    if day == 8 && i * 14 % steps < 14 {
        // One sweep on day 8: a second MAC answers for SRV-2's address.
        lab[1] = h("198.18.0.12", "00:1b:21:00:00:12").also_mac("00:1b:21:66:66:66");
    }
    let mut lab2 = vec![
        h("198.18.1.13", "00:1b:21:00:01:13").ports(if day >= 9 { &[22, 443, 8080] } else { &[22, 443] }),
        h("198.18.1.14", "00:1b:21:00:01:14"),
        h(&format!("198.18.1.{}", 100 + day), "00:1b:21:00:01:c2").ports(&[]),
        // A phone with a privacy MAC rotating daily, announcing its name.
        h(&format!("198.18.1.{}", 200 + day), &format!("da:a1:19:00:{day:02x}:01"))
            .random_mac()
            .ports(&[])
            .named("pixel-of-bob.local", NameSource::Mdns),
    ];
    if day < 2 {
        lab2.push(h("198.18.1.99", "00:1b:21:00:01:99"));
    }
    (lab, lab2)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Delivery {
    InOrder,
    Outage,
    Shuffled,
}

/// Every alert as (kind, subject) -> (times raised, latest state).
/// Per (kind, subject): how many alerts, the last one's state, how often it
/// was reopened, and its first and last sighting (observation time).
type Verdicts = BTreeMap<(AlertKind, String), Verdict>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    alerts: usize,
    state: AlertState,
    reopened: i64,
    first_seen_ms: i64,
    last_seen_ms: i64,
}

fn replay(steps: usize, step_ms: i64, cfg: ReconcileConfig, delivery: Delivery) -> Verdicts {
    let s = Scenario::with(cfg);
    s.register(register());
    s.full(T0 - HOUR);
    let day = |i: usize| i * 14 / steps;
    let mut batches = Vec::new();
    for i in 0..steps {
        let t = T0 + i as i64 * step_ms;
        let partial = day(i) >= 12;
        let (lab, lab2) = hosts(i, steps);
        let a = Sweep { complete: !partial, ..LAB };
        let b = Sweep { complete: !partial, ..LAB2 };
        batches.push((i, t + 60_000, batch(&a, t + 60_000, &lab, Some(step_ms))));
        batches.push((i, t + 120_000, batch(&b, t + 120_000, &lab2, Some(step_ms))));
    }
    match delivery {
        Delivery::InOrder | Delivery::Outage => {
            // Outage: a2 cannot reach the daemon on days 3 to 7; its spool drains on day 8.
            let mut spooled = Vec::new();
            for (i, obs, b) in &batches {
                let away = delivery == Delivery::Outage && b.agent_id.0 == "a2" && (3..=7).contains(&day(*i));
                if away {
                    spooled.push(b.clone());
                } else {
                    if b.agent_id.0 == "a2" {
                        for late in spooled.drain(..) {
                            s.deliver(&late, obs + 1000);
                        }
                    }
                    s.deliver(b, obs + 6000);
                }
                if b.agent_id.0 == "a2" {
                    s.full(T0 + *i as i64 * step_ms + step_ms / 2);
                }
            }
        }
        Delivery::Shuffled => {
            // Every batch late and in a random order (a seeded xorshift shuffle).
            let end = T0 + steps as i64 * step_ms;
            let mut order: Vec<usize> = (0..batches.len()).collect();
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for (n, k) in order.into_iter().enumerate() {
                s.deliver(&batches[k].2, end + n as i64 * 1000);
            }
        }
    }
    s.full(T0 + steps as i64 * step_ms + steps as i64 * 2000 + 1000);
    let mut out = Verdicts::new();
    for a in s.all() {
        let e = out.entry((a.kind, a.subject.clone())).or_insert(Verdict {
            alerts: 0,
            state: a.state,
            reopened: 0,
            first_seen_ms: a.first_seen_ms,
            last_seen_ms: a.last_seen_ms,
        });
        e.alerts += 1;
        e.state = a.state;
        e.reopened += a.reopened;
        e.last_seen_ms = a.last_seen_ms;
    }
    out
}

fn expected() -> Vec<(AlertKind, &'static str)> {
    vec![
        (AlertKind::UnknownAsset, "device:name:pixel-of-bob.local"),
        (AlertKind::ShouldBeRetired, "asset:OLD-1"),
        (AlertKind::Missing, "asset:SRV-OFF"),
        (AlertKind::IdentityConflict, "ip:198.18.0.12"),
        (AlertKind::NewService, "asset:SRV-3"),
    ]
}

fn check(steps: usize, step_ms: i64, cfg: ReconcileConfig) {
    let runs: Vec<(Delivery, Verdicts)> = [Delivery::InOrder, Delivery::Outage, Delivery::Shuffled]
        .into_iter()
        .map(|d| (d, replay(steps, step_ms, cfg.clone(), d)))
        .collect();
    for (d, v) in &runs {
        let mut rest = v.clone();
        for (kind, subject) in expected() {
            let got = rest.remove(&(kind, subject.to_string()));
            // Exactly once: one alert, never resolved and reopened on the way.
            assert!(
                matches!(got, Some(Verdict { alerts: 1, reopened: 0, state, .. }) if state != AlertState::Resolved),
                "{d:?}: {kind} {subject}: {got:?} in {v:#?}"
            );
        }
        if *d == Delivery::Outage {
            let silent = rest.remove(&(AlertKind::AgentSilent, "agent:a2".to_string()));
            assert!(
                matches!(silent, Some(Verdict { alerts: 1, reopened: 0, state: AlertState::Resolved, .. })),
                "{d:?}: one agent-silent, resolved when the spool drained: {silent:?}"
            );
        }
        assert!(rest.is_empty(), "{d:?}: alerts nobody should get: {rest:#?}");
    }
    // The same alerts in the same states, with the same first sighting and
    // the same last one — to within the lifecycle's write-skip for repeats
    // that only move last seen (`TOUCH_MS`): delivery order and delay
    // changed nothing.
    let live = |v: &Verdicts| {
        v.iter().filter(|(k, _)| k.0 != AlertKind::AgentSilent).map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()
    };
    for (other, what) in [(&runs[1].1, "in order vs outage"), (&runs[2].1, "in order vs shuffled")] {
        let (a, b) = (live(&runs[0].1), live(other));
        assert_eq!(a.len(), b.len(), "{what}: {a:?} / {b:?}");
        for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
            let same = ka == kb
                && (va.alerts, va.state, va.reopened, va.first_seen_ms)
                    == (vb.alerts, vb.state, vb.reopened, vb.first_seen_ms)
                && (va.last_seen_ms - vb.last_seen_ms).abs() <= censusd::alerts::lifecycle::TOUCH_MS;
            assert!(same, "{what}: {ka:?} {va:?} / {kb:?} {vb:?}");
        }
    }
}

fn shipped() -> ReconcileConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/daemon.toml");
    censusd::config::load(std::path::Path::new(path)).unwrap().reconcile
}

#[test]
fn two_weeks_of_daily_sweeps_end_with_the_same_alerts_however_they_were_delivered() {
    check(14, DAY, shipped());
}

#[test]
fn a_day_of_five_minute_sweeps_gives_the_same_verdicts() {
    let mut cfg = shipped();
    // The switched-off server is missing after an hour (the shortest allowed), not two days.
    cfg.missing_after_by_type.insert(censusd::register::AssetType::Server, std::time::Duration::from_secs(3600));
    check(288, 5 * 60_000, cfg);
}
