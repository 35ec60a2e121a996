//! Values the store traits take and give, whatever the backend.

/// An undelivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// The event, JSON.
    pub event: String,
}

/// Where reading the backlog stands: after the batch with arrival sequence
/// `seq` or, with `obs`, inside it after that observation id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BacklogCursor {
    /// Arrival sequence of the batch last read (0: none yet).
    pub seq: i64,
    /// The last observation id read of that batch, when it was read in part.
    pub obs: Option<i64>,
}

/// Which hosts' sightings to load.
#[derive(Debug, Clone)]
pub enum SightingSelect {
    /// These addresses.
    Ips(Vec<String>),
    /// Hosts last matched to these assets.
    Tags(Vec<String>),
    /// Hosts last seen at or after this time (unix ms).
    Since(i64),
}

/// What committing a plan did to alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Raised as open (or shown when a suppression expired).
    pub opened: usize,
    /// Reopened.
    pub reopened: usize,
    /// Raised or moved to suppressed.
    pub suppressed: usize,
    /// Updated by a repeat.
    pub updated: usize,
    /// Auto-resolved.
    pub resolved: usize,
    /// Outbox rows written.
    pub events: usize,
}

impl CommitOutcome {
    /// Add another part's outcome.
    pub fn add(&mut self, o: &CommitOutcome) {
        self.opened += o.opened;
        self.reopened += o.reopened;
        self.suppressed += o.suppressed;
        self.updated += o.updated;
        self.resolved += o.resolved;
        self.events += o.events;
    }
}

/// What one [`super::ObservationStore::roll_up`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollUp {
    /// Raw observations folded into daily summaries (and removed).
    pub observations: u64,
    /// Batches whose observations are now all rolled up (bar their hosts' latest).
    pub batches: u64,
    /// More is due: call again.
    pub more: bool,
}

/// One address's sightings on one UTC day (an asset timeline's line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySightings {
    /// The day's start, 00:00 UTC (unix ms).
    pub day_ms: i64,
    /// Observations that day.
    pub count: i64,
    /// First and last of them (unix ms, observation time).
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
    /// Distinct MACs that answered at the address that day.
    pub macs: i64,
}
