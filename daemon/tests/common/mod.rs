//! A real daemon on 127.0.0.1:0 with a fresh database, for API tests.

#![allow(dead_code)]

use std::sync::Arc;

use censusd::config::{NotifyConfig, ReconcileConfig};
use reqwest::{Client, Method, Response};
use tokio::sync::oneshot;

pub const ADMIN: &str = "census_test_admin_token";

pub struct Daemon {
    pub base: String,
    /// The daemon's store (still usable after `stop`).
    pub store: Arc<dyn censusd::store::Store>,
    pub http: Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Daemon {
    pub async fn start() -> Daemon {
        Self::start_with_limit(1 << 20).await
    }

    pub async fn start_with_limit(max_body: usize) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Self::start_full(dir, max_body, &ReconcileConfig::default(), &NotifyConfig::default()).await
    }

    pub async fn start_full(
        dir: tempfile::TempDir,
        max_body: usize,
        reconcile: &ReconcileConfig,
        notify: &NotifyConfig,
    ) -> Daemon {
        Self::start_with(dir, max_body, reconcile, notify, |_| {}).await
    }

    /// A daemon whose people directory syncs from `ldap` (`[people.ldap]`).
    pub async fn start_ldap(ldap: Option<censusd::directory::ldap::LdapConfig>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Self::start_with(dir, 1 << 20, &ReconcileConfig::default(), &NotifyConfig::default(), |d| {
            d.state.ldap = ldap.map(Arc::new);
        })
        .await
    }

    /// [`Daemon::start_full`], with `setup` given the daemon before it runs.
    pub async fn start_with(
        dir: tempfile::TempDir,
        max_body: usize,
        reconcile: &ReconcileConfig,
        notify: &NotifyConfig,
        setup: impl FnOnce(&mut censusd::service::Daemon),
    ) -> Daemon {
        // SQLite in `dir`, or a schema of its own on CENSUS_TEST_POSTGRES's server.
        let store = censusd::store::testing::fresh(dir.path()).unwrap();
        Self::start_on(dir, store, max_body, reconcile, notify, setup).await
    }

    /// A daemon on a store the test opened itself.
    pub async fn start_on(
        dir: tempfile::TempDir,
        store: Arc<dyn censusd::store::Store>,
        max_body: usize,
        reconcile: &ReconcileConfig,
        notify: &NotifyConfig,
        setup: impl FnOnce(&mut censusd::service::Daemon),
    ) -> Daemon {
        let mut daemon =
            censusd::service::Daemon::new(store.clone(), censusd::auth::hash_token(ADMIN), max_body, reconcile, notify);
        setup(&mut daemon);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(listener, None, async {
            let _ = rx.await;
        }));
        censusd::client::install_crypto();
        Daemon { base, store, http: Client::new(), dir, stop: Some(tx), task: Some(task) }
    }

    pub async fn req(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Response {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        r.send().await.unwrap()
    }

    pub async fn admin_json(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let r = self.req(method, path, Some(ADMIN), body.map(|b| b.to_string().into_bytes())).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Add an agent and return its token.
    pub async fn add_agent(&self, name: &str, segments: &[&str]) -> String {
        let (status, v) = self
            .admin_json(Method::POST, "/api/v1/agents", Some(serde_json::json!({"name": name, "segments": segments})))
            .await;
        assert_eq!(status, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Wait until every delivered batch is reconciled (the API answers
    /// agents before its reconcile worker has run).
    pub async fn settle(&self) {
        for _ in 0..400 {
            let (_, v) = self.admin_json(Method::GET, "/api/v1/status", None).await;
            if v["reconcile_queue"] == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the reconcile queue did not drain within 10 s");
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// A small valid batch from `agent` with hosts at the given addresses.
pub fn batch(agent: &str, ips: &[&str]) -> census_proto::Batch {
    let now = time::OffsetDateTime::now_utc();
    let hosts = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| census_proto::HostObservation {
            ip: ip.parse().unwrap(),
            mac: Some(census_proto::MacInfo::new(census_proto::MacAddr([
                0x00,
                0x1b,
                0x21,
                0,
                (i >> 8) as u8,
                i as u8,
            ]))),
            conflicting_macs: vec![],
            seen_by: vec![census_proto::Technique::Arp],
            rtt_us: Some(100),
            reply_ttl: Some(census_proto::Ttl(64)),
            syn_ack: None,
            ports: vec![census_proto::PortObservation {
                port: census_proto::Port(22),
                protocol: census_proto::TransportProtocol::Tcp,
                state: census_proto::PortState::Open,
                service: None,
            }],
            names: vec![],
            fingerprints: vec![],
            ipv6: None,
            first_seen: now,
            last_seen: now,
        })
        .collect();
    census_proto::Batch {
        schema_version: census_proto::SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: census_proto::AgentId(agent.into()),
        segment: census_proto::SegmentScope {
            name: "lab".into(),
            targets: vec!["198.18.0.0/24".parse().unwrap()],
            excluded: vec![],
        },
        started_at: now,
        finished_at: now,
        completeness: census_proto::SweepCompleteness {
            addresses_in_scope: 254,
            probes_sent: 254,
            replies: ips.len() as u64,
            estimated_loss: 0.0,
            rate_limit_pps: 1000,
            rate_achieved_pps: 990.0,
            complete: true,
            techniques: vec![],
            enriched: true,
        },
        schedule: None,
        hosts,
    }
}

impl Daemon {
    /// An admin request with a raw text body, answered with JSON.
    pub async fn admin_json_body(&self, method: Method, path: &str, body: String) -> (u16, serde_json::Value) {
        let r = self.req(method, path, Some(ADMIN), Some(body.into_bytes())).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }
}
