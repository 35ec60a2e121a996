//! Socket I/O behind two small traits, so sweep orchestration runs the same
//! over real sockets and over canned packets in tests.
//!
//! - [`ProbeTx`] sends one probe; [`ProbeRx`] waits briefly for one packet.
//! - [`datalink_pair`]: AF_PACKET through pnet, for ARP (whole frames).
//! - [`raw_tcp_pair`]: a raw IPv4/TCP socket, for SYN probes (the kernel
//!   routes and resolves; we read whole IPv4 packets back).
//!
//! Both need CAP_NET_RAW; opening them is how the agent finds out whether it
//! has it ([`Privileges`]).

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

struct DatalinkTx(Box<dyn pnet_datalink::DataLinkSender>);
struct DatalinkRx(Box<dyn pnet_datalink::DataLinkReceiver>);

impl ProbeTx for DatalinkTx {
    fn send(&mut self, _dst: Ipv4Addr, bytes: &[u8]) -> io::Result<()> {
        self.0.send_to(bytes, None).unwrap_or_else(|| Err(io::Error::other("datalink sender closed")))
    }
}

impl ProbeRx for DatalinkRx {
    fn recv(&mut self) -> io::Result<Option<&[u8]>> {
        match self.0.next() {
            Ok(frame) => Ok(Some(frame)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Open an AF_PACKET channel on `iface` (needs CAP_NET_RAW).
pub fn datalink_pair(iface: &Interface) -> io::Result<(Box<dyn ProbeTx>, Box<dyn ProbeRx>)> {
    let ni = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface.name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("interface {} vanished", iface.name)))?;
    let config = pnet_datalink::Config {
        read_timeout: Some(POLL),
        read_buffer_size: 65_536,
        write_buffer_size: 65_536,
        ..Default::default()
    };
    match pnet_datalink::channel(&ni, config)? {
        pnet_datalink::Channel::Ethernet(tx, rx) => Ok((Box::new(DatalinkTx(tx)), Box::new(DatalinkRx(rx)))),
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
pub fn raw_tcp_pair(src: Ipv4Addr) -> io::Result<(Box<dyn ProbeTx>, Box<dyn ProbeRx>)> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))?;
    sock.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
    sock.set_recv_buffer_size(4 << 20)?;
    sock.set_read_timeout(Some(POLL))?;
    let rx = sock.try_clone()?;
    Ok((Box::new(RawTx(sock)), Box::new(RawRx { sock: rx, buf: vec![0u8; 65_536] })))
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
