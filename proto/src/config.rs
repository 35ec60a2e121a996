//! Shared configuration-loading helpers, so the agent's and the daemon's
//! configuration errors read the same way: the file, the key, and what was
//! expected — never a panic or a debug dump.
//!
//! Each binary parses its TOML into *raw* structs (`deny_unknown_fields`,
//! permissive types) with [`parse_toml`], then validates them into typed
//! configuration that cannot hold an invalid state, reporting problems as a
//! [`ConfigError`] through [`ConfigError::at`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<environment>` for overrides).
    pub file: PathBuf,
    /// Dotted key path, e.g. `segment[0].rate`; empty when the whole file is at fault.
    pub key: String,
    /// What was expected, or what is wrong.
    pub message: String,
    /// Line and column, when known.
    pub position: Option<(usize, usize)>,
}

impl ConfigError {
    /// An error about `key` in `file`.
    pub fn at(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), key: key.into(), message: message.into(), position: None }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Read and parse a TOML file into raw configuration, naming the key at fault.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = read_operator_file(path, MAX_CONFIG_FILE).map_err(|e| ConfigError::at(path, "", e))?;
    parse_toml(path, &text)
}

/// Most bytes of a configuration file.
pub const MAX_CONFIG_FILE: u64 = 4 << 20;

/// Read a file an operator named (a configuration, an override table, a
/// token): a regular file (a pipe or a device such as `/dev/zero` would
/// block or never end), at most `max_bytes`, UTF-8.
///
/// # Errors
/// What is wrong with the file, without its path (the caller names it).
pub fn read_operator_file(path: &Path, max_bytes: u64) -> Result<String, String> {
    let bytes = read_operator_bytes(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// Most bytes of a PEM file (a certificate chain, a key, a CA bundle).
pub const MAX_PEM_FILE: u64 = 1 << 20;
/// Most bytes of a secret (a token or a password file).
pub const MAX_SECRET_FILE: u64 = 4096;
/// Most bytes of an import file (a register, a people list, a coverage export).
pub const MAX_IMPORT_FILE: u64 = 1 << 30;

/// [`read_operator_file`] for bytes that need not be text (an import that
/// reports its own encoding errors, a PEM file).
///
/// # Errors
/// As [`read_operator_file`].
pub fn read_operator_bytes(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > max_bytes {
        return Err(format!("is larger than {max_bytes} bytes"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("is larger than {max_bytes} bytes"));
    }
    Ok(bytes)
}

/// Parse TOML text (from `path`, for messages) into raw configuration.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let mut err = ConfigError::at(path, "", format!("not valid TOML: {}", e.message()));
        err.position = e.span().map(|s| line_col(text, s.start));
        err
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let mut err = ConfigError::at(path, if key == "." { String::new() } else { key }, inner.message().to_string());
        err.position = inner.span().map(|s| line_col(text, s.start));
        err
    })
}

/// Parse a human duration such as `30s`, `5m`, `1h 30m` or `250ms`.
pub fn parse_duration(file: &Path, key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        ConfigError::at(file, key, format!("`{value}` is not a duration ({e}); write e.g. \"30s\", \"5m\" or \"1h\""))
    })
}

/// A duration option: `value` parsed (or `default` when absent), refused
/// unless it lies within `range`, inclusive.
pub fn duration_in(
    file: &Path,
    key: &str,
    value: Option<&str>,
    default: Duration,
    range: (Duration, Duration),
) -> Result<Duration, ConfigError> {
    let d = match value {
        Some(s) => parse_duration(file, key, s)?,
        None => default,
    };
    if d < range.0 || d > range.1 {
        return Err(ConfigError::at(
            file,
            key,
            format!("{} is out of range: expected {} to {}", humanize(d), humanize(range.0), humanize(range.1)),
        ));
    }
    Ok(d)
}

/// A duration as a person would write it in configuration (`7d`, `5m`, `250ms`).
fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, len) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms > 0 && ms.is_multiple_of(len) {
            return format!("{}{unit}", ms / len);
        }
    }
    format!("{ms}ms")
}

/// Environment variable override helper: the variable's value, if set and non-empty.
pub fn env_override(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Raw {
        limits: Limits,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        rate: u32,
    }

    #[test]
    fn unknown_key_is_named_with_its_table() {
        let err = parse_toml::<Raw>(Path::new("a.toml"), "[limits]\nrate = 5\nratee = 6\n").unwrap_err();
        assert_eq!(err.key, "limits.ratee");
        assert!(err.message.contains("unknown field `ratee`"), "{err}");
        assert_eq!(err.position.map(|p| p.0), Some(3));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse_toml::<Raw>(Path::new("a.toml"), "[limits]\nrate = -5\n").unwrap_err();
        assert_eq!(err.key, "limits.rate");
        assert!(err.to_string().starts_with("a.toml:2:8: key `limits.rate`:"), "{err}");
    }

    #[test]
    fn broken_toml_has_a_position() {
        let err = parse_toml::<Raw>(Path::new("a.toml"), "[limits\n").unwrap_err();
        assert!(err.message.starts_with("not valid TOML"), "{err}");
        assert_eq!(err.position.map(|p| p.0), Some(1));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(Path::new("x"), "k", "5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration(Path::new("x"), "k", "soon").unwrap_err().to_string().contains("key `k`"));
        let range = (Duration::from_secs(60), Duration::from_secs(7 * 86_400));
        assert_eq!(
            duration_in(Path::new("x"), "k", None, Duration::from_secs(3600), range).unwrap(),
            Duration::from_secs(3600)
        );
        let err = duration_in(Path::new("x"), "k", Some("1s"), Duration::ZERO, range).unwrap_err();
        assert_eq!(err.message, "1s is out of range: expected 1m to 7d");
    }

    /// Regression: `--oui-file /dev/zero` grew without bound (2.9 GB in 4 s)
    /// and a FIFO blocked for ever; every file an operator names is read
    /// through this check.
    #[test]
    fn operator_files_are_regular_bounded_and_utf8() {
        let dir = std::env::temp_dir().join(format!("census-opfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zero = Path::new("/dev/zero");
        assert_eq!(read_operator_file(zero, 10).unwrap_err(), "is not a regular file");
        assert_eq!(read_operator_file(&dir, 10).unwrap_err(), "is not a regular file");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
        if made {
            assert_eq!(read_operator_file(&fifo, 10).unwrap_err(), "is not a regular file", "never opened");
        }
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; 11]).unwrap();
        assert_eq!(read_operator_file(&big, 10).unwrap_err(), "is larger than 10 bytes");
        assert_eq!(read_operator_file(&big, 11).unwrap(), "a".repeat(11));
        let latin1 = dir.join("latin1");
        std::fs::write(&latin1, b"ok\n\xe9t\xe9").unwrap();
        assert_eq!(read_operator_file(&latin1, 100).unwrap_err(), "is not UTF-8 text (byte 3)");
        assert_eq!(read_operator_bytes(&latin1, 100).unwrap().len(), 6);
        assert!(read_operator_file(&dir.join("absent"), 10).unwrap_err().starts_with("cannot read the file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
