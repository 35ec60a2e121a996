//! Backend-neutral parts of the bounded history (see `store::shared` and
//! `store/sqlite/rollup.rs`): a day's summary of one address's sightings
//! ([`Day`]) and how days merge, which of a part's raw observations roll
//! up into which day, the answer [`crate::store::ObservationStore::sightings_by_day`]
//! gives from raw and rolled-up days, and the loop of parts one
//! [`crate::store::ObservationStore::roll_up`] call runs.

use std::collections::{BTreeSet, HashMap};

use crate::store::{DaySightings, RollUp, StoreError};

/// Observations rolled up per transaction at most.
pub const PART: usize = 2_000;

/// Distinct MACs kept per address and day (a day's `macs` counts at most this many).
pub const MACS_KEPT: usize = 32;

/// Parts one roll-up call runs at most (batches whose every row is some
/// address's latest roll up nothing, and there may be many).
pub const MOST_PARTS: usize = 256;

/// A UTC day, in ms.
pub const DAY_MS: i64 = 86_400_000;

/// One day's sightings of one address being summed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Day {
    /// Sightings.
    pub count: i64,
    /// First and last of them (unix ms).
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
    /// Distinct MACs (at most [`MACS_KEPT`] once merged).
    pub macs: BTreeSet<String>,
}

impl Day {
    /// One sighting more: a day of one sighting merged in.
    pub fn add(&mut self, seen_ms: i64, mac: Option<String>) {
        self.merge(Day { count: 1, first_ms: seen_ms, last_ms: seen_ms, macs: mac.into_iter().collect() });
    }

    /// Another summary of the same day merged in (MACs past [`MACS_KEPT`] left out).
    pub fn merge(&mut self, other: Day) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 || other.first_ms < self.first_ms {
            self.first_ms = other.first_ms;
        }
        self.last_ms = self.last_ms.max(other.last_ms);
        self.count += other.count;
        for m in other.macs {
            if self.macs.len() >= MACS_KEPT {
                break;
            }
            self.macs.insert(m);
        }
    }

    /// Its MACs as `sightings_daily.macs` keeps them: a JSON list.
    pub fn macs_json(&self) -> String {
        serde_json::to_string(&self.macs).unwrap_or_else(|_| "[]".into())
    }
}

/// MACs from `sightings_daily.macs` (a JSON list; none when it does not parse).
pub fn macs_of(json: &str) -> BTreeSet<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The UTC day (days since the epoch) of a time in unix ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// A raw observation a part reads: id, address, MAC, seen (unix ms), and
/// whether it is its address's latest (kept raw).
pub type RawRow = (i64, String, Option<String>, i64, bool);

/// A part's raw observations summed per (address, day), and the ids of
/// those summed (to delete); an address's latest is left out, kept raw.
pub fn fold(rows: &[RawRow]) -> (HashMap<(String, i64), Day>, Vec<i64>) {
    let mut days: HashMap<(String, i64), Day> = HashMap::new();
    let mut ids = Vec::with_capacity(rows.len());
    for (id, ip, mac, seen_ms, latest) in rows {
        if *latest {
            continue;
        }
        days.entry((ip.clone(), day_of(*seen_ms))).or_default().add(*seen_ms, mac.clone());
        ids.push(*id);
    }
    (days, ids)
}

/// The answer of `sightings_by_day` from the days of the raw observations
/// and the rolled-up ones (any number of each per day, in any order):
/// one line per day, newest first.
pub fn by_day(days: impl IntoIterator<Item = (i64, Day)>) -> Vec<DaySightings> {
    let mut merged: HashMap<i64, Day> = HashMap::new();
    for (day, d) in days {
        merged.entry(day).or_default().merge(d);
    }
    let mut out: Vec<DaySightings> = merged
        .into_iter()
        .map(|(day, d)| DaySightings {
            day_ms: day * DAY_MS,
            count: d.count,
            first_ms: d.first_ms,
            last_ms: d.last_ms,
            macs: d.macs.len() as i64,
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.day_ms));
    out
}

/// What one part did: observations rolled up, and whether it finished a batch
/// (`None`: nothing older than the cut-off is left to roll up).
pub type Part = Option<(u64, bool)>;

/// One roll-up call: `part` run until about `budget` observations are rolled
/// up, nothing is left, or [`MOST_PARTS`] parts ran (then `more` is set).
///
/// # Errors
/// What `part` returns; parts before it stay rolled up.
pub fn roll_up(budget: usize, mut part: impl FnMut() -> Result<Part, StoreError>) -> Result<RollUp, StoreError> {
    let mut out = RollUp::default();
    let mut parts = 0;
    while (out.observations as usize) < budget && parts < MOST_PARTS {
        parts += 1;
        match part()? {
            None => return Ok(out),
            Some((rolled, finished)) => {
                out.observations += rolled;
                out.batches += u64::from(finished);
            }
        }
    }
    out.more = true;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Day, by_day, fold};

    /// Summing days in any split gives the same count, span and MACs as one pass.
    #[test]
    fn days_merge_whatever_the_split() {
        let seen = [(5, Some("a")), (3, None), (9, Some("b")), (4, Some("a")), (7, Some("c"))];
        let mut whole = Day::default();
        for (t, m) in seen {
            whole.add(t, m.map(str::to_string));
        }
        let (mut left, mut right) = (Day::default(), Day::default());
        for (i, (t, m)) in seen.into_iter().enumerate() {
            if i % 2 == 0 { &mut left } else { &mut right }.add(t, m.map(str::to_string));
        }
        let mut merged = Day::default();
        merged.merge(right);
        merged.merge(Day::default());
        merged.merge(left);
        assert_eq!((merged.count, merged.first_ms, merged.last_ms), (whole.count, whole.first_ms, whole.last_ms));
        assert_eq!((merged.count, merged.first_ms, merged.last_ms), (5, 3, 9));
        assert_eq!(merged.macs, whole.macs);
        assert_eq!(merged.macs.len(), 3);
    }

    /// A day's MAC list is capped: a flood of MACs at one address cannot grow a row without bound.
    #[test]
    fn a_days_macs_are_capped() {
        let mut d = Day::default();
        for i in 0..1000 {
            d.add(i, Some(format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)));
        }
        assert_eq!(d.macs.len(), super::MACS_KEPT);
        assert_eq!(d.count, 1000);
    }

    /// An address's latest stays raw; the rest sum per address and day, answered newest day first.
    #[test]
    fn a_part_folds_per_address_and_day() {
        let day = super::DAY_MS;
        let rows = [
            (1, "a".to_string(), Some("m1".to_string()), 10, false),
            (2, "a".to_string(), Some("m2".to_string()), 20, false),
            (3, "a".to_string(), None, day + 5, true),
            (4, "b".to_string(), None, day + 7, false),
        ];
        let (days, ids) = fold(&rows);
        assert_eq!(ids, [1, 2, 4]);
        assert_eq!(days.len(), 2);
        let a = by_day(days.into_iter().filter(|((ip, _), _)| ip == "a").map(|((_, d), s)| (d, s)));
        assert_eq!((a.len(), a[0].count, a[0].first_ms, a[0].last_ms, a[0].macs), (1, 2, 10, 20, 2));
    }
}
