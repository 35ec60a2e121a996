//! Low-level namespace plumbing: `ip -batch`, per-thread `setns`, sysctls,
//! and garbage collection of labs whose test process died without cleaning up.
//!
//! Links and addresses are configured with iproute2 (`ip -batch` keeps it to
//! a handful of processes); sysctls and listening sockets are set up from a
//! thread that has entered the namespace with `setns(2)`, which is far cheaper
//! than one `ip netns exec` per host and lets one process serve every host.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, setns};

use crate::LabError;

/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Prefix of every namespace a lab creates: `cl-<pid>-<seq>-<role>`.
pub const PREFIX: &str = "cl-";

/// Run `ip [-n ns] -force -batch -` with `lines` on stdin.
pub fn ip_batch(netns: Option<&str>, lines: &[String]) -> Result<(), LabError> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| LabError::Command(format!("cannot run `ip`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut text = lines.join("\n");
        text.push('\n');
        stdin.write_all(text.as_bytes()).map_err(|e| LabError::Command(format!("ip -batch stdin: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| LabError::Command(format!("ip -batch: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Command(format!(
            "ip{} -batch failed: {}",
            netns.map(|n| format!(" -n {n}")).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Delete namespaces by name, ignoring ones already gone.
pub fn delete_namespaces(names: &[String]) {
    if names.is_empty() {
        return;
    }
    for n in names {
        // Per-namespace /etc files (the scanner's resolv.conf), if any.
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(n));
    }
    let lines: Vec<String> = names.iter().map(|n| format!("netns del {n}")).collect();
    let _ = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all((lines.join("\n") + "\n").as_bytes())?;
            }
            child.wait()
        });
}

/// Enter network namespace `name` on the *calling thread*.
///
/// Only call this from a thread that exists for the purpose and ends
/// afterwards: the rest of the process stays where it was.
pub fn enter(name: &str) -> Result<(), LabError> {
    let f = File::open(Path::new(NETNS_DIR).join(name))
        .map_err(|e| LabError::Command(format!("open namespace {name}: {e}")))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Command(format!("setns {name}: {e}")))
}

/// Write a sysctl of the calling thread's network namespace (`net/ipv4/...`).
pub fn sysctl(key: &str, value: &str) -> Result<(), LabError> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| LabError::Command(format!("sysctl {key}={value}: {e}")))
}

/// Write a sysctl if the kernel has it (e.g. bridge netfilter only when its module is loaded).
pub fn sysctl_if_present(key: &str, value: &str) -> Result<(), LabError> {
    if Path::new("/proc/sys").join(key.replace('.', "/")).exists() { sysctl(key, value) } else { Ok(()) }
}

/// Names of lab namespaces that belong to processes that no longer exist.
pub fn stale_namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            let Some(rest) = name.strip_prefix(PREFIX) else { return false };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
            !Path::new("/proc").join(pid.to_string()).exists()
        })
        .collect()
}

/// Namespaces of every lab, alive or not (for `census-lab gc --all`).
pub fn all_lab_namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with(PREFIX)).collect()
}
