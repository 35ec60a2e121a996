//! Which licensed products a host runs, by a rule table per product.
//!
//! A rule is a list of terms; a host runs the product when any term holds.
//! The built-in table covers server products whose presence the sweeps can
//! show; an entitlement's `detect` terms add to it (your own products, or
//! another banner).
//!
//! | product | terms | source |
//! |---|---|---|
//! | Microsoft SQL Server | `port:1433`, `banner:microsoft sql server` | IANA service names: 1433 `ms-sql-s`; SQL Server's TDS pre-login answer |
//! | Oracle Database | `port:1521` | Oracle Net Services: 1521 is the listener's default port |
//! | Red Hat Enterprise Linux | `banner:red hat enterprise linux`, `banner:(red hat)` | Apache httpd's `Server` header as RHEL builds it |
//! | VMware ESXi | `banner:vmware authentication daemon` | ESXi's authd greeting on 902 |
//!
//! Ports are weaker evidence than banners (something else may listen
//! there); reports name the term that matched, so a person can tell.

use std::collections::BTreeMap;

/// One detection term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A service banner contains this (lowercase).
    Banner(String),
    /// This TCP port is open.
    Port(u16),
    /// The OS guess contains this (lowercase).
    Os(String),
}

impl Term {
    /// Parse `banner:TEXT`, `port:N` or `os:TEXT`.
    ///
    /// # Errors
    /// What it should look like.
    pub fn parse(s: &str) -> Result<Term, String> {
        let bad = || format!("`{}` is not banner:TEXT, port:N or os:TEXT", s.chars().take(80).collect::<String>());
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        let value = value.trim();
        if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
            return Err(bad());
        }
        let kind = kind.trim().to_ascii_lowercase();
        // A term of one or two characters matches nearly every banner (as the
        // end-of-life file, at least three).
        if (kind == "banner" || kind == "os") && value.chars().count() < 3 {
            return Err(format!(
                "`{}`: a {kind} term needs at least 3 characters (shorter ones match nearly everything)",
                s.chars().take(80).collect::<String>()
            ));
        }
        match kind.as_str() {
            "banner" => Ok(Term::Banner(value.to_lowercase())),
            "os" => Ok(Term::Os(value.to_lowercase())),
            "port" => value.parse::<u16>().ok().filter(|p| *p > 0).map(Term::Port).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// As written.
    pub fn text(&self) -> String {
        match self {
            Term::Banner(b) => format!("banner:{b}"),
            Term::Port(p) => format!("port:{p}"),
            Term::Os(o) => format!("os:{o}"),
        }
    }
}

/// The built-in rules (see the module's table).
pub const BUILT_IN: &[(&str, &[&str])] = &[
    ("Microsoft SQL Server", &["port:1433", "banner:microsoft sql server"]),
    ("Oracle Database", &["port:1521"]),
    ("Red Hat Enterprise Linux", &["banner:red hat enterprise linux", "banner:(red hat)"]),
    ("VMware ESXi", &["banner:vmware authentication daemon"]),
];

/// What the sweeps show of one asset.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// Service banners, lowercase (lowered once per asset, not once per term).
    pub banners: Vec<String>,
    /// Open TCP ports.
    pub open: Vec<u16>,
    /// OS guesses.
    pub os: Vec<&'a str>,
}

/// Products to detect, by product key (lowercase name), with their terms.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    by_product: BTreeMap<String, (String, Vec<Term>)>,
}

/// The key products are compared under.
pub fn product_key(p: &str) -> String {
    p.trim().to_lowercase()
}

impl Rules {
    /// The built-in table plus each entitlement's `detect` terms (bad terms,
    /// refused at import, are skipped).
    pub fn new(entitlements: &[super::Entitlement]) -> Rules {
        let mut r = Rules::default();
        for (product, terms) in BUILT_IN {
            r.add(product, terms.iter().filter_map(|t| Term::parse(t).ok()));
        }
        for e in entitlements {
            r.add(&e.product, e.detect.iter().filter_map(|t| Term::parse(t).ok()));
        }
        r
    }

    fn add(&mut self, product: &str, terms: impl Iterator<Item = Term>) {
        let e = self.by_product.entry(product_key(product)).or_insert_with(|| (product.trim().to_string(), Vec::new()));
        for t in terms {
            if !e.1.contains(&t) {
                e.1.push(t);
            }
        }
    }

    /// The products `facts` show running, each with the first term that matched.
    pub fn running(&self, facts: &Facts<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, (_, terms)) in &self.by_product {
            let hit = terms.iter().find(|t| match t {
                Term::Banner(b) => facts.banners.iter().any(|x| x.contains(b.as_str())),
                Term::Port(p) => facts.open.contains(p),
                Term::Os(o) => facts.os.iter().any(|x| x.to_lowercase().contains(o.as_str())),
            });
            if let Some(t) = hit {
                out.push((key.clone(), t.text()));
            }
        }
        out
    }

    /// A product's name as the table spells it.
    pub fn name<'a>(&'a self, key: &'a str) -> &'a str {
        self.by_product.get(key).map_or(key, |(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_parse_and_say_what_is_wrong() {
        assert_eq!(Term::parse("port:1433"), Ok(Term::Port(1433)));
        assert_eq!(Term::parse("Banner: Acme DB 9"), Ok(Term::Banner("acme db 9".into())));
        for bad in ["port:0", "port:70000", "colour:blue", "banner:", "nothing"] {
            assert!(Term::parse(bad).unwrap_err().contains("is not banner:TEXT"), "{bad}");
        }
        for short in ["banner:a", "os:xp"] {
            assert!(Term::parse(short).unwrap_err().contains("at least 3 characters"), "{short}");
        }
    }

    #[test]
    fn built_in_and_operator_rules_detect_products_with_the_term_that_matched() {
        let mut e: super::super::Entitlement = serde_json::from_value(serde_json::json!({
            "id": "c1", "product": "Acme DB", "metric": "per-device", "seats": 1, "detect": ["banner:acme db"]
        }))
        .unwrap();
        e.detect.push("os:acmeos".into());
        let rules = Rules::new(&[e]);
        let facts = Facts {
            banners: vec!["apache/2.4.37 (red hat enterprise linux)".into(), "acme db 9.1 ready".into()],
            open: vec![22, 1433],
            os: vec![],
        };
        let found = rules.running(&facts);
        assert_eq!(
            found,
            [
                ("acme db".to_string(), "banner:acme db".to_string()),
                ("microsoft sql server".to_string(), "port:1433".to_string()),
                ("red hat enterprise linux".to_string(), "banner:red hat enterprise linux".to_string()),
            ]
        );
        assert_eq!(rules.name("microsoft sql server"), "Microsoft SQL Server");
        assert!(rules.running(&Facts::default()).is_empty());
    }
}
