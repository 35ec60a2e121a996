//! DHCP fingerprinting: what a device is, from how its DHCP client asks.
//!
//! Every DHCP client sends the options it wants (option 55, the parameter
//! request list) in an order fixed by its code or default configuration,
//! and many name themselves in option 60 (vendor class). Together with the
//! host name they say the OS family or device type far more reliably than a
//! TTL does — and they are heard from a device that answers no probe.
//!
//! The table is Census's own, each entry naming where its list comes from;
//! an operator file adds entries ([`parse_signatures`]), checked first.
//!
//! | evidence | confidence |
//! |---|---|
//! | vendor class naming the client or OS | 0.9 |
//! | request list equal to a known client's | 0.7 |
//! | both, agreeing | 0.95 |
//! | both, disagreeing | the vendor class, at 0.6 |

use census_proto::{FingerprintGuess, FingerprintKind};

/// A known client's request list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrlSignature {
    /// Option 55 in the client's order.
    pub prl: Vec<u8>,
    /// OS family (`linux`, `windows`, `macos-ios`, `android`, …), or empty.
    pub family: String,
    /// Device type (`printer`, `phone`, …), or empty.
    pub device: String,
    /// The client, for the evidence (`isc-dhcp-client (Debian default)`).
    pub client: String,
}

/// A vendor-class rule: a prefix of option 60, case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorSignature {
    /// The prefix.
    pub prefix: String,
    /// OS family, or empty.
    pub family: String,
    /// Device type, or empty.
    pub device: String,
    /// The client or maker, for the evidence.
    pub client: String,
}

/// Request lists of common clients, each with its source.
const PRL_TABLE: &[(&[u8], &str, &str, &str)] = &[
    // Debian/Ubuntu /etc/dhcp/dhclient.conf `request` line (isc-dhcp-client 4.x):
    // subnet-mask, broadcast-address, time-offset, routers, domain-name,
    // domain-name-servers, domain-search, host-name, netbios-name-servers,
    // netbios-scope, interface-mtu, rfc3442-classless-static-routes, ntp-servers.
    (&[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42], "linux", "", "isc-dhcp-client (Debian default)"),
    // BusyBox udhcpc: the options its table marks OPTION_REQ, in table order
    // (networking/udhcp/common.c): subnet, router, dns, hostname, domain, broadcast, ntpsrv.
    (&[1, 3, 6, 12, 15, 28, 42], "linux", "", "BusyBox udhcpc"),
    // Windows 10 and 11 DHCP client (fingerbank.org, "Windows 10").
    (&[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252], "windows", "", "Windows 10/11 DHCP client"),
    // Windows 7/8 (fingerbank.org).
    (&[1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43, 252], "windows", "", "Windows 7/8 DHCP client"),
    // Apple macOS 11+ and iOS 14+ configd (fingerbank.org, "Mac OS X", "iOS").
    (&[1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46], "macos-ios", "", "Apple macOS configd"),
    (&[1, 121, 3, 6, 15, 108, 114, 119, 252], "macos-ios", "phone", "Apple iOS configd"),
];

/// Vendor classes (option 60) of common clients and devices.
const VENDOR_TABLE: &[(&str, &str, &str, &str)] = &[
    // Microsoft's DHCP client (MS-DHCPE: "MSFT 5.0" since Windows 2000).
    ("MSFT", "windows", "", "Microsoft DHCP client"),
    // Android's DhcpClient: "android-dhcp-<release>".
    ("android-dhcp-", "android", "phone", "Android DhcpClient"),
    // dhcpcd: "dhcpcd-<version>:<OS>-<release>:<machine>:<platform>".
    ("dhcpcd-", "linux", "", "dhcpcd"),
    // BusyBox udhcpc: "udhcp <version>".
    ("udhcp ", "linux", "", "BusyBox udhcpc"),
    // Apple NetBoot (BSDP).
    ("AAPLBSDPC", "macos-ios", "", "Apple BSDP"),
    // HP printers' JetDirect.
    ("Hewlett-Packard JetDirect", "", "printer", "HP JetDirect"),
    // Cisco IP phones.
    ("Cisco Systems, Inc. IP Phone", "", "phone", "Cisco IP phone"),
    // PXE boot ROMs (Intel PXE specification 2.1).
    ("PXEClient", "", "pxe-boot", "PXE boot ROM"),
    // Ubiquiti devices.
    ("ubnt", "network-os", "network", "Ubiquiti"),
];

/// The built-in table and an operator's additions, the additions first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSignatures {
    /// Request lists.
    pub prls: Vec<PrlSignature>,
    /// Vendor classes.
    pub vendors: Vec<VendorSignature>,
}

impl Default for DhcpSignatures {
    fn default() -> Self {
        DhcpSignatures {
            prls: PRL_TABLE
                .iter()
                .map(|(p, f, d, c)| PrlSignature {
                    prl: p.to_vec(),
                    family: (*f).into(),
                    device: (*d).into(),
                    client: (*c).into(),
                })
                .collect(),
            vendors: VENDOR_TABLE
                .iter()
                .map(|(p, f, d, c)| VendorSignature {
                    prefix: (*p).into(),
                    family: (*f).into(),
                    device: (*d).into(),
                    client: (*c).into(),
                })
                .collect(),
        }
    }
}

/// A list of option codes as written in evidence (`1,28,2,3`).
pub fn prl_text(prl: &[u8]) -> String {
    prl.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

/// Parse an operator's signature file: one per line,
/// `prl 1,3,6,15 | FAMILY | DEVICE | CLIENT` or
/// `vendor PREFIX | FAMILY | DEVICE | CLIENT` (family or device may be
/// empty, not both); `#` starts a comment.
///
/// # Errors
/// The first bad line, by number.
pub fn parse_signatures(text: &str) -> Result<DhcpSignatures, String> {
    let mut out = DhcpSignatures { prls: Vec::new(), vendors: Vec::new() };
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = |m: &str| format!("line {}: {m}", n + 1);
        let (kind, rest) = line.split_once(' ').ok_or_else(|| bad("write `prl …` or `vendor …`"))?;
        let parts: Vec<&str> = rest.split('|').map(str::trim).collect();
        let [key, family, device, client] = parts[..] else {
            return Err(bad("four fields separated by `|`: key | family | device | client"));
        };
        let word_ok =
            |w: &str| w.len() <= 32 && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if (family.is_empty() && device.is_empty()) || !word_ok(family) || !word_ok(device) {
            return Err(bad("family and device are lowercase words (a-z, 0-9, -), at least one given"));
        }
        if client.is_empty() || client.len() > 64 || client.chars().any(char::is_control) {
            return Err(bad("name the client in 1-64 printable characters"));
        }
        let (family, device, client) = (family.to_string(), device.to_string(), client.to_string());
        match kind {
            "prl" => {
                let prl = key
                    .split(',')
                    .map(|c| c.trim().parse::<u8>().ok().filter(|c| *c != 0 && *c != 255))
                    .collect::<Option<Vec<u8>>>()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| bad(&format!("`{key}` is not a list of option codes 1-254")))?;
                if let Some(same) = out.prls.iter().position(|p| p.prl == prl) {
                    return Err(bad(&format!("the list `{key}` is already signature {} of this file", same + 1)));
                }
                out.prls.push(PrlSignature { prl, family, device, client });
            }
            "vendor" => {
                if key.len() < 3 || key.len() > 64 {
                    return Err(bad("a vendor-class prefix has 3-64 characters"));
                }
                if out.vendors.iter().any(|v| v.prefix == key) {
                    return Err(bad(&format!("the vendor class `{key}` is named twice")));
                }
                out.vendors.push(VendorSignature { prefix: key.into(), family, device, client });
            }
            other => return Err(bad(&format!("`{other}` is neither prl nor vendor"))),
        }
    }
    let builtin = DhcpSignatures::default();
    out.prls.extend(builtin.prls);
    out.vendors.extend(builtin.vendors);
    Ok(out)
}

/// What a DHCP client's request list and vendor class say it is: an OS
/// family guess and a device-type guess, each with its evidence; none when
/// nothing in the table matches.
pub fn guess(sigs: &DhcpSignatures, prl: &[u8], vendor_class: Option<&str>) -> Vec<FingerprintGuess> {
    let by_prl = (!prl.is_empty()).then(|| sigs.prls.iter().find(|s| s.prl == prl)).flatten();
    let by_vendor = vendor_class.and_then(|v| {
        let lower = v.to_ascii_lowercase();
        sigs.vendors.iter().find(|s| lower.starts_with(&s.prefix.to_ascii_lowercase()))
    });
    let prl_fact = by_prl.map(|s| format!("DHCP parameter request list {} is {}'s", prl_text(prl), s.client));
    let vendor_fact = by_vendor.map(|s| {
        format!(
            "DHCP vendor class `{}` ({})",
            vendor_class.unwrap_or_default().chars().take(64).collect::<String>(),
            s.client
        )
    });
    let mut out = Vec::new();
    let pick = |of_prl: Option<&str>, of_vendor: Option<&str>| -> Option<(String, f64, Vec<String>)> {
        let p = of_prl.filter(|x| !x.is_empty());
        let v = of_vendor.filter(|x| !x.is_empty());
        match (p, v) {
            (Some(p), Some(v)) if p == v => Some((
                v.into(),
                0.95,
                vec![vendor_fact.clone().unwrap_or_default(), prl_fact.clone().unwrap_or_default()],
            )),
            (Some(p), Some(v)) => Some((
                v.into(),
                0.6,
                vec![
                    vendor_fact.clone().unwrap_or_default(),
                    format!("{} (which says {p})", prl_fact.clone().unwrap_or_default()),
                ],
            )),
            (None, Some(v)) => Some((v.into(), 0.9, vec![vendor_fact.clone().unwrap_or_default()])),
            (Some(p), None) => Some((p.into(), 0.7, vec![prl_fact.clone().unwrap_or_default()])),
            (None, None) => None,
        }
    };
    if let Some((value, confidence, evidence)) =
        pick(by_prl.map(|s| s.family.as_str()), by_vendor.map(|s| s.family.as_str()))
    {
        out.push(FingerprintGuess { kind: FingerprintKind::OsFamily, value, confidence, evidence });
    }
    if let Some((value, confidence, evidence)) =
        pick(by_prl.map(|s| s.device.as_str()), by_vendor.map(|s| s.device.as_str()))
    {
        out.push(FingerprintGuess { kind: FingerprintKind::DeviceType, value, confidence, evidence });
    }
    out
}

#[cfg(test)]
#[path = "dhcp_tests.rs"]
mod tests;
