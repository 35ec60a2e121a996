//! Reconciliation: what the agents see against what the register says.
//!
//! - [`sighting`]: the compact per-address view reconciliation reads;
//! - [`identity`]: explainable, scored matching of a host to an asset;
//! - [`rules`] and [`assets`]: the alert rules, pure functions over values;
//! - [`Reconciler`]: runs them — incrementally after every ingest (only the
//!   addresses in the batch and the assets they touch) and in full on a
//!   schedule and after register changes (time-based kinds: missing,
//!   out-of-support, debounce deadlines, suppression expiry) — and commits
//!   the outcome in one transaction.
//!
//! Runs are serialised: an incremental run never interleaves with a full
//! one, so debounce counts and alert state stay consistent.
//!
//! **The reconcile queue.** Ingest answers an agent once its batch is
//! durably stored; the batch's sightings wait in a queue (bounded: ingest
//! waits when it is full) and a worker reconciles them, several batches to
//! a run, so an agent's delivery never waits behind a full reconcile of
//! 300,000 hosts. Each batch is marked reconciled in the transaction that
//! commits its run; batches left unmarked by a crash are rebuilt from the
//! store and reconciled at the next start.

pub mod alerted;
mod arena;
pub mod assets;
mod cached;
pub mod certificates;
pub mod credentials;
pub mod end_of_life;
pub mod identity;
pub mod licences;
pub mod owners;
mod pages;
pub mod rules;
pub mod sighting;
pub mod sources;
pub mod sweeps;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use tokio::sync::Notify;

use crate::alerts::Severity;
use crate::alerts::lifecycle::{self, Change};
use crate::config::ReconcileConfig;
use crate::metrics::{DaemonMetrics, ReconcileKind};
use crate::store::{AlertInputs, SightingSelect, Store, StoreError, StoredPage, decode_page};
pub use identity::{Identity, RegisterIndex};
use pages::read_ahead;
pub use rules::{AssetState, DeviceRecord, Plan, Settings, World};
pub use sighting::{BatchContext, Sighting};
pub use sweeps::{SweepIndex, SweepRow};

/// Map `f` over `items` on every core (rayon's pool, order kept): the
/// index build and the matching of 100,000 hosts are pure and independent.
pub fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    parallel_map_over(items, 2048, f)
}

/// [`parallel_map`] keeping the items `f` returns (`None`: left out), in
/// order. Collected into a vector of the right size at once: collecting
/// the `Option`s' flattening (which gives no size ahead) grew the vector by
/// doubling, each step a copy into fresh memory the kernel zeroes first —
/// loading 100,000 sightings spent more in that than in decoding them
/// (`perf`, bench/RESULTS.md, 2026-12-07 night).
pub fn parallel_filter_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> Option<U> + Sync) -> Vec<U> {
    let all = parallel_map(items, f);
    let mut kept = Vec::with_capacity(all.iter().filter(|u| u.is_some()).count());
    kept.extend(all.into_iter().flatten());
    kept
}

/// [`parallel_map`], on the calling thread when there are fewer than
/// `min_items` (below that, handing work to the pool costs more than it saves).
///
/// The pool's threads live as long as the process: threads started per
/// call (as here before) each made the allocator set up a heap of its own
/// and abandon it at exit, memory that other threads then freed into.
pub fn parallel_map_over<T: Sync, U: Send>(items: &[T], min_items: usize, f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    if threads < 2 || items.len() < min_items.max(2) {
        return items.iter().map(&f).collect();
    }
    // Pieces of at least 64 items (or a core's share, if smaller): enough
    // to balance uneven items across cores without a hand-off per item.
    let least = items.len().div_ceil(threads).min(64);
    let f = &f; // a shared reference to a `Sync` closure may go to other threads
    items.par_iter().with_min_len(least).map(f).collect()
}

/// The whole register decoded (see [`Reconciler::register`]).
#[derive(Debug, Default)]
pub struct Register {
    /// Every asset, by tag.
    pub assets: Vec<crate::register::Asset>,
}

/// Assets indexed before the match index makes room for the rest (enough
/// to show how many MACs, addresses and names an asset holds).
const RESERVE_AFTER: usize = 4_096;

/// Assets a full run's rules pass reads from the store at a time.
pub const FULL_RUN_PAGE: usize = 5_000;

/// Assets the match index is built from at a time: larger pages than the
/// rules pass's, as only the keys of each are decoded (about 8 MB of
/// stored text a page; see `pages` for how many are in memory at once).
pub const INDEX_PAGE: usize = 20_000;

/// A page of up to `limit` stored assets, not yet decoded, read with
/// `read` (the match index's keys or the rules pass's whole assets), and
/// the tag the next page begins after (`None`: a short page, the last).
fn register_page(
    read: impl FnOnce(usize) -> Result<Box<dyn StoredPage>, StoreError>,
    limit: usize,
) -> Result<(Box<dyn StoredPage>, Option<String>), StoreError> {
    let rows = read(limit)?;
    let next = if rows.len() == limit { rows.last_tag() } else { None };
    Ok((rows, next))
}

/// What a run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReconcileSummary {
    /// Hosts evaluated.
    pub hosts: usize,
    /// Of which matched an asset.
    pub matched: usize,
    /// Of which were ambiguous.
    pub ambiguous: usize,
    /// Assets evaluated.
    pub assets: usize,
    /// Alerts raised (open).
    pub opened: usize,
    /// Resolved alerts reopened.
    pub reopened: usize,
    /// Alerts raised or held as suppressed.
    pub suppressed: usize,
    /// Live alerts updated by a repeat.
    pub updated: usize,
    /// Alerts auto-resolved.
    pub resolved: usize,
    /// Events queued for notification.
    pub events: usize,
}

/// The running reconcile worker; [`Worker::stop`] ends it (batches still
/// queued stay unreconciled in the store and are taken at the next start).
pub struct Worker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    reconciler: Arc<Reconciler>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Stop the worker after its current run.
    pub fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.reconciler.work.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A stored batch waiting to be reconciled.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    /// Batch id.
    pub batch_id: String,
    /// Agent that delivered it.
    pub agent: String,
    /// Its sightings.
    pub sightings: Vec<Sighting>,
    /// More of this batch's sightings follow in another run (a large batch
    /// is reconciled in parts, so memory stays bounded; it is marked
    /// reconciled with its last part).
    pub more: bool,
}

/// Sightings the queue holds in memory at most; beyond, batches wait in the
/// store (see [`Reconciler::enqueue`]).
pub const QUEUE_CAP: usize = 20_000;
/// Sightings one incremental run takes at most (several small batches, or one large one).
const RUN_SIGHTINGS: usize = 5_000;

/// How long a stored batch may wait unreconciled before a daemon other than
/// the one that stored it takes it over (ms): a daemon reconciles its own
/// within seconds, or reloads them from the store when its queue is full.
pub const ORPHAN_AFTER_MS: i64 = 30_000;

#[derive(Default)]
struct Queue {
    batches: VecDeque<PendingBatch>,
    sightings: usize,
    /// Batches stored before this start, not yet loaded into the queue.
    recover: bool,
    /// Batches taken from the queue by a run not yet committed.
    in_flight: usize,
}

impl ReconcileSummary {
    fn add(&mut self, o: &ReconcileSummary) {
        self.hosts += o.hosts;
        self.matched += o.matched;
        self.ambiguous += o.ambiguous;
        self.assets += o.assets;
        self.opened += o.opened;
        self.reopened += o.reopened;
        self.suppressed += o.suppressed;
        self.updated += o.updated;
        self.resolved += o.resolved;
        self.events += o.events;
    }
}

/// Runs reconciliation against a store.
pub struct Reconciler {
    store: Arc<dyn Store>,
    settings: Settings,
    routes: Vec<(String, Severity)>,
    index: Mutex<Option<Arc<RegisterIndex>>>,
    /// The whole register decoded, for the console's searches; built on first use.
    register: Mutex<Option<Arc<Register>>>,
    /// Bumped by every register change: an index or register built from a
    /// read older than the last change is used once but not kept.
    generation: std::sync::atomic::AtomicU64,
    sweeps: Mutex<(Arc<SweepIndex>, i64)>,
    run_lock: Mutex<()>,
    /// The daemon is stopping: a full reconcile waiting for its turn gives
    /// up, and one running writes nothing ([`Reconciler::stop_full_runs`]).
    stopping: std::sync::atomic::AtomicBool,
    wake: Arc<Notify>,
    full_requested: Notify,
    queue: Mutex<Queue>,
    work: Condvar,
    alerted: alerted::Alerted,
    metrics: Arc<DaemonMetrics>,
    /// The people directory, loaded on first use and dropped when it changes.
    directory: cached::Cached<crate::directory::standing::Directory>,
    /// The licence entitlements, likewise.
    entitlements: cached::Cached<Vec<crate::licences::Entitlement>>,
    /// When each retirement started (by lowercase tag), likewise.
    retired_since: cached::Cached<HashMap<String, i64>>,
    /// The coverage sources with their lists, likewise.
    sources: cached::Cached<Vec<crate::sources::Source>>,
    /// The store's change counts when this daemon last looked
    /// ([`Reconciler::follow_store`]).
    seen_changes: Mutex<crate::store::SharedChanges>,
}

impl Reconciler {
    /// A reconciler; `routes` are the notification sinks and their
    /// thresholds, `wake` is signalled when events were queued.
    pub fn new(
        store: Arc<dyn Store>,
        cfg: &ReconcileConfig,
        routes: Vec<(String, Severity)>,
        wake: Arc<Notify>,
    ) -> Self {
        let sinks: Vec<String> = routes.iter().map(|(name, _)| name.clone()).collect();
        let metrics = Arc::new(DaemonMetrics::new(&sinks));
        Reconciler {
            store,
            settings: Settings::from_config(cfg),
            routes,
            index: Mutex::new(None),
            register: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            sweeps: Mutex::new((Arc::new(SweepIndex::default()), 0)),
            run_lock: Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            wake,
            full_requested: Notify::new(),
            queue: Mutex::new(Queue { recover: true, ..Queue::default() }),
            work: Condvar::new(),
            alerted: alerted::Alerted::default(),
            metrics,
            directory: Default::default(),
            entitlements: Default::default(),
            retired_since: Default::default(),
            sources: Default::default(),
            seen_changes: Mutex::default(),
        }
    }

    /// The daemon's metrics (one set per reconciler, so per daemon).
    pub fn metrics(&self) -> &Arc<DaemonMetrics> {
        &self.metrics
    }

    /// The register index, built on first use after a change (a page of
    /// the register decoded at a time; only the index is kept).
    fn index(&self) -> Result<Arc<RegisterIndex>, StoreError> {
        let mut slot = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = slot.as_ref() {
            return Ok(i.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let t = std::time::Instant::now();
        let mut idx = RegisterIndex::default();
        let ((), failed, waiting) = read_ahead(
            |after| register_page(|limit| self.store.register_keys(after, limit), INDEX_PAGE),
            |rows| decode_page(rows.as_ref(), |r| r.keys()),
            |keys| {
                for (n, (a, created)) in keys.enumerate() {
                    // Room for the whole register once a first share of it shows
                    // what an asset holds; a register smaller than that share is
                    // never sized (a failed estimate: the tables grow as they go).
                    if n == RESERVE_AFTER
                        && let Ok(size) = self.store.register_size_hint()
                    {
                        idx.reserve_for(size);
                    }
                    idx.add(&a, created);
                }
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        idx.learned = self.store.learned_certs()?;
        idx.retired = credentials::RetiredCredentials::build(&self.store.retired_credential_holders()?, &idx.learned);
        tracing::debug!(
            assets = idx.len(),
            total_ms = t.elapsed().as_millis() as u64,
            waiting_ms = waiting.as_millis() as u64,
            "match index built"
        );
        let idx = Arc::new(idx);
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            *slot = Some(idx.clone());
        }
        Ok(idx)
    }

    /// The match index: keys and a compact record per asset (see
    /// [`RegisterIndex`]), rebuilt from the store after [`Self::register_edited`].
    ///
    /// # Errors
    /// The store failed while rebuilding it.
    pub fn register_index(&self) -> Result<Arc<RegisterIndex>, StoreError> {
        self.index()
    }

    /// The whole register decoded, by tag, for the console's searches and
    /// dashboard (which filter and sort on any field): built from the store
    /// on first use after a change and kept until the next. Reconciliation
    /// never reads it, so a daemon nobody browses never holds it.
    ///
    /// # Errors
    /// The store failed while reading the register.
    pub fn register(&self) -> Result<Arc<Register>, StoreError> {
        self.follow_store()?;
        let mut slot = self.register.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let register = Arc::new(Register { assets: self.store.assets()? });
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            *slot = Some(register.clone());
        }
        Ok(register)
    }

    /// The notification routes (sink, least severity).
    pub fn routes(&self) -> &[(String, Severity)] {
        &self.routes
    }

    /// The thresholds in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Tell the notifier events are waiting.
    pub fn wake_notifier(&self) {
        self.wake.notify_one();
    }

    /// The store it reconciles.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Drop what this daemon keeps in memory and another daemon sharing
    /// the store has changed since the last look (the register's index,
    /// the directory, the entitlements, the retirements, the sources), so
    /// they are loaded again. Called before each run and each read of the
    /// decoded register; one small query, and nothing to do on SQLite,
    /// whose one daemon drops its copies as it changes them.
    ///
    /// # Errors
    /// The store failed.
    pub fn follow_store(&self) -> Result<(), StoreError> {
        let now = self.store.changes()?;
        let mut seen = self.seen_changes.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == now {
            return Ok(());
        }
        tracing::debug!(?now, before = ?*seen, "the shared store changed; reloading what changed");
        if seen.register != now.register {
            self.register_changed();
        }
        if seen.directory != now.directory {
            self.directory.invalidate();
        }
        if seen.licences != now.licences {
            self.entitlements.invalidate();
        }
        if seen.retirements != now.retirements {
            self.retired_since.invalidate();
        }
        if seen.sources != now.sources {
            self.sources.invalidate();
        }
        *seen = now;
        Ok(())
    }

    /// Forget the cached register index and decoded register (call after any register change).
    pub fn register_changed(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.register.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The people directory as reconciliation reads it (loaded once, kept
    /// until [`Reconciler::directory_changed`]).
    ///
    /// # Errors
    /// The store's, when it is loaded.
    pub fn directory(&self) -> Result<Arc<crate::directory::standing::Directory>, StoreError> {
        self.follow_store()?;
        self.directory.get(|| Ok(crate::directory::standing::Directory::new(self.store.directory()?)))
    }

    /// The directory changed (an import or a sync): reload it and ask for a
    /// full reconcile soon (any asset's owner may have left or come back).
    pub fn directory_changed(&self) {
        self.directory.invalidate();
        self.request_full();
    }

    /// The licence entitlements (loaded once, kept until [`Reconciler::licences_changed`]).
    ///
    /// # Errors
    /// The store's, when they are loaded.
    pub fn entitlements(&self) -> Result<Arc<Vec<crate::licences::Entitlement>>, StoreError> {
        self.follow_store()?;
        self.entitlements.get(|| self.store.entitlements())
    }

    /// When each retirement started, by lowercase tag (loaded once, kept
    /// until [`Reconciler::retirements_changed`]).
    ///
    /// # Errors
    /// The store's, when they are loaded.
    pub fn retired_since(&self) -> Result<Arc<HashMap<String, i64>>, StoreError> {
        self.follow_store()?;
        self.retired_since.get(|| {
            Ok(self
                .store
                .retirements()?
                .into_iter()
                .filter_map(|r| Some((r.tag.to_ascii_lowercase(), r.started_ms?)))
                .collect())
        })
    }

    /// The coverage sources (loaded once, kept until [`Reconciler::sources_changed`]).
    ///
    /// # Errors
    /// The store's, when they are loaded.
    pub fn sources(&self) -> Result<Arc<Vec<crate::sources::Source>>, StoreError> {
        self.follow_store()?;
        self.sources.get(|| self.store.sources())
    }

    /// A source was defined or loaded: reload them and ask for a full reconcile soon.
    pub fn sources_changed(&self) {
        self.sources.invalidate();
        self.request_full();
    }

    /// Retirement records changed: reload their starts.
    pub fn retirements_changed(&self) {
        self.retired_since.invalidate();
    }

    /// The entitlements changed: reload them and ask for a full reconcile soon.
    pub fn licences_changed(&self) {
        self.entitlements.invalidate();
        self.request_full();
    }

    /// A person edited the register: forget the index and ask the schedule
    /// for a full reconcile soon (every asset's verdict may have changed).
    pub fn register_edited(&self) {
        self.register_changed();
        self.request_full();
    }

    /// Ask the schedule for a full reconcile soon (a burst of requests makes one run).
    pub fn request_full(&self) {
        self.full_requested.notify_one();
    }

    /// Resolves when a full reconcile was asked for since the last call.
    pub async fn full_requested(&self) {
        self.full_requested.notified().await;
    }

    /// The sweep index brought up to date with the store (new batches by
    /// arrival sequence; sweeps older than the horizon pruned hourly).
    pub fn sweep_snapshot(&self, now_ms: i64) -> Result<Arc<SweepIndex>, StoreError> {
        let mut g = self.sweeps.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now_ms - self.settings.horizon_ms();
        let (rows, seq) = self.store.sweeps_after(g.0.seq, horizon)?;
        if !rows.is_empty() || seq > g.0.seq {
            Arc::make_mut(&mut g.0).extend(rows, seq);
        }
        if now_ms - g.1 > 3_600_000 {
            Arc::make_mut(&mut g.0).prune(horizon);
            g.1 = now_ms;
        }
        Ok(g.0.clone())
    }

    /// Queue a stored batch for reconciliation. Never waits: when the queue
    /// already holds [`QUEUE_CAP`] sightings, the batch is left in the store
    /// (it is stored, unmarked) and the worker loads it from there once it has
    /// caught up — so a burst of deliveries is acknowledged at the store's
    /// speed, the daemon's memory stays bounded, and nothing is lost.
    pub fn enqueue(&self, batch: PendingBatch) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.sightings + batch.sightings.len() > QUEUE_CAP {
            if !q.recover {
                tracing::debug!(batch = %batch.batch_id, "reconcile queue full; further batches are read back from the store");
            }
            q.recover = true;
        } else {
            q.sightings += batch.sightings.len();
            q.batches.push_back(batch);
        }
        drop(q);
        self.work.notify_one();
    }

    /// Start the reconcile worker: a thread at background priority that
    /// reconciles queued batches as they arrive (several to a run), and at
    /// start those a crash left unreconciled in the store.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start_worker(self: Arc<Self>) -> std::io::Result<Worker> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (me, stopping) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("census-reconcile".into()).spawn(move || {
            crate::app::background::lower_current_thread_priority();
            use std::sync::atomic::Ordering;
            while !stopping.load(Ordering::Relaxed) {
                match me.drain(crate::store::now_ms()) {
                    Ok(s) if s.hosts > 0 => {
                        tracing::debug!(hosts = s.hosts, opened = s.opened, "queued batches reconciled")
                    }
                    Ok(_) => {}
                    Err(StoreError::Conflict(why)) => {
                        // Another daemon sharing the store reconciled some of them first.
                        tracing::info!(%why, "queued batches taken over by another daemon; reloading what waits");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reconciling queued batches failed; retrying shortly");
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                }
                let q = me.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.batches.is_empty() && !q.recover && !stopping.load(Ordering::Relaxed) {
                    let (q, _) =
                        me.work.wait_timeout(q, std::time::Duration::from_secs(5)).unwrap_or_else(|p| p.into_inner());
                    let idle = q.batches.is_empty() && !q.recover;
                    drop(q);
                    // Asked of the store without holding the queue (ingest enqueues meanwhile).
                    if idle && !stopping.load(Ordering::Relaxed) && me.orphans_waiting() {
                        me.queue.lock().unwrap_or_else(|p| p.into_inner()).recover = true;
                    }
                }
            }
        })?;
        Ok(Worker { stop, reconciler: self, thread: Some(thread) })
    }

    /// A stored batch has waited for reconciliation longer than
    /// [`ORPHAN_AFTER_MS`]: the daemon that stored it died before
    /// reconciling it (a daemon reconciles its own within seconds), so this
    /// one takes it over. Should both take it, the store commits one run
    /// and refuses the other (see `commit_reconcile`).
    fn orphans_waiting(&self) -> bool {
        match self.store.oldest_unreconciled_ms() {
            Ok(Some(at)) => crate::store::now_ms().saturating_sub(at) > ORPHAN_AFTER_MS,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for batches left unreconciled");
                false
            }
        }
    }

    /// Batches stored and not yet reconciled: queued in memory, in a run
    /// not yet committed, or waiting in the store.
    ///
    /// # Errors
    /// The store failed.
    pub fn backlog(&self) -> Result<usize, StoreError> {
        self.store.unreconciled_batches()
    }

    /// Reconcile every queued batch (and, once after a start, those a crash
    /// left unreconciled in the store), several to a run.
    ///
    /// # Errors
    /// The store failed; the batches stay queued in the store and are
    /// recovered at the next start.
    pub fn drain(&self, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let _run = self.run_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = ReconcileSummary::default();
        if std::mem::take(&mut self.queue.lock().unwrap_or_else(|p| p.into_inner()).recover) {
            let mut after = crate::store::BacklogCursor::default();
            loop {
                let (page, next) = match self.store.pending_batches(after, RUN_SIGHTINGS) {
                    Ok(p) => p,
                    Err(e) => {
                        self.queue.lock().unwrap_or_else(|p| p.into_inner()).recover = true;
                        return Err(e);
                    }
                };
                if page.is_empty() {
                    break;
                }
                after = next;
                {
                    let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                    let queued: HashSet<String> = q.batches.iter().map(|b| b.batch_id.clone()).collect();
                    for b in page.into_iter().filter(|b| !queued.contains(&b.batch_id)) {
                        tracing::debug!(batch = %b.batch_id, sightings = b.sightings.len(), "reconciling a batch read back from the store");
                        q.sightings += b.sightings.len();
                        q.batches.push_back(b);
                    }
                }
                total.add(&self.run_queue(now_ms)?);
            }
        }
        total.add(&self.run_queue(now_ms)?);
        Ok(total)
    }

    /// Take the queue, several batches (or a part of a large one) to a run, until it is empty.
    fn run_queue(&self, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let mut total = ReconcileSummary::default();
        loop {
            let take: Vec<PendingBatch> = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let mut out = Vec::new();
                let mut n = 0;
                while let Some(b) = q.batches.front_mut() {
                    if !out.is_empty() && n + b.sightings.len() > RUN_SIGHTINGS {
                        break;
                    }
                    if b.sightings.len() > RUN_SIGHTINGS {
                        // A large batch: this run takes a part of it.
                        let rest = b.sightings.split_off(RUN_SIGHTINGS);
                        let part = PendingBatch {
                            batch_id: b.batch_id.clone(),
                            agent: b.agent.clone(),
                            sightings: std::mem::replace(&mut b.sightings, rest),
                            more: true,
                        };
                        n += part.sightings.len();
                        out.push(part);
                        break;
                    }
                    n += b.sightings.len();
                    if let Some(b) = q.batches.pop_front() {
                        out.push(b);
                    }
                }
                q.sightings -= n;
                q.in_flight = out.len();
                out
            };
            if take.is_empty() {
                break;
            }
            let r = {
                let _timed = self.metrics.reconcile_timer(ReconcileKind::Incremental);
                self.incremental(take, now_ms)
            };
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.in_flight = 0;
            match r {
                Ok(r) => total.add(&r),
                Err(e) => {
                    // Still unmarked in the store: reload them from there next time.
                    q.recover = true;
                    return Err(e);
                }
            }
        }
        Ok(total)
    }

    /// Reconcile after a batch from `agent` was stored (`batch` holds its
    /// sightings): queue it and drain the queue now.
    ///
    /// # Errors
    /// See [`Reconciler::drain`].
    pub fn after_ingest(&self, batch: &[Sighting], agent: &str, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let batch_id = batch.first().map(|s| s.batch.clone()).unwrap_or_default();
        self.enqueue(PendingBatch { batch_id, agent: agent.to_string(), sightings: batch.to_vec(), more: false });
        self.drain(now_ms)
    }

    /// One incremental run over the sightings of `batches`, with the assets they touch.
    fn incremental(&self, batches: Vec<PendingBatch>, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let t = std::time::Instant::now();
        self.follow_store()?;
        let idx = self.index()?;
        let sweeps = self.sweep_snapshot(now_ms)?;
        let mut agents: Vec<String> = batches.iter().map(|b| b.agent.clone()).collect();
        agents.sort();
        agents.dedup();
        let batch_ids: Vec<String> = batches.iter().filter(|b| !b.more).map(|b| b.batch_id.clone()).collect();
        let batch: Vec<Sighting> = batches.into_iter().flat_map(|b| b.sightings).collect();
        let mut ips: Vec<String> = batch.iter().map(|s| s.ip.clone()).collect();
        ips.sort();
        ips.dedup();
        // The latest stored sighting per address (a late, spooled batch is not the latest).
        let stored = self.store.sightings(&SightingSelect::Ips(ips))?;
        let batches_here: HashSet<&str> = batch.iter().map(|s| s.batch.as_str()).collect();
        let mut tags: HashSet<String> = HashSet::new();
        for s in &batch {
            if let Identity::Matched(m) = idx.identify(s) {
                tags.insert(m.tag);
            }
        }
        for (s, previous) in &stored {
            tags.extend(previous.clone());
            if !batches_here.contains(s.batch.as_str())
                && let Identity::Matched(m) = idx.identify(s)
            {
                tags.insert(m.tag);
            }
        }
        let mut sightings: Vec<Sighting> = stored.into_iter().map(|(s, _)| s).collect();
        let have: HashSet<String> = sightings.iter().map(|s| s.ip.clone()).collect();
        let tag_list: Vec<String> = tags.iter().cloned().collect();
        if !tag_list.is_empty() {
            for (s, _) in self.store.sightings(&SightingSelect::Tags(tag_list.clone()))? {
                if !have.contains(&s.ip) {
                    sightings.push(s);
                }
            }
        }
        let mut keys: Vec<String> = batch.iter().map(Sighting::device_key).collect();
        keys.extend(sightings.iter().map(Sighting::device_key));
        keys.sort();
        keys.dedup();
        let world = World {
            index: &idx,
            settings: &self.settings,
            sweeps: &sweeps,
            sightings,
            batch,
            devices: self.store.devices(Some(&keys), 0)?,
            states: self.store.asset_states(Some(&tag_list))?,
            assets: Box::new(self.store.assets_by_tags(&tag_list)?.into_iter()),
            agents,
            full: false,
            revoked: HashSet::new(),
            live_subjects: Vec::new(),
            alerted: Some(self.alerted.snapshot(self.store.as_ref())?),
            directory: &*self.directory()?,
            entitlements: &[],
            retired_since: &*self.retired_since()?,
            sources: &[],
            now_ms,
        };
        let loaded = t.elapsed();
        let mut plan = rules::run(world);
        plan.batches = batch_ids;
        drop(sweeps);
        let ruled = t.elapsed();
        let r = self.commit(plan).map(|s| ReconcileSummary { assets: tag_list.len(), ..s });
        tracing::debug!(
            load_ms = loaded.as_secs_f64() * 1000.0,
            rules_ms = (ruled - loaded).as_secs_f64() * 1000.0,
            commit_ms = (t.elapsed() - ruled).as_secs_f64() * 1000.0,
            "incremental reconcile phases"
        );
        r
    }

    /// The daemon is stopping: from now on a full reconcile does not wait
    /// for another daemon's turn nor run, and one running writes nothing
    /// (each returns [`StoreError::Busy`]), so the daemon stops within
    /// seconds instead of after another daemon's turn and a whole run of
    /// its own. Incremental runs go on: they are short, and they reconcile
    /// what the daemon acknowledged.
    pub fn stop_full_runs(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`Self::stop_full_runs`] was called.
    fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn not_stopping(&self) -> Result<(), StoreError> {
        if self.is_stopping() {
            return Err(StoreError::Busy(
                "the daemon is stopping: the full reconcile was not run or not written".into(),
            ));
        }
        Ok(())
    }

    /// Reconcile everything: every asset, every host seen within the horizon, every agent's cadence.
    ///
    /// Daemons sharing one store take turns ([`crate::store::Job::FullReconcile`]):
    /// one runs a full reconcile at a time, the others wait for it.
    pub fn full(&self, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        // The turn first: while another daemon holds it (for as long as its
        // lease, if it froze), this daemon's incremental runs, which take
        // `run_lock` alone, go on reconciling its agents' batches.
        let mut turn = self.store.turn(crate::store::Job::FullReconcile, &|| self.is_stopping())?;
        let _run = self.run_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.not_stopping()?;
        let _timed = self.metrics.reconcile_timer(ReconcileKind::Full);
        let t = std::time::Instant::now();
        self.follow_store()?;
        let since = now_ms - self.settings.horizon_ms();
        // Building the index (decoding every asset) and loading the world
        // use different connections: do both at once.
        let (idx, loaded) = std::thread::scope(|scope| {
            let index = scope.spawn(|| self.index().map(|i| (i, t.elapsed().as_millis() as u64)));
            let loaded = (|| -> Result<_, StoreError> {
                Ok((
                    self.store.sightings(&SightingSelect::Since(since))?.into_iter().map(|(s, _)| s).collect(),
                    self.store.devices(None, since)?,
                    self.store.asset_states(None)?,
                    self.store.agents()?,
                    self.store.live_subjects()?,
                    t.elapsed().as_millis() as u64,
                ))
            })();
            (index.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), loaded)
        });
        let (idx, index_ms) = idx?;
        let (sightings, devices, states, agents, live_subjects, load_ms) = loaded?;
        let sweeps = self.sweep_snapshot(now_ms)?;
        let indexed = t.elapsed();
        let alerted = self.alerted.snapshot(self.store.as_ref())?;
        let directory = self.directory()?;
        let entitlements = self.entitlements()?;
        let retired_since = self.retired_since()?;
        let sources = self.sources()?;
        let run = |assets: &mut dyn Iterator<Item = crate::register::Asset>| {
            rules::run(World {
                index: &idx,
                settings: &self.settings,
                sweeps: &sweeps,
                sightings,
                batch: Vec::new(),
                devices,
                states,
                assets: Box::new(assets),
                // Every agent that swept within the horizon, registered or not.
                agents: {
                    let mut names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
                    names.extend(sweeps.cadences().into_iter().map(|c| c.agent));
                    names.sort();
                    names.dedup();
                    names
                },
                full: true,
                revoked: agents.iter().filter(|a| a.revoked_ms.is_some()).map(|a| a.name.clone()).collect(),
                live_subjects,
                alerted: Some(alerted),
                directory: &directory,
                entitlements: &entitlements,
                retired_since: &retired_since,
                sources: &sources,
                now_ms,
            })
        };
        let (mut plan, failed, waiting) = read_ahead(
            |after| register_page(|limit| self.store.register_rows(after, limit), FULL_RUN_PAGE),
            |rows| decode_page(rows.as_ref(), |r| r.asset()),
            run,
        );
        if let Some(e) = failed {
            return Err(e);
        }
        drop(sweeps);
        let ruled = t.elapsed();
        // A turn lost meanwhile (its session ended) may be another daemon's
        // now: what this run decided is dropped, not written beside its. The
        // check is early word; the fence is what holds: the store commits the
        // plan only while this turn is still the latest granted (the turn
        // may pass on while the commit loads and decides the alerts).
        turn.check()?;
        self.not_stopping()?;
        plan.turn = turn.fence();
        let r = self.commit(plan).map(|s| ReconcileSummary { assets: idx.len(), ..s });
        tracing::debug!(
            index_and_load_ms = indexed.as_millis() as u64,
            index_ms,
            load_ms,
            rules_ms = (ruled - indexed).as_millis() as u64,
            register_wait_ms = waiting.as_millis() as u64,
            commit_ms = (t.elapsed() - ruled).as_millis() as u64,
            "full reconcile phases"
        );
        r
    }

    fn commit(&self, mut plan: Plan) -> Result<ReconcileSummary, StoreError> {
        self.alerted.record(&mut plan);
        let mut summary = ReconcileSummary {
            hosts: plan.matches.len(),
            matched: plan.matches.iter().filter(|(_, i)| matches!(i, Identity::Matched(_))).count(),
            ambiguous: plan.matches.iter().filter(|(_, i)| matches!(i, Identity::Ambiguous { .. })).count(),
            // Set by the caller, which knows how many it judged.
            assets: 0,
            ..Default::default()
        };
        let learned = !plan.learned.is_empty();
        let settings = self.settings.lifecycle;
        let now = plan.now_ms;
        let routes = &self.routes;
        let mut decide = |inputs: AlertInputs| -> Vec<Change> {
            let mut changes = lifecycle::decide(lifecycle::Input {
                findings: &plan.findings,
                clears: &plan.clears,
                existing: inputs.existing,
                suppressions: &inputs.suppressions,
                opened_last_hour: &inputs.opened_last_hour,
                settings,
                now_ms: now,
            });
            for c in &mut changes {
                c.sinks = if c.notify { crate::alerts::notify::targets(routes, c.alert.severity) } else { Vec::new() };
            }
            changes
        };
        let outcome = self.store.commit_reconcile(&plan, &mut decide)?;
        if learned {
            self.register_changed();
        }
        summary.opened = outcome.opened;
        summary.reopened = outcome.reopened;
        summary.suppressed = outcome.suppressed;
        summary.updated = outcome.updated;
        summary.resolved = outcome.resolved;
        summary.events = outcome.events;
        if outcome.events > 0 {
            self.wake.notify_one();
        }
        tracing::debug!(
            hosts = summary.hosts,
            matched = summary.matched,
            opened = summary.opened,
            resolved = summary.resolved,
            "reconciled"
        );
        Ok(summary)
    }
}
