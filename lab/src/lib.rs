//! A network-namespace test lab for Census.
//!
//! Builds virtual hosts in Linux network namespaces joined by a bridge that
//! itself lives in a namespace, with addresses only in 198.18.0.0/15 (RFC 2544
//! benchmarking range), so a scanner run in the lab's scanner namespace can
//! reach nothing but lab hosts. Each host has a deterministic MAC from a real
//! vendor block (or a locally administered one), a TTL personality, optionally
//! ignores ICMP echo, and optionally runs TCP services with known banners,
//! web pages and self-signed certificates. Tests assert against the lab's
//! ground truth ([`HostSpec`]).
//!
//! ```no_run
//! let Some(lab) = census_lab::build_or_skip(census_lab::generated_hosts(10)) else { return };
//! let out = lab.scanner_command("ping").args(["-c1", "198.18.0.10"]).output().unwrap();
//! assert!(out.status.success());
//! ```
//!
//! Tests that need a lab call [`build_or_skip`]: without root the test is
//! skipped with a message, unless `CENSUS_REQUIRE_LAB=1` (set in CI), where
//! it fails instead.

mod lab;
pub mod netns;
pub mod responders;
pub mod services;
pub mod spec;

use std::io::Write;

pub use lab::Lab;
pub use services::CertTruth;
pub use spec::{
    HostSpec, LAB_NET, LAB_NET6, NetbiosSpec, OsPersonality, SCANNER_IP, SCANNER_IP6, ServiceKind, ServiceSpec,
    VENDORS, Vendor, generated_host, generated_hosts, host_ip, host_ipv6,
};

/// Why a lab could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The caller lacks what a lab needs (root, iproute2).
    #[error("lab unavailable: {0}")]
    Unavailable(String),
    /// A host description is invalid.
    #[error("bad lab spec: {0}")]
    Spec(String),
    /// A system command or call failed.
    #[error("lab setup failed: {0}")]
    Command(String),
    /// A certificate could not be made.
    #[error("lab TLS setup failed: {0}")]
    Tls(String),
}

/// Whether this process can build labs: root and iproute2 present.
pub fn check_available() -> Result<(), LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(LabError::Unavailable("needs root (network namespaces need CAP_SYS_ADMIN)".into()));
    }
    match std::process::Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(LabError::Unavailable("iproute2's `ip` is not installed".into())),
    }
}

/// True when `CENSUS_REQUIRE_LAB=1`: a lab test that cannot build its lab fails.
pub fn lab_required() -> bool {
    std::env::var("CENSUS_REQUIRE_LAB").is_ok_and(|v| v == "1")
}

/// Build a lab for a test, or skip: returns `None` (after saying why) when
/// labs are unavailable and not required. Panics when a lab is required but
/// unavailable, or when building fails although labs are available.
pub fn build_or_skip(hosts: Vec<HostSpec>) -> Option<Lab> {
    build_or_skip_with(hosts, Lab::build)
}

/// [`build_or_skip`] for a dual-stack lab (see [`Lab::build_dual_stack`]).
pub fn build_dual_stack_or_skip(hosts: Vec<HostSpec>) -> Option<Lab> {
    build_or_skip_with(hosts, Lab::build_dual_stack)
}

fn build_or_skip_with(hosts: Vec<HostSpec>, build: fn(Vec<HostSpec>) -> Result<Lab, LabError>) -> Option<Lab> {
    if let Err(e) = check_available() {
        assert!(!lab_required(), "CENSUS_REQUIRE_LAB=1 but {e}");
        let _ = writeln!(std::io::stderr(), "census-lab: SKIPPED lab test: {e}");
        return None;
    }
    match build(hosts) {
        Ok(lab) => Some(lab),
        Err(e) => panic!("building the lab failed: {e}"),
    }
}

/// Peak resident memory, in KiB, of the largest child process this process
/// has waited for (`getrusage(RUSAGE_CHILDREN)`): how tests bound a scanner's memory.
pub fn children_peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u64::try_from(u.max_rss()).unwrap_or(0))
        .unwrap_or(0)
}

/// Report, on the real stderr (not captured by the test harness), how many
/// lab hosts a test checked, so CI output shows lab tests really ran.
pub fn report_checked(test: &str, lab: &Lab, checked: usize) {
    let _ = writeln!(
        std::io::stderr(),
        "census-lab: {test}: checked {checked} of {} lab hosts (lab {})",
        lab.hosts().len(),
        lab.name()
    );
}
