//! Explainable identity matching: which register asset is this host?
//!
//! Every piece of evidence adds to a candidate asset's score, and the rule
//! that added it is kept, so a match always says why:
//!
//! | rule              | score | why                                              |
//! |-------------------|-------|--------------------------------------------------|
//! | `mac`             | 100   | a globally unique MAC recorded on the asset      |
//! | `tls-cert`        | 80    | a certificate already tied to the asset          |
//! | `hostname`        | 60    | a PTR/mDNS/NetBIOS name recorded on the asset    |
//! | `recorded-ip`     | 30    | weak: DHCP moves addresses                       |
//! | `random-mac`      | 25    | weak: a randomised MAC is not identity on its own|
//! | `expected-segment`| +10   | weak support, never a candidate by itself        |
//! | `mac-differs`     | -40   | the asset's recorded MACs do not include the one seen |
//!
//! A host matches when its best score reaches [`MATCH_THRESHOLD`]; two
//! assets tied for best are *ambiguous* and surfaced for review, never
//! guessed. Weak evidence alone (a recorded IP, a randomised MAC) against
//! a contradicting globally unique MAC matches nothing: that is DHCP
//! handing the address to another machine.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::arena::{Arena, Span};
use super::sighting::Sighting;
use crate::register::Asset;

/// Least score that makes a match.
pub const MATCH_THRESHOLD: i32 = 30;

/// An asset's place in a [`RegisterIndex`] (not stable across rebuilds).
type AssetId = u32;

/// The assets a key points to: nearly always one, so one needs no allocation.
#[derive(Debug, Clone)]
enum Ids {
    One(AssetId),
    Many(Box<[AssetId]>),
}

impl Ids {
    fn as_slice(&self) -> &[AssetId] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(ids) => ids,
        }
    }

    fn add(&mut self, id: AssetId) {
        if self.as_slice().contains(&id) {
            return;
        }
        let mut all = self.as_slice().to_vec();
        all.push(id);
        all.sort_unstable();
        *self = Ids::Many(all.into_boxed_slice());
    }
}

fn post<K: std::hash::Hash + Eq>(map: &mut foldhash::HashMap<K, Ids>, key: K, id: AssetId) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().add(id),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Ids::One(id));
        }
    }
}

/// What the match index reads of an asset: its keys, and its expected
/// segment. Decoded straight from the stored asset (serde skips every
/// other field without allocating), so building the index of a large
/// register does not decode whole assets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetKeys {
    /// Asset tag.
    pub tag: String,
    /// Recorded MACs.
    #[serde(default)]
    pub macs: Vec<census_proto::MacAddr>,
    /// Recorded addresses.
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    /// Recorded host names.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The segment it is expected on.
    #[serde(default)]
    pub expected_segment: Option<IpNet>,
}

impl From<&Asset> for AssetKeys {
    fn from(a: &Asset) -> Self {
        AssetKeys {
            tag: a.tag.clone(),
            macs: a.macs.clone(),
            ips: a.ips.clone(),
            hostnames: a.hostnames.clone(),
            expected_segment: a.expected_segment,
        }
    }
}

/// What matching reads of one asset besides its keys.
#[derive(Debug, Clone)]
struct Entry {
    /// Its tag, in the index's [`Arena`].
    tag: Span,
    /// When it entered the register (unix ms).
    created_ms: i64,
    expected_segment: Option<IpNet>,
    /// The register records at least one MAC for it.
    has_macs: bool,
}

/// The register, indexed for matching: the keys (MACs, recorded addresses,
/// host names and their short forms) and, per asset, only what
/// [`RegisterIndex::identify`] and the missing rule read — its tag, when it
/// entered the register, its expected segment and whether it has MACs. The
/// assets themselves are read from the store when a run evaluates them, a
/// page at a time, so a million-asset register costs this index (431 MB,
/// about 450 bytes an asset, in the reconcile benchmark: host names and
/// their short forms are most of it), not a million decoded assets (3 GB).
#[derive(Debug, Default)]
pub struct RegisterIndex {
    entries: Vec<Entry>,
    /// Tags and host names, end to end ([`super::arena`] says why).
    text: Arena,
    // foldhash, not std's SipHash: hashing was a tenth of a full reconcile
    // of a million assets; foldhash is seeded per process, so keys an agent
    // sends still cannot be aimed at one bucket.
    hasher: foldhash::fast::RandomState,
    /// Entries by tag (the tag read from the entry).
    by_tag: hashbrown::HashTable<AssetId>,
    by_mac: foldhash::HashMap<[u8; 6], Ids>,
    by_ip: foldhash::HashMap<IpAddr, Ids>,
    /// Host names and their short forms, each in `text`.
    by_name: hashbrown::HashTable<(Span, Ids)>,
    /// Certificates tied to assets by earlier strong matches.
    pub learned: HashMap<String, String>,
    /// Certificates of decommissioned and disposed assets (recorded or learned).
    pub retired: super::credentials::RetiredCredentials,
}

/// Where [`RegisterIndex::created_ms_in_order`] looks first: the entry
/// after the one it found last (start with `TagCursor::default()`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TagCursor(usize);

/// The most assets [`RegisterIndex::reserve_for`] makes room for at once
/// (an estimate from the store is not trusted beyond it).
pub const RESERVE_LIMIT: usize = 20_000_000;

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

impl RegisterIndex {
    /// Add one asset's keys (it entered the register at `created_ms`); a
    /// tag added twice keeps its first entry.
    pub fn add(&mut self, a: &AssetKeys, created_ms: i64) {
        let Ok(id) = AssetId::try_from(self.entries.len()) else { return };
        let hash = self.hasher.hash_one(a.tag.as_str());
        let (entries, text, hasher) = (&self.entries, &self.text, &self.hasher);
        let slot = self.by_tag.entry(
            hash,
            |e| text.get(entries[*e as usize].tag) == a.tag,
            |e| hasher.hash_one(text.get(entries[*e as usize].tag)),
        );
        let hashbrown::hash_table::Entry::Vacant(slot) = slot else { return };
        // A full arena (4 GiB of names) indexes no more assets.
        let Some(tag) = self.text.push(&a.tag) else { return };
        slot.insert(id);
        self.entries.push(Entry {
            tag,
            created_ms,
            expected_segment: a.expected_segment,
            has_macs: !a.macs.is_empty(),
        });
        for m in &a.macs {
            post(&mut self.by_mac, m.0, id);
        }
        for ip in &a.ips {
            post(&mut self.by_ip, *ip, id);
        }
        for h in &a.hostnames {
            self.post_name(h, id);
            if short(h) != h {
                self.post_name(short(h), id);
            }
        }
    }

    /// Make room for a register of about `assets` assets at once, each
    /// table scaled by what the assets indexed so far hold (call it after a
    /// first page): growing by doubling rehashed every table about once
    /// more over, a fifth of building the index of a million assets (2.0 s
    /// against 1.6 s, bench/RESULTS.md, 2026-12-06). `assets` is an estimate (at most
    /// [`RESERVE_LIMIT`] is taken): too small only means growing again.
    pub fn reserve_for(&mut self, assets: usize) {
        let have = self.entries.len();
        let more = assets.min(RESERVE_LIMIT).saturating_sub(have);
        if have == 0 || more == 0 {
            return;
        }
        // `n` per indexed asset, for `more` assets (u128: no overflow).
        let scaled = |n: usize| usize::try_from(n as u128 * more as u128 / have as u128).unwrap_or(0);
        let (entries, text, hasher) = (&self.entries, &self.text, &self.hasher);
        self.by_tag.reserve(more, |e| hasher.hash_one(text.get(entries[*e as usize].tag)));
        self.by_name.reserve(scaled(self.by_name.len()), |(s, _)| hasher.hash_one(text.get(*s)));
        self.entries.reserve(more);
        self.by_mac.reserve(scaled(self.by_mac.len()));
        self.by_ip.reserve(scaled(self.by_ip.len()));
        self.text.reserve(scaled(self.text.len()));
    }

    fn post_name(&mut self, name: &str, id: AssetId) {
        let hash = self.hasher.hash_one(name);
        let (text, hasher) = (&self.text, &self.hasher);
        match self.by_name.entry(hash, |(s, _)| text.get(*s) == name, |(s, _)| hasher.hash_one(text.get(*s))) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1.add(id),
            hashbrown::hash_table::Entry::Vacant(e) => {
                if let Some(span) = self.text.push(name) {
                    e.insert((span, Ids::One(id)));
                }
            }
        }
    }

    fn id_by_tag(&self, tag: &str) -> Option<AssetId> {
        let hash = self.hasher.hash_one(tag);
        self.by_tag.find(hash, |e| self.text.get(self.entries[*e as usize].tag) == tag).copied()
    }

    fn ids_by_name(&self, name: &str) -> &[AssetId] {
        let hash = self.hasher.hash_one(name);
        self.by_name.find(hash, |(s, _)| self.text.get(*s) == name).map_or(&[], |(_, ids)| ids.as_slice())
    }

    fn tag_of(&self, id: AssetId) -> &str {
        self.text.get(self.entries[id as usize].tag)
    }

    /// Assets in the register.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The register is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The register holds an asset with this tag.
    pub fn contains(&self, tag: &str) -> bool {
        self.id_by_tag(tag).is_some()
    }

    /// When the asset entered the register (unix ms), if it is in it.
    pub fn created_ms(&self, tag: &str) -> Option<i64> {
        self.id_by_tag(tag).map(|id| self.entries[id as usize].created_ms)
    }

    /// [`Self::created_ms`] for a caller asking in the order the index was
    /// built — by tag, as the register is paged — such as a full run's
    /// rules pass: the entry after the last one found is tried first, one
    /// read next to the last, before the hash lookup's three scattered ones
    /// (table, entry, tag text). At a million assets those lookups were
    /// 0.37 s of the rules pass's thread, the most of any one function
    /// (bench/RESULTS.md, 2026-12-07 evening). Asked out of order (an asset
    /// added after the index was built, a tag not in it), the answer is
    /// the same; only the lookup is paid.
    pub fn created_ms_in_order(&self, tag: &str, cursor: &mut TagCursor) -> Option<i64> {
        let id = match self.entries.get(cursor.0) {
            Some(e) if self.text.get(e.tag) == tag => cursor.0,
            _ => self.id_by_tag(tag)? as usize,
        };
        cursor.0 = id + 1;
        Some(self.entries[id].created_ms)
    }

    /// Tags whose register entry names this MAC (any notation
    /// [`census_proto::MacAddr`] parses), in no particular order.
    pub fn tags_by_mac(&self, mac: &str) -> Vec<&str> {
        self.ids_by_mac(mac).iter().map(|id| self.tag_of(*id)).collect()
    }

    fn ids_by_mac(&self, mac: &str) -> &[AssetId] {
        let Ok(m) = mac.parse::<census_proto::MacAddr>() else { return &[] };
        self.by_mac.get(&m.0).map_or(&[], Ids::as_slice)
    }

    /// The one asset a MAC belongs to: `None` when the register ties it
    /// to none or to several.
    pub fn sole_owner_of_mac(&self, mac: &str) -> Option<&str> {
        match self.ids_by_mac(mac) {
            [id] => Some(self.tag_of(*id)),
            _ => None,
        }
    }

    /// Match one sighting.
    pub fn identify(&self, s: &Sighting) -> Identity {
        // Candidates are few (usually one): a small vector beats a map.
        let mut cands: Vec<(AssetId, (i32, Vec<String>))> = Vec::new();
        let mut add = |id: AssetId, score: i32, rule: String| match cands.iter_mut().find(|(t, _)| *t == id) {
            Some((_, e)) => {
                e.0 += score;
                e.1.push(rule);
            }
            None => cands.push((id, (score, vec![rule]))),
        };
        if let Some(mac) = &s.mac {
            for t in self.ids_by_mac(mac) {
                if s.mac_random {
                    add(*t, 25, format!("random-mac {mac} (weak)"));
                } else {
                    add(*t, 100, format!("mac {mac}"));
                }
            }
        }
        for c in &s.certs {
            if let Some(t) = self.learned.get(c).and_then(|t| self.id_by_tag(t)) {
                add(t, 80, format!("tls-cert {}", &c[..c.len().min(16)]));
            }
        }
        let mut named: Vec<AssetId> = Vec::new();
        for (n, src) in &s.names {
            for key in [n.as_str(), short(n)] {
                for t in self.ids_by_name(key) {
                    if !named.contains(t) {
                        named.push(*t);
                        add(*t, 60, format!("hostname {n} ({src})"));
                    }
                }
            }
        }
        let ip: Option<IpAddr> = s.ip.parse().ok();
        for t in ip.and_then(|ip| self.by_ip.get(&ip)).map_or(&[][..], Ids::as_slice) {
            add(*t, 30, format!("recorded-ip {} (weak)", s.ip));
        }
        let mut scored: Vec<Candidate> = Vec::with_capacity(cands.len());
        for (id, (mut score, mut rules)) in cands {
            let asset = &self.entries[id as usize];
            if let (Some(seg), Some(ip)) = (asset.expected_segment, ip)
                && seg.contains(&ip)
            {
                score += 10;
                rules.push(format!("expected-segment {seg} (weak)"));
            }
            let strong = rules.iter().any(|r| r.starts_with("mac ") || r.starts_with("tls-cert"));
            if let (Some(mac), false, true) = (&s.mac, s.mac_random, asset.has_macs)
                && !strong
            {
                let named = rules.iter().any(|r| r.starts_with("hostname"));
                if !named {
                    // Weak evidence against a contradicting real MAC: another machine.
                    continue;
                }
                score -= 40;
                rules.push(format!("mac-differs: {mac} is not recorded on the asset"));
            }
            scored.push(Candidate { tag: self.tag_of(id).to_string(), score, rules });
        }
        scored.retain(|c| c.score >= MATCH_THRESHOLD);
        scored.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.tag.cmp(&b.tag)));
        match scored.len() {
            0 => Identity::Unknown,
            1 => Identity::Matched(Match::from(scored.remove(0))),
            _ if scored[0].score > scored[1].score => Identity::Matched(Match::from(scored.remove(0))),
            _ => {
                let best = scored[0].score;
                scored.retain(|c| c.score == best);
                Identity::Ambiguous { candidates: scored }
            }
        }
    }
}

/// A candidate asset with its score and the rules behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Asset tag.
    pub tag: String,
    /// Summed score.
    pub score: i32,
    /// The rules that scored, in order.
    pub rules: Vec<String>,
}

/// A match: the asset, how sure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    /// Asset tag.
    pub tag: String,
    /// 0.0-1.0: the score over 100, capped.
    pub confidence: f64,
    /// The rules that made it.
    pub rules: Vec<String>,
}

impl From<Candidate> for Match {
    fn from(c: Candidate) -> Self {
        Match { tag: c.tag, confidence: (f64::from(c.score.min(100)) / 100.0), rules: c.rules }
    }
}

impl Match {
    /// Matched on a globally unique MAC or a learned certificate.
    pub fn strong(&self) -> bool {
        self.rules.iter().any(|r| r.starts_with("mac ") || r.starts_with("tls-cert"))
    }
}

/// The outcome of matching one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Identity {
    /// One asset fits best.
    Matched(Match),
    /// Several fit equally: a person must decide.
    Ambiguous {
        /// The tied candidates.
        candidates: Vec<Candidate>,
    },
    /// Nothing fits: shadow IT until someone registers it.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(tag: &str, macs: &[&str], names: &[&str], ips: &[&str]) -> Asset {
        crate::register::model::asset_from_json(serde_json::json!({
            "tag": tag, "name": tag, "type": "server", "lifecycle": "deployed",
            "macs": macs, "hostnames": names, "ips": ips, "expected_segment": "198.18.0.0/24",
        }))
        .unwrap()
    }

    fn seen(ip: &str, mac: Option<&str>, names: &[&str]) -> Sighting {
        Sighting {
            ip: ip.into(),
            mac: mac.map(String::from),
            mac_random: false,
            vendor: None,
            conflicting_macs: vec![],
            names: names.iter().map(|n| (n.to_string(), "ptr".to_string())).collect(),
            certs: vec![],
            open: vec![],
            software: vec![],
            tls: vec![],
            probed: None,
            os: None,
            segment: "198.18.0.0/24".into(),
            agent: "a1".into(),
            batch: "b1".into(),
            first_ms: 0,
            last_ms: 0,
            enriched: true,
            passive: false,
        }
    }

    #[test]
    fn matches_from_keys_alone_and_explains_why() {
        let mut idx = RegisterIndex::default();
        idx.add(&(&asset("SRV-1", &["00:1b:21:00:00:01"], &["db1.corp.example"], &["198.18.0.10"])).into(), 5);
        idx.add(&(&asset("SRV-2", &["00:1b:21:00:00:02"], &[], &[])).into(), 6);
        assert_eq!((idx.len(), idx.created_ms("SRV-2"), idx.created_ms("NOPE")), (2, Some(6), None));
        // A MAC in another notation is the same MAC.
        let Identity::Matched(m) = idx.identify(&seen("198.18.0.99", Some("00-1B-21-00-00-02"), &[])) else {
            panic!("no match")
        };
        assert_eq!(m.tag, "SRV-2");
        assert!(m.rules.iter().any(|r| r.starts_with("expected-segment")), "{:?}", m.rules);
        // The short form of a recorded name, plus the recorded address.
        let Identity::Matched(m) = idx.identify(&seen("198.18.0.10", None, &["db1"])) else { panic!("no match") };
        assert_eq!((m.tag.as_str(), m.rules.len()), ("SRV-1", 3), "{:?}", m.rules);
        // The recorded address alone against a contradicting real MAC: another machine.
        assert_eq!(idx.identify(&seen("198.18.0.10", Some("00:1b:21:99:99:99"), &[])), Identity::Unknown);
    }

    #[test]
    fn a_mac_listed_twice_or_an_asset_added_twice_counts_once() {
        let mut idx = RegisterIndex::default();
        let a: AssetKeys = (&asset("SRV-1", &["00:1b:21:00:00:01", "00:1b:21:00:00:01"], &[], &[])).into();
        idx.add(&a, 1);
        idx.add(&a, 2);
        assert_eq!((idx.len(), idx.created_ms("SRV-1")), (1, Some(1)));
        assert_eq!(idx.sole_owner_of_mac("00:1b:21:00:00:01"), Some("SRV-1"));
        assert_eq!(idx.tags_by_mac("00:1b:21:00:00:01"), ["SRV-1"]);
        assert_eq!(idx.sole_owner_of_mac("not a mac"), None);
        let Identity::Matched(m) = idx.identify(&seen("198.18.0.7", Some("00:1b:21:00:00:01"), &[])) else {
            panic!("no match")
        };
        assert_eq!(m.rules.iter().filter(|r| r.starts_with("mac ")).count(), 1);
    }

    /// The arena-backed tables (see `arena.rs`): a name shared by two
    /// assets points to both, a name is never found by a prefix of it nor
    /// an arena neighbour, and many assets keep every lookup right as the
    /// tables grow and move.
    #[test]
    fn names_and_tags_are_found_whole_and_only_whole_as_the_index_grows() {
        let mut idx = RegisterIndex::default();
        idx.add(&(&asset("PRN-1", &[], &["printer.lab", "printer.lab"], &[])).into(), 1);
        idx.add(&(&asset("PRN-2", &[], &["printer.lab"], &[])).into(), 2);
        for n in 0..5_000u32 {
            idx.add(&(&asset(&format!("A-{n}"), &[], &[&format!("host-{n}.corp.example")], &[])).into(), 3);
        }
        assert_eq!(idx.len(), 5_002);
        assert!(matches!(idx.identify(&seen("198.18.0.9", None, &["printer"])),
            Identity::Ambiguous { candidates } if candidates.len() == 2));
        for n in [0u32, 17, 4_999] {
            assert!(idx.contains(&format!("A-{n}")));
            let Identity::Matched(m) = idx.identify(&seen("198.18.0.9", None, &[&format!("host-{n}")])) else {
                panic!("host-{n}")
            };
            assert_eq!(m.tag, format!("A-{n}"));
        }
        for absent in ["A-", "A-5000", "host-1x", "printe", "rinter.lab", ""] {
            assert!(!idx.contains(absent), "{absent}");
            assert_eq!(idx.identify(&seen("198.18.0.9", None, &[absent])), Identity::Unknown, "{absent}");
        }
    }

    /// Asking in index order (a full run's rules pass) or out of it gives
    /// what the hash lookup gives: the cursor only decides where to look first.
    #[test]
    fn created_ms_in_order_answers_as_the_lookup_in_any_order() {
        let mut idx = RegisterIndex::default();
        for n in 0..50i64 {
            idx.add(&(&asset(&format!("A-{n:03}"), &[], &[], &[])).into(), 1_000 + n);
        }
        idx.add(&(&asset("A-007", &[], &[], &[])).into(), 9); // a repeat keeps its first entry
        let tags: Vec<String> = (0..50).map(|n| format!("A-{n:03}")).collect();
        let mut asked: Vec<&str> = tags.iter().map(String::as_str).collect();
        // In order, then with absent tags, repeats and jumps between.
        asked.extend(["A-049", "B-1", "A-000", "A-001", "A-025", "", "A-024", "A-050", "A-026", "A-026"]);
        let mut cursor = TagCursor::default();
        for tag in asked {
            assert_eq!(idx.created_ms_in_order(tag, &mut cursor), idx.created_ms(tag), "{tag}");
        }
        assert_eq!(idx.created_ms("A-007"), Some(1_007));
        assert_eq!(idx.created_ms("A-050"), None);
    }

    /// Making room partway (from a first share, as the reconciler does)
    /// changes no answer; an estimate too small or made on an empty index
    /// is harmless.
    #[test]
    fn room_made_from_a_first_share_changes_no_lookup() {
        let key = |n: u32| -> AssetKeys {
            (&asset(
                &format!("A-{n}"),
                &[&format!("00:1b:21:00:{:02x}:{:02x}", n >> 8, n & 0xff)],
                &[&format!("host-{n}.corp.example")],
                &[&format!("198.18.{}.{}", n >> 8, n & 0xff)],
            ))
                .into()
        };
        let (mut plain, mut reserved) = (RegisterIndex::default(), RegisterIndex::default());
        reserved.reserve_for(usize::MAX); // empty: nothing to scale by, nothing reserved
        for n in 0..3_000u32 {
            if n == 100 {
                reserved.reserve_for(3_000);
            }
            if n == 2_000 {
                reserved.reserve_for(10); // already past it
            }
            plain.add(&key(n), i64::from(n));
            reserved.add(&key(n), i64::from(n));
        }
        assert!(reserved.by_tag.capacity() >= 3_000 && reserved.by_name.capacity() >= 6_000);
        assert_eq!(reserved.len(), plain.len());
        for n in [0u32, 99, 100, 1_999, 2_999] {
            assert_eq!(reserved.created_ms(&format!("A-{n}")), Some(i64::from(n)));
            let s = seen(&format!("198.18.{}.{}", n >> 8, n & 0xff), None, &[&format!("host-{n}")]);
            assert_eq!(reserved.identify(&s), plain.identify(&s), "A-{n}");
        }
    }
}
