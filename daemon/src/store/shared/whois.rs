//! Backend-neutral parts of whois and the certificate inventory (see
//! `store::shared`): how a query is classified, which indexed lookups
//! answer it and in what order, and how the answer is assembled from their
//! rows. Each backend implements [`Lookups`] — one indexed statement per
//! method, never a scan — and calls [`whois`]; so both answer the same.
//! Which asset the answer is about is decided by [`crate::whois::pick`];
//! the verdict by [`crate::whois::answer`].

use std::collections::HashMap;
use std::net::IpAddr;

use crate::alerts::{Alert, AlertKind};
use crate::certificates::HostTls;
use crate::reconcile::AssetState;
use crate::register::Asset;
use crate::store::StoreError;
use crate::whois::{WhoisData, WhoisHost, pick};

/// Hosts one lookup returns at most, the most recently seen first.
pub const HOSTS_LIMIT: i64 = 20;

/// Which observed hosts a lookup selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostsBy<'a> {
    /// The host at this address (canonical text, as ingest stores it).
    Ip(&'a str),
    /// Hosts this MAC (canonical text) was seen on and still is (`mac_ip`,
    /// then `hosts.mac`), or answered for beside the host's own MAC in its
    /// latest sweep (an identity conflict: the pair's last sighting is that
    /// sweep's, `o.seen_ms`).
    Mac(&'a str),
    /// Hosts this MAC was seen at before (`mac_ip`) but that [`HostsBy::Mac`]
    /// does not select: not their MAC now, not in their latest sweep. The
    /// complement keeps the common case (a MAC at one address) to an index
    /// probe that returns nothing.
    MacBefore(&'a str),
    /// Hosts answering to this name (lowercase, without a trailing dot; `host_names`).
    Name(&'a str),
    /// Hosts with a name after this prefix (`"name."`) and before it followed
    /// by `~`, in byte order: the names a short name stands for.
    NamePrefix(&'a str),
    /// Hosts reconciliation matched to this asset tag (`host_matches`).
    Asset(&'a str),
}

impl<'a> HostsBy<'a> {
    /// The statement selecting these hosts as [`HostRow`]s (columns in its
    /// field order) and its one argument, `$1`. Both backends run it as is:
    /// SQLite reads `$1` as its first parameter, PostgreSQL as its own; text
    /// comparisons are bytewise on both (SQLite's `BINARY`, PostgreSQL's
    /// `COLLATE "C"` columns), so a name prefix is one index range.
    pub fn sql(self) -> (String, &'a str) {
        let (clause, arg) = match self {
            HostsBy::Ip(ip) => ("h.ip = $1", ip),
            HostsBy::Mac(mac) => (
                "h.ip IN (SELECT ip FROM mac_ip WHERE mac = $1) AND (h.mac = $1
                   OR (SELECT x.last_seen_ms FROM mac_ip x WHERE x.mac = $1 AND x.ip = h.ip) >= o.seen_ms)",
                mac,
            ),
            HostsBy::MacBefore(mac) => (
                "h.ip IN (SELECT ip FROM mac_ip WHERE mac = $1) AND coalesce(h.mac, '') <> $1
                   AND coalesce((SELECT x.last_seen_ms FROM mac_ip x WHERE x.mac = $1 AND x.ip = h.ip), 0) < o.seen_ms",
                mac,
            ),
            HostsBy::Name(name) => ("h.ip IN (SELECT ip FROM host_names WHERE name = $1)", name),
            HostsBy::NamePrefix(prefix) => {
                ("h.ip IN (SELECT ip FROM host_names WHERE name > $1 AND name < $1 || '~')", prefix)
            }
            HostsBy::Asset(tag) => ("h.ip IN (SELECT ip FROM host_matches WHERE tag = $1)", tag),
        };
        let sql = format!(
            "SELECT h.ip, h.mac, h.first_seen_ms, h.last_seen_ms, h.last_agent, m.info, o.body, m.tag
             FROM hosts h JOIN observations o ON o.id = h.latest_obs
             LEFT JOIN host_matches m ON m.ip = h.ip WHERE {clause}
             ORDER BY h.last_seen_ms DESC LIMIT {HOSTS_LIMIT}"
        );
        (sql, arg)
    }
}

/// Register entries one whois lists at most when several record what was
/// asked; [`RegisterKey::tags_sql`] reads one more, to know there are more
/// (then [`RegisterKey::count_sql`] says how many).
pub const REGISTER_ENTRIES_LIMIT: usize = 10;

/// Which register entries a lookup selects from `asset_keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterKey<'a> {
    /// The entries whose `kind` key (`ip`, `mac`, `serial`, `external_id`,
    /// `hostname`) is this value, as the register keys it.
    Is(&'a str, &'a str),
    /// The entries with a host name after this prefix (`"name."`) and
    /// before it followed by `~`, in byte order: the names a short name
    /// stands for.
    HostnamePrefix(&'a str),
}

impl<'a> RegisterKey<'a> {
    /// The condition, its two arguments, and whether a tag can come twice
    /// (one key is unique per tag — `(kind, value, tag)` is the primary key —
    /// so only a range of names needs `DISTINCT`, which costs a sort).
    fn clause(self) -> (&'static str, [&'a str; 2], &'static str) {
        match self {
            RegisterKey::Is(kind, value) => ("kind = $1 AND value = $2", [kind, value], ""),
            RegisterKey::HostnamePrefix(prefix) => {
                ("kind = $1 AND value > $2 AND value < $2 || '~'", ["hostname", prefix], "DISTINCT ")
            }
        }
    }

    /// The distinct tags, in byte order, one more than
    /// [`REGISTER_ENTRIES_LIMIT`] at most, and the statement's two arguments
    /// `$1`, `$2` (both backends run it as is; one index range either way).
    pub fn tags_sql(self) -> (String, [&'a str; 2]) {
        let (clause, args, distinct) = self.clause();
        let limit = REGISTER_ENTRIES_LIMIT + 1;
        (format!("SELECT {distinct}tag FROM asset_keys WHERE {clause} ORDER BY tag LIMIT {limit}"), args)
    }

    /// How many distinct tags, and the statement's two arguments.
    pub fn count_sql(self) -> (String, [&'a str; 2]) {
        let (clause, args, distinct) = self.clause();
        (format!("SELECT count({distinct}tag) FROM asset_keys WHERE {clause}"), args)
    }
}

/// One host as the backends read it: `hosts h JOIN observations o ON
/// o.id = h.latest_obs LEFT JOIN host_matches m ON m.ip = h.ip`.
#[derive(Debug, Clone)]
pub struct HostRow {
    /// `h.ip`.
    pub ip: String,
    /// `h.mac`.
    pub mac: Option<String>,
    /// `h.first_seen_ms` (unix ms).
    pub first_seen_ms: i64,
    /// `h.last_seen_ms` (unix ms).
    pub last_seen_ms: i64,
    /// `h.last_agent`.
    pub last_agent: String,
    /// `m.info`: the match's identity JSON, when matched.
    pub info: Option<String>,
    /// `o.body`: the latest observation's JSON.
    pub body: String,
    /// `m.tag`: the asset it was matched to.
    pub tag: Option<String>,
}

impl HostRow {
    /// The host, with its presence still to judge, and the asset it was matched to.
    /// A match or observation that does not decode is left out (`None`, `null`), as ever.
    fn into_host(self) -> (WhoisHost, Option<String>) {
        (
            WhoisHost {
                ip: self.ip,
                mac: self.mac,
                first_seen_ms: self.first_seen_ms,
                last_seen_ms: self.last_seen_ms,
                last_agent: self.last_agent,
                present: false,
                missed_sweeps: 0,
                identity: self.info.and_then(|i| serde_json::from_str(&i).ok()),
                observation: super::ingest::shown_observation(&self.body),
            },
            self.tag,
        )
    }
}

/// The indexed lookups a whois answer is made of, in one read snapshot.
pub trait Lookups {
    /// Hosts `by` selects: at most [`HOSTS_LIMIT`], the latest seen first.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn hosts(&mut self, by: HostsBy<'_>) -> Result<Vec<HostRow>, StoreError>;

    /// The tags `key` selects: [`RegisterKey::tags_sql`]'s rows.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn register_tags(&mut self, key: RegisterKey<'_>) -> Result<Vec<String>, StoreError>;

    /// How many tags `key` selects: [`RegisterKey::count_sql`]'s one value.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn register_count(&mut self, key: RegisterKey<'_>) -> Result<i64, StoreError>;

    /// The stored tag spelled as `tag` without regard to case (the first, in byte order).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn tag_nocase(&mut self, tag: &str) -> Result<Option<String>, StoreError>;

    /// The asset `tag`.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn asset(&mut self, tag: &str) -> Result<Option<Asset>, StoreError>;

    /// The reconciliation state of the asset `tag`.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn asset_state(&mut self, tag: &str) -> Result<Option<AssetState>, StoreError>;

    /// Live alerts about the asset `tag` or any of the addresses `ips`.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the statement fails.
    fn live_alerts(&mut self, tag: Option<&str>, ips: &[String]) -> Result<Vec<Alert>, StoreError>;
}

/// Load what is known about `query` — an IP, a MAC, an asset tag, an
/// external id (`system:id`), a serial number or a host name, tried in that
/// order — through `l`; `None` when nothing at all is.
///
/// # Errors
/// What a lookup returns.
pub fn whois(l: &mut impl Lookups, query: &str) -> Result<Option<WhoisData>, StoreError> {
    let q = query.trim();
    // For a MAC: the canonical spelling, to tell the hosts it is the MAC of
    // from those it answered for beside their own (an identity conflict).
    let mut asked_mac: Option<String> = None;
    // Addresses the MAC was seen at before, not in their latest sweep.
    let mut before: Vec<String> = Vec::new();
    let (kind, rows, entries) = if let Ok(ip) = q.parse::<IpAddr>() {
        let ip = ip.to_canonical().to_string();
        ("ip", l.hosts(HostsBy::Ip(&ip))?, Entries::of(l, RegisterKey::Is("ip", &ip))?)
    } else if let Ok(mac) = q.parse::<census_proto::MacAddr>() {
        let mac = asked_mac.insert(mac.to_string());
        let mut rows = l.hosts(HostsBy::Mac(mac))?;
        // And where it was seen before: every such address when it answers
        // nowhere now (a moved device, or a conflict a later sweep no longer
        // saw); else those whose open identity-conflict alert names it —
        // not every address a DHCP client ever had.
        let answering_now = !rows.is_empty();
        for r in l.hosts(HostsBy::MacBefore(mac))? {
            if rows.iter().any(|now| now.ip == r.ip) {
                continue;
            }
            let named = answering_now && {
                let alerts = l.live_alerts(None, std::slice::from_ref(&r.ip))?;
                alerts.iter().any(|a| a.kind == AlertKind::IdentityConflict && a.summary.contains(mac.as_str()))
            };
            if !answering_now || named {
                before.push(r.ip.clone());
                rows.push(r);
            }
        }
        ("mac", rows, Entries::of(l, RegisterKey::Is("mac", mac))?)
    } else if let Some(tag) = l.tag_nocase(q)? {
        ("tag", Vec::new(), Entries { tags: vec![tag], total: 1 })
    } else if let Some(e) = match external_id(q) {
        Some(id) => Some(Entries::of(l, RegisterKey::Is("external_id", &id))?).filter(|e| e.total > 0),
        None => None,
    } {
        ("external_id", Vec::new(), e)
    } else if let Some(e) = Some(Entries::of(l, RegisterKey::Is("serial", &q.to_lowercase()))?).filter(|e| e.total > 0)
    {
        ("serial", Vec::new(), e)
    } else {
        let Some(name) = host_name(q) else { return Ok(None) };
        let short = !name.contains('.');
        let prefix = format!("{name}.");
        let mut hosts = l.hosts(HostsBy::Name(&name))?;
        if hosts.is_empty() && short {
            hosts = l.hosts(HostsBy::NamePrefix(&prefix))?;
        }
        ("hostname", hosts, Entries::of_name(l, &name)?)
    };
    let mut hosts: Vec<(WhoisHost, Option<String>)> = rows.into_iter().map(HostRow::into_host).collect();
    // Hosts the asked MAC is not the MAC of: it answered beside theirs, now or before.
    let conflict = |h: &WhoisHost| asked_mac.as_ref().is_some_and(|m| h.mac.as_ref() != Some(m));
    let at = |(h, _): &(WhoisHost, Option<String>)| (h.ip.clone(), h.mac.clone());
    let conflicting_at: Vec<(String, Option<String>)> =
        hosts.iter().filter(|(h, _)| conflict(h) && !before.contains(&h.ip)).map(at).collect();
    let seen_before_at: Vec<(String, Option<String>)> =
        hosts.iter().filter(|(h, _)| before.contains(&h.ip)).map(at).collect();
    // A MAC answering beside a host's own is not that host's asset.
    let matched = hosts.iter().filter(|(h, _)| !conflict(h)).find_map(|(_, t)| t.clone());
    let (answering, other) =
        pick(kind, matched.as_deref(), entries.tags.first().map(String::as_str), !hosts.is_empty());
    let (answering, other, register_entries) = shared_key(answering, other, matched.as_deref(), entries.tags);
    let register_entry_count = if register_entries.is_empty() { 0 } else { entries.total };
    let also_recorded_as = also_recorded_as(l, kind, q, answering.as_deref())?;
    let asset = match &answering {
        Some(t) => l.asset(t)?,
        None => None,
    };
    if let Some(a) = &asset {
        // Every address the asset answers on: one asset, however many MACs and IPs.
        if kind != "ip" {
            hosts.retain(|(h, t)| t.as_deref() == Some(a.tag.as_str()) || conflict(h));
        }
        for h in l.hosts(HostsBy::Asset(&a.tag))? {
            if !hosts.iter().any(|(o, _)| o.ip == h.ip) {
                hosts.push(h.into_host());
            }
        }
    }
    let recorded = match &other {
        Some(t) => match l.asset(t)? {
            Some(a) => {
                let state = l.asset_state(&a.tag).ok().flatten();
                Some((a, state))
            }
            None => None,
        },
        None => None,
    };
    if asset.is_none() && hosts.is_empty() && recorded.is_none() && register_entries.is_empty() {
        return Ok(None);
    }
    let seen = match &asset {
        Some(a) => l.asset_state(&a.tag)?,
        None => None,
    };
    let ips: Vec<String> = hosts.iter().map(|(h, _)| h.ip.clone()).collect();
    let alerts = l.live_alerts(asset.as_ref().map(|a| a.tag.as_str()), &ips)?;
    Ok(Some(WhoisData {
        query_kind: kind,
        asset,
        seen,
        recorded,
        hosts: hosts.into_iter().map(|(h, _)| h).collect(),
        alerts,
        owner: None,
        register_entries,
        register_entry_count,
        also_recorded_as,
        conflicting_at,
        seen_before_at,
    }))
}

/// Other register entries recording `q` under a key tried after `kind`
/// (a serial number or a host name that is the asked-for tag, say):
/// `(key, tag)`, the first ten by tag of each key, `answering` left out.
/// Whois answers for the key it tried first; a responder is told the rest.
fn also_recorded_as(
    l: &mut impl Lookups,
    kind: &str,
    q: &str,
    answering: Option<&str>,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    let later: &[&'static str] = match kind {
        "tag" => &["serial", "hostname"],
        "external_id" => &["serial"],
        "serial" => &["hostname"],
        _ => &[],
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for key in later {
        let tags = match *key {
            "serial" => l.register_tags(RegisterKey::Is("serial", &q.to_lowercase()))?,
            _ => match host_name(q) {
                Some(name) => Entries::of_name(l, &name)?.tags,
                None => Vec::new(),
            },
        };
        for tag in tags.into_iter().take(REGISTER_ENTRIES_LIMIT) {
            if Some(tag.as_str()) != answering && !out.iter().any(|(_, t)| *t == tag) {
                out.push((key, tag));
            }
        }
    }
    Ok(out)
}

/// The register entries a key names: the first tags (byte order, one more
/// than [`REGISTER_ENTRIES_LIMIT`] at most) and how many there are in all.
struct Entries {
    tags: Vec<String>,
    total: usize,
}

impl Entries {
    /// The entries recording host name `name` (lowercase, no trailing dot);
    /// for a short name none records, those with a name it stands for.
    fn of_name(l: &mut impl Lookups, name: &str) -> Result<Self, StoreError> {
        let exact = Entries::of(l, RegisterKey::Is("hostname", name))?;
        if exact.total > 0 || name.contains('.') {
            return Ok(exact);
        }
        Entries::of(l, RegisterKey::HostnamePrefix(&format!("{name}.")))
    }

    fn of(l: &mut impl Lookups, key: RegisterKey<'_>) -> Result<Self, StoreError> {
        let tags = l.register_tags(key)?;
        // One more than listed came back: count them all (rare; one more index range).
        let total = if tags.len() > REGISTER_ENTRIES_LIMIT {
            usize::try_from(l.register_count(key)?).unwrap_or(usize::MAX)
        } else {
            tags.len()
        };
        Ok(Entries { tags, total })
    }
}

/// [`pick`]'s choice when the register records what was asked for several
/// assets (`tags`, byte order): an answer resting on the register alone
/// would name the first of them arbitrarily, so there is none — the answer
/// is ambiguous, every entry listed — unless reconciliation matched what
/// answers to an asset: then that asset, the entries listed beside it. Returns (answering, other, the register's
/// entries when several record it).
fn shared_key(
    answering: Option<String>,
    other: Option<String>,
    matched: Option<&str>,
    mut tags: Vec<String>,
) -> (Option<String>, Option<String>, Vec<String>) {
    tags.truncate(REGISTER_ENTRIES_LIMIT);
    if tags.len() < 2 {
        return (answering, other, Vec::new());
    }
    let from_register = answering.as_deref().is_some_and(|a| Some(a) != matched);
    match (from_register, matched) {
        (true, Some(m)) => (Some(m.to_string()), None, tags),
        (true, None) => (None, None, tags),
        // The answer is what answers; the register's other entry is the first not it.
        (false, _) => {
            let other = tags.iter().find(|t| answering.as_ref() != Some(*t)).cloned().or(other);
            (answering, other, tags)
        }
    }
}

/// `system:id` as the register keys it (the system lowercase); `None` without a colon.
fn external_id(q: &str) -> Option<String> {
    q.split_once(':').map(|(system, id)| format!("{}:{id}", system.to_ascii_lowercase()))
}

/// A host name as ingest indexes it (lowercase, no trailing dot); `None`
/// when it cannot be one (empty, or longer than DNS allows).
fn host_name(q: &str) -> Option<String> {
    let name = q.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty() && name.len() <= 253).then_some(name)
}

/// One address whose latest sighting served a certificate, as the backends
/// read it: `h.ip, h.last_seen_ms, h.last_agent, m.tag, o.body`.
#[derive(Debug, Clone)]
pub struct CertificateHostRow {
    /// `h.ip`.
    pub ip: String,
    /// `h.last_seen_ms` (unix ms).
    pub last_seen_ms: i64,
    /// `h.last_agent`.
    pub agent: String,
    /// `m.tag`: the asset it was matched to.
    pub asset: Option<String>,
    /// `o.body`: the latest observation's JSON.
    pub body: String,
}

/// The certificate inventory being assembled: when each certificate was
/// first seen served (`served_certificates`), then each host in turn.
#[derive(Debug, Default)]
pub struct CertificateInventory {
    since: HashMap<String, Vec<(u16, String, i64)>>,
    hosts: Vec<HostTls>,
}

impl CertificateInventory {
    /// Start from `served`: (ip, port, SHA-256 lowercase hex, first seen in unix ms) rows.
    pub fn new(served: impl IntoIterator<Item = (String, u16, String, i64)>) -> Self {
        let mut since: HashMap<String, Vec<(u16, String, i64)>> = HashMap::new();
        for (ip, port, sha, first) in served {
            since.entry(ip).or_default().push((port, sha, first));
        }
        CertificateInventory { since, hosts: Vec::new() }
    }

    /// Add a host (in the order they are to be listed); one whose
    /// observation does not decode is left out, with a warning.
    pub fn push(&mut self, row: CertificateHostRow) {
        let CertificateHostRow { ip, last_seen_ms, agent, asset, body } = row;
        match serde_json::from_str(&body) {
            Ok(observation) => {
                let first_served = self.since.remove(&ip).unwrap_or_default();
                self.hosts.push(HostTls { ip, last_seen_ms, agent, asset, observation, first_served })
            }
            Err(e) => {
                tracing::warn!(ip, error = %e, "an observation does not decode; left out of the certificate inventory")
            }
        }
    }

    /// The hosts, in the order pushed.
    pub fn finish(self) -> Vec<HostTls> {
        self.hosts
    }
}

#[cfg(test)]
mod tests {
    use super::{REGISTER_ENTRIES_LIMIT, external_id, host_name, shared_key};

    fn some(t: &str) -> Option<String> {
        Some(t.to_string())
    }

    #[test]
    fn a_key_the_register_records_for_several_assets_names_none_of_them_alone() {
        let tags = || vec!["A-1".to_string(), "B-2".to_string()];
        // One entry: as picked.
        assert_eq!(shared_key(some("A-1"), None, None, vec!["A-1".into()]), (some("A-1"), None, vec![]));
        // The register alone would answer: ambiguous, both listed.
        assert_eq!(shared_key(some("A-1"), None, None, tags()), (None, None, tags()));
        // Reconciliation matched what answers: that asset, one of them or not.
        assert_eq!(shared_key(some("A-1"), None, Some("B-2"), tags()), (some("B-2"), None, tags()));
        assert_eq!(shared_key(some("A-1"), None, Some("C-3"), tags()), (some("C-3"), None, tags()));
        // What answers is the answer; the register's other entry is the first not it.
        assert_eq!(shared_key(some("A-1"), None, Some("A-1"), tags()), (some("A-1"), some("B-2"), tags()));
        assert_eq!(shared_key(some("B-2"), some("A-1"), Some("B-2"), tags()), (some("B-2"), some("A-1"), tags()));
        assert_eq!(shared_key(None, some("A-1"), None, tags()), (None, some("A-1"), tags()));
    }

    #[test]
    fn register_lookups_read_one_entry_more_than_they_list() {
        use super::RegisterKey;
        let limit = format!("LIMIT {}", REGISTER_ENTRIES_LIMIT + 1);
        for key in [RegisterKey::Is("serial", "sn-1"), RegisterKey::HostnamePrefix("web01.")] {
            assert!(key.tags_sql().0.ends_with(&limit), "{}", key.tags_sql().0);
            assert!(key.count_sql().0.starts_with("SELECT count("));
        }
        assert!(RegisterKey::HostnamePrefix("web01.").tags_sql().0.starts_with("SELECT DISTINCT tag"));
        assert!(RegisterKey::Is("ip", "198.18.0.1").tags_sql().0.starts_with("SELECT tag"));
        assert_eq!(RegisterKey::HostnamePrefix("web01.").tags_sql().1, ["hostname", "web01."]);
    }

    #[test]
    fn queries_are_normalised_as_ingest_and_the_register_store_them() {
        assert_eq!(external_id("ServiceNow:abc:D").as_deref(), Some("servicenow:abc:D"));
        assert_eq!(external_id("srv-1"), None);
        assert_eq!(host_name("Web01.Example.COM.").as_deref(), Some("web01.example.com"));
        assert_eq!(host_name("..."), None);
        assert_eq!(host_name(&"a".repeat(254)), None);
        assert_eq!(host_name(&"a".repeat(253)).map(|n| n.len()), Some(253));
    }
}
