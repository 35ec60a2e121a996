//! Reading a source's export: CSV with a header row or a JSON array of
//! objects, through the definition's column map. Columns the map does not
//! name are ignored (exports carry dozens); a mapped column missing from the
//! header, a record without its key field or with a value that is not what
//! its field holds is named by row and column, and the load stores nothing.

use std::net::IpAddr;

use serde_json::Value;

use super::{Field, MAX_RECORDS, SourceDef, SourceFormat, SourceRecord};
use crate::register::csv::ImportError;

/// Parse `bytes` as `def` says into records, or every problem found.
///
/// # Errors
/// Each problem by row and column (row 0: the file as a whole).
pub fn parse(def: &SourceDef, bytes: &[u8]) -> Result<Vec<SourceRecord>, Vec<ImportError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    let (records, mut errors) = match def.format {
        SourceFormat::Csv => csv_rows(def, bytes),
        SourceFormat::Json => json_rows(def, bytes),
    };
    if records.len() > MAX_RECORDS {
        errors.push(ImportError::file(format!("{} records: a load holds at most {MAX_RECORDS}", records.len())));
    }
    if errors.is_empty() { Ok(records) } else { Err(errors) }
}

fn err(row: usize, line: Option<u64>, column: &str, message: impl Into<String>) -> ImportError {
    ImportError { row, line, column: column.to_string(), message: message.into() }
}

/// Put `value` (of `column`) into `r`'s `field`.
fn set(r: &mut SourceRecord, field: Field, value: &str) -> Result<(), String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(());
    }
    if v.chars().count() > 255 {
        return Err("over 255 characters".into());
    }
    match field {
        Field::Id => {
            if v.chars().any(|c| crate::directory::hidden(c) || c.is_whitespace() || c == ';' || c == ',') {
                return Err("an id is printable characters without spaces, ',' or ';'".into());
            }
            r.id = v.to_string();
        }
        Field::Serial => {
            if v.chars().count() > 100 || v.contains(';') || v.chars().any(crate::directory::hidden) {
                return Err("a serial number is at most 100 printable characters without ';'".into());
            }
            r.serial = v.to_string();
        }
        Field::Hostname => {
            let name = v.trim_end_matches('.').to_ascii_lowercase();
            if !crate::register::model::host_name_ok(&name) {
                return Err(format!("`{}` is not a host name", v.chars().take(80).collect::<String>().escape_debug()));
            }
            r.hostname = name;
        }
        Field::Ip => {
            let ip: IpAddr = v.parse().map_err(|_| format!("`{}` is not an IP address", v.escape_debug()))?;
            r.ip = ip.to_canonical().to_string();
        }
        Field::Mac => {
            for m in v.split([';', ' ']).map(str::trim).filter(|m| !m.is_empty()).take(32) {
                let mac: census_proto::MacAddr = m.parse().map_err(|e: census_proto::MacParseError| e.to_string())?;
                if !crate::ingest::checks::identifying_mac(mac) {
                    return Err(format!("{mac} is a group or all-zero address: it identifies no device"));
                }
                let mac = mac.to_string();
                if !r.macs.contains(&mac) {
                    r.macs.push(mac);
                }
            }
        }
    }
    Ok(())
}

fn finish(def: &SourceDef, r: SourceRecord, line: Option<u64>, errors: &mut Vec<ImportError>) -> Option<SourceRecord> {
    // A row whose cells were refused is named once, by them.
    if errors.last().is_some_and(|e| e.row == r.row) {
        return None;
    }
    if r.key_value(def.key).is_empty() {
        let column = def.map.iter().find(|m| m.field == def.key).map_or("", |m| m.column.as_str());
        errors.push(err(r.row, line, column, format!("no {}: the key field is required", def.key.as_str())));
        return None;
    }
    Some(r)
}

fn csv_rows(def: &SourceDef, bytes: &[u8]) -> (Vec<SourceRecord>, Vec<ImportError>) {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let headers = match rdr.headers() {
        Ok(h) => h.iter().map(|h| h.trim().to_string()).collect::<Vec<_>>(),
        Err(e) => return (vec![], vec![ImportError::file(format!("cannot read the header: {e}"))]),
    };
    let mut errors = Vec::new();
    let mut at: Vec<(usize, Field, &str)> = Vec::new();
    for m in &def.map {
        let mut found = headers.iter().enumerate().filter(|(_, h)| h.eq_ignore_ascii_case(m.column.trim()));
        match (found.next(), found.next()) {
            (Some((i, _)), None) => at.push((i, m.field, m.column.as_str())),
            (Some(_), Some(_)) => errors.push(err(0, Some(1), &m.column, "the header names this column twice")),
            (None, _) => errors.push(err(0, Some(1), &m.column, "mapped column not in the header")),
        }
    }
    if !errors.is_empty() {
        return (vec![], errors);
    }
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut row = 0;
    loop {
        let line = rdr.position().line();
        row += 1;
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                errors.push(err(row, Some(line), "", e.to_string()));
                if errors.len() >= 100 {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        let mut r = SourceRecord { row, ..Default::default() };
        for (i, field, column) in &at {
            if let Err(m) = set(&mut r, *field, record.get(*i).unwrap_or_default()) {
                errors.push(err(row, Some(line), column, m));
            }
        }
        out.extend(finish(def, r, Some(line), &mut errors));
        if errors.len() >= 100 || out.len() > MAX_RECORDS {
            break;
        }
    }
    (out, errors)
}

/// The value at `path` (`a.b` reaches into nested objects) as text for
/// `field`: strings; numbers for ids and serials; lists of strings for
/// MACs. `Ok(None)` when absent or `null`.
fn lookup<'a>(obj: &'a Value, path: &str, field: Field) -> Result<Option<std::borrow::Cow<'a, str>>, String> {
    let Some(v) = obj.get(path).or_else(|| path.split('.').try_fold(obj, |o, k| o.get(k))) else { return Ok(None) };
    let wrong = |what: &str| Err(format!("{what} where {} is a {}", field.as_str(), expected(field)));
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.as_str().into())),
        // Whole numbers only, written as they are: a float would not be the id.
        Value::Number(n) if field == Field::Id && (n.is_u64() || n.is_i64()) => Ok(Some(n.to_string().into())),
        Value::Array(items) if field == Field::Mac => {
            let macs: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            match macs {
                Some(m) => Ok(Some(m.join(";").into())),
                None => wrong("a list with something other than strings"),
            }
        }
        Value::Array(_) => wrong("a list"),
        Value::Object(_) => wrong("an object"),
        Value::Bool(_) => wrong("true or false"),
        Value::Number(_) => wrong("a number"),
    }
}

/// What `field` takes in JSON, for messages.
fn expected(field: Field) -> &'static str {
    match field {
        Field::Mac => "string or a list of strings",
        Field::Id => "string or a whole number",
        Field::Serial | Field::Hostname | Field::Ip => "string",
    }
}

fn json_rows(def: &SourceDef, bytes: &[u8]) -> (Vec<SourceRecord>, Vec<ImportError>) {
    let items = match crate::register::strict_json::from_slice(bytes) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return (vec![], vec![ImportError::file("not a JSON array of devices: the document is not an array")]),
        Err(e) => return (vec![], vec![ImportError::file(format!("not a JSON array of devices: {e}"))]),
    };
    if items.len() > MAX_RECORDS {
        return (
            vec![],
            vec![ImportError::file(format!("{} records: a load holds at most {MAX_RECORDS}", items.len()))],
        );
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let row = i + 1;
        if !item.is_object() {
            errors.push(err(row, None, "", "not an object"));
            continue;
        }
        let mut r = SourceRecord { row, ..Default::default() };
        for m in &def.map {
            let set =
                lookup(item, m.column.trim(), m.field).and_then(|v| v.map_or(Ok(()), |v| set(&mut r, m.field, &v)));
            if let Err(message) = set {
                errors.push(err(row, None, &m.column, message));
            }
        }
        out.extend(finish(def, r, None, &mut errors));
        if errors.len() >= 100 {
            break;
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::parse_map;

    fn def(format: SourceFormat, key: Field, map: &str) -> SourceDef {
        SourceDef {
            name: "edr".into(),
            format,
            key,
            map: parse_map(map).unwrap(),
            expected_types: vec![],
            max_age_days: 7,
        }
    }

    #[test]
    fn csv_exports_map_their_columns_and_ignore_the_rest() {
        let d = def(SourceFormat::Csv, Field::Mac, "Device=hostname,MAC Addresses=mac,Last IP=ip,Agent ID=id");
        let csv = "\u{feff}Agent ID,Device,OS,MAC Addresses,Last IP\n\
                   a1,WS-01.corp.example.,Windows 11,00-1B-21-00-00-01;00:1b:21:00:00:02,198.18.0.11\n\
                   a2,ws-02,macOS,001b.2100.0003,\n";
        let r = parse(&d, csv.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].macs, ["00:1b:21:00:00:01", "00:1b:21:00:00:02"]);
        assert_eq!(
            (r[0].hostname.as_str(), r[0].ip.as_str(), r[0].id.as_str()),
            ("ws-01.corp.example", "198.18.0.11", "a1")
        );
        assert_eq!((r[1].row, r[1].macs[0].as_str(), r[1].ip.as_str()), (2, "00:1b:21:00:00:03", ""));
    }

    #[test]
    fn every_bad_cell_is_named_and_nothing_is_returned() {
        let d = def(SourceFormat::Csv, Field::Mac, "MAC=mac,IP=ip");
        let errors = parse(&d, b"MAC,IP\nnot-a-mac,198.18.0.1\n,198.18.0.2\n00:1b:21:00:00:01,1.2.3\n").unwrap_err();
        let at: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(at, [(1, "MAC"), (2, "MAC"), (3, "IP")], "{errors:?}");
        assert!(errors[1].message.contains("key field"));
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [Some(2), Some(3), Some(4)], "file lines");
        // Ragged rows and a mapped column named twice are refused (break-attempt regressions).
        let ragged = parse(&d, b"MAC,IP\n00:1b:21:00:00:01\n").unwrap_err();
        assert_eq!(ragged[0].row, 1, "{ragged:?}");
        let twice = parse(&d, b"MAC,IP,mac\n00:1b:21:00:00:01,198.18.0.1,00:1b:21:00:00:02\n").unwrap_err();
        assert_eq!(
            (twice[0].column.as_str(), twice[0].message.as_str()),
            ("MAC", "the header names this column twice")
        );
        let missing = parse(&def(SourceFormat::Csv, Field::Mac, "MAC=mac,Serial=serial"), b"MAC\n").unwrap_err();
        assert_eq!(
            (missing[0].column.as_str(), missing[0].message.as_str()),
            ("Serial", "mapped column not in the header")
        );
    }

    #[test]
    fn json_exports_reach_into_objects_and_lists() {
        let d = def(SourceFormat::Json, Field::Hostname, "device.name=hostname,macs=mac,id=id");
        let one = r#"{"id": 7, "device": {"name": "LAPTOP-9"}, "macs": ["00:1b:21:00:00:09"]}"#;
        let two = format!(r#"[{one}, {{"id": 8, "device": {{"name": null}}}}]"#);
        let errors = parse(&d, two.as_bytes()).unwrap_err();
        assert_eq!((errors[0].row, errors[0].column.as_str()), (2, "device.name"), "{errors:?}");
        let r = parse(&d, format!("[{one}]").as_bytes()).unwrap();
        assert_eq!((r[0].hostname.as_str(), r[0].id.as_str(), r[0].macs.len()), ("laptop-9", "7", 1));
        // Break-attempt regressions: wrong types are refused by row and column, not turned into text.
        for (body, column) in [
            (r#"[{"id": 1, "device": {"name": {"x": 1}}}]"#, "device.name"),
            (r#"[{"id": 1, "device": {"name": true}}]"#, "device.name"),
            (r#"[{"id": 1, "device": {"name": 123}}]"#, "device.name"),
            (r#"[{"id": 1, "device": {"name": ["a1", "b1"]}}]"#, "device.name"),
            (r#"[{"id": 1, "device": {"name": "a b"}}]"#, "device.name"),
            (r#"[{"id": 1, "device": {"name": "ok"}, "macs": [1, 2]}]"#, "macs"),
            (r#"[{"id": 1, "device": {"name": "ok"}, "macs": ["ff:ff:ff:ff:ff:ff"]}]"#, "macs"),
            (r#"[{"id": {}, "device": {"name": "ok"}}]"#, "id"),
        ] {
            let e = parse(&d, body.as_bytes()).unwrap_err();
            assert_eq!((e[0].row, e[0].column.as_str()), (1, column), "{body}: {e:?}");
        }
        assert!(parse(&d, b"{\"a\": 1}").unwrap_err()[0].message.contains("not an array"));
        assert!(parse(&d, b"[{\"id\": 1,").unwrap_err()[0].message.contains("not a JSON array"));
    }
}
