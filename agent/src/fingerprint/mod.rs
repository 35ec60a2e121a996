//! Fingerprinting: what a discovered address *is*. Every guess carries its
//! evidence and a confidence, never a bare label.
//!
//! - [`vendor`]: MAC vendor from the IEEE registry (compiled in);
//! - [`os`]: OS family from reply TTL and SYN-ACK shape.

pub mod os;
pub mod vendor;
