//! `census-agent run`'s Prometheus metrics (`[metrics] listen`; off unless
//! configured), served by [`census_metrics::serve`] — a bare HTTP/1.1
//! listener, so the agent links no web framework.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `census_agent_sweeps_total` | counter | `segment`; `result`: complete, partial, failed |
//! | `census_agent_sweep_duration_seconds` | histogram | `segment` |
//! | `census_agent_probes_sent_total` | counter | `segment` |
//! | `census_agent_sweep_hosts` | gauge | `segment` (hosts found by the last sweep) |
//! | `census_agent_last_sweep_timestamp_seconds` | gauge | `segment` |
//! | `census_agent_deliveries_total` | counter | `result`: delivered, duplicate, retry, unauthorized, rejected |
//! | `census_agent_spool_batches` | gauge | |
//! | `census_agent_spool_bytes` | gauge | |
//! | `census_agent_spool_dropped_batches_total` | counter | (the spool's cap; kept across restarts) |
//! | `census_agent_spool_write_failures_total` | counter | (a sweep's batch lost: the spool could not be written) |
//! | `census_agent_build_info` | info | `version` |

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use census_metrics::LabelText;

use super::spool::Spool;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SegmentLabel {
    segment: LabelText,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SweepLabels {
    segment: LabelText,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Sweeps from 0.1 s to ~27 min: a /16 at a low rate takes minutes.
fn sweep_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepResult {
    /// Every target answered for: it counts as a sweep of the segment.
    Complete,
    /// Cut short (its time budget, losses): findings without a verdict on absence.
    Partial,
    /// No batch came of it.
    Failed,
}

/// What the daemon said to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Stored.
    Delivered,
    /// Stored before.
    Duplicate,
    /// Kept to try again.
    Retry,
    /// The token was refused.
    Unauthorized,
    /// Set aside: the daemon will never take it.
    Rejected,
}

/// The agent's metrics, shared by the sweepers and the delivery task.
pub struct AgentMetrics {
    registry: Registry,
    sweeps: Family<SweepLabels, Counter>,
    sweep_duration: Family<SegmentLabel, Histogram, fn() -> Histogram>,
    probes: Family<SegmentLabel, Counter>,
    hosts: Family<SegmentLabel, Gauge>,
    last_sweep: Family<SegmentLabel, Gauge<f64, AtomicU64>>,
    deliveries: Family<ResultLabel, Counter>,
    spool_batches: Gauge,
    spool_bytes: Gauge,
    spool_dropped: Counter,
    spool_write_failures: Counter,
    /// Segments whose per-segment gauges are set: a reload that drops a
    /// segment drops its gauges (its counters stay, as counters do).
    segments: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("census_agent");
        let m = AgentMetrics {
            registry: Registry::default(),
            sweeps: Family::default(),
            sweep_duration: Family::new_with_constructor(sweep_buckets),
            probes: Family::default(),
            hosts: Family::default(),
            last_sweep: Family::default(),
            deliveries: Family::default(),
            spool_batches: Gauge::default(),
            spool_bytes: Gauge::default(),
            spool_dropped: Counter::default(),
            spool_write_failures: Counter::default(),
            segments: Default::default(),
        };
        for result in ["delivered", "duplicate", "retry", "unauthorized", "rejected"] {
            let _ = m.deliveries.get_or_create(&ResultLabel { result });
        }
        registry.register("sweeps", "Sweeps run, per segment and how they ended", m.sweeps.clone());
        registry.register_with_unit(
            "sweep_duration",
            "Wall time of one sweep, per segment",
            Unit::Seconds,
            m.sweep_duration.clone(),
        );
        registry.register("probes_sent", "Probes sent by sweeps, per segment", m.probes.clone());
        registry.register("sweep_hosts", "Hosts found by the segment's last sweep", m.hosts.clone());
        registry.register_with_unit(
            "last_sweep_timestamp",
            "When the segment's last sweep finished (unix time)",
            Unit::Seconds,
            m.last_sweep.clone(),
        );
        registry.register("deliveries", "Batch deliveries to the daemon, by outcome", m.deliveries.clone());
        registry.register("spool_batches", "Batches in the spool waiting for delivery", m.spool_batches.clone());
        registry.register_with_unit("spool", "Size of the batches in the spool", Unit::Bytes, m.spool_bytes.clone());
        registry.register(
            "spool_dropped_batches",
            "Oldest batches dropped because the spool reached its cap (kept across restarts)",
            m.spool_dropped.clone(),
        );
        registry.register(
            "spool_write_failures",
            "Sweeps whose batch was lost because the spool could not be written",
            m.spool_write_failures.clone(),
        );
        registry.register(
            "build",
            "The running census-agent's version",
            Info::new(VersionLabel { version: env!("CARGO_PKG_VERSION") }),
        );
        AgentMetrics { registry, ..m }
    }

    /// The configuration's segments (at start and after each reload): each
    /// one's sweep counters are present at 0 from now on, and the gauges of
    /// segments no longer configured are dropped, so a removed or renamed
    /// segment does not look like one that stopped sweeping.
    pub fn configure_segments(&self, names: &[&str]) {
        for segment in names {
            for result in ["complete", "partial", "failed"] {
                let _ = self.sweeps.get_or_create(&SweepLabels { segment: (*segment).into(), result });
            }
            let _ = self.probes.get_or_create(&SegmentLabel { segment: (*segment).into() });
        }
        let mut known = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        known.retain(|old| {
            let keep = names.contains(&old.as_str());
            if !keep {
                let label = SegmentLabel { segment: old.as_str().into() };
                self.hosts.remove(&label);
                self.last_sweep.remove(&label);
            }
            keep
        });
    }

    /// A sweep of `segment` ended after `elapsed`; `probes` sent and
    /// `hosts` found (both 0 for a failed sweep); `finished_s` is unix time.
    pub fn sweep(&self, segment: &str, result: SweepResult, elapsed: Duration, probes: u64, hosts: usize) {
        let label = SegmentLabel { segment: segment.into() };
        let word = match result {
            SweepResult::Complete => "complete",
            SweepResult::Partial => "partial",
            SweepResult::Failed => "failed",
        };
        self.sweeps.get_or_create(&SweepLabels { segment: segment.into(), result: word }).inc();
        self.sweep_duration.get_or_create(&label).observe(elapsed.as_secs_f64());
        self.probes.get_or_create(&label).inc_by(probes);
        if result != SweepResult::Failed {
            self.segments.lock().unwrap_or_else(|p| p.into_inner()).insert(segment.to_string());
            self.hosts.get_or_create(&label).set(i64::try_from(hosts).unwrap_or(i64::MAX));
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            self.last_sweep.get_or_create(&label).set(now.as_secs_f64());
        }
    }

    /// A sweep's batch could not be written to the spool.
    pub fn spool_write_failed(&self) {
        self.spool_write_failures.inc();
    }

    /// One delivery ended with `result`.
    pub fn delivery(&self, result: DeliveryResult) {
        let result = match result {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Duplicate => "duplicate",
            DeliveryResult::Retry => "retry",
            DeliveryResult::Unauthorized => "unauthorized",
            DeliveryResult::Rejected => "rejected",
        };
        self.deliveries.get_or_create(&ResultLabel { result }).inc();
    }

    /// Read the spool's figures and encode everything as OpenMetrics text.
    pub fn render(&self, spool: &Spool) -> String {
        let list = spool.list().unwrap_or_default();
        self.spool_batches.set(i64::try_from(list.len()).unwrap_or(i64::MAX));
        self.spool_bytes.set(i64::try_from(list.iter().map(|s| s.bytes).sum::<u64>()).unwrap_or(i64::MAX));
        // The spool counts its drops itself (and keeps the count on disk);
        // the counter catches up with it. Only ever adds, so it stays monotonic.
        let (dropped, shown) = (spool.dropped(), self.spool_dropped.get());
        if dropped > shown {
            self.spool_dropped.inc_by(dropped - shown);
        }
        census_metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_deliveries_and_the_spool_show_in_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.put("b-1", 1, b"{\"x\":1}").unwrap();
        let m = AgentMetrics::new();
        m.sweep("lab \"a\"", SweepResult::Complete, Duration::from_millis(1500), 512, 7);
        m.sweep("lab \"a\"", SweepResult::Failed, Duration::from_millis(10), 0, 0);
        m.delivery(DeliveryResult::Delivered);
        m.delivery(DeliveryResult::Retry);
        let text = m.render(&spool);
        for line in [
            "census_agent_sweeps_total{segment=\"lab \\\"a\\\"\",result=\"complete\"} 1",
            "census_agent_sweeps_total{segment=\"lab \\\"a\\\"\",result=\"failed\"} 1",
            "census_agent_probes_sent_total{segment=\"lab \\\"a\\\"\"} 512",
            "census_agent_sweep_hosts{segment=\"lab \\\"a\\\"\"} 7",
            "census_agent_sweep_duration_seconds_count{segment=\"lab \\\"a\\\"\"} 2",
            "census_agent_deliveries_total{result=\"delivered\"} 1",
            "census_agent_spool_batches 1",
            "census_agent_spool_bytes 7",
            "census_agent_spool_dropped_batches_total 0",
            "# TYPE census_agent_sweep_duration_seconds histogram",
            "# UNIT census_agent_sweep_duration_seconds seconds",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");

        // A reload without the segment drops its gauges, keeps its counters,
        // and shows the new segment's counters at 0.
        m.configure_segments(&["lab b"]);
        let text = m.render(&spool);
        assert!(!text.contains("census_agent_sweep_hosts{segment=\"lab \\\"a\\\"\"}"), "{text}");
        assert!(!text.contains("census_agent_last_sweep_timestamp_seconds{segment=\"lab \\\"a"), "{text}");
        assert!(
            text.lines().any(|l| l == "census_agent_sweeps_total{segment=\"lab \\\"a\\\"\",result=\"complete\"} 1")
        );
        assert!(
            text.lines().any(|l| l == "census_agent_sweeps_total{segment=\"lab b\",result=\"complete\"} 0"),
            "{text}"
        );
    }
}
