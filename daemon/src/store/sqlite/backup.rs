//! `censusd backup FILE`: a consistent copy of the live database, taken
//! while the daemon runs, and checked before it is put in place.
//!
//! **Consistency.** The copy is made with SQLite's online backup API in one
//! step from a connection that first opens a read transaction: in WAL mode
//! a reader sees one snapshot and never blocks the daemon's writer, so
//! ingest goes on while the copy is taken, and the copy is that snapshot
//! exactly. (Copying in small steps would let the daemon's writes restart
//! the backup again and again under steady ingest.)
//!
//! **Verification.** Inside the same snapshot every table's rows are
//! counted; the copy must pass `PRAGMA quick_check` and hold the same count
//! in every table, or it is deleted and the command fails.
//!
//! **Never half a backup.** The copy is written to a private (0600)
//! temporary file beside `FILE`, synced, and renamed into place; an
//! existing `FILE` is never overwritten.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// What a backup copied: each table's rows, and the copy's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Rows per table, by table name.
    pub tables: Vec<(String, i64)>,
    /// Size of the copy (bytes).
    pub bytes: u64,
}

fn counts(c: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        // Table names come from the schema itself; quoted as identifiers.
        let q = format!("SELECT count(*) FROM \"{}\"", n.replace('"', "\"\""));
        out.push((n, c.query_row(&q, [], |r| r.get(0))?));
    }
    Ok(out)
}

fn io<'a>(what: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |e| StoreError::Io(format!("{what} {}: {e}", p.display()))
}

fn partial_path(dest: &Path) -> Result<PathBuf, StoreError> {
    let name = dest.file_name().ok_or_else(|| StoreError::Refused(format!("{} is not a file name", dest.display())))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".census-backup-{}.partial", std::process::id()));
    Ok(dest.with_file_name(tmp))
}

/// Copy the database at `db` to the new file `dest` (see the module docs).
///
/// # Errors
/// [`StoreError::Refused`] when `dest` exists (the database itself
/// included) or there is no database at `db`, and when the copy fails its check (naming
/// what differs); [`StoreError::Db`] and [`StoreError::Io`] naming the file
/// otherwise. Nothing is left at `dest` on failure.
pub fn to_file(db: &Path, dest: &Path) -> Result<BackupReport, StoreError> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(StoreError::Refused(format!(
            "{} already exists; a backup never overwrites a file (choose a new name)",
            dest.display()
        )));
    }
    if !db.is_file() {
        return Err(StoreError::Refused(format!("no database at {}", db.display())));
    }
    // Read-write without create: a WAL database's readers need its shared-memory file.
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    src.busy_timeout(std::time::Duration::from_secs(30))?;
    let tmp = partial_path(dest)?;
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        // One snapshot for the counts and the copy.
        src.execute_batch("BEGIN")?;
        let expected = counts(&src)?;
        let mut dst = Connection::open(&tmp)?;
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
            // -1: every page in one step, inside the snapshot (see the module docs).
            while backup.step(-1)? != rusqlite::backup::StepResult::Done {}
        }
        let _ = src.execute_batch("COMMIT");
        let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Refused(format!("the copy failed its integrity check: {check}")));
        }
        let got = counts(&dst)?;
        if got != expected {
            let diff: Vec<String> = expected
                .iter()
                .filter(|e| !got.contains(e))
                .map(|(t, n)| format!("{t}: {n} in the database"))
                .collect();
            return Err(StoreError::Refused(format!("the copy's row counts differ: {}", diff.join(", "))));
        }
        drop(dst);
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io("syncing", &tmp))?;
        std::fs::rename(&tmp, dest).map_err(io("putting the backup in place at", dest))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io("syncing", dir))?;
        }
        let bytes = std::fs::metadata(dest).map_err(io("reading", dest))?.len();
        Ok(BackupReport { tables: expected, bytes })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
