//! Which of a source's records is which asset, explained.
//!
//! The rules follow reconciliation's identity table
//! ([`crate::reconcile::identity`]) in order of strength, each naming what
//! matched:
//!
//! | rule | matches when | strength |
//! |---|---|---|
//! | `mac` | a record's MAC is one of the asset's (recorded, or seen on the network) | strong: a MAC names one device |
//! | `id` | the record's id is one of the asset's external ids `SOURCE:ID` (the source's own name) | strong: a system's id names one device |
//! | `serial` | the record's serial number is the asset's (`serial`, compared without regard to case) | weak: placeholders ("To Be Filled By O.E.M.") and typing slips share them |
//! | `hostname` | a record's host name equals one of the asset's, or one is bare and the other's first label | weak: names are reused |
//! | `ip` | the record's address is the asset's — only for sources keyed by `ip` | weak: DHCP moves addresses |
//!
//! Addresses are only used when the source offers nothing better: an EDR
//! console's "last IP" is hours old, and matching by it would tie a
//! laptop's record to whichever device holds that address now.

use std::collections::HashMap;

use super::{Field, SourceRecord};

/// A name's short form: up to its first dot.
fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// What identifies an asset: its MACs, host names and addresses, recorded
/// in the register and seen on the network (all lowercase, canonical).
#[derive(Debug, Clone, Default)]
pub struct DeviceKeys {
    /// MACs, `aa:bb:cc:dd:ee:ff`.
    pub macs: Vec<String>,
    /// Host names, lowercase, no trailing dot.
    pub names: Vec<String>,
    /// Addresses.
    pub ips: Vec<String>,
    /// Serial numbers, lowercase.
    pub serials: Vec<String>,
    /// External ids, `SYSTEM:ID` with the system lowercase.
    pub external_ids: Vec<String>,
}

impl DeviceKeys {
    /// What the register records for `a`: its MACs, host names, addresses,
    /// serial number and external ids (add what the sweeps saw to it).
    pub fn of(a: &crate::register::Asset) -> DeviceKeys {
        DeviceKeys {
            macs: a.macs.iter().map(ToString::to_string).collect(),
            names: a.hostnames.clone(),
            ips: a.ips.iter().map(ToString::to_string).collect(),
            serials: if a.serial.is_empty() { vec![] } else { vec![a.serial.to_lowercase()] },
            external_ids: a.external_ids.clone(),
        }
    }
}

/// One source's records, indexed by each rule's key.
#[derive(Debug, Default)]
pub struct SourceIndex {
    by_mac: HashMap<String, Vec<usize>>,
    /// `SOURCE:ID` as the register writes external ids.
    by_id: HashMap<String, Vec<usize>>,
    by_serial: HashMap<String, Vec<usize>>,
    /// Full names as recorded (bare or with a domain).
    by_name: HashMap<String, Vec<usize>>,
    /// The short forms of names recorded with a domain.
    by_short: HashMap<String, Vec<usize>>,
    by_ip: HashMap<String, Vec<usize>>,
}

/// A record that is this device, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The record's position in the source's list.
    pub record: usize,
    /// The rule and value that matched (`mac 00:1b:…`).
    pub by: String,
    /// By MAC: unique to one device. A name or an address can be shared,
    /// so a record matched that way to two assets is neither's.
    pub strong: bool,
}

impl SourceIndex {
    /// Index `records` of source `name` keyed by `key`.
    pub fn new(name: &str, records: &[SourceRecord], key: Field) -> SourceIndex {
        let mut ix = SourceIndex::default();
        for (i, r) in records.iter().enumerate() {
            if !r.id.is_empty() {
                ix.by_id.entry(format!("{name}:{}", r.id)).or_default().push(i);
            }
            for m in &r.macs {
                ix.by_mac.entry(m.clone()).or_default().push(i);
            }
            if !r.serial.is_empty() {
                ix.by_serial.entry(r.serial.to_lowercase()).or_default().push(i);
            }
            if !r.hostname.is_empty() {
                ix.by_name.entry(r.hostname.clone()).or_default().push(i);
                if short(&r.hostname) != r.hostname {
                    ix.by_short.entry(short(&r.hostname).to_string()).or_default().push(i);
                }
            }
            if key == Field::Ip && !r.ip.is_empty() {
                ix.by_ip.entry(r.ip.clone()).or_default().push(i);
            }
        }
        ix
    }

    /// The records that are this device, strongest rule first; empty when
    /// none is. Names match when equal, or when one is bare and is the
    /// other's short form (`ws-2` and `ws-2.corp.example`, never
    /// `ws-2.corp.example` and `ws-2.lab.example`).
    pub fn find(&self, d: &DeviceKeys) -> Vec<Found> {
        let mut out: Vec<Found> = Vec::new();
        let mut add = |ids: Option<&Vec<usize>>, by: String, strong: bool| {
            for &i in ids.into_iter().flatten() {
                if !out.iter().any(|f| f.record == i) {
                    out.push(Found { record: i, by: by.clone(), strong });
                }
            }
        };
        for m in &d.macs {
            add(self.by_mac.get(m), format!("mac {m}"), true);
        }
        for id in &d.external_ids {
            add(self.by_id.get(id), format!("id {id}"), true);
        }
        for sn in &d.serials {
            add(self.by_serial.get(sn), format!("serial {sn}"), false);
        }
        for n in &d.names {
            add(self.by_name.get(n), format!("hostname {n}"), false);
            if short(n) == n {
                add(self.by_short.get(n.as_str()), format!("hostname {n}"), false);
            } else {
                // Only a bare record name is keyed by the short form here.
                add(self.by_name.get(short(n)), format!("hostname {n}"), false);
            }
        }
        for ip in &d.ips {
            add(self.by_ip.get(ip), format!("ip {ip}"), false);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(mac: &str, name: &str, ip: &str) -> SourceRecord {
        SourceRecord {
            macs: if mac.is_empty() { vec![] } else { vec![mac.into()] },
            hostname: name.into(),
            ip: ip.into(),
            ..Default::default()
        }
    }

    #[test]
    fn records_match_by_mac_then_name_with_or_without_domain_and_by_address_only_when_keyed_by_it() {
        let records = [
            rec("00:1b:21:00:00:01", "", "198.18.0.1"),
            rec("", "ws-02.corp.example", ""),
            rec("", "ws-03", "198.18.0.3"),
        ];
        let ix = SourceIndex::new("edr", &records, Field::Mac);
        let keys = |macs: &[&str], names: &[&str], ips: &[&str]| DeviceKeys {
            macs: macs.iter().map(|s| s.to_string()).collect(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            serials: vec![],
            external_ids: vec![],
        };
        let found = |k: &DeviceKeys| ix.find(k).into_iter().map(|f| (f.record, f.by, f.strong)).collect::<Vec<_>>();
        assert_eq!(found(&keys(&["00:1b:21:00:00:01"], &[], &[])), [(0, "mac 00:1b:21:00:00:01".to_string(), true)]);
        assert_eq!(ix.find(&keys(&[], &["ws-02"], &[]))[0].record, 1, "a bare name: the record's short form");
        assert_eq!(
            ix.find(&keys(&[], &["ws-03.corp.example"], &[]))[0].record,
            2,
            "a bare record: the asset's short form"
        );
        assert!(ix.find(&keys(&[], &["ws-02.lab.example"], &[])).is_empty(), "another domain is another name");
        assert!(!ix.find(&keys(&[], &["ws-02.corp.example"], &[]))[0].strong, "names are weak");
        assert!(ix.find(&keys(&[], &[], &["198.18.0.1"])).is_empty(), "addresses only for ip-keyed sources");
        let by_ip = SourceIndex::new("edr", &records, Field::Ip);
        assert_eq!(by_ip.find(&keys(&[], &[], &["198.18.0.3"]))[0].by, "ip 198.18.0.3");
        assert!(ix.find(&keys(&["00:1b:21:00:00:09"], &["ws-9"], &[])).is_empty());
        let with_serial = [SourceRecord { serial: "C02XK1ABJG5H".into(), ..Default::default() }];
        let by_serial = SourceIndex::new("mdm", &with_serial, Field::Serial);
        let d = DeviceKeys { serials: vec!["c02xk1abjg5h".into()], ..Default::default() };
        assert_eq!((by_serial.find(&d)[0].by.as_str(), by_serial.find(&d)[0].strong), ("serial c02xk1abjg5h", false));
        let with_id = [SourceRecord { id: "1234".into(), ..Default::default() }];
        let by_id = SourceIndex::new("snipeit", &with_id, Field::Id);
        let d = DeviceKeys { external_ids: vec!["snipeit:1234".into(), "netbox:1234".into()], ..Default::default() };
        assert_eq!(by_id.find(&d).len(), 1);
        assert!(by_id.find(&DeviceKeys { external_ids: vec!["netbox:1234".into()], ..Default::default() }).is_empty());
    }
}
