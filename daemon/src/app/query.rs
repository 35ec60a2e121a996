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
    let Some(mut data) = rec.store().whois(query)? else { return Ok(None) };
    if let Some(a) = &data.asset {
        let today = crate::reconcile::rules::day_of(now_ms);
        data.owner = crate::whois::OwnerFacts::of(&a.owner, &*rec.directory()?, today);
    }
    let retired = data.asset.as_ref().filter(|a| a.lifecycle.retired()).map(|a| a.tag.clone());
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    let mut out = answer(query.trim(), data, |h| {
        crate::reconcile::rules::presence_at(&h.ip, h.last_seen_ms, &sweeps, settings, now_ms)
    });
    if let Some(tag) = retired {
        out.retirement = match crate::app::retirement::one(rec, &tag, now_ms) {
            Ok(c) => Some(c),
            Err(crate::app::retirement::RetireError::Store(e)) => return Err(e),
            Err(_) => None,
        };
    }
    Ok(Some(out))
}

/// The certificate inventory ([`crate::certificates`]) of the hosts on the
/// network at `now_ms`; `weak_only` keeps the certificates with a weakness
/// (the weak-key report).
///
/// # Errors
/// The store failed.
pub fn certificates(
    rec: &Reconciler,
    weak_only: bool,
    now_ms: i64,
) -> Result<Vec<crate::certificates::CertificateRecord>, StoreError> {
    // Served means served now: a host the sweeps no longer find serves nothing.
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    let mut hosts = rec.store().certificate_hosts()?;
    hosts.retain(|h| crate::reconcile::rules::presence_at(&h.ip, h.last_seen_ms, &sweeps, settings, now_ms).present);
    let mut all = crate::certificates::inventory(&hosts);
    if weak_only {
        all.retain(|c| !c.weak.is_empty());
    }
    Ok(all)
}

/// The `deployment-incomplete` view: every deployed asset lacking an
/// active owner, an expected service, or a presence on the network, with
/// what it lacks ([`crate::deployment`]).
///
/// # Errors
/// The store failed.
pub fn deployments(rec: &Reconciler, now_ms: i64) -> Result<Vec<crate::deployment::Incomplete>, StoreError> {
    use crate::alerts::evidence::Evidence;
    let store = rec.store();
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let settings = rec.settings();
    let states = store.asset_states(None)?;
    let directory = rec.directory()?;
    let today = crate::reconcile::rules::day_of(now_ms);
    let filter = crate::alerts::AlertFilter {
        kind: Some(crate::alerts::AlertKind::CoverageGap),
        limit: Some(u32::MAX),
        ..Default::default()
    };
    let mut absent: std::collections::HashMap<String, Vec<String>> = Default::default();
    for a in store.alerts(&filter)? {
        if let (Some(tag), Some(Evidence::CoverageGap(g))) = (&a.tag, &a.evidence) {
            absent.entry(tag.clone()).or_default().extend(g.absent.iter().map(|s| format!("{}/{}", s.port, s.name)));
        }
    }
    Ok(store
        .assets()?
        .iter()
        .filter_map(|a| {
            let state = states.get(&a.tag);
            let present = match state.map(|s| (s.last_ip.as_deref(), s.last_seen_ms)) {
                Some((Some(ip), Some(last))) => {
                    crate::reconcile::rules::presence_at(ip, last, &sweeps, settings, now_ms).present
                }
                _ => false,
            };
            let facts = crate::deployment::Facts {
                absent_services: absent.get(&a.tag).cloned().unwrap_or_default(),
                present,
                last_seen_ms: state.and_then(|s| s.last_seen_ms),
            };
            crate::deployment::incomplete(a, &facts, &directory, today)
        })
        .collect())
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

/// One agent as `status` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    /// Name.
    pub name: String,
    /// Segments it may report on.
    #[schema(value_type = Vec<String>)]
    pub segments: Vec<ipnet::IpNet>,
    /// Its token was revoked.
    pub revoked: bool,
    /// Its last sweep's finish (unix ms), complete or not.
    pub last_sweep_ms: Option<i64>,
    /// Its last complete sweep's finish (unix ms).
    pub last_complete_sweep_ms: Option<i64>,
    /// When its next sweep is due by (unix ms).
    pub next_due_ms: Option<i64>,
    /// No sweep within its cadence.
    pub silent: bool,
}

/// The daemon at a glance.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// Live alerts in all (open and acknowledged, as `alerts list` shows them).
    pub live_alerts: i64,
    /// Alerts held by a suppression rule (not live; `alerts list --all` shows them).
    pub suppressed_alerts: i64,
    /// Live alerts by kind, state and severity.
    pub alerts: Vec<crate::store::AlertCount>,
    /// Notification events not yet delivered, per sink.
    pub notification_backlog: std::collections::BTreeMap<String, i64>,
    /// Observations stored.
    pub observations: i64,
    /// Batches stored and waiting for the reconcile worker.
    pub reconcile_queue: usize,
    /// Agents and their sweeps.
    pub agents: Vec<AgentStatus>,
}

/// `GET /api/v1/status`: counts without loading alerts, and each agent's cadence.
///
/// # Errors
/// The store failed.
pub fn status(rec: &Reconciler, now_ms: i64) -> Result<Status, StoreError> {
    use crate::alerts::AlertState;
    let store = rec.store();
    let alerts = store.alert_counts()?;
    let sweeps = rec.sweep_snapshot(now_ms)?;
    let cadences = sweeps.cadences();
    let agents = store
        .agents()?
        .into_iter()
        .map(|a| {
            let c = cadences.iter().find(|c| c.agent == a.name);
            let known = |t: i64| (t != i64::MIN).then_some(t);
            AgentStatus {
                revoked: a.revoked_ms.is_some(),
                last_sweep_ms: c.and_then(|c| known(c.last_delivered_ms)),
                last_complete_sweep_ms: c.and_then(|c| known(c.last_complete_ms)),
                next_due_ms: c.and_then(|c| c.due_ms),
                silent: a.revoked_ms.is_none() && c.is_some_and(|c| c.silent(now_ms)),
                name: a.name,
                segments: a.segments,
            }
        })
        .collect();
    Ok(Status {
        live_alerts: alerts.iter().filter(|c| c.state != AlertState::Suppressed).map(|c| c.count).sum(),
        suppressed_alerts: alerts.iter().filter(|c| c.state == AlertState::Suppressed).map(|c| c.count).sum(),
        alerts,
        notification_backlog: store.outbox_backlog()?.into_iter().collect(),
        observations: store.observation_count()?,
        reconcile_queue: rec.backlog()?,
        agents,
    })
}

/// Assets judged per chunk in a search's second pass (one state and sighting query each).
const SEARCH_CHUNK: usize = 1_000;

/// Assets matching `query` (see [`crate::register::search`]; an empty one
/// matches all), by tag, those after tag `after`, at most `limit`.
///
/// Two passes, so a search costs what it needs: the terms the register
/// alone decides run over the reconciler's decoded register ([`Reconciler::register`], no
/// asset decoded again); then, in tag order and [`SEARCH_CHUNK`] candidates
/// at a time, their state (last seen, last address), what agents saw (ports,
/// vendor) and live alerts are loaded only when the query asks about them,
/// until `limit` assets matched.
///
/// # Errors
/// The store failed.
pub fn search_assets(
    rec: &Reconciler,
    query: &crate::register::search::AssetQuery,
    after: Option<&str>,
    limit: usize,
    now_ms: i64,
) -> Result<Vec<crate::register::Asset>, StoreError> {
    if query.terms.is_empty() {
        // No condition: the store pages the register itself.
        return rec.store().assets_page(after, limit);
    }
    let register = rec.register()?;
    Ok(matching(rec, &register, query, after, limit, now_ms)?.into_iter().cloned().collect())
}

crate::word_enum!(
    /// An order of the inventory (`sort=` in the console).
    AssetOrder { /// By asset tag.
    Tag => "tag", /// By name (any case).
    Name => "name", /// By type.
    Type => "type", /// By owner (any case).
    Owner => "owner", /// By lifecycle stage, procurement to disposal.
    Lifecycle => "lifecycle", /// By criticality, low to critical.
    Criticality => "criticality", /// By end of support, soonest first (none recorded last).
    Support => "support" }
);

fn order_key(order: AssetOrder, a: &crate::register::Asset) -> String {
    // Stages and criticalities in their declared order (procurement first, low first).
    let rank = |i: Option<usize>| format!("{:03}", i.unwrap_or(999));
    let key = match order {
        AssetOrder::Tag => String::new(),
        AssetOrder::Name => a.name.to_lowercase(),
        AssetOrder::Type => a.asset_type.to_string(),
        AssetOrder::Owner => a.owner.to_lowercase(),
        AssetOrder::Lifecycle => rank(crate::register::Lifecycle::ALL.iter().position(|l| *l == a.lifecycle)),
        AssetOrder::Criticality => rank(crate::register::Criticality::ALL.iter().position(|c| *c == a.criticality)),
        // ISO dates sort as text; `~` after every digit puts "none recorded" last.
        AssetOrder::Support => a.support_end.map_or_else(|| "~".to_string(), |d| d.to_string()),
    };
    format!("{key}\u{0}{}", a.tag)
}

/// One page of the assets matching `query` in `order` (ties by tag):
/// `limit` from `offset`, and how many match in all. Every match is
/// decided (see [`search_assets`] for the two passes), then the page alone
/// is copied out of the in-memory register.
///
/// # Errors
/// The store failed.
pub fn sorted_assets(
    rec: &Reconciler,
    query: &crate::register::search::AssetQuery,
    (order, descending): (AssetOrder, bool),
    offset: usize,
    limit: usize,
    now_ms: i64,
) -> Result<(Vec<crate::register::Asset>, usize), StoreError> {
    let register = rec.register()?;
    let mut all = matching(rec, &register, query, None, usize::MAX, now_ms)?;
    if order != AssetOrder::Tag {
        all.sort_by_cached_key(|a| order_key(order, a));
    }
    if descending {
        all.reverse();
    }
    let total = all.len();
    Ok((all.into_iter().skip(offset).take(limit).cloned().collect(), total))
}

/// The assets of `register` matching `query`, by tag, after `after`, at most `limit`.
fn matching<'a>(
    rec: &Reconciler,
    register: &'a crate::reconcile::Register,
    query: &crate::register::search::AssetQuery,
    after: Option<&str>,
    limit: usize,
    now_ms: i64,
) -> Result<Vec<&'a crate::register::Asset>, StoreError> {
    use std::collections::HashMap;

    use crate::register::search::Facts;
    let store = rec.store();
    let mut candidates: Vec<&crate::register::Asset> = register
        .assets
        .iter()
        .filter(|a| after.is_none_or(|t| a.tag.as_str() > t) && query.may_match(a, now_ms))
        .collect();
    // The store hands the register over by tag; sorting again keeps that a promise of this function.
    candidates.sort_unstable_by(|a, b| a.tag.cmp(&b.tag));
    if !query.needs_facts() {
        candidates.truncate(limit);
        return Ok(candidates);
    }
    let mut alerts: HashMap<String, Vec<&'static str>> = HashMap::new();
    if query.needs_alerts() {
        let filter = crate::alerts::AlertFilter { limit: Some(u32::MAX), ..Default::default() };
        for a in store.alerts(&filter)? {
            if let Some(tag) = a.tag {
                alerts.entry(tag).or_default().push(a.state.as_str());
            }
        }
    }
    let none: Vec<&'static str> = Vec::new();
    let mut found = Vec::new();
    for chunk in candidates.chunks(SEARCH_CHUNK) {
        let tags: Vec<String> = chunk.iter().map(|a| a.tag.clone()).collect();
        let states = if query.needs_states() { store.asset_states(Some(&tags))? } else { HashMap::new() };
        // Per asset: the vendor and the open ports of its hosts' latest sightings.
        let mut seen: HashMap<String, (Option<String>, Vec<u16>)> = HashMap::new();
        if query.needs_sightings() {
            for (s, tag) in store.sightings(&crate::store::SightingSelect::Tags(tags))? {
                let Some(tag) = tag else { continue };
                let e = seen.entry(tag).or_default();
                if e.0.is_none() {
                    e.0 = s.vendor.clone();
                }
                e.1.extend(&s.open);
            }
        }
        for a in chunk {
            let state = states.get(&a.tag);
            let (vendor, ports) = seen.get(&a.tag).map_or((None, &[][..]), |(v, p)| (v.as_deref(), &p[..]));
            let facts = Facts {
                last_seen_ms: state.and_then(|s| s.last_seen_ms),
                last_ip: state.and_then(|s| s.last_ip.as_deref()),
                vendor,
                ports,
                alert_states: alerts.get(&a.tag).unwrap_or(&none),
            };
            if query.matches(a, &facts, now_ms) {
                found.push(*a);
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
    }
    Ok(found)
}
