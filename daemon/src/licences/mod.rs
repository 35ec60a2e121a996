//! Licences as entitlements, and the software they cover in use.
//!
//! An entitlement is what was bought: a product from a vendor, a number of
//! seats counted per device, per user or per core, what it cost, when it
//! expires and renews. Assets hold seats through the register's per-asset
//! `licences` (the product named there); what assets *run* is known from the
//! sweeps ([`detect`]: service banners, open ports, OS guesses) by a rule
//! table per product. [`usage`] puts the two together: per product, seats
//! owned against assets running it, the assets over (`unlicensed-software`),
//! entitlements nobody uses (spend to recover), renewals coming.
//!
//! Entitlements come from `censusd licences import FILE` (CSV or JSON, the
//! register's readers; all-or-nothing, a dry-run plan; never deletes).

pub mod detect;
pub mod file;
pub mod usage;

use serde::{Deserialize, Serialize};

use crate::register::Day;

crate::word_enum!(
    /// What a seat counts.
    Metric { /// One seat per device running it.
    Device => "per-device", /// One seat per person (the asset's owner).
    User => "per-user", /// Seats are cores: counted per device here (cores are not observed).
    Core => "per-core" }
);

/// One entitlement: what was bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    /// Stable id (contract or order number), unique without regard to ASCII case.
    pub id: String,
    /// Product, as the rule table and the assets' `licences` name it (e.g. `Microsoft SQL Server`).
    pub product: String,
    /// Vendor.
    #[serde(default)]
    pub vendor: String,
    /// What a seat counts.
    pub metric: Metric,
    /// Seats bought.
    pub seats: u32,
    /// What it cost (per term), in `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// ISO 4217 currency of `cost`.
    #[serde(default)]
    pub currency: String,
    /// Last day it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Day>,
    /// Day it renews (or must be renewed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<Day>,
    /// Extra detection terms for this product beyond the built-in rules:
    /// `banner:TEXT` (a service banner contains it, ignoring case),
    /// `port:N` (the port is open), `os:TEXT` (the OS guess contains it).
    #[serde(default)]
    pub detect: Vec<String>,
}

/// The most seats one entitlement holds.
pub const MAX_SEATS: u32 = 10_000_000;
/// The largest cost of one entitlement (per term, in its currency).
pub const MAX_COST: f64 = 1e12;

impl Entitlement {
    /// Check the invariants; each problem as (field, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut errs = Vec::new();
        let printable = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(crate::directory::hidden);
        if self.id.trim().is_empty() || !printable(&self.id, 200) || self.id.trim() != self.id {
            errs.push(("id", "must be 1-200 printable characters without leading or trailing spaces".into()));
        }
        if self.product.trim().is_empty() || !printable(&self.product, 200) || self.product.contains([';', '|']) {
            errs.push(("product", "must be 1-200 printable characters without ';' or '|'".into()));
        }
        if !printable(&self.vendor, 200) {
            errs.push(("vendor", "must be at most 200 printable characters".into()));
        }
        let iso_4217 = self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !self.currency.is_empty() && !iso_4217 {
            errs.push(("currency", "must be an ISO 4217 code: three capital letters, e.g. EUR".into()));
        }
        if self.seats > MAX_SEATS {
            errs.push(("seats", format!("must be at most {MAX_SEATS}")));
        }
        if self.cost.is_some_and(|c| !c.is_finite() || !(0.0..=MAX_COST).contains(&c)) {
            errs.push(("cost", format!("must be a number from 0 to {MAX_COST}")));
        }
        for d in &self.detect {
            if let Err(m) = detect::Term::parse(d) {
                errs.push(("detect", m));
            }
        }
        for (field, day) in [("expires", self.expires), ("renews", self.renews)] {
            if let Some(problem) = day.and_then(Day::input_problem) {
                errs.push((field, problem));
            }
        }
        errs
    }
}
