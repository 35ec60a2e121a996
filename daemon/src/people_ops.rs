//! The operator CLI's people, token and audit commands (admin role):
//! `censusd user …`, `censusd token …`, `censusd audit`. Passwords are never
//! taken as arguments (they would show in `ps` and shell history): a
//! one-time password is printed, or `--password-stdin` reads one line.

use std::io::BufRead;

use anyhow::Context;
use censusd::client::{Client, seg};
use censusd::outln;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::ops::{table, when};

/// People commands.
#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a person; prints a one-time password unless --password-stdin.
    Add {
        /// Sign-in name (lowercase letters, digits, . _ @ -).
        name: String,
        /// viewer (reads), analyst (also acts on alerts and edits assets) or admin (also agents, people, imports).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of stdin (at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List people with their roles.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a person: their tokens and sessions stop working at once.
    Disable {
        /// Name.
        name: String,
    },
    /// Enable a disabled person again (their sessions stay ended).
    Enable {
        /// Name.
        name: String,
    },
    /// Set a new password (a one-time one printed unless --password-stdin); their sessions end.
    ResetPassword {
        /// Name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a person's role.
    SetRole {
        /// Name.
        name: String,
        /// viewer, analyst or admin.
        role: String,
    },
}

/// Token commands.
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Make a personal API token (printed once; use it as CENSUS_TOKEN).
    Create {
        /// Whose.
        #[arg(long)]
        user: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Days until it stops working (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens and sign-in sessions.
    List {
        /// Only this person's.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token or session.
    Revoke {
        /// Its id (from `token list`).
        id: i64,
    },
}

/// `censusd audit` options.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only this actor's records.
    #[arg(long)]
    actor: Option<String>,
    /// Only this action, e.g. asset.update, alert.acknowledge, login.failed.
    #[arg(long)]
    action: Option<String>,
    /// Only this subject, e.g. asset:SRV-1; a trailing * matches a prefix (asset:*).
    #[arg(long)]
    subject: Option<String>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON lines, one record each.
    #[arg(long)]
    json: bool,
}

fn password_from_stdin(wanted: bool) -> anyhow::Result<Option<String>> {
    if !wanted {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
}

async fn post(c: &Client, path: &str, body: &Value) -> anyhow::Result<Value> {
    let (_, out) = c.call(Method::POST, path, Some((serde_json::to_vec(body)?, "application/json"))).await?;
    Ok(serde_json::from_slice(&out).unwrap_or(Value::Null))
}

fn print_password(v: &Value, name: &str) {
    if let Some(p) = v["password"].as_str() {
        eprintln!("one-time password for `{name}` (shown only now; give it to them over a trusted channel):");
        outln!("{p}");
    }
}

/// Run a `censusd user` command.
///
/// # Errors
/// The daemon refused or could not be reached.
pub async fn user(c: &Client, cmd: &UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { name, role, password_stdin } => {
            let password = password_from_stdin(*password_stdin)?;
            let v = post(c, "/api/v1/users", &json!({ "name": name, "role": role, "password": password })).await?;
            eprintln!("`{name}` added as {role}");
            print_password(&v, name);
        }
        UserCmd::List { json } => {
            let v = Value::Array(c.get_all("/api/v1/users", &[]).await?);
            let people = v.as_array().cloned().unwrap_or_default();
            if *json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else if people.is_empty() {
                outln!("no people yet (the admin token is the only operator); add one with `censusd user add`");
            } else {
                let rows: Vec<Vec<String>> = people
                    .iter()
                    .map(|p| {
                        vec![
                            p["name"].as_str().unwrap_or("").to_string(),
                            p["role"].as_str().unwrap_or("").to_string(),
                            if p["disabled_ms"].is_null() {
                                "active".into()
                            } else {
                                format!("disabled {}", when(&p["disabled_ms"]))
                            },
                            when(&p["created_ms"]),
                        ]
                    })
                    .collect();
                table(&["NAME", "ROLE", "STATE", "ADDED"], &rows);
            }
        }
        UserCmd::Disable { name } => {
            post(c, &format!("/api/v1/users/{}/disable", seg(name)), &json!({})).await?;
            outln!("`{name}` disabled; their tokens and sessions no longer work");
        }
        UserCmd::Enable { name } => {
            post(c, &format!("/api/v1/users/{}/enable", seg(name)), &json!({})).await?;
            outln!("`{name}` enabled");
        }
        UserCmd::ResetPassword { name, password_stdin } => {
            let password = password_from_stdin(*password_stdin)?;
            let v = post(c, &format!("/api/v1/users/{}/password", seg(name)), &json!({ "password": password })).await?;
            eprintln!("password of `{name}` set; their sessions ended");
            print_password(&v, name);
        }
        UserCmd::SetRole { name, role } => {
            let body = serde_json::to_vec(&json!({ "role": role }))?;
            c.call(Method::PUT, &format!("/api/v1/users/{}/role", seg(name)), Some((body, "application/json"))).await?;
            outln!("`{name}` is now {role}");
        }
    }
    Ok(())
}

/// Run a `censusd token` command.
///
/// # Errors
/// The daemon refused or could not be reached.
pub async fn token(c: &Client, cmd: &TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create { user, label, expires_days } => {
            let v = post(c, "/api/v1/tokens", &json!({ "user": user, "label": label, "expires_days": expires_days }))
                .await?;
            eprintln!(
                "token {} for `{user}` (shown only now; use it as CENSUS_TOKEN or a bearer token){}:",
                v["id"],
                expires_days.map(|d| format!(", valid {d} days")).unwrap_or_default()
            );
            outln!("{}", v["token"].as_str().unwrap_or_default());
        }
        TokenCmd::List { user, json } => {
            let q: Vec<(&str, String)> = user.iter().map(|u| ("user", u.clone())).collect();
            let v = Value::Array(c.get_all("/api/v1/tokens", &q).await?);
            let tokens = v.as_array().cloned().unwrap_or_default();
            if *json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else if tokens.is_empty() {
                outln!("no tokens or sessions");
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        let state = if !t["revoked_ms"].is_null() {
                            format!("revoked {}", when(&t["revoked_ms"]))
                        } else if t["expires_ms"].is_null() {
                            "live, no expiry".into()
                        } else if t["expires_ms"].as_i64().is_some_and(|e| e <= censusd::store::now_ms()) {
                            format!("expired {}", when(&t["expires_ms"]))
                        } else {
                            format!("live until {}", when(&t["expires_ms"]))
                        };
                        vec![
                            t["id"].to_string(),
                            t["person"].as_str().unwrap_or("").to_string(),
                            t["kind"].as_str().unwrap_or("").to_string(),
                            t["label"].as_str().unwrap_or("").to_string(),
                            when(&t["created_ms"]),
                            state,
                        ]
                    })
                    .collect();
                table(&["ID", "PERSON", "KIND", "LABEL", "CREATED", "STATE"], &rows);
            }
        }
        TokenCmd::Revoke { id } => {
            c.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), None).await?;
            outln!("token {id} revoked");
        }
    }
    Ok(())
}

/// Run `censusd audit`: newest first, paging through the API as needed.
///
/// # Errors
/// The daemon refused or could not be reached.
pub async fn audit(c: &Client, a: &AuditArgs) -> anyhow::Result<()> {
    let mut records: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    while records.len() < a.limit {
        let mut q: Vec<(&str, String)> = vec![("limit", (a.limit - records.len()).min(1000).to_string())];
        for (k, v) in [("actor", &a.actor), ("action", &a.action), ("subject", &a.subject), ("since", &a.since)] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        if let Some(cur) = &cursor {
            q.push(("cursor", cur.clone()));
        }
        let page: Value = c.get_json("/api/v1/audit", &q).await?;
        records.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    if a.json {
        for r in &records {
            outln!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    if records.is_empty() {
        outln!("no audit records match");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                when(&r["at_ms"]),
                r["actor"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
                r["subject"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    table(&["WHEN", "ACTOR", "ACTION", "SUBJECT"], &rows);
    Ok(())
}
