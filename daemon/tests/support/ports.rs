//! Loopback ports for daemons started as separate processes.
//!
//! Why not `bind("127.0.0.1:0")`, read the port and close: the kernel hands
//! the port it just freed to the next caller, so two tests running in
//! parallel could write two daemon configurations with one port. The daemon
//! that lost the race exits on "address in use" while its test talks to the
//! other test's daemon — CI saw `process.rs` look for an admin token its own
//! daemon never wrote. Every port here comes from below the kernel's
//! ephemeral range (32768-60999 by default, `ip_local_port_range`), so no
//! `bind(:0)` listener and no outgoing connection takes it, and a counter
//! shared by the whole test binary hands each port out once; the offset by
//! process id keeps two test binaries run side by side apart.

use std::sync::atomic::{AtomicU32, Ordering};

/// First port handed out (below the ephemeral range, above 19999, which
/// hand-run daemons in development use).
const FIRST: u32 = 20_000;
/// Ports in the pool: 20000-31999.
const SPAN: u32 = 12_000;

/// A loopback TCP port no other caller in this process has been given,
/// free when returned.
///
/// # Panics
/// When every port of the pool is taken (a test leaking daemons).
pub fn unused_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = (std::process::id() % 100) * 120;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (offset + n) % SPAN).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}-{}", FIRST + SPAN - 1);
}
