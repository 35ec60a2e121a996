//! PostgreSQL: ending the sessions of a daemon that stopped inside a
//! write, holding the lock every other daemon's writes wait for.
//!
//! Every write holds the write lock (or the ingest lock) for its
//! transaction (`pg/mod.rs`). A daemon that stops mid-transaction — a
//! process stopped (`SIGSTOP`, a debugger), a paused VM — leaves its
//! session in one of two states, and its locks (the write lock, and the
//! share lock on the full reconcile's turn number, `turn.rs`) held for as
//! long as it stays stopped:
//! - *idle in transaction*, between two statements (or while a statement
//!   prepared in a round trip of its own was still being sent);
//! - *active*, blocked writing a statement's rows to a client that no
//!   longer reads them (`wait_event = 'ClientWrite'`), or reading the rest
//!   of a statement the client stopped sending midway
//!   (`wait_event = 'ClientRead'`: a large statement's parameters follow
//!   its text), where no idle timeout applies.
//!
//! Two things end such a session:
//! - Over TCP, the kernel: every session a daemon opens runs with
//!   `tcp_user_timeout` ([`STUCK_FOR`]; PostgreSQL 12 and later), so data
//!   its peer leaves unread (a zero window never reopened) or never
//!   acknowledges (a machine gone from the network) for that long closes
//!   the connection, and the server ends the session.
//! - Over a Unix socket (the daemon and the server on one machine, the
//!   usual setup), nothing in the kernel does: the daemons watch each
//!   other instead ([`PostgresStore::end_stuck_writers_after`], every
//!   [`crate::store::WATCH_WRITERS_EVERY`] from the service, on a
//!   connection of its own so a pool full of writers waiting for the lock
//!   cannot keep it from looking).
//!
//! Stopped, not slow: a daemon reading a large result over a slow link is
//! blocked on `ClientWrite` too, and one sending a large statement (an
//! import's arrays of assets) over a slow link is blocked on `ClientRead`
//! (or idle) until the server has read it whole — each for as long as its
//! link needs. So a session is ended only when its *daemon* shows no sign
//! of life: every session a daemon opens carries its name
//! (`application_name`, [`daemon_name`]), its watcher's session sends a
//! statement every few seconds, and a daemon none of whose other sessions
//! was sent a statement for [`STUCK_FOR`] (`query_start`, by the server's
//! clock) is stopped — a live one, however slow its link, is looking. A
//! session's *state* is no such sign: the server changes it by itself (a
//! lock granted to, or a lock timeout ending, a statement sent before the
//! daemon froze). What is ended: a session holding this store's write or
//! ingest lock, idle in its transaction or blocked on its client, whose
//! last statement was sent over [`STUCK_FOR`] ago, of a daemon silent that
//! long. Its transaction rolls back
//! whole (its daemon, when it resumes, finds its connection gone and its
//! request failed: an agent's batch is resent, a reconcile runs again)
//! and the locks are free. The server's own idle-in-transaction timeout
//! (`pg/mod.rs`, ten minutes) stays as the backstop for when no daemon is
//! watching.
//!
//! Never ended, only warned about once per stall: a session not of a
//! Census daemon (no `censusd` name: `psql`, a script) so blocked or idle
//! under the lock for [`STUCK_FOR`], and a session of another role, whose
//! state the daemons' role cannot see (`pg_read_all_stats`) nor end
//! (`pg_signal_backend`), holding the lock at every look for [`STUCK_FOR`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{INGEST_LOCK, PostgresStore, WRITE_LOCK, lock_key, off_runtime};
use crate::store::StoreError;

/// How long a daemon must have been silent, and its statement running,
/// before its session blocked on its client is ended: the turn's lease
/// (`turn::LEASE`), so a stopped daemon holds nothing longer than a minute.
pub const STUCK_FOR: Duration = Duration::from_secs(60);

/// The start of every Census daemon's session name.
const NAME_PREFIX: &str = "censusd ";

/// This process's name on every session it opens (`application_name`):
/// `censusd NONCE PID@HOST`, at most 63 bytes (the server's limit; the
/// host is what is cut). The nonce — 16 hex digits drawn once per process
/// from the standard library's random hash keys — keeps the name unique
/// where PID and host are not: containers that all run it as PID 1 under
/// one host name, host names cut short, cloned machines. Two daemons
/// sharing a name would vouch for each other's liveness.
pub(super) fn daemon_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let nonce = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let host = crate::host::name().unwrap_or_default();
        let mut name = format!("{NAME_PREFIX}{nonce:016x} {}@{host}", std::process::id());
        while name.len() > 63 {
            name.pop();
        }
        name
    })
}

/// A lock holder as the server shows it to this daemon's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Holder {
    pub pid: i32,
    /// Whether it holds the ingest lock (else the write lock).
    pub ingest: bool,
    /// `None` when the role may not see the session (another role's).
    pub state: Option<String>,
    pub wait_event: Option<String>,
    pub query_start: Option<String>,
    pub application_name: String,
    /// `client_addr`, or `local` (a Unix socket).
    pub client: String,
    /// Its last statement was sent over [`STUCK_FOR`] ago (`query_start`).
    pub long: bool,
    /// Another session of the same name was sent a statement within [`STUCK_FOR`].
    pub alive: bool,
}

impl Holder {
    /// The lock it holds, as logs name it.
    fn lock(&self) -> &'static str {
        if self.ingest { "ingest" } else { "write" }
    }

    /// What it is doing, as logs name it.
    fn doing(&self) -> &'static str {
        match (self.state.as_deref(), self.wait_event.as_deref()) {
            (Some("active"), Some("ClientRead")) => "blocked reading a statement from its client",
            (Some("active"), _) => "blocked sending to its client",
            _ => "idle in its transaction",
        }
    }
}

/// What to do about a lock holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Working, waiting, or not yet long enough: nothing.
    Leave,
    /// A stopped daemon's session: end it.
    End,
    /// Blocked on its client or idle in its transaction for [`STUCK_FOR`], but not a Census daemon's: warn once.
    WarnForeign,
    /// Invisible to this role: warn once it has held the lock at every look for [`STUCK_FOR`].
    WarnInvisible,
}

/// The rule (pure; the module docs say why).
pub(super) fn judge(h: &Holder) -> Verdict {
    let Some(state) = h.state.as_deref() else { return Verdict::WarnInvisible };
    let stalled = match state {
        "active" => matches!(h.wait_event.as_deref(), Some("ClientWrite" | "ClientRead")),
        "idle in transaction" | "idle in transaction (aborted)" => true,
        _ => false,
    };
    if !stalled || !h.long {
        return Verdict::Leave;
    }
    if !h.application_name.starts_with(NAME_PREFIX) {
        return Verdict::WarnForeign;
    }
    if h.alive { Verdict::Leave } else { Verdict::End }
}

/// The watcher's own session (outside the pool), and the holders warned
/// about: (pid, statement start) → (first seen, warned), kept while seen at every look.
#[derive(Default)]
pub(super) struct Watch {
    session: std::sync::Mutex<Option<postgres::Client>>,
    seen: std::sync::Mutex<HashMap<(i32, String), (Instant, bool)>>,
}

impl Watch {
    /// The watcher's session, to be closed off any async runtime (`PostgresStore`'s `Drop`).
    pub(super) fn take_session(&self) -> Option<postgres::Client> {
        self.session.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A session this daemon ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedWriter {
    /// The server process of the session ended.
    pub pid: i32,
    /// Its daemon's name (`application_name`).
    pub daemon: String,
}

const LOOK: &str = "
SELECT l.pid, ((l.classid::bigint << 32) | l.objid::bigint) = $2, a.state, a.wait_event, a.query_start::text,
       coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
       coalesce(a.query_start < now() - make_interval(secs => $3), false),
       EXISTS (SELECT 1 FROM pg_stat_activity o
                WHERE o.application_name = a.application_name AND o.pid <> a.pid
                  AND o.query_start > now() - make_interval(secs => $3))
  FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1)
   AND l.pid <> pg_backend_pid()";

impl PostgresStore {
    /// Look once, on the watcher's own session, at the sessions holding
    /// this store's write or ingest lock; end those of daemons stopped
    /// mid-statement for `stuck_for` ([`judge`]), and warn once about a
    /// foreign or invisible holder seen at every look for `stuck_for`.
    /// Each look is also this daemon's sign of life to the others.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the server cannot be asked (the session is
    /// opened again at the next look); a termination refused is logged.
    pub fn end_stuck_writers_after(&self, stuck_for: Duration) -> Result<Vec<EndedWriter>, StoreError> {
        let keys = [lock_key(WRITE_LOCK, &self.schema), lock_key(INGEST_LOCK, &self.schema)];
        let secs = stuck_for.as_secs_f64();
        let target = &self.target;
        let session = &self.watch.session;
        let (holders, ended) = off_runtime(move || {
            let mut guard = session.lock().unwrap_or_else(|p| p.into_inner());
            let mut client = match guard.take() {
                Some(client) => client,
                None => {
                    let mut client = target.connect()?;
                    session_settings(&mut client)?;
                    client
                }
            };
            // On an error the session is dropped here, off the runtime, and opened again at the next look.
            let holders: Vec<Holder> = client
                .query(LOOK, &[&&keys[..], &keys[1], &secs])?
                .iter()
                .map(|r| Holder {
                    pid: r.get(0),
                    ingest: r.get(1),
                    state: r.get(2),
                    wait_event: r.get(3),
                    query_start: r.get(4),
                    application_name: r.get(5),
                    client: r.get(6),
                    long: r.get(7),
                    alive: r.get(8),
                })
                .collect();
            let mut ended = Vec::new();
            for h in holders.iter().filter(|h| judge(h) == Verdict::End) {
                let (lock, doing) = (h.lock(), h.doing());
                match client.query_one("SELECT pg_terminate_backend($1)", &[&h.pid]) {
                    Ok(r) if r.get::<_, bool>(0) => {
                        tracing::warn!(
                            pid = h.pid,
                            daemon = %h.application_name,
                            client = %h.client,
                            lock,
                            doing,
                            "ended the database session of a stopped daemon holding the lock (no sign of life from it for a minute); its transaction rolled back and the lock is free"
                        );
                        ended.push(EndedWriter { pid: h.pid, daemon: h.application_name.clone() });
                    }
                    Ok(_) => tracing::debug!(pid = h.pid, "a stuck writer ended before it could be terminated"),
                    Err(e) => tracing::warn!(
                        pid = h.pid,
                        daemon = %h.application_name,
                        lock,
                        error = %e,
                        "a stopped daemon's session holds the lock and could not be ended: end it (pg_terminate_backend) or resume its daemon"
                    ),
                }
            }
            *guard = Some(client);
            Ok((holders, ended))
        })?;
        self.warn_once(&holders, stuck_for);
        Ok(ended)
    }

    /// Warn once about each foreign holder stalled for `stuck_for` (its
    /// verdict says so at once), and each invisible one seen at every look
    /// for `stuck_for`.
    fn warn_once(&self, holders: &[Holder], stuck_for: Duration) {
        let now = Instant::now();
        let mut seen = self.watch.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut still = HashMap::new();
        for h in holders {
            let verdict = judge(h);
            if !matches!(verdict, Verdict::WarnForeign | Verdict::WarnInvisible) {
                continue;
            }
            let key = (h.pid, h.query_start.clone().unwrap_or_default());
            let (since, mut warned) = seen.get(&key).copied().unwrap_or((now, false));
            let due = verdict == Verdict::WarnForeign || now.duration_since(since) >= stuck_for;
            if !warned && due {
                warned = true;
                let lock = h.lock();
                if verdict == Verdict::WarnForeign {
                    tracing::warn!(
                        pid = h.pid,
                        application = %h.application_name,
                        client = %h.client,
                        lock,
                        doing = h.doing(),
                        "a session that is not a Census daemon's has held the lock for a minute, idle or blocked on its client; the daemons' writes wait for it: end it (pg_terminate_backend) or finish its transaction"
                    );
                } else {
                    tracing::warn!(
                        pid = h.pid,
                        application = %h.application_name,
                        lock,
                        "a session of another role has held the lock for a minute and this role cannot see what it does (grant the daemons' role pg_read_all_stats and pg_signal_backend to let them end a stuck one)"
                    );
                }
            }
            still.insert(key, (since, warned));
        }
        // A holder not seen at this look has let go (or was missed): forget it.
        *seen = still;
    }
}

/// The first PostgreSQL release with `tcp_user_timeout` (`server_version_num`).
pub(super) const TCP_USER_TIMEOUT_SINCE: i32 = 120_000;

/// Name `client`'s session for this daemon ([`daemon_name`]) and set its
/// `tcp_user_timeout` to [`STUCK_FOR`] where the server knows it
/// (PostgreSQL 12 and later; ignored over a Unix socket).
///
/// # Errors
/// The statement's error.
pub(super) fn session_settings(client: &mut postgres::Client) -> Result<(), postgres::Error> {
    client.execute(
        "SELECT set_config('application_name', $1, false),
                CASE WHEN current_setting('server_version_num')::int >= $3
                     THEN set_config('tcp_user_timeout', $2, false) END",
        &[&daemon_name(), &STUCK_FOR.as_millis().to_string(), &TCP_USER_TIMEOUT_SINCE],
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "stuck_tests.rs"]
mod tests;
