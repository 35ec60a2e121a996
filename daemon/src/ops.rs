//! The operator CLI's read and alert commands: whois, hosts, alerts and
//! their lifecycle, suppression rules, the audit report, status, an
//! on-demand reconcile — human output by default (aligned tables, RFC 3339
//! UTC times, explicit empty results), `--json` for machines. Every line
//! goes through [`censusd::output`], so data from the network cannot drive
//! the terminal and a closed pipe ends quietly.

use std::path::PathBuf;

use anyhow::Context;
use censusd::client::{Client, seg};
use censusd::outln;
use censusd::output::{join_present, raw};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

/// Alert commands.
#[derive(Subcommand)]
pub enum AlertCmd {
    /// List live alerts (open and acknowledged; `--all` adds suppressed, `--state` picks one state).
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
        /// Include alerts held by a suppression rule.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one alert with its evidence and history.
    Show {
        /// Alert id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
    /// Add a rule: at least one criterion, a reason and an expiry. Says how many live alerts it holds.
    Add {
        /// Alert kind.
        #[arg(long)]
        kind: Option<String>,
        /// Addresses in this network (CIDR), e.g. 198.18.0.0/24.
        #[arg(long)]
        segment: Option<String>,
        /// The agent's segment name (`[[segment]] name` in its configuration), e.g. guest-wifi.
        #[arg(long)]
        segment_name: Option<String>,
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
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule.
    Remove {
        /// Rule id.
        id: i64,
    },
}

/// A unix-ms time as RFC 3339 UTC; `never` for 0 (never seen), `-` when absent.
pub fn when(ms: &Value) -> String {
    match ms.as_i64() {
        Some(m) if m > 0 => censusd::reconcile::assets::fmt_ms(m),
        Some(_) => "never".into(),
        None => "-".into(),
    }
}

/// Evidence for people: each `…_ms` field becomes its name without the
/// suffix, with a time as RFC 3339 UTC (`never` for none) or, for the
/// durations (`…interval_ms`, `…after_ms`), `5m`, `1d`; nested values likewise.
pub fn readable_evidence(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k.strip_suffix("_ms") {
                    Some(name) if name.ends_with("interval") || name.ends_with("after") => (
                        name.to_string(),
                        v.as_i64().map_or(Value::Null, |m| censusd::reconcile::assets::fmt_duration(m).into()),
                    ),
                    Some(name) => (name.to_string(), when(v).into()),
                    None => (k.clone(), readable_evidence(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(readable_evidence).collect()),
        other => other.clone(),
    }
}

/// `censusd assets …`
#[derive(Debug, clap::Subcommand)]
pub enum AssetsCmd {
    /// Assets matching a search, e.g. 'lifecycle:decommissioned seen:<1d' or
    /// 'owner:platform-team port:3389 -alert:none' (fields: lifecycle, type, criticality,
    /// owner, department, tag, tags, name, vendor, serial, manufacturer, model, location, id, mac,
    /// ip, segment, port, alert, seen; `-` negates; other words match tag, name, host name, serial or id).
    Search {
        /// The search (quote it: one argument).
        query: String,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Run an assets command.
pub async fn assets(c: &Client, cmd: &AssetsCmd) -> anyhow::Result<()> {
    match cmd {
        AssetsCmd::Search { query, json } => {
            let v = c.get_all("/api/v1/assets", &[("q", query.clone())]).await?;
            if *json {
                return json_out(&Value::Array(v));
            }
            if v.is_empty() {
                outln!("no asset matches `{}`", censusd::output::clean(query));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v
                .iter()
                .map(|a| {
                    let list = |k: &str| {
                        a[k].as_array()
                            .map(|l| l.iter().map(|x| s(x).to_string()).collect::<Vec<_>>().join(","))
                            .unwrap_or_default()
                    };
                    vec![
                        s(&a["tag"]).into(),
                        s(&a["name"]).into(),
                        s(&a["type"]).into(),
                        or_dash(&a["owner"]).into(),
                        s(&a["lifecycle"]).into(),
                        list("macs"),
                    ]
                })
                .collect();
            table(&["TAG", "NAME", "TYPE", "OWNER", "LIFECYCLE", "MACS"], &rows);
            outln!("{} asset(s)", v.len());
        }
    }
    Ok(())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn or_dash(v: &Value) -> &str {
    v.as_str().filter(|s| !s.is_empty()).unwrap_or("-")
}

/// Print rows under headers, each column as wide as its widest cell (the last one not padded).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let clean: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| censusd::output::clean(c)).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &clean {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let n = cells.len();
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < n {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            } else {
                out.push_str(c);
            }
        }
        outln!("{}", out.trim_end());
    };
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in &clean {
        line(r);
    }
}

pub fn json_out(v: &Value) -> anyhow::Result<()> {
    raw(serde_json::to_string_pretty(v)?.as_bytes());
    raw(b"\n");
    Ok(())
}

/// Print an alert list as a table.
pub fn print_alerts(alerts: &[Value]) {
    if alerts.is_empty() {
        outln!("no alerts");
        return;
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                a["id"].to_string(),
                s(&a["state"]).into(),
                s(&a["severity"]).into(),
                s(&a["kind"]).into(),
                s(&a["subject"]).into(),
                when(&a["last_seen_ms"]),
                s(&a["summary"]).into(),
            ]
        })
        .collect();
    table(&["ID", "STATE", "SEVERITY", "KIND", "SUBJECT", "LAST SEEN", "SUMMARY"], &rows);
}

/// Print a whois answer for a person.
pub fn print_whois(w: &Value) {
    outln!("{}: {} [{}]", s(&w["query"]), s(&w["verdict"]), s(&w["status"]));
    let a = &w["asset"];
    if a.is_object() {
        outln!(
            "  asset      {}",
            join_present(&[&format!("{} — {}", s(&a["tag"]), s(&a["name"])), s(&a["type"])], " · ")
        );
        let owner = join_present(&[s(&a["owner"]), s(&a["department"])], " / ");
        outln!("  owner      {}", if owner.is_empty() { "(none recorded)" } else { &owner });
        let since = a["lifecycle_since"].as_str().map(|d| format!(" since {d}")).unwrap_or_default();
        outln!("  lifecycle  {}{since}", s(&a["lifecycle"]));
        let hardware = join_present(&[s(&a["manufacturer"]), s(&a["model"])], " ");
        let serial = a["serial"].as_str().map(|x| format!("serial {x}")).unwrap_or_default();
        let hardware = join_present(&[&hardware, &serial], ", ");
        if !hardware.is_empty() {
            outln!("  hardware   {hardware}");
        }
        if let Some(l) = a["location"].as_str() {
            outln!("  location   {l}");
        }
        let ids: Vec<&str> = a["external_ids"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        if !ids.is_empty() {
            outln!("  ids        {}", ids.join(", "));
        }
        if let Some(end) = a["support_end"].as_str() {
            outln!("  support    until {end}");
        }
        for l in a["licences"].as_array().into_iter().flatten() {
            let expires = l["expires"].as_str().map(|d| format!("expires {d}")).unwrap_or_default();
            outln!("  licence    {}", join_present(&[s(&l["product"]), s(&l["vendor"]), &expires], ", "));
        }
    }
    let r = &w["recorded_for"];
    if r.is_object() {
        let seen = if r["last_seen_ms"].is_i64() {
            format!("last seen {}", when(&r["last_seen_ms"]))
        } else {
            "never seen".into()
        };
        outln!("  register   records this for {} — {} ({}), {seen}", s(&r["tag"]), s(&r["name"]), s(&r["lifecycle"]));
    }
    if let Some(entries) = w["register_entries"].as_array().filter(|e| e.len() > 1) {
        let tags: Vec<&str> = entries.iter().filter_map(|t| t.as_str()).collect();
        let total = w["register_entry_count"].as_u64().unwrap_or(tags.len() as u64);
        let more = total.saturating_sub(tags.len() as u64);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        outln!("  register   {total} entries record this: {}{more}", tags.join(", "));
    }
    for h in w["hosts"].as_array().into_iter().flatten() {
        let id = &h["identity"];
        let how = match s(&id["outcome"]) {
            "matched" => {
                let rules: Vec<&str> =
                    id["rules"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
                format!("matched ({:.0}%) by {}", id["confidence"].as_f64().unwrap_or(0.0) * 100.0, rules.join(", "))
            }
            "" => "not reconciled yet".into(),
            other => other.to_string(),
        };
        let now = if h["present"].as_bool() == Some(true) { "on the network" } else { "gone" };
        let mac = h["mac"].as_str().map(|m| format!(" mac {m}")).unwrap_or_default();
        outln!(
            "  seen       {}{mac} last {} by {} ({now}): {how}",
            s(&h["ip"]),
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
            outln!("             open {}", ports.join(" "));
        }
        let names: Vec<&str> = o["names"].as_array().into_iter().flatten().filter_map(|n| n["name"].as_str()).collect();
        if !names.is_empty() {
            outln!("             names {}", names.join(", "));
        }
        if let Some(v) = o["mac"]["vendor"].as_str() {
            outln!("             vendor {v}");
        }
    }
    for al in w["alerts"].as_array().into_iter().flatten() {
        outln!("  alert      #{} {} [{}] {}", al["id"], s(&al["kind"]), s(&al["state"]), s(&al["summary"]));
    }
    let r = &w["retirement"];
    if r.is_object() {
        outln!("  retirement {}", crate::retirement_ops::verified_words(r));
        crate::retirement_ops::print_steps(r, "             ");
    }
}

/// Run an alert command.
pub async fn alerts(c: &Client, cmd: &AlertCmd) -> anyhow::Result<()> {
    match cmd {
        AlertCmd::List { state, kind, tag, all, json } => {
            let mut q: Vec<(&str, String)> = Vec::new();
            for (k, v) in [("state", state), ("kind", kind), ("tag", tag)] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            if !all && state.is_none() {
                q.push(("include_suppressed", "false".into()));
            }
            let v: Vec<Value> = c.get_all("/api/v1/alerts", &q).await?;
            if *json {
                return json_out(&Value::Array(v));
            }
            print_alerts(&v);
        }
        AlertCmd::Show { id, json } => {
            let a: Value = c.get_json(&format!("/api/v1/alerts/{id}"), &[]).await?;
            let history = Value::Array(c.get_all(&format!("/api/v1/alerts/{id}/history"), &[]).await?);
            if *json {
                let mut a = a;
                a["history"] = history;
                return json_out(&a);
            }
            print_alert(&a, &history);
        }
        AlertCmd::Ack { id, note } | AlertCmd::Resolve { id, note } => {
            let verb = if matches!(cmd, AlertCmd::Ack { .. }) { "ack" } else { "resolve" };
            let body = serde_json::to_vec(&serde_json::json!({ "note": note }))?;
            let (_, out) =
                c.call(Method::POST, &format!("/api/v1/alerts/{id}/{verb}"), Some((body, "application/json"))).await?;
            let v: Value = serde_json::from_slice(&out)?;
            outln!("alert {id}: {}", s(&v["state"]));
        }
    }
    Ok(())
}

fn print_alert(a: &Value, history: &Value) {
    outln!("alert #{} {} [{}] {}", a["id"], s(&a["kind"]), s(&a["state"]), s(&a["severity"]));
    outln!("  {}", s(&a["summary"]));
    outln!("  subject     {}", s(&a["subject"]));
    for (label, key) in [
        ("asset", "tag"),
        ("address", "ip"),
        ("mac", "mac"),
        ("vendor", "vendor"),
        ("segment", "segment"),
        ("agent", "agent"),
    ] {
        if let Some(v) = a[key].as_str() {
            outln!("  {label:<11} {v}");
        }
    }
    outln!("  first seen  {}", when(&a["first_seen_ms"]));
    outln!("  last seen   {}", when(&a["last_seen_ms"]));
    if a["absent_since_ms"].is_i64() {
        outln!("  absent      since {} (the condition is no longer observed)", when(&a["absent_since_ms"]));
    }
    if let Some(r) = a["resolution"].as_str() {
        outln!("  resolution  {r}");
    }
    outln!("  history");
    for e in history.as_array().into_iter().flatten() {
        let note = e["note"].as_str().map(|n| format!(": {n}")).unwrap_or_default();
        outln!("    {}  {:<12} by {}{note}", when(&e["at_ms"]), s(&e["event"]), s(&e["actor"]));
    }
    outln!("  evidence");
    if let Ok(pretty) = serde_json::to_string_pretty(&readable_evidence(&a["evidence"])) {
        for l in pretty.lines() {
            outln!("    {l}");
        }
    }
}

/// Run a suppression command.
pub async fn suppress(c: &Client, cmd: &SuppressCmd) -> anyhow::Result<()> {
    match cmd {
        SuppressCmd::Add { kind, segment, segment_name, vendor, mac_prefix, tag, reason, expires_in } => {
            let body = serde_json::json!({ "kind": kind, "network": segment, "segment": segment_name,
                "vendor": vendor, "mac_prefix": mac_prefix, "tag": tag, "reason": reason, "expires_in": expires_in });
            let (_, out) = c
                .call(Method::POST, "/api/v1/suppressions", Some((serde_json::to_vec(&body)?, "application/json")))
                .await?;
            let v: Value = serde_json::from_slice(&out)?;
            let n = v["matching_alerts"].as_u64().unwrap_or(0);
            outln!(
                "suppression {} added, expires {}; it holds {n} live alert{} now{}",
                v["id"],
                when(&v["expires_ms"]),
                if n == 1 { "" } else { "s" },
                if n == 0 { " (check the criteria: nothing matches yet)" } else { "" }
            );
        }
        SuppressCmd::List { all, json } => {
            let v: Vec<Value> = c.get_all("/api/v1/suppressions", &[("all", all.to_string())]).await?;
            if *json {
                return json_out(&Value::Array(v));
            }
            if v.is_empty() {
                outln!("no suppression rules");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v
                .iter()
                .map(|r| {
                    let crit: Vec<String> = [
                        ("kind", "kind"),
                        ("network", "segment"),
                        ("segment", "segment-name"),
                        ("vendor", "vendor"),
                        ("mac_prefix", "mac-prefix"),
                        ("tag", "tag"),
                    ]
                    .iter()
                    .filter_map(|(k, label)| r[*k].as_str().map(|v| format!("{label}={v}")))
                    .collect();
                    vec![
                        r["id"].to_string(),
                        crit.join(" "),
                        when(&r["expires_ms"]),
                        s(&r["created_by"]).into(),
                        s(&r["reason"]).into(),
                    ]
                })
                .collect();
            table(&["ID", "CRITERIA", "EXPIRES", "BY", "REASON"], &rows);
        }
        SuppressCmd::Remove { id } => {
            c.call(Method::DELETE, &format!("/api/v1/suppressions/{id}"), None).await?;
            outln!("suppression {id} removed");
        }
    }
    Ok(())
}

/// `whois`.
pub async fn whois(c: &Client, q: &str, json: bool) -> anyhow::Result<()> {
    let v: Value = c.get_json("/api/v1/whois", &[("q", q.to_string())]).await?;
    if json {
        return json_out(&v);
    }
    print_whois(&v);
    Ok(())
}

/// `host`: what agents saw at an address, and what changed.
pub async fn host(c: &Client, ip: &str, json: bool) -> anyhow::Result<()> {
    let v: Value = c.get_json(&format!("/api/v1/hosts/{}", seg(ip)), &[]).await?;
    if json {
        return json_out(&v);
    }
    let latest = &v["latest"];
    outln!("{}", s(&v["ip"]));
    outln!("  mac          {}", or_dash(&v["mac"]));
    if let Some(vendor) = latest["mac"]["vendor"].as_str() {
        outln!("  vendor       {vendor}");
    }
    outln!("  first seen   {}", when(&v["first_seen_ms"]));
    outln!("  last seen    {} by {}", when(&v["last_seen_ms"]), s(&v["last_agent"]));
    outln!("  observations {}", v["observations"]);
    let ports: Vec<String> = latest["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["state"] == "open")
        .map(|p| p["port"].to_string())
        .collect();
    outln!("  open ports   {}", if ports.is_empty() { "none".to_string() } else { ports.join(" ") });
    let names: Vec<&str> =
        latest["names"].as_array().into_iter().flatten().filter_map(|n| n["name"].as_str()).collect();
    if !names.is_empty() {
        outln!("  names        {}", names.join(", "));
    }
    let changes = v["changes"].as_array().cloned().unwrap_or_default();
    if changes.is_empty() {
        outln!("  changes      none");
    } else {
        outln!("  changes");
        let rows: Vec<Vec<String>> = changes
            .iter()
            .map(|ch| vec![when(&ch["at_ms"]), s(&ch["kind"]).into(), or_dash(&ch["old"]).into(), s(&ch["new"]).into()])
            .collect();
        table(
            &["    WHEN", "WHAT", "BEFORE", "AFTER"],
            &rows
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r[0] = format!("    {}", r[0]);
                    r
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

/// `report`.
pub async fn report(c: &Client, format: &str, output: Option<&PathBuf>) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::GET, &format!("/api/v1/report?format={}", seg(format)), None).await?;
    match output {
        Some(p) => censusd::files::write_export(p, &out).with_context(|| format!("writing {}", p.display()))?,
        None => raw(&out),
    }
    Ok(())
}

/// `reconcile`.
pub async fn reconcile(c: &Client) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::POST, "/api/v1/reconcile", None).await?;
    let v: Value = serde_json::from_slice(&out)?;
    outln!(
        "reconciled {} hosts ({} matched, {} ambiguous) against {} assets: {} alerts opened, {} reopened, {} updated, {} resolved",
        v["hosts"],
        v["matched"],
        v["ambiguous"],
        v["assets"],
        v["opened"],
        v["reopened"],
        v["updated"],
        v["resolved"]
    );
    Ok(())
}

/// What `import nmap` did, for people.
pub fn print_nmap_import(v: &Value) {
    let r = &v["report"];
    let receipt = &v["receipt"];
    outln!(
        "nmap {} report{} of {} hosts up, {} down, {} addresses scanned",
        or_dash(&r["nmap_version"]),
        r["started"].as_str().map(|t| format!(" started {t}")).unwrap_or_default(),
        r["hosts_up"],
        r["hosts_down"],
        r["addresses_scanned"]
    );
    if let Some(args) = r["args"].as_str() {
        outln!("  command: {args}");
    }
    if r["outside_segment"].as_u64().unwrap_or(0) > 0 {
        outln!("  {} hosts outside the segment were not imported", r["outside_segment"]);
    }
    if r["not_answering"].as_u64().unwrap_or(0) > 0 {
        outln!("  {} hosts nmap only assumed up (-Pn) did not answer: not imported as sightings", r["not_answering"]);
    }
    if receipt["clamped"].as_bool() == Some(true) {
        outln!("  the report is dated in the future: its times were set to its arrival");
    }
    match r["partial_because"].as_str() {
        None => outln!("  a complete sweep of the segment: hosts it did not find may become missing"),
        Some(why) => outln!("  a partial sweep ({why}): its hosts are recorded, nobody becomes missing because of it"),
    }
    let created = if v["agent_created"].as_bool() == Some(true) { " (created for imports)" } else { "" };
    if receipt["duplicate"].as_bool() == Some(true) {
        outln!("already imported as agent `{}`: nothing stored again", s(&v["agent"]));
    } else {
        outln!(
            "imported as agent `{}`{created}: {} observations stored, {} refused, reconciled",
            s(&v["agent"]),
            receipt["stored"],
            receipt["rejected"].as_array().map_or(0, Vec::len)
        );
    }
}

/// `status` (and `agent list`, which shows its agents part).
pub async fn status(c: &Client, json: bool, agents_only: bool) -> anyhow::Result<()> {
    let v: Value = c.get_json("/api/v1/status", &[]).await?;
    if json {
        return json_out(if agents_only { &v["agents"] } else { &v });
    }
    let agents = v["agents"].as_array().cloned().unwrap_or_default();
    if !agents_only {
        let backlog: Vec<String> =
            v["notification_backlog"].as_object().into_iter().flatten().map(|(k, n)| format!("{k} {n}")).collect();
        let summary = [
            ("live alerts", v["live_alerts"].to_string()),
            ("suppressed", format!("{} (alerts list --all)", v["suppressed_alerts"])),
            ("observations", v["observations"].to_string()),
            ("reconcile queue", format!("{} batches", v["reconcile_queue"])),
            ("notifications", if backlog.is_empty() { "none waiting".to_string() } else { backlog.join(", ") }),
        ];
        let width = summary.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, val) in &summary {
            outln!("{k:<width$}  {val}");
        }
        let counts = v["alerts"].as_array().cloned().unwrap_or_default();
        if !counts.is_empty() {
            outln!();
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|c| {
                    vec![s(&c["kind"]).into(), s(&c["state"]).into(), s(&c["severity"]).into(), c["count"].to_string()]
                })
                .collect();
            table(&["KIND", "STATE", "SEVERITY", "COUNT"], &rows);
        }
        outln!();
    }
    if agents.is_empty() {
        outln!("no agents (add one: censusd agent add NAME --segment CIDR)");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|a| {
            let segs: Vec<&str> = a["segments"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
            let state = if a["revoked"].as_bool() == Some(true) {
                "revoked"
            } else if a["silent"].as_bool() == Some(true) {
                "SILENT"
            } else if a["last_sweep_ms"].is_i64() {
                "sweeping"
            } else {
                "no sweep yet"
            };
            vec![
                s(&a["name"]).into(),
                segs.join(","),
                state.into(),
                when(&a["last_sweep_ms"]),
                when(&a["last_complete_sweep_ms"]),
            ]
        })
        .collect();
    table(&["AGENT", "SEGMENTS", "STATE", "LAST SWEEP", "LAST COMPLETE SWEEP"], &rows);
    Ok(())
}

/// `censusd certificates`: the inventory as a table (or JSON).
///
/// # Errors
/// The API's answer.
pub async fn certificates(c: &Client, weak: bool, json: bool) -> anyhow::Result<()> {
    let (_, out) = c.call(Method::GET, &format!("/api/v1/certificates?weak={weak}"), None).await?;
    if json {
        raw(&out);
        return Ok(());
    }
    let certs: Vec<Value> = serde_json::from_slice(&out)?;
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let rows: Vec<Vec<String>> = certs
        .iter()
        .map(|c| {
            let places: Vec<String> = c["served"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}:{}", s(&p["ip"]), p["port"]))
                .collect();
            let since = c["served"].as_array().into_iter().flatten().filter_map(|p| p["first_seen_ms"].as_i64()).min();
            let weak: Vec<String> =
                c["weak"].as_array().into_iter().flatten().filter_map(|w| w.as_str().map(String::from)).collect();
            vec![
                s(&c["subject"]),
                when(&c["not_after_ms"]),
                s(&c["key"]),
                places.join(" "),
                since.map_or_else(|| "-".into(), |ms| when(&Value::from(ms))),
                c["assets"].as_array().into_iter().flatten().map(s).collect::<Vec<_>>().join(" "),
                if weak.is_empty() { "-".into() } else { weak.join("; ") },
                c["sha256"].as_str().unwrap_or_default().chars().take(16).collect(),
            ]
        })
        .collect();
    table(&["SUBJECT", "NOT AFTER", "KEY", "SERVED AT", "SERVED SINCE", "ASSETS", "WEAK", "SHA-256"], &rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Regression: `alerts show` printed `"last_sweep_ms": 1796106813280` in its evidence and
    /// `first seen 1970-01-01T00:00:00Z` for an asset never seen.
    #[test]
    fn people_see_times_and_durations_not_epoch_milliseconds() {
        assert_eq!(when(&json!(0)), "never");
        assert_eq!(when(&Value::Null), "-");
        assert_eq!(when(&json!(1_796_106_813_280_i64)), "2026-12-01T06:33:33Z");
        let ev = readable_evidence(&json!({
            "last_sweep_ms": 1_796_106_813_280_i64, "last_seen_ms": null, "missing_after_ms": 600_000,
            "interval_ms": 86_400_000, "agent": "lab", "ports": [{"first_seen_ms": 0}]
        }));
        assert_eq!(
            ev,
            json!({"last_sweep": "2026-12-01T06:33:33Z", "last_seen": "-", "missing_after": "10m",
                   "interval": "1d", "agent": "lab", "ports": [{"first_seen": "never"}]})
        );
    }
}
