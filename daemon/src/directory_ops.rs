//! The operator CLI's people-directory commands: `censusd people
//! import|list|sync ldap` — the owners of assets, not the console's accounts
//! (`censusd user`).

use std::path::PathBuf;

use censusd::client::{Client, seg};
use censusd::outln;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::ops::table;

/// People-directory commands.
#[derive(Subcommand)]
pub enum PeopleCmd {
    /// Import an HR or identity export (CSV or JSON: id, kind, name, email,
    /// team, manager, status, left_on); all-or-nothing, people it leaves out stay.
    Import {
        /// The file (format from its extension unless --format).
        file: PathBuf,
        /// csv or json.
        #[arg(long)]
        format: Option<String>,
        /// Print who would be added, changed (field by field) and marked left; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// CSV field delimiter, e.g. ';' for a spreadsheet export in a European locale.
        #[arg(long, default_value = ",")]
        delimiter: String,
    },
    /// List the directory.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print CSV (re-imports unchanged).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Sync from a directory server.
    #[command(subcommand)]
    Sync(SyncCmd),
}

/// Directory servers to sync from.
#[derive(Subcommand)]
pub enum SyncCmd {
    /// From the LDAP server of the daemon's `[people.ldap]`: people it no
    /// longer finds, or finds disabled, are marked left.
    Ldap {
        /// Print the plan; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even when more than a tenth of the people would be marked left at once.
        #[arg(long)]
        force: bool,
    },
}

/// Print a directory plan.
fn print_plan(p: &Value, verb: &str) {
    let n = |k: &str| p[k].as_array().map_or(0, Vec::len);
    outln!(
        "{verb}: {} added, {} changed, {} marked left, {} unchanged",
        n("added"),
        n("changed"),
        n("departed"),
        p["unchanged"]
    );
    for t in p["added"].as_array().into_iter().flatten() {
        outln!("  + {}", t.as_str().unwrap_or_default());
    }
    let show = |v: &Value| match v {
        Value::Null => "(empty)".to_string(),
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for ch in p["changed"].as_array().into_iter().flatten() {
        let left = p["departed"].as_array().is_some_and(|r| r.contains(&ch["id"]));
        outln!("  ~ {}{}", ch["id"].as_str().unwrap_or_default(), if left { " (left)" } else { "" });
        for f in ch["changes"].as_array().into_iter().flatten() {
            outln!(
                "      {}: {} -> {}",
                f["field"].as_str().unwrap_or_default(),
                show(&f["before"]),
                show(&f["after"])
            );
        }
    }
    for s in p["skipped"].as_array().into_iter().flatten() {
        outln!("  ! left out {}", s.as_str().unwrap_or_default());
    }
}

/// Run a people-directory command.
///
/// # Errors
/// The API's answer or the file's, for people.
pub async fn people(c: &Client, cmd: &PeopleCmd) -> anyhow::Result<()> {
    match cmd {
        PeopleCmd::Import { file, format, dry_run, delimiter } => {
            let p = post_file(c, "/api/v1/people/import", file, format.as_deref(), *dry_run, delimiter).await?;
            print_plan(&p, if *dry_run { "would import" } else { "imported" });
        }
        PeopleCmd::List { json, csv } => {
            let path = if *csv { "/api/v1/people?format=csv" } else { "/api/v1/people" };
            let (_, out) = c.call(Method::GET, path, None).await?;
            if *json || *csv {
                censusd::output::raw(&out);
                return Ok(());
            }
            let entries: Vec<Value> = serde_json::from_slice(&out)?;
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![s(&e["id"]), s(&e["name"]), s(&e["team"]), s(&e["status"]), s(&e["left_on"]), s(&e["source"])]
                })
                .collect();
            table(&["ID", "NAME", "TEAM", "STATUS", "LEFT ON", "SOURCE"], &rows);
        }
        PeopleCmd::Sync(SyncCmd::Ldap { dry_run, force }) => {
            let path = format!("/api/v1/people/sync/ldap?dry_run={dry_run}&force={force}");
            let (_, out) = c.call(Method::POST, &path, None).await?;
            print_plan(&serde_json::from_slice(&out)?, if *dry_run { "would sync" } else { "synced" });
        }
    }
    Ok(())
}

/// Read an import file and post it to `path` (format from the extension unless given).
pub async fn post_file(
    c: &Client,
    path: &str,
    file: &std::path::Path,
    format: Option<&str>,
    dry_run: bool,
    delimiter: &str,
) -> anyhow::Result<Value> {
    let format = format.map(String::from).unwrap_or_else(|| {
        let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json { "json" } else { "csv" }.into()
    });
    let bytes = census_proto::config::read_operator_bytes(file, census_proto::config::MAX_IMPORT_FILE)
        .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
    let ct = if format == "json" { "application/json" } else { "text/csv" };
    let path = format!("{path}?format={}&dry_run={dry_run}&delimiter={}", seg(&format), seg(delimiter));
    let (_, out) = c.call(Method::POST, &path, Some((bytes, ct))).await?;
    Ok(serde_json::from_slice(&out)?)
}
