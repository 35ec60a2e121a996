//! End of life: software observed running past its end of support.
//!
//! The dates are data the project owns, with each date's source:
//! `end-of-life.toml` beside this file (built in), extended or changed by an
//! operator file of the same format (`[reconcile] end_of_life_file`: a
//! paid extended-support contract moves a date; a product of your own adds
//! a release, recognised by a `banner_contains` text). Releases are
//! recognised from banners by [`identify`]. [`EolTable::judge`] is pure:
//! the banners a host showed and a day in, the releases past support out.
//!
//! This is independent of the support date typed into the register (the
//! `out-of-support` alert), which stays as it is.

pub mod identify;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::register::Day;

/// One release and the last day it is supported.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// `debian`, `ubuntu`, `rhel`, `windows-server`, `apache-httpd`, or an operator's own.
    pub product: String,
    /// `9`, `18.04`, `2008 R2`.
    pub release: String,
    /// For people: `Debian 9 (stretch)`.
    pub name: String,
    /// Last day of support (security fixes).
    pub ends: Day,
    /// Where the date comes from.
    pub source: String,
    /// Operator releases: a banner containing this text runs this release.
    #[serde(default)]
    pub banner_contains: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    release: Vec<Release>,
}

/// A release seen running past its end of support, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EolSoftware {
    /// TCP port the banner came from.
    pub port: u16,
    /// The banner as seen.
    pub banner: String,
    /// The release, for people.
    pub release: String,
    /// How the banner names it.
    pub recognised_by: String,
    /// Last day of support.
    pub ended: Day,
    /// Where that date comes from.
    pub source: String,
}

/// The end-of-support table: built in, with an operator's file over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EolTable {
    releases: Vec<Release>,
}

const BUILT_IN: &str = include_str!("end-of-life.toml");

/// Releases an operator file may list.
const MAX_RELEASES: usize = 10_000;

/// The products the recognisers name ([`identify`]); an operator release of
/// another product needs `banner_contains`, or nothing could ever match it.
const RECOGNISED: &[&str] = &["debian", "ubuntu", "rhel", "windows-server", "apache-httpd"];

fn parse(text: &str, what: &str) -> Result<Vec<Release>, String> {
    let f: File = census_proto::config::parse_toml(Path::new(what), text).map_err(|e| e.to_string())?;
    for (i, r) in f.release.iter().enumerate() {
        let at = format!("{what}: release[{i}]");
        for (field, v) in [("product", &r.product), ("release", &r.release), ("name", &r.name), ("source", &r.source)] {
            if v.trim().is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                return Err(format!("{at}.{field}: 1-256 characters without control characters"));
            }
        }
        if r.banner_contains
            .as_ref()
            .is_some_and(|b| b.trim().len() < 3 || b.len() > 256 || b.chars().any(char::is_control))
        {
            return Err(format!("{at}.banner_contains: 3-256 characters without control characters"));
        }
        if f.release[..i].iter().any(|o| o.product == r.product && o.release == r.release) {
            return Err(format!("{at}: {} {} is listed twice", r.product, r.release));
        }
    }
    if f.release.len() > MAX_RELEASES {
        return Err(format!("{what}: more than {MAX_RELEASES} releases"));
    }
    Ok(f.release)
}

impl Default for EolTable {
    fn default() -> Self {
        Self::built_in()
    }
}

impl EolTable {
    /// The built-in table.
    pub fn built_in() -> Self {
        // Checked by a test; a broken built-in table would be an empty one, not a crash.
        EolTable { releases: parse(BUILT_IN, "built-in end-of-life table").unwrap_or_default() }
    }

    /// The built-in table with `path`'s releases over it: one with the same
    /// product and release replaces the built-in one; others are added.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML of this shape, or a field is
    /// empty or too long — the message names the entry and field.
    pub fn with_file(path: &Path) -> Result<Self, String> {
        let text = census_proto::config::read_operator_file(path, census_proto::config::MAX_CONFIG_FILE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let what = path.display().to_string();
        let mine = parse(&text, &what)?;
        let mut t = Self::built_in();
        let mut at: std::collections::HashMap<(String, String), usize> =
            t.releases.iter().enumerate().map(|(i, r)| ((r.product.clone(), r.release.clone()), i)).collect();
        for (i, r) in mine.into_iter().enumerate() {
            if r.banner_contains.is_none() && !RECOGNISED.contains(&r.product.as_str()) {
                return Err(format!(
                    "{what}: release[{i}].product: `{}` is not one Census recognises ({}); give banner_contains for a product of your own",
                    r.product.escape_debug(),
                    RECOGNISED.join(", ")
                ));
            }
            match at.get(&(r.product.clone(), r.release.clone())) {
                Some(&j) => t.releases[j] = r,
                None => {
                    at.insert((r.product.clone(), r.release.clone()), t.releases.len());
                    t.releases.push(r);
                }
            }
        }
        Ok(t)
    }

    /// Releases known.
    pub fn len(&self) -> usize {
        self.releases.len()
    }

    /// No releases known.
    pub fn is_empty(&self) -> bool {
        self.releases.is_empty()
    }

    fn release_of(&self, banner: &str) -> Option<(&Release, String)> {
        if let Some(r) = self.releases.iter().find(|r| r.banner_contains.as_deref().is_some_and(|b| banner.contains(b)))
        {
            return Some((r, format!("the banner contains `{}`", r.banner_contains.as_deref().unwrap_or_default())));
        }
        let k = identify::recognise(banner)?;
        let r = self.releases.iter().find(|r| r.product == k.product && r.release == k.release)?;
        Some((r, k.by))
    }

    /// What in `banners` (port, banner) runs past its end of support on `today`,
    /// one entry per release (its first banner), ordered by port.
    pub fn judge(&self, banners: &[(u16, String)], today: Day) -> Vec<EolSoftware> {
        let mut out: Vec<EolSoftware> = Vec::new();
        for (port, banner) in banners {
            let Some((r, by)) = self.release_of(banner) else { continue };
            if r.ends >= today || out.iter().any(|o| o.release == r.name) {
                continue;
            }
            out.push(EolSoftware {
                port: *port,
                banner: banner.clone(),
                release: r.name.clone(),
                recognised_by: by,
                ended: r.ends,
                source: r.source.clone(),
            });
        }
        out.sort_by_key(|o| o.port);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn the_built_in_table_reads_and_names_its_sources() {
        let releases = parse(BUILT_IN, "built-in").expect("the built-in table parses");
        assert!(releases.len() >= 24, "{}", releases.len());
        assert!(releases.iter().all(|r| r.source.starts_with("https://")), "every date has a source");
        assert_eq!(EolTable::built_in().len(), releases.len());
    }

    #[test]
    fn a_release_past_its_date_is_reported_with_its_source_and_one_in_support_is_not() {
        let t = EolTable::built_in();
        let seen = vec![
            (22, "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7".to_string()),
            (80, "Apache/2.4.25 (Debian)".to_string()),
            (443, "nginx/1.22.1".to_string()),
        ];
        let hits = t.judge(&seen, day("2026-12-03"));
        assert_eq!(hits.len(), 1, "one release, reported once: {hits:?}");
        assert_eq!((hits[0].port, hits[0].release.as_str()), (22, "Debian 9 (stretch)"));
        assert_eq!(hits[0].ended, day("2022-06-30"));
        assert!(hits[0].source.contains("wiki.debian.org/LTS"), "{hits:?}");
        assert!(hits[0].recognised_by.contains("+deb9"), "{hits:?}");
        // The day before its end it is still supported.
        assert!(t.judge(&seen, day("2022-06-30")).is_empty());
        let current = vec![(22, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".to_string())];
        assert!(t.judge(&current, day("2026-12-03")).is_empty());
    }

    #[test]
    fn an_operator_file_moves_a_date_and_adds_a_release() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("eol.toml");
        std::fs::write(
            &f,
            r#"
            [[release]]
            product = "ubuntu"
            release = "18.04"
            name = "Ubuntu 18.04 LTS with ESM"
            ends = "2028-04-30"
            source = "our Ubuntu Pro contract 4711"

            [[release]]
            product = "acme-appliance"
            release = "3"
            name = "ACME appliance firmware 3.x"
            ends = "2024-01-31"
            source = "ACME support notice 2023-07"
            banner_contains = "ACME-OS/3."
            "#,
        )
        .unwrap();
        let t = EolTable::with_file(&f).unwrap();
        assert_eq!(t.len(), EolTable::built_in().len() + 1);
        let seen =
            vec![(22, "SSH-2.0-OpenSSH_7.6p1 Ubuntu-4ubuntu0.7".to_string()), (8443, "ACME-OS/3.2 httpd".to_string())];
        let hits = t.judge(&seen, day("2026-12-03"));
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].release, "ACME appliance firmware 3.x");
        for bad in [
            "[[release]]\nproduct = \"x\"",
            "[[release]]\nproduct = \"\"\nrelease = \"1\"\nname = \"n\"\nends = \"2020-01-01\"\nsource = \"s\"",
            "[[release]]\nproduct = \"x\"\nrelease = \"1\"\nname = \"n\"\nends = \"2020-02-30\"\nsource = \"s\"",
            "[[release]]\nproduct = \"x\"\nrelease = \"1\"\nname = \"n\"\nends = \"2020-01-01\"\nsource = \"s\"\nbanner_contains = \"a\"",
            "[[relase]]",
            "[[release]]\nproduct = \"Ubuntu\"\nrelease = \"18.04\"\nname = \"n\"\nends = \"2028-01-01\"\nsource = \"s\"",
            "[[release]]\nproduct = \"x\"\nrelease = \"1\"\nname = \"n\"\nends = \"2020-01-01\"\nsource = \"s\"\nbanner_contains = \"X/1\"\n\
             [[release]]\nproduct = \"x\"\nrelease = \"1\"\nname = \"m\"\nends = \"2099-01-01\"\nsource = \"s\"\nbanner_contains = \"X/1\"",
            "[[release]]\nproduct = \"x\"\nrelease = \"1\"\nname = \"n\"\nends = \"2020-01-01\"\nsource = \"s\"\nbanner_contains = \"ab\\u0000c\"",
        ] {
            std::fs::write(&f, bad).unwrap();
            let e = EolTable::with_file(&f).unwrap_err();
            assert!(e.contains("eol.toml"), "{e}");
        }
    }
}
