//! Directory files: an HR or identity export as CSV or JSON.
//!
//! CSV has one person or team per row under a header naming the columns
//! (any order; only `id` is required, so `id,status,left_on` records
//! leavers and leaves everything else as it is). JSON is an array of
//! objects with the same fields. The readers are the register's
//! ([`crate::register::csv::Table`]): every problem is named by its data
//! row (the first row under the header is row 1) and column, a `;`-delimited
//! spreadsheet export and a non-UTF-8 file are recognised, and a cell a
//! spreadsheet would run as a formula is taken as the text it shows.
//!
//! | column | value |
//! |---|---|
//! | `id` | the stable id (employee number, `uid`), required |
//! | `kind` | `person` (default) or `team` |
//! | `name`, `email`, `team`, `manager` | text; `manager` is the manager's id |
//! | `status` | `active` (also `enabled`, `current`) or `left` (also `inactive`, `disabled`, `terminated`) |
//! | `left_on` | the leave date, `YYYY-MM-DD` |
//!
//! An empty cell leaves its field as it is.

use serde_json::Value;

use super::PersonStatus;
use crate::register::csv::{ImportError, Table, parse_csv_table, parse_json_table};
use crate::register::patch::Patch;

/// Columns, in export order.
pub const COLUMNS: &[&str] = &["id", "kind", "name", "email", "team", "manager", "status", "left_on"];

/// The directory's table for the shared readers.
pub const DIRECTORY: Table = Table { columns: COLUMNS, key: "id", what: "people", cell_value };

fn cell_value(_column: &str, cell: &str) -> Result<Value, String> {
    Ok(Value::String(cell.trim().to_string()))
}

pub use crate::register::csv::Format;

/// Read a directory file into one patch per row (the columns it names),
/// with every problem found.
pub fn parse(bytes: &[u8], format: Format) -> (Vec<Patch>, Vec<ImportError>) {
    match format {
        Format::Csv(o) => parse_csv_table(bytes, o, &DIRECTORY),
        Format::Json => parse_json_table(bytes, &DIRECTORY),
    }
}

/// A status as HR and identity exports write it.
///
/// # Errors
/// The words accepted, when it is none of them.
pub fn status(s: &str) -> Result<PersonStatus, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "active" | "enabled" | "current" => Ok(PersonStatus::Active),
        "left" | "inactive" | "disabled" | "terminated" => Ok(PersonStatus::Left),
        _ => Err(format!(
            "`{}` is not a status: write active (or enabled, current) or left (or inactive, disabled, terminated)",
            s.chars().take(40).collect::<String>()
        )),
    }
}

/// Write entries as CSV with every column, each cell safe to open in a spreadsheet.
pub fn to_csv(entries: &[super::DirectoryEntry]) -> String {
    use crate::register::csv::neutralise;
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for e in entries {
        let cells = [
            e.id.as_str(),
            e.kind.as_str(),
            &e.name,
            &e.email,
            &e.team,
            &e.manager,
            e.status.as_str(),
            &e.left_on.map(|d| d.to_string()).unwrap_or_default(),
        ];
        let _ = w.write_record(cells.iter().map(|c| neutralise(c).into_owned()));
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::csv::CsvOptions;

    #[test]
    fn csv_rows_become_patches_and_problems_name_row_and_column() {
        let csv = b"id,name,status,left_on,shoe_size\nu1,Ada,active,,42\n";
        let (patches, errors) = parse(csv, Format::Csv(CsvOptions::default()));
        assert_eq!(patches.len(), 1);
        assert_eq!(patches[0].tag, "u1");
        assert_eq!(patches[0].values["name"], "Ada");
        assert_eq!(patches[0].empties, ["left_on"]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].column, "shoe_size");
        assert!(errors[0].message.contains("known columns: id, kind"), "{}", errors[0].message);
    }

    #[test]
    fn a_file_without_ids_is_refused_naming_the_column() {
        let (_, errors) = parse(b"name\nAda\n", Format::Csv(CsvOptions::default()));
        assert_eq!(errors[0].column, "id");
        let (_, errors) = parse(b"{\"id\":\"u1\"}", Format::Json);
        assert!(errors[0].message.contains("not a JSON array of people"), "{}", errors[0].message);
    }

    #[test]
    fn statuses_as_exports_write_them() {
        assert_eq!(status("Terminated"), Ok(PersonStatus::Left));
        assert_eq!(status(" enabled "), Ok(PersonStatus::Active));
        assert!(status("on leave").unwrap_err().contains("not a status"));
    }

    #[test]
    fn export_neutralises_formulas_and_reimports() {
        let mut e = super::super::DirectoryEntry::person("u1", "=HYPERLINK(\"x\")", "file");
        e.left_on = Some("2026-11-25".parse().unwrap());
        let out = to_csv(&[e]);
        assert!(out.contains("'=HYPERLINK"), "{out}");
        let (patches, errors) = parse(out.as_bytes(), Format::Csv(CsvOptions::default()));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(patches[0].values["name"], "=HYPERLINK(\"x\")");
        assert_eq!(patches[0].values["left_on"], "2026-11-25");
    }
}
