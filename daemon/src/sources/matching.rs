//! Which of a source's records is which asset, explained.
//!
//! The rules follow reconciliation's identity table
//! ([`crate::reconcile::identity`]) in order of strength, each naming what
//! matched:
//!
//! | rule | matches when | strength |
//! |---|---|---|
//! | `mac` | a record's MAC is one of the asset's (recorded, or seen on the network) | strong: MACs are globally unique |
//! | `hostname` | a record's host name equals one of the asset's, with or without its domain | medium: names are reused |
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
}

/// One source's records, indexed by each rule's key.
#[derive(Debug, Default)]
pub struct SourceIndex {
    by_mac: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    by_ip: HashMap<String, Vec<usize>>,
}

impl SourceIndex {
    /// Index `records` of a source keyed by `key`.
    pub fn new(records: &[SourceRecord], key: Field) -> SourceIndex {
        let mut ix = SourceIndex::default();
        for (i, r) in records.iter().enumerate() {
            for m in &r.macs {
                ix.by_mac.entry(m.clone()).or_default().push(i);
            }
            if !r.hostname.is_empty() {
                ix.by_name.entry(r.hostname.clone()).or_default().push(i);
                if short(&r.hostname) != r.hostname {
                    ix.by_name.entry(short(&r.hostname).to_string()).or_default().push(i);
                }
            }
            if key == Field::Ip && !r.ip.is_empty() {
                ix.by_ip.entry(r.ip.clone()).or_default().push(i);
            }
        }
        ix
    }

    /// The records that are this device, each with the rule and value that
    /// matched (`mac 00:1b:…`), strongest rule first; empty when none is.
    pub fn find(&self, d: &DeviceKeys) -> Vec<(usize, String)> {
        let mut out: Vec<(usize, String)> = Vec::new();
        let mut add = |ids: Option<&Vec<usize>>, why: String| {
            for &i in ids.into_iter().flatten() {
                if !out.iter().any(|(j, _)| *j == i) {
                    out.push((i, why.clone()));
                }
            }
        };
        for m in &d.macs {
            add(self.by_mac.get(m), format!("mac {m}"));
        }
        for n in &d.names {
            add(self.by_name.get(n), format!("hostname {n}"));
            if short(n) != n {
                add(self.by_name.get(short(n)), format!("hostname {n}"));
            }
        }
        for ip in &d.ips {
            add(self.by_ip.get(ip), format!("ip {ip}"));
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
        let ix = SourceIndex::new(&records, Field::Mac);
        let keys = |macs: &[&str], names: &[&str], ips: &[&str]| DeviceKeys {
            macs: macs.iter().map(|s| s.to_string()).collect(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(ix.find(&keys(&["00:1b:21:00:00:01"], &[], &[])), [(0, "mac 00:1b:21:00:00:01".to_string())]);
        assert_eq!(ix.find(&keys(&[], &["ws-02"], &[]))[0].0, 1, "the record's short name");
        assert_eq!(ix.find(&keys(&[], &["ws-03.corp.example"], &[]))[0].0, 2, "the asset's short name");
        assert!(ix.find(&keys(&[], &[], &["198.18.0.1"])).is_empty(), "addresses only for ip-keyed sources");
        let by_ip = SourceIndex::new(&records, Field::Ip);
        assert_eq!(by_ip.find(&keys(&[], &[], &["198.18.0.3"])), [(2, "ip 198.18.0.3".to_string())]);
        assert!(ix.find(&keys(&["00:1b:21:00:00:09"], &["ws-9"], &[])).is_empty());
    }
}
