//! Seats owned against products in use: a pure function over the
//! entitlements and what each asset in service runs and holds.
//!
//! Per product:
//! - **seats** are those of its entitlements not expired;
//! - **in use** counts the assets running it (per-user licences: their
//!   distinct owners);
//! - an asset whose register entry names the product in its `licences`
//!   holds a seat whether it runs it or not; running assets without one
//!   take the remaining seats in the order they were first seen, and those
//!   left without a seat are **over**: `unlicensed-software`, each listed
//!   with the term that showed the product;
//! - seats **assigned** in the register beyond those owned are
//!   **over-assigned** (the register hands out seats nobody bought);
//! - an entitlement whose product nobody runs is **unused** (spend to recover);
//! - entitlements renewing or expiring within 90 days are **renewals**.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::detect::product_key;
use super::{Entitlement, Metric};
use crate::register::Day;

/// How far ahead renewals are listed, days.
pub const RENEWAL_DAYS: i64 = 90;

/// What one asset in service runs and holds.
#[derive(Debug, Clone)]
pub struct AssetUse {
    /// Asset tag.
    pub tag: String,
    /// Its owner (per-user licences count owners).
    pub owner: String,
    /// First seen on the network (unix ms), when it was.
    pub first_seen_ms: Option<i64>,
    /// Products it runs (key), each with the term that showed it.
    pub running: Vec<(String, String)>,
    /// Products its register entry holds a licence for (keys).
    pub holds: Vec<String>,
}

/// An asset running a product without a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AssetOver {
    /// Asset tag.
    pub tag: String,
    /// The detection term that showed the product (`port:1433`, `banner:…`).
    pub matched_by: String,
}

/// One product's seats and use.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProductUsage {
    /// Product.
    pub product: String,
    /// Vendor (of its first entitlement).
    pub vendor: String,
    /// What a seat counts (of its first entitlement; per-device without one).
    pub metric: Metric,
    /// Seats of entitlements not expired.
    pub seats: u64,
    /// Assets (per-user: owners) running it.
    pub in_use: u64,
    /// Seats held by assets that name it in their licences.
    pub assigned: u64,
    /// Seats the register assigns beyond those owned (`assigned - seats`):
    /// the register hands out seats that were not bought.
    pub over_assigned: u64,
    /// In use without a seat.
    pub over: u64,
    /// The assets running it, by tag.
    pub running: Vec<String>,
    /// The assets over, with the term that showed the product.
    pub unlicensed: Vec<AssetOver>,
}

/// An entitlement nobody uses.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Unused {
    /// Entitlement id.
    pub id: String,
    /// Product.
    pub product: String,
    /// Seats.
    pub seats: u32,
    /// Cost, with its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Currency of `cost`.
    pub currency: String,
}

/// An entitlement renewing or expiring soon.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Renewal {
    /// Entitlement id.
    pub id: String,
    /// Product.
    pub product: String,
    /// `renews` or `expires`.
    pub event: String,
    /// On.
    pub on: Day,
    /// Cost, with its currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Currency of `cost`.
    pub currency: String,
}

/// The licence report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LicenceReport {
    /// Per product with seats or use, by product.
    pub products: Vec<ProductUsage>,
    /// Entitlements nobody uses.
    pub unused: Vec<Unused>,
    /// Renewals and expiries within the next 90 days, soonest first.
    pub renewals: Vec<Renewal>,
}

/// Compute the report as of `today`; `name(key)` spells a product key.
pub fn report(
    entitlements: &[Entitlement],
    assets: &[AssetUse],
    today: Day,
    name: impl Fn(&str) -> String,
) -> LicenceReport {
    let valid: Vec<&Entitlement> = entitlements.iter().filter(|e| e.expires.is_none_or(|d| d >= today)).collect();
    let mut keys: BTreeSet<String> = valid.iter().map(|e| product_key(&e.product)).collect();
    keys.extend(assets.iter().flat_map(|a| a.running.iter().map(|(k, _)| k.clone())));
    let mut out = LicenceReport::default();
    for key in &keys {
        let ents: Vec<&&Entitlement> = valid.iter().filter(|e| product_key(&e.product) == *key).collect();
        let seats: u64 = ents.iter().map(|e| u64::from(e.seats)).sum();
        let metric = ents.first().map_or(Metric::Device, |e| e.metric);
        let mut runners: Vec<(&AssetUse, &str)> = assets
            .iter()
            .filter_map(|a| a.running.iter().find(|(k, _)| k == key).map(|(_, t)| (a, t.as_str())))
            .collect();
        runners.sort_by(|(a, _), (b, _)| {
            (a.first_seen_ms.unwrap_or(i64::MAX), &a.tag).cmp(&(b.first_seen_ms.unwrap_or(i64::MAX), &b.tag))
        });
        // The unit a seat counts: the asset, or (per-user) its owner.
        let unit = |a: &AssetUse| match metric {
            Metric::User if !a.owner.trim().is_empty() => format!("owner:{}", a.owner.trim().to_lowercase()),
            _ => format!("asset:{}", a.tag),
        };
        let holders: BTreeSet<String> = assets.iter().filter(|a| a.holds.iter().any(|h| h == key)).map(&unit).collect();
        let mut free = seats.saturating_sub(holders.len() as u64);
        let mut covered: BTreeSet<String> = holders.clone();
        let mut in_use: BTreeSet<String> = BTreeSet::new();
        let mut unlicensed = Vec::new();
        for (a, term) in &runners {
            let u = unit(a);
            in_use.insert(u.clone());
            if covered.contains(&u) {
                continue;
            }
            if free > 0 {
                free -= 1;
                covered.insert(u);
            } else {
                unlicensed.push(AssetOver { tag: a.tag.clone(), matched_by: (*term).to_string() });
            }
        }
        let over_units: BTreeSet<String> =
            runners.iter().filter(|(a, _)| !covered.contains(&unit(a))).map(|(a, _)| unit(a)).collect();
        out.products.push(ProductUsage {
            product: ents.first().map_or_else(|| name(key), |e| e.product.clone()),
            vendor: ents.first().map(|e| e.vendor.clone()).unwrap_or_default(),
            metric,
            seats,
            in_use: in_use.len() as u64,
            assigned: holders.len() as u64,
            over_assigned: (holders.len() as u64).saturating_sub(seats),
            over: over_units.len() as u64,
            running: runners.iter().map(|(a, _)| a.tag.clone()).collect(),
            unlicensed,
        });
        if in_use.is_empty() {
            for e in &ents {
                out.unused.push(Unused {
                    id: e.id.clone(),
                    product: e.product.clone(),
                    seats: e.seats,
                    cost: e.cost,
                    currency: e.currency.clone(),
                });
            }
        }
    }
    let horizon = Day(today.0 + time::Duration::days(RENEWAL_DAYS));
    for e in &valid {
        for (event, on) in [("renews", e.renews), ("expires", e.expires)] {
            if let Some(d) = on.filter(|d| *d >= today && *d <= horizon) {
                out.renewals.push(Renewal {
                    id: e.id.clone(),
                    product: e.product.clone(),
                    event: event.into(),
                    on: d,
                    cost: e.cost,
                    currency: e.currency.clone(),
                });
            }
        }
    }
    out.renewals.sort_by(|a, b| (a.on, &a.id).cmp(&(b.on, &b.id)));
    out
}

/// The assets over, by tag: (product, seats, in use, the term) for `unlicensed-software`.
pub fn unlicensed_by_tag(r: &LicenceReport) -> BTreeMap<String, Vec<(&ProductUsage, &AssetOver)>> {
    let mut out: BTreeMap<String, Vec<(&ProductUsage, &AssetOver)>> = BTreeMap::new();
    for p in &r.products {
        for u in &p.unlicensed {
            out.entry(u.tag.clone()).or_default().push((p, u));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn ent(id: &str, product: &str, seats: u32, metric: &str) -> Entitlement {
        serde_json::from_value(serde_json::json!({
            "id": id, "product": product, "metric": metric, "seats": seats, "cost": 1200.0, "currency": "EUR"
        }))
        .unwrap()
    }

    fn runs(tag: &str, first: i64, product: &str, holds: bool) -> AssetUse {
        AssetUse {
            tag: tag.into(),
            owner: format!("owner-{}", first % 3),
            first_seen_ms: Some(first),
            running: vec![(product_key(product), "port:1433".into())],
            holds: if holds { vec![product_key(product)] } else { vec![] },
        }
    }

    #[test]
    fn ten_seats_and_twelve_running_are_two_over_the_latest_seen_and_an_idle_entitlement_is_unused() {
        let ents =
            [ent("c-1", "Microsoft SQL Server", 10, "per-device"), ent("c-2", "Oracle Database", 5, "per-device")];
        let assets: Vec<AssetUse> =
            (0..12).map(|i| runs(&format!("DB-{i:02}"), 1000 + i, "Microsoft SQL Server", false)).collect();
        let r = report(&ents, &assets, day("2026-12-03"), |k| k.to_string());
        let sql = r.products.iter().find(|p| p.product == "Microsoft SQL Server").unwrap();
        assert_eq!((sql.seats, sql.in_use, sql.over), (10, 12, 2));
        let over: Vec<&str> = sql.unlicensed.iter().map(|u| u.tag.as_str()).collect();
        assert_eq!(over, ["DB-10", "DB-11"], "the last to appear are the ones without a seat");
        assert_eq!(r.unused.len(), 1);
        assert_eq!((r.unused[0].id.as_str(), r.unused[0].cost), ("c-2", Some(1200.0)));
    }

    #[test]
    fn an_asset_holding_a_seat_keeps_it_and_per_user_counts_owners() {
        let ents = [ent("c-1", "Microsoft SQL Server", 2, "per-device")];
        let assets = [
            runs("A", 1, "Microsoft SQL Server", false),
            runs("B", 2, "Microsoft SQL Server", false),
            runs("C", 3, "Microsoft SQL Server", true),
        ];
        let r = report(&ents, &assets, day("2026-12-03"), |k| k.to_string());
        assert_eq!(
            r.products[0].unlicensed.iter().map(|u| u.tag.as_str()).collect::<Vec<_>>(),
            ["B"],
            "C holds one, A takes the other"
        );
        let per_user = [ent("u-1", "Microsoft SQL Server", 1, "per-user")];
        // Owners: A → owner-1, B → owner-2, D → owner-1 (the same person).
        let assets = [
            runs("A", 1, "Microsoft SQL Server", false),
            runs("B", 2, "Microsoft SQL Server", false),
            runs("D", 4, "Microsoft SQL Server", false),
        ];
        let r = report(&per_user, &assets, day("2026-12-03"), |k| k.to_string());
        assert_eq!((r.products[0].in_use, r.products[0].over), (2, 1));
        assert_eq!(r.products[0].unlicensed.iter().map(|u| u.tag.as_str()).collect::<Vec<_>>(), ["B"]);
    }

    /// Break-attempt regression: five assets named holders of four seats
    /// said nothing; the seat the register handed out unbought is reported.
    #[test]
    fn seats_assigned_beyond_those_owned_are_over_assigned() {
        let ents = [ent("o-1", "Oracle Database", 4, "per-device")];
        let assets: Vec<AssetUse> = (0..5).map(|i| runs(&format!("OR-{i}"), i, "Oracle Database", true)).collect();
        let p = &report(&ents, &assets, day("2026-12-03"), |k| k.to_string()).products[0];
        assert_eq!((p.seats, p.assigned, p.over_assigned), (4, 5, 1));
        let fits: Vec<AssetUse> = (0..4).map(|i| runs(&format!("OR-{i}"), i, "Oracle Database", true)).collect();
        assert_eq!(report(&ents, &fits, day("2026-12-03"), |k| k.to_string()).products[0].over_assigned, 0);
    }

    #[test]
    fn expired_seats_do_not_count_and_renewals_within_90_days_are_listed() {
        let mut old = ent("c-old", "Microsoft SQL Server", 50, "per-device");
        old.expires = Some(day("2026-11-30"));
        let mut soon = ent("c-new", "Microsoft SQL Server", 1, "per-device");
        soon.renews = Some(day("2027-01-15"));
        soon.expires = Some(day("2027-12-31"));
        let assets = [runs("A", 1, "Microsoft SQL Server", false), runs("B", 2, "Microsoft SQL Server", false)];
        let r = report(&[old, soon], &assets, day("2026-12-03"), |k| k.to_string());
        assert_eq!((r.products[0].seats, r.products[0].over), (1, 1));
        assert_eq!(r.renewals.len(), 1);
        assert_eq!((r.renewals[0].event.as_str(), r.renewals[0].on), ("renews", day("2027-01-15")));
        // No entitlement at all: every runner is over.
        let r = report(&[], &assets, day("2026-12-03"), |_| "Microsoft SQL Server".to_string());
        assert_eq!((r.products[0].product.as_str(), r.products[0].over), ("Microsoft SQL Server", 2));
    }
}
