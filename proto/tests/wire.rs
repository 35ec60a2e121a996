//! The documented example decodes, round-trips, and the compatibility rules hold.

use census_proto::{DecodeError, PortState, SchemaVersion, Technique, decode_batch, encode_batch};

const DOC: &str = include_str!("../../docs/report-format.md");

fn doc_example() -> String {
    let start = DOC.find("```json\n").expect("example block") + "```json\n".len();
    let end = DOC[start..].find("```").expect("end of example") + start;
    DOC[start..end].to_string()
}

#[test]
fn documented_example_decodes_with_every_field() {
    let batch = decode_batch(doc_example().as_bytes()).expect("the documented example must decode");
    assert_eq!(batch.schema_version, SchemaVersion::CURRENT);
    assert_eq!(batch.agent_id.0, "agent-lab-1");
    assert_eq!(batch.hosts.len(), 2);
    let h = &batch.hosts[0];
    assert_eq!(h.ip.to_string(), "198.18.0.10");
    assert_eq!(h.seen_by, vec![Technique::Arp, Technique::Icmp, Technique::Tcp]);
    assert_eq!(h.ports[1].service.as_ref().unwrap().tls.as_ref().unwrap().subject, "CN=build-01.lab.example");
    assert!(batch.hosts[1].mac.as_ref().unwrap().locally_administered);
    assert!(batch.completeness.complete);
}

#[test]
fn round_trip_is_lossless() {
    let batch = decode_batch(doc_example().as_bytes()).unwrap();
    let again = decode_batch(&encode_batch(&batch)).unwrap();
    assert_eq!(batch, again);
}

#[test]
fn newer_minor_with_extra_fields_and_values_still_decodes() {
    let mut v: serde_json::Value = serde_json::from_str(&doc_example()).unwrap();
    v["schema_version"] = "1.7".into();
    v["future_top_level"] = serde_json::json!({"anything": [1, 2]});
    v["hosts"][0]["future_field"] = true.into();
    v["hosts"][0]["seen_by"][0] = "lldp".into();
    v["hosts"][0]["ports"][0]["state"] = "open|filtered".into();
    let batch = decode_batch(v.to_string().as_bytes()).expect("newer minor must decode");
    assert_eq!(batch.schema_version.minor, 7);
    assert_eq!(batch.hosts[0].seen_by[0], Technique::Unknown);
    assert_eq!(batch.hosts[0].ports[0].state, PortState::Unknown);
}

#[test]
fn other_major_is_refused_clearly() {
    let mut v: serde_json::Value = serde_json::from_str(&doc_example()).unwrap();
    v["schema_version"] = "2.0".into();
    // Even with an otherwise unreadable body the version is what gets reported.
    v["hosts"] = "not a list".into();
    match decode_batch(v.to_string().as_bytes()) {
        Err(e @ DecodeError::UnsupportedVersion { .. }) => {
            assert_eq!(e.to_string(), "unsupported schema version 2.0: this reader speaks 1.x")
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[test]
fn malformed_field_is_named() {
    let mut v: serde_json::Value = serde_json::from_str(&doc_example()).unwrap();
    v["hosts"][1]["mac"]["address"] = "zz:00".into();
    match decode_batch(v.to_string().as_bytes()) {
        Err(DecodeError::Malformed { path, message }) => {
            assert_eq!(path, "hosts[1].mac.address");
            assert!(message.contains("not a MAC address"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(matches!(decode_batch(b"{\"schema_version\": \"1.0\"} trailing"), Err(DecodeError::Malformed { .. })));
    assert!(matches!(decode_batch(b"\xff\xfe"), Err(DecodeError::Malformed { .. })));
}
