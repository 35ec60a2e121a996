//! Background work at a lower CPU priority, so it never makes an agent's
//! small delivery wait: on a machine with two cores, a 100,000-host batch
//! being decoded and a reconcile run being computed would otherwise take
//! the CPU from a 50-host delivery as often as not.
//!
//! A [`Lane`] is one thread, niced to [`BACKGROUND_NICE`], that runs jobs one
//! at a time: large batches go through one (`api::ingest`), and the
//! reconcile worker runs on another. Lowering a thread's priority needs no
//! privilege; failing to (on a system that refuses) only makes it less polite.

use std::sync::mpsc;

/// The nice value background threads run at (the default is 0; 19 is the lowest priority).
pub const BACKGROUND_NICE: i32 = 10;

/// Lower the calling thread (only it: Linux keeps a nice value per thread)
/// to [`BACKGROUND_NICE`]. Failure leaves it as it was, which is only slower.
pub fn lower_current_thread_priority() {
    // thread-priority maps 0..=99 onto nice 19..=-20; 22 is nice 10.
    let p = thread_priority::ThreadPriorityValue::try_from(22u8).ok();
    if let Some(p) = p
        && let Err(e) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(p))
    {
        tracing::debug!(error = ?e, "could not lower a background thread's priority");
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One low-priority thread running jobs in turn.
pub struct Lane {
    tx: mpsc::Sender<Job>,
}

impl Lane {
    /// Start the lane's thread, named `name`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(name: &str) -> std::io::Result<Lane> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            lower_current_thread_priority();
            while let Ok(job) = rx.recv() {
                job();
            }
        })?;
        Ok(Lane { tx })
    }

    /// Run `f` on the lane and wait for its result; `None` if the lane is gone.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = done.send(f());
            }))
            .ok()?;
        result.await.ok()
    }
}
