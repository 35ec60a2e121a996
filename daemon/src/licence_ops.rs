//! The operator CLI's licence commands: `censusd licences import|list|report`.

use std::path::PathBuf;

use censusd::outln;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::directory_ops::post_file;
use crate::ops::table;
use censusd::client::Client;

/// Licence commands.
#[derive(Subcommand)]
pub enum LicencesCmd {
    /// Import entitlements (CSV or JSON: id, product, vendor, metric, seats,
    /// cost, currency, expires, renews, detect); all-or-nothing, never deletes.
    Import {
        /// The file (format from its extension unless --format).
        file: PathBuf,
        /// csv or json.
        #[arg(long)]
        format: Option<String>,
        /// Print what would be added and changed; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// CSV field delimiter.
        #[arg(long, default_value = ",")]
        delimiter: String,
    },
    /// List the entitlements.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seats owned against use per product, the assets over, unused
    /// entitlements (spend to recover), renewals in the next 90 days.
    Report {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a licence command.
///
/// # Errors
/// The API's answer or the file's, for people.
pub async fn licences(c: &Client, cmd: &LicencesCmd) -> anyhow::Result<()> {
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match cmd {
        LicencesCmd::Import { file, format, dry_run, delimiter } => {
            let p = post_file(c, "/api/v1/licences/import", file, format.as_deref(), *dry_run, delimiter).await?;
            let n = |k: &str| p[k].as_array().map_or(0, Vec::len);
            let verb = if *dry_run { "would import" } else { "imported" };
            outln!("{verb}: {} added, {} changed, {} unchanged", n("added"), n("changed"), p["unchanged"]);
            for t in p["added"].as_array().into_iter().flatten() {
                outln!("  + {}", s(t));
            }
            for ch in p["changed"].as_array().into_iter().flatten() {
                outln!("  ~ {}", s(&ch["id"]));
                for f in ch["changes"].as_array().into_iter().flatten() {
                    outln!("      {}: {} -> {}", s(&f["field"]), s(&f["before"]), s(&f["after"]));
                }
            }
        }
        LicencesCmd::List { json } => {
            let (_, out) = c.call(Method::GET, "/api/v1/licences", None).await?;
            if *json {
                censusd::output::raw(&out);
                return Ok(());
            }
            let all: Vec<Value> = serde_json::from_slice(&out)?;
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|e| {
                    let cost = format!("{} {}", s(&e["cost"]), e["currency"].as_str().unwrap_or_default());
                    vec![
                        s(&e["id"]),
                        s(&e["product"]),
                        s(&e["metric"]),
                        s(&e["seats"]),
                        cost.trim().into(),
                        s(&e["expires"]),
                        s(&e["renews"]),
                    ]
                })
                .collect();
            table(&["ID", "PRODUCT", "METRIC", "SEATS", "COST", "EXPIRES", "RENEWS"], &rows);
        }
        LicencesCmd::Report { json } => {
            let (_, out) = c.call(Method::GET, "/api/v1/licences/report", None).await?;
            if *json {
                censusd::output::raw(&out);
                return Ok(());
            }
            let r: Value = serde_json::from_slice(&out)?;
            let rows: Vec<Vec<String>> = r["products"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        s(&p["product"]),
                        s(&p["metric"]),
                        s(&p["seats"]),
                        s(&p["in_use"]),
                        s(&p["over"]),
                        s(&p["assigned"]),
                        s(&p["over_assigned"]),
                    ]
                })
                .collect();
            table(&["PRODUCT", "METRIC", "SEATS", "IN USE", "OVER", "ASSIGNED", "OVER-ASSIGNED"], &rows);
            for p in r["products"].as_array().into_iter().flatten() {
                for u in p["unlicensed"].as_array().into_iter().flatten() {
                    outln!(
                        "  over: {} runs {} without a seat ({})",
                        s(&u["tag"]),
                        s(&p["product"]),
                        s(&u["matched_by"])
                    );
                }
            }
            for u in r["unused"].as_array().into_iter().flatten() {
                let cost = format!("{} {}", s(&u["cost"]), u["currency"].as_str().unwrap_or_default());
                outln!(
                    "unused: {} ({}, {} seats, cost {}): nobody runs it",
                    s(&u["id"]),
                    s(&u["product"]),
                    s(&u["seats"]),
                    cost.trim()
                );
            }
            for n in r["renewals"].as_array().into_iter().flatten() {
                outln!("renewal: {} ({}) {} {}", s(&n["id"]), s(&n["product"]), s(&n["event"]), s(&n["on"]));
            }
        }
    }
    Ok(())
}
