//! Backend-neutral parts of ingest (see `store::shared`): what one stored
//! observation does to its address's host record ([`effect`], and
//! [`HostRow::apply`] for a backend that writes whole rows), the merging of
//! repeated (MAC, address) pairs and served certificates within one part,
//! whether a part is still its delivery's to store ([`part_at`]), and
//! reading the reconcile backlog back ([`pending`]), and a stored
//! observation as it is shown ([`shown_observation`]).
//!
//! The decisions follow `store/sqlite/ingest.rs`, whose statements they
//! describe: a first sighting inserts the host; a sighting at least as new
//! as the stored one replaces the host's summary (a passive one is folded
//! onto it, [`crate::ingest::fold_onto_stored`]) and records what changed;
//! an older one (a spooled batch arriving late) only counts and may move
//! the first sighting back.

mod pending;
mod shown;

use std::borrow::Cow;
use std::collections::HashMap;

pub use pending::{PENDING_HEADS, PendingHead, PendingRow, pending};
pub use shown::shown_observation;

use crate::ingest::{HostSummary, ObservationRow, fold_onto_stored, host_changes};

/// One entry of a host's change history: (`ports` | `names` | `fingerprint` | `mac`, before, after).
pub type HostChangeRow = (&'static str, Option<String>, String);

/// What ingest reads of a stored host to decide what an observation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// MAC, ports, names (JSON list) and OS guess as last recorded.
    pub summary: HostSummary,
    /// Last sighting (unix ms).
    pub last_seen_ms: i64,
    /// The latest compact sighting (JSON of a `Sighting`; none in a host
    /// last seen before sightings were kept).
    pub sighting: Option<String>,
}

/// What storing one observation does to its address's host record.
#[derive(Debug)]
pub enum Effect<'r, 'a> {
    /// First sight of the address: the host is inserted from the row, its
    /// names indexed and its (MAC, address) pair recorded.
    New,
    /// At least as new as what is stored: the host's summary becomes `row`.
    Newer {
        /// The row as stored: folded onto the stored host when it must be
        /// (boxed: most effects of a batch are of this kind, and the row is large).
        row: Box<Cow<'r, ObservationRow<'a>>>,
        /// What changed, in the order it is recorded.
        changes: Vec<HostChangeRow>,
        /// The MAC is new on this address: record the (MAC, address) pair.
        new_pair: bool,
    },
    /// Older than what is stored: counted, the first sighting perhaps moved
    /// back, the (MAC, address) pair recorded.
    Older,
}

impl Effect<'_, '_> {
    /// The host's names changed: its name index is rewritten.
    pub fn names_changed(&self) -> bool {
        matches!(self, Effect::Newer { changes, .. } if changes.iter().any(|(kind, _, _)| *kind == "names"))
    }

    /// The (MAC, address) pair of the observation is to be recorded.
    pub fn records_pair(&self) -> bool {
        match self {
            Effect::New | Effect::Older => true,
            Effect::Newer { new_pair, .. } => *new_pair,
        }
    }
}

/// Whether a part of a batch stored in parts is still this delivery's to
/// store: the batch is still receiving (`stored`, its `stored_rows`, is
/// `None` once it is not) and holds exactly the `at` observations this
/// delivery found or stored. Otherwise another delivery of it — an agent's
/// resend after its own timeout while this one went on — stored parts
/// meanwhile, and storing this part too would store them twice. Read in
/// the part's own transaction, under the backend's ingest writer.
///
/// # Errors
/// [`StoreError::Busy`] (the agent sends again; that delivery resumes
/// where the batch stands).
pub fn part_at(batch_id: &str, stored: Option<i64>, at: usize) -> Result<(), crate::store::StoreError> {
    match stored {
        Some(n) if usize::try_from(n) == Ok(at) => Ok(()),
        _ => Err(crate::store::StoreError::Busy(format!("batch {batch_id} is being stored by another delivery of it"))),
    }
}

/// What storing `row` does, given the host as stored (`None`: never seen).
pub fn effect<'r, 'a>(known: Option<&Known>, row: &'r ObservationRow<'a>) -> Effect<'r, 'a> {
    let Some(known) = known else { return Effect::New };
    if row.last_ms < known.last_seen_ms {
        return Effect::Older;
    }
    let before = &known.summary;
    let folded = fold_onto_stored(before, known.sighting.as_deref().unwrap_or_default(), row);
    let stored = folded.map_or(Cow::Borrowed(row), Cow::Owned);
    let changes = host_changes(before, &stored);
    let new_pair = row.mac.as_deref().is_some_and(|m| before.mac.as_deref() != Some(m));
    Effect::Newer { row: Box::new(stored), changes, new_pair }
}

/// Names as `hosts.names` keeps them: a JSON list.
pub fn names_json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

/// A host record whole, as `hosts` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    /// What [`effect`] reads of it.
    pub known: Known,
    /// First sighting (unix ms).
    pub first_seen_ms: i64,
    /// Agent of the latest sweep that saw it.
    pub last_agent: String,
    /// Batch of that sweep.
    pub last_batch: String,
    /// Id of that sweep's observation (kept raw by the roll-up).
    pub latest_obs: i64,
    /// Observations stored of it.
    pub observations: i64,
}

impl HostRow {
    /// The record of an address first seen in `row` (observation `obs_id` of `batch` from `agent`).
    pub fn first(row: &ObservationRow<'_>, agent: &str, batch: &str, obs_id: i64) -> HostRow {
        HostRow {
            known: Known {
                summary: HostSummary {
                    mac: row.mac.clone(),
                    ports: row.ports.clone(),
                    names: names_json(&row.names),
                    fingerprint: row.fingerprint.clone(),
                },
                last_seen_ms: row.last_ms,
                sighting: Some(row.sighting.clone()),
            },
            first_seen_ms: row.first_ms,
            last_agent: agent.to_string(),
            last_batch: batch.to_string(),
            latest_obs: obs_id,
            observations: 1,
        }
    }

    /// The record after `effect` of `row` (as [`effect`] decided on this
    /// record), the statements SQLite's ingest runs for it applied in memory:
    /// a passive sighting refreshes the host without making its batch the
    /// host's latest sweep. [`Effect::New`] makes the record [`HostRow::first`]'s.
    pub fn apply(&mut self, effect: &Effect<'_, '_>, row: &ObservationRow<'_>, agent: &str, batch: &str, obs_id: i64) {
        if let Effect::New = effect {
            *self = HostRow::first(row, agent, batch, obs_id);
            return;
        }
        self.observations += 1;
        self.first_seen_ms = self.first_seen_ms.min(row.first_ms);
        let Effect::Newer { row: stored, .. } = effect else { return };
        let summary = &mut self.known.summary;
        if row.mac.is_some() {
            summary.mac.clone_from(&row.mac);
        }
        self.known.last_seen_ms = row.last_ms;
        summary.names = names_json(&stored.names);
        summary.fingerprint.clone_from(&stored.fingerprint);
        self.known.sighting = Some(stored.sighting.clone());
        if !stored.passive {
            summary.ports.clone_from(&row.ports);
            self.last_agent = agent.to_string();
            self.last_batch = batch.to_string();
            self.latest_obs = obs_id;
        }
    }
}

/// A (MAC, address) pair's sightings: first and last (unix ms) and the agent of the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSeen {
    /// First sighting.
    pub first_ms: i64,
    /// Last sighting.
    pub last_ms: i64,
    /// Agent of the last sighting.
    pub agent: String,
}

impl PairSeen {
    /// Another sighting merged in, as `mac_ip`'s upsert does: the span
    /// widened, the agent that of the later one (the newer on a tie).
    pub fn merge(&mut self, other: PairSeen) {
        self.first_ms = self.first_ms.min(other.first_ms);
        if other.last_ms >= self.last_ms {
            self.agent = other.agent;
        }
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

/// (MAC, address) pairs of one part, each once, in the order first recorded.
#[derive(Debug, Default)]
pub struct Pairs {
    order: Vec<(String, String)>,
    seen: HashMap<(String, String), PairSeen>,
}

impl Pairs {
    /// Record `mac` at `ip`.
    pub fn add(&mut self, mac: &str, ip: &str, seen: PairSeen) {
        let key = (mac.to_string(), ip.to_string());
        match self.seen.get_mut(&key) {
            Some(s) => s.merge(seen),
            None => {
                self.order.push(key.clone());
                self.seen.insert(key, seen);
            }
        }
    }

    /// Each pair once: ((MAC, address), its sightings).
    pub fn into_rows(mut self) -> Vec<((String, String), PairSeen)> {
        self.order.into_iter().filter_map(|k| self.seen.remove(&k).map(|s| (k, s))).collect()
    }
}

/// Where a certificate is served: (SHA-256, address, port).
pub type ServedAt = (String, String, u16);

/// Certificates served in one part, each (SHA-256, address, port) once with
/// its first and last time (unix ms), in the order first seen.
#[derive(Debug, Default)]
pub struct Served {
    order: Vec<ServedAt>,
    span: HashMap<ServedAt, (i64, i64)>,
}

impl Served {
    /// Certificate `sha256` served at `ip`:`port` at `at_ms`.
    pub fn add(&mut self, sha256: &str, ip: &str, port: u16, at_ms: i64) {
        let key = (sha256.to_string(), ip.to_string(), port);
        match self.span.get_mut(&key) {
            Some((first, last)) => {
                *first = (*first).min(at_ms);
                *last = (*last).max(at_ms);
            }
            None => {
                self.order.push(key.clone());
                self.span.insert(key, (at_ms, at_ms));
            }
        }
    }

    /// Each certificate and place once: ((SHA-256, address, port), (first, last)).
    pub fn into_rows(mut self) -> Vec<(ServedAt, (i64, i64))> {
        self.order.into_iter().filter_map(|k| self.span.remove(&k).map(|s| (k, s))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Effect, HostRow, PairSeen, Pairs, effect};
    use crate::ingest::ObservationRow;

    fn row<'a>(last_ms: i64, mac: Option<&str>, ports: &str, passive: bool) -> ObservationRow<'a> {
        ObservationRow {
            ip: "198.18.0.1".into(),
            mac: mac.map(str::to_string),
            first_ms: last_ms - 10,
            last_ms,
            ports: ports.into(),
            names: vec!["a.example".into()],
            fingerprint: String::new(),
            raw: "{}".into(),
            sighting: "{}".into(),
            passive,
            certificates: vec![],
            conflicting_macs: vec![],
        }
    }

    /// A newer sweep replaces the summary and records what changed; an older
    /// one only counts; a passive one leaves the sweep's ports and latest.
    #[test]
    fn the_host_follows_the_newest_sweep() {
        let first = row(1_000, Some("00:00:00:00:00:01"), "22", false);
        let mut host = HostRow::first(&first, "a", "b1", 1);
        let newer = row(2_000, Some("00:00:00:00:00:02"), "22,80", false);
        let e = effect(Some(&host.known), &newer);
        let Effect::Newer { changes, new_pair, .. } = &e else { panic!("{e:?}") };
        assert_eq!(changes.iter().map(|c| c.0).collect::<Vec<_>>(), ["ports", "mac"]);
        assert!(*new_pair && !e.names_changed());
        host.apply(&e, &newer, "a", "b2", 2);
        assert_eq!((host.latest_obs, host.observations, host.known.summary.ports.as_str()), (2, 2, "22,80"));
        let older = row(500, None, "", false);
        let e = effect(Some(&host.known), &older);
        assert!(matches!(e, Effect::Older) && e.records_pair());
        host.apply(&e, &older, "a", "b0", 3);
        assert_eq!((host.first_seen_ms, host.observations, host.latest_obs), (490, 3, 2));
        let heard = row(3_000, None, "", true);
        let e = effect(Some(&host.known), &heard);
        host.apply(&e, &heard, "b", "b3", 4);
        assert_eq!((host.latest_obs, host.last_agent.as_str(), host.known.summary.ports.as_str()), (2, "a", "22,80"));
        assert_eq!((host.known.last_seen_ms, host.known.summary.mac.as_deref()), (3_000, Some("00:00:00:00:00:02")));
    }

    /// Pairs merge as the `mac_ip` upsert does.
    #[test]
    fn pairs_merge_like_the_upsert() {
        let mut p = Pairs::default();
        p.add("m", "ip", PairSeen { first_ms: 5, last_ms: 9, agent: "a".into() });
        p.add("m", "ip", PairSeen { first_ms: 2, last_ms: 7, agent: "b".into() });
        p.add("m", "ip", PairSeen { first_ms: 6, last_ms: 9, agent: "c".into() });
        let rows = p.into_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1, PairSeen { first_ms: 2, last_ms: 9, agent: "c".into() });
    }
}
