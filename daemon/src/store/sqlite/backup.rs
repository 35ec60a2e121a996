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
//! **Never half a backup, never over a file.** The copy is written to a
//! private (0600) temporary file beside `FILE`, synced, and moved into
//! place by a rename that refuses to replace (see [`place`]) — a plain
//! rename would replace anything that appeared at `FILE` meanwhile. The database's own files (its `-wal`, `-shm`,
//! `-journal`) are refused as targets: SQLite would take a copy there for
//! a journal. Partial copies a killed backup left are removed by the next
//! backup to the same name.

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

/// The start of the names of `dest`'s partial copies (`.NAME.census-backup-`).
fn partial_prefix(dest: &Path) -> Result<std::ffi::OsString, StoreError> {
    let name = dest.file_name().ok_or_else(|| StoreError::Refused(format!("{} is not a file name", dest.display())))?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".census-backup-");
    Ok(prefix)
}

/// Remove partial copies of `dest` (and their journals) that backups
/// killed midway left behind: those whose process is gone.
fn remove_stale_partials(dest: &Path, prefix: &std::ffi::OsStr) {
    use std::os::unix::ffi::OsStrExt;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(prefix.as_bytes()) else { continue };
        let pid = rest
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0i32, |n, b| n.saturating_mul(10).saturating_add(i32::from(b - b'0')));
        let gone = pid > 0 && !Path::new(&format!("/proc/{pid}")).exists();
        if gone && rest.windows(8).any(|w| w == b".partial") {
            tracing::info!(file = %e.path().display(), "removing a partial backup a killed backup left");
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `p` with its directory resolved (the file itself need not exist).
fn resolved(p: &Path) -> Option<PathBuf> {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(p.file_name()?))
}

/// Refuse a target that is not a new file in an existing directory, or
/// that is one of the database's own files (its journals included, which
/// SQLite would take for a leftover journal and delete or replay).
fn check_target(db: &Path, dest: &Path) -> Result<(), StoreError> {
    use std::os::unix::ffi::OsStrExt;
    if dest.as_os_str().as_bytes().ends_with(b"/") || dest.file_name().is_none() {
        return Err(StoreError::Refused(format!("{} names a directory; give the backup a file name", dest.display())));
    }
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(StoreError::Refused(format!(
            "{} already exists; a backup never overwrites a file (choose a new name)",
            dest.display()
        )));
    }
    let Some(target) = resolved(dest) else {
        let dir = dest.parent().unwrap_or(Path::new("."));
        return Err(StoreError::Refused(format!("{} is not an existing directory", dir.display())));
    };
    if let Some(db) = resolved(db) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut own = db.clone().into_os_string();
            own.push(suffix);
            if target.as_os_str() == own {
                return Err(StoreError::Refused(format!(
                    "{} is the database's own file; choose another name",
                    dest.display()
                )));
            }
        }
    }
    Ok(())
}

/// Move the finished copy `tmp` to `dest`, failing if anything appeared
/// at `dest` meanwhile (another backup, anything): `renameat2` with
/// `RENAME_NOREPLACE`, or where the file system does not offer it, a hard
/// link (which fails on an existing name too) and an unlink.
fn place(tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let appeared =
        || StoreError::Refused(format!("{} appeared while the backup was taken; it was left as it is", dest.display()));
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EEXIST) => Err(appeared()),
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => match std::fs::hard_link(tmp, dest) {
            Ok(()) => std::fs::remove_file(tmp).map_err(io("removing", tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(appeared()),
            Err(e) => Err(io("putting the backup in place at", dest)(e)),
        },
        Err(e) => Err(io("putting the backup in place at", dest)(std::io::Error::from(e))),
    }
}

/// Copy the database at `db` to the new file `dest` (see the module docs).
///
/// # Errors
/// [`StoreError::Refused`] when `dest` exists (the database itself
/// included) or there is no database at `db`, and when the copy fails its check (naming
/// what differs); [`StoreError::Db`] and [`StoreError::Io`] naming the file
/// otherwise. Nothing is left at `dest` on failure.
pub fn to_file(db: &Path, dest: &Path) -> Result<BackupReport, StoreError> {
    check_target(db, dest)?;
    if !db.is_file() {
        return Err(StoreError::Refused(format!("no database at {}", db.display())));
    }
    // Read-write without create: a WAL database's readers need its shared-memory file.
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    src.busy_timeout(std::time::Duration::from_secs(30))?;
    let prefix = partial_prefix(dest)?;
    remove_stale_partials(dest, &prefix);
    let mut tmp_name = prefix;
    tmp_name.push(format!("{}.partial", std::process::id()));
    let tmp = dest.with_file_name(tmp_name);
    let mut journal = tmp.clone().into_os_string();
    journal.push("-journal");
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
        // A partial copy is thrown away whole if anything fails: it needs no journal.
        dst.pragma_update(None, "journal_mode", "OFF")?;
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
        place(&tmp, dest)?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io("syncing", dir))?;
        }
        let bytes = std::fs::metadata(dest).map_err(io("reading", dest))?.len();
        Ok(BackupReport { tables: expected, bytes })
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&journal);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (break attempt): two backups to one name both succeeded,
    /// the second replacing the first — and a file written at the target
    /// during a backup was replaced too.
    #[test]
    fn placing_a_copy_never_replaces_what_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, dest) = (dir.path().join(".partial"), dir.path().join("out.db"));
        std::fs::write(&tmp, "copy").unwrap();
        std::fs::write(&dest, "precious").unwrap();
        let err = place(&tmp, &dest).unwrap_err();
        assert!(err.to_string().contains("appeared while the backup was taken"), "{err}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "precious");
        std::fs::remove_file(&dest).unwrap();
        place(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "copy");
        assert!(!tmp.exists());
    }

    /// Regression (break attempt): with the daemon stopped, a backup to the
    /// database's `-wal`, `-shm` or `-journal` name succeeded, and SQLite
    /// then deleted (or would replay) the copy as a journal.
    #[test]
    fn the_databases_own_files_are_refused_as_targets_however_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("census.db");
        std::fs::write(&db, "").unwrap();
        for name in ["census.db-wal", "census.db-shm", "census.db-journal"] {
            let dest = dir.path().join("sub/..").join(name);
            std::fs::create_dir_all(dir.path().join("sub")).unwrap();
            let err = check_target(&db, &dest).unwrap_err();
            assert!(err.to_string().contains("the database's own file"), "{name}: {err}");
        }
        assert!(check_target(&db, &dir.path().join("census.db-backup")).is_ok());
        let err = check_target(&db, Path::new("no-such-dir/")).unwrap_err();
        assert!(err.to_string().contains("names a directory"), "{err}");
        let err = check_target(&db, &dir.path().join("no-such-dir/x.db")).unwrap_err();
        assert!(err.to_string().contains("is not an existing directory"), "{err}");
    }

    /// Regression (break attempt): a backup killed midway left its partial
    /// copy and journal for good; the next backup to that name removes them
    /// (only those whose process is gone).
    #[test]
    fn partial_copies_a_killed_backup_left_are_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("census.db");
        Connection::open(&db).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let dest = dir.path().join("x.db");
        // pid 2^31-1 is above any pid_max: never a live process.
        let dead = dir.path().join(".x.db.census-backup-2147483647.partial");
        let dead_journal = dir.path().join(".x.db.census-backup-2147483647.partial-journal");
        let live = dir.path().join(format!(".x.db.census-backup-{}.partial-other", std::process::id()));
        for f in [&dead, &dead_journal, &live] {
            std::fs::write(f, "left").unwrap();
        }
        let report = to_file(&db, &dest).unwrap();
        assert_eq!(report.tables, [("t".to_string(), 1)]);
        assert!(!dead.exists() && !dead_journal.exists());
        assert!(live.exists(), "a live process's file is not touched");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!names.iter().any(|n| n.contains(&format!("{}.partial-journal", std::process::id()))), "{names:?}");
    }
}
