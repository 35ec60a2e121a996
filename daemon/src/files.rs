//! Files Census creates hold secrets (tokens) or the register: they are
//! created 0600 in 0700 directories whatever the process umask, and
//! existing files are tightened when found looser. An existing directory
//! keeps its mode — it may hold what others need (a home directory, a
//! directory shared with PostgreSQL's data): one others can write to is
//! named in a warning, since they could replace what Census keeps there.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (and its missing parents) with mode 0700; an existing
/// directory is left as it is, with a warning when others can write to it
/// (and it is not sticky, as `/tmp` is).
///
/// # Errors
/// The directory cannot be created or read.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        return Ok(());
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o7777),
            "others can write to this directory, which holds Census's secrets or database: they could replace them (make it 0700 or 0750)"
        );
    }
    Ok(())
}

/// [`private_dir`] for the directory a file lives in.
///
/// # Errors
/// See [`private_dir`].
pub fn private_dir_of(file: &Path) -> io::Result<()> {
    match file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => private_dir(d),
        None => Ok(()),
    }
}

/// Tighten an existing file to 0600 (a missing file is fine).
///
/// # Errors
/// The mode cannot be set.
pub fn make_private(file: &Path) -> io::Result<()> {
    match std::fs::metadata(file) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write a new secret file: 0600, never replacing one that exists.
///
/// # Errors
/// The file exists or cannot be written.
pub fn write_secret(file: &Path, contents: &str) -> io::Result<()> {
    use io::Write;
    private_dir_of(file)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// Write an export or report to `file`: a new file, 0600, put in place by
/// rename. A symbolic link at `file` is replaced, never followed (writing
/// through it would overwrite whatever it points at), and an existing
/// file's looser mode is not kept. A reader never sees half a file.
///
/// # Errors
/// The file cannot be written or put in place (the partial one is removed).
pub fn write_export(file: &Path, contents: &[u8]) -> io::Result<()> {
    use io::Write;
    let name = file.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".census-{}-{nanos}.tmp", std::process::id()));
    let tmp = file.with_file_name(tmp_name);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `censusd report -o link.csv` wrote through a symbolic
    /// link to its target and kept an existing file's mode 0644.
    #[test]
    fn an_export_replaces_a_link_instead_of_following_it_and_is_private() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, "keep me").unwrap();
        let link = t.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_export(&link, b"a,b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "a,b\n");
        let loose = t.path().join("old.csv");
        std::fs::write(&loose, "old").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_export(&loose, b"new").unwrap();
        assert_eq!(std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 3, "no temporary file left behind: {left:?}");
    }

    #[test]
    fn secrets_and_directories_are_private_whatever_the_umask() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        let token = dir.join("admin.token");
        write_secret(&token, "census_x\n").unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(&token).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_secret(&token, "again").is_err(), "never replaces an existing secret");
        let loose = t.path().join("loose.db");
        std::fs::write(&loose, "x").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        make_private(&loose).unwrap();
        assert_eq!(std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777, 0o600);
    }

    /// Regression (break attempt): an admin token put in an existing
    /// directory made that directory 0700, locking out the others that
    /// used it (PostgreSQL's data directory beside it). The token is 0600;
    /// the directory keeps its mode.
    #[test]
    fn an_existing_directory_keeps_its_mode() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        write_secret(&shared.join("admin.token"), "census_x\n").unwrap();
        assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::metadata(shared.join("admin.token")).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
