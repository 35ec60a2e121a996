//! The daemon's Prometheus metrics (`[metrics] listen`; off unless
//! configured), served by [`census_metrics::serve`] on a listener of their own.
//!
//! Two kinds of figure:
//! - **events**, counted where they happen: batches by outcome,
//!   observations stored and refused, ingest and reconcile durations,
//!   outbox deliveries by sink and outcome;
//! - **state**, read from the store at each scrape ([`DaemonMetrics::render`]):
//!   live alerts by kind, severity and state, the outbox backlog per sink,
//!   each agent's last delivery, the reconcile backlog, the store's
//!   connections in use. A scrape costs a few indexed reads, never a scan
//!   of observations.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `census_ingest_batches_total` | counter | `result`: stored, duplicate, malformed, unsupported, wrong_agent, id_taken, store_error, unauthorized, too_large, busy |
//! | `census_ingest_observations_total` | counter | |
//! | `census_ingest_rejected_observations_total` | counter | |
//! | `census_ingest_duration_seconds` | histogram | |
//! | `census_reconcile_duration_seconds` | histogram | `kind`: incremental, full |
//! | `census_reconcile_backlog_batches` | gauge | |
//! | `census_alerts` | gauge | `kind`, `severity`, `state` (open, acknowledged, suppressed) |
//! | `census_outbox_backlog_events` | gauge | `sink` |
//! | `census_outbox_deliveries_total` | counter | `sink`, `result`: delivered, failed |
//! | `census_agent_last_batch_timestamp_seconds` | gauge | `agent` |
//! | `census_store_connections` | gauge | `role`: reader, writer; `state`: busy, idle |
//! | `census_metrics_scrape_errors_total` | counter | |
//! | `census_build_info` | info | `version` |

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use census_metrics::LabelText;

use crate::alerts::{AlertKind, AlertState, Severity};
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    kind: &'static str,
    severity: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkResult {
    sink: LabelText,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    role: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Ingest from 1 ms to ~33 s; a 100,000-host batch takes seconds.
fn ingest_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Reconcile from 1 ms to ~65 s; a full run over a million assets takes seconds.
fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// How a delivered batch ended, as the `result` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchResult {
    /// Stored now.
    Stored,
    /// Stored before: acknowledged, not stored again.
    Duplicate,
    /// Refused: malformed, out of range or over a limit.
    Malformed,
    /// Refused: another major version of the wire model.
    Unsupported,
    /// Refused: another agent's name in the batch.
    WrongAgent,
    /// Refused: the batch id belongs to another agent.
    IdTaken,
    /// The store failed.
    StoreError,
    /// Refused before the body was read: no valid agent token (401).
    Unauthorized,
    /// Refused: the body is over `max_body_mb` (413).
    TooLarge,
    /// Refused: the agent already had its deliveries in flight (429; it sends again).
    Busy,
}

impl BatchResult {
    fn label(self) -> &'static str {
        match self {
            BatchResult::Stored => "stored",
            BatchResult::Duplicate => "duplicate",
            BatchResult::Malformed => "malformed",
            BatchResult::Unsupported => "unsupported",
            BatchResult::WrongAgent => "wrong_agent",
            BatchResult::IdTaken => "id_taken",
            BatchResult::StoreError => "store_error",
            BatchResult::Unauthorized => "unauthorized",
            BatchResult::TooLarge => "too_large",
            BatchResult::Busy => "busy",
        }
    }
}

/// Which reconcile a duration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileKind {
    /// Delivered batches, as they arrive.
    Incremental,
    /// Everything, on the schedule and after register changes.
    Full,
}

/// The daemon's metrics; one per process, shared by the API, the
/// reconciler and the notifier.
pub struct DaemonMetrics {
    registry: Registry,
    batches: Family<ResultLabel, Counter>,
    observations: Counter,
    rejected: Counter,
    ingest_duration: Histogram,
    reconcile_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    reconcile_backlog: Gauge,
    alerts: Family<AlertLabels, Gauge>,
    outbox_backlog: Family<SinkLabel, Gauge>,
    deliveries: Family<SinkResult, Counter>,
    agent_last_batch: Family<AgentLabel, Gauge<f64, AtomicU64>>,
    connections: Family<ConnLabels, Gauge>,
    scrape_errors: Counter,
    /// One scrape refreshes the state figures at a time.
    scraping: std::sync::Mutex<()>,
    /// The configured sinks: their series are present at 0 from the start.
    sinks: Vec<String>,
}

impl std::fmt::Debug for DaemonMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonMetrics").finish_non_exhaustive()
    }
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        Self::new(&[])
    }
}

const RESULTS: [BatchResult; 10] = [
    BatchResult::Stored,
    BatchResult::Duplicate,
    BatchResult::Malformed,
    BatchResult::Unsupported,
    BatchResult::WrongAgent,
    BatchResult::IdTaken,
    BatchResult::StoreError,
    BatchResult::Unauthorized,
    BatchResult::TooLarge,
    BatchResult::Busy,
];

impl DaemonMetrics {
    /// Every metric registered, at zero; each outcome, reconcile kind and
    /// configured sink (`sinks`) present from the start, so a rate over
    /// the first event is not lost and a quiet sink reads 0, not nothing.
    pub fn new(sinks: &[String]) -> Self {
        let mut registry = Registry::with_prefix("census");
        let m = DaemonMetrics {
            batches: Family::default(),
            observations: Counter::default(),
            rejected: Counter::default(),
            ingest_duration: ingest_buckets(),
            reconcile_duration: Family::new_with_constructor(reconcile_buckets),
            reconcile_backlog: Gauge::default(),
            alerts: Family::default(),
            outbox_backlog: Family::default(),
            deliveries: Family::default(),
            agent_last_batch: Family::default(),
            connections: Family::default(),
            scrape_errors: Counter::default(),
            scraping: std::sync::Mutex::new(()),
            registry: Registry::default(),
            sinks: sinks.to_vec(),
        };
        for r in RESULTS {
            let _ = m.batches.get_or_create(&ResultLabel { result: r.label() });
        }
        for kind in ["incremental", "full"] {
            let _ = m.reconcile_duration.get_or_create(&KindLabel { kind });
        }
        for sink in sinks {
            for result in ["delivered", "failed"] {
                let _ = m.deliveries.get_or_create(&SinkResult { sink: sink.as_str().into(), result });
            }
        }
        registry.register("ingest_batches", "Batches delivered by agents, by outcome", m.batches.clone());
        registry.register("ingest_observations", "Host observations stored", m.observations.clone());
        registry.register(
            "ingest_rejected_observations",
            "Host observations refused inside accepted batches (outside the agent's segments, malformed)",
            m.rejected.clone(),
        );
        registry.register_with_unit(
            "ingest_duration",
            "Time to decode, check and store one batch (its reconcile not included)",
            Unit::Seconds,
            m.ingest_duration.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Time of one reconcile run",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_backlog_batches",
            "Batches stored but not reconciled yet",
            m.reconcile_backlog.clone(),
        );
        registry.register("alerts", "Live alerts by kind, severity and state", m.alerts.clone());
        registry.register(
            "outbox_backlog_events",
            "Alert events not yet delivered, per sink",
            m.outbox_backlog.clone(),
        );
        registry.register("outbox_deliveries", "Alert event deliveries, per sink and outcome", m.deliveries.clone());
        registry.register_with_unit(
            "agent_last_batch_timestamp",
            "When each agent's last batch arrived (unix time)",
            Unit::Seconds,
            m.agent_last_batch.clone(),
        );
        registry.register("store_connections", "Store connections by role and whether in use", m.connections.clone());
        registry.register(
            "metrics_scrape_errors",
            "Scrapes that could not read the store (state figures kept from the scrape before)",
            m.scrape_errors.clone(),
        );
        registry.register(
            "build",
            "The running censusd's version",
            Info::new(VersionLabel { version: env!("CARGO_PKG_VERSION") }),
        );
        DaemonMetrics { registry, ..m }
    }

    /// A delivered batch ended with `result` after `elapsed`, storing
    /// `stored` observations and refusing `rejected`.
    pub fn batch(&self, result: BatchResult, elapsed: Duration, stored: usize, rejected: usize) {
        self.batches.get_or_create(&ResultLabel { result: result.label() }).inc();
        self.observations.inc_by(stored as u64);
        self.rejected.inc_by(rejected as u64);
        if matches!(result, BatchResult::Stored | BatchResult::Duplicate) {
            self.ingest_duration.observe(elapsed.as_secs_f64());
        }
    }

    /// A delivery refused before its batch was read (token, size, in flight).
    pub fn batch_refused(&self, result: BatchResult) {
        self.batches.get_or_create(&ResultLabel { result: result.label() }).inc();
    }

    /// Times a reconcile run until dropped.
    pub fn reconcile_timer(&self, kind: ReconcileKind) -> ReconcileTimer<'_> {
        ReconcileTimer { metrics: self, kind, started: Instant::now() }
    }

    /// One outbox event delivered to `sink`, or not.
    pub fn delivery(&self, sink: &str, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.deliveries.get_or_create(&SinkResult { sink: sink.into(), result }).inc();
    }

    /// Read the state figures from `store` and encode everything as
    /// OpenMetrics text. A store error keeps the previous state figures and
    /// counts in `census_metrics_scrape_errors_total`.
    pub fn render(&self, store: &dyn Store) -> String {
        {
            let _one = self.scraping.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = self.refresh(store) {
                tracing::warn!(error = %e, "metrics: reading the store failed");
                self.scrape_errors.inc();
            }
        }
        self.encode()
    }

    /// Read the state figures from `store` unless another scrape is reading
    /// them now (then the figures it leaves are the ones shown). A store
    /// error keeps the previous figures and counts in
    /// `census_metrics_scrape_errors_total`. Blocks: call it off the runtime.
    pub fn refresh_state(&self, store: &dyn Store) {
        let Ok(_one) = self.scraping.try_lock() else { return };
        if let Err(e) = self.refresh(store) {
            tracing::warn!(error = %e, "metrics: reading the store failed");
            self.scrape_errors.inc();
        }
    }

    /// A scrape answered without waiting any longer for the store (its
    /// state figures are the previous ones): counted as a scrape error.
    pub fn scrape_without_store(&self, waited: Duration) {
        tracing::warn!(
            waited_ms = waited.as_millis() as u64,
            "metrics: the store did not answer; state figures kept from before"
        );
        self.scrape_errors.inc();
    }

    /// Everything as OpenMetrics text, state figures as last read.
    pub fn encode(&self) -> String {
        census_metrics::encode(&self.registry)
    }

    fn refresh(&self, store: &dyn Store) -> Result<(), crate::store::StoreError> {
        let counts = store.alert_counts()?;
        let backlog = store.outbox_backlog()?;
        let agents = store.agents_last_batch()?;
        let pending = store.unreconciled_batches()?;
        // Every kind × severity of the live states is present, zero or
        // not: an alerting rule sees 0, not a missing series.
        self.alerts.clear();
        for kind in AlertKind::ALL {
            for severity in Severity::ALL {
                for state in [AlertState::Open, AlertState::Acknowledged, AlertState::Suppressed] {
                    let n = counts
                        .iter()
                        .filter(|c| c.kind == *kind && c.severity == *severity && c.state == state)
                        .map(|c| c.count)
                        .sum();
                    self.alerts
                        .get_or_create(&AlertLabels {
                            kind: kind.as_str(),
                            severity: severity.as_str(),
                            state: state.as_str(),
                        })
                        .set(n);
                }
            }
        }
        self.outbox_backlog.clear();
        for sink in &self.sinks {
            self.outbox_backlog.get_or_create(&SinkLabel { sink: sink.as_str().into() }).set(0);
        }
        for (sink, n) in backlog {
            self.outbox_backlog.get_or_create(&SinkLabel { sink: LabelText(sink) }).set(n);
        }
        self.agent_last_batch.clear();
        for (agent, ms) in agents {
            self.agent_last_batch.get_or_create(&AgentLabel { agent: LabelText(agent) }).set(ms as f64 / 1000.0);
        }
        self.reconcile_backlog.set(i64::try_from(pending).unwrap_or(i64::MAX));
        let pool = store.pool_usage();
        let set = |role, state, n: usize| {
            self.connections.get_or_create(&ConnLabels { role, state }).set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        set("reader", "busy", pool.readers_busy);
        set("reader", "idle", pool.readers - pool.readers_busy.min(pool.readers));
        set("writer", "busy", pool.writers_busy);
        set("writer", "idle", pool.writers - pool.writers_busy.min(pool.writers));
        Ok(())
    }
}

/// Records a reconcile run's duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a DaemonMetrics,
    kind: ReconcileKind,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let kind = match self.kind {
            ReconcileKind::Incremental => "incremental",
            ReconcileKind::Full => "full",
        };
        self.metrics
            .reconcile_duration
            .get_or_create(&KindLabel { kind })
            .observe(self.started.elapsed().as_secs_f64());
    }
}
