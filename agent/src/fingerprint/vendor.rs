//! MAC vendor from the IEEE registries (MA-L, MA-M, MA-S), compiled in by
//! the `oui-data` crate so the agent works offline.
//!
//! Locally administered addresses (randomised phone and laptop MACs, VMs,
//! containers) were chosen by software, not a vendor: they never get one.

use census_proto::MacAddr;

/// Where the vendor names come from, for `--version`.
pub const REGISTRY: &str = "IEEE MA-L/MA-M/MA-S registries as compiled into oui-data 0.2";

/// The registered organisation for `mac`, longest block first (MA-S, MA-M, MA-L).
pub fn vendor(mac: MacAddr) -> Option<&'static str> {
    if mac.is_locally_administered() || mac.is_multicast() {
        return None;
    }
    let hex: String = mac.0.iter().map(|b| format!("{b:02X}")).collect();
    oui_data::lookup(&hex).map(|r| r.organization()).filter(|o| !o.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_blocks_and_randomised_addresses() {
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        assert_eq!(vendor(mac("00:1b:21:12:34:56")), Some("Intel Corporate"));
        assert_eq!(vendor(mac("b8:27:eb:00:00:01")), Some("Raspberry Pi Foundation"));
        assert_eq!(vendor(mac("00:50:56:aa:bb:cc")), Some("VMware, Inc."));
        // Locally administered: never a vendor, even if the bits look like a block.
        assert_eq!(vendor(mac("02:1b:21:12:34:56")), None);
        assert_eq!(vendor(mac("da:a1:19:5e:00:10")), None);
    }
}
