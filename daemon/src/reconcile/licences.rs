//! `unlicensed-software`: an asset in service runs a product that needs a
//! licence ([`crate::licences::detect`]) without a seat ([`crate::licences::usage`]).
//!
//! Nothing is judged until entitlements are kept (`censusd licences
//! import`): an installation that does not track licences hears nothing.
//! Seats are counted across the whole register, so the verdict is made on
//! full runs only (an incremental run sees one batch's assets): each asset
//! in service is collected as it is evaluated ([`Licensing::collect`]), and
//! after the last one the report decides who is over ([`Licensing::judge`]).
//! An asset over for a product raises one alert naming the product, the
//! seats and the use, and the term that showed it; it resolves at once when
//! a seat frees up or is bought, the asset is assigned one, stops running
//! the product or leaves service.

use super::rules::{AssetState, Plan, World, day_of};
use super::sighting::Sighting;
use crate::alerts::evidence::{Evidence, ProductOver, Unlicensed};
use crate::alerts::lifecycle::ClearCause;
use crate::alerts::{AlertKind, Severity};
use crate::licences::detect::{Facts, Rules, product_key};
use crate::licences::usage::{AssetUse, report, unlicensed_by_tag};
use crate::register::Asset;

/// What asset `a` (seen on `seen` now, first seen at `first_seen_ms`) runs
/// and holds; `None` when it is out of service or neither runs nor holds a
/// licensed product.
pub fn asset_use(rules: &Rules, a: &Asset, seen: &[&Sighting], first_seen_ms: Option<i64>) -> Option<AssetUse> {
    if !a.lifecycle.in_service() || (seen.is_empty() && a.licences.is_empty()) {
        return None;
    }
    let facts = Facts {
        banners: seen.iter().flat_map(|s| s.software.iter().map(|(_, b)| b.to_lowercase())).collect(),
        open: seen.iter().flat_map(|s| s.open.iter().copied()).collect(),
        os: seen.iter().filter_map(|s| s.os.as_deref()).collect(),
    };
    let running = rules.running(&facts);
    let holds: Vec<String> = a.licences.iter().map(|l| product_key(&l.product)).collect();
    if running.is_empty() && holds.is_empty() {
        return None;
    }
    Some(AssetUse { tag: a.tag.clone(), owner: a.owner.clone(), first_seen_ms, running, holds })
}

/// What a full run gathers for the licence verdict.
pub struct Licensing {
    rules: Rules,
    uses: Vec<AssetUse>,
    refs: std::collections::HashMap<String, (crate::alerts::evidence::AssetRef, Option<i64>)>,
}

impl Licensing {
    /// For this run's entitlements.
    pub fn new(w: &World<'_>) -> Self {
        Licensing { rules: Rules::new(w.entitlements), uses: Vec::new(), refs: Default::default() }
    }

    /// Take one evaluated asset (`seen`: its present sightings).
    pub fn collect(&mut self, a: &Asset, seen: &[&Sighting], state: &AssetState) {
        let Some(u) = asset_use(&self.rules, a, seen, state.first_seen_ms) else { return };
        if !u.running.is_empty() {
            self.refs.insert(a.tag.clone(), (super::assets::asset_ref(a), state.last_seen_ms));
        }
        self.uses.push(u);
    }

    /// Raise the alerts of the assets over, and clear the others'.
    pub fn judge(self, w: &World<'_>, plan: &mut Plan) {
        let today = day_of(w.now_ms);
        let r = report(w.entitlements, &self.uses, today, |k| self.rules.name(k).to_string());
        let over = unlicensed_by_tag(&r);
        for (tag, products) in &over {
            let Some((asset, last_seen_ms)) = self.refs.get(tag) else { continue };
            let names: Vec<String> = products.iter().map(|(p, _)| p.product.clone()).collect();
            let detail: Vec<String> = products
                .iter()
                .map(|(p, u)| format!("{} ({} in use, {} seats; {})", p.product, p.in_use, p.seats, u.matched_by))
                .collect();
            let summary = format!("{tag} runs {} without a licence seat: {}", names.join(", "), detail.join("; "));
            let ev = Evidence::UnlicensedSoftware(Unlicensed {
                asset: asset.clone(),
                products: products
                    .iter()
                    .map(|(p, u)| ProductOver {
                        product: p.product.clone(),
                        vendor: p.vendor.clone(),
                        seats: p.seats,
                        in_use: p.in_use,
                        over: p.over,
                        matched_by: u.matched_by.clone(),
                    })
                    .collect(),
            });
            let severity = super::assets::bump(Severity::Medium, asset.criticality);
            let mut f =
                super::rules::finding(AlertKind::UnlicensedSoftware, format!("asset:{tag}"), severity, summary, ev);
            f.tag = Some(tag.clone());
            // Judged from the register at every run, but it answered then.
            f.last_seen_ms = last_seen_ms.unwrap_or(0);
            plan.findings.push(f);
        }
        for (kind, subject) in &w.live_subjects {
            if *kind != AlertKind::UnlicensedSoftware {
                continue;
            }
            let Some(tag) = subject.strip_prefix("asset:") else { continue };
            if !over.contains_key(tag) {
                let reason = format!("{tag} has a seat for what it runs (or no longer runs it, or left service)");
                plan.clear(*kind, subject.clone(), ClearCause::Register, reason, w.now_ms);
            }
        }
    }
}
