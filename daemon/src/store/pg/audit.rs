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

/// Append records inside the caller's transaction (a change and its audit commit together).
///
/// # Errors
/// [`StoreError::Db`] when an insert fails (the caller's transaction then rolls back).
pub fn append(tx: &mut Tx<'_>, entries: &[AuditEntry]) -> Result<(), StoreError> {
    for e in entries {
        insert(tx, e)?;
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
