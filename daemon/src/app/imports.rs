//! Imports of other tools' findings as observations: an nmap report goes
//! through the same checks, store and reconciliation as an agent's sweep.

use ipnet::IpNet;
use serde::Serialize;

use super::ingest::{BatchReceipt, IngestError, Reconcile, accept_with};
use crate::connectors::nmap::{self, ImportSummary, NmapError};
use crate::people::Principal;
use crate::reconcile::Reconciler;
use crate::store::{AgentRecord, Store, StoreError};

static IMPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The agent name nmap imports are delivered as unless another is given.
pub const DEFAULT_AGENT: &str = "nmap";

/// What an nmap import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NmapImport {
    /// The agent the batch was delivered as.
    pub agent: String,
    /// The agent was created for this import (with the segment).
    pub agent_created: bool,
    /// What the report held and whether it counts as a complete sweep.
    pub report: ImportSummary,
    /// The batch's receipt (a re-import of the same report is a duplicate, stored once).
    pub receipt: BatchReceipt,
}

/// Why an import was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A parameter is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// `segment`, `agent`.
        field: String,
        /// Why.
        message: String,
    },
    /// The report is not a complete, well-formed nmap XML report.
    #[error("the nmap report is refused at {0}")]
    Report(#[from] NmapError),
    /// The batch it made was refused by the ingest checks.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: impl Into<String>) -> ImportError {
    ImportError::Invalid { field: field.into(), message: message.into() }
}

/// The batch id of a report: the same report imported again for the same
/// segment and agent is the same batch, so it is acknowledged, not stored
/// twice (a SHA-256 of the three, cut to a UUID's 16 bytes).
pub fn batch_id(xml: &[u8], segment: &IpNet, agent: &str) -> uuid::Uuid {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    h.update(xml);
    h.update(segment.to_string().as_bytes());
    h.update(b"\0");
    h.update(agent.as_bytes());
    let d = h.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The agent to deliver as: `name` if it exists and covers `segment`;
/// created with `segment` when it does not exist (audited, its token
/// discarded: it only ever delivers imports).
fn agent_for(
    store: &dyn Store,
    who: &Principal,
    name: &str,
    segment: &IpNet,
    now_ms: i64,
) -> Result<(AgentRecord, bool), ImportError> {
    let find = |store: &dyn Store| -> Result<Option<AgentRecord>, StoreError> {
        Ok(store.agents()?.into_iter().find(|a| a.name == name))
    };
    if let Some(a) = find(store)? {
        if !a.segments.iter().any(|s| s.contains(segment)) {
            let has: Vec<String> = a.segments.iter().map(ToString::to_string).collect();
            return Err(invalid(
                "agent",
                format!("agent `{name}` covers {} but not {segment}; pass another --agent", has.join(", ")),
            ));
        }
        return Ok((a, false));
    }
    match super::agents::add(store, who, name, &[segment.to_string()], now_ms) {
        Ok(_) => {}
        Err(super::agents::AgentError::Invalid { field, message }) => return Err(invalid(&field, message)),
        Err(super::agents::AgentError::Store(StoreError::Conflict(_))) => {} // created meanwhile
        Err(super::agents::AgentError::Store(e)) => return Err(e.into()),
        Err(super::agents::AgentError::NotFound(m)) => return Err(invalid("agent", m)),
    }
    let a = find(store)?.ok_or_else(|| invalid("agent", format!("agent `{name}` could not be created")))?;
    Ok((a, true))
}

/// The widest segment an import may name: a /16 of IPv4, a /64 of IPv6 (as
/// the agent's own target limit; nmap does not sweep wider in practice).
fn too_wide(segment: &IpNet) -> bool {
    match segment {
        IpNet::V4(n) => n.prefix_len() < 16,
        IpNet::V6(n) => n.prefix_len() < 64,
    }
}

/// Whether the audit log holds the provenance of batch `batch_id` from
/// `agent`: a daemon killed between storing a batch and recording it left
/// none, and the re-import (a duplicate, stored once) writes it then.
fn provenance_kept(store: &dyn Store, agent: &str, batch_id: &str) -> Result<bool, StoreError> {
    let records = store.audit(&crate::audit::AuditFilter {
        action: Some(crate::audit::AuditAction::ObservationsImport),
        subject: Some(format!("agent:{agent}")),
        limit: 10_000,
        ..Default::default()
    })?;
    Ok(records.iter().any(|r| r.entry.after.as_ref().is_some_and(|a| a["batch_id"] == batch_id)))
}

/// Import an nmap `-oX` report of `segment` (a CIDR) as agent `agent`
/// (default [`DEFAULT_AGENT`]), reconciled before this returns.
///
/// # Errors
/// [`ImportError`]; nothing is stored when the report or a parameter is refused.
pub fn nmap(
    reconciler: &Reconciler,
    who: &Principal,
    xml: &[u8],
    segment: &str,
    agent: Option<&str>,
    now_ms: i64,
) -> Result<NmapImport, ImportError> {
    // One import at a time: the same report imported twice at once must
    // give one receipt that stored it and one that says it was a duplicate
    // (a large batch is stored in parts; concurrent parts made receipts
    // that each claimed a share).
    let _one = IMPORTS.lock().unwrap_or_else(|p| p.into_inner());
    let store = reconciler.store().as_ref();
    let segment: IpNet = crate::net::parse_net(segment, false)
        .ok_or_else(|| invalid("segment", format!("`{}` is not a CIDR", segment.escape_debug())))?;
    if too_wide(&segment) {
        return Err(invalid(
            "segment",
            format!("{segment} is wider than a /16 (IPv4) or a /64 (IPv6): name the segment scanned"),
        ));
    }
    let name = agent.map(str::trim).filter(|a| !a.is_empty()).unwrap_or(DEFAULT_AGENT);
    // The report first: a bad one creates no agent either.
    let run = nmap::parse(xml)?;
    let (record, created) = agent_for(store, who, name, &segment, now_ms)?;
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (mut batch, report) = nmap::to_batch(&run, segment, &format!("nmap {segment}"), &record.name, now);
    batch.batch_id = batch_id(xml, &segment, &record.name);
    let body = census_proto::encode_batch(&batch);
    let receipt = accept_with(store, reconciler, &record, &body, now_ms, Reconcile::Now)?;
    if !receipt.duplicate || !provenance_kept(store, &record.name, &receipt.batch_id)? {
        // The report's provenance, kept: who imported which nmap run, as
        // which batch and agent, and whether it counted as a sweep. The
        // ingest path is the agents' (whose deliveries are not audited), so
        // the record follows the stored batch rather than sharing its
        // transaction: a crash in between keeps the batch and loses only this.
        super::audit::record(
            store,
            &who.name,
            crate::audit::AuditAction::ObservationsImport,
            format!("agent:{}", record.name),
            None,
            Some(serde_json::json!({
                "source": "nmap",
                "batch_id": receipt.batch_id,
                "segment": segment.to_string(),
                "report": &report,
                "stored": receipt.stored,
            })),
            now_ms,
        );
    }
    tracing::info!(
        agent = %record.name,
        actor = %who.name,
        segment = %segment,
        hosts = report.hosts_up,
        complete = report.complete,
        duplicate = receipt.duplicate,
        nmap_version = report.nmap_version.as_deref().unwrap_or(""),
        "nmap report imported"
    );
    Ok(NmapImport { agent: record.name, agent_created: created, report, receipt })
}
