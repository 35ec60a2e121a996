//! WAL checkpoints off the writer's path.
//!
//! In WAL mode every commit appends pages to the `-wal` file, and a
//! *checkpoint* copies them back into the database file. By default SQLite
//! runs one inside whichever commit takes the log past 1,000 pages — an
//! agent's delivery or a reconcile part then pays for copying, and
//! syncing, everyone's pages. Here a thread of its own, on its own
//! connection, runs a `PASSIVE` checkpoint every [`INTERVAL`]: passive
//! checkpoints never wait for the writer nor make it wait, so the writer
//! only appends. The writer keeps an automatic checkpoint at
//! [`BACKSTOP_PAGES`] in case this thread falls behind (a reader pinning an
//! old snapshot, a slow disk), so the log stays bounded either way.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often the checkpointer runs. At 200 ms the log of a busy ingest
/// (about 400 frames a 1,000-host batch, measured with 4 KiB pages) reached the writer's backstop
/// between two runs, and deliveries paid for checkpoints again.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// The writer's own automatic checkpoint, should this thread fall behind
/// (pages of 8 KiB: about 80 MB of log; 40 MB in a database created with 4 KiB pages).
pub const BACKSTOP_PAGES: i64 = 10_000;

/// The log file is truncated back to this size after a checkpoint (bytes).
pub const LOG_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The checkpoint thread; stopped (and joined) when dropped.
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Open a connection to the database at `path` and start checkpointing it.
    ///
    /// # Errors
    /// The connection could not be opened or the thread started.
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("census-checkpoint".into())
            .spawn(move || run(&conn, &flag))
            .map_err(|e| StoreError::Io(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread: Some(thread) })
    }
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        stopped = wake.wait_timeout(stopped, INTERVAL).unwrap_or_else(|p| p.into_inner()).0;
        if *stopped {
            return;
        }
        // (busy, frames in the log, frames checkpointed); -1s when not in WAL mode.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((_, log, done)) if log > 0 => {
                tracing::trace!(log_frames = log, checkpointed = done, "checkpoint");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; the writer's own checkpoint takes over"),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
