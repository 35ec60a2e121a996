//! Human-readable output of a batch: a summary of how complete the sweep
//! was, then one row per host.

use std::fmt::Write;

use census_proto::{Batch, FingerprintKind, PortState, RunStatus};

/// Render `batch` as a table for a terminal.
pub fn table(batch: &Batch) -> String {
    let mut out = String::new();
    let c = &batch.completeness;
    let _ = writeln!(
        out,
        "segment {}: {} {} up of {} addresses, {} probes in {:.2}s ({:.0} pps), {}",
        batch.segment.name,
        batch.hosts.len(),
        if batch.hosts.len() == 1 { "host" } else { "hosts" },
        c.addresses_in_scope,
        c.probes_sent,
        (batch.finished_at - batch.started_at).as_seconds_f64(),
        c.rate_achieved_pps,
        if c.complete { "complete" } else { "INCOMPLETE" }
    );
    for t in &c.techniques {
        let status = match t.status {
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
            RunStatus::Skipped => "skipped",
            RunStatus::NotApplicable => "not applicable",
            RunStatus::Unknown => "unknown",
        };
        let mode = t
            .tcp_mode
            .map(|m| {
                format!(
                    " ({})",
                    serde_json::to_value(m).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let _ =
            write!(out, "  {}{mode}: {status}, {} sent, {} replies", t.technique.as_str(), t.probes_sent, t.replies);
        if let Some(r) = &t.reason {
            let _ = write!(out, " — {r}");
        }
        out.push('\n');
    }
    if batch.hosts.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<18} {:<24} {:<12} {:>4} {:>8}  {:<20} ports",
        "ip", "mac", "vendor", "seen by", "ttl", "rtt ms", "os guess"
    );
    for h in &batch.hosts {
        let mac = h.mac.as_ref().map(|m| m.address.to_string()).unwrap_or_else(|| "-".into());
        let vendor = h
            .mac
            .as_ref()
            .map(|m| {
                if m.locally_administered {
                    "(randomised)".to_string()
                } else {
                    m.vendor.clone().unwrap_or_else(|| "-".into())
                }
            })
            .unwrap_or_else(|| "-".into());
        let seen: Vec<&str> = h.seen_by.iter().map(|t| t.as_str()).collect();
        let os = h
            .fingerprints
            .iter()
            .find(|f| f.kind == FingerprintKind::OsFamily)
            .map(|f| format!("{} ({:.0}%)", f.value, f.confidence * 100.0))
            .unwrap_or_else(|| "-".into());
        let ports: Vec<String> = h
            .ports
            .iter()
            .map(|p| {
                let mut s = p.port.to_string();
                if p.state == PortState::Closed {
                    s.push_str("(closed)");
                }
                if let Some(svc) = &p.service
                    && let Some(name) = &svc.name
                {
                    let _ = write!(s, "/{name}");
                }
                s
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<16} {:<18} {:<24} {:<12} {:>4} {:>8}  {:<20} {}",
            h.ip.to_string(),
            mac,
            truncate(&vendor, 24),
            seen.join(","),
            h.reply_ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            h.rtt_us.map(|r| format!("{:.2}", r as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
            truncate(&os, 20),
            ports.join(" ")
        );
        if !h.conflicting_macs.is_empty() {
            let others: Vec<String> = h.conflicting_macs.iter().map(|m| m.address.to_string()).collect();
            let _ = writeln!(out, "  ! {} also answered by {}", h.ip, others.join(", "));
        }
        let names: Vec<String> = h.names.iter().map(|n| format!("{} ({})", n.name, n.source.as_str())).collect();
        if !names.is_empty() {
            let _ = writeln!(out, "  names: {}", names.join(", "));
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}
