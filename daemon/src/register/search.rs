//! The register's search syntax, one for the API (`GET /api/v1/assets?q=`),
//! the CLI (`censusd assets search`) and the console's inventory:
//!
//! ```text
//! lifecycle:deployed owner:platform-team type:server vendor:dell seen:<7d
//! alert:open port:3389 segment:198.18.10.0/24 mac:00:1b:21 ip:198.18.0.5 web
//! ```
//!
//! Terms are ANDed. `field:value` terms: `lifecycle`, `type`, `criticality`
//! (exact), `owner`, `department`, `tag`, `name`, `vendor`, `serial`,
//! `manufacturer`, `model`, `location`, `id` (an external id; contains, any
//! case), `mac` (prefix), `ip` (exact, registered or last seen), `segment`
//! (a CIDR holding the expected segment or the last address), `port` (open
//! at the last sighting), `alert` (`open`, `acknowledged` or `any`: has such
//! a live alert; `none`: has none), `seen` (`<7d`: seen within, `>30d`: not
//! seen for that long or never, units s m h d). Other words match the tag,
//! name, a host name, the serial number or an external id (contains, any case). A term negated with a leading
//! `-` must not hold. Double quotes keep white space in a value
//! (`owner:"platform team"`, `"db server"`). Parsing is pure; a bad term is an error naming it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Asset, AssetType, Criticality, Lifecycle};

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// Lifecycle stage is.
    Lifecycle(Lifecycle),
    /// Type is.
    Type(AssetType),
    /// Criticality is.
    Criticality(Criticality),
    /// A text field contains (lowercased needle): `owner`, `department`, `tag`, `name`, `vendor`.
    Contains(&'static str, String),
    /// A MAC starts with (lowercase, `:`-separated).
    Mac(String),
    /// Registered at or last seen at.
    Ip(IpAddr),
    /// Expected segment or last address inside.
    Segment(IpNet),
    /// Open at the last sighting.
    Port(u16),
    /// Has a live alert in this state (`None`: any live alert).
    Alert(Option<&'static str>),
    /// Has no live alert.
    NoAlert,
    /// Last seen within this many ms.
    SeenWithin(i64),
    /// Not seen for this many ms (or never).
    NotSeenFor(i64),
    /// Tag, name or a host name contains (lowercased).
    Word(String),
    /// The term must not hold.
    Not(Box<Term>),
}

/// What a search knows about one asset beyond the register.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// Last seen (unix ms).
    pub last_seen_ms: Option<i64>,
    /// Address last seen at.
    pub last_ip: Option<&'a str>,
    /// Vendor of the last sighting's MAC.
    pub vendor: Option<&'a str>,
    /// Ports open at the last sighting.
    pub ports: &'a [u16],
    /// States of its live alerts (`open`, `acknowledged`).
    pub alert_states: &'a [&'a str],
}

/// A parsed query: all terms must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetQuery {
    /// The terms.
    pub terms: Vec<Term>,
}

/// A term that does not parse: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search term `{term}`: {message}")]
pub struct QueryError {
    /// The term as written.
    pub term: String,
    /// Why it is refused.
    pub message: String,
}

fn word<T: serde::de::DeserializeOwned>(v: &str, what: &str, all: &[&str]) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(v.to_lowercase()))
        .map_err(|_| format!("`{v}` is not a {what} (one of {})", all.join(", ")))
}

fn duration_ms(v: &str) -> Result<i64, String> {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: i64 = n.parse().map_err(|_| format!("`{v}` is not a duration like 7d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" | "" => 86_400_000,
        _ => return Err(format!("`{v}`: the unit is s, m, h or d")),
    };
    n.checked_mul(unit_ms).filter(|ms| *ms <= 100 * 365 * 86_400_000).ok_or_else(|| format!("`{v}` is too long"))
}

fn names(all: &[impl Copy + std::fmt::Display]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

fn term(field: &str, v: &str) -> Result<Term, String> {
    if v.is_empty() {
        return Err("give a value after the colon".into());
    }
    let lower = v.to_lowercase();
    Ok(match field {
        "lifecycle" => Term::Lifecycle(word(
            v,
            "lifecycle stage",
            &names(Lifecycle::ALL).iter().map(String::as_str).collect::<Vec<_>>(),
        )?),
        "type" => Term::Type(word(v, "type", &names(AssetType::ALL).iter().map(String::as_str).collect::<Vec<_>>())?),
        "criticality" => Term::Criticality(word(
            v,
            "criticality",
            &names(Criticality::ALL).iter().map(String::as_str).collect::<Vec<_>>(),
        )?),
        "owner" => Term::Contains("owner", lower),
        "department" => Term::Contains("department", lower),
        "tag" => Term::Contains("tag", lower),
        "tags" | "label" => Term::Contains("tags", lower),
        "name" => Term::Contains("name", lower),
        "vendor" => Term::Contains("vendor", lower),
        "serial" => Term::Contains("serial", lower),
        "manufacturer" => Term::Contains("manufacturer", lower),
        "model" => Term::Contains("model", lower),
        "location" => Term::Contains("location", lower),
        "id" | "external_id" => Term::Contains("external_id", lower),
        "mac" => Term::Mac(mac_prefix(v).ok_or_else(|| format!("`{v}` is not a MAC or MAC prefix"))?),
        "ip" => Term::Ip(v.parse::<IpAddr>().map_err(|_| format!("`{v}` is not an IP address"))?.to_canonical()),
        "segment" => Term::Segment(crate::net::parse_net(v, false).ok_or_else(|| format!("`{v}` is not a CIDR"))?),
        "port" => {
            Term::Port(v.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("`{v}` is not a port (1–65535)"))?)
        }
        "alert" => match lower.as_str() {
            "open" => Term::Alert(Some("open")),
            "acknowledged" => Term::Alert(Some("acknowledged")),
            "any" | "live" => Term::Alert(None),
            "none" => Term::NoAlert,
            _ => return Err(format!("`{v}`: alert is open, acknowledged, any or none")),
        },
        "seen" => match (v.strip_prefix('<'), v.strip_prefix('>')) {
            (Some(d), _) => Term::SeenWithin(duration_ms(d)?),
            (_, Some(d)) => Term::NotSeenFor(duration_ms(d)?),
            _ => return Err(format!("`{v}`: write seen:<7d (seen within) or seen:>30d (not seen for)")),
        },
        _ => {
            return Err(format!(
                "unknown field `{field}` (lifecycle, type, criticality, owner, department, tag, tags, name, vendor, mac, ip, segment, port, alert, seen)"
            ));
        }
    })
}

/// A MAC or the start of one, in any spelling [`census_proto::MacAddr`]
/// parses (`00:1b:21`, `00-1B-21-3A`, `001b.21aa.0b01`, `001b:21aa`,
/// `00.1b.21`, `001B21`), as the start of the canonical spelling
/// (`00:1b:21`) the register's MACs are compared in. With a separator,
/// the groups before the last are whole and all of one length, two hex
/// digits or four; the last may be cut short. `None`: no such start.
fn mac_prefix(v: &str) -> Option<String> {
    let sep = [':', '-', '.'].into_iter().find(|c| v.contains(*c));
    let parts: Vec<&str> = sep.map_or_else(|| vec![v], |c| v.split(c).collect());
    let (last, whole) = parts.split_last()?;
    let group_len = whole.first().map_or(12, |g| g.len());
    let hex = |p: &str| p.chars().all(|c| c.is_ascii_hexdigit());
    if !matches!(group_len, 2 | 4 | 12)
        || parts.len() > 12 / group_len
        || !whole.iter().all(|p| p.len() == group_len && hex(p))
        || last.len() > group_len
        || !hex(last)
    {
        return None;
    }
    let digits: String = parts.concat().to_ascii_lowercase();
    let mut out = String::with_capacity(17);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    Some(out)
}

impl AssetQuery {
    /// Parse a query (at most 64 terms, 1,000 characters).
    ///
    /// # Errors
    /// [`QueryError`] naming the first term that does not parse.
    pub fn parse(q: &str) -> Result<AssetQuery, QueryError> {
        if q.chars().count() > 1000 {
            return Err(QueryError {
                term: q.chars().take(20).collect(),
                message: "the query is longer than 1,000 characters".into(),
            });
        }
        let mut terms = Vec::new();
        for raw in tokens(q)? {
            let raw = raw.as_str();
            if terms.len() == 64 {
                return Err(QueryError { term: raw.into(), message: "more than 64 terms".into() });
            }
            let (negated, t) = match raw.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, raw),
            };
            let parsed = match t.split_once(':') {
                Some((field, v)) if !field.is_empty() && field.chars().all(|c| c.is_ascii_alphabetic()) => {
                    term(&field.to_lowercase(), v).map_err(|message| QueryError { term: raw.into(), message })?
                }
                _ => Term::Word(t.to_lowercase()),
            };
            terms.push(if negated { Term::Not(Box::new(parsed)) } else { parsed });
        }
        Ok(AssetQuery { terms })
    }

    /// Whether it needs what agents saw (ports, vendor) beyond the register and asset state.
    pub fn needs_sightings(&self) -> bool {
        fn needs(t: &Term) -> bool {
            match t {
                Term::Port(_) | Term::Contains("vendor", _) => true,
                Term::Not(t) => needs(t),
                _ => false,
            }
        }
        self.terms.iter().any(needs)
    }

    /// Whether it needs the assets' live alerts.
    pub fn needs_alerts(&self) -> bool {
        fn needs(t: &Term) -> bool {
            match t {
                Term::Alert(_) | Term::NoAlert => true,
                Term::Not(t) => needs(t),
                _ => false,
            }
        }
        self.terms.iter().any(needs)
    }

    /// Whether it needs the assets' reconciliation state (last address, last seen).
    pub fn needs_states(&self) -> bool {
        fn needs(t: &Term) -> bool {
            match t {
                Term::Ip(_) | Term::Segment(_) | Term::SeenWithin(_) | Term::NotSeenFor(_) => true,
                Term::Not(t) => needs(t),
                _ => false,
            }
        }
        self.terms.iter().any(needs)
    }

    /// Whether any term needs more than the register ([`Facts`]).
    pub fn needs_facts(&self) -> bool {
        self.terms.iter().any(|t| !register_only(t))
    }

    /// Does `asset` satisfy every term the register alone decides? The
    /// cheap first pass of a search: [`Self::matches`] decides the rest
    /// for the assets that pass it.
    pub fn may_match(&self, asset: &Asset, now_ms: i64) -> bool {
        self.terms.iter().filter(|t| register_only(t)).all(|t| holds(t, asset, &Facts::default(), now_ms))
    }

    /// Does `asset`, with `facts`, satisfy every term at `now_ms`?
    pub fn matches(&self, asset: &Asset, facts: &Facts<'_>, now_ms: i64) -> bool {
        self.terms.iter().all(|t| holds(t, asset, facts, now_ms))
    }
}

/// The query's terms: split at white space outside double quotes, the
/// quotes taken out (`owner:"platform team"` is one term).
///
/// # Errors
/// A quote left open.
fn tokens(q: &str) -> Result<Vec<String>, QueryError> {
    let (mut out, mut cur, mut quoted, mut started) = (Vec::new(), String::new(), false, false);
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err(QueryError { term: cur, message: "a quote is left open".into() });
    }
    if started {
        out.push(cur);
    }
    Ok(out.into_iter().filter(|t| !t.is_empty()).collect())
}

/// Whether `t` is decided by the register alone (no sightings, state or alerts).
fn register_only(t: &Term) -> bool {
    match t {
        Term::Lifecycle(_) | Term::Type(_) | Term::Criticality(_) | Term::Mac(_) | Term::Word(_) => true,
        Term::Contains(field, _) => *field != "vendor",
        Term::Not(t) => register_only(t),
        _ => false,
    }
}

fn holds(t: &Term, a: &Asset, f: &Facts<'_>, now: i64) -> bool {
    let contains = |hay: &str, needle: &str| hay.to_lowercase().contains(needle);
    match t {
        Term::Lifecycle(l) => a.lifecycle == *l,
        Term::Type(ty) => a.asset_type == *ty,
        Term::Criticality(c) => a.criticality == *c,
        Term::Contains(field, n) => match *field {
            "owner" => contains(&a.owner, n),
            "department" => contains(&a.department, n),
            "tag" => contains(&a.tag, n),
            "tags" => a.tags.iter().any(|t| contains(t, n)),
            "name" => contains(&a.name, n),
            "vendor" => f.vendor.is_some_and(|v| contains(v, n)),
            "serial" => contains(&a.serial, n),
            "manufacturer" => contains(&a.manufacturer, n),
            "model" => contains(&a.model, n),
            "location" => contains(&a.location, n),
            "external_id" => a.external_ids.iter().any(|i| contains(i, n)),
            _ => false,
        },
        Term::Mac(m) => a.macs.iter().any(|x| x.to_string().starts_with(m.as_str())),
        Term::Ip(ip) => a.ips.contains(ip) || f.last_ip.and_then(|l| l.parse::<IpAddr>().ok()) == Some(*ip),
        Term::Segment(net) => {
            a.expected_segment.is_some_and(|s| net.contains(&s))
                || f.last_ip.and_then(|l| l.parse::<IpAddr>().ok()).is_some_and(|ip| net.contains(&ip))
        }
        Term::Port(p) => f.ports.contains(p),
        Term::Alert(None) => !f.alert_states.is_empty(),
        Term::Alert(Some(s)) => f.alert_states.contains(s),
        Term::NoAlert => f.alert_states.is_empty(),
        Term::SeenWithin(ms) => f.last_seen_ms.is_some_and(|l| l >= now - ms),
        Term::NotSeenFor(ms) => f.last_seen_ms.is_none_or(|l| l < now - ms),
        Term::Word(w) => {
            contains(&a.tag, w)
                || contains(&a.name, w)
                || a.hostnames.iter().any(|h| contains(h, w))
                || contains(&a.serial, w)
                || a.external_ids.iter().any(|i| contains(i, w))
        }
        Term::Not(t) => !holds(t, a, f, now),
    }
}

#[cfg(test)]
mod tests;
