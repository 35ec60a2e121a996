//! NetBox's devices and virtual machines, with their interfaces' MACs and
//! their IP addresses, as upstream records.
//!
//! Every list is paged as NetBox's REST API documents: `?limit=N` and a
//! `{"count", "next", "previous", "results"}` answer whose `next` link is
//! followed until it is null. Read:
//! - `/api/dcim/devices/`: `id`, `name`, `asset_tag`, `serial`,
//!   `device_type.{manufacturer.name, model}`, `role.name` (`device_role`
//!   before NetBox 3.6), `site`, `location`, `rack`, `status.value`,
//!   `primary_ip4`/`primary_ip6`, `custom_fields`;
//! - `/api/virtualization/virtual-machines/`: the same where a VM has it (servers by default);
//! - `/api/dcim/interfaces/` and `/api/virtualization/interfaces/`:
//!   `device.id` or `virtual_machine.id` and the MAC (`mac_address`, or
//!   `primary_mac_address.mac_address` and `mac_addresses[]` from NetBox 4.2);
//! - `/api/ipam/ip-addresses/`: `address` (CIDR) and the interface it is
//!   assigned to (`assigned_object.device.id` or `.virtual_machine.id`).
//!
//! The write-back is `PATCH` of the device or VM with
//! `{"custom_fields": {FIELD: "YYYY-MM-DD"}}`.

use std::collections::HashMap;
use std::net::IpAddr;

use census_proto::MacAddr;
use serde_json::{Value, json};

use super::config::SyncConfig;
use super::http::Upstream;
use super::plan::Skipped;
use super::{SyncError, UpstreamRecord};
use crate::register::AssetType;

/// Records asked for per page (NetBox's default `MAX_PAGE_SIZE` is 1000).
pub const PAGE: usize = 250;

const DEVICES: &str = "api/dcim/devices/";
const VMS: &str = "api/virtualization/virtual-machines/";
const INTERFACES: &str = "api/dcim/interfaces/";
const VM_INTERFACES: &str = "api/virtualization/interfaces/";
const ADDRESSES: &str = "api/ipam/ip-addresses/";

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Every result of a paged list (`rel` under the configured URL).
///
/// # Errors
/// [`SyncError`] from any page; an answer without `results`; more than `max` results.
pub async fn list(up: &Upstream, rel: &str, max: usize) -> Result<Vec<Value>, SyncError> {
    let first = up.url(&format!("{rel}?limit={PAGE}"))?;
    let path = first.path().to_string();
    let mut url = first;
    let mut out = Vec::new();
    let mut first_count: Option<u64> = None;
    // Pages a list of at most `max` entries can take: more is a `next` link going round.
    let most_pages = max / PAGE + 2;
    for _ in 0..=most_pages {
        let body = up.get(&url).await?;
        let bad = |m: &str| SyncError::Upstream {
            system: "NetBox",
            url: format!("{}?{}", url.path(), url.query().unwrap_or_default()),
            message: m.to_string(),
        };
        let Value::Object(mut body) = body else { return Err(bad("the answer is not a JSON object")) };
        let Some(Value::Array(results)) = body.remove("results") else {
            return Err(bad("the answer has no `results` array"));
        };
        let count = body.get("count").and_then(Value::as_u64).unwrap_or(0);
        if usize::try_from(count).unwrap_or(usize::MAX) > max || out.len() + results.len() > max {
            return Err(SyncError::Refused(format!(
                "NetBox lists {count} entries at {path}, more than max_records = {max}; nothing was changed"
            )));
        }
        // Offset paging shifts when entries are added or deleted meanwhile.
        match first_count {
            Some(c) if c != count => {
                return Err(bad(&format!(
                    "the list changed while it was read ({c} entries, then {count}); the next sync reads it again"
                )));
            }
            _ => first_count = Some(count),
        }
        let empty = results.is_empty();
        out.extend(results);
        match body.get("next") {
            Some(Value::String(next)) if !empty && !next.is_empty() => url = up.follow(next, &path)?,
            Some(Value::Null) | None => return Ok(out),
            Some(Value::String(_)) => return Err(bad("an empty page, or an empty `next` link, where a page was due")),
            Some(_) => return Err(bad("`next` is neither a link nor null")),
        }
    }
    Err(SyncError::Upstream {
        system: "NetBox",
        url: path,
        message: format!(
            "`next` links went on past {most_pages} pages, more than the entries reported allow; nothing was changed"
        ),
    })
}

fn ip_of(v: &Value) -> Option<IpAddr> {
    let a = v["address"].as_str()?;
    a.split('/').next()?.parse().ok()
}

/// A device (`kind = "device"`) or virtual machine (`"vm"`).
///
/// # Errors
/// It has no numeric id.
pub fn record(v: &Value, kind: &str, cfg: &SyncConfig) -> Result<UpstreamRecord, String> {
    let id = v["id"].as_u64().ok_or("it has no numeric `id`")?;
    let role = if v["role"].is_object() { &v["role"] } else { &v["device_role"] };
    let place: Vec<String> = ["site", "location", "rack", "cluster"]
        .iter()
        .map(|k| text(&v[*k]["name"]))
        .filter(|s| !s.is_empty())
        .collect();
    let name = text(&v["name"]);
    let mut r = UpstreamRecord {
        id: format!("{kind}/{id}"),
        asset_tag: Some(text(&v["asset_tag"])).filter(|t| !t.is_empty()),
        serial: text(&v["serial"]),
        manufacturer: text(&v["device_type"]["manufacturer"]["name"]),
        model: text(&v["device_type"]["model"]),
        location: place.join(" / "),
        kind: text(&role["name"]),
        default_type: (kind == "vm").then_some(AssetType::Server),
        status: text(&v["status"]["value"]),
        hostname: Some(name.clone()).filter(|n| !n.is_empty()),
        name,
        ..Default::default()
    };
    r.ips = ["primary_ip4", "primary_ip6"].iter().filter_map(|k| ip_of(&v[*k])).collect();
    if let Some(f) = &cfg.last_seen_field {
        r.last_seen_value = Some(text(&v["custom_fields"][f])).filter(|s| !s.is_empty());
    }
    Ok(r)
}

/// The MACs of one interface (every NetBox version's shape).
fn interface_macs(i: &Value) -> Vec<MacAddr> {
    let mut out: Vec<MacAddr> = Vec::new();
    let mut add = |v: &Value| {
        // All-zero, group and shared virtual-router addresses name no device.
        if let Some(m) = v.as_str().and_then(|s| s.parse::<MacAddr>().ok())
            && super::device_mac(m)
            && !out.contains(&m)
        {
            out.push(m);
        }
    };
    add(&i["mac_address"]);
    add(&i["primary_mac_address"]["mac_address"]);
    for m in i["mac_addresses"].as_array().into_iter().flatten() {
        add(&m["mac_address"]);
    }
    out
}

/// Every device and virtual machine with its MACs and addresses, and the entries left out.
///
/// # Errors
/// [`SyncError`] from any list.
pub async fn fetch(up: &Upstream, cfg: &SyncConfig) -> Result<(Vec<UpstreamRecord>, Vec<Skipped>), SyncError> {
    let max = cfg.max_records;
    let (mut records, mut skipped) = (Vec::new(), Vec::new());
    for (rel, kind) in [(DEVICES, "device"), (VMS, "vm")] {
        for v in list(up, rel, max).await? {
            match record(&v, kind, cfg) {
                Ok(r) => records.push(r),
                Err(reason) => {
                    let id = v["id"].as_u64().map_or_else(|| "?".to_string(), |n| n.to_string());
                    skipped.push(Skipped { external_id: format!("netbox:{kind}/{id}"), reason });
                }
            }
        }
    }
    let at: HashMap<String, usize> = records.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    for (rel, owner, kind) in [(INTERFACES, "device", "device"), (VM_INTERFACES, "virtual_machine", "vm")] {
        for i in list(up, rel, max.saturating_mul(8)).await? {
            let Some(&n) = i[owner]["id"].as_u64().and_then(|id| at.get(&format!("{kind}/{id}"))) else { continue };
            for m in interface_macs(&i) {
                if !records[n].macs.contains(&m) {
                    records[n].macs.push(m);
                }
            }
        }
    }
    for a in list(up, ADDRESSES, max.saturating_mul(8)).await? {
        let o = &a["assigned_object"];
        let key = match a["assigned_object_type"].as_str() {
            Some("dcim.interface") => o["device"]["id"].as_u64().map(|id| format!("device/{id}")),
            Some("virtualization.vminterface") => o["virtual_machine"]["id"].as_u64().map(|id| format!("vm/{id}")),
            _ => None,
        };
        if let (Some(&n), Some(ip)) = (key.and_then(|k| at.get(&k)), ip_of(&a))
            && !records[n].ips.contains(&ip)
        {
            records[n].ips.push(ip);
        }
    }
    Ok((records, skipped))
}

/// Whether `id` (`device/56`, `vm/7`) still exists upstream (404: it does not).
///
/// # Errors
/// [`SyncError`] from the request.
pub async fn still_there(up: &Upstream, id: &str) -> Result<bool, SyncError> {
    let (kind, n) = id.split_once('/').unwrap_or(("device", id));
    let rel = if kind == "vm" { VMS } else { DEVICES };
    let url = up.url(&format!("{rel}{n}/"))?;
    Ok(up.get_one(&url).await?.is_some_and(|v| v["id"].is_u64()))
}

/// Write `day` into the configured custom field of `id` (`device/56`, `vm/7`).
///
/// # Errors
/// [`SyncError`].
pub async fn write_back(up: &Upstream, field: &str, id: &str, day: &str) -> Result<(), SyncError> {
    let (kind, n) = id.split_once('/').unwrap_or(("device", id));
    let rel = if kind == "vm" { VMS } else { DEVICES };
    let url = up.url(&format!("{rel}{n}/"))?;
    up.patch(&url, &json!({ "custom_fields": { field: day } })).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SyncConfig {
        let raw: super::super::config::RawSyncs = toml::from_str(
            "[netbox]\nurl = \"http://127.0.0.1\"\ntoken_file = \"/t\"\nlast_seen_field = \"census_last_seen\"\n",
        )
        .unwrap();
        super::super::config::validate(std::path::Path::new("c.toml"), raw).unwrap().netbox.unwrap()
    }

    #[test]
    fn a_documented_device_is_read() {
        let d = serde_json::json!({
            "id": 56, "name": "sw-core-01", "asset_tag": null, "serial": "FOC1234X0AB",
            "device_type": {"id": 3, "manufacturer": {"id": 1, "name": "Cisco", "slug": "cisco"}, "model": "C9300-48P"},
            "role": {"id": 2, "name": "Core Switch", "slug": "core-switch"},
            "site": {"id": 1, "name": "HQ"}, "location": null, "rack": {"id": 4, "name": "R12"},
            "status": {"value": "active", "label": "Active"},
            "primary_ip4": {"id": 9, "address": "198.18.0.2/24"}, "primary_ip6": null,
            "custom_fields": {"census_last_seen": "2026-11-30"}
        });
        let r = record(&d, "device", &cfg()).unwrap();
        assert_eq!(r.id, "device/56");
        assert_eq!(r.asset_tag, None);
        assert_eq!((r.manufacturer.as_str(), r.model.as_str()), ("Cisco", "C9300-48P"));
        assert_eq!((r.kind.as_str(), r.status.as_str()), ("Core Switch", "active"));
        assert_eq!(r.location, "HQ / R12");
        assert_eq!(r.ips, ["198.18.0.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.hostname.as_deref(), Some("sw-core-01"));
        assert_eq!(r.last_seen_value.as_deref(), Some("2026-11-30"));
        // NetBox before 3.6 names the role `device_role`.
        let old = serde_json::json!({"id": 1, "device_role": {"name": "Server"}});
        assert_eq!(record(&old, "device", &cfg()).unwrap().kind, "Server");
        let vm = record(&serde_json::json!({"id": 7, "name": "db-01"}), "vm", &cfg()).unwrap();
        assert_eq!((vm.id.as_str(), vm.default_type), ("vm/7", Some(AssetType::Server)));
    }

    #[test]
    fn macs_come_from_every_version_of_the_interface() {
        let old = serde_json::json!({"mac_address": "00:1A:2B:3C:4D:5E"});
        let new = serde_json::json!({"mac_address": null, "primary_mac_address": {"mac_address": "00:1a:2b:3c:4d:5e"},
            "mac_addresses": [{"mac_address": "00:1A:2B:3C:4D:5E"}, {"mac_address": "02:00:00:00:00:01"}]});
        assert_eq!(interface_macs(&old).len(), 1);
        assert_eq!(interface_macs(&new).len(), 2);
        assert!(interface_macs(&serde_json::json!({"mac_address": "bogus"})).is_empty());
        for none in
            ["00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "00:00:5e:00:01:01", "00:00:0c:07:ac:0a"]
        {
            assert!(interface_macs(&serde_json::json!({"mac_address": none})).is_empty(), "{none}");
        }
    }
}
