//! What the benchmarks share: the synthetic register and sweeps (every
//! address in 198.18.0.0/15), the release daemon they measure, its memory.
#![allow(dead_code)] // each benchmark uses its part

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use census_proto::{
    HostObservation, MacAddr, MacInfo, NameObservation, NameSource, Port, PortObservation, PortState, Technique,
    TransportProtocol,
};
use censusd::reconcile::{BatchContext, Sighting};
use censusd::register::model::asset_from_json;
use censusd::store::{BatchMeta, ObservationRow, Store, now_ms};

pub mod cpu;
#[path = "../../tests/support/ports.rs"]
mod ports;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The censusd to measure: `CENSUS_BENCH_DAEMON` (a profiling build, say), or the release build, built now.
pub fn daemon_bin() -> PathBuf {
    match std::env::var_os("CENSUS_BENCH_DAEMON") {
        Some(p) => PathBuf::from(p),
        None => {
            let status = Command::new("cargo")
                .args(["build", "--release", "-q", "-p", "censusd"])
                .current_dir(root())
                .status()
                .unwrap();
            assert!(status.success());
            root().join("target/release/censusd")
        }
    }
}

/// A daemon process, killed when dropped — also when the benchmark panics,
/// so none is left running on a deleted database.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `bin serve` on a free 127.0.0.1 port with its database and admin
/// token in `dir`; `server` is more of the `[server]` table, `rest` more
/// tables. Returns the process and its base URL once `/healthz` answers.
pub async fn start_daemon(bin: &Path, dir: &Path, admin: &str, server: &str, rest: &str) -> (Daemon, String) {
    let store = match bench_postgres() {
        Some(url) => format!("url = \"{url}\""),
        None => format!("database = \"{}\"", dir.join("census.db").display()),
    };
    start_daemon_on(bin, dir, &store, admin, server, rest).await
}

/// The environment variable naming a PostgreSQL server to measure instead
/// of SQLite: `CENSUS_BENCH_POSTGRES=postgres://…`.
pub const POSTGRES_ENV: &str = "CENSUS_BENCH_POSTGRES";

/// A new, empty schema on the server [`POSTGRES_ENV`] names (a URL using
/// it), made once per benchmark process; `None` for SQLite.
pub fn bench_postgres() -> Option<String> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())?;
        Some(censusd::store::testing::scratch_url(&url).expect("the benchmark's PostgreSQL server"))
    })
    .clone()
}

/// What the daemons store into, for the figures' headings.
pub fn store_label() -> String {
    let Some(url) = bench_postgres() else { return "SQLite WAL, synchronous=FULL".into() };
    // The synchronous client may not block on the benchmark's runtime thread.
    std::thread::spawn(move || postgres_label(&url)).join().expect("PostgreSQL")
}

fn postgres_label(url: &str) -> String {
    let mut c = censusd::store::postgres_connection(url).expect("PostgreSQL");
    let mut show = |what: &str| -> String {
        c.query_one(&format!("SHOW {what}"), &[]).map(|r| r.get::<_, String>(0)).unwrap_or_default()
    };
    let (version, fsync, commit) = (show("server_version"), show("fsync"), show("synchronous_commit"));
    let row = c
        .query_one(
            "SELECT inet_client_addr() IS NULL, coalesce((SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl), '')",
            &[],
        )
        .expect("PostgreSQL");
    let transport = match (row.get::<_, bool>(0), row.get::<_, String>(1)) {
        (true, _) => "a Unix socket".to_string(),
        (false, tls) if tls.is_empty() => "TCP without TLS".to_string(),
        (false, tls) => format!("TCP with {tls}"),
    };
    format!("PostgreSQL {version} over {transport}, fsync {fsync}, synchronous_commit {commit}")
}

/// Size of the benchmark's store (MB): the SQLite file in `dir`, or the
/// tables and indexes of the PostgreSQL schema.
pub fn store_mb(dir: &Path) -> f64 {
    match bench_postgres() {
        // The synchronous client may not block on the benchmark's runtime thread.
        Some(url) => std::thread::spawn(move || {
            let mut c = censusd::store::postgres_connection(&url).expect("PostgreSQL");
            let row = c
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                    &[],
                )
                .expect("size");
            row.get::<_, i64>(0) as f64 / 1e6
        })
        .join()
        .expect("PostgreSQL"),
        None => std::fs::metadata(dir.join("census.db")).map_or(0.0, |m| m.len() as f64 / 1e6),
    }
}

/// [`start_daemon`] with the `[store]` table's body given (`database = …` or `url = …`).
pub async fn start_daemon_on(
    bin: &Path,
    dir: &Path,
    store: &str,
    admin: &str,
    server: &str,
    rest: &str,
) -> (Daemon, String) {
    let port = ports::unused_port();
    let token_file = dir.join("admin.token");
    std::fs::write(&token_file, admin).unwrap();
    let cfg = dir.join(format!("daemon-{port}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{server}[store]\n{store}\n[auth]\nadmin_token_file = \"{}\"\n{rest}",
            token_file.display()
        ),
    )
    .unwrap();
    let daemon = Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("RUST_LOG", std::env::var("CENSUS_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (Daemon(daemon), base)
}

/// Peak resident memory of `child` (MB), from /proc.
pub fn peak_rss_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Host `n`'s address in 198.18.0.0/15.
pub fn ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n % 131_072)
}

/// Asset `n`'s MAC.
pub fn mac(n: u32) -> MacAddr {
    MacAddr([0x00, 0x1b, 0x21, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

/// `count` register assets `A-0000000`…: every 50th decommissioned, every third a server.
pub fn assets(count: u32) -> Vec<censusd::register::Asset> {
    asset_range(0..count)
}

/// Register assets numbered `range` (see [`assets`]), so a large register
/// is imported in parts without the benchmark holding all of it.
pub fn asset_range(range: std::ops::Range<u32>) -> Vec<censusd::register::Asset> {
    range
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

/// Host `n` as swept at `at`: a registered asset's, or a stranger's when `n % stranger_every == stranger_every - 1`.
pub fn host(n: u32, at: time::OffsetDateTime, stranger_every: u32) -> HostObservation {
    let stranger = n % stranger_every == stranger_every - 1;
    let m = if stranger { MacAddr([0x00, 0x1b, 0x22, (n >> 16) as u8, (n >> 8) as u8, n as u8]) } else { mac(n) };
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
            name: if stranger { format!("stranger-{n}.guest.example") } else { format!("host-{n}.corp.example") },
            source: NameSource::Ptr,
        }],
        fingerprints: vec![],
        ipv6: None,
        first_seen: at,
        last_seen: at,
    }
}

/// Store `count` hosts in batches of 10,000, `sweeps` times a minute apart
/// (ingest only, no reconcile); see [`host`] for `stranger_every`.
pub fn observe(store: &dyn Store, count: u32, sweeps: u32, stranger_every: u32) {
    for s in 0..sweeps {
        let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(i64::from(sweeps - s));
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            let hosts: Vec<HostObservation> = chunk.iter().map(|n| host(*n, at, stranger_every)).collect();
            ingest_batch(store, &hosts, now_ms());
        }
    }
}

/// Store `hosts` as one complete batch of agent `bench` that ended at
/// `finished_ms` (unix ms; also its start and receipt), as the daemon's
/// ingest would; returns the batch's sightings for a reconcile run.
pub fn ingest_batch(store: &dyn Store, hosts: &[HostObservation], finished_ms: i64) -> Vec<Sighting> {
    let raws: Vec<String> = hosts.iter().map(|h| serde_json::to_string(h).unwrap()).collect();
    let ctx = BatchContext {
        segment: "bench".into(),
        agent: "bench".into(),
        batch: uuid::Uuid::new_v4().to_string(),
        probed: Some("22,443".into()),
        enriched: true,
    };
    let sightings: Vec<Sighting> = hosts.iter().map(|h| Sighting::of(h, &ctx)).collect();
    let rows: Vec<ObservationRow<'_>> =
        hosts.iter().zip(&raws).zip(&sightings).map(|((h, r), s)| ObservationRow::new(h, r, s)).collect();
    let meta = BatchMeta {
        batch_id: ctx.batch.clone(),
        agent: "bench".into(),
        segment: "bench".into(),
        started_ms: finished_ms,
        finished_ms,
        received_ms: finished_ms,
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
    sightings
}
