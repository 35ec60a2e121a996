//! A hostile agent and a stranger against a real `censusd serve` process:
//! nothing outside the hostile agent's segment changes, the daemon stays
//! small and keeps answering, and another agent's ingest keeps its pace.
//! The figures are printed (and go to bench/RESULTS.md by hand); the bounds
//! are asserted with a wide margin.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use census_proto::{Batch, HostObservation, MacAddr, MacInfo, NameObservation, NameSource, Technique, encode_batch};
use serde_json::json;

#[path = "support/ports.rs"]
mod ports;

const BIN: &str = env!("CARGO_BIN_EXE_censusd");
const ADMIN: &str = "census_hardening_admin_token";

struct Serve {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(reconcile: &str) -> Serve {
        Serve::start_with(reconcile, None)
    }

    /// Started with its open-files limit (soft and hard) at `nofile`, when given.
    fn start_with(reconcile: &str, nofile: Option<u64>) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let port = ports::unused_port();
        let token = dir.path().join("admin.token");
        std::fs::write(&token, ADMIN).unwrap();
        let cfg = dir.path().join("daemon.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\ndatabase = \"{}\"\n[auth]\nadmin_token_file = \"{}\"\n[reconcile]\n{reconcile}\n",
                dir.path().join("census.db").display(),
                token.display()
            ),
        )
        .unwrap();
        // CENSUS_TEST_LOG=filter:file keeps the daemon's log for a look at where the time went.
        let (filter, log) = match std::env::var("CENSUS_TEST_LOG")
            .ok()
            .and_then(|v| v.rsplit_once(':').map(|(a, b)| (a.to_string(), b.to_string())))
        {
            Some((f, path)) => (f, Stdio::from(std::fs::File::create(path).unwrap())),
            None => ("error".to_string(), Stdio::null()),
        };
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .env("RUST_LOG", filter)
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("censusd exited before listening on {port}: {status}");
            }
            assert!(Instant::now() < deadline, "censusd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Serve { child, port, _dir: dir }
    }

    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn http() -> reqwest::blocking::Client {
    censusd::client::install_crypto();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn admin(s: &Serve, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
    let mut r = http().request(method, s.url(path)).bearer_auth(ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

fn add_agent(s: &Serve, name: &str, segment: &str) -> String {
    let (status, v) =
        admin(s, reqwest::Method::POST, "/api/v1/agents", Some(json!({"name": name, "segments": [segment]})));
    assert_eq!(status, 201, "{v}");
    v["token"].as_str().unwrap().to_string()
}

fn host(ip: Ipv4Addr, mac: [u8; 6], names: usize) -> HostObservation {
    let now = time::OffsetDateTime::now_utc();
    HostObservation {
        ip: ip.into(),
        mac: Some(MacInfo { vendor: Some("Intel Corporate".into()), ..MacInfo::new(MacAddr(mac)) }),
        conflicting_macs: vec![],
        seen_by: vec![Technique::Arp],
        rtt_us: Some(100),
        reply_ttl: None,
        syn_ack: None,
        ports: vec![],
        names: (0..names)
            .map(|i| NameObservation { name: format!("n{i}-{}", "x".repeat(200)), source: NameSource::Mdns })
            .collect(),
        fingerprints: vec![],
        ipv6: None,
        first_seen: now,
        last_seen: now,
    }
}

fn batch(agent: &str, segment: &str, hosts: Vec<HostObservation>) -> Batch {
    let now = time::OffsetDateTime::now_utc();
    Batch {
        schema_version: census_proto::SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: census_proto::AgentId(agent.into()),
        segment: census_proto::SegmentScope {
            name: "seg".into(),
            targets: vec![segment.parse().unwrap()],
            excluded: vec![],
        },
        started_at: now - time::Duration::seconds(2),
        finished_at: now,
        completeness: census_proto::SweepCompleteness {
            addresses_in_scope: 254,
            probes_sent: 254,
            replies: hosts.len() as u64,
            estimated_loss: 0.0,
            rate_limit_pps: 1000,
            rate_achieved_pps: 1000.0,
            complete: true,
            techniques: vec![],
            enriched: true,
        },
        schedule: None,
        hosts,
    }
}

/// Deliver a batch as an agent does: one client per agent (here, per
/// thread), its connection kept alive between deliveries — so the time
/// measured is the daemon's, not a new client's TLS set-up and thread.
fn post(base: &str, token: &str, body: Vec<u8>) -> (u16, serde_json::Value, Duration) {
    thread_local! {
        static AGENT: reqwest::blocking::Client = http();
    }
    let t = Instant::now();
    let r = AGENT.with(|c| c.post(format!("{base}/api/v1/batches")).bearer_auth(token).body(body).send()).unwrap();
    let status = r.status().as_u16();
    let v = r.json().unwrap_or(serde_json::Value::Null);
    (status, v, t.elapsed())
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[((v.len() as f64) * 0.99) as usize - 1]
}

/// Agent B's steady sweeps: 50 hosts of 198.18.0.0/24, SRV-B1 among them.
fn good_batch() -> Vec<u8> {
    let hosts = (1..=50).map(|i| host(Ipv4Addr::new(198, 18, 0, i), [0, 0x1b, 0x21, 0, 0, i], 1)).collect();
    encode_batch(&batch("good", "198.18.0.0/24", hosts))
}

/// Deliveries of the good agent measured quiet, and again under attack.
const SAMPLES: usize = 1000;
/// Floods of 4,000 new devices at most after the scripted attack.
const FLOOD_ROUNDS: u32 = 40;

/// The two attacks run one at a time: each measures latency and memory, and
/// the other's load on the same two cores would be counted as its own.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_hostile_agent_changes_nothing_outside_its_segment_and_cannot_slow_another_agent_down() {
    let _alone = ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = Serve::start("alert_flood_per_hour = 500");
    let (st, v) = admin(
        &s,
        reqwest::Method::POST,
        "/api/v1/assets",
        Some(json!({"tag": "SRV-B1", "name": "B's server", "type": "server", "lifecycle": "deployed",
                    "macs": ["00:1b:21:00:00:01"], "expected_segment": "198.18.0.0/24"})),
    );
    assert_eq!(st, 201, "{v}");
    let good = add_agent(&s, "good", "198.18.0.0/24");
    let evil = add_agent(&s, "evil", "198.18.16.0/20");
    let base = s.url("");
    // Quiet: B alone, as many deliveries as it makes under attack below.
    let quiet_bodies: Vec<Vec<u8>> = (0..SAMPLES).map(|_| good_batch()).collect();
    let quiet: Vec<Duration> = quiet_bodies.into_iter().map(|b| post(&base, &good, b).2).collect();
    let (quiet_p99, quiet_rss) = (p99(quiet), s.peak_rss_mb());

    // The attack, built first (so this test's own encoding does not compete
    // for the CPU), then sent from another thread while B keeps sweeping.
    let ip = |n: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 16, 0)) + n);
    let seg = "198.18.16.0/20";
    let mut attack: Vec<(&'static str, Vec<u8>)> = Vec::new();
    // 1. A 1 MiB segment name, and 4,000 hosts with long names.
    let mut b = batch("evil", seg, vec![host(ip(1), [0, 0x1b, 0x21, 9, 0, 1], 1)]);
    b.segment.name = "s".repeat(1 << 20);
    attack.push(("1 MiB segment name", encode_batch(&b)));
    let many = (0..4000u32).map(|n| host(ip(n), [0, 0x1b, 0x21, 9, (n >> 8) as u8, n as u8], 3)).collect();
    attack.push(("4,000 hosts with long names", encode_batch(&batch("evil", seg, many))));
    // 4. A flood of unknown devices: every address, twice each, new MACs each pair of rounds.
    for round in 0..4u32 {
        let hosts =
            (0..4000u32).map(|n| host(ip(n), [0, 0x1c, (round / 2) as u8, 8, (n >> 8) as u8, n as u8], 0)).collect();
        attack.push(("device flood", encode_batch(&batch("evil", seg, hosts))));
    }
    // 6. A complete, empty sweep of everything, dated 2000 to 2099, and one dated now.
    let mut b = batch("evil", "0.0.0.0/0", vec![]);
    b.started_at = time::macros::datetime!(2000-01-01 00:00 UTC);
    b.finished_at = time::macros::datetime!(2099-01-01 00:00 UTC);
    attack.push(("everything swept, 2000-2099", encode_batch(&b)));
    attack.push(("everything swept, now", encode_batch(&batch("evil", "0.0.0.0/0", vec![]))));
    // 7. A host from the year 9999.
    let mut h = host(ip(7), [0, 0x1b, 0x21, 7, 7, 7], 0);
    h.first_seen = time::macros::datetime!(9999-12-31 00:00 UTC);
    h.last_seen = h.first_seen;
    let mut b = batch("evil", seg, vec![h]);
    b.started_at = time::macros::datetime!(9999-12-30 23:00 UTC);
    b.finished_at = time::macros::datetime!(9999-12-31 00:00 UTC);
    attack.push(("year 9999", encode_batch(&b)));
    // 9. Out of range: loss 5, finished before started.
    let mut b = batch("evil", seg, vec![host(ip(9), [0, 0x1b, 0x21, 9, 9, 9], 0)]);
    b.completeness.estimated_loss = 5.0;
    attack.push(("estimated loss 5", encode_batch(&b)));
    let mut b = batch("evil", seg, vec![host(ip(9), [0, 0x1b, 0x21, 9, 9, 9], 0)]);
    b.finished_at = b.started_at - time::Duration::seconds(1);
    attack.push(("finished before started", encode_batch(&b)));
    // 10. Broadcast, multicast and zero MACs; an IPv4-mapped address.
    let bad_macs = [[0xff; 6], [1, 0, 0x5e, 0, 0, 1], [0; 6]];
    let mut hosts: Vec<HostObservation> =
        bad_macs.iter().enumerate().map(|(i, m)| host(ip(100 + i as u32), *m, 0)).collect();
    let mut mapped = host(ip(200), [0, 0x1b, 0x21, 2, 0, 0], 0);
    mapped.ip = "::ffff:198.18.16.200".parse().unwrap();
    hosts.push(mapped);
    attack.push(("group MACs and a mapped address", encode_batch(&batch("evil", seg, hosts))));
    // Then the flood goes on (new MACs each round, as a persistent attacker
    // would) until B has made SAMPLES deliveries under attack: a p99 needs
    // more than the second-slowest of a one-second burst.
    let more_floods: Vec<Vec<u8>> = (4..4 + FLOOD_ROUNDS)
        .map(|round| {
            let hosts =
                (0..4000u32).map(|n| host(ip(n), [0, 0x1d, round as u8, 8, (n >> 8) as u8, n as u8], 0)).collect();
            encode_batch(&batch("evil", seg, hosts))
        })
        .collect();
    // Each of B's deliveries a new batch, as quiet: a resent one is answered
    // as a duplicate without being stored, and would flatter the figure.
    let bodies: Vec<Vec<u8>> = (0..SAMPLES + SAMPLES / 4).map(|_| good_batch()).collect();
    let (evil_base, evil_token) = (base.clone(), evil.clone());
    let enough = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = enough.clone();
    let attack = std::thread::spawn(move || {
        let outcomes: Vec<_> =
            attack.into_iter().map(|(what, body)| (what, post(&evil_base, &evil_token, body))).collect();
        let mut floods = 0;
        for body in more_floods {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            assert_eq!(post(&evil_base, &evil_token, body).0, 200);
            floods += 1;
        }
        (outcomes, floods)
    });
    let mut loaded = Vec::new();
    let mut next = bodies.into_iter();
    while !attack.is_finished() {
        let (status, answer, took) = post(&base, &good, next.next().unwrap_or_else(good_batch));
        assert_eq!((status, &answer["duplicate"]), (200, &json!(false)), "{answer}");
        loaded.push(took);
        if loaded.len() >= SAMPLES {
            enough.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let (outcomes, floods) = attack.join().unwrap();
    println!("hostile: {floods} more floods of 4,000 new devices while B delivered {} batches", loaded.len());
    assert!(loaded.len() >= SAMPLES / 2, "B delivered too little under attack to measure: {}", loaded.len());
    // 8. Agent B's batch id, reused by the hostile agent.
    let b = batch("good", "198.18.0.0/24", vec![]);
    assert_eq!(post(&base, &good, encode_batch(&b)).0, 200);
    let mut stolen = batch("evil", "198.18.16.0/20", vec![]);
    stolen.batch_id = b.batch_id;
    let (st, v, _) = post(&base, &evil, encode_batch(&stolen));
    assert_eq!(st, 409, "a batch id belongs to the agent that sent it first: {v}");

    for (what, (status, answer, _)) in &outcomes {
        println!("hostile: {what}: {status} {}", answer.to_string().chars().take(160).collect::<String>());
    }
    let answer = |what: &str| outcomes.iter().find(|(w, _)| *w == what).map(|(_, r)| r.clone()).unwrap();
    assert_eq!(answer("1 MiB segment name").0, 400);
    assert_eq!(answer("4,000 hosts with long names").0, 200);
    assert_eq!(answer("estimated loss 5").0, 400);
    assert_eq!(answer("finished before started").0, 400);
    assert_eq!(answer("everything swept, 2000-2099").0, 400, "a sweep longer than a week is refused");
    assert!(answer("year 9999").1["clamped"].as_bool().unwrap(), "a batch from the future is clamped and flagged");
    let mapped = answer("group MACs and a mapped address").1;
    assert_eq!(mapped["rejected"].as_array().map(Vec::len), Some(3), "{mapped}");
    assert_eq!(mapped["stored"], 1);
    // Nothing outside the hostile agent's segment changed.
    let (_, reconciled) = admin(&s, reqwest::Method::POST, "/api/v1/reconcile", None);
    let (_, alerts) = admin(&s, reqwest::Method::GET, "/api/v1/alerts?limit=10000", None);
    let alerts = alerts.as_array().unwrap().clone();
    let evil_net: ipnet::IpNet = "198.18.16.0/20".parse().unwrap();
    let brief = |a: &serde_json::Value| format!("{} {} {}", a["kind"], a["subject"], a["agent"]);
    for a in &alerts {
        if a["agent"] == "evil" {
            let inside = a["ip"]
                .as_str()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| evil_net.contains(&ip));
            assert!(
                inside || a["subject"] == "agent:evil",
                "the hostile agent reached outside its segment: {}",
                brief(a)
            );
        }
        assert_ne!(a["kind"], "missing", "nothing is missing for the hostile agent's sweeps: {}", brief(a));
    }
    assert!(alerts.iter().any(|a| a["kind"] == "alert-flood" && a["subject"] == "agent:evil"), "{reconciled}");
    let evil_devices = alerts.iter().filter(|a| a["kind"] == "unknown-asset" && a["agent"] == "evil").count();
    assert!(evil_devices <= 500, "the hourly budget holds: {evil_devices}");
    let (_, host) = admin(&s, reqwest::Method::GET, "/api/v1/hosts/198.18.0.1", None);
    assert_eq!(host["last_agent"], "good");
    let (st, _) = admin(&s, reqwest::Method::GET, "/api/v1/hosts/198.18.16.200", None);
    assert_eq!(st, 200, "::ffff:198.18.16.200 is stored as 198.18.16.200");
    let (_, future) = admin(&s, reqwest::Method::GET, "/api/v1/hosts/198.18.16.7", None);
    assert!(
        future["last_seen_ms"].as_i64().unwrap() <= time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 1000,
        "a host from the future is clamped to its arrival: {future}"
    );
    let rss = s.peak_rss_mb();
    let loaded_p99 = p99(loaded.clone());
    println!(
        "hostile agent: good agent's ingest p99 {:.1} ms quiet, {:.1} ms under attack ({:.2}x, {} batches); daemon peak RSS {quiet_rss:.0} MB quiet, {rss:.0} MB after",
        quiet_p99.as_secs_f64() * 1000.0,
        loaded_p99.as_secs_f64() * 1000.0,
        loaded_p99.as_secs_f64() / quiet_p99.as_secs_f64(),
        loaded.len()
    );
    assert!(rss < 300.0, "daemon peak RSS {rss:.0} MB");
    assert!(
        // A wide margin for a debug build sharing two cores with the attack
        // (3.57x was seen once on a slow day); release figures are in bench/RESULTS.md.
        loaded_p99 <= quiet_p99 * 3 + Duration::from_millis(50),
        "the good agent's p99 went from {quiet_p99:?} to {loaded_p99:?}"
    );
}

/// An agent holding many deliveries open at once (here: bodies it never
/// finishes sending) gets `429` and a `Retry-After` for the next, before
/// its body is read; another agent's delivery is not affected, and the
/// agent's own go through again once its connections end.
#[test]
fn an_agent_with_too_many_deliveries_at_once_is_told_to_wait_and_others_are_not() {
    use std::io::Write as _;
    let _alone = ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = Serve::start("");
    let good = add_agent(&s, "good", "198.18.0.0/24");
    let evil = add_agent(&s, "evil", "198.18.16.0/20");
    let base = s.url("");
    let body = encode_batch(&batch(
        "evil",
        "198.18.16.0/20",
        vec![host(Ipv4Addr::new(198, 18, 16, 1), [0, 0x1b, 0x21, 9, 9, 1], 0)],
    ));
    // Eight deliveries whose bodies stop half-way: each holds a place.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            write!(
                c,
                "POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {evil}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .unwrap();
            c.write_all(&body[..body.len() / 2]).unwrap();
            c
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let r = http().post(format!("{base}/api/v1/batches")).bearer_auth(&evil).body(body.clone()).send().unwrap();
        if r.status() == 429 {
            break r;
        }
        assert!(Instant::now() < deadline, "no delivery was refused with eight held open: {}", r.status());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let why: serde_json::Value = refused.json().unwrap();
    assert!(why["error"].as_str().unwrap_or_default().contains("in flight"), "{why}");
    let (status, receipt, _) = post(&base, &good, good_batch());
    assert_eq!(status, 200, "another agent delivers as before: {receipt}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, receipt, _) = post(&base, &evil, body.clone());
        if status == 200 {
            assert_eq!(receipt["stored"], 1, "{receipt}");
            break;
        }
        assert_eq!(status, 429, "{receipt}");
        assert!(Instant::now() < deadline, "the agent's places were not given back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Regression: `POST /api/v1/login` needs no token and read bodies up to the
/// 64 MB limit (40 stalled 60 MB sign-ins took the daemon to 2.4 GB), and
/// sign-ins sent all at once passed the per-address limit (200 password
/// checks, no 429). A stranger's body is refused from its length; of
/// attempts sent together, no more than the limit are checked.
#[test]
fn a_stranger_cannot_send_large_sign_ins_nor_pass_the_sign_in_limit_by_sending_at_once() {
    use std::io::{Read as _, Write as _};
    let _alone = ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = Serve::start("");
    for path in ["/api/v1/login", "/login", "/alerts/act"] {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        write!(
            c,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{{\"name\":\"aaaa"
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = [0u8; 64];
        let n = c.read(&mut answer).unwrap_or(0);
        let head = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 413"), "{path}: {head:?}");
    }
    let base = s.url("");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let tries: Vec<_> = (0..60)
            .map(|i| {
                let base = &base;
                scope.spawn(move || {
                    http()
                        .post(format!("{base}/api/v1/login"))
                        .json(&json!({"name": format!("burst{i}"), "password": "x"}))
                        .send()
                        .map_or(0, |r| r.status().as_u16())
                })
            })
            .collect();
        tries.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let paused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + paused, 60, "{statuses:?}");
    assert!(checked <= 20, "{checked} password checks passed the 20-a-minute limit from one address");
}

/// Regression: with a low open-files limit (256: a connection cap of 128),
/// 2,000 connections with half-sent headers made accept fail for want of
/// descriptors; connections evicted to make room before they had first run
/// were never counted out, the count stayed at the cap, and every later
/// connection — `/healthz`, agents — was refused for good.
#[test]
fn a_flood_of_half_open_connections_at_a_low_descriptor_limit_leaves_the_daemon_answering_after() {
    use std::io::Write as _;
    let _alone = ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    raise_nofile();
    let s = Serve::start_with("", Some(256));
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", s.port)) {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHo");
            half_open.push(c);
        }
    }
    // Past the header timeout: the daemon has cut them off (or is about to).
    std::thread::sleep(Duration::from_secs(12));
    drop(half_open);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http().get(s.url("/healthz")).timeout(Duration::from_secs(2)).send();
        if r.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon still refuses connections after the flood: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Raise this process's descriptor limit for 2,000 connections.
fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(65_536), hard);
    }
}

#[test]
fn a_stranger_cannot_make_the_daemon_hold_bodies_or_connections() {
    let _alone = ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    raise_nofile();
    let s = Serve::start("");
    // What the daemon itself takes before the attack (a debug binary's code
    // and runtime vary with what it links): the attack may add little to it.
    let _ = http().get(s.url("/healthz")).timeout(Duration::from_secs(5)).send();
    let base = s.peak_rss_mb();
    // 16 x 60 MB to an admin route with a wrong token, all at once.
    let port = s.port;
    let senders: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || -> Option<u16> {
                let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
                c.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
                c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                let head = format!(
                    "POST /api/v1/assets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer census_wrong\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    60 << 20
                );
                c.write_all(head.as_bytes()).ok()?;
                let chunk = vec![b' '; 1 << 20];
                for _ in 0..60 {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let mut answer = [0u8; 64];
                let n = c.read(&mut answer).ok()?;
                String::from_utf8_lossy(&answer[..n]).split_whitespace().nth(1)?.parse().ok()
            })
        })
        .collect();
    for t in senders {
        if let Some(code) = t.join().unwrap() {
            assert_eq!(code, 401);
        }
    }
    // 2,000 connections that never finish their headers.
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.write_all(b"POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n");
            half_open.push(c);
        }
    }
    let t = Instant::now();
    let r = http().get(s.url("/healthz")).timeout(Duration::from_secs(5)).send().unwrap();
    let healthz = t.elapsed();
    assert_eq!(r.status(), 200);
    let rss = s.peak_rss_mb();
    println!(
        "stranger: 16 x 60 MB refused, {} half-open connections: /healthz in {:.1} ms, daemon peak RSS {rss:.0} MB ({base:.0} MB before)",
        half_open.len(),
        healthz.as_secs_f64() * 1000.0
    );
    assert!(healthz < Duration::from_secs(1), "/healthz took {healthz:?}");
    assert!(rss - base < 80.0, "daemon peak RSS {rss:.0} MB, {base:.0} MB before the attack (960 MB were sent)");
    // Half-sent requests are cut off after the header timeout.
    std::thread::sleep(censusd::api::serve::HEADER_TIMEOUT + Duration::from_secs(1));
    let mut c = half_open.pop().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 256];
    let closed = match c.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "a connection with half-sent headers is closed after the header timeout");
}
