//! Alerts: what reconciliation tells people, with the evidence behind it.
//!
//! Reconciliation produces [`Finding`]s — conditions that hold right now
//! ("this device matches no asset", "this decommissioned server answers").
//! The store turns findings into [`Alert`]s with a lifecycle:
//!
//! - one live alert per kind and subject: a repeat updates it (last seen,
//!   evidence, update count) instead of raising another;
//! - open → acknowledged → resolved, each step recording who and when;
//! - auto-resolved when the condition clears, with the reason written down;
//! - held as `suppressed` while a [`Suppression`] rule matches it, and
//!   reopened (and notified) when the rule expires.
//!
//! Subjects name what an alert is about: `asset:TAG`, `ip:ADDRESS` or
//! `device:KEY` (an unregistered device, keyed by its most stable identity).

pub mod evidence;
pub mod lifecycle;
pub mod notify;
pub mod suppress;

use serde::{Deserialize, Serialize};

pub use evidence::Evidence;
pub use suppress::{Suppression, SuppressionInput};

crate::word_enum!(
    /// What an alert is about.
    AlertKind { /// Observed, matches no asset (shadow IT).
    UnknownAsset => "unknown-asset", /// Decommissioned or disposed on paper, still answering.
    ShouldBeRetired => "should-be-retired", /// Deployed, not seen over complete sweeps of its segment.
    Missing => "missing", /// One IP answered by several MACs, an ambiguous match, or a MAC on the wrong segment.
    IdentityConflict => "identity-conflict", /// An open port not seen before on the asset.
    NewService => "new-service", /// An expected service (e.g. the EDR agent) is absent.
    CoverageGap => "coverage-gap", /// Support or a licence expired while the asset is in service.
    OutOfSupport => "out-of-support", /// Still in procurement, already on the network.
    PendingInUse => "pending-in-use", /// An agent delivered no complete sweep within its cadence.
    AgentSilent => "agent-silent", /// An agent raised more new alerts than its hourly budget.
    AlertFlood => "alert-flood", /// Software past its end of support answers (a banner names the release).
    EndOfLifeSoftware => "end-of-life-software", /// A served TLS certificate ends within the lead time.
    CertificateExpiring => "certificate-expiring", /// A TLS certificate past its end of validity is still served.
    CertificateExpired => "certificate-expired", /// An asset in service whose owner left or is unknown to the directory.
    OwnerDeparted => "owner-departed", /// A certificate of a decommissioned or disposed asset is served by a host.
    RetiredCredentialInUse => "retired-credential-in-use", /// An asset runs a product that needs a licence without a seat.
    UnlicensedSoftware => "unlicensed-software", /// An asset in service, on the network, absent from a coverage source it is expected in.
    NotInSource => "not-in-source", /// A decommissioned or disposed asset still listed by a coverage source.
    RetiredStillEnrolled => "retired-still-enrolled", /// A coverage source lists a device the register does not know.
    SourceUnknown => "source-unknown", /// A coverage source was not loaded within its maximum age.
    SourceStale => "source-stale" }
);

/// When an alert may resolve itself (see the README's alert table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoResolve {
    /// Stays open for a person when the condition is no longer observed
    /// (its `absent_since_ms` says so); resolves itself only when the
    /// register changes so that the condition cannot hold (the device was
    /// registered, the asset's lifecycle changed).
    Never,
    /// Resolves as soon as the condition is gone (the asset was seen again,
    /// support renewed, sweeps resumed).
    AtOnce,
    /// Resolves after the condition was absent in a number of consecutive
    /// complete sweeps (`reconcile.clear_after_sweeps`), so a port open on
    /// every other sweep is one alert, not a notification per sweep.
    AfterSweeps,
}

impl AlertKind {
    /// This kind's auto-resolve policy.
    pub fn auto_resolve(self) -> AutoResolve {
        match self {
            AlertKind::UnknownAsset
            | AlertKind::ShouldBeRetired
            | AlertKind::IdentityConflict
            | AlertKind::PendingInUse
            | AlertKind::AlertFlood
            | AlertKind::EndOfLifeSoftware
            | AlertKind::CertificateExpiring
            | AlertKind::CertificateExpired
            | AlertKind::RetiredCredentialInUse => AutoResolve::Never,
            AlertKind::Missing
            | AlertKind::OutOfSupport
            | AlertKind::AgentSilent
            | AlertKind::OwnerDeparted
            | AlertKind::UnlicensedSoftware
            | AlertKind::NotInSource
            | AlertKind::RetiredStillEnrolled
            | AlertKind::SourceUnknown
            | AlertKind::SourceStale => AutoResolve::AtOnce,
            AlertKind::NewService | AlertKind::CoverageGap => AutoResolve::AfterSweeps,
        }
    }
}

crate::word_enum!(
    /// How urgent an alert is.
    Severity { /// Informational.
    Low => "low", /// Look at it this week.
    Medium => "medium", /// Look at it today.
    High => "high", /// Look at it now.
    Critical => "critical" }
);

crate::word_enum!(
    /// Where an alert is in its life.
    AlertState { /// Raised, nobody has looked yet.
    Open => "open", /// Someone is on it.
    Acknowledged => "acknowledged", /// Over: the condition cleared or someone closed it.
    Resolved => "resolved", /// A suppression rule holds it back.
    Suppressed => "suppressed" }
);

impl Severity {
    /// One step more urgent, capped at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// A condition reconciliation found, before it becomes (or updates) an alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Kind.
    pub kind: AlertKind,
    /// `asset:TAG`, `ip:ADDRESS` or `device:KEY`.
    pub subject: String,
    /// Severity.
    pub severity: Severity,
    /// The matched asset, if any.
    pub tag: Option<String>,
    /// Address it concerns.
    pub ip: Option<String>,
    /// MAC it concerns.
    pub mac: Option<String>,
    /// MAC vendor, for suppression by vendor.
    pub vendor: Option<String>,
    /// Segment name (the agent's) where it was seen.
    pub segment: Option<String>,
    /// Agent that saw it last.
    pub agent: Option<String>,
    /// One line a human reads first.
    pub summary: String,
    /// The evidence, typed by kind.
    pub evidence: Evidence,
    /// First sighting behind it (unix ms).
    pub first_seen_ms: i64,
    /// Last sighting behind it (unix ms).
    pub last_seen_ms: i64,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: AlertKind,
    /// Subject.
    pub subject: String,
    /// State.
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// Matched asset.
    pub tag: Option<String>,
    /// Address.
    pub ip: Option<String>,
    /// MAC.
    pub mac: Option<String>,
    /// MAC vendor (IEEE registry).
    #[serde(default)]
    pub vendor: Option<String>,
    /// Segment.
    pub segment: Option<String>,
    /// Agent that saw it last.
    pub agent: Option<String>,
    /// Summary line.
    pub summary: String,
    /// Evidence, typed by kind (`null` where a list leaves it out).
    pub evidence: Option<Evidence>,
    /// First sighting behind it (unix ms, observation time).
    pub first_seen_ms: i64,
    /// Last sighting behind it (unix ms, observation time).
    pub last_seen_ms: i64,
    /// Raised (unix ms).
    pub opened_ms: i64,
    /// Last change (unix ms).
    pub updated_ms: i64,
    /// Times a repeat updated it.
    pub updates: i64,
    /// Times it was reopened after being resolved.
    #[serde(default)]
    pub reopened: i64,
    /// Since when (observation time) the condition is no longer observed,
    /// while the alert waits for a person or for more sweeps.
    #[serde(default)]
    pub absent_since_ms: Option<i64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When (unix ms).
    pub acked_ms: Option<i64>,
    /// Who resolved it (`census` when the condition cleared by itself).
    pub resolved_by: Option<String>,
    /// When (unix ms).
    pub resolved_ms: Option<i64>,
    /// Why it was resolved.
    pub resolution: Option<String>,
    /// The suppression rule holding it, while suppressed.
    pub suppressed_by: Option<i64>,
    /// Consecutive complete sweeps in which the condition was absent (debounce).
    #[serde(skip)]
    pub clear_count: i64,
    /// The batch that counted last towards `clear_count`.
    #[serde(skip)]
    pub clear_batch: Option<String>,
    /// Digest of the stored description (summary, evidence, where): a
    /// repeat that would write the same one does not.
    #[serde(skip)]
    pub digest: Option<i64>,
    /// Revision of the stored row: a write made from an older one is redone.
    #[serde(skip)]
    pub rev: i64,
}

/// Evidence fields left out of the digest: those that change with every
/// sighting without changing what the alert says (a count), so they alone
/// never cause a write; and the `kind` and `conflict` tags, which the
/// alert's kind and subject already say (so evidence written before it was
/// typed keeps its digest, and the migration rewrites no alert).
const VOLATILE: &[&str] = &["sightings", "kind", "conflict"];

/// A digest of what describes an alert (summary, evidence, where, severity).
pub fn description_digest(a: &Alert) -> i64 {
    digest(Described {
        summary: &a.summary,
        evidence: a.evidence.as_ref(),
        severity: a.severity,
        place: [&a.tag, &a.ip, &a.mac, &a.vendor, &a.segment, &a.agent],
    })
}

/// The digest an alert would have after taking this finding's description:
/// equal to the alert's own when the finding would change nothing it says.
pub fn finding_digest(f: &Finding) -> i64 {
    digest(Described {
        summary: &f.summary,
        evidence: Some(&f.evidence),
        severity: f.severity,
        place: [&f.tag, &f.ip, &f.mac, &f.vendor, &f.segment, &f.agent],
    })
}

/// What a description digest covers.
struct Described<'a> {
    summary: &'a str,
    evidence: Option<&'a Evidence>,
    severity: Severity,
    /// Tag, IP, MAC, vendor, segment, agent.
    place: [&'a Option<String>; 6],
}

/// Feeds what is written into a SHA-256 (the evidence is serialised
/// straight into it: no copy of the evidence, no string).
struct Hashing(ring::digest::Context);

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn digest(d: Described<'_>) -> i64 {
    let mut h = Hashing(ring::digest::Context::new(&ring::digest::SHA256));
    h.0.update(d.summary.as_bytes());
    h.0.update(&[0]);
    let evidence = d.evidence.map_or(serde_json::Value::Null, |e| serde_json::to_value(e).unwrap_or_default());
    match &evidence {
        // Object keys come sorted (serde_json's map is ordered), so equal evidence hashes equal.
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !VOLATILE.contains(&k.as_str())) {
                h.0.update(k.as_bytes());
                h.0.update(&[1]);
                // Writing into a hash cannot fail, and a Value always serialises.
                let _ = serde_json::to_writer(&mut h, v);
                h.0.update(&[2]);
            }
        }
        other => {
            let _ = serde_json::to_writer(&mut h, other);
        }
    }
    h.0.update(&[0]);
    h.0.update(d.severity.as_str().as_bytes());
    h.0.update(&[0]);
    for part in d.place {
        h.0.update(part.as_deref().unwrap_or("").as_bytes());
        h.0.update(&[0]);
    }
    let out = h.0.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_ref()[..8]);
    i64::from_le_bytes(b)
}

/// Who resolves alerts whose condition cleared by itself.
pub const CENSUS: &str = "census";

/// What happened to an alert, as sent to webhooks and JSON lines and kept in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Raised (or shown again when a suppression expired).
    Opened,
    /// Its condition returned within the reopen window after it was resolved.
    Reopened,
    /// Someone took it on.
    Acknowledged,
    /// Auto-resolved or resolved by someone.
    Resolved,
    /// A suppression rule holds it back.
    Suppressed,
}

impl EventKind {
    /// The word used in the history and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Reopened => "reopened",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Resolved => "resolved",
            EventKind::Suppressed => "suppressed",
        }
    }
}

/// An alert event for the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// What happened.
    pub event: EventKind,
    /// When (unix ms).
    pub at_ms: i64,
    /// The alert after the change.
    pub alert: Alert,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertHistoryEntry {
    /// When (unix ms).
    pub at_ms: i64,
    /// Who (`census` for the reconciliation itself).
    pub actor: String,
    /// What happened.
    pub event: EventKind,
    /// Why, when known.
    pub note: Option<String>,
}

/// Filter for listing alerts.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only this state; by default every live (not resolved) alert.
    pub state: Option<AlertState>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only about this asset.
    pub tag: Option<String>,
    /// Include alerts a suppression rule holds (default true; the CLI hides them unless `--all`).
    pub include_suppressed: Option<bool>,
    /// At most this many, newest first (the API's `limit`, see `api::paging`).
    #[serde(skip)]
    pub limit: Option<u32>,
    /// Only alerts with a smaller id (the API's `cursor`).
    #[serde(skip)]
    pub before_id: Option<i64>,
    /// Only this severity or a more urgent one (the console's filter).
    #[serde(skip)]
    pub min_severity: Option<Severity>,
    /// Only alerts last seen on this segment (the console's filter).
    #[serde(skip)]
    pub segment: Option<String>,
    /// Only alerts last seen at or after this time (unix ms; the console's filter).
    #[serde(skip)]
    pub seen_since_ms: Option<i64>,
    /// Words that must each appear (case-insensitively) in the subject,
    /// summary, address, MAC, tag or vendor (the console's free text).
    #[serde(skip)]
    pub words: Vec<String>,
}

impl AlertFilter {
    /// The severities at or above [`Self::min_severity`] (every one without it).
    pub fn severities(&self) -> Vec<Severity> {
        Severity::ALL.iter().copied().filter(|s| self.min_severity.is_none_or(|m| *s >= m)).collect()
    }
}

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// Take it on.
    Acknowledge,
    /// Close it (for new-service: accept the ports into the asset's baseline).
    Resolve,
}
