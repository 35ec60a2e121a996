//! Read use cases: whois and the reconciliation report, judged with the
//! reconciler's view of presence.

use crate::reconcile::Reconciler;
use crate::report::{ReportRow, build};
use crate::store::StoreError;
use crate::whois::{WhoisAnswer, answer};

/// What is this host? `None` when nothing at all is known about `query`.
///
/// # Errors
/// The store failed.
pub fn whois(rec: &Reconciler, query: &str, now_ms: i64) -> Result<Option<WhoisAnswer>, StoreError> {
    let Some(data) = rec.store().whois(query)? else { return Ok(None) };
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    Ok(Some(answer(query.trim(), data, |h| {
        crate::reconcile::rules::presence_at(&h.ip, h.last_seen_ms, &sweeps, settings, now_ms)
    })))
}

/// Every asset's reconciliation status, and unregistered devices.
///
/// # Errors
/// The store failed.
pub fn report(rec: &Reconciler, now_ms: i64) -> Result<Vec<ReportRow>, StoreError> {
    let data = rec.store().report_data()?;
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    Ok(build(&data, |state| match (&state.last_ip, state.last_seen_ms) {
        (Some(ip), Some(last)) => crate::reconcile::rules::presence_at(ip, last, &sweeps, settings, now_ms).present,
        _ => false,
    }))
}
