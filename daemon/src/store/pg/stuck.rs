//! PostgreSQL: ending a writer that stopped while the server was sending
//! it a result.
//!
//! Every write holds the write lock (or the ingest lock) for its
//! transaction (`pg/mod.rs`). A daemon that stops mid-transaction — a
//! process stopped (`SIGSTOP`, a debugger), a paused VM — between two
//! statements leaves its session *idle in transaction*, which the server
//! ends after a minute (`idle_in_transaction_session_timeout`). One that
//! stops while the server is still sending it a statement's rows leaves
//! the session *active*, blocked writing to a client that no longer reads
//! (`wait_event = 'ClientWrite'`): no idle timeout applies, and its locks —
//! the write lock that every other daemon's writes wait for, and the share
//! lock on the full reconcile's turn number (`turn.rs`) — stay held for as
//! long as it stays stopped.
//!
//! Two things end such a session:
//! - Over TCP, the kernel: every pooled session and every turn's session
//!   runs with `tcp_user_timeout` ([`STUCK_FOR`]; PostgreSQL 12 and later),
//!   so data the peer leaves unread (a zero window it never reopens) or
//!   never acknowledges (a machine gone from the network) for that long
//!   closes the connection, and the server ends the session.
//! - Over a Unix socket (the daemon and the server on one machine, the
//!   usual setup), nothing in the kernel does: each daemon watches instead
//!   ([`PostgresStore::end_stuck_writers_after`], every
//!   [`crate::store::WATCH_WRITERS_EVERY`] from the service). A session holding the write or ingest lock that is
//!   seen blocked on `ClientWrite` at every look, in the same statement,
//!   for [`STUCK_FOR`] is terminated (`pg_terminate_backend`): its
//!   transaction rolls back whole (its daemon, when it resumes, finds its
//!   connection gone and its request failed: an agent's batch is resent, a
//!   reconcile runs again), and the locks are free.
//!
//! A client that is alive reads what it is sent within milliseconds; a
//! statement under the write lock whose reader is slower than the server
//! for a whole minute at every look is taken for stopped — no statement
//! Census runs under the lock streams for that long.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{INGEST_LOCK, PostgresStore, WRITE_LOCK, lock_key};
use crate::store::StoreError;

/// How long a writer must be seen blocked sending to its client before it
/// is taken for stopped: the turn's lease (`turn::LEASE`), so a stopped
/// daemon holds nothing longer than a minute, whatever it was doing.
pub const STUCK_FOR: Duration = Duration::from_secs(60);

/// A writer seen blocked on its client: one backend in one statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stalled {
    pid: i32,
    /// When its statement began, as the server prints it (a new statement is a new stall).
    query_start: String,
}

/// The writers seen stalled at the last look, and since when (this daemon's
/// monotonic clock: only intervals between its own looks are compared).
#[derive(Debug, Default)]
pub(super) struct Watch {
    seen: std::sync::Mutex<HashMap<Stalled, Instant>>,
}

/// A writer this daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedWriter {
    /// The server process of the session ended.
    pub pid: i32,
    /// Its client as the server knows it (`client_addr`, or `local`) and its `application_name`.
    pub client: String,
}

impl PostgresStore {
    /// Look once for sessions holding this store's write or ingest lock
    /// while blocked sending to their client, and terminate each one seen
    /// so at every look (same backend, same statement) for `stuck_for`.
    /// Called every [`crate::store::WATCH_WRITERS_EVERY`] or so: a look missed (a stall not seen)
    /// starts the count again.
    ///
    /// # Errors
    /// [`StoreError::Db`] or [`StoreError::Unavailable`] when the server
    /// cannot be asked; a termination refused (another role's session,
    /// without `pg_signal_backend`) is logged, not an error.
    pub fn end_stuck_writers_after(&self, stuck_for: Duration) -> Result<Vec<EndedWriter>, StoreError> {
        let keys = [lock_key(WRITE_LOCK, &self.schema), lock_key(INGEST_LOCK, &self.schema)];
        let stalled = self.single(move |c| {
            Ok(c.query(
                "SELECT DISTINCT a.pid, a.query_start::text,
                        coalesce(host(a.client_addr), 'local') || ' ' || coalesce(a.application_name, '')
                   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1)
                    AND a.state = 'active' AND a.wait_event = 'ClientWrite' AND a.pid <> pg_backend_pid()",
                &[&&keys[..]],
            )?)
        })?;
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut seen = self.watch.seen.lock().unwrap_or_else(|p| p.into_inner());
            let mut still = HashMap::with_capacity(stalled.len());
            for r in &stalled {
                let s = Stalled { pid: r.get(0), query_start: r.get::<_, Option<String>>(1).unwrap_or_default() };
                let since = seen.get(&s).copied().unwrap_or(now);
                if now.duration_since(since) >= stuck_for {
                    due.push((s.pid, r.get::<_, String>(2), now.duration_since(since)));
                } else {
                    still.insert(s, since);
                }
            }
            // A stall not seen at this look is over (or was missed): forget it.
            *seen = still;
        }
        let mut ended = Vec::new();
        for (pid, client, stalled_for) in due {
            let done =
                self.single(move |c| Ok(c.query_one("SELECT pg_terminate_backend($1)", &[&pid])?.get::<_, bool>(0)));
            match done {
                Ok(true) => {
                    tracing::warn!(
                        pid,
                        client = %client,
                        stalled_s = stalled_for.as_secs(),
                        "ended a database session that held the write lock while its client read nothing (a daemon stopped mid-statement); its transaction rolled back"
                    );
                    ended.push(EndedWriter { pid, client });
                }
                Ok(false) => tracing::debug!(pid, "a stuck writer ended before it could be terminated"),
                Err(e) => tracing::warn!(
                    pid,
                    client = %client,
                    error = %e,
                    "a database session has held the write lock without its client reading for a minute, and could not be ended: end it (pg_terminate_backend) or resume its daemon"
                ),
            }
        }
        Ok(ended)
    }
}

/// The first PostgreSQL release with `tcp_user_timeout` (`server_version_num`).
pub(super) const TCP_USER_TIMEOUT_SINCE: i32 = 120_000;

/// Set `tcp_user_timeout` to [`STUCK_FOR`] on `client`'s session where the
/// server knows it (PostgreSQL 12 and later; ignored over a Unix socket).
///
/// # Errors
/// The statement's error.
pub(super) fn limit_unread(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    client.execute(
        "SELECT set_config('tcp_user_timeout', $1, false)
          WHERE current_setting('server_version_num')::int >= $2",
        &[&STUCK_FOR.as_millis().to_string(), &TCP_USER_TIMEOUT_SINCE],
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "stuck_tests.rs"]
mod tests;
