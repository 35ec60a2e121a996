//! End-to-end tests for Census live in `tests/`; this library hosts their
//! shared helpers: finding the built binaries, and running a daemon and an
//! agent as real processes inside a lab's scanner namespace with their logs
//! in files the test can read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use census_lab::Lab;

/// The workspace's target directory for this build profile.
fn target_dir() -> PathBuf {
    // .../target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default()
}

/// Path of a workspace binary, building it first if this profile lacks it.
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    if !path.exists() {
        let package = if name == "censusd" { "censusd" } else { name };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(env!("CARGO")).args(["build", "-q", "-p", package]).current_dir(root).status();
        assert!(status.is_ok_and(|s| s.success()), "building {name} failed");
    }
    path
}

/// A process in the lab's scanner namespace, logging to a file; killed on drop.
pub struct Proc {
    child: Child,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
}

impl Proc {
    /// Start `program args` in `lab`'s scanner namespace with `envs`.
    pub fn start(lab: &Lab, program: &Path, args: &[&str], envs: &[(&str, &str)], log: PathBuf) -> Proc {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = lab.scanner_command(program);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Proc { child: cmd.spawn().expect("spawn"), log }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait up to `limit` for the exit; returns how long it took.
    pub fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        while t.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    /// SIGHUP.
    pub fn hangup(&self) {
        let _ = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status();
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll `ok` every 100 ms until it holds or `limit` passes; panics with `what` and `context()` on timeout.
pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool, context: impl Fn() -> String) {
    let t = Instant::now();
    while t.elapsed() < limit {
        if ok() {
            eprintln!("e2e: {what} after {:?}", t.elapsed());
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}\n{}", context());
}

/// Values of `key=` in log lines containing `message`, in order.
pub fn log_values(log: &str, message: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix(&prefix)).map(str::to_string))
        .collect()
}

/// Files in a spool directory that are batches.
pub fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count())
        .unwrap_or(0)
}

/// An empty, complete sweep of 198.18.0.0/24 by `agent`, encoded as the
/// agent sends it: (batch id, body).
pub fn empty_batch(agent: &str) -> (String, Vec<u8>) {
    let now = time::OffsetDateTime::now_utc();
    let b = census_proto::Batch {
        schema_version: census_proto::SchemaVersion::CURRENT,
        batch_id: uuid::Uuid::new_v4(),
        agent_id: census_proto::AgentId(agent.into()),
        segment: census_proto::SegmentScope {
            name: "lab".into(),
            targets: vec!["198.18.0.0/24".parse().expect("a network")],
            excluded: vec![],
        },
        started_at: now,
        finished_at: now,
        completeness: census_proto::SweepCompleteness {
            addresses_in_scope: 254,
            probes_sent: 254,
            replies: 0,
            estimated_loss: 0.0,
            rate_limit_pps: 1000,
            rate_achieved_pps: 1000.0,
            complete: true,
            techniques: vec![],
            enriched: true,
        },
        schedule: None,
        hosts: vec![],
    };
    (b.batch_id.to_string(), census_proto::encode_batch(&b))
}
