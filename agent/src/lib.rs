//! The Census agent: sweeps the segments its configuration names (ARP, ICMP
//! and TCP), fingerprints what answers, and reports batches to the daemon.
//!
//! Layers, from the bottom:
//! - [`ports`], [`targets`]: what to probe, generated lazily;
//! - [`config`]: the validated configuration;
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
pub mod service;
pub mod sweep;
pub mod targets;
