//! PostgreSQL: a pooled connection ([`Session`]) with the statements it
//! has prepared, and the transaction type the store's code runs in ([`Tx`]).
//!
//! Why a statement cache: the statements a whois, an alert page or a
//! sweep check send are small and indexed — the server executes them in
//! 5-30 µs but plans them in 30-250 µs each time they are sent unnamed
//! (measured with `pg_stat_statements` under the reconcile benchmark: the
//! host lookup joining hosts, observations and matches took 17 µs to run
//! and 254 µs to plan). A statement prepared once per connection is
//! planned for its first few executions and then reuses a generic plan,
//! and each later call is one round trip, as a typed unnamed statement is.
//! Prepared statements live in the server session, so the cache lives in
//! the pooled connection and dies with it.
//!
//! The cache holds at most [`MAX_STATEMENTS`] statements (the hot paths use
//! a few dozen); when full it is emptied, which closes them on the server.
//! A statement that fails is dropped from the cache, so one made invalid
//! (a newer Census changed a table under a running daemon: "cached plan
//! must not change result type") fails that one call and is prepared
//! afresh by the next.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, Row, Statement, Transaction};

use crate::store::StoreError;

/// Statements a connection keeps prepared at most.
pub const MAX_STATEMENTS: usize = 128;

/// A statement's parameters with their types, as `query_typed` takes them.
pub type Params<'p> = [(&'p (dyn ToSql + Sync), Type)];

/// The statements one connection has prepared, by their SQL text.
#[derive(Default)]
pub struct Statements(HashMap<String, Statement>);

impl Statements {
    /// Run `sql` with `params` on `client` through its prepared statement,
    /// preparing it first when this connection has not.
    fn query(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = match self.0.get(sql) {
            Some(s) => s.clone(),
            None => {
                let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
                let s = client.prepare_typed(sql, &types)?;
                if self.0.len() >= MAX_STATEMENTS {
                    self.0.clear();
                }
                self.0.insert(sql.to_owned(), s.clone());
                s
            }
        };
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        client.query(&statement, &values).map_err(|e| {
            self.0.remove(sql);
            StoreError::from(e)
        })
    }

    /// How many statements are prepared.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A pooled connection: the client, the statements it has prepared, and
/// when it last went back to the pool.
pub struct Session {
    client: Client,
    statements: Statements,
    returned: Instant,
}

impl Session {
    /// Run one statement outside an explicit transaction (it sees a
    /// snapshot of its own), through the cache.
    ///
    /// # Errors
    /// [`StoreError::Db`] when it fails.
    pub fn query_prepared(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.statements.query(&mut self.client, sql, params)
    }

    /// Start a transaction as `build` configures it.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the server refuses it.
    pub fn transaction_with(
        &mut self,
        build: impl FnOnce(postgres::TransactionBuilder<'_>) -> postgres::TransactionBuilder<'_>,
    ) -> Result<Tx<'_>, StoreError> {
        let inner = build(self.client.build_transaction()).start()?;
        Ok(Tx { inner, statements: &mut self.statements })
    }

    /// The statements this connection has prepared.
    #[cfg(test)]
    pub fn statements(&self) -> &Statements {
        &self.statements
    }
}

impl Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A transaction of this store (read-only in `PostgresStore::read`): the
/// driver's transaction, and the connection's prepared statements for
/// [`Tx::query_prepared`].
pub struct Tx<'a> {
    inner: Transaction<'a>,
    statements: &'a mut Statements,
}

impl<'a> Tx<'a> {
    /// As `query_typed`, through the connection's prepared statement for
    /// `sql` (see the module docs): for statements sent on hot paths.
    ///
    /// # Errors
    /// [`StoreError::Db`] when it fails.
    pub fn query_prepared(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.statements.query(&mut self.inner, sql, params)
    }

    /// [`Tx::query_prepared`] for at most one row.
    ///
    /// # Errors
    /// [`StoreError::Db`] when it fails.
    pub fn query_prepared_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, StoreError> {
        Ok(self.query_prepared(sql, params)?.into_iter().next())
    }

    /// Commit.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the server refuses it.
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit()?)
    }
}

impl<'a> Deref for Tx<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        &self.inner
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// How long after a connection went back to the pool it is handed out
/// again without asking the server whether it is alive. The check is a
/// round trip of its own: a whois made of a dozen statements on three
/// checkouts paid three more. A connection used this recently worked this
/// recently; one the server dropped in between fails the statement it is
/// given, is found closed when it is returned and is not pooled again.
/// (HikariCP skips its check the same way, for 500 ms by default.)
pub const VALIDATION_BYPASS: Duration = Duration::from_millis(500);

/// Makes [`Session`]s for the pool: what `r2d2_postgres` does for bare
/// clients, with each connection's statement cache, and the liveness check
/// skipped for a connection returned less than [`VALIDATION_BYPASS`] ago.
#[derive(Debug)]
pub struct Manager(pub super::Target);

impl r2d2::ManageConnection for Manager {
    type Connection = Session;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Session, postgres::Error> {
        Ok(Session { client: self.0.connect()?, statements: Statements::default(), returned: Instant::now() })
    }

    fn is_valid(&self, s: &mut Session) -> Result<(), postgres::Error> {
        if s.returned.elapsed() < VALIDATION_BYPASS && !s.client.is_closed() {
            return Ok(());
        }
        s.client.simple_query("").map(drop)
    }

    /// Called by the pool as `s` is returned: the time it was is noted.
    fn has_broken(&self, s: &mut Session) -> bool {
        s.returned = Instant::now();
        s.client.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use postgres::types::Type;

    use super::MAX_STATEMENTS;
    use crate::store::pg::PostgresStore;

    fn pg() -> Option<PostgresStore> {
        let url = crate::store::testing::postgres_url()?;
        Some(PostgresStore::open_scratch(&url).unwrap())
    }

    /// Statements the server holds prepared for this session.
    fn on_server(s: &mut super::Session) -> i64 {
        s.query_one("SELECT count(*) FROM pg_prepared_statements", &[]).unwrap().get(0)
    }

    #[test]
    fn a_statement_is_prepared_once_per_connection_and_reused() {
        let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
        pg.run(|s| {
            let before = on_server(s);
            for n in 0..5_i64 {
                let rows = s.query_prepared("SELECT $1::BIGINT * 2", &[(&n, Type::INT8)])?;
                assert_eq!(rows[0].get::<_, i64>(0), n * 2);
            }
            assert_eq!(s.statements().len(), 1);
            assert_eq!(on_server(s), before + 1, "one statement on the server for five calls");
            // Inside a transaction, the same statement.
            let mut tx = s.transaction_with(|b| b)?;
            let row = tx.query_prepared_opt("SELECT $1::BIGINT * 2", &[(&21_i64, Type::INT8)])?.unwrap();
            assert_eq!(row.get::<_, i64>(0), 42);
            tx.commit()?;
            assert_eq!(s.statements().len(), 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_statement_made_invalid_fails_once_and_is_prepared_afresh() {
        let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
        pg.run(|s| {
            s.batch_execute("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (7)")?;
            let sql = "SELECT a FROM t WHERE a > $1";
            assert_eq!(s.query_prepared(sql, &[(&0_i32, Type::INT4)])?[0].get::<_, i32>(0), 7);
            // A newer schema under a running daemon: the prepared result type is stale.
            s.batch_execute("ALTER TABLE t ALTER a TYPE BIGINT")?;
            let e = s.query_prepared(sql, &[(&0_i32, Type::INT4)]).unwrap_err();
            assert!(e.to_string().contains("cached plan"), "{e}");
            assert!(s.statements().is_empty(), "the failed statement left the cache");
            assert_eq!(s.query_prepared(sql, &[(&0_i32, Type::INT4)])?[0].get::<_, i64>(0), 7);
            Ok(())
        })
        .unwrap();
    }

    /// A connection returned moments ago is handed out without a round
    /// trip; one idle longer than [`super::VALIDATION_BYPASS`] is asked,
    /// and a dead one is then found dead — and the pool replaces it.
    #[test]
    fn only_a_connection_idle_past_the_bypass_is_checked_and_a_dead_one_replaced() {
        use r2d2::ManageConnection;
        use std::time::{Duration, Instant};

        let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
        let m = super::Manager(pg.target.clone());
        let mut s = m.connect().unwrap();
        let pid: i32 = s.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert!(!m.has_broken(&mut s), "a live connection is returned whole");
        let mut admin = pg.target.connect().unwrap();
        admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
        // Just returned (set, not slept: the test does not race the clock).
        s.returned = Instant::now();
        assert!(m.is_valid(&mut s).is_ok(), "no round trip inside the bypass, so nothing is noticed");
        s.returned = Instant::now().checked_sub(super::VALIDATION_BYPASS * 2).unwrap();
        assert!(m.is_valid(&mut s).is_err(), "idle past the bypass: asked, and found dead");

        // Through the pool: the connection it handed out, terminated while
        // idle; the next call after the bypass still gets a live one.
        let pooled: i32 = pg.run(|c| Ok(c.query_one("SELECT pg_backend_pid()", &[])?.get(0))).unwrap();
        admin.execute("SELECT pg_terminate_backend($1)", &[&pooled]).unwrap();
        std::thread::sleep(super::VALIDATION_BYPASS + Duration::from_millis(100));
        let now: i32 = pg.run(|c| Ok(c.query_one("SELECT pg_backend_pid()", &[])?.get(0))).unwrap();
        assert_ne!(now, pooled, "the dead connection was replaced");
    }

    #[test]
    fn the_cache_is_bounded_on_both_sides() {
        let Some(pg) = pg() else { return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set") };
        pg.run(|s| {
            let before = on_server(s);
            for n in 0..(MAX_STATEMENTS as i64 * 2 + 3) {
                let sql = format!("SELECT {n}::BIGINT + $1");
                assert_eq!(s.query_prepared(&sql, &[(&1_i64, Type::INT8)])?[0].get::<_, i64>(0), n + 1);
                assert!(s.statements().len() <= MAX_STATEMENTS);
            }
            // Statements dropped from the cache are closed on the server.
            let held = on_server(s) - before;
            assert!(held <= MAX_STATEMENTS as i64 + 1, "{held} statements left prepared on the server");
            Ok(())
        })
        .unwrap();
    }
}
