//! `owner-departed`: an asset in service whose owner has left, or whom the
//! directory does not know.
//!
//! The laptop assigned to someone who left last week is the gap between
//! the HR leaver process and the asset register; this rule closes it from
//! the register's `owner`, the directory ([`crate::directory`]) and the
//! calendar — the asset need not answer for it to hold, and an asset seen
//! on the network after its owner left is named with where and when.
//!
//! | owner | alert | severity |
//! |---|---|---|
//! | a person who left (or a disbanded team, or a team all of whose people left) | raised | medium, high once the asset answered after the leave date; one step more for a high or critical asset |
//! | a name the directory does not know | raised | low (one step more for a high or critical asset) |
//! | an active person or team | cleared: "owner X is active" | — |
//! | no owner recorded, or no directory kept | nothing said | — |
//!
//! The alert resolves itself at once (`AtOnce`, cause `register`) when the
//! asset is reassigned to someone active or leaves service (checked in
//! [`super::assets::evaluate`]).

use super::assets::{Seen, asset_finding, bump};
use super::rules::{AssetState, Plan, World, day_of, day_start_ms};
use crate::alerts::evidence::{Evidence, OwnerGone};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};
use crate::directory::standing::{Departure, Standing};
use crate::register::Asset;

/// Judge asset `a` (in service) against the directory.
pub(super) fn for_asset(w: &World<'_>, a: &Asset, seen: &Seen<'_>, state: &AssetState, plan: &mut Plan) {
    // No directory and no alert of the kind: nothing to raise or clear (a
    // million-asset register pays nothing for a feature it does not use).
    if w.directory.is_empty() && !plan.kind_alerted(AlertKind::OwnerDeparted) {
        return;
    }
    let subject = format!("asset:{}", a.tag);
    let today = day_of(w.now_ms);
    let (departure, person, left_on) = match w.directory.standing(&a.owner, today) {
        Standing::NotChecked => {
            if plan.wants_clear(AlertKind::OwnerDeparted, &subject) {
                let reason = if a.owner.trim().is_empty() {
                    format!("{} has no owner recorded", a.tag)
                } else {
                    "no people directory is kept".to_string()
                };
                plan.clear(AlertKind::OwnerDeparted, subject, ClearCause::Register, reason, w.now_ms);
            }
            return;
        }
        Standing::Active(_) | Standing::ActiveTeam => {
            if plan.wants_clear(AlertKind::OwnerDeparted, &subject) {
                let reason = format!("{}'s owner {} is active", a.tag, a.owner);
                plan.clear(AlertKind::OwnerDeparted, subject, ClearCause::Register, reason, w.now_ms);
            }
            return;
        }
        Standing::Left(e) => (Departure::Left, Some(e.clone()), e.left_on),
        Standing::TeamGone(day) => (Departure::Left, None, day),
        Standing::Unknown => (Departure::Unknown, None, None),
    };
    // Seen after the owner left: someone is using an asset nobody answers for.
    let used_since = match (departure, left_on, state.last_seen_ms) {
        (Departure::Left, Some(d), Some(l)) => l >= day_start_ms(d),
        _ => false,
    };
    let severity = match departure {
        Departure::Unknown => Severity::Low,
        Departure::Left if used_since => Severity::High,
        Departure::Left => Severity::Medium,
    };
    let who = match (&person, left_on) {
        (Some(p), Some(d)) if p.name != a.owner => format!("owner {} ({}) left on {d}", a.owner, p.name),
        (_, Some(d)) => format!("owner {} left on {d}", a.owner),
        (_, None) if departure == Departure::Left => format!("owner {} has left", a.owner),
        _ => format!("owner {} is not in the people directory (or names two people)", a.owner),
    };
    // The day, not the time: the description (and so the alert's stored
    // version) changes at most daily while the asset keeps answering; the
    // alert's own last-seen carries the time.
    let last_seen_day = state.last_seen_ms.map(day_of);
    let last = match (last_seen_day, &state.last_ip) {
        (Some(d), Some(ip)) => format!("; last seen on {d} at {ip}"),
        (Some(d), None) => format!("; last seen on {d}"),
        _ => "; never seen on the network".to_string(),
    };
    let summary = format!("{} ({}) is {} but its {who}{last}", a.tag, a.name, a.lifecycle);
    let evidence = |asset, seen| {
        Evidence::OwnerDeparted(OwnerGone {
            asset,
            owner: a.owner.clone(),
            departure,
            person,
            left_on,
            last_seen_day,
            last_ip: state.last_ip.clone(),
            seen,
        })
    };
    let mut f = asset_finding(AlertKind::OwnerDeparted, a, bump(severity, a.criticality), summary, evidence, seen);
    if seen.is_empty() {
        f.last_seen_ms = state.last_seen_ms.unwrap_or(0);
        f.ip = state.last_ip.clone();
    }
    plan.findings.push(f);
}
