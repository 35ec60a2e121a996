//! An import as changes to the register, never as a loss of data.
//!
//! Each row (or JSON object) is a [`Patch`]: the fields it names. Applying
//! an import is a **merge** by default — fields the file does not name are
//! left as they are, so a file of `tag,lifecycle` moves assets between
//! lifecycle stages without touching their owners, MACs or licences; an
//! empty cell clears its field only with `clear_empty` (the plan says how
//! many empty cells it left alone); `replace` keeps the older behaviour of
//! writing each row as the whole asset.
//!
//! Across the file and the stored register: tags are unique
//! case-insensitively (a row `cb-1017` updates the stored `CB-1017`, two
//! rows `CB-1017` and `cb-1017` are an error naming both), and a MAC (in
//! any notation) belongs to one asset only. Every error names the data row
//! and the column. Pure: the store runs [`merge`] inside the import's
//! transaction.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::csv::ImportError;
use super::model::{Asset, asset_from_json, part_errors, top_field};
use super::plan::{Change, FieldChange, ImportPlan};

/// One row of an import: the fields it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    /// Data row (1-based).
    pub row: usize,
    /// File line, for CSV.
    pub line: Option<u64>,
    /// The tag as written.
    pub tag: String,
    /// Fields with a value, as JSON.
    pub values: Map<String, Value>,
    /// Fields present but empty.
    pub empties: Vec<String>,
    /// CSV list cells: each item's place in its cell (1-based, empty items
    /// counted, as a person counts them), by column: `a;;zz` puts `zz` 3rd.
    pub places: HashMap<String, Vec<usize>>,
}

/// How an import applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Each row is the whole asset (fields it leaves out are reset).
    pub replace: bool,
    /// An empty cell clears its field.
    pub clear_empty: bool,
}

/// Fields an asset cannot be without.
const REQUIRED: &[&str] = &["tag", "name", "type", "lifecycle"];

/// What a merge produces: the assets to write (new or changed) and the plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// Assets to create or update, as they will be stored.
    pub assets: Vec<Asset>,
    /// What the import does, field by field.
    pub plan: ImportPlan,
}

fn err(p: &Patch, column: &str, message: String) -> ImportError {
    ImportError { row: p.row, line: p.line, column: column.to_string(), message }
}

/// A field's fault as reported: JSON keeps the field's path
/// (`macs[1]`); a CSV error names the column by its header and the item of
/// a list cell by its place among the cell's items (`item 2 of the cell: …`).
fn field_err(p: &Patch, field: String, message: String) -> ImportError {
    if p.line.is_none() {
        return err(p, &field, message);
    }
    let column = top_field(&field);
    let item = field[column.len()..]
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse::<usize>().ok());
    let place = |i: usize| p.places.get(column).and_then(|at| at.get(i).copied()).unwrap_or(i + 1);
    match item {
        Some(i) => err(p, column, format!("item {} of the cell: {message}", place(i))),
        None => err(p, column, message),
    }
}

/// Merge `patches` into the `current` register.
///
/// # Errors
/// Every problem found: a bad field, a tag twice, a new asset without its
/// required fields, a MAC on two assets.
pub fn merge(current: &[Asset], patches: &[Patch], opts: ImportOptions) -> Result<Merged, Vec<ImportError>> {
    let by_tag: HashMap<String, &Asset> = current.iter().map(|a| (a.tag.to_ascii_lowercase(), a)).collect();
    let mut errors = Vec::new();
    let mut rows_by_tag: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<(usize, Option<&Asset>, Asset)> = Vec::new();
    let mut plan = ImportPlan::default();
    for p in patches {
        if p.tag.is_empty() {
            let message = match p.values.get("tag") {
                Some(v) if !v.is_string() => {
                    format!("the tag must be text, not {}", v.to_string().chars().take(40).collect::<String>())
                }
                _ => "the tag is empty or missing".into(),
            };
            errors.push(err(p, "tag", message));
            // Which asset it is stays unknown; the rest of the row is still checked.
            errors.extend(part_errors(&p.values).into_iter().map(|f| field_err(p, f.field, f.message)));
            continue;
        }
        let key = p.tag.to_ascii_lowercase();
        if let Some(first) = rows_by_tag.insert(key.clone(), p.row) {
            errors.push(err(
                p,
                "tag",
                format!("tag `{}` is also on row {first} (tags are unique, whatever their case)", p.tag),
            ));
            continue;
        }
        let old = by_tag.get(&key).copied();
        let mut body = match (old, opts.replace) {
            (Some(a), false) => match serde_json::to_value(a) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        for (k, v) in &p.values {
            body.insert(k.clone(), v.clone());
        }
        // The stored spelling of a tag wins.
        body.insert("tag".into(), Value::String(old.map_or(p.tag.clone(), |a| a.tag.clone())));
        if opts.clear_empty {
            for k in &p.empties {
                if REQUIRED.contains(&k.as_str()) && old.is_some() {
                    errors.push(err(p, k, format!("`{k}` cannot be emptied; every asset needs one")));
                }
                body.remove(k);
            }
        } else {
            plan.kept_empty +=
                p.empties.iter().filter(|k| old.is_some_and(|_| !opts.replace) && k.as_str() != "tag").count();
        }
        if let Some(a) = old
            && p.values.contains_key("lifecycle")
            && !p.values.contains_key("lifecycle_since")
            && p.values["lifecycle"].as_str().is_some_and(|l| !l.eq_ignore_ascii_case(a.lifecycle.as_str()))
        {
            // A new stage without a date is dated on the day it is stored.
            body.remove("lifecycle_since");
        }
        // Each required field missing is named, and the rest of the row is
        // still read, so its other faults are named with them.
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| !body.contains_key(*k)).collect();
        let why = if old.is_none() { "a new asset" } else { "a row that replaces its asset" };
        for k in &missing {
            errors.push(err(p, k, format!("{k} is required for {why}, and missing here")));
        }
        match asset_from_json(Value::Object(body)) {
            Ok(a) if missing.is_empty() => merged.push((p.row, old, a)),
            Ok(_) => {}
            Err(fields) => {
                for f in fields.into_iter().filter(|f| !missing.contains(&f.field.as_str())) {
                    errors.push(field_err(p, f.field, f.message));
                }
            }
        }
    }
    check_macs(current, &merged, patches, &mut errors);
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(errors);
    }
    let mut out = Vec::new();
    for (_, old, new) in merged {
        match old {
            None => {
                plan.added.push(new.tag.clone());
                out.push(new);
            }
            Some(old) => {
                let mut cmp = new.clone();
                if cmp.lifecycle_since.is_none() && cmp.lifecycle == old.lifecycle {
                    cmp.lifecycle_since = old.lifecycle_since;
                }
                let fields = field_changes(old, &cmp);
                if fields.is_empty() {
                    plan.unchanged += 1;
                    continue;
                }
                if new.lifecycle.retired() && !old.lifecycle.retired() {
                    plan.retired.push(new.tag.clone());
                }
                plan.changed.push(Change {
                    tag: new.tag.clone(),
                    fields: fields.iter().map(|f| f.field.clone()).collect(),
                    changes: fields,
                });
                out.push(new);
            }
        }
    }
    Ok(Merged { assets: out, plan })
}

/// Each field that differs, with its value before and after (JSON).
pub fn field_changes(old: &Asset, new: &Asset) -> Vec<FieldChange> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: a.get(k).cloned().unwrap_or(Value::Null),
            after: b.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// A MAC may belong to one asset only: within the file, and against the
/// stored assets the file does not touch.
fn check_macs(
    current: &[Asset],
    merged: &[(usize, Option<&Asset>, Asset)],
    patches: &[Patch],
    errors: &mut Vec<ImportError>,
) {
    let touched: std::collections::HashSet<String> =
        merged.iter().map(|(_, _, a)| a.tag.to_ascii_lowercase()).collect();
    let mut owner: BTreeMap<String, (String, Option<usize>)> = BTreeMap::new();
    for a in current.iter().filter(|a| !touched.contains(&a.tag.to_ascii_lowercase())) {
        for m in &a.macs {
            owner.entry(m.to_string()).or_insert((a.tag.clone(), None));
        }
    }
    for (row, _, a) in merged {
        for m in &a.macs {
            let mac = m.to_string();
            match owner.get(&mac) {
                Some((tag, _)) if *tag == a.tag => {}
                Some((tag, other)) => {
                    let p = patches.iter().find(|p| p.row == *row).cloned().unwrap_or_default();
                    let place = match other {
                        Some(r) => format!("row {r}"),
                        None => "the register".to_string(),
                    };
                    errors.push(err(
                        &p,
                        "macs",
                        format!("MAC {mac} is already on asset {tag} ({place}); a MAC belongs to one asset"),
                    ));
                }
                None => {
                    owner.insert(mac, (a.tag.clone(), Some(*row)));
                }
            }
        }
    }
}
