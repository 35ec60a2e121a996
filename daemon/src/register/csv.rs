//! Register import and export as CSV and JSON.
//!
//! CSV has one asset per row under a header naming the columns (any order;
//! `tag`, `name`, `type` and `lifecycle` are required). Lists are separated
//! by `;`; a licence is `product|vendor|YYYY-MM-DD`; an expected service is
//! `port/name`. Parsing collects *every* error, each naming the row (as in a
//! spreadsheet: the header is row 1) and the column, so one pass over a file
//! finds everything wrong with it. Export writes the same columns, so an
//! exported register re-imports unchanged.

use std::collections::HashMap;

use serde::Serialize;

use super::model::{
    Asset, AssetType, Criticality, Day, ExpectedService, FieldError, Licence, Lifecycle, asset_from_json,
};
use census_proto::Port;

/// Columns, in export order.
pub const COLUMNS: &[&str] = &[
    "tag",
    "name",
    "type",
    "owner",
    "department",
    "lifecycle",
    "lifecycle_since",
    "hostnames",
    "macs",
    "ips",
    "expected_segment",
    "criticality",
    "support_end",
    "licences",
    "expected_services",
    "tags",
];

const REQUIRED: &[&str] = &["tag", "name", "type", "lifecycle"];

/// One problem in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    /// Row (CSV: line of the record, header = 1; JSON: 1-based index in the array).
    pub row: usize,
    /// Column or field.
    pub column: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "row {}: {}", self.row, self.message)
        } else {
            write!(f, "row {}, column `{}`: {}", self.row, self.column, self.message)
        }
    }
}

fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_list<T, E: ToString>(cell: &str, f: impl Fn(&str) -> Result<T, E>) -> Result<Vec<T>, String> {
    list(cell).map(|s| f(s).map_err(|e| e.to_string())).collect()
}

fn opt<T>(cell: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if cell.trim().is_empty() { Ok(None) } else { f(cell).map(Some) }
}

fn licence(s: &str) -> Result<Licence, String> {
    let mut parts = s.split('|');
    let product = parts.next().unwrap_or_default().trim().to_string();
    let vendor = parts.next().unwrap_or_default().trim().to_string();
    let expires = opt(parts.next().unwrap_or_default(), |d| d.parse::<Day>())?;
    if parts.next().is_some() {
        return Err(format!("`{s}` has too many parts; write product|vendor|YYYY-MM-DD"));
    }
    Ok(Licence { product, vendor, expires })
}

fn service(s: &str) -> Result<ExpectedService, String> {
    let (port, name) = s.split_once('/').unwrap_or((s, ""));
    let port: u16 = port.trim().parse().map_err(|_| format!("`{s}` is not port/name, e.g. 8443/edr-agent"))?;
    Ok(ExpectedService { port: Port(port), name: name.trim().to_string() })
}

/// Parse one CSV record (already split into named cells).
fn asset_from_cells(cells: &HashMap<&str, &str>) -> Result<Asset, Vec<FieldError>> {
    let mut errs = Vec::new();
    let get = |c: &str| cells.get(c).copied().unwrap_or("");
    macro_rules! field {
        ($col:literal, $parse:expr, $default:expr) => {
            match $parse(get($col)) {
                Ok(v) => v,
                Err(e) => {
                    errs.push(FieldError { field: $col.into(), message: e });
                    $default
                }
            }
        };
    }
    let mut asset = Asset {
        tag: get("tag").to_string(),
        name: get("name").to_string(),
        asset_type: field!("type", |s: &str| s.parse::<AssetType>(), AssetType::Other),
        owner: get("owner").trim().to_string(),
        department: get("department").trim().to_string(),
        lifecycle: field!("lifecycle", |s: &str| s.parse::<Lifecycle>(), Lifecycle::Procurement),
        lifecycle_since: field!("lifecycle_since", |s| opt(s, |d| d.parse::<Day>()), None),
        hostnames: list(get("hostnames")).map(String::from).collect(),
        macs: field!("macs", |s| parse_list(s, |m| m.parse::<census_proto::MacAddr>()), Vec::new()),
        ips: field!(
            "ips",
            |s| parse_list(s, |i| i.parse::<std::net::IpAddr>().map_err(|_| format!("`{i}` is not an IP address"))),
            Vec::new()
        ),
        expected_segment: field!(
            "expected_segment",
            |s| opt(s, |n| n.trim().parse::<ipnet::IpNet>().map_err(|_| format!("`{n}` is not a CIDR"))),
            None
        ),
        criticality: field!(
            "criticality",
            |s: &str| if s.trim().is_empty() { Ok(Criticality::Medium) } else { s.parse() },
            Criticality::Medium
        ),
        support_end: field!("support_end", |s| opt(s, |d| d.parse::<Day>()), None),
        licences: field!("licences", |s| parse_list(s, licence), Vec::new()),
        expected_services: field!("expected_services", |s| parse_list(s, service), Vec::new()),
        tags: list(get("tags")).map(String::from).collect(),
    };
    if let Err(more) = asset.check() {
        errs.extend(more);
    }
    if errs.is_empty() { Ok(asset) } else { Err(errs) }
}

fn check_duplicates(assets: &[(usize, Asset)], errors: &mut Vec<ImportError>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (row, a) in assets {
        if let Some(first) = seen.insert(&a.tag, *row) {
            errors.push(ImportError {
                row: *row,
                column: "tag".into(),
                message: format!("tag `{}` already used on row {first}", a.tag),
            });
        }
    }
}

/// Parse a CSV register. All-or-nothing: any error means no assets.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Asset>, Vec<ImportError>> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).trim(csv::Trim::All).from_reader(bytes);
    let headers = rdr
        .headers()
        .map_err(|e| {
            vec![ImportError { row: 1, column: String::new(), message: format!("cannot read the header: {e}") }]
        })?
        .clone();
    let mut errors = Vec::new();
    let names: Vec<String> = headers.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    for (i, h) in names.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(ImportError {
                row: 1,
                column: h.clone(),
                message: format!("unknown column; known columns: {}", COLUMNS.join(", ")),
            });
        } else if names[..i].contains(h) {
            errors.push(ImportError { row: 1, column: h.clone(), message: "column appears twice".into() });
        }
    }
    for r in REQUIRED {
        if !names.iter().any(|h| h == r) {
            errors.push(ImportError { row: 1, column: (*r).into(), message: "required column is missing".into() });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut assets = Vec::new();
    for record in rdr.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| p.line() as usize);
                errors.push(ImportError { row, column: String::new(), message: e.to_string() });
                continue;
            }
        };
        let row = record.position().map_or(0, |p| p.line() as usize);
        let cells: HashMap<&str, &str> = names.iter().map(String::as_str).zip(record.iter()).collect();
        match asset_from_cells(&cells) {
            Ok(a) => assets.push((row, a)),
            Err(errs) => {
                errors.extend(errs.into_iter().map(|e| ImportError { row, column: e.field, message: e.message }))
            }
        }
    }
    check_duplicates(&assets, &mut errors);
    if errors.is_empty() { Ok(assets.into_iter().map(|(_, a)| a).collect()) } else { Err(errors) }
}

/// Parse a JSON register: an array of assets. All-or-nothing.
pub fn parse_json(bytes: &[u8]) -> Result<Vec<Asset>, Vec<ImportError>> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| {
        vec![ImportError { row: 0, column: String::new(), message: format!("not a JSON array of assets: {e}") }]
    })?;
    let mut errors = Vec::new();
    let mut assets = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match asset_from_json(v) {
            Ok(a) => assets.push((i + 1, a)),
            Err(errs) => {
                errors.extend(errs.into_iter().map(|e| ImportError { row: i + 1, column: e.field, message: e.message }))
            }
        }
    }
    check_duplicates(&assets, &mut errors);
    if errors.is_empty() { Ok(assets.into_iter().map(|(_, a)| a).collect()) } else { Err(errors) }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(";")
}

/// Write assets as CSV with every column.
pub fn to_csv(assets: &[Asset]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for a in assets {
        let licences: Vec<String> = a
            .licences
            .iter()
            .map(|l| format!("{}|{}|{}", l.product, l.vendor, l.expires.map(|d| d.to_string()).unwrap_or_default()))
            .collect();
        let services: Vec<String> = a.expected_services.iter().map(|s| format!("{}/{}", s.port, s.name)).collect();
        let _ = w.write_record([
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
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Write assets as a pretty JSON array.
pub fn to_json(assets: &[Asset]) -> String {
    serde_json::to_string_pretty(assets).unwrap_or_else(|_| "[]".into())
}
