//! The Census agent: sweeps the segments its configuration names (ARP, ICMP
//! and TCP), fingerprints what answers, and reports batches to the daemon.
//!
//! Layers, from the bottom:
//! - [`packet`]: pure packet building and parsing (zero-copy views);
//! - [`io`]: sockets behind the [`io::ProbeTx`] / [`io::ProbeRx`] traits, and
//!   the interface and route a target is reached by;
//! - [`ports`], [`targets`]: what to probe, generated lazily;
//! - [`sweep`]: the probing techniques on the probe engine, with their
//!   validated options and limits ([`sweep::options`]);
//! - [`fingerprint`], [`names`]: what answered (the MAC vendor table is a
//!   value handed down, never a global);
//! - [`scan`]: one sweep of one segment, step by step, into a batch;
//! - [`passive`]: listening instead of probing;
//! - [`schedule`]: when a segment is swept (interval, jitter, quiet hours);
//! - [`config`]: the validated configuration;
//! - [`service`]: `census-agent run` (sweepers, listeners, spool, delivery).
//!
//! Packet building and parsing is pure code with byte-exact tests; socket I/O
//! sits behind small traits so sweep orchestration is tested with canned
//! packets.

pub mod config;
pub mod fingerprint;
pub mod fuzzing;
pub mod io;
pub mod names;
pub mod output;
pub mod packet;
pub mod passive;
pub mod ports;
pub mod rate;
pub mod scan;
pub mod schedule;
pub mod service;
pub mod sweep;
pub mod targets;
