//! Persistence behind a [`Store`] trait, with SQLite ([`SqliteStore`]) as
//! the implementation: agents and their token hashes, ingested batches and
//! per-host observation history, and the managed register with its change
//! history.
//!
//! Every write is one transaction: a batch, an asset change or a whole
//! register import is stored completely or not at all.

mod assets;
mod ingest;
mod schema;
mod sqlite;

use ipnet::IpNet;
use serde::Serialize;

use crate::auth::TokenHash;
use crate::register::{Asset, plan::ImportPlan};

pub use ingest::{BatchMeta, ObservationRow};
pub use sqlite::SqliteStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// A name or tag is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// Nothing by that name.
    #[error("{0} not found")]
    NotFound(String),
    /// The database was written by a newer Census.
    #[error("the database schema is version {found}, newer than this censusd knows ({known}); upgrade censusd")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
}

/// An agent as the daemon knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Name (the agent's `agent.id`).
    pub name: String,
    /// Segments its observations must fall in.
    pub segments: Vec<IpNet>,
    /// When it was added (unix ms).
    pub created_ms: i64,
    /// When its token was revoked (unix ms), if it was.
    pub revoked_ms: Option<i64>,
}

/// What ingesting a batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// The batch had been stored before: nothing was written.
    pub duplicate: bool,
    /// Host observations stored.
    pub stored: usize,
    /// Hosts whose ports, names, fingerprint or MAC changed.
    pub changed_hosts: usize,
}

/// One entry of a host's change history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostChange {
    /// When (unix ms).
    pub at_ms: i64,
    /// Which batch showed it.
    pub batch_id: String,
    /// `ports`, `names`, `fingerprint` or `mac`.
    pub kind: String,
    /// Before (JSON text), absent on first sight.
    pub old: Option<String>,
    /// After (JSON text).
    pub new: String,
}

/// What is known about one observed address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRecord {
    /// The address.
    pub ip: String,
    /// Last MAC seen on it.
    pub mac: Option<String>,
    /// First sighting (unix ms).
    pub first_seen_ms: i64,
    /// Last sighting (unix ms).
    pub last_seen_ms: i64,
    /// Agent that saw it last.
    pub last_agent: String,
    /// Observations stored for it.
    pub observations: i64,
    /// The latest observation as sent.
    pub latest: serde_json::Value,
    /// What changed over time, newest first.
    pub changes: Vec<HostChange>,
}

/// One entry of an asset's change history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetChange {
    /// When (unix ms).
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// `create`, `update`, `delete` or `import`.
    pub action: String,
    /// Fields that changed.
    pub fields: Vec<String>,
    /// Lifecycle before and after, when it changed.
    pub lifecycle: Option<(String, String)>,
}

/// Persistence for the daemon.
pub trait Store: Send + Sync + 'static {
    /// Register an agent with its token hash and segments.
    fn add_agent(&self, name: &str, segments: &[IpNet], token: &TokenHash) -> Result<(), StoreError>;
    /// Revoke an agent's token; false when no such active agent.
    fn revoke_agent(&self, name: &str) -> Result<bool, StoreError>;
    /// The active agent holding this token.
    fn agent_by_token(&self, token: &TokenHash) -> Result<Option<AgentRecord>, StoreError>;
    /// Every agent.
    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError>;

    /// Store a batch's accepted observations, idempotently on the batch id.
    fn ingest(&self, batch: &BatchMeta, agent: &str, rows: &[ObservationRow<'_>]) -> Result<IngestOutcome, StoreError>;
    /// What is known about one address.
    fn host(&self, ip: &str) -> Result<Option<HostRecord>, StoreError>;
    /// Number of stored observations.
    fn observation_count(&self) -> Result<i64, StoreError>;

    /// The whole register, by tag.
    fn assets(&self) -> Result<Vec<Asset>, StoreError>;
    /// One asset.
    fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError>;
    /// Create an asset.
    fn create_asset(&self, asset: &Asset, actor: &str) -> Result<Asset, StoreError>;
    /// Replace an asset; returns the stored version.
    fn update_asset(&self, asset: &Asset, actor: &str) -> Result<Asset, StoreError>;
    /// Delete an asset; false when absent.
    fn delete_asset(&self, tag: &str, actor: &str) -> Result<bool, StoreError>;
    /// Apply an import (its plan computed against the current register) in one transaction.
    fn import_assets(&self, assets: &[Asset], actor: &str) -> Result<ImportPlan, StoreError>;
    /// An asset's change history, newest first.
    fn asset_history(&self, tag: &str) -> Result<Vec<AssetChange>, StoreError>;
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
