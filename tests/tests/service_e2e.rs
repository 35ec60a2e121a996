//! End to end: a lab segment, `censusd serve` and `census-agent run` as real
//! processes in the lab's scanner namespace (so nothing leaves it).
//!
//! The daemon is killed mid-run and restarted: no batch lost, none stored
//! twice. The agent is killed with batches in its spool and restarted: they
//! arrive later. A revoked token stops delivery with a clear log line, and
//! SIGTERM stops the agent within seconds.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use census_lab::spec::generated_host;
use census_tests::{Proc, binary, log_values, spooled, wait_until};

const PORT: u16 = 18_440;
const ADMIN: &str = "census_e2e_admin_token";

fn daemon(lab: &census_lab::Lab, dir: &Path) -> Proc {
    let cfg = dir.join("daemon.toml");
    let log = dir.join("censusd.log");
    let d = Proc::start(lab, &binary("censusd"), &["--config", cfg.to_str().unwrap(), "serve"], &[], log);
    let up = lab
        .in_scanner(|| {
            (0..200).any(|_| {
                let ok = std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok();
                if !ok {
                    std::thread::sleep(Duration::from_millis(50));
                }
                ok
            })
        })
        .unwrap();
    assert!(up, "censusd did not come up:\n{}", d.log_text());
    d
}

fn operator(lab: &census_lab::Lab, args: &[&str]) -> String {
    let out = lab
        .scanner_command(binary("censusd"))
        .args(["--url", &format!("http://127.0.0.1:{PORT}")])
        .args(args)
        .env("CENSUS_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(out.status.success(), "censusd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn batches_survive_daemon_and_agent_kills_exactly_once_and_a_revoked_token_stops_delivery() {
    let Some(lab) = census_lab::build_or_skip((0..4).map(generated_host).collect()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("admin.token"), ADMIN).unwrap();
    std::fs::write(
        d.join("daemon.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{PORT}\"\n[store]\ndatabase = \"{}\"\n[auth]\nadmin_token_file = \"{}\"\n[reconcile]\ninterval = \"2s\"\n",
            d.join("census.db").display(),
            d.join("admin.token").display()
        ),
    )
    .unwrap();
    let mut censusd = daemon(&lab, d);
    let token = operator(&lab, &["agent", "add", "e2e", "--segment", &lab.segment()]);
    std::fs::write(d.join("agent.token"), token.trim()).unwrap();
    let agent_cfg = d.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[agent]\nid = \"e2e\"\nstate_dir = \"{}\"\nspool_max_mb = 16\n\
             [daemon]\nurl = \"http://127.0.0.1:{PORT}\"\ntoken_file = \"{}\"\ntimeout = \"5s\"\nretry_max = \"2s\"\n\
             [[segment]]\nname = \"lab\"\ntargets = [\"{}\"]\nexclude = [\"{}\"]\ntechniques = [\"arp\", \"tcp\"]\n\
             ports = \"22,80,443\"\ninterval = \"2s\"\njitter = \"0s\"\nprobe_timeout = \"300ms\"\nretries = 1\n\
             names = false\nservices = false\nmax_duration = \"20s\"\n",
            d.join("agent").display(),
            d.join("agent.token").display(),
            "198.18.0.0/24",
            lab.scanner_ip(),
        ),
    )
    .unwrap();
    let spool = d.join("agent/spool");
    let start_agent = || {
        Proc::start(
            &lab,
            &binary("census-agent"),
            &["run", "--config", agent_cfg.to_str().unwrap()],
            &[],
            d.join("agent.log"),
        )
    };
    let mut agent = start_agent();
    let log = || std::fs::read_to_string(d.join("agent.log")).unwrap_or_default();
    let delivered = || log_values(&log(), "batch delivered", "batch").len();
    wait_until("two deliveries", Duration::from_secs(60), || delivered() >= 2, log);

    // The daemon dies mid-run: batches pile up in the spool.
    censusd.kill();
    wait_until("two spooled batches while the daemon is down", Duration::from_secs(60), || spooled(&spool) >= 2, log);
    censusd = daemon(&lab, d);
    wait_until("the spool to drain", Duration::from_secs(60), || spooled(&spool) == 0, log);

    // Both die: the agent with batches in its spool.
    censusd.kill();
    wait_until("a spooled batch", Duration::from_secs(60), || spooled(&spool) >= 1, log);
    agent.kill();
    let waiting = spooled(&spool);
    assert!(waiting >= 1);
    censusd = daemon(&lab, d);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(spooled(&spool), waiting, "nothing delivers them while the agent is down");
    agent = start_agent();
    wait_until(
        "the old spool to drain after the agent restarts",
        Duration::from_secs(60),
        || spooled(&spool) == 0,
        log,
    );

    // SIGHUP: a broken configuration is refused and the old one kept; a good one is taken.
    let good = std::fs::read_to_string(&agent_cfg).unwrap();
    std::fs::write(&agent_cfg, good.replace("interval = \"2s\"", "interval = \"soon\"")).unwrap();
    agent.hangup();
    wait_until(
        "the refusal of a bad configuration",
        Duration::from_secs(20),
        || log().contains("the new configuration is refused"),
        log,
    );
    let n = delivered();
    wait_until("deliveries on the old configuration", Duration::from_secs(30), || delivered() > n, log);
    std::fs::write(&agent_cfg, good).unwrap();
    agent.hangup();
    wait_until("the reload", Duration::from_secs(20), || log().contains("configuration reloaded"), log);
    let n = delivered();
    wait_until("deliveries after the reload", Duration::from_secs(30), || delivered() > n, log);
    let before_revoke = delivered();

    // Revoked: delivery stops with a clear line; batches stay spooled.
    operator(&lab, &["agent", "revoke", "e2e"]);
    wait_until("the token refusal", Duration::from_secs(60), || log().contains("refused this agent's token"), log);
    wait_until("a batch kept after the refusal", Duration::from_secs(30), || spooled(&spool) >= 1, log);
    let stop = agent.terminate(Duration::from_secs(10));
    assert!(stop.is_some_and(|t| t < Duration::from_secs(6)), "SIGTERM took {stop:?}");
    assert!(log().contains("census-agent stopped"));
    censusd.terminate(Duration::from_secs(10));

    // Exactly once: every delivered batch stored once, with all its hosts.
    let text = log();
    let spooled_ids: Vec<String> = log_values(&text, "batch spooled", "batch");
    let hosts: Vec<String> = log_values(&text, "batch spooled", "hosts");
    let delivered_ids: BTreeSet<String> = log_values(&text, "batch delivered", "batch").into_iter().collect();
    assert!(delivered_ids.len() >= before_revoke && before_revoke >= 5, "{text}");
    let db = rusqlite::Connection::open(d.join("census.db")).unwrap();
    let stored: Vec<(String, i64)> = db
        .prepare(
            "SELECT b.batch_id, (SELECT count(*) FROM observations o WHERE o.batch_id = b.batch_id) FROM batches b",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let stored_ids: BTreeSet<String> = stored.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(stored_ids.len(), stored.len(), "a batch stored twice");
    assert_eq!(stored_ids, delivered_ids, "every delivered batch stored, nothing else");
    for (id, count) in &stored {
        let i = spooled_ids.iter().position(|s| s == id).expect("stored batch was spooled");
        assert_eq!(count.to_string(), hosts[i], "batch {id}: observations stored vs hosts swept");
    }
    let left = spooled(&spool);
    assert_eq!(spooled_ids.len(), stored.len() + left, "every swept batch is stored or still spooled");
    assert!(stored.iter().all(|(_, c)| *c >= 3), "each sweep found the lab hosts: {stored:?}");
    census_lab::report_checked("service_e2e", &lab, lab.hosts().len());
}
