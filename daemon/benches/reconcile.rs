//! Reconciliation benchmarks (release build, in process, real SQLite):
//!
//! 1. a full reconcile of a 100,000-asset register against 100,000 observed
//!    hosts (target: under 2 s) — cold (first run: every match, state and
//!    alert written) and steady (the next run);
//! 2. whois latency with a 1,000,000-asset register (target: p99 under
//!    5 ms), over a mix of IP, MAC and host-name queries.
//!
//! Run: `cargo bench -p censusd --bench reconcile` (`-- --no-record` skips
//! bench/RESULTS.md; `-- --quick` uses 10x smaller sizes).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use census_proto::{
    HostObservation, MacAddr, MacInfo, NameObservation, NameSource, Port, PortObservation, PortState, Technique,
    TransportProtocol,
};
use censusd::config::ReconcileConfig;
use censusd::reconcile::{BatchContext, Reconciler, Sighting};
use censusd::register::model::asset_from_json;
use censusd::store::{BatchMeta, ObservationRow, SqliteStore, Store, now_ms};

fn ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n % 131_072)
}

fn mac(n: u32) -> MacAddr {
    MacAddr([0x00, 0x1b, 0x21, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

fn assets(count: u32) -> Vec<censusd::register::Asset> {
    (0..count)
        .map(|n| {
            let lifecycle = if n % 50 == 0 { "decommissioned" } else { "deployed" };
            asset_from_json(serde_json::json!({
                "tag": format!("A-{n:07}"), "name": format!("asset {n}"), "type": if n % 3 == 0 { "server" } else { "endpoint" },
                "owner": format!("team-{}", n % 40), "lifecycle": lifecycle, "macs": [mac(n).to_string()],
                "hostnames": [format!("host-{n}.corp.example")], "expected_segment": "198.18.0.0/15",
                "support_end": "2030-01-01", "licences": [{ "product": "OS", "vendor": "V", "expires": "2030-01-01" }],
            }))
            .unwrap()
        })
        .collect()
}

fn host(n: u32, at: time::OffsetDateTime) -> HostObservation {
    // 95 % of hosts are registered assets; the rest are strangers.
    let m = if n % 20 == 19 { MacAddr([0x00, 0x1b, 0x22, (n >> 16) as u8, (n >> 8) as u8, n as u8]) } else { mac(n) };
    HostObservation {
        ip: IpAddr::V4(ip(n)),
        mac: Some(MacInfo { vendor: Some("Intel Corporate".into()), ..MacInfo::new(m) }),
        conflicting_macs: vec![],
        seen_by: vec![Technique::Arp],
        rtt_us: Some(100),
        reply_ttl: None,
        syn_ack: None,
        ports: [22u16, 443]
            .iter()
            .map(|p| PortObservation {
                port: Port(*p),
                protocol: TransportProtocol::Tcp,
                state: PortState::Open,
                service: None,
            })
            .collect(),
        names: vec![NameObservation {
            name: if n % 20 == 19 { format!("stranger-{n}.guest.example") } else { format!("host-{n}.corp.example") },
            source: NameSource::Ptr,
        }],
        fingerprints: vec![],
        first_seen: at,
        last_seen: at,
    }
}

/// Store `count` hosts in batches of 10,000 (ingest only; reconcile is what is measured).
fn observe(store: &dyn Store, count: u32, sweeps: u32) {
    for s in 0..sweeps {
        let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(i64::from(sweeps - s));
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            let hosts: Vec<HostObservation> = chunk.iter().map(|n| host(*n, at)).collect();
            let raws: Vec<String> = hosts.iter().map(|h| serde_json::to_string(h).unwrap()).collect();
            let ctx = BatchContext {
                segment: "bench".into(),
                agent: "bench".into(),
                batch: uuid::Uuid::new_v4().to_string(),
                probed: Some("22,443".into()),
                enriched: true,
            };
            let rows: Vec<ObservationRow<'_>> =
                hosts.iter().zip(&raws).map(|(h, r)| ObservationRow::new(h, r, &Sighting::of(h, &ctx))).collect();
            let meta = BatchMeta {
                batch_id: ctx.batch.clone(),
                agent: "bench".into(),
                segment: "bench".into(),
                started_ms: now_ms(),
                finished_ms: now_ms(),
                received_ms: now_ms(),
                clamped: false,
                complete: true,
                completeness: "{}".into(),
                total_hosts: rows.len(),
                targets: "[\"198.18.0.0/15\"]".into(),
                excluded: "[]".into(),
                probed: ctx.probed.as_deref().map(str::to_owned),
                interval_ms: None,
                next_due_ms: None,
            };
            store.ingest(&meta, "bench", &rows).unwrap();
        }
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reconciler(store: Arc<dyn Store>) -> Reconciler {
    Reconciler::new(store, &ReconcileConfig::default(), vec![], Arc::new(tokio::sync::Notify::new()))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("reconcile benchmark: run it with `cargo bench -p censusd --bench reconcile`");
        return;
    }
    let record = !std::env::args().any(|a| a == "--no-record");
    if std::env::var_os("CENSUS_PROFILE").is_some() {
        use tracing_subscriber::prelude::*;
        let filter: tracing_subscriber::filter::Targets = "censusd=debug".parse().unwrap_or_default();
        tracing_subscriber::fmt().with_writer(std::io::stderr).finish().with(filter).init();
    }
    let reconcile_only = std::env::args().any(|a| a == "--reconcile-only");
    let scale = if std::env::args().any(|a| a == "--quick") { 10 } else { 1 };
    let (n_assets, n_hosts, n_whois_assets) = (100_000 / scale, 100_000 / scale, 1_000_000 / scale);

    // 1. Full reconcile, 100k x 100k.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap());
    let list = assets(n_assets);
    store.import_assets(&mut |_| Some(list.clone()), "bench", &mut censusd::store::unaudited()).unwrap();
    observe(store.as_ref(), n_hosts, 2);
    let rec = reconciler(store.clone());
    let t = Instant::now();
    let cold = rec.full(now_ms()).unwrap();
    let cold_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let steady = rec.full(now_ms()).unwrap();
    let steady_s = t.elapsed().as_secs_f64();
    println!(
        "full reconcile {n_assets} assets x {n_hosts} hosts: cold {cold_s:.2} s ({} matched, {} alerts opened), steady {steady_s:.2} s ({} updated); target 2 s -> {:.2}x of budget",
        cold.matched,
        cold.opened,
        steady.updated,
        steady_s.max(cold_s) / 2.0
    );

    if reconcile_only {
        return;
    }
    // 2. Whois with a 1M-asset register.
    let dir2 = tempfile::tempdir().unwrap();
    let big: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir2.path().join("census.db")).unwrap());
    let t = Instant::now();
    for chunk in assets(n_whois_assets).chunks(100_000) {
        big.import_assets(&mut |_| Some(chunk.to_vec()), "bench", &mut censusd::store::unaudited()).unwrap();
    }
    let import_s = t.elapsed().as_secs_f64();
    observe(big.as_ref(), n_hosts, 1);
    let rec = reconciler(big.clone());
    let t = Instant::now();
    rec.full(now_ms()).unwrap();
    let big_full_s = t.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let mut found = 0;
    for i in 0..30_000u32 {
        let n = i.wrapping_mul(2_654_435_761) % n_hosts;
        let q = match i % 3 {
            0 => ip(n).to_string(),
            1 => mac(n).to_string(),
            _ => format!("host-{n}.corp.example"),
        };
        let t = Instant::now();
        let a = censusd::app::query::whois(&rec, &q, now_ms()).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(a.is_some_and(|a| a.asset.is_some()));
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let (p50, p99, max) = (pct(0.5), pct(0.99), lat[lat.len() - 1]);
    println!(
        "whois with {n_whois_assets} assets ({n_hosts} observed hosts): p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.2} ms over {} queries ({found} answered with an asset); target p99 5 ms -> {:.2}x of budget",
        lat.len(),
        p99 / 5.0
    );
    println!(
        "register import {n_whois_assets} assets {import_s:.1} s; full reconcile {n_whois_assets} assets x {n_hosts} hosts {big_full_s:.2} s; peak RSS {:.0} MB",
        peak_rss_mb()
    );
    if record && scale == 1 {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/RESULTS.md");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(
            f,
            "\n## {} — reconciliation (`cargo bench -p censusd --bench reconcile`)\n\n\
             | measure | figure | target | ratio |\n|---|---|---|---|\n\
             | full reconcile, {n_assets} assets x {n_hosts} hosts, cold (first run) | {cold_s:.2} s | 2 s | {:.2} |\n\
             | full reconcile, same, steady (next run) | {steady_s:.2} s | 2 s | {:.2} |\n\
             | whois p50 / p99 / max, {n_whois_assets}-asset register | {p50:.3} / {p99:.3} / {max:.2} ms | p99 5 ms | {:.2} |\n\
             | full reconcile, {n_whois_assets} assets x {n_hosts} hosts | {big_full_s:.2} s | — | — |\n\
             | register import, {n_whois_assets} assets | {import_s:.1} s | — | — |\n\
             | peak RSS of the benchmark process | {:.0} MB | — | — |\n\n\
             No reconciliation peer (GLPI, NetAlertX, runZero) is installable here to run side by side; ratios are against the targets in issue #6.",
            time::OffsetDateTime::now_utc().date(),
            cold_s / 2.0,
            steady_s / 2.0,
            p99 / 5.0,
            peak_rss_mb()
        )
        .unwrap();
    }
}
