//! Building and tearing down a lab: one bridge namespace, one scanner
//! namespace and one namespace per host, all on 198.18.0.0/16.
//!
//! Nothing is added to the root namespace: the bridge itself lives in a
//! namespace of its own, and each host's veth is created from the bridge's
//! namespace with its peer placed straight into the host's. Dropping the
//! [`Lab`] deletes every namespace it made, also when a test panics; labs
//! left by a killed process are collected by the next lab that is built.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use census_proto::Port;

use crate::LabError;
use crate::netns::{self, PREFIX};
use crate::responders::{BoundResponder, Responder};
use crate::services::{BoundService, CertTruth, ServiceRunner, self_signed};
use crate::spec::{HostSpec, LAB_NET, LAB_NET6, SCANNER_IP, SCANNER_IP6, ServiceKind, host_ipv6};

mod dhcp;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Setup threads entering namespaces in parallel.
const SETUP_THREADS: usize = 4;

/// A built lab. Dropping it tears everything down.
pub struct Lab {
    name: String,
    hosts: Vec<HostSpec>,
    namespaces: Vec<String>,
    certificates: CertMap,
    services: Option<ServiceRunner>,
    build_time: Duration,
    dual_stack: bool,
    dns: Option<std::process::Child>,
    dhcp: Option<std::process::Child>,
}

/// Per-host output of the setup pass: sockets bound in its namespace.
type HostSockets = (Vec<BoundService>, Vec<BoundResponder>);

/// Certificates presented by lab hosts, by address and port.
type CertMap = HashMap<(Ipv4Addr, Port), CertTruth>;

impl Lab {
    /// Build a lab with these hosts. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
    pub fn build(hosts: Vec<HostSpec>) -> Result<Lab, LabError> {
        Self::build_with(hosts, false)
    }

    /// Build a dual-stack lab: every host also gets [`crate::spec::host_ipv6`]
    /// of its index on 2001:2::/64 (ICMP-silent hosts ignore ICMPv6 echo too).
    pub fn build_dual_stack(hosts: Vec<HostSpec>) -> Result<Lab, LabError> {
        Self::build_with(hosts, true)
    }

    fn build_with(hosts: Vec<HostSpec>, dual_stack: bool) -> Result<Lab, LabError> {
        let started = Instant::now();
        netns::delete_namespaces(&netns::stale_namespaces());
        for h in &hosts {
            if h.ip.octets()[..2] != [198, 18] || h.ip == SCANNER_IP {
                return Err(LabError::Spec(format!(
                    "host address {} is outside the lab's 198.18.0.0/16 or taken",
                    h.ip
                )));
            }
        }
        let name = format!("{PREFIX}{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let bridge_ns = format!("{name}-br");
        let scanner_ns = format!("{name}-sc");
        let host_ns: Vec<String> = (0..hosts.len()).map(|i| format!("{name}-h{i}")).collect();
        let mut namespaces = vec![bridge_ns.clone(), scanner_ns.clone()];
        namespaces.extend(host_ns.iter().cloned());
        // From here on, Drop cleans up whatever was made.
        let mut lab = Lab {
            name,
            hosts,
            namespaces,
            certificates: HashMap::new(),
            services: None,
            build_time: Duration::ZERO,
            dual_stack,
            dns: None,
            dhcp: None,
        };
        // Scanners run in the lab resolve through the lab only: `ip netns exec`
        // mounts this file over /etc/resolv.conf (see `Lab::start_dns`).
        let etc = std::path::Path::new("/etc/netns").join(&scanner_ns);
        std::fs::create_dir_all(&etc).map_err(|e| LabError::Command(format!("{}: {e}", etc.display())))?;
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n")
            .map_err(|e| LabError::Command(format!("{}: {e}", etc.display())))?;
        let adds: Vec<String> = lab.namespaces.iter().map(|n| format!("netns add {n}")).collect();
        netns::ip_batch(None, &adds)?;

        // Sysctls and sockets, from threads that enter each namespace.
        let (sockets, certificates) = lab.setup_namespaces(&bridge_ns, &scanner_ns, &host_ns)?;
        lab.certificates = certificates;

        // The bridge and one veth pair per host, created from the bridge's namespace.
        let mut links = vec!["link add br0 type bridge".to_string(), "link set br0 up".to_string()];
        links.push(format!("link add vsc type veth peer name eth0 netns {scanner_ns}"));
        links.push("link set vsc master br0 up".to_string());
        for (i, (h, ns)) in lab.hosts.iter().zip(&host_ns).enumerate() {
            links.push(format!("link add v{i} type veth peer name eth0 address {} netns {ns}", h.mac));
            links.push(format!("link set v{i} master br0 up"));
        }
        netns::ip_batch(Some(&bridge_ns), &links)?;

        // Addresses inside each namespace, a few `ip` processes at a time.
        let v6 = |ip| dual_stack.then_some(ip);
        let mut jobs: Vec<(String, Vec<String>)> = vec![(scanner_ns.clone(), iface_lines(SCANNER_IP, v6(SCANNER_IP6)))];
        jobs.extend(
            lab.hosts
                .iter()
                .zip(&host_ns)
                .enumerate()
                .map(|(i, (h, ns))| (ns.clone(), iface_lines(h.ip, v6(host_ipv6(i))))),
        );
        run_parallel(jobs.len(), |i| netns::ip_batch(Some(&jobs[i].0), &jobs[i].1))?;

        let (tcp, udp): (Vec<_>, Vec<_>) = sockets.into_iter().unzip();
        lab.services =
            Some(ServiceRunner::start(tcp.into_iter().flatten().collect(), udp.into_iter().flatten().collect())?);
        lab.build_time = started.elapsed();
        let _ = writeln!(
            std::io::stderr(),
            "census-lab: built lab {} with {} hosts in {:.1}s",
            lab.name,
            lab.hosts.len(),
            lab.build_time.as_secs_f64()
        );
        Ok(lab)
    }

    fn setup_namespaces(
        &self,
        bridge_ns: &str,
        scanner_ns: &str,
        host_ns: &[String],
    ) -> Result<(Vec<HostSockets>, CertMap), LabError> {
        let dual = self.dual_stack;
        on_thread_in(bridge_ns, || {
            common_sysctls(false)?;
            netns::sysctl_if_present("net/bridge/bridge-nf-call-iptables", "0")?;
            netns::sysctl_if_present("net/bridge/bridge-nf-call-ip6tables", "0")?;
            netns::sysctl_if_present("net/bridge/bridge-nf-call-arptables", "0")
        })?;
        on_thread_in(scanner_ns, || common_sysctls(dual))?;
        let results = run_parallel_collect(host_ns.len(), |i| {
            let host = &self.hosts[i];
            on_thread_in(&host_ns[i], || {
                common_sysctls(dual)?;
                netns::sysctl("net/ipv4/ip_default_ttl", &host.os.ttl().to_string())?;
                let silent = if host.answers_icmp { "0" } else { "1" };
                netns::sysctl("net/ipv4/icmp_echo_ignore_all", silent)?;
                if dual {
                    netns::sysctl_if_present("net/ipv6/icmp/echo_ignore_all", silent)?;
                    // `all` does not reach an interface that already exists: eth0's own
                    // setting is what its answers carry.
                    for conf in ["all", "default", "eth0"] {
                        let key = format!("net/ipv6/conf/{conf}/hop_limit");
                        netns::sysctl_if_present(&key, &host.os.ttl().to_string())?;
                    }
                }
                let mut bound = Vec::new();
                let mut certs = Vec::new();
                for svc in &host.services {
                    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, svc.port.0);
                    let listener = TcpListener::bind(addr)
                        .map_err(|e| LabError::Command(format!("bind {}:{} : {e}", host.ip, svc.port)))?;
                    let tls = if let ServiceKind::Https { common_name, not_after, .. } = &svc.kind {
                        let (config, truth) = self_signed(common_name, *not_after)?;
                        certs.push(((host.ip, svc.port), truth));
                        Some(config)
                    } else {
                        None
                    };
                    bound.push(BoundService { listener, kind: svc.kind.clone(), tls });
                }
                Ok(((bound, name_responders(host)?), certs))
            })
        })?;
        let mut sockets = Vec::with_capacity(results.len());
        let mut certificates = HashMap::new();
        for (bound, certs) in results {
            sockets.push(bound);
            certificates.extend(certs);
        }
        Ok((sockets, certificates))
    }

    /// The lab's unique name (prefix of all its namespaces).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ground truth: every host, in build order.
    pub fn hosts(&self) -> &[HostSpec] {
        &self.hosts
    }

    /// Ground truth for the host at `ip`.
    pub fn host(&self, ip: Ipv4Addr) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.ip == ip)
    }

    /// Ground truth of the certificate presented at `ip`:`port`, if TLS.
    pub fn certificate(&self, ip: Ipv4Addr, port: Port) -> Option<&CertTruth> {
        self.certificates.get(&(ip, port))
    }

    /// The namespace to run scanners in.
    pub fn scanner_netns(&self) -> String {
        format!("{}-sc", self.name)
    }

    /// Switch host `index` off the segment (its link down: it answers
    /// nothing, ARP included) or back on.
    ///
    /// # Errors
    /// [`LabError`] when `ip` fails or there is no such host.
    pub fn set_host_link(&self, index: usize, up: bool) -> Result<(), LabError> {
        if index >= self.hosts.len() {
            return Err(LabError::Spec(format!("no lab host {index}")));
        }
        let state = if up { "up" } else { "down" };
        netns::ip_batch(Some(&self.host_netns(index)), &[format!("link set eth0 {state}")])
    }

    /// The namespace of host number `index`.
    pub fn host_netns(&self, index: usize) -> String {
        format!("{}-h{index}", self.name)
    }

    /// The scanner's address.
    pub fn scanner_ip(&self) -> Ipv4Addr {
        SCANNER_IP
    }

    /// The whole lab segment, `198.18.0.0/16`.
    pub fn segment(&self) -> String {
        format!("{}/{}", LAB_NET.0, LAB_NET.1)
    }

    /// How long building took.
    pub fn build_time(&self) -> Duration {
        self.build_time
    }

    /// A command that runs `program` inside the scanner namespace.
    pub fn scanner_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.scanner_netns()]).arg(program);
        cmd
    }

    /// Run `f` on a thread inside the scanner namespace (sockets it opens stay there).
    pub fn in_scanner<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        on_thread_in(&self.scanner_netns(), || Ok(f()))
    }

    /// Serve the hosts' PTR records (their `ptr_name`) from a dnsmasq on the
    /// scanner namespace's loopback, 127.0.0.53, which the namespace's
    /// resolv.conf points at. Hosts without a `ptr_name` have no record.
    pub fn start_dns(&mut self) -> Result<std::net::IpAddr, LabError> {
        let hosts_file = std::env::temp_dir().join(format!("{}.hosts", self.name));
        let mut text = String::new();
        for h in &self.hosts {
            if let Some(name) = &h.ptr_name {
                text.push_str(&format!("{} {name}\n", h.ip));
            }
        }
        std::fs::write(&hosts_file, text).map_err(|e| LabError::Command(format!("{}: {e}", hosts_file.display())))?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.scanner_netns(),
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
            ])
            .arg(format!("--addn-hosts={}", hosts_file.display()))
            .args([
                // Names live 5 minutes (dnsmasq's default is 0: uncacheable), and the
                // lab's reverse zones answer NXDOMAIN for addresses without a record.
                "--local-ttl=300",
                "--local=/18.198.in-addr.arpa/",
                "--local=/19.198.in-addr.arpa/",
                "--listen-address=127.0.0.53",
                "--bind-interfaces",
                "--port=53",
                "--pid-file=",
                "--conf-file=/dev/null",
                "--user=root",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| LabError::Command(format!("cannot start dnsmasq (Debian package dnsmasq-base): {e}")))?;
        self.dns = Some(child);
        // Ready when it answers on port 53 (TCP is enough to tell).
        let ready = self.in_scanner(|| {
            (0..100).any(|_| {
                let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 53], 53).into(), Duration::from_millis(50))
                    .is_ok();
                if !up {
                    std::thread::sleep(Duration::from_millis(30));
                }
                up
            })
        })?;
        if !ready {
            return Err(LabError::Command("dnsmasq did not start listening on 127.0.0.53".into()));
        }
        Ok(std::net::IpAddr::from([127, 0, 0, 53]))
    }

    /// Stop the lab's DNS server (a later lookup gets no answer).
    pub fn stop_dns(&mut self) {
        if let Some(mut dns) = self.dns.take() {
            let _ = dns.kill();
            let _ = dns.wait();
        }
    }

    /// Tear down now (Drop does the same).
    pub fn teardown(&mut self) {
        self.stop_dns();
        self.stop_dhcp();
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{}.hosts", self.name)));
        let _ = std::fs::remove_dir_all(std::path::Path::new("/etc/netns").join(self.scanner_netns()));
        if let Some(mut s) = self.services.take() {
            s.stop();
        }
        if !self.namespaces.is_empty() {
            netns::delete_namespaces(&self.namespaces);
            self.namespaces.clear();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// UDP sockets for the host's mDNS and NetBIOS responders, bound in its namespace.
fn name_responders(host: &HostSpec) -> Result<Vec<BoundResponder>, LabError> {
    let bind = |port: u16| {
        std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| LabError::Command(format!("bind udp {}:{port} : {e}", host.ip)))
    };
    let mut out = Vec::new();
    if let Some(name) = &host.mdns_name {
        out.push(BoundResponder {
            socket: bind(5353)?,
            responder: Responder::Mdns { ip: host.ip, name: name.clone() },
        });
    }
    if let Some(spec) = &host.netbios {
        out.push(BoundResponder {
            socket: bind(137)?,
            responder: Responder::Netbios { spec: spec.clone(), mac: host.mac },
        });
    }
    Ok(out)
}

fn iface_lines(ip: Ipv4Addr, ip6: Option<std::net::Ipv6Addr>) -> Vec<String> {
    let mut lines = vec![format!("addr add {ip}/{} dev eth0", LAB_NET.1)];
    if let Some(v6) = ip6 {
        // nodad: the address is usable at once, without duplicate detection.
        lines.push(format!("addr add {v6}/{} dev eth0 nodad", LAB_NET6.1));
    }
    lines.extend(["link set eth0 up".to_string(), "link set lo up".to_string()]);
    lines
}

fn common_sysctls(ipv6: bool) -> Result<(), LabError> {
    // See shared/notes/lab-pitfalls.md: inherited rp_filter drops replies,
    // IPv6 router solicitations and DAD add noise to every capture.
    netns::sysctl("net/ipv4/conf/all/rp_filter", "0")?;
    netns::sysctl("net/ipv4/conf/default/rp_filter", "0")?;
    if ipv6 {
        for key in ["accept_ra", "router_solicitations", "accept_dad"] {
            netns::sysctl_if_present(&format!("net/ipv6/conf/all/{key}"), "0")?;
            netns::sysctl_if_present(&format!("net/ipv6/conf/default/{key}"), "0")?;
        }
        return Ok(());
    }
    netns::sysctl_if_present("net/ipv6/conf/all/disable_ipv6", "1")?;
    netns::sysctl_if_present("net/ipv6/conf/default/disable_ipv6", "1")
}

/// Run `f` on a fresh thread that has entered namespace `ns`.
fn on_thread_in<T: Send>(ns: &str, f: impl FnOnce() -> Result<T, LabError> + Send) -> Result<T, LabError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            netns::enter(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(LabError::Command(format!("setup thread for {ns} panicked"))))
    })
}

/// Run `f(0..n)` on a few threads, failing on the first error.
fn run_parallel(n: usize, f: impl Fn(usize) -> Result<(), LabError> + Sync) -> Result<(), LabError> {
    run_parallel_collect(n, f).map(|_| ())
}

/// Run `f(0..n)` on a few threads and collect the results in order.
fn run_parallel_collect<T: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<T, LabError> + Sync,
) -> Result<Vec<T>, LabError> {
    let next = AtomicU32::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..SETUP_THREADS.min(n.max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= n {
                            return Ok(done);
                        }
                        done.push((i, f(i)?));
                    }
                })
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for w in workers {
            let part: Result<Vec<(usize, T)>, LabError> =
                w.join().unwrap_or_else(|_| Err(LabError::Command("setup worker panicked".into())));
            all.extend(part?);
        }
        Ok::<_, LabError>(all)
    })?;
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, t)| t).collect())
}
