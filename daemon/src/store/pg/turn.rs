//! PostgreSQL: taking turns with the other daemons on the same database.
//!
//! A turn is a session-level advisory lock held on a connection of its own
//! (outside the pool, so a pooled connection never goes back with a lock
//! on it). Ending the turn closes that connection, which releases the
//! lock; a daemon killed with `kill -9` loses its connection — the kernel
//! closes the socket, the server ends the session — and with it the turn,
//! so no lease outlives its holder and no clock is trusted.

use super::{PostgresStore, lock_key, off_runtime};
use crate::store::{CoordinationStore, Job, SharedChanges, StoreError, Turn, TurnHolder};

/// Advisory lock key of a full reconcile ("census-f" in ASCII).
pub const FULL_RECONCILE_LOCK: i64 = 0x6365_6e73_7573_2d66;

fn key(job: Job) -> i64 {
    match job {
        Job::FullReconcile => FULL_RECONCILE_LOCK,
    }
}

/// The connection holding a turn; closed off any async runtime when dropped.
struct Held(Option<postgres::Client>);

impl TurnHolder for Held {
    fn check(&mut self) -> Result<(), StoreError> {
        let Some(client) = self.0.as_mut() else {
            return Err(StoreError::Db("the turn's connection is gone".into()));
        };
        // A session-level lock lives as long as its session: a session that
        // answers still holds it.
        off_runtime(|| {
            client
                .batch_execute("SELECT 1")
                .map_err(|e| StoreError::Db(format!("the full reconcile's turn was lost with its connection: {e}")))
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            // Closing the session releases the lock (and cannot fail in a
            // way that leaves it held: the server drops it with the session).
            let _ = off_runtime(move || {
                drop(client);
                Ok(())
            });
        }
    }
}

impl CoordinationStore for PostgresStore {
    fn turn(&self, job: Job) -> Result<Turn, StoreError> {
        let target = self.target.clone();
        let key = lock_key(key(job), &self.schema);
        let t = std::time::Instant::now();
        let client = off_runtime(move || {
            let mut client = target.connect()?;
            // A holder that is alive but stuck (a frozen process keeps its
            // connection) is waited for ten minutes at most: then this
            // turn fails, and the caller's next run asks again.
            client.batch_execute("SET lock_timeout = '600s'")?;
            client.execute("SELECT pg_advisory_lock($1)", &[&key])?;
            Ok(client)
        })?;
        let waited_ms = t.elapsed().as_millis() as u64;
        if waited_ms > 1_000 {
            tracing::info!(?job, waited_ms, "waited for another daemon's turn");
        }
        Ok(Turn::holding(Held(Some(client))))
    }

    fn announce_routes(
        &self,
        daemon: &str,
        routes: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO daemon_routes (daemon, routes, seen_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (daemon) DO UPDATE SET routes = excluded.routes, seen_ms = excluded.seen_ms",
                &[&daemon, &routes, &now_ms],
            )?;
            Ok(tx
                .query(
                    "SELECT daemon, routes FROM daemon_routes WHERE daemon <> $1 AND routes <> $2 AND seen_ms >= $3
                     ORDER BY daemon",
                    &[&daemon, &routes, &since_ms],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn changes(&self) -> Result<SharedChanges, StoreError> {
        // One statement (a snapshot of its own), asked before most reads: no transaction.
        self.single(|s| {
            let mut out = SharedChanges::default();
            for r in s.query_prepared("SELECT name, n FROM generations", &[])? {
                let (name, n): (String, i64) = (r.get(0), r.get(1));
                match name.as_str() {
                    "register" => out.register = n,
                    "directory" => out.directory = n,
                    "licences" => out.licences = n,
                    "retirements" => out.retirements = n,
                    "sources" => out.sources = n,
                    _ => {}
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::PostgresStore;
    use crate::store::{CoordinationStore, Job};

    /// Two daemons on one store take turns: the second waits until the
    /// first's turn ends; a store in another schema never waits for either.
    /// Needs `CENSUS_TEST_POSTGRES`.
    #[test]
    fn daemons_on_one_store_take_turns_and_other_schemas_do_not_wait() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let first = PostgresStore::open_scratch(&url).unwrap();
        let second = PostgresStore::open_config(first.target.clone(), None).unwrap();
        assert_eq!(first.schema, second.schema);
        let held = first.turn(Job::FullReconcile).unwrap();
        let other = PostgresStore::open_scratch(&url).unwrap();
        let t = Instant::now();
        drop(other.turn(Job::FullReconcile).unwrap());
        assert!(t.elapsed() < Duration::from_secs(5), "another schema's turn is its own");
        let waited = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let t = Instant::now();
                let turn = second.turn(Job::FullReconcile).unwrap();
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
        assert!(
            a.announce_routes("a:8443", "soc>=high", 9_000, 2_500).unwrap().is_empty(),
            "a daemon gone long is not"
        );
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
        let mut turn = store.turn(Job::FullReconcile).unwrap();
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
        drop(store.turn(Job::FullReconcile).unwrap());
        assert!(t.elapsed() < Duration::from_secs(5), "the turn is free for another daemon");
    }
}
