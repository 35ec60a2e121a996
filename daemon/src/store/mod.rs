//! Persistence behind a [`Store`] trait, with SQLite ([`SqliteStore`], the
//! default) and PostgreSQL ([`PostgresStore`]) behind it ([`open`]): agents and their token hashes, ingested batches and
//! per-host observation history, and the managed register with its change
//! history.
//!
//! Every write is stored completely or not at all: an asset change or a
//! whole register import is one transaction; a batch is stored in short
//! parts but exists for sweeps, reconciliation and the agent's receipt only
//! once its last part is in (see `store/ingest.rs`).

pub mod conformance;
pub mod migrate;
mod pg;
mod shared;
mod sqlite;
pub mod testing;
mod types;

/// Every store trait, for calling store methods on a concrete backend
/// (`use censusd::store::prelude::*;`); through `&dyn Store` they need no import.
pub mod prelude {
    pub use super::{
        AgentStore, AlertStore, AuditStore, HealthStore, ObservationStore, OutboxStore, PeopleStore, QueryStore,
        ReconcileStore, RegisterStore, SavedQueryStore, Store,
    };
}

use ipnet::IpNet;
use serde::Serialize;

use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord};
use crate::auth::TokenHash;
use crate::people::{Person, Principal, Role, TokenInfo};
use crate::register::Asset;

pub use crate::ingest::{BatchMeta, ObservationRow, ms};
pub use pg::PostgresStore;
pub use shared::reconcile::{StoredAsset, StoredPage, decode_page};
pub use sqlite::SqliteStore;
pub use sqlite::backup;
pub use types::{BacklogCursor, CommitOutcome, DaySightings, OutboxItem, RollUp, SightingSelect};

use std::collections::HashMap;

use crate::alerts::lifecycle::{Change, Refused};
use crate::alerts::{Alert, AlertFilter, AlertHistoryEntry, AlertKind, Suppression};
use crate::reconcile::{AssetState, DeviceRecord, Plan, Sighting, SweepRow};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (the backend's own message).
    #[error("database error: {0}")]
    Db(String),
    /// The database cannot be reached just now — the server is down or
    /// restarting, no pooled connection came free in time, the connection
    /// dropped, SQLite's file stayed locked past its busy timeout. Nothing
    /// was written; the same call may succeed when retried (the API answers
    /// 503 with `Retry-After`, as `/healthz` does).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Another call is doing what this one asks just now — another
    /// delivery of the same batch is storing it (an agent that resent
    /// after its own timeout while the first delivery went on). Nothing
    /// was written; the same call may succeed when retried (the API
    /// answers 503 with `Retry-After`).
    #[error("{0}")]
    Busy(String),
    /// A name or tag is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The change is not allowed in the current state (e.g. resolving a resolved alert).
    #[error("{0}")]
    Refused(String),
    /// A file could not be prepared (directory, permissions).
    #[error("{0}")]
    Io(String),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentRecord {
    /// Name (the agent's `agent.id`).
    pub name: String,
    /// Segments its observations must fall in.
    #[schema(value_type = Vec<String>)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// The latest observation as sent, its address and MACs in the
    /// canonical spelling (`store::shared::ingest::shown_observation`).
    pub latest: serde_json::Value,
    /// What changed over time, newest first.
    pub changes: Vec<HostChange>,
}

/// One entry of an asset's change history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// Certificates learned per asset: certificate key → asset tag.
pub type LearnedCerts = HashMap<String, String>;

/// A page of a keyset-paged read, and the key the next page begins after
/// (`None`: this was the last). The key comes from the rows read, not from
/// what was decoded of them, so a row left out after decoding (a body that
/// does not decode) never ends the read early.
pub type KeysetPage<T> = (Vec<T>, Option<String>);

/// How many live alerts of one kind, state and severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertCount {
    /// Kind.
    pub kind: AlertKind,
    /// State.
    pub state: crate::alerts::AlertState,
    /// Severity.
    pub severity: crate::alerts::Severity,
    /// How many.
    pub count: i64,
}

/// What the alert lifecycle needs, loaded inside the commit's transaction.
#[derive(Debug, Clone, Default)]
pub struct AlertInputs {
    /// The latest alert of every (kind, subject) the plan involves.
    pub existing: Vec<Alert>,
    /// Suppression rules live now.
    pub suppressions: Vec<Suppression>,
    /// Device-level alerts each agent involved raised in the last hour.
    pub opened_last_hour: HashMap<String, i64>,
}

/// Persistence for the daemon.
/// People, their roles, personal API tokens and sign-in sessions.
pub trait PeopleStore: Send + Sync {
    /// Add a person (audited `audit(None, Some(added))` in the same transaction);
    /// [`StoreError::Conflict`] when the name is taken.
    fn add_person(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<Person, StoreError>;
    /// Everyone, by name.
    fn people(&self) -> Result<Vec<Person>, StoreError>;
    /// One person.
    fn person(&self, name: &str) -> Result<Option<Person>, StoreError>;
    /// The password hash of an enabled person who has one (`None` otherwise).
    fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Set a person's password hash and revoke their sessions; false when no such person.
    /// Audited `audit(Some(before), Some(after))` in the same transaction, as each change below.
    fn set_password(&self, name: &str, hash: &str, now_ms: i64, audit: AuditOf<'_, Person>)
    -> Result<bool, StoreError>;
    /// Disable (revoking their sessions) or enable a person; false when no such person.
    fn set_disabled(
        &self,
        name: &str,
        disabled: bool,
        now_ms: i64,
        audit: AuditOf<'_, Person>,
    ) -> Result<bool, StoreError>;
    /// Change a person's role; false when no such person.
    fn set_role(&self, name: &str, role: Role, audit: AuditOf<'_, Person>) -> Result<bool, StoreError>;
    /// Store a token of a person by its hash, audited `audit(None, Some(stored))`
    /// in the same transaction; [`StoreError::NotFound`] when there is no such person.
    fn add_token(
        &self,
        grant: &TokenGrant<'_>,
        now_ms: i64,
        audit: AuditOf<'_, TokenInfo>,
    ) -> Result<TokenInfo, StoreError>;
    /// Tokens and sessions, of one person or everyone, newest first.
    fn tokens(&self, person: Option<&str>) -> Result<Vec<TokenInfo>, StoreError>;
    /// Revoke a token or session; false when no such live one.
    fn revoke_token(&self, id: i64, now_ms: i64, audit: AuditOf<'_, TokenInfo>) -> Result<bool, StoreError>;
    /// Revoke the token or session whose hash this is (signing out); false when none is live.
    fn revoke_token_hash(
        &self,
        hash: &TokenHash,
        now_ms: i64,
        audit: AuditOf<'_, TokenInfo>,
    ) -> Result<bool, StoreError>;
    /// Who holds this token at `now_ms`: live, unexpired, and its person enabled.
    fn principal_by_token(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError>;
    /// [`PeopleStore::principal_by_token`] for a sign-in session only (the
    /// console's cookie): a personal API token is not a session.
    fn session_principal(&self, hash: &TokenHash, now_ms: i64) -> Result<Option<Principal>, StoreError>;
}

/// A person's saved searches (the console's "saved queries"): personal
/// view settings, not records of the organisation, so not audited.
pub trait SavedQueryStore: Send + Sync {
    /// `person`'s saved queries, by page then name.
    fn saved_queries(&self, person: &str) -> Result<Vec<SavedQuery>, StoreError>;
    /// Save (or replace, same person, page and name) a query. At most
    /// `cap` per person: a new one past it is [`StoreError::Refused`].
    fn save_query(&self, q: &SavedQuery, cap: usize) -> Result<(), StoreError>;
    /// Delete one; false when there was none.
    fn delete_saved_query(&self, person: &str, page: &str, name: &str) -> Result<bool, StoreError>;
}

/// A saved search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuery {
    /// Whose.
    pub person: String,
    /// The console page it is for (`inventory`, `queue`, `devices`).
    pub page: String,
    /// Its name, as the person gave it.
    pub name: String,
    /// The page's query string (`q=…&sort=…`).
    pub query: String,
    /// Saved (unix ms).
    pub saved_ms: i64,
}

/// The append-only audit log.
pub trait AuditStore: Send + Sync {
    /// Append a record; returns its id.
    fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;
    /// Records matching `filter`, newest first.
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
    /// (action, at ms) of `subject`'s records of these actions since `since_ms`, oldest first.
    fn recent_audit(
        &self,
        subject: &str,
        actions: &[AuditAction],
        since_ms: i64,
    ) -> Result<Vec<(AuditAction, i64)>, StoreError>;
}

/// Agents and their token hashes.
pub trait AgentStore: Send + Sync {
    /// Register an agent with its token hash and segments. Each change here is
    /// audited (`audit(before, after)`) in its own transaction.
    fn add_agent(
        &self,
        name: &str,
        segments: &[IpNet],
        token: &TokenHash,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<(), StoreError>;
    /// Revoke an agent's token; false when no such active agent.
    fn revoke_agent(&self, name: &str, audit: AuditOf<'_, AgentRecord>) -> Result<bool, StoreError>;
    /// Give an agent (revoked or not) a new token; its current one keeps
    /// working until `old_valid_until_ms` (none when that is in the past).
    /// False when there is no such agent.
    fn rotate_agent(
        &self,
        name: &str,
        token: &TokenHash,
        old_valid_until_ms: i64,
        audit: AuditOf<'_, AgentRecord>,
    ) -> Result<bool, StoreError>;
    /// The active agent holding this token.
    fn agent_by_token(&self, token: &TokenHash) -> Result<Option<AgentRecord>, StoreError>;
    /// Every agent.
    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError>;
    /// Each active (not revoked) agent that ever delivered a batch, with
    /// when the last one arrived (unix ms), by name.
    fn agents_last_batch(&self) -> Result<Vec<(String, i64)>, StoreError>;
}

/// Batches and the observation history.
pub trait ObservationStore: Send + Sync {
    /// Store a batch's accepted observations, idempotently on the batch id.
    fn ingest(&self, batch: &BatchMeta, agent: &str, rows: &[ObservationRow<'_>]) -> Result<IngestOutcome, StoreError>;
    /// The next page of batches stored but not yet reconciled, after
    /// `after`: at most `budget` sightings (the last batch perhaps in part),
    /// oldest first, and the cursor to read on from; an empty page at the end.
    fn pending_batches(
        &self,
        after: BacklogCursor,
        budget: usize,
    ) -> Result<(Vec<crate::reconcile::PendingBatch>, BacklogCursor), StoreError>;
    /// What is known about one address.
    fn host(&self, ip: &str) -> Result<Option<HostRecord>, StoreError>;
    /// `ip`'s sightings per UTC day since `since_ms`, newest day first.
    fn sightings_by_day(&self, ip: &str, since_ms: i64) -> Result<Vec<DaySightings>, StoreError>;
    /// Number of stored observations.
    fn observation_count(&self) -> Result<i64, StoreError>;
    /// Roll raw observations of batches that ended before `before_ms` into
    /// per-address daily summaries (bounded history, see
    /// `docs/data-retention.md`), at most about `budget` observations (and
    /// a bounded amount of work) in this call. Kept raw: each address's latest observation (whois and
    /// the asset page show it) and every observation of a batch not yet
    /// reconciled or still being received. What [`Self::sightings_by_day`]
    /// answers is the same before and after.
    ///
    /// # Errors
    /// The store failed; what was rolled up before the failure stays
    /// rolled up, the rest is taken by the next call.
    fn roll_up(&self, before_ms: i64, budget: usize) -> Result<RollUp, StoreError>;
}

/// A register change to make with another (see [`AlertStore::asset_with_alert_action`]).
pub struct RegisterChange<'a> {
    /// The asset as it is to be.
    pub asset: &'a Asset,
    /// Create it (else replace the stored asset of its tag).
    pub create: bool,
    /// Who.
    pub actor: &'a str,
    /// Its audit records, given before and after.
    pub audit: AuditOf<'a, Asset>,
}

/// The audit records of one change, made inside the change's own
/// transaction from the subject's state before and after it (`None`: absent)
/// and appended in that transaction: a change and its records commit
/// together or not at all, and records of one subject are in the order its
/// changes were made.
pub type AuditOf<'a, T> = &'a mut (dyn FnMut(Option<&T>, Option<&T>) -> Vec<AuditEntry> + Send);

/// A token to store: whose, what kind (`api` or `session`), its label, its
/// SHA-256 and when it expires (unix ms; never when `None`).
#[derive(Debug, Clone, Copy)]
pub struct TokenGrant<'a> {
    /// The person's name.
    pub person: &'a str,
    /// `api` or `session`.
    pub kind: &'a str,
    /// A label for people (`laptop`, `sign-in`).
    pub label: &'a str,
    /// The token's SHA-256.
    pub hash: &'a TokenHash,
    /// Expiry (unix ms).
    pub expires_ms: Option<i64>,
}

/// No audit records (for tests, benchmarks and the demo's set-up).
pub fn unaudited<T>() -> impl FnMut(Option<&T>, Option<&T>) -> Vec<AuditEntry> {
    |_, _| Vec::new()
}

/// The managed register and its change history.
pub trait RegisterStore: Send + Sync {
    /// The whole register, by tag.
    fn assets(&self) -> Result<Vec<Asset>, StoreError>;
    /// Up to `limit` assets by tag, those whose tag sorts after `after`
    /// (bytewise; keyset paging: an asset added or removed meanwhile never shifts a page).
    fn assets_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<Asset>, StoreError>;
    /// One asset.
    fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError>;
    /// The assets with these exact tags (case as stored), by tag; tags not
    /// in the register are left out, a tag given twice is returned once.
    fn assets_by_tags(&self, tags: &[String]) -> Result<Vec<Asset>, StoreError>;
    /// Create an asset, and its audit records (`audit(None, Some(stored))`) in the same transaction.
    fn create_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError>;
    /// Replace an asset, with `audit(Some(before), Some(stored))` in the same
    /// transaction (before read inside it); returns the stored version.
    fn update_asset(&self, asset: &Asset, actor: &str, audit: AuditOf<'_, Asset>) -> Result<Asset, StoreError>;
    /// Delete an asset, with `audit(Some(before), None)` in the same transaction; false when absent.
    fn delete_asset(&self, tag: &str, actor: &str, audit: AuditOf<'_, Asset>) -> Result<bool, StoreError>;
    /// Apply an import in one transaction: `build` turns the current register
    /// into the assets to create or update, or `None` to write nothing; each
    /// asset written is audited (`audit(before, Some(after))`) and then
    /// `audit(None, None)` once for the import as a whole, all in that transaction.
    /// Returns whether anything was written.
    fn import_assets(
        &self,
        build: &mut (dyn FnMut(&[Asset]) -> Option<Vec<Asset>> + Send),
        actor: &str,
        audit: AuditOf<'_, Asset>,
    ) -> Result<bool, StoreError>;
    /// An asset's change history, newest first.
    fn asset_history(&self, tag: &str) -> Result<Vec<AssetChange>, StoreError>;
    /// The people directory, by id (compared without regard to ASCII case).
    fn directory(&self) -> Result<Vec<crate::directory::DirectoryEntry>, StoreError>;
    /// Apply a directory import or sync in one transaction: `build` turns
    /// the directory as read inside it into the entries to write (added or
    /// changed; an entry is written over the one with the same id) and their
    /// audit records, or `None` to write nothing. Returns whether an entry was written.
    fn write_directory(&self, build: DirectoryBuild<'_>) -> Result<bool, StoreError>;
    /// The licence entitlements, by id (compared without regard to ASCII case).
    fn entitlements(&self) -> Result<Vec<crate::licences::Entitlement>, StoreError>;
    /// Apply an entitlement import in one transaction, as [`RegisterStore::write_directory`].
    fn write_entitlements(&self, build: EntitlementBuild<'_>) -> Result<bool, StoreError>;
    /// The retirement records, by tag.
    fn retirements(&self) -> Result<Vec<crate::retirement::RetirementRecord>, StoreError>;
    /// Change retirement records in one transaction, as [`RegisterStore::write_directory`].
    fn write_retirements(&self, build: KeyedBuild<'_, crate::retirement::RetirementRecord>)
    -> Result<bool, StoreError>;
    /// The coverage sources with their lists, by name.
    fn sources(&self) -> Result<Vec<crate::sources::Source>, StoreError>;
    /// Change coverage sources in one transaction, as [`RegisterStore::write_directory`].
    fn write_sources(&self, build: KeyedBuild<'_, crate::sources::Source>) -> Result<bool, StoreError>;
    /// Remove coverage source `name` with `audit` in one transaction; false when there was none.
    fn remove_source(&self, name: &str, audit: Vec<AuditEntry>) -> Result<bool, StoreError>;
}

/// What [`RegisterStore::write_entitlements`] calls with the current entitlements.
pub type EntitlementBuild<'a> = KeyedBuild<'a, crate::licences::Entitlement>;

/// What a write of a keyed table calls with the records as stored: the
/// records to write and their audit records, or `None` to write nothing.
///
/// This and the other callbacks a store calls inside its transaction are
/// `Send`: the PostgreSQL store may run the transaction on another thread
/// (`store/pg/mod.rs`).
pub type KeyedBuild<'a, T> = &'a mut (dyn FnMut(&[T]) -> Option<(Vec<T>, Vec<AuditEntry>)> + Send);

/// What [`RegisterStore::write_directory`] calls with the current directory.
pub type DirectoryBuild<'a> = KeyedBuild<'a, crate::directory::DirectoryEntry>;

/// What reconciliation reads, and its one write: a committed plan.
pub trait ReconcileStore: Send + Sync {
    /// Up to `limit` stored assets whose tag sorts after `after` (`None`:
    /// from the first), by tag bytewise, not yet decoded. A full reconcile
    /// reads the register this way twice — the match index's keys, then the
    /// rules pass's whole assets — a page at a time, so it never holds the
    /// register decoded, and decodes each page on other threads while the
    /// next is read (`reconcile::pages`). Pages are separate reads.
    fn register_rows(&self, after: Option<&str>, limit: usize) -> Result<Box<dyn StoredPage>, StoreError>;
    /// As [`register_rows`](Self::register_rows), for the match index: each
    /// row's body need hold only what [`crate::reconcile::identity::AssetKeys`]
    /// reads. PostgreSQL reads a column of just those (schema 7, about a
    /// fifth of the bodies' bytes, which a cold full reconcile of a large
    /// register otherwise reads twice over the connection); by default, and
    /// on SQLite, where the register is read in process, the whole bodies.
    fn register_keys(&self, after: Option<&str>, limit: usize) -> Result<Box<dyn StoredPage>, StoreError> {
        self.register_rows(after, limit)
    }
    /// About how many assets the register holds, for the match index to
    /// make room at once ([`crate::reconcile::RegisterIndex::reserve_for`]):
    /// exact on SQLite; on PostgreSQL estimated as the planner does (rows a
    /// page at the last analyse times the pages now), counted before the
    /// table's first analyse. Not for display.
    fn register_size_hint(&self) -> Result<usize, StoreError>;
    /// Certificates tied to assets by earlier strong matches.
    fn learned_certs(&self) -> Result<LearnedCerts, StoreError>;
    /// The decommissioned and disposed assets that may hold certificates:
    /// those recording any, and those a certificate was learned from.
    fn retired_credential_holders(&self) -> Result<Vec<Asset>, StoreError>;
    /// Every decommissioned and disposed asset, by tag (the retirement checklists).
    fn retired_assets(&self) -> Result<Vec<Asset>, StoreError>;
    /// Latest sightings, with the asset each host was last matched to.
    fn sightings(&self, select: &SightingSelect) -> Result<Vec<(Sighting, Option<String>)>, StoreError>;
    /// Unknown devices' debounce state: these keys, or all seen since `since` (unix ms).
    fn devices(&self, keys: Option<&[String]>, since: i64) -> Result<HashMap<String, DeviceRecord>, StoreError>;
    /// Per-asset reconciliation state: these tags, or all.
    fn asset_states(&self, tags: Option<&[String]>) -> Result<HashMap<String, AssetState>, StoreError>;
    /// Batches stored and not yet reconciled.
    fn unreconciled_batches(&self) -> Result<usize, StoreError>;
    /// When the longest-waiting stored, unreconciled batch arrived (unix
    /// ms), if any: a batch whose daemon died before reconciling it waits
    /// for another daemon to take it over.
    fn oldest_unreconciled_ms(&self) -> Result<Option<i64>, StoreError>;
    /// Kinds and subjects of live alerts.
    fn live_subjects(&self) -> Result<Vec<(AlertKind, String)>, StoreError>;
    /// Kinds and subjects that have or had an alert of these kinds, among
    /// the alerts numbered after `after_id` (`0`: all); and the highest
    /// alert id stored, to ask after next time. Alert ids are drawn and
    /// committed under the write lock, so they become visible in id order:
    /// asking after the last answer's id never misses an alert, whichever
    /// daemon wrote it.
    fn alerted_subjects(
        &self,
        kinds: &[AlertKind],
        after_id: i64,
    ) -> Result<(Vec<(AlertKind, String)>, i64), StoreError>;
    /// Sweeps that arrived after sequence `seq`, by arrival: those that
    /// finished at or after `horizon_ms`, and, whatever their age, each
    /// scope's latest delivery and latest [`KEEP_RUNS`](crate::reconcile::sweeps::KEEP_RUNS)
    /// complete sweeps (so an agent away longer than the horizon keeps its
    /// cadence); and the latest arrival sequence of any batch.
    fn sweeps_after(&self, seq: i64, horizon_ms: i64) -> Result<(Vec<SweepRow>, i64), StoreError>;
    /// Commit a reconciliation plan in one transaction; `decide` turns the
    /// alerts it involves into the changes to write (called again, inside
    /// the transaction, for alerts an operator changed meanwhile).
    fn commit_reconcile(
        &self,
        plan: &Plan,
        decide: &mut (dyn FnMut(AlertInputs) -> Vec<Change> + Send),
    ) -> Result<CommitOutcome, StoreError>;
}

/// Alerts, their history, and suppression rules.
pub trait AlertStore: Send + Sync {
    /// Live alerts counted by kind, state and severity (no alert is loaded).
    fn alert_counts(&self) -> Result<Vec<AlertCount>, StoreError>;
    /// Alerts matching a filter, newest first.
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;
    /// How many alerts match a filter (its cursor and limit ignored).
    fn alert_count(&self, filter: &AlertFilter) -> Result<u64, StoreError>;
    /// One alert.
    fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError>;
    /// Change an alert as a person asked: `decide` turns the stored alert
    /// into the change (or refuses); `None` when there is no such alert.
    /// The change and `audit(Some(before), Some(after))` commit together.
    fn alert_action(
        &self,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<Option<Alert>, StoreError>;
    /// A register change and a person's action on the alert it settles
    /// (adopting a device, linking it, disposing an asset), in one
    /// transaction: `change.asset` is created or replaces the stored one,
    /// then alert `id` changes as `decide` says; both audit records commit
    /// with them, or nothing does. An alert that is gone or that `decide`
    /// refuses (resolved meanwhile) leaves the register change to commit
    /// alone (`None`).
    ///
    /// # Errors
    /// The register change's: [`StoreError::Conflict`] (a tag or MAC
    /// taken), [`StoreError::NotFound`] (no asset to replace).
    fn asset_with_alert_action(
        &self,
        change: RegisterChange<'_>,
        id: i64,
        decide: &mut (dyn FnMut(Alert) -> Result<Change, Refused> + Send),
        audit: AuditOf<'_, Alert>,
    ) -> Result<(Asset, Option<Alert>), StoreError>;
    /// An alert's history, oldest first.
    fn alert_history(&self, id: i64) -> Result<Vec<AlertHistoryEntry>, StoreError>;
    /// Suppression rules: all, or only those live now.
    fn suppressions(&self, live_only: bool) -> Result<Vec<Suppression>, StoreError>;
    /// Store a suppression rule, with `audit(None, Some(stored))` in the same transaction.
    fn add_suppression(&self, rule: &Suppression, audit: AuditOf<'_, Suppression>) -> Result<Suppression, StoreError>;
    /// Remove a suppression rule, with `audit(Some(before), None)` in the same transaction; false when absent.
    fn remove_suppression(&self, id: i64, audit: AuditOf<'_, Suppression>) -> Result<bool, StoreError>;
}

/// The notification outbox: each event delivered once per sink.
pub trait OutboxStore: Send + Sync {
    /// Undelivered events for a sink that are due, oldest first.
    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Mark an event delivered.
    fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Record a failed delivery and when to retry.
    fn outbox_failed(&self, id: i64, attempts: u32, retry_at: i64, error: &str) -> Result<(), StoreError>;
    /// Undelivered events per sink.
    fn outbox_backlog(&self) -> Result<Vec<(String, i64)>, StoreError>;
}

/// Loading whois answers and the report (decided elsewhere: [`crate::whois`], [`crate::report`]).
pub trait QueryStore: Send + Sync {
    /// What is known about an IP, MAC, asset tag or host name (see [`crate::whois`]).
    fn whois(&self, query: &str) -> Result<Option<crate::whois::WhoisData>, StoreError>;
    /// Every address whose latest sighting served a TLS certificate: its
    /// latest observation, last seen, agent and matched asset (the
    /// certificate inventory, [`crate::certificates`]). Observations that do
    /// not decode are left out.
    fn certificate_hosts(&self) -> Result<Vec<crate::certificates::HostTls>, StoreError>;
    /// What the reconciliation report is built from (see [`crate::report`]).
    fn report_data(&self) -> Result<crate::report::ReportData, StoreError>;
}

/// How busy the store's connections are now (for the metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections that read.
    pub readers: usize,
    /// Of those, in use now.
    pub readers_busy: usize,
    /// Connections that write.
    pub writers: usize,
    /// Of those, in use now.
    pub writers_busy: usize,
}

/// The store's own health, read without waiting on it.
pub trait HealthStore: Send + Sync {
    /// Connections and how many are in use, as seen at this moment (never blocks).
    fn pool_usage(&self) -> PoolUsage;

    /// Ask the database a trivial question (`/healthz`): `Ok` when it answers.
    ///
    /// # Errors
    /// Why it does not (the server is down, the file unreadable, the pool exhausted).
    fn ping(&self) -> Result<(), StoreError>;
}

/// Work only one daemon among those sharing a store may do at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A full reconcile (every asset, every host within the horizon).
    FullReconcile,
}

/// A [`Job`]'s turn, held until dropped.
pub struct Turn(Option<Box<dyn TurnHolder>>);

/// A shared turn's fencing token: a write decided under the turn is
/// committed only while the turn is still the latest granted and still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnFence {
    /// This turn's number among the job's turns, counted by the store
    /// (PostgreSQL: `turns.number`, raised by every turn granted).
    pub number: i64,
    /// The store's id of the session holding the turn (PostgreSQL: its
    /// backend's process id), so that a turn taken over by a daemon that
    /// does not count turns (an earlier build, during an upgrade) is seen lost too.
    pub holder: i64,
}

/// What holds a shared [`Turn`]: released when dropped.
pub trait TurnHolder: Send {
    /// Whether the turn is still this daemon's (on PostgreSQL: the session
    /// holding the lock still lives — the server ends one it finds dead or
    /// an operator terminates, and the lock with it).
    ///
    /// # Errors
    /// [`StoreError::Busy`] when the turn was lost.
    fn check(&mut self) -> Result<(), StoreError>;

    /// What a write decided under this turn is fenced with
    /// ([`crate::reconcile::Plan::turn`]).
    fn fence(&self) -> TurnFence;
}

impl Turn {
    /// A turn with nothing to release: the backend serves one daemon, whose
    /// own locks already order its work.
    pub fn local() -> Self {
        Turn(None)
    }

    /// A turn that ends when `held` is dropped.
    pub fn holding(held: impl TurnHolder + 'static) -> Self {
        Turn(Some(Box::new(held)))
    }

    /// Check the turn is still held before writing what it decided, so a
    /// daemon whose turn was lost (another may hold it now) writes nothing.
    ///
    /// # Errors
    /// [`StoreError::Busy`] when the turn was lost; the caller's run is
    /// dropped and the next one asks for a turn again.
    pub fn check(&mut self) -> Result<(), StoreError> {
        self.0.as_mut().map_or(Ok(()), |h| h.check())
    }

    /// The fencing token of a shared turn ([`TurnHolder::fence`]); `None`
    /// for a local one, whose daemon's own locks order its writes.
    pub fn fence(&self) -> Option<TurnFence> {
        self.0.as_ref().map(|h| h.fence())
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Turn(shared)" } else { "Turn(local)" })
    }
}

/// How often a daemon looks for writers stopped mid-statement
/// ([`CoordinationStore::end_stuck_writers`]).
pub const WATCH_WRITERS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Taking turns with the other daemons that share this store.
pub trait CoordinationStore: Send + Sync {
    /// Wait until no other daemon sharing the store does `job`, then hold
    /// its turn until the returned [`Turn`] is dropped. A daemon that dies
    /// holding a turn loses it with its process (on PostgreSQL the turn is
    /// a session's advisory lock: the server ends it with the connection),
    /// and one that stops without dying (frozen, cut off) loses it when its
    /// lease runs out (PostgreSQL: a minute, `store::pg::turn`), so no
    /// holder blocks the others for longer than that. While it waits,
    /// `give_up` is asked about once a second: a daemon stopping does not
    /// wait out another's turn.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Db`] when the database
    /// cannot be reached or the wait ran out (PostgreSQL: ten minutes);
    /// [`StoreError::Busy`] when `give_up` said so.
    fn turn(&self, job: Job, give_up: &(dyn Fn() -> bool + Sync)) -> Result<Turn, StoreError>;

    /// End the sessions of other daemons stopped mid-statement while holding
    /// the store's write lock (no sign of life from them for a minute), so
    /// a frozen daemon blocks the others' writes a minute at most, and
    /// return how many were ended. Called about every
    /// [`WATCH_WRITERS_EVERY`]: each call is also this daemon's sign of
    /// life to the others. A backend serving one daemon has nothing to end
    /// (PostgreSQL: `store::pg::stuck`).
    ///
    /// # Errors
    /// [`StoreError::Db`] or [`StoreError::Unavailable`] when the database cannot be asked.
    fn end_stuck_writers(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// How many times each concern a daemon keeps in memory (the register's
    /// match index, the directory, …) was changed in the store, by any
    /// daemon sharing it. A daemon compares these with the counts it loaded
    /// its copies at, and reloads what another daemon changed. A backend
    /// serving one daemon returns zeros: that daemon's own changes reload
    /// its copies directly.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database cannot be reached.
    fn changes(&self) -> Result<SharedChanges, StoreError> {
        Ok(SharedChanges::default())
    }

    /// Record `routes` — this daemon's notification sinks with their lowest
    /// severities, as one canonical text — as `daemon`'s at `now_ms`, and
    /// return the (daemon, routes) of the others recorded since `since_ms`
    /// whose routes differ. An alert's events go to the sinks of the daemon
    /// that raised it, so daemons sharing a store must notify alike. A
    /// backend serving one daemon records nothing and returns none.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database cannot be reached.
    fn announce_routes(
        &self,
        daemon: &str,
        routes: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let _ = (daemon, routes, now_ms, since_ms);
        Ok(Vec::new())
    }
}

/// Change counts of the concerns daemons keep in memory (see
/// [`CoordinationStore::changes`]); only their differences mean anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedChanges {
    /// The register (assets and their keys) and the certificates learned for it.
    pub register: i64,
    /// The people directory.
    pub directory: i64,
    /// The licence entitlements.
    pub licences: i64,
    /// The retirement records.
    pub retirements: i64,
    /// The coverage sources and their lists.
    pub sources: i64,
}

/// Everything the daemon stores: one trait per concern, so a backend is
/// written (and tested by the conformance suite, `store::conformance`) concern by
/// concern. Any type implementing all of them is a `Store`.
pub trait Store:
    AgentStore
    + ObservationStore
    + RegisterStore
    + ReconcileStore
    + AlertStore
    + OutboxStore
    + QueryStore
    + PeopleStore
    + AuditStore
    + SavedQueryStore
    + HealthStore
    + CoordinationStore
    + 'static
{
}

impl<
    T: AgentStore
        + ObservationStore
        + RegisterStore
        + ReconcileStore
        + AlertStore
        + OutboxStore
        + QueryStore
        + PeopleStore
        + AuditStore
        + SavedQueryStore
        + HealthStore
        + CoordinationStore
        + 'static,
> Store for T
{
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Where the store lives (`[store]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file (`[store] database`, the default).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (`[store] url = "postgres://…"`).
    Postgres(String),
}

impl std::fmt::Display for StoreLocation {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::Postgres(url) => f.write_str(&pg::redacted(url)),
        }
    }
}

/// A connection of its own to the PostgreSQL database at `url`, outside any
/// store's pool, with the TLS the URL asks for (tests and benchmarks that
/// look at the server beside a store). Call it off any async runtime.
///
/// # Errors
/// The URL does not parse, a TLS file does not read, or the server cannot
/// be reached or refuses the login.
pub fn postgres_connection(url: &str) -> Result<postgres::Client, StoreError> {
    pg::connect(url)
}

/// Check that `url` parses as a PostgreSQL connection URL, without connecting.
///
/// # Errors
/// The driver's reason, with any password left out.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    pg::check_url(url)
}

/// Open (creating or migrating) the store at `at`.
///
/// # Errors
/// What the backend's `open` returns: [`StoreError::Io`] for a SQLite file
/// that cannot be prepared, [`StoreError::Db`] for a database that cannot be
/// opened or reached, [`StoreError::SchemaTooNew`] for one a newer Census wrote.
pub fn open(at: &StoreLocation) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    open_sized(at, DEFAULT_CONNECTIONS)
}

/// Connections a PostgreSQL store's pool holds by default (`[store] connections`).
pub const DEFAULT_CONNECTIONS: u32 = 8;

/// [`open`], with a PostgreSQL pool of `connections` (SQLite ignores it:
/// its connections are one writer and a reader per core).
///
/// # Errors
/// As [`open`].
pub fn open_sized(at: &StoreLocation, connections: u32) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(match at {
        StoreLocation::Sqlite(path) => std::sync::Arc::new(SqliteStore::open(path)?),
        StoreLocation::Postgres(url) => std::sync::Arc::new(PostgresStore::open_sized(url, connections)?),
    })
}
