//! This machine's name, by which daemons sharing a store tell each other
//! apart: the service's daemon id (`host:port`) and the application name
//! each PostgreSQL session of a daemon carries (`store::pg::stuck`) both
//! begin with it. Here so that the store, which must not depend on the
//! service, and the service read it one way.

/// The kernel's host name (`/proc/sys/kernel/hostname`, trimmed), or
/// `None` where it cannot be read (not Linux, no `/proc`).
pub fn name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string())
}

#[cfg(test)]
mod tests {
    /// The name is the kernel's, without the newline `/proc` ends it with.
    #[test]
    fn the_name_is_the_kernels_trimmed() {
        let Ok(raw) = std::fs::read_to_string("/proc/sys/kernel/hostname") else { return };
        assert_eq!(super::name().as_deref(), Some(raw.trim()));
        assert!(!super::name().unwrap_or_default().ends_with('\n'));
    }
}
