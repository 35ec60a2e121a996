//! Register sync with Snipe-IT and NetBox (`censusd sync snipeit|netbox`).
//!
//! An organisation's hardware register often lives in Snipe-IT, its
//! network's source of truth in NetBox. A sync reads every record of the
//! configured system ([`snipeit`], [`netbox`]: bytes in, [`UpstreamRecord`]s
//! out, paged by [`http`]), turns them into register patches ([`plan`]:
//! pure) and applies them as a register import does — a plan first, one
//! transaction, one audit record per asset — so `--dry-run` shows exactly
//! what the sync would change.
//!
//! What a sync never does:
//! - **delete.** A record gone from the upstream system leaves its asset in
//!   the register, tagged `retired-in-snipeit` (or `-netbox`) so the
//!   console, whois and search show it; the tag goes when the record comes back;
//! - **apply half a read.** A failure anywhere in the paging (an
//!   authentication failure, a 500 on page 7, a body that is not the
//!   documented JSON) aborts the sync before anything is written;
//! - **dispose.** A status mapped to `disposed` moves an asset only when
//!   its verified retirement allows (`docs/register-sync.md`); a disposed
//!   asset is not moved back by a sync;
//! - **clear.** Fields the upstream record leaves empty keep Census's value;
//!   MACs, addresses, host names and external ids are added to, never removed.

pub mod config;
pub mod http;
pub mod netbox;
pub mod plan;
pub mod snipeit;

use std::collections::BTreeMap;
use std::net::IpAddr;

use census_proto::MacAddr;

use crate::register::{AssetType, Lifecycle};

/// A register Census syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    /// Snipe-IT (`/api/v1/hardware`).
    SnipeIt,
    /// NetBox (`/api/dcim/devices/`, `/api/virtualization/virtual-machines/`).
    NetBox,
}

impl System {
    /// The system's name in external ids, tags and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            System::SnipeIt => "snipeit",
            System::NetBox => "netbox",
        }
    }

    /// Its name for people.
    pub fn title(self) -> &'static str {
        match self {
            System::SnipeIt => "Snipe-IT",
            System::NetBox => "NetBox",
        }
    }

    /// The tag an asset carries while its record is gone from this system.
    pub fn retired_tag(self) -> String {
        format!("retired-in-{}", self.as_str())
    }

    /// `snipeit` or `netbox`.
    ///
    /// # Errors
    /// Any other name, with the two it could be.
    pub fn parse(s: &str) -> Result<System, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "snipeit" | "snipe-it" => Ok(System::SnipeIt),
            "netbox" => Ok(System::NetBox),
            _ => Err(format!("`{}` is not a register Census syncs with: snipeit or netbox", s.escape_debug())),
        }
    }
}

/// One hardware record, device or virtual machine of the upstream system,
/// in the register's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRecord {
    /// The record's id in its system (`1234`, `device/56`, `vm/7`): the
    /// asset's external id is `SYSTEM:ID`.
    pub id: String,
    /// Its asset tag, when it has one.
    pub asset_tag: Option<String>,
    /// Its name.
    pub name: String,
    /// Serial number.
    pub serial: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Site, location, rack, as one line.
    pub location: String,
    /// What kind of thing it is upstream (Snipe-IT's category, NetBox's
    /// device role), for the type map.
    pub kind: String,
    /// The type when `kind` maps to none (NetBox's virtual machines are servers).
    pub default_type: Option<AssetType>,
    /// Its status as the system names it (Snipe-IT's status label, NetBox's status value).
    pub status: String,
    /// Snipe-IT's status meta (`deployed`, `deployable`, `pending`,
    /// `undeployable`, `archived`), the fallback of the status map.
    pub status_meta: String,
    /// The person it is assigned to (Snipe-IT's checked-out user).
    pub owner: Option<String>,
    /// MACs of its interfaces (and MAC custom fields).
    pub macs: Vec<MacAddr>,
    /// MACs it holds that name no device ([`device_mac`]: all-zero, group,
    /// shared virtual-router), left off the asset and named in the plan.
    pub macs_left_out: Vec<MacAddr>,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// A host name (NetBox's device name when it is one).
    pub hostname: Option<String>,
    /// The current value of the "last seen by Census" field, when configured.
    pub last_seen_value: Option<String>,
}

impl UpstreamRecord {
    /// `SYSTEM:ID`.
    pub fn external_id(&self, system: System) -> String {
        format!("{}:{}", system.as_str(), self.id)
    }
}

/// How upstream statuses and kinds map to lifecycle stages and types:
/// the configured table first (names compared case-insensitively), then
/// the system's defaults ([`default_stage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Status (label or value, lowercase) → stage.
    pub status: BTreeMap<String, Lifecycle>,
    /// Kind (category or role, lowercase) → type.
    pub types: BTreeMap<String, AssetType>,
}

impl Mapping {
    /// The stage of `r`, or `None` when neither the table nor the defaults know its status.
    pub fn stage(&self, system: System, r: &UpstreamRecord) -> Option<Lifecycle> {
        self.status.get(&r.status.trim().to_lowercase()).copied().or_else(|| default_stage(system, r))
    }

    /// The type of `r`: the table, then the record's default, then a guess
    /// from the kind's words, then `other`.
    pub fn asset_type(&self, r: &UpstreamRecord) -> AssetType {
        let kind = r.kind.trim().to_lowercase();
        self.types.get(&kind).copied().or(r.default_type).unwrap_or_else(|| guess_type(&kind))
    }
}

/// The default stage of a record's status.
///
/// - Snipe-IT, by the status label's meta (its documented status types):
///   `deployed` → deployed, `deployable` and `pending` → procurement (in
///   stock, not yet on the network), `undeployable` → maintenance (out for
///   repair, broken), `archived` → decommissioned.
/// - NetBox, by the status value of devices and virtual machines
///   (`DeviceStatusChoices`): `active` → deployed, `planned`, `staged` and
///   `inventory` → procurement, `offline` and `failed` → maintenance,
///   `decommissioning` → decommissioned.
///
/// Nothing maps to `disposed` by default: disposal is the end of a verified
/// retirement, recorded in Census (`censusd retirement dispose`).
pub fn default_stage(system: System, r: &UpstreamRecord) -> Option<Lifecycle> {
    let key = match system {
        System::SnipeIt => r.status_meta.trim().to_lowercase(),
        System::NetBox => r.status.trim().to_lowercase(),
    };
    Some(match key.as_str() {
        "deployed" | "active" => Lifecycle::Deployed,
        "deployable" | "pending" | "planned" | "staged" | "inventory" => Lifecycle::Procurement,
        "undeployable" | "offline" | "failed" => Lifecycle::Maintenance,
        "archived" | "decommissioning" => Lifecycle::Decommissioned,
        _ => return None,
    })
}

/// A type from the words of a category or role name: laptops, desktops,
/// phones → endpoint; servers, hypervisors → server; switches, routers,
/// firewalls, access points → network; printers, cameras, sensors → iot.
pub fn guess_type(kind: &str) -> AssetType {
    const WORDS: &[(&[&str], AssetType)] = &[
        (&["server", "hypervisor", "host", "storage"], AssetType::Server),
        (&["laptop", "desktop", "workstation", "phone", "tablet", "notebook", "computer"], AssetType::Endpoint),
        (
            &[
                "switch",
                "router",
                "firewall",
                "access point",
                "access-point",
                "wireless",
                "network",
                "gateway",
                "load balancer",
            ],
            AssetType::Network,
        ),
        (&["printer", "camera", "sensor", "iot", "badge", "display", "pdu"], AssetType::Iot),
        (&["cloud", "instance"], AssetType::Cloud),
    ];
    WORDS.iter().find(|(words, _)| words.iter().any(|w| kind.contains(w))).map_or(AssetType::Other, |(_, t)| *t)
}

/// Whether `mac` can name one device: not all zeros, not a group
/// (multicast, broadcast) address, and not a virtual router's shared address
/// (VRRP `00:00:5e:00:01:xx` and `00:00:5e:00:02:xx`, RFC 5798; HSRP
/// `00:00:0c:07:ac:xx` and `00:00:0c:9f:fx:xx`), which both members of a
/// high-availability pair carry.
pub fn device_mac(mac: MacAddr) -> bool {
    let m = mac.0;
    let vrrp = m[..4] == [0x00, 0x00, 0x5e, 0x00] && matches!(m[4], 0x01 | 0x02);
    let hsrp = m[..5] == [0x00, 0x00, 0x0c, 0x07, 0xac] || (m[..4] == [0x00, 0x00, 0x0c, 0x9f] && m[4] & 0xf0 == 0xf0);
    m != [0; 6] && m[0] & 1 == 0 && !vrrp && !hsrp
}

/// Whether `text` (a custom field's value as the system shows it) is the
/// day `day` (`YYYY-MM-DD`): Snipe-IT shows date fields in the instance's
/// display format (`Thu Dec 03, 2026`, `2026-12-03 00:00:00`, `12/03/2026`).
pub fn same_day(text: &str, day: &str) -> bool {
    use time::macros::format_description as fd;
    let t = text.trim();
    if t.get(..10) == Some(day) {
        return true;
    }
    let Ok(want) = time::Date::parse(day, fd!("[year]-[month]-[day]")) else { return false };
    let formats: [&[time::format_description::BorrowedFormatItem<'_>]; 14] = [
        fd!("[weekday repr:short] [month repr:short] [day], [year]"),
        fd!("[weekday], [month repr:long] [day padding:none], [year]"),
        fd!("[month repr:short] [day padding:none], [year]"),
        fd!("[month repr:long] [day padding:none], [year]"),
        fd!("[day padding:none] [month repr:short], [year]"),
        fd!("[day padding:none] [month repr:short] [year]"),
        fd!("[month padding:none]/[day padding:none]/[year]"),
        fd!("[month]/[day]/[year repr:last_two]"),
        fd!("[day padding:none]/[month padding:none]/[year]"),
        fd!("[day]/[month]/[year repr:last_two]"),
        fd!("[day padding:none].[month padding:none].[year]"),
        fd!("[year]/[month]/[day]"),
        fd!("[year].[month].[day]"),
        fd!("[day]-[month]-[year]"),
    ];
    formats.iter().any(|f| time::Date::parse(t, f).is_ok_and(|d| d == want))
}

/// Why a sync stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The system refused the token (401 or 403).
    #[error("{system} refused the token ({status}) at {url}: {detail}")]
    Auth {
        /// The system.
        system: &'static str,
        /// HTTP status.
        status: u16,
        /// The URL (without its query).
        url: String,
        /// What it said.
        detail: String,
    },
    /// The system answered with an error, too many 429s, or an unusable body.
    #[error("{system} failed at {url}: {message}; nothing was changed")]
    Upstream {
        /// The system.
        system: &'static str,
        /// The URL (path and query).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The configuration or the token file is unusable.
    #[error("{0}")]
    Config(String),
    /// The answer is not to be trusted as a whole register.
    #[error("{0}")]
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: &str, meta: &str, kind: &str) -> UpstreamRecord {
        UpstreamRecord { status: status.into(), status_meta: meta.into(), kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn snipeit_stages_follow_the_status_meta_unless_the_table_names_the_label() {
        let mut m = Mapping::default();
        assert_eq!(m.stage(System::SnipeIt, &rec("Ready to Deploy", "deployable", "")), Some(Lifecycle::Procurement));
        assert_eq!(m.stage(System::SnipeIt, &rec("Archived", "archived", "")), Some(Lifecycle::Decommissioned));
        assert_eq!(m.stage(System::SnipeIt, &rec("Odd", "", "")), None);
        m.status.insert("out for repair".into(), Lifecycle::Maintenance);
        m.status.insert("ready to deploy".into(), Lifecycle::Deployed);
        assert_eq!(m.stage(System::SnipeIt, &rec("Ready to Deploy", "deployable", "")), Some(Lifecycle::Deployed));
        assert_eq!(m.stage(System::SnipeIt, &rec("Out for Repair", "", "")), Some(Lifecycle::Maintenance));
    }

    #[test]
    fn a_day_is_recognised_in_snipeits_display_formats() {
        for shown in
            ["2026-12-03", "2026-12-03 00:00:00", "Thu Dec 03, 2026", "Dec 03, 2026", "12/03/2026", "03.12.2026"]
        {
            assert!(same_day(shown, "2026-12-03"), "{shown}");
        }
        assert!(!same_day("Fri Dec 04, 2026", "2026-12-03"));
        assert!(!same_day("", "2026-12-03"));
        assert!(!same_day("garbage", "2026-12-03"));
    }

    #[test]
    fn netbox_stages_follow_the_status_value() {
        let m = Mapping::default();
        assert_eq!(m.stage(System::NetBox, &rec("active", "", "")), Some(Lifecycle::Deployed));
        assert_eq!(m.stage(System::NetBox, &rec("decommissioning", "", "")), Some(Lifecycle::Decommissioned));
        assert_eq!(m.stage(System::NetBox, &rec("inventory", "", "")), Some(Lifecycle::Procurement));
        // Snipe-IT's meta words are not NetBox statuses.
        assert_eq!(m.stage(System::NetBox, &rec("", "deployed", "")), None);
    }

    #[test]
    fn types_come_from_the_table_then_the_words() {
        let mut m = Mapping::default();
        assert_eq!(m.asset_type(&rec("", "", "Laptops")), AssetType::Endpoint);
        assert_eq!(m.asset_type(&rec("", "", "Access Switch")), AssetType::Network);
        assert_eq!(m.asset_type(&rec("", "", "Label printers")), AssetType::Iot);
        assert_eq!(m.asset_type(&rec("", "", "Furniture")), AssetType::Other);
        m.types.insert("furniture".into(), AssetType::Iot);
        assert_eq!(m.asset_type(&rec("", "", "Furniture")), AssetType::Iot);
        let vm = UpstreamRecord { default_type: Some(AssetType::Server), ..Default::default() };
        assert_eq!(m.asset_type(&vm), AssetType::Server);
    }
}
