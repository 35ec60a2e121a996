//! Socket I/O behind two small traits, so sweep orchestration runs the same
//! over real sockets and over canned packets in tests.
//!
//! - [`ProbeTx`] sends one probe; [`ProbeRx`] waits briefly for one packet.
//! - [`datalink_pair`]: AF_PACKET, for ARP and on-link echo (whole frames):
//!   pnet sends, the [`capture`] shared with passive listening receives.
//! - [`raw_tcp_pair`]: a raw IPv4/TCP socket, for SYN probes (the kernel
//!   routes and resolves; we read whole IPv4 packets back).
//!
//! Both need CAP_NET_RAW; opening them is how the agent finds out whether it
//! has it ([`Privileges`]).

pub mod capture;
pub mod filter;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use census_proto::MacAddr;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How long a receiver blocks at most before returning `None`.
pub const POLL: Duration = Duration::from_millis(2);

/// The sending half of a probe socket.
pub trait ProbeTx: Send {
    /// Send one probe towards `dst` (frames ignore `dst`).
    fn send(&mut self, dst: Ipv4Addr, bytes: &[u8]) -> io::Result<()>;
}

/// The receiving half of a probe socket.
pub trait ProbeRx: Send {
    /// Wait up to [`POLL`] for one packet; `Ok(None)` when none came.
    fn recv(&mut self) -> io::Result<Option<&[u8]>>;
}

/// An interface to sweep from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name, e.g. `eth0`.
    pub name: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 address used as the probes' source.
    pub ip: Ipv4Addr,
    /// Prefix length of the directly connected network.
    pub prefix: u8,
}

impl Interface {
    /// Whether `ip` is on this interface's directly connected network (ARP-reachable).
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
        u32::from(ip) & mask == u32::from(self.ip) & mask
    }
}

/// List usable interfaces (up, with a MAC and an IPv4 address, not loopback).
pub fn interfaces() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .filter(|i| i.is_up() && !i.is_loopback())
        .filter_map(|i| {
            let mac = i.mac.map(|m| MacAddr(m.octets()))?;
            let (ip, prefix) = i.ips.iter().find_map(|n| match n.ip() {
                std::net::IpAddr::V4(v4) => Some((v4, n.prefix())),
                std::net::IpAddr::V6(_) => None,
            })?;
            Some(Interface { name: i.name, mac, ip, prefix })
        })
        .collect()
}

/// Whether `ip` is on a directly connected IPv6 network of an interface
/// that is up (its global prefixes; link-local ones say nothing of a routed address).
pub fn on_link_v6(ip: std::net::Ipv6Addr) -> bool {
    pnet_datalink::interfaces().iter().filter(|i| i.is_up()).any(|i| {
        i.ips.iter().any(|n| match n.ip() {
            std::net::IpAddr::V6(addr) if !addr.is_unicast_link_local() => {
                ipnet::Ipv6Net::new(addr, n.prefix()).is_ok_and(|net| net.prefix_len() > 0 && net.trunc().contains(&ip))
            }
            _ => false,
        })
    })
}

/// The interface with IPv6 on the network holding `target` (or the named
/// one), and its addresses to send from: link-local first, then those on
/// `target`'s network. Its IPv4 fields are unspecified when it has none.
pub fn v6_interface(named: Option<&str>, target: std::net::Ipv6Addr) -> Option<(Interface, Vec<std::net::Ipv6Addr>)> {
    let link_local = |a: &std::net::Ipv6Addr| a.is_unicast_link_local();
    pnet_datalink::interfaces().into_iter().filter(|i| i.is_up() && !i.is_loopback()).find_map(|i| {
        if named.is_some_and(|n| n != i.name) {
            return None;
        }
        let mac = i.mac.map(|m| MacAddr(m.octets()))?;
        let v6: Vec<(std::net::Ipv6Addr, u8)> = i
            .ips
            .iter()
            .filter_map(|n| match n.ip() {
                std::net::IpAddr::V6(a) => Some((a, n.prefix())),
                std::net::IpAddr::V4(_) => None,
            })
            .collect();
        let on_net: Vec<std::net::Ipv6Addr> = v6
            .iter()
            .filter(|(a, p)| {
                !link_local(a) && ipnet::Ipv6Net::new(*a, *p).is_ok_and(|n| *p > 0 && n.trunc().contains(&target))
            })
            .map(|(a, _)| *a)
            .collect();
        if on_net.is_empty() && named.is_none() {
            return None;
        }
        let mut sources: Vec<std::net::Ipv6Addr> = v6.iter().map(|(a, _)| *a).filter(link_local).collect();
        sources.extend(on_net);
        if sources.is_empty() {
            return None;
        }
        let (ip, prefix) = i
            .ips
            .iter()
            .find_map(|n| match n.ip() {
                std::net::IpAddr::V4(v4) => Some((v4, n.prefix())),
                std::net::IpAddr::V6(_) => None,
            })
            .unwrap_or((Ipv4Addr::UNSPECIFIED, 32));
        Some((Interface { name: i.name, mac, ip, prefix }, sources))
    })
}

/// Pick the interface for `target`: the named one, else the one whose
/// connected network holds it.
pub fn choose_interface(named: Option<&str>, target: Ipv4Addr) -> Result<Interface, String> {
    let all = interfaces();
    if let Some(name) = named {
        return all
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| format!("interface `{name}` does not exist, is down, or has no IPv4 address"));
    }
    all.into_iter().find(|i| i.on_link(target)).ok_or_else(|| format!("no interface is directly connected to {target}"))
}

/// How the kernel reaches an address: the source address it would use and
/// the interface that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Source address towards the destination.
    pub source: Ipv4Addr,
    /// The interface with that address (`None` when it has no MAC, e.g. a tunnel).
    pub interface: Option<Interface>,
}

/// Every address of this host, on every interface (loopback included).
pub fn local_addresses() -> Vec<std::net::IpAddr> {
    pnet_datalink::interfaces().iter().flat_map(|i| i.ips.iter().map(|n| n.ip())).collect()
}

/// The route to `dst`, from the routing table (a connected UDP socket asks
/// the kernel; no packet is sent).
///
/// # Errors
/// No route, or no IPv4 source address.
pub fn route_to(dst: Ipv4Addr) -> io::Result<Route> {
    let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.connect((dst, 9))?;
    let source = match s.local_addr()?.ip() {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(_) => return Err(io::Error::other("no IPv4 source address")),
    };
    Ok(Route { source, interface: interfaces().into_iter().find(|i| i.ip == source) })
}

struct DatalinkTx(Box<dyn pnet_datalink::DataLinkSender>);

impl ProbeTx for DatalinkTx {
    fn send(&mut self, _dst: Ipv4Addr, bytes: &[u8]) -> io::Result<()> {
        self.0.send_to(bytes, None).unwrap_or_else(|| Err(io::Error::other("datalink sender closed")))
    }
}

/// Open an AF_PACKET channel on `iface` (needs CAP_NET_RAW): pnet's sender,
/// and the shared [`capture::Capture`] as receiver (opened first, so no
/// early answer is missed), which the kernel spares this host's own frames.
///
/// # Errors
/// No such interface, or no permission.
pub fn datalink_pair(iface: &Interface) -> io::Result<(Box<dyn ProbeTx>, Box<dyn ProbeRx>)> {
    let rx = capture::Capture::open(&iface.name, capture::Filter::Sweep)?;
    let ni = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface.name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("interface {} vanished", iface.name)))?;
    // pnet's own receiver is not read: it is given the smallest buffer.
    let config = pnet_datalink::Config {
        read_timeout: Some(POLL),
        read_buffer_size: 2048,
        write_buffer_size: 65_536,
        ..Default::default()
    };
    match pnet_datalink::channel(&ni, config)? {
        pnet_datalink::Channel::Ethernet(tx, _) => Ok((Box::new(DatalinkTx(tx)), Box::new(rx))),
        _ => Err(io::Error::other("unsupported datalink channel type")),
    }
}

struct RawTx(Socket);
struct RawRx {
    sock: Socket,
    buf: Vec<u8>,
}

impl ProbeTx for RawTx {
    fn send(&mut self, dst: Ipv4Addr, bytes: &[u8]) -> io::Result<()> {
        self.0.send_to(bytes, &SockAddr::from(SocketAddrV4::new(dst, 0))).map(|_| ())
    }
}

impl ProbeRx for RawRx {
    fn recv(&mut self) -> io::Result<Option<&[u8]>> {
        use std::io::Read;
        match self.sock.read(&mut self.buf) {
            Ok(n) => Ok(Some(&self.buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Open a raw IPv4 TCP socket bound to `src` (needs CAP_NET_RAW).
pub fn raw_tcp_pair(src: Ipv4Addr, rate_pps: u32) -> io::Result<(Box<dyn ProbeTx>, Box<dyn ProbeRx>)> {
    let sock = raw_tcp_socket(src, rate_pps)?;
    let rx = sock.try_clone()?;
    Ok((Box::new(RawTx(sock)), Box::new(RawRx { sock: rx, buf: vec![0u8; 65_536] })))
}

/// The raw TCP socket under [`raw_tcp_pair`], bound to `src`, with buffers
/// sized for `rate_pps` ([`send_buffer_for`]).
///
/// # Errors
/// Opening (CAP_NET_RAW) or binding the socket.
pub fn raw_tcp_socket(src: Ipv4Addr, rate_pps: u32) -> io::Result<Socket> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))?;
    sock.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
    sock.set_recv_buffer_size(4 << 20)?;
    set_send_buffer(&sock, send_buffer_for(rate_pps));
    sock.set_read_timeout(Some(POLL))?;
    Ok(sock)
}

/// How long the kernel holds packets for an on-link address it is still
/// resolving: `mcast_solicit` (3) ARP requests `retrans_time` (1 s) apart,
/// Linux's defaults (`ip-sysctl.rst`, neigh/default), plus a margin.
const NEIGHBOUR_RESOLUTION: f64 = 4.0;

/// Kernel memory one queued probe is charged to the socket (skb truesize of
/// a 40-60 byte IPv4 packet is about 700-900 bytes).
const QUEUED_PROBE_BYTES: f64 = 1024.0;

/// The send buffer a raw socket needs at `rate_pps`, in bytes.
///
/// Probes to an on-link address with no neighbour entry wait in the kernel
/// while it sends ARP requests, charged to the sending socket, for up to
/// [`NEIGHBOUR_RESOLUTION`]. A sweep without ARP first (`--no-arp`, or
/// addresses nobody holds) sends every probe for a dead address into that
/// queue: with the default 208 KiB send buffer about 200 of them filled it,
/// every further send failed with ENOBUFS until the kernel gave up on an
/// address, and a 104-port sweep of a /26 ran at 340 packets/s against a
/// 5,000 limit. Sized for everything the rate can send in that time,
/// between 256 KiB and 64 MiB; memory is only used while probes wait.
pub fn send_buffer_for(rate_pps: u32) -> usize {
    let bytes = f64::from(rate_pps) * NEIGHBOUR_RESOLUTION * QUEUED_PROBE_BYTES;
    (bytes as usize).clamp(256 << 10, 64 << 20)
}

/// Set the send buffer: `SO_SNDBUFFORCE` (past `net.core.wmem_max`; needs
/// CAP_NET_ADMIN, which root has), else `SO_SNDBUF` up to the system limit.
fn set_send_buffer(sock: &Socket, bytes: usize) {
    // The kernel doubles the value it is given (for its bookkeeping).
    let forced = nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::SndBufForce, &(bytes / 2));
    if forced.is_err()
        && let Err(e) = sock.set_send_buffer_size(bytes / 2)
    {
        tracing::debug!(error = %e, "send buffer left at the system default");
    }
}

/// What this process may do, found out by trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    /// Raw sockets (ARP, SYN, raw ICMP) are available.
    pub raw: bool,
    /// Unprivileged ICMP datagram sockets are allowed (`net.ipv4.ping_group_range`).
    pub icmp_dgram: bool,
}

impl Privileges {
    /// Probe by opening (and closing) sockets.
    pub fn detect() -> Self {
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP)).is_ok();
        let icmp_dgram = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok();
        Privileges { raw, icmp_dgram }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_buffer_holds_what_the_rate_sends_while_neighbours_resolve() {
        assert_eq!(send_buffer_for(5_000), 20_480_000);
        assert_eq!(send_buffer_for(1), 256 << 10, "never below the kernel's usual default");
        assert_eq!(send_buffer_for(u32::MAX), 64 << 20, "capped");
    }

    /// Regression: a --no-arp SYN sweep of a /26 with 21 dead addresses ran
    /// at 340 packets/s because the default 208 KiB send buffer filled with
    /// probes waiting for ARP and every further send failed with ENOBUFS.
    #[test]
    fn a_raw_socket_gets_the_send_buffer_its_rate_needs() {
        let sock = match raw_tcp_socket(Ipv4Addr::LOCALHOST, 5_000) {
            Ok(s) => s,
            // Without CAP_NET_RAW there is no raw socket to size (CI runs as root).
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return,
            Err(e) => panic!("raw socket: {e}"),
        };
        let got = sock.send_buffer_size().unwrap();
        assert!(got >= send_buffer_for(5_000), "send buffer {got} bytes");
    }
}
