//! `censusd`: the command-line entry point.
//!
//! `serve` runs the daemon; `check-config` validates a file; the other
//! subcommands are the operator CLI, talking to a running daemon's API.
//! Exit codes: 0 success, 1 failure, 2 bad arguments or configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[cfg(feature = "demo")]
mod demo;
mod directory_ops;
mod licence_ops;
mod ops;
mod people_ops;
mod retirement_ops;
mod source_ops;
mod sync_ops;

use anyhow::Context;
use censusd::api;
use censusd::client::{Client, seg, url_from_config};
use censusd::config::{self, DaemonConfig};
use censusd::outln;
use clap::{Parser, Subcommand};
use reqwest::Method;

/// mimalloc instead of glibc's allocator: reconciliation makes and drops
/// many small strings and maps per sighting, and glibc's per-thread arenas
/// kept the daemon's resident memory far above what it uses (measured in
/// `cargo bench -p censusd --bench ingest`, bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_FAILED: u8 = 1;
const EXIT_CONFIG: u8 = 2;

/// The command line, with [`ENVIRONMENT`] under every command's `--help`
/// (clap gives a top-level `after_help` to the top level only).
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

/// Listed under every command's `--help`.
const ENVIRONMENT: &str = "Environment:
  CENSUS_URL                daemon URL for operator commands (as --url)
  CENSUS_TOKEN              a personal API token for operator commands (`censusd token create`): actions are recorded under your name
  CENSUS_ADMIN_TOKEN        the admin token (else read from the configuration's admin_token_file): the built-in admin
  CENSUSD_CONFIG            configuration file (as --config)
  CENSUSD_LISTEN            overrides server.listen
  CENSUSD_DATABASE          overrides store.database (a SQLite file)
  CENSUSD_STORE_URL         overrides store.url (a PostgreSQL URL; wins over CENSUSD_DATABASE)
  CENSUSD_ADMIN_TOKEN_FILE  overrides auth.admin_token_file
  CENSUSD_METRICS_LISTEN    overrides metrics.listen
  RUST_LOG                  log filter, e.g. censusd=debug

Exit codes: 0 success, 1 failure, 2 bad arguments or configuration.";

#[derive(Parser)]
#[command(
    name = "censusd",
    version,
    about = "Census daemon: managed register, ingest, reconciliation and alerts",
    after_help = ENVIRONMENT
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, env = "CENSUSD_CONFIG", default_value = "/etc/census/daemon.toml")]
    config: PathBuf,
    /// Daemon URL for operator commands (default: from the configuration's listen address).
    #[arg(long, global = true, env = "CENSUS_URL")]
    url: Option<String>,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

/// `censusd config ...`.
#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a commented starter configuration (the one the packages ship);
    /// `check-config` accepts it: `censusd config example > /etc/census/daemon.toml`.
    Example,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file.
    CheckConfig {
        /// The configuration file (default: --config).
        file: Option<PathBuf>,
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
    /// Run the daemon.
    Serve,
    /// Copy the database (the configuration's `[store] database`) to FILE
    /// while the daemon runs: one consistent snapshot, checked (integrity
    /// and every table's row count) before it is put in place; FILE must
    /// not exist. To restore: stop censusd, put the copy at the database's
    /// path (removing its -wal and -shm files), start censusd.
    Backup {
        /// The new file.
        file: PathBuf,
    },
    /// Copy a SQLite store whole into an empty PostgreSQL database and
    /// verify every table's row count (docs/postgresql.md). Stop censusd
    /// first; then point `[store] url` at the target.
    MigrateStore {
        /// The SQLite store: `sqlite:PATH`.
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
        /// The PostgreSQL database: `postgres://USER@HOST/DATABASE` (or `?host=/socket/dir`).
        #[arg(long, value_name = "postgres://…")]
        to: String,
    },
    /// The whole product on throwaway data: a lab segment (as root; loopback
    /// otherwise), a register, the daemon and an agent, and the alerts.
    /// Built only with the `demo` feature (on by default; the packaged daemon
    /// is built without it, so it does not link the test lab).
    #[cfg(feature = "demo")]
    Demo {
        /// Where the demo daemon listens for your questions.
        #[arg(long, default_value = "127.0.0.1:8440")]
        listen: std::net::SocketAddr,
        /// Exit after printing the reconciliation instead of staying up.
        #[arg(long)]
        exit: bool,
        /// Sweep loopback addresses with connect() scans even as root (no lab).
        #[arg(long)]
        loopback: bool,
    },
    /// Manage agents.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Manage the register.
    #[command(subcommand)]
    Register(RegisterCmd),
    /// Import another tool's findings as observations.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Search the register (the console's and the API's syntax).
    #[command(subcommand)]
    Assets(ops::AssetsCmd),
    /// Show what agents saw at an address, and what changed there.
    Host {
        /// The address.
        ip: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What is this host, who owns it, what is licensed on it, should it exist?
    Whois {
        /// An IP address, a MAC, an asset tag or a host name.
        query: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The daemon at a glance: live alerts by kind, each agent's sweeps, the notification backlog.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Alerts and their lifecycle.
    #[command(subcommand)]
    Alerts(ops::AlertCmd),
    /// Suppression rules.
    #[command(subcommand)]
    Suppress(ops::SuppressCmd),
    /// Write the reconciliation report (every asset's status and evidence).
    Report {
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// The retirement report instead: every decommissioned and disposed
        /// asset's checklist with evidence and dates (--format json for JSON).
        #[arg(long, conflicts_with = "deployments")]
        retirements: bool,
        /// The deployment-incomplete view instead: deployed assets lacking an
        /// active owner, an expected service or a presence on the network.
        #[arg(long)]
        deployments: bool,
        /// Write here instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// The certificate inventory: every TLS certificate the latest sweeps saw
    /// served, where, by which asset; --weak for the weak-key report.
    Certificates {
        /// Only certificates with a weak key or signature (RSA under 2048 bits, DSA, SHA-1, MD5).
        #[arg(long)]
        weak: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a full reconcile now.
    Reconcile,
    /// Manage people and their roles (admin).
    #[command(subcommand)]
    User(people_ops::UserCmd),
    /// The people directory: who owns assets, and who has left (HR file or LDAP).
    #[command(subcommand)]
    People(directory_ops::PeopleCmd),
    /// Verified retirement: a retired asset's checklist, wipe attestations.
    #[command(subcommand)]
    Retirement(retirement_ops::RetirementCmd),
    /// Licence entitlements and the licence report (seats against use).
    #[command(subcommand)]
    Licences(licence_ops::LicencesCmd),
    /// Coverage sources: other tools' inventories (EDR, MDM, directory)
    /// checked against the register.
    #[command(subcommand)]
    Source(source_ops::SourceCmd),
    /// Register sync with Snipe-IT or NetBox, as `[sync.*]` configures it:
    /// a plan, applied unless --dry-run; never deletes.
    Sync(sync_ops::SyncArgs),
    /// Manage personal API tokens and sign-in sessions (admin).
    #[command(subcommand)]
    Token(people_ops::TokenCmd),
    /// Read the audit log: who changed what, when (admin).
    Audit(people_ops::AuditArgs),
}

#[derive(Subcommand)]
enum AgentCmd {
    /// Add an agent; its token is printed once.
    Add {
        /// Name (the agent's `agent.id`).
        name: String,
        /// Segments its observations must fall in (repeatable).
        #[arg(long = "segment", required = true)]
        segments: Vec<String>,
    },
    /// Revoke an agent's token.
    Revoke {
        /// Name.
        name: String,
    },
    /// Give an agent a new token (printed once); revoked agents too.
    Rotate {
        /// Name.
        name: String,
        /// How long the current token keeps working beside the new one, e.g. 1h (default: not at all).
        #[arg(long)]
        overlap: Option<String>,
    },
    /// List agents with their segments and last sweeps.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// An nmap XML report (`nmap -oX FILE`), as a batch of observations of
    /// SEGMENT: stored and reconciled like an agent's sweep. It counts as a
    /// complete sweep only when nmap finished and its command line's targets
    /// cover the whole segment; otherwise its hosts are recorded but nothing
    /// becomes missing because of it. Importing the same report again stores
    /// nothing. A cut-short or malformed report is refused whole.
    Nmap {
        /// The report.
        file: PathBuf,
        /// The segment it is about (a CIDR).
        #[arg(long)]
        segment: String,
        /// Deliver it as this agent (default `nmap`; created with the segment if absent).
        #[arg(long)]
        agent: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegisterCmd {
    /// Import a CSV or JSON register file (all-or-nothing).
    Import {
        /// The file (format from its extension unless --format).
        file: PathBuf,
        /// csv or json.
        #[arg(long)]
        format: Option<String>,
        /// Print what would be added, changed (field by field) and retired; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Each row is the whole asset: columns the file leaves out are reset
        /// (by default an import only changes the columns it names).
        #[arg(long)]
        replace: bool,
        /// An empty cell clears its field (by default empty cells are left as they are).
        #[arg(long)]
        clear_empty: bool,
        /// CSV field delimiter, e.g. ';' for a spreadsheet export in a European locale.
        #[arg(long, default_value = ",")]
        delimiter: String,
    },
    /// Export the register.
    Export {
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// CSV field delimiter, e.g. ';' so a spreadsheet in a European locale opens it in columns.
        #[arg(long, default_value = ",")]
        delimiter: String,
        /// Write here instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

/// Print an import plan: what is added, changed field by field, retired.
/// Print a register plan (an import's or a sync's), `verb` first.
fn print_plan(p: &serde_json::Value, verb: &str, clear_empty: bool) {
    let n = |k: &str| p[k].as_array().map_or(0, Vec::len);
    outln!(
        "{verb}: {} added, {} changed, {} retired, {} unchanged",
        n("added"),
        n("changed"),
        n("retired"),
        p["unchanged"]
    );
    for t in p["added"].as_array().into_iter().flatten() {
        outln!("  + {}", t.as_str().unwrap_or_default());
    }
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "(empty)".to_string(),
        serde_json::Value::String(s) if s.is_empty() => "(empty)".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for ch in p["changed"].as_array().into_iter().flatten() {
        let retired = p["retired"].as_array().is_some_and(|r| r.contains(&ch["tag"]));
        outln!("  ~ {}{}", ch["tag"].as_str().unwrap_or_default(), if retired { " (retired)" } else { "" });
        for f in ch["changes"].as_array().into_iter().flatten() {
            outln!(
                "      {}: {} -> {}",
                f["field"].as_str().unwrap_or_default(),
                show(&f["before"]),
                show(&f["after"])
            );
        }
    }
    let kept = p["kept_empty"].as_u64().unwrap_or(0);
    if kept > 0 && !clear_empty {
        outln!("  {kept} empty cell(s) left as they are; --clear-empty clears a field whose cell is empty");
    }
}

fn load_config(path: &Path) -> Result<DaemonConfig, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("censusd: configuration error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn init_logging(json: bool) {
    init_logging_with(json, "info");
}

fn init_logging_with(json: bool, default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let filter = log_filter(default);
    // The builder's own level filter is INFO unless told otherwise; `filter` decides.
    let b = tracing_subscriber::fmt()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json { b.json().finish().with(filter).init() } else { b.without_time().finish().with(filter).init() }
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

/// Read the admin token, creating it (mode 0600, in a 0700 directory) on first start.
fn admin_token(path: &Path) -> anyhow::Result<String> {
    if let Err(e) = std::fs::symlink_metadata(path)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        let (token, _) = censusd::auth::new_token().map_err(anyhow::Error::msg)?;
        censusd::files::write_secret(path, &format!("{token}\n"))
            .with_context(|| format!("creating {}", path.display()))?;
        tracing::warn!(path = %path.display(), "created a new admin token");
        return Ok(token);
    }
    // A regular file of at most a few bytes: a pipe or a device would hang the start.
    let t = census_proto::config::read_operator_file(path, census_proto::config::MAX_SECRET_FILE)
        .map_err(|e| anyhow::anyhow!("the admin token {} {e}", path.display()))?;
    if t.trim().is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    censusd::files::make_private(path).with_context(|| format!("making {} private", path.display()))?;
    Ok(t.trim().to_string())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// `censusd backup FILE`.
fn backup(db: &Path, file: &Path) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let r = censusd::store::backup::to_file(db, file)
        .with_context(|| format!("backing up {} to {}", db.display(), file.display()))?;
    let rows: i64 = r.tables.iter().map(|(_, n)| n).sum();
    let of = |t: &str| r.tables.iter().find(|(n, _)| n == t).map_or(0, |(_, n)| *n);
    outln!(
        "backed up {} to {} in {:.1} s: {:.1} MB, {} tables, {rows} rows ({} assets, {} alerts, {} observations, {} audit records); integrity and row counts checked",
        censusd::output::clean(&db.display().to_string()),
        censusd::output::clean(&file.display().to_string()),
        t.elapsed().as_secs_f64(),
        r.bytes as f64 / 1e6,
        r.tables.len(),
        of("assets"),
        of("alerts"),
        of("observations"),
        of("audit")
    );
    Ok(())
}

/// `migrate-store`'s arguments checked before anything is opened: the
/// SQLite store's path, or what is wrong (a usage error, exit code 2).
fn migrate_args<'a>(from: &'a str, to: &str) -> Result<&'a str, String> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        return Err(format!(
            "--from: expected sqlite:PATH (the SQLite store to copy), found `{}`",
            censusd::output::clean(from)
        ));
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        // Not echoed: a URL that does not parse may hide a password where redaction cannot find it.
        return Err("--to: expected a postgres:// (or postgresql://) URL".into());
    }
    censusd::store::check_postgres_url(to).map_err(|e| format!("--to: {e}"))?;
    Ok(path)
}

fn migrate_store(path: &str, to: &str) -> anyhow::Result<()> {
    let target = censusd::store::StoreLocation::Postgres(to.to_string());
    let r = censusd::store::migrate::sqlite_to_postgres(Path::new(path), to)
        .with_context(|| format!("copying {} to {target}", censusd::output::clean(path)))?;
    let rows: i64 = r.tables.iter().map(|(_, n)| n).sum();
    let of = |t: &str| r.tables.iter().find(|(n, _)| n == t).map_or(0, |(_, n)| *n);
    outln!(
        "copied {} to {target} in {:.1} s: {} tables, {rows} rows ({} assets, {} alerts, {} observations, {} audit records); every table's row count checked",
        censusd::output::clean(path),
        r.seconds,
        r.tables.len(),
        of("assets"),
        of("alerts"),
        of("observations"),
        of("audit")
    );
    outln!("next: set `[store] url` to the target in the daemon's configuration and start censusd");
    Ok(())
}

async fn serve(cfg: DaemonConfig) -> anyhow::Result<()> {
    censusd::client::install_crypto();
    let token = admin_token(&cfg.admin_token_file)?;
    let store = censusd::store::open_sized(&cfg.store, cfg.store_connections)
        .with_context(|| format!("opening the store {}", cfg.store))?;
    let mut daemon = censusd::service::Daemon::new(
        store,
        censusd::auth::hash_token(&token),
        cfg.max_body_bytes,
        &cfg.reconcile,
        &cfg.notify,
    );
    daemon.retention = cfg.retention;
    daemon.state.ldap = cfg.ldap.clone().map(Arc::new);
    daemon.state.sync = Arc::new(cfg.sync.clone());
    for s in [cfg.sync.snipeit.as_ref(), cfg.sync.netbox.as_ref()].into_iter().flatten().filter(|s| !s.tls_verify) {
        tracing::warn!(system = s.system.as_str(), url = %s.url, "register sync with TLS verification off (tls_verify = false)");
    }
    if let Some(addr) = cfg.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for metrics scrapes on {addr} (metrics.listen)"))?;
        tracing::info!(listen = %addr, "serving Prometheus metrics at /metrics");
        daemon.metrics = Some(l);
    }
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("listening on {}", cfg.listen))?;
    tracing::info!(listen = %cfg.listen, https = cfg.tls.is_some(), store = %cfg.store, "censusd serving");
    let tls = match &cfg.tls {
        Some(t) => Some(api::load_tls(&t.cert, &t.key).map_err(anyhow::Error::msg)?),
        None => None,
    };
    daemon.run(listener, tls, shutdown_signal()).await?;
    Ok(())
}

fn client(cli: &Cli) -> anyhow::Result<Client> {
    let cfg = config::load(&cli.config).ok();
    let url = match (&cli.url, &cfg) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => url_from_config(c),
        (None, None) => {
            anyhow::bail!("no daemon URL: pass --url, set CENSUS_URL, or point --config at the daemon's configuration")
        }
    };
    let personal = std::env::var("CENSUS_TOKEN").ok().filter(|t| !t.trim().is_empty());
    let token = match (personal.or_else(|| std::env::var("CENSUS_ADMIN_TOKEN").ok()), &cfg) {
        (Some(t), _) => t,
        (None, Some(c)) => {
            census_proto::config::read_operator_file(&c.admin_token_file, census_proto::config::MAX_SECRET_FILE)
                .map_err(|e| anyhow::anyhow!("the admin token {} {e}", c.admin_token_file.display()))?
        }
        (None, None) => {
            anyhow::bail!(
                "no token: set CENSUS_TOKEN (yours) or CENSUS_ADMIN_TOKEN, or point --config at the daemon's configuration"
            )
        }
    };
    Client::new(&url, &token, None)
}

async fn operator(cli: &Cli) -> anyhow::Result<()> {
    let c = client(cli)?;
    match &cli.command {
        Command::Agent(AgentCmd::Add { name, segments }) => {
            let body = serde_json::to_vec(&serde_json::json!({ "name": name, "segments": segments }))?;
            let (_, out) = c.call(Method::POST, "/api/v1/agents", Some((body, "application/json"))).await?;
            let v: serde_json::Value = serde_json::from_slice(&out)?;
            eprintln!("agent `{name}` added; its token (shown only now; put it in the agent's token_file):");
            outln!("{}", v["token"].as_str().unwrap_or_default());
        }
        Command::Agent(AgentCmd::Revoke { name }) => {
            c.call(Method::DELETE, &format!("/api/v1/agents/{}", seg(name)), None).await?;
            outln!("agent `{name}` revoked");
        }
        Command::Agent(AgentCmd::List { json }) => ops::status(&c, *json, true).await?,
        Command::Agent(AgentCmd::Rotate { name, overlap }) => {
            let body = serde_json::to_vec(&serde_json::json!({ "overlap": overlap }))?;
            let (_, out) = c
                .call(Method::POST, &format!("/api/v1/agents/{}/rotate", seg(name)), Some((body, "application/json")))
                .await?;
            let v: serde_json::Value = serde_json::from_slice(&out)?;
            eprintln!(
                "agent `{name}` has a new token (shown only now; replace the agent's token_file and reload it){}:",
                overlap.as_ref().map(|o| format!("; the old one works for {o} more")).unwrap_or_default()
            );
            outln!("{}", v["token"].as_str().unwrap_or_default());
        }
        Command::Register(RegisterCmd::Import { file, format, dry_run, replace, clear_empty, delimiter }) => {
            let format = format.clone().unwrap_or_else(|| {
                if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                    "json".into()
                } else {
                    "csv".into()
                }
            });
            let bytes = census_proto::config::read_operator_bytes(file, census_proto::config::MAX_IMPORT_FILE)
                .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
            let ct = if format == "json" { "application/json" } else { "text/csv" };
            let path = format!(
                "/api/v1/register/import?format={}&dry_run={dry_run}&replace={replace}&clear_empty={clear_empty}&delimiter={}",
                seg(&format),
                seg(delimiter)
            );
            let (_, out) = c.call(Method::POST, &path, Some((bytes, ct))).await?;
            print_plan(
                &serde_json::from_slice(&out)?,
                if *dry_run { "would import" } else { "imported" },
                *clear_empty,
            );
        }
        Command::Import(ImportCmd::Nmap { file, segment, agent, json }) => {
            let bytes = census_proto::config::read_operator_bytes(file, census_proto::config::MAX_IMPORT_FILE)
                .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
            let mut path = format!("/api/v1/imports/nmap?segment={}", seg(segment));
            if let Some(a) = agent {
                path.push_str(&format!("&agent={}", seg(a)));
            }
            let (_, out) = c.call(Method::POST, &path, Some((bytes, "application/xml"))).await?;
            if *json {
                censusd::output::raw(&out);
            } else {
                ops::print_nmap_import(&serde_json::from_slice(&out)?);
            }
        }
        Command::Register(RegisterCmd::Export { format, delimiter, output }) => {
            let path = format!("/api/v1/register/export?format={}&delimiter={}", seg(format), seg(delimiter));
            let (_, out) = c.call(Method::GET, &path, None).await?;
            match output {
                Some(p) => censusd::files::write_export(p, &out).with_context(|| format!("writing {}", p.display()))?,
                None => censusd::output::raw(&out),
            }
        }
        Command::Assets(cmd) => ops::assets(&c, cmd).await?,
        Command::Host { ip, json } => ops::host(&c, ip, *json).await?,
        Command::Status { json } => ops::status(&c, *json, false).await?,
        Command::Whois { query, json } => ops::whois(&c, query, *json).await?,
        Command::Alerts(cmd) => ops::alerts(&c, cmd).await?,
        Command::Suppress(cmd) => ops::suppress(&c, cmd).await?,
        Command::Report { retirements: true, format, .. } => retirement_ops::report(&c, format == "json").await?,
        Command::Report { deployments: true, format, .. } => retirement_ops::deployments(&c, format == "json").await?,
        Command::Report { format, output, .. } => ops::report(&c, format, output.as_ref()).await?,
        Command::Reconcile => ops::reconcile(&c).await?,
        Command::Certificates { weak, json } => ops::certificates(&c, *weak, *json).await?,
        Command::User(cmd) => people_ops::user(&c, cmd).await?,
        Command::People(cmd) => directory_ops::people(&c, cmd).await?,
        Command::Licences(cmd) => licence_ops::licences(&c, cmd).await?,
        Command::Source(cmd) => source_ops::source(&c, cmd).await?,
        Command::Sync(a) => sync_ops::sync(&c, a).await?,
        Command::Retirement(cmd) => retirement_ops::retirement(&c, cmd).await?,
        Command::Token(cmd) => people_ops::token(&c, cmd).await?,
        Command::Audit(a) => people_ops::audit(&c, a).await?,
        Command::CheckConfig { .. }
        | Command::Config(_)
        | Command::GenerateDocs { .. }
        | Command::Serve
        | Command::Backup { .. }
        | Command::MigrateStore { .. } => {
            unreachable!("handled in main")
        }
        #[cfg(feature = "demo")]
        Command::Demo { .. } => unreachable!("handled in main"),
    }
    Ok(())
}

/// Write man pages (one per command) under `dir/man` and bash, zsh and fish
/// completions under `dir/completions`, from the clap definitions (what the
/// .deb packages ship).
fn generate_docs(dir: &Path, bin: &str, cmd: clap::Command) -> std::io::Result<()> {
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

fn is_demo(command: &Command) -> bool {
    #[cfg(feature = "demo")]
    if matches!(command, Command::Demo { .. }) {
        return true;
    }
    let _ = command;
    false
}

fn main() -> ExitCode {
    // Whatever the caller's umask: what censusd creates (database, WAL, tokens, exports) is private.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = parse_cli();
    if is_demo(&cli.command) && std::env::var_os("RUST_LOG").is_none() {
        // The demo prints its own story; the daemon's info lines would drown it.
        init_logging_with(cli.log_json, "warn");
    } else {
        init_logging(cli.log_json);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("censusd: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = match &cli.command {
        Command::Config(ConfigCmd::Example) => {
            censusd::output::raw(include_str!("../../config/daemon.toml").as_bytes());
            return ExitCode::SUCCESS;
        }
        Command::GenerateDocs { dir } => {
            return match generate_docs(dir, "censusd", command()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("censusd: writing docs under {}: {e}", dir.display());
                    ExitCode::from(1)
                }
            };
        }
        Command::CheckConfig { file } => {
            let path = file.clone().unwrap_or_else(|| cli.config.clone());
            return match load_config(&path) {
                Ok(cfg) => {
                    let metrics = match cfg.metrics_listen {
                        None => String::new(),
                        Some(m) if m.ip().is_loopback() => format!(", metrics on {m}"),
                        Some(m) => {
                            format!(", metrics on {m} — not loopback: they need no token, so firewall that port")
                        }
                    };
                    outln!(
                        "{}: ok (listen {}{}, store {}{metrics})",
                        path.display(),
                        cfg.listen,
                        if cfg.tls.is_some() { " with TLS" } else { "" },
                        cfg.store
                    );
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            };
        }
        #[cfg(feature = "demo")]
        Command::Demo { listen, exit, loopback } => runtime.block_on(demo::run(*listen, !exit, *loopback)),
        Command::Serve => match load_config(&cli.config) {
            Ok(cfg) => runtime.block_on(serve(cfg)),
            Err(code) => return code,
        },
        Command::MigrateStore { from, to } => match migrate_args(from, to) {
            Ok(path) => migrate_store(path, to),
            Err(usage) => {
                eprintln!("censusd migrate-store: {usage}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        Command::Backup { file } => match load_config(&cli.config) {
            Ok(cfg) => match &cfg.store {
                censusd::store::StoreLocation::Sqlite(db) => backup(db, file),
                censusd::store::StoreLocation::Postgres(_) => Err(anyhow::anyhow!(
                    "`censusd backup` copies a SQLite store; this configuration's store is PostgreSQL: back it up with \
                     pg_dump (docs/postgresql.md)"
                )),
            },
            Err(code) => return code,
        },
        _ => runtime.block_on(operator(&cli)),
    };
    // Blocking work a stopping daemon gave up on (`service::TEARDOWN`) is
    // not waited for: its transactions roll back as the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The daemon's messages may quote data from the network: show control characters, keep the lines.
            let text = format!("{e:#}");
            let lines: Vec<String> = text.lines().map(censusd::output::clean).collect();
            eprintln!("censusd: {}", lines.join("\n"));
            ExitCode::from(EXIT_FAILED)
        }
    }
}
