//! The on-disk spool: every batch is written here before it is sent, and
//! removed only once the daemon acknowledged it, so a batch survives a dead
//! daemon, a dead agent and a power cut.
//!
//! One file per batch, named `<unix-ms>-<batch-id>.json` so the oldest sorts
//! first. Writes are atomic: the bytes go to a temporary file that is
//! fsync'd, renamed into place, and the directory fsync'd. Resending after a
//! crash is safe: the daemon stores a batch id once and acknowledges repeats.
//!
//! The spool has a size cap. Hitting it drops the oldest batch with an error
//! log line and a counter (kept in `dropped.count` across restarts): losing
//! old evidence loudly beats filling the disk of a segment's only agent.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A spooled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Its file.
    pub path: PathBuf,
    /// The batch id (from the file name).
    pub batch_id: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The spool directory and its cap.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    dropped: AtomicU64,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Open (creating) the spool under `state_dir`.
    pub fn open(state_dir: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        let dir = state_dir.join("spool");
        fs::create_dir_all(dir.join("rejected"))?;
        // Leftover temporaries from a crash mid-write are incomplete: remove them.
        for e in fs::read_dir(&dir)?.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        let dropped =
            fs::read_to_string(dir.join("dropped.count")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        Ok(Spool { dir, max_bytes, dropped: AtomicU64::new(dropped) })
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Batches dropped because of the cap, ever.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Write a batch atomically; then enforce the cap (dropping the oldest).
    pub fn put(&self, batch_id: &str, created_ms: i64, body: &[u8]) -> std::io::Result<PathBuf> {
        let name = format!("{created_ms:015}-{batch_id}.json");
        let tmp = self.dir.join(format!("{name}.tmp"));
        let path = self.dir.join(&name);
        {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.enforce_cap(&path)?;
        Ok(path)
    }

    fn enforce_cap(&self, keep: &Path) -> std::io::Result<()> {
        let mut items = self.list()?;
        let mut total: u64 = items.iter().map(|s| s.bytes).sum();
        items.retain(|s| s.path != keep);
        for old in items {
            if total <= self.max_bytes {
                break;
            }
            fs::remove_file(&old.path)?;
            total = total.saturating_sub(old.bytes);
            // Saturating: the count is read back from a file a person can edit.
            let n = self
                .dropped
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_add(1)))
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let _ = fs::write(self.dir.join("dropped.count"), n.to_string());
            tracing::error!(
                batch = %old.batch_id,
                bytes = old.bytes,
                dropped_total = n,
                cap_bytes = self.max_bytes,
                "SPOOL FULL: dropped the oldest undelivered batch; its findings are lost (is the daemon reachable?)"
            );
        }
        Ok(())
    }

    /// Spooled batches, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<Spooled>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else { continue };
            let Some((_, id)) = stem.split_once('-') else { continue };
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_file() {
                out.push(Spooled { path: e.path(), batch_id: id.to_string(), bytes: meta.len() });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Forget a delivered batch.
    pub fn remove(&self, s: &Spooled) -> std::io::Result<()> {
        match fs::remove_file(&s.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => sync_dir(&self.dir),
        }
    }

    /// Set aside a batch the daemon refused as malformed or out of scope: kept
    /// for inspection, never resent.
    pub fn reject(&self, s: &Spooled) -> std::io::Result<PathBuf> {
        let to = self.dir.join("rejected").join(s.path.file_name().unwrap_or_default());
        fs::rename(&s.path, &to)?;
        sync_dir(&self.dir)?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_reopen_in_order_and_the_cap_drops_the_oldest_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 250).unwrap();
        spool.put("b", 2, &[b'x'; 100]).unwrap();
        spool.put("a", 1, &[b'x'; 100]).unwrap();
        fs::write(spool.dir().join("000000000000009-c.json.tmp"), b"half").unwrap();
        let again = Spool::open(dir.path(), 250).unwrap();
        let ids: Vec<String> = again.list().unwrap().into_iter().map(|s| s.batch_id).collect();
        assert_eq!(ids, ["a", "b"], "oldest first; a torn temporary is not a batch");
        again.put("d", 3, &[b'x'; 100]).unwrap();
        let ids: Vec<String> = again.list().unwrap().into_iter().map(|s| s.batch_id).collect();
        assert_eq!(ids, ["b", "d"]);
        assert_eq!(again.dropped(), 1);
        assert_eq!(Spool::open(dir.path(), 250).unwrap().dropped(), 1, "the counter survives restarts");
        let first = again.list().unwrap().remove(0);
        let kept = again.reject(&first).unwrap();
        assert!(kept.exists());
        let last = again.list().unwrap().remove(0);
        again.remove(&last).unwrap();
        assert!(again.list().unwrap().is_empty());
    }

    /// The drop count is read back from a file a person can edit: at its
    /// largest value the next drop saturates instead of panicking (it
    /// killed the sweep task while the agent looked healthy).
    #[test]
    fn a_drop_count_at_its_limit_saturates() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("spool")).unwrap();
        fs::write(dir.path().join("spool/dropped.count"), u64::MAX.to_string()).unwrap();
        let spool = Spool::open(dir.path(), 150).unwrap();
        spool.put("a", 1, &[b'x'; 100]).unwrap();
        spool.put("b", 2, &[b'x'; 100]).unwrap();
        assert_eq!(spool.dropped(), u64::MAX);
        assert_eq!(spool.list().unwrap().len(), 1);
    }
}
