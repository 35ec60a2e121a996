//! Tests of taking turns (`turn.rs`), against a real server: each needs `CENSUS_TEST_POSTGRES`.

use std::time::{Duration, Instant};

use super::{Lease, PostgresStore};
use crate::store::{CoordinationStore, Job};

/// The sessions holding `store`'s full-reconcile turn (0 or 1).
fn holders(store: &PostgresStore) -> i64 {
    let key = super::lock_key(super::FULL_RECONCILE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    admin
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&key],
        )
        .unwrap()
        .get(0)
}

/// Regression: a holder that stopped without its connection closing (a
/// process stopped with SIGSTOP, a paused VM, a machine cut off) kept
/// the turn until it came back — for ever, or for the two hours the
/// server's TCP keepalives wait — and every other daemon's full
/// reconcile waited. The turn is now a lease the server ends: a holder
/// that renews keeps it past the lease's length; one whose renewals stop
/// (here: the next is due long after the lease) loses it within the
/// lease, another daemon takes it, and the stopped one's check before
/// writing fails. Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_holder_that_stops_renewing_loses_its_turn_within_the_lease() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let first = PostgresStore::open_scratch(&url).unwrap();
    let second = PostgresStore::open_config(first.target.clone(), None).unwrap();
    let expires = Duration::from_secs(3);

    let mut renewing =
        first.turn_with(Job::FullReconcile, Lease { expires, renew: Duration::from_millis(250) }, &|| false).unwrap();
    std::thread::sleep(expires * 2);
    renewing.check().expect("a holder that renews keeps its turn past the lease's length");
    assert_eq!(holders(&first), 1);
    drop(renewing);
    // Let go: the session is closed; the server releases the lock as its backend exits.
    let deadline = Instant::now() + Duration::from_secs(5);
    while holders(&first) != 0 {
        assert!(Instant::now() < deadline, "a turn let go is freed");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut stopped =
        first.turn_with(Job::FullReconcile, Lease { expires, renew: Duration::from_secs(3600) }, &|| false).unwrap();
    let t = Instant::now();
    let taken = second.turn(Job::FullReconcile, &|| false).unwrap();
    let waited = t.elapsed();
    assert!(waited >= expires - Duration::from_millis(200), "the lease ran out first: {waited:?}");
    assert!(waited < expires * 5, "and then the turn was another daemon's: {waited:?}");
    let e = stopped.check().unwrap_err().to_string();
    assert!(e.contains("turn was lost"), "{e}");
    assert_eq!(holders(&first), 1, "one holder: the daemon that took it");
    drop(taken);
    drop(stopped);
}

/// Two daemons on one store take turns: the second waits until the
/// first's turn ends; a store in another schema never waits for either.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn daemons_on_one_store_take_turns_and_other_schemas_do_not_wait() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let first = PostgresStore::open_scratch(&url).unwrap();
    let second = PostgresStore::open_config(first.target.clone(), None).unwrap();
    assert_eq!(first.schema, second.schema);
    let held = first.turn(Job::FullReconcile, &|| false).unwrap();
    let other = PostgresStore::open_scratch(&url).unwrap();
    let t = Instant::now();
    drop(other.turn(Job::FullReconcile, &|| false).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5), "another schema's turn is its own");
    let waited = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let t = Instant::now();
            let turn = second.turn(Job::FullReconcile, &|| false).unwrap();
            (t.elapsed(), turn)
        });
        std::thread::sleep(Duration::from_millis(400));
        drop(held);
        waiter.join().unwrap().0
    });
    assert!(waited >= Duration::from_millis(350), "the second daemon waited for the first: {waited:?}");
    assert!(waited < Duration::from_secs(10), "and got its turn once the first ended: {waited:?}");
}

/// Regression (break attempt): a daemon without a sink stored alerts
/// whose events never reached that sink, and nothing said so. Daemons
/// on one store now see each other's routes when they differ.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn daemons_on_one_store_see_each_others_differing_routes() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let a = PostgresStore::open_scratch(&url).unwrap();
    let b = PostgresStore::open_config(a.target.clone(), None).unwrap();
    assert!(a.announce_routes("a:8443", "soc>=high", 1_000, 0).unwrap().is_empty());
    assert!(b.announce_routes("b:8443", "soc>=high", 1_000, 0).unwrap().is_empty(), "alike: nothing to say");
    let differing = b.announce_routes("b:8443", "none", 2_000, 0).unwrap();
    assert_eq!(differing, vec![("a:8443".to_string(), "soc>=high".to_string())]);
    assert_eq!(a.announce_routes("a:8443", "soc>=high", 3_000, 0).unwrap(), vec![("b:8443".into(), "none".into())]);
    assert!(a.announce_routes("a:8443", "soc>=high", 9_000, 2_500).unwrap().is_empty(), "a daemon gone long is not");
}

/// Regression (break attempt): a turn whose session ended (terminated
/// by an operator, dropped by the network) had released its lock while
/// its daemon carried on, so two full reconciles could write at once.
/// The check before writing now fails; another daemon gets the turn.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_turn_whose_session_ended_is_known_lost() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let mut turn = store.turn(Job::FullReconcile, &|| false).unwrap();
    turn.check().expect("held");
    let key = super::lock_key(super::FULL_RECONCILE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&key],
        )
        .unwrap();
    assert_eq!(ended.len(), 1, "the turn's session held the lock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while turn.check().is_ok() {
        assert!(Instant::now() < deadline, "a lost turn is noticed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    drop(store.turn(Job::FullReconcile, &|| false).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5), "the turn is free for another daemon");
}
/// A device record a plan writes, and whether it was written.
fn device_plan(turn: crate::store::TurnFence) -> crate::reconcile::Plan {
    let device = crate::reconcile::DeviceRecord {
        key: "00:1b:21:00:00:01".into(),
        first_ms: 1_000,
        last_ms: 2_000,
        sightings: 2,
        last_batch: "b".into(),
        enriched: false,
    };
    crate::reconcile::Plan { now_ms: 3_000, devices: vec![device], turn: Some(turn), ..Default::default() }
}

fn device_written(store: &PostgresStore) -> bool {
    use crate::store::ReconcileStore;
    !store.devices(Some(&["00:1b:21:00:00:01".to_string()]), 0).unwrap().is_empty()
}

/// Regression (break attempt): the check before committing passed, then
/// the turn passed to another daemon while the commit loaded and decided
/// the alerts (the daemon stopped there, or its session ended), and the
/// stale run wrote its decisions after the other's — alerts the other
/// had reopened were resolved again, or the reverse. A plan now carries
/// its turn's fence, and the store commits it only while that turn is
/// still the latest granted and still held. Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_plan_decided_under_a_turn_since_passed_on_is_not_written() {
    use crate::store::ReconcileStore;
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let first = PostgresStore::open_scratch(&url).unwrap();
    let second = PostgresStore::open_config(first.target.clone(), None).unwrap();
    let stale = first.turn(Job::FullReconcile, &|| false).unwrap();
    let old = stale.fence().expect("a shared turn is fenced");
    drop(stale);
    let current = second.turn(Job::FullReconcile, &|| false).unwrap();
    let now = current.fence().unwrap();
    assert_eq!(now.number, old.number + 1, "each turn granted raises the number");

    let e = first.commit_reconcile(&device_plan(old), &mut |_| Vec::new()).unwrap_err();
    assert!(matches!(e, crate::store::StoreError::Busy(_)), "{e:?}");
    assert!(e.to_string().contains("nothing of this run was written"), "{e}");
    assert!(!device_written(&first), "the stale plan wrote nothing");

    second.commit_reconcile(&device_plan(now), &mut |_| Vec::new()).unwrap();
    assert!(device_written(&second));
    drop(current);
}

/// Regression (break attempt, a rolling upgrade): a daemon of the earlier
/// build takes the turn's lock without raising the turn number, so a
/// stale run's number still matched and it wrote. The fence also asks that
/// the turn's own session still hold the lock. Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_turn_taken_over_without_its_number_raised_is_known_lost() {
    use crate::store::ReconcileStore;
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    let stale = store.turn(Job::FullReconcile, &|| false).unwrap();
    let fence = stale.fence().unwrap();
    let key = super::lock_key(super::FULL_RECONCILE_LOCK, &store.schema);
    let mut admin = store.target.connect().unwrap();
    admin.execute("SELECT pg_terminate_backend($1)", &[&(fence.holder as i32)]).unwrap();
    // As an earlier build takes it: the lock alone.
    let mut earlier = store.target.connect().unwrap();
    earlier.execute("SET lock_timeout = '10s'", &[]).unwrap();
    earlier.execute("SELECT pg_advisory_lock($1)", &[&key]).unwrap();

    let e = store.commit_reconcile(&device_plan(fence), &mut |_| Vec::new()).unwrap_err();
    assert!(e.to_string().contains("no longer holds it"), "{e}");
    assert!(!device_written(&store), "the stale plan wrote nothing");
    drop(earlier);
    drop(stale);
}
/// A daemon (`rec`) whose full reconcile (`waiting`) waits for the turn
/// another daemon on the same store (`first`) holds (`held`).
struct Waiting {
    first: PostgresStore,
    rec: std::sync::Arc<crate::reconcile::Reconciler>,
    held: crate::store::Turn,
    waiting: std::thread::JoinHandle<Result<crate::reconcile::ReconcileSummary, crate::store::StoreError>>,
}

fn waiting_for_the_turn(url: &str) -> Waiting {
    use std::sync::Arc;
    let first = PostgresStore::open_scratch(url).unwrap();
    let second: Arc<dyn crate::store::Store> =
        Arc::new(PostgresStore::open_config(first.target.clone(), None).unwrap());
    let rec = Arc::new(crate::reconcile::Reconciler::new(
        second,
        &crate::config::ReconcileConfig::default(),
        vec![],
        Arc::new(tokio::sync::Notify::new()),
    ));
    let held = first.turn(Job::FullReconcile, &|| false).unwrap();
    let waiting = {
        let rec = rec.clone();
        std::thread::spawn(move || rec.full(crate::store::now_ms()))
    };
    Waiting { first, rec, held, waiting }
}

/// Regression (break attempt): a daemon waiting for the full reconcile's
/// turn (held by another daemon, for up to its lease if that one froze)
/// stopped reconciling its own agents' batches meanwhile: the wait held
/// the lock its incremental runs take. Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_daemon_waiting_for_the_turn_goes_on_reconciling_incrementally() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let Waiting { first: _first, rec, held, waiting } = waiting_for_the_turn(&url);
    std::thread::sleep(Duration::from_millis(500));
    let (done, drained) = std::sync::mpsc::channel();
    {
        let rec = rec.clone();
        std::thread::spawn(move || done.send(rec.drain(crate::store::now_ms()).map(drop)));
    }
    let drained = drained.recv_timeout(Duration::from_secs(10));
    drop(held);
    assert!(waiting.join().unwrap().is_ok(), "the full reconcile ran once the turn was free");
    drained.expect("an incremental run went on while the full reconcile waited").unwrap();
}
/// Regression (break attempt): a daemon told to stop while it waited for
/// another daemon's turn (frozen, so for up to the lease) waited it out
/// and then ran a whole full reconcile before exiting — over a minute,
/// past systemd's stop timeout. It now gives up within about a second.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_daemon_stopping_gives_up_waiting_for_the_turn() {
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let Waiting { first, rec, held, waiting } = waiting_for_the_turn(&url);
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(!waiting.is_finished(), "the full reconcile waits for the turn");
    let t = Instant::now();
    rec.stop_full_runs();
    let e = waiting.join().unwrap().unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "gave up at once, not after the turn: {:?}", t.elapsed());
    assert!(matches!(e, crate::store::StoreError::Busy(_)), "{e:?}");
    assert!(e.to_string().contains("stopping"), "{e}");
    assert_eq!(holders(&first), 1, "the holder's turn is untouched");
    drop(held);
    let e = rec.full(crate::store::now_ms()).unwrap_err();
    assert!(e.to_string().contains("stopping"), "a stopping daemon runs no full reconcile: {e}");
}

/// Regression (break attempt): a daemon told to stop while its turn's
/// number waited for another daemon's fenced commit (stopped while the
/// server sent it a result: an active statement, which no idle timeout
/// ends) waited on for as long as that one stayed stopped. The wait now
/// asks whether to give up, as the wait for the lock does.
/// Needs `CENSUS_TEST_POSTGRES`.
#[test]
fn a_daemon_stopping_gives_up_waiting_on_a_fenced_commit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(url) = crate::store::testing::postgres_url() else { return };
    let store = PostgresStore::open_scratch(&url).unwrap();
    drop(store.turn(Job::FullReconcile, &|| false).unwrap());
    // A commit in flight, fenced: it holds the share lock on the turn number.
    let mut committer = store.target.connect().unwrap();
    let mut commit = committer.transaction().unwrap();
    commit.query("SELECT number FROM turns WHERE job = 'full_reconcile' FOR SHARE", &[]).unwrap();
    let stopping = AtomicBool::new(false);
    let (waited, e) = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let t = Instant::now();
            let r = store.turn(Job::FullReconcile, &|| stopping.load(Ordering::Relaxed));
            (t.elapsed(), r.map(drop).unwrap_err())
        });
        std::thread::sleep(Duration::from_millis(1_500));
        stopping.store(true, Ordering::Relaxed);
        waiter.join().unwrap()
    });
    assert!(waited < Duration::from_secs(5), "gave up about a second after being told: {waited:?}");
    assert!(e.to_string().contains("stopping"), "{e}");
    commit.rollback().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while holders(&store) != 0 {
        assert!(Instant::now() < deadline, "the turn given up is let go");
        std::thread::sleep(Duration::from_millis(20));
    }
}
