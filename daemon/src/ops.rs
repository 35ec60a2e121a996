//! The reconciliation side of the operator CLI: whois, alerts and their
//! lifecycle, suppression rules, the audit report, an on-demand reconcile.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use censusd::client::Client;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

/// Alert commands.
#[derive(Subcommand)]
pub enum AlertCmd {
    /// List alerts (live ones unless --state).
    List {
        /// open, acknowledged, resolved or suppressed.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind, e.g. unknown-asset.
        #[arg(long)]
        kind: Option<String>,
        /// Only about this asset.
        #[arg(long)]
        tag: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one alert with its evidence.
    Show {
        /// Alert id.
        id: i64,
    },
    /// Acknowledge: someone is on it.
    Ack {
        /// Alert id.
        id: i64,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve (for new-service: accept the ports as normal).
    Resolve {
        /// Alert id.
        id: i64,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Suppression commands.
#[derive(Subcommand)]
pub enum SuppressCmd {
    /// Add a rule: at least one criterion, a reason and an expiry.
    Add {
        /// Alert kind.
        #[arg(long)]
        kind: Option<String>,
        /// Agent segment name.
        #[arg(long)]
        segment: Option<String>,
        /// MAC vendor (substring).
        #[arg(long)]
        vendor: Option<String>,
        /// MAC prefix, e.g. aa:bb:cc.
        #[arg(long)]
        mac_prefix: Option<String>,
        /// Asset tag.
        #[arg(long)]
        tag: Option<String>,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// How long, e.g. 30d (at most 366d).
        #[arg(long)]
        expires_in: String,
    },
    /// List live rules (--all for expired too).
    List {
        /// Include expired rules.
        #[arg(long)]
        all: bool,
    },
    /// Remove a rule.
    Remove {
        /// Rule id.
        id: i64,
    },
}

fn when(ms: &Value) -> String {
    ms.as_i64().map(censusd::reconcile::assets::fmt_ms).unwrap_or_else(|| "-".into())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// Print an alert list as a table.
pub fn print_alerts(alerts: &[Value]) {
    println!("{:>5}  {:<12}  {:<8}  {:<18}  {:<28}  SUMMARY", "ID", "STATE", "SEVERITY", "KIND", "SUBJECT");
    for a in alerts {
        println!(
            "{:>5}  {:<12}  {:<8}  {:<18}  {:<28}  {}",
            a["id"],
            s(&a["state"]),
            s(&a["severity"]),
            s(&a["kind"]),
            s(&a["subject"]),
            s(&a["summary"])
        );
    }
}

/// Print a whois answer for a person.
pub fn print_whois(w: &Value) {
    println!("{}: {}", s(&w["query"]), s(&w["verdict"]));
    let a = &w["asset"];
    if a.is_object() {
        println!("  asset      {} — {} ({})", s(&a["tag"]), s(&a["name"]), s(&a["type"]));
        println!("  owner      {} / {}", s(&a["owner"]), s(&a["department"]));
        println!("  lifecycle  {} since {}", s(&a["lifecycle"]), s(&a["lifecycle_since"]));
        println!("  support    until {}", s(&a["support_end"]));
        for l in a["licences"].as_array().into_iter().flatten() {
            println!("  licence    {} ({}) expires {}", s(&l["product"]), s(&l["vendor"]), s(&l["expires"]));
        }
    }
    for h in w["hosts"].as_array().into_iter().flatten() {
        let id = &h["identity"];
        let how = match s(&id["outcome"]) {
            "matched" => {
                let rules: Vec<&str> =
                    id["rules"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
                format!("matched ({:.0}%) by {}", id["confidence"].as_f64().unwrap_or(0.0) * 100.0, rules.join(", "))
            }
            other => other.to_string(),
        };
        println!(
            "  seen       {} mac {} last {} by {}: {how}",
            s(&h["ip"]),
            s(&h["mac"]),
            when(&h["last_seen_ms"]),
            s(&h["last_agent"])
        );
        let o = &h["observation"];
        let ports: Vec<String> = o["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["state"] == "open")
            .map(|p| match p["service"]["product"].as_str().or(p["service"]["name"].as_str()) {
                Some(svc) => format!("{}/{svc}", p["port"]),
                None => p["port"].to_string(),
            })
            .collect();
        if !ports.is_empty() {
            println!("             open {}", ports.join(" "));
        }
        let names: Vec<&str> = o["names"].as_array().into_iter().flatten().filter_map(|n| n["name"].as_str()).collect();
        if !names.is_empty() {
            println!("             names {}", names.join(", "));
        }
        if let Some(v) = o["mac"]["vendor"].as_str() {
            println!("             vendor {v}");
        }
    }
    for al in w["alerts"].as_array().into_iter().flatten() {
        println!("  alert      #{} {} [{}] {}", al["id"], s(&al["kind"]), s(&al["state"]), s(&al["summary"]));
    }
}

fn query(pairs: &[(&str, &Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", v.replace(['&', '?', '#', ' '], ""))))
        .collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// Run an alert command.
pub async fn alerts(c: &Client, cmd: &AlertCmd) -> anyhow::Result<()> {
    match cmd {
        AlertCmd::List { state, kind, tag, json } => {
            let path = format!("/api/v1/alerts{}", query(&[("state", state), ("kind", kind), ("tag", tag)]));
            let (_, out) = c.call(Method::GET, &path, None).await?;
            let v: Vec<Value> = serde_json::from_slice(&out)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_alerts(&v);
            }
        }
        AlertCmd::Show { id } => {
            let (_, out) = c.call(Method::GET, &format!("/api/v1/alerts/{id}"), None).await?;
            let v: Value = serde_json::from_slice(&out)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        AlertCmd::Ack { id, note } | AlertCmd::Resolve { id, note } => {
            let verb = if matches!(cmd, AlertCmd::Ack { .. }) { "ack" } else { "resolve" };
            let body = serde_json::to_vec(&serde_json::json!({ "note": note }))?;
            let (_, out) =
                c.call(Method::POST, &format!("/api/v1/alerts/{id}/{verb}"), Some((body, "application/json"))).await?;
            let v: Value = serde_json::from_slice(&out)?;
            println!("alert {id}: {}", s(&v["state"]));
        }
    }
    Ok(())
}

/// Run a suppression command.
pub async fn suppress(c: &Client, cmd: &SuppressCmd) -> anyhow::Result<()> {
    match cmd {
        SuppressCmd::Add { kind, segment, vendor, mac_prefix, tag, reason, expires_in } => {
            let body = serde_json::json!({ "kind": kind, "segment": segment, "vendor": vendor, "mac_prefix": mac_prefix,
                "tag": tag, "reason": reason, "expires_in": expires_in });
            let (_, out) = c
                .call(Method::POST, "/api/v1/suppressions", Some((serde_json::to_vec(&body)?, "application/json")))
                .await?;
            let v: Value = serde_json::from_slice(&out)?;
            println!("suppression {} added, expires {}", v["id"], when(&v["expires_ms"]));
        }
        SuppressCmd::List { all } => {
            let (_, out) = c.call(Method::GET, &format!("/api/v1/suppressions?all={all}"), None).await?;
            let v: Vec<Value> = serde_json::from_slice(&out)?;
            for r in v {
                let crit: Vec<String> = ["kind", "segment", "vendor", "mac_prefix", "tag"]
                    .iter()
                    .filter_map(|k| r[*k].as_str().map(|v| format!("{k}={v}")))
                    .collect();
                println!(
                    "{:>4}  {}  until {}  by {}: {}",
                    r["id"],
                    crit.join(" "),
                    when(&r["expires_ms"]),
                    s(&r["created_by"]),
                    s(&r["reason"])
                );
            }
        }
        SuppressCmd::Remove { id } => {
            c.call(Method::DELETE, &format!("/api/v1/suppressions/{id}"), None).await?;
            println!("suppression {id} removed");
        }
    }
    Ok(())
}

/// `whois`.
pub async fn whois(c: &Client, q: &str, json: bool) -> anyhow::Result<()> {
    let q: String = q.chars().filter(|ch| ch.is_ascii_alphanumeric() || ".:-_".contains(*ch)).collect();
    let (_, out) = c.call(Method::GET, &format!("/api/v1/whois?q={q}"), None).await?;
    let v: Value = serde_json::from_slice(&out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_whois(&v);
    }
    Ok(())
}

/// `report`.
pub async fn report(c: &Client, format: &str, output: Option<&PathBuf>) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::GET, &format!("/api/v1/report?format={format}"), None).await?;
    match output {
        Some(p) => std::fs::write(p, &out).with_context(|| format!("writing {}", p.display()))?,
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

/// `reconcile`.
pub async fn reconcile(c: &Client) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::POST, "/api/v1/reconcile", None).await?;
    let v: Value = serde_json::from_slice(&out)?;
    println!(
        "reconciled {} hosts ({} matched, {} ambiguous) against {} assets: {} alerts opened, {} updated, {} resolved",
        v["hosts"], v["matched"], v["ambiguous"], v["assets"], v["opened"], v["updated"], v["resolved"]
    );
    Ok(())
}
