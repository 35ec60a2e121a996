//! Backend-neutral parts of the alerts store code (see `store::shared`):
//! the list filter written for either backend's SQL, how evidence, events,
//! history entries, suppression rules and accepted ports are kept as text,
//! which outbox rows are due (in order), and the refusals.

use std::collections::HashMap;

use crate::alerts::lifecycle::Refused;
use crate::alerts::{Alert, AlertEvent, AlertFilter, AlertHistoryEntry, AlertKind, EventKind, Evidence, Suppression};
use crate::reconcile::AssetState;
use crate::store::{OutboxItem, StoreError};

/// Every column of an alert; with [`FROM`], its evidence from `alert_evidence`.
/// Backends read the row by these positions.
pub const COLUMNS: &str =
    "a.id, a.kind, a.subject, a.state, a.severity, a.tag, a.ip, a.mac, a.segment, a.agent, a.summary,
    e.evidence, a.first_seen_ms, a.last_seen_ms, a.opened_ms, a.updated_ms, a.updates, a.acked_by, a.acked_ms,
    a.resolved_by, a.resolved_ms, a.resolution, a.suppressed_by, a.reopened, a.absent_since_ms, a.clear_count,
    a.clear_batch, a.vendor, a.digest, a.rev";

/// The alerts with their evidence.
pub const FROM: &str = "alerts a LEFT JOIN alert_evidence e ON e.alert_id = a.id";

/// Alerts listed when the filter names no limit.
pub const DEFAULT_LIMIT: u32 = 1000;

/// Free-text words of a filter that are looked for, at most.
pub const MAX_WORDS: usize = 16;

/// How long a delivered outbox row is kept (unix ms).
pub const DELIVERED_KEPT_MS: i64 = 7 * 86_400_000;

/// Characters of a delivery error kept with its outbox row.
pub const ERROR_CHARS: usize = 500;

/// The SQL a backend writes differently in an alert filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?N` placeholders, `instr`, ASCII-only `lower`.
    Sqlite,
    /// PostgreSQL: `$N` placeholders, `strpos`, `lower` under the `C`
    /// collation (ASCII only, as SQLite's, whatever the database's locale).
    Postgres,
}

impl Dialect {
    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// `haystack`, lowercased, contains argument `n` (literally: `%` and `_` mean themselves).
    fn contains(self, haystack: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("instr(lower({haystack}), ?{n}) > 0"),
            Dialect::Postgres => format!("strpos(lower(({haystack}) COLLATE \"C\"), ${n}) > 0"),
        }
    }
}

/// An argument of a filter statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// The text the free-text words of a filter are looked for in.
const WORDS_IN: &str = "a.subject || ' ' || a.summary || ' ' || coalesce(a.ip, '') || ' ' || coalesce(a.mac, '')
    || ' ' || coalesce(a.tag, '') || ' ' || coalesce(a.vendor, '')";

/// The `WHERE` clause of `f` (without paging) over `alerts a`, and its arguments.
pub fn filter_sql(f: &AlertFilter, d: Dialect) -> (String, Vec<Arg>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut args: Vec<Arg> = Vec::new();
    let mut eq = |sql: &mut String, column: &str, op: &str, v: Arg| {
        args.push(v);
        sql.push_str(&format!(" AND {column} {op} {}", d.placeholder(args.len())));
    };
    match f.state {
        Some(s) => eq(&mut sql, "a.state", "=", Arg::Text(s.as_str().into())),
        None => sql.push_str(" AND a.state != 'resolved'"),
    }
    if f.include_suppressed == Some(false) {
        sql.push_str(" AND a.state != 'suppressed'");
    }
    if let Some(k) = f.kind {
        eq(&mut sql, "a.kind", "=", Arg::Text(k.as_str().into()));
    }
    if let Some(t) = &f.tag {
        eq(&mut sql, "a.tag", "=", Arg::Text(t.clone()));
    }
    if f.min_severity.is_some() {
        // Words from a closed list, so written into the statement.
        let list: Vec<String> = f.severities().iter().map(|s| format!("'{}'", s.as_str())).collect();
        sql.push_str(&format!(" AND a.severity IN ({})", list.join(", ")));
    }
    if let Some(seg) = &f.segment {
        eq(&mut sql, "a.segment", "=", Arg::Text(seg.clone()));
    }
    if let Some(t) = f.seen_since_ms {
        eq(&mut sql, "a.last_seen_ms", ">=", Arg::Int(t));
    }
    for w in f.words.iter().filter(|w| !w.is_empty()).take(MAX_WORDS) {
        // A substring search, not LIKE: the words are the user's and `%`/`_` mean themselves.
        args.push(Arg::Text(w.to_lowercase()));
        sql.push_str(&format!(" AND {}", d.contains(WORDS_IN, args.len())));
    }
    (sql, args)
}

/// The statement listing the alerts `f` selects, newest first, paged by its
/// cursor and limit, and its arguments.
pub fn list_sql(f: &AlertFilter, d: Dialect) -> (String, Vec<Arg>) {
    let (mut filter, args) = filter_sql(f, d);
    if let Some(id) = f.before_id {
        filter.push_str(&format!(" AND a.id < {id}"));
    }
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    (format!("SELECT {COLUMNS} FROM {FROM}{filter} ORDER BY a.id DESC LIMIT {limit}"), args)
}

/// The statement counting the alerts `f` selects (its cursor and limit
/// ignored), and its arguments.
pub fn count_sql(f: &AlertFilter, d: Dialect) -> (String, Vec<Arg>) {
    let (filter, args) = filter_sql(f, d);
    (format!("SELECT count(*) FROM alerts a{filter}"), args)
}

/// A count read back as the list's `u64` (a negative one cannot happen).
pub fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Stored evidence, read back; evidence that no longer parses (it cannot
/// after migration 5, short of a hand-edited database) is logged and left out.
pub fn stored_evidence(text: &str) -> Option<Evidence> {
    match serde_json::from_str(text) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(error = %e, "stored alert evidence does not parse; left out");
            None
        }
    }
}

/// An alert's evidence as stored (`null` without any).
pub fn evidence_text(a: &Alert) -> String {
    a.evidence.as_ref().and_then(|e| serde_json::to_string(e).ok()).unwrap_or_else(|| "null".into())
}

/// The outbox body of `event` at `at_ms`: the alert as stored now, its full evidence included.
pub fn event_body(event: EventKind, at_ms: i64, alert: Alert) -> String {
    serde_json::to_string(&AlertEvent { event, at_ms, alert }).unwrap_or_default()
}

/// A history row read back; `None` for an event this version does not know.
pub fn history_entry(at_ms: i64, actor: String, event: String, note: Option<String>) -> Option<AlertHistoryEntry> {
    let event = serde_json::from_value::<EventKind>(serde_json::Value::String(event)).ok()?;
    Some(AlertHistoryEntry { at_ms, actor, event, note })
}

/// A suppression rule as stored (its id is the row's).
pub fn suppression_body(s: &Suppression) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Rule `id` read back from its stored body; `None` when it does not parse.
pub fn stored_suppression(id: i64, body: &str) -> Option<Suppression> {
    let mut s = serde_json::from_str::<Suppression>(body).ok()?;
    s.id = id;
    Some(s)
}

/// An asset's reconciliation state read back; `None` when it does not parse.
pub fn stored_asset_state(body: &str) -> Option<AssetState> {
    serde_json::from_str(body).ok()
}

/// The asset state body with `ports` accepted into its baseline (`state`:
/// the stored one, if any), sorted and without repeats.
pub fn with_accepted(state: Option<AssetState>, ports: &[u16]) -> String {
    let mut state = state.unwrap_or_default();
    state.accepted.extend_from_slice(ports);
    state.accepted.sort_unstable();
    state.accepted.dedup();
    serde_json::to_string(&state).unwrap_or_default()
}

/// Keep `a` in `latest` when it is the newest alert of its kind and subject so far.
pub fn keep_latest(latest: &mut HashMap<(AlertKind, String), Alert>, a: Alert) {
    match latest.get(&(a.kind, a.subject.clone())) {
        Some(b) if b.id > a.id => {}
        _ => {
            latest.insert((a.kind, a.subject.clone()), a);
        }
    }
}

/// The outbox rows (each with when it is due next, oldest first) that are
/// due at `now`: those before the first one not yet due, so a sink's events
/// stay in order. Rows after that one are not read.
///
/// # Errors
/// The first row that failed to read, before that one.
pub fn due_in_order<E>(
    rows: impl IntoIterator<Item = Result<(OutboxItem, i64), E>>,
    now: i64,
) -> Result<Vec<OutboxItem>, E> {
    let mut out = Vec::new();
    for row in rows {
        let (item, next) = row?;
        if next > now {
            break;
        }
        out.push(item);
    }
    Ok(out)
}

/// A delivery error as kept with its outbox row.
pub fn error_text(error: &str) -> String {
    error.chars().take(ERROR_CHARS).collect()
}

/// Refusal of a person's action (the lifecycle's reason).
pub fn refused(e: Refused) -> StoreError {
    StoreError::Refused(e.0)
}

/// Refusal of a change made from a revision of alert `id` that is no longer the stored one.
pub fn changed_meanwhile(id: i64) -> StoreError {
    StoreError::Refused(format!("alert {id} changed meanwhile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_arguments_per_dialect() {
        let f = AlertFilter {
            tag: Some("SRV-1".into()),
            seen_since_ms: Some(5),
            words: vec!["A%".into(), String::new()],
            ..Default::default()
        };
        let (sql, args) = filter_sql(&f, Dialect::Postgres);
        assert!(sql.contains("a.tag = $1") && sql.contains("a.last_seen_ms >= $2"), "{sql}");
        assert!(sql.contains("strpos(lower((") && sql.contains("COLLATE \"C\"), $3) > 0"), "{sql}");
        assert_eq!(args, [Arg::Text("SRV-1".into()), Arg::Int(5), Arg::Text("a%".into())]);
        let (sql, _) = filter_sql(&f, Dialect::Sqlite);
        assert!(sql.contains("a.tag = ?1") && sql.contains("instr(lower(") && sql.contains(", ?3) > 0"), "{sql}");
    }

    #[test]
    fn outbox_stops_at_the_first_row_not_due() {
        let item = |id| OutboxItem { id, attempts: 0, event: String::new() };
        let rows = [Ok((item(1), 5)), Ok((item(2), 11)), Err("never read")];
        let due = due_in_order(rows, 10).unwrap();
        assert_eq!(due.iter().map(|i| i.id).collect::<Vec<_>>(), [1]);
    }
}
