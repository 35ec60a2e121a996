//! `census-agent`: the command-line entry point.
//!
//! Exit codes: 0 the sweep completed; 1 it failed; 2 bad arguments or
//! configuration; 3 it ran but was incomplete (a technique skipped or cut short).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use census_agent::config;
use census_agent::ports::PortSet;
use census_agent::scan::{Progress, ScanRequest};
use census_agent::sweep::options::{Limits, OptionError, SweepOptions, check_target_size};
use census_agent::targets::TargetSet;
use census_proto::{AgentId, Technique};
use clap::{Parser, Subcommand};

/// `--version`: the agent's version and the date of its MAC vendor registry.
static LONG_VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{}\n{}", env!("CARGO_PKG_VERSION"), census_agent::fingerprint::vendor::registry_summary())
});

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_INCOMPLETE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "census-agent",
    version,
    long_version = LONG_VERSION.as_str(),
    about = "Census agent: sweep a segment and report what answers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Listed under every command's `--help`.
const ENVIRONMENT: &str = "Environment:
  CENSUS_AGENT_ID     the agent's id (overrides agent.id; scan: as --agent-id)
  CENSUS_DAEMON_URL   overrides daemon.url
  CENSUS_TOKEN_FILE   overrides daemon.token_file
  RUST_LOG            log filter, e.g. census_agent=debug

Exit codes: 0 complete, 1 failed, 2 bad arguments or configuration, 3 ran but incomplete.";

/// The command line, with [`ENVIRONMENT`] under every command's `--help`.
fn parse_cli() -> Cli {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// The clap command with [`ENVIRONMENT`] under every (sub)command's help:
/// what `--help` shows and what the man pages are generated from.
fn command() -> clap::Command {
    use clap::CommandFactory;
    fn everywhere(cmd: clap::Command) -> clap::Command {
        cmd.after_help(ENVIRONMENT).mut_subcommands(everywhere)
    }
    everywhere(Cli::command())
}

#[derive(Subcommand)]
enum Command {
    /// Run as a service: sweep each configured segment on its schedule and
    /// deliver every batch to the daemon (spooled on disk until acknowledged).
    Run {
        /// The configuration file.
        #[arg(long, short = 'c', env = "CENSUS_AGENT_CONFIG", default_value = "/etc/census/agent.toml")]
        config: PathBuf,
        /// Log as JSON lines (default: plain lines without timestamps, for journald).
        #[arg(long)]
        log_json: bool,
    },
    /// Validate a configuration file and print what it would sweep.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Starter configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Write man pages and shell completions under DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// Output directory.
        dir: PathBuf,
    },
    /// Sweep targets once and print what answered.
    ///
    /// With none of --arp, --icmp, --ports: ARP, ICMP and the top 100 ports.
    /// Examples name the test-lab range 198.18.0.0/15, which exists only inside
    /// a lab's network namespaces: run them there
    /// (`ip netns exec NAMESPACE census-agent scan 198.18.0.0/24`, as root).
    /// Exit codes: 0 complete, 1 failed, 2 bad arguments, 3 incomplete.
    Scan(ScanArgs),
    /// Listen passively on an interface for a while and print who was heard:
    /// ARP announcements and DHCP clients (their host names and a DHCP
    /// fingerprint guess). Sends nothing. Needs CAP_NET_RAW; in the test lab,
    /// run it inside the lab's namespace.
    Listen(ListenArgs),
}

/// `census-agent listen`.
#[derive(clap::Args)]
struct ListenArgs {
    /// The interface to listen on (e.g. eth0).
    interface: String,
    /// How long to listen, 1-3600 seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Report only addresses inside these CIDRs (default: the interface's own IPv4 network).
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Most devices held (more are counted as dropped, never kept).
    #[arg(long, default_value_t = census_agent::passive::table::DEFAULT_CAP as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_devices: u64,
    /// DHCP signatures to add to the built-in table (`prl 1,3,6 | family | device | client`).
    #[arg(long, value_name = "FILE")]
    dhcp_signatures: Option<PathBuf>,
    /// MAC vendor overrides: `PREFIX,Name` per line (6, 7 or 9 hex digits).
    #[arg(long, value_name = "FILE")]
    oui_file: Option<PathBuf>,
    /// Print the wire model's batch as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Agent id reported in the batch.
    #[arg(long, default_value = "census-agent")]
    agent_id: String,
}

fn listen(a: ListenArgs) -> ExitCode {
    use census_agent::passive;
    let targets: Vec<ipnet::IpNet> = if a.targets.is_empty() {
        census_agent::io::interfaces()
            .into_iter()
            .filter(|i| i.name == a.interface)
            .filter_map(|i| ipnet::Ipv4Net::new(i.ip, i.prefix).ok().map(|n| ipnet::IpNet::V4(n.trunc())))
            .collect()
    } else {
        match a
            .targets
            .iter()
            .map(|t| t.trim().parse::<ipnet::IpNet>().map(|n| n.trunc()))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(t) => t,
            Err(_) => return usage_error(format!("--targets: `{}` is not a list of CIDRs", a.targets.join(","))),
        }
    };
    if targets.is_empty() {
        return usage_error(format!("`{}` has no IPv4 network to report on: give --targets CIDR", a.interface));
    }
    let sigs = match &a.dhcp_signatures {
        None => census_agent::fingerprint::dhcp::DhcpSignatures::default(),
        Some(f) => match census_proto::config::read_operator_file(f, census_proto::config::MAX_CONFIG_FILE)
            .and_then(|t| census_agent::fingerprint::dhcp::parse_signatures(&t))
        {
            Ok(s) => s,
            Err(e) => return usage_error(format!("--dhcp-signatures {}: {e}", f.display())),
        },
    };
    let vendors = match &a.oui_file {
        None => census_agent::fingerprint::vendor::VendorTable::registry(),
        Some(f) => match census_agent::fingerprint::vendor::VendorTable::load(f) {
            Ok(t) => t,
            Err(e) => return usage_error(format!("--oui-file {e}")),
        },
    };
    let mut capture = match passive::capture::Capture::open(&a.interface, passive::capture::Filter::Passive) {
        Ok(c) => c,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (passive listening needs CAP_NET_RAW)"
            } else {
                ""
            };
            eprintln!("census-agent: cannot listen on {}: {e}{hint}", a.interface);
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut table = passive::table::Neighbours::new(usize::try_from(a.max_devices).unwrap_or(1), targets.clone());
    let started = time::OffsetDateTime::now_utc();
    let until = std::time::Instant::now() + Duration::from_secs(a.seconds);
    if let Err(e) = passive::listen(&mut capture, &mut table, until) {
        eprintln!("census-agent: listening on {}: {e}", a.interface);
        return ExitCode::from(EXIT_FAILED);
    }
    let (frames, dropped) = (table.frames, table.dropped);
    let hosts = passive::observations(&table.take(), &sigs, &vendors);
    let batch = passive::batch(
        &AgentId(a.agent_id.clone()),
        &a.interface,
        &targets,
        hosts,
        (started, time::OffsetDateTime::now_utc()),
        frames,
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&batch).unwrap_or_default());
    } else {
        print!("{}", census_agent::output::table(&batch));
    }
    // The process's peak resident memory, for the flood test and for people sizing a sensor.
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        .unwrap_or(0);
    eprintln!(
        "census-agent: listened {}s on {}: {frames} frames, {} devices heard at {} addresses, {dropped} frames of \
         devices over the table's {} dropped, peak RSS {} KiB",
        a.seconds,
        a.interface,
        batch
            .hosts
            .iter()
            .filter_map(|h| h.mac.as_ref().map(|m| m.address))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        batch.hosts.iter().map(|h| h.ip).collect::<std::collections::BTreeSet<_>>().len(),
        a.max_devices,
        peak_kib
    );
    ExitCode::SUCCESS
}

/// `census-agent config ...`.
#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a commented starter configuration (the one the packages ship);
    /// `check-config` accepts it: `census-agent config example > /etc/census/agent.toml`.
    Example,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// CIDRs (198.18.0.0/24), ranges (198.18.0.10-198.18.0.50) or addresses.
    #[arg(required = true)]
    targets: Vec<String>,
    /// ARP sweep only (on-link addresses). ARP also runs with --icmp or --ports
    /// whenever targets are on-link (for their MACs), unless --no-arp.
    #[arg(long, conflicts_with = "no_arp")]
    arp: bool,
    /// Never ARP (no MACs, vendors or address conflicts).
    #[arg(long)]
    no_arp: bool,
    /// ICMP echo sweep.
    #[arg(long)]
    icmp: bool,
    /// TCP ports: top100, top1000, lists and ranges ("22,80,8000-8100").
    #[arg(long, value_name = "SPEC")]
    ports: Option<String>,
    /// Packets per second, all techniques together.
    #[arg(long, value_name = "PPS", default_value_t = 5000)]
    rate: u32,
    /// Probes awaiting an answer at once.
    #[arg(long, default_value_t = 1024)]
    max_in_flight: u32,
    /// Never probe these (repeatable; CIDR, range or address).
    #[arg(long, value_name = "CIDR")]
    exclude: Vec<String>,
    /// Interface to sweep from (default: from the routing table).
    #[arg(long, short = 'i')]
    interface: Option<String>,
    /// Wait this long for answers in the last round, in milliseconds
    /// (default: by the segment's round trips, at most 500).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Extra tries for silent addresses, 0 to 10.
    #[arg(long, default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(0..=i64::from(census_agent::sweep::options::MAX_RETRIES)))]
    retries: u8,
    /// Use connect() for ports even with CAP_NET_RAW.
    #[arg(long)]
    connect: bool,
    /// List closed ports too.
    #[arg(long)]
    show_closed: bool,
    /// DNS server for reverse lookups (repeatable; default: the system's).
    #[arg(long, value_name = "IP")]
    dns_server: Vec<std::net::IpAddr>,
    /// Name sources to ask: comma-separated ptr, mdns, netbios.
    #[arg(long, value_name = "LIST", default_value = "ptr,mdns,netbios", conflicts_with = "no_names")]
    name_sources: census_agent::names::NameSources,
    /// Do not look names up.
    #[arg(long)]
    no_names: bool,
    /// Do not probe open ports for banners, web pages and certificates.
    #[arg(long)]
    no_services: bool,
    /// Allow targets larger than a /16.
    #[arg(long)]
    allow_large: bool,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    max_seconds: u64,
    /// Print the wire model's batch as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Print where the time went (each step, and each round's sending,
    /// waiting and answers) on standard error.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// MAC vendor overrides: `PREFIX,Name` per line (6, 7 or 9 hex digits).
    #[arg(long, value_name = "FILE")]
    oui_file: Option<PathBuf>,
    /// Agent id reported in the batch.
    #[arg(long, env = "CENSUS_AGENT_ID", default_value = "census-agent")]
    agent_id: String,
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("census-agent: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn build_request(a: &ScanArgs) -> Result<ScanRequest, String> {
    let vendors = match &a.oui_file {
        Some(f) => census_agent::fingerprint::vendor::VendorTable::load(f).map_err(|e| format!("--oui-file {e}"))?,
        None => census_agent::fingerprint::vendor::VendorTable::registry(),
    };
    let targets = TargetSet::parse(&a.targets, &a.exclude)?;
    let mut techniques = Vec::new();
    // ARP is cheap and the only source of MACs: it comes with every sweep
    // unless refused (off-link targets mark it not applicable, not incomplete).
    // Added to --icmp or --ports only where it can run (raw sockets): without
    // them it would be skipped and make the sweep incomplete for nothing asked.
    let everything = !a.arp && !a.icmp && a.ports.is_none();
    if a.arp || (!a.no_arp && (everything || census_agent::io::Privileges::detect().raw)) {
        techniques.push(Technique::Arp);
    }
    if a.icmp {
        techniques.push(Technique::Icmp);
    }
    if a.ports.is_some() {
        techniques.push(Technique::Tcp);
    }
    if everything {
        techniques.extend([Technique::Icmp, Technique::Tcp]);
    }
    let ports = PortSet::parse(a.ports.as_deref().unwrap_or("top100")).map_err(|e| format!("--ports: {e}"))?;
    let rate = std::num::NonZeroU32::new(a.rate).ok_or("--rate must be at least 1")?;
    let max_in_flight = std::num::NonZeroU32::new(a.max_in_flight).ok_or("--max-in-flight must be at least 1")?;
    let sweep =
        SweepOptions::new(a.timeout_ms.map(Duration::from_millis), a.retries, Duration::from_secs(a.max_seconds))
            .map_err(|e| {
                let flag = match e {
                    OptionError::ProbeTimeout => "--timeout-ms",
                    OptionError::Retries => "--retries",
                    OptionError::MaxDuration => "--max-seconds",
                };
                format!("{flag} must be {}", e.allowed())
            })?;
    let limits = Limits { rate, max_in_flight, allow_large_targets: a.allow_large, ..Limits::default() };
    check_target_size(&targets, &limits)?;
    Ok(ScanRequest {
        vendors: Arc::new(vendors),
        segment: "cli".into(),
        targets,
        target_specs: a.targets.clone(),
        exclude_specs: a.exclude.clone(),
        techniques,
        ports,
        interface: a.interface.clone(),
        limits,
        sweep,
        force_connect: a.connect,
        report_closed: a.show_closed,
        identify_services: !a.no_services && (a.ports.is_some() || (!a.arp && !a.icmp)),
        names: (!a.no_names)
            .then(|| census_agent::names::NameLookup { sources: a.name_sources, dns_servers: a.dns_server.clone() }),
    })
}

fn scan(a: ScanArgs) -> ExitCode {
    let req = match build_request(&a) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let interfaces = census_agent::io::interfaces();
    let on_link = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => interfaces.iter().any(|i| i.on_link(v4)),
        std::net::IpAddr::V6(v6) => census_agent::io::on_link_v6(v6),
    };
    if let Some(w) = census_agent::targets::lab_leak_warning(&req.targets, on_link) {
        eprintln!("census-agent: warning: {w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("census-agent: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let progress = Arc::new(Progress::default());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let agent = AgentId(a.agent_id.clone());
    let started = std::time::Instant::now();
    let result = runtime.block_on(async {
        let ticker = bar.clone().map(|bar| {
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    let phase = progress.phase.lock().map(|p| p.clone()).unwrap_or_default();
                    let sent = progress.sent.load(std::sync::atomic::Ordering::Relaxed);
                    bar.set_message(format!("{phase}: {sent} probes sent"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        });
        let r = census_agent::scan::scan(&req, &agent, &progress).await;
        if let Some(t) = ticker {
            t.abort();
        }
        r
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if a.verbose {
        eprint!("{}", census_agent::scan::timing::report(&progress.steps(), started.elapsed()));
    }
    match result {
        Err(census_agent::scan::ScanError::Refused(e)) => usage_error(e),
        Err(e) => {
            eprintln!("census-agent: {e}");
            ExitCode::from(EXIT_FAILED)
        }
        Ok(batch) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&batch).unwrap_or_default());
            } else {
                print!("{}", census_agent::output::table(&batch));
            }
            if batch.completeness.complete { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCOMPLETE) }
        }
    }
}

/// The log filter: `RUST_LOG` as `target=level` directives (`info`,
/// `censusd=debug,warn`), else `default`. A value that does not parse is
/// reported on stderr and the default used. (Per-target directives only:
/// tracing-subscriber's `EnvFilter` adds span and field matching through a
/// regex engine, which cost the first build ~20 s of compiling for nothing
/// this program logs.)
fn log_filter(default: &str) -> tracing_subscriber::filter::Targets {
    let fallback = || default.parse().unwrap_or_default();
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v.parse().unwrap_or_else(|e| {
            eprintln!("{}: RUST_LOG={v:?} ignored ({e}); logging at {default}", env!("CARGO_BIN_NAME"));
            fallback()
        }),
        _ => fallback(),
    }
}

/// Service mode: logs to stdout for journald (no timestamps, no colour), or JSON.
fn run(config: PathBuf, log_json: bool) -> ExitCode {
    use tracing_subscriber::prelude::*;
    let filter = log_filter("info");
    // The builder's own level filter is INFO unless told otherwise; `filter` decides.
    let b = tracing_subscriber::fmt()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(std::io::stdout)
        .with_ansi(false);
    if log_json {
        b.json().finish().with(filter).init()
    } else {
        b.without_time().finish().with(filter).init()
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("census-agent: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(census_agent::service::run(config));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(census_agent::service::ServiceError::Config(e)) => {
            tracing::error!(error = %e, "configuration error");
            eprintln!("census-agent: configuration error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot run");
            eprintln!("census-agent: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Write man pages (one per command) under `dir/man` and bash, zsh and fish
/// completions under `dir/completions`, from the clap definitions (what the
/// .deb packages ship).
fn generate_docs(dir: &std::path::Path, bin: &str, cmd: clap::Command) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    clap_mangen::generate_to(cmd.clone(), &man)?;
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), bin, &completions)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    // The spool and state hold what the network looks like: private, whatever the caller's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = parse_cli();
    if let Command::Run { config, log_json } = cli.command {
        return run(config, log_json);
    }
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::fmt()
            .with_max_level(tracing::level_filters::LevelFilter::TRACE)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .without_time()
            .finish()
            .with(log_filter("warn"))
            .init();
    }
    match cli.command {
        Command::Run { .. } => unreachable!("handled above"),
        Command::GenerateDocs { dir } => match generate_docs(&dir, "census-agent", command()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("census-agent: writing docs under {}: {e}", dir.display());
                ExitCode::from(EXIT_FAILED)
            }
        },
        Command::Config(ConfigCmd::Example) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ =
                std::io::Write::write_all(&mut std::io::stdout(), include_str!("../../config/agent.toml").as_bytes());
            ExitCode::SUCCESS
        }
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(cfg) => {
                println!("{}: ok (agent `{}`)", file.display(), cfg.agent_id);
                if let Some(d) = cfg.daemon.as_ref().filter(|d| std::fs::symlink_metadata(&d.token_file).is_err()) {
                    println!("  note: the token file {} does not exist yet; `run` needs it", d.token_file.display());
                }
                for s in &cfg.segments {
                    let techniques: Vec<&str> = s.techniques.iter().map(|t| t.as_str()).collect();
                    // Networks too wide to sweep (a /64) are discovered on-link, not counted.
                    let swept = s.targets.swept_and_found(std::iter::empty()).count();
                    let all = s.targets.targets().iter().map(|t| t.len()).fold(0u128, u128::saturating_add);
                    let wide = s.targets.swept_size() < all;
                    println!(
                        "  segment `{}`: {} addresses{}, techniques {}, {} ports, every {}s{}",
                        s.name,
                        swept,
                        if wide { " swept and IPv6 networks discovered on-link" } else { "" },
                        techniques.join("+"),
                        s.ports.len(),
                        s.interval.as_secs(),
                        if s.passive { ", and listening passively" } else { "" }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("census-agent: configuration error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Scan(a) => scan(a),
        Command::Listen(a) => listen(a),
    }
}
