//! Coverage sources: other tools' own lists of the devices they cover — an
//! EDR console's endpoints, an MDM's enrolled laptops, a directory's
//! computer accounts, a cloud account's instances — loaded from their
//! exports and reconciled against the register and what the sweeps see.
//!
//! The strongest coverage check is not "is the EDR agent's port open" but
//! "is this asset in the EDR console's own list": that is how the devices
//! lacking their expected agent are found, and how a retired asset still
//! enrolled (its "remove from monitoring, revoke credentials" step of
//! decommissioning not done) shows.
//!
//! A source is defined once ([`SourceDef`]: its file format, the field that
//! identifies a device, how the export's columns map to Census's fields,
//! the asset types expected in it, its maximum age) and loaded as often as
//! the other tool exports ([`file`]). Each load replaces the source's list
//! whole — it is that tool's list as of the export — and never touches the
//! register. Records are matched to assets by [`matching`], the alerts are
//! judged on full reconciles ([`crate::reconcile::sources`]):
//!
//! | alert | when |
//! |---|---|
//! | `not-in-source` | a deployed or maintained asset of a type the source is expected to cover, on the network now, is not in its list |
//! | `retired-still-enrolled` | a decommissioned or disposed asset is still in a source's list |
//! | `source-unknown` | a source lists a device that matches no asset |
//! | `source-stale` | a source was not loaded within its maximum age (or never) |
//!
//! A stale source is still judged on its last list: stale data is reported,
//! never silently taken as "all clear".

pub mod file;
pub mod matching;

use serde::{Deserialize, Serialize};

use crate::register::AssetType;

/// The Census field a source column fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The source's own id for the device: matched against the register's
    /// external ids `NAME:ID` (NAME the source's).
    Id,
    /// MAC addresses (`;`-separated when several).
    Mac,
    /// Host name (matched with and without its domain).
    Hostname,
    /// IP address.
    Ip,
    /// The manufacturer's serial number (matched against the register's `serial`).
    Serial,
}

impl Field {
    /// Every field, in the order they are matched and shown.
    pub const ALL: [Field; 5] = [Field::Mac, Field::Hostname, Field::Ip, Field::Serial, Field::Id];

    /// The field's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Mac => "mac",
            Field::Hostname => "hostname",
            Field::Ip => "ip",
            Field::Serial => "serial",
        }
    }
}

impl std::str::FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        Field::ALL.into_iter().find(|f| f.as_str() == t).ok_or_else(|| {
            format!("`{}` is not a field: use id, mac, hostname, ip or serial", s.chars().take(40).collect::<String>())
        })
    }
}

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// CSV with a header row (`,` delimited).
    Csv,
    /// A JSON array of objects.
    Json,
}

/// One column of an export and the field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mapping {
    /// The export's column (CSV header, JSON key; `a.b` reaches into nested objects).
    pub column: String,
    /// The field.
    pub field: Field,
}

/// A source's definition (`censusd source add`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Name: a bare word (`edr`, `mdm`, `ad-computers`); over the API, the
    /// path's when left out.
    #[serde(default)]
    pub name: String,
    /// The export's format.
    pub format: SourceFormat,
    /// The field that identifies a device: every record must have it.
    pub key: Field,
    /// Columns to fields.
    pub map: Vec<Mapping>,
    /// Asset types every deployed asset of which is expected in the list
    /// (empty: none is, the source only reports retired and unknown devices).
    #[serde(default)]
    pub expected_types: Vec<AssetType>,
    /// Loads older than this are reported (`source-stale`), days (default 7).
    #[serde(default = "default_max_age")]
    pub max_age_days: u32,
}

fn default_max_age() -> u32 {
    7
}

/// The longest maximum age, days.
pub const MAX_AGE_DAYS: u32 = 3650;

/// The most records one load may hold.
pub const MAX_RECORDS: usize = 500_000;

impl SourceDef {
    /// Every problem with the definition: (field, why).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let n = &self.name;
        if n.is_empty()
            || n.len() > 40
            || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            out.push(("name", format!("`{}` is not 1–40 of a-z, 0-9, - and _", n.escape_debug())));
        }
        if self.key == Field::Id && !crate::register::model::external_id_ok(&format!("{}:1", self.name)) {
            out.push((
                "key",
                "`id` identifies a device by the register's external id NAME:ID, and this name cannot be a \
                 system's (1-32 of a-z, 0-9, - and _)"
                    .to_string(),
            ));
        }
        if !self.map.iter().any(|m| m.field == self.key) {
            out.push(("map", format!("no column is mapped to the key field `{}`", self.key.as_str())));
        }
        for (i, m) in self.map.iter().enumerate() {
            let c = m.column.trim();
            if c.is_empty() || c.len() > 200 || c.chars().any(char::is_control) {
                out.push(("map", format!("column {} has an empty, over-long or unprintable name", i + 1)));
            } else if self.format == SourceFormat::Json && c.contains('.') && c.split('.').any(str::is_empty) {
                out.push(("map", format!("`{c}` is not a JSON path: a.b.c, no empty part")));
            }
            if self.map[..i].iter().any(|o| o.field == m.field) {
                out.push(("map", format!("two columns fill `{}`", m.field.as_str())));
            }
        }
        for (i, t) in self.expected_types.iter().enumerate() {
            if self.expected_types[..i].contains(t) {
                out.push(("expected_types", format!("`{t}` is named twice")));
            }
        }
        if self.max_age_days == 0 || self.max_age_days > MAX_AGE_DAYS {
            out.push(("max_age_days", format!("{} days is not 1 to {MAX_AGE_DAYS}", self.max_age_days)));
        }
        out
    }
}

/// Parse `column=field,column=field` (`--map`).
///
/// # Errors
/// The pair at fault, for people.
pub fn parse_map(s: &str) -> Result<Vec<Mapping>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((column, field)) = pair.rsplit_once('=') else {
            return Err(format!("`{pair}` is not column=field"));
        };
        out.push(Mapping { column: column.trim().to_string(), field: field.parse()? });
    }
    if out.is_empty() {
        return Err("the map is empty: give column=field pairs, e.g. 'Device Name=hostname,MAC=mac'".into());
    }
    Ok(out)
}

/// One device a source lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceRecord {
    /// Its row in the export (1-based).
    pub row: usize,
    /// The source's id for it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// MACs, canonical.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macs: Vec<String>,
    /// Host name, lowercase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// IP address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Serial number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial: String,
}

impl SourceRecord {
    /// The value of `key` (the first MAC), for subjects and messages.
    pub fn key_value(&self, key: Field) -> String {
        match key {
            Field::Mac => self.macs.first().cloned().unwrap_or_default(),
            Field::Hostname => self.hostname.clone(),
            Field::Ip => self.ip.clone(),
            Field::Serial => self.serial.to_lowercase(),
            Field::Id => self.id.clone(),
        }
    }

    /// A short description: the fields it has.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (label, v) in [("id", &self.id), ("hostname", &self.hostname), ("ip", &self.ip), ("serial", &self.serial)] {
            if !v.is_empty() {
                parts.push(format!("{label} {v}"));
            }
        }
        if !self.macs.is_empty() {
            parts.push(format!("mac {}", self.macs.join(" ")));
        }
        parts.join(", ")
    }
}

/// A source as kept: its definition and its last load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    /// The definition.
    pub def: SourceDef,
    /// When it was last loaded (unix ms); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_ms: Option<i64>,
    /// Who loaded it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub loaded_by: String,
    /// The list as of the last load.
    #[serde(default)]
    pub records: Vec<SourceRecord>,
}

impl Source {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Not loaded within its maximum age at `now_ms` (or never).
    pub fn stale(&self, now_ms: i64) -> bool {
        self.loaded_ms.is_none_or(|l| now_ms - l > i64::from(self.def.max_age_days) * 86_400_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(key: Field, map: &str) -> SourceDef {
        SourceDef {
            name: "edr".into(),
            format: SourceFormat::Csv,
            key,
            map: parse_map(map).unwrap(),
            expected_types: vec![AssetType::Endpoint],
            max_age_days: 7,
        }
    }

    #[test]
    fn definitions_name_each_problem() {
        assert!(def(Field::Mac, "MAC Address=mac,Name=hostname").check().is_empty());
        let bad = SourceDef { name: "EDR console".into(), max_age_days: 0, ..def(Field::Id, "SN=id,S2=id") };
        assert!(def(Field::Id, "ID=id").check().is_empty(), "a source's ids match the register's edr:ID");
        let fields: Vec<&str> = bad.check().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["name", "key", "map", "max_age_days"]);
        assert!(def(Field::Mac, "Name=hostname").check()[0].1.contains("key field `mac`"));
        assert!(parse_map("Name").unwrap_err().contains("column=field"));
        assert!(parse_map("Name=owner").unwrap_err().contains("not a field"));
        assert_eq!(parse_map("a=b=ip").unwrap()[0].column, "a=b", "the last = splits");
    }

    #[test]
    fn a_source_is_stale_past_its_age_or_never_loaded() {
        let mut s =
            Source { def: def(Field::Mac, "m=mac"), loaded_ms: None, loaded_by: String::new(), records: vec![] };
        assert!(s.stale(0));
        s.loaded_ms = Some(0);
        assert!(!s.stale(7 * 86_400_000));
        assert!(s.stale(7 * 86_400_000 + 1));
    }
}
