//! Evidence of the coverage-source alerts ([`crate::sources`]).

use serde::{Deserialize, Serialize};

use super::{AssetRef, HostSeen};
use crate::sources::{Field, SourceRecord};

/// A source as an alert names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceRef {
    /// Its name.
    pub source: String,
    /// When its list was loaded (unix ms); `null`: never.
    pub loaded_ms: Option<i64>,
    /// The field that identifies its devices.
    pub key: Field,
}

/// `not-in-source` evidence: an asset in service, on the network, absent
/// from sources its type is expected in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotInSources {
    /// The asset.
    pub asset: AssetRef,
    /// The sources that do not list it.
    pub sources: Vec<SourceRef>,
    /// Where it answers now.
    pub seen: Vec<HostSeen>,
}

/// A source's record of a device, and why it is that asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceListing {
    /// The source.
    #[serde(flatten)]
    pub source: SourceRef,
    /// The record as loaded.
    pub record: SourceRecord,
    /// The rule and value that tied it to the asset (`mac 00:1b:…`).
    pub matched_by: String,
}

/// `retired-still-enrolled` evidence: a decommissioned or disposed asset
/// still listed by sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StillEnrolled {
    /// The asset.
    pub asset: AssetRef,
    /// Where it is still listed.
    pub listed: Vec<SourceListing>,
}

/// `source-unknown` evidence: a device a source lists that matches no asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnknownToRegister {
    /// The source.
    #[serde(flatten)]
    pub source: SourceRef,
    /// The record as loaded.
    pub record: SourceRecord,
}

/// `source-stale` evidence: a source not loaded within its maximum age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaleSource {
    /// The source.
    #[serde(flatten)]
    pub source: SourceRef,
    /// Its maximum age, days.
    pub max_age_days: u32,
    /// Records in its last list (still judged).
    pub records: usize,
}
