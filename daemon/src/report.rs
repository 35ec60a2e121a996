//! The reconciliation report: every asset with its status and the evidence
//! behind it, and every unregistered device on the network — the audit's
//! "show me the register matches reality" in one file. Pure: the store
//! loads the register, reconciliation state and live alerts; this ranks.

use std::collections::HashMap;

use serde::Serialize;

use crate::alerts::{Alert, AlertKind};
use crate::reconcile::AssetState;
use crate::register::Asset;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// Asset tag, or the device key of an unregistered device.
    pub subject: String,
    /// Asset name ("" for unregistered devices).
    pub name: String,
    /// Asset type.
    pub asset_type: String,
    /// Owner.
    pub owner: String,
    /// Lifecycle stage (`unregistered` for devices).
    pub lifecycle: String,
    /// `ok`, `not-answering`, `never-seen`, or the most serious live alert kind.
    pub status: String,
    /// Last seen (RFC 3339), if ever.
    pub last_seen: String,
    /// Where.
    pub last_ip: String,
    /// By which agent.
    pub last_agent: String,
    /// Live alerts, `kind#id`, `;`-separated.
    pub alerts: String,
    /// The summaries of those alerts.
    pub evidence: String,
}

/// What the report is built from.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// The register.
    pub assets: Vec<Asset>,
    /// Reconciliation state per asset.
    pub states: HashMap<String, AssetState>,
    /// Live alerts.
    pub alerts: Vec<Alert>,
}

/// Most serious first: the order a report's status names the worst live alert in.
pub const PRIORITY: &[AlertKind] = &[
    AlertKind::ShouldBeRetired,
    AlertKind::PendingInUse,
    AlertKind::Missing,
    AlertKind::IdentityConflict,
    AlertKind::CoverageGap,
    AlertKind::OutOfSupport,
    AlertKind::NewService,
    AlertKind::UnknownAsset,
];

/// Build the report; `present(state)` tells whether an asset last seen so is on the network now.
pub fn build(data: &ReportData, present: impl Fn(&AssetState) -> bool) -> Vec<ReportRow> {
    let fmt = crate::reconcile::assets::fmt_ms;
    let mut by_tag: HashMap<&str, Vec<&Alert>> = HashMap::new();
    for a in &data.alerts {
        if let Some(t) = &a.tag {
            by_tag.entry(t.as_str()).or_default().push(a);
        }
    }
    let mut rows = Vec::with_capacity(data.assets.len());
    for asset in &data.assets {
        let state = data.states.get(&asset.tag).cloned().unwrap_or_default();
        let live = by_tag.get(asset.tag.as_str()).cloned().unwrap_or_default();
        let worst = PRIORITY.iter().find(|k| live.iter().any(|a| a.kind == **k));
        let status = match (worst, state.last_seen_ms) {
            (Some(k), _) => k.as_str().to_string(),
            (None, Some(_)) if present(&state) => "ok".into(),
            (None, Some(_)) => "not-answering".into(),
            (None, None) => "never-seen".into(),
        };
        rows.push(ReportRow {
            subject: asset.tag.clone(),
            name: asset.name.clone(),
            asset_type: asset.asset_type.to_string(),
            owner: asset.owner.clone(),
            lifecycle: asset.lifecycle.to_string(),
            status,
            last_seen: state.last_seen_ms.map(fmt).unwrap_or_default(),
            last_ip: state.last_ip.unwrap_or_default(),
            last_agent: state.last_agent.unwrap_or_default(),
            alerts: live.iter().map(|a| format!("{}#{}", a.kind, a.id)).collect::<Vec<_>>().join(";"),
            evidence: live.iter().map(|a| a.summary.clone()).collect::<Vec<_>>().join("; "),
        });
    }
    for a in data.alerts.iter().filter(|a| a.kind == AlertKind::UnknownAsset) {
        rows.push(ReportRow {
            subject: a.subject.clone(),
            name: String::new(),
            asset_type: String::new(),
            owner: String::new(),
            lifecycle: "unregistered".into(),
            status: AlertKind::UnknownAsset.as_str().into(),
            last_seen: fmt(a.last_seen_ms),
            last_ip: a.ip.clone().unwrap_or_default(),
            last_agent: a.agent.clone().unwrap_or_default(),
            alerts: format!("{}#{}", a.kind, a.id),
            evidence: a.summary.clone(),
        });
    }
    rows
}

/// The report as CSV, every cell safe to open in a spreadsheet (see
/// [`crate::register::csv::neutralise`]).
///
/// # Errors
/// Writing the CSV failed.
pub fn to_csv(rows: &[ReportRow]) -> Result<Vec<u8>, csv::Error> {
    use crate::register::csv::neutralise;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "subject",
        "name",
        "asset_type",
        "owner",
        "lifecycle",
        "status",
        "last_seen",
        "last_ip",
        "last_agent",
        "alerts",
        "evidence",
    ])?;
    for r in rows {
        let cells = [
            &r.subject,
            &r.name,
            &r.asset_type,
            &r.owner,
            &r.lifecycle,
            &r.status,
            &r.last_seen,
            &r.last_ip,
            &r.last_agent,
            &r.alerts,
            &r.evidence,
        ];
        w.write_record(cells.iter().map(|c| neutralise(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
