//! Storing batches, idempotent on the batch id (and the id belongs to the
//! agent that sent it first).
//!
//! A batch is stored in parts of at most [`CHUNK`] observations (sized by
//! the store to hold the writer about 2 ms each), each its own short
//! transaction, so one agent's 100,000-host batch never holds the database
//! away from another agent (the writer lock is fair, see
//! [`super`]): [`begin`] records the batch as *receiving*, [`chunk`]
//! stores observations, [`finish`] marks it stored — with `synchronous=FULL`,
//! so everything before it is on disk — and only then does the agent get
//! its receipt. A crash or a cut connection in between leaves a receiving
//! batch that no sweep or reconcile sees; the agent resends it (it has no
//! receipt) and storing resumes where it stopped: each part records how many
//! of the batch's observations are stored (`batches.stored_rows`, in the
//! part's own transaction), and a resent batch — the same file from the
//! agent's spool, checked the same way — skips that many. No index over
//! (batch, address) is kept for this: it would cost every observation an
//! index write of its batch id.
//!
//! Every accepted host observation is kept as sent (the evidence), and the
//! per-address summary in `hosts` is updated: first and last seen, by which
//! agent, and — when the open ports, names, OS guess or MAC differ from what
//! was last seen — a row in `host_changes` saying what changed. Batches can
//! arrive out of order (agents spool while the daemon is away), so "last"
//! means latest by observation time, not by arrival.

use rusqlite::{Connection, OptionalExtension, params};

use crate::ingest::HostSummary;
pub use crate::ingest::{BatchMeta, ObservationRow};
use crate::store::shared::ingest::{Effect, Known, effect, names_json};
use crate::store::{HostChange, HostRecord, StoreError};

/// Observations stored per transaction at most; a batch this small is
/// stored whole, in one.
pub const CHUNK: usize = 512;

/// Where a batch stands when its delivery begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// Stored before: acknowledge it again, store nothing.
    Duplicate,
    /// New (`0`), or a delivery that was cut off after this many of its
    /// accepted observations were stored: store the rest.
    Store(usize),
}

/// Record the batch (as receiving) unless it is known.
///
/// # Errors
/// [`StoreError::Conflict`] when another agent sent this batch id.
pub fn begin(c: &mut Connection, batch: &BatchMeta, agent: &str, accepted: usize) -> Result<Begun, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let begun = begin_in(&tx, batch, agent, accepted)?;
    tx.commit()?;
    Ok(begun)
}

/// A batch of at most [`CHUNK`] observations, stored whole in one
/// transaction (one turn at the writer, one fsync). Returns `None` for a duplicate.
///
/// # Errors
/// [`StoreError::Conflict`] when another agent sent this batch id.
pub fn whole(
    c: &mut Connection,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<Option<(usize, usize)>, StoreError> {
    c.pragma_update(None, "synchronous", "FULL")?;
    let r = (|| -> Result<Option<(usize, usize)>, StoreError> {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if begin_in(&tx, batch, agent, rows.len())? == Begun::Duplicate {
            return Ok(None);
        }
        let stored = chunk_in(&tx, batch, agent, rows)?;
        finish_in(&tx, &batch.batch_id)?;
        tx.commit()?;
        Ok(Some(stored))
    })();
    c.pragma_update(None, "synchronous", "NORMAL")?;
    r
}

fn begin_in(
    tx: &rusqlite::Transaction<'_>,
    batch: &BatchMeta,
    agent: &str,
    accepted: usize,
) -> Result<Begun, StoreError> {
    let batch_id = &batch.batch_id;
    let known: Option<(String, bool, i64)> = tx
        .query_row("SELECT agent, receiving, stored_rows FROM batches WHERE batch_id = ?1", [&batch_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match known {
        Some((o, _, _)) if o != agent => {
            return Err(StoreError::Conflict(format!("batch id {batch_id} (sent by another agent)")));
        }
        Some((_, false, _)) => return Ok(Begun::Duplicate),
        Some((_, true, stored)) => return Ok(Begun::Store(usize::try_from(stored).unwrap_or(0))),
        None => {}
    }
    tx.execute(
        "INSERT OR IGNORE INTO scopes (agent, segment, targets, excluded) VALUES (?1, ?2, ?3, ?4)",
        params![agent, batch.segment, batch.targets, batch.excluded],
    )?;
    let scope: i64 = tx.query_row(
        "SELECT id FROM scopes WHERE agent = ?1 AND segment = ?2 AND targets = ?3 AND excluded = ?4",
        params![agent, batch.segment, batch.targets, batch.excluded],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO batches (batch_id, agent, segment, started_ms, finished_ms, received_ms, complete, completeness,
           hosts, rejected, targets, excluded, scope_id, probed, clamped, interval_ms, next_due_ms, reconciled,
           receiving)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, 1)",
        params![
            batch_id,
            agent,
            batch.segment,
            batch.started_ms,
            batch.finished_ms,
            batch.received_ms,
            batch.complete,
            batch.completeness,
            accepted as i64,
            batch.total_hosts.saturating_sub(accepted) as i64,
            batch.targets,
            batch.excluded,
            scope,
            batch.probed,
            batch.clamped,
            batch.interval_ms,
            batch.next_due_ms,
        ],
    )?;
    Ok(Begun::Store(0))
}

/// Mark the batch stored, durably: the agent may delete its copy now.
pub fn finish(c: &mut Connection, batch_id: &str) -> Result<(), StoreError> {
    c.pragma_update(None, "synchronous", "FULL")?;
    let r = (|| -> Result<(), StoreError> {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        finish_in(&tx, batch_id)?;
        tx.commit()?;
        Ok(())
    })();
    c.pragma_update(None, "synchronous", "NORMAL")?;
    r
}

fn finish_in(tx: &rusqlite::Transaction<'_>, batch_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE batches SET receiving = 0, seq = (SELECT coalesce(max(seq), 0) + 1 FROM batches)
         WHERE batch_id = ?1 AND receiving = 1",
        [batch_id],
    )?;
    Ok(())
}

/// Store some of a batch's accepted observations, the next after the `at`
/// this delivery found or stored; returns (stored, changed hosts).
///
/// # Errors
/// [`StoreError::Busy`] when another delivery of the batch got ahead
/// ([`crate::store::shared::ingest::part_at`]).
pub fn chunk(
    c: &mut Connection,
    batch: &BatchMeta,
    agent: &str,
    at: usize,
    rows: &[ObservationRow<'_>],
) -> Result<(usize, usize), StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let stored: Option<i64> = tx
        .prepare_cached("SELECT stored_rows FROM batches WHERE batch_id = ?1 AND receiving = 1")?
        .query_row([&batch.batch_id], |r| r.get(0))
        .optional()?;
    crate::store::shared::ingest::part_at(&batch.batch_id, stored, at)?;
    let out = chunk_in(&tx, batch, agent, rows)?;
    tx.commit()?;
    Ok(out)
}

fn chunk_in(
    tx: &rusqlite::Transaction<'_>,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<(usize, usize), StoreError> {
    let batch_id = &batch.batch_id;
    let mut changed_hosts = 0;
    let mut stored = 0;
    let mut ids: Option<(i64, i64)> = None;
    {
        let mut insert_obs = tx.prepare_cached(
            "INSERT INTO observations (batch_id, ip, mac, seen_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut select_host = tx
            .prepare_cached("SELECT mac, last_seen_ms, ports, names, fingerprint, sighting FROM hosts WHERE ip = ?1")?;
        let mut insert_host = tx.prepare_cached(
            "INSERT INTO hosts (ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations, ports, names, fingerprint, sighting)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
        )?;
        let mut update_latest = tx.prepare_cached(
            "UPDATE hosts SET mac = coalesce(?2, mac), last_seen_ms = ?3, last_agent = ?4, last_batch = ?5, latest_obs = ?6,
             observations = observations + 1, ports = ?7, names = ?8, fingerprint = ?9,
             first_seen_ms = min(first_seen_ms, ?10), sighting = ?11 WHERE ip = ?1",
        )?;
        // A passive observation refreshes a swept host without replacing what the sweep saw.
        let mut update_heard = tx.prepare_cached(
            "UPDATE hosts SET mac = coalesce(?2, mac), last_seen_ms = ?3, observations = observations + 1,
             names = ?4, fingerprint = ?5, first_seen_ms = min(first_seen_ms, ?6), sighting = ?7 WHERE ip = ?1",
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
        // Where and since when each certificate is served (the certificate inventory).
        let mut upsert_served = tx.prepare_cached(
            "INSERT INTO served_certificates (sha256, ip, port, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (sha256, ip, port) DO UPDATE SET
               first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)",
        )?;
        // `hosts.names` keeps the names as a JSON list; `host_names` indexes each one for whois.
        let mut clear_names = tx.prepare_cached("DELETE FROM host_names WHERE ip = ?1")?;
        let mut set_name = tx.prepare_cached("INSERT OR IGNORE INTO host_names (name, ip) VALUES (?1, ?2)")?;
        for row in rows {
            let ObservationRow { ip, mac, first_ms: first, last_ms: last, ports, names, fingerprint: fp, .. } = row;
            let (first, last) = (*first, *last);
            for (port, sha) in &row.certificates {
                upsert_served.execute(params![sha, ip, port, last])?;
            }
            let first_names = names_json(names);
            insert_obs.execute(params![batch_id, ip, mac, last, row.raw.as_ref()])?;
            stored += 1;
            let obs_id = tx.last_insert_rowid();
            ids = Some(ids.map_or((obs_id, obs_id), |(lo, hi): (i64, i64)| (lo.min(obs_id), hi.max(obs_id))));
            let known: Option<Known> = select_host
                .query_row([&ip], |r| {
                    Ok(Known {
                        summary: HostSummary {
                            mac: r.get(0)?,
                            ports: r.get(2)?,
                            names: r.get(3)?,
                            fingerprint: r.get(4)?,
                        },
                        last_seen_ms: r.get(1)?,
                        sighting: r.get(5)?,
                    })
                })
                .optional()?;
            let effect = effect(known.as_ref(), row);
            match &effect {
                Effect::New => {
                    insert_host.execute(params![
                        ip,
                        mac,
                        first,
                        last,
                        agent,
                        batch_id,
                        obs_id,
                        ports,
                        first_names,
                        fp,
                        row.sighting
                    ])?;
                    for n in names {
                        set_name.execute(params![n, ip])?;
                    }
                }
                Effect::Newer { row: kept, changes, .. } => {
                    for (kind, old, new) in changes {
                        insert_change.execute(params![ip, last, batch_id, kind, old, new])?;
                    }
                    changed_hosts += usize::from(!changes.is_empty());
                    let names = names_json(&kept.names);
                    let (fp, sighting) = (&kept.fingerprint, &kept.sighting);
                    if kept.passive {
                        update_heard.execute(params![ip, mac, last, names, fp, first, sighting])?;
                    } else {
                        update_latest.execute(params![
                            ip, mac, last, agent, batch_id, obs_id, ports, names, fp, first, sighting
                        ])?;
                    }
                    // Only what changed is rewritten: a host seen the same way every sweep costs two writes.
                    if effect.names_changed() {
                        clear_names.execute([ip])?;
                        for n in &kept.names {
                            set_name.execute(params![n, ip])?;
                        }
                    }
                }
                Effect::Older => {
                    update_older.execute(params![ip, first])?;
                }
            }
            // A conflicting MAC's pair every time: whois tells by its last
            // sighting whether it still answers there (the host's own, by `hosts.mac`).
            let own = mac.as_ref().filter(|_| effect.records_pair());
            for m in own.into_iter().chain(&row.conflicting_macs) {
                upsert_pair.execute(params![m, ip, first, last, agent])?;
            }
        }
    }
    if let Some((lo, hi)) = ids {
        tx.prepare_cached(
            "UPDATE batches SET stored_rows = stored_rows + ?2, first_obs = min(coalesce(first_obs, ?3), ?3),
               last_obs = max(coalesce(last_obs, ?4), ?4) WHERE batch_id = ?1",
        )?
        .execute(params![batch_id, stored as i64, lo, hi])?;
    }
    Ok((stored, changed_hosts))
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
        latest: crate::store::shared::ingest::shown_observation(&body),
        changes,
    }))
}

#[cfg(test)]
mod tests {
    use crate::store::prelude::*;
    use census_proto::{
        AgentId, Batch, HostObservation, MacAddr, MacInfo, SchemaVersion, SegmentScope, SweepCompleteness, Technique,
    };

    use super::{Begun, begin, chunk};
    use crate::store::{AgentRecord, SqliteStore, now_ms};

    fn body(hosts: u32) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let host = |n: u32| HostObservation {
            ip: std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 1)) + n).into(),
            mac: Some(MacInfo::new(MacAddr([0x00, 0x1b, 0x21, 0, (n >> 8) as u8, n as u8]))),
            conflicting_macs: vec![],
            seen_by: vec![Technique::Arp],
            rtt_us: None,
            reply_ttl: None,
            syn_ack: None,
            ports: vec![],
            names: vec![],
            fingerprints: vec![],
            ipv6: None,
            first_seen: now,
            last_seen: now,
        };
        census_proto::encode_batch(&Batch {
            schema_version: SchemaVersion::CURRENT,
            batch_id: uuid::Uuid::new_v4(),
            agent_id: AgentId("a".into()),
            segment: SegmentScope {
                name: "lab".into(),
                targets: vec!["198.18.0.0/22".parse().unwrap()],
                excluded: vec![],
            },
            started_at: now,
            finished_at: now,
            completeness: SweepCompleteness {
                addresses_in_scope: 1024,
                probes_sent: 1024,
                replies: u64::from(hosts),
                estimated_loss: 0.0,
                rate_limit_pps: 100,
                rate_achieved_pps: 100.0,
                complete: true,
                techniques: vec![],
                enriched: false,
            },
            schedule: None,
            hosts: (0..hosts).map(host).collect(),
        })
    }

    /// A delivery cut off after some of its parts (the connection dropped,
    /// the daemon was killed) is resumed by the agent's resend: each
    /// observation ends up stored once, and the batch counts from its receipt on.
    #[test]
    fn a_delivery_cut_off_after_some_parts_resumes_and_stores_each_observation_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("census.db")).unwrap();
        let segments = vec!["198.18.0.0/22".parse().unwrap()];
        store.add_agent("a", &segments, &[7; 32], &mut crate::store::unaudited()).unwrap();
        let agent = AgentRecord { name: "a".into(), segments, created_ms: 0, revoked_ms: None };
        let body = body(600); // more than CHUNK: stored in parts
        let raw = census_proto::decode_raw_batch(&body).unwrap();
        let p = crate::ingest::prepare(&raw, &agent, now_ms()).unwrap();
        const PART: usize = 64;
        let cut = 2 * PART;
        store
            .write(|c| {
                assert_eq!(begin(c, &p.meta, "a", p.rows.len())?, Begun::Store(0));
                chunk(c, &p.meta, "a", 0, &p.rows[..PART])?;
                chunk(c, &p.meta, "a", PART, &p.rows[PART..cut])
            })
            .unwrap();
        let start = crate::store::BacklogCursor::default();
        assert!(store.pending_batches(start, 1000).unwrap().0.is_empty(), "a receiving batch is not reconciled");
        let resent = store.ingest(&p.meta, "a", &p.rows).unwrap();
        assert_eq!((resent.duplicate, resent.stored), (false, 600 - cut));
        let rows = || store.read(|c| Ok(c.query_row("SELECT count(*) FROM observations", [], |r| r.get::<_, i64>(0))?));
        assert_eq!(rows().unwrap(), 600);
        assert_eq!(store.observation_count().unwrap(), 600);
        for ip in ["198.18.0.1", "198.18.0.129", "198.18.2.88"] {
            assert_eq!(store.host(ip).unwrap().unwrap().observations, 1, "{ip}");
        }
        // Stored now, and waiting for reconciliation; read back in parts of at most 256 sightings.
        let (mut cursor, mut parts) = (start, Vec::new());
        loop {
            let (page, next) = store.pending_batches(cursor, 256).unwrap();
            if page.is_empty() {
                break;
            }
            cursor = next;
            parts.extend(page.into_iter().map(|b| (b.sightings.len(), b.more)));
        }
        assert_eq!(parts, [(256, true), (256, true), (88, false)]);
        let again = store.ingest(&p.meta, "a", &p.rows).unwrap();
        assert_eq!((again.duplicate, again.stored), (true, 0));
        assert_eq!(rows().unwrap(), 600);
    }
}
