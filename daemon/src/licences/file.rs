//! Entitlement files (`censusd licences import`): CSV or JSON through the
//! register's readers, every problem named by row and column, all or
//! nothing; rows are merged into the stored entitlements by id (fields a
//! row leaves out or leaves empty stay as they are), nothing is deleted.
//!
//! | column | value |
//! |---|---|
//! | `id` | contract or order number, required |
//! | `product`, `vendor` | as the rule table and assets' `licences` name the product |
//! | `metric` | `per-device`, `per-user` or `per-core` |
//! | `seats` | whole number |
//! | `cost`, `currency` | per term, e.g. `12000.50`, `EUR` |
//! | `expires`, `renews` | `YYYY-MM-DD` |
//! | `detect` | extra detection terms, `;`-separated: `banner:TEXT`, `port:N`, `os:TEXT` |

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Entitlement;
use crate::register::csv::{Format, ImportError, Table, parse_csv_table, parse_json_table};
use crate::register::patch::Patch;
use crate::register::plan::FieldChange;

/// Columns, in export order.
pub const COLUMNS: &[&str] =
    &["id", "product", "vendor", "metric", "seats", "cost", "currency", "expires", "renews", "detect"];

/// The entitlements' table for the shared readers.
pub const ENTITLEMENTS: Table = Table { columns: COLUMNS, key: "id", what: "entitlements", cell_value };

fn cell_value(column: &str, cell: &str) -> Result<Value, String> {
    let cell = cell.trim();
    Ok(match column {
        "seats" => Value::from(match cell.parse::<u64>() {
            Ok(n) if n <= u64::from(super::MAX_SEATS) => n,
            Ok(_) => return Err(format!("`{cell}` seats: must be at most {}", super::MAX_SEATS)),
            Err(_) => return Err(format!("`{cell}` is not a whole number of seats")),
        }),
        "cost" => {
            let c: f64 = cell.parse().map_err(|_| format!("`{cell}` is not a number (use . for decimals)"))?;
            serde_json::Number::from_f64(c).map(Value::Number).ok_or_else(|| format!("`{cell}` is not a number"))?
        }
        "currency" => Value::String(cell.to_ascii_uppercase()),
        "detect" => Value::Array(
            cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect(),
        ),
        _ => Value::String(cell.to_string()),
    })
}

/// One entitlement an import changes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntitlementChange {
    /// Id.
    pub id: String,
    /// Fields that change, before and after.
    pub changes: Vec<FieldChange>,
}

/// What an import would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntitlementPlan {
    /// Ids added.
    pub added: Vec<String>,
    /// Entitlements changed.
    pub changed: Vec<EntitlementChange>,
    /// Rows that change nothing.
    pub unchanged: usize,
}

/// Read a file into rows.
pub fn parse(bytes: &[u8], format: Format) -> (Vec<Patch>, Vec<ImportError>) {
    match format {
        Format::Csv(o) => parse_csv_table(bytes, o, &ENTITLEMENTS),
        Format::Json => parse_json_table(bytes, &ENTITLEMENTS),
    }
}

fn changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return Vec::new() };
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| a.get(*f) != b.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            before: a.get(f).cloned().unwrap_or(Value::Null),
            after: b.get(f).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// Merge rows into `current`: the plan and the entitlements to write.
///
/// # Errors
/// Every problem of every row; nothing is to be written then.
pub fn merge(current: &[Entitlement], rows: &[Patch]) -> Result<(EntitlementPlan, Vec<Entitlement>), Vec<ImportError>> {
    let key = |id: &str| id.trim().to_ascii_lowercase();
    let by_key: HashMap<String, &Entitlement> = current.iter().map(|e| (key(&e.id), e)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut plan, mut write, mut errors) = (EntitlementPlan::default(), Vec::new(), Vec::new());
    for p in rows {
        let err =
            |column: &str, message: String| ImportError { row: p.row, line: p.line, column: column.into(), message };
        let id = p.tag.trim();
        if id.is_empty() {
            errors.push(err("id", "is empty".into()));
            continue;
        }
        if let Some(first) = seen.insert(key(id), p.row) {
            errors.push(err("id", format!("`{id}` is also on row {first}; give each entitlement one row")));
            continue;
        }
        let old = by_key.get(&key(id)).copied();
        let before = old.map_or_else(|| Value::Object(Map::new()), |o| serde_json::to_value(o).unwrap_or_default());
        let mut after = before.clone();
        if let Value::Object(m) = &mut after {
            m.insert("id".into(), Value::String(old.map_or(id, |o| o.id.as_str()).to_string()));
            for (k, v) in &p.values {
                if k != "id" {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        let e: Entitlement = match serde_path_to_error::deserialize(after.clone()) {
            Ok(e) => e,
            Err(e) => {
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
                let column = match (field.as_str(), missing) {
                    (".", Some(m)) => m.to_string(),
                    (f, _) => f.trim_start_matches('.').split(['.', '[']).next().unwrap_or_default().to_string(),
                };
                errors.push(err(&column, message));
                continue;
            }
        };
        let problems = e.check();
        if !problems.is_empty() {
            errors.extend(problems.into_iter().map(|(f, m)| err(f, m)));
            continue;
        }
        let after = serde_json::to_value(&e).unwrap_or_default();
        match old {
            None => plan.added.push(e.id.clone()),
            Some(_) => {
                let ch = changes(&before, &after);
                if ch.is_empty() {
                    plan.unchanged += 1;
                    continue;
                }
                plan.changed.push(EntitlementChange { id: e.id.clone(), changes: ch });
            }
        }
        write.push(e);
    }
    if errors.is_empty() { Ok((plan, write)) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::csv::CsvOptions;

    fn rows(csv: &str) -> Vec<Patch> {
        let (p, e) = parse(csv.as_bytes(), Format::Csv(CsvOptions::default()));
        assert!(e.is_empty(), "{e:?}");
        p
    }

    #[test]
    fn rows_add_and_change_entitlements_field_by_field() {
        let first = "id,product,vendor,metric,seats,cost,currency,renews,detect\n\
                     c-1,Microsoft SQL Server,Microsoft,per-device,10,12000.50,EUR,2027-01-15,\n\
                     c-2,Acme DB,Acme,per-user,5,,,,banner:acme db;port:7777\n";
        let (plan, written) = merge(&[], &rows(first)).unwrap();
        assert_eq!(plan.added, ["c-1", "c-2"]);
        assert_eq!(written[1].detect, ["banner:acme db", "port:7777"]);
        assert_eq!(written[0].cost, Some(12000.5));
        let (plan, again) = merge(&written, &rows("id,seats\nC-1,12\n")).unwrap();
        assert_eq!(plan.changed[0].changes[0].field, "seats");
        assert_eq!((again[0].id.as_str(), again[0].seats, again[0].vendor.as_str()), ("c-1", 12, "Microsoft"));
    }

    #[test]
    fn every_bad_row_is_named() {
        let csv = "id,product,metric,seats,cost,detect,currency\n\
                   c-1,SQL,per-galaxy,10,,,\n\
                   c-2,SQL,per-device,ten,,,\n\
                   c-3,SQL,per-device,1,-5,,\n\
                   c-4,SQL,per-device,1,,colour:blue,\n\
                   c-5,,per-device,1,,,\n\
                   c-6,SQL,per-device,99999999999,,,\n\
                   c-7,SQL,per-device,1,1e308,,\n\
                   c-8,SQL,per-device,1,,banner:a,\n\
                   c-9,SQL,per-device,1,,,€€€€\n\
                   c-10,SQL,per-device,1,5,,eur\n";
        let (p, e) = parse(csv.as_bytes(), Format::Csv(CsvOptions::default()));
        let mut named: Vec<(usize, String)> = e.iter().map(|e| (e.row, e.column.clone())).collect();
        let parsed_ok: Vec<Patch> = p.into_iter().filter(|r| !named.iter().any(|(row, _)| *row == r.row)).collect();
        if let Err(m) = merge(&[], &parsed_ok) {
            named.extend(m.iter().map(|e| (e.row, e.column.clone())));
        }
        named.sort();
        assert_eq!(
            named,
            [
                (1, "metric".into()),
                (2, "seats".into()),
                (3, "cost".into()),
                (4, "detect".into()),
                (5, "product".into()),
                (6, "seats".into()),
                (7, "cost".into()),
                (8, "detect".into()),
                (9, "currency".into())
            ],
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.row == 6 && e.message.contains("at most 10000000")), "{e:?}");
    }

    #[test]
    fn a_day_before_year_0000_is_named_and_a_signed_plain_year_is_that_day() {
        let csv = "id,product,metric,seats,expires,renews\n\
                   c-1,SQL,per-device,1,-2023-01-01,\n\
                   c-2,SQL,per-device,1,,-0001-06-01\n\
                   c-3,SQL,per-device,1,+2027-01-01,2026-12-31\n";
        let (p, e) = parse(csv.as_bytes(), Format::Csv(CsvOptions::default()));
        let mut named: Vec<(usize, String)> = e.iter().map(|e| (e.row, e.column.clone())).collect();
        let parsed_ok: Vec<Patch> = p.into_iter().filter(|r| !named.iter().any(|(row, _)| *row == r.row)).collect();
        let merged = merge(&[], &parsed_ok);
        if let Err(m) = &merged {
            named.extend(m.iter().map(|e| (e.row, e.column.clone())));
        }
        named.sort();
        assert_eq!(named, [(1, "expires".into()), (2, "renews".into())], "{e:?}");
    }
}
