//! Orchestration tested with canned packets: a fake network answers probes
//! the way the protocol would, with loss, duplicates and conflicts on demand.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use census_proto::{MacAddr, Port};

use super::arp::{ArpProtocol, aggregate};
use super::engine::{Timing, run};
use super::syn::{SynProtocol, SynReply};
use crate::io::{Interface, ProbeRx, ProbeTx};
use crate::packet::{arp as arp_pkt, ethernet, ipv4, tcp};
use crate::rate::RateLimiter;
use crate::targets::TargetSet;

type Responder = dyn FnMut(Ipv4Addr, &[u8]) -> Vec<Vec<u8>> + Send;

/// Sends go to a responder; its replies queue up for the receiver.
struct FakeTx {
    respond: Box<Responder>,
    queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
    sent: Arc<Mutex<Vec<Ipv4Addr>>>,
}
struct FakeRx {
    queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
    current: Vec<u8>,
}

impl ProbeTx for FakeTx {
    fn send(&mut self, dst: Ipv4Addr, bytes: &[u8]) -> std::io::Result<()> {
        self.sent.lock().unwrap().push(dst);
        let replies = (self.respond)(dst, bytes);
        self.queue.lock().unwrap().extend(replies);
        Ok(())
    }
}

impl ProbeRx for FakeRx {
    fn recv(&mut self) -> std::io::Result<Option<&[u8]>> {
        let next = self.queue.lock().unwrap().pop_front();
        match next {
            Some(p) => {
                self.current = p;
                Ok(Some(&self.current))
            }
            None => {
                std::thread::sleep(Duration::from_micros(200));
                Ok(None)
            }
        }
    }
}

fn fake(respond: Box<Responder>) -> (FakeTx, Box<FakeRx>, Arc<Mutex<Vec<Ipv4Addr>>>) {
    let queue = Arc::new(Mutex::new(VecDeque::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    (
        FakeTx { respond, queue: queue.clone(), sent: sent.clone() },
        Box::new(FakeRx { queue, current: Vec::new() }),
        sent,
    )
}

const ME: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

fn iface() -> Interface {
    Interface { name: "lab0".into(), mac: ME, ip: Ipv4Addr::new(198, 18, 0, 1), prefix: 24 }
}

fn arp_reply(ip: Ipv4Addr, mac: MacAddr) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    ethernet::write_header(&mut f, ME, mac, ethernet::ETHERTYPE_ARP);
    let a = &mut f[14..];
    a[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    a[8..14].copy_from_slice(&mac.0);
    a[14..18].copy_from_slice(&ip.octets());
    a[18..24].copy_from_slice(&ME.0);
    a[24..28].copy_from_slice(&[198, 18, 0, 1]);
    f
}

fn timing() -> Timing {
    Timing { timeout: Duration::from_millis(60), fixed_wait: true, retries: 2, max_in_flight: 8, deadline: None }
}

fn target_of(frame: &[u8]) -> Ipv4Addr {
    let v = arp_pkt::ArpView::new(&frame[14..]).unwrap();
    assert_eq!(v.operation(), arp_pkt::OP_REQUEST);
    v.target_ip()
}

#[test]
fn arp_sweep_finds_hosts_retries_only_silence_and_keeps_conflicts() {
    let mut targets = TargetSet::parse(&["198.18.0.0/28"], &["198.18.0.9"]).unwrap();
    // As a scan does: the link's own network and broadcast addresses are left out.
    targets.exclude_link_broadcasts([(Ipv4Addr::new(198, 18, 0, 1), 28)]);
    let mac = |n: u8| MacAddr([0x00, 0x1b, 0x21, 0, 0, n]);
    let mut asked_7 = 0;
    let (mut tx, rx, sent) = fake(Box::new(move |_dst, frame| {
        let ip = target_of(frame);
        match ip.octets()[3] {
            2 => vec![arp_reply(ip, mac(2))],
            // Two MACs claim .5: a conflict the daemon must see.
            5 => vec![arp_reply(ip, mac(5)), arp_reply(ip, mac(55))],
            // .7 loses its first answer.
            7 => {
                asked_7 += 1;
                if asked_7 > 1 { vec![arp_reply(ip, mac(7))] } else { vec![] }
            }
            // An answer from outside the targets is not ours to report.
            3 => vec![arp_reply(Ipv4Addr::new(198, 18, 1, 3), mac(3))],
            _ => vec![],
        }
    }));
    let ifc = iface();
    let proto = ArpProtocol { iface: &ifc, targets: &targets };
    let limiter = Mutex::new(RateLimiter::new(100_000));
    let outcome = run(&proto, &mut tx, rx, &|| proto.keys(), timing(), &limiter, &AtomicU64::new(0)).unwrap();
    let hosts = aggregate(&outcome);
    let ips: Vec<u8> = hosts.keys().map(|i| i.octets()[3]).collect();
    assert_eq!(ips, vec![2, 5, 7]);
    assert_eq!(hosts[&Ipv4Addr::new(198, 18, 0, 5)].conflicting, vec![mac(55)]);
    assert_eq!(outcome.answered_on_retry, 1);
    let sent = sent.lock().unwrap().clone();
    // 12 addresses probed (.1 is us, .9 excluded, .0/.15 network/broadcast); .2 and .5 once,
    // .7 twice, the 9 silent ones three times.
    assert!(!sent.contains(&Ipv4Addr::new(198, 18, 0, 9)), "excluded address was probed");
    assert!(!sent.contains(&Ipv4Addr::new(198, 18, 0, 1)), "own address was probed");
    assert_eq!(sent.iter().filter(|i| i.octets()[3] == 2).count(), 1);
    assert_eq!(sent.iter().filter(|i| i.octets()[3] == 7).count(), 2);
    assert_eq!(sent.len(), 1 + 1 + 2 + 9 * 3);
    assert_eq!(outcome.probes_sent, sent.len() as u64);
}

#[test]
fn in_flight_cap_and_deadline_bound_the_sweep() {
    let targets = TargetSet::parse(&["198.18.0.0/24"], &[] as &[&str]).unwrap();
    let (mut tx, rx, sent) = fake(Box::new(|_, _| vec![]));
    let ifc = iface();
    let proto = ArpProtocol { iface: &ifc, targets: &targets };
    let limiter = Mutex::new(RateLimiter::new(1_000_000));
    let deadline = Some(std::time::Instant::now() + Duration::from_millis(150));
    let t = Timing { timeout: Duration::from_millis(100), fixed_wait: true, retries: 5, max_in_flight: 4, deadline };
    let outcome = run(&proto, &mut tx, rx, &|| proto.keys(), t, &limiter, &AtomicU64::new(0)).unwrap();
    assert!(outcome.cut_short);
    // With 4 in flight and a 100 ms timeout, 150 ms allow at most 2 windows of 4.
    assert!(sent.lock().unwrap().len() <= 12, "sent {}", sent.lock().unwrap().len());
}

fn syn_reply(probe: &[u8], dst: Ipv4Addr, open: bool, src: Ipv4Addr) -> Vec<u8> {
    let seg = tcp::TcpView::new(probe).unwrap();
    let mut p = vec![0u8; 20 + 24];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(44u16).to_be_bytes());
    p[8] = 128;
    p[9] = ipv4::PROTO_TCP;
    p[12..16].copy_from_slice(&dst.octets());
    p[16..20].copy_from_slice(&src.octets());
    let t = &mut p[20..];
    t[0..2].copy_from_slice(&seg.destination_port().to_be_bytes());
    t[2..4].copy_from_slice(&seg.source_port().to_be_bytes());
    t[8..12].copy_from_slice(&seg.sequence().wrapping_add(1).to_be_bytes());
    t[12] = 0x60;
    t[13] = if open { tcp::SYN | tcp::ACK_FLAG } else { tcp::RST | tcp::ACK_FLAG };
    t[14..16].copy_from_slice(&8192u16.to_be_bytes());
    t[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    p
}

#[test]
fn syn_sweep_reports_open_closed_and_ignores_forgeries() {
    let src = Ipv4Addr::new(198, 18, 0, 1);
    let host = Ipv4Addr::new(198, 18, 0, 13);
    let (mut tx, rx, _sent) = fake(Box::new(move |dst, probe| {
        let port = tcp::TcpView::new(probe).unwrap().destination_port();
        let mut forged = syn_reply(probe, dst, true, src);
        forged[20 + 8] ^= 0xff; // wrong acknowledgement: not an answer to us
        match port {
            443 | 8080 => vec![syn_reply(probe, dst, true, src)],
            22 => vec![forged],
            _ => vec![syn_reply(probe, dst, false, src)],
        }
    }));
    let proto = SynProtocol { src, src_port: 45_000, secret: 42 };
    let ports = [Port(22), Port(80), Port(443), Port(8080)];
    let limiter = Mutex::new(RateLimiter::new(100_000));
    let keys = || ports.iter().map(|p| (host, *p));
    let outcome = run(&proto, &mut tx, rx, &keys, timing(), &limiter, &AtomicU64::new(0)).unwrap();
    let mut open: Vec<u16> = Vec::new();
    let mut closed: Vec<u16> = Vec::new();
    for a in &outcome.answers {
        match &a.reply {
            SynReply::Open { signature, ttl } => {
                assert_eq!((signature.window, signature.mss, *ttl), (8192, Some(1460), 128));
                open.push(a.key.1.0);
            }
            SynReply::Closed { .. } => closed.push(a.key.1.0),
        }
    }
    open.sort();
    assert_eq!(open, vec![443, 8080]);
    assert_eq!(closed, vec![80]);
    // Port 22 (forged answer) stays unanswered: probed 3 times, then filtered.
    assert_eq!(outcome.probes_sent, 3 + 3);
    let _ = IpAddr::V4(host);
}
