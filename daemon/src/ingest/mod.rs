//! A delivered batch turned into what the store writes: checked
//! ([`checks`]), its times bounded by arrival, its scope clipped to the
//! agent's, each accepted observation with the summaries the store keeps
//! and the [`Sighting`] reconciliation reads. Pure: no I/O here.

pub mod checks;

use census_proto::{FingerprintKind, HostObservation, PortState, RawBatch};
use serde::Serialize;

use crate::reconcile::{BatchContext, Sighting};
use crate::store::AgentRecord;
pub use checks::Refusal;

/// Unix milliseconds of a timestamp.
pub fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// What the store keeps of a batch besides its observations.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    /// Batch id.
    pub batch_id: String,
    /// The agent that delivered it.
    pub agent: String,
    /// Segment name.
    pub segment: String,
    /// Sweep start (unix ms, bounded by arrival).
    pub started_ms: i64,
    /// Sweep end (unix ms, bounded by arrival).
    pub finished_ms: i64,
    /// Arrival (unix ms).
    pub received_ms: i64,
    /// The batch was dated in the future and clamped to its arrival.
    pub clamped: bool,
    /// Sweep complete.
    pub complete: bool,
    /// Completeness as JSON.
    pub completeness: String,
    /// Hosts in the batch, accepted or not.
    pub total_hosts: usize,
    /// Networks swept, clipped to the agent's segments (JSON).
    pub targets: String,
    /// Networks left out (JSON).
    pub excluded: String,
    /// Ports the complete TCP sweep probed, compact.
    pub probed: Option<String>,
    /// The agent's interval for this segment (ms).
    pub interval_ms: Option<i64>,
    /// The next sweep is due by (unix ms).
    pub next_due_ms: Option<i64>,
}

/// One observation to store: the fields the summary needs, and the
/// observation's JSON exactly as the agent sent it (the evidence).
#[derive(Debug, Clone)]
pub struct ObservationRow<'a> {
    /// Address (canonical).
    pub ip: String,
    /// MAC, when seen.
    pub mac: Option<String>,
    /// First answer (unix ms).
    pub first_ms: i64,
    /// Last answer (unix ms).
    pub last_ms: i64,
    /// Open ports, comma-separated.
    pub ports: String,
    /// Names, sorted, one per entry.
    pub names: Vec<String>,
    /// Most confident OS family guess.
    pub fingerprint: String,
    /// The observation as sent (re-encoded when sent over
    /// [`RAW_AS_SENT`] bytes with more than Census reads: [`kept_body`]).
    pub raw: std::borrow::Cow<'a, str>,
    /// What reconciliation reads of it (JSON of a `Sighting`).
    pub sighting: String,
    /// Heard by passive listening only: folded onto the stored host
    /// ([`fold_heard`]) rather than replacing what a sweep saw.
    pub passive: bool,
    /// TLS certificates served on its open ports: (port, SHA-256 lowercase hex).
    pub certificates: Vec<(u16, String)>,
    /// Other MACs that answered for the address in the same sweep (an
    /// identity conflict), canonical, each once, the host's own left out:
    /// recorded as (MAC, address) pairs beside its own, so whois finds the
    /// address by any MAC that answers for it.
    pub conflicting_macs: Vec<String>,
}

/// Largest observation stored as its agent sent it, in bytes. Every field
/// Census reads is capped at ingest (`checks`), but an object on the wire
/// may carry keys Census does not read (a newer agent's fields), which
/// nothing caps: an agent's `mac` object with a 3 MB extra key was stored
/// and shown whole (review of 2026-12-07). Over this size an observation is
/// kept as Census reads it, re-encoded, whichever is smaller; under it the
/// bytes as sent are kept (no re-encoding on the common path: a swept host
/// is about 600 bytes).
pub const RAW_AS_SENT: usize = 64 * 1024;

/// The body to store for `h`, sent as `raw` (see [`RAW_AS_SENT`]).
pub fn kept_body<'a>(h: &HostObservation, raw: &'a str) -> std::borrow::Cow<'a, str> {
    if raw.len() <= RAW_AS_SENT {
        return raw.into();
    }
    match serde_json::to_string(h) {
        Ok(read) if read.len() < raw.len() => read.into(),
        _ => raw.into(),
    }
}

impl<'a> ObservationRow<'a> {
    /// The row for a checked observation, its raw JSON and its sighting.
    pub fn new(h: &HostObservation, raw: &'a str, sighting: &Sighting) -> Self {
        let ports: Vec<String> =
            h.ports.iter().filter(|p| p.state == PortState::Open).map(|p| p.port.to_string()).collect();
        let mut names: Vec<String> = h.names.iter().map(|n| n.name.to_ascii_lowercase()).collect();
        names.sort_unstable();
        names.dedup();
        let fingerprint = h
            .fingerprints
            .iter()
            .filter(|f| f.kind == FingerprintKind::OsFamily)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .map(|f| f.value.clone())
            .unwrap_or_default();
        ObservationRow {
            ip: h.ip.to_string(),
            mac: h.mac.as_ref().map(|m| m.address.to_string()),
            first_ms: ms(h.first_seen),
            last_ms: ms(h.last_seen),
            ports: ports.join(","),
            names,
            fingerprint,
            raw: kept_body(h, raw),
            sighting: serde_json::to_string(sighting).unwrap_or_default(),
            passive: sighting.passive,
            certificates: h
                .ports
                .iter()
                .filter(|p| p.state == PortState::Open)
                .filter_map(|p| Some((p.port.0, p.service.as_deref()?.tls.as_ref()?.sha256.to_ascii_lowercase())))
                .collect(),
            conflicting_macs: conflicting(h),
        }
    }
}

/// `h`'s conflicting MACs, canonical, each once, its own MAC left out (as
/// [`crate::reconcile::rules::conflicting_macs`] judges a conflict).
fn conflicting(h: &HostObservation) -> Vec<String> {
    let own = h.mac.as_ref().map(|m| m.address);
    let mut out: Vec<String> = Vec::new();
    for m in h.conflicting_macs.iter().filter(|m| Some(m.address) != own) {
        let m = m.address.to_string();
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// What the store last recorded of an address, to tell what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    /// MAC.
    pub mac: Option<String>,
    /// Open ports, comma-separated.
    pub ports: String,
    /// Names: a JSON list (older databases: comma-separated).
    pub names: String,
    /// OS family guess.
    pub fingerprint: String,
}

/// An observation folded onto the stored host, when it must be: a passive
/// one by [`fold_heard`]; a sweep's keeps the DHCP names passive listening
/// heard for the same MAC ([`Sighting::keep_heard_names`]). `None`: store
/// the row as it is.
pub fn fold_onto_stored<'a>(
    before: &HostSummary,
    stored_sighting: &str,
    row: &ObservationRow<'a>,
) -> Option<ObservationRow<'a>> {
    if row.passive {
        return Some(fold_heard(before, stored_sighting, row));
    }
    // Cheap test first: most stored sightings carry no name heard passively.
    if !stored_sighting.contains("\"dhcp\"") {
        return None;
    }
    let stored = serde_json::from_str::<Sighting>(stored_sighting).ok()?;
    let mut swept = serde_json::from_str::<Sighting>(&row.sighting).ok()?;
    if !swept.keep_heard_names(&stored) {
        return None;
    }
    let mut names: Vec<String> = swept.names.iter().map(|(n, _)| n.clone()).collect();
    names.dedup();
    Some(ObservationRow { names, sighting: serde_json::to_string(&swept).ok()?, ..row.clone() })
}

/// A passive observation folded onto the host a sweep stored: ports stay as
/// swept, names are the union, the OS guess only fills an empty one, and
/// the sighting is refreshed by [`Sighting::heard`] (`stored_sighting` is
/// the host's stored JSON; one that does not parse is replaced). Without
/// this, a passive batch a minute after each sweep rewrote every host's
/// ports to none and back, a false change each time in the host's history.
pub fn fold_heard<'a>(before: &HostSummary, stored_sighting: &str, row: &ObservationRow<'a>) -> ObservationRow<'a> {
    let mut names: Vec<String> = serde_json::from_str::<Vec<String>>(&before.names)
        .unwrap_or_else(|_| before.names.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect());
    names.extend(row.names.iter().cloned());
    names.sort_unstable();
    names.dedup();
    let sighting =
        match (serde_json::from_str::<Sighting>(stored_sighting), serde_json::from_str::<Sighting>(&row.sighting)) {
            (Ok(stored), Ok(heard)) => {
                serde_json::to_string(&stored.heard(&heard)).unwrap_or_else(|_| row.sighting.clone())
            }
            _ => row.sighting.clone(),
        };
    ObservationRow {
        ports: before.ports.clone(),
        names,
        fingerprint: if before.fingerprint.is_empty() { row.fingerprint.clone() } else { before.fingerprint.clone() },
        sighting,
        ..row.clone()
    }
}

/// What changed on an address between its stored summary and a newer
/// observation: (`ports` | `names` | `fingerprint` | `mac`, before, after).
/// A missing MAC (the host seen through a router) is not a change of MAC.
pub fn host_changes(before: &HostSummary, row: &ObservationRow<'_>) -> Vec<(&'static str, Option<String>, String)> {
    let names = serde_json::to_string(&row.names).unwrap_or_else(|_| "[]".into());
    let old_names = if before.names.starts_with('[') || before.names.is_empty() {
        before.names.clone()
    } else {
        let legacy: Vec<&str> = before.names.split(',').collect();
        serde_json::to_string(&legacy).unwrap_or_default()
    };
    let mut out = Vec::new();
    for (kind, old, new) in [
        ("ports", Some(before.ports.clone()), row.ports.clone()),
        ("names", Some(if old_names.is_empty() { "[]".into() } else { old_names }), names),
        ("fingerprint", Some(before.fingerprint.clone()), row.fingerprint.clone()),
    ] {
        if old.as_deref() != Some(new.as_str()) {
            out.push((kind, old, new));
        }
    }
    if let Some(m) = &row.mac
        && before.mac.as_deref() != Some(m.as_str())
    {
        out.push(("mac", before.mac.clone(), m.clone()));
    }
    out
}

/// An observation the daemon refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// Its address.
    pub ip: String,
    /// Why.
    pub reason: String,
}

/// Batches of at least this many hosts are checked on every core.
const PARALLEL_HOSTS: usize = 256;

/// One host checked: refused (the whole batch is), rejected (listed in the
/// receipt), or accepted — with its row and sighting when inside the agent's
/// segments, and what was set aside of it.
type Checked<'a> =
    Result<Result<(std::net::IpAddr, Option<(ObservationRow<'a>, Sighting)>, Option<String>), Rejected>, Refusal>;

/// A batch ready for the store.
pub struct Prepared<'a> {
    /// The batch's metadata.
    pub meta: BatchMeta,
    /// Accepted observations.
    pub rows: Vec<ObservationRow<'a>>,
    /// Their sightings, for reconciliation.
    pub sightings: Vec<Sighting>,
    /// Observations refused.
    pub rejected: Vec<Rejected>,
    /// Observations stored with a part set aside, and what.
    pub set_aside: Vec<Rejected>,
}

/// Check a decoded batch from `agent` arriving at `received_ms` and turn it into rows.
///
/// # Errors
/// The field at fault when the batch as a whole is malformed, out of range or over a limit.
pub fn prepare<'a>(raw: &RawBatch<'a>, agent: &AgentRecord, received_ms: i64) -> Result<Prepared<'a>, Refusal> {
    let env = checks::envelope(raw, &agent.segments, received_ms)?;
    let ctx = BatchContext {
        segment: raw.segment.name.clone(),
        agent: agent.name.clone(),
        batch: raw.batch_id.to_string(),
        probed: env.probed.as_deref().map(std::sync::Arc::from),
        enriched: raw.completeness.enriched,
    };
    let (raw_started, raw_finished) = (ms(raw.started_at), ms(raw.finished_at));
    // Each host is decoded, checked and summarised on its own (on every core
    // for a large batch); what depends on the others — an address listed
    // twice — is checked after, in order, so the first fault named is the
    // same as if they had been taken one by one.
    let indices: Vec<usize> = (0..raw.hosts.len()).collect();
    let checked = crate::reconcile::parallel_map_over(&indices, PARALLEL_HOSTS, |&i| -> Checked<'a> {
        let mut h = raw.host(i).map_err(|e| match e {
            census_proto::DecodeError::Malformed { path, message } => Refusal { field: path, message },
            other => Refusal { field: format!("hosts[{i}]"), message: other.to_string() },
        })?;
        let note = match checks::host(&mut h, i, raw_started, raw_finished, &env) {
            Ok(note) => note,
            Err(Ok(reason)) => return Ok(Err(Rejected { ip: h.ip.to_string(), reason })),
            Err(Err(refusal)) => return Err(refusal),
        };
        if !agent.segments.iter().any(|s| s.contains(&h.ip)) {
            return Ok(Ok((h.ip, None, None)));
        }
        let sighting = Sighting::of(&h, &ctx);
        let row = ObservationRow::new(&h, raw.hosts[i].get(), &sighting);
        Ok(Ok((h.ip, Some((row, sighting)), note)))
    });
    let mut rows = Vec::with_capacity(raw.hosts.len());
    let mut sightings = Vec::with_capacity(raw.hosts.len());
    let mut rejected = Vec::new();
    let mut set_aside = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(raw.hosts.len());
    for (i, host) in checked.into_iter().enumerate() {
        let (ip, accepted, note) = match host? {
            Ok(h) => h,
            Err(r) => {
                rejected.push(r);
                continue;
            }
        };
        if !seen.insert(ip) {
            return Err(Refusal { field: format!("hosts[{i}].ip"), message: format!("{ip} is listed twice") });
        }
        match accepted {
            Some((row, sighting)) => {
                rows.push(row);
                sightings.push(sighting);
                if let Some(reason) = note {
                    set_aside.push(Rejected { ip: ip.to_string(), reason });
                }
            }
            None => rejected.push(Rejected { ip: ip.to_string(), reason: "outside the agent's segments".into() }),
        }
    }
    let (interval_ms, next_due_ms) = env.schedule.map_or((None, None), |(i, d)| (Some(i), Some(d)));
    let meta = BatchMeta {
        batch_id: raw.batch_id.to_string(),
        agent: agent.name.clone(),
        segment: raw.segment.name.clone(),
        started_ms: env.started_ms,
        finished_ms: env.finished_ms,
        received_ms,
        clamped: env.clamped,
        complete: raw.completeness.complete,
        completeness: serde_json::to_string(&raw.completeness).unwrap_or_default(),
        total_hosts: raw.hosts.len(),
        targets: serde_json::to_string(&env.targets).unwrap_or_else(|_| "[]".into()),
        excluded: serde_json::to_string(&env.excluded).unwrap_or_else(|_| "[]".into()),
        probed: env.probed,
        interval_ms,
        next_due_ms,
    };
    Ok(Prepared { meta, rows, sightings, rejected, set_aside })
}
