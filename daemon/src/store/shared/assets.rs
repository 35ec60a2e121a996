//! Backend-neutral parts of the register store (see `store::shared`): how
//! an asset is stored (its JSON body, its lookup keys), what creating and
//! replacing one decides (lifecycle dating, the fields that changed, the
//! one-asset-per-MAC rule), the shape of its history entries and the
//! register's refusals; and for the keyed JSON tables (directory,
//! entitlements, retirements, sources) their names, how a record's id
//! becomes its key, and how a record is encoded and decoded.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::register::plan::changed_fields;
use crate::register::{Asset, Day};
use crate::store::{AssetChange, StoreError};

/// Today (UTC), the date a lifecycle change gets when none is given.
pub fn today() -> Day {
    Day(time::OffsetDateTime::now_utc().date())
}

/// An asset from its stored body (a body that does not decode — written by
/// a newer version, or damaged — is left out by every read).
///
/// # Errors
/// The decoder's, when `body` is not an asset.
pub fn decode(body: &str) -> Result<Asset, serde_json::Error> {
    serde_json::from_str(body)
}

/// The body stored for `a`.
pub fn encode(a: &Asset) -> String {
    serde_json::to_string(a).unwrap_or_default()
}

/// The rows of `asset_keys` for `a`, as (kind, value): its MACs, IPs and
/// host names for matching and whois, its serial (lowercase; several assets
/// may share one) and its external ids.
pub fn keys(a: &Asset) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(a.macs.len() + a.ips.len() + a.hostnames.len() + 1 + a.external_ids.len());
    out.extend(a.macs.iter().map(|m| ("mac", m.to_string())));
    out.extend(a.ips.iter().map(|ip| ("ip", ip.to_string())));
    out.extend(a.hostnames.iter().map(|h| ("hostname", h.clone())));
    if !a.serial.is_empty() {
        out.push(("serial", a.serial.to_lowercase()));
    }
    out.extend(a.external_ids.iter().map(|id| ("external_id", id.clone())));
    out
}

/// Refusal to create an asset whose tag (in any case) is the stored `tag`'s.
pub fn tag_taken(tag: &str) -> StoreError {
    StoreError::Conflict(format!("asset `{tag}`"))
}

/// Refusal to change an asset that is not in the register.
pub fn no_such_asset(tag: &str) -> StoreError {
    StoreError::NotFound(format!("asset `{tag}`"))
}

/// A MAC may be recorded on one asset only: `holder(mac)` names another
/// asset than `a` recording `mac` (canonical text), if any.
///
/// # Errors
/// [`StoreError::Refused`] naming `a`'s first MAC another asset holds;
/// `holder`'s own errors.
pub fn check_macs(
    a: &Asset,
    mut holder: impl FnMut(&str) -> Result<Option<String>, StoreError>,
) -> Result<(), StoreError> {
    for m in &a.macs {
        if let Some(other) = holder(&m.to_string())? {
            return Err(StoreError::Refused(format!(
                "MAC {m} is already recorded on asset {other}; a MAC belongs to one asset"
            )));
        }
    }
    Ok(())
}

/// `asset` as created: its lifecycle date defaults to today.
pub fn created(asset: &Asset) -> Asset {
    let mut a = asset.clone();
    a.lifecycle_since.get_or_insert_with(today);
    a
}

/// The lifecycle transition a creation records: from nothing to `a`'s.
pub fn created_lifecycle(a: &Asset) -> (&'static str, &'static str) {
    ("", a.lifecycle.as_str())
}

/// What replacing an asset writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The asset to store (and return).
    pub asset: Asset,
    /// The fields that changed; none: nothing is written.
    pub fields: Vec<String>,
    /// The lifecycle before and after, when it changed.
    pub lifecycle: Option<(&'static str, &'static str)>,
}

/// Replace `old` with `new`: the stored tag stays `old`'s (its case
/// included); a lifecycle change is dated today unless `new` gives another
/// date than `old`'s, an unchanged lifecycle keeps `old`'s date unless
/// `new` gives one.
pub fn replacement(old: &Asset, new: &Asset) -> Replacement {
    let mut a = new.clone();
    if a.lifecycle != old.lifecycle {
        if a.lifecycle_since.is_none() || a.lifecycle_since == old.lifecycle_since {
            a.lifecycle_since = Some(today());
        }
    } else if a.lifecycle_since.is_none() {
        a.lifecycle_since = old.lifecycle_since;
    }
    a.tag = old.tag.clone();
    let fields = changed_fields(old, &a);
    let lifecycle = (a.lifecycle != old.lifecycle).then(|| (old.lifecycle.as_str(), a.lifecycle.as_str()));
    Replacement { asset: a, fields, lifecycle }
}

/// The assets of an import that it rewrites — new ones and those with a
/// field changed — as their tags lowercased (ASCII, the register's tag
/// matching). An import drops the lookup keys of these first (so a MAC moved
/// between two of its assets is judged against its result, not its row
/// order); an asset it names unchanged is not rewritten and keeps its keys.
pub fn rewritten_tags(current: &[Asset], import: &[Asset]) -> Vec<String> {
    let stored: std::collections::HashMap<String, &Asset> =
        current.iter().map(|a| (a.tag.to_ascii_lowercase(), a)).collect();
    import
        .iter()
        .map(|a| a.tag.to_ascii_lowercase())
        .zip(import)
        .filter(|(t, a)| stored.get(t).is_none_or(|old| !replacement(old, a).fields.is_empty()))
        .map(|(t, _)| t)
        .collect()
}

/// A history row's `fields` column.
pub fn fields_json(fields: &[String]) -> String {
    serde_json::to_string(fields).unwrap_or_default()
}

/// A history entry from its row's columns.
pub fn history_entry(
    at_ms: i64,
    actor: String,
    action: String,
    fields: &str,
    from: Option<String>,
    to: Option<String>,
) -> AssetChange {
    AssetChange {
        at_ms,
        actor,
        action,
        fields: serde_json::from_str(fields).unwrap_or_default(),
        lifecycle: from.zip(to),
    }
}

/// The keyed JSON tables: whole records keyed by an id without regard to
/// ASCII case (names come from here, never from input).
#[derive(Debug, Clone, Copy)]
pub enum Keyed {
    /// `directory`: people and teams.
    Directory,
    /// `entitlements`: licences bought.
    Entitlements,
    /// `retirements`: wipe attestations, verified and forced disposals.
    Retirements,
    /// `sources`: coverage sources, each with its last loaded list.
    Sources,
}

impl Keyed {
    /// The table's name.
    pub fn table(self) -> &'static str {
        match self {
            Keyed::Directory => "directory",
            Keyed::Entitlements => "entitlements",
            Keyed::Retirements => "retirements",
            Keyed::Sources => "sources",
        }
    }
}

/// The key a record with id `id` is stored under: trimmed, ASCII lowercase.
pub fn record_key(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// A stored record of table `t` (`None`, with a warning, for one that does
/// not decode: written by a newer version, or damaged — kept in the table,
/// skipped by reads).
pub fn decode_record<T: DeserializeOwned>(t: Keyed, key: &str, body: &str) -> Option<T> {
    match serde_json::from_str(body) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(table = t.table(), key, error = %e, "a record does not decode; left out");
            None
        }
    }
}

/// The body stored for a record.
///
/// # Errors
/// [`StoreError::Db`] when it does not encode.
pub fn encode_record<T: Serialize>(e: &T) -> Result<String, StoreError> {
    serde_json::to_string(e).map_err(|e| StoreError::Db(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(tag: &str, lifecycle: &str) -> Asset {
        serde_json::from_value(serde_json::json!({
            "tag": tag, "name": "box", "type": "server", "lifecycle": lifecycle,
            "macs": ["00:1b:21:00:00:01"], "ips": ["192.0.2.1"], "hostnames": ["a.example"],
            "serial": "SN-1", "external_ids": ["snipeit:1"],
        }))
        .unwrap()
    }

    #[test]
    fn keys_cover_every_lookup_kind_serials_lowercase() {
        let k = keys(&asset("A-1", "deployed"));
        assert_eq!(
            k,
            [
                ("mac", "00:1b:21:00:00:01".to_string()),
                ("ip", "192.0.2.1".into()),
                ("hostname", "a.example".into()),
                ("serial", "sn-1".into()),
                ("external_id", "snipeit:1".into()),
            ]
        );
    }

    #[test]
    fn a_replacement_keeps_the_stored_tag_and_dates_a_lifecycle_change() {
        let mut old = asset("A-1", "deployed");
        old.lifecycle_since = Some("2020-01-01".parse().unwrap());
        let same = replacement(&old, &asset("a-1", "deployed"));
        assert_eq!(same.asset.tag, "A-1");
        assert_eq!(same.asset.lifecycle_since, old.lifecycle_since, "an unchanged lifecycle keeps its date");
        assert!(same.fields.is_empty() && same.lifecycle.is_none());
        let moved = replacement(&old, &asset("A-1", "decommissioned"));
        assert_eq!(moved.asset.lifecycle_since, Some(today()));
        assert_eq!(moved.lifecycle, Some(("deployed", "decommissioned")));
        assert!(!moved.fields.is_empty());
    }

    #[test]
    fn a_mac_held_elsewhere_is_refused_naming_the_holder() {
        let a = asset("A-1", "deployed");
        assert!(check_macs(&a, |_| Ok(None)).is_ok());
        let e = check_macs(&a, |_| Ok(Some("B-2".into()))).unwrap_err();
        assert!(matches!(e, StoreError::Refused(m) if m.contains("B-2") && m.contains("00:1b:21:00:00:01")));
    }

    #[test]
    fn record_keys_ignore_ascii_case_and_spaces() {
        assert_eq!(record_key("  U1 "), "u1");
        assert_eq!(record_key("É"), "É", "ASCII only, as SQLite's NOCASE");
    }
}
