//! MAC vendor from the IEEE registries (MA-L, MA-M, MA-S), compiled in by
//! the `oui-data` crate so the agent works offline.
//!
//! Locally administered addresses (randomised phone and laptop MACs, VMs,
//! containers) were chosen by software, not a vendor: they never get one.
//!
//! An operator's override file (`agent.oui_file`, `--oui-file`) names blocks
//! the registry gets wrong or does not know yet (a new MA-S block, a white
//! label vendor): one `PREFIX,Name` per line, PREFIX being 6, 7 or 9 hex
//! digits (MA-L, MA-M, MA-S; separators allowed); `#` starts a comment.
//! Overrides win over the registry, longest prefix first.
//!
//! The table is a value ([`VendorTable`]) built once from the configuration
//! or the command line and handed to whatever names vendors (a sweep's
//! batch, passive listening): nothing process-wide is written, so two
//! sweeps with different override files, or tests, cannot see each
//! other's.

use census_proto::MacAddr;

/// The oui-data release compiled in. A test compares it with Cargo.lock, so
/// updating the crate without updating [`REGISTRY_DATE`] fails the build's tests.
pub const REGISTRY_RELEASE: &str = "0.2.4";

/// The day that release was published (crates.io): the IEEE files it
/// carries were fetched on or shortly before it. The registry files hold no
/// date of their own, so this is the freshest date that can be vouched for.
pub const REGISTRY_DATE: &str = "2026-10-17";

/// What `census-agent --version` says about the compiled-in registry.
pub fn registry_summary() -> String {
    format!(
        "MAC vendors: IEEE registry (MA-L, MA-M, MA-S, IAB, CID), {} assignments, published {REGISTRY_DATE} \
         (oui-data {REGISTRY_RELEASE}); newer blocks via agent.oui_file or --oui-file",
        oui_data::OUI_ENTRIES.len()
    )
}

/// Parse an override file's text: `(hex prefix, name)` pairs, or the first bad line.
pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (prefix, name) = line.split_once(',').ok_or_else(|| format!("line {}: expected `PREFIX,Name`", n + 1))?;
        let hex: String = prefix.chars().filter(|c| !":-. ".contains(*c)).collect::<String>().to_ascii_uppercase();
        if !matches!(hex.len(), 6 | 7 | 9) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("line {}: `{}` is not a 6, 7 or 9 hex-digit prefix", n + 1, prefix.trim()));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(format!("line {}: the vendor name must be 1-100 printable characters", n + 1));
        }
        if let Some(first) = seen.insert(hex.clone(), n + 1) {
            return Err(format!("line {}: prefix {hex} is already named on line {first}", n + 1));
        }
        out.push((hex, name.to_string()));
    }
    Ok(out)
}

/// Most bytes of an override file (the whole IEEE registry is about 5 MB).
pub const MAX_OVERRIDE_FILE: u64 = 8 << 20;

/// The MAC vendor table: the compiled-in IEEE registry and an operator's
/// overrides (longest prefix first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorTable {
    overrides: Vec<(String, String)>,
}

impl VendorTable {
    /// The registry alone.
    pub fn registry() -> Self {
        VendorTable::default()
    }

    /// The registry with `entries` (from [`parse_overrides`]) winning over it.
    pub fn with_overrides(mut entries: Vec<(String, String)>) -> Self {
        entries.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        VendorTable { overrides: entries }
    }

    /// The registry with the overrides of the file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or its first bad line (path and line number).
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = census_proto::config::read_operator_file(path, MAX_OVERRIDE_FILE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let parsed = parse_overrides(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(VendorTable::with_overrides(parsed))
    }

    /// How many overrides the table holds.
    pub fn overrides(&self) -> usize {
        self.overrides.len()
    }

    /// The registered organisation for `mac`: an operator override, else the
    /// registry, longest block first (MA-S, MA-M, MA-L). Never one for a
    /// locally administered or multicast address.
    pub fn vendor(&self, mac: MacAddr) -> Option<String> {
        if mac.is_locally_administered() || mac.is_multicast() {
            return None;
        }
        let hex: String = mac.0.iter().map(|b| format!("{b:02X}")).collect();
        if let Some((_, name)) = self.overrides.iter().find(|(p, _)| hex.starts_with(p.as_str())) {
            return Some(name.clone());
        }
        oui_data::lookup(&hex).map(|r| r.organization().to_string()).filter(|o| !o.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendor(mac: MacAddr) -> Option<String> {
        VendorTable::registry().vendor(mac)
    }

    #[test]
    fn known_blocks_and_randomised_addresses() {
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        assert_eq!(vendor(mac("00:1b:21:12:34:56")).as_deref(), Some("Intel Corporate"));
        assert_eq!(vendor(mac("b8:27:eb:00:00:01")).as_deref(), Some("Raspberry Pi Foundation"));
        assert_eq!(vendor(mac("00:50:56:aa:bb:cc")).as_deref(), Some("VMware, Inc."));
        // MA-M (28-bit) and MA-S (36-bit) blocks inside shared MA-L prefixes.
        assert_eq!(vendor(mac("c8:5c:e2:71:23:45")).as_deref(), Some("SYNERGY SYSTEMS AND SOLUTIONS"));
        assert_eq!(vendor(mac("8c:1f:64:af:a1:23")).as_deref(), Some("DATA ELECTRONIC DEVICES, INC"));
        assert_ne!(
            vendor(mac("8c:1f:64:9b:91:23")),
            vendor(mac("8c:1f:64:af:a1:23")),
            "neighbouring MA-S blocks differ"
        );
        // Locally administered: never a vendor, even if the bits look like a block.
        assert_eq!(vendor(mac("02:1b:21:12:34:56")).as_deref(), None);
        assert_eq!(vendor(mac("da:a1:19:5e:00:10")).as_deref(), None);
    }

    #[test]
    fn overrides_win_longest_prefix_first_and_bad_lines_are_named() {
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        let parsed = parse_overrides("# lab kit\nfc:ff:aa,Lab NICs\nFC-FF-AA-BB-C, Lab MA-S block\n\n").unwrap();
        let table = VendorTable::with_overrides(parsed);
        assert_eq!(table.overrides(), 2);
        assert_eq!(table.vendor(mac("fc:ff:aa:12:34:56")).as_deref(), Some("Lab NICs"));
        assert_eq!(table.vendor(mac("fc:ff:aa:bb:cd:ef")).as_deref(), Some("Lab MA-S block"));
        // A value, not a global: the registry alone is untouched by another table.
        assert_ne!(vendor(mac("fc:ff:aa:12:34:56")).as_deref(), Some("Lab NICs"));
        assert_eq!(parse_overrides("00:1b,Short").unwrap_err(), "line 1: `00:1b` is not a 6, 7 or 9 hex-digit prefix");
        assert!(parse_overrides("x\n001b21").unwrap_err().starts_with("line 1"));
        assert!(parse_overrides("001b21,").unwrap_err().contains("vendor name"));
        // A prefix named twice is a mistake, not "the first one wins".
        assert_eq!(
            parse_overrides("001b21,A\n00-1B-21,B").unwrap_err(),
            "line 2: prefix 001B21 is already named on line 1"
        );
    }

    #[test]
    fn registry_date_describes_the_locked_release() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let locked = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"oui-data\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"'))
            .expect("oui-data in Cargo.lock");
        assert_eq!(locked, REGISTRY_RELEASE, "oui-data was updated: set REGISTRY_RELEASE and REGISTRY_DATE");
        let summary = registry_summary();
        assert!(summary.contains(REGISTRY_DATE) && summary.contains(REGISTRY_RELEASE), "{summary}");
        assert!(oui_data::OUI_ENTRIES.len() > 30_000, "the registry is compiled in");
    }
}
