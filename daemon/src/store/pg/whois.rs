//! PostgreSQL: whois, the certificate inventory and report data.
//!
//! A whois answer is resolved through indexed lookups only (observed hosts,
//! reconciliation's matches, the register's keys, observed names); which
//! are made, in what order, and the answer made of them are in
//! [`crate::store::shared::whois`], shared with SQLite. A name prefix is a
//! range scan in byte order (text columns are `COLLATE "C"`), as in SQLite.
//!
//! Each statement is the connection's prepared statement
//! (`Tx::query_prepared`, see `session.rs`): one round trip, and planned
//! once per connection rather than on every call — a whois makes up to
//! ten of them, where planning took longer than running.

use postgres::types::Type;

use super::{PostgresStore, Tx};
use crate::alerts::{Alert, AlertFilter};
use crate::reconcile::AssetState;
use crate::register::Asset;
use crate::store::shared::whois::{CertificateHostRow, CertificateInventory, HostRow, HostsBy, Lookups, RegisterKey};
use crate::store::{QueryStore, StoreError};
use crate::whois::WhoisData;

/// [`Lookups::tag_nocase`]'s statement: through the `lower(tag)` index,
/// then sorted (why the `OFFSET 0`: [`super::assets::ONE_SQL`]).
const TAG_NOCASE_SQL: &str = "SELECT tag FROM (SELECT tag FROM assets
     WHERE lower(tag) = lower($1 COLLATE \"C\") OFFSET 0) t ORDER BY tag LIMIT 1";

/// [`Lookups`] in one read transaction.
struct Postgres<'t, 'c>(&'t mut Tx<'c>);

impl Lookups for Postgres<'_, '_> {
    fn hosts(&mut self, by: HostsBy<'_>) -> Result<Vec<HostRow>, StoreError> {
        let (sql, arg) = by.sql();
        Ok(self
            .0
            .query_prepared(&sql, &[(&arg, Type::TEXT)])?
            .iter()
            .map(|r| HostRow {
                ip: r.get(0),
                mac: r.get(1),
                first_seen_ms: r.get(2),
                last_seen_ms: r.get(3),
                last_agent: r.get(4),
                info: r.get(5),
                body: r.get(6),
                tag: r.get(7),
            })
            .collect())
    }

    fn register_tags(&mut self, key: RegisterKey<'_>) -> Result<Vec<String>, StoreError> {
        let (sql, [a, b]) = key.tags_sql();
        Ok(self.0.query_prepared(&sql, &[(&a, Type::TEXT), (&b, Type::TEXT)])?.iter().map(|r| r.get(0)).collect())
    }

    fn register_count(&mut self, key: RegisterKey<'_>) -> Result<i64, StoreError> {
        let (sql, [a, b]) = key.count_sql();
        Ok(self.0.query_prepared_opt(&sql, &[(&a, Type::TEXT), (&b, Type::TEXT)])?.map_or(0, |r| r.get(0)))
    }

    fn tag_nocase(&mut self, tag: &str) -> Result<Option<String>, StoreError> {
        // SQLite's NOCASE folds ASCII only; lower() agrees on the tags the
        // register accepts and is what the index serves.
        let row = self.0.query_prepared_opt(TAG_NOCASE_SQL, &[(&tag, Type::TEXT)])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn asset(&mut self, tag: &str) -> Result<Option<Asset>, StoreError> {
        super::assets::one(self.0, tag)
    }

    fn asset_state(&mut self, tag: &str) -> Result<Option<AssetState>, StoreError> {
        super::reconcile::asset_state(self.0, tag)
    }

    fn live_alerts(&mut self, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError> {
        super::alerts::live_about(self.0, tag, ips)
    }
}

/// Addresses whose latest sighting served a certificate (`"tls"` is written
/// into the sighting only when one was), with their latest observations.
fn certificate_hosts(tx: &mut Tx<'_>) -> Result<Vec<crate::certificates::HostTls>, StoreError> {
    let served = tx
        .query("SELECT ip, port, sha256, first_ms FROM served_certificates", &[])?
        .iter()
        // A port outside 0..=65535 cannot have been written by ingest: skipped.
        .filter_map(|r| Some((r.get(0), u16::try_from(r.get::<_, i64>(1)).ok()?, r.get(2), r.get(3))))
        .collect::<Vec<_>>();
    let mut inventory = CertificateInventory::new(served);
    let rows = tx.query(
        "SELECT h.ip, h.last_seen_ms, h.last_agent, m.tag, o.body FROM hosts h
           JOIN observations o ON o.id = h.latest_obs LEFT JOIN host_matches m ON m.ip = h.ip
          WHERE strpos(h.sighting, '\"tls\"') > 0 ORDER BY h.ip",
        &[],
    )?;
    for r in &rows {
        inventory.push(CertificateHostRow {
            ip: r.get(0),
            last_seen_ms: r.get(1),
            agent: r.get(2),
            asset: r.get(3),
            body: r.get(4),
        });
    }
    Ok(inventory.finish())
}

impl QueryStore for PostgresStore {
    fn whois(&self, query: &str) -> Result<Option<WhoisData>, StoreError> {
        self.read(|tx| crate::store::shared::whois::whois(&mut Postgres(tx), query))
    }

    fn certificate_hosts(&self) -> Result<Vec<crate::certificates::HostTls>, StoreError> {
        self.read(certificate_hosts)
    }

    fn report_data(&self) -> Result<crate::report::ReportData, StoreError> {
        self.read(|tx| {
            Ok(crate::report::ReportData {
                assets: super::assets::all(tx)?,
                states: super::reconcile::asset_states(tx, None)?,
                alerts: super::alerts::list(tx, &AlertFilter { limit: Some(1_000_000), ..Default::default() })?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TAG_NOCASE_SQL;
    use crate::store::pg::PostgresStore;
    use crate::store::pg::assets::ONE_SQL;

    /// Regression: right after a register import, before autovacuum has
    /// analyzed it, looking up a tag that is not there (every whois of a
    /// name or serial asks) walked the whole primary key.
    #[test]
    fn tag_lookups_read_the_case_folded_index_before_any_analyze() {
        let Some(url) = crate::store::testing::postgres_url() else {
            return eprintln!("skipped: CENSUS_TEST_POSTGRES is not set");
        };
        let pg = PostgresStore::open_scratch(&url).unwrap();
        pg.run(|s| {
            s.batch_execute(
                "INSERT INTO assets (tag, body, lifecycle, updated_ms)
                 SELECT 'A-' || lpad(i::text, 6, '0'), '{}', 'in_use', 0 FROM generate_series(1, 20000) i",
            )?;
            for sql in [TAG_NOCASE_SQL, ONE_SQL] {
                s.batch_execute(&format!("PREPARE q(TEXT) AS {sql}"))?;
                let plan: Vec<String> = s
                    .query(
                        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q('host-1.corp.example')",
                        &[],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                s.batch_execute("DEALLOCATE q")?;
                let plan = plan.join("\n");
                assert!(plan.contains("assets_by_tag_nocase"), "{sql}\n{plan}");
                assert!(!plan.contains("Rows Removed by Filter"), "{sql}\n{plan}");
            }
            Ok(())
        })
        .unwrap();
    }
}
