//! What an import or a sync would do to the directory, and the entries to
//! write: pure functions over the current directory and what came in.
//!
//! - A file import ([`merge_file`]) adds the ids it does not know and
//!   changes only the fields its rows name; people it leaves out stay as
//!   they are (an import never destroys what it was not asked to change).
//! - An LDAP sync ([`merge_snapshot`]) sees the whole directory subtree: it
//!   writes each entry it found, and marks left (on the sync's day) those it
//!   wrote before and no longer finds — deleted or moved out of the filter.
//!   Entries from files are never touched by a sync.
//!
//! Either way nothing is deleted, and the plan lists who is added, changed
//! (field by field, before and after) and who departs with this change.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::{DirectoryEntry, EntryKind, PersonStatus, SOURCE_LDAP, id_key};
use crate::register::Day;
use crate::register::csv::ImportError;
use crate::register::patch::Patch;
use crate::register::plan::FieldChange;

/// One entry an import changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EntryChange {
    /// The entry's id.
    pub id: String,
    /// Fields whose value changes, with before and after.
    pub changes: Vec<FieldChange>,
}

/// What an import or sync would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DirectoryPlan {
    /// Ids of new entries.
    pub added: Vec<String>,
    /// Existing entries that change (departures included).
    pub changed: Vec<EntryChange>,
    /// Ids of people (or teams) this change marks as left.
    pub departed: Vec<String>,
    /// Entries left as they are.
    pub unchanged: usize,
    /// What a sync left out and why (an LDAP entry without the id attribute).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// A plan and the entries to write for it (added and changed only).
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// What changes.
    pub plan: DirectoryPlan,
    /// The entries to write.
    pub write: Vec<DirectoryEntry>,
}

fn field_changes(old: &DirectoryEntry, new: &DirectoryEntry) -> Vec<FieldChange> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| f.as_str() != "source" && a.get(*f) != b.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            before: a.get(f).cloned().unwrap_or(Value::Null),
            after: b.get(f).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// Adds `new` (replacing `old` when given) to the plan and the writes.
fn record(m: &mut Merged, old: Option<&DirectoryEntry>, new: DirectoryEntry, today: Day) {
    match old {
        None => {
            if new.gone(today) {
                m.plan.departed.push(new.id.clone());
            }
            m.plan.added.push(new.id.clone());
            m.write.push(new);
        }
        Some(old) => {
            let changes = field_changes(old, &new);
            if changes.is_empty() && old.source == new.source {
                m.plan.unchanged += 1;
                return;
            }
            if new.gone(today) && !old.gone(today) {
                m.plan.departed.push(new.id.clone());
            }
            if !changes.is_empty() {
                m.plan.changed.push(EntryChange { id: new.id.clone(), changes });
            }
            m.write.push(new);
        }
    }
}

/// Apply one row's named fields to `e`, collecting problems.
fn apply(e: &mut DirectoryEntry, p: &Patch, errors: &mut Vec<ImportError>, today: Day) {
    let was_gone = e.gone(today);
    let err = |column: &str, message: String| ImportError { row: p.row, line: p.line, column: column.into(), message };
    let mut status_given = false;
    let mut left_on_given = false;
    for (field, v) in &p.values {
        let Some(s) = v.as_str() else {
            errors.push(err(field, "must be a string".into()));
            continue;
        };
        let s = s.trim();
        match field.as_str() {
            "id" => {}
            "kind" => match s.parse::<EntryKind>() {
                Ok(k) => e.kind = k,
                Err(m) => errors.push(err(field, m)),
            },
            "name" => e.name = s.to_string(),
            "email" => e.email = s.to_string(),
            "team" => e.team = s.to_string(),
            "manager" => e.manager = s.to_string(),
            "status" => match super::file::status(s) {
                Ok(st) => {
                    e.status = st;
                    status_given = true;
                }
                Err(m) => errors.push(err(field, m)),
            },
            "left_on" => match s.parse::<Day>() {
                Ok(d) => {
                    e.left_on = Some(d);
                    left_on_given = true;
                }
                Err(m) => errors.push(err(field, m)),
            },
            _ => errors.push(err(field, "unknown field".into())),
        }
    }
    // Someone back (rehired, a leaver record withdrawn) loses the old leave date.
    if status_given && e.status == PersonStatus::Active && !left_on_given {
        e.left_on = None;
    }
    // Marked left without a date: left on the day the import recorded it.
    if status_given && e.status == PersonStatus::Left && !left_on_given && !was_gone {
        e.left_on = Some(today);
    }
    for (field, message) in e.check() {
        errors.push(err(field, message));
    }
}

/// Merge a file's rows into the directory as of `today`.
///
/// # Errors
/// Every problem of every row (bad values, an id given twice); nothing is
/// to be written then.
pub fn merge_file(current: &[DirectoryEntry], rows: &[Patch], today: Day) -> Result<Merged, Vec<ImportError>> {
    let by_key: HashMap<String, &DirectoryEntry> = current.iter().map(|e| (id_key(&e.id), e)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut errors = Vec::new();
    let mut m = Merged::default();
    for p in rows {
        let id = p.tag.trim();
        if id.is_empty() {
            errors.push(ImportError { row: p.row, line: p.line, column: "id".into(), message: "is empty".into() });
            continue;
        }
        if let Some(first) = seen.insert(id_key(id), p.row) {
            errors.push(ImportError {
                row: p.row,
                line: p.line,
                column: "id".into(),
                message: format!("`{id}` is also on row {first}; give each person one row"),
            });
            continue;
        }
        if p.values.get("id").is_some_and(|v| !v.is_string()) {
            errors.push(ImportError {
                row: p.row,
                line: p.line,
                column: "id".into(),
                message: "must be a string".into(),
            });
            continue;
        }
        let old = by_key.get(&id_key(id)).copied();
        // An entry keeps its source: a file naming someone the LDAP sync
        // keeps must not take them out of its leaver detection (the sync
        // writes them whole again anyway).
        let mut e = old.cloned().unwrap_or_else(|| DirectoryEntry::person(id, id, super::SOURCE_FILE));
        apply(&mut e, p, &mut errors, today);
        record(&mut m, old, e, today);
    }
    if errors.is_empty() { Ok(m) } else { Err(errors) }
}

/// Merge a directory snapshot (every entry an LDAP search returned) as of `today`.
///
/// Entries in `found` are written with source `ldap`; entries the sync
/// wrote before that are not in `found` are marked left on `today` (their
/// leave date kept if they had one). An id found twice keeps the first.
pub fn merge_snapshot(current: &[DirectoryEntry], found: Vec<DirectoryEntry>, today: Day) -> Merged {
    let by_key: HashMap<String, &DirectoryEntry> = current.iter().map(|e| (id_key(&e.id), e)).collect();
    let mut incoming: BTreeMap<String, DirectoryEntry> = BTreeMap::new();
    for mut e in found {
        e.source = SOURCE_LDAP.into();
        incoming.entry(id_key(&e.id)).or_insert(e);
    }
    let mut m = Merged::default();
    for (key, e) in &incoming {
        let old = by_key.get(key).copied();
        let mut e = e.clone();
        // Disabled without a date the directory keeps: since the sync that
        // first saw it (kept from then on, not moved to each sync's day).
        if e.status == PersonStatus::Left && e.left_on.is_none() {
            e.left_on = old.filter(|o| o.gone(today)).and_then(|o| o.left_on).or(Some(today));
        }
        record(&mut m, old, e, today);
    }
    for old in current.iter().filter(|e| e.source == SOURCE_LDAP && !incoming.contains_key(&id_key(&e.id))) {
        if old.status == PersonStatus::Left {
            m.plan.unchanged += 1;
            continue;
        }
        let gone = DirectoryEntry { status: PersonStatus::Left, left_on: old.left_on.or(Some(today)), ..old.clone() };
        record(&mut m, Some(old), gone, today);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::file::{Format, parse};
    use crate::register::csv::CsvOptions;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn rows(csv: &str) -> Vec<Patch> {
        let (p, e) = parse(csv.as_bytes(), Format::Csv(CsvOptions::default()));
        assert!(e.is_empty(), "{e:?}");
        p
    }

    #[test]
    fn a_file_adds_changes_and_records_leavers_without_touching_others() {
        let today = day("2026-12-03");
        let first = merge_file(&[], &rows("id,name,team\nu1,Ada,ops\nu2,Bob,ops\nu3,Cy,dev\n"), today).unwrap();
        assert_eq!(first.plan.added, ["u1", "u2", "u3"]);
        let current = first.write;
        let second = merge_file(&current, &rows("id,status,left_on\nU2,left,2026-11-26\n"), today).unwrap();
        assert_eq!(second.plan.added, Vec::<String>::new());
        assert_eq!(second.plan.departed, ["u2"]);
        assert_eq!(second.plan.changed.len(), 1);
        let fields: Vec<&str> = second.plan.changed[0].changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["left_on", "status"]);
        assert_eq!(second.write.len(), 1, "only the changed entry is written");
        assert_eq!(second.write[0].name, "Bob", "fields the file leaves out stay");
        assert_eq!(second.write[0].id, "u2", "the id keeps its stored spelling");
    }

    #[test]
    fn a_file_naming_someone_the_sync_keeps_leaves_them_to_the_sync() {
        let today = day("2026-12-03");
        let synced = merge_snapshot(&[], vec![DirectoryEntry::person("u1", "Ada", "x")], today).write;
        let exported = rows("id,kind,name,email,team,manager,status,left_on\nu1,person,Ada,,,,active,\n");
        let again = merge_file(&synced, &exported, today).unwrap();
        assert_eq!((again.plan.unchanged, again.write.len()), (1, 0), "an export re-imports unchanged");
        let changed = merge_file(&synced, &rows("id,team\nu1,ops\n"), today).unwrap();
        assert_eq!(changed.write[0].source, SOURCE_LDAP, "still the sync's");
        let left = merge_file(&synced, &rows("id,status\nu1,left\n"), today).unwrap();
        assert_eq!(left.write[0].left_on, Some(today), "left without a date: on the import's day");
    }

    #[test]
    fn back_to_active_drops_the_old_leave_date() {
        let today = day("2026-12-03");
        let current = merge_file(&[], &rows("id,status,left_on\nu1,left,2026-01-31\n"), today).unwrap().write;
        let back = merge_file(&current, &rows("id,status\nu1,active\n"), today).unwrap();
        assert_eq!(back.write[0].left_on, None);
        assert!(!back.write[0].gone(today));
    }

    #[test]
    fn every_bad_row_is_named_and_nothing_is_written() {
        let csv = "id,kind,status,left_on,email\nu1,robot,,,\nu2,,gone,31/12/2026,\nu1,,,,\nu4,,,,x y@z\n";
        let errors = merge_file(&[], &rows(csv), day("2026-12-03")).unwrap_err();
        let named: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(named, [(1, "kind"), (2, "left_on"), (2, "status"), (3, "id"), (4, "email")]);
    }

    #[test]
    fn json_values_must_be_strings() {
        let (p, _) = parse(br#"[{"id":"u1","status":true}]"#, Format::Json);
        let errors = merge_file(&[], &p, day("2026-12-03")).unwrap_err();
        assert_eq!((errors[0].row, errors[0].column.as_str()), (1, "status"));
    }

    #[test]
    fn a_sync_marks_those_it_no_longer_finds_and_leaves_file_entries_alone() {
        let today = day("2026-12-03");
        let file = merge_file(&[], &rows("id,name\nc1,Contractor\n"), today).unwrap().write;
        let found = vec![DirectoryEntry::person("u1", "Ada", "x"), DirectoryEntry::person("u2", "Bob", "x")];
        let mut current = file.clone();
        let first = merge_snapshot(&current, found, today);
        assert_eq!(first.plan.added, ["u1", "u2"]);
        current.extend(first.write);
        let again = merge_snapshot(&current, vec![DirectoryEntry::person("u1", "Ada", "x")], today);
        assert_eq!(again.plan.departed, ["u2"]);
        assert_eq!(again.write.len(), 1);
        assert_eq!(again.write[0].left_on, Some(today));
        assert_eq!(again.plan.unchanged, 1, "u1 as it was; c1 is not the sync's");
    }

    #[test]
    fn a_disabled_account_without_a_date_left_on_the_first_sync_that_saw_it() {
        let first_day = day("2026-12-03");
        let disabled = || DirectoryEntry { status: PersonStatus::Left, ..DirectoryEntry::person("u1", "Ada", "x") };
        let m = merge_snapshot(&[], vec![disabled()], first_day);
        assert_eq!(m.write[0].left_on, Some(first_day));
        assert_eq!(m.plan.departed, ["u1"]);
        let later = merge_snapshot(&m.write, vec![disabled()], day("2026-12-10"));
        assert_eq!(later.plan.unchanged, 1, "the date stays: {:?}", later.plan);
        assert!(later.write.is_empty());
    }
}
