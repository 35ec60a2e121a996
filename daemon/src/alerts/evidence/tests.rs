//! The documented shapes: every kind has an example in
//! `docs/alert-evidence.md`, each parses as that kind and writes back the
//! same JSON; evidence written before it was typed reads after migration 5.

use super::*;
use crate::alerts::AlertKind;

/// The JSON blocks of docs/alert-evidence.md.
fn documented() -> Vec<serde_json::Value> {
    let doc = include_str!("../../../../docs/alert-evidence.md");
    doc.split("```json")
        .skip(1)
        .map(|b| {
            let block = b.split("```").next().unwrap_or_default();
            serde_json::from_str(block).unwrap_or_else(|e| panic!("a JSON example does not parse: {e}\n{block}"))
        })
        .collect()
}

#[test]
fn every_kind_has_one_documented_example_that_round_trips() {
    let mut kinds = Vec::new();
    for example in documented() {
        let e: Evidence = serde_json::from_value(example.clone())
            .unwrap_or_else(|err| panic!("the example does not parse as evidence: {err}\n{example:#}"));
        assert_eq!(example["kind"], e.kind().as_str(), "the example's kind");
        assert_eq!(serde_json::to_value(&e).unwrap(), example, "written back the same");
        kinds.push(e.kind());
    }
    for k in AlertKind::ALL {
        assert!(kinds.contains(k), "docs/alert-evidence.md has no example of {k}");
    }
}

#[test]
fn evidence_of_another_kind_or_without_its_fields_is_refused_by_name() {
    let err = serde_json::from_str::<Evidence>(r#"{"kind":"missing","asset":{}}"#).unwrap_err().to_string();
    assert!(err.contains("missing field `tag`"), "{err}");
    let err = serde_json::from_str::<Evidence>(r#"{"kind":"no-such-kind"}"#).unwrap_err().to_string();
    assert!(err.contains("no-such-kind"), "{err}");
    let err =
        serde_json::from_str::<Evidence>(r#"{"kind":"identity-conflict","ip":"198.18.0.1"}"#).unwrap_err().to_string();
    assert!(err.contains("conflict"), "{err}");
}

#[test]
fn new_ports_and_hosts_are_read_from_the_typed_fields() {
    for example in documented() {
        let e: Evidence = serde_json::from_value(example.clone()).unwrap();
        let ports: Vec<u64> =
            example["new_ports"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_u64).collect();
        assert_eq!(e.new_ports().iter().map(|p| u64::from(*p)).collect::<Vec<_>>(), ports);
        let named = example.get("hosts").or(example.get("seen")).map_or(0, |h| h.as_array().map_or(1, Vec::len));
        assert_eq!(e.hosts().len(), named, "{example}");
    }
}
