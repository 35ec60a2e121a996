//! The operator CLI's coverage-source commands: `censusd source add|list|load`.

use std::path::PathBuf;

use censusd::client::{Client, seg};
use censusd::outln;
use censusd::sources::{SourceDef, SourceFormat, parse_map};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::ops::{json_out, table, when};

/// Coverage-source commands.
#[derive(Subcommand)]
pub enum SourceCmd {
    /// Define a coverage source (another tool's inventory export: an EDR
    /// console, an MDM, a directory's computer accounts), or change one.
    Add {
        /// Name: 1-40 of a-z, 0-9, - and _ (`edr`, `mdm`).
        name: String,
        /// The export's format: csv or json.
        #[arg(long)]
        format: String,
        /// The field that identifies a device: mac, serial, hostname or ip.
        #[arg(long)]
        key: String,
        /// The export's columns to Census's fields (id, mac, hostname, ip,
        /// serial): 'Device Name=hostname,MAC Address=mac'.
        #[arg(long)]
        map: String,
        /// Asset types every deployed asset of which should be in the list:
        /// 'endpoint,server'.
        #[arg(long, default_value = "")]
        expected: String,
        /// Report the source when not loaded within this many days.
        #[arg(long, default_value_t = 7)]
        max_age_days: u32,
    },
    /// List the sources with their last load.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a source and its list (its alerts resolve at the next full reconcile).
    Remove {
        /// The source.
        name: String,
    },
    /// Load a source's export, replacing its list (all or nothing).
    Load {
        /// The source.
        name: String,
        /// The export.
        file: PathBuf,
        /// Print what would change; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn definition(
    name: &str,
    format: &str,
    key: &str,
    map: &str,
    expected: &str,
    max_age_days: u32,
) -> anyhow::Result<SourceDef> {
    let format = match format.trim().to_ascii_lowercase().as_str() {
        "csv" => SourceFormat::Csv,
        "json" => SourceFormat::Json,
        other => anyhow::bail!("--format: `{other}` is not csv or json"),
    };
    let expected_types = expected
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|e: String| anyhow::anyhow!("--expected: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SourceDef {
        name: name.trim().to_string(),
        format,
        key: key.parse().map_err(|e: String| anyhow::anyhow!("--key: {e}"))?,
        map: parse_map(map).map_err(|e| anyhow::anyhow!("--map: {e}"))?,
        expected_types,
        max_age_days,
    })
}

/// Run a coverage-source command.
///
/// # Errors
/// The arguments', the file's or the API's answer, for people.
pub async fn source(c: &Client, cmd: &SourceCmd) -> anyhow::Result<()> {
    match cmd {
        SourceCmd::Add { name, format, key, map, expected, max_age_days } => {
            let def = definition(name, format, key, map, expected, *max_age_days)?;
            let body = serde_json::to_vec(&def)?;
            let path = format!("/api/v1/sources/{}", seg(&def.name));
            let (_, out) = c.call(Method::PUT, &path, Some((body, "application/json"))).await?;
            let defined: Value = serde_json::from_slice(&out)?;
            match defined["records"].as_u64().filter(|r| *r > 0) {
                Some(n) => outln!("source {} defined; its list of {n} records is kept", def.name),
                None => {
                    outln!("source {} defined: load its export with `censusd source load {} FILE`", def.name, def.name)
                }
            }
        }
        SourceCmd::List { json } => {
            let v: Value = c.get_json("/api/v1/sources", &[]).await?;
            if *json {
                return json_out(&v);
            }
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            let rows: Vec<Vec<String>> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    let types: Vec<String> = x["expected_types"].as_array().into_iter().flatten().map(&s).collect();
                    vec![
                        s(&x["name"]),
                        s(&x["format"]),
                        s(&x["key"]),
                        if types.is_empty() { "-".into() } else { types.join(",") },
                        x["records"].to_string(),
                        if x["loaded_ms"].is_i64() { when(&x["loaded_ms"]) } else { "never".into() },
                        if x["stale"] == true { "STALE".into() } else { "ok".into() },
                    ]
                })
                .collect();
            table(&["SOURCE", "FORMAT", "KEY", "EXPECTED", "RECORDS", "LOADED", "AGE"], &rows);
        }
        SourceCmd::Remove { name } => {
            c.call(Method::DELETE, &format!("/api/v1/sources/{}", seg(name)), None).await?;
            outln!("source {name} removed");
        }
        SourceCmd::Load { name, file, dry_run } => {
            let bytes = census_proto::config::read_operator_bytes(file, census_proto::config::MAX_IMPORT_FILE)
                .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
            let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
            let ct = if json { "application/json" } else { "text/csv" };
            let path = format!("/api/v1/sources/{}/load?dry_run={dry_run}", seg(name));
            let (_, out) = c.call(Method::POST, &path, Some((bytes, ct))).await?;
            let o: Value = serde_json::from_slice(&out)?;
            let verb = if *dry_run { "would load" } else { "loaded" };
            outln!(
                "{verb} {} records into {} ({} new, {} no longer listed){}",
                o["records"],
                name,
                o["added"],
                o["removed"],
                if *dry_run { "; nothing stored" } else { "; a full reconcile will judge it" }
            );
        }
    }
    Ok(())
}
