//! The SQLite store: WAL mode, one writer connection, a few reader
//! connections, so reads (whois, exports) never wait behind a big ingest.
//!
//! The writer is taken in turn: its lock is fair (`parking_lot::FairMutex`)
//! and large writes (a 100,000-host batch, a full reconcile) are made of
//! short transactions, so one agent's flood never holds another agent's
//! delivery for more than one part. Deliveries come first: while one is
//! being stored, a reconcile part waits for it to finish (at most
//! [`BACKGROUND_YIELD`] per part, so reconciliation never starves), so an
//! agent's receipt does not wait behind alert writes; the reconcile worker
//! catches up between deliveries. And a batch stored in parts paces itself
//! while other agents deliver: after each part it waits [`PACE_FACTOR`]
//! times as long as the part held the writer, so a flood of large batches
//! takes at most a fifth of the writer and of the disk from agents'
//! ordinary sweeps (the hostile-agent test: another agent's p99 went from
//! about 3× its quiet value to about 1.5×); alone, it runs at full speed.
//!
//! Durability: every transaction is written with `synchronous=NORMAL`,
//! and the one that makes a batch *stored* — the one the agent's receipt
//! depends on — with `FULL`, which puts everything before it on disk too,
//! so a power cut never loses a batch the agent deleted. Background writes,
//! and the parts of a large batch while other agents deliver, sync the log
//! themselves once they have let go of the writer ([`checkpoint::LogSync`]), so that `FULL`
//! commit does not write out their pages while another agent waits. The
//! database and its WAL and SHM files are created 0600 in a 0700 directory
//! whatever the umask.
//!
//! Pages are 8 KiB in a database created by this version ([`PAGE_SIZE`];
//! an older database keeps the 4 KiB it was created with): the ingest
//! benchmark stored 1,000-host batches 10–15% faster than with 4 KiB pages
//! (half the WAL frames and write calls per batch) and slower again with
//! 16 KiB (a changed row costs a larger frame).

mod alerts;
mod assets;
mod audit;
pub mod backup;
mod checkpoint;
mod ingest;
mod keyed;
mod pending;
mod people;
mod reconcile;
mod report;
mod rollup;
mod saved;
pub(crate) mod schema;
mod whois;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::FairMutex;

use ipnet::IpNet;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    AgentRecord, AgentStore, AlertStore, AssetChange, AuditOf, BatchMeta, HostRecord, IngestOutcome, ObservationRow,
    ObservationStore, OutboxStore, QueryStore, ReconcileStore, RegisterStore, StoreError, now_ms,
};
use crate::alerts::lifecycle::{Change, Refused};
use crate::alerts::{Alert, AlertFilter, AlertHistoryEntry, AlertKind, Suppression};
use crate::auth::TokenHash;
use crate::reconcile::{AssetState, DeviceRecord, Plan, Sighting, SweepRow};
use crate::register::Asset;
use std::collections::HashMap;

use super::{AlertInputs, CommitOutcome, OutboxItem, SightingSelect};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // Locked past the busy timeout (another process holds the file):
        // nothing was written, a retry may succeed.
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Db(e.to_string()),
        }
    }
}

/// The longest a background write (a reconcile part) waits for deliveries in progress.
pub const BACKGROUND_YIELD: std::time::Duration = std::time::Duration::from_millis(20);

/// How long a statement waits for another process's lock on the file
/// before the call fails as [`StoreError::Unavailable`].
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The wait of each write after one failed so (the file stays locked by
/// another process): writes queue for the one writer, so at the full wait
/// each, the tenth caller in the queue would wait 100 s for its 503. Back to
/// [`BUSY_TIMEOUT`] after the next write that succeeds.
const STALLED_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Reader connections kept open.
const READERS: usize = 4;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: FairMutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Deliveries being stored, and a signal when there are none.
    deliveries: (Mutex<usize>, std::sync::Condvar),
    /// When the store was opened; deliveries begun so far, and when the
    /// latest began (µs after opening).
    opened: std::time::Instant,
    delivery_seq: std::sync::atomic::AtomicU64,
    latest_delivery_us: std::sync::atomic::AtomicU64,
    _checkpointer: checkpoint::Checkpointer,
    log: checkpoint::LogSync,
    /// The last write failed waiting for another process's lock on the
    /// file: writes wait [`STALLED_BUSY_TIMEOUT`] until one succeeds.
    stalled: std::sync::atomic::AtomicBool,
}

/// A delivery being stored (and its number); counted in [`SqliteStore::deliveries`] until dropped.
struct Delivering<'a>(&'a SqliteStore, u64);

impl<'a> Delivering<'a> {
    fn start(store: &'a SqliteStore) -> Self {
        *store.deliveries.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        store.latest_delivery_us.fetch_max(store.since_open_us(), Ordering::Relaxed);
        Delivering(store, store.delivery_seq.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

impl Drop for Delivering<'_> {
    fn drop(&mut self) {
        let (count, idle) = &self.0.deliveries;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            idle.notify_all();
        }
    }
}

/// `(?,?,…)` with `n` placeholders, for `IN` lists (callers chunk by 500).
pub(super) fn in_list(n: usize) -> String {
    format!("({})", vec!["?"; n].join(","))
}

/// Page size of a new database (bytes).
pub const PAGE_SIZE: i64 = 8192;

/// Page cache of the writer, and of each reader (KiB): readers serve
/// lookups the operating system's cache answers as well, so they keep less.
const WRITER_CACHE_KIB: i64 = 16_000;
const READER_CACHE_KIB: i64 = 4_000;

fn tune(conn: &Connection, cache_kib: i64) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    Ok(())
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and migrate it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::files::private_dir_of(path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let mut writer = Connection::open(path)?;
        // Takes effect only on a new, empty database (see the module docs).
        writer.pragma_update(None, "page_size", PAGE_SIZE)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL here; the commit a receipt depends on is FULL (see the module docs).
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints run on their own thread (see `checkpoint`); this one is the backstop.
        writer.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)?;
        writer.pragma_update(None, "journal_size_limit", checkpoint::LOG_SIZE_LIMIT)?;
        tune(&writer, WRITER_CACHE_KIB)?;
        schema::migrate(&mut writer)?;
        // SQLite creates the WAL and SHM files with the database file's mode; make every one private.
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::files::make_private(Path::new(&p))
                .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        }
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            tune(&r, READER_CACHE_KIB)?;
            readers.push(Mutex::new(r));
        }
        let checkpointer = checkpoint::Checkpointer::start(path)?;
        Ok(SqliteStore {
            writer: FairMutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            deliveries: (Mutex::new(0), std::sync::Condvar::new()),
            opened: std::time::Instant::now(),
            delivery_seq: std::sync::atomic::AtomicU64::new(0),
            latest_delivery_us: std::sync::atomic::AtomicU64::new(0),
            _checkpointer: checkpointer,
            log: checkpoint::LogSync::new(path),
            stalled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn since_open_us(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Another delivery than `mine` is being stored, or one began after it
    /// within the last [`PACE_RECENT`].
    fn others_delivering(&self, mine: &Delivering<'_>) -> bool {
        let latest = self.latest_delivery_us.load(Ordering::Relaxed);
        *self.deliveries.0.lock().unwrap_or_else(|p| p.into_inner()) > 1
            || (self.delivery_seq.load(Ordering::Relaxed) > mine.1
                && self.since_open_us().saturating_sub(latest) < PACE_RECENT.as_micros() as u64)
    }

    #[track_caller]
    pub(super) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let at = std::panic::Location::caller();
        let mut conn = self.writer.lock();
        let t = std::time::Instant::now();
        let out = self.on_writer(&mut conn, f);
        drop(conn);
        let held = t.elapsed();
        if held > WRITER_HELD_LONG {
            tracing::debug!(held_ms = held.as_secs_f64() * 1000.0, at = %at, "writer held long");
        }
        out
    }

    /// Run `f` on the writer, its wait for the file's lock shortened while
    /// writes are failing for it ([`STALLED_BUSY_TIMEOUT`]).
    fn on_writer<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let stalled = self.stalled.load(Ordering::Relaxed);
        if stalled {
            let _ = conn.busy_timeout(STALLED_BUSY_TIMEOUT);
        }
        let out = f(conn);
        match &out {
            Err(StoreError::Unavailable(_)) if !stalled => {
                tracing::warn!(
                    "a write waited {} s for another process's lock on the database file; \
                    writes wait {} s until one succeeds",
                    BUSY_TIMEOUT.as_secs(),
                    STALLED_BUSY_TIMEOUT.as_secs()
                );
                self.stalled.store(true, Ordering::Relaxed);
            }
            Ok(_) if stalled => {
                self.stalled.store(false, Ordering::Relaxed);
                let _ = conn.busy_timeout(BUSY_TIMEOUT);
            }
            _ => {}
        }
        out
    }

    /// [`SqliteStore::write`] for background work: first let deliveries in
    /// progress finish (waiting at most [`BACKGROUND_YIELD`]); after, sync
    /// the log ([`checkpoint::LogSync`]).
    #[track_caller]
    fn write_background<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        {
            let (count, idle) = &self.deliveries;
            let n = count.lock().unwrap_or_else(|p| p.into_inner());
            drop(idle.wait_timeout_while(n, BACKGROUND_YIELD, |n| *n > 0).unwrap_or_else(|p| p.into_inner()));
        }
        let out = self.write(f);
        self.log.sync();
        out
    }

    /// [`SqliteStore::write`], adding the time spent waiting for the writer and holding it to `clock`.
    fn write_timed<T>(
        &self,
        clock: &mut WriterClock,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let t = std::time::Instant::now();
        let mut conn = self.writer.lock();
        let got = std::time::Instant::now();
        let out = self.on_writer(&mut conn, f);
        drop(conn);
        clock.waited += got - t;
        clock.held += got.elapsed();
        if got.elapsed() > WRITER_HELD_LONG {
            tracing::debug!(held_ms = got.elapsed().as_secs_f64() * 1000.0, at = "a batch's part", "writer held long");
        }
        out
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // A free reader if there is one (a long read — a full reconcile's
        // load — must not hold up a request that landed on its connection),
        // else wait for the next in turn.
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for k in 0..n {
            match self.readers[(start + k) % n].try_lock() {
                Ok(conn) => return f(&conn),
                Err(std::sync::TryLockError::Poisoned(p)) => return f(&p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let conn = self.readers[start % n].lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

/// While other agents deliver, a batch stored in parts waits this many
/// times as long as its last part held the writer before the next: it
/// takes at most a fifth of the writer and the disk from them (2 gave the
/// hostile-agent test 2.0–2.4× its quiet p99, 4 gave 1.5–1.6×).
const PACE_FACTOR: u32 = 4;

/// A delivery that began this recently still counts as delivering for pacing.
const PACE_RECENT: std::time::Duration = std::time::Duration::from_millis(50);

/// Holding the writer longer than this is logged (debug), with where.
const WRITER_HELD_LONG: std::time::Duration = std::time::Duration::from_millis(10);

/// About how long one part of a large batch holds the writer.
const PART_BUDGET: std::time::Duration = std::time::Duration::from_millis(2);

/// Time a sequence of writes spent waiting for the writer, and holding it.
#[derive(Debug, Default)]
struct WriterClock {
    waited: std::time::Duration,
    held: std::time::Duration,
}

fn agent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let segments: String = r.get(1)?;
    Ok(AgentRecord {
        name: r.get(0)?,
        segments: serde_json::from_str(&segments).unwrap_or_default(),
        created_ms: r.get(2)?,
        revoked_ms: r.get(3)?,
    })
}

fn agent_at(c: &Connection, name: &str) -> Result<Option<AgentRecord>, StoreError> {
    Ok(c.query_row("SELECT name, segments, created_ms, revoked_ms FROM agents WHERE name = ?1", [name], agent_row)
        .optional()?)
}

impl AgentStore for SqliteStore {
    fn add_agent(
        &self,
        name: &str,
        segments: &[IpNet],
        token: &TokenHash,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            if agent_at(&tx, name)?.is_some() {
                return Err(StoreError::Conflict(format!("agent `{name}`")));
            }
            let segs = serde_json::to_string(segments).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT INTO agents (name, token_hash, segments, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, &token[..], segs, now_ms()],
            )?;
            audit::append(&tx, &audit(None, agent_at(&tx, name)?.as_ref()))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn revoke_agent(&self, name: &str, audit: AuditOf<'_, AgentRecord>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let before = agent_at(&tx, name)?;
            let n = tx.execute(
                "UPDATE agents SET revoked_ms = ?2, prev_token_hash = NULL, prev_valid_until_ms = NULL
                 WHERE name = ?1 AND revoked_ms IS NULL",
                params![name, now_ms()],
            )?;
            if n > 0 {
                audit::append(&tx, &audit(before.as_ref(), agent_at(&tx, name)?.as_ref()))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn rotate_agent(
        &self,
        name: &str,
        token: &TokenHash,
        old_valid_until_ms: i64,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let before = agent_at(&tx, name)?;
            let now = now_ms();
            let n = tx.execute(
                "UPDATE agents SET
                   prev_token_hash = CASE WHEN ?3 > ?4 AND revoked_ms IS NULL THEN token_hash ELSE NULL END,
                   prev_valid_until_ms = CASE WHEN ?3 > ?4 AND revoked_ms IS NULL THEN ?3 ELSE NULL END,
                   token_hash = ?2, revoked_ms = NULL
                 WHERE name = ?1",
                params![name, &token[..], old_valid_until_ms, now],
            )?;
            if n > 0 {
                audit::append(&tx, &audit(before.as_ref(), agent_at(&tx, name)?.as_ref()))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn agent_by_token(&self, token: &TokenHash) -> Result<Option<AgentRecord>, StoreError> {
        self.read(|c| {
            let found: Option<(Vec<u8>, AgentRecord)> = c
                .query_row(
                    "SELECT name, segments, created_ms, revoked_ms, token_hash FROM agents WHERE token_hash = ?1",
                    [&token[..]],
                    |r| Ok((r.get::<_, Vec<u8>>(4)?, agent_row(r)?)),
                )
                .optional()?;
            if let Some((stored, agent)) = found {
                let stored: Option<TokenHash> = stored.try_into().ok();
                return Ok(stored.filter(|s| crate::auth::same(s, token) && agent.revoked_ms.is_none()).map(|_| agent));
            }
            // A rotated token, within its overlap.
            let old: Option<(Vec<u8>, AgentRecord)> = c
                .query_row(
                    "SELECT name, segments, created_ms, revoked_ms, prev_token_hash FROM agents
                     WHERE prev_token_hash = ?1 AND prev_valid_until_ms > ?2 AND revoked_ms IS NULL",
                    params![&token[..], now_ms()],
                    |r| Ok((r.get::<_, Vec<u8>>(4)?, agent_row(r)?)),
                )
                .optional()?;
            Ok(old.and_then(|(stored, agent)| {
                let stored: TokenHash = stored.try_into().ok()?;
                crate::auth::same(&stored, token).then_some(agent)
            }))
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT name, segments, created_ms, revoked_ms FROM agents ORDER BY name")?;
            let rows = st.query_map([], agent_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn agents_last_batch(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|c| {
            // One probe of `batches_by_agent_received` per agent.
            let mut st = c.prepare_cached(
                "SELECT name, (SELECT max(received_ms) FROM batches WHERE agent = agents.name) AS last
                 FROM agents WHERE revoked_ms IS NULL AND last IS NOT NULL ORDER BY name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

impl crate::store::CoordinationStore for SqliteStore {
    /// One daemon owns a SQLite file (the daemon's own locks order its work).
    fn turn(
        &self,
        _job: crate::store::Job,
        _give_up: &(dyn Fn() -> bool + Sync),
    ) -> Result<crate::store::Turn, StoreError> {
        Ok(crate::store::Turn::local())
    }
}

impl crate::store::HealthStore for SqliteStore {
    fn pool_usage(&self) -> crate::store::PoolUsage {
        // A connection whose lock cannot be taken at once is in use; the
        // probe holds each lock for no time at all.
        let readers_busy = self.readers.iter().filter(|r| r.try_lock().is_err()).count();
        let writers_busy = usize::from(self.writer.try_lock().is_none());
        crate::store::PoolUsage { readers: self.readers.len(), readers_busy, writers: 1, writers_busy }
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map(drop)?))
    }
}

impl ObservationStore for SqliteStore {
    fn ingest(&self, batch: &BatchMeta, agent: &str, rows: &[ObservationRow<'_>]) -> Result<IngestOutcome, StoreError> {
        let delivering = Delivering::start(self);
        if rows.len() <= ingest::CHUNK {
            let mut clock = WriterClock::default();
            let stored = self.write_timed(&mut clock, |c| ingest::whole(c, batch, agent, rows))?;
            tracing::debug!(
                batch = %batch.batch_id,
                waited_ms = clock.waited.as_secs_f64() * 1000.0,
                held_ms = clock.held.as_secs_f64() * 1000.0,
                "batch stored whole"
            );
            return Ok(match stored {
                None => IngestOutcome { duplicate: true, stored: 0, changed_hosts: 0 },
                Some((stored, changed_hosts)) => IngestOutcome { duplicate: false, stored, changed_hosts },
            });
        }
        // Each part its own turn at the writer.
        let done = match self.write(|c| ingest::begin(c, batch, agent, rows.len()))? {
            ingest::Begun::Duplicate => {
                return Ok(IngestOutcome { duplicate: true, stored: 0, changed_hosts: 0 });
            }
            ingest::Begun::Store(done) => done.min(rows.len()),
        };
        let mut out = IngestOutcome { duplicate: false, stored: 0, changed_hosts: 0 };
        let mut clock = WriterClock::default();
        // Parts sized to hold the writer about PART_BUDGET each: large enough
        // that a big batch is not all per-commit overhead, small enough that
        // another agent's batch never waits long behind one.
        let (mut at, mut size) = (done, ingest::CHUNK / 4);
        while at < rows.len() {
            let part = &rows[at..(at + size).min(rows.len())];
            let held = clock.held;
            let (n, changed) = self.write_timed(&mut clock, |c| ingest::chunk(c, batch, agent, at, part))?;
            let took = (clock.held - held).max(std::time::Duration::from_micros(50));
            at += part.len();
            let fits = (part.len() as f64 * PART_BUDGET.as_secs_f64() / took.as_secs_f64()) as usize;
            size = fits.clamp(16, ingest::CHUNK);
            out.stored += n;
            out.changed_hosts += changed;
            // While others deliver, this batch syncs its own pages (their
            // receipts need not) and waits its turn; alone, `finish` syncs
            // them all at once and nobody waits behind it.
            if at < rows.len() && self.others_delivering(&delivering) {
                self.log.sync();
                std::thread::sleep(took * PACE_FACTOR);
            }
        }
        let before_finish = clock.held;
        self.write_timed(&mut clock, |c| ingest::finish(c, &batch.batch_id))?;
        tracing::debug!(
            batch = %batch.batch_id,
            waited_ms = clock.waited.as_secs_f64() * 1000.0,
            wrote_ms = before_finish.as_secs_f64() * 1000.0,
            durable_ms = (clock.held - before_finish).as_secs_f64() * 1000.0,
            "batch stored in parts"
        );
        Ok(out)
    }

    fn pending_batches(
        &self,
        after: super::BacklogCursor,
        budget: usize,
    ) -> Result<(Vec<crate::reconcile::PendingBatch>, super::BacklogCursor), StoreError> {
        self.read(|c| pending::pending(c, after, budget))
    }

    fn host(&self, ip: &str) -> Result<Option<HostRecord>, StoreError> {
        self.read(|c| ingest::host(c, ip))
    }

    fn sightings_by_day(&self, ip: &str, since_ms: i64) -> Result<Vec<super::DaySightings>, StoreError> {
        self.read(|c| rollup::sightings_by_day(c, ip, since_ms))
    }

    fn observation_count(&self) -> Result<i64, StoreError> {
        // Each stored batch records its accepted observations: summing a few
        // thousand batch rows, not counting millions of observations.
        self.read(|c| {
            Ok(c.query_row("SELECT coalesce(sum(hosts), 0) FROM batches WHERE receiving = 0", [], |r| r.get(0))?)
        })
    }

    fn roll_up(&self, before_ms: i64, budget: usize) -> Result<super::RollUp, StoreError> {
        // Each part its own turn at the writer, behind any delivery.
        super::shared::rollup::roll_up(budget, || self.write_background(|c| rollup::part(c, before_ms)))
    }
}

impl RegisterStore for SqliteStore {
    fn assets(&self) -> Result<Vec<Asset>, StoreError> {
        self.read(assets::all)
    }

    fn assets_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Asset>, StoreError> {
        self.read(|c| assets::page(c, after, limit))
    }

    fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError> {
        self.read(|c| assets::one(c, tag))
    }

    fn assets_by_tags(&self, tags: &[String]) -> Result<Vec<Asset>, StoreError> {
        self.read(|c| assets::by_tags(c, tags))
    }

    fn create_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let stored = assets::create(&tx, asset, actor, "create")?;
            audit::append(&tx, &audit(None, Some(&stored)))?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn update_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let old =
                assets::one(&tx, &asset.tag)?.ok_or_else(|| StoreError::NotFound(format!("asset `{}`", asset.tag)))?;
            let stored = assets::update(&tx, &old, asset, actor, "update")?;
            audit::append(&tx, &audit(Some(&old), Some(&stored)))?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn delete_asset(&self, tag: &str, actor: &str, audit: AuditOf<'_, Asset>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let old = assets::one(&tx, tag)?;
            let deleted = assets::delete(&tx, tag, actor)?;
            if deleted {
                audit::append(&tx, &audit(old.as_ref(), None))?;
            }
            tx.commit()?;
            Ok(deleted)
        })
    }

    fn import_assets(
        &self,
        build: &mut (dyn FnMut(&[Asset]) -> Option<Vec<Asset>> + Send),
        actor: &str,
        audit: AuditOf<'_, Asset>,
    ) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let wrote = assets::import(&tx, build, actor, audit)?;
            tx.commit()?;
            Ok(wrote)
        })
    }

    fn asset_history(&self, tag: &str) -> Result<Vec<AssetChange>, StoreError> {
        self.read(|c| assets::history(c, tag))
    }

    fn directory(&self) -> Result<Vec<crate::directory::DirectoryEntry>, StoreError> {
        self.read(|c| keyed::all(c, keyed::Keyed::Directory))
    }

    fn write_directory(&self, build: super::DirectoryBuild<'_>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let wrote =
                keyed::apply(&tx, keyed::Keyed::Directory, |e: &crate::directory::DirectoryEntry| &e.id, build)?;
            tx.commit()?;
            Ok(wrote)
        })
    }

    fn retirements(&self) -> Result<Vec<crate::retirement::RetirementRecord>, StoreError> {
        self.read(|c| keyed::all(c, keyed::Keyed::Retirements))
    }

    fn write_retirements(
        &self,
        build: super::KeyedBuild<'_, crate::retirement::RetirementRecord>,
    ) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let wrote =
                keyed::apply(&tx, keyed::Keyed::Retirements, |r: &crate::retirement::RetirementRecord| &r.tag, build)?;
            tx.commit()?;
            Ok(wrote)
        })
    }

    fn sources(&self) -> Result<Vec<crate::sources::Source>, StoreError> {
        self.read(|c| keyed::all(c, keyed::Keyed::Sources))
    }

    fn write_sources(&self, build: super::KeyedBuild<'_, crate::sources::Source>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let wrote = keyed::apply(&tx, keyed::Keyed::Sources, |s: &crate::sources::Source| &s.def.name, build)?;
            tx.commit()?;
            Ok(wrote)
        })
    }

    fn remove_source(&self, name: &str, audit: Vec<super::AuditEntry>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let removed = keyed::remove(&tx, keyed::Keyed::Sources, name)?;
            if removed {
                audit::append(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    fn entitlements(&self) -> Result<Vec<crate::licences::Entitlement>, StoreError> {
        self.read(|c| keyed::all(c, keyed::Keyed::Entitlements))
    }

    fn write_entitlements(&self, build: super::EntitlementBuild<'_>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let wrote = keyed::apply(&tx, keyed::Keyed::Entitlements, |e: &crate::licences::Entitlement| &e.id, build)?;
            tx.commit()?;
            Ok(wrote)
        })
    }
}

impl ReconcileStore for SqliteStore {
    fn register_rows(&self, after: Option<&str>, limit: usize) -> Result<Box<dyn super::StoredPage>, StoreError> {
        Ok(Box::new(self.read(|c| reconcile::register_rows(c, after.unwrap_or(""), limit))?))
    }

    fn register_size_hint(&self) -> Result<usize, StoreError> {
        self.read(|c| {
            let n: i64 = c.prepare_cached("SELECT count(*) FROM assets")?.query_row([], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn learned_certs(&self) -> Result<super::LearnedCerts, StoreError> {
        self.read(reconcile::learned)
    }

    fn retired_credential_holders(&self) -> Result<Vec<Asset>, StoreError> {
        self.read(reconcile::retired_credential_holders)
    }

    fn retired_assets(&self) -> Result<Vec<Asset>, StoreError> {
        self.read(reconcile::retired_assets)
    }

    fn sightings(&self, select: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError> {
        self.read(|c| reconcile::sightings(c, select))
    }

    fn devices(&self, keys: Option<&[String]>, since: i64) -> Result<HashMap<String, DeviceRecord>, StoreError> {
        self.read(|c| reconcile::devices(c, keys, since))
    }

    fn asset_states(&self, tags: Option<&[String]>) -> Result<HashMap<String, AssetState>, StoreError> {
        self.read(|c| reconcile::asset_states(c, tags))
    }

    fn live_subjects(&self) -> Result<Vec<(AlertKind, String)>, StoreError> {
        self.read(reconcile::live_subjects)
    }

    fn oldest_unreconciled_ms(&self) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT min(received_ms) FROM batches WHERE reconciled = 0 AND receiving = 0", [], |r| {
                r.get(0)
            })?)
        })
    }

    fn unreconciled_batches(&self) -> Result<usize, StoreError> {
        self.read(|c| {
            let n: i64 =
                c.query_row("SELECT count(*) FROM batches WHERE reconciled = 0 AND receiving = 0", [], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn alerted_subjects(
        &self,
        kinds: &[AlertKind],
        after_id: i64,
    ) -> Result<(Vec<(AlertKind, String)>, i64), StoreError> {
        self.read(|c| reconcile::alerted_subjects(c, kinds, after_id))
    }

    fn sweeps_after(&self, seq: i64, horizon_ms: i64) -> Result<(Vec<SweepRow>, i64), StoreError> {
        self.read(|c| reconcile::sweeps_after(c, seq, horizon_ms))
    }

    fn commit_reconcile(
        &self,
        plan: &Plan,
        decide: &mut (dyn FnMut(AlertInputs) -> Vec<Change> + Send),
    ) -> Result<CommitOutcome, StoreError> {
        // Read and decide outside the writer; the commit redoes what an operator changed meanwhile.
        let t = std::time::Instant::now();
        let inputs = self.read(|c| reconcile::alert_inputs(c, plan, None))?;
        let loaded = t.elapsed();
        let changes = decide(inputs);
        tracing::debug!(
            load_alerts_ms = loaded.as_secs_f64() * 1000.0,
            decide_ms = (t.elapsed() - loaded).as_secs_f64() * 1000.0,
            subjects = plan.subjects().len(),
            "reconcile decide phases"
        );
        // In parts, each its own turn at the writer; a crash between them
        // leaves the batches unmarked, and reconciling them again is harmless
        // (every write here is idempotent), so they are marked last.
        const PART: usize = 256;
        let longest = plan.matches.len().max(plan.devices.len()).max(plan.states.len()).max(plan.learned.len());
        let mut from = 0;
        while from < longest {
            self.write_background(|c| reconcile::write_state(c, plan, from, PART))?;
            from += PART;
        }
        let mut out = CommitOutcome::default();
        for part in changes.chunks(PART) {
            out.add(&self.write_background(|c| reconcile::write_alerts(c, plan, part, decide))?);
        }
        if !plan.batches.is_empty() {
            self.write_background(|c| reconcile::mark_reconciled(c, &plan.batches))?;
        }
        Ok(out)
    }
}

impl AlertStore for SqliteStore {
    fn alert_counts(&self) -> Result<Vec<super::AlertCount>, StoreError> {
        self.read(alerts::counts)
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        self.read(|c| alerts::list(c, filter))
    }

    fn alert_count(&self, filter: &AlertFilter) -> Result<u64, StoreError> {
        self.read(|c| alerts::count(c, filter))
    }

    fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        self.read(|c| alerts::alert(c, id))
    }

    fn alert_action(
        &self,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let before = alerts::alert(&tx, id)?;
            let out = alerts::act(&tx, id, decide, now_ms())?;
            if let Some(after) = &out {
                audit::append(&tx, &audit(before.as_ref(), Some(after)))?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn asset_with_alert_action(
        &self,
        change: super::RegisterChange<'_>,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<(Asset, Option<Alert>), StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (asset, actor) = (change.asset, change.actor);
            let stored = if change.create {
                let stored = assets::create(&tx, asset, actor, "create")?;
                audit::append(&tx, &(change.audit)(None, Some(&stored)))?;
                stored
            } else {
                let old = assets::one(&tx, &asset.tag)?
                    .ok_or_else(|| StoreError::NotFound(format!("asset `{}`", asset.tag)))?;
                let stored = assets::update(&tx, &old, asset, actor, "update")?;
                audit::append(&tx, &(change.audit)(Some(&old), Some(&stored)))?;
                stored
            };
            let before = alerts::alert(&tx, id)?;
            // A refusal is decided before anything of the alert is written.
            let after = match alerts::act(&tx, id, decide, now_ms()) {
                Ok(a) => a,
                Err(StoreError::Refused(_)) => None,
                Err(e) => return Err(e),
            };
            if let Some(a) = &after {
                audit::append(&tx, &audit(before.as_ref(), Some(a)))?;
            }
            tx.commit()?;
            Ok((stored, after))
        })
    }

    fn alert_history(&self, id: i64) -> Result<Vec<AlertHistoryEntry>, StoreError> {
        self.read(|c| alerts::history(c, id))
    }

    fn suppressions(&self, live_only: bool) -> Result<Vec<Suppression>, StoreError> {
        self.read(|c| alerts::suppressions(c, live_only.then(now_ms)))
    }

    fn add_suppression(&self, rule: &Suppression, audit: AuditOf<'_, Suppression>) -> Result<Suppression, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let stored = alerts::add_suppression(&tx, rule)?;
            audit::append(&tx, &audit(None, Some(&stored)))?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn remove_suppression(&self, id: i64, audit: AuditOf<'_, Suppression>) -> Result<bool, StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let before = alerts::suppressions(&tx, None)?.into_iter().find(|r| r.id == id);
            let removed = alerts::remove_suppression(&tx, id)?;
            if removed {
                audit::append(&tx, &audit(before.as_ref(), None))?;
            }
            tx.commit()?;
            Ok(removed)
        })
    }
}

impl OutboxStore for SqliteStore {
    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.write(|c| alerts::outbox_due(c, sink, now, limit))
    }

    fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(|c| alerts::outbox_delivered(c, id, now))
    }

    fn outbox_failed(&self, id: i64, attempts: u32, retry_at: i64, error: &str) -> Result<(), StoreError> {
        self.write(|c| alerts::outbox_failed(c, id, attempts, retry_at, error))
    }

    fn outbox_backlog(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(alerts::outbox_backlog)
    }
}

impl QueryStore for SqliteStore {
    fn whois(&self, query: &str) -> Result<Option<crate::whois::WhoisData>, StoreError> {
        self.read(|c| whois::whois(c, query))
    }

    fn certificate_hosts(&self) -> Result<Vec<crate::certificates::HostTls>, StoreError> {
        self.read(whois::certificate_hosts)
    }

    fn report_data(&self) -> Result<crate::report::ReportData, StoreError> {
        self.read(report::report_data)
    }
}

#[cfg(test)]
mod pacing_tests {
    use super::{Delivering, PACE_RECENT, SqliteStore};

    /// A batch stored in parts paces itself while another delivery is
    /// stored or began since it did, and not when it is alone.
    #[test]
    fn a_batch_in_parts_sees_other_deliveries_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("census.db")).unwrap();
        let mine = Delivering::start(&store);
        assert!(!store.others_delivering(&mine), "alone");
        let other = Delivering::start(&store);
        assert!(store.others_delivering(&mine), "another being stored");
        drop(other);
        assert!(store.others_delivering(&mine), "another began a moment ago: more are likely to follow");
        std::thread::sleep(PACE_RECENT + std::time::Duration::from_millis(10));
        assert!(!store.others_delivering(&mine), "alone again");
    }
}
