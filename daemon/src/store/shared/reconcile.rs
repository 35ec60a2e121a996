//! Backend-neutral parts of the reconcile store code (see `store::shared`):
//! how the rows reconciliation reads are decoded (the match index's keys,
//! retired assets, sightings with their batch's probed ports, sweeps), who
//! counts against the hourly device-alert budget, how a commit's alert
//! changes are counted, and which subjects a commit must decide again
//! because their alerts changed after they were read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::alerts::lifecycle::Change;
use crate::alerts::{Alert, AlertKind, AlertState, EventKind};
use crate::reconcile::identity::AssetKeys;
use crate::reconcile::{Plan, Sighting};
use crate::register::Asset;
use crate::store::{CommitOutcome, INDEX_PAGE, KeysetPage};

/// A stored asset's body and when it entered the register, not yet decoded.
#[derive(Debug, Clone)]
pub struct StoredAsset {
    /// The asset's JSON body.
    pub body: String,
    /// When it entered the register (unix ms).
    pub created_ms: i64,
}

impl StoredAsset {
    /// The keys the match index reads (`None`: a body that does not decode, left out).
    pub fn decode(&self) -> Option<(AssetKeys, i64)> {
        serde_json::from_str(&self.body).ok().map(|k| (k, self.created_ms))
    }
}

/// A page of the match index's input from up to [`INDEX_PAGE`] rows read by
/// tag: the keys decoded (on every core; bodies that do not decode left
/// out), and the tag the next page begins after when the page was full.
pub fn index_page(rows: &[(String, StoredAsset)]) -> KeysetPage<(AssetKeys, i64)> {
    let next = (rows.len() == INDEX_PAGE).then(|| rows.last().map(|(tag, _)| tag.clone())).flatten();
    let keys = crate::reconcile::parallel_map(rows, |(_, stored)| stored.decode()).into_iter().flatten().collect();
    (keys, next)
}

/// Retired assets from their `(tag, body)` rows, in the rows' order; a body
/// that does not decode is logged and left out.
pub fn retired(rows: Vec<(String, String)>) -> Vec<Asset> {
    let mut out = Vec::with_capacity(rows.len());
    for (tag, body) in rows {
        match serde_json::from_str(&body) {
            Ok(a) => out.push(a),
            Err(e) => tracing::warn!(tag, error = %e, "a retired asset does not decode; left out"),
        }
    }
    out
}

/// A sighting row as read: the host's latest sighting (JSON), the asset it
/// was last matched to, and its batch's probed-port list (JSON).
pub type SightingRow = (Option<String>, Option<String>, Option<String>);

/// Sightings from their rows, each with the asset it was last matched to.
/// A sighting without its own probed-port list takes its batch's; each
/// batch's list is kept once and shared. Rows that do not decode are left
/// out; decoded on every core.
pub fn sightings(rows: Vec<SightingRow>) -> Vec<(Sighting, Option<String>)> {
    /// A row with its batch's list shared.
    type SharedRow = (Option<String>, Option<String>, Option<Arc<str>>);
    let mut lists: HashMap<String, Arc<str>> = HashMap::new();
    let rows: Vec<SharedRow> = rows
        .into_iter()
        .map(|(body, tag, probed)| {
            let probed = probed.map(|p| lists.entry(p).or_insert_with_key(|p| Arc::from(p.as_str())).clone());
            (body, tag, probed)
        })
        .collect();
    let decode = |(body, tag, probed): &SharedRow| {
        let mut s = serde_json::from_str::<Sighting>(body.as_deref()?).ok()?;
        if s.probed.is_none() {
            s.probed = probed.clone();
        }
        Some((s, tag.clone()))
    };
    crate::reconcile::parallel_map(&rows, decode).into_iter().flatten().collect()
}

/// A sweep's networks (targets or exclusions) from their stored JSON list;
/// an unreadable list is empty.
pub fn networks(json: &str) -> Vec<ipnet::IpNet> {
    serde_json::from_str(json).unwrap_or_default()
}

/// `(kind, subject)` rows with a kind Census knows (others left out).
pub fn kinds(rows: Vec<(String, String)>) -> Vec<(AlertKind, String)> {
    rows.into_iter().filter_map(|(k, s)| Some((k.parse().ok()?, s))).collect()
}

/// `(kind, subject, latest id)` rows of alerts after `after_id`: those of
/// `kinds` (a kind Census knows), and the highest id among all rows (or
/// `after_id` when there are none), for [`crate::store::ReconcileStore::alerted_subjects`].
pub fn alerted(
    kinds: &[AlertKind],
    rows: Vec<(String, String, i64)>,
    after_id: i64,
) -> (Vec<(AlertKind, String)>, i64) {
    let last = rows.iter().map(|r| r.2).max().unwrap_or(after_id).max(after_id);
    let subjects = rows
        .into_iter()
        .filter_map(|(k, s, _)| Some((k.parse::<AlertKind>().ok()?, s)))
        .filter(|(k, _)| kinds.contains(k))
        .collect();
    (subjects, last)
}

/// The agents whose device alerts of the last hour a plan's decision
/// reads: those of its findings and those it names, sorted, once each.
pub fn plan_agents(plan: &Plan) -> Vec<String> {
    let mut agents: Vec<String> = plan.findings.iter().filter_map(|f| f.agent.clone()).collect();
    agents.extend(plan.agents.iter().cloned());
    agents.sort();
    agents.dedup();
    agents
}

/// Count a written alert change into `out` (its outbox rows are counted by the caller).
pub fn count(c: &Change, out: &mut CommitOutcome) {
    match c.event {
        Some(EventKind::Opened) => out.opened += 1,
        Some(EventKind::Reopened) => out.reopened += 1,
        Some(EventKind::Suppressed) => out.suppressed += 1,
        Some(EventKind::Resolved) => out.resolved += 1,
        Some(EventKind::Acknowledged) => {}
        None if c.alert.state != AlertState::Resolved => out.updated += 1,
        None => {}
    }
}

/// The latest alert of each (kind, subject), as its id and revision.
pub type Revisions = HashMap<(AlertKind, String), (i64, i64)>;

/// The revisions of `alerts` (the latest of each kind and subject).
pub fn revisions(alerts: &[Alert]) -> Revisions {
    let mut out = Revisions::new();
    for a in alerts {
        let key = (a.kind, a.subject.clone());
        match out.get(&key) {
            Some((id, _)) if *id > a.id => {}
            _ => {
                out.insert(key, (a.id, a.rev));
            }
        }
    }
    out
}

/// Subjects whose latest alerts differ between `read` (what a decision was
/// made from) and `now` (what is stored): one changed, appeared or went.
/// Sorted, once each.
pub fn changed_subjects(read: &Revisions, now: &Revisions) -> Vec<String> {
    let mut out: BTreeSet<&str> = BTreeSet::new();
    for (key, rev) in read {
        if now.get(key) != Some(rev) {
            out.insert(key.1.as_str());
        }
    }
    for key in now.keys().filter(|k| !read.contains_key(*k)) {
        out.insert(key.1.as_str());
    }
    out.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(kind: AlertKind, subject: &str, id: i64, rev: i64) -> ((AlertKind, String), (i64, i64)) {
        ((kind, subject.to_string()), (id, rev))
    }

    #[test]
    fn a_subject_is_decided_again_when_its_alerts_changed() {
        let k = AlertKind::UnknownAsset;
        let read: Revisions = [rev(k, "a", 1, 0), rev(k, "b", 2, 0), rev(k, "c", 3, 0)].into_iter().collect();
        let now: Revisions =
            [rev(k, "a", 1, 0), rev(k, "b", 2, 1), rev(k, "d", 4, 0), rev(AlertKind::ShouldBeRetired, "a", 5, 0)]
                .into_iter()
                .collect();
        // b changed, c went, d and a's other kind appeared; a's first kind is as read.
        assert_eq!(changed_subjects(&read, &now), ["a", "b", "c", "d"]);
        assert!(changed_subjects(&read, &read).is_empty());
    }
}
