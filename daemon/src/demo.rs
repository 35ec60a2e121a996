//! `censusd demo`: the whole product in one command, on throwaway data.
//!
//! With root: a lab segment of virtual hosts in network namespaces
//! (198.18.0.0/24 only, nothing leaves it), a register where most hosts are
//! recorded, a few are not (shadow IT), one is decommissioned but still
//! answers, one deployed host is switched off, one lacks its EDR agent, one
//! is out of support, one serves an end-of-life SSH release, one a
//! certificate ending in 12 days, and one belongs to someone who left a week
//! ago (a people directory is imported too). The daemon runs here on a throwaway SQLite file;
//! `census-agent run` sweeps the lab from its scanner namespace and delivers
//! through the real HTTP API. Then the reconciliation is printed — the
//! alerts with their evidence and a whois — and the daemon stays up on
//! 127.0.0.1 for questions until Ctrl-C, which also removes the lab.
//!
//! Without root: the same against loopback addresses (127.0.0.2-4) with
//! connect() scans, matching by recorded IP only; it says what root adds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use census_lab::Lab;
use census_lab::spec::{OsPersonality, generated_host};
use censusd::alerts::{AlertFilter, AlertKind};
use censusd::config::{NotifyConfig, ReconcileConfig};
use censusd::register::model::asset_from_json;
use censusd::store::{SqliteStore, Store, now_ms};
use serde_json::{Value, json};

/// Lab hosts; indexes 7, 19 and 26 are left out of the register (shadow IT).
const HOSTS: usize = 30;
const UNREGISTERED: [usize; 3] = [7, 19, 26];
const RETIRED: usize = 12;
const NO_EDR: usize = 0;
const LAPSED: usize = 9;
/// Serves an SSH greeting naming Debian 9 (end-of-life-software).
const END_OF_LIFE: usize = 2;
/// Serves a certificate that ends in 12 days (certificate-expiring).
const EXPIRING: usize = 10;
/// Owned by someone who left a week ago (owner-departed).
const DEPARTED: usize = 5;
/// The departed owner, as the register records them.
const DEPARTED_OWNER: &str = "jdoe@example.org";

/// The people directory: the owning teams, and one person who left a week ago.
fn directory_csv() -> String {
    let left_on = censusd::register::Day(time::OffsetDateTime::now_utc().date() - time::Duration::days(7));
    format!(
        "id,kind,name,email,team,manager,status,left_on\n\
         platform-team,team,Platform team,platform@example.org,,,active,\n\
         workplace-it,team,Workplace IT,workplace@example.org,,,active,\n\
         network-team,team,Network team,network@example.org,,,active,\n\
         u1001,person,Jane Doe,{DEPARTED_OWNER},workplace-it,u1000,left,{left_on}\n"
    )
}

/// The lab's hosts, two of them changed to show lifecycle gaps.
fn lab_hosts() -> Vec<census_lab::spec::HostSpec> {
    use census_lab::spec::{ServiceKind, ServiceSpec};
    let mut hosts: Vec<_> = (0..HOSTS).map(generated_host).collect();
    hosts[END_OF_LIFE].services = vec![ServiceSpec {
        port: census_proto::Port(22),
        kind: ServiceKind::Banner { banner: "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7".into() },
    }];
    for s in &mut hosts[EXPIRING].services {
        if let ServiceKind::Https { not_after, .. } = &mut s.kind {
            *not_after = Some(time::OffsetDateTime::now_utc() + time::Duration::days(12));
        }
    }
    hosts
}

fn lab_register() -> Vec<Value> {
    let mut out = Vec::new();
    for i in (0..HOSTS).filter(|i| !UNREGISTERED.contains(i)) {
        let h = generated_host(i);
        let (kind, owner) = match h.os {
            OsPersonality::Linux => ("server", "platform-team"),
            OsPersonality::Windows => ("endpoint", "workplace-it"),
            OsPersonality::NetworkOs => ("network", "network-team"),
        };
        let mut a = json!({
            "tag": format!("LAB-{i:03}"), "name": h.ptr_name.clone().unwrap_or_else(|| format!("lab host {i}")),
            "type": kind, "owner": owner, "department": "IT", "lifecycle": "deployed",
            "macs": [h.mac.to_string()], "expected_segment": "198.18.0.0/24",
            "hostnames": h.ptr_name.iter().collect::<Vec<_>>(),
            "support_end": "2028-12-31",
            "licences": [{ "product": "Debian LTS support", "vendor": "Freexian", "expires": "2027-06-30" }],
        });
        if i == RETIRED {
            a["name"] = json!("old build server");
            a["lifecycle"] = json!("decommissioned");
            a["lifecycle_since"] = json!("2026-06-30");
        }
        if i == NO_EDR {
            a["expected_services"] = json!([{ "port": 4118, "name": "edr-agent" }]);
        }
        if i == LAPSED {
            a["support_end"] = json!("2025-12-31");
        }
        if i == DEPARTED {
            a["owner"] = json!(DEPARTED_OWNER);
        }
        out.push(a);
    }
    out.push(retired_server("198.18.0.0/24"));
    out.push(json!({
        "tag": "LAB-NAS", "name": "backup NAS (switched off)", "type": "server", "owner": "platform-team",
        "lifecycle": "deployed", "macs": ["00:1b:21:de:ad:01"], "ips": ["198.18.0.240"],
        "expected_segment": "198.18.0.0/24",
    }));
    out
}

/// Decommissioned today and switched off already: its retirement is
/// checked, attested and verified during the demo.
const RETIRING: &str = "OLD-FILER";

fn retired_server(segment: &str) -> Value {
    let today = censusd::register::Day(time::OffsetDateTime::now_utc().date());
    json!({
        "tag": RETIRING, "name": "old file server (switched off)", "type": "server", "owner": "platform-team",
        "lifecycle": "decommissioned", "lifecycle_since": today.to_string(), "expected_segment": segment,
    })
}

fn loopback_register() -> Vec<Value> {
    vec![
        json!({ "tag": "LOOP-2", "name": "loopback web", "type": "server", "owner": DEPARTED_OWNER,
                "lifecycle": "deployed", "ips": ["127.0.0.2"] }),
        json!({ "tag": "LOOP-3", "name": "old build server", "type": "server", "owner": "platform-team",
                "lifecycle": "decommissioned", "lifecycle_since": "2026-06-30", "ips": ["127.0.0.3"] }),
    ]
}

/// Serve a greeting on each loopback address the demo sweeps without root.
async fn loopback_services() -> anyhow::Result<()> {
    for (ip, port, banner) in [
        ("127.0.0.2", 18_080, "HTTP/1.0 200 OK\r\nServer: nginx/1.22.1\r\n\r\n"),
        ("127.0.0.3", 18_022, "SSH-2.0-OpenSSH_8.4p1 Debian-5\r\n"),
        ("127.0.0.4", 18_022, "SSH-2.0-dropbear_2022.83\r\n"),
    ] {
        let l = tokio::net::TcpListener::bind((ip, port)).await.with_context(|| format!("listening on {ip}:{port}"))?;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, banner.as_bytes()).await;
            }
        });
    }
    Ok(())
}

fn agent_binary() -> PathBuf {
    let here = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("census-agent")));
    match here {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("census-agent"),
    }
}

fn agent_config(dir: &Path, url: &str, lab: bool) -> String {
    let segment = if lab {
        "name = \"lab\"\ntargets = [\"198.18.0.0/24\"]\nexclude = [\"198.18.0.1\"]\ntechniques = [\"arp\", \"icmp\", \"tcp\"]\nports = \"top100,4118\"\n"
    } else {
        "name = \"loopback\"\ntargets = [\"127.0.0.2-127.0.0.4\"]\ntechniques = [\"tcp\"]\nports = \"18022,18080\"\nnames = false\n"
    };
    format!(
        "[agent]\nid = \"demo-agent\"\nstate_dir = \"{}\"\n[daemon]\nurl = \"{url}\"\ntoken_file = \"{}\"\nretry_max = \"2s\"\n\
         [[segment]]\n{segment}interval = \"4s\"\njitter = \"0s\"\nprobe_timeout = \"300ms\"\nretries = 1\nmax_duration = \"60s\"\n",
        dir.join("agent").display(),
        dir.join("agent.token").display()
    )
}

fn print_alert(a: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    censusd::outln!("  [{}] {} {} (#{})", s(&a["severity"]).to_uppercase(), s(&a["kind"]), s(&a["subject"]), a["id"]);
    censusd::outln!("      {}", s(&a["summary"]));
    let seen = a["evidence"]["hosts"].as_array().or(a["evidence"]["seen"].as_array()).cloned().unwrap_or_default();
    for h in seen {
        let names: Vec<String> =
            h["names"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string)).collect();
        let ports: Vec<String> = h["open_ports"].as_array().into_iter().flatten().map(|p| p.to_string()).collect();
        let how: Vec<String> =
            h["matched_by"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect();
        censusd::outln!(
            "      evidence: {} mac {} vendor {} names [{}] open [{}] os {} seen by {}{}",
            s(&h["ip"]),
            s(&h["mac"]),
            s(&h["vendor"]),
            names.join(", "),
            ports.join(" "),
            s(&h["os"]),
            s(&h["agent"]),
            if how.is_empty() { String::new() } else { format!("; matched by {}", how.join(", ")) }
        );
    }
}

/// The retirement of [`RETIRING`]: wait (at most a minute) until enough
/// complete sweeps passed without an answer, attest the wipe, dispose it,
/// and print the checklist with each step's evidence and date.
async fn verified_retirement(state: &censusd::api::AppState, admin: &censusd::people::Principal) -> anyhow::Result<()> {
    let t = Instant::now();
    loop {
        let r = state.reconciler.clone();
        let c = tokio::task::spawn_blocking(move || censusd::app::retirement::one(&r, RETIRING, now_ms())).await??;
        if c.steps.first().is_some_and(|s| s.state == censusd::retirement::StepState::Passed) {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "{RETIRING} was not checked off the network within a minute"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (r, who) = (state.reconciler.clone(), admin.clone());
    let c = tokio::task::spawn_blocking(move || {
        censusd::app::retirement::attest_wipe(&r, &who, RETIRING, "WIPE-DEMO-0001", "NIST 800-88 purge", now_ms())?;
        censusd::app::retirement::dispose(&r, &who, RETIRING, None, now_ms())?;
        censusd::app::retirement::track(&r, now_ms())?;
        censusd::app::retirement::one(&r, RETIRING, now_ms())
    })
    .await??;
    censusd::outln!();
    censusd::outln!("== verified retirement: {RETIRING} (decommissioned, off the network, wipe attested, disposed)");
    censusd::outln!();
    crate::retirement_ops::print_checklist(&serde_json::to_value(c)?);
    Ok(())
}

/// Run the demo. `hold`: stay up until Ctrl-C (otherwise exit after printing).
pub async fn run(listen: SocketAddr, hold: bool, loopback: bool) -> anyhow::Result<()> {
    let lab_ok = if loopback {
        Err(census_lab::LabError::Unavailable("--loopback asked for the loopback demo".into()))
    } else {
        census_lab::check_available()
    };
    let use_lab = lab_ok.is_ok();
    let dir = std::env::temp_dir().join(format!("census-demo-{}", std::process::id()));
    censusd::files::private_dir(&dir)?;
    let _cleanup = Cleanup(dir.clone());
    let (admin, admin_hash) = censusd::auth::new_token().map_err(anyhow::Error::msg)?;
    censusd::files::write_secret(&dir.join("admin.token"), &admin)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("census.db"))?);
    let reconcile = ReconcileConfig {
        // Demo pace: a switched-off host is "missing" after 10 s of complete sweeps, not days.
        missing_after: Duration::from_secs(10),
        seen_window: Duration::from_secs(3600),
        interval: Duration::from_secs(3),
        ..ReconcileConfig::default()
    };
    let notify = NotifyConfig { jsonl: Some(dir.join("alerts.jsonl").display().to_string()), webhooks: vec![] };
    let daemon = censusd::service::Daemon::new(store.clone(), admin_hash, 64 << 20, &reconcile, &notify);
    let state = daemon.state.clone();

    let mut lab: Option<Lab> = None;
    let register = if use_lab {
        let mut l = Lab::build(lab_hosts()).context("building the lab")?;
        if let Err(e) = l.start_dns() {
            censusd::outln!("(no lab DNS: {e}; names come only from certificates)");
        }
        censusd::outln!(
            "lab: {HOSTS} virtual hosts on 198.18.0.0/24 in network namespaces (scanner namespace {})",
            l.scanner_netns()
        );
        lab = Some(l);
        lab_register()
    } else {
        censusd::outln!(
            "no lab ({}): sweeping loopback 127.0.0.2-4 with connect() scans instead of a lab.",
            lab_ok.err().map(|e| e.to_string()).unwrap_or_default()
        );
        censusd::outln!(
            "  As root the demo builds a lab of {HOSTS} hosts and adds ARP (MACs, vendors), ICMP, SYN scans, OS guesses, names, MAC-based identity, certificates and a verified retirement."
        );
        loopback_services().await?;
        loopback_register()
    };
    let assets: Vec<_> = register
        .into_iter()
        .map(|v| asset_from_json(v).map_err(|e| anyhow::anyhow!("{e:?}")))
        .collect::<Result<_, _>>()?;
    store.import_assets(&mut |_| Some(assets.clone()), "demo", &mut censusd::store::unaudited())?;
    let (token, token_hash) = censusd::auth::new_token().map_err(anyhow::Error::msg)?;
    let agent_scope = if use_lab { "198.18.0.0/24" } else { "127.0.0.0/29" };
    store.add_agent("demo-agent", &[agent_scope.parse()?], &token_hash, &mut censusd::store::unaudited())?;
    censusd::files::write_secret(&dir.join("agent.token"), &token)?;
    // A person for the web console, with a one-time password shown below.
    let admin = censusd::people::Principal::builtin_admin();
    let (_, demo_password) =
        censusd::app::people::add(store.as_ref(), &admin, "demo", censusd::people::Role::Analyst, None, now_ms())
            .map_err(|e| anyhow::anyhow!("adding the demo person: {e}"))?;
    let people = censusd::app::directory::import(
        &state.reconciler,
        directory_csv().as_bytes(),
        censusd::register::csv::Format::Csv(Default::default()),
        false,
        &admin,
    )
    .map_err(|e| anyhow::anyhow!("importing the demo's people directory: {e}"))?;
    censusd::outln!(
        "register: {} assets imported; people directory: {} people and teams ({} left); agent `demo-agent` added",
        assets.len(),
        people.added.len(),
        people.departed.len()
    );

    // The daemon: for the agent (inside the lab's scanner namespace when there
    // is a lab) and for the user on this host's loopback.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let user_listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let (agent_listener, url) = match &lab {
        Some(l) => {
            let std_listener = l.in_scanner(|| std::net::TcpListener::bind("127.0.0.1:8440"))??;
            std_listener.set_nonblocking(true)?;
            (Some(tokio::net::TcpListener::from_std(std_listener)?), "http://127.0.0.1:8440".to_string())
        }
        None => (None, format!("http://{listen}")),
    };
    let served = match agent_listener {
        Some(al) => {
            let extra = tokio::spawn(censusd::api::serve(user_listener, state.clone(), stopped(stop_rx.clone())));
            let main = tokio::spawn(daemon.run(al, None, stopped(stop_rx.clone())));
            vec![extra, main]
        }
        None => vec![tokio::spawn(daemon.run(user_listener, None, stopped(stop_rx.clone())))],
    };
    std::fs::write(dir.join("agent.toml"), agent_config(&dir, &url, use_lab))?;
    let mut cmd = match &lab {
        Some(l) => l.scanner_command(agent_binary()),
        None => Command::new(agent_binary()),
    };
    let agent_log = std::fs::File::create(dir.join("agent.log"))?;
    let agent = cmd
        .args(["run", "--config"])
        .arg(dir.join("agent.toml"))
        .stdout(agent_log.try_clone()?)
        .stderr(agent_log)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| {
            format!("starting {} (build it: cargo build --release -p census-agent)", agent_binary().display())
        })?;
    let agent_guard = KillOnDrop(agent);
    censusd::outln!(
        "daemon: serving on {listen}; census-agent sweeping every 4 s, delivering over HTTP with its token ..."
    );

    let wanted: &[AlertKind] = if use_lab {
        &[
            AlertKind::UnknownAsset,
            AlertKind::ShouldBeRetired,
            AlertKind::Missing,
            AlertKind::CoverageGap,
            AlertKind::EndOfLifeSoftware,
            AlertKind::CertificateExpiring,
            AlertKind::OwnerDeparted,
        ]
    } else {
        &[AlertKind::UnknownAsset, AlertKind::ShouldBeRetired, AlertKind::OwnerDeparted]
    };
    let t = Instant::now();
    let alerts = loop {
        let alerts = store.alerts(&AlertFilter::default())?;
        let unknown = alerts.iter().filter(|a| a.kind == AlertKind::UnknownAsset).count();
        let have_all = wanted.iter().all(|k| alerts.iter().any(|a| a.kind == *k));
        let unknown_all = !use_lab || unknown >= UNREGISTERED.len();
        if have_all && unknown_all {
            break alerts;
        }
        if t.elapsed() > Duration::from_secs(120) {
            let log = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
            anyhow::bail!("the demo's alerts did not all appear within 2 minutes; agent log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    censusd::outln!();
    censusd::outln!("== reconciliation after {:.0} s: {} alerts", t.elapsed().as_secs_f64(), alerts.len());
    censusd::outln!();
    let mut sorted: Vec<Value> = alerts.iter().map(|a| serde_json::to_value(a).unwrap_or_default()).collect();
    let rank = |k: &str| {
        [
            "should-be-retired",
            "unknown-asset",
            "missing",
            "coverage-gap",
            "out-of-support",
            "end-of-life-software",
            "certificate-expiring",
            "owner-departed",
        ]
        .iter()
        .position(|x| *x == k)
        .unwrap_or(9)
    };
    sorted.sort_by_key(|a| (rank(a["kind"].as_str().unwrap_or("")), a["subject"].as_str().unwrap_or("").to_string()));
    for a in &sorted {
        print_alert(a);
    }
    if use_lab {
        verified_retirement(&state, &admin).await?;
    }
    let retired_ip = if use_lab { generated_host(RETIRED).ip.to_string() } else { "127.0.0.3".to_string() };
    censusd::outln!();
    censusd::outln!("== whois {retired_ip}");
    censusd::outln!();
    if let Some(w) = censusd::app::query::whois(&state.reconciler, &retired_ip, now_ms())? {
        crate::ops::print_whois(&serde_json::to_value(w)?);
    }
    let base = format!("http://{listen}");
    // Commands that run exactly as printed, from any directory and shell:
    // the binaries by their full directory, the token by its file.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let token = dir.join("admin.token");
    censusd::outln!();
    censusd::outln!(
        "Web console: {base}/ — sign in as `demo` (an analyst) with the one-time password {}",
        demo_password.as_deref().unwrap_or("(set with censusd user reset-password demo)")
    );
    censusd::outln!();
    censusd::outln!("The daemon is up. Ask it yourself, from another terminal (each line runs as printed):");
    censusd::outln!(
        "  export PATH=\"{}:$PATH\" CENSUS_URL={base} CENSUS_ADMIN_TOKEN=\"$(cat {})\"",
        bin.display(),
        token.display()
    );
    censusd::outln!("  censusd whois {}", if use_lab { "host-014.lab.census.test" } else { "127.0.0.4" });
    censusd::outln!("  censusd alerts list");
    censusd::outln!("  censusd status");
    if let Some(l) = &lab {
        // The lab's addresses are reachable only from its scanner namespace:
        // from anywhere else 198.18.0.0/24 would route out of this machine.
        censusd::outln!("  ip netns exec {} census-agent scan {agent_scope} --ports top100", l.scanner_netns());
    }
    if hold {
        censusd::outln!("Ctrl-C ends the demo{}.", if use_lab { " and removes the lab" } else { "" });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    let _ = stop_tx.send(true);
    for s in served {
        let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
    }
    drop(agent_guard);
    drop(lab);
    censusd::outln!("demo over: daemon stopped{}.", if use_lab { ", lab removed" } else { "" });
    Ok(())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
