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
//! What counts as bulk: [`BULK_ROWS`] rows added to (or rewritten in) one
//! group of tables since this store last analyzed them, and at least as
//! many as it had gained before ([`Growth::add`]) — a register import, a
//! full reconcile's first matches, the first sweeps of a large network.
//! A steady cadence adds few rows (sightings update hosts in
//! place; matches are rewritten only when they change), so this rarely
//! runs then; `ANALYZE` reads a fixed-size sample (30,000 rows at the
//! default statistics target), tens of milliseconds however large the
//! table. It runs after the write committed, on the writer's connection
//! turn, outside any lock; `SKIP_LOCKED` leaves a table autovacuum is
//! working on to it, and a failure is logged (autovacuum still comes).

/// Rows added to a group of tables after which they are analyzed.
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
    const ALL: [Group; 3] = [Group::Register, Group::Matches, Group::Hosts];

    /// The tables of the group, as `ANALYZE` takes them.
    pub fn tables(self) -> &'static str {
        match self {
            Group::Register => "assets, asset_keys, asset_history",
            Group::Matches => "host_matches, asset_state",
            Group::Hosts => "hosts, host_names, mac_ip",
        }
    }

    fn index(self) -> usize {
        Group::ALL.iter().position(|g| *g == self).unwrap_or_default()
    }
}

/// Rows added to each [`Group`]: since this store last analyzed it, and
/// in all.
#[derive(Debug, Default)]
pub struct Growth(std::sync::Mutex<[(u64, u64); 3]>);

impl Growth {
    /// Count `rows` added to `group`; `true` (and the count since restarted)
    /// when they bring it to [`BULK_ROWS`] and to as many as the group had
    /// gained in all before: the caller analyzes the group. So a table
    /// filled from nothing is analyzed at 10,000 rows, 20,000, 40,000 …
    /// (a 1,000,000-asset import in ten parts, four times rather than ten),
    /// and one that grows slowly is left to autovacuum.
    pub fn add(&self, group: Group, rows: u64) -> bool {
        if rows == 0 {
            return false;
        }
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (since, total) = &mut g[group.index()];
        *since += rows;
        *total += rows;
        if *since < BULK_ROWS || *since * 2 < *total {
            return false;
        }
        *since = 0;
        true
    }
}

impl super::PostgresStore {
    /// Note `rows` added to `group` by a committed write, and analyze the
    /// group when that makes it a bulk write (see the module docs).
    pub(super) fn grew(&self, group: Group, rows: u64) {
        if !self.growth.add(group, rows) {
            return;
        }
        let started = std::time::Instant::now();
        match self.autocommit(&format!("ANALYZE (SKIP_LOCKED) {}", group.tables())) {
            Ok(()) => tracing::debug!(
                tables = group.tables(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "analyzed after a bulk write"
            ),
            Err(e) => {
                tracing::warn!(tables = group.tables(), error = %e, "analyze after a bulk write failed; autovacuum will do it")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BULK_ROWS, Group, Growth};

    #[test]
    fn a_group_is_due_once_per_bulk_and_groups_count_apart() {
        let g = Growth::default();
        assert!(!g.add(Group::Hosts, BULK_ROWS - 1));
        assert!(!g.add(Group::Matches, BULK_ROWS - 1), "another group's rows do not count");
        assert!(g.add(Group::Hosts, 1), "the bulk reached");
        assert!(!g.add(Group::Hosts, BULK_ROWS - 1), "counted afresh");
        assert!(g.add(Group::Hosts, 1), "as many again as before: due");
        // 20,000 in all: due again after 20,000 more, not 10,000.
        assert!(!g.add(Group::Hosts, BULK_ROWS));
        assert!(g.add(Group::Hosts, BULK_ROWS));
        assert!(g.add(Group::Register, BULK_ROWS * 3), "one large write is due at once");
        assert!(!g.add(Group::Register, 0));
        // A register imported in ten equal parts: analyzed after parts 1, 2, 4 and 8.
        let g = Growth::default();
        let due: Vec<usize> = (1..=10).filter(|_| g.add(Group::Register, 100_000)).collect();
        assert_eq!(due, [1, 2, 4, 8]);
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
