//! The operator CLI's register sync: `censusd sync snipeit|netbox
//! [--dry-run] [--force]`, through the daemon (which holds the token file
//! and the tables), printing the plan as an import does.

use censusd::client::{Client, seg};
use censusd::outln;
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;

/// A register to sync with.
#[derive(Clone, Copy, ValueEnum)]
pub enum SyncSystem {
    /// Snipe-IT (`[sync.snipeit]`).
    Snipeit,
    /// NetBox (`[sync.netbox]`).
    Netbox,
}

/// `censusd sync`.
#[derive(Args)]
pub struct SyncArgs {
    /// Which register.
    #[arg(value_enum)]
    pub system: SyncSystem,
    /// Print the plan; store nothing, write nothing back.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply even when more than a tenth of the linked assets would be tagged retired in the system at once.
    #[arg(long)]
    pub force: bool,
}

/// Run `censusd sync`.
///
/// # Errors
/// The daemon's answer (the system's failure among them: nothing changed then).
pub async fn sync(c: &Client, a: &SyncArgs) -> anyhow::Result<()> {
    let system = match a.system {
        SyncSystem::Snipeit => "snipeit",
        SyncSystem::Netbox => "netbox",
    };
    let path = format!("/api/v1/sync/{}?dry_run={}&force={}", seg(system), a.dry_run, a.force);
    // A sync waits out rate limits and reads every page: up to hours on a large register.
    let (_, out) = c.call_long(Method::POST, &path, std::time::Duration::from_secs(6 * 3600)).await?;
    let p: Value = serde_json::from_slice(&out)?;
    let verb = if a.dry_run { "would sync" } else { "synced" };
    let tagged = p["retired_in_source"].as_array().map_or(0, Vec::len);
    let tagged = if tagged > 0 { format!(" ({tagged} tagged retired-in-{system})") } else { String::new() };
    crate::print_plan(&p, &format!("{verb} {} record(s) from {system}{tagged}", p["records"]), true);
    if let Some(why) = p["would_refuse"].as_str() {
        outln!("  ! a real run would be refused: {why}");
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for l in p["links"].as_array().into_iter().flatten() {
        let how = match s(&l["matched_by"]).as_str() {
            "new asset" => "a new asset".to_string(),
            by => format!("matched by {by}"),
        };
        outln!("  = {} is {} ({how})", s(&l["tag"]), s(&l["external_id"]));
    }
    for t in p["retired_in_source"].as_array().into_iter().flatten() {
        outln!("  - {}: its record is gone from {system}; tagged retired-in-{system} (kept)", s(t));
    }
    for (label, key) in [
        ("skipped", "skipped"),
        ("held", "held"),
        ("not applied", "not_applied"),
        ("note", "left_out"),
        ("write-back failed", "write_back_failed"),
    ] {
        for x in p[key].as_array().into_iter().flatten() {
            outln!("  ! {label} {}: {}", s(&x["external_id"]), s(&x["reason"]));
        }
    }
    if p["written_back"].as_u64().unwrap_or(0) > 0 {
        outln!("  last seen by Census written to {} record(s)", p["written_back"]);
    }
    Ok(())
}
