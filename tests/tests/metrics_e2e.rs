//! End to end: `censusd serve` and `census-agent run` with `[metrics]
//! listen`, as real processes in the lab's scanner namespace; both are
//! scraped over HTTP and the text is parsed by the Prometheus project's own
//! OpenMetrics parser (Python `prometheus_client`, strict), then the figures
//! are checked against what happened: batches delivered and stored, the
//! lab's hosts found and alerted as unknown, a webhook that refuses every
//! delivery piling up its backlog.
//!
//! The parser comes from `CENSUS_PROM_PYTHON` (a Python with
//! `prometheus_client`; `.ci/run` makes one), else `python3`. Without it
//! the test is skipped, unless `CENSUS_REQUIRE_PROM_PARSER` is set.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use census_lab::spec::generated_host;
use census_tests::{Proc, binary, log_values, wait_until};

const PORT: u16 = 18_460;
const DAEMON_METRICS: u16 = 18_461;
const AGENT_METRICS: u16 = 18_462;
const ADMIN: &str = "census_metrics_admin_token";

/// A sample as the parser gives it.
#[derive(Debug)]
struct Sample {
    family_type: String,
    name: String,
    labels: serde_json::Map<String, serde_json::Value>,
    value: f64,
}

fn python() -> Option<String> {
    let py = std::env::var("CENSUS_PROM_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var_os("CENSUS_REQUIRE_PROM_PARSER").is_none(),
        "CENSUS_REQUIRE_PROM_PARSER is set but `{py}` cannot import prometheus_client"
    );
    eprintln!("skipped: no Python with prometheus_client (set CENSUS_PROM_PYTHON)");
    None
}

/// Parse with the real parser; panics with its message when it refuses the text.
fn parse(py: &str, text: &str) -> Vec<Sample> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/openmetrics_parse.py");
    let mut child = Command::new(py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the parser");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|s| Sample {
            family_type: s["type"].as_str().unwrap_or_default().to_string(),
            name: s["name"].as_str().unwrap_or_default().to_string(),
            labels: s["labels"].as_object().cloned().unwrap_or_default(),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `with`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| s.labels.get(*k).and_then(|x| x.as_str()) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|s| s.name == name)
}

/// `GET path` on 127.0.0.1:`port` inside the lab's scanner namespace: (status line, content type, body).
fn get(lab: &census_lab::Lab, port: u16, path: &str) -> Option<(String, String, String)> {
    lab.in_scanner(|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let status = head.lines().next()?.to_string();
        let ctype = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
            .unwrap_or_default();
        Some((status, ctype, body.to_string()))
    })
    .ok()
    .flatten()
}

#[test]
fn daemon_and_agent_metrics_parse_with_the_prometheus_parser_and_tell_what_happened() {
    let Some(py) = python() else { return };
    let Some(lab) = census_lab::build_or_skip((0..3).map(generated_host).collect()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("admin.token"), ADMIN).unwrap();
    // The webhook's port refuses connections: every delivery fails and the backlog grows.
    std::fs::write(
        d.join("daemon.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{PORT}\"\n[store]\ndatabase = \"{}\"\n[auth]\nadmin_token_file = \"{}\"\n\
             [reconcile]\ninterval = \"2s\"\nunknown_after_sightings = 1\n\
             [[notify.webhook]]\nname = \"refusing\"\nurl = \"http://127.0.0.1:9/hook\"\n\
             [metrics]\nlisten = \"{DAEMON_METRICS}\"\n",
            d.join("census.db").display(),
            d.join("admin.token").display()
        ),
    )
    .unwrap();
    let cfg = d.join("daemon.toml");
    let _censusd = Proc::start(
        &lab,
        &binary("censusd"),
        &["--config", cfg.to_str().unwrap(), "serve"],
        &[],
        d.join("censusd.log"),
    );
    let daemon_log = || std::fs::read_to_string(d.join("censusd.log")).unwrap_or_default();
    wait_until("censusd to answer", Duration::from_secs(20), || get(&lab, PORT, "/healthz").is_some(), daemon_log);
    let out = lab
        .scanner_command(binary("censusd"))
        .args(["--url", &format!("http://127.0.0.1:{PORT}"), "agent", "add", "m1", "--segment", &lab.segment()])
        .env("CENSUS_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(d.join("agent.token"), String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let agent_cfg = d.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[agent]\nid = \"m1\"\nstate_dir = \"{}\"\n\
             [daemon]\nurl = \"http://127.0.0.1:{PORT}\"\ntoken_file = \"{}\"\ntimeout = \"5s\"\nretry_max = \"2s\"\n\
             [metrics]\nlisten = \"127.0.0.1:{AGENT_METRICS}\"\n\
             [[segment]]\nname = \"lab \\\"one\\\"\"\ntargets = [\"{}\"]\nexclude = [\"{}\"]\ntechniques = [\"arp\", \"tcp\"]\n\
             ports = \"22,80\"\ninterval = \"2s\"\njitter = \"0s\"\nprobe_timeout = \"300ms\"\nretries = 1\n\
             names = false\nservices = false\nmax_duration = \"20s\"\n",
            d.join("agent").display(),
            d.join("agent.token").display(),
            "198.18.0.0/24",
            lab.scanner_ip(),
        ),
    )
    .unwrap();
    let _agent = Proc::start(
        &lab,
        &binary("census-agent"),
        &["run", "--config", agent_cfg.to_str().unwrap()],
        &[],
        d.join("agent.log"),
    );
    let agent_log = || std::fs::read_to_string(d.join("agent.log")).unwrap_or_default();
    let both_logs = || format!("--- agent\n{}\n--- censusd\n{}", agent_log(), daemon_log());
    wait_until(
        "two deliveries",
        Duration::from_secs(60),
        || log_values(&agent_log(), "batch delivered", "batch").len() >= 2,
        both_logs,
    );
    // Unknown-asset alerts for the lab's hosts, and failed deliveries of their events.
    let daemon_samples = || get(&lab, DAEMON_METRICS, "/metrics").map(|(_, _, body)| parse(&py, &body));
    wait_until(
        "alerts and failed webhook deliveries in the daemon's metrics",
        Duration::from_secs(60),
        || {
            daemon_samples().is_some_and(|s| {
                sum(&s, "census_alerts", &[("kind", "unknown-asset"), ("state", "open")]) >= 3.0
                    && sum(&s, "census_outbox_deliveries_total", &[("sink", "refusing"), ("result", "failed")]) >= 1.0
            })
        },
        both_logs,
    );

    // A delivery with a wrong token is counted as refused.
    let refused = lab
        .in_scanner(|| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", PORT)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
            let req = "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer census_wrong_token_0000000\r\n\
                       Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
            s.write_all(req.as_bytes()).ok()?;
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            Some(out)
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");

    // The daemon.
    let (status, ctype, body) = get(&lab, DAEMON_METRICS, "/metrics").expect("a scrape of censusd");
    assert!(status.contains("200"), "{status}");
    assert!(ctype.starts_with("application/openmetrics-text; version=1.0.0"), "{ctype}");
    let s = parse(&py, &body);
    let delivered = log_values(&agent_log(), "batch delivered", "batch").len() as f64;
    let stored = sum(&s, "census_ingest_batches_total", &[("result", "stored")]);
    assert!(stored >= 2.0 && stored >= delivered, "stored {stored}, delivered before the scrape {delivered}\n{body}");
    assert!(sum(&s, "census_ingest_observations_total", &[]) >= 3.0 * 2.0, "{body}");
    assert_eq!(sum(&s, "census_ingest_batches_total", &[("result", "malformed")]), 0.0);
    assert_eq!(sum(&s, "census_ingest_batches_total", &[("result", "unauthorized")]), 1.0, "{body}");
    // Present at 0 before any such event: every outcome, both reconcile kinds, the configured sink.
    let zero = s.iter().filter(|x| x.name == "census_ingest_batches_total").count();
    assert_eq!(zero, 10, "{body}");
    assert!(
        s.iter().any(|x| x.name == "census_outbox_deliveries_total"
            && x.labels.get("result").and_then(|v| v.as_str()) == Some("delivered")),
        "{body}"
    );
    assert!(sum(&s, "census_ingest_duration_seconds_count", &[]) >= 2.0, "{body}");
    assert!(sum(&s, "census_reconcile_duration_seconds_count", &[("kind", "full")]) >= 1.0, "{body}");
    assert!(sum(&s, "census_reconcile_duration_seconds_count", &[("kind", "incremental")]) >= 1.0, "{body}");
    assert!(sum(&s, "census_outbox_backlog_events", &[("sink", "refusing")]) >= 1.0, "{body}");
    let last = sum(&s, "census_agent_last_batch_timestamp_seconds", &[("agent", "m1")]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 120.0..=now + 5.0).contains(&last), "the last batch at {last}, now {now}");
    assert!(sum(&s, "census_store_connections", &[("role", "reader")]) >= 1.0, "{body}");
    assert_eq!(sum(&s, "census_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    // Every kind × severity × live state is present, zeros included.
    let alert_series = s.iter().filter(|x| x.name == "census_alerts").count();
    assert_eq!(
        alert_series,
        censusd::alerts::AlertKind::ALL.len() * censusd::alerts::Severity::ALL.len() * 3,
        "{body}"
    );
    let families: Vec<(&str, &str)> = s.iter().map(|x| (x.name.as_str(), x.family_type.as_str())).collect();
    assert!(families.contains(&("census_ingest_duration_seconds_bucket", "histogram")), "{families:?}");
    assert!(families.contains(&("census_ingest_batches_total", "counter")), "{families:?}");

    // The agent, with a label that needs escaping.
    let (status, ctype, body) = get(&lab, AGENT_METRICS, "/metrics").expect("a scrape of census-agent");
    assert!(status.contains("200") && ctype.starts_with("application/openmetrics-text"), "{status} {ctype}");
    let a = parse(&py, &body);
    let seg = [("segment", "lab \"one\"")];
    let db = rusqlite::Connection::open(d.join("census.db")).unwrap();
    let completeness: Vec<(bool, String)> = db
        .prepare("SELECT complete, completeness FROM batches")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let complete_stored = completeness.iter().filter(|(c, _)| *c).count() as f64;
    let complete = sum(&a, "census_agent_sweeps_total", &[("segment", "lab \"one\""), ("result", "complete")]);
    let partial = sum(&a, "census_agent_sweeps_total", &[("segment", "lab \"one\""), ("result", "partial")]);
    assert!(complete >= 2.0 && partial == 0.0, "{completeness:?}\n{body}");
    assert!(
        complete >= complete_stored,
        "complete sweeps {complete}, stored {complete_stored}: {completeness:?}\n{body}"
    );
    assert!(sum(&a, "census_agent_sweep_duration_seconds_count", &seg) >= 2.0, "{body}");
    assert!(sum(&a, "census_agent_probes_sent_total", &seg) >= 2.0 * 3.0, "{body}");
    assert!(sum(&a, "census_agent_sweep_hosts", &seg) >= 3.0, "{body}");
    assert!(sum(&a, "census_agent_deliveries_total", &[("result", "delivered")]) >= 2.0, "{body}");
    for name in ["census_agent_spool_batches", "census_agent_spool_bytes", "census_agent_spool_dropped_batches_total"] {
        assert!(has(&a, name), "{name} missing:\n{body}");
    }
    assert_eq!(sum(&a, "census_agent_spool_dropped_batches_total", &[]), 0.0);

    // Nothing but /metrics, and the API's listener does not serve them.
    let (status, _, _) = get(&lab, AGENT_METRICS, "/api/v1/agents").expect("an answer");
    assert!(status.contains("404"), "{status}");
    let (status, _, _) = get(&lab, PORT, "/metrics").expect("an answer");
    assert!(!status.contains("200"), "the API's port must not serve metrics: {status}");
    census_lab::report_checked("metrics_e2e", &lab, lab.hosts().len());
}
