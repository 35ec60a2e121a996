//! What an import would do to the register: which assets it adds, which it
//! changes (field by field, before and after) and which it retires (moves
//! to decommissioned or disposed). `--dry-run` prints the plan; applying it
//! is one transaction. The plan is made by [`super::patch::merge`].

use serde::Serialize;

use super::model::Asset;

/// One field an import changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// The field (CSV column).
    pub field: String,
    /// Its value before (JSON; null when unset).
    pub before: serde_json::Value,
    /// Its value after.
    pub after: serde_json::Value,
}

/// One asset an import changes, with the fields that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// Asset tag.
    pub tag: String,
    /// Fields whose value changes.
    pub fields: Vec<String>,
    /// The same fields with their values before and after.
    pub changes: Vec<FieldChange>,
}

/// What an import would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportPlan {
    /// Tags of new assets.
    pub added: Vec<String>,
    /// Existing assets that change (retirements included).
    pub changed: Vec<Change>,
    /// Tags of assets the import moves into decommissioned or disposed.
    pub retired: Vec<String>,
    /// Assets the import leaves as they are.
    pub unchanged: usize,
    /// Empty cells left as they are (an empty cell clears only with `clear_empty`).
    pub kept_empty: usize,
}

/// Names of the fields that differ between two versions of an asset.
pub fn changed_fields(old: &Asset, new: &Asset) -> Vec<String> {
    super::patch::field_changes(old, new).into_iter().map(|f| f.field).collect()
}
