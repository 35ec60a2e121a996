//! Delivering alert events: webhooks (generic JSON or Slack-compatible) and
//! JSON lines for a SIEM.
//!
//! Events are written to an outbox table in the same transaction as the
//! alert change, one row per sink, so an event exists exactly when its alert
//! change does. This task drains the outbox in order per sink; a failed
//! delivery is retried with exponential backoff and jitter (1 s doubling to
//! 5 min) for as long as it takes. Ingest only ever writes rows, so a slow
//! or dead webhook never holds up an agent.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{AlertEvent, EventKind, Severity};
use crate::config::{NotifyConfig, WebhookFormat};
use crate::store::{OutboxItem, Store, now_ms};

/// Events claimed from the outbox at a time. On PostgreSQL a claim holds
/// its events for the daemon that made it (the n-th for 30 s + n × 12 s,
/// `store/pg/alerts.rs`), so a daemon killed mid-claim delays the rest of
/// that claim by at most about two minutes; on SQLite it is only a page.
pub const CLAIM: usize = 10;

/// What one claim left to do.
enum Claimed {
    /// A full page was delivered: claim again.
    Full,
    /// Everything due was delivered.
    Done,
    /// Stopped: retry after this wait (`None`: the usual poll).
    Retry(Option<Duration>),
}

/// Name of the JSON-lines sink in the outbox.
pub const JSONL_SINK: &str = "jsonl";

/// A place events go.
#[derive(Debug, Clone)]
enum Target {
    Webhook { url: String, format: WebhookFormat },
    Jsonl(String),
}

/// One sink: its outbox name, where it goes, and the least severity it takes.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Name in the outbox.
    pub name: String,
    /// Least severity sent.
    pub min_severity: Severity,
    target: Target,
}

/// The sinks a configuration names.
pub fn sinks(cfg: &NotifyConfig) -> Vec<Sink> {
    let mut out: Vec<Sink> = cfg
        .webhooks
        .iter()
        .map(|w| Sink {
            name: w.name.clone(),
            min_severity: w.min_severity,
            target: Target::Webhook { url: w.url.clone(), format: w.format },
        })
        .collect();
    if let Some(path) = &cfg.jsonl {
        out.push(Sink { name: JSONL_SINK.into(), min_severity: Severity::Low, target: Target::Jsonl(path.clone()) });
    }
    out
}

/// The outbox names and thresholds the store needs when writing events.
pub fn routes(sinks: &[Sink]) -> Vec<(String, Severity)> {
    sinks.iter().map(|s| (s.name.clone(), s.min_severity)).collect()
}

/// The sinks an event of `severity` goes to.
pub fn targets(routes: &[(String, Severity)], severity: Severity) -> Vec<String> {
    routes.iter().filter(|(_, min)| severity >= *min).map(|(n, _)| n.clone()).collect()
}

/// Text for Slack's `mrkdwn`: `&`, `<` and `>` escaped as Slack documents
/// (<https://api.slack.com/reference/surfaces/formatting#escaping>), so a
/// device named `<!channel> <http://x|y>` can neither ping a channel nor
/// disguise a link; control characters and text-reordering or invisible
/// characters ([`crate::output::hidden`]) are shown as escapes, not sent.
pub fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if crate::output::hidden(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// A Slack-compatible message for an event; every piece of data in it escaped.
pub fn slack_text(e: &AlertEvent) -> String {
    let a = &e.alert;
    let (kind, subject) = (a.kind.as_str(), slack_escape(&a.subject));
    let sev = a.severity.as_str().to_uppercase();
    let head = match e.event {
        EventKind::Opened => format!("[{sev}] {kind} {subject}"),
        EventKind::Resolved => format!("[resolved] {kind} {subject}"),
        EventKind::Reopened => format!("[{sev} reopened] {kind} {subject}"),
        other => format!("[{sev}] {kind} {subject} {}", other.as_str()),
    };
    let mut text = format!("{head}: {}", slack_escape(&a.summary));
    if let Some(r) = &a.resolution {
        text.push_str(&format!(" ({})", slack_escape(r)));
    }
    if let Some(agent) = &a.agent {
        text.push_str(&format!(" [seen by {}]", slack_escape(agent)));
    }
    text
}

/// Longest wait between retries of one event.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Drains the outbox to the sinks until `shutdown` resolves.
pub struct Notifier {
    store: Arc<dyn Store>,
    sinks: Vec<Sink>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    metrics: Arc<crate::metrics::DaemonMetrics>,
}

impl Notifier {
    /// A notifier for `sinks`; `wake` is signalled when events are written;
    /// each delivery is counted in `metrics`.
    pub fn new(
        store: Arc<dyn Store>,
        sinks: Vec<Sink>,
        wake: Arc<Notify>,
        metrics: Arc<crate::metrics::DaemonMetrics>,
    ) -> Self {
        crate::client::install_crypto();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("censusd/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Notifier { store, sinks, client, wake, metrics }
    }

    /// Run until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let mut next_wait = Duration::from_secs(1);
            for sink in &self.sinks {
                if let Some(wait) = self.drain(sink).await {
                    next_wait = next_wait.min(wait);
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(next_wait) => {}
            }
        }
    }

    /// Deliver what is due for one sink, in order, [`CLAIM`] events at a
    /// time; stops at the first failure.
    async fn drain(&self, sink: &Sink) -> Option<Duration> {
        loop {
            match self.drain_claim(sink).await {
                Claimed::Full => continue,
                Claimed::Done => return None,
                Claimed::Retry(wait) => return wait,
            }
        }
    }

    /// Claim and deliver one page of due events.
    async fn drain_claim(&self, sink: &Sink) -> Claimed {
        let (store, name) = (self.store.clone(), sink.name.clone());
        let Ok(due) = tokio::task::spawn_blocking(move || store.outbox_due(&name, now_ms(), CLAIM)).await else {
            return Claimed::Retry(None);
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(sink = %sink.name, error = %e, "reading the alert outbox failed");
                return Claimed::Retry(None);
            }
        };
        let full = due.len() == CLAIM;
        for item in due {
            let result = self.deliver(sink, &item).await;
            self.metrics.delivery(&sink.name, result.is_ok());
            let store = self.store.clone();
            let (id, attempts) = (item.id, item.attempts + 1);
            let failed = result.as_ref().err().cloned();
            if let Some(err) = &failed {
                tracing::warn!(sink = %sink.name, outbox_id = id, attempts, error = %err, "alert delivery failed; will retry");
            }
            let wait = census_proto::retry::backoff(attempts, RETRY_MAX);
            let retry_at = now_ms() + wait.as_millis() as i64;
            let _ = tokio::task::spawn_blocking(move || match failed {
                None => store.outbox_delivered(id, now_ms()),
                Some(err) => store.outbox_failed(id, attempts, retry_at, &err),
            })
            .await;
            if result.is_err() {
                return Claimed::Retry(Some(wait));
            }
        }
        if full { Claimed::Full } else { Claimed::Done }
    }

    async fn deliver(&self, sink: &Sink, item: &OutboxItem) -> Result<(), String> {
        match &sink.target {
            Target::Jsonl(path) => write_line(path, &item.event),
            Target::Webhook { url, format } => {
                let body = match format {
                    WebhookFormat::Json => item.event.clone(),
                    WebhookFormat::Slack => {
                        let event: AlertEvent = serde_json::from_str(&item.event).map_err(|e| e.to_string())?;
                        serde_json::json!({ "text": slack_text(&event) }).to_string()
                    }
                };
                let resp = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("x-census-event-id", item.id.to_string())
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("{e}"))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the receiver answered {}", resp.status()))
                }
            }
        }
    }
}

fn write_line(path: &str, line: &str) -> Result<(), String> {
    if path == "-" {
        let mut out = std::io::stdout().lock();
        return writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| e.to_string());
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{path}: {e}"))?;
    f.write_all(format!("{line}\n").as_bytes()).map_err(|e| format!("{path}: {e}"))
}
