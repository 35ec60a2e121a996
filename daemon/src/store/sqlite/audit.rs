//! SQLite: the append-only audit log (triggers refuse updates and deletes;
//! see the schema).

use rusqlite::params;

use super::SqliteStore;
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord};
use crate::store::{AuditStore, StoreError};

fn json(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

fn parse(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

/// Append records inside the caller's transaction (a change and its audit commit together).
pub fn append(c: &rusqlite::Connection, entries: &[AuditEntry]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(
        "INSERT INTO audit (at_ms, actor, action, subject, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for e in entries {
        st.execute(params![e.at_ms, e.actor, e.action.as_str(), e.subject, json(&e.before), json(&e.after)])?;
    }
    Ok(())
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO audit (at_ms, actor, action, subject, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.at_ms, e.actor, e.action.as_str(), e.subject, json(&e.before), json(&e.after)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let (subject_eq, subject_prefix) = f.subject_match();
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, at_ms, actor, action, subject, before, after FROM audit
                 WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2)
                   AND (?3 IS NULL OR subject = ?3) AND (?4 IS NULL OR substr(subject, 1, length(?4)) = ?4)
                   AND (?5 IS NULL OR at_ms >= ?5) AND (?6 IS NULL OR at_ms < ?6) AND (?7 IS NULL OR id < ?7)
                 ORDER BY id DESC LIMIT ?8",
            )?;
            let rows = st.query_map(
                params![
                    f.actor,
                    f.action.map(AuditAction::as_str),
                    subject_eq,
                    subject_prefix,
                    f.since_ms,
                    f.until_ms,
                    f.before_id,
                    f.limit as i64
                ],
                |r| {
                    let action: String = r.get(3)?;
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, action, r.get(4)?, r.get(5)?, r.get(6)?))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (id, at_ms, actor, action, subject, before, after): (
                    i64,
                    i64,
                    String,
                    String,
                    String,
                    Option<String>,
                    Option<String>,
                ) = row?;
                let Ok(action) = action.parse() else { continue };
                out.push(AuditRecord {
                    id,
                    entry: AuditEntry { at_ms, actor, action, subject, before: parse(before), after: parse(after) },
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
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT action, at_ms FROM audit WHERE subject = ?1 AND at_ms >= ?2 ORDER BY at_ms, id LIMIT 1000",
            )?;
            let rows =
                st.query_map(params![subject, since_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (action, at) = row?;
                if let Ok(a) = action.parse::<AuditAction>()
                    && actions.contains(&a)
                {
                    out.push((a, at));
                }
            }
            Ok(out)
        })
    }
}
