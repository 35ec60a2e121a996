//! Asking each found host directly for its name over UDP: one socket, one
//! small query per host, replies matched by source address, source port and
//! transaction id. Used for unicast mDNS and NetBIOS node status.
//!
//! Why one socket and not one exchange per host: a /16 with thousands of
//! live hosts costs one pass at the sweep's rate plus one short wait, not
//! thousands of timeouts. Every bound is explicit — queries are paced, each
//! host is asked at most `attempts` times, replies are read into a fixed
//! buffer (a longer datagram is truncated, then fails to parse), at most
//! [`MAX_DATAGRAMS_PER_HOST`] datagrams per host are examined, and the whole
//! exchange ends at its deadline whatever arrives. A reply from an address
//! that was not asked, from the wrong port or with the wrong id is ignored.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

/// Datagrams examined per host asked (plus a fixed allowance), so a flood of
/// forged replies ends the exchange early instead of spinning until the deadline.
pub const MAX_DATAGRAMS_PER_HOST: usize = 4;

/// Largest reply read; longer datagrams are cut here.
pub const RECV_BUF: usize = 2048;

/// A datagram socket: tokio's `UdpSocket` in service, canned replies in tests.
pub trait Datagram {
    /// Send `buf` to `to`.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> impl Future<Output = io::Result<usize>>;
    /// Wait for one datagram.
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>>;
}

impl Datagram for tokio::net::UdpSocket {
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> impl Future<Output = io::Result<usize>> {
        tokio::net::UdpSocket::send_to(self, buf, to)
    }

    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> {
        tokio::net::UdpSocket::recv_from(self, buf)
    }
}

/// A name protocol spoken over [`ask`].
pub trait NameProtocol {
    /// The UDP port hosts answer on.
    const PORT: u16;
    /// Short name for logs.
    const LABEL: &'static str;
    /// The query for `ip` with transaction id `id`; `None` when the protocol does not apply to `ip`.
    fn query(&self, id: u16, ip: IpAddr) -> Option<Vec<u8>>;
    /// The names in `reply`, if it answers the query `id` sent to `ip`; `None` when it does not.
    /// `Some(empty)` is an answer with no name in it.
    fn names(&self, reply: &[u8], id: u16, ip: IpAddr) -> Option<Vec<String>>;
}

/// How fast and how long [`ask`] may go.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Time between two queries.
    pub interval: Duration,
    /// How long to wait for replies after the last query of a round.
    pub wait: Duration,
    /// Rounds: hosts still silent after one are asked again in the next.
    pub attempts: u8,
    /// Nothing is sent or awaited past this.
    pub deadline: Instant,
}

/// Ask every host in `ips` for its names; hosts that never answered, or
/// answered without a name, are absent from the result.
pub async fn ask<P: NameProtocol, S: Datagram>(
    sock: &S,
    proto: &P,
    ips: &[IpAddr],
    pacing: Pacing,
) -> BTreeMap<IpAddr, Vec<String>> {
    let base = uuid::Uuid::new_v4().as_u128() as u16;
    let mut pending: HashMap<IpAddr, (u16, Vec<u8>)> = HashMap::new();
    for (i, ip) in ips.iter().enumerate() {
        let id = base.wrapping_add(i as u16);
        if let Some(q) = proto.query(id, *ip) {
            pending.insert(*ip, (id, q));
        }
    }
    let mut budget = pending.len() * MAX_DATAGRAMS_PER_HOST + 64;
    let mut found = BTreeMap::new();
    let mut buf = vec![0u8; RECV_BUF];
    for round in 0..pacing.attempts {
        let mut queue: Vec<IpAddr> = ips.iter().filter(|ip| pending.contains_key(ip)).copied().collect();
        queue.reverse();
        if queue.is_empty() || Instant::now() >= pacing.deadline || budget == 0 {
            break;
        }
        let mut next_send = Instant::now();
        let mut round_end = pacing.deadline;
        loop {
            let sending = !queue.is_empty();
            if !sending && (pending.is_empty() || Instant::now() >= round_end) {
                break;
            }
            let wake = if sending { next_send } else { round_end };
            tokio::select! {
                _ = tokio::time::sleep_until(wake.min(pacing.deadline)) => {
                    if Instant::now() >= pacing.deadline {
                        break;
                    }
                    if let Some(ip) = queue.pop()
                        && let Some((_, q)) = pending.get(&ip)
                    {
                        if let Err(e) = sock.send_to(q, SocketAddr::new(ip, P::PORT)).await {
                            tracing::debug!(protocol = P::LABEL, %ip, error = %e, "name query not sent");
                        }
                        next_send += pacing.interval;
                        if queue.is_empty() {
                            round_end = (Instant::now() + pacing.wait).min(pacing.deadline);
                        }
                    }
                }
                r = sock.recv_from(&mut buf) => {
                    budget = budget.saturating_sub(1);
                    if let Ok((n, from)) = r
                        && from.port() == P::PORT
                        && let Some((id, _)) = pending.get(&from.ip())
                        && let Some(names) = proto.names(&buf[..n], *id, from.ip())
                    {
                        pending.remove(&from.ip());
                        if !names.is_empty() {
                            found.insert(from.ip(), names);
                        }
                    }
                    if budget == 0 {
                        tracing::warn!(protocol = P::LABEL, "too many datagrams; name queries cut short");
                        break;
                    }
                }
            }
        }
        tracing::debug!(protocol = P::LABEL, round, answered = found.len(), silent = pending.len(), "name round done");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::net::Ipv4Addr;

    /// Replies `"<id> <name>"` to queries (the query is the id as text), for the addresses it knows.
    struct Echo;

    impl NameProtocol for Echo {
        const PORT: u16 = 9;
        const LABEL: &'static str = "echo";
        fn query(&self, id: u16, _ip: IpAddr) -> Option<Vec<u8>> {
            Some(id.to_string().into_bytes())
        }
        fn names(&self, reply: &[u8], id: u16, _ip: IpAddr) -> Option<Vec<String>> {
            let text = std::str::from_utf8(reply).ok()?;
            let (rid, name) = text.split_once(' ')?;
            (rid.parse::<u16>().ok()? == id).then(|| if name.is_empty() { vec![] } else { vec![name.to_string()] })
        }
    }

    /// A fake network: `names` answer (after `drop_first` queries to them are lost),
    /// `inbox` starts with whatever the test puts there, everything else is silent.
    struct Net {
        names: HashMap<IpAddr, &'static str>,
        drop_first: RefCell<HashMap<IpAddr, u32>>,
        inbox: RefCell<VecDeque<(Vec<u8>, SocketAddr)>>,
        sent: RefCell<Vec<IpAddr>>,
    }

    impl Datagram for Net {
        async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
            self.sent.borrow_mut().push(to.ip());
            if let Some(left) = self.drop_first.borrow_mut().get_mut(&to.ip())
                && *left > 0
            {
                *left -= 1;
                return Ok(buf.len());
            }
            if let Some(name) = self.names.get(&to.ip()) {
                let reply = format!("{} {name}", std::str::from_utf8(buf).unwrap());
                self.inbox.borrow_mut().push_back((reply.into_bytes(), to));
            }
            Ok(buf.len())
        }

        async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            loop {
                if let Some((bytes, from)) = self.inbox.borrow_mut().pop_front() {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), from));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n))
    }

    fn pacing(attempts: u8) -> Pacing {
        Pacing {
            interval: Duration::from_micros(100),
            wait: Duration::from_millis(50),
            attempts,
            deadline: Instant::now() + Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn answers_are_matched_forgeries_ignored_and_losses_retried() {
        let net = Net {
            names: HashMap::from([(ip(10), "alpha"), (ip(11), "beta"), (ip(12), "")]),
            drop_first: RefCell::new(HashMap::from([(ip(11), 1)])),
            inbox: RefCell::new(VecDeque::from([
                // A forged answer for .10 from the wrong port, one from an address not asked, one with a wrong id.
                (b"0 evil".to_vec(), SocketAddr::new(ip(10), 10)),
                (b"0 evil".to_vec(), SocketAddr::new(ip(99), 9)),
                (b"x evil".to_vec(), SocketAddr::new(ip(10), 9)),
            ])),
            sent: RefCell::new(Vec::new()),
        };
        let ips = [ip(10), ip(11), ip(12), ip(13)];
        let found = ask(&net, &Echo, &ips, pacing(2)).await;
        assert_eq!(found, BTreeMap::from([(ip(10), vec!["alpha".to_string()]), (ip(11), vec!["beta".to_string()])]));
        let sent = net.sent.borrow();
        // Round 1 asks everyone; round 2 only the lost .11 and the silent .13.
        assert_eq!(sent.iter().filter(|i| **i == ip(10)).count(), 1);
        assert_eq!(sent.iter().filter(|i| **i == ip(11)).count(), 2);
        assert_eq!(sent.iter().filter(|i| **i == ip(12)).count(), 1, "an empty answer is an answer");
        assert_eq!(sent.iter().filter(|i| **i == ip(13)).count(), 2);
    }

    #[tokio::test]
    async fn a_flood_of_datagrams_ends_the_exchange() {
        let flood: VecDeque<_> = (0..10_000).map(|_| (b"junk".to_vec(), SocketAddr::new(ip(10), 9))).collect();
        let net = Net {
            names: HashMap::new(),
            drop_first: RefCell::new(HashMap::new()),
            inbox: RefCell::new(flood),
            sent: RefCell::new(Vec::new()),
        };
        let found = ask(&net, &Echo, &[ip(10)], pacing(3)).await;
        assert!(found.is_empty());
        let left = net.inbox.borrow().len();
        assert_eq!(10_000 - left, MAX_DATAGRAMS_PER_HOST + 64, "datagrams examined");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_holds_whatever_the_pacing() {
        let net = Net {
            names: HashMap::new(),
            drop_first: RefCell::new(HashMap::new()),
            inbox: RefCell::new(VecDeque::new()),
            sent: RefCell::new(Vec::new()),
        };
        let ips: Vec<IpAddr> = (0..=255).map(ip).collect();
        let start = Instant::now();
        let p = Pacing {
            interval: Duration::from_millis(100),
            wait: Duration::from_secs(60),
            attempts: 5,
            deadline: start + Duration::from_secs(2),
        };
        let found = ask(&net, &Echo, &ips, p).await;
        assert!(found.is_empty());
        assert!(start.elapsed() <= Duration::from_millis(2_100), "{:?}", start.elapsed());
        assert!(net.sent.borrow().len() <= 21, "sent {}", net.sent.borrow().len());
    }
}
