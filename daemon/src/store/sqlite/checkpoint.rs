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
//!
//! [`LogSync`] is the other half of keeping the writer short: a commit
//! with `synchronous=FULL` (an agent's receipt) syncs the whole log file,
//! so it used to pay — holding the writer — for writing out every page
//! the commits before it left in the operating system's cache: a flood of
//! 4,000-host batches and the reconcile parts behind it. The hostile-agent
//! test traced most of another agent's slow deliveries to that (off-CPU
//! profile: the sync inside `sqlite3WalFrames`). Background writes, and
//! large batches while other agents deliver, therefore sync the log
//! themselves after each part, *after* giving the writer back: the receipt
//! then flushes little more than its own pages, and the one who wrote the
//! bulk waits for the disk.

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

/// Syncs the write-ahead log outside the writer (see the module docs).
///
/// Syncing more often than SQLite does never weakens durability; this only
/// moves the wait. SQLite keeps the same log file (same inode) while the
/// store is open — checkpoints reset or truncate it in place — so one
/// handle, opened on first use, serves for the store's life.
pub struct LogSync {
    path: std::path::PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl LogSync {
    /// For the database at `path` (its log is `path` + `-wal`).
    pub fn new(path: &Path) -> LogSync {
        let mut log = path.as_os_str().to_owned();
        log.push("-wal");
        LogSync { path: log.into(), file: Mutex::new(None) }
    }

    /// Write the log's cached pages to disk; call it without holding the
    /// writer. A failure is logged and otherwise ignored: the next `FULL`
    /// commit syncs the same pages and reports its own error.
    pub fn sync(&self) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            match std::fs::File::open(&self.path) {
                Ok(f) => *file = Some(f),
                Err(e) => {
                    tracing::debug!(log = %self.path.display(), error = %e, "write-ahead log not opened for syncing");
                    return;
                }
            }
        }
        if let Some(Err(e)) = file.as_ref().map(std::fs::File::sync_data) {
            tracing::warn!(log = %self.path.display(), error = %e, "syncing the write-ahead log failed");
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::LogSync;

    /// A log that is not there (a store opened read-only elsewhere, a
    /// database not in WAL mode yet) is skipped, and found once it exists.
    #[test]
    fn a_missing_log_is_skipped_and_opened_once_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("census.db");
        let log = LogSync::new(&db);
        log.sync();
        assert!(log.file.lock().unwrap().is_none());
        std::fs::write(dir.path().join("census.db-wal"), b"frames").unwrap();
        log.sync();
        log.sync();
        assert!(log.file.lock().unwrap().is_some());
    }
}
