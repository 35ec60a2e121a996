//! Register import and export as CSV and JSON.
//!
//! CSV has one asset per row under a header naming the columns (any order;
//! only `tag` is required — a file with `tag,lifecycle` moves assets to
//! another stage and leaves everything else as it is). Lists are separated
//! by `;`; a licence is `product|vendor|YYYY-MM-DD`; an expected service is
//! `port/name`. Parsing turns each row into a [`Patch`] (the columns it
//! names, each cell parsed and checked) and collects *every* error, each
//! naming the data row (the first row under the header is row 1; the file
//! line is given too) and the column by its header name, so one pass over
//! a file finds everything wrong with it. Export writes every column, so an
//! exported register re-imports unchanged.
//!
//! Files from spreadsheets are met where they are: a header that is one
//! field containing `;` is a `;`-delimited file (refused with that said,
//! or read with `--delimiter ';'`); a cell that is not UTF-8 (a
//! Windows-1252 export) is named with its column and the advice to save as
//! UTF-8; a UTF-8 byte-order mark is ignored.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::model::{Asset, Day, ExpectedService, Licence, RecordedCert};
use super::patch::Patch;

/// Columns, in export order.
pub const COLUMNS: &[&str] = super::model::ASSET_FIELDS;

/// One problem in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    /// Data row: 1 is the first row under the header (JSON: the 1-based
    /// index in the array); 0 for the header or the file as a whole.
    pub row: usize,
    /// Line in the file where the row starts (CSV only; a quoted cell may span lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Column (its header name) or field.
    pub column: String,
    /// What is wrong.
    pub message: String,
}

impl ImportError {
    /// A problem with the file as a whole.
    pub fn file(message: impl Into<String>) -> Self {
        ImportError { row: 0, line: None, column: String::new(), message: message.into() }
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.row, self.column.is_empty()) {
            (0, true) => write!(f, "{}", self.message),
            (0, false) => write!(f, "column `{}`: {}", self.column, self.message),
            (r, true) => write!(f, "row {r}: {}", self.message),
            (r, false) => write!(f, "row {r}, column `{}`: {}", self.column, self.message),
        }
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a
/// leading tab or carriage return, per OWASP's CSV-injection guidance)
/// written with a leading `'`, which spreadsheets show as text. Import
/// strips that `'` again ([`unneutralise`]), so an export re-imports unchanged.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{cell}")),
        _ => std::borrow::Cow::Borrowed(cell),
    }
}

/// The inverse of [`neutralise`] for an imported cell.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Each of [`list`]'s items' place in `cell` (1-based, empty items counted).
fn places(cell: &str) -> Vec<usize> {
    cell.split(';').enumerate().filter(|(_, s)| !s.trim().is_empty()).map(|(i, _)| i + 1).collect()
}

fn licence(s: &str) -> Result<Licence, String> {
    let mut parts = s.split('|');
    let product = parts.next().unwrap_or_default().trim().to_string();
    let vendor = parts.next().unwrap_or_default().trim().to_string();
    let expires = match parts.next().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(d.parse::<Day>()?),
    };
    if parts.next().is_some() {
        return Err(format!("`{s}` has too many parts; write product|vendor|YYYY-MM-DD"));
    }
    Ok(Licence { product, vendor, expires })
}

/// `label|sha256|serial`, either hex part may be empty (not both).
fn recorded_cert(s: &str) -> Result<RecordedCert, String> {
    let mut parts = s.split('|').map(str::trim);
    let label = parts.next().unwrap_or_default().to_string();
    let hex = |p: Option<&str>| p.filter(|p| !p.is_empty()).map(String::from);
    let (sha256, serial) = (hex(parts.next()), hex(parts.next()));
    if parts.next().is_some() {
        return Err(format!("`{s}` has too many parts; write label|sha256|serial"));
    }
    Ok(RecordedCert { label, sha256, serial })
}

fn service(s: &str) -> Result<ExpectedService, String> {
    let (port, name) = s.split_once('/').unwrap_or((s, ""));
    let port: u16 = port.trim().parse().map_err(|_| format!("`{s}` is not port/name, e.g. 8443/edr-agent"))?;
    Ok(ExpectedService { port: census_proto::Port(port), name: name.trim().to_string() })
}

/// A list cell's items, each read by `read`.
///
/// # Errors
/// Every item that does not read, by its place in the cell (`item 3 of
/// the cell: …`; the first bad item must not hide the others), the first
/// ten spelled out and the rest counted.
fn items(cell: &str, read: impl Fn(&str) -> Result<Value, String>) -> Result<Value, String> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (item, place) in list(cell).zip(places(cell)) {
        match read(item) {
            Ok(v) => out.push(v),
            Err(m) => bad.push(format!("item {place} of the cell: {m}")),
        }
    }
    if bad.is_empty() {
        return Ok(Value::Array(out));
    }
    let more = bad.len().saturating_sub(ITEMS_SPELLED);
    bad.truncate(ITEMS_SPELLED);
    if more > 0 {
        bad.push(format!("{more} more bad items"));
    }
    Err(bad.join("; "))
}

/// How many bad items of one cell [`items`] spells out.
const ITEMS_SPELLED: usize = 10;

/// A non-empty CSV cell as the JSON value of its field (validation of the
/// value itself happens when the asset is built).
fn cell_value(column: &str, cell: &str) -> Result<Value, String> {
    let strings = |c: &str| Value::Array(list(c).map(|s| Value::String(s.to_string())).collect());
    Ok(match column {
        "hostnames" | "macs" | "ips" | "tags" | "external_ids" => strings(cell),
        "licences" => items(cell, |l| licence(l).map(|l| json!(l)))?,
        "expected_services" => items(cell, |s| service(s).map(|s| json!(s)))?,
        "certificates" => items(cell, |c| recorded_cert(c).map(|c| json!(c)))?,
        _ => Value::String(cell.trim().to_string()),
    })
}

/// An import file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv(CsvOptions),
    /// A JSON array of objects.
    Json,
}

/// How to read a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// The field delimiter (`,` unless the operator says otherwise).
    pub delimiter: u8,
}

impl CsvOptions {
    /// A delimiter as an operator writes it: one printable ASCII character
    /// other than `"`, or `tab` (also `\t`).
    ///
    /// # Errors
    /// Why it is not one, for people.
    pub fn delimiter(d: &str) -> Result<u8, String> {
        match d {
            "\\t" | "tab" => Ok(b'\t'),
            "" => Err("the delimiter is empty: give one character, or `tab`".into()),
            d if d.len() == 1 && d.is_ascii() && !d.as_bytes()[0].is_ascii_control() && d != "\"" => {
                Ok(d.as_bytes()[0])
            }
            d => Err(format!(
                "the delimiter `{}` is not one printable ASCII character (other than `\"`) nor `tab`",
                d.escape_debug()
            )),
        }
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',' }
    }
}

fn not_utf8(bytes: &[u8]) -> String {
    let at = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
    format!(
        "not UTF-8 (byte 0x{:02X} at position {}); the file looks like a Windows-1252 or Latin-1 export: save it as UTF-8 (CSV UTF-8) and import it again",
        bytes.get(at).copied().unwrap_or(0),
        at + 1
    )
}

/// Parse a CSV register into patches, with every problem found (each
/// naming its data row and column): the rows that parsed are returned even
/// when others did not, so the merge can name their problems in the same pass.
pub fn parse_csv(bytes: &[u8], opts: CsvOptions) -> (Vec<Patch>, Vec<ImportError>) {
    parse_csv_table(bytes, opts, &REGISTER)
}

/// The shape of a file an import reads: its columns (JSON: fields), the one
/// that names a row (in [`Patch::tag`]) and how a non-empty CSV cell becomes
/// its field's JSON value. The register and the people directory share the
/// readers, so both name every problem by row and column the same way.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Known columns.
    pub columns: &'static [&'static str],
    /// The required column that names a row.
    pub key: &'static str,
    /// What a row is, plural, for messages (`assets`).
    pub what: &'static str,
    /// A non-empty CSV cell of a column as JSON.
    pub cell_value: fn(&str, &str) -> Result<Value, String>,
}

/// The register's table.
pub const REGISTER: Table = Table { columns: COLUMNS, key: "tag", what: "assets", cell_value };

/// [`parse_csv`] for any [`Table`].
pub fn parse_csv_table(bytes: &[u8], opts: CsvOptions, t: &Table) -> (Vec<Patch>, Vec<ImportError>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .delimiter(opts.delimiter)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return (Vec::new(), vec![ImportError::file(format!("cannot read the header: {e}"))]),
    };
    let mut errors = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match std::str::from_utf8(h) {
            Ok(h) => names.push(h.trim().to_ascii_lowercase()),
            Err(_) => {
                errors.push(ImportError {
                    column: format!("#{}", i + 1),
                    ..ImportError::file(format!("header {}", not_utf8(h)))
                });
                names.push(String::new());
            }
        }
    }
    if names.len() == 1 && opts.delimiter != b';' && names[0].contains(';') {
        return (
            Vec::new(),
            vec![ImportError::file(format!(
                "the header is one column `{}`: the file is delimited by `;` (a spreadsheet export in a European locale); \
             import it with --delimiter ';' (API: delimiter=%3B) or save it with commas",
                names[0].chars().take(80).collect::<String>()
            ))],
        );
    }
    let mut known = vec![true; names.len()];
    for (i, h) in names.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if !t.columns.contains(&h.as_str()) {
            errors.push(ImportError {
                column: h.clone(),
                ..ImportError::file(format!("unknown column; known columns: {}", t.columns.join(", ")))
            });
            known[i] = false;
        } else if names[..i].contains(h) {
            errors.push(ImportError { column: h.clone(), ..ImportError::file("column appears twice") });
            known[i] = false;
        }
    }
    if !names.iter().any(|h| h == t.key) {
        errors.push(ImportError { column: t.key.into(), ..ImportError::file("the required column is missing") });
        return (Vec::new(), errors);
    }
    let mut patches = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut row = 0usize;
    loop {
        // Where the next record starts (the reader's position is the line
        // after the last record read; `+ 1` named the line after the bad one).
        let line = rdr.position().line();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                row += 1;
                let line = e.position().map_or(line, csv::Position::line);
                errors.push(ImportError { row, line: Some(line), column: String::new(), message: e.to_string() });
                continue;
            }
        }
        row += 1;
        let line = record.position().map_or(line, |p| p.line());
        let mut p = Patch { row, line: Some(line), ..Patch::default() };
        for ((name, raw), _) in names.iter().zip(record.iter()).zip(&known).filter(|(_, k)| **k) {
            let err = |message: String| ImportError { row, line: Some(line), column: name.clone(), message };
            let cell = match std::str::from_utf8(raw) {
                Ok(c) => c,
                Err(_) => {
                    errors.push(err(not_utf8(raw)));
                    continue;
                }
            };
            let cell = unneutralise(cell.trim());
            if name == t.key {
                p.tag = cell.to_string();
            }
            if cell.is_empty() {
                p.empties.push(name.clone());
                continue;
            }
            match (t.cell_value)(name, cell) {
                Ok(v) => {
                    if v.is_array() && cell.contains(';') {
                        p.places.insert(name.clone(), places(cell));
                    }
                    p.values.insert(name.clone(), v);
                }
                Err(m) => errors.push(err(m)),
            }
        }
        patches.push(p);
    }
    (patches, errors)
}

/// Parse a JSON register (an array of asset objects) into patches, with
/// every problem found (a duplicated key in an object is one). Keys an
/// object leaves out are left as they are; `null`, `""` and `[]` are empty.
pub fn parse_json(bytes: &[u8]) -> (Vec<Patch>, Vec<ImportError>) {
    parse_json_table(bytes, &REGISTER)
}

/// [`parse_json`] for any [`Table`].
pub fn parse_json_table(bytes: &[u8], t: &Table) -> (Vec<Patch>, Vec<ImportError>) {
    // A UTF-8 byte order mark (spreadsheet and Windows editors write one)
    // is no part of the document; the CSV reader skips it too.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value = match super::strict_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return (Vec::new(), vec![ImportError::file(format!("not a JSON array of {}: {e}", t.what))]),
    };
    let Value::Array(items) = value else {
        return (
            Vec::new(),
            vec![ImportError::file(format!("not a JSON array of {}: the document is not an array", t.what))],
        );
    };
    let mut errors = Vec::new();
    let mut patches = Vec::new();
    for (i, v) in items.into_iter().enumerate() {
        let row = i + 1;
        let Value::Object(obj) = v else {
            errors.push(ImportError { row, line: None, column: String::new(), message: "not an object".into() });
            continue;
        };
        let mut p = Patch { row, line: None, ..Patch::default() };
        let mut values = Map::new();
        for (k, v) in obj {
            if !t.columns.contains(&k.as_str()) {
                errors.push(ImportError {
                    row,
                    line: None,
                    column: k.clone(),
                    message: format!("unknown field; known fields: {}", t.columns.join(", ")),
                });
                continue;
            }
            let empty = match &v {
                Value::Null => true,
                Value::String(s) => s.trim().is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => false,
            };
            if k == t.key {
                p.tag = v.as_str().unwrap_or_default().trim().to_string();
            }
            if empty {
                p.empties.push(k);
            } else {
                values.insert(k, v);
            }
        }
        p.values = values;
        patches.push(p);
    }
    (patches, errors)
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(";")
}

/// Write assets as CSV with every column, each cell safe to open in a spreadsheet, fields
/// separated by `opts.delimiter` (so a file exported with `;` imports back with `;`).
pub fn to_csv(assets: &[Asset], opts: CsvOptions) -> String {
    let mut w = csv::WriterBuilder::new().delimiter(opts.delimiter).from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for a in assets {
        let licences: Vec<String> = a
            .licences
            .iter()
            .map(|l| format!("{}|{}|{}", l.product, l.vendor, l.expires.map(|d| d.to_string()).unwrap_or_default()))
            .collect();
        let services: Vec<String> = a.expected_services.iter().map(|s| format!("{}/{}", s.port, s.name)).collect();
        let certs: Vec<String> = a
            .certificates
            .iter()
            .map(|c| {
                let (sha, serial) = (c.sha256.as_deref().unwrap_or_default(), c.serial.as_deref().unwrap_or_default());
                if serial.is_empty() { format!("{}|{sha}", c.label) } else { format!("{}|{sha}|{serial}", c.label) }
            })
            .collect();
        let cells = [
            a.tag.clone(),
            a.name.clone(),
            a.asset_type.to_string(),
            a.owner.clone(),
            a.department.clone(),
            a.lifecycle.to_string(),
            a.lifecycle_since.map(|d| d.to_string()).unwrap_or_default(),
            a.hostnames.join(";"),
            join(&a.macs),
            join(&a.ips),
            a.expected_segment.map(|n| n.to_string()).unwrap_or_default(),
            a.criticality.to_string(),
            a.support_end.map(|d| d.to_string()).unwrap_or_default(),
            licences.join(";"),
            services.join(";"),
            a.tags.join(";"),
            certs.join(";"),
            a.serial.clone(),
            a.manufacturer.clone(),
            a.model.clone(),
            a.location.clone(),
            a.external_ids.join(";"),
        ];
        let _ = w.write_record(cells.iter().map(|c| neutralise(c).into_owned()));
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Write assets as a pretty JSON array.
pub fn to_json(assets: &[Asset]) -> String {
    serde_json::to_string_pretty(assets).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (review, 2026-12-07): a JSON register saved with a byte
    /// order mark was refused as "expected value at line 1 column 1".
    #[test]
    fn a_json_table_with_a_byte_order_mark_reads_as_without() {
        let body = r#"[{"tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed"}]"#;
        let plain = parse_json(body.as_bytes());
        let marked = parse_json(format!("\u{feff}{body}").as_bytes());
        assert!(plain.1.is_empty() && marked.1.is_empty(), "{:?}", marked.1);
        assert_eq!(marked.0.len(), 1);
        assert_eq!(marked.0, plain.0);
        // A mark anywhere else is still the error it was.
        let inner = parse_json(format!("[\u{feff}{}", &body[1..]).as_bytes());
        assert!(inner.0.is_empty() && inner.1.len() == 1, "{:?}", inner.1);
    }

    /// Regression (review of 2026-12-07): a CSV row with four bad columns
    /// named two of them; every one is named, once, on its row and line.
    #[test]
    fn every_bad_column_of_a_row_is_named_once() {
        let csv = "tag,name,type,lifecycle,criticality,support_end,macs,ips,hostnames\n\
                   A-1,a,server,deployed,high,2030-01-01,00:1b:21:3a:00:30,198.18.0.5,db01\n\
                   A-2,b,mainframe,deployed,urgent,2023-02-30,00:1b:21:3a:00:31;nope,198.18.0.300,bad name!\n";
        let (patches, errors) = parse_csv(csv.as_bytes(), CsvOptions::default());
        let mut errors = errors;
        if let Err(merged) = super::super::patch::merge(&[], &patches, super::super::patch::ImportOptions::default()) {
            errors.extend(merged);
        }
        let mut columns: Vec<(usize, Option<u64>, &str)> =
            errors.iter().map(|e| (e.row, e.line, e.column.as_str())).collect();
        columns.sort_unstable();
        let row = |c| (2, Some(3), c);
        assert_eq!(
            columns,
            [row("criticality"), row("hostnames"), row("ips"), row("macs"), row("support_end"), row("type")],
            "{errors:?}"
        );
    }

    /// Regression (review of 2026-12-07): a new asset without `type` and
    /// `lifecycle`, or a row whose tag is not text, named only that, hiding
    /// the row's other faults.
    #[test]
    fn a_row_missing_its_required_fields_or_its_tag_still_has_its_other_faults_named() {
        let merge = |patches: &[Patch]| {
            super::super::patch::merge(&[], patches, super::super::patch::ImportOptions::default()).unwrap_err()
        };
        let (patches, errors) =
            parse_csv(b"tag,name,macs,ips,support_end\nQ-1,q,000000000000,x,bad\n", CsvOptions::default());
        assert!(errors.is_empty(), "{errors:?}");
        let errors = merge(&patches);
        let mut columns: Vec<&str> = errors.iter().map(|e| e.column.as_str()).collect();
        columns.sort_unstable();
        assert_eq!(columns, ["ips", "lifecycle", "macs", "support_end", "type"], "{errors:?}");
        assert!(errors.iter().any(|e| e.column == "lifecycle" && e.message.contains("required for a new asset")));

        let (patches, errors) = parse_json(
            br#"[{"tag": 5, "name": ["a"], "type": 1, "lifecycle": true, "macs": ["000000000000"]},
                 {"name": "b", "ips": ["198.18.0.300"]}]"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let errors = merge(&patches);
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(found.len(), 7, "{errors:?}");
        for want in [(1, "tag"), (1, "name"), (1, "type"), (1, "lifecycle"), (1, "macs[0]"), (2, "tag"), (2, "ips[0]")]
        {
            assert!(found.contains(&want), "{want:?} in {errors:?}");
        }
        assert!(errors[0].message.contains("the tag must be text, not 5"), "{errors:?}");
        assert!(errors.iter().any(|e| e.row == 2 && e.message == "the tag is empty or missing"), "{errors:?}");
    }

    /// Regression (review of 2026-12-07): a row with a wrong number of
    /// cells, or a quote left open, was reported one line below itself.
    #[test]
    fn a_malformed_row_is_named_on_its_own_line() {
        let (_, errors) = parse_csv(b"tag,name\nA-1,a\nA-2,b,extra\nA-3,c\n", CsvOptions::default());
        assert_eq!(errors.iter().map(|e| (e.row, e.line)).collect::<Vec<_>>(), [(2, Some(3))], "{errors:?}");
        let (_, errors) = parse_csv(b"tag,name\nA-1,a\n\"A-2,b\n", CsvOptions::default());
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [Some(3)], "{errors:?}");
    }

    /// Regression (review of 2026-12-08): a list cell's first bad item hid
    /// the others, and a CSV error did not say which item of the cell it
    /// was about.
    #[test]
    fn every_bad_item_of_a_list_cell_is_named_by_its_place_in_the_cell() {
        let csv = "tag,name,type,lifecycle,macs,licences\n\
                   A-1,a,server,deployed,zz;00:1b:21:3a:00:30;yy,P||soon;Q;R||2024-13-01\n";
        let (patches, mut errors) = parse_csv(csv.as_bytes(), CsvOptions::default());
        if let Err(merged) = super::super::patch::merge(&[], &patches, super::super::patch::ImportOptions::default()) {
            errors.extend(merged);
        }
        let licences: Vec<&str> =
            errors.iter().filter(|e| e.column == "licences").map(|e| e.message.as_str()).collect();
        assert_eq!(licences.len(), 1, "{errors:?}");
        assert!(licences[0].starts_with("item 1 of the cell: "), "{licences:?}");
        assert!(licences[0].contains("; item 3 of the cell: "), "{licences:?}");
        assert!(!licences[0].contains("item 2"), "{licences:?}");
        let mut macs: Vec<&str> = errors.iter().filter(|e| e.column == "macs").map(|e| e.message.as_str()).collect();
        macs.sort_unstable();
        assert_eq!(macs.len(), 2, "{errors:?}");
        assert!(macs[0].starts_with("item 1 of the cell: ") && macs[0].contains("zz"), "{macs:?}");
        assert!(macs[1].starts_with("item 3 of the cell: ") && macs[1].contains("yy"), "{macs:?}");
        assert!(errors.iter().all(|e| e.row == 1 && e.line == Some(2)), "{errors:?}");
        // A cell of many bad items spells out ten and counts the rest.
        let cell: Vec<String> = (0..25).map(|i| format!("port{i}/x")).collect();
        let csv = format!("tag,name,type,lifecycle,expected_services\nA-1,a,server,deployed,{}\n", cell.join(";"));
        let (_, errors) = parse_csv(csv.as_bytes(), CsvOptions::default());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message.matches("of the cell").count(), 10, "{errors:?}");
        assert!(errors[0].message.ends_with("; 15 more bad items"), "{errors:?}");
        // Places as a person counts them, empty items included (review of 2026-12-08).
        let (patches, _) = parse_csv(
            b"tag,name,type,lifecycle,macs\nA-2,b,server,deployed,00:1b:21:3a:00:31;;zz; \n",
            CsvOptions::default(),
        );
        let merged =
            super::super::patch::merge(&[], &patches, super::super::patch::ImportOptions::default()).unwrap_err();
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert!(merged[0].message.starts_with("item 3 of the cell: "), "{merged:?}");
        let (_, errors) =
            parse_csv(b"tag,name,type,lifecycle,licences\nA-3,c,server,deployed,;P||bad\n", CsvOptions::default());
        assert!(errors[0].message.starts_with("item 2 of the cell: "), "{errors:?}");
    }
}
