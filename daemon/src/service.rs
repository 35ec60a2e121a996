//! The daemon assembled: store, reconciler, notifier, the reconcile
//! schedule and the API, run until a shutdown future resolves. The binary
//! and the tests build the daemon the same way, so tests exercise what
//! operators run.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::alerts::notify::{self, Notifier};
use crate::api::{self, AppState};
use crate::auth::TokenHash;
use crate::config::{NotifyConfig, ReconcileConfig};
use crate::reconcile::Reconciler;
use crate::store::{Store, now_ms};

/// Everything the daemon runs.
pub struct Daemon {
    /// API state (store, reconciler, limits).
    pub state: AppState,
    notifier: Notifier,
    interval: Duration,
    /// Raw observations older than this are rolled up (the configuration's
    /// `[store] retention`; 30 days unless set).
    pub retention: Duration,
    /// Where Prometheus metrics are served (the configuration's `[metrics]
    /// listen`, bound before [`Daemon::run`]); none unless set.
    pub metrics: Option<tokio::net::TcpListener>,
}

impl Daemon {
    /// Assemble a daemon over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        admin: TokenHash,
        max_body: usize,
        reconcile: &ReconcileConfig,
        notify_cfg: &NotifyConfig,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let sinks = notify::sinks(notify_cfg);
        let reconciler = Arc::new(Reconciler::new(store.clone(), reconcile, notify::routes(&sinks), wake.clone()));
        let notifier = Notifier::new(store.clone(), sinks, wake, reconciler.metrics().clone());
        let bulk =
            Arc::new(crate::app::background::Lane::start("census-bulk").expect("starting the bulk ingest thread"));
        let state = AppState {
            store,
            admin,
            max_body,
            reconciler,
            bulk,
            secure_cookies: false,
            sign_ins: Default::default(),
            in_flight: Default::default(),
            ldap: None,
            sync: Default::default(),
        };
        Daemon {
            state,
            notifier,
            interval: reconcile.interval,
            retention: crate::config::DEFAULT_RETENTION,
            metrics: None,
        }
    }

    /// Serve on `listener` (HTTPS when `tls` is given), run the notifier and
    /// the reconcile schedule, until `shutdown` resolves.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let notifier = tokio::spawn(self.notifier.run(stopped(stop_rx.clone())));
        let schedule = tokio::spawn(schedule(self.state.clone(), self.interval, stopped(stop_rx.clone())));
        let roll_ups = tokio::spawn(roll_up(self.state.clone(), self.retention, stopped(stop_rx.clone())));
        let daemon_id = format!("{}:{}", host_name(), listener.local_addr().map_or(0, |a| a.port()));
        let routes = tokio::spawn(announce_routes(self.state.clone(), daemon_id, stopped(stop_rx.clone())));
        // The watch stops last, once requests and the worker are done: a
        // stopping daemon's writes still in progress stay its signs of life.
        let (watch_stop_tx, watch_stop_rx) = watch::channel(false);
        let writers = tokio::spawn(watch_writers(self.state.clone(), stopped(watch_stop_rx)));
        let worker = self.state.reconciler.clone().start_worker()?;
        let metrics =
            self.metrics.map(|l| tokio::spawn(serve_metrics(l, self.state.clone(), stopped(stop_rx.clone()))));
        let ldap_syncs = self
            .state
            .ldap
            .as_ref()
            .and_then(|l| l.interval)
            .map(|every| tokio::spawn(ldap_sync(self.state.clone(), every, stopped(stop_rx.clone()))));
        let register_syncs: Vec<_> =
            [crate::connectors::sync::System::SnipeIt, crate::connectors::sync::System::NetBox]
                .into_iter()
                .filter_map(|s| self.state.sync.get(s).and_then(|c| c.interval).map(|every| (s, every)))
                .map(|(s, every)| tokio::spawn(register_sync(self.state.clone(), s, every, stopped(stop_rx.clone()))))
                .collect();
        let reconciler = self.state.reconciler.clone();
        let serve_shutdown = async move {
            shutdown.await;
            reconciler.stop_full_runs();
            let _ = stop_tx.send(true);
        };
        let mut state = self.state;
        state.secure_cookies = tls.is_some();
        let served = match tls {
            Some(tls) => api::serve_tls(listener, tls, state, serve_shutdown).await,
            None => api::serve(listener, state, serve_shutdown).await,
        };
        let teardown = async move {
            let _ = schedule.await;
            let _ = roll_ups.await;
            let _ = routes.await;
            if let Some(m) = metrics {
                let _ = m.await;
            }
            if let Some(s) = ldap_syncs {
                let _ = s.await;
            }
            for s in register_syncs {
                let _ = s.await;
            }
            let _ = tokio::task::spawn_blocking(move || worker.stop()).await;
            let _ = notifier.await;
            let _ = watch_stop_tx.send(true);
            let _ = writers.await;
        };
        if tokio::time::timeout(TEARDOWN, teardown).await.is_err() {
            tracing::warn!(
                waited_s = TEARDOWN.as_secs(),
                "stopping without waiting longer for work in progress (a write waiting for the database's lock, a slow import): its transactions roll back when the process exits; agents resend their batches and the next start reconciles again"
            );
        }
        served
    }
}

/// How long a stopping daemon waits, once its listener has closed (after
/// up to 10 s for requests in progress, `api::serve`), for its background
/// work to finish: together well inside systemd's stop timeout for the
/// unit (`TimeoutStopSec=30s`, packaging/censusd.service), so the daemon
/// exits by itself, saying so, rather than being killed. Work still going
/// then — a write waiting up to two minutes for the database's lock, an
/// import over a slow link — is abandoned with the process and rolls back
/// whole (the binary's `main` does not wait for it either).
pub const TEARDOWN: Duration = Duration::from_secs(10);

/// How often a daemon records its notification routes in the store and
/// compares them with those of the other daemons sharing it.
const ROUTES_EVERY: Duration = Duration::from_secs(3600);

/// This machine's name (for telling daemons apart in the store), or `unknown`.
fn host_name() -> String {
    crate::host::name().unwrap_or_else(|| "unknown".into())
}

/// The routes as one canonical text: `sink>=severity` sorted, or `none`.
fn routes_text(routes: &[(String, crate::alerts::Severity)]) -> String {
    let mut all: Vec<String> = routes.iter().map(|(sink, min)| format!("{sink}>={}", min.as_str())).collect();
    all.sort();
    if all.is_empty() { "none".into() } else { all.join(",") }
}

/// Record this daemon's notification routes at the start and every
/// [`ROUTES_EVERY`], and warn about each daemon sharing the store whose
/// routes differ: an alert's events go to the sinks of the daemon that
/// raised it, and which daemon that is depends on where a batch arrived.
async fn announce_routes(state: AppState, daemon: String, stop: impl Future<Output = ()>) {
    let routes = routes_text(state.reconciler.routes());
    let every_ms = i64::try_from(ROUTES_EVERY.as_millis()).unwrap_or(i64::MAX);
    every(ROUTES_EVERY, stop, "recording this daemon's notification routes", move || {
        let (store, who, ours) = (state.store.clone(), daemon.clone(), routes.clone());
        move || {
            let now = now_ms();
            // A daemon that has not recorded its routes for two periods is gone.
            let since = now - 2 * every_ms;
            match store.announce_routes(&who, &ours, now, since) {
                Ok(others) => {
                    for (other, theirs) in others {
                        tracing::warn!(
                            daemon = %other,
                            theirs = %theirs,
                            ours = %ours,
                            "another daemon on this database notifies other sinks: each alert's events go only to the sinks of the daemon that raised it; give every daemon the same [notify]"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "recording this daemon's notification routes failed"),
            }
        }
    })
    .await;
}

/// Every [`crate::store::WATCH_WRITERS_EVERY`], end the sessions of
/// daemons stopped inside a write while holding the store's write lock
/// ([`crate::store::CoordinationStore::end_stuck_writers`]); a failed look
/// is logged at debug (an outage shows elsewhere) and the next one tries again.
async fn watch_writers(state: AppState, stop: impl Future<Output = ()>) {
    every(crate::store::WATCH_WRITERS_EVERY, stop, "looking for stopped writers", move || {
        let store = state.store.clone();
        move || {
            if let Err(e) = store.end_stuck_writers() {
                tracing::debug!(error = %e, "looking for writers stopped mid-statement failed");
            }
        }
    })
    .await;
}

/// Run the job `next` makes at once and then every `period` until `stop`,
/// each on a blocking thread (the store's calls block); a job that
/// panics is logged as `what` and the next one runs on time.
async fn every<J>(period: Duration, stop: impl Future<Output = ()>, what: &'static str, mut next: impl FnMut() -> J)
where
    J: FnOnce() + Send + 'static,
{
    tokio::pin!(stop);
    loop {
        if let Err(e) = tokio::task::spawn_blocking(next()).await {
            tracing::error!(error = %e, job = what, "a periodic job panicked");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// How long a scrape waits for the store's state figures before it answers
/// with those it has: well inside Prometheus' default scrape timeout (10 s),
/// so a database outage shows in the metrics instead of emptying them.
const SCRAPE_STORE_WAIT: Duration = Duration::from_secs(3);

/// Serve the metrics on `listener` until `stop`: each scrape reads the
/// store's figures on a blocking thread, waiting for them at most
/// [`SCRAPE_STORE_WAIT`].
async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState, stop: impl Future<Output = ()>) {
    let render = move || {
        let (store, reconciler) = (state.store.clone(), state.reconciler.clone());
        async move {
            let rec = reconciler.clone();
            let read = tokio::task::spawn_blocking(move || rec.metrics().refresh_state(store.as_ref()));
            if tokio::time::timeout(SCRAPE_STORE_WAIT, read).await.is_err() {
                reconciler.metrics().scrape_without_store(SCRAPE_STORE_WAIT);
            }
            reconciler.metrics().encode()
        }
    };
    census_metrics::serve(listener, render, stop).await;
}

/// Sync the people directory from LDAP a minute after the start, then every
/// `every` (`[people.ldap] interval`), recorded in the audit log as `ldap-sync`.
/// A failed sync changes nothing and is logged; the next one tries again.
async fn ldap_sync(state: AppState, every: Duration, stop: impl Future<Output = ()>) {
    let Some(cfg) = state.ldap.clone() else { return };
    tokio::pin!(stop);
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        let who = crate::people::Principal::person("ldap-sync", crate::people::Role::Admin);
        let sync = crate::app::directory::sync_from(state.reconciler.clone(), &cfg, (false, false), who);
        tokio::select! {
            _ = &mut stop => return,
            r = sync => match r {
                Ok(p) => tracing::info!(
                    added = p.added.len(),
                    changed = p.changed.len(),
                    departed = p.departed.len(),
                    skipped = p.skipped.len(),
                    "people directory synced from LDAP"
                ),
                Err(e) => tracing::error!(error = %e, "syncing the people directory from LDAP failed; nothing changed"),
            },
        }
    }
}

/// Sync the register with `system` two minutes after the start, then every
/// `every` (`[sync.*] interval`), recorded in the audit log as `SYSTEM-sync`.
/// A failed sync changes nothing and is logged; the next one tries again.
async fn register_sync(
    state: AppState,
    system: crate::connectors::sync::System,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let Some(cfg) = state.sync.get(system).cloned() else { return };
    tokio::pin!(stop);
    let mut wait = Duration::from_secs(120);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        let who = crate::people::Principal::person(&format!("{}-sync", system.as_str()), crate::people::Role::Admin);
        let sync = crate::app::sync::run(state.reconciler.clone(), &cfg, (false, false), who);
        tokio::select! {
            _ = &mut stop => return,
            r = sync => if let Err(e) = r {
                tracing::error!(system = system.as_str(), error = %e, "register sync failed; nothing changed");
            },
        }
    }
}

/// How often raw observations past the retention period are rolled up.
pub const ROLL_UP_EVERY: Duration = Duration::from_secs(3600);

/// Observations rolled up per call (the calls yield to deliveries part by part).
const ROLL_UP_BUDGET: usize = 50_000;

/// Roll up raw observations older than `retention`: a minute after the
/// start, then every [`ROLL_UP_EVERY`], until nothing is due.
async fn roll_up(state: AppState, retention: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = ROLL_UP_EVERY;
        let before = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let (mut observations, mut batches) = (0u64, 0u64);
        loop {
            let store = state.store.clone();
            match tokio::task::spawn_blocking(move || store.roll_up(before, ROLL_UP_BUDGET)).await {
                Ok(Ok(r)) => {
                    observations += r.observations;
                    batches += r.batches;
                    if !r.more {
                        break;
                    }
                }
                Ok(Err(crate::store::StoreError::Busy(why))) => {
                    tracing::warn!(reason = %why, "rolling up old observations gave way; retrying at the next run");
                    break;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "rolling up old observations failed; retrying at the next run");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "rolling up old observations panicked");
                    break;
                }
            }
            // Between calls, the stop signal is heard.
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::task::yield_now() => {}
            }
        }
        if observations > 0 || batches > 0 {
            tracing::info!(
                observations,
                batches,
                before_ms = before,
                "old observations rolled up into daily summaries"
            );
        }
    }
}

/// Full reconcile at start, every `interval`, and soon after a register change.
async fn schedule(state: AppState, interval: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let r = state.reconciler.clone();
        let run = move || {
            let s = r.full(now_ms())?;
            // Checklists started, and retirements verified, by this run's view of the network.
            if let Err(e) = crate::app::retirement::track(&r, now_ms()) {
                tracing::error!(error = %e, "recording verified retirements failed; the next run tries again");
            }
            Ok::<_, crate::store::StoreError>(s)
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(s)) => tracing::info!(
                hosts = s.hosts,
                assets = s.assets,
                opened = s.opened,
                resolved = s.resolved,
                "full reconcile"
            ),
            // Busy: the database's lock waited out, or the daemon stopping — not a fault.
            Ok(Err(crate::store::StoreError::Busy(why))) => {
                tracing::warn!(reason = %why, "full reconcile did not run; the next one tries again");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "full reconcile failed"),
            Err(e) => tracing::error!(error = %e, "full reconcile panicked"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
            _ = state.reconciler.full_requested() => {
                // Let a burst of register changes settle into one run.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::routes_text;
    use crate::alerts::Severity;

    /// Two daemons with the same sinks in another order announce the same
    /// text; one without any says so.
    #[test]
    fn routes_are_compared_whatever_their_order() {
        let a = [("soc".to_string(), Severity::High), ("siem".to_string(), Severity::Low)];
        let b = [a[1].clone(), a[0].clone()];
        assert_eq!(routes_text(&a), routes_text(&b));
        assert_eq!(routes_text(&a), "siem>=low,soc>=high");
        assert_eq!(routes_text(&[]), "none");
    }
}
