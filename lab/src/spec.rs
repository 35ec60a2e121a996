//! What a lab looks like: its hosts and their ground truth.
//!
//! Every lab host is described completely here *before* it is built, so tests
//! compare what Census found against this description, never against what
//! the lab happened to do.

use std::net::Ipv4Addr;

use census_proto::{MacAddr, Port};

/// The lab segment: every lab address lies inside it (RFC 2544 benchmarking range).
pub const LAB_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 16);

/// The scanner's address on the lab segment.
pub const SCANNER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// A TTL personality: the initial TTL the host's namespace uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OsPersonality {
    /// Linux and most Unix: initial TTL 64.
    Linux,
    /// Windows: initial TTL 128.
    Windows,
    /// Network equipment (Cisco IOS and the like): initial TTL 255.
    NetworkOs,
}

impl OsPersonality {
    /// The initial TTL the namespace is configured with.
    pub fn ttl(self) -> u8 {
        match self {
            OsPersonality::Linux => 64,
            OsPersonality::Windows => 128,
            OsPersonality::NetworkOs => 255,
        }
    }

    /// The family name Census is expected to report.
    pub fn family(self) -> &'static str {
        match self {
            OsPersonality::Linux => "linux",
            OsPersonality::Windows => "windows",
            OsPersonality::NetworkOs => "network-os",
        }
    }
}

/// A vendor block used to build deterministic MACs, with the organisation
/// name exactly as the IEEE MA-L registry spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// The 24-bit OUI.
    pub oui: [u8; 3],
    /// Organisation name in the IEEE registry.
    pub name: &'static str,
}

/// Vendors lab hosts are drawn from (verified against the IEEE MA-L registry).
pub const VENDORS: &[Vendor] = &[
    Vendor { oui: [0x00, 0x1b, 0x21], name: "Intel Corporate" },
    Vendor { oui: [0x00, 0x14, 0x22], name: "Dell Inc." },
    Vendor { oui: [0x00, 0x00, 0x0c], name: "Cisco Systems, Inc" },
    Vendor { oui: [0x3c, 0xd9, 0x2b], name: "Hewlett Packard" },
    Vendor { oui: [0xb8, 0x27, 0xeb], name: "Raspberry Pi Foundation" },
    Vendor { oui: [0x00, 0x50, 0x56], name: "VMware, Inc." },
    Vendor { oui: [0x00, 0x1c, 0xb3], name: "Apple, Inc." },
    Vendor { oui: [0x00, 0x04, 0xf2], name: "Polycom" },
];

/// How a lab service behaves when connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// Sends `banner` + CRLF at once (SSH, SMTP, FTP greetings).
    Banner {
        /// The greeting line, without CRLF.
        banner: String,
    },
    /// Answers an HTTP request with a `Server` header and an HTML title.
    Http {
        /// `Server` header value.
        server: String,
        /// Page `<title>`.
        title: String,
    },
    /// TLS with a self-signed certificate for `common_name`, then HTTP inside.
    Https {
        /// Certificate subject CN and only SAN.
        common_name: String,
        /// `Server` header value.
        server: String,
        /// Page `<title>`.
        title: String,
        /// End of the certificate's validity; `None` for the lab's usual
        /// ([`crate::services::lab_cert_validity`]).
        not_after: Option<time::OffsetDateTime>,
    },
    /// Hostile: streams bytes forever.
    Endless,
    /// Hostile: sends binary garbage including NULs and invalid UTF-8, then closes.
    Garbage,
    /// Hostile: accepts and never says anything.
    Silent,
}

/// One listening TCP service on a lab host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Port it listens on.
    pub port: Port,
    /// What it does.
    pub kind: ServiceKind,
}

/// Ground truth for one lab host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Its IPv4 address on the lab segment.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Vendor name per the registry; `None` for locally administered MACs.
    pub vendor: Option<&'static str>,
    /// TTL personality.
    pub os: OsPersonality,
    /// Whether it answers ICMP echo (it always answers ARP).
    pub answers_icmp: bool,
    /// TCP services; every other port is closed (RST).
    pub services: Vec<ServiceSpec>,
    /// Name served by the lab DNS for its PTR record, if any.
    pub ptr_name: Option<String>,
    /// Name its mDNS responder (UDP 5353) gives for its address, if it runs one.
    pub mdns_name: Option<String>,
    /// What it answers NetBIOS node status queries (UDP 137) with, if it does.
    pub netbios: Option<NetbiosSpec>,
}

/// A lab host's NetBIOS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetbiosSpec {
    /// Its unique workstation name (at most 15 characters).
    pub name: String,
    /// Its workgroup (a group name).
    pub workgroup: String,
}

impl HostSpec {
    /// Open TCP ports, ascending.
    pub fn open_ports(&self) -> Vec<Port> {
        let mut ports: Vec<Port> = self.services.iter().map(|s| s.port).collect();
        ports.sort();
        ports
    }
}

/// The lab's IPv6 prefix (RFC 5180 benchmarking range), for dual-stack labs.
pub const LAB_NET6: (std::net::Ipv6Addr, u8) = (std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 64);

/// The scanner's IPv6 address in a dual-stack lab.
pub const SCANNER_IP6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);

/// The IPv6 address of host number `index` in a dual-stack lab: `2001:2::` + (index + 10).
pub fn host_ipv6(index: usize) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from(u128::from(LAB_NET6.0) + index as u128 + 10)
}

/// The IPv4 address of host number `index` (0-based): 200 hosts per /24 from .10.
pub fn host_ip(index: usize) -> Ipv4Addr {
    let third = (index / 200) as u8;
    let fourth = 10 + (index % 200) as u8;
    Ipv4Addr::new(198, 18, third, fourth)
}

/// A deterministic MAC for host `index` in `vendor`'s block.
pub fn vendor_mac(vendor: &Vendor, index: usize) -> MacAddr {
    let [a, b, c] = vendor.oui;
    MacAddr([a, b, c, 0x5e, (index >> 8) as u8, index as u8])
}

/// A deterministic locally administered (randomised-looking) MAC for host `index`.
pub fn random_looking_mac(index: usize) -> MacAddr {
    MacAddr([0xda, 0xa1, 0x19, 0x5e, (index >> 8) as u8, index as u8])
}

fn banner(port: u16, text: &str) -> ServiceSpec {
    ServiceSpec { port: Port(port), kind: ServiceKind::Banner { banner: text.to_string() } }
}

fn http(port: u16, server: &str, title: String) -> ServiceSpec {
    ServiceSpec { port: Port(port), kind: ServiceKind::Http { server: server.to_string(), title } }
}

fn https(port: u16, name: &str, server: &str, title: String) -> ServiceSpec {
    ServiceSpec {
        port: Port(port),
        kind: ServiceKind::Https { common_name: name.to_string(), server: server.to_string(), title, not_after: None },
    }
}

/// The generated host number `index`: a deterministic mix of personalities,
/// vendors, ICMP-silent hosts, randomised MACs and services.
pub fn generated_host(index: usize) -> HostSpec {
    let os = match index % 5 {
        0..=2 => OsPersonality::Linux,
        3 => OsPersonality::Windows,
        _ => OsPersonality::NetworkOs,
    };
    let name = format!("host-{index:03}.lab.census.test");
    let (mac, vendor) = if index % 17 == 16 {
        (random_looking_mac(index), None)
    } else {
        let pool: &[usize] = match os {
            OsPersonality::Linux => &[0, 1, 4, 5],
            OsPersonality::Windows => &[1, 3, 0, 6],
            OsPersonality::NetworkOs => &[2, 7],
        };
        let v = &VENDORS[pool[(index / 5) % pool.len()]];
        (vendor_mac(v, index), Some(v.name))
    };
    let mut services = Vec::new();
    match os {
        OsPersonality::Linux => {
            if index.is_multiple_of(2) {
                services.push(banner(22, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"));
            }
            if index.is_multiple_of(3) {
                services.push(http(80, "nginx/1.22.1", format!("Host {index} status")));
            }
            if index.is_multiple_of(10) {
                services.push(https(443, &name, "nginx/1.22.1", format!("Host {index} secure")));
            }
        }
        OsPersonality::Windows => {
            if index % 4 == 3 {
                services.push(http(8080, "Microsoft-IIS/10.0", format!("IIS on host {index}")));
            }
            if index % 8 == 3 {
                services.push(https(443, &name, "Microsoft-IIS/10.0", format!("Portal {index}")));
            }
        }
        OsPersonality::NetworkOs => {
            if index.is_multiple_of(2) {
                services.push(banner(22, "SSH-2.0-Cisco-1.25"));
            }
        }
    }
    HostSpec {
        ip: host_ip(index),
        mac,
        vendor,
        os,
        answers_icmp: index % 7 != 6,
        services,
        ptr_name: if index.is_multiple_of(2) { Some(name) } else { None },
        // Avahi on some Linux hosts and every Apple one; NetBIOS on Windows and a few Samba servers.
        mdns_name: (index % 3 == 1 || vendor == Some("Apple, Inc.")).then(|| format!("host-{index:03}.local")),
        netbios: (os == OsPersonality::Windows || index % 20 == 5)
            .then(|| NetbiosSpec { name: format!("HOST-{index:03}"), workgroup: "CENSUSLAB".into() }),
    }
}

/// `count` generated hosts.
pub fn generated_hosts(count: usize) -> Vec<HostSpec> {
    (0..count).map(generated_host).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lab_has_the_mix_tests_rely_on() {
        let hosts = generated_hosts(250);
        assert!(hosts.iter().all(|h| h.ip.octets()[0] == 198 && h.ip.octets()[1] == 18));
        let mut ips: Vec<_> = hosts.iter().map(|h| h.ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 250, "addresses are unique");
        assert!(hosts.iter().any(|h| !h.answers_icmp));
        assert!(hosts.iter().any(|h| h.vendor.is_none() && h.mac.is_locally_administered()));
        assert!(hosts.iter().filter(|h| h.vendor.is_some()).all(|h| !h.mac.is_locally_administered()));
        for os in [OsPersonality::Linux, OsPersonality::Windows, OsPersonality::NetworkOs] {
            assert!(hosts.iter().any(|h| h.os == os));
        }
        assert!(hosts.iter().any(|h| h.services.iter().any(|s| matches!(s.kind, ServiceKind::Https { .. }))));
        assert!(hosts.iter().any(|h| h.services.is_empty()));
        let named = |f: fn(&HostSpec) -> bool| hosts.iter().filter(|h| f(h)).count();
        assert!(named(|h| h.mdns_name.is_some()) > 50 && named(|h| h.mdns_name.is_none()) > 50);
        assert!(named(|h| h.netbios.is_some()) > 40 && named(|h| h.netbios.is_none()) > 40);
        assert!(named(|h| h.ptr_name.is_none() && h.mdns_name.is_none() && h.netbios.is_none()) > 10);
        assert!(hosts.iter().filter_map(|h| h.netbios.as_ref()).all(|n| n.name.len() <= 15));
    }
}
