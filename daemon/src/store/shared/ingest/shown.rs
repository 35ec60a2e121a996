//! A stored observation as the daemon shows it (host view, whois).
//!
//! The store keeps each observation's JSON as the agent sent it (storing
//! the bytes it received costs no re-encoding on the ingest path). The
//! wire model accepts several spellings of the same identity: a MAC as
//! `00-1B-21-3A-00-30`, `001b.213a.0030` or `001B213A0030`, an IPv6
//! address with or without its zeros (`2001:2:0:0::5`, `2001:0002::5`),
//! an IPv4 address mapped into IPv6 (`::ffff:198.18.0.5`, stored as
//! `198.18.0.5`).
//! Everything else the daemon shows (hosts, alerts, the register, search)
//! spells them one way, `00:1b:21:3a:00:30` and RFC 5952 text, so an
//! observation is shown the same way: its address and MACs are rewritten
//! in the canonical spelling before it leaves the store, and a
//! conflicting MAC that is the host's own, or one listed before, is left
//! out (as `reconcile::rules::conflicting_macs` judges conflicts). Nothing else in it is
//! touched, so fields a newer agent added still show.

use std::net::IpAddr;

use census_proto::MacAddr;
use serde_json::Value;

/// `body` (one observation's stored JSON) decoded, with `ip`,
/// `mac.address` and each `conflicting_macs[].address` in the canonical
/// spelling; `Value::Null` when it does not decode (as before).
pub fn shown_observation(body: &str) -> Value {
    let mut v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        // Keys Census does not read, nested deeper than a JSON value is read
        // (128 levels), are no reason to show nothing (review of
        // 2026-12-07: `latest` was null): it is shown as Census reads it.
        Err(_) => serde_json::from_str::<census_proto::HostObservation>(body)
            .ok()
            .and_then(|h| serde_json::to_value(h).ok())
            .unwrap_or(Value::Null),
    };
    if let Some(ip) = v.get_mut("ip") {
        canonical(ip, |s| s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical().to_string()));
    }
    let mac = |s: &str| s.parse::<MacAddr>().ok().map(|m| m.to_string());
    if let Some(address) = v.get_mut("mac").and_then(|m| m.get_mut("address")) {
        canonical(address, mac);
    }
    let own = v.get("mac").and_then(|m| m.get("address")).cloned();
    if let Some(list) = v.get_mut("conflicting_macs").and_then(Value::as_array_mut) {
        for address in list.iter_mut().filter_map(|m| m.get_mut("address")) {
            canonical(address, mac);
        }
        // Its own MAC again, or one MAC in two spellings, is no conflict
        // (as `reconcile::rules::conflicting_macs` judges it).
        let mut kept: Vec<Value> = Vec::new();
        list.retain(|m| match m.get("address") {
            Some(a) if own.as_ref() == Some(a) || kept.contains(a) => false,
            Some(a) => {
                kept.push(a.clone());
                true
            }
            None => true,
        });
    }
    v
}

/// Replace a string `value` by its canonical spelling, when it has one.
fn canonical(value: &mut Value, spell: impl Fn(&str) -> Option<String>) {
    if let Some(s) = value.as_str().and_then(spell) {
        *value = Value::String(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_macs_are_shown_in_one_spelling_and_the_rest_as_sent() {
        let body = r#"{"ip":"2001:0002:0000::0005","mac":{"address":"00-1B-21-3A-00-30","vendor":"Intel"},
            "conflicting_macs":[{"address":"001b.213a.0031"},{"address":"001B213A0032"}],
            "names":[{"name":"DB01.corp.example","source":"ptr"}],"from_a_newer_agent":{"x":1}}"#;
        let v = shown_observation(body);
        assert_eq!(v["ip"], "2001:2::5");
        assert_eq!(v["mac"]["address"], "00:1b:21:3a:00:30");
        assert_eq!(v["mac"]["vendor"], "Intel");
        assert_eq!(v["conflicting_macs"][0]["address"], "00:1b:21:3a:00:31");
        assert_eq!(v["conflicting_macs"][1]["address"], "00:1b:21:3a:00:32");
        let twice = shown_observation(
            r#"{"mac":{"address":"00:1b:21:3a:00:30"},"conflicting_macs":[{"address":"00-1B-21-3A-00-30"},
               {"address":"001b.213a.0031"},{"address":"00:1b:21:3a:00:31"}]}"#,
        );
        assert_eq!(twice["conflicting_macs"], serde_json::json!([{"address":"00:1b:21:3a:00:31"}]));
        assert_eq!(v["names"][0]["name"], "DB01.corp.example", "names are shown as sent");
        assert_eq!(v["from_a_newer_agent"]["x"], 1);
        assert_eq!(shown_observation(r#"{"ip":"::ffff:198.18.0.5"}"#)["ip"], "198.18.0.5");
    }

    #[test]
    fn what_does_not_parse_or_decode_is_left_as_it_is() {
        let v = shown_observation(r#"{"ip":"198.18.0.5","mac":{"address":"not a mac"},"conflicting_macs":7}"#);
        assert_eq!(v["ip"], "198.18.0.5");
        assert_eq!(v["mac"]["address"], "not a mac");
        assert_eq!(v["conflicting_macs"], 7);
        assert_eq!(shown_observation("{broken"), Value::Null);
        // Nested past what a JSON value is read to, in a key Census does not read.
        let deep = format!(
            r#"{{"ip":"198.18.0.85","seen_by":["tcp"],"ports":[{{"port":22,"protocol":"tcp","state":"open"}}],
               "first_seen":"2026-12-07T10:00:00Z","last_seen":"2026-12-07T10:00:00Z","deep":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let v = shown_observation(&deep);
        assert_eq!((v["ip"].as_str(), v["ports"][0]["port"].as_u64()), (Some("198.18.0.85"), Some(22)), "{v}");
        assert!(v.get("deep").is_none());
        assert_eq!(shown_observation(r#"{"ip":5,"mac":null}"#)["ip"], 5);
    }
}
