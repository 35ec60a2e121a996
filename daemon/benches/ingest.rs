//! Ingest benchmark: a real `censusd serve` process (release build) on
//! 127.0.0.1, fed over HTTP by one agent. Prints observations stored per
//! second for batches of 1,000 and of 100,000 hosts, the CPU time each
//! observation cost the daemon and (on PostgreSQL, a server on this
//! machine) the database server, and the daemon's peak RSS once its history
//! holds over 1,000,000 observations; appends the figures to
//! bench/RESULTS.md.
//!
//! Run: `cargo bench -p censusd --bench ingest` (add `-- --no-record` to skip RESULTS.md).
//! `CENSUS_BENCH_QUICK=1`: 300 batches, no 100,000-host phase, for a quick look.
//! `CENSUS_BENCH_DAEMON=path`: measure that censusd binary (a profiling build).
//! `CENSUS_BENCH_LOG=censusd=info`: the daemon's log filter (per-batch timings at info).
//! `CENSUS_BENCH_POSTGRES=postgres://…`: the daemon stores into a new schema on that PostgreSQL server instead of SQLite.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use census_proto::{
    AgentId, Batch, FingerprintGuess, FingerprintKind, HostObservation, MacAddr, MacInfo, NameObservation, NameSource,
    Port, PortObservation, PortState, SchemaVersion, SegmentScope, SweepCompleteness, Technique, TransportProtocol,
    Ttl,
};

const ADMIN: &str = "census_bench_admin_token";

fn host(n: u32, round: u32) -> HostObservation {
    let now = time::OffsetDateTime::now_utc();
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n);
    let mut ports = vec![22, 443];
    if round.is_multiple_of(3) && n.is_multiple_of(10) {
        ports.push(8080); // some hosts change between sweeps
    }
    HostObservation {
        ip: IpAddr::V4(ip),
        mac: Some(MacInfo {
            vendor: Some("Intel Corporate".into()),
            ..MacInfo::new(MacAddr([0x00, 0x1b, 0x21, (n >> 16) as u8, (n >> 8) as u8, n as u8]))
        }),
        conflicting_macs: vec![],
        seen_by: vec![Technique::Arp, Technique::Icmp, Technique::Tcp],
        rtt_us: Some(150),
        reply_ttl: Some(Ttl(64)),
        syn_ack: None,
        ports: ports
            .into_iter()
            .map(|p| PortObservation {
                port: Port(p),
                protocol: TransportProtocol::Tcp,
                state: PortState::Open,
                service: None,
            })
            .collect(),
        names: vec![NameObservation { name: format!("host-{n}.corp.example"), source: NameSource::Ptr }],
        fingerprints: vec![FingerprintGuess {
            kind: FingerprintKind::OsFamily,
            value: "linux".into(),
            confidence: 0.9,
            evidence: vec!["reply TTL 64".into()],
        }],
        ipv6: None,
        first_seen: now,
        last_seen: now,
    }
}

fn batch(first: u32, count: u32, round: u32) -> Vec<u8> {
    batch_of("bench", first, count, round)
}

fn batch_of(agent: &str, first: u32, count: u32, round: u32) -> Vec<u8> {
    let now = time::OffsetDateTime::now_utc();
    let b = Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: AgentId(agent.into()),
        segment: SegmentScope {
            name: "bench".into(),
            targets: vec!["198.18.0.0/15".parse().unwrap()],
            excluded: vec![],
        },
        started_at: now,
        finished_at: now,
        completeness: SweepCompleteness {
            addresses_in_scope: u64::from(count),
            probes_sent: u64::from(count),
            replies: u64::from(count),
            estimated_loss: 0.0,
            rate_limit_pps: 5000,
            rate_achieved_pps: 5000.0,
            complete: true,
            techniques: vec![],
            enriched: true,
        },
        schedule: None,
        hosts: (first..first + count).map(|n| host(n, round)).collect(),
    };
    census_proto::encode_batch(&b)
}

async fn queue(http: &reqwest::Client, base: &str) -> i64 {
    let r = http.get(format!("{base}/api/v1/status")).bearer_auth(ADMIN).send().await.expect("status");
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    v["reconcile_queue"].as_i64().unwrap_or(-1)
}

async fn live_alerts(http: &reqwest::Client, base: &str) -> i64 {
    let r = http.get(format!("{base}/api/v1/status")).bearer_auth(ADMIN).send().await.expect("status");
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    v["live_alerts"].as_i64().unwrap_or(-1)
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> usize {
    let r = http.post(url).bearer_auth(token).body(body).send().await.expect("post");
    assert!(r.status().is_success(), "{}", r.status());
    let v: serde_json::Value = r.json().await.unwrap();
    v["stored"].as_u64().unwrap() as usize
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs harness-less benches without `--bench`:
    // compile-check only then; the measurement is for `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest benchmark: run it with `cargo bench -p censusd --bench ingest`");
        return;
    }
    let record = !std::env::args().any(|a| a == "--no-record");
    let _ = rustls::crypto::ring::default_provider().install_default();
    // CENSUS_BENCH_DAEMON=path: measure that censusd build instead (a profiling build, say).
    let daemon_bin = common::daemon_bin();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base) = common::start_daemon(
        &daemon_bin,
        dir.path(),
        ADMIN,
        "max_body_mb = 256\n",
        "[reconcile]\nalert_flood_per_hour = 1000000\n",
    )
    .await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
    let r = http
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": "bench", "segments": ["198.18.0.0/15"]}))
        .send()
        .await
        .unwrap();
    let token = r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let url = format!("{base}/api/v1/batches");

    // 1,000 batches of 1,000 hosts: sweeps of 1,000-host segments, re-observed 15 times.
    // No host is registered: every one becomes an unknown device, and its
    // alert goes live at its second sighting — 65,000 live alerts by the end.
    let mut elapsed = Duration::ZERO;
    let mut stored = 0usize;
    let mut phases: Vec<(u32, f64, i64)> = Vec::new();
    let (mut phase_t, mut phase_n) = (Duration::ZERO, 0usize);
    // CENSUS_BENCH_QUICK=1: 300 batches and no 100,000-host phase (a quick look, not for RESULTS.md).
    let quick = std::env::var_os("CENSUS_BENCH_QUICK").is_some();
    let small_batches = if quick { 300 } else { 1000 };
    let on_postgres = common::bench_postgres().is_some();
    let cpu_before = (common::cpu::of_pid(daemon.0.id()), common::cpu::Readings::of_command("postgres"));
    for i in 0..small_batches {
        let body = batch((i % 65) * 1000, 1000, i / 65);
        let t = Instant::now();
        let n = post(&http, &url, &token, body).await;
        let dt = t.elapsed();
        stored += n;
        elapsed += dt;
        phase_t += dt;
        phase_n += n;
        if (i + 1) % 100 == 0 {
            let live = live_alerts(&http, &base).await;
            phases.push((i + 1, phase_n as f64 / phase_t.as_secs_f64(), live));
            println!(
                "  batches {}-{}: {:.0} obs/s with {live} live alerts at the end",
                i - 98,
                i + 1,
                phases.last().unwrap().1
            );
            (phase_t, phase_n) = (Duration::ZERO, 0);
        }
    }
    // The receipts came as soon as each batch was stored; the reconcile worker
    // may still be busy: end to end is until its queue is empty.
    let t = Instant::now();
    while queue(&http, &base).await > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = t.elapsed();
    let e2e_rate = stored as f64 / (elapsed + drain).as_secs_f64();
    // CPU per observation, stored and reconciled: with every core busy the
    // rate is bounded by it (the PostgreSQL server runs on this machine).
    let per_obs = |seconds: f64| seconds * 1e6 / stored.max(1) as f64;
    let (daemon_us, pg_us) = (
        per_obs(common::cpu::of_pid(daemon.0.id()) - cpu_before.0),
        per_obs(if on_postgres { cpu_before.1.spent() } else { 0.0 }),
    );
    let cores = common::cpu::cores();
    let cpu_line = format!(
        "- CPU per observation, 1,000-host batches until reconciled: censusd {daemon_us:.1} µs{}; \
         {cores} cores here, so at most {:.0} obs/s while {} on this machine\n",
        if on_postgres { format!(", PostgreSQL server {pg_us:.1} µs") } else { String::new() },
        cores as f64 * 1e6 / (daemon_us + pg_us).max(1e-9),
        if on_postgres { "both run" } else { "it runs" },
    );
    print!("{cpu_line}");
    println!(
        "reconcile queue drained {:.2}s after the last receipt: {e2e_rate:.0} obs/s end to end",
        drain.as_secs_f64()
    );
    let small_rate = stored as f64 / elapsed.as_secs_f64();
    let small_rss = common::peak_rss_mb(&daemon.0);
    println!("batches of 1,000 hosts: {stored} observations in {:.2}s = {small_rate:.0} obs/s", elapsed.as_secs_f64());

    // 10 batches of 100,000 hosts.
    let mut elapsed = Duration::ZERO;
    let mut stored_big = 0usize;
    for i in 0..if quick { 0 } else { 10u32 } {
        let body = batch(0, 100_000, i);
        if i == 0 {
            println!("a 100,000-host batch is {:.1} MB of JSON", body.len() as f64 / 1e6);
        }
        let t = Instant::now();
        stored_big += post(&http, &url, &token, body).await;
        elapsed += t.elapsed();
    }
    let big_rate = stored_big as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "batches of 100,000 hosts: {stored_big} observations in {:.2}s = {big_rate:.0} obs/s",
        elapsed.as_secs_f64()
    );
    let total = stored + stored_big;
    let rss = common::peak_rss_mb(&daemon.0);
    // PostgreSQL: two agents at once into one daemon, then each into a
    // daemon of its own on the same database (several daemons, issue #15).
    let several = match common::bench_postgres() {
        Some(url) => Some(several_daemons(&http, &base, &daemon_bin, dir.path(), &url, quick).await),
        None => None,
    };
    println!(
        "history: {total} observations; daemon peak RSS {rss:.1} MB (after the 1,000-host batches: {small_rss:.1} MB)"
    );
    let db_mb = common::store_mb(dir.path());
    drop(daemon);
    let target = |ok: bool| if ok { "meets" } else { "MISSES" };
    let flat: String = phases.iter().map(|(b, r, l)| format!("| after {b} batches | {l} | {r:.0} |\n")).collect();
    let (first, last) = (phases.first().map_or(0.0, |p| p.1), phases.last().map_or(0.0, |p| p.1));
    let text = format!(
        "### {} — ingest (cargo bench -p censusd --bench ingest): over HTTP into a release censusd ({}) \
         on 127.0.0.1, reconciliation on, every host an unknown device\n\n\
         | batches | observations | obs/s stored (receipts) | target 50,000 obs/s |\n|---|---|---|---|\n\
         | 1,000 hosts × 1,000 | {stored} | {small_rate:.0} | {} |\n\
         | same, until every batch is reconciled | {stored} | {e2e_rate:.0} | {} |\n\
         | 100,000 hosts × 10 | {stored_big} | {big_rate:.0} | {} |\n\n\
         Flat as live alerts grow (1,000-host batches, per 100 batches; last/first = {:.2}):\n\n\
         | phase | live alerts | obs/s |\n|---|---|---|\n{flat}\n\
         - daemon peak RSS with a {total}-observation history: {rss:.1} MB (target < 200 MB: {}); store {db_mb:.0} MB\n{cpu_line}{}\n",
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        common::store_label(),
        target(small_rate >= 50_000.0),
        target(e2e_rate >= 50_000.0),
        target(big_rate >= 50_000.0),
        last / first,
        target(rss < 200.0),
        several.map_or(String::new(), |(one, two)| format!(
            "- two agents delivering 1,000-host batches at once, on PostgreSQL: into one daemon {one:.0} obs/s; \
             each into a daemon of its own (two daemons, one database) {two:.0} obs/s = {:.2}x one daemon \
             (target 1.6x; target 50,000 obs/s with one: {})\n",
            two / one,
            target(one >= 50_000.0)
        )),
    );
    print!("\n{text}");
    if record {
        let path = common::root().join("bench/RESULTS.md");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        let _ = f.write_all(text.as_bytes());
    }
}

/// Two agents delivering 1,000-host batches at once: both into the daemon
/// at `base`, then each into its own daemon (a second one started on the
/// same PostgreSQL store `url`). Observations stored per second, each way.
async fn several_daemons(
    http: &reqwest::Client,
    base: &str,
    bin: &std::path::Path,
    dir: &std::path::Path,
    url: &str,
    quick: bool,
) -> (f64, f64) {
    let mut tokens = Vec::new();
    for agent in ["east", "west"] {
        let r = http
            .post(format!("{base}/api/v1/agents"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"name": agent, "segments": ["198.18.0.0/15"]}))
            .send()
            .await
            .unwrap();
        tokens.push(r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string());
    }
    let (second, second_base) = common::start_daemon_on(
        bin,
        dir,
        &format!("url = \"{url}\""),
        ADMIN,
        "max_body_mb = 256\n",
        "[reconcile]\nalert_flood_per_hour = 1000000\n",
    )
    .await;
    let per_agent = if quick { 60 } else { 200 };
    let run = |bases: [String; 2], round0: u32| {
        let tokens = tokens.clone();
        async move {
            let t = Instant::now();
            let mut agents = Vec::new();
            for (i, (agent, base)) in ["east", "west"].into_iter().zip(bases).enumerate() {
                let (http, token) = (http.clone(), tokens[i].clone());
                agents.push(tokio::spawn(async move {
                    let mut n = 0;
                    // east: hosts 70,000-89,999; west: 90,000-109,999 (20 segments each).
                    let first = 70_000 + 20_000 * i as u32;
                    for b in 0..per_agent {
                        let body = batch_of(agent, first + (b % 20) * 1000, 1000, round0 + b / 20);
                        n += post(&http, &format!("{base}/api/v1/batches"), &token, body).await;
                    }
                    n
                }));
            }
            let mut n = 0;
            for a in agents {
                n += a.await.unwrap();
            }
            n as f64 / t.elapsed().as_secs_f64()
        }
    };
    let one = run([base.to_string(), base.to_string()], 0).await;
    let two = run([base.to_string(), second_base.clone()], 100).await;
    println!("two agents at once: one daemon {one:.0} obs/s, two daemons {two:.0} obs/s = {:.2}x", two / one);
    drop(second);
    (one, two)
}
