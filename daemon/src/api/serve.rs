//! Serving connections, plain or TLS, so that no stranger can exhaust the
//! daemon:
//! - a request's headers must arrive within [`HEADER_TIMEOUT`] and its body
//!   within [`BODY_TIMEOUT`] (a half-sent request is cut off);
//! - the open-files limit is raised to its hard limit at start, and the
//!   number of connections is capped below it; at the cap, the oldest
//!   connection that is not in the middle of a request (half-sent headers,
//!   or idle between requests) is closed to make room, so a flood of
//!   half-open connections can never lock out agents or `/healthz`;
//! - authentication happens before any body is read (see
//!   [`super::gate`]), and bodies are capped (413).
//!
//! On shutdown the listener stops accepting and connections in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use census_metrics::conn::{Busy, Connections};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tower::ServiceExt;

/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// Descriptors kept free for the database, logs and outgoing webhooks.
const RESERVED_FDS: u64 = 128;
/// Connections at most, whatever the descriptor limit.
const MAX_CONNECTIONS: usize = 16_384;

/// Raise the soft open-files limit to the hard one; returns the soft limit now.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// The connection cap for a descriptor limit.
pub fn connection_cap(nofile: u64) -> usize {
    (nofile.saturating_sub(RESERVED_FDS) as usize).clamp(16, MAX_CONNECTIONS)
}

/// Serve `app` on `listener` (TLS when `tls` is given) until `shutdown` resolves.
///
/// # Errors
/// Never in practice: accept errors are logged and retried.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = connection_cap(raise_nofile());
    let open = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(Connections::default());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors: make room rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    if !waiting.evict_oldest_idle() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        if open.load(Ordering::Relaxed) >= cap && !waiting.evict_oldest_idle() {
            tracing::warn!(%peer, cap, "connection cap reached with every connection busy; refusing one");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let busy = Arc::new(AtomicBool::new(false));
        let (app, acceptor, open2, busy2) = (app.clone(), acceptor.clone(), open.clone(), busy.clone());
        let watcher = graceful.watcher();
        // Counted from here, and given back when the task's future is
        // dropped — also when it is aborted (evicted) before it first ran,
        // which a guard made inside the task would miss: the count then
        // stayed at the cap for good and every connection was refused.
        open.fetch_add(1, Ordering::Relaxed);
        let count = Count(open2);
        let handle = tasks.spawn(async move {
            let _count = count;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let guard = Busy::start(&busy2);
                let app = app.clone();
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                async move {
                    let r = app.oneshot(req.map(axum::body::Body::new)).await;
                    drop(guard);
                    r
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
            match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        _ => {
                            tracing::debug!(%peer, "TLS handshake failed or too slow");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), service).into_owned();
                    let _ = watcher.watch(conn).await;
                }
            }
        });
        waiting.push(busy, handle);
    }
    // Stop accepting; idle connections close, requests in flight finish (for a while).
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!(
            "stopping without waiting longer for requests in progress: their clients get no answer, and what they were writing rolls back when the process exits"
        );
    }
    tasks.abort_all();
    Ok(())
}

struct Count(Arc<AtomicUsize>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest_of_the_daemon() {
        assert_eq!(connection_cap(1024), 896);
        assert_eq!(connection_cap(100), 16);
        assert_eq!(connection_cap(1 << 20), MAX_CONNECTIONS);
    }
}
