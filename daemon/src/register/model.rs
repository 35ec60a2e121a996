//! The managed register's asset: what the organisation says it owns, who
//! owns it, where it is in its lifecycle, what is licensed on it and what
//! should be running on it.
//!
//! [`AssetInput`] is what operators send (JSON over the API, a JSON import,
//! or one CSV row); [`AssetInput::validate`] turns it into an [`Asset`] or
//! names every field at fault. An `Asset` always holds valid data.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use census_proto::{MacAddr, Port};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

#[macro_export]
/// A closed set of lowercase words with parsing, display and serde, for the register and alerts.
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The name used in files and the API.
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),+ } }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim().to_ascii_lowercase();
                $name::ALL.iter().copied().find(|v| v.as_str() == t).ok_or_else(|| {
                    let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("`{}` is not one of {}", s.chars().take(40).collect::<String>(), all.join(", "))
                })
            }
        }
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($s),+]))
                    .into()
            }
        }
        impl ::utoipa::ToSchema for $name {}
    };
}

word_enum!(
    /// Kind of asset.
    AssetType { /// Servers.
    Server => "server", /// Laptops, desktops, phones.
    Endpoint => "endpoint", /// Switches, routers, firewalls, access points.
    Network => "network", /// Printers, cameras, sensors, building systems.
    Iot => "iot", /// Cloud instances and services.
    Cloud => "cloud", /// Anything else.
    Other => "other" }
);

word_enum!(
    /// Where an asset is in its life, from purchase order to disposal.
    Lifecycle { /// Bought, not yet deployed: should not be on the network yet.
    Procurement => "procurement", /// In service.
    Deployed => "deployed", /// In service, under maintenance.
    Maintenance => "maintenance", /// Retired on paper: should no longer answer.
    Decommissioned => "decommissioned", /// Wiped and disposed of.
    Disposed => "disposed" }
);

impl Lifecycle {
    /// In service: deployed or under maintenance.
    pub fn in_service(self) -> bool {
        matches!(self, Lifecycle::Deployed | Lifecycle::Maintenance)
    }
    /// Retired: decommissioned or disposed.
    pub fn retired(self) -> bool {
        matches!(self, Lifecycle::Decommissioned | Lifecycle::Disposed)
    }
}

word_enum!(
    /// How much the organisation depends on the asset.
    Criticality { /// Low.
    Low => "low", /// Medium (the default).
    Medium => "medium", /// High.
    High => "high", /// Critical.
    Critical => "critical" }
);

/// A calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub Date);

const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl Day {
    /// Whether the day falls in the years `0000`-`9999`, the ones
    /// `YYYY-MM-DD` spells. `time`'s parser, which reads what is not
    /// spelled plainly, also takes a signed year: `+2023-01-01` is the
    /// plain 2023-01-01, but `-2023-01-01` is 2023 BC, which no support end
    /// or licence expiry is. Input is checked with this ([`Asset::check`],
    /// the licence register's check); stored days decode as before, so a
    /// register that holds one still loads.
    pub fn spelled_plainly(self) -> bool {
        (0..=9999).contains(&self.0.year())
    }

    /// Why a day given as input is refused (see [`Day::spelled_plainly`]), if it is.
    pub fn input_problem(self) -> Option<String> {
        (!self.spelled_plainly()).then(|| format!("{self} is not a day of the years 0000-9999 (YYYY-MM-DD)"))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.format(DAY_FORMAT).unwrap_or_default())
    }
}

impl FromStr for Day {
    type Err = String;
    /// `YYYY-MM-DD`, spaces around it ignored.
    ///
    /// The common spelling (ten characters, four digits, two and two) is read
    /// by hand; anything else goes to `time`'s parser, which would give the
    /// same answer for those ten characters too, only slower: a register's
    /// dates (support ends, licence expiries) are parsed at every full
    /// reconcile, and `time`'s general parser was about a twentieth of
    /// decoding a million assets (`perf`, bench/RESULTS.md, 2026-12-07 night).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(d) = plain_day(s.as_bytes()) {
            return Ok(Day(d));
        }
        Date::parse(s, DAY_FORMAT)
            .map(Day)
            .map_err(|_| format!("`{}` is not a date (YYYY-MM-DD)", s.chars().take(40).collect::<String>()))
    }
}

/// `YYYY-MM-DD` as exactly ten ASCII characters, when it names a day.
fn plain_day(b: &[u8]) -> Option<Date> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else { return None };
    let mut n = [0u16; 8];
    for (slot, c) in n.iter_mut().zip([y0, y1, y2, y3, m0, m1, d0, d1]) {
        if !c.is_ascii_digit() {
            return None;
        }
        *slot = u16::from(c - b'0');
    }
    let year = i32::from(n[0] * 1000 + n[1] * 100 + n[2] * 10 + n[3]);
    let month = time::Month::try_from((n[4] * 10 + n[5]) as u8).ok()?;
    Date::from_calendar_date(year, month, (n[6] * 10 + n[7]) as u8).ok()
}

impl utoipa::PartialSchema for Day {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date)))
            .into()
    }
}

impl utoipa::ToSchema for Day {}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        census_proto::types::deserialize_parsed(d, "a date (YYYY-MM-DD)")
    }
}

/// A licence or contract attached to an asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// Product licensed.
    pub product: String,
    /// Vendor.
    #[serde(default)]
    pub vendor: String,
    /// Expiry, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Day>,
}

/// A TCP service the asset is expected to run (e.g. the EDR agent's port).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedService {
    /// TCP port.
    #[schema(value_type = u16, minimum = 1)]
    pub port: Port,
    /// What it is, e.g. `edr-agent`.
    #[serde(default)]
    pub name: String,
}

/// A certificate recorded against an asset: a credential it holds (its VPN
/// or 802.1X client certificate), by SHA-256 fingerprint and/or serial. When
/// the asset is decommissioned or disposed, any host serving it raises
/// `retired-credential-in-use`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedCert {
    /// What it is, e.g. `vpn` or `802.1x`.
    #[serde(default)]
    pub label: String,
    /// SHA-256 of the DER certificate, 64 hex digits (stored lowercase, colons dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Serial number in hex (stored lowercase, colons and leading zeros dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// The fewest hex digits (64 bits, the CA/Browser Forum's minimum serial
/// entropy, Baseline Requirements §7.1) a recorded serial needs to identify
/// a certificate without its SHA-256.
pub const MIN_SERIAL_ALONE: usize = 16;

/// Hex as Census stores it: lowercase, without `:` or spaces.
pub fn plain_hex(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, ':' | ' ')).collect::<String>().to_ascii_lowercase()
}

/// A certificate serial as Census compares it: [`plain_hex`] without leading zeros.
pub fn plain_serial(s: &str) -> String {
    let h = plain_hex(s);
    let t = h.trim_start_matches('0');
    if t.is_empty() && !h.is_empty() { "0".into() } else { t.to_string() }
}

impl RecordedCert {
    /// Normalise the hex and check it; the problem, for people.
    fn check(&mut self) -> Result<(), String> {
        self.label = self.label.trim().to_string();
        self.sha256 = self.sha256.as_deref().map(plain_hex).filter(|h| !h.is_empty());
        self.serial = self.serial.as_deref().map(plain_serial).filter(|h| !h.is_empty());
        if !text_ok(&self.label, 64) || self.label.contains([';', '|']) {
            return Err("label must be at most 64 printable characters without ';' or '|'".into());
        }
        if let Some(h) = &self.sha256
            && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("sha256 `{}` is not 64 hex digits", h.chars().take(80).collect::<String>()));
        }
        if let Some(h) = &self.serial
            && (h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("serial `{}` is not at most 64 hex digits", h.chars().take(80).collect::<String>()));
        }
        if self.sha256.is_none() && self.serial.is_none() {
            return Err("give a sha256 fingerprint or a serial".into());
        }
        // Serials are unique per issuer only, and appliances number theirs
        // from 1: a short serial alone would match other issuers' certificates.
        if let (None, Some(serial)) = (&self.sha256, &self.serial)
            && serial.len() < MIN_SERIAL_ALONE
        {
            return Err(format!(
                "serial `{serial}` is too short to identify a certificate alone (under {MIN_SERIAL_ALONE} hex digits; \
                 other issuers use it too): record its sha256 as well"
            ));
        }
        Ok(())
    }
}

/// A validated register entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Unique asset tag.
    pub tag: String,
    /// Display name.
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    pub asset_type: AssetType,
    /// Owning person or team.
    #[serde(default)]
    pub owner: String,
    /// Department.
    #[serde(default)]
    pub department: String,
    /// Lifecycle stage.
    pub lifecycle: Lifecycle,
    /// Date of the last lifecycle change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_since: Option<Day>,
    /// Host names (lowercase, no trailing dot).
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// MACs (several for multi-homed assets).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub macs: Vec<MacAddr>,
    /// Recorded IPs.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ips: Vec<IpAddr>,
    /// Segment the asset is expected on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expected_segment: Option<IpNet>,
    /// Criticality.
    #[serde(default = "default_criticality")]
    pub criticality: Criticality,
    /// End of vendor support or warranty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_end: Option<Day>,
    /// Licences and contracts.
    #[serde(default)]
    pub licences: Vec<Licence>,
    /// Services expected to run.
    #[serde(default)]
    pub expected_services: Vec<ExpectedService>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Certificates it holds (client credentials), by fingerprint or serial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<RecordedCert>,
    /// The manufacturer's serial number (an identity key for coverage
    /// sources and register sync).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial: String,
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manufacturer: String,
    /// Model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Where it is: site, building, room, rack.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// Its ids in other systems, `SYSTEM:ID` (`snipeit:1234`,
    /// `netbox:device/56`); the system part lowercase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<String>,
}

/// Whether `id` is an external id as [`Asset::check`] stores it: `SYSTEM:ID`,
/// the system 1–32 of `a-z`, `0-9`, `-`, `_`, the id 1–200 printable
/// characters without `;`, `,` or spaces (lists are written with both).
pub fn external_id_ok(id: &str) -> bool {
    let Some((system, rest)) = id.split_once(':') else { return false };
    !system.is_empty()
        && system.len() <= 32
        && system.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !rest.is_empty()
        && rest.chars().count() <= 200
        && !rest.chars().any(|c| c.is_control() || c.is_whitespace() || c == ';' || c == ',')
}

fn default_criticality() -> Criticality {
    Criticality::Medium
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, e.g. `macs` or `licences[1].expires`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn text_ok(s: &str, max: usize) -> bool {
    s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl Asset {
    /// Check the invariants serde cannot express; returns every problem found.
    pub fn check(&mut self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut err = |field: &str, message: String| errs.push(FieldError { field: field.into(), message });
        self.tag = self.tag.trim().to_string();
        if let Some(problem) = super::ident::ident_problem("tag", &self.tag, ":") {
            err("tag", problem);
        }
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || !text_ok(&self.name, 200) {
            err("name", "must be 1-200 printable characters".into());
        }
        for v in [&mut self.serial, &mut self.manufacturer, &mut self.model, &mut self.location] {
            *v = v.trim().to_string();
        }
        for (f, v) in [
            ("owner", &self.owner),
            ("department", &self.department),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("location", &self.location),
        ] {
            if !text_ok(v, 200) {
                err(f, "must be at most 200 printable characters".into());
            }
        }
        if !text_ok(&self.serial, 100) || self.serial.contains(';') {
            err("serial", "must be at most 100 printable characters without ';'".into());
        }
        for id in &mut self.external_ids {
            let t = id.trim();
            *id = match t.split_once(':') {
                Some((system, rest)) => format!("{}:{}", system.to_ascii_lowercase(), rest),
                None => t.to_string(),
            };
        }
        for (i, id) in self.external_ids.iter().enumerate() {
            if !external_id_ok(id) {
                err(
                    &format!("external_ids[{i}]"),
                    format!(
                        "`{}` is not SYSTEM:ID (SYSTEM 1-32 of a-z, 0-9, - and _; ID 1-200 printable characters \
                         without spaces, ',' or ';'; e.g. snipeit:1234, netbox:device/56)",
                        id.chars().take(80).collect::<String>()
                    ),
                );
            }
        }
        dedup(&mut self.external_ids);
        for h in &mut self.hostnames {
            *h = h.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        for (i, h) in self.hostnames.iter().enumerate() {
            if !host_name_ok(h) {
                err(
                    &format!("hostnames[{i}]"),
                    format!("`{}` is not a host name", h.chars().take(80).collect::<String>()),
                );
            }
        }
        for (i, m) in self.macs.iter().enumerate() {
            if !crate::ingest::checks::identifying_mac(*m) {
                err(&format!("macs[{i}]"), format!("{m} is a group or all-zero address, not a host's"));
            }
        }
        dedup(&mut self.hostnames);
        dedup(&mut self.macs);
        // `::ffff:198.18.0.5` is the IPv4 host it maps, as agents' batches store it.
        for ip in &mut self.ips {
            *ip = ip.to_canonical();
        }
        dedup(&mut self.ips);
        // `::ffff:198.18.0.0/120` is 198.18.0.0/24, host bits cleared (crate::net).
        self.expected_segment = self.expected_segment.map(crate::net::canonical_net);
        for (i, l) in self.licences.iter().enumerate() {
            let plain = |t: &str| !t.contains([';', '|']);
            if l.product.trim().is_empty()
                || !text_ok(&l.product, 200)
                || !text_ok(&l.vendor, 200)
                || !plain(&l.product)
                || !plain(&l.vendor)
            {
                err(
                    &format!("licences[{i}]"),
                    "product must be 1-200 printable characters, vendor at most 200, neither with ';' or '|'".into(),
                );
            }
        }
        for (i, s) in self.expected_services.iter().enumerate() {
            if s.port.0 == 0 || !text_ok(&s.name, 100) || s.name.contains(';') {
                err(
                    &format!("expected_services[{i}]"),
                    "port must be 1-65535 and name at most 100 characters without ';'".into(),
                );
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            if t.is_empty() || !text_ok(t, 64) || t.contains(';') {
                err(
                    &format!("tags[{i}]"),
                    format!(
                        "`{}` must be 1-64 printable characters without ';'",
                        t.chars().take(70).collect::<String>()
                    ),
                );
            }
        }
        dedup(&mut self.tags);
        for (i, c) in self.certificates.iter_mut().enumerate() {
            if let Err(m) = c.check() {
                err(&format!("certificates[{i}]"), m);
            }
        }
        dedup(&mut self.certificates);
        // A stage cannot begin in the future: a future day would hold every
        // verdict of the stage back until then.
        let today = time::OffsetDateTime::now_utc().date();
        if let Some(since) = self.lifecycle_since
            && since.0 > today
        {
            err(
                "lifecycle_since",
                format!("{since} is in the future: give the day the stage began (today, UTC, at the latest)"),
            );
        }
        for (field, day) in [("lifecycle_since", self.lifecycle_since), ("support_end", self.support_end)] {
            if let Some(problem) = day.and_then(Day::input_problem) {
                err(field, problem);
            }
        }
        for (i, l) in self.licences.iter().enumerate() {
            if let Some(problem) = l.expires.and_then(Day::input_problem) {
                err(&format!("licences[{i}].expires"), problem);
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// Drop repeated entries, keeping the first of each (linear: a list cell of
/// 64,000 items must not cost seconds).
fn dedup<T: Eq + std::hash::Hash + Clone>(v: &mut Vec<T>) {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    v.retain(|x| seen.insert(x.clone()));
}

/// Whether `h` (trimmed, lowercase, no trailing dot: as [`Asset::check`]
/// stores host names) is a host name the register takes: 1–253 characters,
/// dot-separated labels of 1–63 letters, digits, `-` and `_`, none starting
/// or ending with `-`, the last not all digits (RFC 1123 §2.1 host names,
/// with the `_` service and Windows names carry; a dotted-decimal address is
/// no name). `-x`, `a..b` and `1.2.3.4` name no host (reviews of 2026-12-08).
pub fn host_name_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.rsplit('.').next().is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()))
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Decode one asset from JSON, naming the field at fault, then check it.
///
/// A field that does not decode does not hide the others: it is set
/// aside (a required one stands in as a placeholder) and the rest read on,
/// so every top-level field at fault is named once, with the checks of the
/// fields that did decode; in a list, every bad item is named by its
/// position. Bounded: unknown keys are set aside in one
/// pass, then at most one retry per field an asset has.
///
/// # Errors
/// Every field at fault.
pub fn asset_from_json(value: serde_json::Value) -> Result<Asset, Vec<FieldError>> {
    // serde also reads a struct from an array of its fields in order: an
    // asset is only ever an object.
    if !value.is_object() {
        return Err(vec![FieldError { field: String::new(), message: "an asset is a JSON object".into() }]);
    }
    let mut value = value;
    let mut errs: Vec<FieldError> = Vec::new();
    // Fields set aside after their error: their checks would repeat it.
    let mut faulty: Vec<String> = Vec::new();
    // Unknown fields, all set aside in one pass (one retry each would be
    // quadratic in an object of 200,000 made-up keys).
    if let Some(obj) = value.as_object_mut() {
        let mut unknown: Vec<String> = Vec::new();
        obj.retain(|k, _| {
            let known = ASSET_FIELDS.contains(&k.as_str());
            if !known {
                unknown.push(k.clone());
            }
            known
        });
        errs.extend(unknown_fields(&unknown));
    }
    for _ in 0..ASSET_FIELDS.len() + REQUIRED_FIELDS.len() + 1 {
        let e = match serde_path_to_error::deserialize::<_, Asset>(&value) {
            Ok(mut asset) => {
                if let Err(found) = asset.check() {
                    errs.extend(found.into_iter().filter(|f| !faulty.iter().any(|k| k == top_field(&f.field))));
                }
                return if errs.is_empty() { Ok(asset) } else { Err(errs) };
            }
            Err(e) => e,
        };
        let (error, key) = field_error(e);
        let (Some(key), Some(obj)) = (key, value.as_object_mut()) else {
            errs.push(error);
            break;
        };
        if faulty.contains(&key) {
            errs.push(error);
            break;
        }
        match obj.get(&key).and_then(serde_json::Value::as_array).and_then(|items| list_item_errors(&key, items)) {
            Some(items) => errs.extend(items),
            None => errs.push(error),
        }
        match REQUIRED_FIELDS.iter().find(|(k, _)| *k == key) {
            Some((_, placeholder)) => obj.insert(key.clone(), serde_json::Value::from(*placeholder)),
            None => obj.remove(&key),
        };
        faulty.push(key);
    }
    Err(errs)
}

/// Every bad item of the list `items` (the value of field `key`), each
/// named by its position (`macs[1]`, `licences[3].expires`), with what the
/// checks find in the items that do read: the first bad item of a list
/// must not hide the others. Each item is read alone beside placeholders
/// for the required fields: linear in the list's length.
///
/// `None`: every item reads alone (the fault is the list's own).
fn list_item_errors(key: &str, items: &[serde_json::Value]) -> Option<Vec<FieldError>> {
    let mut probe: serde_json::Map<String, serde_json::Value> = REQUIRED_FIELDS
        .iter()
        .map(|(k, placeholder)| ((*k).to_string(), serde_json::Value::from(*placeholder)))
        .collect();
    let first = format!("{key}[0]");
    let mut errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        probe.insert(key.to_string(), serde_json::Value::Array(vec![item.clone()]));
        let at = |f: FieldError| FieldError {
            field: f.field.replacen(&first, &format!("{key}[{i}]"), 1),
            message: f.message,
        };
        match serde_path_to_error::deserialize::<_, Asset>(&probe) {
            Ok(mut alone) => {
                if let Err(found) = alone.check() {
                    errs.extend(found.into_iter().filter(|f| top_field(&f.field) == key).map(at));
                }
            }
            Err(e) => errs.push(at(field_error(e).0)),
        }
    }
    (!errs.is_empty()).then_some(errs)
}

/// The top-level field a [`FieldError`]'s path is in (`licences[1].expires`: `licences`).
pub fn top_field(path: &str) -> &str {
    path.split(['[', '.']).next().unwrap_or_default()
}

/// The faults of the fields `values` gives, read as part of an asset whose
/// tag and other required fields are not known (each stands in as a
/// placeholder): what can still be told of a row whose tag is unusable.
pub fn part_errors(values: &serde_json::Map<String, serde_json::Value>) -> Vec<FieldError> {
    let mut body = values.clone();
    for (k, placeholder) in REQUIRED_FIELDS {
        if k == "tag" || !body.contains_key(k) {
            body.insert(k.into(), serde_json::Value::from(placeholder));
        }
    }
    match asset_from_json(serde_json::Value::Object(body)) {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .into_iter()
            .filter(|f| top_field(&f.field) != "tag" && values.contains_key(top_field(&f.field)))
            .collect(),
    }
}

/// An asset's fields as JSON and CSV name them (the columns of the
/// register's CSV, in export order).
pub const ASSET_FIELDS: &[&str] = &[
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
    "certificates",
    "serial",
    "manufacturer",
    "model",
    "location",
    "external_ids",
];

/// Unknown fields named each (the first [`UNKNOWN_NAMED`]; the rest counted).
const UNKNOWN_NAMED: usize = 10;

fn unknown_fields(unknown: &[String]) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = unknown
        .iter()
        .take(UNKNOWN_NAMED)
        .map(|k| {
            let k: String = k.chars().take(80).collect();
            FieldError {
                message: format!("unknown field `{}`; known fields: {}", k.escape_debug(), ASSET_FIELDS.join(", ")),
                field: k,
            }
        })
        .collect();
    if unknown.len() > UNKNOWN_NAMED {
        out.push(FieldError {
            field: String::new(),
            message: format!("{} more unknown fields", unknown.len() - UNKNOWN_NAMED),
        });
    }
    out
}

/// The fields an asset cannot be read without, each with a placeholder
/// that reads, standing in for one at fault while the rest are read.
const REQUIRED_FIELDS: [(&str, &str); 4] =
    [("tag", "placeholder"), ("name", "placeholder"), ("type", "other"), ("lifecycle", "deployed")];

/// serde's error as a [`FieldError`], with the top-level field it is about
/// (`None`: the object itself, e.g. not an object).
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> (FieldError, Option<String>) {
    let top = e.path().iter().next().and_then(|s| match s {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    });
    let field = e.path().to_string();
    let message = e.into_inner().to_string();
    // serde names a missing or unknown field only in its message: "missing field `tag`".
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|m| m.split('`').next())
        .map(String::from);
    match (field.as_str(), named) {
        (".", Some(name)) => (FieldError { field: name.clone(), message }, Some(name)),
        (".", None) => (FieldError { field: String::new(), message }, None),
        _ => (FieldError { field, message }, top),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{DAY_FORMAT, Date, Day};

    /// A string that counts how often it is compared, so the work of a list
    /// cell's de-duplication is measured in operations, not seconds.
    #[derive(Clone, Debug)]
    struct Counted<'a>(String, &'a Cell<u64>);
    impl PartialEq for Counted<'_> {
        fn eq(&self, o: &Self) -> bool {
            self.1.set(self.1.get() + 1);
            self.0 == o.0
        }
    }
    impl Eq for Counted<'_> {}
    impl std::hash::Hash for Counted<'_> {
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            self.0.hash(h);
        }
    }

    /// Regression (review of 2026-12-07): an object with 207,000 made-up
    /// keys took 52 s (one retry a key, each reading the whole object) and
    /// answered 137 MB of errors; unknown keys are set aside in one pass and
    /// the first ten named.
    #[test]
    fn made_up_keys_are_set_aside_at_once_and_the_first_ten_named() {
        let mut obj = serde_json::json!({ "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed",
            "macs": ["nope"] });
        for i in 0..50_000 {
            obj[format!("k{i}")] = serde_json::json!(0);
        }
        let errs = super::asset_from_json(obj).unwrap_err();
        assert_eq!(errs.len(), 12, "{:?}", &errs[..3]);
        assert!(
            errs[..10]
                .iter()
                .all(|e| e.message.starts_with("unknown field `k") && e.message.contains("`; known fields: tag, name"))
        );
        assert_eq!(errs[10].message, "49990 more unknown fields");
        assert_eq!(errs[11].field, "macs[0]", "the known fields are still read: {:?}", errs[11]);
    }

    /// The field list unknown keys are told from is the asset's own.
    #[test]
    fn the_field_list_is_every_field_an_asset_writes() {
        let a = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "owner": "o", "department": "d", "lifecycle": "deployed",
            "lifecycle_since": "2024-01-01", "hostnames": ["h"], "macs": ["00:1b:21:3a:00:30"], "ips": ["198.18.0.5"],
            "expected_segment": "198.18.0.0/24", "criticality": "high", "support_end": "2030-01-01",
            "licences": [{ "product": "P" }], "expected_services": [{ "port": 22 }], "tags": ["t"],
            "certificates": [{ "sha256": "ab".repeat(32) }], "serial": "S", "manufacturer": "M", "model": "X",
            "location": "L", "external_ids": ["snipeit:1"],
        }))
        .unwrap();
        let written = serde_json::to_value(&a).unwrap();
        let keys: Vec<&str> = written.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = super::ASSET_FIELDS.to_vec();
        let mut keys = keys;
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, fields);
    }

    /// Regression (review of 2026-12-07): a row with four bad fields named
    /// one of them (JSON) or two (CSV), where the README promises every one.
    #[test]
    fn every_field_at_fault_is_named_once_not_only_the_first() {
        let errs = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "mainframe", "lifecycle": "deployed",
            "macs": ["00:1b:21:3a:00:30", "nope"], "criticality": "urgent", "support_end": "2023-02-30",
            "hostnames": ["bad name!"], "licences": [{ "product": "P", "expires": "soon" }], "colour": "red",
        }))
        .unwrap_err();
        let mut fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["colour", "criticality", "hostnames[0]", "licences[0].expires", "macs[1]", "support_end", "type"],
            "{errs:?}"
        );
        // Required fields at fault or missing are each named, and the rest still read.
        let errs = super::asset_from_json(serde_json::json!({ "tag": 7, "type": "server", "ips": ["198.18.0.300"] }))
            .unwrap_err();
        let mut fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["ips[0]", "lifecycle", "name", "tag"], "{errs:?}");
        assert!(errs.iter().any(|e| e.field == "name" && e.message.contains("missing field `name`")), "{errs:?}");
        // Not an object: one error, nothing to read on from; an array of
        // the 22 fields in order is not an asset either (review of 2026-12-07).
        let errs = super::asset_from_json(serde_json::json!(["A-1"])).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        let mut fields = vec![serde_json::json!("A-1"), "a".into(), "server".into()];
        fields.extend(std::iter::repeat_n(serde_json::Value::Null, 19));
        let errs = super::asset_from_json(serde_json::Value::Array(fields)).unwrap_err();
        assert_eq!(errs[0].message, "an asset is a JSON object", "{errs:?}");
        // A good asset still reads, checked as before.
        let a = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed", "hostnames": ["DB01.corp.example."],
        }))
        .unwrap();
        assert_eq!(a.hostnames, ["db01.corp.example"]);
        // Regression (review of 2026-12-08): a mapped expected segment is the IPv4 one.
        let a = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed",
            "expected_segment": "::ffff:198.18.0.9/120",
        }))
        .unwrap();
        assert_eq!(a.expected_segment, Some("198.18.0.0/24".parse().unwrap()));
    }

    /// Regression (review of 2026-12-08): within one list, the first item
    /// that did not read hid the others (`macs: ["zz", "yy"]` named
    /// `macs[0]` only; `licences[0].expires` hid `licences[2].expires`).
    /// Every bad item is named by its position, with the checks of the
    /// items that do read.
    #[test]
    fn every_bad_item_of_a_list_is_named_by_its_position() {
        let errs = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed",
            "macs": ["zz", "00:1b:21:3a:00:30", "yy", "01:00:5e:00:00:01"],
            "licences": [{ "product": "P", "expires": "soon" }, { "product": "Q" }, { "product": "R", "expires": 7 }],
            "tags": ["ok", "", "bad;tag"],
        }))
        .unwrap_err();
        let mut fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["licences[0].expires", "licences[2].expires", "macs[0]", "macs[2]", "macs[3]", "tags[1]", "tags[2]"],
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.field == "macs[2]" && e.message.contains("yy")), "{errs:?}");
        // A fault of the list itself is still named once, as the list.
        let errs = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed", "macs": "00:1b:21:3a:00:30",
        }))
        .unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["macs"], "{errs:?}");
        // Linear: a list of 20,000 bad items is read item by item at once.
        let many: Vec<String> = (0..20_000).map(|i| format!("x{i}")).collect();
        let errs = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed", "hostnames": ["ok"], "macs": many,
        }))
        .unwrap_err();
        assert_eq!(errs.len(), 20_000);
        assert_eq!(errs[19_999].field, "macs[19999]");
    }

    /// Regression (review of 2026-12-07): the register took `00:00:00:00:00:00`,
    /// which agents' batches and coverage sources refuse.
    #[test]
    fn a_host_name_is_dot_separated_labels_none_empty_or_edged_with_a_hyphen() {
        for ok in ["db01", "db01.corp.example", "_ldap._tcp.corp.example", "x", "a-b.c1", &"a".repeat(63)] {
            assert!(super::host_name_ok(ok), "{ok}");
        }
        for bad in [
            "-x",
            "x-",
            "a..b",
            ".a",
            "a b",
            "bad name!",
            "",
            &"a".repeat(64),
            &format!("{}.b", "-a"),
            "1.2.3.4",
            "1234",
        ] {
            assert!(!super::host_name_ok(bad), "{bad}");
        }
        let long = std::iter::repeat_n("a".repeat(63), 4).collect::<Vec<_>>().join(".");
        assert!(!super::host_name_ok(&long), "over 253 characters");
        let errs = super::asset_from_json(serde_json::json!({
            "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed", "hostnames": ["-x", "a..b", "ok"],
        }))
        .unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["hostnames[0]", "hostnames[1]"]);
    }

    #[test]
    fn a_mac_that_names_no_host_is_refused_in_every_spelling() {
        let input = |macs: &[&str]| {
            super::asset_from_json(serde_json::json!({
                "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed", "macs": macs,
            }))
        };
        for bad in ["00:00:00:00:00:00", "000000000000", "0000.0000.0000", "ff:ff:ff:ff:ff:ff", "01-00-5E-00-00-FB"] {
            let errs = input(&["00:1b:21:3a:00:30", bad]).unwrap_err();
            assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
            assert_eq!(errs[0].field, "macs[1]", "{bad}: {errs:?}");
            assert!(errs[0].message.contains("is a group or all-zero address, not a host's"), "{bad}: {errs:?}");
        }
        let a = input(&["00-1B-21-3A-00-30", "02:00:00:00:00:01"]).unwrap();
        // The same class for addresses: a mapped one is the IPv4 host (review of 2026-12-07).
        let mapped = super::asset_from_json(serde_json::json!({
            "tag": "A-2", "name": "a", "type": "server", "lifecycle": "deployed",
            "ips": ["::ffff:198.18.0.5", "198.18.0.5", "2001:2::5"],
        }))
        .unwrap();
        assert_eq!(mapped.ips.iter().map(ToString::to_string).collect::<Vec<_>>(), ["198.18.0.5", "2001:2::5"]);
        assert_eq!(
            a.macs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["00:1b:21:3a:00:30", "02:00:00:00:00:01"]
        );
    }

    #[test]
    fn a_day_before_year_0000_is_refused_as_input_and_still_read_when_stored() {
        let input = |since: &str, end: &str, expires: &str| {
            super::asset_from_json(serde_json::json!({
                "tag": "A-1", "name": "a", "type": "server", "lifecycle": "deployed",
                "lifecycle_since": since, "support_end": end,
                "licences": [{ "product": "P", "expires": expires }],
            }))
        };
        let errs = input("-0001-12-31", "-2023-01-01", "-9999-01-01").unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lifecycle_since", "support_end", "licences[0].expires"], "{errs:?}");
        assert!(errs[1].message.contains("-2023-01-01 is not a day of the years 0000-9999"), "{errs:?}");
        // A signed year that is a plain one is that day.
        let a = input("+2020-01-01", "0000-01-01", "9999-12-31").unwrap();
        assert_eq!(a.lifecycle_since.map(|d| d.to_string()).as_deref(), Some("2020-01-01"));
        // What a register already holds still decodes (nothing stored is lost).
        let stored: Day = serde_json::from_str("\"-2023-01-01\"").unwrap();
        assert!(!stored.spelled_plainly());
    }

    #[test]
    fn a_day_read_by_hand_is_the_day_time_reads() {
        let mut inputs: Vec<String> = vec![
            "2030-01-01".into(),
            " 2024-02-29 ".into(),
            "2023-02-29".into(),
            "2023-04-31".into(),
            "2023-00-10".into(),
            "2023-13-10".into(),
            "2023-01-00".into(),
            "2023-01-32".into(),
            "0000-01-01".into(),
            "9999-12-31".into(),
            "2023-1-01".into(),
            "2023-01-1".into(),
            "202a-01-01".into(),
            "2023/01/01".into(),
            "+2023-01-01".into(),
            "2023-01-01T00:00".into(),
            "２０２３-01-01".into(),
            String::new(),
        ];
        // Every day of a leap year and of a common one, and the day after each month's last.
        for year in [1900, 2000, 2023, 2024] {
            for month in 1..=12 {
                for day in 0..=32 {
                    inputs.push(format!("{year:04}-{month:02}-{day:02}"));
                }
            }
        }
        for s in &inputs {
            let by_time = Date::parse(s.trim(), DAY_FORMAT).ok();
            assert_eq!(s.parse::<Day>().ok().map(|d| d.0), by_time, "{s:?}");
        }
        let e = serde_json::from_str::<Day>("\"2023-02-29\"").unwrap_err().to_string();
        assert!(e.contains("`2023-02-29` is not a date"), "{e}");
        let d: Day = serde_json::from_str("\"2024-02-29\"").unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
    }

    /// Regression (hardening #5): a 64k-item list cell took 11 s and stalled every request.
    #[test]
    fn a_64k_item_list_cell_is_deduplicated_in_linear_work_keeping_first_occurrences() {
        let compared = Cell::new(0);
        let n = 64_000;
        let mut v: Vec<Counted<'_>> = (0..n).map(|i| Counted(format!("h{}", i % (n / 2)), &compared)).collect();
        super::dedup(&mut v);
        assert_eq!(v.len(), n / 2);
        assert!(v.iter().enumerate().all(|(i, x)| x.0 == format!("h{i}")), "first occurrences, in order");
        // Quadratic de-duplication compares about n²/4 = 10⁹ times; hashing about once per repeat.
        assert!(compared.get() < 4 * n as u64, "{} comparisons for {n} items", compared.get());
    }
}
