//! The operator CLI's lifecycle checklists: `censusd retirement
//! show|attest-wipe|dispose TAG`, `censusd report --retirements` and
//! `censusd report --deployments`.

use censusd::client::{Client, seg};
use censusd::outln;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::ops::when;

/// Retirement commands.
#[derive(Subcommand)]
pub enum RetirementCmd {
    /// A decommissioned or disposed asset's checklist, each step with its evidence and date.
    Show {
        /// Asset tag.
        tag: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attest that a retired asset's data was wiped (analyst).
    AttestWipe {
        /// Asset tag.
        tag: String,
        /// The wipe certificate's or ticket's id.
        #[arg(long)]
        reference: String,
        /// What was done.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Dispose an asset: refused while its checklist has unmet steps, unless
    /// forced with a reason (kept in the audit log).
    Dispose {
        /// Asset tag.
        tag: String,
        /// Dispose it although steps are unmet (needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why to dispose it although steps are unmet (needs --force).
        #[arg(long, requires = "force")]
        reason: Option<String>,
    },
}

/// A checklist's verification in words: `verified 2026-12-03 15:04 UTC`,
/// `verified` (not yet recorded) or `not verified`.
pub fn verified_words(c: &Value) -> String {
    match (c["verified"] == true, c["verified_ms"].as_i64()) {
        (true, Some(_)) => format!("verified {}", when(&c["verified_ms"])),
        (true, None) => "verified".to_string(),
        (false, _) => "not verified".to_string(),
    }
}

/// Print one checklist.
pub fn print_checklist(c: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    outln!(
        "{} ({}): {}{}; retirement {}",
        s(&c["tag"]),
        s(&c["name"]),
        s(&c["lifecycle"]),
        c["since"].as_str().map(|d| format!(" since {d}")).unwrap_or_default(),
        verified_words(c)
    );
    print_steps(c, "  ");
}

/// Print a checklist's steps (and a forced disposal), each line after `indent`.
pub fn print_steps(c: &Value, indent: &str) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for step in c["steps"].as_array().into_iter().flatten() {
        let date = step["since_ms"].as_i64().map(|_| format!(" [{}]", when(&step["since_ms"]))).unwrap_or_default();
        outln!("{indent}{:<17} {:<12} {}{date}", s(&step["step"]), s(&step["state"]), s(&step["evidence"]));
    }
    if let Some(f) = c["forced"].as_object() {
        outln!("{indent}disposal forced by {} {}: {}", s(&f["by"]), when(&f["at_ms"]), s(&f["reason"]));
    }
}

/// Run a retirement command.
///
/// # Errors
/// The API's answer, for people.
pub async fn retirement(c: &Client, cmd: &RetirementCmd) -> anyhow::Result<()> {
    match cmd {
        RetirementCmd::Show { tag, json } => {
            let (_, out) = c.call(Method::GET, &format!("/api/v1/retirements/{}", seg(tag)), None).await?;
            if *json {
                censusd::output::raw(&out);
            } else {
                print_checklist(&serde_json::from_slice(&out)?);
            }
        }
        RetirementCmd::AttestWipe { tag, reference, note } => {
            let body = json!({ "reference": reference, "note": note }).to_string().into_bytes();
            let path = format!("/api/v1/retirements/{}/wipe", seg(tag));
            let (_, out) = c.call(Method::POST, &path, Some((body, "application/json"))).await?;
            print_checklist(&serde_json::from_slice(&out)?);
        }
        RetirementCmd::Dispose { tag, force, reason } => {
            let body = json!({ "force": force, "reason": reason }).to_string().into_bytes();
            let path = format!("/api/v1/retirements/{}/dispose", seg(tag));
            let (_, out) = c.call(Method::POST, &path, Some((body, "application/json"))).await?;
            print_checklist(&serde_json::from_slice(&out)?);
        }
    }
    Ok(())
}

/// `censusd report --retirements`: every retired asset's checklist.
///
/// # Errors
/// The API's answer.
pub async fn report(c: &Client, json: bool) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::GET, "/api/v1/retirements", None).await?;
    if json {
        censusd::output::raw(&out);
        return Ok(());
    }
    let all: Vec<Value> = serde_json::from_slice(&out)?;
    if all.is_empty() {
        outln!("no decommissioned or disposed assets");
    }
    for c in &all {
        print_checklist(c);
    }
    Ok(())
}

/// `censusd report --deployments`: deployed assets with what they lack.
///
/// # Errors
/// The API's answer.
pub async fn deployments(c: &Client, json: bool) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::GET, "/api/v1/deployments/incomplete", None).await?;
    if json {
        censusd::output::raw(&out);
        return Ok(());
    }
    let all: Vec<Value> = serde_json::from_slice(&out)?;
    if all.is_empty() {
        outln!("every deployed asset has an active owner, its expected services and a presence on the network");
    }
    for a in &all {
        outln!(
            "{} ({}), owner {}:",
            a["tag"].as_str().unwrap_or("-"),
            a["name"].as_str().unwrap_or("-"),
            a["owner"].as_str().unwrap_or("-")
        );
        for m in a["missing"].as_array().into_iter().flatten() {
            outln!("  - {}", m.as_str().unwrap_or_default());
        }
    }
    Ok(())
}
