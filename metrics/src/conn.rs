//! Connection bookkeeping for the daemon's listeners (its API and the
//! metrics listener): which connections are open, oldest first, and whether
//! each is handling a request now. At a connection cap the oldest idle one
//! is closed to make room, so connections that never send a request (or
//! sit idle between requests) can never lock agents, people or scrapers out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

/// Open connections, oldest first.
#[derive(Default)]
pub struct Connections(Mutex<VecDeque<(Arc<AtomicBool>, AbortHandle)>>);

impl Connections {
    /// Connections still open.
    pub fn len(&self) -> usize {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.retain(|(_, h)| !h.is_finished());
        q.len()
    }

    /// None open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new connection: its busy flag (see [`Busy`]) and its task.
    pub fn push(&self, busy: Arc<AtomicBool>, handle: AbortHandle) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.retain(|(_, h)| !h.is_finished());
        q.push_back((busy, handle));
    }

    /// Close the oldest connection not handling a request; false when every one is.
    pub fn evict_oldest_idle(&self) -> bool {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.retain(|(_, h)| !h.is_finished());
        match q.iter().position(|(busy, _)| !busy.load(Ordering::Relaxed)) {
            Some(i) => {
                if let Some((_, h)) = q.remove(i) {
                    h.abort();
                }
                true
            }
            None => false,
        }
    }
}

/// Marks a connection busy while one request is handled (until dropped).
pub struct Busy(Arc<AtomicBool>);

impl Busy {
    /// Set `flag` until the guard is dropped.
    pub fn start(flag: &Arc<AtomicBool>) -> Busy {
        flag.store(true, Ordering::Relaxed);
        Busy(flag.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}
