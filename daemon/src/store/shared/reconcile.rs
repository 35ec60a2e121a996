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
use crate::store::CommitOutcome;

/// A page of the register as stored, not yet decoded, in the backend's
/// own rows: a full run reads the register a page at a time and decodes
/// each page on other threads while it reads the next (`reconcile::pages`),
/// and PostgreSQL's rows are read there without copying their text out of
/// the protocol's buffers first (a copy of every body was a tenth of a
/// million-asset reconcile's work).
pub trait StoredPage: Send + Sync {
    /// Rows in the page, by tag.
    fn len(&self) -> usize;
    /// Row `i` (`None` only out of range: a backend checks that its rows
    /// read when it reads the page, and fails the read if one does not).
    fn row(&self, i: usize) -> Option<StoredAsset<'_>>;

    /// The page holds no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last row's tag (where the next page begins).
    fn last_tag(&self) -> Option<String> {
        self.len().checked_sub(1).and_then(|i| self.row(i)).map(|r| r.tag.to_string())
    }
}

/// One stored asset as read, not yet decoded: its tag, its JSON body and
/// when it entered the register (unix ms).
#[derive(Debug, Clone, Copy)]
pub struct StoredAsset<'a> {
    /// Asset tag.
    pub tag: &'a str,
    /// The asset's JSON body.
    pub body: &'a str,
    /// When it entered the register (unix ms).
    pub created_ms: i64,
}

impl StoredAsset<'_> {
    /// The keys the match index reads, and when the asset entered the
    /// register (`None`: a body that does not decode, left out).
    pub fn keys(&self) -> Option<(AssetKeys, i64)> {
        serde_json::from_str(self.body).ok().map(|k| (k, self.created_ms))
    }

    /// The whole asset (`None`: a body that does not decode, left out).
    pub fn asset(&self) -> Option<Asset> {
        super::assets::decode(self.body).ok()
    }
}

/// A page read into owned rows: `(tag, body, created_ms)` (SQLite's, and tests').
impl StoredPage for Vec<(String, String, i64)> {
    fn len(&self) -> usize {
        <[_]>::len(self)
    }

    fn row(&self, i: usize) -> Option<StoredAsset<'_>> {
        self.get(i).map(|(tag, body, created_ms)| StoredAsset { tag, body, created_ms: *created_ms })
    }
}

/// Decode every row of `page` with `f` on every core, in order, leaving
/// out rows that `f` leaves out (a body that does not decode).
pub fn decode_page<T: Send>(page: &dyn StoredPage, f: impl Fn(StoredAsset<'_>) -> Option<T> + Sync) -> Vec<T> {
    let rows: Vec<usize> = (0..page.len()).collect();
    crate::reconcile::parallel_filter_map(&rows, |i| page.row(*i).and_then(&f))
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
    crate::reconcile::parallel_filter_map(&rows, decode)
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

    #[test]
    fn a_page_decodes_in_order_and_leaves_out_bodies_that_do_not_decode() {
        let body = |tag: &str| {
            format!(
                r#"{{"tag":"{tag}","name":"n","type":"server","owner":"ops","lifecycle":"deployed","macs":["00:1b:21:00:00:01"]}}"#
            )
        };
        // More rows than the parallel map does on one thread, one broken body among them.
        let page: Vec<(String, String, i64)> = (0..5_000)
            .map(|n| {
                let tag = format!("A-{n:05}");
                let b = if n == 2_500 || n == 4_999 { "{\"tag\": [".to_string() } else { body(&tag) };
                (tag, b, i64::from(n))
            })
            .collect();
        let keys = decode_page(&page, |r| r.keys());
        assert_eq!(keys.len(), 4_998);
        assert!(keys.windows(2).all(|w| w[0].0.tag < w[1].0.tag), "in page order");
        assert!(keys.iter().all(|(k, created)| k.tag == format!("A-{created:05}") && k.macs.len() == 1));
        assert!(!keys.iter().any(|(k, _)| k.tag == "A-02500" || k.tag == "A-04999"));
        let assets = decode_page(&page, |r| r.asset());
        assert_eq!((assets.len(), assets[0].tag.as_str()), (4_998, "A-00000"));
        // The next page begins after the last row's tag, though its body does not decode.
        assert_eq!(page.last_tag().as_deref(), Some("A-04999"));
        assert!(Vec::<(String, String, i64)>::new().last_tag().is_none());
    }

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
