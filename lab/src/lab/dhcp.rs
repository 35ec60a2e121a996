//! DHCP in the lab, for passive listening: a dnsmasq DHCP server in the
//! scanner namespace, and hosts that have no address until a real DHCP
//! client (a Debian package) gets them one — and that answer no probe: ICMP
//! echo ignored, ARP never answered (`arp_ignore = 8`), so neither a ping
//! nor a TCP probe ever reaches them. They announce their address with a
//! gratuitous ARP when their link comes up (`arp_notify = 1`).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use census_proto::MacAddr;

use super::{Lab, common_sysctls, on_thread_in};
use crate::LabError;
use crate::netns;

impl Lab {
    /// Add a host with MAC `mac` and no address: a namespace whose `eth0`
    /// is on the lab's bridge, up, silent to probes. Returns its namespace
    /// (torn down with the lab); run a DHCP client in it.
    ///
    /// # Errors
    /// A namespace, sysctl or link that could not be made.
    pub fn add_silent_client(&mut self, mac: MacAddr) -> Result<String, LabError> {
        let k = self.namespaces.len();
        let ns = format!("{}-d{k}", self.name);
        netns::ip_batch(None, &[format!("netns add {ns}")])?;
        self.namespaces.push(ns.clone());
        on_thread_in(&ns, || {
            common_sysctls(false)?;
            netns::sysctl("net/ipv4/icmp_echo_ignore_all", "1")?;
            netns::sysctl("net/ipv4/conf/all/arp_ignore", "8")?;
            netns::sysctl("net/ipv4/conf/all/arp_notify", "1")
        })?;
        let bridge = format!("{}-br", self.name);
        netns::ip_batch(
            Some(&bridge),
            &[
                format!("link add vd{k} type veth peer name eth0 address {mac} netns {ns}"),
                format!("link set vd{k} master br0 up"),
            ],
        )?;
        netns::ip_batch(Some(&ns), &["link set lo up".to_string(), "link set eth0 up".to_string()])?;
        Ok(ns)
    }

    /// Serve DHCP on the lab segment from the scanner namespace (dnsmasq,
    /// DNS off), leasing `first`–`last` of 198.18.0.0/16 for ten minutes.
    ///
    /// # Errors
    /// The range is outside the lab, or dnsmasq could not start.
    pub fn start_dhcp_server(&mut self, first: Ipv4Addr, last: Ipv4Addr) -> Result<(), LabError> {
        if first.octets()[..2] != [198, 18] || last.octets()[..2] != [198, 18] {
            return Err(LabError::Spec(format!("DHCP range {first}-{last} is outside the lab's 198.18.0.0/16")));
        }
        let leases = std::env::temp_dir().join(format!("{}.leases", self.name));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.scanner_netns(), "dnsmasq", "--keep-in-foreground", "--port=0"])
            .args(["--interface=eth0", "--bind-interfaces", "--no-resolv", "--no-hosts", "--dhcp-authoritative"])
            .arg(format!("--dhcp-range={first},{last},255.255.0.0,10m"))
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .args(["--pid-file=", "--conf-file=/dev/null", "--user=root", "--log-dhcp", "--log-facility=-"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::Command(format!("cannot start dnsmasq (Debian package dnsmasq-base): {e}")))?;
        self.dhcp = Some(child);
        Ok(())
    }

    /// Stop the lab's DHCP server.
    pub fn stop_dhcp(&mut self) {
        if let Some(mut d) = self.dhcp.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{}.leases", self.name)));
    }
}
