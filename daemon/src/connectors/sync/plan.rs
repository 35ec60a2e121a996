//! Upstream records as register patches: which asset each record is, what
//! it changes, which assets lost their record. Pure: the use case
//! ([`crate::app::sync`]) hands the patches to the register's merge.
//!
//! A record is matched to an asset by, in order:
//!
//! | key | rule |
//! |---|---|
//! | external id | the asset carries `SYSTEM:ID` (a record synced before) |
//! | asset tag | the record's asset tag is the asset's tag (any case) |
//! | serial | one asset has the same serial (any case; placeholders such as "To Be Filled By O.E.M." never match) |
//! | MAC | an asset has one of the record's MACs |
//!
//! An asset that already carries another record's id of the same system is
//! not taken by tag, serial or MAC (two records are two assets); an asset
//! two records match goes to the first, and the second is skipped with the
//! reason. A record matching nothing becomes a new asset, tagged with its
//! asset tag or, when it has none or the tag is taken, `SYSTEM-ID`.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Mapping, System, UpstreamRecord};
use crate::register::model::host_name_ok;
use crate::register::patch::Patch;
use crate::register::{Asset, Lifecycle};

/// Serials firmware and people write when there is none: never identity keys.
const PLACEHOLDER_SERIALS: &[&str] = &[
    "to be filled by o.e.m.",
    "default string",
    "system serial number",
    "chassis serial number",
    "base board serial number",
    "not specified",
    "not applicable",
    "not available",
    "unknown",
    "invalid",
    "none",
    "null",
    "n/a",
    "oem",
    "o.e.m.",
    "serial",
    "tbd",
    "0123456789",
    "123456789",
    "1234567890",
    "12345678",
];

/// A hardware serial as matching compares it: trimmed, any case; `""` for
/// none or a placeholder: shorter than 4 characters, one character repeated
/// (`00000000`, `XXXXXXXX`), or one of [`PLACEHOLDER_SERIALS`].
pub fn serial_key(s: &str) -> String {
    let k = s.trim().to_lowercase();
    let mut chars = k.chars();
    let repeated = chars.next().is_some_and(|first| chars.all(|c| c == first));
    if k.chars().count() < 4 || repeated || PLACEHOLDER_SERIALS.contains(&k.as_str()) { String::new() } else { k }
}

/// An asset a record was tied to for the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// Asset tag.
    pub tag: String,
    /// `SYSTEM:ID`.
    pub external_id: String,
    /// How: `asset tag`, `serial`, `MAC aa:bb:…`, or `new asset`.
    pub matched_by: String,
}

/// A record the sync leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// `SYSTEM:ID`.
    pub external_id: String,
    /// Why.
    pub reason: String,
}

/// What [`prepare`] makes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// One patch per record used, then one per asset newly marked retired in
    /// the source; `row` is the record's position (1-based) or past the records.
    pub patches: Vec<Patch>,
    /// The external id of each patch, by row.
    pub rows: HashMap<usize, String>,
    /// New links.
    pub links: Vec<Link>,
    /// Records left alone.
    pub skipped: Vec<Skipped>,
    /// Differences not applied to assets linked to both systems.
    pub not_applied: Vec<Skipped>,
    /// What records hold that the register does not take (a MAC that names
    /// no device), by record; the rest of each record is used.
    pub left_out: Vec<Skipped>,
    /// Assets whose record is gone upstream, newly marked.
    pub retired_in_source: Vec<String>,
    /// Assets linked to the system before this sync (for the mass-retirement guard).
    pub linked: usize,
}

fn strings<T: ToString>(xs: &[T]) -> Vec<String> {
    xs.iter().map(ToString::to_string).collect()
}

/// `have` with `more` added (first spelling kept); `None` when nothing is new.
fn union(have: Vec<String>, more: impl IntoIterator<Item = String>) -> Option<Vec<String>> {
    let mut seen: HashSet<String> = have.iter().map(|s| s.to_lowercase()).collect();
    let mut out = have;
    let before = out.len();
    for m in more {
        if seen.insert(m.to_lowercase()) {
            out.push(m);
        }
    }
    (out.len() > before).then_some(out)
}

/// Whether `a` is linked to a system other than `system` (Snipe-IT and NetBox both).
fn linked_to_other(system: System, a: &Asset) -> bool {
    let other = match system {
        System::SnipeIt => System::NetBox,
        System::NetBox => System::SnipeIt,
    };
    let prefix = format!("{}:", other.as_str());
    a.external_ids.iter().any(|e| e.starts_with(&prefix))
}

/// The fields `r` sets on `a` (or on a new asset when `a` is `None`).
///
/// An asset linked to both Snipe-IT and NetBox would otherwise be written
/// back and forth by their syncs: on such an asset a sync only fills empty
/// fields and leaves the lifecycle stage alone (the first system to set a
/// field keeps it; a person can change it).
///
/// What such an asset keeps although the record says otherwise is added to
/// `kept` (`owner: alice here, bob there`), for the plan to show.
fn values(
    system: System,
    r: &UpstreamRecord,
    a: Option<&Asset>,
    stage: Lifecycle,
    kept: &mut Vec<String>,
) -> Map<String, Value> {
    let shared = a.is_some_and(|a| linked_to_other(system, a));
    // The asset as JSON once, for the fields a shared asset already has.
    let here_json = a.filter(|_| shared).and_then(|a| serde_json::to_value(a).ok()).unwrap_or_default();
    let current = |k: &str| -> String { here_json[k].as_str().map(String::from).unwrap_or_default() };
    let mut v = Map::new();
    let mut text = |k: &str, s: &str| {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        let here = current(k);
        if here.is_empty() {
            v.insert(k.into(), Value::String(s.to_string()));
        } else if here != s {
            kept.push(format!("{k}: `{here}` kept, `{s}` in {}", system.title()));
        }
    };
    text("name", &r.name);
    text("serial", &r.serial);
    text("manufacturer", &r.manufacturer);
    text("model", &r.model);
    text("location", &r.location);
    if let Some(o) = &r.owner {
        text("owner", o);
    }
    // A disposed asset stays disposed: a disposal is recorded in Census.
    if a.is_none_or(|a| a.lifecycle != Lifecycle::Disposed && a.lifecycle != stage) {
        match a {
            Some(a) if shared => kept.push(format!("lifecycle: {} kept, {stage} in {}", a.lifecycle, system.title())),
            _ => {
                v.insert("lifecycle".into(), Value::String(stage.as_str().into()));
            }
        }
    }
    let hostnames =
        r.hostname.as_deref().map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase()).filter(|h| host_name_ok(h));
    let lists = [
        ("macs", a.map(|a| strings(&a.macs)), strings(&r.macs)),
        ("ips", a.map(|a| strings(&a.ips)), strings(&r.ips)),
        ("hostnames", a.map(|a| a.hostnames.clone()), hostnames.into_iter().collect()),
        ("external_ids", a.map(|a| a.external_ids.clone()), vec![r.external_id(system)]),
    ];
    for (k, have, more) in lists {
        if let Some(list) = union(have.unwrap_or_default(), more) {
            v.insert(k.into(), Value::from(list));
        }
    }
    if let Some(a) = a
        && a.tags.contains(&system.retired_tag())
    {
        let tags: Vec<String> = a.tags.iter().filter(|t| **t != system.retired_tag()).cloned().collect();
        v.insert("tags".into(), Value::from(tags));
    }
    v
}

/// The register's indexes a record is matched through.
struct Index<'a> {
    current: &'a [Asset],
    by_ext: HashMap<String, usize>,
    /// External ids two assets carry (any case): which record is which asset is unknown.
    ext_twice: HashMap<String, (usize, usize)>,
    by_tag: HashMap<String, usize>,
    by_serial: HashMap<String, Vec<usize>>,
    by_mac: HashMap<String, usize>,
}

impl<'a> Index<'a> {
    fn new(current: &'a [Asset]) -> Self {
        let mut ix = Index {
            current,
            by_ext: HashMap::new(),
            ext_twice: HashMap::new(),
            by_tag: HashMap::new(),
            by_serial: HashMap::new(),
            by_mac: HashMap::new(),
        };
        for (i, a) in current.iter().enumerate() {
            for e in &a.external_ids {
                if let Some(first) = ix.by_ext.insert(e.to_lowercase(), i)
                    && first != i
                {
                    ix.ext_twice.insert(e.to_lowercase(), (first, i));
                }
            }
            ix.by_tag.insert(a.tag.to_lowercase(), i);
            let s = serial_key(&a.serial);
            if !s.is_empty() {
                ix.by_serial.entry(s).or_default().push(i);
            }
            for m in &a.macs {
                ix.by_mac.insert(m.to_string(), i);
            }
        }
        ix
    }

    /// Whether asset `i` carries another record's id of `system`.
    fn linked_elsewhere(&self, i: usize, system: System, ext: &str) -> bool {
        let prefix = format!("{}:", system.as_str());
        self.current[i].external_ids.iter().any(|e| e.starts_with(&prefix) && !e.eq_ignore_ascii_case(ext))
    }

    /// The asset `r` is, and by what.
    fn find(&self, system: System, r: &UpstreamRecord) -> Result<Option<(usize, String)>, String> {
        let ext = r.external_id(system);
        if let Some((a, b)) = self.ext_twice.get(&ext.to_lowercase()) {
            return Err(format!(
                "both {} and {} carry the external id {ext}; remove it from one",
                self.current[*a].tag, self.current[*b].tag
            ));
        }
        if let Some(&i) = self.by_ext.get(&ext.to_lowercase()) {
            return Ok(Some((i, "external id".into())));
        }
        let free = |i: &usize| !self.linked_elsewhere(*i, system, &ext);
        if let Some(&i) = r.asset_tag.as_deref().and_then(|t| self.by_tag.get(&t.trim().to_lowercase()))
            && free(&i)
        {
            return Ok(Some((i, "asset tag".into())));
        }
        let serial = serial_key(&r.serial);
        if !serial.is_empty()
            && let Some(found) = self.by_serial.get(&serial)
        {
            let free_ones: Vec<usize> = found.iter().copied().filter(free).collect();
            match free_ones.as_slice() {
                [i] => return Ok(Some((*i, "serial".into()))),
                [] => {}
                many => {
                    let tags: Vec<&str> = many.iter().map(|i| self.current[*i].tag.as_str()).collect();
                    return Err(format!("its serial is on {} assets ({})", many.len(), tags.join(", ")));
                }
            }
        }
        for m in &r.macs {
            if let Some(&i) = self.by_mac.get(&m.to_string())
                && free(&i)
            {
                return Ok(Some((i, format!("MAC {m}"))));
            }
        }
        Ok(None)
    }
}

/// What was read besides the usable records.
#[derive(Debug, Clone, Default)]
pub struct ReadExtras {
    /// External ids (lowercase) of records the system listed but that could
    /// not be used: present upstream, so their assets are not retired there.
    pub present: HashSet<String>,
    /// A record came whose id could not be read: which asset it is, is
    /// unknown, so no asset is tagged retired in this sync.
    pub blind: bool,
}

/// The patches that bring `current` in line with `records` of `system`.
pub fn prepare(
    system: System,
    current: &[Asset],
    records: &[UpstreamRecord],
    mapping: &Mapping,
    extras: &ReadExtras,
) -> Prepared {
    let ix = Index::new(current);
    let mut out = Prepared::default();
    let prefix = format!("{}:", system.as_str());
    out.linked = current.iter().filter(|a| a.external_ids.iter().any(|e| e.starts_with(&prefix))).count();
    let mut claimed: HashMap<usize, String> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut taken: HashSet<String> = ix.by_tag.keys().cloned().collect();
    for (n, r) in records.iter().enumerate() {
        let ext = r.external_id(system);
        if !r.macs_left_out.is_empty() {
            out.left_out.push(Skipped {
                external_id: ext.clone(),
                reason: format!(
                    "MAC {} left off: a group, all-zero or shared virtual-router (VRRP, HSRP) address names no device",
                    strings(&r.macs_left_out).join(", ")
                ),
            });
        }
        let mut skip = |reason: String| out.skipped.push(Skipped { external_id: ext.clone(), reason });
        if !seen.insert(ext.to_lowercase()) {
            skip("the system listed this record twice; the first was used".into());
            continue;
        }
        let Some(stage) = mapping.stage(system, r) else {
            skip(format!(
                "its status `{}` maps to no lifecycle stage: add it to [sync.{}] status_map",
                r.status.escape_debug(),
                system.as_str()
            ));
            continue;
        };
        let found = match ix.find(system, r) {
            Ok(f) => f,
            Err(why) => {
                skip(why);
                continue;
            }
        };
        let row = n + 1;
        let patch = match found {
            Some((i, how)) => {
                let a = &current[i];
                if let Some(first) = claimed.insert(i, ext.clone()) {
                    skip(format!("it matches asset {} by {how}, which {first} matched first", a.tag));
                    claimed.insert(i, first);
                    continue;
                }
                if how != "external id" {
                    out.links.push(Link { tag: a.tag.clone(), external_id: ext.clone(), matched_by: how });
                }
                Patch {
                    row,
                    line: None,
                    tag: a.tag.clone(),
                    values: {
                        let mut kept = Vec::new();
                        let v = values(system, r, Some(a), stage, &mut kept);
                        if !kept.is_empty() {
                            out.not_applied.push(Skipped {
                                external_id: ext.clone(),
                                reason: format!(
                                    "{} is linked to both systems, so fields it has are kept: {}",
                                    a.tag,
                                    kept.join("; ")
                                ),
                            });
                        }
                        v
                    },
                    ..Patch::default()
                }
            }
            None => {
                // An asset tag the register cannot take (spaces, slashes, …) gives way to `SYSTEM-ID`.
                let own = r
                    .asset_tag
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty() && crate::register::ident::ident_problem("tag", t, ":").is_none());
                let generated = format!("{}-{}", system.as_str(), r.id.replace('/', "-"));
                let Some(tag) = own
                    .filter(|t| !taken.contains(&t.to_lowercase()))
                    .map(str::to_string)
                    .or_else(|| (!taken.contains(&generated.to_lowercase())).then(|| generated.clone()))
                else {
                    skip(match own {
                        Some(t) => format!("it is a new asset, and both its asset tag {t} and {generated} are taken"),
                        None => format!("it is a new asset without a usable asset tag, and {generated} is taken"),
                    });
                    continue;
                };
                taken.insert(tag.to_lowercase());
                let mut v = values(system, r, None, stage, &mut Vec::new());
                if !v.contains_key("name") {
                    v.insert("name".into(), Value::String(own.unwrap_or(&generated).to_string()));
                }
                v.insert("type".into(), Value::String(mapping.asset_type(r).as_str().into()));
                v.insert("tag".into(), Value::String(tag.clone()));
                out.links.push(Link { tag: tag.clone(), external_id: ext.clone(), matched_by: "new asset".into() });
                Patch { row, line: None, tag, values: v, ..Patch::default() }
            }
        };
        out.rows.insert(row, ext);
        out.patches.push(patch);
    }
    // Assets whose every record of this system is gone: marked, never deleted.
    seen.extend(extras.present.iter().cloned());
    if extras.blind {
        out.skipped.push(Skipped {
            external_id: format!("{}:?", system.as_str()),
            reason: "a record without a readable id was left out, so no asset is tagged retired in this sync".into(),
        });
        return out;
    }
    let mut row = records.len();
    for (i, a) in current.iter().enumerate() {
        let ids: Vec<&String> = a.external_ids.iter().filter(|e| e.starts_with(&prefix)).collect();
        if ids.is_empty() || claimed.contains_key(&i) || ids.iter().any(|e| seen.contains(&e.to_lowercase())) {
            continue;
        }
        if a.tags.contains(&system.retired_tag()) {
            continue;
        }
        row += 1;
        let mut tags = a.tags.clone();
        tags.push(system.retired_tag());
        let mut v = Map::new();
        v.insert("tags".into(), Value::from(tags));
        out.rows.insert(row, ids[0].clone());
        out.retired_in_source.push(a.tag.clone());
        out.patches.push(Patch { row, line: None, tag: a.tag.clone(), values: v, ..Patch::default() });
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
