//! Typed alert evidence: one shape per alert kind.
//!
//! Every alert carries the facts that raised it. They are a Rust enum
//! tagged by `kind` (the alert kind's word), so a client — the console, a
//! connector, a SIEM reading the JSON lines — can match on the kind and
//! read named fields instead of guessing at free-form JSON; the shapes are
//! documented with one example each in `docs/alert-evidence.md`.
//!
//! Field names and `null`s are what the untyped evidence of earlier
//! versions wrote, so stored evidence needs only its `kind` added
//! (schema migration 5) and an alert's description digest does not change
//! with the migration (the digest leaves `kind` out, see
//! [`super::description_digest`]).
//!
//! Times are unix milliseconds (`*_ms`); days are `YYYY-MM-DD`.

pub mod sources;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::reconcile::identity::Candidate;
use crate::register::{Criticality, Day, Lifecycle};

/// The evidence of one alert, tagged by its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// `unknown-asset`: an unregistered device and where it answered.
    UnknownAsset(UnknownDevice),
    /// `should-be-retired`: a retired asset still answering.
    ShouldBeRetired(LifecycleBreach),
    /// `pending-in-use`: an asset in procurement already answering.
    PendingInUse(LifecycleBreach),
    /// `missing`: a deployed asset absent from complete sweeps.
    Missing(MissingAsset),
    /// `identity-conflict`: an address or a MAC that does not add up.
    IdentityConflict(Conflict),
    /// `new-service`: ports open beyond the asset's baseline.
    NewService(NewPorts),
    /// `coverage-gap`: expected services not open.
    CoverageGap(AbsentServices),
    /// `out-of-support`: support or licences lapsed while in service.
    OutOfSupport(Lapsed),
    /// `agent-silent`: no complete sweep within the agent's cadence.
    AgentSilent(Silence),
    /// `alert-flood`: an agent over its hourly budget of new alerts.
    AlertFlood(Flood),
    /// `end-of-life-software`: software past its end of support answering.
    EndOfLifeSoftware(EndOfLife),
    /// `certificate-expiring`: a served certificate ends within the lead time.
    CertificateExpiring(CertificateValidity),
    /// `certificate-expired`: a certificate past its end is still served.
    CertificateExpired(CertificateValidity),
    /// `owner-departed`: an asset in service whose owner left or is unknown.
    OwnerDeparted(OwnerGone),
    /// `retired-credential-in-use`: a retired asset's certificate is served.
    RetiredCredentialInUse(CredentialsInUse),
    /// `unlicensed-software`: an asset runs products without a licence seat.
    UnlicensedSoftware(Unlicensed),
    /// `not-in-source`: an asset absent from coverage sources it is expected in.
    NotInSource(sources::NotInSources),
    /// `retired-still-enrolled`: a retired asset still listed by coverage sources.
    RetiredStillEnrolled(sources::StillEnrolled),
    /// `source-unknown`: a coverage source lists a device the register does not know.
    SourceUnknown(sources::UnknownToRegister),
    /// `source-stale`: a coverage source not loaded within its maximum age.
    SourceStale(sources::StaleSource),
}

/// The register entry an asset alert is about, as it was when raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssetRef {
    /// Asset tag.
    pub tag: String,
    /// Name.
    pub name: String,
    /// Owner (a person or team).
    pub owner: String,
    /// Lifecycle stage.
    pub lifecycle: Lifecycle,
    /// Day the stage began, when recorded.
    pub lifecycle_since: Option<Day>,
    /// Criticality.
    pub criticality: Criticality,
}

/// One host as seen by a sweep: what was seen, not when (the alert's first
/// and last seen carry the times), so the evidence of a device seen the
/// same way sweep after sweep does not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostSeen {
    /// Address.
    pub ip: String,
    /// MAC, when the agent shares the link.
    pub mac: Option<String>,
    /// The MAC is locally administered (a randomised, private address).
    pub mac_randomised: bool,
    /// MAC vendor (IEEE registry).
    pub vendor: Option<String>,
    /// Names with their source, `NAME (SOURCE)`.
    pub names: Vec<String>,
    /// Open TCP ports.
    pub open_ports: Vec<u16>,
    /// Operating system guess.
    pub os: Option<String>,
    /// Segment name (the agent's).
    pub segment: String,
    /// Agent that saw it.
    pub agent: String,
    /// Identity rules that matched it to the asset (asset alerts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<Vec<String>>,
    /// Match confidence 0.0–1.0 (asset alerts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// `unknown-asset` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnknownDevice {
    /// The device's most stable identity (`mac:…`, `name:…`, `ip:…`, `random-mac@…`).
    pub device_key: String,
    /// Batches that saw it when the alert was raised or last described.
    pub sightings: i64,
    /// First sighting (unix ms).
    pub first_seen_ms: i64,
    /// Every address it answered on.
    pub hosts: Vec<HostSeen>,
    /// Why the vendor is unknown, when the MAC is global but unregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_note: Option<String>,
    /// Why names and services are missing (the agent's enrichment is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `should-be-retired` and `pending-in-use` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifecycleBreach {
    /// The asset.
    pub asset: AssetRef,
    /// Its lifecycle stage.
    pub lifecycle: Lifecycle,
    /// Since when, if recorded.
    pub since: Option<Day>,
    /// The hosts that answered after the stage began.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<HostSeen>,
}

/// `missing` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MissingAsset {
    /// The asset.
    pub asset: AssetRef,
    /// Last sighting (unix ms), if ever seen.
    pub last_seen_ms: Option<i64>,
    /// Address of the last sighting.
    pub last_ip: Option<String>,
    /// Complete sweeps of its segment since, none of which saw it.
    pub complete_sweeps: usize,
    /// End of the latest of them (unix ms).
    pub last_sweep_ms: i64,
    /// The absence that makes it missing for its type (ms).
    pub missing_after_ms: i64,
    /// The segment whose sweeps cover it.
    pub segment: Option<String>,
}

/// `identity-conflict` evidence: which conflict, tagged by `conflict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "conflict", rename_all = "kebab-case")]
pub enum Conflict {
    /// One address answered from several MACs, or fits several assets equally.
    Address(AddressConflict),
    /// An asset's MAC answered outside its expected segment.
    WrongSegment(WrongSegment),
}

/// An address conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressConflict {
    /// The address.
    pub ip: String,
    /// The host as seen.
    pub seen: HostSeen,
    /// The MACs that answered for it in one sweep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macs: Vec<String>,
    /// Register assets it fits equally well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambiguous_candidates: Vec<Candidate>,
}

/// A MAC on the wrong segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WrongSegment {
    /// The asset.
    pub asset: AssetRef,
    /// Where the register expects it.
    #[schema(value_type = String)]
    pub expected_segment: IpNet,
    /// Address it answered at.
    pub seen_at: String,
    /// Segment (the agent's name) it answered on.
    pub seen_on: String,
    /// The host as seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<HostSeen>,
}

/// `new-service` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPorts {
    /// The asset.
    pub asset: AssetRef,
    /// Open now, not in the baseline, not accepted, not expected.
    pub new_ports: Vec<u16>,
    /// Ports open at the first sighting.
    pub baseline: Vec<u16>,
    /// The register's expected services.
    pub expected: Vec<u16>,
    /// The hosts that show them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<HostSeen>,
}

/// An expected service that is not open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbsentService {
    /// TCP port.
    pub port: u16,
    /// The register's name for it (e.g. `edr`).
    pub name: String,
}

/// `coverage-gap` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbsentServices {
    /// The asset.
    pub asset: AssetRef,
    /// Expected, probed and not open.
    pub absent: Vec<AbsentService>,
    /// What is open.
    pub open_ports: Vec<u16>,
    /// The hosts as seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<HostSeen>,
}

/// A lapsed support contract or licence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LapsedItem {
    /// `support` or `licence`.
    pub what: String,
    /// Licensed product (licences only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Licence vendor (licences only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Day it ended.
    pub ended: Day,
}

/// `out-of-support` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lapsed {
    /// The asset.
    pub asset: AssetRef,
    /// What lapsed.
    pub lapsed: Vec<LapsedItem>,
    /// The hosts it answers on, if seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<HostSeen>,
}

/// `agent-silent` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    /// Agent name.
    pub agent: String,
    /// Its segments, `NAME (TARGETS)`.
    pub segments: Vec<String>,
    /// Its last delivered sweep (unix ms).
    pub last_sweep_ms: i64,
    /// Its last complete sweep (unix ms), `null` if none ever.
    pub last_complete_sweep_ms: Option<i64>,
    /// When the next was due (unix ms), when known.
    pub due_ms: Option<i64>,
    /// Its sweep interval (ms), when known.
    pub interval_ms: Option<i64>,
}

/// `alert-flood` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flood {
    /// Agent name.
    pub agent: String,
    /// New alerts not stored.
    pub dropped: i64,
    /// The hourly budget (`reconcile.alert_flood_per_hour`).
    pub budget_per_hour: i64,
    /// Some of the dropped subjects.
    pub sample: Vec<String>,
}

/// `end-of-life-software` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndOfLife {
    /// The asset, when the host matches one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetRef>,
    /// Software past its end of support: the banner, the release, how the
    /// banner names it, the last day of support and where that date comes from.
    pub software: Vec<crate::eol::EolSoftware>,
    /// The hosts that showed it.
    pub seen: Vec<HostSeen>,
}

/// `certificate-expiring` and `certificate-expired` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateValidity {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// End of validity (unix ms).
    pub not_after_ms: i64,
    /// Where it is served, `IP:PORT`.
    pub served_at: Vec<String>,
    /// The hosts serving it.
    pub seen: Vec<HostSeen>,
}

/// `owner-departed` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OwnerGone {
    /// The asset.
    pub asset: AssetRef,
    /// The owner as the register records it.
    pub owner: String,
    /// `left` or `unknown` (to the directory).
    pub departure: crate::directory::standing::Departure,
    /// The directory entry the owner names, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::directory::DirectoryEntry>,
    /// The day they left, when known.
    pub left_on: Option<Day>,
    /// The day of the asset's last sighting, if it was ever seen (the
    /// alert's `last_seen_ms` has the time).
    pub last_seen_day: Option<Day>,
    /// Where it was last seen.
    pub last_ip: Option<String>,
    /// The hosts it answers on now.
    pub seen: Vec<HostSeen>,
}

/// One certificate of a retired asset, and where it is served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialServed {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Serial, lowercase hex, when the agent sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Subject.
    pub subject: String,
    /// The register's label for it (`vpn`, `802.1x`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `recorded` (in the register) or `learned` (from an earlier strong match).
    pub tie: String,
    /// Where it is served, `IP:PORT`.
    pub served_at: Vec<String>,
}

/// `retired-credential-in-use` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialsInUse {
    /// The retired asset the certificates belong to.
    pub asset: AssetRef,
    /// Its certificates served, with where.
    pub credentials: Vec<CredentialServed>,
    /// The hosts serving them.
    pub seen: Vec<HostSeen>,
}

/// One product an asset runs without a seat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductOver {
    /// Product.
    pub product: String,
    /// Vendor (of its entitlement; empty without one).
    pub vendor: String,
    /// Seats owned (entitlements not expired).
    pub seats: u64,
    /// Assets (per-user: owners) running it.
    pub in_use: u64,
    /// In use without a seat.
    pub over: u64,
    /// The detection term that showed it on this asset (`port:1433`, `banner:…`).
    pub matched_by: String,
}

/// `unlicensed-software` evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unlicensed {
    /// The asset.
    pub asset: AssetRef,
    /// The products it runs without a seat.
    pub products: Vec<ProductOver>,
}

impl Evidence {
    /// The alert kind this evidence belongs to.
    pub fn kind(&self) -> super::AlertKind {
        use super::AlertKind as K;
        match self {
            Evidence::UnknownAsset(_) => K::UnknownAsset,
            Evidence::ShouldBeRetired(_) => K::ShouldBeRetired,
            Evidence::PendingInUse(_) => K::PendingInUse,
            Evidence::Missing(_) => K::Missing,
            Evidence::IdentityConflict(_) => K::IdentityConflict,
            Evidence::NewService(_) => K::NewService,
            Evidence::CoverageGap(_) => K::CoverageGap,
            Evidence::OutOfSupport(_) => K::OutOfSupport,
            Evidence::AgentSilent(_) => K::AgentSilent,
            Evidence::AlertFlood(_) => K::AlertFlood,
            Evidence::EndOfLifeSoftware(_) => K::EndOfLifeSoftware,
            Evidence::CertificateExpiring(_) => K::CertificateExpiring,
            Evidence::CertificateExpired(_) => K::CertificateExpired,
            Evidence::OwnerDeparted(_) => K::OwnerDeparted,
            Evidence::RetiredCredentialInUse(_) => K::RetiredCredentialInUse,
            Evidence::UnlicensedSoftware(_) => K::UnlicensedSoftware,
            Evidence::NotInSource(_) => K::NotInSource,
            Evidence::RetiredStillEnrolled(_) => K::RetiredStillEnrolled,
            Evidence::SourceUnknown(_) => K::SourceUnknown,
            Evidence::SourceStale(_) => K::SourceStale,
        }
    }

    /// The ports a `new-service` alert reports (empty for other kinds).
    pub fn new_ports(&self) -> &[u16] {
        match self {
            Evidence::NewService(n) => &n.new_ports,
            _ => &[],
        }
    }

    /// Every host the evidence names (unknown devices' addresses, an asset's sightings).
    pub fn hosts(&self) -> &[HostSeen] {
        match self {
            Evidence::UnknownAsset(u) => &u.hosts,
            Evidence::ShouldBeRetired(l) | Evidence::PendingInUse(l) => &l.seen,
            Evidence::IdentityConflict(Conflict::Address(c)) => std::slice::from_ref(&c.seen),
            Evidence::IdentityConflict(Conflict::WrongSegment(w)) => &w.seen,
            Evidence::NewService(n) => &n.seen,
            Evidence::CoverageGap(c) => &c.seen,
            Evidence::OutOfSupport(l) => &l.seen,
            Evidence::EndOfLifeSoftware(e) => &e.seen,
            Evidence::CertificateExpiring(c) | Evidence::CertificateExpired(c) => &c.seen,
            Evidence::OwnerDeparted(o) => &o.seen,
            Evidence::RetiredCredentialInUse(c) => &c.seen,
            Evidence::NotInSource(n) => &n.seen,
            Evidence::Missing(_)
            | Evidence::AgentSilent(_)
            | Evidence::AlertFlood(_)
            | Evidence::UnlicensedSoftware(_)
            | Evidence::RetiredStillEnrolled(_)
            | Evidence::SourceUnknown(_)
            | Evidence::SourceStale(_) => &[],
        }
    }
}

/// Minimal evidence of `kind`, for tests of the rules around it.
#[cfg(test)]
pub fn placeholder(kind: super::AlertKind) -> Evidence {
    use super::AlertKind as K;
    let asset = AssetRef {
        tag: "T-1".into(),
        name: "t".into(),
        owner: "o".into(),
        lifecycle: Lifecycle::Deployed,
        lifecycle_since: None,
        criticality: Criticality::Medium,
    };
    let breach = LifecycleBreach { asset: asset.clone(), lifecycle: Lifecycle::Deployed, since: None, seen: vec![] };
    match kind {
        K::UnknownAsset => Evidence::UnknownAsset(UnknownDevice {
            device_key: "ip:198.18.0.1".into(),
            sightings: 1,
            first_seen_ms: 0,
            hosts: vec![],
            vendor_note: None,
            note: None,
        }),
        K::ShouldBeRetired => Evidence::ShouldBeRetired(breach),
        K::PendingInUse => Evidence::PendingInUse(breach),
        K::Missing => Evidence::Missing(MissingAsset {
            asset,
            last_seen_ms: None,
            last_ip: None,
            complete_sweeps: 0,
            last_sweep_ms: 0,
            missing_after_ms: 0,
            segment: None,
        }),
        K::IdentityConflict => Evidence::IdentityConflict(Conflict::WrongSegment(WrongSegment {
            asset,
            expected_segment: "198.18.0.0/24".parse().expect("a network"),
            seen_at: "198.18.1.1".into(),
            seen_on: "lab".into(),
            seen: vec![],
        })),
        K::NewService => Evidence::NewService(NewPorts {
            asset,
            new_ports: vec![],
            baseline: vec![],
            expected: vec![],
            seen: vec![],
        }),
        K::CoverageGap => {
            Evidence::CoverageGap(AbsentServices { asset, absent: vec![], open_ports: vec![], seen: vec![] })
        }
        K::OutOfSupport => Evidence::OutOfSupport(Lapsed { asset, lapsed: vec![], seen: vec![] }),
        K::AgentSilent => Evidence::AgentSilent(Silence {
            agent: "a1".into(),
            segments: vec![],
            last_sweep_ms: 0,
            last_complete_sweep_ms: None,
            due_ms: None,
            interval_ms: None,
        }),
        K::AlertFlood => {
            Evidence::AlertFlood(Flood { agent: "a1".into(), dropped: 0, budget_per_hour: 0, sample: vec![] })
        }
        K::UnlicensedSoftware => Evidence::UnlicensedSoftware(Unlicensed { asset, products: vec![] }),
        K::NotInSource => Evidence::NotInSource(sources::NotInSources { asset, sources: vec![], seen: vec![] }),
        K::RetiredStillEnrolled => Evidence::RetiredStillEnrolled(sources::StillEnrolled { asset, listed: vec![] }),
        K::SourceUnknown | K::SourceStale => {
            let source = sources::SourceRef { source: "edr".into(), loaded_ms: None, key: crate::sources::Field::Mac };
            if kind == K::SourceUnknown {
                Evidence::SourceUnknown(sources::UnknownToRegister { source, record: Default::default() })
            } else {
                Evidence::SourceStale(sources::StaleSource { source, max_age_days: 7, records: 0 })
            }
        }
        K::RetiredCredentialInUse => {
            Evidence::RetiredCredentialInUse(CredentialsInUse { asset, credentials: vec![], seen: vec![] })
        }
        K::OwnerDeparted => Evidence::OwnerDeparted(OwnerGone {
            asset,
            owner: "o".into(),
            departure: crate::directory::standing::Departure::Left,
            person: None,
            left_on: None,
            last_seen_day: None,
            last_ip: None,
            seen: vec![],
        }),
        K::EndOfLifeSoftware => Evidence::EndOfLifeSoftware(EndOfLife { asset: None, software: vec![], seen: vec![] }),
        K::CertificateExpiring | K::CertificateExpired => {
            let c = CertificateValidity {
                sha256: "00".into(),
                subject: "CN=t".into(),
                not_after_ms: 0,
                served_at: vec![],
                seen: vec![],
            };
            if kind == K::CertificateExpiring {
                Evidence::CertificateExpiring(c)
            } else {
                Evidence::CertificateExpired(c)
            }
        }
    }
}

#[cfg(test)]
mod tests;
