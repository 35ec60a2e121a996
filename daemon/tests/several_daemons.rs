//! Two `censusd serve` processes on one PostgreSQL database, two agents
//! delivering to them in turn, one daemon killed with SIGKILL mid-delivery
//! and started again: every acknowledged batch is stored exactly once, the
//! alerts are those of a single daemon fed the same batches, and every
//! webhook event arrives once. Needs `CENSUS_TEST_POSTGRES` (`.ci/run`
//! starts a server and sets it).
//!
//! The agents are simulated by the test (HTTP with their tokens, as
//! `census-agent` delivers): an agent whose delivery fails resends the same
//! batch to the other daemon, as it would behind a load balancer, and after
//! the kill it also resends the batch it was delivering, receipt or not.
//! Both agents also see three roaming laptops, so both daemons reconcile
//! the same unknown devices concurrently.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use census_proto::{
    AgentId, Batch, HostObservation, MacAddr, MacInfo, Port, PortObservation, PortState, SchemaVersion, SegmentScope,
    SweepCompleteness, Technique, TransportProtocol, Ttl,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_censusd");
const ADMIN: &str = "census_several_daemons_admin";
const ROUNDS: u32 = 10;
/// The round in which b is started again after its kill.
const RESTART: u32 = 7;
/// The round in which b is killed while it receives a batch.
const KILL: u32 = 4;

/// A `censusd serve` process, killed when dropped.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[path = "support/ports.rs"]
mod ports;
use ports::unused_port as free_port;

/// A daemon's configuration: its file and base URL, and its metrics port.
struct Config {
    file: PathBuf,
    base: String,
    metrics: u16,
}

/// Write a daemon configuration storing at `store` (a `[store]` line) with
/// a webhook to `hook` and metrics on a port of its own.
fn config(dir: &Path, name: &str, store: &str, hook: u16) -> Config {
    let (port, metrics) = (free_port(), free_port());
    let token = dir.join("admin.token");
    std::fs::write(&token, ADMIN).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\n{store}\n[auth]\nadmin_token_file = \"{}\"\n\
             [reconcile]\nalert_flood_per_hour = 100000\n\
             [[notify.webhook]]\nname = \"soc\"\nurl = \"http://127.0.0.1:{hook}/hook\"\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics}\"\n",
            token.display()
        ),
    )
    .unwrap();
    Config { file, base: format!("http://127.0.0.1:{port}"), metrics }
}

/// Full reconciles the daemon with metrics on `port` has run.
async fn full_runs(http: &reqwest::Client, port: u16) -> f64 {
    let text = match http.get(format!("http://127.0.0.1:{port}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find(|l| l.starts_with("census_reconcile_duration_seconds_count{kind=\"full\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Wait until the daemon has run `n` full reconciles.
async fn wait_full(cfg: &Config, n: f64) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while full_runs(&http, cfg.metrics).await < n {
        assert!(Instant::now() < deadline, "censusd at {}: no full reconcile number {n}", cfg.base);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start a daemon and wait until it serves and its start's full reconcile
/// is done (so that reconcile sees the same batches in every run).
async fn start(cfg: &Config) -> Serve {
    let child = Command::new(BIN)
        .args(["--config", cfg.file.to_str().unwrap(), "serve"])
        .env("RUST_LOG", "warn")
        .env_remove("CENSUSD_STORE_URL")
        .env_remove("CENSUSD_DATABASE")
        .spawn()
        .unwrap();
    let serve = Serve { child, base: cfg.base.clone() };
    wait_full(cfg, 1.0).await;
    serve
}

/// Webhook events received, with their `x-census-event-id`.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn receiver() -> (u16, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let id = headers.get("x-census-event-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                g.lock().unwrap().push((id, serde_json::from_str(&body).unwrap_or(Value::Null)));
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

/// Host `n` of an agent's segment (`east` .1–.60, `west` .129–.188), or a
/// roaming laptop (`n` 61–63, the same MAC in both segments).
fn host(agent: &str, n: u32, round: u32, at: time::OffsetDateTime) -> HostObservation {
    let (base, mac_byte) = if agent == "east" { (0, 0xe0) } else { (128, 0x0e) };
    let mac =
        if n > 60 { [0x02, 0x00, 0x5e, 0x10, 0x00, n as u8] } else { [0x00, 0x1b, 0x21, mac_byte, 0x00, n as u8] };
    let mut ports = vec![22];
    if n.is_multiple_of(5) && round % 4 == 2 {
        ports.push(8080);
    }
    HostObservation {
        ip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, (base + n) as u8)),
        mac: Some(MacInfo::new(MacAddr(mac))),
        conflicting_macs: vec![],
        seen_by: vec![Technique::Arp],
        rtt_us: Some(100),
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
        names: vec![],
        fingerprints: vec![],
        ipv6: None,
        first_seen: at,
        last_seen: at,
    }
}

/// `agent`'s complete sweep of its /25 in `round`: unregistered hosts come
/// and go, some open a port now and then, the laptops roam.
fn sweep(agent: &str, round: u32, t0: time::OffsetDateTime) -> (String, Vec<u8>) {
    let offset = if agent == "east" { 0 } else { 1 };
    let at = t0 + time::Duration::seconds(i64::from(round * 60 + offset * 30));
    let hosts: Vec<HostObservation> = (1..=63u32)
        .filter(|n| *n <= 10 || !(n + round).is_multiple_of(7))
        .filter(|n| *n <= 60 || (n + round + offset).is_multiple_of(2))
        .map(|n| host(agent, n, round, at))
        .collect();
    let target = if agent == "east" { "198.18.0.0/25" } else { "198.18.0.128/25" };
    let batch = Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: AgentId(agent.into()),
        segment: SegmentScope { name: agent.into(), targets: vec![target.parse().unwrap()], excluded: vec![] },
        started_at: at,
        finished_at: at,
        completeness: SweepCompleteness {
            addresses_in_scope: 126,
            probes_sent: 126,
            replies: hosts.len() as u64,
            estimated_loss: 0.0,
            rate_limit_pps: 1000,
            rate_achieved_pps: 990.0,
            complete: true,
            techniques: vec![],
            enriched: true,
        },
        schedule: None,
        hosts,
    };
    (batch.batch_id.to_string(), census_proto::encode_batch(&batch))
}

/// The register both setups start with: hosts 1–10 of each segment, host 5 decommissioned.
fn register() -> Vec<Value> {
    let mut out = Vec::new();
    for (agent, byte, net) in [("east", 0xe0, "198.18.0.0/25"), ("west", 0x0e, "198.18.0.128/25")] {
        for n in 1..=10u8 {
            out.push(json!({
                "tag": format!("{}-{n:02}", agent.to_uppercase()), "name": format!("{agent} server {n}"),
                "type": "server", "owner": "ops", "lifecycle": if n == 5 { "decommissioned" } else { "deployed" },
                "lifecycle_since": "2026-01-01", "macs": [format!("00:1b:21:{byte:02x}:00:{n:02x}")],
                "expected_segment": net,
            }));
        }
    }
    out
}

async fn admin(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Value {
    let r = http.post(format!("{base}{path}")).bearer_auth(ADMIN).json(body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/api/v1/status")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

/// Set up a daemon's shared state: the register and both agents; their tokens.
async fn provision(http: &reqwest::Client, base: &str) -> HashMap<String, String> {
    for asset in register() {
        admin(http, base, "/api/v1/assets", &asset).await;
    }
    let mut tokens = HashMap::new();
    for (agent, net) in [("east", "198.18.0.0/25"), ("west", "198.18.0.128/25")] {
        let r = admin(http, base, "/api/v1/agents", &json!({"name": agent, "segments": [net]})).await;
        tokens.insert(agent.to_string(), r["token"].as_str().unwrap().to_string());
    }
    tokens
}

/// Deliver a batch; `Some(stored)` when the daemon acknowledged it.
async fn deliver(http: &reqwest::Client, base: &str, token: &str, body: &[u8]) -> Option<Value> {
    let r = http.post(format!("{base}/api/v1/batches")).bearer_auth(token).body(body.to_vec()).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Wait until every stored batch is reconciled and every event delivered.
async fn settle(http: &reqwest::Client, bases: &[&str], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let mut busy = false;
        for base in bases {
            let s = status(http, base).await;
            let backlog: i64 =
                s["notification_backlog"].as_object().map_or(0, |m| m.values().filter_map(Value::as_i64).sum());
            busy |= s["reconcile_queue"].as_i64() != Some(0) || backlog != 0;
        }
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: reconcile queue or notification backlog never emptied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a reviewer compares of the alerts, live and resolved: everything
/// but ids and the times decisions were made.
async fn alerts(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for query in ["limit=10000&include_suppressed=true", "limit=10000&state=resolved"] {
        let list: Vec<Value> = http
            .get(format!("{base}/api/v1/alerts?{query}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(list.iter().map(|a| {
            json!([
                a["kind"],
                a["subject"],
                a["state"],
                a["severity"],
                a["tag"],
                a["ip"],
                a["mac"],
                a["summary"],
                a["first_seen_ms"],
                a["last_seen_ms"],
                a["reopened"]
            ])
        }));
    }
    out.sort_by_key(|v| v.to_string());
    out
}

/// The events received, as (event, kind, subject, state), counted.
fn events(got: &Received) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, e) in got.lock().unwrap().iter() {
        let key = format!("{} {} {} {}", e["event"], e["alert"]["kind"], e["alert"]["subject"], e["alert"]["state"]);
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_database_survive_a_kill_and_agree_with_one() {
    let Some(url) = censusd::store::testing::postgres_url() else {
        assert!(std::env::var_os("CENSUS_REQUIRE_POSTGRES").is_none(), "CENSUS_REQUIRE_POSTGRES without a server");
        eprintln!("skipped: CENSUS_TEST_POSTGRES is not set");
        return;
    };
    let shared_url =
        tokio::task::spawn_blocking(move || censusd::store::testing::scratch_url(&url).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    censusd::client::install_crypto();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let (hook, got) = receiver().await;
    let store = format!("url = \"{shared_url}\"");
    let cfg_a = config(dir.path(), "a", &store, hook);
    let cfg_b = config(dir.path(), "b", &store, hook);
    let a = start(&cfg_a).await;
    let mut b = Some(start(&cfg_b).await);
    let tokens = provision(&http, &a.base).await;
    // The register edits ask a for a full reconcile: let it run before the sweeps come.
    wait_full(&cfg_a, 2.0).await;

    // Deliver the rounds in turn to a and b; kill b while it receives a
    // batch in round KILL, start it again in round RESTART.
    // A sweep a minute, the last one now: no agent is ever silent (that is
    // decided against the wall clock, which this test compresses).
    let t0 = time::OffsetDateTime::now_utc() - time::Duration::minutes(i64::from(ROUNDS));
    let mut acked: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut restarted_at = 0;
    for round in 0..ROUNDS {
        if round == RESTART {
            b = Some(start(&cfg_b).await);
            restarted_at = acked.len();
        }
        // Both agents deliver at once, one to each daemon (in turn); a
        // delivery that fails is resent to a.
        let b_base = b.as_ref().map(|s| s.base.clone());
        let mut deliveries = Vec::new();
        for (i, agent) in ["east", "west"].into_iter().enumerate() {
            let (id, body) = sweep(agent, round, t0);
            let first = if (round as usize + i) % 2 == 1 { b_base.clone() } else { None };
            let (h, a_base, token) = (http.clone(), a.base.clone(), tokens[agent].clone());
            deliveries.push(tokio::spawn(async move {
                let mut receipt = match &first {
                    Some(base) => deliver(&h, base, &token, &body).await,
                    None => None,
                };
                if receipt.is_none() {
                    receipt = deliver(&h, &a_base, &token, &body).await;
                }
                (agent, id, body, receipt)
            }));
        }
        if round == KILL {
            // The kill lands while b is reading, storing or answering its batch.
            tokio::time::sleep(Duration::from_millis(15)).await;
            let mut killed = b.take().expect("b runs");
            killed.child.kill().unwrap();
            killed.child.wait().unwrap();
        }
        for d in deliveries {
            let (agent, id, body, receipt) = d.await.unwrap();
            let receipt = receipt.unwrap_or_else(|| panic!("{agent} round {round}: no daemon acknowledged"));
            assert_eq!(receipt["batch_id"].as_str(), Some(id.as_str()));
            if round == KILL {
                // The agent does not know whether b stored it: it resends, and a
                // acknowledges it again without storing it twice.
                let again = deliver(&http, &a.base, &tokens[agent], &body).await.expect("resent");
                assert_eq!(again["duplicate"], json!(true), "{again}");
            }
            acked.push((agent.to_string(), id, body));
        }
        let mut bases = vec![a.base.as_str()];
        bases.extend(b.as_ref().map(|s| s.base.as_str()));
        settle(&http, &bases, "two daemons").await;
    }
    let b = b.expect("b runs again");
    settle(&http, &[&a.base, &b.base], "two daemons").await;

    // Every acknowledged batch is stored once: its observations once, no more.
    let check_url = shared_url.clone();
    let ids: Vec<String> = acked.iter().map(|(_, id, _)| id.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let mut c = censusd::store::postgres_connection(&check_url).unwrap();
        let stored: Vec<(String, i64, i64)> = c
            .query(
                "SELECT b.batch_id, b.hosts, (SELECT count(*) FROM observations o WHERE o.batch_id = b.batch_id)
                 FROM batches b WHERE b.receiving = 0 ORDER BY b.seq",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let mut stored_ids: Vec<String> = stored.iter().map(|s| s.0.clone()).collect();
        let mut sent = ids.clone();
        stored_ids.sort();
        sent.sort();
        assert_eq!(stored_ids, sent, "the batches stored are exactly those acknowledged");
        for (id, hosts, rows) in &stored {
            assert_eq!(hosts, rows, "batch {id}: each observation stored once");
        }
        let unreconciled: i64 = c.query_one("SELECT count(*) FROM batches WHERE reconciled = 0", &[]).unwrap().get(0);
        assert_eq!(unreconciled, 0);
    })
    .await
    .unwrap();

    // Each webhook event arrived once.
    let two_events = got.lock().unwrap().clone();
    let mut seen = HashMap::new();
    for (id, _) in &two_events {
        *seen.entry(id.clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "events delivered more than once: {twice:?}");
    assert!(!seen.contains_key(""), "every event carries its id");
    let two_alerts = alerts(&http, &a.base).await;
    assert_eq!(two_alerts, alerts(&http, &b.base).await, "both daemons show the same alerts");
    let two_counts = events(&got);
    drop((a, b));

    // One daemon on SQLite fed the same batches in the order they were acknowledged.
    let (hook1, got1) = receiver().await;
    let one_dir = tempfile::tempdir().unwrap();
    let cfg1 =
        config(one_dir.path(), "one", &format!("database = \"{}\"", one_dir.path().join("census.db").display()), hook1);
    let mut one = start(&cfg1).await;
    let tokens1 = provision(&http, &one.base).await;
    wait_full(&cfg1, 2.0).await;
    for (i, round) in acked.chunks(2).enumerate() {
        // Restarted where b was, so its start's full reconcile sees what b's saw.
        if i * 2 == restarted_at {
            drop(one);
            one = start(&cfg1).await;
        }
        let mut deliveries = Vec::new();
        for (agent, id, body) in round {
            let (h, base, token, id, body) =
                (http.clone(), one.base.clone(), tokens1[agent].clone(), id.clone(), body.clone());
            deliveries.push(tokio::spawn(async move {
                let r = deliver(&h, &base, &token, &body).await.expect("the single daemon stores it");
                assert_eq!(r["batch_id"].as_str(), Some(id.as_str()));
            }));
        }
        for d in deliveries {
            d.await.unwrap();
        }
        settle(&http, &[&one.base], "one daemon").await;
    }
    settle(&http, &[&one.base], "one daemon").await;
    let one_alerts = alerts(&http, &one.base).await;
    assert!(one_alerts.len() > 20, "the run raised alerts worth comparing: {one_alerts:#?}");
    for kind in ["unknown-asset", "should-be-retired", "new-service"] {
        assert!(
            one_alerts.iter().any(|a| a[0] == kind),
            "no {kind} alert: {one_alerts}",
            one_alerts = Value::from(one_alerts.clone())
        );
    }
    assert_eq!(two_alerts, one_alerts, "two daemons and a kill decide as one daemon does");
    assert_eq!(two_counts, events(&got1), "the same events reached the webhook");
    assert!(two_events.len() >= one_alerts.len(), "events were sent: {}", two_events.len());
}

/// `/healthz` asks the database: `200` while it answers, `503` once the
/// daemon's database is gone (here its schema is dropped under it), so a
/// load balancer sends the agents elsewhere. Needs `CENSUS_TEST_POSTGRES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_asks_the_database() {
    let Some(url) = censusd::store::testing::postgres_url() else {
        assert!(std::env::var_os("CENSUS_REQUIRE_POSTGRES").is_none(), "CENSUS_REQUIRE_POSTGRES without a server");
        return;
    };
    let scratch =
        tokio::task::spawn_blocking(move || censusd::store::testing::scratch_url(&url).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    censusd::client::install_crypto();
    let cfg = config(dir.path(), "health", &format!("url = \"{scratch}\"\nconnections = 4"), free_port());
    let serve = start(&cfg).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/healthz", serve.base)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "ok\n".to_string()));
    let agent = admin(&http, &serve.base, "/api/v1/agents", &json!({"name": "east", "segments": ["198.18.0.0/25"]}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let metric = |text: &str, line: &str| -> f64 {
        text.lines().find(|l| l.starts_with(line)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
    };
    let scrape = || async {
        let t = Instant::now();
        let text = http.get(format!("http://127.0.0.1:{}/metrics", cfg.metrics)).send().await.unwrap().text().await;
        (t.elapsed(), text.unwrap())
    };

    // Regression (break attempt): while the store did not answer, a scrape
    // waited as long as the store (30 s with the database down), past
    // Prometheus' 10 s scrape timeout, so the metrics vanished during an
    // outage. A table locked by someone else stands for a store that hangs.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let lock_url = scratch.clone();
    let holder = std::thread::spawn(move || {
        let mut c = censusd::store::postgres_connection(&lock_url).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE").unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
    });
    locked_rx.recv().unwrap();
    let (before, _) = scrape().await;
    let (took, text) = scrape().await;
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(took < Duration::from_secs(5) && before < Duration::from_secs(5), "scrapes answer: {before:?} {took:?}");
    assert!(metric(&text, "census_metrics_scrape_errors_total") >= 1.0, "and say the store did not: {text}");
    assert!(text.contains("census_alerts{"), "with the figures read before: {text}");

    let schema = scratch.rsplit("search_path%3D").next().unwrap().to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = censusd::store::postgres_connection(&scratch).unwrap();
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
    })
    .await
    .unwrap();
    let r = http.get(format!("{}/healthz", serve.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("store unavailable") && !body.contains("census_schema"),
        "the reason is logged, not shown: {body}"
    );

    // Regression (break attempt): a delivery whose token could not be
    // checked because the store failed counted as `unauthorized`, so an
    // outage read as an attack on the tokens.
    let (_, body) = sweep("east", 1, time::OffsetDateTime::now_utc());
    assert!(deliver(&http, &serve.base, &agent, &body).await.is_none(), "the store cannot take it");
    let (_, text) = scrape().await;
    assert_eq!(metric(&text, "census_ingest_batches_total{result=\"unauthorized\"}"), 0.0, "{text}");
    assert_eq!(metric(&text, "census_ingest_batches_total{result=\"store_error\"}"), 1.0, "{text}");
}
