//! The directory from LDAP (`censusd people sync ldap`, `[people.ldap]`).
//!
//! One sync reads the whole subtree the configuration names — a paged
//! search (500 entries a page, so Active Directory's 1,000-entry limit does
//! not cut it short) for `filter`, and a second for `(&filter
//! disabled_filter)` when one is set — and hands every entry to
//! [`super::plan::merge_snapshot`]. Entries the disabled search returns are
//! people who left; entries the sync wrote before and no longer finds are
//! marked left on the sync's day.
//!
//! Because absence means departure, a sync that did not see everything must
//! not be applied: any result other than success (a size or time limit hit,
//! a referral, a dropped connection), more than `max_entries` entries, or no
//! entry at all while earlier syncs found people, fails the sync and writes
//! nothing.
//!
//! The LDAP client is `ldap3` (pure Rust, Tokio, rustls with ring as the
//! rest of Census). Its `SearchEntry::construct` panics on an entry it cannot
//! decode; entries are decoded here by [`decode`] instead, so a malformed
//! answer from the server is an error naming the entry, never a panic.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use census_proto::config::{ConfigError, duration_in};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::StructureTag;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};
use serde::Deserialize;

use super::{DirectoryEntry, PersonStatus, SOURCE_LDAP};
use crate::register::Day;

/// `[people.ldap]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLdap {
    url: Option<String>,
    bind_dn: Option<String>,
    password_file: Option<PathBuf>,
    base_dn: Option<String>,
    filter: Option<String>,
    disabled_filter: Option<String>,
    starttls: Option<bool>,
    plaintext_bind: Option<bool>,
    timeout: Option<String>,
    interval: Option<String>,
    max_entries: Option<i64>,
    #[serde(default)]
    attributes: RawAttributes,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttributes {
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    team: Option<String>,
    manager: Option<String>,
    left_on: Option<String>,
}

/// Which LDAP attribute fills which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// The id (default `uid`; Active Directory: `sAMAccountName`).
    pub id: String,
    /// The name (default `cn`).
    pub name: String,
    /// The email (default `mail`).
    pub email: String,
    /// The team (default `ou`; often `departmentNumber` or `department`).
    pub team: String,
    /// The manager, a DN (default `manager`).
    pub manager: String,
    /// The leave date, when the directory keeps one (e.g. `shadowExpire`,
    /// `accountExpires`): days since 1970, a generalized time, `YYYY-MM-DD`
    /// or Active Directory's 100-ns intervals since 1601.
    pub left_on: Option<String>,
}

/// Validated `[people.ldap]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldap://`, `ldaps://` or `ldapi://` URL.
    pub url: String,
    /// DN to bind as (anonymous when `None`).
    pub bind_dn: Option<String>,
    /// File holding the bind password (read at each sync; never in the configuration's text).
    pub password_file: Option<PathBuf>,
    /// Where people are.
    pub base_dn: String,
    /// Who is a person (default `(objectClass=person)`).
    pub filter: String,
    /// Which of them are disabled (left), e.g. `(pwdAccountLockedTime=*)` or
    /// Active Directory's `(userAccountControl:1.2.840.113556.1.4.803:=2)`.
    pub disabled_filter: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// Connection and per-operation timeout.
    pub timeout: Duration,
    /// Sync on this schedule as well as on request.
    pub interval: Option<Duration>,
    /// Most entries one sync takes (more fails the sync).
    pub max_entries: usize,
    /// Attribute mapping.
    pub attributes: Attributes,
}

fn filter_ok(file: &Path, key: &str, f: &str) -> Result<(), ConfigError> {
    ldap3::parse_filter(f)
        .map(|_| ())
        .map_err(|()| ConfigError::at(file, key, format!("`{}` is not an LDAP filter", f.escape_debug())))
}

/// Validate `[people.ldap]`.
///
/// # Errors
/// The first key that is missing or wrong, named.
pub fn validate(file: &Path, raw: RawLdap) -> Result<LdapConfig, ConfigError> {
    let key = |k: &str| format!("people.ldap.{k}");
    let url = raw.url.ok_or_else(|| ConfigError::at(file, key("url"), "required"))?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "ldap" | "ldaps" | "ldapi") => {}
        _ => {
            return Err(ConfigError::at(
                file,
                key("url"),
                format!("`{}` is not an ldap://, ldaps:// or ldapi:// URL", url.escape_debug()),
            ));
        }
    }
    let base_dn = raw
        .base_dn
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| ConfigError::at(file, key("base_dn"), "required"))?;
    let filter = raw.filter.unwrap_or_else(|| "(objectClass=person)".into());
    filter_ok(file, &key("filter"), &filter)?;
    if let Some(d) = &raw.disabled_filter {
        filter_ok(file, &key("disabled_filter"), d)?;
    }
    if raw.bind_dn.is_some() != raw.password_file.is_some() {
        return Err(ConfigError::at(file, key("password_file"), "bind_dn and password_file go together"));
    }
    let starttls = raw.starttls.unwrap_or(false);
    if starttls && !url.starts_with("ldap://") {
        return Err(ConfigError::at(file, key("starttls"), "StartTLS upgrades an ldap:// URL only"));
    }
    if url.starts_with("ldap://") && !starttls && raw.bind_dn.is_some() && !raw.plaintext_bind.unwrap_or(false) {
        return Err(ConfigError::at(
            file,
            key("starttls"),
            "an ldap:// bind would send the password in clear text: use ldaps://, starttls = true, ldapi://, \
             or plaintext_bind = true to accept that",
        ));
    }
    let timeout = duration_in(
        file,
        &key("timeout"),
        raw.timeout.as_deref(),
        Duration::from_secs(30),
        (Duration::from_secs(1), Duration::from_secs(600)),
    )?;
    let interval = match raw.interval.as_deref() {
        None => None,
        Some(s) => Some(duration_in(
            file,
            &key("interval"),
            Some(s),
            Duration::from_secs(3600),
            (Duration::from_secs(300), Duration::from_secs(7 * 86_400)),
        )?),
    };
    let max_entries = raw.max_entries.unwrap_or(200_000);
    if !(1..=2_000_000).contains(&max_entries) {
        return Err(ConfigError::at(file, key("max_entries"), format!("expected 1 to 2000000, found {max_entries}")));
    }
    let a = raw.attributes;
    let attr = |v: Option<String>, default: &str, k: &str| -> Result<String, ConfigError> {
        let v = v.unwrap_or_else(|| default.to_string());
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';' || c == '.') {
            return Err(ConfigError::at(
                file,
                key(&format!("attributes.{k}")),
                format!("`{}` is not an attribute name", v.escape_debug()),
            ));
        }
        Ok(v)
    };
    let attributes = Attributes {
        id: attr(a.id, "uid", "id")?,
        name: attr(a.name, "cn", "name")?,
        email: attr(a.email, "mail", "email")?,
        team: attr(a.team, "ou", "team")?,
        manager: attr(a.manager, "manager", "manager")?,
        left_on: a.left_on.map(|v| attr(Some(v), "", "left_on")).transpose()?,
    };
    Ok(LdapConfig {
        url,
        bind_dn: raw.bind_dn,
        password_file: raw.password_file,
        base_dn,
        filter,
        disabled_filter: raw.disabled_filter,
        starttls,
        timeout,
        interval,
        max_entries: max_entries as usize,
        attributes,
    })
}

/// Why a sync failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// The password file could not be read.
    #[error("reading the LDAP password file {path}: {error}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
    /// The server could not be reached, refused the bind or the search.
    #[error("LDAP {step} failed: {error}")]
    Server {
        /// `connect`, `bind`, `search`.
        step: &'static str,
        /// The client's or server's words.
        error: String,
    },
    /// More entries than `max_entries`.
    #[error(
        "the search returned more than {0} entries (people.ldap.max_entries); narrow the filter or raise the limit"
    )]
    TooMany(usize),
    /// Two entries carry the same id.
    #[error(
        "two entries carry the id `{id}` (ignoring case): {first} and {second}; ids must be unique (nothing changed)"
    )]
    DuplicateId {
        /// The id.
        id: String,
        /// One entry's DN.
        first: String,
        /// The other's.
        second: String,
    },
    /// More people would be marked left at once than a sync may do unasked.
    #[error(
        "this sync would mark {departing} of {known} people left at once (more than a tenth): check base_dn and filter, or sync with --force (nothing changed)"
    )]
    MassDeparture {
        /// Who would be marked left.
        departing: usize,
        /// People the sync kept before.
        known: usize,
    },
    /// An entry the server sent could not be decoded.
    #[error("the server sent an entry that is not a valid LDAP search result (entry {0})")]
    Malformed(usize),
    /// The search found nobody, although earlier syncs did.
    #[error(
        "the search found nobody under {base_dn}, while {known} people came from LDAP before; check base_dn and filter (nothing was marked left)"
    )]
    Empty {
        /// The base searched.
        base_dn: String,
        /// Entries an earlier sync wrote.
        known: usize,
    },
}

/// An entry as the server sent it: its DN and text attributes (names as sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// Distinguished name.
    pub dn: String,
    /// Attribute values by attribute name.
    pub attrs: HashMap<String, Vec<String>>,
}

/// Decode a search result entry without panicking (`None`: not an entry).
pub fn decode(tag: StructureTag) -> Option<RawEntry> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs = HashMap::new();
    for pa in parts.next()?.expect_constructed()? {
        let mut pa = pa.expect_constructed()?.into_iter();
        let name = String::from_utf8(pa.next()?.expect_primitive()?).ok()?;
        let mut values = Vec::new();
        for v in pa.next()?.expect_constructed()? {
            // Binary values (photos, certificates) are not directory text.
            if let Ok(s) = String::from_utf8(v.expect_primitive()?) {
                values.push(s);
            }
        }
        attrs.insert(name, values);
    }
    Some(RawEntry { dn, attrs })
}

fn first<'a>(e: &'a RawEntry, attr: &str) -> Option<&'a str> {
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)).and_then(|(_, v)| v.first()).map(|s| s.trim())
}

/// A leave date as directories keep one: days since 1970 (`shadowExpire`),
/// Active Directory's 100-ns intervals since 1601 (`accountExpires`), a
/// generalized time (`20261126000000Z`) or `YYYY-MM-DD`. `None` for "never"
/// (`-1`, `0`, AD's maximum) or a value that is none of these.
pub fn leave_day(v: &str) -> Option<Day> {
    let v = v.trim();
    let from_secs = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).ok().map(|t| Day(t.date()));
    if let Ok(n) = v.parse::<i64>() {
        return match n {
            // Active Directory: 100-ns intervals since 1601-01-01; i64::MAX is "never".
            n if n >= 100_000_000_000_000 && n != i64::MAX => from_secs(n / 10_000_000 - 11_644_473_600),
            // shadowExpire: days since 1970-01-01.
            1..=200_000 => from_secs(n * 86_400),
            _ => None,
        };
    }
    if v.len() >= 8 && v.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        return format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..8]).parse().ok();
    }
    v.parse().ok()
}

/// The id a manager DN names: the id of the entry with that DN when the
/// search returned it, else the value of the DN's first part (`uid=u1,…` → `u1`).
fn manager_id(dn: &str, ids_by_dn: &HashMap<String, String>) -> String {
    if let Some(id) = ids_by_dn.get(&dn.to_ascii_lowercase()) {
        return id.clone();
    }
    let first = dn.split(',').next().unwrap_or(dn);
    first.split_once('=').map_or(first, |(_, v)| v).trim().to_string()
}

/// Turn what the searches returned into directory entries: `disabled` are
/// the DNs the disabled search returned. Entries without the id attribute
/// are left out and named in the second list.
///
/// # Errors
/// [`LdapError::DuplicateId`] when two entries carry the same id (ignoring
/// ASCII case): which person is which cannot be told, and keeping either
/// would mark the other left.
pub fn to_entries(
    raw: &[RawEntry],
    disabled: &HashSet<String>,
    a: &Attributes,
) -> Result<(Vec<DirectoryEntry>, Vec<String>), LdapError> {
    let mut dns_by_id: HashMap<String, &str> = HashMap::new();
    for e in raw {
        if let Some(id) = first(e, &a.id).filter(|s| !s.is_empty())
            && let Some(other) = dns_by_id.insert(super::id_key(id), &e.dn)
        {
            return Err(LdapError::DuplicateId { id: id.to_string(), first: other.to_string(), second: e.dn.clone() });
        }
    }
    let ids_by_dn: HashMap<String, String> =
        raw.iter().filter_map(|e| Some((e.dn.to_ascii_lowercase(), first(e, &a.id)?.to_string()))).collect();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for e in raw {
        let Some(id) = first(e, &a.id).filter(|s| !s.is_empty()) else {
            skipped.push(format!("{}: no `{}` attribute", e.dn, a.id));
            continue;
        };
        let mut d = DirectoryEntry::person(id, first(e, &a.name).filter(|s| !s.is_empty()).unwrap_or(id), SOURCE_LDAP);
        d.email = first(e, &a.email).unwrap_or_default().to_string();
        d.team = first(e, &a.team).unwrap_or_default().to_string();
        d.manager = first(e, &a.manager).map(|m| manager_id(m, &ids_by_dn)).unwrap_or_default();
        d.left_on = a.left_on.as_deref().and_then(|attr| first(e, attr)).and_then(leave_day);
        if disabled.contains(&e.dn.to_ascii_lowercase()) {
            d.status = PersonStatus::Left;
        }
        let problems = d.check();
        if !problems.is_empty() {
            let (field, why) = &problems[0];
            skipped.push(format!("{}: {field} {why}", e.dn));
            continue;
        }
        out.push(d);
    }
    Ok((out, skipped))
}

fn server(step: &'static str) -> impl Fn(ldap3::LdapError) -> LdapError {
    move |e| LdapError::Server { step, error: e.to_string() }
}

/// Run one paged search, returning its entries (at most `max`).
async fn search(
    ldap: &mut ldap3::Ldap,
    cfg: &LdapConfig,
    filter: &str,
    attrs: Vec<String>,
    max: usize,
) -> Result<Vec<RawEntry>, LdapError> {
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(500))];
    let mut stream = ldap
        .with_timeout(cfg.timeout)
        .streaming_search_with(adapters, &cfg.base_dn, Scope::Subtree, filter, attrs)
        .await
        .map_err(server("search"))?;
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(cfg.timeout, stream.next()).await.map_err(|_| LdapError::Server {
            step: "search",
            error: format!("no answer within {}s", cfg.timeout.as_secs()),
        })?;
        match next.map_err(server("search"))? {
            None => break,
            Some(entry) => {
                if out.len() == max {
                    let _ = stream.finish().await;
                    return Err(LdapError::TooMany(max));
                }
                out.push(decode(entry.0).ok_or(LdapError::Malformed(out.len() + 1))?);
            }
        }
    }
    stream.finish().await.success().map_err(server("search"))?;
    Ok(out)
}

/// Read every person the configuration names, with those who left marked.
/// Returns the entries and the DNs left out (no id, bad values).
///
/// # Errors
/// [`LdapError`]: the sync is not to be applied.
pub async fn fetch(cfg: &LdapConfig) -> Result<(Vec<DirectoryEntry>, Vec<String>), LdapError> {
    let password = match &cfg.password_file {
        None => None,
        Some(p) => Some(
            census_proto::config::read_operator_file(p, census_proto::config::MAX_SECRET_FILE)
                .map_err(|e| LdapError::PasswordFile { path: p.display().to_string(), error: e })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
    };
    let settings = LdapConnSettings::new().set_conn_timeout(cfg.timeout).set_starttls(cfg.starttls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url).await.map_err(server("connect"))?;
    ldap3::drive!(conn);
    if let (Some(dn), Some(pw)) = (&cfg.bind_dn, &password) {
        ldap.with_timeout(cfg.timeout)
            .simple_bind(dn, pw)
            .await
            .map_err(server("bind"))?
            .success()
            .map_err(server("bind"))?;
    }
    let a = &cfg.attributes;
    let mut attrs = vec![a.id.clone(), a.name.clone(), a.email.clone(), a.team.clone(), a.manager.clone()];
    attrs.extend(a.left_on.clone());
    let raw = search(&mut ldap, cfg, &cfg.filter, attrs, cfg.max_entries).await?;
    let disabled: HashSet<String> = match &cfg.disabled_filter {
        None => HashSet::new(),
        Some(d) => {
            let both = format!("(&{}{})", cfg.filter, d);
            // "1.1": no attributes, the DNs only (RFC 4511 §4.5.1.8).
            search(&mut ldap, cfg, &both, vec!["1.1".into()], cfg.max_entries)
                .await?
                .into_iter()
                .map(|e| e.dn.to_ascii_lowercase())
                .collect()
        }
    };
    let _ = ldap.unbind().await;
    to_entries(&raw, &disabled, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str, attrs: &[(&str, &str)]) -> RawEntry {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in attrs {
            m.entry((*k).to_string()).or_default().push((*v).to_string());
        }
        RawEntry { dn: dn.into(), attrs: m }
    }

    fn attributes() -> Attributes {
        Attributes {
            id: "uid".into(),
            name: "cn".into(),
            email: "mail".into(),
            team: "ou".into(),
            manager: "manager".into(),
            left_on: Some("shadowExpire".into()),
        }
    }

    #[test]
    fn entries_map_attributes_managers_and_disabled_accounts() {
        let raw = vec![
            entry("uid=boss,ou=people,dc=lab", &[("uid", "boss"), ("cn", "The Boss"), ("mail", "boss@lab.example")]),
            entry(
                "uid=ada,ou=people,dc=lab",
                &[("UID", "ada"), ("cn", "Ada"), ("ou", "ops"), ("manager", "UID=boss,ou=people,dc=lab")],
            ),
            entry(
                "uid=bob,ou=people,dc=lab",
                &[("uid", "bob"), ("shadowExpire", "20783"), ("manager", "uid=gone,dc=lab")],
            ),
            entry("cn=printer,dc=lab", &[("cn", "printer")]),
        ];
        let disabled: HashSet<String> = ["uid=bob,ou=people,dc=lab".to_string()].into();
        let (entries, skipped) = to_entries(&raw, &disabled, &attributes()).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].manager, "boss", "a manager DN names the entry's id");
        assert_eq!(entries[1].team, "ops");
        assert_eq!(entries[2].status, PersonStatus::Left);
        assert_eq!(entries[2].left_on, Some("2026-11-26".parse().unwrap()), "shadowExpire is days since 1970");
        assert_eq!(entries[2].manager, "gone", "an unknown manager DN gives its first value");
        assert_eq!(entries[2].name, "bob", "no cn: the id");
        assert_eq!(skipped, ["cn=printer,dc=lab: no `uid` attribute"]);
        let twins =
            [entry("uid=alice,dc=lab", &[("uid", "alice")]), entry("uid=ALICE,ou=x,dc=lab", &[("uid", "ALICE")])];
        let e = to_entries(&twins, &HashSet::new(), &attributes()).unwrap_err().to_string();
        assert!(e.contains("uid=alice,dc=lab") && e.contains("uid=ALICE,ou=x,dc=lab"), "{e}");
    }

    #[test]
    fn leave_dates_in_the_forms_directories_keep() {
        let d = |s: &str| Some(s.parse::<Day>().unwrap());
        assert_eq!(leave_day("20783"), d("2026-11-26"));
        assert_eq!(leave_day("20261126000000Z"), d("2026-11-26"));
        assert_eq!(leave_day("2026-11-26"), d("2026-11-26"));
        // 2026-11-26T00:00:00Z in 100-ns intervals since 1601.
        assert_eq!(leave_day("134401248000000000"), d("2026-11-26"));
        for never in ["-1", "0", "9223372036854775807", "soon", ""] {
            assert_eq!(leave_day(never), None, "{never}");
        }
    }

    #[test]
    fn config_is_validated_naming_the_key() {
        let f = Path::new("censusd.toml");
        let raw = |s: &str| -> RawLdap { census_proto::config::parse_toml(f, s).unwrap() };
        let ok = validate(f, raw("url = \"ldapi://%2Frun%2Fslapd%2Fldapi\"\nbase_dn = \"dc=lab\"")).unwrap();
        assert_eq!(ok.filter, "(objectClass=person)");
        assert_eq!(ok.attributes.id, "uid");
        for (text, key) in [
            ("base_dn = \"dc=lab\"", "people.ldap.url"),
            ("url = \"http://x\"\nbase_dn = \"dc=lab\"", "people.ldap.url"),
            ("url = \"ldap://x\"", "people.ldap.base_dn"),
            ("url = \"ldap://x\"\nbase_dn = \"dc=lab\"\nfilter = \"objectClass=person(\"", "people.ldap.filter"),
            ("url = \"ldap://x\"\nbase_dn = \"dc=lab\"\nbind_dn = \"cn=x\"", "people.ldap.password_file"),
            ("url = \"ldaps://x\"\nbase_dn = \"dc=lab\"\nstarttls = true", "people.ldap.starttls"),
            (
                "url = \"ldap://x\"\nbase_dn = \"dc=lab\"\nbind_dn = \"cn=x\"\npassword_file = \"/p\"",
                "people.ldap.starttls",
            ),
            ("url = \"ldap://x\"\nbase_dn = \"dc=lab\"\n[attributes]\nid = \"u id\"", "people.ldap.attributes.id"),
        ] {
            let e = validate(f, raw(text)).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
