//! What an import would do to the register: which assets it adds, which it
//! changes (and which fields), and which it retires (moves to decommissioned
//! or disposed). `--dry-run` prints the plan; applying it is one transaction.

use std::collections::HashMap;

use serde::Serialize;

use super::model::Asset;

/// One asset an import changes, with the fields that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Asset tag.
    pub tag: String,
    /// Fields whose value changes.
    pub fields: Vec<String>,
}

/// What an import would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportPlan {
    /// Tags of new assets.
    pub added: Vec<String>,
    /// Existing assets that change (retirements included).
    pub changed: Vec<Change>,
    /// Tags of assets the import moves into decommissioned or disposed.
    pub retired: Vec<String>,
    /// Assets the import leaves as they are.
    pub unchanged: usize,
}

/// Names of the fields that differ between two versions of an asset.
pub fn changed_fields(old: &Asset, new: &Asset) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// Compare an import with the current register.
pub fn plan(current: &[Asset], incoming: &[Asset]) -> ImportPlan {
    let by_tag: HashMap<&str, &Asset> = current.iter().map(|a| (a.tag.as_str(), a)).collect();
    let mut p = ImportPlan::default();
    for new in incoming {
        match by_tag.get(new.tag.as_str()) {
            None => p.added.push(new.tag.clone()),
            Some(old) => {
                // The lifecycle date is derived when absent from the import.
                let mut new = new.clone();
                if new.lifecycle_since.is_none() && new.lifecycle == old.lifecycle {
                    new.lifecycle_since = old.lifecycle_since;
                }
                let fields = changed_fields(old, &new);
                if fields.is_empty() {
                    p.unchanged += 1;
                    continue;
                }
                if new.lifecycle.retired() && !old.lifecycle.retired() {
                    p.retired.push(new.tag.clone());
                }
                p.changed.push(Change { tag: new.tag.clone(), fields });
            }
        }
    }
    p
}
