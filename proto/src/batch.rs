//! A batch: one sweep of one segment by one agent, and how complete it was.
//!
//! Completeness matters as much as what answered: the daemon may only count
//! an asset as *missing* over sweeps that really covered its segment, so a
//! sweep that was cut short, rate-limited into loss, or skipped a technique
//! for lack of privileges has to say so.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::host::HostObservation;
use crate::types::AgentId;
use crate::version::SchemaVersion;

/// Everything one agent learned in one sweep of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The wire-model version this batch was written in, `"MAJOR.MINOR"`.
    pub schema_version: SchemaVersion,
    /// Unique per batch; the daemon acknowledges a resent batch without storing it twice.
    pub batch_id: Uuid,
    /// The agent that swept.
    pub agent_id: AgentId,
    /// What was swept.
    pub segment: SegmentScope,
    /// When the sweep started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the sweep finished (or was cut short).
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// How complete the sweep was.
    pub completeness: SweepCompleteness,
    /// Since 1.2: when the agent's schedule sweeps this segment again, so
    /// the daemon can tell an agent that went silent from one that is
    /// between sweeps. Absent from one-shot scans and older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<SweepSchedule>,
    /// One observation per address that answered any technique.
    #[serde(default)]
    pub hosts: Vec<HostObservation>,
}

/// The sweep cadence an agent in service mode follows for one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSchedule {
    /// The configured interval between sweeps, seconds.
    pub interval_s: u64,
    /// The next sweep starts no later than this (interval, the largest
    /// jitter and quiet hours included).
    #[serde(with = "time::serde::rfc3339")]
    pub next_sweep_by: OffsetDateTime,
}

/// The segment a sweep covered: its configured name, targets and exclusions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentScope {
    /// The segment's name in the agent's configuration (e.g. `office-lan`).
    pub name: String,
    /// Networks swept.
    pub targets: Vec<IpNet>,
    /// Networks inside the targets that were deliberately never probed.
    #[serde(default)]
    pub excluded: Vec<IpNet>,
}

/// How complete a sweep was: what was sent, what came back, what ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepCompleteness {
    /// Addresses in the targets after exclusions.
    pub addresses_in_scope: u64,
    /// Probes sent, all techniques together (retries included).
    pub probes_sent: u64,
    /// Replies received, all techniques together.
    pub replies: u64,
    /// Estimated fraction of probes lost (0.0–1.0), from retries that then answered.
    pub estimated_loss: f64,
    /// Configured global rate limit, packets per second.
    pub rate_limit_pps: u32,
    /// Rate actually achieved, packets per second.
    pub rate_achieved_pps: f64,
    /// True when every technique that was asked for ran over every address in scope.
    pub complete: bool,
    /// One entry per technique asked for, whether it ran or not.
    pub techniques: Vec<TechniqueRun>,
    /// Since 1.1: names were looked up and open services probed for every
    /// host found, so the daemon may describe a new device without waiting
    /// for a later sweep. Absent (false) from 1.0 agents.
    #[serde(default)]
    pub enriched: bool,
}

/// A discovery technique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Technique {
    /// ARP who-has on the local segment.
    Arp,
    /// ICMP (or ICMPv6) echo.
    Icmp,
    /// TCP port probes (SYN or connect).
    Tcp,
    /// Passive: traffic overheard, not solicited.
    Passive,
    /// A technique this reader does not know (written by a newer agent).
    #[serde(other)]
    Unknown,
}

impl Technique {
    /// The wire name, as used in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Arp => "arp",
            Technique::Icmp => "icmp",
            Technique::Tcp => "tcp",
            Technique::Passive => "passive",
            Technique::Unknown => "unknown",
        }
    }
}

/// How TCP ports were probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpScanMode {
    /// Half-open SYN probes over a raw socket (needs CAP_NET_RAW).
    Syn,
    /// Full connect() through the kernel (no privileges needed).
    Connect,
    /// A mode this reader does not know.
    #[serde(other)]
    Unknown,
}

/// Whether a technique ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran over every address in scope.
    Complete,
    /// Started but did not cover everything (cut short, or gave up on loss).
    Partial,
    /// Did not run at all; `reason` says why.
    Skipped,
    /// Cannot apply to these targets (ARP to addresses that are not on a
    /// directly connected network); does not make the sweep incomplete.
    NotApplicable,
    /// A status this reader does not know.
    #[serde(other)]
    Unknown,
}

/// What one technique did in a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechniqueRun {
    /// The technique.
    pub technique: Technique,
    /// Whether it ran.
    pub status: RunStatus,
    /// Why it was skipped or partial (e.g. "no CAP_NET_RAW").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For TCP, how ports were probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_mode: Option<TcpScanMode>,
    /// Probes this technique sent, retries included.
    #[serde(default)]
    pub probes_sent: u64,
    /// Replies this technique received.
    #[serde(default)]
    pub replies: u64,
    /// Since 1.1, TCP only: the ports probed, compact (`22,80,8000-8010`);
    /// lets the daemon tell "service absent" from "not looked for".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
}
