//! CPU time the measured processes used, so that a throughput figure comes
//! with what it cost: on a machine whose cores are all busy, observations
//! per second are bounded by CPU seconds per observation, whatever the
//! locking, and the figures say which process spent them.
//!
//! Read from `/proc/PID/stat` (fields 14 and 15, user and system time in
//! clock ticks; `proc(5)`). A process that ended is no longer counted, so
//! take both readings while the processes measured still run.

use std::process::Command;

/// Clock ticks per second (`getconf CLK_TCK`; 100 where it cannot be asked).
fn ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// (command name, user + system ticks) of process `pid`, if it still runs.
fn stat(pid: &str) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (s.find('(')?, s.rfind(')')?);
    let comm = s.get(open + 1..close)?.to_string();
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let mut rest = s.get(close + 2..)?.split_whitespace().skip(11);
    let (user, system): (u64, u64) = (rest.next()?.parse().ok()?, rest.next()?.parse().ok()?);
    Some((comm, user + system))
}

/// CPU seconds used so far by process `pid` (0 once it has ended).
pub fn of_pid(pid: u32) -> f64 {
    stat(&pid.to_string()).map_or(0.0, |(_, t)| t as f64 / ticks_per_second())
}

/// Readings of every running process named `comm` (the PostgreSQL
/// server's are all `postgres`), each process's CPU ticks so far by its id:
/// take one, then [`Readings::spent`]. Per process, because a sum over the
/// processes running at each reading loses what a process that ended
/// between them had spent: an autovacuum worker that had spent seconds on
/// a large import ended during the next run, and the server's figure for
/// that run came out at 0.02 s (bench/RESULTS.md, 2026-12-07 evening).
pub struct Readings {
    comm: String,
    ticks: std::collections::HashMap<String, u64>,
}

impl Readings {
    /// Read every running process named `comm` now.
    pub fn of_command(comm: &str) -> Readings {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Readings { comm: comm.into(), ticks: Default::default() };
        };
        let ticks = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|p| stat(&p).filter(|(c, _)| c == comm).map(|(_, t)| (p, t)))
            .collect();
        Readings { comm: comm.into(), ticks }
    }

    /// CPU seconds the processes so named spent since these readings: each
    /// one's growth, one started since counted whole. One that ended
    /// meanwhile counts nothing (what it spent after the reading is lost:
    /// an undercount, never a negative).
    pub fn spent(&self) -> f64 {
        let now = Readings::of_command(&self.comm);
        let ticks: u64 =
            now.ticks.iter().map(|(pid, t)| t.saturating_sub(self.ticks.get(pid).copied().unwrap_or(0))).sum();
        ticks as f64 / ticks_per_second()
    }
}

/// Cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
