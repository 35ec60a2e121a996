//! Zero-copy batch decoding for readers that store observations as sent.
//!
//! A 100,000-host batch is ~50 MB of JSON; decoding every host into a
//! [`HostObservation`] up front would hold it twice. [`decode_raw_batch`]
//! reads the envelope and keeps each host as a borrowed slice of the body,
//! so a reader can decode, check and store hosts one at a time.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::batch::{SegmentScope, SweepCompleteness, SweepSchedule};
use crate::host::HostObservation;
use crate::types::AgentId;
use crate::version::{DecodeError, SCHEMA_MAJOR, SchemaVersion, decode_batch};

/// A batch whose hosts are still raw JSON slices of the body.
#[derive(Debug, Deserialize)]
pub struct RawBatch<'a> {
    /// Schema version.
    pub schema_version: SchemaVersion,
    /// Batch id.
    pub batch_id: uuid::Uuid,
    /// Sending agent.
    pub agent_id: AgentId,
    /// What was swept.
    pub segment: SegmentScope,
    /// Sweep start.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    /// Sweep end.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: time::OffsetDateTime,
    /// Completeness.
    pub completeness: SweepCompleteness,
    /// The agent's schedule for this segment (since 1.2).
    #[serde(default)]
    pub schedule: Option<SweepSchedule>,
    /// Each host observation, undecoded.
    #[serde(borrow, default)]
    pub hosts: Vec<&'a RawValue>,
}

impl RawBatch<'_> {
    /// Decode host `i`, naming the field at fault as `hosts[i].…`.
    pub fn host(&self, i: usize) -> Result<HostObservation, DecodeError> {
        let raw = self
            .hosts
            .get(i)
            .ok_or_else(|| DecodeError::Malformed { path: format!("hosts[{i}]"), message: "no such host".into() })?;
        if let Ok(h) = serde_json::from_str::<HostObservation>(raw.get()) {
            return Ok(h);
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize::<_, HostObservation>(&mut de).map_err(|e| {
            let inner = e.path().to_string();
            let path = if inner == "." { format!("hosts[{i}]") } else { format!("hosts[{i}].{inner}") };
            DecodeError::Malformed { path, message: e.into_inner().to_string() }
        })
    }
}

/// Decode a batch's envelope, refusing other major versions first; hosts stay raw.
pub fn decode_raw_batch(bytes: &[u8]) -> Result<RawBatch<'_>, DecodeError> {
    match serde_json::from_slice::<RawBatch<'_>>(bytes) {
        Ok(b) if b.schema_version.major == SCHEMA_MAJOR => Ok(b),
        Ok(b) => Err(DecodeError::UnsupportedVersion { found: b.schema_version, supported: SCHEMA_MAJOR }),
        // The full decoder explains the failure: version first, then the field at fault.
        Err(raw_err) => match decode_batch(bytes) {
            Err(e) => Err(e),
            Ok(_) => Err(DecodeError::Malformed { path: ".".into(), message: raw_err.to_string() }),
        },
    }
}
