//! The capture source sweeps and passive listening share: one AF_PACKET
//! socket of one interface, with a kernel filter ([`super::filter`]) that
//! keeps only frames received there — never this host's own — and, for
//! passive listening, only the protocols it reads.
//!
//! Passive listening reads it as a [`FrameSource`] (with a timeout per
//! read), the engine sweeps as a [`super::ProbeRx`] (the short
//! [`super::POLL`]); both are tested with canned frames ([`Canned`] and the
//! sweeps' own canned receivers).

use std::io::{self, Read};
use std::time::Duration;

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use super::filter::{SNAP, passive_program, sweep_program};

/// Somewhere frames come from.
pub trait FrameSource {
    /// The next frame, or `None` when `timeout` passed without one.
    ///
    /// # Errors
    /// The socket's.
    fn next_frame(&mut self, timeout: Duration) -> io::Result<Option<&[u8]>>;
}

/// Which frames a capture keeps (besides the interface and direction checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// What passive listening reads: ARP, DHCP client messages, mDNS, NDP.
    Passive,
    /// Every frame received (the sweeps' parsers pick their answers).
    Sweep,
}

/// An AF_PACKET capture of one interface.
pub struct Capture {
    socket: Socket,
    buf: Vec<u8>,
    /// The read timeout set on the socket (set again only when it changes).
    timeout: Option<Duration>,
}

/// `ETH_P_ALL` in network order, as `socket(2)` takes it.
fn eth_p_all() -> i32 {
    i32::from(0x0003u16.to_be())
}

impl Capture {
    /// Open a capture of `interface` (needs CAP_NET_RAW).
    ///
    /// # Errors
    /// No such interface, no permission, or the filter refused.
    pub fn open(interface: &str, filter: Filter) -> io::Result<Capture> {
        let ifindex = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == interface)
            .map(|i| i.index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface `{interface}`")))?;
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(eth_p_all())))?;
        let program = match filter {
            Filter::Passive => passive_program(ifindex),
            Filter::Sweep => sweep_program(ifindex).to_vec(),
        };
        let filters: Vec<SockFilter> = program.iter().map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k)).collect();
        socket.attach_filter(&filters)?;
        // Frames queued between socket(2) and the filter passed no filter: drop them.
        socket.set_nonblocking(true)?;
        let mut buf = vec![0u8; SNAP as usize];
        for _ in 0..100_000 {
            match (&socket).read(&mut buf) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        socket.set_nonblocking(false)?;
        let _ = socket.set_recv_buffer_size(4 << 20);
        Ok(Capture { socket, buf, timeout: None })
    }
}

impl super::ProbeRx for Capture {
    fn recv(&mut self) -> io::Result<Option<&[u8]>> {
        self.next_frame(super::POLL)
    }
}

impl FrameSource for Capture {
    fn next_frame(&mut self, timeout: Duration) -> io::Result<Option<&[u8]>> {
        let timeout = timeout.max(Duration::from_millis(1));
        if self.timeout != Some(timeout) {
            self.socket.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        match (&self.socket).read(&mut self.buf) {
            Ok(n) => Ok(Some(&self.buf[..n])),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Canned frames, for tests.
pub struct Canned {
    frames: std::collections::VecDeque<Vec<u8>>,
    current: Vec<u8>,
}

impl Canned {
    /// These frames, in order; then nothing.
    pub fn new(frames: Vec<Vec<u8>>) -> Self {
        Canned { frames: frames.into(), current: Vec::new() }
    }
}

impl FrameSource for Canned {
    fn next_frame(&mut self, _timeout: Duration) -> io::Result<Option<&[u8]>> {
        match self.frames.pop_front() {
            Some(f) => {
                self.current = f;
                Ok(Some(&self.current))
            }
            None => Ok(None),
        }
    }
}
