//! Schema versioning and the checked decoder every reader of batches uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::batch::Batch;

/// Major version of the wire model this build writes and reads.
pub const SCHEMA_MAJOR: u32 = 1;
/// Minor version of the wire model this build writes.
pub const SCHEMA_MINOR: u32 = 3;

/// A `"MAJOR.MINOR"` schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion {
    /// Incompatible changes bump this; readers refuse other majors.
    pub major: u32,
    /// Compatible additions bump this; readers ignore what they do not know.
    pub minor: u32,
}

impl SchemaVersion {
    /// The version this build writes.
    pub const CURRENT: SchemaVersion = SchemaVersion { major: SCHEMA_MAJOR, minor: SCHEMA_MINOR };
}

impl Default for SchemaVersion {
    fn default() -> Self {
        Self::CURRENT
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for SchemaVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("schema version `{}` is not MAJOR.MINOR", s.chars().take(32).collect::<String>());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        Ok(SchemaVersion { major: major.parse().map_err(|_| bad())?, minor: minor.parse().map_err(|_| bad())? })
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::types::deserialize_parsed(d, "a schema version (MAJOR.MINOR)")
    }
}

/// Why bytes could not be read as a batch.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The batch is of a major version this reader does not speak.
    #[error("unsupported schema version {found}: this reader speaks {supported}.x")]
    UnsupportedVersion {
        /// The version the batch declared.
        found: SchemaVersion,
        /// The major version this reader supports.
        supported: u32,
    },
    /// The bytes are not a well-formed batch.
    #[error("malformed batch at `{path}`: {message}")]
    Malformed {
        /// Where in the document the problem is (e.g. `hosts[3].mac.address`), `.` for the top.
        path: String,
        /// What is wrong there.
        message: String,
    },
}

/// Just enough of a batch to learn its version before trusting the rest.
#[derive(Deserialize)]
struct VersionProbe {
    schema_version: SchemaVersion,
}

fn malformed(err: serde_path_to_error::Error<serde_json::Error>) -> DecodeError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let message = inner.to_string();
    DecodeError::Malformed { path, message }
}

/// Decode a batch, refusing other major versions with a clear error before
/// complaining about anything else, and naming the offending field otherwise.
///
/// The common case (a well-formed batch) takes one plain serde_json pass;
/// only a batch that fails is read again to learn its version and, with
/// path tracking, which field is at fault.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, DecodeError> {
    if let Ok(batch) = serde_json::from_slice::<Batch>(bytes) {
        if batch.schema_version.major != SCHEMA_MAJOR {
            return Err(DecodeError::UnsupportedVersion { found: batch.schema_version, supported: SCHEMA_MAJOR });
        }
        return Ok(batch);
    }
    let probe: VersionProbe =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).map_err(malformed)?;
    if probe.schema_version.major != SCHEMA_MAJOR {
        return Err(DecodeError::UnsupportedVersion { found: probe.schema_version, supported: SCHEMA_MAJOR });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let batch: Batch = serde_path_to_error::deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(|e| DecodeError::Malformed { path: ".".into(), message: e.to_string() })?;
    // Unreachable in practice: the plain pass failed, so the tracked one does too.
    Ok(batch)
}

/// Encode a batch as compact JSON.
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    // Serialising plain data structures with string keys cannot fail.
    serde_json::to_vec(batch).unwrap_or_default()
}
