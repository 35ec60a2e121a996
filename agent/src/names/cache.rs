//! Reverse DNS answers kept across sweeps, for as long as their TTL says.
//!
//! A service-mode agent sweeps the same segment every hour; without a cache
//! every sweep asks the DNS server again for every host. Entries are kept per
//! server list (two segments may use different resolvers), a name for the
//! record's TTL (at most a day), a "no record" answer for five minutes, and a
//! timeout not at all — silence says nothing about the name. The cache is
//! bounded: when full, expired entries go first, then new answers are simply
//! not kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use census_proto::NameObservation;

/// Longest a positive answer is kept, whatever its TTL.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
/// How long "no PTR record" is kept.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Entries kept at most, all server lists together.
pub const MAX_ENTRIES: usize = 262_144;

struct Entry {
    names: Vec<NameObservation>,
    until: Instant,
}

/// Reverse DNS answers by (server list, address).
#[derive(Default)]
pub struct PtrCache {
    by_servers: HashMap<Vec<IpAddr>, HashMap<IpAddr, Entry>>,
    len: usize,
}

impl PtrCache {
    /// The names cached for `ip` (empty: known to have none), or `None` when not cached or expired.
    pub fn get(&self, servers: &[IpAddr], ip: IpAddr, now: Instant) -> Option<Vec<NameObservation>> {
        let e = self.by_servers.get(servers)?.get(&ip)?;
        (e.until > now).then(|| e.names.clone())
    }

    /// Keep `names` (empty for "no record") for `ttl`, capped at [`MAX_TTL`].
    pub fn put(&mut self, servers: &[IpAddr], ip: IpAddr, names: Vec<NameObservation>, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        if self.len >= MAX_ENTRIES {
            self.evict_expired(now);
            if self.len >= MAX_ENTRIES {
                return;
            }
        }
        let until = now + ttl.min(MAX_TTL);
        if self.by_servers.entry(servers.to_vec()).or_default().insert(ip, Entry { names, until }).is_none() {
            self.len += 1;
        }
    }

    /// Number of entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn evict_expired(&mut self, now: Instant) {
        for map in self.by_servers.values_mut() {
            map.retain(|_, e| e.until > now);
        }
        self.by_servers.retain(|_, m| !m.is_empty());
        self.len = self.by_servers.values().map(HashMap::len).sum();
    }
}

/// The agent's cache, shared by every sweep of the process.
static CACHE: Mutex<Option<PtrCache>> = Mutex::new(None);

/// Run `f` on the process-wide cache.
pub fn with<T>(f: impl FnOnce(&mut PtrCache) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(PtrCache::default))
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_proto::NameSource;

    fn name(n: &str) -> Vec<NameObservation> {
        vec![NameObservation { name: n.into(), source: NameSource::Ptr }]
    }

    #[test]
    fn answers_live_for_their_ttl_per_server_list() {
        let mut c = PtrCache::default();
        let (a, b): (Vec<IpAddr>, Vec<IpAddr>) = (vec![], vec!["198.18.0.53".parse().unwrap()]);
        let ip: IpAddr = "198.18.0.10".parse().unwrap();
        let t0 = Instant::now();
        c.put(&a, ip, name("host-000.lab"), Duration::from_secs(60), t0);
        c.put(&b, ip, vec![], NEGATIVE_TTL, t0);
        assert_eq!(c.get(&a, ip, t0 + Duration::from_secs(59)), Some(name("host-000.lab")));
        assert_eq!(c.get(&a, ip, t0 + Duration::from_secs(60)), None, "expired");
        assert_eq!(c.get(&b, ip, t0 + Duration::from_secs(299)), Some(vec![]), "no record is an answer too");
        assert_eq!(c.get(&b, "198.18.0.11".parse().unwrap(), t0), None);
        c.put(&a, ip, name("long"), Duration::from_secs(10 * 86_400), t0);
        assert_eq!(c.get(&a, ip, t0 + MAX_TTL + Duration::from_secs(1)), None, "TTLs are capped");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_refuses() {
        let mut c = PtrCache::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES as u32 {
            let ttl = if i % 2 == 0 { Duration::from_secs(1) } else { Duration::from_secs(3600) };
            c.put(&[], IpAddr::from(u32::to_be_bytes(0xc612_0000 + i)), vec![], ttl, t0);
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        let later = t0 + Duration::from_secs(2);
        c.put(&[], "2001:2::1".parse().unwrap(), vec![], Duration::from_secs(60), later);
        assert_eq!(c.len(), MAX_ENTRIES / 2 + 1, "expired entries evicted, the new one kept");
    }
}
