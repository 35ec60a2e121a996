//! Fingerprinting: what a discovered address *is*. Every guess carries its
//! evidence and a confidence, never a bare label.
//!
//! - [`vendor`]: MAC vendor from the IEEE registry (compiled in);
//! - [`banner`]: pure parsers for greetings and HTTP responses;
//! - [`probe`]: bounded service probes on open ports; [`tls`] reads certificates;
//! - [`os`]: OS family from reply TTL, SYN-ACK shape and service evidence;
//! - [`dhcp`]: OS family and device type from a DHCP client's request list and vendor class;
//! - [`sanitize`]: making network text safe to keep.

pub mod banner;
pub mod dhcp;
pub mod os;
pub mod probe;
pub mod sanitize;
pub mod tls;
pub mod vendor;
