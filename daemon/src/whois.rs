//! The responder's question in one query — what is this host, who owns it,
//! what is licensed on it, should it still exist? — answered as a typed
//! [`WhoisStatus`] a client can act on, plus the sentence a person reads.
//!
//! The answer comes from reconciliation's match of what answers, never from
//! the register's recorded address alone: an address the register records
//! for asset A but now answered by someone's phone is "an unregistered
//! device", with A named as the asset the register expected there. The
//! store loads ([`WhoisData`]); everything here is pure.

use serde::Serialize;

use crate::alerts::{Alert, AlertKind};
use crate::reconcile::rules::Presence;
use crate::reconcile::{AssetState, Identity};
use crate::register::{Asset, Lifecycle};

/// One observed address in a whois answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WhoisHost {
    /// Address.
    pub ip: String,
    /// MAC last seen on it.
    pub mac: Option<String>,
    /// First sighting (unix ms).
    pub first_seen_ms: i64,
    /// Last sighting (unix ms).
    pub last_seen_ms: i64,
    /// Agent that saw it last.
    pub last_agent: String,
    /// On the network now: no complete sweep of its segment has missed it
    /// `gone_after_sweeps` times since its last sighting.
    pub present: bool,
    /// Complete sweeps covering it since its last sighting.
    pub missed_sweeps: usize,
    /// How it was matched to the register (or why not).
    pub identity: Option<Identity>,
    /// The latest observation as the agent sent it: ports, services, fingerprints, names
    /// (its address and MACs in the canonical spelling).
    pub observation: serde_json::Value,
}

/// What is known about the thing asked for, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WhoisStatus {
    /// A registered asset in service, on the network now.
    RegisteredAndExpected,
    /// A registered asset in service, not on the network now.
    RegisteredNotSeen,
    /// Decommissioned, disposed or still in procurement — and answering.
    ShouldNotExist,
    /// Retired and not answering.
    Retired,
    /// Observed, matches no asset (shadow IT).
    UnknownDevice,
    /// Fits several assets equally: a person must decide.
    Ambiguous,
    /// In the register, never observed by any agent.
    NotSeen,
}

/// An asset the register records for the address, MAC or name asked
/// about, other than what answers there now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordedFor {
    /// Its tag.
    pub tag: String,
    /// Its name.
    pub name: String,
    /// Its lifecycle stage.
    pub lifecycle: Lifecycle,
    /// When it was last seen anywhere (unix ms), if ever.
    pub last_seen_ms: Option<i64>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WhoisAnswer {
    /// What was asked.
    pub query: String,
    /// `ip`, `mac`, `tag`, `external_id` (`SYSTEM:ID`), `serial` or `hostname`.
    pub query_kind: &'static str,
    /// In one word.
    pub status: WhoisStatus,
    /// One line for a person.
    pub verdict: String,
    /// The asset: the one that answers (by reconciliation), or the one asked for by tag or MAC.
    pub asset: Option<Asset>,
    /// The register's entry for what was asked when something else answers there.
    pub recorded_for: Option<RecordedFor>,
    /// Reconciliation's memory of the asset: first/last seen, where, by which agent.
    pub seen: Option<AssetState>,
    /// Observed addresses behind the answer, latest first.
    pub hosts: Vec<WhoisHost>,
    /// Live alerts about it.
    pub alerts: Vec<Alert>,
    /// The asset's owner as the people directory knows them (absent when no
    /// owner is recorded or no directory is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerFacts>,
    /// The retirement checklist, each step with its evidence and date, when
    /// the asset is decommissioned or disposed ([`crate::retirement`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retirement: Option<crate::retirement::Checklist>,
    /// The tags of the register entries recording what was asked (its
    /// address, MAC, serial number, external id or name), in byte order —
    /// the first ten — when more than one does: the register contradicts
    /// itself there. Absent when one entry or none does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub register_entries: Vec<String>,
    /// How many register entries record it in all, when more than one does
    /// (more than `register_entries` lists when over ten).
    #[serde(skip_serializing_if = "is_zero")]
    pub register_entry_count: usize,
    /// Other register entries recording what was asked under a key whois
    /// tries after the one that answered — a serial number or a host name
    /// that is the asked-for tag, a host name that is the asked-for serial —
    /// each with that key. Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_recorded_as: Vec<AlsoRecorded>,
}

/// A register entry recording what was asked under another key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlsoRecorded {
    /// `serial` or `hostname`.
    pub key: &'static str,
    /// The entry's tag.
    pub tag: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Who an asset's owner is, from the people directory.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OwnerFacts {
    /// `active`, `left` or `unknown` (not in the directory).
    pub standing: String,
    /// The directory entry the owner names, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::directory::DirectoryEntry>,
    /// The day they left, when they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_on: Option<crate::register::Day>,
}

impl OwnerFacts {
    /// How the owner stands in `directory` on `today`; `None` when nothing is to be said.
    pub fn of(
        owner: &str,
        directory: &crate::directory::standing::Directory,
        today: crate::register::Day,
    ) -> Option<Self> {
        use crate::directory::standing::Standing;
        let (standing, person, left_on) = match directory.standing(owner, today) {
            Standing::NotChecked => return None,
            Standing::Active(e) => ("active", Some(e.clone()), None),
            Standing::ActiveTeam => ("active", None, None),
            Standing::Left(e) => ("left", Some(e.clone()), e.left_on),
            Standing::TeamGone(d) => ("left", None, d),
            Standing::Unknown => ("unknown", None, None),
        };
        Some(OwnerFacts { standing: standing.into(), person, left_on })
    }

    /// The verdict's words for the owner, after `owned by NAME`.
    fn note(&self, owner: &str) -> String {
        let name = match &self.person {
            Some(p) if !p.name.eq_ignore_ascii_case(owner.trim()) => format!(" ({})", p.name),
            _ => String::new(),
        };
        name + &match (self.standing.as_str(), self.left_on) {
            ("left", Some(d)) => format!(", who left on {d}"),
            ("left", None) => ", who has left".into(),
            ("unknown", _) => " (not in the people directory, or a name two people share)".into(),
            _ => String::new(),
        }
    }
}

/// What the store found for a query.
#[derive(Debug, Clone, Default)]
pub struct WhoisData {
    /// `ip`, `mac`, `tag` or `hostname`.
    pub query_kind: &'static str,
    /// The asset (reconciled match, or named by tag or a registered MAC).
    pub asset: Option<Asset>,
    /// Its state.
    pub seen: Option<AssetState>,
    /// The register's other asset for the query, with its state.
    pub recorded: Option<(Asset, Option<AssetState>)>,
    /// Hosts, with their presence still to judge.
    pub hosts: Vec<WhoisHost>,
    /// Live alerts.
    pub alerts: Vec<Alert>,
    /// The asset's owner in the people directory (filled by the use case, not the store).
    pub owner: Option<OwnerFacts>,
    /// Every register entry recording what was asked, when more than one
    /// does (the first ten by tag).
    pub register_entries: Vec<String>,
    /// How many register entries record it in all (0 when one or none does).
    pub register_entry_count: usize,
    /// Other entries recording it under a key tried later: (`serial` or `hostname`, tag).
    pub also_recorded_as: Vec<(&'static str, String)>,
    /// For a MAC: the addresses it answered for beside the host's own MAC
    /// in that host's latest sweep (an identity conflict), with that MAC.
    pub conflicting_at: Vec<(String, Option<String>)>,
    /// For a MAC: the addresses it was seen at before, not in their latest
    /// sweep (a moved device, or an identity conflict no longer seen), with
    /// the MAC that sweep saw there.
    pub seen_before_at: Vec<(String, Option<String>)>,
}

/// Which asset answers for a query: the reconciled match of the hosts
/// found, else (for a MAC, tag or name) the register's entry. Returns
/// (answering asset, the register's other entry).
pub fn pick(
    kind: &str,
    matched: Option<&str>,
    register: Option<&str>,
    hosts_found: bool,
) -> (Option<String>, Option<String>) {
    match (kind, matched, register) {
        // Nothing observed there: the register's entry is all there is.
        ("ip", None, r) if !hosts_found => (r.map(String::from), None),
        // What answers at an address is what reconciliation matched there.
        ("ip", m, r) => (m.map(String::from), r.filter(|r| Some(*r) != m).map(String::from)),
        // A registered MAC or a tag names its asset.
        ("mac" | "tag" | "serial" | "external_id", _, Some(r)) => (Some(r.to_string()), None),
        (_, Some(m), r) => (Some(m.to_string()), r.filter(|r| *r != m).map(String::from)),
        (_, None, r) if !hosts_found => (r.map(String::from), None),
        (_, None, r) => (None, r.map(String::from)),
    }
}

fn fmt(ms: i64) -> String {
    crate::reconcile::assets::fmt_ms(ms)
}

/// Turn the store's data and each host's presence into the answer.
pub fn answer(query: &str, data: WhoisData, presence: impl Fn(&WhoisHost) -> Presence) -> WhoisAnswer {
    let hosts: Vec<WhoisHost> = data
        .hosts
        .iter()
        .cloned()
        .map(|mut h| {
            let p = presence(&h);
            h.present = p.present;
            h.missed_sweeps = p.misses.count;
            h
        })
        .collect();
    // A MAC answering beside another host's own does not make its asset present.
    let answering = hosts.iter().any(|h| h.present && !data.elsewhere(&h.ip));
    // A MAC no host answers with, seen only beside other hosts' own.
    let conflict_only = !(data.conflicting_at.is_empty() && data.seen_before_at.is_empty())
        && data.asset.is_none()
        && hosts.iter().all(|h| data.elsewhere(&h.ip));
    let ambiguous = hosts.iter().find_map(|h| match &h.identity {
        Some(Identity::Ambiguous { candidates }) => {
            Some(candidates.iter().map(|c| c.tag.as_str()).collect::<Vec<_>>().join(", "))
        }
        _ => None,
    });
    let recorded_for = data.recorded.as_ref().map(|(a, s)| RecordedFor {
        tag: a.tag.clone(),
        name: a.name.clone(),
        lifecycle: a.lifecycle,
        last_seen_ms: s.as_ref().and_then(|s| s.last_seen_ms),
    });
    let recorded_note = recorded_for.as_ref().map(|r| {
        let seen = match r.last_seen_ms {
            Some(l) => format!("which was last seen {}", fmt(l)),
            None => "which has never been seen".to_string(),
        };
        let also = if data.register_entries.is_empty() { String::new() } else { format!(" ({})", data.entries_note()) };
        format!("; the register records this {} for {} ({}), {seen}{also}", data.query_kind_word(), r.tag, r.lifecycle)
    });
    let (status, mut verdict) = match &data.asset {
        // Nothing answers for it and several register entries record it.
        None if hosts.is_empty() && !data.register_entries.is_empty() => (
            WhoisStatus::Ambiguous,
            format!(
                "ambiguous: the register records this {} for {} assets: {}; a person must decide which (correct the register)",
                data.query_kind_word(),
                data.register_entry_count,
                data.listed_entries()
            ),
        ),
        // A MAC that is no host's own, only answering beside another's.
        None if conflict_only => (
            WhoisStatus::UnknownDevice,
            if data.conflicting_at.is_empty() {
                format!(
                    "unregistered: this MAC is no host's own now; it {} (a device that moved, or an identity conflict \
                     no longer seen: see the address's alerts and history)",
                    data.before_note()
                )
            } else {
                format!(
                    "unregistered: this MAC is no host's own; it {} (an identity conflict: a spoofed or duplicate address){}",
                    data.conflicts_note(),
                    if data.seen_before_at.is_empty() { String::new() } else { format!("; it {}", data.before_note()) }
                )
            },
        ),
        None => match ambiguous {
            Some(c) => {
                (WhoisStatus::Ambiguous, format!("ambiguous: fits register assets {c} equally; a person must decide"))
            }
            None => {
                // The MAC's own host first, not one it answered beside.
                let own = |h: &&WhoisHost| !data.elsewhere(&h.ip);
                let who = hosts
                    .iter()
                    .filter(own)
                    .find(|h| h.present)
                    .or(hosts.iter().find(own))
                    .or(hosts.iter().find(|h| h.present))
                    .or(hosts.first());
                let vendor = who
                    .and_then(|h| h.observation["mac"]["vendor"].as_str())
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                let at = who.map(|h| h.ip.clone()).unwrap_or_default();
                let alert = if data.alerts.iter().any(|a| a.kind == AlertKind::UnknownAsset) {
                    "; shadow-IT alert open"
                } else {
                    ""
                };
                let now = if answering { "answered" } else { "was last answered" };
                (WhoisStatus::UnknownDevice, format!("{at} {now} by an unregistered device{vendor}{alert}"))
            }
        },
        Some(a) => {
            let owner = if a.owner.is_empty() {
                "no owner recorded".to_string()
            } else {
                format!("owned by {}{}", a.owner, data.owner.as_ref().map(|o| o.note(&a.owner)).unwrap_or_default())
            };
            let since = a.lifecycle_since.map(|d| format!(" since {d}")).unwrap_or_default();
            let last = data.seen.as_ref().and_then(|s| s.last_seen_ms);
            let not_now = match last {
                Some(l) => format!("not answering now (last seen {})", fmt(l)),
                None => "never seen by any agent".to_string(),
            };
            let bad = a.lifecycle.retired() || a.lifecycle == Lifecycle::Procurement;
            // As the should-be-retired and pending-in-use rules judge it: only a
            // sighting dated on or after the lifecycle change says it still answers.
            let before_change = last.is_some_and(|l| l < crate::reconcile::rules::lifecycle_change_ms(a));
            match (answering, bad, last) {
                (true, true, Some(l)) if before_change => (
                    if a.lifecycle.retired() { WhoisStatus::Retired } else { WhoisStatus::RegisteredNotSeen },
                    format!(
                        "{}: {} is {}{since}; last answered {}, before that change, and not seen since; {owner}",
                        if a.lifecycle.retired() { "retired" } else { "registered" },
                        a.tag,
                        a.lifecycle,
                        fmt(l)
                    ),
                ),
                (true, true, _) => (
                    WhoisStatus::ShouldNotExist,
                    format!("should NOT exist: {} is {}{since} but still answering; {owner}", a.tag, a.lifecycle),
                ),
                (true, false, _) => (
                    WhoisStatus::RegisteredAndExpected,
                    format!("registered: {} ({}) is {}{since}, answering; {owner}", a.tag, a.name, a.lifecycle),
                ),
                (false, _, None) => (
                    WhoisStatus::NotSeen,
                    format!("registered: {} ({}) is {}{since}, {not_now}; {owner}", a.tag, a.name, a.lifecycle),
                ),
                (false, true, Some(_)) if a.lifecycle.retired() => (
                    WhoisStatus::Retired,
                    format!("retired: {} is {}{since} and {not_now}; {owner}", a.tag, a.lifecycle),
                ),
                (false, _, Some(_)) => (
                    WhoisStatus::RegisteredNotSeen,
                    format!("registered: {} ({}) is {}{since}, {not_now}; {owner}", a.tag, a.name, a.lifecycle),
                ),
            }
        }
    };
    if !conflict_only {
        if !data.conflicting_at.is_empty() {
            verdict.push_str(&format!("; it also {} (an identity conflict)", data.conflicts_note()));
        }
        if !data.seen_before_at.is_empty() {
            verdict.push_str(&format!("; it {}", data.before_note()));
        }
    }
    // Another MAC answered here too: the verdict is not the whole story.
    if data.conflicting_at.is_empty() && data.alerts.iter().any(|a| a.kind == AlertKind::IdentityConflict) {
        verdict.push_str("; an identity-conflict alert is open here: another MAC answered for this address too");
    }
    for (key, tag) in &data.also_recorded_as {
        let word = if *key == "serial" { "serial number" } else { "name" };
        verdict.push_str(&format!("; the register also records this as the {word} of {tag}"));
    }
    match recorded_note {
        Some(n) => verdict.push_str(&n),
        // Answered (by reconciliation's match), yet the register records it for others too.
        None if data.asset.is_some() && !data.register_entries.is_empty() => {
            verdict.push_str(&format!("; {}", data.entries_note()));
        }
        None => {}
    }
    WhoisAnswer {
        query: query.to_string(),
        query_kind: data.query_kind,
        status,
        verdict,
        asset: data.asset,
        recorded_for,
        seen: data.seen,
        hosts,
        alerts: data.alerts,
        owner: data.owner,
        retirement: None,
        register_entries: data.register_entries,
        register_entry_count: data.register_entry_count,
        also_recorded_as: data.also_recorded_as.into_iter().map(|(key, tag)| AlsoRecorded { key, tag }).collect(),
    }
}

impl WhoisData {
    /// Whether `ip`'s host is not the asked MAC's own: the MAC answered
    /// beside that host's own in its latest sweep, or was seen there before.
    fn elsewhere(&self, ip: &str) -> bool {
        self.conflicting_at.iter().chain(&self.seen_before_at).any(|(at, _)| at == ip)
    }

    /// `was seen before at 198.18.0.10 (where its latest sweep saw 00:1b:…), not in the latest sweep there`.
    fn before_note(&self) -> String {
        let each: Vec<String> = self
            .seen_before_at
            .iter()
            .map(|(ip, now)| match now {
                Some(m) => format!("{ip} (where its latest sweep saw {m})"),
                None => ip.clone(),
            })
            .collect();
        format!("was seen before at {}, not in the latest sweep there", each.join(", and at "))
    }

    /// `answered for 198.18.0.10 beside that host's own MAC 00:1b:… in its latest sweep`.
    fn conflicts_note(&self) -> String {
        let each: Vec<String> = self
            .conflicting_at
            .iter()
            .map(|(ip, own)| match own {
                Some(m) => format!("{ip} beside that host's own MAC {m}"),
                None => format!("{ip} beside the host there"),
            })
            .collect();
        format!("answered for {} in its latest sweep", each.join(", and for "))
    }

    /// The listed entries, and how many more there are: `A, B and 2 more`.
    fn listed_entries(&self) -> String {
        let listed = self.register_entries.join(", ");
        match self.register_entry_count.saturating_sub(self.register_entries.len()) {
            0 => listed,
            more => format!("{listed} and {more} more"),
        }
    }

    /// `12 register entries record this address: A, B and 10 more`.
    fn entries_note(&self) -> String {
        format!(
            "{} register entries record this {}: {}",
            self.register_entry_count,
            self.query_kind_word(),
            self.listed_entries()
        )
    }

    fn query_kind_word(&self) -> &'static str {
        match self.query_kind {
            "ip" => "address",
            "mac" => "MAC",
            "hostname" => "name",
            "serial" => "serial number",
            "external_id" => "external id",
            _ => "entry",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_answers_for_what_reconciliation_matched_not_for_the_register_entry() {
        assert_eq!(pick("ip", None, Some("NB-050"), true), (None, Some("NB-050".into())));
        assert_eq!(pick("ip", None, Some("NB-050"), false), (Some("NB-050".into()), None));
        assert_eq!(pick("ip", Some("LT-1"), Some("LT-1"), true), (Some("LT-1".into()), None));
        assert_eq!(pick("ip", Some("LT-2"), Some("NB-050"), true), (Some("LT-2".into()), Some("NB-050".into())));
        assert_eq!(pick("tag", None, Some("SRV-1"), false), (Some("SRV-1".into()), None));
        assert_eq!(pick("mac", Some("X"), Some("Y"), true), (Some("Y".into()), None));
        assert_eq!(pick("hostname", None, Some("APP-1"), false), (Some("APP-1".into()), None));
        assert_eq!(pick("hostname", Some("B"), Some("A"), true), (Some("B".into()), Some("A".into())));
    }

    /// A host seen at `ip` with `mac` (presence judged by [`present`]).
    fn host(ip: &str, mac: &str) -> WhoisHost {
        WhoisHost {
            ip: ip.into(),
            mac: Some(mac.into()),
            first_seen_ms: 1,
            last_seen_ms: 2,
            last_agent: "a1".into(),
            present: false,
            missed_sweeps: 0,
            identity: None,
            observation: serde_json::Value::Null,
        }
    }

    /// Every host present.
    fn present(_: &WhoisHost) -> Presence {
        Presence {
            present: true,
            misses: crate::reconcile::sweeps::Misses { count: 0, last_finish_ms: 2, covered: true },
        }
    }

    /// Regression (review of 2026-12-08): a MAC that also answers for
    /// another host's address (beside that host's own MAC) says so after
    /// the verdict on its own asset.
    #[test]
    fn a_registered_mac_answering_for_another_address_says_so() {
        let asset = crate::register::model::asset_from_json(serde_json::json!({
            "tag": "LT-7", "name": "laptop", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:00:07"],
        }))
        .unwrap();
        let data = WhoisData {
            query_kind: "mac",
            asset: Some(asset),
            hosts: vec![host("198.18.0.20", "00:1b:21:00:00:07"), host("198.18.0.10", "00:1b:21:00:00:01")],
            conflicting_at: vec![("198.18.0.10".into(), Some("00:1b:21:00:00:01".into()))],
            ..WhoisData::default()
        };
        let a = answer("00:1b:21:00:00:07", data, present);
        assert_eq!(a.status, WhoisStatus::RegisteredAndExpected);
        assert!(
            a.verdict.starts_with(
                "registered: LT-7 (laptop) is deployed, answering; no owner recorded; it also answered \
             for 198.18.0.10 beside that host's own MAC 00:1b:21:00:00:01 in its latest sweep (an identity conflict)"
            ),
            "{}",
            a.verdict
        );
    }

    /// Regression (review of 2026-12-08): a registered MAC seen only as
    /// another host's conflicting MAC made its asset "answering"; a MAC
    /// that is one host's own and another's conflicting one was answered
    /// for at the wrong address.
    #[test]
    fn a_conflicting_sighting_neither_makes_an_asset_present_nor_leads_the_answer() {
        let asset = crate::register::model::asset_from_json(serde_json::json!({
            "tag": "REG-77", "name": "kiosk", "type": "endpoint", "lifecycle": "deployed", "macs": ["00:1b:21:00:00:77"],
        }))
        .unwrap();
        let conflict = vec![("198.18.0.20".to_string(), Some("00:1b:21:00:00:20".to_string()))];
        let data = WhoisData {
            query_kind: "mac",
            asset: Some(asset),
            hosts: vec![host("198.18.0.20", "00:1b:21:00:00:20")],
            conflicting_at: conflict.clone(),
            ..WhoisData::default()
        };
        let a = answer("00:1b:21:00:00:77", data, present);
        assert_eq!(a.status, WhoisStatus::NotSeen, "{}", a.verdict);
        assert!(a.verdict.contains("never seen by any agent"), "{}", a.verdict);
        assert!(a.verdict.contains("it also answered for 198.18.0.20 beside that host's own MAC"), "{}", a.verdict);

        let data = WhoisData {
            query_kind: "mac",
            hosts: vec![host("198.18.0.20", "00:1b:21:00:00:20"), host("198.18.0.21", "00:1b:21:00:00:88")],
            conflicting_at: conflict,
            ..WhoisData::default()
        };
        let a = answer("00:1b:21:00:00:88", data, present);
        assert_eq!(a.status, WhoisStatus::UnknownDevice);
        assert!(a.verdict.starts_with("198.18.0.21 answered by an unregistered device"), "{}", a.verdict);
        assert!(a.verdict.contains("; it also answered for 198.18.0.20 beside"), "{}", a.verdict);
    }
}
