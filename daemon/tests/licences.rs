//! Licences: entitlements against what the sweeps show running, through the
//! real import, ingest and reconcile. Ten seats of a product and twelve
//! assets running it report two over — the two last seen to start running
//! it — each with an `unlicensed-software` alert; an entitlement nobody uses
//! is listed as unused; assigning a seat moves it, buying seats resolves.

mod scenario;

use censusd::alerts::AlertKind;
use scenario::{HOUR, LAB, Scenario, T0, h};

fn db(i: usize) -> serde_json::Value {
    serde_json::json!({
        "tag": format!("DB-{i:02}"), "name": format!("database {i}"), "type": "server", "owner": "data-team",
        "lifecycle": "deployed", "macs": [format!("00:1b:21:00:40:{i:02x}")], "expected_segment": "198.18.0.0/24"
    })
}

fn host(i: usize) -> scenario::H {
    h(&format!("198.18.0.{}", 100 + i), &format!("00:1b:21:00:40:{i:02x}")).ports(&[1433])
}

const ENTITLEMENTS: &str = "id,product,vendor,metric,seats,cost,currency,renews\n\
    c-1,Microsoft SQL Server,Microsoft,per-device,10,38000,EUR,2027-01-15\n\
    c-2,Oracle Database,Oracle,per-device,5,47500,EUR,\n";

#[test]
fn ten_seats_twelve_running_two_over_listed_and_an_unused_licence() {
    let s = Scenario::new();
    s.register(serde_json::Value::Array((0..12).map(db).collect()));
    let plan = s.licences(ENTITLEMENTS);
    assert_eq!(plan.added, ["c-1", "c-2"]);
    // Ten databases first, two more an hour later.
    s.sweep(&LAB, T0, &(0..10).map(host).collect::<Vec<_>>());
    s.sweep(&LAB, T0 + HOUR, &(0..12).map(host).collect::<Vec<_>>());
    let now = T0 + 2 * HOUR;
    let r = censusd::app::licences::report(&s.rec, now).unwrap();
    let sql = r.products.iter().find(|p| p.product == "Microsoft SQL Server").expect("the product is reported");
    assert_eq!((sql.seats, sql.in_use, sql.over), (10, 12, 2), "{sql:#?}");
    let over: Vec<&str> = sql.unlicensed.iter().map(|u| u.tag.as_str()).collect();
    assert_eq!(over, ["DB-10", "DB-11"]);
    assert!(sql.unlicensed.iter().all(|u| u.matched_by == "port:1433"));
    assert_eq!(r.unused.len(), 1, "{:#?}", r.unused);
    assert_eq!((r.unused[0].id.as_str(), r.unused[0].product.as_str()), ("c-2", "Oracle Database"));
    let renewals: Vec<(&str, String)> = r.renewals.iter().map(|n| (n.id.as_str(), n.on.to_string())).collect();
    assert_eq!(renewals, [("c-1", "2027-01-15".to_string())], "75 days after 2026-11-01: within 90");

    // The full reconcile raises one alert per asset over.
    s.full(now);
    let mut live: Vec<String> = s.live(AlertKind::UnlicensedSoftware).into_iter().map(|a| a.subject).collect();
    live.sort();
    assert_eq!(live, ["asset:DB-10", "asset:DB-11"]);
    let a = &s.live(AlertKind::UnlicensedSoftware)[0];
    let e = serde_json::to_value(&a.evidence).unwrap();
    assert_eq!(e["products"][0]["seats"], 10);
    assert_eq!(e["products"][0]["in_use"], 12);
    assert!(a.summary.contains("Microsoft SQL Server"), "{}", a.summary);

    // Two more seats bought: both resolve.
    s.licences("id,seats\nc-1,12\n");
    s.full(now + HOUR);
    assert!(s.live(AlertKind::UnlicensedSoftware).is_empty());
    assert_eq!(s.of_kind(AlertKind::UnlicensedSoftware).len(), 2, "resolved, not deleted");
}

#[test]
fn entitlement_files_are_all_or_nothing() {
    let s = Scenario::new();
    let bad = "id,product,metric,seats\nc-1,SQL,per-device,10\nc-2,SQL,per-planet,5\n";
    let format = censusd::register::csv::Format::Csv(Default::default());
    let admin = censusd::people::Principal::builtin_admin();
    let err = censusd::app::licences::import(&s.rec, bad.as_bytes(), format, false, &admin).unwrap_err();
    let censusd::app::register::ImportFailure::Invalid(problems) = err else { panic!("{err}") };
    assert_eq!((problems[0].row, problems[0].column.as_str()), (2, "metric"));
    assert!(censusd::app::licences::list(&s.rec).unwrap().is_empty(), "nothing stored");
}
