//! A simulated week of sweeps (issue #15, bounded history): generated
//! batches, not a lab. Every host of a register is swept every 5 minutes
//! for `--days` simulated days; each batch is stored and reconciled as the
//! daemon does (ingest, then an incremental run), and every simulated hour
//! raw observations older than the retention period are rolled up into
//! daily summaries, as `censusd serve` does. At the end of each simulated
//! day the benchmark prints the store's size, its raw and summarised rows,
//! the day's ingest and roll-up time and the time of a full reconcile.
//!
//! The claim under test (docs/data-retention.md): once the retention
//! period has passed, neither the store's size nor the reconcile time
//! grows with the number of sweeps. The retention is the shortest the
//! daemon accepts (`1d`) so that a week spans six retention periods; the
//! default `30d` only moves where the curve flattens.
//!
//! Every host answers alike every sweep but for a daily churn: hosts with
//! `n % 1000 == day` open port 8080 that day, so state changes (kept for
//! ever, by design) grow with changes, not with sweeps.
//!
//! Run: `cargo bench -p censusd --bench week` (100,000 hosts, 2,016 sweeps;
//! `-- --hosts N --days D` to scale; `-- --no-record` skips bench/RESULTS.md;
//! `CENSUS_BENCH_POSTGRES=postgres://…` measures PostgreSQL in a scratch schema).

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use census_proto::{Port, PortObservation, PortState, TransportProtocol};
use censusd::config::ReconcileConfig;
use censusd::reconcile::Reconciler;
use censusd::store::{SqliteStore, Store};

/// Minutes between sweeps.
const SWEEP_EVERY_MIN: i64 = 5;
/// Hosts per batch (an agent's batch of one segment).
const BATCH_HOSTS: u32 = 10_000;
/// Every 20th host is a stranger (not in the register).
const STRANGER_EVERY: u32 = 20;
/// Observations rolled up per call, as `censusd serve` does.
const ROLL_UP_BUDGET: usize = 50_000;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// One simulated day's figures.
struct Day {
    day: i64,
    size_mb: f64,
    raw_rows: i64,
    daily_rows: i64,
    ingest_s: f64,
    roll_up_s: f64,
    rolled: u64,
    full_s: f64,
}

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The daemon's allocator (`daemon/src/main.rs`): what is measured here is
/// what `censusd serve` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("simulated-week benchmark: run it with `cargo bench -p censusd --bench week`");
        return;
    }
    let record = !std::env::args().any(|a| a == "--no-record");
    let hosts = u32::try_from(arg("--hosts", 100_000)).expect("--hosts");
    let days = arg("--days", 7);
    let retention_ms = arg("--retention-days", 1) * DAY_MS;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = match common::bench_postgres() {
        Some(url) => Arc::new(censusd::store::PostgresStore::open(&url).expect("the PostgreSQL server")),
        None => Arc::new(SqliteStore::open(&dir.path().join("census.db")).unwrap()),
    };
    let register = common::assets(hosts);
    store.import_assets(&mut |_| Some(register.clone()), "bench", &mut censusd::store::unaudited()).unwrap();
    drop(register);
    let rec = Reconciler::new(store.clone(), &ReconcileConfig::default(), vec![], Arc::new(tokio::sync::Notify::new()));
    // The week ends now: every sighting is in the past, as a real one is.
    let sweeps_a_day = DAY_MS / (SWEEP_EVERY_MIN * MINUTE_MS);
    let start_ms = censusd::store::now_ms() - days * DAY_MS;
    let label = common::store_label();
    println!(
        "{hosts} hosts swept every {SWEEP_EVERY_MIN} min for {days} days ({} sweeps), retention {} d, {label}",
        days * sweeps_a_day,
        retention_ms / DAY_MS
    );
    println!(
        "day | store MB | raw observations | daily summaries | ingest+reconcile s | roll-up s (rows) | full reconcile s"
    );
    let mut out = Vec::new();
    for day in 0..days {
        let (mut ingest_s, mut roll_up_s, mut rolled) = (0.0, 0.0, 0);
        for s in 0..sweeps_a_day {
            let at_ms = start_ms + day * DAY_MS + s * SWEEP_EVERY_MIN * MINUTE_MS;
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).unwrap();
            let t = Instant::now();
            for first in (0..hosts).step_by(BATCH_HOSTS as usize) {
                let batch: Vec<_> = (first..(first + BATCH_HOSTS).min(hosts)).map(|n| swept(n, at, day)).collect();
                let sightings = common::ingest_batch(store.as_ref(), &batch, at_ms);
                rec.after_ingest(&sightings, "bench", at_ms).unwrap();
            }
            ingest_s += t.elapsed().as_secs_f64();
            // Hourly, as `censusd serve` does: everything older than the retention.
            if s % (60 / SWEEP_EVERY_MIN) == 0 {
                let t = Instant::now();
                loop {
                    let r = store.roll_up(at_ms - retention_ms, ROLL_UP_BUDGET).unwrap();
                    rolled += r.observations;
                    if !r.more {
                        break;
                    }
                }
                roll_up_s += t.elapsed().as_secs_f64();
            }
        }
        let end_ms = start_ms + (day + 1) * DAY_MS;
        let t = Instant::now();
        rec.full(end_ms).unwrap();
        let full_s = t.elapsed().as_secs_f64();
        let (raw_rows, daily_rows) = (rows(dir.path(), "observations"), rows(dir.path(), "sightings_daily"));
        let d = Day {
            day: day + 1,
            size_mb: size_mb(dir.path()),
            raw_rows,
            daily_rows,
            ingest_s,
            roll_up_s,
            rolled,
            full_s,
        };
        println!(
            "{} | {:.0} | {} | {} | {:.1} | {:.1} ({}) | {:.2}",
            d.day, d.size_mb, d.raw_rows, d.daily_rows, d.ingest_s, d.roll_up_s, d.rolled, d.full_s
        );
        out.push(d);
    }
    // Flat after the retention: the last day against the first whole day past it.
    let settled = usize::try_from(retention_ms / DAY_MS).unwrap_or(1).min(out.len() - 1);
    let (first, last) = (&out[settled], &out[out.len() - 1]);
    let verdict = format!(
        "after the retention period (day {} to day {}): store size x{:.2}, raw observations x{:.2}, full reconcile x{:.2}, a day's ingest+reconcile x{:.2}",
        first.day,
        last.day,
        last.size_mb / first.size_mb,
        last.raw_rows as f64 / first.raw_rows as f64,
        last.full_s / first.full_s,
        last.ingest_s / first.ingest_s
    );
    println!("{verdict}");
    if record {
        let mut table = String::new();
        for d in &out {
            table.push_str(&format!(
                "| {} | {:.0} | {} | {} | {:.1} | {:.1} ({}) | {:.2} |\n",
                d.day, d.size_mb, d.raw_rows, d.daily_rows, d.ingest_s, d.roll_up_s, d.rolled, d.full_s
            ));
        }
        let path = common::root().join("bench/RESULTS.md");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(
            f,
            "\n## {} — a simulated week (`cargo bench -p censusd --bench week -- --hosts {hosts} --days {days}`), {label}\n\n\
             {hosts} hosts (a register of as many assets, every 20th host a stranger) swept every {SWEEP_EVERY_MIN} minutes for {days} days \
             ({} sweeps, {} observations), batches of {BATCH_HOSTS} stored and reconciled in process; roll-up hourly, retention {} d \
             (the shortest the daemon accepts, so the week spans several retention periods).\n\n\
             | day | store MB | raw observations | daily summaries | ingest+reconcile s | roll-up s (rows) | full reconcile s |\n\
             |---|---|---|---|---|---|---|\n{table}\n- {verdict} (target: flat, x1.00)",
            time::OffsetDateTime::now_utc().date(),
            days * sweeps_a_day,
            days * sweeps_a_day * i64::from(hosts),
            retention_ms / DAY_MS,
        )
        .unwrap();
    }
}

/// Host `n` as swept at `at` on simulated `day`: [`common::host`], with
/// port 8080 open on the hosts whose turn of the daily churn it is.
fn swept(n: u32, at: time::OffsetDateTime, day: i64) -> census_proto::HostObservation {
    let mut h = common::host(n, at, STRANGER_EVERY);
    if i64::from(n % 1000) == day % 1000 {
        h.ports.push(PortObservation {
            port: Port(8080),
            protocol: TransportProtocol::Tcp,
            state: PortState::Open,
            service: None,
        });
    }
    h
}

/// Rows in `table` of the benchmark's store.
fn rows(dir: &std::path::Path, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match common::bench_postgres() {
        Some(url) => {
            let mut c = censusd::store::postgres_connection(&url).expect("PostgreSQL");
            c.query_one(&sql, &[]).expect("count").get::<_, i64>(0)
        }
        None => {
            let c = rusqlite::Connection::open_with_flags(
                dir.join("census.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("the store");
            c.query_row(&sql, [], |r| r.get(0)).expect("count")
        }
    }
}

/// The store's size (MB): the SQLite file and its write-ahead log, or
/// the PostgreSQL schema's tables and indexes.
fn size_mb(dir: &std::path::Path) -> f64 {
    let wal = std::fs::metadata(dir.join("census.db-wal")).map_or(0.0, |m| m.len() as f64 / 1e6);
    common::store_mb(dir) + if common::bench_postgres().is_none() { wal } else { 0.0 }
}
