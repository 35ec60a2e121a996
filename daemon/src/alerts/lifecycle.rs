//! The alert lifecycle as a pure function: from what reconciliation found
//! (findings and clears), the current alerts of the subjects involved and
//! the suppression rules, to the alert rows to write and the events to
//! record and notify. No I/O: the store runs it inside the transaction that
//! writes its result, and it is tested with plain values.
//!
//! Rules, per (kind, subject):
//! - **One alert, updated.** A finding updates the live alert: last seen,
//!   evidence, update count. Evidence older than what the alert holds (a
//!   late batch) only widens first/last seen. A repeat that changes nothing
//!   but last seen, by less than [`TOUCH_MS`], writes nothing: a device seen
//!   the same way every five minutes costs no alert write per sweep.
//! - **Reopen, never duplicate.** A finding whose latest alert was resolved
//!   within `reopen_window` reopens it (same id, same history, event
//!   `reopened`); after the window a new alert is raised. An alert a
//!   *person* resolved stays resolved while its condition continues
//!   unbroken — it reopens only after the condition was observed absent and
//!   then came back.
//! - **Per-kind auto-resolve** ([`AlertKind::auto_resolve`]): a clear for a
//!   `Never` kind resolves it only when the register changed
//!   ([`ClearCause::Register`]); otherwise it records since when the
//!   condition is absent and the alert waits for a person. `AtOnce` kinds
//!   resolve on the clear; `AfterSweeps` kinds after the condition was
//!   absent in `clear_after_sweeps` distinct complete sweeps, so a condition
//!   that flips every other sweep is one alert and one notification.
//! - **Suppression** holds matching alerts as `suppressed` (no
//!   notification); when the rule expires the alert is shown (`opened`).
//! - **Alert budget per agent.** New device-level alerts (unknown devices,
//!   address conflicts) an agent's batches raise beyond `flood_per_hour`
//!   are not stored; one `alert-flood` alert names the agent instead, so a
//!   hostile or broken agent cannot bury the review queue.

use std::collections::{HashMap, HashSet};

use super::{Alert, AlertKind, AlertState, AutoResolve, CENSUS, EventKind, Finding, Severity, Suppression};

/// A repeat that only moves last seen by less than this is not written (ms).
pub const TOUCH_MS: i64 = 15 * 60_000;

/// Why a subject's condition no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearCause {
    /// The register changed so that the condition cannot hold.
    Register,
    /// Positive evidence: the asset was seen, sweeps resumed, support renewed.
    Resolved,
    /// The condition was not observed in this batch's complete sweep.
    Observed {
        /// The batch that did not show it (counted once).
        batch: String,
    },
    /// The condition is not observed any more (a host gone from the network).
    Absent,
}

/// A cleared condition, with the reason written into the resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clear {
    /// Why.
    pub cause: ClearCause,
    /// For people: "seen again at 198.18.0.5 by lab-1".
    pub reason: String,
    /// Observation time of the evidence of absence (unix ms).
    pub at_ms: i64,
}

/// Thresholds of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// A resolved alert whose condition returns within this is reopened (ms).
    pub reopen_window_ms: i64,
    /// `AfterSweeps` kinds resolve after this many complete sweeps without the condition.
    pub clear_after_sweeps: i64,
    /// New device-level alerts one agent may raise per hour.
    pub flood_per_hour: i64,
}

/// Everything one decision looks at.
pub struct Input<'a> {
    /// Conditions that hold.
    pub findings: &'a [Finding],
    /// Conditions that cleared, by (kind, subject).
    pub clears: &'a HashMap<(AlertKind, String), Clear>,
    /// The latest alert of every (kind, subject) involved, live or resolved.
    pub existing: Vec<Alert>,
    /// Suppression rules live now.
    pub suppressions: &'a [Suppression],
    /// Device-level alerts each agent raised in the last hour.
    pub opened_last_hour: &'a HashMap<String, i64>,
    /// Thresholds.
    pub settings: LifecycleSettings,
    /// Now (unix ms, wall clock).
    pub now_ms: i64,
}

/// One alert to write (`id` 0: insert) and what happened to it.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Change {
    /// The alert after the change.
    pub alert: Alert,
    /// The event for its history, if any.
    pub event: Option<EventKind>,
    /// The event also goes to the notification sinks.
    pub notify: bool,
    /// Why (kept in the history).
    pub note: Option<String>,
    /// Who (`census` for reconciliation).
    pub actor: String,
    /// The sinks the event goes to (filled from the routes when `notify`).
    pub sinks: Vec<String>,
    /// Ports to accept into the asset's baseline (a person resolving new-service).
    pub accept_ports: Vec<u16>,
    /// The description (summary, evidence, where) was written anew; when
    /// false the stored one stays (it may not even have been loaded).
    pub described: bool,
}

impl Change {
    /// A change made by reconciliation itself.
    pub fn census(alert: Alert, event: Option<EventKind>, notify: bool, note: Option<String>) -> Self {
        Change {
            alert,
            event,
            notify,
            note,
            actor: CENSUS.into(),
            sinks: Vec::new(),
            accept_ports: Vec::new(),
            described: false,
        }
    }

    /// The same change, with its description written anew.
    pub fn described(mut self) -> Self {
        self.described = true;
        self
    }
}

fn device_level(f: &Finding) -> bool {
    matches!(f.kind, AlertKind::UnknownAsset) || (f.kind == AlertKind::IdentityConflict && f.tag.is_none())
}

fn new_alert(f: &Finding, now: i64) -> Alert {
    Alert {
        id: 0,
        kind: f.kind,
        subject: f.subject.clone(),
        state: AlertState::Open,
        severity: f.severity,
        tag: f.tag.clone(),
        ip: f.ip.clone(),
        mac: f.mac.clone(),
        vendor: f.vendor.clone(),
        segment: f.segment.clone(),
        agent: f.agent.clone(),
        summary: f.summary.clone(),
        evidence: Some(f.evidence.clone()),
        first_seen_ms: f.first_seen_ms,
        last_seen_ms: f.last_seen_ms,
        opened_ms: now,
        updated_ms: now,
        updates: 0,
        reopened: 0,
        absent_since_ms: None,
        acked_by: None,
        acked_ms: None,
        resolved_by: None,
        resolved_ms: None,
        resolution: None,
        suppressed_by: None,
        clear_count: 0,
        clear_batch: None,
        digest: None,
        rev: 0,
    }
}

/// Take a finding into an existing alert: with `describe`, its description
/// (summary, evidence, where) replaces the alert's; first and last seen widen either way.
fn absorb(a: &mut Alert, f: &Finding, now: i64, describe: bool) {
    if describe {
        a.severity = f.severity;
        a.tag = f.tag.clone();
        a.ip = f.ip.clone();
        a.mac = f.mac.clone();
        a.vendor = f.vendor.clone();
        a.segment = f.segment.clone();
        a.agent = f.agent.clone();
        a.summary = f.summary.clone();
        a.evidence = Some(f.evidence.clone());
    }
    if f.first_seen_ms != 0 {
        a.first_seen_ms = if a.first_seen_ms == 0 { f.first_seen_ms } else { a.first_seen_ms.min(f.first_seen_ms) };
    }
    a.last_seen_ms = a.last_seen_ms.max(f.last_seen_ms);
    if a.absent_since_ms.is_none_or(|t| f.last_seen_ms >= t) {
        a.absent_since_ms = None;
        a.clear_count = 0;
        a.clear_batch = None;
    }
    a.updated_ms = now;
}

/// Newer evidence (or a finding without times) describes the alert; older only widens its times.
fn newer(a: &Alert, f: &Finding) -> bool {
    f.last_seen_ms >= a.last_seen_ms || f.last_seen_ms == 0
}

fn resolve(a: &mut Alert, reason: &str, now: i64) -> Change {
    let was_suppressed = a.state == AlertState::Suppressed;
    a.state = AlertState::Resolved;
    a.resolved_by = Some(CENSUS.into());
    a.resolved_ms = Some(now);
    a.resolution = Some(format!("auto-resolved: {reason}"));
    a.updated_ms = now;
    a.suppressed_by = None;
    Change::census(a.clone(), Some(EventKind::Resolved), !was_suppressed, Some(reason.into()))
}

struct Decider<'a> {
    by_key: HashMap<(AlertKind, String), Alert>,
    out: Vec<Change>,
    opened: HashMap<String, i64>,
    dropped: HashMap<String, (i64, Vec<String>)>,
    touched: HashSet<(AlertKind, String)>,
    suppressions: &'a [Suppression],
    settings: LifecycleSettings,
    now: i64,
}

/// When a finding's condition was observed: out-of-support,
/// owner-departed, unlicensed-software and the coverage-source kinds are
/// judged from the register, the directory, the entitlements, the sources'
/// lists and the calendar, so at every run (`now`) — an asset need not answer for its
/// support to lapse or its owner to leave; the others by the sighting that
/// showed them.
fn observed_ms(f: &Finding, now: i64) -> i64 {
    if matches!(
        f.kind,
        AlertKind::OutOfSupport
            | AlertKind::OwnerDeparted
            | AlertKind::UnlicensedSoftware
            | AlertKind::NotInSource
            | AlertKind::RetiredStillEnrolled
            | AlertKind::SourceUnknown
            | AlertKind::SourceStale
    ) {
        now
    } else {
        f.last_seen_ms
    }
}

impl Decider<'_> {
    fn take(&mut self, f: &Finding) {
        let (now, s) = (self.now, self.settings);
        let key = (f.kind, f.subject.clone());
        if !self.touched.insert(key.clone()) {
            return;
        }
        let rule = self.suppressions.iter().find(|r| r.matches(f, now)).map(|r| r.id);
        let shown = if rule.is_some() { AlertState::Suppressed } else { AlertState::Open };
        match self.by_key.remove(&key) {
            Some(mut a) if a.state != AlertState::Resolved => {
                let before = (a.first_seen_ms, a.last_seen_ms, a.absent_since_ms, a.clear_count, a.suppressed_by);
                // Only a description that differs from the stored one is copied and written.
                let d = newer(&a, f).then(|| super::finding_digest(f)).filter(|d| a.digest != Some(*d));
                let described = d.is_some();
                absorb(&mut a, f, now, described);
                if d.is_some() {
                    a.digest = d;
                }
                let same_state = a.state == shown || (a.state == AlertState::Acknowledged && rule.is_none());
                if !described
                    && same_state
                    && rule == before.4
                    && a.first_seen_ms == before.0
                    && a.last_seen_ms - before.1 < TOUCH_MS
                    && (a.absent_since_ms, a.clear_count) == (before.2, before.3)
                {
                    return;
                }
                a.updates += 1;
                let (event, notify) = match (a.state, rule) {
                    (AlertState::Suppressed, None) => (Some(EventKind::Opened), true),
                    (AlertState::Open | AlertState::Acknowledged, Some(_)) => (Some(EventKind::Suppressed), false),
                    _ => (None, false),
                };
                if event.is_some() {
                    a.state = shown;
                }
                a.suppressed_by = rule;
                let c = Change::census(a, event, notify, None);
                self.out.push(if described { c.described() } else { c });
            }
            Some(mut a)
                if a.resolved_by.as_deref() != Some(CENSUS)
                    && a.absent_since_ms.is_none_or(|t| observed_ms(f, now) < t) =>
            {
                // A person resolved it and the condition never went away: their decision holds.
                a.last_seen_ms = a.last_seen_ms.max(f.last_seen_ms);
                self.out.push(Change::census(a, None, false, None));
            }
            Some(mut a) if a.resolved_ms.is_some_and(|r| now - r <= s.reopen_window_ms) => {
                let described = newer(&a, f);
                absorb(&mut a, f, now, described);
                a.digest = Some(super::description_digest(&a));
                a.state = shown;
                a.suppressed_by = rule;
                a.reopened += 1;
                a.acked_by = None;
                a.acked_ms = None;
                let note = a.resolution.take().map(|r| format!("previously {r}"));
                a.resolved_by = None;
                a.resolved_ms = None;
                let c = Change::census(a, Some(EventKind::Reopened), rule.is_none(), note);
                self.out.push(if described { c.described() } else { c });
            }
            _ => {
                if device_level(f)
                    && let Some(agent) = &f.agent
                {
                    let n = self.opened.entry(agent.clone()).or_default();
                    if *n >= s.flood_per_hour {
                        let d = self.dropped.entry(agent.clone()).or_default();
                        d.0 += 1;
                        if d.1.len() < 20 {
                            d.1.push(f.subject.clone());
                        }
                        return;
                    }
                    *n += 1;
                }
                let mut a = new_alert(f, now);
                a.state = shown;
                a.suppressed_by = rule;
                a.digest = Some(super::description_digest(&a));
                let event = if rule.is_some() { EventKind::Suppressed } else { EventKind::Opened };
                self.out.push(Change::census(a, Some(event), rule.is_none(), None).described());
            }
        }
    }

    fn clear(&mut self, mut a: Alert, c: &Clear) {
        let now = self.now;
        if a.state == AlertState::Resolved {
            // Remember that the condition went away after a person resolved it.
            if a.resolved_by.as_deref() != Some(CENSUS) && note_absent(&mut a, c.at_ms) {
                self.out.push(Change::census(a, None, false, None));
            }
            return;
        }
        match (&c.cause, a.kind.auto_resolve()) {
            (ClearCause::Register, _) | (ClearCause::Resolved, AutoResolve::AtOnce | AutoResolve::AfterSweeps) => {
                self.out.push(resolve(&mut a, &c.reason, now));
            }
            (ClearCause::Observed { batch }, AutoResolve::AfterSweeps) => {
                if a.clear_batch.as_deref() != Some(batch.as_str()) {
                    a.clear_count += 1;
                    a.clear_batch = Some(batch.clone());
                }
                a.absent_since_ms.get_or_insert(c.at_ms);
                if a.clear_count >= self.settings.clear_after_sweeps {
                    let reason = format!("{} (absent in {} consecutive complete sweeps)", c.reason, a.clear_count);
                    self.out.push(resolve(&mut a, &reason, now));
                } else {
                    self.out.push(Change::census(a, None, false, None));
                }
            }
            (ClearCause::Observed { .. } | ClearCause::Absent, AutoResolve::AtOnce) => {
                self.out.push(resolve(&mut a, &c.reason, now));
            }
            _ => {
                // Stays open for a person; say since when the condition is absent.
                if note_absent(&mut a, c.at_ms) {
                    self.out.push(Change::census(a, None, false, None));
                }
            }
        }
    }
}

/// Record that the condition was observed absent at `at_ms` (observation
/// time): absent since the earliest such observation after its last
/// sighting, whatever order the batches arrived in. Returns whether that
/// changed anything.
fn note_absent(a: &mut Alert, at_ms: i64) -> bool {
    if at_ms >= a.last_seen_ms && a.absent_since_ms.is_none_or(|t| at_ms < t) {
        a.absent_since_ms = Some(at_ms);
        true
    } else {
        false
    }
}

/// Decide the alert changes.
pub fn decide(input: Input<'_>) -> Vec<Change> {
    let mut d = Decider {
        by_key: input.existing.into_iter().map(|a| ((a.kind, a.subject.clone()), a)).collect(),
        out: Vec::new(),
        opened: input.opened_last_hour.clone(),
        dropped: HashMap::new(),
        touched: HashSet::new(),
        suppressions: input.suppressions,
        settings: input.settings,
        now: input.now_ms,
    };
    for f in input.findings {
        d.take(f);
    }
    // Budgets exceeded in this run become one alert-flood finding per agent.
    let mut dropped: Vec<(String, (i64, Vec<String>))> = d.dropped.drain().collect();
    dropped.sort_by(|a, b| a.0.cmp(&b.0));
    for (agent, (n, sample)) in dropped {
        d.take(&flood_finding(&agent, n, sample, d.settings.flood_per_hour));
    }
    let rest: Vec<Alert> = d.by_key.drain().map(|(_, a)| a).collect();
    for a in rest {
        if let Some(c) = input.clears.get(&(a.kind, a.subject.clone())) {
            d.clear(a, c);
        }
    }
    d.out
}

/// Why an operator action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A person acknowledges or resolves an alert. Resolving a new-service
/// alert accepts its ports into the asset's baseline; resolving starts the
/// "person decided" rule (see the module docs) afresh.
///
/// # Errors
/// The alert is already resolved.
pub fn act(
    mut a: Alert,
    action: super::AlertAction,
    actor: &str,
    note: Option<&str>,
    now: i64,
) -> Result<Change, Refused> {
    if a.state == AlertState::Resolved {
        return Err(Refused(format!("alert {} is already resolved", a.id)));
    }
    let was_suppressed = a.state == AlertState::Suppressed;
    if action == super::AlertAction::Acknowledge && a.state == AlertState::Acknowledged {
        // Someone is on it already: acknowledging again changes nothing (the
        // first acknowledger stays named; no event, no audit record).
        return Ok(Change {
            alert: a,
            event: None,
            notify: false,
            note: None,
            actor: actor.into(),
            sinks: Vec::new(),
            accept_ports: Vec::new(),
            described: false,
        });
    }
    let mut accept_ports = Vec::new();
    let event = match action {
        super::AlertAction::Acknowledge => {
            if !was_suppressed {
                a.state = AlertState::Acknowledged;
            }
            a.acked_by = Some(actor.into());
            a.acked_ms = Some(now);
            EventKind::Acknowledged
        }
        super::AlertAction::Resolve => {
            a.state = AlertState::Resolved;
            a.resolved_by = Some(actor.into());
            a.resolved_ms = Some(now);
            a.resolution = Some(match note {
                Some(n) => format!("resolved by {actor}: {n}"),
                None => format!("resolved by {actor}"),
            });
            a.absent_since_ms = None;
            a.clear_count = 0;
            a.clear_batch = None;
            a.suppressed_by = None;
            if a.kind == AlertKind::NewService {
                accept_ports = a.evidence.as_ref().map(|e| e.new_ports().to_vec()).unwrap_or_default();
            }
            EventKind::Resolved
        }
    };
    a.updated_ms = now;
    Ok(Change {
        notify: event == EventKind::Resolved && !was_suppressed,
        alert: a,
        event: Some(event),
        note: note.map(String::from),
        actor: actor.into(),
        sinks: Vec::new(),
        accept_ports,
        described: false,
    })
}

fn flood_finding(agent: &str, dropped: i64, sample: Vec<String>, budget: i64) -> Finding {
    Finding {
        kind: AlertKind::AlertFlood,
        subject: format!("agent:{agent}"),
        severity: Severity::High,
        tag: None,
        ip: None,
        mac: None,
        vendor: None,
        segment: None,
        agent: Some(agent.to_string()),
        summary: format!(
            "agent {agent} raised more than {budget} new device alerts in an hour; {dropped} more were not stored \
             (a hostile or misconfigured agent, or a flood on its segment)"
        ),
        evidence: super::Evidence::AlertFlood(super::evidence::Flood {
            agent: agent.to_string(),
            dropped,
            budget_per_hour: budget,
            sample,
        }),
        first_seen_ms: 0,
        last_seen_ms: 0,
    }
}

#[cfg(test)]
mod tests;
