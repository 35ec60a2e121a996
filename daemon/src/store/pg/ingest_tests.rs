//! The PostgreSQL ingest, backlog and roll-up held to SQLite's: the same
//! deliveries stored in both (new hosts, changes, a late spooled batch,
//! passive sightings, an address listed twice, a batch stored in parts,
//! certificates) leave the same rows in every table ingest writes, answer
//! the same, and roll up the same. Run when `CENSUS_TEST_POSTGRES` names a
//! server (skipped otherwise).

use census_proto::{
    FingerprintGuess, FingerprintKind, HostObservation, MacAddr, MacInfo, NameObservation, NameSource, PortObservation,
    PortState, ServiceEvidence, Technique, TlsCertificate, TransportProtocol,
};

use super::PostgresStore;
use crate::ingest::{BatchMeta, ObservationRow};
use crate::reconcile::{BatchContext, Sighting};
use crate::store::prelude::*;
use crate::store::{BacklogCursor, SqliteStore};

const T0: i64 = 1_780_000_000_000;

fn t(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

/// What one host answered, for [`obs`].
#[derive(Clone, Copy, Default)]
struct H {
    ip: &'static str,
    mac: Option<u8>,
    ports: &'static [u16],
    tls: Option<(u16, &'static str)>,
    names: &'static [(&'static str, NameSource)],
    os: Option<&'static str>,
    passive: bool,
}

fn obs(h: &H, at_ms: i64) -> HostObservation {
    let tls = |port: u16| {
        h.tls.filter(|(p, _)| *p == port).map(|(_, sha)| {
            Box::new(ServiceEvidence {
                tls: Some(TlsCertificate {
                    subject: "CN=x".into(),
                    sans: vec![],
                    issuer: "CN=ca".into(),
                    not_before: t(0),
                    not_after: t(T0 * 2),
                    sha256: sha.into(),
                    serial: None,
                    key: None,
                    signature: None,
                }),
                ..Default::default()
            })
        })
    };
    HostObservation {
        ip: h.ip.parse().unwrap(),
        mac: h.mac.map(|m| MacInfo::new(MacAddr([0, 0x1b, 0x21, 0, 0, m]))),
        conflicting_macs: vec![],
        seen_by: vec![if h.passive { Technique::Passive } else { Technique::Arp }],
        rtt_us: None,
        reply_ttl: None,
        syn_ack: None,
        ports: h
            .ports
            .iter()
            .map(|p| PortObservation {
                port: census_proto::Port(*p),
                protocol: TransportProtocol::Tcp,
                state: PortState::Open,
                service: tls(*p),
            })
            .collect(),
        names: h.names.iter().map(|(n, source)| NameObservation { name: (*n).into(), source: *source }).collect(),
        fingerprints: h
            .os
            .map(|v| FingerprintGuess {
                kind: FingerprintKind::OsFamily,
                value: v.into(),
                confidence: 0.9,
                evidence: vec![],
            })
            .into_iter()
            .collect(),
        ipv6: None,
        first_seen: t(at_ms - 1_000),
        last_seen: t(at_ms),
    }
}

/// A delivery: its metadata, and each host's observation as sent with its sighting.
struct Delivery {
    meta: BatchMeta,
    hosts: Vec<(String, Sighting, HostObservation)>,
}

impl Delivery {
    fn new(id: &str, agent: &str, at_ms: i64, hosts: &[H]) -> Delivery {
        let ctx = BatchContext {
            segment: "lab".into(),
            agent: agent.into(),
            batch: id.into(),
            probed: None,
            enriched: false,
        };
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let o = obs(h, at_ms + i as i64 % 7);
                (serde_json::to_string(&o).unwrap(), Sighting::of(&o, &ctx), o)
            })
            .collect::<Vec<_>>();
        let meta = BatchMeta {
            batch_id: id.into(),
            agent: agent.into(),
            segment: "lab".into(),
            started_ms: at_ms - 5_000,
            finished_ms: at_ms + 10,
            received_ms: at_ms + 100,
            clamped: false,
            complete: !hosts.iter().any(|h| h.1.passive),
            completeness: r#"{"enriched":false}"#.into(),
            total_hosts: hosts.len() + 1,
            targets: r#"["198.18.0.0/16"]"#.into(),
            excluded: "[]".into(),
            probed: None,
            interval_ms: Some(60_000),
            next_due_ms: None,
        };
        Delivery { meta, hosts }
    }

    fn rows(&self) -> Vec<ObservationRow<'_>> {
        self.hosts.iter().map(|(raw, s, o)| ObservationRow::new(o, raw, s)).collect()
    }
}

fn pg() -> Option<PostgresStore> {
    let url = crate::store::testing::postgres_url()?;
    Some(PostgresStore::open_scratch(&url).unwrap())
}

/// Every table ingest and the roll-up write, each row as text, in a stable order.
const TABLES: &[(&str, &str, bool)] = &[
    (
        "batches",
        "batch_id, agent, segment, started_ms, finished_ms, received_ms, complete, completeness, hosts, rejected, targets, excluded, scope_id, probed, clamped, interval_ms, next_due_ms, reconciled, receiving, seq, stored_rows, first_obs, last_obs, rolled_up, rolled_to",
        false,
    ),
    ("scopes", "id, agent, segment, targets, excluded", false),
    ("observations", "id, batch_id, ip, mac, seen_ms, body", false),
    (
        "hosts",
        "ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations, ports, names, fingerprint, sighting",
        false,
    ),
    ("host_changes", "id, ip, at_ms, batch_id, kind, old, new", true),
    ("mac_ip", "mac, ip, first_seen_ms, last_seen_ms, last_agent", false),
    ("host_names", "name, ip", false),
    ("served_certificates", "sha256, ip, port, first_ms, last_ms", false),
    ("sightings_daily", "ip, day, count, first_ms, last_ms, macs", false),
];

type Dump = Vec<(&'static str, Vec<Vec<Option<String>>>)>;

fn select(table: &str, columns: &str) -> String {
    let cols: Vec<String> = columns.split(", ").map(|c| format!("CAST({c} AS TEXT)")).collect();
    format!("SELECT {} FROM {table}", cols.join(", "))
}

fn sorted(mut rows: Vec<Vec<Option<String>>>, by_id: bool) -> Vec<Vec<Option<String>>> {
    if by_id {
        rows.sort_by_key(|r| r[0].as_deref().and_then(|id| id.parse::<i64>().ok()));
    } else {
        rows.sort();
    }
    rows
}

fn dump_sqlite(s: &SqliteStore) -> Dump {
    s.read(|c| {
        let mut out = Vec::new();
        for (table, columns, by_id) in TABLES {
            let mut st = c.prepare(&select(table, columns))?;
            let n = st.column_count();
            let rows = st
                .query_map([], |r| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect::<Result<Vec<_>, _>>())?
                .collect::<Result<Vec<_>, _>>()?;
            out.push((*table, sorted(rows, *by_id)));
        }
        Ok(out)
    })
    .unwrap()
}

fn dump_pg(s: &PostgresStore) -> Dump {
    s.read(|tx| {
        let mut out = Vec::new();
        for (table, columns, by_id) in TABLES {
            let rows = tx.query(&select(table, columns), &[])?;
            let rows = rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect();
            out.push((*table, sorted(rows, *by_id)));
        }
        Ok(out)
    })
    .unwrap()
}

fn assert_same(sq: &SqliteStore, pg: &PostgresStore, ips: &[&str], when: &str) {
    for ((table, a), (_, b)) in dump_sqlite(sq).into_iter().zip(dump_pg(pg)) {
        assert_eq!(a.len(), b.len(), "{when}: {table} rows\nSQLite: {a:#?}\nPostgreSQL: {b:#?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{when}: a row of {table}");
        }
    }
    let (sq, pg): (&dyn Store, &dyn Store) = (sq, pg);
    for ip in ips {
        assert_eq!(sq.host(ip).unwrap(), pg.host(ip).unwrap(), "{when}: host {ip}");
        for since in [0, T0 + 30_000] {
            assert_eq!(
                sq.sightings_by_day(ip, since).unwrap(),
                pg.sightings_by_day(ip, since).unwrap(),
                "{when}: {ip}"
            );
        }
    }
    assert_eq!(sq.observation_count().unwrap(), pg.observation_count().unwrap(), "{when}");
    let backlog = |s: &dyn Store| {
        let (mut cursor, mut out) = (BacklogCursor::default(), Vec::new());
        loop {
            let (page, next) = s.pending_batches(cursor, 7).unwrap();
            if page.is_empty() {
                return out;
            }
            cursor = next;
            out.extend(page.into_iter().map(|b| (b.batch_id, b.agent, b.sightings, b.more)));
        }
    };
    assert_eq!(backlog(sq), backlog(pg), "{when}: the backlog");
}

/// The same deliveries, in SQLite and in PostgreSQL, leave the same rows and answers.
#[test]
fn ingest_and_roll_up_match_sqlite() {
    let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
    let dir = tempfile::tempdir().unwrap();
    let sq = SqliteStore::open(&dir.path().join("census.db")).unwrap();
    const DAY: i64 = 86_400_000;
    let web = H {
        ip: "198.18.0.1",
        mac: Some(1),
        ports: &[22, 443],
        tls: Some((443, "aa11")),
        names: &[("web1.example", NameSource::Ptr)],
        os: Some("linux"),
        passive: false,
    };
    let two = H { ip: "198.18.0.2", mac: Some(2), ..H::default() };
    let bare = H { ip: "198.18.0.3", ..H::default() };
    let mut deliveries = vec![
        Delivery::new("b1", "a", T0, &[web, two, bare]),
        // The next day, from another agent: .1 changed everything; .4 new.
        Delivery::new(
            "b2",
            "b",
            T0 + DAY,
            &[
                H {
                    mac: Some(3),
                    ports: &[22, 80, 443],
                    names: &[("web1.example", NameSource::Ptr), ("alt.example", NameSource::Mdns)],
                    os: Some("windows"),
                    ..web
                },
                two,
                H { ip: "198.18.0.4", mac: Some(4), ..H::default() },
            ],
        ),
        // Spooled, older than both: .1 counts only; .5 new.
        Delivery::new("b0", "a", T0 - DAY, &[web, H { ip: "198.18.0.5", mac: Some(5), ..H::default() }]),
        // Heard passively: a DHCP name, no ports, no MAC for .1.
        Delivery::new(
            "p1",
            "a",
            T0 + DAY + 60_000,
            &[
                H { ip: "198.18.0.1", names: &[("laptop", NameSource::Dhcp)], passive: true, ..H::default() },
                H { passive: true, ..two },
                H { ip: "198.18.0.6", mac: Some(6), passive: true, ..H::default() },
            ],
        ),
        // A sweep after it (the heard name kept), one address listed twice.
        Delivery::new("b3", "a", T0 + DAY + 120_000, &[H { mac: Some(3), ..web }, bare, H { mac: Some(9), ..bare }]),
    ];
    // A batch stored in parts on both (more than either stores whole).
    let many: Vec<H> = (0..2_100u32)
        .map(|i| {
            let ip: &'static str = Box::leak(format!("198.18.{}.{}", 8 + i / 250, 1 + i % 250).into_boxed_str());
            H { ip, mac: Some((i % 200) as u8), tls: Some((443, "bb22")), ports: &[443], ..H::default() }
        })
        .collect();
    deliveries.push(Delivery::new("big", "c", T0 + 2 * DAY, &many));
    deliveries.push(Delivery::new("big2", "c", T0 + 2 * DAY + 60_000, &many[..600]));
    let mut ips = vec!["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5", "198.18.0.6"];
    ips.extend(many.iter().take(3).map(|h| h.ip));
    for d in &deliveries {
        let rows = d.rows();
        let a = ObservationStore::ingest(&sq, &d.meta, &d.meta.agent, &rows).unwrap();
        let b = ObservationStore::ingest(&pg, &d.meta, &d.meta.agent, &rows).unwrap();
        assert_eq!(a, b, "batch {}", d.meta.batch_id);
        let again = ObservationStore::ingest(&pg, &d.meta, &d.meta.agent, &rows).unwrap();
        assert_eq!((again.duplicate, again.stored), (true, 0));
        let other = ObservationStore::ingest(&pg, &d.meta, "intruder", &rows);
        assert!(matches!(other, Err(crate::store::StoreError::Conflict(_))), "{other:?}");
    }
    let changed = pg.host("198.18.0.1").unwrap().unwrap();
    assert!(changed.changes.iter().any(|c| c.kind == "mac"), "{:?}", changed.changes);
    assert_same(&sq, &pg, &ips, "after ingest");

    // Reconciled, bar the spooled batch: the roll-up keeps the latest and the backlog.
    let reconcile = "UPDATE batches SET reconciled = 1 WHERE batch_id <> 'b0'";
    sq.write(|c| Ok(c.execute(reconcile, [])?)).unwrap();
    pg.write(|tx| Ok(tx.execute(reconcile, &[])?)).unwrap();
    let cutoff = T0 + 2 * DAY + 30_000;
    let first = (sq.roll_up(cutoff, 1).unwrap(), pg.roll_up(cutoff, 1).unwrap());
    assert_eq!(first.0, first.1, "a budget of one");
    assert!(first.1.more);
    let rest = (sq.roll_up(cutoff, 100_000).unwrap(), pg.roll_up(cutoff, 100_000).unwrap());
    assert_eq!(rest.0, rest.1);
    assert!(rest.1.observations > 0 && !rest.1.more, "{:?}", rest.1);
    assert_same(&sq, &pg, &ips, "after the roll-up");
    assert_eq!(pg.roll_up(cutoff, 1000).unwrap(), crate::store::RollUp::default());
}

/// A delivery cut off after some of its parts is resumed by the agent's
/// resend: each observation stored once, the batch invisible until complete.
#[test]
fn a_cut_delivery_resumes_where_it_stopped() {
    let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
    let many: Vec<H> = (0..2_500u32)
        .map(|i| {
            let ip: &'static str = Box::leak(format!("198.18.{}.{}", i / 250, 1 + i % 250).into_boxed_str());
            H { ip, mac: Some((i % 250) as u8), ..H::default() }
        })
        .collect();
    let d = Delivery::new("cut", "a", T0, &many);
    let rows = d.rows();
    pg.write(|tx| {
        assert_eq!(super::ingest::begin(tx, &d.meta, "a", rows.len())?, super::ingest::Begun::Store(0));
        super::chunk::store(tx, &d.meta, "a", &rows[..700])
    })
    .unwrap();
    assert!(pg.pending_batches(BacklogCursor::default(), 1000).unwrap().0.is_empty(), "receiving: not pending");
    assert_eq!(pg.observation_count().unwrap(), 0, "receiving: not counted");
    let resent = pg.ingest(&d.meta, "a", &rows).unwrap();
    assert_eq!((resent.duplicate, resent.stored), (false, 2_500 - 700));
    assert_eq!(pg.observation_count().unwrap(), 2_500);
    let raw: i64 = pg.read(|tx| Ok(tx.query_one("SELECT count(*) FROM observations", &[])?.get(0))).unwrap();
    assert_eq!(raw, 2_500);
    for h in [&many[0], &many[699], &many[700], &many[2_499]] {
        assert_eq!(pg.host(h.ip).unwrap().unwrap().observations, 1, "{}", h.ip);
    }
    let (mut cursor, mut parts) = (BacklogCursor::default(), Vec::new());
    loop {
        let (page, next) = pg.pending_batches(cursor, 1_000).unwrap();
        if page.is_empty() {
            break;
        }
        cursor = next;
        parts.extend(page.into_iter().map(|b| (b.sightings.len(), b.more)));
    }
    assert_eq!(parts, [(1_000, true), (1_000, true), (500, false)]);
    let again = pg.ingest(&d.meta, "a", &rows).unwrap();
    assert_eq!((again.duplicate, again.stored), (true, 0));
    let seq: Option<i64> =
        pg.read(|tx| Ok(tx.query_one("SELECT seq FROM batches WHERE batch_id = 'cut'", &[])?.get(0))).unwrap();
    assert_eq!(seq, Some(1));
}

/// Holds advisory lock `base` of `pg`'s schema in a transaction on a
/// connection of its own until the returned sender is dropped.
fn hold(pg: &PostgresStore, base: i64) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (key, config) = (super::lock_key(base, &pg.schema), pg.target.clone());
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut c = config.connect().unwrap();
        let mut tx = c.transaction().unwrap();
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key]).unwrap();
        held.send(()).unwrap();
        let _ = released.recv();
        tx.commit().unwrap();
    });
    is_held.recv().unwrap();
    (release, holder)
}

/// Regression (PostgreSQL ingest measured at 10,600 observations/s, most
/// of each batch's time spent waiting for reconciles' commits): storing a
/// batch takes the ingest lock only, so it completes while another
/// transaction holds the write lock, and waits while one holds the ingest
/// lock. The roll-up, which deletes observations and reads hosts, takes
/// both, the write lock first: while it waits for a reconcile's commit a
/// batch is still stored; while it waits for an ingest, other writes wait
/// for it. A daemon of an earlier build cannot number a batch (schema 6).
#[test]
fn ingest_waits_for_ingest_only_and_the_roll_up_for_both() {
    use std::time::Duration;
    let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
    let hosts = [H { ip: "198.18.0.1", mac: Some(1), ..H::default() }, H { ip: "198.18.0.2", ..H::default() }];
    let d = |id: &str, at| Delivery::new(id, "a", at, &hosts);
    let (first, second, third) = (d("w1", T0), d("w2", T0 + 60_000), d("w3", T0 + 120_000));
    let waiting = Duration::from_millis(400);

    let (release, holder) = hold(&pg, super::WRITE_LOCK);
    let stored = pg.ingest(&first.meta, "a", &first.rows()).unwrap();
    assert_eq!((stored.duplicate, stored.stored), (false, 2), "stored while the write lock is held");
    std::thread::scope(|s| {
        // The first batch reconciled (by hand: the write lock is held), so
        // it is the roll-up's once a later sweep holds its hosts' latest.
        let mark = "UPDATE batches SET reconciled = 1 WHERE batch_id = 'w1'";
        let mut admin = pg.target.connect().unwrap();
        admin.execute(&format!("SET search_path TO {}", pg.schema), &[]).unwrap();
        admin.execute(mark, &[]).unwrap();
        let rolling = s.spawn(|| pg.roll_up(T0 + 1_000, 1_000).unwrap());
        std::thread::sleep(waiting);
        let stored = pg.ingest(&second.meta, "a", &second.rows()).unwrap();
        assert_eq!(stored.stored, 2, "stored while a roll-up waits for the write lock");
        assert!(!rolling.is_finished(), "the roll-up waits for the write lock");
        drop(release);
        let rolled = rolling.join().unwrap();
        assert_eq!((rolled.observations, rolled.batches), (2, 1), "w1's sightings, no longer the latest");
    });
    holder.join().unwrap();

    let (release, holder) = hold(&pg, super::INGEST_LOCK);
    std::thread::scope(|s| {
        let storing = s.spawn(|| pg.ingest(&third.meta, "a", &third.rows()).unwrap());
        let rolling = s.spawn(|| pg.roll_up(T0 + 1_000, 1_000).unwrap());
        std::thread::sleep(waiting);
        // The roll-up now holds the write lock, waiting for the ingest lock.
        let writing = s.spawn(|| pg.write(|tx| Ok(tx.execute("SELECT 1", &[])?)).unwrap());
        std::thread::sleep(waiting);
        assert!(!storing.is_finished(), "an ingest waits for another's");
        assert!(!rolling.is_finished(), "the roll-up waits for the ingest lock");
        assert!(!writing.is_finished(), "holding the write lock, taken first");
        drop(release);
        assert_eq!(storing.join().unwrap().stored, 2);
        rolling.join().unwrap();
        writing.join().unwrap();
    });
    holder.join().unwrap();

    let big: Vec<H> = (0..2_100u32)
        .map(|i| {
            let ip: &'static str = Box::leak(format!("198.18.{}.{}", 20 + i / 250, 1 + i % 250).into_boxed_str());
            H { ip, ..H::default() }
        })
        .collect();
    let parts = Delivery::new("w4", "a", T0 + 180_000, &big);
    let (release, holder) = hold(&pg, super::WRITE_LOCK);
    assert_eq!(pg.ingest(&parts.meta, "a", &parts.rows()).unwrap().stored, 2_100, "in parts, too");
    drop(release);
    holder.join().unwrap();
    assert_eq!(pg.observation_count().unwrap(), 2 * 3 + 2_100, "every sighting counted");
    let raw: i64 = pg.read(|tx| Ok(tx.query_one("SELECT count(*) FROM observations", &[])?.get(0))).unwrap();
    assert_eq!(raw, 2 * 3 - 2 + 2_100, "each stored once, w1's rolled up");

    // An earlier build numbered batches from `batch_seq`: that fails now.
    let old = pg.write(|tx| Ok(tx.query_one("SELECT nextval('batch_seq')", &[])?.get::<_, i64>(0)));
    assert!(old.is_err(), "{old:?}");
}

/// Store-level ingest rate of 1,000-host batches (the same hosts swept
/// again and again), in observations per second:
/// `cargo test -p censusd --lib -- pg::ingest_tests::rate --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn rate() {
    let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
    let hosts: Vec<H> = (0..1_000u32)
        .map(|i| {
            let ip: &'static str = Box::leak(format!("198.18.{}.{}", i / 250, 1 + i % 250).into_boxed_str());
            // As the ingest benchmark's hosts (`daemon/benches/common`).
            H {
                ip,
                mac: Some((i % 250) as u8),
                ports: &[22, 443],
                names: &[("host.corp.example", NameSource::Ptr)],
                ..H::default()
            }
        })
        .collect();
    let deliveries: Vec<Delivery> =
        (0..30).map(|n| Delivery::new(&format!("r{n}"), "a", T0 + n * 60_000, &hosts)).collect();
    let started = std::time::Instant::now();
    for d in &deliveries {
        let rows = d.rows();
        pg.ingest(&d.meta, "a", &rows).unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    eprintln!("{:.0} observations/s ({} batches of 1,000 in {took:.2} s)", 30_000.0 / took, deliveries.len());
}
