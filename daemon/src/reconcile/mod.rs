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

pub mod assets;
pub mod identity;
pub mod rules;
pub mod sighting;
pub mod sweeps;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Notify;

use crate::alerts::Severity;
use crate::alerts::lifecycle::{self, Change};
use crate::config::ReconcileConfig;
use crate::store::{AlertInputs, SightingSelect, Store, StoreError};
pub use identity::{Identity, RegisterIndex};
pub use rules::{AssetState, DeviceRecord, Plan, Settings, World};
pub use sighting::{BatchContext, Sighting};
pub use sweeps::{SweepIndex, SweepRow};

/// Map `f` over `items` on every core (scoped threads, order kept): the
/// index build and the matching of 100,000 hosts are pure and independent.
pub fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || items.len() < 2048 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<U>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// What a run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

/// Runs reconciliation against a store.
pub struct Reconciler {
    store: Arc<dyn Store>,
    settings: Settings,
    routes: Vec<(String, Severity)>,
    index: Mutex<Option<Arc<RegisterIndex>>>,
    sweeps: Mutex<(Arc<SweepIndex>, i64)>,
    run_lock: Mutex<()>,
    wake: Arc<Notify>,
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
        Reconciler {
            store,
            settings: Settings::from_config(cfg),
            routes,
            index: Mutex::new(None),
            sweeps: Mutex::new((Arc::new(SweepIndex::default()), 0)),
            run_lock: Mutex::new(()),
            wake,
        }
    }

    /// The register index, built on first use after a change.
    fn index(&self) -> Result<Arc<RegisterIndex>, StoreError> {
        let mut slot = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = slot.as_ref() {
            return Ok(i.clone());
        }
        let (assets, learned) = self.store.index_inputs()?;
        let idx = Arc::new(RegisterIndex::new(assets, learned));
        *slot = Some(idx.clone());
        Ok(idx)
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

    /// Forget the cached register index (call after any register change).
    pub fn register_changed(&self) {
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The sweep index brought up to date with the store (new batches by
    /// arrival sequence; sweeps older than the horizon pruned hourly).
    pub fn sweep_snapshot(&self, now_ms: i64) -> Result<Arc<SweepIndex>, StoreError> {
        let mut g = self.sweeps.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now_ms - self.settings.horizon_ms();
        let (rows, seq) = self.store.sweeps_after(g.0.seq, horizon)?;
        if !rows.is_empty() || seq > g.0.seq {
            Arc::make_mut(&mut g.0).extend(rows, seq, horizon);
        }
        if now_ms - g.1 > 3_600_000 {
            Arc::make_mut(&mut g.0).prune(horizon);
            g.1 = now_ms;
        }
        Ok(g.0.clone())
    }

    /// Reconcile after a batch from `agent` was stored: `batch` holds its sightings.
    pub fn after_ingest(&self, batch: &[Sighting], agent: &str, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let _run = self.run_lock.lock().unwrap_or_else(|p| p.into_inner());
        let idx = self.index()?;
        let sweeps = self.sweep_snapshot(now_ms)?;
        let ips: Vec<String> = batch.iter().map(|s| s.ip.clone()).collect();
        // The latest stored sighting per address (a late, spooled batch is not the latest).
        let stored = self.store.sightings(&SightingSelect::Ips(ips))?;
        let mut tags: HashSet<String> = HashSet::new();
        for s in batch {
            if let Identity::Matched(m) = idx.identify(s) {
                tags.insert(m.tag);
            }
        }
        for (s, previous) in &stored {
            tags.extend(previous.clone());
            if s.batch != batch.first().map_or("", |b| b.batch.as_str())
                && let Identity::Matched(m) = idx.identify(s)
            {
                tags.insert(m.tag);
            }
        }
        let mut sightings: Vec<Sighting> = stored.into_iter().map(|(s, _)| s).collect();
        let have: HashSet<String> = sightings.iter().map(|s| s.ip.clone()).collect();
        let tag_list: Vec<String> = tags.iter().cloned().collect();
        for (s, _) in self.store.sightings(&SightingSelect::Tags(tag_list.clone()))? {
            if !have.contains(&s.ip) {
                sightings.push(s);
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
            batch: batch.to_vec(),
            devices: self.store.devices(Some(&keys), 0)?,
            states: self.store.asset_states(Some(&tag_list))?,
            tags: Some(tags),
            agents: vec![agent.to_string()],
            full: false,
            revoked: HashSet::new(),
            live_subjects: Vec::new(),
            now_ms,
        };
        let plan = rules::run(world);
        drop(sweeps);
        self.commit(plan, &idx)
    }

    /// Reconcile everything: every asset, every host seen within the horizon, every agent's cadence.
    pub fn full(&self, now_ms: i64) -> Result<ReconcileSummary, StoreError> {
        let _run = self.run_lock.lock().unwrap_or_else(|p| p.into_inner());
        let t = std::time::Instant::now();
        let since = now_ms - self.settings.horizon_ms();
        // Building the index (decoding every asset) and loading the world
        // use different connections: do both at once.
        let (idx, loaded) = std::thread::scope(|scope| {
            let index = scope.spawn(|| self.index());
            let loaded = (|| -> Result<_, StoreError> {
                Ok((
                    self.store.sightings(&SightingSelect::Since(since))?.into_iter().map(|(s, _)| s).collect(),
                    self.store.devices(None, since)?,
                    self.store.asset_states(None)?,
                    self.store.agents()?,
                    self.store.live_subjects()?,
                ))
            })();
            (index.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), loaded)
        });
        let idx = idx?;
        let (sightings, devices, states, agents, live_subjects) = loaded?;
        let sweeps = self.sweep_snapshot(now_ms)?;
        let indexed = t.elapsed();
        let world = World {
            index: &idx,
            settings: &self.settings,
            sweeps: &sweeps,
            sightings,
            batch: Vec::new(),
            devices,
            states,
            tags: None,
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
            now_ms,
        };
        let plan = rules::run(world);
        drop(sweeps);
        let ruled = t.elapsed();
        let r = self.commit(plan, &idx);
        tracing::debug!(
            index_and_load_ms = indexed.as_millis() as u64,
            rules_ms = (ruled - indexed).as_millis() as u64,
            commit_ms = (t.elapsed() - ruled).as_millis() as u64,
            "full reconcile phases"
        );
        r
    }

    fn commit(&self, plan: Plan, idx: &RegisterIndex) -> Result<ReconcileSummary, StoreError> {
        let mut summary = ReconcileSummary {
            hosts: plan.matches.len(),
            matched: plan.matches.iter().filter(|(_, i)| matches!(i, Identity::Matched(_))).count(),
            ambiguous: plan.matches.iter().filter(|(_, i)| matches!(i, Identity::Ambiguous { .. })).count(),
            assets: plan.states.len().max(if plan.agents.len() > 1 { idx.assets.len() } else { 0 }),
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
