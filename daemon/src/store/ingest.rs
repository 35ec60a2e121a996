//! Storing batches: one transaction per batch, idempotent on the batch id.
//!
//! Every accepted host observation is kept as sent (the evidence), and the
//! per-address summary in `hosts` is updated: first and last seen, by which
//! agent, and — when the open ports, names, OS guess or MAC differ from what
//! was last seen — a row in `host_changes` saying what changed. Batches can
//! arrive out of order (agents spool while the daemon is away), so "last"
//! means latest by observation time, not by arrival.

use rusqlite::{Connection, OptionalExtension, params};

use super::{HostChange, HostRecord, IngestOutcome, StoreError, now_ms};
use census_proto::{FingerprintKind, HostObservation, PortState, RawBatch};

/// Unix milliseconds of a timestamp.
pub fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// What the store keeps of a batch besides its observations.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    /// Batch id.
    pub batch_id: String,
    /// Segment name.
    pub segment: String,
    /// Sweep start (unix ms).
    pub started_ms: i64,
    /// Sweep end (unix ms).
    pub finished_ms: i64,
    /// Sweep complete.
    pub complete: bool,
    /// Completeness as JSON.
    pub completeness: String,
    /// Hosts in the batch, accepted or not.
    pub total_hosts: usize,
    /// Networks swept (JSON).
    pub targets: String,
    /// Networks left out (JSON).
    pub excluded: String,
}

impl BatchMeta {
    /// The metadata of a decoded batch.
    pub fn of(b: &RawBatch<'_>) -> Self {
        BatchMeta {
            batch_id: b.batch_id.to_string(),
            segment: b.segment.name.clone(),
            started_ms: ms(b.started_at),
            finished_ms: ms(b.finished_at),
            complete: b.completeness.complete,
            completeness: serde_json::to_string(&b.completeness).unwrap_or_default(),
            total_hosts: b.hosts.len(),
            targets: serde_json::to_string(&b.segment.targets).unwrap_or_else(|_| "[]".into()),
            excluded: serde_json::to_string(&b.segment.excluded).unwrap_or_else(|_| "[]".into()),
        }
    }
}

/// One observation to store: the fields the summary needs, and the
/// observation's JSON exactly as the agent sent it (the evidence).
#[derive(Debug, Clone)]
pub struct ObservationRow<'a> {
    /// Address.
    pub ip: String,
    /// MAC, when seen.
    pub mac: Option<String>,
    /// First answer (unix ms).
    pub first_ms: i64,
    /// Last answer (unix ms).
    pub last_ms: i64,
    /// Open ports, comma-separated.
    pub ports: String,
    /// Names, sorted, comma-separated.
    pub names: String,
    /// Most confident OS family guess.
    pub fingerprint: String,
    /// The observation as sent.
    pub raw: &'a str,
    /// What reconciliation reads of it (JSON of a `Sighting`).
    pub sighting: String,
}

impl<'a> ObservationRow<'a> {
    /// The row for a decoded observation, its raw JSON and its sighting (computed once by the caller).
    pub fn new(h: &HostObservation, raw: &'a str, sighting: &crate::reconcile::Sighting) -> Self {
        let (ports, names, fingerprint) = summaries(h);
        let sighting = serde_json::to_string(sighting).unwrap_or_default();
        ObservationRow {
            ip: h.ip.to_string(),
            mac: h.mac.as_ref().map(|m| m.address.to_string()),
            first_ms: ms(h.first_seen),
            last_ms: ms(h.last_seen),
            ports,
            names,
            fingerprint,
            raw,
            sighting,
        }
    }
}

/// Compact comparable summaries of what can change on a host.
fn summaries(h: &HostObservation) -> (String, String, String) {
    let ports: Vec<String> =
        h.ports.iter().filter(|p| p.state == PortState::Open).map(|p| p.port.to_string()).collect();
    let mut names: Vec<&str> = h.names.iter().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let fp = h
        .fingerprints
        .iter()
        .filter(|f| f.kind == FingerprintKind::OsFamily)
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
        .map(|f| f.value.clone())
        .unwrap_or_default();
    (ports.join(","), names.join(","), fp)
}

/// Store a batch's accepted observations.
pub fn ingest(
    c: &mut Connection,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<IngestOutcome, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let batch_id = &batch.batch_id;
    let seen: bool = tx
        .query_row("SELECT 1 FROM batches WHERE batch_id = ?1", [&batch_id], |_| Ok(true))
        .optional()?
        .unwrap_or(false);
    if seen {
        return Ok(IngestOutcome { duplicate: true, stored: 0, changed_hosts: 0 });
    }
    let received = now_ms();
    tx.execute(
        "INSERT INTO batches (batch_id, agent, segment, started_ms, finished_ms, received_ms, complete, completeness, hosts, rejected, targets, excluded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            batch_id,
            agent,
            batch.segment,
            batch.started_ms,
            batch.finished_ms,
            received,
            batch.complete,
            batch.completeness,
            rows.len() as i64,
            batch.total_hosts.saturating_sub(rows.len()) as i64,
            batch.targets,
            batch.excluded,
        ],
    )?;
    let mut changed_hosts = 0;
    {
        let mut insert_obs = tx.prepare_cached(
            "INSERT INTO observations (batch_id, ip, mac, seen_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut select_host =
            tx.prepare_cached("SELECT mac, last_seen_ms, ports, names, fingerprint FROM hosts WHERE ip = ?1")?;
        let mut insert_host = tx.prepare_cached(
            "INSERT INTO hosts (ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations, ports, names, fingerprint, sighting)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
        )?;
        let mut update_latest = tx.prepare_cached(
            "UPDATE hosts SET mac = coalesce(?2, mac), last_seen_ms = ?3, last_agent = ?4, last_batch = ?5, latest_obs = ?6,
             observations = observations + 1, ports = ?7, names = ?8, fingerprint = ?9,
             first_seen_ms = min(first_seen_ms, ?10), sighting = ?11 WHERE ip = ?1",
        )?;
        let mut update_older = tx.prepare_cached(
            "UPDATE hosts SET observations = observations + 1, first_seen_ms = min(first_seen_ms, ?2) WHERE ip = ?1",
        )?;
        let mut insert_change = tx.prepare_cached(
            "INSERT INTO host_changes (ip, at_ms, batch_id, kind, old, new) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut upsert_pair = tx.prepare_cached(
            "INSERT INTO mac_ip (mac, ip, first_seen_ms, last_seen_ms, last_agent) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (mac, ip) DO UPDATE SET
               first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
               last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
               last_agent = CASE WHEN excluded.last_seen_ms >= last_seen_ms THEN excluded.last_agent ELSE last_agent END",
        )?;
        // Names are kept comma-separated in `hosts.names`; `host_names` indexes them for whois.
        let mut clear_names = tx.prepare_cached("DELETE FROM host_names WHERE ip = ?1")?;
        let mut set_names = tx.prepare_cached(
            "WITH RECURSIVE split(name, rest) AS (SELECT '', ?2 || ',' UNION ALL
               SELECT substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1) FROM split WHERE rest != '')
             INSERT OR IGNORE INTO host_names (name, ip) SELECT name, ?1 FROM split WHERE name != ''",
        )?;
        for row in rows {
            let ObservationRow {
                ip,
                mac,
                first_ms: first,
                last_ms: last,
                ports,
                names,
                fingerprint: fp,
                raw,
                sighting,
            } = row;
            let (first, last) = (*first, *last);
            insert_obs.execute(params![batch_id, ip, mac, last, raw])?;
            let obs_id = tx.last_insert_rowid();
            let existing: Option<(Option<String>, i64, String, String, String)> = select_host
                .query_row([&ip], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .optional()?;
            match existing {
                None => {
                    insert_host
                        .execute(params![ip, mac, first, last, agent, batch_id, obs_id, ports, names, fp, sighting])?;
                    set_names.execute(params![ip, names])?;
                }
                Some((old_mac, old_last, old_ports, old_names, old_fp)) if last >= old_last => {
                    let mut changed = false;
                    for (kind, old, new) in [
                        ("ports", Some(old_ports), ports),
                        ("names", Some(old_names), names),
                        ("fingerprint", Some(old_fp), fp),
                        ("mac", old_mac, &mac.clone().unwrap_or_default()),
                    ] {
                        // A missing MAC (seen from another segment) is not a change of MAC.
                        if kind == "mac" && mac.is_none() {
                            continue;
                        }
                        if old.as_deref() != Some(new.as_str()) {
                            insert_change.execute(params![ip, last, batch_id, kind, old, new])?;
                            changed = true;
                        }
                    }
                    changed_hosts += usize::from(changed);
                    update_latest
                        .execute(params![ip, mac, last, agent, batch_id, obs_id, ports, names, fp, first, sighting])?;
                    clear_names.execute([ip])?;
                    set_names.execute(params![ip, names])?;
                }
                Some(_) => {
                    update_older.execute(params![ip, first])?;
                }
            }
            if let Some(m) = mac {
                upsert_pair.execute(params![m, ip, first, last, agent])?;
            }
        }
    }
    tx.commit()?;
    Ok(IngestOutcome { duplicate: false, stored: rows.len(), changed_hosts })
}

/// What is known about one address, with its latest observation and changes.
pub fn host(c: &Connection, ip: &str) -> Result<Option<HostRecord>, StoreError> {
    let row: Option<(Option<String>, i64, i64, String, i64, i64)> = c
        .query_row(
            "SELECT mac, first_seen_ms, last_seen_ms, last_agent, latest_obs, observations FROM hosts WHERE ip = ?1",
            [ip],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((mac, first, last, agent, latest, count)) = row else { return Ok(None) };
    let body: String = c.query_row("SELECT body FROM observations WHERE id = ?1", [latest], |r| r.get(0))?;
    let mut st = c.prepare_cached(
        "SELECT at_ms, batch_id, kind, old, new FROM host_changes WHERE ip = ?1 ORDER BY id DESC LIMIT 100",
    )?;
    let changes = st
        .query_map([ip], |r| {
            Ok(HostChange { at_ms: r.get(0)?, batch_id: r.get(1)?, kind: r.get(2)?, old: r.get(3)?, new: r.get(4)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(HostRecord {
        ip: ip.to_string(),
        mac,
        first_seen_ms: first,
        last_seen_ms: last,
        last_agent: agent,
        observations: count,
        latest: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        changes,
    }))
}
