//! A register plus a sequence of batches at chosen times, driven through
//! the same ingest and reconcile code the API runs, for scenario tests.

#![allow(dead_code)]

use std::sync::Arc;

use census_proto::{
    AgentId, Batch, HostObservation, MacAddr, MacInfo, NameObservation, NameSource, Port, PortObservation, PortState,
    RunStatus, SchemaVersion, SegmentScope, SweepCompleteness, Technique, TechniqueRun, TransportProtocol,
    encode_batch,
};
use censusd::alerts::{Alert, AlertAction, AlertFilter, AlertKind, AlertState, SuppressionInput};
use censusd::config::ReconcileConfig;
use censusd::reconcile::Reconciler;
use censusd::register::Asset;
use censusd::store::{AgentRecord, Store};
use censusd::whois::WhoisAnswer;
use time::OffsetDateTime;

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;
/// 2026-11-01T00:00:00Z.
pub const T0: i64 = 1_793_491_200_000;

pub struct Scenario {
    pub store: Arc<dyn Store>,
    pub rec: Reconciler,
    pub _dir: tempfile::TempDir,
    cfg: ReconcileConfig,
}

/// A host as a test writes it.
#[derive(Clone)]
pub struct H {
    pub ip: String,
    pub mac: Option<String>,
    pub vendor: Option<String>,
    pub conflicting: Vec<String>,
    pub names: Vec<(String, NameSource)>,
    pub open: Vec<u16>,
    /// Service banners by port (the port is opened too).
    pub banners: Vec<(u16, String)>,
    /// TLS certificates by port: SHA-256 and end of validity (unix ms).
    pub certs: Vec<(u16, String, i64)>,
}

pub fn h(ip: &str, mac: &str) -> H {
    // The vendor the agent's registry gives the blocks these tests use.
    let vendor = if mac.to_ascii_lowercase().starts_with("00:1b:63") { "Apple, Inc." } else { "Intel Corporate" };
    H {
        ip: ip.into(),
        mac: (!mac.is_empty()).then(|| mac.into()),
        vendor: Some(vendor.into()),
        conflicting: vec![],
        names: vec![],
        open: vec![22],
        banners: vec![],
        certs: vec![],
    }
}

impl H {
    pub fn named(mut self, n: &str, src: NameSource) -> H {
        self.names.push((n.into(), src));
        self
    }
    pub fn ports(mut self, p: &[u16]) -> H {
        self.open = p.to_vec();
        self
    }
    pub fn also_mac(mut self, m: &str) -> H {
        self.conflicting.push(m.into());
        self
    }
    pub fn random_mac(mut self) -> H {
        self.vendor = None;
        self
    }
    /// A service banner on `port` (an SSH greeting, an HTTP Server header).
    pub fn banner(mut self, port: u16, text: &str) -> H {
        if !self.open.contains(&port) {
            self.open.push(port);
        }
        self.banners.push((port, text.into()));
        self
    }
    /// A TLS certificate (`sha256`, valid until `not_after_ms`) served on `port`.
    pub fn cert(mut self, port: u16, sha256: &str, not_after_ms: i64) -> H {
        if !self.open.contains(&port) {
            self.open.push(port);
        }
        self.certs.push((port, sha256.into(), not_after_ms));
        self
    }
    /// A globally unique MAC from a block the agent's registry does not know.
    pub fn vendorless(mut self) -> H {
        self.vendor = None;
        self
    }
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn service(h: &H, port: u16) -> Option<Box<census_proto::ServiceEvidence>> {
    let banner = h.banners.iter().find(|(p, _)| *p == port).map(|(_, b)| b.clone());
    let tls = h.certs.iter().find(|(p, _, _)| *p == port).map(|(_, sha, end)| census_proto::TlsCertificate {
        subject: format!("CN=cert-{}", &sha[..sha.len().min(8)]),
        sans: vec![],
        issuer: "CN=Lab CA".into(),
        not_before: at(end - 400 * DAY),
        not_after: at(*end),
        sha256: sha.clone(),
        serial: None,
        key: None,
        signature: None,
    });
    (banner.is_some() || tls.is_some())
        .then(|| Box::new(census_proto::ServiceEvidence { banner, tls, ..Default::default() }))
}

fn obs(h: &H, t: i64) -> HostObservation {
    let mac = h.mac.as_ref().map(|m| {
        let mut info = MacInfo::new(m.parse::<MacAddr>().unwrap());
        info.vendor = if info.locally_administered { None } else { h.vendor.clone() };
        info
    });
    HostObservation {
        ip: h.ip.parse().unwrap(),
        mac,
        conflicting_macs: h.conflicting.iter().map(|m| MacInfo::new(m.parse().unwrap())).collect(),
        seen_by: vec![Technique::Arp],
        rtt_us: Some(100),
        reply_ttl: None,
        syn_ack: None,
        ports: h
            .open
            .iter()
            .map(|p| PortObservation {
                port: Port(*p),
                protocol: TransportProtocol::Tcp,
                state: PortState::Open,
                service: service(h, *p),
            })
            .collect(),
        names: h.names.iter().map(|(n, s)| NameObservation { name: n.clone(), source: *s }).collect(),
        fingerprints: vec![],
        ipv6: None,
        first_seen: at(t),
        last_seen: at(t + 1000),
    }
}

/// Sweep options.
#[derive(Clone)]
pub struct Sweep {
    pub agent: &'static str,
    pub segment: &'static str,
    pub targets: &'static str,
    pub complete: bool,
    pub ports: &'static str,
}

pub const LAB: Sweep =
    Sweep { agent: "a1", segment: "lab", targets: "198.18.0.0/24", complete: true, ports: "22,80,443,4118,8080" };
pub const LAB2: Sweep =
    Sweep { agent: "a2", segment: "lab2", targets: "198.18.1.0/24", complete: true, ports: "22,80,443,4118,8080" };

/// One sweep's batch at time `t` (five seconds long); `interval_ms` adds
/// the agent's schedule (next sweep due by `t + interval`).
pub fn batch(s: &Sweep, t: i64, hosts: &[H], interval_ms: Option<i64>) -> Batch {
    Batch {
        schema_version: SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: AgentId(s.agent.into()),
        segment: SegmentScope { name: s.segment.into(), targets: vec![s.targets.parse().unwrap()], excluded: vec![] },
        started_at: at(t),
        finished_at: at(t + 5000),
        completeness: SweepCompleteness {
            addresses_in_scope: 254,
            probes_sent: 254,
            replies: hosts.len() as u64,
            estimated_loss: 0.0,
            rate_limit_pps: 1000,
            rate_achieved_pps: 1000.0,
            complete: s.complete,
            techniques: vec![TechniqueRun {
                technique: Technique::Tcp,
                status: if s.complete { RunStatus::Complete } else { RunStatus::Partial },
                reason: None,
                tcp_mode: None,
                probes_sent: 10,
                replies: 1,
                ports: Some(s.ports.into()),
            }],
            enriched: true,
        },
        schedule: interval_ms
            .map(|i| census_proto::SweepSchedule { interval_s: (i / 1000) as u64, next_sweep_by: at(t + i + 60_000) }),
        hosts: hosts.iter().map(|h| obs(h, t)).collect(),
    }
}

impl Scenario {
    pub fn new() -> Scenario {
        Self::with(ReconcileConfig::default())
    }

    pub fn with(cfg: ReconcileConfig) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = censusd::store::testing::fresh(dir.path()).unwrap();
        Self::on(store, dir, cfg)
    }

    /// A scenario on SQLite at `dir/census.db`, whatever the environment names.
    pub fn sqlite() -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(censusd::store::SqliteStore::open(&dir.path().join("census.db")).unwrap());
        Self::on(store, dir, ReconcileConfig::default())
    }

    /// A scenario over `store` (whose files, if any, live in `dir`).
    pub fn on(store: Arc<dyn Store>, dir: tempfile::TempDir, cfg: ReconcileConfig) -> Scenario {
        let routes = vec![("hook".to_string(), censusd::alerts::Severity::Low)];
        let rec = Reconciler::new(store.clone(), &cfg, routes, Arc::new(tokio::sync::Notify::new()));
        Scenario { store, rec, _dir: dir, cfg }
    }

    /// A daemon restart: a new reconciler (nothing in memory) over the same database.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        let routes = vec![("hook".to_string(), censusd::alerts::Severity::Low)];
        self.rec = Reconciler::new(self.store.clone(), &self.cfg, routes, Arc::new(tokio::sync::Notify::new()));
    }

    pub fn register(&self, json: serde_json::Value) {
        let mut assets = Vec::new();
        for v in json.as_array().unwrap() {
            assets.push(censusd::register::model::asset_from_json(v.clone()).unwrap());
        }
        self.store.import_assets(&mut |_| Some(assets.clone()), "test", &mut censusd::store::unaudited()).unwrap();
        self.rec.register_changed();
    }

    pub fn update(&self, tag: &str, f: impl FnOnce(&mut Asset)) {
        let mut a = self.store.asset(tag).unwrap().unwrap();
        f(&mut a);
        self.store.update_asset(&a, "test", &mut censusd::store::unaudited()).unwrap();
        self.rec.register_changed();
    }

    /// Deliver one sweep's batch at time `t`, reconciling as the API does.
    pub fn sweep(&self, s: &Sweep, t: i64, hosts: &[H]) {
        self.deliver(&batch(s, t, hosts, None), t + 6000);
    }

    /// Deliver a batch arriving at `arrival`, reconciling as the API does.
    pub fn deliver(&self, b: &Batch, arrival: i64) {
        let agent = AgentRecord {
            name: b.agent_id.0.clone(),
            segments: vec!["198.18.0.0/15".parse().unwrap()],
            created_ms: 0,
            revoked_ms: None,
        };
        censusd::app::ingest::accept(self.store.as_ref(), &self.rec, &agent, &encode_batch(b), arrival).unwrap();
    }

    /// Store a batch and queue it for the reconcile worker (as the API does); [`Scenario::drain`] runs it.
    pub fn deliver_queued(&self, b: &Batch, arrival: i64) {
        let agent = AgentRecord {
            name: b.agent_id.0.clone(),
            segments: vec!["198.18.0.0/15".parse().unwrap()],
            created_ms: 0,
            revoked_ms: None,
        };
        let body = encode_batch(b);
        let when = censusd::app::ingest::Reconcile::Queued;
        censusd::app::ingest::accept_with(self.store.as_ref(), &self.rec, &agent, &body, arrival, when).unwrap();
    }

    /// Run the reconcile worker's work now: every batch stored and not yet reconciled.
    pub fn drain(&self, now: i64) {
        self.rec.drain(now).unwrap();
    }

    pub fn full(&self, now: i64) {
        self.rec.full(now).unwrap();
    }

    /// Every alert, resolved too.
    pub fn all(&self) -> Vec<Alert> {
        let mut v = Vec::new();
        for s in AlertState::ALL {
            let page = AlertFilter { state: Some(*s), limit: Some(u32::MAX), ..Default::default() };
            v.extend(self.store.alerts(&page).unwrap());
        }
        v.sort_by_key(|a| a.id);
        v
    }

    pub fn of_kind(&self, k: AlertKind) -> Vec<Alert> {
        self.all().into_iter().filter(|a| a.kind == k).collect()
    }

    pub fn live(&self, k: AlertKind) -> Vec<Alert> {
        self.of_kind(k).into_iter().filter(|a| a.state != AlertState::Resolved).collect()
    }

    pub fn suppress(&self, input: SuppressionInput, now: i64) {
        let rule = input.validate("tester", now).unwrap();
        self.store.add_suppression(&rule, &mut censusd::store::unaudited()).unwrap();
    }

    pub fn act(&self, id: i64, action: AlertAction) -> Alert {
        censusd::app::alerts::act(
            &self.rec,
            id,
            action,
            &censusd::people::Principal::person("alice", censusd::people::Role::Analyst),
            Some("checked"),
            T0,
        )
        .unwrap()
        .unwrap()
    }

    /// Notification events written to the outbox so far.
    pub fn outbox_events(&self) -> i64 {
        self.store.outbox_backlog().unwrap().iter().map(|(_, n)| n).sum()
    }

    /// Import a people-directory CSV as the admin would.
    #[allow(dead_code)]
    pub fn people(&self, csv: &str) -> censusd::directory::plan::DirectoryPlan {
        let format = censusd::register::csv::Format::Csv(Default::default());
        let admin = censusd::people::Principal::builtin_admin();
        censusd::app::directory::import(&self.rec, csv.as_bytes(), format, false, &admin).unwrap()
    }

    /// Import licence entitlements (CSV) as the admin would.
    #[allow(dead_code)]
    pub fn licences(&self, csv: &str) -> censusd::licences::file::EntitlementPlan {
        let format = censusd::register::csv::Format::Csv(Default::default());
        let admin = censusd::people::Principal::builtin_admin();
        censusd::app::licences::import(&self.rec, csv.as_bytes(), format, false, &admin).unwrap()
    }

    pub fn whois(&self, q: &str, now: i64) -> Option<WhoisAnswer> {
        censusd::app::query::whois(&self.rec, q, now).unwrap()
    }
}
