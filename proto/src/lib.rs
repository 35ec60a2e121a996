//! The language Census agents and the Census daemon speak.
//!
//! An agent sweeps a segment and reports what answered as one [`Batch`]: who
//! sent it, what was swept, how complete the sweep was and one
//! [`HostObservation`] per address that answered. The daemon stores batches as
//! the evidence it reconciles against the managed register, so the model is
//! deliberately explicit about *how* each fact was learned (technique, source,
//! confidence, evidence) — an alert is only as explainable as its evidence.
//!
//! Compatibility rules (see `docs/report-format.md`):
//! - every batch names its schema version as `"MAJOR.MINOR"`;
//! - a reader accepts any minor version of its major: unknown fields are
//!   ignored and unknown enum values decode as `unknown`, so a newer agent
//!   never breaks an older daemon;
//! - a different major version is refused with [`DecodeError::UnsupportedVersion`].
//!
//! The crate also carries the small configuration-loading helpers both
//! binaries use ([`config`]), so every configuration error reads the same way.

pub mod batch;
pub mod config;
pub mod host;
pub mod portlist;
pub mod raw;
pub mod retry;
pub mod types;
pub mod version;

pub use batch::{
    Batch, RunStatus, SegmentScope, SweepCompleteness, SweepSchedule, TcpScanMode, Technique, TechniqueRun,
};
pub use host::{
    FingerprintGuess, FingerprintKind, HostObservation, HttpEvidence, Ipv6Facts, Ipv6Scope, MacInfo, NameObservation,
    NameSource, PortObservation, PortState, ServiceEvidence, SynAckSignature, TlsCertificate, TransportProtocol,
};
pub use raw::{RawBatch, decode_raw_batch};
pub use types::{AgentId, MacAddr, MacParseError, Port, Ttl};
pub use version::{DecodeError, SCHEMA_MAJOR, SCHEMA_MINOR, SchemaVersion, decode_batch, encode_batch};
