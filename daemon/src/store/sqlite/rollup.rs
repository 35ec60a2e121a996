//! Bounded history: the raw observations of batches older than the
//! retention period folded into one row per address and UTC day
//! (`sightings_daily`), so the database stops growing once the retention
//! period has passed (`docs/data-retention.md`).
//!
//! A batch is rolled up in parts, each its own short transaction (so a
//! delivery never waits long behind it): a part reads up to [`PART`] of the
//! batch's observations by id (its `first_obs..=last_obs` range, other
//! batches' rows filtered out), adds them to their day's row, deletes
//! them and records how far it got (`batches.rolled_to`); a crash between
//! parts resumes from there, and since a part's summary and its deletions
//! commit together nothing is counted twice or lost. The batch is marked
//! `rolled_up` after its last part.
//!
//! Kept raw: an address's latest observation (`hosts.latest_obs`: whois
//! and the asset page show it as sent), and every observation of a batch
//! still being received or not yet reconciled (the reconcile backlog reads
//! them back). A latest observation that is later superseded stays raw:
//! one row per address for each time it went unseen longer than the
//! retention period and came back.
//!
//! A day's row keeps the count, first and last sighting and the distinct
//! MACs (up to [`MACS_KEPT`]): the same answers [`sightings_by_day`] gave
//! from the raw rows.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{DaySightings, StoreError};

/// Observations rolled up per transaction at most.
pub const PART: usize = 2_000;

/// Distinct MACs kept per address and day (a day's `macs` counts at most this many).
pub const MACS_KEPT: usize = 32;

const DAY_MS: i64 = 86_400_000;

/// One day's sightings of one address being summed.
#[derive(Debug, Default)]
struct Day {
    count: i64,
    first_ms: i64,
    last_ms: i64,
    macs: BTreeSet<String>,
}

impl Day {
    /// One sighting more: a day of one sighting merged in.
    fn add(&mut self, seen_ms: i64, mac: Option<String>) {
        self.merge(Day { count: 1, first_ms: seen_ms, last_ms: seen_ms, macs: mac.into_iter().collect() });
    }

    fn merge(&mut self, other: Day) {
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
}

/// What one part did: observations rolled up, and whether it finished a batch
/// (`None`: nothing older than `before_ms` is left to roll up).
pub type Part = Option<(u64, bool)>;

/// Roll up one part of the oldest batch that ended before `before_ms` and
/// is stored and reconciled.
///
/// # Errors
/// The store failed; the part's transaction is rolled back whole.
pub fn part(c: &mut Connection, before_ms: i64) -> Result<Part, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // (batch id, its first and last observation ids, rolled up to id).
    type Due = (String, Option<i64>, Option<i64>, Option<i64>);
    let next: Option<Due> = tx
        .query_row(
            "SELECT batch_id, first_obs, last_obs, rolled_to FROM batches
             WHERE rolled_up = 0 AND finished_ms < ?1 AND receiving = 0 AND reconciled = 1
             ORDER BY finished_ms LIMIT 1",
            [before_ms],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((batch, first, last, rolled_to)) = next else { return Ok(None) };
    let (Some(lo), Some(hi)) = (first, last) else {
        // A batch without observations (an empty sweep): nothing to fold.
        tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = ?1", [&batch])?;
        tx.commit()?;
        return Ok(Some((0, true)));
    };
    let from = rolled_to.map_or(lo, |r| r + 1);
    // (id, address, MAC, seen, is the address's latest).
    type Row = (i64, String, Option<String>, i64, bool);
    let rows: Vec<Row> = {
        let mut st = tx.prepare_cached(
            "SELECT o.id, o.ip, o.mac, o.seen_ms, coalesce(h.latest_obs = o.id, 0) FROM observations o
             LEFT JOIN hosts h ON h.ip = o.ip
             WHERE o.id BETWEEN ?1 AND ?2 AND o.batch_id = ?3 ORDER BY o.id LIMIT ?4",
        )?;
        st.query_map(params![from, hi, batch, PART as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let mut days: HashMap<(String, i64), Day> = HashMap::new();
    let mut rolled = 0u64;
    {
        let mut delete = tx.prepare_cached("DELETE FROM observations WHERE id = ?1")?;
        for (id, ip, mac, seen_ms, latest) in &rows {
            if *latest {
                continue;
            }
            days.entry((ip.clone(), seen_ms.div_euclid(DAY_MS))).or_default().add(*seen_ms, mac.clone());
            delete.execute([id])?;
            rolled += 1;
        }
        let mut read =
            tx.prepare_cached("SELECT count, first_ms, last_ms, macs FROM sightings_daily WHERE ip = ?1 AND day = ?2")?;
        let mut write = tx.prepare_cached(
            "INSERT OR REPLACE INTO sightings_daily (ip, day, count, first_ms, last_ms, macs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for ((ip, day), sum) in days {
            let mut total = read
                .query_row(params![ip, day], |r| {
                    Ok(Day {
                        count: r.get(0)?,
                        first_ms: r.get(1)?,
                        last_ms: r.get(2)?,
                        macs: macs_of(&r.get::<_, String>(3)?),
                    })
                })
                .optional()?
                .unwrap_or_default();
            total.merge(sum);
            let macs = serde_json::to_string(&total.macs).unwrap_or_else(|_| "[]".into());
            write.execute(params![ip, day, total.count, total.first_ms, total.last_ms, macs])?;
        }
    }
    let done = rows.len() < PART;
    match rows.last() {
        Some((id, ..)) if !done => {
            tx.execute("UPDATE batches SET rolled_to = ?2 WHERE batch_id = ?1", params![batch, id])?;
        }
        _ => {
            tx.execute("UPDATE batches SET rolled_up = 1 WHERE batch_id = ?1", [&batch])?;
        }
    }
    tx.commit()?;
    Ok(Some((rolled, done)))
}

fn macs_of(json: &str) -> BTreeSet<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// `ip`'s sightings per UTC day since `since_ms`, newest day first: the
/// raw observations' days merged with the rolled-up ones. A rolled-up day
/// counts whole when its last sighting is at or after `since_ms`.
///
/// # Errors
/// The store failed.
pub fn sightings_by_day(c: &Connection, ip: &str, since_ms: i64) -> Result<Vec<DaySightings>, StoreError> {
    let mut days: HashMap<i64, Day> = HashMap::new();
    let mut raw = c.prepare_cached(
        "SELECT seen_ms / 86400000, count(*), min(seen_ms), max(seen_ms), group_concat(DISTINCT mac) FROM observations
         WHERE ip = ?1 AND seen_ms >= ?2 GROUP BY seen_ms / 86400000",
    )?;
    let rows = raw.query_map(params![ip, since_ms], |r| {
        let macs: Option<String> = r.get(4)?;
        Ok((
            r.get::<_, i64>(0)?,
            Day {
                count: r.get(1)?,
                first_ms: r.get(2)?,
                last_ms: r.get(3)?,
                macs: macs.map(|m| m.split(',').map(str::to_string).collect()).unwrap_or_default(),
            },
        ))
    })?;
    for row in rows {
        let (day, d) = row?;
        days.entry(day).or_default().merge(d);
    }
    let mut rolled = c.prepare_cached(
        "SELECT day, count, first_ms, last_ms, macs FROM sightings_daily WHERE ip = ?1 AND last_ms >= ?2",
    )?;
    let rows = rolled.query_map(params![ip, since_ms], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Day { count: r.get(1)?, first_ms: r.get(2)?, last_ms: r.get(3)?, macs: macs_of(&r.get::<_, String>(4)?) },
        ))
    })?;
    for row in rows {
        let (day, d) = row?;
        days.entry(day).or_default().merge(d);
    }
    let mut out: Vec<DaySightings> = days
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Day;

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
}
