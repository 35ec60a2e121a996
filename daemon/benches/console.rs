//! Console benchmark: a real `censusd serve` (release build) on 127.0.0.1
//! with 100,000 register assets, 100,000 observed hosts and over 10,000
//! open alerts; a signed-in analyst asks for the review queue, the
//! inventory's first page, a search and asset pages, 50 times each.
//!
//! Prints, per page, the server time (the `Server-Timing` header the
//! console sets: request in to page built), p50 and p95, the time seen by
//! the client over loopback, and the page's size; the targets (issue #14)
//! are p95 under 300 ms server time and under 200 KB for the queue's
//! 50 rows. Appends the figures to bench/RESULTS.md.
//!
//! Run: `cargo bench -p censusd --bench console` (`-- --no-record` skips
//! RESULTS.md; `-- --quick` uses 10x smaller sizes).
//! `CENSUS_BENCH_DAEMON=path`: measure that censusd binary.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use censusd::config::ReconcileConfig;
use censusd::people::{Principal, Role};
use censusd::reconcile::Reconciler;
use censusd::store::{SqliteStore, Store, now_ms};

const ADMIN: &str = "census_bench_admin_token";
const PASSWORD: &str = "bench-password-long-enough";
const REQUESTS: usize = 50;

/// Build the register, the sweeps and their alerts in `dir/census.db` the
/// way production does (batches through the ingest use case, each
/// reconciled); returns the live alert count.
fn prepare(dir: &std::path::Path, n: u32) -> usize {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("census.db")).unwrap());
    let list = common::assets(n);
    store.import_assets(&mut |_| Some(list.clone()), "bench", &mut censusd::store::unaudited()).unwrap();
    let admin = Principal::person("admin", Role::Admin);
    censusd::app::agents::add(store.as_ref(), &admin, "bench", &["198.18.0.0/15".into()], now_ms()).unwrap();
    let agent = store.agents().unwrap().into_iter().find(|a| a.name == "bench").unwrap();
    let cfg = ReconcileConfig { alert_flood_per_hour: u32::MAX, ..ReconcileConfig::default() };
    let rec = Reconciler::new(store.clone(), &cfg, vec![], Arc::new(tokio::sync::Notify::new()));
    // Two sweeps a minute apart; every 10th host a stranger, so 10 % of the
    // hosts are unknown devices, each an open alert from its second sighting.
    for sweep in 0..2u32 {
        let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(i64::from(2 - sweep));
        for first in (0..n).step_by(10_000) {
            let hosts: Vec<_> = (first..(first + 10_000).min(n)).map(|i| common::host(i, at, 10)).collect();
            let body = census_proto::encode_batch(&census_proto::Batch {
                schema_version: census_proto::SchemaVersion::CURRENT,
                batch_id: uuid::Uuid::new_v4(),
                agent_id: census_proto::AgentId("bench".into()),
                segment: census_proto::SegmentScope {
                    name: "bench".into(),
                    targets: vec!["198.18.0.0/15".parse().unwrap()],
                    excluded: vec![],
                },
                started_at: at - time::Duration::seconds(30),
                finished_at: at,
                completeness: census_proto::SweepCompleteness {
                    addresses_in_scope: 131_072,
                    probes_sent: 131_072,
                    replies: hosts.len() as u64,
                    estimated_loss: 0.0,
                    rate_limit_pps: 10_000,
                    rate_achieved_pps: 10_000.0,
                    complete: first + 10_000 >= n,
                    techniques: vec![],
                    enriched: true,
                },
                schedule: None,
                hosts,
            });
            censusd::app::ingest::accept(store.as_ref(), &rec, &agent, &body, now_ms()).unwrap();
        }
    }
    rec.full(now_ms()).unwrap();
    censusd::app::people::add(store.as_ref(), &admin, "bench", Role::Analyst, Some(PASSWORD.into()), now_ms()).unwrap();
    let counts = store.alert_counts().unwrap();
    for c in &counts {
        println!("  {} {} {}: {}", c.kind.as_str(), c.state.as_str(), c.severity.as_str(), c.count);
    }
    counts.iter().map(|c| usize::try_from(c.count).unwrap_or(0)).sum()
}

/// Sign in as the bench analyst; returns the `Cookie` header value.
async fn sign_in(base: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name=bench&password={PASSWORD}&next=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// One page's figures.
struct Figures {
    name: &'static str,
    server_p50: f64,
    server_p95: f64,
    client_p95: f64,
    bytes: usize,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)]
}

/// Ask for `paths` (cycled) [`REQUESTS`] times after 5 unmeasured ones;
/// each answer must be a 200 holding `expect` (the page asked for, not a
/// sign-in page or an error).
async fn measure(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    (name, expect): (&'static str, &str),
    paths: &[String],
) -> Figures {
    let (mut server, mut client, mut bytes) = (Vec::new(), Vec::new(), 0);
    for i in 0..REQUESTS + 5 {
        let path = &paths[i % paths.len()];
        let t = Instant::now();
        let r = http.get(format!("{base}{path}")).header("cookie", cookie).send().await.unwrap();
        let status = r.status();
        let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = r.bytes().await.unwrap();
        let dt = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, 200, "{path}");
        assert!(String::from_utf8_lossy(&body).contains(expect), "{path}: no `{expect}` in the page");
        if i < 5 {
            continue;
        }
        let dur = timing.as_deref().and_then(|t| t.split("dur=").nth(1)).and_then(|d| d.parse::<f64>().ok());
        server.push(dur.expect("Server-Timing on a console page"));
        client.push(dt);
        bytes = bytes.max(body.len());
    }
    Figures {
        name,
        server_p50: pct(&mut server, 0.5),
        server_p95: pct(&mut server, 0.95),
        client_p95: pct(&mut client, 0.95),
        bytes,
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("console benchmark: run it with `cargo bench -p censusd --bench console`");
        return;
    }
    let record = !std::env::args().any(|a| a == "--no-record");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scale = if std::env::args().any(|a| a == "--quick") { 10 } else { 1 };
    let n = 100_000 / scale;
    let daemon_bin = common::daemon_bin();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let live = prepare(dir.path(), n);
    println!("prepared {n} assets, {n} observed hosts, {live} live alerts in {:.1} s", t.elapsed().as_secs_f64());
    let (daemon, base) = common::start_daemon(&daemon_bin, dir.path(), ADMIN, "", "").await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Let the start-up reconcile finish: the pages are measured on an idle daemon.
    for _ in 0..1200 {
        let r = http.get(format!("{base}/api/v1/status")).bearer_auth(ADMIN).send().await.unwrap();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        if v["reconcile_queue"].as_i64() == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = sign_in(&base).await;
    let tags: Vec<String> = (0..REQUESTS as u32).map(|i| format!("/inventory/A-{:07}", i * 1_999 % n)).collect();
    let searches = [
        "lifecycle:deployed owner:team-7 seen:<7d port:443",
        "lifecycle:decommissioned seen:<1d",
        "type:server alert:open",
        "host-42",
    ];
    let search_paths: Vec<String> =
        searches.iter().map(|q| format!("/inventory?q={}", censusd::client::seg(q))).collect();
    let figures = [
        measure(&http, &base, &cookie, ("review queue (first 50 rows)", "50 on this page"), &["/".to_string()]).await,
        measure(
            &http,
            &base,
            &cookie,
            ("queue filtered (kind, severity, words)", "50 on this page"),
            &["/?kind=unknown-asset&severity=medium&q=guest".to_string()],
        )
        .await,
        measure(&http, &base, &cookie, ("inventory, first page", "A-0000049"), &["/inventory".to_string()]).await,
        measure(&http, &base, &cookie, ("inventory search (4 queries)", "Next page"), &search_paths).await,
        measure(
            &http,
            &base,
            &cookie,
            ("inventory sorted by owner, page 3", "asset(s) match"),
            &["/inventory?sort=owner&dir=desc&page=3".to_string()],
        )
        .await,
        measure(&http, &base, &cookie, ("asset page (50 assets)", "Timeline"), &tags).await,
    ];
    let rss = common::peak_rss_mb(&daemon.0);
    drop(daemon);
    let mut table = String::from(
        "| page | server p50 | server p95 | client p95 | largest page | target p95 300 ms: ratio |\n|---|---|---|---|---|---|\n",
    );
    for f in &figures {
        println!(
            "{:<40} server p50 {:>7.1} ms  p95 {:>7.1} ms  client p95 {:>7.1} ms  {:>7.1} KB  ratio {:.2}",
            f.name,
            f.server_p50,
            f.server_p95,
            f.client_p95,
            f.bytes as f64 / 1024.0,
            f.server_p95 / 300.0
        );
        table.push_str(&format!(
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} KB | {:.2} |\n",
            f.name,
            f.server_p50,
            f.server_p95,
            f.client_p95,
            f.bytes as f64 / 1024.0,
            f.server_p95 / 300.0
        ));
    }
    let queue_kb = figures[0].bytes as f64 / 1024.0;
    println!(
        "queue HTML for 50 rows: {queue_kb:.1} KB (target < 200 KB: ratio {:.2}); daemon peak RSS {rss:.0} MB",
        queue_kb / 200.0
    );
    if record && scale == 1 {
        let mut f = std::fs::OpenOptions::new().append(true).open(common::root().join("bench/RESULTS.md")).unwrap();
        writeln!(
            f,
            "\n## {} — console (`cargo bench -p censusd --bench console`)\n\n\
             {n} assets, {n} observed hosts, {live} live alerts; release censusd on 127.0.0.1, one signed-in analyst, \
             {REQUESTS} requests a page after 5 unmeasured. Server time is the console's `Server-Timing` (request in to page built).\n\n\
             {table}\n\
             Queue HTML for 50 rows: {queue_kb:.1} KB (target < 200 KB: ratio {:.2}). Daemon peak RSS {rss:.0} MB. \
             No console peer (NetAlertX, Snipe-IT, NetBox) is installable here to run side by side; ratios are against issue #14's targets.",
            time::OffsetDateTime::now_utc().date(),
            queue_kb / 200.0
        )
        .unwrap();
    }
}
