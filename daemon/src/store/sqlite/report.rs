//! Loading what the reconciliation report is built from (see [`crate::report`]).

use rusqlite::Connection;

use crate::alerts::AlertFilter;
use crate::report::ReportData;
use crate::store::StoreError;

/// The register, every asset's reconciliation state and the live alerts.
pub fn report_data(c: &Connection) -> Result<ReportData, StoreError> {
    Ok(ReportData {
        assets: super::assets::all(c)?,
        states: super::reconcile::asset_states(c, None)?,
        alerts: super::alerts::list(c, &AlertFilter { limit: Some(1_000_000), ..Default::default() })?,
    })
}
