//! PostgreSQL: the append-only audit log (triggers refuse updates, deletes
//! and truncation, whoever asks; see the schema).

use super::{PostgresStore, Tx};
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord};
use crate::store::{AuditStore, StoreError};

fn json(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

fn parse(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

const INSERT: &str =
    "INSERT INTO audit (at_ms, actor, action, subject, before, after) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

fn insert(tx: &mut Tx<'_>, e: &AuditEntry) -> Result<i64, StoreError> {
    let row =
        tx.query_one(INSERT, &[&e.at_ms, &e.actor, &e.action.as_str(), &e.subject, &json(&e.before), &json(&e.after)])?;
    Ok(row.get(0))
}

/// Records per statement of [`append`]: each may carry an asset before and
/// after (about a kilobyte each), so a statement stays a few megabytes.
const APPEND_CHUNK: usize = 1_000;

/// Append records inside the caller's transaction (a change and its audit
/// commit together), in order (ids ascending), one statement per
/// [`APPEND_CHUNK`] records — not one round trip each: an import's
/// transaction holds the write lock, and 10,000 round trips over a link of
/// a few milliseconds held it for over a minute (review).
///
/// # Errors
/// [`StoreError::Db`] when an insert fails (the caller's transaction then rolls back).
pub fn append(tx: &mut Tx<'_>, entries: &[AuditEntry]) -> Result<(), StoreError> {
    use postgres::types::Type;
    for chunk in entries.chunks(APPEND_CHUNK) {
        let at: Vec<i64> = chunk.iter().map(|e| e.at_ms).collect();
        let actors: Vec<&str> = chunk.iter().map(|e| e.actor.as_str()).collect();
        let actions: Vec<&str> = chunk.iter().map(|e| e.action.as_str()).collect();
        let subjects: Vec<&str> = chunk.iter().map(|e| e.subject.as_str()).collect();
        let before: Vec<Option<String>> = chunk.iter().map(|e| json(&e.before)).collect();
        let after: Vec<Option<String>> = chunk.iter().map(|e| json(&e.after)).collect();
        tx.execute_typed(
            "INSERT INTO audit (at_ms, actor, action, subject, before, after)
             SELECT u.at, u.actor, u.action, u.subject, u.before, u.after
             FROM UNNEST($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS u(at, actor, action, subject, before, after, n)
             ORDER BY u.n",
            &[
                (&at, Type::INT8_ARRAY),
                (&actors, Type::TEXT_ARRAY),
                (&actions, Type::TEXT_ARRAY),
                (&subjects, Type::TEXT_ARRAY),
                (&before, Type::TEXT_ARRAY),
                (&after, Type::TEXT_ARRAY),
            ],
        )?;
    }
    Ok(())
}

impl AuditStore for PostgresStore {
    fn append_audit(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        self.write(|tx| insert(tx, e))
    }

    fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let (subject_eq, subject_prefix) = f.subject_match();
        let action = f.action.map(AuditAction::as_str);
        let limit = f.limit as i64;
        self.read(|tx| {
            let rows = tx.query(
                "SELECT id, at_ms, actor, action, subject, before, after FROM audit
                 WHERE ($1::TEXT IS NULL OR actor = $1) AND ($2::TEXT IS NULL OR action = $2)
                   AND ($3::TEXT IS NULL OR subject = $3)
                   AND ($4::TEXT IS NULL OR substr(subject, 1, length($4)) = $4)
                   AND ($5::BIGINT IS NULL OR at_ms >= $5) AND ($6::BIGINT IS NULL OR at_ms < $6)
                   AND ($7::BIGINT IS NULL OR id < $7)
                 ORDER BY id DESC LIMIT $8",
                &[&f.actor, &action, &subject_eq, &subject_prefix, &f.since_ms, &f.until_ms, &f.before_id, &limit],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let Ok(action) = r.get::<_, String>(3).parse() else { continue };
                out.push(AuditRecord {
                    id: r.get(0),
                    entry: AuditEntry {
                        at_ms: r.get(1),
                        actor: r.get(2),
                        action,
                        subject: r.get(4),
                        before: parse(r.get(5)),
                        after: parse(r.get(6)),
                    },
                });
            }
            Ok(out)
        })
    }

    fn recent_audit(
        &self,
        subject: &str,
        actions: &[AuditAction],
        since_ms: i64,
    ) -> Result<Vec<(AuditAction, i64)>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT action, at_ms FROM audit WHERE subject = $1 AND at_ms >= $2 ORDER BY at_ms, id LIMIT 1000",
                &[&subject, &since_ms],
            )?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let a = r.get::<_, String>(0).parse::<AuditAction>().ok()?;
                    actions.contains(&a).then(|| (a, r.get(1)))
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::{AuditAction, AuditEntry};
    use crate::store::{AuditStore, PostgresStore};

    /// An import's records go in a statement per thousand, not a round
    /// trip each (review: 10,000 round trips held the write lock for over
    /// a minute on a link of a few milliseconds): across the statements'
    /// seams every record is stored whole and in order. Needs
    /// `CENSUS_TEST_POSTGRES`.
    #[test]
    fn many_records_are_appended_whole_and_in_order() {
        use crate::audit::AuditFilter;
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let store = PostgresStore::open_scratch(&url).unwrap();
        let entries: Vec<AuditEntry> = (0..2_500)
            .map(|i| AuditEntry {
                at_ms: 1_000 + i,
                actor: "importer".into(),
                action: AuditAction::RegisterImport,
                subject: format!("asset:SRV-{i}"),
                before: (i % 2 == 0).then(|| serde_json::json!({"n": i})),
                after: Some(serde_json::json!({"n": i, "name": "ünïcode"})),
            })
            .collect();
        store.write(|tx| super::append(tx, &entries)).unwrap();
        let filter = AuditFilter { actor: Some("importer".into()), limit: 5_000, ..AuditFilter::default() };
        let mut stored = store.audit(&filter).unwrap();
        stored.reverse(); // newest first
        assert_eq!(stored.len(), entries.len());
        assert!(stored.windows(2).all(|w| w[0].id < w[1].id), "ids ascend in the order appended");
        for (record, entry) in stored.iter().zip(&entries) {
            assert_eq!(&record.entry, entry);
        }
    }

    /// The log refuses edits below the store too: UPDATE, DELETE and TRUNCATE
    /// fail naming why, and the record stays. Needs `CENSUS_TEST_POSTGRES`.
    #[test]
    fn the_audit_log_refuses_edits_in_the_database() {
        let Some(url) = crate::store::testing::postgres_url() else { return };
        let store = PostgresStore::open_scratch(&url).unwrap();
        let entry = AuditEntry {
            at_ms: 1,
            actor: "admin".into(),
            action: AuditAction::PersonAdd,
            subject: "person:alice".into(),
            before: None,
            after: Some(serde_json::json!({"role": "viewer"})),
        };
        store.append_audit(&entry).unwrap();
        for sql in ["UPDATE audit SET actor = 'nobody'", "DELETE FROM audit", "TRUNCATE audit"] {
            let refused = store.write(|tx| Ok(tx.batch_execute(sql)?)).unwrap_err();
            assert!(refused.to_string().contains("append-only"), "{sql}: {refused}");
        }
        let kept = store.audit(&crate::audit::AuditFilter { limit: 10, ..Default::default() }).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].entry.actor, "admin");
    }
}
