//! PostgreSQL: planner statistics brought up to date right after a bulk
//! write, rather than whenever autovacuum next gets to them.
//!
//! Why: the lookups whois and the console make are prepared once per
//! connection and then run on a generic plan (`session.rs`), which the
//! planner costs from the table's statistics. A table filled in bulk and
//! not yet analyzed has none that fit, and the plan it gets can read the
//! whole of a neighbouring table: the host lookup by asset tag (`host_matches`
//! just written by the first full reconcile, `hosts` holding 100,000 rows)
//! joined through a sequential scan of `hosts`, 9.7 ms a call, and through
//! the `host_matches_by_tag` and `hosts_pkey` indexes, 0.08 ms, once
//! `host_matches` was analyzed (`EXPLAIN ANALYZE` of the generic plan on
//! this machine, 2026-12-06; the regression test below). Autovacuum
//! analyzes a table once a tenth of it changed, but only at its next look
//! (`autovacuum_naptime`, a minute by default) and after the vacuum work
//! queued before it: in the reconcile benchmark whois answered over 5 ms
//! 2,660 times in the 30 s after the first full reconcile of a
//! 1,000,000-asset register, and 26 times in the 35 s after.
//!
//! What counts as bulk: at least [`BULK_ROWS`] rows written (added or
//! changed) in one group of tables by this daemon since it last analyzed
//! them, and at least as many as the group's main table held then
//! ([`Growth::take`]) — a register import, a full reconcile's first
//! matches, the first sweeps of a large network, a merger's register. A
//! steady cadence changes few rows of these tables (sightings update hosts
//! in place; matches are rewritten only when they change), and a table
//! changed by less than its own size is left to autovacuum, which analyzes
//! it once a tenth changed. Each daemon counts its own writes, from zero
//! when it starts (the first bulk it writes after a start is analyzed).
//!
//! Cost: `ANALYZE` reads a fixed-size sample (30,000 rows at the default
//! statistics target): 5-50 ms for `host_matches`, 30-430 ms for the hosts
//! group in the benchmarks. It runs right after the write committed, on a
//! connection of the pool, within the call that wrote (an agent's delivery
//! between its parts, a full reconcile before its turn ends), holding no
//! advisory lock. It waits at most [`LOCK_WAIT`] for a table's lock (a
//! `VACUUM` in progress; autovacuum gives way after `deadlock_timeout`);
//! when it fails or times out it is logged, nothing the write did is
//! undone, and its rows count towards the next attempt, a minute later
//! at the soonest ([`RETRY_AFTER`]).

/// Rows written in a group of tables at the least before they are analyzed.
pub const BULK_ROWS: u64 = 10_000;

/// Tables analyzed together, by what fills them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The register: an import (`assets`, its keys and history).
    Register,
    /// Reconciliation's matches of hosts to assets.
    Matches,
    /// Hosts first seen, with their names and (MAC, address) pairs.
    /// Not `observations`: read by id and address only, through their
    /// indexes whatever the statistics, and the largest table, whose
    /// sample costs most (0.8 s against 0.06-0.2 s for the others in the
    /// ingest benchmark).
    Hosts,
}

impl Group {
    /// The tables of the group, as `ANALYZE` takes them.
    pub fn tables(self) -> &'static str {
        match self {
            Group::Register => "assets, asset_keys, asset_history",
            Group::Matches => "host_matches, asset_state",
            Group::Hosts => "hosts, host_names, mac_ip",
        }
    }

    /// The group's main table, whose size decides when it is next due.
    pub fn main(self) -> &'static str {
        match self {
            Group::Register => "assets",
            Group::Matches => "host_matches",
            Group::Hosts => "hosts",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How long an analyze waits for a table's lock before giving up (`lock_timeout`).
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long after a failed analyze the group is not tried again: a table
/// whose lock a long `VACUUM` holds would otherwise cost every write
/// [`LOCK_WAIT`].
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// One [`Group`]'s count.
#[derive(Debug, Default)]
struct Count {
    /// Rows written since this store last analyzed the group.
    since: u64,
    /// The rows its main table held then (`pg_class.reltuples`; 0 before the first).
    size: u64,
    /// After a failed analyze: not before then.
    not_before: Option<std::time::Instant>,
}

/// Rows written per [`Group`], and when each is next due.
#[derive(Debug, Default)]
pub struct Growth(std::sync::Mutex<[Count; 3]>);

impl Growth {
    fn with<T>(&self, group: Group, f: impl FnOnce(&mut Count) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g[group.index()])
    }

    /// Count `rows` written in `group`; when they bring it to [`BULK_ROWS`]
    /// and to as many as its main table held at the last analyze, the count
    /// is taken (returned, and restarted): the caller analyzes the group,
    /// then reports [`Growth::analyzed`] or [`Growth::failed`]. A register
    /// imported from nothing in ten equal parts is analyzed after parts 1,
    /// 2, 4 and 8.
    pub fn take(&self, group: Group, rows: u64) -> Option<u64> {
        if rows == 0 {
            return None;
        }
        self.with(group, |c| {
            c.since += rows;
            let waiting = c.not_before.is_some_and(|t| std::time::Instant::now() < t);
            (c.since >= BULK_ROWS && c.since >= c.size && !waiting).then(|| std::mem::take(&mut c.since))
        })
    }

    /// The group was analyzed: its main table holds about `size` rows.
    pub fn analyzed(&self, group: Group, size: u64) {
        self.with(group, |c| {
            c.size = size;
            c.not_before = None;
        });
    }

    /// The analyze failed: the `taken` rows count again, from
    /// [`RETRY_AFTER`] on.
    pub fn failed(&self, group: Group, taken: u64) {
        self.with(group, |c| {
            c.since += taken;
            c.not_before = Some(std::time::Instant::now() + RETRY_AFTER);
        });
    }
}

impl super::PostgresStore {
    /// Note `rows` written in `group` by a committed write, and analyze the
    /// group when that makes it a bulk write (see the module docs).
    pub(super) fn grew(&self, group: Group, rows: u64) {
        let Some(taken) = self.growth.take(group, rows) else { return };
        let started = std::time::Instant::now();
        // In a transaction of its own, for `SET LOCAL`; not `SKIP_LOCKED`,
        // which reports success for a table it skipped.
        let analyzed = self.run(|c| {
            let mut tx = c.transaction_with(|b| b)?;
            tx.batch_execute(&format!(
                "SET LOCAL lock_timeout = {}; ANALYZE {}",
                LOCK_WAIT.as_millis(),
                group.tables()
            ))?;
            let size: i64 = tx
                .query_one(
                    "SELECT greatest(reltuples, 0)::BIGINT FROM pg_class WHERE oid = $1::text::regclass",
                    &[&group.main()],
                )?
                .get(0);
            tx.commit()?;
            Ok(size)
        });
        match analyzed {
            Ok(size) => {
                self.growth.analyzed(group, u64::try_from(size).unwrap_or_default());
                tracing::debug!(
                    tables = group.tables(),
                    rows = size,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "analyzed after a bulk write"
                );
            }
            Err(e) => {
                self.growth.failed(group, taken);
                tracing::warn!(tables = group.tables(), error = %e, "analyze after a bulk write failed; tried again a minute later at the soonest");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BULK_ROWS, Group, Growth};

    #[test]
    fn a_group_is_due_at_a_bulk_as_large_as_its_table_and_groups_count_apart() {
        let g = Growth::default();
        assert_eq!(g.take(Group::Hosts, BULK_ROWS - 1), None);
        assert_eq!(g.take(Group::Matches, BULK_ROWS - 1), None, "another group's rows do not count");
        assert_eq!(g.take(Group::Hosts, 1), Some(BULK_ROWS), "the bulk reached, the table empty before");
        g.analyzed(Group::Hosts, 30_000);
        assert_eq!(g.take(Group::Hosts, 20_000), None, "less than the table held");
        assert_eq!(g.take(Group::Hosts, 10_000), Some(30_000), "as much again as the table held");
        g.analyzed(Group::Hosts, 60_000);
        // A failed analyze: its rows count again, after a while.
        assert_eq!(g.take(Group::Register, BULK_ROWS * 3), Some(BULK_ROWS * 3));
        g.failed(Group::Register, BULK_ROWS * 3);
        assert_eq!(g.take(Group::Register, 1), None, "not retried at once");
        g.with(Group::Register, |c| c.not_before = Some(std::time::Instant::now()));
        assert_eq!(g.take(Group::Register, 1), Some(BULK_ROWS * 3 + 2), "retried after");
        assert_eq!(g.take(Group::Register, 0), None);
        // A register imported in ten equal parts: analyzed after parts 1, 2, 4 and 8.
        let g = Growth::default();
        let mut held = 0;
        let due: Vec<u64> = (1..=10)
            .filter(|_| {
                held += 100_000;
                let due = g.take(Group::Register, 100_000).is_some();
                if due {
                    g.analyzed(Group::Register, held);
                }
                due
            })
            .collect();
        assert_eq!(due, [1, 2, 4, 8]);
        // Daily re-imports rewriting a twentieth of a 1,000,000-asset
        // register stay with autovacuum; a merger adding a million more does not.
        let g = Growth::default();
        g.analyzed(Group::Register, 1_000_000);
        for _ in 0..30 {
            assert_eq!(g.take(Group::Register, 20_000), None);
        }
        assert_eq!(g.take(Group::Register, 1_000_000), Some(1_600_000));
    }

    /// Regression (whois p99 over its target after a full reconcile on
    /// PostgreSQL): until `host_matches`, just filled by the first full
    /// reconcile, was analyzed, the host lookup by asset tag was planned
    /// for 0.5% of it (the planner's guess without statistics) and run in
    /// parallel — a worker started for each whois, 6-50 ms (`auto_explain`
    /// in the reconcile benchmark). A reconcile that writes a bulk of
    /// matches now analyzes them itself. Both the custom plans of a
    /// prepared statement's first runs and the generic plan after.
    #[test]
    fn hosts_by_asset_use_the_indexes_right_after_a_reconcile_filled_host_matches() {
        let Some(url) = crate::store::testing::postgres_url() else {
            return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set");
        };
        let pg = crate::store::pg::PostgresStore::open_scratch(&url).unwrap();
        // Large enough for a parallel plan (over `min_parallel_table_scan_size`, 8 MB).
        let n = 100_000;
        pg.run(|s| {
            s.batch_execute(&format!(
                "INSERT INTO observations (id, batch_id, ip, seen_ms, body)
                   SELECT i, 'b', '198.18.' || (i / 256) || '.' || (i % 256), 0, repeat('x', 300)
                   FROM generate_series(1, {n}) i;
                 INSERT INTO hosts (ip, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs,
                   observations, ports, names, fingerprint)
                   SELECT ip, 0, 0, 'a', 'b', id, 1, '', '', '' FROM observations;
                 ANALYZE hosts, observations"
            ))?;
            Ok(())
        })
        .unwrap();
        // What a full reconcile's commit writes (a match's evidence is a
        // few hundred bytes) and then reports.
        let written = pg
            .run(|s| {
                Ok(s.execute(
                    "INSERT INTO host_matches (ip, tag, info)
                       SELECT ip, 'A-' || lpad(id::text, 7, '0'), '{\"why\":\"' || repeat('m', 300) || '\"}'
                       FROM observations",
                    &[],
                )?)
            })
            .unwrap();
        pg.grew(Group::Matches, written);
        let (sql, _) = crate::store::shared::whois::HostsBy::Asset("A-0000500").sql();
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let plan = pg
                .run(|s| {
                    s.batch_execute(&format!("SET plan_cache_mode = {mode}; PREPARE q(TEXT) AS {sql}"))?;
                    let plan: Vec<String> = s
                        .query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q('A-0000500')", &[])?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    s.batch_execute("DEALLOCATE q; RESET plan_cache_mode")?;
                    Ok(plan.join("\n"))
                })
                .unwrap();
            assert!(plan.contains("host_matches_by_tag"), "{mode}:\n{plan}");
            assert!(!plan.contains("Gather") && !plan.contains("Seq Scan on hosts"), "{mode}:\n{plan}");
        }
    }
}
