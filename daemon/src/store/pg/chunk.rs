//! PostgreSQL: storing one part of a batch in a handful of statements,
//! whatever its size (see [`super::ingest`]).
//!
//! The part's host records are read in one query (`ip = ANY`), each
//! observation's effect on its host is decided in memory in order
//! ([`crate::store::shared::ingest::effect`], as SQLite decides it row by
//! row, so an address listed twice behaves the same), and then every table
//! is written with one array statement (`UNNEST`): the observations (ids
//! drawn first, so each host knows its latest), the hosts whole, their
//! change history, their name index, (MAC, address) pairs, served
//! certificates, and the batch's stored-row count and observation id range.

use std::collections::HashMap;

use postgres::types::{ToSql, Type};

use super::Tx;
use crate::store::shared::ingest::{Effect, HostRow, Known, PairSeen, Pairs, Served, effect};
use crate::store::{BatchMeta, ObservationRow, StoreError};

/// A part's host records as they stand after each observation, in the order first touched.
#[derive(Default)]
struct Hosts {
    rows: HashMap<String, HostRow>,
    touched: Vec<String>,
    touched_set: std::collections::HashSet<String>,
}

/// Names to index per address: whether the old ones are cleared first, and the names.
#[derive(Default)]
struct Names {
    order: Vec<String>,
    by_ip: HashMap<String, (bool, Vec<String>)>,
}

impl Names {
    fn set(&mut self, ip: &str, clear: bool, names: &[String]) {
        let entry = self.by_ip.entry(ip.to_string()).or_insert_with(|| {
            self.order.push(ip.to_string());
            (false, Vec::new())
        });
        if clear {
            *entry = (true, names.to_vec());
        } else {
            entry.1.extend(names.iter().cloned());
        }
    }
}

/// What storing one part did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stored {
    /// Observations stored.
    pub rows: usize,
    /// Hosts whose summary changed.
    pub changed_hosts: usize,
    /// Hosts seen for the first time (rows added to `hosts`).
    pub new_hosts: usize,
}

/// Store `rows` of `batch` from `agent` in the caller's transaction.
///
/// # Errors
/// [`StoreError::Db`] when a statement fails (the transaction then rolls back).
pub(super) fn store(
    tx: &mut Tx<'_>,
    batch: &BatchMeta,
    agent: &str,
    rows: &[ObservationRow<'_>],
) -> Result<Stored, StoreError> {
    if rows.is_empty() {
        return Ok(Stored::default());
    }
    let batch_id = batch.batch_id.as_str();
    let ids = draw_ids(tx, "observations", rows.len())?;
    insert_observations(tx, batch_id, rows, &ids)?;
    let mut hosts = read_hosts(tx, rows)?;
    let mut changes: Vec<(&str, i64, &'static str, Option<String>, String)> = Vec::new();
    let (mut names, mut pairs, mut served) = (Names::default(), Pairs::default(), Served::default());
    let (mut changed_hosts, mut new_hosts) = (0, 0);
    for (row, &id) in rows.iter().zip(&ids) {
        let ip = row.ip.as_str();
        for (port, sha) in &row.certificates {
            served.add(sha, ip, *port, row.last_ms);
        }
        let e = effect(hosts.rows.get(ip).map(|h| &h.known), row);
        match &e {
            Effect::New => {
                new_hosts += 1;
                names.set(ip, false, &row.names);
            }
            Effect::Newer { row: kept, changes: changed, .. } => {
                changed_hosts += usize::from(!changed.is_empty());
                changes
                    .extend(changed.iter().map(|(kind, old, new)| (ip, row.last_ms, *kind, old.clone(), new.clone())));
                if e.names_changed() {
                    names.set(ip, true, &kept.names);
                }
            }
            Effect::Older => {}
        }
        // A conflicting MAC's pair every time: whois tells by its last
        // sighting whether it still answers there (the host's own, by `hosts.mac`).
        let own = row.mac.as_deref().filter(|_| e.records_pair());
        for mac in own.into_iter().chain(row.conflicting_macs.iter().map(String::as_str)) {
            pairs.add(mac, ip, PairSeen { first_ms: row.first_ms, last_ms: row.last_ms, agent: agent.to_string() });
        }
        match hosts.rows.get_mut(ip) {
            Some(h) => h.apply(&e, row, agent, batch_id, id),
            None => {
                hosts.rows.insert(ip.to_string(), HostRow::first(row, agent, batch_id, id));
            }
        }
        if hosts.touched_set.insert(ip.to_string()) {
            hosts.touched.push(ip.to_string());
        }
    }
    write_served(tx, served)?;
    write_hosts(tx, &hosts)?;
    write_changes(tx, batch_id, &changes)?;
    write_names(tx, names)?;
    write_pairs(tx, pairs)?;
    let (lo, hi) = (ids[0], ids[ids.len() - 1]);
    tx.execute_typed(
        "UPDATE batches SET stored_rows = stored_rows + $2, first_obs = least(coalesce(first_obs, $3), $3),
           last_obs = greatest(coalesce(last_obs, $4), $4) WHERE batch_id = $1",
        &[(&batch_id, Type::TEXT), (&(rows.len() as i64), Type::INT8), (&lo, Type::INT8), (&hi, Type::INT8)],
    )?;
    Ok(Stored { rows: rows.len(), changed_hosts, new_hosts })
}

/// `n` new ids of `table`'s identity column, ascending: a range reserved
/// at once from its sequence (safe under the lock every insert into
/// `table` holds: the ingest lock for observations, the write lock for
/// alerts), so each row's id is known before it is written.
pub(super) fn draw_ids(tx: &mut Tx<'_>, table: &str, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = n as i64;
    let last: i64 = tx
        .query_typed_one(
            "SELECT setval(s, nextval(s) + $1 - 1)
             FROM (SELECT pg_get_serial_sequence($2, 'id')::regclass AS s) q",
            &[(&n, Type::INT8), (&table, Type::TEXT)],
        )?
        .get(0);
    Ok((last - n + 1..=last).collect())
}

fn insert_observations(
    tx: &mut Tx<'_>,
    batch_id: &str,
    rows: &[ObservationRow<'_>],
    ids: &[i64],
) -> Result<(), StoreError> {
    let ips: Vec<&str> = rows.iter().map(|r| r.ip.as_str()).collect();
    let macs: Vec<Option<&str>> = rows.iter().map(|r| r.mac.as_deref()).collect();
    let seen: Vec<i64> = rows.iter().map(|r| r.last_ms).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.raw.as_ref()).collect();
    tx.execute_typed(
        "INSERT INTO observations (id, batch_id, ip, mac, seen_ms, body)
         SELECT u.id, $1, u.ip, u.mac, u.seen, u.body FROM UNNEST($2, $3, $4, $5, $6) AS u(id, ip, mac, seen, body)",
        &[
            (&batch_id, Type::TEXT),
            (&ids, Type::INT8_ARRAY),
            (&ips, Type::TEXT_ARRAY),
            (&macs, Type::TEXT_ARRAY),
            (&seen, Type::INT8_ARRAY),
            (&bodies, Type::TEXT_ARRAY),
        ],
    )?;
    Ok(())
}

/// The stored records of the part's addresses.
fn read_hosts(tx: &mut Tx<'_>, rows: &[ObservationRow<'_>]) -> Result<Hosts, StoreError> {
    let ips: Vec<&str> = rows.iter().map(|r| r.ip.as_str()).collect();
    let found = tx.query_typed(
        "SELECT ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations, ports, names,
           fingerprint, sighting FROM hosts WHERE ip = ANY($1)",
        &[(&ips, Type::TEXT_ARRAY)],
    )?;
    let mut hosts = Hosts::default();
    for r in found {
        let row = HostRow {
            known: Known {
                summary: crate::ingest::HostSummary {
                    mac: r.get(1),
                    ports: r.get(8),
                    names: r.get(9),
                    fingerprint: r.get(10),
                },
                last_seen_ms: r.get(3),
                sighting: r.get(11),
            },
            first_seen_ms: r.get(2),
            last_agent: r.get(4),
            last_batch: r.get(5),
            latest_obs: r.get(6),
            observations: r.get(7),
        };
        hosts.rows.insert(r.get(0), row);
    }
    Ok(hosts)
}

/// Every touched host written whole (inserted or replaced).
fn write_hosts(tx: &mut Tx<'_>, hosts: &Hosts) -> Result<(), StoreError> {
    let rows: Vec<(&str, &HostRow)> =
        hosts.touched.iter().filter_map(|ip| hosts.rows.get(ip).map(|h| (ip.as_str(), h))).collect();
    let col = |f: fn(&HostRow) -> Option<&str>| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let num = |f: fn(&HostRow) -> i64| rows.iter().map(|(_, h)| f(h)).collect::<Vec<_>>();
    let ips: Vec<&str> = rows.iter().map(|(ip, _)| *ip).collect();
    let macs = col(|h| h.known.summary.mac.as_deref());
    let agents = col(|h| Some(h.last_agent.as_str()));
    let batches = col(|h| Some(h.last_batch.as_str()));
    let ports = col(|h| Some(h.known.summary.ports.as_str()));
    let names = col(|h| Some(h.known.summary.names.as_str()));
    let fps = col(|h| Some(h.known.summary.fingerprint.as_str()));
    let sightings = col(|h| h.known.sighting.as_deref());
    let (first, last) = (num(|h| h.first_seen_ms), num(|h| h.known.last_seen_ms));
    let (latest, count) = (num(|h| h.latest_obs), num(|h| h.observations));
    let params: [(&(dyn ToSql + Sync), Type); 12] = [
        (&ips, Type::TEXT_ARRAY),
        (&macs, Type::TEXT_ARRAY),
        (&first, Type::INT8_ARRAY),
        (&last, Type::INT8_ARRAY),
        (&agents, Type::TEXT_ARRAY),
        (&batches, Type::TEXT_ARRAY),
        (&latest, Type::INT8_ARRAY),
        (&count, Type::INT8_ARRAY),
        (&ports, Type::TEXT_ARRAY),
        (&names, Type::TEXT_ARRAY),
        (&fps, Type::TEXT_ARRAY),
        (&sightings, Type::TEXT_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO hosts (ip, mac, first_seen_ms, last_seen_ms, last_agent, last_batch, latest_obs, observations,
           ports, names, fingerprint, sighting)
         SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, first_seen_ms = excluded.first_seen_ms,
           last_seen_ms = excluded.last_seen_ms, last_agent = excluded.last_agent, last_batch = excluded.last_batch,
           latest_obs = excluded.latest_obs, observations = excluded.observations, ports = excluded.ports,
           names = excluded.names, fingerprint = excluded.fingerprint, sighting = excluded.sighting",
        &params,
    )?;
    Ok(())
}

/// The part's host changes, in the order they happened (ids ascending).
fn write_changes(
    tx: &mut Tx<'_>,
    batch_id: &str,
    changes: &[(&str, i64, &'static str, Option<String>, String)],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let ips: Vec<&str> = changes.iter().map(|c| c.0).collect();
    let at: Vec<i64> = changes.iter().map(|c| c.1).collect();
    let kinds: Vec<&str> = changes.iter().map(|c| c.2).collect();
    let old: Vec<Option<&str>> = changes.iter().map(|c| c.3.as_deref()).collect();
    let new: Vec<&str> = changes.iter().map(|c| c.4.as_str()).collect();
    tx.execute_typed(
        "INSERT INTO host_changes (ip, at_ms, batch_id, kind, old, new)
         SELECT u.ip, u.at, $1, u.kind, u.old, u.new
         FROM UNNEST($2, $3, $4, $5, $6) WITH ORDINALITY AS u(ip, at, kind, old, new, n) ORDER BY u.n",
        &[
            (&batch_id, Type::TEXT),
            (&ips, Type::TEXT_ARRAY),
            (&at, Type::INT8_ARRAY),
            (&kinds, Type::TEXT_ARRAY),
            (&old, Type::TEXT_ARRAY),
            (&new, Type::TEXT_ARRAY),
        ],
    )?;
    Ok(())
}

/// The name index (`host_names`): cleared where a host's names changed, then each name added.
fn write_names(tx: &mut Tx<'_>, names: Names) -> Result<(), StoreError> {
    let cleared: Vec<&str> = names
        .order
        .iter()
        .filter(|ip| names.by_ip.get(*ip).is_some_and(|(clear, _)| *clear))
        .map(String::as_str)
        .collect();
    if !cleared.is_empty() {
        tx.execute_typed("DELETE FROM host_names WHERE ip = ANY($1)", &[(&cleared, Type::TEXT_ARRAY)])?;
    }
    let (mut list, mut ips): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for ip in &names.order {
        for n in names.by_ip.get(ip).map(|(_, n)| n.as_slice()).unwrap_or_default() {
            list.push(n);
            ips.push(ip);
        }
    }
    if list.is_empty() {
        return Ok(());
    }
    tx.execute_typed(
        "INSERT INTO host_names (name, ip) SELECT * FROM UNNEST($1, $2) ON CONFLICT DO NOTHING",
        &[(&list, Type::TEXT_ARRAY), (&ips, Type::TEXT_ARRAY)],
    )?;
    Ok(())
}

/// (MAC, address) pairs: the span widened, the agent that of the latest sighting.
fn write_pairs(tx: &mut Tx<'_>, pairs: Pairs) -> Result<(), StoreError> {
    let rows = pairs.into_rows();
    if rows.is_empty() {
        return Ok(());
    }
    let macs: Vec<&str> = rows.iter().map(|((m, _), _)| m.as_str()).collect();
    let ips: Vec<&str> = rows.iter().map(|((_, ip), _)| ip.as_str()).collect();
    let first: Vec<i64> = rows.iter().map(|(_, s)| s.first_ms).collect();
    let last: Vec<i64> = rows.iter().map(|(_, s)| s.last_ms).collect();
    let agents: Vec<&str> = rows.iter().map(|(_, s)| s.agent.as_str()).collect();
    tx.execute_typed(
        "INSERT INTO mac_ip (mac, ip, first_seen_ms, last_seen_ms, last_agent) SELECT * FROM UNNEST($1, $2, $3, $4, $5)
         ON CONFLICT (mac, ip) DO UPDATE SET
           first_seen_ms = least(mac_ip.first_seen_ms, excluded.first_seen_ms),
           last_seen_ms = greatest(mac_ip.last_seen_ms, excluded.last_seen_ms),
           last_agent = CASE WHEN excluded.last_seen_ms >= mac_ip.last_seen_ms
                        THEN excluded.last_agent ELSE mac_ip.last_agent END",
        &[
            (&macs, Type::TEXT_ARRAY),
            (&ips, Type::TEXT_ARRAY),
            (&first, Type::INT8_ARRAY),
            (&last, Type::INT8_ARRAY),
            (&agents, Type::TEXT_ARRAY),
        ],
    )?;
    Ok(())
}

/// Where and since when each certificate is served (the certificate inventory).
fn write_served(tx: &mut Tx<'_>, served: Served) -> Result<(), StoreError> {
    let rows = served.into_rows();
    if rows.is_empty() {
        return Ok(());
    }
    let shas: Vec<&str> = rows.iter().map(|((s, _, _), _)| s.as_str()).collect();
    let ips: Vec<&str> = rows.iter().map(|((_, ip, _), _)| ip.as_str()).collect();
    let ports: Vec<i64> = rows.iter().map(|((_, _, p), _)| i64::from(*p)).collect();
    let first: Vec<i64> = rows.iter().map(|(_, (f, _))| *f).collect();
    let last: Vec<i64> = rows.iter().map(|(_, (_, l))| *l).collect();
    tx.execute_typed(
        "INSERT INTO served_certificates (sha256, ip, port, first_ms, last_ms) SELECT * FROM UNNEST($1, $2, $3, $4, $5)
         ON CONFLICT (sha256, ip, port) DO UPDATE SET
           first_ms = least(served_certificates.first_ms, excluded.first_ms),
           last_ms = greatest(served_certificates.last_ms, excluded.last_ms)",
        &[
            (&shas, Type::TEXT_ARRAY),
            (&ips, Type::TEXT_ARRAY),
            (&ports, Type::INT8_ARRAY),
            (&first, Type::INT8_ARRAY),
            (&last, Type::INT8_ARRAY),
        ],
    )?;
    Ok(())
}
