//! Each check with a hand-made batch (198.18.0.0/15 addresses only).

use super::*;
use census_proto::{Batch, MacInfo, encode_batch};
use serde_json::json;

const NOW: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

fn seg() -> Vec<IpNet> {
    vec!["198.18.0.0/24".parse().unwrap()]
}

fn batch() -> serde_json::Value {
    json!({
        "schema_version": "1.2", "batch_id": "5b0f7c1e-2d4a-4c8e-9a53-0d6f1b2c3e4f", "agent_id": "a1",
        "segment": { "name": "lab", "targets": ["198.18.0.0/24"], "excluded": [] },
        "started_at": "2026-10-31T23:59:00Z", "finished_at": "2026-10-31T23:59:30Z",
        "completeness": { "addresses_in_scope": 254, "probes_sent": 254, "replies": 1, "estimated_loss": 0.0,
            "rate_limit_pps": 100, "rate_achieved_pps": 99.0, "complete": true, "techniques": [] },
        "hosts": [{ "ip": "198.18.0.5", "mac": { "address": "00:1b:21:00:00:05", "locally_administered": false },
            "seen_by": ["arp"], "ports": [{ "port": 22, "protocol": "tcp", "state": "open" }],
            "first_seen": "2026-10-31T23:59:01Z", "last_seen": "2026-10-31T23:59:02Z" }]
    })
}

fn env_of(v: &serde_json::Value) -> Result<Envelope, Refusal> {
    let bytes = serde_json::to_vec(v).unwrap();
    let raw = census_proto::decode_raw_batch(&bytes).unwrap();
    envelope(&raw, &seg(), NOW)
}

/// Host 0 of `v` decoded, with its batch's raw start and finish and envelope.
fn host_of_raw(v: &serde_json::Value) -> (HostObservation, i64, i64, Envelope) {
    let bytes = serde_json::to_vec(v).unwrap();
    let raw = census_proto::decode_raw_batch(&bytes).unwrap();
    let env = envelope(&raw, &seg(), NOW).unwrap();
    (raw.host(0).unwrap(), ms(raw.started_at), ms(raw.finished_at), env)
}

fn host_of(v: &serde_json::Value) -> Result<HostObservation, Result<String, Refusal>> {
    let bytes = serde_json::to_vec(v).unwrap();
    let raw = census_proto::decode_raw_batch(&bytes).unwrap();
    let env = envelope(&raw, &seg(), NOW).unwrap();
    let mut h = raw.host(0).unwrap();
    host(&mut h, 0, ms(raw.started_at), ms(raw.finished_at), &env).map(|_| h)
}

#[test]
fn a_batch_from_the_future_is_clamped_to_its_arrival_and_flagged() {
    let mut v = batch();
    v["started_at"] = json!("9999-12-31T23:00:00Z");
    v["finished_at"] = json!("9999-12-31T23:59:00Z");
    v["hosts"][0]["first_seen"] = json!("9999-12-31T23:10:00Z");
    v["hosts"][0]["last_seen"] = json!("9999-12-31T23:10:00Z");
    let e = env_of(&v).unwrap();
    assert!(e.clamped);
    assert_eq!(e.finished_ms, NOW);
    assert_eq!(e.finished_ms - e.started_ms, 59 * 60_000, "the sweep keeps its length");
    let h = host_of(&v).unwrap();
    assert!(ms(h.last_seen) <= NOW, "no host time after arrival");
    // A little clock skew is clamped without a flag.
    let mut v = batch();
    v["finished_at"] = json!("2026-11-01T00:00:30Z");
    assert!(!env_of(&v).unwrap().clamped);
}

#[test]
fn times_out_of_order_range_or_age_are_refused_naming_the_field() {
    let mut v = batch();
    v["finished_at"] = json!("2026-10-31T23:00:00Z");
    assert_eq!(env_of(&v).unwrap_err().field, "finished_at");
    let mut v = batch();
    v["started_at"] = json!("0001-01-01T00:00:00Z");
    v["finished_at"] = json!("0001-01-01T00:00:01Z");
    assert!(env_of(&v).unwrap_err().message.contains("90 days"));
    let mut v = batch();
    v["hosts"][0]["last_seen"] = json!("2026-10-31T20:00:00Z");
    assert_eq!(host_of(&v).unwrap_err().unwrap_err().field, "hosts[0].last_seen");
    let mut v = batch();
    v["hosts"][0]["first_seen"] = json!("2000-01-01T00:00:00Z");
    assert_eq!(host_of(&v).unwrap_err().unwrap_err().field, "hosts[0].last_seen");
}

#[test]
fn numbers_outside_their_range_are_refused() {
    for (loss, ok) in [(5.0, false), (-3.0, false), (0.5, true)] {
        let mut v = batch();
        v["completeness"]["estimated_loss"] = json!(loss);
        assert_eq!(env_of(&v).is_ok(), ok, "{loss}");
    }
    let mut v = batch();
    v["hosts"][0]["fingerprints"] =
        json!([{ "kind": "os_family", "value": "linux", "confidence": 1e308, "evidence": [] }]);
    assert_eq!(host_of(&v).unwrap_err().unwrap_err().field, "hosts[0].fingerprints[0].confidence");
    let mut v = batch();
    v["hosts"][0]["ports"][0]["port"] = json!(0);
    assert_eq!(host_of(&v).unwrap_err().unwrap_err().field, "hosts[0].ports[0].port");
    let mut v = batch();
    v["completeness"]["techniques"] = json!([{ "technique": "tcp", "status": "complete", "ports": "0-10" }]);
    assert_eq!(env_of(&v).unwrap_err().field, "completeness.techniques[0].ports");
}

#[test]
fn oversized_fields_are_refused_naming_the_limit() {
    let mut v = batch();
    v["segment"]["name"] = json!("x".repeat(1 << 20));
    let e = env_of(&v).unwrap_err();
    assert_eq!(e.field, "segment.name");
    assert!(e.message.contains("1048576 characters; the limit is 64"), "{}", e.message);
    let mut v = batch();
    v["hosts"][0]["names"] = json!([{ "name": "n".repeat(300), "source": "ptr" }]);
    assert_eq!(host_of(&v).unwrap_err().unwrap_err().field, "hosts[0].names[0].name");
    let mut v = batch();
    v["hosts"][0]["names"] = json!([{ "name": "a\u{1b}]0;pwned\u{7}", "source": "mdns" }]);
    assert!(host_of(&v).unwrap_err().unwrap_err().message.contains("control characters"));
}

/// Break-attempt regression (2026-12-05): a SYN-ACK's option list was
/// stored whatever it held — a NUL, a megabyte, text of any kind.
#[test]
fn a_syn_acks_option_list_is_option_kinds_or_refused() {
    let with = |options: &str| {
        let mut v = batch();
        v["hosts"][0]["syn_ack"] = json!({ "window": 65160, "mss": 1460, "window_scale": 7, "options": options });
        host_of(&v)
    };
    for good in ["", "M,S,T,N,W", "M,N,N,S,?30,E", &["N"; 40].join(",")] {
        assert!(with(good).is_ok(), "{good}");
    }
    for bad in ["M\0,S", "M,,S", "X", "?", "?256", "?1234", "M S", &["N"; 41].join(","), &"M,".repeat(1 << 18)] {
        let e = with(bad).unwrap_err().unwrap_err();
        assert_eq!(e.field, "hosts[0].syn_ack.options", "{bad}");
        assert!(e.message.contains("TCP option kinds"), "{}", e.message);
    }
}

/// Break-attempt regression: a certificate's serial, key and signature
/// were stored whatever their length or content.
#[test]
fn certificate_serials_keys_and_signatures_are_checked() {
    let with_tls = |serial: serde_json::Value, key: &str| {
        let mut v = batch();
        v["hosts"][0]["ports"][0]["service"] = json!({ "tls": {
            "subject": "CN=x", "sans": [], "issuer": "CN=x", "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2027-01-01T00:00:00Z", "sha256": "ab".repeat(32), "serial": serial, "key": key } });
        v
    };
    assert!(host_of(&with_tls(json!("00:A1:ff"), "RSA 2048")).is_ok());
    for bad in [json!("f".repeat(100_000)), json!("not hex!"), json!(""), json!("f".repeat(65))] {
        let e = host_of(&with_tls(bad, "RSA 2048")).unwrap_err().unwrap_err();
        assert_eq!(e.field, "hosts[0].ports[0].service.tls.serial", "{}", e.message);
    }
    let e = host_of(&with_tls(json!("01"), &"RSA ".repeat(100))).unwrap_err().unwrap_err();
    assert_eq!(e.field, "hosts[0].ports[0].service.tls.key");
}

#[test]
fn a_claimed_scope_wider_than_the_agents_is_clipped_to_it() {
    let mut v = batch();
    v["segment"]["targets"] = json!(["0.0.0.0/0", "198.18.1.0/24", "198.18.0.128/25"]);
    let e = env_of(&v).unwrap();
    assert_eq!(e.targets, vec!["198.18.0.0/24".parse::<IpNet>().unwrap(), "198.18.0.128/25".parse().unwrap()]);
    assert!(clip(&["198.18.1.0/24".parse().unwrap()], &seg()).is_empty());
}

#[test]
fn macs_that_cannot_identify_and_addresses_that_are_not_hosts_refuse_the_observation() {
    for mac in ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00"] {
        let mut v = batch();
        v["hosts"][0]["mac"] = serde_json::to_value(MacInfo::new(mac.parse().unwrap())).unwrap();
        let reason = host_of(&v).unwrap_err().unwrap();
        assert!(reason.contains(mac), "{reason}");
    }
    let mut v = batch();
    v["hosts"][0]["ip"] = json!("::ffff:198.18.0.5");
    assert_eq!(host_of(&v).unwrap().ip.to_string(), "198.18.0.5");
    let mut v = batch();
    v["hosts"][0]["ip"] = json!("255.255.255.255");
    assert!(host_of(&v).unwrap_err().is_ok());
}

/// Regression (review of 2026-12-08): one group MAC among a host's
/// conflicting MACs refused the whole observation (anything answering ARP
/// from a group MAC could hide a real host), naming only the first. The
/// unusable ones are set aside, each named, and the host is kept with the rest.
#[test]
fn a_group_or_all_zero_conflicting_mac_is_set_aside_and_the_host_kept() {
    let mut v = batch();
    let macs =
        ["00-1B-21-00-00-77", "01:00:5e:00:00:01", "00:1B:21:00:00:88", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"];
    v["hosts"][0]["conflicting_macs"] =
        macs.iter().map(|m| serde_json::to_value(MacInfo::new(m.parse().unwrap())).unwrap()).collect();
    let bytes = serde_json::to_vec(&v).unwrap();
    let raw = census_proto::decode_raw_batch(&bytes).unwrap();
    let env = envelope(&raw, &seg(), NOW).unwrap();
    let mut h = raw.host(0).unwrap();
    let note = host(&mut h, 0, ms(raw.started_at), ms(raw.finished_at), &env).unwrap().expect("a note");
    assert_eq!(
        note,
        "conflicting MAC 01:00:5e:00:00:01, ff:ff:ff:ff:ff:ff, 00:00:00:00:00:00 set aside: \
         a group or all-zero address identifies no host"
    );
    let kept: Vec<String> = h.conflicting_macs.iter().map(|m| m.address.to_string()).collect();
    assert_eq!(kept, ["00:1b:21:00:00:77", "00:1b:21:00:00:88"]);
    // More than 16 distinct ones (repeats counted once): the first 16 are
    // kept, the rest named as set aside, and the host is kept (review of 2026-12-08).
    let mut many = batch();
    let list: Vec<String> = (0..20).chain(0..5).map(|i| format!("00:1b:21:00:01:{i:02x}")).collect();
    many["hosts"][0]["conflicting_macs"] =
        list.iter().map(|m| serde_json::to_value(MacInfo::new(m.parse().unwrap())).unwrap()).collect();
    let mut h = host_of_raw(&many);
    let note = host(&mut h.0, 0, h.1, h.2, &h.3).unwrap().expect("a note");
    assert_eq!(note, "4 more conflicting MACs set aside: the first 16 distinct ones are kept");
    assert_eq!(h.0.conflicting_macs.len(), 16);
    // Nothing set aside: no note.
    let mut h = raw.host(0).unwrap();
    h.conflicting_macs.truncate(1);
    assert_eq!(host(&mut h, 0, ms(raw.started_at), ms(raw.finished_at), &env).unwrap(), None);
}

#[test]
fn the_documented_batch_passes_every_check() {
    let doc = include_str!("../../../../docs/report-format.md");
    let start = doc.find("```json\n").unwrap() + 8;
    let end = doc[start..].find("```").unwrap() + start;
    let b: Batch = census_proto::decode_batch(&doc.as_bytes()[start..end]).unwrap();
    let bytes = encode_batch(&b);
    let raw = census_proto::decode_raw_batch(&bytes).unwrap();
    let arrival = ms(b.finished_at) + 1000;
    let env = envelope(&raw, &seg(), arrival).unwrap();
    assert!(!env.clamped);
    for i in 0..raw.hosts.len() {
        let mut h = raw.host(i).unwrap();
        host(&mut h, i, ms(raw.started_at), ms(raw.finished_at), &env).unwrap();
    }
}
