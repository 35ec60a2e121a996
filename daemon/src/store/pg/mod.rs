//! The PostgreSQL store, for organisations that outgrow one machine: the
//! same contract as [`super::SqliteStore`] (`store::conformance` runs on
//! both), chosen by `[store] url = "postgres://…"`.
//!
//! Driver and pool: the synchronous `postgres` crate with `r2d2` (both by
//! the author of rust-postgres, well kept). The store's traits are
//! synchronous — the daemon calls them on tokio's blocking pool, as it
//! does SQLite — so a synchronous client fits them without an executor of
//! our own. That client runs each call on a runtime of its own, which
//! tokio forbids on a thread already inside a runtime (an async test, a
//! handler that forgot `spawn_blocking`): [`PostgresStore::run`] then
//! moves the call to a scoped thread, so a misplaced call is slow, never a
//! panic.
//!
//! Transactions: every write runs in one transaction holding a
//! transaction-level advisory lock, so writes — from this daemon or from
//! another sharing the database — take turns as SQLite's one writer makes
//! them, and every read-then-write the SQLite backend relies on holds here
//! too. There are two such locks, because two sets of tables never meet in
//! one read-then-write:
//!
//! - [`INGEST_LOCK`]: storing batches — `batches` rows being received,
//!   `scopes`, `observations`, `hosts`, their changes, names, (MAC,
//!   address) pairs and served certificates, and the sequence
//!   `batch_arrival`, whose numbers must rise in commit order ([`ingest`]).
//! - [`WRITE_LOCK`]: everything else — the register, reconciliation's
//!   state and alerts, people, audit, outbox.
//!
//! A reconcile reads the sightings it works on before it takes its lock
//! and writes none of the ingest tables but the `reconciled` mark of
//! batches already stored, which no ingest touches again; so an agent's
//! batch no longer waits for a reconcile's commit (on PostgreSQL that wait
//! was most of an ingest's time under load, bench/RESULTS.md 2026-12-06).
//! The roll-up, which reads hosts and deletes observations, holds both,
//! taken in the order write, then ingest: nothing else takes both, so no
//! two transactions wait on each other in a circle, and a roll-up part
//! waiting for a reconcile's commit holds nothing an agent's batch needs
//! (it then waits only for the ingest in progress, tens of milliseconds).
//!
//! A daemon of an earlier build, which stored batches under the write
//! lock, would store them beside this one's without excluding each other;
//! schema 6 renamed the sequence such a daemon numbers batches from, so its
//! deliveries fail and roll back (its agents resend, to any daemon) until it
//! is upgraded too (docs/postgresql.md, "Preparing the database").
//!
//! Reads run in a `REPEATABLE READ, READ ONLY` transaction: several
//! statements see one snapshot, and never wait for a writer.

mod agents;
mod alert_batch;
mod alerts;
mod asset_change;
mod assets;
mod audit;
mod chunk;
mod ingest;
#[cfg(test)]
mod ingest_tests;
mod keyed;
mod outbox;
mod pending;
mod people;
mod reconcile;
mod rollup;
mod saved;
pub mod schema;
mod session;
mod statistics;
mod stuck;
mod target;
mod turn;
mod whois;

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::StoreError;
pub use session::Tx;
use session::{Manager, Session};
pub use stuck::STUCK_FOR;
pub use target::Target;

type Pool = r2d2::Pool<Manager>;

/// Advisory lock key every write transaction but ingest's holds ("census-w" in ASCII).
pub const WRITE_LOCK: i64 = 0x6365_6e73_7573_2d77;

/// Advisory lock key ingest's transactions hold ("census-i" in ASCII; see the module docs).
pub const INGEST_LOCK: i64 = 0x6365_6e73_7573_2d69;

/// How long a write waits for its locks — its daemon's other writes, then
/// the other daemons' — before failing [`StoreError::Busy`]
/// (`write_holding`; the server's `lock_timeout` for each write is what is
/// left of it).
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// A write's wait for a connection after the last one found none (the
/// database down: `write_holding`), until one finds one again.
const POOL_WAIT_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// A lock key's name in messages.
fn lock_name(lock: i64) -> &'static str {
    if lock == INGEST_LOCK { "ingest" } else { "write" }
}

/// How long a call waits for a free connection before failing: while the
/// database is down every call fails after this wait (an agent resends, a
/// person sees an error), so it is short; a busy pool's wait is for
/// connections, not for the write lock, and is far shorter.
const POOL_WAIT: Duration = Duration::from_secs(10);

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The server's own message and where, not just "db error".
        match e.as_db_error() {
            Some(db) if unavailable(db.code().code()) => {
                StoreError::Unavailable(format!("{}: {}", db.code().code(), db.message()))
            }
            Some(db) if gave_way(db.code().code()) => {
                // Not a fault of the statement, nor an outage: logged, as the API logs neither.
                tracing::warn!(
                    code = db.code().code(),
                    message = db.message(),
                    "a database statement gave way; the call fails, nothing was written, and a retry may succeed"
                );
                StoreError::Busy(format!(
                    "the database was busy ({}: {}); nothing was changed",
                    db.code().code(),
                    db.message()
                ))
            }
            Some(db) => StoreError::Db(format!("{}: {}", db.code().code(), db.message())),
            // No server error: the connection closed, its socket failed, or
            // TLS could not be set up (the server stopped offering it, or
            // now presents a certificate that does not verify).
            None if e.is_closed() || io_beneath(&e) || tls_failed(&e) => StoreError::Unavailable(with_causes(&e)),
            None => StoreError::Db(with_causes(&e)),
        }
    }
}

/// SQLSTATEs that say the server cannot serve now, not that the statement
/// is wrong: class 08 (connection exception), 57P01-57P03 (shut down by an
/// administrator, crash shutdown, cannot connect now — starting or in
/// recovery) and 53300 (too many connections). Source: PostgreSQL's
/// documentation, appendix A "PostgreSQL Error Codes".
fn unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// SQLSTATEs that say the statement gave way to others or to a limit, not
/// that it is wrong, and that its transaction rolled back whole: 40001
/// (serialization failure), 40P01 (deadlock detected), 55P03 (lock not
/// available: `lock_timeout`, the write lock held by another writer too
/// long), 57014 (query canceled: `statement_timeout` or
/// `pg_cancel_backend`), 25P03 and 57P05 (the session ended by
/// `idle_in_transaction_session_timeout` or `idle_session_timeout`). The
/// API answers these 503 with `Retry-After`, never 500 (a 500 is a fault).
/// Source: PostgreSQL's documentation, appendix A "PostgreSQL Error Codes".
fn gave_way(code: &str) -> bool {
    matches!(code, "40001" | "40P01" | "55P03" | "57014" | "25P03" | "57P05")
}

/// Whether `e` is the driver's failure to set up TLS (its message: the
/// driver's `Kind::Tls` is not public).
fn tls_failed(e: &postgres::Error) -> bool {
    e.to_string().starts_with("error performing TLS handshake")
}

/// The pool's failures to connect, logged with their causes (r2d2's own
/// handler logs the driver's outer message only: "error performing TLS
/// handshake", without the certificate that failed). The pool retries
/// about twice a second while the server is away: the first failure is
/// logged, then at most one a minute with how many were not.
#[derive(Debug, Default)]
struct LogConnectFailure(std::sync::Mutex<Option<(std::time::Instant, u64)>>);

/// Between two logged connection failures.
const CONNECT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl r2d2::HandleError<postgres::Error> for LogConnectFailure {
    fn handle_error(&self, error: postgres::Error) {
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match &mut *last {
            Some((at, unlogged)) if now.duration_since(*at) < CONNECT_FAILURE_LOG_EVERY => *unlogged += 1,
            _ => {
                let unlogged = last.map_or(0, |(_, n)| n);
                *last = Some((now, 0));
                drop(last);
                tracing::warn!(error = %with_causes(&error), unlogged, "PostgreSQL connection failed");
            }
        }
    }
}

/// An I/O error beneath `e` (a refused, reset or timed-out socket).
fn io_beneath(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(cause) = next {
        if cause.is::<std::io::Error>() {
            return true;
        }
        next = cause.source();
    }
    false
}

/// `e` and each error beneath it: the driver's own text is often just
/// "db error" or "error connecting to server", the cause below says which.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        next = cause.source();
    }
    out
}

/// Server settings every pooled connection runs with: a writer waits at
/// most two minutes for a lock (an error the API answers 503, rather than a
/// request hanging on); each session carries the daemon's name, and over
/// TCP a client that leaves what it is sent unread for a minute loses its
/// connection. A daemon stopped in a transaction holding the write lock is
/// ended by the others' watch after a minute (`stuck.rs`); the server ends
/// a transaction left idle after [`IDLE_IN_TRANSACTION`] only as the
/// backstop for when no daemon watches — not after a minute, which ended a
/// live daemon's import whose statement took longer to send over a slow
/// link (the server counts a statement still arriving as idle).
#[derive(Debug)]
struct SessionLimits;

/// The server's limit on a transaction left idle (see [`SessionLimits`]).
const IDLE_IN_TRANSACTION: &str = "10min";

impl r2d2::CustomizeConnection<Session, postgres::Error> for SessionLimits {
    fn on_acquire(&self, c: &mut Session) -> Result<(), postgres::Error> {
        c.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'; SET lock_timeout = '{}s'",
            LOCK_WAIT.as_secs()
        ))?;
        stuck::session_settings(c)
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(format!("no PostgreSQL connection: {e}"))
    }
}

/// PostgreSQL-backed [`super::Store`].
pub struct PostgresStore {
    /// `None` only while the store is dropped: closing a connection blocks,
    /// so the pool is dropped off any async runtime (see [`Drop`]).
    pool: Option<Pool>,
    /// What the pool connects with, TLS included (turns take a connection
    /// of their own: `turn.rs`).
    target: Target,
    /// The schema the store lives in: advisory locks are per database, so
    /// their keys are made per schema ([`lock_key`]) — two Census stores in
    /// two schemas of one database (or two tests) never wait on each other.
    schema: String,
    /// A test's own schema, dropped with the store ([`PostgresStore::open_scratch`]).
    scratch: Option<(Target, String)>,
    /// The pool's size.
    connections: u32,
    /// This daemon's writers' turns on the write lock and on the ingest
    /// lock, taken before a connection (`write_holding`).
    local: [parking_lot::Mutex<()>; 2],
    /// The last write found no connection in [`POOL_WAIT`] (`write_holding`).
    unreachable: std::sync::atomic::AtomicBool,
    /// The watch on stopped daemons' sessions: its own session and the holders warned about (`stuck.rs`).
    watch: stuck::Watch,
    /// Observations rolled up since the last vacuum (`ingest.rs`, `roll_up`).
    unvacuumed: std::sync::atomic::AtomicU64,
    /// Rows written per group of tables since they were last analyzed (`statistics.rs`).
    growth: statistics::Growth,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("connections", &self.pool().state().connections).finish()
    }
}

impl PostgresStore {
    /// Connect to the database at `url` (a libpq URL or key=value string,
    /// e.g. `postgres://census@/census?host=/run/postgresql`) and migrate it.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the URL does not parse,
    /// [`StoreError::Unavailable`] when the server cannot be reached (the
    /// driver's message, never the password);
    /// [`StoreError::SchemaTooNew`] for a database a newer Census wrote.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_sized(url, crate::store::DEFAULT_CONNECTIONS)
    }

    /// [`PostgresStore::open`] with a pool of at most `connections`.
    ///
    /// # Errors
    /// As [`PostgresStore::open`].
    pub fn open_sized(url: &str, connections: u32) -> Result<Self, StoreError> {
        Self::open_config_sized(parse(url)?, None, connections)
    }

    /// A store in a new, empty schema of the database at `url`, dropped with
    /// the store: each test its own database, tests in parallel on one server.
    ///
    /// # Errors
    /// As [`PostgresStore::open`].
    pub fn open_scratch(url: &str) -> Result<Self, StoreError> {
        let base = parse(url)?;
        let schema = new_schema(&base)?;
        let mut target = base.clone();
        target.config.options(&format!("-c search_path={schema}"));
        Self::open_config(target, Some((base, schema)))
    }

    fn open_config(target: Target, scratch: Option<(Target, String)>) -> Result<Self, StoreError> {
        Self::open_config_sized(target, scratch, crate::store::DEFAULT_CONNECTIONS)
    }

    fn open_config_sized(
        mut target: Target,
        scratch: Option<(Target, String)>,
        connections: u32,
    ) -> Result<Self, StoreError> {
        // A dead network path is noticed in about a minute, not hours.
        target.config.connect_timeout(Duration::from_secs(10)).keepalives_idle(Duration::from_secs(30));
        off_runtime(|| {
            // One connection first, for its precise error (a missing
            // database, a refused login, a certificate that does not
            // verify) instead of the pool's timeout.
            drop(target.connect()?);
            let manager = Manager(target.clone());
            let pool = r2d2::Pool::builder()
                .max_size(connections.max(2))
                .min_idle(Some(1))
                .connection_timeout(POOL_WAIT)
                .error_handler(Box::new(LogConnectFailure::default()))
                .connection_customizer(Box::new(SessionLimits))
                .build(manager)?;
            let mut conn = pool.get()?;
            schema::migrate(&mut conn)?;
            let schema: String = conn.query_one("SELECT current_schema()", &[])?.get(0);
            drop(conn);
            tracing::debug!(schema, tls = target.encrypted(), connections, "PostgreSQL store open");
            Ok(PostgresStore {
                pool: Some(pool),
                target,
                schema,
                scratch,
                connections: connections.max(2),
                local: Default::default(),
                unreachable: Default::default(),
                watch: stuck::Watch::default(),
                unvacuumed: std::sync::atomic::AtomicU64::new(0),
                growth: statistics::Growth::default(),
            })
        })
    }

    fn pool(&self) -> &Pool {
        self.pool.as_ref().unwrap_or_else(|| unreachable!("the pool lives as long as the store"))
    }

    /// Run `f` on a pooled connection, off any async runtime (see the module docs).
    fn run<T: Send>(&self, f: impl FnOnce(&mut Session) -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
        off_runtime(|| {
            let mut conn = self.pool().get()?;
            f(&mut conn)
        })
    }

    /// Run `sql` outside any transaction (`VACUUM` refuses to run in one).
    pub(super) fn autocommit(&self, sql: &str) -> Result<(), StoreError> {
        self.run(|c| Ok(c.batch_execute(sql)?))
    }

    /// Run `f` in a write transaction holding [`WRITE_LOCK`]; committed when
    /// `f` returns `Ok`, rolled back otherwise.
    pub(super) fn write<T: Send>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.write_holding(&[WRITE_LOCK], f)
    }

    /// Run `f` in a write transaction holding the advisory locks `locks`,
    /// taken in that order (write before ingest: see the module docs).
    ///
    /// This daemon's writers take turns on each lock in the process first
    /// ([`PostgresStore::local`]), before a pooled connection: writes wait
    /// for one another anyway, and while another daemon holds the lock
    /// (frozen, or busy for minutes) only one writer per lock waits on a
    /// connection — the rest of the pool goes on serving reads and
    /// `/healthz`. The wait in the process and the server's together last
    /// at most [`LOCK_WAIT`]; then the call fails [`StoreError::Busy`]
    /// (503), nothing written.
    pub(super) fn write_holding<T: Send>(
        &self,
        locks: &[i64],
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let started = std::time::Instant::now();
            let turn = |lock: i64| {
                let local = &self.local[usize::from(lock == INGEST_LOCK)];
                local.try_lock_for(LOCK_WAIT.saturating_sub(started.elapsed())).ok_or_else(|| {
                    StoreError::Busy(format!(
                        "the {} lock stayed held for {} s (by another daemon, or by this one's other writes waiting \
                         for it); nothing was changed",
                        lock_name(lock),
                        LOCK_WAIT.as_secs()
                    ))
                })
            };
            // Each lock's turn in the process, then in the server, in order:
            // waiting for the first lock, a writer holds nothing of the
            // second (a roll-up waiting for the write lock leaves ingest free).
            let mut turns = Vec::with_capacity(locks.len());
            if let Some(&first) = locks.first() {
                turns.push(turn(first)?);
            }
            // Writers queue here, so each waiting the pool's full wait while
            // the database is down would answer the last of many after
            // their sum: after one found no connection, the next wait short.
            let got = if self.unreachable.load(Ordering::Relaxed) {
                self.pool().get_timeout(POOL_WAIT_AFTER_FAILURE)
            } else {
                self.pool().get()
            };
            self.unreachable.store(got.is_err(), Ordering::Relaxed);
            let mut conn = got?;
            let mut tx = conn.transaction_with(|b| b)?;
            for (i, &lock) in locks.iter().enumerate() {
                if i > 0 {
                    turns.push(turn(lock)?);
                }
                let key = lock_key(lock, &self.schema);
                // What is left of the wait, for the server's (at least a millisecond: 0 would mean forever).
                let left = LOCK_WAIT.saturating_sub(started.elapsed()).as_millis().max(1).to_string();
                tx.query_prepared(
                    "SELECT pg_advisory_xact_lock($1) FROM (SELECT set_config('lock_timeout', $2, true)) AS wait",
                    &[(&key, postgres::types::Type::INT8), (&left, postgres::types::Type::TEXT)],
                )?;
            }
            let out = f(&mut tx)?;
            tx.commit()?;
            drop(turns);
            Ok(out)
        })
    }

    /// Run `f` on a connection outside an explicit transaction: for a read
    /// made of one statement (which sees a snapshot of its own), two round
    /// trips fewer than [`PostgresStore::read`].
    pub(super) fn single<T: Send>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.run(f)
    }

    /// Run `f` in a read-only transaction on one snapshot.
    pub(super) fn read<T: Send>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.run(|c| {
            let mut tx =
                c.transaction_with(|b| b.isolation_level(postgres::IsolationLevel::RepeatableRead).read_only(true))?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The driver closes each connection by blocking on its own runtime,
        // which tokio forbids inside another: a store dropped in an async
        // test or at the daemon's shutdown closes its pool off the runtime.
        if let Some(pool) = self.pool.take() {
            let _ = off_runtime(move || {
                drop(pool);
                Ok(())
            });
        }
        if let Some(watcher) = self.watch.take_session() {
            let _ = off_runtime(move || {
                drop(watcher);
                Ok(())
            });
        }
        if let Some((target, schema)) = self.scratch.take() {
            let dropped = off_runtime(|| {
                let mut c = target.connect()?;
                c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
                Ok(())
            });
            if let Err(e) = dropped {
                tracing::warn!(schema, error = %e, "scratch schema left behind");
            }
        }
    }
}

/// The advisory lock key `base` stands for in `schema`: `base` mixed with
/// the schema name's FNV-1a hash, the same in every daemon.
pub(super) fn lock_key(base: i64, schema: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    base ^ (h as i64)
}

/// `url` parsed, its TLS files read ([`Target::parse`]).
fn parse(url: &str) -> Result<Target, StoreError> {
    Target::parse(url).map_err(|e| StoreError::Refused(format!("`[store] url`: {e}")))
}

/// A connection of its own to the database at `url` (migrate-store's
/// target), outside the pool. Call it off any async runtime.
///
/// # Errors
/// When the URL does not parse or the server cannot be reached.
pub fn connect(url: &str) -> Result<postgres::Client, StoreError> {
    Ok(parse(url)?.connect()?)
}

/// `Ok` when `url` parses as a connection URL and the TLS files it names
/// read (see [`crate::store::check_postgres_url`]).
pub fn check_url(url: &str) -> Result<(), String> {
    // The driver's parse errors name the part that failed, never its value.
    Target::parse(url).map(drop)
}

/// Create a uniquely named, empty schema in the database of `config`.
fn new_schema(target: &Target) -> Result<String, StoreError> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let schema = format!("census_t{}_{n}_{nanos}", std::process::id());
    off_runtime(|| {
        let mut c = target.connect()?;
        c.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
        Ok(())
    })?;
    Ok(schema)
}

/// `url` (a `postgres://` URL) with a new, empty schema made its search path:
/// a database of its own for a test's daemon process. The schema stays
/// until the server's teardown.
///
/// # Errors
/// When `url` does not parse or the server cannot be reached.
pub fn scratch_schema_url(url: &str) -> Result<String, StoreError> {
    let schema = new_schema(&parse(url)?)?;
    let sep = if target::UrlParts::of(url).and_then(|p| p.query).is_some() { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

/// `url` with any password replaced by `***`, for logs and messages. The
/// URL is cut where the driver cuts it ([`target::UrlParts`]): a password
/// holding `/` or `?` is hidden whole, and so is a `password` option
/// however its key is percent-encoded.
pub fn redacted(url: &str) -> String {
    if let Some(parts) = target::UrlParts::of(url) {
        if parts.odd(url).is_some() {
            // Where a password ends is not clear: none of it is shown.
            return format!("{}***", &url[..parts.authority]);
        }
        let mut out = String::with_capacity(url.len());
        let after_credentials = match &parts.credentials {
            Some(c) => match url[c.clone()].find(':') {
                Some(colon) => {
                    out.push_str(&url[..c.start + colon + 1]);
                    out.push_str("***");
                    c.end
                }
                None => 0,
            },
            None => 0,
        };
        let query = parts.query.unwrap_or(url.len());
        out.push_str(&url[after_credentials..query]);
        if query < url.len() {
            let pairs: Vec<&str> = url[query + 1..]
                .split('&')
                .map(|kv| if target::option_key(kv) == "password" { "password=***" } else { kv })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        return out;
    }
    // key=value form: hide the value of `password`.
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `f` here, or on a scoped thread when this thread is inside a tokio
/// runtime (where the synchronous driver may not block; see the module docs).
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|_| Err(StoreError::Db("a PostgreSQL call panicked".into())))
    })
}

impl super::HealthStore for PostgresStore {
    fn pool_usage(&self) -> super::PoolUsage {
        let state = self.pool().state();
        let size = self.connections as usize;
        let busy = (state.connections - state.idle_connections) as usize;
        // One pool serves reads and writes; writes take turns on WRITE_LOCK or INGEST_LOCK.
        super::PoolUsage { readers: size, readers_busy: busy, writers: size, writers_busy: busy }
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| Ok(tx.query_one("SELECT version FROM census_schema", &[]).map(drop)?))
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redacted("postgres://census:s3cret@db.example/census"), "postgres://census:***@db.example/census");
        assert_eq!(
            redacted("postgres://census@/census?host=/run/postgresql"),
            "postgres://census@/census?host=/run/postgresql"
        );
        assert_eq!(
            redacted("host=/tmp user=census password=s3cret dbname=census"),
            "host=/tmp user=census password=*** dbname=census"
        );
        assert_eq!(
            redacted("postgresql://u:p%40ss@h:5432/d?sslmode=require"),
            "postgresql://u:***@h:5432/d?sslmode=require"
        );
        // Found by a break attempt: a password given as an option.
        assert_eq!(
            redacted("postgres://census@/census?host=/tmp&password=S3cretPW"),
            "postgres://census@/census?host=/tmp&password=***"
        );
        assert_eq!(redacted("postgres://u:a@/d?password=b&host=/x"), "postgres://u:***@/d?password=***&host=/x");
        // Found by a break attempt: the driver's credentials run to the first
        // `@`, so a password may hold `/` or `?` (refused at check-config,
        // never shown); an option's key may be percent-encoded.
        assert_eq!(
            redacted("postgres://pwuser:Sup3r%2FS3cret%3FPW@localhost:5432/census?sslmode=require"),
            "postgres://pwuser:***@localhost:5432/census?sslmode=require"
        );
        assert_eq!(redacted("postgres://pwuser:Sup3r/S3cret?PW@localhost:5432/census"), "postgres://***");
        assert_eq!(redacted("postgres://u@h/d?pass%77ord=S3cret&x=1"), "postgres://u@h/d?password=***&x=1");
        assert_eq!(redacted("postgresql://h/d"), "postgresql://h/d");
        // Found by a second look: the driver's credentials run to the first
        // `@`, wherever it is; such URLs are refused at check-config, and
        // never shown in part.
        assert_eq!(redacted("postgres://db/census?password=p@ss"), "postgres://***");
        assert_eq!(redacted("postgres://census:p@ss@db.example.org/census"), "postgres://***");
        assert_eq!(redacted("postgres://db/census?application_name=a@b&password=S3cret"), "postgres://***");
        assert_eq!(redacted("postgres://census:Ab@cd/ef@db.example.org/census"), "postgres://***");
    }

    /// A session standing for another daemon, holding `store`'s write lock
    /// in a transaction left open (`ROLLBACK` frees it), and the lock's key.
    fn holding_the_write_lock(store: &super::PostgresStore) -> (postgres::Client, i64) {
        let key = super::lock_key(super::WRITE_LOCK, &store.schema);
        let mut holder = store.target.connect().unwrap();
        holder.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({key})")).unwrap();
        (holder, key)
    }

    /// Regression (review): a write that waited out `lock_timeout` for the
    /// write lock, or whose session the server ended for idling in its
    /// transaction, reached the client as 500 "internal storage error" —
    /// which the docs reserve for faults — though nothing was written and
    /// a retry succeeds. Every such way of giving way is now busy (503 with
    /// `Retry-After`). Needs `CENSUS_TEST_POSTGRES`.
    #[test]
    fn a_statement_that_gave_way_is_answered_busy_not_as_a_fault() {
        use crate::api::ApiError;
        use crate::store::StoreError;
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let store = super::PostgresStore::open_scratch(&url).unwrap();
        let (mut holder, key) = holding_the_write_lock(&store);

        let mut waiter = store.target.connect().unwrap();
        waiter.batch_execute("SET lock_timeout = '50ms'").unwrap();
        let e = StoreError::from(waiter.execute("SELECT pg_advisory_xact_lock($1)", &[&key]).unwrap_err());
        assert!(matches!(&e, StoreError::Busy(m) if m.contains("55P03")), "{e:?}");
        assert_eq!(ApiError::from(e).status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        holder.batch_execute("ROLLBACK").unwrap();

        // Ended by the server for idling in its transaction: the next
        // statement meets either the server's error (25P03) or a closed
        // connection; both are a 503.
        let mut idle = store.target.connect().unwrap();
        idle.batch_execute("SET idle_in_transaction_session_timeout = '100ms'").unwrap();
        let mut tx = idle.transaction().unwrap();
        tx.execute("SELECT 1", &[]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(600));
        let e = StoreError::from(tx.execute("SELECT 1", &[]).unwrap_err());
        assert!(matches!(e, StoreError::Busy(_) | StoreError::Unavailable(_)), "{e:?}");
        assert_eq!(ApiError::from(e).status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        for code in ["40001", "40P01", "55P03", "57014", "25P03", "57P05"] {
            assert!(super::gave_way(code), "{code}");
        }
        assert!(!super::gave_way("23505"), "a unique violation is the statement's fault");
    }

    /// Regression (third review): while another daemon held the write lock
    /// (frozen, or busy for minutes), each of this daemon's writes waited
    /// for it on a pooled connection, so a few writes filled the pool and
    /// every read and `/healthz` failed after waiting for a connection —
    /// one stuck peer took every daemon out of a load balancer's rotation.
    /// Now this daemon's writers take turns in the process first: one
    /// waits on a connection, reads go on, and every write goes through
    /// once the lock is free. Needs `CENSUS_TEST_POSTGRES`.
    #[test]
    fn writes_waiting_for_another_daemons_lock_leave_connections_for_reads() {
        use std::time::{Duration, Instant};
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let store = super::PostgresStore::open_scratch(&url).unwrap();
        let (mut holder, _) = holding_the_write_lock(&store);

        let daemon =
            std::sync::Arc::new(super::PostgresStore::open_config_sized(store.target.clone(), None, 2).unwrap());
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let daemon = daemon.clone();
                std::thread::spawn(move || daemon.write(|tx| Ok(tx.execute("SELECT 1", &[])?)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..3 {
            let t = Instant::now();
            let one: i32 = daemon.read(|tx| Ok(tx.query_one("SELECT 1", &[])?.get(0))).expect("a read is served");
            assert_eq!(one, 1);
            assert!(t.elapsed() < Duration::from_secs(5), "the read did not wait for a connection: {:?}", t.elapsed());
        }
        assert!(writers.iter().all(|w| !w.is_finished()), "the writes wait for the lock");
        holder.batch_execute("ROLLBACK").unwrap();
        for w in writers {
            assert_eq!(w.join().unwrap().expect("the write went through once the lock was free"), 1);
        }
    }

    /// The pool retries about twice a second while the server is away:
    /// one failure logged, then the rest counted until a minute has passed.
    #[test]
    fn connection_failures_are_logged_once_a_minute_with_a_count() {
        use r2d2::HandleError;
        let failure = || "postgres://h/d?no_such_option=1".parse::<postgres::Config>().unwrap_err();
        let log = super::LogConnectFailure::default();
        for _ in 0..3 {
            log.handle_error(failure());
        }
        let (at, unlogged) = log.0.lock().unwrap().unwrap();
        assert_eq!(unlogged, 2, "the first was logged, two counted");
        *log.0.lock().unwrap() = Some((at.checked_sub(super::CONNECT_FAILURE_LOG_EVERY).unwrap(), unlogged));
        log.handle_error(failure());
        assert_eq!(log.0.lock().unwrap().unwrap().1, 0, "a minute on, logged again (with the count) and reset");
    }
}
