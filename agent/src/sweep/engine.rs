//! The probe engine under the ARP and SYN sweeps.
//!
//! One sender loop and one receiver thread per sweep. The sender walks the
//! keys lazily (a /16 is never materialised), paced by the global
//! [`RateLimiter`] and capped by `max_in_flight`; the receiver parses every
//! packet with the protocol's pure parser and hands matches over a channel.
//! Rounds: the first round probes every key; each retry round probes only
//! keys that have not answered. Early rounds wait for stragglers only a few
//! times the slowest round trip seen (the stragglers' wait). The last round
//! waits ten times the slowest round trip seen, at least [`MIN_LAST_WAIT`]
//! and at most the probe timeout, or the whole timeout when nothing has
//! answered yet: the timeout is then a ceiling, like nmap's
//! `--max-rtt-timeout`, and the segment's own round trips set the wait below
//! it (nmap's `--min-rtt-timeout` is 100 ms). An address silent through every
//! round has been waited for, in all, far longer than any host of its
//! segment took to answer. A host slower than every other on its segment
//! can still be missed that way; an operator who knows of one gives the
//! timeout ([`Timing::fixed_wait`]) and the last round waits all of it. When a retry round
//! finds many hosts that the previous round missed (loss), the rate is
//! halved for the next round.
//!
//! Each round's figures (probes, time spent sending, time spent waiting,
//! answers) are kept in [`Outcome::rounds`] for `--verbose`.
//!
//! Memory is bounded by `max_in_flight` plus the keys that answered.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::io::{ProbeRx, ProbeTx};
use crate::rate::RateLimiter;

/// A probing protocol: how to build a probe for a key and how to recognise
/// the reply to one.
pub trait Protocol: Sync {
    /// What is probed: an address, or an (address, port) pair.
    type Key: Copy + Eq + Hash + Send + std::fmt::Debug;
    /// What an answer says.
    type Reply: Send;
    /// Write the probe for `key` into `buf` (cleared first); returns its destination.
    fn probe(&self, key: Self::Key, buf: &mut Vec<u8>) -> Ipv4Addr;
    /// Recognise a received packet as the answer for a key.
    fn parse(&self, packet: &[u8]) -> Option<(Self::Key, Self::Reply)>;
    /// Whether `key` is one this sweep probes (answers for others are unsolicited).
    fn in_scope(&self, key: Self::Key) -> bool;
}

/// Timing and bounds of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The longest wait for an answer.
    pub timeout: Duration,
    /// The last round waits all of `timeout` (the operator gave it), not
    /// by the round trips seen.
    pub fixed_wait: bool,
    /// Extra rounds for keys that did not answer.
    pub retries: u8,
    /// Probes awaiting an answer at once.
    pub max_in_flight: usize,
    /// Hard stop for the whole sweep.
    pub deadline: Option<Instant>,
}

/// One answer.
#[derive(Debug)]
pub struct Answer<K, R> {
    /// What answered.
    pub key: K,
    /// What it said.
    pub reply: R,
    /// Round trip, when the probe was still awaited.
    pub rtt: Option<Duration>,
    /// False when nothing was sent for this key (unsolicited).
    pub solicited: bool,
    /// When it arrived.
    pub at: Instant,
    /// The round under way when it arrived (0: the first).
    pub round: u8,
}

/// What one round did and where its time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// Probes sent in the round.
    pub probes: usize,
    /// From the round's first probe to its last (pacing and the in-flight cap included).
    pub sending: Duration,
    /// After the last probe, waiting for answers.
    pub waiting: Duration,
    /// Keys that answered for the first time during the round.
    pub answered: usize,
    /// Of the answers during the round, those from keys whose earlier
    /// round's wait had run out (stragglers: slower than that wait, or
    /// answering only the retry — one cannot tell which probe was answered).
    pub stragglers: usize,
}

/// Everything a sweep produced.
#[derive(Debug)]
pub struct Outcome<K, R> {
    /// Every answer, including duplicates and unsolicited ones, in arrival order.
    pub answers: Vec<Answer<K, R>>,
    /// Probes sent, retries included.
    pub probes_sent: u64,
    /// Distinct keys that answered.
    pub answered: usize,
    /// Of those, how many answered only to a retry.
    pub answered_on_retry: usize,
    /// The deadline cut the sweep short.
    pub cut_short: bool,
    /// Each round's figures, in order.
    pub rounds: Vec<RoundStats>,
}

impl<K, R> Outcome<K, R> {
    /// Estimated probe loss: the share of answering keys that needed a retry.
    pub fn estimated_loss(&self) -> f64 {
        if self.answered == 0 { 0.0 } else { self.answered_on_retry as f64 / self.answered as f64 }
    }
}

/// How long a non-final round waits for stragglers.
fn straggler_wait(max_rtt: Duration, timeout: Duration) -> Duration {
    if max_rtt.is_zero() { timeout } else { (max_rtt * 4 + Duration::from_millis(40)).min(timeout) }
}

/// The shortest wait of a last round once round trips are known.
pub const MIN_LAST_WAIT: Duration = Duration::from_millis(150);

/// How long the last round waits (see the module docs).
fn last_wait(max_rtt: Duration, timeout: Duration) -> Duration {
    if max_rtt.is_zero() { timeout } else { (max_rtt * 10).max(MIN_LAST_WAIT).min(timeout) }
}

/// Run a sweep of `keys()` (called once per round) over `tx`/`rx`.
///
/// `limiter` is locked only to pace each probe, so sweeps running side by
/// side share the one rate.
///
/// # Errors
/// The receiver's error, or a send that keeps failing (ten thousand probes in a row).
pub fn run<P, I>(
    proto: &P,
    tx: &mut dyn ProbeTx,
    rx: Box<dyn ProbeRx>,
    keys: &dyn Fn() -> I,
    timing: Timing,
    limiter: &Mutex<RateLimiter>,
    progress: &AtomicU64,
) -> std::io::Result<Outcome<P::Key, P::Reply>>
where
    P: Protocol,
    I: Iterator<Item = P::Key>,
{
    run_observed(proto, tx, rx, keys, timing, limiter, progress, &mut |_, _| {})
}

/// Called as each round ends with the round's index and every answer so far.
pub type AfterRound<'a, K, R> = dyn FnMut(u8, &[Answer<K, R>]) + 'a;

/// [`run`], calling `after_round(round, answers so far)` as each round ends
/// (the on-link echo starts beside ARP's retries this way).
///
/// # Errors
/// As [`run`].
#[allow(clippy::too_many_arguments)]
pub fn run_observed<P, I>(
    proto: &P,
    tx: &mut dyn ProbeTx,
    rx: Box<dyn ProbeRx>,
    keys: &dyn Fn() -> I,
    timing: Timing,
    limiter: &Mutex<RateLimiter>,
    progress: &AtomicU64,
    after_round: &mut AfterRound<'_, P::Key, P::Reply>,
) -> std::io::Result<Outcome<P::Key, P::Reply>>
where
    P: Protocol,
    I: Iterator<Item = P::Key>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let (chan_tx, chan_rx) = mpsc::channel::<(P::Key, P::Reply, Instant)>();
    std::thread::scope(|scope| {
        let stop_rx = stop.clone();
        let receiver = scope.spawn(move || -> std::io::Result<()> {
            let mut rx = rx;
            while !stop_rx.load(Ordering::Relaxed) {
                if let Some(packet) = rx.recv()?
                    && let Some((key, reply)) = proto.parse(packet)
                    && chan_tx.send((key, reply, Instant::now())).is_err()
                {
                    break;
                }
            }
            Ok(())
        });
        let pace = Pace { limiter, progress };
        let result = send_rounds(proto, tx, &chan_rx, keys, timing, &pace, &receiver, after_round);
        stop.store(true, Ordering::Relaxed);
        let received = receiver.join().unwrap_or_else(|_| Err(std::io::Error::other("receiver thread panicked")));
        // The receiver's own error explains a "receiver stopped" better than the sender can.
        received?;
        result
    })
}

struct State<K, R> {
    outstanding: HashMap<K, Instant>,
    /// The last round's probes still unanswered when it ended (at most the
    /// in-flight window): a late answer to one still says how slow the
    /// segment is, so the waits grow with it.
    previous: HashMap<K, Instant>,
    answered: HashSet<K>,
    answered_in_round: usize,
    stragglers_in_round: usize,
    round: u8,
    answered_on_retry: usize,
    max_rtt: Duration,
    answers: Vec<Answer<K, R>>,
}

impl<K: Copy + Eq + Hash, R> State<K, R> {
    fn new() -> Self {
        State {
            outstanding: HashMap::new(),
            previous: HashMap::new(),
            answered: HashSet::new(),
            answered_in_round: 0,
            stragglers_in_round: 0,
            round: 0,
            answered_on_retry: 0,
            max_rtt: Duration::ZERO,
            answers: Vec::new(),
        }
    }

    fn take(&mut self, (key, reply, at): (K, R, Instant), in_scope: impl Fn(K) -> bool) {
        let sent = self.outstanding.remove(&key);
        let earlier = self.previous.remove(&key);
        // The round trip reported is the awaited probe's, unless an earlier
        // probe may be the one answered (Karn's rule: not after a retry).
        let rtt = match (sent, earlier) {
            (Some(s), None) => Some(at.saturating_duration_since(s)),
            _ => None,
        };
        // The waits go by the earliest probe it may answer: never shorter than the segment needs.
        if let Some(s) = earlier.or(sent) {
            self.max_rtt = self.max_rtt.max(at.saturating_duration_since(s));
        }
        let solicited = sent.is_some() || earlier.is_some() || in_scope(key);
        if earlier.is_some() {
            self.stragglers_in_round += 1;
        }
        if solicited && self.answered.insert(key) {
            self.answered_in_round += 1;
            if self.round > 0 {
                self.answered_on_retry += 1;
            }
        }
        self.answers.push(Answer { key, reply, rtt, solicited, at, round: self.round });
    }

    fn expire(&mut self, now: Instant, timeout: Duration) {
        self.outstanding.retain(|_, sent| now.saturating_duration_since(*sent) < timeout);
    }
}

/// The shared rate and the probe counter.
struct Pace<'a> {
    limiter: &'a Mutex<RateLimiter>,
    progress: &'a AtomicU64,
}

impl Pace<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, RateLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[allow(clippy::too_many_arguments)]
fn send_rounds<P, I, T>(
    proto: &P,
    tx: &mut dyn ProbeTx,
    chan: &mpsc::Receiver<(P::Key, P::Reply, Instant)>,
    keys: &dyn Fn() -> I,
    timing: Timing,
    pace: &Pace<'_>,
    receiver: &std::thread::ScopedJoinHandle<'_, T>,
    after_round: &mut AfterRound<'_, P::Key, P::Reply>,
) -> std::io::Result<Outcome<P::Key, P::Reply>>
where
    P: Protocol,
    I: Iterator<Item = P::Key>,
{
    let mut st: State<P::Key, P::Reply> = State::new();
    let mut buf = Vec::with_capacity(128);
    let mut probes_sent = 0u64;
    let mut cut_short = false;
    let mut send_failures = 0u32;
    let past_deadline = |now: Instant| timing.deadline.is_some_and(|d| now >= d);
    let mut rounds: Vec<RoundStats> = Vec::new();
    'rounds: for round in 0..=timing.retries {
        st.round = round;
        st.answered_in_round = 0;
        st.stragglers_in_round = 0;
        let mut sent_in_round = 0usize;
        let round_start = Instant::now();
        let mut first_send: Option<Instant> = None;
        let mut last_send = round_start;
        rounds.push(RoundStats::default());
        for key in keys() {
            if st.answered.contains(&key) {
                continue;
            }
            loop {
                while let Ok(msg) = chan.try_recv() {
                    st.take(msg, |k| proto.in_scope(k));
                }
                let now = Instant::now();
                if past_deadline(now) {
                    cut_short = true;
                    if let Some(r) = rounds.last_mut() {
                        *r = RoundStats {
                            probes: sent_in_round,
                            // Cut while pacing the next probe: that time was spent sending.
                            sending: now.saturating_duration_since(first_send.unwrap_or(round_start)),
                            waiting: Duration::ZERO,
                            answered: st.answered_in_round,
                            stragglers: st.stragglers_in_round,
                        };
                    }
                    break 'rounds;
                }
                st.expire(now, timing.timeout);
                let wait = pace.lock().delay(now);
                if st.outstanding.len() < timing.max_in_flight && wait.is_zero() {
                    break;
                }
                if receiver.is_finished() {
                    return Err(std::io::Error::other("receiver stopped"));
                }
                let nap = if wait.is_zero() { Duration::from_millis(1) } else { wait.min(Duration::from_millis(1)) };
                if let Ok(msg) = chan.recv_timeout(nap) {
                    st.take(msg, |k| proto.in_scope(k));
                }
            }
            if st.answered.contains(&key) {
                continue;
            }
            buf.clear();
            let dst = proto.probe(key, &mut buf);
            // The round trip runs from before the send: on a busy link the
            // answer can be read before `send` returns.
            let sent_at = Instant::now();
            if !send_with_backoff(tx, dst, &buf, &mut send_failures)? {
                tracing::debug!(?key, "probe dropped: transmit queue full");
            }
            let now = Instant::now();
            pace.lock().consume(now);
            first_send.get_or_insert(sent_at);
            last_send = now;
            st.outstanding.insert(key, sent_at);
            sent_in_round += 1;
            probes_sent += 1;
            pace.progress.fetch_add(1, Ordering::Relaxed);
        }
        let last = round == timing.retries;
        let wait = match (last, timing.fixed_wait) {
            (true, true) => timing.timeout,
            (true, false) => last_wait(st.max_rtt, timing.timeout),
            (false, _) => straggler_wait(st.max_rtt, timing.timeout),
        };
        let until = last_send + wait;
        let stats = |st: &State<P::Key, P::Reply>| RoundStats {
            probes: sent_in_round,
            sending: last_send.saturating_duration_since(first_send.unwrap_or(last_send)),
            waiting: Instant::now().saturating_duration_since(last_send.max(round_start)),
            answered: st.answered_in_round,
            stragglers: st.stragglers_in_round,
        };
        loop {
            let now = Instant::now();
            if now >= until || st.outstanding.is_empty() {
                break;
            }
            if past_deadline(now) {
                cut_short = true;
                if let Some(r) = rounds.last_mut() {
                    *r = stats(&st);
                }
                break 'rounds;
            }
            if let Ok(msg) = chan.recv_timeout((until - now).min(Duration::from_millis(5))) {
                st.take(msg, |k| proto.in_scope(k));
            }
            st.expire(Instant::now(), timing.timeout);
        }
        if let Some(r) = rounds.last_mut() {
            *r = stats(&st);
        }
        st.previous = std::mem::take(&mut st.outstanding);
        after_round(round, &st.answers);
        if sent_in_round == 0 {
            rounds.pop();
            break;
        }
        // Adaptive backoff: a retry round that still finds hosts means the previous one lost probes.
        if round > 0 && st.answered_in_round * 20 > sent_in_round.max(1) {
            pace.lock().slow_down();
        }
    }
    // Late answers already queued.
    while let Ok(msg) = chan.try_recv() {
        st.take(msg, |k| proto.in_scope(k));
    }
    Ok(Outcome {
        answered: st.answered.len(),
        answered_on_retry: st.answered_on_retry,
        answers: st.answers,
        probes_sent,
        cut_short,
        rounds,
    })
}

/// Probes in a row that may fail to send before the sweep gives up.
const MAX_SEND_FAILURES: u32 = 10_000;

/// Whether a send error means "the queue is full right now" rather than "broken".
fn transient(e: &std::io::Error) -> bool {
    // A full transmit queue shows as ENOBUFS (also while the kernel is still
    // resolving many neighbours for raw IP sends), or — through pnet's
    // poll-before-send — as a timeout or a poll event other than POLLOUT.
    matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN))
        || matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::Other | std::io::ErrorKind::WouldBlock)
}

/// Send one probe, riding out a full queue for a few milliseconds. A probe
/// that still cannot go is dropped (`Ok(false)`): it is retried next round
/// like a lost one. Only persistent failure ends the sweep.
fn send_with_backoff(tx: &mut dyn ProbeTx, dst: Ipv4Addr, bytes: &[u8], failures: &mut u32) -> std::io::Result<bool> {
    for _ in 0..20 {
        match tx.send(dst, bytes) {
            Ok(()) => {
                *failures = 0;
                return Ok(true);
            }
            Err(e) if transient(&e) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
    }
    *failures += 1;
    if *failures > MAX_SEND_FAILURES {
        return Err(std::io::Error::other(format!("{MAX_SEND_FAILURES} probes in a row could not be sent")));
    }
    Ok(false)
}

#[cfg(test)]
mod state_tests {
    use super::*;

    fn state() -> State<u32, ()> {
        State::new()
    }

    /// A host slower than the first round's straggler wait answers during a
    /// later round: the waits learn from it (so the last round waits for
    /// hosts that slow), but no round trip is reported for it when a retry
    /// may be what it answered.
    #[test]
    fn late_answers_lengthen_the_waits_and_retried_ones_report_no_round_trip() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut st = state();
        st.outstanding.extend([(1, t0), (2, t0), (3, t0)]);
        st.take((1, (), t0 + ms(1)), |_| true);
        assert_eq!(st.max_rtt, ms(1));
        // Round 0 ends with 2 and 3 unanswered; 2 is retried in round 1.
        st.previous = std::mem::take(&mut st.outstanding);
        st.round = 1;
        st.outstanding.insert(2, t0 + ms(50));
        // 3's answer to its first probe arrives 300 ms in; 2 answers 310 ms in.
        st.take((3, (), t0 + ms(300)), |_| false);
        st.take((2, (), t0 + ms(310)), |_| false);
        assert_eq!(st.max_rtt, ms(310), "measured from the earliest probe each may answer");
        assert_eq!(st.stragglers_in_round, 2, "both came after round 0's wait ran out, retried or not");
        assert_eq!(
            st.answers.iter().map(|a| (a.key, a.rtt, a.solicited)).collect::<Vec<_>>(),
            [(1, Some(ms(1)), true), (3, None, true), (2, None, true)]
        );
        assert_eq!(last_wait(st.max_rtt, ms(500)), ms(500), "ten times 310 ms, capped at the timeout");
        assert_eq!(last_wait(ms(1), ms(500)), MIN_LAST_WAIT);
        assert_eq!(last_wait(Duration::ZERO, ms(500)), ms(500), "nothing answered yet: the whole timeout");
    }
}
